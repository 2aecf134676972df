/* SPDX-License-Identifier: MIT */
/*
 * main.c - fsck.mapfs's command line: parse the options, then open, check
 * and close through the driver (check.c).
 *
 *   fsck.mapfs [-n|-y|-p] [-f] [-v] [-C] [-b GROUP] [-o REGION] IMAGE
 *
 * Exit codes (fsck(8)): 0 clean, 1 errors corrected, 4 errors left
 * uncorrected, 8 operational error, 16 usage error.
 */
#include "fsck.h"
#include "mapfs_cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " FSCK_PROG " [-n|-y|-p] [-f] [-v] [-C] [-b GROUP] "
		"[-o offset=BYTES[,size=BYTES]] IMAGE\n"
		"Check a mapfs filesystem.\n"
		"\n"
		"  -n        answer no to every repair (read-only check)\n"
		"  -y        answer yes to every repair\n"
		"  -p        preen: repair only what a crash can leave\n"
		"  -f        check even if the filesystem is marked clean\n"
		"  -v        verbose: name each pass and its counts\n"
		"  -C        show a progress percentage on stderr (the\n"
		"            default when stderr is a terminal, except with -p)\n"
		"  -b GROUP  use the superblock copy in GROUP (1, 3, 5, 7, 9, "
		"...)\n"
		"  -o offset=BYTES[,size=BYTES]\n"
		"            check the filesystem that starts at BYTES of IMAGE\n"
		"  -h, --help     this help\n"
		"  -V, --version  print the version\n"
		"\n"
		"-p repairs only what an interrupted run can leave (leaked "
		"blocks and\ninodes, link counts too high, bitmap and summary "
		"mismatches, stale\nchecksums); anything else stops the "
		"repairs and exits 4.\n"
		"Exit status: 0 clean, 1 errors corrected, 4 errors left "
		"uncorrected,\n8 operational error, 16 usage error.\n");
}

/*
 * The command line into c (and *explicit_sb for -b). Returns -1 to go on
 * with the check, else the exit code to end with now: 0 after --help or
 * --version, FSCK_EXIT_USAGE after saying what is wrong.
 */
static int parse(struct fsck_ctx *c, bool *explicit_sb, int argc,
		 char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const char optstring[] = "nypfvCb:o:hV";
	bool opt_n = false, opt_y = false, opt_p = false;
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, optstring, longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'n': opt_n = true; break;
		case 'y': opt_y = true; break;
		case 'p': opt_p = true; break;
		case 'f': c->force = true; break;
		case 'v': c->verbose++; break;
		case 'C': c->progress = true; break;
		case 'b':
			if (!mapfs_cli_sb_group(FSCK_PROG, optarg,
						&c->sb_group))
				return FSCK_EXIT_USAGE;
			*explicit_sb = true;
			break;
		case 'o':
			if (!mapfs_cli_region(FSCK_PROG, optarg, &c->region))
				return FSCK_EXIT_USAGE;
			break;
		case 'h':
			usage(stdout);
			return FSCK_EXIT_OK;
		case 'V':
			printf(FSCK_PROG " " MAPFS_VERSION_STRING "\n");
			return FSCK_EXIT_OK;
		default:
			mapfs_opt_error(FSCK_PROG, optstring, argv[optind - 1]);
			usage(stderr);
			return FSCK_EXIT_USAGE;
		}
	}
	if (opt_n + opt_y + opt_p > 1) {
		fprintf(stderr, FSCK_PROG ": only one of -n, -y and -p may be "
			"given\n");
		return FSCK_EXIT_USAGE;
	}
	if (optind != argc - 1) {
		fprintf(stderr, FSCK_PROG ": %s\n", optind >= argc ?
			"no image given" : "too many arguments");
		usage(stderr);
		return FSCK_EXIT_USAGE;
	}
	c->image = argv[optind];
	c->answer = opt_y ? FSCK_ANSWER_YES :
		    opt_p ? FSCK_ANSWER_PREEN : FSCK_ANSWER_NO;
	/* Progress only where someone watches: -C, or a terminal (and not
	 * preen, which boot scripts run for many filesystems at once). */
	if (!opt_p && isatty(STDERR_FILENO))
		c->progress = true;
	return -1;
}

int main(int argc, char **argv)
{
	struct fsck_ctx c;
	bool explicit_sb = false;
	int ret;

	memset(&c, 0, sizeof(c));
	ret = parse(&c, &explicit_sb, argc, argv);
	if (ret >= 0)
		return ret;
	if (fsck_open(&c, explicit_sb) < 0)
		return FSCK_EXIT_OPERROR;
	ret = fsck_check(&c);
	fsck_close(&c);
	return ret;
}
