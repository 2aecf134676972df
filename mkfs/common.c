/* SPDX-License-Identifier: MIT */
/*
 * common.c - command-line pieces mkfs.mapfs and growfs.mapfs share (see
 * common.h). Only what both programs say word for word lives here.
 */
#include "common.h"

#include "mapfs.h"
#include "mapfs_cli.h"

#include <stddef.h>

const struct option prog_longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

int prog_common_opt(const char *prog, int c, const char *optstring,
		    const char *given, void (*usage)(FILE *))
{
	switch (c) {
	case 'h':
		usage(stdout);
		return 0;
	case 'V':
		printf("%s %s\n", prog, MAPFS_VERSION_STRING);
		return 0;
	default:
		mapfs_opt_error(prog, optstring, given);
		usage(stderr);
		return 2;
	}
}

int prog_one_image(const char *prog, int argc, char **argv,
		   void (*usage)(FILE *), const char **imagep)
{
	if (optind != argc - 1) {
		fprintf(stderr, "%s: %s\n", prog, optind >= argc ?
			"no image given" : "too many arguments");
		usage(stderr);
		return 2;
	}
	*imagep = argv[optind];
	return PROG_GO_ON;
}

int prog_size_opt(const char *prog, const char *arg, uint64_t *bytes)
{
	if (mapfs_parse_size(arg, bytes) < 0 || *bytes == 0) {
		fprintf(stderr, "%s: bad size '%s': use a number with an "
			"optional K, M, G or T suffix\n", prog, arg);
		return 2;
	}
	return PROG_GO_ON;
}
