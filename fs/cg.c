/* SPDX-License-Identifier: MIT */
/*
 * cg.c - cylinder group headers and their bitmaps; the slot of each
 * inode in its group's inode table (mapfs_dinode).
 *
 * Layer: above crc, mounts, image, journal, seal and super; below alloc
 * and the rest (tests/layering.sh). Its deferred seals go through
 * seal.c's list (sealers mapfs_cg_seal_bm/_hdr, registered at attach).
 * A group's header (block hdr_off of the group, first page) holds
 * its summary counts and the CRC of every 4 KiB page of its two bitmaps.
 * An all-zero header page marks an unused group: everything in it is free
 * and its bitmaps are zero; mapfs_cg_init turns it into a used one the
 * first time the allocator needs it. This keeps mkfs of a huge sparse
 * image to a few pages and lets fsck skip groups never used.
 *
 * Invariants: the inode bitmap has ipg meaningful bits, the block bitmap
 * the group's block count; bits past those are zero. Blocks 0..data_off-1
 * of an initialized group (superblock slot, header, bitmaps, inode table)
 * are marked used; in group 0 so are inodes 0..first_ino-1.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

struct mapfs_dcg *mapfs_cg_hdr(const struct mapfs_fs *fs, uint64_t cg)
{
	return mapfs_block(fs, mapfs_group_start(&fs->g, cg) + fs->g.hdr_off);
}

uint8_t *mapfs_cg_ibm(const struct mapfs_fs *fs, uint64_t cg)
{
	return mapfs_block(fs, mapfs_group_start(&fs->g, cg) + fs->g.ibm_off);
}

uint8_t *mapfs_cg_bbm(const struct mapfs_fs *fs, uint64_t cg)
{
	return mapfs_block(fs, mapfs_group_start(&fs->g, cg) + fs->g.bbm_off);
}

/* Pointer to inode ino's slot in its group's inode table, or NULL when
 * ino >= ninodes or the slot would lie past the end of the image. */
struct mapfs_dinode *mapfs_dinode(const struct mapfs_fs *fs, mapfs_ino_t ino)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t cg, slot, bno, off;

	if (ino >= g->ninodes || g->ipg == 0 || g->inodes_per_block == 0)
		return NULL;
	cg = ino / g->ipg;
	slot = ino % g->ipg;
	bno = mapfs_group_start(g, cg) + g->itab_off +
	      slot / g->inodes_per_block;
	if (bno >= g->nblocks)
		return NULL;
	off = (bno << g->bshift) +
	      (slot % g->inodes_per_block) * (uint64_t)g->inode_size;
	if (off > fs->size || fs->size - off < g->inode_size ||
	    fs->size - off < sizeof(struct mapfs_dinode))
		return NULL;
	return (struct mapfs_dinode *)(fs->base + off);
}

/* Number of 4 KiB pages the bitmap of nbits bits occupies. */
static uint32_t bm_pages(uint64_t nbits)
{
	return (uint32_t)((nbits + 8 * MAPFS_PAGE_SIZE - 1) /
			  (8 * MAPFS_PAGE_SIZE));
}

static uint64_t bm_nbits(const struct mapfs_fs *fs, uint64_t cg, bool inode_bm)
{
	return inode_bm ? fs->g.ipg : mapfs_group_nblocks(&fs->g, cg);
}

uint32_t mapfs_cg_bitmap_crc(const struct mapfs_fs *fs, uint64_t cg,
			     bool inode_bm, uint32_t page)
{
	uint64_t bno = mapfs_group_start(&fs->g, cg) +
		       (inode_bm ? fs->g.ibm_off : fs->g.bbm_off);
	const uint8_t *bm = inode_bm ? mapfs_cg_ibm(fs, cg) : mapfs_cg_bbm(fs, cg);
	uint64_t le_bno = htole64(bno);
	uint32_t le_page = htole32(page);
	uint32_t crc;

	crc = mapfs_crc32c(fs->g.seed, &le_bno, sizeof(le_bno));
	crc = mapfs_crc32c(crc, &le_page, sizeof(le_page));
	return mapfs_crc32c(crc, bm + (size_t)page * MAPFS_PAGE_SIZE,
			    MAPFS_PAGE_SIZE);
}

uint32_t mapfs_cg_hdr_crc(const struct mapfs_fs *fs, uint64_t cg,
			  const struct mapfs_dcg *h)
{
	uint64_t le_cg = htole64(cg);
	uint32_t crc = mapfs_crc32c(fs->g.seed, &le_cg, sizeof(le_cg));

	return mapfs_crc32c(crc, h, offsetof(struct mapfs_dcg, cg_crc));
}

int mapfs_cg_check_hdr(const struct mapfs_fs *fs, uint64_t cg, bool *unused,
		       char *why, size_t whylen)
{
	const struct mapfs_dcg *h = mapfs_cg_hdr(fs, cg);
	const struct mapfs_geom *g = &fs->g;
	uint32_t crc;

	*unused = false;
	if (!h) {
		WHY("header outside the image");
		return -EUCLEAN;
	}
	if (cg > 0 && mapfs_is_zero(h, MAPFS_PAGE_SIZE)) {
		*unused = true;
		return 0;
	}
	if (le32toh(h->cg_magic) != MAPFS_CG_MAGIC) {
		WHY("bad group header magic 0x%08x", le32toh(h->cg_magic));
		return -EUCLEAN;
	}
	crc = mapfs_cg_hdr_crc(fs, cg, h);
	if (crc != le32toh(h->cg_crc)) {
		WHY("group header checksum mismatch (stored 0x%08x, computed "
		    "0x%08x)", le32toh(h->cg_crc), crc);
		return -EUCLEAN;
	}
	if (le64toh(h->cg_index) != cg ||
	    le64toh(h->cg_start) != mapfs_group_start(g, cg) ||
	    le32toh(h->cg_nblocks) != mapfs_group_nblocks(g, cg) ||
	    le32toh(h->cg_ipg) != g->ipg) {
		WHY("group header describes another group or geometry");
		return -EUCLEAN;
	}
	if (le64toh(h->cg_free_blocks) > mapfs_group_ndata(g, cg) ||
	    le64toh(h->cg_free_inodes) > g->ipg ||
	    le64toh(h->cg_ndirs) > g->ipg ||
	    le32toh(h->cg_ihiwater) > g->ipg) {
		WHY("group counts out of range (free blocks %llu, free inodes "
		    "%llu, dirs %llu, inode high water %u)",
		    (unsigned long long)le64toh(h->cg_free_blocks),
		    (unsigned long long)le64toh(h->cg_free_inodes),
		    (unsigned long long)le64toh(h->cg_ndirs),
		    le32toh(h->cg_ihiwater));
		return -EUCLEAN;
	}
	return 0;
}

int mapfs_cg_check_bitmaps(const struct mapfs_fs *fs, uint64_t cg,
			   char *why, size_t whylen)
{
	const struct mapfs_dcg *h = mapfs_cg_hdr(fs, cg);

	for (int ibm = 0; ibm < 2; ibm++) {
		uint32_t np = bm_pages(bm_nbits(fs, cg, ibm));
		const uint32_t *stored = ibm ? h->cg_ibm_crc : h->cg_bbm_crc;

		for (uint32_t p = 0; p < np; p++) {
			uint32_t crc = mapfs_cg_bitmap_crc(fs, cg, ibm, p);
			if (crc != le32toh(stored[p])) {
				WHY("%s bitmap page %u checksum mismatch",
				    ibm ? "inode" : "block", p);
				return -EUCLEAN;
			}
		}
	}
	return 0;
}

int mapfs_cg_check(const struct mapfs_fs *fs, uint64_t cg, bool *unused,
		   char *why, size_t whylen)
{
	int err = mapfs_cg_check_hdr(fs, cg, unused, why, whylen);

	if (err < 0)
		return err;
	if (*unused) {
		if (!mapfs_is_zero(mapfs_cg_ibm(fs, cg), MAPFS_PAGE_SIZE *
				   bm_pages(fs->g.ipg)) ||
		    !mapfs_is_zero(mapfs_cg_bbm(fs, cg), MAPFS_PAGE_SIZE *
				   bm_pages(mapfs_group_nblocks(&fs->g, cg)))) {
			WHY("unused group (zero header) has bitmap bits set");
			return -EUCLEAN;
		}
		return 0;
	}
	return mapfs_cg_check_bitmaps(fs, cg, why, whylen);
}

/* Recompute the header CRC after any change to it. */
static void hdr_seal(struct mapfs_fs *fs, uint64_t cg, struct mapfs_dcg *h)
{
	h->cg_crc = htole32(mapfs_cg_hdr_crc(fs, cg, h));
	mapfs_jdirty(fs, h, sizeof(*h));
}

static void hdr_put_counts(struct mapfs_fs *fs, uint64_t cg,
			   struct mapfs_dcg *h)
{
	h->cg_free_blocks = htole64(fs->cg[cg].free_blocks);
	h->cg_free_inodes = htole64(fs->cg[cg].free_inodes);
	h->cg_ndirs = htole64(fs->cg[cg].ndirs);
}

void mapfs_cg_init(struct mapfs_fs *fs, uint64_t cg)
{
	const struct mapfs_geom *g = &fs->g;
	uint8_t *ibm = mapfs_cg_ibm(fs, cg), *bbm = mapfs_cg_bbm(fs, cg);
	uint32_t ip = bm_pages(g->ipg);
	uint32_t bp = bm_pages(mapfs_group_nblocks(g, cg));
	uint32_t reserved_inodes = cg == 0 ? (uint32_t)g->first_ino : 0;

	/* Bitmaps first, the header (whose magic makes the group used)
	 * last, so a group is never "used" with unwritten bitmaps. */
	memset(ibm, 0, (size_t)ip * MAPFS_PAGE_SIZE);
	memset(bbm, 0, (size_t)bp * MAPFS_PAGE_SIZE);
	for (uint32_t b = 0; b < g->data_off; b++)
		mapfs_bit_set(bbm, b);
	for (uint32_t i = 0; i < reserved_inodes; i++)
		mapfs_bit_set(ibm, i);
	mapfs_jdirty(fs, ibm, (size_t)ip * MAPFS_PAGE_SIZE);
	mapfs_jdirty(fs, bbm, (size_t)bp * MAPFS_PAGE_SIZE);
	fs->cg[cg].free_blocks = mapfs_group_ndata(g, cg);
	fs->cg[cg].free_inodes = g->ipg - reserved_inodes;
	fs->cg[cg].ndirs = 0;
	mapfs_cg_rebuild(fs, cg, reserved_inodes);
}

/* ------------------------------------------------------------------ */
/* Seals (deferred ones are queued by seal.c)                          */
/* ------------------------------------------------------------------ */

static void bm_seal(struct mapfs_fs *fs, uint64_t cg, bool inode_bm,
		    uint32_t page)
{
	struct mapfs_dcg *h = mapfs_cg_hdr(fs, cg);
	uint32_t crc = mapfs_cg_bitmap_crc(fs, cg, inode_bm, page);

	if (inode_bm)
		h->cg_ibm_crc[page] = htole32(crc);
	else
		h->cg_bbm_crc[page] = htole32(crc);
}

/* The sealers cg.c registers with seal.c (mount.c does it at attach): a
 * deferred bitmap page's CRC into its header, then (last) the header's
 * counts and CRC. */
void mapfs_cg_seal_bm(struct mapfs_fs *fs, const struct mapfs_pend *e)
{
	bm_seal(fs, e->a, e->ibm, e->page);
}

void mapfs_cg_seal_hdr(struct mapfs_fs *fs, const struct mapfs_pend *e)
{
	mapfs_cg_store(fs, e->a);
}

void mapfs_cg_bitmap_changed(struct mapfs_fs *fs, uint64_t cg, bool inode_bm,
			     uint32_t bit)
{
	struct mapfs_dcg *h = mapfs_cg_hdr(fs, cg);
	uint32_t page = bit / (8 * MAPFS_PAGE_SIZE);

	mapfs_jdirty(fs, (inode_bm ? mapfs_cg_ibm(fs, cg) : mapfs_cg_bbm(fs, cg)) +
			 bit / 8, 1);
	if (mapfs_seal_pend(fs, MAPFS_PEND_BM, inode_bm, page, cg, 0)) {
		mapfs_seal_pend(fs, MAPFS_PEND_CG, false, 0, cg, 0);
		return;
	}
	bm_seal(fs, cg, inode_bm, page);
	hdr_put_counts(fs, cg, h);
	hdr_seal(fs, cg, h);
}

void mapfs_cg_store(struct mapfs_fs *fs, uint64_t cg)
{
	struct mapfs_dcg *h = mapfs_cg_hdr(fs, cg);

	hdr_put_counts(fs, cg, h);
	hdr_seal(fs, cg, h);
}

/* ------------------------------------------------------------------ */
/* fsck support                                                        */
/* ------------------------------------------------------------------ */

/* 4 KiB pages of group cg's inode (inode_bm) or block bitmap that carry
 * a CRC in the header. */
uint32_t mapfs_cg_bitmap_pages(const struct mapfs_fs *fs, uint64_t cg,
			       bool inode_bm)
{
	return bm_pages(bm_nbits(fs, cg, inode_bm));
}

/*
 * Rewrite group cg's header from scratch after fsck rewrote its bitmaps:
 * identity and geometry, fs->cg[cg]'s counts, the given inode high-water
 * mark, every bitmap page CRC and the header CRC. The allocation hint is
 * kept when the old header had the right magic. Marks the group
 * initialized, good and checked.
 */
void mapfs_cg_rebuild(struct mapfs_fs *fs, uint64_t cg, uint32_t ihiwater)
{
	const struct mapfs_geom *g = &fs->g;
	struct mapfs_dcg *h = mapfs_cg_hdr(fs, cg);
	uint32_t ip = bm_pages(g->ipg);
	uint32_t bp = bm_pages(mapfs_group_nblocks(g, cg));
	uint32_t brotor = 0;
	struct mapfs_dcg nh;

	assert(h != NULL && ihiwater <= g->ipg);
	if (le32toh(h->cg_magic) == MAPFS_CG_MAGIC)
		brotor = le32toh(h->cg_brotor);
	memset(&nh, 0, sizeof(nh));
	nh.cg_magic = htole32(MAPFS_CG_MAGIC);
	nh.cg_index = htole64(cg);
	nh.cg_start = htole64(mapfs_group_start(g, cg));
	nh.cg_nblocks = htole32(mapfs_group_nblocks(g, cg));
	nh.cg_ipg = htole32(g->ipg);
	nh.cg_ihiwater = htole32(ihiwater);
	nh.cg_brotor = htole32(brotor);
	fs->cg[cg].init = true;
	fs->cg[cg].bad = false;
	fs->cg[cg].bm_checked = true;
	hdr_put_counts(fs, cg, &nh);
	memset(h, 0, MAPFS_PAGE_SIZE);
	memcpy(h, &nh, sizeof(nh));
	mapfs_jdirty(fs, h, MAPFS_PAGE_SIZE);
	for (uint32_t p = 0; p < ip; p++)
		h->cg_ibm_crc[p] = htole32(mapfs_cg_bitmap_crc(fs, cg, true, p));
	for (uint32_t p = 0; p < bp; p++)
		h->cg_bbm_crc[p] = htole32(mapfs_cg_bitmap_crc(fs, cg, false, p));
	hdr_seal(fs, cg, h);
}

/* Raise group cg's inode high-water mark to hiwater (slots below it have
 * been used) and journal the field. The header's CRC is left to the seal
 * that follows (mapfs_cg_bitmap_changed of the same allocation). */
void mapfs_cg_raise_ihiwater(struct mapfs_fs *fs, uint64_t cg,
			     uint32_t hiwater)
{
	struct mapfs_dcg *h = mapfs_cg_hdr(fs, cg);

	assert(h != NULL && hiwater <= fs->g.ipg &&
	       hiwater > le32toh(h->cg_ihiwater));
	h->cg_ihiwater = htole32(hiwater);
	mapfs_jdirty(fs, &h->cg_ihiwater, sizeof(h->cg_ihiwater));
}

void mapfs_cg_seal_register(struct mapfs_fs *fs)
{
	mapfs_seal_register(fs, MAPFS_PEND_BM, mapfs_cg_seal_bm, false);
	mapfs_seal_register(fs, MAPFS_PEND_CG, mapfs_cg_seal_hdr, true);
}
