/* SPDX-License-Identifier: MIT */
/* Temporary: put until the populate library is merged (s13-populate). */
#include "tool.h"

#include <errno.h>
#include <stdio.h>

int tool_put(struct tool *t, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, TOOL_PROG ": put: not built (no populate library)\n");
	t->failed = true;
	return -ENOSYS;
}
