/* SPDX-License-Identifier: MIT */
/*
 * bdi.c - the kernel's read-ahead window of our own mount.
 *
 * The kernel reads a FUSE file ahead in windows of its mount's
 * read_ahead_kb (/sys/class/bdi/MAJ:MIN/read_ahead_kb, MAJ:MIN being the
 * anonymous device of the mount's superblock), 128 KiB by default; the
 * INIT reply can lower it but not raise it: a sequential reader costs a
 * READ per 128 KiB. Raised to 1 MiB, one request of the largest size we
 * take, a cold 1 GiB read went 672-778 -> 831-936 MiB/s (docs/PERF.md).
 * Only root may write it; other daemons keep the default.
 *
 * Invariant: no thread of the daemon makes a system call on its own
 * mount. A thread blocked there on a request (the kernel waits for the
 * answer of a request already taken uninterruptibly) would keep the
 * daemon's files open after the daemon is killed, so /dev/fuse is never
 * released, the connection never ended, and the mount hangs until it is
 * aborted by hand (docs/DURABILITY.md, "Killing the daemon"). So:
 *   - the device number comes from /proc/self/mountinfo (fs/mounts.c),
 *     read right after the mount (the last line with our mount point and
 *     type fuse.mapfs), not from stat() of the mount point;
 *   - the value is written by the thread that sent the INIT reply, once
 *     its write to /dev/fuse has returned. The kernel processes a reply
 *     inside that write (fuse_dev_do_write ends the request; INIT's end
 *     callback, process_init_reply, sets the window and then marks the
 *     connection initialized), and INIT travels through /dev/fuse on both
 *     transports: io_uring queues can only be registered after it.
 * This file makes no FUSE call; uring.c, which sees the INIT reply, calls
 * bdi_init_replied.
 */
#include "bdi.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mapfs.h"

/* The read_ahead_kb file, "" when not armed. Written before the session
 * loop starts, read by a loop thread. */
static char ra_path[64];
static atomic_bool ra_done;

struct ours {
	const char *dir;
	unsigned maj, min;
	bool found;
};

/* Our mount: type fuse.mapfs at the mount point; the last such line is
 * the newest mount there, the one just made (on top of any older one). */
static int find_ours(const struct mapfs_mountent *m, void *arg)
{
	struct ours *o = arg;

	if (!strcmp(m->fstype, "fuse.mapfs") && !strcmp(m->dir, o->dir)) {
		o->maj = m->major;
		o->min = m->minor;
		o->found = true;
	}
	return 0;
}

int bdi_arm(const char *mountpoint)
{
	struct ours o = { mountpoint, 0, 0, false };
	int err;

	if (geteuid() != 0)
		return 0;
	err = mapfs_mounts_each(find_ours, &o);
	if (err < 0)
		return err;
	if (!o.found)
		return -ENOENT;
	snprintf(ra_path, sizeof(ra_path),
		 "/sys/class/bdi/%u:%u/read_ahead_kb", o.maj, o.min);
	return 0;
}

void bdi_init_replied(void)
{
	char cur[32] = "";
	FILE *f;

	if (!ra_path[0] || atomic_exchange(&ra_done, true))
		return;
	f = fopen(ra_path, "r+e");
	if (!f)
		return;
	if (fgets(cur, sizeof(cur), f) && atoi(cur) < BDI_READ_AHEAD_KB) {
		rewind(f);
		fprintf(f, "%d\n", BDI_READ_AHEAD_KB);
	}
	fclose(f);
}
