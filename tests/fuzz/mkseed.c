/* SPDX-License-Identifier: MIT */
/*
 * mkseed.c - write the fuzz seeds.
 *
 *   mkseed IMGDIR [CORPUSDIR]
 *
 * IMGDIR gets seed-N.img, the seed images the targets patch (whole
 * images: fsck.mapfs should find them clean, and the targets accept them
 * as raw-mode inputs). CORPUSDIR, if given, gets a starting corpus in the
 * patch format: each seed untouched, resealed, and with a few sample
 * patches, so libFuzzer starts from inputs that reach every seed.
 */
#include "fuzz_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_file(const char *dir, const char *name, const void *buf,
		      size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "mkseed: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Starting inputs for seed s: flags, knob, then patches. */
static int write_corpus(const char *dir, unsigned s)
{
	static const struct {
		const char *tag;
		uint8_t flags, knob;
		uint8_t patch[16];
		size_t plen;
	} starts[] = {
		{ "plain", 0, 0, { 0 }, 0 },
		{ "resealed", FZ_F_RESEAL_ALL, 0x25, { 0 }, 0 },
		{ "sbcopy", FZ_F_SBCOPY, 0x9a, { 0 }, 0 },
		{ "repair", 0x10, 0x00, { 0x00, 0x30, 0, 0, 0x80, 0x01 }, 6 },
		{ "preen", 0x20, 0x00, { 0x40, 0x00, 0, 0, 0x80, 0x00 }, 6 },
		/* a byte of the first interesting block, resealed */
		{ "sbbyte", 0, 0x11, { 0x20, 0, 0, 0, 0x80, 0x07 }, 6 },
		/* two bytes 256 KiB into the interesting blocks */
		{ "deep", 0, 0x42, { 0x10, 0x01, 0x04, 0, 0x81, 0xff, 0x00 },
		  7 },
	};
	uint8_t buf[32];
	char name[64];

	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		buf[0] = (uint8_t)(s | starts[i].flags);
		buf[1] = starts[i].knob;
		memcpy(buf + 2, starts[i].patch, starts[i].plen);
		snprintf(name, sizeof(name), "start-%u-%s", s, starts[i].tag);
		if (write_file(dir, name, buf, 2 + starts[i].plen) < 0)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: mkseed IMGDIR [CORPUSDIR]\n");
		return 2;
	}
	for (unsigned s = 0; s < FZ_NSEEDS; s++) {
		char why[256] = "", name[32];
		uint64_t size;
		uint8_t *img;
		int err = fz_seed_build(s, &img, &size, why, sizeof(why));

		if (err < 0) {
			fprintf(stderr, "mkseed: seed %u: %s (%s)\n", s, why,
				strerror(-err));
			return 1;
		}
		snprintf(name, sizeof(name), "seed-%u.img", s);
		err = write_file(argv[1], name, img, size);
		free(img);
		if (err < 0 || (argc == 3 && write_corpus(argv[2], s) < 0))
			return 1;
	}
	return 0;
}
