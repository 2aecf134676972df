/* SPDX-License-Identifier: MIT */
/*
 * pass5.c - Pass 5: group headers, bitmaps, summary counts, superblock
 * copies.
 *
 * Per group:
 *  - mapfs_cg_check: header fields and CRC, bitmap page CRCs (a failing
 *    CRC gets its own code);
 *  - initialized groups: the block bitmap must mark exactly the group's
 *    metadata blocks (0 .. data_off-1) and the blocks pass 1 saw claimed;
 *    the inode bitmap must mark the reserved inodes of group 0 and, past
 *    the high-water mark, nothing (below it pass 1 compared each slot);
 *  - unused groups: no block in them may be claimed;
 *  - the header's free block, free inode and directory counts must equal
 *    what pass 1 counted.
 * Then the superblock's totals, and every superblock copy (groups for
 * which mapfs_group_has_sb is true) must decode and agree with the
 * superblock in use on geometry and uuid.
 * Differences in bitmaps are reported as runs of blocks, not one by one.
 */
#include "fsck.h"

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bitmap pages holding nbits bits (the core's rule: 4 KiB pages). */
static uint32_t bm_pages(uint64_t nbits)
{
	return (uint32_t)((nbits + 8ull * MAPFS_PAGE_SIZE - 1) /
			  (8ull * MAPFS_PAGE_SIZE));
}

static void check_header(struct fsck_ctx *c, uint64_t cg)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_dcg *h = mapfs_cg_hdr(fs, cg);
	char why[256] = "";
	bool unused, crc_reported = false;
	uint32_t crc;

	if (mapfs_cg_check(fs, cg, &unused, why, sizeof(why)) == 0)
		return;
	if (h && mapfs_cg_magic(h) == MAPFS_CG_MAGIC) {
		crc = mapfs_cg_hdr_crc(fs, cg, h);
		if (crc != mapfs_cg_crc(h)) {
			fsck_problem(c, P5_CG_CRC,
				     "group %llu: header checksum is wrong "
				     "(stored 0x%08x, computed 0x%08x)",
				     (unsigned long long)cg,
				     mapfs_cg_crc(h), crc);
			crc_reported = true;
		}
		for (int ibm = 0; ibm < 2; ibm++) {
			uint64_t nbits = ibm ? fs->g.ipg :
				mapfs_group_nblocks(&fs->g, cg);
			uint32_t np = bm_pages(nbits);

			for (uint32_t p = 0; p < np &&
			     p < MAPFS_CG_MAX_BMPAGES; p++) {
				crc = mapfs_cg_bitmap_crc(fs, cg, ibm, p);
				if (crc == mapfs_cg_bm_crc(h, ibm, p))
					continue;
				fsck_problem(c, ibm ? P5_IBM_CRC : P5_BBM_CRC,
					     "group %llu: %s bitmap page %u "
					     "checksum is wrong",
					     (unsigned long long)cg,
					     ibm ? "inode" : "block", p);
				crc_reported = true;
			}
		}
	}
	if (!crc_reported)
		fsck_problem(c, P5_CG_BAD, "group %llu: %s",
			     (unsigned long long)cg, why);
}

/* A run of consecutive blocks or inodes with the same difference. */
struct run {
	enum fsck_pr code;
	uint64_t cg, first, last;
	bool open;
	const char *what;
};

static void run_flush(struct fsck_ctx *c, struct run *r)
{
	const char *msg;
	char what[80];

	if (!r->open)
		return;
	r->open = false;
	/* "block 7" or "blocks 7-9" */
	if (r->first == r->last)
		snprintf(what, sizeof(what), "%.*s %llu",
			 (int)strlen(r->what) - 1, r->what,
			 (unsigned long long)r->first);
	else
		snprintf(what, sizeof(what), "%s %llu-%llu", r->what,
			 (unsigned long long)r->first,
			 (unsigned long long)r->last);
	switch (r->code) {
	case P5_META_NOT_MARKED:
		msg = "group metadata marked free in the block bitmap";
		break;
	case P5_BLOCK_USED_NOT_MARKED:
		msg = "in use but marked free in the block bitmap";
		break;
	case P5_BLOCK_MARKED_NOT_USED:
		msg = "marked used in the block bitmap but not in use";
		break;
	case P5_BLOCK_IN_UNUSED_GROUP:
		msg = "in use but the group was never initialized";
		break;
	case P5_RESERVED_INODE_NOT_MARKED:
		msg = "reserved but marked free in the inode bitmap";
		break;
	case P5_INODE_MARKED_NOT_USED:
		msg = "past the inode high-water mark but marked used in the "
		      "inode bitmap";
		break;
	default:
		return;
	}
	fsck_problem(c, r->code, "group %llu: %s: %s",
		     (unsigned long long)r->cg, what, msg);
}

static void run_add(struct fsck_ctx *c, struct run *r, enum fsck_pr code,
		    uint64_t cg, uint64_t n, const char *what)
{
	if (r->open && r->code == code && r->last + 1 == n)
		r->last = n;
	else {
		run_flush(c, r);
		r->open = true;
		r->code = code;
		r->cg = cg;
		r->first = r->last = n;
		r->what = what;
	}
}

static void check_block_bitmap(struct fsck_ctx *c, uint64_t cg)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	const struct fsck_group *grp = &c->grp[cg];
	const uint8_t *bbm = mapfs_cg_bbm(fs, cg);
	uint32_t nb = mapfs_group_nblocks(g, cg);
	uint64_t start = mapfs_group_start(g, cg);
	struct run r = { 0 };

	if (!bbm)
		return;
	for (uint32_t b = 0; b < nb; b++) {
		bool meta = b < g->data_off;
		bool used = grp->claimed && mapfs_bit_test(grp->claimed, b);
		/* As found on disk, before fsck_prepare set bits. */
		bool marked = mapfs_bit_test(bbm, b) !=
			      (grp->bbm_pre && mapfs_bit_test(grp->bbm_pre, b));

		if (marked == (meta || used)) {
			run_flush(c, &r);
			continue;
		}
		if (meta)
			run_add(c, &r, P5_META_NOT_MARKED, cg, start + b,
				"blocks");
		else if (used)
			run_add(c, &r, P5_BLOCK_USED_NOT_MARKED, cg, start + b,
				"blocks");
		else
			run_add(c, &r, P5_BLOCK_MARKED_NOT_USED, cg, start + b,
				"blocks");
	}
	run_flush(c, &r);
}

static void check_unused_group(struct fsck_ctx *c, uint64_t cg)
{
	const struct mapfs_geom *g = &c->fs->g;
	const struct fsck_group *grp = &c->grp[cg];
	uint32_t nb = mapfs_group_nblocks(g, cg);
	uint64_t start = mapfs_group_start(g, cg);
	struct run r = { 0 };

	if (!grp->claimed)
		return;
	for (uint32_t b = 0; b < nb; b++) {
		if (mapfs_bit_test(grp->claimed, b))
			run_add(c, &r, P5_BLOCK_IN_UNUSED_GROUP, cg, start + b,
				"blocks");
		else
			run_flush(c, &r);
	}
	run_flush(c, &r);
}

static void check_inode_bitmap(struct fsck_ctx *c, uint64_t cg)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	const struct fsck_group *grp = &c->grp[cg];
	const uint8_t *ibm = mapfs_cg_ibm(fs, cg);
	struct run r = { 0 };

	if (!ibm)
		return;
	for (uint32_t s = 0; s < g->ipg; s++) {
		mapfs_ino_t ino = cg * g->ipg + s;
		bool marked = mapfs_bit_test(ibm, s) !=
			      (grp->ibm_pre && mapfs_bit_test(grp->ibm_pre, s));

		if (ino < g->first_ino) {
			if (!marked)
				run_add(c, &r, P5_RESERVED_INODE_NOT_MARKED,
					cg, ino, "inodes");
			else
				run_flush(c, &r);
		} else if (s >= grp->hiwater && marked) {
			run_add(c, &r, P5_INODE_MARKED_NOT_USED, cg, ino,
				"inodes");
		} else {
			run_flush(c, &r);
		}
	}
	run_flush(c, &r);
}

/* The three counts a group header and the superblock keep. */
static const struct {
	const char *what;
	enum fsck_pr cg_code, sb_code;
} counts[3] = {
	{ "free block", P5_CG_FREE_BLOCKS, P5_SB_FREE_BLOCKS },
	{ "free inode", P5_CG_FREE_INODES, P5_SB_FREE_INODES },
	{ "directory", P5_CG_NDIRS, P5_SB_NDIRS },
};

/* Report each count (free blocks, free inodes, directories) that `where`
 * (a group, or the superblock if sb) holds as have[i] but should be
 * want[i]. True if any is to be repaired. */
static bool report_counts(struct fsck_ctx *c, const char *where, bool sb,
			  const uint64_t have[3], const uint64_t want[3])
{
	bool fix = false;

	for (int i = 0; i < 3; i++)
		if (have[i] != want[i])
			fix |= fsck_problem(c, sb ? counts[i].sb_code :
						    counts[i].cg_code,
					    "%s: %s count is %llu, should be "
					    "%llu", where, counts[i].what,
					    (unsigned long long)have[i],
					    (unsigned long long)want[i]);
	return fix;
}

static void check_counts(struct fsck_ctx *c, uint64_t cg, uint64_t fb,
			 uint64_t fi, uint64_t nd)
{
	const struct mapfs_cgmem *m = &c->fs->cg[cg];
	const uint64_t have[3] = { m->free_blocks, m->free_inodes, m->ndirs };
	const uint64_t want[3] = { fb, fi, nd };
	char where[32];

	/* The repairs rewrite the header with the counts
	 * (fsck_rebuild_group). */
	snprintf(where, sizeof(where), "group %llu", (unsigned long long)cg);
	(void)report_counts(c, where, false, have, want);
}

static void check_sb_copies(struct fsck_ctx *c)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;

	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		const struct mapfs_dsuper *d;
		struct mapfs_geom cg_geom;
		char why[256] = "";

		/* The primary was reported when it failed to decode. */
		if (cg == 0 || cg == c->sb_group || !mapfs_group_has_sb(cg))
			continue;
		d = mapfs_block(fs, mapfs_group_start(g, cg));
		if (!d) {
			(void)fsck_problem(c, P5_SB_COPY_BAD,
				     "superblock copy in group %llu is "
				     "outside the image",
				     (unsigned long long)cg);
			continue;
		}
		if (mapfs_super_decode(d, fs->size, cg, &cg_geom, why,
				       sizeof(why)) != 0) {
			if (fsck_problem(c, P5_SB_COPY_BAD,
					 "superblock copy in group %llu: %s",
					 (unsigned long long)cg, why))
				c->write_copies = true;
			continue;
		}
		if ((memcmp(&cg_geom, g, sizeof(cg_geom)) != 0 ||
		     memcmp(d->sb_uuid, fs->uuid, sizeof(fs->uuid)) != 0) &&
		    fsck_problem(c, P5_SB_COPY_DIFFERS,
				     "superblock copy in group %llu disagrees "
				     "with the superblock in use on geometry "
				     "or uuid",
				     (unsigned long long)cg))
			c->write_copies = true;
	}
}

int fsck_pass5(struct fsck_ctx *c)
{
	struct mapfs_fs *fs = c->fs;
	const struct mapfs_geom *g = &fs->g;
	uint64_t tfb = 0, tfi = 0, tnd = 0, sfb, sfi, snd;
	bool fix_sb = false;

	/* Groups kept from the allocator during repairs are checked (and
	 * rebuilt) like the others now. */
	fsck_unprepare(c);
	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		uint64_t ndata = mapfs_group_ndata(g, cg);
		uint64_t fb, fi, nd;
		bool init_it = false;

		check_header(c, cg);
		if (!fs->cg[cg].init) {
			uint64_t before = c->pr_count[P5_BLOCK_IN_UNUSED_GROUP];
			uint64_t fixed = c->corrected;

			check_unused_group(c, cg);
			/* Its blocks in use: initialize it (rebuilt below). */
			init_it = c->pr_count[P5_BLOCK_IN_UNUSED_GROUP] > before &&
				  c->corrected > fixed;
			if (!init_it) {
				tfb += ndata;
				tfi += g->ipg;
				continue;
			}
			mapfs_cg_init(fs, cg);
		}
		if (!init_it) {
			check_block_bitmap(c, cg);
			check_inode_bitmap(c, cg);
		}
		fsck_group_counts(c, cg, &fb, &fi, &nd);
		if (!fs->cg[cg].bad && !init_it)
			check_counts(c, cg, fb, fi, nd);
		if (fsck_writing(c))
			fsck_rebuild_group(c, cg, fb, fi, nd);
		tfb += fb;
		tfi += fi;
		tnd += nd;
	}
	c->free_blocks = tfb;
	/* A copy's counters are as old as the copy: only the primary's
	 * are expected to be current. */
	if (c->sb_group != 0) {
		fsck_verbose(c, "  superblock counters not checked (using "
			     "the copy in group %llu)",
			     (unsigned long long)c->sb_group);
		check_sb_copies(c);
		goto out;
	}
	/* The superblock's counters as read, moved by whatever the repairs
	 * allocated and freed through the core. */
	sfb = fs->sb_free_blocks + (fs->free_blocks - c->open_free_blocks);
	sfi = fs->sb_free_inodes + (fs->free_inodes - c->open_free_inodes);
	snd = fs->sb_ndirs + (fs->ndirs - c->open_ndirs);
	fix_sb = report_counts(c, "superblock", true,
			       (const uint64_t[3]){ sfb, sfi, snd },
			       (const uint64_t[3]){ tfb, tfi, tnd });
	check_sb_copies(c);
out:
	/* The totals the superblock gets (main.c stores it). */
	if (fsck_writing(c)) {
		fs->free_blocks = tfb;
		fs->free_inodes = tfi;
		fs->ndirs = tnd;
	}
	(void)fix_sb;
	return 0;
}
