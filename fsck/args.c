/* SPDX-License-Identifier: MIT */
/*
 * args.c - option arguments that fsck.mapfs shares with dumpfs.mapfs
 * (-b GROUP, -o REGION), parsed with the message a bad one gets.
 *
 * These are program helpers, not fsck's: they belong with the programs'
 * other command-line helpers (fs/cli.c, include/mapfs_cli.h), where
 * dump/dumpfs.c can call them instead of its own copy of the same lines.
 * They print; the core never does.
 */
#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

bool mapfs_cli_sb_group(const char *prog, const char *arg, uint64_t *group)
{
	char *end;

	errno = 0;
	*group = strtoull(arg, &end, 10);
	if (errno || *end || arg[0] == '-' || *group == 0 ||
	    !mapfs_group_has_sb(*group)) {
		fprintf(stderr, "%s: bad superblock group '%s': copies are in "
			"groups 1 and the powers of 3, 5 and 7\n", prog, arg);
		return false;
	}
	return true;
}

bool mapfs_cli_region(const char *prog, const char *arg,
		      struct mapfs_region *r)
{
	char why[160] = "";

	if (mapfs_region_parse(arg, r, why, sizeof(why)) < 0) {
		fprintf(stderr, "%s: -o %s: %s\n", prog, arg, why);
		return false;
	}
	return true;
}
