/* SPDX-License-Identifier: MIT */
/*
 * ops.c - the FUSE low-level operations: decode, call the core, reply.
 *
 * Node ids are inode numbers, except FUSE_ROOT_ID (1), which is our root
 * (inode 2); ino_of()/nodeid_of() are the only places that map them.
 * File handles hold node id and generation, so any node id may come
 * back in a LOOKUP of "." (lookup_self), from any earlier run.
 *
 * Concurrency. libfuse runs these from several threads. Two locks:
 *  - d->lock, a filesystem-wide rwlock: shared by operations that only
 *    read the image (lookup, getattr, readlink, read, readdir, statfs),
 *    exclusive for everything that changes it. A read holds it until its
 *    reply has been sent, because the reply points into the mapping.
 *  - d->ref_lock, a mutex over the reference table (lookup and open
 *    counts per inode), taken inside d->lock when both are needed.
 * Lock order: d->lock, then d->ref_lock. Never the other way round.
 *
 * References. Every entry reply (lookup, create, mknod, mkdir, symlink,
 * link, readdirplus) adds one lookup reference; forget removes them; open
 * and release count opens. An inode whose link count drops to zero while
 * referenced is kept (the core asks daemon_busy) and freed when the last
 * reference goes (mapfs_op_reap), or at unmount.
 */
#include "caller.h"
#include "daemon.h"
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <unistd.h>

struct ref {
	struct ref *next;
	mapfs_ino_t ino;
	uint64_t nlookup;
	uint64_t nopen;
	bool dead;		/* link count reached zero while referenced */
};

/* One per open file (fi->fh): where the last read through it ended, to
 * tell sequential readers from random ones (op_read). */
struct ofile {
	/* Atomic: reads of one file may run at once. */
	uint64_t read_end;	/* where the last read ended */
	uint32_t read_run;	/* reads in a row that followed the one before */
};

/* Give fi an ofile; without memory, fh stays 0 and reads through it
 * count as sequential. */
static void ofile_new(struct fuse_file_info *fi)
{
	fi->fh = (uint64_t)(uintptr_t)calloc(1, sizeof(struct ofile));
}

static void ofile_free(struct fuse_file_info *fi)
{
	free((struct ofile *)(uintptr_t)fi->fh);
	fi->fh = 0;
}

static struct daemon *dmn(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static mapfs_ino_t ino_of(fuse_ino_t nodeid)
{
	return nodeid == FUSE_ROOT_ID ? MAPFS_ROOT_INO : (mapfs_ino_t)nodeid;
}

static fuse_ino_t nodeid_of(mapfs_ino_t ino)
{
	return ino == MAPFS_ROOT_INO ? FUSE_ROOT_ID : (fuse_ino_t)ino;
}

/* ---------------------------------------------------------------- */
/* SIGBUS from the mapping                                           */
/* ---------------------------------------------------------------- */
/*
 * A store or load through the mapping faults with SIGBUS when the host
 * cannot back the page: an I/O error, or the image file shrunk under us.
 * The handler replaces the faulting page with an anonymous zero page (so
 * the interrupted instruction completes and the core sees zeros, which it
 * rejects as it rejects any damage), flags the thread, marks the
 * filesystem as needing a check and stops all further changes. Each
 * operation checks the flag before it replies and answers EIO instead.
 */
static uint8_t *bus_lo, *bus_hi, *bus_dlo, *bus_dhi;
static struct daemon *bus_daemon;
static __thread bool bus_hit;

static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	uint8_t *a = si->si_addr;

	(void)uc;
	if ((a >= bus_lo && a < bus_hi) || (a >= bus_dlo && a < bus_dhi)) {
		void *page = (void *)((uintptr_t)a & ~(uintptr_t)4095);
		if (mmap(page, 4096, PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) !=
		    MAP_FAILED) {
			bus_hit = true;
			atomic_store(&bus_daemon->fs->error, 1);
			bus_daemon->broken = true;
			return;
		}
	}
	/* Not ours (or no way out): die as the default action would. */
	signal(sig, SIG_DFL);
	raise(sig);
}

void daemon_catch_sigbus(struct daemon *d)
{
	struct sigaction sa;

	bus_daemon = d;
	/* Both mappings: metadata (private when journaling) and data. */
	bus_lo = d->fs->base;
	bus_hi = d->fs->base + d->fs->size;
	bus_dlo = d->fs->dbase;
	bus_dhi = d->fs->dbase + d->fs->size;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigbus_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

/* err, or -EIO if this thread hit a SIGBUS since the last check. */
static int bus_check(int err)
{
	if (bus_hit) {
		bus_hit = false;
		return -EIO;
	}
	return err;
}

/* ---------------------------------------------------------------- */
/* The exclusive lock and the journal                                */
/* ---------------------------------------------------------------- */
/*
 * Every change runs between wlock and wunlock. wlock keeps room in the
 * journal for it; wend (in wunlock, or before a reply sent under the
 * lock) writes its record. A record is written before the reply, so an
 * acknowledged operation survives a daemon crash; it is durable after the
 * next commit (fsync, fsyncdir, the commit timer, unmount).
 */
static void journal_failed(struct daemon *d, int err)
{
	syslog(LOG_ERR, "mapfs: journal write failed: %s; no more changes "
	       "accepted", strerror(-err));
	d->broken = true;
	atomic_store(&d->fs->error, 1);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#define SPIN 2000	/* pauses: some tens of microseconds */

/* CPU of the thread holding the write lock, -1 if none: spinning for
 * a holder that runs on our own CPU only delays it. */
static _Atomic int wlock_cpu = -1;

static bool spin_useful(void)
{
	int holder = atomic_load_explicit(&wlock_cpu, memory_order_relaxed);

	return holder < 0 || holder != sched_getcpu();
}

/* The read lock, for operations that only look (spins as wlock). */
static void rlock(struct daemon *d)
{
	if (spin_useful()) {
		for (int i = 0; i < SPIN; i++) {
			if (pthread_rwlock_tryrdlock(&d->lock) == 0)
				return;
			cpu_relax();
		}
	}
	pthread_rwlock_rdlock(&d->lock);
}

/* The write lock, taken by every change. Its holders keep it a few
 * microseconds; a waiter that went to sleep costs a futex wake and two
 * context switches (measured: 8.5% of the daemon's time in futex_wake
 * with two processes creating files). So spin a little first. */
static void wlock(struct daemon *d)
{
	int err;

	if (spin_useful()) {
		for (int i = 0; i < SPIN; i++) {
			if (pthread_rwlock_trywrlock(&d->lock) == 0)
				goto locked;
			cpu_relax();
		}
	}
	pthread_rwlock_wrlock(&d->lock);
locked:
	atomic_store_explicit(&wlock_cpu, sched_getcpu(), memory_order_relaxed);
	err = mapfs_op_begin(d->fs);
	if (err < 0)
		journal_failed(d, err);
}

static void wend(struct daemon *d)
{
	int err = mapfs_op_end(d->fs);

	if (err < 0)
		journal_failed(d, err);
}

static void wunlock(struct daemon *d)
{
	wend(d);
	atomic_store_explicit(&wlock_cpu, -1, memory_order_relaxed);
	pthread_rwlock_unlock(&d->lock);
}

/* An allocation failed while blocks freed by operations not yet durable
 * wait for a commit: the core's policy (mapfs_op_retry_nospc) says
 * whether to try again. Caller holds the lock exclusively. */
static bool retry_nospc(struct daemon *d, int err)
{
	int jerr;
	bool again = mapfs_op_retry_nospc(d->fs, err, &jerr);

	if (jerr < 0)
		journal_failed(d, jerr);
	return again;
}

/* Touch every page an iovec list points to, so that a page the host
 * cannot back faults here (and becomes EIO) rather than in the kernel's
 * copy of the reply, which would fail the reply itself. */
static void bus_probe(const struct iovec *iov, int niov)
{
	for (int i = 0; i < niov; i++) {
		const volatile uint8_t *p = iov[i].iov_base;
		for (size_t o = 0; o < iov[i].iov_len; o += 4096)
			(void)p[o];
		if (iov[i].iov_len)
			(void)p[iov[i].iov_len - 1];
	}
}

/* ---------------------------------------------------------------- */
/* Reference table: chained hash, grown when the load passes 1.      */
/* Caller holds ref_lock.                                             */
/* ---------------------------------------------------------------- */
static size_t ref_hash(const struct daemon *d, mapfs_ino_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 20) &
	       (d->nbuckets - 1);
}

static struct ref *ref_find(struct daemon *d, mapfs_ino_t ino)
{
	if (!d->nbuckets)
		return NULL;
	for (struct ref *r = d->refs[ref_hash(d, ino)]; r; r = r->next)
		if (r->ino == ino)
			return r;
	return NULL;
}

static void ref_grow(struct daemon *d)
{
	size_t old = d->nbuckets, n = old ? old * 2 : 1024;
	struct ref **nb = calloc(n, sizeof(*nb));
	struct ref **ob = d->refs;

	if (!nb)
		return;		/* keep the old table: longer chains */
	d->refs = nb;
	d->nbuckets = n;
	for (size_t i = 0; i < old; i++) {
		struct ref *r = ob[i], *next;
		for (; r; r = next) {
			size_t h = ref_hash(d, r->ino);
			next = r->next;
			r->next = nb[h];
			nb[h] = r;
		}
	}
	free(ob);
}

static struct ref *ref_get(struct daemon *d, mapfs_ino_t ino)
{
	struct ref *r = ref_find(d, ino);
	size_t h;

	if (r)
		return r;
	if (d->nrefs >= d->nbuckets)
		ref_grow(d);
	if (!d->nbuckets)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->ino = ino;
	h = ref_hash(d, ino);
	r->next = d->refs[h];
	d->refs[h] = r;
	d->nrefs++;
	return r;
}

/* Drop r if it holds nothing; returns whether the inode must be reaped. */
static bool ref_put(struct daemon *d, struct ref *r)
{
	struct ref **pp;
	bool dead;

	if (r->nlookup || r->nopen)
		return false;
	dead = r->dead;
	for (pp = &d->refs[ref_hash(d, r->ino)]; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	d->nrefs--;
	free(r);
	return dead;
}

/* Does the kernel hold ino (a lookup reference not yet forgotten)? */
static bool ref_known(struct daemon *d, mapfs_ino_t ino)
{
	struct ref *r;
	bool known;

	pthread_mutex_lock(&d->ref_lock);
	r = ref_find(d, ino);
	known = r && r->nlookup;
	pthread_mutex_unlock(&d->ref_lock);
	return known;
}

/* Does anything still hold ino (a lookup reference or an open)? */
static bool ref_held(struct daemon *d, mapfs_ino_t ino)
{
	struct ref *r;
	bool held;

	pthread_mutex_lock(&d->ref_lock);
	r = ref_find(d, ino);
	held = r && (r->nlookup || r->nopen);
	pthread_mutex_unlock(&d->ref_lock);
	return held;
}

static void ref_lookup_inc(struct daemon *d, mapfs_ino_t ino)
{
	struct ref *r;

	pthread_mutex_lock(&d->ref_lock);
	r = ref_get(d, ino);
	if (r)
		r->nlookup++;
	pthread_mutex_unlock(&d->ref_lock);
}

int daemon_busy(void *arg, mapfs_ino_t ino)
{
	struct daemon *d = arg;
	struct ref *r;
	int busy = MAPFS_BUSY_NONE;

	pthread_mutex_lock(&d->ref_lock);
	r = ref_find(d, ino);
	if (r && (r->nlookup || r->nopen)) {
		r->dead = true;
		busy = r->nopen ? MAPFS_BUSY_OPEN : MAPFS_BUSY_REF;
	}
	pthread_mutex_unlock(&d->ref_lock);
	return busy;
}

static void reap(struct daemon *d, mapfs_ino_t ino)
{
	wlock(d);
	if (!d->broken)
		mapfs_op_reap(d->fs, ino);
	bus_check(0);
	wunlock(d);
}

void daemon_reap_all(struct daemon *d)
{
	/* Called after the session ended: no request runs any more. */
	for (size_t i = 0; i < d->nbuckets; i++) {
		for (struct ref *r = d->refs[i]; r; r = r->next)
			if (r->dead)
				mapfs_op_reap(d->fs, r->ino);
	}
	mapfs_op_reap_orphans(d->fs);
}

void daemon_refs_free(struct daemon *d)
{
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct ref *r = d->refs[i], *next;
		for (; r; r = next) {
			next = r->next;
			free(r);
		}
	}
	free(d->refs);
	d->refs = NULL;
	d->nbuckets = d->nrefs = 0;
}

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
static bool fakeroot;
static uint32_t fake_uid, fake_gid;

static uint32_t fakeroot_id(uint32_t id, uint32_t mine)
{
	return fakeroot && id == mine ? 0 : id;
}

static void fill_stat(const struct mapfs_fs *fs, const struct mapfs_inode *ip,
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

static void fill_entry(struct daemon *d, const struct mapfs_inode *ip,
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

/* Reply with a new entry, counting the lookup reference; caller holds
 * d->lock so the inode cannot be freed before the count is taken. */
static void reply_entry(fuse_req_t req, struct daemon *d,
			const struct mapfs_inode *ip)
{
	struct fuse_entry_param e;

	fill_entry(d, ip, &e);
	ref_lookup_inc(d, ip->ino);
	if (fuse_reply_entry(req, &e) != 0) {
		/* The kernel did not get it (interrupted): undo. */
		pthread_mutex_lock(&d->ref_lock);
		struct ref *r = ref_find(d, ip->ino);
		if (r && r->nlookup) {
			r->nlookup--;
			ref_put(d, r);
		}
		pthread_mutex_unlock(&d->ref_lock);
	}
}

static struct mapfs_cred cred_of(fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct mapfs_cred cr = {fakeroot_id(c->uid, fake_uid),
				fakeroot_id(c->gid, fake_gid)};
	return cr;
}

/* ---------------------------------------------------------------- */
/* Operations                                                        */
/* ---------------------------------------------------------------- */
/* POSIX ACLs negotiated (op_init): creation inherits default ACLs. */
static bool acl_on;

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
static int killpriv(struct daemon *d, mapfs_ino_t ino, bool suidgid,
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
static int killpriv_req(struct daemon *d, fuse_req_t req, mapfs_ino_t ino,
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

static void op_init(void *userdata, struct fuse_conn_info *conn)
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
	struct mapfs_inode ip;
	int err = -ESTALE;

	rlock(d);
	if (nodeid == FUSE_ROOT_ID || ino_of(nodeid) != MAPFS_ROOT_INO)
		err = mapfs_op_lookup_ino(d->fs, ino_of(nodeid), &ip);
	err = bus_check(err);
	if (err == 0 && ip.nlink == 0 && !ref_held(d, ip.ino))
		err = -ESTALE;
	if (err == 0)
		reply_entry(req, d, &ip);
	else
		fuse_reply_err(req, -err);
	pthread_rwlock_unlock(&d->lock);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct daemon *d = dmn(req);
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
	if (err == 0) {
		reply_entry(req, d, &ip);
	} else if (err == -ENOENT) {
		/* A cacheable negative entry. */
		struct fuse_entry_param e;
		memset(&e, 0, sizeof(e));
		e.entry_timeout = d->timeout;
		fuse_reply_entry(req, &e);
	} else {
		fuse_reply_err(req, -err);
	}
	pthread_rwlock_unlock(&d->lock);
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

static void op_forget(fuse_req_t req, fuse_ino_t nodeid, uint64_t nlookup)
{
	forget_one(dmn(req), nodeid, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
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

static void op_getattr(fuse_req_t req, fuse_ino_t nodeid,
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

static void op_setattr(fuse_req_t req, fuse_ino_t nodeid, struct stat *attr,
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
		sa.atime.sec = attr->st_atim.tv_sec;
		sa.atime.nsec = (uint32_t)attr->st_atim.tv_nsec;
	} else if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		sa.valid |= MAPFS_SET_ATIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_ATIME) {
		sa.valid |= MAPFS_SET_ATIME;
		sa.atime.sec = attr->st_atim.tv_sec;
		sa.atime.nsec = (uint32_t)attr->st_atim.tv_nsec;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		sa.valid |= MAPFS_SET_MTIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		sa.valid |= MAPFS_SET_MTIME;
		sa.mtime.sec = attr->st_mtim.tv_sec;
		sa.mtime.nsec = (uint32_t)attr->st_mtim.tv_nsec;
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		sa.valid |= MAPFS_SET_CTIME;
		sa.ctime.sec = attr->st_ctim.tv_sec;
		sa.ctime.nsec = (uint32_t)attr->st_ctim.tv_nsec;
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

static void op_readlink(fuse_req_t req, fuse_ino_t nodeid)
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
	wend(d);
	if (err == 0)
		reply_entry(req, d, &ip);
	else
		fuse_reply_err(req, -err);
	wunlock(d);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	make_and_reply(req, parent, name, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	make_and_reply(req, parent, name, (mode & 07777) | S_IFDIR, 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
		       const char *name)
{
	make_and_reply(req, parent, name, S_IFLNK | 0777, 0, target);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
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
	wend(d);	/* the record before the reply */
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
	fi->keep_cache = 1;
	ofile_new(fi);
	if (fuse_reply_create(req, &e, fi) != 0) {
		ofile_free(fi);
		if (r) {
			pthread_mutex_lock(&d->ref_lock);
			r->nlookup--;
			r->nopen--;
			ref_put(d, r);
			pthread_mutex_unlock(&d->ref_lock);
		}
	}
	wunlock(d);
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

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, false);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, true);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
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

static void op_link(fuse_req_t req, fuse_ino_t nodeid, fuse_ino_t newparent,
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
	wend(d);
	if (err == 0)
		reply_entry(req, d, &ip);
	else
		fuse_reply_err(req, -err);
	wunlock(d);
}

static bool atime_due(const struct daemon *d, const struct mapfs_inode *ip);

static void op_open(fuse_req_t req, fuse_ino_t nodeid,
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

static void op_release(fuse_req_t req, fuse_ino_t nodeid,
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

/* relatime (Linux's default): a read updates atime only when it is older
 * than mtime or ctime, or more than a day old. One exclusive lock per file
 * per day, not per read. strictatime: every read; noatime, a read-only
 * mount, chattr +A: never; nodiratime: never for directories. */
static bool atime_due(const struct daemon *d, const struct mapfs_inode *ip)
{
	struct mapfs_timespec now;

	if (d->ro || d->noatime || (ip->flags & MAPFS_FL_NOATIME))
		return false;
	if (d->nodiratime && (ip->mode & MAPFS_IFMT) == MAPFS_IFDIR)
		return false;
	now = mapfs_now();
	if (d->strictatime)	/* at the kernel's coarse clock's pace: a
				 * stream of reads updates every 10 ms */
		return (now.sec - ip->atime.sec) * 1000000000ll +
		       ((int64_t)now.nsec - (int64_t)ip->atime.nsec) >=
		       10000000ll;
	if (ip->atime.sec < ip->mtime.sec ||
	    (ip->atime.sec == ip->mtime.sec && ip->atime.nsec <= ip->mtime.nsec))
		return true;
	if (ip->atime.sec < ip->ctime.sec ||
	    (ip->atime.sec == ip->ctime.sec && ip->atime.nsec <= ip->ctime.nsec))
		return true;
	return now.sec - ip->atime.sec >= 24 * 3600;
}

static void touch_atime(struct daemon *d, mapfs_ino_t ino)
{
	struct mapfs_inode ip;
	bool done = false;

	/* An access changes atime only: not ctime, unlike utimensat. */
	wlock(d);
	if (!d->broken && mapfs_inode_load(d->fs, ino, &ip) == 0 &&
	    atime_due(d, &ip)) {
		ip.atime = mapfs_now();
		mapfs_inode_store(d->fs, &ip);
		done = true;
	}
	bus_check(0);
	wunlock(d);
	/* The kernel caches attributes for long: tell it atime moved. */
	if (done)
		fuse_lowlevel_notify_inval_inode(d->se, nodeid_of(ino), -1, 0);
}

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
/* Only for a sequential reader: one whose reads through the same open
 * file have started, READ_RUN times in a row, within READ_SEQ of where
 * the one before ended (requests of one stream are served by several
 * threads and may come a little out of order). One such read is not
 * enough: the kernel follows each large random read with a readahead
 * request for the bytes right after it. Large random reads (a
 * database's, fio's randread at bs=1M) would otherwise fetch a slice 4
 * MiB away per request that nobody reads. */
#define READ_SEQ (2u << 20)
#define READ_RUN 2

/* Is a read of [off, off + n) through fi part of a sequential stream?
 * Records it. */
static bool read_is_seq(struct fuse_file_info *fi, uint64_t off, size_t n)
{
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;
	uint64_t end;
	uint32_t run;

	if (!of)
		return true;
	end = __atomic_exchange_n(&of->read_end, off + n, __ATOMIC_RELAXED);
	run = __atomic_load_n(&of->read_run, __ATOMIC_RELAXED);
	if (off + READ_SEQ >= end && off <= end + READ_SEQ)
		run = run < READ_RUN ? run + 1 : READ_RUN;
	else
		run = 0;
	__atomic_store_n(&of->read_run, run, __ATOMIC_RELAXED);
	return run >= READ_RUN;
}

/* Start reading the image blocks under the file's bytes [from, from +
 * len). */
static void read_ahead(struct daemon *d, const struct mapfs_inode *ip,
		       uint64_t from, size_t len)
{
	struct iovec iov[READ_MAXIOV];
	int niov = 0;

	if (mapfs_file_read_iov(d->fs, ip, from, len, iov,
				READ_MAXIOV, &niov) <= 0)
		return;
	for (int i = 0; i < niov; i++)
		mapfs_fs_readahead(d->fs, iov[i].iov_base, iov[i].iov_len);
}

/*
 * Reading around. Programs that read a tree (tar, cp -r, grep -r, a
 * build) read its files one after another, each in one small request,
 * and those files were mostly written one after another, so their
 * blocks follow each other in the image (FFS keeps a directory's files
 * and their blocks together). Each cold request would wait for its own
 * read. A read from the start of a file therefore also asks for the
 * READ_AROUND bytes of the image that follow its first block; while
 * later such reads land inside what was asked for, the window only
 * moves on (by READ_AROUND, once a read reaches its last half). Tar of
 * a cold copy of /usr/include (8,900 files, 131 MB) after a remount:
 * 1.99-2.14 s -> 0.79-0.85 s (the host's own ext4 tar of it: 1.3-1.5 s).
 */
#define READ_AROUND (256u << 10)

static void read_around(struct daemon *d, const void *p, size_t len)
{
	const uint8_t *base = d->fs->dbase;
	uint64_t at = (uint64_t)((const uint8_t *)p - base), from, to;

	if ((const uint8_t *)p < base || at >= d->fs->size)
		return;		/* a hole: the zero block */
	pthread_mutex_lock(&d->ra_lock);
	if (at >= d->ra_lo && at < d->ra_hi) {
		if (at + len + READ_AROUND / 2 <= d->ra_hi) {
			pthread_mutex_unlock(&d->ra_lock);
			return;
		}
		from = d->ra_hi;
	} else {
		from = at;
		d->ra_lo = at;
	}
	to = (at + len > from ? at + len : from) + READ_AROUND;
	d->ra_hi = to;
	pthread_mutex_unlock(&d->ra_lock);
	mapfs_fs_readahead(d->fs, base + from, to - from);
}

static void op_read(fuse_req_t req, fuse_ino_t nodeid, size_t size,
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

static void op_write(fuse_req_t req, fuse_ino_t nodeid, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct daemon *d = dmn(req);
	struct mapfs_inode ip;
	uint64_t blocks = 0;
	bool grew = false, reserve = false, killed = false;
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
	if (mapfs_inode_load(d->fs, ino_of(nodeid), &ip) == 0) {
		blocks = ip.blocks;
		/* The root reserve: writes flushed from the kernel's
		 * writeback cache arrive as root whoever wrote them, so the
		 * file's owner must be root as well (as a file created by
		 * root is what the reserve is for). */
		reserve = fuse_req_ctx(req)->uid == 0 && ip.uid == 0;
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

/* fsync and fsyncdir, through any descriptor (read-only ones too): one
 * commit makes every operation so far durable (with the journal: one
 * flush of the image, then a checkpoint). -o nosync answers at once. */
static void do_sync(fuse_req_t req)
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

static void op_fsync(fuse_req_t req, fuse_ino_t nodeid, int datasync,
		     struct fuse_file_info *fi)
{
	(void)nodeid;
	(void)datasync;
	(void)fi;
	do_sync(req);
}

static void op_opendir(fuse_req_t req, fuse_ino_t nodeid,
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
		bool skip = dot || ref_known(c->d, ino);

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
	if (err < 0 && c.used == 0)
		fuse_reply_err(req, -err);
	else
		fuse_reply_buf(req, c.buf, c.used);
	pthread_rwlock_unlock(&d->lock);
	free(c.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t nodeid, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, nodeid, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t nodeid, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, nodeid, size, off, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t nodeid,
			  struct fuse_file_info *fi)
{
	(void)nodeid;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t nodeid, int datasync,
			struct fuse_file_info *fi)
{
	(void)nodeid;
	(void)datasync;
	(void)fi;
	do_sync(req);
}

static void op_statfs(fuse_req_t req, fuse_ino_t nodeid)
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

/* ---------------------------------------------------------------- */
/* Extended attributes                                               */
/* ---------------------------------------------------------------- */
/* Changes take the lock exclusively, gets and lists share it; values
 * are copied out of the mapping before the reply. */

static int change_begin(struct daemon *d)
{
	if (d->ro)
		return -EROFS;
	wlock(d);
	if (d->broken) {
		wunlock(d);
		return -EIO;
	}
	return 0;
}

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

static void op_setxattr(fuse_req_t req, fuse_ino_t nodeid, const char *name,
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

static void op_removexattr(fuse_req_t req, fuse_ino_t nodeid,
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

/* getxattr and listxattr: size 0 asks for the length. */
static void reply_xattr(fuse_req_t req, ssize_t n, const char *buf,
			size_t size)
{
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t nodeid, const char *name,
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
	n = mapfs_op_getxattr(d->fs, ino_of(nodeid), name, buf, size);
	if (bus_check(0))
		n = -EIO;
	pthread_rwlock_unlock(&d->lock);
	reply_xattr(req, n, buf, size);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t nodeid, size_t size)
{
	struct daemon *d = dmn(req);
	char *buf = size ? malloc(size) : NULL;
	ssize_t n;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rlock(d);
	n = mapfs_op_listxattr(d->fs, ino_of(nodeid), buf, size,
			       fuse_req_ctx(req)->uid == 0);
	if (bus_check(0))
		n = -EIO;
	pthread_rwlock_unlock(&d->lock);
	reply_xattr(req, n, buf, size);
	free(buf);
}

/* ---------------------------------------------------------------- */
/* fallocate, lseek, copy_file_range, file flags                     */
/* ---------------------------------------------------------------- */

static void op_fallocate(fuse_req_t req, fuse_ino_t nodeid, int mode,
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

static void op_lseek(fuse_req_t req, fuse_ino_t nodeid, off_t off,
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
		 * the mount until a fusectl abort (docs/DESIGN.md, "Killing
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

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
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

#if FUSE_USE_VERSION < 35
typedef int ioctl_cmd_t;
#else
typedef unsigned int ioctl_cmd_t;
#endif

static void op_ioctl(fuse_req_t req, fuse_ino_t nodeid, ioctl_cmd_t cmd,
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
	default:
		fuse_reply_err(req, ENOTTY);
	}
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
