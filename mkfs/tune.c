/* SPDX-License-Identifier: MIT */
/*
 * tune.c - tune.mapfs: change a made, unmounted mapfs filesystem, as
 * tune2fs and e2label do for ext4.
 *
 *   tune.mapfs [-L LABEL] [-U UUID|random|time] [-m PCT] [-j [SIZE]] [-l]
 *              IMAGE
 *
 * A thin program around the core: parse, lock the image (the exclusive
 * flock a mounted daemon holds: a mounted image is refused, with its
 * mount point and the daemon's pid when they can be seen), open it
 * (with the journal running when it has one, so the change is one
 * journaled operation), check every change before writing anything
 * (mapfs_tune_check), apply them (mapfs_tune: the superblock and every
 * copy, synced; a journal added in free blocks), then -l lists the
 * superblock with dumpfs.mapfs's code (dump/sbprint.c).
 *
 * Not here: default mount options (tune2fs -o, -c, -E): the format has no
 * field for them (docs/FORMAT.md); -c and -o say so.
 *
 * Exit codes: 0 done, 1 refused or failed (nothing changed unless the
 * message says so), 2 usage error.
 */
#include "mapfs.h"
#include "mapfs_cli.h"
#include "common.h"
#include "out.h"
#include "sbprint.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG "tune.mapfs"

struct tune_args {
	const char *image;
	struct mapfs_tune t;
	bool list;
	const char *uuid_how;	/* -U as given */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [options] IMAGE\n"
		"Change the mapfs filesystem in IMAGE, which must not be "
		"mounted.\n"
		"\n"
		"  -L LABEL    set the volume label (at most %u bytes; \"\" "
		"clears it)\n"
		"  -U UUID     set the uuid: 8-4-4-4-12 hex digits, 'random' "
		"or 'time'\n"
		"  -m PCT      blocks reserved for root, percent of the data "
		"blocks (0-50)\n"
		"  -j [SIZE]   add a metadata journal to an image made without "
		"one\n"
		"              (SIZE: suffixes K, M, G; default as mkfs: 1/64 "
		"of the\n"
		"              filesystem, 1M to 64M)\n"
		"  -l          list the superblock (after the changes), as "
		"dumpfs.mapfs -s\n"
		"  -h, --help     this help\n"
		"  -V, --version  print the version\n",
		MAPFS_LABEL_MAX);
}

static void core_log(void *arg, enum mapfs_log_level lvl, const char *msg)
{
	(void)arg;
	if (lvl <= MAPFS_LOG_WARN)
		fprintf(stderr, PROG ": %s\n", msg);
}

static int parse_uuid_arg(const char *arg, uint8_t uuid[16])
{
	int err;

	if (!strcmp(arg, "random"))
		err = mapfs_uuid_random(uuid);
	else if (!strcmp(arg, "time"))
		err = mapfs_uuid_time(uuid);
	else if (mapfs_uuid_parse(arg, uuid) == 0)
		return 0;
	else {
		fprintf(stderr, PROG ": bad uuid '%s': use 8-4-4-4-12 hex "
			"digits (like 0f8fad5b-d9cb-469f-a165-70867728950e), "
			"'random' or 'time'\n", arg);
		return 2;
	}
	if (err < 0) {
		fprintf(stderr, PROG ": cannot make a uuid: %s\n",
			strerror(-err));
		return 1;
	}
	return 0;
}

static int parse_pct(const char *arg, uint32_t *pct)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v > 50) {
		fprintf(stderr, PROG ": bad reserved percentage '%s': a whole "
			"number from 0 to 50\n", arg);
		return 2;
	}
	*pct = (uint32_t)v;
	return 0;
}

/* The command line into *a (cleared first). Returns PROG_GO_ON, or the
 * exit status: 0 after -h or -V, 1 or 2 for an error. */
static int parse_args(int argc, char **argv, struct tune_args *a)
{
	static const char optstring[] = ":L:U:m:j::lc:o:hV";
	int c, r;

	memset(a, 0, sizeof(*a));
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, prog_longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'L':
			if (strlen(optarg) > MAPFS_LABEL_MAX) {
				fprintf(stderr, PROG ": label too long (%zu "
					"bytes): at most %u bytes\n",
					strlen(optarg), MAPFS_LABEL_MAX);
				return 2;
			}
			snprintf(a->t.label, sizeof(a->t.label), "%s", optarg);
			a->t.set_label = true;
			break;
		case 'U':
			r = parse_uuid_arg(optarg, a->t.uuid);
			if (r)
				return r;
			a->uuid_how = optarg;
			a->t.set_uuid = true;
			break;
		case 'm':
			if (parse_pct(optarg, &a->t.minfree_pct))
				return 2;
			a->t.set_minfree = true;
			break;
		case 'j':
			/* "-j 8M IMAGE": the size may be the next word when
			 * one more (the image) follows it. */
			if (!optarg && optind < argc - 1 &&
			    mapfs_parse_size(argv[optind],
					     &a->t.journal_bytes) == 0)
				optind++;
			else if (optarg && prog_size_opt(PROG, optarg,
					&a->t.journal_bytes) != PROG_GO_ON)
				return 2;
			a->t.add_journal = true;
			break;
		case 'l':
			a->list = true;
			break;
		case 'c':
		case 'o':
			fprintf(stderr, PROG ": -%c: the mapfs format has no "
				"field for default mount options or a commit "
				"interval; give them at mount (mapfs(8))\n", c);
			return 2;
		case ':':
			fprintf(stderr, PROG ": option -%c needs a value\n",
				optopt);
			usage(stderr);
			return 2;
		default:	/* -h, -V, and what is not an option of ours */
			return prog_common_opt(PROG, c, optstring,
					       argv[optind - 1], usage);
		}
	}
	r = prog_one_image(PROG, argc, argv, usage, &a->image);
	if (r != PROG_GO_ON)
		return r;
	if (!a->t.set_label && !a->t.set_uuid && !a->t.set_minfree &&
	    !a->t.add_journal && !a->list) {
		fprintf(stderr, PROG ": nothing to do: give -L, -U, -m, -j or "
			"-l\n");
		usage(stderr);
		return 2;
	}
	return PROG_GO_ON;
}

static bool changes(const struct tune_args *a)
{
	return a->t.set_label || a->t.set_uuid || a->t.set_minfree ||
	       a->t.add_journal;
}

/* Open the image and take the lock a mounted daemon holds, so nothing
 * mounts it while we work: the descriptor, or -1 after saying why. -l
 * alone lists a mounted image without the lock, after a warning. */
static int open_locked(const struct tune_args *a)
{
	bool rdonly = !changes(a);
	char why[512] = "", mnt[4096];
	long pid;
	int fd;

	fd = open(a->image, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", a->image,
			strerror(errno));
		return -1;
	}
	if (mapfs_image_lock(fd, a->image, rdonly, NULL, NULL, why,
			     sizeof(why)) == 0)
		return fd;
	if (rdonly && mapfs_image_holder(a->image, fd, mnt, sizeof(mnt),
					 &pid) == 1) {
		/* -l alone, as tune2fs -l and dumpfs: read without the
		 * lock; the daemon may be changing what we read. */
		fprintf(stderr, PROG ": %s is mounted at %s: listing it "
			"without the lock; the counts may be out of date\n",
			a->image, mnt);
		return fd;
	}
	if (mapfs_image_holder(a->image, fd, mnt, sizeof(mnt), &pid) == 1) {
		fprintf(stderr, PROG ": %s is mounted at %s", a->image, mnt);
		if (pid > 0)
			fprintf(stderr, " (mapfs pid %ld)", pid);
		fprintf(stderr, ": unmount it first (" PROG " changes only "
			"an unmounted image; its daemon holds the image "
			"lock)\n");
	} else {
		fprintf(stderr, PROG ": %s: %s\n", a->image, why);
	}
	close(fd);
	return -1;
}

static void list_problem(void *arg, const char *msg)
{
	struct out *o = arg;

	out_line(o, "*** problem: %s", msg);
}

static void list(const struct mapfs_fs *fs)
{
	struct out o;

	out_init(&o, stdout, false);
	out_obj_begin(&o, NULL, NULL);
	sbprint_superblock(&o, fs, 0, NULL, list_problem, &o);
	out_obj_end(&o);
}

static void say_done(const struct tune_args *a, const struct mapfs_fs *fs)
{
	char us[37];

	if (a->t.set_label)
		printf("%s: label set to '%s'\n", a->image, fs->label);
	if (a->t.set_uuid) {
		mapfs_uuid_format(fs->uuid, us);
		printf("%s: uuid set to %s (checksum seed 0x%08x kept)\n",
		       a->image, us, fs->g.seed);
	}
	if (a->t.set_minfree)
		printf("%s: %u%% reserved for root: %" PRIu64 " blocks\n",
		       a->image, fs->g.minfree_pct, fs->g.reserved_blocks);
	if (a->t.add_journal)
		printf("%s: journal added: %" PRIu64 " blocks (%" PRIu64
		       " KiB) at block %" PRIu64 "\n", a->image, fs->g.jblocks,
		       (fs->g.jblocks << fs->g.bshift) / 1024, fs->g.jstart);
}

/* Attach to the image (our lock is held: MAPFS_OPEN_NOLOCK). 0, or -1
 * after saying why. */
static int open_fs(const struct tune_args *a, int flags,
		   struct mapfs_fs **fsp)
{
	char why[512] = "";
	int err;

	err = mapfs_fs_open(a->image, flags | MAPFS_OPEN_NOLOCK, 0, core_log,
			    NULL, fsp, why, sizeof(why));
	if (err < 0) {
		fprintf(stderr, PROG ": %s: %s\n", a->image,
			why[0] ? why : strerror(-err));
		*fsp = NULL;
		return -1;
	}
	return 0;
}

static int run(const struct tune_args *a)
{
	struct mapfs_fs *fs = NULL;
	char why[512] = "";
	int fd, err, ret = 1;

	fd = open_locked(a);
	if (fd < 0)
		return 1;
	/* Checked on a plain open, which writes nothing to a clean image
	 * (a journaled open starts a new journal epoch and drops the
	 * free-zeroed mark): a refusal leaves every byte as it was. */
	if (open_fs(a, changes(a) ? 0 : MAPFS_OPEN_RDONLY, &fs) < 0)
		goto out;
	if (changes(a)) {
		err = mapfs_tune_check(fs, &a->t, why, sizeof(why));
		if (err < 0) {
			fprintf(stderr, PROG ": %s: %s; nothing changed\n",
				a->image, why[0] ? why : strerror(-err));
			goto out;
		}
		/* With a journal the change is one journaled operation
		 * (our lock covers both opens). */
		if ((fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL) &&
		    !a->t.add_journal) {
			mapfs_fs_close(fs);
			if (open_fs(a, MAPFS_OPEN_JOURNAL, &fs) < 0)
				goto out;
		}
		err = mapfs_tune(fs, &a->t, why, sizeof(why));
		if (err < 0) {
			fprintf(stderr, PROG ": %s: %s\n", a->image,
				why[0] ? why : strerror(-err));
			goto out;
		}
		say_done(a, fs);
	}
	if (a->list)
		list(fs);
	ret = 0;
out:
	if (fs)
		mapfs_fs_close(fs);
	if (close(fd) < 0 && ret == 0) {
		fprintf(stderr, PROG ": cannot close %s: %s\n", a->image,
			strerror(errno));
		ret = 1;
	}
	return ret;
}

int main(int argc, char **argv)
{
	struct tune_args a;
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret != PROG_GO_ON)
		return ret;
	ret = run(&a);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": error writing the output\n");
		ret = 1;
	}
	return ret;
}
