/* SPDX-License-Identifier: MIT */
/*
 * ops.c - whole filesystem operations by inode number.
 *
 * Layer: above dir, xattr and everything below them; below txn, mount,
 * format, grow (tests/layering.sh). What the daemon calls (inside
 * mapfs_op_begin/mapfs_op_end), one function per POSIX operation. Each
 * validates names, loads what it needs (validated by inode.c), and changes
 * the image through the layers below. Errors are POSIX's: -ENOENT,
 * -EEXIST, -ENOTDIR, -EISDIR, -ENOTEMPTY, -ENAMETOOLONG, -EMLINK, -EINVAL.
 * Permission checks are the kernel's (default_permissions); what the kernel
 * cannot do (setgid inheritance, clearing setuid on chown) is done here.
 *
 * Crash ordering (soft-updates rules, Ganger & Patt 1994), kept in memory
 * order so that a daemon killed at any instant leaves at worst leaks and
 * link counts that are too high, which fsck -p repairs:
 *  1. initialize an inode (and a new directory's first chunk) before the
 *     entry that names it is written;
 *  2. remove an entry before dropping the link count, and drop the link
 *     count before freeing the inode and its blocks;
 *  3. raise a link count before adding a name (link, rename), and set a
 *     new name before removing the old one (rename).
 *
 * Caller holds the filesystem exclusively for everything here except
 * mapfs_op_lookup and mapfs_op_readlink, which are read-only.
 */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* mapfs_clock_fix: the time every operation stamps instead of the
 * clock's, for deterministic images (process-wide; the daemon never
 * sets it). */
static struct mapfs_timespec fixed_now;
static bool have_fixed_now;

void mapfs_clock_fix(const struct mapfs_timespec *t)
{
	have_fixed_now = t != NULL;
	if (t)
		fixed_now = *t;
}

struct mapfs_timespec mapfs_now(void)
{
	struct timespec ts;
	struct mapfs_timespec t;

	if (have_fixed_now)
		return fixed_now;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	t.sec = ts.tv_sec;
	t.nsec = (uint32_t)ts.tv_nsec;
	return t;
}

static bool is_dir(const struct mapfs_inode *ip)
{
	return (ip->mode & MAPFS_IFMT) == MAPFS_IFDIR;
}

/* Length of a name from the kernel, or a negative errno. */
static int name_len(const char *name)
{
	size_t n = strnlen(name, MAPFS_NAME_MAX + 1);

	if (n == 0)
		return -ENOENT;
	if (n > MAPFS_NAME_MAX)
		return -ENAMETOOLONG;
	return (int)n;
}

static bool is_dot_or_dotdot(const char *name, int len)
{
	return name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.'));
}

static int load_dir(struct mapfs_fs *fs, mapfs_ino_t ino,
		    struct mapfs_inode *ip)
{
	int err = mapfs_inode_load(fs, ino, ip);

	if (err < 0)
		return err;
	if (!is_dir(ip))
		return -ENOTDIR;
	return 0;
}

/* The front of every operation on a name in directory dir: check the
 * name and load dir into *d. The name's length, or a negative errno. */
static int load_dir_name(struct mapfs_fs *fs, mapfs_ino_t dir,
			 const char *name, struct mapfs_inode *d)
{
	int len = name_len(name), err;

	if (len < 0)
		return len;
	err = load_dir(fs, dir, d);
	return err < 0 ? err : len;
}

static void touch(struct mapfs_inode *ip, bool mtime,
		  struct mapfs_timespec now)
{
	ip->ctime = now;
	if (mtime)
		ip->mtime = now;
}

/* chattr flags, enforced here because FUSE does not pass them to the
 * kernel's inode (Linux checks IS_IMMUTABLE / IS_APPEND in the VFS). */
static bool is_immutable(const struct mapfs_inode *ip)
{
	return ip->flags & MAPFS_FL_IMMUTABLE;
}

/* Neither removed, renamed, linked nor changed in its attributes. */
static bool is_pinned(const struct mapfs_inode *ip)
{
	return ip->flags & (MAPFS_FL_IMMUTABLE | MAPFS_FL_APPEND);
}

int mapfs_op_lookup(struct mapfs_fs *fs, mapfs_ino_t dir, const char *name,
		    mapfs_ino_t *inop)
{
	struct mapfs_inode d;
	uint32_t type;
	int len = load_dir_name(fs, dir, name, &d);

	if (len < 0)
		return len;
	return mapfs_dir_lookup(fs, &d, name, (uint32_t)len, inop, &type);
}

/*
 * A node named by its number alone: a file handle (FUSE asks LOOKUP of
 * "." in the node itself, with export support). The number comes from
 * outside (a handle made by any earlier run, or forged): it must name a
 * slot a file may use (inside the inode table, not a reserved inode;
 * the root is allowed) that holds an allocated inode, else -ESTALE. An
 * inode whose link count is zero is returned as is: only the caller
 * knows whether something still holds it. Read-only.
 */
int mapfs_op_lookup_ino(struct mapfs_fs *fs, mapfs_ino_t ino,
			struct mapfs_inode *ip)
{
	int err;

	if (!mapfs_ino_valid(&fs->g, ino))
		return -ESTALE;
	err = mapfs_inode_load(fs, ino, ip);
	return err == -ENOENT ? -ESTALE : err;
}

/* Whether ip has extended attributes (in its inode or in a block). */
static bool has_xattrs(const struct mapfs_fs *fs, const struct mapfs_inode *ip)
{
	return ip->xattr || mapfs_xattr_in_inode(fs, ip->ino);
}

/* Give back everything ip holds (blocks, its inode slot). ip's link count
 * is already zero and no name points to it. */
static int free_inode_now(struct mapfs_fs *fs, struct mapfs_inode *ip)
{
	int err = 0;

	if (has_xattrs(fs, ip)) {
		err = mapfs_xattr_free(fs, ip);
		if (err < 0)
			return err;
	}
	if (mapfs_inode_has_blocks(ip) && (ip->blocks || ip->size)) {
		/* Blocks fallocated past EOF (KEEP_SIZE): a truncate to 0
		 * of an empty file frees nothing, so free them by range. */
		if (ip->flags & MAPFS_FL_KEEPSIZE) {
			err = mapfs_file_free_range(fs, ip, 0,
				(fs->g.maxfilesize >> fs->g.bshift) + 1);
			if (err < 0)
				return err;
		}
		err = mapfs_file_truncate(fs, ip, 0);
		if (err < 0)
			return err;
	}
	if (is_dir(ip))
		mapfs_dh_drop(fs, ip->ino);
	mapfs_inode_clear(fs, ip->ino);
	return mapfs_free_inode(fs, ip->ino, is_dir(ip));
}

/*
 * The orphan list is singly linked on disk, newest first. Taking an
 * inode off it needs its predecessor: walking from the head made each
 * removal O(list) and a last close of many open unlinked files or
 * O_TMPFILEs, oldest first, quadratic (xfstests generic/531: 20,000
 * tmpfiles took 426 s to open while their predecessors were reaped).
 * This index maps each orphan to its predecessor (0: the head), in
 * memory only: built by one walk at the first removal that needs it,
 * kept up to date by push, removal and the mount's reaping, and checked
 * against the image at every use (a wrong or missing entry means a walk
 * and a rebuild, never a wrong unlink). Open addressing, linear probing,
 * backward-shift deletion; 16 bytes a slot, at most half full.
 */
struct mapfs_oidx {
	size_t cap, n;		/* cap: a power of two */
	uint64_t *key, *val;	/* key 0: empty slot */
};

static size_t oidx_slot(const struct mapfs_oidx *x, uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 17) & (x->cap - 1);
}

void mapfs_oidx_free(struct mapfs_fs *fs)
{
	if (!fs->in->oidx)
		return;
	free(fs->in->oidx->key);
	free(fs->in->oidx->val);
	free(fs->in->oidx);
	fs->in->oidx = NULL;
}

/* The slot holding ino, or cap if absent. */
static size_t oidx_find(const struct mapfs_oidx *x, uint64_t ino)
{
	size_t i = oidx_slot(x, ino);

	while (x->key[i]) {
		if (x->key[i] == ino)
			return i;
		i = (i + 1) & (x->cap - 1);
	}
	return x->cap;
}

static void oidx_insert(struct mapfs_oidx *x, uint64_t ino, uint64_t prev)
{
	size_t i = oidx_slot(x, ino);

	while (x->key[i] && x->key[i] != ino)
		i = (i + 1) & (x->cap - 1);
	if (!x->key[i])
		x->n++;
	x->key[i] = ino;
	x->val[i] = prev;
}

/* Set ino's predecessor; on a failed allocation the index is dropped
 * (removals walk the list again). */
static void oidx_put(struct mapfs_fs *fs, uint64_t ino, uint64_t prev)
{
	struct mapfs_oidx *x = fs->in->oidx;

	if (!x)
		return;
	if ((x->n + 1) * 2 > x->cap) {
		struct mapfs_oidx nx = { x->cap * 2, 0, NULL, NULL };

		nx.key = calloc(nx.cap, sizeof(*nx.key));
		nx.val = calloc(nx.cap, sizeof(*nx.val));
		if (!nx.key || !nx.val) {
			free(nx.key);
			free(nx.val);
			mapfs_oidx_free(fs);
			return;
		}
		for (size_t i = 0; i < x->cap; i++)
			if (x->key[i])
				oidx_insert(&nx, x->key[i], x->val[i]);
		free(x->key);
		free(x->val);
		*x = nx;
	}
	oidx_insert(x, ino, prev);
}

static void oidx_del(struct mapfs_fs *fs, uint64_t ino)
{
	struct mapfs_oidx *x = fs->in->oidx;
	size_t i, j, mask;

	if (!x || (i = oidx_find(x, ino)) == x->cap)
		return;
	mask = x->cap - 1;
	/* Backward shift: move later entries of the run into the hole
	 * when their home slot does not lie between the hole and them. */
	for (j = (i + 1) & mask; x->key[j]; j = (j + 1) & mask) {
		size_t h = oidx_slot(x, x->key[j]);

		if (((j - h) & mask) >= ((j - i) & mask)) {
			x->key[i] = x->key[j];
			x->val[i] = x->val[j];
			i = j;
		}
	}
	x->key[i] = 0;
	x->n--;
}

/* Build the index from the list on the image. 0 or -errno. */
static int oidx_build(struct mapfs_fs *fs)
{
	struct mapfs_oidx *x;
	mapfs_ino_t cur = fs->orphan_head, prev = 0;
	uint64_t steps = 0;

	mapfs_oidx_free(fs);
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->cap = 1024;
	x->key = calloc(x->cap, sizeof(*x->key));
	x->val = calloc(x->cap, sizeof(*x->val));
	fs->in->oidx = x;
	if (!x->key || !x->val) {
		mapfs_oidx_free(fs);
		return -ENOMEM;
	}
	while (cur) {
		struct mapfs_inode p;
		int err = mapfs_inode_load(fs, cur, &p);

		if (err < 0 || ++steps > fs->g.ninodes) {
			mapfs_oidx_free(fs);
			return MAPFS_CORRUPT(fs, "orphan list broken at inode "
					     "%llu", (unsigned long long)cur);
		}
		oidx_put(fs, cur, prev);
		if (!fs->in->oidx)
			return -ENOMEM;
		prev = cur;
		cur = p.orphan_next;
	}
	return 0;
}

/* fs->orphan_head changed. Without the journal the superblock is stored
 * at once (after the inode it points to: soft-updates order). With it,
 * mapfs_op_end stores it once, in the operation's record, when
 * the head differs from what it last stored: an unlink and the forget
 * that frees the inode would otherwise encode and checksum the 4 KiB
 * superblock twice more each. */
static void orphan_head_changed(struct mapfs_fs *fs)
{
	if (!fs->j)
		mapfs_super_store(fs);
}

/* ip's link count just reached zero: free it, or park it on the orphan
 * list while something still uses it (open file, kernel reference). */
static void orphan_push(struct mapfs_fs *fs, struct mapfs_inode *ip)
{
	/* Inode first, then the head that points to it. */
	ip->flags |= MAPFS_FL_ORPHAN;
	ip->orphan_next = fs->orphan_head;
	mapfs_inode_store(fs, ip);
	fs->orphan_head = ip->ino;
	orphan_head_changed(fs);
	oidx_put(fs, ip->ino, 0);
	if (ip->orphan_next)
		oidx_put(fs, ip->orphan_next, ip->ino);
}

static int drop_inode(struct mapfs_fs *fs, struct mapfs_inode *ip)
{
	int busy = fs->inode_busy ? fs->inode_busy(fs->busy_arg, ip->ino)
				  : MAPFS_BUSY_NONE;

	switch (busy) {
	case MAPFS_BUSY_OPEN:
	case MAPFS_BUSY_REF:
		/* Open, or only looked up by the kernel (which may still ask
		 * for its attributes): freed at the last close or forget
		 * (mapfs_op_reap). On the list until then, so that after a
		 * crash the next mount frees it instead of leaving it to
		 * fsck; the kernel looks up every name it unlinks, so this
		 * is nearly every unlink through the daemon. */
		orphan_push(fs, ip);
		return 0;
	default:
		return free_inode_now(fs, ip);
	}
}

int mapfs_op_orphan_add(struct mapfs_fs *fs, mapfs_ino_t ino)
{
	struct mapfs_inode ip;
	int err = mapfs_inode_load(fs, ino, &ip);

	if (err < 0)
		return err;
	if (ip.nlink > 0 || (ip.flags & MAPFS_FL_ORPHAN))
		return 0;
	orphan_push(fs, &ip);
	return 0;
}

/* Allocate and initialize (but do not name) a new inode under parent. */
static int new_inode(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		     const struct mapfs_inode *parent, uint32_t mode,
		     uint64_t rdev, struct mapfs_inode *ip)
{
	struct mapfs_timespec now = mapfs_now();
	bool dir = (mode & MAPFS_IFMT) == MAPFS_IFDIR;
	mapfs_ino_t ino;
	int err;

	err = mapfs_alloc_inode(fs, parent->ino, dir, &ino);
	if (err < 0)
		return err;
	memset(ip, 0, sizeof(*ip));
	ip->ino = ino;
	ip->mode = mode;
	ip->nlink = dir ? 2 : 1;
	ip->uid = cr->uid;
	ip->gid = cr->gid;
	/* A setgid directory passes on its group, and its setgid bit to
	 * subdirectories (BSD semantics, as Linux does). */
	if (parent->mode & S_ISGID) {
		ip->gid = parent->gid;
		if (dir)
			ip->mode |= S_ISGID;
	}
	if ((mode & MAPFS_IFMT) == MAPFS_IFCHR ||
	    (mode & MAPFS_IFMT) == MAPFS_IFBLK)
		ip->rdev = rdev;
	ip->gen = mapfs_inode_new_gen(fs, ino, now);
	ip->atime = ip->mtime = ip->ctime = ip->btime = now;
	if (dir) {
		err = mapfs_dir_init(fs, ip, parent->ino, cr->uid == 0);
		if (err < 0) {
			mapfs_inode_clear(fs, ino);
			mapfs_free_inode(fs, ino, true);
			return err;
		}
	} else {
		mapfs_inode_store(fs, ip);
	}
	return 0;
}

/* Undo new_inode after a failure to name it. */
static void discard_inode(struct mapfs_fs *fs, struct mapfs_inode *ip)
{
	ip->nlink = 0;
	free_inode_now(fs, ip);
}

/* Common front of every creation: check the name, load the parent, make
 * sure the name is free. */
static int create_prep(struct mapfs_fs *fs, mapfs_ino_t dir, const char *name,
		       struct mapfs_inode *d)
{
	mapfs_ino_t ino;
	uint32_t type;
	int len = load_dir_name(fs, dir, name, d), err;

	if (len < 0)
		return len;
	if (d->nlink == 0)
		return -ENOENT;		/* directory being removed */
	if (is_dot_or_dotdot(name, len))
		return -EEXIST;
	if (is_immutable(d))
		return -EPERM;
	err = mapfs_dir_lookup(fs, d, name, (uint32_t)len, &ino, &type);
	if (err == 0)
		return -EEXIST;
	if (err != -ENOENT)
		return err;
	return len;
}

/* Name the fresh inode ip in d and update d.
 * Crash safety: ip was initialized and stored by new_inode (rule 1); a
 * new directory's parent link count is raised before the entry (rule 3);
 * the entry is the last store, so a daemon killed earlier leaves an
 * unnamed inode (a leak fsck -p frees). With the journal the whole
 * operation is one record: all of it or none survives a power cut. */
static int create_finish(struct mapfs_fs *fs, struct mapfs_inode *d,
			 const char *name, int len, struct mapfs_inode *ip,
			 bool use_reserve)
{
	struct mapfs_timespec now = ip->ctime;
	int err;

	if (is_dir(ip)) {
		/* The new ".." counts on the parent: raise it first. */
		d->nlink++;
		mapfs_inode_store(fs, d);
	}
	err = mapfs_dir_add(fs, d, name, (uint32_t)len, ip->ino,
			    mapfs_mode_to_dt(ip->mode), use_reserve);
	if (err < 0) {
		if (is_dir(ip)) {
			d->nlink--;
			mapfs_inode_store(fs, d);
		}
		discard_inode(fs, ip);
		return err;
	}
	touch(d, true, now);
	mapfs_inode_store(fs, d);
	return 0;
}

/* The fresh inode ip becomes an O_TMPFILE: no name, link count 0, on
 * the orphan list from birth (whoever asked for it holds it open), so
 * that its last close frees it (mapfs_op_reap) and a crash frees it at
 * the next mount. Its parent directory does not change. */
static void tmpfile_finish(struct mapfs_fs *fs, struct mapfs_inode *ip)
{
	ip->nlink = 0;
	orphan_push(fs, ip);
}

/*
 * Creation with POSIX ACLs (FUSE leaves inheritance to the filesystem):
 * with a default ACL on the parent, the new inode's mode is narrowed by
 * it and it gets an access ACL unless the mode says it all (Linux's
 * posix_acl_create); a new directory also inherits the default ACL.
 * Without one, the umask applies. The ACLs are written before the name
 * is added (initialize before pointing).
 */
static int mknod_acl(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		     struct mapfs_inode *d, const char *name, int len,
		     uint32_t mode, uint64_t rdev, uint32_t umask,
		     struct mapfs_inode *ip)
{
	bool dir = (mode & MAPFS_IFMT) == MAPFS_IFDIR;
	uint8_t *def = NULL, *acc = NULL;
	uint32_t perm = mode & 07777;
	ssize_t n = -ENODATA;
	int err, need = 0;

	if (has_xattrs(fs, d))
		n = mapfs_xattr_get(fs, d, "system.posix_acl_default", NULL, 0);
	if (n == -ENODATA) {
		perm &= ~umask;
	} else if (n < 0) {
		return (int)n;
	} else {
		def = malloc((size_t)n + 1);
		acc = malloc((size_t)n + 1);
		if (!def || !acc) {
			err = -ENOMEM;
			goto out;
		}
		n = mapfs_xattr_get(fs, d, "system.posix_acl_default", def,
				    (size_t)n);
		if (n < 0) {
			err = (int)n;
			goto out;
		}
		memcpy(acc, def, (size_t)n);
		need = mapfs_acl_create_masq(acc, (size_t)n, &perm);
		if (need < 0) {
			/* A malformed default ACL is ignored, as if absent. */
			perm = (mode & 07777) & ~umask;
			need = 0;
			n = 0;
		}
	}
	err = new_inode(fs, cr, d, (mode & MAPFS_IFMT) | perm, rdev, ip);
	if (err < 0)
		goto out;
	if (n > 0 && dir)
		err = mapfs_xattr_set(fs, ip, "system.posix_acl_default", def,
				      (size_t)n, 0, cr->uid == 0);
	if (err == 0 && need > 0)
		err = mapfs_xattr_set(fs, ip, "system.posix_acl_access", acc,
				      (size_t)n, 0, cr->uid == 0);
	if (err < 0) {
		discard_inode(fs, ip);
		goto out;
	}
	if (name)
		err = create_finish(fs, d, name, len, ip, cr->uid == 0);
	else
		tmpfile_finish(fs, ip);
out:
	free(def);
	free(acc);
	return err;
}

#define NO_ACL MAPFS_NO_ACL	/* mknod_common: no ACL handling */

static int mknod_common(struct mapfs_fs *fs, const struct mapfs_cred *cr,
			mapfs_ino_t dir, const char *name, uint32_t mode,
			uint64_t rdev, uint32_t umask, struct mapfs_inode *ip)
{
	struct mapfs_inode d;
	int len, err;

	switch (mode & MAPFS_IFMT) {
	case 0:
		mode |= MAPFS_IFREG;
		break;
	case MAPFS_IFREG:
	case MAPFS_IFDIR:
	case MAPFS_IFCHR:
	case MAPFS_IFBLK:
	case MAPFS_IFIFO:
	case MAPFS_IFSOCK:
		break;
	default:
		return -EINVAL;
	}
	len = create_prep(fs, dir, name, &d);
	if (len < 0)
		return len;
	if ((mode & MAPFS_IFMT) == MAPFS_IFDIR && d.nlink >= MAPFS_LINK_MAX)
		return -EMLINK;
	if (umask != NO_ACL)
		return mknod_acl(fs, cr, &d, name, len, mode, rdev, umask,
				 ip);
	err = new_inode(fs, cr, &d, mode & (MAPFS_IFMT | 07777), rdev, ip);
	if (err < 0)
		return err;
	return create_finish(fs, &d, name, len, ip, cr->uid == 0);
}

int mapfs_op_mknod(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		   mapfs_ino_t dir, const char *name, uint32_t mode,
		   uint64_t rdev, struct mapfs_inode *ip)
{
	return mknod_common(fs, cr, dir, name, mode, rdev, NO_ACL, ip);
}

int mapfs_op_mknod_acl(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		       mapfs_ino_t dir, const char *name, uint32_t mode,
		       uint64_t rdev, uint32_t umask, struct mapfs_inode *ip)
{
	return mknod_common(fs, cr, dir, name, mode, rdev, umask & 0777u,
			    ip);
}

int mapfs_op_tmpfile(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		     mapfs_ino_t dir, uint32_t mode, uint32_t umask,
		     struct mapfs_inode *ip)
{
	struct mapfs_inode d;
	int err;

	if ((mode & MAPFS_IFMT) != 0 && (mode & MAPFS_IFMT) != MAPFS_IFREG)
		return -EINVAL;
	mode = MAPFS_IFREG | (mode & 07777);
	err = load_dir(fs, dir, &d);
	if (err < 0)
		return err;
	if (d.nlink == 0)
		return -ENOENT;		/* directory being removed */
	if (umask != NO_ACL)
		return mknod_acl(fs, cr, &d, NULL, 0, mode, 0, umask & 0777u,
				 ip);
	err = new_inode(fs, cr, &d, mode, 0, ip);
	if (err < 0)
		return err;
	tmpfile_finish(fs, ip);
	return 0;
}

int mapfs_op_symlink(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		     mapfs_ino_t dir, const char *name, const char *target,
		     struct mapfs_inode *ip)
{
	size_t tlen = strnlen(target, MAPFS_SYMLINK_MAX + 1);
	struct mapfs_inode d;
	int len, err;

	if (tlen == 0)
		return -ENOENT;
	if (tlen > MAPFS_SYMLINK_MAX)
		return -ENAMETOOLONG;
	len = create_prep(fs, dir, name, &d);
	if (len < 0)
		return len;
	err = new_inode(fs, cr, &d, MAPFS_IFLNK | 0777, 0, ip);
	if (err < 0)
		return err;
	if (tlen <= MAPFS_FAST_SYMLINK_MAX) {
		memcpy(ip->symlink, target, tlen);
		ip->size = tlen;
		mapfs_inode_store(fs, ip);
	} else {
		ssize_t n = mapfs_file_write(fs, ip, 0, target, tlen,
					     cr->uid == 0);
		if (n != (ssize_t)tlen) {
			discard_inode(fs, ip);
			return n < 0 ? (int)n : -ENOSPC;
		}
		/* The target is metadata: journal it like the rest. */
		mapfs_jdirty(fs, mapfs_block(fs, ip->blk[0]), tlen);
	}
	return create_finish(fs, &d, name, len, ip, cr->uid == 0);
}

static int orphan_unlink(struct mapfs_fs *fs, mapfs_ino_t ino,
			 mapfs_ino_t next);

/* Crash safety: the link count is raised and stored before the new
 * entry is written (rule 3): a kill in between leaves a count one too
 * high, never a name without its count. An inode on the orphan list (an
 * O_TMPFILE, linked by linkat; the kernel refuses any other unlinked
 * inode, I_LINKABLE) leaves the list first, so a kill in between leaks
 * it, which fsck -p frees. One journal record. */
int mapfs_op_link(struct mapfs_fs *fs, mapfs_ino_t ino, mapfs_ino_t newdir,
		  const char *name, struct mapfs_inode *ip)
{
	struct mapfs_timespec now = mapfs_now();
	struct mapfs_inode d;
	bool orphan;
	int len, err;

	err = mapfs_inode_load(fs, ino, ip);
	if (err < 0)
		return err;
	if (is_dir(ip) || is_pinned(ip))
		return -EPERM;
	orphan = ip->nlink == 0 && (ip->flags & MAPFS_FL_ORPHAN);
	if (ip->nlink == 0 && !orphan)
		return -ENOENT;
	if (ip->nlink >= MAPFS_LINK_MAX)
		return -EMLINK;
	len = create_prep(fs, newdir, name, &d);
	if (len < 0)
		return len;
	if (orphan) {
		err = orphan_unlink(fs, ino, ip->orphan_next);
		if (err < 0)
			return err;
		ip->flags &= ~MAPFS_FL_ORPHAN;
		ip->orphan_next = 0;
	}
	ip->nlink++;
	touch(ip, false, now);
	mapfs_inode_store(fs, ip);
	err = mapfs_dir_add(fs, &d, name, (uint32_t)len, ino,
			    mapfs_mode_to_dt(ip->mode), false);
	if (err < 0) {
		ip->nlink--;
		if (orphan)
			orphan_push(fs, ip);
		else
			mapfs_inode_store(fs, ip);
		return err;
	}
	touch(&d, true, now);
	mapfs_inode_store(fs, &d);
	return 0;
}

/* Drop one link of ip (already unnamed), freeing it at zero. */
static int unlink_inode(struct mapfs_fs *fs, struct mapfs_inode *ip,
			struct mapfs_timespec now)
{
	if (is_dir(ip))
		ip->nlink = 0;	/* its own "." and its parent's name */
	else if (ip->nlink > 0)
		ip->nlink--;
	touch(ip, false, now);
	if (ip->nlink > 0) {
		mapfs_inode_store(fs, ip);
		return 0;
	}
	return drop_inode(fs, ip);
}

/* Crash safety: the entry is removed first, then the link count drops,
 * then (at zero, when nothing holds the inode) its blocks and the inode
 * are freed (rule 2); an inode still open goes on the orphan list
 * instead of being freed. A kill in between leaves a count too high or a
 * leak, never a name for a freed inode. One journal record. */
static int remove_common(struct mapfs_fs *fs, mapfs_ino_t dir,
			 const char *name, bool rmdir)
{
	struct mapfs_timespec now = mapfs_now();
	struct mapfs_inode d, victim;
	mapfs_ino_t ino;
	uint32_t type;
	int len = load_dir_name(fs, dir, name, &d), err;

	if (len < 0)
		return len;
	if (is_dot_or_dotdot(name, len))
		return rmdir ? (len == 1 ? -EINVAL : -ENOTEMPTY) : -EISDIR;
	err = mapfs_dir_lookup(fs, &d, name, (uint32_t)len, &ino, &type);
	if (err < 0)
		return err;
	err = mapfs_inode_load(fs, ino, &victim);
	if (err < 0)
		return err;
	/* Linux's may_delete: nothing leaves an append-only or immutable
	 * directory, and such files are not removed. */
	if (is_pinned(&d) || is_pinned(&victim))
		return -EPERM;
	if (rmdir) {
		if (!is_dir(&victim))
			return -ENOTDIR;
		err = mapfs_dir_is_empty(fs, &victim);
		if (err < 0)
			return err;
		if (!err)
			return -ENOTEMPTY;
	} else if (is_dir(&victim)) {
		return -EISDIR;
	}
	err = mapfs_dir_remove(fs, &d, name, (uint32_t)len, &ino);
	if (err < 0)
		return err;
	if (rmdir && d.nlink > 2)
		d.nlink--;
	touch(&d, true, now);
	mapfs_inode_store(fs, &d);
	return unlink_inode(fs, &victim, now);
}

int mapfs_op_unlink(struct mapfs_fs *fs, mapfs_ino_t dir, const char *name)
{
	return remove_common(fs, dir, name, false);
}

int mapfs_op_rmdir(struct mapfs_fs *fs, mapfs_ino_t dir, const char *name)
{
	return remove_common(fs, dir, name, true);
}

/* True if dir `a` is `b` or inside it (walks ".." from a to the root). */
static int is_inside(struct mapfs_fs *fs, mapfs_ino_t a, mapfs_ino_t b)
{
	uint64_t steps = 0;

	while (1) {
		struct mapfs_inode ip;
		mapfs_ino_t parent;
		uint32_t type;
		int err;

		if (a == b)
			return 1;
		if (a == MAPFS_ROOT_INO)
			return 0;
		if (++steps > fs->ndirs + 2)
			return MAPFS_CORRUPT(fs, "directory loop above inode "
					     "%llu", (unsigned long long)a);
		err = load_dir(fs, a, &ip);
		if (err < 0)
			return err == -ENOTDIR ? -EUCLEAN : err;
		err = mapfs_dir_lookup(fs, &ip, "..", 2, &parent, &type);
		if (err < 0)
			return err == -ENOENT ? -EUCLEAN : err;
		a = parent;
	}
}

/* Point moved directory mv's ".." at its new parent. */
static int reparent(struct mapfs_fs *fs, struct mapfs_inode *mv,
		    struct mapfs_inode *from, struct mapfs_inode *to)
{
	int err = mapfs_dir_replace(fs, mv, "..", 2, to->ino, MAPFS_DT_DIR);

	if (err < 0)
		return err;
	if (from->nlink > 2)
		from->nlink--;
	return 0;
}

/* Crash safety: the new name is set (replacing the target's entry in
 * place, or added) before the old one is removed (rule 3); a replaced
 * target loses its link only after its name points elsewhere (rule 2); a
 * moved directory's ".." and the parents' counts follow. A kill in
 * between leaves both names (a link count fsck -p corrects), never none.
 * With the journal it is one record: after a power cut the target is
 * the old file or the new one. */
int mapfs_op_rename(struct mapfs_fs *fs, mapfs_ino_t odir, const char *oname,
		    mapfs_ino_t ndir, const char *nname, unsigned flags)
{
	if (flags & MAPFS_RENAME_WHITEOUT)
		return -EINVAL;		/* a whiteout needs an owner */
	return mapfs_op_rename_cr(fs, NULL, odir, oname, ndir, nname, flags);
}

/* RENAME_WHITEOUT (overlayfs moving an upper entry that hides a lower
 * one): the whiteout is made first (rule 1), then takes the old name in
 * place of its removal; with the journal the rename and the whiteout
 * are one record. */
int mapfs_op_rename_cr(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		       mapfs_ino_t odir, const char *oname, mapfs_ino_t ndir,
		       const char *nname, unsigned flags)
{
	struct mapfs_timespec now = mapfs_now();
	struct mapfs_inode od, nd_store, *nd, src, dst, wh;
	mapfs_ino_t sino, dino = 0, junk;
	uint32_t stype, dtype = 0;
	int olen = name_len(oname), nlen = name_len(nname), err;
	bool have_dst, cross, whiteout = flags & MAPFS_RENAME_WHITEOUT;

	if (olen < 0)
		return olen;
	if (nlen < 0)
		return nlen;
	if ((flags & MAPFS_RENAME_NOREPLACE) && (flags & MAPFS_RENAME_EXCHANGE))
		return -EINVAL;
	if (whiteout && ((flags & MAPFS_RENAME_EXCHANGE) || !cr))
		return -EINVAL;
	if (flags & ~(MAPFS_RENAME_NOREPLACE | MAPFS_RENAME_EXCHANGE |
		      MAPFS_RENAME_WHITEOUT))
		return -EINVAL;
	if (is_dot_or_dotdot(oname, olen) || is_dot_or_dotdot(nname, nlen))
		return -EINVAL;
	err = load_dir(fs, odir, &od);
	if (err < 0)
		return err;
	cross = odir != ndir;
	nd = &od;
	if (cross) {
		nd = &nd_store;
		err = load_dir(fs, ndir, nd);
		if (err < 0)
			return err;
	}
	err = mapfs_dir_lookup(fs, &od, oname, (uint32_t)olen, &sino, &stype);
	if (err < 0)
		return err;
	err = mapfs_dir_lookup(fs, nd, nname, (uint32_t)nlen, &dino, &dtype);
	if (err < 0 && err != -ENOENT)
		return err;
	have_dst = err == 0;
	if (have_dst && (flags & MAPFS_RENAME_NOREPLACE))
		return -EEXIST;
	if (!have_dst && (flags & MAPFS_RENAME_EXCHANGE))
		return -ENOENT;
	if (have_dst && dino == sino)
		return 0;	/* two names of one inode: nothing to do */
	err = mapfs_inode_load(fs, sino, &src);
	if (err < 0)
		return err;
	if (have_dst) {
		err = mapfs_inode_load(fs, dino, &dst);
		if (err < 0)
			return err;
	}
	/* chattr flags: the old name goes (so its directory may be neither
	 * append-only nor immutable), a new one is written, a replaced or
	 * exchanged name goes too. */
	if (is_pinned(&od) || is_pinned(&src) || is_immutable(nd) ||
	    (have_dst && (is_pinned(nd) || is_pinned(&dst))))
		return -EPERM;
	/* A directory may not move into itself or below itself. */
	if (is_dir(&src) && cross) {
		err = is_inside(fs, ndir, sino);
		if (err)
			return err < 0 ? err : -EINVAL;
	}
	if ((flags & MAPFS_RENAME_EXCHANGE) && is_dir(&dst) && cross) {
		err = is_inside(fs, odir, dino);
		if (err)
			return err < 0 ? err : -EINVAL;
	}

	if (flags & MAPFS_RENAME_EXCHANGE) {
		/* Both names exist: point each at the other inode. */
		if (cross && is_dir(&src) != is_dir(&dst)) {
			struct mapfs_inode *gains = is_dir(&src) ? nd : &od;
			if (gains->nlink >= MAPFS_LINK_MAX)
				return -EMLINK;
		}
		err = mapfs_dir_replace(fs, &od, oname, (uint32_t)olen, dino,
					dtype);
		if (err < 0)
			return err;
		err = mapfs_dir_replace(fs, nd, nname, (uint32_t)nlen, sino,
					stype);
		if (err < 0)
			return err;
		if (cross && is_dir(&src)) {
			nd->nlink++;
			err = reparent(fs, &src, &od, nd);
			if (err < 0)
				return err;
		}
		if (cross && is_dir(&dst)) {
			od.nlink++;
			err = reparent(fs, &dst, nd, &od);
			if (err < 0)
				return err;
		}
		touch(&src, false, now);
		touch(&dst, false, now);
		mapfs_inode_store(fs, &src);
		mapfs_inode_store(fs, &dst);
		goto dirs;
	}

	if (have_dst) {
		if (is_dir(&src) && !is_dir(&dst))
			return -ENOTDIR;
		if (!is_dir(&src) && is_dir(&dst))
			return -EISDIR;
		if (is_dir(&dst)) {
			err = mapfs_dir_is_empty(fs, &dst);
			if (err < 0)
				return err;
			if (!err)
				return -ENOTEMPTY;
		}
	} else if (is_dir(&src) && cross && nd->nlink >= MAPFS_LINK_MAX) {
		return -EMLINK;
	}

	if (whiteout) {
		err = new_inode(fs, cr, &od, MAPFS_IFCHR, 0, &wh);
		if (err < 0)
			return err;
	}
	/* Raise the link count while both names may exist, set the new
	 * name, remove the old one (or point it at the whiteout), then
	 * settle the count. */
	src.nlink++;
	mapfs_inode_store(fs, &src);
	if (have_dst)
		err = mapfs_dir_replace(fs, nd, nname, (uint32_t)nlen, sino,
					stype);
	else
		err = mapfs_dir_add(fs, nd, nname, (uint32_t)nlen, sino, stype,
				    false);
	if (err < 0) {
		src.nlink--;
		mapfs_inode_store(fs, &src);
		if (whiteout)
			discard_inode(fs, &wh);
		return err;
	}
	if (whiteout)
		err = mapfs_dir_replace(fs, &od, oname, (uint32_t)olen, wh.ino,
					MAPFS_DT_CHR);
	else
		err = mapfs_dir_remove(fs, &od, oname, (uint32_t)olen, &junk);
	if (err < 0)
		return err;
	src.nlink--;
	if (is_dir(&src) && cross) {
		if (!(have_dst && is_dir(&dst)))
			nd->nlink++;
		err = reparent(fs, &src, &od, nd);
		if (err < 0)
			return err;
	} else if (is_dir(&src) && have_dst && is_dir(&dst)) {
		/* Same directory: dst's ".." reference goes away. */
		if (nd->nlink > 2)
			nd->nlink--;
	}
	touch(&src, false, now);
	mapfs_inode_store(fs, &src);
	if (have_dst) {
		err = unlink_inode(fs, &dst, now);
		if (err < 0)
			return err;
	}
dirs:
	touch(&od, true, now);
	mapfs_inode_store(fs, &od);
	if (cross) {
		touch(nd, true, now);
		mapfs_inode_store(fs, nd);
	}
	return 0;
}

ssize_t mapfs_op_readlink(struct mapfs_fs *fs, mapfs_ino_t ino, char *buf,
			  size_t bufsize)
{
	struct mapfs_inode ip;
	size_t n;
	int err = mapfs_inode_load(fs, ino, &ip);

	if (err < 0)
		return err;
	if ((ip.mode & MAPFS_IFMT) != MAPFS_IFLNK)
		return -EINVAL;
	n = ip.size < bufsize ? ip.size : bufsize;
	if (ip.size <= MAPFS_FAST_SYMLINK_MAX) {
		memcpy(buf, ip.symlink, n);
		return (ssize_t)n;
	}
	return mapfs_file_read(fs, &ip, 0, buf, n);
}

/* Rewrite ip's access ACL (if any) for its new mode. */
static int acl_chmod(struct mapfs_fs *fs, struct mapfs_inode *ip,
		     bool use_reserve)
{
	static const char name[] = "system.posix_acl_access";
	ssize_t n = mapfs_xattr_get(fs, ip, name, NULL, 0);
	uint8_t *acl;
	int err;

	if (n == -ENODATA)
		return 0;
	if (n < 0)
		return (int)n;
	acl = malloc((size_t)n + 1);
	if (!acl)
		return -ENOMEM;
	n = mapfs_xattr_get(fs, ip, name, acl, (size_t)n);
	err = n < 0 ? (int)n : mapfs_acl_chmod(acl, (size_t)n, ip->mode);
	if (err == 0)
		err = mapfs_xattr_set(fs, ip, name, acl, (size_t)n,
				      MAPFS_XATTR_REPLACE, use_reserve);
	free(acl);
	return err == -EINVAL ? 0 : err;	/* malformed: left alone */
}

int mapfs_op_setattr(struct mapfs_fs *fs, mapfs_ino_t ino,
		     const struct mapfs_setattr *sa, bool use_reserve,
		     struct mapfs_inode *ip)
{
	struct mapfs_timespec now = mapfs_now();
	unsigned v = sa->valid;
	int err;

	err = mapfs_inode_load(fs, ino, ip);
	if (err < 0)
		return err;
	/* Linux's notify_change: nothing changes on an immutable inode;
	 * an append-only one keeps its mode, owner and size, and takes no
	 * explicit times but "now" (utimensat(NULL)). Times stay settable
	 * on it because the kernel's writeback cache sends the mtime and
	 * ctime of appended data this way. */
	if (is_immutable(ip) && v)
		return -EPERM;
	if ((ip->flags & MAPFS_FL_APPEND) &&
	    ((v & (MAPFS_SET_MODE | MAPFS_SET_UID | MAPFS_SET_GID |
		   MAPFS_SET_SIZE)) ||
	     ((v & MAPFS_SET_ATIME) && !(v & MAPFS_SET_TIMES_NOW)) ||
	     ((v & MAPFS_SET_MTIME) &&
	      !(v & (MAPFS_SET_CTIME | MAPFS_SET_TIMES_NOW)))))
		return -EPERM;
	if (v & MAPFS_SET_SIZE) {
		if (is_dir(ip))
			return -EISDIR;
		if ((ip->mode & MAPFS_IFMT) != MAPFS_IFREG)
			return -EINVAL;
		if (sa->size > fs->g.maxfilesize)
			return -EFBIG;
		if (sa->size != ip->size) {
			bool shrink = sa->size < ip->size;

			err = mapfs_file_truncate(fs, ip, sa->size);
			if (err < 0)
				return err;
			/* shrinking freed every block past the new end */
			if (shrink && (ip->flags & MAPFS_FL_KEEPSIZE)) {
				ip->flags &= ~MAPFS_FL_KEEPSIZE;
				mapfs_inode_store(fs, ip);
			}
		}
		touch(ip, true, now);
	}
	if (v & MAPFS_SET_MODE) {
		ip->mode = (ip->mode & MAPFS_IFMT) | (sa->mode & 07777);
		touch(ip, false, now);
		/* chmod keeps an access ACL in step (posix_acl_chmod) */
		if (has_xattrs(fs, ip)) {
			err = acl_chmod(fs, ip, use_reserve);
			if (err < 0)
				return err;
		}
	}
	if (v & (MAPFS_SET_UID | MAPFS_SET_GID)) {
		if (v & MAPFS_SET_UID)
			ip->uid = sa->uid;
		if (v & MAPFS_SET_GID)
			ip->gid = sa->gid;
		/* Linux: a chown of a non-directory clears setuid, and
		 * setgid when group-execute makes it a real setgid bit. */
		if (!(v & MAPFS_SET_MODE) && !is_dir(ip)) {
			ip->mode &= ~(uint32_t)S_ISUID;
			if (ip->mode & S_IXGRP)
				ip->mode &= ~(uint32_t)S_ISGID;
		}
		touch(ip, false, now);
	}
	if (v & (MAPFS_SET_ATIME | MAPFS_SET_ATIME_NOW)) {
		ip->atime = (v & MAPFS_SET_ATIME_NOW) ? now : sa->atime;
		touch(ip, false, now);
	}
	if (v & (MAPFS_SET_MTIME | MAPFS_SET_MTIME_NOW)) {
		ip->mtime = (v & MAPFS_SET_MTIME_NOW) ? now : sa->mtime;
		touch(ip, false, now);
	}
	if (v & MAPFS_SET_CTIME)
		ip->ctime = sa->ctime;
	if (ip->atime.nsec >= 1000000000u || ip->mtime.nsec >= 1000000000u ||
	    ip->ctime.nsec >= 1000000000u)
		return -EINVAL;
	mapfs_inode_store(fs, ip);
	return 0;
}

/* What Linux does to a regular file that is written or truncated
 * (file_remove_privs): setuid goes, setgid too when group-execute makes
 * it a real setgid bit (MAPFS_KILL_SUIDGID: the caller lacks CAP_FSETID)
 * or when the caller is outside the file's group (MAPFS_KILL_SGID: the
 * daemon knows the caller's groups, the core does not), and
 * security.capability goes whoever writes. ctime moves when something
 * did. The FUSE kernel leaves this to us once we take
 * FUSE_HANDLE_KILLPRIV_V2 (fs/fuse/attr.c). Returns 1 if the inode
 * changed, 0 if not, or a negative errno. */
int mapfs_op_killpriv(struct mapfs_fs *fs, mapfs_ino_t ino, unsigned kill,
		      struct mapfs_inode *ip)
{
	static const char cap[] = "security.capability";
	uint32_t mode;
	bool changed = false;
	int err = mapfs_inode_load(fs, ino, ip);

	if (err < 0)
		return err;
	if ((ip->mode & MAPFS_IFMT) != MAPFS_IFREG || is_immutable(ip))
		return 0;
	mode = ip->mode;
	if (kill & MAPFS_KILL_SUIDGID) {
		mode &= ~(uint32_t)S_ISUID;
		if (mode & S_IXGRP)
			mode &= ~(uint32_t)S_ISGID;
	}
	if (kill & MAPFS_KILL_SGID)
		mode &= ~(uint32_t)S_ISGID;
	if (has_xattrs(fs, ip)) {
		/* removing an absent name changes nothing: -ENODATA */
		err = mapfs_xattr_set(fs, ip, cap, NULL, 0, 0, true);
		if (err < 0 && err != -ENODATA)
			return err;
		changed = err == 0;
	}
	if (mode != ip->mode) {
		ip->mode = mode;
		changed = true;
	}
	if (!changed)
		return 0;
	touch(ip, false, mapfs_now());
	mapfs_inode_store(fs, ip);
	return 1;
}

/* 0 if buf holds what ip already has at [off, min(off+len, size)),
 * -EPERM if not. */
static int same_bytes(struct mapfs_fs *fs, const struct mapfs_inode *ip,
		      uint64_t off, const void *buf, size_t len)
{
	uint8_t tmp[4096];
	size_t n = ip->size - off < len ? (size_t)(ip->size - off) : len;
	const uint8_t *b = buf;

	while (n) {
		size_t c = n < sizeof(tmp) ? n : sizeof(tmp);
		ssize_t r = mapfs_file_read(fs, ip, off, tmp, c);

		if (r < 0)
			return (int)r;
		if ((size_t)r != c || memcmp(tmp, b, c))
			return -EPERM;
		off += c;
		b += c;
		n -= c;
	}
	return 0;
}

/* Crash safety: blocks are allocated, zeroed or filled, then linked into
 * the block map (the pointer is the last store of each allocation, rule
 * 1), then the size grows. Data goes to the shared mapping at once; the
 * block map and size go in the operation's journal record. */
ssize_t mapfs_op_write(struct mapfs_fs *fs, mapfs_ino_t ino, uint64_t off,
		       const void *buf, size_t len, bool use_reserve)
{
	struct mapfs_inode ip;
	ssize_t n;
	int err = mapfs_inode_load(fs, ino, &ip);

	if (err < 0)
		return err;
	if (is_dir(&ip))
		return -EISDIR;
	if ((ip.mode & MAPFS_IFMT) != MAPFS_IFREG)
		return -EINVAL;
	if (len == 0)
		return 0;
	if (is_immutable(&ip))
		return -EPERM;
	if ((ip.flags & MAPFS_FL_APPEND) && off < ip.size) {
		/* Only appends. The writeback cache writes whole pages, so
		 * a write may start below EOF: it passes if it leaves the
		 * bytes there as they are. */
		err = same_bytes(fs, &ip, off, buf, len);
		if (err < 0)
			return err;
	}
	n = mapfs_file_write(fs, &ip, off, buf, len, use_reserve);
	if (n <= 0)
		return n;
	/* With the kernel's writeback cache the kernel keeps mtime and
	 * ctime of what was written and sends them itself; a stamp taken
	 * when its pages arrive here would be later than the write. */
	if (!fs->kernel_times)
		touch(&ip, true, mapfs_now());
	mapfs_inode_store(fs, &ip);
	return n;
}

/* Point ino's predecessor pred (from the index) at next, if the image
 * agrees that pred is ino's predecessor. Returns whether it did. */
static bool orphan_unlink_at(struct mapfs_fs *fs, mapfs_ino_t pred,
			     mapfs_ino_t ino, mapfs_ino_t next)
{
	struct mapfs_inode p;

	if (mapfs_inode_load(fs, pred, &p) < 0 ||
	    !(p.flags & MAPFS_FL_ORPHAN) || p.orphan_next != ino)
		return false;
	p.orphan_next = next;
	mapfs_inode_store(fs, &p);
	return true;
}

/* Take ino (whose successor is next) off the orphan list. */
static int orphan_unlink(struct mapfs_fs *fs, mapfs_ino_t ino,
			 mapfs_ino_t next)
{
	mapfs_ino_t cur = fs->orphan_head;
	uint64_t steps = 0;
	size_t i;

	if (cur == ino) {
		fs->orphan_head = next;
		orphan_head_changed(fs);
		oidx_del(fs, ino);
		if (next)
			oidx_put(fs, next, 0);
		return 0;
	}
	for (int pass = 0; pass < 2; pass++) {
		if (!fs->in->oidx && oidx_build(fs) < 0)
			break;
		i = oidx_find(fs->in->oidx, ino);
		if (i != fs->in->oidx->cap && fs->in->oidx->val[i] &&
		    orphan_unlink_at(fs, fs->in->oidx->val[i], ino, next)) {
			mapfs_ino_t pred = fs->in->oidx->val[i];

			oidx_del(fs, ino);
			if (next)
				oidx_put(fs, next, pred);
			return 0;
		}
		mapfs_oidx_free(fs);	/* stale: rebuild once */
	}
	/* No index (no memory, or the list is damaged): walk it. */
	while (cur) {
		struct mapfs_inode p;
		int err = mapfs_inode_load(fs, cur, &p);

		if (err < 0 || ++steps > fs->g.ninodes)
			return MAPFS_CORRUPT(fs, "orphan list broken at inode "
					     "%llu", (unsigned long long)cur);
		if (p.orphan_next == ino) {
			p.orphan_next = next;
			mapfs_inode_store(fs, &p);
			return 0;
		}
		cur = p.orphan_next;
	}
	return MAPFS_CORRUPT(fs, "inode %llu is not on the orphan list",
			     (unsigned long long)ino);
}

int mapfs_op_reap(struct mapfs_fs *fs, mapfs_ino_t ino)
{
	struct mapfs_inode ip;
	int err = mapfs_inode_load(fs, ino, &ip);

	if (err < 0)
		return err == -ENOENT ? 0 : err;
	if (ip.nlink > 0)
		return 0;
	/* Off the list first: a crash in between leaks the inode, which
	 * fsck reclaims, rather than leaving a freed inode on the list. */
	if (ip.flags & MAPFS_FL_ORPHAN) {
		err = orphan_unlink(fs, ino, ip.orphan_next);
		if (err < 0)
			return err;
	}
	return free_inode_now(fs, &ip);
}

int mapfs_op_reap_orphans(struct mapfs_fs *fs)
{
	uint64_t steps = 0;

	while (fs->orphan_head) {
		mapfs_ino_t ino = fs->orphan_head;
		struct mapfs_inode ip;
		int err = mapfs_inode_load(fs, ino, &ip);

		if (err < 0 || ip.nlink > 0 || !(ip.flags & MAPFS_FL_ORPHAN) ||
		    ++steps > fs->g.ninodes) {
			fs->orphan_head = 0;
			mapfs_oidx_free(fs);
			mapfs_super_store(fs);
			return MAPFS_CORRUPT(fs, "orphan list holds inode "
					     "%llu, which is not an orphan",
					     (unsigned long long)ino);
		}
		fs->orphan_head = ip.orphan_next;
		orphan_head_changed(fs);
		oidx_del(fs, ino);
		if (ip.orphan_next)
			oidx_put(fs, ip.orphan_next, 0);
		err = free_inode_now(fs, &ip);
		if (err < 0)
			return err;
	}
	return 0;
}

void mapfs_op_statfs(const struct mapfs_fs *fs, struct mapfs_statfs *st)
{
	const struct mapfs_geom *g = &fs->g;

	st->bsize = g->bsize;
	st->blocks = g->nblocks - g->ngroups * (uint64_t)g->data_off;
	st->bfree = fs->free_blocks;
	st->bavail = mapfs_avail_blocks(fs);
	/* Every inode of the tables, the reserved ones (root's included)
	 * counted as used: the count mkfs.mapfs, dumpfs.mapfs and
	 * fsck.mapfs's "N/M inodes" give, and ext4's df -i. */
	st->files = g->ninodes;
	st->ffree = fs->free_inodes;
	st->namemax = MAPFS_NAME_MAX;
}

/* ------------------------------------------------------------------ */
/* Extended attributes                                                  */
/* ------------------------------------------------------------------ */

/* Setting system.posix_acl_access: the mode's permission bits follow the
 * ACL, and an ACL the mode says all of is not stored (Linux's
 * posix_acl_update_mode; FUSE leaves both to the filesystem). */
static int set_access_acl(struct mapfs_fs *fs, struct mapfs_inode *ip,
			  const char *name, const void *value, size_t len,
			  int flags, bool use_reserve)
{
	uint32_t perm;
	bool kill_sgid = flags & MAPFS_XATTR_KILL_SGID;
	int err, r = mapfs_acl_equiv_mode(value, len, &perm);

	if (r < 0)
		return r;
	flags &= ~MAPFS_XATTR_KILL_SGID;
	if (r == 0) {
		err = mapfs_xattr_set(fs, ip, name, NULL, 0, 0, use_reserve);
		if (err == -ENODATA)
			err = (flags & MAPFS_XATTR_REPLACE) ? -ENODATA : 0;
	} else {
		err = mapfs_xattr_set(fs, ip, name, value, len, flags,
				      use_reserve);
	}
	if (err < 0)
		return err;
	ip->mode = (ip->mode & ~0777u) | perm;
	if (kill_sgid)
		ip->mode &= ~(uint32_t)S_ISGID;
	return 0;
}

int mapfs_op_setxattr(struct mapfs_fs *fs, mapfs_ino_t ino, const char *name,
		      const void *value, size_t len, int flags,
		      bool use_reserve)
{
	struct mapfs_inode ip;
	uint32_t index, nlen;
	const char *suffix;
	int err;

	if (flags & ~(MAPFS_XATTR_CREATE | MAPFS_XATTR_REPLACE |
		      MAPFS_XATTR_KILL_SGID))
		return -EINVAL;
	err = mapfs_xattr_parse_name(name, &index, &suffix, &nlen);
	if (err < 0)
		return err;
	if (index != MAPFS_XATTR_INDEX_ACL_ACCESS)
		flags &= ~MAPFS_XATTR_KILL_SGID;
	err = mapfs_inode_load(fs, ino, &ip);
	if (err < 0)
		return err;
	if (is_pinned(&ip))
		return -EPERM;
	if (index == MAPFS_XATTR_INDEX_ACL_DEFAULT && !is_dir(&ip))
		return -EACCES;		/* as Linux's set_posix_acl */
	if (index == MAPFS_XATTR_INDEX_ACL_ACCESS)
		err = set_access_acl(fs, &ip, name, value, len, flags,
				     use_reserve);
	else if (index == MAPFS_XATTR_INDEX_ACL_DEFAULT &&
		 mapfs_acl_equiv_mode(value, len, &(uint32_t){0}) < 0)
		err = -EINVAL;
	else
		err = mapfs_xattr_set(fs, &ip, name, value, len, flags,
				      use_reserve);
	if (err < 0)
		return err;
	touch(&ip, false, mapfs_now());
	mapfs_inode_store(fs, &ip);
	return 0;
}

int mapfs_op_removexattr(struct mapfs_fs *fs, mapfs_ino_t ino,
			 const char *name)
{
	struct mapfs_inode ip;
	int err = mapfs_inode_load(fs, ino, &ip);

	if (err < 0)
		return err;
	if (is_pinned(&ip)) {
		uint32_t index, nlen;
		const char *suffix;

		err = mapfs_xattr_parse_name(name, &index, &suffix, &nlen);
		return err < 0 ? err : -EPERM;
	}
	err = mapfs_xattr_set(fs, &ip, name, NULL, 0, 0, true);
	if (err < 0)
		return err;
	touch(&ip, false, mapfs_now());
	mapfs_inode_store(fs, &ip);
	return 0;
}

ssize_t mapfs_op_getxattr(struct mapfs_fs *fs, mapfs_ino_t ino,
			  const char *name, void *buf, size_t size)
{
	struct mapfs_inode ip;
	int err = mapfs_inode_load(fs, ino, &ip);

	if (err < 0)
		return err;
	return mapfs_xattr_get(fs, &ip, name, buf, size);
}

ssize_t mapfs_op_listxattr(struct mapfs_fs *fs, mapfs_ino_t ino, char *buf,
			   size_t size, bool trusted)
{
	struct mapfs_inode ip;
	int err = mapfs_inode_load(fs, ino, &ip);

	if (err < 0)
		return err;
	return mapfs_xattr_list(fs, &ip, buf, size, trusted);
}

/* ------------------------------------------------------------------ */
/* fallocate, lseek, copy_file_range                                    */
/* ------------------------------------------------------------------ */

static int load_reg(struct mapfs_fs *fs, mapfs_ino_t ino,
		    struct mapfs_inode *ip)
{
	int err = mapfs_inode_load(fs, ino, ip);

	if (err < 0)
		return err;
	if (is_dir(ip))
		return -EISDIR;
	if ((ip->mode & MAPFS_IFMT) != MAPFS_IFREG)
		return -ENODEV;
	return 0;
}

/* Logical blocks covering [0, size): ceil(size / bsize). */
static uint64_t size_blocks(const struct mapfs_fs *fs, uint64_t size)
{
	return (size >> fs->g.bshift) + ((size & (fs->g.bsize - 1)) != 0);
}

/* Crash safety: as write for allocation; punching clears each pointer
 * before its block is freed (rule 2), and freed blocks stay quarantined
 * until no replayable journal record predates the free (journal.c). */
int mapfs_op_fallocate(struct mapfs_fs *fs, mapfs_ino_t ino, int mode,
		       uint64_t off, uint64_t len, bool use_reserve)
{
	const int known = MAPFS_FALLOC_KEEP_SIZE | MAPFS_FALLOC_PUNCH_HOLE |
			  MAPFS_FALLOC_ZERO_RANGE;
	const struct mapfs_geom *g = &fs->g;
	struct mapfs_timespec now = mapfs_now();
	struct mapfs_inode ip;
	uint64_t end, first, last;
	bool keep = mode & MAPFS_FALLOC_KEEP_SIZE;
	int err, err2;

	if (mode & ~known)
		return -EOPNOTSUPP;
	if ((mode & MAPFS_FALLOC_PUNCH_HOLE) &&
	    (!keep || (mode & MAPFS_FALLOC_ZERO_RANGE)))
		return -EOPNOTSUPP;
	if (len == 0)
		return -EINVAL;
	err = load_reg(fs, ino, &ip);
	if (err < 0)
		return err;
	/* vfs_fallocate: immutable refuses all, append-only all but
	 * plain allocation. */
	if (is_immutable(&ip) ||
	    ((ip.flags & MAPFS_FL_APPEND) && (mode & ~MAPFS_FALLOC_KEEP_SIZE)))
		return -EPERM;
	if (off > g->maxfilesize || len > g->maxfilesize - off)
		return -EFBIG;
	end = off + len;
	first = off >> g->bshift;
	last = size_blocks(fs, end);	/* one past the last block touched */

	if (mode & MAPFS_FALLOC_PUNCH_HOLE) {
		/* Whole blocks go; the partial ones at the edges are
		 * zeroed where mapped. */
		uint64_t wf = size_blocks(fs, off), wl = end >> g->bshift;

		if (wf < wl)
			err = mapfs_file_free_range(fs, &ip, wf, wl);
		if (err == 0 && wf > first)
			err = mapfs_file_zero(fs, &ip, off,
					      (wf << g->bshift) - off < len ?
					      (wf << g->bshift) - off : len);
		if (err == 0 && wl >= wf && (end & (g->bsize - 1)) &&
		    (wl << g->bshift) >= off)
			err = mapfs_file_zero(fs, &ip, wl << g->bshift,
					      end - (wl << g->bshift));
		if (err < 0)
			return err;
		touch(&ip, true, now);
		mapfs_inode_store(fs, &ip);
		return 0;
	}

	if (keep)
		mapfs_super_use_feature(fs, MAPFS_FEAT_RO_COMPAT_KEEPSIZE);
	err = mapfs_file_alloc_range(fs, &ip, first, last, use_reserve);
	/* Blocks past EOF (kept on error too) need the flag. */
	if (last > size_blocks(fs, keep ? ip.size : (end > ip.size ? end :
						      ip.size)) ||
	    (err < 0 && last > size_blocks(fs, ip.size)))
		ip.flags |= MAPFS_FL_KEEPSIZE;
	if (err < 0) {
		mapfs_inode_store(fs, &ip);
		return err;
	}
	if (mode & MAPFS_FALLOC_ZERO_RANGE) {
		err2 = mapfs_file_zero(fs, &ip, off, len);
		if (err2 < 0)
			return err2;
		ip.mtime = now;
	}
	if (!keep && end > ip.size) {
		ip.size = end;
		ip.mtime = now;
	}
	ip.ctime = now;
	mapfs_inode_store(fs, &ip);
	return 0;
}

int mapfs_op_seek(struct mapfs_fs *fs, mapfs_ino_t ino, uint64_t off,
		  bool data, uint64_t *resp)
{
	const struct mapfs_geom *g = &fs->g;
	struct mapfs_inode ip;
	uint64_t lbn, nlbn = 0;
	int err = load_reg(fs, ino, &ip);

	if (err < 0)
		return err == -ENODEV ? -EINVAL : err;
	if (off >= ip.size)
		return -ENXIO;
	nlbn = size_blocks(fs, ip.size);
	err = mapfs_file_next(fs, &ip, off >> g->bshift, nlbn, data, &lbn);
	if (err < 0)
		return err;
	if (data) {
		if (lbn >= nlbn)
			return -ENXIO;
		*resp = lbn << g->bshift > off ? lbn << g->bshift : off;
	} else {
		uint64_t h = lbn << g->bshift;

		h = h > off ? h : off;
		*resp = h < ip.size ? h : ip.size;
	}
	return 0;
}

ssize_t mapfs_op_copy_range(struct mapfs_fs *fs, mapfs_ino_t src,
			    uint64_t soff, mapfs_ino_t dst, uint64_t doff,
			    uint64_t len, bool use_reserve)
{
	struct mapfs_inode s, d, *sp = &s;
	ssize_t n;
	int err;

	err = load_reg(fs, src, &s);
	if (err < 0)
		return err == -ENODEV ? -EINVAL : err;
	if (src == dst) {
		sp = &d;
		d = s;
		/* the kernel refuses overlapping ranges of one file */
		if (soff < doff + len && doff < soff + len)
			return -EINVAL;
	} else {
		err = load_reg(fs, dst, &d);
		if (err < 0)
			return err == -ENODEV ? -EINVAL : err;
	}
	if (is_immutable(&d) ||
	    ((d.flags & MAPFS_FL_APPEND) && doff < d.size))
		return -EPERM;
	n = mapfs_file_copy(fs, sp, soff, &d, doff, len, use_reserve);
	if (n <= 0)
		return n;
	touch(&d, true, mapfs_now());
	mapfs_inode_store(fs, &d);
	return n;
}

/* ------------------------------------------------------------------ */
/* chattr flags                                                         */
/* ------------------------------------------------------------------ */

int mapfs_op_getflags(struct mapfs_fs *fs, mapfs_ino_t ino, uint32_t *flagsp)
{
	struct mapfs_inode ip;
	int err = mapfs_inode_load(fs, ino, &ip);

	if (err < 0)
		return err;
	*flagsp = ip.flags & MAPFS_FL_USER;
	return 0;
}

int mapfs_op_setflags(struct mapfs_fs *fs, const struct mapfs_cred *cr,
		      mapfs_ino_t ino, uint32_t flags)
{
	struct mapfs_inode ip;
	int err = mapfs_inode_load(fs, ino, &ip);

	if (err < 0)
		return err;
	if (cr->uid != 0 && cr->uid != ip.uid)
		return -EPERM;
	if (flags & ~MAPFS_FL_USER)
		return -EOPNOTSUPP;
	/* CAP_LINUX_IMMUTABLE: root only. */
	if (((flags ^ ip.flags) & (MAPFS_FL_IMMUTABLE | MAPFS_FL_APPEND)) &&
	    cr->uid != 0)
		return -EPERM;
	ip.flags = (ip.flags & ~MAPFS_FL_USER) | flags;
	touch(&ip, false, mapfs_now());
	mapfs_inode_store(fs, &ip);
	return 0;
}

int mapfs_op_may_open(struct mapfs_fs *fs, mapfs_ino_t ino, bool write,
		      bool append, bool trunc)
{
	struct mapfs_inode ip;
	int err = mapfs_inode_load(fs, ino, &ip);

	if (err < 0)
		return err;
	if (is_immutable(&ip) && (write || trunc))
		return -EPERM;
	if ((ip.flags & MAPFS_FL_APPEND) && ((write && !append) || trunc))
		return -EPERM;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Policies the daemon asks about: atime on read, the root reserve       */
/* ------------------------------------------------------------------ */

/* 10 ms: the pace of the kernel's coarse clock, which stamps atime on
 * Linux's own filesystems; a stream of reads under strictatime updates
 * at most that often. */
#define ATIME_STRICT_NS 10000000ll
#define ATIME_RELATIME_SEC (24 * 3600)

static bool ts_le(struct mapfs_timespec a, struct mapfs_timespec b)
{
	return a.sec < b.sec || (a.sec == b.sec && a.nsec <= b.nsec);
}

/* relatime (Linux's default): a read updates atime only when it is older
 * than mtime or ctime, or more than a day old. One exclusive lock per file
 * per day, not per read. strictatime: every read; noatime, a read-only
 * mount, chattr +A: never; nodiratime: never for directories. */
bool mapfs_atime_due(unsigned mode, const struct mapfs_inode *ip,
		     struct mapfs_timespec now)
{
	if ((mode & MAPFS_ATIME_NEVER) || (ip->flags & MAPFS_FL_NOATIME))
		return false;
	if ((mode & MAPFS_ATIME_NODIR) && is_dir(ip))
		return false;
	if (mode & MAPFS_ATIME_STRICT)
		return (now.sec - ip->atime.sec) * 1000000000ll +
		       ((int64_t)now.nsec - (int64_t)ip->atime.nsec) >=
		       ATIME_STRICT_NS;
	if (ts_le(ip->atime, ip->mtime) || ts_le(ip->atime, ip->ctime))
		return true;
	return now.sec - ip->atime.sec >= ATIME_RELATIME_SEC;
}

int mapfs_op_touch_atime(struct mapfs_fs *fs, unsigned mode, mapfs_ino_t ino)
{
	struct mapfs_timespec now = mapfs_now();
	struct mapfs_inode ip;
	int err = mapfs_inode_load(fs, ino, &ip);

	if (err < 0)
		return err;
	if (!mapfs_atime_due(mode, &ip, now))
		return 0;
	/* An access changes atime only: not ctime, unlike utimensat. */
	ip.atime = now;
	mapfs_inode_store(fs, &ip);
	return 1;
}

/* The root reserve is for root's own files: writes flushed from the
 * kernel's writeback cache arrive as root whoever wrote them, so the
 * caller being root is not enough; the file's owner must be root as well
 * (as a file created by root is what the reserve is for). */
bool mapfs_write_may_reserve(const struct mapfs_cred *cr,
			     const struct mapfs_inode *ip)
{
	return cr->uid == 0 && ip->uid == 0;
}

ssize_t mapfs_op_write_cr(struct mapfs_fs *fs, const struct mapfs_cred *cr,
			  mapfs_ino_t ino, uint64_t off, const void *buf,
			  size_t len)
{
	struct mapfs_inode ip;
	bool reserve = false;

	if (mapfs_inode_load(fs, ino, &ip) == 0)
		reserve = mapfs_write_may_reserve(cr, &ip);
	return mapfs_op_write(fs, ino, off, buf, len, reserve);
}
