/* SPDX-License-Identifier: MIT */
/*
 * attr.c - what a reply says about an inode (struct stat, entries, with
 * -o fakeroot's ids), who a request comes from (cred_of), and dropping
 * setuid, setgid and capabilities after a change (killpriv).
 */
#include "glue.h"
#include "caller.h"
#include "uring.h"

#include <errno.h>
#include <string.h>

/* ---------------------------------------------------------------- */
/* Attributes                                                        */
/* ---------------------------------------------------------------- */
/*
 * -o fakeroot (set by op_init from the daemon, before any request): the
 * mounting user is root inside the image. The kernel checks no
 * permissions (no default_permissions) and neither do we; every inode
 * is shown as owned by the mounting user (so the kernel's one remaining
 * check, the execute bit of regular files, sees the caller as owner);
 * the ids of requests (new inodes, chown, chgrp) are stored as sent,
 * except the mounting user's own uid and gid, which are stored as 0.
 */
bool fakeroot;
uint32_t fake_uid, fake_gid;

uint32_t fakeroot_id(uint32_t id, uint32_t mine)
{
	return fakeroot && id == mine ? 0 : id;
}

void fill_stat(const struct mapfs_fs *fs, const struct mapfs_inode *ip,
	       struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ip->ino;
	st->st_mode = ip->mode;
	st->st_nlink = ip->nlink;
	st->st_uid = fakeroot ? fake_uid : ip->uid;
	st->st_gid = fakeroot ? fake_gid : ip->gid;
	st->st_rdev = (dev_t)ip->rdev;
	st->st_size = (off_t)ip->size;
	st->st_blksize = fs->g.bsize;
	st->st_blocks = (blkcnt_t)(ip->blocks << (fs->g.bshift - 9));
	st->st_atim.tv_sec = ip->atime.sec;
	st->st_atim.tv_nsec = ip->atime.nsec;
	st->st_mtim.tv_sec = ip->mtime.sec;
	st->st_mtim.tv_nsec = ip->mtime.nsec;
	st->st_ctim.tv_sec = ip->ctime.sec;
	st->st_ctim.tv_nsec = ip->ctime.nsec;
}

void fill_entry(struct daemon *d, const struct mapfs_inode *ip,
		struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = nodeid_of(ip->ino);
	/* The kernel made the root's inode with generation 0 at mount and
	 * expects 0 in every entry naming it (file handles compare it). */
	e->generation = ip->ino == MAPFS_ROOT_INO ? 0 : ip->gen;
	e->attr_timeout = d->timeout;
	e->entry_timeout = d->timeout;
	fill_stat(d->fs, ip, &e->attr);
}

void entry_take(struct daemon *d, const struct mapfs_inode *ip,
		struct fuse_entry_param *e)
{
	fill_entry(d, ip, e);
	ref_lookup_inc(d, ip->ino);
}

void entry_send(fuse_req_t req, struct daemon *d,
		const struct fuse_entry_param *e)
{
	mapfs_ino_t ino = ino_of(e->ino);
	bool dead = false;
	struct ref *r;

	if (fuse_reply_entry(req, e) == 0)
		return;
	/* The kernel did not get it (interrupted): undo, and free the
	 * inode if that was the last reference to an unlinked one. */
	pthread_mutex_lock(&d->ref_lock);
	r = ref_find(d, ino);
	if (r && r->nlookup) {
		r->nlookup--;
		dead = ref_put(d, r);
	}
	pthread_mutex_unlock(&d->ref_lock);
	if (dead)
		reap(d, ino);
}

struct mapfs_cred cred_of(fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct mapfs_cred cr = {fakeroot_id(c->uid, fake_uid),
				fakeroot_id(c->gid, fake_gid)};
	return cr;
}

/* POSIX ACLs negotiated (op_init): creation inherits default ACLs. */
bool acl_on;

/* With FUSE_HANDLE_KILLPRIV_V2 (agreed in uring.c's INIT reply) the
 * kernel leaves clearing setuid, setgid and security.capability on
 * write, truncate and chown to us, and in exchange stops asking for
 * security.capability before every write(2). Call under the write
 * lock after the change; suidgid: the caller lacks CAP_FSETID. Returns
 * 1 if the inode changed (the kernel's cached mode is stale), 0 if not
 * (either way ip holds the inode as it is now), -ENOSYS when the flag
 * was not agreed, another -errno on failure. Errors leave the
 * privileges (a full image cannot even drop an xattr); the data change
 * itself stands. */
int killpriv(struct daemon *d, mapfs_ino_t ino, bool suidgid,
	     struct mapfs_inode *ip)
{
	if (!uring_killpriv())
		return -ENOSYS;
	return mapfs_op_killpriv(d->fs, ino, suidgid ? MAPFS_KILL_SUIDGID : 0,
				 ip);
}

/* killpriv for a change of the file's data by req's caller (write,
 * truncate, fallocate, copy_file_range): with suidgid, setgid without
 * group-execute goes too when the caller is outside the file's group
 * and lacks CAP_FSETID, as Linux's setattr_should_drop_sgid; the kernel's
 * FUSE client never asks for that (it tests group-execute only). */
int killpriv_req(struct daemon *d, fuse_req_t req, mapfs_ino_t ino,
		 bool suidgid, struct mapfs_inode *ip)
{
	unsigned kill = suidgid ? MAPFS_KILL_SUIDGID : 0;
	int err;

	if (!uring_killpriv())
		return -ENOSYS;
	if (suidgid) {
		struct mapfs_cred cr = cred_of(req);

		err = mapfs_inode_load(d->fs, ino, ip);
		if (err < 0)
			return err;
		if ((ip->mode & (S_ISGID | S_IXGRP)) == S_ISGID &&
		    !caller_in_group_or_capable(fuse_req_ctx(req)->pid,
						cr.uid, cr.gid, ip->gid))
			kill |= MAPFS_KILL_SGID;
	}
	return mapfs_op_killpriv(d->fs, ino, kill, ip);
}
