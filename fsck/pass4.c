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
 * orphan as above. Directories without a name were reported by pass 3,
 * except an empty one on the orphan list: that is an orphan as above.
 */
#include "fsck.h"

#include <errno.h>
#include <stdlib.h>

/* Take inode ino off the orphan list: clear its flag and link. */
static void unorphan(struct fsck_ctx *c, mapfs_ino_t ino)
{
	struct fsck_ino *e = fsck_ino_get(c, ino);
	struct mapfs_inode ip;

	if (mapfs_inode_load(c->fs, ino, &ip) < 0)
		return;
	ip.flags &= ~MAPFS_FL_ORPHAN;
	ip.orphan_next = 0;
	mapfs_inode_store(c->fs, &ip);
	if (e)
		e->flags &= ~FI_ORPHAN_FL;
}

/*
 * The orphan list. Repairing, every inode on it is dealt with as the
 * daemon does at mount after a crash: freed when it has neither links
 * nor names, otherwise taken off the list; a bad link ends the list
 * there. The list is empty afterwards.
 */
static void walk_orphans(struct fsck_ctx *c)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	mapfs_ino_t x = fs->orphan_head;
	uint64_t steps = 0;
	bool fixing = false;
	mapfs_ino_t *gone = NULL;	/* freed after the walk, so a loop */
	size_t ngone = 0, cap = 0;	/* back to one is still seen */

	if (x && fs->state == MAPFS_STATE_CLEAN &&
	    fsck_problem(c, P4_ORPHAN_CLEAN,
			 "the filesystem is marked clean but its orphan "
			 "list starts at inode %llu",
			 (unsigned long long)x))
		fixing = true;
	if (x && fsck_writing(c))
		fixing = true;
	while (x != 0 && steps++ <= g->ninodes) {
		struct mapfs_inode ip;
		struct fsck_ino *e;
		mapfs_ino_t next;

		if (!mapfs_ino_valid(g, x)) {
			fsck_problem(c, P4_ORPHAN_BAD_INO,
				     "orphan list names invalid inode %llu",
				     (unsigned long long)x);
			break;
		}
		e = fsck_ino_get(c, x);
		if (!e || e->mode == 0) {
			fsck_problem(c, P4_ORPHAN_FREE,
				     "orphan list names free inode %llu",
				     (unsigned long long)x);
			break;
		}
		if (e->flags & FI_ON_ORPHAN) {
			fsck_problem(c, P4_ORPHAN_LOOP,
				     "orphan list comes back to inode %llu",
				     (unsigned long long)x);
			break;
		}
		e->flags |= FI_ON_ORPHAN;
		/* A bad inode's next pointer cannot be trusted. */
		next = 0;
		if ((e->flags & FI_LOADED) &&
		    mapfs_inode_load(fs, x, &ip) == 0)
			next = ip.orphan_next;
		if (!(e->flags & FI_ORPHAN_FL) && (e->flags & FI_LOADED))
			fsck_problem(c, P4_ORPHAN_NOT_FLAGGED,
				     "inode %llu is on the orphan list "
				     "without the orphan flag",
				     (unsigned long long)x);
		if (e->nlink != 0 || e->refs != 0) {
			if (fsck_problem(c, P4_ORPHAN_NLINK,
					 "inode %llu is on the orphan list with "
					 "link count %u and %u names",
					 (unsigned long long)x, e->nlink,
					 e->refs))
				unorphan(c, x);
		} else if (fsck_problem(c, P4_ORPHAN_INODE,
					"inode %llu (%s) is on the orphan "
					"list: unlinked while open",
					(unsigned long long)x,
					fsck_type_name(e->mode))) {
			mapfs_ino_t *n = fsck_grow(gone, ngone, &cap,
						   sizeof(*n), 16);

			if (!n) {
				c->oom = true;
				break;
			}
			gone = n;
			gone[ngone++] = x;
		}
		x = next;
	}
	for (size_t i = 0; i < ngone; i++)
		fsck_free_inode(c, gone[i]);
	free(gone);
	if (fixing && fsck_writing(c))
		fs->orphan_head = 0;
}

int fsck_pass4(struct fsck_ctx *c)
{
	const struct mapfs_geom *g = &c->fs->g;

	walk_orphans(c);
	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		for (uint32_t slot = 0;
		     c->grp[cg].ino && slot < c->grp[cg].hiwater; slot++) {
			struct fsck_ino *e = &c->grp[cg].ino[slot];
			mapfs_ino_t ino = cg * g->ipg + slot;
			bool dir = (e->mode & MAPFS_IFMT) == MAPFS_IFDIR;
			uint64_t want;

			if (e->mode == 0)
				continue;
			if ((e->flags & FI_ORPHAN_FL) &&
			    !(e->flags & FI_ON_ORPHAN) &&
			    fsck_problem(c, P4_ORPHAN_FLAG,
					 "inode %llu has the orphan flag "
					 "but is not on the orphan list",
					 (unsigned long long)ino))
				unorphan(c, ino);
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
					/* Orphans: reported above. */
					if ((e->flags & FI_ON_ORPHAN) &&
					    e->nlink == 0)
						continue;
					if (e->nlink == 0) {
						if (fsck_problem(c,
							P4_INODE_LEAK,
							"inode %llu (%s) has "
							"link count 0 and no "
							"name",
							(unsigned long long)ino,
							fsck_type_name(
								e->mode)))
							fsck_free_inode(c, ino);
						continue;
					}
					if (!fsck_problem(c, P4_UNREFERENCED,
							  "inode %llu (%s) is "
							  "not named by any "
							  "directory",
							  (unsigned long long)
								  ino,
							  fsck_type_name(
								  e->mode)))
						continue;
					if (fsck_reconnect(c, ino) < 0) {
						fsck_repair_failed(c, -ENOENT,
							"reconnecting to "
							"lost+found");
						continue;
					}
					fsck_note(c, "reconnected as "
						  "/lost+found/#%llu",
						  (unsigned long long)ino);
				}
				want = e->refs;
			}
			if (want > MAPFS_LINK_MAX)
				want = MAPFS_LINK_MAX;
			if (e->nlink != want &&
			    fsck_problem(c, e->nlink > want ? P4_NLINK_HIGH :
							      P4_NLINK_LOW,
					 "inode %llu (%s): link count %u, "
					 "should be %llu",
					 (unsigned long long)ino,
					 fsck_type_name(e->mode), e->nlink,
					 (unsigned long long)want))
				(void)fsck_set_nlink(c, ino, (uint32_t)want);
		}
	}
	return 0;
}
