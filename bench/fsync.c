/* SPDX-License-Identifier: MIT */
/*
 * fsync.c - durability costs: `fsync DIR MODE N`
 *   overwrite  one file: pwrite 4 KiB at offset 0, fsync; N times
 *   append     one file: append 4 KiB, fdatasync; N times
 *   create     N files: open(O_CREAT), write 4 KiB, fsync, close, then
 *              fsync of the directory every 10 files
 *   rename     the editor save: write tmp (4 KiB), fsync, rename over
 *              the target, fsync the directory; N times
 * Prints "MODE: N ops in S s = R ops/s, mean L us".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void check(int ok, const char *what)
{
	if (!ok) {
		perror(what);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	char buf[4096], path[4096], tmp[4096];
	const char *dir, *mode;
	double t0, t;
	int n, dfd;

	if (argc != 4) {
		fprintf(stderr, "usage: fsync DIR overwrite|append|create|rename N\n");
		return 2;
	}
	dir = argv[1];
	mode = argv[2];
	n = atoi(argv[3]);
	memset(buf, 'x', sizeof(buf));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	check(dfd >= 0, dir);
	t0 = now();
	if (!strcmp(mode, "overwrite") || !strcmp(mode, "append")) {
		int fd;

		snprintf(path, sizeof(path), "%s/fsync.%s", dir, mode);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		check(fd >= 0, path);
		for (int i = 0; i < n; i++) {
			off_t off = mode[0] == 'o' ? 0 : (off_t)i * 4096;

			check(pwrite(fd, buf, sizeof(buf), off) == sizeof(buf),
			      "pwrite");
			check((mode[0] == 'o' ? fsync(fd) : fdatasync(fd)) == 0,
			      "fsync");
		}
		close(fd);
	} else if (!strcmp(mode, "create")) {
		for (int i = 0; i < n; i++) {
			int fd;

			snprintf(path, sizeof(path), "%s/c.%d", dir, i);
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			check(fd >= 0, path);
			check(write(fd, buf, sizeof(buf)) == sizeof(buf), "write");
			check(fsync(fd) == 0, "fsync");
			close(fd);
			if (i % 10 == 9)
				check(fsync(dfd) == 0, "fsync dir");
		}
	} else if (!strcmp(mode, "rename")) {
		snprintf(path, sizeof(path), "%s/target", dir);
		snprintf(tmp, sizeof(tmp), "%s/target.tmp", dir);
		for (int i = 0; i < n; i++) {
			int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);

			check(fd >= 0, tmp);
			check(write(fd, buf, sizeof(buf)) == sizeof(buf), "write");
			check(fsync(fd) == 0, "fsync");
			close(fd);
			check(rename(tmp, path) == 0, "rename");
			check(fsync(dfd) == 0, "fsync dir");
		}
	} else {
		fprintf(stderr, "fsync: unknown mode %s\n", mode);
		return 2;
	}
	t = now() - t0;
	printf("%s: %d ops in %.2f s = %.0f ops/s, mean %.0f us\n", mode, n, t,
	       n / t, t / n * 1e6);
	return 0;
}
