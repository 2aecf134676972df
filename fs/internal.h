/* SPDX-License-Identifier: MIT */
/* internal.h - helpers shared inside the core only (not part of the API). */
#ifndef MAPFS_INTERNAL_H
#define MAPFS_INTERNAL_H

#include "mapfs.h"

#include <endian.h>
#include <pthread.h>
#include <stdio.h>

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
/* Size fs->itab_seen for fs->g (NULL, read-ahead off, if out of memory). */
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

#endif
