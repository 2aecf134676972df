/* SPDX-License-Identifier: MIT */
/*
 * fileops.c - the FUSE operations on open files: open, release, read, write,
 * fsync, fallocate, lseek, copy_file_range, ioctl (file flags); and when
 * a read updates atime (atime_due, touch_atime).
 */
#include "glue.h"
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

void op_open(fuse_req_t req, fuse_ino_t nodeid,
	     struct fuse_file_info *fi)
{
	struct daemon *d = dmn(req);
	mapfs_ino_t ino = ino_of(nodeid);
	struct mapfs_inode ip;
	/* Only O_TRUNC and reopening an unlinked file change anything:
	 * other opens share the lock (a read-only check and a count). */
	bool excl = fi->flags & O_TRUNC, killed = false, read_due = false;
	struct ref *r;
	int err;

	if (d->ro && (fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
again:
	if (excl)
		wlock(d);
	else
		rlock(d);
	err = mapfs_inode_load(d->fs, ino, &ip);
	if (err == 0 && (ip.mode & MAPFS_IFMT) == MAPFS_IFDIR)
		err = -EISDIR;
	if (err == 0)	/* chattr +i / +a */
		err = mapfs_op_may_open(d->fs, ino,
					(fi->flags & O_ACCMODE) != O_RDONLY,
					fi->flags & O_APPEND,
					fi->flags & O_TRUNC);
	if (err == 0 && ip.nlink == 0 && !d->ro) {
		if (!excl) {
			pthread_rwlock_unlock(&d->lock);
			excl = true;
			goto again;
		}
		err = mapfs_op_orphan_add(d->fs, ino);
	}
	if (err == 0 && (fi->flags & O_TRUNC) &&
	    (ip.mode & MAPFS_IFMT) == MAPFS_IFREG) {
		/* FUSE_CAP_ATOMIC_O_TRUNC: the truncation is ours. */
		struct mapfs_setattr sa;
		memset(&sa, 0, sizeof(sa));
		sa.valid = MAPFS_SET_SIZE;
		err = mapfs_op_setattr(d->fs, ino, &sa, true, &ip);
		if (err == 0)
			killed = killpriv_req(d, req, ino,
					      uring_req_kill_suidgid(),
					      &ip) > 0;
	}
	err = bus_check(err);
	if (err == 0 && (fi->flags & O_ACCMODE) != O_WRONLY &&
	    !(fi->flags & O_NOATIME))
		read_due = atime_due(d, &ip);
	if (err == 0) {
		pthread_mutex_lock(&d->ref_lock);
		r = ref_get(d, ino);
		if (r)
			r->nopen++;
		pthread_mutex_unlock(&d->ref_lock);
		if (!r)
			err = -ENOMEM;
	}
	if (excl)
		wunlock(d);
	else
		pthread_rwlock_unlock(&d->lock);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	if (killed)	/* the mode the kernel has is stale */
		fuse_lowlevel_notify_inval_inode(d->se, nodeid, -1, 0);
	/* We are the only writer of the image: the kernel's page cache of
	 * this file stays valid across opens. But FUSE inodes are
	 * S_NOATIME: a read the kernel serves from its cache never reaches
	 * us, and atime would not move. When a read is due to update atime
	 * (relatime: once after each change, or a day; strictatime: every
	 * open), the open drops the cached pages, so the first read comes
	 * to op_read, which updates it. */
	fi->keep_cache = !read_due;
	ofile_new(fi);
	if (fuse_reply_open(req, fi) != 0) {
		bool dead;
		ofile_free(fi);
		pthread_mutex_lock(&d->ref_lock);
		r = ref_find(d, ino);
		dead = r && r->nopen && (r->nopen--, ref_put(d, r));
		pthread_mutex_unlock(&d->ref_lock);
		if (dead)
			reap(d, ino);
	}
}

void op_release(fuse_req_t req, fuse_ino_t nodeid,
		struct fuse_file_info *fi)
{
	struct daemon *d = dmn(req);
	mapfs_ino_t ino = ino_of(nodeid);
	bool dead = false;
	struct ref *r;

	ofile_free(fi);
	pthread_mutex_lock(&d->ref_lock);
	r = ref_find(d, ino);
	if (r && r->nopen) {
		r->nopen--;
		dead = ref_put(d, r);
	}
	pthread_mutex_unlock(&d->ref_lock);
	if (dead)
		reap(d, ino);
	fuse_reply_err(req, 0);
}

/* The mount's atime options as the core's MAPFS_ATIME_* bits. */
static unsigned atime_mode(const struct daemon *d)
{
	return (d->ro || d->noatime ? MAPFS_ATIME_NEVER : 0) |
	       (d->strictatime ? MAPFS_ATIME_STRICT : 0) |
	       (d->nodiratime ? MAPFS_ATIME_NODIR : 0);
}

/* Is a read of ip due to update its atime (the core's policy)? */
bool atime_due(const struct daemon *d, const struct mapfs_inode *ip)
{
	return mapfs_atime_due(atime_mode(d), ip, mapfs_now());
}

void touch_atime(struct daemon *d, mapfs_ino_t ino)
{
	bool done = false;

	wlock(d);
	if (!d->broken)
		done = mapfs_op_touch_atime(d->fs, atime_mode(d), ino) > 0;
	bus_check(0);
	wunlock(d);
	/* The kernel caches attributes for long: tell it atime moved. */
	if (done)
		fuse_lowlevel_notify_inval_inode(d->se, nodeid_of(ino), -1, 0);
}

void op_read(fuse_req_t req, fuse_ino_t nodeid, size_t size,
	     off_t off, struct fuse_file_info *fi)
{
	struct daemon *d = dmn(req);
	struct iovec iov[READ_MAXIOV];
	struct mapfs_inode ip;
	ssize_t n = 0;
	int niov = 0, err;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* The reply points into the mapping: keep the shared lock until it
	 * has been written to the kernel. */
	rlock(d);
	err = mapfs_inode_load(d->fs, ino_of(nodeid), &ip);
	if (err == 0 && (ip.mode & MAPFS_IFMT) != MAPFS_IFREG)
		err = (ip.mode & MAPFS_IFMT) == MAPFS_IFDIR ? -EISDIR : -EINVAL;
	if (err == 0 && atime_due(d, &ip)) {
		/* relatime before the reply: a stat made once read(2) has
		 * returned must see the new atime (as on Linux's own
		 * filesystems), so update it and invalidate the kernel's
		 * attributes first. Rare: once per change of the file. */
		pthread_rwlock_unlock(&d->lock);
		touch_atime(d, ip.ino);
		rlock(d);
		err = mapfs_inode_load(d->fs, ino_of(nodeid), &ip);
	}
	if (err == 0) {
		n = mapfs_file_read_iov(d->fs, &ip, (uint64_t)off, size, iov,
					READ_MAXIOV, &niov);
		if (n < 0)
			err = (int)n;
		/* Reads of more than a page: start the whole range at
		 * once rather than fault it in page by page (the mapping
		 * is MADV_RANDOM: a fault reads its own page only). */
		for (int i = 0; n > MAPFS_PAGE_SIZE && i < niov; i++)
			mapfs_fs_readahead(d->fs, iov[i].iov_base,
					   iov[i].iov_len);
		if (off == 0 && n > 0)
			read_around(d, iov[0].iov_base, iov[0].iov_len);
		if (n > 0 && read_is_seq(fi, (uint64_t)off, (size_t)n) &&
		    n >= (ssize_t)READ_AHEAD_MIN &&
		    (uint64_t)off + READ_AHEAD < ip.size)
			read_ahead(d, &ip, (uint64_t)off + READ_AHEAD,
				   (size_t)n);
		if (err == 0)
			bus_probe(iov, niov);
	}
	err = bus_check(err);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_iov(req, iov, niov);
	pthread_rwlock_unlock(&d->lock);
}

void op_write(fuse_req_t req, fuse_ino_t nodeid, const char *buf,
	      size_t size, off_t off, struct fuse_file_info *fi)
{
	struct daemon *d = dmn(req);
	struct mapfs_inode ip;
	uint64_t blocks = 0;
	bool grew = false, killed = false, reserve = false;
	/* The request's own uid, as before -o fakeroot's mapping. */
	struct mapfs_cred cr = {fuse_req_ctx(req)->uid, fuse_req_ctx(req)->gid};
	ssize_t n;

	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (d->ro || d->broken) {
		fuse_reply_err(req, d->ro ? EROFS : EIO);
		return;
	}
	wlock(d);
	/* The root reserve: the core decides (mapfs_write_may_reserve),
	 * from the inode loaded here anyway (no second load). */
	if (mapfs_inode_load(d->fs, ino_of(nodeid), &ip) == 0) {
		blocks = ip.blocks;
		reserve = mapfs_write_may_reserve(&cr, &ip);
	}
	n = mapfs_op_write(d->fs, ino_of(nodeid), (uint64_t)off, buf, size,
			   reserve);
	if ((n == -ENOSPC || (n >= 0 && (size_t)n < size)) &&
	    retry_nospc(d, -ENOSPC)) {
		size_t done = n > 0 ? (size_t)n : 0;
		ssize_t m = mapfs_op_write(d->fs, ino_of(nodeid),
					   (uint64_t)off + done, buf + done,
					   size - done, reserve);
		if (m > 0)
			n = (ssize_t)(done + (size_t)m);
		else if (done == 0)
			n = m;
	}
	if (n > 0) {
		/* killpriv leaves the inode in ip: no second load below */
		int kp = killpriv_req(d, req, ino_of(nodeid),
				      uring_req_kill_suidgid(), &ip);

		atomic_store(&d->data_written, true);
		killed = kp > 0;
		if (d->writeback &&
		    (kp >= 0 || mapfs_inode_load(d->fs, ino_of(nodeid),
						 &ip) == 0) &&
		    ip.blocks != blocks)
			grew = true;
	}
	if (bus_check(0))
		n = -EIO;
	wunlock(d);
	/* before the reply, so a stat right after sees the new mode */
	if (killed)
		fuse_lowlevel_notify_inval_inode(d->se, nodeid, -1, 0);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
	/* With the writeback cache the kernel keeps its cached attributes
	 * across writes; the block count is ours alone: refresh it. */
	if (grew && !killed)
		fuse_lowlevel_notify_inval_inode(d->se, nodeid, -1, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t nodeid, int datasync,
	      struct fuse_file_info *fi)
{
	(void)nodeid;
	(void)datasync;
	(void)fi;
	do_sync(req);
}

/* ---------------------------------------------------------------- */
/* fallocate, lseek, copy_file_range, file flags                     */
/* ---------------------------------------------------------------- */

void op_fallocate(fuse_req_t req, fuse_ino_t nodeid, int mode,
		  off_t off, off_t len, struct fuse_file_info *fi)
{
	struct daemon *d = dmn(req);
	int err;

	(void)fi;
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	err = change_begin(d);
	if (err == 0) {
		err = bus_check(mapfs_op_fallocate(d->fs, ino_of(nodeid), mode,
						   (uint64_t)off,
						   (uint64_t)len,
						   fuse_req_ctx(req)->uid == 0));
		if (retry_nospc(d, err))
			err = bus_check(mapfs_op_fallocate(
				d->fs, ino_of(nodeid), mode, (uint64_t)off,
				(uint64_t)len, fuse_req_ctx(req)->uid == 0));
		if (err == 0) {	/* as ext4 (file_modified); uid 0 for
				 * CAP_FSETID: no kill flag comes */
			struct mapfs_inode ip;

			atomic_store(&d->data_written, true);
			(void)killpriv_req(d, req, ino_of(nodeid),
					   fuse_req_ctx(req)->uid != 0, &ip);
		}
		wunlock(d);
	}
	fuse_reply_err(req, -err);
	/* size, blocks and times changed behind the kernel's cache */
	if (err == 0)
		fuse_lowlevel_notify_inval_inode(d->se, nodeid, -1, 0);
}

void op_lseek(fuse_req_t req, fuse_ino_t nodeid, off_t off,
	      int whence, struct fuse_file_info *fi)
{
	struct daemon *d = dmn(req);
	uint64_t res = 0;
	int err;

	(void)fi;
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		/* SEEK_SET/CUR/END never reach us; anything else: */
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	if (d->writeback) {
		/* The kernel does not write back dirty pages before asking
		 * (Linux 6.18), and the block map knows only what reached
		 * us. Making it write them back from here (invalidating the
		 * file's pages) would have this thread wait, inside the
		 * kernel, for its own mount: a daemon killed meanwhile hung
		 * the mount until a fusectl abort (docs/DURABILITY.md, "Killing
		 * the daemon"). So with the writeback cache answer ENOSYS,
		 * once: the kernel then treats every byte up to EOF as data
		 * for good, which POSIX allows (holes are optional). */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	rlock(d);
	err = bus_check(mapfs_op_seek(d->fs, ino_of(nodeid), (uint64_t)off,
				      whence == SEEK_DATA, &res));
	pthread_rwlock_unlock(&d->lock);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_lseek(req, (off_t)res);
}

void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
			off_t off_in, struct fuse_file_info *fi_in,
			fuse_ino_t ino_out, off_t off_out,
			struct fuse_file_info *fi_out, size_t len,
			int flags)
{
	struct daemon *d = dmn(req);
	ssize_t n;
	int err;

	(void)fi_in;
	(void)fi_out;
	if (flags || off_in < 0 || off_out < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	err = change_begin(d);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	n = mapfs_op_copy_range(d->fs, ino_of(ino_in), (uint64_t)off_in,
				ino_of(ino_out), (uint64_t)off_out, len,
				fuse_req_ctx(req)->uid == 0);
	if (n > 0) {	/* no kill flag comes with it: uid 0 for CAP_FSETID */
		struct mapfs_inode ip;

		atomic_store(&d->data_written, true);
		(void)killpriv_req(d, req, ino_of(ino_out),
				   fuse_req_ctx(req)->uid != 0, &ip);
	}
	if (bus_check(0))
		n = -EIO;
	wunlock(d);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	fuse_reply_write(req, (size_t)n);
	if (n > 0)
		fuse_lowlevel_notify_inval_inode(d->se, ino_out, -1, 0);
}

/*
 * FS_IOC_GETFLAGS / FS_IOC_SETFLAGS, and FS_IOC_FSGETXATTR /
 * FS_IOC_FSSETXATTR for the same flags. Since Linux 5.13 the kernel
 * reaches us through fileattr_get/set (which opens the file itself) with
 * a 4-byte int for the flags; we read and reply 4 bytes whatever room
 * the caller declared, so a caller passing an int is never overrun.
 */
/* The chattr flags as FS_IOC_FSGETXATTR's xflags (since Linux 6.x the
 * kernel's fileattr code asks for these first) and back; -1 for xflags
 * we do not keep. */
static uint32_t flags_to_xflags(uint32_t fl)
{
	return ((fl & MAPFS_FL_IMMUTABLE) ? FS_XFLAG_IMMUTABLE : 0) |
	       ((fl & MAPFS_FL_APPEND) ? FS_XFLAG_APPEND : 0) |
	       ((fl & MAPFS_FL_NODUMP) ? FS_XFLAG_NODUMP : 0) |
	       ((fl & MAPFS_FL_NOATIME) ? FS_XFLAG_NOATIME : 0);
}

static int xflags_to_flags(uint32_t xf, uint32_t *flp)
{
	const uint32_t known = FS_XFLAG_IMMUTABLE | FS_XFLAG_APPEND |
			       FS_XFLAG_NODUMP | FS_XFLAG_NOATIME;

	if (xf & ~known)
		return -1;
	*flp = ((xf & FS_XFLAG_IMMUTABLE) ? MAPFS_FL_IMMUTABLE : 0) |
	       ((xf & FS_XFLAG_APPEND) ? MAPFS_FL_APPEND : 0) |
	       ((xf & FS_XFLAG_NODUMP) ? MAPFS_FL_NODUMP : 0) |
	       ((xf & FS_XFLAG_NOATIME) ? MAPFS_FL_NOATIME : 0);
	return 0;
}

void op_ioctl(fuse_req_t req, fuse_ino_t nodeid, ioctl_cmd_t cmd,
	      void *arg, struct fuse_file_info *fi, unsigned flags,
	      const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	struct daemon *d = dmn(req);
	struct mapfs_cred cr = cred_of(req);
	struct fsxattr fsx;
	uint32_t fl = 0;
	int err;

	(void)arg;
	(void)fi;
	if (flags & FUSE_IOCTL_COMPAT) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	switch ((unsigned)cmd) {
	case FS_IOC_GETFLAGS:
		if (out_bufsz < sizeof(fl)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		rlock(d);
		err = bus_check(mapfs_op_getflags(d->fs, ino_of(nodeid), &fl));
		pthread_rwlock_unlock(&d->lock);
		if (err)
			fuse_reply_err(req, -err);
		else
			fuse_reply_ioctl(req, 0, &fl, sizeof(fl));
		return;
	case FS_IOC_SETFLAGS:
		if (in_bufsz < sizeof(fl)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		memcpy(&fl, in_buf, sizeof(fl));
set:
		err = change_begin(d);
		if (err == 0) {
			err = bus_check(mapfs_op_setflags(d->fs, &cr,
							  ino_of(nodeid), fl));
			wunlock(d);
		}
		/* ctime changed: said before the reply (attributes only,
		 * nothing waits on the inode's lock), so a stat right after
		 * the ioctl sees it. */
		if (err == 0)
			fuse_lowlevel_notify_inval_inode(d->se, nodeid, -1, 0);
		if (err)
			fuse_reply_err(req, -err);
		else
			fuse_reply_ioctl(req, 0, NULL, 0);
		return;
	case FS_IOC_FSGETXATTR:
		if (out_bufsz < sizeof(fsx)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		rlock(d);
		err = bus_check(mapfs_op_getflags(d->fs, ino_of(nodeid), &fl));
		pthread_rwlock_unlock(&d->lock);
		memset(&fsx, 0, sizeof(fsx));
		fsx.fsx_xflags = flags_to_xflags(fl);
		if (err)
			fuse_reply_err(req, -err);
		else
			fuse_reply_ioctl(req, 0, &fsx, sizeof(fsx));
		return;
	case FS_IOC_FSSETXATTR:
		if (in_bufsz < sizeof(fsx)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		memcpy(&fsx, in_buf, sizeof(fsx));
		if (fsx.fsx_extsize || fsx.fsx_projid || fsx.fsx_cowextsize ||
		    xflags_to_flags(fsx.fsx_xflags, &fl) < 0) {
			fuse_reply_err(req, EOPNOTSUPP);
			return;
		}
		goto set;
	case MAPFS_IOC_GROW:	/* growfs.mapfs on the mount (growops.c) */
		daemon_ioctl_grow(req, in_buf, in_bufsz, out_bufsz);
		return;
	default:
		fuse_reply_err(req, ENOTTY);
	}
}
