/* SPDX-License-Identifier: MIT */
/*
 * bdi.c - the kernel's read-ahead window of our own mount.
 *
 * The kernel reads a FUSE file ahead in windows of its mount's
 * read_ahead_kb (/sys/class/bdi/MAJ:MIN/read_ahead_kb, MAJ:MIN being the
 * anonymous device of the mount's superblock), 128 KiB by default; the
 * INIT reply can lower it but not raise it: a sequential reader costs a
 * READ per 128 KiB. Raised to 1 MiB, one request of the largest size we
 * take, a cold 1 GiB read went 672-778 -> 831-936 MiB/s (docs/DESIGN.md).
 * Only root may write it; other daemons keep the default.
 *
 * Invariant: no thread of the daemon makes a system call on its own
 * mount. A thread blocked there on a request (the kernel waits for the
 * answer of a request already taken uninterruptibly) would keep the
 * daemon's files open after the daemon is killed, so /dev/fuse is never
 * released, the connection never ended, and the mount hangs until it is
 * aborted by hand (docs/DESIGN.md, "Killing the daemon"). So:
 *   - the device number comes from /proc/self/mountinfo, read right after
 *     the mount (the last line with our mount point and type fuse.mapfs),
 *     not from stat() of the mount point;
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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The read_ahead_kb file, "" when not armed. Written before the session
 * loop starts, read by a loop thread. */
static char ra_path[64];
static atomic_bool ra_done;

/* Undo mountinfo's escapes in place: the kernel writes space, tab,
 * newline and backslash as \ and three octal digits ("a\040b" is "a b"). */
static void unescape(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
					(s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = 0;
}

/* One line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - TYPE
 * SOURCE SUPEROPTS". True when it is MNT of type FSTYPE; its device into
 * *maj, *min. Worked example: "45 27 0:40 / /tmp/m rw - fuse.mapfs
 * /img rw" is /tmp/m, fuse.mapfs, 0:40. */
static bool line_matches(char *line, const char *mnt, const char *fstype,
			 unsigned *maj, unsigned *min)
{
	char *save = NULL, *tok, *dev = NULL, *mp = NULL;
	int field = 0;
	bool dash = false;

	line[strcspn(line, "\n")] = 0;
	for (tok = strtok_r(line, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save), field++) {
		if (field == 2)
			dev = tok;
		else if (field == 4)
			mp = tok;
		else if (field >= 6 && !dash && strcmp(tok, "-") == 0)
			dash = true;
		else if (dash)
			break;	/* tok is the type */
	}
	if (!tok || !dev || !mp || strcmp(tok, fstype) != 0)
		return false;
	unescape(mp);
	if (strcmp(mp, mnt) != 0)
		return false;
	return sscanf(dev, "%u:%u", maj, min) == 2;
}

int bdi_find_devno(FILE *f, const char *mnt, const char *fstype,
		   unsigned *maj, unsigned *min)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned a, b;
	int err = -ENOENT;

	while (getline(&line, &cap, f) > 0) {
		if (line_matches(line, mnt, fstype, &a, &b)) {
			*maj = a;
			*min = b;
			err = 0;	/* keep going: the last one wins */
		}
	}
	free(line);
	return err;
}

int bdi_arm(const char *mountpoint)
{
	FILE *f;
	unsigned maj, min;
	int err;

	if (geteuid() != 0)
		return 0;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	err = bdi_find_devno(f, mountpoint, "fuse.mapfs", &maj, &min);
	fclose(f);
	if (err < 0)
		return err;
	snprintf(ra_path, sizeof(ra_path),
		 "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
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
