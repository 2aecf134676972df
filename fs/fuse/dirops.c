/* SPDX-License-Identifier: MIT */
/*
 * dirops.c - the FUSE operations on open directories: opendir, readdir,
 * readdirplus, releasedir, fsyncdir.
 */
#include "glue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void op_opendir(fuse_req_t req, fuse_ino_t nodeid,
		struct fuse_file_info *fi)
{
	struct daemon *d = dmn(req);
	struct mapfs_inode ip;
	int err;

	if (d->no_opendir) {
		/* Taken as success: the kernel opens this and every later
		 * directory itself, with keep_cache and cache_readdir, the
		 * two flags set below. */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	rlock(d);
	err = bus_check(mapfs_inode_load(d->fs, ino_of(nodeid), &ip));
	pthread_rwlock_unlock(&d->lock);
	if (err == 0 && (ip.mode & MAPFS_IFMT) != MAPFS_IFDIR)
		err = -ENOTDIR;
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	/* The kernel may keep the directory's entries in its page cache
	 * and answer later readdirs itself: every change to a directory
	 * goes through the kernel, which drops that cache when the
	 * directory changes. A warm find then costs OPENDIR and RELEASEDIR
	 * per directory instead of four or five round trips. */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

struct rd_ctx {
	fuse_req_t req;
	struct daemon *d;
	char *buf;
	size_t size, used;
	bool plus;
	int err;
};

static int rd_fill(void *arg, const char *name, uint32_t namelen,
		   mapfs_ino_t ino, uint32_t type, uint64_t next_off)
{
	struct rd_ctx *c = arg;
	char nm[MAPFS_NAME_MAX + 1];
	size_t n;

	memcpy(nm, name, namelen);
	nm[namelen] = 0;
	if (c->plus) {
		struct fuse_entry_param e;
		struct mapfs_inode ip;
		bool dot = nm[0] == '.' && (namelen == 1 ||
					   (namelen == 2 && nm[1] == '.'));
		/* An entry the kernel already holds gets no attributes
		 * (node id 0: the kernel then only lists the name). It has
		 * them cached, with long timeouts, and sending them again
		 * costs it a dentry lookup and an attribute update per
		 * entry: a readdir after a stat of every entry ran at
		 * about a third of the speed of a plain readdir. */
		bool skip = dot || ref_held(c->d, ino, false);

		if (skip) {
			/* No lookup reference: the type is enough. */
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = ino;
			e.attr.st_mode = type << 12;
		} else {
			int err = mapfs_inode_load(c->d->fs, ino, &ip);
			if (err < 0) {
				c->err = err;
				return 1;
			}
			fill_entry(c->d, &ip, &e);
			/* A listing program (find, du, ls -R, cp -r)
			 * reads the subdirectories next: start reading
			 * their blocks now, in parallel, instead of one
			 * synchronous read as each is opened. */
			mapfs_dir_prefetch(c->d->fs, &ip);
		}
		n = fuse_add_direntry_plus(c->req, c->buf + c->used,
					   c->size - c->used, nm, &e,
					   (off_t)next_off);
		if (n > c->size - c->used)
			return 1;
		if (!skip)
			ref_lookup_inc(c->d, ino);
	} else {
		struct stat st;

		memset(&st, 0, sizeof(st));
		st.st_ino = ino;
		st.st_mode = type << 12;
		n = fuse_add_direntry(c->req, c->buf + c->used,
				      c->size - c->used, nm, &st,
				      (off_t)next_off);
		if (n > c->size - c->used)
			return 1;
	}
	c->used += n;
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t nodeid, size_t size,
		       off_t off, bool plus)
{
	struct daemon *d = dmn(req);
	struct rd_ctx c = {req, d, NULL, size, 0, plus, 0};
	struct mapfs_inode dir;
	int err;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	c.buf = malloc(size ? size : 1);
	if (!c.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rlock(d);
	err = mapfs_inode_load(d->fs, ino_of(nodeid), &dir);
	if (err == 0 && (dir.mode & MAPFS_IFMT) != MAPFS_IFDIR)
		err = -ENOTDIR;
	if (err == 0 && atime_due(d, &dir)) {
		/* relatime before the reply, as in op_read */
		pthread_rwlock_unlock(&d->lock);
		touch_atime(d, dir.ino);
		rlock(d);
		err = mapfs_inode_load(d->fs, ino_of(nodeid), &dir);
	}
	if (err == 0) {
		err = mapfs_dir_iterate(d->fs, &dir, (uint64_t)off, rd_fill, &c);
		if (err > 0)
			err = c.err;
	}
	if (bus_check(0)) {
		err = -EIO;
		c.used = 0;
	}
	pthread_rwlock_unlock(&d->lock);	/* c.buf is a copy */
	if (err < 0 && c.used == 0)
		fuse_reply_err(req, -err);
	else
		fuse_reply_buf(req, c.buf, c.used);
	free(c.buf);
}

void op_readdir(fuse_req_t req, fuse_ino_t nodeid, size_t size,
		off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, nodeid, size, off, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t nodeid, size_t size,
		    off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, nodeid, size, off, true);
}

void op_releasedir(fuse_req_t req, fuse_ino_t nodeid,
		   struct fuse_file_info *fi)
{
	(void)nodeid;
	(void)fi;
	fuse_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t nodeid, int datasync,
		 struct fuse_file_info *fi)
{
	(void)nodeid;
	(void)datasync;
	(void)fi;
	do_sync(req);
}
