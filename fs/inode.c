/* SPDX-License-Identifier: MIT */
/*
 * inode.c - the inode codec and the inode table (above alloc.c in the core's
 * layers, tests/layering.sh).
 *
 * Owns struct mapfs_dinode: decode, validate (mapfs_inode_check), encode
 * with its CRC, clear, the generation policy (mapfs_inode_new_gen) and
 * the inode table's read-ahead. Block maps are bmap.c's, file data
 * file.c's; everything above sees an inode as a host-order struct
 * mapfs_inode.
 *
 * Invariants kept:
 *  - an in-use slot carries a CRC over its first 252 bytes, seeded with
 *    the inode number and generation; a free slot is all zero except
 *    di_gen;
 *  - an inode is validated (known type, size within the maximum, block
 *    pointers inside the data area, CRC) before anything is decoded from
 *    it; fsck alone decodes unvalidated inodes (mapfs_inode_decode).
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

#define DINODE_CRC_BYTES offsetof(struct mapfs_dinode, di_crc)

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
	fs->in->itab_per = MAPFS_ITAB_AHEAD / g->inode_size;
	if (fs->in->itab_per == 0)
		fs->in->itab_per = 1;
	fs->in->itab_cpg = (g->ipg + fs->in->itab_per - 1) / fs->in->itab_per;
	if (g->ngroups > UINT64_MAX / 2 / fs->in->itab_cpg)
		return;
	nbits = g->ngroups * fs->in->itab_cpg;
	fs->in->itab_seen = calloc((nbits + 63) / 64, sizeof(uint64_t));
	fs->in->itab_nbits = fs->in->itab_seen ? nbits : 0;
}

/* Mark chunk bit as asked for; true if this call did (not another
 * thread, not an earlier load). */
static bool itab_claim(struct mapfs_fs *fs, uint64_t bit)
{
	uint64_t mask = 1ull << (bit % 64);

	if (__atomic_load_n(&fs->in->itab_seen[bit / 64], __ATOMIC_RELAXED) & mask)
		return false;
	return !(__atomic_fetch_or(&fs->in->itab_seen[bit / 64], mask,
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
	mapfs_ino_t start = cg * g->ipg + k0 * fs->in->itab_per;
	mapfs_ino_t end = cg * g->ipg + k1 * fs->in->itab_per;

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
	uint64_t base = cg * fs->in->itab_cpg, seen = 0, used, nk, k, run = 0;
	bool in_run = false;

	for (k = 0; k < fs->in->itab_cpg; k++)
		if (__atomic_load_n(&fs->in->itab_seen[(base + k) / 64],
				    __ATOMIC_RELAXED) & (1ull << ((base + k) % 64)))
			seen++;
	if (seen < MAPFS_ITAB_GROUP_AFTER)
		return;
	/* A bad count (fsck of a damaged image) only misguides this hint:
	 * it is clamped to the group's table. */
	used = fs->cg[cg].free_inodes < fs->g.ipg ?
	       fs->g.ipg - fs->cg[cg].free_inodes : 0;
	nk = (used + fs->in->itab_per - 1) / fs->in->itab_per;
	if (nk > fs->in->itab_cpg)
		nk = fs->in->itab_cpg;
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

	if (!fs->in->itab_seen || fs->fd < 0)
		return;
	cg = ino / g->ipg;	/* ipg, itab_per > 0: itab_seen is set */
	k = (ino % g->ipg) / fs->in->itab_per;
	bit = cg * fs->in->itab_cpg + k;
	if (bit >= fs->in->itab_nbits || cg >= g->ngroups)
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

/*
 * The generation for a new use of slot ino (the one policy: ops.c's
 * create and fsck's rebuilt directories). Reuse: the stored generation
 * plus one. First use (0, or no slot): a scrambled value, so (ino,
 * generation) pairs do not repeat across mkfs runs. Never 0. Read-only.
 */
uint32_t mapfs_inode_new_gen(const struct mapfs_fs *fs, mapfs_ino_t ino,
			     struct mapfs_timespec now)
{
	const struct mapfs_dinode *d = mapfs_dinode(fs, ino);
	uint32_t gen = d ? le32toh(d->di_gen) : 0;

	if (gen)
		gen++;
	else
		gen = (uint32_t)(now.nsec ^ (ino * 2654435761u) ^
				 (uint64_t)now.sec);
	return gen ? gen : 1;
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
