/* SPDX-License-Identifier: MIT */
/*
 * pconf.c - POSIX/Linux conformance checks, one group per syscall family,
 * plain system calls, TAP output.
 *
 *   pconf DIR [GROUP...]
 *
 * Runs in a new directory DIR/pconf.PID (removed at the end when every
 * check passed). Groups: chmod chown link mkdir mkfifo mknod open rename
 * rmdir symlink truncate unlink utimensat fallocate (all by default). Each check
 * looks at the return value, errno and the resulting metadata: mode,
 * uid/gid, link counts, sizes, and exactly which of atime, mtime and
 * ctime changed, for the parent directories too.
 *
 * Checks run as root and, in forked children, as two unprivileged users:
 * UA (uid 2001, gid 2001, supplementary group 2003) and UB (uid 2002,
 * gid 2002). On FUSE the mount needs -o allow_other. Run as root.
 *
 * The program states what Linux's own filesystems do: it passes on tmpfs
 * and ext4 (run_pconf.sh runs it on tmpfs as a reference first). Where
 * Linux lets a filesystem choose (O_TMPFILE, RENAME_WHITEOUT) either
 * documented answer is accepted and the choice is printed as a comment.
 * On FUSE (statfs f_type), checks that fail because of the kernel's FUSE
 * client are marked TAP "# TODO" and do not fail the run; set
 * PCONF_WRITEBACK=1 when the mount uses the writeback cache.
 *
 * Exit status: 0 all passed, 1 a check failed, 2 usage, 77 not root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tutil.h"
#define UA 2001
#define GA 2001
#define GA2 2003	/* UA's supplementary group */
#define UB 2002
#define GB 2002
#define GX 2009	/* a group neither user is in */

static bool on_fuse, fuse_wb;
static int report_fd = -1;	/* in a child: where done() sends counts */
static char name256[257], name255[256];

/* The next check fails on FUSE (when cond holds) for a reason in the
 * kernel's FUSE client, not the filesystem's: see docs/POSIX.md. */
static void fuse_limit(bool cond, const char *why)
{
	static char buf[256];

	if (on_fuse && cond) {
		snprintf(buf, sizeof(buf), "FUSE: %s", why);
		todo = buf;
	}
}

/* A call that must succeed (>= 0). */
#define OK(call, what) do {						\
		errno = 0;						\
		long r_ = (long)(call);					\
		int e_ = errno;						\
		tap(r_ >= 0, "%s (got %ld %s)", what, r_,		\
		    r_ < 0 ? en(e_) : "");				\
	} while (0)
/* A call that must fail with errno e. */
#define ERR(call, e, what) do {						\
		errno = 0;						\
		long r_ = (long)(call);					\
		int e_ = errno;						\
		tap(r_ < 0 && e_ == (e), "%s: %s (got %ld %s)", what,	\
		    en(e), r_, r_ < 0 ? en(e_) : "");			\
	} while (0)
#define EQ(got, want, what) do {					\
		long long g_ = (long long)(got), w_ = (long long)(want); \
		tap(g_ == w_, "%s: %lld (want %lld)", what, g_, w_);	\
	} while (0)
#define EQO(got, want, what) do {					\
		unsigned long long g_ = (got), w_ = (want);		\
		tap(g_ == w_, "%s: 0%llo (want 0%llo)", what, g_, w_);	\
	} while (0)

/* ------------------------------------------------------------------ */
/* Users                                                               */
/* ------------------------------------------------------------------ */

/*
 * if (as(UA)) { ...checks...; done(); }
 * The parent forks, waits for the child and merges its counts, then
 * skips the block (as() returns 0); the child switches to the user and
 * runs the block, and done() reports its counts and exits.
 */
static int as(uid_t uid)
{
	gid_t groups[2];
	int pfd[2], counts[3];
	size_t ngroups;
	pid_t pid;

	fflush(stdout);
	if (pipe(pfd) < 0) {
		tap(0, "pipe: %s", strerror(errno));
		return 0;
	}
	pid = fork();
	if (pid < 0) {
		tap(0, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return 0;
	}
	if (pid == 0) {
		close(pfd[0]);
		report_fd = pfd[1];
		groups[0] = uid == UA ? GA : GB;
		groups[1] = GA2;
		ngroups = uid == UA ? 2 : 1;
		if (setgroups(ngroups, groups) < 0 || setgid(groups[0]) < 0 ||
		    setuid(uid) < 0) {
			tap(0, "switch to uid %u: %s", (unsigned)uid,
			    strerror(errno));
			counts[0] = ntests;
			counts[1] = nfail;
			counts[2] = ntodo;
			if (write(report_fd, counts, sizeof(counts)) < 0)
				_exit(2);
			_exit(0);
		}
		return 1;
	}
	close(pfd[1]);
	if (read(pfd[0], counts, sizeof(counts)) == sizeof(counts)) {
		ntests = counts[0];
		nfail = counts[1];
		ntodo = counts[2];
	} else {
		tap(0, "child as uid %u reported nothing", (unsigned)uid);
	}
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	return 0;
}

static void done(void)
{
	int counts[3] = { ntests, nfail, ntodo };

	fflush(stdout);
	if (write(report_fd, counts, sizeof(counts)) < 0)
		_exit(2);
	_exit(0);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static struct stat st(const char *path)
{
	struct stat s;

	if (lstat(path, &s) < 0)
		memset(&s, 0xff, sizeof(s));
	return s;
}

#define TA 1
#define TM 2
#define TC 4

static const char *tnames(int m)
{
	static char buf[4][8];
	static int i;
	char *b = buf[i++ % 4];

	snprintf(b, 8, "%s%s%s%s", m & TA ? "a" : "", m & TM ? "m" : "",
		 m & TC ? "c" : "", m ? "" : "-");
	return b;
}

/* Which of atime, mtime, ctime differ between b (before) and a (after):
 * must be exactly want. */
static void times(const char *what, const struct stat *b,
		  const struct stat *a, int want)
{
	int got = (ts_eq(b->st_atim, a->st_atim) ? 0 : TA) |
		  (ts_eq(b->st_mtim, a->st_mtim) ? 0 : TM) |
		  (ts_eq(b->st_ctim, a->st_ctim) ? 0 : TC);

	tap(got == want, "%s: times changed %s (want %s)", what, tnames(got),
	    tnames(want));
}

static void setup_ok(int r, const char *what)
{
	if (r < 0)
		tap(0, "setup: %s: %s", what, strerror(errno));
}

/* Setup steps: they must work, and only failures are reported. */
static void mkf(const char *path, mode_t mode, size_t len)
{
	setup_ok(make_file(path, len, 'x', mode), path);
}

static void mkd(const char *path, mode_t mode)
{
	setup_ok(mkdir(path, 0700), path);
	setup_ok(chmod(path, mode), path);
}

static void own(const char *path, uid_t uid, gid_t gid)
{
	setup_ok(lchown(path, uid, gid), path);
}

static void mode(const char *path, mode_t m)
{
	setup_ok(chmod(path, m), path);
}

static char *pathcat(const char *dir, const char *name)
{
	static char ring[8][PATH_MAX];
	static int i;
	char *p = ring[i++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", dir, name);
	return p;
}

/* ------------------------------------------------------------------ */
/* chmod                                                               */
/* ------------------------------------------------------------------ */
static void g_chmod(void)
{
	struct stat b, a, pb, pa;
	int fd;

	mkd("chmod", 0777);
	mkf("chmod/f", 0644, 100);
	mkd("chmod/d", 0755);
	b = st("chmod/f");
	pb = st("chmod");
	tick();
	OK(chmod("chmod/f", 0600), "chmod file 0600");
	a = st("chmod/f");
	pa = st("chmod");
	EQO(a.st_mode, S_IFREG | 0600, "chmod file: mode");
	times("chmod file", &b, &a, TC);
	times("chmod file: parent", &pb, &pa, 0);
	EQ(a.st_size, 100, "chmod file: size kept");

	b = st("chmod/d");
	tick();
	OK(chmod("chmod/d", 0700), "chmod dir 0700");
	a = st("chmod/d");
	EQO(a.st_mode, S_IFDIR | 0700, "chmod dir: mode");
	times("chmod dir", &b, &a, TC);

	OK(chmod("chmod/f", 07777), "chmod 07777 as root");
	EQO(st("chmod/f").st_mode, S_IFREG | 07777, "chmod 07777: mode");
	OK(chmod("chmod/d", 07777), "chmod dir 07777 as root");
	EQO(st("chmod/d").st_mode, S_IFDIR | 07777, "chmod dir 07777: mode");
	OK(chmod("chmod/f", 0), "chmod 0");
	EQO(st("chmod/f").st_mode, S_IFREG, "chmod 0: mode");

	setup_ok(symlink("f", "chmod/l"), "symlink");
	b = st("chmod/l");
	OK(chmod("chmod/l", 0640), "chmod through a symlink");
	EQO(st("chmod/f").st_mode, S_IFREG | 0640, "chmod symlink: target mode");
	EQO(st("chmod/l").st_mode, S_IFLNK | 0777, "chmod symlink: link mode");
	ERR(fchmodat(AT_FDCWD, "chmod/l", 0600, AT_SYMLINK_NOFOLLOW),
	    EOPNOTSUPP, "fchmodat NOFOLLOW on a symlink");
	EQO(st("chmod/l").st_mode, S_IFLNK | 0777,
	    "fchmodat NOFOLLOW: link mode kept");

	fd = open("chmod/f", O_RDONLY);
	b = st("chmod/f");
	tick();
	OK(fchmod(fd, 0604), "fchmod on a read-only descriptor");
	a = st("chmod/f");
	EQO(a.st_mode, S_IFREG | 0604, "fchmod: mode");
	times("fchmod", &b, &a, TC);
	close(fd);

	ERR(chmod("chmod/none", 0644), ENOENT, "chmod missing");
	ERR(chmod("chmod/f/x", 0644), ENOTDIR, "chmod under a file");
	ERR(chmod(pathcat("chmod", name256), 0644), ENAMETOOLONG,
	    "chmod 256-byte name");
	setup_ok(symlink("loop", "chmod/loop"), "symlink loop");
	ERR(chmod("chmod/loop", 0644), ELOOP, "chmod symlink loop");

	/* as users */
	mkf("chmod/ua", 0644, 0);
	own("chmod/ua", UA, GA);
	mkf("chmod/ua2", 0644, 0);
	own("chmod/ua2", UA, GA2);
	mkf("chmod/uax", 0644, 0);
	own("chmod/uax", UA, GX);
	if (as(UA)) {
		b = st("chmod/ua");
		tick();
		OK(chmod("chmod/ua", 0600), "UA: chmod own file");
		a = st("chmod/ua");
		EQO(a.st_mode, S_IFREG | 0600, "UA: chmod own: mode");
		times("UA: chmod own", &b, &a, TC);
		OK(chmod("chmod/ua", 04755), "UA: set setuid on own file");
		EQO(st("chmod/ua").st_mode, S_IFREG | 04755,
		    "UA: setuid kept");
		OK(chmod("chmod/ua", 01644), "UA: sticky on own file");
		EQO(st("chmod/ua").st_mode, S_IFREG | 01644, "UA: sticky kept");
		OK(chmod("chmod/ua2", 02755),
		   "UA: setgid, file in supplementary group");
		EQO(st("chmod/ua2").st_mode, S_IFREG | 02755,
		    "UA: setgid kept (member)");
		OK(chmod("chmod/uax", 02755), "UA: setgid, file in other group");
		EQO(st("chmod/uax").st_mode, S_IFREG | 0755,
		    "UA: setgid silently dropped (not a member)");
		ERR(chmod("chmod/f", 0777), EPERM, "UA: chmod root's file");
		ERR(chmod("chmod/d", 0777), EPERM, "UA: chmod root's dir");
		done();
	}
	if (as(UB)) {
		b = st("chmod/ua");
		ERR(chmod("chmod/ua", 0777), EPERM, "UB: chmod UA's file");
		a = st("chmod/ua");
		EQO(a.st_mode, b.st_mode, "UB: mode unchanged");
		times("UB: failed chmod", &b, &a, 0);
		done();
	}
}

/* ------------------------------------------------------------------ */
/* chown                                                               */
/* ------------------------------------------------------------------ */
static void g_chown(void)
{
	struct stat b, a, pb, pa;

	mkd("chown", 0777);
	mkf("chown/f", 0644, 10);
	b = st("chown/f");
	pb = st("chown");
	tick();
	OK(chown("chown/f", UA, GA), "root: chown uid and gid");
	a = st("chown/f");
	pa = st("chown");
	EQ(a.st_uid, UA, "chown: uid");
	EQ(a.st_gid, GA, "chown: gid");
	EQO(a.st_mode, S_IFREG | 0644, "chown: mode kept");
	times("chown", &b, &a, TC);
	times("chown: parent", &pb, &pa, 0);

	b = st("chown/f");
	tick();
	OK(chown("chown/f", (uid_t)-1, GB), "root: chgrp only");
	a = st("chown/f");
	EQ(a.st_uid, UA, "chgrp: uid kept");
	EQ(a.st_gid, GB, "chgrp: gid");
	times("chgrp", &b, &a, TC);

	mkd("chown/d", 06755);
	OK(chown("chown/d", UB, GB), "root: chown a setgid directory");
	EQO(st("chown/d").st_mode, S_IFDIR | 06755,
	    "chown dir: setuid/setgid kept on a directory");

	/* Linux clears setuid, and setgid when group-execute is set, on
	 * chown of a non-directory, even by root. */
	mkf("chown/s1", 06755, 0);
	OK(chown("chown/s1", UA, GA), "root: chown 06755 file");
	EQO(st("chown/s1").st_mode, S_IFREG | 0755,
	    "root chown: setuid and setgid cleared");
	mkf("chown/s2", 06745, 0);
	OK(chown("chown/s2", UA, GA), "root: chown 06745 file");
	EQO(st("chown/s2").st_mode, S_IFREG | 02745,
	    "root chown: setgid without group-exec kept");
	mkf("chown/s3", 06755, 0);
	OK(chown("chown/s3", (uid_t)-1, (gid_t)-1), "root: chown -1 -1");
	EQO(st("chown/s3").st_mode, S_IFREG | 0755,
	    "root chown -1 -1: setuid and setgid cleared");

	setup_ok(symlink("f", "chown/l"), "symlink");
	OK(lchown("chown/l", UB, GB), "lchown a symlink");
	EQ(st("chown/l").st_uid, UB, "lchown: link uid");
	EQ(st("chown/f").st_uid, UA, "lchown: target uid kept");
	OK(chown("chown/l", 0, 0), "chown through a symlink");
	EQ(st("chown/f").st_uid, 0, "chown symlink: target uid");
	EQ(st("chown/l").st_uid, UB, "chown symlink: link uid kept");

	ERR(chown("chown/none", 0, 0), ENOENT, "chown missing");
	ERR(chown("chown/f/x", 0, 0), ENOTDIR, "chown under a file");
	ERR(chown(pathcat("chown", name256), 0, 0), ENAMETOOLONG,
	    "chown 256-byte name");

	/* non-root owners */
	mkf("chown/ua", 06775, 0);
	own("chown/ua", UA, GA);
	mode("chown/ua", 06775);
	mkf("chown/ua2", 0644, 0);
	own("chown/ua2", UA, GA);
	mkf("chown/ub", 0644, 0);
	own("chown/ub", UB, GB);
	if (as(UA)) {
		b = st("chown/ua");
		tick();
		OK(chown("chown/ua", (uid_t)-1, GA2),
		   "UA: chgrp own file to supplementary group");
		a = st("chown/ua");
		EQ(a.st_gid, GA2, "UA: chgrp: gid");
		EQO(a.st_mode, S_IFREG | 0775,
		    "UA: chgrp clears setuid and setgid");
		times("UA: chgrp", &b, &a, TC);
		OK(chown("chown/ua", UA, GA), "UA: chown to self, own group");
		ERR(chown("chown/ua", (uid_t)-1, GX), EPERM,
		    "UA: chgrp to a group not its own");
		ERR(chown("chown/ua", UB, (gid_t)-1), EPERM,
		    "UA: give file away");
		ERR(chown("chown/ub", (uid_t)-1, GA), EPERM,
		    "UA: chgrp another's file");
		OK(chown("chown/ua2", (uid_t)-1, (gid_t)-1), "UA: chown -1 -1");
		EQ(st("chown/ua2").st_gid, GA, "UA: chown -1 -1: gid kept");
		done();
	}
	EQ(st("chown/ua").st_uid, UA, "after UA: uid still UA");
	EQ(st("chown/ub").st_gid, GB, "after UA: UB's gid kept");

	/* setgid without group-exec survives a non-root chgrp */
	mkf("chown/ua3", 02745, 0);
	own("chown/ua3", UA, GA);
	mode("chown/ua3", 02745);
	if (as(UA)) {
		OK(chown("chown/ua3", (uid_t)-1, GA2), "UA: chgrp 02745 file");
		EQO(st("chown/ua3").st_mode, S_IFREG | 02745,
		    "UA: chgrp: S_ISGID without S_IXGRP kept");
		done();
	}
}

/* ------------------------------------------------------------------ */
/* link                                                                */
/* ------------------------------------------------------------------ */
static void g_link(void)
{
	struct stat b, a, pb, pa, db, da;

	mkd("link", 0777);
	mkd("link/d", 0777);
	mkd("link/e", 0755);
	mkf("link/f", 0644, 7);
	b = st("link/f");
	pb = st("link");
	db = st("link/d");
	tick();
	OK(link("link/f", "link/d/g"), "link into a subdirectory");
	a = st("link/f");
	pa = st("link");
	da = st("link/d");
	EQ(a.st_nlink, 2, "link: nlink");
	EQ(st("link/d/g").st_ino, a.st_ino, "link: same inode");
	EQ(st("link/d/g").st_nlink, 2, "link: nlink through new name");
	EQ(st("link/d/g").st_size, 7, "link: size");
	times("link: target", &b, &a, TC);
	times("link: source dir", &pb, &pa, 0);
	times("link: new name's dir", &db, &da, TM | TC);

	OK(link("link/f", "link/h"), "link in the same directory");
	EQ(st("link/f").st_nlink, 3, "link: nlink 3");

	ERR(link("link/f", "link/h"), EEXIST, "link onto an existing name");
	ERR(link("link/f", "link/d"), EEXIST, "link onto a directory");
	ERR(link("link/d", "link/dd"), EPERM, "link a directory");
	ERR(link("link/none", "link/x"), ENOENT, "link missing source");
	ERR(link("link/f", "link/none/x"), ENOENT, "link into missing dir");
	ERR(link("link/f", "link/f/x"), ENOTDIR, "link under a file");
	ERR(link("link/f/x", "link/x"), ENOTDIR, "link source under a file");
	ERR(link("link/f", pathcat("link", name256)), ENAMETOOLONG,
	    "link 256-byte name");
	OK(link("link/f", pathcat("link", name255)), "link 255-byte name");
	EQ(st("link/f").st_nlink, 4, "link 255: nlink 4");
	setup_ok(symlink("f", "link/l"), "symlink");
	OK(linkat(AT_FDCWD, "link/l", AT_FDCWD, "link/l2", 0),
	   "linkat a symlink (no follow)");
	EQ(st("link/l2").st_ino, st("link/l").st_ino, "link symlink: same");
	EQO(st("link/l2").st_mode, S_IFLNK | 0777, "link symlink: type");
	EQ(st("link/l").st_nlink, 2, "link symlink: nlink");
	OK(linkat(AT_FDCWD, "link/l", AT_FDCWD, "link/l3", AT_SYMLINK_FOLLOW),
	   "linkat AT_SYMLINK_FOLLOW");
	EQ(st("link/l3").st_ino, st("link/f").st_ino,
	   "link follow: target's inode");
	EQ(st("link/f").st_nlink, 5, "link follow: nlink 5");

	/* unlinking one name: the others' ctime moves */
	b = st("link/f");
	tick();
	OK(unlink("link/h"), "unlink one of the names");
	a = st("link/f");
	EQ(a.st_nlink, 4, "unlink: nlink 4");
	times("unlink: remaining name", &b, &a, TC);

	/* permissions */
	mkf("link/ua", 0644, 0);
	own("link/ua", UA, GA);
	if (as(UA)) {
		ERR(link("link/ua", "link/e/x"), EACCES,
		    "UA: link into non-writable dir");
		OK(link("link/ua", "link/d/ua"), "UA: link own file");
		done();
	}
	EQ(st("link/ua").st_nlink, 2, "after UA: nlink 2");
}

/* ------------------------------------------------------------------ */
/* mkdir                                                               */
/* ------------------------------------------------------------------ */
static void g_mkdir(void)
{
	struct stat a, pb, pa;

	mkd("mkdir", 0777);
	pb = st("mkdir");
	tick();
	OK(mkdir("mkdir/d", 0777), "mkdir");
	a = st("mkdir/d");
	pa = st("mkdir");
	EQO(a.st_mode, S_IFDIR | 0755, "mkdir: mode & ~umask");
	EQ(a.st_nlink, 2, "mkdir: nlink 2");
	EQ(a.st_uid, 0, "mkdir: uid");
	EQ(a.st_gid, 0, "mkdir: gid");
	EQ(pa.st_nlink, pb.st_nlink + 1, "mkdir: parent nlink + 1");
	times("mkdir: parent", &pb, &pa, TM | TC);
	tap(ts_eq(a.st_mtim, a.st_ctim) && ts_eq(a.st_atim, a.st_mtim),
	    "mkdir: atime = mtime = ctime");
	tap(a.st_ctim.tv_sec > pb.st_ctim.tv_sec ||
	    (a.st_ctim.tv_sec == pb.st_ctim.tv_sec &&
	     a.st_ctim.tv_nsec > pb.st_ctim.tv_nsec), "mkdir: times are now");
	EQ(st("mkdir/d/..").st_ino, st("mkdir").st_ino, "mkdir: .. is parent");

	umask(0);
	OK(mkdir("mkdir/all", 07777), "mkdir 07777, umask 0");
	EQO(st("mkdir/all").st_mode, S_IFDIR | 01777,
	    "mkdir 07777: setuid/setgid dropped, sticky kept");
	umask(022);
	OK(mkdir("mkdir/slash/", 0755), "mkdir with a trailing slash");
	EQO(st("mkdir/slash").st_mode, S_IFDIR | 0755, "trailing slash: dir");

	ERR(mkdir("mkdir/d", 0755), EEXIST, "mkdir existing dir");
	mkf("mkdir/f", 0644, 0);
	ERR(mkdir("mkdir/f", 0755), EEXIST, "mkdir existing file");
	setup_ok(symlink("nowhere", "mkdir/dl"), "symlink");
	ERR(mkdir("mkdir/dl", 0755), EEXIST, "mkdir over a dangling symlink");
	ERR(mkdir("mkdir/none/x", 0755), ENOENT, "mkdir missing parent");
	ERR(mkdir("mkdir/f/x", 0755), ENOTDIR, "mkdir under a file");
	ERR(mkdir(pathcat("mkdir", name256), 0755), ENAMETOOLONG,
	    "mkdir 256-byte name");
	OK(mkdir(pathcat("mkdir", name255), 0755), "mkdir 255-byte name");
	ERR(mkdir("mkdir/.", 0755), EEXIST, "mkdir .");
	ERR(mkdir("mkdir/..", 0755), EEXIST, "mkdir ..");

	/* setgid directory inheritance */
	mkd("mkdir/sg", 02777);
	own("mkdir/sg", 0, GX);
	mode("mkdir/sg", 02777);
	OK(mkdir("mkdir/sg/sub", 0755), "mkdir in setgid dir");
	a = st("mkdir/sg/sub");
	EQ(a.st_gid, GX, "setgid dir: subdir inherits group");
	EQO(a.st_mode, S_IFDIR | 02755, "setgid dir: subdir inherits setgid");
	mkd("mkdir/ro", 0755);
	if (as(UA)) {
		OK(mkdir("mkdir/ua", 0777), "UA: mkdir");
		a = st("mkdir/ua");
		EQ(a.st_uid, UA, "UA: mkdir: uid");
		EQ(a.st_gid, GA, "UA: mkdir: gid is fsgid");
		OK(mkdir("mkdir/sg/ua", 0755), "UA: mkdir in setgid dir");
		a = st("mkdir/sg/ua");
		EQ(a.st_uid, UA, "UA: setgid dir: uid");
		EQ(a.st_gid, GX, "UA: setgid dir: group from parent");
		EQO(a.st_mode, S_IFDIR | 02755, "UA: setgid dir: setgid kept");
		ERR(mkdir("mkdir/ro/x", 0755), EACCES,
		    "UA: mkdir in non-writable dir");
		done();
	}
}

/* ------------------------------------------------------------------ */
/* mkfifo                                                              */
/* ------------------------------------------------------------------ */
static void g_mkfifo(void)
{
	struct stat b, a, pb, pa;
	char buf[8];
	int r, w;

	mkd("mkfifo", 0777);
	pb = st("mkfifo");
	tick();
	OK(mkfifo("mkfifo/p", 0666), "mkfifo");
	a = st("mkfifo/p");
	pa = st("mkfifo");
	EQO(a.st_mode, S_IFIFO | 0644, "mkfifo: mode & ~umask");
	EQ(a.st_nlink, 1, "mkfifo: nlink");
	EQ(a.st_size, 0, "mkfifo: size 0");
	EQ(a.st_uid, 0, "mkfifo: uid");
	times("mkfifo: parent", &pb, &pa, TM | TC);
	EQ(pa.st_nlink, pb.st_nlink, "mkfifo: parent nlink kept");
	ERR(mkfifo("mkfifo/p", 0666), EEXIST, "mkfifo existing");
	ERR(mkfifo("mkfifo/none/p", 0666), ENOENT, "mkfifo missing parent");
	ERR(mkfifo(pathcat("mkfifo", name256), 0666), ENAMETOOLONG,
	    "mkfifo 256-byte name");
	ERR(open("mkfifo/p", O_WRONLY | O_NONBLOCK), ENXIO,
	    "open fifo for writing without a reader");
	r = open("mkfifo/p", O_RDONLY | O_NONBLOCK);
	tap(r >= 0, "open fifo for reading, nonblocking");
	w = open("mkfifo/p", O_WRONLY | O_NONBLOCK);
	tap(w >= 0, "open fifo for writing with a reader");
	b = st("mkfifo/p");
	EQ(write(w, "hello", 5), 5, "write into the fifo");
	EQ(read(r, buf, sizeof(buf)), 5, "read from the fifo");
	tap(memcmp(buf, "hello", 5) == 0, "fifo data");
	EQ(st("mkfifo/p").st_size, 0, "fifo size stays 0");
	close(w);
	close(r);
	(void)b;
	if (as(UB)) {
		OK(mkfifo("mkfifo/ub", 0600), "UB: mkfifo");
		EQ(st("mkfifo/ub").st_uid, UB, "UB: mkfifo uid");
		done();
	}
}

/* ------------------------------------------------------------------ */
/* mknod                                                               */
/* ------------------------------------------------------------------ */
static void g_mknod(void)
{
	struct sockaddr_un sa;
	struct stat a, pb, pa;
	int s;

	mkd("mknod", 0777);
	pb = st("mknod");
	tick();
	OK(mknod("mknod/c", S_IFCHR | 0640, makedev(1, 3)), "mknod char");
	pa = st("mknod");
	a = st("mknod/c");
	EQO(a.st_mode, S_IFCHR | 0640, "mknod char: mode");
	EQ(major(a.st_rdev), 1, "mknod char: major");
	EQ(minor(a.st_rdev), 3, "mknod char: minor");
	times("mknod: parent", &pb, &pa, TM | TC);
	OK(mknod("mknod/b", S_IFBLK | 0600, makedev(259, 65537)),
	   "mknod block, big numbers");
	a = st("mknod/b");
	EQO(a.st_mode, S_IFBLK | 0600, "mknod block: mode");
	EQ(major(a.st_rdev), 259, "mknod block: major");
	EQ(minor(a.st_rdev), 65537, "mknod block: minor");
	OK(mknod("mknod/p", S_IFIFO | 0666, 0), "mknod fifo");
	EQO(st("mknod/p").st_mode, S_IFIFO | 0644, "mknod fifo: mode");
	OK(mknod("mknod/s", S_IFSOCK | 0600, 0), "mknod socket");
	EQO(st("mknod/s").st_mode, S_IFSOCK | 0600, "mknod socket: mode");
	OK(mknod("mknod/r", S_IFREG | 0600, 0), "mknod regular");
	a = st("mknod/r");
	EQO(a.st_mode, S_IFREG | 0600, "mknod regular: mode");
	EQ(a.st_size, 0, "mknod regular: size");
	OK(mknod("mknod/z", 0600, 0), "mknod type 0 (regular)");
	EQO(st("mknod/z").st_mode, S_IFREG | 0600, "mknod type 0: mode");
	ERR(mknod("mknod/d", S_IFDIR | 0755, 0), EPERM, "mknod directory");
	ERR(mknod("mknod/c", S_IFCHR | 0600, makedev(1, 3)), EEXIST,
	    "mknod existing");
	ERR(mknod(pathcat("mknod", name256), S_IFIFO | 0600, 0),
	    ENAMETOOLONG, "mknod 256-byte name");
	ERR(mknod("mknod/none/x", S_IFIFO | 0600, 0), ENOENT,
	    "mknod missing parent");

	s = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "mknod/sock");
	OK(bind(s, (struct sockaddr *)&sa, sizeof(sa)), "bind a unix socket");
	tap(S_ISSOCK(st("mknod/sock").st_mode), "bound socket is S_IFSOCK");
	close(s);

	if (as(UA)) {
		ERR(mknod("mknod/uc", S_IFCHR | 0600, makedev(1, 3)), EPERM,
		    "UA: mknod char");
		ERR(mknod("mknod/ub", S_IFBLK | 0600, makedev(7, 0)), EPERM,
		    "UA: mknod block");
		OK(mknod("mknod/up", S_IFIFO | 0600, 0), "UA: mknod fifo");
		OK(mknod("mknod/us", S_IFSOCK | 0600, 0), "UA: mknod socket");
		EQ(st("mknod/us").st_uid, UA, "UA: socket uid");
		done();
	}
}

/* ------------------------------------------------------------------ */
/* open                                                                */
/* ------------------------------------------------------------------ */
static void g_open(void)
{
	struct stat b, a, pb, pa;
	char buf[64];
	int fd;

	mkd("open", 0777);
	mkd("open/d", 0755);
	pb = st("open");
	tick();
	fd = open("open/f", O_CREAT | O_WRONLY, 0666);
	tap(fd >= 0, "O_CREAT new file");
	close(fd);
	a = st("open/f");
	pa = st("open");
	EQO(a.st_mode, S_IFREG | 0644, "O_CREAT: mode & ~umask");
	EQ(a.st_size, 0, "O_CREAT: size 0");
	EQ(a.st_nlink, 1, "O_CREAT: nlink 1");
	EQ(a.st_uid, 0, "O_CREAT: uid");
	EQ(a.st_gid, 0, "O_CREAT: gid");
	tap(ts_eq(a.st_mtim, a.st_ctim) && ts_eq(a.st_atim, a.st_mtim),
	    "O_CREAT: atime = mtime = ctime");
	times("O_CREAT: parent", &pb, &pa, TM | TC);

	b = st("open/f");
	pb = st("open");
	tick();
	fd = open("open/f", O_CREAT | O_WRONLY, 0600);
	tap(fd >= 0, "O_CREAT on an existing file opens it");
	close(fd);
	a = st("open/f");
	pa = st("open");
	times("O_CREAT existing: file", &b, &a, 0);
	times("O_CREAT existing: parent", &pb, &pa, 0);
	EQO(a.st_mode, S_IFREG | 0644, "O_CREAT existing: mode kept");

	ERR(open("open/f", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST,
	    "O_CREAT|O_EXCL existing");
	ERR(open("open/d", O_CREAT | O_EXCL | O_RDONLY, 0644), EEXIST,
	    "O_CREAT|O_EXCL existing dir");
	setup_ok(symlink("dt", "open/dl"), "symlink");
	ERR(open("open/dl", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST,
	    "O_CREAT|O_EXCL on a dangling symlink");
	ERR(lstat("open/dt", &a), ENOENT, "O_EXCL: link target not created");
	fd = open("open/dl", O_CREAT | O_WRONLY, 0644);
	tap(fd >= 0, "O_CREAT through a dangling symlink");
	close(fd);
	tap(S_ISREG(st("open/dt").st_mode), "O_CREAT: link target created");

	/* O_TRUNC */
	mkf("open/t", 0644, 5000);
	b = st("open/t");
	tick();
	fd = open("open/t", O_WRONLY | O_TRUNC);
	tap(fd >= 0, "O_TRUNC");
	close(fd);
	a = st("open/t");
	EQ(a.st_size, 0, "O_TRUNC: size 0");
	times("O_TRUNC nonempty", &b, &a, TM | TC);
	b = a;
	tick();
	fd = open("open/t", O_WRONLY | O_TRUNC);
	close(fd);
	a = st("open/t");
	times("O_TRUNC on an empty file", &b, &a, TM | TC);
	b = a;
	tick();
	fd = open("open/t", O_RDWR);
	close(fd);
	a = st("open/t");
	times("open O_RDWR, no write", &b, &a, 0);

	/* O_APPEND */
	mkf("open/ap", 0644, 10);
	fd = open("open/ap", O_WRONLY | O_APPEND);
	lseek(fd, 0, SEEK_SET);
	EQ(write(fd, "abc", 3), 3, "O_APPEND write");
	EQ(lseek(fd, 0, SEEK_CUR), 13, "O_APPEND: offset at new end");
	EQ(pwrite(fd, "z", 1, 0), 1, "O_APPEND pwrite at 0");
	close(fd);
	EQ(st("open/ap").st_size, 14, "O_APPEND: pwrite appends too (Linux)");
	fd = open("open/ap", O_RDONLY);
	memset(buf, 0, sizeof(buf));
	EQ(pread(fd, buf, sizeof(buf), 0), 14, "O_APPEND: read back");
	tap(memcmp(buf, "xxxxxxxxxxabcz", 14) == 0, "O_APPEND: content");
	close(fd);

	/* O_DIRECTORY, O_NOFOLLOW, O_PATH */
	ERR(open("open/f", O_RDONLY | O_DIRECTORY), ENOTDIR,
	    "O_DIRECTORY on a file");
	fd = open("open/d", O_RDONLY | O_DIRECTORY);
	tap(fd >= 0, "O_DIRECTORY on a dir");
	close(fd);
	ERR(open("open/nd", O_RDONLY | O_DIRECTORY | O_CREAT, 0755), EINVAL,
	    "O_DIRECTORY|O_CREAT");
	setup_ok(symlink("f", "open/l"), "symlink");
	ERR(open("open/l", O_RDONLY | O_NOFOLLOW), ELOOP,
	    "O_NOFOLLOW on a symlink");
	fd = open("open/l", O_RDONLY | O_NOFOLLOW);
	if (fd >= 0)
		close(fd);
	fd = open("open/l", O_PATH | O_NOFOLLOW);
	tap(fd >= 0, "O_PATH|O_NOFOLLOW on a symlink");
	if (fd >= 0) {
		tap(fstat(fd, &a) == 0 && S_ISLNK(a.st_mode),
		    "O_PATH|O_NOFOLLOW: fstat says symlink");
		close(fd);
	}
	fd = open("open/f", O_PATH);
	tap(fd >= 0, "O_PATH on a file");
	ERR(read(fd, buf, 1), EBADF, "read on an O_PATH descriptor");
	ERR(fchmod(fd, 0600), EBADF, "fchmod on an O_PATH descriptor");
	tap(fstat(fd, &a) == 0 && S_ISREG(a.st_mode) && a.st_size == 0,
	    "fstat on an O_PATH descriptor");
	close(fd);
	fd = open("open/d/../f", O_RDONLY);
	tap(fd >= 0, "open through ..");
	close(fd);

	/* O_TMPFILE: a filesystem may not support it (EOPNOTSUPP) */
	fd = open("open/d", O_TMPFILE | O_RDWR, 0640);
	if (fd < 0) {
		tap(errno == EOPNOTSUPP, "O_TMPFILE: works or EOPNOTSUPP "
		    "(got %s)", en(errno));
		note("O_TMPFILE not supported here (EOPNOTSUPP)");
	} else {
		char proc[64];

		note("O_TMPFILE supported");
		tap(fstat(fd, &a) == 0 && a.st_nlink == 0 &&
		    a.st_mode == (S_IFREG | 0640), "O_TMPFILE: nlink 0, mode");
		EQ(write(fd, "tmp", 3), 3, "O_TMPFILE: write");
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		OK(linkat(AT_FDCWD, proc, AT_FDCWD, "open/d/tmp",
			  AT_SYMLINK_FOLLOW), "O_TMPFILE: link it in");
		EQ(st("open/d/tmp").st_size, 3, "O_TMPFILE: linked size");
		EQ(st("open/d/tmp").st_nlink, 1, "O_TMPFILE: linked nlink");
		close(fd);
	}

	/* errors */
	ERR(open("open/none", O_RDONLY), ENOENT, "open missing");
	ERR(open("open/none/x", O_CREAT | O_WRONLY, 0644), ENOENT,
	    "O_CREAT missing parent");
	ERR(open("open/f/x", O_RDONLY), ENOTDIR, "open under a file");
	ERR(open("open/d", O_WRONLY), EISDIR, "open dir for writing");
	ERR(open("open/d", O_CREAT | O_WRONLY, 0644), EISDIR,
	    "O_CREAT on an existing dir");
	ERR(open("open/new/", O_CREAT | O_WRONLY, 0644), EISDIR,
	    "O_CREAT with a trailing slash");
	ERR(open("open/f/", O_RDONLY), ENOTDIR, "file with a trailing slash");
	ERR(open(pathcat("open", name256), O_CREAT | O_WRONLY, 0644),
	    ENAMETOOLONG, "O_CREAT 256-byte name");
	fd = open(pathcat("open", name255), O_CREAT | O_WRONLY, 0644);
	tap(fd >= 0, "O_CREAT 255-byte name");
	close(fd);
	setup_ok(symlink("loop", "open/loop"), "symlink loop");
	ERR(open("open/loop", O_RDONLY), ELOOP, "open symlink loop");
	ERR(open("open/loop", O_CREAT | O_WRONLY, 0644), ELOOP,
	    "O_CREAT symlink loop");

	/* permissions */
	mkf("open/r0", 0, 3);
	fd = open("open/r0", O_RDWR);
	tap(fd >= 0, "root opens a mode 0 file");
	close(fd);
	mkf("open/ro", 0444, 0);
	own("open/ro", UA, GA);
	mkf("open/p600", 0600, 0);
	mkd("open/sg", 02777);
	own("open/sg", 0, GA2);
	mode("open/sg", 02777);
	mkf("open/su", 06777, 10);
	mkf("open/sg2", 02767, 10);
	mkf("open/sg3", 02767, 10);
	own("open/sg3", 0, GA);
	mode("open/sg3", 02767);
	mkf("open/su3", 06777, 10);
	mkf("open/su4", 06777, 10);
	mkf("open/su5", 06777, 10);
	mkf("open/src", 0644, 10);
	if (as(UA)) {
		ERR(open("open/ro", O_WRONLY), EACCES,
		    "UA: open own 0444 file for writing");
		ERR(open("open/p600", O_RDONLY), EACCES,
		    "UA: open root's 0600 file");
		ERR(open("open/d/x", O_CREAT | O_WRONLY, 0644), EACCES,
		    "UA: O_CREAT in root's 0755 dir");
		fd = open("open/ua", O_CREAT | O_WRONLY, 0644);
		tap(fd >= 0, "UA: O_CREAT in a 0777 dir");
		close(fd);
		a = st("open/ua");
		EQ(a.st_uid, UA, "UA: O_CREAT: uid");
		EQ(a.st_gid, GA, "UA: O_CREAT: gid");
		fd = open("open/sg/ua", O_CREAT | O_WRONLY, 02775);
		close(fd);
		a = st("open/sg/ua");
		EQ(a.st_gid, GA2, "UA: setgid dir: file gets dir's group");
		EQO(a.st_mode, S_IFREG | 02755,
		    "UA: setgid dir: member keeps S_ISGID");
		fd = open("open/su", O_WRONLY);
		EQ(write(fd, "a", 1), 1, "UA: write to 06777 file");
		close(fd);
		EQO(st("open/su").st_mode, S_IFREG | 0777,
		    "UA: write clears setuid and setgid");
		fd = open("open/sg2", O_WRONLY);
		EQ(write(fd, "a", 1), 1, "UA: write to 02767 file");
		close(fd);
		EQO(st("open/sg2").st_mode, S_IFREG | 0767,
		    "UA: write clears setgid without group-exec, "
		    "not in file's group");
		fd = open("open/sg3", O_WRONLY);
		EQ(write(fd, "a", 1), 1, "UA: write to 02767 file of its group");
		close(fd);
		EQO(st("open/sg3").st_mode, S_IFREG | 02767,
		    "UA: write keeps setgid without group-exec, in group");
		fd = open("open/su4", O_WRONLY | O_TRUNC);
		tap(fd >= 0, "UA: O_TRUNC open of a 06777 file");
		close(fd);
		EQO(st("open/su4").st_mode, S_IFREG | 0777,
		    "UA: O_TRUNC clears setuid and setgid");
		{
			int in = open("open/src", O_RDONLY);
			loff_t o = 0;

			fd = open("open/su5", O_WRONLY);
			EQ(copy_file_range(in, NULL, fd, &o, 5, 0), 5,
			   "UA: copy_file_range into a 06777 file");
			close(fd);
			close(in);
		}
		EQO(st("open/su5").st_mode, S_IFREG | 0777,
		    "UA: copy_file_range clears setuid and setgid");
		done();
	}
	/* Once more after the bits are back: a kernel that remembered the
	 * file as having nothing to clear would keep them now. */
	setup_ok(chmod("open/su", 06777), "chmod 06777 again");
	if (as(UA)) {
		fd = open("open/su", O_WRONLY);
		EQ(write(fd, "b", 1), 1, "UA: write to 06777 file again");
		close(fd);
		EQO(st("open/su").st_mode, S_IFREG | 0777,
		    "UA: second write clears setuid and setgid again");
		done();
	}
	if (as(UB)) {
		fd = open("open/sg/ub", O_CREAT | O_WRONLY, 02775);
		tap(fd >= 0, "UB: O_CREAT in setgid dir");
		close(fd);
		a = st("open/sg/ub");
		EQ(a.st_gid, GA2, "UB: setgid dir: file gets dir's group");
		EQO(a.st_mode, S_IFREG | 0755,
		    "UB: setgid dir: non-member loses S_ISGID");
		done();
	}
	fd = open("open/su3", O_WRONLY);
	EQ(write(fd, "a", 1), 1, "root: write to 06777 file");
	close(fd);
	EQO(st("open/su3").st_mode, S_IFREG | 06777,
	    "root: write keeps setuid and setgid");
}

/* ------------------------------------------------------------------ */
/* rename                                                              */
/* ------------------------------------------------------------------ */
static void g_rename(void)
{
	struct stat b, a, pb, pa, qb, qa, xb, xa;

	mkd("rename", 0777);
	mkd("rename/p", 0777);
	mkd("rename/q", 0777);
	mkf("rename/p/f", 0644, 11);
	b = st("rename/p/f");
	pb = st("rename/p");
	tick();
	OK(rename("rename/p/f", "rename/p/g"), "rename in one dir");
	a = st("rename/p/g");
	pa = st("rename/p");
	EQ(a.st_ino, b.st_ino, "rename: same inode");
	EQ(a.st_nlink, 1, "rename: nlink");
	EQ(a.st_size, 11, "rename: size");
	ERR(lstat("rename/p/f", &xa), ENOENT, "rename: old name gone");
	times("rename: moved file", &b, &a, TC);
	times("rename: dir", &pb, &pa, TM | TC);
	EQ(pa.st_nlink, pb.st_nlink, "rename file: dir nlink kept");

	b = a;
	pb = pa;
	qb = st("rename/q");
	tick();
	OK(rename("rename/p/g", "rename/q/g"), "rename across dirs");
	a = st("rename/q/g");
	pa = st("rename/p");
	qa = st("rename/q");
	times("rename across: file", &b, &a, TC);
	times("rename across: old dir", &pb, &pa, TM | TC);
	times("rename across: new dir", &qb, &qa, TM | TC);

	/* over an existing file that has another link */
	mkf("rename/q/v", 0644, 3);
	setup_ok(link("rename/q/v", "rename/q/v2"), "link");
	xb = st("rename/q/v2");
	b = st("rename/q/g");
	tick();
	OK(rename("rename/q/g", "rename/q/v"), "rename over a file");
	xa = st("rename/q/v2");
	a = st("rename/q/v");
	EQ(a.st_ino, b.st_ino, "rename over: new name is the moved inode");
	EQ(xa.st_nlink, 1, "rename over: replaced inode nlink - 1");
	times("rename over: replaced inode", &xb, &xa, TC);

	/* directories */
	mkd("rename/p/d", 0755);
	mkd("rename/p/d/sub", 0755);
	pb = st("rename/p");
	qb = st("rename/q");
	b = st("rename/p/d");
	tick();
	OK(rename("rename/p/d", "rename/q/d"), "rename dir across dirs");
	pa = st("rename/p");
	qa = st("rename/q");
	a = st("rename/q/d");
	EQ(pa.st_nlink, pb.st_nlink - 1, "rename dir: old parent nlink - 1");
	EQ(qa.st_nlink, qb.st_nlink + 1, "rename dir: new parent nlink + 1");
	EQ(a.st_nlink, 3, "rename dir: own nlink kept");
	EQ(st("rename/q/d/..").st_ino, qa.st_ino, "rename dir: .. updated");
	tap(!ts_eq(b.st_ctim, a.st_ctim), "rename dir: its ctime changed");
	times("rename dir: old parent", &pb, &pa, TM | TC);
	times("rename dir: new parent", &qb, &qa, TM | TC);

	mkd("rename/q/e", 0755);
	qb = st("rename/q");
	OK(rename("rename/q/d/sub", "rename/q/e"), "rename dir over empty dir");
	qa = st("rename/q");
	EQ(qa.st_nlink, qb.st_nlink, "dir over empty dir: nlink (+1 -1)");
	EQ(st("rename/q/d").st_nlink, 2, "dir over empty dir: old parent");
	mkd("rename/q/e/x", 0755);
	mkd("rename/q/d/y", 0755);
	ERR(rename("rename/q/d", "rename/q/e"), ENOTEMPTY,
	    "rename dir over non-empty dir");
	mkf("rename/q/ff", 0644, 0);
	ERR(rename("rename/q/ff", "rename/q/d"), EISDIR,
	    "rename file over dir");
	ERR(rename("rename/q/d", "rename/q/ff"), ENOTDIR,
	    "rename dir over file");
	ERR(rename("rename/q/d", "rename/q/d/y/z"), EINVAL,
	    "rename dir into its own subtree");
	ERR(rename("rename/q/d", "rename/q/d/y"), EINVAL,
	    "rename dir onto its own child");
	ERR(rename("rename/q/none", "rename/q/z"), ENOENT, "rename missing");
	ERR(rename("rename/q/ff", "rename/q/none/z"), ENOENT,
	    "rename into missing dir");
	ERR(rename("rename/q/ff", "rename/q/ff/z"), ENOTDIR,
	    "rename under a file");
	ERR(rename("rename/q/ff", pathcat("rename/q", name256)),
	    ENAMETOOLONG, "rename to 256-byte name");
	OK(rename("rename/q/ff", pathcat("rename/q", name255)),
	   "rename to 255-byte name");
	OK(rename(pathcat("rename/q", name255), "rename/q/ff"),
	   "rename from 255-byte name");
	ERR(rename("rename/q/d/.", "rename/q/x"), EBUSY, "rename .");
	ERR(rename("rename/q/x", "rename/q/d/."), EBUSY,
	    "rename missing onto . (the . is refused first)");
	ERR(rename("rename/q/d", "rename/q/e/."), EBUSY, "rename onto .");

	/* same inode: nothing happens */
	setup_ok(link("rename/q/ff", "rename/q/ff2"), "link");
	b = st("rename/q/ff");
	tick();
	OK(rename("rename/q/ff", "rename/q/ff2"), "rename onto a hard link");
	a = st("rename/q/ff");
	EQ(a.st_nlink, 2, "rename onto hard link: both names remain");
	times("rename onto hard link: no change", &b, &a, 0);
	OK(rename("rename/q/ff", "rename/q/ff"), "rename onto itself");

	/* renameat2 flags */
	mkf("rename/n1", 0644, 1);
	mkf("rename/n2", 0644, 2);
	ERR(renameat2(AT_FDCWD, "rename/n1", AT_FDCWD, "rename/n2",
		      RENAME_NOREPLACE), EEXIST, "RENAME_NOREPLACE existing");
	EQ(st("rename/n2").st_size, 2, "NOREPLACE: target kept");
	OK(renameat2(AT_FDCWD, "rename/n1", AT_FDCWD, "rename/n3",
		     RENAME_NOREPLACE), "RENAME_NOREPLACE free name");
	EQ(st("rename/n3").st_size, 1, "NOREPLACE: moved");

	mkd("rename/xd", 0755);
	mkd("rename/p/xs", 0755);
	xb = st("rename/n3");
	b = st("rename/p/xs");
	pb = st("rename");
	qb = st("rename/p");
	tick();
	OK(renameat2(AT_FDCWD, "rename/n3", AT_FDCWD, "rename/p/xs",
		     RENAME_EXCHANGE), "RENAME_EXCHANGE file and dir");
	tap(S_ISDIR(st("rename/n3").st_mode) &&
	    st("rename/n3").st_ino == b.st_ino, "EXCHANGE: dir now at n3");
	tap(S_ISREG(st("rename/p/xs").st_mode) &&
	    st("rename/p/xs").st_ino == xb.st_ino, "EXCHANGE: file now in p");
	pa = st("rename");
	qa = st("rename/p");
	EQ(pa.st_nlink, pb.st_nlink + 1, "EXCHANGE: parent gaining dir + 1");
	EQ(qa.st_nlink, qb.st_nlink - 1, "EXCHANGE: parent losing dir - 1");
	EQ(st("rename/n3/..").st_ino, pa.st_ino, "EXCHANGE: dir's .. moved");
	xa = st("rename/p/xs");
	times("EXCHANGE: file", &xb, &xa, TC);
	times("EXCHANGE: parent 1", &pb, &pa, TM | TC);
	times("EXCHANGE: parent 2", &qb, &qa, TM | TC);
	ERR(renameat2(AT_FDCWD, "rename/n3", AT_FDCWD, "rename/none",
		      RENAME_EXCHANGE), ENOENT, "RENAME_EXCHANGE missing");
	ERR(renameat2(AT_FDCWD, "rename/n3", AT_FDCWD, "rename/xd",
		      RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL,
	    "EXCHANGE|NOREPLACE");
	ERR(renameat2(AT_FDCWD, "rename/n3", AT_FDCWD, "rename/n3/x",
		      RENAME_EXCHANGE), ENOENT, "EXCHANGE with own child");

	/* RENAME_WHITEOUT: a whiteout char device 0:0, or EINVAL */
	mkf("rename/w", 0644, 0);
	errno = 0;
	if (renameat2(AT_FDCWD, "rename/w", AT_FDCWD, "rename/w2",
		      RENAME_WHITEOUT) == 0) {
		a = st("rename/w");
		note("RENAME_WHITEOUT supported");
		tap(S_ISCHR(a.st_mode) && a.st_rdev == makedev(0, 0),
		    "RENAME_WHITEOUT: whiteout left behind");
		tap(S_ISREG(st("rename/w2").st_mode), "RENAME_WHITEOUT: moved");
	} else {
		tap(errno == EINVAL, "RENAME_WHITEOUT: works or EINVAL "
		    "(got %s)", en(errno));
		note("RENAME_WHITEOUT not supported here (EINVAL)");
	}

	/* sticky directory */
	mkd("rename/st", 01777);
	mkf("rename/st/ua", 0644, 0);
	own("rename/st/ua", UA, GA);
	mkf("rename/st/ub", 0644, 0);
	own("rename/st/ub", UB, GB);
	mkd("rename/ad", 0755);
	own("rename/ad", UA, GA);
	mkd("rename/ro", 0755);
	if (as(UB)) {
		ERR(rename("rename/st/ua", "rename/st/x"), EPERM,
		    "UB: rename another's file out of a sticky dir");
		ERR(rename("rename/st/ub", "rename/st/ua"), EPERM,
		    "UB: rename over another's file in a sticky dir");
		OK(rename("rename/st/ub", "rename/st/ub2"),
		   "UB: rename own file in a sticky dir");
		ERR(rename("rename/st/ub2", "rename/ro/x"), EACCES,
		    "UB: rename into non-writable dir");
		ERR(rename("rename/ad", "rename/p/ad"), EACCES,
		    "UB: move a dir it cannot write (..)");
		done();
	}
	if (as(UA)) {
		OK(rename("rename/ad", "rename/p/ad"),
		   "UA: move own writable dir across parents");
		done();
	}
}

/* ------------------------------------------------------------------ */
/* rmdir                                                               */
/* ------------------------------------------------------------------ */
static void g_rmdir(void)
{
	struct stat a, pb, pa;
	int fd;

	mkd("rmdir", 0777);
	mkd("rmdir/d", 0755);
	pb = st("rmdir");
	tick();
	OK(rmdir("rmdir/d"), "rmdir");
	pa = st("rmdir");
	EQ(pa.st_nlink, pb.st_nlink - 1, "rmdir: parent nlink - 1");
	times("rmdir: parent", &pb, &pa, TM | TC);
	ERR(lstat("rmdir/d", &a), ENOENT, "rmdir: gone");
	mkd("rmdir/n", 0755);
	mkf("rmdir/n/f", 0644, 0);
	ERR(rmdir("rmdir/n"), ENOTEMPTY, "rmdir non-empty");
	ERR(rmdir("rmdir/n/f"), ENOTDIR, "rmdir a file");
	ERR(rmdir("rmdir/none"), ENOENT, "rmdir missing");
	ERR(rmdir("rmdir/n/."), EINVAL, "rmdir .");
	ERR(rmdir("rmdir/n/.."), ENOTEMPTY, "rmdir ..");
	ERR(rmdir(pathcat("rmdir", name256)), ENAMETOOLONG,
	    "rmdir 256-byte name");
	setup_ok(symlink("n", "rmdir/l"), "symlink");
	ERR(rmdir("rmdir/l"), ENOTDIR, "rmdir a symlink to a dir");

	/* an open directory: removed, then nothing can be created in it */
	mkd("rmdir/o", 0755);
	fd = open("rmdir/o", O_RDONLY | O_DIRECTORY);
	OK(rmdir("rmdir/o"), "rmdir an open dir");
	tap(fstat(fd, &a) == 0 && a.st_nlink == 0,
	    "removed dir: fstat nlink 0 (got %lu)", (unsigned long)a.st_nlink);
	ERR(openat(fd, "x", O_CREAT | O_WRONLY, 0644), ENOENT,
	    "create in a removed dir");
	ERR(mkdirat(fd, "x", 0755), ENOENT, "mkdir in a removed dir");
	close(fd);

	/* sticky, permissions */
	mkd("rmdir/st", 01777);
	mkd("rmdir/st/ua", 0755);
	own("rmdir/st/ua", UA, GA);
	mkd("rmdir/st/ub", 0755);
	own("rmdir/st/ub", UB, GB);
	mkd("rmdir/ro", 0755);
	mkd("rmdir/ro/x", 0777);
	if (as(UB)) {
		ERR(rmdir("rmdir/st/ua"), EPERM,
		    "UB: rmdir another's dir in a sticky dir");
		OK(rmdir("rmdir/st/ub"), "UB: rmdir own dir in a sticky dir");
		ERR(rmdir("rmdir/ro/x"), EACCES,
		    "UB: rmdir in non-writable dir");
		done();
	}
}

/* ------------------------------------------------------------------ */
/* symlink                                                             */
/* ------------------------------------------------------------------ */
static void g_symlink(void)
{
	static char target[PATH_MAX + 2];
	struct stat a, pb, pa;
	char buf[PATH_MAX];

	mkd("symlink", 0777);
	pb = st("symlink");
	umask(077);
	tick();
	OK(symlink("some/target", "symlink/l"), "symlink");
	umask(022);
	a = st("symlink/l");
	pa = st("symlink");
	EQO(a.st_mode, S_IFLNK | 0777, "symlink: mode 0777 whatever umask");
	EQ(a.st_size, 11, "symlink: size = target length");
	EQ(a.st_nlink, 1, "symlink: nlink");
	EQ(a.st_uid, 0, "symlink: uid");
	times("symlink: parent", &pb, &pa, TM | TC);
	EQ(pa.st_nlink, pb.st_nlink, "symlink: parent nlink kept");
	memset(buf, 0, sizeof(buf));
	EQ(readlink("symlink/l", buf, sizeof(buf)), 11, "readlink");
	tap(strcmp(buf, "some/target") == 0, "readlink: target");
	EQ(readlink("symlink/l", buf, 4), 4, "readlink short buffer");
	tap(memcmp(buf, "some", 4) == 0, "readlink: truncated target");
	ERR(readlink("symlink", buf, sizeof(buf)), EINVAL,
	    "readlink a directory");
	ERR(symlink("x", "symlink/l"), EEXIST, "symlink existing");
	ERR(symlink("", "symlink/e"), ENOENT, "symlink empty target");
	ERR(symlink("x", "symlink/none/l"), ENOENT, "symlink missing parent");
	ERR(symlink("x", pathcat("symlink", name256)), ENAMETOOLONG,
	    "symlink 256-byte name");
	memset(target, 'a', PATH_MAX - 1);
	for (int i = 100; i < PATH_MAX - 1; i += 100)
		target[i] = '/';
	target[PATH_MAX - 1] = '\0';
	OK(symlink(target, "symlink/long"), "symlink 4095-byte target");
	EQ(st("symlink/long").st_size, PATH_MAX - 1, "4095-byte: size");
	memset(buf, 0, sizeof(buf));
	EQ(readlink("symlink/long", buf, sizeof(buf)), PATH_MAX - 1,
	   "4095-byte: readlink");
	tap(memcmp(buf, target, PATH_MAX - 1) == 0, "4095-byte: target");
	target[PATH_MAX - 1] = 'b';
	target[PATH_MAX] = '\0';
	ERR(symlink(target, "symlink/toolong"), ENAMETOOLONG,
	    "symlink 4096-byte target");
	setup_ok(symlink("b", "symlink/a"), "symlink a");
	setup_ok(symlink("a", "symlink/b"), "symlink b");
	ERR(open("symlink/a", O_RDONLY), ELOOP, "symlink cycle");
	mkd("symlink/dir", 0755);
	setup_ok(symlink("dir", "symlink/dl"), "symlink to dir");
	mkf("symlink/dir/f", 0644, 9);
	EQ(st("symlink/dl/f").st_size, 9, "lookup through a dir symlink");
	OK(lchown("symlink/l", UA, GA), "lchown symlink");
	if (as(UA)) {
		OK(symlink("t", "symlink/ua"), "UA: symlink");
		a = st("symlink/ua");
		EQ(a.st_uid, UA, "UA: symlink uid");
		EQ(a.st_gid, GA, "UA: symlink gid");
		ERR(symlink("t", "symlink/dir/ua"), EACCES,
		    "UA: symlink in non-writable dir");
		done();
	}
}

/* ------------------------------------------------------------------ */
/* truncate                                                            */
/* ------------------------------------------------------------------ */
static void g_truncate(void)
{
	struct stat b, a, pb, pa;
	char buf[8192];
	int fd, zeros;

	mkd("truncate", 0777);
	mkf("truncate/f", 0644, 1000);
	b = st("truncate/f");
	pb = st("truncate");
	tick();
	OK(truncate("truncate/f", 10000), "truncate up");
	a = st("truncate/f");
	pa = st("truncate");
	EQ(a.st_size, 10000, "truncate up: size");
	times("truncate up", &b, &a, TM | TC);
	times("truncate: parent", &pb, &pa, 0);
	fd = open("truncate/f", O_RDONLY);
	zeros = pread(fd, buf, sizeof(buf), 1000) == sizeof(buf);
	for (size_t i = 0; zeros && i < sizeof(buf); i++)
		zeros = buf[i] == 0;
	close(fd);
	tap(zeros, "truncate up: reads zeros past the old end");
	b = st("truncate/f");
	tick();
	OK(truncate("truncate/f", 10), "truncate down");
	a = st("truncate/f");
	EQ(a.st_size, 10, "truncate down: size");
	times("truncate down", &b, &a, TM | TC);
	OK(truncate("truncate/f", 5000), "truncate up again");
	fd = open("truncate/f", O_RDONLY);
	zeros = pread(fd, buf, 100, 0) == 100;
	for (size_t i = 10; zeros && i < 100; i++)
		zeros = buf[i] == 0;
	close(fd);
	tap(zeros && buf[9] == 'x', "truncate down and up: old data gone");

	/* same size: Linux still sets mtime and ctime (tmpfs, ext4) */
	b = st("truncate/f");
	tick();
	OK(truncate("truncate/f", 5000), "truncate to the same size");
	a = st("truncate/f");
	fuse_limit(fuse_wb, "writeback cache: the kernel keeps mtime/ctime "
		   "and sets them on a size change only");
	times("truncate same size", &b, &a, TM | TC);
	fd = open("truncate/f", O_WRONLY);
	b = st("truncate/f");
	tick();
	OK(ftruncate(fd, 5000), "ftruncate to the same size");
	a = st("truncate/f");
	times("ftruncate same size", &b, &a, TM | TC);
	b = a;
	tick();
	OK(ftruncate(fd, 3), "ftruncate down");
	a = st("truncate/f");
	EQ(a.st_size, 3, "ftruncate: size");
	times("ftruncate down", &b, &a, TM | TC);
	ERR(ftruncate(fd, -1), EINVAL, "ftruncate negative");
	close(fd);
	fd = open("truncate/f", O_RDONLY);
	ERR(ftruncate(fd, 0), EINVAL, "ftruncate on a read-only fd");
	close(fd);
	ERR(truncate("truncate/f", -1), EINVAL, "truncate negative");
	mkd("truncate/d", 0755);
	ERR(truncate("truncate/d", 0), EISDIR, "truncate a dir");
	ERR(truncate("truncate/none", 0), ENOENT, "truncate missing");
	ERR(truncate("truncate/f/x", 0), ENOTDIR, "truncate under a file");
	ERR(truncate(pathcat("truncate", name256), 0), ENAMETOOLONG,
	    "truncate 256-byte name");
	setup_ok(symlink("f", "truncate/l"), "symlink");
	OK(truncate("truncate/l", 77), "truncate through a symlink");
	EQ(st("truncate/f").st_size, 77, "truncate symlink: target size");

	mkf("truncate/ro", 0644, 10);
	mkf("truncate/su", 06777, 10);
	mkf("truncate/sg", 02767, 10);
	mkf("truncate/sg3", 02767, 10);
	own("truncate/sg3", 0, GA);
	mode("truncate/sg3", 02767);
	if (as(UA)) {
		ERR(truncate("truncate/ro", 0), EACCES,
		    "UA: truncate root's 0644 file");
		OK(truncate("truncate/su", 0), "UA: truncate 06777 file");
		EQO(st("truncate/su").st_mode, S_IFREG | 0777,
		    "UA: truncate clears setuid and setgid");
		OK(truncate("truncate/sg", 0), "UA: truncate 02767 file");
		EQO(st("truncate/sg").st_mode, S_IFREG | 0767,
		    "UA: truncate clears setgid without group-exec, "
		    "not in file's group");
		OK(truncate("truncate/sg3", 0), "UA: truncate 02767 file, "
		   "its group");
		EQO(st("truncate/sg3").st_mode, S_IFREG | 02767,
		    "UA: truncate keeps setgid without group-exec, in group");
		done();
	}
	EQ(st("truncate/ro").st_size, 10, "after UA: size kept");
}

/* ------------------------------------------------------------------ */
/* fallocate: blocks kept past EOF are freed with the file              */
/* ------------------------------------------------------------------ */
/* fallocate, punch hole and zero range drop privileges as write does
 * (xfstests generic/683, 684, 685): setuid, and setgid when
 * group-execute is set or the caller is outside the file's group and
 * lacks CAP_FSETID. The kernel's FUSE client sends no flag with
 * FALLOCATE: the filesystem decides, from the caller's groups. */
static void fallocate_privs(void)
{
	static const struct {
		int mode;
		const char *name;
	} ops[] = {
		{ 0, "fallocate" },
		{ FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, "punch hole" },
		{ FALLOC_FL_ZERO_RANGE, "zero range" },
	};
	static const struct {
		mode_t before, ua, root;
		gid_t gid;
		const char *what;
	} cases[] = {
		{ 06666, 0666, 06666, 0, "06666, not group-exec" },
		{ 06676, 0676, 06676, 0, "06676, group-exec" },
		{ 02666, 0666, 02666, 0, "02666 only setgid" },
		{ 02666, 02666, 02666, GA2, "02666, UA's supplementary group" },
		{ 02666, 02666, 02666, GA, "02666, UA's group" },
	};
	char path[64], what[128];
	int fd;

	for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			snprintf(path, sizeof(path), "fallocate/p%zu%zu", o, c);
			mkf(path, 0666, 8192);
			own(path, 0, cases[c].gid);
			mode(path, cases[c].before);
			snprintf(what, sizeof(what), "UA: %s of a %s file",
				 ops[o].name, cases[c].what);
			if (as(UA)) {
				fd = open(path, O_WRONLY);
				errno = 0;
				if (fallocate(fd, ops[o].mode, 0, 4096) < 0 &&
				    errno == EOPNOTSUPP) {
					note("%s: not supported", ops[o].name);
				} else {
					EQO(st(path).st_mode,
					    S_IFREG | cases[c].ua, what);
				}
				close(fd);
				done();
			}
			mode(path, cases[c].before);
			fd = open(path, O_WRONLY);
			errno = 0;
			if (fallocate(fd, ops[o].mode, 0, 4096) == 0 ||
			    errno != EOPNOTSUPP) {
				snprintf(what, sizeof(what), "root: %s keeps "
					 "the bits of a %s file", ops[o].name,
					 cases[c].what);
				EQO(st(path).st_mode, S_IFREG | cases[c].root,
				    what);
			}
			close(fd);
			OK(unlink(path), "unlink it");
		}
	}
}

static void g_fallocate(void)
{
	struct stat a;
	int fd;

	mkd("fallocate", 0777);
	/* mapfs leaked them when the file was empty (free_inode_now);
	 * run_pconf.sh's fsck after the run sees any leak */
	fd = open("fallocate/k", O_CREAT | O_WRONLY, 0644);
	OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 6839, 17232),
	   "KEEP_SIZE past EOF of an empty file");
	tap(fstat(fd, &a) == 0 && a.st_size == 0 && a.st_blocks >= 8,
	    "KEEP_SIZE: size 0, blocks allocated (%lld)",
	    (long long)a.st_blocks);
	close(fd);
	OK(unlink("fallocate/k"), "unlink it");
	fd = open("fallocate/z", O_CREAT | O_WRONLY, 0644);
	errno = 0;
	if (fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 4096,
		      65536) == 0 || errno != EOPNOTSUPP) {
		tap(errno == 0, "ZERO_RANGE|KEEP_SIZE past EOF (%s)", en(errno));
		tap(fstat(fd, &a) == 0 && a.st_size == 0, "ZERO_RANGE: size 0");
	}
	close(fd);
	OK(unlink("fallocate/z"), "unlink it");
	fd = open("fallocate/t", O_CREAT | O_WRONLY, 0644);
	OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 40960), "KEEP_SIZE again");
	OK(ftruncate(fd, 0), "truncate to 0 (same size)");
	close(fd);
	OK(unlink("fallocate/t"), "unlink it");
	fallocate_privs();
}

/* ------------------------------------------------------------------ */
/* unlink                                                              */
/* ------------------------------------------------------------------ */
static void g_unlink(void)
{
	struct stat b, a, pb, pa;
	char buf[16];
	int fd;

	mkd("unlink", 0777);
	mkf("unlink/f", 0644, 6);
	pb = st("unlink");
	tick();
	OK(unlink("unlink/f"), "unlink");
	pa = st("unlink");
	ERR(lstat("unlink/f", &a), ENOENT, "unlink: gone");
	times("unlink: parent", &pb, &pa, TM | TC);
	EQ(pa.st_nlink, pb.st_nlink, "unlink: parent nlink kept");

	mkf("unlink/g", 0644, 6);
	setup_ok(link("unlink/g", "unlink/g2"), "link");
	b = st("unlink/g2");
	tick();
	OK(unlink("unlink/g"), "unlink one of two links");
	a = st("unlink/g2");
	EQ(a.st_nlink, 1, "unlink: other link nlink 1");
	times("unlink: other link", &b, &a, TC);

	fd = open("unlink/g2", O_RDWR);
	OK(unlink("unlink/g2"), "unlink an open file");
	tap(fstat(fd, &a) == 0 && a.st_nlink == 0 && a.st_size == 6,
	    "unlinked open file: nlink 0, size kept");
	EQ(pread(fd, buf, sizeof(buf), 0), 6, "unlinked open file: readable");
	EQ(pwrite(fd, "abc", 3, 6), 3, "unlinked open file: writable");
	close(fd);

	mkd("unlink/d", 0755);
	ERR(unlink("unlink/d"), EISDIR, "unlink a dir");
	ERR(unlink("unlink/none"), ENOENT, "unlink missing");
	mkf("unlink/h", 0644, 0);
	ERR(unlink("unlink/h/x"), ENOTDIR, "unlink under a file");
	ERR(unlink(pathcat("unlink", name256)), ENAMETOOLONG,
	    "unlink 256-byte name");
	setup_ok(symlink("h", "unlink/l"), "symlink");
	OK(unlink("unlink/l"), "unlink a symlink");
	tap(S_ISREG(st("unlink/h").st_mode), "unlink symlink: target kept");
	setup_ok(mkfifo("unlink/p", 0644), "mkfifo");
	OK(unlink("unlink/p"), "unlink a fifo");

	mkd("unlink/st", 01777);
	mkf("unlink/st/ua", 0666, 0);
	own("unlink/st/ua", UA, GA);
	mkf("unlink/st/ub", 0644, 0);
	own("unlink/st/ub", UB, GB);
	mkd("unlink/ubd", 01777);
	own("unlink/ubd", UB, GB);
	mkf("unlink/ubd/ua", 0644, 0);
	own("unlink/ubd/ua", UA, GA);
	mkd("unlink/ro", 0755);
	mkf("unlink/ro/f", 0666, 0);
	if (as(UB)) {
		ERR(unlink("unlink/st/ua"), EPERM,
		    "UB: unlink another's (0666) file in a sticky dir");
		OK(unlink("unlink/st/ub"), "UB: unlink own file in sticky dir");
		OK(unlink("unlink/ubd/ua"),
		   "UB: unlink another's file in own sticky dir");
		ERR(unlink("unlink/ro/f"), EACCES,
		    "UB: unlink in non-writable dir");
		done();
	}
	tap(S_ISREG(st("unlink/st/ua").st_mode), "after UB: UA's file kept");
}

/* ------------------------------------------------------------------ */
/* utimensat                                                           */
/* ------------------------------------------------------------------ */
static struct timespec T(time_t s, long ns)
{
	struct timespec t = { s, ns };

	return t;
}

static void g_utimensat(void)
{
	struct timespec ts[2];
	struct stat b, a, pb, pa;
	struct timespec now;

	mkd("utime", 0777);
	mkf("utime/f", 0644, 5);
	b = st("utime/f");
	pb = st("utime");
	tick();
	ts[0] = T(1000000000, 123456789);
	ts[1] = T(1100000000, 987654321);
	OK(utimensat(AT_FDCWD, "utime/f", ts, 0), "utimensat explicit");
	a = st("utime/f");
	pa = st("utime");
	tap(ts_eq(a.st_atim, ts[0]), "explicit: atime to the nanosecond");
	tap(ts_eq(a.st_mtim, ts[1]), "explicit: mtime to the nanosecond");
	times("explicit", &b, &a, TA | TM | TC);
	times("explicit: parent", &pb, &pa, 0);

	b = a;
	tick();
	ts[0] = T(0, UTIME_OMIT);
	ts[1] = T(1200000000, 5);
	OK(utimensat(AT_FDCWD, "utime/f", ts, 0), "UTIME_OMIT atime");
	a = st("utime/f");
	tap(ts_eq(a.st_mtim, ts[1]), "OMIT atime: mtime set");
	times("OMIT atime", &b, &a, TM | TC);

	b = a;
	tick();
	ts[0] = T(0, UTIME_OMIT);
	ts[1] = T(0, UTIME_OMIT);
	OK(utimensat(AT_FDCWD, "utime/f", ts, 0), "UTIME_OMIT both");
	a = st("utime/f");
	times("OMIT both: nothing", &b, &a, 0);

	b = a;
	tick();
	ts[0] = T(0, UTIME_NOW);
	ts[1] = T(0, UTIME_OMIT);
	OK(utimensat(AT_FDCWD, "utime/f", ts, 0), "UTIME_NOW atime only");
	a = st("utime/f");
	times("NOW atime only", &b, &a, TA | TC);

	b = a;
	tick();
	clock_gettime(CLOCK_REALTIME, &now);
	OK(utimensat(AT_FDCWD, "utime/f", NULL, 0), "utimensat NULL (now)");
	a = st("utime/f");
	times("NULL", &b, &a, TA | TM | TC);
	tap(a.st_mtim.tv_sec >= now.tv_sec - 1 &&
	    a.st_mtim.tv_sec <= now.tv_sec + 1 &&
	    ts_eq(a.st_atim, a.st_mtim), "NULL: atime = mtime = now");

	ts[0] = T(-1000000000, 1);
	ts[1] = T(1ll << 33, 999999999);
	OK(utimensat(AT_FDCWD, "utime/f", ts, 0),
	   "times before 1970 and after 2106");
	a = st("utime/f");
	tap(ts_eq(a.st_atim, ts[0]), "pre-1970 atime kept (%lld.%09ld)",
	    (long long)a.st_atim.tv_sec, a.st_atim.tv_nsec);
	tap(ts_eq(a.st_mtim, ts[1]), "post-2106 mtime kept (%lld.%09ld)",
	    (long long)a.st_mtim.tv_sec, a.st_mtim.tv_nsec);

	ts[0] = T(0, 1000000000);
	ts[1] = T(0, 0);
	ERR(utimensat(AT_FDCWD, "utime/f", ts, 0), EINVAL,
	    "tv_nsec 1000000000");
	ts[0] = T(0, -1);
	ERR(utimensat(AT_FDCWD, "utime/f", ts, 0), EINVAL, "tv_nsec -1");
	ERR(utimensat(AT_FDCWD, "utime/f", NULL, 0x1000000), EINVAL,
	    "unknown flag");
	ERR(utimensat(AT_FDCWD, "utime/none", NULL, 0), ENOENT,
	    "utimensat missing");

	setup_ok(symlink("f", "utime/l"), "symlink");
	b = st("utime/f");
	ts[0] = T(2000, 2);
	ts[1] = T(3000, 3);
	OK(utimensat(AT_FDCWD, "utime/l", ts, AT_SYMLINK_NOFOLLOW),
	   "utimensat NOFOLLOW on a symlink");
	a = st("utime/l");
	tap(ts_eq(a.st_mtim, ts[1]) && ts_eq(a.st_atim, ts[0]),
	    "NOFOLLOW: link's times set");
	a = st("utime/f");
	times("NOFOLLOW: target untouched", &b, &a, 0);
	mkd("utime/d", 0755);
	ts[1] = T(4000, 4);
	OK(utimensat(AT_FDCWD, "utime/d", ts, 0), "utimensat a dir");
	tap(ts_eq(st("utime/d").st_mtim, ts[1]), "dir mtime set");

	/* permissions: owner, or write access for NOW/NOW */
	mkf("utime/ua", 0444, 0);
	own("utime/ua", UA, GA);
	mkf("utime/w", 0666, 0);	/* root's, writable by all */
	mkf("utime/r", 0644, 0);	/* root's, read-only to others */
	if (as(UA)) {
		ts[0] = T(5000, 5);
		ts[1] = T(6000, 6);
		OK(utimensat(AT_FDCWD, "utime/ua", ts, 0),
		   "UA: explicit times on own read-only file");
		tap(ts_eq(st("utime/ua").st_mtim, ts[1]), "UA: own: set");
		b = st("utime/w");
		tick();
		OK(utimensat(AT_FDCWD, "utime/w", NULL, 0),
		   "UA: NULL on another's writable file");
		a = st("utime/w");
		times("UA: NULL on writable", &b, &a, TA | TM | TC);
		ts[0] = T(0, UTIME_NOW);
		ts[1] = T(0, UTIME_NOW);
		OK(utimensat(AT_FDCWD, "utime/w", ts, 0),
		   "UA: NOW/NOW on another's writable file");
		ts[1] = T(0, UTIME_OMIT);
		ERR(utimensat(AT_FDCWD, "utime/w", ts, 0), EPERM,
		    "UA: NOW/OMIT on another's writable file");
		ts[0] = T(5000, 5);
		ts[1] = T(6000, 6);
		ERR(utimensat(AT_FDCWD, "utime/w", ts, 0), EPERM,
		    "UA: explicit times on another's writable file");
		ERR(utimensat(AT_FDCWD, "utime/r", NULL, 0), EACCES,
		    "UA: NULL on another's read-only file");
		ts[0] = T(0, UTIME_NOW);
		ts[1] = T(0, UTIME_NOW);
		ERR(utimensat(AT_FDCWD, "utime/r", ts, 0), EACCES,
		    "UA: NOW/NOW on another's read-only file");
		ts[0] = T(5000, 5);
		ts[1] = T(6000, 6);
		ERR(utimensat(AT_FDCWD, "utime/r", ts, 0), EPERM,
		    "UA: explicit times on another's read-only file");
		ts[0] = T(0, UTIME_OMIT);
		ts[1] = T(0, UTIME_OMIT);
		OK(utimensat(AT_FDCWD, "utime/r", ts, 0),
		   "UA: OMIT/OMIT on another's file (no-op)");
		done();
	}
}

/* ------------------------------------------------------------------ */
static const struct {
	const char *name;
	void (*fn)(void);
} groups[] = {
	{ "chmod", g_chmod },	  { "chown", g_chown },
	{ "link", g_link },	  { "mkdir", g_mkdir },
	{ "mkfifo", g_mkfifo },	  { "mknod", g_mknod },
	{ "open", g_open },	  { "rename", g_rename },
	{ "rmdir", g_rmdir },	  { "symlink", g_symlink },
	{ "truncate", g_truncate }, { "unlink", g_unlink },
	{ "utimensat", g_utimensat }, { "fallocate", g_fallocate },
};
#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

int main(int argc, char **argv)
{
	char dir[PATH_MAX];
	int counts[NGROUPS][2];
	struct statfs sf;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [GROUP...]\n", argv[0]);
		return 2;
	}
	if (geteuid() != 0) {
		printf("1..0 # SKIP pconf switches users: run as root\n");
		return 77;
	}
	on_fuse = statfs(argv[1], &sf) == 0 && sf.f_type == 0x65735546;
	fuse_wb = on_fuse && getenv("PCONF_WRITEBACK") &&
		  strcmp(getenv("PCONF_WRITEBACK"), "1") == 0;
	memset(name256, 'n', 256);
	memset(name255, 'm', 255);
	umask(022);
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(dir, sizeof(dir), "%s/pconf.%d", argv[1], (int)getpid());
	if (mkdir(dir, 0755) < 0 || chmod(dir, 0755) < 0 || chdir(dir) < 0) {
		fprintf(stderr, "pconf: %s: %s\n", dir, strerror(errno));
		return 2;
	}
	note("pconf in %s (%s)", dir, on_fuse ? fuse_wb ?
	     "FUSE, writeback cache" : "FUSE" : "not FUSE");
	for (size_t g = 0; g < NGROUPS; g++) {
		bool run = argc == 2;
		int n0 = ntests, f0 = nfail;

		for (int i = 2; i < argc; i++)
			run |= strcmp(argv[i], groups[g].name) == 0;
		counts[g][0] = counts[g][1] = 0;
		if (!run)
			continue;
		note("group %s", groups[g].name);
		groups[g].fn();
		counts[g][0] = ntests - n0;
		counts[g][1] = nfail - f0;
	}
	for (size_t g = 0; g < NGROUPS; g++)
		if (counts[g][0])
			note("%-10s %3d checks, %d failed", groups[g].name,
			     counts[g][0], counts[g][1]);
	if (ntodo)
		note("%d known FUSE limits (TODO)", ntodo);
	printf("1..%d\n", ntests);
	if (nfail == 0) {
		if (chdir("/") == 0) {
			char cmd[PATH_MAX + 32];

			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
			if (system(cmd) != 0)
				note("could not remove %s", dir);
		}
		return 0;
	}
	note("%d of %d checks failed; %s kept", nfail, ntests, dir);
	return 1;
}
