/* SPDX-License-Identifier: MIT */
/*
 * fill.c - writers on a filling filesystem: write() itself must fail
 * with ENOSPC once the space is gone, and nothing a writer was told is
 * written may be missing.
 *
 *   fill DIR           write DIR/big in 1 MiB write()s until one fails,
 *                      then (big removed) DIR/small in 4 KiB write()s
 *                      until one fails, checking each file
 *   fill DIR verify N  check DIR/small again (after a remount): N bytes
 *
 * The first form ends by printing "small: N" (the bytes of DIR/small).
 *
 * Every 8 bytes of a file hold its own offset, so a hole (zeros) or a
 * misplaced block shows. For each writer: the write that fails fails
 * with ENOSPC; what write() accepted is at most the space statvfs showed
 * free before it started (to this user: root may take the reserve), plus
 * 1 MiB; it took under 60 s; fsync then
 * succeeds (nothing accepted is still waiting to fail); the file's size
 * is exactly what write() accepted, every block of it is allocated
 * (st_blocks), and every byte reads back. Exit 0 if all holds, 1 with a
 * message on the first violation, 2 on a setup error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "tutil.h"
#define MIB (1 << 20)

static int failed;

static void bad(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fill: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	failed = 1;
}

static void tag(uint8_t *p, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = off + i;
		memcpy(p + i, &v, 8);
	}
}

/* Check size, allocation and contents of path: size bytes expected. */
static void check_file(const char *path, uint64_t size)
{
	static uint8_t buf[MIB], want[MIB];
	struct stat st;
	uint64_t off;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0) {
		bad("%s: %s", path, strerror(errno));
		return;
	}
	if ((uint64_t)st.st_size != size)
		bad("%s: size %jd, but write() accepted %" PRIu64 " bytes",
		    path, (intmax_t)st.st_size, size);
	if ((uint64_t)st.st_blocks * 512 < size)
		bad("%s: %jd bytes allocated for a size of %" PRIu64
		    ": a hole where data was written", path,
		    (intmax_t)st.st_blocks * 512, size);
	for (off = 0; off < size; off += MIB) {
		size_t n = size - off < MIB ? size - off : MIB;
		ssize_t got = pread(fd, buf, n, (off_t)off);

		if (got != (ssize_t)n) {
			bad("%s: read at %" PRIu64 ": %zd (%s)", path, off, got,
			    got < 0 ? strerror(errno) : "short");
			break;
		}
		tag(want, n, off);
		if (memcmp(buf, want, n)) {
			size_t i = 0;
			while (buf[i] == want[i])
				i++;
			bad("%s: byte %" PRIu64 " differs from what was "
			    "written (a hole or lost data)", path, off + i);
			break;
		}
	}
	close(fd);
}

/* Write path in chunk-byte write()s until one fails; check. Returns the
 * bytes accepted. */
static uint64_t writer(const char *dir, const char *name, size_t chunk)
{
	static uint8_t buf[MIB];
	char path[4096];
	struct statvfs sv;
	uint64_t avail, total, done = 0;
	double t0 = now();
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (statvfs(dir, &sv) < 0) {
		perror("statvfs");
		exit(2);
	}
	/* Root may take the reserved blocks too. */
	avail = (uint64_t)(geteuid() == 0 ? sv.f_bfree : sv.f_bavail) *
		sv.f_frsize;
	total = (uint64_t)sv.f_blocks * sv.f_frsize;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(path);
		exit(2);
	}
	for (;;) {
		ssize_t n;

		tag(buf, chunk, done);
		n = write(fd, buf, chunk);
		if (n < 0) {
			err = errno;
			break;
		}
		done += (uint64_t)n;
		if ((size_t)n < chunk) {
			/* a short write: the next one must fail */
			continue;
		}
		if (done > 2 * total) {
			bad("%s: write() accepted %" PRIu64 " bytes on a "
			    "filesystem of %" PRIu64 " bytes, and goes on",
			    path, done, total);
			close(fd);
			return done;
		}
		if (now() - t0 > 60) {
			bad("%s: still writing after 60 s (%" PRIu64
			    " bytes)", path, done);
			close(fd);
			return done;
		}
	}
	printf("fill: %s: %zu-byte writes: %" PRIu64 " bytes accepted "
	       "(%" PRIu64 " were free), then %s after %.2f s\n", path, chunk,
	       done, avail, strerror(err), now() - t0);
	if (err != ENOSPC)
		bad("%s: write() failed with %s, not ENOSPC", path,
		    strerror(err));
	if (done > avail + MIB)
		bad("%s: write() accepted %" PRIu64 " bytes with %" PRIu64
		    " free", path, done, avail);
	if (fsync(fd) < 0)
		bad("%s: fsync after the failed write: %s (an accepted write "
		    "failed later)", path, strerror(errno));
	if (close(fd) < 0)
		bad("%s: close: %s", path, strerror(errno));
	check_file(path, done);
	return done;
}

int main(int argc, char **argv)
{
	char path[4096];
	uint64_t n;

	if (argc < 2) {
		fprintf(stderr, "usage: fill DIR [verify N]\n");
		return 2;
	}
	if (argc > 3 && !strcmp(argv[2], "verify")) {
		n = strtoull(argv[3], NULL, 10);
		snprintf(path, sizeof(path), "%s/small", argv[1]);
		check_file(path, n);
		if (!failed)
			printf("fill: %s: %" PRIu64 " bytes, all there after "
			       "the remount\n", path, n);
		return failed;
	}
	writer(argv[1], "big", MIB);
	snprintf(path, sizeof(path), "%s/big", argv[1]);
	if (unlink(path) < 0) {
		perror(path);
		return 2;
	}
	/* Freed blocks wait for a commit before reuse: make one. */
	sync();
	n = writer(argv[1], "small", 4096);
	printf("small: %" PRIu64 "\n", n);
	return failed;
}
