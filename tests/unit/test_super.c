/* SPDX-License-Identifier: MIT */
/* Unit tests: superblock encode/decode and its validator fed bad
 * superblocks; the sparse set of superblock copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <endian.h>
#include <errno.h>

#include "helpers.h"

#define SIZE (64ull << 20)

static void reseal(struct mapfs_dsuper *d)
{
	d->sb_crc = htole32(mapfs_crc32c(~0u, d,
					 offsetof(struct mapfs_dsuper, sb_crc)));
}

static void test_group_has_sb(void **state)
{
	static const uint64_t yes[] = {0, 1, 3, 5, 7, 9, 25, 27, 49, 81, 125,
				       243, 343, 2401, 6561};
	static const uint64_t no[] = {2, 4, 6, 8, 10, 11, 15, 21, 26, 50, 100};

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(mapfs_group_has_sb(yes[i]));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(mapfs_group_has_sb(no[i]));
}

static void test_roundtrip(void **state)
{
	struct mapfs_fs *fs = test_fs_new(SIZE, 0, 0);
	struct mapfs_geom g;
	char why[200];

	(void)state;
	assert_int_equal(mapfs_super_decode((void *)fs->base, fs->size, 0, &g,
					    why, sizeof(why)), 0);
	assert_int_equal(g.bsize, 4096);
	assert_int_equal(g.nblocks, fs->g.nblocks);
	assert_int_equal(g.ipg, fs->g.ipg);
	assert_int_equal(g.seed, fs->g.seed);
	assert_int_equal(g.maxfilesize, fs->g.maxfilesize);
	/* The copy in group 1 decodes too, and only as group 1. */
	if (fs->g.ngroups > 1) {
		void *c = mapfs_block(fs, fs->g.bpg);
		assert_int_equal(mapfs_super_decode(c, fs->size, 1, &g, why,
						    sizeof(why)), 0);
		assert_int_equal(mapfs_super_decode(c, fs->size, 0, &g, why,
						    sizeof(why)), -EUCLEAN);
	}
	test_fs_free(fs);
}

/* Each mutation must make decode fail with the expected error. */
static void test_rejects(void **state)
{
	struct mapfs_fs *fs = test_fs_new(SIZE, 0, 0);
	struct mapfs_dsuper good, d;
	struct mapfs_geom g;
	char why[200];

	(void)state;
	memcpy(&good, fs->base, sizeof(good));

#define BAD(mutation, reseal_it, err)                                        \
	do {                                                                 \
		memcpy(&d, &good, sizeof(d));                                \
		mutation;                                                    \
		if (reseal_it)                                               \
			reseal(&d);                                          \
		why[0] = 0;                                                  \
		assert_int_equal(mapfs_super_decode(&d, fs->size, 0, &g, why, \
						    sizeof(why)), err);      \
		assert_true(why[0] != 0);                                    \
	} while (0)

	BAD(d.sb_magic = 0, 1, -EUCLEAN);
	BAD(d.sb_magic = htole32(MAPFS_SB_MAGIC_MKFS), 1, -EUCLEAN);
	BAD(d.sb_nblocks ^= htole64(1), 0, -EUCLEAN);	/* stale CRC */
	BAD(d.sb_version = htole32(2), 1, -EOPNOTSUPP);
	BAD(d.sb_feat_incompat = htole32(0x80), 1, -EOPNOTSUPP);
	BAD(d.sb_bsize = htole32(5000), 1, -EUCLEAN);
	BAD(d.sb_bsize = htole32(1024), 1, -EUCLEAN);
	BAD(d.sb_bpg = htole32(le32toh(d.sb_bpg) + 1), 1, -EUCLEAN);
	BAD(d.sb_ipg = htole32(0), 1, -EUCLEAN);
	BAD(d.sb_nblocks = htole64(le64toh(d.sb_nblocks) * 2), 1, -EUCLEAN);
	BAD(d.sb_ngroups = htole64(99), 1, -EUCLEAN);
	BAD(d.sb_cg_data_off = htole32(5), 1, -EUCLEAN);
	BAD(d.sb_state = htole32(9), 1, -EUCLEAN);
	BAD(d.sb_this_group = htole64(1), 1, -EUCLEAN);
	BAD(d.sb_root_ino = htole64(1), 1, -EUCLEAN);
	BAD(d.sb_csum_seed ^= htole32(1), 1, -EUCLEAN);
	BAD(d.sb_reserved_blocks = htole64(UINT64_MAX), 1, -EUCLEAN);
	/* A truncated image: the filesystem no longer fits. */
	memcpy(&d, &good, sizeof(d));
	assert_int_equal(mapfs_super_decode(&d, fs->size / 2, 0, &g, why,
					    sizeof(why)), -EUCLEAN);
	test_fs_free(fs);
}

static void test_attach_rejects_bad_group(void **state)
{
	struct mapfs_fs *fs = test_fs_new(SIZE, 0, 0);
	struct mapfs_fs fs2;
	struct mapfs_dcg *h = mapfs_cg_hdr(fs, 0);
	char why[200] = "";

	(void)state;
	h->cg_free_blocks ^= htole64(1);	/* stale header CRC */
	memset(&fs2, 0, sizeof(fs2));
	assert_int_equal(mapfs_fs_attach(&fs2, fs->base, fs->size, 0, 0, NULL,
					 NULL, why, sizeof(why)), -EUCLEAN);
	assert_non_null(strstr(why, "group 0"));
	/* fsck mode attaches and marks the group bad. */
	assert_int_equal(mapfs_fs_attach(&fs2, fs->base, fs->size,
					 MAPFS_OPEN_FSCK | MAPFS_OPEN_RDONLY,
					 0, NULL, NULL, why, sizeof(why)), 0);
	assert_true(fs2.cg[0].bad);
	mapfs_fs_detach(&fs2);
	h->cg_free_blocks ^= htole64(1);
	test_fs_free(fs);
}

static void test_fallback_copy(void **state)
{
	struct mapfs_fs *fs = test_fs_new(SIZE * 4, 0, 0);
	struct mapfs_fs fs2;
	char why[200] = "";

	(void)state;
	assert_true(fs->g.ngroups > 1);
	memset(fs->base, 0xa5, 4096);	/* wreck the primary */
	memset(&fs2, 0, sizeof(fs2));
	assert_int_not_equal(mapfs_fs_attach(&fs2, fs->base, fs->size, 0, 0,
					     NULL, NULL, why, sizeof(why)), 0);
	assert_int_equal(mapfs_fs_attach(&fs2, fs->base, fs->size,
					 MAPFS_OPEN_RDONLY, 1, NULL, NULL, why,
					 sizeof(why)), 0);
	assert_int_equal(fs2.g.nblocks, fs->g.nblocks);
	mapfs_fs_detach(&fs2);
	/* Group 2 holds no copy. */
	assert_int_equal(mapfs_fs_attach(&fs2, fs->base, fs->size,
					 MAPFS_OPEN_RDONLY, 2, NULL, NULL, why,
					 sizeof(why)), -EINVAL);
	test_fs_free(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_has_sb),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_attach_rejects_bad_group),
		cmocka_unit_test(test_fallback_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
