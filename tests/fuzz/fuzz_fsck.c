/* SPDX-License-Identifier: MIT */
/*
 * fuzz_fsck.c - fsck.mapfs's checker on a damaged image.
 *
 * fsck's passes (fsck/pass*.c, problem.c, util.c) are compiled into this
 * target; this file does what fsck/main.c does around them, on a private
 * in-memory copy instead of a mapped file: attach read-only in fsck mode,
 * fall back to the superblock copy in group 1 when the primary is bad,
 * note a bad primary, then run every pass with a forced check and free
 * the tables. fsck keeps no global state: everything is in the
 * struct fsck_ctx made here for each input. stdout (the problem report)
 * goes to /dev/null unless MAPFS_FUZZ_VERBOSE is set.
 */
#include "fuzz_common.h"
#include "fsck.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int attach(struct fsck_ctx *c, uint8_t *img, uint64_t size,
		  uint64_t sb_group, char *why, size_t whylen)
{
	struct mapfs_fs *fs = calloc(1, sizeof(*fs));
	int err;

	if (!fs)
		return -ENOMEM;
	err = mapfs_fs_attach(fs, img, size,
			      MAPFS_OPEN_RDONLY | MAPFS_OPEN_FSCK, sb_group,
			      NULL, NULL, why, whylen);
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
	fsck_problem(c, P0_SB_PRIMARY_BAD, "primary superblock: %s", why);
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
		fsck_problem(c, P0_SB_PRIMARY_BAD, "primary superblock: %s",
			     why);
	}
}

/* main.c's free_ctx. */
static void free_ctx(struct fsck_ctx *c)
{
	if (c->grp) {
		for (uint64_t cg = 0; cg < c->fs->g.ngroups; cg++) {
			free(c->grp[cg].ino);
			free(c->grp[cg].claimed);
		}
		free(c->grp);
	}
	free(c->dups);
	if (c->fs)
		mapfs_fs_close(c->fs);	/* memory image: detach and free */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsck_ctx c;
	unsigned flags, knob;
	uint64_t isize;
	uint8_t *img;

	img = fz_image_from_input(data, size, &isize, &flags, &knob);
	if (!img)
		return 0;
	memset(&c, 0, sizeof(c));
	c.image = "fuzz";
	c.force = true;
	c.answer = FSCK_ANSWER_NO;
	c.sb_group = (flags & FZ_F_SBCOPY) ? 1 : 0;
	if (open_image(&c, img, isize, c.sb_group != 0) == 0) {
		check_primary(&c);
		c.grp = fsck_calloc(&c, c.fs->g.ngroups, sizeof(*c.grp));
		for (size_t i = 0; c.grp && i < sizeof(passes) /
			sizeof(passes[0]); i++)
			if (passes[i](&c) < 0 || c.oom)
				break;
		free_ctx(&c);
	}
	free(img);
	return 0;
}
