/* SPDX-License-Identifier: MIT */
/*
 * grow.c - enlarge a filesystem in place (growfs.mapfs and the tests).
 *
 * The top layer, beside format.c (tests/layering.sh). Growing never moves
 * anything: group g always covers blocks g*bpg .. g*bpg+bpg-1, so a larger
 * image only means more blocks at the end. Three things change:
 *
 *  - the old last group, when it was partial, gets longer (up to bpg
 *    blocks). If it is initialized its header is rebuilt for the new
 *    length (the new blocks are free, their bitmap bits zero); if it is
 *    unused there is nothing to write;
 *  - the new groups are left unused (an all-zero header and bitmaps, the
 *    allocator initializes them on first use), exactly what mkfs leaves,
 *    so growing a 64 MiB image to 2 TiB writes a few dozen pages. Only
 *    header and bitmap pages that are not already zero are written (the
 *    grown region may hold old bytes when the file or device was larger
 *    than the filesystem);
 *  - the superblock: geometry, totals and the root reserve (minfree of
 *    the new data blocks), stored into the primary and every copy, new
 *    copy groups included.
 *
 * Order: the primary is first marked "not clean" (synced), then the
 * groups and the copies are written and synced, then the primary with
 * the new geometry and state clean, synced last. An interrupted grow
 * leaves an image the daemon refuses until fsck.mapfs has checked it.
 *
 * The caller makes the image large enough (growfs.mapfs enlarges the file
 * and attaches again) and holds it exclusively: the image must not be
 * mounted.
 *
 * Growing while mounted (mapfs_grow_online, the daemon's MAPFS_IOC_GROW):
 * the same group arithmetic (grow_groups), but the journal replaces the
 * "not clean" dance. The file is enlarged and the new tail mapped first
 * (mount.c, inside the address space reserved at mount, so no pointer
 * into the mapping moves); then, inside the one operation the daemon
 * holds open under its exclusive lock, the groups, every superblock copy
 * and the primary are stored, all into that operation's record. Replay
 * applies a record whole or not at all, so a crash leaves the old
 * geometry (in a longer file) or the new one, never a mix; the homes are
 * written only at the checkpoint after the commit, as for every
 * operation (docs/DURABILITY.md#growing-while-mounted).
 */
#include "internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int mapfs_grow_plan(const struct mapfs_geom *old, uint64_t size_bytes,
		    struct mapfs_geom *ng, char *why, size_t whylen)
{
	struct mapfs_geom g = *old;
	uint64_t nblocks, rem, data_blocks;

	nblocks = size_bytes >> old->bshift;
	if (nblocks < old->nblocks) {
		WHY("shrinking is not supported (the filesystem has %llu "
		    "blocks of %u bytes, %llu bytes; asked for %llu bytes)",
		    (unsigned long long)old->nblocks, old->bsize,
		    (unsigned long long)(old->nblocks << old->bshift),
		    (unsigned long long)size_bytes);
		return -EINVAL;
	}
	/* As mkfs: a last group too small for its metadata and 16 data
	 * blocks is left out. It never takes nblocks below the old count:
	 * if the old last group is in the same group it was at least that
	 * large, otherwise the dropped runt starts at or after it. */
	rem = nblocks % old->bpg;
	if (rem && rem < (uint64_t)old->data_off + 16)
		nblocks -= rem;
	if (nblocks < old->nblocks)
		nblocks = old->nblocks;
	g.nblocks = nblocks;
	if (!mapfs_geom_derive(&g)) {
		WHY("%llu blocks are too many for this geometry",
		    (unsigned long long)nblocks);
		return -EFBIG;
	}
	data_blocks = g.nblocks - g.ngroups * (uint64_t)g.data_off;
	g.reserved_blocks = data_blocks * g.minfree_pct / 100;
	*ng = g;
	return 0;
}

/* Zero [p, p+len) page by page, writing only pages that are not zero
 * (reading a hole of a sparse image is free, writing it allocates); the
 * journal, when there is one, is told of each page written. */
static void zero_pages(struct mapfs_fs *fs, uint8_t *p, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += MAPFS_PAGE_SIZE) {
		uint64_t n = len - off < MAPFS_PAGE_SIZE ? len - off
							 : MAPFS_PAGE_SIZE;
		if (!mapfs_is_zero(p + off, n)) {
			memset(p + off, 0, n);
			mapfs_jdirty(fs, p + off, n);
		}
	}
}

/* Clear bits [from, to) of bitmap bm, storing only where a bit is set. */
static void bits_clear(struct mapfs_fs *fs, uint8_t *bm, uint64_t from,
		       uint64_t to)
{
	while (from < to && (from & 7)) {
		if (mapfs_bit_test(bm, from)) {
			mapfs_bit_clear(bm, from);
			mapfs_jdirty(fs, bm + from / 8, 1);
		}
		from++;
	}
	if (from < to && to - from >= 8) {
		uint64_t bytes = (to - from) / 8;
		zero_pages(fs, bm + from / 8, bytes);
		from += bytes * 8;
	}
	for (; from < to; from++)
		if (mapfs_bit_test(bm, from)) {
			mapfs_bit_clear(bm, from);
			mapfs_jdirty(fs, bm + from / 8, 1);
		}
}

static bool same_layout(const struct mapfs_geom *a, const struct mapfs_geom *b)
{
	return a->bsize == b->bsize && a->inode_size == b->inode_size &&
	       a->bpg == b->bpg && a->ipg == b->ipg &&
	       a->data_off == b->data_off && a->first_ino == b->first_ino &&
	       a->minfree_pct == b->minfree_pct && a->seed == b->seed &&
	       a->jstart == b->jstart && a->jblocks == b->jblocks;
}

/* The groups' part of a grow, the same offline and mounted: fs->g
 * becomes *ng; the old last group, if partial, is extended (its header
 * rebuilt when initialized); the new groups are left unused (header and
 * bitmap pages zeroed where they are not, unless zeros says the new
 * part reads as zeros already: reading them would fault three pages a
 * group in, 96 MiB for 64 MiB to 1 TiB); the totals are summed again.
 * fs->cg already has ng->ngroups entries, the new ones zeroed. */
static void grow_groups(struct mapfs_fs *fs, const struct mapfs_geom *old,
			const struct mapfs_geom *ng, uint32_t ihiwater,
			bool zeros, mapfs_progress_fn progress, void *parg)
{
	struct mapfs_cgmem *cgm = fs->cg;
	uint64_t last = old->ngroups - 1;
	uint32_t old_last_n = mapfs_group_nblocks(old, last);

	fs->g = *ng;
	if (old_last_n < mapfs_group_nblocks(ng, last)) {
		uint32_t new_n = mapfs_group_nblocks(ng, last);

		/* Bits past the old end are zero in the CRC'd pages
		 * (fsck checks it); pages the group now reaches were never
		 * covered: clear them. */
		bits_clear(fs, mapfs_cg_bbm(fs, last), old_last_n, new_n);
		if (cgm[last].init) {
			cgm[last].free_blocks += new_n - old_last_n;
			mapfs_cg_rebuild(fs, last, ihiwater);
		} else {
			cgm[last].free_blocks = mapfs_group_ndata(ng, last);
		}
	}
	for (uint64_t cg = old->ngroups; cg < ng->ngroups; cg++) {
		uint64_t start = mapfs_group_start(ng, cg);

		/* Header, inode bitmap, block bitmap: blocks 1..3. */
		if (!zeros)
			zero_pages(fs, mapfs_block(fs, start + ng->hdr_off),
				   (uint64_t)3 << ng->bshift);
		cgm[cg].free_blocks = mapfs_group_ndata(ng, cg);
		cgm[cg].free_inodes = ng->ipg;
		if (progress && (cg % 256 == 0 || cg + 1 == ng->ngroups))
			progress(parg, cg + 1 - old->ngroups,
				 ng->ngroups - old->ngroups);
	}
	fs->free_blocks = fs->free_inodes = fs->ndirs = 0;
	for (uint64_t cg = 0; cg < ng->ngroups; cg++) {
		fs->free_blocks += cgm[cg].free_blocks;
		fs->free_inodes += cgm[cg].free_inodes;
		fs->ndirs += cgm[cg].ndirs;
	}
}

int mapfs_grow(struct mapfs_fs *fs, const struct mapfs_geom *ng,
	       mapfs_progress_fn progress, void *parg, char *why,
	       size_t whylen)
{
	const struct mapfs_geom old = fs->g;
	uint64_t last = old.ngroups - 1;
	uint32_t ihiwater = 0;
	struct mapfs_cgmem *cgm;
	uint32_t saved_state;
	int err;

	if (fs->flags & MAPFS_OPEN_RDONLY) {
		WHY("image opened read-only");
		return -EROFS;
	}
	if (!same_layout(&old, ng) || ng->nblocks < old.nblocks) {
		WHY("new geometry does not extend the old one");
		return -EINVAL;
	}
	if (ng->nblocks > fs->size >> ng->bshift) {
		WHY("image holds %llu blocks, %llu needed",
		    (unsigned long long)(fs->size >> ng->bshift),
		    (unsigned long long)ng->nblocks);
		return -EINVAL;
	}
	if (fs->state != MAPFS_STATE_CLEAN || atomic_load(&fs->error)) {
		WHY("filesystem not clean: run fsck.mapfs first");
		return -EUCLEAN;
	}
	if (ng->nblocks == old.nblocks)
		return 0;
	/* The old last group is rebuilt below with every bitmap page CRC
	 * recomputed: make sure it was sound, so no damage gets sealed. */
	if (fs->cg[last].init) {
		bool unused;
		char gwhy[200] = "";

		err = mapfs_cg_check(fs, last, &unused, gwhy, sizeof(gwhy));
		if (err < 0) {
			WHY("group %llu: %s: run fsck.mapfs first",
			    (unsigned long long)last, gwhy);
			return err;
		}
		ihiwater = mapfs_cg_ihiwater(mapfs_cg_hdr(fs, last));
	}
	cgm = realloc(fs->cg, ng->ngroups * sizeof(*cgm));
	if (!cgm) {
		WHY("out of memory");
		return -ENOMEM;
	}
	fs->cg = cgm;
	memset(cgm + old.ngroups, 0,
	       (ng->ngroups - old.ngroups) * sizeof(*cgm));

	/* 1. Not clean until the new geometry is in place. The new blocks
	 * are not known to read as zeros (a device's old bytes): drop
	 * sb_free_zeroed with this store (docs/DURABILITY.md). */
	saved_state = fs->state;
	fs->state = MAPFS_STATE_MOUNTED;
	fs->in->free_zero_mark = false;
	mapfs_super_store(fs);
	err = mapfs_fs_sync_range(fs, 0, MAPFS_PAGE_SIZE);
	if (err < 0)
		goto fail_sync;

	/* 2. From here on every pointer is computed for the new size. */
	grow_groups(fs, &old, ng, ihiwater, false, progress, parg);

	/* 3. Copies (the new groups' among them) with the new geometry,
	 * state clean; then the primary, last. */
	fs->state = saved_state;
	fs->write_time = mapfs_now().sec;
	mapfs_super_store_copies(fs);
	err = mapfs_fs_sync_range(fs, 0, fs->size);
	if (err < 0)
		goto fail_sync;
	mapfs_super_store(fs);
	err = mapfs_fs_sync_range(fs, 0, MAPFS_PAGE_SIZE);
	if (err < 0)
		goto fail_sync;
	return 0;
fail_sync:
	WHY("cannot write the image: %s", strerror(-err));
	return err;
}

uint64_t mapfs_grow_online_max(const struct mapfs_fs *fs)
{
	uint64_t m = fs->in->dresv < fs->in->presv ? fs->in->dresv
						    : fs->in->presv;

	return fs->j && m > fs->size ? m : fs->size;
}

int mapfs_grow_online(struct mapfs_fs *fs, uint64_t size_bytes, char *why,
		      size_t whylen)
{
	const struct mapfs_geom old = fs->g;
	uint64_t last = old.ngroups - 1;
	uint32_t ihiwater = 0;
	struct mapfs_cgmem *cgm;
	struct mapfs_geom ng;
	bool zeros;
	int err;

	assert(fs->in->op_depth > 0);
	if (fs->flags & MAPFS_OPEN_RDONLY) {
		WHY("mounted read-only");
		return -EROFS;
	}
	if (!fs->j) {
		WHY("the image has no journal, which growing while mounted "
		    "needs: unmount it and run growfs.mapfs");
		return -EOPNOTSUPP;
	}
	if (atomic_load(&fs->error)) {
		WHY("errors were found while mounted: unmount and run "
		    "fsck.mapfs first");
		return -EUCLEAN;
	}
	err = mapfs_grow_plan(&old, size_bytes, &ng, why, whylen);
	if (err < 0)
		return err;
	if (ng.nblocks == old.nblocks)
		return 0;
	if (ng.nblocks << ng.bshift > mapfs_grow_online_max(fs)) {
		WHY("while mounted the filesystem can grow to %llu bytes "
		    "(the address space the daemon reserved at mount): "
		    "unmount to grow further",
		    (unsigned long long)mapfs_grow_online_max(fs));
		return -EFBIG;
	}
	/* As offline: the old last group's header is rebuilt with every
	 * bitmap CRC recomputed, so it must be sound. */
	if (fs->cg[last].init) {
		bool unused;
		char gwhy[200] = "";

		err = mapfs_cg_check(fs, last, &unused, gwhy, sizeof(gwhy));
		if (err < 0) {
			WHY("group %llu: %s: unmount and run fsck.mapfs",
			    (unsigned long long)last, gwhy);
			return err;
		}
		ihiwater = mapfs_cg_ihiwater(mapfs_cg_hdr(fs, last));
	}

	/* 1. The file and the mapping (nothing of the filesystem changes:
	 * a crash from here to the record leaves the old size in a
	 * longer file, which attach accepts). */
	err = mapfs_fs_map_grow(fs, ng.nblocks << ng.bshift, &zeros, why,
				whylen);
	if (err < 0)
		return err;
	cgm = realloc(fs->cg, ng.ngroups * sizeof(*cgm));
	if (!cgm || mapfs_journal_grow(fs, ng.ngroups) < 0) {
		if (cgm)
			fs->cg = cgm;
		WHY("out of memory");
		return -ENOMEM;
	}
	fs->cg = cgm;
	memset(cgm + old.ngroups, 0,
	       (ng.ngroups - old.ngroups) * sizeof(*cgm));
	/* Host space behind the superblock copies of the new groups, the
	 * only new pages written (the checkpoint would fault on a full
	 * host disk otherwise); the new groups' metadata is reserved at
	 * their first use, as every unused group's. */
	fs->g = ng;
	for (uint64_t cg = old.ngroups; cg < ng.ngroups; cg++) {
		if (!mapfs_group_has_sb(cg))
			continue;
		err = mapfs_fs_reserve(fs, mapfs_group_start(&ng, cg), 1);
		if (err < 0) {
			fs->g = old;
			WHY("no room on the host for the superblock copy "
			    "of group %llu: %s", (unsigned long long)cg,
			    strerror(-err));
			return err;
		}
	}

	/* 2. Every store from here is part of the caller's operation: its
	 * one record carries the groups, the copies and the primary, and
	 * replay gives all of them or none. */
	grow_groups(fs, &old, &ng, ihiwater, zeros, NULL, NULL);
	free(fs->in->itab_seen);
	fs->in->itab_seen = NULL;
	mapfs_itab_ahead_init(fs);
	fs->write_time = mapfs_now().sec;
	mapfs_super_store_copies(fs);
	mapfs_super_store(fs);
	return 0;
}
