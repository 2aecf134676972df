/* SPDX-License-Identifier: MIT */
/*
 * pass3.c - Pass 3: connectivity.
 *
 * Every in-use directory must be reachable from the root by names. Pass 2
 * recorded, for each directory, the one directory that names it
 * (`parent`); following parents from any directory must reach the root.
 * A chain that ends at a directory nobody names is cut off (reported
 * once, at its top); a chain that comes back to itself is a loop cut off
 * from the root (reported once per loop). Each directory is visited once
 * over the whole pass: marks remember reached (1), cut off (2), and "on
 * the chain being walked" (3), so the walk is bounded by the number of
 * directories.
 *
 * The root and lost+found are checked (and made, if repairing) first, so
 * that cut-off directories can be reconnected as /lost+found/#INO when
 * found; a loop is broken by removing the entry that names one of its
 * directories in the loop and reconnecting that directory. Then '..' of
 * every named directory must be the directory naming it.
 */
#include "fsck.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MARK_UNKNOWN, MARK_REACHED, MARK_CUT, MARK_WALKING };

/* Find the name dir gives to ino (for breaking a loop). */
struct find_name {
	mapfs_ino_t ino;
	char name[MAPFS_NAME_MAX + 1];
};

static int find_name_cb(void *arg, const char *name, uint32_t namelen,
			mapfs_ino_t ino, uint32_t type, uint64_t next_off)
{
	struct find_name *f = arg;

	(void)type;
	(void)next_off;
	if (ino != f->ino || (namelen == 1 && name[0] == '.') ||
	    (namelen == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	memcpy(f->name, name, namelen);
	f->name[namelen] = 0;
	return 1;
}

/* Take the directory x out of the loop it is in: remove the entry its
 * parent (in the loop) gives it. */
static int unlink_from_parent(struct fsck_ctx *c, mapfs_ino_t x,
			      struct fsck_ino *e)
{
	struct mapfs_fs *fs = c->fs;
	struct fsck_ino *pe = fsck_ino_get(c, e->parent);
	struct mapfs_inode pip;
	struct find_name f;
	mapfs_ino_t got;
	int err;

	err = mapfs_inode_load(fs, e->parent, &pip);
	if (err < 0)
		return err;
	f.ino = x;
	if (mapfs_dir_iterate(fs, &pip, 0, find_name_cb, &f) != 1)
		return -ENOENT;
	err = mapfs_dir_remove(fs, &pip, f.name, (uint32_t)strlen(f.name),
			       &got);
	if (err < 0)
		return err;
	/* The parent's link count is left to pass 4: whether it counted
	 * this entry is not known. */
	if (pe && pe->subdirs)
		pe->subdirs--;
	if (e->refs)
		e->refs--;
	e->parent = 0;
	return 0;
}

/* An unreachable directory at the top of its chain: free it if it is an
 * empty leftover of a crash, else reconnect it. True if it is now
 * reachable. */
static bool fix_unreachable(struct fsck_ctx *c, mapfs_ino_t x,
			    struct fsck_ino *e, bool loop)
{
	int err;

	if (!loop && e->nlink == 0 && e->subdirs == 0 &&
	    !(e->flags & (FI_HAS_ENTRIES | FI_CHUNK_BAD))) {
		/* Removed while open, then a crash: pass 4 frees it with
		 * the other orphans. */
		if (e->flags & FI_LISTED)
			return false;
		if (fsck_problem(c, P3_DIR_LEAK,
				 "directory inode %llu is empty, has link "
				 "count 0 and no name",
				 (unsigned long long)x))
			fsck_free_inode(c, x);
		return false;
	}
	if (loop) {
		if (!fsck_problem(c, P3_DIR_LOOP,
				  "directory inode %llu is in a loop of "
				  "directories naming each other, cut off "
				  "from the root",
				  (unsigned long long)x))
			return false;
		err = unlink_from_parent(c, x, e);
	} else {
		if (!fsck_problem(c, P3_DIR_UNREACHABLE,
				  "directory inode %llu is not named by any "
				  "directory (cut off from the root)",
				  (unsigned long long)x))
			return false;
		err = 0;
	}
	if (err == 0)
		err = fsck_reconnect(c, x);
	if (err < 0) {
		fsck_repair_failed(c, err, "reconnecting to lost+found");
		return false;
	}
	fsck_note(c, "reconnected as /lost+found/#%llu",
		  (unsigned long long)x);
	return true;
}

/* Walk parents up from dir; mark the chain. path is scratch space. */
static void walk_up(struct fsck_ctx *c, mapfs_ino_t dir, mapfs_ino_t *path,
		    size_t cap)
{
	struct fsck_ino *e = fsck_ino_get(c, dir);
	mapfs_ino_t x = dir;
	size_t n = 0;
	uint32_t result;

	while (e && e->mark == MARK_UNKNOWN && n < cap) {
		e->mark = MARK_WALKING;
		path[n++] = x;
		if (e->parent == 0) {
			result = fix_unreachable(c, x, e, false) ?
				 MARK_REACHED : MARK_CUT;
			goto mark;
		}
		x = e->parent;
		e = fsck_ino_get(c, x);
	}
	if (!e) {
		result = MARK_CUT;
	} else if (e->mark == MARK_WALKING) {
		result = fix_unreachable(c, x, e, true) ? MARK_REACHED
							: MARK_CUT;
	} else if (e->mark == MARK_UNKNOWN) {
		result = MARK_CUT;	/* cap reached: cannot happen */
	} else {
		result = e->mark;
	}
mark:
	for (size_t i = 0; i < n; i++) {
		struct fsck_ino *pe = fsck_ino_get(c, path[i]);

		if (pe)
			pe->mark = result;
	}
}

/* The root must be an in-use directory whose '..' is itself. */
static bool check_root(struct fsck_ctx *c)
{
	struct fsck_ino *root = fsck_ino_get(c, MAPFS_ROOT_INO);
	struct mapfs_inode ip;
	int err;

	if (!fsck_is_dir(root)) {
		if (!fsck_problem(c, P3_NO_ROOT,
				  "root inode %u is not an in-use directory%s",
				  MAPFS_ROOT_INO,
				  root && root->mode ? "" : " (it is free)"))
			return false;
		if (root && root->mode)
			fsck_free_inode(c, MAPFS_ROOT_INO);
		err = fsck_make_dir(c, MAPFS_ROOT_INO, MAPFS_ROOT_INO, &ip);
		if (err < 0) {
			fsck_repair_failed(c, err, "creating the root");
			return false;
		}
		root = fsck_ino_get(c, MAPFS_ROOT_INO);
		root->parent = MAPFS_ROOT_INO;
		root->mark = MARK_REACHED;
		c->lost_found = 0;
		return true;
	}
	if ((root->flags & FI_DOTDOT) && root->dotdot != MAPFS_ROOT_INO &&
	    fsck_problem(c, P3_ROOT_DOTDOT,
			 "root directory: '..' names inode %llu",
			 (unsigned long long)root->dotdot)) {
		err = mapfs_inode_load(c->fs, MAPFS_ROOT_INO, &ip);
		if (err == 0)
			err = mapfs_dir_replace(c->fs, &ip, "..", 2,
						MAPFS_ROOT_INO, MAPFS_DT_DIR);
		if (err < 0)
			fsck_repair_failed(c, err, "setting '..'");
		else
			root->dotdot = MAPFS_ROOT_INO;
	}
	root->mark = MARK_REACHED;
	return true;
}

/* The root must name a lost+found directory; make one if repairing. */
static void check_lost_found(struct fsck_ctx *c)
{
	struct fsck_ino *lf = NULL, *root;
	struct mapfs_inode ip;
	mapfs_ino_t got;
	int err;

	if (c->lost_found == 0) {
		if (!fsck_problem(c, P3_NO_LOSTFOUND,
				  "the root directory has no lost+found"))
			return;
	} else {
		lf = fsck_ino_get(c, c->lost_found);
		if (fsck_is_dir(lf))
			return;
		if (!fsck_problem(c, P3_LOSTFOUND_NOT_DIR,
				  "lost+found (inode %llu) is not a "
				  "directory",
				  (unsigned long long)c->lost_found))
			return;
		err = mapfs_inode_load(c->fs, MAPFS_ROOT_INO, &ip);
		if (err == 0)
			err = mapfs_dir_remove(c->fs, &ip, "lost+found", 10,
					       &got);
		if (err < 0) {
			fsck_repair_failed(c, err, "removing the name");
			c->lost_found = 0;
			return;
		}
		if (lf && lf->refs)
			lf->refs--;
		c->lost_found = 0;
	}
	/* The new directory may grow the root's inode table. */
	err = fsck_make_dir(c, 0, MAPFS_ROOT_INO, &ip);
	if (err == 0) {
		struct mapfs_inode rip;

		err = mapfs_inode_load(c->fs, MAPFS_ROOT_INO, &rip);
		if (err == 0)
			err = fsck_dir_add(c, &rip, "lost+found", ip.ino,
					   MAPFS_DT_DIR);
	}
	if (err < 0) {
		fsck_repair_failed(c, err, "creating lost+found");
		return;
	}
	c->lost_found = ip.ino;
	lf = fsck_ino_get(c, ip.ino);
	lf->refs = 1;
	lf->parent = MAPFS_ROOT_INO;
	lf->mark = MARK_REACHED;
	root = fsck_ino_get(c, MAPFS_ROOT_INO);
	root->subdirs++;
	root->flags |= FI_HAS_ENTRIES;
	fsck_adjust_nlink(c, MAPFS_ROOT_INO, 1);
	fsck_note(c, "created /lost+found (inode %llu)",
		  (unsigned long long)ip.ino);
}

int fsck_pass3(struct fsck_ctx *c)
{
	const struct mapfs_geom *g = &c->fs->g;
	mapfs_ino_t *path;

	if (!check_root(c))
		return 0;
	/* lost+found first: reconnecting needs it. */
	check_lost_found(c);
	fsck_mark_orphans(c);

	path = fsck_calloc(c, c->ndirs + 1, sizeof(*path));
	if (!path)
		return -ENOMEM;
	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		for (uint32_t slot = 0;
		     c->grp[cg].ino && slot < c->grp[cg].hiwater; slot++) {
			struct fsck_ino *e = &c->grp[cg].ino[slot];

			if (fsck_is_dir(e) && e->mark == MARK_UNKNOWN)
				walk_up(c, cg * g->ipg + slot, path,
					c->ndirs + 1);
		}
	}
	free(path);

	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		struct fsck_group *grp = &c->grp[cg];

		for (uint32_t slot = 0; grp->ino && slot < grp->hiwater;
		     slot++) {
			struct fsck_ino *e = &grp->ino[slot];
			mapfs_ino_t ino = cg * g->ipg + slot;
			struct mapfs_inode ip;
			int err;

			if (!fsck_is_dir(e) || ino == MAPFS_ROOT_INO ||
			    e->parent == 0 || !(e->flags & FI_DOTDOT))
				continue;
			if (e->dotdot == e->parent ||
			    !fsck_problem(c, P3_DOTDOT_WRONG,
					  "directory inode %llu: '..' names "
					  "inode %llu but directory inode "
					  "%llu names it",
					  (unsigned long long)ino,
					  (unsigned long long)e->dotdot,
					  (unsigned long long)e->parent))
				continue;
			err = mapfs_inode_load(c->fs, ino, &ip);
			if (err == 0)
				err = mapfs_dir_replace(c->fs, &ip, "..", 2,
							e->parent,
							MAPFS_DT_DIR);
			if (err < 0)
				fsck_repair_failed(c, err, "setting '..'");
			else
				e->dotdot = e->parent;
		}
	}
	return 0;
}
