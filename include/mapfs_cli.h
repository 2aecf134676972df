/* SPDX-License-Identifier: MIT */
/*
 * mapfs_cli.h - helpers for the programs' command lines (fs/cli.c, the
 * mapfs-cli library): not part of the core, which never prints.
 */
#ifndef MAPFS_CLI_H
#define MAPFS_CLI_H

#include "mapfs.h"

#include <stdbool.h>

/* Parse "offset=BYTES[,size=BYTES]" (K, M, G, T suffixes) into *r. */
int mapfs_region_parse(const char *opts, struct mapfs_region *r, char *why,
		       size_t whylen);
/* "16M" -> 16777216: K, M, G, T (optionally with "B" or "iB") are powers
 * of 1024; no suffix means bytes. -EINVAL or -ERANGE. */
int mapfs_parse_size(const char *s, uint64_t *out);
/* The tools' message for getopt's '?' (opterr = 0): a missing argument
 * or an unknown option (arg: the word getopt stopped at). */
void mapfs_opt_error(const char *prog, const char *optstring,
		     const char *arg);
/* "512.0 MiB" (powers of 1024; "123 B" below 1 KiB) into out. */
void mapfs_human_size(uint64_t bytes, char *out, size_t len);

/* -b GROUP: a group holding a superblock copy (1 or a power of 3, 5 or
 * 7) into *group. False after saying why on stderr ("PROG: bad
 * superblock group ..."). */
bool mapfs_cli_sb_group(const char *prog, const char *arg, uint64_t *group);
/* -o offset=BYTES[,size=BYTES] into *r. False after saying why on stderr
 * ("PROG: -o ARG: why"). */
bool mapfs_cli_region(const char *prog, const char *arg,
		      struct mapfs_region *r);

/* Uuids, as people write them: 8-4-4-4-12 hex digits
 * ("0f8fad5b-d9cb-469f-a165-70867728950e"). Parse: 0 or -EINVAL. */
int mapfs_uuid_parse(const char *s, uint8_t uuid[16]);
/* The canonical lowercase form into out (37 bytes with the NUL). */
void mapfs_uuid_format(const uint8_t uuid[16], char out[37]);
/* A version 4 (random) uuid from the kernel's generator: 0 or -errno. */
int mapfs_uuid_random(uint8_t uuid[16]);
/* A version 1 (time) uuid: the clock in 100 ns units since 1582-10-15,
 * a random clock sequence and a random node (multicast bit set, as RFC
 * 9562 asks when no MAC address is used): 0 or -errno. */
int mapfs_uuid_time(uint8_t uuid[16]);

#endif
