/* SPDX-License-Identifier: MIT */
/*
 * test_inode.c - unit tests of inode.c, bmap.c and file.c: inode
 * encode/decode and validation, the generation policy, the block map
 * (direct, single, double, triple indirect), file read/write/truncate,
 * read_iov, the fsck block map walk, indirect page checksums and ENOSPC
 * behaviour. Every test runs with 4 KiB and 64 KiB blocks on an
 * in-memory image.
 */
#include "helpers.h"
#include "../../fs/internal.h"	/* mapfs_cg_check_bitmaps */

#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Small groups keep the inode tables small in small images; both sizes
 * give two groups, so allocation may cross a group boundary. */
struct tparams {
	uint32_t bsize;
	uint64_t size;		/* image bytes for the ordinary tests */
	uint32_t bpg;
	uint64_t tiny;		/* image bytes for the ENOSPC test */
	uint32_t tiny_bpg;
};

static struct tparams p4k = { 4096, 16u << 20, 2048, 1u << 20, 256 };
static struct tparams p64k = { 65536, 64u << 20, 512, 4u << 20, 256 };

struct tctx {
	const struct tparams *p;
	struct mapfs_fs *fs;
};

static int setup(void **state)
{
	struct tctx *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->p = *state;
	t->fs = test_fs_new(t->p->size, t->p->bsize, t->p->bpg);
	assert_int_equal(t->fs->g.bsize, t->p->bsize);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tctx *t = *state;

	if (t->fs)
		test_fs_free(t->fs);
	free(t);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static void new_file(struct mapfs_fs *fs, struct mapfs_inode *ip)
{
	mapfs_ino_t ino;
	struct mapfs_dinode *d;

	assert_int_equal(mapfs_alloc_inode(fs, MAPFS_ROOT_INO, false, &ino),
			 0);
	d = mapfs_dinode(fs, ino);
	assert_non_null(d);
	memset(ip, 0, sizeof(*ip));
	ip->ino = ino;
	ip->mode = MAPFS_IFREG | 0644;
	ip->nlink = 1;
	ip->gen = le32toh(d->di_gen);
	mapfs_inode_store(fs, ip);
}

/* The on-disk inode decodes to exactly *ip. */
static void assert_stored(struct mapfs_fs *fs, const struct mapfs_inode *ip)
{
	struct mapfs_inode got;

	assert_int_equal(mapfs_inode_load(fs, ip->ino, &got), 0);
	assert_int_equal(got.size, ip->size);
	assert_int_equal(got.blocks, ip->blocks);
	assert_memory_equal(got.blk, ip->blk, sizeof(got.blk));
}

static uint8_t pat(uint64_t off, unsigned seed)
{
	return (uint8_t)(off * 131u + (off >> 12) * 7u + seed * 29u + 1u);
}

static void fill_pat(uint8_t *buf, uint64_t off, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pat(off + i, seed);
}

static void write_pat(struct mapfs_fs *fs, struct mapfs_inode *ip,
		      uint64_t off, size_t len, unsigned seed)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	fill_pat(buf, off, len, seed);
	assert_int_equal(mapfs_file_write(fs, ip, off, buf, len, false),
			 (ssize_t)len);
	free(buf);
}

static void check_pat(struct mapfs_fs *fs, const struct mapfs_inode *ip,
		      uint64_t off, size_t len, unsigned seed)
{
	uint8_t *buf = malloc(len), *want = malloc(len);

	assert_non_null(buf);
	assert_non_null(want);
	fill_pat(want, off, len, seed);
	assert_int_equal(mapfs_file_read(fs, ip, off, buf, len),
			 (ssize_t)len);
	assert_memory_equal(buf, want, len);
	free(buf);
	free(want);
}

static void check_zero(struct mapfs_fs *fs, const struct mapfs_inode *ip,
		       uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	memset(buf, 0x5a, len);
	assert_int_equal(mapfs_file_read(fs, ip, off, buf, len),
			 (ssize_t)len);
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			fail_msg("byte %llu not zero",
				 (unsigned long long)(off + i));
	free(buf);
}

/* Free data blocks according to the block bitmaps of initialized groups,
 * to compare with the counters. */
static uint64_t bitmap_free(struct mapfs_fs *fs)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t n = 0;

	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		uint32_t nb = mapfs_group_nblocks(g, cg);
		const uint8_t *bm;

		if (!fs->cg[cg].init) {
			n += nb - g->data_off;
			continue;
		}
		bm = mapfs_cg_bbm(fs, cg);
		for (uint32_t b = g->data_off; b < nb; b++)
			if (!mapfs_bit_test(bm, b))
				n++;
	}
	return n;
}

static bool block_used(struct mapfs_fs *fs, mapfs_bno_t bno)
{
	uint64_t cg = mapfs_bno_group(&fs->g, bno);

	return fs->cg[cg].init &&
	       mapfs_bit_test(mapfs_cg_bbm(fs, cg),
			      bno - mapfs_group_start(&fs->g, cg));
}

struct walkstat {
	uint64_t n, per_level[4], invalid, badcrc;
	mapfs_bno_t seen[4096];
	uint64_t lbn[4096];
	int level[4096];
};

static int walk_cb(void *arg, const struct mapfs_blkvisit *v)
{
	struct walkstat *w = arg;

	if (w->n < 4096) {
		w->seen[w->n] = v->bno;
		w->lbn[w->n] = v->lbn;
		w->level[w->n] = v->level;
	}
	w->n++;
	w->per_level[v->level]++;
	if (!v->valid)
		w->invalid++;
	if (!v->crc_ok)
		w->badcrc++;
	return 0;
}

static void walk(struct mapfs_fs *fs, const struct mapfs_inode *ip,
		 struct walkstat *w)
{
	memset(w, 0, sizeof(*w));
	assert_int_equal(mapfs_blockmap_walk(fs, ip, walk_cb, w), 0);
}

/* The map of ip holds exactly ip->blocks blocks, all distinct, all used
 * in the bitmap, all valid. */
static void check_map(struct mapfs_fs *fs, const struct mapfs_inode *ip)
{
	struct walkstat *w = malloc(sizeof(*w));

	assert_non_null(w);
	walk(fs, ip, w);
	assert_int_equal(w->n, ip->blocks);
	assert_int_equal(w->invalid, 0);
	assert_int_equal(w->badcrc, 0);
	assert_true(w->n <= 4096);
	for (uint64_t i = 0; i < w->n; i++) {
		assert_true(block_used(fs, w->seen[i]));
		for (uint64_t j = 0; j < i; j++)
			assert_true(w->seen[i] != w->seen[j]);
	}
	free(w);
}

static uint64_t nind(struct mapfs_fs *fs)
{
	return fs->g.nindir;
}

/* First lbn of the single, double and triple indirect ranges. */
static uint64_t lbn_single(struct mapfs_fs *fs)
{
	(void)fs;
	return MAPFS_NDADDR;
}

static uint64_t lbn_double(struct mapfs_fs *fs)
{
	return MAPFS_NDADDR + nind(fs);
}

static uint64_t lbn_triple(struct mapfs_fs *fs)
{
	return MAPFS_NDADDR + nind(fs) + nind(fs) * nind(fs);
}

/* ------------------------------------------------------------------ */
/* Inode encode / decode / check                                       */
/* ------------------------------------------------------------------ */

static void test_store_load(void **state)
{
	struct mapfs_fs *fs = ((struct tctx *)*state)->fs;
	struct mapfs_inode ip, got;
	struct mapfs_dinode *d;
	uint32_t gen;

	new_file(fs, &ip);
	ip.uid = 1000;
	ip.gid = 100;
	ip.flags = MAPFS_FL_NODUMP;
	ip.atime = (struct mapfs_timespec){ -5, 999999999 };
	ip.mtime = (struct mapfs_timespec){ 1700000000, 1 };
	ip.ctime = (struct mapfs_timespec){ 1700000001, 2 };
	ip.btime = (struct mapfs_timespec){ 1600000000, 3 };
	mapfs_inode_store(fs, &ip);
	assert_int_equal(mapfs_inode_load(fs, ip.ino, &got), 0);
	assert_int_equal(got.ino, ip.ino);
	assert_int_equal(got.mode, ip.mode);
	assert_int_equal(got.nlink, 1);
	assert_int_equal(got.uid, 1000);
	assert_int_equal(got.gid, 100);
	assert_int_equal(got.flags, MAPFS_FL_NODUMP);
	assert_int_equal(got.gen, ip.gen);
	assert_int_equal(got.size, 0);
	assert_int_equal(got.blocks, 0);
	assert_true(got.atime.sec == -5);
	assert_int_equal(got.atime.nsec, 999999999);
	assert_int_equal(got.mtime.sec, 1700000000);
	assert_int_equal(got.mtime.nsec, 1);
	assert_int_equal(got.ctime.sec, 1700000001);
	assert_int_equal(got.ctime.nsec, 2);
	assert_int_equal(got.btime.sec, 1600000000);
	assert_int_equal(got.btime.nsec, 3);
	assert_memory_equal(got.blk, ip.blk, sizeof(got.blk));
	assert_true(mapfs_inode_has_blocks(&got));

	/* fast symlink */
	ip.mode = MAPFS_IFLNK | 0777;
	memset(ip.symlink, 0, sizeof(ip.symlink));
	memcpy(ip.symlink, "../some/target", 14);
	ip.size = 14;
	mapfs_inode_store(fs, &ip);
	assert_int_equal(mapfs_inode_load(fs, ip.ino, &got), 0);
	assert_memory_equal(got.symlink, "../some/target", 14);
	assert_false(mapfs_inode_has_blocks(&got));

	/* device */
	memset(ip.blk, 0, sizeof(ip.blk));
	ip.mode = MAPFS_IFCHR | 0600;
	ip.size = 0;
	ip.rdev = 0x1234;
	mapfs_inode_store(fs, &ip);
	assert_int_equal(mapfs_inode_load(fs, ip.ino, &got), 0);
	assert_int_equal(got.rdev, 0x1234);
	assert_false(mapfs_inode_has_blocks(&got));

	/* clear keeps the generation and makes the slot free */
	d = mapfs_dinode(fs, ip.ino);
	gen = d->di_gen;
	mapfs_inode_clear(fs, ip.ino);
	assert_int_equal(d->di_gen, gen);
	assert_int_equal(d->di_mode, 0);
	assert_int_equal(d->di_crc, 0);
	assert_int_equal(mapfs_inode_load(fs, ip.ino, &got), -ENOENT);

	/* reserved and out-of-range inodes */
	assert_int_equal(mapfs_inode_load(fs, 1, &got), -ENOENT);
	assert_int_equal(mapfs_inode_load(fs, fs->g.ninodes, &got), -ENOENT);
	assert_null(mapfs_dinode(fs, fs->g.ninodes));
	assert_int_equal(mapfs_inode_load(fs, MAPFS_ROOT_INO, &got), 0);
	assert_int_equal(got.mode & MAPFS_IFMT, MAPFS_IFDIR);
	assert_int_equal(fs->error, 0);
}

/* Check a crafted dinode: fix its CRC unless told not to, expect
 * -EUCLEAN and a reason. */
static void expect_bad(struct mapfs_fs *fs, mapfs_ino_t ino,
		       struct mapfs_dinode *d, bool fix_crc, const char *what)
{
	char why[200] = "";

	if (fix_crc)
		d->di_crc = htole32(mapfs_inode_crc(fs, ino, d));
	if (mapfs_inode_check(fs, ino, d, why, sizeof(why)) != -EUCLEAN)
		fail_msg("%s: accepted", what);
	assert_true(why[0] != '\0');
}

static void expect_good(struct mapfs_fs *fs, mapfs_ino_t ino,
			struct mapfs_dinode *d, const char *what)
{
	char why[200] = "";

	d->di_crc = htole32(mapfs_inode_crc(fs, ino, d));
	if (mapfs_inode_check(fs, ino, d, why, sizeof(why)) != 0)
		fail_msg("%s: rejected: %s", what, why);
}

static void test_inode_check(void **state)
{
	struct mapfs_fs *fs = ((struct tctx *)*state)->fs;
	const struct mapfs_geom *g = &fs->g;
	struct mapfs_inode ip, got;
	struct mapfs_dinode base, d, *dp;

	new_file(fs, &ip);
	write_pat(fs, &ip, 0, 3 * g->bsize, 1);
	dp = mapfs_dinode(fs, ip.ino);
	base = *dp;
	d = base;
	expect_good(fs, ip.ino, &d, "regular file");

	d = base;
	d.di_mode = htole16(0170000 | 0644);
	expect_bad(fs, ip.ino, &d, true, "bad type");
	d = base;
	d.di_mode = htole16(0644);	/* no type bits */
	expect_bad(fs, ip.ino, &d, true, "no type");
	d = base;
	d.di_mtime_ns = htole32(1000000000u);
	expect_bad(fs, ip.ino, &d, true, "mtime ns");
	d = base;
	d.di_btime_ns = htole32(0xffffffffu);
	expect_bad(fs, ip.ino, &d, true, "btime ns");
	d = base;
	d.di_blk[3] = htole64(g->nblocks + 5);
	expect_bad(fs, ip.ino, &d, true, "pointer past the end");
	d = base;
	d.di_blk[13] = htole64(1);	/* group 0's header block */
	expect_bad(fs, ip.ino, &d, true, "pointer to metadata");
	d = base;
	d.di_crc ^= htole32(1);
	expect_bad(fs, ip.ino, &d, false, "wrong crc");
	d = base;
	d.di_size = htole64(1);		/* crc not fixed: covers size */
	expect_bad(fs, ip.ino, &d, false, "stale crc");
	d = base;
	/* nlink 0 is legal on disk (unlinked but still referenced, or a
	 * crash before the slot was cleared); fsck judges it */
	d.di_nlink = 0;
	expect_good(fs, ip.ino, &d, "nlink 0");
	d.di_flags = htole32(MAPFS_FL_ORPHAN);
	expect_good(fs, ip.ino, &d, "orphan with nlink 0");
	d = base;
	d.di_nlink = htole32(MAPFS_LINK_MAX + 1);
	expect_bad(fs, ip.ino, &d, true, "nlink too big");
	d = base;
	d.di_size = htole64(g->maxfilesize + 1);
	expect_bad(fs, ip.ino, &d, true, "size too big");
	d = base;
	d.di_blocks = htole64(g->nblocks + 1);
	expect_bad(fs, ip.ino, &d, true, "blocks too many");
	d = base;
	d.di_pad1 = htole32(1);
	expect_bad(fs, ip.ino, &d, true, "pad1");
	d = base;
	d.di_spare[1] = htole64(1);
	expect_bad(fs, ip.ino, &d, true, "spare");
	d = base;
	d.di_mode = htole16(MAPFS_IFDIR | 0755);
	d.di_size = htole64(100);
	expect_bad(fs, ip.ino, &d, true, "dir size not chunked");
	d.di_size = htole64(MAPFS_DIRCHUNK);
	expect_good(fs, ip.ino, &d, "dir of one chunk");

	/* fast symlinks */
	d = base;
	d.di_mode = htole16(MAPFS_IFLNK | 0777);
	d.di_blocks = 0;
	memset(d.di_symlink, 0, sizeof(d.di_symlink));
	memcpy(d.di_symlink, "target", 6);
	d.di_size = htole64(6);
	expect_good(fs, ip.ino, &d, "fast symlink");
	d.di_blocks = htole64(1);
	expect_bad(fs, ip.ino, &d, true, "fast symlink with blocks");
	d.di_blocks = 0;
	d.di_symlink[50] = 'x';
	expect_bad(fs, ip.ino, &d, true, "fast symlink junk past size");
	d.di_symlink[50] = 0;
	d.di_size = 0;
	expect_bad(fs, ip.ino, &d, true, "empty symlink");
	d.di_size = htole64(MAPFS_SYMLINK_MAX + 1);
	expect_bad(fs, ip.ino, &d, true, "symlink too long");

	/* devices and friends */
	d = base;
	memset(d.di_blk, 0, sizeof(d.di_blk));
	d.di_blocks = 0;
	d.di_size = 0;
	d.di_mode = htole16(MAPFS_IFBLK | 0600);
	d.di_rdev = htole64(0x801);
	expect_good(fs, ip.ino, &d, "block device");
	d.di_size = htole64(10);
	expect_bad(fs, ip.ino, &d, true, "device with size");
	d.di_size = 0;
	d.di_blocks = htole64(1);
	expect_bad(fs, ip.ino, &d, true, "device with blocks");
	d.di_blocks = 0;
	d.di_mode = htole16(MAPFS_IFIFO | 0600);
	d.di_blk[0] = htole64(g->data_off + 1);
	expect_bad(fs, ip.ino, &d, true, "fifo with a pointer");

	/* load reports corruption through MAPFS_CORRUPT */
	assert_int_equal(fs->error, 0);
	d = base;
	d.di_mode = htole16(0170000 | 0644);
	*dp = d;
	assert_int_equal(mapfs_inode_load(fs, ip.ino, &got), -EUCLEAN);
	assert_int_not_equal(fs->error, 0);
	fs->error = 0;
	*dp = base;
	assert_int_equal(mapfs_inode_load(fs, ip.ino, &got), 0);
}

/* ------------------------------------------------------------------ */
/* Data                                                                */
/* ------------------------------------------------------------------ */

static void test_roundtrip(void **state)
{
	struct mapfs_fs *fs = ((struct tctx *)*state)->fs;
	uint32_t bs = fs->g.bsize;
	/* through direct, into single indirect (4 KiB: into double too) */
	uint64_t fsize = bs == 4096 ? 600ull * bs : 40ull * bs;
	uint8_t *shadow = calloc(1, fsize), *buf = malloc(fsize);
	struct mapfs_inode ip;
	uint64_t max_end = 0;
	unsigned seed = 12345;

	assert_non_null(shadow);
	assert_non_null(buf);
	new_file(fs, &ip);
	for (int i = 0; i < 300; i++) {
		uint64_t off, len;

		seed = seed * 1103515245u + 12345u;
		off = (seed >> 4) % fsize;
		seed = seed * 1103515245u + 12345u;
		len = 1 + (seed >> 4) % (3 * bs);
		switch (i % 5) {	/* aligned and boundary cases too */
		case 0:
			off -= off % bs;
			break;
		case 1:
			off = off - off % bs + bs - 1;
			break;
		case 2:
			len = bs;
			off -= off % bs;
			break;
		default:
			break;
		}
		if (off >= fsize)
			off = fsize - 1;
		if (len > fsize - off)
			len = fsize - off;
		for (uint64_t j = 0; j < len; j++)
			buf[j] = shadow[off + j] = pat(off + j, (unsigned)i);
		assert_int_equal(mapfs_file_write(fs, &ip, off, buf, len,
						  false),
				 (ssize_t)len);
		if (off + len > max_end)
			max_end = off + len;
		assert_int_equal(ip.size, max_end);
	}
	memset(buf, 0xee, fsize);
	assert_int_equal(mapfs_file_read(fs, &ip, 0, buf, fsize),
			 (ssize_t)max_end);
	assert_memory_equal(buf, shadow, max_end);
	/* unaligned reads, and reads clipped at EOF */
	assert_int_equal(mapfs_file_read(fs, &ip, 7, buf, 3 * bs + 5),
			 (ssize_t)(3 * bs + 5));
	assert_memory_equal(buf, shadow + 7, 3 * bs + 5);
	assert_int_equal(mapfs_file_read(fs, &ip, max_end - 3, buf, 100), 3);
	assert_int_equal(mapfs_file_read(fs, &ip, max_end, buf, 100), 0);
	assert_int_equal(mapfs_file_read(fs, &ip, max_end + 100, buf, 100), 0);
	assert_stored(fs, &ip);
	check_map(fs, &ip);
	/* the same after a remount */
	test_fs_remount(fs);
	assert_int_equal(mapfs_file_read(fs, &ip, 0, buf, fsize),
			 (ssize_t)max_end);
	assert_memory_equal(buf, shadow, max_end);
	assert_int_equal(fs->error, 0);
	free(shadow);
	free(buf);
}

static void test_holes(void **state)
{
	struct mapfs_fs *fs = ((struct tctx *)*state)->fs;
	uint32_t bs = fs->g.bsize;
	uint64_t free0 = fs->free_blocks;
	struct mapfs_inode ip;
	mapfs_bno_t bno;

	new_file(fs, &ip);
	write_pat(fs, &ip, 10ull * bs + 5, 1, 3);
	assert_int_equal(ip.size, 10ull * bs + 6);
	assert_int_equal(ip.blocks, 1);
	assert_int_equal(free0 - fs->free_blocks, 1);
	check_zero(fs, &ip, 0, 10ull * bs + 5);
	check_pat(fs, &ip, 10ull * bs + 5, 1, 3);
	for (uint64_t l = 0; l < 10; l++) {
		assert_int_equal(mapfs_bmap(fs, &ip, l, &bno), 0);
		assert_int_equal(bno, 0);
	}
	/* the rest of the written block is zero (bytes past EOF) */
	assert_int_equal(mapfs_bmap(fs, &ip, 10, &bno), 0);
	assert_int_not_equal(bno, 0);
	{
		const uint8_t *b = mapfs_block(fs, bno);

		for (uint32_t i = 0; i < bs; i++)
			if (i != 5)
				assert_int_equal(b[i], 0);
	}
	/* growing by truncate makes a hole and takes nothing */
	assert_int_equal(mapfs_file_truncate(fs, &ip, 100ull * bs), 0);
	assert_int_equal(ip.blocks, 1);
	check_zero(fs, &ip, 10ull * bs + 6, 90ull * bs - 6);
	assert_stored(fs, &ip);
	check_map(fs, &ip);
}

/* Sparse blocks in each level of the map; exact block counts. */
static void test_levels(void **state)
{
	struct mapfs_fs *fs = ((struct tctx *)*state)->fs;
	uint32_t bs = fs->g.bsize;
	uint64_t free0 = fs->free_blocks;
	uint64_t l1 = lbn_single(fs) + 3, l2 = lbn_double(fs) + nind(fs) + 2;
	uint64_t l3 = lbn_triple(fs) + 5;
	struct mapfs_inode ip;
	struct walkstat *w = malloc(sizeof(*w));
	mapfs_bno_t bno;

	assert_non_null(w);
	new_file(fs, &ip);
	write_pat(fs, &ip, 3ull * bs, bs, 1);
	assert_int_equal(ip.blocks, 1);
	write_pat(fs, &ip, l1 * bs + 1, 10, 2);
	assert_int_equal(ip.blocks, 1 + 2);
	assert_int_not_equal(ip.blk[12], 0);
	write_pat(fs, &ip, l2 * bs, bs, 3);
	assert_int_equal(ip.blocks, 3 + 3);
	assert_int_not_equal(ip.blk[13], 0);
	write_pat(fs, &ip, l3 * bs + bs - 4, 8, 4);	/* two blocks */
	assert_int_equal(ip.blocks, 6 + 5);
	assert_int_not_equal(ip.blk[14], 0);
	/* one more block in the same triple subtree: one block more */
	write_pat(fs, &ip, (l3 + 3) * bs, 1, 5);
	assert_int_equal(ip.blocks, 12);
	assert_int_equal(free0 - fs->free_blocks, ip.blocks);
	assert_int_equal(ip.size, (l3 + 3) * bs + 1);

	check_pat(fs, &ip, 3ull * bs, bs, 1);
	check_pat(fs, &ip, l1 * bs + 1, 10, 2);
	check_pat(fs, &ip, l2 * bs, bs, 3);
	check_pat(fs, &ip, l3 * bs + bs - 4, 8, 4);
	check_pat(fs, &ip, (l3 + 3) * bs, 1, 5);
	check_zero(fs, &ip, l3 * bs - 3 * bs, 3 * bs);
	check_zero(fs, &ip, (l3 + 2) * bs, bs);
	assert_int_equal(mapfs_bmap(fs, &ip, l3 + 2, &bno), 0);
	assert_int_equal(bno, 0);
	assert_int_equal(mapfs_bmap(fs, &ip, l2 - 1, &bno), 0);
	assert_int_equal(bno, 0);

	walk(fs, &ip, w);
	assert_int_equal(w->n, 12);
	assert_int_equal(w->per_level[0], 6);
	assert_int_equal(w->per_level[1], 3);
	assert_int_equal(w->per_level[2], 2);
	assert_int_equal(w->per_level[3], 1);
	/* data visits agree with bmap */
	for (uint64_t i = 0; i < w->n; i++) {
		if (w->level[i] != 0)
			continue;
		assert_int_equal(mapfs_bmap(fs, &ip, w->lbn[i], &bno), 0);
		assert_int_equal(bno, w->seen[i]);
	}
	check_map(fs, &ip);
	assert_stored(fs, &ip);

	/* past the map's reach */
	assert_int_equal(mapfs_file_write(fs, &ip, fs->g.maxfilesize, "x", 1,
					  false),
			 -EFBIG);

	assert_int_equal(mapfs_file_truncate(fs, &ip, 0), 0);
	assert_int_equal(ip.blocks, 0);
	assert_int_equal(ip.size, 0);
	for (int i = 0; i < (int)MAPFS_NADDR; i++)
		assert_int_equal(ip.blk[i], 0);
	assert_int_equal(fs->free_blocks, free0);
	assert_int_equal(bitmap_free(fs), free0);
	assert_stored(fs, &ip);
	assert_int_equal(fs->error, 0);
	free(w);
}

/* Truncate down through each level, checking counts at every step. */
static void test_truncate_levels(void **state)
{
	struct mapfs_fs *fs = ((struct tctx *)*state)->fs;
	uint32_t bs = fs->g.bsize;
	uint64_t free0 = fs->free_blocks;
	uint64_t dense = bs == 4096 ? 600 : 40;	/* blocks written densely */
	uint64_t l2 = lbn_double(fs) + 2 * nind(fs) + 7;
	uint64_t l3 = lbn_triple(fs) + nind(fs) * nind(fs) + 9;
	struct mapfs_inode ip;
	uint64_t cuts[8];
	int ncut = 0;

	new_file(fs, &ip);
	write_pat(fs, &ip, 0, dense * bs, 1);
	write_pat(fs, &ip, l2 * bs, 2 * bs, 2);
	write_pat(fs, &ip, l3 * bs, 3 * bs + 1, 3);
	check_map(fs, &ip);
	assert_int_equal(free0 - fs->free_blocks, ip.blocks);

	cuts[ncut++] = (l3 + 1) * bs + 17;	/* inside the triple range */
	cuts[ncut++] = (l3 - 1) * bs;		/* triple subtree emptied */
	cuts[ncut++] = (l2 + 1) * bs;		/* inside double */
	if (dense > lbn_double(fs))
		cuts[ncut++] = (lbn_double(fs) + 3) * bs + 1;
	cuts[ncut++] = (lbn_single(fs) + 5) * bs - 1;
	cuts[ncut++] = 5ull * bs + 3;
	cuts[ncut++] = 1;
	cuts[ncut++] = 0;

	for (int c = 0; c < ncut; c++) {
		uint64_t sz = cuts[c], keep = (sz + bs - 1) / bs;
		uint64_t chk = sz < dense * bs ? sz : dense * bs;

		assert_int_equal(mapfs_file_truncate(fs, &ip, sz), 0);
		assert_int_equal(ip.size, sz);
		assert_int_equal(free0 - fs->free_blocks, ip.blocks);
		assert_int_equal(bitmap_free(fs), fs->free_blocks);
		check_map(fs, &ip);
		assert_stored(fs, &ip);
		/* emptied indirect roots are gone */
		if (keep <= lbn_triple(fs))
			assert_int_equal(ip.blk[14], 0);
		if (keep <= lbn_double(fs))
			assert_int_equal(ip.blk[13], 0);
		if (keep <= lbn_single(fs))
			assert_int_equal(ip.blk[12], 0);
		if (chk)
			check_pat(fs, &ip, 0, chk, 1);
		/* the tail past the cut reads as zeros after growing back */
		if (sz % bs) {
			struct mapfs_inode t = ip;

			assert_int_equal(mapfs_file_truncate(fs, &t, sz + bs),
					 0);
			check_zero(fs, &t, sz, bs);
			assert_int_equal(t.blocks, ip.blocks);
			assert_int_equal(mapfs_file_truncate(fs, &t, sz), 0);
			ip = t;
		}
		if (c == 1)	/* the triple tree held nothing below l3 */
			assert_int_equal(ip.blk[14], 0);
	}
	assert_int_equal(ip.blocks, 0);
	assert_int_equal(fs->free_blocks, free0);
	assert_int_equal(fs->error, 0);
}

/* A sparse file whose only block sits deep in a subtree: trimming below
 * it frees the whole subtree, indirect blocks included. */
static void test_truncate_sparse_subtree(void **state)
{
	struct mapfs_fs *fs = ((struct tctx *)*state)->fs;
	uint32_t bs = fs->g.bsize;
	uint64_t free0 = fs->free_blocks;
	uint64_t l2 = lbn_double(fs) + 3 * nind(fs) + 100;
	uint64_t l3 = lbn_triple(fs) + 2 * nind(fs) * nind(fs) +
		      5 * nind(fs) + 200;
	struct mapfs_inode ip;

	new_file(fs, &ip);
	write_pat(fs, &ip, l2 * bs, 1, 1);
	assert_int_equal(ip.blocks, 3);
	assert_int_equal(mapfs_file_truncate(fs, &ip, (l2 - 1) * bs + 1), 0);
	assert_int_equal(ip.blocks, 0);
	assert_int_equal(ip.blk[13], 0);
	assert_int_equal(fs->free_blocks, free0);

	write_pat(fs, &ip, l3 * bs + 5, 1, 2);
	assert_int_equal(ip.blocks, 4);
	write_pat(fs, &ip, 2ull * bs, 10, 3);
	assert_int_equal(ip.blocks, 5);
	/* cut inside the same single-indirect leaf, below the block */
	assert_int_equal(mapfs_file_truncate(fs, &ip, (l3 - 3) * bs), 0);
	assert_int_equal(ip.blocks, 1);
	assert_int_equal(ip.blk[14], 0);
	check_pat(fs, &ip, 2ull * bs, 10, 3);
	assert_int_equal(free0 - fs->free_blocks, 1);
	assert_int_equal(mapfs_file_truncate(fs, &ip, 0), 0);
	assert_int_equal(fs->free_blocks, free0);
	assert_int_equal(bitmap_free(fs), free0);
	assert_stored(fs, &ip);
}

static void test_truncate_grow_zeros(void **state)
{
	struct mapfs_fs *fs = ((struct tctx *)*state)->fs;
	uint32_t bs = fs->g.bsize;
	uint64_t free0 = fs->free_blocks;
	struct mapfs_inode ip;

	new_file(fs, &ip);
	write_pat(fs, &ip, 0, 3 * bs, 1);
	assert_int_equal(mapfs_file_truncate(fs, &ip, bs + 100), 0);
	assert_int_equal(ip.blocks, 2);
	assert_int_equal(free0 - fs->free_blocks, 2);
	assert_int_equal(mapfs_file_truncate(fs, &ip, 3 * bs), 0);
	assert_int_equal(ip.blocks, 2);
	check_pat(fs, &ip, 0, bs + 100, 1);
	check_zero(fs, &ip, bs + 100, 2 * bs - 100);
	/* a write past EOF leaves zeros between */
	assert_int_equal(mapfs_file_truncate(fs, &ip, 7), 0);
	write_pat(fs, &ip, 2 * bs + 9, 5, 2);
	check_pat(fs, &ip, 0, 7, 1);
	check_zero(fs, &ip, 7, 2 * bs + 2);
	check_pat(fs, &ip, 2 * bs + 9, 5, 2);
	assert_int_equal(ip.size, 2 * bs + 14);
	assert_int_equal(ip.blocks, 2);
	/* truncate to the same size is harmless */
	assert_int_equal(mapfs_file_truncate(fs, &ip, ip.size), 0);
	check_pat(fs, &ip, 2 * bs + 9, 5, 2);
	assert_stored(fs, &ip);
}

static void test_read_iov(void **state)
{
	struct mapfs_fs *fs = ((struct tctx *)*state)->fs;
	uint32_t bs = fs->g.bsize;
	struct mapfs_inode ip;
	struct iovec iov[64];
	mapfs_bno_t prev = 0, bno;
	uint8_t *buf = malloc(16 * bs), *want = malloc(16 * bs);
	size_t got;
	ssize_t n;
	int niov, runs;

	assert_non_null(buf);
	assert_non_null(want);
	new_file(fs, &ip);
	write_pat(fs, &ip, 0, 8 * bs, 1);
	/* a fresh file on a fresh filesystem is laid out contiguously */
	for (uint64_t l = 0; l < 8; l++) {
		assert_int_equal(mapfs_bmap(fs, &ip, l, &bno), 0);
		if (l)
			assert_int_equal(bno, prev + 1);
		prev = bno;
	}
	n = mapfs_file_read_iov(fs, &ip, 0, 8 * bs, iov, 64, &niov);
	assert_int_equal(n, 8 * bs);
	assert_int_equal(niov, 1);
	assert_int_equal(iov[0].iov_len, 8 * bs);
	fill_pat(want, 0, 8 * bs, 1);
	assert_memory_equal(iov[0].iov_base, want, 8 * bs);

	/* unaligned start, clipped at EOF */
	n = mapfs_file_read_iov(fs, &ip, bs + 3, 100 * bs, iov, 64, &niov);
	assert_int_equal(n, 7 * bs - 3);
	assert_int_equal(niov, 1);
	assert_memory_equal(iov[0].iov_base, want + bs + 3, 7 * bs - 3);
	n = mapfs_file_read_iov(fs, &ip, 8 * bs, 10, iov, 64, &niov);
	assert_int_equal(n, 0);
	assert_int_equal(niov, 0);

	/* data, a hole of 4 blocks, data again */
	write_pat(fs, &ip, 12ull * bs, 2 * bs, 2);
	n = mapfs_file_read_iov(fs, &ip, 0, 14 * bs, iov, 64, &niov);
	assert_int_equal(n, 14 * bs);
	/* data runs by physical adjacency, then the hole: 4 blocks of
	 * zeros in as few iovecs as the 64 KiB zero buffer allows */
	runs = 0;
	prev = 0;
	for (uint64_t l = 0; l < 14; l++) {
		assert_int_equal(mapfs_bmap(fs, &ip, l, &bno), 0);
		if (l >= 8 && l < 12) {
			assert_int_equal(bno, 0);
			continue;
		}
		assert_int_not_equal(bno, 0);
		if (l == 0 || l == 12 || bno != prev + 1)
			runs++;
		prev = bno;
	}
	runs += (int)((4ull * bs + MAPFS_MAX_BSIZE - 1) / MAPFS_MAX_BSIZE);
	assert_int_equal(niov, runs);
	got = 0;
	for (int i = 0; i < niov; i++) {
		memcpy(buf + got, iov[i].iov_base, iov[i].iov_len);
		got += iov[i].iov_len;
	}
	assert_int_equal(got, 14 * bs);
	fill_pat(want, 0, 8 * bs, 1);
	memset(want + 8 * bs, 0, 4 * bs);
	fill_pat(want + 12 * bs, 12ull * bs, 2 * bs, 2);
	assert_memory_equal(buf, want, 14 * bs);

	/* maxiov stops early, with the bytes described so far */
	n = mapfs_file_read_iov(fs, &ip, 0, 14 * bs, iov, 1, &niov);
	assert_int_equal(niov, 1);
	assert_int_equal(n, 8 * bs);
	free(buf);
	free(want);
}

/* The very last byte the map can hold: every index on the path is the
 * last one of its block. Writes past it are clipped. */
static void test_maxfilesize(void **state)
{
	struct mapfs_fs *fs = ((struct tctx *)*state)->fs;
	uint64_t max = fs->g.maxfilesize, free0 = fs->free_blocks;
	struct mapfs_inode ip;
	uint8_t buf[10];

	new_file(fs, &ip);
	fill_pat(buf, max - 4, 10, 9);
	assert_int_equal(mapfs_file_write(fs, &ip, max - 4, buf, 10, false),
			 4);
	assert_int_equal(ip.size, max);
	assert_int_equal(ip.blocks, 4);
	check_pat(fs, &ip, max - 4, 4, 9);
	assert_int_equal(mapfs_file_read(fs, &ip, max - 4, buf, 10), 4);
	assert_int_equal(mapfs_file_write(fs, &ip, max, buf, 1, false),
			 -EFBIG);
	assert_int_equal(mapfs_file_truncate(fs, &ip, max + 1), -EFBIG);
	check_map(fs, &ip);
	assert_stored(fs, &ip);
	assert_int_equal(mapfs_file_truncate(fs, &ip, max - 5), 0);
	assert_int_equal(ip.blocks, 4);	/* same last block */
	assert_int_equal(mapfs_file_truncate(fs, &ip, max - fs->g.bsize - 1),
			 0);
	assert_int_equal(ip.blocks, 0);
	assert_int_equal(ip.blk[14], 0);
	assert_int_equal(fs->free_blocks, free0);
}

/* A slow symlink is written like a file from size 0 (what ops does). */
static void test_slow_symlink(void **state)
{
	struct mapfs_fs *fs = ((struct tctx *)*state)->fs;
	uint64_t free0 = fs->free_blocks;
	struct mapfs_inode ip, got;
	char target[300], buf[300];

	memset(target, 'a', sizeof(target));
	new_file(fs, &ip);
	ip.mode = MAPFS_IFLNK | 0777;
	assert_false(mapfs_inode_has_blocks(&ip));
	assert_int_equal(mapfs_file_write(fs, &ip, 0, target, 300, false),
			 300);
	assert_int_equal(mapfs_inode_load(fs, ip.ino, &got), 0);
	assert_int_equal(got.size, 300);
	assert_int_equal(got.blocks, 1);
	assert_true(mapfs_inode_has_blocks(&got));
	assert_int_equal(mapfs_file_read(fs, &got, 0, buf, sizeof(buf)), 300);
	assert_memory_equal(buf, target, 300);
	assert_int_equal(mapfs_file_truncate(fs, &got, 0), 0);
	assert_int_equal(fs->free_blocks, free0);

	/* no block map: fast symlinks and devices refuse map operations */
	ip.mode = MAPFS_IFCHR | 0600;
	ip.size = 0;
	memset(ip.blk, 0, sizeof(ip.blk));
	assert_int_equal(mapfs_file_write(fs, &ip, 0, "x", 1, false), -EINVAL);
	assert_int_equal(mapfs_file_truncate(fs, &ip, 5), -EINVAL);
	assert_int_equal(mapfs_file_truncate(fs, &ip, 0), 0);
}

/* ------------------------------------------------------------------ */
/* Corruption                                                          */
/* ------------------------------------------------------------------ */

static void test_ind_corrupt(void **state)
{
	struct mapfs_fs *fs = ((struct tctx *)*state)->fs;
	uint32_t bs = fs->g.bsize;
	uint64_t l2 = lbn_double(fs) + 1;
	struct mapfs_inode ip;
	struct walkstat *w = malloc(sizeof(*w));
	mapfs_bno_t bno, ind;
	uint8_t *blk, save, buf[16];

	assert_non_null(w);
	new_file(fs, &ip);
	write_pat(fs, &ip, lbn_single(fs) * bs, 1, 1);
	write_pat(fs, &ip, l2 * bs, 1, 2);
	ind = ip.blk[12];
	blk = mapfs_block(fs, ind);
	assert_non_null(blk);
	/* page tails are sealed */
	for (uint32_t p = 0; p < fs->g.pages_per_block; p++) {
		struct mapfs_indtail t;

		memcpy(&t, blk + p * 4096 + 4088, sizeof(t));
		assert_int_equal(le32toh(t.it_magic), MAPFS_INDTAIL_MAGIC);
		assert_int_equal(le32toh(t.it_crc),
				 mapfs_ind_crc(fs, ip.ino, ind, p));
	}

	/* a flipped byte in a hole slot: the page CRC catches it */
	save = blk[100];
	blk[100] ^= 0x40;
	assert_int_equal(mapfs_bmap(fs, &ip, lbn_single(fs), &bno), -EUCLEAN);
	assert_int_not_equal(fs->error, 0);
	fs->error = 0;
	assert_int_equal(mapfs_file_read(fs, &ip, lbn_single(fs) * bs, buf, 1),
			 -EUCLEAN);
	walk(fs, &ip, w);
	assert_int_equal(w->badcrc, 1);
	blk[100] = save;
	fs->error = 0;
	assert_int_equal(mapfs_bmap(fs, &ip, lbn_single(fs), &bno), 0);
	assert_int_not_equal(bno, 0);

	/* a bad magic */
	blk[4088] ^= 1;
	assert_int_equal(mapfs_bmap(fs, &ip, lbn_single(fs), &bno), -EUCLEAN);
	blk[4088] ^= 1;
	fs->error = 0;

	/* a pointer out of range, with a valid CRC: still refused */
	{
		uint64_t bad = htole64(fs->g.nblocks + 10);
		struct mapfs_indtail t;

		memcpy(blk + 8, &bad, 8);
		t.it_magic = htole32(MAPFS_INDTAIL_MAGIC);
		t.it_crc = htole32(mapfs_ind_crc(fs, ip.ino, ind, 0));
		memcpy(blk + 4088, &t, sizeof(t));
		assert_int_equal(mapfs_bmap(fs, &ip, lbn_single(fs) + 1, &bno),
				 -EUCLEAN);
		fs->error = 0;
		/* the walk reports it as invalid and does not follow it */
		walk(fs, &ip, w);
		assert_int_equal(w->invalid, 1);
		assert_int_equal(w->badcrc, 0);
		/* a pointer to metadata in a double-indirect block: the walk
		 * must not descend into it */
	}

	/* the owner is part of the CRC: another inode's view fails */
	{
		struct mapfs_inode other = ip;

		other.ino = ip.ino + 1;
		assert_int_equal(mapfs_bmap(fs, &other, lbn_single(fs), &bno),
				 -EUCLEAN);
		fs->error = 0;
	}

	/* corrupt the double indirect's child pointer to a metadata block */
	{
		uint8_t *dbl = mapfs_block(fs, ip.blk[13]);
		uint64_t meta = htole64(2), old;
		struct mapfs_indtail t;

		memcpy(&old, dbl, 8);
		memcpy(dbl, &meta, 8);
		t.it_magic = htole32(MAPFS_INDTAIL_MAGIC);
		t.it_crc = htole32(mapfs_ind_crc(fs, ip.ino, ip.blk[13], 0));
		memcpy(dbl + 4088, &t, sizeof(t));
		assert_int_equal(mapfs_bmap(fs, &ip, l2, &bno), -EUCLEAN);
		fs->error = 0;
		walk(fs, &ip, w);
		assert_int_equal(w->invalid, 2);
		/* truncating refuses to free garbage */
		{
			struct mapfs_inode t2 = ip;

			assert_int_equal(mapfs_file_truncate(fs, &t2, 0),
					 -EUCLEAN);
		}
		fs->error = 0;
		(void)old;
	}
	free(w);
}

/* Garbage everywhere: the walk never crashes and visits a bounded set. */
static void test_walk_garbage(void **state)
{
	struct mapfs_fs *fs = ((struct tctx *)*state)->fs;
	struct mapfs_inode ip;
	struct walkstat *w = malloc(sizeof(*w));
	mapfs_bno_t ind;
	uint8_t *blk;
	uint64_t self;

	assert_non_null(w);
	new_file(fs, &ip);
	write_pat(fs, &ip, lbn_double(fs) * fs->g.bsize, 1, 1);
	ind = ip.blk[13];
	blk = mapfs_block(fs, ind);
	/* the double indirect block names itself in its first slots (as a
	 * single indirect block) and garbage elsewhere */
	self = htole64(ind);
	for (int i = 0; i < 4; i++)
		memcpy(blk + 8 * i, &self, 8);
	memset(blk + 64, 0xff, 64);
	ip.blk[0] = fs->g.nblocks;	/* out of range */
	ip.blk[1] = 1;			/* metadata */
	walk(fs, &ip, w);
	/* 2 bad direct pointers; the double block (bad CRC) holds 4 self
	 * pointers, followed as single indirect blocks (bad CRC), each
	 * holding 4 "data" self pointers and 8 bad ones; and 8 bad ones */
	assert_int_equal(w->invalid, 2 + 4 * 8 + 8);
	assert_int_equal(w->badcrc, 1 + 4);
	assert_int_equal(w->n, 2 + 1 + 4 * (1 + 4 + 8) + 8);
	free(w);
	fs->error = 0;
}

/* ------------------------------------------------------------------ */
/* ENOSPC                                                              */
/* ------------------------------------------------------------------ */

static void test_enospc(void **state)
{
	struct tctx *t = *state;
	struct mapfs_fs *fs;
	uint32_t bs;
	uint64_t free0, big;
	struct mapfs_inode a, b;
	uint8_t *buf;
	ssize_t n;
	mapfs_bno_t bno;

	test_fs_free(t->fs);
	t->fs = NULL;
	t->fs = fs = test_fs_new(t->p->tiny, t->p->bsize, t->p->tiny_bpg);
	bs = fs->g.bsize;
	free0 = fs->free_blocks;
	big = (free0 + 10) * bs;
	buf = malloc(big);
	assert_non_null(buf);
	fill_pat(buf, 0, big, 7);

	new_file(fs, &a);
	n = mapfs_file_write(fs, &a, 0, buf, big, true);
	assert_true(n > 0);
	assert_true((uint64_t)n < big);
	assert_int_equal(n % bs, 0);
	assert_int_equal(fs->free_blocks, 0);
	assert_int_equal(a.size, (uint64_t)n);
	assert_int_equal(a.blocks, free0);
	assert_int_equal(bitmap_free(fs), 0);
	assert_stored(fs, &a);
	check_pat(fs, &a, 0, (size_t)n, 7);
	/* nothing left: a write fails cleanly, an overwrite still works */
	assert_int_equal(mapfs_file_write(fs, &a, (uint64_t)n, buf, 10, true),
			 -ENOSPC);
	assert_int_equal(a.size, (uint64_t)n);
	assert_int_equal(mapfs_file_write(fs, &a, 0, buf, 10, true), 10);
	assert_int_equal(fs->error, 0);

	/* free exactly two data blocks from a's single-indirect range */
	assert_true(a.size / bs > lbn_single(fs) + 4);
	assert_int_equal(mapfs_file_truncate(fs, &a, a.size - 2 * bs), 0);
	assert_int_equal(fs->free_blocks, 2);

	/* a triple-indirect block needs four: ENOSPC, nothing changes */
	new_file(fs, &b);
	assert_int_equal(mapfs_file_write(fs, &b, lbn_triple(fs) * bs, buf, 1,
					  true),
			 -ENOSPC);
	assert_int_equal(fs->free_blocks, 2);
	assert_int_equal(b.blocks, 0);
	assert_int_equal(b.size, 0);
	assert_int_equal(b.blk[14], 0);
	assert_int_equal(mapfs_bmap_alloc(fs, &b, lbn_double(fs), true, false,
					  &bno),
			 -ENOSPC);
	assert_int_equal(fs->free_blocks, 2);
	assert_int_equal(b.blk[13], 0);
	assert_int_equal(b.blocks, 0);
	/* two suffice for a single-indirect block */
	assert_int_equal(mapfs_file_write(fs, &b, lbn_single(fs) * bs, buf, 1,
					  true),
			 1);
	assert_int_equal(b.blocks, 2);
	assert_int_equal(fs->free_blocks, 0);
	/* a write spanning a mapped and an unmapped block: short count */
	n = mapfs_file_write(fs, &b, lbn_single(fs) * bs + 1, buf, bs + 5,
			     true);
	assert_int_equal(n, bs - 1);
	assert_int_equal(b.size, (lbn_single(fs) + 1) * bs);
	assert_stored(fs, &b);
	check_map(fs, &b);
	assert_int_equal(bitmap_free(fs), fs->free_blocks);

	assert_int_equal(mapfs_file_truncate(fs, &a, 0), 0);
	assert_int_equal(mapfs_file_truncate(fs, &b, 0), 0);
	assert_int_equal(fs->free_blocks, free0);
	assert_int_equal(bitmap_free(fs), free0);
	/* the image is still consistent enough to attach */
	test_fs_remount(fs);
	assert_int_equal(fs->free_blocks, free0);
	assert_int_equal(fs->error, 0);
	free(buf);
}

/* One write over many blocks (two groups, several indirect pages): the
 * bitmap, group header and indirect-page checksums put off during it
 * (mapfs_seal_defer) are all right when it returns, and after a
 * remount. */
static void test_one_big_write(void **state)
{
	struct mapfs_fs *fs = ((struct tctx *)*state)->fs;
	uint32_t bs = fs->g.bsize;
	uint64_t nblk = bs == 4096 ? 2500 : 600, len = nblk * bs;
	uint8_t *buf = malloc(len), *back = malloc(len);
	struct mapfs_inode ip;
	char why[160];

	assert_non_null(buf);
	assert_non_null(back);
	fill_pat(buf, 0, len, 3);
	new_file(fs, &ip);
	assert_int_equal(mapfs_file_write(fs, &ip, 0, buf, len, false),
			 (ssize_t)len);
	assert_int_equal(fs->in->npend, 0);
	assert_int_equal(fs->in->seal_defer, 0);
	assert_true(fs->g.ngroups >= 2);
	for (uint64_t cg = 0; cg < fs->g.ngroups; cg++)
		assert_int_equal(mapfs_cg_check_bitmaps(fs, cg, why,
							sizeof(why)), 0);
	check_map(fs, &ip);
	test_fs_remount(fs);
	for (uint64_t cg = 0; cg < fs->g.ngroups; cg++)
		assert_int_equal(mapfs_cg_check_bitmaps(fs, cg, why,
							sizeof(why)), 0);
	check_map(fs, &ip);
	assert_int_equal(mapfs_file_read(fs, &ip, 0, back, len), (ssize_t)len);
	assert_memory_equal(back, buf, len);
	assert_int_equal(fs->error, 0);
	free(buf);
	free(back);
}

/* mapfs_inode_new_gen, the one generation policy (ops.c's create and
 * fsck's rebuilt directories): the stored generation + 1 on reuse, a
 * value scrambled from the time on first use, never 0. */
static void test_new_gen(void **state)
{
	struct tctx *t = *state;
	struct mapfs_fs *fs = t->fs;
	mapfs_ino_t ino = fs->g.first_ino + 5;
	struct mapfs_timespec now = { 1700000000, 123 };
	struct mapfs_timespec later = { 1700000000, 124 };
	struct mapfs_inode ip;
	uint32_t a, b;

	/* First use: not 0, not 1, and not the same at another time. */
	assert_int_equal(mapfs_di_gen(mapfs_dinode(fs, ino)), 0);
	a = mapfs_inode_new_gen(fs, ino, now);
	b = mapfs_inode_new_gen(fs, ino, later);
	assert_true(a > 1 && b > 1 && a != b);

	/* Reuse: a freed slot keeps its generation, the next is + 1. */
	memset(&ip, 0, sizeof(ip));
	ip.ino = ino;
	ip.mode = MAPFS_IFREG | 0644;
	ip.nlink = 1;
	ip.gen = 7;
	mapfs_inode_store(fs, &ip);
	mapfs_inode_clear(fs, ino);
	assert_int_equal(mapfs_inode_new_gen(fs, ino, now), 8);

	/* Wrapping skips 0. */
	ip.gen = UINT32_MAX;
	mapfs_inode_store(fs, &ip);
	assert_int_equal(mapfs_inode_new_gen(fs, ino, now), 1);

	/* No slot (out of range): still a first-use value. */
	assert_true(mapfs_inode_new_gen(fs, fs->g.ninodes, now) != 0);
}

#define T(f)                                                                \
	cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, &p4k),  \
	cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, &p64k)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_store_load),
		T(test_inode_check),
		T(test_roundtrip),
		T(test_holes),
		T(test_levels),
		T(test_truncate_levels),
		T(test_truncate_sparse_subtree),
		T(test_truncate_grow_zeros),
		T(test_read_iov),
		T(test_maxfilesize),
		T(test_slow_symlink),
		T(test_ind_corrupt),
		T(test_walk_garbage),
		T(test_enospc),
		T(test_one_big_write),
		T(test_new_gen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
