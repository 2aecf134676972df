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
 * Then '..' of every named directory must be the directory naming it, the
 * root's '..' the root, and the root must hold a lost+found directory.
 */
#include "fsck.h"

#include <errno.h>
#include <stdlib.h>

enum { MARK_UNKNOWN, MARK_REACHED, MARK_CUT, MARK_WALKING };

static bool is_dir(const struct fsck_ino *e)
{
	return e && (e->mode & MAPFS_IFMT) == MAPFS_IFDIR;
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
			fsck_problem(c, P3_DIR_UNREACHABLE,
				     "directory inode %llu is not named by any "
				     "directory (cut off from the root)",
				     (unsigned long long)x);
			e = NULL;
			break;
		}
		x = e->parent;
		e = fsck_ino_get(c, x);
	}
	if (!e) {
		result = MARK_CUT;
	} else if (e->mark == MARK_WALKING) {
		fsck_problem(c, P3_DIR_LOOP,
			     "directory inode %llu is in a loop of directories "
			     "naming each other, cut off from the root",
			     (unsigned long long)x);
		result = MARK_CUT;
	} else if (e->mark == MARK_UNKNOWN) {
		result = MARK_CUT;	/* cap reached: cannot happen */
	} else {
		result = e->mark;
	}
	for (size_t i = 0; i < n; i++)
		fsck_ino_get(c, path[i])->mark = result;
}

int fsck_pass3(struct fsck_ctx *c)
{
	const struct mapfs_geom *g = &c->fs->g;
	struct fsck_ino *root = fsck_ino_get(c, MAPFS_ROOT_INO);
	struct fsck_ino *lf;
	mapfs_ino_t *path;

	if (!is_dir(root)) {
		fsck_problem(c, P3_NO_ROOT,
			     "root inode %u is not an in-use directory%s",
			     MAPFS_ROOT_INO,
			     root && root->mode ? "" : " (it is free)");
		return 0;
	}
	if ((root->flags & FI_DOTDOT) && root->dotdot != MAPFS_ROOT_INO)
		fsck_problem(c, P3_ROOT_DOTDOT,
			     "root directory: '..' names inode %llu",
			     (unsigned long long)root->dotdot);
	root->mark = MARK_REACHED;

	path = fsck_calloc(c, c->ndirs + 1, sizeof(*path));
	if (!path)
		return -ENOMEM;
	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		struct fsck_group *grp = &c->grp[cg];

		for (uint32_t slot = 0; grp->ino && slot < grp->hiwater;
		     slot++) {
			struct fsck_ino *e = &grp->ino[slot];

			if (is_dir(e) && e->mark == MARK_UNKNOWN)
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

			if (!is_dir(e) || ino == MAPFS_ROOT_INO ||
			    e->parent == 0 || !(e->flags & FI_DOTDOT))
				continue;
			if (e->dotdot != e->parent)
				fsck_problem(c, P3_DOTDOT_WRONG,
					     "directory inode %llu: '..' names "
					     "inode %llu but directory inode "
					     "%llu names it",
					     (unsigned long long)ino,
					     (unsigned long long)e->dotdot,
					     (unsigned long long)e->parent);
		}
	}

	if (c->lost_found == 0) {
		fsck_problem(c, P3_NO_LOSTFOUND,
			     "the root directory has no lost+found");
	} else {
		lf = fsck_ino_get(c, c->lost_found);
		if (!is_dir(lf))
			fsck_problem(c, P3_LOSTFOUND_NOT_DIR,
				     "lost+found (inode %llu) is not a "
				     "directory",
				     (unsigned long long)c->lost_found);
	}
	return 0;
}
