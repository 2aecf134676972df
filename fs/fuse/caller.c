/* SPDX-License-Identifier: MIT */
/*
 * caller.c - the caller's supplementary groups and capabilities.
 *
 * A FUSE request carries the caller's fsuid, fsgid and thread id, not its
 * supplementary groups or capabilities, which Linux consults to decide
 * whether a change of a file by a non-owner clears its setgid bit
 * (setattr_should_drop_sgid: not in the file's group and no CAP_FSETID).
 * When the kernel does not decide that for us (fallocate, a setgid bit
 * without group-execute on write or truncate), we read them from
 * /proc/PID/status, the kernel's own account of the task, which is a file
 * of procfs, never of our mount. Only the rare case needs it: a setgid
 * file without group-execute changed by a caller that neither is root nor
 * has the file's group as its fsgid.
 */
#include "caller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP_FSETID_BIT 4	/* <linux/capability.h> CAP_FSETID */

/* The numbers after "Groups:" contain gid. */
static bool groups_have(const char *list, uint32_t gid)
{
	char *end;

	for (;;) {
		unsigned long g;

		while (*list == ' ' || *list == '\t')
			list++;
		if (*list < '0' || *list > '9')
			return false;
		g = strtoul(list, &end, 10);
		if (g == gid)
			return true;
		list = end;
	}
}

bool caller_in_group_or_capable(pid_t pid, uint32_t uid, uint32_t gid,
				uint32_t file_gid)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	bool yes = false;
	FILE *f;

	if (uid == 0 || gid == file_gid || pid <= 0)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	/* getline: a Groups line may list up to 65536 groups */
	while (!yes && getline(&line, &cap, f) > 0) {
		if (!strncmp(line, "Groups:", 7)) {
			yes = groups_have(line + 7, file_gid);
		} else if (!strncmp(line, "CapEff:", 7)) {
			unsigned long long caps = strtoull(line + 7, NULL, 16);

			yes = (caps >> CAP_FSETID_BIT) & 1;
		}
	}
	free(line);
	fclose(f);
	return yes;
}
