/* SPDX-License-Identifier: MIT */
/* Formatting an image file, for the unit tests (helpers.c) and the
 * power-loss simulator (tests/power/powersim.c): no cmocka in here. */
#ifndef MAPFS_TEST_IMGFILE_H
#define MAPFS_TEST_IMGFILE_H

#include <stddef.h>

#include "mapfs.h"

/* Options for a test image: size bytes, a journal of journal bytes (0:
 * none), no root reserve, the fixed creation time time; the rest zero
 * (defaults). */
void test_format_opts(struct mapfs_format_opts *o, uint64_t size,
		      uint64_t journal, int64_t time);
/* Size the open file fd to o->size_bytes, map it and format it with the
 * options o. 0, or -1 with the reason in why (whylen bytes). */
int test_format_fd(int fd, const struct mapfs_format_opts *o, char *why,
		   size_t whylen);

#endif
