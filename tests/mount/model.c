/* SPDX-License-Identifier: MIT */
/*
 * model.c - randomized model test: run one reproducible sequence of
 * random filesystem operations on two trees side by side, the mapfs
 * mount and a reference directory on a trusted filesystem, and demand
 * the same result (return value and errno) from both, plus equal trees
 * every 100 operations and at the end.
 *
 * Usage: model MNT_DIR REF_DIR SEED NOPS
 *
 * The trees are MNT_DIR/model and REF_DIR/model (created; they must not
 * exist yet). With NOPS 0 and both trees present, only compare them
 * (used after a remount; explicit mtimes are not known then). Operations: create (O_EXCL, O_TRUNC), write at random
 * offsets (also far past EOF), truncate, rename and renameat2
 * (NOREPLACE, EXCHANGE; files and directories, across directories, over
 * existing names), link, unlink, mkdir, rmdir, symlink, chmod, chown (as
 * root), utimensat with nanoseconds, stat and read, extended attributes
 * (setxattr with 0 / XATTR_CREATE / XATTR_REPLACE, getxattr with exact,
 * probing and short buffers, listxattr, removexattr; user.*, trusted.*
 * and an unknown namespace; through symlinks and not) and fallocate
 * (default, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE with and without
 * KEEP_SIZE, and PUNCH_HOLE alone, which Linux refuses). A reference
 * filesystem without ZERO_RANGE (tmpfs) gets it emulated by a punched
 * hole and a size change, which leaves the same bytes. Paths come from a
 * small namespace (6 names, depth <= 3) so operations collide often; most
 * are picked among existing entries of the reference tree.
 *
 * The tree comparison checks names, types, modes, nlinks, owners, sizes
 * (not of directories), symlink targets, file contents, extended
 * attributes (names and values), the hard-link structure (same inode in one tree <=> same inode in the other) and
 * mtime to the nanosecond for inodes whose mtime was set explicitly and
 * not changed since.
 *
 * Output is TAP, one line per 100 operations; on the first divergence
 * it prints the operation number, the operation, both results and the
 * last operations, and exits 1. MAPFS_MODEL_VERBOSE=1 logs every op;
 * MAPFS_MODEL_CHECK_EVERY=N compares the trees every N ops instead of
 * every 100 (1 pins a divergence to the op that caused it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "tutil.h"
#define MAX_DEPTH 3
#define MAX_ENTRIES 4096
#define PATHLEN 256

static const char *const pool[] = { "a", "b", "c", "d", "e", "f" };
#define NPOOL (sizeof(pool) / sizeof(pool[0]))

/* ------------------------------------------------------------------ */
/* PRNG: xorshift64*, seeded through splitmix64                         */
/* ------------------------------------------------------------------ */
static bool chance(unsigned pct)
{
	return rnd(100) < pct;
}

static void fill_bytes(unsigned char *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)(x >> 24);
	}
}

/* ------------------------------------------------------------------ */
/* Operations                                                          */
/* ------------------------------------------------------------------ */
enum op_kind {
	OP_CREATE, OP_WRITE, OP_TRUNCATE, OP_RENAME, OP_LINK, OP_UNLINK,
	OP_MKDIR, OP_RMDIR, OP_SYMLINK, OP_CHMOD, OP_CHOWN, OP_UTIMENS,
	OP_STAT, OP_READ, OP_SETXATTR, OP_GETXATTR, OP_LISTXATTR,
	OP_REMOVEXATTR, OP_FALLOCATE, OP_NKINDS
};

static const unsigned op_weight[OP_NKINDS] = {
	[OP_CREATE] = 14, [OP_WRITE] = 16, [OP_TRUNCATE] = 8,
	[OP_RENAME] = 14, [OP_LINK] = 6, [OP_UNLINK] = 8, [OP_MKDIR] = 6,
	[OP_RMDIR] = 5, [OP_SYMLINK] = 5, [OP_CHMOD] = 5, [OP_CHOWN] = 3,
	[OP_UTIMENS] = 6, [OP_STAT] = 5, [OP_READ] = 4, [OP_SETXATTR] = 7,
	[OP_GETXATTR] = 4, [OP_LISTXATTR] = 2, [OP_REMOVEXATTR] = 3,
	[OP_FALLOCATE] = 8,
};

/* xattr names: a few per namespace so values collide and get replaced;
 * values stay small enough that every filesystem fits them all in one
 * inode (mapfs and ext4 give an inode one block). */
static const char *const xnames[] = {
	"user.a", "user.b", "user.long.name.for.the.model.test", "trusted.t",
	"trusted.u", "bogus.ns",
};
#define NXNAMES (sizeof(xnames) / sizeof(xnames[0]))
#define XVALUE_MAX 400

static const int falloc_modes[] = {
	0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	FALLOC_FL_ZERO_RANGE, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
	FALLOC_FL_PUNCH_HOLE,
};
#define NFALLOC_MODES (sizeof(falloc_modes) / sizeof(falloc_modes[0]))

struct op {
	enum op_kind kind;
	char path[PATHLEN], path2[PATHLEN];
	char target[400];	/* symlink target */
	const char *xname;	/* xattr name */
	int flags;		/* open / renameat2 / utimensat flags */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	off_t off;
	size_t len;
	uint64_t seed;		/* write data */
	struct timespec ts[2];
};

struct res {
	long long ret;
	int err;
	uint64_t extra;		/* digest of what stat/read returned */
};

static int root_fd[2];		/* 0: mapfs, 1: reference */
static bool is_root;
static bool verbose;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void op_describe(const struct op *o, char *buf, size_t len)
{
	switch (o->kind) {
	case OP_CREATE:
		snprintf(buf, len, "open(\"%s\", O_CREAT%s%s|O_WRONLY, %04o)",
			 o->path, o->flags & O_EXCL ? "|O_EXCL" : "",
			 o->flags & O_TRUNC ? "|O_TRUNC" : "", o->mode);
		break;
	case OP_WRITE:
		snprintf(buf, len, "pwrite(\"%s\", %zu bytes at %lld)", o->path,
			 o->len, (long long)o->off);
		break;
	case OP_TRUNCATE:
		snprintf(buf, len, "truncate(\"%s\", %lld)", o->path,
			 (long long)o->off);
		break;
	case OP_RENAME:
		snprintf(buf, len, "renameat2(\"%s\", \"%s\", %s)", o->path,
			 o->path2, o->flags == RENAME_NOREPLACE ? "NOREPLACE" :
			 o->flags == RENAME_EXCHANGE ? "EXCHANGE" : "0");
		break;
	case OP_LINK:
		snprintf(buf, len, "link(\"%s\", \"%s\")", o->path, o->path2);
		break;
	case OP_UNLINK:
		snprintf(buf, len, "unlink(\"%s\")", o->path);
		break;
	case OP_MKDIR:
		snprintf(buf, len, "mkdir(\"%s\", %04o)", o->path, o->mode);
		break;
	case OP_RMDIR:
		snprintf(buf, len, "rmdir(\"%s\")", o->path);
		break;
	case OP_SYMLINK:
		snprintf(buf, len, "symlink(\"%.40s%s\" (%zu bytes), \"%s\")",
			 o->target, strlen(o->target) > 40 ? "..." : "",
			 strlen(o->target), o->path);
		break;
	case OP_CHMOD:
		snprintf(buf, len, "chmod(\"%s\", %04o)", o->path, o->mode);
		break;
	case OP_CHOWN:
		snprintf(buf, len, "%schown(\"%s\", %u, %u)",
			 o->flags ? "l" : "", o->path, o->uid, o->gid);
		break;
	case OP_UTIMENS: {
		char t[2][40];

		for (int i = 0; i < 2; i++) {
			if (o->ts[i].tv_nsec == UTIME_NOW)
				snprintf(t[i], sizeof(t[i]), "UTIME_NOW");
			else if (o->ts[i].tv_nsec == UTIME_OMIT)
				snprintf(t[i], sizeof(t[i]), "UTIME_OMIT");
			else
				snprintf(t[i], sizeof(t[i]), "%lld.%09ld",
					 (long long)o->ts[i].tv_sec,
					 o->ts[i].tv_nsec);
		}
		snprintf(buf, len, "utimensat(\"%s\", %s, %s%s)", o->path,
			 t[0], t[1], o->flags ? ", NOFOLLOW" : "");
		break;
	}
	case OP_STAT:
		snprintf(buf, len, "lstat(\"%s\")", o->path);
		break;
	case OP_READ:
		snprintf(buf, len, "pread(\"%s\", %zu at %lld)", o->path,
			 o->len, (long long)o->off);
		break;
	case OP_SETXATTR:
		snprintf(buf, len, "%ssetxattr(\"%s\", \"%s\", %zu bytes, %s)",
			 o->mode ? "l" : "", o->path, o->xname, o->len,
			 o->flags == XATTR_CREATE ? "CREATE" :
			 o->flags == XATTR_REPLACE ? "REPLACE" : "0");
		break;
	case OP_GETXATTR:
		snprintf(buf, len, "%sgetxattr(\"%s\", \"%s\", size %zu)",
			 o->mode ? "l" : "", o->path, o->xname, o->len);
		break;
	case OP_LISTXATTR:
		snprintf(buf, len, "%slistxattr(\"%s\", size %zu)",
			 o->mode ? "l" : "", o->path, o->len);
		break;
	case OP_REMOVEXATTR:
		snprintf(buf, len, "%sremovexattr(\"%s\", \"%s\")",
			 o->mode ? "l" : "", o->path, o->xname);
		break;
	case OP_FALLOCATE:
		snprintf(buf, len, "fallocate(\"%s\", %s%s%s%s, %lld, %zu)",
			 o->path, o->flags ? "" : "0",
			 o->flags & FALLOC_FL_PUNCH_HOLE ? "PUNCH_HOLE " : "",
			 o->flags & FALLOC_FL_ZERO_RANGE ? "ZERO_RANGE " : "",
			 o->flags & FALLOC_FL_KEEP_SIZE ? "KEEP_SIZE" : "",
			 (long long)o->off, o->len);
		break;
	default:
		snprintf(buf, len, "?");
	}
}

/* Digest of the attributes two filesystems must agree on. */
static uint64_t stat_digest(const struct stat *st)
{
	uint64_t v[6] = { st->st_mode, st->st_nlink, st->st_uid, st->st_gid,
			  S_ISDIR(st->st_mode) ? 0 : (uint64_t)st->st_size, 0 };

	return fnv(0xcbf29ce484222325ull, v, sizeof(v));
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Digest of a listxattr buffer (NUL-terminated names), order-free. */
static uint64_t names_digest(char *list, size_t len)
{
	char *names[64];
	size_t n = 0;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len && n < 64; i += strlen(list + i) + 1)
		names[n++] = list + i;
	qsort(names, n, sizeof(names[0]), str_cmp);
	for (size_t i = 0; i < n; i++)
		h = fnv(h, names[i], strlen(names[i]) + 1);
	return h;
}

/* FALLOC_FL_ZERO_RANGE on a reference filesystem that lacks it (tmpfs):
 * the same bytes and size from a punched hole and a size change. */
static int zero_range_emulated(int fd, const struct op *o)
{
	struct stat st;
	off_t end = o->off + (off_t)o->len;

	if (fstat(fd, &st) < 0)
		return -1;
	if (o->off < st.st_size &&
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, o->off,
		      (off_t)o->len) < 0)
		return -1;
	if (!(o->flags & FALLOC_FL_KEEP_SIZE) && end > st.st_size)
		return ftruncate(fd, end);
	return 0;
}

static void op_apply(int side, const struct op *o, struct res *r)
{
	static unsigned char buf[1 << 20];
	char p[PATHLEN + 64];
	int dfd = root_fd[side];
	struct stat st;
	int fd;

	errno = 0;
	r->extra = 0;
	switch (o->kind) {
	case OP_CREATE:
		fd = openat(dfd, o->path, O_CREAT | O_WRONLY | o->flags,
			    o->mode);
		r->ret = fd < 0 ? -1 : 0;
		if (fd >= 0)
			close(fd);
		break;
	case OP_WRITE:
		fd = openat(dfd, o->path, O_WRONLY);
		if (fd < 0) {
			r->ret = -1;
			break;
		}
		fill_bytes(buf, o->len, o->seed);
		r->ret = pwrite(fd, buf, o->len, o->off);
		r->err = errno;
		close(fd);
		errno = r->err;
		break;
	case OP_TRUNCATE:
		/* truncate has no *at form: resolve through the root fd */
		snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dfd, o->path);
		r->ret = truncate(p, o->off);
		break;
	case OP_RENAME:
		r->ret = renameat2(dfd, o->path, dfd, o->path2,
				   (unsigned)o->flags);
		break;
	case OP_LINK:
		r->ret = linkat(dfd, o->path, dfd, o->path2, 0);
		break;
	case OP_UNLINK:
		r->ret = unlinkat(dfd, o->path, 0);
		break;
	case OP_MKDIR:
		r->ret = mkdirat(dfd, o->path, o->mode);
		break;
	case OP_RMDIR:
		r->ret = unlinkat(dfd, o->path, AT_REMOVEDIR);
		break;
	case OP_SYMLINK:
		r->ret = symlinkat(o->target, dfd, o->path);
		break;
	case OP_CHMOD:
		r->ret = fchmodat(dfd, o->path, o->mode, 0);
		break;
	case OP_CHOWN:
		r->ret = fchownat(dfd, o->path, o->uid, o->gid,
				  o->flags ? AT_SYMLINK_NOFOLLOW : 0);
		break;
	case OP_UTIMENS:
		r->ret = utimensat(dfd, o->path, o->ts, o->flags);
		break;
	case OP_STAT:
		r->ret = fstatat(dfd, o->path, &st, AT_SYMLINK_NOFOLLOW);
		if (r->ret == 0)
			r->extra = stat_digest(&st);
		break;
	case OP_READ:
		fd = openat(dfd, o->path, O_RDONLY);
		if (fd < 0) {
			r->ret = -1;
			break;
		}
		r->ret = pread(fd, buf, o->len, o->off);
		r->err = errno;
		if (r->ret > 0)
			r->extra = fnv(0xcbf29ce484222325ull, buf,
				       (size_t)r->ret);
		close(fd);
		errno = r->err;
		break;
	case OP_SETXATTR:
		snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dfd, o->path);
		fill_bytes(buf, o->len, o->seed);
		r->ret = (o->mode ? lsetxattr : setxattr)(p, o->xname, buf,
							  o->len, o->flags);
		break;
	case OP_GETXATTR:
		snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dfd, o->path);
		r->ret = (o->mode ? lgetxattr : getxattr)(p, o->xname, buf,
							  o->len);
		if (r->ret > 0 && o->len)
			r->extra = fnv(0xcbf29ce484222325ull, buf,
				       (size_t)r->ret);
		break;
	case OP_LISTXATTR:
		snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dfd, o->path);
		r->ret = (o->mode ? llistxattr : listxattr)(p, (char *)buf,
							    o->len);
		/* order is the filesystem's: digest the sorted names */
		if (r->ret > 0 && o->len)
			r->extra = names_digest((char *)buf, (size_t)r->ret);
		break;
	case OP_REMOVEXATTR:
		snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dfd, o->path);
		r->ret = (o->mode ? lremovexattr : removexattr)(p, o->xname);
		break;
	case OP_FALLOCATE:
		fd = openat(dfd, o->path, O_WRONLY);
		if (fd < 0) {
			r->ret = -1;
			break;
		}
		r->ret = fallocate(fd, o->flags, o->off, (off_t)o->len);
		r->err = errno;
		if (r->ret < 0 && r->err == EOPNOTSUPP && side == 1 &&
		    (o->flags & FALLOC_FL_ZERO_RANGE))
			r->ret = zero_range_emulated(fd, o);
		r->err = errno;
		close(fd);
		errno = r->err;
		break;
	default:
		r->ret = -1;
		errno = EINVAL;
	}
	r->err = r->ret < 0 ? errno : 0;
}

/* ------------------------------------------------------------------ */
/* Picking paths from the reference tree                                */
/* ------------------------------------------------------------------ */
static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of directory rel (without . and ..). Caller frees each
 * name and the array. Returns the count, or -1. */
static int list_dir(int dfd, const char *rel, char ***namesp)
{
	int fd = openat(dfd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY);
	char **names = NULL;
	struct dirent *de;
	int n = 0, cap = 0;
	DIR *d;

	*namesp = NULL;
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			names = realloc(names, (size_t)cap * sizeof(*names));
			if (!names)
				abort();
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, (size_t)n, sizeof(*names), name_cmp);
	*namesp = names;
	return n;
}

static void free_names(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void join(char *out, const char *dir, const char *name)
{
	if (*dir)
		snprintf(out, PATHLEN, "%s/%s", dir, name);
	else
		snprintf(out, PATHLEN, "%s", name);
}

static int depth_of(const char *p)
{
	int d = *p ? 1 : 0;

	for (; *p; p++)
		if (*p == '/')
			d++;
	return d;
}

/* A random existing directory of the reference tree ("" is the root),
 * at depth < MAX_DEPTH. */
static void pick_dir(char *out)
{
	char cur[PATHLEN] = "", next[PATHLEN];

	while (depth_of(cur) < MAX_DEPTH - 1 && chance(55)) {
		char **names;
		int n = list_dir(root_fd[1], cur, &names), ndirs = 0;
		char *dirs[64];

		for (int i = 0; i < n && ndirs < 64; i++) {
			struct stat st;

			join(next, cur, names[i]);
			if (fstatat(root_fd[1], next, &st,
				    AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISDIR(st.st_mode))
				dirs[ndirs++] = names[i];
		}
		if (ndirs == 0) {
			free_names(names, n);
			break;
		}
		join(next, cur, dirs[rnd((unsigned)ndirs)]);
		strcpy(cur, next);
		free_names(names, n);
	}
	strcpy(out, cur);
}

/* A random existing entry (any type), or a new name if the tree is
 * empty where the walk ends. */
static void pick_existing(char *out)
{
	char cur[PATHLEN] = "", next[PATHLEN];

	for (;;) {
		char **names;
		int n = list_dir(root_fd[1], cur, &names);
		struct stat st;

		if (n <= 0) {
			free_names(names, n < 0 ? 0 : n);
			if (*cur)
				strcpy(out, cur);
			else
				join(out, cur, pool[rnd(NPOOL)]);
			return;
		}
		join(next, cur, names[rnd((unsigned)n)]);
		free_names(names, n);
		if (fstatat(root_fd[1], next, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode) && depth_of(next) < MAX_DEPTH &&
		    chance(50)) {
			strcpy(cur, next);
			continue;
		}
		strcpy(out, next);
		return;
	}
}

/* A path for an operation: mostly existing entries, else a pool name in
 * an existing directory (which may exist too), now and then a path under
 * a non-directory or a missing parent. */
static void pick_path(char *out, unsigned pct_existing)
{
	char dir[PATHLEN];

	if (chance(pct_existing)) {
		pick_existing(out);
		return;
	}
	if (chance(5)) {
		pick_existing(dir);
		if (depth_of(dir) >= MAX_DEPTH)
			dir[0] = '\0';
	} else {
		pick_dir(dir);
	}
	join(out, dir, pool[rnd(NPOOL)]);
}

/* Like pick_path, but existing picks prefer a type: 'f' a regular file,
 * 'd' a directory, 'n' anything but a directory. */
static void pick_typed(char *out, unsigned pct_existing, char want)
{
	struct stat st;

	if (!chance(pct_existing)) {
		pick_path(out, 0);
		return;
	}
	for (int tries = 0; tries < 8; tries++) {
		pick_existing(out);
		if (fstatat(root_fd[1], out, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if ((want == 'f' && S_ISREG(st.st_mode)) ||
		    (want == 'd' && S_ISDIR(st.st_mode)) ||
		    (want == 'n' && !S_ISDIR(st.st_mode)))
			return;
	}
}

static off_t ref_size(const char *path)
{
	struct stat st;

	if (fstatat(root_fd[1], path, &st, 0) < 0)
		return 0;
	return st.st_size;
}

static mode_t random_mode(bool dir)
{
	static const mode_t common[] = { 0644, 0755, 0600, 0700, 0640, 0777,
					 0444, 0555 };
	mode_t m = chance(70) ? common[rnd(8)] : (mode_t)rnd(07777 + 1);

	if (!is_root)
		m |= dir ? 0700 : 0600;
	return m;
}

static void random_target(char *t, size_t cap)
{
	unsigned len;

	if (chance(70)) {
		/* a path into the tree, maybe dangling */
		char p[PATHLEN];

		pick_path(p, 50);
		snprintf(t, cap, "%s", p);
		return;
	}
	len = chance(50) ? 1 + rnd(40) : 100 + rnd(300);
	if (len >= cap)
		len = (unsigned)cap - 1;
	for (unsigned i = 0; i < len; i++)
		t[i] = (char)(i % 9 == 8 ? '/' : 'a' + rnd(6));
	t[len] = '\0';
	if (t[len - 1] == '/')
		t[len - 1] = 'z';
}

static struct timespec random_ts(void)
{
	struct timespec t;

	switch (rnd(6)) {
	case 0:
		t.tv_sec = 0;
		t.tv_nsec = UTIME_NOW;
		return t;
	case 1:
		t.tv_sec = 0;
		t.tv_nsec = UTIME_OMIT;
		return t;
	case 2:
		t.tv_sec = (time_t)rnd(1u << 31) + (time_t)rnd(4) * (1ll << 31);
		break;
	default:
		t.tv_sec = 1000000000 + (time_t)rnd(800000000);
	}
	t.tv_nsec = (long)rnd(1000000000);
	return t;
}

static void op_generate(struct op *o)
{
	unsigned total = 0, pick;

	memset(o, 0, sizeof(*o));
	for (int k = 0; k < OP_NKINDS; k++)
		total += op_weight[k];
	pick = rnd(total);
	for (o->kind = 0; pick >= op_weight[o->kind]; o->kind++)
		pick -= op_weight[o->kind];
	if (o->kind == OP_CHOWN && !is_root)
		o->kind = OP_CHMOD;

	switch (o->kind) {
	case OP_CREATE:
		pick_path(o->path, 30);
		o->flags = (chance(40) ? O_EXCL : 0) |
			   (chance(25) ? O_TRUNC : 0);
		o->mode = random_mode(false);
		break;
	case OP_WRITE:
		pick_typed(o->path, 90, 'f');
		{
			off_t size = ref_size(o->path);

			if (chance(10))
				o->off = (off_t)rnd(1u << 20);
			else
				o->off = (off_t)rnd((unsigned)size + 20000);
			o->len = chance(10) ? rnd(200000) : rnd(20000);
			o->seed = rng();
		}
		break;
	case OP_TRUNCATE:
		pick_typed(o->path, 85, 'f');
		if (chance(20))
			o->off = 0;
		else
			o->off = (off_t)rnd((unsigned)ref_size(o->path) * 2 +
					    20000);
		break;
	case OP_RENAME:
		pick_path(o->path, 85);
		pick_path(o->path2, 50);
		o->flags = chance(12) ? (int)RENAME_NOREPLACE :
			   chance(14) ? (int)RENAME_EXCHANGE : 0;
		break;
	case OP_LINK:
		pick_typed(o->path, 85, 'n');
		pick_path(o->path2, 30);
		break;
	case OP_UNLINK:
		pick_typed(o->path, 85, 'n');
		break;
	case OP_RMDIR:
		pick_typed(o->path, 85, 'd');
		break;
	case OP_MKDIR:
		pick_path(o->path, 20);
		o->mode = random_mode(true);
		break;
	case OP_SYMLINK:
		pick_path(o->path, 25);
		random_target(o->target, sizeof(o->target));
		break;
	case OP_CHMOD:
		pick_path(o->path, 85);
		{
			struct stat st;
			bool dir = fstatat(root_fd[1], o->path, &st, 0) == 0 &&
				   S_ISDIR(st.st_mode);

			o->mode = random_mode(dir);
		}
		break;
	case OP_CHOWN: {
		static const unsigned ids[] = { 0, 1000, 65534, 4242 };

		pick_path(o->path, 85);
		o->uid = chance(20) ? (uid_t)-1 : ids[rnd(4)];
		o->gid = chance(20) ? (gid_t)-1 : ids[rnd(4)];
		o->flags = chance(50);
		break;
	}
	case OP_UTIMENS:
		pick_path(o->path, 85);
		o->ts[0] = random_ts();
		o->ts[1] = random_ts();
		o->flags = chance(30) ? AT_SYMLINK_NOFOLLOW : 0;
		break;
	case OP_STAT:
		pick_path(o->path, 85);
		break;
	case OP_READ:
		pick_typed(o->path, 90, 'f');
		o->off = (off_t)rnd((unsigned)ref_size(o->path) + 100);
		o->len = rnd(70000);
		break;
	case OP_SETXATTR:
		pick_path(o->path, 85);
		o->xname = xnames[rnd(NXNAMES)];
		o->len = chance(10) ? 0 : rnd(XVALUE_MAX + 1);
		o->seed = rng();
		o->flags = chance(25) ? XATTR_CREATE :
			   chance(25) ? XATTR_REPLACE : 0;
		o->mode = chance(15);
		break;
	case OP_GETXATTR:
		pick_path(o->path, 85);
		o->xname = xnames[rnd(NXNAMES)];
		/* exact-size buffer, a size probe, or a short buffer */
		o->len = chance(15) ? 0 : chance(15) ? rnd(8) : 65536;
		o->mode = chance(15);
		break;
	case OP_LISTXATTR:
		pick_path(o->path, 85);
		o->len = chance(15) ? 0 : chance(10) ? rnd(8) : 65536;
		o->mode = chance(15);
		break;
	case OP_REMOVEXATTR:
		pick_path(o->path, 85);
		o->xname = xnames[rnd(NXNAMES)];
		o->mode = chance(15);
		break;
	case OP_FALLOCATE:
		pick_typed(o->path, 90, 'f');
		o->flags = falloc_modes[rnd(NFALLOC_MODES)];
		o->off = (off_t)rnd((unsigned)ref_size(o->path) + 20000);
		o->len = chance(5) ? 0 : 1 + rnd(chance(20) ? 300000 : 20000);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Explicitly set mtimes, by reference inode                            */
/* ------------------------------------------------------------------ */
struct mtime_rec {
	ino_t ino;
	struct timespec mtime;
};
static struct mtime_rec mrec[MAX_ENTRIES];
static int nmrec;

static void mtime_forget(ino_t ino)
{
	for (int i = 0; i < nmrec; i++)
		if (mrec[i].ino == ino)
			mrec[i] = mrec[--nmrec];
}

static void mtime_forget_path(const char *path, bool follow)
{
	struct stat st;

	if (fstatat(root_fd[1], path, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW)
	    == 0)
		mtime_forget(st.st_ino);
}

static void mtime_remember(const char *path, bool follow)
{
	struct stat st;

	if (fstatat(root_fd[1], path, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW)
	    < 0)
		return;
	mtime_forget(st.st_ino);
	if (nmrec < MAX_ENTRIES)
		mrec[nmrec++] = (struct mtime_rec){ st.st_ino, st.st_mtim };
}

static const struct timespec *mtime_explicit(ino_t ino)
{
	for (int i = 0; i < nmrec; i++)
		if (mrec[i].ino == ino)
			return &mrec[i].mtime;
	return NULL;
}

/* Before an op runs on the reference: forget explicit mtimes the op may
 * change in a way filesystems are free to differ on. */
static void mtime_before(const struct op *o)
{
	switch (o->kind) {
	case OP_WRITE:
	case OP_TRUNCATE:
	case OP_FALLOCATE:
		mtime_forget_path(o->path, true);
		break;
	case OP_CREATE:
		if (o->flags & O_TRUNC)
			mtime_forget_path(o->path, true);
		break;
	case OP_RENAME:
		/* a moved directory's ".." changes; so may its mtime */
		mtime_forget_path(o->path, false);
		if (o->flags == (int)RENAME_EXCHANGE)
			mtime_forget_path(o->path2, false);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Tree comparison                                                      */
/* ------------------------------------------------------------------ */
struct ino_pair {
	ino_t ref, mnt;
};
static struct ino_pair pairs[MAX_ENTRIES];
static int npairs;
static char diff[1024];

static bool fail_diff(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static bool fail_diff(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(diff, sizeof(diff), fmt, ap);
	va_end(ap);
	return false;
}

static bool pair_ok(ino_t ref, ino_t mnt)
{
	for (int i = 0; i < npairs; i++) {
		if (pairs[i].ref == ref || pairs[i].mnt == mnt)
			return pairs[i].ref == ref && pairs[i].mnt == mnt;
	}
	if (npairs < MAX_ENTRIES)
		pairs[npairs++] = (struct ino_pair){ ref, mnt };
	return true;
}

static bool same_content(const char *path)
{
	static unsigned char a[65536], b[65536];
	int fa = openat(root_fd[0], path, O_RDONLY);
	int fb = openat(root_fd[1], path, O_RDONLY);
	bool same = fa >= 0 && fb >= 0;
	off_t off = 0;

	if (!same)
		fail_diff("%s: cannot open (%s)", path, strerror(errno));
	while (same) {
		ssize_t na = pread(fa, a, sizeof(a), off);
		ssize_t nb = pread(fb, b, sizeof(b), off);

		if (na != nb || na < 0) {
			same = fail_diff("%s: read at %lld gave %zd (mapfs) "
					 "and %zd (ref)", path, (long long)off,
					 na, nb);
			break;
		}
		if (na == 0)
			break;
		if (memcmp(a, b, (size_t)na) != 0) {
			size_t i = 0;

			while (a[i] == b[i])
				i++;
			same = fail_diff("%s: content differs at byte %lld "
					 "(mapfs %#x, ref %#x)", path,
					 (long long)off + (long long)i, a[i],
					 b[i]);
		}
		off += na;
	}
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return same;
}

/* Sorted names of path's xattrs (not following a symlink) on side. */
static ssize_t xattr_names(int side, const char *path, char *list,
			   size_t cap, char **names, size_t *n)
{
	char p[PATHLEN + 64];
	ssize_t len;

	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", root_fd[side], path);
	len = llistxattr(p, list, cap);
	*n = 0;
	for (ssize_t i = 0; i < len && *n < 64; i += (ssize_t)strlen(list + i)
	     + 1)
		names[(*n)++] = list + i;
	qsort(names, *n, sizeof(names[0]), str_cmp);
	return len;
}

static bool same_xattrs(const char *path)
{
	static char la[8192], lb[8192], va[65536], vb[65536];
	char *na[64], *nb[64], pa[PATHLEN + 64], pb[PATHLEN + 64];
	size_t ca, cb;
	ssize_t a = xattr_names(0, path, la, sizeof(la), na, &ca);
	ssize_t b = xattr_names(1, path, lb, sizeof(lb), nb, &cb);

	if (a < 0 || b < 0)
		return fail_diff("%s: listxattr: %zd (mapfs) and %zd (ref)",
				 path, a, b);
	if (ca != cb)
		return fail_diff("%s: %zu xattrs (mapfs) vs %zu (ref)", path,
				 ca, cb);
	snprintf(pa, sizeof(pa), "/proc/self/fd/%d/%s", root_fd[0], path);
	snprintf(pb, sizeof(pb), "/proc/self/fd/%d/%s", root_fd[1], path);
	for (size_t i = 0; i < ca; i++) {
		ssize_t x, y;

		if (strcmp(na[i], nb[i]))
			return fail_diff("%s: xattr %s (mapfs) vs %s (ref)",
					 path, na[i], nb[i]);
		x = lgetxattr(pa, na[i], va, sizeof(va));
		y = lgetxattr(pb, nb[i], vb, sizeof(vb));
		if (x != y || x < 0 || memcmp(va, vb, (size_t)x))
			return fail_diff("%s: xattr %s: values differ (%zd "
					 "and %zd bytes)", path, na[i], x, y);
	}
	return true;
}

static bool compare_entry(const char *path)
{
	struct stat sa, sb;
	const struct timespec *mt;

	if (fstatat(root_fd[0], path, &sa, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_diff("%s: lstat on mapfs: %s", path,
				 strerror(errno));
	if (fstatat(root_fd[1], path, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_diff("%s: lstat on ref: %s", path, strerror(errno));
	if (sa.st_mode != sb.st_mode)
		return fail_diff("%s: mode %o (mapfs) vs %o (ref)", path,
				 sa.st_mode, sb.st_mode);
	if (sa.st_nlink != sb.st_nlink)
		return fail_diff("%s: nlink %lu (mapfs) vs %lu (ref)", path,
				 (unsigned long)sa.st_nlink,
				 (unsigned long)sb.st_nlink);
	if (sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid)
		return fail_diff("%s: owner %u:%u (mapfs) vs %u:%u (ref)", path,
				 sa.st_uid, sa.st_gid, sb.st_uid, sb.st_gid);
	if (!S_ISDIR(sa.st_mode) && sa.st_size != sb.st_size)
		return fail_diff("%s: size %lld (mapfs) vs %lld (ref)", path,
				 (long long)sa.st_size, (long long)sb.st_size);
	if (!pair_ok(sb.st_ino, sa.st_ino))
		return fail_diff("%s: hard-link structure differs (inode %lu "
				 "on mapfs, %lu on ref)", path,
				 (unsigned long)sa.st_ino,
				 (unsigned long)sb.st_ino);
	mt = mtime_explicit(sb.st_ino);
	if (mt && mt->tv_sec == sb.st_mtim.tv_sec &&
	    mt->tv_nsec == sb.st_mtim.tv_nsec &&
	    (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec ||
	     sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec))
		return fail_diff("%s: mtime %lld.%09ld (mapfs) vs %lld.%09ld "
				 "(ref, set explicitly)", path,
				 (long long)sa.st_mtim.tv_sec,
				 sa.st_mtim.tv_nsec,
				 (long long)sb.st_mtim.tv_sec,
				 sb.st_mtim.tv_nsec);
	if (!same_xattrs(path))
		return false;
	if (S_ISLNK(sa.st_mode)) {
		char ta[PATH_MAX + 1], tb[PATH_MAX + 1];
		ssize_t na = readlinkat(root_fd[0], path, ta, PATH_MAX);
		ssize_t nb = readlinkat(root_fd[1], path, tb, PATH_MAX);

		if (na != nb || na < 0 || memcmp(ta, tb, (size_t)na) != 0)
			return fail_diff("%s: symlink targets differ (%zd and "
					 "%zd bytes)", path, na, nb);
	}
	if (S_ISREG(sa.st_mode))
		return same_content(path);
	return true;
}

static bool compare_tree(const char *dir)
{
	char **na, **nb, path[PATHLEN];
	int ca = list_dir(root_fd[0], dir, &na);
	int cb = list_dir(root_fd[1], dir, &nb);
	bool ok = true;

	if (ca < 0 || cb < 0) {
		ok = fail_diff("/%s: cannot list (%d %d)", dir, ca, cb);
		goto out;
	}
	for (int i = 0, j = 0; ok && (i < ca || j < cb);) {
		int c = i == ca ? 1 : j == cb ? -1 : strcmp(na[i], nb[j]);

		if (c < 0) {
			ok = fail_diff("%s%s%s: only on mapfs", dir,
				       *dir ? "/" : "", na[i]);
			break;
		}
		if (c > 0) {
			ok = fail_diff("%s%s%s: only on ref", dir,
				       *dir ? "/" : "", nb[j]);
			break;
		}
		join(path, dir, na[i]);
		ok = compare_entry(path);
		if (ok) {
			struct stat st;

			if (fstatat(root_fd[1], path, &st,
				    AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISDIR(st.st_mode))
				ok = compare_tree(path);
		}
		i++;
		j++;
	}
out:
	free_names(na, ca < 0 ? 0 : ca);
	free_names(nb, cb < 0 ? 0 : cb);
	return ok;
}

static bool compare_all(void)
{
	struct stat sa, sb;

	npairs = 0;
	if (fstat(root_fd[0], &sa) < 0 || fstat(root_fd[1], &sb) < 0)
		return fail_diff("cannot stat the roots");
	if (sa.st_nlink != sb.st_nlink || sa.st_mode != sb.st_mode)
		return fail_diff("roots differ: nlink %lu/%lu mode %o/%o",
				 (unsigned long)sa.st_nlink,
				 (unsigned long)sb.st_nlink, sa.st_mode,
				 sb.st_mode);
	return compare_tree("");
}

/* ------------------------------------------------------------------ */
static const char *const kind_name[OP_NKINDS] = {
	"create", "write", "truncate", "rename", "link", "unlink", "mkdir",
	"rmdir", "symlink", "chmod", "chown", "utimens", "stat", "read",
	"setxattr", "getxattr", "listxattr", "rmxattr", "fallocate",
};
static unsigned nok[OP_NKINDS], nfailed[OP_NKINDS];

#define HISTORY 16
static char history[HISTORY][1100];

static const char *errname(int e)
{
	const char *n = e ? strerrorname_np(e) : "ok";

	return n ? n : "E?";
}

int main(int argc, char **argv)
{
	char mnt_dir[PATH_MAX], ref_dir[PATH_MAX], desc[1024];
	unsigned long long seed, nops, n;
	int tests = 0, check_every = 100;

	if (argc != 5) {
		fprintf(stderr, "usage: %s MNT_DIR REF_DIR SEED NOPS\n",
			argv[0]);
		return 2;
	}
	seed = strtoull(argv[3], NULL, 0);
	nops = strtoull(argv[4], NULL, 0);
	if (getenv("MAPFS_MODEL_CHECK_EVERY"))
		check_every = atoi(getenv("MAPFS_MODEL_CHECK_EVERY"));
	if (check_every < 1)
		check_every = 100;
	verbose = getenv("MAPFS_MODEL_VERBOSE") &&
		  *getenv("MAPFS_MODEL_VERBOSE") == '1';
	is_root = geteuid() == 0;
	umask(022);
	snprintf(mnt_dir, sizeof(mnt_dir), "%s/model", argv[1]);
	snprintf(ref_dir, sizeof(ref_dir), "%s/model", argv[2]);
	/* NOPS 0 on existing trees: compare them only (after a remount). */
	if ((mkdir(mnt_dir, 0755) < 0 || mkdir(ref_dir, 0755) < 0) &&
	    !(errno == EEXIST && nops == 0)) {
		fprintf(stderr, "model: cannot create %s and %s: %s\n",
			mnt_dir, ref_dir, strerror(errno));
		return 2;
	}
	root_fd[0] = open(mnt_dir, O_RDONLY | O_DIRECTORY);
	root_fd[1] = open(ref_dir, O_RDONLY | O_DIRECTORY);
	if (root_fd[0] < 0 || root_fd[1] < 0) {
		perror("model: open");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# model: seed %llu, %llu operations, %s vs %s\n", seed, nops,
	       mnt_dir, ref_dir);
	rng_seed(seed);

	if (nops == 0) {
		if (!compare_all()) {
			printf("not ok 1 - trees differ: %s\n1..1\n", diff);
			return 1;
		}
		printf("ok 1 - trees equal\n1..1\n");
		return 0;
	}
	for (n = 1; n <= nops; n++) {
		struct res ra, rb;
		struct op o;

		op_generate(&o);
		op_describe(&o, desc, sizeof(desc));
		snprintf(history[n % HISTORY], sizeof(history[0]), "%llu: %s",
			 n, desc);
		if (verbose)
			printf("# %llu: %s\n", n, desc);
		mtime_before(&o);
		op_apply(0, &o, &ra);
		op_apply(1, &o, &rb);
		if (ra.ret != rb.ret || ra.err != rb.err ||
		    ra.extra != rb.extra) {
			printf("not ok %d - op %llu diverges: %s: mapfs %lld %s%s"
			       ", ref %lld %s%s\n", ++tests, n, desc, ra.ret,
			       errname(ra.err),
			       ra.extra != rb.extra ? " (data differs)" : "",
			       rb.ret, errname(rb.err),
			       ra.extra != rb.extra ? " (data differs)" : "");
			goto fail;
		}
		if (rb.ret < 0)
			nfailed[o.kind]++;
		else
			nok[o.kind]++;
		if (o.kind == OP_UTIMENS && rb.ret == 0 &&
		    o.ts[1].tv_nsec != UTIME_NOW && o.ts[1].tv_nsec !=
		    UTIME_OMIT)
			mtime_remember(o.path, !o.flags);
		if (n % (unsigned long long)check_every == 0 && n % 100 &&
		    n != nops && !compare_all()) {
			printf("not ok %d - trees differ after op %llu: %s\n",
			       ++tests, n, diff);
			goto fail;
		}
		if (n % 100 == 0 || n == nops) {
			if (!compare_all()) {
				printf("not ok %d - trees differ after op %llu:"
				       " %s\n", ++tests, n, diff);
				goto fail;
			}
			printf("ok %d - ops %llu..%llu agree, trees equal\n",
			       ++tests, n - (n % 100 ? n % 100 : 100) + 1, n);
		}
	}
	for (int k = 0; k < OP_NKINDS; k++)
		printf("# %-9s %5u ok %5u failed\n", kind_name[k], nok[k],
		       nfailed[k]);
	printf("1..%d\n", tests);
	return 0;

fail:
	printf("# last operations (seed %llu):\n", seed);
	for (unsigned long long k = n > HISTORY ? n - HISTORY + 1 : 1; k <= n;
	     k++)
		printf("#   %s\n", history[k % HISTORY]);
	printf("1..%d\n", tests);
	return 1;
}
