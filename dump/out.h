/* SPDX-License-Identifier: MIT */
/*
 * out.h - dumpfs.mapfs's output: one set of calls that prints either
 * aligned "Label: value" text or JSON.
 *
 * A value is given both a JSON key (stable, snake_case, documented in
 * dumpfs.mapfs(8)) and a text label. Objects and arrays nest; in text
 * mode an object with a title prints the title and indents what follows,
 * and arrays print nothing of their own (callers print table rows with
 * out_line). JSON is written to the FILE given to out_init, which
 * dumpfs makes a memory stream, so nothing reaches stdout unless the
 * whole document was built.
 *
 * Strings from the image (names, labels) may hold any byte: JSON gets
 * valid UTF-8 (invalid bytes become U+FFFD, control characters \u00XX),
 * text gets C-style octal escapes for anything unprintable.
 */
#ifndef MAPFS_DUMP_OUT_H
#define MAPFS_DUMP_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define OUT_MAX_DEPTH 16

struct out {
	FILE *f;
	bool json;
	int depth;			/* open objects and arrays */
	bool is_array[OUT_MAX_DEPTH];
	uint64_t count[OUT_MAX_DEPTH];	/* values written at each level */
	bool titled[OUT_MAX_DEPTH];	/* text: the level indented */
	int indent;			/* text mode: spaces before a line */
};

void out_init(struct out *o, FILE *f, bool json);

/* Objects and arrays. key is NULL for the top level and inside arrays;
 * title (text mode) may be NULL for no heading. */
void out_obj_begin(struct out *o, const char *key, const char *title);
void out_obj_end(struct out *o);
void out_arr_begin(struct out *o, const char *key, const char *title);
void out_arr_end(struct out *o);

/* Scalars. label is the text-mode label (NULL: JSON only). */
void out_u64(struct out *o, const char *key, const char *label, uint64_t v);
void out_i64(struct out *o, const char *key, const char *label, int64_t v);
void out_hex(struct out *o, const char *key, const char *label, uint64_t v);
void out_oct(struct out *o, const char *key, const char *label, uint32_t v);
void out_bool(struct out *o, const char *key, const char *label, bool v);
void out_null(struct out *o, const char *key, const char *label);
/* A NUL-terminated string of ours. */
void out_str(struct out *o, const char *key, const char *label,
	     const char *s);
/* Bytes from the image (need not be UTF-8 or terminated). */
void out_bytes(struct out *o, const char *key, const char *label,
	       const char *s, size_t n);
/* Seconds since the epoch: a number in JSON, a date in text (0: "-"). */
void out_time(struct out *o, const char *key, const char *label, int64_t sec,
	      uint32_t nsec, bool with_nsec);

/* Names of bits (feature words, inode flags). */
struct bitname {
	uint32_t bit;
	const char *name;
};
/* The names of the bits set in v: a JSON array of strings, or one text
 * line ("-" when none). Unknown bits are named by their hex value. */
void out_bitnames(struct out *o, const char *key, const char *label,
		  uint32_t v, const struct bitname *names, size_t n);

/* Text mode only: one free-form line at the current indentation. */
void out_line(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Write s with C-style escapes for unprintable bytes (text mode). */
void out_escaped(FILE *f, const char *s, size_t n);
/* True when s[0..n) is valid UTF-8 without NULs. */
bool out_utf8_valid(const char *s, size_t n);

#endif /* MAPFS_DUMP_OUT_H */
