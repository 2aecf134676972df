/* SPDX-License-Identifier: MIT */
/*
 * bigdir.c - link-count limits and a very large directory, TAP output.
 *
 *   bigdir DIR fill LINK_MAX     make the state below, check it
 *   bigdir DIR check LINK_MAX    check it again (after a remount), then
 *                                remove everything, checking each step
 *
 * fill, in DIR/bigdir (must not exist):
 *  - links/: one file hard-linked until link() fails with EMLINK; the
 *    link count must then be exactly LINK_MAX; after one unlink a link
 *    works again; then back to LINK_MAX.
 *  - dirs/: subdirectories until mkdir() fails with EMLINK (each one
 *    adds its ".." to the parent's link count): LINK_MAX - 2 of them.
 *    At the limit, rename() of a directory into it fails with EMLINK too,
 *    while renames inside it, of files into it and mkdir elsewhere work.
 *    Every subdirectory is stat'ed and readdir must return each name
 *    once; some are renamed inside the directory, out and back.
 * check: the same counts and names, then rmdir of every subdirectory
 * and unlink of every link (link counts checked along the way).
 *
 * LINK_MAX 0 means the filesystem has no directory link limit (ext4's
 * dir_nlink): the directory part then makes 30000 subdirectories and
 * only the file limit (65000 on ext4) is searched for.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tutil.h"
#define FILE_LINK_SEARCH 200000	/* give up looking for EMLINK here */
#define NODIR_LIMIT_SUBDIRS 30000

static nlink_t nlink_of(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0 ? st.st_nlink : 0;
}

static void lname(char *buf, size_t len, long i)
{
	snprintf(buf, len, "links/l%06ld", i);
}

static void dname(char *buf, size_t len, long i)
{
	snprintf(buf, len, "dirs/d%06ld", i);
}

/* Count entries of dirs/ (without . and ..), checking each name is one
 * of d000000..d(n-1) and seen once. */
static long count_dir(long n, long *dups)
{
	unsigned char *seen = calloc((size_t)n + 1, 1);
	DIR *d = opendir("dirs");
	struct dirent *de;
	long count = 0;

	*dups = 0;
	if (!d || !seen) {
		free(seen);
		if (d)
			closedir(d);
		return -1;
	}
	while ((de = readdir(d))) {
		char *end;
		long i;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		count++;
		if (de->d_name[0] != 'd' || de->d_type != DT_DIR) {
			(*dups)++;
			continue;
		}
		i = strtol(de->d_name + 1, &end, 10);
		if (*end || i < 0 || i >= n || seen[i]++)
			(*dups)++;
	}
	closedir(d);
	free(seen);
	return count;
}

/* One bulk step over numbered names: make name i, then act on it. */
struct bulk {
	void (*name)(char *buf, size_t len, long i);
	int (*act)(const char *name);
};

static int mkdir_755(const char *n)
{
	return mkdir(n, 0755);
}

static int link_f(const char *n)
{
	return link("links/f", n);
}

static const struct bulk MKDIRS = { dname, mkdir_755 };
static const struct bulk RMDIRS = { dname, rmdir };
static const struct bulk LINKS = { lname, link_f };
static const struct bulk UNLINKS = { lname, unlink };

/* Run op over [lo, hi) in NWORKERS processes (FUSE round trips
 * overlap), each stopping at its first error; returns the number of
 * workers that failed. */
#define NWORKERS 4
static long par(const struct bulk *op, long lo, long hi)
{
	pid_t pid[NWORKERS];
	long bad = 0, step = (hi - lo + NWORKERS - 1) / NWORKERS;

	fflush(stdout);
	for (int w = 0; w < NWORKERS; w++) {
		long a = lo + w * step, b = a + step < hi ? a + step : hi;
		char n[64];

		pid[w] = fork();
		if (pid[w] != 0)
			continue;
		for (long i = a; i < b; i++) {
			op->name(n, sizeof(n), i);
			if (op->act(n) < 0)
				_exit(1);
		}
		_exit(0);
	}
	for (int w = 0; w < NWORKERS; w++) {
		int status;

		if (pid[w] < 0 || waitpid(pid[w], &status, 0) < 0 ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			bad++;
	}
	return bad;
}

static long nsubdirs(long link_max)
{
	return link_max ? link_max - 2 : NODIR_LIMIT_SUBDIRS;
}

static void fill(long link_max)
{
	char a[64], b[96];
	long i, nlinks, nd = nsubdirs(link_max), bad = 0, dups = 0;
	double t0 = now();
	int fd, e = 0;

	if (mkdir("links", 0755) < 0 || mkdir("dirs", 0755) < 0 ||
	    mkdir("other", 0755) < 0) {
		tap(0, "mkdir: %s", strerror(errno));
		return;
	}
	fd = open("links/f", O_CREAT | O_WRONLY, 0644);
	tap(fd >= 0 && write(fd, "data", 4) == 4, "create links/f");
	close(fd);
	/* the bulk in parallel, then one by one up to the limit */
	nlinks = link_max ? link_max - 100 : 1;
	tap(par(&LINKS, 1, nlinks) == 0, "%ld links", nlinks - 1);
	for (; nlinks < FILE_LINK_SEARCH; nlinks++) {
		lname(a, sizeof(a), nlinks);
		if (link("links/f", a) < 0) {
			e = errno;
			break;
		}
	}
	tap(e == EMLINK, "link fails with EMLINK (got %s after %ld links)",
	    e ? en(e) : "no error", nlinks);
	if (link_max)
		tap(nlinks == link_max, "file link limit %ld (want %ld)",
		    nlinks, link_max);
	tap((long)nlink_of("links/f") == nlinks, "st_nlink %ld",
	    (long)nlink_of("links/f"));
	lname(a, sizeof(a), nlinks);
	tap(link("links/f", a) < 0 && errno == EMLINK, "EMLINK again");
	tap(link("links/f", "links/l000001") < 0 && errno == EEXIST,
	    "existing name at the limit: EEXIST");
	lname(b, sizeof(b), 1);
	e = unlink(b);
	tap(e == 0 && (long)nlink_of("links/f") == nlinks - 1,
	    "unlink one: st_nlink %ld", (long)nlink_of("links/f"));
	tap(link("links/f", b) == 0 && (long)nlink_of("links/f") == nlinks,
	    "link again below the limit");
	printf("# %ld links in %.1f s\n", nlinks, now() - t0);

	t0 = now();
	if (par(&MKDIRS, 0, nd)) {
		tap(0, "mkdir of %ld subdirectories failed", nd);
		return;
	}
	printf("# %ld mkdirs in %.1f s\n", nd, now() - t0);
	tap((long)nlink_of("dirs") == nd + 2, "dirs/ st_nlink %ld (want %ld)",
	    (long)nlink_of("dirs"), nd + 2);
	if (link_max) {
		tap(mkdir("dirs/one-more", 0755) < 0 && errno == EMLINK,
		    "mkdir in a directory at the link limit: EMLINK");
		tap(mkdir("other/sub", 0755) == 0, "mkdir elsewhere works");
		tap(rename("other/sub", "dirs/sub") < 0 && errno == EMLINK,
		    "rename a dir into a full directory: EMLINK");
		tap(rename("dirs/d000000", "dirs/d000000.x") == 0 &&
		    rename("dirs/d000000.x", "dirs/d000000") == 0,
		    "rename a dir inside the full directory");
		fd = open("dirs/file", O_CREAT | O_WRONLY, 0644);
		tap(fd >= 0 && close(fd) == 0 && unlink("dirs/file") == 0,
		    "files still fit in it");
		tap(rmdir("other/sub") == 0, "rmdir other/sub");
	}
	t0 = now();
	for (i = 0; i < nd; i++) {
		struct stat st;

		dname(a, sizeof(a), i);
		if (lstat(a, &st) < 0 || !S_ISDIR(st.st_mode) ||
		    st.st_nlink != 2)
			bad++;
	}
	tap(bad == 0, "stat every subdirectory (%ld bad) in %.1f s", bad,
	    now() - t0);
	t0 = now();
	tap(count_dir(nd, &dups) == nd && dups == 0,
	    "readdir: %ld names, each once (%ld odd) in %.1f s", nd, dups,
	    now() - t0);

	/* rename some: inside the directory, and out and back */
	bad = 0;
	for (i = 0; i < nd; i += 97) {
		dname(a, sizeof(a), i);
		snprintf(b, sizeof(b), "%s.tmp", a);
		if (rename(a, b) < 0 || rename(b, a) < 0)
			bad++;
		snprintf(b, sizeof(b), "other/x%ld", i);
		if (rename(a, b) < 0 || rename(b, a) < 0)
			bad++;
	}
	tap(bad == 0, "renames inside, out and back (%ld failed)", bad);
	tap((long)nlink_of("dirs") == nd + 2 && nlink_of("other") == 2,
	    "link counts after the renames");
}

static void check_and_clean(long link_max)
{
	char a[64];
	long i, nd = nsubdirs(link_max), bad = 0, dups = 0, nlinks;
	double t0 = now();

	nlinks = (long)nlink_of("links/f");
	if (link_max)
		tap(nlinks == link_max, "links/f st_nlink %ld", nlinks);
	tap((long)nlink_of("dirs") == nd + 2, "dirs/ st_nlink %ld",
	    (long)nlink_of("dirs"));
	tap(count_dir(nd, &dups) == nd && dups == 0, "readdir: %ld names",
	    nd);
	for (i = 0; i < 100; i++) {
		dname(a, sizeof(a), i);
		if (rmdir(a) < 0 || (long)nlink_of("dirs") != nd + 1 - i)
			bad++;
	}
	bad += par(&RMDIRS, 100, nd);
	tap(bad == 0 && nlink_of("dirs") == 2,
	    "rmdir every subdirectory (%ld bad) in %.1f s", bad, now() - t0);
	tap(count_dir(1, &dups) == 0, "dirs/ is empty");
	tap(rmdir("dirs") == 0, "rmdir dirs");
	bad = 0;
	t0 = now();
	for (i = 1; i < 100; i++) {
		lname(a, sizeof(a), i);
		if (unlink(a) < 0 || (long)nlink_of("links/f") != nlinks - i)
			bad++;
	}
	bad += par(&UNLINKS, 100, nlinks);
	tap(bad == 0 && nlink_of("links/f") == 1,
	    "unlink every link (%ld bad) in %.1f s", bad, now() - t0);
	tap(unlink("links/f") == 0 && rmdir("links") == 0 &&
	    rmdir("other") == 0, "remove the rest");
}

int main(int argc, char **argv)
{
	char dir[4096];
	long link_max;
	int filling;

	if (argc != 4 || (strcmp(argv[2], "fill") && strcmp(argv[2], "check"))) {
		fprintf(stderr, "usage: %s DIR fill|check LINK_MAX\n", argv[0]);
		return 2;
	}
	filling = strcmp(argv[2], "fill") == 0;
	link_max = strtol(argv[3], NULL, 0);
	snprintf(dir, sizeof(dir), "%s/bigdir", argv[1]);
	if ((filling && mkdir(dir, 0755) < 0) || chdir(dir) < 0) {
		fprintf(stderr, "bigdir: %s: %s\n", dir, strerror(errno));
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (filling)
		fill(link_max);
	else
		check_and_clean(link_max);
	if (!filling && chdir("..") == 0)
		tap(rmdir(dir) == 0, "rmdir %s", dir);
	printf("1..%d\n", ntests);
	return nfail ? 1 : 0;
}
