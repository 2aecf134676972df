/* SPDX-License-Identifier: MIT */
/*
 * nfs_client.c - the NFS client side of nfs_export.sh (libnfs, all in
 * user space: this kernel has no NFS client).
 *
 *   nfs_client URL READY GO
 *
 * URL is an nfs:// URL of an empty directory in the export (with
 * ?version=4 and nfsport= as the server needs). One NFS session for the
 * whole run:
 *  1. write, read back, list, mkdir, rename, open a file and keep its
 *     NFS file handle;
 *  2. create the file READY, then wait (at most 120 s) for GO to exist:
 *     meanwhile the script restarts the mapfs daemon under the server
 *     and appends "+local" to /held through the new mount;
 *  3. through the same session: the handle kept from before the
 *     restart still names the same file (fstat: inode, and the size
 *     with the append, which only the new daemon knows), paths resolve
 *     again, and the session reads, writes, lists and renames as
 *     before.
 * Prints TAP; exit 1 if any check failed, 2 on a setup error.
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

#include <nfsc/libnfs.h>

/* What the script appends to /held through the new mount meanwhile. */
#define LOCAL "+local"

static struct nfs_context *nfs;
static int ntest, failed;

static void ok(bool cond, const char *what)
{
	ntest++;
	printf("%sok %d - %s\n", cond ? "" : "not ", ntest, what);
	if (!cond) {
		printf("# libnfs: %s\n", nfs_get_error(nfs));
		failed = 1;
	}
}

static bool put(const char *path, const char *data)
{
	struct nfsfh *fh;
	int n = (int)strlen(data);
	bool good;

	if (nfs_open(nfs, path, O_WRONLY | O_CREAT | O_TRUNC, &fh) < 0)
		return false;
	good = nfs_pwrite(nfs, fh, 0, n, data) == n && nfs_fsync(nfs, fh) == 0;
	return nfs_close(nfs, fh) == 0 && good;
}

/* Read fh from 0 and compare with want. */
static bool same(struct nfsfh *fh, const char *want)
{
	char buf[256];
	int n = nfs_pread(nfs, fh, 0, sizeof(buf) - 1, buf);

	if (n < 0)
		return false;
	buf[n] = 0;
	return strcmp(buf, want) == 0;
}

static bool get(const char *path, const char *want)
{
	struct nfsfh *fh;
	bool good;

	if (nfs_open(nfs, path, O_RDONLY, &fh) < 0)
		return false;
	good = same(fh, want);
	nfs_close(nfs, fh);
	return good;
}

/* Whether directory path lists exactly the names in want (space
 * separated, in any order; "." and ".." ignored). */
static bool lists(const char *path, const char *want)
{
	struct nfsdir *dir;
	struct nfsdirent *e;
	int n = 0, k = 0;
	bool good = true;

	if (nfs_opendir(nfs, path, &dir) < 0)
		return false;
	while ((e = nfs_readdir(nfs, dir))) {
		char pat[300];

		if (!strcmp(e->name, ".") || !strcmp(e->name, ".."))
			continue;
		n++;
		snprintf(pat, sizeof(pat), " %s ", e->name);
		if (!strstr(want, pat)) {
			printf("# unexpected name %s in %s\n", e->name, path);
			good = false;
		}
	}
	nfs_closedir(nfs, dir);
	for (const char *p = want; *p; p++)
		if (*p != ' ' && (p == want || p[-1] == ' '))
			k++;
	return good && n == k;
}

static void wait_for(const char *go)
{
	for (int i = 0; i < 2400; i++) {
		if (access(go, F_OK) == 0)
			return;
		usleep(50000);
	}
	printf("Bail out! %s did not appear within 120 s\n", go);
	exit(2);
}

int main(int argc, char **argv)
{
	struct nfs_stat_64 st, st2;
	struct nfsfh *held;
	struct nfs_url *url;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: %s URL READY GO\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	nfs = nfs_init_context();
	if (!nfs)
		return 2;
	nfs_set_timeout(nfs, 20000);
	url = nfs_parse_url_dir(nfs, argv[1]);
	if (!url || nfs_mount(nfs, url->server, url->path) < 0) {
		printf("Bail out! mount %s: %s\n", argv[1], nfs_get_error(nfs));
		return 2;
	}

	/* 1. Before the restart. */
	ok(put("/a", "first file"), "write /a");
	ok(get("/a", "first file"), "read /a back");
	ok(nfs_mkdir(nfs, "/d") == 0, "mkdir /d");
	ok(put("/d/b", "second file"), "write /d/b");
	ok(nfs_rename(nfs, "/d/b", "/d/c") == 0, "rename /d/b to /d/c");
	ok(get("/d/c", "second file"), "read /d/c");
	ok(lists("/", " a d "), "list /");
	ok(lists("/d", " c "), "list /d");
	ok(put("/held", "kept open across the restart"), "write /held");
	ok(nfs_open(nfs, "/held", O_RDONLY, &held) == 0, "open /held");
	ok(nfs_fstat64(nfs, held, &st) == 0, "fstat /held");

	/* 2. The daemon is restarted. */
	fd = open(argv[2], O_WRONLY | O_CREAT, 0644);
	if (fd < 0)
		return 2;
	close(fd);
	wait_for(argv[3]);

	/* 3. After the restart, same session. */
	ok(nfs_fstat64(nfs, held, &st2) == 0 && st2.nfs_ino == st.nfs_ino &&
	   st2.nfs_size == st.nfs_size + strlen(LOCAL),
	   "kept file handle: same inode, and the size after the local append");
	/* Not a check: ganesha dropped the open state with the export. */
	printf("# read through the open from before the restart: %s\n",
	       same(held, "kept open across the restart" LOCAL) ? "works" :
	       nfs_get_error(nfs));
	ok(get("/held", "kept open across the restart" LOCAL),
	   "read /held by path: the local append is there");
	ok(get("/a", "first file"), "read /a by path");
	ok(get("/d/c", "second file"), "read /d/c by path");
	ok(lists("/", " a d held "), "list /");
	ok(nfs_rename(nfs, "/a", "/d/a2") == 0, "rename /a to /d/a2");
	ok(put("/after", "written after the restart"), "write /after");
	ok(get("/after", "written after the restart"), "read /after");
	ok(lists("/d", " a2 c "), "list /d");
	nfs_close(nfs, held);
	nfs_umount(nfs);
	nfs_destroy_url(url);
	nfs_destroy_context(nfs);
	printf("1..%d\n", ntest);
	return failed;
}
