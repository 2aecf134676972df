/* SPDX-License-Identifier: MIT */
/*
 * args.h - option arguments shared by the programs (args.c; to join
 * include/mapfs_cli.h).
 */
#ifndef MAPFS_FSCK_ARGS_H
#define MAPFS_FSCK_ARGS_H

#include "mapfs.h"

#include <stdbool.h>
#include <stdint.h>

/* -b GROUP: a group holding a superblock copy (1 or a power of 3, 5 or
 * 7) into *group. False after saying why on stderr ("PROG: bad
 * superblock group ..."). */
bool mapfs_cli_sb_group(const char *prog, const char *arg, uint64_t *group);
/* -o offset=BYTES[,size=BYTES] into *r. False after saying why on stderr
 * ("PROG: -o ARG: why"). */
bool mapfs_cli_region(const char *prog, const char *arg,
		      struct mapfs_region *r);

#endif /* MAPFS_FSCK_ARGS_H */
