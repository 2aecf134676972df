/* SPDX-License-Identifier: MIT */
/*
 * dir.c - directory records (above dirhash.c in the core's layers,
 * tests/layering.sh).
 *
 * A directory is dir->size / MAPFS_DIRCHUNK chunks of 4 KiB; chunk c is
 * page c % pages_per_block of logical block c / pages_per_block. Records
 * tile bytes [0, 4088) of a chunk exactly and a struct mapfs_dirtail
 * (magic, CRC32C) ends it. This file owns struct mapfs_dirent and
 * struct mapfs_dirtail: nothing else reads or writes them.
 *
 * Invariants kept here:
 *  - live records never move: readdir cookies are directory offsets
 *    (chunk * 4096 + offset in the chunk) and stay meaningful while the
 *    directory changes. New records go into the slack of a live record
 *    (which shrinks to its own size) or into a chunk's free first record;
 *    removed records join the previous record, or become the chunk's free
 *    first record;
 *  - chunk 0 starts with "." then ".."; they appear nowhere else;
 *  - every chunk is validated (mapfs_dir_check_chunk) before it is read,
 *    and its CRC is recomputed after every change;
 *  - a new chunk is complete (records and tail) before the directory size
 *    grows to include it; the directory never shrinks.
 *
 * Callers serialize changes; iterate, lookup and is_empty are read-only.
 * Timestamps and link counts are the caller's (ops.c).
 */
#include "internal.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CHUNK		MAPFS_DIRCHUNK
#define USABLE		((uint32_t)MAPFS_DIRCHUNK_USABLE)	/* 4088 */
#define HDR		((uint32_t)MAPFS_DIRENT_HDR)		/* 12 */

/* Byte offsets of the record and tail fields inside a chunk. */
#define DE_INO		offsetof(struct mapfs_dirent, de_ino)
#define DE_RECLEN	offsetof(struct mapfs_dirent, de_reclen)
#define DE_TYPE		offsetof(struct mapfs_dirent, de_type)
#define DE_NAMELEN	offsetof(struct mapfs_dirent, de_namelen)
#define DT_MAGIC	(USABLE + offsetof(struct mapfs_dirtail, dt_magic))
#define DT_CRC		(USABLE + offsetof(struct mapfs_dirtail, dt_crc))

static_assert(MAPFS_DIRCHUNK == MAPFS_PAGE_SIZE, "a chunk is one page");
static_assert(MAPFS_DIRCHUNK_USABLE % MAPFS_DIR_ALIGN == 0, "tail aligned");
/* A merged record must still fit de_reclen. */
static_assert(MAPFS_DIRCHUNK_USABLE <= UINT16_MAX, "reclen is 16 bits");

/* A record's header, host order. name points into the chunk. */
struct drec {
	uint64_t ino;
	uint32_t reclen;
	uint32_t type;
	uint32_t namelen;
	const uint8_t *name;
};

/* Decode the header at pos. Only for pos inside a validated chunk (or
 * after checking that a header fits, as check_chunk does). */
static void rec_decode(const uint8_t *chunk, uint32_t pos, struct drec *r)
{
	const uint8_t *p = chunk + pos;

	r->ino = mapfs_get_le64(p + DE_INO);
	r->reclen = mapfs_get_le16(p + DE_RECLEN);
	r->type = p[DE_TYPE];
	r->namelen = p[DE_NAMELEN];
	r->name = p + HDR;
}

/* Write a whole record at pos: header, name, zeros up to reclen. */
static void rec_write(const struct mapfs_fs *fs, uint8_t *chunk,
		      uint32_t pos, uint32_t reclen, mapfs_ino_t ino,
		      uint32_t type, const char *name, uint32_t namelen)
{
	uint8_t *p = chunk + pos;

	assert(reclen >= mapfs_dirent_size(namelen) && pos <= USABLE - reclen);
	memset(p, 0, reclen);
	mapfs_put_le64(p + DE_INO, ino);
	mapfs_put_le16(p + DE_RECLEN, (uint16_t)reclen);
	p[DE_TYPE] = (uint8_t)type;
	p[DE_NAMELEN] = (uint8_t)namelen;
	memcpy(p + HDR, name, namelen);
	if (fs)		/* NULL: fsck's chunk_init, whose caller seals */
		mapfs_jdirty(fs, p, reclen);
}

static bool dt_valid(uint32_t type)
{
	switch (type) {
	case MAPFS_DT_FIFO:
	case MAPFS_DT_CHR:
	case MAPFS_DT_DIR:
	case MAPFS_DT_BLK:
	case MAPFS_DT_REG:
	case MAPFS_DT_LNK:
	case MAPFS_DT_SOCK:
		return true;
	default:
		return false;
	}
}

static bool name_is_dot(const void *name, uint32_t namelen)
{
	return namelen == 1 && memcmp(name, ".", 1) == 0;
}

static bool name_is_dotdot(const void *name, uint32_t namelen)
{
	return namelen == 2 && memcmp(name, "..", 2) == 0;
}

/* A name callers may look up: 1..MAPFS_NAME_MAX bytes. */
static int name_check_len(uint32_t namelen)
{
	if (namelen == 0)
		return -EINVAL;
	if (namelen > MAPFS_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* A name that may be stored: also no '/' and no NUL. */
static int name_check_store(const char *name, uint32_t namelen)
{
	int err = name_check_len(namelen);

	if (err < 0)
		return err;
	if (memchr(name, '/', namelen) || memchr(name, '\0', namelen))
		return -EINVAL;
	return 0;
}

uint32_t mapfs_dir_chunk_crc(const struct mapfs_fs *fs, mapfs_ino_t dir_ino,
			     mapfs_bno_t bno, uint32_t page,
			     const uint8_t *chunk)
{
	return mapfs_crc_page(fs, dir_ino, bno, page, chunk, USABLE);
}


/* Where the record check stopped: offset and kind of the first bad record
 * (fsck support, see mapfs_dir_chunk_first_bad). */
struct recbad {
	uint32_t off;
	int kind;
};

#define RECBAD(k, ...) (bad->off = off, bad->kind = (k), \
			mapfs_why(why, whylen, __VA_ARGS__))

/*
 * Check the records of a chunk (not its tail). Every read is inside the
 * 4096 bytes at chunk: a header is read only when at least HDR bytes
 * remain before the tail, and name bytes only once reclen (itself bounded
 * by the bytes left) covers them. Offsets stay below 4096, so the sums
 * below cannot overflow; the comparisons are written as subtractions
 * anyway. On failure *bad says where and what.
 */
static int check_records(const struct mapfs_fs *fs, mapfs_ino_t dir_ino,
			 uint64_t chunk_idx, const uint8_t *chunk,
			 struct recbad *bad, char *why, size_t whylen)
{
	unsigned long long ci = chunk_idx;
	uint32_t off, left, nrec = 0;
	struct drec r;
	bool dot, dotdot;

	for (off = 0; off < USABLE; off += r.reclen, nrec++) {
		left = USABLE - off;
		if (left < HDR)
			return RECBAD(MAPFS_DIRBAD_OTHER,
				      "chunk %llu offset %u: %u bytes left, too few for a record header",
				      ci, off, left);
		rec_decode(chunk, off, &r);
		if (r.reclen == 0)
			return RECBAD(MAPFS_DIRBAD_OTHER,
				      "chunk %llu offset %u: reclen 0", ci, off);
		if (r.reclen % MAPFS_DIR_ALIGN)
			return RECBAD(MAPFS_DIRBAD_OTHER,
				      "chunk %llu offset %u: reclen %u not a multiple of %u",
				      ci, off, r.reclen, MAPFS_DIR_ALIGN);
		if (r.reclen > left)
			return RECBAD(MAPFS_DIRBAD_OTHER,
				      "chunk %llu offset %u: reclen %u runs past the end of the chunk (%u bytes left)",
				      ci, off, r.reclen, left);

		if (r.ino == 0) {
			/* Free space is only ever a chunk's first record,
			 * and chunk 0 always starts with ".". */
			if (chunk_idx == 0 && off == 0)
				return RECBAD(MAPFS_DIRBAD_OTHER,
					      "chunk 0 offset 0: '.' missing (free record)");
			if (off != 0)
				return RECBAD(MAPFS_DIRBAD_OTHER,
					      "chunk %llu offset %u: free record in the middle of the chunk",
					      ci, off);
			if (r.namelen != 0)
				return RECBAD(MAPFS_DIRBAD_OTHER,
					      "chunk %llu offset %u: free record with namelen %u",
					      ci, off, r.namelen);
			if (r.reclen < mapfs_dirent_size(0))
				return RECBAD(MAPFS_DIRBAD_OTHER,
					      "chunk %llu offset %u: reclen %u smaller than record (%u)",
					      ci, off, r.reclen,
					      mapfs_dirent_size(0));
			continue;
		}

		if (r.namelen == 0)
			return RECBAD(MAPFS_DIRBAD_OTHER,
				      "chunk %llu offset %u: live record with namelen 0",
				      ci, off);
		if (r.reclen < mapfs_dirent_size(r.namelen))
			return RECBAD(MAPFS_DIRBAD_OTHER,
				      "chunk %llu offset %u: reclen %u smaller than record (%u for namelen %u)",
				      ci, off, r.reclen,
				      mapfs_dirent_size(r.namelen), r.namelen);
		/* From here the name lies inside the record. */
		if (memchr(r.name, '/', r.namelen))
			return RECBAD(MAPFS_DIRBAD_OTHER,
				      "chunk %llu offset %u: name contains '/'",
				      ci, off);
		if (memchr(r.name, '\0', r.namelen))
			return RECBAD(MAPFS_DIRBAD_OTHER,
				      "chunk %llu offset %u: name contains NUL",
				      ci, off);

		dot = name_is_dot(r.name, r.namelen);
		dotdot = name_is_dotdot(r.name, r.namelen);
		if (!mapfs_ino_valid(&fs->g, r.ino))
			return RECBAD(chunk_idx == 0 && nrec < 2 &&
				      (dot || dotdot) ?
				      MAPFS_DIRBAD_DOT : MAPFS_DIRBAD_INO,
				      "chunk %llu offset %u: inode %llu out of range",
				      ci, off, (unsigned long long)r.ino);
		if (!dt_valid(r.type))
			return RECBAD(chunk_idx == 0 && nrec < 2 &&
				      (dot || dotdot) ? MAPFS_DIRBAD_DOT :
				      MAPFS_DIRBAD_TYPE,
				      "chunk %llu offset %u: bad type %u",
				      ci, off, r.type);

		if (chunk_idx == 0 && nrec == 0) {
			if (!dot)
				return RECBAD(MAPFS_DIRBAD_OTHER,
					      "chunk 0 offset 0: '.' missing");
			if (r.ino != dir_ino)
				return RECBAD(MAPFS_DIRBAD_DOT,
					      "chunk 0 offset 0: '.' names inode %llu, not the directory %llu",
					      (unsigned long long)r.ino,
					      (unsigned long long)dir_ino);
			if (r.type != MAPFS_DT_DIR)
				return RECBAD(MAPFS_DIRBAD_DOT,
					      "chunk 0 offset 0: '.' has type %u, not a directory",
					      r.type);
		} else if (chunk_idx == 0 && nrec == 1) {
			if (!dotdot)
				return RECBAD(MAPFS_DIRBAD_OTHER,
					      "chunk 0 offset %u: '..' missing",
					      off);
			if (r.type != MAPFS_DT_DIR)
				return RECBAD(MAPFS_DIRBAD_DOT,
					      "chunk 0 offset %u: '..' has type %u, not a directory",
					      off, r.type);
		} else if (dot || dotdot) {
			return RECBAD(MAPFS_DIRBAD_DOT_PLACE,
				      "chunk %llu offset %u: '%s' out of place",
				      ci, off, dot ? "." : "..");
		}
	}
	if (chunk_idx == 0 && nrec < 2) {
		off = 0;
		return RECBAD(MAPFS_DIRBAD_OTHER, "chunk 0: '..' missing");
	}
	bad->off = USABLE;
	bad->kind = 0;
	return 0;
}

/*
 * Validate one chunk: tail magic, CRC, then every record.
 */
int mapfs_dir_check_chunk(const struct mapfs_fs *fs, mapfs_ino_t dir_ino,
			  mapfs_bno_t bno, uint32_t page, uint64_t chunk_idx,
			  const uint8_t *chunk, char *why, size_t whylen)
{
	unsigned long long ci = chunk_idx;
	uint32_t magic, stored, crc;
	struct recbad bad;

	magic = mapfs_get_le32(chunk + DT_MAGIC);
	if (magic != MAPFS_DIRTAIL_MAGIC)
		return mapfs_why(why, whylen,
				 "chunk %llu: bad tail magic 0x%08x", ci, magic);
	stored = mapfs_get_le32(chunk + DT_CRC);
	crc = mapfs_dir_chunk_crc(fs, dir_ino, bno, page, chunk);
	if (crc != stored)
		return mapfs_why(why, whylen,
				 "chunk %llu: checksum mismatch (stored 0x%08x, computed 0x%08x)",
				 ci, stored, crc);
	return check_records(fs, dir_ino, chunk_idx, chunk, &bad, why, whylen);
}

/* ------------------------------------------------------------------ */
/* Chunks of a directory                                               */
/* ------------------------------------------------------------------ */

struct dchunk {
	uint8_t *p;		/* the chunk's 4096 bytes in the image */
	mapfs_bno_t bno;	/* physical block holding it */
	uint32_t page;		/* page of the chunk in that block */
	uint64_t idx;		/* chunk index in the directory */
};

/* Number of chunks of dir; its size must be a positive multiple of 4096
 * (chunk 0 always exists once mapfs_dir_init ran). */
static int dir_nchunks(struct mapfs_fs *fs, const struct mapfs_inode *dir,
		       uint64_t *np)
{
	if ((dir->mode & MAPFS_IFMT) != MAPFS_IFDIR)
		return -ENOTDIR;
	if (dir->size == 0 || dir->size % CHUNK)
		return MAPFS_CORRUPT(fs,
				     "directory %llu: size %llu is not a positive multiple of %u",
				     (unsigned long long)dir->ino,
				     (unsigned long long)dir->size, CHUNK);
	/* A directory has no holes, so its blocks cover its size: this
	 * bounds every scan by what the inode really holds (a forged size
	 * over shared indirect pointers cannot make a lookup walk
	 * billions of chunks). */
	if (dir->size > (dir->blocks << fs->g.bshift))
		return MAPFS_CORRUPT(fs,
				     "directory %llu: size %llu beyond its %llu blocks",
				     (unsigned long long)dir->ino,
				     (unsigned long long)dir->size,
				     (unsigned long long)dir->blocks);
	*np = dir->size / CHUNK;
	return 0;
}

/* Point ch at chunk c, given its block bno (already mapped). */
static int chunk_at(struct mapfs_fs *fs, const struct mapfs_inode *dir,
		    uint64_t c, mapfs_bno_t bno, struct dchunk *ch)
{
	uint8_t *blk;

	blk = mapfs_bno_is_data(&fs->g, bno) ? mapfs_block(fs, bno) : NULL;
	if (!blk)
		return MAPFS_CORRUPT(fs,
				     "directory %llu: chunk %llu in block %llu, not a data block",
				     (unsigned long long)dir->ino,
				     (unsigned long long)c,
				     (unsigned long long)bno);
	ch->idx = c;
	ch->bno = bno;
	ch->page = (uint32_t)(c % fs->g.pages_per_block);
	ch->p = blk + (size_t)ch->page * CHUNK;
	return 0;
}

/* Find chunk c (< nchunks) and validate it. Read-only. */
/* The image page a chunk lives in (the known-good bits' index). */
static uint64_t chunk_page(const struct mapfs_fs *fs, mapfs_bno_t bno,
			   uint32_t page)
{
	return bno * fs->g.pages_per_block + page;
}

static int chunk_get(struct mapfs_fs *fs, const struct mapfs_inode *dir,
		     uint64_t c, struct dchunk *ch)
{
	char why[192];
	mapfs_bno_t bno;
	int err;

	err = mapfs_bmap(fs, dir, c / fs->g.pages_per_block, &bno);
	if (err < 0)
		return err;
	if (bno == 0)
		return MAPFS_CORRUPT(fs,
				     "directory %llu: chunk %llu is in a hole",
				     (unsigned long long)dir->ino,
				     (unsigned long long)c);
	err = chunk_at(fs, dir, c, bno, ch);
	if (err < 0)
		return err;
	/* Checked or written by us since the mount (image.c): as it was. */
	if (mapfs_page_known(fs, chunk_page(fs, ch->bno, ch->page)))
		return 0;
	err = mapfs_dir_check_chunk(fs, dir->ino, ch->bno, ch->page, c, ch->p,
				    why, sizeof(why));
	if (err < 0)
		return MAPFS_CORRUPT(fs, "directory %llu: %s",
				     (unsigned long long)dir->ino, why);
	mapfs_page_good(fs, chunk_page(fs, ch->bno, ch->page));
	return 0;
}

/*
 * Directory read-ahead. The mapping is MADV_RANDOM, so a scan of a cold
 * directory (building its index, a listing, a lookup without an index)
 * would wait for one 4 KiB read per chunk. A scan that reaches chunk c, a
 * multiple of DIR_AHEAD, asks for the directory's blocks of the window
 * after the next one at once; at chunk 0, for the first two windows, so
 * the scan never waits at the start of a window. A directory's blocks are
 * mostly contiguous (allocated near each other), so this is a few reads.
 */
#define DIR_AHEAD	256u	/* chunks: 1 MiB */

/* Ask for the blocks holding chunks [lo, hi) of dir. */
static void dir_ahead_range(struct mapfs_fs *fs,
			    const struct mapfs_inode *dir, uint64_t lo,
			    uint64_t hi)
{
	const struct mapfs_geom *g = &fs->g;
	uint64_t lbn, run = 0;
	mapfs_bno_t bno, start = 0;

	for (lbn = lo / g->pages_per_block; lo < hi &&
	     lbn <= (hi - 1) / g->pages_per_block; lbn++) {
		if (mapfs_bmap(fs, dir, lbn, &bno) < 0 ||
		    !mapfs_bno_is_data(g, bno))
			break;	/* the scan itself reports it */
		if (run && bno == start + run) {
			run++;
			continue;
		}
		if (run)
			mapfs_fs_readahead(fs, mapfs_data_block(fs, start),
					   run << g->bshift);
		start = bno;
		run = 1;
	}
	if (run)
		mapfs_fs_readahead(fs, mapfs_data_block(fs, start),
				   run << g->bshift);
}

static void dir_ahead(struct mapfs_fs *fs, const struct mapfs_inode *dir,
		      uint64_t c, uint64_t n)
{
	if (fs->fd < 0 || n < 2 || c % DIR_AHEAD)
		return;
	dir_ahead_range(fs, dir, c ? c + DIR_AHEAD : 0,
			c + 2 * DIR_AHEAD < n ? c + 2 * DIR_AHEAD : n);
}

void mapfs_dir_prefetch(struct mapfs_fs *fs, const struct mapfs_inode *dir)
{
	uint64_t n = dir->size / CHUNK;
	uint64_t direct = (uint64_t)MAPFS_NDADDR * fs->g.pages_per_block;

	/* dir_nchunks's checks, without reporting: a scan will. And only
	 * the chunks in direct blocks: looking up the others would read
	 * (and check, and report if damaged) indirect blocks of a
	 * directory nobody may ever list. */
	if (fs->fd < 0 || (dir->mode & MAPFS_IFMT) != MAPFS_IFDIR ||
	    n == 0 || dir->size > (dir->blocks << fs->g.bshift))
		return;
	dir_ahead_range(fs, dir, 0, n < direct ? n : direct);
}

/* Write the tail of a chunk after a change. */
static void chunk_seal(struct mapfs_fs *fs, const struct mapfs_inode *dir,
		       const struct dchunk *ch)
{
	mapfs_put_le32(ch->p + DT_MAGIC, MAPFS_DIRTAIL_MAGIC);
	mapfs_put_le32(ch->p + DT_CRC,
		       mapfs_dir_chunk_crc(fs, dir->ino, ch->bno, ch->page,
					   ch->p));
	mapfs_jdirty(fs, ch->p + USABLE, CHUNK - USABLE);
	mapfs_page_good(fs, chunk_page(fs, ch->bno, ch->page));
}

/*
 * Map the chunk just past the end of dir and zero it, allocating a block
 * when the chunk starts one. The size is not changed: the caller fills and
 * seals the chunk first, then grows the size and stores the inode, so a
 * crash never exposes a half-made chunk. On failure after the block map
 * changed, the inode is stored so the new block is not leaked.
 */
static int chunk_append(struct mapfs_fs *fs, struct mapfs_inode *dir,
			bool use_reserve, struct dchunk *ch)
{
	uint64_t c = dir->size / CHUNK;
	uint64_t lbn = c / fs->g.pages_per_block;
	uint64_t blocks = dir->blocks;
	mapfs_bno_t bno;
	int err;

	assert(dir->size % CHUNK == 0);
	if (fs->g.maxfilesize < CHUNK || dir->size > fs->g.maxfilesize - CHUNK)
		return -EFBIG;
	if (c % fs->g.pages_per_block == 0) {
		/* A fresh block: zeroed by bmap_alloc (will_overwrite
		 * false), so the pages past the new chunk read as zero. */
		err = mapfs_bmap_alloc(fs, dir, lbn, use_reserve, false, &bno);
	} else {
		/* The block already holds chunk c - 1. */
		err = mapfs_bmap(fs, dir, lbn, &bno);
		if (err == 0 && bno == 0)
			err = MAPFS_CORRUPT(fs,
					    "directory %llu: block %llu holding chunk %llu is a hole",
					    (unsigned long long)dir->ino,
					    (unsigned long long)lbn,
					    (unsigned long long)c - 1);
	}
	if (err == 0)
		err = chunk_at(fs, dir, c, bno, ch);
	if (err < 0) {
		if (dir->blocks != blocks)
			mapfs_inode_store(fs, dir);
		return err;
	}
	memset(ch->p, 0, CHUNK);
	mapfs_jdirty(fs, ch->p, CHUNK);
	return 0;
}

/* Make the appended, sealed chunk part of the directory. */
static void chunk_commit(struct mapfs_fs *fs, struct mapfs_inode *dir)
{
	dir->size += CHUNK;
	mapfs_inode_store(fs, dir);
}

/* ------------------------------------------------------------------ */
/* Finding records                                                     */
/* ------------------------------------------------------------------ */

struct dslot {
	struct dchunk ch;
	uint32_t pos;		/* offset of the record in its chunk */
	uint32_t prev;		/* offset of the record before it */
	struct drec r;
};

/* Largest record the validated chunk can still take: a free first
 * record's length, or the slack past a live record's own size. */
static uint32_t chunk_room(const uint8_t *chunk)
{
	uint32_t pos, room = 0, r;
	struct drec d;

	for (pos = 0; pos < USABLE; pos += d.reclen) {
		rec_decode(chunk, pos, &d);
		r = d.ino == 0 ? d.reclen
			       : d.reclen - mapfs_dirent_size(d.namelen);
		if (r > room)
			room = r;
	}
	return room;
}

/*
 * Visit every live record of dir in order, chunk after chunk (reading
 * ahead): rec for each, with *s filled (chunk, record, its offset and
 * the offset of the record before it); done, if given, after each chunk.
 * A nonzero return of either stops the walk and is returned.
 */
static int dir_walk(struct mapfs_fs *fs, const struct mapfs_inode *dir,
		    int (*rec)(void *arg, const struct dslot *s),
		    int (*done)(void *arg, const struct dchunk *ch),
		    void *arg, struct dslot *s)
{
	uint64_t c, n = 0;
	int err;

	err = dir_nchunks(fs, dir, &n);
	if (err < 0)
		return err;
	for (c = 0; c < n; c++) {
		dir_ahead(fs, dir, c, n);
		err = chunk_get(fs, dir, c, &s->ch);
		if (err < 0)
			return err;
		s->prev = 0;
		for (s->pos = 0; s->pos < USABLE;
		     s->prev = s->pos, s->pos += s->r.reclen) {
			rec_decode(s->ch.p, s->pos, &s->r);
			if (s->r.ino == 0)
				continue;
			err = rec(arg, s);
			if (err)
				return err;
		}
		if (done && (err = done(arg, &s->ch)) != 0)
			return err;
	}
	return 0;
}

struct dh_fill {
	struct mapfs_fs *fs;
	struct mapfs_dh *h;
};

static int dh_fill_rec(void *arg, const struct dslot *s)
{
	struct dh_fill *f = arg;

	return mapfs_dh_add(f->fs, f->h, (const char *)s->r.name,
			    s->r.namelen, s->ch.idx * CHUNK + s->pos);
}

static int dh_fill_room(void *arg, const struct dchunk *ch)
{
	struct dh_fill *f = arg;

	return mapfs_dh_set_room(f->fs, f->h, ch->idx, chunk_room(ch->p));
}

/* Fill a fresh index from every chunk of dir. Caller holds the index. */
static int dh_build(struct mapfs_fs *fs, const struct mapfs_inode *dir,
		    struct mapfs_dh *h)
{
	struct dh_fill f = { fs, h };
	struct dslot s;
	int err;

	err = dir_walk(fs, dir, dh_fill_rec, dh_fill_room, &f, &s);
	if (err < 0)
		return err;
	mapfs_dh_built(h);
	return 0;
}

/* The index of dir, built if new, with the cache lock held; NULL (and
 * unlocked) when there is none or it could not be built. */
static struct mapfs_dh *dh_get(struct mapfs_fs *fs,
			       const struct mapfs_inode *dir)
{
	struct mapfs_dh *h = mapfs_dh_acquire(fs, dir);

	if (h && mapfs_dh_building(h) && dh_build(fs, dir, h) < 0) {
		mapfs_dh_discard(fs, h);
		mapfs_dh_release(fs);
		return NULL;
	}
	return h;
}

/* Find the record at pos of the validated chunk, and the one before it.
 * False if no record starts at pos (a stale index entry). */
static bool rec_at(const uint8_t *chunk, uint32_t want, uint32_t *prevp,
		   struct drec *r)
{
	uint32_t pos, prev = 0;

	for (pos = 0; pos < USABLE && pos <= want; prev = pos,
	     pos += r->reclen) {
		rec_decode(chunk, pos, r);
		if (pos == want) {
			*prevp = prev;
			return r->ino != 0;
		}
	}
	return false;
}

/* dir_find through the index: 0, -ENOENT, an error, or 1 when the index
 * proved stale (it is then dropped; scan instead). */
static int dh_find(struct mapfs_fs *fs, const struct mapfs_inode *dir,
		   struct mapfs_dh *h, const char *name, uint32_t namelen,
		   struct dslot *s)
{
	uint64_t cursor = 0, off, n = 0;
	int err;

	err = dir_nchunks(fs, dir, &n);
	if (err < 0)
		return err;
	while ((off = mapfs_dh_next(h, name, namelen, &cursor)) !=
	       UINT64_MAX) {
		if (off / CHUNK >= n)
			goto stale;
		err = chunk_get(fs, dir, off / CHUNK, &s->ch);
		if (err < 0)
			return err;
		if (!rec_at(s->ch.p, (uint32_t)(off % CHUNK), &s->prev, &s->r))
			goto stale;
		if (s->r.namelen != namelen ||
		    memcmp(s->r.name, name, namelen) != 0)
			continue;	/* another name with the same hash */
		s->pos = (uint32_t)(off % CHUNK);
		return 0;
	}
	return -ENOENT;
stale:
	mapfs_dh_discard(fs, h);
	return 1;
}

struct dname {
	const char *name;
	uint32_t len;
};

/* 1 if the record of s is named want (a struct dname). */
static int name_matches(void *want, const struct dslot *s)
{
	const struct dname *w = want;

	return s->r.namelen == w->len &&
	       memcmp(s->r.name, w->name, w->len) == 0;
}

/* Find the live record named name. 0, -ENOENT or an error. Read-only
 * on the image (it may build the in-memory index). */
static int dir_find(struct mapfs_fs *fs, const struct mapfs_inode *dir,
		    const char *name, uint32_t namelen, struct dslot *s)
{
	struct mapfs_dh *h = dh_get(fs, dir);
	struct dname want = { name, namelen };
	int err;

	if (h) {
		err = dh_find(fs, dir, h, name, namelen, s);
		mapfs_dh_release(fs);
		if (err <= 0)
			return err;
	}
	err = dir_walk(fs, dir, name_matches, NULL, &want, s);
	if (err < 0)
		return err;
	return err ? 0 : -ENOENT;
}

/*
 * Walk live records from directory offset off. The chunk holding off is
 * scanned from its start (records are variable-length, so off may point
 * anywhere) and the walk begins with the first live record at or past off.
 * A cookie handed out earlier is the offset just past a record that was
 * seen; records that stay never move, so resuming from it sees each of
 * them once: those before it were seen, those after were not.
 *
 * The callback gets a NUL-terminated copy of the name. It must not change
 * the directory.
 */
int mapfs_dir_iterate(struct mapfs_fs *fs, const struct mapfs_inode *dir,
		      uint64_t off, mapfs_dir_cb cb, void *arg)
{
	char name[MAPFS_NAME_MAX + 1];
	uint64_t c, n = 0, next_off;
	uint32_t pos, start, next;
	struct dchunk ch;
	struct drec r;
	int err;

	err = dir_nchunks(fs, dir, &n);
	if (err < 0)
		return err;
	if (off >= dir->size)
		return 0;
	start = (uint32_t)(off % CHUNK);
	for (c = off / CHUNK; c < n; c++, start = 0) {
		dir_ahead(fs, dir, c, n);
		err = chunk_get(fs, dir, c, &ch);
		if (err < 0)
			return err;
		for (pos = 0; pos < USABLE; pos += r.reclen) {
			rec_decode(ch.p, pos, &r);
			if (r.ino == 0 || pos < start)
				continue;
			/* Past the last record of a chunk comes the next
			 * chunk (or, for the last one, the directory size). */
			next = pos + r.reclen;
			next_off = c * CHUNK + (next < USABLE ? next : CHUNK);
			memcpy(name, r.name, r.namelen);
			name[r.namelen] = '\0';
			err = cb(arg, name, r.namelen, r.ino, r.type,
				 next_off);
			if (err)
				return err;
		}
	}
	return 0;
}

int mapfs_dir_lookup(struct mapfs_fs *fs, const struct mapfs_inode *dir,
		     const char *name, uint32_t namelen, mapfs_ino_t *inop,
		     uint32_t *typep)
{
	struct dslot s;
	int err;

	err = name_check_len(namelen);
	if (err < 0)
		return err;
	err = dir_find(fs, dir, name, namelen, &s);
	if (err < 0)
		return err;
	if (inop)
		*inop = s.r.ino;
	if (typep)
		*typep = s.r.type;
	return 0;
}

/*
 * First fit over the existing chunks: the lowest record whose slack (the
 * bytes past its own size) holds the new record, or a chunk's free first
 * record that is large enough. Failing that, a new chunk holds the record
 * alone. The new record is written into bytes no live record covers yet,
 * then the record that owned them shrinks; both are in one page, so a
 * crash shows the chunk before or after, caught by the CRC if torn.
 */
int mapfs_dir_add(struct mapfs_fs *fs, struct mapfs_inode *dir,
		  const char *name, uint32_t namelen, mapfs_ino_t ino,
		  uint32_t type, bool use_reserve)
{
	uint32_t need = mapfs_dirent_size(namelen);
	struct mapfs_dh *h;
	uint32_t pos, used;
	uint64_t c, n = 0;
	struct dchunk ch;
	struct drec r;
	int err;

	err = name_check_store(name, namelen);
	if (err < 0)
		return err;
	if (name_is_dot(name, namelen) || name_is_dotdot(name, namelen))
		return -EEXIST;
	if (!mapfs_ino_valid(&fs->g, ino) || !dt_valid(type))
		return -EINVAL;
	err = dir_nchunks(fs, dir, &n);
	if (err < 0)
		return err;

	h = dh_get(fs, dir);
	if (h) {
		/* The index knows which chunk has room: try only that one. */
		int64_t hc = mapfs_dh_find_room(h, need);
		c = hc < 0 ? n : (uint64_t)hc;
		n = hc < 0 ? n : c + 1;
	} else {
		c = 0;
	}
	for (; c < n; c++) {
		err = chunk_get(fs, dir, c, &ch);
		if (err < 0)
			goto out;
		for (pos = 0; pos < USABLE; pos += r.reclen) {
			rec_decode(ch.p, pos, &r);
			if (r.ino == 0) {
				if (r.reclen < need)
					continue;
				/* Reuse the free record, keeping reclen. */
				rec_write(fs, ch.p, pos, r.reclen, ino, type, name,
					  namelen);
				chunk_seal(fs, dir, &ch);
				goto added;
			}
			used = mapfs_dirent_size(r.namelen);
			if (r.reclen - used < need)
				continue;
			rec_write(fs, ch.p, pos + used, r.reclen - used, ino, type,
				  name, namelen);
			mapfs_put_le16(ch.p + pos + DE_RECLEN, (uint16_t)used);
			mapfs_jdirty(fs, ch.p + pos + DE_RECLEN, 2);
			pos += used;
			chunk_seal(fs, dir, &ch);
			goto added;
		}
		if (h) {
			/* The index said this chunk had room: it is stale. */
			mapfs_dh_discard(fs, h);
			mapfs_dh_release(fs);
			h = NULL;
			c = (uint64_t)-1;	/* rescan from chunk 0 */
			err = dir_nchunks(fs, dir, &n);
			if (err < 0)
				return err;
		}
	}

	err = chunk_append(fs, dir, use_reserve, &ch);
	if (err < 0)
		goto out;
	pos = 0;
	rec_write(fs, ch.p, 0, USABLE, ino, type, name, namelen);
	chunk_seal(fs, dir, &ch);
	chunk_commit(fs, dir);
added:
	err = 0;
	if (h && (mapfs_dh_add(fs, h, name, namelen, ch.idx * CHUNK + pos) < 0 ||
		  mapfs_dh_set_room(fs, h, ch.idx, chunk_room(ch.p)) < 0))
		mapfs_dh_discard(fs, h);	/* no memory: scan instead */
out:
	if (h)
		mapfs_dh_release(fs);
	return err;
}

/*
 * The record's bytes join the previous record of its chunk, or, for a
 * chunk's first record, it becomes the free record (reclen kept). Name
 * bytes are zeroed so the slack reads as zeros, as the format says.
 */
int mapfs_dir_remove(struct mapfs_fs *fs, struct mapfs_inode *dir,
		     const char *name, uint32_t namelen, mapfs_ino_t *inop)
{
	struct mapfs_dh *h;
	struct dslot s;
	uint8_t *p;
	int err;

	err = name_check_len(namelen);
	if (err < 0)
		return err;
	if (name_is_dot(name, namelen) || name_is_dotdot(name, namelen))
		return -EINVAL;
	err = dir_find(fs, dir, name, namelen, &s);
	if (err < 0)
		return err;
	if (inop)
		*inop = s.r.ino;

	p = s.ch.p + s.pos;
	if (s.pos == 0) {
		/* Only chunks > 0 can get here: chunk 0 starts with ".". */
		assert(s.ch.idx != 0);
		memset(p + HDR, 0, s.r.reclen - HDR);
		mapfs_put_le64(p + DE_INO, 0);
		p[DE_TYPE] = 0;
		p[DE_NAMELEN] = 0;
		mapfs_jdirty(fs, p, s.r.reclen);
	} else {
		uint8_t *prev = s.ch.p + s.prev;
		uint32_t prevlen = mapfs_get_le16(prev + DE_RECLEN);

		assert(s.prev + prevlen == s.pos);
		memset(p, 0, s.r.reclen);
		mapfs_put_le16(prev + DE_RECLEN,
			       (uint16_t)(prevlen + s.r.reclen));
		mapfs_jdirty(fs, p, s.r.reclen);
		mapfs_jdirty(fs, prev + DE_RECLEN, 2);
	}
	chunk_seal(fs, dir, &s.ch);
	h = mapfs_dh_acquire(fs, dir);
	if (h) {
		if (mapfs_dh_building(h)) {
			mapfs_dh_discard(fs, h);	/* fill it next time */
		} else {
			mapfs_dh_del(h, name, namelen, s.ch.idx * CHUNK + s.pos);
			if (mapfs_dh_set_room(fs, h, s.ch.idx,
					      chunk_room(s.ch.p)) < 0)
				mapfs_dh_discard(fs, h);
		}
		mapfs_dh_release(fs);
	}
	return 0;
}

int mapfs_dir_replace(struct mapfs_fs *fs, struct mapfs_inode *dir,
		      const char *name, uint32_t namelen, mapfs_ino_t ino,
		      uint32_t type)
{
	struct dslot s;
	uint8_t *p;
	int err;

	err = name_check_len(namelen);
	if (err < 0)
		return err;
	/* "." always names the directory itself; ".." may be re-pointed
	 * (rename of a directory), but only at another directory. */
	if (name_is_dot(name, namelen))
		return -EINVAL;
	if (!mapfs_ino_valid(&fs->g, ino) || !dt_valid(type))
		return -EINVAL;
	if (name_is_dotdot(name, namelen) && type != MAPFS_DT_DIR)
		return -EINVAL;
	err = dir_find(fs, dir, name, namelen, &s);
	if (err < 0)
		return err;
	p = s.ch.p + s.pos;
	mapfs_put_le64(p + DE_INO, ino);
	p[DE_TYPE] = (uint8_t)type;
	mapfs_jdirty(fs, p, HDR);
	chunk_seal(fs, dir, &s.ch);
	return 0;
}

int mapfs_dir_init(struct mapfs_fs *fs, struct mapfs_inode *dir,
		   mapfs_ino_t parent, bool use_reserve)
{
	const uint32_t dotlen = mapfs_dirent_size(1);
	struct dchunk ch;
	int err;

	if ((dir->mode & MAPFS_IFMT) != MAPFS_IFDIR)
		return -ENOTDIR;
	if (dir->size != 0 || !mapfs_ino_valid(&fs->g, dir->ino) ||
	    !mapfs_ino_valid(&fs->g, parent))
		return -EINVAL;
	err = chunk_append(fs, dir, use_reserve, &ch);
	if (err < 0)
		return err;
	rec_write(fs, ch.p, 0, dotlen, dir->ino, MAPFS_DT_DIR, ".", 1);
	rec_write(fs, ch.p, dotlen, USABLE - dotlen, parent, MAPFS_DT_DIR, "..", 2);
	chunk_seal(fs, dir, &ch);
	chunk_commit(fs, dir);
	return 0;
}

static int not_dot_cb(void *arg, const char *name, uint32_t namelen,
		      mapfs_ino_t ino, uint32_t type, uint64_t next_off)
{
	(void)arg;
	(void)ino;
	(void)type;
	(void)next_off;
	return !name_is_dot(name, namelen) && !name_is_dotdot(name, namelen);
}

int mapfs_dir_is_empty(struct mapfs_fs *fs, const struct mapfs_inode *dir)
{
	int err = mapfs_dir_iterate(fs, dir, 0, not_dot_cb, NULL);

	if (err < 0)
		return err;
	return err == 0;
}

/* ------------------------------------------------------------------ */
/* fsck support: single chunks in a caller's buffer                     */
/* ------------------------------------------------------------------ */

/*
 * Check the records of a chunk, ignoring its tail (magic and CRC). 0 if
 * they are valid (*offp = 4088, *kindp = 0); otherwise -EUCLEAN with the
 * offset of the first bad record in *offp (0 when chunk 0 lacks '..'
 * after a '.' covering the chunk) and what is wrong with it in *kindp
 * (MAPFS_DIRBAD_*). Read-only.
 */
int mapfs_dir_chunk_first_bad(const struct mapfs_fs *fs, mapfs_ino_t dir_ino,
			      uint64_t chunk_idx, const uint8_t *chunk,
			      uint32_t *offp, int *kindp, char *why,
			      size_t whylen)
{
	struct recbad bad = { USABLE, 0 };
	int err = check_records(fs, dir_ino, chunk_idx, chunk, &bad, why,
				whylen);

	*offp = bad.off;
	*kindp = bad.kind;
	return err;
}

/* Decode the record header at pos (a multiple of 8 below 4088) of a
 * chunk; -EINVAL if the header or the name would not fit before the
 * tail. Does not validate anything else. */
int mapfs_dir_chunk_record(const uint8_t *chunk, uint32_t pos,
			   struct mapfs_dirrec *r)
{
	struct drec d;

	if (pos >= USABLE || USABLE - pos < HDR)
		return -EINVAL;
	rec_decode(chunk, pos, &d);
	if (d.namelen > USABLE - pos - HDR)
		return -EINVAL;
	r->ino = d.ino;
	r->reclen = d.reclen;
	r->type = d.type;
	r->namelen = d.namelen;
	r->name = (const char *)d.name;
	return 0;
}

/* Visit the live records of a chunk that passed mapfs_dir_check_chunk
 * (or mapfs_dir_chunk_first_bad): cb gets each record's offset. The
 * callback may change the record it is given (type, or remove it with
 * mapfs_dir_chunk_remove): the next record is found from the reclen read
 * before the call. Returns the first nonzero callback value. */
int mapfs_dir_chunk_iterate(uint8_t *chunk,
			    int (*cb)(void *arg, uint32_t pos,
				      const struct mapfs_dirrec *r),
			    void *arg)
{
	struct mapfs_dirrec r;
	uint32_t pos, reclen;
	int ret;

	for (pos = 0; pos < USABLE; pos += reclen) {
		if (mapfs_dir_chunk_record(chunk, pos, &r) < 0 ||
		    r.reclen < HDR || r.reclen > USABLE - pos)
			return -EUCLEAN;	/* not a checked chunk */
		reclen = r.reclen;
		if (r.ino == 0)
			continue;
		ret = cb(arg, pos, &r);
		if (ret)
			return ret;
	}
	return 0;
}

/* Point the record at pos to ino with type (the caller reseals). */
void mapfs_dir_chunk_set(uint8_t *chunk, uint32_t pos, mapfs_ino_t ino,
			 uint32_t type)
{
	assert(pos < USABLE && USABLE - pos >= HDR);
	mapfs_put_le64(chunk + pos + DE_INO, ino);
	chunk[pos + DE_TYPE] = (uint8_t)type;
}

/*
 * Remove the record at pos the way mapfs_dir_remove does: its bytes join
 * the previous record, or a chunk's first record becomes the free record.
 * The records before pos must tile the chunk up to pos (its own reclen
 * must be sane). -EINVAL if they do not, or for chunk 0's first record.
 * The caller reseals.
 */
int mapfs_dir_chunk_remove(uint8_t *chunk, uint64_t chunk_idx, uint32_t pos)
{
	uint32_t prev = 0, p = 0, reclen;
	struct drec r;

	if (pos >= USABLE || USABLE - pos < HDR)
		return -EINVAL;
	rec_decode(chunk, pos, &r);
	if (r.reclen < HDR || r.reclen > USABLE - pos)
		return -EINVAL;
	if (pos == 0) {
		if (chunk_idx == 0)
			return -EINVAL;
		memset(chunk + HDR, 0, r.reclen - HDR);
		mapfs_put_le64(chunk + DE_INO, 0);
		chunk[DE_TYPE] = 0;
		chunk[DE_NAMELEN] = 0;
		return 0;
	}
	while (p < pos) {
		reclen = mapfs_get_le16(chunk + p + DE_RECLEN);
		if (reclen < HDR || reclen % MAPFS_DIR_ALIGN)
			return -EINVAL;
		prev = p;
		p += reclen;
	}
	if (p != pos)
		return -EINVAL;
	reclen = mapfs_get_le16(chunk + prev + DE_RECLEN);
	memset(chunk + pos, 0, r.reclen);
	mapfs_put_le16(chunk + prev + DE_RECLEN, (uint16_t)(reclen + r.reclen));
	return 0;
}

/* Make chunk an empty chunk: '.' (dir_ino) and '..' (parent) for chunk
 * 0, one free record otherwise. The caller seals. */
void mapfs_dir_chunk_init(uint8_t *chunk, mapfs_ino_t dir_ino,
			  uint64_t chunk_idx, mapfs_ino_t parent)
{
	const uint32_t dotlen = mapfs_dirent_size(1);

	memset(chunk, 0, CHUNK);
	if (chunk_idx == 0) {
		rec_write(NULL, chunk, 0, dotlen, dir_ino, MAPFS_DT_DIR, ".",
			  1);
		rec_write(NULL, chunk, dotlen, USABLE - dotlen, parent,
			  MAPFS_DT_DIR, "..", 2);
	} else {
		rec_write(NULL, chunk, 0, USABLE, 0, 0, "", 0);
	}
}

/*
 * Make a damaged chunk valid, keeping the records before the first bad
 * one: the last kept record absorbs the rest of the chunk (zeroed). If
 * nothing can be kept (chunk 0: '.' or '..' is the bad record) the chunk
 * is reinitialized by mapfs_dir_chunk_init with parent. Returns the
 * offset where records were cut (4088: all kept). The caller seals.
 */
uint32_t mapfs_dir_chunk_salvage(const struct mapfs_fs *fs,
				 mapfs_ino_t dir_ino, uint64_t chunk_idx,
				 mapfs_ino_t parent, uint8_t *chunk)
{
	uint32_t off, p, prev, reclen;
	int kind;

	if (mapfs_dir_chunk_first_bad(fs, dir_ino, chunk_idx, chunk, &off,
				      &kind, NULL, 0) == 0)
		return USABLE;
	if (off == 0 ||
	    (chunk_idx == 0 && off <= mapfs_get_le16(chunk + DE_RECLEN))) {
		mapfs_dir_chunk_init(chunk, dir_ino, chunk_idx, parent);
		return 0;
	}
	/* The records before off passed their checks: they tile [0, off). */
	for (p = 0, prev = 0; p < off; p += reclen) {
		reclen = mapfs_get_le16(chunk + p + DE_RECLEN);
		prev = p;
	}
	memset(chunk + off, 0, USABLE - off);
	mapfs_put_le16(chunk + prev + DE_RECLEN, (uint16_t)(USABLE - prev));
	return off;
}

/* Write the tail magic and CRC of a chunk that will live at page `page`
 * of block bno of directory dir_ino. */
void mapfs_dir_chunk_seal(const struct mapfs_fs *fs, mapfs_ino_t dir_ino,
			  mapfs_bno_t bno, uint32_t page, uint8_t *chunk)
{
	mapfs_put_le32(chunk + DT_MAGIC, MAPFS_DIRTAIL_MAGIC);
	mapfs_put_le32(chunk + DT_CRC,
		       mapfs_dir_chunk_crc(fs, dir_ino, bno, page, chunk));
	mapfs_jdirty(fs, chunk, CHUNK);
	mapfs_page_good(fs, chunk_page(fs, bno, page));
}
