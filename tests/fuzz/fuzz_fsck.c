/* SPDX-License-Identifier: MIT */
/*
 * fuzz_fsck.c - fsck.mapfs's checker and repairs on a damaged image.
 *
 * fsck's passes (fsck/pass*.c, problem.c, tables.c, repair.c) are
 * compiled into this target; this file does what fsck/main.c does around them, on a private
 * in-memory copy instead of a mapped file: attach in fsck mode (read-only
 * for -n, read-write for -y and -p), fall back to the superblock copy in
 * group 1 when the primary is bad, note a bad primary, run every pass with
 * a forced check, finish (store the superblock) when read-write, and free
 * the tables. The answer comes from the input (FZ_F_ANSWER bits). fsck
 * keeps no global state: everything is in the struct fsck_ctx made here
 * for each input. stdout (the problem report) goes to /dev/null unless
 * MAPFS_FUZZ_VERBOSE is set.
 *
 * With MAPFS_FUZZ_FSCK_TWICE=1 a run that repaired everything (exit 1) is
 * followed by a -n run on the result, which must find nothing: that
 * checks the repairs, not only memory safety (a finding aborts).
 *
 * main.c's static helpers (open_image, check_primary, free_ctx, finish)
 * are copied here; keep them in step with it.
 */
#include "fuzz_common.h"
#include "fsck.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* main.c's fs_open, on memory. */
static int attach(struct fsck_ctx *c, uint8_t *img, uint64_t size,
		  uint64_t sb_group, char *why, size_t whylen)
{
	struct mapfs_fs *fs = calloc(1, sizeof(*fs));
	int flags = MAPFS_OPEN_FSCK, err;

	if (!fs)
		return -ENOMEM;
	if (c->answer == FSCK_ANSWER_NO)
		flags |= MAPFS_OPEN_RDONLY;
	err = mapfs_fs_attach(fs, img, size, flags, sb_group, NULL, NULL, why,
			      whylen);
	if (err < 0) {
		free(fs);
		return err;
	}
	c->fs = fs;
	return 0;
}

/* main.c's open_image, on memory. */
static int open_image(struct fsck_ctx *c, uint8_t *img, uint64_t size,
		      bool explicit_sb)
{
	char why[256] = "", why1[256] = "";
	int err = attach(c, img, size, c->sb_group, why, sizeof(why));

	if (err == 0)
		return 0;
	if (explicit_sb || err != -EUCLEAN)
		return -1;
	c->sb_group = 1;
	if (attach(c, img, size, 1, why1, sizeof(why1)) < 0)
		return -1;
	c->primary_bad = true;
	(void)fsck_problem(c, P0_SB_PRIMARY_BAD, "primary superblock: %s",
			   why);
	return 0;
}

/* main.c's check_primary. */
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

/* main.c's free_ctx. */
static void free_ctx(struct fsck_ctx *c)
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
		mapfs_fs_close(c->fs);	/* memory image: detach and free */
}

/* main.c's finish: store the superblock after a read-write run (a memory
 * image has nothing to sync). */
static void finish(struct fsck_ctx *c, int ret)
{
	struct mapfs_fs *fs = c->fs;

	if (c->preen_stopped)
		return;
	atomic_store(&fs->error, 0);
	if (ret != FSCK_EXIT_UNCORRECTED) {
		fs->state = MAPFS_STATE_CLEAN;
		fs->check_time = 1700000000;
		fs->mount_count = 0;
	}
	mapfs_super_store(fs);
	if (c->write_copies)
		mapfs_super_store_copies(fs);
}

static int (*const passes[])(struct fsck_ctx *c) = {
	fsck_pass1, fsck_pass1b, fsck_pass2, fsck_pass3, fsck_pass4,
	fsck_pass5,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_stdout();
	return 0;
}

/* One fsck run over img, as main() makes it. Returns fsck's exit code
 * (FSCK_EXIT_*). */
static int run_fsck(uint8_t *img, uint64_t isize, enum fsck_answer answer,
		    bool sbcopy, uint64_t *problemsp)
{
	struct fsck_ctx c;
	int ret = FSCK_EXIT_OPERROR;

	memset(&c, 0, sizeof(c));
	c.image = "fuzz";
	c.force = true;
	c.answer = answer;
	c.sb_group = sbcopy ? 1 : 0;
	*problemsp = 0;
	if (open_image(&c, img, isize, sbcopy) < 0)
		return FSCK_EXIT_OPERROR;
	check_primary(&c);
	c.open_free_blocks = c.fs->free_blocks;
	c.open_free_inodes = c.fs->free_inodes;
	c.open_ndirs = c.fs->ndirs;
	c.grp = fsck_calloc(&c, c.fs->g.ngroups, sizeof(*c.grp));
	if (!c.grp)
		goto out;
	for (size_t i = 0; i < sizeof(passes) / sizeof(passes[0]); i++)
		if (passes[i](&c) < 0 || c.oom)
			goto out;
	ret = FSCK_EXIT_OK;
	if (c.corrected)
		ret = FSCK_EXIT_CORRECTED;
	if (c.problems > c.corrected)
		ret = FSCK_EXIT_UNCORRECTED;
	if (!(c.fs->flags & MAPFS_OPEN_RDONLY))
		finish(&c, ret);
	*problemsp = c.problems;
out:
	free_ctx(&c);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum fsck_answer answers[4] = {
		FSCK_ANSWER_NO, FSCK_ANSWER_YES, FSCK_ANSWER_PREEN,
		FSCK_ANSWER_YES };
	unsigned flags, knob;
	uint64_t isize, problems, problems2;
	uint8_t *img;
	int ret;

	img = fz_image_from_input(data, size, &isize, &flags, &knob);
	if (!img)
		return 0;
	ret = run_fsck(img, isize, answers[(flags & FZ_F_ANSWER) >> 4],
		       flags & FZ_F_SBCOPY, &problems);
	if (ret == FSCK_EXIT_CORRECTED && getenv("MAPFS_FUZZ_FSCK_TWICE")) {
		/* Everything was repaired: a check must now find nothing. */
		ret = run_fsck(img, isize, FSCK_ANSWER_NO, false, &problems2);
		if (ret != FSCK_EXIT_OK) {
			fflush(stdout);
			fprintf(stderr, "fuzz_fsck: after %llu problems all "
				"repaired, a second run exits %d with %llu "
				"problems\n", (unsigned long long)problems,
				ret, (unsigned long long)problems2);
			abort();
		}
	}
	free(img);
	return 0;
}
