/* SPDX-License-Identifier: MIT */
/* daemon.h - the daemon's state (struct daemon), shared by main.c and the
 * request glue (glue.h), and what main.c, remount.c and extra.c call. */
#ifndef MAPFS_DAEMON_H
#define MAPFS_DAEMON_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>

#include "mapfs.h"

struct ref;

struct daemon {
	struct mapfs_fs *fs;
	struct fuse_session *se;
	bool writeback;		/* kernel writeback cache (-o nowriteback: off) */
	bool ro;		/* requests answer EROFS (-o ro, remount) */
	bool image_rw;		/* the image is open and mapped read-write */
	bool noatime;		/* -o noatime: never update atime */
	bool strictatime;	/* -o strictatime: every read (else relatime) */
	bool nodiratime;	/* -o nodiratime: never a directory's atime */
	bool nosync;		/* -o nosync: fsync does nothing */
	bool async_dio;		/* -o async_dio: the kernel may send direct
				 * requests of one aio call in parallel */
	/* The kernel opens directories itself (FUSE_NO_OPENDIR_SUPPORT):
	 * opendir answers ENOSYS once, and no OPENDIR or RELEASEDIR is
	 * sent after that. */
	bool no_opendir;
	/* -o fakeroot: no permission checks, every inode shown as owned by
	 * fake_uid:fake_gid (the mounting user), and requests from that
	 * user stored as from 0:0 (see attr.c). */
	bool fakeroot;
	uint32_t fake_uid, fake_gid;
	bool single;		/* -s: one thread (no request may wait for
				 * another to be served) */
	/* A SIGBUS hit the mapping: answer EIO to every change. */
	volatile bool broken;
	double timeout;		/* entry and attribute timeout, seconds */
	/* The filesystem lock: shared for lookups, getattr, readdir and
	 * reads; exclusive for every change. Taken before ref_lock. */
	pthread_rwlock_t lock;
	/* Reading around small files (op_read): the image bytes
	 * [ra_lo, ra_hi) were last asked for. */
	pthread_mutex_t ra_lock;
	uint64_t ra_lo, ra_hi;
	/* File data was written since the commit timer last looked: an
	 * overwrite inside a file changes no metadata, so it leaves no
	 * journal record for the timer to notice. */
	atomic_bool data_written;
	/* Lookup and open counts of live inodes, by inode number. */
	pthread_mutex_t ref_lock;
	struct ref **refs;
	size_t nbuckets, nrefs;
};

extern const struct fuse_lowlevel_ops mapfs_ll_ops;

/* Free every inode whose last reference went away with the unmount. */
void daemon_reap_all(struct daemon *d);
int daemon_busy(void *arg, mapfs_ino_t ino);
void daemon_refs_free(struct daemon *d);
/* Make everything so far durable (the commit timer). */
int daemon_commit(struct daemon *d);
/* The commit timer (daemon.c): a thread that, every secs seconds, makes
 * what changed durable (daemon_commit). start: 0, or -1 if the thread
 * cannot be made. stop: joins it (no-op if not running). */
int daemon_commit_start(struct daemon *d, int secs);
void daemon_commit_stop(void);
/* mount -o remount,ro / remount,rw (remount.c): read-only writes
 * everything home, marks the image clean and shares the image lock;
 * read-write takes the lock back (-EBUSY while another holds it) and
 * marks the image mounted. -EROFS for rw when the image was opened
 * read-only. 0 or -errno. */
int daemon_set_ro(struct daemon *d, bool ro);
/* Turn SIGBUS on the mapping into EIO (see lock.c). */
void daemon_catch_sigbus(struct daemon *d);
/* The mapping grew (growops.c): faults up to its new end are ours. */
void daemon_bus_resize(struct daemon *d);
/* MAPFS_IOC_GROW (growops.c): grow the mounted filesystem. */
void daemon_ioctl_grow(fuse_req_t req, const void *in_buf, size_t in_bufsz,
		       size_t out_bufsz);
/* O_TMPFILE in parent (extra.c): make the inode, count one lookup and
 * one open for the reply, fill *e and *fi as a create would. Returns 0
 * or -errno. */
int daemon_tmpfile(struct daemon *d, fuse_ino_t parent, uint32_t uid,
		   uint32_t gid, uint32_t mode, uint32_t umask,
		   struct fuse_entry_param *e, struct fuse_file_info *fi);
/* The attributes of nodeid (GETATTR) and, when btime is not NULL, its
 * birth time (FUSE_STATX, extra.c). 0 or -errno. */
int daemon_statx(struct daemon *d, fuse_ino_t nodeid, struct stat *st,
		 struct timespec *btime);
/* The reply of a daemon_tmpfile did not reach the kernel: drop what it
 * counted (the inode is freed). */
void daemon_tmpfile_undo(struct daemon *d, fuse_ino_t nodeid,
			 struct fuse_file_info *fi);
/* A message to the daemon's log (main.c): stderr in the foreground,
 * syslog once detached, and the -o logfile file. printf-style. */
void daemon_log(enum mapfs_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
