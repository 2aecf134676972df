/* SPDX-License-Identifier: MIT */
/*
 * mapfs.h - the core API, used by the daemon, mkfs, fsck and the tests.
 *
 * The core works on a base pointer and a length (struct mapfs_fs); opening
 * and mmapping an image file is one small function on top (mount.c), so
 * tests can hand the core a zeroed buffer.
 *
 * Conventions:
 *  - functions return 0 (or a non-negative count) on success and a negative
 *    errno on failure; -EUCLEAN means the image contradicts itself;
 *  - the core is not thread-safe: callers serialize. Functions documented
 *    as "read-only" never store to the image or to *fs and may run
 *    concurrently with each other (the daemon's shared lock); everything
 *    else needs exclusive access;
 *  - every number read from the image is validated before it is used;
 *  - in-core structs are host order; only the owning module touches the
 *    on-disk structs of mapfs_format.h.
 */
#ifndef MAPFS_H
#define MAPFS_H

#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "mapfs_format.h"

#define MAPFS_VERSION_STRING "0.1.0"

typedef uint64_t mapfs_ino_t;	/* inode number */
typedef uint64_t mapfs_bno_t;	/* physical block number in the image */

/* ------------------------------------------------------------------ */
/* Geometry: the decoded, validated, host-order superblock layout.     */
/* ------------------------------------------------------------------ */
struct mapfs_geom {
	uint32_t bsize;		/* bytes per block */
	uint32_t bshift;	/* log2(bsize) */
	uint32_t inode_size;	/* bytes per inode */
	uint32_t inodes_per_block;
	uint32_t bpg;		/* blocks per group (last group: fewer) */
	uint32_t ipg;		/* inodes per group */
	uint64_t nblocks;	/* blocks in the filesystem */
	uint64_t ngroups;
	uint64_t ninodes;	/* ngroups * ipg */
	uint32_t hdr_off, ibm_off, bbm_off, itab_off, data_off; /* in group */
	uint32_t itab_blocks;
	uint32_t nindir;	/* pointers per indirect block */
	uint32_t pages_per_block; /* bsize / 4096 */
	uint64_t maxfilesize;	/* bytes reachable through the block map */
	uint64_t first_ino;
	uint64_t reserved_blocks; /* minfree, for root only */
	uint32_t minfree_pct;
	uint32_t seed;		/* CRC32C seed */
	/* Metadata journal (MAPFS_FEAT_INCOMPAT_JOURNAL), 0/0 if none. */
	uint64_t jstart, jblocks;
};

static inline uint64_t mapfs_group_start(const struct mapfs_geom *g,
					 uint64_t cg)
{
	return cg * (uint64_t)g->bpg;
}

/* Blocks in group cg: bpg, except for the last group. */
static inline uint32_t mapfs_group_nblocks(const struct mapfs_geom *g,
					   uint64_t cg)
{
	uint64_t start = mapfs_group_start(g, cg);
	uint64_t left = g->nblocks - start;
	return left < g->bpg ? (uint32_t)left : g->bpg;
}

/* Data blocks in group cg (blocks after the metadata). */
static inline uint32_t mapfs_group_ndata(const struct mapfs_geom *g,
					 uint64_t cg)
{
	return mapfs_group_nblocks(g, cg) - g->data_off;
}

static inline uint64_t mapfs_ino_group(const struct mapfs_geom *g,
				       mapfs_ino_t ino)
{
	return ino / g->ipg;
}

static inline uint64_t mapfs_bno_group(const struct mapfs_geom *g,
				       mapfs_bno_t bno)
{
	return bno / g->bpg;
}

/* True when bno is a data block (inside the image, past its group's
 * metadata, not the journal). Block 0 is never a data block, so 0 can
 * mean "hole". */
static inline bool mapfs_bno_is_data(const struct mapfs_geom *g,
				     mapfs_bno_t bno)
{
	if (bno >= g->nblocks)
		return false;
	/* The journal is metadata (bno - jstart wraps when below). */
	return bno % g->bpg >= g->data_off && bno - g->jstart >= g->jblocks;
}

/* True when ino names an inode slot that may be in use by a file. */
static inline bool mapfs_ino_valid(const struct mapfs_geom *g, mapfs_ino_t ino)
{
	return ino < g->ninodes &&
	       (ino == MAPFS_ROOT_INO || ino >= g->first_ino);
}

/* Superblock copies live in groups 0, 1 and the powers of 3, 5 and 7. */
bool mapfs_group_has_sb(uint64_t cg);

/* ------------------------------------------------------------------ */
/* Logging and corruption reports                                      */
/* ------------------------------------------------------------------ */
enum mapfs_log_level { MAPFS_LOG_ERR, MAPFS_LOG_WARN, MAPFS_LOG_INFO,
		       MAPFS_LOG_DEBUG };
typedef void (*mapfs_log_fn)(void *arg, enum mapfs_log_level lvl,
			     const char *msg);

/* ------------------------------------------------------------------ */
/* The filesystem handle                                               */
/* ------------------------------------------------------------------ */
struct mapfs_cgmem {		/* in-memory summary of one group */
	uint64_t free_blocks;
	uint64_t free_inodes;
	uint64_t ndirs;
	bool init;		/* header initialized (not an unused group) */
	bool bad;		/* header failed its check (FSCK mode only) */
	bool bm_checked;	/* bitmap page CRCs verified since attach */
	/* Blocks of the inode table known to have host space behind them
	 * (mapfs_fs_reserve), from its start; grows by chunks with the
	 * high-water mark (alloc.c). */
	uint32_t itab_resv;
	/* Host space known reserved for the data blocks [resv_start,
	 * resv_end) of this group: one window per group (alloc.c), so
	 * allocation running through a group reserves once per window. */
	uint64_t resv_start, resv_end;
};

/* Flags for mapfs_fs_attach / mapfs_fs_open. */
#define MAPFS_OPEN_RDONLY	0x1	/* never store to the image */
#define MAPFS_OPEN_FSCK		0x2	/* tolerate what fsck can report */
#define MAPFS_OPEN_NOLOCK	0x4	/* do not flock the image */
/* With MAPFS_OPEN_FSCK: accept a primary superblock whose checksum is the
 * only thing wrong (fsck's last resort when no copy is usable). */
#define MAPFS_OPEN_SB_NOCRC	0x8
/* Read-write with the metadata journal (the daemon): metadata is changed
 * in a private mapping and reaches the image's home locations only after
 * the journal records describing it are durable; see journal.c. Without
 * it (fsck, mkfs, grow, tests), changes go straight to the image. Either
 * way an image's journal is replayed when it is opened. */
#define MAPFS_OPEN_JOURNAL	0x10

#define MAPFS_BUSY_NONE	0
#define MAPFS_BUSY_REF	1
#define MAPFS_BUSY_OPEN	2

struct mapfs_journal;

struct mapfs_fs_core;

struct mapfs_fs {
	uint8_t *base;		/* the image (mapping or test buffer): metadata
				 * is read and changed here */
	uint8_t *dbase;		/* the image's shared mapping: file data and
				 * the journal; == base unless journaling */
	uint64_t size;		/* bytes at base */
	struct mapfs_journal *j;	/* NULL unless MAPFS_OPEN_JOURNAL */
	int fd;			/* image file, -1 for a memory image */
	int flags;		/* MAPFS_OPEN_* */
	struct mapfs_geom g;

	/* Superblock fields kept in memory and stored by mapfs_super_store */
	uint32_t state;
	/* Totals: sums of the group counts (what allocation uses). */
	uint64_t free_blocks, free_inodes, ndirs;
	/* The superblock's own counters as read at attach (fsck compares). */
	uint64_t sb_free_blocks, sb_free_inodes, sb_ndirs;
	uint64_t orphan_head;
	uint32_t mount_count;
	int64_t mkfs_time, mount_time, write_time, check_time;
	uint8_t uuid[16];
	char label[MAPFS_LABEL_MAX + 1];
	uint32_t feat_compat, feat_ro_compat, feat_incompat;

	struct mapfs_cgmem *cg;	/* ngroups entries */

	/* Writing ahead (mapfs_file_write): for a file written
	 * sequentially in large requests, the blocks it will most likely
	 * get next are zeroed in the host while still free, and the hook
	 * (the daemon's helper thread) is asked to fault their pages in
	 * writable, so the next request finds them ready. NULL hook: off
	 * (tools, tests). */
	void (*ahead_hook)(void *arg, mapfs_bno_t bno, uint64_t n);
	void *ahead_arg;
	/* What the superblock's sb_free_zeroed said at the daemon's
	 * journaled open, which clears it (docs/DURABILITY.md). */
	bool free_zero_found;

	atomic_int error;	/* set when corruption was seen */
	bool journal_bad;	/* (fsck) the journal header is unusable */
	/* The daemon runs with the kernel's writeback cache: the kernel
	 * stamps mtime/ctime of written files (mapfs_op_write does not). */
	bool kernel_times;
	/* Test hook (the power-loss simulator): called right after each
	 * flush of the image made everything stored so far durable. */
	void (*flush_hook)(void *arg);
	void *flush_arg;
	uint64_t replayed;	/* journal records replayed at open */

	mapfs_log_fn log;
	void *log_arg;
	/* Asked when an inode's link count reaches zero: MAPFS_BUSY_NONE
	 * frees it at once; MAPFS_BUSY_REF (the kernel still holds a lookup
	 * reference) keeps it until mapfs_op_reap; MAPFS_BUSY_OPEN (a file
	 * is open) also puts it on the on-disk orphan list, so that a crash
	 * leaves it for mount or fsck to free. */
	int (*inode_busy)(void *arg, mapfs_ino_t ino);
	void *busy_arg;
	/* The core's own state (struct mapfs_fs_core, fs/internal.h):
	 * performance and bookkeeping no program touches. */
	struct mapfs_fs_core *in;
};

/* Attach to an image already in memory (base, size bytes). Decodes and
 * validates the primary superblock (or the copy in group sb_group when
 * sb_group != 0) and every group header. On error returns a negative errno
 * and, if why is non-NULL, a reason in it. */
int mapfs_fs_attach(struct mapfs_fs *fs, void *base, uint64_t size,
		    int flags, uint64_t sb_group, mapfs_log_fn log,
		    void *log_arg, char *why, size_t whylen);
/* Free what attach allocated (not the memory at base). */
void mapfs_fs_detach(struct mapfs_fs *fs);

/* mount.c: open path (regular file or block device), lock it (exclusive
 * for read-write, shared for read-only; -EBUSY if held elsewhere), mmap it
 * MAP_SHARED and attach. *fsp is allocated; close with mapfs_fs_close. */
int mapfs_fs_open(const char *path, int flags, uint64_t sb_group,
		  mapfs_log_fn log, void *log_arg, struct mapfs_fs **fsp,
		  char *why, size_t whylen);
/* Detach, munmap and close. Does not sync: call mapfs_fs_sync first. */
void mapfs_fs_close(struct mapfs_fs *fs);
/* For the image's only writer while it runs (the daemon): remember the
 * metadata pages (directory chunks, indirect block pages) checked or
 * written since now, and do not check them again (image.c). Off unless
 * called. 0 or -ENOMEM. */
int mapfs_fs_keep_checks(struct mapfs_fs *fs);

/* A filesystem inside a larger file (a partition of a container image):
 * bytes [offset, offset + size) of it; size 0 = to the end of the file.
 * offset must be a multiple of 4096 (mmap's granularity). */
struct mapfs_region {
	uint64_t offset, size;
};
/* mapfs_fs_open for the region r of path (NULL: the whole file). */
int mapfs_fs_open_region(const char *path, int flags,
			 const struct mapfs_region *r, uint64_t sb_group,
			 mapfs_log_fn log, void *log_arg,
			 struct mapfs_fs **fsp, char *why, size_t whylen);
/* mapfs_image_map for the region r of path (NULL: the whole file). */
int mapfs_image_map_region(const char *path, bool rdonly, bool lock,
			   const struct mapfs_region *r, void **basep,
			   uint64_t *sizep, char *why, size_t whylen);

/* Open, lock and map an image file without attaching (mkfs uses it).
 * Returns the fd; *basep and *sizep describe the mapping. */
int mapfs_image_map(const char *path, bool rdonly, bool lock, void **basep,
		    uint64_t *sizep, char *why, size_t whylen);
/* Lock the image open at fd (path: its name): exclusive for read-write
 * users, shared for read-only ones. A mounted image is refused at once
 * (-EBUSY, "mounted at ..." in why); a lock held by a program whose mount
 * is gone (a daemon writing back after its unmount, a running fsck) is
 * waited for, up to a minute, with one message through log after a
 * second (log may be NULL). */
int mapfs_image_lock(int fd, const char *path, bool rdonly, mapfs_log_fn log,
		     void *log_arg, char *why, size_t whylen);
/* Size in bytes of an open regular file or block device. */
int mapfs_image_size(int fd, uint64_t *sizep);

/* mounts.c: the mount table (/proc/self/mountinfo), read without
 * touching any mount point. */
struct mapfs_mountent {
	char dir[PATH_MAX];	/* mount point, unescaped */
	char source[PATH_MAX];	/* for mapfs: the image's real path */
	char fstype[64];	/* "fuse.mapfs" for a mapfs mount */
	unsigned major, minor;	/* st_dev of the mounted filesystem */
	unsigned long flags;	/* per-mount MS_RDONLY, MS_NOSUID, ... */
	bool super_ro;		/* the filesystem itself is read-only */
};
/* Call fn for each mount, in the table's order (a later entry at the same
 * point is mounted over an earlier one); stop at the first non-zero
 * return and return it. 0 after the last; -errno if the table cannot be
 * read. */
int mapfs_mounts_each(int (*fn)(const struct mapfs_mountent *m, void *arg),
		      void *arg);
/* Is m a mount of a mapfs daemon (fstype fuse.mapfs or fuseblk.mapfs)? */
bool mapfs_mount_is_mapfs(const struct mapfs_mountent *m);
/* Who has the image at path (open at fd, or -1) mounted: 1 when a mapfs
 * mount of it is seen (its mount point in mnt), 0 when none is, -errno;
 * *pid gets the pid of a running "mapfs" holding the image's lock
 * (/proc/locks), 0 when none is seen. For messages. */
int mapfs_image_holder(const char *path, int fd, char *mnt, size_t len,
		       long *pid);

/* A change is about to leave a free block that may not read as zeros (a
 * block freed without the journal, bitmaps rewritten by fsck, the image
 * grown): if the superblock says every free block does (sb_free_zeroed),
 * clear that on the image and make it durable first. 0 (also when there
 * was nothing to clear) or a negative errno. The daemon's journaled open
 * clears the mark at open instead. */
int mapfs_fs_unzeroed(struct mapfs_fs *fs);
/* Ask the kernel to start reading [p, p+len) of the mapping (which is
 * MADV_RANDOM, so faults read one page): used before copying a large file
 * read out of the mapping, and for metadata read-ahead (a chunk of an
 * inode table, a directory's blocks: the metadata mapping, private when
 * journaling, shares the file's page cache, so p is the same offset in
 * the shared mapping). No-op for pointers outside the image and for a
 * memory image. */
void mapfs_fs_readahead(struct mapfs_fs *fs, const void *p, size_t len);
/* [p, p+len) of the mapping is about to be written: bring its pages into
 * the page cache in one batch (MADV_WILLNEED) and fault them in writable
 * (MADV_POPULATE_WRITE). 0, or the negative errno of the populate (EINVAL
 * before Linux 5.14); the caller may go on and fault page by page. */
int mapfs_fs_prepare_write(struct mapfs_fs *fs, void *p, size_t len);
/* txn.c. Store the in-memory superblock fields and sync the whole image;
 * with a journal, also write every staged page home and empty the ring
 * (unmount). Inside an operation, the operation so far is written and
 * stays open. */
int mapfs_fs_sync(struct mapfs_fs *fs);
/* txn.c. Make everything done so far durable: with a journal one flush
 * (plus a checkpoint), without one the same as mapfs_fs_sync. fsync,
 * fsyncdir and the periodic commit use it. */
int mapfs_fs_commit(struct mapfs_fs *fs);

/* Pointer to block bno, or NULL when bno is outside the image. */
static inline void *mapfs_block(const struct mapfs_fs *fs, mapfs_bno_t bno)
{
	if (bno >= fs->g.nblocks ||
	    (bno << fs->g.bshift) + fs->g.bsize > fs->size)
		return NULL;
	return fs->base + (bno << fs->g.bshift);
}

/* Pointer to block bno as file data (the shared mapping), or NULL when
 * bno is outside the image. File contents are never journaled: they go
 * to the image at once, like ext4's data=ordered writes without the
 * ordering (see docs/DURABILITY.md). */
static inline void *mapfs_data_block(const struct mapfs_fs *fs,
				     mapfs_bno_t bno)
{
	if (bno >= fs->g.nblocks ||
	    (bno << fs->g.bshift) + fs->g.bsize > fs->size)
		return NULL;
	return fs->dbase + (bno << fs->g.bshift);
}

/* ------------------------------------------------------------------ */
/* journal.c: the metadata journal                                     */
/* ------------------------------------------------------------------ */

/* The operation bracket (txn.c). Every change to metadata runs between
 * mapfs_op_begin and mapfs_op_end (they nest: only the outermost counts),
 * the filesystem held exclusively. begin keeps room in the journal's ring
 * (may commit); end seals what was deferred, unmaps the blocks the
 * operation freed, stores the superblock if its counters moved and
 * appends the operation's record to the ring (through the shared
 * mapping, so a daemon crash keeps it; no flush): call it before
 * replying. 0 or a negative errno (then the filesystem is in trouble:
 * stop writing). Without a journal only the unmapping is left. */
int mapfs_op_begin(struct mapfs_fs *fs);
int mapfs_op_end(struct mapfs_fs *fs);
/* An operation failed with err while blocks freed by operations not yet
 * durable wait for a commit (the journal does not reuse them before):
 * for -ENOSPC with such frees, end the operation, commit fully and begin
 * again; true if a retry may succeed. *jerr gets the first error of the
 * journal on the way (0: none); the operation is open again in any case.
 * The daemon's ENOSPC policy. */
bool mapfs_op_retry_nospc(struct mapfs_fs *fs, int err, int *jerr);

/* Replay the image's journal onto the image (fs->dbase): records from
 * the header's tail while their sequence and CRC are right. *nrec gets
 * the number applied. Negative errno (with why) when the header itself
 * is unusable. Does not flush or reset; see mapfs_journal_reset. */
int mapfs_journal_replay(struct mapfs_fs *fs, uint64_t *nrec, char *why,
			 size_t whylen);
/* Empty the journal: a fresh header (next sequence epoch, tail 0),
 * flushed together with what replay wrote. */
int mapfs_journal_reset(struct mapfs_fs *fs);

struct mapfs_journal_stats {
	uint64_t records, bytes, commits, flushes, checkpoint_pages;
	uint64_t forced;	/* commits forced by a full ring */
	uint64_t big_ops;	/* operations too large to journal */
	uint64_t zeroed_runs;	/* freed runs zeroed in the host ... */
	uint64_t zeroed_blocks;	/* ... and their blocks */
};
void mapfs_journal_get_stats(const struct mapfs_fs *fs,
			     struct mapfs_journal_stats *st);
/* What the journal holds (for inspection): location, header, and how
 * many records replay would apply. -ENOENT without a journal. */
struct mapfs_journal_info {
	uint64_t start, blocks, ring;
	bool header_ok;
	char why[96];		/* when !header_ok */
	uint64_t seq, tail, records;
};
int mapfs_journal_info(struct mapfs_fs *fs, struct mapfs_journal_info *ji);

#define MAPFS_CORRUPT(fs, ...) mapfs_corrupt((fs), __FILE__, __LINE__, \
					     __VA_ARGS__)
void mapfs_log(struct mapfs_fs *fs, enum mapfs_log_level lvl,
	       const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------ */
/* crc.c                                                               */
/* ------------------------------------------------------------------ */
/* CRC32C (Castagnoli) continuing from crc; start with ~0 or a seed.
 * Uses SSE4.2 when the CPU has it. No final inversion. */
uint32_t mapfs_crc32c(uint32_t crc, const void *buf, size_t len);

/* ------------------------------------------------------------------ */
/* super.c                                                             */
/* ------------------------------------------------------------------ */
/* Decode and validate a superblock page found at group `at_group`
 * against an image of image_bytes. Returns 0 and fills *g, or -EUCLEAN
 * (bad magic/fields/CRC) / -EOPNOTSUPP (unknown incompat feature) with a
 * reason. Read-only. */
int mapfs_super_decode(const struct mapfs_dsuper *d, uint64_t image_bytes,
		       uint64_t at_group, struct mapfs_geom *g, char *why,
		       size_t whylen);
/* Store fs's in-memory superblock fields into the primary superblock and
 * recompute its CRC. */
void mapfs_super_store(struct mapfs_fs *fs);
/* Write the superblock (as stored in the primary) into every copy. */
void mapfs_super_store_copies(struct mapfs_fs *fs);

/* ------------------------------------------------------------------ */
/* cg.c: group headers, bitmaps                                         */
/* ------------------------------------------------------------------ */
struct mapfs_dcg *mapfs_cg_hdr(const struct mapfs_fs *fs, uint64_t cg);
uint8_t *mapfs_cg_ibm(const struct mapfs_fs *fs, uint64_t cg);
uint8_t *mapfs_cg_bbm(const struct mapfs_fs *fs, uint64_t cg);
/* Validate group cg's header (magic, index, geometry, counts in range,
 * CRC) and the CRCs of its bitmap pages. An all-zero header is valid for
 * cg > 0 and sets *unused. Read-only. */
int mapfs_cg_check(const struct mapfs_fs *fs, uint64_t cg, bool *unused,
		   char *why, size_t whylen);
/* Initialize an unused group: header, bitmaps with the metadata blocks
 * marked used (and reserved inodes for group 0). */
void mapfs_cg_init(struct mapfs_fs *fs, uint64_t cg);
/* Recompute the CRC of the bitmap page holding bit `bit` of the inode
 * (ibm) or block (bbm) bitmap, and the header CRC. */
void mapfs_cg_bitmap_changed(struct mapfs_fs *fs, uint64_t cg, bool inode_bm,
			     uint32_t bit);
/* Store fs->cg[cg] counts into the header and recompute its CRC. */
void mapfs_cg_store(struct mapfs_fs *fs, uint64_t cg);
uint32_t mapfs_cg_bitmap_crc(const struct mapfs_fs *fs, uint64_t cg,
			     bool inode_bm, uint32_t page);
uint32_t mapfs_cg_hdr_crc(const struct mapfs_fs *fs, uint64_t cg,
			  const struct mapfs_dcg *h);

/* Bitmaps: bit n is bit n % 8 of byte n / 8. */
static inline bool mapfs_bit_test(const uint8_t *bm, uint64_t n)
{
	return bm[n >> 3] & (1u << (n & 7));
}
static inline void mapfs_bit_set(uint8_t *bm, uint64_t n)
{
	bm[n >> 3] |= (uint8_t)(1u << (n & 7));
}
static inline void mapfs_bit_clear(uint8_t *bm, uint64_t n)
{
	bm[n >> 3] &= (uint8_t)~(1u << (n & 7));
}

/* ------------------------------------------------------------------ */
/* alloc.c: inode and block allocation (FFS policy)                     */
/* ------------------------------------------------------------------ */
/* Allocate an inode near parent (a directory spreads to a group with
 * more free inodes and fewer directories). Marks it used in the bitmap
 * and counts; the caller initializes and stores the inode. */
int mapfs_alloc_inode(struct mapfs_fs *fs, mapfs_ino_t parent, bool is_dir,
		      mapfs_ino_t *inop);
/* At mount: host space behind the journal and behind the metadata in use
 * of every initialized group (header, bitmaps, the inode table up to its
 * high-water mark, rounded up to the allocator's chunk), so that a full
 * host disk cannot fault a metadata store. One fallocate per group.
 * -ENOSPC when the host is full; a no-op where it cannot fallocate. */
int mapfs_alloc_reserve_metadata(struct mapfs_fs *fs);
/* Mark ino free in bitmap and counts. The caller clears the inode. */
int mapfs_free_inode(struct mapfs_fs *fs, mapfs_ino_t ino, bool was_dir);
/* Allocate a data block, preferably pref (0: none). Only callers acting
 * for root may dip into the reserved blocks (use_reserve). -ENOSPC when
 * none. The block's content is not touched. */
int mapfs_alloc_block(struct mapfs_fs *fs, mapfs_bno_t pref,
		      bool use_reserve, mapfs_bno_t *bnop);
int mapfs_free_block(struct mapfs_fs *fs, mapfs_bno_t bno);
/* Make every free block read as zeros in the host (mapfs_fs_zero_free
 * over each free run; a group never used, its whole data area), so that
 * from here on the journal's zeroing of freed blocks (journal.c) keeps
 * all of them so: at mount, before anything is allocated; the flush
 * that follows makes it durable. Skipped when the superblock said at
 * open that it already holds (fs->free_zero_found). Sets
 * fs->free_zeroed. Groups whose bitmaps fail their check are skipped
 * (nothing is allocated from them). Returns the number of runs zeroed. */
uint64_t mapfs_alloc_zero_free(struct mapfs_fs *fs);

/* ------------------------------------------------------------------ */
/* inode.c: inodes; bmap.c: block maps; file.c: file data            */
/* ------------------------------------------------------------------ */
struct mapfs_timespec {
	int64_t sec;
	uint32_t nsec;
};

struct mapfs_inode {		/* host-order copy of a dinode */
	mapfs_ino_t ino;
	uint32_t mode;		/* 0 = free */
	uint32_t nlink;
	uint32_t uid, gid;
	uint32_t flags;		/* MAPFS_FL_* */
	uint32_t gen;
	uint64_t size;
	uint64_t blocks;	/* fs blocks held */
	uint64_t rdev;
	uint64_t xattr;
	uint64_t orphan_next;
	struct mapfs_timespec atime, mtime, ctime, btime;
	union {
		uint64_t blk[MAPFS_NADDR];
		char symlink[MAPFS_FAST_SYMLINK_MAX];
	};
};

/* Pointer to the on-disk inode ino (its slot in its group's inode
 * table: cg.c), or NULL if ino >= ninodes. */
struct mapfs_dinode *mapfs_dinode(const struct mapfs_fs *fs, mapfs_ino_t ino);
/* Validate an in-use on-disk inode: known type, nlink, size within
 * maxfilesize, nanoseconds < 1e9, block pointers data blocks or 0,
 * di_blocks plausible, fast symlink shape, CRC. Read-only. */
int mapfs_inode_check(const struct mapfs_fs *fs, mapfs_ino_t ino,
		      const struct mapfs_dinode *d, char *why, size_t whylen);
uint32_t mapfs_inode_crc(const struct mapfs_fs *fs, mapfs_ino_t ino,
			 const struct mapfs_dinode *d);
/* Load inode ino into *ip after mapfs_inode_check. -ENOENT if ino is out
 * of range, reserved or free; -EUCLEAN if corrupt. Read-only. */
int mapfs_inode_load(struct mapfs_fs *fs, mapfs_ino_t ino,
		     struct mapfs_inode *ip);
/* Encode *ip into the image with a fresh CRC. */
void mapfs_inode_store(struct mapfs_fs *fs, const struct mapfs_inode *ip);
/* Zero a freed inode's slot, keeping its generation. */
void mapfs_inode_clear(struct mapfs_fs *fs, mapfs_ino_t ino);
/* Generation for a new use of slot ino: the stored one + 1, or a
 * scrambled value on first use; never 0. Read-only. */
uint32_t mapfs_inode_new_gen(const struct mapfs_fs *fs, mapfs_ino_t ino,
			     struct mapfs_timespec now);
/* True if ip's block pointers are in use (not a fast symlink, not a
 * device/fifo/socket). */
bool mapfs_inode_has_blocks(const struct mapfs_inode *ip);

/* Map logical block lbn of ip to a physical block (0 = hole) without
 * allocating. Read-only. */
int mapfs_bmap(struct mapfs_fs *fs, const struct mapfs_inode *ip,
	       uint64_t lbn, mapfs_bno_t *bnop);
/* Map lbn, allocating it (and any indirect blocks on the way) if it is a
 * hole. New data blocks are zeroed unless `will_overwrite` says the caller
 * fills the whole block. Updates ip->blocks and ip->blk; the caller
 * stores the inode. */
int mapfs_bmap_alloc(struct mapfs_fs *fs, struct mapfs_inode *ip,
		     uint64_t lbn, bool use_reserve, bool will_overwrite,
		     mapfs_bno_t *bnop);

/* Describe [off, off+len) of a regular file (clipped at EOF) as iovecs
 * pointing into the image; holes point at a shared zero page. Adjacent
 * blocks merge into one iovec. Returns bytes described (0 at EOF) and
 * sets *niov; stops early when maxiov is reached. Read-only. */
ssize_t mapfs_file_read_iov(struct mapfs_fs *fs, const struct mapfs_inode *ip,
			    uint64_t off, size_t len, struct iovec *iov,
			    int maxiov, int *niov);
/* Copy [off, off+len) of ip into buf (clipped at EOF). Read-only. */
ssize_t mapfs_file_read(struct mapfs_fs *fs, const struct mapfs_inode *ip,
			uint64_t off, void *buf, size_t len);

/* Visit every block pointer of ip: cb gets the block, its level (0 data,
 * 1..3 indirect), the first logical block it covers, and may return
 * nonzero to stop (that value is returned). Pointers are range-checked
 * before descending (bad ones are passed to cb with valid=false and not
 * followed); indirect page CRCs are checked (bad pages are reported with
 * crc_ok=false and still followed if their pointers are in range).
 * Read-only. For fsck and tests. */
struct mapfs_blkvisit {
	mapfs_bno_t bno;
	int level;		/* 0 = data block, 1..3 = indirect */
	uint64_t lbn;		/* first logical block covered */
	bool valid;		/* bno is a data block of this image */
	bool crc_ok;		/* for indirect blocks: every page's CRC ok */
	mapfs_bno_t parent;	/* indirect block holding it, 0 = inode */
	uint32_t slot;		/* index in parent (or in di_blk) */
};
int mapfs_blockmap_walk(struct mapfs_fs *fs, const struct mapfs_inode *ip,
			int (*cb)(void *arg, const struct mapfs_blkvisit *v),
			void *arg);
/* CRC of page `page` of indirect block bno owned by ino. */
uint32_t mapfs_ind_crc(const struct mapfs_fs *fs, mapfs_ino_t owner,
		       mapfs_bno_t bno, uint32_t page);

/* ------------------------------------------------------------------ */
/* dir.c: directory records                                             */
/* ------------------------------------------------------------------ */
/* Callback for mapfs_dir_iterate: one live record; next_off is the
 * directory offset of the record after it (the readdir cookie). Return
 * nonzero to stop; that value is returned by iterate. */
typedef int (*mapfs_dir_cb)(void *arg, const char *name, uint32_t namelen,
			    mapfs_ino_t ino, uint32_t type,
			    uint64_t next_off);
/* Walk live records from directory offset off (0 = start; otherwise a
 * next_off given earlier, or any offset: records are found by scanning
 * the chunk from its start). Validates each chunk. Read-only. */
int mapfs_dir_iterate(struct mapfs_fs *fs, const struct mapfs_inode *dir,
		      uint64_t off, mapfs_dir_cb cb, void *arg);
/* Start reading dir's direct blocks (its first 12) into memory: for a
 * directory about to be listed (the daemon asks for each subdirectory it
 * lists, as find(1) and du(1) descend into them next). Does nothing on a
 * directory that fails its checks. Read-only. */
void mapfs_dir_prefetch(struct mapfs_fs *fs, const struct mapfs_inode *dir);
/* Add a record (name must not exist: the caller checked). Uses free room
 * in an existing chunk or appends a chunk (growing the directory, which
 * may allocate a block). Live records never move. Stores *dir if its
 * size or block map changed. */
int mapfs_dir_add(struct mapfs_fs *fs, struct mapfs_inode *dir,
		  const char *name, uint32_t namelen, mapfs_ino_t ino,
		  uint32_t type, bool use_reserve);
/* Remove name's record; its room joins the previous record of its chunk
 * (or it becomes a free record if it is the chunk's first). *inop gets
 * the inode it named. */
int mapfs_dir_remove(struct mapfs_fs *fs, struct mapfs_inode *dir,
		     const char *name, uint32_t namelen, mapfs_ino_t *inop);
/* Point an existing record at another inode (rename over, ".."). */
int mapfs_dir_replace(struct mapfs_fs *fs, struct mapfs_inode *dir,
		      const char *name, uint32_t namelen, mapfs_ino_t ino,
		      uint32_t type);
/* Make dir (size 0, no blocks) a directory chunk with "." and "..";
 * stores *dir. */
int mapfs_dir_init(struct mapfs_fs *fs, struct mapfs_inode *dir,
		   mapfs_ino_t parent, bool use_reserve);
/* Directories of at least this many chunks get an in-memory hash index
 * once mapfs_dh_enable has been called (the daemon does; fsck does not). */
#define MAPFS_DH_MIN_CHUNKS	2
/* Turn the directory index on, with at most max_bytes of memory for all
 * indexes together (least recently used ones are dropped beyond it). */
int mapfs_dh_enable(struct mapfs_fs *fs, size_t max_bytes);
/* 1 if dir has only "." and "..", 0 if not, negative on error. */
int mapfs_dir_is_empty(struct mapfs_fs *fs, const struct mapfs_inode *dir);
/* Validate one chunk (records tile it exactly, reclen >= size of name,
 * aligned, names without '/' or NUL, namelen > 0, tail magic, CRC).
 * chunk_idx is the chunk's index in the directory (0: "." and ".." must
 * come first). Read-only. */
int mapfs_dir_check_chunk(const struct mapfs_fs *fs, mapfs_ino_t dir_ino,
			  mapfs_bno_t bno, uint32_t page, uint64_t chunk_idx,
			  const uint8_t *chunk, char *why, size_t whylen);
uint32_t mapfs_dir_chunk_crc(const struct mapfs_fs *fs, mapfs_ino_t dir_ino,
			     mapfs_bno_t bno, uint32_t page,
			     const uint8_t *chunk);
/* Type byte for a mode: (mode & IFMT) >> 12. */
static inline uint32_t mapfs_mode_to_dt(uint32_t mode)
{
	return (mode & MAPFS_IFMT) >> 12;
}

/* ------------------------------------------------------------------ */
/* xattr.c: extended attributes (one block per inode, di_xattr)        */
/* ------------------------------------------------------------------ */
#define MAPFS_XATTR_CREATE	0x1	/* fail if the name exists */
#define MAPFS_XATTR_REPLACE	0x2	/* fail if it does not */
/* mapfs_op_setxattr of system.posix_acl_access only: clear setgid too
 * (the caller is outside the file's group and lacks CAP_FSETID, as in
 * Linux's posix_acl_update_mode). */
#define MAPFS_XATTR_KILL_SGID	0x4
/* Value of name into buf (size bytes; 0: just the length). Returns the
 * length, -ENODATA, -ERANGE. Read-only. */
ssize_t mapfs_xattr_get(struct mapfs_fs *fs, const struct mapfs_inode *ip,
			const char *name, void *buf, size_t size);
/* The names, each NUL-terminated; size 0: the length. trusted: include
 * trusted.* names. Read-only. */
ssize_t mapfs_xattr_list(struct mapfs_fs *fs, const struct mapfs_inode *ip,
			 char *buf, size_t size, bool trusted);
/* Validate xattr block bno of inode ino: page tails and CRCs, header
 * (magic, owner, counts), every entry (known index, name, value inside
 * the value area, canonical packing, no duplicate names). Read-only. */
/* In-inode attributes (inode_size > 256): whether ino's slot holds any
 * (a nonzero area), their check (0 when there are none), and clearing
 * them (fsck's repair; also done when an inode is freed). */
bool mapfs_xattr_in_inode(const struct mapfs_fs *fs, mapfs_ino_t ino);
int mapfs_xattr_check_inode(const struct mapfs_fs *fs, mapfs_ino_t ino,
			    char *why, size_t whylen);
void mapfs_xattr_clear_inode(struct mapfs_fs *fs, mapfs_ino_t ino);
int mapfs_xattr_check(const struct mapfs_fs *fs, mapfs_ino_t ino,
		      mapfs_bno_t bno, char *why, size_t whylen);

/* ------------------------------------------------------------------ */
/* ops.c: whole operations by inode number                              */
/* ------------------------------------------------------------------ */
struct mapfs_cred {
	uint32_t uid, gid;
};

struct mapfs_timespec mapfs_now(void);
/* From now on mapfs_now (every time stamp and first-use generation the
 * operations make) returns *t; NULL: the clock again. Process-wide, for
 * deterministic images (mkfs.mapfs -E -d); not thread-safe. */
void mapfs_clock_fix(const struct mapfs_timespec *t);

int mapfs_op_lookup(struct mapfs_fs *fs, mapfs_ino_t dir, const char *name,
		    mapfs_ino_t *inop);
/* A node by number (a file handle): -ESTALE unless ino is a slot files
 * may use holding an allocated inode; the link count may be zero. */
int mapfs_op_lookup_ino(struct mapfs_fs *fs, mapfs_ino_t ino,
			struct mapfs_inode *ip);
/* Create a non-directory node (regular, fifo, socket, chr, blk) or a
 * directory (mode has IFDIR) named name in dir; new owner from cred,
 * group from the directory when it is setgid. *ip gets the new inode. */
int mapfs_op_mknod(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		   mapfs_ino_t dir, const char *name, uint32_t mode,
		   uint64_t rdev, struct mapfs_inode *ip);
/* mknod with POSIX ACLs (the daemon declared FUSE_CAP_POSIX_ACL and
 * FUSE_CAP_DONT_MASK, so the kernel leaves both to us): the parent's
 * default ACL narrows the mode and is inherited (an access ACL, and for
 * a directory the default ACL too); without one, umask applies. */
int mapfs_op_mknod_acl(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		       mapfs_ino_t dir, const char *name, uint32_t mode,
		       uint64_t rdev, uint32_t umask, struct mapfs_inode *ip);
/* O_TMPFILE: a regular file under dir (for owner, setgid group and
 * default ACL inheritance, as mapfs_op_mknod_acl; umask MAPFS_NO_ACL
 * for neither ACLs nor umask, as mapfs_op_mknod) with no name and link
 * count 0, on the orphan list from birth; one journaled operation. Its
 * last close frees it (mapfs_op_reap), a crash frees it at the next
 * mount, mapfs_op_link gives it a name. *ip gets the new inode. */
#define MAPFS_NO_ACL UINT32_MAX
int mapfs_op_tmpfile(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		     mapfs_ino_t dir, uint32_t mode, uint32_t umask,
		     struct mapfs_inode *ip);
int mapfs_op_symlink(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		     mapfs_ino_t dir, const char *name, const char *target,
		     struct mapfs_inode *ip);
/* A new name for ino in newdir. An unlinked inode on the orphan list
 * (an O_TMPFILE) leaves the list with its first name; any other inode
 * with link count 0 gives -ENOENT. */
int mapfs_op_link(struct mapfs_fs *fs, mapfs_ino_t ino, mapfs_ino_t newdir,
		  const char *name, struct mapfs_inode *ip);
int mapfs_op_unlink(struct mapfs_fs *fs, mapfs_ino_t dir, const char *name);
int mapfs_op_rmdir(struct mapfs_fs *fs, mapfs_ino_t dir, const char *name);
#define MAPFS_RENAME_NOREPLACE	1u
#define MAPFS_RENAME_EXCHANGE	2u
#define MAPFS_RENAME_WHITEOUT	4u
int mapfs_op_rename(struct mapfs_fs *fs, mapfs_ino_t odir, const char *oname,
		    mapfs_ino_t ndir, const char *nname, unsigned flags);
/* rename, and with MAPFS_RENAME_WHITEOUT in flags (not with EXCHANGE)
 * the old name is left to a whiteout: a new character device 0/0 with
 * mode 0, owned by cr (group from odir when it is setgid), made in the
 * same journaled operation as the rename. */
int mapfs_op_rename_cr(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		       mapfs_ino_t odir, const char *oname, mapfs_ino_t ndir,
		       const char *nname, unsigned flags);
ssize_t mapfs_op_readlink(struct mapfs_fs *fs, mapfs_ino_t ino, char *buf,
			  size_t bufsize);

/* setattr: which fields of struct mapfs_setattr to apply. */
#define MAPFS_SET_MODE		0x01u
#define MAPFS_SET_UID		0x02u
#define MAPFS_SET_GID		0x04u
#define MAPFS_SET_SIZE		0x08u
#define MAPFS_SET_ATIME		0x10u	/* to atime */
#define MAPFS_SET_MTIME		0x20u	/* to mtime */
#define MAPFS_SET_ATIME_NOW	0x40u
#define MAPFS_SET_MTIME_NOW	0x80u
#define MAPFS_SET_CTIME		0x100u	/* to ctime */
/* atime and mtime given are the caller's present time (utimensat with
 * UTIME_NOW, stamped by the kernel's clock under its writeback cache):
 * allowed on an append-only inode, as the _NOW flags are. */
#define MAPFS_SET_TIMES_NOW	0x200u
struct mapfs_setattr {
	unsigned valid;
	uint32_t mode, uid, gid;
	uint64_t size;
	struct mapfs_timespec atime, mtime, ctime;
};
int mapfs_op_setattr(struct mapfs_fs *fs, mapfs_ino_t ino,
		     const struct mapfs_setattr *sa, bool use_reserve,
		     struct mapfs_inode *ip);
/* After a write or truncation of a regular file: clear setuid, and
 * setgid with group-execute (MAPFS_KILL_SUIDGID: the caller lacks
 * CAP_FSETID), setgid in any case (MAPFS_KILL_SGID: the caller is also
 * outside the file's group), and remove security.capability, as Linux's
 * file_remove_privs does; ctime moves if anything changed. 1 changed,
 * 0 nothing to do, or -errno. */
#define MAPFS_KILL_SUIDGID	0x1u
#define MAPFS_KILL_SGID		0x2u
int mapfs_op_killpriv(struct mapfs_fs *fs, mapfs_ino_t ino, unsigned kill,
		      struct mapfs_inode *ip);
/* write: data, then size/mtime/ctime; returns bytes or negative errno. */
ssize_t mapfs_op_write(struct mapfs_fs *fs, mapfs_ino_t ino, uint64_t off,
		       const void *buf, size_t len, bool use_reserve);
/* write by cr's caller: the root reserve is used only when the caller
 * and the file's owner are both root (mapfs_write_may_reserve). */
ssize_t mapfs_op_write_cr(struct mapfs_fs *fs, const struct mapfs_cred *cr,
			  mapfs_ino_t ino, uint64_t off, const void *buf,
			  size_t len);
bool mapfs_write_may_reserve(const struct mapfs_cred *cr,
			     const struct mapfs_inode *ip);
/* When a read updates atime: mode is the mount's MAPFS_ATIME_* bits (0:
 * relatime, Linux's default: when atime is not newer than mtime or ctime,
 * or is a day old). Never for chattr +A. Pure: now is the caller's. */
#define MAPFS_ATIME_NEVER	0x1u	/* noatime, or a read-only mount */
#define MAPFS_ATIME_STRICT	0x2u	/* strictatime: every read, 10 ms apart */
#define MAPFS_ATIME_NODIR	0x4u	/* nodiratime: never a directory's */
bool mapfs_atime_due(unsigned mode, const struct mapfs_inode *ip,
		     struct mapfs_timespec now);
/* A read of ino: set its atime to now if mapfs_atime_due says so (not
 * ctime). Returns 1 if it did, 0 if not due, or -errno. */
int mapfs_op_touch_atime(struct mapfs_fs *fs, unsigned mode, mapfs_ino_t ino);
/* Free an inode whose link count is zero and which nothing uses any more
 * (taking it off the orphan list if it is there). No-op if nlink > 0. */
int mapfs_op_reap(struct mapfs_fs *fs, mapfs_ino_t ino);
/* Put an unlinked inode that is being opened on the orphan list (no-op if
 * it is linked or already there). */
int mapfs_op_orphan_add(struct mapfs_fs *fs, mapfs_ino_t ino);
/* Free every inode on the orphan list (mount and unmount). */
int mapfs_op_reap_orphans(struct mapfs_fs *fs);

struct mapfs_statfs {
	uint64_t bsize, blocks, bfree, bavail, files, ffree;
	uint32_t namemax;
};
/* statfs: files is every inode in the tables (reserved ones included,
 * as used), ffree the free ones; blocks the data blocks. */
void mapfs_op_statfs(const struct mapfs_fs *fs, struct mapfs_statfs *st);

/* Extended attributes, whole operations (xattr.c has the storage).
 * Names are full ("user.foo"); flags MAPFS_XATTR_CREATE/REPLACE. Changes
 * answer -EPERM on immutable and append-only inodes and update ctime;
 * setting system.posix_acl_access also sets the mode's permission bits
 * from the ACL (and stores no ACL when the mode says it all). get and
 * list are read-only and return the value's (list's) length; with size
 * 0 only the length, -ERANGE when size is too small. list shows
 * trusted.* names only when `trusted` (the caller is root). */
int mapfs_op_setxattr(struct mapfs_fs *fs, mapfs_ino_t ino, const char *name,
		      const void *value, size_t len, int flags,
		      bool use_reserve);
int mapfs_op_removexattr(struct mapfs_fs *fs, mapfs_ino_t ino,
			 const char *name);
ssize_t mapfs_op_getxattr(struct mapfs_fs *fs, mapfs_ino_t ino,
			  const char *name, void *buf, size_t size);
ssize_t mapfs_op_listxattr(struct mapfs_fs *fs, mapfs_ino_t ino, char *buf,
			   size_t size, bool trusted);

/* fallocate(2) on a regular file. mode: 0, MAPFS_FALLOC_KEEP_SIZE,
 * PUNCH_HOLE | KEEP_SIZE, ZERO_RANGE [| KEEP_SIZE]; others -EOPNOTSUPP.
 * Allocated blocks are zeroed; blocks past EOF (KEEP_SIZE) set
 * MAPFS_FL_KEEPSIZE. Punching frees whole blocks (and indirect blocks
 * left empty) and zeroes the partial ones at the edges. */
#define MAPFS_FALLOC_KEEP_SIZE	0x01	/* Linux's values */
#define MAPFS_FALLOC_PUNCH_HOLE	0x02
#define MAPFS_FALLOC_ZERO_RANGE	0x10
int mapfs_op_fallocate(struct mapfs_fs *fs, mapfs_ino_t ino, int mode,
		       uint64_t off, uint64_t len, bool use_reserve);
/* lseek SEEK_DATA (data true) or SEEK_HOLE from the block map: -ENXIO at
 * or past EOF (or no data after off). Read-only. */
int mapfs_op_seek(struct mapfs_fs *fs, mapfs_ino_t ino, uint64_t off,
		  bool data, uint64_t *resp);
/* copy_file_range: copy [soff, soff+len) of src (clipped at its EOF) to
 * doff of dst inside the image; holes of src stay holes where whole
 * destination blocks are covered. Returns bytes copied. */
ssize_t mapfs_op_copy_range(struct mapfs_fs *fs, mapfs_ino_t src,
			    uint64_t soff, mapfs_ino_t dst, uint64_t doff,
			    uint64_t len, bool use_reserve);
/* FS_IOC_GETFLAGS / SETFLAGS: the MAPFS_FL_USER bits. Setting needs the
 * owner or root (-EPERM), and root to change immutable or append-only;
 * unknown bits are -EOPNOTSUPP. */
int mapfs_op_getflags(struct mapfs_fs *fs, mapfs_ino_t ino, uint32_t *flagsp);
int mapfs_op_setflags(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		      mapfs_ino_t ino, uint32_t flags);
/* May ino be opened with these open(2) flags? -EPERM for writing an
 * immutable file, and for writing an append-only one without O_APPEND
 * or with O_TRUNC (what Linux's may_open does for its own inodes).
 * Read-only. */
int mapfs_op_may_open(struct mapfs_fs *fs, mapfs_ino_t ino, bool write,
		      bool append, bool trunc);

/* ------------------------------------------------------------------ */
/* format.c: laying out a fresh filesystem                              */
/* ------------------------------------------------------------------ */
struct mapfs_format_opts {
	uint64_t size_bytes;	/* image size */
	uint32_t bsize;		/* 0 = default */
	uint32_t bytes_per_inode; /* 0 = default */
	uint32_t bpg;		/* 0 = default (8 * bsize) */
	uint32_t minfree_pct;	/* default 5; UINT32_MAX = default */
	uint32_t inode_size;	/* 0 = 512 (256: no in-inode xattrs) */
	char label[MAPFS_LABEL_MAX + 1];
	uint8_t uuid[16];
	bool have_uuid;
	int64_t time;		/* 0 = now; fixed for deterministic images */
	uint32_t root_uid, root_gid;
	/* Metadata journal bytes: 0 = default (1/64 of the image, 1 to
	 * 64 MiB, none when group 0 has no room), UINT64_MAX = none. */
	uint64_t journal_bytes;
	/* Called now and then while the groups are prepared (done of
	 * total), for a progress display; NULL: none. */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
};
/* mkfs's journal size for geometry g on an image of size_bytes: 1/64 of
 * it, 1 MiB to 64 MiB, at most a quarter of group 0's data area; 0 when
 * that is below MAPFS_JOURNAL_MIN_BYTES (no journal). */
uint64_t mapfs_format_journal_default(const struct mapfs_geom *g,
				      uint64_t size_bytes);
/* Pure arithmetic: choose the geometry for opts. -EINVAL with a reason
 * for impossible requests (too small, bad sizes). */
int mapfs_format_plan(const struct mapfs_format_opts *o,
		      struct mapfs_geom *g, char *why, size_t whylen);
/* Write a fresh filesystem with geometry g into base (size bytes, which
 * must be zero where never written: a new sparse file or a zeroed buffer
 * is; mapfs_format zeroes the metadata it owns otherwise). Creates the
 * root and lost+found. */
int mapfs_format(void *base, uint64_t size, const struct mapfs_format_opts *o,
		 const struct mapfs_geom *g, char *why, size_t whylen);

/* ------------------------------------------------------------------ */
/* fsck support: for fsck.mapfs's repairs (and tests). These work on    */
/* structures fsck has located and range-checked itself.                */
/* ------------------------------------------------------------------ */

/* inode.c, bmap.c */
/* Decode inode ino into *ip without validating it (for inodes that failed
 * mapfs_inode_check): range-check every field before use. -ENOENT if ino
 * has no slot in the image. Read-only. */
int mapfs_inode_decode(const struct mapfs_fs *fs, mapfs_ino_t ino,
		       struct mapfs_inode *ip);
/* Set pointer slot of indirect block bno (owned by owner) and reseal its
 * page. -EINVAL if bno is not a data block or slot >= nindir. */
int mapfs_ind_set(struct mapfs_fs *fs, mapfs_ino_t owner, mapfs_bno_t bno,
		  uint32_t slot, mapfs_bno_t val);
/* Rewrite the magic and CRC of every page of indirect block bno for
 * owner. */
int mapfs_ind_reseal(struct mapfs_fs *fs, mapfs_ino_t owner, mapfs_bno_t bno);
/* True if every nonzero pointer of indirect block bno is a data block. */
bool mapfs_ind_ptrs_valid(const struct mapfs_fs *fs, mapfs_bno_t bno);

/* cg.c */
/* Bitmap pages (with a CRC in the header) of group cg's inode or block
 * bitmap. */
uint32_t mapfs_cg_bitmap_pages(const struct mapfs_fs *fs, uint64_t cg,
			       bool inode_bm);
/* Rewrite group cg's header from fs->cg[cg]'s counts, ihiwater and the
 * bitmaps as they are (every page CRC recomputed); marks the group
 * initialized and good. */
void mapfs_cg_rebuild(struct mapfs_fs *fs, uint64_t cg, uint32_t ihiwater);

/* dir.c: one chunk in a caller's buffer (4096 bytes). */
struct mapfs_dirrec {
	mapfs_ino_t ino;	/* 0: free record */
	uint32_t reclen, type, namelen;
	const char *name;	/* inside the chunk, not terminated */
};
/* What is wrong with the first bad record of a chunk. */
#define MAPFS_DIRBAD_OTHER	1	/* layout: lengths, names, order */
#define MAPFS_DIRBAD_INO	2	/* inode number out of range */
#define MAPFS_DIRBAD_TYPE	3	/* unknown type byte */
#define MAPFS_DIRBAD_DOT	4	/* chunk 0's '.' (inode, type) or '..'
					 * (type) wrong, record well formed */
#define MAPFS_DIRBAD_DOT_PLACE	5	/* '.' or '..' out of place */
/* Check a chunk's records, not its tail: 0, or -EUCLEAN with the offset
 * and kind of the first bad record (mapfs_dir_check_chunk's record
 * checks, in the same order). Read-only. */
int mapfs_dir_chunk_first_bad(const struct mapfs_fs *fs, mapfs_ino_t dir_ino,
			      uint64_t chunk_idx, const uint8_t *chunk,
			      uint32_t *offp, int *kindp, char *why,
			      size_t whylen);
/* Decode the record header at pos; -EINVAL if it does not fit. */
int mapfs_dir_chunk_record(const uint8_t *chunk, uint32_t pos,
			   struct mapfs_dirrec *r);
/* Visit the live records of a checked chunk with their offsets; cb may
 * change or remove the record it gets. */
int mapfs_dir_chunk_iterate(uint8_t *chunk,
			    int (*cb)(void *arg, uint32_t pos,
				      const struct mapfs_dirrec *r),
			    void *arg);
/* Point the record at pos to ino with type. */
void mapfs_dir_chunk_set(uint8_t *chunk, uint32_t pos, mapfs_ino_t ino,
			 uint32_t type);
/* Remove the record at pos as mapfs_dir_remove would. -EINVAL if the
 * records before it do not tile up to it, or for chunk 0's '.'. */
int mapfs_dir_chunk_remove(uint8_t *chunk, uint64_t chunk_idx, uint32_t pos);
/* An empty chunk: '.' and '..' (parent) for chunk 0, a free record
 * otherwise. */
void mapfs_dir_chunk_init(uint8_t *chunk, mapfs_ino_t dir_ino,
			  uint64_t chunk_idx, mapfs_ino_t parent);
/* Keep the records before the first bad one (the last kept absorbs the
 * rest); reinitialize the chunk if '.' or '..' is bad or nothing is
 * kept. Returns the cut offset (4088: nothing cut). */
uint32_t mapfs_dir_chunk_salvage(const struct mapfs_fs *fs,
				 mapfs_ino_t dir_ino, uint64_t chunk_idx,
				 mapfs_ino_t parent, uint8_t *chunk);
/* Write the tail (magic, CRC) of a chunk stored at page of block bno of
 * directory dir_ino. */
void mapfs_dir_chunk_seal(const struct mapfs_fs *fs, mapfs_ino_t dir_ino,
			  mapfs_bno_t bno, uint32_t page, uint8_t *chunk);

/* ------------------------------------------------------------------ */
/* grow.c: enlarging a filesystem offline (growfs.mapfs, tests)         */
/* ------------------------------------------------------------------ */
/* Progress report: done out of total steps. */
typedef void (*mapfs_progress_fn)(void *arg, uint64_t done, uint64_t total);
/* Pure arithmetic: the geometry of old grown to an image of size_bytes
 * (same block, group and inode sizes; a last group too small for its
 * metadata and 16 data blocks is left out, as mkfs does; the root
 * reserve is minfree of the new data blocks). ng->nblocks ==
 * old->nblocks means there is nothing to add. -EINVAL (with a reason)
 * when size_bytes is smaller than the filesystem: shrinking is not
 * supported; -EFBIG when the geometry cannot hold that many blocks. */
int mapfs_grow_plan(const struct mapfs_geom *old, uint64_t size_bytes,
		    struct mapfs_geom *ng, char *why, size_t whylen);
/* Grow fs (attached read-write, clean, held exclusively: not mounted) to
 * ng from mapfs_grow_plan(&fs->g, ...); the image (fs->size) must
 * already hold ng->nblocks blocks. Extends a partial last group, leaves
 * the new groups unused (zeroing their header and bitmap pages only if
 * they are not zero), stores the superblock and every copy (new copy
 * groups included) and syncs, primary last. fs is left attached with
 * the new geometry. progress (may be NULL) is called every few groups.
 * -EUCLEAN when the image is not clean or its last group is damaged. */
int mapfs_grow(struct mapfs_fs *fs, const struct mapfs_geom *ng,
	       mapfs_progress_fn progress, void *parg, char *why,
	       size_t whylen);

/* ------------------------------------------------------------------ */
/* tune.c: change a made filesystem (tune.mapfs)                        */
/* ------------------------------------------------------------------ */
struct mapfs_tune {
	bool set_label;
	char label[MAPFS_LABEL_MAX + 1];	/* NUL-terminated */
	bool set_uuid;
	uint8_t uuid[16];
	bool set_minfree;
	uint32_t minfree_pct;		/* 0..50 */
	bool add_journal;
	uint64_t journal_bytes;		/* 0: mkfs's default size */
};
/* Where mapfs_tune would put a new journal of `bytes` (0: mkfs's default
 * size) on fs (no journal yet): *jstart and *jblocks. mkfs's place (the
 * end of group 0) when those blocks are free, else the free run nearest
 * the end of the first group that has one. -EINVAL (size out of range,
 * already journaled) or -ENOSPC (no free run that long) with a reason.
 * Read-only. */
int mapfs_tune_journal_place(const struct mapfs_fs *fs, uint64_t bytes,
			     uint64_t *jstart, uint64_t *jblocks, char *why,
			     size_t whylen);
/* Check every change of t against fs before anything is written: label
 * length, percentage, journal room, the filesystem clean. 0, or a
 * negative errno and a reason. Read-only. */
int mapfs_tune_check(const struct mapfs_fs *fs, const struct mapfs_tune *t,
		     char *why, size_t whylen);
/* Apply t to fs (attached read-write, clean, held exclusively: not
 * mounted) and make it durable, in the primary superblock and every
 * copy. With the journal running (opened MAPFS_OPEN_JOURNAL) the
 * superblock changes are one journaled operation: a crash keeps all or
 * none of them. Without it (and always when adding a journal) growfs's
 * order: the primary marked not clean first, then the journal area
 * zeroed and its header written, the group's bitmap, the copies, the
 * primary last; an interrupted run leaves an image the daemon refuses
 * until fsck.mapfs has put it back in order. A new uuid keeps the
 * checksum seed (incompat CSUM_SEED, dropped when the uuid's CRC is the
 * seed again): nothing else is rewritten. Checks first
 * (mapfs_tune_check): nothing is written when it fails. */
int mapfs_tune(struct mapfs_fs *fs, const struct mapfs_tune *t, char *why,
	       size_t whylen);

/* Growing a mounted filesystem: growfs.mapfs asks the daemon with this
 * ioctl on the mount point (a directory of the mount). In: size_bytes,
 * the filesystem size wanted, as growfs -s (0: only report). Out: the
 * size before (old_bytes) and after (new_bytes), and the most the
 * daemon's mapping can grow to while mounted (max_bytes). Root or the
 * user the daemon runs as only (EPERM); EINVAL for a shrink, EFBIG past
 * max_bytes, EOPNOTSUPP without a journal, EROFS read-only. */
struct mapfs_grow_req {
	uint64_t size_bytes;
	uint64_t old_bytes;
	uint64_t new_bytes;
	uint64_t max_bytes;
};
#define MAPFS_IOC_GROW _IOWR('m', 0x47, struct mapfs_grow_req)

/* Grow fs, open by the daemon (MAPFS_OPEN_JOURNAL, read-write), to
 * size_bytes (mapfs_grow_plan's rules) inside the operation the caller
 * holds open (mapfs_op_begin, the filesystem held exclusively): the
 * file is enlarged and mapped first (base and dbase do not move); every
 * store after that goes into that one operation's journal record, so a
 * crash keeps the old size or the new, whole. The caller ends the
 * operation and commits. 0 (also when there is nothing to add), or a
 * negative errno with a reason in why: -EINVAL shrink, -EFBIG past
 * mapfs_grow_online_max, -EOPNOTSUPP no journal, -EUCLEAN errors seen,
 * -ENOSPC host full. */
int mapfs_grow_online(struct mapfs_fs *fs, uint64_t size_bytes, char *why,
		      size_t whylen);
/* The most bytes fs can grow to while open (its reserved address
 * space); fs->size when it cannot grow. */
uint64_t mapfs_grow_online_max(const struct mapfs_fs *fs);

#endif /* MAPFS_H */
