/* SPDX-License-Identifier: MIT */
/*
 * fuzz_fsck.c - fsck.mapfs's checker and repairs on a damaged image.
 *
 * The target links fsck's library (fsck/: the driver check.c, the passes,
 * the repairs) and runs a check through the same calls as fsck/main.c
 * (fsck_open, fsck_check, fsck_close), on a private in-memory copy of the
 * image (c.mem) instead of a mapped file: attach in fsck mode (read-only
 * for -n, read-write for -y and -p), fall back to the superblock copy in
 * group 1 when the primary is bad, report a bad primary and journal
 * header, run every pass with a forced check, store the superblock when
 * read-write, and free the tables. The answer comes from the input
 * (FZ_F_ANSWER bits). fsck keeps no global state: everything is in the
 * struct fsck_ctx made here for each input. stdout (the problem report)
 * goes to /dev/null unless MAPFS_FUZZ_VERBOSE is set; what fsck.mapfs
 * says on stderr (an image it cannot open) is said here too.
 *
 * With MAPFS_FUZZ_FSCK_TWICE=1 a run that repaired everything (exit 1) is
 * followed by a -n run on the result, which must find nothing: that
 * checks the repairs, not only memory safety (a finding aborts).
 */
#include "fuzz_common.h"
#include "fsck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_stdout();
	return 0;
}

/* One fsck run over img, as fsck.mapfs -f makes it (through fsck's
 * driver, check.c). Returns fsck's exit code (FSCK_EXIT_*). */
static int run_fsck(uint8_t *img, uint64_t isize, enum fsck_answer answer,
		    bool sbcopy, uint64_t *problemsp)
{
	struct fsck_ctx c;
	int ret = FSCK_EXIT_OPERROR;

	memset(&c, 0, sizeof(c));
	c.image = "fuzz";
	c.mem = img;
	c.mem_size = isize;
	c.force = true;
	c.answer = answer;
	c.sb_group = sbcopy ? 1 : 0;
	if (fsck_open(&c, sbcopy) == 0)
		ret = fsck_check(&c);
	*problemsp = c.problems;
	fsck_close(&c);
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
