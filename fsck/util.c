/* SPDX-License-Identifier: MIT */
/*
 * util.c - fsck's in-memory tables: per-inode state, claimed blocks,
 * duplicate blocks.
 *
 * Sizes come from the validated geometry (ngroups, ipg, bpg, all checked
 * by mapfs_super_decode against the image size) and from the group
 * high-water mark clamped to ipg, never from an unchecked on-disk count.
 */
#include "fsck.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void *fsck_calloc(struct fsck_ctx *c, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		c->oom = true;
	return p;
}

void fsck_verbose(const struct fsck_ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->verbose)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
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
	if (c->ndups == c->dups_cap) {
		size_t cap = c->dups_cap ? 2 * c->dups_cap : 64;
		mapfs_bno_t *n = realloc(c->dups, cap * sizeof(*n));

		if (!n) {
			c->oom = true;
			return;
		}
		c->dups = n;
		c->dups_cap = cap;
	}
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
