/* SPDX-License-Identifier: MIT */
/*
 * file.c - file data (above bmap.c in the core's layers, tests/layering.sh).
 *
 * Owns reads, writes, truncation, hole punching and preallocation,
 * zeroing, SEEK_DATA/SEEK_HOLE and copies of byte ranges, built on the
 * block maps of bmap.c. Everything above sees files as host-order struct
 * mapfs_inode plus byte ranges.
 *
 * Invariants kept:
 *  - bytes of allocated blocks past EOF are zero, so growing a file never
 *    exposes stale data;
 *  - pointers (in the inode or an indirect page) are cleared and stored
 *    before the blocks they named are freed (the order bmap.c keeps).
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

/* Holes read as this. Callers of mapfs_file_read_iov must not write to
 * the iovecs they get. */
static const uint8_t zero_block[MAPFS_MAX_BSIZE];

static inline unsigned long long ull(uint64_t v)
{
	return (unsigned long long)v;
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
	struct mapfs_ind_cache c;
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
		err = mapfs_bmap_cached(fs, ip, off >> g->bshift, &c, &bno);
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
	struct mapfs_ind_cache c;
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
		err = mapfs_bmap_cached(fs, ip, off >> g->bshift, &c, &bno);
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
	if (fs->in->prep_lo < fs->in->prep_hi && fs->in->prep_lo <= next &&
	    next <= fs->in->prep_hi) {
		if (fs->in->prep_hi - next >= nw)
			return;		/* still a request ahead */
		from = fs->in->prep_hi;
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
	struct mapfs_ind_cache c;
	mapfs_bno_t bno, pref = 0;
	size_t done = 0;
	int err = 0;

	if (!mapfs_map_writable(ip))
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
			err = mapfs_bmap_alloc_pref(fs, ip, pos >> g->bshift,
						    use_reserve,
						    chunk == g->bsize, pref,
						    &c, &bno);
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

/* ------------------------------------------------------------------ */
/* Freeing: truncation and hole punching                               */
/* ------------------------------------------------------------------ */

/* Every pointer in ip's di_blk must be 0 or a data block; -EUCLEAN
 * otherwise. Checked before anything is cleared. */
static int check_roots(struct mapfs_fs *fs, const struct mapfs_inode *ip)
{
	unsigned i;

	for (i = 0; i < MAPFS_NADDR; i++)
		if (ip->blk[i] && !mapfs_bno_is_data(&fs->g, ip->blk[i]))
			return MAPFS_CORRUPT(fs,
					     "inode %llu: block pointer %u (%llu) outside the data area",
					     ull(ip->ino), i, ull(ip->blk[i]));
	return 0;
}

/*
 * Free the blocks mapping logical blocks [first, end) of ip (roots
 * already checked) and every indirect block left empty, then store ip.
 * Pointers in indirect pages are cleared (and the page resealed) before
 * their blocks are freed; pointers in the inode are cleared and the
 * inode is stored before theirs are. Truncation and hole punching.
 */
static int free_map(struct mapfs_fs *fs, struct mapfs_inode *ip,
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

	for (i = 0; i < MAPFS_NDADDR; i++) {
		if (i >= first && i < end && ip->blk[i]) {
			top[ntop].bno = ip->blk[i];
			top[ntop++].level = 0;
			ip->blk[i] = 0;
		}
	}
	for (level = 1; level <= (int)MAPFS_NIADDR; level++) {
		uint64_t start = mapfs_level_start(g, level);
		uint64_t stop = start + mapfs_child_span(g, level) * g->nindir;
		mapfs_bno_t bno;

		i = MAPFS_NDADDR + level - 1;
		bno = ip->blk[i];
		if (!bno || end <= start || first >= stop)
			continue;
		if (first > start || end < stop) {
			err = mapfs_trim_range(fs, ip, bno, level, start,
					       first, end, &empty);
			if (err < 0)
				break;
			if (!empty)
				continue;
		}
		top[ntop].bno = bno;
		top[ntop++].level = level;
		ip->blk[i] = 0;
	}
	/* The inode no longer points at top[]: store it before freeing. */
	mapfs_inode_store(fs, ip);
	if (err < 0)
		return err;
	for (i = 0; i < ntop; i++) {
		err2 = top[i].level == 0 ?
			       mapfs_drop_block(fs, ip, top[i].bno) :
			       mapfs_free_subtree(fs, ip, top[i].bno,
						  top[i].level);
		if (err2 < 0 && err == 0)
			err = err2;
	}
	if (ntop)
		mapfs_inode_store(fs, ip);
	return err;
}

/* mapfs_file_truncate's freeing for logical blocks [first, end), the
 * size left as it is. */
int mapfs_file_free_range(struct mapfs_fs *fs, struct mapfs_inode *ip,
			  uint64_t first, uint64_t end)
{
	int err;

	if (!mapfs_inode_has_blocks(ip))
		return -EINVAL;
	if (first >= end)
		return 0;
	err = check_roots(fs, ip);
	if (err < 0)
		return err;
	return free_map(fs, ip, first, end);
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
	uint64_t keep;
	mapfs_bno_t bno;
	int err;

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
	err = check_roots(fs, ip);
	if (err < 0) {
		mapfs_inode_store(fs, ip);
		return err;
	}
	/* Truncation frees everything from keep on: a punch to the end.
	 * Only the pointers from keep on are visited, and holes are
	 * skipped, so work is proportional to what is allocated. */
	return free_map(fs, ip, keep, UINT64_MAX);
}

/* ------------------------------------------------------------------ */
/* Ranges: hole punching, preallocation, SEEK_DATA/SEEK_HOLE, copies   */
/* ------------------------------------------------------------------ */


int mapfs_file_alloc_range(struct mapfs_fs *fs, struct mapfs_inode *ip,
			   uint64_t first, uint64_t end, bool use_reserve)
{
	struct mapfs_ind_cache c;
	mapfs_bno_t bno, pref = 0;
	int err = 0;

	if (!mapfs_inode_has_blocks(ip))
		return -EINVAL;
	if (end > mapfs_lbn_limit(&fs->g))
		return -EFBIG;
	memset(&c, 0, sizeof(c));
	for (uint64_t lbn = first; lbn < end; lbn++) {
		err = mapfs_bmap_alloc_pref(fs, ip, lbn, use_reserve, false,
					    pref, &c, &bno);
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
	struct mapfs_ind_cache c;
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
		err = mapfs_bmap_cached(fs, ip, off >> g->bshift, &c, &bno);
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
	struct mapfs_ind_cache c;
	struct mapfs_bpath bp;
	int k, err;

	if (!mapfs_inode_has_blocks(ip))
		return -EINVAL;
	if (end > mapfs_lbn_limit(g))
		end = mapfs_lbn_limit(g);
	memset(&c, 0, sizeof(c));
	while (lbn < end) {
		uint64_t span, base, next;

		err = mapfs_bpath_get(g, lbn, &bp);
		if (err < 0)
			return err;
		err = mapfs_path_lookup(fs, ip, &bp, &c, ptr, &k);
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
		span = mapfs_child_span(g, bp.depth - k + 1);
		base = bp.depth ? mapfs_level_start(g, bp.depth) : lbn;
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
	struct mapfs_ind_cache cs, cd;
	uint64_t done = 0;
	int err = 0;

	if (!mapfs_inode_has_blocks(src) || !mapfs_map_writable(dst))
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
		err = mapfs_bmap_cached(fs, src == dst ? dst : src,
					s >> g->bshift,
					src == dst ? &cd : &cs, &sb);
		if (err < 0)
			break;
		if (!sb) {
			err = mapfs_bmap_cached(fs, dst, d >> g->bshift, &cd,
						&db);
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

				if (mapfs_bmap_cached(fs,
						      src == dst ? dst : src,
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
