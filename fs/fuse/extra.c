/* SPDX-License-Identifier: MIT */
/*
 * extra.c - FUSE requests that libfuse 3.14 does not dispatch.
 *
 * libfuse answers an opcode it does not know with ENOSYS, and for some
 * (FUSE_TMPFILE) the kernel then never asks again. This file serves
 * such requests before libfuse sees them: both transports hand every raw
 * request here first (uring.c: io_read for /dev/fuse, serve() for the
 * io_uring queues), in /dev/fuse's layout (fuse_in_header, then the
 * opcode's arguments). An opcode in the table below is decoded, served
 * and answered here, in the kernel's ABI layout, through the transport's
 * own send function (which puts the reply on the ring when the request
 * came from one); every other request goes on to libfuse unchanged.
 *
 * Invariants: a handler answers exactly once (a reply or an error);
 * a request whose arguments are shorter than the opcode's fixed part is
 * answered EIO; handlers call the daemon only through functions that
 * take its locks themselves (daemon.h), never libfuse's fuse_req_t.
 *
 * Served here:
 *   FUSE_TMPFILE (51, open with O_TMPFILE; libfuse has it from 3.17):
 *     in fuse_create_in + a name ("/", unused); out fuse_entry_out +
 *     fuse_open_out, as FUSE_CREATE. The inode has link count 0 and sits
 *     on the orphan list (node.c daemon_tmpfile, mapfs_op_tmpfile).
 *   FUSE_STATX (52, statx(2) asking for the birth time; libfuse has it
 *     from 3.18): in fuse_statx_in; out fuse_statx_out with the basic
 *     fields and btime, as GETATTR's attributes plus the inode's btime.
 * To add an opcode: a handler with the signature of do_tmpfile and a
 * line in the table.
 */
#include "extra.h"

#include "daemon.h"

#include <errno.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* Not in older <linux/fuse.h> headers. */
#ifndef FUSE_TMPFILE
#define FUSE_TMPFILE 51
#endif

/* FUSE_STATX (protocol 7.39, Linux 6.6) is newer than the system's
 * <linux/fuse.h>: its opcode and structures, laid out as the kernel's. */
#define EXTRA_FUSE_STATX 52
#define EXTRA_STATX_BASIC 0x7ffu	/* STATX_BASIC_STATS */
#define EXTRA_STATX_BTIME 0x800u	/* STATX_BTIME */

struct extra_sx_time {
	int64_t tv_sec;
	uint32_t tv_nsec;
	int32_t reserved;
};

struct extra_statx {
	uint32_t mask;
	uint32_t blksize;
	uint64_t attributes;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint16_t mode;
	uint16_t spare0;
	uint64_t ino;
	uint64_t size;
	uint64_t blocks;
	uint64_t attributes_mask;
	struct extra_sx_time atime, btime, ctime, mtime;
	uint32_t rdev_major, rdev_minor;
	uint32_t dev_major, dev_minor;
	uint64_t spare2[14];
};

struct extra_statx_in {
	uint32_t getattr_flags;
	uint32_t reserved;
	uint64_t fh;
	uint32_t sx_flags;
	uint32_t sx_mask;
};

struct extra_statx_out {
	uint64_t attr_valid;
	uint32_t attr_valid_nsec;
	uint32_t flags;
	uint64_t spare[2];
	struct extra_statx stat;
};

_Static_assert(sizeof(struct extra_statx) == 256, "fuse_statx layout");
_Static_assert(sizeof(struct extra_statx_in) == 24, "fuse_statx_in layout");

typedef void (*extra_fn)(struct daemon *d, const struct fuse_in_header *ih,
			 const void *arg, size_t len, extra_send_fn send);

static void send_error(const struct fuse_in_header *ih, int err,
		       extra_send_fn send)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh), .error = -err, .unique = ih->unique,
	};
	struct iovec iov = { &oh, sizeof(oh) };

	send(&iov, 1);
}

/* After the handler's work (err: 0 or -errno): on an error, send it and
 * return false; else zero the reply out (size bytes, a fuse_out_header
 * first), fill its header and return true. */
static bool reply_begin(const struct fuse_in_header *ih, int err,
			extra_send_fn send, void *out, size_t size)
{
	struct fuse_out_header *oh = out;

	if (err) {
		send_error(ih, -err, send);
		return false;
	}
	memset(out, 0, size);
	oh->len = (uint32_t)size;
	oh->unique = ih->unique;
	return true;
}

/* Seconds and nanoseconds of a timeout, as libfuse writes them. */
static void split_timeout(double t, uint64_t *sec, uint32_t *nsec)
{
	if (t <= 0) {
		*sec = 0;
		*nsec = 0;
		return;
	}
	*sec = (uint64_t)t;
	*nsec = (uint32_t)((t - (double)*sec) * 1e9);
	if (*nsec >= 1000000000u)
		*nsec = 999999999u;
}

static void entry_out(const struct fuse_entry_param *e,
		      struct fuse_entry_out *o)
{
	const struct stat *st = &e->attr;

	memset(o, 0, sizeof(*o));
	o->nodeid = e->ino;
	o->generation = e->generation;
	split_timeout(e->entry_timeout, &o->entry_valid,
		      &o->entry_valid_nsec);
	split_timeout(e->attr_timeout, &o->attr_valid, &o->attr_valid_nsec);
	o->attr.ino = st->st_ino;
	o->attr.size = (uint64_t)st->st_size;
	o->attr.blocks = (uint64_t)st->st_blocks;
	o->attr.atime = (uint64_t)st->st_atim.tv_sec;
	o->attr.mtime = (uint64_t)st->st_mtim.tv_sec;
	o->attr.ctime = (uint64_t)st->st_ctim.tv_sec;
	o->attr.atimensec = (uint32_t)st->st_atim.tv_nsec;
	o->attr.mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	o->attr.ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	o->attr.mode = st->st_mode;
	o->attr.nlink = (uint32_t)st->st_nlink;
	o->attr.uid = st->st_uid;
	o->attr.gid = st->st_gid;
	o->attr.rdev = (uint32_t)st->st_rdev;
	o->attr.blksize = (uint32_t)st->st_blksize;
}

/* FUSE_TMPFILE: create an unnamed regular file under ih->nodeid and
 * open it. The reply has link count 0: the kernel makes the file
 * linkable (I_LINKABLE) unless O_EXCL, and a LINK names it. */
static void do_tmpfile(struct daemon *d, const struct fuse_in_header *ih,
		       const void *arg, size_t len, extra_send_fn send)
{
	struct fuse_create_in in;
	struct fuse_entry_param e;
	struct fuse_file_info fi;
	struct {
		struct fuse_out_header oh;
		struct fuse_entry_out entry;
		struct fuse_open_out open;
	} out;
	struct iovec iov = { &out, sizeof(out) };
	int err;

	if (len < sizeof(in)) {
		send_error(ih, EIO, send);
		return;
	}
	memcpy(&in, arg, sizeof(in));
	memset(&fi, 0, sizeof(fi));
	fi.flags = (int)in.flags;
	err = daemon_tmpfile(d, (fuse_ino_t)ih->nodeid, ih->uid, ih->gid,
			     in.mode, in.umask, &e, &fi);
	if (!reply_begin(ih, err, send, &out, sizeof(out)))
		return;
	entry_out(&e, &out.entry);
	out.open.fh = fi.fh;
	if (fi.keep_cache)
		out.open.open_flags |= FOPEN_KEEP_CACHE;
	if (fi.direct_io)
		out.open.open_flags |= FOPEN_DIRECT_IO;
	if (send(&iov, 1) != (ssize_t)sizeof(out))
		daemon_tmpfile_undo(d, e.ino, &fi);
}

static void sx_time(struct extra_sx_time *t, const struct timespec *ts)
{
	t->tv_sec = ts->tv_sec;
	t->tv_nsec = (uint32_t)ts->tv_nsec;
}

/* FUSE_STATX: what GETATTR answers, plus the birth time the inode keeps.
 * The kernel asks only when a statx(2) wants more than the basic fields
 * (in 6.18: the birth time), then keeps the birth time with the other
 * attributes. Attributes (append, immutable...) are not sent: the kernel
 * drops them (docs/POSIX.md, xfstests 424). */
static void do_statx(struct daemon *d, const struct fuse_in_header *ih,
		     const void *arg, size_t len, extra_send_fn send)
{
	struct {
		struct fuse_out_header oh;
		struct extra_statx_out sx;
	} out;
	struct iovec iov = { &out, sizeof(out) };
	struct timespec btime;
	struct stat st;
	int err;

	if (len < sizeof(struct extra_statx_in)) {
		send_error(ih, EIO, send);
		return;
	}
	(void)arg;	/* the whole set is cheap: sx_mask is not needed */
	err = daemon_statx(d, (fuse_ino_t)ih->nodeid, &st, &btime);
	if (!reply_begin(ih, err, send, &out, sizeof(out)))
		return;
	split_timeout(d->timeout, &out.sx.attr_valid,
		      &out.sx.attr_valid_nsec);
	out.sx.stat.mask = EXTRA_STATX_BASIC | EXTRA_STATX_BTIME;
	out.sx.stat.blksize = (uint32_t)st.st_blksize;
	out.sx.stat.nlink = (uint32_t)st.st_nlink;
	out.sx.stat.uid = st.st_uid;
	out.sx.stat.gid = st.st_gid;
	out.sx.stat.mode = (uint16_t)st.st_mode;
	out.sx.stat.ino = st.st_ino;
	out.sx.stat.size = (uint64_t)st.st_size;
	out.sx.stat.blocks = (uint64_t)st.st_blocks;
	sx_time(&out.sx.stat.atime, &st.st_atim);
	sx_time(&out.sx.stat.btime, &btime);
	sx_time(&out.sx.stat.ctime, &st.st_ctim);
	sx_time(&out.sx.stat.mtime, &st.st_mtim);
	out.sx.stat.rdev_major = major(st.st_rdev);
	out.sx.stat.rdev_minor = minor(st.st_rdev);
	send(&iov, 1);
}

static const struct {
	uint32_t opcode;
	extra_fn fn;
} table[] = {
	{ FUSE_TMPFILE, do_tmpfile },
	{ EXTRA_FUSE_STATX, do_statx },
};

bool extra_serve(struct daemon *d, const void *buf, size_t len,
		 extra_send_fn send)
{
	const struct fuse_in_header *ih = buf;

	if (len < sizeof(*ih))
		return false;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (table[i].opcode != ih->opcode)
			continue;
		if (ih->len > len || ih->len < sizeof(*ih)) {
			send_error(ih, EIO, send);
			return true;
		}
		table[i].fn(d, ih, ih + 1, ih->len - sizeof(*ih), send);
		return true;
	}
	return false;
}
