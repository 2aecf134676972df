/* SPDX-License-Identifier: MIT */
/*
 * tune.c - change a made filesystem (tune.mapfs and the tests): the
 * label, the uuid, root's reserve, and a journal for an image made
 * without one (mkfs.mapfs -J 0).
 *
 * The top layer, after grow.c (tests/layering.sh): it composes super.c
 * (the stores), cg.c (the journal's blocks in a bitmap), journal.c (a
 * fresh ring header), txn.c (the operation bracket and the commits) and
 * format.c (mkfs's journal size).
 *
 * Nothing but the superblock changes for the label, the uuid and the
 * reserve: the uuid is identity only. Every checksum is seeded with
 * sb_csum_seed, which mkfs makes crc32c(uuid); a new uuid keeps the seed
 * and sets the incompat bit CSUM_SEED, which tells readers not to expect
 * seed = crc32c(uuid) (docs/FORMAT.md). Re-sealing every structure with
 * a new seed could not be atomic; this is one superblock store.
 *
 * Crash safety. The primary and its copies are separate pages:
 *  - with the journal running (MAPFS_OPEN_JOURNAL, an image with a
 *    journal), all the stores are one journaled operation, committed by
 *    mapfs_fs_sync: after a crash the replay gives all of them or none;
 *  - without it (an image made with -J 0, or the journal being added
 *    now), growfs's order: the primary marked not clean first (synced);
 *    then the journal area zeroed and its header written (synced), its
 *    blocks marked used in their group (synced); the copies; the primary
 *    last, clean. An interrupted run leaves an image the daemon refuses
 *    until fsck.mapfs has checked it: the copies are put back in line
 *    with the primary and blocks marked for a journal the superblock
 *    does not name are freed.
 *
 * Callers hold the image exclusively (the image lock: not mounted).
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

int mapfs_tune_journal_place(const struct mapfs_fs *fs, uint64_t bytes,
			     uint64_t *jstart, uint64_t *jblocks, char *why,
			     size_t whylen)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t area = mapfs_group_ndata(g, 0), n;

	if (fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL) {
		WHY("the filesystem already has a journal (%llu blocks at "
		    "block %llu)", (unsigned long long)g->jblocks,
		    (unsigned long long)g->jstart);
		return -EINVAL;
	}
	if (bytes == 0) {
		bytes = mapfs_format_journal_default(g,
						     g->nblocks << g->bshift);
		if (bytes == 0) {
			WHY("the filesystem is too small for a journal (group "
			    "0 has %llu data blocks)",
			    (unsigned long long)area);
			return -EINVAL;
		}
	}
	/* mkfs's limits (format.c's plan_journal). */
	n = (bytes + g->bsize - 1) >> g->bshift;
	if (bytes > (UINT64_MAX >> 1) ||
	    n << g->bshift < MAPFS_JOURNAL_MIN_BYTES || n > area / 2) {
		WHY("journal of %llu bytes does not fit (%u KiB to %llu KiB "
		    "here)", (unsigned long long)bytes,
		    MAPFS_JOURNAL_MIN_BYTES / 1024,
		    (unsigned long long)(((area / 2) << g->bshift) / 1024));
		return -EINVAL;
	}
	/* mkfs's place first: the end of group 0; then the run of free
	 * blocks nearest the end of each group in turn (the allocator
	 * fills groups from their start). An unused group is all free. */
	for (uint64_t cg = 0; cg < g->ngroups; cg++) {
		uint64_t start = mapfs_group_start(g, cg);
		uint32_t nb = mapfs_group_nblocks(g, cg);
		const uint8_t *bbm;
		uint64_t run = 0;

		char gwhy[200] = "";
		bool unused;

		if (mapfs_group_ndata(g, cg) < n || fs->cg[cg].bad)
			continue;
		if (!fs->cg[cg].init) {
			*jstart = start + nb - n;
			*jblocks = n;
			return 0;
		}
		/* Its header is rebuilt with every page CRC recomputed
		 * (add_journal): seal no damage. */
		if (mapfs_cg_check(fs, cg, &unused, gwhy, sizeof(gwhy)) < 0)
			continue;
		bbm = mapfs_cg_bbm(fs, cg);
		for (uint32_t b = nb; b-- > g->data_off;) {
			run = mapfs_bit_test(bbm, b) ? 0 : run + 1;
			if (run == n) {
				*jstart = start + b;
				*jblocks = n;
				return 0;
			}
		}
	}
	WHY("no run of %llu free blocks in one group for the journal",
	    (unsigned long long)n);
	return -ENOSPC;
}

int mapfs_tune_check(const struct mapfs_fs *fs, const struct mapfs_tune *t,
		     char *why, size_t whylen)
{
	uint64_t js, jb;

	if (fs->flags & MAPFS_OPEN_RDONLY) {
		WHY("image opened read-only");
		return -EROFS;
	}
	if (fs->state != MAPFS_STATE_CLEAN || atomic_load(&fs->error)) {
		WHY("filesystem not clean: run fsck.mapfs first");
		return -EUCLEAN;
	}
	if (t->set_label && strnlen(t->label, sizeof(t->label)) >
	    MAPFS_LABEL_MAX) {
		WHY("label too long: at most %u bytes", MAPFS_LABEL_MAX);
		return -EINVAL;
	}
	if (t->set_minfree && t->minfree_pct > 50) {
		WHY("reserved percentage %u is above 50", t->minfree_pct);
		return -EINVAL;
	}
	if (t->add_journal)
		return mapfs_tune_journal_place(fs, t->journal_bytes, &js,
						&jb, why, whylen);
	return 0;
}

/* The superblock fields of t into fs (memory only). */
static void apply_fields(struct mapfs_fs *fs, const struct mapfs_tune *t)
{
	struct mapfs_geom *g = &fs->g;

	if (t->set_label) {
		memset(fs->label, 0, sizeof(fs->label));
		memcpy(fs->label, t->label, strnlen(t->label, MAPFS_LABEL_MAX));
	}
	if (t->set_uuid) {
		memcpy(fs->uuid, t->uuid, sizeof(fs->uuid));
		/* The seed stays; say so unless it is the uuid's own. */
		if (mapfs_crc32c(~0u, fs->uuid, sizeof(fs->uuid)) == g->seed)
			fs->feat_incompat &= ~MAPFS_FEAT_INCOMPAT_CSUM_SEED;
		else
			fs->feat_incompat |= MAPFS_FEAT_INCOMPAT_CSUM_SEED;
	}
	if (t->set_minfree) {
		/* As mkfs and growfs: a share of the data blocks. */
		uint64_t data = g->nblocks - g->ngroups * (uint64_t)g->data_off;

		g->minfree_pct = t->minfree_pct;
		g->reserved_blocks = data * t->minfree_pct / 100;
	}
	fs->write_time = mapfs_now().sec;
}

/* msync a range of the image: a step of the journal-less order is durable
 * before the next begins. The power-loss tests' hook (fs->flush_hook)
 * sees each one, as it sees the journal's flushes. */
static int flush_range(struct mapfs_fs *fs, uint64_t off, uint64_t len)
{
	int err = mapfs_fs_sync_range(fs, off, len);

	if (err == 0 && fs->flush_hook)
		fs->flush_hook(fs->flush_arg);
	return err;
}

/* Zero [p, p+len) page by page, storing only into pages that are not
 * zero (a hole of a sparse image stays a hole). */
static void zero_pages(uint8_t *p, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += MAPFS_PAGE_SIZE)
		if (!mapfs_is_zero(p + off, MAPFS_PAGE_SIZE))
			memset(p + off, 0, MAPFS_PAGE_SIZE);
}

/* The journal at [js, js + jb) (from mapfs_tune_journal_place): ring
 * zeroed and header written, synced; then its blocks marked used in
 * their group, synced. The superblock that names it is the caller's,
 * later. No journal is running. */
static int add_journal(struct mapfs_fs *fs, uint64_t js, uint64_t jb,
		       char *why, size_t whylen)
{
	struct mapfs_geom *g = &fs->g;
	uint64_t cg = js / g->bpg, start = mapfs_group_start(g, cg);
	uint32_t ihiwater;
	uint8_t *bbm;
	int err;

	/* mapfs_tune_journal_place checked the group. */
	ihiwater = fs->cg[cg].init ? mapfs_cg_ihiwater(mapfs_cg_hdr(fs, cg))
				   : 0;
	zero_pages(fs->dbase + (js << g->bshift), jb << g->bshift);
	g->jstart = js;
	g->jblocks = jb;
	fs->feat_incompat |= MAPFS_FEAT_INCOMPAT_JOURNAL;
	mapfs_journal_format(fs);
	err = flush_range(fs, js << g->bshift, jb << g->bshift);
	if (err < 0)
		goto fail_sync;

	if (!fs->cg[cg].init)
		mapfs_cg_init(fs, cg);
	bbm = mapfs_cg_bbm(fs, cg);
	for (uint64_t b = js; b < js + jb; b++) {
		assert(!mapfs_bit_test(bbm, b - start));
		mapfs_bit_set(bbm, b - start);
	}
	fs->cg[cg].free_blocks -= jb;
	fs->free_blocks -= jb;
	mapfs_cg_rebuild(fs, cg, ihiwater);
	err = flush_range(fs, (start + g->hdr_off) << g->bshift,
				  (uint64_t)3 << g->bshift);
	if (err < 0)
		goto fail_sync;
	return 0;
fail_sync:
	WHY("cannot write the image: %s", strerror(-err));
	return err;
}

/* Without a running journal: growfs's order (see the top). */
static int tune_direct(struct mapfs_fs *fs, const struct mapfs_tune *t,
		       char *why, size_t whylen)
{
	uint32_t saved_state = fs->state;
	uint64_t js = 0, jb = 0;
	int err;

	if (t->add_journal) {
		err = mapfs_tune_journal_place(fs, t->journal_bytes, &js, &jb,
					       why, whylen);
		if (err < 0)
			return err;
	}
	fs->state = MAPFS_STATE_MOUNTED;
	mapfs_super_store(fs);
	err = flush_range(fs, 0, MAPFS_PAGE_SIZE);
	if (err < 0)
		goto fail_sync;
	if (t->add_journal) {
		err = add_journal(fs, js, jb, why, whylen);
		if (err < 0)
			return err;
	}
	apply_fields(fs, t);
	fs->state = saved_state;
	mapfs_super_store_copies(fs);
	err = flush_range(fs, 0, fs->size);
	if (err < 0)
		goto fail_sync;
	mapfs_super_store(fs);
	err = flush_range(fs, 0, MAPFS_PAGE_SIZE);
	if (err < 0)
		goto fail_sync;
	return 0;
fail_sync:
	WHY("cannot write the image: %s", strerror(-err));
	return err;
}

/* With the journal running: one operation, then a full commit. */
static int tune_journaled(struct mapfs_fs *fs, const struct mapfs_tune *t,
			  char *why, size_t whylen)
{
	int err;

	err = mapfs_op_begin(fs);
	if (err < 0)
		goto fail;
	apply_fields(fs, t);
	mapfs_super_store(fs);
	mapfs_super_store_copies(fs);
	err = mapfs_op_end(fs);
	if (err < 0)
		goto fail;
	/* The journaled open cleared sb_free_zeroed; no block was freed
	 * or written here, so what it said still holds: the full commit
	 * writes it back (txn.c) and the next mount need not zero every
	 * free block again. */
	if (fs->free_zero_found)
		fs->in->free_zeroed = true;
	err = mapfs_fs_sync(fs);
	if (err < 0)
		goto fail;
	return 0;
fail:
	WHY("cannot write the image: %s", strerror(-err));
	return err;
}

int mapfs_tune(struct mapfs_fs *fs, const struct mapfs_tune *t, char *why,
	       size_t whylen)
{
	int err;

	err = mapfs_tune_check(fs, t, why, whylen);
	if (err < 0)
		return err;
	if (fs->j && !t->add_journal)
		return tune_journaled(fs, t, why, whylen);
	return tune_direct(fs, t, why, whylen);
}
