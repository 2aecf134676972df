/* SPDX-License-Identifier: MIT */
/*
 * test_dir.c - unit tests of dir.c on in-memory images: add, lookup,
 * remove, replace, iterate and its cookies, reuse of freed room, and the
 * chunk validator fed crafted and random bad chunks. Block sizes 4096
 * (one chunk per block) and 65536 (16 chunks per block).
 */
#include "helpers.h"

#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define MIB (1024ull * 1024)
#define USABLE ((uint32_t)MAPFS_DIRCHUNK_USABLE)

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */
/* ------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

/*
 * A 64 MiB image. The default group (8 * bsize blocks) of a 64 KiB-block
 * filesystem is 32 GiB and its inode table alone outgrows a small image,
 * so such tests ask for 512-block groups (two groups).
 */
static struct mapfs_fs *fs_new(uint32_t bsize)
{
	return test_fs_new(64 * MIB, bsize, bsize > 4096 ? 512 : 0);
}

/* A fresh, empty directory under the root, loaded back from the image. */
static void make_dir(struct mapfs_fs *fs, struct mapfs_inode *ip)
{
	mapfs_ino_t ino;
	struct mapfs_inode back;

	assert_int_equal(mapfs_alloc_inode(fs, MAPFS_ROOT_INO, true, &ino), 0);
	memset(ip, 0, sizeof(*ip));
	ip->ino = ino;
	ip->mode = MAPFS_IFDIR | 0755;
	ip->nlink = 2;
	ip->atime.sec = ip->mtime.sec = ip->ctime.sec = ip->btime.sec =
		1700000000;
	assert_int_equal(mapfs_dir_init(fs, ip, MAPFS_ROOT_INO, false), 0);
	assert_int_equal(ip->size, MAPFS_DIRCHUNK);
	assert_int_equal(mapfs_inode_load(fs, ino, &back), 0);
	assert_int_equal(back.size, MAPFS_DIRCHUNK);
	assert_int_equal(back.blocks, ip->blocks);
	*ip = back;
}

/* Reload dir from the image: what add/remove stored must match. */
static void reload(struct mapfs_fs *fs, struct mapfs_inode *dir)
{
	struct mapfs_inode back;

	assert_int_equal(mapfs_inode_load(fs, dir->ino, &back), 0);
	assert_int_equal(back.size, dir->size);
	assert_int_equal(back.blocks, dir->blocks);
	assert_memory_equal(back.blk, dir->blk, sizeof(dir->blk));
	*dir = back;
}

/* Entries are named "<id><pad>": a decimal id then non-digit padding up
 * to the wanted length, so the digits identify the entry. Padding uses
 * letters, '.', '-', and bytes >= 0x80 (names are bytes, not text). */
struct ent {
	char name[MAPFS_NAME_MAX + 1];
	uint32_t len;
	mapfs_ino_t ino;
	uint32_t type;
	bool live;
	bool throughout;	/* live from the start, never removed */
	int seen;
};

static const char pad_chars[] = "abcdefghijklmnopqrstuvwxyzXYZ.-\xc3\xa9\xff";

static void ent_make(struct mapfs_fs *fs, struct ent *e, unsigned id,
		     uint32_t want)
{
	int n = snprintf(e->name, sizeof(e->name), "%u", id);
	uint32_t i, len = want < (uint32_t)n ? (uint32_t)n : want;
	uint64_t span = fs->g.ninodes - fs->g.first_ino;
	static const uint32_t types[] = { MAPFS_DT_REG, MAPFS_DT_DIR,
		MAPFS_DT_LNK, MAPFS_DT_FIFO, MAPFS_DT_SOCK, MAPFS_DT_CHR,
		MAPFS_DT_BLK };

	assert_true(len <= MAPFS_NAME_MAX);
	for (i = (uint32_t)n; i < len; i++)
		e->name[i] = pad_chars[(id * 7 + i) % (sizeof(pad_chars) - 1)];
	e->name[len] = '\0';
	e->len = len;
	e->ino = fs->g.first_ino + id % span;
	e->type = types[id % 7];
	e->live = false;
	e->throughout = false;
	e->seen = 0;
}

static void ent_add(struct mapfs_fs *fs, struct mapfs_inode *dir,
		    struct ent *e)
{
	int err = mapfs_dir_add(fs, dir, e->name, e->len, e->ino, e->type,
				false);

	if (err)
		fail_msg("add '%s': %d", e->name, err);
	e->live = true;
}

static void ent_remove(struct mapfs_fs *fs, struct mapfs_inode *dir,
		       struct ent *e)
{
	mapfs_ino_t ino = 0;

	assert_int_equal(mapfs_dir_remove(fs, dir, e->name, e->len, &ino), 0);
	assert_int_equal(ino, e->ino);
	e->live = false;
	e->throughout = false;
}

static void ent_expect(struct mapfs_fs *fs, struct mapfs_inode *dir,
		       const struct ent *e)
{
	mapfs_ino_t ino = 0;
	uint32_t type = 0;
	int err = mapfs_dir_lookup(fs, dir, e->name, e->len, &ino, &type);

	if (!e->live) {
		assert_int_equal(err, -ENOENT);
		return;
	}
	if (err)
		fail_msg("lookup '%s': %d", e->name, err);
	assert_int_equal(ino, e->ino);
	assert_int_equal(type, e->type);
}

/* Iteration bookkeeping: marks entries seen, fails on strangers. */
struct walk {
	struct ent *ents;
	unsigned nents;
	int dot, dotdot;
	mapfs_ino_t self, parent;
	unsigned taken, limit;	/* stop after limit records (0: never) */
	uint64_t cookie;	/* next_off of the last record taken */
	uint64_t size;		/* directory size, bound for cookies */
};

static int walk_cb(void *arg, const char *name, uint32_t namelen,
		   mapfs_ino_t ino, uint32_t type, uint64_t next_off)
{
	struct walk *w = arg;
	unsigned long id;
	char *end;

	assert_int_equal(strlen(name), namelen);
	assert_true(next_off > w->cookie || w->taken == 0);
	assert_true(next_off <= w->size);
	if (namelen == 1 && name[0] == '.') {
		assert_int_equal(ino, w->self);
		assert_int_equal(type, MAPFS_DT_DIR);
		w->dot++;
	} else if (namelen == 2 && memcmp(name, "..", 2) == 0) {
		assert_int_equal(ino, w->parent);
		assert_int_equal(type, MAPFS_DT_DIR);
		w->dotdot++;
	} else {
		id = strtoul(name, &end, 10);
		if (end == name || id >= w->nents)
			fail_msg("unexpected name '%s'", name);
		assert_int_equal(w->ents[id].len, namelen);
		assert_memory_equal(w->ents[id].name, name, namelen);
		assert_int_equal(w->ents[id].ino, ino);
		assert_int_equal(w->ents[id].type, type);
		if (!w->ents[id].live)
			fail_msg("saw removed entry '%s'", name);
		w->ents[id].seen++;
	}
	w->cookie = next_off;
	w->taken++;
	return w->limit && w->taken >= w->limit;
}

static void walk_init(struct walk *w, struct ent *ents, unsigned nents,
		      const struct mapfs_inode *dir, mapfs_ino_t parent)
{
	unsigned i;

	memset(w, 0, sizeof(*w));
	w->ents = ents;
	w->nents = nents;
	w->self = dir->ino;
	w->parent = parent;
	w->size = dir->size;
	for (i = 0; i < nents; i++)
		ents[i].seen = 0;
}

/* A full walk sees "." and ".." and each live entry exactly once. */
static void walk_all(struct mapfs_fs *fs, const struct mapfs_inode *dir,
		     struct ent *ents, unsigned nents, mapfs_ino_t parent)
{
	struct walk w;
	unsigned i;

	walk_init(&w, ents, nents, dir, parent);
	assert_int_equal(mapfs_dir_iterate(fs, dir, 0, walk_cb, &w), 0);
	assert_int_equal(w.dot, 1);
	assert_int_equal(w.dotdot, 1);
	for (i = 0; i < nents; i++)
		if (ents[i].seen != (ents[i].live ? 1 : 0))
			fail_msg("entry %u ('%s', live %d) seen %d times", i,
				 ents[i].name, ents[i].live, ents[i].seen);
}

/* ------------------------------------------------------------------ */
/* Basics                                                              */
/* ------------------------------------------------------------------ */

static void test_root(void **state)
{
	struct mapfs_fs *fs = test_fs_new(16 * MIB, 0, 0);
	struct mapfs_inode root;
	mapfs_ino_t ino;
	uint32_t type;

	(void)state;
	assert_int_equal(mapfs_inode_load(fs, MAPFS_ROOT_INO, &root), 0);
	assert_int_equal(mapfs_dir_lookup(fs, &root, ".", 1, &ino, &type), 0);
	assert_int_equal(ino, MAPFS_ROOT_INO);
	assert_int_equal(type, MAPFS_DT_DIR);
	assert_int_equal(mapfs_dir_lookup(fs, &root, "..", 2, &ino, &type), 0);
	assert_int_equal(ino, MAPFS_ROOT_INO);
	assert_int_equal(mapfs_dir_lookup(fs, &root, "lost+found", 10, &ino,
					  &type), 0);
	assert_true(ino >= MAPFS_FIRST_INO);
	assert_int_equal(type, MAPFS_DT_DIR);
	assert_int_equal(mapfs_dir_lookup(fs, &root, "lost+foun", 9, &ino,
					  &type), -ENOENT);
	assert_int_equal(mapfs_dir_lookup(fs, &root, "lost+found!", 11, &ino,
					  &type), -ENOENT);
	assert_int_equal(mapfs_dir_is_empty(fs, &root), 0);
	test_fs_free(fs);
}

static void test_init_empty(void **state)
{
	struct mapfs_fs *fs = test_fs_new(16 * MIB, 0, 0);
	struct mapfs_inode dir, file;
	mapfs_ino_t ino;
	uint32_t type;

	(void)state;
	make_dir(fs, &dir);
	assert_int_equal(dir.blocks, 1);
	assert_int_equal(mapfs_dir_is_empty(fs, &dir), 1);
	assert_int_equal(mapfs_dir_lookup(fs, &dir, ".", 1, &ino, &type), 0);
	assert_int_equal(ino, dir.ino);
	assert_int_equal(mapfs_dir_lookup(fs, &dir, "..", 2, &ino, &type), 0);
	assert_int_equal(ino, MAPFS_ROOT_INO);
	assert_int_equal(mapfs_dir_add(fs, &dir, "x", 1, MAPFS_FIRST_INO,
				       MAPFS_DT_REG, false), 0);
	assert_int_equal(mapfs_dir_is_empty(fs, &dir), 0);
	assert_int_equal(mapfs_dir_remove(fs, &dir, "x", 1, &ino), 0);
	assert_int_equal(ino, MAPFS_FIRST_INO);
	assert_int_equal(mapfs_dir_is_empty(fs, &dir), 1);
	assert_int_equal(mapfs_dir_remove(fs, &dir, "x", 1, &ino), -ENOENT);
	assert_int_equal(dir.size, MAPFS_DIRCHUNK);

	/* init wants a directory of size 0 */
	assert_int_equal(mapfs_dir_init(fs, &dir, MAPFS_ROOT_INO, false),
			 -EINVAL);
	memset(&file, 0, sizeof(file));
	file.ino = MAPFS_FIRST_INO + 1;
	file.mode = MAPFS_IFREG | 0644;
	assert_int_equal(mapfs_dir_init(fs, &file, MAPFS_ROOT_INO, false),
			 -ENOTDIR);
	assert_int_equal(mapfs_dir_lookup(fs, &file, "x", 1, &ino, &type),
			 -ENOTDIR);
	test_fs_free(fs);
}

static void test_bad_names(void **state)
{
	struct mapfs_fs *fs = test_fs_new(16 * MIB, 0, 0);
	struct mapfs_inode dir;
	char big[MAPFS_NAME_MAX + 2];
	mapfs_ino_t ino, good = MAPFS_FIRST_INO;
	uint32_t type;

	(void)state;
	make_dir(fs, &dir);
	memset(big, 'n', sizeof(big));
	assert_int_equal(mapfs_dir_lookup(fs, &dir, big, MAPFS_NAME_MAX + 1,
					  &ino, &type), -ENAMETOOLONG);
	assert_int_equal(mapfs_dir_add(fs, &dir, big, MAPFS_NAME_MAX + 1, good,
				       MAPFS_DT_REG, false), -ENAMETOOLONG);
	assert_int_equal(mapfs_dir_remove(fs, &dir, big, MAPFS_NAME_MAX + 1,
					  &ino), -ENAMETOOLONG);
	assert_int_equal(mapfs_dir_add(fs, &dir, "", 0, good, MAPFS_DT_REG,
				       false), -EINVAL);
	assert_int_equal(mapfs_dir_add(fs, &dir, "a/b", 3, good, MAPFS_DT_REG,
				       false), -EINVAL);
	assert_int_equal(mapfs_dir_add(fs, &dir, "a\0b", 3, good, MAPFS_DT_REG,
				       false), -EINVAL);
	assert_int_equal(mapfs_dir_add(fs, &dir, ".", 1, good, MAPFS_DT_REG,
				       false), -EEXIST);
	assert_int_equal(mapfs_dir_add(fs, &dir, "..", 2, good, MAPFS_DT_REG,
				       false), -EEXIST);
	/* inode 0 would read as a free record; 1 is reserved */
	assert_int_equal(mapfs_dir_add(fs, &dir, "z", 1, 0, MAPFS_DT_REG,
				       false), -EINVAL);
	assert_int_equal(mapfs_dir_add(fs, &dir, "z", 1, 1, MAPFS_DT_REG,
				       false), -EINVAL);
	assert_int_equal(mapfs_dir_add(fs, &dir, "z", 1, fs->g.ninodes,
				       MAPFS_DT_REG, false), -EINVAL);
	assert_int_equal(mapfs_dir_add(fs, &dir, "z", 1, good,
				       MAPFS_DT_UNKNOWN, false), -EINVAL);
	assert_int_equal(mapfs_dir_add(fs, &dir, "z", 1, good, 3, false),
			 -EINVAL);
	assert_int_equal(mapfs_dir_remove(fs, &dir, ".", 1, &ino), -EINVAL);
	assert_int_equal(mapfs_dir_remove(fs, &dir, "..", 2, &ino), -EINVAL);
	assert_int_equal(mapfs_dir_is_empty(fs, &dir), 1);

	/* longest name works; one byte shorter is a different name */
	memset(big, 'n', sizeof(big));
	assert_int_equal(mapfs_dir_add(fs, &dir, big, MAPFS_NAME_MAX, good,
				       MAPFS_DT_REG, false), 0);
	assert_int_equal(mapfs_dir_lookup(fs, &dir, big, MAPFS_NAME_MAX, &ino,
					  &type), 0);
	assert_int_equal(mapfs_dir_lookup(fs, &dir, big, MAPFS_NAME_MAX - 1,
					  &ino, &type), -ENOENT);
	test_fs_free(fs);
}

static void test_replace(void **state)
{
	struct mapfs_fs *fs = test_fs_new(16 * MIB, 0, 0);
	struct mapfs_inode dir;
	mapfs_ino_t ino, a = MAPFS_FIRST_INO + 3, b = MAPFS_FIRST_INO + 9;
	uint32_t type;

	(void)state;
	make_dir(fs, &dir);
	assert_int_equal(mapfs_dir_add(fs, &dir, "f", 1, a, MAPFS_DT_REG,
				       false), 0);
	assert_int_equal(mapfs_dir_add(fs, &dir, "g", 1, a, MAPFS_DT_REG,
				       false), 0);
	assert_int_equal(mapfs_dir_replace(fs, &dir, "f", 1, b, MAPFS_DT_DIR),
			 0);
	assert_int_equal(mapfs_dir_lookup(fs, &dir, "f", 1, &ino, &type), 0);
	assert_int_equal(ino, b);
	assert_int_equal(type, MAPFS_DT_DIR);
	assert_int_equal(mapfs_dir_lookup(fs, &dir, "g", 1, &ino, &type), 0);
	assert_int_equal(ino, a);
	assert_int_equal(type, MAPFS_DT_REG);

	assert_int_equal(mapfs_dir_replace(fs, &dir, "..", 2, b, MAPFS_DT_DIR),
			 0);
	assert_int_equal(mapfs_dir_lookup(fs, &dir, "..", 2, &ino, &type), 0);
	assert_int_equal(ino, b);
	assert_int_equal(mapfs_dir_replace(fs, &dir, "..", 2, b, MAPFS_DT_REG),
			 -EINVAL);
	assert_int_equal(mapfs_dir_replace(fs, &dir, ".", 1, b, MAPFS_DT_DIR),
			 -EINVAL);
	assert_int_equal(mapfs_dir_replace(fs, &dir, "h", 1, b, MAPFS_DT_DIR),
			 -ENOENT);
	assert_int_equal(mapfs_dir_replace(fs, &dir, "f", 1, 0, MAPFS_DT_DIR),
			 -EINVAL);
	/* the chunk still validates (CRC recomputed) after a remount */
	test_fs_remount(fs);
	reload(fs, &dir);
	assert_int_equal(mapfs_dir_lookup(fs, &dir, "f", 1, &ino, &type), 0);
	assert_int_equal(ino, b);
	assert_int_equal(fs->error, 0);
	test_fs_free(fs);
}

/* ------------------------------------------------------------------ */
/* Many entries                                                        */
/* ------------------------------------------------------------------ */

#define NMANY 3000u

static void test_many(void **state)
{
	uint32_t bsize = *(const uint32_t *)*state;
	struct mapfs_fs *fs = fs_new(bsize);
	uint32_t ppb = fs->g.pages_per_block;
	struct mapfs_inode dir;
	struct ent *ents = calloc(NMANY, sizeof(*ents));
	uint64_t nchunks, size_full;
	uint32_t maxlen;
	unsigned i;

	assert_non_null(ents);
	make_dir(fs, &dir);
	for (i = 0; i < NMANY; i++) {
		ent_make(fs, &ents[i], i, 1 + (i * 37) % MAPFS_NAME_MAX);
		ent_add(fs, &dir, &ents[i]);
	}
	/* lengths 1..255 (short ones padded up to the digits) */
	assert_int_equal(ents[0].len, 1);
	for (i = 0, maxlen = 0; i < NMANY; i++)
		maxlen = ents[i].len > maxlen ? ents[i].len : maxlen;
	assert_int_equal(maxlen, MAPFS_NAME_MAX);

	reload(fs, &dir);
	nchunks = dir.size / MAPFS_DIRCHUNK;
	assert_int_equal(dir.size % MAPFS_DIRCHUNK, 0);
	assert_true(nchunks > 16);
	if (ppb > 1)	/* few enough blocks to be all direct */
		assert_int_equal(dir.blocks, (nchunks + ppb - 1) / ppb);
	else
		assert_true(dir.blocks > nchunks);	/* + indirect */
	for (i = 0; i < NMANY; i++)
		ent_expect(fs, &dir, &ents[i]);
	walk_all(fs, &dir, ents, NMANY, MAPFS_ROOT_INO);

	/* the image, not memory, holds it all */
	test_fs_remount(fs);
	reload(fs, &dir);
	walk_all(fs, &dir, ents, NMANY, MAPFS_ROOT_INO);

	for (i = 1; i < NMANY; i += 2)
		ent_remove(fs, &dir, &ents[i]);
	for (i = 0; i < NMANY; i++)
		ent_expect(fs, &dir, &ents[i]);
	walk_all(fs, &dir, ents, NMANY, MAPFS_ROOT_INO);
	reload(fs, &dir);
	assert_int_equal(dir.size, nchunks * MAPFS_DIRCHUNK);

	/* put them back: they fit in the room they left */
	size_full = dir.size;
	for (i = 1; i < NMANY; i += 2)
		ent_add(fs, &dir, &ents[i]);
	assert_int_equal(dir.size, size_full);
	walk_all(fs, &dir, ents, NMANY, MAPFS_ROOT_INO);

	for (i = 0; i < NMANY; i++)
		ent_remove(fs, &dir, &ents[NMANY - 1 - i]);
	assert_int_equal(mapfs_dir_is_empty(fs, &dir), 1);
	walk_all(fs, &dir, ents, NMANY, MAPFS_ROOT_INO);
	reload(fs, &dir);
	assert_int_equal(fs->error, 0);
	free(ents);
	test_fs_free(fs);
}

/* ------------------------------------------------------------------ */
/* Cookies                                                             */
/* ------------------------------------------------------------------ */

#define NCOOKIE 6000u	/* name ids; the first 1500 exist at the start */

static void cookies(uint32_t bsize, unsigned batch, unsigned churn)
{
	struct mapfs_fs *fs = fs_new(bsize);
	struct ent *ents = calloc(NCOOKIE, sizeof(*ents));
	struct mapfs_inode dir;
	unsigned i, next = 1500, nlive = 1500, rounds = 0;
	struct walk w;
	uint64_t off = 0;
	int ret;

	assert_non_null(ents);
	rng_state = 0x9e3779b97f4a7c15ull ^ bsize ^ batch;
	make_dir(fs, &dir);
	for (i = 0; i < NCOOKIE; i++)
		ent_make(fs, &ents[i], i, 1 + rnd() % MAPFS_NAME_MAX);
	for (i = 0; i < next; i++) {
		ent_add(fs, &dir, &ents[i]);
		ents[i].throughout = true;
	}

	walk_init(&w, ents, NCOOKIE, &dir, MAPFS_ROOT_INO);
	for (;;) {
		/* read a batch, as one readdir call would */
		w.limit = batch;
		w.taken = 0;
		w.size = dir.size;
		ret = mapfs_dir_iterate(fs, &dir, off, walk_cb, &w);
		assert_true(ret == 0 || ret == 1);
		if (ret == 0)
			break;
		assert_true(w.cookie > off);
		off = w.cookie;
		rounds++;
		/* change the directory between two calls */
		for (i = 0; i < churn && nlive > 0; i++) {
			unsigned id = rnd() % next;

			while (!ents[id].live)
				id = (id + 1) % next;
			ent_remove(fs, &dir, &ents[id]);
			nlive--;
		}
		for (i = 0; i < churn && next < NCOOKIE; i++, nlive++)
			ent_add(fs, &dir, &ents[next++]);
	}
	assert_true(rounds > 10);
	assert_int_equal(w.dot, 1);
	assert_int_equal(w.dotdot, 1);
	for (i = 0; i < NCOOKIE; i++) {
		if (ents[i].seen > 1)
			fail_msg("'%s' seen %d times", ents[i].name,
				 ents[i].seen);
		if (ents[i].throughout && ents[i].seen != 1)
			fail_msg("'%s' present throughout, seen %d times",
				 ents[i].name, ents[i].seen);
	}
	walk_all(fs, &dir, ents, NCOOKIE, MAPFS_ROOT_INO);
	free(ents);
	test_fs_free(fs);
}

static void test_cookies_4k(void **state)
{
	(void)state;
	cookies(4096, 37, 15);
	cookies(4096, 1, 1);
}

static void test_cookies_64k(void **state)
{
	(void)state;
	cookies(65536, 50, 20);
}

/* Resuming from each cookie gives the next record; any offset works. */
struct collect {
	char names[400][MAPFS_NAME_MAX + 1];
	uint64_t next[400];
	unsigned n, limit;
};

static int collect_cb(void *arg, const char *name, uint32_t namelen,
		      mapfs_ino_t ino, uint32_t type, uint64_t next_off)
{
	struct collect *c = arg;

	(void)namelen;
	(void)ino;
	(void)type;
	assert_true(c->n < 400);
	strcpy(c->names[c->n], name);
	c->next[c->n] = next_off;
	c->n++;
	return c->limit && c->n >= c->limit;
}

static void test_cookie_resume(void **state)
{
	struct mapfs_fs *fs = test_fs_new(16 * MIB, 0, 0);
	static struct collect all, one;
	static struct ent ents[300];
	struct mapfs_inode dir;
	uint64_t off;
	unsigned i, k, d;

	(void)state;
	make_dir(fs, &dir);
	for (i = 0; i < 300; i++) {
		ent_make(fs, &ents[i], i, 1 + (i * 91) % 200);
		ent_add(fs, &dir, &ents[i]);
	}
	/* holes: free first records, grown records */
	for (i = 0; i < 300; i += 7)
		ent_remove(fs, &dir, &ents[i]);
	all.n = 0;
	all.limit = 0;
	assert_int_equal(mapfs_dir_iterate(fs, &dir, 0, collect_cb, &all), 0);
	assert_int_equal(all.n, 2 + 300 - 43);
	assert_int_equal(all.next[all.n - 1], dir.size);
	for (k = 1; k < all.n; k++) {
		assert_true(all.next[k] > all.next[k - 1]);
		one.n = 0;
		one.limit = 1;
		assert_int_equal(mapfs_dir_iterate(fs, &dir, all.next[k - 1],
						   collect_cb, &one), 1);
		assert_string_equal(one.names[0], all.names[k]);
		/*
		 * Any offset inside record k - 1 but past its start finds
		 * record k: records are at least 16 bytes and 8-aligned, so
		 * next - 1 and next - 8 are such offsets.
		 */
		for (d = 1; d <= 8; d += 7) {
			off = all.next[k - 1] - d;
			one.n = 0;
			assert_int_equal(mapfs_dir_iterate(fs, &dir, off,
							   collect_cb, &one),
					 1);
			assert_string_equal(one.names[0], all.names[k]);
		}
	}
	/* past the end: nothing */
	one.n = 0;
	assert_int_equal(mapfs_dir_iterate(fs, &dir, dir.size, collect_cb,
					   &one), 0);
	assert_int_equal(mapfs_dir_iterate(fs, &dir, UINT64_MAX, collect_cb,
					   &one), 0);
	assert_int_equal(one.n, 0);
	test_fs_free(fs);
}

/* ------------------------------------------------------------------ */
/* Reuse of removed room                                               */
/* ------------------------------------------------------------------ */

#define NREUSE 21000u

static void test_reuse(void **state)
{
	uint32_t bsize = *(const uint32_t *)*state;
	struct mapfs_fs *fs = fs_new(bsize);
	struct ent *ents = calloc(NREUSE, sizeof(*ents));
	unsigned i, next, nlive, round;
	struct mapfs_inode dir;
	uint64_t size, blocks, mid = 0;

	assert_non_null(ents);
	rng_state = 12345 + bsize;
	make_dir(fs, &dir);

	/* Emptying and refilling the same lengths gives the same size. */
	for (i = 0; i < 500; i++) {
		ent_make(fs, &ents[i], i, 1 + rnd() % MAPFS_NAME_MAX);
		ent_add(fs, &dir, &ents[i]);
	}
	size = dir.size;
	blocks = dir.blocks;
	for (i = 0; i < 500; i++)
		ent_remove(fs, &dir, &ents[(i * 7) % 500]);
	assert_int_equal(mapfs_dir_is_empty(fs, &dir), 1);
	for (i = 0; i < 500; i++) {
		ent_make(fs, &ents[500 + i], 500 + i, ents[i].len);
		ent_add(fs, &dir, &ents[500 + i]);
	}
	assert_int_equal(dir.size, size);
	assert_int_equal(dir.blocks, blocks);
	reload(fs, &dir);

	/* Churn: remove one, add one of any length; the size levels off. */
	next = 1000;
	nlive = 500;
	for (round = 0; next < NREUSE; round++) {
		unsigned id = 500 + rnd() % (next - 500);

		while (!ents[id].live)
			id = id + 1 < next ? id + 1 : 500;
		ent_remove(fs, &dir, &ents[id]);
		ent_make(fs, &ents[next], next, 1 + rnd() % MAPFS_NAME_MAX);
		ent_add(fs, &dir, &ents[next++]);
		if (round == 10000)
			mid = dir.size;
	}
	(void)nlive;
	assert_true(dir.size <= 2 * size);
	assert_true(dir.size <= mid + 2 * MAPFS_DIRCHUNK);
	walk_all(fs, &dir, ents, next, MAPFS_ROOT_INO);
	reload(fs, &dir);
	free(ents);
	test_fs_free(fs);
}

/* ------------------------------------------------------------------ */
/* The validator                                                       */
/* ------------------------------------------------------------------ */

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static void put_rec(uint8_t *c, uint32_t off, uint64_t ino, uint16_t reclen,
		    uint8_t type, const char *name, uint8_t namelen)
{
	put64(c + off, ino);
	put16(c + off + 8, reclen);
	c[off + 10] = type;
	c[off + 11] = namelen;
	memcpy(c + off + 12, name, namelen);
}

static void seal(const struct mapfs_fs *fs, mapfs_ino_t dino, mapfs_bno_t bno,
		 uint32_t page, uint8_t *c)
{
	put32(c + USABLE, MAPFS_DIRTAIL_MAGIC);
	put32(c + USABLE + 4, mapfs_dir_chunk_crc(fs, dino, bno, page, c));
}

struct badcase {
	const char *what;
	void (*edit)(uint8_t *c);
	uint64_t chunk_idx;
	const char *expect;	/* substring of why */
};

/*
 * Chunk 0 used below: "." @0 (16), ".." @16 (16), "a" @32 (16),
 * "bb" @48 (rest: 4040).
 */
static mapfs_ino_t bad_dino;
static uint64_t bad_ninodes;

static void e_reclen0(uint8_t *c) { put16(c + 32 + 8, 0); }
static void e_reclen_odd(uint8_t *c) { put16(c + 32 + 8, 20); }
static void e_reclen_past(uint8_t *c) { put16(c + 48 + 8, 4048); }
static void e_reclen_big(uint8_t *c) { put16(c + 48 + 8, 0xfff8); }
static void e_namelen_big(uint8_t *c) { c[32 + 11] = 200; }
static void e_namelen0(uint8_t *c) { c[32 + 11] = 0; }
static void e_slash(uint8_t *c) { c[32 + 12] = '/'; }
static void e_nul(uint8_t *c) { c[48 + 13] = '\0'; }
static void e_ino_range(uint8_t *c) { put64(c + 32, bad_ninodes); }
static void e_ino_reserved(uint8_t *c) { put64(c + 32, 1); }
static void e_type0(uint8_t *c) { c[32 + 10] = MAPFS_DT_UNKNOWN; }
static void e_type3(uint8_t *c) { c[32 + 10] = 3; }
static void e_crc(uint8_t *c) { c[48 + 12] ^= 1; }
static void e_magic(uint8_t *c) { c[USABLE] ^= 0x80; }
static void e_free_mid(uint8_t *c) { put64(c + 32, 0); c[32 + 11] = 0; }
static void e_dot_missing(uint8_t *c) { c[12] = 'x'; }
static void e_dot_free(uint8_t *c) { put64(c, 0); c[11] = 0; c[12] = 0; }
static void e_dot_ino(uint8_t *c) { put64(c, bad_dino + 1); }
static void e_dot_type(uint8_t *c) { c[10] = MAPFS_DT_REG; }
static void e_dotdot_missing(uint8_t *c) { c[16 + 13] = 'x'; }
static void e_dotdot_type(uint8_t *c) { c[16 + 10] = MAPFS_DT_LNK; }
static void e_dot_elsewhere(uint8_t *c) { c[32 + 12] = '.'; }
static void e_dotdot_elsewhere(uint8_t *c) { memcpy(c + 48 + 12, "..", 2); }
static void e_only_dot(uint8_t *c) { memset(c + 16, 0, 64); put16(c + 8, 4088); }
static void e_hdr_short(uint8_t *c) { put16(c + 48 + 8, 4080 - 48); }
static void e_nothing(uint8_t *c) { (void)c; }

static const struct badcase badcases[] = {
	{ "reclen 0", e_reclen0, 0, "chunk 0 offset 32: reclen 0" },
	{ "reclen not aligned", e_reclen_odd, 0,
	  "chunk 0 offset 32: reclen 20 not a multiple of 8" },
	{ "reclen past the chunk", e_reclen_past, 0,
	  "chunk 0 offset 48: reclen 4048 runs past the end of the chunk" },
	{ "reclen huge", e_reclen_big, 0, "runs past the end of the chunk" },
	{ "namelen > reclen", e_namelen_big, 0,
	  "chunk 0 offset 32: reclen 16 smaller than record (216" },
	{ "namelen 0", e_namelen0, 0, "offset 32: live record with namelen 0" },
	{ "slash", e_slash, 0, "chunk 0 offset 32: name contains '/'" },
	{ "NUL", e_nul, 0, "chunk 0 offset 48: name contains NUL" },
	{ "ino out of range", e_ino_range, 0, "offset 32: inode" },
	{ "ino reserved", e_ino_reserved, 0, "offset 32: inode 1 out of range" },
	{ "type unknown", e_type0, 0, "offset 32: bad type 0" },
	{ "type 3", e_type3, 0, "offset 32: bad type 3" },
	{ "bad crc", e_crc, 0, "chunk 0: checksum mismatch" },
	{ "bad magic", e_magic, 0, "chunk 0: bad tail magic" },
	{ "free record in the middle", e_free_mid, 0,
	  "chunk 0 offset 32: free record in the middle of the chunk" },
	{ "'.' missing", e_dot_missing, 0, "chunk 0 offset 0: '.' missing" },
	{ "'.' free", e_dot_free, 0, "'.' missing (free record)" },
	{ "'.' wrong inode", e_dot_ino, 0, "'.' names inode" },
	{ "'.' wrong type", e_dot_type, 0, "'.' has type 8" },
	{ "'..' missing", e_dotdot_missing, 0,
	  "chunk 0 offset 16: '..' missing" },
	{ "'..' wrong type", e_dotdot_type, 0, "'..' has type 10" },
	{ "'.' elsewhere", e_dot_elsewhere, 0, "offset 32: '.' out of place" },
	{ "'..' elsewhere", e_dotdot_elsewhere, 0,
	  "offset 48: '..' out of place" },
	{ "only '.'", e_only_dot, 0, "chunk 0: '..' missing" },
	{ "header cut by the tail", e_hdr_short, 0,
	  "chunk 0 offset 4080: 8 bytes left, too few for a record header" },
	{ "'.' as chunk 3's first", e_nothing, 3,
	  "chunk 3 offset 0: '.' out of place" },
};

static void test_check_chunk(void **state)
{
	struct mapfs_fs *fs = test_fs_new(16 * MIB, 0, 0);
	struct mapfs_inode dir;
	mapfs_bno_t bno;
	uint8_t *img, *good = malloc(MAPFS_DIRCHUNK);
	uint8_t *c = malloc(MAPFS_DIRCHUNK);
	char why[256];
	size_t i;
	int err;

	(void)state;
	assert_non_null(good);
	assert_non_null(c);
	make_dir(fs, &dir);
	bad_dino = dir.ino;
	bad_ninodes = fs->g.ninodes;
	assert_int_equal(mapfs_dir_add(fs, &dir, "a", 1, MAPFS_FIRST_INO,
				       MAPFS_DT_REG, false), 0);
	assert_int_equal(mapfs_dir_add(fs, &dir, "bb", 2, MAPFS_FIRST_INO + 1,
				       MAPFS_DT_REG, false), 0);
	assert_int_equal(mapfs_bmap(fs, &dir, 0, &bno), 0);
	img = mapfs_block(fs, bno);
	assert_non_null(img);
	memcpy(good, img, MAPFS_DIRCHUNK);

	/* the layout the cases assume */
	assert_int_equal(good[8], 16);
	assert_int_equal(good[16 + 8], 16);
	assert_int_equal(good[32 + 8], 16);
	assert_int_equal(good[32 + 12], 'a');
	assert_int_equal(good[48 + 12], 'b');
	assert_int_equal(mapfs_dir_check_chunk(fs, dir.ino, bno, 0, 0, good,
					       why, sizeof(why)), 0);
	/* the CRC binds the chunk to its directory and place */
	assert_int_equal(mapfs_dir_check_chunk(fs, dir.ino + 1, bno, 0, 0, good,
					       why, sizeof(why)), -EUCLEAN);
	assert_non_null(strstr(why, "checksum mismatch"));
	assert_int_equal(mapfs_dir_check_chunk(fs, dir.ino, bno + 1, 0, 0,
					       good, why, sizeof(why)),
			 -EUCLEAN);
	assert_int_equal(mapfs_dir_check_chunk(fs, dir.ino, bno, 1, 0, good,
					       why, sizeof(why)), -EUCLEAN);
	/* no why buffer is fine */
	assert_int_equal(mapfs_dir_check_chunk(fs, dir.ino, bno, 1, 0, good,
					       NULL, 0), -EUCLEAN);

	for (i = 0; i < sizeof(badcases) / sizeof(badcases[0]); i++) {
		const struct badcase *b = &badcases[i];

		memcpy(c, good, MAPFS_DIRCHUNK);
		seal(fs, dir.ino, bno, 0, c);
		b->edit(c);
		if (b->edit != e_crc && b->edit != e_magic)
			seal(fs, dir.ino, bno, 0, c);
		why[0] = '\0';
		err = mapfs_dir_check_chunk(fs, dir.ino, bno, 0, b->chunk_idx,
					    c, why, sizeof(why));
		if (err != -EUCLEAN || !strstr(why, b->expect))
			fail_msg("case '%s': got %d '%s', want '%s'", b->what,
				 err, why, b->expect);
	}

	/* A later chunk: a free first record is fine there, not in chunk 0. */
	memset(c, 0, MAPFS_DIRCHUNK);
	put_rec(c, 0, 0, 32, 0, "", 0);
	put_rec(c, 32, MAPFS_FIRST_INO, USABLE - 32, MAPFS_DT_REG, "z", 1);
	seal(fs, dir.ino, bno, 3, c);
	assert_int_equal(mapfs_dir_check_chunk(fs, dir.ino, bno, 3, 1, c, why,
					       sizeof(why)), 0);
	assert_int_equal(mapfs_dir_check_chunk(fs, dir.ino, bno, 3, 0, c, why,
					       sizeof(why)), -EUCLEAN);
	assert_non_null(strstr(why, "'.' missing"));
	/* a free record anywhere but first */
	memset(c, 0, MAPFS_DIRCHUNK);
	put_rec(c, 0, MAPFS_FIRST_INO, 32, MAPFS_DT_REG, "z", 1);
	put_rec(c, 32, 0, USABLE - 32, 0, "", 0);
	seal(fs, dir.ino, bno, 3, c);
	assert_int_equal(mapfs_dir_check_chunk(fs, dir.ino, bno, 3, 1, c, why,
					       sizeof(why)), -EUCLEAN);
	assert_non_null(strstr(why, "chunk 1 offset 32: free record in the middle of the chunk"));
	/* a free record with a name length */
	memset(c, 0, MAPFS_DIRCHUNK);
	put_rec(c, 0, 0, 32, 0, "", 0);
	put_rec(c, 32, MAPFS_FIRST_INO, USABLE - 32, MAPFS_DT_REG, "z", 1);
	c[11] = 1;
	seal(fs, dir.ino, bno, 3, c);
	assert_int_equal(mapfs_dir_check_chunk(fs, dir.ino, bno, 3, 1, c, why,
					       sizeof(why)), -EUCLEAN);
	assert_non_null(strstr(why, "chunk 1 offset 0: free record with namelen 1"));
	/* a free record too short for its header (the next one overlaps
	 * it; the check stops at the first) */
	c[11] = 0;
	put_rec(c, 8, MAPFS_FIRST_INO, USABLE - 8, MAPFS_DT_REG, "z", 1);
	put16(c + 8, 8);
	seal(fs, dir.ino, bno, 3, c);
	assert_int_equal(mapfs_dir_check_chunk(fs, dir.ino, bno, 3, 1, c, why,
					       sizeof(why)), -EUCLEAN);
	assert_non_null(strstr(why, "reclen 8 smaller than record (16)"));
	/* a zeroed chunk with a valid tail */
	memset(c, 0, MAPFS_DIRCHUNK);
	seal(fs, dir.ino, bno, 3, c);
	assert_int_equal(mapfs_dir_check_chunk(fs, dir.ino, bno, 3, 1, c, why,
					       sizeof(why)), -EUCLEAN);
	assert_non_null(strstr(why, "chunk 1 offset 0: reclen 0"));

	/* the image itself was never touched by the checks */
	assert_memory_equal(img, good, MAPFS_DIRCHUNK);
	free(c);
	free(good);
	test_fs_free(fs);
}

/* Garbage in: random edits with a valid tail, so the record walk runs on
 * them. Each buffer is exactly one chunk, so ASan catches a read past it. */
static void test_check_chunk_fuzz(void **state)
{
	struct mapfs_fs *fs = test_fs_new(16 * MIB, 0, 0);
	struct mapfs_inode dir;
	mapfs_bno_t bno = 77;
	uint8_t *c = malloc(MAPFS_DIRCHUNK), *good = malloc(MAPFS_DIRCHUNK);
	unsigned i, k, nok = 0, nbad = 0;
	mapfs_bno_t dbno;
	int err;

	(void)state;
	assert_non_null(c);
	assert_non_null(good);
	rng_state = 0xfeedface;
	make_dir(fs, &dir);
	for (i = 0; i < 60; i++) {
		struct ent e;

		ent_make(fs, &e, i, 1 + rnd() % 40);
		ent_add(fs, &dir, &e);
	}
	assert_int_equal(mapfs_bmap(fs, &dir, 0, &dbno), 0);
	memcpy(good, mapfs_block(fs, dbno), MAPFS_DIRCHUNK);

	for (i = 0; i < 50000; i++) {
		if (i % 4 == 0) {
			for (k = 0; k < MAPFS_DIRCHUNK; k += 8)
				put64(c + k, rnd());
		} else {
			memcpy(c, good, MAPFS_DIRCHUNK);
			for (k = 0; k < 1 + rnd() % 4; k++) {
				uint32_t at = rnd() % USABLE;

				if (rnd() % 2 && at + 1 < USABLE)
					put16(c + (at & ~7u) + 8,
					      (uint16_t)rnd() % 4200);
				else
					c[at] = (uint8_t)rnd();
			}
		}
		seal(fs, dir.ino, bno, 0, c);
		err = mapfs_dir_check_chunk(fs, dir.ino, bno, 0, i % 3, c,
					    NULL, 0);
		assert_true(err == 0 || err == -EUCLEAN);
		if (err == 0)
			nok++;
		else
			nbad++;
	}
	assert_true(nbad > 0);
	(void)nok;
	free(good);
	free(c);
	test_fs_free(fs);
}

/* Corruption found through the API: -EUCLEAN and the error flag. */
static void test_corrupt_dir(void **state)
{
	struct mapfs_fs *fs = test_fs_new(16 * MIB, 0, 0);
	struct mapfs_inode dir, bad;
	mapfs_bno_t bno;
	mapfs_ino_t ino;
	uint8_t *img;
	struct walk w;
	struct ent e;

	(void)state;
	make_dir(fs, &dir);
	ent_make(fs, &e, 1, 5);
	ent_add(fs, &dir, &e);
	assert_int_equal(mapfs_bmap(fs, &dir, 0, &bno), 0);
	img = mapfs_block(fs, bno);

	img[32 + 13] ^= 0x20;	/* a name byte, CRC left stale */
	assert_int_equal(mapfs_dir_lookup(fs, &dir, e.name, e.len, &ino, NULL),
			 -EUCLEAN);
	assert_int_not_equal(fs->error, 0);
	walk_init(&w, &e, 1, &dir, MAPFS_ROOT_INO);
	assert_int_equal(mapfs_dir_iterate(fs, &dir, 0, walk_cb, &w), -EUCLEAN);
	assert_int_equal(w.taken, 0);
	assert_int_equal(mapfs_dir_add(fs, &dir, "n", 1, MAPFS_FIRST_INO,
				       MAPFS_DT_REG, false), -EUCLEAN);
	assert_int_equal(mapfs_dir_remove(fs, &dir, e.name, e.len, &ino),
			 -EUCLEAN);
	assert_int_equal(mapfs_dir_is_empty(fs, &dir), -EUCLEAN);
	img[32 + 13] ^= 0x20;
	ent_expect(fs, &dir, &e);

	/* size not a multiple of the chunk, or zero */
	bad = dir;
	bad.size = 100;
	assert_int_equal(mapfs_dir_lookup(fs, &bad, "x", 1, &ino, NULL),
			 -EUCLEAN);
	bad.size = 0;
	assert_int_equal(mapfs_dir_iterate(fs, &bad, 0, walk_cb, &w),
			 -EUCLEAN);
	/* a chunk inside the size in a hole */
	bad = dir;
	bad.size = 2 * MAPFS_DIRCHUNK;
	assert_int_equal(mapfs_dir_lookup(fs, &bad, "x", 1, &ino, NULL),
			 -EUCLEAN);
	/* a chunk 0 that is not this directory's ("." elsewhere) */
	bad = dir;
	bad.ino = dir.ino + 1;
	assert_int_equal(mapfs_dir_lookup(fs, &bad, "x", 1, &ino, NULL),
			 -EUCLEAN);
	test_fs_free(fs);
}

/* With 16 chunks per block, new blocks come only every 16th chunk and the
 * unused pages of the last block stay zero. */
static void test_chunks_per_block(void **state)
{
	struct mapfs_fs *fs = fs_new(65536);
	struct mapfs_inode dir;
	mapfs_bno_t bno;
	uint8_t *blk;
	uint64_t nchunks;
	unsigned i;
	struct ent e;
	char why[200];

	(void)state;
	assert_int_equal(fs->g.pages_per_block, 16);
	make_dir(fs, &dir);
	assert_int_equal(dir.blocks, 1);
	assert_int_equal(mapfs_bmap(fs, &dir, 0, &bno), 0);
	blk = mapfs_block(fs, bno);
	for (i = 1; i < 16; i++) {
		static const uint8_t zero[MAPFS_DIRCHUNK];

		assert_memory_equal(blk + i * MAPFS_DIRCHUNK, zero,
				    MAPFS_DIRCHUNK);
	}
	/* 255-byte names: 272 bytes each, 15 per chunk */
	for (i = 0; dir.size < 17 * MAPFS_DIRCHUNK; i++) {
		ent_make(fs, &e, i, 255);
		ent_add(fs, &dir, &e);
		nchunks = dir.size / MAPFS_DIRCHUNK;
		assert_int_equal(dir.blocks, (nchunks + 15) / 16);
	}
	reload(fs, &dir);
	/* every chunk validates in its own page */
	for (i = 0; i < 17; i++) {
		assert_int_equal(mapfs_bmap(fs, &dir, i / 16, &bno), 0);
		blk = mapfs_block(fs, bno);
		assert_int_equal(mapfs_dir_check_chunk(fs, dir.ino, bno, i % 16,
					i, blk + (i % 16) * MAPFS_DIRCHUNK,
					why, sizeof(why)), 0);
	}
	test_fs_free(fs);
}

/* A test run once per block size: the size is its state. */
static const uint32_t bsize_4k = 4096, bsize_64k = 65536;
#define BSIZE_TEST(f, bs) \
	{ #f "_" #bs, f, NULL, NULL, (void *)&bsize_##bs }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root),
		cmocka_unit_test(test_init_empty),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_replace),
		BSIZE_TEST(test_many, 4k),
		BSIZE_TEST(test_many, 64k),
		cmocka_unit_test(test_cookies_4k),
		cmocka_unit_test(test_cookies_64k),
		cmocka_unit_test(test_cookie_resume),
		BSIZE_TEST(test_reuse, 4k),
		BSIZE_TEST(test_reuse, 64k),
		cmocka_unit_test(test_check_chunk),
		cmocka_unit_test(test_check_chunk_fuzz),
		cmocka_unit_test(test_corrupt_dir),
		cmocka_unit_test(test_chunks_per_block),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
