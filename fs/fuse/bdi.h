/* SPDX-License-Identifier: MIT */
/* bdi.h - the kernel's read-ahead window of our own mount (bdi.c). */
#ifndef MAPFS_BDI_H
#define MAPFS_BDI_H

/* The read-ahead window a root daemon gives its mount (KiB). */
#define BDI_READ_AHEAD_KB 1024

/* Right after the mount, as root: find our mount (fstype fuse.mapfs) in
 * /proc/self/mountinfo and remember its read_ahead_kb file for
 * bdi_init_replied. Before the session loop starts. Returns 0 (also when
 * not root: then nothing is done), or -errno when the mount cannot be
 * found. */
int bdi_arm(const char *mountpoint);

/* The INIT reply has been written to /dev/fuse, so the kernel has
 * processed it (and set the window it allows): raise read_ahead_kb to
 * BDI_READ_AHEAD_KB if armed and lower, once. Any thread. */
void bdi_init_replied(void);

#endif
