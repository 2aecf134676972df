/* SPDX-License-Identifier: MIT */
/*
 * extra.h - FUSE requests libfuse 3.14 does not dispatch (see extra.c).
 */
#ifndef MAPFS_FUSE_EXTRA_H
#define MAPFS_FUSE_EXTRA_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct daemon;

/* Write one whole reply (fuse_out_header first) to where the request
 * came from; returns the bytes written or -1. */
typedef ssize_t (*extra_send_fn)(const struct iovec *iov, int count);

/* If buf (len bytes, /dev/fuse layout) is a request of an opcode served
 * here, serve it, answer it through send and return true; otherwise
 * return false and leave it to libfuse. */
bool extra_serve(struct daemon *d, const void *buf, size_t len,
		 extra_send_fn send);

#endif
