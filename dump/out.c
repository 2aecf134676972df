/* SPDX-License-Identifier: MIT */
/*
 * out.c - dumpfs.mapfs's text and JSON output (see out.h).
 *
 * JSON is pretty-printed with two-space indentation; 64-bit numbers are
 * written as plain decimal integers (readers that use doubles, such as
 * jq, round values past 2^53, which only damaged images hold).
 */
#include "out.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#define LABEL_WIDTH 30

void out_init(struct out *o, FILE *f, bool json)
{
	memset(o, 0, sizeof(*o));
	o->f = f;
	o->json = json;
}

static void indent(struct out *o, int n)
{
	for (int i = 0; i < n; i++)
		fputc(' ', o->f);
}

/* Length of the UTF-8 sequence at s (of n bytes left), 0 if invalid.
 * Overlong forms, surrogates and code points past U+10FFFF are
 * invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool out_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, len;

	while (i < n) {
		if (p[i] == 0)
			return false;
		len = utf8_seq(p + i, n - i);
		if (!len)
			return false;
		i += len;
	}
	return true;
}

static void json_string(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, len;

	fputc('"', f);
	while (i < n) {
		unsigned char c = p[i];

		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
		} else if ((len = utf8_seq(p + i, n - i)) == 0) {
			fputs("\\ufffd", f);
			i++;
		} else {
			fwrite(p + i, 1, len, f);
			i += len;
		}
	}
	fputc('"', f);
}

void out_escaped(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\')
			fputs("\\\\", f);
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			fprintf(f, "\\%03o", p[i]);
		else
			fputc(p[i], f);
	}
}

/* JSON: the separator, indentation and key before a value. */
static void json_sep(struct out *o, const char *key)
{
	int d = o->depth;

	if (d == 0)
		return;
	if (o->count[d - 1]++ > 0)
		fputc(',', o->f);
	fputc('\n', o->f);
	indent(o, 2 * d);
	if (!o->is_array[d - 1] && key) {
		json_string(o->f, key, strlen(key));
		fputs(": ", o->f);
	}
}

static void open_level(struct out *o, const char *key, const char *title,
		       bool array)
{
	if (o->json) {
		json_sep(o, key);
		fputc(array ? '[' : '{', o->f);
	} else if (title) {
		indent(o, o->indent);
		fprintf(o->f, "%s:\n", title);
		o->indent += 2;
	}
	if (o->depth < OUT_MAX_DEPTH) {
		o->is_array[o->depth] = array;
		o->count[o->depth] = 0;
		o->titled[o->depth] = title != NULL;
	}
	o->depth++;
}

static void close_level(struct out *o, bool array)
{
	o->depth--;
	if (o->json) {
		if (o->depth < OUT_MAX_DEPTH && o->count[o->depth]) {
			fputc('\n', o->f);
			indent(o, 2 * o->depth);
		}
		fputc(array ? ']' : '}', o->f);
		if (o->depth == 0)
			fputc('\n', o->f);
	} else if (o->depth < OUT_MAX_DEPTH && o->titled[o->depth]) {
		o->indent -= 2;
	}
}

void out_obj_begin(struct out *o, const char *key, const char *title)
{
	open_level(o, key, title, false);
}

void out_obj_end(struct out *o)
{
	close_level(o, false);
}

void out_arr_begin(struct out *o, const char *key, const char *title)
{
	open_level(o, key, title, true);
}

void out_arr_end(struct out *o)
{
	close_level(o, true);
}

/* Text mode: the label column. Returns false when nothing is printed. */
static bool text_label(struct out *o, const char *label)
{
	if (!label)
		return false;
	indent(o, o->indent);
	fprintf(o->f, "%-*s ", LABEL_WIDTH - o->indent, label);
	return true;
}

/* One scalar: json is its JSON text, text its text after the label. */
static void out_scalar(struct out *o, const char *key, const char *label,
		       const char *json, const char *text)
{
	if (o->json) {
		json_sep(o, key);
		fputs(json, o->f);
	} else if (text_label(o, label)) {
		fputs(text, o->f);
		fputc('\n', o->f);
	}
}

void out_u64(struct out *o, const char *key, const char *label, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRIu64, v);
	out_scalar(o, key, label, b, b);
}

void out_i64(struct out *o, const char *key, const char *label, int64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRId64, v);
	out_scalar(o, key, label, b, b);
}

/* JSON has no hex or octal: there they are decimal. */
void out_hex(struct out *o, const char *key, const char *label, uint64_t v)
{
	char j[24], t[24];

	snprintf(j, sizeof(j), "%" PRIu64, v);
	snprintf(t, sizeof(t), "0x%" PRIx64, v);
	out_scalar(o, key, label, j, t);
}

void out_oct(struct out *o, const char *key, const char *label, uint32_t v)
{
	char j[16], t[16];

	snprintf(j, sizeof(j), "%" PRIu32, v);
	snprintf(t, sizeof(t), "0%" PRIo32, v);
	out_scalar(o, key, label, j, t);
}

void out_bool(struct out *o, const char *key, const char *label, bool v)
{
	out_scalar(o, key, label, v ? "true" : "false", v ? "yes" : "no");
}

void out_null(struct out *o, const char *key, const char *label)
{
	out_scalar(o, key, label, "null", "-");
}

void out_str(struct out *o, const char *key, const char *label,
	     const char *s)
{
	out_bytes(o, key, label, s, strlen(s));
}

void out_bytes(struct out *o, const char *key, const char *label,
	       const char *s, size_t n)
{
	if (o->json) {
		json_sep(o, key);
		json_string(o->f, s, n);
	} else if (text_label(o, label)) {
		out_escaped(o->f, s, n);
		fputc('\n', o->f);
	}
}

void out_time(struct out *o, const char *key, const char *label, int64_t sec,
	      uint32_t nsec, bool with_nsec)
{
	char buf[64];
	struct tm tm;
	time_t t = (time_t)sec;

	if (o->json) {
		if (!with_nsec) {
			out_i64(o, key, label, sec);
			return;
		}
		out_obj_begin(o, key, NULL);
		out_i64(o, "sec", NULL, sec);
		out_u64(o, "nsec", NULL, nsec);
		out_obj_end(o);
		return;
	}
	if (!text_label(o, label))
		return;
	if (sec == 0 && nsec == 0) {
		fputs("-\n", o->f);
		return;
	}
	if ((int64_t)t != sec || !localtime_r(&t, &tm) ||
	    !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm)) {
		fprintf(o->f, "%" PRId64 " (out of range)\n", sec);
		return;
	}
	fputs(buf, o->f);
	if (with_nsec)
		fprintf(o->f, ".%09" PRIu32, nsec);
	if (strftime(buf, sizeof(buf), " %z", &tm))
		fputs(buf, o->f);
	fprintf(o->f, " (%" PRId64 ")\n", sec);
}

void out_line(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->json)
		return;
	indent(o, o->indent);
	va_start(ap, fmt);
	vfprintf(o->f, fmt, ap);
	va_end(ap);
	fputc('\n', o->f);
}

void out_bitnames(struct out *o, const char *key, const char *label,
		  uint32_t v, const struct bitname *names, size_t n)
{
	char line[256] = "", unk[16];
	size_t len = 0;

	if (o->json)
		out_arr_begin(o, key, NULL);
	for (uint32_t bit = 1; bit; bit <<= 1) {
		const char *name = NULL;

		if (!(v & bit))
			continue;
		for (size_t i = 0; i < n; i++)
			if (names[i].bit == bit)
				name = names[i].name;
		if (!name) {
			snprintf(unk, sizeof(unk), "0x%x", bit);
			name = unk;
		}
		if (o->json) {
			out_str(o, NULL, NULL, name);
		} else if (len < sizeof(line)) {
			len += (size_t)snprintf(line + len, sizeof(line) - len,
						"%s%s", len ? " " : "", name);
		}
	}
	if (o->json)
		out_arr_end(o);
	else
		out_str(o, key, label, line[0] ? line : "-");
}
