/* SPDX-License-Identifier: MIT */
/*
 * image.c - the mapping's services (sync a range, reserve and zero host
 * space, forget, read ahead, prepare writes, zero freed blocks) and
 * logging (mapfs_log, mapfs_corrupt, mapfs_why).
 *
 * Layer: above crc.c and mounts.c, below everything else
 * (tests/layering.sh); it calls no other file of the core. One of the
 * three files that make system calls on the image: here msync, madvise,
 * mincore, fallocate, lseek, fdatasync on the mapping mount.c made;
 * journal.c writes its ring; mount.c opens, locks, maps and closes.
 * Everything above works on fs->base through mapfs_block(), which
 * bounds-checks.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void mapfs_log(struct mapfs_fs *fs, enum mapfs_log_level lvl,
	       const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!fs->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fs->log(fs->log_arg, lvl, msg);
}

int mapfs_corrupt(struct mapfs_fs *fs, const char *file, int line,
		  const char *fmt, ...)
{
	char msg[448];
	va_list ap;
	const char *base = strrchr(file, '/');

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	atomic_store(&fs->error, 1);
	mapfs_log(fs, MAPFS_LOG_ERR, "corruption: %s (%s:%d)", msg,
		  base ? base + 1 : file, line);
	return -EUCLEAN;
}

int mapfs_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

int mapfs_image_size(int fd, uint64_t *sizep)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		uint64_t bytes;
		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
			return -errno;
		*sizep = bytes;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*sizep = (uint64_t)st.st_size;
	return 0;
}

int mapfs_fs_sync_range(struct mapfs_fs *fs, uint64_t off, uint64_t len)
{
	uint64_t start, end;

	if (fs->fd < 0 || len == 0)
		return 0;
	if (off >= fs->size)
		return -EINVAL;
	if (len > fs->size - off)
		len = fs->size - off;
	start = off & ~(uint64_t)(MAPFS_PAGE_SIZE - 1);
	end = off + len;
	if (msync(fs->dbase + start, end - start, MS_SYNC) < 0)
		return -errno;
	return 0;
}

int mapfs_fs_reserve(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n)
{
	uint64_t off, len;

	if (fs->fd < 0 || fs->in->resv_unsupported || n == 0)
		return 0;
	if (bno >= fs->g.nblocks)
		return -EINVAL;
	if (n > fs->g.nblocks - bno)
		n = fs->g.nblocks - bno;
	off = bno << fs->g.bshift;
	len = n << fs->g.bshift;
	/* Mode 0 within the file's size: allocates (unwritten) extents,
	 * leaves data and size alone; cheap when already allocated. */
	if (fallocate(fs->fd, 0, (off_t)(fs->in->img_off + off), (off_t)len) == 0)
		return 0;
	if (errno == ENOSPC || errno == EDQUOT)
		return -ENOSPC;
	if (errno == EOPNOTSUPP || errno == ENODEV || errno == ENOSYS ||
	    errno == EINVAL) {
		/* Block devices and some host filesystems: nothing to
		 * reserve, or no way to. */
		fs->in->resv_unsupported = true;
		return 0;
	}
	return -errno;
}

void mapfs_fs_reserve_forget(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n)
{
	uint64_t first, last;

	if (n == 0 || bno >= fs->g.nblocks)
		return;
	if (n > fs->g.nblocks - bno)
		n = fs->g.nblocks - bno;
	/* A window lies inside one group (alloc.c's reserve_at). */
	first = mapfs_bno_group(&fs->g, bno);
	last = mapfs_bno_group(&fs->g, bno + n - 1);
	for (uint64_t cg = first; cg <= last; cg++) {
		struct mapfs_cgmem *m = &fs->cg[cg];

		if (bno < m->resv_end && bno + n > m->resv_start)
			m->resv_start = m->resv_end = 0;
	}
}

/* Zero len bytes of the image at off (relative to the image's start) in
 * the host: the old bytes become unwritten (read as zeros, no disk read)
 * and their host space stays allocated. */
static void host_zero(struct mapfs_fs *fs, uint64_t off, uint64_t len)
{
	if (len && fallocate(fs->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			     (off_t)(fs->in->img_off + off), (off_t)len) != 0 &&
	    (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL))
		fs->in->zero_unsupported = true;
}

/*
 * Blocks about to be written whole (or, ahead of that, free ones), so
 * that their pages need not be read from the disk first. Pages the host
 * already holds in its page cache are left alone: nobody reads their old
 * bytes (they are overwritten whole, or stay free), and zeroing them would
 * only throw them away, then fault in and zero fresh pages. That is the
 * common case of a rewrite: the blocks of a file deleted a moment ago are
 * still in the page cache (unmapped by mapfs_fs_forget_blocks, they stay
 * there until reclaim or drop_caches takes them).
 */
static void zero_range(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n)
{
	uint64_t off, len, ps = (uint64_t)sysconf(_SC_PAGESIZE);
	unsigned char vec[256];

	/* Only where mode-0 fallocate works (host files, not devices:
	 * zeroing a device range could write every byte). Not at all
	 * where every free block already reads as zeros in the host
	 * (fs->free_zeroed: the mount's pass and the journal's zeroing of
	 * freed blocks, mapfs_fs_zero_free): their pages fault in as
	 * zeros without a read. */
	if (fs->fd < 0 || fs->in->resv_unsupported || fs->in->zero_unsupported ||
	    fs->in->free_zeroed || n == 0 || bno >= fs->g.nblocks ||
	    n > fs->g.nblocks - bno)
		return;
	off = bno << fs->g.bshift;
	len = n << fs->g.bshift;
	if (ps == 0 || (off | len) % ps != 0) {
		host_zero(fs, off, len);
		return;
	}
	for (uint64_t at = 0; at < len;) {
		uint64_t span = len - at, run = 0;

		if (span > sizeof(vec) * ps)
			span = sizeof(vec) * ps;
		if (mincore(fs->dbase + off + at, span, vec) != 0) {
			host_zero(fs, off + at, len - at);
			return;
		}
		/* Zero each run of pages not in memory. */
		for (uint64_t i = 0; i < span / ps; i++) {
			if (!(vec[i] & 1)) {
				run++;
				continue;
			}
			host_zero(fs, off + at + (i - run) * ps, run * ps);
			run = 0;
		}
		host_zero(fs, off + at + span - run * ps, run * ps);
		at += span;
	}
}

void mapfs_fs_forget_blocks(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n)
{
	uint64_t len;

	if (fs->fd < 0 || !fs->in->data_shared || n == 0 ||
	    bno >= fs->g.nblocks || n > fs->g.nblocks - bno)
		return;
	len = n << fs->g.bshift;
	if (len < 65536 || (bno << fs->g.bshift) + len > fs->size)
		return;
	(void)madvise(fs->dbase + (bno << fs->g.bshift), len, MADV_DONTNEED);
}

void mapfs_fs_fresh_data(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n)
{
	uint64_t end = bno + n, lo = fs->in->prep_lo, hi = fs->in->prep_hi;

	/* Blocks zeroed ahead (mapfs_fs_zero_ahead) are not zeroed again:
	 * that would throw away the pages the helper faulted in. Each is
	 * skipped once: the window shrinks past what is used. */
	if (lo < hi && bno < hi && end > lo) {
		if (bno < lo)
			zero_range(fs, bno, lo - bno);
		if (end > hi)
			zero_range(fs, hi, end - hi);
		if (end < hi)
			fs->in->prep_lo = end;
		else
			fs->in->prep_lo = fs->in->prep_hi = 0;
		return;
	}
	zero_range(fs, bno, n);
}

bool mapfs_fs_zero_ahead(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n)
{
	if (fs->fd < 0 || fs->in->resv_unsupported || fs->in->zero_unsupported)
		return false;
	zero_range(fs, bno, n);
	if (fs->in->zero_unsupported)
		return false;
	if (fs->in->prep_lo < fs->in->prep_hi && fs->in->prep_hi == bno) {
		fs->in->prep_hi = bno + n;
	} else {
		fs->in->prep_lo = bno;
		fs->in->prep_hi = bno + n;
	}
	return true;
}

void mapfs_fs_readahead(struct mapfs_fs *fs, const void *p, size_t len)
{
	uintptr_t start = (uintptr_t)p, base = (uintptr_t)fs->dbase;

	if (fs->fd < 0 || start < base || start - base >= fs->size)
		return;		/* not in the mapping (zero buffer, tests) */
	if (len > fs->size - (start - base))
		len = fs->size - (start - base);
	len += start & (MAPFS_PAGE_SIZE - 1);
	start &= ~(uintptr_t)(MAPFS_PAGE_SIZE - 1);
	(void)madvise((void *)start, len, MADV_WILLNEED);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* Linux 5.14 */
#endif

int mapfs_fs_prepare_write(struct mapfs_fs *fs, void *p, size_t len)
{
	uintptr_t start = (uintptr_t)p, base = (uintptr_t)fs->dbase;

	if (start < base || start - base >= fs->size)
		return 0;	/* not in the mapping */
	if (len > fs->size - (start - base))
		len = fs->size - (start - base);
	len += start & (MAPFS_PAGE_SIZE - 1);
	start &= ~(uintptr_t)(MAPFS_PAGE_SIZE - 1);
	/* The mapping is MADV_RANDOM: without the batch, each fault would
	 * bring in its one page. */
	if (fs->fd >= 0)
		(void)madvise((void *)start, len, MADV_WILLNEED);
	if (madvise((void *)start, len, MADV_POPULATE_WRITE) != 0)
		return -errno;
	return 0;
}

/*
 * Freed blocks read as zeros (docs/DURABILITY.md, "A block given to a
 * file reads as zeros"). File data is not journaled: after a power cut a
 * block given to a file since the last flush holds whatever reached the
 * disk, so a block must read as zeros on the disk before it can be given
 * out again, or the next owner could show the last owner's bytes.
 *
 * Zeroing asks the host to forget the bytes rather than writing zeros:
 * FALLOC_FL_ZERO_RANGE turns a range of the image file into unwritten
 * extents (ext4, XFS), a change to the host's metadata that its
 * fdatasync commits (ext4_zero_range stamps the inode's datasync
 * transaction); until then the old extent stands. New data written into
 * an unwritten extent becomes visible only when the host converts the
 * extent after the data is on disk, so a power cut shows new bytes or
 * zeros, never the old ones, in whatever order the host writes pages.
 * Host space stays allocated (no new SIGBUS risk; the reservations of
 * alloc.c stay true). Holes and unwritten ranges already read as zeros
 * and are skipped (SEEK_DATA/SEEK_HOLE): zeroing never makes a sparse
 * image fatter. Block devices: ZERO_RANGE becomes the device's write-
 * zeroes (or the kernel writes zeros: a cost in bytes freed). Hosts that
 * cannot zero a range (tmpfs, ext4 files without extents) and memory
 * images get zeros stored through the shared mapping, which the next
 * flush writes like any data.
 */
static void zero_span(struct mapfs_fs *fs, uint64_t off, uint64_t len)
{
	if (fs->fd >= 0 && !fs->in->zero_unsupported) {
		if (fallocate(fs->fd, FALLOC_FL_ZERO_RANGE |
			      FALLOC_FL_KEEP_SIZE, (off_t)(fs->in->img_off + off),
			      (off_t)len) == 0)
			return;
		if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL)
			fs->in->zero_unsupported = true;
	}
	/* No way to forget the range (or the host failed to, ENOSPC for
	 * an extent split): store zeros. Only ranges the host backs come
	 * here, so the stores allocate nothing. */
	memset(fs->dbase + off, 0, len);
}

int mapfs_fs_datasync(struct mapfs_fs *fs)
{
	if (fs->fd >= 0 && fdatasync(fs->fd) < 0)
		return -errno;
	return 0;
}

void mapfs_fs_zero_free(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n)
{
	uint64_t off, end;

	if (n == 0 || bno >= fs->g.nblocks || n > fs->g.nblocks - bno)
		return;
	off = bno << fs->g.bshift;
	end = (bno + n) << fs->g.bshift;
	if (end > fs->size)
		end = fs->size;
	if (fs->fd < 0) {
		zero_span(fs, off, end - off);
		return;
	}
	while (off < end) {
		off_t d = lseek(fs->fd, (off_t)(fs->in->img_off + off), SEEK_DATA);
		off_t h;
		uint64_t a, b;

		if (d < 0 && errno == ENXIO)
			return;		/* holes to the end of the file */
		if (d < 0) {
			/* No SEEK_DATA: all of it may hold data. */
			zero_span(fs, off, end - off);
			return;
		}
		h = lseek(fs->fd, d, SEEK_HOLE);
		a = (uint64_t)d - fs->in->img_off;
		b = h < 0 ? end : (uint64_t)h - fs->in->img_off;
		if (a >= end)
			return;
		if (b > end)
			b = end;
		if (b <= a)
			b = end;	/* a confused host: zero the rest */
		zero_span(fs, a, b - a);
		off = b;
	}
}

/*
 * Metadata pages known good. Reaching a directory chunk or a page of an
 * indirect block means checking it first (a CRC of 4 KiB and, for a
 * chunk, a walk of its records): on every lookup, create and unlink, the
 * most expensive part of the work. The daemon is the image's only writer
 * while it runs (the image lock), so a page it checked, or wrote and
 * sealed itself, stays as it was until it changes it again; with
 * mapfs_fs_keep_checks the owners (dir.c, bmap.c) remember such pages
 * here and skip the check when they come back. As FFS and ext4 check a
 * block when it comes in from the disk, not on every use in memory.
 *
 * A bit per 4 KiB page of the image, exact (no hashing: a forged page can
 * never pass for a checked one), never cleared: a page that leaves a
 * directory or a block map is only read as such again after its owner
 * has allocated it and written it whole. Leaves of 4 KiB (128 MiB of
 * image each) are allocated on first use, so a large sparse image costs
 * what its metadata touches; pages past the size at enable (a grown
 * image) are always checked. Bits are set and read with atomics: readers
 * run in parallel under the daemon's shared lock.
 */
#define CHECKED_SHIFT	15	/* pages per leaf: 2^15 bits = 4 KiB */

int mapfs_fs_keep_checks(struct mapfs_fs *fs)
{
	uint64_t n = ((fs->size >> 12) >> CHECKED_SHIFT) + 1;

	if (fs->in->checked)
		return 0;
	fs->in->checked = calloc(n, sizeof(*fs->in->checked));
	if (!fs->in->checked)
		return -ENOMEM;
	fs->in->nchecked = n;
	return 0;
}

bool mapfs_page_known(const struct mapfs_fs *fs, uint64_t page)
{
	_Atomic uint64_t *leaf;
	uint64_t bit;

	if (!fs->in->checked || (page >> CHECKED_SHIFT) >= fs->in->nchecked)
		return false;
	leaf = atomic_load_explicit(&fs->in->checked[page >> CHECKED_SHIFT],
				    memory_order_acquire);
	if (!leaf)
		return false;
	bit = page & ((1u << CHECKED_SHIFT) - 1);
	return atomic_load_explicit(&leaf[bit / 64], memory_order_relaxed) &
	       (1ull << (bit % 64));
}

void mapfs_page_good(const struct mapfs_fs *fs, uint64_t page)
{
	_Atomic(_Atomic uint64_t *) *slot;
	_Atomic uint64_t *leaf, *fresh;
	uint64_t bit;

	if (!fs->in->checked || (page >> CHECKED_SHIFT) >= fs->in->nchecked)
		return;
	slot = &fs->in->checked[page >> CHECKED_SHIFT];
	leaf = atomic_load_explicit(slot, memory_order_acquire);
	if (!leaf) {
		fresh = calloc((1u << CHECKED_SHIFT) / 64, sizeof(*fresh));
		if (!fresh)
			return;		/* only a shortcut missed */
		if (atomic_compare_exchange_strong(slot, &leaf, fresh))
			leaf = fresh;
		else
			free(fresh);	/* another thread's is in */
	}
	bit = page & ((1u << CHECKED_SHIFT) - 1);
	atomic_fetch_or_explicit(&leaf[bit / 64], 1ull << (bit % 64),
				 memory_order_relaxed);
}

void mapfs_checks_free(struct mapfs_fs *fs)
{
	if (!fs->in->checked)
		return;
	for (uint64_t i = 0; i < fs->in->nchecked; i++)
		free(atomic_load(&fs->in->checked[i]));
	free(fs->in->checked);
	fs->in->checked = NULL;
	fs->in->nchecked = 0;
}
