/* SPDX-License-Identifier: MIT */
/*
 * problem.c - the table of every problem fsck.mapfs can report, and the
 * one function through which each is reported.
 *
 * A problem has a stable code (printed in brackets, grepped by tests), the
 * pass that finds it, flags, a general description and the repair made
 * for it. fsck_problem() is the single place that decides fix or no fix:
 * -n never, -y always, -p only problems flagged PR_PREEN_OK (what a crash
 * of a correct daemon leaves: leaks, link counts too high, bitmap and
 * summary mismatches, stale checksums of valid structures). The first
 * other problem stops preening: it and everything after it is reported
 * and left alone, and the run exits 4. Each problem line is followed by
 * "  fixed" or "  not fixed".
 *
 * The rest of what the passes print is here too: -v lines (stdout) and
 * the -C progress percentage (stderr).
 *
 * docs/FSCK.md copies this table; keep them together.
 */
#include "fsck.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PR(c, p, f, d, x) [c] = { #c, p, f, d, x }

const struct fsck_problem_desc fsck_problems[FSCK_PR_COUNT] = {
	PR(P0_SB_PRIMARY_BAD, "Superblock", 0,
	   "the primary superblock is unreadable; a copy was used",
	   "rewrite the primary from the copy"),
	PR(P0_SB_CRC, "Superblock", 0,
	   "the primary superblock's checksum is wrong, no copy is usable, "
	   "and every field checks out",
	   "recompute the checksum"),
	PR(P0_JOURNAL_BAD, "Journal", 0,
	   "the metadata journal's header is unreadable, so its records "
	   "(operations since the last commit) cannot be replayed",
	   "write an empty journal header (those operations are lost)"),
	PR(P1_INODE_UNREADABLE, "Pass 1", PR_NO_FIX,
	   "an inode slot lies outside the image", "none (truncated image)"),
	PR(P1_FREE_INODE_DIRTY, "Pass 1", PR_PREEN_OK,
	   "a free inode is not zero (except its generation)",
	   "zero it, keeping the generation"),
	PR(P1_IBM_FREE_MARKED, "Pass 1", PR_PREEN_OK,
	   "a free inode is marked used in the inode bitmap",
	   "clear the bit"),
	PR(P1_IBM_USED_NOT_MARKED, "Pass 1", 0,
	   "an in-use inode is marked free in the inode bitmap",
	   "set the bit"),
	PR(P1_INODE_BAD, "Pass 1", 0,
	   "an in-use inode fails validation", "clear the inode"),
	PR(P1_INODE_CRC, "Pass 1", PR_PREEN_OK,
	   "an inode passes every check but its checksum",
	   "recompute the checksum"),
	PR(P1_BLOCK_BAD, "Pass 1", 0,
	   "a block pointer is not a data block of this image",
	   "clear the pointer"),
	PR(P1_IND_CRC, "Pass 1", PR_PREEN_OK,
	   "an indirect block has a bad page checksum but valid pointers",
	   "recompute the checksums"),
	PR(P1_IND_BAD, "Pass 1", 0,
	   "an indirect block has a bad page checksum and invalid pointers",
	   "clear the pointer to it (what it mapped is freed)"),
	PR(P1_IND_FOREIGN, "Pass 1", 0,
	   "an indirect block claimed by an earlier inode fails its "
	   "checksum for this one",
	   "clear this inode's pointer to it"),
	PR(P1_BLOCK_PAST_EOF, "Pass 1", 0,
	   "a block is mapped at or past the end of the file",
	   "clear the pointer and free the block"),
	PR(P1_TOO_MANY_BAD, "Pass 1", 0,
	   "too many bad or duplicate blocks in one inode",
	   "clear the inode"),
	PR(P1_BLOCKS_COUNT, "Pass 1", PR_PREEN_OK,
	   "di_blocks differs from the blocks the block map holds",
	   "set di_blocks"),
	PR(P1_DIR_SIZE, "Pass 1", 0,
	   "a directory's size is zero or not a multiple of 4096",
	   "set the size to cover its mapped blocks"),
	PR(P1_DIR_HOLE, "Pass 1", 0,
	   "a directory has a hole below its size",
	   "map empty chunks there (pass 2)"),
	PR(P1_DIR_SIZE_PAST_BLOCKS, "Pass 1", 0,
	   "a directory's size runs past its last mapped block",
	   "end the directory at its last block"),
	PR(P1_BLOCKMAP_ERR, "Pass 1", 0,
	   "the block map could not be walked", "clear the inode"),
	PR(P1_XATTR_BAD, "Pass 1", 0,
	   "an inode's extended attribute block fails its checks",
	   "clear the inode's xattr pointer and free the block"),
	PR(P1_XATTR_DUP, "Pass 1", 0,
	   "an inode's extended attribute block is also claimed elsewhere",
	   "clear the inode's xattr pointer (the other owner keeps it)"),
	PR(P1_XATTR_IBODY_BAD, "Pass 1", 0,
	   "an inode's in-inode extended attributes fail their checks",
	   "clear them"),
	PR(P1_XATTR_IBODY_BOTH, "Pass 1", 0,
	   "an inode has attributes both in the inode and in a block",
	   "clear the in-inode ones (the block's stay)"),
	PR(P1B_DUP_BLOCK, "Pass 1b", 0,
	   "a block is claimed by more than one inode (or twice by one)",
	   "keep it for the first owner, copy it for the others (or clear "
	   "the pointer when no block is free)"),
	PR(P1B_GROUP_REBUILT, "Repairs", 0,
	   "repairs need to allocate, but the only groups with room have a "
	   "damaged header or bitmaps",
	   "rebuild those groups' bitmaps and header from pass 1 first"),
	PR(P2_NO_DOT, "Pass 2", 0,
	   "a directory has no first chunk with '.' and '..'",
	   "create the chunk"),
	PR(P2_CHUNK_BAD, "Pass 2", 0,
	   "a directory chunk fails validation (its entries are not read)",
	   "keep the records before the bad one, or reinitialize the chunk"),
	PR(P2_CHUNK_CRC, "Pass 2", PR_PREEN_OK,
	   "a directory chunk passes every check but its checksum",
	   "recompute the checksum"),
	PR(P2_DOT_WRONG, "Pass 2", 0,
	   "a directory's '.' names another inode, or '.' or '..' has a wrong "
	   "type", "point '.' at itself, set the type"),
	PR(P2_DOT_DUP, "Pass 2", 0,
	   "'.' or '..' appears more than once or outside chunk 0",
	   "remove the entry"),
	PR(P2_DIRENT_BAD_INO, "Pass 2", 0,
	   "an entry names an invalid inode number", "remove the entry"),
	PR(P2_DIRENT_FREE_INODE, "Pass 2", 0,
	   "an entry names a free inode", "remove the entry"),
	PR(P2_DIRENT_TYPE, "Pass 2", 0,
	   "an entry's type byte does not match its inode's mode",
	   "set the type byte"),
	PR(P2_DIR_MULTI_LINK, "Pass 2", 0,
	   "a directory is named by more than one entry",
	   "remove the later entry"),
	PR(P3_NO_ROOT, "Pass 3", 0,
	   "the root inode is not an in-use directory", "create the root"),
	PR(P3_ROOT_DOTDOT, "Pass 3", 0,
	   "the root's '..' is not the root", "point '..' at the root"),
	PR(P3_DIR_UNREACHABLE, "Pass 3", 0,
	   "a directory is not named by any directory",
	   "reconnect it in lost+found"),
	PR(P3_DIR_LOOP, "Pass 3", 0,
	   "directories name each other in a loop cut off from the root",
	   "reconnect the loop in lost+found"),
	PR(P3_DOTDOT_WRONG, "Pass 3", 0,
	   "a directory's '..' is not the directory that names it",
	   "point '..' at the parent"),
	PR(P3_NO_LOSTFOUND, "Pass 3", 0,
	   "the root has no lost+found", "create lost+found"),
	PR(P3_LOSTFOUND_NOT_DIR, "Pass 3", 0,
	   "the root's lost+found is not a directory",
	   "remove the name (pass 4 reconnects the file) and create "
	   "lost+found"),
	PR(P3_DIR_LEAK, "Pass 3", PR_PREEN_OK,
	   "an empty directory with link count 0 is named by no directory "
	   "and is not on the orphan list (removed while in use, then a "
	   "crash)", "free it"),
	PR(P4_ORPHAN_BAD_INO, "Pass 4", 0,
	   "the orphan list names an invalid inode number",
	   "cut the list there"),
	PR(P4_ORPHAN_FREE, "Pass 4", 0,
	   "the orphan list names a free inode", "cut the list there"),
	PR(P4_ORPHAN_LOOP, "Pass 4", 0,
	   "the orphan list loops", "cut the list there"),
	PR(P4_ORPHAN_CLEAN, "Pass 4", 0,
	   "a cleanly unmounted filesystem has orphans",
	   "free the orphans as after a crash"),
	PR(P4_ORPHAN_NOT_FLAGGED, "Pass 4", 0,
	   "an inode on the orphan list lacks the orphan flag",
	   "none by itself: the inode is freed as an orphan"),
	PR(P4_ORPHAN_NLINK, "Pass 4", 0,
	   "an inode on the orphan list has links or names",
	   "take it off the orphan list"),
	PR(P4_ORPHAN_FLAG, "Pass 4", 0,
	   "an inode has the orphan flag but is not on the orphan list",
	   "clear the flag, or free the inode if it has no name"),
	PR(P4_ORPHAN_INODE, "Pass 4", PR_PREEN_OK,
	   "an inode is on the orphan list (unlinked while open, then a "
	   "crash)", "free it"),
	PR(P4_INODE_LEAK, "Pass 4", PR_PREEN_OK,
	   "an inode with link count 0 is named by no directory (unlinked "
	   "while in use, then a crash)", "free it"),
	PR(P4_UNREFERENCED, "Pass 4", 0,
	   "an in-use inode with links is not named by any directory",
	   "reconnect it in lost+found as #INO"),
	PR(P4_NLINK_HIGH, "Pass 4", PR_PREEN_OK,
	   "an inode's link count is higher than its names",
	   "set the link count"),
	PR(P4_NLINK_LOW, "Pass 4", 0,
	   "an inode's link count is lower than its names",
	   "set the link count"),
	PR(P5_CG_BAD, "Pass 5", 0,
	   "a group header fails validation", "rebuild the header"),
	PR(P5_CG_CRC, "Pass 5", PR_PREEN_OK,
	   "a group header has a bad checksum", "recompute the checksum"),
	PR(P5_IBM_CRC, "Pass 5", PR_PREEN_OK,
	   "an inode bitmap page has a bad checksum",
	   "rebuild the bitmap page"),
	PR(P5_BBM_CRC, "Pass 5", PR_PREEN_OK,
	   "a block bitmap page has a bad checksum",
	   "rebuild the bitmap page"),
	PR(P5_META_NOT_MARKED, "Pass 5", 0,
	   "a group's metadata blocks are marked free", "set the bits"),
	PR(P5_BLOCK_USED_NOT_MARKED, "Pass 5", 0,
	   "blocks in use are marked free in the block bitmap",
	   "set the bits"),
	PR(P5_BLOCK_MARKED_NOT_USED, "Pass 5", PR_PREEN_OK,
	   "free blocks are marked used in the block bitmap (leak)",
	   "clear the bits"),
	PR(P5_BLOCK_IN_UNUSED_GROUP, "Pass 5", 0,
	   "blocks in use lie in a group that was never initialized",
	   "initialize the group"),
	PR(P5_RESERVED_INODE_NOT_MARKED, "Pass 5", 0,
	   "reserved inodes are marked free in the inode bitmap",
	   "set the bits"),
	PR(P5_INODE_MARKED_NOT_USED, "Pass 5", PR_PREEN_OK,
	   "inodes at or past the high-water mark are marked used",
	   "clear the bits"),
	PR(P5_CG_FREE_BLOCKS, "Pass 5", PR_PREEN_OK,
	   "a group's free block count is wrong", "set the count"),
	PR(P5_CG_FREE_INODES, "Pass 5", PR_PREEN_OK,
	   "a group's free inode count is wrong", "set the count"),
	PR(P5_CG_NDIRS, "Pass 5", PR_PREEN_OK,
	   "a group's directory count is wrong", "set the count"),
	PR(P5_SB_FREE_BLOCKS, "Pass 5", PR_PREEN_OK,
	   "the superblock's free block count is wrong", "set the count"),
	PR(P5_SB_FREE_INODES, "Pass 5", PR_PREEN_OK,
	   "the superblock's free inode count is wrong", "set the count"),
	PR(P5_SB_NDIRS, "Pass 5", PR_PREEN_OK,
	   "the superblock's directory count is wrong", "set the count"),
	PR(P5_SB_COPY_BAD, "Pass 5", 0,
	   "a superblock copy is unreadable", "rewrite the copy"),
	PR(P5_SB_COPY_DIFFERS, "Pass 5", 0,
	   "a superblock copy disagrees on geometry or uuid",
	   "rewrite the copy"),
};

/* Lines printed per code before the rest are only counted, so a garbage
 * image cannot flood the output. */
#define PR_PRINT_MAX 200u

bool fsck_writing(const struct fsck_ctx *c)
{
	return c->answer == FSCK_ANSWER_YES ||
	       (c->answer == FSCK_ANSWER_PREEN && !c->preen_stopped);
}

bool fsck_problem(struct fsck_ctx *c, enum fsck_pr code, const char *fmt,
		  ...)
{
	const struct fsck_problem_desc *p = &fsck_problems[code];
	const char *answer = "  not fixed";
	char text[1024];
	bool fix;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	c->problems++;
	c->pr_count[code]++;
	c->printed = c->pr_count[code] <= PR_PRINT_MAX;
	if (c->printed)
		printf("%s: %s [%s]\n", p->pass, text, p->code);
	else if (c->pr_count[code] == PR_PRINT_MAX + 1)
		printf("%s: more problems of this kind are not shown [%s]\n",
		       p->pass, p->code);

	/* The one decision: -n no; -y yes; -p yes only for what a crash
	 * can leave, and the first other problem ends all repairs. */
	fix = fsck_writing(c) && !(p->flags & PR_NO_FIX);
	if (fix && c->answer == FSCK_ANSWER_PREEN &&
	    !(p->flags & PR_PREEN_OK)) {
		fix = false;
		c->preen_stopped = true;
		answer = "  not fixed: UNEXPECTED INCONSISTENCY, run "
			 FSCK_PROG " without -p; no further repairs";
	}
	if (fix) {
		answer = "  fixed";
		c->corrected++;
	}
	if (c->printed)
		printf("%s\n", answer);
	return fix;
}

void fsck_note(struct fsck_ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->printed)
		return;
	va_start(ap, fmt);
	fputs("  ", stdout);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

void fsck_repair_failed(struct fsck_ctx *c, int err, const char *what)
{
	if (c->corrected)
		c->corrected--;
	if (c->printed)
		printf("  repair failed: %s: %s\n", what, strerror(-err));
}

const char *fsck_name(const char *name, uint32_t namelen, char *buf,
		      size_t buflen)
{
	size_t o = 0;

	for (uint32_t i = 0; i < namelen; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (o + 8 >= buflen) {
			if (o + 4 <= buflen) {
				memcpy(buf + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (isprint(ch) && ch != '\'' && ch != '\\')
			buf[o++] = (char)ch;
		else
			o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x",
					      ch);
	}
	buf[o < buflen ? o : buflen - 1] = 0;
	return buf;
}

const char *fsck_type_name(uint32_t mode)
{
	switch (mode & MAPFS_IFMT) {
	case MAPFS_IFREG: return "regular file";
	case MAPFS_IFDIR: return "directory";
	case MAPFS_IFLNK: return "symlink";
	case MAPFS_IFCHR: return "character device";
	case MAPFS_IFBLK: return "block device";
	case MAPFS_IFIFO: return "fifo";
	case MAPFS_IFSOCK: return "socket";
	default: return "unknown type";
	}
}

void fsck_verbose(const struct fsck_ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->verbose)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* "-C"-style progress on stderr: the whole run as one percentage (each
 * pass an equal share), redrawn in place when its tenth changes. */
void fsck_progress(struct fsck_ctx *c, uint64_t done, uint64_t total)
{
	int tenth;

	if (!c->progress)
		return;
	if (total == 0 || done > total)
		done = total = 1;
	tenth = (int)((c->progress_pass * 1000 +
		       (int)(done * 1000 / total)) / FSCK_NPASSES);
	if (tenth == c->progress_last)
		return;
	c->progress_last = tenth;
	fprintf(stderr, "\r%s: %d.%d%% ", c->image, tenth / 10, tenth % 10);
	fflush(stderr);
}

void fsck_progress_end(struct fsck_ctx *c)
{
	if (!c->progress)
		return;
	fprintf(stderr, "\r%*s\r", 60, "");
	fflush(stderr);
}
