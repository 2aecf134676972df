/* SPDX-License-Identifier: MIT */
/*
 * super.c - decode, validate and store the superblock; attach to an image.
 *
 * Layer: above crc, mounts, image, journal and seal; below cg and the
 * rest (tests/layering.sh). It makes no system call on the image and
 * calls nothing about groups: mount.c composes mapfs_fs_attach from
 * mapfs_super_attach and cg.c's header checks. Also owns the checks of
 * superblock fields others use: the journal's location
 * (mapfs_super_journal_geom_ok), the free-zeroed mark (mapfs_fs_unzeroed).
 *
 * The superblock is the first 4 KiB page of the image; copies sit
 * in the same page of block 0 of groups 1 and the powers of 3, 5 and 7
 * (ext4's sparse_super set), written by mkfs and whenever the static fields
 * change, never on ordinary updates. Geometry is decoded once into a
 * host-order struct mapfs_geom; everything else derives from it.
 *
 * Validation is complete before any other code trusts a field: magic,
 * version, features, sizes in range and powers of two, the group layout
 * consistent with the sizes, the image large enough, and the CRC.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool mapfs_group_has_sb(uint64_t cg)
{
	static const uint64_t bases[] = {3, 5, 7};

	if (cg <= 1)
		return true;
	for (size_t i = 0; i < 3; i++) {
		uint64_t p = bases[i];
		while (p < cg && p <= UINT64_MAX / bases[i])
			p *= bases[i];
		if (p == cg)
			return true;
	}
	return false;
}

bool mapfs_super_journal_geom_ok(const struct mapfs_geom *g)
{
	uint64_t cg, end;

	if (g->jblocks == 0 || g->jstart >= g->nblocks ||
	    g->jblocks > g->nblocks - g->jstart)
		return false;
	if (g->jblocks > (UINT64_MAX >> g->bshift) ||
	    (g->jblocks << g->bshift) < MAPFS_JOURNAL_MIN_BYTES)
		return false;
	cg = g->jstart / g->bpg;
	end = g->jstart + g->jblocks;
	return g->jstart % g->bpg >= g->data_off &&
	       end <= mapfs_group_start(g, cg) + mapfs_group_nblocks(g, cg);
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

bool mapfs_geom_derive(struct mapfs_geom *g)
{
	uint64_t n, addressable, max;

	if (!is_pow2(g->bsize) || g->bsize < MAPFS_MIN_BSIZE ||
	    g->bsize > MAPFS_MAX_BSIZE)
		return false;
	if (!is_pow2(g->inode_size) || g->inode_size < MAPFS_INODE_SIZE ||
	    g->inode_size > MAPFS_PAGE_SIZE)
		return false;
	g->bshift = (uint32_t)__builtin_ctz(g->bsize);
	g->inodes_per_block = g->bsize / g->inode_size;
	g->pages_per_block = g->bsize / MAPFS_PAGE_SIZE;
	if (g->bpg == 0 || g->bpg % 8 || g->bpg > 8 * g->bsize)
		return false;
	if (g->ipg == 0 || g->ipg % g->inodes_per_block || g->ipg % 8 ||
	    g->ipg > 8 * g->bsize)
		return false;
	g->hdr_off = 1;
	g->ibm_off = 2;
	g->bbm_off = 3;
	g->itab_off = 4;
	g->itab_blocks = g->ipg / g->inodes_per_block;
	g->data_off = g->itab_off + g->itab_blocks;
	if (g->data_off >= g->bpg)
		return false;
	if (g->nblocks == 0 || g->nblocks > (UINT64_MAX >> g->bshift))
		return false;
	g->ngroups = (g->nblocks + g->bpg - 1) / g->bpg;
	/* The last group must hold its metadata and some data. */
	if (mapfs_group_nblocks(g, g->ngroups - 1) < g->data_off + 1)
		return false;
	if (g->ngroups > UINT64_MAX / g->ipg)
		return false;
	g->ninodes = g->ngroups * g->ipg;
	if (g->ninodes < g->first_ino + 1)
		return false;
	g->nindir = g->pages_per_block * MAPFS_PTRS_PER_PAGE;
	n = g->nindir;
	addressable = MAPFS_NDADDR + n + n * n + n * n * n;
	max = (uint64_t)INT64_MAX >> g->bshift;
	if (addressable > max)
		addressable = max;
	g->maxfilesize = addressable << g->bshift;
	return true;
}

static int super_decode(const struct mapfs_dsuper *d, uint64_t image_bytes,
			uint64_t at_group, struct mapfs_geom *g, bool check_crc,
			char *why, size_t whylen);

int mapfs_super_decode(const struct mapfs_dsuper *d, uint64_t image_bytes,
		       uint64_t at_group, struct mapfs_geom *g, char *why,
		       size_t whylen)
{
	return super_decode(d, image_bytes, at_group, g, true, why, whylen);
}

static int super_decode(const struct mapfs_dsuper *d, uint64_t image_bytes,
			uint64_t at_group, struct mapfs_geom *g, bool check_crc,
			char *why, size_t whylen)
{
	struct mapfs_geom t;
	uint32_t crc;
	uint64_t data_blocks;

	memset(g, 0, sizeof(*g));
	if (le32toh(d->sb_magic) == MAPFS_SB_MAGIC_MKFS) {
		WHY("mkfs.mapfs did not finish on this image");
		return -EUCLEAN;
	}
	if (le32toh(d->sb_magic) != MAPFS_SB_MAGIC) {
		WHY("bad magic number 0x%08x (not a mapfs image)",
		    le32toh(d->sb_magic));
		return -EUCLEAN;
	}
	crc = mapfs_crc32c(~0u, d, offsetof(struct mapfs_dsuper, sb_crc));
	if (check_crc && crc != le32toh(d->sb_crc)) {
		WHY("superblock checksum mismatch (stored 0x%08x, computed "
		    "0x%08x)", le32toh(d->sb_crc), crc);
		return -EUCLEAN;
	}
	if (le32toh(d->sb_version) != MAPFS_VERSION) {
		WHY("unsupported format version %u", le32toh(d->sb_version));
		return -EOPNOTSUPP;
	}
	if (le32toh(d->sb_feat_incompat) & ~MAPFS_FEAT_INCOMPAT_SUPP) {
		WHY("unsupported incompatible features 0x%x",
		    le32toh(d->sb_feat_incompat) & ~MAPFS_FEAT_INCOMPAT_SUPP);
		return -EOPNOTSUPP;
	}
	memset(&t, 0, sizeof(t));
	t.bsize = le32toh(d->sb_bsize);
	t.inode_size = le32toh(d->sb_inode_size);
	t.bpg = le32toh(d->sb_bpg);
	t.ipg = le32toh(d->sb_ipg);
	t.nblocks = le64toh(d->sb_nblocks);
	t.first_ino = le64toh(d->sb_first_ino);
	if (t.first_ino != MAPFS_FIRST_INO ||
	    le64toh(d->sb_root_ino) != MAPFS_ROOT_INO) {
		WHY("bad root or first inode number");
		return -EUCLEAN;
	}
	if (!mapfs_geom_derive(&t)) {
		WHY("inconsistent geometry (block size %u, inode size %u, "
		    "%u blocks and %u inodes per group, %llu blocks)",
		    t.bsize, t.inode_size, t.bpg, t.ipg,
		    (unsigned long long)t.nblocks);
		return -EUCLEAN;
	}
	if (le64toh(d->sb_ngroups) != t.ngroups ||
	    le64toh(d->sb_ninodes) != t.ninodes ||
	    le32toh(d->sb_cg_hdr_off) != t.hdr_off ||
	    le32toh(d->sb_cg_ibm_off) != t.ibm_off ||
	    le32toh(d->sb_cg_bbm_off) != t.bbm_off ||
	    le32toh(d->sb_cg_itab_off) != t.itab_off ||
	    le32toh(d->sb_cg_data_off) != t.data_off ||
	    le32toh(d->sb_itab_blocks) != t.itab_blocks ||
	    le32toh(d->sb_nindir) != t.nindir ||
	    le64toh(d->sb_maxfilesize) != t.maxfilesize ||
	    le32toh(d->sb_maxsymlink_fast) != MAPFS_FAST_SYMLINK_MAX) {
		WHY("derived geometry fields disagree with the sizes");
		return -EUCLEAN;
	}
	if (t.nblocks > image_bytes >> t.bshift) {
		WHY("filesystem has %llu blocks but the image holds only %llu "
		    "(truncated image?)", (unsigned long long)t.nblocks,
		    (unsigned long long)(image_bytes >> t.bshift));
		return -EUCLEAN;
	}
	if (le64toh(d->sb_this_group) != at_group) {
		WHY("superblock copy claims group %llu, found in group %llu",
		    (unsigned long long)le64toh(d->sb_this_group),
		    (unsigned long long)at_group);
		return -EUCLEAN;
	}
	switch (le32toh(d->sb_state)) {
	case MAPFS_STATE_CLEAN:
	case MAPFS_STATE_MOUNTED:
	case MAPFS_STATE_ERROR:
		break;
	default:
		WHY("bad state word %u", le32toh(d->sb_state));
		return -EUCLEAN;
	}
	t.minfree_pct = le32toh(d->sb_minfree_pct);
	t.reserved_blocks = le64toh(d->sb_reserved_blocks);
	data_blocks = t.nblocks - t.ngroups * (uint64_t)t.data_off;
	if (t.minfree_pct > 50 || t.reserved_blocks > data_blocks) {
		WHY("bad reserved block count");
		return -EUCLEAN;
	}
	t.seed = le32toh(d->sb_csum_seed);
	/* The seed is the uuid's CRC unless the uuid was changed after
	 * mkfs (tune.mapfs -U), which keeps the seed and says so. */
	if (!(le32toh(d->sb_feat_incompat) & MAPFS_FEAT_INCOMPAT_CSUM_SEED) &&
	    t.seed != mapfs_crc32c(~0u, d->sb_uuid, sizeof(d->sb_uuid))) {
		WHY("checksum seed does not match the uuid");
		return -EUCLEAN;
	}
	if (le32toh(d->sb_feat_incompat) & MAPFS_FEAT_INCOMPAT_JOURNAL) {
		t.jstart = le64toh(d->sb_journal_start);
		t.jblocks = le64toh(d->sb_journal_blocks);
		if (!mapfs_super_journal_geom_ok(&t)) {
			WHY("bad journal location (blocks %llu+%llu)",
			    (unsigned long long)t.jstart,
			    (unsigned long long)t.jblocks);
			return -EUCLEAN;
		}
	} else if (d->sb_journal_start || d->sb_journal_blocks) {
		WHY("journal location set without the journal feature");
		return -EUCLEAN;
	}
	*g = t;
	return 0;
}

void mapfs_super_encode(const struct mapfs_fs *fs, uint64_t cg,
			struct mapfs_dsuper *d)
{
	const struct mapfs_geom *g = &fs->g;

	memset(d, 0, sizeof(*d));
	d->sb_magic = htole32(MAPFS_SB_MAGIC);
	d->sb_version = htole32(MAPFS_VERSION);
	d->sb_feat_compat = htole32(fs->feat_compat);
	d->sb_feat_ro_compat = htole32(fs->feat_ro_compat);
	d->sb_feat_incompat = htole32(fs->feat_incompat);
	d->sb_bsize = htole32(g->bsize);
	d->sb_inode_size = htole32(g->inode_size);
	d->sb_state = htole32(fs->state);
	d->sb_nblocks = htole64(g->nblocks);
	d->sb_ngroups = htole64(g->ngroups);
	d->sb_bpg = htole32(g->bpg);
	d->sb_ipg = htole32(g->ipg);
	d->sb_ninodes = htole64(g->ninodes);
	d->sb_free_blocks = htole64(fs->free_blocks);
	d->sb_free_inodes = htole64(fs->free_inodes);
	d->sb_ndirs = htole64(fs->ndirs);
	d->sb_reserved_blocks = htole64(g->reserved_blocks);
	d->sb_cg_hdr_off = htole32(g->hdr_off);
	d->sb_cg_ibm_off = htole32(g->ibm_off);
	d->sb_cg_bbm_off = htole32(g->bbm_off);
	d->sb_cg_itab_off = htole32(g->itab_off);
	d->sb_cg_data_off = htole32(g->data_off);
	d->sb_itab_blocks = htole32(g->itab_blocks);
	d->sb_root_ino = htole64(MAPFS_ROOT_INO);
	d->sb_first_ino = htole64(g->first_ino);
	d->sb_orphan_head = htole64(fs->orphan_head);
	d->sb_mkfs_time = htole64((uint64_t)fs->mkfs_time);
	d->sb_mount_time = htole64((uint64_t)fs->mount_time);
	d->sb_write_time = htole64((uint64_t)fs->write_time);
	d->sb_check_time = htole64((uint64_t)fs->check_time);
	d->sb_mount_count = htole32(fs->mount_count);
	d->sb_minfree_pct = htole32(g->minfree_pct);
	d->sb_csum_seed = htole32(g->seed);
	d->sb_maxsymlink_fast = htole32(MAPFS_FAST_SYMLINK_MAX);
	memcpy(d->sb_uuid, fs->uuid, sizeof(d->sb_uuid));
	memcpy(d->sb_label, fs->label, strnlen(fs->label, MAPFS_LABEL_MAX));
	d->sb_this_group = htole64(cg);
	d->sb_maxfilesize = htole64(g->maxfilesize);
	d->sb_nindir = htole32(g->nindir);
	d->sb_last_feat_incompat = htole32(MAPFS_FEAT_INCOMPAT_SUPP);
	d->sb_last_feat_ro_compat = htole32(MAPFS_FEAT_RO_COMPAT_SUPP);
	d->sb_last_feat_compat = htole32(MAPFS_FEAT_COMPAT_SUPP);
	d->sb_journal_start = htole64(g->jstart);
	d->sb_journal_blocks = htole64(g->jblocks);
	d->sb_free_zeroed = htole32(fs->in->free_zero_mark ?
				    MAPFS_FREE_ZEROED_MAGIC : 0);
	d->sb_crc = htole32(mapfs_crc32c(~0u, d,
					 offsetof(struct mapfs_dsuper, sb_crc)));
}

static struct mapfs_dsuper *sb_at(const struct mapfs_fs *fs, uint64_t cg)
{
	return mapfs_block(fs, mapfs_group_start(&fs->g, cg));
}

/* Store a superblock, telling the journal only the bytes that changed
 * (usually the counters and the CRC: a few dozen bytes per operation). */
static void store_diff(struct mapfs_fs *fs, struct mapfs_dsuper *at,
		       const struct mapfs_dsuper *d)
{
	uint8_t *o = (uint8_t *)at;
	const uint8_t *n = (const uint8_t *)d;
	size_t i = 0, len = sizeof(*d);

	if (!fs->j) {
		memcpy(at, d, sizeof(*d));
		return;
	}
	/* 8 bytes at a time (the superblock is 4096): most of it never
	 * changes, and this runs after every operation that moves a
	 * counter. A changed word is journaled whole. */
	static_assert(sizeof(*d) % 8 == 0, "superblock in 8-byte words");
	static_assert(sizeof(*d) % 256 == 0, "superblock in 256-byte spans");
	while (i < len) {
		uint64_t a, b;
		size_t k;

		/* Whole unchanged spans at memcmp's speed (a word-by-word
		 * walk of 4 KiB was a fifth of a create's work). */
		if (i % 256 == 0 && memcmp(o + i, n + i, 256) == 0) {
			i += 256;
			continue;
		}
		memcpy(&a, o + i, 8);
		memcpy(&b, n + i, 8);
		if (a == b) {
			i += 8;
			continue;
		}
		for (k = i + 8; k < len; k += 8) {
			memcpy(&a, o + k, 8);
			memcpy(&b, n + k, 8);
			if (a == b)
				break;
		}
		memcpy(o + i, n + i, k - i);
		mapfs_jdirty(fs, o + i, k - i);
		i = k;
	}
}

void mapfs_super_store(struct mapfs_fs *fs)
{
	struct mapfs_dsuper d;

	if (atomic_load(&fs->error))
		fs->state = MAPFS_STATE_ERROR;
	mapfs_super_encode(fs, 0, &d);
	store_diff(fs, sb_at(fs, 0), &d);
}

void mapfs_super_store_copies(struct mapfs_fs *fs)
{
	struct mapfs_dsuper d;

	for (uint64_t cg = 1; cg < fs->g.ngroups; cg++) {
		if (!mapfs_group_has_sb(cg))
			continue;
		mapfs_super_encode(fs, cg, &d);
		store_diff(fs, sb_at(fs, cg), &d);
	}
}

void mapfs_super_use_feature(struct mapfs_fs *fs, uint32_t bit)
{
	if ((fs->feat_ro_compat & bit) == bit)
		return;
	fs->feat_ro_compat |= bit;
	mapfs_super_store(fs);
	mapfs_super_store_copies(fs);
}

void mapfs_super_clear_free_zeroed(struct mapfs_fs *fs)
{
	struct mapfs_dsuper *d = sb_at(fs, 0);

	fs->in->free_zero_mark = false;
	if (!d || d->sb_free_zeroed == 0)
		return;
	/* In place: the word and the CRC only (a full store would also
	 * rewrite the counters fsck is about to compare). */
	d->sb_free_zeroed = 0;
	d->sb_crc = htole32(mapfs_crc32c(~0u, d, offsetof(struct mapfs_dsuper,
							  sb_crc)));
	mapfs_jdirty(fs, &d->sb_free_zeroed, sizeof(d->sb_free_zeroed));
	mapfs_jdirty(fs, &d->sb_crc, sizeof(d->sb_crc));
}

int mapfs_fs_init_geom(struct mapfs_fs *fs, void *base, uint64_t size,
		       const struct mapfs_geom *g)
{
	memset(fs, 0, sizeof(*fs));
	fs->base = base;
	fs->dbase = base;
	fs->size = size;
	fs->fd = -1;
	fs->g = *g;
	fs->in = calloc(1, sizeof(*fs->in));
	fs->cg = calloc(g->ngroups, sizeof(*fs->cg));
	if (!fs->in || !fs->cg) {
		free(fs->in);
		free(fs->cg);
		fs->in = NULL;
		fs->cg = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Find the superblock copy of group cg without a usable primary: try each
 * block size with the default group size. Returns the page or NULL. */
static const struct mapfs_dsuper *find_copy(const uint8_t *base,
					    uint64_t size, uint64_t cg,
					    char *why, size_t whylen)
{
	for (uint32_t bs = MAPFS_MIN_BSIZE; bs <= MAPFS_MAX_BSIZE; bs <<= 1) {
		uint64_t bpg = 8ull * bs, off;
		const struct mapfs_dsuper *d;
		struct mapfs_geom g;

		if (cg > UINT64_MAX / bpg / bs)
			continue;
		off = cg * bpg * bs;
		if (off > size || size - off < MAPFS_PAGE_SIZE)
			continue;
		d = (const void *)(base + off);
		if (mapfs_super_decode(d, size, cg, &g, NULL, 0) == 0)
			return d;
	}
	WHY("no valid superblock copy for group %llu at the default group "
	    "sizes", (unsigned long long)cg);
	return NULL;
}

int mapfs_super_attach(struct mapfs_fs *fs, void *base, uint64_t size,
		       int flags, uint64_t sb_group, mapfs_log_fn log,
		       void *log_arg, char *why, size_t whylen)
{
	const struct mapfs_dsuper *d = base;
	struct mapfs_geom g;
	int err;

	if (size < MAPFS_PAGE_SIZE) {
		WHY("image too small");
		return -EUCLEAN;
	}
	if (sb_group != 0) {
		if (!mapfs_group_has_sb(sb_group)) {
			WHY("group %llu holds no superblock copy (copies: 1 "
			    "and powers of 3, 5, 7)",
			    (unsigned long long)sb_group);
			return -EINVAL;
		}
		d = find_copy(base, size, sb_group, why, whylen);
		if (!d)
			return -EUCLEAN;
	}
	err = super_decode(d, size, sb_group, &g,
			   !(sb_group == 0 && (flags & MAPFS_OPEN_FSCK) &&
			     (flags & MAPFS_OPEN_SB_NOCRC)), why, whylen);
	if (err < 0)
		return err;
	if ((le32toh(d->sb_feat_ro_compat) & ~MAPFS_FEAT_RO_COMPAT_SUPP) &&
	    !(flags & MAPFS_OPEN_RDONLY)) {
		WHY("unsupported read-only-compatible features 0x%x: open "
		    "read-only", le32toh(d->sb_feat_ro_compat));
		return -EROFS;
	}
	err = mapfs_fs_init_geom(fs, base, size, &g);
	if (err < 0) {
		WHY("out of memory");
		return err;
	}
	fs->flags = flags;
	fs->log = log;
	fs->log_arg = log_arg;
	fs->state = le32toh(d->sb_state);
	fs->sb_free_blocks = le64toh(d->sb_free_blocks);
	fs->sb_free_inodes = le64toh(d->sb_free_inodes);
	fs->sb_ndirs = le64toh(d->sb_ndirs);
	fs->orphan_head = le64toh(d->sb_orphan_head);
	fs->mount_count = le32toh(d->sb_mount_count);
	fs->mkfs_time = (int64_t)le64toh(d->sb_mkfs_time);
	fs->mount_time = (int64_t)le64toh(d->sb_mount_time);
	fs->write_time = (int64_t)le64toh(d->sb_write_time);
	fs->check_time = (int64_t)le64toh(d->sb_check_time);
	memcpy(fs->uuid, d->sb_uuid, sizeof(fs->uuid));
	memcpy(fs->label, d->sb_label, MAPFS_LABEL_MAX);
	fs->label[MAPFS_LABEL_MAX] = 0;
	fs->feat_compat = le32toh(d->sb_feat_compat);
	fs->feat_ro_compat = le32toh(d->sb_feat_ro_compat);
	fs->feat_incompat = le32toh(d->sb_feat_incompat);
	fs->in->free_zero_mark = le32toh(d->sb_free_zeroed) ==
			     MAPFS_FREE_ZEROED_MAGIC;
	return 0;
}

void mapfs_super_detach(struct mapfs_fs *fs)
{
	free(fs->cg);
	fs->cg = NULL;
	if (fs->in) {
		free(fs->in->itab_seen);
		mapfs_checks_free(fs);
	}
	free(fs->in);
	fs->in = NULL;
}

int mapfs_fs_unzeroed(struct mapfs_fs *fs)
{
	if (!fs->in->free_zero_mark || (fs->flags & MAPFS_OPEN_RDONLY))
		return 0;
	mapfs_super_clear_free_zeroed(fs);
	return mapfs_fs_datasync(fs);
}
