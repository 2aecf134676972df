/* SPDX-License-Identifier: MIT */
/*
 * bmap.c - block maps (above inode.c in the core's layers, tests/layering.sh).
 *
 * Owns the indirect blocks (4 KiB pages of 511 pointers, each page sealed
 * by a struct mapfs_indtail) and the map from logical to physical blocks
 * that di_blk roots: lookup (mapfs_bmap), allocation (mapfs_bmap_alloc),
 * sealing of indirect pages, freeing of block trees, and the walk fsck
 * uses. file.c builds file I/O on the helpers declared in internal.h.
 *
 * Invariants kept:
 *  - a pointer is stored only to a block that is already initialized
 *    (zeroed data, or a sealed indirect block), so a crash never leaves a
 *    pointer to garbage;
 *  - a block is freed only after every pointer to it is gone (cleared in
 *    an indirect page whose CRC was recomputed, or in an inode that was
 *    stored); a crash can leak blocks, never share them;
 *  - every pointer read from an indirect block is checked to be a data
 *    block, and its page's magic and CRC are verified first.
 *
 * Callers serialize (see mapfs.h); functions marked read-only only load.
 */
#include "internal.h"

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define IND_TAIL_OFF	(MAPFS_PAGE_SIZE - sizeof(struct mapfs_indtail))
#define IND_CRC_BYTES	IND_TAIL_OFF	/* bytes 0..4087 of a page */

static_assert(IND_TAIL_OFF == MAPFS_PTRS_PER_PAGE * 8, "indirect tail");

static inline unsigned long long ull(uint64_t v)
{
	return (unsigned long long)v;
}

/* May we allocate through ip's map? Besides block-bearing inodes, a
 * symlink of size 0 (its slow target is about to be written). */
bool mapfs_map_writable(const struct mapfs_inode *ip)
{
	if (mapfs_inode_has_blocks(ip))
		return true;
	return (ip->mode & MAPFS_IFMT) == MAPFS_IFLNK && ip->size == 0;
}

/* ------------------------------------------------------------------ */
/* Indirect blocks                                                     */
/* ------------------------------------------------------------------ */

/* Pointer i of an indirect block: page i / 511, slot i % 511. */
static inline size_t ind_off(uint32_t i)
{
	return (size_t)(i / MAPFS_PTRS_PER_PAGE) * MAPFS_PAGE_SIZE +
	       (size_t)(i % MAPFS_PTRS_PER_PAGE) * 8;
}

static inline uint64_t ind_get(const uint8_t *blk, uint32_t i)
{
	uint64_t v;

	memcpy(&v, blk + ind_off(i), sizeof(v));
	return le64toh(v);
}

/* Store pointer i; the caller reseals the page afterwards. */
static inline void ind_put(struct mapfs_fs *fs, uint8_t *blk, uint32_t i,
			   uint64_t bno)
{
	uint64_t v = htole64(bno);

	memcpy(blk + ind_off(i), &v, sizeof(v));
	mapfs_jdirty(fs, blk + ind_off(i), sizeof(v));
}

/* CRC of page `page` of indirect block bno owned by inode owner:
 * crc32c(seed, le64 owner, le64 bno, le32 page) then bytes 0..4087 of
 * the page. 0 when bno is outside the image or page out of range. */
uint32_t mapfs_ind_crc(const struct mapfs_fs *fs, mapfs_ino_t owner,
		       mapfs_bno_t bno, uint32_t page)
{
	const uint8_t *blk = mapfs_block(fs, bno);

	/* Out-of-range requests have no page to checksum. */
	if (!blk || page >= fs->g.pages_per_block)
		return 0;
	return mapfs_crc_page(fs, owner, bno, page,
			      blk + (size_t)page * MAPFS_PAGE_SIZE,
			      IND_CRC_BYTES);
}

static struct mapfs_indtail *ind_tail(uint8_t *blk, uint32_t page)
{
	return (struct mapfs_indtail *)(blk + (size_t)page * MAPFS_PAGE_SIZE +
					IND_TAIL_OFF);
}

static void ind_seal_page(struct mapfs_fs *fs, mapfs_ino_t owner,
			  mapfs_bno_t bno, uint8_t *blk, uint32_t page)
{
	struct mapfs_indtail *t = ind_tail(blk, page);

	t->it_magic = htole32(MAPFS_INDTAIL_MAGIC);
	t->it_crc = htole32(mapfs_ind_crc(fs, owner, bno, page));
	mapfs_jdirty(fs, t, sizeof(*t));
	mapfs_page_good(fs, bno * fs->g.pages_per_block + page);
}

static void ind_seal(struct mapfs_fs *fs, mapfs_ino_t owner,
		     mapfs_bno_t bno, uint8_t *blk, uint32_t page)
{
	/* In a deferred stretch (one file write): once, at its end. */
	if (!mapfs_seal_pend(fs, MAPFS_PEND_IND, false, page, owner, bno))
		ind_seal_page(fs, owner, bno, blk, page);
}

void mapfs_ind_seal_now(struct mapfs_fs *fs, mapfs_ino_t owner,
			uint64_t bno, uint32_t page)
{
	uint8_t *blk = mapfs_block(fs, bno);

	if (blk)
		ind_seal_page(fs, owner, bno, blk, page);
}

static bool ind_page_ok(const struct mapfs_fs *fs, mapfs_ino_t owner,
			mapfs_bno_t bno, const uint8_t *blk, uint32_t page)
{
	const struct mapfs_indtail *t = (const struct mapfs_indtail *)(
		blk + (size_t)page * MAPFS_PAGE_SIZE + IND_TAIL_OFF);

	return le32toh(t->it_magic) == MAPFS_INDTAIL_MAGIC &&
	       le32toh(t->it_crc) == mapfs_ind_crc(fs, owner, bno, page);
}

/* Verify page `page` of indirect block bno (already known to be a data
 * block) and return a pointer to the block. */
static int ind_load_page(struct mapfs_fs *fs, mapfs_ino_t owner,
			 mapfs_bno_t bno, uint32_t page,
			 struct mapfs_ind_cache *c, int pos, uint8_t **blkp)
{
	uint8_t *blk = mapfs_block(fs, bno);

	if (!blk)
		return MAPFS_CORRUPT(fs,
				     "inode %llu: indirect block %llu outside the image",
				     ull(owner), ull(bno));
	if (!c || c->bno[pos] != bno || c->page[pos] != page) {
		uint64_t pg = bno * fs->g.pages_per_block + page;

		/* Checked or sealed by us since the mount (image.c): as it
		 * was, whether or not its seal is pending. */
		if (!mapfs_page_known(fs, pg)) {
			/* A page this write changed, not sealed yet. */
			if (fs->in->npend)
				mapfs_seal_settle_ind(fs, bno, page);
			if (!ind_page_ok(fs, owner, bno, blk, page))
				return MAPFS_CORRUPT(fs,
						     "inode %llu: indirect block %llu page %u: bad magic or checksum",
						     ull(owner), ull(bno), page);
			mapfs_page_good(fs, pg);
		}
		if (c) {
			c->bno[pos] = bno;
			c->page[pos] = page;
		}
	}
	*blkp = blk;
	return 0;
}

/* Initialize a freshly allocated indirect block: holes except pointer i,
 * which names child; every page sealed. */
static void ind_init(struct mapfs_fs *fs, mapfs_ino_t owner, mapfs_bno_t bno,
		     uint8_t *blk, uint32_t i, mapfs_bno_t child)
{
	uint32_t p;

	memset(blk, 0, fs->g.bsize);
	mapfs_jdirty(fs, blk, fs->g.bsize);
	ind_put(fs, blk, i, child);
	for (p = 0; p < fs->g.pages_per_block; p++)
		ind_seal(fs, owner, bno, blk, p);
}

/* ------------------------------------------------------------------ */
/* Block map                                                           */
/* ------------------------------------------------------------------ */

/* First logical block covered by the tree rooted at di_blk[11 + level]. */
uint64_t mapfs_level_start(const struct mapfs_geom *g, int level)
{
	uint64_t n = g->nindir, s = MAPFS_NDADDR, span = 1;
	int l;

	for (l = 1; l < level; l++) {
		span *= n;
		s += span;
	}
	return s;
}

/* Logical blocks covered by one pointer in an indirect block of `level`
 * (1: data blocks, 2: n, 3: n * n). */
uint64_t mapfs_child_span(const struct mapfs_geom *g, int level)
{
	uint64_t span = 1;
	int l;

	for (l = 1; l < level; l++)
		span *= g->nindir;
	return span;
}

int mapfs_bpath_get(const struct mapfs_geom *g, uint64_t lbn,
		    struct mapfs_bpath *bp)
{
	uint64_t n = g->nindir, span = 1;
	int level, k;

	if (lbn < MAPFS_NDADDR) {
		bp->depth = 0;
		bp->idx[0] = (uint32_t)lbn;
		return 0;
	}
	lbn -= MAPFS_NDADDR;
	for (level = 1; level <= (int)MAPFS_NIADDR; level++) {
		span *= n;	/* blocks under this root: n^level */
		if (lbn < span) {
			bp->depth = level;
			bp->idx[0] = MAPFS_NDADDR + level - 1;
			for (k = level; k >= 1; k--) {
				bp->idx[k] = (uint32_t)(lbn % n);
				lbn /= n;
			}
			return 0;
		}
		lbn -= span;
	}
	return -EFBIG;
}

/*
 * Follow bp through ip's map. ptr[k] gets the pointer found at path
 * position k; *kp the first position holding a hole, or depth + 1 when
 * the block is mapped (ptr[depth] is then the data block).
 */
int mapfs_path_lookup(struct mapfs_fs *fs, const struct mapfs_inode *ip,
		      const struct mapfs_bpath *bp, struct mapfs_ind_cache *c,
		      mapfs_bno_t ptr[MAPFS_NIADDR + 1], int *kp)
{
	const struct mapfs_geom *g = &fs->g;
	mapfs_bno_t p = ip->blk[bp->idx[0]];
	uint8_t *blk = NULL;
	uint32_t i;
	int k, err;

	for (k = 0; k <= bp->depth; k++) {
		if (p == 0)
			break;
		if (!mapfs_bno_is_data(g, p) && k == 0)
			return MAPFS_CORRUPT(fs,
					     "inode %llu: block pointer %u (%llu) outside the data area",
					     ull(ip->ino), bp->idx[0], ull(p));
		if (!mapfs_bno_is_data(g, p))
			return MAPFS_CORRUPT(fs,
					     "inode %llu: indirect block %llu pointer %u (%llu) outside the data area",
					     ull(ip->ino), ull(ptr[k - 1]),
					     bp->idx[k], ull(p));
		ptr[k] = p;
		if (k == bp->depth)
			continue;
		i = bp->idx[k + 1];
		err = ind_load_page(fs, ip->ino, p, i / MAPFS_PTRS_PER_PAGE, c,
				    k + 1, &blk);
		if (err < 0)
			return err;
		p = ind_get(blk, i);
	}
	*kp = k;
	return 0;
}

int mapfs_bmap_cached(struct mapfs_fs *fs, const struct mapfs_inode *ip,
		      uint64_t lbn, struct mapfs_ind_cache *c,
		      mapfs_bno_t *bnop)
{
	mapfs_bno_t ptr[MAPFS_NIADDR + 1];
	struct mapfs_bpath bp;
	int k, err;

	if (!mapfs_map_writable(ip))
		return -EINVAL;
	err = mapfs_bpath_get(&fs->g, lbn, &bp);
	if (err < 0)
		return err;
	err = mapfs_path_lookup(fs, ip, &bp, c, ptr, &k);
	if (err < 0)
		return err;
	*bnop = k > bp.depth ? ptr[bp.depth] : 0;
	return 0;
}

/*
 * Map lbn to a physical block without allocating; *bnop = 0 for a hole.
 * -EINVAL if ip has no block map, -EFBIG past the map's reach, -EUCLEAN
 * on a bad pointer or indirect page. Read-only.
 */
int mapfs_bmap(struct mapfs_fs *fs, const struct mapfs_inode *ip,
	       uint64_t lbn, mapfs_bno_t *bnop)
{
	return mapfs_bmap_cached(fs, ip, lbn, NULL, bnop);
}

/* Logical blocks a file may use: ceil(maxfilesize / bsize). */
uint64_t mapfs_lbn_limit(const struct mapfs_geom *g)
{
	uint64_t lim = g->maxfilesize >> g->bshift;

	if (g->maxfilesize & (g->bsize - 1))
		lim++;
	return lim;
}

/*
 * The work of mapfs_bmap_alloc. pref is where the first new block should
 * go (0: derive it from lbn - 1 or the inode's group).
 *
 * Every block needed (missing indirect blocks and the data block) is
 * allocated first, so ENOSPC changes nothing. They are then initialized
 * bottom-up and the topmost new one is linked last: one pointer store
 * (plus its page CRC) makes the whole new branch visible.
 */
int mapfs_bmap_alloc_pref(struct mapfs_fs *fs, struct mapfs_inode *ip,
			  uint64_t lbn, bool use_reserve, bool will_overwrite,
			  mapfs_bno_t pref, struct mapfs_ind_cache *c,
			  mapfs_bno_t *bnop)
{
	const struct mapfs_geom *g = &fs->g;
	mapfs_bno_t ptr[MAPFS_NIADDR + 1], nb[MAPFS_NIADDR + 1], prev;
	struct mapfs_bpath bp;
	uint8_t *blk = NULL;
	int k, j, nnew, err;

	if (!mapfs_map_writable(ip))
		return -EINVAL;
	if (lbn >= mapfs_lbn_limit(g))
		return -EFBIG;
	err = mapfs_bpath_get(g, lbn, &bp);
	if (err < 0)
		return err;
	err = mapfs_path_lookup(fs, ip, &bp, c, ptr, &k);
	if (err < 0)
		return err;
	if (k > bp.depth) {
		*bnop = ptr[bp.depth];
		return 0;
	}

	if (pref == 0 && lbn > 0) {
		err = mapfs_bmap_cached(fs, ip, lbn - 1, c, &prev);
		if (err < 0)
			return err;
		if (prev)
			pref = prev + 1;
	}
	if (pref == 0 || pref >= g->nblocks)
		pref = mapfs_group_start(g, mapfs_ino_group(g, ip->ino)) +
		       g->data_off;

	nnew = bp.depth - k + 1;
	for (j = 0; j < nnew; j++) {
		err = mapfs_alloc_block(fs, pref, use_reserve, &nb[j]);
		if (err < 0) {
			while (j-- > 0)
				(void)mapfs_free_block(fs, nb[j]);
			return err;
		}
		assert(mapfs_bno_is_data(g, nb[j]));
		assert(mapfs_block(fs, nb[j]) != NULL);
		/* indirect blocks land just before the data they map */
		pref = nb[j] + 1 < g->nblocks ? nb[j] + 1 : 0;
	}

	/* nb[nnew - 1] is the data block, nb[j] sits at path position k+j */
	if (!will_overwrite)
		memset(mapfs_data_block(fs, nb[nnew - 1]), 0, g->bsize);
	for (j = nnew - 2; j >= 0; j--)
		ind_init(fs, ip->ino, nb[j], mapfs_block(fs, nb[j]),
			 bp.idx[k + j + 1], nb[j + 1]);

	/* Link the new branch: the only store that makes it reachable. */
	if (k == 0) {
		ip->blk[bp.idx[0]] = nb[0];
	} else {
		uint32_t i = bp.idx[k];

		/* path_lookup checked this block and verified this page */
		blk = mapfs_block(fs, ptr[k - 1]);
		ind_put(fs, blk, i, nb[0]);
		ind_seal(fs, ip->ino, ptr[k - 1], blk, i / MAPFS_PTRS_PER_PAGE);
	}
	ip->blocks += (uint64_t)nnew;
	*bnop = nb[nnew - 1];
	return 0;
}

/*
 * Map lbn, allocating the data block and any indirect blocks on the way.
 * The data block goes right after lbn - 1's block when that is mapped,
 * else at the start of the inode's group's data. New data blocks are
 * zeroed unless will_overwrite (the caller fills the whole block). On
 * error nothing changed. Updates ip->blk and ip->blocks; the caller
 * stores the inode.
 */
int mapfs_bmap_alloc(struct mapfs_fs *fs, struct mapfs_inode *ip,
		     uint64_t lbn, bool use_reserve, bool will_overwrite,
		     mapfs_bno_t *bnop)
{
	struct mapfs_ind_cache c;

	memset(&c, 0, sizeof(c));
	return mapfs_bmap_alloc_pref(fs, ip, lbn, use_reserve, will_overwrite,
				     0, &c, bnop);
}

/* Free blocks we removed from ip: keeps ip->blocks from wrapping if the
 * count on disk was low. */
int mapfs_drop_block(struct mapfs_fs *fs, struct mapfs_inode *ip,
		     mapfs_bno_t bno)
{
	if (ip->blocks)
		ip->blocks--;
	return mapfs_free_block(fs, bno);
}

/*
 * Free the tree rooted at indirect block bno of `level`, which nothing
 * points to any more (so its own pointers need not be cleared first).
 * Depth is at most 3.
 */
int mapfs_free_subtree(struct mapfs_fs *fs, struct mapfs_inode *ip,
		       mapfs_bno_t bno, int level)
{
	const struct mapfs_geom *g = &fs->g;
	uint8_t *blk = NULL;
	uint32_t i, page;
	int err;

	for (page = 0; page < g->pages_per_block; page++) {
		err = ind_load_page(fs, ip->ino, bno, page, NULL, 0, &blk);
		if (err < 0)
			return err;
		for (i = page * MAPFS_PTRS_PER_PAGE;
		     i < (page + 1) * MAPFS_PTRS_PER_PAGE; i++) {
			mapfs_bno_t p = ind_get(blk, i);

			if (!p)
				continue;
			if (!mapfs_bno_is_data(g, p))
				return MAPFS_CORRUPT(fs,
						     "inode %llu: indirect block %llu pointer %u (%llu) outside the data area",
						     ull(ip->ino), ull(bno), i,
						     ull(p));
			err = level == 1 ?
				mapfs_drop_block(fs, ip, p) :
				mapfs_free_subtree(fs, ip, p, level - 1);
			if (err < 0)
				return err;
		}
	}
	return mapfs_drop_block(fs, ip, bno);
}

static bool ind_is_empty(const struct mapfs_geom *g, const uint8_t *blk)
{
	uint32_t i;

	for (i = 0; i < g->nindir; i++)
		if (ind_get(blk, i))
			return false;
	return true;
}


/* Every nonzero pointer in slots [lo, hi) of the (verified) indirect
 * block page at blk must be a data block; -EUCLEAN otherwise. Callers
 * check a whole range before changing anything in it. */
static int ind_check_range(struct mapfs_fs *fs, mapfs_ino_t owner,
			   mapfs_bno_t bno, const uint8_t *blk, uint32_t lo,
			   uint32_t hi)
{
	for (uint32_t i = lo; i < hi; i++) {
		mapfs_bno_t p = ind_get(blk, i);

		if (p && !mapfs_bno_is_data(&fs->g, p))
			return MAPFS_CORRUPT(fs,
					     "inode %llu: indirect block %llu pointer %u (%llu) outside the data area",
					     ull(owner), ull(bno), i, ull(p));
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Block map walk (fsck)                                               */
/* ------------------------------------------------------------------ */

struct walk {
	struct mapfs_fs *fs;
	const struct mapfs_inode *ip;
	int (*cb)(void *arg, const struct mapfs_blkvisit *v);
	void *arg;
	uint64_t nind;		/* indirect blocks descended into */
};

static bool blk_valid(const struct mapfs_fs *fs, mapfs_bno_t bno)
{
	return mapfs_bno_is_data(&fs->g, bno) && mapfs_block(fs, bno) != NULL;
}

static int walk_one(struct walk *w, mapfs_bno_t bno, int level, uint64_t lbn,
		    mapfs_bno_t parent, uint32_t slot)
{
	const struct mapfs_geom *g = &w->fs->g;
	struct mapfs_blkvisit v;
	const uint8_t *blk = NULL;
	uint64_t span;
	uint32_t i, page;
	int ret;

	v.bno = bno;
	v.level = level;
	v.lbn = lbn;
	v.valid = blk_valid(w->fs, bno);
	v.crc_ok = true;
	v.parent = parent;
	v.slot = slot;
	if (level > 0 && v.valid) {
		blk = mapfs_block(w->fs, bno);
		for (page = 0; page < g->pages_per_block; page++)
			if (!ind_page_ok(w->fs, w->ip->ino, bno, blk, page))
				v.crc_ok = false;
	}
	ret = w->cb(w->arg, &v);
	if (ret)
		return ret;
	if (level == 0 || !v.valid)
		return 0;

	/* A garbage map can name the same indirect block over and over; a
	 * real one never holds more indirect blocks than the image has. */
	if (++w->nind > g->nblocks)
		return MAPFS_CORRUPT(w->fs,
				     "inode %llu: block map holds more indirect blocks than the filesystem",
				     ull(w->ip->ino));
	span = mapfs_child_span(g, level);
	for (i = 0; i < g->nindir; i++) {
		mapfs_bno_t p = ind_get(blk, i);

		if (!p)
			continue;
		ret = walk_one(w, p, level - 1, lbn + i * span, bno, i);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Visit every nonzero pointer of ip's map in logical order, each
 * indirect block before what it maps. Bad pointers are reported with
 * valid = false and not followed; indirect blocks with a bad page are
 * reported with crc_ok = false and still followed. Returns the first
 * nonzero callback value, or -EUCLEAN if the map is impossibly large.
 * Read-only.
 */
int mapfs_blockmap_walk(struct mapfs_fs *fs, const struct mapfs_inode *ip,
			int (*cb)(void *arg, const struct mapfs_blkvisit *v),
			void *arg)
{
	struct walk w = { .fs = fs, .ip = ip, .cb = cb, .arg = arg };
	uint32_t i;
	int level, ret;

	if (!mapfs_inode_has_blocks(ip))
		return 0;
	for (i = 0; i < MAPFS_NADDR; i++) {
		if (!ip->blk[i])
			continue;
		level = i < MAPFS_NDADDR ? 0 : (int)(i - MAPFS_NDADDR + 1);
		ret = walk_one(&w, ip->blk[i], level,
			       level ? mapfs_level_start(&fs->g, level) : i,
			       0, i);
		if (ret)
			return ret;
	}
	return 0;
}

/* Pointer `slot` (< nindir) of indirect block bno; 0 if bno is not a data
 * block of the image. No CRC check. Read-only. */
mapfs_bno_t mapfs_ind_get(const struct mapfs_fs *fs, mapfs_bno_t bno,
			  uint32_t slot)
{
	const uint8_t *blk = mapfs_bno_is_data(&fs->g, bno) ?
			     mapfs_block(fs, bno) : NULL;

	if (!blk || slot >= fs->g.nindir)
		return 0;
	return ind_get(blk, slot);
}

/* Set pointer `slot` of indirect block bno owned by owner to val and
 * reseal that page (magic and CRC). -EINVAL if bno is not a data block
 * or slot is out of range. */
int mapfs_ind_set(struct mapfs_fs *fs, mapfs_ino_t owner, mapfs_bno_t bno,
		  uint32_t slot, mapfs_bno_t val)
{
	uint8_t *blk = mapfs_bno_is_data(&fs->g, bno) ? mapfs_block(fs, bno)
						      : NULL;

	if (!blk || slot >= fs->g.nindir)
		return -EINVAL;
	assert(!(fs->flags & MAPFS_OPEN_RDONLY));
	ind_put(fs, blk, slot, val);
	ind_seal(fs, owner, bno, blk, slot / MAPFS_PTRS_PER_PAGE);
	return 0;
}

/* Write the magic and a fresh CRC into every page of indirect block bno
 * for owner (after a copy, or when only the checksums were stale). */
int mapfs_ind_reseal(struct mapfs_fs *fs, mapfs_ino_t owner, mapfs_bno_t bno)
{
	uint8_t *blk = mapfs_bno_is_data(&fs->g, bno) ? mapfs_block(fs, bno)
						      : NULL;

	if (!blk)
		return -EINVAL;
	assert(!(fs->flags & MAPFS_OPEN_RDONLY));
	for (uint32_t p = 0; p < fs->g.pages_per_block; p++)
		ind_seal(fs, owner, bno, blk, p);
	return 0;
}

/* True if every nonzero pointer of indirect block bno is a data block
 * (whatever its pages' CRCs say). Read-only. */
bool mapfs_ind_ptrs_valid(const struct mapfs_fs *fs, mapfs_bno_t bno)
{
	const uint8_t *blk = mapfs_bno_is_data(&fs->g, bno) ?
			     mapfs_block(fs, bno) : NULL;

	if (!blk)
		return false;
	for (uint32_t i = 0; i < fs->g.nindir; i++) {
		mapfs_bno_t p = ind_get(blk, i);

		if (p && !mapfs_bno_is_data(&fs->g, p))
			return false;
	}
	return true;
}

/*
 * Remove from indirect block bno (of `level`, covering logical blocks
 * from `first`) every block mapping [lo, hi), as truncation does for
 * [keep, end of file): children wholly inside the range are dropped with
 * their subtrees, children straddling an edge are trimmed inside.
 * Pointers are cleared and their page resealed before the blocks are
 * freed. *emptyp tells whether bno holds no pointer afterwards.
 */
int mapfs_trim_range(struct mapfs_fs *fs, struct mapfs_inode *ip,
		     mapfs_bno_t bno, int level, uint64_t first, uint64_t lo,
		     uint64_t hi, bool *emptyp)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t span = mapfs_child_span(g, level);
	mapfs_bno_t drop[MAPFS_PTRS_PER_PAGE];
	uint32_t i, i0, i1, page, ndrop, d;
	uint8_t *blk = NULL;
	bool cempty;
	int err;

	*emptyp = false;
	if (hi <= first || (lo > first && (lo - first) / span >= g->nindir))
		return 0;
	i0 = lo <= first ? 0 : (uint32_t)((lo - first) / span);
	i1 = (hi - first) / span + ((hi - first) % span != 0) > g->nindir ?
	     g->nindir : (uint32_t)((hi - first) / span +
				    ((hi - first) % span != 0));

	for (page = i0 / MAPFS_PTRS_PER_PAGE;
	     page < g->pages_per_block && page * MAPFS_PTRS_PER_PAGE < i1;
	     page++) {
		uint32_t plo = page * MAPFS_PTRS_PER_PAGE;
		uint32_t phi = plo + MAPFS_PTRS_PER_PAGE;

		if (plo < i0)
			plo = i0;
		if (phi > i1)
			phi = i1;
		err = ind_load_page(fs, ip->ino, bno, page, NULL, 0, &blk);
		if (err < 0)
			return err;
		err = ind_check_range(fs, ip->ino, bno, blk, plo, phi);
		if (err < 0)
			return err;
		ndrop = 0;
		for (i = plo; i < phi; i++) {
			mapfs_bno_t p = ind_get(blk, i);
			uint64_t cfirst = first + i * span;

			if (!p)
				continue;
			if (level > 1 && (cfirst < lo || cfirst + span > hi)) {
				err = mapfs_trim_range(fs, ip, p, level - 1,
						       cfirst, lo, hi,
						       &cempty);
				if (err < 0)
					return err;
				if (!cempty)
					continue;
			}
			drop[ndrop++] = p;
			ind_put(fs, blk, i, 0);
		}
		if (!ndrop)
			continue;
		ind_seal(fs, ip->ino, bno, blk, page);
		for (d = 0; d < ndrop; d++) {
			err = level == 1 ? mapfs_drop_block(fs, ip, drop[d]) :
					   mapfs_free_subtree(fs, ip, drop[d],
							      level - 1);
			if (err < 0)
				return err;
		}
	}
	if (!blk && (err = ind_load_page(fs, ip->ino, bno, 0, NULL, 0,
					 &blk)) < 0)
		return err;
	*emptyp = ind_is_empty(g, blk);
	return 0;
}

/* seal.c's entry for an indirect page. */
static void seal_ind(struct mapfs_fs *fs, const struct mapfs_pend *e)
{
	mapfs_ind_seal_now(fs, (mapfs_ino_t)e->a, e->b, e->page);
}

void mapfs_bmap_seal_register(struct mapfs_fs *fs)
{
	mapfs_seal_register(fs, MAPFS_PEND_IND, seal_ind, false);
}
