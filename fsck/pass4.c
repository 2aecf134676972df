/* SPDX-License-Identifier: MIT */
/*
 * pass4.c - Pass 4: reference counts and the orphan list.
 *
 * The orphan list (superblock head, then di_orphan_next) holds inodes
 * whose last name went while they were open: nlink 0, MAPFS_FL_ORPHAN
 * set. It may be non-empty only after a crash (state not CLEAN); it is
 * walked with a bound of ninodes steps and a seen-flag, so a loop ends.
 *
 * Then every in-use inode's link count must equal its names:
 *  - a non-directory: the entries naming it;
 *  - a directory: the entry naming it (none for the root), plus its own
 *    '.', plus one '..' per subdirectory, plus 1 for the root's '..'.
 * An in-use non-directory with no name is unreferenced, unless it is an
 * orphan as above. Directories without a name were reported by pass 3.
 */
#include "fsck.h"

#include <stdlib.h>

static void walk_orphans(struct fsck_ctx *c)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	mapfs_ino_t x = fs->orphan_head;
	uint64_t steps = 0;

	if (x && fs->state == MAPFS_STATE_CLEAN)
		fsck_problem(c, P4_ORPHAN_CLEAN,
			     "the filesystem is marked clean but its orphan "
			     "list starts at inode %llu",
			     (unsigned long long)x);
	while (x != 0 && steps++ <= g->ninodes) {
		struct mapfs_inode ip;
		struct fsck_ino *e;

		if (!mapfs_ino_valid(g, x)) {
			fsck_problem(c, P4_ORPHAN_BAD_INO,
				     "orphan list names invalid inode %llu",
				     (unsigned long long)x);
			return;
		}
		e = fsck_ino_get(c, x);
		if (!e || e->mode == 0) {
			fsck_problem(c, P4_ORPHAN_FREE,
				     "orphan list names free inode %llu",
				     (unsigned long long)x);
			return;
		}
		if (e->flags & FI_ON_ORPHAN) {
			fsck_problem(c, P4_ORPHAN_LOOP,
				     "orphan list comes back to inode %llu",
				     (unsigned long long)x);
			return;
		}
		e->flags |= FI_ON_ORPHAN;
		if (!(e->flags & FI_ORPHAN_FL) && (e->flags & FI_LOADED))
			fsck_problem(c, P4_ORPHAN_NOT_FLAGGED,
				     "inode %llu is on the orphan list "
				     "without the orphan flag",
				     (unsigned long long)x);
		if (e->nlink != 0)
			fsck_problem(c, P4_ORPHAN_NLINK,
				     "inode %llu is on the orphan list with "
				     "link count %u",
				     (unsigned long long)x, e->nlink);
		/* A bad inode's next pointer cannot be trusted. */
		if (!(e->flags & FI_LOADED) ||
		    mapfs_inode_load(fs, x, &ip) < 0)
			return;
		x = ip.orphan_next;
	}
}

int fsck_pass4(struct fsck_ctx *c)
{
	const struct mapfs_geom *g = &c->fs->g;

	walk_orphans(c);
	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		struct fsck_group *grp = &c->grp[cg];

		for (uint32_t slot = 0; grp->ino && slot < grp->hiwater;
		     slot++) {
			struct fsck_ino *e = &grp->ino[slot];
			mapfs_ino_t ino = cg * g->ipg + slot;
			bool dir = (e->mode & MAPFS_IFMT) == MAPFS_IFDIR;
			uint64_t want;

			if (e->mode == 0)
				continue;
			if ((e->flags & FI_ORPHAN_FL) &&
			    !(e->flags & FI_ON_ORPHAN))
				fsck_problem(c, P4_ORPHAN_FLAG,
					     "inode %llu has the orphan flag "
					     "but is not on the orphan list",
					     (unsigned long long)ino);
			if (dir) {
				/* Cut-off directories: pass 3. With an
				 * unreadable chunk the subdirectories are
				 * not all known: pass 2 reported it. */
				if (e->parent == 0 ||
				    (e->flags & FI_CHUNK_BAD))
					continue;
				want = (uint64_t)e->refs + 1 + e->subdirs +
				       (ino == MAPFS_ROOT_INO ? 1 : 0);
			} else {
				if (e->refs == 0) {
					if ((e->flags & FI_ON_ORPHAN) &&
					    e->nlink == 0)
						continue;
					fsck_problem(c, P4_UNREFERENCED,
						     "inode %llu (%s) is not "
						     "named by any directory",
						     (unsigned long long)ino,
						     fsck_type_name(e->mode));
					continue;
				}
				want = e->refs;
			}
			if (e->nlink > want)
				fsck_problem(c, P4_NLINK_HIGH,
					     "inode %llu (%s): link count %u, "
					     "should be %llu",
					     (unsigned long long)ino,
					     fsck_type_name(e->mode), e->nlink,
					     (unsigned long long)want);
			else if (e->nlink < want)
				fsck_problem(c, P4_NLINK_LOW,
					     "inode %llu (%s): link count %u, "
					     "should be %llu",
					     (unsigned long long)ino,
					     fsck_type_name(e->mode), e->nlink,
					     (unsigned long long)want);
		}
	}
	return 0;
}
