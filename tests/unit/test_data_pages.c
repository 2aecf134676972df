/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: what the core does with the host's pages of file data
 * (fs/image.c), on an image file in a temp directory.
 *
 *  - mapfs_fs_fresh_data zeroes blocks about to be overwritten whole in
 *    the host (so their pages are not read from the disk), but leaves
 *    pages the host still holds alone: overwriting those reads nothing.
 *  - Freed blocks leave the daemon's mapping (mapfs_fs_forget_blocks, via
 *    mapfs_free_block and mapfs_op_end), so that reclaim and
 *    drop_caches can take a deleted file's pages.
 *
 * Residency comes from mincore(2), mapping from /proc/self/pagemap (bit
 * 63: a page is mapped at that address). Needs a filesystem whose page
 * cache can be dropped and that has FALLOC_FL_ZERO_RANGE (not tmpfs):
 * the tests skip otherwise.
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
#include <unistd.h>

#include "helpers.h"
#include "mapfs.h"

#define ROOT MAPFS_ROOT_INO
#define SIZE (64u << 20)
#define FILE_LEN (1u << 20)
#define FIRST 16	/* logical block: past the direct blocks */

static const struct mapfs_cred root_cr = { 0, 0 };
static char path[256];

static struct mapfs_fs *open_fs(void)
{
	return test_fs_open(path, 0);
}

/* The fixture: a journaled image holding /f, FILE_LEN bytes of 0xab
 * written through the core, so its pages are in the page cache and
 * mapped. From logical block FIRST on (past the direct blocks and the
 * indirect block after them) its n blocks are contiguous from bno; blk
 * points at the first of them in the mapping. */
struct fx {
	struct mapfs_fs *fs;
	mapfs_bno_t bno;
	uint64_t n;
	uint8_t *blk;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mapfs_inode ip;
	uint8_t *buf = malloc(FILE_LEN);

	assert_non_null(f);
	assert_non_null(buf);
	memset(buf, 0xab, FILE_LEN);
	test_image_file(path, sizeof(path), "mapfs-pages-test", SIZE,
			4u << 20);
	f->fs = open_fs();
	assert_int_equal(mapfs_op_mknod(f->fs, &root_cr, ROOT, "f",
					MAPFS_IFREG | 0644, 0, &ip), 0);
	assert_int_equal(mapfs_op_write(f->fs, ip.ino, 0, buf, FILE_LEN,
					false), (ssize_t)FILE_LEN);
	free(buf);
	assert_int_equal(mapfs_inode_load(f->fs, ip.ino, &ip), 0);
	assert_int_equal(mapfs_bmap(f->fs, &ip, FIRST, &f->bno), 0);
	assert_true(f->bno != 0);
	f->n = FILE_LEN / f->fs->g.bsize - FIRST;
	for (uint64_t l = 1; l < f->n; l++) {
		mapfs_bno_t b;

		assert_int_equal(mapfs_bmap(f->fs, &ip, FIRST + l, &b), 0);
		assert_int_equal(b, f->bno + l);
	}
	f->blk = mapfs_data_block(f->fs, f->bno);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	mapfs_fs_close(f->fs);
	unlink(path);
	free(f);
	return 0;
}

static bool resident(const void *p)
{
	unsigned char v = 0;

	assert_int_equal(mincore((void *)p, MAPFS_PAGE_SIZE, &v), 0);
	return v & 1;
}

/* Is a page mapped at p in this process? */
static bool mapped(const void *p)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t ent = 0;
	off_t at = (off_t)((uintptr_t)p / (uintptr_t)sysconf(_SC_PAGESIZE) *
			   sizeof(ent));

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &ent, sizeof(ent), at), (ssize_t)sizeof(ent));
	close(fd);
	return ent >> 63;
}

/* Write back, unmap and drop the pages of [p, p + len) of the image. */
static void evict(struct mapfs_fs *fs, uint8_t *p, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(msync(p, len, MS_SYNC), 0);
	assert_int_equal(madvise(p, len, MADV_DONTNEED), 0);
	assert_int_equal(posix_fadvise(fd, (off_t)(p - fs->dbase),
				       (off_t)len, POSIX_FADV_DONTNEED), 0);
	close(fd);
}

/* Pages in memory keep their bytes: nothing is zeroed under them. Pages
 * that are not are zeroed in the host (read back as zeros, without the
 * old bytes coming from the disk). */
static void test_fresh_data(void **state)
{
	struct fx *f = *state;
	uint64_t half = f->n / 2;
	size_t hlen = half * f->fs->g.bsize;
	uint8_t *second = f->blk + hlen;

	/* The second half leaves memory; the first stays. */
	evict(f->fs, second, hlen);
	if (resident(second))
		skip();
	assert_true(resident(f->blk));
	mapfs_fs_fresh_data(f->fs, f->bno, 2 * half);
	if (f->fs->in->zero_unsupported)
		skip();
	for (size_t i = 0; i < hlen; i += 512)
		assert_int_equal(f->blk[i], 0xab);
	for (size_t i = 0; i < hlen; i += 512)
		assert_int_equal(second[i], 0);
}

/* Unlinking the file takes its pages out of the mapping once the
 * operation ends; they stay in the page cache. */
static void test_forget_freed(void **state)
{
	struct fx *f = *state;
	uint8_t *last = f->blk + (f->n - 1) * f->fs->g.bsize;

	assert_int_equal(mapfs_op_end(f->fs), 0);
	assert_true(mapped(f->blk));
	assert_true(mapped(last));
	assert_int_equal(mapfs_op_begin(f->fs), 0);
	assert_int_equal(mapfs_op_unlink(f->fs, ROOT, "f"), 0);
	/* The last run freed waits for the operation's end. */
	assert_true(f->fs->in->forget_n > 0);
	assert_int_equal(mapfs_op_end(f->fs), 0);
	assert_int_equal(f->fs->in->forget_n, 0);
	assert_false(mapped(f->blk));
	assert_false(mapped(last));
	assert_true(resident(f->blk));
	/* Bytes unchanged: the page comes back as it was. */
	assert_int_equal(f->blk[0], 0xab);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_data, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_forget_freed, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
