/* SPDX-License-Identifier: MIT */
/*
 * pass2.c - Pass 2: directory entries.
 *
 * For every directory pass 1 could load, each 4 KiB chunk below its size
 * that is mapped goes through mapfs_dir_check_chunk (records tile the
 * chunk, lengths, names, tail, CRC; chunk 0 starts with '.' and '..').
 * The live records of a good chunk are then read with mapfs_dir_iterate
 * and each is checked against pass 1's table:
 *  - '.' names the directory itself; '..' is recorded for pass 3;
 *  - other entries name a valid, in-use inode whose mode matches the
 *    entry's type byte;
 *  - a directory is named by at most one entry (besides its own '.' and
 *    its children's '..'); the root by none.
 * It counts names per inode (pass 4) and subdirectories per directory,
 * and records the parent of every directory (pass 3).
 */
#include "fsck.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One mapped data block of a directory, below its size. */
struct dblk {
	uint64_t lbn;
	mapfs_bno_t bno;
};

struct dblks {
	struct dblk *v;
	size_t n, cap;
	uint64_t nlbn;
	bool oom;
};

static int collect_cb(void *arg, const struct mapfs_blkvisit *v)
{
	struct dblks *b = arg;

	/* Pass 1 reported bad pointers, blocks past the size and blocks
	 * claimed twice; here only readable data blocks matter. */
	if (v->level != 0 || !v->valid || v->bno == 0 || v->lbn >= b->nlbn)
		return 0;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		struct dblk *n = realloc(b->v, cap * sizeof(*n));

		if (!n) {
			b->oom = true;
			return -ENOMEM;
		}
		b->v = n;
		b->cap = cap;
	}
	b->v[b->n].lbn = v->lbn;
	b->v[b->n].bno = v->bno;
	b->n++;
	return 0;
}

static int cmp_dblk(const void *a, const void *b)
{
	const struct dblk *x = a, *y = b;

	return x->lbn < y->lbn ? -1 : x->lbn > y->lbn;
}

struct chunk_scan {
	struct fsck_ctx *c;
	mapfs_ino_t dir;
	struct fsck_ino *de;	/* the directory's table entry */
	uint64_t chunk_idx;
	uint64_t chunk_end;	/* directory offset just past the chunk */
};

static bool is_dot(const char *name, uint32_t len)
{
	return len == 1 && name[0] == '.';
}

static bool is_dotdot(const char *name, uint32_t len)
{
	return len == 2 && name[0] == '.' && name[1] == '.';
}

static int entry_cb(void *arg, const char *name, uint32_t namelen,
		    mapfs_ino_t ino, uint32_t type, uint64_t next_off)
{
	struct chunk_scan *s = arg;
	struct fsck_ctx *c = s->c;
	const struct mapfs_geom *g = &c->fs->g;
	struct fsck_ino *e;
	char nb[300];

	/* The record after this chunk's last: this chunk is done. */
	if (next_off > s->chunk_end)
		return 1;
	fsck_name(name, namelen, nb, sizeof(nb));

	if (is_dot(name, namelen) || is_dotdot(name, namelen)) {
		bool dot = namelen == 1;
		uint32_t flag = dot ? FI_DOT : FI_DOTDOT;

		if (s->chunk_idx != 0 || (s->de->flags & flag)) {
			fsck_problem(c, P2_DOT_DUP,
				     "directory inode %llu, chunk %llu: "
				     "extra '%s' entry",
				     (unsigned long long)s->dir,
				     (unsigned long long)s->chunk_idx, nb);
			return 0;
		}
		s->de->flags |= flag;
		if (dot) {
			if (ino != s->dir)
				fsck_problem(c, P2_DOT_WRONG,
					     "directory inode %llu: '.' names "
					     "inode %llu",
					     (unsigned long long)s->dir,
					     (unsigned long long)ino);
		} else {
			s->de->dotdot = ino;
		}
		return 0;
	}

	if (!mapfs_ino_valid(g, ino)) {
		fsck_problem(c, P2_DIRENT_BAD_INO,
			     "directory inode %llu, chunk %llu: entry '%s' "
			     "names invalid inode %llu",
			     (unsigned long long)s->dir,
			     (unsigned long long)s->chunk_idx, nb,
			     (unsigned long long)ino);
		return 0;
	}
	e = fsck_ino_get(c, ino);
	if (!e || e->mode == 0) {
		fsck_problem(c, P2_DIRENT_FREE_INODE,
			     "directory inode %llu, chunk %llu: entry '%s' "
			     "names free inode %llu",
			     (unsigned long long)s->dir,
			     (unsigned long long)s->chunk_idx, nb,
			     (unsigned long long)ino);
		return 0;
	}
	if (e->refs < UINT32_MAX)
		e->refs++;
	if (s->dir == MAPFS_ROOT_INO && namelen == 10 &&
	    !memcmp(name, "lost+found", 10))
		c->lost_found = ino;
	if (!(e->flags & FI_BAD) && type != mapfs_mode_to_dt(e->mode))
		fsck_problem(c, P2_DIRENT_TYPE,
			     "directory inode %llu, chunk %llu: entry '%s' "
			     "type %u but inode %llu is a %s",
			     (unsigned long long)s->dir,
			     (unsigned long long)s->chunk_idx, nb, type,
			     (unsigned long long)ino, fsck_type_name(e->mode));
	if ((e->mode & MAPFS_IFMT) != MAPFS_IFDIR)
		return 0;
	if (s->de->subdirs < UINT32_MAX)
		s->de->subdirs++;
	if (e->parent) {
		fsck_problem(c, P2_DIR_MULTI_LINK,
			     "directory inode %llu, chunk %llu: entry '%s' "
			     "names directory inode %llu, already named in "
			     "directory inode %llu",
			     (unsigned long long)s->dir,
			     (unsigned long long)s->chunk_idx, nb,
			     (unsigned long long)ino,
			     (unsigned long long)e->parent);
		return 0;
	}
	e->parent = s->dir;
	return 0;
}

/* If chunk fails only its checksum, say so and return true. */
static bool chunk_crc_only(struct fsck_ctx *c, mapfs_ino_t dir,
			   mapfs_bno_t bno, uint32_t page, uint64_t idx,
			   const uint8_t *chunk, char *why, size_t whylen)
{
	uint8_t copy[MAPFS_DIRCHUNK] __attribute__((aligned(8)));
	struct mapfs_dirtail *t =
		(struct mapfs_dirtail *)(copy + MAPFS_DIRCHUNK_USABLE);
	uint32_t crc = mapfs_dir_chunk_crc(c->fs, dir, bno, page, chunk);

	memcpy(copy, chunk, sizeof(copy));
	if (le32toh(t->dt_crc) == crc)
		return false;
	t->dt_crc = htole32(crc);
	if (mapfs_dir_check_chunk(c->fs, dir, bno, page, idx, copy, why,
				  whylen) != 0)
		return false;
	fsck_problem(c, P2_CHUNK_CRC,
		     "directory inode %llu, chunk %llu (block %llu): passes "
		     "checks but its checksum is wrong; entries not read",
		     (unsigned long long)dir, (unsigned long long)idx,
		     (unsigned long long)bno);
	return true;
}

static int check_dir(struct fsck_ctx *c, mapfs_ino_t dir, struct fsck_ino *de)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	struct mapfs_inode ip;
	struct dblks b;
	int err;

	err = mapfs_inode_load(fs, dir, &ip);
	if (err < 0)
		return 0;	/* pass 1 reported it */
	memset(&b, 0, sizeof(b));
	b.nlbn = (ip.size >> g->bshift) + ((ip.size & (g->bsize - 1)) ? 1 : 0);
	err = mapfs_blockmap_walk(fs, &ip, collect_cb, &b);
	if (b.oom) {
		free(b.v);
		return -ENOMEM;
	}
	qsort(b.v, b.n, sizeof(*b.v), cmp_dblk);

	for (size_t i = 0; i < b.n; i++) {
		const uint8_t *blk = mapfs_block(fs, b.v[i].bno);

		if (!blk)
			continue;
		if (i > 0 && b.v[i].lbn == b.v[i - 1].lbn)
			continue;
		for (uint32_t page = 0; page < g->pages_per_block; page++) {
			uint64_t off = (b.v[i].lbn << g->bshift) +
				       (uint64_t)page * MAPFS_DIRCHUNK;
			const uint8_t *chunk = blk + page * MAPFS_DIRCHUNK;
			struct chunk_scan s;
			char why[256] = "";

			if (off >= ip.size || ip.size - off < MAPFS_DIRCHUNK)
				break;
			s.c = c;
			s.dir = dir;
			s.de = de;
			s.chunk_idx = off / MAPFS_DIRCHUNK;
			s.chunk_end = off + MAPFS_DIRCHUNK;
			if (mapfs_dir_check_chunk(fs, dir, b.v[i].bno, page,
						  s.chunk_idx, chunk, why,
						  sizeof(why)) != 0) {
				char why2[256] = "";

				de->flags |= FI_CHUNK_BAD;
				if (s.chunk_idx == 0)
					de->flags |= FI_CHUNK0_BAD;
				if (!chunk_crc_only(c, dir, b.v[i].bno, page,
						    s.chunk_idx, chunk, why2,
						    sizeof(why2)))
					fsck_problem(c, P2_CHUNK_BAD,
						     "directory inode %llu, "
						     "chunk %llu (block %llu):"
						     " %s",
						     (unsigned long long)dir,
						     (unsigned long long)
							     s.chunk_idx,
						     (unsigned long long)
							     b.v[i].bno, why);
				continue;
			}
			err = mapfs_dir_iterate(fs, &ip, off, entry_cb, &s);
			/* A later chunk failing is reported when its turn
			 * comes; only an error inside this chunk (which
			 * passed its check) is news. */
			if (err < 0 && err != -EUCLEAN)
				fsck_problem(c, P2_DIR_ITER_ERR,
					     "directory inode %llu, chunk "
					     "%llu: cannot read entries: %s",
					     (unsigned long long)dir,
					     (unsigned long long)s.chunk_idx,
					     strerror(-err));
		}
	}
	if (!(de->flags & (FI_DOT | FI_CHUNK0_BAD)) &&
	    (b.n == 0 || b.v[0].lbn != 0))
		fsck_problem(c, P2_NO_DOT,
			     "directory inode %llu has no chunk 0 with '.' "
			     "and '..'",
			     (unsigned long long)dir);
	free(b.v);
	return 0;
}

int fsck_pass2(struct fsck_ctx *c)
{
	const struct mapfs_geom *g = &c->fs->g;
	struct fsck_ino *root = fsck_ino_get(c, MAPFS_ROOT_INO);
	int err;

	/* The root is its own parent: any entry naming it is one too many. */
	if (root && (root->mode & MAPFS_IFMT) == MAPFS_IFDIR)
		root->parent = MAPFS_ROOT_INO;
	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		struct fsck_group *grp = &c->grp[cg];

		for (uint32_t slot = 0; grp->ino && slot < grp->hiwater;
		     slot++) {
			struct fsck_ino *e = &grp->ino[slot];

			if (!(e->flags & FI_LOADED) ||
			    (e->mode & MAPFS_IFMT) != MAPFS_IFDIR)
				continue;
			err = check_dir(c, cg * g->ipg + slot, e);
			if (err < 0)
				return err;
		}
	}
	return 0;
}
