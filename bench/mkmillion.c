/* SPDX-License-Identifier: MIT */
/*
 * mkmillion.c - benchmark helper (not a test): fill an image with N empty
 * regular files (1000 per directory) through the core, without a mount.
 *
 *   mkmillion IMAGE N
 */
#include "mapfs.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	const struct mapfs_cred cr = { 0, 0 };
	struct mapfs_inode ip, dir;
	struct mapfs_fs *fs;
	char why[256] = "", name[32];
	long n;
	int err;

	if (argc != 3) {
		fprintf(stderr, "usage: mkmillion IMAGE N\n");
		return 2;
	}
	n = atol(argv[2]);
	err = mapfs_fs_open(argv[1], 0, 0, NULL, NULL, &fs, why, sizeof(why));
	if (err < 0) {
		fprintf(stderr, "mkmillion: %s\n", why);
		return 1;
	}
	for (long i = 0; i < n; i++) {
		if (i % 1000 == 0) {
			snprintf(name, sizeof(name), "d%06ld", i / 1000);
			err = mapfs_op_mknod(fs, &cr, MAPFS_ROOT_INO, name,
					     MAPFS_IFDIR | 0755, 0, &dir);
			if (err < 0)
				break;
		}
		snprintf(name, sizeof(name), "f%06ld", i);
		err = mapfs_op_mknod(fs, &cr, dir.ino, name,
				     MAPFS_IFREG | 0644, 0, &ip);
		if (err < 0)
			break;
	}
	if (err < 0)
		fprintf(stderr, "mkmillion: mknod: error %d\n", err);
	fs->state = MAPFS_STATE_CLEAN;
	if (mapfs_fs_sync(fs) < 0)
		err = -1;
	mapfs_fs_close(fs);
	return err < 0;
}
