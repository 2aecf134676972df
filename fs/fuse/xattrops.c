/* SPDX-License-Identifier: MIT */
/*
 * xattrops.c - the FUSE extended attribute operations: setxattr,
 * removexattr, getxattr, listxattr (POSIX ACLs are xattrs too).
 */
#include "glue.h"
#include "caller.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

/* ---------------------------------------------------------------- */
/* Extended attributes                                               */
/* ---------------------------------------------------------------- */
/* Changes take the lock exclusively, gets and lists share it; values
 * are copied out of the mapping before the reply. */

/* Setting an access ACL clears setgid when the caller is outside the
 * file's group and lacks CAP_FSETID (Linux's posix_acl_update_mode; the
 * kernel's FUSE_SETXATTR_ACL_KILL_SGID says so only to a daemon that
 * takes FUSE_SETXATTR_EXT, which libfuse 3.14 cannot parse): the flag
 * for mapfs_op_setxattr, or 0. Under the write lock. */
static int acl_kill_sgid(struct daemon *d, fuse_req_t req, mapfs_ino_t ino)
{
	struct mapfs_cred cr = cred_of(req);
	struct mapfs_inode ip;

	if (mapfs_inode_load(d->fs, ino, &ip) < 0 || !(ip.mode & S_ISGID) ||
	    caller_in_group_or_capable(fuse_req_ctx(req)->pid, cr.uid,
				       cr.gid, ip.gid))
		return 0;
	return MAPFS_XATTR_KILL_SGID;
}

void op_setxattr(fuse_req_t req, fuse_ino_t nodeid, const char *name,
		 const char *value, size_t size, int flags)
{
	struct daemon *d = dmn(req);
	int mf = 0, err;

	if (flags & XATTR_CREATE)
		mf |= MAPFS_XATTR_CREATE;
	if (flags & XATTR_REPLACE)
		mf |= MAPFS_XATTR_REPLACE;
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	err = change_begin(d);
	if (err == 0) {
		if (acl_on && !strcmp(name, "system.posix_acl_access"))
			mf |= acl_kill_sgid(d, req, ino_of(nodeid));
		err = bus_check(mapfs_op_setxattr(d->fs, ino_of(nodeid), name,
						  value, size, mf,
						  fuse_req_ctx(req)->uid == 0));
		wunlock(d);
	}
	/* st_blocks (the xattr block) and, for an ACL, the mode changed:
	 * said before the reply, so a stat right after sees it (only the
	 * attributes: nothing waits on the inode's lock) */
	if (err == 0)
		fuse_lowlevel_notify_inval_inode(d->se, nodeid, -1, 0);
	fuse_reply_err(req, -err);
}

void op_removexattr(fuse_req_t req, fuse_ino_t nodeid,
		    const char *name)
{
	struct daemon *d = dmn(req);
	int err = change_begin(d);

	if (err == 0) {
		err = bus_check(mapfs_op_removexattr(d->fs, ino_of(nodeid),
						     name));
		wunlock(d);
	}
	if (err == 0)
		fuse_lowlevel_notify_inval_inode(d->se, nodeid, -1, 0);
	fuse_reply_err(req, -err);
}

/* getxattr (of name) and listxattr (name NULL): size 0 asks for the
 * length; the value is copied out of the mapping under the shared lock,
 * replied after. */
static void read_xattr(fuse_req_t req, fuse_ino_t nodeid, const char *name,
		       size_t size)
{
	struct daemon *d = dmn(req);
	char *buf = size ? malloc(size) : NULL;
	ssize_t n;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rlock(d);
	if (name)
		n = mapfs_op_getxattr(d->fs, ino_of(nodeid), name, buf, size);
	else
		n = mapfs_op_listxattr(d->fs, ino_of(nodeid), buf, size,
				       fuse_req_ctx(req)->uid == 0);
	if (bus_check(0))
		n = -EIO;
	pthread_rwlock_unlock(&d->lock);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

void op_getxattr(fuse_req_t req, fuse_ino_t nodeid, const char *name,
		 size_t size)
{
	read_xattr(req, nodeid, name, size);
}

void op_listxattr(fuse_req_t req, fuse_ino_t nodeid, size_t size)
{
	read_xattr(req, nodeid, NULL, size);
}
