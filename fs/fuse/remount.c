/* SPDX-License-Identifier: MIT */
/*
 * remount.c - mount -o remount,ro and remount,rw of a running mapfs.
 *
 * mount(8) hands a remount of a fuse.mapfs mount to mount.fuse3, which
 * starts "mapfs IMAGE MNT -o remount,ro,...": without this file, a second
 * daemon. Instead that command (remount_run) finds the mount in the mount
 * table, reconfigures its superblock read-only or read-write (fspick +
 * fsconfig: only the ro flag changes, the mount's own flags stay) and
 * tells the running daemon, through a control socket the daemon listens
 * on (remount_listen), to switch too (daemon_set_ro in daemon.c). Then it
 * exits: one daemon and one mount entry throughout.
 *
 * Order. To read-only: the superblock first, so the kernel writes its
 * dirty pages back to the daemon (while it still takes writes) and
 * refuses every later change itself; then the daemon writes everything
 * home, marks the image clean and shares the image lock (fsck -n may then
 * check the image while it stays mounted). To read-write: the daemon
 * first (it takes the lock back and marks the image mounted, or refuses),
 * then the superblock; a superblock that refuses sends the daemon back to
 * read-only.
 *
 * The control socket is an abstract unix socket named after the mount's
 * device numbers in mountinfo, so both sides find it from the mount table
 * alone; the daemon answers only root and its own user (SO_PEERCRED). Its
 * thread only accepts, reads one word and answers: it never makes a
 * system call on the mount.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "remount.h"

#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define WHY(...) snprintf(why, whylen, __VA_ARGS__)

/* The control socket's address for the mount whose device numbers (as
 * mountinfo shows them) are maj:min: unique per mount, also for two
 * regions (-o offset) of one image file. */
static socklen_t ctl_addr(unsigned maj, unsigned min, struct sockaddr_un *sa)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1,
		     "mapfs-ctl-%u:%u", maj, min);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

struct find {
	const char *dir;
	struct mapfs_mountent m;
	bool found;
};

static int find_mount(const struct mapfs_mountent *m, void *arg)
{
	struct find *f = arg;

	/* the last entry at dir is the one on top */
	if (mapfs_mount_is_mapfs(m) && !strcmp(m->dir, f->dir)) {
		f->m = *m;
		f->found = true;
	}
	return 0;
}

/* ------------------------------------------------ the daemon's side */

static struct {
	int fd;
	pthread_t thread;
	bool running;
	struct daemon *d;
} srv = { .fd = -1 };

static void answer(int c)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	char word[8];
	int32_t res = -EINVAL;
	ssize_t n;

	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
	    (cr.uid != 0 && cr.uid != geteuid())) {
		res = -EPERM;
	} else {
		n = recv(c, word, sizeof(word) - 1, 0);
		if (n > 0) {
			word[n] = 0;
			if (!strcmp(word, "ro"))
				res = daemon_set_ro(srv.d, true);
			else if (!strcmp(word, "rw"))
				res = daemon_set_ro(srv.d, false);
		}
	}
	(void)send(c, &res, sizeof(res), MSG_NOSIGNAL);
}

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept4(srv.fd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;		/* remount_stop shut the socket */
		}
		answer(c);
		close(c);
	}
	return NULL;
}

int remount_listen(struct daemon *d, const char *mountpoint)
{
	struct find f = { .dir = mountpoint };
	struct sockaddr_un sa;
	socklen_t len;
	int err;

	/* our mount in mountinfo (never a call on the mount itself) */
	err = mapfs_mounts_each(find_mount, &f);
	if (err < 0)
		return err;
	if (!f.found)
		return -ENOENT;
	len = ctl_addr(f.m.major, f.m.minor, &sa);
	srv.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (srv.fd < 0)
		return -errno;
	if (bind(srv.fd, (struct sockaddr *)&sa, len) < 0 ||
	    listen(srv.fd, 4) < 0) {
		err = -errno;
		goto fail;
	}
	srv.d = d;
	err = -pthread_create(&srv.thread, NULL, serve, NULL);
	if (err < 0)
		goto fail;
	(void)pthread_setname_np(srv.thread, "mapfs-remount");
	srv.running = true;
	return 0;
fail:
	close(srv.fd);
	srv.fd = -1;
	return err;
}

void remount_stop(void)
{
	if (!srv.running)
		return;
	/* accept() on a listening socket that is shut down fails */
	shutdown(srv.fd, SHUT_RDWR);
	pthread_join(srv.thread, NULL);
	close(srv.fd);
	srv.fd = -1;
	srv.running = false;
}

/* ------------------------------------------ the remount command's side */

/* Ask the daemon of the mount m to switch; its answer (0 or -errno). */
static int ask_daemon(const struct mapfs_mountent *m, bool ro)
{
	struct timeval tv = { .tv_sec = 120 };
	struct sockaddr_un sa;
	socklen_t len = ctl_addr(m->major, m->minor, &sa);
	int32_t res;
	int fd, err;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, len) < 0 ||
	    send(fd, ro ? "ro" : "rw", 2, MSG_NOSIGNAL) != 2) {
		err = -errno;
	} else if (recv(fd, &res, sizeof(res), 0) != sizeof(res)) {
		err = errno ? -errno : -EIO;
	} else {
		err = res;
	}
	close(fd);
	return err;
}

/* The superblock of the mount at dir read-only or read-write. */
static int reconfigure(const char *dir, bool ro)
{
	int fd = fspick(AT_FDCWD, dir, FSPICK_CLOEXEC | FSPICK_NO_AUTOMOUNT);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (fsconfig(fd, FSCONFIG_SET_FLAG, ro ? "ro" : "rw", NULL, 0) < 0 ||
	    fsconfig(fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) < 0)
		err = -errno;
	close(fd);
	return err;
}

int remount_run(const char *image, const char *mnt, bool ro, char *why,
		size_t whylen)
{
	char dir[PATH_MAX];
	struct find f = { .dir = dir };
	int err;

	(void)image;	/* the mount table names the image in use */
	if (!mnt || !realpath(mnt, dir)) {
		WHY("remount: %s: %s", mnt ? mnt : "no mount point",
		    mnt ? strerror(errno) : "given");
		return -EINVAL;
	}
	err = mapfs_mounts_each(find_mount, &f);
	if (err < 0) {
		WHY("remount: cannot read the mount table: %s",
		    strerror(-err));
		return err;
	}
	if (!f.found) {
		WHY("remount: %s is not a mapfs mount", dir);
		return -EINVAL;
	}
	if (ro) {
		err = reconfigure(dir, true);
		if (err < 0) {
			WHY("remount: %s read-only: %s", dir, strerror(-err));
			return err;
		}
		err = ask_daemon(&f.m, true);
		if (err < 0)
			WHY("remount: %s is read-only, but its daemon could "
			    "not write everything back: %s", dir,
			    strerror(-err));
		return err;
	}
	err = ask_daemon(&f.m, false);
	if (err < 0) {
		WHY("remount: the daemon of %s refuses read-write: %s%s", dir,
		    strerror(-err), err == -EROFS ? " (mounted with -o ro: "
		    "unmount and mount again)" : err == -EBUSY ? " (another "
		    "program, fsck?, holds the image)" : "");
		return err;
	}
	err = reconfigure(dir, false);
	if (err < 0) {
		WHY("remount: %s read-write: %s", dir, strerror(-err));
		(void)ask_daemon(&f.m, true);
	}
	return err;
}
