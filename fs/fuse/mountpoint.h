/* SPDX-License-Identifier: MIT */
/* mountpoint.h - checks of the mount point before mounting (mountpoint.c). */
#ifndef MAPFS_MOUNTPOINT_H
#define MAPFS_MOUNTPOINT_H

#include <stdbool.h>

#include "mapfs.h"

/* Make mnt ready for a mount of the image at image_real (its real path):
 * clear dead mapfs mounts left there by killed daemons, refuse a mount
 * point that is the image or contains it. Prints the reason and returns
 * -1 when mnt cannot be used; 0 when it can. */
int mountpoint_prepare(const char *mnt, const char *image_real);

/* A second mount of an image that a live daemon serves at another mount
 * point: as root, show the same filesystem at mnt too (a bind mount;
 * read-only if ro), as a second mount of a block device does. 1 when
 * done (no daemon is needed), 0 when it does not apply (not root, not
 * mounted, its daemon gone, or the same mount point), -1 with a message
 * when it applies and failed, or when another region (want) of the image
 * is mounted by a daemon that cannot share the image. */
int mountpoint_share(const char *mnt, const char *image_real, bool ro,
		     const struct mapfs_region *want);
/* Record, on the daemon's open image fd, the region r it serves (an OFD
 * read lock on that byte range; size 0: to the end), for a later
 * mountpoint_share to compare. 0 or -errno. */
int mountpoint_claim_region(int fd, const struct mapfs_region *r);

/* -o auto_unmount: start a guard process that, once this daemon has
 * exited in any way (SIGKILL included), unmounts mnt if a dead mount of
 * the image is still there. 0, or -1 if it could not be started. Call
 * after mounting, before any thread is started. */
int mountpoint_guard(const char *mnt, const char *image_real);
/* The guard process: mapfs-guard MOUNTPOINT_GUARD_ARG FD DIR IMAGE. */
#define MOUNTPOINT_GUARD_ARG "--auto-unmount-guard"
int mountpoint_guard_run(const char *fd, const char *dir,
			 const char *image_real);

#endif
