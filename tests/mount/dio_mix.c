/* SPDX-License-Identifier: MIT */
/*
 * dio_mix.c - O_DIRECT writes mixed with buffered and mmap reads of the
 * same file: once a direct write has completed, every later buffered read
 * and every read through a shared mapping must return its bytes.
 *
 *   dio_mix FILE sync|aio [ROUNDS]
 *
 * The file (4 MiB) is written with O_DIRECT in rounds; in round r every
 * 16 KiB chunk is filled with bytes naming (r, chunk). A second thread
 * reads the file through a buffered descriptor in a loop the whole time,
 * so the kernel's page cache keeps being filled with whatever the file
 * held a moment before (the race of xfstests generic/451). After each
 * round's writes have completed (pwrite returned; or, for aio, the
 * io_getevents completions came back), the main thread reads the whole
 * file through a buffered descriptor and through a MAP_SHARED mapping and
 * compares every byte. "aio" submits the round's chunks as Linux AIO
 * (io_submit) O_DIRECT writes, all in flight at once. Exit 0 when every
 * round matched, 1 on the first stale byte (printed), 2 on a setup error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FSIZE (4L << 20)
#define CHUNK (16L << 10)
#define NCHUNK (FSIZE / CHUNK)

static atomic_bool stop;
static const char *path;

static void fill(uint8_t *p, unsigned round, long chunk)
{
	for (long i = 0; i < CHUNK; i += 8) {
		p[i] = (uint8_t)round;
		p[i + 1] = (uint8_t)(round >> 8);
		p[i + 2] = (uint8_t)chunk;
		p[i + 3] = (uint8_t)(chunk >> 8);
		p[i + 4] = 0xd1;
		p[i + 5] = 0x0e;
		p[i + 6] = (uint8_t)(i >> 3);
		p[i + 7] = (uint8_t)(i >> 11);
	}
}

static void *reader(void *arg)
{
	char *buf = malloc(CHUNK * 4);
	int fd = open(path, O_RDONLY);

	(void)arg;
	if (fd < 0 || !buf) {
		perror("reader");
		exit(2);
	}
	while (!atomic_load(&stop)) {
		for (off_t o = 0; o < FSIZE && !atomic_load(&stop);
		     o += CHUNK * 4)
			if (pread(fd, buf, CHUNK * 4, o) < 0) {
				perror("reader pread");
				exit(2);
			}
	}
	close(fd);
	free(buf);
	return NULL;
}

/* Compare the whole file (as read by one method) with round r. */
static int check(const uint8_t *got, unsigned r, const char *how)
{
	static uint8_t want[CHUNK];

	for (long c = 0; c < NCHUNK; c++) {
		fill(want, r, c);
		if (memcmp(got + c * CHUNK, want, CHUNK)) {
			long i = 0;
			while (got[c * CHUNK + i] == want[i])
				i++;
			fprintf(stderr, "dio_mix: round %u: %s read at offset "
				"%ld: byte 0x%02x, want 0x%02x (the first "
				"bytes there name round %u)\n", r, how,
				c * CHUNK + i, got[c * CHUNK + i], want[i],
				got[c * CHUNK + (i & ~7L)] |
					got[c * CHUNK + (i & ~7L) + 1] << 8);
			return -1;
		}
	}
	return 0;
}

static long sys_io_setup(unsigned n, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, n, ctx);
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 3 ? (unsigned)atoi(argv[3]) : 100;
	bool aio;
	uint8_t *dbuf, *rbuf, *map;
	aio_context_t ctx = 0;
	pthread_t th;
	int dfd, bfd;

	if (argc < 3 || (strcmp(argv[2], "sync") && strcmp(argv[2], "aio"))) {
		fprintf(stderr, "usage: dio_mix FILE sync|aio [ROUNDS]\n");
		return 2;
	}
	path = argv[1];
	aio = !strcmp(argv[2], "aio");
	dfd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
	bfd = open(path, O_RDONLY);
	if (dfd < 0 || bfd < 0) {
		perror(path);
		return 2;
	}
	if (posix_memalign((void **)&dbuf, 4096, FSIZE) ||
	    !(rbuf = malloc(FSIZE))) {
		perror("memory");
		return 2;
	}
	/* Round 0 written buffered-free too: the whole file exists. */
	for (long c = 0; c < NCHUNK; c++)
		fill(dbuf + c * CHUNK, 0, c);
	if (pwrite(dfd, dbuf, FSIZE, 0) != FSIZE) {
		perror("first write");
		return 2;
	}
	map = mmap(NULL, FSIZE, PROT_READ, MAP_SHARED, bfd, 0);
	if (map == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	if (aio && sys_io_setup(NCHUNK, &ctx) < 0) {
		perror("io_setup");
		return 2;
	}
	if (pthread_create(&th, NULL, reader, NULL)) {
		perror("pthread_create");
		return 2;
	}
	for (unsigned r = 1; r <= rounds; r++) {
		for (long c = 0; c < NCHUNK; c++)
			fill(dbuf + c * CHUNK, r, c);
		if (aio) {
			static struct iocb cbs[NCHUNK];
			static struct iocb *cbp[NCHUNK];
			static struct io_event ev[NCHUNK];
			long done = 0;

			for (long c = 0; c < NCHUNK; c++) {
				memset(&cbs[c], 0, sizeof(cbs[c]));
				cbs[c].aio_fildes = (uint32_t)dfd;
				cbs[c].aio_lio_opcode = IOCB_CMD_PWRITE;
				cbs[c].aio_buf = (uint64_t)(uintptr_t)
						 (dbuf + c * CHUNK);
				cbs[c].aio_nbytes = CHUNK;
				cbs[c].aio_offset = c * CHUNK;
				cbp[c] = &cbs[c];
			}
			for (long s = 0; s < NCHUNK;) {
				long k = syscall(SYS_io_submit, ctx, NCHUNK - s,
						 cbp + s);
				if (k <= 0) {
					perror("io_submit");
					return 2;
				}
				s += k;
			}
			while (done < NCHUNK) {
				long k = syscall(SYS_io_getevents, ctx, 1,
						 NCHUNK - done, ev, NULL);
				if (k < 0 && errno == EINTR)
					continue;
				if (k <= 0) {
					perror("io_getevents");
					return 2;
				}
				for (long i = 0; i < k; i++)
					if (ev[i].res != CHUNK) {
						fprintf(stderr, "dio_mix: aio "
							"write: %lld\n",
							(long long)ev[i].res);
						return 2;
					}
				done += k;
			}
		} else {
			for (long c = 0; c < NCHUNK; c++)
				if (pwrite(dfd, dbuf + c * CHUNK, CHUNK,
					   c * CHUNK) != CHUNK) {
					perror("direct pwrite");
					return 2;
				}
		}
		/* Every write of the round has completed. */
		if (pread(bfd, rbuf, FSIZE, 0) != FSIZE) {
			perror("pread");
			return 2;
		}
		if (check(rbuf, r, "buffered") || check(map, r, "mmap")) {
			atomic_store(&stop, true);
			pthread_join(th, NULL);
			return 1;
		}
	}
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	printf("dio_mix: %s: %u rounds of %ld O_DIRECT writes, buffered "
	       "and mmap reads matched after each\n", argv[2], rounds, NCHUNK);
	return 0;
}
