/* SPDX-License-Identifier: MIT */
/*
 * common.h - command-line pieces mkfs.mapfs and growfs.mapfs share
 * (common.c): --help and --version, unknown options, the one IMAGE
 * argument, a -s SIZE. Messages go to stderr prefixed with the program's
 * name; results are exit statuses (0 done, 2 usage error) or PROG_GO_ON.
 */
#ifndef MAPFS_MKFS_COMMON_H
#define MAPFS_MKFS_COMMON_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#define PROG_GO_ON (-1)	/* carry on: the option or argument is taken */

/* getopt_long's long options: --help (as -h) and --version (as -V). */
extern const struct option prog_longopts[];

/* -h: usage on stdout, 0; -V: "PROG VERSION", 0; any other c (an option
 * not in optstring, or one missing its value; given: the word as typed):
 * said, usage on stderr, 2. */
int prog_common_opt(const char *prog, int c, const char *optstring,
		    const char *given, void (*usage)(FILE *));

/* After the options, exactly one argument, the image: *imagep, and
 * PROG_GO_ON; else said, usage on stderr, 2. */
int prog_one_image(const char *prog, int argc, char **argv,
		   void (*usage)(FILE *), const char **imagep);

/* -s SIZE (bytes, K/M/G/T suffixes, not 0) into *bytes: PROG_GO_ON, or
 * said and 2. */
int prog_size_opt(const char *prog, const char *arg, uint64_t *bytes);

#endif
