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
#include <stdio.h>
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
	struct dblk *n;

	/* Pass 1 reported bad pointers, blocks past the size and blocks
	 * claimed twice; here only readable data blocks matter. */
	if (v->level != 0 || !v->valid || v->bno == 0 || v->lbn >= b->nlbn)
		return 0;
	n = fsck_grow(b->v, b->n, &b->cap, sizeof(*n), 16);
	if (!n) {
		b->oom = true;
		return -ENOMEM;
	}
	b->v = n;
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
	uint8_t *buf;		/* copy of the chunk being read */
	bool changed;		/* buf differs from the image */
};

static bool is_dot(const char *name, uint32_t len)
{
	return len == 1 && name[0] == '.';
}

static bool is_dotdot(const char *name, uint32_t len)
{
	return len == 2 && name[0] == '.' && name[1] == '.';
}

/* Remove the record at pos from the copy (a repair the caller asked
 * fsck_problem about). */
static void remove_rec(struct chunk_scan *s, uint32_t pos)
{
	if (mapfs_dir_chunk_remove(s->buf, s->chunk_idx, pos) == 0)
		s->changed = true;
}

static int entry_cb(void *arg, uint32_t pos, const struct mapfs_dirrec *r)
{
	struct chunk_scan *s = arg;
	struct fsck_ctx *c = s->c;
	const struct mapfs_geom *g = &c->fs->g;
	mapfs_ino_t ino = r->ino;
	uint32_t type = r->type;
	struct fsck_ino *e;
	bool valid;
	char nb[300];

	fsck_name(r->name, r->namelen, nb, sizeof(nb));

	/* A checked chunk has '.' and '..' first in chunk 0 only. */
	if (is_dot(r->name, r->namelen) || is_dotdot(r->name, r->namelen)) {
		bool dot = r->namelen == 1;
		uint32_t flag = dot ? FI_DOT : FI_DOTDOT;

		if (s->chunk_idx != 0 || (s->de->flags & flag)) {
			if (fsck_problem(c, P2_DOT_DUP,
					 "directory inode %llu, chunk %llu: "
					 "extra '%s' entry",
					 (unsigned long long)s->dir,
					 (unsigned long long)s->chunk_idx, nb))
				remove_rec(s, pos);
			return 0;
		}
		s->de->flags |= flag;
		if (!dot)
			s->de->dotdot = ino;
		return 0;
	}

	valid = mapfs_ino_valid(g, ino);
	e = valid ? fsck_ino_get(c, ino) : NULL;
	if (!e || e->mode == 0) {
		if (fsck_problem(c, valid ? P2_DIRENT_FREE_INODE :
					    P2_DIRENT_BAD_INO,
				 "directory inode %llu, chunk %llu: entry "
				 "'%s' names %s inode %llu",
				 (unsigned long long)s->dir,
				 (unsigned long long)s->chunk_idx, nb,
				 valid ? "free" : "invalid",
				 (unsigned long long)ino))
			remove_rec(s, pos);
		return 0;
	}
	if (!(e->flags & FI_BAD) && type != mapfs_mode_to_dt(e->mode) &&
	    fsck_problem(c, P2_DIRENT_TYPE,
			 "directory inode %llu, chunk %llu: entry '%s' "
			 "type %u but inode %llu is a %s",
			 (unsigned long long)s->dir,
			 (unsigned long long)s->chunk_idx, nb, type,
			 (unsigned long long)ino, fsck_type_name(e->mode))) {
		mapfs_dir_chunk_set(s->buf, pos, ino,
				    mapfs_mode_to_dt(e->mode));
		s->changed = true;
	}
	if ((e->mode & MAPFS_IFMT) == MAPFS_IFDIR && e->parent) {
		if (fsck_problem(c, P2_DIR_MULTI_LINK,
				 "directory inode %llu, chunk %llu: entry '%s' "
				 "names directory inode %llu, already named "
				 "in directory inode %llu",
				 (unsigned long long)s->dir,
				 (unsigned long long)s->chunk_idx, nb,
				 (unsigned long long)ino,
				 (unsigned long long)e->parent)) {
			remove_rec(s, pos);
			return 0;
		}
	}
	s->de->flags |= FI_HAS_ENTRIES;
	if (e->refs < UINT32_MAX)
		e->refs++;
	if (s->dir == MAPFS_ROOT_INO && r->namelen == 10 &&
	    !memcmp(r->name, "lost+found", 10))
		c->lost_found = ino;
	if ((e->mode & MAPFS_IFMT) != MAPFS_IFDIR)
		return 0;
	if (s->de->subdirs < UINT32_MAX)
		s->de->subdirs++;
	if (!e->parent)
		e->parent = s->dir;
	return 0;
}

/*
 * Make the copy of a chunk that failed mapfs_dir_check_chunk valid, one
 * problem at a time: a stale checksum (P2_CHUNK_CRC), a wrong '.' or a
 * wrong '..' type (P2_DOT_WRONG), a '.' or '..' out of place
 * (P2_DOT_DUP), an entry naming an impossible inode (P2_DIRENT_BAD_INO)
 * or with an unknown type byte (P2_DIRENT_TYPE, or P2_DIRENT_FREE_INODE
 * when it names a free inode) are repaired in place; anything else is
 * P2_CHUNK_BAD: the records before the bad one are kept, the rest of the
 * chunk is dropped. The copy is always repaired (so -n reads what -y
 * would keep); whether it is written back is the caller's business.
 * Returns false if a problem was left unrepaired.
 */
static bool repair_chunk(struct chunk_scan *s, mapfs_bno_t bno,
			 uint32_t page, const char *why0)
{
	struct fsck_ctx *c = s->c;
	struct mapfs_fs *fs = c->fs;
	unsigned long long dir = s->dir, ci = s->chunk_idx;
	uint8_t *buf = s->buf;
	char why[256];
	uint32_t off;
	bool ok = true;

	snprintf(why, sizeof(why), "%s", why0);
	for (int round = 0; round < 300; round++) {
		struct mapfs_dirrec r;
		int kind;
		char nb[300];

		if (mapfs_dir_chunk_first_bad(fs, s->dir, s->chunk_idx, buf,
					      &off, &kind, why, sizeof(why)) ==
		    0) {
			/* Only the tail is wrong. */
			if (mapfs_dir_check_chunk(fs, s->dir, bno, page,
						  s->chunk_idx, buf, why,
						  sizeof(why)) == 0)
				return ok;
			if (mapfs_dirchunk_magic(buf) == MAPFS_DIRTAIL_MAGIC)
				ok &= fsck_problem(c, P2_CHUNK_CRC,
						   "directory inode %llu, "
						   "chunk %llu (block %llu): "
						   "passes checks but its "
						   "checksum is wrong",
						   dir, ci,
						   (unsigned long long)bno);
			else
				ok &= fsck_problem(c, P2_CHUNK_BAD,
						   "directory inode %llu, "
						   "chunk %llu (block %llu): "
						   "%s", dir, ci,
						   (unsigned long long)bno,
						   why);
			mapfs_dir_chunk_seal(fs, s->dir, bno, page, buf);
			s->changed = true;
			return ok;
		}
		s->changed = true;
		if (mapfs_dir_chunk_record(buf, off, &r) < 0)
			kind = MAPFS_DIRBAD_OTHER;
		if (kind != MAPFS_DIRBAD_OTHER)
			fsck_name(r.name, r.namelen, nb, sizeof(nb));
		switch (kind) {
		case MAPFS_DIRBAD_DOT:
			ok &= fsck_problem(c, P2_DOT_WRONG,
					   "directory inode %llu: %s", dir,
					   why);
			mapfs_dir_chunk_set(buf, off,
					    off == 0 ? s->dir : r.ino,
					    MAPFS_DT_DIR);
			if (off == 0 || mapfs_ino_valid(&fs->g, r.ino))
				break;
			/* '..' names no inode: the root for now; pass 3
			 * points it at the right parent. */
			mapfs_dir_chunk_set(buf, off, MAPFS_ROOT_INO,
					    MAPFS_DT_DIR);
			break;
		case MAPFS_DIRBAD_DOT_PLACE:
			ok &= fsck_problem(c, P2_DOT_DUP,
					   "directory inode %llu, chunk %llu: "
					   "extra '%s' entry", dir, ci, nb);
			if (mapfs_dir_chunk_remove(buf, s->chunk_idx, off) < 0)
				goto salvage;
			break;
		case MAPFS_DIRBAD_INO:
			ok &= fsck_problem(c, P2_DIRENT_BAD_INO,
					   "directory inode %llu, chunk %llu: "
					   "entry '%s' names invalid inode "
					   "%llu", dir, ci, nb,
					   (unsigned long long)r.ino);
			if (mapfs_dir_chunk_remove(buf, s->chunk_idx, off) < 0)
				goto salvage;
			break;
		case MAPFS_DIRBAD_TYPE: {
			struct fsck_ino *e = fsck_ino_get(c, r.ino);

			if (e && e->mode && !(e->flags & FI_BAD)) {
				ok &= fsck_problem(c, P2_DIRENT_TYPE,
						   "directory inode %llu, "
						   "chunk %llu: entry '%s' "
						   "type %u but inode %llu is "
						   "a %s", dir, ci, nb, r.type,
						   (unsigned long long)r.ino,
						   fsck_type_name(e->mode));
				mapfs_dir_chunk_set(buf, off, r.ino,
						    mapfs_mode_to_dt(e->mode));
				break;
			}
			ok &= fsck_problem(c, P2_DIRENT_FREE_INODE,
					   "directory inode %llu, chunk %llu: "
					   "entry '%s' names free inode %llu",
					   dir, ci, nb,
					   (unsigned long long)r.ino);
			if (mapfs_dir_chunk_remove(buf, s->chunk_idx, off) < 0)
				goto salvage;
			break;
		}
		default:
			ok &= fsck_problem(c, P2_CHUNK_BAD,
					   "directory inode %llu, chunk %llu "
					   "(block %llu): %s", dir, ci,
					   (unsigned long long)bno, why);
			goto salvage;
		}
		mapfs_dir_chunk_seal(fs, s->dir, bno, page, buf);
	}
salvage:
	off = mapfs_dir_chunk_salvage(fs, s->dir, s->chunk_idx,
				      MAPFS_ROOT_INO, buf);
	if (off == 0)
		fsck_note(c, "chunk reinitialized%s", s->chunk_idx ? "" :
			  " with '.' and '..'");
	else
		fsck_note(c, "records from offset %u on dropped", off);
	mapfs_dir_chunk_seal(fs, s->dir, bno, page, buf);
	return ok;
}

/* One mapped chunk: check it, repair the copy, read its entries, write
 * the copy back if repairing. */
static void scan_chunk(struct fsck_ctx *c, mapfs_ino_t dir,
		       struct fsck_ino *de, mapfs_bno_t bno, uint32_t page,
		       uint64_t idx, uint8_t *chunk)
{
	uint8_t buf[MAPFS_DIRCHUNK] __attribute__((aligned(8)));
	struct chunk_scan s;
	char why[256] = "";
	bool ok = true;

	memcpy(buf, chunk, sizeof(buf));
	s.c = c;
	s.dir = dir;
	s.de = de;
	s.chunk_idx = idx;
	s.buf = buf;
	s.changed = false;
	if (mapfs_dir_check_chunk(c->fs, dir, bno, page, idx, buf, why,
				  sizeof(why)) != 0)
		ok = repair_chunk(&s, bno, page, why);
	if (!ok) {
		/* Left as it is: its entries cannot be trusted, so the
		 * counts of what it names are unknown. */
		de->flags |= FI_CHUNK_BAD;
		if (idx == 0)
			de->flags |= FI_CHUNK0_BAD;
		return;
	}
	(void)mapfs_dir_chunk_iterate(buf, entry_cb, &s);
	if (!s.changed)
		return;
	mapfs_dir_chunk_seal(c->fs, dir, bno, page, buf);
	if (fsck_writing(c))
		memcpy(chunk, buf, sizeof(buf));
}

/* Give a directory the chunks it lacks below its size (P1_DIR_HOLE) and
 * a chunk 0 (P2_NO_DOT): fresh blocks of empty chunks. */
static void map_holes(struct fsck_ctx *c, struct mapfs_inode *ip,
		      uint64_t nlbn, bool from0)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	uint64_t blocks = ip->blocks;
	int err;

	for (uint64_t lbn = from0 ? 0 : 1; lbn < nlbn; lbn++) {
		mapfs_bno_t bno;
		uint8_t *blk;

		if (mapfs_bmap(fs, ip, lbn, &bno) < 0 || bno)
			continue;
		fsck_prepare(c);
		err = mapfs_bmap_alloc(fs, ip, lbn, true, false, &bno);
		if (err == -ENOSPC && fsck_rebuild_early(c))
			err = mapfs_bmap_alloc(fs, ip, lbn, true, false, &bno);
		if (err < 0) {
			fsck_repair_failed(c, -ENOSPC, "mapping a chunk");
			break;
		}
		blk = mapfs_block(fs, bno);
		for (uint32_t p = 0; p < g->pages_per_block; p++) {
			uint64_t idx = (lbn << g->bshift) / MAPFS_DIRCHUNK + p;
			uint8_t *chunk = blk + (size_t)p * MAPFS_DIRCHUNK;

			mapfs_dir_chunk_init(chunk, ip->ino, idx,
					     MAPFS_ROOT_INO);
			mapfs_dir_chunk_seal(fs, ip->ino, bno, p, chunk);
		}
		if (!from0)
			continue;
		from0 = false;
		lbn = nlbn;	/* chunk 0 only */
	}
	if (ip->size < MAPFS_DIRCHUNK)
		ip->size = MAPFS_DIRCHUNK;
	mapfs_inode_store(fs, ip);
	if (ip->blocks != blocks)
		fsck_claim_map(c, ip);
}

static int collect(struct fsck_ctx *c, const struct mapfs_inode *ip,
		   struct dblks *b)
{
	const struct mapfs_geom *g = &c->fs->g;

	free(b->v);
	memset(b, 0, sizeof(*b));
	b->nlbn = (ip->size >> g->bshift) +
		  ((ip->size & (g->bsize - 1)) ? 1 : 0);
	(void)mapfs_blockmap_walk(c->fs, ip, collect_cb, b);
	if (b->oom)
		return -ENOMEM;
	if (b->n)
		qsort(b->v, b->n, sizeof(*b->v), cmp_dblk);
	return 0;
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
	if (collect(c, &ip, &b) < 0)
		goto oom;
	if (fsck_writing(c) && (de->flags & FI_FILL_HOLES)) {
		map_holes(c, &ip, b.nlbn, false);
		if (collect(c, &ip, &b) < 0)
			goto oom;
	}
	if ((b.n == 0 || b.v[0].lbn != 0) &&
	    fsck_problem(c, P2_NO_DOT,
			 "directory inode %llu has no chunk 0 with '.' and "
			 "'..'", (unsigned long long)dir)) {
		map_holes(c, &ip, 1, true);
		if (collect(c, &ip, &b) < 0)
			goto oom;
	}

	for (size_t i = 0; i < b.n; i++) {
		uint8_t *blk = mapfs_block(fs, b.v[i].bno);

		if (!blk)
			continue;
		if (i > 0 && b.v[i].lbn == b.v[i - 1].lbn)
			continue;
		for (uint32_t page = 0; page < g->pages_per_block; page++) {
			uint64_t off = (b.v[i].lbn << g->bshift) +
				       (uint64_t)page * MAPFS_DIRCHUNK;

			if (off >= ip.size || ip.size - off < MAPFS_DIRCHUNK)
				break;
			scan_chunk(c, dir, de, b.v[i].bno, page,
				   off / MAPFS_DIRCHUNK,
				   blk + (size_t)page * MAPFS_DIRCHUNK);
		}
	}
	free(b.v);
	return 0;
oom:
	free(b.v);
	return -ENOMEM;
}

int fsck_pass2(struct fsck_ctx *c)
{
	const struct mapfs_geom *g = &c->fs->g;
	struct fsck_ino *root;
	int err;

	/* Pass 1 and 1b decided what is in use: allocation is safe now. */
	fsck_prepare(c);
	root = fsck_ino_get(c, MAPFS_ROOT_INO);
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
