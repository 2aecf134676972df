/* SPDX-License-Identifier: MIT */
/*
 * powersim.c - power-loss simulator for the metadata journal.
 *
 *   powersim FSCK DIR random [SEED [SCENARIOS [OPS]]]
 *   powersim FSCK DIR ace [MAXLEN]
 *   powersim FSCK DIR grow [SEED [SCENARIOS [OPS]]]
 *
 * Runs workloads through the core (the same mapfs_op_* calls the daemon
 * makes, each between mapfs_op_begin and _op_end as the daemon
 * brackets them) on a journaled image in DIR. It keeps "the disk": a copy
 * of the image as of the last flush (the core's flush hook), and builds
 * crash images from it plus a random subset of the 4 KiB pages that
 * differ from the image now, at 4 KiB granularity as a disk may write
 * them: at random points between operations and at every flush (a power
 * cut while the flush is under way). Each crash image must then
 *  - check clean with `FSCK -y -f` (exit 0; the journal is replayed when
 *    fsck opens the image), and
 *  - hold the tree some prefix of the operations produced, at least up
 *    to the last completed fsync: same names, types, inode numbers, sizes
 *    and link counts as one of the states since that fsync, and the same
 *    file contents for every file not written since it;
 *  - show in every file only bytes written to that file, or zeros: every
 *    byte the workloads write is part of a 16-byte tagged cell naming the
 *    file (inode number and generation) and the cell's offset in it
 *    (writes are cell-aligned), so each cell of each file must be all
 *    zeros or carry that file's own tag. Bytes of a deleted file, or of
 *    freed metadata (indirect blocks, directory chunks, xattr blocks),
 *    showing through a block given to another file fail the cut.
 * "random": seeded mixed workloads with fsyncs at random points; they
 * churn (files deleted and new ones written into the freed blocks without
 * an fsync in between), and some files grow past the direct blocks.
 * "ace": every sequence of 1..MAXLEN operations from a fixed alphabet
 * (CrashMonkey's ACE idea) on a small fsynced tree, followed by fsync;
 * cuts during the sequence, during the final fsync, and after it (where
 * everything must be there exactly).
 * "grow": an image of 4 MiB groups (6 MiB: the last one partial) under
 * a random workload is grown as the daemon grows a mounted image
 * (mapfs_grow_online in one operation), then used: every crash image
 * must also have the old geometry or the new one (nblocks), the new one
 * once a flush followed the grow; its file has the size of the last
 * flush or the new size (the host may not have made it durable yet).
 * Prints TAP-ish progress and a summary; exit 0 when every cut passed.
 */
#include "mapfs.h"
#include "../unit/imgfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define IMG_SIZE (4u << 20)
#define MAX_SIZE (32u << 20)	/* grow mode's largest image */
#define PAGE 4096u
#define MAXSTATES 4096

static const char *fsck_path, *dir;
static char img_path[512], crash_path[512];
static uint64_t rng;
static unsigned long cuts, failures, nforeign;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)(rng % n) : 0;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "powersim: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* ------------------------------------------------------------------ */
/* The tree as a string: one line per name, sorted by walk order       */
/* ------------------------------------------------------------------ */
struct sbuf {
	char *s;
	size_t n, cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		if (k >= 0 && (size_t)k < b->cap - b->n)
			break;
		b->cap = b->cap ? b->cap * 2 : 4096;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			die("out of memory");
	}
	b->n += (size_t)k;
}

struct names {
	char name[256][64];
	mapfs_ino_t ino[256];
	int n;
};

static int collect(void *arg, const char *name, uint32_t len, mapfs_ino_t ino,
		   uint32_t type, uint64_t next)
{
	struct names *nm = arg;

	(void)type;
	(void)next;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	if (nm->n == 256 || len >= 64)
		return -E2BIG;
	memcpy(nm->name[nm->n], name, len);
	nm->name[nm->n][len] = 0;
	nm->ino[nm->n] = ino;
	nm->n++;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* ------------------------------------------------------------------ */
/* Tagged file contents                                                */
/* ------------------------------------------------------------------ */
/* Every byte a workload writes to a file belongs to a 16-byte cell at a
 * 16-byte aligned offset (writes are cell-aligned): le64 inode number,
 * le32 generation, le16 cell number (offset / 16), le16 a version that
 * changes with every write (so an overwrite changes the contents). The
 * first TAG_ID bytes name the file and the place: read back, a cell must
 * be all zeros or hold exactly its own file's tag there. */
#define CELL 16u
#define TAG_ID 14u

static void cell_tag(uint8_t *c, mapfs_ino_t ino, uint32_t gen, uint64_t off,
		     uint16_t ver)
{
	uint64_t cn = off / CELL;

	for (int i = 0; i < 8; i++)
		c[i] = (uint8_t)(ino >> (8 * i));
	for (int i = 0; i < 4; i++)
		c[8 + i] = (uint8_t)(gen >> (8 * i));
	c[12] = (uint8_t)cn;
	c[13] = (uint8_t)(cn >> 8);
	c[14] = (uint8_t)ver;
	c[15] = (uint8_t)(ver >> 8);
}

/* The first foreign cell of a file's contents (ino, gen, size bytes at
 * buf), described into msg; false when every cell is the file's own: its
 * tag whole (any version), or a prefix of its tag followed by zeros (a
 * truncate cut it and zeroed the rest; all zeros is the empty prefix). A
 * cell cut by the end of the file is checked up to there. */
static bool cells_foreign(mapfs_ino_t ino, uint32_t gen, const uint8_t *buf,
			  uint64_t size, char *msg, size_t msglen)
{
	for (uint64_t off = 0; off < size; off += CELL) {
		const uint8_t *c = buf + off;
		uint64_t n = size - off < CELL ? size - off : CELL;
		uint64_t nid = n < TAG_ID ? n : TAG_ID, k = 0;
		uint8_t want[CELL];
		bool zero = true;

		cell_tag(want, ino, gen, off, 0);
		while (k < nid && c[k] == want[k])
			k++;
		if (k == TAG_ID)
			continue;
		for (uint64_t i = k; i < n; i++)
			zero = zero && c[i] == 0;
		if (zero)
			continue;
		if (n >= TAG_ID) {
			uint64_t oino = 0, ocn = c[12] | (uint64_t)c[13] << 8;
			uint32_t ogen = 0;

			for (int i = 0; i < 8; i++)
				oino |= (uint64_t)c[i] << (8 * i);
			for (int i = 0; i < 4; i++)
				ogen |= (uint32_t)c[8 + i] << (8 * i);
			snprintf(msg, msglen, "inode %" PRIu64 " gen %u, byte "
				 "%" PRIu64 " (page %" PRIu64 "): the cell holds "
				 "the tag of inode %" PRIu64 " gen %u cell "
				 "%" PRIu64 " (untagged bytes if nonsense: "
				 "%02x%02x%02x%02x...)", ino, gen, off,
				 off / PAGE, oino, ogen, ocn, c[0], c[1],
				 c[2], c[3]);
		} else {
			snprintf(msg, msglen, "inode %" PRIu64 " gen %u, byte "
				 "%" PRIu64 ": a cell cut by the end of the file "
				 "is not its own", ino, gen, off);
		}
		return true;
	}
	return false;
}

/* Set by walk: the first file holding bytes that are not its own. */
static char foreign[512];

/* "path type ino size nlink crc" lines; crc of the content for files and
 * symlinks (0 for the rest). Files are checked for foreign cells too
 * (noted in `foreign`). */
static int walk(struct mapfs_fs *fs, mapfs_ino_t ino, const char *path,
		struct sbuf *out, int depth)
{
	struct mapfs_inode ip;
	struct names *nm;
	int err;

	err = mapfs_inode_load(fs, ino, &ip);
	if (err < 0)
		return err;
	if ((ip.mode & MAPFS_IFMT) != MAPFS_IFDIR) {
		uint32_t crc = 0;

		if ((ip.mode & MAPFS_IFMT) == MAPFS_IFLNK &&
		    ip.size <= MAPFS_FAST_SYMLINK_MAX) {
			crc = mapfs_crc32c(~0u, ip.symlink, ip.size);
		} else if ((ip.mode & MAPFS_IFMT) == MAPFS_IFREG ||
			   (ip.mode & MAPFS_IFMT) == MAPFS_IFLNK) {
			char *buf = malloc(ip.size + 1);
			ssize_t n;

			if (!buf)
				die("out of memory");
			n = mapfs_file_read(fs, &ip, 0, buf, ip.size);
			if (n != (ssize_t)ip.size) {
				free(buf);
				return n < 0 ? (int)n : -EIO;
			}
			crc = mapfs_crc32c(~0u, buf, ip.size);
			if ((ip.mode & MAPFS_IFMT) == MAPFS_IFREG &&
			    !foreign[0]) {
				int k = snprintf(foreign, 128, "%s: ", path);

				if (k < 0 || k >= 128)
					k = 0;
				if (!cells_foreign(ino, ip.gen,
						   (const uint8_t *)buf,
						   ip.size, foreign + k,
						   sizeof(foreign) - (size_t)k))
					foreign[0] = 0;
			}
			free(buf);
		}
		sb_add(out, "%s %o %" PRIu64 " %" PRIu64 " %u %08x\n", path,
		       ip.mode & MAPFS_IFMT, ino, ip.size, ip.nlink, crc);
		return 0;
	}
	sb_add(out, "%s %o %" PRIu64 " - %u 0\n", path, ip.mode & MAPFS_IFMT,
	       ino, ip.nlink);
	if (depth > 8)
		return -ELOOP;
	nm = calloc(1, sizeof(*nm));
	if (!nm)
		die("out of memory");
	err = mapfs_dir_iterate(fs, &ip, 0, collect, nm);
	if (err < 0) {
		free(nm);
		return err;
	}
	/* Sort names with their inode numbers: sort index pairs. */
	{
		char (*tmp)[64 + 24] = malloc((size_t)nm->n * sizeof(*tmp));

		if (!tmp && nm->n)
			die("out of memory");
		for (int i = 0; i < nm->n; i++)
			snprintf(tmp[i], sizeof(tmp[i]), "%s/%" PRIu64,
				 nm->name[i], nm->ino[i]);
		qsort(tmp, (size_t)nm->n, sizeof(*tmp), cmp_name);
		for (int i = 0; i < nm->n && err == 0; i++) {
			char *slash = strrchr(tmp[i], '/');
			char sub[512];
			mapfs_ino_t c = strtoull(slash + 1, NULL, 10);

			*slash = 0;
			snprintf(sub, sizeof(sub), "%s/%s", path, tmp[i]);
			err = walk(fs, c, sub, out, depth + 1);
		}
		free(tmp);
	}
	free(nm);
	return err;
}

static char *tree(struct mapfs_fs *fs)
{
	struct sbuf b = {0};
	int err;

	foreign[0] = 0;
	err = walk(fs, MAPFS_ROOT_INO, "", &b, 0);

	if (err < 0) {
		free(b.s);
		return NULL;
	}
	if (!b.s)
		sb_add(&b, "");
	return b.s;
}

/* ------------------------------------------------------------------ */
/* The simulated disk and the oracle                                   */
/* ------------------------------------------------------------------ */
static struct mapfs_fs *fs;
static uint8_t *disk;		/* the image as of the last flush */
static uint64_t disk_size;	/* its size (the file's, at that flush) */
static uint64_t img_size = IMG_SIZE;	/* size make_image makes */
static uint32_t img_bpg;	/* blocks per group; 0: the default */
/* grow mode: a crash image's nblocks must be one of these (0: any) */
static uint64_t nb_old, nb_new;
static char *states[MAXSTATES];	/* trees since the last fsync */
static int nstates;
static mapfs_ino_t written[1024];	/* files written since that fsync */
static int nwritten;
static int flush_cut_pct = 50;	/* chance of a cut at each flush */
static const char *scenario = "";

static void states_reset(char *t)
{
	for (int i = 0; i < nstates; i++)
		free(states[i]);
	states[0] = t;
	nstates = 1;
	nwritten = 0;
}

static void states_push(char *t)
{
	if (nstates == MAXSTATES)
		die("too many states");
	states[nstates++] = t;
}

static bool was_written(mapfs_ino_t ino)
{
	for (int i = 0; i < nwritten; i++)
		if (written[i] == ino)
			return true;
	return false;
}

static void note_written(mapfs_ino_t ino)
{
	if (!was_written(ino) && nwritten < 1024)
		written[nwritten++] = ino;
}

/* Same tree, contents compared except for files written since the last
 * fsync (their data is not journaled: any bytes may be there). */
static bool same_tree(const char *got, const char *want)
{
	while (*got && *want) {
		const char *ge = strchr(got, '\n'), *we = strchr(want, '\n');
		const char *gc = ge, *wc = we;
		mapfs_ino_t ino;
		char ty[16];

		if (!ge || !we)
			return false;
		/* compare all but the last field (the crc) */
		while (gc > got && gc[-1] != ' ')
			gc--;
		while (wc > want && wc[-1] != ' ')
			wc--;
		if (gc - got != wc - want || memcmp(got, want, (size_t)(gc - got)))
			return false;
		if (sscanf(strchr(got, ' ') + 1, "%15s %" SCNu64, ty, &ino) != 2)
			return false;
		if ((ge - gc != we - wc || memcmp(gc, wc, (size_t)(ge - gc))) &&
		    !was_written(ino))
			return false;
		got = ge + 1;
		want = we + 1;
	}
	return *got == 0 && *want == 0;
}

static int run_fsck(const char *path, char *out, size_t outlen)
{
	int pfd[2], st;
	pid_t pid;
	ssize_t n, tot = 0;

	if (pipe(pfd) < 0)
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		execl(fsck_path, fsck_path, "-y", "-f", path, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], out + tot, outlen - 1 - (size_t)tot)) > 0)
		tot += n;
	out[tot] = 0;
	close(pfd[0]);
	if (waitpid(pid, &st, 0) < 0)
		die("waitpid: %s", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The last crash image as built, before fsck repaired it (reboot). */
static uint8_t *raw;

/* Build a crash image: the disk plus each page that differs now with
 * probability pct %, and check it. True when it passed. */
static bool cut(const char *where, int pct)
{
	static char out[16384];
	static const uint8_t zeros[PAGE];
	const uint8_t *now = fs->dbase;
	struct mapfs_fs *cf;
	char why[1200] = "", *got;
	int fd, rc, ndiff = 0, ntaken = 0, match = -1;
	/* The file grew since the last flush (a grow): its new size may
	 * not be durable yet. Never shrinks. */
	uint64_t csize = fs->size > disk_size && rnd(2) ? fs->size : disk_size;

	fd = open(crash_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)csize) < 0)
		die("%s: %s", crash_path, strerror(errno));
	for (uint64_t off = 0; off < csize; off += PAGE) {
		const uint8_t *src = off < disk_size ? disk + off : zeros;

		if (memcmp(src, now + off, PAGE) != 0) {
			ndiff++;
			if ((int)rnd(100) < pct) {
				src = now + off;
				ntaken++;
			}
		}
		if (src != zeros &&
		    pwrite(fd, src, PAGE, (off_t)off) != PAGE)
			die("write %s: %s", crash_path, strerror(errno));
		memcpy(raw + off, src, PAGE);
	}
	close(fd);
	cuts++;
	rc = run_fsck(crash_path, out, sizeof(out));
	if (rc != 0) {
		failures++;
		printf("not ok %lu - %s %s: fsck exit %d (%d of %d changed "
		       "pages)\n%s", cuts, scenario, where, rc, ntaken, ndiff,
		       out);
		snprintf(why, sizeof(why), "cp %s %s.fail%lu", crash_path,
			 crash_path, cuts);
		if (system(why) != 0)
			(void)0;
		return false;
	}
	if (mapfs_fs_open(crash_path, MAPFS_OPEN_RDONLY, 0, NULL, NULL, &cf,
			  why, sizeof(why)) < 0)
		die("crash image: %s", why);
	got = tree(cf);
	if (nb_old && cf->g.nblocks != nb_old && cf->g.nblocks != nb_new) {
		failures++;
		printf("not ok %lu - %s %s: %" PRIu64 " blocks, neither the "
		       "old size (%" PRIu64 ") nor the new (%" PRIu64 ")\n",
		       cuts, scenario, where, cf->g.nblocks, nb_old, nb_new);
	}
	mapfs_fs_close(cf);
	if (foreign[0]) {
		failures++;
		nforeign++;
		printf("not ok %lu - %s %s: a file shows bytes that are not "
		       "its own (%d of %d changed pages): %s\n", cuts,
		       scenario, where, ntaken, ndiff, foreign);
		snprintf(why, sizeof(why), "cp %s %s.fail%lu", crash_path,
			 crash_path, cuts);
		if (system(why) != 0)
			(void)0;
	}
	for (int i = nstates - 1; got && i >= 0 && match < 0; i--)
		if (same_tree(got, states[i]))
			match = i;
	if (match < 0) {
		failures++;
		printf("not ok %lu - %s %s: the tree is no state since the "
		       "last fsync (%d of %d changed pages)\n# got:\n%s# last "
		       "fsync:\n%s# now:\n%s", cuts, scenario, where, ntaken,
		       ndiff, got ? got : "(unreadable)\n", states[0],
		       states[nstates - 1]);
	}
	free(got);
	return match >= 0 && !foreign[0];
}

/* The flush hook: a cut while this flush was under way, then the disk
 * holds everything. */
static void on_flush(void *arg)
{
	(void)arg;
	if ((int)rnd(100) < flush_cut_pct)
		(void)cut("during a flush", (int)rnd(101));
	memcpy(disk, fs->dbase, fs->size);
	disk_size = fs->size;
}

/* ------------------------------------------------------------------ */
/* Images and operations                                               */
/* ------------------------------------------------------------------ */
static void make_image(uint64_t journal)
{
	struct mapfs_format_opts o;
	char why[256] = "";
	int fd;

	test_format_opts(&o, img_size, journal, 1);
	o.bpg = img_bpg;
	o.have_uuid = true;
	fd = open(img_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("%s: %s", img_path, strerror(errno));
	if (test_format_fd(fd, &o, why, sizeof(why)) != 0)
		die("format %s: %s", img_path, why);
	close(fd);
}

static void open_image(void)
{
	char why[256] = "";

	if (mapfs_fs_open(img_path, MAPFS_OPEN_JOURNAL, 0, NULL, NULL, &fs,
			  why, sizeof(why)) < 0)
		die("open: %s", why);
	if (!fs->j)
		die("no journal");
	fs->flush_hook = on_flush;
	memcpy(disk, fs->dbase, fs->size);
	disk_size = fs->size;
	states_reset(tree(fs));
	/* As the daemon mounts: every free block zeroed in the host, made
	 * durable by the commit that marks the image mounted (a cut may
	 * come during its flush). */
	(void)mapfs_alloc_zero_free(fs);
	if (mapfs_op_begin(fs) < 0 || mapfs_fs_commit(fs) < 0)
		die("mount commit");
}

static const struct mapfs_cred root = {0, 0};

static mapfs_ino_t look(mapfs_ino_t d, const char *name)
{
	mapfs_ino_t ino = 0;

	if (mapfs_op_lookup(fs, d, name, &ino) < 0)
		return 0;
	return ino;
}

static const char *const dirs[] = {"", "d0", "d1"};
static const char *const files[] = {"f0", "f1", "f2", "f3", "f4"};

static mapfs_ino_t dir_ino(int k)
{
	return k == 0 ? MAPFS_ROOT_INO : look(MAPFS_ROOT_INO, dirs[k]);
}

static void fill(char *buf, size_t n, uint32_t tag)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + (tag + i * 7) % 26);
}

/* Write len bytes of tagged cells at off (both rounded to cells). */
static void do_write(mapfs_ino_t ino, uint64_t off, size_t len)
{
	static uint8_t buf[65536 + CELL];
	struct mapfs_inode ip;
	uint16_t ver = (uint16_t)(1 + rnd(65535));

	off &= ~(uint64_t)(CELL - 1);
	len = (len + CELL - 1) & ~(size_t)(CELL - 1);
	if (len > sizeof(buf))
		len = sizeof(buf) - CELL;
	if (mapfs_inode_load(fs, ino, &ip) < 0)
		return;
	for (size_t i = 0; i < len; i += CELL)
		cell_tag(buf + i, ino, ip.gen, off + i, ver);
	if (mapfs_op_write(fs, ino, off, buf, len, true) >= 0)
		note_written(ino);
}

/* One random operation, bracketed as the daemon does. */
static void random_op(void)
{
	int k = (int)rnd(3), k2 = (int)rnd(3);
	mapfs_ino_t d = dir_ino(k), d2 = dir_ino(k2), ino;
	const char *f = files[rnd(5)], *f2 = files[rnd(5)];
	struct mapfs_inode ip;
	struct mapfs_setattr sa;
	int op = (int)rnd(100);

	if (!d || !d2)
		d = d2 = MAPFS_ROOT_INO;
	if (mapfs_op_begin(fs) < 0)
		die("op_begin");
	if (op < 18) {
		if (mapfs_op_mknod(fs, &root, d, f, MAPFS_IFREG | 0644, 0,
				   &ip) == 0)
			do_write(ip.ino, 0, 1 + rnd(9000));
	} else if (op < 38) {
		/* Some past the 12 direct blocks: indirect blocks to free. */
		if ((ino = look(d, f)) != 0)
			do_write(ino, rnd(3) ? 0 : rnd(6) ? rnd(20000)
						   : 40000 + rnd(60000),
				 1 + rnd(16384));
	} else if (op < 46) {
		if ((ino = look(d, f)) != 0) {
			memset(&sa, 0, sizeof(sa));
			sa.valid = MAPFS_SET_SIZE;
			sa.size = rnd(3) ? 0 : rnd(30000);
			if (mapfs_op_setattr(fs, ino, &sa, true, &ip) == 0)
				note_written(ino);
		}
	} else if (op < 60) {
		(void)mapfs_op_rename(fs, d, f, d2, f2, 0);
	} else if (op < 66) {
		if ((ino = look(d, f)) != 0)
			(void)mapfs_op_link(fs, ino, d2, f2, &ip);
	} else if (op < 76) {
		(void)mapfs_op_unlink(fs, d, f);
	} else if (op < 80) {
		(void)mapfs_op_mknod(fs, &root, MAPFS_ROOT_INO, dirs[1 + rnd(2)],
				     MAPFS_IFDIR | 0755, 0, &ip);
	} else if (op < 83) {
		(void)mapfs_op_rmdir(fs, MAPFS_ROOT_INO, dirs[1 + rnd(2)]);
	} else if (op < 86) {
		char t[300];

		fill(t, sizeof(t) - 1, rnd(100));
		t[rnd(2) ? 20 : 299] = 0;
		(void)mapfs_op_symlink(fs, &root, d, f, t, &ip);
	} else if (op < 89) {
		(void)mapfs_op_setxattr(fs, look(d, f) ? look(d, f)
						       : MAPFS_ROOT_INO,
					"user.k", "value", 5, 0, true);
	} else if (op < 97) {
		/* Churn: a file replaced by a new one, which gets whatever
		 * blocks are free again (the allocator takes the first). */
		char *t;

		(void)mapfs_op_unlink(fs, d, f);
		if (mapfs_op_end(fs) < 0)
			die("op_end");
		t = tree(fs);
		if (!t)
			die("%s: the live tree is unreadable", scenario);
		states_push(t);
		if (mapfs_op_begin(fs) < 0)
			die("op_begin");
		if (mapfs_op_mknod(fs, &root, d, f, MAPFS_IFREG | 0644, 0,
				   &ip) == 0)
			do_write(ip.ino, 0, 4096 + rnd(40000));
	}
	if (mapfs_op_end(fs) < 0)
		die("op_end");
}

static void fsync_barrier(void)
{
	if (mapfs_op_begin(fs) < 0 || mapfs_fs_commit(fs) < 0)
		die("commit");
	states_reset(tree(fs));
}

static void after_op(int cut_pct)
{
	char *t = tree(fs);

	if (!t)
		die("%s: the live tree is unreadable", scenario);
	if (foreign[0])
		die("%s: the live tree has a foreign cell: %s", scenario,
		    foreign);
	states_push(t);
	if ((int)rnd(100) < cut_pct)
		(void)cut("between operations", (int)rnd(101));
}

/* A power cut the workload lives through: the image becomes the crash
 * image just checked, unrepaired, and is opened again as the daemon
 * opens it after a crash (replay, every free block zeroed), then the
 * workload goes on. Blocks the replayed records freed hold their old
 * owners' bytes until that zeroing. */
static void reboot(void)
{
	int fd;

	if (!cut("before a reboot", (int)rnd(101)))
		return;		/* reported; go on without rebooting */
	fs->flush_hook = NULL;
	mapfs_fs_close(fs);	/* no sync: the power is gone */
	fd = open(img_path, O_WRONLY);
	if (fd < 0 || pwrite(fd, raw, IMG_SIZE, 0) != (ssize_t)IMG_SIZE ||
	    close(fd) < 0)
		die("%s: %s", img_path, strerror(errno));
	open_image();
}

static void close_image(void)
{
	fs->flush_hook = NULL;
	if (mapfs_fs_sync(fs) < 0)
		die("sync");
	mapfs_fs_close(fs);
	fs = NULL;
}

/* ------------------------------------------------------------------ */
/* Scenarios                                                           */
/* ------------------------------------------------------------------ */
static void run_random(uint64_t seed, int scenarios, int ops)
{
	static char name[64];

	for (int s = 0; s < scenarios; s++) {
		rng = (seed + (uint64_t)s) * 0x9e3779b97f4a7c15ull | 1;
		snprintf(name, sizeof(name), "random seed %" PRIu64,
			 seed + (uint64_t)s);
		scenario = name;
		/* Small rings wrap and force commits; larger ones don't. */
		make_image(s % 2 ? 256u << 10 : 1u << 20);
		open_image();
		for (int i = 0; i < ops; i++) {
			if (i == ops / 2) {
				reboot();
				continue;
			}
			if (rnd(100) < 8) {
				fsync_barrier();
				continue;
			}
			random_op();
			after_op(10);
		}
		close_image();
	}
}

/* Grow while in use, as the daemon does (growops.c): the grow is one
 * operation between mapfs_op_begin and mapfs_op_end, then (sometimes) a
 * commit; cuts between operations, at every flush, and after. */
static void run_grow(uint64_t seed, int scenarios, int ops)
{
	static char name[64];
	char why[256] = "";
	struct mapfs_inode ip;

	img_size = 6u << 20;
	img_bpg = 1024;		/* 4 MiB groups: group 1 partial */
	for (int s = 0; s < scenarios; s++) {
		uint64_t to = (6u << 20) + (1 + rnd(6)) * (4u << 20) -
			      (rnd(2) ? 0 : (1u << 20));

		rng = (seed + (uint64_t)s) * 0x9e3779b97f4a7c15ull | 1;
		snprintf(name, sizeof(name), "grow seed %" PRIu64 " to %"
			 PRIu64 "M", seed + (uint64_t)s, to >> 20);
		scenario = name;
		make_image(s % 2 ? 256u << 10 : 1u << 20);
		open_image();
		for (int i = 0; i < ops / 2; i++) {
			if (rnd(100) < 8) {
				fsync_barrier();
				continue;
			}
			random_op();
			after_op(5);
		}
		nb_old = nb_new = fs->g.nblocks;
		if (mapfs_op_begin(fs) < 0)
			die("op_begin");
		if (mapfs_grow_online(fs, to, why, sizeof(why)) < 0)
			die("%s: grow: %s", scenario, why);
		if (mapfs_op_end(fs) < 0)
			die("op_end");
		nb_new = fs->g.nblocks;
		if (nb_new == nb_old)
			die("%s: did not grow", scenario);
		after_op(60);
		if (rnd(2)) {
			fsync_barrier();	/* cuts at its flushes */
			nb_old = nb_new;	/* durable now */
			(void)cut("after the grow's commit", (int)rnd(101));
		}
		/* Use the new space: a file of 1 MiB per new group. */
		if (mapfs_op_begin(fs) < 0)
			die("op_begin");
		if (mapfs_op_mknod(fs, &root, MAPFS_ROOT_INO, "big",
				   MAPFS_IFREG | 0644, 0, &ip) < 0)
			die("%s: mknod big", scenario);
		if (mapfs_op_end(fs) < 0)
			die("op_end");
		for (uint64_t off = 0; off < (to - (6u << 20)) / 4; off += 65536) {
			if (mapfs_op_begin(fs) < 0)
				die("op_begin");
			do_write(ip.ino, off, 65536);
			if (mapfs_op_end(fs) < 0)
				die("op_end");
			after_op(3);
		}
		for (int i = 0; i < ops / 2; i++) {
			if (rnd(100) < 8) {
				fsync_barrier();
				nb_old = nb_new;
				continue;
			}
			random_op();
			after_op(5);
		}
		close_image();
		nb_old = nb_new = 0;
	}
}

/* ACE: the alphabet, on the tree A (5000 bytes), B (100), D/C, fsynced. */
#define NALPHA 12
static void ace_op(int a)
{
	struct mapfs_inode ip;
	struct mapfs_setattr sa;
	mapfs_ino_t dd = look(MAPFS_ROOT_INO, "D"), a_ino, b_ino;
	static const char *const long_target =
		"a-symlink-target-longer-than-120-bytes/"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

	a_ino = look(MAPFS_ROOT_INO, "A");
	b_ino = look(MAPFS_ROOT_INO, "B");
	if (mapfs_op_begin(fs) < 0)
		die("op_begin");
	switch (a) {
	case 0:
		if (mapfs_op_mknod(fs, &root, MAPFS_ROOT_INO, "X",
				   MAPFS_IFREG | 0644, 0, &ip) == 0)
			do_write(ip.ino, 0, 3000);
		break;
	case 1:
		if (a_ino) {
			if (mapfs_inode_load(fs, a_ino, &ip) == 0)
				do_write(a_ino, ip.size, 4096);
		}
		break;
	case 2:
		if (a_ino) {
			memset(&sa, 0, sizeof(sa));
			sa.valid = MAPFS_SET_SIZE;
			if (mapfs_op_setattr(fs, a_ino, &sa, true, &ip) == 0)
				note_written(a_ino);
		}
		break;
	case 3:
		(void)mapfs_op_rename(fs, MAPFS_ROOT_INO, "B", MAPFS_ROOT_INO,
				      "A", 0);
		break;
	case 4:
		if (dd)
			(void)mapfs_op_rename(fs, MAPFS_ROOT_INO, "A", dd, "A2",
					      0);
		break;
	case 5:
		if (b_ino && dd)
			(void)mapfs_op_link(fs, b_ino, dd, "L", &ip);
		break;
	case 6:
		(void)mapfs_op_unlink(fs, MAPFS_ROOT_INO, "B");
		break;
	case 7:
		(void)mapfs_op_mknod(fs, &root, MAPFS_ROOT_INO, "E",
				     MAPFS_IFDIR | 0755, 0, &ip);
		break;
	case 8:
		(void)mapfs_op_rmdir(fs, MAPFS_ROOT_INO, "E");
		break;
	case 9:
		if (b_ino)
			do_write(b_ino, 0, 100);
		break;
	case 10:
		(void)mapfs_op_symlink(fs, &root, MAPFS_ROOT_INO, "S",
				       long_target, &ip);
		break;
	case 11:
		(void)mapfs_op_rename(fs, MAPFS_ROOT_INO, "D", MAPFS_ROOT_INO,
				      "D2", 0);
		break;
	}
	if (mapfs_op_end(fs) < 0)
		die("op_end");
}

static void ace_setup(void)
{
	struct mapfs_inode ip;
	mapfs_ino_t d;

	make_image(256u << 10);
	open_image();
	if (mapfs_op_mknod(fs, &root, MAPFS_ROOT_INO, "A", MAPFS_IFREG | 0644,
			   0, &ip) < 0)
		die("setup");
	do_write(ip.ino, 0, 5000);
	if (mapfs_op_mknod(fs, &root, MAPFS_ROOT_INO, "B", MAPFS_IFREG | 0644,
			   0, &ip) < 0)
		die("setup");
	do_write(ip.ino, 0, 100);
	if (mapfs_op_mknod(fs, &root, MAPFS_ROOT_INO, "D", MAPFS_IFDIR | 0755,
			   0, &ip) < 0)
		die("setup");
	d = ip.ino;
	if (mapfs_op_mknod(fs, &root, d, "C", MAPFS_IFREG | 0644, 0, &ip) < 0)
		die("setup");
	do_write(ip.ino, 0, 10000);
	if (mapfs_op_end(fs) < 0)
		die("setup");
	fsync_barrier();
}

static void run_ace(int maxlen)
{
	static char name[64];
	int seq[8];

	for (int len = 1; len <= maxlen; len++) {
		long total = 1;

		for (int i = 0; i < len; i++)
			total *= NALPHA;
		for (long v = 0; v < total; v++) {
			long x = v;
			int nb = snprintf(name, sizeof(name), "ace");

			for (int i = 0; i < len; i++) {
				seq[i] = (int)(x % NALPHA);
				x /= NALPHA;
				nb += snprintf(name + nb, sizeof(name) - (size_t)nb,
					       " %d", seq[i]);
			}
			scenario = name;
			rng = (uint64_t)v * 0x9e3779b97f4a7c15ull + (uint64_t)len;
			rng |= 1;
			flush_cut_pct = 0;
			ace_setup();
			for (int i = 0; i < len; i++) {
				ace_op(seq[i]);
				after_op(50);
			}
			/* The final fsync: a cut during its flush... */
			flush_cut_pct = 100;
			fsync_barrier();
			flush_cut_pct = 0;
			/* ...and after it: everything must be there. */
			nwritten = 0;
			(void)cut("after the fsync", (int)rnd(101));
			(void)cut("after the fsync", 100);
			close_image();
		}
		printf("# ace: all %ld sequences of length %d\n", total, len);
	}
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: powersim FSCK DIR random [SEED "
			"[SCENARIOS [OPS]]]\n       powersim FSCK DIR ace "
			"[MAXLEN]\n");
		return 2;
	}
	fsck_path = argv[1];
	dir = argv[2];
	snprintf(img_path, sizeof(img_path), "%s/power.img", dir);
	snprintf(crash_path, sizeof(crash_path), "%s/crash.img", dir);
	disk = malloc(MAX_SIZE);
	raw = malloc(MAX_SIZE);
	if (!disk || !raw)
		die("out of memory");
	if (!strcmp(argv[3], "random")) {
		uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 0) : 1;
		int sc = argc > 5 ? atoi(argv[5]) : 10;
		int ops = argc > 6 ? atoi(argv[6]) : 200;

		run_random(seed, sc, ops);
	} else if (!strcmp(argv[3], "grow")) {
		uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 0) : 1;
		int sc = argc > 5 ? atoi(argv[5]) : 10;
		int ops = argc > 6 ? atoi(argv[6]) : 100;

		run_grow(seed, sc, ops);
	} else if (!strcmp(argv[3], "ace")) {
		run_ace(argc > 4 ? atoi(argv[4]) : 2);
	} else {
		die("unknown mode %s", argv[3]);
	}
	printf("# %lu power cuts, %lu failed (%lu with a file showing "
	       "bytes not its own)\n", cuts, failures, nforeign);
	printf("%s - power-loss simulation\n", failures ? "not ok 1" : "ok 1");
	printf("1..1\n");
	return failures ? 1 : 0;
}
