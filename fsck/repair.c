/* SPDX-License-Identifier: MIT */
/*
 * repair.c - the repairs the passes share: making the core's allocator
 * safe to use (fsck_prepare), allocating and dropping blocks, freeing and
 * making inodes and directories, names in lost+found, link counts, and
 * rewriting a group's bitmaps and header from the tables (pass 5, and
 * early when a repair needs room in a damaged group).
 *
 * Every change to the image goes through the core; each repair also keeps
 * fsck's tables (tables.c) in step, so later passes see the repaired
 * state. Only called after fsck_problem() said to repair.
 */
#include "fsck.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Repairs: claims, allocation, freeing                                 */
/* ------------------------------------------------------------------ */

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
	mapfs_bno_t *n;

	if (unclaim)
		fsck_unclaim_block(c, bno);
	if (c->prepared) {
		disk_free_block(c, bno);
		return;
	}
	n = fsck_grow(c->pending, c->npending, &c->pending_cap, sizeof(*n),
		      64);
	if (!n) {
		c->oom = true;
		return;
	}
	c->pending = n;
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
	fsck_ino_gone(c, ino, e);
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

/* Add to a directory's link count (a subdirectory's '..' came or went),
 * on disk and in the table. */
void fsck_adjust_nlink(struct fsck_ctx *c, mapfs_ino_t dir, int delta)
{
	struct fsck_ino *e = fsck_ino_get(c, dir);

	if (e && (int64_t)e->nlink + delta >= 0 &&
	    e->nlink + delta <= MAPFS_LINK_MAX)
		(void)fsck_set_nlink(c, dir, (uint32_t)(e->nlink + delta));
}

int fsck_reconnect(struct fsck_ctx *c, mapfs_ino_t ino)
{
	struct mapfs_fs *fs = c->fs;
	struct fsck_ino *e = fsck_ino_get(c, ino);
	struct fsck_ino *lf = fsck_ino_get(c, c->lost_found);
	struct mapfs_inode lip, ip;
	char name[32];
	int err;

	if (!e || !fsck_is_dir(lf) || !(lf->flags & FI_LOADED))
		return -ENOENT;
	err = mapfs_inode_load(fs, c->lost_found, &lip);
	if (err < 0)
		return err;
	snprintf(name, sizeof(name), "#%llu", (unsigned long long)ino);
	err = fsck_dir_add(c, &lip, name, ino, mapfs_mode_to_dt(e->mode));
	if (err < 0)
		return err;
	lf->flags |= FI_HAS_ENTRIES;
	e->refs++;
	if (!fsck_is_dir(e))
		return 0;
	/* A directory: lost+found gains a subdirectory (its '..'), and the
	 * directory's '..' names lost+found. */
	e->parent = c->lost_found;
	lf->subdirs++;
	fsck_adjust_nlink(c, c->lost_found, 1);
	err = mapfs_inode_load(fs, ino, &ip);
	if (err == 0)
		err = mapfs_dir_replace(fs, &ip, "..", 2, c->lost_found,
					MAPFS_DT_DIR);
	if (err == 0) {
		e->flags |= FI_DOTDOT;
		e->dotdot = c->lost_found;
	}
	return err;
}

/* The group's inode high-water mark as pass 5 rewrites it: kept for a
 * good header; for a rebuilt one, past the last inode in use (pass 1
 * scanned and cleaned every slot of such a group). */
static uint32_t new_hiwater(const struct fsck_ctx *c, uint64_t cg)
{
	const struct mapfs_geom *g = &c->fs->g;
	const struct fsck_group *grp = &c->grp[cg];
	const struct mapfs_dcg *h = mapfs_cg_hdr(c->fs, cg);
	uint32_t hw = cg == 0 ? (uint32_t)g->first_ino : 0;

	if (!c->fs->cg[cg].bad && h && mapfs_cg_magic(h) == MAPFS_CG_MAGIC &&
	    mapfs_cg_ihiwater(h) <= g->ipg)
		return mapfs_cg_ihiwater(h) > hw ? mapfs_cg_ihiwater(h) : hw;
	for (uint32_t s = grp->hiwater; s > hw; s--)
		if (grp->ino[s - 1].mode)
			return s;
	return hw;
}

/*
 * Write group cg as passes 1-4 left it: both bitmaps from the tables
 * (metadata and reserved inodes included), the counts, and a header
 * rebuilt around them. Done for every initialized group that differs in
 * anything; what differed was reported (a repair's own consequences,
 * such as the bit of an inode pass 1 cleared, are part of that repair).
 */
void fsck_rebuild_group(struct fsck_ctx *c, uint64_t cg, uint64_t fb,
			uint64_t fi, uint64_t nd)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	const struct fsck_group *grp = &c->grp[cg];
	uint32_t nb = mapfs_group_nblocks(g, cg);
	uint32_t ibytes = mapfs_cg_bitmap_pages(fs, cg, true) * MAPFS_PAGE_SIZE;
	uint32_t bbytes = mapfs_cg_bitmap_pages(fs, cg, false) *
			  MAPFS_PAGE_SIZE;
	uint8_t *ibm = mapfs_cg_ibm(fs, cg), *bbm = mapfs_cg_bbm(fs, cg);
	uint8_t *ni, *nbm;
	uint32_t hw = new_hiwater(c, cg);
	bool unused, same;
	char why[64];

	ni = fsck_calloc(c, ibytes, 1);
	nbm = fsck_calloc(c, bbytes, 1);
	if (!ni || !nbm)
		goto out;
	for (uint32_t s = 0; s < g->ipg; s++)
		if (cg * g->ipg + s < g->first_ino ||
		    (s < grp->hiwater && s < hw && grp->ino[s].mode))
			mapfs_bit_set(ni, s);
	for (uint32_t b = 0; b < nb; b++)
		if (b < g->data_off ||
		    (grp->claimed && mapfs_bit_test(grp->claimed, b)))
			mapfs_bit_set(nbm, b);
	same = !memcmp(ni, ibm, ibytes) && !memcmp(nbm, bbm, bbytes) &&
	       fs->cg[cg].free_blocks == fb && fs->cg[cg].free_inodes == fi &&
	       fs->cg[cg].ndirs == nd && !fs->cg[cg].bad &&
	       mapfs_cg_check(fs, cg, &unused, why, sizeof(why)) == 0 &&
	       mapfs_cg_ihiwater(mapfs_cg_hdr(fs, cg)) == hw;
	if (same)
		goto out;
	/* Blocks this frees were not zeroed in the host. */
	if (mapfs_fs_unzeroed(fs) < 0)
		goto out;
	memcpy(ibm, ni, ibytes);
	memcpy(bbm, nbm, bbytes);
	fs->cg[cg].free_blocks = fb;
	fs->cg[cg].free_inodes = fi;
	fs->cg[cg].ndirs = nd;
	mapfs_cg_rebuild(fs, cg, hw);
out:
	free(ni);
	free(nbm);
}
