/* SPDX-License-Identifier: MIT */
/*
 * ahead.c - the helper thread that writes ahead (see write_ahead in
 * fs/inode.c): it faults in, writable, the pages of blocks a file being
 * written sequentially will most likely get next, while the request
 * threads copy the current request. That takes the costliest part of a
 * large write off the request path: the host's page allocation and
 * zero-fill for each new page of the image, and its page_mkwrite.
 *
 * The core calls the hook with the filesystem lock held; the hook only
 * queues the blocks. The thread runs without any lock: faulting a page
 * in writable changes no byte, so it is harmless whoever owns the block
 * by then. The queue is small and a full queue drops the request: the
 * writer then faults the pages in itself, as without the helper.
 */
#include "ahead.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define QLEN 16

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	struct mapfs_fs *fs;
	bool running, stop;
	unsigned head, tail;	/* runs [tail, head) wait */
	struct {
		mapfs_bno_t bno;
		uint64_t n;
	} q[QLEN];
	uint64_t queued, dropped, failed;
} A = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *ahead_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&A.mu);
	for (;;) {
		mapfs_bno_t bno;
		uint64_t n;
		int err = 0;

		while (!A.stop && A.head == A.tail)
			pthread_cond_wait(&A.cv, &A.mu);
		if (A.stop)
			break;
		bno = A.q[A.tail % QLEN].bno;
		n = A.q[A.tail % QLEN].n;
		A.tail++;
		pthread_mutex_unlock(&A.mu);
		err = -mapfs_fs_prepare_write(A.fs, mapfs_data_block(A.fs, bno),
					      (size_t)(n << A.fs->g.bshift));
		pthread_mutex_lock(&A.mu);
		if (err) {
			A.failed++;
			/* A kernel without MADV_POPULATE_WRITE (before
			 * 5.14): the writer's own faults are all there is. */
			if (err == EINVAL)
				A.stop = true;
		}
	}
	pthread_mutex_unlock(&A.mu);
	return NULL;
}

static void ahead_hook(void *arg, mapfs_bno_t bno, uint64_t n)
{
	(void)arg;
	pthread_mutex_lock(&A.mu);
	if (A.stop || A.head - A.tail == QLEN) {
		A.dropped++;
	} else {
		A.q[A.head % QLEN].bno = bno;
		A.q[A.head % QLEN].n = n;
		A.head++;
		A.queued++;
		pthread_cond_signal(&A.cv);
	}
	pthread_mutex_unlock(&A.mu);
}

int ahead_start(struct mapfs_fs *fs)
{
	if (A.running || fs->fd < 0)
		return 0;
	A.fs = fs;
	A.stop = false;
	A.head = A.tail = 0;
	if (pthread_create(&A.thread, NULL, ahead_main, NULL) != 0)
		return -EAGAIN;
	(void)pthread_setname_np(A.thread, "mapfs-ahead");
	A.running = true;
	fs->ahead_arg = NULL;
	fs->ahead_hook = ahead_hook;
	return 0;
}

void ahead_stop(struct mapfs_fs *fs, struct ahead_stats *st)
{
	if (A.running) {
		fs->ahead_hook = NULL;
		pthread_mutex_lock(&A.mu);
		A.stop = true;
		pthread_cond_signal(&A.cv);
		pthread_mutex_unlock(&A.mu);
		pthread_join(A.thread, NULL);
		A.running = false;
	}
	if (st) {
		st->queued = A.queued;
		st->dropped = A.dropped;
		st->failed = A.failed;
	}
}
