// SPDX-License-Identifier: MIT
/*
 * meta.c - metadata micro-benchmarks for bench/run.sh.
 *
 * Plain syscalls, timed with clock_gettime(CLOCK_MONOTONIC). Each mode
 * prints one number on stdout: operations per second. Errors go to stderr
 * and exit 1.
 *
 *   meta create  DIR N [S]    create (open O_CREAT|O_EXCL + close) N files
 *                             DIR/fSSSSSSS.. (S, the first index, default 0)
 *   meta stat    DIR N        stat each of those N names, in creation order
 *   meta readdir DIR N        read the whole directory (getdents64); counts
 *                             entries, rate is entries/s; fails unless >= N
 *   meta unlink  DIR N        unlink the N names
 *   meta lookup  DIR N M [D]  M stats of distinct existing names among the
 *                             first N, in a scattered order (stride by a
 *                             prime); with D > 0 the names are spread over
 *                             D subdirectories DIR/dK, each holding N files
 *                             (as made by "meta create DIR/dK N")
 *   meta miss    DIR N M [D]  M stats of distinct names that do not exist
 *                             (ENOENT), spread over DIR/dK likewise
 *   meta pcreate DIR N P      P processes, each creating N files in its own
 *                             directory DIR/pK (created first); rate is
 *                             P*N / wall time of the slowest
 *   meta append  FILE N       N appends of 4 KiB (O_APPEND) then one fsync;
 *                             rate is appends/s including the fsync
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "meta: %s %s: %s\n", what, path ? path : "",
		strerror(errno));
	exit(1);
}

static void name(char *buf, size_t len, const char *dir, long i)
{
	snprintf(buf, len, "%s/f%07ld", dir, i);
}

static void report(long ops, double t)
{
	if (t <= 0)
		t = 1e-9;
	printf("%.0f\n", ops / t);
}

static void do_create(const char *dir, long n, long start)
{
	char p[4096];

	for (long i = start; i < start + n; i++) {
		name(p, sizeof p, dir, i);
		int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0)
			die("create", p);
		close(fd);
	}
}

int main(int argc, char **argv)
{
	char p[4096];
	struct stat st;
	double t0, t;

	if (argc < 4) {
		fprintf(stderr, "usage: meta MODE DIR|FILE N [M|P]\n");
		return 2;
	}
	const char *mode = argv[1], *dir = argv[2];
	long n = atol(argv[3]);
	long m = argc > 4 ? atol(argv[4]) : 0;

	if (!strcmp(mode, "create")) {
		t0 = now();
		do_create(dir, n, m);
		report(n, now() - t0);
	} else if (!strcmp(mode, "stat")) {
		t0 = now();
		for (long i = 0; i < n; i++) {
			name(p, sizeof p, dir, i);
			if (stat(p, &st))
				die("stat", p);
		}
		report(n, now() - t0);
	} else if (!strcmp(mode, "readdir")) {
		char buf[65536];
		long cnt = 0;

		t0 = now();
		int fd = open(dir, O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			die("open", dir);
		for (;;) {
			long r = syscall(SYS_getdents64, fd, buf, sizeof buf);
			if (r < 0)
				die("getdents64", dir);
			if (r == 0)
				break;
			for (long off = 0; off < r;) {
				unsigned short reclen =
					*(unsigned short *)(buf + off + 16);
				cnt++;
				off += reclen;
			}
		}
		close(fd);
		t = now() - t0;
		if (cnt < n) {
			fprintf(stderr, "meta: readdir %s: %ld entries, "
				"expected at least %ld\n", dir, cnt, n);
			return 1;
		}
		report(cnt, t);
	} else if (!strcmp(mode, "unlink")) {
		t0 = now();
		for (long i = 0; i < n; i++) {
			name(p, sizeof p, dir, i);
			if (unlink(p))
				die("unlink", p);
		}
		report(n, now() - t0);
	} else if (!strcmp(mode, "lookup") || !strcmp(mode, "miss")) {
		int miss = mode[0] == 'm';
		long d = argc > 5 ? atol(argv[5]) : 0;
		long total = d > 0 ? n * d : n;
		const long prime = 7919; /* coprime with 100 and 100000 */
		char sub[2048];

		if (!miss && m > total)
			m = total;
		t0 = now();
		for (long i = 0; i < m; i++) {
			long g = miss ? i : (long)((i * prime) % total);
			if (d > 0)
				snprintf(sub, sizeof sub, "%s/d%03ld", dir, g % d);
			else
				snprintf(sub, sizeof sub, "%s", dir);
			if (miss)
				snprintf(p, sizeof p, "%s/missing%07ld", sub, i);
			else
				name(p, sizeof p, sub, d > 0 ? g / d : g);
			int r = stat(p, &st);
			if (miss ? (r == 0 || errno != ENOENT) : r != 0)
				die(miss ? "miss" : "lookup", p);
		}
		report(m, now() - t0);
	} else if (!strcmp(mode, "pcreate")) {
		long np = m > 0 ? m : 1;

		for (long k = 0; k < np; k++) {
			snprintf(p, sizeof p, "%s/p%ld", dir, k);
			if (mkdir(p, 0755) && errno != EEXIST)
				die("mkdir", p);
		}
		t0 = now();
		for (long k = 0; k < np; k++) {
			pid_t pid = fork();
			if (pid < 0)
				die("fork", NULL);
			if (pid == 0) {
				snprintf(p, sizeof p, "%s/p%ld", dir, k);
				do_create(p, n, 0);
				_exit(0);
			}
		}
		int bad = 0, wst;
		while (wait(&wst) > 0)
			if (!WIFEXITED(wst) || WEXITSTATUS(wst))
				bad = 1;
		t = now() - t0;
		if (bad)
			return 1;
		report(np * n, t);
	} else if (!strcmp(mode, "append")) {
		static char blk[4096];

		memset(blk, 'a', sizeof blk);
		t0 = now();
		int fd = open(dir, O_CREAT | O_WRONLY | O_APPEND, 0644);
		if (fd < 0)
			die("open", dir);
		for (long i = 0; i < n; i++)
			if (write(fd, blk, sizeof blk) != (ssize_t)sizeof blk)
				die("write", dir);
		if (fsync(fd))
			die("fsync", dir);
		close(fd);
		report(n, now() - t0);
	} else {
		fprintf(stderr, "meta: unknown mode %s\n", mode);
		return 2;
	}
	return 0;
}
