/* SPDX-License-Identifier: MIT */
/*
 * toolput.c - mapfs-tool put [-r] HOSTPATH PATH: copy a host file, or
 * with -r a host tree, into the image. The copying is the populate
 * library's (include/mapfs_populate.h, the one mkfs.mapfs -d uses): each
 * object in its own operations, file data in bounded chunks, so a kill
 * in the middle loses at most the operation in flight and the next open
 * replays the rest.
 *
 * put copies one regular file (a host symlink is followed, as cp(1)
 * does), owned by the caller, with its mode and times. put -r copies as
 * cp -a would, keeping the host's owners whoever runs it (an image is
 * being built: mkfs.mapfs -d does the same). Neither replaces an
 * existing non-directory (EEXIST); put -r into an existing directory
 * of the same name merges with it.
 */
#include "tool.h"
#include "mapfs_populate.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void put_log(void *arg, enum mapfs_log_level lvl, const char *msg)
{
	const struct tool *t = arg;

	(void)t;
	if (lvl <= MAPFS_LOG_WARN)
		fprintf(stderr, TOOL_PROG ": %s%s\n",
			lvl == MAPFS_LOG_WARN ? "warning: " : "", msg);
}

int tool_put(struct tool *t, int argc, char **argv)
{
	struct mapfs_populate_opts o = {
		.keep_going = true, .use_reserve = t->root,
		.log = put_log, .log_arg = t,
	};
	struct mapfs_populate_stats st = { 0 };
	char name[MAPFS_NAME_MAX + 1], real[PATH_MAX];
	const char *host, *path, *base;
	bool recursive = false;
	struct mapfs_inode ip;
	mapfs_ino_t dir, ino;
	struct stat hs;
	size_t len;
	int c, err;

	optind = 0;	/* glibc: a full restart of getopt */
	while ((c = getopt(argc, argv, "+r")) != -1)
		recursive = true;
	host = argv[optind];
	path = argv[optind + 1];
	if ((recursive ? lstat(host, &hs) : stat(host, &hs)) < 0)
		return tool_fail(t, host, -errno);
	if (!recursive) {
		if (S_ISDIR(hs.st_mode)) {
			fprintf(stderr, TOOL_PROG ": %s: a directory: use "
				"put -r\n", host);
			t->failed = true;
			return -EISDIR;
		}
		if (!S_ISREG(hs.st_mode))
			return tool_fail(t, host, -EINVAL);
		if (!realpath(host, real))
			return tool_fail(t, host, -errno);
		o.root_owner = true;
		o.uid = t->cr.uid;
		o.gid = t->cr.gid;
	} else {
		snprintf(real, sizeof(real), "%s", host);
	}
	/* Into PATH when it is a directory of the image (named after
	 * HOSTPATH's last component), else as PATH. */
	if (tool_resolve(t, path, true, &ino) == 0 &&
	    mapfs_inode_load(t->fs, ino, &ip) == 0 &&
	    (ip.mode & MAPFS_IFMT) == MAPFS_IFDIR) {
		len = strlen(host);
		while (len > 1 && host[len - 1] == '/')
			len--;
		base = host + len;
		while (base > host && base[-1] != '/')
			base--;
		len = (size_t)(host + len - base);
		if (len == 0 || len > MAPFS_NAME_MAX ||
		    !strncmp(base, "/", len) || !strncmp(base, ".", len) ||
		    !strncmp(base, "..", len)) {
			/* "put -r / PATH", "put -r . PATH": the contents. */
			if (!recursive || !S_ISDIR(hs.st_mode))
				return tool_fail(t, path, -EEXIST);
			err = mapfs_populate_dir(t->fs, ino, real, &o, &st);
			goto out;
		}
		memcpy(name, base, len);
		name[len] = 0;
		dir = ino;
	} else {
		err = tool_parent(t, path, &dir, name);
		if (err == -EINVAL)
			err = -EEXIST;
		if (err < 0)
			return tool_fail(t, path, err);
	}
	err = mapfs_populate_path(t->fs, dir, name, real, &o, &st);
out:
	if (err < 0)
		return tool_fail(t, path, err);
	if (st.errors)
		t->failed = true;
	return 0;
}
