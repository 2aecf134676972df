/* SPDX-License-Identifier: MIT */
/*
 * uring.h - FUSE over io_uring for the daemon (see uring.c).
 */
#ifndef MAPFS_FUSE_URING_H
#define MAPFS_FUSE_URING_H

#include <stdbool.h>

struct daemon;
struct fuse_session;

/* Install the transport on a mounted session: every request, reply and
 * the INIT exchange pass through it. With want false (-o nouring) or
 * when the kernel does not offer FUSE over io_uring, requests stay on
 * /dev/fuse. Returns 0 or -errno. */
int uring_setup(struct daemon *d, struct fuse_session *se, bool want);

/* Stop and join the queue threads (after the FUSE loop has returned,
 * before the session is unmounted). */
void uring_stop(void);

/* FUSE_HANDLE_KILLPRIV_V2 was agreed at INIT: the kernel no longer
 * clears setuid/setgid on write, truncate and chown; we do. */
bool uring_killpriv(void);

/* The request this thread is serving carries the kernel's "clear
 * setuid/setgid" flag (WRITE, OPEN with O_TRUNC, SETATTR): set when the
 * caller lacks CAP_FSETID. */
bool uring_req_kill_suidgid(void);

/* True once the kernel switched requests to the rings. */
bool uring_active(void);

/* "io_uring, N queues x M" or "/dev/fuse (why)", for the log. */
const char *uring_describe(void);

#endif
