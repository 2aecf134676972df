/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the metadata journal (journal.c) on image files in a temp
 * directory, opened with MAPFS_OPEN_JOURNAL as the daemon opens them.
 * A "daemon crash" is closing without a commit: the private mapping's
 * staged pages vanish, the ring (shared mapping) stays.
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

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#include <unistd.h>

#include "helpers.h"
#include "mapfs.h"
#include "mapfs_format.h"

#define ROOT MAPFS_ROOT_INO
#define SIZE (16u << 20)

static const struct mapfs_cred root_cr = { 0, 0 };
static char path[256];

static void make_image(uint64_t journal)
{
	test_image_file(path, sizeof(path), "mapfs-journal-test", SIZE,
			journal);
}

static struct mapfs_fs *open_fs(int flags)
{
	return test_fs_open(path, flags);
}

/* A new image with the default journal, opened as the daemon opens it. */
static struct mapfs_fs *new_fs(void)
{
	make_image(0);
	return open_fs(MAPFS_OPEN_JOURNAL);
}

/* One operation as the daemon brackets it: a file of len bytes in the
 * root, which lookup then finds; its inode number. */
static mapfs_ino_t create(struct mapfs_fs *fs, const char *name, size_t len)
{
	struct mapfs_inode ip;
	mapfs_ino_t ino;
	char buf[8192];

	assert_int_equal(mapfs_op_begin(fs), 0);
	assert_int_equal(mapfs_op_mknod(fs, &root_cr, ROOT, name,
					MAPFS_IFREG | 0644, 0, &ip), 0);
	memset(buf, name[0], sizeof(buf));
	if (len)
		assert_int_equal(mapfs_op_write(fs, ip.ino, 0, buf, len, true),
				 (ssize_t)len);
	assert_int_equal(mapfs_op_end(fs), 0);
	assert_int_equal(mapfs_op_lookup(fs, ROOT, name, &ino), 0);
	assert_int_equal(ino, ip.ino);
	return ino;
}

static bool exists(struct mapfs_fs *fs, const char *name)
{
	mapfs_ino_t ino;

	return mapfs_op_lookup(fs, ROOT, name, &ino) == 0;
}

/* Closed without a commit, reopened: every ended operation is there,
 * replayed from the ring; the staged pages alone did not reach home. */
static void test_crash_loses_nothing(void **state)
{
	struct mapfs_fs *fs;

	(void)state;
	fs = new_fs();
	assert_non_null(fs->j);
	for (int i = 0; i < 50; i++) {
		char n[16];

		snprintf(n, sizeof(n), "f%d", i);
		create(fs, n, 100 + (size_t)i);
	}
	mapfs_fs_close(fs);		/* the "kill": no commit */

	/* A read-only open replays in memory only... */
	fs = open_fs(MAPFS_OPEN_RDONLY);
	assert_true(fs->replayed >= 50);
	assert_true(exists(fs, "f0") && exists(fs, "f49"));
	mapfs_fs_close(fs);
	/* ...so a read-write one replays again, and writes it home. */
	fs = open_fs(0);
	assert_true(fs->replayed >= 50);
	assert_true(exists(fs, "f0") && exists(fs, "f49"));
	mapfs_fs_close(fs);
	fs = open_fs(0);
	assert_int_equal(fs->replayed, 0);	/* the journal was emptied */
	assert_true(exists(fs, "f49"));
	mapfs_fs_close(fs);
	unlink(path);
}

/* An inconsistency seen during an operation that moves no counter
 * (a chmod) still reaches the journaled superblock: after a crash the
 * image says "error", so fsck runs. */
static void test_error_state_journaled(void **state)
{
	struct mapfs_fs *fs;
	struct mapfs_setattr sa;
	struct mapfs_inode ip;
	mapfs_ino_t ino;

	(void)state;
	fs = new_fs();
	ino = create(fs, "f", 10);
	atomic_store(&fs->error, 1);
	memset(&sa, 0, sizeof(sa));
	sa.valid = MAPFS_SET_MODE;
	sa.mode = 0600;
	assert_int_equal(mapfs_op_begin(fs), 0);
	assert_int_equal(mapfs_op_setattr(fs, ino, &sa, true, &ip), 0);
	assert_int_equal(mapfs_op_end(fs), 0);
	mapfs_fs_close(fs);		/* the "kill": no commit */

	fs = open_fs(MAPFS_OPEN_RDONLY);
	assert_int_equal(fs->state, MAPFS_STATE_ERROR);
	mapfs_fs_close(fs);
	unlink(path);
}

/* A torn last record (its CRC no longer matches) ends replay there:
 * the operations before it survive, it does not. */
static void test_torn_record(void **state)
{
	struct mapfs_fs *fs;
	struct mapfs_journal_info ji;
	uint8_t *rec;

	(void)state;
	fs = new_fs();
	create(fs, "a", 10);
	create(fs, "b", 10);
	/* The ring starts at 0 in this epoch: find b's record by walking
	 * a's length, and flip a byte in its tail. */
	rec = fs->dbase + (fs->g.jstart << fs->g.bshift) + 4096;
	{
		uint32_t alen;

		memcpy(&alen, rec + 4, 4);
		rec += alen;
		memcpy(&alen, rec + 4, 4);
		rec[alen - 1] ^= 0x5a;
	}
	mapfs_fs_close(fs);
	fs = open_fs(MAPFS_OPEN_RDONLY);
	assert_int_equal(mapfs_journal_info(fs, &ji), 0);
	assert_true(ji.header_ok);
	assert_true(exists(fs, "a"));
	assert_false(exists(fs, "b"));
	mapfs_fs_close(fs);
	unlink(path);
}

/* Blocks freed since the last commit are not handed out again; after a
 * full commit they are. */
static void test_quarantine(void **state)
{
	struct mapfs_fs *fs;
	struct mapfs_inode ip, ip2;
	struct mapfs_setattr sa;
	mapfs_bno_t freed;
	mapfs_ino_t ino;

	(void)state;
	fs = new_fs();
	ino = create(fs, "x", 4096);
	ip = test_get(fs, ino);
	freed = ip.blk[0];
	assert_int_equal(mapfs_fs_commit(fs), 0);

	assert_int_equal(mapfs_op_begin(fs), 0);
	memset(&sa, 0, sizeof(sa));
	sa.valid = MAPFS_SET_SIZE;
	assert_int_equal(mapfs_op_setattr(fs, ino, &sa, true, &ip), 0);
	assert_int_equal(mapfs_op_end(fs), 0);
	assert_true(mapfs_journal_frees_pending(fs));

	ino = create(fs, "y", 4096);
	ip2 = test_get(fs, ino);
	assert_true(ip2.blk[0] != freed);

	assert_int_equal(mapfs_fs_sync(fs), 0);	/* full commit */
	assert_false(mapfs_journal_frees_pending(fs));
	mapfs_fs_close(fs);
	unlink(path);
}

static bool block_zero(struct mapfs_fs *fs, mapfs_bno_t bno)
{
	const uint8_t *p = mapfs_data_block(fs, bno);

	for (uint32_t i = 0; i < fs->g.bsize; i++)
		if (p[i])
			return false;
	return true;
}

/* Freed blocks are zeroed in the host before they can be reused, so a
 * power cut never shows their old bytes in a new owner: not at the free
 * (a cut could still bring the old owner back), but once the free is
 * durable and checkpointed. A directory chunk changed and freed between
 * two commits has a staged copy that the checkpoint writes home: the
 * zeroing must come after it. */
static void test_freed_zeroed(void **state)
{
	struct mapfs_fs *fs;
	struct mapfs_inode ip, dp;
	mapfs_ino_t ino, dino, eino;
	mapfs_bno_t x0, x1, chunk;
	int n;

	(void)state;
	fs = new_fs();
	ino = create(fs, "x", 8192);
	ip = test_get(fs, ino);
	x0 = ip.blk[0];
	x1 = ip.blk[1];
	assert_int_equal(mapfs_op_begin(fs), 0);
	assert_int_equal(mapfs_op_mknod(fs, &root_cr, ROOT, "d",
					MAPFS_IFDIR | 0755, 0, &dp), 0);
	dino = dp.ino;
	assert_int_equal(mapfs_op_mknod(fs, &root_cr, dino, "e",
					MAPFS_IFREG | 0644, 0, &ip), 0);
	eino = ip.ino;
	assert_int_equal(mapfs_op_end(fs), 0);
	assert_int_equal(mapfs_inode_load(fs, dino, &dp), 0);
	chunk = dp.blk[0];
	assert_int_equal(mapfs_fs_commit(fs), 0);

	/* One window: the chunk is changed (staged), then freed. */
	assert_int_equal(mapfs_op_begin(fs), 0);
	assert_int_equal(mapfs_op_unlink(fs, dino, "e"), 0);
	assert_int_equal(mapfs_op_rmdir(fs, ROOT, "d"), 0);
	assert_int_equal(mapfs_op_unlink(fs, ROOT, "x"), 0);
	assert_int_equal(mapfs_op_end(fs), 0);
	(void)eino;
	/* Not at the free: the unlink is not durable yet. */
	assert_false(block_zero(fs, x0));
	assert_false(block_zero(fs, chunk));

	/* The commit that makes the frees durable zeroes them, after its
	 * checkpoint; they stay out of reach until the zeroing is durable
	 * and the tail has passed them. */
	assert_int_equal(mapfs_fs_commit(fs), 0);
	assert_true(block_zero(fs, x0));
	assert_true(block_zero(fs, x1));
	assert_true(block_zero(fs, chunk));
	assert_true(mapfs_journal_frees_pending(fs));
	assert_int_equal(mapfs_free_run(fs, x0, 2), 0);
	for (n = 0; n < 4 && mapfs_journal_frees_pending(fs); n++)
		assert_int_equal(mapfs_fs_commit(fs), 0);
	assert_false(mapfs_journal_frees_pending(fs));
	assert_int_equal(mapfs_free_run(fs, x0, 2), 2);
	mapfs_fs_close(fs);
	unlink(path);
}

static uint32_t sb_mark(void)
{
	uint32_t v = 0;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &v, sizeof(v),
			       offsetof(struct mapfs_dsuper, sb_free_zeroed)),
			 (ssize_t)sizeof(v));
	close(fd);
	return le32toh(v);
}

/* The mount pass (mapfs_alloc_zero_free) zeroes every free block's host
 * data; a clean unmount records that it holds (sb_free_zeroed), which
 * spares the next mount the pass; the mark is cleared on the image
 * before it could be wrong: at the daemon's open, or at the first block
 * another writer frees (fsck, tools). */
static void test_zero_free_mark(void **state)
{
	static const char junk[] = "bytes of an earlier filesystem";
	struct mapfs_fs *fs;
	mapfs_bno_t b;
	off_t at;
	int fd;
	char got[sizeof(junk)];

	(void)state;
	make_image(0);
	fs = open_fs(0);
	b = fs->g.jstart - 1;		/* free: the one before the journal */
	assert_true(mapfs_bno_is_data(&fs->g, b));
	at = (off_t)(b << fs->g.bshift);
	mapfs_fs_close(fs);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), at),
			 (ssize_t)sizeof(junk));

	/* Never marked (mkfs does not): the pass zeroes. */
	assert_int_equal(sb_mark(), 0);
	fs = open_fs(MAPFS_OPEN_JOURNAL);
	fs->state = MAPFS_STATE_MOUNTED;	/* as the daemon mounts */
	assert_false(fs->free_zero_found);
	assert_true(mapfs_alloc_zero_free(fs) > 0);
	assert_true(fs->in->free_zeroed);
	assert_true(block_zero(fs, b));
	/* A sync while mounted does not mark; the last one, clean, does. */
	create(fs, "y", 4096);
	assert_int_equal(mapfs_fs_sync(fs), 0);
	assert_int_equal(sb_mark(), 0);
	fs->state = MAPFS_STATE_CLEAN;
	assert_int_equal(mapfs_fs_sync(fs), 0);
	mapfs_fs_close(fs);
	assert_int_equal(sb_mark(), MAPFS_FREE_ZEROED_MAGIC);

	/* Marked: the next mount trusts it (the junk planted behind its
	 * back stays) and clears the mark at open, durably. */
	assert_int_equal(pwrite(fd, junk, sizeof(junk), at),
			 (ssize_t)sizeof(junk));
	fs = open_fs(MAPFS_OPEN_JOURNAL);
	assert_true(fs->free_zero_found);
	assert_int_equal(sb_mark(), 0);
	assert_int_equal(mapfs_alloc_zero_free(fs), 0);
	assert_true(fs->in->free_zeroed);
	assert_int_equal(pread(fd, got, sizeof(got), at), (ssize_t)sizeof(got));
	assert_memory_equal(got, junk, sizeof(junk));
	mapfs_fs_close(fs);		/* a crash: no sync */
	fs = open_fs(MAPFS_OPEN_RDONLY);
	assert_false(fs->in->free_zero_mark);
	mapfs_fs_close(fs);

	/* A writer without the journal (fsck, tools) keeps the mark while
	 * it frees nothing (fsck -p at boot leaves it), and clears it,
	 * durably, before the first block it frees: nothing zeroes that. */
	fs = open_fs(MAPFS_OPEN_JOURNAL);
	(void)mapfs_alloc_zero_free(fs);
	fs->state = MAPFS_STATE_CLEAN;
	assert_int_equal(mapfs_fs_sync(fs), 0);
	mapfs_fs_close(fs);
	assert_int_equal(sb_mark(), MAPFS_FREE_ZEROED_MAGIC);
	fs = open_fs(0);
	assert_int_equal(mapfs_fs_sync(fs), 0);
	assert_int_equal(sb_mark(), MAPFS_FREE_ZEROED_MAGIC);
	assert_int_equal(mapfs_op_unlink(fs, ROOT, "y"), 0);
	assert_int_equal(sb_mark(), 0);
	assert_int_equal(mapfs_fs_sync(fs), 0);
	mapfs_fs_close(fs);
	fs = open_fs(MAPFS_OPEN_FSCK | MAPFS_OPEN_RDONLY);
	assert_false(fs->in->free_zero_mark);
	mapfs_fs_close(fs);
	close(fd);
	unlink(path);
}

/* Writing ahead (write_ahead in file.c), with a hook that records what
 * it is told and faults the pages in as the daemon's helper does. */
static struct {
	struct mapfs_fs *fs;
	int calls;
	mapfs_bno_t lo[64], hi[64];
} ah;

static void ahead_record(void *arg, mapfs_bno_t bno, uint64_t n)
{
	struct mapfs_fs *fs = arg;

	/* Only blocks nobody owns and no replay can still write. */
	assert_true(n > 0);
	assert_int_equal(mapfs_free_run(fs, bno, n), n);
	if (ah.calls < 64) {
		ah.lo[ah.calls] = bno;
		ah.hi[ah.calls] = bno + n;
	}
	ah.calls++;
	assert_int_equal(madvise(mapfs_data_block(fs, bno),
				 (size_t)(n << fs->g.bshift),
				 MADV_POPULATE_WRITE), 0);
}

static bool told_of(mapfs_bno_t bno)
{
	for (int i = 0; i < ah.calls && i < 64; i++)
		if (bno >= ah.lo[i] && bno < ah.hi[i])
			return true;
	return false;
}

static void fill(uint8_t *buf, size_t len, uint64_t off, uint8_t salt)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((off + i) * 7 + (off + i) / 4096 + salt);
}

static void test_write_ahead(void **state)
{
	const size_t mib = 1u << 20;
	uint8_t *buf = malloc(4 * mib), *got = malloc(4 * mib);
	uint8_t small[8192], sgot[8192];
	struct mapfs_inode ip, sp;
	struct mapfs_fs *fs;
	mapfs_ino_t ino, sino;
	mapfs_bno_t b, q;

	(void)state;
	assert_non_null(buf);
	assert_non_null(got);
	memset(&ah, 0, sizeof(ah));
	fs = new_fs();
	fs->ahead_hook = ahead_record;
	fs->ahead_arg = fs;
	ino = create(fs, "seq", 0);
	fill(buf, 4 * mib, 0, 1);

	/* A file written in 1 MiB requests: after the first, the blocks
	 * right after its last one are prepared, and the next request
	 * gets blocks the hook was told of. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(mapfs_op_begin(fs), 0);
		assert_int_equal(mapfs_op_write(fs, ino, i * mib,
						buf + i * mib, mib, true),
				 (ssize_t)mib);
		assert_int_equal(mapfs_op_end(fs), 0);
		assert_int_equal(mapfs_inode_load(fs, ino, &ip), 0);
		if (i == 0) {
			assert_int_equal(ah.calls, 1);
			assert_int_equal(mapfs_bmap(fs, &ip, 255, &b), 0);
			assert_int_equal(ah.lo[0], b + 1);
		} else {
			assert_int_equal(mapfs_bmap(fs, &ip, i * 256, &b), 0);
			assert_true(told_of(b));
		}
		if (i == 1) {
			/* Another file written in between may land in the
			 * prepared blocks: what it wrote stays. */
			create(fs, "small", 0);
			assert_int_equal(mapfs_op_lookup(fs, ROOT, "small",
							 &sino), 0);
			fill(small, sizeof(small), 0, 9);
			assert_int_equal(mapfs_op_begin(fs), 0);
			assert_int_equal(mapfs_op_write(fs, sino, 0, small,
							sizeof(small), true),
					 (ssize_t)sizeof(small));
			assert_int_equal(mapfs_op_end(fs), 0);
		}
	}
	assert_int_equal(mapfs_file_read(fs, &ip, 0, got, 4 * mib),
			 (ssize_t)(4 * mib));
	assert_memory_equal(got, buf, 4 * mib);
	assert_int_equal(mapfs_inode_load(fs, sino, &sp), 0);
	assert_int_equal(mapfs_file_read(fs, &sp, 0, sgot, sizeof(sgot)),
			 (ssize_t)sizeof(sgot));
	assert_memory_equal(sgot, small, sizeof(small));

	/* Small writes do not write ahead. */
	{
		int calls = ah.calls;

		create(fs, "tiny", 8192);
		assert_int_equal(ah.calls, calls);
	}

	/* Blocks freed by an operation not yet durable are not free to
	 * prepare (a power cut could bring their file back). */
	sino = create(fs, "gone", 8192);
	sp = test_get(fs, sino);
	q = sp.blk[0];
	assert_int_equal(mapfs_op_begin(fs), 0);
	assert_int_equal(mapfs_op_unlink(fs, ROOT, "gone"), 0);
	assert_int_equal(mapfs_op_end(fs), 0);
	assert_true(mapfs_journal_frees_pending(fs));
	assert_int_equal(mapfs_free_run(fs, q, 2), 0);
	assert_int_equal(mapfs_fs_sync(fs), 0);
	assert_false(mapfs_journal_frees_pending(fs));
	assert_int_equal(mapfs_free_run(fs, q, 2), 2);

	/* What was written is on the image after a crash (no commit). */
	mapfs_fs_close(fs);
	fs = open_fs(MAPFS_OPEN_RDONLY);
	assert_int_equal(mapfs_inode_load(fs, ino, &ip), 0);
	assert_int_equal(ip.size, 4 * mib);
	assert_int_equal(mapfs_file_read(fs, &ip, 0, got, 4 * mib),
			 (ssize_t)(4 * mib));
	assert_memory_equal(got, buf, 4 * mib);
	mapfs_fs_close(fs);
	unlink(path);
	free(buf);
	free(got);
}

/* A small ring wraps and forces commits; the result reopens intact. */
static void test_wrap(void **state)
{
	struct mapfs_journal_stats st;
	struct mapfs_fs *fs;

	(void)state;
	make_image(256u << 10);
	fs = open_fs(MAPFS_OPEN_JOURNAL);
	for (int i = 0; i < 600; i++) {
		char n[16];

		snprintf(n, sizeof(n), "w%d", i);
		create(fs, n, 3000);
	}
	mapfs_journal_get_stats(fs, &st);
	assert_true(st.forced > 0);
	assert_true(st.bytes > (256u << 10));
	mapfs_fs_close(fs);		/* crash after the wraps */
	fs = open_fs(0);
	for (int i = 0; i < 600; i += 37) {
		char n[16];

		snprintf(n, sizeof(n), "w%d", i);
		assert_true(exists(fs, n));
	}
	assert_true(exists(fs, "w599"));
	mapfs_fs_close(fs);
	unlink(path);
}

/* An overwrite inside a file, with times kept by the kernel (the
 * writeback cache), changes no metadata: it writes no journal record
 * (each one used to carry the unchanged inode). A write that grows the
 * file still writes one. */
static void test_overwrite_no_record(void **state)
{
	struct mapfs_journal_stats before, after;
	struct mapfs_fs *fs;
	mapfs_ino_t ino;
	char buf[100];

	(void)state;
	fs = new_fs();
	fs->kernel_times = true;
	ino = create(fs, "o", 8192);
	memset(buf, 'z', sizeof(buf));
	mapfs_journal_get_stats(fs, &before);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(mapfs_op_begin(fs), 0);
		assert_int_equal(mapfs_op_write(fs, ino, 4000 + 10 * (uint64_t)i,
						buf, sizeof(buf), true),
				 (ssize_t)sizeof(buf));
		assert_int_equal(mapfs_op_end(fs), 0);
	}
	mapfs_journal_get_stats(fs, &after);
	assert_int_equal(after.records, before.records);
	assert_int_equal(mapfs_op_begin(fs), 0);
	assert_int_equal(mapfs_op_write(fs, ino, 8192, buf, sizeof(buf), true),
			 (ssize_t)sizeof(buf));
	assert_int_equal(mapfs_op_end(fs), 0);
	mapfs_journal_get_stats(fs, &after);
	assert_int_equal(after.records, before.records + 1);
	mapfs_fs_close(fs);		/* crash: the data and the size stay */
	fs = open_fs(0);
	{
		char got[100];
		struct mapfs_inode ip;

		assert_int_equal(mapfs_inode_load(fs, ino, &ip), 0);
		assert_int_equal(ip.size, 8292);
		assert_int_equal(mapfs_file_read(fs, &ip, 4090, got, sizeof(got)),
				 (ssize_t)sizeof(got));
		assert_memory_equal(got, buf, sizeof(got));
	}
	mapfs_fs_close(fs);
	unlink(path);
}

/* The header's checksum is checked: a bad header refuses the open (the
 * daemon's), and fsck-mode opens report it instead. */
static void test_bad_header(void **state)
{
	struct mapfs_fs *fs;
	char why[256] = "";
	int fd;
	uint8_t b;
	off_t off;

	(void)state;
	make_image(0);
	fs = open_fs(0);
	off = (off_t)(fs->g.jstart << fs->g.bshift) + 8;
	mapfs_fs_close(fs);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 1;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
	assert_int_equal(mapfs_fs_open(path, MAPFS_OPEN_JOURNAL, 0, NULL, NULL,
				       &fs, why, sizeof(why)), -EUCLEAN);
	assert_non_null(strstr(why, "journal header"));
	fs = open_fs(MAPFS_OPEN_FSCK | MAPFS_OPEN_RDONLY);
	assert_true(fs->journal_bad);
	mapfs_fs_close(fs);
	unlink(path);
}

/* Add delta to the 64-bit counter at byte off of the image file, leaving
 * the checksum of its structure as it was: what a replay (or checkpoint)
 * cut short by a kill leaves, a record's counter home, its CRC not yet. */
static void tear(off_t off, int64_t delta)
{
	uint64_t v;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &v, 8, off), 8);
	v = htole64(le64toh(v) + (uint64_t)delta);
	assert_int_equal(pwrite(fd, &v, 8, off), 8);
	close(fd);
}

/* The superblock and the group headers are checked before the journal is
 * replayed, and a daemon killed while replaying it (a record's ranges are
 * copied home one by one) leaves them half written. The records that
 * write the rest are still in the ring: the next open must replay them
 * and succeed, read-only too. With nothing to replay, the same damage
 * is still refused. */
static void test_torn_by_killed_replay(void **state)
{
	struct mapfs_fs *fs;
	uint64_t free_inodes, free_blocks;
	off_t cg0;
	char why[256] = "";

	(void)state;
	for (int which = 0; which < 2; which++) {
		make_image(0);
		fs = open_fs(MAPFS_OPEN_JOURNAL);
		cg0 = (off_t)((uint8_t *)mapfs_cg_hdr(fs, 0) - fs->base);
		for (int i = 0; i < 5; i++) {
			char n[16];

			snprintf(n, sizeof(n), "f%d", i);
			create(fs, n, 5000);
		}
		free_inodes = fs->free_inodes;
		free_blocks = fs->free_blocks;
		mapfs_fs_close(fs);	/* the "kill": no commit */
		if (which == 0)
			tear(offsetof(struct mapfs_dsuper, sb_free_inodes),
			     -3);
		else
			tear(cg0 + offsetof(struct mapfs_dcg, cg_free_blocks),
			     -2);

		fs = open_fs(MAPFS_OPEN_RDONLY);
		assert_true(fs->replayed >= 5);
		assert_true(exists(fs, "f4"));
		mapfs_fs_close(fs);
		fs = open_fs(MAPFS_OPEN_JOURNAL);
		assert_true(fs->replayed >= 5);
		assert_int_equal(fs->free_inodes, free_inodes);
		assert_int_equal(fs->free_blocks, free_blocks);
		assert_true(exists(fs, "f0") && exists(fs, "f4"));
		mapfs_fs_close(fs);
		/* Replayed and home: now the same tear has no record
		 * behind it. */
		fs = open_fs(0);
		assert_int_equal(fs->replayed, 0);
		mapfs_fs_close(fs);
		if (which == 0)
			tear(offsetof(struct mapfs_dsuper, sb_free_inodes),
			     -3);
		else
			tear(cg0 + offsetof(struct mapfs_dcg, cg_free_blocks),
			     -2);
		assert_int_equal(mapfs_fs_open(path, MAPFS_OPEN_JOURNAL, 0,
					       NULL, NULL, &fs, why,
					       sizeof(why)), -EUCLEAN);
		assert_non_null(strstr(why, "checksum mismatch"));
		unlink(path);
	}
}

static mapfs_ino_t ino_of(struct mapfs_fs *fs, const char *name)
{
	mapfs_ino_t ino = 0;

	assert_int_equal(mapfs_op_lookup(fs, ROOT, name, &ino), 0);
	return ino;
}

static uint32_t mode_of(struct mapfs_fs *fs, const char *name)
{
	struct mapfs_inode ip;

	assert_int_equal(mapfs_inode_load(fs, ino_of(fs, name), &ip), 0);
	return ip.mode;
}

/* RENAME_WHITEOUT and O_TMPFILE are one record each: a kill before the
 * operation ends shows the image as before it, after it the whole. */
static void test_whiteout_tmpfile_one_record(void **state)
{
	struct mapfs_fs *fs;
	struct mapfs_inode t;
	uint64_t free_i;
	mapfs_ino_t a;

	(void)state;
	fs = new_fs();
	create(fs, "a", 5000);
	a = ino_of(fs, "a");
	free_i = fs->free_inodes;
	/* Killed inside the operation: nothing of it. */
	assert_int_equal(mapfs_op_begin(fs), 0);
	assert_int_equal(mapfs_op_rename_cr(fs, &root_cr, ROOT, "a", ROOT,
					    "b", MAPFS_RENAME_WHITEOUT), 0);
	mapfs_fs_close(fs);
	fs = open_fs(MAPFS_OPEN_JOURNAL);
	assert_int_equal(ino_of(fs, "a"), a);
	assert_false(exists(fs, "b"));
	assert_int_equal(fs->free_inodes, free_i);
	/* Ended: the rename and the whiteout both. */
	assert_int_equal(mapfs_op_begin(fs), 0);
	assert_int_equal(mapfs_op_rename_cr(fs, &root_cr, ROOT, "a", ROOT,
					    "b", MAPFS_RENAME_WHITEOUT), 0);
	assert_int_equal(mapfs_op_end(fs), 0);
	mapfs_fs_close(fs);
	fs = open_fs(MAPFS_OPEN_JOURNAL);
	assert_true(fs->replayed >= 1);
	assert_int_equal(ino_of(fs, "b"), a);
	assert_int_equal(mode_of(fs, "a"), MAPFS_IFCHR);
	assert_int_equal(fs->free_inodes, free_i - 1);
	/* A tmpfile at a kill: on the orphan list, freed by the mount. */
	free_i = fs->free_inodes;
	assert_int_equal(mapfs_op_begin(fs), 0);
	assert_int_equal(mapfs_op_tmpfile(fs, &root_cr, ROOT, 0600,
					  MAPFS_NO_ACL, &t), 0);
	assert_int_equal(mapfs_op_end(fs), 0);
	mapfs_fs_close(fs);
	fs = open_fs(MAPFS_OPEN_JOURNAL);
	assert_int_equal(fs->orphan_head, t.ino);
	assert_int_equal(fs->free_inodes, free_i - 1);
	assert_int_equal(mapfs_op_begin(fs), 0);
	assert_int_equal(mapfs_op_reap_orphans(fs), 0);
	assert_int_equal(mapfs_op_end(fs), 0);
	assert_int_equal(fs->orphan_head, 0);
	assert_int_equal(fs->free_inodes, free_i);
	mapfs_fs_close(fs);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_loses_nothing),
		cmocka_unit_test(test_error_state_journaled),
		cmocka_unit_test(test_torn_record),
		cmocka_unit_test(test_quarantine),
		cmocka_unit_test(test_write_ahead),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_overwrite_no_record),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_freed_zeroed),
		cmocka_unit_test(test_zero_free_mark),
		cmocka_unit_test(test_torn_by_killed_replay),
		cmocka_unit_test(test_whiteout_tmpfile_one_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
