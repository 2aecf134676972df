/* SPDX-License-Identifier: MIT */
/*
 * crc.c - CRC32C (Castagnoli), the checksum of every mapfs structure.
 *
 * The lowest layer (tests/layering.sh): no dependencies. Uses the SSE4.2 crc32
 * instruction when the CPU has it (well under a microsecond per 4 KiB page) and
 * a slicing table otherwise; both give the same result. The instruction
 * takes 3 cycles and one can start each cycle, so a long buffer is summed
 * as three streams at once, joined by the CRC's linearity (below). No pre- or
 * post-inversion is done here: callers start from ~0 or a seed, which keeps
 * chaining trivial.
 */
#include "internal.h"

#include <pthread.h>
#include <endian.h>
#include <string.h>

#define CRC32C_POLY 0x82f63b78u	/* reflected Castagnoli polynomial */

static uint32_t crc_table[8][256];
/* The three-stream sum: a buffer of at least 3 * CRC_SPAN bytes is taken
 * as spans A, B, C summed at once from c, 0 and 0. The raw register
 * update is linear over GF(2), so crc(c, A B) = crc(crc(c, A), B) =
 * shift(crc(c, A)) ^ crc(0, B), where shift(x) = crc(x, CRC_SPAN zero
 * bytes) is linear too: four tables of 256 give it for any x. A 4 KiB
 * page is one such triple and 64 bytes. */
#define CRC_SPAN	1344u
static uint32_t crc_shift_tab[4][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static bool have_sse42;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
	{
		uint32_t basis[32];

		for (int b = 0; b < 32; b++) {
			uint32_t c = 1u << b;

			for (uint32_t n = 0; n < CRC_SPAN; n++)
				c = (c >> 8) ^ crc_table[0][c & 0xff];
			basis[b] = c;
		}
		for (int k = 0; k < 4; k++)
			for (uint32_t v = 0; v < 256; v++) {
				uint32_t x = 0;

				for (int j = 0; j < 8; j++)
					if (v >> j & 1)
						x ^= basis[8 * k + j];
				crc_shift_tab[k][v] = x;
			}
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		v = le64toh(v) ^ crc;
		crc = crc_table[7][v & 0xff] ^ crc_table[6][(v >> 8) & 0xff] ^
		      crc_table[5][(v >> 16) & 0xff] ^
		      crc_table[4][(v >> 24) & 0xff] ^
		      crc_table[3][(v >> 32) & 0xff] ^
		      crc_table[2][(v >> 40) & 0xff] ^
		      crc_table[1][(v >> 48) & 0xff] ^ crc_table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc,
							 const uint8_t *p,
							 size_t len)
{
	uint64_t c = crc;

	while (len >= 3 * CRC_SPAN) {
		uint64_t a = c, b = 0, d = 0;
		uint32_t x;

		for (uint32_t i = 0; i < CRC_SPAN; i += 8) {
			uint64_t va, vb, vd;

			memcpy(&va, p + i, 8);
			memcpy(&vb, p + CRC_SPAN + i, 8);
			memcpy(&vd, p + 2 * CRC_SPAN + i, 8);
			a = __builtin_ia32_crc32di(a, va);
			b = __builtin_ia32_crc32di(b, vb);
			d = __builtin_ia32_crc32di(d, vd);
		}
		x = (uint32_t)a;
		x = crc_shift_tab[0][x & 0xff] ^ crc_shift_tab[1][(x >> 8) & 0xff] ^
		    crc_shift_tab[2][(x >> 16) & 0xff] ^
		    crc_shift_tab[3][x >> 24] ^ (uint32_t)b;
		x = crc_shift_tab[0][x & 0xff] ^ crc_shift_tab[1][(x >> 8) & 0xff] ^
		    crc_shift_tab[2][(x >> 16) & 0xff] ^
		    crc_shift_tab[3][x >> 24] ^ (uint32_t)d;
		c = x;
		p += 3 * CRC_SPAN;
		len -= 3 * CRC_SPAN;
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}
#endif

uint32_t mapfs_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
	if (have_sse42)
		return crc_hw(crc, buf, len);
#endif
	return crc_sw(crc, buf, len);
}

uint32_t mapfs_crc_page(const struct mapfs_fs *fs, mapfs_ino_t owner,
			mapfs_bno_t bno, uint32_t page, const void *p,
			size_t len)
{
	uint64_t le_owner = htole64(owner), le_bno = htole64(bno);
	uint32_t le_page = htole32(page);
	uint32_t crc;

	crc = mapfs_crc32c(fs->g.seed, &le_owner, sizeof(le_owner));
	crc = mapfs_crc32c(crc, &le_bno, sizeof(le_bno));
	crc = mapfs_crc32c(crc, &le_page, sizeof(le_page));
	return mapfs_crc32c(crc, p, len);
}
