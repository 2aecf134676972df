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

struct walk1 {
	struct fsck_ctx *c;
	mapfs_ino_t ino;
	uint64_t nlbn;		/* logical blocks below the size */
	uint64_t count;		/* pointers seen (data and indirect) */
	uint64_t mapped;	/* data blocks below the size */
	uint32_t bad;		/* bad or duplicate pointers */
};

static const char *level_name(int level)
{
	static const char *const n[] = { "data", "single indirect",
					 "double indirect",
					 "triple indirect" };

	return level >= 0 && level <= 3 ? n[level] : "unknown";
}

static int walk1_cb(void *arg, const struct mapfs_blkvisit *v)
{
	struct walk1 *w = arg;
	struct fsck_ctx *c = w->c;

	if (v->bno == 0)
		return 0;
	w->count++;
	if (!v->valid) {
		fsck_problem(c, P1_BLOCK_BAD,
			     "inode %llu: %s block pointer %llu (logical "
			     "block %llu, slot %u) is not a data block",
			     (unsigned long long)w->ino, level_name(v->level),
			     (unsigned long long)v->bno,
			     (unsigned long long)v->lbn, v->slot);
		w->bad++;
		goto check_limit;
	}
	if (v->level > 0 && !v->crc_ok)
		fsck_problem(c, P1_IND_CRC,
			     "inode %llu: %s block %llu has a bad page "
			     "checksum",
			     (unsigned long long)w->ino, level_name(v->level),
			     (unsigned long long)v->bno);
	if (fsck_claim_block(c, v->bno)) {
		fsck_add_dup(c, v->bno);
		w->bad++;
	}
	if (c->oom)
		return -ENOMEM;
	if (v->lbn >= w->nlbn) {
		fsck_problem(c, P1_BLOCK_PAST_EOF,
			     "inode %llu: %s block %llu at logical block "
			     "%llu is past the end of the file (%llu blocks)",
			     (unsigned long long)w->ino, level_name(v->level),
			     (unsigned long long)v->bno,
			     (unsigned long long)v->lbn,
			     (unsigned long long)w->nlbn);
	} else if (v->level == 0) {
		w->mapped++;
	}
check_limit:
	if (w->bad >= FSCK_MAX_BAD_PER_INODE) {
		fsck_problem(c, P1_TOO_MANY_BAD,
			     "inode %llu: %u bad or duplicate blocks, rest of "
			     "the block map not checked",
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

/* Check an inode that failed mapfs_inode_check: if only its CRC is wrong
 * say so, otherwise report why. */
static void report_bad_inode(struct fsck_ctx *c, mapfs_ino_t ino,
			     const struct mapfs_dinode *d, const char *why)
{
	struct mapfs_fs *fs = c->fs;
	uint32_t crc = mapfs_inode_crc(fs, ino, d);
	struct mapfs_dinode copy;
	char why2[256] = "";

	if (crc != le32toh(d->di_crc)) {
		/* Would it pass with a good checksum? */
		memcpy(&copy, d, sizeof(copy));
		copy.di_crc = htole32(crc);
		if (mapfs_inode_check(fs, ino, &copy, why2, sizeof(why2)) ==
		    0) {
			fsck_problem(c, P1_INODE_CRC,
				     "inode %llu passes checks but its "
				     "checksum is wrong (stored 0x%08x, "
				     "computed 0x%08x)",
				     (unsigned long long)ino,
				     le32toh(d->di_crc), crc);
			return;
		}
		why = why2;
	}
	fsck_problem(c, P1_INODE_BAD, "inode %llu: %s",
		     (unsigned long long)ino, why);
}

static void check_inode(struct fsck_ctx *c, mapfs_ino_t ino,
			struct fsck_ino *e, const struct mapfs_dinode *d)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	struct mapfs_inode ip;
	char why[256] = "";
	struct walk1 w;
	int err;

	err = mapfs_inode_check(fs, ino, d, why, sizeof(why));
	if (err == 0) {
		err = mapfs_inode_load(fs, ino, &ip);
		if (err < 0)
			snprintf(why, sizeof(why), "cannot load: %s",
				 strerror(-err));
	}
	if (err < 0) {
		report_bad_inode(c, ino, d, why);
		e->flags |= FI_BAD;
		return;
	}
	e->flags |= FI_LOADED;
	if (ip.flags & MAPFS_FL_ORPHAN)
		e->flags |= FI_ORPHAN_FL;
	if (!mapfs_inode_has_blocks(&ip))
		return;

	memset(&w, 0, sizeof(w));
	w.c = c;
	w.ino = ino;
	w.nlbn = (ip.size >> g->bshift) +
		 ((ip.size & (g->bsize - 1)) ? 1 : 0);
	err = mapfs_blockmap_walk(fs, &ip, walk1_cb, &w);
	if (err == -ENOMEM || c->oom)
		return;
	if (err < 0) {
		fsck_problem(c, P1_BLOCKMAP_ERR,
			     "inode %llu: cannot walk the block map: %s",
			     (unsigned long long)ino, strerror(-err));
		return;
	}
	if (err == 0 && w.count != ip.blocks)
		fsck_problem(c, P1_BLOCKS_COUNT,
			     "inode %llu: di_blocks is %llu but the block map "
			     "holds %llu blocks",
			     (unsigned long long)ino,
			     (unsigned long long)ip.blocks,
			     (unsigned long long)w.count);
	if ((ip.mode & MAPFS_IFMT) != MAPFS_IFDIR)
		return;
	if (ip.size == 0 || ip.size % MAPFS_DIRCHUNK)
		fsck_problem(c, P1_DIR_SIZE,
			     "directory inode %llu: size %llu is not a "
			     "positive multiple of %u",
			     (unsigned long long)ino,
			     (unsigned long long)ip.size, MAPFS_DIRCHUNK);
	else if (err == 0 && w.mapped < w.nlbn)
		fsck_problem(c, P1_DIR_HOLE,
			     "directory inode %llu: %llu of its %llu blocks "
			     "are not mapped",
			     (unsigned long long)ino,
			     (unsigned long long)(w.nlbn - w.mapped),
			     (unsigned long long)w.nlbn);
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
	if (h && !fs->cg[cg].bad && le32toh(h->cg_ihiwater) < g->ipg)
		hiwater = le32toh(h->cg_ihiwater);
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
		mode = le16toh(d->di_mode);
		if (mode == 0) {
			if (!free_inode_is_zero((const uint8_t *)d,
						g->inode_size))
				fsck_problem(c, P1_FREE_INODE_DIRTY,
					     "free inode %llu is not zeroed",
					     (unsigned long long)ino);
			if (marked)
				fsck_problem(c, P1_IBM_FREE_MARKED,
					     "inode %llu is free but marked "
					     "used in the inode bitmap",
					     (unsigned long long)ino);
			continue;
		}
		e->mode = mode;
		e->nlink = le32toh(d->di_nlink);
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

	for (uint64_t cg = 0; cg < fs->g.ngroups; cg++) {
		if (!fs->cg[cg].init)
			continue;
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

	if (!v->valid || v->bno == 0 || !fsck_is_dup(w->c, v->bno))
		return 0;
	if (w->npairs == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct fsck_dup *n = realloc(w->pairs, cap * sizeof(*n));

		if (!n) {
			w->oom = true;
			return -ENOMEM;
		}
		w->pairs = n;
		w->cap = cap;
	}
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

int fsck_pass1b(struct fsck_ctx *c)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	struct walk1b w;
	size_t n = 0;

	if (c->ndups == 0)
		return 0;
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
			if (mapfs_inode_load(fs, w.ino, &ip) < 0 ||
			    !mapfs_inode_has_blocks(&ip))
				continue;
			w.seen = 0;
			(void)mapfs_blockmap_walk(fs, &ip, walk1b_cb, &w);
			if (w.oom) {
				free(w.pairs);
				return -ENOMEM;
			}
		}
	}
	qsort(w.pairs, w.npairs, sizeof(*w.pairs), cmp_pair);
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
		fsck_problem(c, P1B_DUP_BLOCK,
			     "block %llu is claimed %zu times, by inodes %s",
			     (unsigned long long)w.pairs[i].bno, j - i, owners);
		i = j;
	}
	free(w.pairs);
	return 0;
}
