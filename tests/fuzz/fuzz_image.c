/* SPDX-License-Identifier: MIT */
/*
 * fuzz_image.c - the daemon's view of a damaged image.
 *
 * Attach (as a read-write mount would) to a private copy of a patched
 * seed image, reap the orphan list as mount does, walk the tree from the
 * root (bounded), load every inode, read every file with both read paths,
 * read every symlink, then change things through the ops (create, write,
 * truncate, rename, link, unlink, rmdir) and walk again. Errors are
 * expected; crashes, hangs, assertion failures and accesses outside the
 * image buffer (ASan) are bugs.
 */
#include "fuzz_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIRS	256	/* directories walked per pass */
#define MAX_ENTS	64	/* entries remembered per directory */
#define MAX_CALLBACKS	4096	/* records seen per iterate */
#define READ_CAP	(256u << 10)	/* bytes read per file per method */

struct ent {
	mapfs_ino_t ino;
	mapfs_ino_t dir;
	uint32_t type;
	char name[MAPFS_NAME_MAX + 1];
};

struct walk {
	struct mapfs_fs *fs;
	mapfs_ino_t dirs[MAX_DIRS];
	unsigned ndirs;
	/* Things worth changing afterwards, first found first. */
	struct ent reg[4], sub[4], lnk[2];
	unsigned nreg, nsub, nlnk;
	uint8_t buf[2 * MAPFS_MAX_BSIZE];	/* reads, and writes up to bsize + 17 */
};

struct collect {
	struct ent e[MAX_ENTS];
	unsigned n;
	unsigned calls;
	uint64_t cookie;	/* next_off of the third record */
	mapfs_ino_t dir;
};

static int collect_cb(void *arg, const char *name, uint32_t namelen,
		      mapfs_ino_t ino, uint32_t type, uint64_t next_off)
{
	struct collect *c = arg;

	if (++c->calls > MAX_CALLBACKS)
		return 1;
	if (c->calls == 3)
		c->cookie = next_off;
	if (strlen(name) != namelen)
		abort();	/* the core promised a NUL-terminated copy */
	if (c->n < MAX_ENTS) {
		struct ent *e = &c->e[c->n++];

		e->ino = ino;
		e->dir = c->dir;
		e->type = type;
		memcpy(e->name, name, namelen + 1);
	}
	return 0;
}

static int count_cb(void *arg, const char *name, uint32_t namelen,
		    mapfs_ino_t ino, uint32_t type, uint64_t next_off)
{
	unsigned *n = arg;

	(void)name; (void)namelen; (void)ino; (void)type; (void)next_off;
	return ++*n > MAX_CALLBACKS;
}

static void read_range_iov(struct mapfs_fs *fs, const struct mapfs_inode *ip,
			   uint64_t off, uint64_t len)
{
	struct iovec iov[16];
	volatile uint8_t sink = 0;

	while (len) {
		int niov = 0;
		ssize_t n = mapfs_file_read_iov(fs, ip, off, len, iov, 16,
						&niov);
		size_t sum = 0;

		if (n <= 0)
			return;
		/* Touch every byte described: ASan checks the pointers. */
		for (int i = 0; i < niov; i++) {
			const uint8_t *p = iov[i].iov_base;

			sum += iov[i].iov_len;
			for (size_t k = 0; k < iov[i].iov_len; k += 512)
				sink ^= p[k];
			if (iov[i].iov_len)
				sink ^= p[iov[i].iov_len - 1];
		}
		if (sum != (size_t)n)
			abort();	/* iovecs must describe the count */
		if ((uint64_t)n > len)
			abort();
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	(void)sink;
}

static void read_range(struct walk *w, const struct mapfs_inode *ip,
		       uint64_t off, uint64_t len)
{
	while (len) {
		size_t want = len < sizeof(w->buf) ? (size_t)len
						   : sizeof(w->buf);
		ssize_t n = mapfs_file_read(w->fs, ip, off, w->buf, want);

		if (n <= 0)
			return;
		if ((size_t)n > want)
			abort();
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
}

/* Read the start (up to READ_CAP) and a few spots of a file with both
 * read paths; files may be sparse and huge, so not all of it. */
static void read_file(struct walk *w, const struct mapfs_inode *ip)
{
	uint64_t size = ip->size, bs = w->fs->g.bsize;
	uint64_t spots[3] = { size / 2, size > bs ? size - bs : 0,
			      (12 + (uint64_t)w->fs->g.nindir) * bs };

	read_range_iov(w->fs, ip, 0, READ_CAP);
	read_range(w, ip, 0, READ_CAP);
	for (int i = 0; i < 3; i++) {
		read_range_iov(w->fs, ip, spots[i], 2 * bs);
		read_range(w, ip, spots[i], 2 * bs);
	}
}

static bool seen(const struct walk *w, mapfs_ino_t ino)
{
	for (unsigned i = 0; i < w->ndirs; i++)
		if (w->dirs[i] == ino)
			return true;
	return false;
}

static void remember(struct ent *arr, unsigned *n, unsigned cap,
		     const struct ent *e)
{
	if (*n < cap)
		arr[(*n)++] = *e;
}

/* Breadth-first from the root; each directory once. */
static void walk_tree(struct walk *w)
{
	struct collect *c = malloc(sizeof(*c));
	unsigned head = 0;

	if (!c)
		return;
	w->ndirs = 0;
	w->nreg = w->nsub = w->nlnk = 0;
	w->dirs[w->ndirs++] = MAPFS_ROOT_INO;
	while (head < w->ndirs) {
		mapfs_ino_t dir = w->dirs[head++];
		struct mapfs_inode dip, ip;
		unsigned cnt = 0;

		if (mapfs_inode_load(w->fs, dir, &dip) < 0)
			continue;
		memset(c, 0, sizeof(*c));
		c->dir = dir;
		if (mapfs_dir_iterate(w->fs, &dip, 0, collect_cb, c) < 0 &&
		    c->n == 0)
			continue;
		/* Resume from a cookie, as readdir does. */
		if (c->cookie)
			mapfs_dir_iterate(w->fs, &dip, c->cookie, count_cb,
					  &cnt);
		mapfs_dir_is_empty(w->fs, &dip);

		for (unsigned i = 0; i < c->n; i++) {
			struct ent *e = &c->e[i];
			mapfs_ino_t found;
			char lbuf[MAPFS_SYMLINK_MAX + 1];

			/* Duplicate names may find another inode: fine. */
			(void)mapfs_op_lookup(w->fs, dir, e->name, &found);
			if (!strcmp(e->name, ".") || !strcmp(e->name, ".."))
				continue;
			if (mapfs_inode_load(w->fs, e->ino, &ip) < 0)
				continue;
			switch (ip.mode & MAPFS_IFMT) {
			case MAPFS_IFDIR:
				if (!seen(w, e->ino) && w->ndirs < MAX_DIRS)
					w->dirs[w->ndirs++] = e->ino;
				remember(w->sub, &w->nsub, 4, e);
				break;
			case MAPFS_IFREG:
				read_file(w, &ip);
				remember(w->reg, &w->nreg, 4, e);
				break;
			case MAPFS_IFLNK:
				if (mapfs_op_readlink(w->fs, e->ino, lbuf,
						      sizeof(lbuf)) >
				    (ssize_t)sizeof(lbuf))
					abort();
				remember(w->lnk, &w->nlnk, 2, e);
				break;
			default:
				break;
			}
		}
	}
	free(c);
}

/* Changes through the ops, as the daemon makes them. knob varies the
 * offsets and sizes a little. */
static void change(struct walk *w, unsigned knob)
{
	static const struct mapfs_cred cr = { 0, 0 };
	struct mapfs_fs *fs = w->fs;
	const uint64_t bs = fs->g.bsize, n = fs->g.nindir;
	struct mapfs_setattr sa;
	struct mapfs_inode ip;
	mapfs_ino_t newdir = 0;
	char big[600];

	memset(w->buf, 0xa5, sizeof(w->buf));
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;

	if (mapfs_op_mknod(fs, &cr, MAPFS_ROOT_INO, "fz.new",
			   MAPFS_IFREG | 0644, 0, &ip) == 0) {
		mapfs_op_write(fs, ip.ino, 0, w->buf, bs + 17, true);
		mapfs_op_write(fs, ip.ino, (12 + (knob & 3)) * bs + 9, w->buf,
			       100, true);
		if (knob & 4)
			mapfs_op_write(fs, ip.ino, (12 + n + 1) * bs, w->buf,
				       10, true);
		memset(&sa, 0, sizeof(sa));
		sa.valid = MAPFS_SET_SIZE;
		sa.size = bs / 2;
		mapfs_op_setattr(fs, ip.ino, &sa, true, &ip);
	}
	if (mapfs_op_mknod(fs, &cr, MAPFS_ROOT_INO, "fz.dir",
			   MAPFS_IFDIR | 0755, 0, &ip) == 0)
		newdir = ip.ino;
	if (w->nsub)
		mapfs_op_mknod(fs, &cr, w->sub[0].ino, "fz.x",
			       MAPFS_IFIFO | 0644, 0, &ip);
	if (w->nreg) {
		struct ent *f = &w->reg[0];
		uint64_t offs[4] = { 0, 0, 0, 12 * bs };

		if (mapfs_inode_load(fs, f->ino, &ip) == 0) {
			offs[1] = ip.size;
			offs[2] = ip.size / 2;
		}
		mapfs_op_write(fs, f->ino, offs[(knob >> 3) & 3], w->buf,
			       5000, true);
		memset(&sa, 0, sizeof(sa));
		sa.valid = MAPFS_SET_SIZE | MAPFS_SET_MODE | MAPFS_SET_MTIME_NOW;
		sa.mode = 0600;
		sa.size = (knob & 0x20) ? 0 : ip.size / 3;
		mapfs_op_setattr(fs, f->ino, &sa, true, &ip);
		mapfs_op_link(fs, f->ino, MAPFS_ROOT_INO, "fz.link", &ip);
		if (newdir)
			mapfs_op_rename(fs, f->dir, f->name, newdir, "moved",
					0);
	}
	if (w->nreg > 1) {
		/* copy_file_range out of a file as found (damaged block
		 * maps included): runs of blocks, holes, short copies. */
		if (mapfs_op_mknod(fs, &cr, MAPFS_ROOT_INO, "fz.copy",
				   MAPFS_IFREG | 0644, 0, &ip) == 0)
			mapfs_op_copy_range(fs, w->reg[1].ino,
					    (knob & 0x10) ? 7 : 0, ip.ino,
					    (knob & 2) ? bs : 3, 1u << 20,
					    true);
		mapfs_op_copy_range(fs, w->reg[1].ino, 0, w->reg[1].ino,
				    400 * bs + (knob & 1), 300 * bs, true);
		memset(&sa, 0, sizeof(sa));
		sa.valid = MAPFS_SET_SIZE;
		sa.size = 0;
		mapfs_op_setattr(fs, w->reg[1].ino, &sa, true, &ip);
		mapfs_op_unlink(fs, w->reg[1].dir, w->reg[1].name);
	}
	if (w->nreg > 2)
		mapfs_op_rename(fs, w->reg[2].dir, w->reg[2].name,
				MAPFS_ROOT_INO, "fz.renamed",
				(knob & 0x40) ? MAPFS_RENAME_NOREPLACE : 0);
	if (w->nreg > 3 && w->nlnk)
		mapfs_op_rename(fs, w->reg[3].dir, w->reg[3].name,
				w->lnk[0].dir, w->lnk[0].name,
				MAPFS_RENAME_EXCHANGE);
	if (w->nsub > 1) {
		/* A directory moves: ".." is re-pointed, loops refused. */
		if (newdir)
			mapfs_op_rename(fs, w->sub[1].dir, w->sub[1].name,
					newdir, "subdir", 0);
		mapfs_op_rename(fs, w->sub[0].dir, w->sub[0].name,
				w->sub[1].ino, "into", 0);
	}
	if (w->nsub)
		mapfs_op_symlink(fs, &cr, w->sub[0].ino, "fz.sym", big, &ip);
	if (w->nlnk)
		mapfs_op_unlink(fs, w->lnk[0].dir, w->lnk[0].name);
	if (w->nsub > 2)
		mapfs_op_rmdir(fs, w->sub[2].dir, w->sub[2].name);
	mapfs_op_rmdir(fs, MAPFS_ROOT_INO, "lost+found");
	if (knob & 0x80)
		mapfs_op_unlink(fs, MAPFS_ROOT_INO, "fz.new");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_stdout();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mapfs_statfs st;
	struct mapfs_fs fs;
	struct walk *w;
	unsigned flags, knob;
	uint64_t isize;
	uint8_t *img;
	char why[256];
	int err;

	img = fz_image_from_input(data, size, &isize, &flags, &knob);
	if (!img)
		return 0;
	w = malloc(sizeof(*w));
	memset(&fs, 0, sizeof(fs));
	why[0] = 0;
	err = w ? mapfs_fs_attach(&fs, img, isize, 0,
				  (flags & FZ_F_SBCOPY) ? 1 : 0, NULL, NULL,
				  why, sizeof(why)) : -ENOMEM;
	/* stdout is /dev/null unless MAPFS_FUZZ_VERBOSE is set. */
	printf("attach: %s%s%s\n", err ? strerror(-err) : "ok",
	       why[0] ? ": " : "", why);
	if (err == 0 && (fs.feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL)) {
		/* As an open does: replay the ring (untrusted bytes), then
		 * attach again to what it rebuilt. */
		uint64_t nrec = 0;

		err = mapfs_journal_replay(&fs, &nrec, why, sizeof(why));
		printf("replay: %s, %llu records\n",
		       err ? strerror(-err) : "ok", (unsigned long long)nrec);
		mapfs_fs_detach(&fs);
		memset(&fs, 0, sizeof(fs));
		err = mapfs_fs_attach(&fs, img, isize, 0,
				      (flags & FZ_F_SBCOPY) ? 1 : 0, NULL,
				      NULL, why, sizeof(why));
	}
	if (err == 0) {
		memset(w, 0, sizeof(*w));
		w->fs = &fs;
		mapfs_op_reap_orphans(&fs);	/* as mount does */
		walk_tree(w);
		printf("walk: %u directories, %u files, %u subdirectories, "
		       "%u symlinks\n", w->ndirs, w->nreg, w->nsub, w->nlnk);
		change(w, knob);
		walk_tree(w);
		mapfs_op_statfs(&fs, &st);
		mapfs_super_store(&fs);		/* as unmount does */
		mapfs_fs_detach(&fs);
	}
	free(w);
	free(img);
	return 0;
}
