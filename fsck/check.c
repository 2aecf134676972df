/* SPDX-License-Identifier: MIT */
/*
 * check.c - fsck's driver: open the filesystem (falling back to a
 * superblock copy), run the passes, print the summary, store the
 * superblock and sync, close. fsck.mapfs (main.c) and the fuzzer
 * (tests/fuzz/fuzz_fsck.c) both run a check through these three calls,
 * on a file or on an image in memory (c->mem).
 *
 * With -n the image is opened read-only with a shared lock; with -y and
 * -p read-write with an exclusive lock (MAPFS_OPEN_FSCK either way, so
 * damaged group headers are reported rather than refused). A mounted
 * image holds an exclusive lock and is refused. Repairs are made by the
 * passes as they find problems (problem.c decides which); at the end the
 * superblock is stored (rewriting the primary when it was bad, and the
 * copies when one was), marked clean when nothing was left uncorrected,
 * and the image is synced.
 *
 * fsck keeps no global state: everything is in the struct fsck_ctx.
 */
#include "fsck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void core_log(void *arg, enum mapfs_log_level lvl, const char *msg)
{
	const struct fsck_ctx *c = arg;

	/* The core's own corruption messages repeat what the passes
	 * report, with source locations: only for -vv. */
	if (c->verbose >= 2 && lvl <= MAPFS_LOG_INFO)
		fprintf(stderr, "core: %s\n", msg);
}

/* Open c->image, or attach c->mem when it is set. */
static int fs_open(struct fsck_ctx *c, uint64_t sb_group, int flags,
		   char *why, size_t whylen)
{
	struct mapfs_fs *fs;
	int err;

	flags |= MAPFS_OPEN_FSCK;

	if (c->answer == FSCK_ANSWER_NO)
		flags |= MAPFS_OPEN_RDONLY;
	if (!c->mem)
		return mapfs_fs_open_region(c->image, flags, &c->region,
					    sb_group, core_log, c, &c->fs, why,
					    whylen);
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	err = mapfs_fs_attach(fs, c->mem, c->mem_size, flags, sb_group,
			      core_log, c, why, whylen);
	if (err < 0) {
		free(fs);
		return err;
	}
	c->fs = fs;
	return 0;
}

static int open_image(struct fsck_ctx *c, bool explicit_sb)
{
	char why[256] = "", why1[256] = "";
	int err;

	err = fs_open(c, c->sb_group, 0, why, sizeof(why));
	if (err == 0)
		return 0;
	if (err == -EBUSY) {
		fprintf(stderr, FSCK_PROG ": %s: %s\n", c->image, why);
		return -1;
	}
	if (explicit_sb || err != -EUCLEAN) {
		if (explicit_sb && err == -EUCLEAN)
			fprintf(stderr, FSCK_PROG ": %s: superblock copy in "
				"group %" PRIu64 " is bad: %s\n", c->image,
				c->sb_group, why);
		else
			fprintf(stderr, FSCK_PROG ": cannot open %s: %s\n",
				c->image, why[0] ? why : strerror(-err));
		return -1;
	}
	/* The primary superblock is bad: try the first copy. */
	c->sb_group = 1;
	err = fs_open(c, 1, 0, why1, sizeof(why1));
	if (err < 0) {
		/* No usable copy (a one-group image has none): a primary
		 * whose every field checks out but its checksum is still
		 * the best there is. */
		c->sb_group = 0;
		if (fs_open(c, 0, MAPFS_OPEN_SB_NOCRC, why1,
			    sizeof(why1)) == 0) {
			c->primary_bad = true;
			(void)fsck_problem(c, P0_SB_CRC, "primary superblock: "
					   "%s; no usable copy, but every "
					   "field checks out", why);
			return 0;
		}
		fprintf(stderr, FSCK_PROG ": %s: not a usable mapfs image: "
			"primary superblock bad (%s), copy in group 1 too (%s)"
			"\n", c->image, why, why1[0] ? why1 : strerror(-err));
		return -1;
	}
	fprintf(stderr, FSCK_PROG ": primary superblock bad (%s), using copy "
		"in group 1\n", why);
	c->primary_bad = true;
	/* Fixed by storing the superblock in use as the primary at the
	 * end (finish). */
	(void)fsck_problem(c, P0_SB_PRIMARY_BAD, "primary superblock: %s",
			   why);
	return 0;
}

/* With -b, the primary may still be fine; say if it is not. */
static void check_primary(struct fsck_ctx *c)
{
	const struct mapfs_dsuper *d = (const void *)c->fs->base;
	struct mapfs_geom g0;
	char why[256] = "";

	if (c->primary_bad || c->sb_group == 0)
		return;
	if (mapfs_super_decode(d, c->fs->size, 0, &g0, why, sizeof(why)) != 0) {
		c->primary_bad = true;
		(void)fsck_problem(c, P0_SB_PRIMARY_BAD,
				   "primary superblock: %s", why);
	}
}

/* The journal was replayed when the image was opened (in memory only
 * with -n); a header too damaged to read is a problem of its own. */
static void check_journal(struct fsck_ctx *c)
{
	struct mapfs_fs *fs = c->fs;

	if (fs->replayed)
		printf("%s: journal: %" PRIu64 " operation%s replayed%s\n",
		       c->image, fs->replayed, fs->replayed == 1 ? "" : "s",
		       fsck_writing(c) ? "" : " in memory (-n: the image "
		       "is not changed)");
	if (!fs->journal_bad)
		return;
	if (fsck_problem(c, P0_JOURNAL_BAD, "journal header at block %" PRIu64
			 " is unreadable", fs->g.jstart) &&
	    mapfs_journal_reset(fs) < 0)
		fprintf(stderr, FSCK_PROG ": cannot write the journal header"
			"\n");
}

static const char *state_name(uint32_t state)
{
	switch (state) {
	case MAPFS_STATE_CLEAN: return "clean";
	case MAPFS_STATE_MOUNTED: return "mounted or not cleanly unmounted";
	case MAPFS_STATE_ERROR: return "errors recorded";
	default: return "unknown state";
	}
}

void fsck_close(struct fsck_ctx *c)
{
	if (c->grp) {
		for (uint64_t cg = 0; cg < c->fs->g.ngroups; cg++) {
			free(c->grp[cg].ino);
			free(c->grp[cg].claimed);
			free(c->grp[cg].bbm_pre);
			free(c->grp[cg].ibm_pre);
		}
		free(c->grp);
	}
	free(c->dups);
	free(c->dup_kept);
	free(c->pending);
	if (c->fs)
		mapfs_fs_close(c->fs);	/* a memory image: detach only */
	c->fs = NULL;
}

/*
 * After the passes, read-write only. Unless -p stopped (then only what
 * was repaired so far is synced), store the superblock: its counters
 * (pass 5 set them), an emptied orphan list, the primary rewritten from
 * the copy in use; when nothing was left uncorrected, state CLEAN, the
 * check time and a zero mount count. The copies are rewritten when one
 * was bad. Then sync the image.
 */
static int finish(struct fsck_ctx *c, int ret)
{
	struct mapfs_fs *fs = c->fs;
	int err;

	if (!c->preen_stopped) {
		/* The core's corruption reports during the check are not
		 * news: the problems were reported and repaired. */
		atomic_store(&fs->error, 0);
		if (ret != FSCK_EXIT_UNCORRECTED) {
			fs->state = MAPFS_STATE_CLEAN;
			fs->check_time = mapfs_now().sec;
			fs->mount_count = 0;
		}
		mapfs_super_store(fs);
		if (c->write_copies)
			mapfs_super_store_copies(fs);
	}
	/* A stopped preen leaves the superblock as it was. A memory
	 * image has nothing to sync. */
	err = c->preen_stopped ? (fs->fd >= 0 && fsync(fs->fd) < 0 ? -errno
								  : 0)
			       : mapfs_fs_sync(fs);
	if (err < 0)
		fprintf(stderr, FSCK_PROG ": %s: sync: %s\n", c->image,
			strerror(-err));
	return err;
}

static const struct {
	const char *name;
	int (*run)(struct fsck_ctx *c);
} passes[] = {
	{ "Pass 1: checking inodes, blocks and sizes", fsck_pass1 },
	{ "Pass 1b: rescanning for multiply-claimed blocks", fsck_pass1b },
	{ "Pass 2: checking directory structure", fsck_pass2 },
	{ "Pass 3: checking directory connectivity", fsck_pass3 },
	{ "Pass 4: checking reference counts", fsck_pass4 },
	{ "Pass 5: checking group summaries and bitmaps", fsck_pass5 },
};

int fsck_open(struct fsck_ctx *c, bool explicit_sb)
{
	if (open_image(c, explicit_sb) < 0)
		return -1;
	check_primary(c);
	check_journal(c);
	return 0;
}

/* A clean filesystem is not checked unless forced (or run from a
 * superblock other than a good primary): say so. True if skipped. */
static bool skip_clean(const struct fsck_ctx *c)
{
	const struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;

	if (fs->state != MAPFS_STATE_CLEAN || c->force || c->primary_bad ||
	    c->sb_group != 0)
		return false;
	/* Inodes in use (the reserved ones included) of every inode in the
	 * tables: the total mkfs.mapfs prints and df -i shows. */
	printf("%s: clean, %" PRIu64 "/%" PRIu64 " inodes, %" PRIu64
	       "/%" PRIu64 " blocks\n", c->image,
	       g->ninodes - (fs->sb_free_inodes <= g->ninodes ?
			     fs->sb_free_inodes : g->ninodes),
	       g->ninodes,
	       g->nblocks - (fs->sb_free_blocks <= g->nblocks ?
			     fs->sb_free_blocks : g->nblocks),
	       g->nblocks);
	return true;
}

/* Every pass in order, with -v's counts after each. 0, or -1 when one
 * failed or memory ran out. */
static int run_passes(struct fsck_ctx *c)
{
	static_assert(sizeof(passes) / sizeof(passes[0]) == FSCK_NPASSES,
		      "progress shares");
	c->progress_last = -1;
	for (size_t i = 0; i < sizeof(passes) / sizeof(passes[0]); i++) {
		uint64_t before = c->problems;

		c->progress_pass = (int)i;
		fsck_progress(c, 0, 1);
		fsck_verbose(c, "%s", passes[i].name);
		if (passes[i].run(c) < 0 || c->oom)
			return -1;
		fsck_verbose(c, "  %" PRIu64 " problems", c->problems - before);
		if (i == 0)
			fsck_verbose(c, "  %" PRIu64 " files, %" PRIu64
				     " directories, %" PRIu64
				     " blocks claimed, %zu claimed twice",
				     c->nfiles, c->ndirs, c->nclaimed,
				     c->ndups);
	}
	fsck_progress_end(c);
	return 0;
}

/* The summary lines; returns the exit code they stand for. */
static int summary(const struct fsck_ctx *c)
{
	const struct mapfs_geom *g = &c->fs->g;
	int ret = FSCK_EXIT_OK;

	printf("%s: %" PRIu64 " files, %" PRIu64 " directories, %" PRIu64
	       "/%" PRIu64 " blocks\n", c->image, c->nfiles, c->ndirs,
	       g->nblocks - c->free_blocks, g->nblocks);
	if (c->corrected) {
		printf("%s: %" PRIu64 " problem%s corrected\n", c->image,
		       c->corrected, c->corrected == 1 ? "" : "s");
		ret = FSCK_EXIT_CORRECTED;
	}
	if (c->problems > c->corrected) {
		printf("%s: %" PRIu64 " problem%s left uncorrected\n",
		       c->image, c->problems - c->corrected,
		       c->problems - c->corrected == 1 ? "" : "s");
		ret = FSCK_EXIT_UNCORRECTED;
	}
	return ret;
}

int fsck_check(struct fsck_ctx *c)
{
	struct mapfs_fs *fs = c->fs;
	int ret;

	if (skip_clean(c))
		return FSCK_EXIT_OK;
	if (fs->state != MAPFS_STATE_CLEAN)
		printf("%s: %s, check forced\n", c->image,
		       state_name(fs->state));
	c->open_free_blocks = fs->free_blocks;
	c->open_free_inodes = fs->free_inodes;
	c->open_ndirs = fs->ndirs;
	c->grp = fsck_calloc(c, fs->g.ngroups, sizeof(*c->grp));
	if (!c->grp || run_passes(c) < 0) {
		fprintf(stderr, FSCK_PROG ": %s: out of memory: check not "
			"finished\n", c->image);
		return FSCK_EXIT_OPERROR;
	}
	ret = summary(c);
	if (!(fs->flags & MAPFS_OPEN_RDONLY) && finish(c, ret) < 0)
		return FSCK_EXIT_OPERROR;
	return ret;
}
