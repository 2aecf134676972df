/* SPDX-License-Identifier: MIT */
/* imgfile.c - format an image file (see imgfile.h); shared by the unit
 * tests and the power-loss simulator, so it reports errors instead of
 * failing a test. */
#include "imgfile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void test_format_opts(struct mapfs_format_opts *o, uint64_t size,
		      uint64_t journal, int64_t time)
{
	memset(o, 0, sizeof(*o));
	o->size_bytes = size;
	o->minfree_pct = 0;
	o->journal_bytes = journal;
	o->time = time;
}

int test_format_fd(int fd, const struct mapfs_format_opts *o, char *why,
		   size_t whylen)
{
	uint64_t size = o->size_bytes;
	struct mapfs_geom g;
	void *base;
	int err = -1;

	if (ftruncate(fd, (off_t)size) < 0) {
		snprintf(why, whylen, "ftruncate: %s", strerror(errno));
		return -1;
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		snprintf(why, whylen, "mmap: %s", strerror(errno));
		return -1;
	}
	if (mapfs_format_plan(o, &g, why, whylen) == 0 &&
	    mapfs_format(base, size, o, &g, why, whylen) == 0)
		err = 0;
	munmap(base, size);
	return err;
}
