/* SPDX-License-Identifier: MIT */
/*
 * growfs.c - growfs.mapfs: enlarge a mapfs filesystem, unmounted or
 * mounted.
 *
 *   growfs.mapfs [-s SIZE] [-n] [-q] IMAGE
 *
 * Mounted (the mount table names IMAGE as a mapfs mount's source and the
 * image lock is held): the daemon grows it. growfs reads the geometry
 * (a read-only, unlocked attach: the journal replayed in memory), prints
 * the plan, and sends MAPFS_IOC_GROW to the mount point; the daemon
 * enlarges the file, maps it and adds the groups in one journaled
 * operation, commits, and replies (fs/fuse/growops.c). Unmounted:
 *
 * A thin program around the core: lock the image (exclusive flock, the
 * one a mounted daemon holds: a mounted image is refused), attach,
 * mapfs_grow_plan() (pure arithmetic), print the plan, enlarge the file
 * (sparse) when -s asks for more than it holds, attach again at the new
 * size and call mapfs_grow(). Without -s the filesystem grows to the
 * current size of the file or device. Shrinking is refused.
 *
 * The lock is taken on our own descriptor and held from start to end;
 * the core's open is told not to lock (MAPFS_OPEN_NOLOCK), so nothing can
 * mount the image between the two attaches.
 *
 * Exit codes: 0 success (or nothing to do), 1 runtime error or refusal,
 * 2 usage error.
 */
#include "mapfs.h"
#include "mapfs_cli.h"
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROG "growfs.mapfs"

/* How many new superblock copy groups to list before summarizing. */
#define SB_LIST_MAX 12

struct grow_args {
	const char *image;
	uint64_t size_bytes;	/* with -s */
	bool have_size, dry_run, quiet;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [options] IMAGE\n"
		"Grow the mapfs filesystem in IMAGE (a file or block device),\n"
		"unmounted or mounted (then the daemon grows it).\n"
		"\n"
		"  -s SIZE   grow to SIZE bytes (suffixes K, M, G, T: powers of\n"
		"            1024), enlarging the file (sparse) if needed;\n"
		"            default: IMAGE's current size\n"
		"  -n        dry run: print what would be done, write nothing\n"
		"  -q        quiet\n"
		"  -h, --help     this help\n"
		"  -V, --version  print the version\n");
}

static uint64_t data_blocks(const struct mapfs_geom *g)
{
	return g->nblocks - g->ngroups * (uint64_t)g->data_off;
}

static void print_plan(const struct grow_args *a, const struct mapfs_fs *fs,
		       const struct mapfs_geom *ng, uint64_t file_size,
		       uint64_t new_file_size)
{
	const struct mapfs_geom *og = &fs->g;
	uint64_t last = og->ngroups - 1, ncopies = 0;
	uint32_t on = mapfs_group_nblocks(og, last);
	uint32_t nn = mapfs_group_nblocks(ng, last);
	char os[32], ns[32];
	unsigned shown = 0;

	mapfs_human_size(og->nblocks << og->bshift, os, sizeof(os));
	mapfs_human_size(ng->nblocks << ng->bshift, ns, sizeof(ns));
	printf("%s: grow from %s (%" PRIu64 " blocks, %" PRIu64 " group%s) "
	       "to %s (%" PRIu64 " blocks, %" PRIu64 " group%s)%s\n",
	       a->image, os, og->nblocks, og->ngroups,
	       og->ngroups == 1 ? "" : "s", ns, ng->nblocks, ng->ngroups,
	       ng->ngroups == 1 ? "" : "s",
	       a->dry_run ? " [dry run: nothing written]" : "");
	if (new_file_size > file_size) {
		mapfs_human_size(new_file_size, ns, sizeof(ns));
		printf("\timage file enlarged (sparse) to %s (%" PRIu64
		       " bytes)\n", ns, new_file_size);
	}
	if (nn > on)
		printf("\tlast group %" PRIu64 " extended from %u to %u "
		       "blocks (%s)\n", last, on, nn,
		       fs->cg[last].init ? "its header rebuilt"
					 : "unused: nothing to write");
	printf("\t%" PRIu64 " new group%s, left unused until first needed\n",
	       ng->ngroups - og->ngroups,
	       ng->ngroups - og->ngroups == 1 ? "" : "s");
	for (uint64_t cg = og->ngroups; cg < ng->ngroups; cg++)
		if (mapfs_group_has_sb(cg))
			ncopies++;
	printf("\t%" PRIu64 " new superblock cop%s", ncopies,
	       ncopies == 1 ? "y" : "ies");
	if (ncopies)
		printf(" in groups:");
	for (uint64_t cg = og->ngroups; cg < ng->ngroups; cg++) {
		if (!mapfs_group_has_sb(cg))
			continue;
		if (shown == SB_LIST_MAX) {
			printf(" ...");
			break;
		}
		printf(" %" PRIu64, cg);
		shown++;
	}
	printf("\n\t+%" PRIu64 " data blocks, +%" PRIu64 " inodes; %" PRIu64
	       " blocks reserved for root (%u%%)\n",
	       data_blocks(ng) - data_blocks(og), ng->ninodes - og->ninodes,
	       ng->reserved_blocks, ng->minfree_pct);
}

static void progress(void *arg, uint64_t done, uint64_t total)
{
	int *last = arg;
	int pct = total ? (int)(done * 100 / total) : 100;

	if (pct == *last)
		return;
	*last = pct;
	fprintf(stderr, "\r" PROG ": %3d%% (%" PRIu64 "/%" PRIu64
		" groups)", pct, done, total);
	if (done == total)
		fputc('\n', stderr);
}

static const char *state_name(uint32_t state)
{
	return state == MAPFS_STATE_MOUNTED ? "was not cleanly unmounted"
					    : "is marked with errors";
}

/* Attach to the image (we hold its lock already). */
static int attach(const struct grow_args *a, struct mapfs_fs **fsp)
{
	char why[256] = "";
	int err;

	err = mapfs_fs_open(a->image, MAPFS_OPEN_NOLOCK |
			    (a->dry_run ? MAPFS_OPEN_RDONLY : 0), 0, NULL,
			    NULL, fsp, why, sizeof(why));
	if (err < 0) {
		fprintf(stderr, PROG ": %s: %s\n", a->image,
			why[0] ? why : strerror(-err));
		return -1;
	}
	return 0;
}

/* The new geometry for target bytes into *ng: 1 to grow, 0 when there
 * is nothing to do (said unless quiet), -1 when it cannot be (said). */
static int make_plan(const struct grow_args *a, const struct mapfs_fs *fs,
		     uint64_t target, struct mapfs_geom *ng)
{
	char why[256] = "";

	if (mapfs_grow_plan(&fs->g, target, ng, why, sizeof(why)) < 0) {
		fprintf(stderr, PROG ": %s: %s\n", a->image, why);
		return -1;
	}
	if (ng->nblocks != fs->g.nblocks)
		return 1;
	if (!a->quiet || a->dry_run)
		printf("%s: nothing to do: the filesystem already has %" PRIu64
		       " blocks (%" PRIu64 " bytes), as many as %" PRIu64
		       " bytes hold\n", a->image, fs->g.nblocks,
		       fs->g.nblocks << fs->g.bshift, target);
	return 0;
}

static int grow(const struct grow_args *a, int fd)
{
	struct mapfs_fs *fs = NULL;
	struct mapfs_geom ng;
	uint64_t file_size, target, new_file_size;
	char why[256] = "";
	struct stat st;
	int err, pct = -1, ret = 1;

	if (fstat(fd, &st) < 0 || mapfs_image_size(fd, &file_size) < 0) {
		fprintf(stderr, PROG ": %s: not a regular file or block "
			"device\n", a->image);
		return 1;
	}
	if (attach(a, &fs) < 0)
		return 1;
	if (fs->state != MAPFS_STATE_CLEAN) {
		fprintf(stderr, PROG ": %s: filesystem %s: run fsck.mapfs %s "
			"first\n", a->image, state_name(fs->state), a->image);
		goto out;
	}
	target = a->have_size ? a->size_bytes : file_size;
	if (target > file_size && !S_ISREG(st.st_mode)) {
		fprintf(stderr, PROG ": %s: the device holds %" PRIu64
			" bytes, cannot grow to %" PRIu64 "\n", a->image,
			file_size, target);
		goto out;
	}
	err = make_plan(a, fs, target, &ng);
	if (err <= 0) {
		if (err == 0)
			ret = 0;
		goto out;
	}
	new_file_size = target > file_size ? target : file_size;
	if (!a->quiet || a->dry_run)
		print_plan(a, fs, &ng, file_size, new_file_size);
	if (a->dry_run) {
		ret = 0;
		goto out;
	}
	mapfs_fs_close(fs);
	fs = NULL;
	if (new_file_size > file_size &&
	    ftruncate(fd, (off_t)new_file_size) < 0) {
		fprintf(stderr, PROG ": cannot enlarge %s: %s\n", a->image,
			strerror(errno));
		return 1;
	}
	if (attach(a, &fs) < 0)
		return 1;
	err = mapfs_grow(fs, &ng, !a->quiet && isatty(STDERR_FILENO) ?
			 progress : NULL, &pct, why, sizeof(why));
	if (err < 0) {
		fprintf(stderr, PROG ": %s: %s\n", a->image,
			why[0] ? why : strerror(-err));
		goto out;
	}
	if (!a->quiet)
		printf("%s: now %" PRIu64 " blocks in %" PRIu64 " groups, %"
		       PRIu64 " free blocks, %" PRIu64 " free inodes\n",
		       a->image, fs->g.nblocks, fs->g.ngroups,
		       fs->free_blocks, fs->free_inodes);
	ret = 0;
out:
	if (fs)
		mapfs_fs_close(fs);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Mounted: the daemon grows it                                        */
/* ------------------------------------------------------------------ */
struct find_mnt {
	const char *real;	/* the image's real path */
	char dir[PATH_MAX];
	bool ro;
};

static int find_mnt(const struct mapfs_mountent *m, void *arg)
{
	struct find_mnt *f = arg;

	if (!mapfs_mount_is_mapfs(m) || strcmp(m->source, f->real) != 0)
		return 0;
	snprintf(f->dir, sizeof(f->dir), "%s", m->dir);
	f->ro = m->super_ro;
	return 1;
}

/* Where IMAGE is mounted: 1 with f filled in, 0 when it is not. */
static int mounted_at(const char *image, struct find_mnt *f)
{
	char real[PATH_MAX];

	if (!realpath(image, real))
		return 0;
	f->real = real;
	return mapfs_mounts_each(find_mnt, f) == 1;
}

static const char *grow_errmsg(int err)
{
	switch (err) {
	case EPERM:
		return "only root or the user the daemon runs as may grow "
		       "a mounted filesystem";
	case ENOTTY:
		return "the daemon serving this mount cannot grow while "
		       "mounted (an older mapfs): unmount and run " PROG;
	case EOPNOTSUPP:
		return "the image has no journal, which growing while "
		       "mounted needs: unmount it and run " PROG;
	case EROFS:
		return "mounted read-only";
	case EUCLEAN:
		return "the daemon found errors in the filesystem: unmount "
		       "and run fsck.mapfs first";
	default:
		return strerror(err);
	}
}

static int grow_mounted(const struct grow_args *a, const struct find_mnt *m)
{
	struct mapfs_grow_req rq = {0};
	struct mapfs_fs *fs = NULL;
	struct mapfs_geom ng;
	uint64_t file_size, target;
	char why[256] = "", os[32], ns[32];
	int fd, mfd, err, ret = 1;

	if (m->ro) {
		fprintf(stderr, PROG ": %s: mounted read-only at %s\n",
			a->image, m->dir);
		return 1;
	}
	fd = open(a->image, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || mapfs_image_size(fd, &file_size) < 0) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", a->image,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	/* A mount entry whose image lock nobody holds is a dead mount. */
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		fprintf(stderr, PROG ": %s: listed as mounted at %s, but no "
			"daemon holds it (a dead mount: unmount it)\n",
			a->image, m->dir);
		close(fd);
		return 1;
	}
	close(fd);
	mfd = open(m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0) {
		err = errno;
		fprintf(stderr, PROG ": cannot open the mount point %s: %s%s\n",
			m->dir, strerror(err), err == EACCES ?
			" (without allow_other a FUSE mount admits only the "
			"user who mounted it; growing also needs root or that "
			"user)" : "");
		return 1;
	}
	/* size 0: the daemon's sizes, nothing changed. */
	if (ioctl(mfd, MAPFS_IOC_GROW, &rq) < 0) {
		fprintf(stderr, PROG ": %s (mounted at %s): %s\n", a->image,
			m->dir, grow_errmsg(errno));
		goto out;
	}
	if (mapfs_fs_open(a->image, MAPFS_OPEN_NOLOCK | MAPFS_OPEN_RDONLY, 0,
			  NULL, NULL, &fs, why, sizeof(why)) < 0) {
		fprintf(stderr, PROG ": %s: %s\n", a->image, why);
		goto out;
	}
	/* The plan is made from the image as read now; the daemon makes
	 * its own from its geometry, which is the same unless a change is
	 * still on its way home (it is after any commit). */
	if ((fs->g.nblocks << fs->g.bshift) != rq.old_bytes) {
		fprintf(stderr, PROG ": %s: the image reads %" PRIu64 " bytes"
			" but its daemon serves %" PRIu64 ": try again after "
			"a sync\n", a->image, fs->g.nblocks << fs->g.bshift,
			rq.old_bytes);
		goto out;
	}
	target = a->have_size ? a->size_bytes : file_size;
	err = make_plan(a, fs, target, &ng);
	if (err <= 0) {
		if (err == 0)
			ret = 0;
		goto out;
	}
	if ((ng.nblocks << ng.bshift) > rq.max_bytes) {
		mapfs_human_size(rq.max_bytes, ns, sizeof(ns));
		fprintf(stderr, PROG ": %s: while mounted it can grow to %s "
			"(%" PRIu64 " bytes: the address space its daemon "
			"reserved at mount); unmount to grow further\n",
			a->image, ns, rq.max_bytes);
		goto out;
	}
	if (!a->quiet || a->dry_run) {
		printf("%s: mounted at %s: the daemon grows it\n", a->image,
		       m->dir);
		print_plan(a, fs, &ng, file_size,
			   target > file_size ? target : file_size);
	}
	if (a->dry_run) {
		ret = 0;
		goto out;
	}
	rq.size_bytes = target;
	if (ioctl(mfd, MAPFS_IOC_GROW, &rq) < 0) {
		err = errno;
		if (err == EFBIG) {
			mapfs_human_size(rq.max_bytes, ns, sizeof(ns));
			fprintf(stderr, PROG ": %s: while mounted it can grow "
				"to %s at most: unmount to grow further\n",
				a->image, ns);
		} else {
			fprintf(stderr, PROG ": %s (mounted at %s): %s\n",
				a->image, m->dir, grow_errmsg(err));
		}
		goto out;
	}
	if (!a->quiet) {
		mapfs_human_size(rq.old_bytes, os, sizeof(os));
		mapfs_human_size(rq.new_bytes, ns, sizeof(ns));
		printf("%s: grown while mounted at %s: %s -> %s (%" PRIu64
		       " blocks, %" PRIu64 " groups), committed\n", a->image,
		       m->dir, os, ns, ng.nblocks, ng.ngroups);
	}
	ret = 0;
out:
	if (fs)
		mapfs_fs_close(fs);
	close(mfd);
	return ret;
}

/* The command line into *a (cleared first). Returns PROG_GO_ON, or the
 * exit status: 0 after -h or -V, 2 for a usage error. */
static int parse_args(int argc, char **argv, struct grow_args *a)
{
	static const char optstring[] = "s:nqhV";
	int c;

	memset(a, 0, sizeof(*a));
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, prog_longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			if (prog_size_opt(PROG, optarg, &a->size_bytes) !=
			    PROG_GO_ON)
				return 2;
			a->have_size = true;
			break;
		case 'n':
			a->dry_run = true;
			break;
		case 'q':
			a->quiet = true;
			break;
		default:	/* -h, -V, and what is not an option of ours */
			return prog_common_opt(PROG, c, optstring,
					       argv[optind - 1], usage);
		}
	}
	return prog_one_image(PROG, argc, argv, usage, &a->image);
}

/* Open the image (read-only for -n) and take the lock a mounted daemon
 * holds, so nothing mounts it while we work: the descriptor, or -1 after
 * saying why. */
static int open_locked(const struct grow_args *a)
{
	int fd;

	fd = open(a->image, (a->dry_run ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", a->image,
			strerror(errno));
		return -1;
	}
	/* The daemon holds an exclusive lock while mounted (a read-only
	 * mount a shared one): either way, not now. */
	{
		char why[512];
		if (mapfs_image_lock(fd, a->image, a->dry_run, NULL, NULL, why,
				     sizeof(why)) < 0) {
			fprintf(stderr, PROG ": %s: %s\n", a->image, why);
			close(fd);
			return -1;
		}
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct grow_args a;
	int fd, ret;

	ret = parse_args(argc, argv, &a);
	if (ret != PROG_GO_ON)
		return ret;
	{
		struct find_mnt m;

		if (mounted_at(a.image, &m))
			return grow_mounted(&a, &m);
	}
	fd = open_locked(&a);
	if (fd < 0)
		return 1;
	ret = grow(&a, fd);
	if (close(fd) < 0 && ret == 0) {
		fprintf(stderr, PROG ": cannot close %s: %s\n", a.image,
			strerror(errno));
		ret = 1;
	}
	return ret;
}
