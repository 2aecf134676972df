/* SPDX-License-Identifier: MIT */
/*
 * main.c - the mapfs daemon: `mapfs IMAGE MOUNTPOINT [-f] [-d] [-o opts]`.
 *
 * Parses options, opens, locks, validates and maps the image, marks it
 * mounted (synced before anything else is stored), runs FUSE's
 * multi-threaded loop, and on the way out frees the inodes that were
 * unlinked while in use, writes everything back and marks the image clean.
 * main() is those steps in order: parse_args, prepare, open_image,
 * mount_image, serve; finish undoes what the steps set up (struct run).
 */
#include "ahead.h"
#include "bdi.h"
#include "daemon.h"
#include "mountpoint.h"
#include "remount.h"
#include "uring.h"
#include "stats.h"
#include "mapfs_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

struct conf {
	char *image;
	char *mnt;		/* the mount point as given */
	int force;
	int ro;
	int noatime;
	int remount;
	int strictatime;
	int nodiratime;
	int writeback;
	int nowriteback;
	int nosync;
	int async_dio;
	int nouring;
	int stats;
	int fakeroot;
	int allow_other;
	int auto_unmount;
	int commit;
	char *offset, *size;
	char *logfile;		/* -o logfile=PATH */
	int help;
	int version;
	double timeout;
};

enum { KEY_HELP, KEY_VERSION, KEY_RO, KEY_NOATIME, KEY_ATIME,
       KEY_STRICTATIME, KEY_RELATIME, KEY_NODIRATIME, KEY_DIRATIME,
       KEY_DISCARD, KEY_ALLOW_OTHER, KEY_AUTO_UNMOUNT };

#define CONF_OPT(t, p) { t, offsetof(struct conf, p), 1 }
static const struct fuse_opt conf_opts[] = {
	CONF_OPT("force", force),
	CONF_OPT("writeback", writeback),
	CONF_OPT("nowriteback", nowriteback),
	CONF_OPT("nosync", nosync),
	CONF_OPT("async_dio", async_dio),
	CONF_OPT("nouring", nouring),
	CONF_OPT("stats", stats),
	CONF_OPT("fakeroot", fakeroot),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	/* Ours, not libfuse's (see mountpoint_guard). */
	FUSE_OPT_KEY("auto_unmount", KEY_AUTO_UNMOUNT),
	{"commit=%d", offsetof(struct conf, commit), 0},
	{"offset=%s", offsetof(struct conf, offset), 0},
	{"size=%s", offsetof(struct conf, size), 0},
	{"logfile=%s", offsetof(struct conf, logfile), 0},
	{"timeout=%lf", offsetof(struct conf, timeout), 0},
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("ro", KEY_RO),
	/* mount -o remount,... through mount.fuse3 (remount.c) */
	{"remount", offsetof(struct conf, remount), 1},
	/* atime, as mount(8) writes it (the last word wins): the kernel
	 * leaves atime to FUSE filesystems (fileops.c, atime_due). */
	FUSE_OPT_KEY("noatime", KEY_NOATIME),
	FUSE_OPT_KEY("atime", KEY_ATIME),
	FUSE_OPT_KEY("strictatime", KEY_STRICTATIME),
	FUSE_OPT_KEY("nostrictatime", KEY_RELATIME),
	FUSE_OPT_KEY("relatime", KEY_RELATIME),
	/* Linux keeps relatime unless strictatime is given */
	FUSE_OPT_KEY("norelatime", KEY_DISCARD),
	FUSE_OPT_KEY("nodiratime", KEY_NODIRATIME),
	FUSE_OPT_KEY("diratime", KEY_DIRATIME),
	/* lazytime delays writing times to the disk: ours are in the
	 * image's memory at once, written with everything else */
	FUSE_OPT_KEY("lazytime", KEY_DISCARD),
	FUSE_OPT_KEY("nolazytime", KEY_DISCARD),
	/* fstab and mount(8) words that mean nothing to FUSE. */
	FUSE_OPT_KEY("defaults", KEY_DISCARD),
	FUSE_OPT_KEY("auto", KEY_DISCARD),
	FUSE_OPT_KEY("noauto", KEY_DISCARD),
	FUSE_OPT_KEY("nofail", KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", KEY_DISCARD),
	FUSE_OPT_KEY("user", KEY_DISCARD),
	FUSE_OPT_KEY("users", KEY_DISCARD),
	FUSE_OPT_KEY("nouser", KEY_DISCARD),
	FUSE_OPT_KEY("x-systemd.", KEY_DISCARD),
	/* Ours to set (below): the subtype names the filesystem type
	 * (fuse.mapfs), fsname is the image's real path, which the tools
	 * look for in the mount table (mounts.c). mount.fuse3 passes a
	 * subtype of its own; two of them made fusermount3's
	 * auto_unmount helper leave the mount of a killed daemon. */
	FUSE_OPT_KEY("subtype=", KEY_DISCARD),
	FUSE_OPT_KEY("fsname=", KEY_DISCARD),
	FUSE_OPT_END
};

static int conf_proc(void *data, const char *arg, int key,
		     struct fuse_args *outargs)
{
	struct conf *c = data;

	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (!c->image) {
			c->image = strdup(arg);
			return 0;
		}
		if (!c->mnt)
			c->mnt = strdup(arg);
		return 1;	/* the mount point: fuse_parse_cmdline's too */
	case KEY_HELP:
		c->help = 1;
		return 0;
	case KEY_VERSION:
		c->version = 1;
		return 0;
	case KEY_RO:
		c->ro = 1;
		return 1;	/* the kernel needs it too */
	case KEY_NOATIME:
		c->noatime = 1;
		return 1;	/* shown in the mount table */
	case KEY_ATIME:
		c->noatime = 0;
		return 1;	/* libfuse clears MS_NOATIME */
	case KEY_STRICTATIME:	/* Linux: it overrides noatime */
		c->strictatime = 1;
		c->noatime = 0;
		return 0;
	case KEY_RELATIME:
		c->strictatime = 0;
		return 0;
	case KEY_NODIRATIME:
		c->nodiratime = 1;
		return 0;
	case KEY_DIRATIME:
		c->nodiratime = 0;
		return 0;
	case KEY_DISCARD:
		return 0;
	case KEY_ALLOW_OTHER:
		c->allow_other = 1;
		return 1;	/* for libfuse */
	case KEY_AUTO_UNMOUNT:
		c->auto_unmount = 1;
		return 0;
	default:
		/* Command-line flags libfuse knows; -o options go on to
		 * fuse_session_new, which names any it does not know. */
		if (arg[0] == '-' && strcmp(arg, "-f") && strcmp(arg, "-d") &&
		    strcmp(arg, "-s") && strcmp(arg, "--debug") &&
		    strncmp(arg, "-o", 2)) {
			fprintf(stderr, "mapfs: unknown option %s (see mapfs "
				"--help)\n", arg);
			return -1;
		}
		return 1;
	}
}

/*
 * Where the daemon's messages go (log_fn, for the core, and daemon_log):
 * stderr in the foreground, syslog once detached; and, with -o
 * logfile=PATH, that file as well, in either case. The file is opened
 * (append, created 0640) before the daemon detaches, so a relative path is
 * the caller's, and never inside the mount point: the daemon makes no
 * system call on its own mount. Each line is one write(2) of
 * "2026-12-08T03:04:05.678Z mapfs[PID]: LEVEL: message", so lines of
 * several threads (and daemons) do not mix.
 */
static bool foreground = true;
static int log_fd = -1;

static void log_to_file(enum mapfs_log_level lvl, const char *msg)
{
	static const char *const names[] = {
		[MAPFS_LOG_ERR] = "error", [MAPFS_LOG_WARN] = "warning",
		[MAPFS_LOG_INFO] = "info", [MAPFS_LOG_DEBUG] = "debug",
	};
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int n;

	if (log_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ "
		     "mapfs[%ld]: %s: %s\n", tm.tm_year + 1900, tm.tm_mon + 1,
		     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, (long)getpid(),
		     (unsigned)lvl < sizeof(names) / sizeof(names[0]) &&
		     names[lvl] ? names[lvl] : "?", msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {	/* cut: still one line */
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	(void)!write(log_fd, line, (size_t)n);
}

static void log_fn(void *arg, enum mapfs_log_level lvl, const char *msg)
{
	(void)arg;
	if (lvl == MAPFS_LOG_DEBUG)
		return;
	log_to_file(lvl, msg);
	if (foreground)
		fprintf(stderr, "mapfs: %s\n", msg);
	else
		syslog(lvl == MAPFS_LOG_ERR ? LOG_ERR :
		       lvl == MAPFS_LOG_WARN ? LOG_WARNING : LOG_INFO,
		       "%s", msg);
}

static void log_line(const char *msg)
{
	log_fn(NULL, MAPFS_LOG_INFO, msg);
}

void daemon_log(enum mapfs_log_level lvl, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_fn(NULL, lvl, msg);
}

/* Before the daemon detaches: to stderr (the caller's terminal, or
 * mount(8)'s) and to the log file. */
static void report(enum mapfs_log_level lvl, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "mapfs: %s\n", msg);
	log_to_file(lvl, msg);
}

/* -o logfile=PATH: open it for appending, refusing a path inside the
 * mount point mnt (the daemon's own mount: a write there would wait on
 * the daemon itself). 0, or -1 said on stderr. */
static int open_logfile(const char *path, const char *mnt)
{
	char *dup = strdup(path), dir[PATH_MAX];
	const char *slash;
	size_t len = strlen(mnt);
	int ok;

	if (!dup) {
		fprintf(stderr, "mapfs: out of memory\n");
		return -1;
	}
	slash = strrchr(dup, '/');
	if (slash == dup)
		strcpy(dup, "/");
	else if (slash)
		dup[slash - dup] = 0;
	else
		strcpy(dup, ".");
	ok = realpath(dup, dir) != NULL;
	free(dup);
	if (!ok) {
		fprintf(stderr, "mapfs: logfile=%s: %s\n", path,
			strerror(errno));
		return -1;
	}
	if (!strncmp(dir, mnt, len) && (dir[len] == 0 || dir[len] == '/' ||
					 !strcmp(mnt, "/"))) {
		fprintf(stderr, "mapfs: logfile=%s: inside the mount point %s: "
			"the daemon never writes to its own mount; choose a "
			"file elsewhere\n", path, mnt);
		return -1;
	}
	log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
			    O_NOCTTY, 0640);
	if (log_fd < 0) {
		fprintf(stderr, "mapfs: logfile=%s: %s\n", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* Can syslog(3) deliver here? Not without the /dev/log socket (many
 * containers): the messages of a detached daemon would be lost. */
static bool syslog_present(void)
{
	struct stat st;

	return stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: mapfs IMAGE MOUNTPOINT [-f] [-d] [-s] [-o option[,option...]]\n"
"\n"
"Mount the mapfs filesystem in IMAGE (a file or block device made by\n"
"mkfs.mapfs) at MOUNTPOINT.\n"
"\n"
"  -f              stay in the foreground\n"
"  -d              debug output (implies -f)\n"
"  -s              single-threaded\n"
"  -h, --help      this help, then libfuse's options\n"
"  -V, --version   print the version\n"
"\n"
"mapfs options (-o):\n"
"  ro              mount read-only\n"
"  remount         with ro or rw: switch the running mount at MOUNTPOINT\n"
"                  (what mount -o remount,ro runs); starts no daemon\n"
"  noatime         never update access times (default: relatime: a read\n"
"                  updates atime once after each change, or after a day)\n"
"  strictatime     every read updates atime (each open then drops the\n"
"                  file's cached pages); relatime, nostrictatime, atime,\n"
"                  norelatime: back to the default\n"
"  nodiratime      never update the access time of directories (diratime:\n"
"                  do); lazytime, nolazytime: accepted, no effect\n"
"  writeback       let the kernel cache writes and send them later (faster\n"
"                  small writes; but a full filesystem then fails the\n"
"                  write-back, not write(): the error comes at fsync or\n"
"                  close, and the data is lost). Default: nowriteback,\n"
"                  every write() is a request and gets ENOSPC itself\n"
"  force           mount an image that was not cleanly unmounted and has\n"
"                  no journal (run fsck.mapfs first whenever possible)\n"
"  commit=SECS     make changes durable at least every SECS seconds\n"
"                  (default 5; 0: only at fsync, sync and unmount)\n"
"  offset=BYTES    the filesystem starts BYTES into IMAGE (a multiple of\n"
"                  4096: a partition of a container image)\n"
"  size=BYTES      and is BYTES long (default: to the end of IMAGE)\n"
"  logfile=PATH    append the daemon's messages to PATH too, with times\n"
"                  (opened before the daemon detaches; not inside\n"
"                  MOUNTPOINT). Without it a detached daemon logs to\n"
"                  syslog only (lost where there is no /dev/log)\n"
"  nosync          fsync and fsyncdir return at once without making\n"
"                  anything durable: for throwaway data only; a power\n"
"                  loss can lose everything since the last commit\n"
"  async_dio       let the kernel send the O_DIRECT requests of one\n"
"                  io_submit or io_uring call in parallel (much faster\n"
"                  at queue depths above 1), when no program reads the\n"
"                  same files through the page cache while they are\n"
"                  written directly: such a reader may keep old bytes\n"
"  nouring         take requests from /dev/fuse even when the kernel offers\n"
"                  FUSE over io_uring (by default used when the fuse\n"
"                  module's enable_uring parameter is Y)\n"
"  stats           count the requests by kind, with the daemon's time on\n"
"                  each, and print the table to the log at unmount\n"
"  timeout=SECS    kernel attribute and entry cache timeout (default 86400:\n"
"                  the daemon is the image's only writer)\n"
"  allow_other     let other users access the mount\n"
"  auto_unmount    unmount when the daemon exits, even when it is killed\n"
"  fakeroot        for unprivileged image builds: no permission checks,\n"
"                  chown/chgrp to any ids succeed and are stored, every\n"
"                  file shows as owned by the mounting user, and that\n"
"                  user's own ids are stored as 0:0 (root); no ACLs; not\n"
"                  with allow_other\n"
"  Permission checks are the kernel's (default_permissions is on, except\n"
"  with fakeroot).\n");
}

static const char *state_name(uint32_t state)
{
	switch (state) {
	case MAPFS_STATE_CLEAN:
		return "clean";
	case MAPFS_STATE_MOUNTED:
		return "not cleanly unmounted";
	default:
		return "marked with errors";
	}
}

/* What main's steps share: the options, then what has been set up (up:
 * how far, so that finish() undoes exactly that). */
struct run {
	struct fuse_args args;
	struct fuse_cmdline_opts cmd;
	struct conf conf;
	struct mapfs_region region;
	char path[PATH_MAX];	/* the image's real path */
	struct daemon d;
	struct fuse_session *se;
	enum { UP_NONE, UP_OPEN, UP_SESSION, UP_SIGNALS, UP_MOUNTED } up;
};

#define GO_ON (-1)	/* a step's result: carry on with the next one */

/* Parse the command line into r->conf (libfuse's -o options stay in
 * r->args). Answers --help and --version. Returns GO_ON, or the exit
 * status: 0 after help or version, 2 for a usage error. */
static int parse_args(struct run *r, int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);

	memset(r, 0, sizeof(*r));
	r->args = args;
	r->conf.timeout = 86400.0;
	r->conf.commit = 5;
	if (fuse_opt_parse(&r->args, &r->conf, conf_opts, conf_proc) == -1)
		return 2;
	if (r->conf.help) {
		usage(stdout);
		printf("\nlibfuse options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		return 0;
	}
	if (r->conf.version) {
		printf("mapfs %s (libfuse %s)\n", MAPFS_VERSION_STRING,
		       fuse_pkgversion());
		return 0;
	}
	if (!r->conf.image || !r->conf.mnt) {
		usage(stderr);
		return 2;
	}
	return GO_ON;
}

/* mount -o remount: no daemon, the switches of the live mount's own
 * (remount.c). Returns the exit status. */
static int remount(struct run *r)
{
	char why[512] = "";
	int ret = remount_run(r->conf.image, r->conf.mnt, r->conf.ro, why,
			      sizeof(why)) < 0;

	if (ret)
		fprintf(stderr, "mapfs: %s\n", why);
	return ret;
}

/* Resolve the image's path and the mount point (a dead mount there is
 * cleared; a live daemon's mount of the same image is shared, which ends
 * here), let libfuse parse its options, and check the values of ours.
 * Returns GO_ON, or the exit status (1, or 2 for a usage error). */
static int prepare(struct run *r)
{
	struct conf *conf = &r->conf;
	char opt[PATH_MAX + 64];

	if (!realpath(conf->image, r->path)) {
		fprintf(stderr, "mapfs: %s: %s\n", conf->image,
			strerror(errno));
		return 1;
	}
	/* Before fuse_parse_cmdline, which resolves the mount point: a
	 * dead mount there would fail that, and a hung one hang it. */
	if (strncmp(conf->mnt, "/dev/fd/", 8) &&
	    mountpoint_prepare(conf->mnt, r->path) < 0)
		return 1;
	if ((conf->offset &&
	     mapfs_parse_size(conf->offset, &r->region.offset)) ||
	    (conf->size && mapfs_parse_size(conf->size, &r->region.size)) ||
	    r->region.offset % MAPFS_PAGE_SIZE) {
		fprintf(stderr, "mapfs: bad offset= or size= (bytes, K/M/G/T "
			"suffixes; the offset a multiple of 4096)\n");
		return 2;
	}
	/* Mounted elsewhere by a live daemon: one more view of it (of
	 * the same region only). */
	if (strncmp(conf->mnt, "/dev/fd/", 8)) {
		int shared = mountpoint_share(conf->mnt, r->path, conf->ro,
					      &r->region);

		if (shared != 0)
			return shared < 0;
	}
	fuse_opt_add_arg(&r->args, "-osubtype=mapfs");
	{
		/* -o takes comma-separated options: escape commas (and
		 * backslashes) in the path. */
		size_t o = strlen(strcpy(opt, "-ofsname="));
		for (const char *c = r->path; *c && o + 3 < sizeof(opt); c++) {
			if (*c == ',' || *c == '\\')
				opt[o++] = '\\';
			opt[o++] = *c;
		}
		opt[o] = 0;
		fuse_opt_add_arg(&r->args, opt);
	}
	if (fuse_parse_cmdline(&r->args, &r->cmd) != 0) {
		fprintf(stderr, "mapfs: bad options (see mapfs --help)\n");
		return 2;
	}
	if (!r->cmd.mountpoint) {
		usage(stderr);
		return 2;
	}
	if (conf->fakeroot && conf->allow_other) {
		fprintf(stderr, "mapfs: fakeroot and allow_other together "
			"would give every user root's rights over the files: "
			"refused\n");
		return 2;
	}
	if (conf->commit < 0 || conf->commit > 86400) {
		fprintf(stderr, "mapfs: commit=%d: out of range (0 to 86400)\n",
			conf->commit);
		return 2;
	}
	if (conf->timeout < 0 || conf->timeout > 86400 * 365) {
		fprintf(stderr, "mapfs: timeout=%g: out of range\n",
			conf->timeout);
		return 2;
	}
	foreground = r->cmd.foreground;
	if (conf->logfile && open_logfile(conf->logfile, r->cmd.mountpoint))
		return 1;

	return GO_ON;
}

/* Open, lock, validate and map the image (journal replayed), refuse one
 * that needs fsck unless -o force or ro, and set up r->d from the options.
 * Returns GO_ON, or 1 (r->up says whether the image stays to be closed). */
static int open_image(struct run *r)
{
	struct conf *conf = &r->conf;
	struct daemon *d = &r->d;
	char why[512] = "";
	int err;

	err = mapfs_fs_open_region(r->path, conf->ro ? MAPFS_OPEN_RDONLY
						     : MAPFS_OPEN_JOURNAL,
				   &r->region, 0, log_fn, NULL, &d->fs, why,
				   sizeof(why));
	if (err < 0) {
		fprintf(stderr, "mapfs: %s: %s\n", conf->image, why);
		return 1;
	}
	r->up = UP_OPEN;
	/* For a later second mount of the image (mountpoint_share). */
	if (d->fs->fd >= 0)
		(void)mountpoint_claim_region(d->fs->fd, &r->region);
	{
		/* Without a usable root nothing can be served: refuse. */
		struct mapfs_inode root;
		err = mapfs_inode_load(d->fs, MAPFS_ROOT_INO, &root);
		if (err == 0 && (root.mode & MAPFS_IFMT) != MAPFS_IFDIR)
			err = -EUCLEAN;
		if (err < 0) {
			fprintf(stderr, "mapfs: %s: the root directory is "
				"damaged: run fsck.mapfs %s\n", conf->image,
				conf->image);
			return 1;
		}
	}
	if (d->fs->state == MAPFS_STATE_MOUNTED &&
	    (d->fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL)) {
		/* A crash: the journal brought the image back to the state
		 * after the last operation that reached it (replayed at
		 * open); unlinked-but-open files are freed below. */
		report(MAPFS_LOG_WARN, "%s: not cleanly unmounted: recovered "
		       "from the journal (%llu operation%s replayed)",
		       conf->image, (unsigned long long)d->fs->replayed,
		       d->fs->replayed == 1 ? "" : "s");
	} else if (d->fs->state != MAPFS_STATE_CLEAN) {
		if (!conf->ro && !conf->force) {
			fprintf(stderr, "mapfs: %s: filesystem %s: run "
				"fsck.mapfs %s first (or mount with -o force)\n",
				conf->image, state_name(d->fs->state),
				conf->image);
			return 1;
		}
		report(MAPFS_LOG_WARN, "%s: warning: filesystem %s; mounting "
		       "anyway", conf->image, state_name(d->fs->state));
	}
	d->ro = conf->ro;
	d->image_rw = !conf->ro;
	d->noatime = conf->noatime;
	d->strictatime = conf->strictatime;
	d->nodiratime = conf->nodiratime;
	d->nosync = conf->nosync;
	d->async_dio = conf->async_dio;
	/* Write-through unless asked: see "Writes and a full filesystem"
	 * in docs/DESIGN.md. */
	d->writeback = conf->writeback && !conf->nowriteback;
	d->timeout = conf->timeout;
	pthread_rwlock_init(&d->lock, NULL);
	pthread_mutex_init(&d->ref_lock, NULL);
	pthread_mutex_init(&d->ra_lock, NULL);
	daemon_catch_sigbus(d);
	/* Index large directories in memory (64 MiB for all of them). */
	if (mapfs_dh_enable(d->fs, 64u << 20) < 0)
		fprintf(stderr, "mapfs: no memory for directory indexes; "
			"large directories will be scanned\n");
	/* The only writer: metadata pages checked once (image.c). */
	if (mapfs_fs_keep_checks(d->fs) < 0)
		fprintf(stderr, "mapfs: no memory to remember checked "
			"metadata; every use checks it again\n");
	d->fs->inode_busy = daemon_busy;
	d->fs->busy_arg = d;
	return GO_ON;
}

/* Start the FUSE session and mount it; then, read-write, zero the free
 * blocks in the host if needed, mark the image mounted (durable before
 * any other store), free the orphans of a crash and reserve host space
 * for the metadata. Returns GO_ON or 1 (r->up says what to undo). */
static int mount_image(struct run *r)
{
	struct conf *conf = &r->conf;
	struct daemon *d = &r->d;
	int err;

	if (conf->fakeroot) {
		/* The kernel's checks would refuse a chown by a user without
		 * CAP_CHOWN before we see it: off, and none of our own. */
		d->fakeroot = true;
		d->fake_uid = getuid();
		d->fake_gid = getgid();
	} else {
		fuse_opt_add_arg(&r->args, "-odefault_permissions");
	}
	r->se = fuse_session_new(&r->args, &mapfs_ll_ops, sizeof(mapfs_ll_ops),
				 d);
	if (!r->se) {
		fprintf(stderr, "mapfs: cannot start the FUSE session (bad "
			"-o option? see mapfs --help)\n");
		return 1;
	}
	d->se = r->se;
	r->up = UP_SESSION;
	if (fuse_set_signal_handlers(r->se) != 0)
		return 1;
	r->up = UP_SIGNALS;
	if (fuse_session_mount(r->se, r->cmd.mountpoint) != 0) {
		fprintf(stderr, "mapfs: cannot mount at %s\n",
			r->cmd.mountpoint);
		return 1;
	}
	r->up = UP_MOUNTED;
	if (conf->auto_unmount &&
	    mountpoint_guard(r->cmd.mountpoint, r->path) < 0)
		fprintf(stderr, "mapfs: warning: cannot start the auto_unmount "
			"guard\n");

	if (!d->ro) {
		/* Mark the image mounted and make that durable before any
		 * other store, so a crash from here on is seen. */
		struct mapfs_timespec now = mapfs_now();

		/* Every free block reads as zeros before any is given out
		 * (docs/DURABILITY.md); the commit below makes it durable.
		 * After a clean unmount by this version the superblock says
		 * so and there is nothing to do (nor to log). */
		if (d->fs->j) {
			bool known = d->fs->free_zero_found;
			struct timespec t0, t1;
			uint64_t runs;
			char msg[160];

			clock_gettime(CLOCK_MONOTONIC, &t0);
			runs = mapfs_alloc_zero_free(d->fs);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			snprintf(msg, sizeof(msg), "free blocks zeroed in the "
				 "host: %llu runs in %.3f s",
				 (unsigned long long)runs,
				 (double)(t1.tv_sec - t0.tv_sec) +
					 (t1.tv_nsec - t0.tv_nsec) / 1e9);
			if (!known)
				log_fn(NULL, MAPFS_LOG_INFO, msg);
		}
		/* One operation: the superblock stores, the commit, the
		 * orphans reaped (the ring is empty: begin cannot fail). */
		(void)mapfs_op_begin(d->fs);
		d->fs->state = MAPFS_STATE_MOUNTED;
		d->fs->mount_count++;
		d->fs->mount_time = d->fs->write_time = now.sec;
		mapfs_super_store(d->fs);
		err = mapfs_fs_commit(d->fs);
		if (err < 0) {
			fprintf(stderr, "mapfs: %s: cannot write the "
				"superblock: %s\n", conf->image, strerror(-err));
			return 1;
		}
		/* Unlinked files that were open at a crash. */
		mapfs_op_reap_orphans(d->fs);
		err = mapfs_op_end(d->fs);
		if (err < 0) {
			fprintf(stderr, "mapfs: %s: cannot write the journal: "
				"%s\n", conf->image, strerror(-err));
			return 1;
		}
		/* Host space behind the metadata of the groups in use, so
		 * a full host disk cannot fault a metadata store. */
		if (mapfs_alloc_reserve_metadata(d->fs) < 0)
			report(MAPFS_LOG_WARN, "%s: warning: the host "
			       "filesystem is full; writes may fail",
			       conf->image);
	}
	return GO_ON;
}

/* Serve requests until the unmount or a signal: the transport, the
 * helper threads (write-ahead, commit timer, remount listener), then
 * FUSE's loop; stops the helpers afterwards. Returns the exit status. */
static int serve(struct run *r)
{
	struct fuse_loop_config *cfg = NULL;
	struct daemon *d = &r->d;
	int ret;

	/* FUSE over io_uring where the kernel allows it (uring.c). */
	if (r->conf.stats)
		stats_enable();
	if (uring_setup(d, r->se, !r->conf.nouring && !r->cmd.singlethread) !=
	    0)
		log_fn(NULL, MAPFS_LOG_WARN, "cannot set up FUSE over io_uring");
	if (!r->cmd.foreground && log_fd < 0 && !syslog_present())
		fprintf(stderr, "mapfs: warning: no syslog here (no /dev/log): "
			"the daemon's messages will be lost once it detaches; "
			"mount with -o logfile=PATH (or run it with -f)\n");
	if (fuse_daemonize(r->cmd.foreground) != 0)
		return 1;
	daemon_log(MAPFS_LOG_INFO, "%s mounted at %s (%s)", r->path,
		   r->cmd.mountpoint, d->ro ? "read-only" : "read-write");
	d->single = r->cmd.singlethread;
	if (!d->ro && ahead_start(d->fs) != 0)
		log_fn(NULL, MAPFS_LOG_WARN, "cannot start the write-ahead "
		       "thread");
	if (!d->ro && d->fs->j && r->conf.commit > 0 &&
	    daemon_commit_start(d, r->conf.commit) != 0)
		log_fn(NULL, MAPFS_LOG_WARN, "cannot start the commit timer");
	if (remount_listen(d, r->cmd.mountpoint) < 0)
		log_fn(NULL, MAPFS_LOG_WARN, "cannot listen for remounts: "
		       "mount -o remount will fail");
	/* The mount's read-ahead window, raised once INIT is done (bdi.c;
	 * never through a system call on the mount itself). */
	if (bdi_arm(r->cmd.mountpoint) < 0)
		log_fn(NULL, MAPFS_LOG_WARN, "cannot find the mount in "
		       "/proc/self/mountinfo: read-ahead stays at the "
		       "kernel's default");
	if (r->cmd.singlethread) {
		ret = fuse_session_loop(r->se);
	} else {
		cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(cfg, r->cmd.clone_fd);
		fuse_loop_cfg_set_max_threads(cfg, r->cmd.max_threads);
		ret = fuse_session_loop_mt(r->se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	/* The loop returns the signal number after SIGINT/SIGTERM/SIGHUP:
	 * a requested, clean unmount. Only -errno is a failure. */
	ret = ret < 0;
	uring_stop();
	{
		struct ahead_stats as;
		char msg[160];

		ahead_stop(d->fs, &as);
		snprintf(msg, sizeof(msg), "write-ahead: %llu runs, %llu "
			 "dropped, %llu failed", (unsigned long long)as.queued,
			 (unsigned long long)as.dropped,
			 (unsigned long long)as.failed);
		log_fn(NULL, MAPFS_LOG_INFO, msg);

		/* For the log (and with_transport.sh). */
		snprintf(msg, sizeof(msg), "requests: %s", uring_describe());
		log_fn(NULL, MAPFS_LOG_INFO, msg);
		stats_report(log_line);
	}
	daemon_commit_stop();
	remount_stop();
	return ret;
}

/* Undo what r->up says was set up: unmount, end the session, then (a
 * read-write image marked mounted) free what was unlinked while in use,
 * write everything back and mark the image clean, and close it; free the
 * options. Returns ret, or 1 if the final write-back failed. */
static int finish(struct run *r, int ret)
{
	struct daemon *d = &r->d;
	int err;

	if (r->up >= UP_MOUNTED)
		fuse_session_unmount(r->se);
	if (r->up >= UP_SIGNALS)
		fuse_remove_signal_handlers(r->se);
	if (r->up >= UP_SESSION)
		fuse_session_destroy(r->se);
	if (r->up >= UP_SESSION && !d->ro &&
	    d->fs->state == MAPFS_STATE_MOUNTED) {
		/* Clean unmount: free what was unlinked while in use, write
		 * everything back, then mark clean and write the superblock
		 * again (last). */
		struct mapfs_timespec now = mapfs_now();
		daemon_reap_all(d);
		err = mapfs_fs_sync(d->fs);
		if (err == 0) {
			d->fs->state = atomic_load(&d->fs->error)
					       ? MAPFS_STATE_ERROR
					       : MAPFS_STATE_CLEAN;
			d->fs->write_time = now.sec;
			err = mapfs_fs_sync(d->fs);
		}
		if (d->fs->j) {
			/* What the journal did, for the log (and the tests:
			 * -o nosync must leave fsync without flushes). */
			struct mapfs_journal_stats st;
			char msg[256];

			mapfs_journal_get_stats(d->fs, &st);
			snprintf(msg, sizeof(msg), "journal: %llu records "
				 "(%llu KiB), %llu commits, %llu flushes, "
				 "%llu pages checkpointed, %llu freed runs "
				 "zeroed (%llu blocks)",
				 (unsigned long long)st.records,
				 (unsigned long long)(st.bytes >> 10),
				 (unsigned long long)st.commits,
				 (unsigned long long)st.flushes,
				 (unsigned long long)st.checkpoint_pages,
				 (unsigned long long)st.zeroed_runs,
				 (unsigned long long)st.zeroed_blocks);
			log_fn(NULL, MAPFS_LOG_INFO, msg);
		}
		if (err < 0) {
			log_fn(NULL, MAPFS_LOG_ERR, "final write-back failed");
			ret = 1;
		}
	}
	if (r->up >= UP_MOUNTED)
		daemon_log(ret ? MAPFS_LOG_ERR : MAPFS_LOG_INFO,
			   "%s unmounted from %s%s", r->path,
			   r->cmd.mountpoint, ret ? " (with errors)" : "");
	if (r->up >= UP_SESSION)
		daemon_refs_free(d);
	if (r->up >= UP_OPEN)
		mapfs_fs_close(d->fs);
	free(r->cmd.mountpoint);
	free(r->conf.image);
	free(r->conf.mnt);
	free(r->conf.offset);
	free(r->conf.size);
	free(r->conf.logfile);
	if (log_fd >= 0)
		close(log_fd);
	fuse_opt_free_args(&r->args);
	return ret;
}

int main(int argc, char *argv[])
{
	static struct run r;
	int ret;

	if (argc == 5 && !strcmp(argv[1], MOUNTPOINT_GUARD_ARG))
		return mountpoint_guard_run(argv[2], argv[3], argv[4]);
	ret = parse_args(&r, argc, argv);
	if (ret == GO_ON && r.conf.remount)
		ret = remount(&r);
	if (ret == GO_ON)
		ret = prepare(&r);
	if (ret == GO_ON)
		ret = open_image(&r);
	if (ret == GO_ON)
		ret = mount_image(&r);
	if (ret == GO_ON)
		ret = serve(&r);
	return finish(&r, ret);
}
