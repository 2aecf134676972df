/* SPDX-License-Identifier: MIT */
/*
 * conform.c - conformance checks on a mounted mapfs, plain syscalls, TAP.
 *
 *   conform MOUNTPOINT
 *
 * One group per syscall family: xattrs, acl (through the real setfacl and
 * getfacl commands), fallocate, seek (SEEK_DATA / SEEK_HOLE),
 * copy_file_range and flags (FS_IOC_GETFLAGS / SETFLAGS, as lsattr and
 * chattr use them). Each check looks at the return value, errno and the
 * resulting metadata (mode, size, st_blocks, and which of atime, mtime
 * and ctime changed). Checks marked "as user" run in a child switched to
 * uid/gid 65534 (the mount needs allow_other). Run as root. Results are
 * TAP lines; the plan comes last. Exit status 0 when every check passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <grp.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "tutil.h"
#define NOBODY 65534

static char base[4096];
/* The kernel's writeback cache is on (MAPFS_CONFORM_WRITEBACK=1): it then
 * keeps mtime and ctime of regular files itself, so changes the daemon
 * makes behind it (ioctl flags) cannot show in ctime. */
static int writeback;

/* A call that must fail with errno e. */
#define FAILS(call, e, what) do {					\
		errno = 0;						\
		long r_ = (long)(call);					\
		int e_ = errno;						\
		tap(r_ < 0 && e_ == (e), "%s: %s (got %ld, %s)", what,	\
		    strerror(e), r_, strerror(e_));			\
	} while (0)
/* A call that must succeed (>= 0). */
#define WORKS(call, what) do {						\
		errno = 0;						\
		long r_ = (long)(call);					\
		tap(r_ >= 0, "%s (got %ld, %s)", what, r_,		\
		    r_ < 0 ? strerror(errno) : "ok");			\
	} while (0)

/* Path of name under the test directory, in a ring of static buffers
 * (nothing to free, nothing leaked): a result stays valid until
 * P_RING more calls have been made. No function keeps more than about
 * 35 P() results in use at once (group_acl is the largest), so 64 is
 * ample; keep it so when adding checks. */
#define P_RING 64
static const char *P(const char *name)
{
	static char ring[P_RING][PATH_MAX];
	static unsigned next;
	char *p = ring[next++ % P_RING];
	int n = snprintf(p, PATH_MAX, "%s/%s", base, name);

	if (n < 0 || n >= PATH_MAX)
		abort();
	return p;
}

static struct stat st_of(const char *path)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	if (lstat(path, &st) < 0)
		memset(&st, 0xff, sizeof(st));
	return st;
}

static int sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Run fn as uid/gid 65534 in a child; its TAP lines continue our count. */
static void as_user(void (*fn)(void))
{
	int pfd[2], counts[2] = { 0, 0 };
	pid_t pid;

	fflush(stdout);
	if (pipe(pfd) < 0) {
		tap(0, "pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 ||
		    setuid(NOBODY) < 0) {
			tap(0, "switch to uid %d: %s", NOBODY,
			    strerror(errno));
		} else {
			fn();
		}
		counts[0] = ntests;
		counts[1] = nfail;
		if (write(pfd[1], counts, sizeof(counts)) < 0)
			_exit(2);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], counts, sizeof(counts)) == sizeof(counts)) {
		ntests = counts[0];
		nfail = counts[1];
	} else {
		tap(0, "child as uid %d reported nothing", NOBODY);
	}
	close(pfd[0]);
	waitpid(pid, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* xattrs                                                              */
/* ------------------------------------------------------------------ */

static void xattr_user_checks(void)
{
	char buf[256];

	/* uid 65534 owns u.own, not x.f (0644, root) */
	WORKS(setxattr(P("u.own"), "user.mine", "1", 1, 0),
	      "as user: setxattr user.* on own file");
	FAILS(setxattr(P("x.f"), "user.no", "1", 1, 0), EACCES,
	      "as user: setxattr on another's 0644 file");
	WORKS(getxattr(P("x.f"), "user.a", buf, sizeof(buf)),
	      "as user: getxattr on a readable file");
	FAILS(setxattr(P("u.own"), "trusted.t", "1", 1, 0), EPERM,
	      "as user: setxattr trusted.*");
	{
		ssize_t n = listxattr(P("x.f"), buf, sizeof(buf));
		int seen = 0;

		for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
			if (!strncmp(buf + i, "trusted.", 8))
				seen = 1;
		tap(n > 0 && !seen,
		    "as user: listxattr hides trusted.* (%zd bytes)", n);
	}
}

static void group_xattr(void)
{
	const char *f = P("x.f");
	char buf[8192], big[70000];
	struct stat a, b;
	ssize_t n;
	int ok;

	printf("# group: xattrs\n");
	make_file(f, 1000, 'x', 0644);
	a = st_of(f);
	tick();
	WORKS(setxattr(f, "user.a", "hello", 5, XATTR_CREATE),
	      "setxattr user.a XATTR_CREATE");
	b = st_of(f);
	/* 512-byte inodes (mkfs's default): small attributes stay in the
	 * inode; past what it holds, they all move to one block. */
	tap(b.st_blocks == a.st_blocks,
	    "a small xattr lives in the inode: st_blocks unchanged "
	    "(%lld -> %lld)", (long long)a.st_blocks,
	    (long long)b.st_blocks);
	{
		char bigv[600];

		memset(bigv, 'b', sizeof(bigv));
		WORKS(setxattr(f, "user.big", bigv, sizeof(bigv), 0),
		      "setxattr user.big (600 bytes)");
		b = st_of(f);
		tap(b.st_blocks == a.st_blocks + 8,
		    "a set too big for the inode takes a block in st_blocks "
		    "(%lld -> %lld)", (long long)a.st_blocks,
		    (long long)b.st_blocks);
		WORKS(removexattr(f, "user.big"), "removexattr user.big");
		b = st_of(f);
		tap(b.st_blocks == a.st_blocks,
		    "shrunk back into the inode: the block is gone (%lld -> "
		    "%lld)", (long long)a.st_blocks, (long long)b.st_blocks);
	}
	tap(!ts_eq(a.st_ctim, b.st_ctim) && ts_eq(a.st_mtim, b.st_mtim),
	    "setxattr changes ctime, not mtime");
	FAILS(setxattr(f, "user.a", "x", 1, XATTR_CREATE), EEXIST,
	      "XATTR_CREATE on an existing name");
	FAILS(setxattr(f, "user.b", "x", 1, XATTR_REPLACE), ENODATA,
	      "XATTR_REPLACE on a missing name");
	WORKS(setxattr(f, "user.a", "world!", 6, XATTR_REPLACE),
	      "XATTR_REPLACE on an existing name");
	n = getxattr(f, "user.a", buf, sizeof(buf));
	tap(n == 6 && !memcmp(buf, "world!", 6), "getxattr reads it back");
	tap(getxattr(f, "user.a", NULL, 0) == 6, "getxattr size 0: length");
	FAILS(getxattr(f, "user.a", buf, 3), ERANGE,
	      "getxattr into a short buffer");
	FAILS(getxattr(f, "user.nope", buf, sizeof(buf)), ENODATA,
	      "getxattr of a missing name");
	WORKS(setxattr(f, "user.empty", "", 0, 0), "empty value");
	tap(getxattr(f, "user.empty", buf, sizeof(buf)) == 0,
	    "empty value reads back as 0 bytes");
	WORKS(setxattr(f, "trusted.t", "t", 1, 0), "trusted.* as root");
	WORKS(setxattr(f, "security.s", "s", 1, 0), "security.*");
	FAILS(setxattr(f, "foo.bar", "x", 1, 0), EOPNOTSUPP,
	      "unknown namespace");
	memset(buf, 'n', 300);
	memcpy(buf, "user.", 5);
	buf[256] = 0;
	FAILS(setxattr(f, buf, "x", 1, 0), ERANGE,
	      "name of 256 bytes (the kernel's ERANGE)");
	buf[255] = 0;
	WORKS(setxattr(f, buf, "x", 1, 0), "name of 255 bytes");
	WORKS(removexattr(f, buf), "remove it");
	n = listxattr(f, buf, sizeof(buf));
	ok = n == (ssize_t)(sizeof("user.a") + sizeof("user.empty") +
			    sizeof("trusted.t") + sizeof("security.s"));
	tap(ok, "listxattr lists the four names (%zd bytes)", n);
	tap(listxattr(f, NULL, 0) == n, "listxattr size 0: length");
	FAILS(listxattr(f, buf, (size_t)n - 1), ERANGE,
	      "listxattr into a short buffer");
	memset(big, 'v', sizeof(big));
	FAILS(setxattr(f, "user.big", big, 5000, 0), E2BIG,
	      "value larger than a block");
	FAILS(setxattr(f, "user.huge", big, 66000, 0), E2BIG,
	      "value above XATTR_SIZE_MAX");
	WORKS(setxattr(f, "user.c", big, 3500, 0), "3500-byte value");
	FAILS(setxattr(f, "user.d", big, 1000, 0), ENOSPC,
	      "block full");
	n = getxattr(f, "user.c", buf, sizeof(buf));
	tap(n == 3500 && !memcmp(buf, big, 3500), "3500-byte value reads back");
	FAILS(removexattr(f, "user.nope"), ENODATA, "remove a missing name");
	WORKS(removexattr(f, "user.c"), "remove user.c");
	WORKS(setxattr(f, "user.d", big, 1000, 0), "room again after remove");
	/* symlinks: user.* refused by the VFS, trusted.* fine */
	symlink("x.f", P("x.sl"));
	FAILS(lsetxattr(P("x.sl"), "user.a", "1", 1, 0), EPERM,
	      "user.* on a symlink");
	WORKS(lsetxattr(P("x.sl"), "trusted.a", "1", 1, 0),
	      "trusted.* on a symlink");
	mkfifo(P("x.fifo"), 0644);
	WORKS(lsetxattr(P("x.fifo"), "security.a", "1", 1, 0),
	      "security.* on a fifo");
	mkdir(P("x.d"), 0755);
	WORKS(setxattr(P("x.d"), "user.a", "1", 1, 0), "user.* on a directory");

	make_file(P("u.own"), 10, 'u', 0644);
	chown(P("u.own"), NOBODY, NOBODY);
	as_user(xattr_user_checks);

	/* everything removed: the block goes */
	removexattr(f, "user.a");
	removexattr(f, "user.empty");
	removexattr(f, "user.d");
	removexattr(f, "trusted.t");
	WORKS(removexattr(f, "security.s"), "remove the last name");
	b = st_of(f);
	tap(b.st_blocks == a.st_blocks && listxattr(f, buf, sizeof(buf)) == 0,
	    "no names left, st_blocks back to %lld", (long long)b.st_blocks);
}

/* ------------------------------------------------------------------ */
/* file capabilities: writes, truncation and chown drop them           */
/* ------------------------------------------------------------------ */

/* Give f a security.capability (CAP_NET_RAW, effective). */
static int set_cap(const char *f)
{
	struct vfs_cap_data c;

	memset(&c, 0, sizeof(c));
	c.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
	c.data[0].permitted = 1u << CAP_NET_RAW;
	return setxattr(f, "security.capability", &c, sizeof(c), 0);
}

static int has_cap(const char *f)
{
	char buf[64];

	return getxattr(f, "security.capability", buf, sizeof(buf)) > 0;
}

/* Linux drops a file's capabilities whenever it is written, truncated
 * or chowned, whoever does it (file_remove_privs, notify_change); the
 * FUSE kernel leaves that to mapfs (FUSE_HANDLE_KILLPRIV_V2). */
static void group_caps(void)
{
	const char *f = P("cap.f");
	int fd;

	make_file(f, 100, 'c', 0755);
	if (set_cap(f) < 0) {
		tap(0, "set security.capability: %s", strerror(errno));
		return;
	}
	tap(has_cap(f), "security.capability set");
	fd = open(f, O_WRONLY);
	tap(pwrite(fd, "x", 1, 5) == 1, "write to a file with capabilities");
	close(fd);
	tap(!has_cap(f), "write dropped security.capability");

	/* once more: the kernel saw no capability at the first write */
	set_cap(f);
	fd = open(f, O_WRONLY);
	tap(pwrite(fd, "y", 1, 6) == 1 && !has_cap(f),
	    "second write after a new setcap dropped it again");
	close(fd);

	set_cap(f);
	WORKS(truncate(f, 50), "truncate a file with capabilities");
	tap(!has_cap(f), "truncate dropped security.capability");

	set_cap(f);
	fd = open(f, O_WRONLY | O_TRUNC);
	close(fd);
	tap(!has_cap(f), "O_TRUNC dropped security.capability");

	set_cap(f);
	WORKS(chown(f, 0, 0), "chown a file with capabilities");
	tap(!has_cap(f), "chown dropped security.capability");

	set_cap(f);
	tap(has_cap(f) && chmod(f, 0700) == 0 && has_cap(f),
	    "chmod keeps security.capability");
}

/* ------------------------------------------------------------------ */
/* POSIX ACLs                                                          */
/* ------------------------------------------------------------------ */

static void acl_user_checks(void)
{
	int fd;

	fd = open(P("acl.f"), O_RDONLY);
	tap(fd >= 0, "as user: ACL user:65534:r-- lets it read a 0600 file");
	if (fd >= 0)
		close(fd);
	FAILS(open(P("acl.f"), O_WRONLY), EACCES,
	      "as user: but not write it");
	FAILS(open(P("acl.none"), O_RDONLY), EACCES,
	      "as user: a 0600 file without ACL stays closed");
	fd = open(P("acl.d/byuser"), O_CREAT | O_WRONLY, 0666);
	tap(fd >= 0, "as user: default ACL rwx on a 0755 dir lets it create");
	if (fd >= 0)
		close(fd);
}

/* Setting an access ACL as the owner, outside the file's group (and
 * without CAP_FSETID), clears setgid; in the group it stays (Linux's
 * posix_acl_update_mode, xfstests generic/375). Files prepared by
 * group_acl. */
static void acl_sgid_user_checks(void)
{
	static const char *const names[] = { "acl.sg", "acl.sgd", "acl.sgm" };
	static const mode_t want[] = { 0777, 0777, 02777 };

	for (int i = 0; i < 3; i++) {
		const char *f = P(names[i]);
		mode_t m;

		tap(sh("setfacl -m u::rwx,g::rwx,o::rwx '%s'", f) == 0,
		    "as owner: setfacl on %s", names[i]);
		m = st_of(f).st_mode & 07777;
		tap(m == want[i], "%s: mode %o after setfacl (want %o)",
		    names[i], m, want[i]);
	}
}

static void group_acl(void)
{
	struct stat a, b;
	char buf[8192];

	printf("# group: acl\n");
	if (sh("command -v setfacl >/dev/null && command -v getfacl "
	       ">/dev/null") != 0) {
		tap(1, "# SKIP setfacl/getfacl not installed");
		return;
	}
	make_file(P("acl.f"), 100, 'a', 0600);
	make_file(P("acl.none"), 100, 'a', 0600);
	a = st_of(P("acl.f"));
	tick();
	tap(sh("setfacl -m u:%d:r '%s'", NOBODY, P("acl.f")) == 0,
	    "setfacl -m u:65534:r");
	b = st_of(P("acl.f"));
	tap((b.st_mode & 07777) == 0640,
	    "mode's group bits show the mask (%o)", b.st_mode & 07777);
	tap(!ts_eq(a.st_ctim, b.st_ctim), "setfacl changes ctime");
	tap(b.st_blocks == a.st_blocks,
	    "the ACL fits in the inode (st_blocks unchanged)");
	tap(getxattr(P("acl.f"), "system.posix_acl_access", buf,
		     sizeof(buf)) == 4 + 5 * 8,
	    "system.posix_acl_access holds 5 entries (with the mask)");
	tap(sh("getfacl -n '%s' 2>/dev/null | grep -qx 'user:%d:r--'",
	       P("acl.f"), NOBODY) == 0,
	    "getfacl shows user:65534:r--");
	tap(sh("getfacl -n '%s' 2>/dev/null | grep -qx 'mask::r--'",
	       P("acl.f")) == 0, "getfacl shows mask::r--");
	/* chmod keeps the mask in step */
	WORKS(chmod(P("acl.f"), 0600), "chmod 0600");
	tap(sh("getfacl -n '%s' 2>/dev/null | grep -qx 'mask::---'",
	       P("acl.f")) == 0, "chmod 0600 sets mask::---");
	tap(sh("getfacl -n '%s' 2>/dev/null | grep -q 'user:%d:r--.*effective:---'",
	       P("acl.f"), NOBODY) == 0,
	    "the named entry is masked off");
	WORKS(chmod(P("acl.f"), 0640), "chmod 0640 (mask r again)");
	/* default ACLs */
	mkdir(P("acl.d"), 0755);
	tap(sh("setfacl -d -m u:%d:rwx '%s'", NOBODY, P("acl.d")) == 0,
	    "setfacl -d -m u:65534:rwx on a directory");
	tap(sh("setfacl -m u:%d:rwx '%s'", NOBODY, P("acl.d")) == 0,
	    "and the same access entry");
	{
		mode_t old = umask(077);
		int fd = open(P("acl.d/new"), O_CREAT | O_WRONLY, 0666);

		umask(old);
		tap(fd >= 0, "create under a default ACL");
		if (fd >= 0)
			close(fd);
	}
	b = st_of(P("acl.d/new"));
	/* default: user::rwx user:65534:rwx group::r-x mask::rwx other::r-x
	 * against 0666, umask ignored: 0664 */
	tap((b.st_mode & 07777) == 0664,
	    "new file: mode from the default ACL, umask ignored (%o)",
	    b.st_mode & 07777);
	tap(sh("getfacl -n '%s' 2>/dev/null | grep -q '^user:%d:rwx'",
	       P("acl.d/new"), NOBODY) == 0,
	    "new file inherits the named entry");
	tap(getxattr(P("acl.d/new"), "system.posix_acl_default", buf,
		     sizeof(buf)) < 0 && errno == ENODATA,
	    "a file gets no default ACL");
	WORKS(mkdir(P("acl.d/sub"), 0777), "mkdir under a default ACL");
	b = st_of(P("acl.d/sub"));
	tap((b.st_mode & 07777) == 0775, "new dir mode %o",
	    b.st_mode & 07777);
	tap(sh("getfacl -n '%s' 2>/dev/null | grep -q '^default:user:%d:rwx'",
	       P("acl.d/sub"), NOBODY) == 0,
	    "new dir inherits the default ACL");
	{
		mode_t old = umask(027);
		int fd = open(P("acl.umask"), O_CREAT | O_WRONLY, 0666);

		umask(old);
		if (fd >= 0)
			close(fd);
		b = st_of(P("acl.umask"));
		tap((b.st_mode & 07777) == 0640,
		    "without a default ACL the umask applies (%o)",
		    b.st_mode & 07777);
	}
	as_user(acl_user_checks);
	/* setgid: a file and a directory of group 0, a file of the
	 * user's own group */
	make_file(P("acl.sg"), 10, 's', 0644);
	mkdir(P("acl.sgd"), 0755);
	make_file(P("acl.sgm"), 10, 's', 0644);
	chown(P("acl.sg"), NOBODY, 0);
	chown(P("acl.sgd"), NOBODY, 0);
	chown(P("acl.sgm"), NOBODY, NOBODY);
	chmod(P("acl.sg"), 02755);
	chmod(P("acl.sgd"), 02755);
	chmod(P("acl.sgm"), 02755);
	as_user(acl_sgid_user_checks);
	tap(sh("getfacl -n '%s' 2>/dev/null | grep -q '^user:%d:rwx'",
	       P("acl.d/byuser"), NOBODY) == 0,
	    "the user's file inherited the ACL too");
	/* removing the ACL gives the block back */
	a = st_of(P("acl.none"));
	tap(sh("setfacl -b '%s'", P("acl.f")) == 0, "setfacl -b");
	b = st_of(P("acl.f"));
	tap(b.st_blocks == a.st_blocks &&
	    getxattr(P("acl.f"), "system.posix_acl_access", buf,
		     sizeof(buf)) < 0,
	    "no ACL left, block freed");
	/* setfacl with only base entries sets the mode, stores nothing */
	tap(sh("setfacl --set u::rw,g::r,o::- '%s'", P("acl.none")) == 0 &&
	    (st_of(P("acl.none")).st_mode & 07777) == 0640 &&
	    st_of(P("acl.none")).st_blocks == a.st_blocks,
	    "an ACL equal to a mode only changes the mode");
}

/* ------------------------------------------------------------------ */
/* fallocate                                                           */
/* ------------------------------------------------------------------ */

static int all_zero(int fd, off_t off, size_t len)
{
	char buf[65536];

	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);

		if (pread(fd, buf, n, off) != (ssize_t)n)
			return 0;
		for (size_t i = 0; i < n; i++)
			if (buf[i])
				return 0;
		off += (off_t)n;
		len -= n;
	}
	return 1;
}

static void fallocate_user_checks(void)
{
	int fd = open(P("fa.user"), O_CREAT | O_RDWR, 0644);

	WORKS(fallocate(fd, 0, 0, 1 << 20), "as user: fallocate 1 MiB");
	tap(st_of(P("fa.user")).st_size == 1 << 20, "as user: size 1 MiB");
	close(fd);
	fd = open(P("fa.f"), O_RDONLY);
	FAILS(fallocate(fd, 0, 0, 4096), EBADF,
	      "as user: fallocate on a read-only descriptor");
	close(fd);
}

static void group_fallocate(void)
{
	const char *f = P("fa.f");
	struct stat a, b;
	int fd, err;

	printf("# group: fallocate\n");
	fd = open(f, O_CREAT | O_RDWR | O_TRUNC, 0644);
	a = st_of(f);
	tick();
	WORKS(fallocate(fd, 0, 0, 1 << 20), "fallocate mode 0, 1 MiB");
	fstat(fd, &b);
	tap(b.st_size == 1 << 20, "size grows to 1 MiB (%lld)",
	    (long long)b.st_size);
	tap(b.st_blocks >= 2048, "blocks allocated (%lld)",
	    (long long)b.st_blocks);
	tap(!ts_eq(a.st_ctim, b.st_ctim), "ctime changed");
	tap(all_zero(fd, 0, 1 << 20), "allocated range reads as zeros");
	a = b;
	WORKS(fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 << 20, 1 << 20),
	      "FALLOC_FL_KEEP_SIZE past EOF");
	fstat(fd, &b);
	tap(b.st_size == 1 << 20 && b.st_blocks >= a.st_blocks + 2048,
	    "size kept, blocks added (%lld -> %lld)",
	    (long long)a.st_blocks, (long long)b.st_blocks);
	pwrite(fd, "abcdefgh", 8, 0);
	fsync(fd);
	a = b;
	tick();
	WORKS(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4,
			3 * 4096), "FALLOC_FL_PUNCH_HOLE, unaligned");
	fstat(fd, &b);
	tap(b.st_blocks == a.st_blocks - 16,
	    "two whole blocks freed (%lld -> %lld)",
	    (long long)a.st_blocks, (long long)b.st_blocks);
	{
		char buf[8];

		pread(fd, buf, 8, 0);
		tap(!memcmp(buf, "abcd\0\0\0\0", 8),
		    "bytes before the hole kept, hole zeroed");
	}
	tap(b.st_size == 1 << 20, "punch keeps the size");
	tap(!ts_eq(a.st_mtim, b.st_mtim) && !ts_eq(a.st_ctim, b.st_ctim),
	    "punch changes mtime and ctime");
	/* a whole indirect block's worth */
	a = b;
	WORKS(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			2 << 20), "punch everything, preallocation included");
	fstat(fd, &b);
	tap(b.st_blocks == 0, "no block left, indirect ones included (%lld)",
	    (long long)b.st_blocks);
	pwrite(fd, "zzzzzzzzzz", 10, 5000);
	WORKS(fallocate(fd, FALLOC_FL_ZERO_RANGE, 5002, 4), "ZERO_RANGE");
	{
		char buf[10];

		pread(fd, buf, 10, 5000);
		tap(!memcmp(buf, "zz\0\0\0\0zzzz", 10), "range zeroed");
	}
	WORKS(fallocate(fd, FALLOC_FL_ZERO_RANGE, (2 << 20) - 10, 100),
	      "ZERO_RANGE past EOF extends the size");
	fstat(fd, &b);
	tap(b.st_size == (2 << 20) + 90, "size %lld", (long long)b.st_size);
	FAILS(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP,
	      "PUNCH_HOLE without KEEP_SIZE");
	FAILS(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 4096), EOPNOTSUPP,
	      "COLLAPSE_RANGE");
	FAILS(fallocate(fd, FALLOC_FL_INSERT_RANGE, 0, 4096), EOPNOTSUPP,
	      "INSERT_RANGE");
	FAILS(fallocate(fd, 0, 0, 0), EINVAL, "length 0");
	FAILS(fallocate(fd, 0, -1, 10), EINVAL, "negative offset");
	FAILS(fallocate(fd, 0, 1ll << 62, 1ll << 62), EFBIG,
	      "past the maximum file size");
	close(fd);
	err = posix_fallocate(fd = open(P("fa.posix"), O_CREAT | O_RDWR, 0644),
			      0, 100000);
	tap(err == 0 && st_of(P("fa.posix")).st_size == 100000,
	    "posix_fallocate (%s)", strerror(err));
	close(fd);
	fd = open(P("fa.dir"), O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		mkdir(P("fa.dir"), 0755);
		fd = open(P("fa.dir"), O_RDONLY | O_DIRECTORY);
	}
	FAILS(fallocate(fd, 0, 0, 4096), EBADF, "fallocate on a directory fd");
	close(fd);
	as_user(fallocate_user_checks);
}

/* ------------------------------------------------------------------ */
/* SEEK_DATA / SEEK_HOLE                                               */
/* ------------------------------------------------------------------ */

static void group_seek(void)
{
	int fd = open(P("sk.f"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	const off_t M = 1 << 20;

	printf("# group: seek\n");
	/* data at [1M, 1M+8K) and [5M, 5M+1), hole elsewhere; no fsync */
	pwrite(fd, "d", 1, M);
	pwrite(fd, "d", 1, M + 8191);
	pwrite(fd, "e", 1, 5 * M);
	if (writeback) {
		/* -o writeback: the daemon cannot see what the kernel still
		 * holds, and answers ENOSYS; the kernel then reports every
		 * byte up to EOF as data (docs/DESIGN.md, "Killing the
		 * daemon"), which POSIX allows. */
		tap(lseek(fd, 0, SEEK_DATA) == 0, "writeback: SEEK_DATA "
		    "from 0 is 0 (no holes reported)");
		tap(lseek(fd, M, SEEK_HOLE) == 5 * M + 1, "writeback: "
		    "SEEK_HOLE is EOF");
		FAILS(lseek(fd, 5 * M + 1, SEEK_DATA), ENXIO,
		      "SEEK_DATA at EOF");
		close(fd);
		return;
	}
	tap(lseek(fd, 0, SEEK_DATA) == M, "SEEK_DATA from 0 finds 1M");
	tap(lseek(fd, 0, SEEK_HOLE) == 0, "SEEK_HOLE from 0 is 0");
	tap(lseek(fd, M + 100, SEEK_DATA) == M + 100,
	    "SEEK_DATA inside data stays");
	tap(lseek(fd, M, SEEK_HOLE) == M + 8192, "SEEK_HOLE after 1M data");
	tap(lseek(fd, M + 8192, SEEK_DATA) == 5 * M,
	    "SEEK_DATA across the hole finds 5M");
	tap(lseek(fd, 5 * M, SEEK_HOLE) == 5 * M + 1,
	    "SEEK_HOLE in the last block is EOF");
	FAILS(lseek(fd, 5 * M + 1, SEEK_DATA), ENXIO, "SEEK_DATA at EOF");
	FAILS(lseek(fd, 5 * M + 1, SEEK_HOLE), ENXIO, "SEEK_HOLE at EOF");
	FAILS(lseek(fd, -1, SEEK_DATA), ENXIO, "SEEK_DATA negative");
	ftruncate(fd, 100 * M);
	tap(lseek(fd, 5 * M + 4096, SEEK_DATA) < 0 && errno == ENXIO,
	    "SEEK_DATA in the tail hole of a grown file");
	tap(lseek(fd, 6 * M, SEEK_HOLE) == 6 * M, "SEEK_HOLE in it");
	fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, M, 8192);
	tap(lseek(fd, 0, SEEK_DATA) == 5 * M, "a punched range is a hole");
	close(fd);
	fd = open(P("sk.empty"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	FAILS(lseek(fd, 0, SEEK_DATA), ENXIO, "SEEK_DATA on an empty file");
	close(fd);
}

/* ------------------------------------------------------------------ */
/* copy_file_range                                                     */
/* ------------------------------------------------------------------ */

static void group_copy(void)
{
	const off_t M = 1 << 20;
	int in, out, ok = 1;
	struct stat a, b;
	loff_t oi, oo;
	char x[4096], y[4096];
	ssize_t n;

	printf("# group: copy_file_range\n");
	in = open(P("cp.in"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	out = open(P("cp.out"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	for (int i = 0; i < 64; i++) {
		memset(x, 'a' + i % 26, sizeof(x));
		pwrite(in, x, sizeof(x), (off_t)i * 4096);
	}
	pwrite(in, "end", 3, 4 * M);	/* a hole of ~3.7 MiB */
	fsync(in);	/* st_blocks is the daemon's: after writeback */
	fstat(in, &a);
	oi = 0;
	oo = 0;
	n = copy_file_range(in, &oi, out, &oo, (size_t)(8 * M), 0);
	tap(n == 4 * M + 3, "copy_file_range clips at EOF (%zd)", n);
	tap(oi == 4 * M + 3 && oo == 4 * M + 3, "offsets advanced");
	fstat(out, &b);
	tap(b.st_size == 4 * M + 3, "destination size");
	tap(b.st_blocks <= a.st_blocks,
	    "holes preserved (%lld blocks, source %lld)",
	    (long long)b.st_blocks, (long long)a.st_blocks);
	for (off_t o = 0; o < 4 * M + 3 && ok; o += 4096) {
		ssize_t r1 = pread(in, x, 4096, o), r2 = pread(out, y, 4096, o);

		ok = r1 == r2 && !memcmp(x, y, (size_t)r1);
	}
	tap(ok, "contents equal");
	/* unaligned, into the middle of an existing file */
	oi = 100;
	oo = 4096 * 3 + 7;
	n = copy_file_range(in, &oi, out, &oo, 10000, 0);
	pread(out, y, 10, 4096 * 3 + 7);
	pread(in, x, 10, 100);
	tap(n == 10000 && !memcmp(x, y, 10), "unaligned copy");
	oi = 0;
	oo = 100;
	FAILS(copy_file_range(in, &oi, in, &oo, 4096, 0), EINVAL,
	      "overlapping ranges of one file");
	oi = 0;
	oo = 8 * M;
	n = copy_file_range(in, &oi, in, &oo, 4096, 0);
	tap(n == 4096, "copy inside one file, no overlap");
	oi = 10 * M;
	oo = 0;
	tap(copy_file_range(in, &oi, out, &oo, 4096, 0) == 0,
	    "copy from past EOF copies nothing");
	FAILS(copy_file_range(in, NULL, out, NULL, 10, 1), EINVAL,
	      "flags must be 0");
	close(in);
	close(out);
}

/* ------------------------------------------------------------------ */
/* File flags                                                           */
/* ------------------------------------------------------------------ */

static int getflags(const char *path, int *fl)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK), r;

	if (fd < 0)
		return -1;
	r = ioctl(fd, FS_IOC_GETFLAGS, fl);
	close(fd);
	return r;
}

static int setflags(const char *path, int fl)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK), r, e;

	if (fd < 0)
		return -1;
	r = ioctl(fd, FS_IOC_SETFLAGS, &fl);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

static void flags_user_checks(void)
{
	int fl = 0;

	FAILS(setflags(P("fl.u"), FS_IMMUTABLE_FL), EPERM,
	      "as user: +i on own file");
	FAILS(setflags(P("fl.u"), FS_APPEND_FL), EPERM,
	      "as user: +a on own file");
	WORKS(setflags(P("fl.u"), FS_NODUMP_FL | FS_NOATIME_FL),
	      "as user: +d +A on own file");
	getflags(P("fl.u"), &fl);
	tap(fl == (FS_NODUMP_FL | FS_NOATIME_FL), "as user: flags read back");
	FAILS(setflags(P("fl.i"), 0), EPERM, "as user: flags of another's file");
}

static void group_flags(void)
{
	const char *f = P("fl.i"), *g = P("fl.a");
	struct stat a, b;
	int fl = -1, fd;

	printf("# group: flags\n");
	make_file(f, 100, 'i', 0644);
	make_file(g, 100, 'a', 0644);
	tap(getflags(f, &fl) == 0 && fl == 0, "FS_IOC_GETFLAGS: none");
	a = st_of(f);
	tick();
	WORKS(setflags(f, FS_IMMUTABLE_FL), "FS_IOC_SETFLAGS +i");
	b = st_of(f);
	if (writeback)
		tap(1, "# SKIP setting flags changes ctime (writeback cache)");
	else
		tap(!ts_eq(a.st_ctim, b.st_ctim),
		    "setting flags changes ctime");
	tap(getflags(f, &fl) == 0 && fl == FS_IMMUTABLE_FL, "reads back +i");
	tap(sh("lsattr '%s' | grep -q '^----i'", f) == 0, "lsattr shows i");
	FAILS(open(f, O_WRONLY), EPERM, "+i: open for writing");
	FAILS(open(f, O_RDONLY | O_TRUNC), EPERM, "+i: O_TRUNC");
	FAILS(truncate(f, 0), EPERM, "+i: truncate");
	FAILS(unlink(f), EPERM, "+i: unlink");
	FAILS(rename(f, P("fl.x")), EPERM, "+i: rename");
	FAILS(link(f, P("fl.x")), EPERM, "+i: link");
	FAILS(chmod(f, 0600), EPERM, "+i: chmod");
	FAILS(chown(f, 1, 1), EPERM, "+i: chown");
	FAILS(utimensat(AT_FDCWD, f, NULL, 0), EPERM, "+i: utimensat");
	FAILS(setxattr(f, "user.x", "1", 1, 0), EPERM, "+i: setxattr");
	fd = open(f, O_RDONLY);
	tap(fd >= 0, "+i: still readable");
	close(fd);
	WORKS(setflags(f, 0), "-i");
	WORKS(unlink(f), "unlink after -i");
	/* append-only */
	WORKS(setflags(g, FS_APPEND_FL), "+a");
	tap(sh("chattr -a '%s' && chattr +a '%s' && lsattr '%s' | "
	       "grep -q '^-----a'", g, g, g) == 0, "chattr/lsattr +a");
	FAILS(open(g, O_WRONLY), EPERM, "+a: open for writing without O_APPEND");
	FAILS(open(g, O_WRONLY | O_APPEND | O_TRUNC), EPERM, "+a: O_TRUNC");
	fd = open(g, O_WRONLY | O_APPEND);
	tap(fd >= 0, "+a: open with O_APPEND");
	WORKS(write(fd, "more", 4), "+a: append");
	close(fd);
	tap(st_of(g).st_size == 104, "+a: size grew to 104");
	FAILS(truncate(g, 10), EPERM, "+a: truncate");
	FAILS(unlink(g), EPERM, "+a: unlink");
	FAILS(rename(g, P("fl.x")), EPERM, "+a: rename");
	FAILS(chmod(g, 0600), EPERM, "+a: chmod");
	FAILS(setxattr(g, "user.x", "1", 1, 0), EPERM, "+a: setxattr");
	/* times: "now" is allowed (xfstests generic/079), explicit not */
	WORKS(utimensat(AT_FDCWD, g, NULL, 0), "+a: utimensat(NULL)");
	{
		struct timespec ts[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };

		WORKS(utimensat(AT_FDCWD, g, ts, 0), "+a: UTIME_NOW both");
		ts[0].tv_sec = ts[1].tv_sec = 1000;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		FAILS(utimensat(AT_FDCWD, g, ts, 0), EPERM,
		      "+a: explicit times");
	}
	fd = open(g, O_RDWR | O_APPEND);
	FAILS(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 10),
	      EPERM, "+a: punch hole");
	close(fd);
	WORKS(setflags(g, 0), "-a");
	WORKS(unlink(g), "unlink after -a");
	/* a directory */
	mkdir(P("fl.d"), 0755);
	WORKS(setflags(P("fl.d"), FS_IMMUTABLE_FL), "+i on a directory");
	FAILS(open(P("fl.d/new"), O_CREAT | O_WRONLY, 0644), EPERM,
	      "+i directory: no new names");
	setflags(P("fl.d"), FS_APPEND_FL);
	WORKS(mkdir(P("fl.d/sub"), 0755), "+a directory: new names");
	FAILS(rmdir(P("fl.d/sub")), EPERM, "+a directory: no removal");
	setflags(P("fl.d"), 0);
	rmdir(P("fl.d/sub"));
	/* noatime */
	make_file(P("fl.n"), 10, 'n', 0644);
	WORKS(setflags(P("fl.n"), FS_NOATIME_FL), "+A");
	FAILS(setflags(P("fl.n"), FS_COMPR_FL), EOPNOTSUPP,
	      "an unsupported flag");
	make_file(P("fl.u"), 10, 'u', 0644);
	chown(P("fl.u"), NOBODY, NOBODY);
	make_file(f, 10, 'i', 0644);
	as_user(flags_user_checks);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: conform MOUNTPOINT\n");
		return 2;
	}
	if (getuid() != 0) {
		printf("1..0 # SKIP needs root (switches to uid %d)\n",
		       NOBODY);
		return 0;
	}
	if (strlen(argv[1]) > sizeof(base) - 16)
		return 2;
	snprintf(base, sizeof(base), "%.4000s/conform", argv[1]);
	writeback = getenv("MAPFS_CONFORM_WRITEBACK") &&
		    !strcmp(getenv("MAPFS_CONFORM_WRITEBACK"), "1");
	mkdir(base, 0777);
	chmod(base, 0777);
	umask(022);
	group_xattr();
	group_caps();
	group_acl();
	group_fallocate();
	group_seek();
	group_copy();
	group_flags();
	printf("1..%d\n", ntests);
	if (nfail)
		printf("# %d of %d checks failed\n", nfail, ntests);
	return nfail ? 1 : 0;
}
