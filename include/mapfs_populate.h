/* SPDX-License-Identifier: MIT */
/*
 * mapfs_populate.h - copy a host tree into a mapfs filesystem through the
 * core's operations (mkfs.mapfs -d, mapfs-tool put / put -r).
 *
 * Built as the static library mapfs-populate (fs/populate.c), outside the
 * core: it reads the host (open, fstat, lseek SEEK_DATA/SEEK_HOLE, xattrs)
 * and changes the image only through mapfs_op_* (include/mapfs.h), each
 * object in its own operations between mapfs_op_begin and mapfs_op_end,
 * file data one bounded chunk per operation, so the journal ring of an
 * image opened with MAPFS_OPEN_JOURNAL never holds one giant operation.
 *
 * What is copied: regular files (holes stay holes: only the host's data
 * ranges are written), directories with everything under them (entries in
 * byte order of their names, so the result does not depend on the host's
 * directory order), symlinks, hard links (an inode with several names
 * under the copied tree is copied once, then linked: host (dev, ino) to
 * image ino), fifos, sockets, character and block devices, owner, group,
 * mode with setuid/setgid/sticky, nanosecond atime and mtime (set last,
 * after contents, xattrs and children), and the xattrs the caller may
 * read: user.*, trusted.*, security.* and the POSIX ACLs
 * (system.posix_acl_access / _default, copied as their bytes). ctime and
 * birth time are the image's own (the caller's clock, or fixed under the
 * deterministic option of the image's creator).
 *
 * The image file itself, met in the tree, is left out (with a warning).
 *
 * Never prints, never exits: per-object errors and warnings go to the log
 * callback with the host path; the functions return a negative errno.
 * At most one host descriptor per directory level is held at a time (a
 * walk by openat from the parent), none per inode.
 */
#ifndef MAPFS_POPULATE_H
#define MAPFS_POPULATE_H

#include <stdbool.h>
#include <stdint.h>
#include "mapfs.h"

struct mapfs_populate_opts {
	/* Every copied object owned by uid:gid (mke2fs -E root_owner);
	 * false: owner and group as stored on the host. */
	bool root_owner;
	uint32_t uid, gid;
	/* After an error with one object (a host file unreadable, an
	 * xattr the image refuses...): log it, count it, go on with the
	 * next one; the call then returns 0 with st->errors > 0. false:
	 * stop at the first error and return it. -ENOSPC and errors of
	 * the image itself (-EUCLEAN, -EIO from the journal) always stop. */
	bool keep_going;
	/* Let file data and xattrs use the root reserve (mkfs.mapfs -d,
	 * as mke2fs -d fills every block); false: stop at -ENOSPC where an
	 * unprivileged writer would. */
	bool use_reserve;
	/* Per-object messages: MAPFS_LOG_ERR for an object not (wholly)
	 * copied, MAPFS_LOG_WARN for a detail left out (an xattr the host
	 * would not let us read). NULL: none. */
	mapfs_log_fn log;
	void *log_arg;
};

/* What one call copied (added to, so a caller can sum several calls). */
struct mapfs_populate_stats {
	uint64_t files, dirs, symlinks, specials;	/* objects made */
	uint64_t hardlinks;	/* names made by mapfs_op_link */
	uint64_t xattrs;	/* xattrs set */
	uint64_t bytes;		/* file data written */
	uint64_t errors;	/* objects skipped or partly copied */
};

/* Copy the host object at host_path (not followed if it is a symlink)
 * into directory dir of the image under name, with everything under it
 * if it is a directory. An existing directory of that name is merged
 * into (its entries added, then its attributes taken from the host);
 * any other existing name is -EEXIST. Hard links are matched inside
 * this one call. fs must be open read-write; the caller commits
 * (mapfs_fs_commit / mapfs_fs_sync) and closes. st may be NULL.
 * 0, or a negative errno (the first error unless o->keep_going). */
int mapfs_populate_path(struct mapfs_fs *fs, mapfs_ino_t dir,
			const char *name, const char *host_path,
			const struct mapfs_populate_opts *o,
			struct mapfs_populate_stats *st);

/* Copy the contents of the host directory host_dir into the image
 * directory dir (mkfs.mapfs -d: DIR's contents into the root), merging
 * with what dir holds as mapfs_populate_path does for each entry; then
 * dir takes host_dir's mode, owner (or o's), xattrs and times. st may
 * be NULL. 0 or a negative errno, as mapfs_populate_path. */
int mapfs_populate_dir(struct mapfs_fs *fs, mapfs_ino_t dir,
		       const char *host_dir,
		       const struct mapfs_populate_opts *o,
		       struct mapfs_populate_stats *st);

#endif
