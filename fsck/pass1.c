/* SPDX-License-Identifier: MIT */
/*
 * pass1.c - Pass 1: inodes, blocks and sizes; Pass 1b: owners of blocks
 * claimed twice.
 *
 * For every initialized group, every inode slot below the group's
 * high-water mark (cg_ihiwater: slots at or past it were never used and
 * are not read):
 *  - a free slot (di_mode 0) must be zero except di_gen and be marked free
 *    in the inode bitmap;
 *  - an in-use inode must pass mapfs_inode_check (a checksum-only failure
 *    gets its own code), be marked used in the bitmap, and have a block
 *    map (mapfs_blockmap_walk) whose every block is a data block claimed
 *    by nobody else, whose count equals di_blocks, which maps nothing at
 *    or past ceil(size / bsize), and whose indirect pages have good CRCs;
 *  - a directory's size is a positive multiple of the chunk size and every
 *    block below it is mapped.
 * What it finds fills the per-inode table and the claimed-blocks bitmaps
 * the other passes check against.
 */
#include "fsck.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A pointer pass 1 decided to clear: in the inode (parent 0) or in an
 * indirect block. */
struct ptrfix {
	mapfs_bno_t parent;
	uint32_t slot;
};

/* A subtree of a block map that a walk passes over: what a cleared (or
 * unreadable) indirect pointer mapped. */
struct skip {
	bool on;
	int level;		/* of the pointer */
	uint64_t end;		/* first logical block past that subtree */
};

struct walk1 {
	struct fsck_ctx *c;
	mapfs_ino_t ino;
	uint64_t nlbn;		/* logical blocks below the size */
	uint64_t last_lbn;	/* 1 + the last data block mapped below it */
	uint64_t count;		/* pointers seen (data and indirect) */
	uint64_t mapped;	/* data blocks below the size */
	uint64_t visits;	/* callbacks made */
	uint32_t bad;		/* bad or duplicate pointers */
	bool keepsize;		/* MAPFS_FL_KEEPSIZE: blocks past EOF ok */
	/* Repairs. */
	struct ptrfix *fix;	/* pointers to clear after the walk */
	size_t nfix, fixcap;
	uint64_t cleared;	/* blocks the cleared pointers held */
	struct skip skip;	/* the subtree of a cleared pointer */
	mapfs_bno_t dupv[FSCK_MAX_BAD_PER_INODE]; /* blocks found claimed */
	uint32_t ndupv;
	bool kill;		/* clear the inode (too many bad blocks) */
};

static const char *level_name(int level)
{
	static const char *const n[] = { "data", "single indirect",
					 "double indirect",
					 "triple indirect" };

	return level >= 0 && level <= 3 ? n[level] : "unknown";
}

/* Logical blocks one indirect block of `level` covers. */
static uint64_t level_span(const struct mapfs_geom *g, int level)
{
	uint64_t span = 1;

	for (int l = 0; l < level; l++)
		span *= g->nindir;
	return span;
}

/* Pass over the subtree under v, an indirect pointer. */
static void skip_start(struct skip *s, const struct mapfs_geom *g,
		       const struct mapfs_blkvisit *v)
{
	s->on = true;
	s->level = v->level;
	s->end = v->lbn + level_span(g, v->level);
}

/* True if v lies in the subtree being passed over; the first visit past
 * it ends the skip. */
static bool skip_inside(struct skip *s, const struct mapfs_blkvisit *v)
{
	if (s->on && v->level < s->level && v->lbn < s->end)
		return true;
	s->on = false;
	return false;
}

/* Clear the pointer to v's block after the walk; its subtree (if an
 * indirect block) is skipped and what it maps is dropped. */
static int clear_ptr(struct walk1 *w, const struct mapfs_blkvisit *v)
{
	const struct mapfs_geom *g = &w->c->fs->g;
	struct ptrfix *fix;

	fix = fsck_grow(w->fix, w->nfix, &w->fixcap, sizeof(*fix), 16);
	if (!fix) {
		w->c->oom = true;
		return -ENOMEM;
	}
	w->fix = fix;
	w->fix[w->nfix].parent = v->parent;
	w->fix[w->nfix].slot = v->slot;
	w->nfix++;
	w->cleared++;
	if (v->level > 0 && v->valid) {
		skip_start(&w->skip, g, v);
	}
	return 0;
}

static int walk1_cb(void *arg, const struct mapfs_blkvisit *v)
{
	struct walk1 *w = arg;
	struct fsck_ctx *c = w->c;

	w->visits++;
	if (skip_inside(&w->skip, v)) {
		/* Mapped only through a cleared pointer. */
		w->count++;
		w->cleared++;
		if (v->valid)
			fsck_drop_block(c, v->bno, false);
		return c->oom ? -ENOMEM : 0;
	}
	if (v->bno == 0)
		return 0;
	w->count++;
	if (!v->valid) {
		if (fsck_problem(c, P1_BLOCK_BAD,
				 "inode %llu: %s block pointer %llu (logical "
				 "block %llu, slot %u) is not a data block",
				 (unsigned long long)w->ino,
				 level_name(v->level),
				 (unsigned long long)v->bno,
				 (unsigned long long)v->lbn, v->slot) &&
		    clear_ptr(w, v) < 0)
			return -ENOMEM;
		w->bad++;
		goto check_limit;
	}
	if (v->level > 0 && !v->crc_ok && fsck_block_claimed(c, v->bno)) {
		/* An indirect block that fails its checksum for this owner
		 * but already belongs to another inode: this pointer is the
		 * wrong one. Neither reseal the block nor walk into it (its
		 * pointers are the other inode's); drop our pointer. */
		if (fsck_problem(c, P1_IND_FOREIGN,
				 "inode %llu: %s block %llu belongs to "
				 "another inode and fails its checksum for "
				 "this one",
				 (unsigned long long)w->ino,
				 level_name(v->level),
				 (unsigned long long)v->bno))
			return clear_ptr(w, v);
		w->bad++;
		goto check_limit;
	}
	if (v->level > 0 && !v->crc_ok) {
		if (mapfs_ind_ptrs_valid(c->fs, v->bno)) {
			if (fsck_problem(c, P1_IND_CRC,
					 "inode %llu: %s block %llu has a bad "
					 "page checksum",
					 (unsigned long long)w->ino,
					 level_name(v->level),
					 (unsigned long long)v->bno))
				(void)mapfs_ind_reseal(c->fs, w->ino, v->bno);
		} else if (fsck_problem(c, P1_IND_BAD,
					"inode %llu: %s block %llu has a bad "
					"page checksum and pointers outside "
					"the data area",
					(unsigned long long)w->ino,
					level_name(v->level),
					(unsigned long long)v->bno)) {
			fsck_drop_block(c, v->bno, false);
			return clear_ptr(w, v);
		}
	}
	if (v->lbn >= w->nlbn && !w->keepsize &&
	    fsck_problem(c, P1_BLOCK_PAST_EOF,
			 "inode %llu: %s block %llu at logical block "
			 "%llu is past the end of the file (%llu blocks)",
			 (unsigned long long)w->ino, level_name(v->level),
			 (unsigned long long)v->bno,
			 (unsigned long long)v->lbn,
			 (unsigned long long)w->nlbn)) {
		fsck_drop_block(c, v->bno, false);
		return clear_ptr(w, v);
	}
	if (fsck_claim_block(c, v->bno)) {
		fsck_add_dup(c, v->bno);
		if (w->ndupv < FSCK_MAX_BAD_PER_INODE)
			w->dupv[w->ndupv++] = v->bno;
		w->bad++;
	}
	if (c->oom)
		return -ENOMEM;
	if (v->level == 0 && v->lbn < w->nlbn) {
		w->mapped++;
		if (v->lbn + 1 > w->last_lbn)
			w->last_lbn = v->lbn + 1;
	}
check_limit:
	if (w->bad >= FSCK_MAX_BAD_PER_INODE) {
		w->kill = fsck_problem(c, P1_TOO_MANY_BAD,
				       "inode %llu: %u bad or duplicate "
				       "blocks, rest of the block map not "
				       "checked",
				       (unsigned long long)w->ino, w->bad);
		return 1;
	}
	return 0;
}

/* A free slot holds zeros except its generation number. */
static bool free_inode_is_zero(const uint8_t *p, uint32_t inode_size)
{
	const size_t gen = offsetof(struct mapfs_dinode, di_gen);

	for (uint32_t i = 0; i < inode_size; i++)
		if (p[i] && (i < gen || i >= gen + sizeof(uint32_t)))
			return false;
	return true;
}

enum { BAD_KEEP, BAD_RESEALED, BAD_CLEAR };

/* Check an inode that failed mapfs_inode_check: if only its CRC is wrong
 * say so (and reseal it if repairing: BAD_RESEALED, the inode is good
 * now), otherwise report why (BAD_CLEAR if repairing). */
static int report_bad_inode(struct fsck_ctx *c, mapfs_ino_t ino,
			     const struct mapfs_dinode *d, const char *why)
{
	struct mapfs_fs *fs = c->fs;
	uint32_t crc = mapfs_inode_crc(fs, ino, d);
	struct mapfs_dinode copy;
	struct mapfs_inode ip;
	char why2[256] = "";

	if (crc != mapfs_di_crc(d)) {
		/* Would it pass with a good checksum? */
		memcpy(&copy, d, sizeof(copy));
		mapfs_di_set_crc(&copy, crc);
		if (mapfs_inode_check(fs, ino, &copy, why2, sizeof(why2)) ==
		    0) {
			/* (No CRC values: they depend on the inode's
			 * times, and the output is meant to be stable.) */
			if (!fsck_problem(c, P1_INODE_CRC,
					  "inode %llu passes checks but its "
					  "checksum is wrong",
					  (unsigned long long)ino))
				return BAD_KEEP;
			(void)mapfs_inode_decode(fs, ino, &ip);
			mapfs_inode_store(fs, &ip);
			return BAD_RESEALED;
		}
		why = why2;
	}
	return fsck_problem(c, P1_INODE_BAD, "inode %llu: %s",
			    (unsigned long long)ino, why) ? BAD_CLEAR
							  : BAD_KEEP;
}

/* Drop the blocks an invalid inode maps, as far as its map can be
 * trusted: bad pointers are skipped, and so is what an indirect block
 * with a bad page maps. Only blocks nobody else claims are freed, when
 * fsck_prepare runs. */
static int drop_bad_cb(void *arg, const struct mapfs_blkvisit *v)
{
	struct walk1 *w = arg;

	if (++w->visits > w->c->fs->g.nblocks)
		return 1;
	if (skip_inside(&w->skip, v))
		return 0;
	if (!v->valid)
		return 0;
	if (v->level > 0 && !v->crc_ok) {
		skip_start(&w->skip, &w->c->fs->g, v);
		return 0;
	}
	fsck_drop_block(w->c, v->bno, false);
	return w->c->oom ? -ENOMEM : 0;
}

/* Undo the claims of an inode whose walk stopped early (too many bad
 * blocks): the blocks it claimed first are dropped, the ones it found
 * already claimed stay with their other owner. */
static int unclaim_cb(void *arg, const struct mapfs_blkvisit *v)
{
	struct walk1 *w = arg;

	if (w->visits-- == 0)
		return 1;
	if (!v->valid)
		return 0;
	for (uint32_t i = 0; i < w->ndupv; i++) {
		if (w->dupv[i] == v->bno) {
			w->dupv[i] = 0;
			return 0;
		}
	}
	fsck_drop_block(w->c, v->bno, true);
	return 0;
}

/* Pass 1's repair of an invalid inode: drop its blocks, zero the slot
 * (keeping the generation), forget it in the tables. Names of it are
 * removed by pass 2 (they name a free inode now). */
static void clear_inode(struct fsck_ctx *c, mapfs_ino_t ino,
			struct fsck_ino *e, struct walk1 *claimed)
{
	const struct mapfs_geom *g = &c->fs->g;
	bool dir = (e->mode & MAPFS_IFMT) == MAPFS_IFDIR;
	struct mapfs_inode ip;
	struct walk1 w;

	memset(&ip, 0, sizeof(ip));
	if (mapfs_inode_decode(c->fs, ino, &ip) == 0 && !claimed &&
	    !mapfs_inode_has_blocks(&ip) &&
	    (ip.mode & MAPFS_IFMT) != MAPFS_IFLNK && ip.blocks) {
		/* An unknown type: whatever di_blk holds may be its map. */
		ip.mode = (ip.mode & ~MAPFS_IFMT) | MAPFS_IFREG;
	}
	/* Its xattr block was not claimed yet (that comes after the walk). */
	if (ip.xattr && mapfs_bno_is_data(g, ip.xattr))
		fsck_drop_block(c, ip.xattr, false);
	if (mapfs_inode_has_blocks(&ip)) {
		if (claimed) {
			(void)mapfs_blockmap_walk(c->fs, &ip, unclaim_cb,
						  claimed);
		} else {
			memset(&w, 0, sizeof(w));
			w.c = c;
			(void)mapfs_blockmap_walk(c->fs, &ip, drop_bad_cb, &w);
		}
	}
	mapfs_inode_clear(c->fs, ino);
	fsck_ino_gone(c, ino, e);
	/* fsck_prepare frees it in the bitmap and the counts. */
	e->flags = FI_CLEARED | (dir ? FI_WAS_DIR : 0);
}

/* Apply the pointer clears decided during the walk. */
static void apply_fixes(struct fsck_ctx *c, struct mapfs_inode *ip,
			const struct walk1 *w, bool *dirty)
{
	for (size_t i = 0; i < w->nfix; i++) {
		if (w->fix[i].parent == 0) {
			ip->blk[w->fix[i].slot] = 0;
			*dirty = true;
		} else {
			(void)mapfs_ind_set(c->fs, ip->ino, w->fix[i].parent,
					    w->fix[i].slot, 0);
		}
	}
}

/* Highest mapped data block of a directory whose size is 0, plus 1. */
static int maxlbn_cb(void *arg, const struct mapfs_blkvisit *v)
{
	uint64_t *n = arg;

	if (v->level == 0 && v->valid && v->lbn + 1 > *n)
		*n = v->lbn + 1;
	return 0;
}

/* Blocks ip's xattr pointer holds: 0 or 1. */
static uint64_t xb(const struct mapfs_inode *ip)
{
	return ip->xattr != 0;
}

/*
 * ip's xattr block: valid (mapfs_xattr_check, the daemon's own
 * validator) and claimed by nobody else, then claimed for ip. A bad block
 * is dropped, a shared one left to its other owner; either way ip's
 * pointer (and the block's count) goes and *dirty is set. Returns 0 if ip
 * keeps a good block or has none.
 */
static int check_xattr(struct fsck_ctx *c, struct mapfs_inode *ip,
		       bool *dirty)
{
	mapfs_bno_t bno = ip->xattr;
	char why[256] = "";

	/* In-inode attributes: valid, and not beside a block. */
	if (mapfs_xattr_in_inode(c->fs, ip->ino)) {
		if (mapfs_xattr_check_inode(c->fs, ip->ino, why,
					    sizeof(why)) < 0) {
			if (fsck_problem(c, P1_XATTR_IBODY_BAD,
					 "inode %llu: %s",
					 (unsigned long long)ip->ino, why))
				mapfs_xattr_clear_inode(c->fs, ip->ino);
		} else if (bno &&
			   fsck_problem(c, P1_XATTR_IBODY_BOTH,
					"inode %llu: attributes both in the "
					"inode and in block %llu",
					(unsigned long long)ip->ino,
					(unsigned long long)bno)) {
			mapfs_xattr_clear_inode(c->fs, ip->ino);
		}
	}
	if (!bno)
		return 0;
	if (mapfs_xattr_check(c->fs, ip->ino, bno, why, sizeof(why)) < 0) {
		if (!fsck_problem(c, P1_XATTR_BAD, "inode %llu: %s",
				  (unsigned long long)ip->ino, why))
			return fsck_claim_block(c, bno) ? -1 : -1;
		fsck_drop_block(c, bno, false);
	} else if (fsck_block_claimed(c, bno)) {
		if (!fsck_problem(c, P1_XATTR_DUP,
				  "inode %llu: xattr block %llu is also "
				  "claimed by a block map",
				  (unsigned long long)ip->ino,
				  (unsigned long long)bno)) {
			fsck_add_dup(c, bno);
			return -1;
		}
	} else {
		(void)fsck_claim_block(c, bno);
		return 0;
	}
	ip->xattr = 0;
	if (ip->blocks)
		ip->blocks--;
	*dirty = true;
	return -1;
}

static void check_inode(struct fsck_ctx *c, mapfs_ino_t ino,
			struct fsck_ino *e, const struct mapfs_dinode *d)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	struct mapfs_inode ip;
	char why[256] = "";
	bool dir, dirty = false;
	struct walk1 w;
	int err;

	err = mapfs_inode_check(fs, ino, d, why, sizeof(why));
	if (err < 0) {
		switch (report_bad_inode(c, ino, d, why)) {
		case BAD_RESEALED:
			err = 0;	/* only its checksum was wrong */
			break;
		case BAD_CLEAR:
			clear_inode(c, ino, e, NULL);
			return;
		default:
			break;
		}
	}
	if (err == 0) {
		err = mapfs_inode_load(fs, ino, &ip);
		if (err < 0)
			snprintf(why, sizeof(why), "cannot load: %s",
				 strerror(-err));
	}
	if (err < 0) {
		e->flags |= FI_BAD;
		return;
	}
	e->flags |= FI_LOADED;
	if (ip.flags & MAPFS_FL_ORPHAN)
		e->flags |= FI_ORPHAN_FL;
	if (!mapfs_inode_has_blocks(&ip)) {
		/* Only an xattr block may be counted (mapfs_inode_check
		 * allows di_blocks <= 1 with one). */
		if (check_xattr(c, &ip, &dirty) == 0 && ip.blocks != xb(&ip) &&
		    fsck_problem(c, P1_BLOCKS_COUNT,
				 "inode %llu: di_blocks is %llu but the block "
				 "map holds %llu blocks",
				 (unsigned long long)ino,
				 (unsigned long long)ip.blocks,
				 (unsigned long long)xb(&ip))) {
			ip.blocks = xb(&ip);
			dirty = true;
		}
		if (dirty)
			mapfs_inode_store(fs, &ip);
		return;
	}
	dir = (ip.mode & MAPFS_IFMT) == MAPFS_IFDIR;

	/* A directory's size says which chunks to read: fix it first. */
	if (dir && (ip.size == 0 || ip.size % MAPFS_DIRCHUNK) &&
	    fsck_problem(c, P1_DIR_SIZE,
			 "directory inode %llu: size %llu is not a "
			 "positive multiple of %u",
			 (unsigned long long)ino,
			 (unsigned long long)ip.size, MAPFS_DIRCHUNK)) {
		uint64_t n = 0;

		(void)mapfs_blockmap_walk(fs, &ip, maxlbn_cb, &n);
		if (n > g->maxfilesize >> g->bshift)
			n = g->maxfilesize >> g->bshift;
		ip.size = n << g->bshift;
		dirty = true;
	}

	memset(&w, 0, sizeof(w));
	w.c = c;
	w.ino = ino;
	w.nlbn = (ip.size >> g->bshift) +
		 ((ip.size & (g->bsize - 1)) ? 1 : 0);
	w.keepsize = (ip.mode & MAPFS_IFMT) == MAPFS_IFREG &&
		     (ip.flags & MAPFS_FL_KEEPSIZE);
	err = mapfs_blockmap_walk(fs, &ip, walk1_cb, &w);
	if (err == -ENOMEM || c->oom)
		goto out;
	if (w.kill) {
		clear_inode(c, ino, e, &w);
		goto out;
	}
	if (err < 0) {
		if (fsck_problem(c, P1_BLOCKMAP_ERR,
				 "inode %llu: cannot walk the block map: %s",
				 (unsigned long long)ino, strerror(-err))) {
			w.ndupv = 0;
			clear_inode(c, ino, e, &w);
		}
		goto out;
	}
	apply_fixes(c, &ip, &w, &dirty);
	/* After the walk: a block the map claimed is a duplicate here. */
	(void)check_xattr(c, &ip, &dirty);
	w.count += xb(&ip);
	if (err == 0 && w.count != ip.blocks) {
		if (fsck_problem(c, P1_BLOCKS_COUNT,
				 "inode %llu: di_blocks is %llu but the block "
				 "map holds %llu blocks",
				 (unsigned long long)ino,
				 (unsigned long long)ip.blocks,
				 (unsigned long long)(w.count - w.cleared))) {
			ip.blocks = w.count - w.cleared;
			dirty = true;
		}
	} else if (w.cleared) {
		/* The cleared pointers' blocks leave the count. */
		ip.blocks = ip.blocks > w.cleared ? ip.blocks - w.cleared : 0;
		dirty = true;
	}
	/* A directory whose size runs past its last mapped block (a damaged
	 * size field) ends where its blocks end; holes below that get fresh
	 * empty chunks in pass 2. */
	if (dir && ip.size && ip.size % MAPFS_DIRCHUNK == 0 && err == 0 &&
	    w.last_lbn && w.last_lbn < w.nlbn &&
	    fsck_problem(c, P1_DIR_SIZE_PAST_BLOCKS,
			 "directory inode %llu: size %llu runs past its last "
			 "block (%llu blocks mapped)",
			 (unsigned long long)ino,
			 (unsigned long long)ip.size,
			 (unsigned long long)w.last_lbn)) {
		ip.size = w.last_lbn << g->bshift;
		w.nlbn = w.last_lbn;
		dirty = true;
	}
	if (dir && ip.size && ip.size % MAPFS_DIRCHUNK == 0 && err == 0 &&
	    w.mapped < w.nlbn &&
	    fsck_problem(c, P1_DIR_HOLE,
			 "directory inode %llu: %llu of its %llu blocks "
			 "are not mapped",
			 (unsigned long long)ino,
			 (unsigned long long)(w.nlbn - w.mapped),
			 (unsigned long long)w.nlbn))
		e->flags |= FI_FILL_HOLES;
out:
	if (dirty && e->mode)
		mapfs_inode_store(fs, &ip);
	free(w.fix);
}

static int scan_group(struct fsck_ctx *c, uint64_t cg)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	struct fsck_group *grp = &c->grp[cg];
	const struct mapfs_dcg *h = mapfs_cg_hdr(fs, cg);
	const uint8_t *ibm = mapfs_cg_ibm(fs, cg);
	uint32_t hiwater = g->ipg;

	/* A header that failed its check cannot be trusted for the
	 * high-water mark: scan every slot. */
	if (h && !fs->cg[cg].bad && mapfs_cg_ihiwater(h) < g->ipg)
		hiwater = mapfs_cg_ihiwater(h);
	if (hiwater == 0)
		return 0;
	grp->ino = fsck_calloc(c, hiwater, sizeof(*grp->ino));
	if (!grp->ino)
		return -ENOMEM;
	grp->hiwater = hiwater;

	for (uint32_t slot = 0; slot < hiwater; slot++) {
		mapfs_ino_t ino = cg * g->ipg + slot;
		struct fsck_ino *e = &grp->ino[slot];
		const struct mapfs_dinode *d;
		bool marked;
		uint32_t mode;

		/* Reserved inodes other than the root are not files;
		 * pass 5 checks their bitmap bits. */
		if (ino < g->first_ino && ino != MAPFS_ROOT_INO)
			continue;
		d = mapfs_dinode(fs, ino);
		if (!d) {
			fsck_problem(c, P1_INODE_UNREADABLE,
				     "inode %llu is outside the image",
				     (unsigned long long)ino);
			continue;
		}
		marked = ibm && mapfs_bit_test(ibm, slot);
		mode = mapfs_di_mode(d);
		if (mode == 0) {
			if (!free_inode_is_zero((const uint8_t *)d,
						g->inode_size) &&
			    fsck_problem(c, P1_FREE_INODE_DIRTY,
					 "free inode %llu is not zeroed",
					 (unsigned long long)ino))
				mapfs_inode_clear(fs, ino);
			if (marked)
				fsck_problem(c, P1_IBM_FREE_MARKED,
					     "inode %llu is free but marked "
					     "used in the inode bitmap",
					     (unsigned long long)ino);
			continue;
		}
		e->mode = mode;
		e->nlink = mapfs_di_nlink(d);
		if (!marked)
			fsck_problem(c, P1_IBM_USED_NOT_MARKED,
				     "inode %llu (%s) is in use but marked "
				     "free in the inode bitmap",
				     (unsigned long long)ino,
				     fsck_type_name(mode));
		if (ino >= g->first_ino)
			grp->used_inodes++;
		if ((mode & MAPFS_IFMT) == MAPFS_IFDIR) {
			grp->dirs++;
			c->ndirs++;
		} else {
			c->nfiles++;
		}
		check_inode(c, ino, e, d);
		if (c->oom)
			return -ENOMEM;
	}
	return 0;
}

int fsck_pass1(struct fsck_ctx *c)
{
	struct mapfs_fs *fs = c->fs;
	int err;

	/* The journal's blocks are in use, by no inode. */
	for (uint64_t b = 0; b < fs->g.jblocks; b++)
		(void)fsck_claim_block(c, fs->g.jstart + b);
	for (uint64_t cg = 0; cg < fs->g.ngroups; cg++) {
		if (!fs->cg[cg].init)
			continue;
		fsck_progress(c, cg, fs->g.ngroups);
		err = scan_group(c, cg);
		if (err < 0)
			return err;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Pass 1b: for each block claimed twice, find every owner.            */
/* ------------------------------------------------------------------ */
struct walk1b {
	struct fsck_ctx *c;
	mapfs_ino_t ino;
	struct fsck_dup *pairs;
	size_t npairs, cap;
	uint32_t seen;
	bool oom;
};

static int walk1b_cb(void *arg, const struct mapfs_blkvisit *v)
{
	struct walk1b *w = arg;
	struct fsck_dup *pairs;

	if (!v->valid || v->bno == 0 || !fsck_is_dup(w->c, v->bno))
		return 0;
	pairs = fsck_grow(w->pairs, w->npairs, &w->cap, sizeof(*pairs), 64);
	if (!pairs) {
		w->oom = true;
		return -ENOMEM;
	}
	w->pairs = pairs;
	w->pairs[w->npairs].bno = v->bno;
	w->pairs[w->npairs].ino = w->ino;
	w->npairs++;
	/* Same bound as pass 1, so a flooding inode stays bounded. */
	return ++w->seen >= FSCK_MAX_BAD_PER_INODE ? 1 : 0;
}

static int cmp_bno(const void *a, const void *b)
{
	mapfs_bno_t x = *(const mapfs_bno_t *)a, y = *(const mapfs_bno_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_pair(const void *a, const void *b)
{
	const struct fsck_dup *x = a, *y = b;

	if (x->bno != y->bno)
		return x->bno < y->bno ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/*
 * Pass 1b's repair: every block claimed more than once stays with the
 * first owner that reaches it (lowest inode, then logical order); every
 * other claim gets a copy in a newly allocated block. Owners are walked
 * in inode order; an indirect block that is copied has its pages resealed
 * for its new owner and place, and the pointers below it are changed in
 * the copy, never in the original. When no block is free the pointer is
 * cleared instead (and what it mapped is dropped); each choice is said.
 *
 * The walks must see the block maps as pass 1b found them: the walker
 * reads an indirect block's pointers as it descends, and a block can be
 * walked again later (an indirect block claimed twice, by one inode or
 * several, or naming itself), so a pointer changed in an original block
 * would hide the claim it replaced from that later walk, and a copy taken
 * after the change would share the new block. Pointers in original
 * blocks are therefore changed only after every owner's walk (struct
 * ind_set); pointers in copies (never walked) and in the inode at once.
 */
struct ind_set {		/* a deferred change of an original block */
	mapfs_ino_t ino;
	mapfs_bno_t blk;
	uint32_t slot;
	mapfs_bno_t nb;
};

struct ind_sets {
	struct ind_set *v;
	size_t n, cap;
};

struct walk1d {
	struct fsck_ctx *c;
	struct mapfs_inode *ip;
	struct ind_sets *sets;	/* changes of original blocks, deferred */
	bool dirty;		/* ip changed */
	bool cleared;		/* a pointer was cleared: recount */
	mapfs_bno_t copy[MAPFS_NIADDR + 2]; /* per level: copy of the
					     * indirect block being walked */
	struct skip skip;	/* the subtree of a cleared pointer */
};

static int clone_cb(void *arg, const struct mapfs_blkvisit *v)
{
	struct walk1d *w = arg;
	struct fsck_ctx *c = w->c;
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	mapfs_bno_t where, nb = 0;
	size_t lo = 0, hi = c->ndups;
	int err;

	if (skip_inside(&w->skip, v))
		return 0;
	if (!v->valid)
		return 0;
	/* The block holding this pointer: the inode, the indirect block
	 * it was read from, or that block's copy. */
	where = v->parent;
	if (v->parent && w->copy[v->level + 1])
		where = w->copy[v->level + 1];
	if (v->level > 0)
		w->copy[v->level] = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->dups[mid] < v->bno)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= c->ndups || c->dups[lo] != v->bno)
		return 0;
	if (!c->dup_kept[lo]) {
		c->dup_kept[lo] = true;
		return 0;
	}
	err = fsck_alloc_block(c, v->bno, &nb);
	if (err == 0) {
		memcpy(mapfs_block(fs, nb), mapfs_block(fs, v->bno), g->bsize);
		if (v->level > 0) {
			(void)mapfs_ind_reseal(fs, w->ip->ino, nb);
			w->copy[v->level] = nb;
		}
		fsck_note(c, "inode %llu: %s block %llu (logical block %llu) "
			  "copied to block %llu",
			  (unsigned long long)w->ip->ino,
			  v->level ? "indirect" : "data",
			  (unsigned long long)v->bno,
			  (unsigned long long)v->lbn,
			  (unsigned long long)nb);
	} else {
		fsck_note(c, "inode %llu: no free block to copy block %llu "
			  "(logical block %llu): pointer cleared",
			  (unsigned long long)w->ip->ino,
			  (unsigned long long)v->bno,
			  (unsigned long long)v->lbn);
		w->cleared = true;
		if (v->level > 0) {
			skip_start(&w->skip, g, v);
		}
	}
	if (where == 0) {
		w->ip->blk[v->slot] = nb;
		w->dirty = true;
	} else if (where == v->parent) {
		struct ind_sets *s = w->sets;
		struct ind_set *n = fsck_grow(s->v, s->n, &s->cap,
					      sizeof(*s->v), 16);

		if (!n) {
			c->oom = true;
			return -ENOMEM;
		}
		s->v = n;
		s->v[s->n++] = (struct ind_set){ w->ip->ino, where, v->slot,
						 nb };
	} else {
		(void)mapfs_ind_set(fs, w->ip->ino, where, v->slot, nb);
	}
	return 0;
}

static int count_cb(void *arg, const struct mapfs_blkvisit *v)
{
	uint64_t *n = arg;

	if (v->bno)
		(*n)++;
	return 0;
}

static void clone_dups(struct fsck_ctx *c, const struct fsck_dup *pairs,
		       size_t npairs)
{
	struct mapfs_fs *fs = c->fs;
	struct ind_sets sets = { NULL, 0, 0 };
	mapfs_ino_t *owners;
	bool *recount;
	size_t n = 0;

	c->dup_kept = fsck_calloc(c, c->ndups, sizeof(*c->dup_kept));
	owners = fsck_calloc(c, npairs, sizeof(*owners));
	recount = fsck_calloc(c, npairs, sizeof(*recount));
	if (!c->dup_kept || !owners || !recount) {
		free(owners);
		free(recount);
		return;
	}
	for (size_t i = 0; i < npairs; i++)
		owners[n++] = pairs[i].ino;
	qsort(owners, n, sizeof(*owners), cmp_bno);
	fsck_prepare(c);
	for (size_t i = 0; i < n && !c->oom; i++) {
		struct mapfs_inode ip;
		struct walk1d w;

		if (i > 0 && owners[i] == owners[i - 1])
			continue;
		if (mapfs_inode_load(fs, owners[i], &ip) < 0)
			continue;
		memset(&w, 0, sizeof(w));
		w.c = c;
		w.ip = &ip;
		w.sets = &sets;
		(void)mapfs_blockmap_walk(fs, &ip, clone_cb, &w);
		recount[i] = w.cleared;
		if (w.dirty)
			mapfs_inode_store(fs, &ip);
	}
	/* Every walk done: the original blocks may change now. */
	for (size_t i = 0; i < sets.n; i++)
		(void)mapfs_ind_set(fs, sets.v[i].ino, sets.v[i].blk,
				    sets.v[i].slot, sets.v[i].nb);
	free(sets.v);
	/* A cleared pointer (no free block) changes the count of blocks. */
	for (size_t i = 0; i < n; i++) {
		struct mapfs_inode ip;
		uint64_t nblk = 0;

		if (!recount[i] || mapfs_inode_load(fs, owners[i], &ip) < 0)
			continue;
		(void)mapfs_blockmap_walk(fs, &ip, count_cb, &nblk);
		ip.blocks = nblk + (ip.xattr != 0);
		mapfs_inode_store(fs, &ip);
	}
	free(owners);
	free(recount);
}

int fsck_pass1b(struct fsck_ctx *c)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	struct walk1b w;
	size_t n = 0;
	bool fix;

	if (c->ndups == 0)
		return 0;
	if (c->ndups)
		qsort(c->dups, c->ndups, sizeof(*c->dups), cmp_bno);
	for (size_t i = 0; i < c->ndups; i++)
		if (n == 0 || c->dups[n - 1] != c->dups[i])
			c->dups[n++] = c->dups[i];
	c->ndups = n;
	fsck_verbose(c, "Pass 1b: rescanning for %zu multiply-claimed "
		     "blocks", n);

	memset(&w, 0, sizeof(w));
	w.c = c;
	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		struct fsck_group *grp = &c->grp[cg];

		for (uint32_t slot = 0; grp->ino && slot < grp->hiwater;
		     slot++) {
			struct mapfs_inode ip;

			if (!(grp->ino[slot].flags & FI_LOADED))
				continue;
			w.ino = cg * g->ipg + slot;
			if (mapfs_inode_load(fs, w.ino, &ip) < 0)
				continue;
			/* An xattr block pass 1 claimed before a later block
			 * map claimed it too: the map keeps it. */
			if (ip.xattr && fsck_is_dup(c, ip.xattr) &&
			    fsck_problem(c, P1_XATTR_DUP,
					 "inode %llu: xattr block %llu is also "
					 "claimed by a block map",
					 (unsigned long long)w.ino,
					 (unsigned long long)ip.xattr)) {
				ip.xattr = 0;
				if (ip.blocks)
					ip.blocks--;
				mapfs_inode_store(fs, &ip);
			}
			if (!mapfs_inode_has_blocks(&ip))
				continue;
			w.seen = 0;
			(void)mapfs_blockmap_walk(fs, &ip, walk1b_cb, &w);
			if (w.oom) {
				free(w.pairs);
				return -ENOMEM;
			}
		}
	}
	if (w.npairs)
		qsort(w.pairs, w.npairs, sizeof(*w.pairs), cmp_pair);
	fix = false;
	for (size_t i = 0; i < w.npairs;) {
		char owners[512];
		size_t j = i, o = 0;

		owners[0] = 0;
		for (; j < w.npairs && w.pairs[j].bno == w.pairs[i].bno; j++)
			if (o < sizeof(owners) - 32)
				o += (size_t)snprintf(owners + o,
						      sizeof(owners) - o,
						      "%s%llu", j > i ? ", " : "",
						      (unsigned long long)
							      w.pairs[j].ino);
		/* An owner cleared in pass 1 leaves a single claim. */
		if (j - i >= 2 &&
		    fsck_problem(c, P1B_DUP_BLOCK,
				 "block %llu is claimed %zu times, by inodes "
				 "%s",
				 (unsigned long long)w.pairs[i].bno, j - i,
				 owners))
			fix = true;
		i = j;
	}
	if (fix)
		clone_dups(c, w.pairs, w.npairs);
	free(w.pairs);
	return 0;
}
