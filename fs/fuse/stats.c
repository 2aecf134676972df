/* SPDX-License-Identifier: MIT */
/*
 * stats.c - the requests the kernel sent, by opcode, and the time the
 * daemon spent on each (-o stats; printed to the log at unmount).
 *
 * What a workload costs a FUSE filesystem is first the number of round
 * trips (docs/PERF.md, "Round trips"), so the daemon counts them where
 * every request enters, whichever the transport: uring.c calls
 * stats_begin when a request arrives on a thread and stats_end when that
 * thread sends the reply with the same unique number. A request with no
 * reply (FORGET, BATCH_FORGET) ends when its thread is back for the next
 * one (stats_done).
 * The time is the daemon's, from the request's arrival to its reply: it
 * includes waiting for the filesystem lock, not the transit through the
 * kernel (the workload's wall time minus this sum, per request, is that).
 *
 * Off by default: the counters then cost one predictable branch per
 * request. On, two clock reads and two atomic adds.
 */
#include "stats.h"

#include <linux/fuse.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#define NOPS 64			/* opcodes below this are counted alone */

static bool enabled;
static _Atomic unsigned long long count[NOPS + 1], nsec[NOPS + 1];

static _Thread_local uint32_t cur_op;
static _Thread_local uint64_t cur_unique;
static _Thread_local long long cur_t0;
static _Thread_local bool cur_open;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

void stats_enable(void)
{
	enabled = true;
}

static void close_cur(void)
{
	uint32_t i = cur_op < NOPS ? cur_op : NOPS;

	atomic_fetch_add_explicit(&count[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&nsec[i], (unsigned long long)
				  (now_ns() - cur_t0), memory_order_relaxed);
	cur_open = false;
}

void stats_begin(uint32_t opcode, uint64_t unique)
{
	if (!enabled)
		return;
	if (cur_open)
		close_cur();
	cur_op = opcode;
	cur_unique = unique;
	cur_t0 = now_ns();
	cur_open = true;
}

void stats_done(void)
{
	if (enabled && cur_open)
		close_cur();
}

void stats_end(uint64_t unique)
{
	if (enabled && cur_open && unique == cur_unique)
		close_cur();
}

static const char *op_name(uint32_t op)
{
	static const char *const names[NOPS] = {
		[FUSE_LOOKUP] = "LOOKUP", [FUSE_FORGET] = "FORGET",
		[FUSE_GETATTR] = "GETATTR", [FUSE_SETATTR] = "SETATTR",
		[FUSE_READLINK] = "READLINK", [FUSE_SYMLINK] = "SYMLINK",
		[FUSE_MKNOD] = "MKNOD", [FUSE_MKDIR] = "MKDIR",
		[FUSE_UNLINK] = "UNLINK", [FUSE_RMDIR] = "RMDIR",
		[FUSE_RENAME] = "RENAME", [FUSE_LINK] = "LINK",
		[FUSE_OPEN] = "OPEN", [FUSE_READ] = "READ",
		[FUSE_WRITE] = "WRITE", [FUSE_STATFS] = "STATFS",
		[FUSE_RELEASE] = "RELEASE", [FUSE_FSYNC] = "FSYNC",
		[FUSE_SETXATTR] = "SETXATTR", [FUSE_GETXATTR] = "GETXATTR",
		[FUSE_LISTXATTR] = "LISTXATTR",
		[FUSE_REMOVEXATTR] = "REMOVEXATTR", [FUSE_FLUSH] = "FLUSH",
		[FUSE_INIT] = "INIT", [FUSE_OPENDIR] = "OPENDIR",
		[FUSE_READDIR] = "READDIR", [FUSE_RELEASEDIR] = "RELEASEDIR",
		[FUSE_FSYNCDIR] = "FSYNCDIR", [FUSE_GETLK] = "GETLK",
		[FUSE_SETLK] = "SETLK", [FUSE_SETLKW] = "SETLKW",
		[FUSE_ACCESS] = "ACCESS", [FUSE_CREATE] = "CREATE",
		[FUSE_INTERRUPT] = "INTERRUPT", [FUSE_BMAP] = "BMAP",
		[FUSE_DESTROY] = "DESTROY", [FUSE_IOCTL] = "IOCTL",
		[FUSE_POLL] = "POLL", [FUSE_NOTIFY_REPLY] = "NOTIFY_REPLY",
		[FUSE_BATCH_FORGET] = "BATCH_FORGET",
		[FUSE_FALLOCATE] = "FALLOCATE",
		[FUSE_READDIRPLUS] = "READDIRPLUS", [FUSE_RENAME2] = "RENAME2",
		[FUSE_LSEEK] = "LSEEK",
		[FUSE_COPY_FILE_RANGE] = "COPY_FILE_RANGE",
		[FUSE_SETUPMAPPING] = "SETUPMAPPING",
		[FUSE_REMOVEMAPPING] = "REMOVEMAPPING",
		[FUSE_SYNCFS] = "SYNCFS", [FUSE_TMPFILE] = "TMPFILE",
		[52] = "STATX",	/* FUSE_STATX: newer than <linux/fuse.h> */
	};

	return op < NOPS && names[op] ? names[op] : "other";
}

void stats_report(void (*out)(const char *line))
{
	unsigned long long total = 0, total_ns = 0;
	char line[160];

	if (!enabled)
		return;
	for (uint32_t i = 0; i <= NOPS; i++) {
		total += atomic_load(&count[i]);
		total_ns += atomic_load(&nsec[i]);
	}
	snprintf(line, sizeof(line), "stats: %llu requests, %.3f s in the "
		 "daemon", total, total_ns / 1e9);
	out(line);
	for (uint32_t i = 0; i <= NOPS; i++) {
		unsigned long long n = atomic_load(&count[i]);
		unsigned long long ns = atomic_load(&nsec[i]);

		if (n == 0)
			continue;
		snprintf(line, sizeof(line), "stats: %-15s %10llu  %9.3f s  "
			 "%8.1f us each", i < NOPS ? op_name(i) : "other", n,
			 ns / 1e9, ns / 1e3 / (double)n);
		out(line);
	}
}
