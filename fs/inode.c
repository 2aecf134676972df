/* SPDX-License-Identifier: MIT */
/*
 * inode.c - inodes, block maps and file data (layer 5 of the core).
 *
 * Owns struct mapfs_dinode (decode, validate, encode with its CRC) and the
 * indirect blocks (4 KiB pages of 511 pointers, each page sealed by a
 * struct mapfs_indtail). Everything above this layer sees files as host
 * order struct mapfs_inode plus byte ranges.
 *
 * Invariants kept:
 *  - a pointer is stored only to a block that is already initialized
 *    (zeroed data, or a sealed indirect block), so a crash never leaves a
 *    pointer to garbage;
 *  - a block is freed only after every pointer to it is gone (cleared in
 *    an indirect page whose CRC was recomputed, or in an inode that was
 *    stored); a crash can leak blocks, never share them;
 *  - bytes of allocated blocks past EOF are zero, so growing a file never
 *    exposes stale data;
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
#define DINODE_CRC_BYTES offsetof(struct mapfs_dinode, di_crc)

/* Holes read as this. Callers of mapfs_file_read_iov must not write to
 * the iovecs they get. */
static const uint8_t zero_block[MAPFS_MAX_BSIZE];

static_assert(IND_TAIL_OFF == MAPFS_PTRS_PER_PAGE * 8, "indirect tail");
static_assert(DINODE_CRC_BYTES == 252, "inode crc bytes");

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */


static inline unsigned long long ull(uint64_t v)
{
	return (unsigned long long)v;
}

static bool mode_is_known(uint32_t fmt)
{
	switch (fmt) {
	case MAPFS_IFREG:
	case MAPFS_IFDIR:
	case MAPFS_IFLNK:
	case MAPFS_IFCHR:
	case MAPFS_IFBLK:
	case MAPFS_IFIFO:
	case MAPFS_IFSOCK:
		return true;
	default:
		return false;
	}
}

/* A fast symlink keeps its target in the pointer area. Size 0 is not a
 * valid symlink on disk, only a fresh inode whose target is being
 * written, and its pointer area is all zero either way. */
static bool is_fast_symlink(uint32_t mode, uint64_t size)
{
	return (mode & MAPFS_IFMT) == MAPFS_IFLNK && size > 0 &&
	       size <= MAPFS_FAST_SYMLINK_MAX;
}

static bool bears_blocks(uint32_t mode, uint64_t size)
{
	switch (mode & MAPFS_IFMT) {
	case MAPFS_IFREG:
	case MAPFS_IFDIR:
		return true;
	case MAPFS_IFLNK:
		return size > MAPFS_FAST_SYMLINK_MAX;
	default:
		return false;
	}
}

/* May we allocate through ip's map? Besides block-bearing inodes, a
 * symlink of size 0 (its slow target is about to be written). */
static bool map_writable(const struct mapfs_inode *ip)
{
	if (mapfs_inode_has_blocks(ip))
		return true;
	return (ip->mode & MAPFS_IFMT) == MAPFS_IFLNK && ip->size == 0;
}

/* ------------------------------------------------------------------ */
/* Inodes                                                              */
/* ------------------------------------------------------------------ */

/*
 * CRC of an on-disk inode: crc32c(seed, le64 ino, le32 gen) continued over
 * bytes 0..251. di_gen is already little-endian in the dinode.
 */
uint32_t mapfs_inode_crc(const struct mapfs_fs *fs, mapfs_ino_t ino,
			 const struct mapfs_dinode *d)
{
	uint64_t le_ino = htole64(ino);
	uint32_t crc;

	crc = mapfs_crc32c(fs->g.seed, &le_ino, sizeof(le_ino));
	crc = mapfs_crc32c(crc, &d->di_gen, sizeof(d->di_gen));
	return mapfs_crc32c(crc, d, DINODE_CRC_BYTES);
}

/*
 * Validate an in-use dinode (di_mode != 0). Returns 0, or -EUCLEAN with
 * the first problem found in why. Field checks come before the CRC so a
 * report names the field when one is wrong. Read-only.
 */
int mapfs_inode_check(const struct mapfs_fs *fs, mapfs_ino_t ino,
		      const struct mapfs_dinode *d, char *why, size_t whylen)
{
	const struct mapfs_geom *g = &fs->g;
	uint32_t mode = le16toh(d->di_mode);
	uint32_t fmt = mode & MAPFS_IFMT;
	uint32_t nlink = le32toh(d->di_nlink);
	uint32_t flags = le32toh(d->di_flags);
	uint64_t size = le64toh(d->di_size);
	uint64_t blocks = le64toh(d->di_blocks);
	uint64_t xattr = le64toh(d->di_xattr);
	uint64_t onext = le64toh(d->di_orphan_next);
	uint32_t ns[4] = { le32toh(d->di_atime_ns), le32toh(d->di_mtime_ns),
			   le32toh(d->di_ctime_ns), le32toh(d->di_btime_ns) };
	static const char *const ns_name[4] = { "atime", "mtime", "ctime",
						"btime" };
	uint32_t crc;
	unsigned i;

	if (mode == 0)
		return mapfs_why(why, whylen, "inode is free (mode 0)");
	if (!mode_is_known(fmt))
		return mapfs_why(why, whylen, "unknown file type %#o", fmt);
	/* nlink 0 is legal: an unlinked inode still referenced by the
	 * kernel or an open file (on the orphan list when open). fsck
	 * decides whether it is a leak. */
	(void)flags;
	if (nlink > MAPFS_LINK_MAX)
		return mapfs_why(why, whylen, "link count %u above %u", nlink,
			       MAPFS_LINK_MAX);
	for (i = 0; i < 4; i++)
		if (ns[i] >= 1000000000u)
			return mapfs_why(why, whylen,
				       "%s nanoseconds %u not below 1e9",
				       ns_name[i], ns[i]);
	if (d->di_pad0 || d->di_pad1 || d->di_spare[0] || d->di_spare[1])
		return mapfs_why(why, whylen, "nonzero padding");
	if (size > g->maxfilesize)
		return mapfs_why(why, whylen, "size %llu above maximum %llu",
			       ull(size), ull(g->maxfilesize));
	if (blocks > g->nblocks)
		return mapfs_why(why, whylen,
			       "block count %llu above filesystem size %llu",
			       ull(blocks), ull(g->nblocks));
	if (xattr && !mapfs_bno_is_data(g, xattr))
		return mapfs_why(why, whylen,
			       "xattr block %llu outside the data area",
			       ull(xattr));
	if (onext && !mapfs_ino_valid(g, onext))
		return mapfs_why(why, whylen, "orphan list link %llu invalid",
			       ull(onext));

	switch (fmt) {
	case MAPFS_IFDIR:
		if (size % MAPFS_DIRCHUNK)
			return mapfs_why(why, whylen,
				       "directory size %llu not a multiple of %u",
				       ull(size), MAPFS_DIRCHUNK);
		break;
	case MAPFS_IFLNK:
		if (size == 0 || size > MAPFS_SYMLINK_MAX)
			return mapfs_why(why, whylen,
				       "symlink size %llu not in 1..%u",
				       ull(size), MAPFS_SYMLINK_MAX);
		if (size <= MAPFS_FAST_SYMLINK_MAX) {
			/* (the one block an xattr block may be) */
			if (blocks > (xattr != 0))
				return mapfs_why(why, whylen,
					       "fast symlink holds %llu blocks",
					       ull(blocks));
			if (memchr(d->di_symlink, 0, size))
				return mapfs_why(why, whylen,
					       "fast symlink target has a NUL");
			for (i = size; i < MAPFS_FAST_SYMLINK_MAX; i++)
				if (d->di_symlink[i])
					return mapfs_why(why, whylen,
						       "fast symlink byte %u past the target not zero",
						       i);
		}
		break;
	case MAPFS_IFCHR:
	case MAPFS_IFBLK:
	case MAPFS_IFIFO:
	case MAPFS_IFSOCK:
		if (size || blocks > (xattr != 0))
			return mapfs_why(why, whylen,
				       "special file with size %llu, %llu blocks",
				       ull(size), ull(blocks));
		for (i = 0; i < MAPFS_NADDR; i++)
			if (d->di_blk[i])
				return mapfs_why(why, whylen,
					       "special file with block pointer %u set",
					       i);
		break;
	default:
		break;
	}

	if (bears_blocks(mode, size)) {
		for (i = 0; i < MAPFS_NADDR; i++) {
			uint64_t b = le64toh(d->di_blk[i]);

			if (b && !mapfs_bno_is_data(g, b))
				return mapfs_why(why, whylen,
					       "block pointer %u (%llu) outside the data area",
					       i, ull(b));
		}
	}

	crc = mapfs_inode_crc(fs, ino, d);
	if (le32toh(d->di_crc) != crc)
		return mapfs_why(why, whylen, "checksum %#x, expected %#x",
			       le32toh(d->di_crc), crc);
	return 0;
}

void mapfs_itab_ahead_init(struct mapfs_fs *fs)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t nbits;

	if (g->inode_size == 0 || g->ipg == 0)
		return;
	fs->itab_per = MAPFS_ITAB_AHEAD / g->inode_size;
	if (fs->itab_per == 0)
		fs->itab_per = 1;
	fs->itab_cpg = (g->ipg + fs->itab_per - 1) / fs->itab_per;
	if (g->ngroups > UINT64_MAX / 2 / fs->itab_cpg)
		return;
	nbits = g->ngroups * fs->itab_cpg;
	fs->itab_seen = calloc((nbits + 63) / 64, sizeof(uint64_t));
	fs->itab_nbits = fs->itab_seen ? nbits : 0;
}

/* Mark chunk bit as asked for; true if this call did (not another
 * thread, not an earlier load). */
static bool itab_claim(struct mapfs_fs *fs, uint64_t bit)
{
	uint64_t mask = 1ull << (bit % 64);

	if (__atomic_load_n(&fs->itab_seen[bit / 64], __ATOMIC_RELAXED) & mask)
		return false;
	return !(__atomic_fetch_or(&fs->itab_seen[bit / 64], mask,
				   __ATOMIC_RELAXED) & mask);
}

/* Ask for chunks [k0, k1) of group cg's inode table. A group's table is
 * contiguous (inode sizes divide the block size); the read-ahead clamps
 * what lies past the image's end. */
static void itab_read(struct mapfs_fs *fs, uint64_t cg, uint64_t k0,
		      uint64_t k1)
{
	const struct mapfs_geom *g = &fs->g;
	const struct mapfs_dinode *first;
	mapfs_ino_t start = cg * g->ipg + k0 * fs->itab_per;
	mapfs_ino_t end = cg * g->ipg + k1 * fs->itab_per;

	if (end > (cg + 1) * g->ipg)
		end = (cg + 1) * g->ipg;
	first = mapfs_dinode(fs, start);
	if (first && end > start)
		mapfs_fs_readahead(fs, fs->dbase + ((const uint8_t *)first -
						    fs->base),
				   (end - start) * g->inode_size);
}

/*
 * A group whose table is being read chunk by chunk (a large directory
 * listed with its attributes, or its files looked up in any order) will
 * most likely be read whole: ask for every chunk of its inodes in use not
 * asked for yet, in one go per run. Inodes are allocated lowest free
 * first, so those are about the first ipg - free_inodes slots.
 */
static void itab_group_ahead(struct mapfs_fs *fs, uint64_t cg)
{
	uint64_t base = cg * fs->itab_cpg, seen = 0, used, nk, k, run = 0;
	bool in_run = false;

	for (k = 0; k < fs->itab_cpg; k++)
		if (__atomic_load_n(&fs->itab_seen[(base + k) / 64],
				    __ATOMIC_RELAXED) & (1ull << ((base + k) % 64)))
			seen++;
	if (seen < MAPFS_ITAB_GROUP_AFTER)
		return;
	/* A bad count (fsck of a damaged image) only misguides this hint:
	 * it is clamped to the group's table. */
	used = fs->cg[cg].free_inodes < fs->g.ipg ?
	       fs->g.ipg - fs->cg[cg].free_inodes : 0;
	nk = (used + fs->itab_per - 1) / fs->itab_per;
	if (nk > fs->itab_cpg)
		nk = fs->itab_cpg;
	for (k = 0; k <= nk; k++) {
		bool mine = k < nk && itab_claim(fs, base + k);

		if (mine && !in_run) {
			run = k;
			in_run = true;
		} else if (!mine && in_run) {
			itab_read(fs, cg, run, k);
			in_run = false;
		}
	}
}

/*
 * The first load of an inode from its chunk of the inode table (since
 * attach) asks for the whole chunk: one read of MAPFS_ITAB_AHEAD bytes
 * instead of a synchronous 4 KiB fault for each of its pages as its
 * neighbours (the other files of a directory: FFS puts them in the same
 * group, mostly in order) are loaded in turn. ext4 does the same
 * (inode_readahead_blks). After MAPFS_ITAB_GROUP_AFTER chunks of one
 * group, the rest of that group's inodes in use follow at once
 * (itab_group_ahead). ino is valid and its slot inside the image.
 */
static void itab_ahead(struct mapfs_fs *fs, mapfs_ino_t ino)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t cg, k, bit;

	if (!fs->itab_seen || fs->fd < 0)
		return;
	cg = ino / g->ipg;	/* ipg, itab_per > 0: itab_seen is set */
	k = (ino % g->ipg) / fs->itab_per;
	bit = cg * fs->itab_cpg + k;
	if (bit >= fs->itab_nbits || cg >= g->ngroups)
		return;		/* a group added by growfs since attach */
	if (!itab_claim(fs, bit))
		return;		/* asked for already */
	itab_read(fs, cg, k, k + 1);
	itab_group_ahead(fs, cg);
}

/*
 * Decode inode ino into *ip. -ENOENT when ino is out of range, reserved
 * or free; -EUCLEAN (reported through MAPFS_CORRUPT) when it fails
 * mapfs_inode_check. Read-only apart from fs->error.
 */
int mapfs_inode_load(struct mapfs_fs *fs, mapfs_ino_t ino,
		     struct mapfs_inode *ip)
{
	const struct mapfs_dinode *d;
	char why[160];

	if (!mapfs_ino_valid(&fs->g, ino))
		return -ENOENT;
	d = mapfs_dinode(fs, ino);
	if (!d)
		return MAPFS_CORRUPT(fs, "inode %llu: outside the image",
				     ull(ino));
	itab_ahead(fs, ino);
	if (le16toh(d->di_mode) == 0)
		return -ENOENT;
	if (mapfs_inode_check(fs, ino, d, why, sizeof(why)) < 0)
		return MAPFS_CORRUPT(fs, "inode %llu: %s", ull(ino), why);
	return mapfs_inode_decode(fs, ino, ip);
}

/*
 * Encode *ip over its slot (the first 256 bytes; larger inode sizes keep
 * their zero tail) and seal it with a fresh CRC. The slot is written in
 * one go from a local copy so the page holds a whole old or whole new
 * inode as far as the CPU is concerned.
 */
void mapfs_inode_store(struct mapfs_fs *fs, const struct mapfs_inode *ip)
{
	struct mapfs_dinode *slot = mapfs_dinode(fs, ip->ino);
	struct mapfs_dinode d;
	unsigned i;

	assert(slot != NULL);
	assert(!(fs->flags & MAPFS_OPEN_RDONLY));
	memset(&d, 0, sizeof(d));
	d.di_mode = htole16((uint16_t)ip->mode);
	d.di_nlink = htole32(ip->nlink);
	d.di_uid = htole32(ip->uid);
	d.di_gid = htole32(ip->gid);
	d.di_size = htole64(ip->size);
	d.di_blocks = htole64(ip->blocks);
	d.di_atime = (int64_t)htole64((uint64_t)ip->atime.sec);
	d.di_mtime = (int64_t)htole64((uint64_t)ip->mtime.sec);
	d.di_ctime = (int64_t)htole64((uint64_t)ip->ctime.sec);
	d.di_btime = (int64_t)htole64((uint64_t)ip->btime.sec);
	d.di_atime_ns = htole32(ip->atime.nsec);
	d.di_mtime_ns = htole32(ip->mtime.nsec);
	d.di_ctime_ns = htole32(ip->ctime.nsec);
	d.di_btime_ns = htole32(ip->btime.nsec);
	d.di_flags = htole32(ip->flags);
	d.di_gen = htole32(ip->gen);
	d.di_rdev = htole64(ip->rdev);
	d.di_xattr = htole64(ip->xattr);
	d.di_orphan_next = htole64(ip->orphan_next);
	if (is_fast_symlink(ip->mode, ip->size)) {
		memcpy(d.di_symlink, ip->symlink, MAPFS_FAST_SYMLINK_MAX);
		/* bytes past the target are zero on disk */
		memset(d.di_symlink + ip->size, 0,
		       MAPFS_FAST_SYMLINK_MAX - ip->size);
	} else {
		for (i = 0; i < MAPFS_NADDR; i++)
			d.di_blk[i] = htole64(ip->blk[i]);
	}
	d.di_crc = ip->mode ? htole32(mapfs_inode_crc(fs, ip->ino, &d)) : 0;
	/* Unchanged (an overwrite inside the file, whose times the kernel
	 * keeps): no store, so no journal record and no dirty page. */
	if (memcmp(slot, &d, sizeof(d)) == 0)
		return;
	memcpy(slot, &d, sizeof(d));
	mapfs_jdirty(fs, slot, sizeof(d));
}

/* Make ino's slot a free inode: all zero (the whole inode_size) except
 * di_gen, which the allocator bumps on reuse. No CRC: free inodes have
 * none. */
void mapfs_inode_clear(struct mapfs_fs *fs, mapfs_ino_t ino)
{
	struct mapfs_dinode *d = mapfs_dinode(fs, ino);
	uint32_t gen;

	assert(d != NULL);
	gen = d->di_gen;
	memset(d, 0, fs->g.inode_size);
	d->di_gen = gen;
	mapfs_jdirty(fs, d, fs->g.inode_size);
}

/* Regular files, directories and symlinks longer than 120 bytes have a
 * block map; fast symlinks, devices, fifos and sockets do not. */
bool mapfs_inode_has_blocks(const struct mapfs_inode *ip)
{
	return bears_blocks(ip->mode, ip->size);
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

/* Pages already verified during one call, by path position. Within a call
 * the image changes only through this file, which reseals what it
 * touches, so a verified page stays verified. */
struct ind_cache {
	mapfs_bno_t bno[MAPFS_NIADDR + 1];
	uint32_t page[MAPFS_NIADDR + 1];
};

/* Verify page `page` of indirect block bno (already known to be a data
 * block) and return a pointer to the block. */
static int ind_load_page(struct mapfs_fs *fs, mapfs_ino_t owner,
			 mapfs_bno_t bno, uint32_t page, struct ind_cache *c,
			 int pos, uint8_t **blkp)
{
	uint8_t *blk = mapfs_block(fs, bno);

	if (!blk)
		return MAPFS_CORRUPT(fs,
				     "inode %llu: indirect block %llu outside the image",
				     ull(owner), ull(bno));
	if (!c || c->bno[pos] != bno || c->page[pos] != page) {
		/* A page this write changed and has not sealed yet. */
		if (fs->npend)
			mapfs_seal_settle_ind(fs, bno, page);
		if (!ind_page_ok(fs, owner, bno, blk, page))
			return MAPFS_CORRUPT(fs,
					     "inode %llu: indirect block %llu page %u: bad magic or checksum",
					     ull(owner), ull(bno), page);
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

/*
 * The route to a logical block: idx[0] is the slot in di_blk, idx[1..depth]
 * the pointer index in each indirect block on the way. With n = nindir:
 * lbn 5 -> depth 0, {5}; lbn 12 -> depth 1, {12, 0};
 * lbn 12 + n + 3n + 7 -> depth 2, {13, 3, 7}.
 */
struct bpath {
	int depth;
	uint32_t idx[MAPFS_NIADDR + 1];
};

/* First logical block covered by the tree rooted at di_blk[11 + level]. */
static uint64_t level_start(const struct mapfs_geom *g, int level)
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
static uint64_t child_span(const struct mapfs_geom *g, int level)
{
	uint64_t span = 1;
	int l;

	for (l = 1; l < level; l++)
		span *= g->nindir;
	return span;
}

static int bpath_get(const struct mapfs_geom *g, uint64_t lbn,
		     struct bpath *bp)
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
static int path_lookup(struct mapfs_fs *fs, const struct mapfs_inode *ip,
		       const struct bpath *bp, struct ind_cache *c,
		       mapfs_bno_t ptr[MAPFS_NIADDR + 1], int *kp)
{
	const struct mapfs_geom *g = &fs->g;
	mapfs_bno_t p = ip->blk[bp->idx[0]];
	uint8_t *blk;
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

static int bmap_cached(struct mapfs_fs *fs, const struct mapfs_inode *ip,
		       uint64_t lbn, struct ind_cache *c, mapfs_bno_t *bnop)
{
	mapfs_bno_t ptr[MAPFS_NIADDR + 1];
	struct bpath bp;
	int k, err;

	if (!map_writable(ip))
		return -EINVAL;
	err = bpath_get(&fs->g, lbn, &bp);
	if (err < 0)
		return err;
	err = path_lookup(fs, ip, &bp, c, ptr, &k);
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
	return bmap_cached(fs, ip, lbn, NULL, bnop);
}

/* Logical blocks a file may use: ceil(maxfilesize / bsize). */
static uint64_t lbn_limit(const struct mapfs_geom *g)
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
static int bmap_alloc_pref(struct mapfs_fs *fs, struct mapfs_inode *ip,
			   uint64_t lbn, bool use_reserve, bool will_overwrite,
			   mapfs_bno_t pref, struct ind_cache *c,
			   mapfs_bno_t *bnop)
{
	const struct mapfs_geom *g = &fs->g;
	mapfs_bno_t ptr[MAPFS_NIADDR + 1], nb[MAPFS_NIADDR + 1], prev;
	struct bpath bp;
	uint8_t *blk;
	int k, j, nnew, err;

	if (!map_writable(ip))
		return -EINVAL;
	if (lbn >= lbn_limit(g))
		return -EFBIG;
	err = bpath_get(g, lbn, &bp);
	if (err < 0)
		return err;
	err = path_lookup(fs, ip, &bp, c, ptr, &k);
	if (err < 0)
		return err;
	if (k > bp.depth) {
		*bnop = ptr[bp.depth];
		return 0;
	}

	if (pref == 0 && lbn > 0) {
		err = bmap_cached(fs, ip, lbn - 1, c, &prev);
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
	struct ind_cache c;

	memset(&c, 0, sizeof(c));
	return bmap_alloc_pref(fs, ip, lbn, use_reserve, will_overwrite, 0,
			       &c, bnop);
}

/* ------------------------------------------------------------------ */
/* File data                                                           */
/* ------------------------------------------------------------------ */

static bool in_zero_block(const void *p)
{
	uintptr_t a = (uintptr_t)p, z = (uintptr_t)zero_block;

	return a >= z && a < z + sizeof(zero_block);
}

static size_t zero_block_off(const void *p)
{
	return (size_t)((uintptr_t)p - (uintptr_t)zero_block);
}

/*
 * Iovecs for [off, off+len) clipped at EOF. Blocks physically adjacent
 * in the image merge; holes use zero_block, and consecutive holes merge
 * while they fit in it. Stops early when maxiov iovecs are used. Errors
 * (-EUCLEAN) are returned even after progress: a short count would look
 * like EOF to the kernel. Read-only.
 */
ssize_t mapfs_file_read_iov(struct mapfs_fs *fs, const struct mapfs_inode *ip,
			    uint64_t off, size_t len, struct iovec *iov,
			    int maxiov, int *niov)
{
	const struct mapfs_geom *g = &fs->g;
	struct ind_cache c;
	uint64_t end;
	size_t done = 0;
	int n = 0, err;

	*niov = 0;
	if (!mapfs_inode_has_blocks(ip))
		return -EINVAL;
	if (maxiov <= 0 || off >= ip->size || len == 0)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	end = ip->size - off < len ? ip->size : off + len;
	memset(&c, 0, sizeof(c));

	while (off < end) {
		uint32_t boff = (uint32_t)(off & (g->bsize - 1));
		size_t chunk = g->bsize - boff;
		struct iovec *last = n ? &iov[n - 1] : NULL;
		bool last_zero = last && in_zero_block(last->iov_base);
		mapfs_bno_t bno;
		uint8_t *p;

		if (chunk > end - off)
			chunk = (size_t)(end - off);
		err = bmap_cached(fs, ip, off >> g->bshift, &c, &bno);
		if (err < 0)
			return err;
		if (bno) {
			p = (uint8_t *)mapfs_data_block(fs, bno);
			assert(p != NULL);	/* bmap checked bno */
			p += boff;
			if (last && !last_zero &&
			    (uint8_t *)last->iov_base + last->iov_len == p) {
				last->iov_len += chunk;
				goto next;
			}
		} else {
			/* Zeros are zeros: grow a previous hole iovec while
			 * it stays inside zero_block. */
			size_t room = last_zero ?
				sizeof(zero_block) -
				zero_block_off(last->iov_base) - last->iov_len :
				0;

			if (last && chunk <= room) {
				last->iov_len += chunk;
				goto next;
			}
			p = (uint8_t *)zero_block;
		}
		if (n == maxiov)
			break;
		iov[n].iov_base = p;
		iov[n].iov_len = chunk;
		n++;
next:
		off += chunk;
		done += chunk;
	}
	*niov = n;
	return (ssize_t)done;
}

/* Copy [off, off+len) of ip into buf, clipped at EOF. Read-only. */
ssize_t mapfs_file_read(struct mapfs_fs *fs, const struct mapfs_inode *ip,
			uint64_t off, void *buf, size_t len)
{
	const struct mapfs_geom *g = &fs->g;
	struct ind_cache c;
	uint8_t *dst = buf;
	uint64_t end;
	size_t done = 0;
	int err;

	if (!mapfs_inode_has_blocks(ip))
		return -EINVAL;
	if (off >= ip->size || len == 0)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	end = ip->size - off < len ? ip->size : off + len;
	memset(&c, 0, sizeof(c));

	while (off < end) {
		uint32_t boff = (uint32_t)(off & (g->bsize - 1));
		size_t chunk = g->bsize - boff;
		mapfs_bno_t bno;

		if (chunk > end - off)
			chunk = (size_t)(end - off);
		err = bmap_cached(fs, ip, off >> g->bshift, &c, &bno);
		if (err < 0)
			return err;
		if (bno)
			memcpy(dst + done,
			       (uint8_t *)mapfs_data_block(fs, bno) + boff, chunk);
		else
			memset(dst + done, 0, chunk);
		off += chunk;
		done += chunk;
	}
	return (ssize_t)done;
}

/*
 * Write buf at off, allocating as needed, and store the inode. A fresh
 * block only partly written is zeroed first (bytes past EOF stay zero).
 * After some progress any error gives a short count, with the size
 * covering what was written.
 */
/* Copy a run of file data into the mapping; from 64 KiB on, bring its
 * pages into the page cache in one batch and fault them in writable with
 * one call first (older kernels: plain faults). The source may be the
 * mapping too (copy_file_range), and on a damaged image whose block
 * maps share blocks the two may overlap: memmove. */
static void copy_run(struct mapfs_fs *fs, uint8_t *dst, const uint8_t *src,
		     size_t len)
{
	if (!len)
		return;
	if (len >= 65536)
		mapfs_fs_prepare_write(fs, dst, len);
	memmove(dst, src, len);
}

/*
 * Writing ahead. A file written sequentially in large requests (the
 * kernel's writeback sends 1 MiB at a time) ends with a run of fresh
 * blocks at `next`, and its next request most likely gets the blocks
 * right after them. Making a page of the mapping writable costs more
 * than copying into it: the host allocates a page-cache page, fills it
 * with zeros and marks it dirty (about 6 us a page, twice the copy). So
 * while they are still free, those blocks are zeroed in the host and the
 * hook faults their pages in on another thread: by the time the next
 * request is copied, they are ready. Keeps a lead of one to two requests
 * (nw blocks each). Nothing here changes a byte anyone owns: the blocks
 * are free and out of the quarantine, and faulting a page in writable
 * leaves its bytes alone; a wrong guess costs a few zero pages written
 * to free blocks.
 */
static void write_ahead(struct mapfs_fs *fs, mapfs_bno_t next, uint64_t nw)
{
	mapfs_bno_t from = next;
	uint64_t n;

	if (!fs->ahead_hook)
		return;
	if (nw < 16)
		nw = 16;
	if (nw > 1024)
		nw = 1024;
	if (fs->prep_lo < fs->prep_hi && fs->prep_lo <= next &&
	    next <= fs->prep_hi) {
		if (fs->prep_hi - next >= nw)
			return;		/* still a request ahead */
		from = fs->prep_hi;
	}
	n = mapfs_free_run(fs, from, next + 2 * nw - from);
	if (n == 0 || !mapfs_fs_zero_ahead(fs, from, n))
		return;
	fs->ahead_hook(fs->ahead_arg, from, n);
}

ssize_t mapfs_file_write(struct mapfs_fs *fs, struct mapfs_inode *ip,
			 uint64_t off, const void *buf, size_t len,
			 bool use_reserve)
{
	const struct mapfs_geom *g = &fs->g;
	const uint8_t *src = buf;
	struct ind_cache c;
	mapfs_bno_t bno, pref = 0;
	size_t done = 0;
	int err = 0;

	if (!map_writable(ip))
		return -EINVAL;
	if (off >= g->maxfilesize)
		return -EFBIG;
	if (len > g->maxfilesize - off)
		len = (size_t)(g->maxfilesize - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (len == 0)
		return 0;
	memset(&c, 0, sizeof(c));

	/* Blocks are mapped first and copied in runs of physically
	 * contiguous blocks: a large run is made writable in one call
	 * (MADV_POPULATE_WRITE) instead of one page fault per page. The
	 * bitmaps', group headers' and indirect pages' checksums are
	 * computed once at the end (mapfs_seal_defer). */
	mapfs_seal_defer(fs);
	{
		uint8_t *run = NULL;
		const uint8_t *rsrc = NULL;
		size_t rlen = 0;
		/* Newly allocated blocks written whole, contiguous: their
		 * old host contents are dropped before the copy (see
		 * mapfs_fs_fresh_data), from 64 KiB on. */
		mapfs_bno_t fresh = 0;
		uint64_t nfresh = 0;

		while (done < len) {
			uint64_t pos = off + done;
			uint32_t boff = (uint32_t)(pos & (g->bsize - 1));
			size_t chunk = g->bsize - boff;
			uint64_t had = ip->blocks;
			uint8_t *p;

			if (chunk > len - done)
				chunk = len - done;
			err = bmap_alloc_pref(fs, ip, pos >> g->bshift,
					      use_reserve, chunk == g->bsize,
					      pref, &c, &bno);
			if (err < 0)
				break;
			if (ip->blocks != had && chunk == g->bsize &&
			    nfresh && bno == fresh + nfresh) {
				nfresh++;
			} else {
				if (nfresh << g->bshift >= 65536)
					mapfs_fs_fresh_data(fs, fresh, nfresh);
				nfresh = 0;
				if (ip->blocks != had && chunk == g->bsize) {
					fresh = bno;
					nfresh = 1;
				}
			}
			p = (uint8_t *)mapfs_data_block(fs, bno) + boff;
			if (run && p == run + rlen) {
				rlen += chunk;
			} else {
				copy_run(fs, run, rsrc, rlen);
				run = p;
				rsrc = src + done;
				rlen = chunk;
			}
			pref = bno + 1 < g->nblocks ? bno + 1 : 0;
			done += chunk;
		}
		if (nfresh << g->bshift >= 65536)
			mapfs_fs_fresh_data(fs, fresh, nfresh);
		copy_run(fs, run, rsrc, rlen);
		if (done == len && off + done >= ip->size &&
		    nfresh << g->bshift >= 65536)
			write_ahead(fs, fresh + nfresh, len >> g->bshift);
	}
	mapfs_seal_flush(fs);
	if (done == 0)
		return err;
	if (off + done > ip->size)
		ip->size = off + done;
	mapfs_inode_store(fs, ip);
	return (ssize_t)done;
}

/* Free blocks we removed from ip: keeps ip->blocks from wrapping if the
 * count on disk was low. */
static int drop_block(struct mapfs_fs *fs, struct mapfs_inode *ip,
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
static int free_subtree(struct mapfs_fs *fs, struct mapfs_inode *ip,
			mapfs_bno_t bno, int level)
{
	const struct mapfs_geom *g = &fs->g;
	uint8_t *blk;
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
			err = level == 1 ? drop_block(fs, ip, p) :
					   free_subtree(fs, ip, p, level - 1);
			if (err < 0)
				return err;
		}
	}
	return drop_block(fs, ip, bno);
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

static int trim_range(struct mapfs_fs *fs, struct mapfs_inode *ip,
		      mapfs_bno_t bno, int level, uint64_t first, uint64_t lo,
		      uint64_t hi, bool *emptyp);

/*
 * Remove from indirect block bno (of `level`, covering logical blocks
 * from `first`) every block at or past logical block keep. Pointers are
 * cleared and their page resealed before the blocks they named are
 * freed. *emptyp tells whether bno holds no pointer afterwards. Only the
 * pointers from keep on are visited, and holes are skipped, so work is
 * proportional to what is allocated.
 */
static int trim_ind(struct mapfs_fs *fs, struct mapfs_inode *ip,
		    mapfs_bno_t bno, int level, uint64_t first, uint64_t keep,
		    bool *emptyp)
{
	/* Truncation frees everything from keep on: a punch to the end. */
	return trim_range(fs, ip, bno, level, first, keep, UINT64_MAX, emptyp);
}

/*
 * Set ip's size to new_size and store ip. Shrinking zeroes the tail of
 * the new last block, then frees every block past it and every indirect
 * block left empty. Pointers in indirect pages are cleared before their
 * blocks are freed; pointers in the inode are cleared and the inode is
 * stored before theirs are. Growing only changes the size (a hole).
 * -EINVAL for inodes without a block map (unless the size is unchanged),
 * -EFBIG past maxfilesize.
 */
int mapfs_file_truncate(struct mapfs_fs *fs, struct mapfs_inode *ip,
			uint64_t new_size)
{
	const struct mapfs_geom *g = &fs->g;
	struct {
		mapfs_bno_t bno;
		int level;
	} top[MAPFS_NADDR];
	uint64_t keep, start, end;
	unsigned ntop = 0, i;
	mapfs_bno_t bno;
	bool empty;
	int level, err = 0, err2;

	if (!mapfs_inode_has_blocks(ip))
		return new_size == ip->size ? 0 : -EINVAL;
	if (new_size > g->maxfilesize)
		return -EFBIG;
	if (new_size >= ip->size) {
		ip->size = new_size;
		mapfs_inode_store(fs, ip);
		return 0;
	}

	keep = (new_size >> g->bshift) + ((new_size & (g->bsize - 1)) != 0);
	if (new_size & (g->bsize - 1)) {
		uint32_t boff = (uint32_t)(new_size & (g->bsize - 1));

		err = mapfs_bmap(fs, ip, keep - 1, &bno);
		if (err < 0)
			return err;
		if (bno)
			memset((uint8_t *)mapfs_data_block(fs, bno) + boff, 0,
			       g->bsize - boff);
	}
	ip->size = new_size;

	for (i = 0; i < MAPFS_NADDR; i++) {
		if (ip->blk[i] && !mapfs_bno_is_data(g, ip->blk[i])) {
			err = MAPFS_CORRUPT(fs,
					    "inode %llu: block pointer %u (%llu) outside the data area",
					    ull(ip->ino), i, ull(ip->blk[i]));
			goto out;
		}
	}
	for (i = 0; i < MAPFS_NDADDR; i++) {
		if (i >= keep && ip->blk[i]) {
			top[ntop].bno = ip->blk[i];
			top[ntop++].level = 0;
			ip->blk[i] = 0;
		}
	}
	for (level = 1; level <= (int)MAPFS_NIADDR; level++) {
		i = MAPFS_NDADDR + level - 1;
		bno = ip->blk[i];
		if (!bno)
			continue;
		start = level_start(g, level);
		end = start + child_span(g, level) * g->nindir;
		if (keep >= end)
			continue;
		if (keep > start) {
			err = trim_ind(fs, ip, bno, level, start, keep, &empty);
			if (err < 0)
				goto out;
			if (!empty)
				continue;
		}
		top[ntop].bno = bno;
		top[ntop++].level = level;
		ip->blk[i] = 0;
	}

out:
	/* The inode no longer points at top[]: store it before freeing. */
	mapfs_inode_store(fs, ip);
	if (err < 0)
		return err;
	for (i = 0; i < ntop; i++) {
		err2 = top[i].level == 0 ?
			       drop_block(fs, ip, top[i].bno) :
			       free_subtree(fs, ip, top[i].bno, top[i].level);
		if (err2 < 0 && err == 0)
			err = err2;
	}
	if (ntop)
		mapfs_inode_store(fs, ip);
	return err;
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
	span = child_span(g, level);
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
			       level ? level_start(&fs->g, level) : i, 0, i);
		if (ret)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* fsck support                                                        */
/* ------------------------------------------------------------------ */

/*
 * Decode inode ino into *ip without validating it (fsck looks at inodes
 * that failed mapfs_inode_check). Fields are copied as stored; whether
 * di_blk holds pointers or a fast symlink target follows the stored mode
 * and size. Callers must range-check every pointer before following it.
 * -ENOENT if ino has no slot in the image. Read-only.
 */
int mapfs_inode_decode(const struct mapfs_fs *fs, mapfs_ino_t ino,
		       struct mapfs_inode *ip)
{
	const struct mapfs_dinode *d = mapfs_dinode(fs, ino);
	unsigned i;

	if (!d)
		return -ENOENT;
	memset(ip, 0, sizeof(*ip));
	ip->ino = ino;
	ip->mode = le16toh(d->di_mode);
	ip->nlink = le32toh(d->di_nlink);
	ip->uid = le32toh(d->di_uid);
	ip->gid = le32toh(d->di_gid);
	ip->flags = le32toh(d->di_flags);
	ip->gen = le32toh(d->di_gen);
	ip->size = le64toh(d->di_size);
	ip->blocks = le64toh(d->di_blocks);
	ip->rdev = le64toh(d->di_rdev);
	ip->xattr = le64toh(d->di_xattr);
	ip->orphan_next = le64toh(d->di_orphan_next);
	ip->atime.sec = (int64_t)le64toh((uint64_t)d->di_atime);
	ip->mtime.sec = (int64_t)le64toh((uint64_t)d->di_mtime);
	ip->ctime.sec = (int64_t)le64toh((uint64_t)d->di_ctime);
	ip->btime.sec = (int64_t)le64toh((uint64_t)d->di_btime);
	ip->atime.nsec = le32toh(d->di_atime_ns);
	ip->mtime.nsec = le32toh(d->di_mtime_ns);
	ip->ctime.nsec = le32toh(d->di_ctime_ns);
	ip->btime.nsec = le32toh(d->di_btime_ns);
	if (is_fast_symlink(ip->mode, ip->size))
		memcpy(ip->symlink, d->di_symlink, MAPFS_FAST_SYMLINK_MAX);
	else
		for (i = 0; i < MAPFS_NADDR; i++)
			ip->blk[i] = le64toh(d->di_blk[i]);
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

/* ------------------------------------------------------------------ */
/* Ranges: hole punching, preallocation, SEEK_DATA/SEEK_HOLE, copies   */
/* ------------------------------------------------------------------ */

/*
 * Remove from indirect block bno (of `level`, covering logical blocks
 * from `first`) every block mapping [lo, hi), as trim_ind does for
 * [keep, end of file): children wholly inside the range are dropped with
 * their subtrees, children straddling an edge are trimmed inside.
 * Pointers are cleared and their page resealed before the blocks are
 * freed. *emptyp tells whether bno holds no pointer afterwards.
 */
static int trim_range(struct mapfs_fs *fs, struct mapfs_inode *ip,
		      mapfs_bno_t bno, int level, uint64_t first, uint64_t lo,
		      uint64_t hi, bool *emptyp)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t span = child_span(g, level);
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
				err = trim_range(fs, ip, p, level - 1, cfirst,
						 lo, hi, &cempty);
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
			err = level == 1 ? drop_block(fs, ip, drop[d]) :
					   free_subtree(fs, ip, drop[d],
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

/*
 * The range version of mapfs_file_truncate's freeing: the same order
 * (pointers in the inode cleared and the inode stored before the blocks
 * they named are freed), for logical blocks [first, end).
 */
int mapfs_file_free_range(struct mapfs_fs *fs, struct mapfs_inode *ip,
			  uint64_t first, uint64_t end)
{
	const struct mapfs_geom *g = &fs->g;
	struct {
		mapfs_bno_t bno;
		int level;
	} top[MAPFS_NADDR];
	unsigned ntop = 0, i;
	int level, err = 0, err2;
	bool empty;

	if (!mapfs_inode_has_blocks(ip))
		return -EINVAL;
	if (first >= end)
		return 0;
	for (i = 0; i < MAPFS_NADDR; i++)
		if (ip->blk[i] && !mapfs_bno_is_data(g, ip->blk[i]))
			return MAPFS_CORRUPT(fs,
					     "inode %llu: block pointer %u (%llu) outside the data area",
					     ull(ip->ino), i, ull(ip->blk[i]));
	for (i = 0; i < MAPFS_NDADDR; i++) {
		if (i >= first && i < end && ip->blk[i]) {
			top[ntop].bno = ip->blk[i];
			top[ntop++].level = 0;
			ip->blk[i] = 0;
		}
	}
	for (level = 1; level <= (int)MAPFS_NIADDR; level++) {
		uint64_t start = level_start(g, level);
		uint64_t stop = start + child_span(g, level) * g->nindir;
		mapfs_bno_t bno;

		i = MAPFS_NDADDR + level - 1;
		bno = ip->blk[i];
		if (!bno || end <= start || first >= stop)
			continue;
		if (first > start || end < stop) {
			err = trim_range(fs, ip, bno, level, start, first, end,
					 &empty);
			if (err < 0)
				break;
			if (!empty)
				continue;
		}
		top[ntop].bno = bno;
		top[ntop++].level = level;
		ip->blk[i] = 0;
	}
	mapfs_inode_store(fs, ip);
	if (err < 0)
		return err;
	for (i = 0; i < ntop; i++) {
		err2 = top[i].level == 0 ?
			       drop_block(fs, ip, top[i].bno) :
			       free_subtree(fs, ip, top[i].bno, top[i].level);
		if (err2 < 0 && err == 0)
			err = err2;
	}
	if (ntop)
		mapfs_inode_store(fs, ip);
	return err;
}

int mapfs_file_alloc_range(struct mapfs_fs *fs, struct mapfs_inode *ip,
			   uint64_t first, uint64_t end, bool use_reserve)
{
	struct ind_cache c;
	mapfs_bno_t bno, pref = 0;
	int err = 0;

	if (!mapfs_inode_has_blocks(ip))
		return -EINVAL;
	if (end > lbn_limit(&fs->g))
		return -EFBIG;
	memset(&c, 0, sizeof(c));
	for (uint64_t lbn = first; lbn < end; lbn++) {
		err = bmap_alloc_pref(fs, ip, lbn, use_reserve, false, pref, &c,
				      &bno);
		if (err < 0)
			break;
		pref = bno + 1 < fs->g.nblocks ? bno + 1 : 0;
	}
	mapfs_inode_store(fs, ip);
	return err;
}

int mapfs_file_zero(struct mapfs_fs *fs, struct mapfs_inode *ip,
		    uint64_t off, uint64_t len)
{
	const struct mapfs_geom *g = &fs->g;
	struct ind_cache c;
	uint64_t end = off + len;
	int err;

	if (!mapfs_inode_has_blocks(ip))
		return -EINVAL;
	if (len == 0)
		return 0;
	if (end < off || end > g->maxfilesize)
		return -EFBIG;
	memset(&c, 0, sizeof(c));
	while (off < end) {
		uint32_t boff = (uint32_t)(off & (g->bsize - 1));
		uint64_t chunk = g->bsize - boff;
		mapfs_bno_t bno;

		if (chunk > end - off)
			chunk = end - off;
		err = bmap_cached(fs, ip, off >> g->bshift, &c, &bno);
		if (err < 0)
			return err;
		if (bno)
			memset((uint8_t *)mapfs_data_block(fs, bno) + boff, 0,
			       (size_t)chunk);
		off += chunk;
	}
	return 0;
}

/*
 * First lbn in [lbn, end) whose state is `mapped`. A hole found at path
 * position k < depth is an unmapped subtree: every block under it is a
 * hole, so the search jumps past it (the subtree at position k of a path
 * of depth d covers nindir^(d-k) blocks, aligned from its level's start).
 */
int mapfs_file_next(struct mapfs_fs *fs, const struct mapfs_inode *ip,
		    uint64_t lbn, uint64_t end, bool mapped, uint64_t *resp)
{
	const struct mapfs_geom *g = &fs->g;
	mapfs_bno_t ptr[MAPFS_NIADDR + 1];
	struct ind_cache c;
	struct bpath bp;
	int k, err;

	if (!mapfs_inode_has_blocks(ip))
		return -EINVAL;
	if (end > lbn_limit(g))
		end = lbn_limit(g);
	memset(&c, 0, sizeof(c));
	while (lbn < end) {
		uint64_t span, base, next;

		err = bpath_get(g, lbn, &bp);
		if (err < 0)
			return err;
		err = path_lookup(fs, ip, &bp, &c, ptr, &k);
		if (err < 0)
			return err;
		if ((k > bp.depth) == mapped) {
			*resp = lbn;
			return 0;
		}
		if (k > bp.depth) {
			lbn++;
			continue;
		}
		span = child_span(g, bp.depth - k + 1);
		base = bp.depth ? level_start(g, bp.depth) : lbn;
		next = lbn - (lbn - base) % span + span;
		lbn = next > lbn ? next : lbn + 1;
	}
	*resp = end;
	return 0;
}

#define COPY_RUN (1u << 20)

ssize_t mapfs_file_copy(struct mapfs_fs *fs, const struct mapfs_inode *src,
			uint64_t soff, struct mapfs_inode *dst, uint64_t doff,
			uint64_t len, bool use_reserve)
{
	const struct mapfs_geom *g = &fs->g;
	struct ind_cache cs, cd;
	uint64_t done = 0;
	int err = 0;

	if (!mapfs_inode_has_blocks(src) || !map_writable(dst))
		return -EINVAL;
	if (soff >= src->size || len == 0)
		return 0;
	if (len > src->size - soff)
		len = src->size - soff;
	if (doff >= g->maxfilesize)
		return -EFBIG;
	if (len > g->maxfilesize - doff)
		len = g->maxfilesize - doff;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	memset(&cs, 0, sizeof(cs));
	memset(&cd, 0, sizeof(cd));

	while (done < len) {
		uint64_t s = soff + done, d = doff + done;
		uint32_t sbo = (uint32_t)(s & (g->bsize - 1));
		uint32_t dbo = (uint32_t)(d & (g->bsize - 1));
		uint64_t chunk = g->bsize - (sbo > dbo ? sbo : dbo);
		mapfs_bno_t sb, db;

		if (chunk > len - done)
			chunk = len - done;
		/* src may be dst: its map changes as dst's does. */
		err = bmap_cached(fs, src == dst ? dst : src, s >> g->bshift,
				  src == dst ? &cd : &cs, &sb);
		if (err < 0)
			break;
		if (!sb) {
			err = bmap_cached(fs, dst, d >> g->bshift, &cd, &db);
			if (err < 0)
				break;
			if (db && chunk == g->bsize) {
				/* a whole block of hole: keep it a hole */
				err = mapfs_file_free_range(fs, dst,
							    d >> g->bshift,
							    (d >> g->bshift) + 1);
				memset(&cd, 0, sizeof(cd));
				memset(&cs, 0, sizeof(cs));
				if (err < 0)
					break;
			} else if (db) {
				memset((uint8_t *)mapfs_data_block(fs, db) + dbo, 0,
				       (size_t)chunk);
			}
		} else {
			/* Data: a run of source blocks consecutive on disk
			 * (up to 1 MiB) is one piece of the mapping, written
			 * to dst as a write of those bytes would be (blocks
			 * allocated in runs, pages brought in in batches).
			 * The kernel never asks to copy between overlapping
			 * ranges of one file. */
			uint64_t run = g->bsize - sbo;
			const uint8_t *from;
			ssize_t n;

			while (run < len - done && run < COPY_RUN) {
				mapfs_bno_t nb;

				if (bmap_cached(fs, src == dst ? dst : src,
						(s + run) >> g->bshift,
						src == dst ? &cd : &cs,
						&nb) < 0 ||
				    nb != sb + ((sbo + run) >> g->bshift))
					break;
				run += g->bsize;
			}
			if (run > len - done)
				run = len - done;
			from = (const uint8_t *)mapfs_data_block(fs, sb) + sbo;
			mapfs_fs_readahead(fs, from, (size_t)run);
			n = mapfs_file_write(fs, dst, d, from, (size_t)run,
					     use_reserve);
			/* dst's map changed under the cached indirect
			 * blocks */
			memset(&cd, 0, sizeof(cd));
			if (n < 0) {
				err = (int)n;
				break;
			}
			done += (uint64_t)n;
			if ((uint64_t)n < run)
				break;	/* out of space */
			continue;
		}
		done += chunk;
	}
	if (done == 0)
		return err;
	if (doff + done > dst->size)
		dst->size = doff + done;
	mapfs_inode_store(fs, dst);
	return (ssize_t)done;
}
