/* SPDX-License-Identifier: MIT */
/*
 * txn.c - one operation: the bracket mapfs_op_begin ... mapfs_op_end
 * around every change, what ends it, and the commits.
 *
 * Layer: above ops and everything below it, below mount
 * (tests/layering.sh). No system calls of its own: the journal writes
 * its ring, image.c unmaps.
 *
 * An operation is the unit a crash keeps or loses whole. Its end runs
 * four mechanisms, in this order:
 *  - deferred seals are sealed (seal.c; none are left outside a write,
 *    which flushes its own);
 *  - the blocks it freed are unmapped from the shared mapping
 *    (fs->forget_lo/forget_n, mapfs_fs_forget_blocks);
 *  - when it moved the superblock's own fields (orphan list head,
 *    state) or set the error flag, the superblock is stored once, as
 *    part of it (the free counts only at commits: see op_write);
 *  - the journal writes its dirty ranges as one record (journal.c, the
 *    consumer of the ranges mapfs_jdirty recorded).
 * mapfs_op_begin keeps room in the ring for it (which may commit).
 *
 * Invariants: fs->op_depth counts open brackets (they nest; only the
 * outermost begins and ends). While the journal is active, a metadata
 * store (mapfs_jdirty) with no operation open is a bug: an assert()
 * in journal.c (debug builds; NDEBUG compiles it out). The commits
 * (mapfs_fs_sync, mapfs_fs_commit) store the superblock as an operation
 * of their own and write the operation in progress so far, which stays
 * open. All calls run with the filesystem held exclusively.
 */
#include "internal.h"

#include <errno.h>
#include <unistd.h>

/* End of the operation so far: the four mechanisms (see the top). The
 * bracket stays as it is. */
static int op_write(struct mapfs_fs *fs)
{
	mapfs_seal_end_op(fs);
	mapfs_fs_forget_blocks(fs, fs->in->forget_lo, fs->in->forget_n);
	fs->in->forget_n = 0;
	if (!mapfs_journal_has_changes(fs))
		return 0;
	/* The superblock goes into the operation when a field of its own
	 * moved: the orphan list head, the state, the error flag
	 * (mapfs_super_store sets the error state when fs->error is). Its
	 * free counts are sums of the group headers, which the operation
	 * journals: they are stored at commits (op_store_super), and an
	 * image not cleanly unmounted takes them from the groups at attach
	 * (mount.c). Storing them after every create and unlink was a fifth
	 * of the operation's instructions (a 4 KiB encode, CRC and diff). */
	if (!fs->in->op_sb_known ||
	    fs->orphan_head != fs->in->op_sb_orphan ||
	    fs->state != fs->in->op_sb_state ||
	    (atomic_load(&fs->error) && fs->state != MAPFS_STATE_ERROR)) {
		mapfs_super_store(fs);
		fs->in->op_sb_known = true;
		fs->in->op_sb_orphan = fs->orphan_head;
		fs->in->op_sb_state = fs->state;
	}
	return mapfs_journal_write_op(fs);
}

int mapfs_op_begin(struct mapfs_fs *fs)
{
	if (fs->in->op_depth++ > 0)
		return 0;
	return mapfs_journal_make_room(fs);
}

int mapfs_op_end(struct mapfs_fs *fs)
{
	int err;

	if (fs->in->op_depth > 1) {
		fs->in->op_depth--;
		return 0;
	}
	err = op_write(fs);
	fs->in->op_depth = 0;
	return err;
}

/* The superblock stored as an operation (of its own, or as part of the
 * one in progress), and the operation so far written. */
static int op_store_super(struct mapfs_fs *fs)
{
	int err;

	fs->in->op_depth++;
	mapfs_super_store(fs);
	err = op_write(fs);
	fs->in->op_depth--;
	return err;
}

bool mapfs_op_retry_nospc(struct mapfs_fs *fs, int err, int *jerr)
{
	int e;

	*jerr = 0;
	if (err != -ENOSPC || !mapfs_journal_frees_pending(fs))
		return false;
	e = mapfs_op_end(fs);
	if (e < 0)
		*jerr = e;
	/* A full commit: the ring emptied, every quarantined block free. */
	e = mapfs_fs_sync(fs);
	if (e < 0) {
		if (*jerr == 0)
			*jerr = e;
		fs->in->op_depth++;		/* still open for the caller's end */
		return false;
	}
	e = mapfs_op_begin(fs);
	if (e < 0 && *jerr == 0)
		*jerr = e;
	return true;
}

int mapfs_fs_sync(struct mapfs_fs *fs)
{
	int err;

	if (fs->flags & MAPFS_OPEN_RDONLY)
		return 0;
	/* The daemon's last sync (state CLEAN, after a full commit that
	 * released the quarantine) records that every free block reads
	 * as zeros, so the next mount need not zero them again. The next
	 * writer clears the mark before it could be wrong. */
	if (fs->j && fs->state == MAPFS_STATE_CLEAN && fs->in->free_zeroed &&
	    !atomic_load(&fs->error) && !mapfs_journal_frees_pending(fs))
		fs->in->free_zero_mark = true;
	if (fs->j) {
		/* Everything durable and home, the ring empty. (A journal
		 * runs only on an open image file: fs->fd >= 0.) */
		err = op_store_super(fs);
		return err < 0 ? err : mapfs_journal_commit(fs, true);
	}
	mapfs_super_store(fs);
	if (fs->fd < 0)
		return 0;
	/* Dirty pages of a shared mapping are the file's page cache, so
	 * fsync writes them all (and flushes the device cache). */
	if (fsync(fs->fd) < 0)
		return -errno;
	return 0;
}

int mapfs_fs_commit(struct mapfs_fs *fs)
{
	int err;

	if (fs->flags & MAPFS_OPEN_RDONLY)
		return 0;
	if (!fs->j)
		return mapfs_fs_sync(fs);
	err = op_store_super(fs);
	return err < 0 ? err : mapfs_journal_commit(fs, false);
}

