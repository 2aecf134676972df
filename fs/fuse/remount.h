/* SPDX-License-Identifier: MIT */
/* remount.h - mount -o remount,ro|rw of a running mapfs (remount.c). */
#ifndef MAPFS_REMOUNT_H
#define MAPFS_REMOUNT_H

#include <stdbool.h>
#include <stddef.h>

struct daemon;

/* "mapfs IMAGE MNT -o remount,..." (mount(8) -> mount.fuse3 -> mapfs):
 * remount the existing mapfs mount at mnt read-only (ro) or read-write,
 * telling its daemon through its control socket, and start no daemon.
 * image may be NULL (the mount table names it). 0, or -errno with a
 * sentence in why. */
int remount_run(const char *image, const char *mnt, bool ro, char *why,
		size_t whylen);

/* In the daemon, once mounted at mountpoint (as resolved before the
 * mount): listen on the mount's control socket (an abstract unix socket
 * named after the mount's device numbers in mountinfo) for remount_run's
 * requests, on a thread of its own that never touches the mount. 0 or
 * -errno. */
int remount_listen(struct daemon *d, const char *mountpoint);
/* Stop that thread (before the daemon exits). */
void remount_stop(void);

#endif
