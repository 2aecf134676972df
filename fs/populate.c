/* SPDX-License-Identifier: MIT */
/*
 * populate.c - copy a host tree into a mapfs filesystem (the
 * mapfs-populate library: mkfs.mapfs -d, mapfs-tool put -r). The API and
 * what is copied: include/mapfs_populate.h.
 *
 * Not part of the core: it reads the host, and changes the image only
 * through mapfs_op_* calls, each in its own mapfs_op_begin/mapfs_op_end
 * bracket (one object, one xattr, or one chunk of file data of at most
 * CHUNK bytes per operation), so an image with a journal never has one
 * operation larger than a chunk's metadata.
 *
 * Invariants:
 *  - host descriptors held: one per directory level being walked, plus
 *    the one file being copied; never one per inode;
 *  - a directory's entries are made in strcmp order of their names, and
 *    nothing here reads the clock, so the same tree gives the same image
 *    when the core's clock is fixed (mapfs_clock_fix);
 *  - an object's mode, owner and times are set in one setattr after its
 *    data, xattrs and (for a directory) children, so nothing made later
 *    moves its mtime; the mode is set with the owner so the chown does
 *    not clear setuid/setgid;
 *  - hard links: a non-directory with st_nlink > 1 is remembered by its
 *    host (dev, ino) with the image inode made for it; later names of
 *    it are mapfs_op_link calls.
 */
#include "mapfs_populate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define CHUNK (1u << 20)	/* file data bytes per operation */

struct link_ent {
	dev_t dev;
	ino_t ino;
	mapfs_ino_t img;	/* 0: empty slot */
};

struct pop {
	struct mapfs_fs *fs;
	const struct mapfs_populate_opts *o;
	struct mapfs_populate_stats *st;
	char *path;		/* host path of the object at hand */
	size_t pathlen, pathcap;
	uint8_t *buf;		/* CHUNK bytes: file data */
	char *xnames, *xval;	/* xattr name list and one value */
	size_t xnames_cap, xval_cap;
	struct link_ent *links;	/* open addressing, power-of-two size */
	size_t nlinks, links_cap;
	struct stat image;	/* the image file (st_nlink 0: unknown) */
};

/* An error of the image itself, or no space: no later object can fare
 * better, so it stops the copy even with keep_going. */
static bool fatal(int err)
{
	return err == -ENOSPC || err == -EUCLEAN || err == -EIO ||
	       err == -EROFS || err == -ENOMEM || err == -EDQUOT;
}

static void say(struct pop *p, enum mapfs_log_level lvl, const char *fmt,
		...)
{
	char msg[512];
	va_list ap;
	int n;

	if (!p->o->log)
		return;
	n = snprintf(msg, sizeof(msg), "%s: ", p->path);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	p->o->log(p->o->log_arg, lvl, msg);
}

/* An object failed with err (what: the step). Returns what the caller
 * returns: 0 to go on (keep_going, not fatal), else err. */
static int failed(struct pop *p, int err, const char *what)
{
	say(p, MAPFS_LOG_ERR, "%s: %s", what, strerror(-err));
	p->st->errors++;
	if (p->o->keep_going && !fatal(err))
		return 0;
	return err;
}

/* Append "/name" (or name to an empty path); returns the old length for
 * path_pop, or -ENOMEM. */
static ssize_t path_push(struct pop *p, const char *name)
{
	size_t old = p->pathlen, n = strlen(name);
	size_t need = old + 1 + n + 1;

	if (need > p->pathcap) {
		size_t cap = p->pathcap ? p->pathcap : 256;
		char *np;

		while (cap < need)
			cap *= 2;
		np = realloc(p->path, cap);
		if (!np)
			return -ENOMEM;
		p->path = np;
		p->pathcap = cap;
	}
	if (old && p->path[old - 1] != '/')
		p->path[p->pathlen++] = '/';
	memcpy(p->path + p->pathlen, name, n + 1);
	p->pathlen += n;
	return (ssize_t)old;
}

static void path_pop(struct pop *p, size_t old)
{
	p->pathlen = old;
	p->path[old] = '\0';
}

/* ---- hard links: host (dev, ino) -> image inode ---- */

static size_t link_slot(const struct pop *p, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino * 0x9e3779b97f4a7c15ull) ^ (uint64_t)dev;
	size_t mask = p->links_cap - 1;
	size_t i = (size_t)(h >> 17) & mask;

	while (p->links[i].img &&
	       (p->links[i].dev != dev || p->links[i].ino != ino))
		i = (i + 1) & mask;
	return i;
}

static mapfs_ino_t link_find(const struct pop *p, const struct stat *s)
{
	if (!p->links_cap)
		return 0;
	return p->links[link_slot(p, s->st_dev, s->st_ino)].img;
}

static int link_add(struct pop *p, const struct stat *s, mapfs_ino_t img)
{
	size_t i;

	if ((p->nlinks + 1) * 2 > p->links_cap) {
		size_t cap = p->links_cap ? p->links_cap * 2 : 1024;
		struct link_ent *old = p->links;
		size_t oldcap = p->links_cap;

		p->links = calloc(cap, sizeof(*p->links));
		if (!p->links) {
			p->links = old;
			return -ENOMEM;
		}
		p->links_cap = cap;
		for (size_t j = 0; j < oldcap; j++)
			if (old[j].img)
				p->links[link_slot(p, old[j].dev,
						   old[j].ino)] = old[j];
		free(old);
	}
	i = link_slot(p, s->st_dev, s->st_ino);
	p->links[i].dev = s->st_dev;
	p->links[i].ino = s->st_ino;
	p->links[i].img = img;
	p->nlinks++;
	return 0;
}

/* ---- image operations, each its own bracket ---- */

static int op_done(struct mapfs_fs *fs, int err)
{
	int e2 = mapfs_op_end(fs);

	return err < 0 ? err : e2;
}

static void owner_of(const struct pop *p, const struct stat *s,
		     struct mapfs_cred *cr)
{
	cr->uid = p->o->root_owner ? p->o->uid : (uint32_t)s->st_uid;
	cr->gid = p->o->root_owner ? p->o->gid : (uint32_t)s->st_gid;
}

/* Mode (with setuid/setgid/sticky), owner and times, then for a regular
 * file its size (a hole at the end). One operation. */
static int set_attrs(struct pop *p, mapfs_ino_t ino, const struct stat *s)
{
	struct mapfs_setattr sa = { 0 };
	struct mapfs_inode ip;
	struct mapfs_cred cr;
	int err;

	owner_of(p, s, &cr);
	sa.valid = MAPFS_SET_MODE | MAPFS_SET_UID | MAPFS_SET_GID |
		   MAPFS_SET_ATIME | MAPFS_SET_MTIME;
	if (S_ISREG(s->st_mode)) {
		sa.valid |= MAPFS_SET_SIZE;
		sa.size = (uint64_t)s->st_size;
	}
	sa.mode = (uint32_t)s->st_mode & 07777;
	sa.uid = cr.uid;
	sa.gid = cr.gid;
	sa.atime.sec = s->st_atim.tv_sec;
	sa.atime.nsec = (uint32_t)s->st_atim.tv_nsec;
	sa.mtime.sec = s->st_mtim.tv_sec;
	sa.mtime.nsec = (uint32_t)s->st_mtim.tv_nsec;
	err = mapfs_op_begin(p->fs);
	if (err < 0)
		return err;
	return op_done(p->fs, mapfs_op_setattr(p->fs, ino, &sa,
					       p->o->use_reserve, &ip));
}

/* Names worth copying: what a reader of the tree may have stored. */
static bool xattr_wanted(const char *name)
{
	return !strncmp(name, "user.", 5) || !strncmp(name, "trusted.", 8) ||
	       !strncmp(name, "security.", 9) ||
	       !strcmp(name, "system.posix_acl_access") ||
	       !strcmp(name, "system.posix_acl_default");
}

static int grow(char **bufp, size_t *capp, size_t need)
{
	char *nb;

	if (need <= *capp)
		return 0;
	nb = realloc(*bufp, need);
	if (!nb)
		return -ENOMEM;
	*bufp = nb;
	*capp = need;
	return 0;
}

/* The host's list of xattr names of p->path into p->xnames; its length,
 * 0 when the host has none or does not support them, or -errno. */
static ssize_t xattr_names(struct pop *p)
{
	for (int tries = 0; tries < 4; tries++) {
		ssize_t n = llistxattr(p->path, NULL, 0);
		int err;

		if (n < 0)
			return errno == ENOTSUP ? 0 : -errno;
		if (n == 0)
			return 0;
		err = grow(&p->xnames, &p->xnames_cap, (size_t)n);
		if (err < 0)
			return err;
		n = llistxattr(p->path, p->xnames, p->xnames_cap);
		if (n >= 0)
			return n;
		if (errno != ERANGE)
			return -errno;
	}
	return -ERANGE;
}

/* One value into p->xval: its length, or -errno. */
static ssize_t xattr_value(struct pop *p, const char *name)
{
	for (int tries = 0; tries < 4; tries++) {
		ssize_t n = lgetxattr(p->path, name, NULL, 0);
		int err;

		if (n < 0)
			return -errno;
		err = grow(&p->xval, &p->xval_cap, (size_t)n + 1);
		if (err < 0)
			return err;
		n = lgetxattr(p->path, name, p->xval, p->xval_cap);
		if (n >= 0)
			return n;
		if (errno != ERANGE)
			return -errno;
	}
	return -ERANGE;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Copy the xattrs of p->path to ino, in the order of their names. A
 * value the host will not give us is a warning; one the image refuses
 * is an error of the object (failed). */
static int copy_xattrs(struct pop *p, mapfs_ino_t ino)
{
	ssize_t n = xattr_names(p);
	const char **names;
	size_t count = 0, i = 0;
	int err = 0;

	if (n < 0) {
		say(p, MAPFS_LOG_WARN, "cannot list xattrs: %s",
		    strerror((int)-n));
		return 0;
	}
	for (ssize_t off = 0; off < n;
	     off += (ssize_t)strlen(p->xnames + off) + 1)
		count++;
	if (!count)
		return 0;
	names = malloc(count * sizeof(*names));
	if (!names)
		return -ENOMEM;
	for (ssize_t off = 0; off < n;
	     off += (ssize_t)strlen(p->xnames + off) + 1)
		names[i++] = p->xnames + off;
	qsort(names, count, sizeof(*names), cmp_names);
	for (i = 0; i < count && !err; i++) {
		ssize_t len;

		if (!xattr_wanted(names[i]))
			continue;
		len = xattr_value(p, names[i]);
		if (len < 0) {
			say(p, MAPFS_LOG_WARN, "xattr %s not copied: %s",
			    names[i], strerror((int)-len));
			continue;
		}
		err = mapfs_op_begin(p->fs);
		if (err < 0)
			break;
		err = op_done(p->fs, mapfs_op_setxattr(p->fs, ino, names[i],
						       p->xval, (size_t)len, 0,
						       p->o->use_reserve));
		if (err < 0) {
			char what[300];

			snprintf(what, sizeof(what), "xattr %s", names[i]);
			err = failed(p, err, what);
			continue;
		}
		p->st->xattrs++;
	}
	free(names);
	return err;
}

static bool all_zero(const uint8_t *b, size_t len)
{
	return len == 0 || (b[0] == 0 && !memcmp(b, b + 1, len - 1));
}

/* Write len bytes of p->buf at off of ino, leaving out whole blocks of
 * zeros (as mke2fs -d does): one operation per run of data. */
static int write_chunk(struct pop *p, mapfs_ino_t ino, uint64_t off,
		       size_t len)
{
	uint32_t bsize = p->fs->g.bsize;
	size_t pos = 0;

	while (pos < len) {
		size_t end, run;
		ssize_t n;
		int err;

		/* skip whole zero blocks, then take data up to the next */
		while (pos < len && ((off + pos) % bsize) == 0 &&
		       len - pos >= bsize && all_zero(p->buf + pos, bsize))
			pos += bsize;
		if (pos >= len)
			break;
		end = pos;
		do {
			size_t to = bsize - (size_t)((off + end) % bsize);

			end += to < len - end ? to : len - end;
		} while (end < len && !(len - end >= bsize &&
					all_zero(p->buf + end, bsize)));
		run = end - pos;
		err = mapfs_op_begin(p->fs);
		if (err < 0)
			return err;
		n = mapfs_op_write(p->fs, ino, off + pos, p->buf + pos, run,
				   p->o->use_reserve);
		err = op_done(p->fs, n < 0 ? (int)n : 0);
		if (err < 0)
			return err;
		if ((size_t)n != run)
			return -EIO;
		p->st->bytes += run;
		pos = end;
	}
	return 0;
}

/* The data of the open host file fd (size bytes) into ino: only the
 * ranges SEEK_DATA finds, so holes stay holes. Image errors are
 * returned as they are; host read errors as -errno with *host set. */
static int copy_data(struct pop *p, int fd, uint64_t size, mapfs_ino_t ino,
		     bool *host)
{
	uint64_t off = 0;

	*host = true;
	while (off < size) {
		off_t data = lseek(fd, (off_t)off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break;		/* a hole to the end */
		if (data < 0) {
			if (errno != EINVAL && errno != ENOTSUP)
				return -errno;
			data = (off_t)off;	/* no hole support */
			hole = (off_t)size;
		} else {
			hole = lseek(fd, data, SEEK_HOLE);
			if (hole < 0)
				return -errno;
		}
		if ((uint64_t)hole > size)
			hole = (off_t)size;
		for (off = (uint64_t)data; off < (uint64_t)hole;) {
			uint64_t want = (uint64_t)hole - off;
			ssize_t n;
			int err;

			if (want > CHUNK)
				want = CHUNK;
			n = pread(fd, p->buf, want, (off_t)off);
			if (n < 0)
				return -errno;
			if (n == 0)
				return 0;	/* the file shrank */
			*host = false;
			err = write_chunk(p, ino, off, (size_t)n);
			if (err < 0)
				return err;
			*host = true;
			off += (uint64_t)n;
		}
	}
	return 0;
}

/* Open name in dirfd for reading, without following a symlink and, when
 * we may, without moving its atime. */
static int open_host(int dirfd, const char *name, int flags)
{
	int fd = openat(dirfd, name, flags | O_RDONLY | O_NOFOLLOW |
			O_NOCTTY | O_CLOEXEC | O_NOATIME);

	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, flags | O_RDONLY | O_NOFOLLOW |
			    O_NOCTTY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int copy_tree(struct pop *p, int dirfd, mapfs_ino_t dir);

/* Make the object described by s (hname in dirfd) as name in dir;
 * *made gets its inode. Directories are made empty. -errno; *host tells
 * whether the error came from the host. */
static int make_node(struct pop *p, int dirfd, const char *hname,
		     const char *name, const struct stat *s, mapfs_ino_t dir,
		     mapfs_ino_t *made, bool *host)
{
	struct mapfs_inode ip;
	struct mapfs_cred cr;
	char *target = NULL;
	uint32_t mode = (uint32_t)s->st_mode & (MAPFS_IFMT | 0777);
	int err;

	*host = false;
	owner_of(p, s, &cr);
	if (S_ISLNK(s->st_mode)) {
		size_t cap = (size_t)s->st_size + 1;
		ssize_t n;

		if (cap < 2 || cap > 65536)
			cap = 4096;
		target = malloc(cap);
		if (!target)
			return -ENOMEM;
		n = readlinkat(dirfd, hname, target, cap);
		if (n < 0 || (size_t)n >= cap) {
			err = n < 0 ? -errno : -ENAMETOOLONG;
			free(target);
			*host = true;
			return err;
		}
		target[n] = '\0';
	}
	err = mapfs_op_begin(p->fs);
	if (err < 0) {
		free(target);
		return err;
	}
	if (target)
		err = mapfs_op_symlink(p->fs, &cr, dir, name, target, &ip);
	else
		err = mapfs_op_mknod(p->fs, &cr, dir, name, mode,
				     (S_ISCHR(s->st_mode) ||
				      S_ISBLK(s->st_mode)) ?
				     (uint64_t)s->st_rdev : 0, &ip);
	free(target);
	err = op_done(p->fs, err);
	if (err < 0)
		return err;
	*made = ip.ino;
	if (S_ISDIR(s->st_mode))
		p->st->dirs++;
	else if (S_ISREG(s->st_mode))
		p->st->files++;
	else if (S_ISLNK(s->st_mode))
		p->st->symlinks++;
	else
		p->st->specials++;
	return 0;
}

/* Copy the host object hname of dirfd (stat s, path in p->path) into
 * dir as name: contents, xattrs, children, then mode, owner and times.
 * 0 (also after a logged error with keep_going) or -errno. */
static int copy_one(struct pop *p, int dirfd, const char *hname,
		    const char *name, const struct stat *s, mapfs_ino_t dir)
{
	mapfs_ino_t ino = 0;
	bool host = false;
	int err, fd = -1;

	if (!S_ISREG(s->st_mode) && !S_ISDIR(s->st_mode) &&
	    !S_ISLNK(s->st_mode) && !S_ISFIFO(s->st_mode) &&
	    !S_ISSOCK(s->st_mode) && !S_ISCHR(s->st_mode) &&
	    !S_ISBLK(s->st_mode))
		return failed(p, -EOPNOTSUPP, "file type");
	if (p->image.st_nlink && s->st_dev == p->image.st_dev &&
	    s->st_ino == p->image.st_ino) {
		/* the image inside the tree it is being filled from */
		say(p, MAPFS_LOG_WARN, "the image itself: left out");
		return 0;
	}
	if (!S_ISDIR(s->st_mode) && s->st_nlink > 1) {
		mapfs_ino_t img = link_find(p, s);

		if (img) {
			struct mapfs_inode ip;

			err = mapfs_op_begin(p->fs);
			if (err < 0)
				return err;
			err = op_done(p->fs, mapfs_op_link(p->fs, img, dir,
							   name, &ip));
			if (err < 0)
				return failed(p, err, "link");
			p->st->hardlinks++;
			return 0;
		}
	}
	/* Open first, so an unreadable file or directory is refused before
	 * anything is made for it. */
	if (S_ISREG(s->st_mode) || S_ISDIR(s->st_mode)) {
		fd = open_host(dirfd, hname, S_ISDIR(s->st_mode) ?
				O_DIRECTORY : 0);
		if (fd < 0)
			return failed(p, fd, "open");
	}
	if (S_ISDIR(s->st_mode)) {
		/* an existing directory is merged into */
		err = mapfs_op_lookup(p->fs, dir, name, &ino);
		if (err == 0) {
			struct mapfs_inode ip;

			err = mapfs_op_lookup_ino(p->fs, ino, &ip);
			if (err == 0 && (ip.mode & MAPFS_IFMT) != MAPFS_IFDIR)
				err = -EEXIST;
		} else if (err == -ENOENT) {
			err = make_node(p, dirfd, hname, name, s, dir, &ino, &host);
		}
	} else {
		err = make_node(p, dirfd, hname, name, s, dir, &ino, &host);
	}
	if (err < 0) {
		err = failed(p, err, host ? "read" : "create");
		goto out;
	}
	if (!S_ISDIR(s->st_mode) && s->st_nlink > 1) {
		err = link_add(p, s, ino);
		if (err < 0)
			goto out;
	}
	if (S_ISREG(s->st_mode)) {
		err = copy_data(p, fd, (uint64_t)s->st_size, ino, &host);
		if (err < 0) {
			err = failed(p, err, host ? "read" : "write");
			goto out;
		}
	}
	err = copy_xattrs(p, ino);
	if (err < 0)
		goto out;
	if (S_ISDIR(s->st_mode)) {
		err = copy_tree(p, fd, ino);
		if (err < 0)
			goto out;
	}
	err = set_attrs(p, ino, s);
	if (err < 0)
		err = failed(p, err, "attributes");
out:
	if (fd >= 0)
		close(fd);
	return err;
}

/* The entries of the open host directory dirfd into the image directory
 * dir, in strcmp order of their names. */
static int copy_tree(struct pop *p, int dirfd, mapfs_ino_t dir)
{
	char **names = NULL;
	size_t count = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int fd, err = 0;

	fd = dup(dirfd);
	if (fd < 0)
		return failed(p, -errno, "dup");
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return failed(p, err, "opendir");
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (count == cap) {
			char **nn;

			cap = cap ? cap * 2 : 64;
			nn = realloc(names, cap * sizeof(*names));
			if (!nn) {
				err = -ENOMEM;
				goto out;
			}
			names = nn;
		}
		names[count] = strdup(de->d_name);
		if (!names[count]) {
			err = -ENOMEM;
			goto out;
		}
		count++;
		errno = 0;
	}
	if (errno) {
		err = failed(p, -errno, "readdir");
		if (err < 0)
			goto out;
	}
	closedir(d);
	d = NULL;
	qsort(names, count, sizeof(*names), cmp_names);
	for (i = 0; i < count && !err; i++) {
		ssize_t old = path_push(p, names[i]);
		struct stat s;

		if (old < 0) {
			err = (int)old;
			break;
		}
		if (fstatat(dirfd, names[i], &s, AT_SYMLINK_NOFOLLOW) < 0)
			err = failed(p, -errno, "stat");
		else
			err = copy_one(p, dirfd, names[i], names[i], &s, dir);
		path_pop(p, (size_t)old);
	}
out:
	if (d)
		closedir(d);
	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return err;
}

static int pop_init(struct pop *p, struct mapfs_fs *fs,
		    const struct mapfs_populate_opts *o,
		    struct mapfs_populate_stats *st,
		    struct mapfs_populate_stats *local, const char *path)
{
	memset(p, 0, sizeof(*p));
	p->fs = fs;
	p->o = o;
	p->st = st ? st : local;
	if (!st)
		memset(local, 0, sizeof(*local));
	if (fs->fd < 0 || fstat(fs->fd, &p->image) < 0)
		p->image.st_nlink = 0;
	p->buf = malloc(CHUNK);
	if (!p->buf || path_push(p, path) < 0)
		return -ENOMEM;
	return 0;
}

static void pop_free(struct pop *p)
{
	free(p->buf);
	free(p->path);
	free(p->xnames);
	free(p->xval);
	free(p->links);
}

/* Split host_path into its directory, opened (*dfd), and its last
 * component (*base, inside *copy, which the caller frees): "a/b/" is
 * "a" and "b"; "/" is "/" and ".". */
static int open_parent(const char *host_path, int *dfd, const char **base,
		       char **copy)
{
	char *c = strdup(host_path), *slash;
	size_t n;

	*copy = c;
	if (!c)
		return -ENOMEM;
	n = strlen(c);
	while (n > 1 && c[n - 1] == '/')
		c[--n] = '\0';
	slash = strrchr(c, '/');
	if (!slash) {
		*base = c;
		*dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else if (slash[1] == '\0') {
		*base = ".";	/* the root itself */
		*dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		*slash = '\0';
		*base = slash + 1;
		*dfd = open(slash == c ? "/" : c,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	return *dfd < 0 ? -errno : 0;
}

int mapfs_populate_path(struct mapfs_fs *fs, mapfs_ino_t dir,
			const char *name, const char *host_path,
			const struct mapfs_populate_opts *o,
			struct mapfs_populate_stats *st)
{
	struct mapfs_populate_stats local;
	const char *base;
	char *copy = NULL;
	struct stat s;
	struct pop p;
	int err, dfd = -1;

	if (!*name || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return -EINVAL;
	err = pop_init(&p, fs, o, st, &local, host_path);
	if (err < 0)
		goto out;
	err = open_parent(host_path, &dfd, &base, &copy);
	if (err < 0) {
		err = failed(&p, err, "open");
		goto out;
	}
	if (fstatat(dfd, base, &s, AT_SYMLINK_NOFOLLOW) < 0) {
		err = failed(&p, -errno, "stat");
		goto out;
	}
	err = copy_one(&p, dfd, base, name, &s, dir);
out:
	if (dfd >= 0)
		close(dfd);
	free(copy);
	pop_free(&p);
	return err;
}

int mapfs_populate_dir(struct mapfs_fs *fs, mapfs_ino_t dir,
		       const char *host_dir,
		       const struct mapfs_populate_opts *o,
		       struct mapfs_populate_stats *st)
{
	struct mapfs_populate_stats local;
	struct mapfs_inode ip;
	struct stat s;
	struct pop p;
	int err, fd = -1;

	err = pop_init(&p, fs, o, st, &local, host_dir);
	if (err < 0)
		goto out;
	err = mapfs_op_lookup_ino(fs, dir, &ip);
	if (err == 0 && (ip.mode & MAPFS_IFMT) != MAPFS_IFDIR)
		err = -ENOTDIR;
	if (err < 0)
		goto out;
	fd = open_host(AT_FDCWD, host_dir, O_DIRECTORY);
	if (fd == -ELOOP) {	/* a symlink given by the user: follow it */
		fd = open(host_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			fd = -errno;
	}
	if (fd < 0) {
		err = failed(&p, fd, "open");
		goto out;
	}
	if (fstat(fd, &s) < 0) {
		err = failed(&p, -errno, "stat");
		goto out;
	}
	err = copy_xattrs(&p, dir);
	if (err < 0)
		goto out;
	err = copy_tree(&p, fd, dir);
	if (err < 0)
		goto out;
	err = set_attrs(&p, dir, &s);
	if (err < 0)
		err = failed(&p, err, "attributes");
out:
	if (fd >= 0)
		close(fd);
	pop_free(&p);
	return err;
}
