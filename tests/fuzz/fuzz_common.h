/* SPDX-License-Identifier: MIT */
/*
 * fuzz_common.h - what the fuzz targets, their plain replay driver and
 * mkseed share: the seed images (small valid filesystems made with the
 * core) and the input format that damages them.
 *
 * Input format (see README.md):
 *   byte 0     flags: bits 0-1 seed image, FZ_F_RESEAL_ALL, FZ_F_SBCOPY,
 *              bits 4-5 fsck's answer (fuzz_fsck: -n, -y, -p, -y)
 *   byte 1     a knob the targets use to vary what they do
 *   then       patches, each: le32 pos, u8 ctl, (ctl & 63) + 1 bytes.
 *              pos is taken modulo the bytes of the seed's interesting
 *              blocks (metadata and in-use blocks) and names one of them;
 *              the bytes are written there, clipped at the block's end.
 *              ctl bit 7: reseal (recompute the CRC of) what the patch
 *              touched, so the damage gets past the checksums.
 * An input that starts with the superblock magic and holds at least
 * FZ_RAW_MIN bytes is an image of its own (raw mode), used as is.
 */
#ifndef MAPFS_FUZZ_COMMON_H
#define MAPFS_FUZZ_COMMON_H

#include "mapfs.h"

#include <stddef.h>
#include <stdint.h>

#define FZ_NSEEDS		4
#define FZ_F_SEED_MASK		0x03u
#define FZ_F_RESEAL_ALL		0x04u	/* reseal every structure at the end */
#define FZ_F_SBCOPY		0x08u	/* attach from the copy in group 1 */
#define FZ_F_ANSWER		0x30u	/* fuzz_fsck: -n, -y, -p, -y */
#define FZ_PATCH_RESEAL		0x80u
#define FZ_RAW_MIN		65536u

/* libFuzzer's entry points (defined by each target). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Build seed image `which` (0 .. FZ_NSEEDS-1) into a fresh malloc'd
 * buffer; deterministic (fixed uuid, times and generations). Returns 0
 * and sets *imgp, *sizep, or a negative errno with a reason in why. */
int fz_seed_build(unsigned which, uint8_t **imgp, uint64_t *sizep,
		  char *why, size_t whylen);

/* The test image for one input: a private malloc'd copy of exactly
 * *sizep bytes (so ASan sees any access past its end), with the input's
 * patches applied. NULL when the input is too short to say anything.
 * *flagsp and *knobp get bytes 0 and 1 (0 in raw mode). Seeds are built
 * once and cached. */
uint8_t *fz_image_from_input(const uint8_t *data, size_t size,
			     uint64_t *sizep, unsigned *flagsp,
			     unsigned *knobp);

/* Send stdout to /dev/null unless MAPFS_FUZZ_VERBOSE is set (fsck's
 * passes print every problem). */
void fz_quiet_stdout(void);

#endif
