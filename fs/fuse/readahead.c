/* SPDX-License-Identifier: MIT */
/*
 * readahead.c - the read heuristics of op_read: each open file's read
 * history (struct ofile, fi->fh) to tell a sequential reader from a
 * random one, reading ahead of a sequential reader, and reading around
 * small files read from their start. Not ahead.c, which is the
 * write-ahead helper thread.
 */
#include "glue.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/uio.h>

/* One per open file (fi->fh): where the last read through it ended, to
 * tell sequential readers from random ones (op_read). */
struct ofile {
	/* Atomic: reads of one file may run at once. */
	uint64_t read_end;	/* where the last read ended */
	uint32_t read_run;	/* reads in a row that followed the one before */
};

/* Give fi an ofile; without memory, fh stays 0 and reads through it
 * count as sequential. */
void ofile_new(struct fuse_file_info *fi)
{
	fi->fh = (uint64_t)(uintptr_t)calloc(1, sizeof(struct ofile));
}

void ofile_free(struct fuse_file_info *fi)
{
	free((struct ofile *)(uintptr_t)fi->fh);
	fi->fh = 0;
}

/* Only for a sequential reader: one whose reads through the same open
 * file have started, READ_RUN times in a row, within READ_SEQ of where
 * the one before ended (requests of one stream are served by several
 * threads and may come a little out of order). One such read is not
 * enough: the kernel follows each large random read with a readahead
 * request for the bytes right after it. Large random reads (a
 * database's, fio's randread at bs=1M) would otherwise fetch a slice 4
 * MiB away per request that nobody reads. */
#define READ_SEQ (2u << 20)
#define READ_RUN 2

/* Is a read of [off, off + n) through fi part of a sequential stream?
 * Records it. */
bool read_is_seq(struct fuse_file_info *fi, uint64_t off, size_t n)
{
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;
	uint64_t end;
	uint32_t run;

	if (!of)
		return true;
	end = __atomic_exchange_n(&of->read_end, off + n, __ATOMIC_RELAXED);
	run = __atomic_load_n(&of->read_run, __ATOMIC_RELAXED);
	if (off + READ_SEQ >= end && off <= end + READ_SEQ)
		run = run < READ_RUN ? run + 1 : READ_RUN;
	else
		run = 0;
	__atomic_store_n(&of->read_run, run, __ATOMIC_RELAXED);
	return run >= READ_RUN;
}

/* Start reading the image blocks under the file's bytes [from, from +
 * len). */
void read_ahead(struct daemon *d, const struct mapfs_inode *ip,
		uint64_t from, size_t len)
{
	struct iovec iov[READ_MAXIOV];
	int niov = 0;

	if (mapfs_file_read_iov(d->fs, ip, from, len, iov,
				READ_MAXIOV, &niov) <= 0)
		return;
	for (int i = 0; i < niov; i++)
		mapfs_fs_readahead(d->fs, iov[i].iov_base, iov[i].iov_len);
}

/*
 * Reading around. Programs that read a tree (tar, cp -r, grep -r, a
 * build) read its files one after another, each in one small request,
 * and those files were mostly written one after another, so their
 * blocks follow each other in the image (FFS keeps a directory's files
 * and their blocks together). Each cold request would wait for its own
 * read. A read from the start of a file therefore also asks for the
 * READ_AROUND bytes of the image that follow its first block; while
 * later such reads land inside what was asked for, the window only
 * moves on (by READ_AROUND, once a read reaches its last half). Tar of
 * a cold copy of /usr/include (8,900 files, 131 MB) after a remount:
 * 1.99-2.14 s -> 0.79-0.85 s (the host's own ext4 tar of it: 1.3-1.5 s).
 */
#define READ_AROUND (256u << 10)

void read_around(struct daemon *d, const void *p, size_t len)
{
	const uint8_t *base = d->fs->dbase;
	uint64_t at = (uint64_t)((const uint8_t *)p - base), from, to;

	if ((const uint8_t *)p < base || at >= d->fs->size)
		return;		/* a hole: the zero block */
	pthread_mutex_lock(&d->ra_lock);
	if (at >= d->ra_lo && at < d->ra_hi) {
		if (at + len + READ_AROUND / 2 <= d->ra_hi) {
			pthread_mutex_unlock(&d->ra_lock);
			return;
		}
		from = d->ra_hi;
	} else {
		from = at;
		d->ra_lo = at;
	}
	to = (at + len > from ? at + len : from) + READ_AROUND;
	d->ra_hi = to;
	pthread_mutex_unlock(&d->ra_lock);
	mapfs_fs_readahead(d->fs, base + from, to - from);
}
