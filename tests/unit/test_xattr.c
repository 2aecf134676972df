/* SPDX-License-Identifier: MIT */
/* Unit tests: extended attributes (xattr.c: storage, validator, ACL
 * helpers) and the range operations of file.c (hole punching,
 * preallocation, SEEK_DATA/SEEK_HOLE, copies) with the ops that use them
 * and the chattr flags they enforce. In-memory filesystems. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <endian.h>
#include <errno.h>

#include "helpers.h"

#define ROOT MAPFS_ROOT_INO

static const struct mapfs_cred root_cr = {0, 0};
static const struct mapfs_cred user_cr = {1000, 1000};

#define mk test_mk	/* helpers.h */
#define get test_get

static void test_xattr_basic(void **state)
{
	struct mapfs_fs *fs = test_fs_new_isize(64ull << 20, 0, 0, 256);
	mapfs_ino_t f = mk(fs, ROOT, "f", MAPFS_IFREG | 0644);
	uint64_t free0 = fs->free_blocks;
	char buf[8192], big[5000];
	struct mapfs_inode ip;

	(void)state;
	assert_int_equal(mapfs_op_getxattr(fs, f, "user.a", buf, sizeof(buf)),
			 -ENODATA);
	assert_int_equal(mapfs_op_listxattr(fs, f, buf, sizeof(buf), true), 0);
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.a", "hello", 5, 0,
					   false), 0);
	ip = get(fs, f);
	assert_int_not_equal(ip.xattr, 0);
	assert_int_equal(ip.blocks, 1);
	assert_int_equal(fs->free_blocks, free0 - 1);
	assert_int_equal(mapfs_op_getxattr(fs, f, "user.a", NULL, 0), 5);
	assert_int_equal(mapfs_op_getxattr(fs, f, "user.a", buf, 4), -ERANGE);
	assert_int_equal(mapfs_op_getxattr(fs, f, "user.a", buf, 5), 5);
	assert_memory_equal(buf, "hello", 5);
	/* flags */
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.a", "x", 1,
					   MAPFS_XATTR_CREATE, false), -EEXIST);
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.b", "x", 1,
					   MAPFS_XATTR_REPLACE, false),
			 -ENODATA);
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.a", "", 0,
					   MAPFS_XATTR_REPLACE, false), 0);
	assert_int_equal(mapfs_op_getxattr(fs, f, "user.a", buf, 10), 0);
	/* namespaces and names */
	assert_int_equal(mapfs_op_setxattr(fs, f, "os2.x", "v", 1, 0, false),
			 -EOPNOTSUPP);
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.", "v", 1, 0, false),
			 -EINVAL);
	memset(buf, 'n', 300);
	memcpy(buf, "user.", 5);
	buf[256] = 0;
	assert_int_equal(mapfs_op_setxattr(fs, f, buf, "v", 1, 0, false),
			 -ENAMETOOLONG);
	buf[255] = 0;
	assert_int_equal(mapfs_op_setxattr(fs, f, buf, "v", 1, 0, false), 0);
	assert_int_equal(mapfs_op_setxattr(fs, f, "trusted.t", "tt", 2, 0,
					   false), 0);
	assert_int_equal(mapfs_op_setxattr(fs, f, "security.s", "s", 1, 0,
					   false), 0);
	/* list: trusted.* only for root; ERANGE when short */
	{
		ssize_t n = mapfs_op_listxattr(fs, f, NULL, 0, true);
		ssize_t m = mapfs_op_listxattr(fs, f, NULL, 0, false);

		assert_int_equal(n, 7 + 255 + 1 + 10 + 11);
		assert_int_equal(m, n - 10);
		assert_int_equal(mapfs_op_listxattr(fs, f, buf, (size_t)n - 1,
						    true), -ERANGE);
		assert_int_equal(mapfs_op_listxattr(fs, f, buf, sizeof(buf),
						    true), n);
		assert_string_equal(buf, "user.a");
	}
	/* sizes: E2BIG past a block, ENOSPC when the block is full */
	memset(big, 'v', sizeof(big));
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.big", big, 5000, 0,
					   false), -E2BIG);
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.c", big, 3000, 0,
					   false), 0);
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.d", big, 1000, 0,
					   false), -ENOSPC);
	assert_int_equal(mapfs_op_getxattr(fs, f, "user.c", buf, sizeof(buf)),
			 3000);
	/* still one block, and it validates */
	ip = get(fs, f);
	assert_int_equal(ip.blocks, 1);
	assert_int_equal(mapfs_xattr_check(fs, f, ip.xattr, NULL, 0), 0);
	/* a wrong owner fails the check (CRC and owner both seeded) */
	assert_int_equal(mapfs_xattr_check(fs, f + 1, ip.xattr, NULL, 0),
			 -EUCLEAN);
	/* remove all: the block goes */
	assert_int_equal(mapfs_op_removexattr(fs, f, "user.zz"), -ENODATA);
	memcpy(buf, "user.", 5);
	memset(buf + 5, 'n', 250);
	buf[255] = 0;
	assert_int_equal(mapfs_op_removexattr(fs, f, buf), 0);
	assert_int_equal(mapfs_op_removexattr(fs, f, "user.a"), 0);
	assert_int_equal(mapfs_op_removexattr(fs, f, "user.c"), 0);
	assert_int_equal(mapfs_op_removexattr(fs, f, "trusted.t"), 0);
	assert_int_equal(mapfs_op_removexattr(fs, f, "security.s"), 0);
	ip = get(fs, f);
	assert_int_equal(ip.xattr, 0);
	assert_int_equal(ip.blocks, 0);
	assert_int_equal(fs->free_blocks, free0);
	assert_int_equal(atomic_load(&fs->error), 0);
	test_fs_free(fs);
}

/* Every inode kind can hold attributes; freeing the inode frees them. */
static void test_xattr_kinds_and_free(void **state)
{
	struct mapfs_fs *fs = test_fs_new_isize(64ull << 20, 0, 0, 256);
	uint64_t free0 = fs->free_blocks;
	struct mapfs_inode ip;
	mapfs_ino_t p, d;

	(void)state;
	p = mk(fs, ROOT, "fifo", MAPFS_IFIFO | 0644);
	d = mk(fs, ROOT, "dir", MAPFS_IFDIR | 0755);
	assert_int_equal(mapfs_op_symlink(fs, &root_cr, ROOT, "sl", "target",
					  &ip), 0);
	assert_int_equal(mapfs_op_setxattr(fs, p, "security.x", "1", 1, 0,
					   true), 0);
	assert_int_equal(mapfs_op_setxattr(fs, ip.ino, "trusted.x", "1", 1, 0,
					   true), 0);
	assert_int_equal(mapfs_op_setxattr(fs, d, "user.x", "1", 1, 0, true),
			 0);
	/* they still load (special files and fast symlinks count it) */
	assert_int_equal(get(fs, p).blocks, 1);
	assert_int_equal(get(fs, ip.ino).blocks, 1);
	assert_int_equal(get(fs, d).blocks, 2);
	assert_int_equal(mapfs_op_unlink(fs, ROOT, "fifo"), 0);
	assert_int_equal(mapfs_op_unlink(fs, ROOT, "sl"), 0);
	assert_int_equal(mapfs_op_rmdir(fs, ROOT, "dir"), 0);
	assert_int_equal(fs->free_blocks, free0);
	/* 64 KiB blocks: a value crossing page boundaries */
	test_fs_free(fs);
	fs = test_fs_new_isize(128ull << 20, 65536, 0, 256);
	{
		mapfs_ino_t f = mk(fs, ROOT, "f", MAPFS_IFREG | 0644);
		size_t max = mapfs_xattr_max_value(fs, 1);
		char *v = malloc(max + 1), *r = malloc(max + 1);

		assert_non_null(v);
		assert_non_null(r);
		for (size_t i = 0; i <= max; i++)
			v[i] = (char)(i * 13 + 1);
		assert_true(max > 60000);
		assert_int_equal(mapfs_op_setxattr(fs, f, "user.v", v, max + 1,
						   0, false), -E2BIG);
		assert_int_equal(mapfs_op_setxattr(fs, f, "user.v", v, max, 0,
						   false), 0);
		assert_int_equal(mapfs_op_getxattr(fs, f, "user.v", r, max),
				 (ssize_t)max);
		assert_memory_equal(v, r, max);
		assert_int_equal(mapfs_xattr_check(fs, f, get(fs, f).xattr,
						   NULL, 0), 0);
		free(v);
		free(r);
	}
	test_fs_free(fs);
}

/* With 512-byte inodes (the default) a small set lives in the inode, a
 * big one in a block, and a set moves between them as it grows and
 * shrinks; the inode's copy is checked like a block. */
static void test_xattr_in_inode(void **state)
{
	struct mapfs_fs *fs = test_fs_new(64ull << 20, 0, 0);
	mapfs_ino_t f = mk(fs, ROOT, "f", MAPFS_IFREG | 0644);
	uint64_t free0 = fs->free_blocks;
	char buf[4096], big[600], why[200];
	struct mapfs_inode ip;
	uint8_t *slot;

	(void)state;
	assert_int_equal(fs->g.inode_size, 512);
	assert_false(mapfs_xattr_in_inode(fs, f));
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.a", "hello", 5, 0,
					   false), 0);
	assert_int_equal(mapfs_op_setxattr(fs, f, "security.b", "x", 1, 0,
					   false), 0);
	ip = get(fs, f);
	assert_int_equal(ip.xattr, 0);
	assert_int_equal(ip.blocks, 0);
	assert_int_equal(fs->free_blocks, free0);
	assert_true(mapfs_xattr_in_inode(fs, f));
	assert_int_equal(mapfs_xattr_check_inode(fs, f, why, sizeof(why)), 0);
	assert_int_equal(mapfs_op_getxattr(fs, f, "user.a", buf, sizeof(buf)),
			 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(mapfs_op_listxattr(fs, f, buf, sizeof(buf), true),
			 (ssize_t)(sizeof("user.a") + sizeof("security.b")));
	/* grows past the inode: everything moves to one block */
	memset(big, 'z', sizeof(big));
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.big", big,
					   sizeof(big), 0, false), 0);
	ip = get(fs, f);
	assert_int_not_equal(ip.xattr, 0);
	assert_int_equal(ip.blocks, 1);
	assert_false(mapfs_xattr_in_inode(fs, f));
	assert_int_equal(mapfs_op_getxattr(fs, f, "user.a", buf, sizeof(buf)),
			 5);
	/* shrinks back: into the inode, the block freed */
	assert_int_equal(mapfs_op_removexattr(fs, f, "user.big"), 0);
	ip = get(fs, f);
	assert_int_equal(ip.xattr, 0);
	assert_int_equal(ip.blocks, 0);
	assert_int_equal(fs->free_blocks, free0);
	assert_true(mapfs_xattr_in_inode(fs, f));
	/* a remount reads them back */
	test_fs_remount(fs);
	assert_int_equal(mapfs_op_getxattr(fs, f, "security.b", buf,
					   sizeof(buf)), 1);
	/* damage in the inode's area is caught; clearing removes it */
	slot = (uint8_t *)mapfs_dinode(fs, f);
	slot[MAPFS_INODE_SIZE + 40] ^= 1;
	assert_int_equal(mapfs_xattr_check_inode(fs, f, why, sizeof(why)),
			 -EUCLEAN);
	assert_non_null(strstr(why, "checksum"));
	assert_int_equal(mapfs_op_getxattr(fs, f, "user.a", buf, sizeof(buf)),
			 -EUCLEAN);
	mapfs_xattr_clear_inode(fs, f);
	assert_false(mapfs_xattr_in_inode(fs, f));
	assert_int_equal(mapfs_op_getxattr(fs, f, "user.a", buf, sizeof(buf)),
			 -ENODATA);
	/* removing the last one leaves the area zero; unlink frees all */
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.c", "1", 1, 0, false),
			 0);
	assert_int_equal(mapfs_op_removexattr(fs, f, "user.c"), 0);
	assert_false(mapfs_xattr_in_inode(fs, f));
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.d", "1", 1, 0, false),
			 0);
	assert_int_equal(mapfs_op_unlink(fs, ROOT, "f"), 0);
	assert_false(mapfs_xattr_in_inode(fs, f));
	assert_int_equal(fs->free_blocks, free0);
	test_fs_free(fs);
}

/* The validator catches damage the way fsck needs it to. */
static void test_xattr_check_damage(void **state)
{
	struct mapfs_fs *fs = test_fs_new_isize(64ull << 20, 0, 0, 256);
	mapfs_ino_t f = mk(fs, ROOT, "f", MAPFS_IFREG | 0644);
	char why[200];
	uint8_t *blk;
	mapfs_bno_t b;

	(void)state;
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.a", "hello", 5, 0,
					   false), 0);
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.b", "world", 5, 0,
					   false), 0);
	b = get(fs, f).xattr;
	blk = mapfs_block(fs, b);
	blk[40] ^= 1;		/* inside the first entry: CRC */
	assert_int_equal(mapfs_xattr_check(fs, f, b, why, sizeof(why)),
			 -EUCLEAN);
	assert_non_null(strstr(why, "checksum"));
	blk[40] ^= 1;
	assert_int_equal(mapfs_xattr_check(fs, f, b, why, sizeof(why)), 0);
	blk[4095] ^= 0xff;	/* tail */
	assert_int_equal(mapfs_xattr_check(fs, f, b, why, sizeof(why)),
			 -EUCLEAN);
	blk[4095] ^= 0xff;
	/* reading through a damaged block reports corruption */
	blk[0] ^= 1;
	{
		char buf[16];

		assert_int_equal(mapfs_op_getxattr(fs, f, "user.a", buf,
						   sizeof(buf)), -EUCLEAN);
	}
	test_fs_free(fs);
}

static size_t acl_make(uint8_t *buf, const uint16_t (*ent)[3], int n)
{
	uint32_t v = htole32(2);

	memcpy(buf, &v, 4);
	for (int i = 0; i < n; i++) {
		uint16_t t = htole16(ent[i][0]), p = htole16(ent[i][1]);
		uint32_t id = htole32(ent[i][2]);

		memcpy(buf + 4 + 8 * i, &t, 2);
		memcpy(buf + 6 + 8 * i, &p, 2);
		memcpy(buf + 8 + 8 * i, &id, 4);
	}
	return 4 + 8 * (size_t)n;
}

static void test_acl(void **state)
{
	struct mapfs_fs *fs = test_fs_new_isize(64ull << 20, 0, 0, 256);
	static const uint16_t base[][3] = {
		{1, 6, 0xffff}, {4, 4, 0xffff}, {0x20, 0, 0xffff} };
	static const uint16_t ext[][3] = {
		{1, 7, 0xffff}, {2, 5, 65534}, {4, 5, 0xffff},
		{0x10, 7, 0xffff}, {0x20, 5, 0xffff} };
	uint8_t acl[64], got[64];
	struct mapfs_inode ip, d;
	mapfs_ino_t f, dir;
	uint32_t mode;
	size_t n;

	(void)state;
	f = mk(fs, ROOT, "f", MAPFS_IFREG | 0644);
	/* an ACL equal to a mode: mode changes, nothing stored */
	n = acl_make(acl, base, 3);
	assert_int_equal(mapfs_acl_equiv_mode(acl, n, &mode), 0);
	assert_int_equal(mode, 0640);
	assert_int_equal(mapfs_op_setxattr(fs, f, "system.posix_acl_access",
					   acl, n, 0, false), 0);
	ip = get(fs, f);
	assert_int_equal(ip.mode & 0777, 0640);
	assert_int_equal(ip.xattr, 0);
	/* an extended ACL: stored, mode group bits = mask */
	n = acl_make(acl, ext, 5);
	assert_int_equal(mapfs_op_setxattr(fs, f, "system.posix_acl_access",
					   acl, n, 0, false), 0);
	ip = get(fs, f);
	assert_int_equal(ip.mode & 0777, 0775);
	/* chmod rewrites owner, mask and other */
	{
		struct mapfs_setattr sa = { .valid = MAPFS_SET_MODE,
					    .mode = 0640 };

		assert_int_equal(mapfs_op_setattr(fs, f, &sa, false, &ip), 0);
	}
	assert_int_equal(mapfs_op_getxattr(fs, f, "system.posix_acl_access",
					   got, sizeof(got)), (ssize_t)n);
	assert_int_equal(mapfs_acl_equiv_mode(got, n, &mode), 1);
	assert_int_equal(mode, 0640);
	/* malformed ACLs */
	assert_int_equal(mapfs_op_setxattr(fs, f, "system.posix_acl_access",
					   acl, n - 1, 0, false), -EINVAL);
	assert_int_equal(mapfs_op_setxattr(fs, f, "system.posix_acl_default",
					   acl, n, 0, false), -EACCES);
	/* inheritance: default ACL on a directory */
	dir = mk(fs, ROOT, "d", MAPFS_IFDIR | 0755);
	assert_int_equal(mapfs_op_setxattr(fs, dir, "system.posix_acl_default",
					   acl, n, 0, false), 0);
	d = get(fs, dir);
	assert_int_equal(mapfs_op_mknod_acl(fs, &root_cr, dir, "new",
					    MAPFS_IFREG | 0666, 0, 022, &ip),
			 0);
	/* mode 0666 against user::rwx mask::rwx other::r-x: 0664 (no
	 * umask: the default ACL replaces it) */
	assert_int_equal(ip.mode & 0777, 0665 & 0664);
	assert_int_equal(mapfs_op_getxattr(fs, ip.ino,
					   "system.posix_acl_access", NULL, 0),
			 (ssize_t)n);
	assert_int_equal(mapfs_op_getxattr(fs, ip.ino,
					   "system.posix_acl_default", NULL, 0),
			 -ENODATA);
	assert_int_equal(mapfs_op_mknod_acl(fs, &root_cr, dir, "sub",
					    MAPFS_IFDIR | 0777, 0, 022, &ip),
			 0);
	assert_int_equal(ip.mode & 0777, 0775);
	assert_int_equal(mapfs_op_getxattr(fs, ip.ino,
					   "system.posix_acl_default", NULL, 0),
			 (ssize_t)n);
	/* no default ACL: the umask applies */
	assert_int_equal(mapfs_op_mknod_acl(fs, &root_cr, ROOT, "plain",
					    MAPFS_IFREG | 0666, 0, 027, &ip),
			 0);
	assert_int_equal(ip.mode & 0777, 0640);
	assert_int_equal(ip.xattr, 0);
	(void)d;
	assert_int_equal(atomic_load(&fs->error), 0);
	test_fs_free(fs);
}

static ssize_t wr(struct mapfs_fs *fs, mapfs_ino_t f, uint64_t off,
		  size_t len, int c)
{
	char *buf = malloc(len);
	ssize_t n;

	assert_non_null(buf);
	memset(buf, c, len);
	n = mapfs_op_write(fs, f, off, buf, len, true);
	free(buf);
	return n;
}

/* Punch holes: blocks and emptied indirect blocks really freed. */
static void test_punch(void **state)
{
	struct mapfs_fs *fs = test_fs_new(256ull << 20, 0, 0);
	mapfs_ino_t f = mk(fs, ROOT, "f", MAPFS_IFREG | 0644);
	uint64_t free0 = fs->free_blocks, res;
	struct mapfs_inode ip;
	char buf[8192];

	(void)state;
	/* 2000 blocks: direct, single indirect, double indirect */
	assert_int_equal(wr(fs, f, 0, 2000 * 4096, 'a'), 2000 * 4096);
	ip = get(fs, f);
	/* 2000 data + 1 single + 1 double + 3 under it */
	assert_int_equal(ip.blocks, 2000 + 1 + 1 + 3);
	/* unaligned punch: edges zeroed, whole blocks freed */
	assert_int_equal(mapfs_op_fallocate(fs, f, MAPFS_FALLOC_PUNCH_HOLE |
					    MAPFS_FALLOC_KEEP_SIZE, 100,
					    3 * 4096, false), 0);
	ip = get(fs, f);
	assert_int_equal(ip.size, 2000 * 4096);
	assert_int_equal(ip.blocks, 2005 - 2);	/* blocks 1 and 2 */
	assert_int_equal(mapfs_file_read(fs, &ip, 0, buf, 8192), 8192);
	assert_int_equal(buf[99], 'a');
	assert_int_equal(buf[100], 0);
	assert_int_equal(buf[8191], 0);
	assert_int_equal(mapfs_file_read(fs, &ip, 3 * 4096, buf, 200), 200);
	assert_int_equal(buf[99], 0);
	assert_int_equal(buf[100], 'a');
	/* a whole single-indirect range: its indirect block goes too */
	assert_int_equal(mapfs_op_fallocate(fs, f, MAPFS_FALLOC_PUNCH_HOLE |
					    MAPFS_FALLOC_KEEP_SIZE, 12 * 4096,
					    511 * 4096, false), 0);
	ip = get(fs, f);
	assert_int_equal(ip.blk[12], 0);
	assert_int_equal(ip.blocks, 2003 - 512);
	/* SEEK_DATA / SEEK_HOLE see the holes */
	assert_int_equal(mapfs_op_seek(fs, f, 0, false, &res), 0);
	assert_int_equal(res, 4096);
	assert_int_equal(mapfs_op_seek(fs, f, 4096, true, &res), 0);
	assert_int_equal(res, 3 * 4096);
	assert_int_equal(mapfs_op_seek(fs, f, 12 * 4096, true, &res), 0);
	assert_int_equal(res, 523 * 4096);
	assert_int_equal(mapfs_op_seek(fs, f, 523 * 4096, false, &res), 0);
	assert_int_equal(res, 2000 * 4096);	/* the implicit hole at EOF */
	assert_int_equal(mapfs_op_seek(fs, f, 2000 * 4096, true, &res),
			 -ENXIO);
	/* everything: only the file's inode remains */
	assert_int_equal(mapfs_op_fallocate(fs, f, MAPFS_FALLOC_PUNCH_HOLE |
					    MAPFS_FALLOC_KEEP_SIZE, 0,
					    1ull << 30, false), 0);
	ip = get(fs, f);
	assert_int_equal(ip.blocks, 0);
	assert_int_equal(ip.size, 2000 * 4096);
	assert_int_equal(fs->free_blocks, free0);
	assert_int_equal(mapfs_op_seek(fs, f, 0, true, &res), -ENXIO);
	assert_int_equal(mapfs_op_seek(fs, f, 0, false, &res), 0);
	assert_int_equal(res, 0);
	/* bad modes */
	assert_int_equal(mapfs_op_fallocate(fs, f, MAPFS_FALLOC_PUNCH_HOLE, 0,
					    4096, false), -EOPNOTSUPP);
	assert_int_equal(mapfs_op_fallocate(fs, f, 0x08, 0, 4096, false),
			 -EOPNOTSUPP);
	assert_int_equal(mapfs_op_fallocate(fs, ROOT, 0, 0, 4096, false),
			 -EISDIR);
	assert_int_equal(atomic_load(&fs->error), 0);
	test_fs_free(fs);
}

static void test_prealloc_and_copy(void **state)
{
	struct mapfs_fs *fs = test_fs_new(256ull << 20, 0, 0);
	mapfs_ino_t f = mk(fs, ROOT, "f", MAPFS_IFREG | 0644);
	mapfs_ino_t g = mk(fs, ROOT, "g", MAPFS_IFREG | 0644);
	uint64_t free0 = fs->free_blocks;
	struct mapfs_inode ip;
	char buf[4096];

	(void)state;
	/* default mode extends the size, zeroed */
	assert_int_equal(mapfs_op_fallocate(fs, f, 0, 0, 10000, false), 0);
	ip = get(fs, f);
	assert_int_equal(ip.size, 10000);
	assert_int_equal(ip.blocks, 3);
	assert_false(ip.flags & MAPFS_FL_KEEPSIZE);
	/* KEEP_SIZE past EOF: flagged */
	assert_int_equal(mapfs_op_fallocate(fs, f, MAPFS_FALLOC_KEEP_SIZE,
					    10000, 40000, false), 0);
	ip = get(fs, f);
	assert_int_equal(ip.size, 10000);
	assert_int_equal(ip.blocks, 13 + 1);	/* + single indirect */
	assert_true(ip.flags & MAPFS_FL_KEEPSIZE);
	/* truncating down frees them and clears the flag */
	{
		struct mapfs_setattr sa = { .valid = MAPFS_SET_SIZE,
					    .size = 5000 };

		assert_int_equal(mapfs_op_setattr(fs, f, &sa, false, &ip), 0);
	}
	ip = get(fs, f);
	assert_int_equal(ip.blocks, 2);
	assert_false(ip.flags & MAPFS_FL_KEEPSIZE);
	/* zero range */
	assert_int_equal(wr(fs, f, 0, 5000, 'z'), 5000);
	assert_int_equal(mapfs_op_fallocate(fs, f, MAPFS_FALLOC_ZERO_RANGE,
					    10, 20, false), 0);
	ip = get(fs, f);
	assert_int_equal(mapfs_file_read(fs, &ip, 0, buf, 40), 40);
	assert_int_equal(buf[9], 'z');
	assert_int_equal(buf[10], 0);
	assert_int_equal(buf[29], 0);
	assert_int_equal(buf[30], 'z');
	/* copy with a hole: the destination keeps the hole */
	assert_int_equal(mapfs_op_fallocate(fs, f, 0, 0, 5 * 4096, false), 0);
	assert_int_equal(mapfs_op_fallocate(fs, f, MAPFS_FALLOC_PUNCH_HOLE |
					    MAPFS_FALLOC_KEEP_SIZE, 4096,
					    4096, false), 0);
	assert_int_equal(wr(fs, g, 0, 5 * 4096, 'g'), 5 * 4096);
	assert_int_equal(mapfs_op_copy_range(fs, f, 0, g, 0, 1 << 20, false),
			 5 * 4096);
	ip = get(fs, g);
	assert_int_equal(ip.blocks, 4);
	assert_int_equal(mapfs_file_read(fs, &ip, 4096, buf, 4096), 4096);
	assert_int_equal(buf[0], 0);
	assert_int_equal(mapfs_file_read(fs, &ip, 0, buf, 40), 40);
	assert_int_equal(buf[9], 'z');
	/* unaligned copy inside one file */
	assert_int_equal(mapfs_op_copy_range(fs, g, 0, g, 6 * 4096 + 7, 100,
					     false), 100);
	ip = get(fs, g);
	assert_int_equal(ip.size, 6 * 4096 + 107);
	assert_int_equal(mapfs_file_read(fs, &ip, 6 * 4096 + 7, buf, 100),
			 100);
	assert_int_equal(buf[9], 'z');
	assert_int_equal(mapfs_op_copy_range(fs, g, 0, g, 50, 100, false),
			 -EINVAL);
	assert_int_equal(mapfs_op_unlink(fs, ROOT, "f"), 0);
	assert_int_equal(mapfs_op_unlink(fs, ROOT, "g"), 0);
	assert_int_equal(fs->free_blocks, free0);
	assert_int_equal(atomic_load(&fs->error), 0);
	test_fs_free(fs);
}

static void test_flags(void **state)
{
	struct mapfs_fs *fs = test_fs_new(64ull << 20, 0, 0);
	mapfs_ino_t f = mk(fs, ROOT, "f", MAPFS_IFREG | 0644);
	struct mapfs_setattr sa = { .valid = MAPFS_SET_MODE, .mode = 0600 };
	struct mapfs_inode ip;
	uint32_t fl;

	(void)state;
	assert_int_equal(wr(fs, f, 0, 100, 'a'), 100);
	assert_int_equal(mapfs_op_setflags(fs, &user_cr, f, 0), -EPERM);
	assert_int_equal(mapfs_op_setflags(fs, &root_cr, f, 0x1000),
			 -EOPNOTSUPP);
	assert_int_equal(mapfs_op_setflags(fs, &root_cr, f,
					   MAPFS_FL_IMMUTABLE), 0);
	assert_int_equal(mapfs_op_getflags(fs, f, &fl), 0);
	assert_int_equal(fl, MAPFS_FL_IMMUTABLE);
	assert_int_equal(wr(fs, f, 100, 1, 'b'), -EPERM);
	assert_int_equal(mapfs_op_setattr(fs, f, &sa, false, &ip), -EPERM);
	assert_int_equal(mapfs_op_unlink(fs, ROOT, "f"), -EPERM);
	assert_int_equal(mapfs_op_link(fs, f, ROOT, "l", &ip), -EPERM);
	assert_int_equal(mapfs_op_rename(fs, ROOT, "f", ROOT, "g", 0), -EPERM);
	assert_int_equal(mapfs_op_setxattr(fs, f, "user.x", "1", 1, 0, true),
			 -EPERM);
	assert_int_equal(mapfs_op_may_open(fs, f, true, false, false), -EPERM);
	assert_int_equal(mapfs_op_may_open(fs, f, false, false, false), 0);
	/* append-only: appends (and rewrites of the same bytes) only */
	assert_int_equal(mapfs_op_setflags(fs, &root_cr, f, MAPFS_FL_APPEND),
			 0);
	assert_int_equal(wr(fs, f, 100, 10, 'b'), 10);
	assert_int_equal(wr(fs, f, 50, 10, 'c'), -EPERM);
	assert_int_equal(wr(fs, f, 100, 20, 'b'), 20);
	assert_int_equal(mapfs_op_may_open(fs, f, true, false, false), -EPERM);
	assert_int_equal(mapfs_op_may_open(fs, f, true, true, false), 0);
	assert_int_equal(mapfs_op_may_open(fs, f, true, true, true), -EPERM);
	assert_int_equal(mapfs_op_fallocate(fs, f, MAPFS_FALLOC_PUNCH_HOLE |
					    MAPFS_FALLOC_KEEP_SIZE, 0, 10,
					    false), -EPERM);
	assert_int_equal(mapfs_op_unlink(fs, ROOT, "f"), -EPERM);
	/* only root changes immutable / append-only */
	assert_int_equal(mapfs_op_setflags(fs, &user_cr, f, 0), -EPERM);
	assert_int_equal(mapfs_op_setflags(fs, &root_cr, f, MAPFS_FL_NODUMP),
			 0);
	assert_int_equal(mapfs_op_unlink(fs, ROOT, "f"), 0);
	test_fs_free(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xattr_basic),
		cmocka_unit_test(test_xattr_in_inode),
		cmocka_unit_test(test_xattr_kinds_and_free),
		cmocka_unit_test(test_xattr_check_damage),
		cmocka_unit_test(test_acl),
		cmocka_unit_test(test_punch),
		cmocka_unit_test(test_prealloc_and_copy),
		cmocka_unit_test(test_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
