/* SPDX-License-Identifier: MIT */
/*
 * image.c - open, lock, map, sync and unmap the image file; logging.
 *
 * Layer 1. The only code that makes system calls on the image. Everything
 * above works on fs->base through mapfs_block(), which bounds-checks.
 *
 * Locking: a read-write user (daemon, mkfs, repairing fsck) holds an
 * exclusive flock on the image; a read-only user holds a shared one. So a
 * second daemon, or a read-write fsck of a mounted image, is refused.
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

int mapfs_image_map(const char *path, bool rdonly, bool lock, void **basep,
		    uint64_t *sizep, char *why, size_t whylen)
{
	return mapfs_image_map_region(path, rdonly, lock, NULL, basep, sizep,
				      why, whylen);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Take the image lock (exclusive for read-write users, shared for
 * read-only ones). A mounted image is refused at once. A lock held while
 * no mount of the image is visible is, nearly always, a daemon whose
 * mount is already gone: umount(8) and fusermount3 -u return once the
 * kernel has detached the mount, and the daemon learns of it only then,
 * and still writes everything back and marks the image clean before it
 * exits (tens to hundreds of milliseconds). So `umount && fsck` and
 * `umount && mount` wait for it, up to MAPFS_LOCK_WAIT_MS, instead of
 * failing; so does a second tool behind a running fsck or mkfs.
 */
#define MAPFS_LOCK_WAIT_MS 60000

int mapfs_image_lock(int fd, const char *path, bool rdonly, mapfs_log_fn log,
		     void *log_arg, char *why, size_t whylen)
{
	int op = (rdonly ? LOCK_SH : LOCK_EX) | LOCK_NB;
	char mnt[PATH_MAX];
	uint64_t start = now_ms();
	bool said = false;

	for (unsigned tries = 0;; tries++) {
		if (flock(fd, op) == 0)
			return 0;
		if (errno != EWOULDBLOCK) {
			int err = -errno;
			WHY("cannot lock: %s", strerror(-err));
			return err;
		}
		/* The mount table at once, then every 100 ms. */
		if (tries % 20 == 0 &&
		    mapfs_image_mounted(path, mnt, sizeof(mnt)) == 1) {
			WHY("image is in use: mounted at %s (unmount it "
			    "first)", mnt);
			return -EBUSY;
		}
		if (now_ms() - start >= MAPFS_LOCK_WAIT_MS) {
			WHY("image is in use: locked by another program for "
			    "%d s, though not mounted here (a mapfs daemon "
			    "still writing back after its unmount, fsck, "
			    "mkfs, or a mount in another mount namespace)",
			    MAPFS_LOCK_WAIT_MS / 1000);
			return -EBUSY;
		}
		if (!said && now_ms() - start >= 1000 && log) {
			log(log_arg, MAPFS_LOG_INFO, "waiting for the program "
			    "holding the image (not mounted here: a daemon "
			    "finishing its unmount?) to let go");
			said = true;
		}
		usleep(5000);
	}
}

static int image_map(const char *path, bool rdonly, bool lock,
		     const struct mapfs_region *r, mapfs_log_fn log,
		     void *log_arg, void **basep, uint64_t *sizep, char *why,
		     size_t whylen)
{
	uint64_t size, off = r ? r->offset : 0;
	void *base;
	int fd, err;

	fd = open(path, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		WHY("%s", strerror(-err));
		return err;
	}
	if (lock) {
		err = mapfs_image_lock(fd, path, rdonly, log, log_arg, why,
				       whylen);
		if (err < 0)
			goto fail;
	}
	err = mapfs_image_size(fd, &size);
	if (err < 0) {
		WHY("%s", err == -EINVAL ? "not a regular file or block device"
					 : strerror(-err));
		goto fail;
	}
	if (off % MAPFS_PAGE_SIZE) {
		err = -EINVAL;
		WHY("offset %llu is not a multiple of %u",
		    (unsigned long long)off, MAPFS_PAGE_SIZE);
		goto fail;
	}
	if (off >= size) {
		err = -EINVAL;
		WHY("offset %llu is past the end of the file (%llu bytes)",
		    (unsigned long long)off, (unsigned long long)size);
		goto fail;
	}
	if (r && r->size) {
		if (r->size > size - off) {
			err = -EINVAL;
			WHY("offset %llu + size %llu is past the end of the "
			    "file (%llu bytes)", (unsigned long long)off,
			    (unsigned long long)r->size,
			    (unsigned long long)size);
			goto fail;
		}
		size = r->size;
	} else {
		size -= off;
	}
	if (size < MAPFS_PAGE_SIZE) {
		err = -EINVAL;
		WHY("image is too small (%llu bytes)", (unsigned long long)size);
		goto fail;
	}
	if ((uint64_t)(size_t)size != size) {
		err = -EFBIG;
		WHY("image too large to map");
		goto fail;
	}
	/* Read-only users map privately: replaying a journal into memory
	 * (fsck -n, mount -o ro) must not reach the file. */
	base = mmap(NULL, size, PROT_READ | (rdonly ? 0 : PROT_WRITE),
		    rdonly ? MAP_PRIVATE | MAP_NORESERVE : MAP_SHARED, fd,
		    (off_t)off);
	if (base == MAP_FAILED) {
		err = -errno;
		WHY("mmap: %s", strerror(-err));
		goto fail;
	}
	/* The image is page cache: don't put it in core dumps. Metadata is
	 * touched a page here and there (one header page per group at
	 * attach): without MADV_RANDOM each fault reads ahead through the
	 * holes of a sparse image (a fresh 1 TiB image took 38 s and 370 MB
	 * to attach). File reads ask for readahead themselves. */
	(void)madvise(base, size, MADV_DONTDUMP);
	(void)madvise(base, size, MADV_RANDOM);
	*basep = base;
	*sizep = size;
	return fd;
fail:
	close(fd);
	return err;
}

int mapfs_image_map_region(const char *path, bool rdonly, bool lock,
			   const struct mapfs_region *r, void **basep,
			   uint64_t *sizep, char *why, size_t whylen)
{
	return image_map(path, rdonly, lock, r, NULL, NULL, basep, sizep, why,
			 whylen);
}

/* Replay the journal of an attached image, then attach again to what it
 * rebuilt. Read-only opens replay into their private mapping only. */
static int replay(struct mapfs_fs *fs, void *base, uint64_t size, int fd,
		  const struct mapfs_region *r, int flags, uint64_t sb_group,
		  mapfs_log_fn log, void *log_arg, char *why, size_t whylen)
{
	bool rdonly = flags & MAPFS_OPEN_RDONLY;
	uint64_t n = 0;
	int err;

	if (rdonly && mprotect(base, size, PROT_READ | PROT_WRITE) < 0) {
		err = -errno;
		WHY("mprotect: %s", strerror(-err));
		return err;
	}
	err = mapfs_journal_replay(fs, &n, why, whylen);
	if (rdonly)
		(void)mprotect(base, size, PROT_READ);
	if (err < 0) {
		/* fsck reports and resets a bad journal header itself. */
		if (flags & MAPFS_OPEN_FSCK) {
			fs->journal_bad = true;
			return 0;
		}
		return err;
	}
	if (n == 0)
		return 0;
	mapfs_log(fs, MAPFS_LOG_INFO, "journal: replayed %llu operation%s%s",
		  (unsigned long long)n, n == 1 ? "" : "s",
		  rdonly ? " (in memory only: read-only)" : "");
	if (!rdonly) {
		err = mapfs_journal_reset(fs);
		if (err < 0) {
			WHY("journal: cannot write the replayed image: %s",
			    strerror(-err));
			return err;
		}
	}
	mapfs_fs_detach(fs);
	err = mapfs_fs_attach(fs, base, size, flags, sb_group, log, log_arg,
			      why, whylen);
	fs->replayed = n;
	fs->fd = fd;
	fs->img_off = r ? r->offset : 0;
	return err;
}

/*
 * The superblock and the group headers are checked when the image is
 * attached, before the journal is replayed. A daemon killed while it
 * replayed or checkpointed the journal leaves one of them half written:
 * replay copies a record's ranges home one by one (a counter, then the
 * checksum), a checkpoint page by page. The records that write the rest
 * are still in the ring: the header moves past them only once a replay
 * or a commit has completed. So when the strict attach has refused the
 * image, attach it again checking every field but no checksum, replay,
 * and attach strictly once more (replay does): the open succeeds only if
 * the replay repaired what was refused; otherwise the first refusal
 * stands. fsck opens (MAPFS_OPEN_FSCK) report such damage instead.
 */
static int attach_after_replay(struct mapfs_fs *fs, void *base,
			       uint64_t size, int fd,
			       const struct mapfs_region *r, int flags,
			       mapfs_log_fn log, void *log_arg, char *why,
			       size_t whylen)
{
	char first[256], lwhy[256] = "";
	int err;

	snprintf(first, sizeof(first), "%s", why && whylen ? why : "");
	if (mapfs_fs_attach(fs, base, size, flags | MAPFS_OPEN_FSCK |
			    MAPFS_OPEN_SB_NOCRC, 0, log, log_arg, lwhy,
			    sizeof(lwhy)) < 0)
		return -EUCLEAN;	/* why: the strict refusal */
	fs->fd = fd;
	fs->img_off = r ? r->offset : 0;
	err = 0;
	if (fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL)
		err = replay(fs, base, size, fd, r, flags, 0, log, log_arg,
			     lwhy, sizeof(lwhy));
	if (err == 0 && fs->replayed > 0) {
		mapfs_log(fs, MAPFS_LOG_WARN, "%s: repaired by replaying the "
			  "journal (a daemon killed while writing it home)",
			  first);
		return 0;
	}
	/* Still attached leniently, unless the strict attach after a
	 * replay refused (and detached) itself. */
	if (fs->cg)
		mapfs_fs_detach(fs);
	if (err < 0)
		WHY("%s; after replaying the journal: %s", first, lwhy);
	else
		WHY("%s", first);
	return -EUCLEAN;
}

int mapfs_fs_open(const char *path, int flags, uint64_t sb_group,
		  mapfs_log_fn log, void *log_arg, struct mapfs_fs **fsp,
		  char *why, size_t whylen)
{
	return mapfs_fs_open_region(path, flags, NULL, sb_group, log,
				    log_arg, fsp, why, whylen);
}

int mapfs_fs_open_region(const char *path, int flags,
			 const struct mapfs_region *r, uint64_t sb_group,
			 mapfs_log_fn log, void *log_arg,
			 struct mapfs_fs **fsp, char *why, size_t whylen)
{
	bool rdonly = flags & MAPFS_OPEN_RDONLY;
	struct mapfs_fs *fs;
	uint64_t size;
	void *base, *priv;
	int fd, err;

	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		WHY("out of memory");
		return -ENOMEM;
	}
	fd = image_map(path, rdonly, !(flags & MAPFS_OPEN_NOLOCK), r, log,
		       log_arg, &base, &size, why, whylen);
	if (fd < 0) {
		free(fs);
		return fd;
	}
	err = mapfs_fs_attach(fs, base, size, flags, sb_group, log, log_arg,
			      why, whylen);
	if (err == -EUCLEAN && sb_group == 0 && !(flags & MAPFS_OPEN_FSCK)) {
		err = attach_after_replay(fs, base, size, fd, r, flags, log,
					  log_arg, why, whylen);
		if (err < 0)
			goto fail;
	} else if (err < 0) {
		goto fail;
	} else {
		fs->fd = fd;
		fs->img_off = r ? r->offset : 0;
	}
	if ((fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL) &&
	    fs->replayed == 0) {
		err = replay(fs, base, size, fd, r, flags, sb_group, log,
			     log_arg, why, whylen);
		if (err < 0)
			goto fail_attached;
	}
	if ((flags & MAPFS_OPEN_JOURNAL) && !rdonly &&
	    (fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL) &&
	    fs->free_zero_mark) {
		/* The daemon: blocks its operations free are zeroed only a
		 * commit later, so a crash from here on leaves free blocks
		 * that are not: the mark goes now, made durable by the flush
		 * that starts the journal below. (Opens without the journal
		 * clear it at their first change that needs it,
		 * mapfs_fs_unzeroed.) */
		fs->free_zero_found = true;
		mapfs_super_clear_free_zeroed(fs);
	}
	if ((flags & MAPFS_OPEN_JOURNAL) && !rdonly &&
	    (fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL)) {
		/* Metadata is changed in a private copy of the image; the
		 * shared mapping carries data and the journal. */
		/* NORESERVE: only the pages changed between two commits
		 * are ever copied; do not charge the whole image against
		 * overcommit (a 64 GiB image on a 24 GiB machine). */
		priv = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_NORESERVE, fd,
			    (off_t)fs->img_off);
		if (priv == MAP_FAILED) {
			err = -errno;
			WHY("mmap: %s", strerror(-err));
			goto fail_attached;
		}
		(void)madvise(priv, size, MADV_DONTDUMP);
		(void)madvise(priv, size, MADV_RANDOM);
		fs->base = priv;
		fs->dbase = base;
		/* The shared mapping now carries file data and the ring.
		 * It stays MADV_RANDOM: a fault reads its page only. Read-
		 * around reads (or, over fresh blocks, zero-fills) the
		 * host's whole read-ahead window around each fault, 8 MiB
		 * on this kind of machine (read_ahead_kb), most of it
		 * thrown away when fresh blocks are zeroed (FALLOC_FL_
		 * ZERO_RANGE drops their pages). Where the daemon knows it
		 * will touch a range (large reads and writes, copies, the
		 * write-ahead helper, the ring) it asks for the range
		 * itself with MADV_WILLNEED, one batch. 1 GiB write+fsync:
		 * 385-502 MiB/s against 296-366; cp -a of /usr/include:
		 * daemon CPU 1.0-1.1 s against 1.2-2.0 s. */
		err = mapfs_journal_start(fs);
		if (err < 0) {
			WHY("journal: %s", strerror(-err));
			fs->base = base;
			munmap(priv, size);
			goto fail_attached;
		}
	}
	/* Read-only opens map privately (replayed changes live in private
	 * pages, which MADV_DONTNEED would throw away). */
	fs->data_shared = !rdonly;
	*fsp = fs;
	return 0;
fail_attached:
	mapfs_fs_detach(fs);
fail:
	munmap(base, size);
	close(fd);
	free(fs);
	return err;
}

void mapfs_fs_close(struct mapfs_fs *fs)
{
	void *base = fs->base, *dbase = fs->dbase;
	uint64_t size = fs->size;
	int fd = fs->fd;

	mapfs_journal_stop(fs);
	mapfs_fs_detach(fs);
	if (fd >= 0) {
		if (base != dbase)
			munmap(base, size);
		munmap(dbase, size);
		close(fd);
	}
	free(fs);
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

	if (fs->fd < 0 || fs->resv_unsupported || n == 0)
		return 0;
	if (bno >= fs->g.nblocks)
		return -EINVAL;
	if (n > fs->g.nblocks - bno)
		n = fs->g.nblocks - bno;
	off = bno << fs->g.bshift;
	len = n << fs->g.bshift;
	/* Mode 0 within the file's size: allocates (unwritten) extents,
	 * leaves data and size alone; cheap when already allocated. */
	if (fallocate(fs->fd, 0, (off_t)(fs->img_off + off), (off_t)len) == 0)
		return 0;
	if (errno == ENOSPC || errno == EDQUOT)
		return -ENOSPC;
	if (errno == EOPNOTSUPP || errno == ENODEV || errno == ENOSYS ||
	    errno == EINVAL) {
		/* Block devices and some host filesystems: nothing to
		 * reserve, or no way to. */
		fs->resv_unsupported = true;
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
			     (off_t)(fs->img_off + off), (off_t)len) != 0 &&
	    (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL))
		fs->zero_unsupported = true;
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
	if (fs->fd < 0 || fs->resv_unsupported || fs->zero_unsupported ||
	    fs->free_zeroed || n == 0 || bno >= fs->g.nblocks ||
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

	if (fs->fd < 0 || !fs->data_shared || n == 0 ||
	    bno >= fs->g.nblocks || n > fs->g.nblocks - bno)
		return;
	len = n << fs->g.bshift;
	if (len < 65536 || (bno << fs->g.bshift) + len > fs->size)
		return;
	(void)madvise(fs->dbase + (bno << fs->g.bshift), len, MADV_DONTNEED);
}

void mapfs_fs_fresh_data(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n)
{
	uint64_t end = bno + n, lo = fs->prep_lo, hi = fs->prep_hi;

	/* Blocks zeroed ahead (mapfs_fs_zero_ahead) are not zeroed again:
	 * that would throw away the pages the helper faulted in. Each is
	 * skipped once: the window shrinks past what is used. */
	if (lo < hi && bno < hi && end > lo) {
		if (bno < lo)
			zero_range(fs, bno, lo - bno);
		if (end > hi)
			zero_range(fs, hi, end - hi);
		if (end < hi)
			fs->prep_lo = end;
		else
			fs->prep_lo = fs->prep_hi = 0;
		return;
	}
	zero_range(fs, bno, n);
}

bool mapfs_fs_zero_ahead(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n)
{
	if (fs->fd < 0 || fs->resv_unsupported || fs->zero_unsupported)
		return false;
	zero_range(fs, bno, n);
	if (fs->zero_unsupported)
		return false;
	if (fs->prep_lo < fs->prep_hi && fs->prep_hi == bno) {
		fs->prep_hi = bno + n;
	} else {
		fs->prep_lo = bno;
		fs->prep_hi = bno + n;
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

int mapfs_fs_sync(struct mapfs_fs *fs)
{
	int err;

	if (fs->flags & MAPFS_OPEN_RDONLY)
		return 0;
	/* The daemon's last sync (state CLEAN, after a full commit that
	 * released the quarantine) records that every free block reads
	 * as zeros, so the next mount need not zero them again. The next
	 * writer clears the mark before it could be wrong. */
	if (fs->j && fs->state == MAPFS_STATE_CLEAN && fs->free_zeroed &&
	    !atomic_load(&fs->error) && !mapfs_journal_frees_pending(fs))
		fs->free_zero_mark = true;
	mapfs_super_store(fs);
	if (fs->fd < 0)
		return 0;
	if (fs->j) {
		/* Everything durable and home, the ring empty. */
		err = mapfs_journal_op_end(fs);
		return err < 0 ? err : mapfs_journal_commit(fs, true);
	}
	/* Dirty pages of a shared mapping are the file's page cache, so
	 * fsync writes them all (and flushes the device cache). */
	if (fsync(fs->fd) < 0)
		return -errno;
	return 0;
}

int mapfs_fs_commit(struct mapfs_fs *fs)
{
	int err;

	if (fs->flags & MAPFS_OPEN_RDONLY)
		return 0;
	if (!fs->j)
		return mapfs_fs_sync(fs);
	mapfs_super_store(fs);
	err = mapfs_journal_op_end(fs);
	return err < 0 ? err : mapfs_journal_commit(fs, false);
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
	if (fs->fd >= 0 && !fs->zero_unsupported) {
		if (fallocate(fs->fd, FALLOC_FL_ZERO_RANGE |
			      FALLOC_FL_KEEP_SIZE, (off_t)(fs->img_off + off),
			      (off_t)len) == 0)
			return;
		if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL)
			fs->zero_unsupported = true;
	}
	/* No way to forget the range (or the host failed to, ENOSPC for
	 * an extent split): store zeros. Only ranges the host backs come
	 * here, so the stores allocate nothing. */
	memset(fs->dbase + off, 0, len);
}

int mapfs_fs_unzeroed(struct mapfs_fs *fs)
{
	if (!fs->free_zero_mark || (fs->flags & MAPFS_OPEN_RDONLY))
		return 0;
	mapfs_super_clear_free_zeroed(fs);
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
		off_t d = lseek(fs->fd, (off_t)(fs->img_off + off), SEEK_DATA);
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
		a = (uint64_t)d - fs->img_off;
		b = h < 0 ? end : (uint64_t)h - fs->img_off;
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
