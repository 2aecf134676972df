/* SPDX-License-Identifier: MIT */
/*
 * mkimage.c - test-only: populate a freshly formatted image through the
 * core (no mount) with a tree whose every value run.sh checks in
 * dumpfs.mapfs's JSON output.
 *
 *   mkimage IMAGE
 *
 * The tree (B = block size):
 *   /dir/              a directory
 *   /dir/a             100 bytes, xattr user.test = "hello"
 *   /dir/sub/          a directory
 *   /dir/bad\xff\xfe   an empty file whose name is not UTF-8
 *   /big               20 * B bytes (direct blocks + single indirect)
 *   /big2              a hard link to /big
 *   /sparse            one block at 10 MiB (double indirect, a hole)
 *   /sym               fast symlink to "dir/a"
 *   /longsym           slow symlink, 200 'x'
 *   /fifo              a fifo
 *   /pre               4 blocks preallocated past EOF (size 0)
 *   /many/file-with-a-long-name-000 .. -149
 *                      150 empty files (two directory chunks)
 * It leaves the image clean.
 */
#include "mapfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mapfs_cred root_cred = { 0, 0 };

static void die(const char *what, int err)
{
	fprintf(stderr, "mkimage: %s: %s\n", what, strerror(-err));
	exit(1);
}

static mapfs_ino_t mk(struct mapfs_fs *fs, mapfs_ino_t dir, const char *name,
		      uint32_t mode)
{
	struct mapfs_inode ip;
	int err = mapfs_op_mknod(fs, &root_cred, dir, name, mode, 0, &ip);

	if (err < 0)
		die(name, err);
	return ip.ino;
}

static void wr(struct mapfs_fs *fs, mapfs_ino_t ino, uint64_t off,
	       size_t len)
{
	char *buf = malloc(len);
	ssize_t n;

	if (!buf)
		die("malloc", -12);
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('a' + i % 26);
	n = mapfs_op_write(fs, ino, off, buf, len, true);
	if (n != (ssize_t)len)
		die("write", n < 0 ? (int)n : -5);
	free(buf);
}

int main(int argc, char **argv)
{
	struct mapfs_fs *fs;
	struct mapfs_inode ip;
	mapfs_ino_t dir, f, many;
	char why[256] = "", longt[201], name[64];
	uint32_t bs;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: mkimage IMAGE\n");
		return 2;
	}
	err = mapfs_fs_open(argv[1], 0, 0, NULL, NULL, &fs, why, sizeof(why));
	if (err < 0) {
		fprintf(stderr, "mkimage: %s: %s\n", argv[1], why);
		return 1;
	}
	bs = fs->g.bsize;
	dir = mk(fs, MAPFS_ROOT_INO, "dir", MAPFS_IFDIR | 0755);
	f = mk(fs, dir, "a", MAPFS_IFREG | 0644);
	wr(fs, f, 0, 100);
	err = mapfs_op_setxattr(fs, f, "user.test", "hello", 5, 0, true);
	if (err < 0)
		die("setxattr", err);
	mk(fs, dir, "sub", MAPFS_IFDIR | 0700);
	mk(fs, dir, "bad\xff\xfe", MAPFS_IFREG | 0600);
	f = mk(fs, MAPFS_ROOT_INO, "big", MAPFS_IFREG | 0644);
	wr(fs, f, 0, 20 * (size_t)bs);
	err = mapfs_op_link(fs, f, MAPFS_ROOT_INO, "big2", &ip);
	if (err < 0)
		die("link", err);
	f = mk(fs, MAPFS_ROOT_INO, "sparse", MAPFS_IFREG | 0644);
	wr(fs, f, 10u << 20, bs);
	err = mapfs_op_symlink(fs, &root_cred, MAPFS_ROOT_INO, "sym", "dir/a",
			       &ip);
	if (err < 0)
		die("symlink", err);
	memset(longt, 'x', 200);
	longt[200] = 0;
	err = mapfs_op_symlink(fs, &root_cred, MAPFS_ROOT_INO, "longsym",
			       longt, &ip);
	if (err < 0)
		die("symlink", err);
	mk(fs, MAPFS_ROOT_INO, "fifo", MAPFS_IFIFO | 0644);
	f = mk(fs, MAPFS_ROOT_INO, "pre", MAPFS_IFREG | 0644);
	err = mapfs_op_fallocate(fs, f, MAPFS_FALLOC_KEEP_SIZE, 0,
				 4 * (uint64_t)bs, true);
	if (err < 0)
		die("fallocate", err);
	many = mk(fs, MAPFS_ROOT_INO, "many", MAPFS_IFDIR | 0755);
	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof(name), "file-with-a-long-name-%03d", i);
		mk(fs, many, name, MAPFS_IFREG | 0644);
	}
	fs->state = MAPFS_STATE_CLEAN;
	err = mapfs_fs_sync(fs);
	if (err < 0)
		die("sync", err);
	mapfs_fs_close(fs);
	return 0;
}
