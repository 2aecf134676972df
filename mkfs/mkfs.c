/* SPDX-License-Identifier: MIT */
/*
 * mkfs.c - mkfs.mapfs: lay out a fresh mapfs filesystem in an image file
 * or block device.
 *
 * A thin program around the core: parse options, mapfs_format_plan()
 * (pure arithmetic), print the plan, then map the image and call
 * mapfs_format(). It knows no byte layout: everything about the format is
 * in the core. It never reads or writes the whole image, so formatting a
 * sparse 1 TiB file takes as long as writing its metadata.
 *
 * Exit codes: 0 success, 1 runtime error, 2 usage error.
 */
#include "mapfs.h"
#include "mapfs_cli.h"
#include "mapfs_populate.h"
#include "common.h"

#include <blkid/blkid.h>
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROG "mkfs.mapfs"

/* How many superblock copy locations to list before summarizing. */
#define SB_LIST_MAX 12

struct mkfs_args {
	const char *image;
	uint64_t size_bytes;	/* 0: use the target's current size */
	bool have_size;
	bool dry_run, quiet, force, deterministic;
	bool have_uuid_arg;
	bool uuid_random;
	struct mapfs_region region;	/* -o offset=,size= */
	const char *populate;	/* -d DIR: copy DIR's tree in */
	bool root_owner;	/* -r UID:GID: the copy's owner */
	uint32_t owner_uid, owner_gid;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [options] IMAGE\n"
		"Create a mapfs filesystem in IMAGE (a file or block device).\n"
		"\n"
		"  -s SIZE   create or resize IMAGE to SIZE bytes (suffixes K, M,\n"
		"            G, T: powers of 1024); default: IMAGE's size\n"
		"  -o offset=BYTES[,size=BYTES]\n"
		"            format the part of IMAGE that starts at BYTES (a\n"
		"            multiple of 4096), size bytes long (default: to the\n"
		"            end; IMAGE is extended if it is shorter)\n"
		"  -b BYTES  block size, a power of two from 4096 to 65536\n"
		"  -i BYTES  bytes of data per inode (default %u)\n"
		"  -I SIZE   inode size: 256, 512 (default) or 1024; small\n"
		"            extended attributes live in the inode past its\n"
		"            first 256 bytes\n"
		"  -g COUNT  blocks per group (default 8 * block size)\n"
		"  -m PCT    percent of blocks reserved for root (default %u)\n"
		"  -L LABEL  volume label (at most %u bytes)\n"
		"  -J SIZE   metadata journal size (suffixes as for -s); 0: no\n"
		"            journal (default: 1/64 of the image, 1M to 64M)\n"
		"  -U UUID   uuid: 8-4-4-4-12 hex digits, or 'random'\n"
		"  -E        deterministic: fixed times and uuid, so two runs\n"
		"            give byte-identical images\n"
		"  -d DIR    copy the tree under DIR into the new filesystem\n"
		"            (its contents into the root, which takes DIR's\n"
		"            mode, owner, times and xattrs)\n"
		"  -r UID:GID  with -d: every copied file owned by UID:GID\n"
		"            (default: owners as stored under DIR)\n"
		"  -F        format over what IMAGE holds: a mapfs filesystem,\n"
"            or any other filesystem, partition table or signature\n"
"            libblkid recognizes (those are wiped)\n"
		"  -n        dry run: print the plan, write nothing\n"
		"  -q        quiet\n"
		"  -h, --help     this help\n"
		"  -V, --version  print the version\n",
		MAPFS_DEFAULT_BYTES_PER_INODE, MAPFS_DEFAULT_MINFREE_PCT,
		MAPFS_LABEL_MAX);
}

static int parse_u32(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Canonical form: 8-4-4-4-12 hex digits, e.g.
 * "0f8fad5b-d9cb-469f-a165-70867728950e". */
static int parse_uuid(const char *s, uint8_t uuid[16])
{
	static const int dash_at[] = { 8, 13, 18, 23 };
	size_t k = 0, n = 0;

	if (strlen(s) != 36)
		return -EINVAL;
	for (size_t i = 0; i < 36; i++) {
		int hi, lo;

		if (k < 4 && (int)i == dash_at[k]) {
			if (s[i] != '-')
				return -EINVAL;
			k++;
			continue;
		}
		hi = hexval((unsigned char)s[i]);
		lo = hexval((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		uuid[n++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	return n == 16 ? 0 : -EINVAL;
}

static void format_uuid(const uint8_t u[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
}

/* Version 4 (random) uuid from the kernel's generator. */
static int random_uuid(uint8_t u[16])
{
	size_t got = 0;

	while (got < 16) {
		ssize_t n = getrandom(u + got, 16 - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	return 0;
}

/* Deterministic mode: a uuid that depends only on the label, so the same
 * command line gives the same bytes. Four CRC32C values of the label with
 * different seeds fill the 16 bytes; version 4 / variant bits are set so
 * tools that parse uuids accept it. */
static void derived_uuid(const char *label, uint8_t u[16])
{
	for (uint32_t i = 0; i < 4; i++) {
		uint32_t c = mapfs_crc32c(~0u - i, "mapfs-E", 7);

		c = mapfs_crc32c(c, label, strlen(label));
		for (uint32_t k = 0; k < 4; k++)	/* little-endian */
			u[4 * i + k] = (uint8_t)(c >> (8 * k));
	}
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
}

/* The smallest image (bytes) that o makes into two groups, and so gives
 * the first superblock copy (group 1); 0 if there is none below two full
 * groups of the largest size (8 * block size blocks: a bitmap block's
 * bits). A binary search over whole blocks: planning is pure arithmetic
 * and the group count only grows with the size. */
static uint64_t first_copy_size(const struct mapfs_format_opts *o,
				const struct mapfs_geom *g)
{
	struct mapfs_format_opts t = *o;
	struct mapfs_geom tg;
	uint64_t lo = g->nblocks, hi = 2 * 8 * (uint64_t)g->bsize, mid;
	char why[256];

	t.size_bytes = hi << g->bshift;
	if (mapfs_format_plan(&t, &tg, why, sizeof(why)) < 0 ||
	    tg.ngroups < 2)
		return 0;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		t.size_bytes = mid << g->bshift;
		if (mapfs_format_plan(&t, &tg, why, sizeof(why)) == 0 &&
		    tg.ngroups >= 2)
			hi = mid;
		else
			lo = mid;
	}
	return hi << g->bshift;
}

static void print_plan(const struct mkfs_args *a,
		       const struct mapfs_format_opts *o,
		       const struct mapfs_geom *g)
{
	uint64_t data = 0, ncopies = 0;
	char hs[32], us[37];
	unsigned shown = 0;

	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		uint32_t nb = mapfs_group_nblocks(g, cg);
		if (nb > g->data_off)
			data += nb - g->data_off;
	}
	mapfs_human_size(o->size_bytes, hs, sizeof(hs));
	format_uuid(o->uuid, us);
	printf("%s: %s (%" PRIu64 " bytes)%s\n", a->image, hs, o->size_bytes,
	       a->dry_run ? " [dry run: nothing written]" : "");
	printf("\tlabel '%s', uuid %s\n", o->label, us);
	printf("\tblock size %u, %" PRIu64 " blocks, %" PRIu64
	       " group%s of %u blocks\n",
	       g->bsize, g->nblocks, g->ngroups, g->ngroups == 1 ? "" : "s",
	       g->bpg);
	printf("\t%" PRIu64 " inodes, %u per group, %u bytes each, "
	       "%" PRIu64 " bytes per inode\n",
	       g->ninodes, g->ipg, g->inode_size,
	       g->ninodes ? g->nblocks * g->bsize / g->ninodes : 0);
	printf("\tgroup layout: header at block %u, bitmaps at %u and %u, "
	       "%u inode table blocks at %u, data from %u\n",
	       g->hdr_off, g->ibm_off, g->bbm_off, g->itab_blocks,
	       g->itab_off, g->data_off);
	printf("\t%" PRIu64 " data blocks, %" PRIu64
	       " reserved for root (%u%%), largest file %" PRIu64 " bytes\n",
	       data, g->reserved_blocks, g->minfree_pct, g->maxfilesize);
	if (g->jblocks)
		printf("	metadata journal: %" PRIu64 " blocks (%" PRIu64
		       " KiB) at block %" PRIu64 "\n", g->jblocks,
		       (g->jblocks << g->bshift) / 1024, g->jstart);
	else
		printf("	no metadata journal\n");
	for (uint64_t cg = 1; cg < g->ngroups; cg++)
		if (mapfs_group_has_sb(cg))
			ncopies++;
	printf("\t%" PRIu64 " superblock cop%s", ncopies,
	       ncopies == 1 ? "y" : "ies");
	if (ncopies)
		printf(" at blocks:");
	for (uint64_t cg = 1; cg < g->ngroups; cg++) {
		if (!mapfs_group_has_sb(cg))
			continue;
		if (shown == SB_LIST_MAX) {
			printf(" ...");
			break;
		}
		printf(" %" PRIu64, mapfs_group_start(g, cg));
		shown++;
	}
	printf("\n");
	if (!ncopies) {
		uint64_t min = first_copy_size(o, g);

		/* Copies live in groups 1, 3, 5, 7, ... (docs/FORMAT.md):
		 * a one-group image has none for fsck -b to fall back on. */
		mapfs_human_size(min, hs, sizeof(hs));
		if (min)
			printf("\twarning: no backup superblock (one group "
			       "only); images of %s (%" PRIu64 " bytes) or "
			       "more get one\n", hs, min);
		else
			printf("\twarning: no backup superblock (one group "
			       "only)\n");
	}
}

/* True when the first page of fd holds a mapfs superblock magic. */
static bool has_mapfs_magic(int fd, uint64_t off)
{
	struct mapfs_dsuper sb;

	/* sb_magic is the first field: read only it. */
	if (pread(fd, &sb.sb_magic, sizeof(sb.sb_magic),
		  (off_t)(off + MAPFS_SB_OFFSET)) != (ssize_t)sizeof(sb.sb_magic))
		return false;
	return mapfs_sb_magic(&sb) == MAPFS_SB_MAGIC;
}

/* What libblkid recognizes in bytes [off, off + len) of fd (a filesystem,
 * a partition table, RAID, LVM or LUKS metadata, swap...), described in
 * what ("an ext4 filesystem (label \"root\")"). 1 if something, 0 if
 * nothing, -1 if the probe itself failed. mapfs is not among libblkid's
 * types: has_mapfs_magic looks for it. */
static int foreign_signature(int fd, uint64_t off, uint64_t len, char *what,
			     size_t whatlen)
{
	const char *type = NULL, *usage = NULL, *label = NULL;
	blkid_probe pr = blkid_new_probe();
	int rc = -1;

	if (!pr)
		return -1;
	if (blkid_probe_set_device(pr, fd, (blkid_loff_t)off,
				   (blkid_loff_t)len) < 0)
		goto out;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE |
					      BLKID_SUBLKS_LABEL |
					      BLKID_SUBLKS_USAGE);
	blkid_probe_enable_partitions(pr, 1);
	rc = blkid_do_safeprobe(pr);
	if (rc == -2) {
		snprintf(what, whatlen, "several filesystem or partition "
			 "signatures");
		rc = 1;
	} else if (rc == 0) {
		if (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0) {
			(void)blkid_probe_lookup_value(pr, "USAGE", &usage,
						       NULL);
			(void)blkid_probe_lookup_value(pr, "LABEL", &label,
						       NULL);
			snprintf(what, whatlen, "a%s %s %s%s%s%s",
				 strchr("aeiouAEIOU", type[0]) ? "n" : "",
				 type,
				 usage && strcmp(usage, "other") ? usage
								 : "signature",
				 label && *label ? " (label \"" : "",
				 label && *label ? label : "",
				 label && *label ? "\")" : "");
		} else if (blkid_probe_lookup_value(pr, "PTTYPE", &type,
						    NULL) == 0) {
			snprintf(what, whatlen, "a %s partition table", type);
		} else {
			snprintf(what, whatlen, "a signature");
		}
		rc = 1;
	} else if (rc == 1) {
		rc = 0;
	} else {
		rc = -1;
	}
out:
	blkid_free_probe(pr);
	return rc;
}

/* -F: erase the magic numbers of whatever libblkid finds in [off, off +
 * len), as mke2fs does, so that nothing (blkid, mount's type detection,
 * a partitioning tool) takes the new mapfs image for what it held. */
static void wipe_signatures(int fd, uint64_t off, uint64_t len)
{
	blkid_probe pr = blkid_new_probe();

	if (!pr)
		return;
	if (blkid_probe_set_device(pr, fd, (blkid_loff_t)off,
				   (blkid_loff_t)len) == 0) {
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_MAGIC);
		blkid_probe_enable_partitions(pr, 1);
		blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
		while (blkid_do_probe(pr) == 0)
			if (blkid_do_wipe(pr, 0) < 0)
				break;
	}
	blkid_free_probe(pr);
}

/* Open (creating with -s) the target, refuse it if it is in use or holds
 * a filesystem without -F, and size it with -s. Leaves the file unlocked:
 * mapfs_image_map takes the lock for the real work. Returns the image
 * size in *sizep; writes nothing on a dry run. */
static int prepare_target(const struct mkfs_args *a, uint64_t *sizep)
{
	bool create = a->have_size && !a->dry_run;
	struct stat st;
	int fd, err;

	fd = open(a->image, (a->dry_run ? O_RDONLY : O_RDWR) | O_CLOEXEC |
				    (create ? O_CREAT : 0), 0644);
	if (fd < 0) {
		err = errno;
		if (a->dry_run && a->have_size && err == ENOENT) {
			*sizep = a->size_bytes;
			return 0;
		}
		fprintf(stderr, PROG ": cannot open %s: %s\n", a->image,
			strerror(err));
		return -1;
	}
	{
		/* Waits for a daemon still letting go of the image after
		 * its unmount (umount && mkfs -F); a mounted image is
		 * refused. */
		char why[512];
		if (mapfs_image_lock(fd, a->image, false, NULL, NULL, why,
				     sizeof(why)) < 0) {
			fprintf(stderr, PROG ": %s: %s\n", a->image, why);
			goto fail;
		}
	}
	if (!a->force && has_mapfs_magic(fd, a->region.offset)) {
		if (!a->dry_run) {
			fprintf(stderr, PROG ": %s already contains a mapfs "
				"filesystem: use -F to overwrite\n", a->image);
			goto fail;
		}
		fprintf(stderr, PROG ": note: %s already contains a mapfs "
			"filesystem (formatting it needs -F)\n", a->image);
	} else if (!a->force) {
		/* Anything else: refused before anything is changed (the
		 * size is set below). */
		uint64_t fsz, len;
		char what[320];

		if (mapfs_image_size(fd, &fsz) == 0 &&
		    fsz > a->region.offset) {
			len = fsz - a->region.offset;
			if (a->region.size && a->region.size < len)
				len = a->region.size;
			if (foreign_signature(fd, a->region.offset, len, what,
					      sizeof(what)) > 0) {
				if (!a->dry_run) {
					fprintf(stderr, PROG ": %s contains "
						"%s: use -F to format over "
						"it\n", a->image, what);
					goto fail;
				}
				fprintf(stderr, PROG ": note: %s contains %s "
					"(formatting it needs -F)\n",
					a->image, what);
			}
		}
	}
	if (fstat(fd, &st) < 0) {
		fprintf(stderr, PROG ": %s: stat: %s\n", a->image,
			strerror(errno));
		goto fail;
	}
	if (a->region.offset || a->region.size) {
		uint64_t fsz = 0, end = a->region.offset + a->region.size;

		if (mapfs_image_size(fd, &fsz) < 0) {
			fprintf(stderr, PROG ": %s: not a regular file or "
				"block device\n", a->image);
			goto fail;
		}
		if (a->region.size && fsz < end) {
			if (!S_ISREG(st.st_mode) ||
			    (!a->dry_run && ftruncate(fd, (off_t)end) < 0)) {
				fprintf(stderr, PROG ": %s is shorter than "
					"offset + size and cannot be "
					"extended\n", a->image);
				goto fail;
			}
			fsz = end;
		}
		if (fsz == 0) {
			fprintf(stderr, PROG ": %s is empty (0 bytes): give "
				"-o offset=BYTES,size=BYTES\n", a->image);
			goto fail;
		}
		if (a->region.offset >= fsz) {
			fprintf(stderr, PROG ": %s: offset %" PRIu64 " is past "
				"its end (%" PRIu64 " bytes)\n", a->image,
				a->region.offset, fsz);
			goto fail;
		}
		*sizep = a->region.size ? a->region.size
					: fsz - a->region.offset;
	} else if (a->have_size) {
		if (!S_ISREG(st.st_mode)) {
			fprintf(stderr, PROG ": %s: -s needs a regular file\n",
				a->image);
			goto fail;
		}
		if (!a->dry_run && ftruncate(fd, (off_t)a->size_bytes) < 0) {
			fprintf(stderr, PROG ": cannot set the size of %s: "
				"%s\n", a->image, strerror(errno));
			goto fail;
		}
		*sizep = a->size_bytes;
	} else {
		err = mapfs_image_size(fd, sizep);
		if (err < 0) {
			fprintf(stderr, PROG ": %s: %s\n", a->image,
				err == -EINVAL ? "not a regular file or block "
						 "device" : strerror(-err));
			goto fail;
		}
		if (*sizep == 0) {
			fprintf(stderr, PROG ": %s is empty (0 bytes): give "
				"-s SIZE\n", a->image);
			goto fail;
		}
	}
	if (a->force && !a->dry_run)
		wipe_signatures(fd, a->region.offset, *sizep);
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

/* Progress on a terminal: "mkfs.mapfs: groups 40%". */
static void show_progress(void *arg, uint64_t done, uint64_t total)
{
	(void)arg;
	fprintf(stderr, "\r" PROG ": groups %3u%%",
		(unsigned)(total ? done * 100 / total : 100));
	if (done == total)
		fputs("\r\033[K", stderr);
	fflush(stderr);
}

static int do_format(const struct mkfs_args *a,
		     const struct mapfs_format_opts *o,
		     const struct mapfs_geom *g)
{
	char why[256] = "";
	uint64_t size;
	void *base;
	int fd, err, ret = 1;

	fd = mapfs_image_map_region(a->image, false, true, &a->region, &base,
				    &size, why, sizeof(why));
	if (fd < 0) {
		if (fd == -EBUSY)
			fprintf(stderr, PROG ": %s: %s\n", a->image, why);
		else
			fprintf(stderr, PROG ": cannot map %s: %s\n",
				a->image, why);
		return 1;
	}
	if (size != o->size_bytes) {
		fprintf(stderr, PROG ": %s: size changed under us (%" PRIu64
			" bytes, planned %" PRIu64 ")\n", a->image, size,
			o->size_bytes);
		goto out;
	}
	{
		struct mapfs_format_opts po = *o;

		if (!a->quiet && isatty(2) && g->ngroups >= 4096)
			po.progress = show_progress;
		err = mapfs_format(base, size, &po, g, why, sizeof(why));
	}
	if (err < 0) {
		fprintf(stderr, PROG ": cannot format %s: %s\n", a->image,
			why[0] ? why : strerror(-err));
		goto out;
	}
	/* The superblock magic is final only now; make it durable. fsync
	 * writes every dirty page of the shared mapping, which is only the
	 * metadata mapfs_format touched. */
	if (msync(base, size, MS_SYNC) < 0 || fsync(fd) < 0) {
		fprintf(stderr, PROG ": cannot sync %s: %s\n", a->image,
			strerror(errno));
		goto out;
	}
	ret = 0;
out:
	munmap(base, size);
	if (close(fd) < 0 && ret == 0) {
		fprintf(stderr, PROG ": cannot close %s: %s\n", a->image,
			strerror(errno));
		ret = 1;
	}
	return ret;
}

/* mkfs -d's messages: "mkfs.mapfs: PATH: what went wrong". */
static void populate_log(void *arg, enum mapfs_log_level lvl,
			 const char *msg)
{
	(void)arg;
	fprintf(stderr, PROG ": %s%s\n", lvl == MAPFS_LOG_WARN ?
		"warning: " : "", msg);
}

/*
 * -d DIR: open the fresh filesystem, copy DIR's tree into its root
 * (mapfs-populate), mark it clean and sync. Marked "not cleanly
 * unmounted" while the copy runs, so an interrupted mkfs leaves an image
 * fsck will not call clean. With -E the core's clock is fixed at the
 * format's time, so every inode's ctime, birth time and generation are
 * the same on every run. Returns the exit status.
 */
static int do_populate(const struct mkfs_args *a,
		       const struct mapfs_format_opts *fo)
{
	struct mapfs_populate_opts po = {
		.root_owner = a->root_owner,
		.uid = a->owner_uid,
		.gid = a->owner_gid,
		.use_reserve = true,
		.log = populate_log,
	};
	struct mapfs_populate_stats st = { 0 };
	struct mapfs_timespec fixed = { .sec = fo->time, .nsec = 0 };
	struct mapfs_fs *fs;
	char why[256] = "";
	int err, err2;

	err = mapfs_fs_open_region(a->image, 0, &a->region, 0, NULL, NULL,
				   &fs, why, sizeof(why));
	if (err < 0) {
		fprintf(stderr, PROG ": cannot open %s to copy %s in: %s\n",
			a->image, a->populate, why[0] ? why : strerror(-err));
		return 1;
	}
	if (a->deterministic)
		mapfs_clock_fix(&fixed);
	fs->state = MAPFS_STATE_MOUNTED;
	err = mapfs_fs_sync(fs);
	if (err == 0)
		err = mapfs_populate_dir(fs, MAPFS_ROOT_INO, a->populate, &po,
					 &st);
	if (err == 0 && !atomic_load(&fs->error))
		fs->state = MAPFS_STATE_CLEAN;
	err2 = mapfs_fs_sync(fs);
	mapfs_fs_close(fs);
	mapfs_clock_fix(NULL);
	if (err < 0 || err2 < 0) {
		fprintf(stderr, PROG ": copying %s into %s failed: %s\n",
			a->populate, a->image, strerror(err < 0 ? -err : -err2));
		return 1;
	}
	if (!a->quiet)
		printf("Copied %s: %" PRIu64 " files, %" PRIu64 " directories, "
		       "%" PRIu64 " symlinks, %" PRIu64 " special files, "
		       "%" PRIu64 " hard links, %" PRIu64 " xattrs, %" PRIu64
		       " bytes of data\n", a->populate, st.files, st.dirs,
		       st.symlinks, st.specials, st.hardlinks, st.xattrs,
		       st.bytes);
	return 0;
}

static int plan(const struct mkfs_args *a, const struct mapfs_format_opts *o,
		struct mapfs_geom *g)
{
	char why[256] = "";

	if (mapfs_format_plan(o, g, why, sizeof(why)) < 0) {
		fprintf(stderr, PROG ": cannot format %s: %s\n", a->image,
			why[0] ? why : "impossible geometry");
		return -1;
	}
	return 0;
}

#define GO_ON PROG_GO_ON	/* a step's result: carry on with the next */

static const char optstring[] = "s:b:i:I:g:m:L:J:U:o:d:r:EFnqhV";

/* "UID:GID" (decimal numbers) into *uid and *gid; -EINVAL. */
static int parse_owner(const char *s, uint32_t *uid, uint32_t *gid)
{
	const char *colon = strchr(s, ':');
	char num[16];
	size_t n;

	if (!colon)
		return -EINVAL;
	n = (size_t)(colon - s);
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	return parse_u32(num, uid) < 0 || parse_u32(colon + 1, gid) < 0 ?
	       -EINVAL : 0;
}

/* One option c (getopt's optarg with it; given: the word as typed) into
 * *a and *o. Returns GO_ON, 0 after -h or -V, or 2 for a usage error
 * (said on stderr). */
static int parse_opt(int c, const char *given, struct mkfs_args *a,
		     struct mapfs_format_opts *o)
{
	switch (c) {
	case 's':
		if (prog_size_opt(PROG, optarg, &a->size_bytes) != PROG_GO_ON)
			return 2;
		a->have_size = true;
		break;
	case 'b':
		if (parse_u32(optarg, &o->bsize) < 0 ||
		    o->bsize < MAPFS_MIN_BSIZE ||
		    o->bsize > MAPFS_MAX_BSIZE ||
		    (o->bsize & (o->bsize - 1))) {
			fprintf(stderr, PROG ": bad block size '%s': "
				"a power of two from %u to %u\n",
				optarg, MAPFS_MIN_BSIZE,
				MAPFS_MAX_BSIZE);
			return 2;
		}
		break;
	case 'i':
		if (parse_u32(optarg, &o->bytes_per_inode) < 0 ||
		    o->bytes_per_inode == 0) {
			fprintf(stderr, PROG ": bad bytes per inode "
				"'%s'\n", optarg);
			return 2;
		}
		break;
	case 'I':
		if (parse_u32(optarg, &o->inode_size) < 0 ||
		    (o->inode_size != 256 && o->inode_size != 512 &&
		     o->inode_size != 1024)) {
			fprintf(stderr, PROG ": bad inode size '%s': "
				"256, 512 or 1024\n", optarg);
			return 2;
		}
		break;
	case 'g':
		if (parse_u32(optarg, &o->bpg) < 0 || o->bpg == 0) {
			fprintf(stderr, PROG ": bad blocks per group "
				"'%s'\n", optarg);
			return 2;
		}
		break;
	case 'm':
		if (parse_u32(optarg, &o->minfree_pct) < 0 ||
		    o->minfree_pct > 50) {
			fprintf(stderr, PROG ": bad reserved percent "
				"'%s': 0 to 50\n", optarg);
			return 2;
		}
		break;
	case 'o': {
		char why[160] = "";

		if (mapfs_region_parse(optarg, &a->region, why,
				       sizeof(why)) < 0) {
			fprintf(stderr, PROG ": -o %s: %s\n", optarg,
				why);
			return 2;
		}
		break;
	}
	case 'J':
		if (mapfs_parse_size(optarg, &o->journal_bytes) < 0) {
			fprintf(stderr, PROG ": bad journal size '%s'\n",
				optarg);
			return 2;
		}
		if (o->journal_bytes == 0)
			o->journal_bytes = UINT64_MAX;
		break;
	case 'L':
		if (strlen(optarg) > MAPFS_LABEL_MAX) {
			fprintf(stderr, PROG ": label too long: at "
				"most %u bytes\n", MAPFS_LABEL_MAX);
			return 2;
		}
		snprintf(o->label, sizeof(o->label), "%s", optarg);
		break;
	case 'U':
		if (!strcmp(optarg, "random")) {
			a->uuid_random = true;
		} else if (parse_uuid(optarg, o->uuid) < 0) {
			fprintf(stderr, PROG ": bad uuid '%s': use "
				"8-4-4-4-12 hex digits or 'random'\n",
				optarg);
			return 2;
		}
		a->have_uuid_arg = true;
		break;
	case 'E':
		a->deterministic = true;
		break;
	case 'd':
		a->populate = optarg;
		break;
	case 'r':
		if (parse_owner(optarg, &a->owner_uid, &a->owner_gid) < 0) {
			fprintf(stderr, PROG ": bad owner '%s': use "
				"UID:GID (numbers)\n", optarg);
			return 2;
		}
		a->root_owner = true;
		break;
	case 'F':
		a->force = true;
		break;
	case 'n':
		a->dry_run = true;
		break;
	case 'q':
		a->quiet = true;
		break;
	default:	/* -h, -V, and what is not an option of ours */
		return prog_common_opt(PROG, c, optstring, given, usage);
	}
	return GO_ON;
}

/* The command line into *a and *o (which it clears first). Returns
 * GO_ON, or the exit status: 0 after -h or -V, 2 for a usage error. */
static int parse_args(int argc, char **argv, struct mkfs_args *a,
		      struct mapfs_format_opts *o)
{
	int c, ret;

	memset(o, 0, sizeof(*o));
	memset(a, 0, sizeof(*a));
	o->minfree_pct = UINT32_MAX;

	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, prog_longopts, NULL)) !=
	       -1) {
		ret = parse_opt(c, argv[optind - 1], a, o);
		if (ret != GO_ON)
			return ret;
	}
	ret = prog_one_image(PROG, argc, argv, usage, &a->image);
	if (ret != GO_ON)
		return ret;
	if (a->populate) {
		struct stat st;

		if (stat(a->populate, &st) < 0) {
			fprintf(stderr, PROG ": -d %s: %s\n", a->populate,
				strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr, PROG ": -d %s: not a directory\n",
				a->populate);
			return 1;
		}
	}
	if (a->have_size && (a->region.offset || a->region.size)) {
		fprintf(stderr, PROG ": -s and -o offset: give the size as "
			"-o offset=BYTES,size=BYTES\n");
		return 2;
	}
	return GO_ON;
}

/* The new filesystem's uuid (given, derived from the label with -E, or
 * random), creation time and root owner (fixed with -E, else now and
 * the caller). Returns GO_ON, or 1 when no random uuid can be had. */
static int set_identity(const struct mkfs_args *a,
			struct mapfs_format_opts *o)
{
	if (a->have_uuid_arg && !a->uuid_random) {
		o->have_uuid = true;
	} else if (a->deterministic && !a->uuid_random) {
		derived_uuid(o->label, o->uuid);
		o->have_uuid = true;
	} else {
		int err = random_uuid(o->uuid);
		if (err < 0) {
			fprintf(stderr, PROG ": cannot make a uuid: %s\n",
				strerror(-err));
			return 1;
		}
		o->have_uuid = true;
	}
	if (a->deterministic) {
		o->time = 1;
		o->root_uid = 0;
		o->root_gid = 0;
	} else {
		o->time = 0;
		o->root_uid = getuid();
		o->root_gid = getgid();
	}
	return GO_ON;
}

/* Plan the layout into *g and prepare the target (size, signatures,
 * lock: prepare_target). With -s, plan before touching the file, so an
 * impossible request leaves it alone; otherwise the size comes from it.
 * Returns GO_ON or 1. */
static int plan_and_prepare(const struct mkfs_args *a,
			    struct mapfs_format_opts *o, struct mapfs_geom *g)
{
	if (a->have_size) {
		o->size_bytes = a->size_bytes;
		if (plan(a, o, g) < 0 || prepare_target(a, &o->size_bytes))
			return 1;
	} else if (prepare_target(a, &o->size_bytes) < 0 ||
		   plan(a, o, g) < 0) {
		return 1;
	}
	return GO_ON;
}

int main(int argc, char **argv)
{
	struct mapfs_format_opts o;
	struct mkfs_args a;
	struct mapfs_geom g;
	int ret;

	ret = parse_args(argc, argv, &a, &o);
	if (ret == GO_ON)
		ret = set_identity(&a, &o);
	if (ret == GO_ON)
		ret = plan_and_prepare(&a, &o, &g);
	if (ret != GO_ON)
		return ret;
	if (!a.quiet || a.dry_run)
		print_plan(&a, &o, &g);
	if (a.dry_run)
		return 0;
	ret = do_format(&a, &o, &g);
	if (ret == 0 && a.populate)
		ret = do_populate(&a, &o);
	return ret;
}
