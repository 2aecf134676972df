/* SPDX-License-Identifier: MIT */
/*
 * toolget.c - mapfs-tool get [-r] PATH HOSTPATH: copy a file, or with -r
 * a tree, out of an image onto this machine, reading through the core
 * only (lookups, mapfs_file_read, mapfs_op_seek for the holes,
 * mapfs_op_readlink, the xattr operations). Never stores to the image.
 *
 * get copies one file's contents as cp(1) does (a symlink is followed,
 * the new file gets the image file's permission bits less the umask).
 * get -r copies as cp -a does: directories, regular files (holes stay
 * holes: only the ranges SEEK_DATA finds are written, then the size is
 * set), symlinks, fifos, sockets and device nodes (these need root on
 * the host), each hard-linked inode once (later names are link(2)s of
 * the first copy), every xattr (ACLs included; trusted.* as root), the
 * permission bits, the owners when run as root, atime and mtime in
 * nanoseconds (a directory's after its contents). What the host refuses
 * is reported, path by path, and the copy goes on; the exit status is 1.
 * btime and the ctime cannot be set on the host and are not.
 */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

struct get {
	struct tool *t;
	void *links;		/* tsearch tree of struct seen */
	char *buf;		/* TOOL_BUF bytes */
};

struct seen {
	mapfs_ino_t ino;
	char *host;		/* the first copy's host path */
};

static int seen_cmp(const void *a, const void *b)
{
	mapfs_ino_t x = ((const struct seen *)a)->ino;
	mapfs_ino_t y = ((const struct seen *)b)->ino;

	return x < y ? -1 : x > y;
}

static void seen_free(void *p)
{
	struct seen *s = p;

	free(s->host);
	free(s);
}

/* Host-side failure: say which host path and why. */
static int host_fail(struct get *g, const char *host, const char *what,
		     int err)
{
	fprintf(stderr, TOOL_PROG ": %s: %s: %s\n", host, what,
		strerror(-err));
	g->t->failed = true;
	return err;
}

/* Write [0, size) of ip into fd: the data ranges only, then the size,
 * so holes stay holes. */
static int copy_data(struct get *g, const struct mapfs_inode *ip, int fd,
		     const char *host)
{
	struct mapfs_fs *fs = g->t->fs;
	uint64_t off = 0, dstart, dend;
	int err;

	while (off < ip->size) {
		err = mapfs_op_seek(fs, ip->ino, off, true, &dstart);
		if (err == -ENXIO)
			break;
		if (err < 0)
			return err;
		err = mapfs_op_seek(fs, ip->ino, dstart, false, &dend);
		if (err == -ENXIO)
			dend = ip->size;
		else if (err < 0)
			return err;
		if (dend > ip->size)
			dend = ip->size;
		if (dend <= dstart)
			break;
		for (off = dstart; off < dend;) {
			size_t want = dend - off < TOOL_BUF ?
					      (size_t)(dend - off) : TOOL_BUF;
			ssize_t n = tool_write_range(fs, ip, off, want, fd,
						     true);

			if (n == 0)
				return -EIO;
			if (n == -ENOSPC || n == -EFBIG || n == -EDQUOT ||
			    n == -EBADF)
				return host_fail(g, host, "write", (int)n);
			if (n < 0)
				return (int)n;
			off += (uint64_t)n;
		}
	}
	if (ftruncate(fd, (off_t)ip->size) < 0)
		return host_fail(g, host, "truncate", -errno);
	return 0;
}

/* The inode's xattrs onto host (not following a symlink). */
static void copy_xattrs(struct get *g, const struct mapfs_inode *ip,
			const char *host)
{
	struct mapfs_fs *fs = g->t->fs;
	ssize_t len, vlen;
	char *names, *p;

	len = mapfs_op_listxattr(fs, ip->ino, NULL, 0, g->t->root);
	if (len <= 0) {
		if (len < 0)
			tool_fail(g->t, host, (int)len);
		return;
	}
	names = malloc((size_t)len);
	if (!names) {
		tool_fail(g->t, host, -ENOMEM);
		return;
	}
	len = mapfs_op_listxattr(fs, ip->ino, names, (size_t)len,
				 g->t->root);
	for (p = names; len > 0 && p < names + len; p += strlen(p) + 1) {
		vlen = mapfs_op_getxattr(fs, ip->ino, p, g->buf, TOOL_BUF);
		if (vlen < 0) {
			tool_fail(g->t, p, (int)vlen);
			continue;
		}
		if (lsetxattr(host, p, g->buf, (size_t)vlen, 0) < 0) {
			char what[300];

			snprintf(what, sizeof(what), "xattr %s", p);
			host_fail(g, host, what, -errno);
		}
	}
	free(names);
}

/* Owners (as root), xattrs, permissions and times onto host. Owners
 * before the mode (chown clears setuid), xattrs before it too (an
 * access ACL sets the group bits). */
static void copy_meta(struct get *g, const struct mapfs_inode *ip,
		      const char *host)
{
	bool lnk = (ip->mode & MAPFS_IFMT) == MAPFS_IFLNK;
	struct timespec ts[2];

	if (g->t->root && lchown(host, ip->uid, ip->gid) < 0)
		host_fail(g, host, "chown", -errno);
	copy_xattrs(g, ip, host);
	if (!lnk && chmod(host, ip->mode & 07777u) < 0)
		host_fail(g, host, "chmod", -errno);
	ts[0].tv_sec = (time_t)ip->atime.sec;
	ts[0].tv_nsec = ip->atime.nsec;
	ts[1].tv_sec = (time_t)ip->mtime.sec;
	ts[1].tv_nsec = ip->mtime.nsec;
	if (utimensat(AT_FDCWD, host, ts, AT_SYMLINK_NOFOLLOW) < 0)
		host_fail(g, host, "set times", -errno);
}

/* A second name of an inode already copied: a hard link to the first
 * copy. 1 if done (or failed and said so), 0 if this is the first. */
static int copy_link(struct get *g, const struct mapfs_inode *ip,
		     const char *host)
{
	struct seen key = { .ino = ip->ino }, *s, **found;

	if (ip->nlink < 2 || (ip->mode & MAPFS_IFMT) == MAPFS_IFDIR)
		return 0;
	found = tfind(&key, &g->links, seen_cmp);
	if (found) {
		if (link((*found)->host, host) < 0)
			host_fail(g, host, "link", -errno);
		return 1;
	}
	s = malloc(sizeof(*s));
	if (s) {
		s->ino = ip->ino;	/* the key, before tsearch compares */
		s->host = strdup(host);
	}
	if (!s || !s->host || !tsearch(s, &g->links, seen_cmp)) {
		if (s)
			free(s->host);
		free(s);
		tool_fail(g->t, host, -ENOMEM);
	}
	return 0;
}

static int get_tree(struct get *g, mapfs_ino_t ino, const char *path,
		    const char *host, unsigned depth);

static int get_dir(struct get *g, const struct mapfs_inode *ip,
		   const char *path, const char *host, unsigned depth)
{
	char spath[PATH_MAX], shost[PATH_MAX];
	struct tool_names l;
	struct stat st;
	int err;

	if (depth > TOOL_MAX_DEPTH)
		return tool_fail(g->t, path, -ELOOP);
	/* Writable by us while it is filled; its mode comes last. */
	if (mkdir(host, 0700) < 0 &&
	    (errno != EEXIST || stat(host, &st) < 0 || !S_ISDIR(st.st_mode)))
		return host_fail(g, host, "mkdir", -errno);
	err = tool_list(g->t, ip, false, &l);
	if (err < 0)
		return tool_fail(g->t, path, err);
	for (size_t i = 0; i < l.n; i++) {
		if (snprintf(spath, sizeof(spath), "%s/%s",
			     strcmp(path, "/") ? path : "", l.v[i].name) >=
			    (int)sizeof(spath) ||
		    snprintf(shost, sizeof(shost), "%s/%s", host,
			     l.v[i].name) >= (int)sizeof(shost)) {
			tool_fail(g->t, spath, -ENAMETOOLONG);
			continue;
		}
		(void)get_tree(g, l.v[i].ino, spath, shost, depth + 1);
	}
	tool_names_free(&l);
	copy_meta(g, ip, host);
	return 0;
}

/* Copy inode ino (named path in the image) to host, as cp -a. */
static int get_tree(struct get *g, mapfs_ino_t ino, const char *path,
		    const char *host, unsigned depth)
{
	char target[MAPFS_SYMLINK_MAX + 1];
	struct mapfs_inode ip;
	ssize_t n;
	int fd, err;

	err = mapfs_inode_load(g->t->fs, ino, &ip);
	if (err < 0)
		return tool_fail(g->t, path, err);
	if (copy_link(g, &ip, host))
		return 0;
	switch (ip.mode & MAPFS_IFMT) {
	case MAPFS_IFDIR:
		return get_dir(g, &ip, path, host, depth);
	case MAPFS_IFREG:
		fd = open(host, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
				O_NOFOLLOW, 0600);
		if (fd < 0)
			return host_fail(g, host, "create", -errno);
		err = copy_data(g, &ip, fd, host);
		if (err < 0 && !g->t->failed)
			tool_fail(g->t, path, err);
		if (close(fd) < 0 && err == 0)
			err = host_fail(g, host, "close", -errno);
		break;
	case MAPFS_IFLNK:
		n = mapfs_op_readlink(g->t->fs, ino, target, sizeof(target));
		if (n < 0 || n >= (ssize_t)sizeof(target))
			return tool_fail(g->t, path, n < 0 ? (int)n : -EIO);
		target[n] = 0;
		if (symlink(target, host) < 0)
			return host_fail(g, host, "symlink", -errno);
		break;
	default:
		if (mknod(host, (ip.mode & MAPFS_IFMT) | 0600,
			  (dev_t)ip.rdev) < 0)
			return host_fail(g, host, "mknod", -errno);
		break;
	}
	copy_meta(g, &ip, host);
	return err;
}

/* get without -r: one file's bytes (a symlink followed), as cp. */
static int get_file(struct get *g, const char *path, const char *host)
{
	struct mapfs_inode ip;
	mapfs_ino_t ino;
	int fd, err;

	err = tool_resolve(g->t, path, true, &ino);
	if (err == 0)
		err = mapfs_inode_load(g->t->fs, ino, &ip);
	if (err == 0 && (ip.mode & MAPFS_IFMT) == MAPFS_IFDIR)
		err = -EISDIR;	/* cp without -r: "omitting directory" */
	else if (err == 0 && (ip.mode & MAPFS_IFMT) != MAPFS_IFREG)
		err = -EINVAL;
	if (err < 0)
		return tool_fail(g->t, path, err);
	fd = open(host, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		  ip.mode & 0777u);
	if (fd < 0)
		return host_fail(g, host, "create", -errno);
	err = copy_data(g, &ip, fd, host);
	if (err < 0 && !g->t->failed)
		tool_fail(g->t, path, err);
	if (close(fd) < 0 && err == 0)
		err = host_fail(g, host, "close", -errno);
	return err;
}

int tool_get(struct tool *t, int argc, char **argv)
{
	struct get g = { .t = t };
	char host[PATH_MAX];
	const char *path, *base;
	bool recursive = false;
	struct stat st;
	mapfs_ino_t ino;
	size_t len;
	int c, err;

	optind = 0;	/* glibc: a full restart of getopt */
	while ((c = getopt(argc, argv, "+r")) != -1)
		recursive = true;
	path = argv[optind];
	/* Into HOSTPATH when it is a directory (named after PATH's last
	 * component; the root's contents go into it), else as HOSTPATH. */
	len = strlen(path);
	while (len > 0 && path[len - 1] == '/')
		len--;
	base = path + len;
	while (base > path && base[-1] != '/')
		base--;
	if (stat(argv[optind + 1], &st) == 0 && S_ISDIR(st.st_mode) &&
	    len > 0)
		snprintf(host, sizeof(host), "%s/%.*s", argv[optind + 1],
			 (int)(path + len - base), base);
	else
		snprintf(host, sizeof(host), "%s", argv[optind + 1]);
	g.buf = malloc(TOOL_BUF);
	if (!g.buf)
		return tool_fail(t, path, -ENOMEM);
	if (!recursive) {
		err = get_file(&g, path, host);
	} else {
		err = tool_resolve(t, path, false, &ino);
		if (err < 0)
			tool_fail(t, path, err);
		else
			err = get_tree(&g, ino, len ? path : "/", host, 0);
	}
	tdestroy(g.links, seen_free);
	free(g.buf);
	return err;
}
