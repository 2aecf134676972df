/* SPDX-License-Identifier: MIT */
/* Unit tests: the policies the daemon asks the core about (ops.c, the
 * last section): when a read updates atime (relatime, strictatime,
 * noatime, nodiratime, chattr +A) and who may write into the root
 * reserve. Pure decisions on crafted inodes, then the two operations on
 * an in-memory filesystem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "helpers.h"

#define ROOT MAPFS_ROOT_INO
#define DAY (24 * 3600)

static const struct mapfs_timespec now = {1700000000, 500000000};

static struct mapfs_timespec ago(int64_t sec, int64_t nsec)
{
	int64_t ns = (int64_t)now.nsec - nsec;
	struct mapfs_timespec t = {now.sec - sec, 0};

	if (ns < 0) {
		ns += 1000000000;
		t.sec--;
	}
	t.nsec = (uint32_t)ns;
	return t;
}

/* A regular file read an hour ago, changed two hours ago. */
static struct mapfs_inode file_read_after_change(void)
{
	struct mapfs_inode ip;

	memset(&ip, 0, sizeof(ip));
	ip.mode = MAPFS_IFREG | 0644;
	ip.atime = ago(3600, 0);
	ip.mtime = ago(7200, 0);
	ip.ctime = ago(7200, 0);
	return ip;
}

static void test_relatime(void **state)
{
	struct mapfs_inode ip = file_read_after_change();

	(void)state;
	/* read since the last change, less than a day ago: not due */
	assert_false(mapfs_atime_due(0, &ip, now));
	/* changed since the last read */
	ip.mtime = ago(60, 0);
	assert_true(mapfs_atime_due(0, &ip, now));
	/* atime equal to mtime counts as older (Linux's relatime) */
	ip.mtime = ip.atime;
	assert_true(mapfs_atime_due(0, &ip, now));
	/* the same nanosecond apart the other way: not due */
	ip.mtime = ago(3600, 1);
	assert_false(mapfs_atime_due(0, &ip, now));
	/* ctime alone newer (chmod since the last read) */
	ip = file_read_after_change();
	ip.ctime = ago(10, 0);
	assert_true(mapfs_atime_due(0, &ip, now));
	ip.ctime = ip.atime;
	assert_true(mapfs_atime_due(0, &ip, now));
	/* a day old: due whatever the other times say */
	ip = file_read_after_change();
	ip.mtime = ip.ctime = ago(3 * DAY, 0);
	ip.atime = ago(DAY - 1, 0);
	assert_false(mapfs_atime_due(0, &ip, now));
	ip.atime = ago(DAY, 0);
	assert_true(mapfs_atime_due(0, &ip, now));
	/* directories alike, unless nodiratime */
	ip.mode = MAPFS_IFDIR | 0755;
	assert_true(mapfs_atime_due(0, &ip, now));
	assert_false(mapfs_atime_due(MAPFS_ATIME_NODIR, &ip, now));
	ip.mode = MAPFS_IFREG | 0644;
	assert_true(mapfs_atime_due(MAPFS_ATIME_NODIR, &ip, now));
}

static void test_strictatime(void **state)
{
	struct mapfs_inode ip = file_read_after_change();

	(void)state;
	/* every read, whatever mtime and ctime say... */
	assert_true(mapfs_atime_due(MAPFS_ATIME_STRICT, &ip, now));
	ip.atime = ago(0, 10000000);
	assert_true(mapfs_atime_due(MAPFS_ATIME_STRICT, &ip, now));
	/* ...at the coarse clock's pace: not twice within 10 ms */
	ip.atime = ago(0, 9999999);
	assert_false(mapfs_atime_due(MAPFS_ATIME_STRICT, &ip, now));
	ip.mtime = now;		/* relatime would say yes */
	assert_false(mapfs_atime_due(MAPFS_ATIME_STRICT, &ip, now));
	/* across a second boundary */
	ip.atime.sec = now.sec - 1;
	ip.atime.nsec = 999000000;
	assert_true(mapfs_atime_due(MAPFS_ATIME_STRICT, &ip, now));
	ip.mode = MAPFS_IFDIR | 0755;
	assert_false(mapfs_atime_due(MAPFS_ATIME_STRICT | MAPFS_ATIME_NODIR,
				     &ip, now));
}

static void test_noatime(void **state)
{
	struct mapfs_inode ip = file_read_after_change();

	(void)state;
	ip.mtime = now;
	ip.atime = ago(2 * DAY, 0);
	assert_true(mapfs_atime_due(0, &ip, now));
	assert_false(mapfs_atime_due(MAPFS_ATIME_NEVER, &ip, now));
	assert_false(mapfs_atime_due(MAPFS_ATIME_NEVER | MAPFS_ATIME_STRICT,
				     &ip, now));
	/* chattr +A: never, whatever the mount says */
	ip.flags = MAPFS_FL_NOATIME;
	assert_false(mapfs_atime_due(0, &ip, now));
	assert_false(mapfs_atime_due(MAPFS_ATIME_STRICT, &ip, now));
}

/* The operation: sets atime (not ctime) when due, and only then. */
static void test_touch_atime(void **state)
{
	struct mapfs_fs *fs = test_fs_new(16ull << 20, 0, 0);
	const struct mapfs_cred cr = {0, 0};
	struct mapfs_inode ip, after;

	(void)state;
	assert_int_equal(mapfs_op_mknod(fs, &cr, ROOT, "f", MAPFS_IFREG | 0644,
					0, &ip), 0);
	/* made just now: atime == mtime, so relatime is due */
	assert_int_equal(mapfs_op_touch_atime(fs, MAPFS_ATIME_NEVER, ip.ino),
			 0);
	assert_int_equal(mapfs_inode_load(fs, ip.ino, &after), 0);
	assert_memory_equal(&after.atime, &ip.atime, sizeof(ip.atime));
	ip.atime.sec -= 10;
	ip.mtime.sec -= 20;
	ip.ctime.sec -= 20;
	mapfs_inode_store(fs, &ip);
	/* read since the change, recent: nothing */
	assert_int_equal(mapfs_op_touch_atime(fs, 0, ip.ino), 0);
	assert_int_equal(mapfs_inode_load(fs, ip.ino, &after), 0);
	assert_int_equal(after.atime.sec, ip.atime.sec);
	/* a change since: updated, ctime and mtime left alone */
	ip.mtime.sec = ip.atime.sec + 1;
	mapfs_inode_store(fs, &ip);
	assert_int_equal(mapfs_op_touch_atime(fs, 0, ip.ino), 1);
	assert_int_equal(mapfs_inode_load(fs, ip.ino, &after), 0);
	assert_true(after.atime.sec >= ip.atime.sec + 10);
	assert_int_equal(after.ctime.sec, ip.ctime.sec);
	assert_int_equal(after.mtime.sec, ip.mtime.sec);
	/* and not again until the next change */
	assert_int_equal(mapfs_op_touch_atime(fs, 0, ip.ino), 0);
	assert_int_equal(mapfs_op_touch_atime(fs, 0, 999999), -ENOENT);
	test_fs_free(fs);
}

static void test_reserve_decision(void **state)
{
	const struct mapfs_cred root = {0, 0}, user = {1000, 1000};
	struct mapfs_inode ip;

	(void)state;
	memset(&ip, 0, sizeof(ip));
	ip.mode = MAPFS_IFREG | 0644;
	assert_true(mapfs_write_may_reserve(&root, &ip));
	assert_false(mapfs_write_may_reserve(&user, &ip));
	/* root writing a user's file: the kernel's writeback flushes
	 * every user's pages as root, so that is not enough */
	ip.uid = 1000;
	assert_false(mapfs_write_may_reserve(&root, &ip));
	assert_false(mapfs_write_may_reserve(&user, &ip));
	/* the group does not matter */
	ip.uid = 0;
	ip.gid = 1000;
	assert_true(mapfs_write_may_reserve(&root, &ip));
}

/* Fill ino as cr until the core says -ENOSPC; returns bytes written. */
static uint64_t fill(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		     mapfs_ino_t ino, uint64_t off)
{
	static char buf[64 << 10];
	uint64_t start = off;
	ssize_t n;

	memset(buf, 'x', sizeof(buf));
	while ((n = mapfs_op_write_cr(fs, cr, ino, off, buf,
				      sizeof(buf))) > 0)
		off += (uint64_t)n;
	assert_int_equal(n, -ENOSPC);
	return off - start;
}

/* The write path: only root writing root's file gets the reserve. */
static void test_reserve_write(void **state)
{
	struct mapfs_fs *fs = test_fs_new(16ull << 20, 0, 0);
	const struct mapfs_cred root = {0, 0}, user = {1000, 1000};
	struct mapfs_inode uf, rf;
	struct mapfs_statfs st;

	(void)state;
	assert_int_equal(mapfs_op_mknod(fs, &user, ROOT, "u",
					MAPFS_IFREG | 0644, 0, &uf), 0);
	assert_int_equal(mapfs_op_mknod(fs, &root, ROOT, "r",
					MAPFS_IFREG | 0644, 0, &rf), 0);
	assert_true(fill(fs, &user, uf.ino, 0) > 0);
	mapfs_op_statfs(fs, &st);
	assert_int_equal(st.bavail, 0);
	assert_true(st.bfree > 4);	/* the reserve is left */
	/* a user, even on root's file; root on a user's file: no */
	assert_int_equal(fill(fs, &user, rf.ino, 0), 0);
	assert_int_equal(fill(fs, &root, uf.ino, (uint64_t)1 << 30), 0);
	/* root on root's file: into the reserve */
	assert_true(fill(fs, &root, rf.ino, 0) > 0);
	mapfs_op_statfs(fs, &st);
	assert_true(st.bfree < 4);
	test_fs_free(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relatime),
		cmocka_unit_test(test_strictatime),
		cmocka_unit_test(test_noatime),
		cmocka_unit_test(test_touch_atime),
		cmocka_unit_test(test_reserve_decision),
		cmocka_unit_test(test_reserve_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
