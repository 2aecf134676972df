/* SPDX-License-Identifier: MIT */
/*
 * lock.c - the filesystem lock around every request, and the SIGBUS guard.
 *
 * Concurrency. libfuse runs the operations from several threads. Two locks:
 *  - d->lock, a filesystem-wide rwlock: shared by operations that only
 *    read the image (lookup, getattr, readlink, read, readdir, statfs),
 *    exclusive for everything that changes it. A read holds it until its
 *    reply has been sent, because the reply points into the mapping.
 *  - d->ref_lock, a mutex over the reference table (refs.c: lookup and
 *    open counts per inode), taken inside d->lock when both are needed.
 * Lock order: d->lock, then d->ref_lock. Never the other way round.
 *
 * Every change runs between wlock and wunlock, which bracket one
 * operation of the core (its journal record); a SIGBUS on the mapping
 * during a request becomes EIO in bus_check.
 */
#include "glue.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

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

void daemon_bus_resize(struct daemon *d)
{
	bus_hi = d->fs->base + d->fs->size;
	bus_dhi = d->fs->dbase + d->fs->size;
}

/* err, or -EIO if this thread hit a SIGBUS since the last check. */
int bus_check(int err)
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
	daemon_log(MAPFS_LOG_ERR, "journal write failed: %s; no more changes "
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
void rlock(struct daemon *d)
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
void wlock(struct daemon *d)
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

void wend(struct daemon *d)
{
	int err = mapfs_op_end(d->fs);

	if (err < 0)
		journal_failed(d, err);
}

void wunlock(struct daemon *d)
{
	wend(d);
	atomic_store_explicit(&wlock_cpu, -1, memory_order_relaxed);
	pthread_rwlock_unlock(&d->lock);
}

/* An allocation failed while blocks freed by operations not yet durable
 * wait for a commit: the core's policy (mapfs_op_retry_nospc) says
 * whether to try again. Caller holds the lock exclusively. */
bool retry_nospc(struct daemon *d, int err)
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
void bus_probe(const struct iovec *iov, int niov)
{
	for (int i = 0; i < niov; i++) {
		const volatile uint8_t *p = iov[i].iov_base;
		for (size_t o = 0; o < iov[i].iov_len; o += 4096)
			(void)p[o];
		if (iov[i].iov_len)
			(void)p[iov[i].iov_len - 1];
	}
}

int change_begin(struct daemon *d)
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
