/* SPDX-License-Identifier: MIT */
/*
 * killload.c - the load of the kill-safety test (killsafe.sh).
 *
 *   killload DIR ID [seek]
 *
 * Creates, stats and unlinks files DIR/kID.N as fast as it can, N taking
 * 64 values in turn, so the tree stays small however long it runs. With
 * "seek" it writes 64 KiB at a time into DIR/sID (4 MiB, buffered) and
 * asks lseek(SEEK_DATA) after each write instead (with the writeback
 * cache, -o writeback, the daemon used to wait there, in the kernel, for
 * its own mount's write-back: docs/DESIGN.md, "Killing the daemon"),
 * and looks up a new name, which reaches the daemon. It is
 * started as soon as the mount appears, before the daemon has answered
 * anything, and its purpose is to have requests of every kind in flight
 * (queued, being read, being served) when the daemon is killed.
 *
 * Exits 0 when an operation fails with ENOTCONN or ECONNABORTED (the
 * daemon is gone: what the test waits for), 1 on any other error than
 * ENOENT (printed), and 2 after 60 s without either (the daemon was never
 * killed). It never blocks on anything but the mount itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NAMES 64

static int gone(const char *what, const char *path)
{
	if (errno == ENOTCONN || errno == ECONNABORTED)
		return 0;
	fprintf(stderr, "killload: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

/* Write and ask where the data is, until an error or END. */
static int seek_load(const char *dir, const char *id, time_t end)
{
	static char buf[65536];
	char path[4096];
	int fd;

	memset(buf, 'k', sizeof(buf));
	snprintf(path, sizeof(path), "%s/s%s", dir, id);
	fd = open(path, O_CREAT | O_RDWR, 0644);
	if (fd < 0)
		return gone("create", path);
	for (unsigned i = 0; time(NULL) < end; i++) {
		off_t off = (off_t)(i * 2654435761u % 64) * (off_t)sizeof(buf);
		char absent[4096];
		struct stat st;

		if (pwrite(fd, buf, sizeof(buf), off) < 0)
			return gone("write", path);
		if (lseek(fd, 0, SEEK_DATA) < 0 && errno != ENXIO)
			return gone("lseek", path);
		/* Writes into cached pages and (once the daemon has said
		 * ENOSYS) lseek stay in the kernel: a lookup of a new name
		 * reaches the daemon, and tells when it is gone. */
		snprintf(absent, sizeof(absent), "%s/n%s.%u", dir, id, i);
		if (stat(absent, &st) < 0 && errno != ENOENT)
			return gone("stat", absent);
	}
	return 2;
}

int main(int argc, char **argv)
{
	char path[4096], other[4096];
	struct stat st;
	time_t end;

	if (argc != 3 && !(argc == 4 && strcmp(argv[3], "seek") == 0)) {
		fprintf(stderr, "usage: killload DIR ID [seek]\n");
		return 2;
	}
	end = time(NULL) + 60;
	if (argc == 4)
		return seek_load(argv[1], argv[2], end);
	for (unsigned long i = 0; time(NULL) < end; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/k%s.%lu", argv[1], argv[2],
			 i % NAMES);
		snprintf(other, sizeof(other), "%s/k%s.%lu", argv[1], argv[2],
			 (i + NAMES / 2) % NAMES);
		fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0)
			return gone("create", path);
		if (close(fd) < 0)
			return gone("close", path);
		if (stat(other, &st) < 0 && errno != ENOENT)
			return gone("stat", other);
		if (i % 4 == 3 && unlink(other) < 0 && errno != ENOENT)
			return gone("unlink", other);
	}
	return 2;
}
