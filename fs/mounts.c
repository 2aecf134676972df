/* SPDX-License-Identifier: MIT */
/*
 * mounts.c - what is mounted where, read from /proc/self/mountinfo.
 *
 * Beside image.c (it opens nothing but the mount table). The programs use
 * it to tell a mounted image from one whose daemon is still letting go
 * after its unmount (the image lock, image.c), and the daemon to find a
 * dead mount of its own image at its mount point. Nothing here makes a
 * system call on a mount point: a hung FUSE mount would hang the caller.
 *
 * mountinfo lines (proc(5)):
 *   36 35 0:52 / /mnt/x rw,relatime shared:1 - fuse.mapfs /img rw,...
 *   id parent maj:min root mount-point options [optional...] - type
 *   source super-options
 * Paths escape space, tab, newline and backslash as \ooo octal.
 *
 * Also who holds an image's lock (/proc/locks, proc(5)):
 *   1: FLOCK  ADVISORY  WRITE 4242 00:2d:1234 0 EOF
 *   n: type mode access pid maj:min:inode (hex, hex, decimal) range
 * ("n: -> ..." lines are waiters, not holders). A flock names the process
 * that took it, which for a daemon that went to the background is its
 * exited parent; then the processes named "mapfs" are asked which has
 * the image open (readlink of /proc/PID/fd/N: the link is read, never
 * followed, so a hung mount cannot hang us).
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Copy the next space-separated field of *sp into out (unescaping \ooo),
 * advance *sp past it. Returns false at the end of the line or if the
 * field does not fit. */
static bool field(char **sp, char *out, size_t len)
{
	char *s = *sp;
	size_t n = 0;

	while (*s == ' ')
		s++;
	if (!*s || *s == '\n')
		return false;
	while (*s && *s != ' ' && *s != '\n') {
		char c = *s++;

		if (c == '\\' && s[0] >= '0' && s[0] <= '3' && s[1] >= '0' &&
		    s[1] <= '7' && s[2] >= '0' && s[2] <= '7') {
			c = (char)((s[0] - '0') << 6 | (s[1] - '0') << 3 |
				   (s[2] - '0'));
			s += 3;
		}
		if (n + 1 >= len)
			return false;
		out[n++] = c;
	}
	out[n] = 0;
	*sp = s;
	return true;
}

/* The MS_* flags that a comma-separated option list names. */
static unsigned long opt_flags(const char *opts)
{
	static const struct {
		const char *name;
		unsigned long flag;
	} known[] = {
		{ "ro", MS_RDONLY },	     { "nosuid", MS_NOSUID },
		{ "nodev", MS_NODEV },	     { "noexec", MS_NOEXEC },
		{ "noatime", MS_NOATIME },   { "nodiratime", MS_NODIRATIME },
		{ "relatime", MS_RELATIME }, { "strictatime", MS_STRICTATIME },
	};
	unsigned long flags = 0;

	for (const char *o = opts; *o;) {
		size_t n = strcspn(o, ",");

		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strlen(known[i].name) == n &&
			    !strncmp(o, known[i].name, n))
				flags |= known[i].flag;
		o += n;
		if (*o == ',')
			o++;
	}
	return flags;
}

/* Decode one mountinfo line into *m. */
static bool parse_line(char *line, struct mapfs_mountent *m)
{
	char tmp[64], opts[1024], *s = line;

	/* id, parent id */
	if (!field(&s, tmp, sizeof(tmp)) || !field(&s, tmp, sizeof(tmp)))
		return false;
	if (!field(&s, tmp, sizeof(tmp)) ||
	    sscanf(tmp, "%u:%u", &m->major, &m->minor) != 2)
		return false;
	/* root within the filesystem: not needed */
	if (!field(&s, m->dir, sizeof(m->dir)) ||
	    !field(&s, m->dir, sizeof(m->dir)))
		return false;
	/* per-mount options, then optional fields up to "-" */
	if (!field(&s, m->source, sizeof(m->source)))
		return false;
	m->flags = opt_flags(m->source);
	do {
		if (!field(&s, m->source, sizeof(m->source)))
			return false;
	} while (strcmp(m->source, "-") != 0);
	if (!field(&s, m->fstype, sizeof(m->fstype)) ||
	    !field(&s, m->source, sizeof(m->source)))
		return false;
	/* the superblock's options (absent on some old kernels) */
	m->super_ro = field(&s, opts, sizeof(opts)) &&
		      (opt_flags(opts) & MS_RDONLY);
	return true;
}

int mapfs_mounts_each(int (*fn)(const struct mapfs_mountent *m, void *arg),
		      void *arg)
{
	struct mapfs_mountent *m;
	char *line = NULL;
	size_t cap = 0;
	int ret = 0;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	m = malloc(sizeof(*m));
	if (!m) {
		fclose(f);
		return -ENOMEM;
	}
	while (ret == 0 && getline(&line, &cap, f) > 0)
		if (parse_line(line, m))
			ret = fn(m, arg);
	free(line);
	free(m);
	fclose(f);
	return ret;
}

bool mapfs_mount_is_mapfs(const struct mapfs_mountent *m)
{
	return !strcmp(m->fstype, "fuse.mapfs") ||
	       !strcmp(m->fstype, "fuseblk.mapfs");
}

struct find_image {
	const char *image;
	char *mnt;
	size_t len;
};

static int find_image(const struct mapfs_mountent *m, void *arg)
{
	struct find_image *fi = arg;

	if (!mapfs_mount_is_mapfs(m) || strcmp(m->source, fi->image))
		return 0;
	if (fi->mnt && fi->len)
		snprintf(fi->mnt, fi->len, "%s", m->dir);
	return 1;
}

int mapfs_image_mounted(const char *path, char *mnt, size_t len)
{
	char real[PATH_MAX];
	struct find_image fi = { real, mnt, len };

	if (!realpath(path, real))
		return -errno;
	return mapfs_mounts_each(find_image, &fi);
}

static bool is_mapfs(long pid)
{
	char path[64], comm[32] = "";
	bool yes;
	FILE *c;

	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	c = fopen(path, "re");
	if (!c)
		return false;
	yes = fgets(comm, sizeof(comm), c) && !strcmp(comm, "mapfs\n");
	fclose(c);
	return yes;
}

/* The pid of a process named "mapfs" holding a flock on the file of st,
 * or 0. */
static long mapfs_lock_pid(const struct stat *st)
{
	char line[256];
	long found = 0;
	FILE *f;

	f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		char type[16];
		unsigned maj, min;
		unsigned long ino;
		long pid;

		if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%lu", type, &pid,
			   &maj, &min, &ino) != 5 || strcmp(type, "FLOCK") ||
		    pid <= 0 || maj != major(st->st_dev) ||
		    min != minor(st->st_dev) ||
		    ino != (unsigned long)st->st_ino)
			continue;
		/* flock records the locker's pid, which may have exited
		 * (a daemon that forked away): only a live mapfs counts. */
		if (is_mapfs(pid))
			found = pid;
	}
	fclose(f);
	return found;
}

/* The pid of a process named "mapfs" with the file at real (a resolved
 * path) open, or 0. */
static long mapfs_open_pid(const char *real)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	long found = 0;

	if (!proc)
		return 0;
	while (!found && (e = readdir(proc))) {
		char dir[64], link[PATH_MAX + 64], target[PATH_MAX];
		long pid = strtol(e->d_name, NULL, 10);
		struct dirent *f;
		DIR *fds;

		if (pid <= 0 || !is_mapfs(pid))
			continue;
		snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
		fds = opendir(dir);
		if (!fds)
			continue;
		while (!found && (f = readdir(fds))) {
			ssize_t n;

			snprintf(link, sizeof(link), "%s/%s", dir, f->d_name);
			n = readlink(link, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = 0;
			if (!strcmp(target, real))
				found = pid;
		}
		closedir(fds);
	}
	closedir(proc);
	return found;
}

int mapfs_image_holder(const char *path, int fd, char *mnt, size_t len,
		       long *pid)
{
	char real[PATH_MAX];
	struct stat st;
	int err;

	*pid = 0;
	err = mapfs_image_mounted(path, mnt, len);
	if (fd >= 0 && fstat(fd, &st) == 0)
		*pid = mapfs_lock_pid(&st);
	if (!*pid && realpath(path, real))
		*pid = mapfs_open_pid(real);
	return err;
}
