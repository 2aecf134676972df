/* SPDX-License-Identifier: MIT */
/* Unit tests: growing a filesystem (grow.c) on images in memory, and
 * growing while mounted (mapfs_grow_online) on image files opened as the
 * daemon opens them (a "kill" is a close without a commit). */
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
#include <unistd.h>

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

/* Every group valid, every copy decodes to the primary's geometry,
 * totals equal the sums (fs as attached). */
static void check_groups(struct mapfs_fs *fs)
{
	struct mapfs_geom g;
	uint64_t fb = 0, fi = 0, nd = 0;
	char why[256] = "";

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

/* Everything a fresh attach checks, plus check_groups. */
static void check_consistent(struct mapfs_fs *fs)
{
	test_fs_remount(fs);
	check_groups(fs);
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

/* ------------------------------------------------------------------ */
/* Growing while mounted                                               */
/* ------------------------------------------------------------------ */
#define MiB (1024ull * 1024)
static char path[256];

static uint64_t file_size(void)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* One grow as the daemon makes it: an operation around it. */
static int grow_online(struct mapfs_fs *fs, uint64_t size, bool end)
{
	char why[256] = "";
	int err;

	assert_int_equal(mapfs_op_begin(fs), 0);
	err = mapfs_grow_online(fs, size, why, sizeof(why));
	if (end)
		assert_int_equal(mapfs_op_end(fs), 0);
	return err;
}

/* 16M (one partial group of 128M) to 200M: the mapping stays where it
 * is, the file is enlarged, the new space is usable at once, and a
 * kill after the operation's end keeps the new size (replayed); a kill
 * before it, the old one, in the enlarged file. */
static void test_online(void **state)
{
	struct mapfs_fs *fs;
	uint8_t *base, *dbase;
	uint64_t old_nb, new_nb;

	(void)state;
	test_image_file(path, sizeof(path), "mapfs-grow-test", 16 * MiB, 0);
	fs = test_fs_open(path, MAPFS_OPEN_JOURNAL);
	base = fs->base;
	dbase = fs->dbase;
	old_nb = fs->g.nblocks;
	assert_true(mapfs_grow_online_max(fs) >= (1ull << 40));
	assert_int_equal(grow_online(fs, 200 * MiB, true), 0);
	new_nb = fs->g.nblocks;
	assert_int_equal(new_nb, 200 * MiB / fs->g.bsize);
	assert_ptr_equal(fs->base, base);
	assert_ptr_equal(fs->dbase, dbase);
	assert_int_equal(fs->size, 200 * MiB);
	assert_int_equal(file_size(), 200 * MiB);
	/* Blocks past the old end are usable (the last group, extended,
	 * then group 1). */
	assert_int_equal(mapfs_op_begin(fs), 0);
	assert_int_equal(write_file(fs, "big", 30000), 30000);
	assert_int_equal(mapfs_op_end(fs), 0);
	mapfs_fs_close(fs);		/* the kill: no commit */
	fs = test_fs_open(path, MAPFS_OPEN_FSCK | MAPFS_OPEN_RDONLY);
	assert_true(fs->replayed > 0);
	assert_int_equal(fs->g.nblocks, new_nb);
	check_groups(fs);
	mapfs_fs_close(fs);
	fs = test_fs_open(path, 0);	/* replayed and written home */
	check_groups(fs);
	mapfs_fs_close(fs);

	/* Killed inside the operation: no record, the old size. */
	unlink(path);
	test_image_file(path, sizeof(path), "mapfs-grow-test", 16 * MiB, 0);
	fs = test_fs_open(path, MAPFS_OPEN_JOURNAL);
	assert_int_equal(grow_online(fs, 200 * MiB, false), 0);
	mapfs_fs_close(fs);
	assert_int_equal(file_size(), 200 * MiB);
	fs = test_fs_open(path, 0);
	assert_int_equal(fs->g.nblocks, old_nb);
	check_groups(fs);
	mapfs_fs_close(fs);
	/* ... and it grows again into that longer file, whose old bytes
	 * (junk here, one page a MiB: group headers among them) are zeroed
	 * first. */
	{
		static uint8_t junk[4096];
		int fd = open(path, O_RDWR);

		memset(junk, 0xa5, sizeof(junk));
		assert_true(fd >= 0);
		for (uint64_t off = 16 * MiB; off < 200 * MiB; off += MiB)
			assert_int_equal(pwrite(fd, junk, sizeof(junk),
						(off_t)off), sizeof(junk));
		close(fd);
	}
	fs = test_fs_open(path, MAPFS_OPEN_JOURNAL);
	assert_int_equal(grow_online(fs, 150 * MiB, true), 0);
	assert_int_equal(fs->g.nblocks, 150 * MiB / fs->g.bsize);
	for (uint64_t off = 16 * MiB; off < 150 * MiB; off += MiB) {
		if (off % ((uint64_t)fs->g.bpg << fs->g.bshift) == 0)
			continue;	/* a group's start: its superblock */
		assert_true(fs->dbase[off] == 0 && fs->base[off] == 0);
	}
	assert_true(fs->dbase[160 * MiB] == 0xa5);	/* past the end */
	assert_int_equal(mapfs_fs_sync(fs), 0);
	mapfs_fs_close(fs);
	fs = test_fs_open(path, 0);
	assert_int_equal(fs->replayed, 0);
	assert_int_equal(fs->g.nblocks, 150 * MiB / fs->g.bsize);
	check_groups(fs);
	mapfs_fs_close(fs);
	unlink(path);
}

static void test_online_refusals(void **state)
{
	struct mapfs_fs *fs;
	uint64_t nb;

	(void)state;
	test_image_file(path, sizeof(path), "mapfs-grow-test", 16 * MiB, 0);
	fs = test_fs_open(path, MAPFS_OPEN_JOURNAL);
	nb = fs->g.nblocks;
	assert_int_equal(grow_online(fs, 8 * MiB, true), -EINVAL);
	assert_int_equal(grow_online(fs, mapfs_grow_online_max(fs) +
				     256 * MiB, true), -EFBIG);
	assert_int_equal(grow_online(fs, 16 * MiB, true), 0);
	assert_int_equal(fs->g.nblocks, nb);
	assert_int_equal(file_size(), 16 * MiB);
	mapfs_fs_close(fs);
	/* Without a journal: grown unmounted only. */
	unlink(path);
	test_image_file(path, sizeof(path), "mapfs-grow-test", 16 * MiB,
			UINT64_MAX);
	fs = test_fs_open(path, MAPFS_OPEN_JOURNAL);
	assert_null(fs->j);
	assert_int_equal(grow_online(fs, 32 * MiB, true), -EOPNOTSUPP);
	mapfs_fs_close(fs);
	unlink(path);
}

/* A replayed record that leaves a superblock the attach after replay
 * refuses (what a grow stored in place and cut by a power loss could
 * leave) fails the open; it crashed fsck (fs->in used after the failed
 * attach had freed it). */
static void test_replay_bad_super(void **state)
{
	struct mapfs_fs *fs;
	struct mapfs_dsuper *d;
	char why[256] = "";

	(void)state;
	test_image_file(path, sizeof(path), "mapfs-grow-test", 16 * MiB, 0);
	fs = test_fs_open(path, MAPFS_OPEN_JOURNAL);
	/* A first operation stores the superblock (counters moved); the
	 * next stores it only if they move again: not here. */
	assert_int_equal(mapfs_op_begin(fs), 0);
	assert_int_equal(write_file(fs, "f", 1), 1);
	assert_int_equal(mapfs_op_end(fs), 0);
	assert_int_equal(mapfs_op_begin(fs), 0);
	d = (struct mapfs_dsuper *)fs->base;
	d->sb_nblocks = htole64(1ull << 40);	/* past the file's end */
	mapfs_jdirty(fs, &d->sb_nblocks, sizeof(d->sb_nblocks));
	assert_int_equal(mapfs_op_end(fs), 0);
	mapfs_fs_close(fs);			/* the kill */
	assert_true(mapfs_fs_open(path, MAPFS_OPEN_FSCK, 0, NULL, NULL, &fs,
				  why, sizeof(why)) < 0);
	assert_true(mapfs_fs_open(path, 0, 0, NULL, NULL, &fs, why,
				  sizeof(why)) < 0);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_grow_used_partial),
		cmocka_unit_test(test_grow_unused_partial),
		cmocka_unit_test(test_grow_refusals),
		cmocka_unit_test(test_online),
		cmocka_unit_test(test_online_refusals),
		cmocka_unit_test(test_replay_bad_super),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
