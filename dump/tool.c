/* SPDX-License-Identifier: MIT */
/*
 * tool.c - mapfs-tool: read and write an unmounted image without FUSE,
 * in the tradition of debugfs(8) and e2tools (e2ls, e2cp, e2mkdir, e2rm).
 *
 *   mapfs-tool [-o offset=BYTES[,size=BYTES]] IMAGE VERB ARGS...
 *   verbs: ls [-l] [-a] PATH, cat PATH, get [-r] PATH HOSTPATH,
 *          put [-r] HOSTPATH PATH, mkdir [-p] PATH, rm [-r] PATH,
 *          ln [-s] TARGET PATH, chmod MODE PATH, chown UID[:GID] PATH,
 *          stat PATH
 *
 * A thin program around the core, like the daemon: every path is
 * resolved by name through mapfs_op_lookup from the root (symlinks in
 * the middle of a path are followed, the last component only where the
 * verb needs it), every change is a core operation (mapfs_op_*) inside
 * its own mapfs_op_begin/mapfs_op_end bracket, so it is one journal
 * record, kept or lost whole by a crash.
 *
 * The image is opened the way the daemon opens it. A changing verb opens
 * it read-write with the journal (exclusive lock, journal replayed),
 * marks it mounted as one operation, works, then writes everything home
 * and marks it clean, as an unmount does. A reading verb (ls, cat, stat,
 * get) opens it read-only (shared lock; a journal left by a crash is
 * replayed into private memory only) and never stores to it. Either way
 * a mounted image is refused: the daemon owns it, and its latest changes
 * may be only in its memory and journal.
 *
 * Exit codes: 0 done, 1 an operation failed (the message names the path
 * and the error), 8 operational error (cannot open the image, mounted,
 * needs fsck), 16 usage error.
 */
#include "mapfs.h"
#include "mapfs_cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define EXIT_FAIL	1
#define EXIT_OPERROR	8
#define EXIT_USAGE	16

/* Symlinks followed while resolving one path (Linux's MAXSYMLINKS). */
#define MAX_SYMLINKS	40

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " TOOL_PROG " [-o offset=BYTES[,size=BYTES]] IMAGE "
		"VERB ARGS...\n"
		"Read and change an unmounted mapfs image without FUSE. "
		"PATHs are absolute\npaths inside the image; HOSTPATHs are "
		"paths on this machine.\n"
		"\n"
		"  ls [-l] [-a] PATH        list a directory (or name a file)\n"
		"  cat PATH                 a file's contents to stdout\n"
		"  stat PATH                every field of an inode\n"
		"  get [-r] PATH HOSTPATH   copy out (-r: a tree, with modes, "
		"times, xattrs,\n"
		"                           symlinks, hard links, holes; owners "
		"when root)\n"
		"  put [-r] HOSTPATH PATH   copy in (-r: a tree, with its "
		"metadata)\n"
		"  mkdir [-p] PATH          make a directory (-p: and its "
		"parents)\n"
		"  rm [-r] PATH             remove a file, an empty directory "
		"(-r: a tree)\n"
		"  ln [-s] TARGET PATH      a hard link to TARGET (-s: a "
		"symlink)\n"
		"  chmod MODE PATH          set the permission bits (octal)\n"
		"  chown UID[:GID] PATH     set the owner (numbers)\n"
		"\n"
		"  -o offset=BYTES[,size=BYTES]\n"
		"            the filesystem starts at BYTES of IMAGE\n"
		"\n"
		"The image must not be mounted. Exit status: 0 done, 1 an "
		"operation failed,\n8 the image cannot be opened, 16 usage "
		"error.\n");
}

/* ------------------------------------------------------------------ */
/* Opening and closing                                                  */
/* ------------------------------------------------------------------ */

static void core_log(void *arg, enum mapfs_log_level lvl, const char *msg)
{
	const struct tool *t = arg;

	if (lvl <= MAPFS_LOG_INFO)
		fprintf(stderr, TOOL_PROG ": %s: %s\n", t->image, msg);
}

struct find_mount {
	const char *real;
	char dir[PATH_MAX];
};

static int find_mount(const struct mapfs_mountent *m, void *arg)
{
	struct find_mount *fm = arg;

	if (!mapfs_mount_is_mapfs(m) || strcmp(m->source, fm->real))
		return 0;
	snprintf(fm->dir, sizeof(fm->dir), "%s", m->dir);
	return 1;
}

static const char *state_name(uint32_t state)
{
	switch (state) {
	case MAPFS_STATE_CLEAN:
		return "clean";
	case MAPFS_STATE_MOUNTED:
		return "not cleanly unmounted";
	case MAPFS_STATE_ERROR:
		return "marked with errors";
	default:
		return "in an unknown state";
	}
}

static void refuse_mounted(const struct tool *t, const char *dir)
{
	fprintf(stderr, TOOL_PROG ": %s: image is mounted at %s: the daemon "
		"owns it (its latest changes may be only in its journal); "
		"unmount it first, or work through the mount\n", t->image,
		dir);
}

/* Open the image: read-only (shared lock, nothing stored) or read-write
 * with the journal, as the daemon does; then, read-write, mark it
 * mounted as one operation and free the orphans a crash left. A mounted
 * image is refused either way (a read-only mount holds only a shared
 * lock, so the mount table is asked too). 0, or EXIT_OPERROR after
 * saying why. */
static int tool_open(struct tool *t, bool rw)
{
	struct find_mount fm = { NULL, "" };
	char real[PATH_MAX], why[512] = "";
	int err;

	if (realpath(t->image, real)) {
		fm.real = real;
		if (mapfs_mounts_each(find_mount, &fm) == 1) {
			refuse_mounted(t, fm.dir);
			return EXIT_OPERROR;
		}
	}
	err = mapfs_fs_open_region(t->image, rw ? MAPFS_OPEN_JOURNAL :
				       MAPFS_OPEN_RDONLY, &t->region, 0,
				   core_log, t, &t->fs, why, sizeof(why));
	if (err < 0) {
		if (err == -EBUSY && strstr(why, "mounted at "))
			fprintf(stderr, TOOL_PROG ": %s: %s: the daemon owns "
				"it (its latest changes may be only in its "
				"journal)\n", t->image, why);
		else
			fprintf(stderr, TOOL_PROG ": cannot open %s: %s\n",
				t->image, why[0] ? why : strerror(-err));
		return EXIT_OPERROR;
	}
	t->rw = rw;
	if (t->fs->state != MAPFS_STATE_CLEAN &&
	    !(t->fs->state == MAPFS_STATE_MOUNTED &&
	      (t->fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL))) {
		/* The daemon's rule: a crash the journal recovered from is
		 * fine; anything else wants fsck before a change. */
		if (rw) {
			fprintf(stderr, TOOL_PROG ": %s: filesystem %s: run "
				"fsck.mapfs %s first\n", t->image,
				state_name(t->fs->state), t->image);
			mapfs_fs_close(t->fs);
			t->fs = NULL;
			return EXIT_OPERROR;
		}
		fprintf(stderr, TOOL_PROG ": %s: warning: filesystem %s\n",
			t->image, state_name(t->fs->state));
	}
	if (!rw)
		return 0;
	if (t->fs->j)
		(void)mapfs_alloc_zero_free(t->fs);
	/* Marked mounted, durable before any other change, so that a
	 * crash from here on is seen (and replayed) by the next open. */
	(void)mapfs_op_begin(t->fs);
	t->fs->state = MAPFS_STATE_MOUNTED;
	t->fs->write_time = mapfs_now().sec;
	mapfs_super_store(t->fs);
	err = mapfs_fs_commit(t->fs);
	if (err == 0) {
		mapfs_op_reap_orphans(t->fs);
		err = mapfs_op_end(t->fs);
	} else {
		(void)mapfs_op_end(t->fs);
	}
	if (err < 0) {
		fprintf(stderr, TOOL_PROG ": %s: cannot write the image: %s\n",
			t->image, strerror(-err));
		mapfs_fs_close(t->fs);
		t->fs = NULL;
		return EXIT_OPERROR;
	}
	if (mapfs_alloc_reserve_metadata(t->fs) < 0)
		fprintf(stderr, TOOL_PROG ": %s: warning: the host filesystem "
			"is full; writes may fail\n", t->image);
	return 0;
}

/* Write everything home and mark the image clean (as the daemon's
 * unmount does), then close. ret, or EXIT_OPERROR if writing failed. */
static int tool_close(struct tool *t, int ret)
{
	int err = 0;

	if (!t->fs)
		return ret;
	if (t->rw) {
		err = mapfs_fs_sync(t->fs);
		if (err == 0) {
			t->fs->state = atomic_load(&t->fs->error)
					       ? MAPFS_STATE_ERROR
					       : MAPFS_STATE_CLEAN;
			t->fs->write_time = mapfs_now().sec;
			err = mapfs_fs_sync(t->fs);
		}
		if (err < 0) {
			fprintf(stderr, TOOL_PROG ": %s: final write-back "
				"failed: %s\n", t->image, strerror(-err));
			ret = EXIT_OPERROR;
		}
		if (atomic_load(&t->fs->error))
			fprintf(stderr, TOOL_PROG ": %s: the core found the "
				"image damaged: run fsck.mapfs %s\n", t->image,
				t->image);
	}
	mapfs_fs_close(t->fs);
	t->fs = NULL;
	return ret;
}

int tool_begin(struct tool *t)
{
	int err = mapfs_op_begin(t->fs);

	if (err < 0)
		t->dead = true;
	return err;
}

int tool_end(struct tool *t, int err)
{
	int jerr = mapfs_op_end(t->fs);

	if (jerr < 0) {
		t->dead = true;
		fprintf(stderr, TOOL_PROG ": %s: cannot write the journal: "
			"%s\n", t->image, strerror(-jerr));
		return err < 0 ? err : jerr;
	}
	return err;
}

/* ------------------------------------------------------------------ */
/* Paths                                                                */
/* ------------------------------------------------------------------ */

int tool_fail(struct tool *t, const char *path, int err)
{
	fprintf(stderr, TOOL_PROG ": %s: %s\n", path, strerror(-err));
	t->failed = true;
	return err;
}

/* Resolve path (from the root; a leading '/' is optional) to *inop.
 * Symlinks before the last component are followed; the last one only
 * when follow is true or the path ends in '/'. "a//b/" is a, then b. */
int tool_resolve(struct tool *t, const char *path, bool follow,
		 mapfs_ino_t *inop)
{
	char buf[2 * PATH_MAX + 2], next[2 * PATH_MAX + 2];
	mapfs_ino_t cur = MAPFS_ROOT_INO;
	unsigned links = 0;
	char *p;

	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	snprintf(buf, sizeof(buf), "%s", path);
	p = buf;
	for (;;) {
		char name[MAPFS_NAME_MAX + 1], target[MAPFS_SYMLINK_MAX + 1];
		struct mapfs_inode ip;
		mapfs_ino_t ino;
		const char *end;
		bool last;
		ssize_t n;
		size_t len;
		int err;

		while (*p == '/')
			p++;
		if (!*p) {
			/* "file/" names a directory or nothing */
			if (p > buf && p[-1] == '/' && cur != MAPFS_ROOT_INO) {
				err = mapfs_inode_load(t->fs, cur, &ip);
				if (err < 0)
					return err;
				if ((ip.mode & MAPFS_IFMT) != MAPFS_IFDIR)
					return -ENOTDIR;
			}
			*inop = cur;
			return 0;
		}
		end = strchrnul(p, '/');
		len = (size_t)(end - p);
		if (len > MAPFS_NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, p, len);
		name[len] = 0;
		err = mapfs_inode_load(t->fs, cur, &ip);
		if (err < 0)
			return err;
		if ((ip.mode & MAPFS_IFMT) != MAPFS_IFDIR)
			return -ENOTDIR;
		err = mapfs_op_lookup(t->fs, cur, name, &ino);
		if (err < 0)
			return err;
		err = mapfs_inode_load(t->fs, ino, &ip);
		if (err < 0)
			return err;
		last = !*end;
		if ((ip.mode & MAPFS_IFMT) != MAPFS_IFLNK ||
		    (last && !follow)) {
			cur = ino;
			p = (char *)end;
			continue;
		}
		if (++links > MAX_SYMLINKS)
			return -ELOOP;
		n = mapfs_op_readlink(t->fs, ino, target, sizeof(target));
		if (n < 0)
			return (int)n;
		target[n < (ssize_t)sizeof(target) ? n : 0] = 0;
		if (target[0] == '/')
			cur = MAPFS_ROOT_INO;
		if (snprintf(next, sizeof(next), "%s%s", target, end) >=
		    (int)sizeof(next))
			return -ENAMETOOLONG;
		memcpy(buf, next, sizeof(buf));
		p = buf;
	}
}

/* Split path into its parent directory (resolved, following symlinks)
 * and its last name: "/a/b/" gives a's inode and "b". The root, "." and
 * ".." have no name to create or remove: -EINVAL. */
int tool_parent(struct tool *t, const char *path, mapfs_ino_t *dirp,
		char name[MAPFS_NAME_MAX + 1])
{
	char buf[PATH_MAX];
	char *slash, *base;
	size_t len;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	snprintf(buf, sizeof(buf), "%s", path);
	len = strlen(buf);
	while (len > 0 && buf[len - 1] == '/')
		buf[--len] = 0;
	if (len == 0)
		return -EINVAL;
	slash = strrchr(buf, '/');
	base = slash ? slash + 1 : buf;
	if (!strcmp(base, ".") || !strcmp(base, ".."))
		return -EINVAL;
	if (strlen(base) > MAPFS_NAME_MAX)
		return -ENAMETOOLONG;
	snprintf(name, MAPFS_NAME_MAX + 1, "%s", base);
	if (slash)
		*slash = 0;
	else
		buf[0] = 0;
	return tool_resolve(t, buf, true, dirp);
}

static bool is_dir_mode(uint32_t mode)
{
	return (mode & MAPFS_IFMT) == MAPFS_IFDIR;
}

/* ------------------------------------------------------------------ */
/* Directory listings                                                   */
/* ------------------------------------------------------------------ */

static int collect_cb(void *arg, const char *name, uint32_t namelen,
		      mapfs_ino_t ino, uint32_t type, uint64_t next_off)
{
	struct tool_names *l = arg;
	struct tool_name *e;

	(void)next_off;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct tool_name *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	e = &l->v[l->n];
	e->name = strndup(name, namelen);
	if (!e->name)
		return -ENOMEM;
	e->ino = ino;
	e->type = type;
	l->n++;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tool_name *)a)->name,
		      ((const struct tool_name *)b)->name);
}

int tool_list(struct tool *t, const struct mapfs_inode *dir, bool dots,
	      struct tool_names *l)
{
	size_t i, k;
	int err;

	memset(l, 0, sizeof(*l));
	err = mapfs_dir_iterate(t->fs, dir, 0, collect_cb, l);
	if (err < 0) {
		tool_names_free(l);
		return err;
	}
	for (i = k = 0; i < l->n; i++) {
		const char *s = l->v[i].name;

		if (!dots && (!strcmp(s, ".") || !strcmp(s, ".."))) {
			free(l->v[i].name);
			continue;
		}
		l->v[k++] = l->v[i];
	}
	l->n = k;
	qsort(l->v, l->n, sizeof(*l->v), name_cmp);
	return 0;
}

void tool_names_free(struct tool_names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ------------------------------------------------------------------ */
/* ls, stat, cat                                                        */
/* ------------------------------------------------------------------ */

static void mode_string(uint32_t mode, char s[11])
{
	static const char types[16] = "?pc?d?b?-?l?s???";
	static const char rwx[] = "rwxrwxrwx";

	s[0] = types[(mode & MAPFS_IFMT) >> 12];
	for (int i = 0; i < 9; i++)
		s[1 + i] = (mode & (0400u >> i)) ? rwx[i] : '-';
	if (mode & S_ISUID)
		s[3] = (mode & S_IXUSR) ? 's' : 'S';
	if (mode & S_ISGID)
		s[6] = (mode & S_IXGRP) ? 's' : 'S';
	if (mode & S_ISVTX)
		s[9] = (mode & S_IXOTH) ? 't' : 'T';
	s[10] = 0;
}

static void ls_long(struct tool *t, const struct mapfs_inode *ip,
		    const char *name)
{
	char mode[11], when[32], target[MAPFS_SYMLINK_MAX + 1];
	time_t sec = (time_t)ip->mtime.sec;
	struct tm tm;

	mode_string(ip->mode, mode);
	if (!localtime_r(&sec, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm))
		snprintf(when, sizeof(when), "%" PRId64, ip->mtime.sec);
	printf("%s %3" PRIu32 " %5" PRIu32 " %5" PRIu32 " ", mode, ip->nlink,
	       ip->uid, ip->gid);
	if ((ip->mode & MAPFS_IFMT) == MAPFS_IFCHR ||
	    (ip->mode & MAPFS_IFMT) == MAPFS_IFBLK)
		printf("%4u, %4u", major((dev_t)ip->rdev),
		       minor((dev_t)ip->rdev));
	else
		printf("%10" PRIu64, ip->size);
	printf(" %s %s", when, name);
	if ((ip->mode & MAPFS_IFMT) == MAPFS_IFLNK) {
		ssize_t n = mapfs_op_readlink(t->fs, ip->ino, target,
					      sizeof(target));
		if (n >= 0 && n < (ssize_t)sizeof(target)) {
			target[n] = 0;
			printf(" -> %s", target);
		}
	}
	putchar('\n');
}

static int verb_ls(struct tool *t, int argc, char **argv)
{
	bool lng = false, all = false;
	struct mapfs_inode ip;
	struct tool_names l;
	mapfs_ino_t ino;
	const char *path;
	int c, err;

	optind = 0;	/* glibc: a full restart of getopt */
	while ((c = getopt(argc, argv, "+la")) != -1) {
		if (c == 'l')
			lng = true;
		else if (c == 'a')
			all = true;
		else
			return -EINVAL;
	}
	if (argc - optind > 1)
		return -EINVAL;
	path = optind < argc ? argv[optind] : "/";
	/* As ls(1): a symlink named on the command line is listed itself
	 * with -l, followed without. */
	err = tool_resolve(t, path, !lng, &ino);
	if (err == 0)
		err = mapfs_inode_load(t->fs, ino, &ip);
	if (err < 0)
		return tool_fail(t, path, err);
	if (!is_dir_mode(ip.mode)) {
		if (lng)
			ls_long(t, &ip, path);
		else
			printf("%s\n", path);
		return 0;
	}
	err = tool_list(t, &ip, all, &l);
	if (err < 0)
		return tool_fail(t, path, err);
	for (size_t i = 0; i < l.n; i++) {
		struct mapfs_inode cp;

		if (!lng) {
			printf("%s\n", l.v[i].name);
			continue;
		}
		err = mapfs_inode_load(t->fs, l.v[i].ino, &cp);
		if (err < 0) {
			fprintf(stderr, TOOL_PROG ": %s/%s: %s\n", path,
				l.v[i].name, strerror(-err));
			t->failed = true;
			continue;
		}
		ls_long(t, &cp, l.v[i].name);
	}
	tool_names_free(&l);
	return 0;
}

static const char *type_name(uint32_t mode)
{
	switch (mode & MAPFS_IFMT) {
	case MAPFS_IFREG: return "regular file";
	case MAPFS_IFDIR: return "directory";
	case MAPFS_IFLNK: return "symbolic link";
	case MAPFS_IFCHR: return "character device";
	case MAPFS_IFBLK: return "block device";
	case MAPFS_IFIFO: return "fifo";
	case MAPFS_IFSOCK: return "socket";
	default: return "unknown";
	}
}

static void print_time(const char *what, struct mapfs_timespec ts)
{
	time_t sec = (time_t)ts.sec;
	char buf[64];
	struct tm tm;

	if (!gmtime_r(&sec, &tm) ||
	    !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, sizeof(buf), "?");
	printf("%-11s %s.%09" PRIu32 " UTC (%" PRId64 ".%09" PRIu32 ")\n",
	       what, buf, ts.nsec, ts.sec, ts.nsec);
}

static int verb_stat(struct tool *t, int argc, char **argv)
{
	char mode[11], target[MAPFS_SYMLINK_MAX + 1];
	struct mapfs_inode ip;
	mapfs_ino_t ino;
	int err;

	if (argc != 2)
		return -EINVAL;
	err = tool_resolve(t, argv[1], false, &ino);
	if (err == 0)
		err = mapfs_inode_load(t->fs, ino, &ip);
	if (err < 0)
		return tool_fail(t, argv[1], err);
	mode_string(ip.mode, mode);
	printf("path:       %s\n", argv[1]);
	printf("ino:        %" PRIu64 "\n", ip.ino);
	printf("type:       %s\n", type_name(ip.mode));
	printf("mode:       %04o (%s)\n", ip.mode & 07777u, mode);
	printf("links:      %" PRIu32 "\n", ip.nlink);
	printf("uid:        %" PRIu32 "\n", ip.uid);
	printf("gid:        %" PRIu32 "\n", ip.gid);
	printf("size:       %" PRIu64 "\n", ip.size);
	printf("blocks:     %" PRIu64 " (of %" PRIu32 " bytes)\n", ip.blocks,
	       t->fs->g.bsize);
	if ((ip.mode & MAPFS_IFMT) == MAPFS_IFCHR ||
	    (ip.mode & MAPFS_IFMT) == MAPFS_IFBLK)
		printf("rdev:       %u,%u\n", major((dev_t)ip.rdev),
		       minor((dev_t)ip.rdev));
	if ((ip.mode & MAPFS_IFMT) == MAPFS_IFLNK) {
		ssize_t n = mapfs_op_readlink(t->fs, ip.ino, target,
					      sizeof(target));
		if (n >= 0 && n < (ssize_t)sizeof(target)) {
			target[n] = 0;
			printf("target:     %s\n", target);
		}
	}
	print_time("atime:", ip.atime);
	print_time("mtime:", ip.mtime);
	print_time("ctime:", ip.ctime);
	print_time("btime:", ip.btime);
	printf("generation: %" PRIu32 "\n", ip.gen);
	printf("flags:      0x%08" PRIx32 "%s%s%s\n", ip.flags,
	       (ip.flags & MAPFS_FL_IMMUTABLE) ? " immutable" : "",
	       (ip.flags & MAPFS_FL_APPEND) ? " append-only" : "",
	       (ip.flags & MAPFS_FL_KEEPSIZE) ? " blocks-past-eof" : "");
	printf("xattr blk:  %" PRIu64 "\n", ip.xattr);
	return 0;
}

ssize_t tool_write_range(struct mapfs_fs *fs, const struct mapfs_inode *ip,
			 uint64_t off, size_t len, int fd, bool at_off)
{
	struct iovec iov[TOOL_IOV];
	uint64_t pos = off;
	int niov, i = 0;
	ssize_t n, w;

	n = mapfs_file_read_iov(fs, ip, off, len, iov, TOOL_IOV, &niov);
	if (n <= 0)
		return n;
	/* The image's mapping is MADV_RANDOM (a fault reads one page):
	 * ask for the whole range at once, as the daemon does before a
	 * large read. */
	for (int k = 0; k < niov; k++)
		mapfs_fs_readahead(fs, iov[k].iov_base, iov[k].iov_len);
	while (i < niov) {
		w = at_off ? pwritev(fd, iov + i, niov - i, (off_t)pos)
			   : writev(fd, iov + i, niov - i);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		pos += (uint64_t)w;
		/* A short write: drop what went, go on with the rest. */
		while (i < niov && (size_t)w >= iov[i].iov_len) {
			w -= (ssize_t)iov[i].iov_len;
			i++;
		}
		if (i < niov) {
			iov[i].iov_base = (char *)iov[i].iov_base + w;
			iov[i].iov_len -= (size_t)w;
		}
	}
	return n;
}

static int verb_cat(struct tool *t, int argc, char **argv)
{
	struct mapfs_inode ip;
	mapfs_ino_t ino;
	uint64_t off = 0;
	int err;

	if (argc != 2)
		return -EINVAL;
	err = tool_resolve(t, argv[1], true, &ino);
	if (err == 0)
		err = mapfs_inode_load(t->fs, ino, &ip);
	if (err == 0 && is_dir_mode(ip.mode))
		err = -EISDIR;
	else if (err == 0 && (ip.mode & MAPFS_IFMT) != MAPFS_IFREG)
		err = -EINVAL;
	if (err < 0)
		return tool_fail(t, argv[1], err);
	while (off < ip.size) {
		ssize_t n = tool_write_range(t->fs, &ip, off, TOOL_BUF,
					     STDOUT_FILENO, false);

		if (n <= 0) {
			/* the image's errors are negative codes of the core;
			 * stdout's come from writev: say which */
			err = n < 0 ? (int)n : -EIO;
			tool_fail(t, err == -EPIPE || err == -ENOSPC ||
					     err == -EBADF ? "stdout" : argv[1],
				  err);
			break;
		}
		off += (uint64_t)n;
	}
	return err;
}

/* ------------------------------------------------------------------ */
/* mkdir, rm, ln, chmod, chown                                          */
/* ------------------------------------------------------------------ */

static uint32_t current_umask(void)
{
	mode_t m = umask(022);

	umask(m);
	return (uint32_t)m;
}

/* mkdir of one name under dir, one operation. */
static int mkdir_one(struct tool *t, mapfs_ino_t dir, const char *name,
		     mapfs_ino_t *inop)
{
	struct mapfs_inode ip;
	int err;

	err = tool_begin(t);
	if (err < 0)
		return err;
	err = mapfs_op_mknod_acl(t->fs, &t->cr, dir, name,
				 MAPFS_IFDIR | 0777u, 0, current_umask(), &ip);
	err = tool_end(t, err);
	if (err == 0 && inop)
		*inop = ip.ino;
	return err;
}

static int verb_mkdir(struct tool *t, int argc, char **argv)
{
	char name[MAPFS_NAME_MAX + 1];
	bool parents = false;
	mapfs_ino_t dir;
	int c, err;

	optind = 0;	/* glibc: a full restart of getopt */
	while ((c = getopt(argc, argv, "+p")) != -1) {
		if (c != 'p')
			return -EINVAL;
		parents = true;
	}
	if (optind != argc - 1)
		return -EINVAL;
	if (parents) {
		/* Each missing component in turn; existing directories
		 * (or symlinks to them) are fine. */
		const char *path = argv[optind], *p = path;
		mapfs_ino_t cur = MAPFS_ROOT_INO;

		for (;;) {
			struct mapfs_inode ip;
			mapfs_ino_t ino;
			const char *end;
			size_t len;

			while (*p == '/')
				p++;
			if (!*p)
				return 0;
			end = strchrnul(p, '/');
			len = (size_t)(end - p);
			if (len > MAPFS_NAME_MAX)
				return tool_fail(t, path, -ENAMETOOLONG);
			memcpy(name, p, len);
			name[len] = 0;
			err = mapfs_op_lookup(t->fs, cur, name, &ino);
			if (err == -ENOENT)
				err = mkdir_one(t, cur, name, &ino);
			else if (err == 0) {
				char sub[PATH_MAX];

				/* follow a symlink to a directory */
				snprintf(sub, sizeof(sub), "%.*s",
					 (int)(end - path), path);
				err = tool_resolve(t, sub, true, &ino);
				if (err == 0)
					err = mapfs_inode_load(t->fs, ino,
							       &ip);
				if (err == 0 && !is_dir_mode(ip.mode))
					err = -ENOTDIR;
			}
			if (err < 0)
				return tool_fail(t, path, err);
			cur = ino;
			p = end;
		}
	}
	err = tool_parent(t, argv[optind], &dir, name);
	if (err == -EINVAL)
		err = -EEXIST;
	if (err == 0)
		err = mkdir_one(t, dir, name, NULL);
	if (err < 0)
		return tool_fail(t, argv[optind], err);
	return 0;
}

/* Remove name from dir: unlink, or rmdir (after its contents when
 * recursive). Every removal is one operation. */
static int rm_name(struct tool *t, mapfs_ino_t dir, const char *name,
		   const char *path, bool recursive, unsigned depth)
{
	struct mapfs_inode ip;
	mapfs_ino_t ino;
	int err;

	err = mapfs_op_lookup(t->fs, dir, name, &ino);
	if (err == 0)
		err = mapfs_inode_load(t->fs, ino, &ip);
	if (err < 0)
		return tool_fail(t, path, err);
	if (is_dir_mode(ip.mode) && recursive) {
		struct tool_names l;
		char sub[PATH_MAX];

		if (depth > TOOL_MAX_DEPTH)
			return tool_fail(t, path, -ELOOP);
		err = tool_list(t, &ip, false, &l);
		if (err < 0)
			return tool_fail(t, path, err);
		for (size_t i = 0; i < l.n && !t->dead; i++) {
			snprintf(sub, sizeof(sub), "%s/%s",
				 strcmp(path, "/") ? path : "", l.v[i].name);
			(void)rm_name(t, ino, l.v[i].name, sub, true,
				      depth + 1);
		}
		tool_names_free(&l);
	}
	if (t->dead)
		return -EIO;
	err = tool_begin(t);
	if (err < 0)
		return tool_fail(t, path, err);
	if (is_dir_mode(ip.mode))
		err = mapfs_op_rmdir(t->fs, dir, name);
	else
		err = mapfs_op_unlink(t->fs, dir, name);
	err = tool_end(t, err);
	if (err < 0)
		return tool_fail(t, path, err);
	return 0;
}

static int verb_rm(struct tool *t, int argc, char **argv)
{
	char name[MAPFS_NAME_MAX + 1];
	bool recursive = false;
	mapfs_ino_t dir;
	int c, err;

	optind = 0;	/* glibc: a full restart of getopt */
	while ((c = getopt(argc, argv, "+rR")) != -1) {
		if (c != 'r' && c != 'R')
			return -EINVAL;
		recursive = true;
	}
	if (optind != argc - 1)
		return -EINVAL;
	err = tool_parent(t, argv[optind], &dir, name);
	if (err == -EINVAL)
		err = -EBUSY;	/* the root, ".", "..": as rm refuses */
	if (err < 0)
		return tool_fail(t, argv[optind], err);
	return rm_name(t, dir, name, argv[optind], recursive, 0);
}

/* The parent and name a new link at path gets: into path itself when it
 * is an existing directory (named after src's last component), as ln(1)
 * does. */
static int link_dest(struct tool *t, const char *path, const char *src,
		     mapfs_ino_t *dirp, char name[MAPFS_NAME_MAX + 1])
{
	struct mapfs_inode ip;
	mapfs_ino_t ino;
	const char *base;
	size_t len;

	if (tool_resolve(t, path, true, &ino) == 0 &&
	    mapfs_inode_load(t->fs, ino, &ip) == 0 && is_dir_mode(ip.mode)) {
		len = strlen(src);
		while (len > 1 && src[len - 1] == '/')
			len--;
		base = src + len;
		while (base > src && base[-1] != '/')
			base--;
		len = (size_t)(src + len - base);
		if (len == 0 || len > MAPFS_NAME_MAX)
			return -EEXIST;
		memcpy(name, base, len);
		name[len] = 0;
		*dirp = ino;
		return 0;
	}
	return tool_parent(t, path, dirp, name);
}

static int verb_ln(struct tool *t, int argc, char **argv)
{
	char name[MAPFS_NAME_MAX + 1];
	struct mapfs_inode ip;
	bool sym = false;
	mapfs_ino_t dir, ino;
	int c, err;

	optind = 0;	/* glibc: a full restart of getopt */
	while ((c = getopt(argc, argv, "+s")) != -1) {
		if (c != 's')
			return -EINVAL;
		sym = true;
	}
	if (optind != argc - 2)
		return -EINVAL;
	if (!sym) {
		/* As ln -P (Linux's default): a symlink TARGET is linked
		 * itself. */
		err = tool_resolve(t, argv[optind], false, &ino);
		if (err < 0)
			return tool_fail(t, argv[optind], err);
	}
	err = link_dest(t, argv[optind + 1], argv[optind], &dir, name);
	if (err < 0)
		return tool_fail(t, argv[optind + 1], err);
	err = tool_begin(t);
	if (err == 0) {
		if (sym)
			err = mapfs_op_symlink(t->fs, &t->cr, dir, name,
					       argv[optind], &ip);
		else
			err = mapfs_op_link(t->fs, ino, dir, name, &ip);
		err = tool_end(t, err);
	}
	if (err < 0)
		return tool_fail(t, argv[optind + 1], err);
	return 0;
}

static int setattr_path(struct tool *t, const char *path,
			const struct mapfs_setattr *sa)
{
	struct mapfs_inode ip;
	mapfs_ino_t ino;
	int err;

	/* chmod(1) and chown(1) follow a symlink named on the command
	 * line. */
	err = tool_resolve(t, path, true, &ino);
	if (err == 0)
		err = tool_begin(t);
	if (err == 0)
		err = tool_end(t, mapfs_op_setattr(t->fs, ino, sa, true, &ip));
	if (err < 0)
		return tool_fail(t, path, err);
	return 0;
}

static int parse_u32(const char *s, int base, uint32_t max, uint32_t *out)
{
	unsigned long v;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, base);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int verb_chmod(struct tool *t, int argc, char **argv)
{
	struct mapfs_setattr sa = { .valid = MAPFS_SET_MODE };

	(void)argc;
	(void)parse_u32(argv[1], 8, 07777, &sa.mode);	/* checked */
	return setattr_path(t, argv[2], &sa);
}

/* "UID", "UID:GID", "UID:", ":GID" into sa (valid, uid, gid). */
static int parse_owner(const char *s, struct mapfs_setattr *sa)
{
	const char *colon = strchr(s, ':');
	char uid[16];
	size_t len = colon ? (size_t)(colon - s) : strlen(s);

	memset(sa, 0, sizeof(*sa));
	if (len >= sizeof(uid))
		return -EINVAL;
	memcpy(uid, s, len);
	uid[len] = 0;
	if (len) {
		sa->valid |= MAPFS_SET_UID;
		if (parse_u32(uid, 10, UINT32_MAX - 1, &sa->uid) < 0)
			return -EINVAL;
	}
	if (colon && colon[1]) {
		sa->valid |= MAPFS_SET_GID;
		if (parse_u32(colon + 1, 10, UINT32_MAX - 1, &sa->gid) < 0)
			return -EINVAL;
	}
	return sa->valid ? 0 : -EINVAL;
}

static int verb_chown(struct tool *t, int argc, char **argv)
{
	struct mapfs_setattr sa;

	(void)argc;
	(void)parse_owner(argv[1], &sa);	/* checked */
	return setattr_path(t, argv[2], &sa);
}

/* ------------------------------------------------------------------ */
/* main                                                                 */
/* ------------------------------------------------------------------ */

struct verb {
	const char *name;
	bool rw;		/* changes the image */
	const char *opts;	/* its options, for the usage check */
	int nmin, nmax;		/* operands */
	int (*fn)(struct tool *t, int argc, char **argv);
};

static const struct verb verbs[] = {
	{ "ls", false, "la", 0, 1, verb_ls },
	{ "cat", false, "", 1, 1, verb_cat },
	{ "stat", false, "", 1, 1, verb_stat },
	{ "get", false, "r", 2, 2, tool_get },
	{ "put", true, "r", 2, 2, tool_put },
	{ "mkdir", true, "p", 1, 1, verb_mkdir },
	{ "rm", true, "rR", 1, 1, verb_rm },
	{ "ln", true, "s", 2, 2, verb_ln },
	{ "chmod", true, "", 2, 2, verb_chmod },
	{ "chown", true, "", 2, 2, verb_chown },
};

/* The verb's options and operand count, before the image is opened:
 * true when they are right. chmod's and chown's values too. */
static bool verb_args_ok(const struct verb *v, int argc, char **argv)
{
	char opts[16];
	uint32_t x;
	int c;

	snprintf(opts, sizeof(opts), "+%s", v->opts);
	optind = 0;	/* glibc: a full restart of getopt */
	while ((c = getopt(argc, argv, opts)) != -1)
		if (c == '?') {
			fprintf(stderr, TOOL_PROG ": %s: unknown option "
				"'-%c'\n", v->name, optopt);
			return false;
		}
	if (argc - optind < v->nmin || argc - optind > v->nmax) {
		fprintf(stderr, TOOL_PROG ": %s: %s operands\n", v->name,
			argc - optind < v->nmin ? "missing" : "too many");
		return false;
	}
	if (!strcmp(v->name, "chmod") &&
	    parse_u32(argv[optind], 8, 07777, &x) < 0) {
		fprintf(stderr, TOOL_PROG ": chmod: %s: not an octal mode "
			"(0 to 7777)\n", argv[optind]);
		return false;
	}
	if (!strcmp(v->name, "chown")) {
		struct mapfs_setattr sa;

		if (parse_owner(argv[optind], &sa) < 0) {
			fprintf(stderr, TOOL_PROG ": chown: %s: not "
				"UID[:GID] (numbers)\n", argv[optind]);
			return false;
		}
	}
	return true;
}

int main(int argc, char **argv)
{
	const struct verb *v = NULL;
	struct tool t = { 0 };
	int ret;

	if (argc == 2 && (!strcmp(argv[1], "-h") ||
			  !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc == 2 && (!strcmp(argv[1], "-V") ||
			  !strcmp(argv[1], "--version"))) {
		printf(TOOL_PROG " " MAPFS_VERSION_STRING "\n");
		return 0;
	}
	/* Options of the tool come before IMAGE; the verb's after it. */
	while (argc >= 3 && !strcmp(argv[1], "-o")) {
		if (!mapfs_cli_region(TOOL_PROG, argv[2], &t.region))
			return EXIT_USAGE;
		argc -= 2;
		argv += 2;
	}
	if (argc < 3 || argv[1][0] == '-') {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[2], verbs[i].name))
			v = &verbs[i];
	if (!v) {
		fprintf(stderr, TOOL_PROG ": unknown verb '%s' (see "
			TOOL_PROG " --help)\n", argv[2]);
		return EXIT_USAGE;
	}
	t.image = argv[1];
	t.cr.uid = (uint32_t)geteuid();
	t.cr.gid = (uint32_t)getegid();
	t.root = geteuid() == 0;
	opterr = 0;
	if (!verb_args_ok(v, argc - 2, argv + 2)) {
		fprintf(stderr, "Usage: see " TOOL_PROG " --help\n");
		return EXIT_USAGE;
	}
	ret = tool_open(&t, v->rw);
	if (ret)
		return ret;
	(void)v->fn(&t, argc - 2, argv + 2);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, TOOL_PROG ": stdout: %s\n", strerror(errno));
		t.failed = true;
	}
	return tool_close(&t, t.failed ? EXIT_FAIL : 0);
}
