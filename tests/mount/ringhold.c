/* SPDX-License-Identifier: MIT */
/*
 * ringhold.c - keep another process's io_uring rings open (killsafe.sh).
 *
 *   ringhold PID
 *
 * Takes a duplicate of every io_uring file descriptor of PID
 * (pidfd_getfd, which needs the right to ptrace PID: root), prints
 * "holding N" and keeps them until it is killed, or for 60 s at most.
 * A daemon killed while ringhold runs leaves its rings open with no
 * thread behind them: what a thread of the daemon blocked on its own
 * mount does to them, since it keeps the daemon's file table. Exits 1
 * when PID has no ring or a duplicate cannot be taken.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

int main(int argc, char **argv)
{
	char dir[64], link[PATH_MAX], target[128];
	struct dirent *e;
	int pid, pidfd, n = 0;
	DIR *d;

	if (argc != 2) {
		fprintf(stderr, "usage: ringhold PID\n");
		return 2;
	}
	pid = atoi(argv[1]);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		fprintf(stderr, "ringhold: pidfd_open %d: %s\n", pid,
			strerror(errno));
		return 1;
	}
	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "ringhold: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	while ((e = readdir(d))) {
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = 0;
		if (strcmp(target, "anon_inode:[io_uring]") != 0)
			continue;
		if (syscall(SYS_pidfd_getfd, pidfd, atoi(e->d_name), 0) < 0) {
			fprintf(stderr, "ringhold: pidfd_getfd: %s\n",
				strerror(errno));
			return 1;
		}
		n++;
	}
	closedir(d);
	if (n == 0) {
		fprintf(stderr, "ringhold: %d has no io_uring\n", pid);
		return 1;
	}
	printf("holding %d\n", n);
	fflush(stdout);
	sleep(60);
	return 0;
}
