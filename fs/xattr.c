/* SPDX-License-Identifier: MIT */
/*
 * xattr.c - extended attributes (above dir.c in the core's layers,
 * tests/layering.sh).
 *
 * Owns the xattr block (struct mapfs_xattr_hdr, mapfs_xattr_entry,
 * mapfs_xattrtail in mapfs_format.h): attributes live in the inode's slot
 * past its first 256 bytes when they fit there (inode_size 512 or 1024:
 * the default), otherwise in one data block per inode, named by di_xattr
 * and counted in di_blocks; never in both. A set that grows out of the
 * inode moves to a block, one that shrinks back moves into the inode.
 *
 * A block is decoded whole into memory (its payload: the first 4088 bytes
 * of each 4 KiB page, end to end), changed there, and encoded into a NEW
 * block in canonical form (entries in order after the header, values
 * packed down from the end of the payload in the same order). The new
 * block is sealed (each page's tail: magic and CRC seeded with owner and
 * block number) before di_xattr points to it, and the old block is freed
 * after the inode no longer does: a crash leaks a block, never exposes a
 * half-written one. Only when no block is free and the block is a single
 * page is the page rewritten in place (one page reaches the disk whole).
 *
 * Also here: the POSIX ACL xattr helpers the operations layer uses to
 * keep mode and ACL in step (FUSE leaves that to the filesystem).
 *
 * Callers serialize (mapfs.h); get, list and check are read-only.
 */
#include "internal.h"

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HDR_SIZE	sizeof(struct mapfs_xattr_hdr)
#define ENT_HDR		offsetof(struct mapfs_xattr_entry, xe_name)
#define PAGE_USABLE	MAPFS_XATTR_PAGE_USABLE

static inline unsigned long long ull(uint64_t v)
{
	return (unsigned long long)v;
}

static const struct {
	const char *prefix;
	uint32_t len;
	bool whole;		/* the prefix is the whole name */
} ns[MAPFS_XATTR_INDEX_MAX + 1] = {
	[MAPFS_XATTR_INDEX_USER] = { "user.", 5, false },
	[MAPFS_XATTR_INDEX_TRUSTED] = { "trusted.", 8, false },
	[MAPFS_XATTR_INDEX_SECURITY] = { "security.", 9, false },
	[MAPFS_XATTR_INDEX_ACL_ACCESS] = { "system.posix_acl_access", 23,
					   true },
	[MAPFS_XATTR_INDEX_ACL_DEFAULT] = { "system.posix_acl_default", 24,
					    true },
};

static inline uint32_t align4(uint32_t n)
{
	return (n + MAPFS_XATTR_ALIGN - 1) & ~(MAPFS_XATTR_ALIGN - 1);
}

/* Payload bytes of a block: 4088 per page. */
static uint32_t payload_cap(const struct mapfs_fs *fs)
{
	return fs->g.pages_per_block * PAGE_USABLE;
}

/*
 * "user.foo" -> index USER, suffix "foo" (3 bytes);
 * "system.posix_acl_access" -> index ACL_ACCESS, suffix "" (0 bytes).
 */
int mapfs_xattr_parse_name(const char *name, uint32_t *indexp,
			   const char **suffixp, uint32_t *lenp)
{
	size_t n = strnlen(name, MAPFS_NAME_MAX + 1);

	if (n > MAPFS_NAME_MAX)
		return -ENAMETOOLONG;
	for (uint32_t i = 1; i <= MAPFS_XATTR_INDEX_MAX; i++) {
		if (strncmp(name, ns[i].prefix, ns[i].len) != 0)
			continue;
		if (ns[i].whole) {
			if (name[ns[i].len] != 0)
				continue;
		} else if (name[ns[i].len] == 0) {
			return -EINVAL;		/* "user." alone */
		}
		*indexp = i;
		*suffixp = name + ns[i].len;
		*lenp = (uint32_t)(n - ns[i].len);
		return 0;
	}
	return -EOPNOTSUPP;
}

/* ------------------------------------------------------------------ */
/* In-memory form                                                      */
/* ------------------------------------------------------------------ */

struct xent {
	uint32_t index, namelen, vlen;
	const char *name;	/* into the payload copy or the caller's */
	const uint8_t *value;
};

struct xset {
	uint8_t *payload;	/* decoded copy of the block, or NULL */
	struct xent *e;
	uint32_t n, cap;
};

static void xset_free(struct xset *x)
{
	free(x->payload);
	free(x->e);
}

static int xset_push(struct xset *x, const struct xent *e)
{
	if (x->n == x->cap) {
		uint32_t cap = x->cap ? x->cap * 2 : 16;
		struct xent *ne = realloc(x->e, cap * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		x->e = ne;
		x->cap = cap;
	}
	x->e[x->n++] = *e;
	return 0;
}

/* Copy the payload of block blk (pages_per_block pages) into buf. */
static void payload_gather(const struct mapfs_fs *fs, const uint8_t *blk,
			   uint8_t *buf)
{
	for (uint32_t p = 0; p < fs->g.pages_per_block; p++)
		memcpy(buf + (size_t)p * PAGE_USABLE,
		       blk + (size_t)p * MAPFS_PAGE_SIZE, PAGE_USABLE);
}

static uint32_t page_crc(const struct mapfs_fs *fs, mapfs_ino_t owner,
			 mapfs_bno_t bno, uint32_t page, const uint8_t *blk)
{
	return mapfs_crc_page(fs, owner, bno, page,
			      blk + (size_t)page * MAPFS_PAGE_SIZE,
			      PAGE_USABLE);
}

static struct mapfs_xattrtail *page_tail(uint8_t *blk, uint32_t page)
{
	return (struct mapfs_xattrtail *)(blk +
					  (size_t)page * MAPFS_PAGE_SIZE +
					  PAGE_USABLE);
}

/*
 * Check a payload of cap bytes (a block's, gathered, or an inode's) owned
 * by ino, and on success, if xp is non-NULL, decode its entries into *xp,
 * which takes the payload (malloc'ed by the caller); otherwise it is
 * freed. The checks follow the canonical layout the encoder writes, so
 * anything else is damage. where names it in messages.
 */
static int payload_decode(mapfs_ino_t ino, uint8_t *payload, uint32_t cap,
			  const char *where, struct xset *xp, char *why,
			  size_t whylen)
{
	uint32_t count, used, pos, vend, i, j;
	const struct mapfs_xattr_hdr *h;
	struct xset x = { 0 };
	int err;

	x.payload = payload;
	h = (const struct mapfs_xattr_hdr *)x.payload;
	count = le32toh(h->xh_count);
	used = le32toh(h->xh_used);
	err = -EUCLEAN;
	if (le32toh(h->xh_magic) != MAPFS_XATTR_MAGIC) {
		mapfs_why(why, whylen, "%s: bad header magic",
			  where);
		goto bad;
	}
	if (le64toh(h->xh_owner) != ino) {
		mapfs_why(why, whylen, "%s: owner %llu, not %llu",
			  where, ull(le64toh(h->xh_owner)), ull(ino));
		goto bad;
	}
	if (h->xh_pad || h->xh_spare || count == 0 ||
	    count > cap / mapfs_xattr_entry_size(0) || used > cap) {
		mapfs_why(why, whylen,
			  "%s: bad header (%u entries, %u bytes)",
			  where, count, used);
		goto bad;
	}
	pos = HDR_SIZE;
	vend = cap;
	for (i = 0; i < count; i++) {
		const struct mapfs_xattr_entry *e;
		struct xent xe;

		if (pos > cap || cap - pos < ENT_HDR) {
			mapfs_why(why, whylen,
				  "%s: entry %u past the end",
				  where, i);
			goto bad;
		}
		e = (const struct mapfs_xattr_entry *)(x.payload + pos);
		xe.index = e->xe_index;
		xe.namelen = e->xe_namelen;
		xe.vlen = le32toh(e->xe_value_len);
		if (xe.index == 0 || xe.index > MAPFS_XATTR_INDEX_MAX ||
		    e->xe_pad ||
		    (ns[xe.index].whole ? xe.namelen != 0 :
		     xe.namelen == 0 ||
		     xe.namelen + ns[xe.index].len > MAPFS_NAME_MAX)) {
			mapfs_why(why, whylen,
				  "%s: entry %u: bad index or name length",
				  where, i);
			goto bad;
		}
		if (cap - pos < mapfs_xattr_entry_size(xe.namelen)) {
			mapfs_why(why, whylen,
				  "%s: entry %u past the end",
				  where, i);
			goto bad;
		}
		xe.name = (const char *)e->xe_name;
		if (memchr(xe.name, 0, xe.namelen)) {
			mapfs_why(why, whylen,
				  "%s: entry %u: NUL in name",
				  where, i);
			goto bad;
		}
		pos += mapfs_xattr_entry_size(xe.namelen);
		/* Values are packed down from the end, in entry order. */
		if (xe.vlen > vend || align4(xe.vlen) > vend ||
		    le32toh(e->xe_value_off) != vend - align4(xe.vlen)) {
			mapfs_why(why, whylen,
				  "%s: entry %u: bad value offset or length",
				  where, i);
			goto bad;
		}
		vend -= align4(xe.vlen);
		xe.value = x.payload + vend;
		for (j = 0; j < x.n; j++) {
			if (x.e[j].index == xe.index &&
			    x.e[j].namelen == xe.namelen &&
			    !memcmp(x.e[j].name, xe.name, xe.namelen)) {
				mapfs_why(why, whylen,
					  "%s: entry %u: duplicate name",
					  where, i);
				goto bad;
			}
		}
		err = xset_push(&x, &xe);
		if (err < 0)
			goto bad;
		err = -EUCLEAN;
	}
	if (pos > vend) {
		mapfs_why(why, whylen,
			  "%s: entries and values overlap",
			  where);
		goto bad;
	}
	if (used != pos + (cap - vend)) {
		mapfs_why(why, whylen,
			  "%s: %u bytes used, header says %u",
			  where, pos + (cap - vend), used);
		goto bad;
	}
	if (xp)
		*xp = x;
	else
		xset_free(&x);
	return 0;
bad:
	xset_free(&x);
	return err;
}


/* Check block bno's pages and payload; decode into *xp if non-NULL. */
static int xattr_decode(const struct mapfs_fs *fs, mapfs_ino_t ino,
			mapfs_bno_t bno, struct xset *xp, char *why,
			size_t whylen)
{
	const struct mapfs_geom *g = &fs->g;
	uint32_t cap = payload_cap(fs);
	const uint8_t *blk;
	uint8_t *payload;
	char where[48];

	if (!mapfs_bno_is_data(g, bno) || !(blk = mapfs_block(fs, bno)))
		return mapfs_why(why, whylen, "xattr block %llu outside the data area",
				 ull(bno));
	for (uint32_t p = 0; p < g->pages_per_block; p++) {
		const struct mapfs_xattrtail *t =
			(const struct mapfs_xattrtail *)(blk +
				(size_t)p * MAPFS_PAGE_SIZE + PAGE_USABLE);

		if (le32toh(t->xt_magic) != MAPFS_XATTRTAIL_MAGIC)
			return mapfs_why(why, whylen,
					 "xattr block %llu page %u: bad magic",
					 ull(bno), p);
		if (le32toh(t->xt_crc) != page_crc(fs, ino, bno, p, blk))
			return mapfs_why(why, whylen,
					 "xattr block %llu page %u: bad checksum",
					 ull(bno), p);
	}
	payload = malloc(cap);
	if (!payload)
		return -ENOMEM;
	payload_gather(fs, blk, payload);
	snprintf(where, sizeof(where), "xattr block %llu", ull(bno));
	return payload_decode(ino, payload, cap, where, xp, why, whylen);
}

int mapfs_xattr_check(const struct mapfs_fs *fs, mapfs_ino_t ino,
		      mapfs_bno_t bno, char *why, size_t whylen)
{
	return xattr_decode(fs, ino, bno, NULL, why, whylen);
}

size_t mapfs_xattr_max_value(const struct mapfs_fs *fs, uint32_t namelen)
{
	uint32_t cap = payload_cap(fs);
	uint32_t need = HDR_SIZE + mapfs_xattr_entry_size(namelen);

	/* values take whole 4-byte units */
	return need < cap ? (cap - need) & ~(MAPFS_XATTR_ALIGN - 1) : 0;
}

static int ibody_decode(const struct mapfs_fs *fs, mapfs_ino_t ino,
			struct xset *xp, char *why, size_t whylen);

/* Load ip's attributes (none if it has no block). Damage is reported and
 * answered -EUCLEAN. */
static int xattr_load(struct mapfs_fs *fs, const struct mapfs_inode *ip,
		      struct xset *x)
{
	char why[160];
	int err;

	memset(x, 0, sizeof(*x));
	if (mapfs_xattr_in_inode(fs, ip->ino)) {
		if (ip->xattr)
			return MAPFS_CORRUPT(fs, "inode %llu: attributes both "
					     "in the inode and in block %llu",
					     ull(ip->ino), ull(ip->xattr));
		err = ibody_decode(fs, ip->ino, x, why, sizeof(why));
		if (err == -EUCLEAN)
			return MAPFS_CORRUPT(fs, "inode %llu: %s",
					     ull(ip->ino), why);
		return err;
	}
	if (!ip->xattr)
		return 0;
	err = xattr_decode(fs, ip->ino, ip->xattr, x, why, sizeof(why));
	if (err == -EUCLEAN)
		return MAPFS_CORRUPT(fs, "inode %llu: %s", ull(ip->ino), why);
	return err;
}

static int xset_find(const struct xset *x, uint32_t index, const char *name,
		     uint32_t namelen)
{
	for (uint32_t i = 0; i < x->n; i++)
		if (x->e[i].index == index && x->e[i].namelen == namelen &&
		    !memcmp(x->e[i].name, name, namelen))
			return (int)i;
	return -1;
}

/* Payload bytes x needs in canonical form. */
static uint64_t xset_size(const struct xset *x)
{
	uint64_t n = HDR_SIZE;

	for (uint32_t i = 0; i < x->n; i++)
		n += mapfs_xattr_entry_size(x->e[i].namelen) +
		     align4(x->e[i].vlen);
	return n;
}

/* Lay x out in canonical form in buf (cap bytes, zeroed). The caller
 * checked that it fits. */
static void payload_encode(const struct xset *x, mapfs_ino_t owner,
			   uint8_t *buf, uint32_t cap)
{
	uint32_t pos = HDR_SIZE, vend = cap;
	struct mapfs_xattr_hdr *h;

	for (uint32_t i = 0; i < x->n; i++) {
		struct mapfs_xattr_entry *e =
			(struct mapfs_xattr_entry *)(buf + pos);

		vend -= align4(x->e[i].vlen);
		e->xe_index = (uint8_t)x->e[i].index;
		e->xe_namelen = (uint8_t)x->e[i].namelen;
		e->xe_value_len = htole32(x->e[i].vlen);
		e->xe_value_off = htole32(vend);
		memcpy(e->xe_name, x->e[i].name, x->e[i].namelen);
		memcpy(buf + vend, x->e[i].value, x->e[i].vlen);
		pos += mapfs_xattr_entry_size(x->e[i].namelen);
	}
	assert(pos <= vend);
	h = (struct mapfs_xattr_hdr *)buf;
	h->xh_magic = htole32(MAPFS_XATTR_MAGIC);
	h->xh_count = htole32(x->n);
	h->xh_owner = htole64(owner);
	h->xh_used = htole32(pos + (cap - vend));
}

/* Encode x into blk (block bno owned by owner) and seal every page. The
 * caller checked that it fits. */
static int xset_encode(struct mapfs_fs *fs, mapfs_ino_t owner,
		       mapfs_bno_t bno, const struct xset *x, uint8_t *blk)
{
	uint32_t cap = payload_cap(fs);
	uint8_t *buf = calloc(1, cap);

	if (!buf)
		return -ENOMEM;
	payload_encode(x, owner, buf, cap);
	for (uint32_t p = 0; p < fs->g.pages_per_block; p++) {
		struct mapfs_xattrtail t;

		memcpy(blk + (size_t)p * MAPFS_PAGE_SIZE,
		       buf + (size_t)p * PAGE_USABLE, PAGE_USABLE);
		t.xt_magic = htole32(MAPFS_XATTRTAIL_MAGIC);
		t.xt_crc = htole32(page_crc(fs, owner, bno, p, blk));
		memcpy(page_tail(blk, p), &t, sizeof(t));
	}
	mapfs_jdirty(fs, blk, fs->g.bsize);
	free(buf);
	return 0;
}

/* ------------------------------------------------------------------ */
/* In-inode attributes (inode_size > 256)                               */
/* ------------------------------------------------------------------ */

/* Payload bytes in an inode's slot: 0 with 256-byte inodes. */
static uint32_t ibody_cap(const struct mapfs_fs *fs)
{
	if (fs->g.inode_size <= MAPFS_INODE_SIZE)
		return 0;
	return fs->g.inode_size - MAPFS_INODE_SIZE -
	       (uint32_t)sizeof(struct mapfs_xattr_itail);
}

static uint8_t *ibody(const struct mapfs_fs *fs, mapfs_ino_t ino)
{
	uint8_t *d = (uint8_t *)mapfs_dinode(fs, ino);

	return d && ibody_cap(fs) ? d + MAPFS_INODE_SIZE : NULL;
}

static uint32_t ibody_crc(const struct mapfs_fs *fs, mapfs_ino_t ino,
			  const uint8_t *body)
{
	const struct mapfs_dinode *d = mapfs_dinode(fs, ino);
	uint64_t le_ino = htole64(ino);
	uint32_t crc = mapfs_crc32c(fs->g.seed, &le_ino, sizeof(le_ino));

	crc = mapfs_crc32c(crc, &d->di_gen, sizeof(d->di_gen));
	return mapfs_crc32c(crc, body, ibody_cap(fs));
}

static struct mapfs_xattr_itail *ibody_tail(const struct mapfs_fs *fs,
					    uint8_t *body)
{
	return (struct mapfs_xattr_itail *)(body + ibody_cap(fs));
}

bool mapfs_xattr_in_inode(const struct mapfs_fs *fs, mapfs_ino_t ino)
{
	uint8_t *body = ibody(fs, ino);

	return body && (ibody_tail(fs, body)->xi_magic ||
			ibody_tail(fs, body)->xi_crc ||
			!mapfs_is_zero(body, ibody_cap(fs)));
}

/* Check ino's in-inode attributes (0 when there are none); decode them
 * into *xp if non-NULL. */
static int ibody_decode(const struct mapfs_fs *fs, mapfs_ino_t ino,
			struct xset *xp, char *why, size_t whylen)
{
	uint8_t *body = ibody(fs, ino), *payload;
	const struct mapfs_xattr_itail *t;

	if (!mapfs_xattr_in_inode(fs, ino))
		return 0;
	t = ibody_tail(fs, body);
	if (le32toh(t->xi_magic) != MAPFS_XATTR_IBODY_MAGIC)
		return mapfs_why(why, whylen, "in-inode attributes: bad magic");
	if (le32toh(t->xi_crc) != ibody_crc(fs, ino, body))
		return mapfs_why(why, whylen,
				 "in-inode attributes: bad checksum");
	payload = malloc(ibody_cap(fs));
	if (!payload)
		return -ENOMEM;
	memcpy(payload, body, ibody_cap(fs));
	return payload_decode(ino, payload, ibody_cap(fs),
			      "in-inode attributes", xp, why, whylen);
}

int mapfs_xattr_check_inode(const struct mapfs_fs *fs, mapfs_ino_t ino,
			    char *why, size_t whylen)
{
	return ibody_decode(fs, ino, NULL, why, whylen);
}

/* Write x (empty: none) into ino's slot. */
static void ibody_store(struct mapfs_fs *fs, mapfs_ino_t ino,
			const struct xset *x)
{
	uint8_t *body = ibody(fs, ino);
	uint32_t cap = ibody_cap(fs);
	struct mapfs_xattr_itail *t;

	if (!body)
		return;
	t = ibody_tail(fs, body);
	memset(body, 0, cap + sizeof(*t));
	if (x && x->n) {
		payload_encode(x, ino, body, cap);
		t->xi_magic = htole32(MAPFS_XATTR_IBODY_MAGIC);
		t->xi_crc = htole32(ibody_crc(fs, ino, body));
	}
	mapfs_jdirty(fs, body, cap + sizeof(*t));
}

void mapfs_xattr_clear_inode(struct mapfs_fs *fs, mapfs_ino_t ino)
{
	if (mapfs_xattr_in_inode(fs, ino))
		ibody_store(fs, ino, NULL);
}

/* ------------------------------------------------------------------ */
/* API                                                                  */
/* ------------------------------------------------------------------ */

ssize_t mapfs_xattr_get(struct mapfs_fs *fs, const struct mapfs_inode *ip,
			const char *name, void *buf, size_t size)
{
	uint32_t index, namelen;
	const char *suffix;
	struct xset x;
	ssize_t ret;
	int i, err;

	err = mapfs_xattr_parse_name(name, &index, &suffix, &namelen);
	if (err < 0)
		return err;
	if (!ip->xattr && !mapfs_xattr_in_inode(fs, ip->ino))
		return -ENODATA;
	err = xattr_load(fs, ip, &x);
	if (err < 0)
		return err;
	i = xset_find(&x, index, suffix, namelen);
	if (i < 0) {
		ret = -ENODATA;
	} else {
		ret = x.e[i].vlen;
		if (size && size < x.e[i].vlen)
			ret = -ERANGE;
		else if (size)
			memcpy(buf, x.e[i].value, x.e[i].vlen);
	}
	xset_free(&x);
	return ret;
}

ssize_t mapfs_xattr_list(struct mapfs_fs *fs, const struct mapfs_inode *ip,
			 char *buf, size_t size, bool trusted)
{
	struct xset x;
	size_t total = 0;
	int err;

	err = xattr_load(fs, ip, &x);
	if (err < 0)
		return err;
	for (uint32_t i = 0; i < x.n; i++) {
		const struct xent *e = &x.e[i];
		size_t n = ns[e->index].len + e->namelen + 1;

		/* Linux shows trusted.* to CAP_SYS_ADMIN only. */
		if (e->index == MAPFS_XATTR_INDEX_TRUSTED && !trusted)
			continue;
		if (size) {
			if (size - total < n) {
				xset_free(&x);
				return -ERANGE;
			}
			memcpy(buf + total, ns[e->index].prefix,
			       ns[e->index].len);
			memcpy(buf + total + ns[e->index].len, e->name,
			       e->namelen);
			buf[total + n - 1] = 0;
		}
		total += n;
	}
	xset_free(&x);
	return (ssize_t)total;
}

/* Point ip at newb (0: none) and store it, then free oldb. */
static int xattr_switch(struct mapfs_fs *fs, struct mapfs_inode *ip,
			mapfs_bno_t newb)
{
	mapfs_bno_t oldb = ip->xattr;

	if (newb && !oldb)
		ip->blocks++;
	if (!newb && oldb && ip->blocks)
		ip->blocks--;
	ip->xattr = newb;
	mapfs_inode_store(fs, ip);
	if (oldb && oldb != newb)
		return mapfs_free_block(fs, oldb);
	return 0;
}

int mapfs_xattr_set(struct mapfs_fs *fs, struct mapfs_inode *ip,
		    const char *name, const void *value, size_t len,
		    int flags, bool use_reserve)
{
	uint32_t index, namelen;
	const char *suffix;
	struct xset x;
	mapfs_bno_t nb = 0, pref;
	int i, err;

	err = mapfs_xattr_parse_name(name, &index, &suffix, &namelen);
	if (err < 0)
		return err;
	if (value && len > mapfs_xattr_max_value(fs, namelen))
		return -E2BIG;
	if (value)
		mapfs_super_use_feature(fs, MAPFS_FEAT_RO_COMPAT_XATTR);
	err = xattr_load(fs, ip, &x);
	if (err < 0)
		return err;
	i = xset_find(&x, index, suffix, namelen);
	if (i >= 0 && (flags & MAPFS_XATTR_CREATE) && value) {
		err = -EEXIST;
		goto out;
	}
	if (i < 0 && ((flags & MAPFS_XATTR_REPLACE) || !value)) {
		err = -ENODATA;
		goto out;
	}
	if (!value) {
		x.e[i] = x.e[--x.n];	/* order is not significant */
	} else {
		struct xent e = { index, namelen, (uint32_t)len, suffix,
				  value };

		if (i >= 0) {
			x.e[i] = e;
		} else {
			err = xset_push(&x, &e);
			if (err < 0)
				goto out;
		}
	}
	if (x.n == 0 || xset_size(&x) <= ibody_cap(fs)) {
		/* Small enough for the inode (or nothing left): there,
		 * then the block (if any) goes. The set points into
		 * x.payload, a copy, so the slot may be rewritten. */
		ibody_store(fs, ip->ino, &x);
		err = xattr_switch(fs, ip, 0);
		goto out;
	}
	if (xset_size(&x) > payload_cap(fs)) {
		err = -ENOSPC;
		goto out;
	}
	pref = ip->xattr ? ip->xattr :
	       mapfs_group_start(&fs->g, mapfs_ino_group(&fs->g, ip->ino)) +
	       fs->g.data_off;
	err = mapfs_alloc_block(fs, pref, use_reserve, &nb);
	if (err == -ENOSPC && ip->xattr && fs->g.pages_per_block == 1) {
		/* No room for a copy: one page is rewritten whole. The
		 * decoded set points into x.payload, not into the block. */
		err = xset_encode(fs, ip->ino, ip->xattr, &x,
				  mapfs_block(fs, ip->xattr));
		goto out;
	}
	if (err < 0)
		goto out;
	assert(mapfs_bno_is_data(&fs->g, nb));
	err = xset_encode(fs, ip->ino, nb, &x, mapfs_block(fs, nb));
	if (err < 0) {
		(void)mapfs_free_block(fs, nb);
		goto out;
	}
	err = xattr_switch(fs, ip, nb);
	/* Too big for the inode now: the block holds everything. */
	if (err == 0)
		mapfs_xattr_clear_inode(fs, ip->ino);
out:
	xset_free(&x);
	return err;
}

int mapfs_xattr_free(struct mapfs_fs *fs, struct mapfs_inode *ip)
{
	mapfs_xattr_clear_inode(fs, ip->ino);
	if (!ip->xattr)
		return 0;
	if (!mapfs_bno_is_data(&fs->g, ip->xattr))
		return MAPFS_CORRUPT(fs, "inode %llu: xattr block %llu outside the data area",
				     ull(ip->ino), ull(ip->xattr));
	return xattr_switch(fs, ip, 0);
}

/* ------------------------------------------------------------------ */
/* POSIX ACLs (the xattr form of <linux/posix_acl_xattr.h>)            */
/* ------------------------------------------------------------------ */
#define ACL_VERSION	2u
#define ACL_USER_OBJ	0x01u
#define ACL_USER	0x02u
#define ACL_GROUP_OBJ	0x04u
#define ACL_GROUP	0x08u
#define ACL_MASK	0x10u
#define ACL_OTHER	0x20u
#define ACL_HDR		4u
#define ACL_ENT		8u

static int acl_count(const void *acl, size_t len)
{
	uint32_t v;

	if (len < ACL_HDR || (len - ACL_HDR) % ACL_ENT)
		return -EINVAL;
	memcpy(&v, acl, 4);
	if (le32toh(v) != ACL_VERSION)
		return -EINVAL;
	return (int)((len - ACL_HDR) / ACL_ENT);
}

static uint16_t *acl_tag(void *acl, int i)
{
	return (uint16_t *)((uint8_t *)acl + ACL_HDR + (size_t)i * ACL_ENT);
}

static uint32_t acl_get_tag(void *acl, int i)
{
	uint16_t t;

	memcpy(&t, acl_tag(acl, i), 2);
	return le16toh(t);
}

static uint32_t acl_get_perm(void *acl, int i)
{
	uint16_t p;

	memcpy(&p, acl_tag(acl, i) + 1, 2);
	return le16toh(p) & 7u;
}

static void acl_set_perm(void *acl, int i, uint32_t perm)
{
	uint16_t p = htole16((uint16_t)(perm & 7u));

	memcpy(acl_tag(acl, i) + 1, &p, 2);
}

int mapfs_acl_equiv_mode(const void *acl, size_t len, uint32_t *modep)
{
	void *a = (void *)acl;	/* read only */
	int n = acl_count(acl, len), not_equiv = 0;
	uint32_t mode = 0;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		uint32_t perm = acl_get_perm(a, i);

		switch (acl_get_tag(a, i)) {
		case ACL_USER_OBJ:
			mode |= perm << 6;
			break;
		case ACL_GROUP_OBJ:
			/* the mask, if any, overrides below */
			if (!(mode & 0x8000u))
				mode = (mode & ~070u) | perm << 3;
			break;
		case ACL_MASK:
			mode = (mode & ~070u) | perm << 3 | 0x8000u;
			not_equiv = 1;
			break;
		case ACL_OTHER:
			mode |= perm;
			break;
		case ACL_USER:
		case ACL_GROUP:
			not_equiv = 1;
			break;
		default:
			return -EINVAL;
		}
	}
	*modep = mode & 0777u;
	return not_equiv;
}

int mapfs_acl_create_masq(void *acl, size_t len, uint32_t *modep)
{
	int n = acl_count(acl, len), not_equiv = 0, group_obj = -1, mask = -1;
	uint32_t mode = *modep;

	if (n < 0)
		return n;
	/* posix_acl_create_masq() of the Linux kernel. */
	for (int i = 0; i < n; i++) {
		uint32_t perm = acl_get_perm(acl, i);

		switch (acl_get_tag(acl, i)) {
		case ACL_USER_OBJ:
			perm &= (mode >> 6) & 7u;
			acl_set_perm(acl, i, perm);
			mode &= (perm << 6) | ~0700u;
			break;
		case ACL_USER:
		case ACL_GROUP:
			not_equiv = 1;
			break;
		case ACL_GROUP_OBJ:
			group_obj = i;
			break;
		case ACL_OTHER:
			perm &= mode & 7u;
			acl_set_perm(acl, i, perm);
			mode &= perm | ~07u;
			break;
		case ACL_MASK:
			mask = i;
			not_equiv = 1;
			break;
		default:
			return -EINVAL;
		}
	}
	if (mask < 0)
		mask = group_obj;
	if (mask < 0)
		return -EINVAL;
	acl_set_perm(acl, mask, acl_get_perm(acl, mask) & ((mode >> 3) & 7u));
	mode &= (acl_get_perm(acl, mask) << 3) | ~070u;
	*modep = mode;
	return not_equiv;
}

int mapfs_acl_chmod(void *acl, size_t len, uint32_t mode)
{
	int n = acl_count(acl, len), group_obj = -1, mask = -1;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		switch (acl_get_tag(acl, i)) {
		case ACL_USER_OBJ:
			acl_set_perm(acl, i, (mode >> 6) & 7u);
			break;
		case ACL_GROUP_OBJ:
			group_obj = i;
			break;
		case ACL_MASK:
			mask = i;
			break;
		case ACL_OTHER:
			acl_set_perm(acl, i, mode & 7u);
			break;
		default:
			break;
		}
	}
	if (mask < 0)
		mask = group_obj;
	if (mask < 0)
		return -EINVAL;
	acl_set_perm(acl, mask, (mode >> 3) & 7u);
	return 0;
}
