/* SPDX-License-Identifier: MIT */
/*
 * stress.c - concurrency stress test on a mounted mapfs: several worker
 * processes hammer the mount at once with plain syscalls.
 *
 * Usage: stress DIR SEED NOPS [NWORKERS]
 *
 * Everything happens under DIR/stress (created; it must not exist).
 * Workers with an even number are "private": each owns DIR/stress/pW
 * (a root and subdirectories d0..d3, file names f0..f15) and keeps an
 * exact model of it: file contents, link counts, which names are hard
 * links of which inode. Every operation's result, errno included, must
 * be what the model predicts: create (O_EXCL, O_TRUNC, O_APPEND), pwrite
 * past EOF, read and compare, truncate up and down, rename of files and
 * directories within and across directories, link, unlink, mkdir,
 * rmdir, stat, and readdir of its own directories (exactly the model's
 * names, each once).
 *
 * Odd workers share DIR/stress/shared (names n00..n47 in the root and
 * in subdirectories d0..d3). A file there is never changed in place:
 * it is written (and truncated) under a unique temporary name, then
 * renamed over its place, so a reader always sees some complete
 * version. Its content is derived from a 32-byte header (an origin id
 * and the length) that a reader checks byte for byte. Shared workers
 * publish, read and check, rename, link, unlink, mkdir, rmdir and
 * rename directories; ENOENT, EEXIST and ENOTEMPTY from races are
 * expected and counted. Any other error (EIO, EUCLEAN, ...), wrong data,
 * a crash or a hang is a failure.
 *
 * The shared root also holds NSTABLE "stable.NNN" files that nobody
 * touches: every worker now and then reads the shared root while the
 * others change it, and each stable name must be seen exactly once (the
 * volatile names may come and go, or even show twice), "." and ".."
 * once, and nothing that no worker could have made.
 *
 * At the end each private worker checks its whole tree against its
 * model (listings, types, sizes, contents, link counts, inode identity
 * of hard links), and the parent checks the quiescent shared tree (no
 * temporary left, every file's content, link counts equal to the names
 * found). Output is TAP; exit 0 when all passed, 1 otherwise. A worker
 * still running after MAPFS_STRESS_TIMEOUT seconds (default 300) is a
 * hang: its current operation and kernel wait channel are printed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tutil.h"
#define MAXWORKERS 16
#define NSTABLE 400		/* untouched files in the shared root */
#define NPOOL 48		/* n00..n47 in the shared tree */
#define NSDIRS 4		/* d0..d3 in the shared root */
#define NSLOTS (NPOOL * (1 + NSDIRS))
#define PDIRS 5			/* private: root + d0..d3 */
#define PNAMES 16		/* private: f0..f15 per directory */
#define PMAXOBJ (PDIRS * PNAMES)
#define PMAXSIZE (256 * 1024)	/* largest private file */
#define SMAXSIZE (64 * 1024)	/* largest shared file */
#define HDR 32			/* header of a shared file */
#define PATHLEN 512
#define LOGN 24

/* One per worker, in shared memory: what it is doing now, for the
 * parent's report on a hang, and its counters for the summary. */
struct wstate {
	long opno;
	long races;
	long readdirs;
	char cur[200];
};

static struct wstate *wst;
static const char *top;
static uint64_t seed0;
static long nops;
static int wid;
static long opno;
static char oplog[LOGN][200];
static unsigned oplog_n;

/* ------------------------------------------------------------------ */
/* PRNG (xorshift64*, seeded through splitmix64) and content            */
/* ------------------------------------------------------------------ */

static void rnd_bytes(unsigned char *p, size_t n)
{
	while (n >= 8) {
		uint64_t v = rng();
		memcpy(p, &v, 8);
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t v = rng();
		memcpy(p, &v, n);
	}
}

/* A random size, biased to the interesting boundaries: inline-small,
 * around one block, around the end of the direct blocks, indirect. */
static size_t rnd_size(size_t max)
{
	size_t s;

	switch (rnd(5)) {
	case 0: s = rnd(200); break;
	case 1: s = 4096 - 8 + rnd(17); break;
	case 2: s = rnd(49152 + 4096); break;
	case 3: s = 49152 - 8 + rnd(17); break;
	default: s = rnd((unsigned)max + 1); break;
	}
	return s > max ? max : s;
}

/* Shared-file body: byte p of a file with origin o. */
static void gen_fill(unsigned char *buf, uint32_t origin, size_t from,
		     size_t to)
{
	for (size_t p = from; p < to; p++) {
		uint64_t v = splitmix(((uint64_t)origin << 32) ^ (p / 8) ^
				      0x5a5a000000000000ull);
		buf[p] = (unsigned char)(v >> ((p % 8) * 8));
	}
}

static void gen_header(unsigned char *buf, uint32_t origin, uint32_t len)
{
	char h[HDR + 1];

	memset(h, ' ', sizeof(h));
	snprintf(h, sizeof(h), "mapfs-stress %08" PRIx32 " %08" PRIx32,
		 origin, len);
	h[strlen(h)] = ' ';
	h[HDR - 1] = '\n';
	memcpy(buf, h, HDR);
}

/* ------------------------------------------------------------------ */
/* Reporting                                                            */
/* ------------------------------------------------------------------ */

static void note_op(const char *fmt, ...)
{
	va_list ap;
	char *s = oplog[oplog_n++ % LOGN];

	va_start(ap, fmt);
	vsnprintf(s, sizeof(oplog[0]), fmt, ap);
	va_end(ap);
	if (wst && wid >= 0) {
		wst[wid].opno = opno;
		snprintf(wst[wid].cur, sizeof(wst[wid].cur), "%s", s);
	}
}

static const char *wkind(int w)
{
	return w % 2 == 0 ? "private" : "shared";
}

static void __attribute__((noreturn, format(printf, 1, 2)))
wfail(const char *fmt, ...)
{
	va_list ap;
	unsigned n = oplog_n < LOGN ? oplog_n : LOGN;

	fflush(stdout);
	fprintf(stderr, "FAIL: worker %d (%s), op %ld of %ld, seed %" PRIu64
		": ", wid, wkind(wid), opno, nops, seed0);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n  last operations of this worker:\n");
	for (unsigned i = oplog_n - n; i < oplog_n; i++)
		fprintf(stderr, "    %s\n", oplog[i % LOGN]);
	_exit(1);
}

static void expect(int r, int want_errno, const char *what, const char *path)
{
	int e = r < 0 ? errno : 0;

	if (e == want_errno)
		return;
	if (!want_errno)
		wfail("%s %s: %s (expected success)", what, path,
		      strerror(e));
	wfail("%s %s: %s (expected %s)", what, path,
	      e ? strerror(e) : "success", strerror(want_errno));
}

/* For the shared tree: a failure with one of the listed errnos (0
 * ends the list) is a race and fine; anything else is a failure. */
static bool race_ok(int r, const char *what, const char *path, ...)
{
	va_list ap;
	int e = errno, a;

	if (r >= 0)
		return true;
	va_start(ap, path);
	while ((a = va_arg(ap, int)) != 0) {
		if (a == e) {
			va_end(ap);
			wst[wid].races++;
			return false;
		}
	}
	va_end(ap);
	errno = e;
	wfail("%s %s: unexpected error %s", what, path, strerror(e));
}

static void write_all(int fd, const unsigned char *buf, size_t len,
		      off_t off, const char *path)
{
	size_t done = 0;

	while (done < len) {
		size_t chunk = len - done, most = 1 + rnd(65536);
		ssize_t n;

		if (chunk > most)
			chunk = most;
		n = off < 0 ? write(fd, buf + done, chunk)
			    : pwrite(fd, buf + done, chunk, off + (off_t)done);
		if (n < 0)
			wfail("write %zu bytes at %jd to %s: %s", chunk,
			      (intmax_t)(off < 0 ? -1 : off + (off_t)done),
			      path, strerror(errno));
		if (n == 0)
			wfail("write to %s returned 0", path);
		done += (size_t)n;
	}
}

/* Read fd to EOF into a fresh buffer; *len gets the size. */
static unsigned char *read_all(int fd, size_t *len, const char *path)
{
	size_t cap = 65536, n = 0;
	unsigned char *buf = malloc(cap);

	if (!buf)
		wfail("out of memory");
	for (;;) {
		ssize_t r;

		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				wfail("out of memory");
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0)
			wfail("read %s at %zu: %s", path, n, strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

/* s is exactly prefix followed by a decimal number < max (no leading
 * zeros unless width says so): returns it, or -1. */
static int parse_name(const char *s, const char *fmt, int max)
{
	char back[64];
	int v;

	if (sscanf(s, fmt, &v) != 1 || v < 0 || v >= max)
		return -1;
	snprintf(back, sizeof(back), fmt, v);
	return strcmp(back, s) == 0 ? v : -1;
}

/* "tW.S", a shared worker's temporary file. */
static bool is_temp_name(const char *s)
{
	char back[64];
	int w, n;

	if (sscanf(s, "t%d.%d", &w, &n) != 2 || w < 0 || n < 0)
		return false;
	snprintf(back, sizeof(back), "t%d.%d", w, n);
	return strcmp(back, s) == 0;
}

/* ------------------------------------------------------------------ */
/* The shared tree                                                      */
/* ------------------------------------------------------------------ */

static void shared_root(char *buf)
{
	snprintf(buf, PATHLEN, "%s/shared", top);
}

static void shared_dir(char *buf, int k)
{
	snprintf(buf, PATHLEN, "%s/shared/d%d", top, k);
}

/* slot: 0..NPOOL-1 in the root, then NPOOL per subdirectory. */
static void shared_path(char *buf, unsigned slot)
{
	unsigned d = slot / NPOOL, n = slot % NPOOL;

	if (d == 0)
		snprintf(buf, PATHLEN, "%s/shared/n%02u", top, n);
	else
		snprintf(buf, PATHLEN, "%s/shared/d%u/n%02u", top, d - 1, n);
}

static void stable_path(char *buf, int i)
{
	snprintf(buf, PATHLEN, "%s/shared/stable.%03d", top, i);
}

static uint32_t stable_len(int i)
{
	return HDR + (uint32_t)((i * 397) % 9000);
}

/* Check a shared file's content against its header. */
static void check_shared_content(const unsigned char *buf, size_t len,
				 const char *path)
{
	unsigned char want[HDR];
	unsigned origin, flen;
	char h[HDR + 1];
	unsigned char *body;

	if (len < HDR)
		wfail("%s: %zu bytes, shorter than the header", path, len);
	memcpy(h, buf, HDR);
	h[HDR] = 0;
	if (sscanf(h, "mapfs-stress %8x %8x", &origin, &flen) != 2)
		wfail("%s: bad header '%.31s'", path, h);
	gen_header(want, origin, flen);
	if (memcmp(want, buf, HDR))
		wfail("%s: header '%.31s' not in canonical form", path, h);
	if (flen != len)
		wfail("%s: %zu bytes, header says %u (origin %08x)", path,
		      len, flen, origin);
	body = malloc(len);
	if (!body)
		wfail("out of memory");
	gen_fill(body, origin, HDR, len);
	for (size_t p = HDR; p < len; p++)
		if (body[p] != buf[p])
			wfail("%s: byte %zu is 0x%02x, expected 0x%02x "
			      "(origin %08x, %zu bytes)", path, p, buf[p],
			      body[p], origin, len);
	free(body);
}

/* Open and check; ENOENT is fine unless must_exist. Returns the inode
 * number, 0 if the file was not there. */
static ino_t read_shared(const char *path, bool must_exist)
{
	unsigned char *buf;
	struct stat st;
	size_t len;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0) {
		if (must_exist)
			expect(fd, 0, "open", path);
		race_ok(fd, "open", path, ENOENT, 0);
		return 0;
	}
	if (fstat(fd, &st) < 0)
		wfail("fstat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		wfail("%s: mode %o, not a regular file", path, st.st_mode);
	buf = read_all(fd, &len, path);
	if ((off_t)len != st.st_size)
		wfail("%s: read %zu bytes, fstat says %jd", path, len,
		      (intmax_t)st.st_size);
	check_shared_content(buf, len, path);
	free(buf);
	close(fd);
	return st.st_ino;
}

/* A whole directory read for a check: "." and ".." are counted, every
 * other entry goes to the caller; a readdir error is a failure. */
struct dscan {
	const char *path;
	DIR *d;
	int dots, dotdots, n;	/* n: entries read, dots included */
};

/* The next entry other than "." and "..", or NULL at the end. */
static struct dirent *dscan_next(struct dscan *s)
{
	struct dirent *de;

	for (;;) {
		errno = 0;
		de = readdir(s->d);
		if (!de) {
			if (errno)
				wfail("readdir %s after %d entries: %s",
				      s->path, s->n, strerror(errno));
			return NULL;
		}
		s->n++;
		if (!strcmp(de->d_name, "."))
			s->dots++;
		else if (!strcmp(de->d_name, ".."))
			s->dotdots++;
		else
			return de;
	}
}

/* Close the directory; "." and ".." must each have come once. */
static void dscan_end(struct dscan *s)
{
	closedir(s->d);
	if (s->dots != 1 || s->dotdots != 1)
		wfail("readdir %s: '.' seen %d times, '..' %d times", s->path,
		      s->dots, s->dotdots);
}

/* de's type is want, or DT_UNKNOWN. */
static void dscan_type(const struct dscan *s, const struct dirent *de,
		       unsigned char want)
{
	if (de->d_type != want && de->d_type != DT_UNKNOWN)
		wfail("readdir %s: %s has type %u", s->path, de->d_name,
		      de->d_type);
}

/* de is expected (known), comes once (seen counts it) and has type
 * want. */
static void dscan_once(const struct dscan *s, const struct dirent *de,
		       bool known, unsigned char *seen, unsigned char want)
{
	if (!known)
		wfail("readdir %s: unexpected %s", s->path, de->d_name);
	if ((*seen)++)
		wfail("readdir %s: %s seen twice", s->path, de->d_name);
	dscan_type(s, de, want);
}

/* Read the shared root while others change it. */
static void check_shared_readdir(void)
{
	unsigned char seen[NSTABLE];
	char path[PATHLEN];
	struct dscan s = { .path = path };
	struct dirent *de;
	int i;

	memset(seen, 0, sizeof(seen));
	shared_root(path);
	note_op("readdir %s", path);
	s.d = opendir(path);
	if (!s.d)
		wfail("opendir %s: %s", path, strerror(errno));
	while ((de = dscan_next(&s))) {
		if ((i = parse_name(de->d_name, "stable.%03d", NSTABLE)) >= 0) {
			dscan_once(&s, de, true, &seen[i], DT_REG);
		} else if (parse_name(de->d_name, "n%02d", NPOOL) >= 0 ||
			   is_temp_name(de->d_name)) {
			dscan_type(&s, de, DT_REG);
		} else if (parse_name(de->d_name, "d%d", NSDIRS) >= 0) {
			dscan_type(&s, de, DT_DIR);
		} else {
			wfail("readdir %s: unexpected name '%s'", path,
			      de->d_name);
		}
	}
	dscan_end(&s);
	for (i = 0; i < NSTABLE; i++)
		if (seen[i] != 1)
			wfail("readdir %s: stable.%03d seen %d times (%d "
			      "entries read)", path, i, seen[i], s.n);
	wst[wid].readdirs++;
}

static void shared_publish(unsigned *seq)
{
	char tmp[PATHLEN], dst[PATHLEN];
	uint32_t origin = ((uint32_t)wid << 24) | (++*seq & 0xffffff);
	size_t len = HDR + rnd_size(SMAXSIZE - HDR);
	size_t extra = rnd(3) == 0 ? 1 + rnd(20000) : 0;
	unsigned char *buf = malloc(len + extra);
	int fd, r;

	if (!buf)
		wfail("out of memory");
	snprintf(tmp, sizeof(tmp), "%s/shared/t%d.%u", top, wid, *seq);
	shared_path(dst, rnd(NSLOTS));
	note_op("publish %s (%zu bytes, +%zu truncated) as %s", tmp, len,
		extra, dst);
	gen_header(buf, origin, (uint32_t)len);
	gen_fill(buf, origin, HDR, len);
	rnd_bytes(buf + len, extra);
	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY, 0644);
	expect(fd, 0, "create", tmp);
	if (rnd(3) == 0 && len > 2) {
		/* back half first: a hole, filled afterwards */
		size_t half = len / 2;
		write_all(fd, buf + half, len + extra - half, (off_t)half,
			  tmp);
		write_all(fd, buf, half, 0, tmp);
	} else {
		write_all(fd, buf, len + extra, -1, tmp);
	}
	if (extra)
		expect(ftruncate(fd, (off_t)len), 0, "ftruncate", tmp);
	if (rnd(10) == 0)
		expect(fsync(fd), 0, "fsync", tmp);
	expect(close(fd), 0, "close", tmp);
	free(buf);
	r = rename(tmp, dst);
	if (!race_ok(r, "rename", dst, ENOENT, 0))
		expect(unlink(tmp), 0, "unlink", tmp);
}

static void shared_op(unsigned *seq)
{
	char a[PATHLEN], b[PATHLEN];
	unsigned op = rnd(100);
	struct stat st;
	int r;

	if (op < 30) {
		shared_publish(seq);
	} else if (op < 48) {
		shared_path(a, rnd(NSLOTS));
		note_op("read %s", a);
		read_shared(a, false);
	} else if (op < 51) {
		stable_path(a, (int)rnd(NSTABLE));
		note_op("read %s", a);
		read_shared(a, true);
	} else if (op < 62) {
		shared_path(a, rnd(NSLOTS));
		shared_path(b, rnd(NSLOTS));
		note_op("rename %s %s", a, b);
		race_ok(rename(a, b), "rename", a, ENOENT, 0);
	} else if (op < 68) {
		shared_path(a, rnd(NSLOTS));
		shared_path(b, rnd(NSLOTS));
		note_op("link %s %s", a, b);
		race_ok(link(a, b), "link", a, ENOENT, EEXIST, 0);
	} else if (op < 78) {
		shared_path(a, rnd(NSLOTS));
		note_op("unlink %s", a);
		race_ok(unlink(a), "unlink", a, ENOENT, 0);
	} else if (op < 82) {
		shared_dir(a, (int)rnd(NSDIRS));
		note_op("mkdir %s", a);
		race_ok(mkdir(a, 0755), "mkdir", a, EEXIST, 0);
	} else if (op < 85) {
		shared_dir(a, (int)rnd(NSDIRS));
		note_op("rmdir %s", a);
		race_ok(rmdir(a), "rmdir", a, ENOENT, ENOTEMPTY, 0);
	} else if (op < 87) {
		shared_dir(a, (int)rnd(NSDIRS));
		shared_dir(b, (int)rnd(NSDIRS));
		note_op("rename %s %s", a, b);
		race_ok(rename(a, b), "rename", a, ENOENT, ENOTEMPTY, EEXIST,
			0);
	} else if (op < 93) {
		check_shared_readdir();
	} else {
		shared_path(a, rnd(NSLOTS));
		note_op("stat %s", a);
		r = stat(a, &st);
		/* No link count check: the name may be unlinked between
		 * stat's lookup and its getattr, leaving 0 links (as on
		 * any filesystem). */
		if (race_ok(r, "stat", a, ENOENT, 0) &&
		    (!S_ISREG(st.st_mode) || st.st_size < HDR))
			wfail("stat %s: mode %o size %jd", a, st.st_mode,
			      (intmax_t)st.st_size);
	}
}

/* ------------------------------------------------------------------ */
/* A private tree and its model                                         */
/* ------------------------------------------------------------------ */

struct pobj {
	unsigned char *data;	/* PMAXSIZE bytes */
	size_t size;
	int nlink;		/* 0 = free slot */
	ino_t ino;		/* seen in the final check */
};

static struct pobj objs[PMAXOBJ];
static int ent[PDIRS][PNAMES];	/* object index, -1 = no such name */
static bool dexists[PDIRS];	/* [0], the root, always exists */
static char proot[PATHLEN - 128];

static void pdir_path(char *buf, int d)
{
	if (d == 0)
		snprintf(buf, PATHLEN, "%s", proot);
	else
		snprintf(buf, PATHLEN, "%s/d%d", proot, d - 1);
}

static void pfile_path(char *buf, int d, int n)
{
	if (d == 0)
		snprintf(buf, PATHLEN, "%s/f%d", proot, n);
	else
		snprintf(buf, PATHLEN, "%s/d%d/f%d", proot, d - 1, n);
}

static int pdir_count(int d)
{
	int c = 0;

	for (int n = 0; n < PNAMES; n++)
		c += ent[d][n] >= 0;
	return c;
}

static int pobj_new(void)
{
	for (int i = 0; i < PMAXOBJ; i++) {
		if (objs[i].nlink == 0) {
			if (!objs[i].data) {
				objs[i].data = malloc(PMAXSIZE);
				if (!objs[i].data)
					wfail("out of memory");
			}
			objs[i].size = 0;
			objs[i].nlink = 1;
			return i;
		}
	}
	wfail("model: no free object (cannot happen)");
}

static void pobj_drop(int o)
{
	if (--objs[o].nlink < 0)
		wfail("model: negative link count (cannot happen)");
}

/* A random (dir, name) slot; most of the time an existing file when
 * want_existing and there is one. */
static void pick_slot(bool want_existing, int *d, int *n)
{
	if (want_existing && rnd(10) < 8) {
		int cand[PDIRS * PNAMES], nc = 0;

		for (int i = 0; i < PDIRS; i++)
			for (int j = 0; j < PNAMES; j++)
				if (ent[i][j] >= 0)
					cand[nc++] = i * PNAMES + j;
		if (nc) {
			int c = cand[rnd((unsigned)nc)];
			*d = c / PNAMES;
			*n = c % PNAMES;
			return;
		}
	}
	*d = (int)rnd(PDIRS);
	*n = (int)rnd(PNAMES);
}

static void pcheck_file(int d, int n)
{
	char path[PATHLEN];
	struct pobj *o = &objs[ent[d][n]];
	unsigned char *buf, extra;
	struct stat st;
	size_t len;
	int fd;

	pfile_path(path, d, n);
	fd = open(path, O_RDONLY);
	expect(fd, 0, "open", path);
	if (fstat(fd, &st) < 0)
		wfail("fstat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size != o->size ||
	    st.st_nlink != (nlink_t)o->nlink)
		wfail("fstat %s: mode %o size %jd nlink %ju, expected a file "
		      "of %zu bytes with %d links", path, st.st_mode,
		      (intmax_t)st.st_size, (uintmax_t)st.st_nlink, o->size,
		      o->nlink);
	buf = read_all(fd, &len, path);
	if (len != o->size)
		wfail("read %s: %zu bytes, expected %zu", path, len, o->size);
	for (size_t p = 0; p < len; p++)
		if (buf[p] != o->data[p])
			wfail("read %s: byte %zu is 0x%02x, expected 0x%02x "
			      "(size %zu)", path, p, buf[p], o->data[p], len);
	free(buf);
	if (pread(fd, &extra, 1, (off_t)len + rnd(10000)) != 0)
		wfail("read past the end of %s did not return 0", path);
	close(fd);
}

static void pcheck_dir(int d)
{
	char path[PATHLEN];
	unsigned char seenf[PNAMES], seend[PDIRS];
	struct dscan s = { .path = path };
	struct dirent *de;
	int i;

	memset(seenf, 0, sizeof(seenf));
	memset(seend, 0, sizeof(seend));
	pdir_path(path, d);
	s.d = opendir(path);
	if (!dexists[d]) {
		if (s.d || errno != ENOENT)
			wfail("opendir %s: %s (expected ENOENT)", path,
			      s.d ? "success" : strerror(errno));
		return;
	}
	if (!s.d)
		wfail("opendir %s: %s", path, strerror(errno));
	while ((de = dscan_next(&s))) {
		if ((i = parse_name(de->d_name, "f%d", PNAMES)) >= 0) {
			dscan_once(&s, de, ent[d][i] >= 0, &seenf[i], DT_REG);
		} else if (d == 0 &&
			   (i = parse_name(de->d_name, "d%d", PDIRS - 1)) >=
				   0) {
			dscan_once(&s, de, dexists[i + 1], &seend[i + 1],
				   DT_DIR);
		} else {
			wfail("readdir %s: unexpected name '%s'", path,
			      de->d_name);
		}
	}
	dscan_end(&s);
	for (i = 0; i < PNAMES; i++)
		if (ent[d][i] >= 0 && !seenf[i])
			wfail("readdir %s: f%d missing", path, i);
	for (i = 1; d == 0 && i < PDIRS; i++)
		if (dexists[i] && !seend[i])
			wfail("readdir %s: d%d missing", path, i - 1);
}

static void p_create(void)
{
	char path[PATHLEN];
	int d, n, fd, want, o;
	size_t len;

	pick_slot(false, &d, &n);
	pfile_path(path, d, n);
	want = !dexists[d] ? ENOENT : ent[d][n] >= 0 ? EEXIST : 0;
	note_op("create %s", path);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
	expect(fd, want, "create", path);
	if (fd < 0)
		return;
	o = pobj_new();
	ent[d][n] = o;
	len = rnd_size(PMAXSIZE);
	rnd_bytes(objs[o].data, len);
	write_all(fd, objs[o].data, len, -1, path);
	objs[o].size = len;
	if (rnd(8) == 0)
		expect(fsync(fd), 0, "fsync", path);
	expect(close(fd), 0, "close", path);
}

static void p_write(void)
{
	char path[PATHLEN];
	unsigned char *buf;
	struct pobj *o;
	size_t off, len;
	int d, n, fd, mode;

	pick_slot(true, &d, &n);
	if (ent[d][n] < 0)
		return p_create();
	o = &objs[ent[d][n]];
	pfile_path(path, d, n);
	mode = (int)rnd(3);
	if (mode == 0) {
		/* open with O_TRUNC and write a new content */
		len = rnd_size(PMAXSIZE);
		note_op("rewrite %s with %zu bytes", path, len);
		fd = open(path, O_WRONLY | O_TRUNC);
		expect(fd, 0, "open O_TRUNC", path);
		o->size = 0;
		rnd_bytes(o->data, len);
		write_all(fd, o->data, len, -1, path);
		o->size = len;
	} else if (mode == 1) {
		/* pwrite somewhere, maybe past the end (a hole) */
		len = 1 + rnd(32768);
		off = rnd((unsigned)o->size + 65536);
		if (off + len > PMAXSIZE)
			off = PMAXSIZE - len;
		note_op("pwrite %s %zu bytes at %zu (size %zu)", path, len,
			off, o->size);
		fd = open(path, rnd(2) ? O_WRONLY : O_RDWR);
		expect(fd, 0, "open", path);
		buf = o->data + off;
		if (off > o->size)
			memset(o->data + o->size, 0, off - o->size);
		rnd_bytes(buf, len);
		write_all(fd, buf, len, (off_t)off, path);
		if (off + len > o->size)
			o->size = off + len;
	} else {
		len = 1 + rnd(16384);
		if (o->size + len > PMAXSIZE)
			len = PMAXSIZE - o->size;
		note_op("append %zu bytes to %s (size %zu)", len, path,
			o->size);
		fd = open(path, O_WRONLY | O_APPEND);
		expect(fd, 0, "open O_APPEND", path);
		rnd_bytes(o->data + o->size, len);
		write_all(fd, o->data + o->size, len, -1, path);
		o->size += len;
	}
	if (rnd(10) == 0)
		expect(fdatasync(fd), 0, "fdatasync", path);
	expect(close(fd), 0, "close", path);
}

static void p_truncate(void)
{
	char path[PATHLEN];
	struct pobj *o;
	size_t size;
	int d, n, fd;

	pick_slot(true, &d, &n);
	pfile_path(path, d, n);
	switch (rnd(4)) {
	case 0: size = 0; break;
	case 1: size = rnd(PMAXSIZE + 1); break;
	default: {
		size_t r = rnd(9000);

		/* near the current size, up or down */
		size = ent[d][n] >= 0 ? objs[ent[d][n]].size : 0;
		size = size + r > 4500 ? size + r - 4500 : 0;
	}
		if (size > PMAXSIZE)
			size = PMAXSIZE;
	}
	note_op("truncate %s to %zu", path, size);
	if (ent[d][n] < 0) {
		expect(truncate(path, (off_t)size), ENOENT, "truncate", path);
		return;
	}
	o = &objs[ent[d][n]];
	if (rnd(2)) {
		expect(truncate(path, (off_t)size), 0, "truncate", path);
	} else {
		fd = open(path, O_WRONLY);
		expect(fd, 0, "open", path);
		expect(ftruncate(fd, (off_t)size), 0, "ftruncate", path);
		expect(close(fd), 0, "close", path);
	}
	if (size > o->size)
		memset(o->data + o->size, 0, size - o->size);
	o->size = size;
}

static void p_read(void)
{
	char path[PATHLEN];
	int d, n;

	pick_slot(true, &d, &n);
	pfile_path(path, d, n);
	note_op("read %s", path);
	if (ent[d][n] < 0) {
		expect(open(path, O_RDONLY), ENOENT, "open", path);
		return;
	}
	pcheck_file(d, n);
}

static void p_stat(void)
{
	char path[PATHLEN];
	struct stat st;
	int d, n, r;

	pick_slot(true, &d, &n);
	pfile_path(path, d, n);
	note_op("stat %s", path);
	r = stat(path, &st);
	expect(r, ent[d][n] < 0 ? ENOENT : 0, "stat", path);
	if (r == 0 && (!S_ISREG(st.st_mode) ||
		       (size_t)st.st_size != objs[ent[d][n]].size ||
		       st.st_nlink != (nlink_t)objs[ent[d][n]].nlink))
		wfail("stat %s: mode %o size %jd nlink %ju, expected %zu "
		      "bytes, %d links", path, st.st_mode,
		      (intmax_t)st.st_size, (uintmax_t)st.st_nlink,
		      objs[ent[d][n]].size, objs[ent[d][n]].nlink);
}

static void p_rename(void)
{
	char a[PATHLEN], b[PATHLEN];
	int sd, sn, td, tn, want, so, to;

	pick_slot(true, &sd, &sn);
	pick_slot(rnd(3) == 0, &td, &tn);
	pfile_path(a, sd, sn);
	pfile_path(b, td, tn);
	so = ent[sd][sn];
	to = ent[td][tn];
	want = so < 0 || !dexists[td] ? ENOENT : 0;
	note_op("rename %s %s", a, b);
	expect(rename(a, b), want, "rename", a);
	if (want)
		return;
	/* Same slot, or two names of one inode: nothing happens. */
	if ((sd == td && sn == tn) || so == to)
		return;
	if (to >= 0)
		pobj_drop(to);
	ent[td][tn] = so;
	ent[sd][sn] = -1;
}

static void p_link(void)
{
	char a[PATHLEN], b[PATHLEN];
	int sd, sn, td, tn, want;

	pick_slot(true, &sd, &sn);
	pick_slot(false, &td, &tn);
	pfile_path(a, sd, sn);
	pfile_path(b, td, tn);
	want = ent[sd][sn] < 0 || !dexists[td] ? ENOENT :
	       ent[td][tn] >= 0 ? EEXIST : 0;
	note_op("link %s %s", a, b);
	expect(link(a, b), want, "link", a);
	if (want)
		return;
	ent[td][tn] = ent[sd][sn];
	objs[ent[sd][sn]].nlink++;
}

static void p_unlink(void)
{
	char path[PATHLEN];
	int d, n;

	pick_slot(true, &d, &n);
	pfile_path(path, d, n);
	note_op("unlink %s", path);
	expect(unlink(path), ent[d][n] < 0 ? ENOENT : 0, "unlink", path);
	if (ent[d][n] >= 0) {
		pobj_drop(ent[d][n]);
		ent[d][n] = -1;
	}
}

static void p_dir(void)
{
	char path[PATHLEN];
	int k = 1 + (int)rnd(PDIRS - 1);
	bool mk = rnd(4) == 0 ? dexists[k] : !dexists[k];

	pdir_path(path, k);
	if (mk) {
		note_op("mkdir %s", path);
		expect(mkdir(path, 0755), dexists[k] ? EEXIST : 0, "mkdir",
		       path);
		dexists[k] = true;
	} else {
		int want = !dexists[k] ? ENOENT :
			   pdir_count(k) ? ENOTEMPTY : 0;
		note_op("rmdir %s", path);
		expect(rmdir(path), want, "rmdir", path);
		if (!want)
			dexists[k] = false;
	}
}

static void p_rename_dir(void)
{
	char a[PATHLEN], b[PATHLEN];
	int x = 1 + (int)rnd(PDIRS - 1), y = 1 + (int)rnd(PDIRS - 1);
	int r, e;

	if (x == y)
		return;
	pdir_path(a, x);
	pdir_path(b, y);
	note_op("rename %s %s", a, b);
	r = rename(a, b);
	e = r < 0 ? errno : 0;
	if (!dexists[x]) {
		expect(r, ENOENT, "rename", a);
		return;
	}
	if (dexists[y] && pdir_count(y)) {
		/* both are allowed for a non-empty target */
		if (e != EEXIST)
			expect(r, ENOTEMPTY, "rename", a);
		return;
	}
	expect(r, 0, "rename", a);
	memcpy(ent[y], ent[x], sizeof(ent[x]));
	for (int n = 0; n < PNAMES; n++)
		ent[x][n] = -1;
	dexists[y] = true;
	dexists[x] = false;
}

static void private_op(void)
{
	unsigned op = rnd(100);

	if (op < 14)
		p_create();
	else if (op < 32)
		p_write();
	else if (op < 44)
		p_read();
	else if (op < 51)
		p_truncate();
	else if (op < 61)
		p_rename();
	else if (op < 67)
		p_link();
	else if (op < 77)
		p_unlink();
	else if (op < 83)
		p_dir();
	else if (op < 86)
		p_rename_dir();
	else if (op < 92) {
		int d = (int)rnd(PDIRS);
		char path[PATHLEN];
		pdir_path(path, d);
		note_op("readdir %s", path);
		pcheck_dir(d);
	} else if (op < 96)
		p_stat();
	else
		check_shared_readdir();
}

/* The whole private tree against the model, including which names are
 * hard links of one inode. */
static void private_verify(void)
{
	char path[PATHLEN];
	struct stat st;

	opno = nops;
	for (int i = 0; i < PMAXOBJ; i++)
		objs[i].ino = 0;
	for (int d = 0; d < PDIRS; d++) {
		pdir_path(path, d);
		note_op("final check of %s", path);
		pcheck_dir(d);
		if (!dexists[d])
			continue;
		for (int n = 0; n < PNAMES; n++) {
			int o = ent[d][n];
			if (o < 0)
				continue;
			pfile_path(path, d, n);
			pcheck_file(d, n);
			expect(stat(path, &st), 0, "stat", path);
			if (!objs[o].ino) {
				for (int j = 0; j < PMAXOBJ; j++)
					if (objs[j].ino == st.st_ino)
						wfail("%s: inode %ju is also "
						      "another file's",
						      path,
						      (uintmax_t)st.st_ino);
				objs[o].ino = st.st_ino;
			} else if (objs[o].ino != st.st_ino) {
				wfail("%s: inode %ju, but its other names "
				      "have %ju", path, (uintmax_t)st.st_ino,
				      (uintmax_t)objs[o].ino);
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* Workers and the parent                                               */
/* ------------------------------------------------------------------ */

static void worker(int w)
{
	unsigned seq = 0;

	wid = w;
	rs = splitmix(seed0 * 1000003u + (uint64_t)w) | 1;
	if (w % 2 == 0) {
		snprintf(proot, sizeof(proot), "%s/p%d", top, w);
		expect(mkdir(proot, 0755), 0, "mkdir", proot);
		memset(ent, 0xff, sizeof(ent));
		dexists[0] = true;
	}
	for (opno = 0; opno < nops; opno++) {
		if (w % 2 == 0)
			private_op();
		else
			shared_op(&seq);
	}
	if (w % 2 == 0)
		private_verify();
	wst[w].opno = nops;
	snprintf(wst[w].cur, sizeof(wst[w].cur), "done");
	_exit(0);
}

/* The quiescent shared tree: every file's content, no temporary, link
 * counts equal to the names found. */
static int shared_verify(void)
{
	struct { ino_t ino; nlink_t nlink; int names; } seen[NSLOTS + NSTABLE];
	int nseen = 0, nstable = 0, bad = 0;
	char dir[PATHLEN], path[PATHLEN + 300];

	wid = -1;
	for (int d = -1; d < NSDIRS; d++) {
		struct dirent *de;
		DIR *dh;

		if (d < 0)
			shared_root(dir);
		else
			shared_dir(dir, d);
		dh = opendir(dir);
		if (!dh) {
			if (d >= 0 && errno == ENOENT)
				continue;
			printf("# opendir %s: %s\n", dir, strerror(errno));
			return 1;
		}
		while ((de = readdir(dh))) {
			struct stat st;
			int i;

			if (!strcmp(de->d_name, ".") ||
			    !strcmp(de->d_name, ".."))
				continue;
			if (d < 0 && parse_name(de->d_name, "d%d", NSDIRS) >= 0)
				continue;
			if (parse_name(de->d_name, "n%02d", NPOOL) < 0 &&
			    (d >= 0 || parse_name(de->d_name, "stable.%03d",
						  NSTABLE) < 0)) {
				printf("# %s: unexpected name '%s'\n", dir,
				       de->d_name);
				bad = 1;
				continue;
			}
			nstable += d < 0 && parse_name(de->d_name,
						       "stable.%03d",
						       NSTABLE) >= 0;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (stat(path, &st) < 0) {
				printf("# stat %s: %s\n", path,
				       strerror(errno));
				bad = 1;
				continue;
			}
			read_shared(path, true);
			for (i = 0; i < nseen; i++)
				if (seen[i].ino == st.st_ino)
					break;
			if (i == nseen) {
				if (nseen == (int)(sizeof(seen) /
						   sizeof(seen[0]))) {
					printf("# %s: too many files\n", dir);
					bad = 1;
					continue;
				}
				seen[nseen].ino = st.st_ino;
				seen[nseen].nlink = st.st_nlink;
				seen[nseen].names = 0;
				nseen++;
			}
			seen[i].names++;
		}
		closedir(dh);
	}
	for (int i = 0; i < nseen; i++) {
		if ((nlink_t)seen[i].names != seen[i].nlink) {
			printf("# inode %ju: link count %ju, %d names found\n",
			       (uintmax_t)seen[i].ino,
			       (uintmax_t)seen[i].nlink, seen[i].names);
			bad = 1;
		}
	}
	if (nstable != NSTABLE) {
		printf("# %d stable files found, expected %d\n", nstable,
		       NSTABLE);
		bad = 1;
	}
	printf("# shared tree: %d files\n", nseen);
	return bad;
}

static void setup_shared(void)
{
	char path[PATHLEN];
	unsigned char buf[HDR + 9000];

	shared_root(path);
	expect(mkdir(path, 0755), 0, "mkdir", path);
	for (int k = 0; k < 2; k++) {
		shared_dir(path, k);
		expect(mkdir(path, 0755), 0, "mkdir", path);
	}
	for (int i = 0; i < NSTABLE; i++) {
		uint32_t origin = 0xf0000000u | (uint32_t)i;
		uint32_t len = stable_len(i);
		int fd;

		stable_path(path, i);
		gen_header(buf, origin, len);
		gen_fill(buf, origin, HDR, len);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		expect(fd, 0, "create", path);
		write_all(fd, buf, len, -1, path);
		expect(close(fd), 0, "close", path);
	}
}

static void print_wchan(pid_t pid)
{
	char path[64], buf[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	f = fopen(path, "r");
	if (f && fgets(buf, sizeof(buf), f))
		fprintf(stderr, "    wchan: %s\n", buf);
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/stack", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(buf, sizeof(buf), f))
		fprintf(stderr, "    %s", buf);
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	pid_t pids[MAXWORKERS];
	int status[MAXWORKERS], nw = 4, running, failed = 0, t = 0;
	char *env = getenv("MAPFS_STRESS_TIMEOUT");
	long timeout = env ? atol(env) : 300;
	static char topbuf[PATHLEN - 256];
	struct timespec t0, now;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: %s DIR SEED NOPS [NWORKERS]\n", argv[0]);
		return 2;
	}
	snprintf(topbuf, sizeof(topbuf), "%s/stress", argv[1]);
	top = topbuf;
	seed0 = strtoull(argv[2], NULL, 0);
	nops = atol(argv[3]);
	if (argc == 5)
		nw = atoi(argv[4]);
	if (nw < 2 || nw > MAXWORKERS || nops < 0) {
		fprintf(stderr, "stress: 2 to %d workers, NOPS >= 0\n",
			MAXWORKERS);
		return 2;
	}
	wst = mmap(NULL, sizeof(*wst) * MAXWORKERS, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (wst == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(wst, 0, sizeof(*wst) * MAXWORKERS);
	wid = -1;
	rs = splitmix(seed0) | 1;
	expect(mkdir(top, 0755), 0, "mkdir", top);
	setup_shared();
	printf("# %d workers (%d private, %d shared), %ld ops each, seed %"
	       PRIu64 "\n", nw, (nw + 1) / 2, nw / 2, nops, seed0);
	fflush(stdout);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int w = 0; w < nw; w++) {
		status[w] = -1;
		pids[w] = fork();
		if (pids[w] < 0) {
			perror("fork");
			for (int i = 0; i < w; i++)
				kill(pids[i], SIGKILL);
			return 1;
		}
		if (pids[w] == 0)
			worker(w);
	}
	running = nw;
	while (running) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);

		if (p > 0) {
			for (int w = 0; w < nw; w++) {
				if (pids[w] != p)
					continue;
				status[w] = st;
				running--;
				if (!WIFEXITED(st) || WEXITSTATUS(st)) {
					/* no point in waiting for the rest */
					for (int i = 0; i < nw; i++)
						if (status[i] == -1)
							kill(pids[i], SIGTERM);
				}
			}
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > timeout) {
			fprintf(stderr, "FAIL: hang: workers still running "
				"after %ld s (MAPFS_STRESS_TIMEOUT):\n",
				timeout);
			for (int w = 0; w < nw; w++) {
				if (status[w] != -1)
					continue;
				fprintf(stderr, "  worker %d (%s), pid %d, "
					"op %ld: %s\n", w, wkind(w),
					(int)pids[w], wst[w].opno, wst[w].cur);
				print_wchan(pids[w]);
			}
			for (int w = 0; w < nw; w++)
				if (status[w] == -1)
					kill(pids[w], SIGKILL);
			while (wait(NULL) > 0)
				;
			printf("not ok 1 - workers hung\n1..1\n");
			return 1;
		}
		usleep(20000);
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (int w = 0; w < nw; w++) {
		int st = status[w];
		bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;

		failed |= !ok;
		printf("%sok %d - worker %d (%s): %ld ops, %ld expected "
		       "races, %ld readdirs of the shared root", ok ? "" : "not ",
		       ++t, w, wkind(w), wst[w].opno, wst[w].races,
		       wst[w].readdirs);
		if (WIFSIGNALED(st))
			printf(" (killed by signal %d)", WTERMSIG(st));
		else if (!ok)
			printf(" (exit %d)", WEXITSTATUS(st));
		printf("\n");
	}
	printf("# workers took %.1f s\n", (double)(now.tv_sec - t0.tv_sec) +
	       (double)(now.tv_nsec - t0.tv_nsec) / 1e9);
	if (!failed) {
		int bad = shared_verify();
		printf("%sok %d - shared tree consistent after the run\n",
		       bad ? "not " : "", ++t);
		failed |= bad;
	}
	printf("1..%d\n", t);
	return failed;
}
