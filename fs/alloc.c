/* SPDX-License-Identifier: MIT */
/*
 * alloc.c - inode and block allocation: bitmaps plus the FFS policy.
 *
 * Layer: above cg.c (tests/layering.sh). Policy (McKusick et al. 1984; FreeBSD
 * ffs_alloc.c; the idea of ext4's Orlov allocator):
 *  - a file's inode goes in its directory's group when it has room;
 *  - a directory made in the root (a top-level directory) goes to a group
 *    with at least the average number of free inodes and free blocks and
 *    the fewest directories, so unrelated trees spread over the groups;
 *  - any other directory stays near its parent: the first group from the
 *    parent's on that has fewer than the average number of directories
 *    plus ipg/16 (the bound on how many pile up in one group), at least
 *    three quarters of the average free inodes and of the average free
 *    blocks; failing that, the top-level rule; failing that, any group
 *    with a free inode. So a tree unpacked into an empty image fills a
 *    few groups instead of taking a new group per directory;
 *  - a block goes where the caller prefers (right after the file's
 *    previous block), else to the first free block of that group after
 *    the preference, else to the next group with free blocks.
 * Non-root callers cannot take the last reserved_blocks blocks (minfree).
 *
 * Host space (a sparse image allocates on first write; a store through the
 * mapping into an unbacked page of a full host faults, see docs/DESIGN.md
 * "The host under the image"): nothing is stored into a page of the image
 * before mapfs_fs_reserve backed it. What is reserved follows what is
 * used, not how many groups were touched: an unused group's header and
 * bitmaps when it is initialized (3 blocks); its inode table in chunks of
 * ITAB_RESV_BYTES as the high-water mark reaches them; data blocks in
 * windows of at most 1/RESV_SHARE of the group's blocks in use (from
 * RESV_MIN_BYTES to RESV_MAX_BYTES). When the host is full, allocation
 * answers its -ENOSPC at once, before anything changed.
 *
 * A group's bitmap pages are checked against their CRCs the first time
 * the allocator uses the group after attach; a group that fails is treated
 * as full and the filesystem is marked as needing a check.
 *
 * Caller holds the filesystem exclusively.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

int64_t mapfs_bit_find_clear(const uint8_t *bm, uint64_t nbits,
			     uint64_t from)
{
	return mapfs_bit_find_clear2(bm, NULL, nbits, from);
}

int64_t mapfs_bit_find_clear2(const uint8_t *bm, const uint8_t *also,
			      uint64_t nbits, uint64_t from)
{
	if (nbits == 0)
		return -1;
	if (from >= nbits)
		from = 0;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t lo = pass ? 0 : from, hi = pass ? from : nbits;
		uint64_t i = lo;

		while (i < hi) {
			/* Whole 64-bit words at a time where aligned. */
			if ((i & 63) == 0 && i + 64 <= hi) {
				uint64_t w, w2 = 0;
				memcpy(&w, bm + (i >> 3), 8);
				if (also)
					memcpy(&w2, also + (i >> 3), 8);
				w = le64toh(w | w2);
				if (w == UINT64_MAX) {
					i += 64;
					continue;
				}
				return (int64_t)(i + (uint64_t)__builtin_ctzll(~w));
			}
			if (!mapfs_bit_test(bm, i) &&
			    !(also && mapfs_bit_test(also, i)))
				return (int64_t)i;
			i++;
		}
	}
	return -1;
}

#define ITAB_RESV_BYTES (64u * 1024)	/* inode table reserved at once */
#define RESV_MIN_BYTES	(64u * 1024)	/* smallest data window */
#define RESV_MAX_BYTES	(8u << 20)	/* largest data window */
#define RESV_SHARE	8u	/* window <= 1/8 of the group's blocks in use */

/* Inode-table blocks of a group that back its slots [0, nslots): whole
 * chunks of ITAB_RESV_BYTES (at least a block), at most the table. */
static uint32_t itab_resv_blocks(const struct mapfs_geom *g, uint64_t nslots)
{
	uint64_t chunk = ITAB_RESV_BYTES >> g->bshift;
	uint64_t nb = (nslots * g->inode_size + g->bsize - 1) >> g->bshift;

	if (chunk == 0)
		chunk = 1;
	nb = (nb + chunk - 1) / chunk * chunk;
	return nb < g->itab_blocks ? (uint32_t)nb : g->itab_blocks;
}

/* Host space behind the inode-table pages of group cg that hold slots
 * [0, nslots), reserved a chunk at a time. -ENOSPC when the host is
 * full. */
static int itab_reserve(struct mapfs_fs *fs, uint64_t cg, uint64_t nslots)
{
	const struct mapfs_geom *g = &fs->g;
	struct mapfs_cgmem *m = &fs->cg[cg];
	uint32_t need = itab_resv_blocks(g, nslots);
	int err;

	if (need <= m->itab_resv)
		return 0;
	err = mapfs_fs_reserve(fs, mapfs_group_start(g, cg) + g->itab_off +
				   m->itab_resv, need - m->itab_resv);
	if (err < 0)
		return err;
	m->itab_resv = need;
	return 0;
}

int mapfs_alloc_reserve_metadata(struct mapfs_fs *fs)
{
	const struct mapfs_geom *g = &fs->g;
	int err;

	if (g->jblocks) {
		err = mapfs_fs_reserve(fs, g->jstart, g->jblocks);
		if (err < 0)
			return err;
	}
	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		struct mapfs_cgmem *m = &fs->cg[cg];
		uint32_t hiwater, need;

		if (!m->init || m->bad)
			continue;
		/* Attach checked the header: the mark is at most ipg. */
		hiwater = mapfs_cg_ihiwater(mapfs_cg_hdr(fs, cg));
		need = itab_resv_blocks(g, hiwater);
		/* Header, bitmaps and the table in use: one call. */
		err = mapfs_fs_reserve(fs, mapfs_group_start(g, cg) +
					   g->hdr_off,
				       g->itab_off - g->hdr_off + need);
		if (err < 0)
			return err;
		if (need > m->itab_resv)
			m->itab_resv = need;
	}
	return 0;
}

/* Make group cg usable for allocation: initialize it if unused, verify
 * its bitmaps once. 0, -ENOSPC when the host has no room for an unused
 * group's header and bitmaps, -EUCLEAN when the group is bad. */
static int group_ready(struct mapfs_fs *fs, uint64_t cg)
{
	const struct mapfs_geom *g = &fs->g;
	struct mapfs_cgmem *m = &fs->cg[cg];
	char why[160];
	int err;

	if (m->bad)
		return -EUCLEAN;
	if (!m->init) {
		/* Host space for the header and bitmaps first: they are
		 * holes in a fresh image. The inode table waits for its
		 * first inode (itab_reserve). */
		err = mapfs_fs_reserve(fs, mapfs_group_start(g, cg) +
					   g->hdr_off,
				       g->itab_off - g->hdr_off);
		if (err < 0)
			return err;
		mapfs_cg_init(fs, cg);
		m->itab_resv = 0;
		return 0;
	}
	if (!m->bm_checked) {
		if (mapfs_cg_check_bitmaps(fs, cg, why, sizeof(why)) < 0) {
			MAPFS_CORRUPT(fs, "group %llu: %s",
				      (unsigned long long)cg, why);
			m->bad = true;
			return -EUCLEAN;
		}
		m->bm_checked = true;
	}
	return 0;
}

/* The top-level rule: among the groups with at least the average number
 * of free inodes and free blocks, the one with the fewest directories
 * (the first found from pcg on). UINT64_MAX if none. */
static uint64_t spread_dir_group(struct mapfs_fs *fs, uint64_t pcg)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t avg_ifree = fs->free_inodes / g->ngroups;
	uint64_t avg_bfree = fs->free_blocks / g->ngroups;
	uint64_t best = UINT64_MAX, best_dirs = UINT64_MAX;

	for (uint64_t i = 0; i < g->ngroups; i++) {
		uint64_t cg = (pcg + i) % g->ngroups;
		struct mapfs_cgmem *m = &fs->cg[cg];

		if (m->bad || m->free_inodes == 0)
			continue;
		if (m->free_inodes < avg_ifree || m->free_blocks < avg_bfree)
			continue;
		if (m->ndirs < best_dirs) {
			best = cg;
			best_dirs = m->ndirs;
		}
	}
	return best;
}

uint64_t mapfs_alloc_dir_group(struct mapfs_fs *fs, mapfs_ino_t parent)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t pcg = parent < g->ninodes ? mapfs_ino_group(g, parent) : 0;
	uint64_t avg_ifree = fs->free_inodes / g->ngroups;
	uint64_t avg_bfree = fs->free_blocks / g->ngroups;
	uint64_t avg_dirs = fs->ndirs / g->ngroups;
	uint64_t max_dirs, min_ifree, min_bfree, c;

	if (parent == MAPFS_ROOT_INO) {
		c = spread_dir_group(fs, pcg);
		return c != UINT64_MAX ? c : pcg;
	}
	/* Near the parent (FreeBSD's ffs_dirpref for a directory below
	 * the top): a group may take directories while it has fewer than
	 * avg + (ipg - avg) / 16 of them and keeps three quarters of the
	 * average free inodes and blocks, room for the files that will
	 * follow. On an empty image with 8,192 inodes per group that is up
	 * to 512 directories, or 2,048 inodes, per group. */
	max_dirs = avg_dirs + (g->ipg > avg_dirs ? (g->ipg - avg_dirs) / 16
						 : 0);
	if (max_dirs == 0)
		max_dirs = 1;
	min_ifree = avg_ifree - avg_ifree / 4;
	if (min_ifree == 0)
		min_ifree = 1;
	min_bfree = avg_bfree - avg_bfree / 4;
	for (uint64_t i = 0; i < g->ngroups; i++) {
		uint64_t cg = (pcg + i) % g->ngroups;
		const struct mapfs_cgmem *m = &fs->cg[cg];

		if (m->bad || m->ndirs >= max_dirs ||
		    m->free_inodes < min_ifree || m->free_blocks < min_bfree)
			continue;
		return cg;
	}
	c = spread_dir_group(fs, pcg);
	return c != UINT64_MAX ? c : pcg;
}

int mapfs_alloc_inode(struct mapfs_fs *fs, mapfs_ino_t parent, bool is_dir,
		      mapfs_ino_t *inop)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t start = parent < g->ninodes ? mapfs_ino_group(g, parent) : 0;

	if (fs->free_inodes == 0)
		return -ENOSPC;
	if (is_dir)
		start = mapfs_alloc_dir_group(fs, parent);
	for (uint64_t i = 0; i < g->ngroups; i++) {
		uint64_t cg = (start + i) % g->ngroups;
		struct mapfs_cgmem *m = &fs->cg[cg];
		struct mapfs_dcg *h;
		uint8_t *ibm;
		uint32_t hiwater;
		int64_t slot;
		int err;

		if (m->free_inodes == 0)
			continue;
		err = group_ready(fs, cg);
		if (err == -ENOSPC)
			return err;	/* the host is full: so are we */
		if (err < 0)
			continue;
		ibm = mapfs_cg_ibm(fs, cg);
		slot = mapfs_bit_find_clear(ibm, g->ipg, 0);
		if (slot < 0) {
			MAPFS_CORRUPT(fs, "group %llu counts %llu free inodes "
				      "but its bitmap is full",
				      (unsigned long long)cg,
				      (unsigned long long)m->free_inodes);
			m->bad = true;
			continue;
		}
		h = mapfs_cg_hdr(fs, cg);
		hiwater = mapfs_cg_ihiwater(h);
		if ((uint32_t)slot >= hiwater) {
			/* A slot never used since mkfs: its table page may
			 * be a hole in the host; back it before the first
			 * store (nothing has changed yet). */
			err = itab_reserve(fs, cg, (uint64_t)slot + 1);
			if (err < 0)
				return err;
			/* Slots at or past the high-water mark were never
			 * used since mkfs and may hold an older filesystem's
			 * bytes: zero them (keeping nothing) before use. */
			for (uint32_t s = hiwater; s <= (uint32_t)slot; s++) {
				struct mapfs_dinode *di =
					mapfs_dinode(fs, cg * g->ipg + s);

				memset(di, 0, g->inode_size);
				mapfs_jdirty(fs, di, g->inode_size);
			}
			mapfs_cg_raise_ihiwater(fs, cg, (uint32_t)slot + 1);
		}
		mapfs_bit_set(ibm, (uint64_t)slot);
		m->free_inodes--;
		fs->free_inodes--;
		if (is_dir) {
			m->ndirs++;
			fs->ndirs++;
		}
		mapfs_cg_bitmap_changed(fs, cg, true, (uint32_t)slot);
		*inop = cg * g->ipg + (uint64_t)slot;
		return 0;
	}
	return -ENOSPC;
}

int mapfs_free_inode(struct mapfs_fs *fs, mapfs_ino_t ino, bool was_dir)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t cg, slot;
	uint8_t *ibm;

	if (!mapfs_ino_valid(g, ino))
		return MAPFS_CORRUPT(fs, "freeing invalid inode %llu",
				     (unsigned long long)ino);
	cg = mapfs_ino_group(g, ino);
	slot = ino % g->ipg;
	if (group_ready(fs, cg) < 0)
		return -EUCLEAN;
	ibm = mapfs_cg_ibm(fs, cg);
	if (!mapfs_bit_test(ibm, slot))
		return MAPFS_CORRUPT(fs, "freeing free inode %llu",
				     (unsigned long long)ino);
	mapfs_bit_clear(ibm, slot);
	fs->cg[cg].free_inodes++;
	fs->free_inodes++;
	if (was_dir && fs->cg[cg].ndirs > 0) {
		fs->cg[cg].ndirs--;
		fs->ndirs--;
	}
	mapfs_cg_bitmap_changed(fs, cg, true, (uint32_t)slot);
	return 0;
}

uint64_t mapfs_avail_blocks(const struct mapfs_fs *fs)
{
	return fs->free_blocks > fs->g.reserved_blocks
		       ? fs->free_blocks - fs->g.reserved_blocks
		       : 0;
}

/* Make sure host space backs block bno of group cg. Space is reserved in
 * windows from bno on, so that allocation running through a group costs
 * one fallocate per window. A window is 1/RESV_SHARE of the data blocks
 * the group holds (the journal not counted), from RESV_MIN_BYTES to
 * RESV_MAX_BYTES: what is reserved and not (yet) used stays a small share
 * of what is, and an empty group touched for one small file costs 64 KiB,
 * not megabytes. What is known reserved is one range per group: a window
 * that overlaps or touches it extends it, so a writer filling the blocks
 * behind a window that writing ahead (mapfs_free_run) reserved further on
 * finds them reserved. With `one`, a nearly full host may still back the
 * single block. A negative errno when the host has no room. */
static int reserve_at(struct mapfs_fs *fs, uint64_t cg, uint64_t bno,
		      bool one, int *errp)
{
	const struct mapfs_geom *g = &fs->g;
	struct mapfs_cgmem *m = &fs->cg[cg];
	uint64_t end = mapfs_group_start(g, cg) + mapfs_group_nblocks(g, cg);
	uint64_t used = mapfs_group_ndata(g, cg) - m->free_blocks;
	uint64_t lo = RESV_MIN_BYTES >> g->bshift;
	uint64_t hi = RESV_MAX_BYTES >> g->bshift;
	uint64_t win, want;
	int err;

	if (bno >= m->resv_start && bno < m->resv_end)
		return 0;
	if (g->jblocks && mapfs_bno_group(g, g->jstart) == cg)
		used -= used < g->jblocks ? used : g->jblocks;
	win = used / RESV_SHARE;
	if (win < lo)
		win = lo;
	if (win > hi)
		win = hi;
	if (win == 0)
		win = 1;
	want = end - bno < win ? end - bno : win;
	err = mapfs_fs_reserve(fs, bno, want);
	if (err == -ENOSPC && want > 1 && one) {
		want = 1;
		err = mapfs_fs_reserve(fs, bno, want);
	}
	if (err < 0) {
		*errp = err;
		return err;
	}
	if (m->resv_end && bno <= m->resv_end && bno + want >= m->resv_start) {
		if (bno < m->resv_start)
			m->resv_start = bno;
		if (bno + want > m->resv_end)
			m->resv_end = bno + want;
	} else {
		m->resv_start = bno;
		m->resv_end = bno + want;
	}
	return 0;
}

/* Take a free block in group cg at or after bit `from`; -1 if none (with
 * *errp set when the host had no space to back it). */
static int64_t take_in_group(struct mapfs_fs *fs, uint64_t cg, uint32_t from,
			     int *errp)
{
	const struct mapfs_geom *g = &fs->g;
	uint32_t n = mapfs_group_nblocks(g, cg);
	const uint8_t *quar;
	uint64_t bno;
	uint8_t *bbm;
	int64_t bit;
	int err;

	if (fs->cg[cg].free_blocks == 0)
		return -1;
	err = group_ready(fs, cg);
	if (err < 0) {
		if (err == -ENOSPC)
			*errp = err;	/* no host space for its header */
		return -1;
	}
	bbm = mapfs_cg_bbm(fs, cg);
	quar = mapfs_journal_quarantine(fs, cg);
	if (from < g->data_off || from >= n)
		from = g->data_off;
	bit = mapfs_bit_find_clear2(bbm, quar, n, from);
	if (bit < 0 && quar)
		return -1;	/* its free blocks wait for a commit */
	if (bit < 0 || (uint64_t)bit < g->data_off) {
		/* Metadata bits are always set in a sane group. */
		MAPFS_CORRUPT(fs, "group %llu counts %llu free blocks but has "
			      "none", (unsigned long long)cg,
			      (unsigned long long)fs->cg[cg].free_blocks);
		fs->cg[cg].bad = true;
		return -1;
	}
	bno = mapfs_group_start(g, cg) + (uint64_t)bit;
	if (!mapfs_bno_is_data(g, bno)) {
		/* A clear bit over the journal (group 0's data area holds
		 * it): the bitmap is damaged, and the block is not ours to
		 * hand out. */
		MAPFS_CORRUPT(fs, "group %llu marks journal block %llu free",
			      (unsigned long long)cg,
			      (unsigned long long)bno);
		fs->cg[cg].bad = true;
		return -1;
	}
	if (reserve_at(fs, cg, bno, true, errp) < 0)
		return -1;
	mapfs_bit_set(bbm, (uint64_t)bit);
	fs->cg[cg].free_blocks--;
	fs->free_blocks--;
	mapfs_cg_bitmap_changed(fs, cg, false, (uint32_t)bit);
	return (int64_t)bno;
}

int mapfs_alloc_block(struct mapfs_fs *fs, mapfs_bno_t pref,
		      bool use_reserve, mapfs_bno_t *bnop)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t cg;
	uint32_t from;

	if (fs->free_blocks == 0 ||
	    (!use_reserve && fs->free_blocks <= g->reserved_blocks))
		return -ENOSPC;
	if (pref && mapfs_bno_is_data(g, pref)) {
		cg = mapfs_bno_group(g, pref);
		from = (uint32_t)(pref - mapfs_group_start(g, cg));
	} else {
		cg = fs->in->cg_rotor % g->ngroups;
		from = g->data_off;
	}
	for (uint64_t i = 0; i < g->ngroups; i++) {
		uint64_t c = (cg + i) % g->ngroups;
		int err = 0;
		int64_t bno = take_in_group(fs, c, i == 0 ? from : g->data_off,
					    &err);

		if (bno >= 0) {
			assert(mapfs_bno_is_data(g, (uint64_t)bno));
			fs->in->cg_rotor = c;
			*bnop = (uint64_t)bno;
			return 0;
		}
		if (err < 0)
			return err;	/* the host is full: so are we */
	}
	return -ENOSPC;
}

uint64_t mapfs_free_run(struct mapfs_fs *fs, mapfs_bno_t bno, uint64_t max)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t cg, start, bit, n = 0, lim;
	const uint8_t *bbm, *quar;

	if (!mapfs_bno_is_data(g, bno))
		return 0;
	cg = mapfs_bno_group(g, bno);
	/* Only in a group allocation has used (initialized, bitmaps
	 * checked), ... */
	if (fs->cg[cg].free_blocks == 0 || !fs->cg[cg].init ||
	    fs->cg[cg].bad || !fs->cg[cg].bm_checked)
		return 0;
	start = mapfs_group_start(g, cg);
	lim = start + mapfs_group_nblocks(g, cg) - bno;
	if (max > lim)
		max = lim;
	bbm = mapfs_cg_bbm(fs, cg);
	quar = mapfs_journal_quarantine(fs, cg);
	for (bit = bno - start; n < max; bit++, n++) {
		int err = 0;

		if (mapfs_bit_test(bbm, bit) ||
		    (quar && mapfs_bit_test(quar, bit)) ||
		    !mapfs_bno_is_data(g, start + bit))
			break;
		/* ... with host space behind it, reserved as allocation
		 * would (no single-block fallback: this is a guess). */
		if (reserve_at(fs, cg, start + bit, false, &err) < 0)
			break;
	}
	return n;
}

int mapfs_free_block(struct mapfs_fs *fs, mapfs_bno_t bno)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t cg, bit;
	uint8_t *bbm;
	int err;

	if (!mapfs_bno_is_data(g, bno))
		return MAPFS_CORRUPT(fs, "freeing non-data block %llu",
				     (unsigned long long)bno);
	cg = mapfs_bno_group(g, bno);
	bit = bno - mapfs_group_start(g, cg);
	if (group_ready(fs, cg) < 0)
		return -EUCLEAN;
	bbm = mapfs_cg_bbm(fs, cg);
	if (!mapfs_bit_test(bbm, bit))
		return MAPFS_CORRUPT(fs, "freeing free block %llu",
				     (unsigned long long)bno);
	/* Without the journal nothing zeroes the block: the superblock
	 * must stop saying that free blocks read as zeros first. */
	err = fs->j ? 0 : mapfs_fs_unzeroed(fs);
	if (err < 0)
		return err;
	err = mapfs_journal_note_free(fs, bno);
	if (err < 0)
		return err;
	mapfs_bit_clear(bbm, bit);
	fs->cg[cg].free_blocks++;
	fs->free_blocks++;
	mapfs_cg_bitmap_changed(fs, cg, false, (uint32_t)bit);
	if (fs->in->forget_n && fs->in->forget_lo + fs->in->forget_n == bno) {
		fs->in->forget_n++;
	} else {
		mapfs_fs_forget_blocks(fs, fs->in->forget_lo, fs->in->forget_n);
		fs->in->forget_lo = bno;
		fs->in->forget_n = 1;
	}
	return 0;
}

/* The first bit at or after `from` (below n) that is `set`; n if none. */
static uint64_t bit_next(const uint8_t *bm, uint64_t n, uint64_t from,
			 bool set)
{
	while (from < n) {
		if ((from & 63) == 0 && n - from >= 64) {
			uint64_t w;

			memcpy(&w, bm + (from >> 3), 8);
			w = le64toh(w);
			if (!set)
				w = ~w;
			if (w == 0) {
				from += 64;
				continue;
			}
			return from + (uint64_t)__builtin_ctzll(w);
		}
		if (mapfs_bit_test(bm, from) == set)
			return from;
		from++;
	}
	return n;
}

/* Zero the free run [bno, end) of data blocks, never the journal's
 * (whatever a damaged bitmap says). */
static void zero_run(struct mapfs_fs *fs, mapfs_bno_t bno, mapfs_bno_t end)
{
	const struct mapfs_geom *g = &fs->g;
	mapfs_bno_t js = g->jstart, je = g->jstart + g->jblocks;

	if (g->jblocks && bno < je && end > js) {
		if (bno < js)
			mapfs_fs_zero_free(fs, bno, js - bno);
		if (end > je)
			mapfs_fs_zero_free(fs, je, end - je);
		return;
	}
	mapfs_fs_zero_free(fs, bno, end - bno);
}

uint64_t mapfs_alloc_zero_free(struct mapfs_fs *fs)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t runs = 0;

	if (fs->in->free_zeroed)
		return 0;
	if (fs->free_zero_found) {
		fs->in->free_zeroed = true;
		return 0;
	}
	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		struct mapfs_cgmem *m = &fs->cg[cg];
		uint64_t start = mapfs_group_start(g, cg);
		uint64_t n = mapfs_group_nblocks(g, cg), bit = g->data_off;
		const uint8_t *bbm = NULL;

		/* A group never used is free from end to end (and may
		 * hold an older filesystem's bytes: mkfs does not erase). */
		if (m->bad || (m->init && group_ready(fs, cg) < 0))
			continue;
		if (m->init)
			bbm = mapfs_cg_bbm(fs, cg);
		while (bit < n) {
			uint64_t end = n;

			if (bbm) {
				bit = bit_next(bbm, n, bit, false);
				if (bit >= n)
					break;
				end = bit_next(bbm, n, bit, true);
			}
			zero_run(fs, start + bit, start + end);
			runs++;
			bit = end;
		}
	}
	fs->in->free_zeroed = true;
	return runs;
}
