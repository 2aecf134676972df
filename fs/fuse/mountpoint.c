/* SPDX-License-Identifier: MIT */
/*
 * mountpoint.c - the mount point, checked before the daemon mounts there.
 *
 * - A mount point that is the image itself, or a directory the image lies
 *   under, is refused: the mount would hide the image behind its own
 *   filesystem (a file mount point over the image answers EIO for it).
 * - A dead mount at the mount point (its daemon was killed: every access
 *   answers "Transport endpoint is not connected") is cleared when it can
 *   be proved dead: it is a mapfs mount whose image nobody holds locked
 *   (a live daemon holds its image's lock as long as it runs). Root
 *   unmounts it (lazily if something still holds it open); other users
 *   go through fusermount3 -u -z, which allows it for the user who
 *   mounted it. When it cannot be cleared the message says what to run.
 *
 * Nothing here touches the mount point itself while something may be
 * mounted there: the mount table is read from /proc/self/mountinfo and
 * the mount point's path is resolved through its parent, so a hung mount
 * cannot hang the daemon before it has even started.
 */
#include "mountpoint.h"

#include "mapfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The canonical path of mnt without resolving its last component (which
 * may be a dead or hung mount): realpath of the parent + the last name.
 * "a/b/" -> "<cwd>/a/b"; "." and ".." are resolved whole. */
static int canon_mountpoint(const char *mnt, char *out, size_t len)
{
	char copy[PATH_MAX], parent[PATH_MAX], *slash, *name;
	size_t n = strlen(mnt);

	if (n == 0 || n >= sizeof(copy))
		return -ENAMETOOLONG;
	memcpy(copy, mnt, n + 1);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = 0;
	slash = strrchr(copy, '/');
	name = slash ? slash + 1 : copy;
	if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(copy, "/")) {
		if (!realpath(copy, out))
			return -errno;
		return 0;
	}
	if (slash == copy)
		strcpy(parent, "/");
	else if (slash) {
		*slash = 0;
		if (!realpath(copy, parent))
			return -errno;
	} else if (!realpath(".", parent)) {
		return -errno;
	}
	if ((size_t)snprintf(out, len, "%s%s%s", parent,
			     strcmp(parent, "/") ? "/" : "", name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

struct top {
	const char *dir;
	struct mapfs_mountent m;
	bool found;
};

static int find_top(const struct mapfs_mountent *m, void *arg)
{
	struct top *t = arg;

	if (!strcmp(m->dir, t->dir)) {
		t->m = *m;	/* the last one is on top */
		t->found = true;
	}
	return 0;
}

/* Is the image at path free of any lock (so no daemon serves it)? */
static bool image_unlocked(const char *path)
{
	struct stat st;
	bool free = false;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
		free = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return free;
}

/* Unmount the dead mount at dir: 0 when it is gone. */
static int unmount_dead(const char *dir)
{
	pid_t pid;
	int status;

	if (geteuid() == 0) {
		if (umount2(dir, 0) == 0 || umount2(dir, MNT_DETACH) == 0)
			return 0;
		return -errno;
	}
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execlp("fusermount3", "fusermount3", "-u", "-z", "-q", "--", dir,
		       (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPERM;
}

int mountpoint_prepare(const char *mnt, const char *image_real)
{
	char dir[PATH_MAX], real[PATH_MAX];
	size_t n;
	int err, i;

	err = canon_mountpoint(mnt, dir, sizeof(dir));
	if (err < 0) {
		fprintf(stderr, "mapfs: bad mount point %s: %s\n", mnt,
			strerror(-err));
		return -1;
	}
	/* Dead mounts on top of the mount point, newest first (a killed
	 * daemon's, perhaps stacked by earlier attempts). */
	for (i = 0; i < 16; i++) {
		struct top t = { .dir = dir };

		if (mapfs_mounts_each(find_top, &t) < 0 || !t.found ||
		    strncmp(t.m.fstype, "fuse", 4))
			break;
		if (!mapfs_mount_is_mapfs(&t.m) ||
		    !image_unlocked(t.m.source)) {
			/* Live, or not ours to judge: a dead one among
			 * them fails the mount below, with a hint. */
			break;
		}
		err = unmount_dead(dir);
		if (err < 0) {
			fprintf(stderr, "mapfs: %s holds a dead mount of %s "
				"(its daemon is gone) and it cannot be "
				"unmounted from here (%s): run fusermount3 -u "
				"%s, or as root umount -l %s\n", dir,
				t.m.source, strerror(-err), dir, dir);
			return -1;
		}
		fprintf(stderr, "mapfs: %s: unmounted a dead mount of %s left "
			"by a daemon that was killed\n", dir, t.m.source);
	}
	/* Only now is resolving the mount point itself safe. */
	if (!realpath(dir, real)) {
		err = errno;
		if (err == ENOTCONN)
			fprintf(stderr, "mapfs: %s is a dead FUSE mount (its "
				"daemon is gone): run fusermount3 -u %s (or, "
				"as root, umount -l %s), then mount again\n",
				dir, dir, dir);
		else
			fprintf(stderr, "mapfs: bad mount point %s: %s\n", mnt,
				strerror(err));
		return -1;
	}
	/* The image itself, or a directory it lies under. */
	n = strlen(real);
	if (!strcmp(real, image_real) ||
	    (!strncmp(image_real, real, n) &&
	     (image_real[n] == '/' || !strcmp(real, "/")))) {
		fprintf(stderr, "mapfs: mount point %s %s the image %s: the "
			"mount would hide it under its own filesystem; "
			"choose another mount point\n", real,
			strcmp(real, image_real) ? "contains" : "is",
			image_real);
		return -1;
	}
	return 0;
}

/*
 * A second mount of an image already served by a live daemon is what a
 * second mount of a block device is to a disk filesystem: another view of
 * the same filesystem (the kernel's sget() finds the mounted superblock),
 * so renames between the two mount points and every other operation see
 * one filesystem, and the daemon ends when the last of them goes. A
 * second daemon cannot serve it (the image lock: two writers of one
 * image), so mapfs makes the view itself: a bind mount of the existing
 * mount at the new mount point. Only root may bind-mount; an ordinary
 * user's second mount is refused by the image lock as before. As with a
 * block device, the read-only state belongs to the filesystem: a
 * read-write view of a read-only mount is refused (EBUSY), a read-only
 * view of a read-write one is a read-only bind mount.
 *
 * An image may hold several filesystems (-o offset=,size=), and the mount
 * table names only the image. So each daemon records the region it serves
 * as an OFD read lock on exactly that byte range of the image
 * (mountpoint_claim_region); the lock goes when the last descriptor of
 * the daemon's open image goes, as the image lock does. A view is made
 * only of a daemon whose recorded region is the one asked for, and only
 * when every mount of the image is one filesystem (one device number);
 * another region of a mounted image is refused with the reason (two
 * read-only mounts excepted: they share the image lock, each has its own
 * daemon).
 */
struct share_look {
	const char *image;
	struct mapfs_mountent m;
	int nfs;		/* mounts of the image with another st_dev */
};

static int share_find(const struct mapfs_mountent *m, void *arg)
{
	struct share_look *l = arg;

	if (!mapfs_mount_is_mapfs(m) || strcmp(m->source, l->image))
		return 0;
	if (l->nfs == 0)
		l->m = *m;
	else if (m->major == l->m.major && m->minor == l->m.minor)
		return 0;
	l->nfs++;
	return 0;
}

int mountpoint_claim_region(int fd, const struct mapfs_region *r)
{
	struct flock fl = {
		.l_type = F_RDLCK, .l_whence = SEEK_SET,
		.l_start = (off_t)r->offset, .l_len = (off_t)r->size,
	};

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* The region the live daemon of image_real recorded: 1 with it in *r, 0
 * if none is recorded (no daemon, or one that records none). */
static int live_region(const char *image_real, struct mapfs_region *r)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd, ret = 0;

	fd = open(image_real, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0;
	if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK &&
	    fl.l_start >= 0 && fl.l_len >= 0) {
		r->offset = (uint64_t)fl.l_start;
		r->size = (uint64_t)fl.l_len;
		ret = 1;
	}
	close(fd);
	return ret;
}

static void region_str(const struct mapfs_region *r, char *out, size_t len)
{
	if (r->offset == 0 && r->size == 0)
		snprintf(out, len, "the whole image");
	else if (r->size == 0)
		snprintf(out, len, "offset=%llu (to the end)",
			 (unsigned long long)r->offset);
	else
		snprintf(out, len, "offset=%llu,size=%llu",
			 (unsigned long long)r->offset,
			 (unsigned long long)r->size);
}

int mountpoint_share(const char *mnt, const char *image_real, bool ro,
		     const struct mapfs_region *want)
{
	struct share_look l = { .image = image_real };
	struct mapfs_region have;
	char real[PATH_MAX], a[80], b[80];

	if (geteuid() != 0 || mapfs_mounts_each(share_find, &l) < 0 ||
	    l.nfs == 0 || image_unlocked(image_real))
		return 0;	/* not mounted, or its daemon is gone */
	if (l.nfs > 1 || !live_region(image_real, &have))
		return 0;	/* which is which is unknown: the lock decides */
	if (have.offset != want->offset || have.size != want->size) {
		if (ro && l.m.super_ro)
			return 0;	/* two readers: a daemon each */
		region_str(&have, a, sizeof(a));
		region_str(want, b, sizeof(b));
		fprintf(stderr, "mapfs: %s is mounted at %s with %s; %s of "
			"it cannot be mounted while that filesystem is "
			"mounted read-write, or read-write while it is "
			"mounted at all (unmount %s first)\n", image_real,
			l.m.dir, a, b, l.m.dir);
		return -1;
	}
	if (!realpath(mnt, real)) {
		fprintf(stderr, "mapfs: bad mount point %s: %s\n", mnt,
			strerror(errno));
		return -1;
	}
	if (!strcmp(real, l.m.dir))
		return 0;	/* the lock refuses it, naming the mount */
	if (l.m.super_ro && !ro) {
		fprintf(stderr, "mapfs: %s is mounted read-only at %s: a "
			"read-write mount of it is refused (mount it with -o "
			"ro, or first mount -o remount,rw %s)\n", image_real,
			l.m.dir, l.m.dir);
		return -1;
	}
	if (mount(l.m.dir, real, NULL, MS_BIND, NULL) < 0) {
		fprintf(stderr, "mapfs: %s is mounted at %s; showing it at %s "
			"too (a bind mount) failed: %s\n", image_real,
			l.m.dir, real, strerror(errno));
		return -1;
	}
	/* A bind mount keeps the source's nosuid, nodev...; a read-only
	 * view adds MS_RDONLY to them (remounting sets them all). */
	if (ro && !(l.m.flags & MS_RDONLY) &&
	    mount(NULL, real, NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | (l.m.flags & ~MS_RDONLY),
		  NULL) < 0) {
		int err = errno;

		umount2(real, MNT_DETACH);
		fprintf(stderr, "mapfs: cannot make the view of %s at %s "
			"read-only: %s\n", image_real, real, strerror(err));
		return -1;
	}
	return 1;
}

/*
 * -o auto_unmount. libfuse's own (fusermount3's helper) decides whether
 * the mount is dead by opening the mount point, which the kernel refuses
 * to a setuid helper (EACCES, not ENOTCONN) when an ordinary user
 * mounted: the dead mount stayed. So a small guard process of ours waits
 * for the daemon to go (a pipe it alone holds the write end of closes
 * when the daemon exits, however it dies), then clears the mount if it is
 * still there and dead: a mapfs mount of this image at this mount point
 * whose image nobody holds locked, exactly what mountpoint_prepare
 * clears. A clean exit unmounts first, and the guard finds nothing to do.
 */
struct guard_look {
	const char *dir, *image;
	bool ours;
};

static int guard_find(const struct mapfs_mountent *m, void *arg)
{
	struct guard_look *g = arg;

	if (!strcmp(m->dir, g->dir))
		g->ours = mapfs_mount_is_mapfs(m) && !strcmp(m->source, g->image);
	return 0;
}

/* The guard's body: wait for EOF on fd, then clear a dead mount. */
int mountpoint_guard_run(const char *fdstr, const char *dir,
			 const char *image_real)
{
	struct guard_look g = { .dir = dir, .image = image_real };
	int fd = atoi(fdstr);
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
	/* The daemon is going. Its files are released one by one as it
	 * exits, the pipe possibly before the image: give the lock a
	 * moment (10 s at most; a new daemon holding it means the mount
	 * is alive again, not ours to touch). */
	for (int i = 0, cleared = 0; i < 200 && cleared < 16; i++) {
		g.ours = false;
		if (mapfs_mounts_each(guard_find, &g) < 0 || !g.ours)
			break;
		if (!image_unlocked(image_real)) {
			usleep(50000);
			continue;
		}
		if (unmount_dead(dir) < 0)
			break;
		cleared++;
	}
	return 0;
}

int mountpoint_guard(const char *mnt, const char *image_real)
{
	char dir[PATH_MAX], fdstr[16];
	int fds[2], null;
	pid_t pid;

	if (canon_mountpoint(mnt, dir, sizeof(dir)) < 0 || pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		/* Hold nothing of the daemon's: not the image (its lock
		 * tells a dead mount), not /dev/fuse (the connection must
		 * die with the daemon). A process of its own (exec), so
		 * that what kills the daemon by its command line
		 * (pkill -f "mapfs IMAGE") leaves the guard. */
		setsid();
		null = open("/dev/null", O_RDWR);
		for (int fd = 0; fd < 3; fd++)
			if (null >= 0 && fd != null)
				dup2(null, fd);
		for (int fd = 3; fd < 1024; fd++)
			if (fd != fds[0])
				close(fd);
		(void)chdir("/");
		snprintf(fdstr, sizeof(fdstr), "%d", fds[0]);
		execl("/proc/self/exe", "mapfs-guard", MOUNTPOINT_GUARD_ARG,
		      fdstr, dir, image_real, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	/* The write end stays open in the daemon (and, after
	 * fuse_daemonize, in its child) until it exits; close-on-exec for
	 * anything the daemon starts. */
	(void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	return 0;
}
