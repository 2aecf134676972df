/* SPDX-License-Identifier: MIT */
/*
 * fsx.c - file data integrity exerciser in the tradition of fsx (the
 * "file system exerciser" from NeXT / Apple / xfstests).
 *
 *   fsx FILE SEED NOPS     random operations on FILE, every read checked
 *   fsx --locks FILE       fcntl byte-range locks conflict between two
 *                          processes (parent and forked child)
 *
 * One file, a long seeded random sequence (own PRNG, so a seed means the
 * same sequence everywhere) of: pread at random offsets and lengths (also
 * past EOF), pwrite, ftruncate up and down, fallocate (default mode,
 * KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE), copy_file_range from the
 * file to itself at non-overlapping ranges, reads and writes through a
 * MAP_SHARED mapping (msync(MS_SYNC) sometimes), close+reopen, fsync and
 * fdatasync. An in-memory copy holds the expected contents and size; every
 * read is compared, the size is checked with fstat after each operation
 * that may change it, and the whole file is compared every 1000 operations
 * and at the end. On a mismatch the last 30 operations (with parameters)
 * and the first differing offset are printed, exit status 1.
 *
 * A mode that fails with EOPNOTSUPP or ENOSYS is noted once and disabled.
 * The file is kept under MAXSIZE (4 MiB); reads and KEEP_SIZE ranges reach
 * up to MAXOFF (8 MiB).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXSIZE (4L << 20)	/* the file never grows past this */
#define MAXOFF (8L << 20)	/* reads, KEEP_SIZE ranges reach this far */
#define MAXLEN (256L << 10)	/* longest single transfer */
#define LOGN 30
#define FULLCHECK_EVERY 1000

enum op {
	OP_READ, OP_WRITE, OP_TRUNC, OP_FALLOC, OP_FALLOC_KEEP, OP_PUNCH,
	OP_ZERO, OP_COPY, OP_MAPREAD, OP_MAPWRITE, OP_CLOSEOPEN, OP_FSYNC,
	OP_FULLCHECK, NOPTYPES
};

static const char *opname[NOPTYPES] = {
	"read", "write", "truncate", "fallocate", "falloc_keep_size",
	"punch_hole", "zero_range", "copy_range", "mapread", "mapwrite",
	"close_open", "fsync", "fullcheck",
};

/* Relative weights of the operations. */
static const int weight[NOPTYPES] = {
	[OP_READ] = 20, [OP_WRITE] = 20, [OP_TRUNC] = 6, [OP_FALLOC] = 4,
	[OP_FALLOC_KEEP] = 3, [OP_PUNCH] = 5, [OP_ZERO] = 5, [OP_COPY] = 6,
	[OP_MAPREAD] = 6, [OP_MAPWRITE] = 8, [OP_CLOSEOPEN] = 2,
	[OP_FSYNC] = 2,
};

static int disabled[NOPTYPES];
static long counts[NOPTYPES];	/* operations done, by type */

struct logent {
	long opno;
	enum op op;
	long off, len, arg;	/* arg: copy source / new size / flags */
	long size_before, size_after;
	int ret;
};

static struct logent oplog[LOGN];
static long nlogged;

static const char *fname;
static int fd = -1;
static unsigned char *good;	/* expected contents; zero past fsize */
static unsigned char *buf;
static long fsize;
static long opno;
static long pagesize;
static uint64_t seed;

/* splitmix64: small, good enough, identical on every platform. */
static uint64_t rng_state;
static uint64_t rnd64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static long rnd(long n)	/* 0 .. n-1 */
{
	return n <= 0 ? 0 : (long)(rnd64() % (uint64_t)n);
}

static void fill_random(unsigned char *p, long n)
{
	long i;
	uint64_t v = 0;

	for (i = 0; i < n; i++) {
		if ((i & 7) == 0)
			v = rnd64();
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

/* Transfer lengths: mostly small, sometimes large, sometimes page-sized. */
static long rnd_len(void)
{
	switch (rnd(8)) {
	case 0:
		return 1 + rnd(16);
	case 1:
		return pagesize * (1 + rnd(8));
	case 2:
		return 1 + rnd(MAXLEN);
	default:
		return 1 + rnd(65536);
	}
}

/* Offsets: often aligned to a page or to 512, else anywhere. */
static long rnd_off(long limit)
{
	long o = rnd(limit);

	switch (rnd(4)) {
	case 0:
		return o & ~(pagesize - 1);
	case 1:
		return o & ~511L;
	default:
		return o;
	}
}

static struct logent *log_op(enum op op, long off, long len, long arg)
{
	struct logent *e = &oplog[nlogged++ % LOGN];

	counts[op]++;

	e->opno = opno;
	e->op = op;
	e->off = off;
	e->len = len;
	e->arg = arg;
	e->size_before = fsize;
	e->size_after = -1;
	e->ret = 0;
	return e;
}

static void dump_log(void)
{
	long i, start = nlogged > LOGN ? nlogged - LOGN : 0;

	fprintf(stderr, "fsx: seed %" PRIu64 ", last %ld operations:\n",
		seed, nlogged - start);
	for (i = start; i < nlogged; i++) {
		struct logent *e = &oplog[i % LOGN];

		fprintf(stderr, "  #%-7ld %-16s off 0x%lx len 0x%lx (end 0x%lx)",
			e->opno, opname[e->op], e->off, e->len,
			e->off + e->len);
		if (e->op == OP_COPY)
			fprintf(stderr, " src 0x%lx", e->arg);
		else if (e->op == OP_MAPWRITE)
			fprintf(stderr, " msync %ld", e->arg);
		else if (e->op == OP_FSYNC)
			fprintf(stderr, " %s", e->arg ? "fdatasync" : "fsync");
		fprintf(stderr, " size 0x%lx -> 0x%lx", e->size_before,
			e->size_after);
		if (e->ret)
			fprintf(stderr, " ret %d", e->ret);
		fputc('\n', stderr);
	}
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fsx: op #%ld: ", opno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	dump_log();
	fprintf(stderr, "fsx: FAILED (seed %" PRIu64 ", op #%ld)\n", seed,
		opno);
	exit(1);
}

static void disable(enum op op, int err)
{
	disabled[op] = 1;
	printf("# fsx: %s: %s, disabled\n", opname[op], strerror(err));
}

static int unsupported(int err)
{
	return err == EOPNOTSUPP || err == ENOSYS;
}

/* Compare got[0..n) with good[off..off+n). */
static void check(const char *what, const unsigned char *got, long off,
		  long n)
{
	long i, j;

	if (memcmp(got, good + off, n) == 0)
		return;
	for (i = 0; i < n && got[i] == good[off + i]; i++)
		;
	fprintf(stderr, "fsx: %s mismatch: first differing offset 0x%lx "
		"(%ld), expected 0x%02x, got 0x%02x\n", what, off + i,
		off + i, good[off + i], got[i]);
	fprintf(stderr, "  offset     expected                got\n");
	for (j = i & ~7L; j < n && j < (i & ~7L) + 64; j += 8) {
		long k;

		fprintf(stderr, "  0x%08lx", off + j);
		for (k = j; k < j + 8; k++)
			fprintf(stderr, k < n ? " %02x" : "   ", good[off + k]);
		fprintf(stderr, " ");
		for (k = j; k < j + 8; k++)
			fprintf(stderr, k < n ? " %02x" : "   ", got[k]);
		fputc('\n', stderr);
	}
	{
		long last = i;

		for (j = i; j < n; j++)
			if (got[j] != good[off + j])
				last = j;
		fprintf(stderr, "fsx: differing bytes span 0x%lx..0x%lx "
			"(file size 0x%lx, page 0x%lx)\n", off + i, off + last,
			fsize, (off + i) & ~(pagesize - 1));
	}
	die("%s data mismatch at offset 0x%lx", what, off + i);
}

static void check_size(void)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		die("fstat: %s", strerror(errno));
	if (st.st_size != fsize)
		die("size mismatch: expected 0x%lx, fstat says 0x%lx", fsize,
		    (long)st.st_size);
}

static void do_open(void)
{
	fd = open(fname, O_RDWR);
	if (fd < 0)
		die("open %s: %s", fname, strerror(errno));
}

/* pread all of [off, off+len); returns the byte count read. */
static long read_all(unsigned char *p, long off, long len)
{
	long done = 0;

	while (done < len) {
		ssize_t r = pread(fd, p + done, len - done, off + done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("pread off 0x%lx len 0x%lx: %s", off + done,
			    len - done, strerror(errno));
		}
		if (r == 0)
			break;
		done += r;
	}
	return done;
}

static void op_read(long off, long len)
{
	long expect, got;
	struct logent *e = log_op(OP_READ, off, len, 0);

	expect = off >= fsize ? 0 : (off + len > fsize ? fsize - off : len);
	got = read_all(buf, off, len);
	e->size_after = fsize;
	e->ret = (int)got;
	if (got != expect)
		die("short/long read: off 0x%lx len 0x%lx got 0x%lx expected "
		    "0x%lx (size 0x%lx)", off, len, got, expect, fsize);
	check("read", buf, off, got);
}

static void full_check(void)
{
	struct logent *e = log_op(OP_FULLCHECK, 0, fsize, 0);
	long got;

	check_size();
	got = read_all(buf, 0, fsize + 1);
	e->size_after = fsize;
	if (got != fsize)
		die("full read returned 0x%lx, size 0x%lx", got, fsize);
	check("full-file read", buf, 0, fsize);
}

static void op_write(long off, long len)
{
	long done = 0;
	struct logent *e;

	if (off + len > MAXSIZE)
		len = MAXSIZE - off;
	if (len <= 0)
		return;
	e = log_op(OP_WRITE, off, len, 0);
	fill_random(buf, len);
	while (done < len) {
		ssize_t r = pwrite(fd, buf + done, len - done, off + done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("pwrite off 0x%lx len 0x%lx: %s", off + done,
			    len - done, strerror(errno));
		}
		if (r == 0)
			die("pwrite returned 0");
		done += r;
	}
	memcpy(good + off, buf, len);
	if (off + len > fsize)
		fsize = off + len;
	e->size_after = fsize;
	check_size();
}

static void set_size(long newsize)
{
	if (newsize < fsize)
		memset(good + newsize, 0, fsize - newsize);
	fsize = newsize;
}

static void op_truncate(long newsize)
{
	struct logent *e = log_op(OP_TRUNC, newsize, 0, newsize);

	if (ftruncate(fd, newsize) < 0)
		die("ftruncate 0x%lx: %s", newsize, strerror(errno));
	set_size(newsize);
	e->size_after = fsize;
	check_size();
}

static void op_fallocate(enum op op, long off, long len)
{
	int mode;
	struct logent *e;

	switch (op) {
	case OP_FALLOC:
		mode = 0;
		break;
	case OP_FALLOC_KEEP:
		mode = FALLOC_FL_KEEP_SIZE;
		break;
	case OP_PUNCH:
		mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		break;
	default:
		mode = FALLOC_FL_ZERO_RANGE;
		break;
	}
	/* Size-changing modes stay under MAXSIZE. */
	if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > MAXSIZE)
		len = MAXSIZE - off;
	if (len <= 0)
		return;
	e = log_op(op, off, len, mode);
	if (fallocate(fd, mode, off, len) < 0) {
		e->ret = -errno;
		if (unsupported(errno)) {
			e->size_after = fsize;
			disable(op, errno);
			return;
		}
		die("fallocate mode 0x%x off 0x%lx len 0x%lx: %s", mode, off,
		    len, strerror(errno));
	}
	if (op == OP_PUNCH || op == OP_ZERO) {
		long end = off + len;

		if (op == OP_PUNCH && end > fsize)
			end = fsize;
		if (end > off)
			memset(good + off, 0, end - off);
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > fsize)
		fsize = off + len;
	e->size_after = fsize;
	check_size();
}

static void op_copy(void)
{
	long src, dst, len, done = 0;
	struct logent *e;

	if (fsize == 0)
		return;
	src = rnd_off(fsize);
	len = rnd_len();
	if (len > fsize - src)
		len = fsize - src;
	if (len <= 0)
		return;
	/* A destination not overlapping [src, src+len), under MAXSIZE. */
	for (int tries = 0;; tries++) {
		if (tries == 20)
			return;
		dst = rnd_off(MAXSIZE - len);
		if (dst + len <= src || dst >= src + len)
			break;
	}
	e = log_op(OP_COPY, dst, len, src);
	while (done < len) {
		loff_t in = src + done, out = dst + done;
		ssize_t r = copy_file_range(fd, &in, fd, &out, len - done, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			e->ret = -errno;
			if (done == 0 && (unsupported(errno) ||
					  errno == EXDEV)) {
				e->size_after = fsize;
				disable(OP_COPY, errno);
				return;
			}
			die("copy_file_range src 0x%lx dst 0x%lx len 0x%lx: "
			    "%s", src + done, dst + done, len - done,
			    strerror(errno));
		}
		if (r == 0)
			die("copy_file_range returned 0 at src 0x%lx (size "
			    "0x%lx)", src + done, fsize);
		done += r;
	}
	memmove(good + dst, good + src, len);
	if (dst + len > fsize)
		fsize = dst + len;
	e->size_after = fsize;
	check_size();
}

static void op_mapread(void)
{
	long off, len, maplen;
	unsigned char *p;
	struct logent *e;

	if (fsize == 0)
		return;
	off = rnd_off(fsize);
	len = rnd_len();
	if (len > fsize - off)
		len = fsize - off;
	e = log_op(OP_MAPREAD, off, len, 0);
	maplen = fsize;
	p = mmap(NULL, maplen, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap read len 0x%lx: %s", maplen, strerror(errno));
	memcpy(buf, p + off, len);
	/* The tail of the last page past EOF must read as zeros. */
	{
		long end = (maplen + pagesize - 1) & ~(pagesize - 1), i;

		for (i = maplen; i < end; i++)
			if (p[i] != 0)
				die("mmap: byte 0x%lx past EOF (0x%lx) in the "
				    "last page is 0x%02x, not zero", i, maplen,
				    p[i]);
	}
	munmap(p, maplen);
	e->size_after = fsize;
	check("mapread", buf, off, len);
}

static void op_mapwrite(void)
{
	long off, len, maplen;
	int sync = rnd(3) == 0;
	unsigned char *p;
	struct logent *e;

	off = rnd_off(MAXSIZE);
	len = rnd_len();
	if (off + len > MAXSIZE)
		len = MAXSIZE - off;
	if (len <= 0)
		return;
	e = log_op(OP_MAPWRITE, off, len, sync);
	/* Stores through a mapping cannot extend a file: grow it first. */
	if (off + len > fsize) {
		if (ftruncate(fd, off + len) < 0)
			die("mapwrite: ftruncate 0x%lx: %s", off + len,
			    strerror(errno));
		fsize = off + len;
	}
	maplen = fsize;
	p = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap write len 0x%lx: %s", maplen, strerror(errno));
	fill_random(buf, len);
	memcpy(p + off, buf, len);
	memcpy(good + off, buf, len);
	if (sync && msync(p, maplen, MS_SYNC) < 0)
		die("msync: %s", strerror(errno));
	if (munmap(p, maplen) < 0)
		die("munmap: %s", strerror(errno));
	e->size_after = fsize;
	check_size();
}

static void op_closeopen(void)
{
	struct logent *e = log_op(OP_CLOSEOPEN, 0, 0, 0);

	if (close(fd) < 0)
		die("close: %s", strerror(errno));
	do_open();
	e->size_after = fsize;
	check_size();
}

static void op_fsync(void)
{
	int data = (int)rnd(2);
	struct logent *e = log_op(OP_FSYNC, 0, 0, data);

	if ((data ? fdatasync(fd) : fsync(fd)) < 0)
		die("%s: %s", data ? "fdatasync" : "fsync", strerror(errno));
	e->size_after = fsize;
}

static enum op pick_op(void)
{
	int total = 0, i, r;

	for (i = 0; i < NOPTYPES; i++)
		if (!disabled[i])
			total += weight[i];
	r = (int)rnd(total);
	for (i = 0; i < NOPTYPES; i++) {
		if (disabled[i])
			continue;
		if (r < weight[i])
			return (enum op)i;
		r -= weight[i];
	}
	return OP_READ;
}

static void step(void)
{
	enum op op = pick_op();
	long off;

	switch (op) {
	case OP_READ:
		/* Mostly inside the file, sometimes anywhere below MAXOFF. */
		off = rnd(4) == 0 || fsize == 0 ? rnd_off(MAXOFF)
						: rnd_off(fsize);
		op_read(off, rnd_len());
		break;
	case OP_WRITE:
		op_write(rnd_off(MAXSIZE), rnd_len());
		break;
	case OP_TRUNC:
		switch (rnd(3)) {
		case 0:		/* down */
			op_truncate(fsize ? rnd(fsize + 1) : 0);
			break;
		case 1:		/* up */
			op_truncate(fsize + rnd(MAXSIZE - fsize + 1));
			break;
		default:
			op_truncate(rnd(MAXSIZE + 1));
			break;
		}
		break;
	case OP_FALLOC:
	case OP_ZERO:
		op_fallocate(op, rnd_off(MAXSIZE), rnd_len());
		break;
	case OP_FALLOC_KEEP:
		op_fallocate(op, rnd_off(MAXOFF), rnd_len());
		break;
	case OP_PUNCH:
		off = rnd(4) == 0 || fsize == 0 ? rnd_off(MAXOFF)
						: rnd_off(fsize);
		op_fallocate(op, off, rnd_len());
		break;
	case OP_COPY:
		op_copy();
		break;
	case OP_MAPREAD:
		op_mapread();
		break;
	case OP_MAPWRITE:
		op_mapwrite();
		break;
	case OP_CLOSEOPEN:
		op_closeopen();
		break;
	case OP_FSYNC:
		op_fsync();
		break;
	default:
		break;
	}
}

/* --locks: fcntl byte-range locks between two processes. */
static int lock_op(int lfd, int cmd, short type, off_t start, off_t len,
		   struct flock *out)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET,
			    .l_start = start, .l_len = len };
	int r = fcntl(lfd, cmd, &fl);

	if (out)
		*out = fl;
	return r;
}

static int locks_test(const char *path)
{
	int lfd, toc[2], toparent[2], status, nf = 0;
	char c;
	pid_t pid;

	lfd = open(path, O_RDWR | O_CREAT, 0644);
	if (lfd < 0) {
		perror(path);
		return 1;
	}
	if (pipe(toc) < 0 || pipe(toparent) < 0) {
		perror("pipe");
		return 1;
	}
	/* Parent: write lock [0, 100), read lock [200, 300). */
	if (lock_op(lfd, F_SETLK, F_WRLCK, 0, 100, NULL) < 0 ||
	    lock_op(lfd, F_SETLK, F_RDLCK, 200, 100, NULL) < 0) {
		perror("fcntl F_SETLK (parent)");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		int cfd = open(path, O_RDWR), bad = 0;
		struct flock fl;

#define CHILD_EXPECT(cond, msg) do { if (!(cond)) { \
		fprintf(stderr, "locks: child: %s (errno %s)\n", msg, \
			strerror(errno)); bad++; } } while (0)
		if (cfd < 0)
			_exit(2);
		errno = 0;
		CHILD_EXPECT(lock_op(cfd, F_SETLK, F_WRLCK, 50, 10, NULL) < 0 &&
			     (errno == EAGAIN || errno == EACCES),
			     "write lock inside the parent's write lock "
			     "did not conflict");
		errno = 0;
		CHILD_EXPECT(lock_op(cfd, F_SETLK, F_RDLCK, 99, 1, NULL) < 0 &&
			     (errno == EAGAIN || errno == EACCES),
			     "read lock on the parent's write lock did not "
			     "conflict");
		errno = 0;
		CHILD_EXPECT(lock_op(cfd, F_SETLK, F_WRLCK, 250, 1, NULL) < 0 &&
			     (errno == EAGAIN || errno == EACCES),
			     "write lock on the parent's read lock did not "
			     "conflict");
		errno = 0;
		CHILD_EXPECT(lock_op(cfd, F_SETLK, F_RDLCK, 250, 10, NULL) == 0,
			     "read lock on the parent's read lock failed");
		errno = 0;
		CHILD_EXPECT(lock_op(cfd, F_SETLK, F_WRLCK, 100, 100, NULL) == 0,
			     "write lock on the free range [100, 200) failed");
		errno = 0;
		CHILD_EXPECT(lock_op(cfd, F_GETLK, F_WRLCK, 10, 1, &fl) == 0 &&
			     fl.l_type == F_WRLCK && fl.l_pid == getppid() &&
			     fl.l_start == 0 && fl.l_len == 100,
			     "F_GETLK did not report the parent's write lock "
			     "[0, 100)");
		/* Tell the parent, wait for it to unlock. */
		if (write(toparent[1], "1", 1) != 1 ||
		    read(toc[0], &c, 1) != 1)
			_exit(2);
		errno = 0;
		CHILD_EXPECT(lock_op(cfd, F_SETLK, F_WRLCK, 0, 100, NULL) == 0,
			     "write lock [0, 100) failed after the parent "
			     "unlocked");
		errno = 0;
		CHILD_EXPECT(lock_op(cfd, F_GETLK, F_WRLCK, 0, 0, &fl) == 0 &&
			     fl.l_type == F_UNLCK,
			     "F_GETLK reports a lock after the parent closed");
		_exit(bad ? 1 : 0);
#undef CHILD_EXPECT
	}
	if (read(toparent[0], &c, 1) != 1) {
		fprintf(stderr, "locks: child died early\n");
		nf++;
	}
	/* Closing any descriptor of the file drops all the process's
	 * POSIX locks on it. Then the blocked ranges must be free. */
	close(lfd);
	if (write(toc[1], "1", 1) != 1)
		nf++;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		nf++;
	if (nf) {
		fprintf(stderr, "fsx --locks: FAILED\n");
		return 1;
	}
	printf("fsx --locks: fcntl locks OK\n");
	return 0;
}

int main(int argc, char **argv)
{
	long nops, i;
	struct timespec t0, t1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "--locks") == 0)
		return locks_test(argv[2]);
	if (argc != 4) {
		fprintf(stderr, "usage: fsx FILE SEED NOPS\n"
			"       fsx --locks FILE\n");
		return 2;
	}
	fname = argv[1];
	seed = strtoull(argv[2], NULL, 0);
	nops = strtol(argv[3], NULL, 0);
	rng_state = seed ^ 0x6673786673780000ULL;
	pagesize = sysconf(_SC_PAGESIZE);
	good = calloc(1, MAXOFF + MAXLEN);
	buf = malloc(MAXOFF + MAXLEN + 1);
	if (!good || !buf) {
		perror("malloc");
		return 2;
	}
	fd = open(fname, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(fname);
		return 2;
	}
	fsize = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 1; i <= nops; i++) {
		opno = i;
		step();
		if (i % FULLCHECK_EVERY == 0)
			full_check();
	}
	opno = nops + 1;
	full_check();
	if (close(fd) < 0)
		die("close: %s", strerror(errno));
	do_open();
	full_check();
	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# fsx: ops by type:");
	for (i = 0; i < NOPTYPES; i++)
		if (counts[i])
			printf(" %s=%ld", opname[i], counts[i]);
	printf("\nfsx: %ld ops, OK (seed %" PRIu64 ", final size %ld, "
	       "%.1f s)\n", nops, seed, fsize,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
