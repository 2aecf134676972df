/* SPDX-License-Identifier: MIT */
/*
 * dumpfs.c - dumpfs.mapfs: print what a mapfs image holds, as text or
 * JSON, in the tradition of dumpe2fs(8) and FreeBSD's dumpfs(8).
 *
 *   dumpfs.mapfs [-j] [-s] [-b GROUP] [-i INODE] [-d INODE] [-m INODE] IMAGE
 *
 * Without -i, -d or -m: the superblock (and where its copies are, and
 * whether each decodes) and one summary per cylinder group; -s stops
 * after the superblock. -i prints every field of an inode, -d a
 * directory's records, -m a file's block map; they combine.
 *
 * A thin program around the core, like fsck: the image is opened with
 * mapfs_fs_open(MAPFS_OPEN_RDONLY | MAPFS_OPEN_FSCK), so it is mapped
 * PROT_READ (a store would fault: dumpfs cannot write) under a shared
 * lock, and damaged group headers are reported instead of refused. Every
 * structure is located, decoded and checked through the core's
 * validators (mapfs_super_decode, mapfs_cg_check, mapfs_inode_check,
 * mapfs_dir_check_chunk, mapfs_blockmap_walk, mapfs_xattr_check); what
 * fails is printed as a problem and whatever can still be shown safely
 * is shown. This is an inspection tool, not a checker: fsck.mapfs -n
 * does the full cross-checks.
 *
 * Exit codes: 0 nothing wrong seen, 1 problems found in the image (the
 * output is complete as far as it could be made), 8 operational error
 * (cannot open, not a mapfs image, no such inode, out of memory), 16
 * usage error. In JSON mode stdout gets one complete document or
 * nothing: the document is built in memory and written at the end.
 */
#include "mapfs.h"
#include "mapfs_cli.h"
#include "out.h"
#include "sbprint.h"

#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define PROG "dumpfs.mapfs"

#define EXIT_CLEAN	0
#define EXIT_PROBLEMS	1
#define EXIT_OPERROR	8
#define EXIT_USAGE	16

/* Problems kept for the JSON "problems" array; the rest are counted. */
#define MAX_KEPT_PROBLEMS 10000

struct dump {
	struct out o;
	struct mapfs_fs *fs;
	const char *image;
	uint64_t sb_group;	/* the superblock copy in use (0: primary) */
	struct mapfs_region region;	/* -o offset=,size= */
	bool json, verbose, busy_warned;
	/* Mounted by a mapfs daemon here (mount point in mnt): its
	 * "mounted" state and live journal are expected, not problems. */
	bool mounted;
	char real[PATH_MAX], mnt[PATH_MAX];
	uint64_t nproblems;
	char **problems;	/* JSON mode: kept messages */
	size_t nkept;
	bool oom;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [-j] [-s] [-b GROUP] [-i INODE] [-d INODE] "
		"[-m INODE] IMAGE\n"
		"Print the superblock and group summaries of a mapfs image, or "
		"one inode,\na directory or a block map. Never writes to the "
		"image.\n"
		"\n"
		"  -s        the superblock only (no group summaries)\n"
		"  -i INODE  every field of inode INODE\n"
		"  -d INODE  the records of directory INODE\n"
		"  -m INODE  the block map of INODE (extents, holes, indirect "
		"blocks)\n"
		"  -b GROUP  use the superblock copy in GROUP (1, 3, 5, 7, 9, "
		"...)\n"
		"  -o offset=BYTES[,size=BYTES]\n"
		"            the filesystem starts at BYTES of IMAGE\n"
		"  -j        JSON output (one document on stdout)\n"
		"  -v        show the core's messages on stderr\n"
		"  -h, --help     this help\n"
		"  -V, --version  print the version\n"
		"\n"
		"INODE is an inode number or an absolute path in the "
		"filesystem (/dir/file).\n"
		"Exit status: 0 ok, 1 problems found in the image, 8 "
		"operational error,\n16 usage error.\n");
}

static void core_log(void *arg, enum mapfs_log_level lvl, const char *msg)
{
	const struct dump *d = arg;

	if (d->verbose && lvl <= MAPFS_LOG_INFO)
		fprintf(stderr, "core: %s\n", msg);
}

/* SIGBUS: a read of the mapping failed (I/O error on a device, or the
 * file shrank under us). Nothing more can be read: stop, printing
 * nothing more on stdout (JSON output is still in memory). */
static void on_sigbus(int sig)
{
	static const char msg[] = PROG ": I/O error reading the image "
				  "(SIGBUS): stopped\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing else to do */
	}
	_exit(EXIT_OPERROR);
}

/* Report something wrong in the image: inline in text mode, in the
 * "problems" array in JSON mode. */
static void problem(struct dump *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void problem(struct dump *d, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->nproblems++;
	if (!d->json) {
		out_line(&d->o, "*** problem: %s", msg);
		return;
	}
	if (d->nkept >= MAX_KEPT_PROBLEMS)
		return;
	if (d->nkept % 64 == 0) {
		char **p = realloc(d->problems,
				   (d->nkept + 64) * sizeof(*p));
		if (!p) {
			d->oom = true;
			return;
		}
		d->problems = p;
	}
	d->problems[d->nkept] = strdup(msg);
	if (!d->problems[d->nkept]) {
		d->oom = true;
		return;
	}
	d->nkept++;
}

/* ------------------------------------------------------------------ */
/* Names of codes                                                      */
/* ------------------------------------------------------------------ */

static const char *type_name(uint32_t mode)
{
	if (mode == 0)
		return "free";
	switch (mode & MAPFS_IFMT) {
	case MAPFS_IFREG:
		return "regular";
	case MAPFS_IFDIR:
		return "directory";
	case MAPFS_IFLNK:
		return "symlink";
	case MAPFS_IFCHR:
		return "chardev";
	case MAPFS_IFBLK:
		return "blockdev";
	case MAPFS_IFIFO:
		return "fifo";
	case MAPFS_IFSOCK:
		return "socket";
	default:
		return "unknown";
	}
}

/* Directory record types are mode >> 12 (mapfs_mode_to_dt). */
static const char *dt_name(uint32_t type)
{
	return type > 15 ? "unknown" : type_name((type << 12) | 1u);
}

static const struct bitname flag_names[] = {
	{ MAPFS_FL_IMMUTABLE, "immutable" },
	{ MAPFS_FL_APPEND, "append" },
	{ MAPFS_FL_NODUMP, "nodump" },
	{ MAPFS_FL_NOATIME, "noatime" },
	{ MAPFS_FL_KEEPSIZE, "keepsize" },
	{ MAPFS_FL_ORPHAN, "orphan" },
};


/* ------------------------------------------------------------------ */
/* Opening                                                             */
/* ------------------------------------------------------------------ */

static int find_mount(const struct mapfs_mountent *m, void *arg)
{
	struct dump *d = arg;

	if (!mapfs_mount_is_mapfs(m) || strcmp(m->source, d->real))
		return 0;
	snprintf(d->mnt, sizeof(d->mnt), "%s", m->dir);
	return 1;
}

/* Read-only, shared lock; an image held exclusively (mounted) is read
 * without the lock, with a note: the daemon may change it meanwhile, and
 * its state says mounted, which is no problem while it is. */
static int try_open(struct dump *d, int flags, uint64_t sb_group, char *why,
		    size_t whylen)
{
	int err = mapfs_fs_open_region(d->image, flags, &d->region, sb_group,
				       core_log, d, &d->fs, why, whylen);

	if (err != -EBUSY)
		return err;
	if (!d->busy_warned) {
		d->mounted = realpath(d->image, d->real) &&
			     mapfs_mounts_each(find_mount, d) == 1;
		if (d->mounted)
			fprintf(stderr, PROG ": %s: mounted at %s: shown as "
				"the running daemon has it on disk (state "
				"\"mounted\", journal in use, counts refreshed "
				"at each commit), read without the lock: "
				"expected while mounted, not a problem\n",
				d->image, d->mnt);
		else
			fprintf(stderr, PROG ": %s: %s: reading it without "
				"the lock; the output may be inconsistent\n",
				d->image, why);
	}
	d->busy_warned = true;
	return mapfs_fs_open_region(d->image, flags | MAPFS_OPEN_NOLOCK,
				    &d->region, sb_group, core_log, d, &d->fs,
				    why, whylen);
}

static int open_image(struct dump *d, bool explicit_sb)
{
	const int flags = MAPFS_OPEN_RDONLY | MAPFS_OPEN_FSCK;
	char why[256] = "", why2[256] = "";
	int err;

	err = try_open(d, flags, d->sb_group, why, sizeof(why));
	if (err == 0)
		return 0;
	if (explicit_sb || err != -EUCLEAN) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", d->image,
			why[0] ? why : strerror(-err));
		return -1;
	}
	/* A primary whose only fault is its checksum is still the best
	 * picture of the image; otherwise fall back to the first copy. */
	if (try_open(d, flags | MAPFS_OPEN_SB_NOCRC, 0, why2,
		     sizeof(why2)) == 0) {
		problem(d, "primary superblock: %s (shown anyway: every field "
			"checks out)", why);
		return 0;
	}
	why2[0] = 0;
	if (try_open(d, flags, 1, why2, sizeof(why2)) == 0) {
		d->sb_group = 1;
		problem(d, "primary superblock: %s; showing the copy in "
			"group 1", why);
		return 0;
	}
	fprintf(stderr, PROG ": %s: not a usable mapfs image: %s\n", d->image,
		why);
	return -1;
}

/* "17" or "/dir/file" -> inode number; -1 with a message if neither. */
static int resolve(struct dump *d, const char *arg, mapfs_ino_t *inop)
{
	char *buf, *save = NULL, *tok;
	mapfs_ino_t ino = MAPFS_ROOT_INO;
	int err = 0;

	if (arg[0] != '/') {
		char *end;

		errno = 0;
		*inop = strtoull(arg, &end, 10);
		if (errno || *end || !arg[0] || arg[0] == '-') {
			fprintf(stderr, PROG ": bad inode '%s': a number or an "
				"absolute path\n", arg);
			return -1;
		}
		return 0;
	}
	buf = strdup(arg);
	if (!buf) {
		fprintf(stderr, PROG ": out of memory\n");
		return -1;
	}
	for (tok = strtok_r(buf, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		err = mapfs_op_lookup(d->fs, ino, tok, &ino);
		if (err < 0) {
			fprintf(stderr, PROG ": %s: cannot look up '%s': %s\n",
				arg, tok, err == -EUCLEAN ?
				"the directory is damaged" : strerror(-err));
			break;
		}
	}
	free(buf);
	if (err < 0)
		return -1;
	*inop = ino;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Superblock                                                          */
/* ------------------------------------------------------------------ */

/* The core of the listing is shared with tune.mapfs -l (sbprint.c). */
static void sb_problem(void *arg, const char *msg)
{
	problem(arg, "%s", msg);
}

static void dump_superblock(struct dump *d)
{
	sbprint_superblock(&d->o, d->fs, d->sb_group,
			   d->mounted ? d->mnt : NULL, sb_problem, d);
}


/* ------------------------------------------------------------------ */
/* Groups                                                              */
/* ------------------------------------------------------------------ */

static void dump_groups(struct dump *d)
{
	const struct mapfs_fs *fs = d->fs;
	const struct mapfs_geom *g = &fs->g;
	struct out *o = &d->o;

	out_arr_begin(o, "groups", "Groups");
	out_line(o, "%-8s %-12s %-8s %-12s %11s %11s %8s %8s", "group",
		 "start", "blocks", "status", "free-blocks", "free-inodes",
		 "dirs", "ihiwater");
	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		const struct mapfs_cgmem *m = &fs->cg[cg];
		char why[256] = "";
		const char *status;
		bool unused = false, good;
		uint32_t hiwater = 0;

		good = mapfs_cg_check(fs, cg, &unused, why, sizeof(why)) == 0;
		if (!good) {
			status = "damaged";
			problem(d, "group %" PRIu64 ": %s", cg, why);
		} else if (unused) {
			status = "unused";
		} else {
			status = "initialized";
			hiwater = mapfs_cg_ihiwater(mapfs_cg_hdr(fs, cg));
		}
		if (o->json) {
			out_obj_begin(o, NULL, NULL);
			out_u64(o, "group", NULL, cg);
			out_u64(o, "start", NULL, mapfs_group_start(g, cg));
			out_u64(o, "blocks", NULL, mapfs_group_nblocks(g, cg));
			out_u64(o, "data_blocks", NULL,
				mapfs_group_ndata(g, cg));
			out_bool(o, "superblock", NULL, mapfs_group_has_sb(cg));
			out_str(o, "status", NULL, status);
			out_bool(o, "initialized", NULL, good && !unused);
			if (good) {
				out_null(o, "error", NULL);
				out_u64(o, "free_blocks", NULL,
					m->free_blocks);
				out_u64(o, "free_inodes", NULL,
					m->free_inodes);
				out_u64(o, "directories", NULL, m->ndirs);
				out_u64(o, "inode_hiwater", NULL, hiwater);
			} else {
				out_str(o, "error", NULL, why);
				out_null(o, "free_blocks", NULL);
				out_null(o, "free_inodes", NULL);
				out_null(o, "directories", NULL);
				out_null(o, "inode_hiwater", NULL);
			}
			out_obj_end(o);
		} else if (good) {
			out_line(o, "%-8" PRIu64 " %-12" PRIu64 " %-8" PRIu32
				 " %-12s %11" PRIu64 " %11" PRIu64 " %8"
				 PRIu64 " %8" PRIu32 "%s", cg,
				 mapfs_group_start(g, cg),
				 mapfs_group_nblocks(g, cg), status,
				 m->free_blocks, m->free_inodes, m->ndirs,
				 hiwater, mapfs_group_has_sb(cg) ?
				 "  superblock" : "");
		} else {
			out_line(o, "%-8" PRIu64 " %-12" PRIu64 " %-8" PRIu32
				 " %-12s %s", cg, mapfs_group_start(g, cg),
				 mapfs_group_nblocks(g, cg), status, why);
		}
	}
	out_arr_end(o);
}

/* ------------------------------------------------------------------ */
/* One inode                                                           */
/* ------------------------------------------------------------------ */

static bool is_fast_symlink(const struct mapfs_inode *ip)
{
	return (ip->mode & MAPFS_IFMT) == MAPFS_IFLNK &&
	       !mapfs_inode_has_blocks(ip);
}

/* The inode bitmap's word on ino: 1 used, 0 free, -1 unknown (its group
 * header is damaged). An unused group has every inode free. */
static int ino_allocated(const struct mapfs_fs *fs, mapfs_ino_t ino,
			 uint32_t *hiwaterp)
{
	uint64_t cg = mapfs_ino_group(&fs->g, ino);
	const struct mapfs_cgmem *m = &fs->cg[cg];
	bool unused;

	*hiwaterp = 0;
	if (m->bad)
		return -1;
	if (!m->init)
		return 0;
	/* The bitmap page itself must be good to be believed. */
	if (mapfs_cg_check(fs, cg, &unused, NULL, 0) < 0)
		return -1;
	*hiwaterp = mapfs_cg_ihiwater(mapfs_cg_hdr(fs, cg));
	return mapfs_bit_test(mapfs_cg_ibm(fs, cg), ino % fs->g.ipg);
}

static void dump_xattrs(struct dump *d, struct mapfs_inode *ip)
{
	struct out *o = &d->o;
	char why[256] = "";
	char *names = NULL;
	ssize_t len;

	if (!ip->xattr) {
		if (o->json) {
			out_arr_begin(o, "xattrs", NULL);
			out_arr_end(o);
		}
		return;
	}
	if (mapfs_xattr_check(d->fs, ip->ino, ip->xattr, why,
			      sizeof(why)) < 0) {
		problem(d, "inode %" PRIu64 ": xattr block %" PRIu64 ": %s",
			ip->ino, ip->xattr, why);
		out_null(o, "xattrs", "Extended attributes");
		return;
	}
	len = mapfs_xattr_list(d->fs, ip, NULL, 0, true);
	if (len > 0) {
		names = malloc((size_t)len);
		if (!names) {
			d->oom = true;
			return;
		}
		len = mapfs_xattr_list(d->fs, ip, names, (size_t)len, true);
	}
	if (len < 0) {
		problem(d, "inode %" PRIu64 ": cannot list xattrs: %s",
			ip->ino, strerror((int)-len));
		free(names);
		out_null(o, "xattrs", "Extended attributes");
		return;
	}
	out_arr_begin(o, "xattrs", "Extended attributes");
	for (ssize_t pos = 0; pos < len;) {
		const char *name = names + pos;
		size_t n = strnlen(name, (size_t)(len - pos));
		ssize_t vlen = mapfs_xattr_get(d->fs, ip, name, NULL, 0);

		if (o->json) {
			out_obj_begin(o, NULL, NULL);
			out_bytes(o, "name", NULL, name, n);
			out_i64(o, "value_length", NULL, vlen);
			out_obj_end(o);
		} else {
			fprintf(o->f, "%*s", o->indent, "");
			out_escaped(o->f, name, n);
			fprintf(o->f, " (%zd bytes)\n", vlen);
		}
		pos += (ssize_t)n + 1;
	}
	out_arr_end(o);
	free(names);
}

static int dump_inode(struct dump *d, mapfs_ino_t ino)
{
	struct mapfs_fs *fs = d->fs;
	const struct mapfs_geom *g = &fs->g;
	const struct mapfs_dinode *di = mapfs_dinode(fs, ino);
	struct out *o = &d->o;
	struct mapfs_inode ip;
	char why[256] = "", title[64];
	uint32_t stored, computed, hiwater;
	bool reserved, valid = true, crc_ok;
	int alloc;

	if (!di || mapfs_inode_decode(fs, ino, &ip) < 0) {
		fprintf(stderr, PROG ": inode %" PRIu64 " is out of range "
			"(the filesystem has inodes 0 to %" PRIu64 ")\n", ino,
			g->ninodes - 1);
		return -1;
	}
	reserved = ino < g->first_ino && ino != MAPFS_ROOT_INO;
	alloc = ino_allocated(fs, ino, &hiwater);
	if (ip.mode) {
		valid = mapfs_inode_check(fs, ino, di, why, sizeof(why)) == 0;
		if (!valid)
			problem(d, "inode %" PRIu64 ": %s", ino, why);
	}
	stored = mapfs_di_crc(di);
	computed = mapfs_inode_crc(fs, ino, di);
	crc_ok = ip.mode ? stored == computed : stored == 0;
	if (!reserved && alloc == 1 && ip.mode == 0)
		problem(d, "inode %" PRIu64 ": marked in use in the bitmap but "
			"free (mode 0)", ino);
	if (!reserved && alloc == 0 && ip.mode != 0 &&
	    ino % g->ipg < hiwater)
		problem(d, "inode %" PRIu64 ": in use (mode 0%o) but free in "
			"the bitmap", ino, ip.mode);

	snprintf(title, sizeof(title), "Inode %" PRIu64, ino);
	out_obj_begin(o, "inode", title);
	out_u64(o, "ino", NULL, ino);
	out_u64(o, "group", "Group", mapfs_ino_group(g, ino));
	out_u64(o, "slot", "Slot in group", ino % g->ipg);
	out_bool(o, "reserved", "Reserved", reserved);
	if (alloc < 0)
		out_null(o, "allocated", "Allocated in bitmap");
	else
		out_bool(o, "allocated", "Allocated in bitmap", alloc == 1);
	out_bool(o, "valid", "Valid", valid);
	if (valid)
		out_null(o, "error", NULL);
	else
		out_str(o, "error", "Error", why);
	out_str(o, "type", "Type", type_name(ip.mode));
	out_oct(o, "mode", "Mode", ip.mode);
	out_oct(o, "permissions", "Permissions", ip.mode & 07777);
	out_u64(o, "nlink", "Links", ip.nlink);
	out_u64(o, "uid", "Owner uid", ip.uid);
	out_u64(o, "gid", "Group gid", ip.gid);
	out_u64(o, "size", "Size", ip.size);
	out_u64(o, "blocks", "Blocks", ip.blocks);
	out_time(o, "atime", "Access time", ip.atime.sec, ip.atime.nsec, true);
	out_time(o, "mtime", "Modify time", ip.mtime.sec, ip.mtime.nsec, true);
	out_time(o, "ctime", "Change time", ip.ctime.sec, ip.ctime.nsec, true);
	out_time(o, "btime", "Birth time", ip.btime.sec, ip.btime.nsec, true);
	out_hex(o, "flags", "Flags", ip.flags);
	out_bitnames(o, "flag_names", "Flag names", ip.flags, flag_names,
		     sizeof(flag_names) / sizeof(flag_names[0]));
	out_u64(o, "generation", "Generation", ip.gen);
	out_u64(o, "rdev", "Device number", ip.rdev);
	out_u64(o, "rdev_major", NULL, major((dev_t)ip.rdev));
	out_u64(o, "rdev_minor", NULL, minor((dev_t)ip.rdev));
	out_u64(o, "xattr_block", "Xattr block", ip.xattr);
	if (mapfs_xattr_in_inode(d->fs, ino)) {
		char xwhy[160] = "";

		out_str(o, "xattr_in_inode", "Xattrs in the inode",
			mapfs_xattr_check_inode(d->fs, ino, xwhy,
						sizeof(xwhy)) == 0 ? "ok"
								   : xwhy);
	}
	out_u64(o, "orphan_next", "Next orphan", ip.orphan_next);
	if (ip.mode && mapfs_inode_has_blocks(&ip)) {
		char line[512];
		size_t len = 0;

		if (o->json) {
			out_arr_begin(o, "direct", NULL);
			for (unsigned i = 0; i < MAPFS_NDADDR; i++)
				out_u64(o, NULL, NULL, ip.blk[i]);
			out_arr_end(o);
			out_arr_begin(o, "indirect", NULL);
			for (unsigned i = MAPFS_NDADDR; i < MAPFS_NADDR; i++)
				out_u64(o, NULL, NULL, ip.blk[i]);
			out_arr_end(o);
		} else {
			for (unsigned i = 0; i < MAPFS_NDADDR; i++)
				len += (size_t)snprintf(line + len,
							sizeof(line) - len,
							"%s%" PRIu64,
							i ? " " : "",
							ip.blk[i]);
			out_str(o, NULL, "Direct blocks", line);
			snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64
				 " %" PRIu64, ip.blk[12], ip.blk[13],
				 ip.blk[14]);
			out_str(o, NULL, "Indirect (1, 2, 3)", line);
		}
	} else {
		out_null(o, "direct", NULL);
		out_null(o, "indirect", NULL);
	}
	if ((ip.mode & MAPFS_IFMT) == MAPFS_IFLNK) {
		char target[MAPFS_SYMLINK_MAX + 1];
		ssize_t n = -EUCLEAN;

		if (is_fast_symlink(&ip))
			n = (ssize_t)(ip.size < MAPFS_FAST_SYMLINK_MAX ?
				      ip.size : MAPFS_FAST_SYMLINK_MAX);
		if (n >= 0)
			memcpy(target, ip.symlink, (size_t)n);
		else if (valid)
			n = mapfs_op_readlink(fs, ino, target,
					      sizeof(target) - 1);
		if (n >= 0)
			out_bytes(o, "symlink_target", "Symlink target",
				  target, (size_t)n);
		else
			out_null(o, "symlink_target", "Symlink target");
	}
	out_obj_begin(o, "checksum", "Checksum");
	out_hex(o, "stored", "Stored", stored);
	out_hex(o, "computed", "Computed", computed);
	out_bool(o, "ok", "Matches", crc_ok);
	out_obj_end(o);
	if (ip.mode && valid)
		dump_xattrs(d, &ip);
	else if (o->json)
		out_null(o, "xattrs", NULL);
	out_obj_end(o);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Directories                                                         */
/* ------------------------------------------------------------------ */

struct dirwalk {
	struct dump *d;
	mapfs_ino_t ino;
	uint64_t nchunks;	/* chunks the size says */
	uint64_t next;		/* chunks below this were seen */
	uint64_t nentries;
};

static void dir_entry(struct dump *d, uint64_t chunk, uint32_t pos,
		      const struct mapfs_dirrec *r, bool valid)
{
	struct out *o = &d->o;

	if (o->json) {
		out_obj_begin(o, NULL, NULL);
		out_u64(o, "ino", NULL, r->ino);
		out_u64(o, "type", NULL, r->type);
		out_str(o, "type_name", NULL, dt_name(r->type));
		out_bytes(o, "name", NULL, r->name, r->namelen);
		if (!out_utf8_valid(r->name, r->namelen)) {
			char hex[2 * 255 + 1];

			for (uint32_t i = 0; i < r->namelen; i++)
				snprintf(hex + 2 * i, 3, "%02x",
					 (unsigned char)r->name[i]);
			out_bytes(o, "name_hex", NULL, hex,
				  2 * (size_t)r->namelen);
		}
		out_u64(o, "name_length", NULL, r->namelen);
		out_u64(o, "reclen", NULL, r->reclen);
		out_u64(o, "chunk", NULL, chunk);
		out_u64(o, "offset", NULL, pos);
		out_bool(o, "valid", NULL, valid);
		out_obj_end(o);
		return;
	}
	fprintf(o->f, "%*s%-10" PRIu64 " %-9s %6" PRIu32 " %6" PRIu64 " %5"
		PRIu32 "  ", o->indent, "", r->ino, dt_name(r->type),
		r->reclen, chunk, pos);
	out_escaped(o->f, r->name, r->namelen);
	fputs(valid ? "\n" : "  (BAD RECORD)\n", o->f);
}

/* One 4 KiB chunk: check it with the core; print the records the core
 * vouches for (those before the first bad one) and the bad one if its
 * header can be decoded. */
static void dir_chunk(struct dirwalk *w, uint64_t c, mapfs_bno_t bno,
		      uint32_t page)
{
	struct dump *d = w->d;
	const uint8_t *chunk = (const uint8_t *)mapfs_block(d->fs, bno) +
			       (size_t)page * MAPFS_PAGE_SIZE;
	char why[256] = "", why2[256] = "";
	struct mapfs_dirrec r;
	uint32_t limit, pos;
	int kind;

	if (mapfs_dir_check_chunk(d->fs, w->ino, bno, page, c, chunk, why,
				  sizeof(why)) < 0)
		problem(d, "directory %" PRIu64 ": block %" PRIu64 " page %"
			PRIu32 ": %s", w->ino, bno, page, why);
	if (mapfs_dir_chunk_first_bad(d->fs, w->ino, c, chunk, &limit, &kind,
				      why2, sizeof(why2)) == 0)
		limit = MAPFS_DIRCHUNK_USABLE;
	for (pos = 0; pos < MAPFS_DIRCHUNK_USABLE;) {
		bool valid = pos < limit;

		if (mapfs_dir_chunk_record(chunk, pos, &r) < 0)
			break;
		if (r.ino || !valid) {
			dir_entry(d, c, pos, &r, valid);
			w->nentries += r.ino != 0;
		}
		if (!valid || r.reclen < MAPFS_DIRENT_HDR ||
		    r.reclen > MAPFS_DIRCHUNK_USABLE - pos)
			break;
		pos += r.reclen;
	}
}

static void report_unmapped(struct dirwalk *w, uint64_t from, uint64_t to)
{
	problem(w->d, "directory %" PRIu64 ": chunks %" PRIu64 " to %" PRIu64
		" are not mapped (a hole in a directory)", w->ino, from,
		to - 1);
}

static int dir_visit(void *arg, const struct mapfs_blkvisit *v)
{
	struct dirwalk *w = arg;
	const struct mapfs_geom *g = &w->d->fs->g;

	if (!v->valid) {
		problem(w->d, "directory %" PRIu64 ": %s pointer %" PRIu64
			" (logical block %" PRIu64 ") is not a data block",
			w->ino, v->level ? "indirect" : "block", v->bno,
			v->lbn);
		return 0;
	}
	if (v->level > 0) {
		if (!v->crc_ok)
			problem(w->d, "directory %" PRIu64 ": indirect block %"
				PRIu64 " fails its checksum", w->ino, v->bno);
		return 0;
	}
	for (uint32_t page = 0; page < g->pages_per_block; page++) {
		uint64_t c;

		/* lbn < 2^64 / bsize (it maps a byte offset), so this
		 * cannot overflow. */
		c = v->lbn * g->pages_per_block + page;
		if (c >= w->nchunks) {
			problem(w->d, "directory %" PRIu64 ": block %" PRIu64
				" (chunk %" PRIu64 ") is past its size",
				w->ino, v->bno, c);
			break;
		}
		if (c > w->next)
			report_unmapped(w, w->next, c);
		dir_chunk(w, c, v->bno, page);
		w->next = c + 1;
	}
	return 0;
}

/* Decode ino for -d and -m; -1 (with a message) if it is free. */
static int load_for_walk(struct dump *d, mapfs_ino_t ino,
			 struct mapfs_inode *ip, bool *validp)
{
	const struct mapfs_dinode *di = mapfs_dinode(d->fs, ino);
	char why[256] = "";

	if (!di || mapfs_inode_decode(d->fs, ino, ip) < 0) {
		fprintf(stderr, PROG ": inode %" PRIu64 " is out of range "
			"(the filesystem has inodes 0 to %" PRIu64 ")\n", ino,
			d->fs->g.ninodes - 1);
		return -1;
	}
	if (ip->mode == 0) {
		fprintf(stderr, PROG ": inode %" PRIu64 " is free\n", ino);
		return -1;
	}
	*validp = mapfs_inode_check(d->fs, ino, di, why, sizeof(why)) == 0;
	if (!*validp)
		problem(d, "inode %" PRIu64 ": %s", ino, why);
	return 0;
}

static int dump_dir(struct dump *d, mapfs_ino_t ino)
{
	struct out *o = &d->o;
	struct dirwalk w = { .d = d, .ino = ino };
	struct mapfs_inode ip;
	char title[128];
	bool valid;
	int err;

	if (load_for_walk(d, ino, &ip, &valid) < 0)
		return -1;
	if ((ip.mode & MAPFS_IFMT) != MAPFS_IFDIR) {
		fprintf(stderr, PROG ": inode %" PRIu64 " is not a directory "
			"(%s)\n", ino, type_name(ip.mode));
		return -1;
	}
	if (ip.size % MAPFS_DIRCHUNK)
		problem(d, "directory %" PRIu64 ": size %" PRIu64 " is not a "
			"multiple of %u", ino, ip.size, MAPFS_DIRCHUNK);
	w.nchunks = ip.size / MAPFS_DIRCHUNK;
	snprintf(title, sizeof(title), "Directory %" PRIu64 " (%" PRIu64
		 " bytes, %" PRIu64 " chunks)", ino, ip.size, w.nchunks);
	out_obj_begin(o, "directory", title);
	out_u64(o, "ino", NULL, ino);
	out_u64(o, "size", NULL, ip.size);
	out_u64(o, "chunks", NULL, w.nchunks);
	out_arr_begin(o, "entries", NULL);
	out_line(o, "%-10s %-9s %6s %6s %5s  %s", "inode", "type", "reclen",
		 "chunk", "off", "name");
	err = mapfs_blockmap_walk(d->fs, &ip, dir_visit, &w);
	if (err < 0)
		problem(d, "directory %" PRIu64 ": block map: %s", ino,
			err == -EUCLEAN ? "more indirect blocks than the "
			"filesystem holds" : strerror(-err));
	if (w.next < w.nchunks)
		report_unmapped(&w, w.next, w.nchunks);
	out_arr_end(o);
	out_u64(o, "entry_count", "Entries", w.nentries);
	out_obj_end(o);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Block maps                                                          */
/* ------------------------------------------------------------------ */

enum map_pass { PASS_EXTENTS, PASS_HOLES, PASS_INDIRECT, PASS_BAD };

struct mapwalk {
	struct dump *d;
	const struct mapfs_inode *ip;
	enum map_pass pass;
	uint64_t eof;		/* logical blocks inside the size */
	/* PASS_EXTENTS: the run being built */
	bool have_run, run_past;
	uint64_t run_lbn, run_bno, run_len;
	uint64_t next;		/* PASS_HOLES: first lbn not yet seen */
	uint64_t ndata, nind, npast, nbad;
};

static void flush_run(struct mapwalk *w)
{
	struct out *o = &w->d->o;

	if (!w->have_run)
		return;
	w->have_run = false;
	if (o->json) {
		out_obj_begin(o, NULL, NULL);
		out_u64(o, "logical", NULL, w->run_lbn);
		out_u64(o, "physical", NULL, w->run_bno);
		out_u64(o, "count", NULL, w->run_len);
		out_bool(o, "past_eof", NULL, w->run_past);
		out_obj_end(o);
	} else {
		out_line(o, "logical %" PRIu64 "-%" PRIu64 " -> physical %"
			 PRIu64 "-%" PRIu64 " (%" PRIu64 " block%s)%s",
			 w->run_lbn, w->run_lbn + w->run_len - 1, w->run_bno,
			 w->run_bno + w->run_len - 1, w->run_len,
			 w->run_len == 1 ? "" : "s",
			 w->run_past ? " past EOF" : "");
	}
}

static void hole(struct mapwalk *w, uint64_t from, uint64_t to)
{
	struct out *o = &w->d->o;

	if (o->json) {
		out_obj_begin(o, NULL, NULL);
		out_u64(o, "logical", NULL, from);
		out_u64(o, "count", NULL, to - from);
		out_obj_end(o);
	} else {
		out_line(o, "logical %" PRIu64 "-%" PRIu64 " (%" PRIu64
			 " block%s)", from, to - 1, to - from,
			 to - from == 1 ? "" : "s");
	}
}

static int map_visit(void *arg, const struct mapfs_blkvisit *v)
{
	struct mapwalk *w = arg;
	struct out *o = &w->d->o;
	bool past;

	switch (w->pass) {
	case PASS_EXTENTS:
		if (v->level > 0 || !v->valid)
			return 0;
		w->ndata++;
		past = v->lbn >= w->eof;
		w->npast += past;
		if (w->have_run && past == w->run_past &&
		    v->lbn == w->run_lbn + w->run_len &&
		    v->bno == w->run_bno + w->run_len) {
			w->run_len++;
			return 0;
		}
		flush_run(w);
		w->have_run = true;
		w->run_past = past;
		w->run_lbn = v->lbn;
		w->run_bno = v->bno;
		w->run_len = 1;
		return 0;
	case PASS_HOLES:
		if (v->level > 0)
			return 0;
		if (v->lbn > w->next && w->next < w->eof)
			hole(w, w->next, v->lbn < w->eof ? v->lbn : w->eof);
		if (v->lbn >= w->next)
			w->next = v->lbn + 1;
		return 0;
	case PASS_INDIRECT:
		if (v->level == 0)
			return 0;
		w->nind += v->valid;
		if (!v->valid)
			problem(w->d, "inode %" PRIu64 ": level %d indirect "
				"pointer %" PRIu64 " is not a data block",
				w->ip->ino, v->level, v->bno);
		else if (!v->crc_ok)
			problem(w->d, "inode %" PRIu64 ": indirect block %"
				PRIu64 " fails its checksum", w->ip->ino,
				v->bno);
		if (o->json) {
			out_obj_begin(o, NULL, NULL);
			out_u64(o, "level", NULL, (uint64_t)v->level);
			out_u64(o, "physical", NULL, v->bno);
			out_u64(o, "logical", NULL, v->lbn);
			out_u64(o, "parent", NULL, v->parent);
			out_u64(o, "slot", NULL, v->slot);
			out_bool(o, "valid", NULL, v->valid);
			out_bool(o, "crc_ok", NULL, v->crc_ok);
			out_obj_end(o);
		} else {
			out_line(o, "level %d at %" PRIu64 " (maps from "
				 "logical %" PRIu64 "; slot %" PRIu32 " of %s%"
				 PRIu64
				 ")%s", v->level, v->bno, v->lbn, v->slot,
				 v->parent ? "block " : "inode ", v->parent ?
				 v->parent : w->ip->ino, !v->valid ?
				 " BAD POINTER" : !v->crc_ok ?
				 " BAD CHECKSUM" : "");
		}
		return 0;
	case PASS_BAD:
		if (v->level > 0 || v->valid)
			return 0;
		w->nbad++;
		problem(w->d, "inode %" PRIu64 ": logical block %" PRIu64
			" maps to %" PRIu64 ", not a data block", w->ip->ino,
			v->lbn, v->bno);
		if (o->json) {
			out_obj_begin(o, NULL, NULL);
			out_u64(o, "logical", NULL, v->lbn);
			out_u64(o, "physical", NULL, v->bno);
			out_u64(o, "parent", NULL, v->parent);
			out_u64(o, "slot", NULL, v->slot);
			out_obj_end(o);
		} else {
			out_line(o, "logical %" PRIu64 " -> %" PRIu64
				 " (slot %" PRIu32 " of %s%" PRIu64 ")",
				 v->lbn, v->bno, v->slot,
				 v->parent ? "block " : "inode ",
				 v->parent ? v->parent : w->ip->ino);
		}
		return 0;
	}
	return 0;
}

/* One pass of the walk; the walk's own failure is reported once. */
static void map_pass(struct mapwalk *w, enum map_pass pass, const char *key,
		     const char *title)
{
	int err;

	w->pass = pass;
	out_arr_begin(&w->d->o, key, title);
	err = mapfs_blockmap_walk(w->d->fs, w->ip, map_visit, w);
	if (pass == PASS_EXTENTS)
		flush_run(w);
	if (pass == PASS_HOLES && w->next < w->eof)
		hole(w, w->next, w->eof);
	out_arr_end(&w->d->o);
	if (err < 0 && pass == PASS_EXTENTS)
		problem(w->d, "inode %" PRIu64 ": block map: %s", w->ip->ino,
			err == -EUCLEAN ? "more indirect blocks than the "
			"filesystem holds" : strerror(-err));
}

static int dump_map(struct dump *d, mapfs_ino_t ino)
{
	const struct mapfs_geom *g = &d->fs->g;
	struct out *o = &d->o;
	struct mapwalk w = { .d = d };
	struct mapfs_inode ip;
	uint64_t counted;
	char title[160];
	bool valid, has_map;

	if (load_for_walk(d, ino, &ip, &valid) < 0)
		return -1;
	w.ip = &ip;
	w.eof = (ip.size >> g->bshift) + ((ip.size & (g->bsize - 1)) != 0);
	has_map = mapfs_inode_has_blocks(&ip);
	snprintf(title, sizeof(title), "Block map of inode %" PRIu64 " (%s, %"
		 PRIu64 " bytes, %" PRIu64 " blocks held)", ino,
		 type_name(ip.mode), ip.size, ip.blocks);
	out_obj_begin(o, "blockmap", title);
	out_u64(o, "ino", NULL, ino);
	out_str(o, "type", NULL, type_name(ip.mode));
	out_u64(o, "size", NULL, ip.size);
	out_u64(o, "blocks", NULL, ip.blocks);
	out_u64(o, "block_size", NULL, g->bsize);
	out_u64(o, "eof_blocks", "Logical blocks in size", w.eof);
	out_bool(o, "has_block_map", "Has a block map", has_map);
	if (has_map) {
		map_pass(&w, PASS_EXTENTS, "extents", "Extents");
		w.next = 0;
		map_pass(&w, PASS_HOLES, "holes", "Holes");
		map_pass(&w, PASS_INDIRECT, "indirect", "Indirect blocks");
		map_pass(&w, PASS_BAD, "bad_pointers", "Bad pointers");
	} else {
		out_line(o, "no block map (%s)", is_fast_symlink(&ip) ?
			 "fast symlink: the target is in the inode" :
			 "device, fifo or socket");
		static const char *const keys[] = { "extents", "holes",
						    "indirect",
						    "bad_pointers" };

		for (size_t i = 0; o->json && i < 4; i++) {
			out_arr_begin(o, keys[i], NULL);
			out_arr_end(o);
		}
	}
	counted = w.ndata + w.nind + (ip.xattr != 0);
	out_u64(o, "data_blocks", "Data blocks", w.ndata);
	out_u64(o, "indirect_blocks", "Indirect blocks", w.nind);
	out_u64(o, "past_eof_blocks", "Blocks past EOF", w.npast);
	out_u64(o, "xattr_block", "Xattr block", ip.xattr);
	out_u64(o, "counted_blocks", "Blocks counted", counted);
	out_obj_end(o);
	if (counted != ip.blocks)
		problem(d, "inode %" PRIu64 ": holds %" PRIu64 " blocks but "
			"says %" PRIu64, ino, counted, ip.blocks);
	if (w.npast && !(ip.flags & MAPFS_FL_KEEPSIZE))
		problem(d, "inode %" PRIu64 ": %" PRIu64 " blocks mapped past "
			"EOF without the keepsize flag", ino, w.npast);
	return 0;
}

/* ------------------------------------------------------------------ */
/* main                                                                */
/* ------------------------------------------------------------------ */

static void free_problems(struct dump *d)
{
	for (size_t i = 0; i < d->nkept; i++)
		free(d->problems[i]);
	free(d->problems);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const char optstring[] = "jsb:i:d:m:o:vhV";
	const char *arg_i = NULL, *arg_d = NULL, *arg_m = NULL;
	bool sb_only = false, explicit_sb = false;
	struct dump d;
	char *buf = NULL;
	size_t buflen = 0;
	FILE *f;
	int ch, ret = EXIT_OPERROR, failed = 0;

	memset(&d, 0, sizeof(d));
	opterr = 0;
	while ((ch = getopt_long(argc, argv, optstring, longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'j': d.json = true; break;
		case 's': sb_only = true; break;
		case 'v': d.verbose = true; break;
		case 'i': arg_i = optarg; break;
		case 'd': arg_d = optarg; break;
		case 'm': arg_m = optarg; break;
		case 'b':
			if (!mapfs_cli_sb_group(PROG, optarg, &d.sb_group))
				return EXIT_USAGE;
			explicit_sb = true;
			break;
		case 'o':
			if (!mapfs_cli_region(PROG, optarg, &d.region))
				return EXIT_USAGE;
			break;
		case 'h':
			usage(stdout);
			return EXIT_CLEAN;
		case 'V':
			printf(PROG " " MAPFS_VERSION_STRING "\n");
			return EXIT_CLEAN;
		default:
			mapfs_opt_error(PROG, optstring, argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, PROG ": %s\n", optind >= argc ?
			"no image given" : "too many arguments");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (sb_only && (arg_i || arg_d || arg_m)) {
		fprintf(stderr, PROG ": -s does not combine with -i, -d or "
			"-m\n");
		return EXIT_USAGE;
	}
	d.image = argv[optind];
	signal(SIGBUS, on_sigbus);

	/* JSON goes to memory first: stdout gets a whole document or
	 * nothing. */
	f = d.json ? open_memstream(&buf, &buflen) : stdout;
	if (!f) {
		fprintf(stderr, PROG ": out of memory\n");
		return EXIT_OPERROR;
	}
	out_init(&d.o, f, d.json);
	out_obj_begin(&d.o, NULL, NULL);
	if (open_image(&d, explicit_sb) < 0)
		goto out;
	out_str(&d.o, "dumpfs_version", NULL, MAPFS_VERSION_STRING);
	out_str(&d.o, "image", NULL, d.image);
	if (d.mounted)
		out_str(&d.o, "mounted_at", NULL, d.mnt);
	out_u64(&d.o, "superblock_group", NULL, d.sb_group);
	if (d.sb_group)
		out_line(&d.o, "(using the superblock copy in group %" PRIu64
			 ")", d.sb_group);
	if (!arg_i && !arg_d && !arg_m) {
		dump_superblock(&d);
		if (!sb_only)
			dump_groups(&d);
	}
	if (arg_i) {
		mapfs_ino_t ino;

		failed = resolve(&d, arg_i, &ino) < 0 ||
			 dump_inode(&d, ino) < 0;
	}
	if (arg_d && !failed) {
		mapfs_ino_t ino;

		failed = resolve(&d, arg_d, &ino) < 0 ||
			 dump_dir(&d, ino) < 0;
	}
	if (arg_m && !failed) {
		mapfs_ino_t ino;

		failed = resolve(&d, arg_m, &ino) < 0 ||
			 dump_map(&d, ino) < 0;
	}
	mapfs_fs_close(d.fs);
	if (failed)
		goto out;
	if (d.oom) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	if (d.json) {
		out_arr_begin(&d.o, "problems", NULL);
		for (size_t i = 0; i < d.nkept; i++)
			out_str(&d.o, NULL, NULL, d.problems[i]);
		out_arr_end(&d.o);
		out_u64(&d.o, "problem_count", NULL, d.nproblems);
	}
	out_obj_end(&d.o);
	ret = d.nproblems ? EXIT_PROBLEMS : EXIT_CLEAN;
	if (d.nproblems)
		fprintf(stderr, PROG ": %s: %" PRIu64 " problem%s found (run "
			"fsck.mapfs -n -f for a full check)\n", d.image,
			d.nproblems, d.nproblems == 1 ? "" : "s");
out:
	if (d.json) {
		if (fclose(f) != 0) {
			fprintf(stderr, PROG ": out of memory\n");
			ret = EXIT_OPERROR;
		} else if (ret != EXIT_OPERROR &&
			   fwrite(buf, 1, buflen, stdout) != buflen) {
			ret = EXIT_OPERROR;
		}
		free(buf);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": error writing the output\n");
		ret = EXIT_OPERROR;
	}
	free_problems(&d);
	return ret;
}
