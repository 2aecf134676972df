/* SPDX-License-Identifier: MIT */
/*
 * tables.c - fsck's in-memory tables: per-inode state, claimed blocks,
 * duplicate blocks, the orphan list's reach, and the group counts they
 * add up to.
 *
 * Sizes come from the validated geometry (ngroups, ipg, bpg, all checked
 * by mapfs_super_decode against the image size) and from the group
 * high-water mark clamped to ipg, never from an unchecked on-disk count.
 * Nothing here changes the image or reports a problem: the passes and
 * repair.c do, and keep these tables in step.
 */
#include "fsck.h"

#include <stdlib.h>
#include <string.h>

void *fsck_calloc(struct fsck_ctx *c, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		c->oom = true;
	return p;
}

void *fsck_grow(void *v, size_t n, size_t *cap, size_t size, size_t first)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return v;
	ncap = *cap ? 2 * *cap : first;
	p = realloc(v, ncap * size);
	if (p)
		*cap = ncap;
	return p;
}

struct fsck_ino *fsck_ino_get(struct fsck_ctx *c, mapfs_ino_t ino)
{
	const struct mapfs_geom *g = &c->fs->g;
	uint64_t cg, slot;

	if (ino >= g->ninodes)
		return NULL;
	cg = mapfs_ino_group(g, ino);
	slot = ino % g->ipg;
	if (!c->grp[cg].ino || slot >= c->grp[cg].hiwater)
		return NULL;
	return &c->grp[cg].ino[slot];
}

bool fsck_ino_in_use(struct fsck_ctx *c, mapfs_ino_t ino)
{
	struct fsck_ino *e = fsck_ino_get(c, ino);

	return e && e->mode != 0;
}

bool fsck_claim_block(struct fsck_ctx *c, mapfs_bno_t bno)
{
	const struct mapfs_geom *g = &c->fs->g;
	struct fsck_group *grp;
	uint64_t bit;

	if (bno >= g->nblocks)
		return false;
	grp = &c->grp[mapfs_bno_group(g, bno)];
	bit = bno % g->bpg;
	if (!grp->claimed) {
		grp->claimed = fsck_calloc(c, (g->bpg + 7) / 8, 1);
		if (!grp->claimed)
			return false;
	}
	if (mapfs_bit_test(grp->claimed, bit))
		return true;
	mapfs_bit_set(grp->claimed, bit);
	grp->nclaimed++;
	c->nclaimed++;
	return false;
}

bool fsck_block_claimed(const struct fsck_ctx *c, mapfs_bno_t bno)
{
	const struct mapfs_geom *g = &c->fs->g;
	const struct fsck_group *grp;

	if (bno >= g->nblocks)
		return false;
	grp = &c->grp[mapfs_bno_group(g, bno)];
	return grp->claimed && mapfs_bit_test(grp->claimed, bno % g->bpg);
}

void fsck_add_dup(struct fsck_ctx *c, mapfs_bno_t bno)
{
	mapfs_bno_t *n = fsck_grow(c->dups, c->ndups, &c->dups_cap,
				   sizeof(*n), 64);

	if (!n) {
		c->oom = true;
		return;
	}
	c->dups = n;
	c->dups[c->ndups++] = bno;
}

bool fsck_is_dup(const struct fsck_ctx *c, mapfs_bno_t bno)
{
	size_t lo = 0, hi = c->ndups;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->dups[mid] == bno)
			return true;
		if (c->dups[mid] < bno)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

void fsck_unclaim_block(struct fsck_ctx *c, mapfs_bno_t bno)
{
	const struct mapfs_geom *g = &c->fs->g;
	struct fsck_group *grp;
	uint64_t bit;

	if (bno >= g->nblocks)
		return;
	grp = &c->grp[mapfs_bno_group(g, bno)];
	bit = bno % g->bpg;
	if (!grp->claimed || !mapfs_bit_test(grp->claimed, bit))
		return;
	mapfs_bit_clear(grp->claimed, bit);
	grp->nclaimed--;
	c->nclaimed--;
}

void fsck_mark_orphans(struct fsck_ctx *c)
{
	struct mapfs_fs *fs = c->fs;
	mapfs_ino_t x = fs->orphan_head;
	uint64_t steps = 0;

	/* Stops where walk_orphans reports a bad list: an invalid or free
	 * inode, a loop, a next pointer that cannot be trusted. */
	while (x != 0 && steps++ <= fs->g.ninodes &&
	       mapfs_ino_valid(&fs->g, x)) {
		struct fsck_ino *e = fsck_ino_get(c, x);
		struct mapfs_inode ip;

		if (!e || e->mode == 0 || (e->flags & FI_LISTED))
			break;
		e->flags |= FI_LISTED;
		if (!(e->flags & FI_LOADED) ||
		    mapfs_inode_load(fs, x, &ip) < 0)
			break;
		x = ip.orphan_next;
	}
}

void fsck_group_counts(const struct fsck_ctx *c, uint64_t cg, uint64_t *fb,
		       uint64_t *fi, uint64_t *nd)
{
	const struct mapfs_geom *g = &c->fs->g;
	const struct fsck_group *grp = &c->grp[cg];
	uint64_t ndata = mapfs_group_ndata(g, cg);
	uint64_t used_ino = grp->used_inodes + (cg == 0 ? g->first_ino : 0);

	*fb = ndata >= grp->nclaimed ? ndata - grp->nclaimed : 0;
	*fi = g->ipg >= used_ino ? g->ipg - used_ino : 0;
	*nd = grp->dirs;
}

/* The tables after inode ino stopped being in use. */
void fsck_ino_gone(struct fsck_ctx *c, mapfs_ino_t ino, struct fsck_ino *e)
{
	const struct mapfs_geom *g = &c->fs->g;
	struct fsck_group *grp = &c->grp[mapfs_ino_group(g, ino)];

	if ((e->mode & MAPFS_IFMT) == MAPFS_IFDIR) {
		grp->dirs--;
		c->ndirs--;
	} else {
		c->nfiles--;
	}
	if (ino >= g->first_ino)
		grp->used_inodes--;
	memset(e, 0, sizeof(*e));
}
