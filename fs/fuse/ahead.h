/* SPDX-License-Identifier: MIT */
/* ahead.h - the daemon's write-ahead helper thread (ahead.c). */
#ifndef MAPFS_AHEAD_H
#define MAPFS_AHEAD_H

#include <stdint.h>

#include "mapfs.h"

struct ahead_stats {
	uint64_t queued;	/* ranges handed to the thread */
	uint64_t dropped;	/* ... not, the queue being full */
	uint64_t failed;	/* ranges madvise refused */
};

/* Start the thread and set fs->ahead_hook. Call with the filesystem
 * lock free or held exclusively (the hook is read under it). */
int ahead_start(struct mapfs_fs *fs);
/* Clear the hook, stop and join the thread; its counts into *st (may be
 * NULL). Before the image is unmapped. */
void ahead_stop(struct mapfs_fs *fs, struct ahead_stats *st);

#endif
