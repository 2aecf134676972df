/* SPDX-License-Identifier: MIT */
/*
 * fsck.h - shared state of fsck.mapfs's passes.
 *
 * fsck is a client of the core: every structure is located, decoded and
 * validated through include/mapfs.h. What fsck adds is cross-checking:
 * pass 1 scans inodes and their block maps and records what it found in
 * the tables below; passes 2 to 5 compare the rest of the image against
 * those tables. See docs/FSCK.md.
 *
 * Memory grows with what the filesystem uses, not with its size: the
 * per-inode table exists only for initialized groups and only up to the
 * group's inode high-water mark; the claimed-blocks bitmap of a group is
 * allocated when pass 1 first sees a block in it.
 *
 * Every problem found goes through fsck_problem() with a code from the
 * one table in problem.c; that is the single place that decides whether
 * to repair (from -n/-y/-p and the code's PR_PREEN_OK flag). The pass
 * that found the problem then makes the repair and keeps these tables in
 * step with it, so later passes see the repaired state.
 */
#ifndef MAPFS_FSCK_H
#define MAPFS_FSCK_H

#include "mapfs.h"

#include <stdbool.h>
#include <stdint.h>

#define FSCK_PROG "fsck.mapfs"

/* Exit codes (fsck(8), e2fsck). */
#define FSCK_EXIT_OK		0
#define FSCK_EXIT_CORRECTED	1
#define FSCK_EXIT_UNCORRECTED	4
#define FSCK_EXIT_OPERROR	8
#define FSCK_EXIT_USAGE		16

/* Problem codes; the table in problem.c gives each its text and flags.
 * Keep the two in the same order. */
enum fsck_pr {
	P0_SB_PRIMARY_BAD,
	P0_SB_CRC,
	P0_JOURNAL_BAD,
	P1_INODE_UNREADABLE,
	P1_FREE_INODE_DIRTY,
	P1_IBM_FREE_MARKED,
	P1_IBM_USED_NOT_MARKED,
	P1_INODE_BAD,
	P1_INODE_CRC,
	P1_BLOCK_BAD,
	P1_IND_CRC,
	P1_IND_BAD,
	P1_BLOCK_PAST_EOF,
	P1_IND_FOREIGN,
	P1_TOO_MANY_BAD,
	P1_BLOCKS_COUNT,
	P1_DIR_SIZE,
	P1_DIR_HOLE,
	P1_DIR_SIZE_PAST_BLOCKS,
	P1_BLOCKMAP_ERR,
	P1_XATTR_BAD,
	P1_XATTR_DUP,
	P1_XATTR_IBODY_BAD,
	P1_XATTR_IBODY_BOTH,
	P1B_DUP_BLOCK,
	P1B_GROUP_REBUILT,
	P2_NO_DOT,
	P2_CHUNK_BAD,
	P2_CHUNK_CRC,
	P2_DOT_WRONG,
	P2_DOT_DUP,
	P2_DIRENT_BAD_INO,
	P2_DIRENT_FREE_INODE,
	P2_DIRENT_TYPE,
	P2_DIR_MULTI_LINK,
	P3_NO_ROOT,
	P3_ROOT_DOTDOT,
	P3_DIR_UNREACHABLE,
	P3_DIR_LOOP,
	P3_DOTDOT_WRONG,
	P3_NO_LOSTFOUND,
	P3_LOSTFOUND_NOT_DIR,
	P3_DIR_LEAK,
	P4_ORPHAN_BAD_INO,
	P4_ORPHAN_FREE,
	P4_ORPHAN_LOOP,
	P4_ORPHAN_CLEAN,
	P4_ORPHAN_NOT_FLAGGED,
	P4_ORPHAN_NLINK,
	P4_ORPHAN_FLAG,
	P4_ORPHAN_INODE,
	P4_INODE_LEAK,
	P4_UNREFERENCED,
	P4_NLINK_HIGH,
	P4_NLINK_LOW,
	P5_CG_BAD,
	P5_CG_CRC,
	P5_IBM_CRC,
	P5_BBM_CRC,
	P5_META_NOT_MARKED,
	P5_BLOCK_USED_NOT_MARKED,
	P5_BLOCK_MARKED_NOT_USED,
	P5_BLOCK_IN_UNUSED_GROUP,
	P5_RESERVED_INODE_NOT_MARKED,
	P5_INODE_MARKED_NOT_USED,
	P5_CG_FREE_BLOCKS,
	P5_CG_FREE_INODES,
	P5_CG_NDIRS,
	P5_SB_FREE_BLOCKS,
	P5_SB_FREE_INODES,
	P5_SB_NDIRS,
	P5_SB_COPY_BAD,
	P5_SB_COPY_DIFFERS,
	FSCK_PR_COUNT
};

/* Problem flags. */
#define PR_PREEN_OK	0x1	/* a crash of a correct daemon can leave it */
#define PR_NO_FIX	0x2	/* reported only; no repair is planned */

struct fsck_problem_desc {
	const char *code;	/* "P2_DIRENT_TYPE": printed, grepped */
	const char *pass;	/* "Pass 2": the line's prefix */
	unsigned flags;		/* PR_* */
	const char *desc;	/* what is wrong, in general terms */
	const char *fix;	/* what a repair would do */
};
extern const struct fsck_problem_desc fsck_problems[FSCK_PR_COUNT];

/* How problems are answered (-n, -y, -p). */
enum fsck_answer { FSCK_ANSWER_NO, FSCK_ANSWER_YES, FSCK_ANSWER_PREEN };

/* Per-inode state, for scanned slots (below the group's high-water mark
 * in initialized groups). */
struct fsck_ino {
	uint32_t mode;		/* 0 = free (or reserved, not scanned) */
	uint32_t nlink;		/* as stored */
	uint32_t refs;		/* names other than '.' and '..' */
	uint32_t subdirs;	/* (dirs) entries naming directories */
	uint32_t flags;		/* FI_* */
	uint32_t mark;		/* pass 3 walk state */
	mapfs_ino_t parent;	/* (dirs) the directory naming it, 0: none */
	mapfs_ino_t dotdot;	/* (dirs) its '..' entry, if FI_DOTDOT */
};

#define FI_LOADED	0x01	/* passed mapfs_inode_check and loaded */
#define FI_BAD		0x02	/* failed its check: not examined further */
#define FI_DOT		0x04	/* (dirs) '.' seen */
#define FI_DOTDOT	0x08	/* (dirs) '..' seen */
#define FI_CHUNK0_BAD	0x10	/* (dirs) chunk 0 unreadable: '.'/'..' unknown */
#define FI_CHUNK_BAD	0x80	/* (dirs) a chunk unreadable: counts unknown */
#define FI_ORPHAN_FL	0x20	/* MAPFS_FL_ORPHAN set */
#define FI_ON_ORPHAN	0x40	/* on the superblock's orphan list */
#define FI_FILL_HOLES	0x100	/* (dirs) pass 2 maps the holes below size */
#define FI_HAS_ENTRIES	0x200	/* (dirs) names something besides . and .. */
#define FI_CLEARED	0x400	/* cleared by pass 1 (slot now free) */
#define FI_WAS_DIR	0x800	/* (cleared) it was a directory */
#define FI_LISTED	0x1000	/* reached by fsck_mark_orphans (pass 3) */

struct fsck_group {
	struct fsck_ino *ino;	/* hiwater entries, NULL if none scanned */
	uint32_t hiwater;	/* slots scanned */
	uint8_t *claimed;	/* bpg bits, NULL until a block is claimed */
	uint64_t nclaimed;	/* blocks claimed (each counted once) */
	uint64_t used_inodes;	/* in-use inodes at or past first_ino */
	uint64_t dirs;		/* in-use directories */
	/* Repairs (see repair.c, fsck_prepare): */
	uint8_t *bbm_pre;	/* bits fsck set in the block bitmap early */
	uint8_t *ibm_pre;	/* same for the inode bitmap */
	bool forced_bad;	/* kept from the allocator while repairing */
};

struct fsck_dup {		/* a (block, owner) pair for pass 1b */
	mapfs_bno_t bno;
	mapfs_ino_t ino;
};

struct fsck_ctx {
	const char *image;	/* the file, or a name for messages */
	void *mem;		/* if set: check this image in memory */
	uint64_t mem_size;	/* (its size) */
	struct mapfs_fs *fs;
	enum fsck_answer answer;
	bool force;
	int verbose;
	bool progress;		/* -C, or stderr is a terminal: percentage */
	int progress_pass;	/* pass running (index), for the percentage */
	int progress_last;	/* last tenth of a percent printed */
	uint64_t sb_group;	/* superblock the check runs from */
	struct mapfs_region region;	/* -o offset=,size= */
	bool primary_bad;	/* the primary superblock failed to decode */

	struct fsck_group *grp;	/* ngroups entries */

	/* Blocks claimed more than once (sorted and unique after pass 1). */
	mapfs_bno_t *dups;
	size_t ndups, dups_cap;

	bool *dup_kept;		/* pass 1b repair: dups[i] kept by its owner */

	mapfs_ino_t lost_found;	/* root's "lost+found", 0 if absent */

	/* Repairs. */
	bool preen_stopped;	/* -p met a problem it may not fix */
	bool prepared;		/* fsck_prepare ran: allocation is safe */
	bool write_copies;	/* rewrite the superblock copies at the end */
	bool printed;		/* the last problem line was printed */
	mapfs_bno_t *pending;	/* blocks dropped in pass 1, freed later */
	size_t npending, pending_cap;
	/* Totals of the group counts at open, to tell the core's own
	 * allocations during repairs from stale superblock counters. */
	uint64_t open_free_blocks, open_free_inodes, open_ndirs;

	/* Counts. */
	uint64_t problems;	/* reported */
	uint64_t corrected;	/* repaired */
	uint64_t pr_count[FSCK_PR_COUNT];
	uint64_t nfiles, ndirs;	/* in-use inodes found */
	uint64_t nclaimed;	/* blocks claimed by inodes */
	uint64_t free_blocks;	/* data blocks free, from pass 5 */
	bool oom;		/* ran out of memory: operational error */
};

/* check.c: the driver. A check is fsck_open, fsck_check, fsck_close, on
 * a zeroed context with image (or mem), answer, force, verbose, progress,
 * sb_group and region set. */
/* Open the filesystem (read-only for -n), from superblock copy
 * c->sb_group if explicit_sb, else the primary or, when it is bad, the
 * copy in group 1; then report a bad primary and a bad journal header.
 * 0, or -1 after saying why on stderr (exit FSCK_EXIT_OPERROR). */
int fsck_open(struct fsck_ctx *c, bool explicit_sb);
/* Skip a clean filesystem unless forced; else run the passes, print the
 * summary and, read-write, store the superblock and sync. Returns the
 * exit code (FSCK_EXIT_*). */
int fsck_check(struct fsck_ctx *c);
/* Free the tables and close the filesystem (does not sync). */
void fsck_close(struct fsck_ctx *c);

/* problem.c */
/* Report problem `code`; fmt says where and what (no trailing period).
 * Prints "<pass>: <text> [<code>]" then "  fixed" or "  not fixed".
 * Returns true if the caller must now repair it: -y always (unless the
 * code is PR_NO_FIX), -p only for PR_PREEN_OK codes until the first other
 * problem (from then on nothing is repaired), -n never. */
bool fsck_problem(struct fsck_ctx *c, enum fsck_pr code, const char *fmt,
		  ...) __attribute__((format(printf, 3, 4)));
/* A detail line under the last problem ("  cloned ..."), printed when
 * the problem line was. */
void fsck_note(struct fsck_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The repair just promised failed: say why; the problem counts as left
 * uncorrected. */
void fsck_repair_failed(struct fsck_ctx *c, int err, const char *what);
/* True while repairs are being made (-y, or -p before it stopped). */
bool fsck_writing(const struct fsck_ctx *c);
/* Printable form of an on-disk name: non-printing bytes and quotes as
 * \xNN, at most about 64 bytes shown. */
const char *fsck_name(const char *name, uint32_t namelen, char *buf,
		      size_t buflen);
/* "regular file", "directory", ... */
const char *fsck_type_name(uint32_t mode);

/* A line on stdout, printed only with -v. */
void fsck_verbose(const struct fsck_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Progress display: done of total units of the running pass. */
#define FSCK_NPASSES 6
void fsck_progress(struct fsck_ctx *c, uint64_t done, uint64_t total);
void fsck_progress_end(struct fsck_ctx *c);

/* tables.c */
/* calloc that records running out of memory in c->oom. */
void *fsck_calloc(struct fsck_ctx *c, size_t n, size_t size);
/* Room for element n of array v (*cap elements of size bytes, doubled
 * when full, first when empty): v, or the grown array with *cap updated,
 * or NULL when memory ran out (v is then unchanged and still owned by the
 * caller). */
void *fsck_grow(void *v, size_t n, size_t *cap, size_t size, size_t first);
/* Table entry for ino, or NULL if it was not scanned (out of range, in
 * an unused group or at or past the high-water mark). */
struct fsck_ino *fsck_ino_get(struct fsck_ctx *c, mapfs_ino_t ino);
/* True if ino was scanned and is in use. */
bool fsck_ino_in_use(struct fsck_ctx *c, mapfs_ino_t ino);
/* True if the entry is a scanned directory (e may be NULL). */
static inline bool fsck_is_dir(const struct fsck_ino *e)
{
	return e && (e->mode & MAPFS_IFMT) == MAPFS_IFDIR;
}
/* Mark data block bno claimed; returns true if it already was. */
bool fsck_claim_block(struct fsck_ctx *c, mapfs_bno_t bno);
bool fsck_block_claimed(const struct fsck_ctx *c, mapfs_bno_t bno);
/* The tables after in-use inode ino (entry e) stopped being in use: the
 * counts lose it and e is zeroed. */
void fsck_ino_gone(struct fsck_ctx *c, mapfs_ino_t ino, struct fsck_ino *e);
/* Forget that bno is claimed (its owner no longer maps it). */
void fsck_unclaim_block(struct fsck_ctx *c, mapfs_bno_t bno);
/* Record bno as claimed twice (pass 1b resolves the owners). */
void fsck_add_dup(struct fsck_ctx *c, mapfs_bno_t bno);
/* True if bno is in the (sorted) duplicate list. */
bool fsck_is_dup(const struct fsck_ctx *c, mapfs_bno_t bno);
/* Blocks per pass-1 walk that may be bad or duplicate before the walk of
 * that inode stops (a garbage indirect block would otherwise flood). */
#define FSCK_MAX_BAD_PER_INODE	32u
/* Mark FI_LISTED on the in-use inodes the orphan list reaches, changing
 * nothing: pass 3 leaves an empty unnamed directory on it to pass 4,
 * which frees it as the daemon would at mount. */
void fsck_mark_orphans(struct fsck_ctx *c);
/* Group cg's free blocks, free inodes and directories as the tables
 * count them. */
void fsck_group_counts(const struct fsck_ctx *c, uint64_t cg, uint64_t *fb,
		       uint64_t *fi, uint64_t *nd);

/* repair.c. Blocks and inodes are allocated with the core's
 * allocator once fsck_prepare made it safe (every block pass 1 saw in use
 * is marked used on disk; groups whose header or bitmaps are bad are kept
 * from it until pass 5 rebuilds them). */
void fsck_prepare(struct fsck_ctx *c);
void fsck_unprepare(struct fsck_ctx *c);
/* Rewrite group cg's bitmaps and header from what the passes found, with
 * the counts fsck_group_counts gives (pass 5, and early when repairs need
 * to allocate in a damaged group). */
void fsck_rebuild_group(struct fsck_ctx *c, uint64_t cg, uint64_t fb,
			uint64_t fi, uint64_t nd);
/* After -ENOSPC from the core's allocator during a repair: rebuild the
 * damaged groups kept from it, so the caller can retry. True if any. */
bool fsck_rebuild_early(struct fsck_ctx *c);
/* bno is no longer mapped by the inode being repaired: free it on disk
 * unless someone else claims it (before fsck_prepare, remember it and
 * decide then). unclaim: it was claimed for that inode. */
void fsck_drop_block(struct fsck_ctx *c, mapfs_bno_t bno, bool unclaim);
int fsck_alloc_block(struct fsck_ctx *c, mapfs_bno_t pref, mapfs_bno_t *bnop);
/* Claim every block of ip's map (after the core allocated for it). */
void fsck_claim_map(struct fsck_ctx *c, const struct mapfs_inode *ip);
/* Free in-use inode ino and its blocks (a repair decided it goes). */
void fsck_free_inode(struct fsck_ctx *c, mapfs_ino_t ino);
/* Make a new directory (inode ino if nonzero, else a new one near
 * parent) with '.' and '..' = parent; fills *ip and the tables. */
int fsck_make_dir(struct fsck_ctx *c, mapfs_ino_t ino, mapfs_ino_t parent,
		  struct mapfs_inode *ip);
/* Add a name (as mapfs_dir_add) and claim any block the directory grew
 * by. The caller updates the tables. */
int fsck_dir_add(struct fsck_ctx *c, struct mapfs_inode *dir,
		 const char *name, mapfs_ino_t ino, uint32_t type);
/* Set ino's link count on disk and in the table. */
int fsck_set_nlink(struct fsck_ctx *c, mapfs_ino_t ino, uint32_t nlink);
/* Add delta to directory dir's link count (a subdirectory's '..' came or
 * went), on disk and in the table; nothing if it would leave the range. */
void fsck_adjust_nlink(struct fsck_ctx *c, mapfs_ino_t dir, int delta);
/* Name ino "#INO" in /lost+found (pass 3 for directories, pass 4 for
 * files); updates counts and, for a directory, its '..'. */
int fsck_reconnect(struct fsck_ctx *c, mapfs_ino_t ino);

/* The passes. Each returns 0, or a negative errno on an operational
 * failure (out of memory). */
int fsck_pass1(struct fsck_ctx *c);
int fsck_pass1b(struct fsck_ctx *c);
int fsck_pass2(struct fsck_ctx *c);
int fsck_pass3(struct fsck_ctx *c);
int fsck_pass4(struct fsck_ctx *c);
int fsck_pass5(struct fsck_ctx *c);

#endif /* MAPFS_FSCK_H */
