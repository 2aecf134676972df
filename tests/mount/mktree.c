/* SPDX-License-Identifier: MIT */
/*
 * mktree - write a deterministic tree shaped like an unpacked
 * node_modules: many directories, most of them small and a few levels
 * deep, holding many small files and a few large ones.
 *
 *   mktree DIR NDIRS NFILES [SEED]
 *
 * DIR (created) gets NDIRS directories in all, DIR included: each new
 * directory goes under one of the 64 made just before it (a package and
 * its subdirectories), or under that one's package top when it is 6 deep
 * already, or, one time in eight, under DIR itself (a new package).
 * NFILES regular files are spread over the directories at random.
 * Sizes: 60 % from 100 B to 2 KiB, 30 % to 20 KiB, 9 % to 100 KiB, 1 % to
 * 1 MiB (about 15 KB on average, like a package tree's sources, maps and
 * a few bundles). File bytes are pseudo-random text,
 * never runs of zeros, so that no copy can make them holes.
 *
 * Prints "dirs N files N bytes N du N" where du is what du(1) reports
 * for the tree on a filesystem with 4 KiB blocks that gives each
 * directory one block (ext4 here): every file rounded up to 4 KiB plus
 * 4 KiB per directory. Same arguments, same tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t rng;

static uint64_t next(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static uint64_t range(uint64_t lo, uint64_t hi)
{
	return lo + next() % (hi - lo + 1);
}

static uint64_t file_size(void)
{
	uint64_t r = next() % 100;

	if (r < 60)
		return range(100, 2048);
	if (r < 90)
		return range(2049, 20480);
	if (r < 99)
		return range(20481, 102400);
	return range(102401, 1048576);
}

static int write_file(const char *path, uint64_t size, const char *buf)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	uint64_t done = 0;

	if (fd < 0)
		return -1;
	while (done < size) {
		size_t n = size - done > 65536 ? 65536 : (size_t)(size - done);
		ssize_t w = write(fd, buf + (done % 4096), n);

		if (w <= 0) {
			close(fd);
			return -1;
		}
		done += (uint64_t)w;
	}
	return close(fd);
}

int main(int argc, char **argv)
{
	unsigned long ndirs, nfiles;
	uint64_t bytes = 0, du = 0;
	char **dirs, path[4096];
	unsigned char *depth;
	unsigned long *pkg;
	static char buf[65536 + 4096];

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: %s DIR NDIRS NFILES [SEED]\n", argv[0]);
		return 2;
	}
	ndirs = strtoul(argv[2], NULL, 10);
	nfiles = strtoul(argv[3], NULL, 10);
	rng = argc == 5 ? strtoull(argv[4], NULL, 10) : 1;
	rng = rng * 0x9e3779b97f4a7c15ull + 1;
	if (ndirs < 1) {
		fprintf(stderr, "%s: NDIRS must be at least 1\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i % 61 == 60 ? '\n' : 'a' + next() % 26);
	dirs = calloc(ndirs, sizeof(*dirs));
	depth = calloc(ndirs, sizeof(*depth));
	pkg = calloc(ndirs, sizeof(*pkg));
	if (!dirs || !depth || !pkg)
		return 1;
	if (mkdir(argv[1], 0755) < 0 && errno != EEXIST) {
		perror(argv[1]);
		return 1;
	}
	dirs[0] = strdup(argv[1]);
	du += 4096;
	for (unsigned long i = 1; i < ndirs; i++) {
		unsigned long p = 0;

		if (next() % 8 != 0) {
			unsigned long lo = i > 64 ? i - 64 : 0;

			p = (unsigned long)range(lo, i - 1);
			if (depth[p] >= 6)
				p = pkg[p];
		}
		depth[i] = (unsigned char)(depth[p] + 1);
		pkg[i] = p == 0 ? i : pkg[p];
		snprintf(path, sizeof(path), "%s/d%lu", dirs[p], i);
		if (mkdir(path, 0755) < 0) {
			perror(path);
			return 1;
		}
		dirs[i] = strdup(path);
		if (!dirs[i])
			return 1;
		du += 4096;
	}
	for (unsigned long i = 0; i < nfiles; i++) {
		unsigned long d = (unsigned long)(next() % ndirs);
		uint64_t size = file_size();

		snprintf(path, sizeof(path), "%s/f%lu.js", dirs[d], i);
		if (write_file(path, size, buf) < 0) {
			perror(path);
			return 1;
		}
		bytes += size;
		du += (size + 4095) / 4096 * 4096;
	}
	printf("dirs %lu files %lu bytes %llu du %llu\n", ndirs, nfiles,
	       (unsigned long long)bytes, (unsigned long long)du);
	for (unsigned long i = 0; i < ndirs; i++)
		free(dirs[i]);
	free(dirs);
	free(depth);
	free(pkg);
	return 0;
}
