/* SPDX-License-Identifier: MIT */
/*
 * crashload.c - the workload of the daemon-kill test (crash.sh).
 *
 *   crashload DIR SEED LOG
 *
 * Runs seeded random operations in DIR until an operation fails (the
 * daemon was killed: ENOTCONN) or 100,000 operations are done. It keeps a
 * log (on another filesystem) of what must survive:
 *   "D PATH VERSION SIZE"  written after PATH, holding VERSION's content,
 *                          and its directory were fsynced;
 *   "X PATH"               written before any operation that may change
 *                          PATH, so an operation cut short is not held
 *                          against the filesystem.
 * crashload --verify DIR LOG checks that every path whose last log line is
 * a "D" holds exactly that content. Exit 0 when it does, 1 otherwise.
 *
 * Operations: create and write (sometimes fsync file and directory),
 * append, overwrite in place, the editor's save (write a temporary file,
 * fsync, rename over, fsync the directory), rename, unlink, truncate,
 * mkdir, rmdir, and fsync (also through a read-only descriptor). No hard
 * links: a name's content would then change through another name, which
 * the log cannot follow.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NDIRS 3
#define NNAMES 12
#define MAXSIZE 200000

static uint64_t rng;
static FILE *lg;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* The content of version v: a pattern only v produces, v's own size. */
static size_t ver_size(uint64_t v)
{
	return (size_t)((v * 7919u) % MAXSIZE);
}

static void ver_fill(uint64_t v, unsigned char *buf, size_t n)
{
	uint64_t x = v * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
}

static void log_line(const char *fmt, const char *path, uint64_t v, size_t sz)
{
	fprintf(lg, fmt, path, (unsigned long long)v, sz);
	fflush(lg);
	fdatasync(fileno(lg));
}

static void forget(const char *path)
{
	log_line("X %s\n", path, 0, 0);
}

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags);
	int err;

	if (fd < 0)
		return -1;
	err = fsync(fd);
	close(fd);
	return err;
}

static void name_of(char *buf, size_t n, const char *dir, unsigned d,
		    unsigned k)
{
	snprintf(buf, n, "%s/d%u/f%u", dir, d, k);
}

/* Write version v's content to path (created or truncated); fsync both
 * the file and its directory when asked. -1 on failure. */
static int write_version(const char *path, uint64_t v, int sync,
			 const char *dirpath)
{
	static unsigned char buf[MAXSIZE];
	size_t n = ver_size(v);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

	if (fd < 0)
		return -1;
	ver_fill(v, buf, n);
	if (write(fd, buf, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	if (sync && fsync(fd) < 0) {
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return -1;
	if (sync && fsync_path(dirpath, O_RDONLY | O_DIRECTORY) < 0)
		return -1;
	return 0;
}

static int run(const char *dir, uint64_t seed)
{
	static unsigned char buf[65536];
	char p[512], q[512], dp[512], tmp[600];
	uint64_t version = seed * 1000000;

	for (unsigned d = 0; d < NDIRS; d++) {
		snprintf(dp, sizeof(dp), "%s/d%u", dir, d);
		if (mkdir(dp, 0755) < 0 && errno != EEXIST)
			return 1;
	}
	for (long op = 0; op < 100000; op++) {
		unsigned d = (unsigned)(rnd() % NDIRS), k = (unsigned)(rnd() % NNAMES);
		unsigned d2 = (unsigned)(rnd() % NDIRS), k2 = (unsigned)(rnd() % NNAMES);
		int r = 0;

		name_of(p, sizeof(p), dir, d, k);
		name_of(q, sizeof(q), dir, d2, k2);
		snprintf(dp, sizeof(dp), "%s/d%u", dir, d);
		switch (rnd() % 12) {
		case 0: case 1: case 2: {	/* new content, maybe durable */
			int sync = rnd() % 2;
			forget(p);
			version++;
			r = write_version(p, version, sync, dp);
			if (r == 0 && sync)
				log_line("D %s %llu %zu\n", p, version,
					 ver_size(version));
			break;
		}
		case 3: {			/* the editor's save */
			snprintf(tmp, sizeof(tmp), "%s.tmp", p);
			version++;
			forget(tmp);
			r = write_version(tmp, version, 1, dp);
			if (r == 0) {
				forget(p);
				r = rename(tmp, p);
			}
			if (r == 0)
				r = fsync_path(dp, O_RDONLY | O_DIRECTORY);
			if (r == 0)
				log_line("D %s %llu %zu\n", p, version,
					 ver_size(version));
			break;
		}
		case 4: {			/* append */
			int fd;
			forget(p);
			fd = open(p, O_WRONLY | O_APPEND);
			if (fd >= 0) {
				size_t n = rnd() % sizeof(buf);
				r = write(fd, buf, n) == (ssize_t)n ? 0 : -1;
				if (close(fd) < 0)
					r = -1;
			} else if (errno != ENOENT) {
				r = -1;
			}
			break;
		}
		case 5:				/* rename */
			forget(p);
			forget(q);
			r = rename(p, q);
			if (r < 0 && (errno == ENOENT || errno == EISDIR ||
				      errno == ENOTEMPTY))
				r = 0;
			break;
		case 6:				/* fsync a file */
			r = fsync_path(p, O_WRONLY);
			if (r < 0 && (errno == ENOENT || errno == EISDIR))
				r = 0;
			break;
		case 7:				/* unlink */
			forget(p);
			r = unlink(p);
			if (r < 0 && (errno == ENOENT || errno == EISDIR))
				r = 0;
			break;
		case 8:				/* truncate */
			forget(p);
			r = truncate(p, (off_t)(rnd() % MAXSIZE));
			if (r < 0 && (errno == ENOENT || errno == EISDIR))
				r = 0;
			break;
		case 9:				/* a directory comes and goes */
			forget(p);
			if (mkdir(p, 0755) == 0 || errno == EEXIST ||
			    errno == ENOENT)
				r = 0;
			else
				r = -1;
			if (r == 0 && rmdir(p) < 0 && errno != ENOTDIR &&
			    errno != ENOENT && errno != ENOTEMPTY)
				r = -1;
			break;
		case 10:			/* sync through a read-only fd */
			r = fsync_path(p, O_RDONLY);
			if (r < 0 && (errno == ENOENT || errno == EISDIR))
				r = 0;
			break;
		default: {			/* overwrite in place */
			int fd;
			forget(p);
			fd = open(p, O_WRONLY);
			if (fd >= 0) {
				size_t n = rnd() % 8192;
				r = pwrite(fd, buf, n, (off_t)(rnd() % MAXSIZE)) ==
					    (ssize_t)n ? 0 : -1;
				if (close(fd) < 0)
					r = -1;
			} else if (errno != ENOENT && errno != EISDIR) {
				r = -1;
			}
			break;
		}
		}
		if (r < 0)
			return 0;	/* the daemon is gone: the test goes on */
	}
	return 0;
}

struct want {
	char path[600];
	int durable;
	uint64_t version;
	size_t size;
};

static int verify(const char *dir, const char *logpath)
{
	static unsigned char want[MAXSIZE], got[MAXSIZE + 1];
	struct want *w = NULL;
	size_t nw = 0, cap = 0;
	char line[1100], path[600];
	unsigned long long v;
	size_t sz;
	int bad = 0;
	FILE *f = fopen(logpath, "r");

	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f)) {
		int durable = line[0] == 'D';
		size_t i;

		if (durable && sscanf(line, "D %599s %llu %zu", path, &v, &sz) != 3)
			continue;
		if (!durable && sscanf(line, "X %599s", path) != 1)
			continue;
		for (i = 0; i < nw && strcmp(w[i].path, path); i++)
			;
		if (i == nw) {
			if (nw == cap) {
				cap = cap ? cap * 2 : 64;
				w = realloc(w, cap * sizeof(*w));
				if (!w)
					return 1;
			}
			snprintf(w[nw].path, sizeof(w[nw].path), "%s", path);
			nw++;
		}
		w[i].durable = durable;
		w[i].version = v;
		w[i].size = sz;
	}
	fclose(f);
	for (size_t i = 0; i < nw; i++) {
		char real[1400];
		ssize_t n;
		int fd;

		if (!w[i].durable)
			continue;
		/* The log names paths under the mount the workload saw;
		 * verify under DIR with the same tail. */
		const char *tail = strstr(w[i].path, "/d");
		snprintf(real, sizeof(real), "%s%s", dir, tail ? tail : "");
		fd = open(real, O_RDONLY);
		if (fd < 0) {
			printf("# durable %s (version %llu) is missing: %s\n",
			       real, (unsigned long long)w[i].version,
			       strerror(errno));
			bad = 1;
			continue;
		}
		n = read(fd, got, sizeof(got));
		close(fd);
		ver_fill(w[i].version, want, w[i].size);
		if (n != (ssize_t)w[i].size || memcmp(got, want, w[i].size)) {
			printf("# durable %s (version %llu): wrong content "
			       "(%zd bytes, want %zu)\n", real,
			       (unsigned long long)w[i].version, n, w[i].size);
			bad = 1;
		}
	}
	free(w);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--verify"))
		return verify(argv[2], argv[3]);
	if (argc != 4) {
		fprintf(stderr, "usage: crashload DIR SEED LOG | "
			"crashload --verify DIR LOG\n");
		return 2;
	}
	rng = strtoull(argv[2], NULL, 0) * 2654435761u + 88172645463325252ull;
	lg = fopen(argv[3], "a");
	if (!lg)
		return 1;
	return run(argv[1], strtoull(argv[2], NULL, 0));
}
