/* SPDX-License-Identifier: MIT */
/*
 * posix_ops.c - exercise every filesystem operation of a mounted mapfs
 * with plain system calls and check results, errno and attributes
 * against POSIX and Linux semantics.
 *
 * Usage: posix_ops MNT [SMALL_MNT]
 *
 * MNT is the mount point of a fresh filesystem (a plain directory on
 * tmpfs or ext4 works too: the semantics checked are the kernel's and
 * POSIX's, so any correct local filesystem passes). The tests run in a
 * new directory MNT/posix_ops. SMALL_MNT, when given, is a small (about
 * 32 MiB) filesystem used for the ENOSPC checks; without it they are
 * skipped.
 *
 * Output is TAP: "ok N - what" / "not ok N - what: details", then the
 * plan "1..N". Exit status 1 if any check failed, 0 otherwise.
 *
 * Checks that need another user (permissions, sticky and setgid
 * directories, the root reserve) run in a forked child that drops to
 * uid/gid 65534; they need root, and on FUSE a mount with allow_other.
 * Without root they are reported as skipped.
 *
 * Environment: MAPFS_EXPECT_RESERVE=1 makes the "non-root hits ENOSPC
 * before root" check mandatory (otherwise it is skipped on filesystems
 * whose statvfs shows no reserve, f_bavail == f_bfree).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOBODY 65534u
#define MIB (1024 * 1024)

/* ------------------------------------------------------------------ */
/* TAP bookkeeping, shared with forked children                        */
/* ------------------------------------------------------------------ */
struct tap_state {
	int n;		/* checks reported so far */
	int failed;	/* of which failed */
};
static struct tap_state *tap;
static bool is_root;
static const char *small_mnt;

static void vreport(bool pass, const char *detail, const char *fmt,
		    va_list ap)
{
	char desc[512];

	vsnprintf(desc, sizeof(desc), fmt, ap);
	tap->n++;
	if (!pass)
		tap->failed++;
	printf("%sok %d - %s%s%s\n", pass ? "" : "not ", tap->n, desc,
	       detail && *detail ? ": " : "", detail ? detail : "");
	fflush(stdout);
}

static bool report(bool pass, const char *detail, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool report(bool pass, const char *detail, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(pass, detail, fmt, ap);
	va_end(ap);
	return pass;
}

static void skip(const char *why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void skip(const char *why, const char *fmt, ...)
{
	char desc[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	tap->n++;
	printf("ok %d - %s # SKIP %s\n", tap->n, desc, why);
	fflush(stdout);
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static const char *errname(int e)
{
	static char buf[8][64];
	static int i;
	const char *n = strerrorname_np(e);

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s", n ? n : "E?");
	return buf[i];
}

/* Expect success: r >= 0. */
static bool expect_ok_(long long r, int e, const char *expr, int line,
		       const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static bool expect_ok_(long long r, int e, const char *expr, int line,
		       const char *fmt, ...)
{
	char detail[512] = "";
	va_list ap;

	if (r < 0)
		snprintf(detail, sizeof(detail),
			 "line %d: %s failed with %s (%s)", line, expr,
			 errname(e), strerror(e));
	va_start(ap, fmt);
	vreport(r >= 0, detail, fmt, ap);
	va_end(ap);
	return r >= 0;
}

/* Expect failure with errno want. */
static bool expect_err_(long long r, int e, int want, const char *expr,
			int line, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static bool expect_err_(long long r, int e, int want, const char *expr,
			int line, const char *fmt, ...)
{
	char detail[512] = "";
	bool pass = r == -1 && e == want;
	va_list ap;

	if (r != -1)
		snprintf(detail, sizeof(detail),
			 "line %d: %s returned %lld, expected -1 %s", line,
			 expr, r, errname(want));
	else if (e != want)
		snprintf(detail, sizeof(detail),
			 "line %d: %s failed with %s, expected %s", line,
			 expr, errname(e), errname(want));
	va_start(ap, fmt);
	vreport(pass, detail, fmt, ap);
	va_end(ap);
	return pass;
}

static bool expect_eq_(long long a, long long b, const char *ea,
		       const char *eb, int line, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static bool expect_eq_(long long a, long long b, const char *ea,
		       const char *eb, int line, const char *fmt, ...)
{
	char detail[512] = "";
	va_list ap;

	if (a != b)
		snprintf(detail, sizeof(detail),
			 "line %d: %s = %lld (%#llo), expected %s = %lld (%#llo)",
			 line, ea, a, a, eb, b, b);
	va_start(ap, fmt);
	vreport(a == b, detail, fmt, ap);
	va_end(ap);
	return a == b;
}

static bool check_(bool cond, const char *expr, int line, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));
static bool check_(bool cond, const char *expr, int line, const char *fmt,
		   ...)
{
	char detail[512] = "";
	va_list ap;

	if (!cond)
		snprintf(detail, sizeof(detail), "line %d: %s is false",
			 line, expr);
	va_start(ap, fmt);
	vreport(cond, detail, fmt, ap);
	va_end(ap);
	return cond;
}

/* The value of expr is returned, so a call can be checked and used. */
#define EXPECT_OK(expr, ...) ({ \
	errno = 0; \
	long long r_ = (long long)(expr); \
	int e_ = errno; \
	expect_ok_(r_, e_, #expr, __LINE__, __VA_ARGS__); \
	r_; })
#define EXPECT_ERR(expr, err, ...) ({ \
	errno = 0; \
	long long r_ = (long long)(expr); \
	int e_ = errno; \
	expect_err_(r_, e_, (err), #expr, __LINE__, __VA_ARGS__); })
#define EXPECT_EQ(a, b, ...) \
	expect_eq_((long long)(a), (long long)(b), #a, #b, __LINE__, \
		   __VA_ARGS__)
#define CHECK(cond, ...) check_(!!(cond), #cond, __LINE__, __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* Deterministic content: byte i of a stream named by seed. */
static void fill_pattern(unsigned char *buf, size_t len, uint64_t seed,
			 uint64_t off)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t x = (off + i) * 0x9e3779b97f4a7c15ull ^ seed;

		x ^= x >> 29;
		x *= 0xbf58476d1ce4e5b9ull;
		x ^= x >> 32;
		buf[i] = (unsigned char)x;
	}
}

static bool all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		perror("malloc");
		exit(2);
	}
	return p;
}

/* Write len bytes at the current offset, looping on short writes.
 * Returns bytes written; on error, *errp gets errno. */
static size_t write_all(int fd, const void *buf, size_t len, int *errp)
{
	size_t done = 0;

	*errp = 0;
	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n < 0) {
			*errp = errno;
			break;
		}
		if (n == 0) {
			*errp = EIO;
			break;
		}
		done += (size_t)n;
	}
	return done;
}

static ssize_t pread_all(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  off + (off_t)done);

		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Create path with exactly the given content. 0 or -1 (errno set).
 * Uses ftruncate rather than O_TRUNC, so that an O_TRUNC bug shows in
 * its own checks only. */
static int put_file(const char *path, const void *buf, size_t len,
		    mode_t mode)
{
	int fd = open(path, O_CREAT | O_WRONLY, mode);
	int err;

	if (fd < 0)
		return -1;
	if (ftruncate(fd, 0) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	if (write_all(fd, buf, len, &err) != len) {
		close(fd);
		errno = err;
		return -1;
	}
	return close(fd);
}

/* Read the whole file at path into a malloc'd buffer. -1 on error. */
static ssize_t get_file(const char *path, unsigned char **bufp)
{
	struct stat st;
	unsigned char *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	*bufp = NULL;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	n = pread_all(fd, buf, (size_t)st.st_size + 1, 0);
	close(fd);
	if (n < 0) {
		free(buf);
		return -1;
	}
	*bufp = buf;
	return n;
}

static bool file_is(const char *path, const void *want, size_t len)
{
	unsigned char *buf;
	ssize_t n = get_file(path, &buf);
	bool same = n == (ssize_t)len && memcmp(buf, want, len) == 0;

	free(buf);
	return same;
}

static struct stat lst(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		diag("lstat(%s): %s", path, strerror(errno));
		memset(&st, 0, sizeof(st));
	}
	return st;
}

static ino_t ino_of(const char *path)
{
	return lst(path).st_ino;
}

static nlink_t nlink_of(const char *path)
{
	return lst(path).st_nlink;
}

static mode_t mode_of(const char *path)
{
	return lst(path).st_mode;
}

static off_t size_of(const char *path)
{
	return lst(path).st_size;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static struct timespec now_ts(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

static long long ts_ns(struct timespec t)
{
	return (long long)t.tv_sec * 1000000000ll + t.tv_nsec;
}

static int ts_cmp(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	if (a.tv_nsec != b.tv_nsec)
		return a.tv_nsec < b.tv_nsec ? -1 : 1;
	return 0;
}

static bool ts_eq(struct timespec a, long long sec, long nsec)
{
	return a.tv_sec == sec && a.tv_nsec == nsec;
}

/* Kernel timestamps come from a coarse clock that may lag the fine one
 * by a tick or two: allow 50 ms either way around [lo, hi]. */
static bool ts_within(struct timespec t, struct timespec lo,
		      struct timespec hi)
{
	long long slack = 50 * 1000000ll;

	return ts_ns(t) >= ts_ns(lo) - slack && ts_ns(t) <= ts_ns(hi) + slack;
}

static void nap(void)
{
	struct timespec d = { 0, 60 * 1000000l };	/* 60 ms */

	nanosleep(&d, NULL);
}

/* Set atime and mtime of path (not following symlinks). */
static int set_times(const char *path, long long asec, long ansec,
		     long long msec, long mnsec)
{
	struct timespec ts[2] = { { asec, ansec }, { msec, mnsec } };

	return utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

static void make_name(char *buf, size_t len, char c, const char *prefix)
{
	size_t pl = strlen(prefix);

	memcpy(buf, prefix, pl);
	for (size_t i = pl; i < len; i++)
		buf[i] = (char)(c + i % 7);
	buf[len] = '\0';
}

/* Run fn as uid/gid 65534 without supplementary groups, in a child; the
 * child reports its own checks. A crash or early exit is a failure. */
static void as_nobody(const char *what, void (*fn)(void *), void *arg)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		report(false, strerror(errno), "fork for %s", what);
		return;
	}
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 ||
		    setuid(NOBODY) < 0) {
			report(false, strerror(errno), "drop to uid 65534");
			fflush(stdout);
			_exit(1);
		}
		fn(arg);
		fflush(stdout);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		report(false, "child died", "unprivileged child for %s", what);
}

/* ------------------------------------------------------------------ */
/* Create, open, read, write                                           */
/* ------------------------------------------------------------------ */
static void t_basic_io(void)
{
	char buf[64];
	int fd;

	fd = EXPECT_OK(open("basic", O_CREAT | O_EXCL | O_RDWR, 0644),
		       "create with O_CREAT|O_EXCL");
	EXPECT_EQ(write(fd, "hello, world", 12), 12, "write 12 bytes");
	EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 12, "offset advanced by write");
	EXPECT_OK(close(fd), "close after write");

	fd = EXPECT_OK(open("basic", O_RDONLY), "open O_RDONLY");
	EXPECT_EQ(read(fd, buf, sizeof(buf)), 12, "read returns 12 bytes");
	CHECK(memcmp(buf, "hello, world", 12) == 0, "read back content");
	EXPECT_EQ(read(fd, buf, sizeof(buf)), 0, "read at EOF returns 0");
	EXPECT_ERR(write(fd, "x", 1), EBADF, "write on O_RDONLY fd");
	EXPECT_OK(close(fd), "close after read");

	EXPECT_ERR(open("basic", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST,
		   "O_EXCL on an existing file");
	EXPECT_ERR(open("no-such-file", O_RDONLY), ENOENT,
		   "open a missing file");
	EXPECT_ERR(open("basic/x", O_RDONLY), ENOTDIR,
		   "open through a regular file");
	EXPECT_ERR(open(".", O_WRONLY), EISDIR, "open a directory for write");

	fd = EXPECT_OK(open("basic", O_CREAT | O_RDWR, 0600),
		       "O_CREAT without O_EXCL opens the existing file");
	EXPECT_EQ(size_of("basic"), 12, "existing content kept");
	close(fd);

	fd = EXPECT_OK(open("basic", O_WRONLY | O_TRUNC), "open O_TRUNC");
	{
		struct stat st;

		fstat(fd, &st);
		EXPECT_EQ(st.st_size, 0, "O_TRUNC empties the file (fstat)");
	}
	close(fd);
	EXPECT_EQ(size_of("basic"), 0, "O_TRUNC empties the file (stat)");

	put_file("basic", "abc", 3, 0644);
	fd = EXPECT_OK(open("basic", O_WRONLY | O_APPEND), "open O_APPEND");
	lseek(fd, 0, SEEK_SET);
	EXPECT_EQ(write(fd, "def", 3), 3, "write with O_APPEND");
	EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 6, "O_APPEND offset at new EOF");
	close(fd);
	CHECK(file_is("basic", "abcdef", 6), "O_APPEND wrote at the end");

	/* Write, then read through another descriptor while still open. */
	fd = open("basic", O_RDWR);
	pwrite(fd, "XY", 2, 1);
	CHECK(file_is("basic", "aXYdef", 6),
	      "overwrite visible through another open file");
	close(fd);
}

static void t_pread_pwrite(void)
{
	unsigned char buf[256], zero[16] = { 0 };
	int fd = EXPECT_OK(open("pw", O_CREAT | O_RDWR, 0644), "create pw");

	EXPECT_EQ(pwrite(fd, "xyz", 3, 10000), 3, "pwrite at 10000");
	EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 0, "pwrite leaves the offset");
	EXPECT_EQ(size_of("pw"), 10003, "size after pwrite past EOF");
	EXPECT_EQ(pread(fd, buf, 5, 9998), 5, "pread 5 at 9998");
	CHECK(memcmp(buf, "\0\0xyz", 5) == 0, "pread content around a write");
	EXPECT_EQ(pread(fd, buf, 100, 9990), 13, "pread short at EOF");
	EXPECT_EQ(pread(fd, buf, 10, 10003), 0, "pread at EOF");
	EXPECT_EQ(pread(fd, buf, 10, 50000), 0, "pread past EOF");
	EXPECT_EQ(pread(fd, buf, 256, 0), 256, "pread 256 at 0");
	CHECK(all_zero(buf, 256), "never-written bytes read as zero");

	EXPECT_EQ(pwrite(fd, "ABCD", 4, 4094), 4,
		  "pwrite across a 4 KiB boundary");
	EXPECT_EQ(pread(fd, buf, 8, 4090), 8, "pread across the boundary");
	CHECK(memcmp(buf, zero, 4) == 0 && memcmp(buf + 4, "ABCD", 4) == 0,
	      "content across the boundary");
	EXPECT_EQ(pwrite(fd, "12", 2, 10001), 2, "overwrite in the middle");
	EXPECT_EQ(pread(fd, buf, 3, 10000), 3, "pread after overwrite");
	CHECK(memcmp(buf, "x12", 3) == 0, "overwritten bytes");
	EXPECT_EQ(size_of("pw"), 10003, "overwrite keeps the size");
	close(fd);
}

static void t_large(void)
{
	const size_t size = 8 * MIB + 12345;
	unsigned char *want = xmalloc(size), *got = xmalloc(size);
	struct stat st;
	size_t done;
	bool ok = true;
	int fd, err = 0;

	fill_pattern(want, size, 1, 0);
	fd = EXPECT_OK(open("large", O_CREAT | O_TRUNC | O_WRONLY, 0644),
		       "create large");
	for (done = 0; done < size && ok;) {
		size_t n = size - done < 100003 ? size - done : 100003;

		ok = write_all(fd, want + done, n, &err) == n;
		done += n;
	}
	report(ok, ok ? NULL : strerror(err), "write %zu bytes in odd chunks",
	       size);
	EXPECT_OK(fsync(fd), "fsync large");
	close(fd);
	st = lst("large");
	EXPECT_EQ(st.st_size, size, "large file size");
	CHECK((size_t)st.st_blocks * 512 >= size, "large file st_blocks");
	CHECK((size_t)st.st_blocks * 512 <= size + size / 32 + 65536,
	      "large file st_blocks not inflated");

	fd = open("large", O_RDONLY);
	memset(got, 0, size);
	for (done = 0; done < size;) {
		ssize_t n = read(fd, got + done, 65536);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	EXPECT_EQ(done, size, "read back the whole large file");
	CHECK(memcmp(want, got, size) == 0, "large file content round trip");
	memset(got, 0, size);
	EXPECT_EQ(pread_all(fd, got, size, 0), size, "one big pread");
	CHECK(memcmp(want, got, size) == 0, "large file content, one pread");
	{
		/* Random reads across block boundaries. */
		bool same = true;

		for (int i = 0; i < 200 && same; i++) {
			size_t off = rng() % size, n = rng() % 20000;

			if (n > size - off)
				n = size - off;
			same = pread_all(fd, got, n, (off_t)off) == (ssize_t)n &&
			       memcmp(got, want + off, n) == 0;
		}
		CHECK(same, "200 random preads match");
	}
	close(fd);
	free(want);
	free(got);
}

static void t_sparse(void)
{
	const off_t off = 5ll << 30;	/* 5 GiB */
	unsigned char *buf = xmalloc(65536);
	struct stat st;
	int fd;

	fd = EXPECT_OK(open("sparse", O_CREAT | O_TRUNC | O_RDWR, 0644),
		       "create sparse");
	EXPECT_EQ(pwrite(fd, "Z", 1, off), 1, "write one byte at 5 GiB");
	EXPECT_OK(fsync(fd), "fsync sparse");
	fstat(fd, &st);
	EXPECT_EQ(st.st_size, off + 1, "sparse size is 5 GiB + 1");
	CHECK(st.st_blocks * 512 <= 1 * MIB, "sparse file holds few blocks "
	      "(st_blocks %lld)", (long long)st.st_blocks);
	CHECK(st.st_blocks > 0, "sparse file holds at least one block");
	for (int pass = 0; pass < 2; pass++) {
		const char *when = pass ? "after reopen" : "";

		EXPECT_EQ(pread(fd, buf, 65536, 0), 65536, "read hole at 0 %s",
			  when);
		CHECK(all_zero(buf, 65536), "hole at 0 reads zeros %s", when);
		EXPECT_EQ(pread(fd, buf, 65536, 1ll << 30), 65536,
			  "read hole at 1 GiB %s", when);
		CHECK(all_zero(buf, 65536), "hole at 1 GiB reads zeros %s",
		      when);
		EXPECT_EQ(pread(fd, buf, 4096, off - 4096), 4096,
			  "read the block before the byte %s", when);
		CHECK(all_zero(buf, 4096), "block before the byte is zeros %s",
		      when);
		memset(buf, 0xee, 64);
		EXPECT_EQ(pread(fd, buf, 20, off - 10), 11,
			  "read across the byte to EOF %s", when);
		CHECK(all_zero(buf, 10) && buf[10] == 'Z',
		      "bytes around 5 GiB %s", when);
		if (!pass) {
			close(fd);
			fd = open("sparse", O_RDWR);
		}
	}
	/* Fill a byte in the middle of the hole. */
	EXPECT_EQ(pwrite(fd, "M", 1, 2ll << 30), 1, "write a byte at 2 GiB");
	EXPECT_EQ(pread(fd, buf, 3, (2ll << 30) - 1), 3,
		  "read around 2 GiB");
	CHECK(buf[0] == 0 && buf[1] == 'M' && buf[2] == 0,
	      "byte at 2 GiB with zeros around");
	fstat(fd, &st);
	EXPECT_EQ(st.st_size, off + 1, "writing into the hole keeps the size");
	close(fd);
	EXPECT_OK(unlink("sparse"), "unlink the sparse file");
	free(buf);
}

static void t_truncate(void)
{
	unsigned char want[12288], got[20000];
	struct stat st;
	int fd;

	fill_pattern(want, sizeof(want), 2, 0);
	put_file("tr", want, 10000, 0644);
	fd = EXPECT_OK(open("tr", O_RDWR), "open tr");
	EXPECT_OK(ftruncate(fd, 5000), "ftruncate down to 5000");
	EXPECT_EQ(size_of("tr"), 5000, "size after ftruncate down");
	EXPECT_EQ(pread(fd, got, sizeof(got), 0), 5000, "read after shrink");
	CHECK(memcmp(got, want, 5000) == 0, "content kept below the cut");
	EXPECT_OK(ftruncate(fd, 20000), "ftruncate up to 20000");
	EXPECT_EQ(size_of("tr"), 20000, "size after ftruncate up");
	EXPECT_EQ(pread(fd, got, sizeof(got), 0), 20000, "read after growing");
	CHECK(memcmp(got, want, 5000) == 0 && all_zero(got + 5000, 15000),
	      "old data past the cut does not come back");
	close(fd);

	/* A cut inside a block: the tail of that block must be zeroed. */
	put_file("tr2", want, sizeof(want), 0644);
	EXPECT_OK(truncate("tr2", 4097), "truncate(path) to 4097");
	EXPECT_OK(truncate("tr2", 12288), "truncate(path) back to 12288");
	fd = open("tr2", O_RDONLY);
	EXPECT_EQ(pread(fd, got, sizeof(got), 0), 12288, "read tr2");
	CHECK(memcmp(got, want, 4097) == 0 && all_zero(got + 4097, 12288 - 4097),
	      "tail of a partly cut block reads zeros");
	close(fd);

	EXPECT_OK(truncate("tr2", 0), "truncate to 0");
	st = lst("tr2");
	EXPECT_EQ(st.st_size, 0, "size 0");
	EXPECT_EQ(st.st_blocks, 0, "truncate to 0 frees all blocks");
	EXPECT_OK(truncate("tr2", 1 * MIB), "truncate an empty file up 1 MiB");
	st = lst("tr2");
	EXPECT_EQ(st.st_size, 1 * MIB, "size after growing by truncate");
	CHECK(st.st_blocks * 512 < 64 * 1024, "growing by truncate is sparse");
	EXPECT_ERR(truncate(".", 0), EISDIR, "truncate a directory");
	EXPECT_ERR(truncate("tr2", -1), EINVAL, "truncate to a negative size");
	EXPECT_ERR(truncate("no-such", 0), ENOENT, "truncate a missing file");
}

/* ------------------------------------------------------------------ */
/* Attributes                                                          */
/* ------------------------------------------------------------------ */
static void t_stat(void)
{
	struct stat st, st2, dst;
	int fd;

	fd = EXPECT_OK(open("st", O_CREAT | O_EXCL | O_RDWR, 0666),
		       "create st 0666 under umask 022");
	st = lst("st");
	EXPECT_EQ(st.st_mode, S_IFREG | 0644, "mode of a new file");
	EXPECT_EQ(st.st_nlink, 1, "nlink of a new file");
	EXPECT_EQ(st.st_uid, geteuid(), "uid of a new file");
	EXPECT_EQ(st.st_gid, getegid(), "gid of a new file");
	EXPECT_EQ(st.st_size, 0, "size of a new file");
	EXPECT_EQ(st.st_blocks, 0, "blocks of a new file");
	CHECK(st.st_blksize > 0, "st_blksize positive");
	EXPECT_EQ(write(fd, "x", 1), 1, "write one byte");
	fstat(fd, &st2);
	EXPECT_EQ(st2.st_ino, st.st_ino, "fstat and stat agree on st_ino");
	EXPECT_EQ(st2.st_size, 1, "size after one byte (fstat)");
	EXPECT_OK(fsync(fd), "fsync st");
	st = lst("st");
	EXPECT_EQ(st.st_size, 1, "size after one byte (stat)");
	CHECK(st.st_blocks > 0, "one byte takes a block");
	close(fd);
	dst = lst(".");
	EXPECT_EQ(st.st_dev, dst.st_dev, "same st_dev as the directory");
	CHECK(st.st_ino != dst.st_ino && st.st_ino != ino_of("basic"),
	      "distinct inode numbers");

	EXPECT_OK(mkdir("std", 0777), "mkdir std 0777 under umask 022");
	st = lst("std");
	EXPECT_EQ(st.st_mode, S_IFDIR | 0755, "mode of a new directory");
	EXPECT_EQ(st.st_nlink, 2, "nlink of a new directory");
	EXPECT_EQ(st.st_uid, geteuid(), "uid of a new directory");
	EXPECT_EQ(st.st_gid, getegid(), "gid of a new directory");
}

static void t_chmod_chown(void)
{
	struct stat st;
	int fd;

	put_file("cm", "data", 4, 0644);
	EXPECT_OK(chmod("cm", 0640), "chmod 0640");
	EXPECT_EQ(mode_of("cm"), S_IFREG | 0640, "mode after chmod");
	fd = open("cm", O_RDONLY);
	EXPECT_OK(fchmod(fd, 04755), "fchmod 04755");
	close(fd);
	EXPECT_EQ(mode_of("cm"), S_IFREG | 04755, "setuid bit stored");
	EXPECT_OK(chmod("cm", 0), "chmod 0");
	EXPECT_EQ(mode_of("cm"), S_IFREG, "mode 0 stored");
	mkdir("cmd", 0755);
	EXPECT_OK(chmod("cmd", 07777), "chmod 07777 on a directory");
	EXPECT_EQ(mode_of("cmd"), S_IFDIR | 07777, "directory mode 07777");
	EXPECT_ERR(chmod("no-such", 0644), ENOENT, "chmod a missing file");
	EXPECT_OK(chmod("cm", 0644), "chmod back to 0644");

	if (!is_root) {
		skip("not root", "chown tests");
		return;
	}
	EXPECT_OK(chown("cm", 1234, 5678), "chown 1234:5678");
	st = lst("cm");
	CHECK(st.st_uid == 1234 && st.st_gid == 5678, "owner after chown");
	EXPECT_OK(chown("cm", (uid_t)-1, 42), "chown -1:42");
	st = lst("cm");
	CHECK(st.st_uid == 1234 && st.st_gid == 42, "only the group changed");
	fd = open("cm", O_RDONLY);
	EXPECT_OK(fchown(fd, (uid_t)-1, (gid_t)-1), "fchown -1:-1");
	close(fd);
	st = lst("cm");
	CHECK(st.st_uid == 1234 && st.st_gid == 42, "fchown -1:-1 is a no-op");
	EXPECT_EQ(st.st_mode, S_IFREG | 0644, "chown keeps the mode");

	EXPECT_OK(chmod("cm", 06755), "chmod 06755");
	EXPECT_OK(chown("cm", 0, 0), "chown a setuid file");
	EXPECT_EQ(mode_of("cm"), S_IFREG | 0755,
		  "chown clears setuid and setgid (group exec) bits");

	symlink("cm", "cm-link");
	EXPECT_OK(lchown("cm-link", 777, 888), "lchown a symlink");
	st = lst("cm-link");
	CHECK(st.st_uid == 777 && st.st_gid == 888, "symlink owner changed");
	st = lst("cm");
	CHECK(st.st_uid == 0 && st.st_gid == 0, "target owner unchanged");
}

static void t_utimens(void)
{
	struct timespec ts[2], before, after;
	struct stat st;
	int fd;

	put_file("ut", "x", 1, 0644);
	ts[0] = (struct timespec){ 1000000000, 123456789 };
	ts[1] = (struct timespec){ 1500000000, 987654321 };
	EXPECT_OK(utimensat(AT_FDCWD, "ut", ts, 0), "utimensat with ns");
	st = lst("ut");
	CHECK(ts_eq(st.st_atim, 1000000000, 123456789),
	      "atime with nanoseconds (got %lld.%09ld)",
	      (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
	CHECK(ts_eq(st.st_mtim, 1500000000, 987654321),
	      "mtime with nanoseconds (got %lld.%09ld)",
	      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);

	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_nsec = UTIME_OMIT;
	before = now_ts();
	EXPECT_OK(utimensat(AT_FDCWD, "ut", ts, 0), "UTIME_NOW, UTIME_OMIT");
	after = now_ts();
	st = lst("ut");
	CHECK(ts_within(st.st_atim, before, after), "UTIME_NOW sets atime");
	CHECK(ts_eq(st.st_mtim, 1500000000, 987654321),
	      "UTIME_OMIT keeps mtime");
	CHECK(ts_within(st.st_ctim, before, after), "utimensat sets ctime");

	ts[0] = (struct timespec){ 0, UTIME_OMIT };
	ts[1] = (struct timespec){ 2000000000, 1 };
	struct timespec a0 = st.st_atim;
	EXPECT_OK(utimensat(AT_FDCWD, "ut", ts, 0), "UTIME_OMIT, explicit");
	st = lst("ut");
	CHECK(ts_cmp(st.st_atim, a0) == 0, "UTIME_OMIT keeps atime");
	CHECK(ts_eq(st.st_mtim, 2000000000, 1), "mtime 2000000000.000000001");

	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_OMIT;
	EXPECT_OK(utimensat(AT_FDCWD, "ut", ts, 0), "UTIME_OMIT twice");
	st = lst("ut");
	CHECK(ts_cmp(st.st_atim, a0) == 0 && ts_eq(st.st_mtim, 2000000000, 1),
	      "UTIME_OMIT twice changes nothing");

	before = now_ts();
	EXPECT_OK(utimensat(AT_FDCWD, "ut", NULL, 0), "utimensat NULL");
	after = now_ts();
	st = lst("ut");
	CHECK(ts_within(st.st_atim, before, after) &&
	      ts_within(st.st_mtim, before, after), "NULL times mean now");

	ts[0] = (struct timespec){ 4000000000ll, 999999999 };
	ts[1] = (struct timespec){ -2, 500000000 };
	EXPECT_OK(utimensat(AT_FDCWD, "ut", ts, 0),
		  "times past 2038 and before 1970");
	st = lst("ut");
	CHECK(ts_eq(st.st_atim, 4000000000ll, 999999999),
	      "atime past 2038 (got %lld.%09ld)", (long long)st.st_atim.tv_sec,
	      st.st_atim.tv_nsec);
	CHECK(ts_eq(st.st_mtim, -2, 500000000),
	      "mtime before 1970 (got %lld.%09ld)",
	      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);

	fd = open("ut", O_RDONLY);
	ts[0] = (struct timespec){ 1234567890, 5 };
	ts[1] = (struct timespec){ 1234567891, 999999999 };
	EXPECT_OK(futimens(fd, ts), "futimens");
	close(fd);
	st = lst("ut");
	CHECK(ts_eq(st.st_atim, 1234567890, 5) &&
	      ts_eq(st.st_mtim, 1234567891, 999999999), "futimens times");

	ts[1].tv_nsec = 1000000000;
	EXPECT_ERR(utimensat(AT_FDCWD, "ut", ts, 0), EINVAL,
		   "tv_nsec out of range");

	symlink("ut", "ut-link");
	ts[0] = (struct timespec){ 1111111111, 111 };
	ts[1] = (struct timespec){ 1222222222, 222 };
	EXPECT_OK(utimensat(AT_FDCWD, "ut-link", ts, AT_SYMLINK_NOFOLLOW),
		  "utimensat AT_SYMLINK_NOFOLLOW");
	CHECK(ts_eq(lst("ut-link").st_mtim, 1222222222, 222),
	      "symlink mtime set");
	CHECK(ts_eq(lst("ut").st_mtim, 1234567891, 999999999),
	      "target mtime unchanged");

	mkdir("utd", 0755);
	ts[0] = (struct timespec){ 1300000000, 13 };
	ts[1] = (struct timespec){ 1300000001, 14 };
	EXPECT_OK(utimensat(AT_FDCWD, "utd", ts, 0), "utimensat a directory");
	CHECK(ts_eq(lst("utd").st_mtim, 1300000001, 14), "directory mtime");
}

/* ------------------------------------------------------------------ */
/* Namespace                                                           */
/* ------------------------------------------------------------------ */
static void t_mkdir_rmdir(void)
{
	char path[512];
	int n;

	EXPECT_OK(mkdir("d", 0777), "mkdir d");
	EXPECT_ERR(mkdir("d", 0777), EEXIST, "mkdir an existing directory");
	EXPECT_ERR(mkdir("basic", 0777), EEXIST, "mkdir over a file");
	EXPECT_ERR(mkdir("nope/x", 0777), ENOENT, "mkdir in a missing dir");
	EXPECT_ERR(mkdir("basic/x", 0777), ENOTDIR, "mkdir under a file");
	EXPECT_ERR(mkdir("", 0777), ENOENT, "mkdir of an empty name");

	mkdir("pd", 0755);
	EXPECT_EQ(nlink_of("pd"), 2, "empty directory nlink 2");
	mkdir("pd/s1", 0755);
	mkdir("pd/s2", 0755);
	mkdir("pd/s3", 0755);
	put_file("pd/f", "", 0, 0644);
	symlink("s1", "pd/l");
	EXPECT_EQ(nlink_of("pd"), 5, "nlink 2 + 3 subdirectories");
	EXPECT_ERR(rmdir("pd"), ENOTEMPTY, "rmdir a non-empty directory");
	EXPECT_ERR(rmdir("pd/f"), ENOTDIR, "rmdir a file");
	EXPECT_ERR(rmdir("pd/l"), ENOTDIR, "rmdir a symlink to a dir");
	EXPECT_ERR(rmdir("nope"), ENOENT, "rmdir a missing directory");
	EXPECT_ERR(rmdir("d/."), EINVAL, "rmdir d/.");
	EXPECT_OK(rmdir("pd/s2"), "rmdir pd/s2");
	EXPECT_EQ(nlink_of("pd"), 4, "nlink after rmdir");
	EXPECT_OK(rmdir("d"), "rmdir d");
	CHECK(!exists("d"), "d is gone");

	/* A deep chain, checked through ".." and removed bottom up. */
	strcpy(path, "deep");
	mkdir(path, 0755);
	for (n = 1; n < 20; n++) {
		strcat(path, "/a");
		if (mkdir(path, 0755) < 0)
			break;
	}
	EXPECT_EQ(n, 20, "mkdir a chain 20 deep");
	strcat(path, "/../../..");
	{
		char up[512];

		snprintf(up, sizeof(up), "deep");
		for (int i = 1; i < 17; i++)
			strcat(up, "/a");
		EXPECT_EQ(ino_of(path), ino_of(up), "'..' walks up the chain");
	}
	for (; n > 0; n--) {
		strcpy(path, "deep");
		for (int i = 1; i < n; i++)
			strcat(path, "/a");
		if (rmdir(path) < 0)
			break;
	}
	EXPECT_EQ(n, 0, "rmdir the chain bottom up");

	/* A directory emptied of many entries is empty again. */
	mkdir("emp", 0755);
	for (n = 0; n < 300; n++) {
		snprintf(path, sizeof(path), "emp/some-longer-file-name-%d", n);
		put_file(path, "", 0, 0644);
	}
	for (n = 0; n < 300; n++) {
		snprintf(path, sizeof(path), "emp/some-longer-file-name-%d", n);
		if (unlink(path) < 0)
			break;
	}
	EXPECT_EQ(n, 300, "create and unlink 300 files");
	EXPECT_OK(rmdir("emp"), "rmdir a directory emptied of 300 entries");
}

static void t_unlink(void)
{
	put_file("ul", "abc", 3, 0644);
	mkdir("uld", 0755);
	EXPECT_ERR(unlink("uld"), EISDIR, "unlink a directory");
	EXPECT_ERR(unlink("no-such"), ENOENT, "unlink a missing file");
	EXPECT_ERR(unlink("ul/x"), ENOTDIR, "unlink through a file");
	EXPECT_OK(unlink("ul"), "unlink a file");
	CHECK(!exists("ul"), "unlinked file is gone");
	EXPECT_ERR(unlink("ul"), ENOENT, "unlink it again");
	put_file("ul", "", 0, 0644);
	EXPECT_EQ(size_of("ul"), 0, "same name reused for a new empty file");
	rmdir("uld");
}

static void t_link(void)
{
	struct stat a, b;
	int fd;

	put_file("lk", "abc", 3, 0644);
	mkdir("lkd", 0755);
	EXPECT_OK(link("lk", "lk2"), "link lk lk2");
	a = lst("lk");
	b = lst("lk2");
	EXPECT_EQ(a.st_ino, b.st_ino, "hard link shares the inode");
	CHECK(a.st_nlink == 2 && b.st_nlink == 2, "nlink 2 on both names");
	EXPECT_OK(link("lk", "lkd/lk3"), "link across directories");
	EXPECT_EQ(nlink_of("lk2"), 3, "nlink 3");
	fd = open("lk2", O_WRONLY | O_APPEND);
	write(fd, "def", 3);
	close(fd);
	CHECK(file_is("lk", "abcdef", 6), "write through one name seen "
	      "through the other");
	EXPECT_ERR(link("lk", "lk2"), EEXIST, "link over an existing name");
	EXPECT_ERR(link("lkd", "lkd-link"), EPERM, "link to a directory");
	EXPECT_ERR(link("no-such", "x"), ENOENT, "link a missing file");
	EXPECT_ERR(link("lk", "no-such/x"), ENOENT, "link into a missing dir");
	EXPECT_OK(unlink("lk"), "unlink one name");
	EXPECT_EQ(nlink_of("lk2"), 2, "nlink drops to 2");
	CHECK(file_is("lkd/lk3", "abcdef", 6), "content kept");
	EXPECT_OK(unlink("lk2"), "unlink another");
	EXPECT_EQ(nlink_of("lkd/lk3"), 1, "nlink drops to 1");

	symlink("lkd/lk3", "lk-sym");
	EXPECT_OK(link("lk-sym", "lk-sym2"), "link to a symlink");
	CHECK(S_ISLNK(mode_of("lk-sym2")), "link() does not follow symlinks");
	EXPECT_EQ(nlink_of("lk-sym"), 2, "symlink nlink 2");
	EXPECT_OK(linkat(AT_FDCWD, "lk-sym", AT_FDCWD, "lk-follow",
			 AT_SYMLINK_FOLLOW), "linkat AT_SYMLINK_FOLLOW");
	EXPECT_EQ(ino_of("lk-follow"), ino_of("lkd/lk3"),
		  "AT_SYMLINK_FOLLOW links the target");
	EXPECT_EQ(nlink_of("lkd/lk3"), 2, "target nlink 2");
}

static void t_symlink(void)
{
	static const size_t lens[] = { 1, 119, 120, 121, 1000, 4095 };
	char target[4200], buf[8192], name[64];
	struct stat st;
	int fd;

	EXPECT_OK(symlink("basic", "sl"), "symlink to basic");
	EXPECT_EQ(readlink("sl", buf, sizeof(buf)), 5, "readlink length");
	CHECK(memcmp(buf, "basic", 5) == 0, "readlink target");
	st = lst("sl");
	CHECK(S_ISLNK(st.st_mode), "lstat sees a symlink");
	EXPECT_EQ(st.st_mode & 07777, 0777, "symlink mode 0777");
	EXPECT_EQ(st.st_size, 5, "symlink size is the target length");
	EXPECT_EQ(st.st_nlink, 1, "symlink nlink 1");
	{
		struct stat t;

		stat("sl", &t);
		EXPECT_EQ(t.st_ino, ino_of("basic"), "stat follows the link");
	}
	CHECK(file_is("sl", "aXYdef", 6), "open follows the link");
	EXPECT_EQ(readlink("sl", buf, 3), 3, "readlink into a small buffer");
	CHECK(memcmp(buf, "bas", 3) == 0, "truncated readlink");

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i];

		for (size_t j = 0; j < len; j++)
			target[j] = (char)(j % 50 == 49 ? '/' : 'a' + j % 26);
		target[len] = '\0';
		snprintf(name, sizeof(name), "sl-%zu", len);
		EXPECT_OK(symlink(target, name), "symlink with a %zu-byte "
			  "target", len);
		memset(buf, 0, sizeof(buf));
		EXPECT_EQ(readlink(name, buf, sizeof(buf)), len,
			  "readlink of the %zu-byte target", len);
		CHECK(memcmp(buf, target, len) == 0,
		      "%zu-byte target round trip", len);
		EXPECT_EQ(size_of(name), len, "size of the %zu-byte symlink",
			  len);
	}
	memset(target, 'q', 4096);
	target[4096] = '\0';
	EXPECT_ERR(symlink(target, "sl-4096"), ENAMETOOLONG,
		   "symlink with a 4096-byte target");
	CHECK(!exists("sl-4096"), "failed symlink leaves no name");

	EXPECT_ERR(symlink("x", "basic"), EEXIST, "symlink over a file");
	EXPECT_ERR(symlink("", "sl-empty"), ENOENT, "empty symlink target");
	EXPECT_ERR(readlink("basic", buf, sizeof(buf)), EINVAL,
		   "readlink of a regular file");
	EXPECT_OK(symlink("dangling-target", "sl-dangle"), "dangling symlink");
	EXPECT_ERR(stat("sl-dangle", &st), ENOENT, "stat a dangling symlink");
	EXPECT_OK(lstat("sl-dangle", &st), "lstat a dangling symlink");
	fd = EXPECT_OK(open("sl-dangle", O_CREAT | O_WRONLY, 0644),
		       "O_CREAT through a dangling symlink");
	close(fd);
	CHECK(S_ISREG(mode_of("dangling-target")), "creates the target");
	symlink("loop-b", "loop-a");
	symlink("loop-a", "loop-b");
	EXPECT_ERR(stat("loop-a", &st), ELOOP, "symlink loop");
}

static void t_mknod(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, s;

	EXPECT_OK(mkfifo("fifo", 0644), "mkfifo");
	st = lst("fifo");
	CHECK(S_ISFIFO(st.st_mode), "fifo type");
	EXPECT_EQ(st.st_mode & 07777, 0644, "fifo mode");
	fd = EXPECT_OK(open("fifo", O_RDONLY | O_NONBLOCK),
		       "open the fifo for reading");
	{
		int w = EXPECT_OK(open("fifo", O_WRONLY | O_NONBLOCK),
				  "open the fifo for writing");
		char c = 0;

		EXPECT_EQ(write(w, "p", 1), 1, "write into the fifo");
		EXPECT_EQ(read(fd, &c, 1), 1, "read from the fifo");
		EXPECT_EQ(c, 'p', "byte through the fifo");
		close(w);
	}
	close(fd);
	EXPECT_EQ(size_of("fifo"), 0, "fifo data does not reach the fs");

	EXPECT_OK(mknod("sock", S_IFSOCK | 0600, 0), "mknod a socket");
	CHECK(S_ISSOCK(mode_of("sock")), "socket type");
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, "bound-sock");
	EXPECT_OK(bind(s, (struct sockaddr *)&sa, sizeof(sa)),
		  "bind a unix socket in the fs");
	close(s);
	CHECK(S_ISSOCK(mode_of("bound-sock")), "bound socket type");
	EXPECT_OK(mknod("regnod", S_IFREG | 0640, 0), "mknod S_IFREG");
	EXPECT_EQ(mode_of("regnod"), S_IFREG | 0640, "mknod regular file");
	EXPECT_ERR(mknod("fifo", S_IFIFO | 0644, 0), EEXIST,
		   "mknod over an existing name");

	if (!is_root) {
		skip("not root", "device nodes");
		return;
	}
	static const struct {
		const char *name;
		mode_t type;
		unsigned maj, min;
	} devs[] = {
		{ "chr", S_IFCHR, 1, 3 },
		{ "blk", S_IFBLK, 8, 1 },
		{ "chr-big", S_IFCHR, 259, 65539 },
		{ "blk-max", S_IFBLK, 4095, 1048575 },
	};
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		dev_t d = makedev(devs[i].maj, devs[i].min);

		EXPECT_OK(mknod(devs[i].name, devs[i].type | 0600, d),
			  "mknod %s %u:%u", devs[i].name, devs[i].maj,
			  devs[i].min);
		st = lst(devs[i].name);
		EXPECT_EQ(st.st_mode, devs[i].type | 0600, "%s mode",
			  devs[i].name);
		CHECK(major(st.st_rdev) == devs[i].maj &&
		      minor(st.st_rdev) == devs[i].min,
		      "%s st_rdev kept (got %u:%u)", devs[i].name,
		      major(st.st_rdev), minor(st.st_rdev));
	}
	{
		struct statvfs sv;

		/* FUSE mounts are nodev unless asked otherwise: opening a
		 * device node then fails with EACCES, by design. */
		if (statvfs(".", &sv) == 0 && (sv.f_flag & ST_NODEV)) {
			EXPECT_ERR(open("chr", O_WRONLY), EACCES,
				   "open a device node on a nodev mount");
			return;
		}
	}
	fd = EXPECT_OK(open("chr", O_WRONLY), "open the 1:3 (null) device");
	EXPECT_EQ(write(fd, "abc", 3), 3, "write to it");
	close(fd);
	EXPECT_EQ(size_of("chr"), 0, "device writes do not reach the fs");
}

static void t_rename(void)
{
	struct stat st;
	ino_t ino;
	int fd;

	mkdir("rn", 0755);
	if (chdir("rn") < 0) {
		report(false, strerror(errno), "chdir rn");
		return;
	}
	/* file over file, the old target keeps its other link */
	put_file("a", "AAAA", 4, 0644);
	put_file("b", "BB", 2, 0644);
	link("b", "b-link");
	ino = ino_of("a");
	EXPECT_OK(rename("a", "b"), "rename file over file");
	CHECK(!exists("a"), "old name gone");
	EXPECT_EQ(ino_of("b"), ino, "new name has the moved inode");
	CHECK(file_is("b", "AAAA", 4), "moved content");
	EXPECT_EQ(nlink_of("b-link"), 1, "replaced inode loses a link");
	CHECK(file_is("b-link", "BB", 2), "replaced inode content kept");

	/* replaced file still open */
	put_file("c", "CCC", 3, 0644);
	fd = open("b-link", O_RDONLY);
	EXPECT_OK(rename("c", "b-link"), "rename over an open file");
	{
		char buf[8];

		EXPECT_EQ(pread(fd, buf, 8, 0), 2, "replaced file still "
			  "readable through its fd");
	}
	close(fd);

	mkdir("ed", 0755);
	EXPECT_ERR(rename("b", "ed"), EISDIR, "file over empty dir");
	EXPECT_ERR(rename("ed", "b"), ENOTDIR, "dir over file");
	CHECK(exists("b") && exists("ed"), "failed renames changed nothing");

	mkdir("d1", 0755);
	put_file("d1/x", "x", 1, 0644);
	mkdir("d2", 0755);
	ino = ino_of("d1");
	EXPECT_EQ(nlink_of("."), 5, "rn nlink with 3 subdirs");
	EXPECT_OK(rename("d1", "d2"), "dir over empty dir");
	EXPECT_EQ(ino_of("d2"), ino, "moved directory inode");
	CHECK(exists("d2/x") && !exists("d1"), "moved directory content");
	EXPECT_EQ(nlink_of("."), 4, "parent nlink after replacing a dir");

	mkdir("d3", 0755);
	EXPECT_ERR(rename("d3", "d2"), ENOTEMPTY, "dir over non-empty dir");
	CHECK(exists("d3") && exists("d2/x"), "nothing changed");

	mkdir("p", 0755);
	mkdir("p/q", 0755);
	EXPECT_ERR(rename("p", "p/q/r"), EINVAL, "dir into its own subdir");
	EXPECT_ERR(rename("p", "p/r"), EINVAL, "dir into itself");
	EXPECT_ERR(rename(".", "zz"), EBUSY, "rename '.'");

	/* across directories: '..' and link counts follow */
	mkdir("A", 0755);
	mkdir("B", 0755);
	mkdir("A/sub", 0755);
	mkdir("A/sub/deeper", 0755);
	put_file("A/sub/file", "f", 1, 0644);
	ino = ino_of("A/sub");
	EXPECT_OK(rename("A/sub", "B/sub"), "dir across directories");
	EXPECT_EQ(ino_of("B/sub"), ino, "moved dir inode");
	EXPECT_EQ(ino_of("B/sub/.."), ino_of("B"), "'..' points at new parent");
	EXPECT_EQ(ino_of("B/sub/deeper/../.."), ino_of("B"),
		  "'..' of a grandchild reaches the new parent");
	EXPECT_EQ(nlink_of("A"), 2, "old parent nlink drops");
	EXPECT_EQ(nlink_of("B"), 3, "new parent nlink grows");
	EXPECT_EQ(nlink_of("B/sub"), 3, "moved dir nlink unchanged");
	CHECK(exists("B/sub/file"), "moved dir keeps its entries");
	CHECK(!exists("A/sub"), "old name gone");
	EXPECT_OK(rename("B/sub/file", "A/file"), "file across directories");
	CHECK(nlink_of("A") == 2 && nlink_of("B") == 3,
	      "moving a file leaves dir nlinks");

	/* dir over empty dir across parents */
	mkdir("A/x", 0755);
	mkdir("B/y", 0755);
	ino = ino_of("A/x");
	EXPECT_OK(rename("A/x", "B/y"), "dir over empty dir across parents");
	EXPECT_EQ(ino_of("B/y"), ino, "moved inode");
	EXPECT_EQ(ino_of("B/y/.."), ino_of("B"), "'..' fixed");
	EXPECT_EQ(nlink_of("A"), 2, "old parent nlink");
	EXPECT_EQ(nlink_of("B"), 4, "new parent nlink (replaced a dir)");

	/* to itself, and between two links of one inode */
	EXPECT_OK(rename("b", "b"), "rename to itself");
	CHECK(file_is("b", "AAAA", 4), "file intact after rename to itself");
	link("b", "b2");
	EXPECT_OK(rename("b", "b2"), "rename between links of one inode");
	CHECK(exists("b") && exists("b2") && nlink_of("b") == 2,
	      "both links kept (POSIX: do nothing)");
	EXPECT_OK(rename("A", "A"), "rename a dir to itself");

	EXPECT_ERR(rename("no-such", "z"), ENOENT, "rename a missing name");
	EXPECT_ERR(rename("b", "no-such/z"), ENOENT, "into a missing dir");
	EXPECT_ERR(rename("b", "b2/z"), ENOTDIR, "into a file");

	/* renameat2 */
	put_file("n1", "1", 1, 0644);
	put_file("n2", "2", 1, 0644);
	EXPECT_ERR(renameat2(AT_FDCWD, "n1", AT_FDCWD, "n2",
			     RENAME_NOREPLACE), EEXIST,
		   "RENAME_NOREPLACE over an existing name");
	CHECK(file_is("n1", "1", 1) && file_is("n2", "2", 1),
	      "RENAME_NOREPLACE failure changed nothing");
	EXPECT_OK(renameat2(AT_FDCWD, "n1", AT_FDCWD, "n3", RENAME_NOREPLACE),
		  "RENAME_NOREPLACE to a new name");
	CHECK(!exists("n1") && file_is("n3", "1", 1), "moved");

	ino = ino_of("n2");
	EXPECT_OK(renameat2(AT_FDCWD, "n2", AT_FDCWD, "n3", RENAME_EXCHANGE),
		  "RENAME_EXCHANGE two files");
	CHECK(file_is("n2", "1", 1) && file_is("n3", "2", 1), "contents swap");
	EXPECT_EQ(ino_of("n3"), ino, "inodes swap");

	mkdir("E1", 0755);
	mkdir("E2", 0755);
	mkdir("E1/dd", 0755);
	mkdir("E1/dd/inner", 0755);
	put_file("E2/ff", "ff", 2, 0644);
	EXPECT_OK(renameat2(AT_FDCWD, "E1/dd", AT_FDCWD, "E2/ff",
			    RENAME_EXCHANGE),
		  "RENAME_EXCHANGE a dir and a file across dirs");
	st = lst("E1/dd");
	CHECK(S_ISREG(st.st_mode) && file_is("E1/dd", "ff", 2),
	      "the file is now E1/dd");
	CHECK(S_ISDIR(mode_of("E2/ff")) && exists("E2/ff/inner"),
	      "the dir is now E2/ff");
	EXPECT_EQ(ino_of("E2/ff/.."), ino_of("E2"), "'..' of exchanged dir");
	EXPECT_EQ(ino_of("E2/ff/inner/../.."), ino_of("E2"),
		  "'..' chain of exchanged dir");
	EXPECT_EQ(nlink_of("E1"), 2, "E1 lost a subdir");
	EXPECT_EQ(nlink_of("E2"), 3, "E2 gained a subdir");
	EXPECT_ERR(renameat2(AT_FDCWD, "E1/dd", AT_FDCWD, "E1/none",
			     RENAME_EXCHANGE), ENOENT,
		   "RENAME_EXCHANGE with a missing target");
	EXPECT_ERR(renameat2(AT_FDCWD, "n2", AT_FDCWD, "n3",
			     RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL,
		   "RENAME_EXCHANGE|RENAME_NOREPLACE");
	mkdir("E3", 0755);
	mkdir("E3/k", 0755);
	mkdir("E4", 0755);
	put_file("E4/m", "", 0, 0644);
	mkdir("E4/n", 0755);
	EXPECT_OK(renameat2(AT_FDCWD, "E3/k", AT_FDCWD, "E4/n",
			    RENAME_EXCHANGE), "RENAME_EXCHANGE two dirs");
	CHECK(ino_of("E3/k/..") == ino_of("E3") &&
	      ino_of("E4/n/..") == ino_of("E4"), "'..' of both swapped dirs");
	EXPECT_OK(renameat2(AT_FDCWD, "E4/m", AT_FDCWD, "E4/n",
			    RENAME_EXCHANGE),
		  "RENAME_EXCHANGE a file and a dir in one dir");
	CHECK(S_ISDIR(mode_of("E4/m")) && S_ISREG(mode_of("E4/n")),
	      "types swapped in place");
	EXPECT_EQ(nlink_of("E4"), 3, "same-dir exchange keeps nlink");

	if (chdir("..") < 0)
		report(false, strerror(errno), "chdir ..");
}

static void t_namelen(void)
{
	char n255[300], n256[300], path[600];
	int found = 0, fd;
	DIR *d;
	struct dirent *de;

	make_name(n255, 255, 'a', "c255-");
	make_name(n256, 256, 'a', "c256-");
	mkdir("nl", 0755);
	if (chdir("nl") < 0) {
		report(false, strerror(errno), "chdir nl");
		return;
	}
	fd = EXPECT_OK(open(n255, O_CREAT | O_WRONLY, 0644),
		       "create with a 255-byte name");
	close(fd);
	EXPECT_OK(access(n255, F_OK), "stat the 255-byte name");
	EXPECT_ERR(open(n256, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG,
		   "create with a 256-byte name");
	{
		struct stat st;

		EXPECT_ERR(stat(n256, &st), ENAMETOOLONG,
			   "stat a 256-byte name");
	}
	d = opendir(".");
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, n255) == 0)
			found++;
	if (d)
		closedir(d);
	EXPECT_EQ(found, 1, "readdir returns the 255-byte name");

	make_name(path, 255, 'b', "m255-");
	EXPECT_OK(mkdir(path, 0755), "mkdir with a 255-byte name");
	make_name(path, 256, 'b', "m256-");
	EXPECT_ERR(mkdir(path, 0755), ENAMETOOLONG, "mkdir 256-byte name");
	make_name(path, 255, 'c', "l255-");
	EXPECT_OK(link(n255, path), "link with a 255-byte name");
	make_name(path, 256, 'c', "l256-");
	EXPECT_ERR(link(n255, path), ENAMETOOLONG, "link 256-byte name");
	make_name(path, 255, 'd', "s255-");
	EXPECT_OK(symlink(n255, path), "symlink with a 255-byte name");
	make_name(path, 256, 'd', "s256-");
	EXPECT_ERR(symlink(n255, path), ENAMETOOLONG, "symlink 256 name");
	make_name(path, 256, 'f', "f256-");
	EXPECT_ERR(mkfifo(path, 0644), ENAMETOOLONG, "mkfifo 256 name");
	put_file("short", "s", 1, 0644);
	make_name(path, 255, 'e', "r255-");
	EXPECT_OK(rename("short", path), "rename to a 255-byte name");
	CHECK(file_is(path, "s", 1), "renamed content");
	make_name(n256, 256, 'e', "r256-");
	EXPECT_ERR(rename(path, n256), ENAMETOOLONG, "rename to 256 bytes");
	CHECK(exists(path), "source kept after a failed rename");

	/* Many long names: several directory chunks of 272-byte records. */
	{
		int made = 0, seen = 0;

		mkdir("long", 0755);
		for (int i = 0; i < 60; i++) {
			make_name(path, 255, 'A' + i % 20, "long/");
			snprintf(path + 5, 4, "%03d", i);
			path[8] = '-';
			if (put_file(path, "", 0, 0644) == 0)
				made++;
		}
		EXPECT_EQ(made, 60, "60 files with 250-byte names");
		d = opendir("long");
		while (d && (de = readdir(d)))
			if (strlen(de->d_name) == 250)
				seen++;
		if (d)
			closedir(d);
		EXPECT_EQ(seen, 60, "readdir sees all 60 long names");
	}
	if (chdir("..") < 0)
		report(false, strerror(errno), "chdir ..");
}

/* ------------------------------------------------------------------ */
/* Directory reading                                                   */
/* ------------------------------------------------------------------ */
#define BIG_N 3000

static unsigned char big_type(int i)
{
	switch (i % 10) {
	case 0: return DT_DIR;
	case 1: return DT_LNK;
	case 2: return DT_FIFO;
	default: return DT_REG;
	}
}

static void big_name(char *buf, size_t len, int i)
{
	/* Name lengths vary, so records of all sizes mix in the chunks. */
	snprintf(buf, len, "e%d_%.*s", i, i % 23,
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

static int big_index(const char *name)
{
	char want[64];
	int i;

	if (sscanf(name, "e%d_", &i) != 1 || i < 0 || i >= BIG_N)
		return -1;
	big_name(want, sizeof(want), i);
	return strcmp(want, name) == 0 ? i : -1;
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static void t_readdir_big(void)
{
	static int seen[BIG_N];
	char name[64], path[128];
	int made = 0, dots = 0, dotdots = 0, dup = 0, bad = 0, badtype = 0;
	int badino = 0, missing = 0;
	struct dirent *de;
	DIR *d;

	mkdir("big", 0755);
	for (int i = 0; i < BIG_N; i++) {
		int r;

		big_name(name, sizeof(name), i);
		snprintf(path, sizeof(path), "big/%s", name);
		switch (big_type(i)) {
		case DT_DIR: r = mkdir(path, 0755); break;
		case DT_LNK: r = symlink(name, path); break;
		case DT_FIFO: r = mkfifo(path, 0644); break;
		default: r = put_file(path, name, strlen(name), 0644); break;
		}
		if (r == 0)
			made++;
	}
	EXPECT_EQ(made, BIG_N, "create %d entries in one directory", BIG_N);
	EXPECT_EQ(nlink_of("big"), 2 + BIG_N / 10, "nlink with %d subdirs",
		  BIG_N / 10);

	memset(seen, 0, sizeof(seen));
	d = opendir("big");
	while (d && (errno = 0, de = readdir(d))) {
		int i;

		if (strcmp(de->d_name, ".") == 0) {
			dots++;
			continue;
		}
		if (strcmp(de->d_name, "..") == 0) {
			dotdots++;
			continue;
		}
		i = big_index(de->d_name);
		if (i < 0) {
			if (bad++ < 5)
				diag("unexpected name '%s'", de->d_name);
			continue;
		}
		if (seen[i]++)
			dup++;
		if (de->d_type != big_type(i))
			badtype++;
		{
			struct stat st;

			if (fstatat(dirfd(d), de->d_name, &st,
				    AT_SYMLINK_NOFOLLOW) < 0 ||
			    st.st_ino != de->d_ino)
				badino++;
		}
	}
	CHECK(d && errno == 0, "readdir ends without error");
	if (d)
		closedir(d);
	for (int i = 0; i < BIG_N; i++)
		if (!seen[i])
			missing++;
	CHECK(dots == 1 && dotdots == 1, "'.' and '..' once each");
	EXPECT_EQ(missing, 0, "readdir misses no entry");
	EXPECT_EQ(dup, 0, "readdir returns no entry twice");
	EXPECT_EQ(bad, 0, "readdir returns no unknown name");
	EXPECT_EQ(badtype, 0, "d_type right for every entry");
	EXPECT_EQ(badino, 0, "d_ino equals st_ino for every entry");

	/* Raw getdents64 with a small buffer: many resumptions by offset. */
	{
		char buf[400];
		int fd = open("big", O_RDONLY | O_DIRECTORY), total = 0;
		long n;

		memset(seen, 0, sizeof(seen));
		dup = bad = 0;
		while (fd >= 0 &&
		       (n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
			for (long off = 0; off < n;) {
				struct linux_dirent64 *e =
					(struct linux_dirent64 *)(buf + off);
				int i = big_index(e->d_name);

				off += e->d_reclen;
				total++;
				if (i < 0)
					continue;
				if (seen[i]++)
					dup++;
			}
		}
		if (fd >= 0)
			close(fd);
		missing = 0;
		for (int i = 0; i < BIG_N; i++)
			if (!seen[i])
				missing++;
		CHECK(missing == 0 && dup == 0 && total == BIG_N + 2,
		      "getdents64 with a 400-byte buffer sees each entry once "
		      "(missing %d, dup %d, total %d)", missing, dup, total);
	}
}

static void t_readdir_unlink(void)
{
	enum { N = 2000 };
	static int seen[N], removed[N];
	char path[64];
	int made = 0, nremoved = 0, twice = 0, lost = 0;
	struct dirent *de;
	DIR *d;

	mkdir("ru", 0755);
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "ru/f%d", i);
		if (put_file(path, "", 0, 0644) == 0)
			made++;
	}
	EXPECT_EQ(made, N, "create %d files", N);
	memset(seen, 0, sizeof(seen));
	memset(removed, 0, sizeof(removed));
	d = opendir("ru");
	while (d && (de = readdir(d))) {
		int i;

		if (sscanf(de->d_name, "f%d", &i) != 1 || i < 0 || i >= N)
			continue;
		seen[i]++;
		/* Remove the entry just seen now and then, and others at
		 * random (seen or not yet seen). */
		for (int k = 0; k < 2; k++) {
			int j = k == 0 ? i : (int)(rng() % N);

			if ((k == 0 && rng() % 3 != 0) || removed[j])
				continue;
			snprintf(path, sizeof(path), "ru/f%d", j);
			if (unlink(path) == 0) {
				removed[j] = 1;
				nremoved++;
			}
		}
	}
	if (d)
		closedir(d);
	for (int i = 0; i < N; i++) {
		if (seen[i] > 1)
			twice++;
		if (!removed[i] && seen[i] != 1)
			lost++;
	}
	diag("removed %d of %d entries during readdir", nremoved, N);
	EXPECT_EQ(twice, 0, "no entry seen twice while unlinking");
	EXPECT_EQ(lost, 0, "every entry not removed seen exactly once");

	/* Afterwards exactly the survivors remain. */
	memset(seen, 0, sizeof(seen));
	d = opendir("ru");
	while (d && (de = readdir(d))) {
		int i;

		if (sscanf(de->d_name, "f%d", &i) == 1 && i >= 0 && i < N)
			seen[i]++;
	}
	if (d)
		closedir(d);
	lost = 0;
	for (int i = 0; i < N; i++)
		if (seen[i] != !removed[i])
			lost++;
	EXPECT_EQ(lost, 0, "second readdir lists exactly the survivors");
}

static void t_seekdir(void)
{
	enum { N = 500 };
	static char names[N + 2][NAME_MAX + 1];
	static long pos[N + 2];
	char path[64];
	int count = 0, bad = 0, n;
	struct dirent *de;
	DIR *d;

	mkdir("sd", 0755);
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "sd/entry-%d", i);
		put_file(path, "", 0, 0644);
	}
	d = opendir("sd");
	if (!d) {
		report(false, strerror(errno), "opendir sd");
		return;
	}
	for (n = 0; n < N + 2; n++) {
		pos[n] = telldir(d);
		de = readdir(d);
		if (!de)
			break;
		snprintf(names[n], sizeof(names[n]), "%s", de->d_name);
	}
	EXPECT_EQ(n, N + 2, "readdir returns %d entries", N + 2);
	CHECK(readdir(d) == NULL, "then end of directory");
	for (int k = 0; k < 300; k++) {
		int i = (int)(rng() % (uint64_t)n);

		seekdir(d, pos[i]);
		de = readdir(d);
		if (!de || strcmp(de->d_name, names[i]) != 0) {
			if (bad++ < 5)
				diag("seekdir to entry %d gave '%s', want '%s'",
				     i, de ? de->d_name : "(end)", names[i]);
		}
	}
	EXPECT_EQ(bad, 0, "seekdir to 300 telldir positions");
	seekdir(d, pos[100]);
	for (int i = 100; i < 120; i++) {
		de = readdir(d);
		if (!de || strcmp(de->d_name, names[i]) != 0)
			bad++;
	}
	EXPECT_EQ(bad, 0, "reading on after seekdir continues in order");
	rewinddir(d);
	while (readdir(d))
		count++;
	EXPECT_EQ(count, N + 2, "rewinddir then a full pass");
	closedir(d);
}

/* ------------------------------------------------------------------ */
/* Open files, sync, statvfs                                           */
/* ------------------------------------------------------------------ */
static uint64_t bfree_now(const char *dir)
{
	struct statvfs sv;

	if (statvfs(dir, &sv) < 0)
		return 0;
	return sv.f_bfree;
}

/* Wait up to 5 s for f_bfree to reach want (frees may be asynchronous:
 * FUSE sends FORGET after the kernel drops the inode). */
static uint64_t wait_bfree(const char *dir, uint64_t want)
{
	uint64_t b = 0;

	for (int i = 0; i < 100; i++) {
		b = bfree_now(dir);
		if (b >= want)
			break;
		usleep(50000);
	}
	return b;
}

static void t_orphan(void)
{
	const size_t size = 4 * MIB;
	unsigned char *want = xmalloc(size + MIB), *got = xmalloc(size + MIB);
	struct statvfs sv;
	uint64_t b0, b1, b2, blocks;
	struct stat st;
	int fd, err;

	statvfs(".", &sv);
	blocks = size / sv.f_frsize;
	b0 = sv.f_bfree;
	fill_pattern(want, size + MIB, 3, 0);
	fd = EXPECT_OK(open("orphan", O_CREAT | O_EXCL | O_RDWR, 0644),
		       "create orphan");
	EXPECT_EQ(write_all(fd, want, size, &err), size, "write 4 MiB");
	fsync(fd);
	b1 = bfree_now(".");
	CHECK(b1 + blocks <= b0, "4 MiB written uses %" PRIu64
	      " blocks (f_bfree %" PRIu64 " -> %" PRIu64 ")", blocks, b0, b1);
	EXPECT_OK(unlink("orphan"), "unlink the open file");
	CHECK(!exists("orphan"), "name gone");
	fstat(fd, &st);
	EXPECT_EQ(st.st_nlink, 0, "fstat nlink 0 after unlink");
	EXPECT_EQ(pread_all(fd, got, size, 0), size, "read the unlinked file");
	CHECK(memcmp(got, want, size) == 0, "content still there");
	EXPECT_EQ(pwrite(fd, want + size, MIB, size), MIB,
		  "write 1 MiB more to the unlinked file");
	EXPECT_OK(fsync(fd), "fsync the unlinked file");
	EXPECT_EQ(pread_all(fd, got, size + MIB, 0), size + MIB,
		  "read all of it back");
	CHECK(memcmp(got, want, size + MIB) == 0, "content with the new MiB");
	fstat(fd, &st);
	EXPECT_EQ(st.st_size, size + MIB, "size of the unlinked file");
	EXPECT_OK(fchmod(fd, 0600), "fchmod the unlinked file");
	EXPECT_OK(ftruncate(fd, 3 * MIB), "ftruncate the unlinked file");
	EXPECT_OK(close(fd), "close the unlinked file");
	b2 = wait_bfree(".", b0 - 8);
	CHECK(b2 + 8 >= b0, "space freed after close (f_bfree %" PRIu64
	      " before create, %" PRIu64 " after close)", b0, b2);
	free(want);
	free(got);
}

static void t_fsync(void)
{
	int fd, dfd;

	fd = open("fs", O_CREAT | O_RDWR, 0644);
	write(fd, "sync me", 7);
	EXPECT_OK(fsync(fd), "fsync a file");
	EXPECT_OK(fdatasync(fd), "fdatasync a file");
	close(fd);
	fd = open("fs", O_RDONLY);
	EXPECT_OK(fsync(fd), "fsync an O_RDONLY fd");
	EXPECT_OK(fdatasync(fd), "fdatasync an O_RDONLY fd");
	EXPECT_OK(syncfs(fd), "syncfs");
	close(fd);
	dfd = open(".", O_RDONLY | O_DIRECTORY);
	EXPECT_OK(fsync(dfd), "fsync a directory fd");
	EXPECT_OK(fdatasync(dfd), "fdatasync a directory fd");
	close(dfd);
}

static void t_statvfs(void)
{
	struct statvfs sv, sv2;
	const size_t size = 8 * MIB;
	unsigned char *buf = xmalloc(size);
	uint64_t used;
	int fd, err;

	if (EXPECT_OK(statvfs(".", &sv), "statvfs") < 0) {
		free(buf);
		return;
	}
	EXPECT_EQ(sv.f_namemax, 255, "f_namemax 255");
	CHECK(sv.f_bsize >= 512 && (sv.f_bsize & (sv.f_bsize - 1)) == 0,
	      "f_bsize a power of two (%lu)", sv.f_bsize);
	CHECK(sv.f_frsize >= 512, "f_frsize sane (%lu)", sv.f_frsize);
	CHECK(sv.f_blocks > 0 && sv.f_bfree <= sv.f_blocks &&
	      sv.f_bavail <= sv.f_bfree, "blocks >= bfree >= bavail "
	      "(%lu %lu %lu)", (unsigned long)sv.f_blocks,
	      (unsigned long)sv.f_bfree, (unsigned long)sv.f_bavail);
	CHECK(sv.f_files > 0 && sv.f_ffree <= sv.f_files &&
	      sv.f_favail <= sv.f_ffree, "files >= ffree >= favail");
	fd = open("sv", O_CREAT | O_RDWR, 0644);
	EXPECT_OK(fstatvfs(fd, &sv2), "fstatvfs");
	EXPECT_EQ(sv2.f_blocks, sv.f_blocks, "fstatvfs agrees on f_blocks");
	CHECK(sv2.f_ffree < sv.f_ffree, "f_ffree drops after a create");
	fill_pattern(buf, size, 4, 0);
	EXPECT_EQ(write_all(fd, buf, size, &err), size, "write 8 MiB");
	fsync(fd);
	close(fd);
	statvfs(".", &sv2);
	used = (sv.f_bfree - sv2.f_bfree) * sv.f_frsize;
	CHECK(sv2.f_bfree < sv.f_bfree && used >= size &&
	      used <= size + size / 16 + 1 * MIB,
	      "f_bfree drops by the 8 MiB written (dropped by %" PRIu64 ")",
	      used);
	CHECK(sv2.f_bavail < sv.f_bavail, "f_bavail drops too");
	unlink("sv");
	statvfs(".", &sv2);
	CHECK(wait_bfree(".", sv.f_bfree - 4) + 4 >= sv.f_bfree,
	      "f_bfree back after unlink");
	free(buf);
}

/* ------------------------------------------------------------------ */
/* Timestamps                                                          */
/* ------------------------------------------------------------------ */
static bool get_btime(const char *path, struct timespec *t)
{
	struct statx sx;

	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BTIME, &sx) < 0 ||
	    !(sx.stx_mask & STATX_BTIME))
		return false;
	t->tv_sec = sx.stx_btime.tv_sec;
	t->tv_nsec = sx.stx_btime.tv_nsec;
	return true;
}

static void t_times(void)
{
	struct timespec before, after, bt;
	struct stat st, s0, d0, e0;
	int fd;

	mkdir("tm", 0755);
	mkdir("tm2", 0755);
	set_times("tm", 1000000000, 0, 1000000000, 0);
	nap();
	before = now_ts();
	fd = EXPECT_OK(open("tm/f", O_CREAT | O_EXCL | O_RDWR, 0644),
		       "create tm/f");
	after = now_ts();
	st = lst("tm/f");
	CHECK(ts_within(st.st_atim, before, after), "create sets atime");
	CHECK(ts_within(st.st_mtim, before, after), "create sets mtime");
	CHECK(ts_within(st.st_ctim, before, after), "create sets ctime");
	if (get_btime("tm/f", &bt))
		CHECK(ts_within(bt, before, after), "create sets birth time");
	else
		skip("statx gives no STATX_BTIME", "create sets birth time");
	d0 = lst("tm");
	CHECK(ts_within(d0.st_mtim, before, after) &&
	      ts_within(d0.st_ctim, before, after),
	      "create updates the directory mtime and ctime");

	set_times("tm/f", 1000000000, 0, 1000000000, 0);
	s0 = lst("tm/f");
	nap();
	before = now_ts();
	EXPECT_EQ(write(fd, "abc", 3), 3, "write to tm/f");
	after = now_ts();
	st = lst("tm/f");
	CHECK(ts_within(st.st_mtim, before, after), "write updates mtime");
	CHECK(ts_cmp(st.st_ctim, s0.st_ctim) > 0 &&
	      ts_within(st.st_ctim, before, after), "write updates ctime");
	close(fd);

	set_times("tm/f", 1000000000, 5, 1000000001, 6);
	s0 = lst("tm/f");
	nap();
	before = now_ts();
	EXPECT_OK(chmod("tm/f", 0600), "chmod tm/f");
	after = now_ts();
	st = lst("tm/f");
	CHECK(ts_within(st.st_ctim, before, after), "chmod updates ctime");
	CHECK(ts_eq(st.st_mtim, 1000000001, 6), "chmod keeps mtime");
	CHECK(ts_eq(st.st_atim, 1000000000, 5), "chmod keeps atime");

	s0 = lst("tm/f");
	nap();
	before = now_ts();
	EXPECT_OK(truncate("tm/f", 1), "truncate tm/f");
	after = now_ts();
	st = lst("tm/f");
	CHECK(ts_within(st.st_mtim, before, after) &&
	      ts_within(st.st_ctim, before, after),
	      "truncate updates mtime and ctime");

	set_times("tm/f", 1000000000, 0, 1000000000, 0);
	set_times("tm", 1000000000, 0, 1000000000, 0);
	set_times("tm2", 1000000000, 0, 1000000000, 0);
	s0 = lst("tm/f");
	d0 = lst("tm");
	e0 = lst("tm2");
	nap();
	before = now_ts();
	EXPECT_OK(rename("tm/f", "tm2/f"), "rename tm/f tm2/f");
	after = now_ts();
	st = lst("tm2/f");
	CHECK(ts_within(st.st_ctim, before, after),
	      "rename updates ctime of the moved file");
	CHECK(ts_eq(st.st_mtim, 1000000000, 0),
	      "rename keeps mtime of the moved file");
	st = lst("tm");
	CHECK(ts_within(st.st_mtim, before, after) &&
	      ts_within(st.st_ctim, before, after),
	      "rename updates mtime and ctime of the old dir");
	st = lst("tm2");
	CHECK(ts_within(st.st_mtim, before, after) &&
	      ts_within(st.st_ctim, before, after),
	      "rename updates mtime and ctime of the new dir");
	(void)d0;
	(void)e0;

	set_times("tm2/f", 1000000000, 0, 1000000000, 0);
	set_times("tm", 1000000000, 0, 1000000000, 0);
	nap();
	before = now_ts();
	EXPECT_OK(link("tm2/f", "tm/g"), "link tm2/f tm/g");
	after = now_ts();
	st = lst("tm2/f");
	CHECK(ts_within(st.st_ctim, before, after), "link updates ctime");
	CHECK(ts_eq(st.st_mtim, 1000000000, 0), "link keeps mtime");
	st = lst("tm");
	CHECK(ts_within(st.st_mtim, before, after),
	      "link updates the directory mtime");

	set_times("tm2/f", 1000000000, 0, 1000000000, 0);
	set_times("tm", 1000000000, 0, 1000000000, 0);
	nap();
	before = now_ts();
	EXPECT_OK(unlink("tm/g"), "unlink tm/g");
	after = now_ts();
	st = lst("tm2/f");
	CHECK(ts_within(st.st_ctim, before, after),
	      "unlink updates ctime of the remaining link");
	st = lst("tm");
	CHECK(ts_within(st.st_mtim, before, after) &&
	      ts_within(st.st_ctim, before, after),
	      "unlink updates the directory mtime and ctime");

	set_times("tm", 1000000000, 0, 1000000000, 0);
	nap();
	before = now_ts();
	EXPECT_OK(mkdir("tm/sub", 0755), "mkdir tm/sub");
	after = now_ts();
	CHECK(ts_within(lst("tm").st_mtim, before, after),
	      "mkdir updates the parent mtime");
	set_times("tm", 1000000000, 0, 1000000000, 0);
	nap();
	before = now_ts();
	EXPECT_OK(rmdir("tm/sub"), "rmdir tm/sub");
	after = now_ts();
	CHECK(ts_within(lst("tm").st_mtim, before, after),
	      "rmdir updates the parent mtime");

	set_times("tm2/f", 1000000000, 0, 1000000000, 0);
	s0 = lst("tm2/f");
	fd = open("tm2/f", O_RDONLY);
	{
		char buf[8];

		read(fd, buf, sizeof(buf));
	}
	close(fd);
	st = lst("tm2/f");
	CHECK(ts_cmp(st.st_mtim, s0.st_mtim) == 0, "read keeps mtime");
	CHECK(ts_cmp(st.st_ctim, s0.st_ctim) == 0,
	      "read keeps ctime (%lld.%09ld before, %lld.%09ld after)",
	      (long long)s0.st_ctim.tv_sec, s0.st_ctim.tv_nsec,
	      (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
}

/* ------------------------------------------------------------------ */
/* Permissions as another user                                         */
/* ------------------------------------------------------------------ */
static void nobody_checks(void *arg)
{
	struct timespec ts[2] = { { 1, 0 }, { 1, 0 } };
	struct stat st;
	int fd;

	(void)arg;
	EXPECT_ERR(open("perm/secret", O_RDONLY), EACCES,
		   "nobody: open a 0600 root file");
	EXPECT_ERR(open("perm/ro644", O_WRONLY), EACCES,
		   "nobody: open a 0644 root file for write");
	fd = EXPECT_OK(open("perm/ro644", O_RDONLY),
		       "nobody: open a 0644 root file for read");
	if (fd >= 0)
		close(fd);
	EXPECT_ERR(truncate("perm/secret", 0), EACCES,
		   "nobody: truncate a 0600 root file");
	EXPECT_ERR(open("perm/rootdir/x", O_CREAT | O_WRONLY, 0644), EACCES,
		   "nobody: create in a 0755 root directory");
	EXPECT_ERR(mkdir("perm/rootdir/y", 0755), EACCES,
		   "nobody: mkdir in a 0755 root directory");
	EXPECT_ERR(unlink("perm/rootdir/z"), EACCES,
		   "nobody: unlink in a 0755 root directory");
	EXPECT_ERR(stat("perm/closed/x", &st), EACCES,
		   "nobody: stat through a 0700 root directory");
	EXPECT_ERR(rmdir("perm/rootdir"), EACCES,
		   "nobody: rmdir from a 0755 root directory");

	/* sticky */
	EXPECT_ERR(unlink("perm/sticky/rootfile"), EPERM,
		   "nobody: unlink another user's file in a sticky dir");
	EXPECT_ERR(rename("perm/sticky/rootfile", "perm/sticky/moved"), EPERM,
		   "nobody: rename another user's file in a sticky dir");
	CHECK(exists("perm/sticky/rootfile"), "file still there");
	fd = EXPECT_OK(open("perm/sticky/rootfile", O_WRONLY),
		       "nobody: write to the 0666 file is still allowed");
	if (fd >= 0)
		close(fd);
	fd = EXPECT_OK(open("perm/sticky/mine", O_CREAT | O_WRONLY, 0644),
		       "nobody: create in the sticky dir");
	if (fd >= 0)
		close(fd);
	EXPECT_OK(unlink("perm/sticky/mine"), "nobody: unlink own file there");

	/* setgid directory */
	fd = EXPECT_OK(open("perm/sgid/uf", O_CREAT | O_WRONLY, 0644),
		       "nobody: create in a setgid dir");
	if (fd >= 0)
		close(fd);
	st = lst("perm/sgid/uf");
	EXPECT_EQ(st.st_gid, 1234, "new file gets the setgid dir's group");
	EXPECT_EQ(st.st_uid, NOBODY, "new file owned by the creator");
	EXPECT_OK(mkdir("perm/sgid/ud", 0755), "nobody: mkdir in setgid dir");
	st = lst("perm/sgid/ud");
	EXPECT_EQ(st.st_gid, 1234, "new subdir gets the setgid dir's group");
	CHECK(st.st_mode & S_ISGID, "new subdir inherits the setgid bit "
	      "(mode %o)", st.st_mode);

	/* ownership and mode changes */
	fd = open("perm/userdir/own", O_CREAT | O_WRONLY, 0644);
	if (fd >= 0)
		close(fd);
	EXPECT_ERR(chown("perm/userdir/own", 0, (gid_t)-1), EPERM,
		   "nobody: chown own file to root");
	EXPECT_ERR(chown("perm/userdir/own", (uid_t)-1, 1234), EPERM,
		   "nobody: chgrp own file to a foreign group");
	EXPECT_OK(chown("perm/userdir/own", NOBODY, NOBODY),
		  "nobody: chown own file to itself");
	EXPECT_ERR(chown("perm/ro644", NOBODY, (gid_t)-1), EPERM,
		   "nobody: chown a root file");
	EXPECT_ERR(chmod("perm/ro644", 0666), EPERM,
		   "nobody: chmod a root file");
	EXPECT_ERR(utimensat(AT_FDCWD, "perm/ro644", ts, 0), EPERM,
		   "nobody: set explicit times on a root file");
	EXPECT_ERR(utimensat(AT_FDCWD, "perm/ro644", NULL, 0), EACCES,
		   "nobody: touch a read-only root file");
	EXPECT_OK(utimensat(AT_FDCWD, "perm/sticky/rootfile", NULL, 0),
		  "nobody: touch a writable root file");
	EXPECT_ERR(mknod("perm/userdir/chr", S_IFCHR | 0600, makedev(1, 3)),
		   EPERM, "nobody: mknod a device");

	/* writing clears setuid and setgid */
	fd = EXPECT_OK(open("perm/suid", O_WRONLY),
		       "nobody: open a 06777 root file");
	if (fd >= 0) {
		EXPECT_EQ(write(fd, "y", 1), 1, "nobody: write to it");
		close(fd);
	}
	st = lst("perm/suid");
	EXPECT_EQ(st.st_mode & 07777, 0777,
		  "write by nobody clears setuid and setgid");
}

static void t_perms(void)
{
	int fd;

	if (!is_root) {
		skip("not root", "permission checks as another user");
		return;
	}
	mkdir("perm", 0755);
	put_file("perm/secret", "secret", 6, 0600);
	put_file("perm/ro644", "ro", 2, 0644);
	mkdir("perm/rootdir", 0755);
	put_file("perm/rootdir/z", "", 0, 0644);
	mkdir("perm/closed", 0700);
	put_file("perm/closed/x", "", 0, 0644);
	mkdir("perm/sticky", 0755);
	chmod("perm/sticky", 01777);
	put_file("perm/sticky/rootfile", "", 0, 0666);
	chmod("perm/sticky/rootfile", 0666);
	mkdir("perm/sgid", 0755);
	chown("perm/sgid", 0, 1234);
	chmod("perm/sgid", 02777);
	mkdir("perm/userdir", 0755);
	chmod("perm/userdir", 0777);
	put_file("perm/suid", "x", 1, 0755);
	EXPECT_OK(chmod("perm/suid", 06777), "setup: chmod 06777");
	EXPECT_EQ(mode_of("perm/sgid"), S_IFDIR | 02777, "setup: setgid dir");

	as_nobody("permission checks", nobody_checks, NULL);

	/* root in the setgid dir too */
	fd = open("perm/sgid/rf", O_CREAT | O_WRONLY, 0644);
	if (fd >= 0)
		close(fd);
	EXPECT_EQ(lst("perm/sgid/rf").st_gid, 1234,
		  "root's new file in the setgid dir gets its group");
}

/* ------------------------------------------------------------------ */
/* ENOSPC on the small filesystem                                      */
/* ------------------------------------------------------------------ */
struct fill_result {
	uint64_t bytes;
	int err;
	struct statvfs sv;
};

/* Append 64 KiB chunks to path until a write fails; stop after limit. */
static void fill(const char *path, uint64_t limit, struct fill_result *r)
{
	static unsigned char buf[65536];
	int fd = open(path, O_CREAT | O_WRONLY | O_APPEND, 0644);

	memset(r, 0, sizeof(*r));
	if (fd < 0) {
		r->err = errno;
		return;
	}
	memset(buf, 0x5a, sizeof(buf));
	while (r->bytes <= limit) {
		ssize_t n = write(fd, buf, sizeof(buf));

		if (n < 0) {
			r->err = errno;
			break;
		}
		r->bytes += (uint64_t)n;
	}
	if (fsync(fd) < 0 && !r->err)
		r->err = errno;
	close(fd);
	statvfs(small_mnt, &r->sv);
}

static struct fill_result *shared_fill;

static void nobody_fill(void *arg)
{
	fill("enospc/ufill", *(uint64_t *)arg, shared_fill);
}

static void t_enospc(void)
{
	char dir[PATH_MAX];
	struct statvfs sv0, sv;
	struct fill_result r;
	uint64_t limit, b0;
	unsigned char *buf;
	int fd, err;

	if (!small_mnt) {
		skip("no small filesystem given", "ENOSPC checks");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/enospc", small_mnt);
	mkdir(dir, 0777);
	chmod(dir, 0777);
	if (EXPECT_OK(chdir(small_mnt), "chdir to the small filesystem") < 0)
		return;
	statvfs(".", &sv0);
	b0 = sv0.f_bfree;
	limit = (uint64_t)sv0.f_blocks * sv0.f_frsize + 16 * MIB;
	diag("small fs: %lu blocks of %lu, %lu free, %lu available",
	     (unsigned long)sv0.f_blocks, (unsigned long)sv0.f_frsize,
	     (unsigned long)sv0.f_bfree, (unsigned long)sv0.f_bavail);

	fill("enospc/fill", limit, &r);
	EXPECT_EQ(r.err, ENOSPC, "writing until full ends with ENOSPC (%s "
		  "after %" PRIu64 " bytes)", errname(r.err), r.bytes);
	CHECK(r.bytes > (sv0.f_bfree * sv0.f_frsize) / 2,
	      "most of the free space could be written (%" PRIu64 " of %"
	      PRIu64 ")", r.bytes, (uint64_t)(sv0.f_bfree * sv0.f_frsize));
	CHECK(r.sv.f_bfree * r.sv.f_frsize < 2 * MIB,
	      "f_bfree near zero when full (%lu)",
	      (unsigned long)r.sv.f_bfree);
	fd = open("enospc/fill", O_RDONLY);
	{
		unsigned char c[4];

		EXPECT_EQ(pread(fd, c, 4, (off_t)r.bytes - 4), 4,
			  "the full file reads to its end");
	}
	close(fd);
	EXPECT_EQ(size_of("enospc/fill"), r.bytes,
		  "size matches the bytes written");
	fd = open("enospc/newfile", O_CREAT | O_WRONLY, 0644);
	if (fd >= 0) {
		/* With the kernel's writeback cache (-o writeback) the
		 * error comes at fsync rather than at write. */
		ssize_t w = write(fd, "x", 1);
		int e = w < 0 ? errno : (fsync(fd) < 0 ? errno : 0);

		CHECK(e == ENOSPC, "a new file cannot get a block when full "
		      "(write or fsync: %s)", errname(e));
		close(fd);
		unlink("enospc/newfile");
	} else {
		skip("create failed when full", "write to a new file when "
		     "full");
	}
	EXPECT_OK(unlink("enospc/fill"), "unlink the file that filled it");
	sv.f_bfree = wait_bfree(".", b0 - 8);
	CHECK(sv.f_bfree + 8 >= b0, "space comes back (%lu of %lu)",
	      (unsigned long)sv.f_bfree, (unsigned long)b0);
	buf = xmalloc(4 * MIB);
	fill_pattern(buf, 4 * MIB, 5, 0);
	EXPECT_OK(put_file("enospc/after", buf, 4 * MIB, 0644),
		  "write 4 MiB after ENOSPC");
	CHECK(file_is("enospc/after", buf, 4 * MIB), "and read it back");
	EXPECT_OK(mkdir("enospc/dir-after", 0755), "mkdir after ENOSPC");
	unlink("enospc/after");
	rmdir("enospc/dir-after");
	free(buf);
	(void)err;

	/* The root reserve: nobody runs out first, root can go on. */
	if (!is_root) {
		skip("not root", "non-root ENOSPC comes before root's");
	} else if (sv0.f_bavail >= sv0.f_bfree &&
		   !getenv("MAPFS_EXPECT_RESERVE")) {
		skip("no reserve on this filesystem",
		     "non-root ENOSPC comes before root's");
	} else {
		struct fill_result rr;

		wait_bfree(".", b0 - 8);
		shared_fill = mmap(NULL, sizeof(*shared_fill),
				   PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		as_nobody("ENOSPC fill", nobody_fill, &limit);
		EXPECT_EQ(shared_fill->err, ENOSPC,
			  "nobody gets ENOSPC (%s after %" PRIu64 " bytes)",
			  errname(shared_fill->err), shared_fill->bytes);
		CHECK(shared_fill->sv.f_bavail * shared_fill->sv.f_frsize <
		      MIB, "f_bavail near zero when nobody is out of space");
		CHECK(shared_fill->sv.f_bfree > shared_fill->sv.f_bavail,
		      "blocks remain free for root (f_bfree %lu, f_bavail "
		      "%lu)", (unsigned long)shared_fill->sv.f_bfree,
		      (unsigned long)shared_fill->sv.f_bavail);
		fill("enospc/rfill", limit, &rr);
		CHECK(rr.bytes > 0 && rr.err == ENOSPC,
		      "root can still write after nobody's ENOSPC (%" PRIu64
		      " bytes, then %s)", rr.bytes, errname(rr.err));
		unlink("enospc/ufill");
		unlink("enospc/rfill");
		sv.f_bfree = wait_bfree(".", b0 - 8);
		CHECK(sv.f_bfree + 8 >= b0, "space comes back again");
		munmap(shared_fill, sizeof(*shared_fill));
	}
}

/* ------------------------------------------------------------------ */
int main(int argc, char **argv)
{
	char work[PATH_MAX];

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s MNT [SMALL_MNT]\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	tap = mmap(NULL, sizeof(*tap), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tap == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	is_root = geteuid() == 0;
	small_mnt = argc > 2 ? argv[2] : NULL;
	umask(022);
	snprintf(work, sizeof(work), "%s/posix_ops", argv[1]);
	if (mkdir(work, 0755) < 0 || chdir(work) < 0) {
		fprintf(stderr, "cannot make %s: %s\n", work, strerror(errno));
		return 2;
	}
	diag("posix_ops on %s%s%s, %s", argv[1], small_mnt ? ", small fs " :
	     "", small_mnt ? small_mnt : "", is_root ? "as root" : "not root");

	t_basic_io();
	t_pread_pwrite();
	t_large();
	t_sparse();
	t_truncate();
	t_stat();
	t_chmod_chown();
	t_utimens();
	t_mkdir_rmdir();
	t_unlink();
	t_link();
	t_symlink();
	t_mknod();
	t_rename();
	t_namelen();
	t_readdir_big();
	t_readdir_unlink();
	t_seekdir();
	t_orphan();
	t_fsync();
	t_statvfs();
	t_times();
	t_perms();
	t_enospc();

	printf("1..%d\n", tap->n);
	if (tap->failed)
		diag("%d of %d checks failed", tap->failed, tap->n);
	return tap->failed ? 1 : 0;
}
