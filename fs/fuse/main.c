/* SPDX-License-Identifier: MIT */
/*
 * main.c - the mapfs daemon: `mapfs IMAGE MOUNTPOINT [-f] [-d] [-o opts]`.
 *
 * Parses options, opens, locks, validates and maps the image, marks it
 * mounted (synced before anything else is stored), runs FUSE's
 * multi-threaded loop, and on the way out frees the inodes that were
 * unlinked while in use, writes everything back and marks the image clean.
 */
#include "ahead.h"
#include "bdi.h"
#include "daemon.h"
#include "mountpoint.h"
#include "remount.h"
#include "uring.h"

#include <errno.h>
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
	int fakeroot;
	int allow_other;
	int auto_unmount;
	int commit;
	char *offset, *size;
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
	CONF_OPT("fakeroot", fakeroot),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	/* Ours, not libfuse's (see mountpoint_guard). */
	FUSE_OPT_KEY("auto_unmount", KEY_AUTO_UNMOUNT),
	{"commit=%d", offsetof(struct conf, commit), 0},
	{"offset=%s", offsetof(struct conf, offset), 0},
	{"size=%s", offsetof(struct conf, size), 0},
	{"timeout=%lf", offsetof(struct conf, timeout), 0},
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("ro", KEY_RO),
	/* mount -o remount,... through mount.fuse3 (remount.c) */
	{"remount", offsetof(struct conf, remount), 1},
	/* atime, as mount(8) writes it (the last word wins): the kernel
	 * leaves atime to FUSE filesystems (file.c, atime_due). */
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

static bool foreground = true;

static void log_fn(void *arg, enum mapfs_log_level lvl, const char *msg)
{
	(void)arg;
	if (lvl == MAPFS_LOG_DEBUG)
		return;
	if (foreground)
		fprintf(stderr, "mapfs: %s\n", msg);
	else
		syslog(lvl == MAPFS_LOG_ERR ? LOG_ERR :
		       lvl == MAPFS_LOG_WARN ? LOG_WARNING : LOG_INFO,
		       "%s", msg);
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

/* The commit timer: every commit= seconds, if anything changed, make it
 * durable (bounding what a power cut can take from a workload that never
 * calls fsync). */
static struct {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stop;
	int secs;
} ct = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *commit_loop(void *arg)
{
	struct daemon *d = arg;
	uint64_t last = 0;

	pthread_mutex_lock(&ct.mu);
	while (!ct.stop) {
		struct mapfs_journal_stats st;
		struct timespec until;
		bool data;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += ct.secs;
		while (!ct.stop &&
		       pthread_cond_timedwait(&ct.cv, &ct.mu, &until) == 0)
			;
		if (ct.stop)
			break;
		pthread_mutex_unlock(&ct.mu);
		pthread_rwlock_rdlock(&d->lock);
		mapfs_journal_get_stats(d->fs, &st);
		pthread_rwlock_unlock(&d->lock);
		data = atomic_exchange(&d->data_written, false);
		if ((st.records != last || data) && !d->broken &&
		    daemon_commit(d) < 0)
			log_fn(NULL, MAPFS_LOG_ERR, "periodic commit failed");
		pthread_rwlock_rdlock(&d->lock);
		mapfs_journal_get_stats(d->fs, &st);
		pthread_rwlock_unlock(&d->lock);
		last = st.records;
		pthread_mutex_lock(&ct.mu);
	}
	pthread_mutex_unlock(&ct.mu);
	return NULL;
}

static int commit_start(struct daemon *d, int secs)
{
	ct.secs = secs;
	if (pthread_create(&ct.thread, NULL, commit_loop, d) != 0)
		return -1;
	(void)pthread_setname_np(ct.thread, "mapfs-commit");
	ct.running = true;
	return 0;
}

static void commit_stop(void)
{
	if (!ct.running)
		return;
	pthread_mutex_lock(&ct.mu);
	ct.stop = true;
	pthread_cond_signal(&ct.cv);
	pthread_mutex_unlock(&ct.mu);
	pthread_join(ct.thread, NULL);
	ct.running = false;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd;
	struct fuse_loop_config *cfg = NULL;
	struct fuse_session *se = NULL;
	struct conf conf;
	struct mapfs_region region = {0, 0};
	struct daemon d;
	char why[512] = "", path[PATH_MAX], opt[PATH_MAX + 64];
	int err, ret = 1;

	if (argc == 5 && !strcmp(argv[1], MOUNTPOINT_GUARD_ARG))
		return mountpoint_guard_run(argv[2], argv[3], argv[4]);
	memset(&conf, 0, sizeof(conf));
	memset(&d, 0, sizeof(d));
	memset(&cmd, 0, sizeof(cmd));
	conf.timeout = 86400.0;
	conf.commit = 5;
	if (fuse_opt_parse(&args, &conf, conf_opts, conf_proc) == -1) {
		ret = 2;
		goto out_args;
	}
	if (conf.help) {
		usage(stdout);
		printf("\nlibfuse options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out_args;
	}
	if (conf.version) {
		printf("mapfs %s (libfuse %s)\n", MAPFS_VERSION_STRING,
		       fuse_pkgversion());
		ret = 0;
		goto out_args;
	}
	if (!conf.image || !conf.mnt) {
		usage(stderr);
		ret = 2;
		goto out_args;
	}
	if (conf.remount) {	/* no daemon: the mount's own switches */
		ret = remount_run(conf.image, conf.mnt, conf.ro, why,
				  sizeof(why)) < 0;
		if (ret)
			fprintf(stderr, "mapfs: %s\n", why);
		goto out_args;
	}
	if (!realpath(conf.image, path)) {
		fprintf(stderr, "mapfs: %s: %s\n", conf.image, strerror(errno));
		goto out_args;
	}
	/* Before fuse_parse_cmdline, which resolves the mount point: a
	 * dead mount there would fail that, and a hung one hang it. */
	if (strncmp(conf.mnt, "/dev/fd/", 8) &&
	    mountpoint_prepare(conf.mnt, path) < 0)
		goto out_args;
	/* Mounted elsewhere by a live daemon: one more view of it. */
	if (strncmp(conf.mnt, "/dev/fd/", 8)) {
		int shared = mountpoint_share(conf.mnt, path, conf.ro);

		if (shared != 0) {
			ret = shared < 0;
			goto out_args;
		}
	}
	fuse_opt_add_arg(&args, "-osubtype=mapfs");
	{
		/* -o takes comma-separated options: escape commas (and
		 * backslashes) in the path. */
		size_t o = strlen(strcpy(opt, "-ofsname="));
		for (const char *c = path; *c && o + 3 < sizeof(opt); c++) {
			if (*c == ',' || *c == '\\')
				opt[o++] = '\\';
			opt[o++] = *c;
		}
		opt[o] = 0;
		fuse_opt_add_arg(&args, opt);
	}
	if (fuse_parse_cmdline(&args, &cmd) != 0) {
		fprintf(stderr, "mapfs: bad options (see mapfs --help)\n");
		ret = 2;
		goto out_args;
	}
	if (!cmd.mountpoint) {
		usage(stderr);
		ret = 2;
		goto out_args;
	}
	if (conf.fakeroot && conf.allow_other) {
		fprintf(stderr, "mapfs: fakeroot and allow_other together "
			"would give every user root's rights over the files: "
			"refused\n");
		ret = 2;
		goto out_args;
	}
	if (conf.commit < 0 || conf.commit > 86400) {
		fprintf(stderr, "mapfs: commit=%d: out of range (0 to 86400)\n",
			conf.commit);
		ret = 2;
		goto out_args;
	}
	if (conf.timeout < 0 || conf.timeout > 86400 * 365) {
		fprintf(stderr, "mapfs: timeout=%g: out of range\n",
			conf.timeout);
		ret = 2;
		goto out_args;
	}
	foreground = cmd.foreground;

	if ((conf.offset && mapfs_parse_size(conf.offset, &region.offset)) ||
	    (conf.size && mapfs_parse_size(conf.size, &region.size)) ||
	    region.offset % MAPFS_PAGE_SIZE) {
		fprintf(stderr, "mapfs: bad offset= or size= (bytes, K/M/G/T "
			"suffixes; the offset a multiple of 4096)\n");
		ret = 2;
		goto out_args;
	}
	err = mapfs_fs_open_region(path, conf.ro ? MAPFS_OPEN_RDONLY
						 : MAPFS_OPEN_JOURNAL,
				   &region, 0, log_fn, NULL, &d.fs, why,
				   sizeof(why));
	if (err < 0) {
		fprintf(stderr, "mapfs: %s: %s\n", conf.image, why);
		goto out_args;
	}
	{
		/* Without a usable root nothing can be served: refuse. */
		struct mapfs_inode root;
		err = mapfs_inode_load(d.fs, MAPFS_ROOT_INO, &root);
		if (err == 0 && (root.mode & MAPFS_IFMT) != MAPFS_IFDIR)
			err = -EUCLEAN;
		if (err < 0) {
			fprintf(stderr, "mapfs: %s: the root directory is "
				"damaged: run fsck.mapfs %s\n", conf.image,
				conf.image);
			goto out_close;
		}
	}
	if (d.fs->state == MAPFS_STATE_MOUNTED &&
	    (d.fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL)) {
		/* A crash: the journal brought the image back to the state
		 * after the last operation that reached it (replayed at
		 * open); unlinked-but-open files are freed below. */
		fprintf(stderr, "mapfs: %s: not cleanly unmounted: recovered "
			"from the journal (%llu operation%s replayed)\n",
			conf.image, (unsigned long long)d.fs->replayed,
			d.fs->replayed == 1 ? "" : "s");
	} else if (d.fs->state != MAPFS_STATE_CLEAN) {
		if (!conf.ro && !conf.force) {
			fprintf(stderr, "mapfs: %s: filesystem %s: run "
				"fsck.mapfs %s first (or mount with -o force)\n",
				conf.image, state_name(d.fs->state), conf.image);
			goto out_close;
		}
		fprintf(stderr, "mapfs: %s: warning: filesystem %s; mounting "
			"anyway\n", conf.image, state_name(d.fs->state));
	}
	d.ro = conf.ro;
	d.image_rw = !conf.ro;
	d.noatime = conf.noatime;
	d.strictatime = conf.strictatime;
	d.nodiratime = conf.nodiratime;
	d.nosync = conf.nosync;
	d.async_dio = conf.async_dio;
	/* Write-through unless asked: see "Writes and a full filesystem"
	 * in docs/DESIGN.md. */
	d.writeback = conf.writeback && !conf.nowriteback;
	d.timeout = conf.timeout;
	pthread_rwlock_init(&d.lock, NULL);
	pthread_mutex_init(&d.ref_lock, NULL);
	pthread_mutex_init(&d.ra_lock, NULL);
	daemon_catch_sigbus(&d);
	/* Index large directories in memory (64 MiB for all of them). */
	if (mapfs_dh_enable(d.fs, 64u << 20) < 0)
		fprintf(stderr, "mapfs: no memory for directory indexes; "
			"large directories will be scanned\n");
	d.fs->inode_busy = daemon_busy;
	d.fs->busy_arg = &d;

	if (conf.fakeroot) {
		/* The kernel's checks would refuse a chown by a user without
		 * CAP_CHOWN before we see it: off, and none of our own. */
		d.fakeroot = true;
		d.fake_uid = getuid();
		d.fake_gid = getgid();
	} else {
		fuse_opt_add_arg(&args, "-odefault_permissions");
	}
	se = fuse_session_new(&args, &mapfs_ll_ops, sizeof(mapfs_ll_ops), &d);
	if (!se) {
		fprintf(stderr, "mapfs: cannot start the FUSE session (bad "
			"-o option? see mapfs --help)\n");
		goto out_close;
	}
	d.se = se;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, cmd.mountpoint) != 0) {
		fprintf(stderr, "mapfs: cannot mount at %s\n", cmd.mountpoint);
		goto out_signals;
	}
	if (conf.auto_unmount && mountpoint_guard(cmd.mountpoint, path) < 0)
		fprintf(stderr, "mapfs: warning: cannot start the auto_unmount "
			"guard\n");

	if (!d.ro) {
		/* Mark the image mounted and make that durable before any
		 * other store, so a crash from here on is seen. */
		struct mapfs_timespec now = mapfs_now();

		/* Every free block reads as zeros before any is given out
		 * (docs/DURABILITY.md); the commit below makes it durable.
		 * After a clean unmount by this version the superblock says
		 * so and there is nothing to do (nor to log). */
		if (d.fs->j) {
			bool known = d.fs->free_zero_found;
			struct timespec t0, t1;
			uint64_t runs;
			char msg[160];

			clock_gettime(CLOCK_MONOTONIC, &t0);
			runs = mapfs_alloc_zero_free(d.fs);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			snprintf(msg, sizeof(msg), "free blocks zeroed in the "
				 "host: %llu runs in %.3f s",
				 (unsigned long long)runs,
				 (double)(t1.tv_sec - t0.tv_sec) +
					 (t1.tv_nsec - t0.tv_nsec) / 1e9);
			if (!known)
				log_fn(NULL, MAPFS_LOG_INFO, msg);
		}
		d.fs->state = MAPFS_STATE_MOUNTED;
		d.fs->mount_count++;
		d.fs->mount_time = d.fs->write_time = now.sec;
		mapfs_super_store(d.fs);
		err = mapfs_fs_commit(d.fs);
		if (err < 0) {
			fprintf(stderr, "mapfs: %s: cannot write the "
				"superblock: %s\n", conf.image, strerror(-err));
			goto out_unmount;
		}
		/* Unlinked files that were open at a crash. */
		mapfs_op_reap_orphans(d.fs);
		err = mapfs_journal_op_end(d.fs);
		if (err < 0) {
			fprintf(stderr, "mapfs: %s: cannot write the journal: "
				"%s\n", conf.image, strerror(-err));
			goto out_unmount;
		}
		/* Host space behind the metadata of the groups in use, so
		 * a full host disk cannot fault a metadata store. */
		if (mapfs_alloc_reserve_metadata(d.fs) < 0)
			fprintf(stderr, "mapfs: %s: warning: the host "
				"filesystem is full; writes may fail\n",
				conf.image);
	}

	/* FUSE over io_uring where the kernel allows it (uring.c). */
	if (uring_setup(&d, se, !conf.nouring && !cmd.singlethread) != 0)
		log_fn(NULL, MAPFS_LOG_WARN, "cannot set up FUSE over io_uring");
	if (fuse_daemonize(cmd.foreground) != 0)
		goto out_unmount;
	d.single = cmd.singlethread;
	if (!d.ro && ahead_start(d.fs) != 0)
		log_fn(NULL, MAPFS_LOG_WARN, "cannot start the write-ahead "
		       "thread");
	if (!d.ro && d.fs->j && conf.commit > 0 &&
	    commit_start(&d, conf.commit) != 0)
		log_fn(NULL, MAPFS_LOG_WARN, "cannot start the commit timer");
	if (remount_listen(&d, cmd.mountpoint) < 0)
		log_fn(NULL, MAPFS_LOG_WARN, "cannot listen for remounts: "
		       "mount -o remount will fail");
	/* The mount's read-ahead window, raised once INIT is done (bdi.c;
	 * never through a system call on the mount itself). */
	if (bdi_arm(cmd.mountpoint) < 0)
		log_fn(NULL, MAPFS_LOG_WARN, "cannot find the mount in "
		       "/proc/self/mountinfo: read-ahead stays at the "
		       "kernel's default");
	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(cfg, cmd.clone_fd);
		fuse_loop_cfg_set_max_threads(cfg, cmd.max_threads);
		ret = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	/* The loop returns the signal number after SIGINT/SIGTERM/SIGHUP:
	 * a requested, clean unmount. Only -errno is a failure. */
	ret = ret < 0;
	uring_stop();
	{
		struct ahead_stats as;
		char msg[160];

		ahead_stop(d.fs, &as);
		snprintf(msg, sizeof(msg), "write-ahead: %llu runs, %llu "
			 "dropped, %llu failed", (unsigned long long)as.queued,
			 (unsigned long long)as.dropped,
			 (unsigned long long)as.failed);
		log_fn(NULL, MAPFS_LOG_INFO, msg);

		/* For the log (and with_transport.sh). */
		snprintf(msg, sizeof(msg), "requests: %s", uring_describe());
		log_fn(NULL, MAPFS_LOG_INFO, msg);
	}
	commit_stop();
	remount_stop();

out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
	if (!d.ro && d.fs->state == MAPFS_STATE_MOUNTED) {
		/* Clean unmount: free what was unlinked while in use, write
		 * everything back, then mark clean and write the superblock
		 * again (last). */
		struct mapfs_timespec now = mapfs_now();
		daemon_reap_all(&d);
		err = mapfs_fs_sync(d.fs);
		if (err == 0) {
			d.fs->state = atomic_load(&d.fs->error)
					      ? MAPFS_STATE_ERROR
					      : MAPFS_STATE_CLEAN;
			d.fs->write_time = now.sec;
			err = mapfs_fs_sync(d.fs);
		}
		if (d.fs->j) {
			/* What the journal did, for the log (and the tests:
			 * -o nosync must leave fsync without flushes). */
			struct mapfs_journal_stats st;
			char msg[256];

			mapfs_journal_get_stats(d.fs, &st);
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
	daemon_refs_free(&d);
out_close:
	mapfs_fs_close(d.fs);
out_args:
	free(cmd.mountpoint);
	free(conf.image);
	free(conf.mnt);
	free(conf.offset);
	free(conf.size);
	fuse_opt_free_args(&args);
	return ret;
}
