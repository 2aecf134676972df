/* SPDX-License-Identifier: MIT */
/* internal.h - helpers shared inside the core only (not part of the API). */
#ifndef MAPFS_INTERNAL_H
#define MAPFS_INTERNAL_H

#include "mapfs.h"

#include <endian.h>
#include <pthread.h>
#include <stdio.h>

/* Kinds of deferred seal (seal.c). */
enum { MAPFS_PEND_BM = 1, MAPFS_PEND_CG, MAPFS_PEND_IND, MAPFS_PEND_KINDS };

/*
 * The core's own state of a filesystem (fs->in; allocated by
 * mapfs_fs_init_geom, freed by mapfs_super_detach): caches, hints and the
 * bookkeeping of the operation under way, which no program reads or sets.
 * include/mapfs.h's struct mapfs_fs holds what programs use.
 */
struct mapfs_fs_core {
	uint64_t img_off;	/* where the filesystem starts in that file */
	/* Address space reserved at dbase and at base (the private
	 * mapping) for growing while mounted (mount.c); 0: none, the
	 * mapping is size bytes and cannot grow. */
	uint64_t dresv, presv;
	bool size_fixed;	/* opened as a region of a given size */
	/* In memory only (ops.c): each orphan's predecessor on the list,
	 * so that taking one off does not walk the list. Built at the
	 * first need, checked against the image at every use. */
	struct mapfs_oidx *oidx;
	uint64_t cg_rotor;	/* allocation hint: last group used */
	/* Checksums put off inside one large write (mapfs_seal_defer):
	 * bitmap pages, group headers and indirect-block pages changed
	 * block after block are sealed once at the end, not once per
	 * block (8 KiB of CRC per 4 KiB written otherwise). */
	unsigned seal_defer;
	unsigned npend;
	struct mapfs_pend {
		uint8_t kind;		/* MAPFS_PEND_* */
		uint8_t ibm;		/* bitmap: the inode bitmap */
		uint32_t page;
		uint64_t a, b;		/* group; or owner, block */
	} pend[32];
	/* Who seals each kind (mapfs_seal_register); last: after the
	 * others. */
	void (*sealer[4])(struct mapfs_fs *fs, const struct mapfs_pend *e);
	bool seal_last[4];
	/* Metadata pages checked or written since the mount (image.c,
	 * mapfs_fs_keep_checks): a bit per 4 KiB page of the image, in
	 * leaves allocated on first use; NULL = off. */
	_Atomic(_Atomic uint64_t *) *checked;
	uint64_t nchecked;
	/* In-memory index of large directories (dirhash.c); NULL = off. */
	struct mapfs_dhcache *dh;
	/* Inode-table read-ahead (inode.c): the mapping is MADV_RANDOM, so
	 * loading an inode whose page is not in memory reads that one page.
	 * The first load from each chunk of itab_per inodes (MAPFS_ITAB_AHEAD
	 * bytes of a group's table) since attach asks for the whole chunk
	 * instead; a bit per chunk (itab_cpg per group, itab_nbits in all)
	 * remembers which were asked for. NULL = off (out of memory). */
	uint64_t *itab_seen;
	uint64_t itab_nbits;
	uint32_t itab_per, itab_cpg;
	/* Writing ahead (fs->ahead_hook): blocks [prep_lo, prep_hi) were
	 * zeroed in the host while free; mapfs_fs_fresh_data does not zero
	 * them again. */
	mapfs_bno_t prep_lo, prep_hi;
	/* Blocks freed by the operation under way, not yet given to
	 * mapfs_fs_forget_blocks: the run [forget_lo, forget_lo +
	 * forget_n), extended while frees are contiguous. */
	mapfs_bno_t forget_lo;
	uint64_t forget_n;
	/* The operation bracket (txn.c): open brackets; the superblock's
	 * orphan head and state as an operation last stored them (stored
	 * again only when they moved; op_sb_known false: never yet). */
	unsigned op_depth;
	bool op_sb_known;
	uint64_t op_sb_orphan;
	uint32_t op_sb_state;
	bool data_shared;	/* dbase is a shared, writable file mapping */
	bool resv_unsupported;	/* host cannot fallocate: don't try */
	bool zero_unsupported;	/* host cannot FALLOC_FL_ZERO_RANGE */
	/* Freed blocks read as zeros (docs/DURABILITY.md). free_zero_mark
	 * is the superblock's sb_free_zeroed (read at attach, written by
	 * mapfs_super_store); the daemon's journaled open clears it on the
	 * image and keeps what it said in fs->free_zero_found, other writers at
	 * their first change that needs it (mapfs_fs_unzeroed). free_zeroed:
	 * every free block outside the journal's quarantine reads as zeros
	 * in the host (mapfs_alloc_zero_free made it so; the journal keeps
	 * it). */
	bool free_zero_mark;
	bool free_zeroed;
};

/* seal.c: the owner of a kind of deferred seal registers the function
 * that seals one entry; kinds registered last are sealed after the
 * others. */
typedef void (*mapfs_sealer_fn)(struct mapfs_fs *fs,
				const struct mapfs_pend *e);

/* Fill the fields of g derived from bsize, inode_size, bpg, ipg, nblocks:
 * bshift, inodes_per_block, ngroups, ninodes, layout offsets, nindir,
 * pages_per_block, maxfilesize. Returns false if they do not fit. */
bool mapfs_geom_derive(struct mapfs_geom *g);

/* Set up fs (without reading the image's superblock) for geometry g:
 * the superblock's part (super.c). */
int mapfs_fs_init_geom(struct mapfs_fs *fs, void *base, uint64_t size,
		       const struct mapfs_geom *g);
/* mapfs_fs_init_geom and the services above the superblock that every
 * attached fs has (mount.c): what mkfs's in-memory fs uses. */
int mapfs_fs_init(struct mapfs_fs *fs, void *base, uint64_t size,
		  const struct mapfs_geom *g);
/* super.c's part of mapfs_fs_attach: decode and check the superblock
 * (primary, or the copy of group sb_group), size fs for its geometry and
 * load its fields; nothing about groups. mapfs_super_detach frees what
 * it allocated. mount.c composes both. */
int mapfs_super_attach(struct mapfs_fs *fs, void *base, uint64_t size,
		       int flags, uint64_t sb_group, mapfs_log_fn log,
		       void *log_arg, char *why, size_t whylen);
void mapfs_super_detach(struct mapfs_fs *fs);
/* fdatasync of the image file (image.c; 0 for a memory image). */
int mapfs_fs_datasync(struct mapfs_fs *fs);

/* Inode-table read-ahead (inode.c): bytes of a group's inode table asked
 * for at once, the first time an inode in them is loaded. */
#define MAPFS_ITAB_AHEAD	(128u * 1024)
/* Once this many chunks of one group's table have been asked for, the
 * rest of the group's inodes in use are asked for at once. */
#define MAPFS_ITAB_GROUP_AFTER	4
/* Size fs->in->itab_seen for fs->g (NULL, read-ahead off, if out of memory). */
void mapfs_itab_ahead_init(struct mapfs_fs *fs);

/* Header-only check of group cg (no bitmap pages); see mapfs_cg_check. */
int mapfs_cg_check_hdr(const struct mapfs_fs *fs, uint64_t cg, bool *unused,
		       char *why, size_t whylen);
/* Verify the bitmap page CRCs of an initialized group. */
int mapfs_cg_check_bitmaps(const struct mapfs_fs *fs, uint64_t cg,
			   char *why, size_t whylen);

/* Write a reason into why (if given) and return -EUCLEAN: the one way
 * validators explain a failure. */
int mapfs_why(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* CRC32C of a 4 KiB page (its first len bytes) owned by inode owner at
 * block bno, page `page`: crc32c(seed, le64 owner, le64 bno, le32 page)
 * then the bytes. Directory chunks and indirect pages use it. */
uint32_t mapfs_crc_page(const struct mapfs_fs *fs, mapfs_ino_t owner,
			mapfs_bno_t bno, uint32_t page, const void *p,
			size_t len);

/* image.c: metadata pages known good (see mapfs_fs_keep_checks), by
 * image page (bno * pages_per_block + page). known: false when off.
 * good: remember that page was checked, or written whole and sealed, by
 * us. checks_free: at detach. */
bool mapfs_page_known(const struct mapfs_fs *fs, uint64_t page);
void mapfs_page_good(const struct mapfs_fs *fs, uint64_t page);
void mapfs_checks_free(struct mapfs_fs *fs);

/* dirhash.c, for dir.c: see the top of dirhash.c. acquire returns the
 * index of dir with the cache lock held (NULL, unlocked, when there is
 * none: small directory or no memory); a fresh one is "building" until
 * dir.c has filled it and called mapfs_dh_built. */
struct mapfs_dh;
struct mapfs_dh *mapfs_dh_acquire(struct mapfs_fs *fs,
				  const struct mapfs_inode *dir);
void mapfs_dh_release(struct mapfs_fs *fs);
/* Drop the orphan list's in-memory index (ops.c; detach). */
void mapfs_oidx_free(struct mapfs_fs *fs);
bool mapfs_dh_building(const struct mapfs_dh *h);
void mapfs_dh_built(struct mapfs_dh *h);
void mapfs_dh_discard(struct mapfs_fs *fs, struct mapfs_dh *h);
int mapfs_dh_add(struct mapfs_fs *fs, struct mapfs_dh *h, const char *name,
		 uint32_t len, uint64_t off);
void mapfs_dh_del(struct mapfs_dh *h, const char *name, uint32_t len,
		  uint64_t off);
/* Next candidate offset for name (UINT64_MAX: no more); *cursor starts 0. */
uint64_t mapfs_dh_next(const struct mapfs_dh *h, const char *name,
		       uint32_t len, uint64_t *cursor);
int mapfs_dh_set_room(struct mapfs_fs *fs, struct mapfs_dh *h, uint64_t c,
		      uint32_t room);
/* First chunk that can take a record of need bytes, or -1. */
int64_t mapfs_dh_find_room(const struct mapfs_dh *h, uint32_t need);
uint32_t mapfs_dh_name_hash(const char *name, uint32_t len);

/* journal.c, for txn.c: keep room in the ring for the operation about
 * to run (may commit); whether the operation in progress changed
 * metadata; append its record (its ranges, merged) to the ring. */
int mapfs_journal_make_room(struct mapfs_fs *fs);
bool mapfs_journal_has_changes(const struct mapfs_fs *fs);
int mapfs_journal_write_op(struct mapfs_fs *fs);
/* seal.c, for txn.c: an operation ends; seal whatever is still pending
 * (nothing is, outside a deferring write). */
void mapfs_seal_end_op(struct mapfs_fs *fs);

#define WHY(...) do { if (why && whylen) snprintf(why, whylen, __VA_ARGS__); \
	} while (0)

static inline bool mapfs_is_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	return len == 0 || (b[0] == 0 && __builtin_memcmp(b, b + 1, len - 1) == 0);
}

/* ------------------------------------------------------------------ */
/* bmap.c, for file.c: block-map helpers (see the top of bmap.c)       */
/* ------------------------------------------------------------------ */

/* Pages already verified during one call, by path position. Within a call
 * the image changes only through bmap.c, which reseals what it
 * touches, so a verified page stays verified. */
struct mapfs_ind_cache {
	mapfs_bno_t bno[MAPFS_NIADDR + 1];
	uint32_t page[MAPFS_NIADDR + 1];
};

/*
 * The route to a logical block: idx[0] is the slot in di_blk, idx[1..depth]
 * the pointer index in each indirect block on the way. With n = nindir:
 * lbn 5 -> depth 0, {5}; lbn 12 -> depth 1, {12, 0};
 * lbn 12 + n + 3n + 7 -> depth 2, {13, 3, 7}.
 */
struct mapfs_bpath {
	int depth;
	uint32_t idx[MAPFS_NIADDR + 1];
};

/* May we allocate through ip's map? Besides block-bearing inodes, a
 * symlink of size 0 (its slow target is about to be written). */
bool mapfs_map_writable(const struct mapfs_inode *ip);
/* First logical block covered by the tree rooted at di_blk[11 + level]. */
uint64_t mapfs_level_start(const struct mapfs_geom *g, int level);
/* Logical blocks covered by one pointer in an indirect block of `level`
 * (1: data blocks, 2: n, 3: n * n). */
uint64_t mapfs_child_span(const struct mapfs_geom *g, int level);
/* Logical blocks a file may use: ceil(maxfilesize / bsize). */
uint64_t mapfs_lbn_limit(const struct mapfs_geom *g);
/* The route to lbn; -EFBIG past the map's reach. */
int mapfs_bpath_get(const struct mapfs_geom *g, uint64_t lbn,
		    struct mapfs_bpath *bp);
/* Follow bp through ip's map: ptr[k] gets the pointer at path position
 * k, *kp the first position holding a hole (depth + 1: mapped). */
int mapfs_path_lookup(struct mapfs_fs *fs, const struct mapfs_inode *ip,
		      const struct mapfs_bpath *bp, struct mapfs_ind_cache *c,
		      mapfs_bno_t ptr[MAPFS_NIADDR + 1], int *kp);
/* mapfs_bmap with a page cache c (NULL: none). */
int mapfs_bmap_cached(struct mapfs_fs *fs, const struct mapfs_inode *ip,
		      uint64_t lbn, struct mapfs_ind_cache *c,
		      mapfs_bno_t *bnop);
/* mapfs_bmap_alloc with the first new block placed at pref (0: derived)
 * and a page cache c. */
int mapfs_bmap_alloc_pref(struct mapfs_fs *fs, struct mapfs_inode *ip,
			  uint64_t lbn, bool use_reserve, bool will_overwrite,
			  mapfs_bno_t pref, struct mapfs_ind_cache *c,
			  mapfs_bno_t *bnop);
/* Free block bno removed from ip's map (ip->blocks - 1, never below 0). */
int mapfs_drop_block(struct mapfs_fs *fs, struct mapfs_inode *ip,
		     mapfs_bno_t bno);
/* Free the tree under indirect block bno of `level`, which nothing
 * points to any more. */
int mapfs_free_subtree(struct mapfs_fs *fs, struct mapfs_inode *ip,
		       mapfs_bno_t bno, int level);
/* Remove from indirect block bno (of `level`, covering logical blocks
 * from `first`) every block mapping [lo, hi); *emptyp tells whether bno
 * holds no pointer afterwards. */
int mapfs_trim_range(struct mapfs_fs *fs, struct mapfs_inode *ip,
		     mapfs_bno_t bno, int level, uint64_t first, uint64_t lo,
		     uint64_t hi, bool *emptyp);

/* cg.c, for alloc.c: raise group cg's inode high-water mark to hiwater
 * and journal the field; see cg.c. */
void mapfs_cg_raise_ihiwater(struct mapfs_fs *fs, uint64_t cg,
			     uint32_t hiwater);

/* ================================================================== */
/* The core's internal functions, moved out of include/mapfs.h: no      */
/* program calls them (the daemon, fsck, mkfs, dumpfs, growfs and the  */
/* mount, power and fuzz tests go through include/ only; the unit tests */
/* of the core include this file). Grouped by the section of mapfs.h    */
/* they belong with.                                                   */
/* ================================================================== */

/* mounts.c and image.c (the mapping's services) */
/* 1 if the image at path is mounted by mapfs where this process can see
 * it (the mount point in mnt, when given), 0 if not, -errno. */
int mapfs_image_mounted(const char *path, char *mnt, size_t len);
/* msync [off, off+len) of the image (rounded out to pages), MS_SYNC.
 * No-op for memory images. */
int mapfs_fs_sync_range(struct mapfs_fs *fs, uint64_t off, uint64_t len);
/* Make sure the image file has space behind blocks [bno, bno+n), so that
 * a store through the mapping cannot fault with SIGBUS on a full host
 * filesystem (a sparse image allocates on first write). -ENOSPC when the
 * host has no room. A no-op for memory images and for hosts (or block
 * devices) that cannot fallocate. */
int mapfs_fs_reserve(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n);
/* Host space behind data blocks [bno, bno + n) was given back (the range
 * was punched out of the image file): forget every allocator window
 * (mapfs_cgmem resv_start/resv_end) that overlaps it, so that the next
 * block allocated there is reserved again instead of being written into
 * a hole. Whoever punches freed blocks calls it. */
void mapfs_fs_reserve_forget(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n);
/* Blocks [bno, bno + n) were just allocated to a file and are about to
 * be overwritten whole: drop their old contents in the host file (kept
 * allocated), so writing them through the mapping faults in zero pages
 * instead of reading what a deleted file left on disk. Pages the host
 * holds in memory are left alone (overwriting them reads nothing).
 * Nothing to do once fs->in->free_zeroed (free blocks already read as
 * zeros in the host). Best effort. */
void mapfs_fs_fresh_data(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n);
/* Blocks [bno, bno + n) were freed: take their pages out of the
 * daemon's mappings (MADV_DONTNEED on the shared mapping: the page cache
 * keeps them, bytes unchanged, a later access faults them back). Mapped
 * pages are what reclaim and drop_caches leave alone; a deleted file's
 * would otherwise stay for the life of the mount. Runs under 64 KiB are
 * left as they are. Best effort. mapfs_free_block collects contiguous
 * frees; mapfs_op_end hands over the last run. */
void mapfs_fs_forget_blocks(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n);
/* Blocks [bno, bno + n), free and not quarantined (mapfs_free_run), are
 * likely the next ones a file written sequentially gets: zero them in the
 * host now and remember them, so that mapfs_fs_fresh_data leaves them
 * alone (writing ahead, mapfs_file_write). False where the host cannot
 * zero ranges (then the pages would have to be read: don't write ahead). */
bool mapfs_fs_zero_ahead(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n);
/* Blocks [bno, bno + n) are free and nobody reads their bytes again:
 * make them read as zeros, in the mappings at once and on the host's
 * disk once the next flush of the image returns, so that after a power
 * cut a block given to a file later holds that file's bytes or zeros,
 * never an earlier owner's. FALLOC_FL_ZERO_RANGE on the parts the host
 * holds data for (holes are left alone: no host space is allocated or
 * released); stores of zeros through the shared mapping where the host
 * cannot (tmpfs, memory images). Must not run before the free is durable
 * and home (the journal's quarantine decides when: journal.c). */
void mapfs_fs_zero_free(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t n);

/* journal.c: the metadata journal */
/* True when [jstart, jstart + jblocks) is a usable journal location for
 * geometry g: inside one group's data area, at least
 * MAPFS_JOURNAL_MIN_BYTES (super.c: a check of superblock fields). */
bool mapfs_super_journal_geom_ok(const struct mapfs_geom *g);
/* Record that [p, p + len) of fs->base (metadata) was changed by the
 * operation in progress. Every store to metadata is followed by one. */
void mapfs_journal_dirty(const struct mapfs_fs *fs, const void *p,
			 size_t len);
static inline void mapfs_jdirty(const struct mapfs_fs *fs, const void *p,
				size_t len)
{
	if (fs->j)
		mapfs_journal_dirty(fs, p, len);
}
/* Make every ended operation durable (one fdatasync of the image), then
 * copy the changed metadata to its home locations (checkpoint). With
 * full, also empty the ring (three flushes): unmount does that. */
int mapfs_journal_commit(struct mapfs_fs *fs, bool full);
/* Blocks freed by operations whose records may still be replayed are not
 * reused (a power cut could bring their old owner back, a replay could
 * overwrite the new owner's data): the allocator skips the blocks set in
 * this bitmap of group cg (NULL: none). */
const uint8_t *mapfs_journal_quarantine(const struct mapfs_fs *fs,
					uint64_t cg);
/* Called when block bno is freed. */
int mapfs_journal_note_free(struct mapfs_fs *fs, mapfs_bno_t bno);
/* True when frees are waiting for a commit (an ENOSPC may go away). */
bool mapfs_journal_frees_pending(const struct mapfs_fs *fs);
/* Start journaling on an attached, replayed image (fs->base private,
 * fs->dbase shared). */
int mapfs_journal_start(struct mapfs_fs *fs);
/* Stop (after a full commit) and free. */
void mapfs_journal_stop(struct mapfs_fs *fs);
/* Room in the quarantine for ngroups groups, before fs->g grows to them
 * (grow.c, growing while mounted). 0 or -ENOMEM (nothing changed). */
int mapfs_journal_grow(struct mapfs_fs *fs, uint64_t ngroups);
/* mount.c: make the mapped image hold new_bytes for growing while
 * mounted (enlarge the file, map the tail behind both mappings, zero old
 * bytes past the filesystem's end in the host). */
int mapfs_fs_map_grow(struct mapfs_fs *fs, uint64_t new_bytes, bool *zeros,
		      char *why, size_t whylen);
/* Initialize the journal header of a fresh filesystem (mkfs). */
void mapfs_journal_format(struct mapfs_fs *fs);
/* Report corruption: logs "file:line: message", sets fs->error and
 * returns -EUCLEAN. Use through MAPFS_CORRUPT. */
int mapfs_corrupt(struct mapfs_fs *fs, const char *file, int line,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* super.c */
/* Clear sb_free_zeroed in the primary superblock (that word and the CRC
 * only) and in memory. */
void mapfs_super_clear_free_zeroed(struct mapfs_fs *fs);
/* Record that the image now uses ro_compat feature `bit` (stores the
 * primary superblock and its copies the first time). */
void mapfs_super_use_feature(struct mapfs_fs *fs, uint32_t bit);
/* Encode a superblock page for group `cg` from fs's geometry and fields. */
void mapfs_super_encode(const struct mapfs_fs *fs, uint64_t cg,
			struct mapfs_dsuper *d);

/* cg.c: group headers, bitmaps */
void mapfs_seal_register(struct mapfs_fs *fs, uint8_t kind,
			 mapfs_sealer_fn fn, bool last);
/* cg.c's sealers: a bitmap page's CRC; a group header (last). */
void mapfs_cg_seal_bm(struct mapfs_fs *fs, const struct mapfs_pend *e);
void mapfs_cg_seal_hdr(struct mapfs_fs *fs, const struct mapfs_pend *e);
/* Put off the seals of mapfs_cg_bitmap_changed and of indirect pages
 * until the matching mapfs_seal_flush (nests). Only for code that reads
 * no checksum it may have changed in between (one file write). */
void mapfs_seal_defer(struct mapfs_fs *fs);
void mapfs_seal_flush(struct mapfs_fs *fs);
/* Queue one deferred seal (seal.c); false: not deferring (or no sealer
 * registered for kind), seal now. */
bool mapfs_seal_pend(struct mapfs_fs *fs, uint8_t kind, bool ibm,
		     uint32_t page, uint64_t a, uint64_t b);
/* Seal page `page` of indirect block bno, owned by owner (bmap.c). */
void mapfs_ind_seal_now(struct mapfs_fs *fs, mapfs_ino_t owner,
			uint64_t bno, uint32_t page);
/* Seal now whatever is pending for indirect block bno's page. */
void mapfs_seal_settle_ind(struct mapfs_fs *fs, uint64_t bno, uint32_t page);
/* First clear bit in [from, nbits), wrapping to [0, from); -1 if none. */
int64_t mapfs_bit_find_clear(const uint8_t *bm, uint64_t nbits,
			     uint64_t from);
/* The same, skipping bits set in also (when not NULL). */
int64_t mapfs_bit_find_clear2(const uint8_t *bm, const uint8_t *also,
			      uint64_t nbits, uint64_t from);

/* alloc.c: inode and block allocation (FFS policy) */
/* The group a new directory whose parent is `parent` should go to (the
 * policy at the top of alloc.c); mapfs_alloc_inode starts its search
 * there. Read-only. */
uint64_t mapfs_alloc_dir_group(struct mapfs_fs *fs, mapfs_ino_t parent);
/* How many blocks from bno on (at most max, within bno's group) are free
 * and not waiting for a commit (the journal's quarantine): blocks nobody
 * owns, whose bytes nobody needs. Reserves host space behind them as
 * allocation would; stops where the host has none. */
uint64_t mapfs_free_run(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t max);
/* Free blocks available to non-root (statfs f_bavail). */
uint64_t mapfs_avail_blocks(const struct mapfs_fs *fs);

/* uct mapfs_timespec */
/* Write buf at off, allocating blocks; grows size. Returns bytes written
 * (short on ENOSPC after some progress) or a negative errno (-EFBIG past
 * maxfilesize, -ENOSPC). Updates *ip (size, blocks) and stores it; the
 * caller sets times. */
ssize_t mapfs_file_write(struct mapfs_fs *fs, struct mapfs_inode *ip,
			 uint64_t off, const void *buf, size_t len,
			 bool use_reserve);
/* Set the size to new_size: frees blocks wholly past it (indirect blocks
 * emptied too) and zeroes the tail of the last partial block; growing
 * leaves a hole. Stores *ip. */
int mapfs_file_truncate(struct mapfs_fs *fs, struct mapfs_inode *ip,
			uint64_t new_size);
/* Free the blocks mapping logical blocks [first, end) (whatever the
 * size), and every indirect block left empty. Pointers are cleared (and
 * ip stored) before blocks are freed. */
int mapfs_file_free_range(struct mapfs_fs *fs, struct mapfs_inode *ip,
			  uint64_t first, uint64_t end);
/* Map every hole of logical blocks [first, end) with a zeroed block.
 * Stores ip (also after an error, keeping what was allocated). */
int mapfs_file_alloc_range(struct mapfs_fs *fs, struct mapfs_inode *ip,
			   uint64_t first, uint64_t end, bool use_reserve);
/* Zero bytes [off, off+len) of the blocks that are mapped (holes stay
 * holes), whatever the size. */
int mapfs_file_zero(struct mapfs_fs *fs, struct mapfs_inode *ip,
		    uint64_t off, uint64_t len);
/* First logical block in [lbn, end) that is mapped (mapped true) or a
 * hole (false), skipping unmapped indirect subtrees whole; end if none.
 * Read-only. */
int mapfs_file_next(struct mapfs_fs *fs, const struct mapfs_inode *ip,
		    uint64_t lbn, uint64_t end, bool mapped, uint64_t *resp);
/* Copy [soff, soff+len) of src to doff of dst, block to block (src and
 * dst may be the same inode, ranges not overlapping). Source holes are
 * kept as holes when a whole destination block is covered (the block is
 * freed), zeroed otherwise. Grows dst's size; stores dst. Returns bytes
 * copied (short after an error with progress). */
ssize_t mapfs_file_copy(struct mapfs_fs *fs, const struct mapfs_inode *src,
			uint64_t soff, struct mapfs_inode *dst, uint64_t doff,
			uint64_t len, bool use_reserve);

/* dir.c: directory records */
/* Find name: 0 (filling *inop and *typep), -ENOENT or -EUCLEAN.
 * Read-only. */
int mapfs_dir_lookup(struct mapfs_fs *fs, const struct mapfs_inode *dir,
		     const char *name, uint32_t namelen, mapfs_ino_t *inop,
		     uint32_t *typep);
void mapfs_dh_disable(struct mapfs_fs *fs);
/* Forget the index of directory ino (it was freed). */
void mapfs_dh_drop(struct mapfs_fs *fs, mapfs_ino_t ino);

/* xattr.c */
/* Split a full name into its index (MAPFS_XATTR_INDEX_*) and the part
 * stored on disk. -EOPNOTSUPP for an unknown namespace, -ENAMETOOLONG
 * past 255 bytes, -EINVAL for an empty name after a prefix. */
int mapfs_xattr_parse_name(const char *name, uint32_t *indexp,
			   const char **suffixp, uint32_t *lenp);
/* Set (value non-NULL) or remove (value NULL) name. Writes a new block,
 * points ip at it and stores ip, then frees the old block. -EEXIST
 * (CREATE), -ENODATA (REPLACE, remove), -E2BIG (value can never fit a
 * block), -ENOSPC (the block is full, or no free block). */
int mapfs_xattr_set(struct mapfs_fs *fs, struct mapfs_inode *ip,
		    const char *name, const void *value, size_t len,
		    int flags, bool use_reserve);
/* Free ip's xattr block (the inode is going away); stores ip. */
int mapfs_xattr_free(struct mapfs_fs *fs, struct mapfs_inode *ip);
/* Largest value a block holds with one entry of a namelen-byte name. */
size_t mapfs_xattr_max_value(const struct mapfs_fs *fs, uint32_t namelen);
/* POSIX ACLs in their xattr form (le32 version 2, then entries of le16
 * tag, le16 perm, le32 id), as the kernel sends them. */
/* Mode bits (0777) the ACL implies; returns 0 if the ACL says no more
 * than a mode (three base entries), 1 if not, -EINVAL if malformed. */
int mapfs_acl_equiv_mode(const void *acl, size_t len, uint32_t *modep);
/* A new inode's access ACL from its parent's default ACL (acl, changed
 * in place) and the requested *modep (narrowed). Returns 1 if the ACL
 * must be stored, 0 if the mode says it all, -EINVAL. */
int mapfs_acl_create_masq(void *acl, size_t len, uint32_t *modep);
/* chmod: set the ACL's owner, group-class (mask, or group when there is
 * no mask) and other permissions from mode. -EINVAL if malformed. */
int mapfs_acl_chmod(void *acl, size_t len, uint32_t mode);

/*  */
/* Pointer slot of indirect block bno (0 if bno is not a data block). No
 * CRC check. Read-only. */
mapfs_bno_t mapfs_ind_get(const struct mapfs_fs *fs, mapfs_bno_t bno,
			  uint32_t slot);

/* The owners' sealers into fs's deferred-seal list (seal.c): cg.c's
 * bitmap pages and group headers (headers last), bmap.c's indirect
 * pages. mount.c calls both when it sets a filesystem up. */
void mapfs_cg_seal_register(struct mapfs_fs *fs);
void mapfs_bmap_seal_register(struct mapfs_fs *fs);

#endif
