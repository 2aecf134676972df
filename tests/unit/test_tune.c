/* SPDX-License-Identifier: MIT */
/* Unit tests: changing a made filesystem (tune.c): label, uuid (the seed
 * kept, incompat CSUM_SEED), root reserve, a journal added; refusals
 * that change nothing; power cuts during a journaled change and during
 * one without a journal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "helpers.h"
#include "imgfile.h"

#define MiB (1024u * 1024u)
#define IMG (16u * MiB)		/* 8 groups of 512 blocks: 4 copies */
#define BPG 512u

/* A filesystem in memory, 8 groups; journal: bytes, 0 for mkfs's
 * default, UINT64_MAX for none. */
static struct mapfs_fs *mem_fs(uint64_t journal)
{
	struct mapfs_format_opts o;
	struct mapfs_geom g;
	struct mapfs_fs *fs;
	char why[256] = "";
	void *base;

	memset(&o, 0, sizeof(o));
	o.size_bytes = IMG;
	o.bpg = BPG;
	o.minfree_pct = UINT32_MAX;
	o.journal_bytes = journal;
	o.time = 1700000000;
	assert_int_equal(mapfs_format_plan(&o, &g, why, sizeof(why)), 0);
	base = calloc(1, IMG);
	assert_non_null(base);
	if (mapfs_format(base, IMG, &o, &g, why, sizeof(why)) != 0)
		fail_msg("format: %s", why);
	fs = calloc(1, sizeof(*fs));
	assert_non_null(fs);
	if (mapfs_fs_attach(fs, base, IMG, 0, 0, NULL, NULL, why,
			    sizeof(why)) != 0)
		fail_msg("attach: %s", why);
	assert_true(fs->g.ngroups == 8);
	return fs;
}

/* What fsck compares between the primary and each copy (pass 5), and
 * what a fresh attach checks: every copy decodes to the primary's
 * geometry, uuid and label; every group is valid; totals add up. */
static void check_consistent(struct mapfs_fs *fs)
{
	const struct mapfs_dsuper *p;
	uint64_t fb = 0;
	char why[256] = "";

	test_fs_remount(fs);
	p = mapfs_block(fs, 0);
	for (uint64_t cg = 0; cg < fs->g.ngroups; cg++) {
		const struct mapfs_dsuper *d;
		struct mapfs_geom g;
		bool unused;

		if (mapfs_cg_check(fs, cg, &unused, why, sizeof(why)) != 0)
			fail_msg("group %llu: %s", (unsigned long long)cg, why);
		fb += fs->cg[cg].free_blocks;
		if (cg == 0 || !mapfs_group_has_sb(cg))
			continue;
		d = mapfs_block(fs, mapfs_group_start(&fs->g, cg));
		if (mapfs_super_decode(d, fs->size, cg, &g, why,
				       sizeof(why)) != 0)
			fail_msg("copy in group %llu: %s",
				 (unsigned long long)cg, why);
		assert_memory_equal(&g, &fs->g, sizeof(g));
		assert_memory_equal(d->sb_uuid, p->sb_uuid, 16);
		assert_memory_equal(d->sb_label, p->sb_label, MAPFS_LABEL_MAX);
		assert_true(d->sb_feat_incompat == p->sb_feat_incompat);
	}
	assert_true(fb == fs->free_blocks && fb == fs->sb_free_blocks);
}

static void free_fs(struct mapfs_fs *fs)
{
	void *base = fs->base;

	mapfs_fs_detach(fs);
	free(base);
	free(fs);
}

static void t_label_uuid_reserve(void **state)
{
	struct mapfs_fs *fs = mem_fs(UINT64_MAX);
	struct mapfs_tune t;
	uint8_t old_uuid[16];
	uint32_t seed = fs->g.seed;
	char why[256] = "";

	(void)state;
	memcpy(old_uuid, fs->uuid, 16);
	memset(&t, 0, sizeof(t));
	t.set_label = true;
	snprintf(t.label, sizeof(t.label), "%s", "data volume");
	t.set_uuid = true;
	for (int i = 0; i < 16; i++)
		t.uuid[i] = (uint8_t)(0xa0 + i);
	t.set_minfree = true;
	t.minfree_pct = 10;
	if (mapfs_tune(fs, &t, why, sizeof(why)) != 0)
		fail_msg("tune: %s", why);
	check_consistent(fs);
	assert_string_equal(fs->label, "data volume");
	assert_memory_equal(fs->uuid, t.uuid, 16);
	/* The seed stays: no checksum was rewritten, all still verify
	 * (check_consistent attached again). */
	assert_true(fs->g.seed == seed);
	assert_true(fs->feat_incompat & MAPFS_FEAT_INCOMPAT_CSUM_SEED);
	assert_true(fs->g.minfree_pct == 10);
	assert_true(fs->g.reserved_blocks ==
		    (fs->g.nblocks - fs->g.ngroups * fs->g.data_off) / 10);
	assert_true(fs->state == MAPFS_STATE_CLEAN);

	/* The original uuid back: the seed is its CRC again, the bit goes. */
	memset(&t, 0, sizeof(t));
	t.set_uuid = true;
	memcpy(t.uuid, old_uuid, 16);
	assert_int_equal(mapfs_tune(fs, &t, why, sizeof(why)), 0);
	check_consistent(fs);
	assert_false(fs->feat_incompat & MAPFS_FEAT_INCOMPAT_CSUM_SEED);
	free_fs(fs);
}

/* The superblock check: a seed that is not the uuid's CRC is accepted
 * only with CSUM_SEED. */
static void t_seed_rule(void **state)
{
	struct mapfs_fs *fs = mem_fs(UINT64_MAX);
	struct mapfs_dsuper d;
	struct mapfs_geom g;

	(void)state;
	mapfs_super_encode(fs, 0, &d);
	d.sb_uuid[0] ^= 1;
	d.sb_crc = htole32(mapfs_crc32c(~0u, &d, offsetof(struct mapfs_dsuper,
							   sb_crc)));
	assert_int_equal(mapfs_super_decode(&d, fs->size, 0, &g, NULL, 0),
			 -EUCLEAN);
	d.sb_feat_incompat |= htole32(MAPFS_FEAT_INCOMPAT_CSUM_SEED);
	d.sb_crc = htole32(mapfs_crc32c(~0u, &d, offsetof(struct mapfs_dsuper,
							   sb_crc)));
	assert_int_equal(mapfs_super_decode(&d, fs->size, 0, &g, NULL, 0), 0);
	assert_true(g.seed == fs->g.seed);
	free_fs(fs);
}

/* Every refusal leaves every byte of the image as it was. */
static void refused(struct mapfs_fs *fs, const struct mapfs_tune *t,
		    int want)
{
	uint8_t *before = malloc(fs->size);
	char why[256] = "";

	assert_non_null(before);
	memcpy(before, fs->base, fs->size);
	assert_int_equal(mapfs_tune(fs, t, why, sizeof(why)), want);
	assert_true(why[0] != 0);
	assert_memory_equal(before, fs->base, fs->size);
	free(before);
}

static void t_refusals(void **state)
{
	struct mapfs_fs *fs = mem_fs(0);
	struct mapfs_tune t;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.set_label = true;
	memset(t.label, 'x', sizeof(t.label));	/* 65 bytes, no NUL */
	refused(fs, &t, -EINVAL);

	memset(&t, 0, sizeof(t));
	t.set_minfree = true;
	t.minfree_pct = 51;
	refused(fs, &t, -EINVAL);

	memset(&t, 0, sizeof(t));
	t.add_journal = true;		/* it has one */
	t.set_label = true;
	refused(fs, &t, -EINVAL);

	memset(&t, 0, sizeof(t));
	t.set_label = true;
	fs->state = MAPFS_STATE_MOUNTED;	/* not clean */
	refused(fs, &t, -EUCLEAN);
	fs->state = MAPFS_STATE_CLEAN;
	free_fs(fs);

	/* A journal bigger than half of group 0's data area. */
	fs = mem_fs(UINT64_MAX);
	memset(&t, 0, sizeof(t));
	t.add_journal = true;
	t.journal_bytes = 3 * MiB;
	refused(fs, &t, -EINVAL);
	free_fs(fs);
}

/* -j on a -J 0 image: mkfs's size and place, ring header valid, blocks
 * marked used, everything consistent. */
static void t_add_journal(void **state)
{
	struct mapfs_fs *ref = mem_fs(0), *fs = mem_fs(UINT64_MAX);
	struct mapfs_journal_info ji;
	struct mapfs_tune t;
	uint64_t free_before = fs->free_blocks;
	const uint8_t *bbm;
	char why[256] = "";

	(void)state;
	assert_true(ref->g.jblocks > 0 && fs->g.jblocks == 0);
	memset(&t, 0, sizeof(t));
	t.add_journal = true;
	if (mapfs_tune(fs, &t, why, sizeof(why)) != 0)
		fail_msg("tune: %s", why);
	check_consistent(fs);
	assert_true(fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL);
	assert_true(fs->g.jstart == ref->g.jstart);
	assert_true(fs->g.jblocks == ref->g.jblocks);
	assert_true(fs->free_blocks == free_before - fs->g.jblocks);
	bbm = mapfs_cg_bbm(fs, 0);
	for (uint64_t b = fs->g.jstart; b < fs->g.jstart + fs->g.jblocks; b++)
		assert_true(mapfs_bit_test(bbm, b));
	assert_int_equal(mapfs_journal_info(fs, &ji), 0);
	assert_true(ji.header_ok && ji.records == 0);
	free_fs(ref);
	free_fs(fs);
}

/* mkfs's place taken: the journal goes into the free run nearest the end
 * of a group, over no block in use. */
static void t_add_journal_elsewhere(void **state)
{
	struct mapfs_fs *fs = mem_fs(UINT64_MAX);
	uint64_t end0 = mapfs_group_nblocks(&fs->g, 0);
	mapfs_bno_t got = 0;
	struct mapfs_tune t;
	char why[256] = "";

	(void)state;
	/* A block in use in the last quarter of group 0. */
	assert_int_equal(mapfs_alloc_block(fs, end0 - 3, true, &got), 0);
	assert_true(got >= end0 - 3 && got < end0);
	mapfs_super_store(fs);
	memset(&t, 0, sizeof(t));
	t.add_journal = true;
	t.journal_bytes = 256 * 1024;
	if (mapfs_tune(fs, &t, why, sizeof(why)) != 0)
		fail_msg("tune: %s", why);
	check_consistent(fs);
	assert_true(got < fs->g.jstart || got >= fs->g.jstart + fs->g.jblocks);
	assert_true(mapfs_bit_test(mapfs_cg_bbm(fs, 0), got));
	free_fs(fs);
}

/* ------------------------------------------------------------------ */
/* Power cuts during a journaled change                                */
/* ------------------------------------------------------------------ */

static int snap_fd = -1;
/* The image files of t_power_cuts, removed by its teardown even when a
 * check fails (cmocka leaves the test at the failing check). */
static char img_path[512], crash[600];

static int cuts_teardown(void **state)
{
	(void)state;
	if (crash[0])
		unlink(crash);
	if (img_path[0])
		unlink(img_path);
	crash[0] = img_path[0] = 0;
	return 0;
}
static uint8_t *snaps[64];
static int nsnaps;

static uint8_t *read_image(int fd)
{
	uint8_t *b = malloc(IMG);

	assert_non_null(b);
	assert_true(pread(fd, b, IMG, 0) == (ssize_t)IMG);
	return b;
}

static void on_flush(void *arg)
{
	(void)arg;
	assert_true(nsnaps < 64);
	snaps[nsnaps++] = read_image(snap_fd);
}

struct sbview {
	uint8_t uuid[16];
	char label[MAPFS_LABEL_MAX];
	uint32_t minfree;
};

/* Open the crash image at path as the next mount would (replaying the
 * journal): every copy must agree with the primary, the state clean,
 * every group valid; *v gets what they hold. */
static void check_cut(const char *path, struct sbview *v)
{
	struct mapfs_fs *fs = test_fs_open(path, 0);
	const struct mapfs_dsuper *p = mapfs_block(fs, 0);

	assert_true(fs->state == MAPFS_STATE_CLEAN);
	for (uint64_t cg = 1; cg < fs->g.ngroups; cg++) {
		const struct mapfs_dsuper *d;
		struct mapfs_geom g;
		char why[256] = "";
		bool unused;

		if (mapfs_cg_check(fs, cg, &unused, why, sizeof(why)) != 0)
			fail_msg("group %llu: %s", (unsigned long long)cg, why);
		if (!mapfs_group_has_sb(cg))
			continue;
		d = mapfs_block(fs, mapfs_group_start(&fs->g, cg));
		if (mapfs_super_decode(d, fs->size, cg, &g, why,
				       sizeof(why)) != 0)
			fail_msg("copy %llu: %s", (unsigned long long)cg, why);
		assert_memory_equal(&g, &fs->g, sizeof(g));
		assert_memory_equal(d->sb_uuid, p->sb_uuid, 16);
		assert_memory_equal(d->sb_label, p->sb_label, MAPFS_LABEL_MAX);
	}
	memcpy(v->uuid, fs->uuid, 16);
	memcpy(v->label, fs->label, MAPFS_LABEL_MAX);
	v->minfree = fs->g.minfree_pct;
	mapfs_fs_close(fs);
}

static void t_power_cuts(void **state)
{
	struct mapfs_format_opts o;
	struct mapfs_tune t;
	struct mapfs_fs *fs;
	struct sbview before, after, v;
	char why[256] = "";
	const char *dir = getenv("TMPDIR");
	uint64_t rng = 88172645463325252ull;
	unsigned cuts = 0, olds = 0, news = 0;
	int fd, cfd;

	(void)state;
	test_format_opts(&o, IMG, 512 * 1024, 1700000000);
	o.bpg = BPG;
	snprintf(img_path, sizeof(img_path), "%s/mapfs-tune.XXXXXX",
		 dir && *dir ? dir : "/var/tmp");
	fd = mkstemp(img_path);
	assert_true(fd >= 0);
	if (test_format_fd(fd, &o, why, sizeof(why)) != 0)
		fail_msg("format: %s", why);
	snprintf(crash, sizeof(crash), "%s.cut", img_path);

	fs = test_fs_open(img_path, MAPFS_OPEN_JOURNAL);
	assert_non_null(fs->j);
	snap_fd = fd;
	nsnaps = 0;
	snaps[nsnaps++] = read_image(fd);	/* the disk before */
	fs->flush_hook = on_flush;
	memset(&t, 0, sizeof(t));
	t.set_label = true;
	snprintf(t.label, sizeof(t.label), "%s", "after");
	t.set_uuid = true;
	memset(t.uuid, 0x5a, 16);
	t.set_minfree = true;
	t.minfree_pct = 20;
	if (mapfs_tune(fs, &t, why, sizeof(why)) != 0)
		fail_msg("tune: %s", why);
	mapfs_fs_close(fs);
	snaps[nsnaps++] = read_image(fd);	/* the disk after */
	assert_true(nsnaps >= 3);

	check_cut(img_path, &after);
	assert_memory_equal(after.uuid, t.uuid, 16);
	assert_true(after.minfree == 20);
	{
		/* The state before, from the first snapshot. */
		cfd = open(crash, O_RDWR | O_CREAT | O_TRUNC, 0600);
		assert_true(cfd >= 0);
		assert_true(pwrite(cfd, snaps[0], IMG, 0) == (ssize_t)IMG);
		close(cfd);
		check_cut(crash, &before);
	}
	/* A cut between two flushes: the disk holds the first and any
	 * subset of the pages that differ in the second. */
	for (int s = 0; s + 1 < nsnaps; s++) {
		for (int trial = 0; trial < 16; trial++) {
			uint8_t *img = malloc(IMG);

			assert_non_null(img);
			memcpy(img, snaps[s], IMG);
			for (uint64_t off = 0; off < IMG; off += 4096) {
				if (!memcmp(snaps[s] + off, snaps[s + 1] + off,
					    4096))
					continue;
				rng ^= rng << 13;
				rng ^= rng >> 7;
				rng ^= rng << 17;
				/* trial 0: none, 1: all, else random */
				if (trial == 1 || (trial > 1 && (rng & 1)))
					memcpy(img + off, snaps[s + 1] + off,
					       4096);
			}
			cfd = open(crash, O_RDWR | O_CREAT | O_TRUNC, 0600);
			assert_true(cfd >= 0);
			assert_true(pwrite(cfd, img, IMG, 0) == (ssize_t)IMG);
			close(cfd);
			free(img);
			check_cut(crash, &v);
			/* All of the change or none of it. */
			if (!memcmp(&v, &before, sizeof(v)))
				olds++;
			else if (!memcmp(&v, &after, sizeof(v)))
				news++;
			else
				fail_msg("cut %u: a mix of old and new", cuts);
			cuts++;
		}
	}
	print_message("# %u cuts over %d flushes: %u old, %u new\n", cuts,
		      nsnaps - 2, olds, news);
	assert_true(olds > 0 && news > 0);
	for (int i = 0; i < nsnaps; i++)
		free(snaps[i]);
	close(fd);
}

/* Without a journal: cuts between and during the flushes of growfs's
 * order, on an image in memory (the hook sees each flush; the bytes as
 * of a flush are the disk). Every crash image must hold all of the change
 * or none of it with every copy in line, or say "not clean" in its
 * primary: the daemon refuses it and fsck puts the copies back in line
 * and frees blocks no journal names. */
static struct mapfs_fs *mem_cut_fs;

static void on_mem_flush(void *arg)
{
	(void)arg;
	assert_true(nsnaps < 64);
	snaps[nsnaps] = malloc(IMG);
	assert_non_null(snaps[nsnaps]);
	memcpy(snaps[nsnaps++], mem_cut_fs->base, IMG);
}

static void t_power_cuts_direct(void **state)
{
	struct mapfs_fs *fs = mem_fs(UINT64_MAX), cut;
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	unsigned cuts = 0, olds = 0, news = 0, unclean = 0;
	uint8_t *before, *img;
	struct mapfs_tune t;
	char why[256] = "";

	(void)state;
	before = malloc(IMG);
	img = malloc(IMG);
	assert_non_null(before);
	assert_non_null(img);
	memcpy(before, fs->base, IMG);
	mem_cut_fs = fs;
	nsnaps = 0;
	snaps[nsnaps++] = before;
	fs->flush_hook = on_mem_flush;
	memset(&t, 0, sizeof(t));
	t.set_label = true;
	snprintf(t.label, sizeof(t.label), "%s", "after");
	t.set_uuid = true;
	memset(t.uuid, 0x5a, 16);
	t.add_journal = true;
	if (mapfs_tune(fs, &t, why, sizeof(why)) != 0)
		fail_msg("tune: %s", why);
	assert_true(nsnaps >= 5);
	for (int s = 0; s + 1 < nsnaps; s++) {
		for (int trial = 0; trial < 16; trial++) {
			const struct mapfs_dsuper *p;
			bool consistent = true;

			memcpy(img, snaps[s], IMG);
			for (uint64_t off = 0; off < IMG; off += 4096) {
				if (!memcmp(snaps[s] + off, snaps[s + 1] + off,
					    4096))
					continue;
				rng ^= rng << 13;
				rng ^= rng >> 7;
				rng ^= rng << 17;
				if (trial == 1 || (trial > 1 && (rng & 1)))
					memcpy(img + off, snaps[s + 1] + off,
					       4096);
			}
			memset(&cut, 0, sizeof(cut));
			if (mapfs_fs_attach(&cut, img, IMG, MAPFS_OPEN_RDONLY,
					    0, NULL, NULL, why,
					    sizeof(why)) != 0)
				fail_msg("cut %u: attach: %s", cuts, why);
			p = mapfs_block(&cut, 0);
			for (uint64_t cg = 1; cg < cut.g.ngroups; cg++) {
				const struct mapfs_dsuper *d;
				struct mapfs_geom g;

				if (!mapfs_group_has_sb(cg))
					continue;
				d = mapfs_block(&cut, mapfs_group_start(&cut.g,
									cg));
				if (mapfs_super_decode(d, IMG, cg, &g, why,
						       sizeof(why)) != 0 ||
				    memcmp(&g, &cut.g, sizeof(g)) ||
				    memcmp(d->sb_uuid, p->sb_uuid, 16) ||
				    memcmp(d->sb_label, p->sb_label,
					   MAPFS_LABEL_MAX))
					consistent = false;
			}
			if (cut.state != MAPFS_STATE_CLEAN) {
				unclean++;	/* refused until fsck */
			} else if (!consistent) {
				fail_msg("cut %u: clean, copies out of line",
					 cuts);
			} else if (!memcmp(cut.uuid, t.uuid, 16)) {
				assert_true(cut.g.jblocks > 0);
				news++;
			} else {
				assert_true(cut.g.jblocks == 0);
				olds++;
			}
			mapfs_fs_detach(&cut);
			cuts++;
		}
	}
	print_message("# %u cuts over %d flushes: %u old, %u new, %u not "
		      "clean\n", cuts, nsnaps - 1, olds, news, unclean);
	assert_true(olds > 0 && news > 0 && unclean > 0);
	for (int i = 0; i < nsnaps; i++)
		free(snaps[i]);
	free(img);
	free_fs(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_label_uuid_reserve),
		cmocka_unit_test(t_seed_rule),
		cmocka_unit_test(t_refusals),
		cmocka_unit_test(t_add_journal),
		cmocka_unit_test(t_add_journal_elsewhere),
		cmocka_unit_test_teardown(t_power_cuts, cuts_teardown),
		cmocka_unit_test(t_power_cuts_direct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
