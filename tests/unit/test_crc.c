/* SPDX-License-Identifier: MIT */
/* Unit tests: CRC32C against the standard check value and a bitwise
 * reference, at every length and alignment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

static uint32_t crc_ref(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return crc;
}

static void test_check_value(void **state)
{
	(void)state;
	/* The CRC-32C check value of "123456789" (RFC 3720 B.4). */
	assert_int_equal(~mapfs_crc32c(~0u, "123456789", 9), 0xe3069283u);
	assert_int_equal(mapfs_crc32c(~0u, "", 0), ~0u);
}

static void test_against_reference(void **state)
{
	uint8_t buf[300];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len += 7)
			assert_int_equal(mapfs_crc32c(0x1234u, buf + off, len),
					 crc_ref(0x1234u, buf + off, len));
}

/* Buffers long enough for the three-stream sum (crc.c), at lengths and
 * offsets around its span multiples. */
static void test_long_against_reference(void **state)
{
	static uint8_t buf[3 * 4096 + 64];
	static const size_t lens[] = { 4031, 4032, 4033, 4096, 4100, 8063,
				       8064, 8192, 12288, 12345 };

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 8) * 7 + 3);
	for (size_t off = 0; off < 9; off += 4)
		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++)
			assert_int_equal(mapfs_crc32c(0x89abcdefu, buf + off,
						      lens[k]),
					 crc_ref(0x89abcdefu, buf + off,
						 lens[k]));
}

static void test_chaining(void **state)
{
	uint8_t buf[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i ^ (i >> 8));
	uint32_t whole = mapfs_crc32c(~0u, buf, sizeof(buf));
	uint32_t part = mapfs_crc32c(~0u, buf, 1000);
	part = mapfs_crc32c(part, buf + 1000, sizeof(buf) - 1000);
	assert_int_equal(whole, part);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_against_reference),
		cmocka_unit_test(test_long_against_reference),
		cmocka_unit_test(test_chaining),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
