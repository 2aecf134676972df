/* SPDX-License-Identifier: MIT */
/*
 * mount.c - the sequence that opens an image and closes it: open, lock,
 * map, attach (the superblock, then every group header), replay the
 * journal, start it; detach, unmap, close. (The commits, mapfs_fs_sync
 * and mapfs_fs_commit, are txn.c's: they end operations.)
 *
 * The top of the core's stack (tests/layering.sh holds the order; only
 * format.c, which uses its mapfs_fs_init and mapfs_fs_detach, and
 * grow.c come after it): it may call every file below it. It composes what the
 * layers below own: super.c decodes and attaches the superblock, cg.c
 * checks group headers, the journal replays and starts, inode.c's
 * read-ahead state and the sealers of seal.c are set up here.
 *
 * System calls on the image: this file opens, locks (flock), maps
 * (mmap, mprotect, madvise of the mappings it makes), enlarges for a grow
 * while mounted (ftruncate, fallocate to zero the tail) and closes it;
 * image.c does the rest of the mapping's services, journal.c its ring.
 *
 * The daemon's mappings (a journaled read-write open) sit at the start of
 * a PROT_NONE reservation of address space (resv_bytes), so that growing
 * the mounted image (mapfs_fs_map_grow) maps the new tail behind them and
 * fs->base and fs->dbase never move: requests under the shared lock and
 * the helper threads hold pointers into them.
 *
 * Locking: a read-write user (daemon, mkfs, repairing fsck) holds an
 * exclusive flock on the image; a read-only user holds a shared one. So a
 * second daemon, or a read-write fsck of a mounted image, is refused.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/*
 * Address space reserved for each of the daemon's two mappings: 16 times
 * the image, at least 1 TiB and at most 16 TiB (never less than the
 * image). A PROT_NONE, MAP_NORESERVE reservation costs no memory and no
 * overcommit charge, only address space (x86-64 gives a process 128 TiB)
 * and RLIMIT_AS where one is set: when the reservation is refused, the
 * plain mapping is made and the mounted image cannot grow.
 */
#define RESV_MIN (1ull << 40)
#define RESV_MAX (16ull << 40)

static uint64_t resv_bytes(uint64_t size)
{
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t r = size > RESV_MAX / 16 ? RESV_MAX : size * 16;

	if (r < RESV_MIN)
		r = RESV_MIN;
	if (r < size)
		r = size;
	return (r + ps - 1) / ps * ps;
}

/* mmap len bytes of fd at off at the start of a fresh reservation of
 * *resvp bytes (0: no reservation wanted). On return *resvp is the
 * reservation made, 0 when the mapping stands alone. */
static void *map_reserved(uint64_t len, int prot, int flags, int fd,
			  uint64_t off, uint64_t *resvp)
{
	uint64_t resv = *resvp;
	void *r, *p;

	if (resv > len && (uint64_t)(size_t)resv == resv) {
		r = mmap(NULL, resv, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			 MAP_NORESERVE, -1, 0);
		if (r != MAP_FAILED) {
			p = mmap(r, len, prot, flags | MAP_FIXED, fd,
				 (off_t)off);
			if (p != MAP_FAILED)
				return p;
			munmap(r, resv);
		}
	}
	*resvp = 0;
	return mmap(NULL, len, prot, flags, fd, (off_t)off);
}

static int image_map(const char *path, bool rdonly, bool lock,
		     const struct mapfs_region *r, mapfs_log_fn log,
		     void *log_arg, void **basep, uint64_t *sizep,
		     uint64_t *resvp, char *why, size_t whylen)
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
	if (size == 0 && off == 0) {
		/* No offset was asked for: an offset message would puzzle. */
		err = -EINVAL;
		WHY("the file is empty (0 bytes): no filesystem yet "
		    "(mkfs.mapfs -s SIZE makes one)");
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
	if (resvp)
		*resvp = rdonly ? 0 : resv_bytes(size);
	base = map_reserved(size, PROT_READ | (rdonly ? 0 : PROT_WRITE),
			    rdonly ? MAP_PRIVATE | MAP_NORESERVE : MAP_SHARED,
			    fd, off, resvp ? resvp : &(uint64_t){0});
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
	return image_map(path, rdonly, lock, r, NULL, NULL, basep, sizep, NULL,
			 why, whylen);
}

/* With a journal the superblock's free counts are stored at commits
 * only (txn.c): the group headers, journaled with every operation, are
 * the truth, and an image not cleanly unmounted, or one whose journal
 * was just replayed, takes its counts from them, as summed at attach
 * (as ext4 sums its group descriptors). The next superblock store
 * writes them. */
static void counts_from_groups(struct mapfs_fs *fs)
{
	fs->sb_free_blocks = fs->free_blocks;
	fs->sb_free_inodes = fs->free_inodes;
	fs->sb_ndirs = fs->ndirs;
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
	/* A failed attach left nothing attached (fs->in NULL): what the
	 * replay rebuilt is refused, and the caller must not detach. */
	if (err < 0)
		return err;
	counts_from_groups(fs);
	fs->in->img_off = r ? r->offset : 0;
	return 0;
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
	fs->in->img_off = r ? r->offset : 0;
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
	bool growable = (flags & MAPFS_OPEN_JOURNAL) && !rdonly;
	struct mapfs_fs *fs;
	uint64_t size = 0, resv = 0, presv = 0;
	void *base = NULL, *priv;
	int fd, err;

	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		WHY("out of memory");
		return -ENOMEM;
	}
	fd = image_map(path, rdonly, !(flags & MAPFS_OPEN_NOLOCK), r, log,
		       log_arg, &base, &size, growable ? &resv : NULL, why,
		       whylen);
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
		fs->in->img_off = r ? r->offset : 0;
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
	    fs->in->free_zero_mark) {
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
		presv = resv;
		priv = map_reserved(size, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_NORESERVE, fd,
				    fs->in->img_off, &presv);
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
			munmap(priv, presv ? presv : size);
			goto fail_attached;
		}
	}
	/* Read-only opens map privately (replayed changes live in private
	 * pages, which MADV_DONTNEED would throw away). */
	fs->in->data_shared = !rdonly;
	fs->in->dresv = resv;
	fs->in->presv = fs->base != fs->dbase ? presv : 0;
	fs->in->size_fixed = r && r->size;
	*fsp = fs;
	return 0;
fail_attached:
	mapfs_fs_detach(fs);
fail:
	munmap(base, resv ? resv : size);
	close(fd);
	free(fs);
	return err;
}

void mapfs_fs_close(struct mapfs_fs *fs)
{
	void *base = fs->base, *dbase = fs->dbase;
	uint64_t size = fs->size;
	uint64_t dlen = fs->in && fs->in->dresv ? fs->in->dresv : size;
	uint64_t plen = fs->in && fs->in->presv ? fs->in->presv : size;
	int fd = fs->fd;

	mapfs_journal_stop(fs);
	mapfs_fs_detach(fs);
	if (fd >= 0) {
		if (base != dbase)
			munmap(base, plen);
		munmap(dbase, dlen);
		close(fd);
	}
	free(fs);
}

/*
 * Make the image hold new_bytes for growing while mounted (grow.c): the
 * file is enlarged (sparse) when shorter, and the new tail is mapped
 * behind both mappings inside their reservations, so fs->base and
 * fs->dbase do not move. Bytes the file held past the filesystem's end
 * (an image file larger than its filesystem) are zeroed in the host,
 * so the new groups read as unused and their blocks as zeros; where the
 * host cannot zero (a device), free_zeroed is dropped and the grow
 * writes zeros through the journal (only pages that are not zero: a
 * record too large for the ring is then written home without it,
 * journal.c's big_op, which the journal logs). Changes no byte of the
 * filesystem: harmless if a crash follows (the next open sees a file longer than
 * its filesystem, which it accepts). *zeros: every byte from the old
 * end of the filesystem to new_bytes is known to read as zero (a new
 * part of the file, or zeroed here). Caller holds the filesystem
 * exclusively. 0, or a negative errno with a reason in why.
 */
int mapfs_fs_map_grow(struct mapfs_fs *fs, uint64_t new_bytes, bool *zeros,
		      char *why, size_t whylen)
{
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t fs_end = fs->g.nblocks << fs->g.bshift;
	uint64_t off = fs->in->img_off, file, from, len;
	int err;

	if (fs->fd < 0 || !fs->j) {
		WHY("the image is not open by a journaled daemon");
		return -EINVAL;
	}
	if (fs->in->size_fixed && new_bytes > fs->size) {
		/* -o offset=,size=: the bytes after the region are not
		 * ours to take. */
		WHY("the filesystem fills a region of fixed size (-o size=)");
		return -EINVAL;
	}
	if (new_bytes > fs->size &&
	    (!fs->in->dresv || !fs->in->presv ||
	     new_bytes > fs->in->dresv || new_bytes > fs->in->presv)) {
		WHY("the daemon reserved address space for %llu bytes at "
		    "mount: unmount to grow further",
		    (unsigned long long)(fs->in->dresv < fs->in->presv
					 ? fs->in->dresv : fs->in->presv));
		return -EFBIG;
	}
	err = mapfs_image_size(fs->fd, &file);
	if (err < 0) {
		WHY("cannot size the image: %s", strerror(-err));
		return err;
	}
	if (file < off + new_bytes) {
		struct stat st;

		if (fstat(fs->fd, &st) == 0 && !S_ISREG(st.st_mode)) {
			WHY("the device holds %llu bytes",
			    (unsigned long long)(file - off));
			return -ENOSPC;
		}
		if (ftruncate(fs->fd, (off_t)(off + new_bytes)) < 0) {
			err = -errno;
			WHY("cannot enlarge the image file: %s",
			    strerror(-err));
			return err;
		}
	}
	/* Old bytes past the filesystem's end, now inside it. */
	from = off + fs_end;
	len = (file < off + new_bytes ? file : off + new_bytes);
	len = len > from ? len - from : 0;
	/* Zeroed (or, where the host has no ZERO_RANGE, as on tmpfs,
	 * punched: the new groups reserve their space at first use). */
	*zeros = true;
	if (len && fallocate(fs->fd, FALLOC_FL_ZERO_RANGE |
			     FALLOC_FL_KEEP_SIZE, (off_t)from, (off_t)len) < 0 &&
	    fallocate(fs->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)from, (off_t)len) < 0) {
		fs->in->free_zeroed = false;
		*zeros = false;
	}
	if (new_bytes > fs->size) {
		uint64_t at = (fs->size + ps - 1) / ps * ps;

		if (new_bytes > at) {
			uint64_t n = new_bytes - at;

			if (mmap(fs->dbase + at, n, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, fs->fd,
				 (off_t)(off + at)) == MAP_FAILED) {
				err = -errno;
				goto fail_map;
			}
			if (mmap(fs->base + at, n, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_NORESERVE | MAP_FIXED,
				 fs->fd, (off_t)(off + at)) == MAP_FAILED) {
				err = -errno;
				/* Back to reserved address space. */
				(void)mmap(fs->dbase + at, n, PROT_NONE,
					   MAP_PRIVATE | MAP_ANONYMOUS |
					   MAP_NORESERVE | MAP_FIXED, -1, 0);
				goto fail_map;
			}
			(void)madvise(fs->dbase + at, n, MADV_DONTDUMP);
			(void)madvise(fs->dbase + at, n, MADV_RANDOM);
			(void)madvise(fs->base + at, n, MADV_DONTDUMP);
			(void)madvise(fs->base + at, n, MADV_RANDOM);
		}
		fs->size = new_bytes;
	}
	return 0;
fail_map:
	WHY("mmap: %s", strerror(-err));
	return err;
}

/* What every attached filesystem has above its superblock: the inode
 * table's read-ahead state (inode.c), and the sealers of the
 * deferred-seal list (seal.c), each registered by its owner (cg.c's
 * bitmap pages and group headers, bmap.c's indirect pages). */
static void mount_services(struct mapfs_fs *fs)
{
	mapfs_itab_ahead_init(fs);
	mapfs_cg_seal_register(fs);
	mapfs_bmap_seal_register(fs);
}

int mapfs_fs_init(struct mapfs_fs *fs, void *base, uint64_t size,
		  const struct mapfs_geom *g)
{
	int err = mapfs_fs_init_geom(fs, base, size, g);

	if (err == 0)
		mount_services(fs);
	return err;
}

#define HDR_AHEAD 64	/* group header pages asked for ahead at attach */

int mapfs_fs_attach(struct mapfs_fs *fs, void *base, uint64_t size,
		    int flags, uint64_t sb_group, mapfs_log_fn log,
		    void *log_arg, char *why, size_t whylen)
{
	struct mapfs_geom g;
	int err;

	err = mapfs_super_attach(fs, base, size, flags, sb_group, log,
				 log_arg, why, whylen);
	if (err < 0)
		return err;
	mount_services(fs);
	g = fs->g;

	/* Validate every group header; sum the counts. Bitmap pages are
	 * verified when the allocator first uses a group, so attaching
	 * costs one header page per group whatever the image holds. */
	for (uint64_t cg = 0; cg < g.ngroups; cg++) {
		struct mapfs_cgmem *m = &fs->cg[cg];
		char gwhy[200] = "";
		bool unused;

		/* One synchronous read per header page otherwise (the
		 * mapping is MADV_RANDOM): keep HDR_AHEAD of them in
		 * flight. */
		for (uint64_t a = cg ? cg + HDR_AHEAD - 1 : 0;
		     a < g.ngroups && a < cg + HDR_AHEAD; a++) {
			void *h = mapfs_cg_hdr(fs, a);

			if (h)	/* NULL: past a truncated image's end */
				(void)madvise(h, MAPFS_PAGE_SIZE,
					      MADV_WILLNEED);
		}
		err = mapfs_cg_check_hdr(fs, cg, &unused, gwhy, sizeof(gwhy));
		if (err < 0) {
			if (!(flags & MAPFS_OPEN_FSCK)) {
				WHY("group %llu: %s", (unsigned long long)cg,
				    gwhy);
				mapfs_fs_detach(fs);
				return err;
			}
			m->bad = true;
			m->init = true;
			continue;
		}
		if (unused) {
			m->free_blocks = mapfs_group_ndata(&g, cg);
			m->free_inodes = g.ipg;
			m->ndirs = 0;
		} else {
			const struct mapfs_dcg *h = mapfs_cg_hdr(fs, cg);
			m->init = true;
			m->free_blocks = mapfs_cg_free_blocks(h);
			m->free_inodes = mapfs_cg_free_inodes(h);
			m->ndirs = mapfs_cg_ndirs(h);
		}
		fs->free_blocks += m->free_blocks;
		fs->free_inodes += m->free_inodes;
		fs->ndirs += m->ndirs;
	}
	if ((fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL) &&
	    fs->state != MAPFS_STATE_CLEAN)
		counts_from_groups(fs);
	if (fs->orphan_head && !mapfs_ino_valid(&g, fs->orphan_head)) {
		if (!(flags & MAPFS_OPEN_FSCK)) {
			WHY("orphan list head %llu out of range",
			    (unsigned long long)fs->orphan_head);
			mapfs_fs_detach(fs);
			return -EUCLEAN;
		}
	}
	return 0;
}


void mapfs_fs_detach(struct mapfs_fs *fs)
{
	if (fs->in) {	/* NULL: never set up, or detached already */
		mapfs_dh_disable(fs);
		mapfs_oidx_free(fs);
	}
	mapfs_super_detach(fs);
}
