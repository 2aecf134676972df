/* SPDX-License-Identifier: MIT */
/*
 * refs.c - the kernel's references to inodes: lookup and open counts.
 *
 * Every entry reply (lookup, create, mknod, mkdir, symlink, link,
 * readdirplus) adds one lookup reference; forget removes them; open and
 * release count opens. An inode whose link count drops to zero while
 * referenced is kept (the core asks daemon_busy) and freed when the last
 * reference goes (reap, mapfs_op_reap), or at unmount (daemon_reap_all).
 * The table is a chained hash under d->ref_lock (taken after d->lock).
 */
#include "glue.h"

#include <stdlib.h>

/* ---------------------------------------------------------------- */
/* Reference table: chained hash, grown when the load passes 1.      */
/* Caller holds ref_lock.                                             */
/* ---------------------------------------------------------------- */
static size_t ref_hash(const struct daemon *d, mapfs_ino_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 20) &
	       (d->nbuckets - 1);
}

struct ref *ref_find(struct daemon *d, mapfs_ino_t ino)
{
	if (!d->nbuckets)
		return NULL;
	for (struct ref *r = d->refs[ref_hash(d, ino)]; r; r = r->next)
		if (r->ino == ino)
			return r;
	return NULL;
}

static void ref_grow(struct daemon *d)
{
	size_t old = d->nbuckets, n = old ? old * 2 : 1024;
	struct ref **nb = calloc(n, sizeof(*nb));
	struct ref **ob = d->refs;

	if (!nb)
		return;		/* keep the old table: longer chains */
	d->refs = nb;
	d->nbuckets = n;
	for (size_t i = 0; i < old; i++) {
		struct ref *r = ob[i], *next;
		for (; r; r = next) {
			size_t h = ref_hash(d, r->ino);
			next = r->next;
			r->next = nb[h];
			nb[h] = r;
		}
	}
	free(ob);
}

struct ref *ref_get(struct daemon *d, mapfs_ino_t ino)
{
	struct ref *r = ref_find(d, ino);
	size_t h;

	if (r)
		return r;
	if (d->nrefs >= d->nbuckets)
		ref_grow(d);
	if (!d->nbuckets)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->ino = ino;
	h = ref_hash(d, ino);
	r->next = d->refs[h];
	d->refs[h] = r;
	d->nrefs++;
	return r;
}

/* Drop r if it holds nothing; returns whether the inode must be reaped. */
bool ref_put(struct daemon *d, struct ref *r)
{
	struct ref **pp;
	bool dead;

	if (r->nlookup || r->nopen)
		return false;
	dead = r->dead;
	for (pp = &d->refs[ref_hash(d, r->ino)]; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	d->nrefs--;
	free(r);
	return dead;
}

bool ref_held(struct daemon *d, mapfs_ino_t ino, bool opens)
{
	struct ref *r;
	bool held;

	pthread_mutex_lock(&d->ref_lock);
	r = ref_find(d, ino);
	held = r && (r->nlookup || (opens && r->nopen));
	pthread_mutex_unlock(&d->ref_lock);
	return held;
}

void ref_lookup_inc(struct daemon *d, mapfs_ino_t ino)
{
	struct ref *r;

	pthread_mutex_lock(&d->ref_lock);
	r = ref_get(d, ino);
	if (r)
		r->nlookup++;
	pthread_mutex_unlock(&d->ref_lock);
}

int daemon_busy(void *arg, mapfs_ino_t ino)
{
	struct daemon *d = arg;
	struct ref *r;
	int busy = MAPFS_BUSY_NONE;

	pthread_mutex_lock(&d->ref_lock);
	r = ref_find(d, ino);
	if (r && (r->nlookup || r->nopen)) {
		r->dead = true;
		busy = r->nopen ? MAPFS_BUSY_OPEN : MAPFS_BUSY_REF;
	}
	pthread_mutex_unlock(&d->ref_lock);
	return busy;
}

void reap(struct daemon *d, mapfs_ino_t ino)
{
	wlock(d);
	if (!d->broken)
		mapfs_op_reap(d->fs, ino);
	bus_check(0);
	wunlock(d);
}

void daemon_reap_all(struct daemon *d)
{
	/* Called after the session ended: no request runs any more, but
	 * each reap is still one operation (reap: the lock and the
	 * bracket), as a store outside one has no record. */
	for (size_t i = 0; i < d->nbuckets; i++) {
		for (struct ref *r = d->refs[i]; r; r = r->next)
			if (r->dead)
				reap(d, r->ino);
	}
	wlock(d);
	if (!d->broken)
		mapfs_op_reap_orphans(d->fs);
	wunlock(d);
}

void daemon_refs_free(struct daemon *d)
{
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct ref *r = d->refs[i], *next;
		for (; r; r = next) {
			next = r->next;
			free(r);
		}
	}
	free(d->refs);
	d->refs = NULL;
	d->nbuckets = d->nrefs = 0;
}
