/* SPDX-License-Identifier: MIT */
/*
 * tutil.h - what the mount test programs (conform, pconf, bigdir, model,
 * stress, fill) share: TAP output with counts, errno names, a file of
 * given bytes, timing, and the seeded PRNG whose sequences the tests'
 * seeds stand for.
 *
 * Each program is a single process or forks: the state here (counts,
 * the PRNG) is per process, never shared between threads.
 */
#ifndef MAPFS_TUTIL_H
#define MAPFS_TUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* ---- TAP ---- */
extern int ntests, nfail, ntodo;	/* checks, failures, known TODOs */
/* Set before a check: the check is a known limit, reported as TAP
 * "# TODO <todo>" and counted in ntodo, not in nfail. tap() clears it. */
extern const char *todo;

/* One TAP line "ok N - ..." or "not ok N - ...", flushed. */
void tap(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A TAP comment line "# ...", flushed. */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The errno's name (EACCES), "0" for none, "E?" when unknown. */
const char *en(int e);

/* ---- Files ---- */
/* Create or truncate path as len bytes of c, then chmod it to mode:
 * the result of close(), or -1 with errno set. */
int make_file(const char *path, size_t len, int c, mode_t mode);

/* ---- Time ---- */
/* CLOCK_MONOTONIC in seconds. */
double now(void);
bool ts_eq(struct timespec a, struct timespec b);
/* A pause (20 ms) after which any filesystem clock shows a change, even
 * a coarse one (tmpfs ticks in jiffies). */
void tick(void);

/* ---- PRNG: xorshift64* seeded through splitmix64 ---- */
extern uint64_t rs;			/* its state; never 0 */
uint64_t splitmix(uint64_t z);
/* rs = splitmix(seed) | 1: the stream a seed names. */
void rng_seed(uint64_t seed);
uint64_t rng(void);
/* Uniform in [0, n); 0 when n is 0. */
unsigned rnd(unsigned n);

#endif
