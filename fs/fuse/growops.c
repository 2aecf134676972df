/* SPDX-License-Identifier: MIT */
/*
 * growops.c - growing the mounted filesystem: the MAPFS_IOC_GROW ioctl
 * that growfs.mapfs sends to the mount point (include/mapfs.h).
 *
 * The glue only: who may ask, the lock and the operation bracket, the
 * commit before the reply. The core does the work (mapfs_grow_online,
 * fs/grow.c: enlarge and map the file, then the groups and superblocks
 * in one journaled operation). The request is a FUSE ioctl, which the
 * kernel forwards from a directory of the mount as from a file; growfs
 * is the process that calls into the mount, never the daemon.
 *
 * Who: root, or the user the daemon runs as (who owns the image and
 * could grow it unmounted anyway); with allow_other, other users get
 * EPERM. The reply comes after the commit: when growfs returns, the new
 * size is durable, and statfs shows it from the moment the lock is
 * released.
 *
 * Test hook: MAPFS_TEST_GROW_KILL=stored|record|commit kills the daemon
 * (SIGKILL) right after the core stored the change (no record yet),
 * after its record was written (not durable), or after the commit
 * (before the reply): tests/mount/grow_online_kill.sh.
 */
#include "glue.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void kill_point(const char *name)
{
	const char *v = getenv("MAPFS_TEST_GROW_KILL");

	if (v && strcmp(v, name) == 0)
		raise(SIGKILL);
}

void daemon_ioctl_grow(fuse_req_t req, const void *in_buf, size_t in_bufsz,
		       size_t out_bufsz)
{
	struct daemon *d = dmn(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct mapfs_grow_req g;
	char why[256] = "";
	int err;

	if (in_bufsz < sizeof(g) || out_bufsz < sizeof(g)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (ctx->uid != 0 && ctx->uid != getuid()) {
		fuse_reply_err(req, EPERM);
		return;
	}
	memcpy(&g, in_buf, sizeof(g));
	err = change_begin(d);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	g.old_bytes = g.new_bytes = d->fs->g.nblocks << d->fs->g.bshift;
	if (g.size_bytes) {
		err = bus_check(mapfs_grow_online(d->fs, g.size_bytes, why,
						  sizeof(why)));
		kill_point("stored");
		g.new_bytes = d->fs->g.nblocks << d->fs->g.bshift;
	}
	g.max_bytes = mapfs_grow_online_max(d->fs);
	/* Faults past the old end are the mapping's now. */
	daemon_bus_resize(d);
	wunlock(d);
	if (err < 0) {
		mapfs_log(d->fs, MAPFS_LOG_WARN, "grow to %llu bytes refused: "
			  "%s", (unsigned long long)g.size_bytes, why);
		fuse_reply_err(req, -err);
		return;
	}
	if (g.new_bytes == g.old_bytes) {
		fuse_reply_ioctl(req, 0, &g, sizeof(g));
		return;
	}
	kill_point("record");
	err = daemon_commit(d);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	kill_point("commit");
	mapfs_log(d->fs, MAPFS_LOG_INFO, "grown from %llu to %llu bytes while "
		  "mounted", (unsigned long long)g.old_bytes,
		  (unsigned long long)g.new_bytes);
	fuse_reply_ioctl(req, 0, &g, sizeof(g));
}
