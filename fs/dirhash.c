/* SPDX-License-Identifier: MIT */
/*
 * dirhash.c - an in-memory index of large directories (below dir.c in the
 * core's layers, used by dir.c only). The model is FreeBSD's UFS_DIRHASH: the
 * on-disk format is unchanged; for a directory of at least MAPFS_DH_MIN_CHUNKS
 * chunks, a hash table maps each name's FNV-1a hash to the directory offset of
 * its record, and a per-chunk array remembers the largest record each chunk can
 * still take. Lookup, add, remove and replace then touch one chunk instead of
 * scanning all of them.
 *
 * The index is a cache: it is built on first use by scanning (and
 * validating) every chunk, kept exact by dir.c on every change, dropped
 * when its directory is freed, and evicted least-recently-used first when
 * the indexes together pass the memory cap. Anything odd (a chunk that
 * fails its checks, no memory) drops it and dir.c falls back to scanning.
 * Entries are only hints: dir.c verifies every hit against the chunk.
 *
 * Locking: lookups run under the daemon's shared lock, so the cache has
 * its own mutex, held from mapfs_dh_acquire to mapfs_dh_release.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DH_EMPTY	UINT64_MAX
#define DH_DELETED	(UINT64_MAX - 1)

struct dh_slot {
	uint64_t off;		/* directory offset, DH_EMPTY or DH_DELETED */
	uint32_t hash;
	uint32_t pad;
};

struct mapfs_dh {
	mapfs_ino_t ino;
	uint32_t gen;
	bool building;		/* created, not yet filled by dir.c */
	uint64_t nslots;	/* power of two */
	uint64_t nlive, ntomb;
	struct dh_slot *slots;
	uint64_t nchunks, room_cap;
	uint16_t *room;		/* largest record size chunk c can take */
	struct mapfs_dh *next;	/* hash chain in the cache */
	struct mapfs_dh *lru_prev, *lru_next;
	size_t bytes;		/* memory it holds */
};

struct mapfs_dhcache {
	pthread_mutex_t lock;
	struct mapfs_dh **buckets;
	size_t nbuckets, count;
	struct mapfs_dh *lru_head, *lru_tail;	/* head = most recent */
	size_t bytes, max_bytes;
};

uint32_t mapfs_dh_name_hash(const char *name, uint32_t len)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (uint32_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 16777619u;
	}
	return h;
}

int mapfs_dh_enable(struct mapfs_fs *fs, size_t max_bytes)
{
	struct mapfs_dhcache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->nbuckets = 256;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->max_bytes = max_bytes;
	fs->in->dh = c;
	return 0;
}

static void dh_free(struct mapfs_dh *h)
{
	free(h->slots);
	free(h->room);
	free(h);
}

static size_t bucket_of(const struct mapfs_dhcache *c, mapfs_ino_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 24) & (c->nbuckets - 1);
}

static void lru_unlink(struct mapfs_dhcache *c, struct mapfs_dh *h)
{
	if (h->lru_prev)
		h->lru_prev->lru_next = h->lru_next;
	else
		c->lru_head = h->lru_next;
	if (h->lru_next)
		h->lru_next->lru_prev = h->lru_prev;
	else
		c->lru_tail = h->lru_prev;
	h->lru_prev = h->lru_next = NULL;
}

static void lru_push(struct mapfs_dhcache *c, struct mapfs_dh *h)
{
	h->lru_prev = NULL;
	h->lru_next = c->lru_head;
	if (c->lru_head)
		c->lru_head->lru_prev = h;
	c->lru_head = h;
	if (!c->lru_tail)
		c->lru_tail = h;
}

/* Take h out of the cache and free it. Caller holds the lock. */
static void dh_remove(struct mapfs_dhcache *c, struct mapfs_dh *h)
{
	struct mapfs_dh **pp = &c->buckets[bucket_of(c, h->ino)];

	while (*pp && *pp != h)
		pp = &(*pp)->next;
	if (*pp)
		*pp = h->next;
	lru_unlink(c, h);
	c->bytes -= h->bytes;
	c->count--;
	dh_free(h);
}

static void dh_account(struct mapfs_dhcache *c, struct mapfs_dh *h)
{
	size_t now = sizeof(*h) + h->nslots * sizeof(*h->slots) +
		     h->room_cap * sizeof(*h->room);

	c->bytes = c->bytes - h->bytes + now;
	h->bytes = now;
	/* Evict the least recently used others while over the cap. */
	while (c->bytes > c->max_bytes && c->lru_tail && c->lru_tail != h)
		dh_remove(c, c->lru_tail);
}

void mapfs_dh_disable(struct mapfs_fs *fs)
{
	struct mapfs_dhcache *c = fs->in->dh;

	if (!c)
		return;
	while (c->lru_head)
		dh_remove(c, c->lru_head);
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	free(c);
	fs->in->dh = NULL;
}

struct mapfs_dh *mapfs_dh_acquire(struct mapfs_fs *fs,
				  const struct mapfs_inode *dir)
{
	struct mapfs_dhcache *c = fs->in->dh;
	struct mapfs_dh *h;
	size_t b;

	if (!c || dir->size / MAPFS_DIRCHUNK < MAPFS_DH_MIN_CHUNKS)
		return NULL;
	pthread_mutex_lock(&c->lock);
	b = bucket_of(c, dir->ino);
	for (h = c->buckets[b]; h; h = h->next)
		if (h->ino == dir->ino)
			break;
	if (h && h->gen != dir->gen) {
		dh_remove(c, h);	/* the inode was reused */
		h = NULL;
	}
	if (h) {
		lru_unlink(c, h);
		lru_push(c, h);
		return h;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		pthread_mutex_unlock(&c->lock);
		return NULL;
	}
	h->ino = dir->ino;
	h->gen = dir->gen;
	h->building = true;
	h->next = c->buckets[b];
	c->buckets[b] = h;
	c->count++;
	lru_push(c, h);
	dh_account(c, h);
	return h;
}

void mapfs_dh_release(struct mapfs_fs *fs)
{
	pthread_mutex_unlock(&fs->in->dh->lock);
}

bool mapfs_dh_building(const struct mapfs_dh *h)
{
	return h->building;
}

void mapfs_dh_built(struct mapfs_dh *h)
{
	h->building = false;
}

void mapfs_dh_discard(struct mapfs_fs *fs, struct mapfs_dh *h)
{
	dh_remove(fs->in->dh, h);
}

void mapfs_dh_drop(struct mapfs_fs *fs, mapfs_ino_t ino)
{
	struct mapfs_dhcache *c = fs->in->dh;
	struct mapfs_dh *h;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	for (h = c->buckets[bucket_of(c, ino)]; h; h = h->next)
		if (h->ino == ino)
			break;
	if (h)
		dh_remove(c, h);
	pthread_mutex_unlock(&c->lock);
}

/* Grow (or rehash) the table to hold at least want live entries at a load
 * of at most 1/2, dropping tombstones. */
static bool dh_resize(struct mapfs_dh *h, uint64_t want)
{
	uint64_t n = 64;
	struct dh_slot *ns;

	while (n < want * 2)
		n *= 2;
	ns = malloc(n * sizeof(*ns));
	if (!ns)
		return false;
	for (uint64_t i = 0; i < n; i++)
		ns[i].off = DH_EMPTY;
	for (uint64_t i = 0; i < h->nslots; i++) {
		struct dh_slot *s = &h->slots[i];
		uint64_t j;

		if (s->off >= DH_DELETED)
			continue;
		for (j = s->hash & (n - 1); ns[j].off != DH_EMPTY;
		     j = (j + 1) & (n - 1))
			;
		ns[j] = *s;
	}
	free(h->slots);
	h->slots = ns;
	h->nslots = n;
	h->ntomb = 0;
	return true;
}

int mapfs_dh_add(struct mapfs_fs *fs, struct mapfs_dh *h, const char *name,
		 uint32_t len, uint64_t off)
{
	uint32_t hash = mapfs_dh_name_hash(name, len);
	uint64_t j;

	if ((h->nlive + h->ntomb + 1) * 2 > h->nslots) {
		if (!dh_resize(h, h->nlive + 1))
			return -ENOMEM;
		dh_account(fs->in->dh, h);
	}
	for (j = hash & (h->nslots - 1); h->slots[j].off < DH_DELETED;
	     j = (j + 1) & (h->nslots - 1))
		;
	if (h->slots[j].off == DH_DELETED)
		h->ntomb--;
	h->slots[j].off = off;
	h->slots[j].hash = hash;
	h->nlive++;
	return 0;
}

void mapfs_dh_del(struct mapfs_dh *h, const char *name, uint32_t len,
		  uint64_t off)
{
	uint32_t hash = mapfs_dh_name_hash(name, len);

	if (!h->nslots)
		return;
	for (uint64_t j = hash & (h->nslots - 1); h->slots[j].off != DH_EMPTY;
	     j = (j + 1) & (h->nslots - 1)) {
		if (h->slots[j].off == off) {
			h->slots[j].off = DH_DELETED;
			h->nlive--;
			h->ntomb++;
			return;
		}
	}
}

uint64_t mapfs_dh_next(const struct mapfs_dh *h, const char *name,
		       uint32_t len, uint64_t *cursor)
{
	uint32_t hash = mapfs_dh_name_hash(name, len);
	uint64_t j;

	if (!h->nslots)
		return UINT64_MAX;
	/* *cursor counts probes already made: 0 starts at the home slot. */
	for (j = (hash + *cursor) & (h->nslots - 1);
	     *cursor < h->nslots && h->slots[j].off != DH_EMPTY;
	     j = (j + 1) & (h->nslots - 1)) {
		(*cursor)++;
		if (h->slots[j].off != DH_DELETED && h->slots[j].hash == hash)
			return h->slots[j].off;
	}
	return UINT64_MAX;
}

int mapfs_dh_set_room(struct mapfs_fs *fs, struct mapfs_dh *h, uint64_t c,
		      uint32_t room)
{
	if (c >= h->room_cap) {
		uint64_t cap = h->room_cap ? h->room_cap : 16;
		uint16_t *nr;

		while (cap <= c)
			cap *= 2;
		nr = realloc(h->room, cap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		memset(nr + h->room_cap, 0, (cap - h->room_cap) * sizeof(*nr));
		h->room = nr;
		h->room_cap = cap;
		dh_account(fs->in->dh, h);
	}
	if (c >= h->nchunks)
		h->nchunks = c + 1;
	h->room[c] = (uint16_t)room;
	return 0;
}

int64_t mapfs_dh_find_room(const struct mapfs_dh *h, uint32_t need)
{
	for (uint64_t c = 0; c < h->nchunks; c++)
		if (h->room[c] >= need)
			return (int64_t)c;
	return -1;
}
