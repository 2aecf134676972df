/* SPDX-License-Identifier: MIT */
/*
 * sbprint.h - the superblock listing shared by dumpfs.mapfs (its first
 * part, and all of it with -s) and tune.mapfs -l (sbprint.c), text or
 * JSON through out.h. Part of the small dump library (mapfs-dump) both
 * programs link.
 */
#ifndef MAPFS_DUMP_SBPRINT_H
#define MAPFS_DUMP_SBPRINT_H

#include "mapfs.h"
#include "out.h"

/* Called with one message per problem seen in the superblock (a copy
 * that does not decode, counts that disagree on a clean image, ...). */
typedef void (*sbprint_problem_fn)(void *arg, const char *msg);

/* Print fs's superblock (the copy of group sb_group is the one in use:
 * 0 for the primary), its journal, and where every copy is and whether
 * it decodes and agrees, as one object "superblock". mounted_at: where a
 * mapfs daemon has the image mounted (its "mounted" state is then no
 * problem), or NULL. */
void sbprint_superblock(struct out *o, const struct mapfs_fs *fs,
			uint64_t sb_group, const char *mounted_at,
			sbprint_problem_fn problem, void *arg);

#endif /* MAPFS_DUMP_SBPRINT_H */
