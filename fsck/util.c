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

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ------------------------------------------------------------------ */
/* Repairs: claims, allocation, freeing                                 */
/* ------------------------------------------------------------------ */

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

/* May the core's allocator work in group cg (and may fsck free bits in
 * it)? Not while its header or bitmaps are bad: pass 5 rebuilds them. */
static bool group_usable(const struct fsck_ctx *c, uint64_t cg)
{
	const struct mapfs_cgmem *m = &c->fs->cg[cg];

	return m->init && !m->bad;
}

/* Clear bno's bit on disk if it is set, nobody claims it and its group is
 * usable. */
static void disk_free_block(struct fsck_ctx *c, mapfs_bno_t bno)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	uint64_t cg = mapfs_bno_group(g, bno);
	struct fsck_group *grp = &c->grp[cg];
	uint64_t bit = bno % g->bpg;

	if (!mapfs_bno_is_data(g, bno) || fsck_block_claimed(c, bno) ||
	    !group_usable(c, cg) ||
	    !mapfs_bit_test(mapfs_cg_bbm(fs, cg), bit))
		return;
	if (grp->bbm_pre)
		mapfs_bit_clear(grp->bbm_pre, bit);
	(void)mapfs_free_block(fs, bno);
}

void fsck_drop_block(struct fsck_ctx *c, mapfs_bno_t bno, bool unclaim)
{
	if (unclaim)
		fsck_unclaim_block(c, bno);
	if (c->prepared) {
		disk_free_block(c, bno);
		return;
	}
	if (c->npending == c->pending_cap) {
		size_t cap = c->pending_cap ? 2 * c->pending_cap : 64;
		mapfs_bno_t *n = realloc(c->pending, cap * sizeof(*n));

		if (!n) {
			c->oom = true;
			return;
		}
		c->pending = n;
		c->pending_cap = cap;
	}
	c->pending[c->npending++] = bno;
}

static uint8_t *pre_map(struct fsck_ctx *c, uint8_t **mapp)
{
	if (!*mapp)
		*mapp = fsck_calloc(c, c->fs->g.bsize, 1);
	return *mapp;
}

/*
 * Make the core's allocator safe to use for repairs. Pass 1 (and 1b)
 * know every block and inode in use; the on-disk bitmaps may disagree.
 * In every group whose header and bitmaps check out, set the bits of
 * blocks and inodes in use that are marked free (remembering which, so
 * pass 5 still reports them); keep every other initialized group, and
 * unused groups holding blocks in use, from the allocator until pass 5
 * has rebuilt them. Then free the blocks pass 1 dropped that nobody
 * claims. Runs once, only while repairing.
 */
void fsck_prepare(struct fsck_ctx *c)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;

	if (c->prepared || !fsck_writing(c))
		return;
	c->prepared = true;
	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		struct fsck_group *grp = &c->grp[cg];
		struct mapfs_cgmem *m = &fs->cg[cg];
		uint32_t nb = mapfs_group_nblocks(g, cg);
		char why[128];
		bool unused;
		uint8_t *bm;

		if (!m->init) {
			if (grp->nclaimed) {
				grp->forced_bad = true;
				m->bad = true;
			}
			continue;
		}
		if (m->bad || mapfs_cg_check(fs, cg, &unused, why,
					     sizeof(why)) != 0) {
			grp->forced_bad = !m->bad;
			m->bad = true;
			continue;
		}
		bm = mapfs_cg_bbm(fs, cg);
		for (uint32_t b = g->data_off; grp->claimed && b < nb; b++) {
			if (!mapfs_bit_test(grp->claimed, b) ||
			    mapfs_bit_test(bm, b) ||
			    !pre_map(c, &grp->bbm_pre))
				continue;
			mapfs_bit_set(grp->bbm_pre, b);
			mapfs_bit_set(bm, b);
			mapfs_cg_bitmap_changed(fs, cg, false, b);
		}
		bm = mapfs_cg_ibm(fs, cg);
		for (uint32_t s = 0; s < g->ipg; s++) {
			mapfs_ino_t ino = cg * g->ipg + s;
			bool used = ino < g->first_ino ||
				    (s < grp->hiwater && grp->ino[s].mode);

			if (!used || mapfs_bit_test(bm, s) ||
			    !pre_map(c, &grp->ibm_pre))
				continue;
			mapfs_bit_set(grp->ibm_pre, s);
			mapfs_bit_set(bm, s);
			mapfs_cg_bitmap_changed(fs, cg, true, s);
		}
		m->bm_checked = true;
		/* Inodes pass 1 cleared leave the bitmap and the counts
		 * (a reserved number, the root, keeps its bit). */
		for (uint32_t s = 0; s < grp->hiwater; s++) {
			mapfs_ino_t ino = cg * g->ipg + s;
			bool dir = grp->ino[s].flags & FI_WAS_DIR;

			if (!(grp->ino[s].flags & FI_CLEARED))
				continue;
			grp->ino[s].flags = 0;
			if (ino >= g->first_ino) {
				if (mapfs_bit_test(bm, s))
					(void)mapfs_free_inode(fs, ino, dir);
			} else if (dir && m->ndirs) {
				m->ndirs--;
				fs->ndirs--;
				mapfs_cg_store(fs, cg);
			}
		}
	}
	for (size_t i = 0; i < c->npending; i++)
		disk_free_block(c, c->pending[i]);
	c->npending = 0;
}

/* Before pass 5: groups kept from the allocator become what they were,
 * so pass 5 reports and rebuilds them. */
void fsck_unprepare(struct fsck_ctx *c)
{
	for (uint64_t cg = 0; c->prepared && cg < c->fs->g.ngroups; cg++) {
		if (c->grp[cg].forced_bad) {
			c->fs->cg[cg].bad = false;
			c->grp[cg].forced_bad = false;
		}
	}
}

/*
 * The allocator found no room because every group with room is kept from
 * it (damaged header or bitmaps, pass 5's to rebuild). Rebuild those now
 * from what pass 1 found, so the repair can go on; pass 5 then finds them
 * right. True if any group became usable.
 */
bool fsck_rebuild_early(struct fsck_ctx *c)
{
	struct mapfs_fs *fs = c->fs;
	bool any = false;

	for (uint64_t cg = 0; cg < fs->g.ngroups; cg++) {
		uint64_t fb, fi, nd;

		/* Kept from the allocator by fsck_prepare, or found bad
		 * when the image was opened. */
		if (!(c->grp[cg].forced_bad || fs->cg[cg].bad) ||
		    !fs->cg[cg].init)
			continue;
		if (!any && !fsck_problem(c, P1B_GROUP_REBUILT,
					  "repairs need room: rebuilding the "
					  "bitmaps and header of damaged "
					  "groups now"))
			return false;
		fsck_group_counts(c, cg, &fb, &fi, &nd);
		fsck_rebuild_group(c, cg, fb, fi, nd);
		fs->cg[cg].bad = false;
		c->grp[cg].forced_bad = false;
		fsck_verbose(c, "  group %llu rebuilt", (unsigned long long)cg);
		any = true;
	}
	if (any) {
		fs->free_blocks = fs->free_inodes = fs->ndirs = 0;
		for (uint64_t cg = 0; cg < fs->g.ngroups; cg++) {
			fs->free_blocks += fs->cg[cg].free_blocks;
			fs->free_inodes += fs->cg[cg].free_inodes;
			fs->ndirs += fs->cg[cg].ndirs;
		}
	}
	return any;
}

int fsck_alloc_block(struct fsck_ctx *c, mapfs_bno_t pref, mapfs_bno_t *bnop)
{
	int err;

	fsck_prepare(c);
	err = mapfs_alloc_block(c->fs, pref, true, bnop);
	if (err == -ENOSPC && fsck_rebuild_early(c))
		err = mapfs_alloc_block(c->fs, pref, true, bnop);
	if (err == 0)
		(void)fsck_claim_block(c, *bnop);
	return err;
}

static int claim_cb(void *arg, const struct mapfs_blkvisit *v)
{
	struct fsck_ctx *c = arg;

	if (v->valid)
		(void)fsck_claim_block(c, v->bno);
	return c->oom ? -1 : 0;
}

void fsck_claim_map(struct fsck_ctx *c, const struct mapfs_inode *ip)
{
	(void)mapfs_blockmap_walk(c->fs, ip, claim_cb, c);
}

/* Free the blocks of a map that was repaired (every pointer valid): stop
 * at anything else rather than follow it. */
static int free_cb(void *arg, const struct mapfs_blkvisit *v)
{
	struct fsck_ctx *c = arg;

	if (!v->valid || !v->crc_ok)
		return 1;
	fsck_drop_block(c, v->bno, true);
	return 0;
}

/* The tables after inode ino stopped being in use. */
static void model_inode_gone(struct fsck_ctx *c, mapfs_ino_t ino,
			     struct fsck_ino *e)
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

void fsck_free_inode(struct fsck_ctx *c, mapfs_ino_t ino)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	struct fsck_ino *e = fsck_ino_get(c, ino);
	uint64_t cg = mapfs_ino_group(g, ino);
	struct mapfs_inode ip;
	bool dir;

	if (!e || !e->mode)
		return;
	dir = (e->mode & MAPFS_IFMT) == MAPFS_IFDIR;
	if (mapfs_inode_decode(fs, ino, &ip) == 0) {
		if (mapfs_inode_has_blocks(&ip))
			(void)mapfs_blockmap_walk(fs, &ip, free_cb, c);
		/* pass 1 claimed a loaded inode's xattr block */
		if (ip.xattr && (e->flags & FI_LOADED) &&
		    mapfs_bno_is_data(g, ip.xattr))
			fsck_drop_block(c, ip.xattr, true);
	}
	mapfs_inode_clear(fs, ino);
	model_inode_gone(c, ino, e);
	if (c->prepared && group_usable(c, cg) &&
	    mapfs_bit_test(mapfs_cg_ibm(fs, cg), ino % g->ipg))
		(void)mapfs_free_inode(fs, ino, dir);
}

/* The tables after the core allocated inode ino: grow the group's table
 * to the new high-water mark. */
static struct fsck_ino *model_inode_new(struct fsck_ctx *c, mapfs_ino_t ino,
					uint32_t mode)
{
	const struct mapfs_geom *g = &c->fs->g;
	uint64_t cg = mapfs_ino_group(g, ino);
	struct fsck_group *grp = &c->grp[cg];
	uint32_t slot = (uint32_t)(ino % g->ipg);
	struct fsck_ino *e;

	if (slot >= grp->hiwater) {
		const struct mapfs_dcg *h = mapfs_cg_hdr(c->fs, cg);
		uint32_t hw = mapfs_cg_ihiwater(h);
		struct fsck_ino *n;

		if (hw <= slot || hw > g->ipg)
			hw = slot + 1;
		n = realloc(grp->ino, hw * sizeof(*n));
		if (!n) {
			c->oom = true;
			return NULL;
		}
		memset(n + grp->hiwater, 0,
		       (hw - grp->hiwater) * sizeof(*n));
		grp->ino = n;
		grp->hiwater = hw;
	}
	e = &grp->ino[slot];
	memset(e, 0, sizeof(*e));
	e->mode = mode;
	e->flags = FI_LOADED;
	if ((mode & MAPFS_IFMT) == MAPFS_IFDIR) {
		grp->dirs++;
		c->ndirs++;
	} else {
		c->nfiles++;
	}
	if (ino >= g->first_ino)
		grp->used_inodes++;
	return e;
}

int fsck_make_dir(struct fsck_ctx *c, mapfs_ino_t ino, mapfs_ino_t parent,
		  struct mapfs_inode *ip)
{
	struct mapfs_fs *fs = c->fs;
	struct mapfs_timespec now = mapfs_now();
	struct fsck_ino *e;
	uint32_t gen;
	int err;

	fsck_prepare(c);
	if (ino == 0) {
		err = mapfs_alloc_inode(fs, parent, true, &ino);
		if (err == -ENOSPC && fsck_rebuild_early(c))
			err = mapfs_alloc_inode(fs, parent, true, &ino);
		if (err < 0)
			return err;
	} else {
		/* A reserved number (the root): its bit is always set. */
		fs->cg[0].ndirs++;
		fs->ndirs++;
	}
	gen = mapfs_inode_new_gen(fs, ino, now);
	memset(ip, 0, sizeof(*ip));
	ip->ino = ino;
	ip->mode = MAPFS_IFDIR | 0755;
	ip->nlink = 2;
	ip->gen = gen;
	ip->atime = ip->mtime = ip->ctime = ip->btime = now;
	mapfs_inode_store(fs, ip);
	e = model_inode_new(c, ino, ip->mode);
	if (!e)
		return -ENOMEM;
	err = mapfs_dir_init(fs, ip, parent, true);
	if (err == -ENOSPC && fsck_rebuild_early(c))
		err = mapfs_dir_init(fs, ip, parent, true);
	fsck_claim_map(c, ip);
	if (err < 0)
		return err;
	e->nlink = 2;
	e->flags |= FI_DOT | FI_DOTDOT;
	e->dotdot = parent;
	return 0;
}

int fsck_dir_add(struct fsck_ctx *c, struct mapfs_inode *dir,
		 const char *name, mapfs_ino_t ino, uint32_t type)
{
	uint64_t blocks = dir->blocks;
	int err;

	fsck_prepare(c);
	err = mapfs_dir_add(c->fs, dir, name, (uint32_t)strlen(name), ino,
			    type, true);
	if (err == -ENOSPC && fsck_rebuild_early(c))
		err = mapfs_dir_add(c->fs, dir, name, (uint32_t)strlen(name),
				    ino, type, true);
	if (dir->blocks != blocks)
		fsck_claim_map(c, dir);
	return err;
}

int fsck_set_nlink(struct fsck_ctx *c, mapfs_ino_t ino, uint32_t nlink)
{
	struct fsck_ino *e = fsck_ino_get(c, ino);
	struct mapfs_inode ip;
	int err = mapfs_inode_load(c->fs, ino, &ip);

	if (err < 0)
		return err;
	ip.nlink = nlink;
	mapfs_inode_store(c->fs, &ip);
	if (e)
		e->nlink = nlink;
	return 0;
}

/* "-C"-style progress on stderr: the whole run as one percentage (each
 * pass an equal share), redrawn in place when its tenth changes. */
void fsck_progress(struct fsck_ctx *c, uint64_t done, uint64_t total)
{
	int tenth;

	if (!c->progress)
		return;
	if (total == 0 || done > total)
		done = total = 1;
	tenth = (int)((c->progress_pass * 1000 +
		       (int)(done * 1000 / total)) / FSCK_NPASSES);
	if (tenth == c->progress_last)
		return;
	c->progress_last = tenth;
	fprintf(stderr, "\r%s: %d.%d%% ", c->image, tenth / 10, tenth % 10);
	fflush(stderr);
}

void fsck_progress_end(struct fsck_ctx *c)
{
	if (!c->progress)
		return;
	fprintf(stderr, "\r%*s\r", 60, "");
	fflush(stderr);
}
