/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: fs/populate.c (mapfs_populate_path, mapfs_populate_dir) on
 * image files opened with MAPFS_OPEN_JOURNAL, as mapfs-tool opens them,
 * from host trees made in a temp directory. What mkfs.mapfs -d makes of
 * a whole tree is tests/mount/populate.sh; here: the API's contract
 * (names, merging, -EEXIST, keep_going, root_owner, trailing slash,
 * bounded operations through the journal, what a reopen finds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "helpers.h"
#include "mapfs.h"
#include "mapfs_populate.h"

#define ROOT MAPFS_ROOT_INO
#define SIZE (32u << 20)

static char img[256], host[256];
static int nerr_logged;

static void logfn(void *arg, enum mapfs_log_level lvl, const char *msg)
{
	(void)arg;
	(void)msg;
	if (lvl == MAPFS_LOG_ERR)
		nerr_logged++;
}

static void host_file(const char *rel, const void *data, size_t len)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", host, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void host_dir(const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", host, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static int setup(void **state)
{
	const char *dir = getenv("TMPDIR");

	(void)state;
	snprintf(host, sizeof(host), "%s/mapfs-populate.XXXXXX",
		 dir && *dir ? dir : "/tmp");
	assert_non_null(mkdtemp(host));
	test_image_file(img, sizeof(img), "mapfs-populate-test", SIZE, 0);
	nerr_logged = 0;
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	unlink(img);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", host);
	return system(cmd) == 0 ? 0 : -1;
}

static mapfs_ino_t look(struct mapfs_fs *fs, mapfs_ino_t dir,
			const char *name)
{
	mapfs_ino_t ino = 0;

	assert_int_equal(mapfs_op_lookup(fs, dir, name, &ino), 0);
	return ino;
}

/* A 3 MiB file (three data operations) under a new name, with its
 * xattr, through the journal; a reopen after the commit finds it all. */
static void test_file_renamed_journal(void **state)
{
	struct mapfs_populate_opts o = { .log = logfn };
	struct mapfs_populate_stats st = { 0 };
	size_t len = 3u << 20;
	uint8_t *data = malloc(len), *back = malloc(len);
	struct mapfs_inode ip;
	struct mapfs_fs *fs;
	char p[512], val[16];

	(void)state;
	assert_non_null(data);
	assert_non_null(back);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 12));
	host_file("f", data, len);
	snprintf(p, sizeof(p), "%s/f", host);
	if (setxattr(p, "user.x", "vx", 2, 0) < 0)
		skip();	/* no user xattrs in TMPDIR */
	fs = test_fs_open(img, MAPFS_OPEN_JOURNAL);
	assert_int_equal(mapfs_populate_path(fs, ROOT, "g", p, &o, &st), 0);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.bytes, len);
	assert_int_equal(st.xattrs, 1);
	assert_int_equal(mapfs_fs_sync(fs), 0);
	mapfs_fs_close(fs);

	fs = test_fs_open(img, MAPFS_OPEN_JOURNAL);
	ip = test_get(fs, look(fs, ROOT, "g"));
	assert_int_equal(ip.size, len);
	assert_int_equal(ip.mode, MAPFS_IFREG | 0644);
	assert_int_equal(mapfs_file_read(fs, &ip, 0, back, len),
			 (ssize_t)len);
	assert_memory_equal(back, data, len);
	assert_int_equal(mapfs_op_getxattr(fs, ip.ino, "user.x", val,
					   sizeof(val)), 2);
	assert_memory_equal(val, "vx", 2);
	assert_int_equal(mapfs_op_lookup(fs, ROOT, "f", &ip.ino), -ENOENT);
	mapfs_fs_close(fs);
	free(data);
	free(back);
}

/* An existing directory is merged into; an existing file is -EEXIST,
 * which keep_going logs, counts and passes over. */
static void test_merge_and_exists(void **state)
{
	struct mapfs_populate_opts o = { .log = logfn };
	struct mapfs_populate_stats st = { 0 };
	struct mapfs_inode ip;
	struct mapfs_fs *fs;
	mapfs_ino_t d;
	char p[512];

	(void)state;
	host_dir("d");
	host_file("d/a", "A", 1);
	host_file("d/x", "X", 1);
	fs = test_fs_open(img, MAPFS_OPEN_JOURNAL);
	assert_int_equal(mapfs_op_begin(fs), 0);
	assert_int_equal(mapfs_op_mknod(fs, &(struct mapfs_cred){ 0, 0 },
					ROOT, "d", MAPFS_IFDIR | 0700, 0,
					&ip), 0);
	d = ip.ino;
	assert_int_equal(mapfs_op_mknod(fs, &(struct mapfs_cred){ 0, 0 }, d,
					"x", MAPFS_IFREG | 0600, 0, &ip), 0);
	assert_int_equal(mapfs_op_end(fs), 0);

	snprintf(p, sizeof(p), "%s/d", host);
	/* without keep_going: the clash with x stops the copy */
	assert_int_equal(mapfs_populate_path(fs, ROOT, "d", p, &o, &st),
			 -EEXIST);
	assert_int_equal(st.errors, 1);
	assert_int_equal(nerr_logged, 1);
	/* with it: a (made by the first call: names go in order) and x
	 * both clash, x is the image's own, the dir takes the host's mode */
	o.keep_going = true;
	memset(&st, 0, sizeof(st));
	assert_int_equal(mapfs_populate_path(fs, ROOT, "d", p, &o, &st), 0);
	assert_int_equal(st.errors, 2);
	assert_int_equal(st.files, 0);
	assert_int_equal(look(fs, ROOT, "d"), d);
	ip = test_get(fs, look(fs, d, "a"));
	assert_int_equal(ip.size, 1);
	ip = test_get(fs, look(fs, d, "x"));
	assert_int_equal(ip.size, 0);
	assert_int_equal(ip.mode & 07777, 0600);
	ip = test_get(fs, d);
	assert_int_equal(ip.mode & 07777, 0755);
	/* a file over an existing name */
	snprintf(p, sizeof(p), "%s/d/a", host);
	o.keep_going = false;
	assert_int_equal(mapfs_populate_path(fs, d, "x", p, &o, NULL),
			 -EEXIST);
	/* bad names */
	assert_int_equal(mapfs_populate_path(fs, d, "a/b", p, &o, NULL),
			 -EINVAL);
	assert_int_equal(mapfs_populate_path(fs, d, "..", p, &o, NULL),
			 -EINVAL);
	assert_int_equal(mapfs_fs_sync(fs), 0);
	mapfs_fs_close(fs);
}

/* root_owner, hard links inside one call, "dir/" with a trailing slash,
 * and mapfs_populate_dir taking the host directory's attributes. */
static void test_owner_links_slash(void **state)
{
	struct mapfs_populate_opts o = { .root_owner = true, .uid = 7,
					 .gid = 8, .log = logfn };
	struct mapfs_populate_stats st = { 0 };
	struct mapfs_inode ip, ip2;
	struct mapfs_fs *fs;
	mapfs_ino_t t;
	char p[512], q[512];

	(void)state;
	host_dir("t");
	host_dir("t/s");
	host_file("t/one", "1", 1);
	snprintf(p, sizeof(p), "%s/t/one", host);
	snprintf(q, sizeof(q), "%s/t/s/two", host);
	assert_int_equal(link(p, q), 0);
	snprintf(p, sizeof(p), "%s/t", host);
	assert_int_equal(chmod(p, 0710), 0);
	snprintf(p, sizeof(p), "%s/t/", host);
	fs = test_fs_open(img, MAPFS_OPEN_JOURNAL);
	assert_int_equal(mapfs_populate_path(fs, ROOT, "copy", p, &o, &st),
			 0);
	assert_int_equal(st.dirs, 2);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.hardlinks, 1);
	t = look(fs, ROOT, "copy");
	ip = test_get(fs, t);
	assert_int_equal(ip.mode, MAPFS_IFDIR | 0710);
	assert_int_equal(ip.uid, 7);
	assert_int_equal(ip.gid, 8);
	ip = test_get(fs, look(fs, t, "one"));
	ip2 = test_get(fs, look(fs, look(fs, t, "s"), "two"));
	assert_int_equal(ip.ino, ip2.ino);
	assert_int_equal(ip.nlink, 2);
	assert_int_equal(ip.uid, 7);

	/* the host dir's contents into the root, which takes its mode */
	memset(&st, 0, sizeof(st));
	o.root_owner = false;
	snprintf(p, sizeof(p), "%s/t/s", host);
	assert_int_equal(chmod(p, 0701), 0);
	assert_int_equal(mapfs_populate_dir(fs, ROOT, p, &o, &st), 0);
	assert_int_equal(st.files, 1);
	ip = test_get(fs, ROOT);
	assert_int_equal(ip.mode, MAPFS_IFDIR | 0701);
	assert_int_equal(ip.uid, getuid());
	ip = test_get(fs, look(fs, ROOT, "two"));
	assert_int_equal(ip.size, 1);
	/* not a directory */
	snprintf(p, sizeof(p), "%s/t/one", host);
	assert_int_equal(mapfs_populate_dir(fs, ROOT, p, &o, NULL), -ENOTDIR);
	assert_int_equal(mapfs_fs_sync(fs), 0);
	mapfs_fs_close(fs);
	assert_int_equal(nerr_logged, 1);	/* the -ENOTDIR */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_renamed_journal,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_and_exists, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_owner_links_slash, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
