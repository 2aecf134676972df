/* SPDX-License-Identifier: MIT */
/*
 * crc.c - CRC32C (Castagnoli), the checksum of every mapfs structure.
 *
 * The lowest layer (tests/layering.sh): no dependencies. Uses the SSE4.2 crc32
 * instruction when the CPU has it (well under a microsecond per 4 KiB page) and
 * a slicing table otherwise; both give the same result. No pre- or
 * post-inversion is done here: callers start from ~0 or a seed, which keeps
 * chaining trivial.
 */
#include "internal.h"

#include <pthread.h>
#include <endian.h>
#include <string.h>

#define CRC32C_POLY 0x82f63b78u	/* reflected Castagnoli polynomial */

static uint32_t crc_table[8][256];
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
