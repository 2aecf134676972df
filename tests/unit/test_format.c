/* SPDX-License-Identifier: MIT */
/* Unit tests: the format plan (pure arithmetic) and fresh images. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "helpers.h"

static struct mapfs_format_opts opts(uint64_t size)
{
	struct mapfs_format_opts o;

	memset(&o, 0, sizeof(o));
	o.size_bytes = size;
	o.minfree_pct = UINT32_MAX;
	return o;
}

/* The plan for o, which must succeed. */
static struct mapfs_geom plan(struct mapfs_format_opts o)
{
	struct mapfs_geom g;
	char why[200] = "";

	if (mapfs_format_plan(&o, &g, why, sizeof(why)) != 0)
		fail_msg("plan: %s", why);
	return g;
}

static void test_plan_defaults(void **state)
{
	struct mapfs_geom g = plan(opts(512ull << 20));

	(void)state;
	assert_int_equal(g.bsize, 4096);
	assert_int_equal(g.bpg, 32768);
	assert_int_equal(g.ngroups, 4);
	assert_int_equal(g.ipg, 8192);		/* 16 KiB per inode */
	assert_int_equal(g.itab_blocks, 1024);	/* 512-byte inodes */
	assert_int_equal(g.data_off, 1028);
	assert_int_equal(g.nindir, 511);
	assert_int_equal(g.ninodes, 4 * 8192);
	/* 5 % of the data blocks for root. */
	assert_int_equal(g.reserved_blocks,
			 (131072ull - 4 * 1028) * 5 / 100);
	/* 12 + 511 + 511^2 + 511^3 blocks of 4 KiB. */
	assert_true(g.maxfilesize ==
		    (12ull + 511 + 511ull * 511 + 511ull * 511 * 511) * 4096);
}

static void test_plan_big_and_odd(void **state)
{
	struct mapfs_format_opts o;
	struct mapfs_geom g;

	(void)state;
	assert_int_equal(plan(opts(1ull << 40)).ngroups, 8192);
	o = opts(15ull << 40);
	o.bsize = 65536;
	g = plan(o);
	assert_int_equal(g.bpg, 8 * 65536);
	assert_int_equal(g.nindir, 16 * 511);
	/* An image smaller than a group is one group of its size, with the
	 * asked-for inode density. */
	g = plan(opts(16ull << 20));
	assert_int_equal(g.ngroups, 1);
	assert_int_equal(g.bpg, 4096);
	assert_int_equal(g.ipg, 1024);
	o = opts(16ull << 20);
	o.bsize = 65536;
	assert_int_equal(plan(o).bpg, 256);
	/* A runt last group is dropped. */
	g = plan(opts((32768ull * 2 + 100) * 4096));
	assert_int_equal(g.ngroups, 2);
	assert_int_equal(g.nblocks, 65536);
}

static void test_plan_errors(void **state)
{
	struct mapfs_format_opts o;
	struct mapfs_geom g;
	char why[200];

	(void)state;
	o = opts(100 * 1024);
	why[0] = 0;
	assert_int_equal(mapfs_format_plan(&o, &g, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "too small"));
	o = opts(64 << 20);
	o.bsize = 6000;
	assert_int_equal(mapfs_format_plan(&o, &g, why, sizeof(why)), -EINVAL);
	o.bsize = 131072;
	assert_int_equal(mapfs_format_plan(&o, &g, why, sizeof(why)), -EINVAL);
	o = opts(64 << 20);
	o.bpg = 1001;
	assert_int_equal(mapfs_format_plan(&o, &g, why, sizeof(why)), -EINVAL);
	o.bpg = 8 * 4096 + 8;
	assert_int_equal(mapfs_format_plan(&o, &g, why, sizeof(why)), -EINVAL);
	o = opts(64 << 20);
	o.minfree_pct = 51;
	assert_int_equal(mapfs_format_plan(&o, &g, why, sizeof(why)), -EINVAL);
	o = opts(64 << 20);
	o.bytes_per_inode = 100;
	assert_int_equal(mapfs_format_plan(&o, &g, why, sizeof(why)), -EINVAL);
}

static void test_fresh_image(void **state)
{
	struct mapfs_fs *fs = test_fs_new(64ull << 20, 0, 0);
	struct mapfs_inode root, lpf;
	mapfs_ino_t ino;

	(void)state;
	assert_int_equal(fs->state, MAPFS_STATE_CLEAN);
	assert_int_equal(mapfs_inode_load(fs, MAPFS_ROOT_INO, &root), 0);
	assert_int_equal(root.mode & MAPFS_IFMT, MAPFS_IFDIR);
	assert_int_equal(root.nlink, 3);
	assert_int_equal(mapfs_op_lookup(fs, MAPFS_ROOT_INO, "lost+found",
					 &ino), 0);
	assert_int_equal(mapfs_inode_load(fs, ino, &lpf), 0);
	assert_int_equal(lpf.mode, MAPFS_IFDIR | 0700);
	assert_int_equal(lpf.nlink, 2);
	assert_int_equal(fs->ndirs, 2);
	/* Counts agree with the superblock as written. */
	assert_int_equal(fs->free_blocks, fs->sb_free_blocks);
	assert_int_equal(fs->free_inodes, fs->sb_free_inodes);
	/* Every group but 0 is unused: zero header. */
	for (uint64_t cg = 1; cg < fs->g.ngroups; cg++)
		assert_false(fs->cg[cg].init);
	test_fs_free(fs);
}

static void test_deterministic(void **state)
{
	struct mapfs_format_opts o = opts(32ull << 20);
	struct mapfs_geom g;
	char why[200];
	uint8_t *a = calloc(1, o.size_bytes), *b = calloc(1, o.size_bytes);

	(void)state;
	o.have_uuid = true;
	memset(o.uuid, 7, sizeof(o.uuid));
	o.time = 1;
	strcpy(o.label, "golden");
	assert_int_equal(mapfs_format_plan(&o, &g, why, sizeof(why)), 0);
	assert_int_equal(mapfs_format(a, o.size_bytes, &o, &g, why,
				      sizeof(why)), 0);
	assert_int_equal(mapfs_format(b, o.size_bytes, &o, &g, why,
				      sizeof(why)), 0);
	assert_memory_equal(a, b, o.size_bytes);
	/* Formatting over an old image with another geometry leaves a
	 * filesystem whose metadata is all new: every group checks, and
	 * the old group headers are gone. */
	{
		struct mapfs_fs fs;
		bool unused;

		o.bpg = 2048;
		assert_int_equal(mapfs_format_plan(&o, &g, why, sizeof(why)),
				 0);
		memset(a + 4096, 0x5a, o.size_bytes - 4096); /* old junk */
		assert_int_equal(mapfs_format(a, o.size_bytes, &o, &g, why,
					      sizeof(why)), 0);
		memset(&fs, 0, sizeof(fs));
		assert_int_equal(mapfs_fs_attach(&fs, a, o.size_bytes, 0, 0,
						 NULL, NULL, why, sizeof(why)),
				 0);
		for (uint64_t cg = 0; cg < fs.g.ngroups; cg++)
			assert_int_equal(mapfs_cg_check(&fs, cg, &unused, why,
							sizeof(why)), 0);
		mapfs_fs_detach(&fs);
	}
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_defaults),
		cmocka_unit_test(test_plan_big_and_odd),
		cmocka_unit_test(test_plan_errors),
		cmocka_unit_test(test_fresh_image),
		cmocka_unit_test(test_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
