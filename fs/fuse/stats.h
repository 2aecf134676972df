/* SPDX-License-Identifier: MIT */
/*
 * stats.h - requests counted by opcode, with the daemon's time on each
 * (-o stats). See stats.c.
 */
#ifndef MAPFS_FUSE_STATS_H
#define MAPFS_FUSE_STATS_H

#include <stdint.h>

/* Start counting (before the session starts). */
void stats_enable(void);
/* A request arrived on this thread (ends the one before it, which had
 * no reply). */
void stats_begin(uint32_t opcode, uint64_t unique);
/* This thread sends a reply: ends its request if unique is that one's. */
void stats_end(uint64_t unique);
/* This thread is done with its request, replied or not (FORGET). */
void stats_done(void);
/* One line per opcode seen, and the total, through out (no-op when not
 * enabled). */
void stats_report(void (*out)(const char *line));

#endif
