/* SPDX-License-Identifier: MIT */
/*
 * format.c - lay out a fresh filesystem (mkfs and the tests).
 *
 * Layer: above mount.c (its in-memory fs is set up by mapfs_fs_init and
 * torn down by mapfs_fs_detach) and everything below; only grow.c is
 * after it (tests/layering.sh). mapfs_format_plan is pure arithmetic; mapfs_format writes only
 * metadata: the primary superblock, its copies, group 0 (header, bitmaps,
 * the root and lost+found) and zeroes stale group headers left by an
 * earlier filesystem. Every other group stays "unused" (an all-zero
 * header), so formatting a 1 TiB sparse file writes a few pages.
 *
 * Order: the primary superblock first gets the "mkfs unfinished" magic;
 * the real superblock is stored last, so an interrupted mkfs leaves an
 * image that every tool recognizes as unfinished (FreeBSD's FS_BAD_MAGIC).
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

uint64_t mapfs_format_journal_default(const struct mapfs_geom *g,
				      uint64_t size_bytes)
{
	uint64_t area = mapfs_group_ndata(g, 0), want = size_bytes / 64;

	if (want < (1u << 20))
		want = 1u << 20;
	if (want > (64u << 20))
		want = 64u << 20;
	if (want > (area / 4) << g->bshift)
		want = (area / 4) << g->bshift;
	return want < MAPFS_JOURNAL_MIN_BYTES ? 0 : want;
}

/* The journal sits at the end of group 0's data area (the root and
 * lost+found take its first blocks), at most a quarter of that area. */
static int plan_journal(const struct mapfs_format_opts *o,
			struct mapfs_geom *g, char *why, size_t whylen)
{
	uint64_t area = mapfs_group_ndata(g, 0), want = o->journal_bytes;
	uint64_t blocks;

	if (want == UINT64_MAX)
		return 0;
	if (want == 0) {
		want = mapfs_format_journal_default(g, o->size_bytes);
		if (want == 0)
			return 0;	/* too small an image: none */
	}
	blocks = (want + g->bsize - 1) >> g->bshift;
	if (blocks << g->bshift < MAPFS_JOURNAL_MIN_BYTES ||
	    blocks > area / 2) {
		WHY("journal of %llu bytes does not fit (%u KiB to %llu KiB "
		    "here)", (unsigned long long)want,
		    MAPFS_JOURNAL_MIN_BYTES / 1024,
		    (unsigned long long)(((area / 2) << g->bshift) / 1024));
		return -EINVAL;
	}
	g->jblocks = blocks;
	g->jstart = mapfs_group_nblocks(g, 0) - blocks;
	return 0;
}

int mapfs_format_plan(const struct mapfs_format_opts *o,
		      struct mapfs_geom *g, char *why, size_t whylen)
{
	uint64_t bpi, data_blocks, ipg;
	uint32_t minfree;

	memset(g, 0, sizeof(*g));
	g->bsize = o->bsize ? o->bsize : MAPFS_DEFAULT_BSIZE;
	if (g->bsize < MAPFS_MIN_BSIZE || g->bsize > MAPFS_MAX_BSIZE ||
	    (g->bsize & (g->bsize - 1))) {
		WHY("block size %u is not a power of two from 4096 to 65536",
		    g->bsize);
		return -EINVAL;
	}
	g->inode_size = o->inode_size ? o->inode_size
				      : MAPFS_DEFAULT_INODE_SIZE;
	if (g->inode_size != 256 && g->inode_size != 512 &&
	    g->inode_size != 1024) {
		WHY("inode size %u not supported (256, 512 or 1024)",
		    g->inode_size);
		return -EINVAL;
	}
	g->bpg = o->bpg ? o->bpg : 8 * g->bsize;
	if (g->bpg % 8 || g->bpg < 256 || g->bpg > 8 * g->bsize) {
		WHY("blocks per group %u must be a multiple of 8 from 256 to "
		    "%u", g->bpg, 8 * g->bsize);
		return -EINVAL;
	}
	bpi = o->bytes_per_inode ? o->bytes_per_inode
				 : MAPFS_DEFAULT_BYTES_PER_INODE;
	if (bpi < g->inode_size || bpi > (1u << 30)) {
		WHY("bytes per inode %llu out of range (%u to 1 GiB)",
		    (unsigned long long)bpi, g->inode_size);
		return -EINVAL;
	}
	if (o->size_bytes < (uint64_t)g->bsize * 64) {
		WHY("image of %llu bytes is too small (at least %u KiB)",
		    (unsigned long long)o->size_bytes, g->bsize * 64 / 1024);
		return -EINVAL;
	}
	g->nblocks = o->size_bytes / g->bsize;
	/* An image smaller than one group is one group of its own size, so
	 * the inode density below applies to the space that exists. */
	if (g->nblocks < g->bpg)
		g->bpg = (uint32_t)(g->nblocks & ~7ull);
	/* Inodes per group: the density asked for, rounded up to whole
	 * inode-table blocks and to a multiple of 8, at least 32 (group 0
	 * holds 16 reserved inodes, the root and lost+found). */
	ipg = (uint64_t)g->bpg * g->bsize / bpi;
	{
		uint32_t ipb = g->bsize / g->inode_size;
		uint64_t unit = ipb % 8 ? ipb * 8 : ipb;
		if (ipg < 32)
			ipg = 32;
		ipg = (ipg + unit - 1) / unit * unit;
		if (ipg > 8ull * g->bsize)
			ipg = 8ull * g->bsize / unit * unit;
	}
	g->ipg = (uint32_t)ipg;
	g->first_ino = MAPFS_FIRST_INO;
	g->itab_blocks = g->ipg / (g->bsize / g->inode_size);
	/* Drop a last group too small to hold its metadata and 16 blocks. */
	{
		uint64_t rem = g->nblocks % g->bpg;
		uint64_t meta = 4 + g->itab_blocks;
		if (rem && rem < meta + 16)
			g->nblocks -= rem;
		if (g->nblocks < meta + 32 || meta >= g->bpg) {
			WHY("image of %llu bytes is too small for one group "
			    "(%llu blocks of metadata per group; try a smaller "
			    "-i density or -g)",
			    (unsigned long long)o->size_bytes,
			    (unsigned long long)meta);
			return -EINVAL;
		}
	}
	if (!mapfs_geom_derive(g)) {
		WHY("inconsistent geometry");
		return -EINVAL;
	}
	minfree = o->minfree_pct == UINT32_MAX ? MAPFS_DEFAULT_MINFREE_PCT
					       : o->minfree_pct;
	if (minfree > 50) {
		WHY("reserved percentage %u is above 50", minfree);
		return -EINVAL;
	}
	g->minfree_pct = minfree;
	data_blocks = g->nblocks - g->ngroups * (uint64_t)g->data_off;
	g->reserved_blocks = data_blocks * minfree / 100;
	return plan_journal(o, g, why, whylen);
}

/* Zero the header page of every group but 0 that is not already zero
 * (reading a hole is free, writing one would allocate it), and the
 * superblock copies of a previous filesystem with another geometry. */
static void clear_old_metadata(uint8_t *base, uint64_t size,
			       const struct mapfs_geom *g,
			       const struct mapfs_format_opts *o)
{
	struct mapfs_geom old;

	if (mapfs_super_decode((void *)base, size, 0, &old, NULL, 0) == 0) {
		for (uint64_t cg = 1; cg < old.ngroups; cg++) {
			uint64_t off = mapfs_group_start(&old, cg) << old.bshift;
			if (!mapfs_group_has_sb(cg))
				continue;
			if (off <= size - MAPFS_PAGE_SIZE &&
			    !mapfs_is_zero(base + off, MAPFS_PAGE_SIZE))
				memset(base + off, 0, MAPFS_PAGE_SIZE);
		}
	}
	/* An unused group is an all-zero header and all-zero bitmaps. */
	for (uint64_t cg = 1; cg < g->ngroups; cg++) {
		uint64_t start = mapfs_group_start(g, cg);
		uint64_t off = (start + g->hdr_off) << g->bshift;
		/* Header, inode bitmap, block bitmap: three blocks in a row. */
		uint64_t len = (uint64_t)3 * g->bsize;

		for (uint64_t p = 0; p < len; p += MAPFS_PAGE_SIZE)
			if (!mapfs_is_zero(base + off + p, MAPFS_PAGE_SIZE))
				memset(base + off + p, 0, MAPFS_PAGE_SIZE);
		if (o->progress && (cg % 1024 == 0 || cg + 1 == g->ngroups))
			o->progress(o->progress_arg, cg + 1, g->ngroups);
	}
}

static struct mapfs_inode new_dir_inode(mapfs_ino_t ino, uint32_t gen,
					uint32_t mode, uint32_t uid,
					uint32_t gid, struct mapfs_timespec t)
{
	struct mapfs_inode ip;

	memset(&ip, 0, sizeof(ip));
	ip.ino = ino;
	ip.mode = MAPFS_IFDIR | mode;
	ip.nlink = 2;
	ip.uid = uid;
	ip.gid = gid;
	ip.gen = gen;
	ip.atime = ip.mtime = ip.ctime = ip.btime = t;
	return ip;
}

int mapfs_format(void *base, uint64_t size, const struct mapfs_format_opts *o,
		 const struct mapfs_geom *g, char *why, size_t whylen)
{
	struct mapfs_fs fs;
	struct mapfs_inode root, lpf;
	struct mapfs_timespec now;
	struct mapfs_dsuper *sb = base;
	mapfs_ino_t lpf_ino;
	uint32_t gen = 1;
	int err;

	if ((g->nblocks << g->bshift) > size) {
		WHY("image smaller than the plan");
		return -EINVAL;
	}
	clear_old_metadata(base, size, g, o);
	memset(sb, 0, MAPFS_PAGE_SIZE);
	sb->sb_magic = htole32(MAPFS_SB_MAGIC_MKFS);

	err = mapfs_fs_init(&fs, base, size, g);
	if (err < 0) {
		WHY("out of memory");
		return err;
	}
	if (o->have_uuid) {
		memcpy(fs.uuid, o->uuid, sizeof(fs.uuid));
	} else if (getrandom(fs.uuid, sizeof(fs.uuid), 0) !=
		   (ssize_t)sizeof(fs.uuid)) {
		WHY("cannot get random bytes for the uuid");
		mapfs_fs_detach(&fs);
		return -EIO;
	}
	if (!o->have_uuid) {
		fs.uuid[6] = (uint8_t)((fs.uuid[6] & 0x0f) | 0x40); /* v4 */
		fs.uuid[8] = (uint8_t)((fs.uuid[8] & 0x3f) | 0x80);
	}
	fs.g.seed = mapfs_crc32c(~0u, fs.uuid, sizeof(fs.uuid));
	memcpy(fs.label, o->label, strnlen(o->label, MAPFS_LABEL_MAX));
	if (o->time) {
		now.sec = o->time;
		now.nsec = 0;
	} else {
		now = mapfs_now();
	}
	if (!o->time && getrandom(&gen, sizeof(gen), 0) != sizeof(gen))
		gen = 1;
	fs.mkfs_time = fs.write_time = now.sec;
	fs.state = MAPFS_STATE_CLEAN;

	/* Every group starts unused; group 0 is initialized now. */
	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		fs.cg[cg].free_blocks = mapfs_group_ndata(g, cg);
		fs.cg[cg].free_inodes = g->ipg;
		fs.free_blocks += fs.cg[cg].free_blocks;
		fs.free_inodes += fs.cg[cg].free_inodes;
	}
	fs.free_blocks -= fs.cg[0].free_blocks;
	fs.free_inodes -= fs.cg[0].free_inodes;
	mapfs_cg_init(&fs, 0);
	if (g->jblocks) {
		uint8_t *bbm = mapfs_cg_bbm(&fs, 0);

		fs.feat_incompat |= MAPFS_FEAT_INCOMPAT_JOURNAL;
		for (uint64_t b = g->jstart; b < g->jstart + g->jblocks; b++)
			mapfs_bit_set(bbm, b);
		fs.cg[0].free_blocks -= g->jblocks;
		mapfs_cg_rebuild(&fs, 0, (uint32_t)g->first_ino);
		mapfs_journal_format(&fs);
	}
	fs.free_blocks += fs.cg[0].free_blocks;
	fs.free_inodes += fs.cg[0].free_inodes;
	/* Reserved inode slots hold zeros. */
	memset(mapfs_dinode(&fs, 0), 0, (size_t)g->first_ino * g->inode_size);

	/* The root: a reserved slot, so no allocation, but a directory. */
	root = new_dir_inode(MAPFS_ROOT_INO, gen, 0755, o->root_uid,
			     o->root_gid, now);
	fs.cg[0].ndirs++;
	fs.ndirs++;
	mapfs_cg_store(&fs, 0);
	err = mapfs_dir_init(&fs, &root, MAPFS_ROOT_INO, true);
	if (err < 0)
		goto fail;

	err = mapfs_alloc_inode(&fs, MAPFS_ROOT_INO, true, &lpf_ino);
	if (err < 0)
		goto fail;
	lpf = new_dir_inode(lpf_ino, gen + 1, 0700, 0, 0, now);
	err = mapfs_dir_init(&fs, &lpf, MAPFS_ROOT_INO, true);
	if (err < 0)
		goto fail;
	err = mapfs_dir_add(&fs, &root, "lost+found", 10, lpf_ino,
			    MAPFS_DT_DIR, true);
	if (err < 0)
		goto fail;
	err = mapfs_inode_load(&fs, MAPFS_ROOT_INO, &root);
	if (err < 0)
		goto fail;
	root.nlink = 3;
	mapfs_inode_store(&fs, &root);

	/* Copies first, the primary (with the real magic) last. */
	mapfs_super_store_copies(&fs);
	mapfs_super_store(&fs);
	mapfs_fs_detach(&fs);
	return 0;
fail:
	WHY("cannot create the root directory: %s", strerror(-err));
	mapfs_fs_detach(&fs);
	return err < 0 ? err : -EIO;
}
