/* SPDX-License-Identifier: MIT */
/* Shared fixtures for the unit tests: fresh filesystems in memory. */
#ifndef MAPFS_TEST_HELPERS_H
#define MAPFS_TEST_HELPERS_H

#include "mapfs.h"
#include "../../fs/internal.h"	/* the core's internals: unit tests of the core */

/* Format a zeroed buffer of size bytes with block size bsize (0: default)
 * and blocks per group bpg (0: default), attach it and return the handle.
 * Fails the running cmocka test on any error. Free with test_fs_free. */
struct mapfs_fs *test_fs_new(uint64_t size, uint32_t bsize, uint32_t bpg);
/* The same with inode size isize (256: attributes always in blocks). */
struct mapfs_fs *test_fs_new_isize(uint64_t size, uint32_t bsize,
				   uint32_t bpg, uint32_t isize);
void test_fs_free(struct mapfs_fs *fs);

/* Make name in directory dir as root (mapfs_op_mknod: the type is in
 * mode) and return its inode number; fails the running test on error. */
mapfs_ino_t test_mk(struct mapfs_fs *fs, mapfs_ino_t dir, const char *name,
		    uint32_t mode);
/* Load inode ino; fails the running test on error. */
struct mapfs_inode test_get(struct mapfs_fs *fs, mapfs_ino_t ino);
/* Detach and re-attach the same buffer (as a remount would). */
void test_fs_remount(struct mapfs_fs *fs);

/* Create and format an image file of size bytes with a journal of
 * journal bytes (0: none), under $TMPDIR (default /var/tmp: a disk, so
 * its page cache can be dropped), named after stem; its path goes to
 * path (pathlen bytes). Fails the running test on any error. */
void test_image_file(char *path, size_t pathlen, const char *stem,
		     uint64_t size, uint64_t journal);

/* Open the image file at path with mapfs_fs_open's flags. Fails the
 * running test on any error. Close with mapfs_fs_close. */
struct mapfs_fs *test_fs_open(const char *path, int flags);

#endif
