/* SPDX-License-Identifier: MIT */
/* Shared fixtures of the unit tests (see helpers.h): filesystems in
 * memory and in image files, and the few calls every ops test makes. */
#include "helpers.h"
#include "imgfile.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/mman.h>
#include <unistd.h>

static void quiet_log(void *arg, enum mapfs_log_level lvl, const char *msg)
{
	(void)arg;
	if (lvl <= MAPFS_LOG_WARN && getenv("MAPFS_TEST_VERBOSE"))
		fprintf(stderr, "core: %s\n", msg);
}

static uint32_t next_isize;	/* 0: the default */

struct mapfs_fs *test_fs_new_isize(uint64_t size, uint32_t bsize,
				   uint32_t bpg, uint32_t isize)
{
	struct mapfs_fs *fs;

	next_isize = isize;
	fs = test_fs_new(size, bsize, bpg);
	next_isize = 0;
	return fs;
}

struct mapfs_fs *test_fs_new(uint64_t size, uint32_t bsize, uint32_t bpg)
{
	struct mapfs_format_opts o;
	struct mapfs_geom g;
	char why[256] = "";
	struct mapfs_fs *fs;
	void *base;

	memset(&o, 0, sizeof(o));
	o.size_bytes = size;
	o.bsize = bsize;
	o.bpg = bpg;
	o.minfree_pct = UINT32_MAX;
	o.time = 1700000000;
	o.inode_size = next_isize;
	assert_int_equal(mapfs_format_plan(&o, &g, why, sizeof(why)), 0);
	base = calloc(1, size);
	assert_non_null(base);
	if (mapfs_format(base, size, &o, &g, why, sizeof(why)) != 0)
		fail_msg("format: %s", why);
	fs = calloc(1, sizeof(*fs));
	assert_non_null(fs);
	if (mapfs_fs_attach(fs, base, size, 0, 0, quiet_log, NULL, why,
			    sizeof(why)) != 0)
		fail_msg("attach: %s", why);
	/* The daemon indexes large directories; the tests too, unless told
	 * to exercise the scanning paths (meson runs both). */
	if (!getenv("MAPFS_TEST_NO_DIRHASH"))
		assert_int_equal(mapfs_dh_enable(fs, 64u << 20), 0);
	return fs;
}

void test_fs_remount(struct mapfs_fs *fs)
{
	char why[256] = "";
	void *base = fs->base;
	uint64_t size = fs->size;

	mapfs_super_store(fs);
	mapfs_fs_detach(fs);
	memset(fs, 0, sizeof(*fs));
	if (mapfs_fs_attach(fs, base, size, 0, 0, quiet_log, NULL, why,
			    sizeof(why)) != 0)
		fail_msg("re-attach: %s", why);
	if (!getenv("MAPFS_TEST_NO_DIRHASH"))
		assert_int_equal(mapfs_dh_enable(fs, 64u << 20), 0);
}

void test_fs_free(struct mapfs_fs *fs)
{
	void *base = fs->base;

	mapfs_fs_detach(fs);
	free(base);
	free(fs);
}

mapfs_ino_t test_mk(struct mapfs_fs *fs, mapfs_ino_t dir, const char *name,
		    uint32_t mode)
{
	static const struct mapfs_cred root_cr = {0, 0};
	struct mapfs_inode ip;

	assert_int_equal(mapfs_op_mknod(fs, &root_cr, dir, name, mode, 0, &ip),
			 0);
	return ip.ino;
}

struct mapfs_inode test_get(struct mapfs_fs *fs, mapfs_ino_t ino)
{
	struct mapfs_inode ip;

	assert_int_equal(mapfs_inode_load(fs, ino, &ip), 0);
	return ip;
}

void test_image_file(char *path, size_t pathlen, const char *stem,
		     uint64_t size, uint64_t journal)
{
	struct mapfs_format_opts o;
	char why[256] = "";
	const char *dir = getenv("TMPDIR");
	int fd;

	test_format_opts(&o, size, journal, 1700000000);
	snprintf(path, pathlen, "%s/%s.XXXXXX", dir && *dir ? dir : "/var/tmp",
		 stem);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	if (test_format_fd(fd, &o, why, sizeof(why)) != 0)
		fail_msg("format %s: %s", path, why);
	close(fd);
}

struct mapfs_fs *test_fs_open(const char *path, int flags)
{
	struct mapfs_fs *fs;
	char why[256] = "";

	if (mapfs_fs_open(path, flags, 0, NULL, NULL, &fs, why,
			  sizeof(why)) != 0)
		fail_msg("open %s: %s", path, why);
	return fs;
}
