/* SPDX-License-Identifier: MIT */
/*
 * handles.c - file handles (name_to_handle_at, open_by_handle_at) on a
 * mapfs mount; driven by handles.sh, as root (open_by_handle_at needs
 * CAP_DAC_READ_SEARCH, drop_caches needs root).
 *
 *   handles make MNT STATE    build a tree, take handles, check them
 *                             after dropping the kernel's caches, and
 *                             write them (bytes in hex) to STATE
 *   handles check MNT STATE   after a remount: every handle in STATE
 *                             opens the same file (st_ino, contents),
 *                             or is stale if it was stale before
 *
 * "make" covers: the root, a file, a directory and one inside it (open
 * by handle reconnects a directory through LOOKUP of ".."), two names of
 * one hard-linked file (one handle), an unlinked file still open (opens,
 * as Linux allows), a deleted file (ESTALE) and a deleted file whose
 * inode number was given to a new file (ESTALE, the generation differs).
 * Each handle is used twice: with the kernel's inode cached, and after
 * `echo 3 > /proc/sys/vm/drop_caches`, when the kernel must ask the
 * daemon (LOOKUP of "." in the node). Prints TAP; exit 1 on a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAXH 16

struct h {
	char name[32];		/* path under MNT ("." for the root) */
	bool stale;		/* expected ESTALE */
	ino_t ino;
	char data[64];		/* contents ("" for a directory) */
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	} u;
};

static int ntest, failed;
static int mntfd;
static const char *mnt;

static void ok(bool cond, const char *what, const char *name)
{
	ntest++;
	printf("%sok %d - %s %s\n", cond ? "" : "not ", ntest, what, name);
	if (!cond)
		failed = 1;
}

static void die(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(1);
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd < 0 || write(fd, "3\n", 2) != 2)
		die("drop_caches");
	close(fd);
}

/* MNT/name; two at a time (link, rename) */
static char *path(const char *name)
{
	static char p[2][4096];
	static int k;

	k ^= 1;
	snprintf(p[k], sizeof(p[k]), "%s/%s", mnt, name);
	return p[k];
}

/* The handle's bytes (f_handle, a flexible array, is in u.buf). */
static unsigned char *hbytes(struct h *h)
{
	return (unsigned char *)h->u.buf + sizeof(struct file_handle);
}

static void put(const char *name, const char *data)
{
	int fd = open(path(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		die(name);
	close(fd);
}

static void take(struct h *h, const char *name, const char *data)
{
	struct stat st;
	int mount_id;

	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->data, sizeof(h->data), "%s", data);
	h->u.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, path(name), &h->u.fh, &mount_id, 0))
		die("name_to_handle_at");
	if (stat(path(name), &st))
		die("stat");
	h->ino = st.st_ino;
}

/* Open h by handle: 0 if it is the file recorded, -errno if refused,
 * 1 if it opened something else. */
static int use(const struct h *h)
{
	char buf[64] = "";
	struct stat st;
	int fd, r = 0;

	fd = open_by_handle_at(mntfd, (struct file_handle *)&h->u.fh,
			       O_RDONLY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || st.st_ino != h->ino)
		r = 1;
	if (!r && S_ISREG(st.st_mode) &&
	    (read(fd, buf, sizeof(buf) - 1) < 0 || strcmp(buf, h->data)))
		r = 1;
	if (!r && S_ISDIR(st.st_mode) && h->name[0] != '.') {
		/* A directory comes back connected: its ".." is known. */
		struct stat pst, want;
		char parent[64], *slash;

		snprintf(parent, sizeof(parent), "%s", h->name);
		slash = strrchr(parent, '/');
		if (slash)
			*slash = 0;
		else
			snprintf(parent, sizeof(parent), ".");
		if (fstatat(fd, "..", &pst, 0) ||
		    stat(path(parent), &want) || pst.st_ino != want.st_ino)
			r = 1;
	}
	close(fd);
	return r;
}

/* A freed inode's handle: the kernel hears of the last reference going
 * (FORGET) without waiting for us; allow the daemon a moment. */
static int use_stale(const struct h *h)
{
	int r = 0;

	for (int i = 0; i < 40; i++) {
		r = use(h);
		if (r == -ESTALE || r == 1)
			break;
		usleep(50000);
		drop_caches();
	}
	return r;
}

static void check(const struct h *hs, int n, const char *when)
{
	char what[96];

	for (int i = 0; i < n; i++) {
		int r = hs[i].stale ? use_stale(&hs[i]) : use(&hs[i]);
		snprintf(what, sizeof(what), "%s: %s by handle (%s)", when,
			 hs[i].stale ? "ESTALE" : "opens",
			 strerror(r < 0 ? -r : 0));
		ok(hs[i].stale ? r == -ESTALE : r == 0, what, hs[i].name);
	}
}

static int make(const char *state)
{
	struct h hs[MAXH];
	int n = 0, ufd;
	FILE *f;

	if (mkdir(path("d"), 0755) || mkdir(path("d/e"), 0755))
		die("mkdir");
	put("f", "contents of f");
	put("d/g", "hard-linked g");
	if (link(path("d/g"), path("h")))
		die("link");
	take(&hs[n++], ".", "");
	take(&hs[n++], "f", "contents of f");
	take(&hs[n++], "d", "");
	take(&hs[n++], "d/e", "");
	take(&hs[n++], "d/g", "hard-linked g");
	take(&hs[n++], "h", "hard-linked g");
	ok(hs[4].u.fh.handle_bytes == hs[5].u.fh.handle_bytes &&
	   !memcmp(&hs[4].u.fh, &hs[5].u.fh,
		   sizeof(hs[4].u.fh) + hs[4].u.fh.handle_bytes),
	   "one handle for two hard links", "d/g h");

	/* Unlinked while open: its handle opens while the file lives. */
	put("u", "unlinked but open");
	take(&hs[n++], "u", "unlinked but open");
	ufd = open(path("u"), O_RDONLY);
	if (ufd < 0 || unlink(path("u")))
		die("unlink u");

	/* Deleted: stale. */
	put("x", "deleted");
	take(&hs[n], "x", "deleted");
	hs[n++].stale = true;
	if (unlink(path("x")))
		die("unlink x");

	/* Deleted, its inode number reused by a new file: stale. */
	put("y", "to be reused");
	take(&hs[n], "y", "to be reused");
	hs[n].stale = true;
	if (unlink(path("y")))
		die("unlink y");
	for (int i = 0;; i++) {
		char name[32];
		struct stat st;

		if (i == 2000) {
			ok(false, "inode number reused within 2000 files", "y");
			break;
		}
		usleep(i < 20 ? 20000 : 0);	/* let the FORGET free it */
		snprintf(name, sizeof(name), "z%d", i);
		put(name, "new file");
		if (stat(path(name), &st))
			die("stat z");
		if (st.st_ino == hs[n].ino)
			break;
	}
	ok(use(&hs[n]) == -ESTALE, "reused inode, kernel cache warm: ESTALE",
	   "y");
	n++;

	check(hs, n, "cached");
	drop_caches();
	check(hs, n, "after drop_caches");

	f = fopen(state, "w");
	if (!f)
		die(state);
	for (int i = 0; i < n; i++) {
		/* After the remount the unlinked file is gone. */
		bool stale = hs[i].stale || !strcmp(hs[i].name, "u");

		fprintf(f, "%s %d %llu %d %u ", hs[i].name, stale,
			(unsigned long long)hs[i].ino, hs[i].u.fh.handle_type,
			hs[i].u.fh.handle_bytes);
		for (unsigned j = 0; j < hs[i].u.fh.handle_bytes; j++)
			fprintf(f, "%02x", hbytes(&hs[i])[j]);
		fprintf(f, " %s\n", hs[i].data);
	}
	fclose(f);
	close(ufd);
	return 0;
}

static int recheck(const char *state)
{
	struct h hs[MAXH];
	char line[512];
	int n = 0;
	FILE *f = fopen(state, "r");

	if (!f)
		die(state);
	while (n < MAXH && fgets(line, sizeof(line), f)) {
		struct h *h = &hs[n];
		char hex[2 * MAX_HANDLE_SZ + 1];
		unsigned long long ino;
		int stale, off = 0;

		memset(h, 0, sizeof(*h));
		line[strcspn(line, "\n")] = 0;
		/* name stale ino type bytes hex data... */
		if (sscanf(line, "%31s %d %llu %d %u %256s %n", h->name,
			   &stale, &ino, &h->u.fh.handle_type,
			   &h->u.fh.handle_bytes, hex, &off) < 6 ||
		    h->u.fh.handle_bytes > MAX_HANDLE_SZ)
			die("bad state line");
		h->stale = stale;
		h->ino = (ino_t)ino;
		snprintf(h->data, sizeof(h->data), "%s", line + off);
		for (unsigned j = 0; j < h->u.fh.handle_bytes; j++) {
			unsigned v;
			if (sscanf(hex + 2 * j, "%2x", &v) != 1)
				die("bad hex");
			hbytes(h)[j] = (unsigned char)v;
		}
		n++;
	}
	fclose(f);
	check(hs, n, "after remount");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s make|check MNT STATE\n", argv[0]);
		return 2;
	}
	mnt = argv[2];
	mntfd = open(mnt, O_RDONLY | O_DIRECTORY);
	if (mntfd < 0)
		die(mnt);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "make"))
		make(argv[3]);
	else
		recheck(argv[3]);
	close(mntfd);
	printf("1..%d\n", ntest);
	return failed;
}
