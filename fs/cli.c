/* SPDX-License-Identifier: MIT */
/*
 * cli.c - command-line helpers of the programs (mkfs, fsck, dumpfs,
 * growfs, the daemon): size arguments, getopt's error message, sizes for
 * people, the offset=,size= region option, the -b GROUP superblock-copy
 * argument (these last two print their message, as programs do), uuids
 * (parse, print, make: random or time-based).
 *
 * Not part of the core: its own static library (mapfs-cli). It may call
 * the C library and the core's pure geometry (mapfs_group_has_sb) only;
 * the core never calls it (the core never prints).
 * struct mapfs_region itself is the core's (mapfs_fs_open_region takes
 * one); only the parsing of its option string lives here.
 */
#include "mapfs_cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define WHY(...) do { if (why && whylen) snprintf(why, whylen, __VA_ARGS__); \
	} while (0)

int mapfs_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case 0:
		break;
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default:
		return -EINVAL;
	}
	if (shift && (!strcasecmp(end, "iB") || !strcasecmp(end, "B")))
		end += strlen(end);
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

void mapfs_opt_error(const char *prog, const char *optstring,
		     const char *arg)
{
	if (optopt && strchr(optstring, optopt))
		fprintf(stderr, "%s: option -%c needs an argument\n", prog,
			optopt);
	else if (optopt)
		fprintf(stderr, "%s: unknown option -%c\n", prog, optopt);
	else
		fprintf(stderr, "%s: unknown option %s\n", prog, arg);
}

void mapfs_human_size(uint64_t bytes, char *out, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB",
					    "PiB", "EiB" };
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024.0 && u < 6) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(out, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(out, len, "%.1f %s", v, unit[u]);
}

int mapfs_region_parse(const char *opts, struct mapfs_region *r, char *why,
		       size_t whylen)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(opts) >= sizeof(buf)) {
		WHY("options too long");
		return -EINVAL;
	}
	strcpy(buf, opts);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		uint64_t *v = !strncmp(tok, "offset=", 7) ? &r->offset :
			      !strncmp(tok, "size=", 5) ? &r->size : NULL;

		if (!v) {
			WHY("unknown option '%s' (offset=BYTES, size=BYTES)",
			    tok);
			return -EINVAL;
		}
		if (mapfs_parse_size(strchr(tok, '=') + 1, v) < 0) {
			WHY("bad number in '%s'", tok);
			return -EINVAL;
		}
	}
	if (r->offset % MAPFS_PAGE_SIZE) {
		WHY("offset %llu is not a multiple of %u",
		    (unsigned long long)r->offset, MAPFS_PAGE_SIZE);
		return -EINVAL;
	}
	return 0;
}

bool mapfs_cli_sb_group(const char *prog, const char *arg, uint64_t *group)
{
	char *end;

	errno = 0;
	*group = strtoull(arg, &end, 10);
	if (errno || *end || arg[0] == '-' || *group == 0 ||
	    !mapfs_group_has_sb(*group)) {
		fprintf(stderr, "%s: bad superblock group '%s': copies are in "
			"groups 1 and the powers of 3, 5 and 7\n", prog, arg);
		return false;
	}
	return true;
}

bool mapfs_cli_region(const char *prog, const char *arg,
		      struct mapfs_region *r)
{
	char why[160] = "";

	if (mapfs_region_parse(arg, r, why, sizeof(why)) < 0) {
		fprintf(stderr, "%s: -o %s: %s\n", prog, arg, why);
		return false;
	}
	return true;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mapfs_uuid_parse(const char *s, uint8_t uuid[16])
{
	size_t n = 0;

	if (strlen(s) != 36)
		return -EINVAL;
	for (size_t i = 0; i < 36;) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -EINVAL;
			continue;
		}
		hi = hexval((unsigned char)s[i]);
		lo = hexval((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		uuid[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return n == 16 ? 0 : -EINVAL;
}

void mapfs_uuid_format(const uint8_t u[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
}

static int random_bytes(uint8_t *p, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(p + got, len - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

int mapfs_uuid_random(uint8_t u[16])
{
	int err = random_bytes(u, 16);

	if (err < 0)
		return err;
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
	return 0;
}

int mapfs_uuid_time(uint8_t u[16])
{
	/* 100 ns intervals from 1582-10-15 to 1970-01-01. */
	const uint64_t gregorian = 0x01b21dd213814000ull;
	struct timespec ts;
	uint64_t t;
	int err;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = gregorian + (uint64_t)ts.tv_sec * 10000000u +
	    (uint64_t)ts.tv_nsec / 100;
	err = random_bytes(u + 8, 8);	/* clock sequence and node */
	if (err < 0)
		return err;
	u[0] = (uint8_t)(t >> 24);	/* time_low, big-endian */
	u[1] = (uint8_t)(t >> 16);
	u[2] = (uint8_t)(t >> 8);
	u[3] = (uint8_t)t;
	u[4] = (uint8_t)(t >> 40);	/* time_mid */
	u[5] = (uint8_t)(t >> 32);
	u[6] = (uint8_t)(((t >> 56) & 0x0f) | 0x10);	/* time_hi, v1 */
	u[7] = (uint8_t)(t >> 48);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);	/* variant */
	u[10] |= 0x01;			/* multicast: not a MAC address */
	return 0;
}
