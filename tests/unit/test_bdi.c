/* SPDX-License-Identifier: MIT */
/* Unit tests: finding our mount's device number in mountinfo (the
 * daemon's fs/fuse/bdi.c), which it reads instead of stat()ing its own
 * mount point. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "bdi.h"

/* Look MNT up in TEXT: the return value, and the device into *dev
 * ("MAJ:MIN"). */
static int find(const char *text, const char *mnt, char *dev, size_t n)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	unsigned maj = 0, min = 0;
	int err;

	assert_non_null(f);
	err = bdi_find_devno(f, mnt, "fuse.mapfs", &maj, &min);
	fclose(f);
	snprintf(dev, n, "%u:%u", maj, min);
	return err;
}

static const char table[] =
	"22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
	"30 22 0:29 / /tmp rw,nosuid shared:5 - tmpfs tmpfs rw\n"
	/* another FUSE file system at the same place */
	"44 30 0:39 / /tmp/m rw - fuse.other other rw\n"
	"45 30 0:40 / /tmp/m rw,nosuid,nodev,relatime - fuse.mapfs "
	"/img rw,user_id=0,group_id=0\n"
	/* a longer path with our prefix */
	"46 30 0:41 / /tmp/mnt rw - fuse.mapfs /img2 rw\n"
	/* a space, escaped */
	"47 30 0:42 / /tmp/a\\040b rw master:3 - fuse.mapfs /img3 rw\n"
	"48 30 0:43 / /tmp/x rw - tmpfs none rw\n";

static void test_found(void **state)
{
	char dev[32];

	(void)state;
	assert_int_equal(find(table, "/tmp/m", dev, sizeof(dev)), 0);
	assert_string_equal(dev, "0:40");
	assert_int_equal(find(table, "/tmp/mnt", dev, sizeof(dev)), 0);
	assert_string_equal(dev, "0:41");
}

static void test_escaped(void **state)
{
	char dev[32];

	(void)state;
	assert_int_equal(find(table, "/tmp/a b", dev, sizeof(dev)), 0);
	assert_string_equal(dev, "0:42");
	assert_int_equal(find(table, "/tmp/a\\040b", dev, sizeof(dev)),
			 -ENOENT);
}

static void test_not_ours(void **state)
{
	char dev[32];

	(void)state;
	/* mounted, but not fuse.mapfs */
	assert_int_equal(find(table, "/tmp/x", dev, sizeof(dev)), -ENOENT);
	assert_int_equal(find(table, "/tmp", dev, sizeof(dev)), -ENOENT);
	assert_int_equal(find(table, "/tmp/n", dev, sizeof(dev)), -ENOENT);
	assert_int_equal(find("", "/tmp/m", dev, sizeof(dev)), -ENOENT);
	/* no separator: not a line we understand */
	assert_int_equal(find("45 30 0:40 / /tmp/m rw fuse.mapfs /i rw\n",
			      "/tmp/m", dev, sizeof(dev)), -ENOENT);
}

static void test_last_wins(void **state)
{
	char text[1024], dev[32];

	(void)state;
	/* A second mapfs mounted over the first: the newer is listed
	 * later, and it is the one just made. */
	snprintf(text, sizeof(text), "%s%s", table,
		 "60 45 0:50 / /tmp/m rw - fuse.mapfs /img9 rw\n");
	assert_int_equal(find(text, "/tmp/m", dev, sizeof(dev)), 0);
	assert_string_equal(dev, "0:50");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found),
		cmocka_unit_test(test_escaped),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_last_wins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
