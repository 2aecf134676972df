/* SPDX-License-Identifier: MIT */
/*
 * corrupt.c - test-only tool: populate a fresh image without mounting it,
 * and make one targeted inconsistency in it, for the fsck test cases.
 *
 *   corrupt IMAGE populate
 *   corrupt IMAGE lookup PATH                 print the inode number
 *   corrupt IMAGE info FIELD                  nblocks, bpg, ipg, ninodes,
 *                                             data_off, bsize, ngroups
 *   corrupt IMAGE get INODE FIELD             print an inode field
 *   corrupt IMAGE inode INODE FIELD VALUE [--no-crc]
 *   corrupt IMAGE sb FIELD VALUE              free_blocks, free_inodes,
 *                                             ndirs, state, orphan_head
 *   corrupt IMAGE cg GROUP FIELD VALUE        free_blocks, free_inodes,
 *                                             ndirs, ihiwater, crc,
 *                                             ibm_crc0, bbm_crc0
 *   corrupt IMAGE sbcopy GROUP minfree VALUE  edit a superblock copy
 *                                             (CRC kept right)
 *   corrupt IMAGE bitmap block|inode N 0|1    (bitmap CRC kept right)
 *   corrupt IMAGE dirent DIR NAME FIELD VALUE [--no-crc]
 *                                             ino, type, reclen, namelen,
 *                                             name
 *   corrupt IMAGE ind INODE BNO SLOT VALUE    set pointer SLOT of INODE's
 *                                             indirect block BNO
 *   corrupt IMAGE getind BNO SLOT             print that pointer
 *   corrupt IMAGE rm DIR NAME                 a real unlink (frees)
 *   corrupt IMAGE setxattr INODE NAME VALUE   a real setxattr (VALUE is
 *                                             text; "@N" is N bytes)
 *   corrupt IMAGE fallocate INODE MODE OFF LEN  a real fallocate
 *   corrupt IMAGE unlink-entry DIR NAME       remove the record only
 *   corrupt IMAGE add-entry DIR NAME INODE TYPE  add a record only
 *   corrupt IMAGE byte OFFSET VALUE           raw byte write
 *   corrupt IMAGE xorbyte OFFSET MASK         flip bits of a raw byte
 *
 * INODE and DIR are inode numbers or absolute paths. Inode fields: mode,
 * nlink, uid, size, blocks, flags, gen, orphan_next, xattr, blk0..blk14,
 * crc.
 * Changes keep every checksum right (unless --no-crc, or the field is a
 * checksum), so only the intended inconsistency remains. Knowing where
 * bytes live is the point of a corruption tool; it still finds structures
 * and computes checksums through the core.
 */
#include "mapfs.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *prog = "corrupt";

static void die(const char *fmt, const char *arg, int err)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	if (err)
		fprintf(stderr, ": %s", strerror(err < 0 ? -err : err));
	fputc('\n', stderr);
	exit(1);
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || !*s)
		die("bad number '%s'", s, 0);
	return v;
}

static void quiet_log(void *arg, enum mapfs_log_level lvl, const char *msg)
{
	(void)arg;
	if (getenv("CORRUPT_VERBOSE"))
		fprintf(stderr, "core: %s\n", msg);
	(void)lvl;
}

static struct mapfs_fs *open_fs(const char *path)
{
	struct mapfs_fs *fs;
	char why[256] = "";
	int err;

	err = mapfs_fs_open(path, MAPFS_OPEN_FSCK, 0, quiet_log, NULL, &fs,
			    why, sizeof(why));
	if (err < 0)
		die("cannot open image: %s", why, 0);
	return fs;
}

static void close_fs(struct mapfs_fs *fs)
{
	if (fsync(fs->fd) < 0)
		die("fsync %s", "image", errno);
	mapfs_fs_close(fs);
}

/* "/a/b" or "17" -> inode number. */
static mapfs_ino_t resolve(struct mapfs_fs *fs, const char *p)
{
	mapfs_ino_t ino = MAPFS_ROOT_INO;
	char buf[1024], *save = NULL, *tok;
	int err;

	if (p[0] != '/')
		return num(p);
	snprintf(buf, sizeof(buf), "%s", p);
	for (tok = strtok_r(buf, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		err = mapfs_op_lookup(fs, ino, tok, &ino);
		if (err < 0)
			die("lookup '%s'", p, err);
	}
	return ino;
}

static const struct mapfs_cred root_cred = { 0, 0 };

static mapfs_ino_t mk(struct mapfs_fs *fs, mapfs_ino_t dir, const char *name,
		      uint32_t mode)
{
	struct mapfs_inode ip;
	int err = mapfs_op_mknod(fs, &root_cred, dir, name, mode, 0, &ip);

	if (err < 0)
		die("mknod %s", name, err);
	return ip.ino;
}

static void wr(struct mapfs_fs *fs, mapfs_ino_t ino, uint64_t off,
	       size_t len, int seed)
{
	char *buf = malloc(len);
	ssize_t n;

	if (!buf)
		die("%s", "out of memory", 0);
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(seed + i * 7);
	n = mapfs_op_write(fs, ino, off, buf, len, true);
	if (n != (ssize_t)len)
		die("write %s", "file", n < 0 ? (int)n : EIO);
	free(buf);
}

/* A small tree exercising every inode kind and indirect blocks:
 *   /dir1/file2 (3 blocks)  /dir1/sub/
 *   /file1 (20 blocks: single indirect)  /hard (link to /file1)
 *   /sym (fast symlink)  /longsym (slow symlink)  /fifo  /empty
 *   /sparse (one block at 10 MiB: double indirect)
 *   /dir2/a (1 block)  /loopa/loopb/  /bigdir/f000..f149 (2 chunks) */
static void populate(const char *path)
{
	struct mapfs_fs *fs = open_fs(path);
	uint32_t bs = fs->g.bsize;
	struct mapfs_inode ip;
	mapfs_ino_t d1, d2, f, la, big;
	char longt[201];
	int err;

	d1 = mk(fs, MAPFS_ROOT_INO, "dir1", MAPFS_IFDIR | 0755);
	f = mk(fs, d1, "file2", MAPFS_IFREG | 0644);
	wr(fs, f, 0, 3 * bs - 100, 1);
	mk(fs, d1, "sub", MAPFS_IFDIR | 0755);
	f = mk(fs, MAPFS_ROOT_INO, "file1", MAPFS_IFREG | 0644);
	wr(fs, f, 0, 20 * bs, 2);
	err = mapfs_op_link(fs, f, MAPFS_ROOT_INO, "hard", &ip);
	if (err < 0)
		die("link %s", "hard", err);
	err = mapfs_op_symlink(fs, &root_cred, MAPFS_ROOT_INO, "sym",
			       "dir1/file2", &ip);
	if (err < 0)
		die("symlink %s", "sym", err);
	memset(longt, 'x', 200);
	longt[200] = 0;
	err = mapfs_op_symlink(fs, &root_cred, MAPFS_ROOT_INO, "longsym",
			       longt, &ip);
	if (err < 0)
		die("symlink %s", "longsym", err);
	mk(fs, MAPFS_ROOT_INO, "fifo", MAPFS_IFIFO | 0644);
	mk(fs, MAPFS_ROOT_INO, "empty", MAPFS_IFREG | 0644);
	f = mk(fs, MAPFS_ROOT_INO, "sparse", MAPFS_IFREG | 0644);
	wr(fs, f, 10ull << 20, bs, 3);
	d2 = mk(fs, MAPFS_ROOT_INO, "dir2", MAPFS_IFDIR | 0755);
	f = mk(fs, d2, "a", MAPFS_IFREG | 0644);
	wr(fs, f, 0, 100, 4);
	la = mk(fs, MAPFS_ROOT_INO, "loopa", MAPFS_IFDIR | 0755);
	mk(fs, la, "loopb", MAPFS_IFDIR | 0755);
	big = mk(fs, MAPFS_ROOT_INO, "bigdir", MAPFS_IFDIR | 0755);
	for (int i = 0; i < 150; i++) {
		char name[64];

		snprintf(name, sizeof(name), "file-with-a-longer-name-%03d",
			 i);
		mk(fs, big, name, MAPFS_IFREG | 0644);
	}
	fs->state = MAPFS_STATE_CLEAN;
	err = mapfs_fs_sync(fs);
	if (err < 0)
		die("sync %s", path, err);
	mapfs_fs_close(fs);
}

/* Inode fields by name: offset and width in struct mapfs_dinode. */
static bool inode_field(const char *name, size_t *off, size_t *width)
{
	static const struct {
		const char *n;
		size_t off, width;
	} f[] = {
		{ "mode", offsetof(struct mapfs_dinode, di_mode), 2 },
		{ "nlink", offsetof(struct mapfs_dinode, di_nlink), 4 },
		{ "uid", offsetof(struct mapfs_dinode, di_uid), 4 },
		{ "size", offsetof(struct mapfs_dinode, di_size), 8 },
		{ "blocks", offsetof(struct mapfs_dinode, di_blocks), 8 },
		{ "flags", offsetof(struct mapfs_dinode, di_flags), 4 },
		{ "gen", offsetof(struct mapfs_dinode, di_gen), 4 },
		{ "orphan_next", offsetof(struct mapfs_dinode,
					  di_orphan_next), 8 },
		{ "xattr", offsetof(struct mapfs_dinode, di_xattr), 8 },
		{ "crc", offsetof(struct mapfs_dinode, di_crc), 4 },
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (!strcmp(name, f[i].n)) {
			*off = f[i].off;
			*width = f[i].width;
			return true;
		}
	}
	if (!strncmp(name, "blk", 3)) {
		uint64_t k = num(name + 3);

		if (k >= MAPFS_NADDR)
			return false;
		*off = offsetof(struct mapfs_dinode, di_blk) + 8 * k;
		*width = 8;
		return true;
	}
	return false;
}

static uint64_t get_le(const uint8_t *p, size_t width)
{
	uint64_t v = 0;

	for (size_t i = 0; i < width; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le(uint8_t *p, size_t width, uint64_t v)
{
	for (size_t i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int cmd_inode(const char *img, int argc, char **argv, bool set)
{
	struct mapfs_fs *fs;
	struct mapfs_dinode *d;
	size_t off, width;
	mapfs_ino_t ino;
	bool fix = true;

	if (argc < (set ? 3 : 2))
		die("%s: need INODE FIELD [VALUE]", "inode", 0);
	if (set && argc > 3 && !strcmp(argv[3], "--no-crc"))
		fix = false;
	fs = open_fs(img);
	ino = resolve(fs, argv[0]);
	d = mapfs_dinode(fs, ino);
	if (!d)
		die("inode %s out of range", argv[0], 0);
	if (!set && !strcmp(argv[1], "offset")) {
		/* the slot's byte offset in the image */
		printf("%" PRIu64 "\n", (uint64_t)((uint8_t *)d - fs->base));
		mapfs_fs_close(fs);
		return 0;
	}
	if (!inode_field(argv[1], &off, &width))
		die("unknown inode field '%s'", argv[1], 0);
	if (!set) {
		printf("%" PRIu64 "\n", get_le((uint8_t *)d + off, width));
		mapfs_fs_close(fs);
		return 0;
	}
	put_le((uint8_t *)d + off, width, num(argv[2]));
	if (fix && strcmp(argv[1], "crc"))
		d->di_crc = htole32(mapfs_inode_crc(fs, ino, d));
	close_fs(fs);
	return 0;
}

static int cmd_info(const char *img, const char *field)
{
	struct mapfs_fs *fs = open_fs(img);
	const struct mapfs_geom *g = &fs->g;
	uint64_t v;

	if (!strcmp(field, "nblocks"))
		v = g->nblocks;
	else if (!strcmp(field, "bpg"))
		v = g->bpg;
	else if (!strcmp(field, "ipg"))
		v = g->ipg;
	else if (!strcmp(field, "ninodes"))
		v = g->ninodes;
	else if (!strcmp(field, "data_off"))
		v = g->data_off;
	else if (!strcmp(field, "bsize"))
		v = g->bsize;
	else if (!strcmp(field, "ngroups"))
		v = g->ngroups;
	else if (!strcmp(field, "jstart"))
		v = g->jstart;
	else if (!strcmp(field, "jblocks"))
		v = g->jblocks;
	else
		die("unknown info field '%s'", field, 0);
	printf("%" PRIu64 "\n", v);
	mapfs_fs_close(fs);
	return 0;
}

static int cmd_sb(const char *img, const char *field, uint64_t v)
{
	struct mapfs_fs *fs = open_fs(img);

	if (!strcmp(field, "free_blocks"))
		fs->free_blocks = v;
	else if (!strcmp(field, "free_inodes"))
		fs->free_inodes = v;
	else if (!strcmp(field, "ndirs"))
		fs->ndirs = v;
	else if (!strcmp(field, "state"))
		fs->state = (uint32_t)v;
	else if (!strcmp(field, "orphan_head"))
		fs->orphan_head = v;
	else
		die("unknown superblock field '%s'", field, 0);
	mapfs_super_store(fs);
	close_fs(fs);
	return 0;
}

static int cmd_cg(const char *img, uint64_t cg, const char *field,
		  uint64_t v)
{
	struct mapfs_fs *fs = open_fs(img);
	struct mapfs_dcg *h;

	if (cg >= fs->g.ngroups || !(h = mapfs_cg_hdr(fs, cg)))
		die("no group %s", "GROUP", 0);
	if (!strcmp(field, "free_blocks")) {
		fs->cg[cg].free_blocks = v;
		mapfs_cg_store(fs, cg);
	} else if (!strcmp(field, "free_inodes")) {
		fs->cg[cg].free_inodes = v;
		mapfs_cg_store(fs, cg);
	} else if (!strcmp(field, "ndirs")) {
		fs->cg[cg].ndirs = v;
		mapfs_cg_store(fs, cg);
	} else if (!strcmp(field, "ihiwater")) {
		h->cg_ihiwater = htole32((uint32_t)v);
		h->cg_crc = htole32(mapfs_cg_hdr_crc(fs, cg, h));
	} else if (!strcmp(field, "crc")) {
		h->cg_crc = htole32((uint32_t)v);
	} else if (!strcmp(field, "ibm_crc0") || !strcmp(field, "bbm_crc0")) {
		if (field[0] == 'i')
			h->cg_ibm_crc[0] = htole32((uint32_t)v);
		else
			h->cg_bbm_crc[0] = htole32((uint32_t)v);
		h->cg_crc = htole32(mapfs_cg_hdr_crc(fs, cg, h));
	} else {
		die("unknown group field '%s'", field, 0);
	}
	close_fs(fs);
	return 0;
}

static int cmd_sbcopy(const char *img, uint64_t cg, const char *field,
		      uint64_t v)
{
	struct mapfs_fs *fs = open_fs(img);
	struct mapfs_dsuper *d;

	if (cg == 0 || cg >= fs->g.ngroups || !mapfs_group_has_sb(cg))
		die("no superblock copy in group %s", "GROUP", 0);
	d = mapfs_block(fs, mapfs_group_start(&fs->g, cg));
	if (strcmp(field, "minfree"))
		die("unknown superblock copy field '%s'", field, 0);
	d->sb_minfree_pct = htole32((uint32_t)v);
	d->sb_crc = htole32(mapfs_crc32c(~0u, d,
					 offsetof(struct mapfs_dsuper, sb_crc)));
	close_fs(fs);
	return 0;
}

static int cmd_bitmap(const char *img, const char *which, uint64_t n,
		      uint64_t v)
{
	struct mapfs_fs *fs = open_fs(img);
	bool ibm = !strcmp(which, "inode");
	uint64_t per = ibm ? fs->g.ipg : fs->g.bpg;
	uint64_t cg = n / per;
	uint32_t bit = (uint32_t)(n % per);
	uint8_t *bm;

	if (!ibm && strcmp(which, "block"))
		die("bitmap: '%s' is not block or inode", which, 0);
	if (cg >= fs->g.ngroups)
		die("bitmap: %s out of range", which, 0);
	bm = ibm ? mapfs_cg_ibm(fs, cg) : mapfs_cg_bbm(fs, cg);
	if (v)
		mapfs_bit_set(bm, bit);
	else
		mapfs_bit_clear(bm, bit);
	mapfs_cg_bitmap_changed(fs, cg, ibm, bit);
	close_fs(fs);
	return 0;
}

/* Find record NAME in directory dir; return it, its chunk and where. */
static struct mapfs_dirent *find_record(struct mapfs_fs *fs, mapfs_ino_t dir,
					const char *name, uint8_t **chunkp,
					mapfs_bno_t *bnop, uint32_t *pagep)
{
	const struct mapfs_geom *g = &fs->g;
	size_t nlen = strlen(name);
	struct mapfs_inode ip;
	int err;

	err = mapfs_inode_load(fs, dir, &ip);
	if (err < 0)
		die("load directory %s", "DIR", err);
	for (uint64_t off = 0; off < ip.size; off += MAPFS_DIRCHUNK) {
		mapfs_bno_t bno;
		uint8_t *chunk;
		uint32_t page = (uint32_t)((off & (g->bsize - 1)) /
					   MAPFS_DIRCHUNK);
		uint32_t pos = 0;

		if (mapfs_bmap(fs, &ip, off >> g->bshift, &bno) < 0 || !bno)
			continue;
		chunk = (uint8_t *)mapfs_block(fs, bno) +
			(size_t)page * MAPFS_DIRCHUNK;
		while (pos + MAPFS_DIRENT_HDR <= MAPFS_DIRCHUNK_USABLE) {
			struct mapfs_dirent *de = (void *)(chunk + pos);
			uint16_t rl = le16toh(de->de_reclen);

			if (de->de_ino && de->de_namelen == nlen &&
			    !memcmp(de->de_name, name, nlen)) {
				*chunkp = chunk;
				*bnop = bno;
				*pagep = page;
				return de;
			}
			if (rl < MAPFS_DIRENT_HDR)
				break;
			pos += rl;
		}
	}
	die("no entry '%s'", name, 0);
	return NULL;
}

static int cmd_dirent(const char *img, int argc, char **argv)
{
	struct mapfs_fs *fs;
	struct mapfs_dirent *de;
	struct mapfs_dirtail *t;
	mapfs_ino_t dir;
	mapfs_bno_t bno;
	uint32_t page;
	uint8_t *chunk;
	const char *f;

	if (argc < 4)
		die("%s: need DIR NAME FIELD VALUE", "dirent", 0);
	fs = open_fs(img);
	dir = resolve(fs, argv[0]);
	de = find_record(fs, dir, argv[1], &chunk, &bno, &page);
	f = argv[2];
	if (!strcmp(f, "ino")) {
		de->de_ino = htole64(num(argv[3]));
	} else if (!strcmp(f, "type")) {
		de->de_type = (uint8_t)num(argv[3]);
	} else if (!strcmp(f, "reclen")) {
		de->de_reclen = htole16((uint16_t)num(argv[3]));
	} else if (!strcmp(f, "namelen")) {
		de->de_namelen = (uint8_t)num(argv[3]);
	} else if (!strcmp(f, "name")) {
		size_t n = strlen(argv[3]);

		if (n != de->de_namelen)
			die("new name '%s' must have the old length",
			    argv[3], 0);
		memcpy(de->de_name, argv[3], n);
	} else {
		die("unknown dirent field '%s'", f, 0);
	}
	if (!(argc > 4 && !strcmp(argv[4], "--no-crc"))) {
		t = (struct mapfs_dirtail *)(chunk + MAPFS_DIRCHUNK_USABLE);
		t->dt_crc = htole32(mapfs_dir_chunk_crc(fs, dir, bno, page,
							chunk));
	}
	close_fs(fs);
	return 0;
}

static int cmd_unlink_entry(const char *img, const char *dirp,
			    const char *name)
{
	struct mapfs_fs *fs = open_fs(img);
	struct mapfs_inode ip;
	mapfs_ino_t dir = resolve(fs, dirp), ino;
	int err;

	err = mapfs_inode_load(fs, dir, &ip);
	if (err == 0)
		err = mapfs_dir_remove(fs, &ip, name, (uint32_t)strlen(name),
				       &ino);
	if (err < 0)
		die("remove entry '%s'", name, err);
	close_fs(fs);
	return 0;
}

static int cmd_add_entry(const char *img, const char *dirp, const char *name,
			 const char *inop, const char *type)
{
	struct mapfs_fs *fs = open_fs(img);
	struct mapfs_inode ip;
	mapfs_ino_t dir = resolve(fs, dirp), ino = resolve(fs, inop);
	int err;

	err = mapfs_inode_load(fs, dir, &ip);
	if (err == 0)
		err = mapfs_dir_add(fs, &ip, name, (uint32_t)strlen(name),
				    ino, (uint32_t)num(type), true);
	if (err < 0)
		die("add entry '%s'", name, err);
	close_fs(fs);
	return 0;
}

static int cmd_ind(const char *img, char **argv)
{
	struct mapfs_fs *fs = open_fs(img);
	mapfs_ino_t ino = resolve(fs, argv[0]);
	mapfs_bno_t bno = num(argv[1]);
	uint64_t slot = num(argv[2]);
	uint32_t page = (uint32_t)(slot / MAPFS_PTRS_PER_PAGE);
	uint8_t *blk = mapfs_block(fs, bno);
	uint8_t *pg;
	struct mapfs_indtail *t;

	if (!blk || page >= fs->g.pages_per_block)
		die("ind: block %s out of range", argv[1], 0);
	pg = blk + (size_t)page * MAPFS_PAGE_SIZE;
	put_le(pg + 8 * (slot % MAPFS_PTRS_PER_PAGE), 8, num(argv[3]));
	t = (struct mapfs_indtail *)(pg + MAPFS_PTRS_PER_PAGE * 8);
	t->it_crc = htole32(mapfs_ind_crc(fs, ino, bno, page));
	close_fs(fs);
	return 0;
}

static int cmd_getind(const char *img, char **argv)
{
	struct mapfs_fs *fs = open_fs(img);
	uint64_t slot = num(argv[1]);
	uint32_t page = (uint32_t)(slot / MAPFS_PTRS_PER_PAGE);
	uint8_t *blk = mapfs_block(fs, num(argv[0]));

	if (!blk || page >= fs->g.pages_per_block)
		die("getind: block %s out of range", argv[0], 0);
	printf("%" PRIu64 "\n",
	       get_le(blk + (size_t)page * MAPFS_PAGE_SIZE +
			      8 * (slot % MAPFS_PTRS_PER_PAGE),
		      8));
	mapfs_fs_close(fs);
	return 0;
}

static int cmd_rm(const char *img, const char *dirp, const char *name)
{
	struct mapfs_fs *fs = open_fs(img);
	int err = mapfs_op_unlink(fs, resolve(fs, dirp), name);

	if (err < 0)
		die("unlink '%s'", name, err);
	err = mapfs_fs_sync(fs);
	if (err < 0)
		die("sync %s", img, err);
	mapfs_fs_close(fs);
	return 0;
}

static int cmd_setxattr(const char *img, const char *ip, const char *name,
			const char *value)
{
	struct mapfs_fs *fs = open_fs(img);
	size_t len = strlen(value);
	char *buf = NULL;
	int err;

	if (value[0] == '@') {
		len = num(value + 1);
		buf = malloc(len + 1);
		if (!buf)
			die("%s", "out of memory", 0);
		for (size_t i = 0; i < len; i++)
			buf[i] = (char)('a' + i % 26);
		value = buf;
	}
	err = mapfs_op_setxattr(fs, resolve(fs, ip), name, value, len, 0,
				true);
	if (err < 0)
		die("setxattr '%s'", name, err);
	free(buf);
	err = mapfs_fs_sync(fs);
	if (err < 0)
		die("sync %s", img, err);
	mapfs_fs_close(fs);
	return 0;
}

static int cmd_fallocate(const char *img, const char *ip, uint64_t mode,
			 uint64_t off, uint64_t len)
{
	struct mapfs_fs *fs = open_fs(img);
	int err = mapfs_op_fallocate(fs, resolve(fs, ip), (int)mode, off, len,
				     true);

	if (err < 0)
		die("fallocate %s", ip, err);
	err = mapfs_fs_sync(fs);
	if (err < 0)
		die("sync %s", img, err);
	mapfs_fs_close(fs);
	return 0;
}

static int cmd_byte(const char *img, uint64_t off, uint64_t v, bool xor)
{
	uint8_t b = (uint8_t)v;
	int fd = open(img, O_RDWR);

	if (fd < 0)
		die("open %s", img, errno);
	if (xor) {
		uint8_t old;

		if (pread(fd, &old, 1, (off_t)off) != 1)
			die("read %s", img, errno);
		b ^= old;
	}
	if (pwrite(fd, &b, 1, (off_t)off) != 1)
		die("write %s", img, errno);
	if (fsync(fd) < 0 || close(fd) < 0)
		die("close %s", img, errno);
	return 0;
}

int main(int argc, char **argv)
{
	const char *img, *cmd;
	struct mapfs_fs *fs;

	if (argc < 3) {
		fprintf(stderr, "usage: %s IMAGE COMMAND ARGS... (see the "
			"source)\n", prog);
		return 2;
	}
	img = argv[1];
	cmd = argv[2];
	argc -= 3;
	argv += 3;
	if (!strcmp(cmd, "populate")) {
		populate(img);
		return 0;
	}
	if (!strcmp(cmd, "lookup") && argc == 1) {
		fs = open_fs(img);
		printf("%" PRIu64 "\n", resolve(fs, argv[0]));
		mapfs_fs_close(fs);
		return 0;
	}
	if (!strcmp(cmd, "info") && argc == 1)
		return cmd_info(img, argv[0]);
	if (!strcmp(cmd, "get"))
		return cmd_inode(img, argc, argv, false);
	if (!strcmp(cmd, "inode"))
		return cmd_inode(img, argc, argv, true);
	if (!strcmp(cmd, "sb") && argc == 2)
		return cmd_sb(img, argv[0], num(argv[1]));
	if (!strcmp(cmd, "cg") && argc == 3)
		return cmd_cg(img, num(argv[0]), argv[1], num(argv[2]));
	if (!strcmp(cmd, "sbcopy") && argc == 3)
		return cmd_sbcopy(img, num(argv[0]), argv[1], num(argv[2]));
	if (!strcmp(cmd, "bitmap") && argc == 3)
		return cmd_bitmap(img, argv[0], num(argv[1]), num(argv[2]));
	if (!strcmp(cmd, "dirent"))
		return cmd_dirent(img, argc, argv);
	if (!strcmp(cmd, "ind") && argc == 4)
		return cmd_ind(img, argv);
	if (!strcmp(cmd, "getind") && argc == 2)
		return cmd_getind(img, argv);
	if (!strcmp(cmd, "rm") && argc == 2)
		return cmd_rm(img, argv[0], argv[1]);
	if (!strcmp(cmd, "unlink-entry") && argc == 2)
		return cmd_unlink_entry(img, argv[0], argv[1]);
	if (!strcmp(cmd, "add-entry") && argc == 4)
		return cmd_add_entry(img, argv[0], argv[1], argv[2], argv[3]);
	if (!strcmp(cmd, "setxattr") && argc == 3)
		return cmd_setxattr(img, argv[0], argv[1], argv[2]);
	if (!strcmp(cmd, "fallocate") && argc == 4)
		return cmd_fallocate(img, argv[0], num(argv[1]), num(argv[2]),
				     num(argv[3]));
	if (!strcmp(cmd, "byte") && argc == 2)
		return cmd_byte(img, num(argv[0]), num(argv[1]), false);
	if (!strcmp(cmd, "xorbyte") && argc == 2)
		return cmd_byte(img, num(argv[0]), num(argv[1]), true);
	fprintf(stderr, "%s: unknown command or wrong arguments: %s\n", prog,
		cmd);
	return 2;
}
