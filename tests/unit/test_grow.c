/* SPDX-License-Identifier: MIT */
/* Unit tests: growing a filesystem (grow.c) on images in memory. */
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

static const struct mapfs_cred root_cr = { 0, 0 };

/* Detach fs, enlarge its buffer to new_size (the new bytes set to junk,
 * as a reused file or device would hold) and attach again. */
static void enlarge(struct mapfs_fs *fs, uint64_t new_size, int junk)
{
	uint64_t old = fs->size;
	char why[256] = "";
	uint8_t *base;

	mapfs_super_store(fs);
	base = fs->base;
	mapfs_fs_detach(fs);
	base = realloc(base, new_size);
	assert_non_null(base);
	memset(base + old, junk, new_size - old);
	memset(fs, 0, sizeof(*fs));
	if (mapfs_fs_attach(fs, base, new_size, 0, 0, NULL, NULL, why,
			    sizeof(why)) != 0)
		fail_msg("attach: %s", why);
}

/* Everything a fresh attach checks, plus: every group valid, every copy
 * decodes to the primary's geometry, totals equal the sums. */
static void check_consistent(struct mapfs_fs *fs)
{
	struct mapfs_geom g;
	uint64_t fb = 0, fi = 0, nd = 0;
	char why[256] = "";

	test_fs_remount(fs);
	for (uint64_t cg = 0; cg < fs->g.ngroups; cg++) {
		bool unused;

		if (mapfs_cg_check(fs, cg, &unused, why, sizeof(why)) != 0)
			fail_msg("group %llu: %s", (unsigned long long)cg, why);
		fb += fs->cg[cg].free_blocks;
		fi += fs->cg[cg].free_inodes;
		nd += fs->cg[cg].ndirs;
		if (cg == 0 || !mapfs_group_has_sb(cg))
			continue;
		if (mapfs_super_decode(mapfs_block(fs, mapfs_group_start(&fs->g,
								      cg)),
				       fs->size, cg, &g, why, sizeof(why)) != 0)
			fail_msg("copy in group %llu: %s",
				 (unsigned long long)cg, why);
		assert_true(g.nblocks == fs->g.nblocks);
		assert_true(g.reserved_blocks == fs->g.reserved_blocks);
	}
	assert_true(fb == fs->free_blocks && fb == fs->sb_free_blocks);
	assert_true(fi == fs->free_inodes && fi == fs->sb_free_inodes);
	assert_true(nd == fs->ndirs && nd == fs->sb_ndirs);
}

static int grow_to(struct mapfs_fs *fs, uint64_t size)
{
	struct mapfs_geom ng;
	char why[256] = "";
	int err;

	err = mapfs_grow_plan(&fs->g, size, &ng, why, sizeof(why));
	if (err < 0)
		return err;
	return mapfs_grow(fs, &ng, NULL, NULL, why, sizeof(why));
}

/* Write a file of n blocks; returns how many blocks it got (ENOSPC
 * stops it early). */
static uint64_t write_file(struct mapfs_fs *fs, const char *name, uint64_t n)
{
	static uint8_t buf[4096];
	struct mapfs_inode ip;
	uint64_t i;

	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(mapfs_op_mknod(fs, &root_cr, ROOT, name,
					MAPFS_IFREG | 0644, 0, &ip), 0);
	for (i = 0; i < n; i++) {
		ssize_t r = mapfs_op_write(fs, ip.ino, i * 4096, buf,
					   sizeof(buf), true);
		if (r == -ENOSPC)
			break;
		assert_int_equal(r, sizeof(buf));
	}
	return i;
}

static void test_plan(void **state)
{
	struct mapfs_fs *fs = test_fs_new(10u << 20, 0, 1024);
	struct mapfs_geom ng;
	char why[256] = "";

	(void)state;
	/* 10 MiB in 4 MiB groups: 2 full groups and a 2 MiB one. */
	assert_int_equal(fs->g.ngroups, 3);
	assert_int_equal(mapfs_group_nblocks(&fs->g, 2), 512);
	/* Shrinking: refused with a reason. */
	assert_int_equal(mapfs_grow_plan(&fs->g, 9u << 20, &ng, why,
					 sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "shrinking is not supported"));
	/* Same size, or a few bytes more: nothing to add. */
	assert_int_equal(mapfs_grow_plan(&fs->g, (10u << 20) + 4095, &ng,
					 why, sizeof(why)), 0);
	assert_true(ng.nblocks == fs->g.nblocks);
	/* A runt past a full group is left out, as mkfs does. */
	assert_int_equal(mapfs_grow_plan(&fs->g, (12u << 20) + 8 * 4096, &ng,
					 why, sizeof(why)), 0);
	assert_true(ng.nblocks == 3 * 1024);
	assert_true(ng.ngroups == 3);
	/* The reserve follows the data blocks. */
	assert_int_equal(mapfs_grow_plan(&fs->g, 1ull << 30, &ng, why,
					 sizeof(why)), 0);
	assert_true(ng.ngroups == 256);
	assert_true(ng.reserved_blocks ==
		    (ng.nblocks - 256 * (uint64_t)ng.data_off) * 5 / 100);
	assert_true(ng.bpg == fs->g.bpg && ng.ipg == fs->g.ipg);
	test_fs_free(fs);
}

/* The partial last group is in use: it becomes full; new groups land on
 * junk and must read as unused; the new space is all allocatable. */
static void test_grow_used_partial(void **state)
{
	struct mapfs_fs *fs = test_fs_new(10u << 20, 0, 1024);
	uint64_t got, old_nblocks = fs->g.nblocks;

	(void)state;
	/* Fill it, so that group 2 is initialized and full. */
	got = write_file(fs, "a", 4096);
	assert_true(got > 2048 && got < 2560);
	assert_true(fs->cg[2].init);
	check_consistent(fs);

	enlarge(fs, 40u << 20, 0xa5);
	assert_int_equal(grow_to(fs, 40u << 20), 0);
	assert_true(fs->g.ngroups == 10);
	assert_true(mapfs_group_nblocks(&fs->g, 2) == 1024);
	check_consistent(fs);
	for (uint64_t cg = 3; cg < 10; cg++)
		assert_false(fs->cg[cg].init);
	assert_true(fs->cg[2].free_blocks == 512);

	/* Everything new is usable: a second file takes it all. */
	got = write_file(fs, "b", 100000);
	assert_true(got > fs->g.nblocks - old_nblocks - 8 * fs->g.data_off -
			  64);
	assert_true(fs->free_blocks == 0);
	check_consistent(fs);
	test_fs_free(fs);
}

/* The partial last group was never used; copies appear in 3, 5, 7, 9. */
static void test_grow_unused_partial(void **state)
{
	struct mapfs_fs *fs = test_fs_new(10u << 20, 0, 1024);
	uint64_t free_before = fs->free_blocks;

	(void)state;
	assert_false(fs->cg[2].init);
	enlarge(fs, 48u << 20, 0);
	assert_int_equal(grow_to(fs, 48u << 20), 0);
	check_consistent(fs);
	assert_true(fs->g.ngroups == 12);
	assert_true(fs->free_blocks ==
		    free_before + 512 + 9 * (uint64_t)(1024 - fs->g.data_off));
	/* A grown image grows again. */
	enlarge(fs, 64u << 20, 0);
	assert_int_equal(grow_to(fs, 64u << 20), 0);
	check_consistent(fs);
	assert_true(fs->g.ngroups == 16);
	test_fs_free(fs);
}

static void test_grow_refusals(void **state)
{
	struct mapfs_fs *fs = test_fs_new(10u << 20, 0, 1024);
	struct mapfs_geom ng;
	char why[256] = "";

	(void)state;
	assert_int_equal(mapfs_grow_plan(&fs->g, 20u << 20, &ng, why,
					 sizeof(why)), 0);
	/* The image is not large enough yet. */
	assert_int_equal(mapfs_grow(fs, &ng, NULL, NULL, why, sizeof(why)),
			 -EINVAL);
	enlarge(fs, 20u << 20, 0);
	/* Not clean: fsck first. */
	fs->state = MAPFS_STATE_MOUNTED;
	assert_int_equal(mapfs_grow(fs, &ng, NULL, NULL, why, sizeof(why)),
			 -EUCLEAN);
	assert_non_null(strstr(why, "fsck"));
	fs->state = MAPFS_STATE_CLEAN;
	assert_int_equal(mapfs_grow(fs, &ng, NULL, NULL, why, sizeof(why)),
			 0);
	check_consistent(fs);
	test_fs_free(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_grow_used_partial),
		cmocka_unit_test(test_grow_unused_partial),
		cmocka_unit_test(test_grow_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
