/* SPDX-License-Identifier: MIT */
/*
 * tmpfile.c - O_TMPFILE and RENAME_WHITEOUT on a mount (overlay.sh).
 *
 *   tmpfile basic DIR        open(O_TMPFILE) in DIR: write, read back,
 *                            link count 0; linkat through /proc/self/fd
 *                            to DIR/linked (content and nlink 1 there);
 *                            O_EXCL refuses the link; a second tmpfile
 *                            of 1 MiB is closed unlinked
 *   tmpfile hold DIR         open a 4 MiB tmpfile in DIR, print "ready",
 *                            then sleep until killed
 *   tmpfile many DIR N       open N tmpfiles in DIR, close them oldest
 *                            first; prints the seconds each phase took
 *   tmpfile whiteout DIR A B renameat2(DIR/A, DIR/B, RENAME_WHITEOUT):
 *                            B has A's inode, A is a character device
 *                            0/0 with mode 0
 * Exits 0 when every check passed, 1 with a message otherwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static int failed;

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "tmpfile: FAILED: %s (errno %s)\n", what,
			strerror(errno));
		failed = 1;
	}
}

static int open_tmp(const char *dir, int extra)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | extra, 0640);

	if (fd < 0) {
		fprintf(stderr, "tmpfile: open(%s, O_TMPFILE): %s\n", dir,
			strerror(errno));
		exit(1);
	}
	return fd;
}

static int basic(const char *dir)
{
	static char buf[1 << 20], back[1 << 20];
	char proc[64], path[4096];
	struct stat st;
	int fd, fd2;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 3);
	fd = open_tmp(dir, 0);
	check(pwrite(fd, buf, 65536, 0) == 65536, "write to the tmpfile");
	check(pread(fd, back, 65536, 0) == 65536 &&
	      !memcmp(buf, back, 65536), "read back from the tmpfile");
	check(fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	      st.st_nlink == 0 && (st.st_mode & 07777) == 0640,
	      "tmpfile: regular, link count 0, mode 0640");
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	snprintf(path, sizeof(path), "%s/linked", dir);
	check(linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0,
	      "linkat of the tmpfile to a name");
	check(fstat(fd, &st) == 0 && st.st_nlink == 1,
	      "link count 1 after linkat");
	close(fd);
	fd = open(path, O_RDONLY);
	check(fd >= 0 && pread(fd, back, 65536, 0) == 65536 &&
	      !memcmp(buf, back, 65536), "the linked name has the data");
	if (fd >= 0)
		close(fd);

	/* O_EXCL: never linkable. */
	fd = open_tmp(dir, O_EXCL);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	snprintf(path, sizeof(path), "%s/excl", dir);
	check(linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0,
	      "O_TMPFILE|O_EXCL is not linkable");
	close(fd);

	/* Closed without a name: freed (the caller compares statfs). */
	fd2 = open_tmp(dir, 0);
	check(pwrite(fd2, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf),
	      "1 MiB into a second tmpfile");
	check(fsync(fd2) == 0, "fsync of a tmpfile");
	close(fd2);
	return failed;
}

static int hold(const char *dir)
{
	static char buf[1 << 20];
	int fd = open_tmp(dir, 0);

	memset(buf, 0x5a, sizeof(buf));
	for (int i = 0; i < 4; i++)
		check(pwrite(fd, buf, sizeof(buf), (off_t)i << 20) ==
		      (ssize_t)sizeof(buf), "write 4 MiB into the tmpfile");
	check(fsync(fd) == 0, "fsync the held tmpfile");
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* As xfstests' t_open_tmpfiles: each last close frees the oldest
 * tmpfile, the tail of the daemon's orphan list. */
static int many(const char *dir, int n)
{
	int *fds = calloc((size_t)n, sizeof(*fds));
	double t0 = now_s(), t1;

	if (!fds)
		return 1;
	for (int i = 0; i < n; i++)
		fds[i] = open_tmp(dir, 0);
	t1 = now_s();
	for (int i = 0; i < n; i++)
		close(fds[i]);
	printf("opened %d in %.2f s, closed in %.2f s\n", n, t1 - t0,
	       now_s() - t1);
	free(fds);
	return 0;
}

static int whiteout(const char *dir, const char *a, const char *b)
{
	char pa[4096], pb[4096];
	struct stat sa, sb, sw;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	check(dfd >= 0, "open the directory");
	snprintf(pa, sizeof(pa), "%s/%s", dir, a);
	snprintf(pb, sizeof(pb), "%s/%s", dir, b);
	check(lstat(pa, &sa) == 0, "the source exists");
	check(renameat2(dfd, a, dfd, b, RENAME_WHITEOUT) == 0,
	      "renameat2(RENAME_WHITEOUT)");
	check(lstat(pb, &sb) == 0 && sb.st_ino == sa.st_ino,
	      "the new name has the source's inode");
	check(lstat(pa, &sw) == 0 && S_ISCHR(sw.st_mode) &&
	      major(sw.st_rdev) == 0 && minor(sw.st_rdev) == 0 &&
	      (sw.st_mode & 07777) == 0 && sw.st_nlink == 1,
	      "the old name is a whiteout (character device 0/0, mode 0)");
	close(dfd);
	return failed;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "basic"))
		return basic(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "hold"))
		return hold(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "many"))
		return many(argv[2], atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "whiteout"))
		return whiteout(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: tmpfile basic DIR | hold DIR | many DIR N | "
		"whiteout DIR A B\n");
	return 2;
}
