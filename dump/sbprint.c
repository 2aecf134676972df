/* SPDX-License-Identifier: MIT */
/*
 * sbprint.c - the superblock listing: what dumpfs.mapfs prints first and
 * tune.mapfs -l prints alone, one function for both (sbprint.h), text or
 * JSON through out.c.
 *
 * Read-only: every field comes from the attached filesystem (decoded and
 * checked by the core at attach) or from the superblock page in use
 * through mapfs_format.h's accessors; each copy is decoded with the
 * core's mapfs_super_decode. What looks wrong is handed to the caller's
 * problem function, which decides how to show it.
 */
#include "sbprint.h"

#include "mapfs_cli.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct sbp {
	struct out *o;
	const struct mapfs_fs *fs;
	uint64_t sb_group;
	sbprint_problem_fn problem;
	void *arg;
};

static void sb_problem(struct sbp *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_problem(struct sbp *d, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->problem(d->arg, msg);
}

static const char *state_name(uint32_t state)
{
	switch (state) {
	case MAPFS_STATE_CLEAN:
		return "clean";
	case MAPFS_STATE_MOUNTED:
		return "mounted";
	case MAPFS_STATE_ERROR:
		return "error";
	default:
		return "unknown";
	}
}

static const struct bitname ro_compat_names[] = {
	{ MAPFS_FEAT_RO_COMPAT_XATTR, "xattr" },
	{ MAPFS_FEAT_RO_COMPAT_KEEPSIZE, "keepsize" },
};

static const struct bitname incompat_names[] = {
	{ MAPFS_FEAT_INCOMPAT_JOURNAL, "journal" },
	{ MAPFS_FEAT_INCOMPAT_CSUM_SEED, "csum_seed" },
};

static void out_uuid(struct out *o, const char *key, const char *label,
		     const uint8_t u[16])
{
	char s[37];

	mapfs_uuid_format(u, s);
	out_str(o, key, label, s);
}

static const struct mapfs_dsuper *sb_page(const struct mapfs_fs *fs,
					  uint64_t cg)
{
	return mapfs_block(fs, mapfs_group_start(&fs->g, cg));
}

/* Whether the superblock page of group cg decodes, and agrees with the
 * geometry in use. */
static bool sb_copy_ok(const struct mapfs_fs *fs, uint64_t cg, char *why,
		       size_t whylen)
{
	const struct mapfs_dsuper *s = sb_page(fs, cg);
	struct mapfs_geom g;

	if (!s) {
		snprintf(why, whylen, "outside the image");
		return false;
	}
	if (mapfs_super_decode(s, fs->size, cg, &g, why, whylen) < 0)
		return false;
	if (g.bsize != fs->g.bsize || g.bpg != fs->g.bpg ||
	    g.ipg != fs->g.ipg || g.nblocks != fs->g.nblocks ||
	    g.inode_size != fs->g.inode_size || g.seed != fs->g.seed) {
		snprintf(why, whylen, "geometry differs from the superblock "
			 "in use");
		return false;
	}
	return true;
}

static void dump_sb_copies(struct sbp *d)
{
	const struct mapfs_fs *fs = d->fs;
	struct out *o = d->o;

	out_arr_begin(o, "superblocks", "Superblock locations");
	for (uint64_t cg = 0; cg < fs->g.ngroups; cg++) {
		char why[256] = "";
		bool ok;

		if (!mapfs_group_has_sb(cg))
			continue;
		ok = sb_copy_ok(fs, cg, why, sizeof(why));
		if (!ok)
			sb_problem(d, "superblock %s in group %" PRIu64 ": %s",
				cg ? "copy" : "primary", cg, why);
		if (o->json) {
			out_obj_begin(o, NULL, NULL);
			out_u64(o, "group", NULL, cg);
			out_u64(o, "block", NULL,
				mapfs_group_start(&fs->g, cg));
			out_bool(o, "primary", NULL, cg == 0);
			out_bool(o, "in_use", NULL, cg == d->sb_group);
			out_bool(o, "valid", NULL, ok);
			if (ok)
				out_null(o, "error", NULL);
			else
				out_str(o, "error", NULL, why);
			out_obj_end(o);
		} else {
			out_line(o, "group %-8" PRIu64 " block %-12" PRIu64
				 " %s%s%s%s", cg,
				 mapfs_group_start(&fs->g, cg),
				 cg ? "copy" : "primary",
				 cg == d->sb_group ? " (in use)" : "",
				 ok ? "" : ": BAD: ", ok ? "" : why);
		}
	}
	out_arr_end(o);
}

void sbprint_superblock(struct out *out, const struct mapfs_fs *fs,
			uint64_t sb_group, const char *mounted_at,
			sbprint_problem_fn problem, void *arg)
{
	struct sbp sp = { out, fs, sb_group, problem, arg }, *d = &sp;
	const struct mapfs_geom *g = &fs->g;
	const struct mapfs_dsuper *s = sb_page(fs, d->sb_group);
	struct out *o = d->o;
	size_t lablen = strnlen(fs->label, MAPFS_LABEL_MAX);
	bool any_bad = false;

	out_obj_begin(o, "superblock", "Superblock");
	out_hex(o, "magic", "Magic number", mapfs_sb_magic(s));
	out_u64(o, "version", "Format version", mapfs_sb_version(s));
	out_str(o, "state", "State", state_name(fs->state));
	out_u64(o, "state_code", NULL, fs->state);
	out_obj_begin(o, "features", "Features");
	out_hex(o, "compat", "compat", fs->feat_compat);
	out_hex(o, "ro_compat", "ro_compat", fs->feat_ro_compat);
	out_hex(o, "incompat", "incompat", fs->feat_incompat);
	out_bitnames(o, "names", "Names", fs->feat_ro_compat,
		     ro_compat_names,
		     sizeof(ro_compat_names) / sizeof(ro_compat_names[0]));
	out_bitnames(o, "incompat_names", "Incompat names", fs->feat_incompat,
		     incompat_names,
		     sizeof(incompat_names) / sizeof(incompat_names[0]));
	out_obj_end(o);
	out_obj_begin(o, "last_writer_features", "Features of the last writer");
	out_hex(o, "compat", "compat", mapfs_sb_last_compat(s));
	out_hex(o, "ro_compat", "ro_compat", mapfs_sb_last_ro_compat(s));
	out_hex(o, "incompat", "incompat", mapfs_sb_last_incompat(s));
	out_obj_end(o);
	out_bool(o, "free_zeroed", "Free blocks zeroed",
		 mapfs_sb_free_zeroed(s) == MAPFS_FREE_ZEROED_MAGIC);
	out_uuid(o, "uuid", "UUID", fs->uuid);
	out_bytes(o, "label", "Label", fs->label, lablen);
	out_u64(o, "block_size", "Block size", g->bsize);
	out_u64(o, "inode_size", "Inode size", g->inode_size);
	out_u64(o, "blocks", "Blocks", g->nblocks);
	out_u64(o, "inodes", "Inodes", g->ninodes);
	out_u64(o, "groups", "Groups", g->ngroups);
	out_u64(o, "blocks_per_group", "Blocks per group", g->bpg);
	out_u64(o, "inodes_per_group", "Inodes per group", g->ipg);
	out_u64(o, "free_blocks", "Free blocks", fs->sb_free_blocks);
	out_u64(o, "free_inodes", "Free inodes", fs->sb_free_inodes);
	out_u64(o, "directories", "Directories", fs->sb_ndirs);
	out_u64(o, "reserved_blocks", "Reserved blocks", g->reserved_blocks);
	out_u64(o, "reserved_percent", "Reserved percent", g->minfree_pct);
	out_obj_begin(o, "group_totals", "Sums of the group counts");
	out_u64(o, "free_blocks", "Free blocks", fs->free_blocks);
	out_u64(o, "free_inodes", "Free inodes", fs->free_inodes);
	out_u64(o, "directories", "Directories", fs->ndirs);
	out_obj_end(o);
	out_obj_begin(o, "group_layout", "Group layout (blocks from start)");
	out_u64(o, "header", "Group header", g->hdr_off);
	out_u64(o, "inode_bitmap", "Inode bitmap", g->ibm_off);
	out_u64(o, "block_bitmap", "Block bitmap", g->bbm_off);
	out_u64(o, "inode_table", "Inode table", g->itab_off);
	out_u64(o, "inode_table_blocks", "Inode table blocks",
		g->itab_blocks);
	out_u64(o, "data", "First data block", g->data_off);
	out_obj_end(o);
	out_u64(o, "root_inode", "Root inode", mapfs_sb_root_ino(s));
	out_u64(o, "first_inode", "First inode", g->first_ino);
	out_u64(o, "orphan_head", "Orphan list head", fs->orphan_head);
	{
		struct mapfs_journal_info ji;

		/* journal info only reads (a bad record is logged) */
		if (mapfs_journal_info((struct mapfs_fs *)fs, &ji) == 0) {
			out_obj_begin(o, "journal", "Journal");
			out_u64(o, "start", "First block", ji.start);
			out_u64(o, "blocks", "Blocks", ji.blocks);
			out_u64(o, "ring_bytes", "Ring bytes", ji.ring);
			out_str(o, "header", "Header",
				ji.header_ok ? "ok" : ji.why);
			if (ji.header_ok) {
				out_u64(o, "sequence", "Sequence at tail",
					ji.seq);
				out_u64(o, "tail", "Tail", ji.tail);
				out_u64(o, "records", "Records to replay",
					ji.records);
			} else {
				any_bad = true;
			}
			out_obj_end(o);
		}
	}
	out_time(o, "mkfs_time", "Created", fs->mkfs_time, 0, false);
	out_time(o, "mount_time", "Last mounted", fs->mount_time, 0, false);
	out_time(o, "write_time", "Last written", fs->write_time, 0, false);
	out_time(o, "check_time", "Last checked", fs->check_time, 0, false);
	out_u64(o, "mount_count", "Mounts since check", fs->mount_count);
	out_hex(o, "checksum_seed", "Checksum seed", g->seed);
	out_u64(o, "this_group", "Superblock of group",
		mapfs_sb_this_group(s));
	out_u64(o, "max_file_size", "Maximum file size", g->maxfilesize);
	out_u64(o, "pointers_per_indirect", "Pointers per indirect block",
		g->nindir);
	out_u64(o, "fast_symlink_max", "Fast symlink maximum",
		mapfs_sb_maxsymlink_fast(s));
	out_hex(o, "checksum", "Checksum", mapfs_sb_crc(s));
	dump_sb_copies(d);
	out_obj_end(o);

	if (fs->orphan_head && !mapfs_ino_valid(g, fs->orphan_head))
		sb_problem(d, "superblock: orphan list head %" PRIu64
			   " is not a valid inode", fs->orphan_head);
	for (uint64_t cg = 0; cg < g->ngroups; cg++)
		any_bad |= fs->cg[cg].bad;
	/* Exact after a clean unmount; refreshed only at syncs while
	 * mounted, so a difference then is normal. */
	if (fs->state == MAPFS_STATE_CLEAN && !any_bad &&
	    (fs->free_blocks != fs->sb_free_blocks ||
	     fs->free_inodes != fs->sb_free_inodes ||
	     fs->ndirs != fs->sb_ndirs))
		sb_problem(d, "superblock: counts (%" PRIu64 " free blocks, %"
			PRIu64 " free inodes, %" PRIu64 " directories) differ "
			"from the sums of the groups (%" PRIu64 ", %" PRIu64
			", %" PRIu64 ") on a clean image", fs->sb_free_blocks,
			fs->sb_free_inodes, fs->sb_ndirs, fs->free_blocks,
			fs->free_inodes, fs->ndirs);
	if (fs->state == MAPFS_STATE_MOUNTED && mounted_at)
		out_line(out, "(state \"mounted\": the image is mounted at %s)",
			 mounted_at);
	else if (fs->state != MAPFS_STATE_CLEAN)
		sb_problem(d, "superblock: filesystem is %s", fs->state ==
			MAPFS_STATE_MOUNTED ? "not cleanly unmounted (or "
			"mounted now)" : "marked with errors");
}
