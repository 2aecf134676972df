/* SPDX-License-Identifier: MIT */
/*
 * daemon.c - the requests about the whole filesystem (INIT negotiation,
 * statfs, fsync's commit, the commit timer (a thread), remount ro/rw) and
 * the table of the FUSE low-level operations, each served in node.c,
 * fileops.c, dirops.c, xattrops.c or here.
 */
#include "glue.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <time.h>

void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct daemon *d = userdata;

	conn->time_gran = 1;
	fakeroot = d->fakeroot;
	fake_uid = d->fake_uid;
	fake_gid = d->fake_gid;
	/* The kernel may cache and merge writes (and owns mtime and size
	 * meanwhile, sending them to us in setattr): we are the only
	 * writer of the image, so its cache cannot go stale. */
	if (d->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		d->writeback = false;
	d->fs->kernel_times = d->writeback;
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	/* Let the kernel clear setuid/setgid on write, truncate and chown
	 * (it sends us the new mode); we do not implement killpriv. */
	conn->want &= ~(unsigned)FUSE_CAP_HANDLE_KILLPRIV;
	/* Asynchronous direct I/O (io_submit or io_uring of O_DIRECT
	 * requests) off unless -o async_dio: the kernel (6.18) drops the
	 * page cache of a range after a direct write only when the write
	 * completes synchronously, not in the completion of an
	 * asynchronous one, so a buffered read racing with an aio write
	 * could cache the old bytes for good (xfstests generic/451).
	 * Without it each direct request is served before the submitting
	 * call returns, and the invalidation follows every write. The
	 * daemon cannot invalidate in its place: that waits, in the
	 * kernel, for reads of the range that only the daemon can answer
	 * (docs/DESIGN.md, "Writes and a full filesystem"). */
	if (!d->async_dio)
		conn->want &= ~(unsigned)FUSE_CAP_ASYNC_DIO;
	/* We reply to reads from memory; splicing memory buffers copies. */
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_READ;
	conn->want &= ~(unsigned)FUSE_CAP_SPLICE_WRITE;
	/* POSIX ACLs: the kernel enforces them (default_permissions is on
	 * anyway) and keeps them as system.posix_acl_* xattrs with us; we
	 * keep mode and ACL in step and do the inheritance of default
	 * ACLs at creation, which needs the umask unapplied (DONT_MASK:
	 * it comes with each request and we apply it when the parent has
	 * no default ACL). Without both, ACLs stay off; with fakeroot too
	 * (the kernel turns default_permissions on with ACLs). */
	if (!d->fakeroot && (conn->capable & FUSE_CAP_POSIX_ACL) &&
	    (conn->capable & FUSE_CAP_DONT_MASK)) {
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
		acl_on = true;
	}
	/* A directory open has nothing for us to do: we keep no state
	 * per open directory, and every directory's listing may stay in
	 * the kernel's cache (below). When the kernel can open directories
	 * without asking, let it: a warm find or ls then costs no round
	 * trip per directory instead of OPENDIR (which the caller waits
	 * for) and RELEASEDIR. */
	d->no_opendir = conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT;
	/* FS_IOC_GETFLAGS / SETFLAGS on directories too. */
	if (conn->capable & FUSE_CAP_IOCTL_DIR)
		conn->want |= FUSE_CAP_IOCTL_DIR;
}

/* fsync and fsyncdir, through any descriptor (read-only ones too): one
 * commit makes every operation so far durable (with the journal: one
 * flush of the image, then a checkpoint). -o nosync answers at once. */
void do_sync(fuse_req_t req)
{
	struct daemon *d = dmn(req);
	int err = 0;

	if (!d->ro && !d->nosync) {
		wlock(d);
		err = bus_check(mapfs_fs_commit(d->fs));
		wunlock(d);
	}
	fuse_reply_err(req, -err);
}

int daemon_commit(struct daemon *d)
{
	int err;

	wlock(d);
	/* remounted read-only: everything was written then */
	err = d->broken ? -EIO : d->ro ? 0 : bus_check(mapfs_fs_commit(d->fs));
	wunlock(d);
	return err;
}

/* The commit timer: every commit= seconds, if anything changed, make it
 * durable (bounding what a power cut can take from a workload that never
 * calls fsync). */
static struct {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stop;
	int secs;
} ct = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *commit_loop(void *arg)
{
	struct daemon *d = arg;
	uint64_t last = 0;

	pthread_mutex_lock(&ct.mu);
	while (!ct.stop) {
		struct mapfs_journal_stats st;
		struct timespec until;
		bool data;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += ct.secs;
		while (!ct.stop &&
		       pthread_cond_timedwait(&ct.cv, &ct.mu, &until) == 0)
			;
		if (ct.stop)
			break;
		pthread_mutex_unlock(&ct.mu);
		pthread_rwlock_rdlock(&d->lock);
		mapfs_journal_get_stats(d->fs, &st);
		pthread_rwlock_unlock(&d->lock);
		data = atomic_exchange(&d->data_written, false);
		if ((st.records != last || data) && !d->broken &&
		    daemon_commit(d) < 0)
			mapfs_log(d->fs, MAPFS_LOG_ERR, "periodic commit failed");
		pthread_rwlock_rdlock(&d->lock);
		mapfs_journal_get_stats(d->fs, &st);
		pthread_rwlock_unlock(&d->lock);
		last = st.records;
		pthread_mutex_lock(&ct.mu);
	}
	pthread_mutex_unlock(&ct.mu);
	return NULL;
}

int daemon_commit_start(struct daemon *d, int secs)
{
	ct.secs = secs;
	if (pthread_create(&ct.thread, NULL, commit_loop, d) != 0)
		return -1;
	(void)pthread_setname_np(ct.thread, "mapfs-commit");
	ct.running = true;
	return 0;
}

void daemon_commit_stop(void)
{
	if (!ct.running)
		return;
	pthread_mutex_lock(&ct.mu);
	ct.stop = true;
	pthread_cond_signal(&ct.cv);
	pthread_mutex_unlock(&ct.mu);
	pthread_join(ct.thread, NULL);
	ct.running = false;
}

int daemon_set_ro(struct daemon *d, bool ro)
{
	struct mapfs_fs *fs = d->fs;
	int err = 0;

	wlock(d);
	if (d->broken) {
		err = -EIO;
	} else if (ro && !d->ro) {
		/* Requests that change anything answer EROFS from here on
		 * (the kernel refuses them first, the superblock being
		 * read-only by now); then everything goes home, the
		 * image is marked clean, and the lock becomes shared, so
		 * fsck -n may read the image while it stays mounted. */
		d->ro = true;
		err = bus_check(mapfs_fs_sync(fs));
		if (err == 0) {
			fs->state = atomic_load(&fs->error) ? MAPFS_STATE_ERROR
							    : MAPFS_STATE_CLEAN;
			fs->write_time = mapfs_now().sec;
			err = bus_check(mapfs_fs_sync(fs));
		}
		if (err < 0) {
			fs->state = MAPFS_STATE_MOUNTED;
			d->ro = false;
		} else if (fs->fd >= 0 &&
			   flock(fs->fd, LOCK_SH | LOCK_NB) < 0) {
			/* Not atomic (flock drops, then takes): never
			 * wait here, under the filesystem lock, for
			 * whoever got in between. The image is clean and
			 * stays read-only; rw asks for the lock again. */
			err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		}
	} else if (!ro && d->ro) {
		/* Back to read-write: only a daemon that opened the image
		 * read-write (the mapping is writable), and only when no
		 * fsck holds the image meanwhile. */
		if (!d->image_rw)
			err = -EROFS;
		else if (fs->fd >= 0 && flock(fs->fd, LOCK_EX | LOCK_NB) < 0)
			err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (err == 0) {
			fs->state = MAPFS_STATE_MOUNTED;
			fs->write_time = mapfs_now().sec;
			mapfs_super_store(fs);
			err = bus_check(mapfs_fs_commit(fs));
		}
		if (err == 0)
			d->ro = false;
	}
	wunlock(d);
	return err;
}

void op_statfs(fuse_req_t req, fuse_ino_t nodeid)
{
	struct daemon *d = dmn(req);
	struct mapfs_statfs s;
	struct statvfs st;

	(void)nodeid;
	rlock(d);
	mapfs_op_statfs(d->fs, &s);
	pthread_rwlock_unlock(&d->lock);
	memset(&st, 0, sizeof(st));
	st.f_bsize = s.bsize;
	st.f_frsize = s.bsize;
	st.f_blocks = s.blocks;
	st.f_bfree = s.bfree;
	st.f_bavail = s.bavail;
	st.f_files = s.files;
	st.f_ffree = s.ffree;
	st.f_favail = s.ffree;
	st.f_namemax = s.namemax;
	fuse_reply_statfs(req, &st);
}

const struct fuse_lowlevel_ops mapfs_ll_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	/* No .flush: libfuse answers ENOSYS once and the kernel stops
	 * sending it (one round trip less per close); the kernel still
	 * writes dirty pages back, and reports their errors, at close. */
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.create = op_create,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.fallocate = op_fallocate,
	.lseek = op_lseek,
	.copy_file_range = op_copy_file_range,
	.ioctl = op_ioctl,
};
