/* SPDX-License-Identifier: MIT */
/*
 * node.c - the FUSE operations on names and inodes: lookup, forget,
 * getattr, setattr, readlink, mknod, mkdir, symlink, create, O_TMPFILE
 * (for extra.c), unlink, rmdir, rename, link. Decode, call the core under
 * the lock (lock.c), count references (refs.c), reply.
 */
#include "glue.h"
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/*
 * LOOKUP of "." in a node: the kernel resolving a file handle
 * (open_by_handle_at, an NFS server) for a node id it does not hold,
 * which this run may never have named: handles hold node id and
 * generation, and node ids are inode numbers, so they outlive the
 * daemon. The kernel compares the generation itself. Node id 2 is
 * never handed out (the root is FUSE_ROOT_ID): stale. An inode whose
 * link count is zero is answered only while something here still holds
 * it (an unlinked file open elsewhere), else it is being freed: stale.
 * ".." needs nothing special: every directory has its entry.
 */
static void lookup_self(fuse_req_t req, struct daemon *d, fuse_ino_t nodeid)
{
	struct fuse_entry_param e;
	struct mapfs_inode ip;
	int err = -ESTALE;

	rlock(d);
	if (nodeid == FUSE_ROOT_ID || ino_of(nodeid) != MAPFS_ROOT_INO)
		err = mapfs_op_lookup_ino(d->fs, ino_of(nodeid), &ip);
	err = bus_check(err);
	if (err == 0 && ip.nlink == 0 && !ref_held(d, ip.ino, true))
		err = -ESTALE;
	if (err == 0)
		entry_take(d, &ip, &e);
	pthread_rwlock_unlock(&d->lock);
	if (err == 0)
		entry_send(req, d, &e);
	else
		fuse_reply_err(req, -err);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct daemon *d = dmn(req);
	struct fuse_entry_param e;
	struct mapfs_inode ip;
	mapfs_ino_t ino;
	int err;

	if (strcmp(name, ".") == 0) {
		lookup_self(req, d, parent);
		return;
	}
	rlock(d);
	err = mapfs_op_lookup(d->fs, ino_of(parent), name, &ino);
	if (err == 0)
		err = mapfs_inode_load(d->fs, ino, &ip);
	err = bus_check(err);
	if (err == 0)
		entry_take(d, &ip, &e);
	pthread_rwlock_unlock(&d->lock);
	if (err == 0) {
		entry_send(req, d, &e);
	} else if (err == -ENOENT) {
		/* A cacheable negative entry. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = d->timeout;
		fuse_reply_entry(req, &e);
	} else {
		fuse_reply_err(req, -err);
	}
}

static void forget_one(struct daemon *d, fuse_ino_t nodeid, uint64_t n)
{
	mapfs_ino_t ino = ino_of(nodeid);
	bool dead = false;
	struct ref *r;

	pthread_mutex_lock(&d->ref_lock);
	r = ref_find(d, ino);
	if (r) {
		r->nlookup = r->nlookup > n ? r->nlookup - n : 0;
		dead = ref_put(d, r);
	}
	pthread_mutex_unlock(&d->ref_lock);
	if (dead)
		reap(d, ino);
}

void op_forget(fuse_req_t req, fuse_ino_t nodeid, uint64_t nlookup)
{
	forget_one(dmn(req), nodeid, nlookup);
	fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count,
		     struct fuse_forget_data *forgets)
{
	/* Newest first: inodes unlinked in a row sit on the orphan list
	 * newest first, so each one freed is then at its head instead of
	 * behind all the others of the batch. */
	for (size_t i = count; i-- > 0;)
		forget_one(dmn(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

int daemon_statx(struct daemon *d, fuse_ino_t nodeid, struct stat *st,
		 struct timespec *btime)
{
	struct mapfs_inode ip;
	int err;

	rlock(d);
	err = bus_check(mapfs_inode_load(d->fs, ino_of(nodeid), &ip));
	if (err == 0)
		fill_stat(d->fs, &ip, st);
	if (err == 0 && btime) {
		btime->tv_sec = ip.btime.sec;
		btime->tv_nsec = ip.btime.nsec;
	}
	pthread_rwlock_unlock(&d->lock);
	return err;
}

void op_getattr(fuse_req_t req, fuse_ino_t nodeid,
		struct fuse_file_info *fi)
{
	struct daemon *d = dmn(req);
	struct stat st;
	int err;

	(void)fi;
	err = daemon_statx(d, nodeid, &st, NULL);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, d->timeout);
}

static struct mapfs_timespec ts_of(const struct timespec *t)
{
	return (struct mapfs_timespec){ .sec = t->tv_sec,
					.nsec = (uint32_t)t->tv_nsec };
}

void op_setattr(fuse_req_t req, fuse_ino_t nodeid, struct stat *attr,
		int to_set, struct fuse_file_info *fi)
{
	struct daemon *d = dmn(req);
	struct mapfs_setattr sa;
	struct mapfs_inode ip;
	struct stat st;
	bool kill;
	int err;

	(void)fi;
	/* The kernel's flag (truncate without CAP_FSETID, chown); and a
	 * setattr of nothing but ctime (or of nothing, without the
	 * writeback cache), which is chown(f, -1, -1): with KILLPRIV_V2
	 * the kernel drops the mode it would have sent and sets no flag,
	 * but Linux clears setuid (and setgid with group-execute) then. */
	kill = uring_req_kill_suidgid() ||
	       (uring_killpriv() && !(to_set & ~FUSE_SET_ATTR_CTIME));
	memset(&sa, 0, sizeof(sa));
	if (to_set & FUSE_SET_ATTR_MODE) {
		sa.valid |= MAPFS_SET_MODE;
		sa.mode = attr->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		sa.valid |= MAPFS_SET_UID;
		sa.uid = fakeroot_id(attr->st_uid, fake_uid);
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		sa.valid |= MAPFS_SET_GID;
		sa.gid = fakeroot_id(attr->st_gid, fake_gid);
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		sa.valid |= MAPFS_SET_SIZE;
		sa.size = (uint64_t)attr->st_size;
	}
	if ((to_set & FUSE_SET_ATTR_ATIME_NOW) &&
	    (to_set & FUSE_SET_ATTR_MTIME) &&
	    !(to_set & FUSE_SET_ATTR_MTIME_NOW) &&
	    attr->st_atim.tv_sec == attr->st_mtim.tv_sec &&
	    attr->st_atim.tv_nsec == attr->st_mtim.tv_nsec) {
		/* utimensat(NULL) under the writeback cache: the kernel
		 * keeps mtime itself and sends its "now" as an explicit
		 * mtime, with the same instant as atime. Take that instant,
		 * or atime (our clock) and mtime (the kernel's) differ.
		 * Both are "now": allowed on an append-only file. */
		sa.valid |= MAPFS_SET_ATIME | MAPFS_SET_TIMES_NOW;
		sa.atime = ts_of(&attr->st_atim);
	} else if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		sa.valid |= MAPFS_SET_ATIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_ATIME) {
		sa.valid |= MAPFS_SET_ATIME;
		sa.atime = ts_of(&attr->st_atim);
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		sa.valid |= MAPFS_SET_MTIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		sa.valid |= MAPFS_SET_MTIME;
		sa.mtime = ts_of(&attr->st_mtim);
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		sa.valid |= MAPFS_SET_CTIME;
		sa.ctime = ts_of(&attr->st_ctim);
	}
	if (d->ro || d->broken) {
		fuse_reply_err(req, d->ro ? EROFS : EIO);
		return;
	}
	wlock(d);
	err = bus_check(mapfs_op_setattr(d->fs, ino_of(nodeid), &sa,
					 fuse_req_ctx(req)->uid == 0, &ip));
	/* truncate and chown drop privileges (the kernel's flag: suid
	 * and sgid too); the reply below carries the new mode */
	if (err == 0 && (kill || (sa.valid & (MAPFS_SET_SIZE | MAPFS_SET_UID |
					      MAPFS_SET_GID)))) {
		struct mapfs_inode now;

		/* truncate by req's caller: the group rule too; chown
		 * keeps Linux's chown_common rule (group-execute only) */
		int kp = (sa.valid & (MAPFS_SET_UID | MAPFS_SET_GID)) ?
			 killpriv(d, ino_of(nodeid), kill, &now) :
			 killpriv_req(d, req, ino_of(nodeid), kill, &now);

		if (kp > 0)
			ip = now;
	}
	if (err == 0)
		fill_stat(d->fs, &ip, &st);
	wunlock(d);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, d->timeout);
}

void op_readlink(fuse_req_t req, fuse_ino_t nodeid)
{
	struct daemon *d = dmn(req);
	char buf[MAPFS_SYMLINK_MAX + 1];
	ssize_t n;

	rlock(d);
	n = bus_check((int)mapfs_op_readlink(d->fs, ino_of(nodeid), buf,
					     MAPFS_SYMLINK_MAX));
	pthread_rwlock_unlock(&d->lock);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	buf[n] = 0;
	fuse_reply_readlink(req, buf);
}

/* Shared tail of mknod, mkdir, create and symlink. */
static int make_node(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev, const char *target,
		     struct mapfs_inode *ip)
{
	struct daemon *d = dmn(req);
	struct mapfs_cred cr = cred_of(req);

	if (d->ro)
		return -EROFS;
	if (d->broken)
		return -EIO;
	if (target)
		return bus_check(mapfs_op_symlink(d->fs, &cr, ino_of(parent),
						  name, target, ip));
	if (acl_on)
		return bus_check(mapfs_op_mknod_acl(d->fs, &cr, ino_of(parent),
						    name, mode, (uint64_t)rdev,
						    fuse_req_ctx(req)->umask,
						    ip));
	return bus_check(mapfs_op_mknod(d->fs, &cr, ino_of(parent), name,
					mode, (uint64_t)rdev, ip));
}

/* End the change (its journal record written), let the lock go, and
 * answer with the entry of ip or the error. */
static void end_reply_entry(fuse_req_t req, struct daemon *d, int err,
			    const struct mapfs_inode *ip)
{
	struct fuse_entry_param e;

	if (err == 0)
		entry_take(d, ip, &e);
	wunlock(d);
	if (err == 0)
		entry_send(req, d, &e);
	else
		fuse_reply_err(req, -err);
}

static void make_and_reply(fuse_req_t req, fuse_ino_t parent,
			   const char *name, mode_t mode, dev_t rdev,
			   const char *target)
{
	struct daemon *d = dmn(req);
	struct mapfs_inode ip;
	int err;

	wlock(d);
	err = make_node(req, parent, name, mode, rdev, target, &ip);
	if (retry_nospc(d, err))
		err = make_node(req, parent, name, mode, rdev, target, &ip);
	end_reply_entry(req, d, err, &ip);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode, dev_t rdev)
{
	make_and_reply(req, parent, name, mode, rdev, NULL);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode)
{
	make_and_reply(req, parent, name, (mode & 07777) | S_IFDIR, 0, NULL);
}

void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
		const char *name)
{
	make_and_reply(req, parent, name, S_IFLNK | 0777, 0, target);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi)
{
	struct daemon *d = dmn(req);
	struct fuse_entry_param e;
	struct mapfs_inode ip;
	struct ref *r;
	int err;

	wlock(d);
	err = make_node(req, parent, name, (mode & 07777) | S_IFREG, 0, NULL,
			&ip);
	if (retry_nospc(d, err))
		err = make_node(req, parent, name, (mode & 07777) | S_IFREG, 0,
				NULL, &ip);
	if (err) {
		wunlock(d);
		fuse_reply_err(req, -err);
		return;
	}
	fill_entry(d, &ip, &e);
	pthread_mutex_lock(&d->ref_lock);
	r = ref_get(d, ip.ino);
	if (r) {
		r->nlookup++;
		r->nopen++;
	}
	pthread_mutex_unlock(&d->ref_lock);
	/* The record is written (wunlock ends the operation) before the
	 * reply, which goes out with the lock let go (see entry_take). */
	wunlock(d);
	fi->keep_cache = 1;
	ofile_new(fi);
	if (fuse_reply_create(req, &e, fi) != 0) {
		bool dead = false;

		ofile_free(fi);
		pthread_mutex_lock(&d->ref_lock);
		r = ref_find(d, ip.ino);
		if (r && r->nlookup && r->nopen) {
			r->nlookup--;
			r->nopen--;
			dead = ref_put(d, r);
		}
		pthread_mutex_unlock(&d->ref_lock);
		if (dead)
			reap(d, ip.ino);
	}
}

/* O_TMPFILE for extra.c (libfuse 3.14 does not dispatch FUSE_TMPFILE):
 * as op_create without a name. The new inode is on the orphan list and
 * marked dead, so the last release or forget frees it unless a LINK
 * named it first. */
int daemon_tmpfile(struct daemon *d, fuse_ino_t parent, uint32_t uid,
		   uint32_t gid, uint32_t mode, uint32_t umask,
		   struct fuse_entry_param *e, struct fuse_file_info *fi)
{
	struct mapfs_cred cr = {fakeroot_id(uid, fake_uid),
				fakeroot_id(gid, fake_gid)};
	uint32_t um = acl_on ? umask : MAPFS_NO_ACL;
	struct mapfs_inode ip;
	struct ref *r = NULL;
	int err = -EROFS;

	mode = (mode & 07777) | S_IFREG;
	wlock(d);
	if (d->broken)
		err = -EIO;
	else if (!d->ro)
		err = bus_check(mapfs_op_tmpfile(d->fs, &cr, ino_of(parent),
						 mode, um, &ip));
	if (retry_nospc(d, err))
		err = bus_check(mapfs_op_tmpfile(d->fs, &cr, ino_of(parent),
						 mode, um, &ip));
	if (err == 0) {
		pthread_mutex_lock(&d->ref_lock);
		r = ref_get(d, ip.ino);
		if (r) {
			r->nlookup++;
			r->nopen++;
			r->dead = true;
		}
		pthread_mutex_unlock(&d->ref_lock);
		if (!r) {
			mapfs_op_reap(d->fs, ip.ino);
			err = -ENOMEM;
		}
	}
	wunlock(d);	/* the record before the reply */
	if (err)
		return err;
	fill_entry(d, &ip, e);
	fi->keep_cache = 1;
	ofile_new(fi);
	return 0;
}

void daemon_tmpfile_undo(struct daemon *d, fuse_ino_t nodeid,
			 struct fuse_file_info *fi)
{
	mapfs_ino_t ino = ino_of(nodeid);
	bool dead = false;
	struct ref *r;

	ofile_free(fi);
	pthread_mutex_lock(&d->ref_lock);
	r = ref_find(d, ino);
	if (r && r->nlookup && r->nopen) {
		r->nlookup--;
		r->nopen--;
		dead = ref_put(d, r);
	}
	pthread_mutex_unlock(&d->ref_lock);
	if (dead)
		reap(d, ino);
}

static void do_remove(fuse_req_t req, fuse_ino_t parent, const char *name,
		      bool dir)
{
	struct daemon *d = dmn(req);
	int err = -EROFS;

	wlock(d);
	if (d->broken)
		err = -EIO;
	else if (!d->ro)
		err = bus_check(dir ? mapfs_op_rmdir(d->fs, ino_of(parent), name)
				    : mapfs_op_unlink(d->fs, ino_of(parent),
						      name));
	wunlock(d);
	fuse_reply_err(req, -err);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, false);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, true);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname,
	       unsigned int flags)
{
	struct daemon *d = dmn(req);
	struct mapfs_cred cr = cred_of(req);
	unsigned mf = 0;
	int err = -EROFS;

	if (flags & RENAME_NOREPLACE)
		mf |= MAPFS_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		mf |= MAPFS_RENAME_EXCHANGE;
	if (flags & RENAME_WHITEOUT)	/* overlayfs; CAP_MKNOD checked */
		mf |= MAPFS_RENAME_WHITEOUT;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE |
				RENAME_WHITEOUT)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	wlock(d);
	if (d->broken)
		err = -EIO;
	else if (!d->ro)
		err = bus_check(mapfs_op_rename_cr(d->fs, &cr, ino_of(parent),
						   name, ino_of(newparent),
						   newname, mf));
	wunlock(d);
	fuse_reply_err(req, -err);
}

void op_link(fuse_req_t req, fuse_ino_t nodeid, fuse_ino_t newparent,
	     const char *newname)
{
	struct daemon *d = dmn(req);
	struct mapfs_inode ip;
	int err = -EROFS;

	wlock(d);
	if (d->broken)
		err = -EIO;
	else if (!d->ro)
		err = bus_check(mapfs_op_link(d->fs, ino_of(nodeid),
					      ino_of(newparent), newname, &ip));
	if (retry_nospc(d, err))
		err = bus_check(mapfs_op_link(d->fs, ino_of(nodeid),
					      ino_of(newparent), newname, &ip));
	end_reply_entry(req, d, err, &ip);
}
