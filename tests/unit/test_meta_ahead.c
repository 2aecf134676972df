/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: metadata read-ahead (inode.c itab_ahead, dir.c dir_ahead and
 * mapfs_dir_prefetch) on an image file in a temp directory. The image's
 * mapping is MADV_RANDOM, so a page is read only when it is touched,
 * unless the core asks for it ahead. Each test drops the image's pages
 * from the page cache, does one operation, and asks mincore(2) which
 * other pages came in with it.
 *
 * Needs a filesystem whose page cache can be dropped (not tmpfs): the
 * tests skip when the pages are still resident after dropping them.
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
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "mapfs.h"

#define ROOT MAPFS_ROOT_INO
#define SIZE (64u << 20)
#define NFILES 400	/* 100 KiB of 256-byte records: several chunks */

static const struct mapfs_cred root_cr = { 0, 0 };
static char path[256];


static struct mapfs_fs *open_fs(void)
{
	return test_fs_open(path, 0);
}

/* The image with NFILES files (names with 240-byte padding, so the root
 * directory spans many chunks) in its root. */
static void populate(void)
{
	struct mapfs_inode ip;
	struct mapfs_fs *fs;
	char name[256];

	test_image_file(path, sizeof(path), "mapfs-ahead-test", SIZE, 0);
	fs = open_fs();
	for (int i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "%04d%0236d", i, 0);
		assert_int_equal(mapfs_op_mknod(fs, &root_cr, ROOT, name,
						MAPFS_IFREG | 0644, 0, &ip), 0);
	}
	assert_int_equal(mapfs_fs_sync(fs), 0);
	mapfs_fs_close(fs);
}

/* Drop the image's clean pages that nothing maps. */
static void drop_pages(void)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fdatasync(fd), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
}

/* Is the page of the image holding byte off in the page cache? */
static bool resident(struct mapfs_fs *fs, uint64_t off)
{
	unsigned char v = 0;
	uint8_t *p = fs->base + (off & ~(uint64_t)(MAPFS_PAGE_SIZE - 1));

	assert_int_equal(mincore(p, MAPFS_PAGE_SIZE, &v), 0);
	return v & 1;
}

/* The same, without the filesystem open: a mapping of its own. */
static bool file_resident(uint64_t off)
{
	int fd = open(path, O_RDONLY);
	uint64_t page = off & ~(uint64_t)(MAPFS_PAGE_SIZE - 1);
	unsigned char v = 0;
	void *p;

	assert_true(fd >= 0);
	p = mmap(NULL, MAPFS_PAGE_SIZE, PROT_READ, MAP_SHARED, fd,
		 (off_t)page);
	assert_true(p != MAP_FAILED);
	assert_int_equal(mincore(p, MAPFS_PAGE_SIZE, &v), 0);
	munmap(p, MAPFS_PAGE_SIZE);
	close(fd);
	return v & 1;
}

/* Wait (at most 5 s) for the read started ahead to land. */
static bool becomes_resident(struct mapfs_fs *fs, uint64_t off)
{
	for (int i = 0; i < 500; i++) {
		if (resident(fs, off))
			return true;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	return false;
}

/* The image reopened after its pages were dropped from the page cache;
 * skips the test where the page holding byte probe stays resident (the
 * page cache cannot be dropped here). */
static struct mapfs_fs *open_dropped(uint64_t probe)
{
	struct mapfs_fs *fs;

	drop_pages();
	fs = open_fs();
	if (resident(fs, probe)) {
		mapfs_fs_close(fs);
		unlink(path);
		skip();
	}
	return fs;
}

static uint64_t ino_off(struct mapfs_fs *fs, mapfs_ino_t ino)
{
	return (uint64_t)((uint8_t *)mapfs_dinode(fs, ino) - fs->base);
}

static mapfs_ino_t file_ino(struct mapfs_fs *fs, int i)
{
	char name[256];
	mapfs_ino_t ino;

	snprintf(name, sizeof(name), "%04d%0236d", i, 0);
	assert_int_equal(mapfs_op_lookup(fs, ROOT, name, &ino), 0);
	return ino;
}

/* Loading one inode brings in the rest of its chunk of the inode table
 * (MAPFS_ITAB_AHEAD, 128 KiB), and no more. */
static void test_inode_table(void **state)
{
	struct mapfs_inode ip;
	struct mapfs_fs *fs;
	mapfs_ino_t first, last;
	uint64_t chunk = 128u << 10, lo, hi, base;

	(void)state;
	populate();
	fs = open_fs();
	first = file_ino(fs, 0);
	last = file_ino(fs, NFILES - 1);
	assert_true(first / fs->g.ipg == last / fs->g.ipg);
	/* Chunks count from the start of the group's inode table. */
	base = ino_off(fs, first / fs->g.ipg * fs->g.ipg);
	lo = ino_off(fs, first) - base;
	hi = ino_off(fs, last) - base;
	assert_true(hi - lo >= 4 * MAPFS_PAGE_SIZE);
	mapfs_fs_close(fs);

	fs = open_dropped(base + lo);
	assert_false(resident(fs, base + hi));
	assert_int_equal(mapfs_inode_load(fs, first, &ip), 0);
	/* Every page of the chunk holding first's slot: the slots of the
	 * files made after it, in the same group (FFS keeps a directory's
	 * files together), up to the chunk's end. */
	for (uint64_t off = lo; off <= hi && off / chunk == lo / chunk;
	     off += MAPFS_PAGE_SIZE)
		assert_true(becomes_resident(fs, base + off));
	/* Nothing of the next chunk but what its own loads ask for. */
	if (hi / chunk > lo / chunk) {
		uint64_t next = (lo / chunk + 1) * chunk;

		assert_false(resident(fs, base + next));
		assert_int_equal(mapfs_inode_load(fs, last, &ip), 0);
		assert_true(becomes_resident(fs, base + hi / chunk * chunk));
	}
	mapfs_fs_close(fs);
	unlink(path);
}

/* After inodes from MAPFS_ITAB_GROUP_AFTER (4) chunks of one group were
 * loaded, the rest of that group's inodes in use come in at once; the
 * table's unused chunks past them do not. */
static void test_inode_group(void **state)
{
	struct mapfs_inode ip;
	struct mapfs_fs *fs;
	mapfs_ino_t ino[6], gfirst;
	uint64_t per, used, base, chunk;
	int nfiles, k;
	char name[32];

	(void)state;
	test_image_file(path, sizeof(path), "mapfs-ahead-test", SIZE, 0);
	fs = open_fs();
	per = fs->in->itab_per;
	assert_true(per > 0 && fs->in->itab_cpg >= 10);
	/* Six chunks of files after what the image holds already. */
	nfiles = (int)(6 * per);
	for (int i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "g%05d", i);
		assert_int_equal(mapfs_op_mknod(fs, &root_cr, ROOT, name,
						MAPFS_IFREG | 0644, 0, &ip), 0);
	}
	gfirst = ip.ino / fs->g.ipg * fs->g.ipg;
	used = fs->g.ipg - fs->cg[ip.ino / fs->g.ipg].free_inodes;
	assert_true(used >= 6 * per && used < 7 * per);
	/* One inode in each of chunks 0-5 of the group. */
	for (k = 0; k < 6; k++) {
		ino[k] = gfirst + (mapfs_ino_t)(k * per + per / 2);
		assert_int_equal(mapfs_inode_load(fs, ino[k], &ip), 0);
	}
	base = ino_off(fs, gfirst);
	chunk = per * fs->g.inode_size;
	assert_int_equal(mapfs_fs_sync(fs), 0);
	mapfs_fs_close(fs);

	fs = open_dropped(base + 5 * chunk);
	for (k = 0; k < 3; k++)
		assert_int_equal(mapfs_inode_load(fs, ino[k], &ip), 0);
	assert_true(becomes_resident(fs, base + 2 * chunk));
	/* Three chunks: each came alone. */
	assert_false(resident(fs, base + 4 * chunk));
	assert_false(resident(fs, base + 5 * chunk));
	assert_int_equal(mapfs_inode_load(fs, ino[3], &ip), 0);
	/* The fourth: chunks 4 and 5 (the last in use) follow... */
	assert_true(becomes_resident(fs, base + 4 * chunk));
	assert_true(becomes_resident(fs, base + 6 * chunk - MAPFS_PAGE_SIZE));
	/* ...and the unused chunks after them do not. */
	assert_false(resident(fs, base + 8 * chunk));
	mapfs_fs_close(fs);
	unlink(path);
}

/* With the image populated: the image offsets of the root directory's
 * blocks lbn_a and lbn_b (both must exist). */
static void root_blocks(uint64_t lbn_a, uint64_t lbn_b, uint64_t *a,
			uint64_t *b)
{
	struct mapfs_inode root;
	struct mapfs_fs *fs;
	mapfs_bno_t bno_a, bno_b;

	populate();
	fs = open_fs();
	assert_int_equal(mapfs_inode_load(fs, ROOT, &root), 0);
	assert_true((root.size >> fs->g.bshift) > lbn_b);
	assert_int_equal(mapfs_bmap(fs, &root, lbn_a, &bno_a), 0);
	assert_int_equal(mapfs_bmap(fs, &root, lbn_b, &bno_b), 0);
	*a = bno_a << fs->g.bshift;
	*b = bno_b << fs->g.bshift;
	mapfs_fs_close(fs);
}

/* A scan of a directory (here a lookup of its first name, which the
 * scan finds in its first chunk) brings in its other chunks too. */
static void test_directory(void **state)
{
	struct mapfs_fs *fs;
	uint64_t first, last;

	(void)state;
	root_blocks(0, 20, &first, &last);
	fs = open_dropped(last);
	file_ino(fs, 0);
	assert_true(becomes_resident(fs, last));
	mapfs_fs_close(fs);
	unlink(path);
}

/* mapfs_dir_prefetch brings in a directory's direct blocks, and reads
 * nothing through its indirect blocks. */
static void test_prefetch(void **state)
{
	struct mapfs_inode root;
	struct mapfs_fs *fs;
	uint64_t last_direct, first_indirect;

	(void)state;
	root_blocks(MAPFS_NDADDR - 1, MAPFS_NDADDR, &last_direct,
		    &first_indirect);
	fs = open_dropped(last_direct);
	assert_int_equal(mapfs_inode_load(fs, ROOT, &root), 0);
	mapfs_dir_prefetch(fs, &root);
	assert_true(becomes_resident(fs, last_direct));
	assert_false(resident(fs, first_indirect));
	mapfs_fs_close(fs);
	unlink(path);
}

/* Attach reads every group's header page; with 64 of them asked for
 * ahead, opening an image whose groups are all in use takes almost no
 * major fault (one per header page without). */
static void test_group_headers(void **state)
{
	uint64_t size = 4ull << 30, ngroups;
	struct mapfs_inode ip;
	struct mapfs_fs *fs;
	struct rusage r0, r1;
	uint64_t last_hdr;
	char name[32];
	long faults;

	(void)state;
	test_image_file(path, sizeof(path), "mapfs-ahead-test", size, 0);
	fs = open_fs();
	ngroups = fs->g.ngroups;
	assert_true(ngroups >= 16);
	/* Directories go to the group with the fewest: one in each. */
	for (uint64_t i = 0; i < ngroups + 4; i++) {
		snprintf(name, sizeof(name), "d%llu", (unsigned long long)i);
		assert_int_equal(mapfs_op_mknod(fs, &root_cr, ROOT, name,
						MAPFS_IFDIR | 0755, 0, &ip), 0);
	}
	for (uint64_t cg = 0; cg < ngroups; cg++)
		assert_true(fs->cg[cg].init);
	last_hdr = (uint64_t)((uint8_t *)mapfs_cg_hdr(fs, ngroups - 1) -
			      fs->base);
	assert_int_equal(mapfs_fs_sync(fs), 0);
	mapfs_fs_close(fs);

	drop_pages();
	if (file_resident(last_hdr)) {
		unlink(path);
		skip();		/* the page cache cannot be dropped here */
	}
	assert_int_equal(getrusage(RUSAGE_SELF, &r0), 0);
	fs = open_fs();
	assert_int_equal(getrusage(RUSAGE_SELF, &r1), 0);
	faults = r1.ru_majflt - r0.ru_majflt;
	print_message("# %ld major faults opening %llu groups\n", faults,
		      (unsigned long long)ngroups);
	assert_true(faults <= (long)ngroups / 2);
	mapfs_fs_close(fs);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inode_table),
		cmocka_unit_test(test_inode_group),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_prefetch),
		cmocka_unit_test(test_group_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
