/* SPDX-License-Identifier: MIT */
/*
 * glue.h - what the files of the FUSE glue share, private to fs/fuse/:
 * the node id mapping, the lock wrapper (lock.c), the reference table
 * (refs.c), attributes and credentials (attr.c), the read heuristics
 * (readahead.c), the atime update (fileops.c) and the operations that
 * daemon.c's struct fuse_lowlevel_ops table names (node.c, fileops.c,
 * dirops.c, xattrops.c, daemon.c).
 *
 * Node ids are inode numbers, except FUSE_ROOT_ID (1), which is our root
 * (inode 2); ino_of()/nodeid_of() are the only places that map them.
 * File handles hold node id and generation, so any node id may come
 * back in a LOOKUP of "." (lookup_self), from any earlier run.
 */
#ifndef MAPFS_FUSE_GLUE_H
#define MAPFS_FUSE_GLUE_H

#include "daemon.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/uio.h>

struct ref {
	struct ref *next;
	mapfs_ino_t ino;
	uint64_t nlookup;
	uint64_t nopen;
	bool dead;		/* link count reached zero while referenced */
};

static inline struct daemon *dmn(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline mapfs_ino_t ino_of(fuse_ino_t nodeid)
{
	return nodeid == FUSE_ROOT_ID ? MAPFS_ROOT_INO : (mapfs_ino_t)nodeid;
}

static inline fuse_ino_t nodeid_of(mapfs_ino_t ino)
{
	return ino == MAPFS_ROOT_INO ? FUSE_ROOT_ID : (fuse_ino_t)ino;
}

/* lock.c: the SIGBUS guard and the filesystem lock (see lock.c). */
/* err, or -EIO if this thread hit a SIGBUS since the last check. */
int bus_check(int err);
/* Touch every page of an iovec list (a SIGBUS becomes EIO here). */
void bus_probe(const struct iovec *iov, int niov);
/* The shared lock, for operations that only look; released with
 * pthread_rwlock_unlock(&d->lock). */
void rlock(struct daemon *d);
/* The exclusive lock, taken by every change; it begins an operation. */
void wlock(struct daemon *d);
/* End the operation (its journal record) before a reply sent under the
 * exclusive lock; wunlock ends it too. */
void wend(struct daemon *d);
void wunlock(struct daemon *d);
/* After -ENOSPC: commit so that blocks freed by operations not yet
 * durable become usable; true if the caller should try again. Under
 * the exclusive lock. */
bool retry_nospc(struct daemon *d, int err);
/* wlock for a change: -EROFS or -EIO (lock not held), or 0 (held). */
int change_begin(struct daemon *d);

/* refs.c: lookup and open counts per inode. Caller holds d->ref_lock
 * for ref_find, ref_get and ref_put; the others take it. */
struct ref *ref_find(struct daemon *d, mapfs_ino_t ino);
/* The entry of ino, made if missing; NULL without memory. */
struct ref *ref_get(struct daemon *d, mapfs_ino_t ino);
/* Drop r if it holds nothing; returns whether the inode must be reaped. */
bool ref_put(struct daemon *d, struct ref *r);
/* Does the kernel hold ino: a lookup reference not yet forgotten, or
 * with opens, an open too? */
bool ref_held(struct daemon *d, mapfs_ino_t ino, bool opens);
void ref_lookup_inc(struct daemon *d, mapfs_ino_t ino);
/* Free ino, whose last reference went (takes the exclusive lock). */
void reap(struct daemon *d, mapfs_ino_t ino);

/* attr.c: -o fakeroot and POSIX ACLs, as op_init negotiated them. */
extern bool fakeroot;
extern uint32_t fake_uid, fake_gid;
extern bool acl_on;
/* id as stored: the mounting user's own id is 0 under -o fakeroot. */
uint32_t fakeroot_id(uint32_t id, uint32_t mine);
void fill_stat(const struct mapfs_fs *fs, const struct mapfs_inode *ip,
	       struct stat *st);
void fill_entry(struct daemon *d, const struct mapfs_inode *ip,
		struct fuse_entry_param *e);
/* A new entry in two steps, so that the reply goes out after the
 * filesystem lock is let go (the kernel's next request, which the reply
 * releases, must not find the lock still held; the kernel drops replies
 * that arrive out of order by their attribute versions). entry_take,
 * with d->lock held so the inode cannot be freed before the count is
 * taken: fills *e and counts the lookup reference. entry_send, without
 * the lock: the reply; if the kernel did not get it, the reference is
 * given back (and an unlinked inode it held freed). */
void entry_take(struct daemon *d, const struct mapfs_inode *ip,
		struct fuse_entry_param *e);
void entry_send(fuse_req_t req, struct daemon *d,
		const struct fuse_entry_param *e);
/* The caller of req as the core sees it (fakeroot applied). */
struct mapfs_cred cred_of(fuse_req_t req);
/* Drop setuid, setgid and security.capability after a change (see
 * attr.c): 1 if the inode changed, 0 if not, -ENOSYS when
 * FUSE_HANDLE_KILLPRIV_V2 was not agreed, another -errno on failure. */
int killpriv(struct daemon *d, mapfs_ino_t ino, bool suidgid,
	     struct mapfs_inode *ip);
/* killpriv for a change of the file's data by req's caller. */
int killpriv_req(struct daemon *d, fuse_req_t req, mapfs_ino_t ino,
		 bool suidgid, struct mapfs_inode *ip);

/* readahead.c: an open file's read history and the read heuristics. */
#define READ_MAXIOV 512	/* well under IOV_MAX; a 1 MiB read needs <= 258 */
/* A read of READ_AHEAD_MIN or more (the kernel's readahead, or a large
 * read(2)) also starts the same number of bytes READ_AHEAD further on:
 * the image's mapping is MADV_RANDOM, so nothing else reads ahead of a
 * sequential reader, and each request's pages would otherwise be read
 * only when that request asks for them. One slice per request keeps
 * READ_AHEAD of a stream in flight without asking twice for the same
 * pages (asking for the whole window each time was slower than none).
 * Cold 1 GiB dd after a remount: 430-480 -> 700-785 MiB/s; 2 to 16 MiB
 * ahead measured the same within noise. */
#define READ_AHEAD_MIN (128u << 10)
#define READ_AHEAD (4u << 20)
/* Give fi an ofile; without memory, fh stays 0 and reads through it
 * count as sequential. */
void ofile_new(struct fuse_file_info *fi);
void ofile_free(struct fuse_file_info *fi);
/* Is a read of [off, off + n) through fi part of a sequential stream?
 * Records it. */
bool read_is_seq(struct fuse_file_info *fi, uint64_t off, size_t n);
/* Start reading the image blocks under the file's bytes [from, from +
 * len). */
void read_ahead(struct daemon *d, const struct mapfs_inode *ip,
		uint64_t from, size_t len);
/* A read from the start of a file at p (len bytes of the image): start
 * reading the image after it (reading around, see readahead.c). */
void read_around(struct daemon *d, const void *p, size_t len);

/* fileops.c: is a read of ip due to update its atime (mapfs_atime_due with
 * the mount options); update it (mapfs_op_touch_atime; takes the
 * exclusive lock, tells the kernel). */
bool atime_due(const struct daemon *d, const struct mapfs_inode *ip);
void touch_atime(struct daemon *d, mapfs_ino_t ino);

/* daemon.c: fsync and fsyncdir (one commit, then the reply). */
void do_sync(fuse_req_t req);

#if FUSE_USE_VERSION < 35
typedef int ioctl_cmd_t;
#else
typedef unsigned int ioctl_cmd_t;
#endif

/* The operations, for daemon.c's table. */
/* daemon.c */
void op_init(void *userdata, struct fuse_conn_info *conn);
void op_statfs(fuse_req_t req, fuse_ino_t nodeid);

/* node.c */
void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_forget(fuse_req_t req, fuse_ino_t nodeid, uint64_t nlookup);
void op_forget_multi(fuse_req_t req, size_t count,
		     struct fuse_forget_data *forgets);
void op_getattr(fuse_req_t req, fuse_ino_t nodeid,
		struct fuse_file_info *fi);
void op_setattr(fuse_req_t req, fuse_ino_t nodeid, struct stat *attr,
		int to_set, struct fuse_file_info *fi);
void op_readlink(fuse_req_t req, fuse_ino_t nodeid);
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode, dev_t rdev);
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode);
void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
		const char *name);
void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi);
void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname,
	       unsigned int flags);
void op_link(fuse_req_t req, fuse_ino_t nodeid, fuse_ino_t newparent,
	     const char *newname);

/* fileops.c */
void op_open(fuse_req_t req, fuse_ino_t nodeid,
	     struct fuse_file_info *fi);
void op_release(fuse_req_t req, fuse_ino_t nodeid,
		struct fuse_file_info *fi);
void op_read(fuse_req_t req, fuse_ino_t nodeid, size_t size,
	     off_t off, struct fuse_file_info *fi);
void op_write(fuse_req_t req, fuse_ino_t nodeid, const char *buf,
	      size_t size, off_t off, struct fuse_file_info *fi);
void op_fsync(fuse_req_t req, fuse_ino_t nodeid, int datasync,
	      struct fuse_file_info *fi);
void op_fallocate(fuse_req_t req, fuse_ino_t nodeid, int mode,
		  off_t off, off_t len, struct fuse_file_info *fi);
void op_lseek(fuse_req_t req, fuse_ino_t nodeid, off_t off,
	      int whence, struct fuse_file_info *fi);
void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
			off_t off_in, struct fuse_file_info *fi_in,
			fuse_ino_t ino_out, off_t off_out,
			struct fuse_file_info *fi_out, size_t len,
			int flags);
void op_ioctl(fuse_req_t req, fuse_ino_t nodeid, ioctl_cmd_t cmd,
	      void *arg, struct fuse_file_info *fi, unsigned flags,
	      const void *in_buf, size_t in_bufsz, size_t out_bufsz);

/* dirops.c */
void op_opendir(fuse_req_t req, fuse_ino_t nodeid,
		struct fuse_file_info *fi);
void op_readdir(fuse_req_t req, fuse_ino_t nodeid, size_t size,
		off_t off, struct fuse_file_info *fi);
void op_readdirplus(fuse_req_t req, fuse_ino_t nodeid, size_t size,
		    off_t off, struct fuse_file_info *fi);
void op_releasedir(fuse_req_t req, fuse_ino_t nodeid,
		   struct fuse_file_info *fi);
void op_fsyncdir(fuse_req_t req, fuse_ino_t nodeid, int datasync,
		 struct fuse_file_info *fi);

/* xattrops.c */
void op_setxattr(fuse_req_t req, fuse_ino_t nodeid, const char *name,
		 const char *value, size_t size, int flags);
void op_removexattr(fuse_req_t req, fuse_ino_t nodeid,
		    const char *name);
void op_getxattr(fuse_req_t req, fuse_ino_t nodeid, const char *name,
		 size_t size);
void op_listxattr(fuse_req_t req, fuse_ino_t nodeid, size_t size);

#endif
