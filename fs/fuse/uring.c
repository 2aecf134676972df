/* SPDX-License-Identifier: MIT */
/*
 * uring.c - FUSE over io_uring: requests served on the CPU that made them.
 *
 * With /dev/fuse, a request made on one CPU wakes whichever daemon thread
 * has waited longest, usually on the other CPU: two cross-CPU wakeups per
 * round trip, which on a virtual machine cost more than the work. Linux
 * 6.14 added a second transport (FUSE_OVER_IO_URING, fs/fuse/dev_uring.c):
 * one queue per possible CPU; a request goes to the queue of the CPU its
 * task runs on, and the answer travels back with the next fetch in one
 * io_uring_enter. With the queue's threads pinned to that CPU, a round
 * trip is two context switches on one CPU, provided the process stays
 * on its CPU: see "the guard" below for how the threads' SCHED_IDLE
 * policy keeps it there, and docs/PERF.md for the measurements.
 *
 * libfuse 3.14 predates it, so this file adds it around libfuse rather
 * than in it:
 *   - the session gets a custom I/O (fuse_session_custom_io): reads pass
 *     through and note the INIT request; the INIT reply gets the
 *     FUSE_OVER_IO_URING flag when the kernel allows the transport
 *     (/sys/module/fuse/parameters/enable_uring is Y; it is a root-only
 *     switch and we do not flip it);
 *   - once INIT is answered, QUEUE_THREADS threads per possible CPU,
 *     pinned there, each set up a small ring (raw syscalls: no liburing)
 *     and REGISTER one entry: a header buffer and a payload buffer;
 *   - a request arrives as fuse_in_header + the opcode's first argument in
 *     the header buffer and the rest in the payload. The thread rebuilds
 *     the /dev/fuse layout in place (the payload buffer has headroom in
 *     front, so only the two small headers move) and hands it to
 *     fuse_session_process_buf(): the operations are the same code;
 *   - the operation's fuse_reply_*() ends in our writev, which sees the
 *     reply belongs to this thread's entry (same unique), copies it into
 *     the entry's buffers and the thread commits it with
 *     COMMIT_AND_FETCH, which also waits for the next request.
 * Both paths show each raw request to extra.c first, which serves the
 * opcodes libfuse 3.14 does not dispatch (FUSE_TMPFILE) and answers
 * through send_extra (so the reply takes the request's way back).
 * FORGETs and INTERRUPTs still come through /dev/fuse (the kernel's
 * choice), served by libfuse's own loop, as is everything before the
 * rings are ready and everything if they never are.
 *
 * Two threads per queue, one entry each: an operation that waits for
 * another request (lseek SEEK_DATA invalidates the file's pages, whose
 * write-back becomes WRITE requests on the same CPU's queue) leaves the
 * other thread to serve it. Replies are made synchronously by the thread
 * that received the request (every mapfs operation does).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "uring.h"
#include "stats.h"

#include "bdi.h"
#include "daemon.h"
#include "extra.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <linux/futex.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* The kernel ABI (7.42), newer than the system's <linux/fuse.h>. */
#define URING_INIT_FLAG2 (1u << (41 - 32))	/* FUSE_OVER_IO_URING */
#define URING_HDR_SZ 128
#define URING_OP_SZ 128
#define URING_CMD_REGISTER 1
#define URING_CMD_COMMIT_AND_FETCH 2

struct uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};

struct uring_req_header {
	char in_out[URING_HDR_SZ];
	char op_in[URING_OP_SZ];
	struct uring_ent_in_out ent;
};

struct uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

#define QUEUE_THREADS 2
#define SQE_SIZE 128			/* IORING_SETUP_SQE128 */
#define HEADROOM 4096			/* in_header + op_in before payload */
#define WAKE_SIG SIGUSR2

struct worker {
	pthread_t th;
	bool started;
	int qid;
	int rfd;			/* the io_uring */
	void *sq_map, *cq_map, *sqe_map;
	size_t sq_len, cq_len, sqe_len;
	_Atomic unsigned *sq_head, *sq_tail, *cq_head, *cq_tail, *sq_flags;
	unsigned sq_mask, cq_mask, *sq_array;
	struct io_uring_cqe *cqes;
	unsigned sq_local;		/* our copy of the SQ tail */
	struct uring_req_header *hdr;
	char *buf, *payload;		/* buf = HEADROOM + payload */
	size_t buf_len, payload_len;
	uint64_t unique;		/* the request being served */
	bool replied;
	_Atomic pid_t tid;		/* 0 until the thread runs */
	_Atomic uint64_t served;	/* requests served, for the guard */
	_Atomic bool serving;		/* between request and reply */
	_Atomic bool taskrun_flag;	/* the ring shows queued task work */
	/* the guard's own (only it touches these) */
	int sfd;			/* /proc/self/task/TID/schedstat */
	bool low;			/* SCHED_IDLE now */
	uint64_t seen;			/* served at the last tick */
	uint64_t run, delay;		/* schedstat at the last tick (ns) */
	uint64_t drun, ddelay;		/* their growth over the last tick */
	uint64_t low_after;		/* ms: may go back to SCHED_IDLE */
};

static struct {
	struct daemon *d;
	struct fuse_session *se;
	int devfd;
	bool want;
	_Atomic uint64_t init_unique;	/* +1; 0: no INIT seen */
	uint32_t init_in_flags;
	_Atomic bool active, stopping, failed, closed_early;
	struct worker *w;
	int nw, nqueues;
	size_t payload_len;
	char why[96];
	pthread_t guard;
	bool guard_started, guard_ran;
	unsigned starved;		/* times the guard lifted a thread */
	/* 1 while the guard sleeps until requests come (futex word). */
	_Atomic uint32_t guard_asleep;
} U;

static _Thread_local struct worker *cur;

/* A request was served: wake the guard if it sleeps (see guard_main).
 * One load of a word that only changes when the mount goes quiet. */
static void guard_wake(void)
{
	if (atomic_load(&U.guard_asleep) &&
	    atomic_exchange(&U.guard_asleep, 0))
		(void)syscall(SYS_futex, &U.guard_asleep, FUTEX_WAKE_PRIVATE,
			      1, NULL, NULL, 0);
}

/* The request this thread is serving asked us to clear setuid/setgid
 * (FUSE_HANDLE_KILLPRIV_V2's flags, which libfuse 3.14 does not pass
 * on): set from the raw request before libfuse parses it. */
static _Thread_local bool req_kill;
static bool killpriv_v2;

/* Note the kill-suid/sgid flag of a raw request (/dev/fuse layout). */
static void peek(const void *buf, size_t len)
{
	const struct fuse_in_header *ih = buf;
	const char *arg = (const char *)(ih + 1);

	req_kill = false;
	if (len < sizeof(*ih))
		return;
	stats_begin(ih->opcode, ih->unique);
	len -= sizeof(*ih);
	switch (ih->opcode) {
	case FUSE_WRITE:
		if (len >= sizeof(struct fuse_write_in))
			req_kill = ((const struct fuse_write_in *)arg)
					   ->write_flags &
				   FUSE_WRITE_KILL_SUIDGID;
		break;
	case FUSE_OPEN:
		if (len >= sizeof(struct fuse_open_in))
			req_kill = ((const struct fuse_open_in *)arg)
					   ->open_flags &
				   FUSE_OPEN_KILL_SUIDGID;
		break;
	case FUSE_SETATTR:
		if (len >= sizeof(struct fuse_setattr_in))
			req_kill = ((const struct fuse_setattr_in *)arg)
					   ->valid &
				   FATTR_KILL_SUIDGID;
		break;
	}
}

/* ---------------------------------------------------------- the ring */

static int sys_setup(unsigned entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned submit, unsigned wait, unsigned flags)
{
	return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags,
			    NULL, 0);
}

static void ring_free(struct worker *w)
{
	if (w->sqe_map && w->sqe_map != MAP_FAILED)
		munmap(w->sqe_map, w->sqe_len);
	if (w->cq_map && w->cq_map != MAP_FAILED && w->cq_map != w->sq_map)
		munmap(w->cq_map, w->cq_len);
	if (w->sq_map && w->sq_map != MAP_FAILED)
		munmap(w->sq_map, w->sq_len);
	if (w->rfd >= 0)
		close(w->rfd);
	w->rfd = -1;
	w->sq_map = w->cq_map = w->sqe_map = NULL;
}

/*
 * No IORING_SETUP_DEFER_TASKRUN, on purpose. The kernel hands a request
 * to a queue thread as task work on its ring (the entry waits in state
 * FRRS_FUSE_REQ until the thread runs it). With DEFER_TASKRUN that work
 * runs only inside the thread's own io_uring_enter, or when the ring is
 * closed; if the thread is killed while its ring stays open, the request
 * waits forever: fuse's teardown (fusectl abort included) ends requests
 * of entries that are available or in user space, never of these, and
 * logs "fuse: ent-req-queue ... state=3" every 50 ms. A daemon thread
 * blocked on its own mount keeps every ring open (the daemon's file
 * table), and the processes waiting on that mount are then unkillable
 * until reboot. Without DEFER_TASKRUN, work for a thread that has exited
 * goes to a kernel worker, which cancels the request at once (ECANCELED)
 * and moves the entry on, so a dead queue thread never holds a request.
 * Measured (docs/DURABILITY.md, "Killing the daemon"): the same stall made on
 * purpose (a kill while another process holds the rings) ends at once
 * with COOP_TASKRUN, never with DEFER_TASKRUN; creates, cold stats,
 * unlinks and 4 KiB O_DIRECT reads within 5% of DEFER_TASKRUN's, under
 * noise. COOP_TASKRUN: no interrupt to a running thread, which runs the
 * work at its next io_uring_enter anyway.
 */
static int ring_init(struct worker *w)
{
	struct io_uring_params p;
	unsigned flags[] = {
		IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER |
			IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SQE128 | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SQE128,
	};
	char *sq, *cq;
	bool tr = false;

	w->rfd = -1;
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = flags[i];
		w->rfd = sys_setup(4, &p);
		if (w->rfd >= 0) {
			tr = (flags[i] & IORING_SETUP_TASKRUN_FLAG) != 0;
			break;
		}
	}
	if (w->rfd < 0)
		return -errno;
	w->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	w->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		if (w->cq_len > w->sq_len)
			w->sq_len = w->cq_len;
		w->cq_len = w->sq_len;
	}
	w->sq_map = mmap(NULL, w->sq_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, w->rfd, IORING_OFF_SQ_RING);
	if (w->sq_map == MAP_FAILED)
		goto fail;
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		w->cq_map = w->sq_map;
	} else {
		w->cq_map = mmap(NULL, w->cq_len, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_POPULATE, w->rfd,
				 IORING_OFF_CQ_RING);
		if (w->cq_map == MAP_FAILED)
			goto fail;
	}
	w->sqe_len = (size_t)p.sq_entries * SQE_SIZE;
	w->sqe_map = mmap(NULL, w->sqe_len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, w->rfd, IORING_OFF_SQES);
	if (w->sqe_map == MAP_FAILED)
		goto fail;
	sq = w->sq_map;
	cq = w->cq_map;
	w->sq_head = (_Atomic unsigned *)(sq + p.sq_off.head);
	w->sq_tail = (_Atomic unsigned *)(sq + p.sq_off.tail);
	w->sq_flags = (_Atomic unsigned *)(sq + p.sq_off.flags);
	w->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
	w->sq_array = (unsigned *)(sq + p.sq_off.array);
	w->cq_head = (_Atomic unsigned *)(cq + p.cq_off.head);
	w->cq_tail = (_Atomic unsigned *)(cq + p.cq_off.tail);
	w->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
	w->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	w->sq_local = atomic_load_explicit(w->sq_tail, memory_order_relaxed);
	/* The guard may read sq_flags from now on (the ring stays mapped
	 * until uring_stop). */
	atomic_store_explicit(&w->taskrun_flag, tr, memory_order_release);
	return 0;
fail:
	{
		int err = -errno;

		ring_free(w);
		return err;
	}
}

/* Queue one FUSE command (not yet submitted). */
static void ring_queue_cmd(struct worker *w, uint32_t cmd_op,
			   uint64_t commit_id, struct iovec *iov)
{
	unsigned idx = w->sq_local & w->sq_mask;
	struct io_uring_sqe *sqe =
		(struct io_uring_sqe *)((char *)w->sqe_map + idx * SQE_SIZE);
	struct uring_cmd_req *req;

	memset(sqe, 0, SQE_SIZE);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = U.devfd;
	sqe->cmd_op = cmd_op;
	if (iov) {
		sqe->addr = (uint64_t)(uintptr_t)iov;
		sqe->len = 2;
	}
	req = (struct uring_cmd_req *)sqe->cmd;
	req->commit_id = commit_id;
	req->qid = (uint16_t)w->qid;
	w->sq_array[idx] = idx;
	w->sq_local++;
	atomic_store_explicit(w->sq_tail, w->sq_local, memory_order_release);
}

/* Submit what is queued and wait for one completion: its result, or
 * -EINTR when told to stop. */
static int ring_wait(struct worker *w)
{
	for (;;) {
		unsigned head = atomic_load_explicit(w->cq_head,
						     memory_order_relaxed);
		unsigned tail = atomic_load_explicit(w->cq_tail,
						     memory_order_acquire);
		unsigned pending;

		if (head != tail) {
			int res = w->cqes[head & w->cq_mask].res;

			atomic_store_explicit(w->cq_head, head + 1,
					      memory_order_release);
			return res;
		}
		if (atomic_load(&U.stopping))
			return -EINTR;
		pending = w->sq_local - atomic_load_explicit(
				w->sq_head, memory_order_acquire);
		if (sys_enter(w->rfd, pending, 1, IORING_ENTER_GETEVENTS) < 0 &&
		    errno != EINTR && errno != EAGAIN && errno != EBUSY)
			return -errno;
	}
}

/* ------------------------------------------------------ the requests */

static void reply_error(struct worker *w, int err)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh), .error = -err, .unique = w->unique,
	};

	memcpy(w->hdr->in_out, &oh, sizeof(oh));
	w->hdr->ent.payload_sz = 0;
	w->replied = true;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *ud);

/* extra.c's replies: by the ring when this thread serves one of its
 * requests (io_writev tells), else on /dev/fuse. */
static ssize_t send_extra(const struct iovec *iov, int count)
{
	return io_writev(U.devfd, (struct iovec *)iov, count, NULL);
}

/* Rebuild /dev/fuse's layout in front of the payload and run it. */
static void serve(struct worker *w)
{
	struct fuse_in_header ih;
	uint32_t psz = w->hdr->ent.payload_sz;
	size_t arg0;
	char *start;
	struct fuse_buf fb;

	memcpy(&ih, w->hdr->in_out, sizeof(ih));
	w->unique = w->hdr->ent.commit_id;
	w->replied = false;
	if (ih.len < sizeof(ih) || psz > w->payload_len ||
	    ih.len - sizeof(ih) < psz ||
	    (arg0 = ih.len - sizeof(ih) - psz) > URING_OP_SZ) {
		reply_error(w, EIO);
		return;
	}
	start = w->payload - sizeof(ih) - arg0;
	memcpy(start, &ih, sizeof(ih));
	memcpy(start + sizeof(ih), w->hdr->op_in, arg0);
	memset(&fb, 0, sizeof(fb));
	fb.mem = start;
	fb.size = ih.len;
	peek(start, ih.len);
	cur = w;
	if (!extra_serve(U.d, start, ih.len, send_extra))
		fuse_session_process_buf(U.se, &fb);
	stats_done();
	cur = NULL;
	if (!w->replied)
		reply_error(w, EIO);
}

/* The reply of the request this thread serves: into the ring entry. */
static ssize_t ring_reply(struct worker *w, const struct iovec *iov,
			  int count)
{
	size_t total = 0, off = 0, hdr = sizeof(struct fuse_out_header);
	char *out = w->hdr->in_out;

	for (int i = 0; i < count; i++)
		total += iov[i].iov_len;
	if (total < hdr || total - hdr > w->payload_len) {
		reply_error(w, EIO);
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < count; i++) {
		const char *p = iov[i].iov_base;
		size_t n = iov[i].iov_len;

		if (off < hdr) {
			size_t k = n < hdr - off ? n : hdr - off;

			memcpy(out + off, p, k);
			off += k;
			p += k;
			n -= k;
		}
		if (n) {
			memcpy(w->payload + (off - hdr), p, n);
			off += n;
		}
	}
	w->hdr->ent.payload_sz = (uint32_t)(total - hdr);
	w->replied = true;
	return (ssize_t)total;
}

/* ------------------------------------------------------ the threads */

static void wake_handler(int sig)
{
	(void)sig;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct iovec iov[2];
	sigset_t set;
	cpu_set_t cpus;
	int res, tries = 0;

	sigfillset(&set);
	sigdelset(&set, WAKE_SIG);
	sigdelset(&set, SIGBUS);
	sigdelset(&set, SIGSEGV);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
	CPU_ZERO(&cpus);
	CPU_SET(w->qid, &cpus);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);

	res = ring_init(w);
	if (res < 0)
		goto failed;
	iov[0].iov_base = w->hdr;
	iov[0].iov_len = sizeof(*w->hdr);
	iov[1].iov_base = w->payload;
	iov[1].iov_len = w->payload_len;
	for (;;) {
		ring_queue_cmd(w, URING_CMD_REGISTER, 0, iov);
		res = ring_wait(w);
		/* EAGAIN: the kernel has not finished INIT yet. */
		if (res == -EAGAIN && ++tries < 5000 &&
		    !atomic_load(&U.stopping)) {
			nanosleep(&(struct timespec){0, 1000000}, NULL);
			continue;
		}
		break;
	}
	if (res < 0)
		goto failed;
	atomic_store(&U.active, true);
	for (;;) {
		atomic_store_explicit(&w->serving, true, memory_order_relaxed);
		serve(w);
		atomic_store_explicit(&w->serving, false, memory_order_relaxed);
		atomic_fetch_add(&w->served, 1);
		guard_wake();
		ring_queue_cmd(w, URING_CMD_COMMIT_AND_FETCH, w->unique, NULL);
		res = ring_wait(w);
		if (res < 0)
			break;	/* -ENOTCONN at unmount, -EINTR at stop */
	}
	return NULL;	/* uring_stop frees the ring, after the guard */
failed:
	/* ENOTCONN: unmounted before this queue was registered. */
	if (res == -ENOTCONN || res == -ECONNABORTED)
		atomic_store(&U.closed_early, true);
	else if (!atomic_load(&U.stopping) &&
		 !atomic_exchange(&U.failed, true))
		snprintf(U.why, sizeof(U.why), "/dev/fuse (io_uring: %s)",
			 strerror(-res));
	return NULL;
}

/* ------------------------------------------------------- the guard */
/*
 * A queue thread answers on the CPU of the process that asked, and the
 * reply wakes that process while the thread is still running there.
 * The scheduler then moves the process to an idle CPU, whose next
 * request goes to that CPU's queue: measured with fio (4 KiB O_DIRECT
 * reads, 2 CPUs) 0.7 migrations per request and 25k IOPS, against 72k
 * with fio pinned. A CPU that runs only SCHED_IDLE threads counts as
 * idle when the scheduler places a woken task, so with the queue
 * threads at SCHED_IDLE the process stays where it was (67k IOPS, 300
 * migrations in 3 s instead of 58,000).
 *
 * SCHED_IDLE threads starve beside a busy normal one: with a CPU-bound
 * loop on each CPU, creates fell to 55/s. So a guard thread (normal
 * policy, unpinned) watches each queue thread's run delay (time spent
 * runnable but not running, /proc/self/task/TID/schedstat). A thread
 * that waited more than a millisecond per request it served in the
 * last tick is put back to SCHED_OTHER for a back-off (100 ms, doubling
 * up to 1 s while it keeps happening; 100 ms again after 5 s without).
 * The guard ticks every few ms only while requests flow (and reads the
 * ring's task-work flag, so a thread with nothing to do is not counted
 * as starving); after a quiet quarter second it puts every
 * thread back to SCHED_OTHER and sleeps until a request is served (a
 * futex the queue threads wake), so a burst that begins beside a busy
 * CPU starts at normal priority, and an idle mount costs no wakeups.
 *
 * Without the right to leave SCHED_IDLE again (an unprivileged daemon
 * without RLIMIT_NICE), or without schedstat, none of this is used.
 */
#define GUARD_QUIET_MS 250
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define STARVE_NS_PER_REQ 1000000ull

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int set_low(pid_t tid, bool low)
{
	struct sched_param sp = { 0 };

	return sched_setscheduler(tid, low ? SCHED_IDLE : SCHED_OTHER, &sp);
}

/* The thread's time on a CPU and time waiting for one (ns). */
static bool sched_times(int fd, uint64_t *run, uint64_t *delay)
{
	char b[96];
	ssize_t n = pread(fd, b, sizeof(b) - 1, 0);
	unsigned long long r, d;

	if (n <= 0)
		return false;
	b[n] = 0;
	if (sscanf(b, "%llu %llu", &r, &d) != 2)
		return false;
	*run = r;
	*delay = d;
	return true;
}

static void *probe_main(void *arg)
{
	int *ok = arg;
	pid_t tid = (pid_t)syscall(SYS_gettid);

	*ok = set_low(tid, true) == 0 && set_low(tid, false) == 0;
	return NULL;
}

/* May a thread of ours go to SCHED_IDLE and come back? */
static bool low_allowed(void)
{
	pthread_t th;
	int ok = 0;

	if (pthread_create(&th, NULL, probe_main, &ok) != 0)
		return false;
	pthread_join(th, NULL);
	return ok;
}

static void guard_all_normal(void)
{
	for (int i = 0; i < U.nw; i++) {
		struct worker *w = &U.w[i];

		if (w->low && set_low(atomic_load(&w->tid), false) == 0)
			w->low = false;
	}
}

/* Work waits for this thread: a request queued to it (the ring's
 * task-work flag) or one it is in the middle of. */
static bool has_work(struct worker *w)
{
	if (!atomic_load_explicit(&w->taskrun_flag, memory_order_acquire))
		return true;	/* cannot tell: assume so */
	return atomic_load_explicit(&w->serving, memory_order_relaxed) ||
	       (atomic_load_explicit(w->sq_flags, memory_order_relaxed) &
		IORING_SQ_TASKRUN);
}

/* One tick of tick_ns while requests flow; false when all was quiet. */
static bool guard_tick(uint64_t tick_ns, uint64_t *backoff, uint64_t now)
{
	bool busy = false;

	for (int i = 0; i < U.nw; i++) {
		struct worker *w = &U.w[i];
		uint64_t run, delay;

		w->drun = w->ddelay = 0;
		if (w->sfd < 0 || !sched_times(w->sfd, &run, &delay))
			continue;
		w->drun = run - w->run;
		w->ddelay = delay - w->delay;
		w->run = run;
		w->delay = delay;
	}
	for (int i = 0; i < U.nw; i++) {
		struct worker *w = &U.w[i];
		pid_t tid = atomic_load(&w->tid);
		uint64_t served = atomic_load_explicit(&w->served,
						       memory_order_relaxed);
		uint64_t ds = served - w->seen, foreign = w->ddelay;

		w->seen = served;
		if (ds)
			busy = true;
		if (!tid || w->sfd < 0)
			continue;
		/* Waiting while the queue's other thread ran is not
		 * starvation: only time lost to other tasks counts. */
		for (int j = 0; j < U.nw; j++)
			if (j != i && U.w[j].qid == w->qid)
				foreign = foreign > U.w[j].drun ?
					  foreign - U.w[j].drun : 0;
		if (w->low && foreign > tick_ns / 4 &&
		    foreign > (ds + 1) * STARVE_NS_PER_REQ && has_work(w)) {
			if (set_low(tid, false) == 0)
				w->low = false;
			w->low_after = now + *backoff;
			*backoff = *backoff * 2 > BACKOFF_MAX_MS ?
				   BACKOFF_MAX_MS : *backoff * 2;
			U.starved++;
		} else if (!w->low && now >= w->low_after &&
			   set_low(tid, true) == 0) {
			w->low = true;
		}
	}
	return busy;
}

/* Did any queue thread serve a request since the last look? */
static bool served_moved(void)
{
	bool moved = false;

	for (int i = 0; i < U.nw; i++) {
		struct worker *w = &U.w[i];
		uint64_t s = atomic_load(&w->served);

		if (s != w->seen)
			moved = true;
		w->seen = s;
	}
	return moved;
}

static void *guard_main(void *arg)
{
	/* A few ms, longer with many threads to read. */
	uint64_t tick_ns = 5000000ull + (uint64_t)U.nw * 50000ull;
	uint64_t backoff = BACKOFF_MIN_MS, last_busy = 0, last_starved = 0;
	unsigned starved = 0;
	bool fast = false;
	sigset_t set;

	(void)arg;
	sigfillset(&set);
	sigdelset(&set, WAKE_SIG);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	while (!atomic_load(&U.stopping)) {
		struct timespec ts = {
			.tv_sec = (time_t)(tick_ns / 1000000000ull),
			.tv_nsec = (long)(tick_ns % 1000000000ull),
		};
		uint64_t now;
		bool moved = false;

		if (fast) {
			nanosleep(&ts, NULL);
		} else {
			/* Quiet: sleep until a queue thread serves a request
			 * (guard_wake), no ticks on an idle mount. The flag is
			 * set before the counts are read, so a request served
			 * in between either shows in them or wakes us. */
			atomic_store(&U.guard_asleep, 1);
			moved = served_moved();
			if (!moved && !atomic_load(&U.stopping))
				(void)syscall(SYS_futex, &U.guard_asleep,
					      FUTEX_WAIT_PRIVATE, 1, NULL,
					      NULL, 0);
			atomic_store(&U.guard_asleep, 0);
			if (atomic_load(&U.stopping))
				break;
			moved = served_moved() || moved;
		}
		now = now_ms();
		if (!fast) {
			if (!moved)
				continue;
			/* Requests again: the first fast tick measures from
			 * here. */
			for (int i = 0; i < U.nw; i++)
				if (U.w[i].sfd >= 0)
					(void)sched_times(U.w[i].sfd,
							  &U.w[i].run,
							  &U.w[i].delay);
			fast = true;
			last_busy = now;
			continue;
		}
		if (guard_tick(tick_ns, &backoff, now))
			last_busy = now;
		if (U.starved != starved) {
			starved = U.starved;
			last_starved = now;
		} else if (now - last_starved > 5000) {
			backoff = BACKOFF_MIN_MS;
		}
		if (now - last_busy > GUARD_QUIET_MS) {
			guard_all_normal();
			fast = false;
		}
	}
	return NULL;
}

static void guard_start(void)
{
	int n = 0;

	if (!low_allowed())
		return;
	/* The threads' tids, to open their schedstat. */
	for (int tries = 0; tries < 2000 && n < U.nw; tries++) {
		n = 0;
		for (int i = 0; i < U.nw; i++)
			n += atomic_load(&U.w[i].tid) != 0 || !U.w[i].started;
		if (n < U.nw)
			nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	for (int i = 0; i < U.nw; i++) {
		struct worker *w = &U.w[i];
		pid_t tid = atomic_load(&w->tid);
		char path[64];

		if (!tid)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat",
			 (int)tid);
		w->sfd = open(path, O_RDONLY | O_CLOEXEC);
		if (w->sfd >= 0 && !sched_times(w->sfd, &w->run, &w->delay)) {
			close(w->sfd);
			w->sfd = -1;
		}
	}
	if (pthread_create(&U.guard, NULL, guard_main, NULL) == 0) {
		U.guard_started = U.guard_ran = true;
		(void)pthread_setname_np(U.guard, "mapfs-guard");
	}
}

/* Join a thread that sleeps until WAKE_SIG or U.stopping. A signal that
 * lands between its check of stopping and its wait is lost: send it
 * again every 20 ms until the thread is gone. */
static void join_signalled(pthread_t th)
{
	for (;;) {
		struct timespec ts;

		pthread_kill(th, WAKE_SIG);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_timedjoin_np(th, NULL, &ts) == 0)
			return;
	}
}

static void guard_stop(void)
{
	/* U.stopping is set: a guard about to sleep sees it, one asleep
	 * is woken here (or by the signal). */
	if (atomic_exchange(&U.guard_asleep, 0))
		(void)syscall(SYS_futex, &U.guard_asleep, FUTEX_WAKE_PRIVATE,
			      1, NULL, NULL, 0);
	if (U.guard_started)
		join_signalled(U.guard);
	U.guard_started = false;
	for (int i = 0; U.w && i < U.nw; i++)
		if (U.w[i].sfd >= 0)
			close(U.w[i].sfd);
}

static int possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	int lo, hi = -1, n = 0;
	char c;

	if (!f)
		return (int)sysconf(_SC_NPROCESSORS_CONF);
	/* "0-3" or "0-3,8-11" or "0" */
	while (fscanf(f, "%d", &lo) == 1) {
		hi = lo;
		if (fscanf(f, "%c", &c) == 1 && c == '-') {
			if (fscanf(f, "%d", &hi) != 1)
				break;
			if (fscanf(f, "%c", &c) != 1)
				c = '\n';
		}
		if (hi + 1 > n)
			n = hi + 1;
		if (c != ',')
			break;
	}
	fclose(f);
	return n > 0 ? n : (int)sysconf(_SC_NPROCESSORS_CONF);
}

static void start_workers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wake_handler;	/* no SA_RESTART: ends the wait */
	sigaction(WAKE_SIG, &sa, NULL);

	U.nqueues = possible_cpus();
	U.nw = U.nqueues * QUEUE_THREADS;
	U.w = calloc((size_t)U.nw, sizeof(*U.w));
	if (!U.w)
		goto fail;
	for (int i = 0; i < U.nw; i++)
		U.w[i].sfd = U.w[i].rfd = -1;
	for (int i = 0; i < U.nw; i++) {
		struct worker *w = &U.w[i];

		w->qid = i / QUEUE_THREADS;
		w->rfd = -1;
		w->payload_len = U.payload_len;
		w->buf_len = HEADROOM + w->payload_len;
		w->buf = mmap(NULL, w->buf_len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		/* C11: the size a multiple of the alignment */
		w->hdr = aligned_alloc(64, (sizeof(*w->hdr) + 63) & ~(size_t)63);
		if (w->buf == MAP_FAILED || !w->hdr) {
			if (w->buf == MAP_FAILED)
				w->buf = NULL;
			goto fail;
		}
		w->payload = w->buf + HEADROOM;
		memset(w->hdr, 0, sizeof(*w->hdr));
		if (pthread_create(&w->th, NULL, worker_main, w) != 0)
			goto fail;
		w->started = true;
		{
			char name[16];

			snprintf(name, sizeof(name), "mapfs-q%d", w->qid);
			(void)pthread_setname_np(w->th, name);
		}
	}
	guard_start();
	snprintf(U.why, sizeof(U.why), "io_uring, %d queues x %d threads",
		 U.nqueues, QUEUE_THREADS);
	return;
fail:
	/* Threads already started register; without one per queue the
	 * kernel never switches over, and /dev/fuse keeps serving. */
	snprintf(U.why, sizeof(U.why), "/dev/fuse (io_uring: no memory)");
}

/* --------------------------------------------------------- custom I/O */

/* Once the rings serve requests, /dev/fuse carries only FORGETs (and
 * rare INTERRUPTs). The kernel wakes a reader for each forget it
 * queues, so unlinking files one by one costs a wakeup of a thread on
 * the other CPU per file, which then takes the write lock to free the
 * inode. After a FORGET, the next read waits FORGET_GATHER_NS: the
 * forgets meanwhile arrive as one batch (the inodes are freed that
 * much later, which nothing waits for). */
#define FORGET_GATHER_NS 2000000ll
static _Atomic long long forget_gate;	/* CLOCK_MONOTONIC ns */

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static ssize_t io_read_one(int fd, void *buf, size_t len)
{
	long long wait;
	ssize_t n;

	stats_done();
	wait = atomic_load(&forget_gate) - mono_ns();
	if (wait > 0 && wait <= FORGET_GATHER_NS)
		nanosleep(&(struct timespec){ 0, (long)wait }, NULL);
	n = read(fd, buf, len);
	if (n >= (ssize_t)sizeof(struct fuse_in_header) &&
	    atomic_load_explicit(&U.active, memory_order_relaxed)) {
		uint32_t op = ((const struct fuse_in_header *)buf)->opcode;

		if (op == FUSE_FORGET || op == FUSE_BATCH_FORGET)
			atomic_store(&forget_gate, mono_ns() + FORGET_GATHER_NS);
	}
	if (n > 0)
		peek(buf, (size_t)n);
	if (n >= (ssize_t)(sizeof(struct fuse_in_header) +
			   offsetof(struct fuse_init_in, flags) + 4) &&
	    atomic_load(&U.init_unique) == 0) {
		const struct fuse_in_header *ih = buf;

		if (ih->opcode == FUSE_INIT) {
			const struct fuse_init_in *in = (const void *)(ih + 1);

			U.init_in_flags = in->flags;
			atomic_store(&U.init_unique, ih->unique + 1);
		}
	}
	return n;
}

/* libfuse's read: requests extra.c serves are answered here and the
 * next one is read in their place. */
static ssize_t io_read(int fd, void *buf, size_t len, void *ud)
{
	ssize_t n;

	(void)ud;
	do
		n = io_read_one(fd, buf, len);
	while (n > 0 && extra_serve(U.d, buf, (size_t)n, send_extra));
	return n;
}

/* The INIT reply: ask for io_uring, send, then start the queues. */
static ssize_t init_reply(int fd, struct iovec *iov, int count)
{
	char msg[sizeof(struct fuse_out_header) + sizeof(struct fuse_init_out)];
	struct fuse_out_header *oh = (void *)msg;
	struct fuse_init_out *out = (void *)(oh + 1);
	size_t total = 0;
	ssize_t n;

	for (int i = 0; i < count; i++)
		total += iov[i].iov_len;
	if (total > sizeof(msg) ||
	    total < sizeof(*oh) + offsetof(struct fuse_init_out, flags2) + 4)
		return writev(fd, iov, count);
	for (int i = 0, off = 0; i < count; off += (int)iov[i].iov_len, i++)
		memcpy(msg + off, iov[i].iov_base, iov[i].iov_len);
	if (oh->error != 0)
		return writev(fd, iov, count);
	/* We clear setuid, setgid and capabilities ourselves (attr.c,
	 * mapfs_op_killpriv), so the kernel may skip asking for
	 * security.capability before every write(2): one round trip less
	 * per write call (SB_NOSEC). */
	if (U.init_in_flags & FUSE_HANDLE_KILLPRIV_V2)
		out->flags |= FUSE_HANDLE_KILLPRIV_V2;
	if (U.want && (U.init_in_flags & FUSE_INIT_EXT)) {
		out->flags |= FUSE_INIT_EXT;
		out->flags2 |= URING_INIT_FLAG2;
		U.payload_len = out->max_write;
		if ((size_t)out->max_pages * 4096 > U.payload_len)
			U.payload_len = (size_t)out->max_pages * 4096;
		if (U.payload_len < 8192)
			U.payload_len = 8192;
	} else if (U.want) {
		snprintf(U.why, sizeof(U.why), "/dev/fuse (the kernel's INIT "
			 "offered no io_uring)");
	}
	n = write(fd, msg, total);
	if (n != (ssize_t)total) {
		/* The connection went away first (unmounted at once). */
		if (out->flags2 & URING_INIT_FLAG2)
			snprintf(U.why, sizeof(U.why), "io_uring (unmounted "
				 "before the INIT reply got through)");
		return n;
	}
	killpriv_v2 = (out->flags & FUSE_HANDLE_KILLPRIV_V2) != 0;
	if (out->flags2 & URING_INIT_FLAG2)
		start_workers();
	return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *ud)
{
	struct worker *w = cur;
	uint64_t init;

	(void)ud;
	if (count > 0 && iov[0].iov_len >= sizeof(struct fuse_out_header))
		stats_end(((const struct fuse_out_header *)iov[0].iov_base)
				  ->unique);
	if (w && count > 0 &&
	    iov[0].iov_len >= sizeof(struct fuse_out_header)) {
		const struct fuse_out_header *oh = iov[0].iov_base;

		if (oh->unique == w->unique && !w->replied)
			return ring_reply(w, iov, count);
	}
	init = atomic_load(&U.init_unique);
	if (init && init != UINT64_MAX && count > 0 &&
	    iov[0].iov_len >= sizeof(struct fuse_out_header) &&
	    ((const struct fuse_out_header *)iov[0].iov_base)->unique ==
		    init - 1) {
		ssize_t n;

		atomic_store(&U.init_unique, UINT64_MAX);	/* once */
		n = init_reply(fd, iov, count);
		/* The kernel processed the reply inside that write: the
		 * mount's read-ahead window may be raised now (bdi.c). */
		if (n > 0 && ((const struct fuse_out_header *)
				      iov[0].iov_base)->error == 0)
			bdi_init_replied();
		return n;
	}
	return writev(fd, iov, count);
}

static bool kernel_allows(void)
{
	FILE *f = fopen("/sys/module/fuse/parameters/enable_uring", "r");
	int c;

	if (!f)
		return false;
	c = fgetc(f);
	fclose(f);
	return c == 'Y' || c == 'y' || c == '1';
}

int uring_setup(struct daemon *d, struct fuse_session *se, bool want)
{
	static const struct fuse_custom_io io = {
		.read = io_read,
		.writev = io_writev,
	};

	U.d = d;
	U.se = se;
	U.devfd = fuse_session_fd(se);
	U.want = want && kernel_allows();
	if (!want)
		snprintf(U.why, sizeof(U.why), "/dev/fuse (-o nouring)");
	else if (!U.want)
		snprintf(U.why, sizeof(U.why), "/dev/fuse (the kernel's "
			 "fuse.enable_uring is off)");
	/* Installed either way: the INIT reply and the raw requests'
	 * kill flags pass through it. */
	return fuse_session_custom_io(se, &io, U.devfd);
}

void uring_stop(void)
{
	atomic_store(&U.stopping, true);
	guard_stop();
	for (int i = 0; U.w && i < U.nw; i++) {
		struct worker *w = &U.w[i];

		if (w->started)
			join_signalled(w->th);
		w->started = false;
		ring_free(w);
		if (w->buf)
			munmap(w->buf, w->buf_len);
		free(w->hdr);
	}
	free(U.w);
	U.w = NULL;	/* U.nw stays, for uring_describe() */
}

bool uring_killpriv(void)
{
	return killpriv_v2;
}

bool uring_req_kill_suidgid(void)
{
	return req_kill;
}

bool uring_active(void)
{
	return atomic_load(&U.active);
}

const char *uring_describe(void)
{
	/* Wanted, but no INIT ever came: unmounted as soon as mounted,
	 * before any request at all. */
	if (!U.why[0] && U.want)
		return "io_uring (unmounted before the kernel's INIT came)";
	if (!U.why[0])
		return "/dev/fuse";
	/* A registered thread learns it was registered with its first
	 * request: a queue whose CPU sent none ends with ENOTCONN too. */
	if (!atomic_load(&U.failed) && U.nw > 0 && !atomic_load(&U.active) &&
	    atomic_load(&U.closed_early))
		snprintf(U.why, sizeof(U.why), "io_uring (unmounted before "
			 "any request came through the rings)");
	else if (U.guard_ran && !atomic_load(&U.failed))
		snprintf(U.why, sizeof(U.why), "io_uring, %d queues x %d "
			 "threads at idle priority (lifted %u times)",
			 U.nqueues, QUEUE_THREADS, U.starved);
	return U.why;
}
