/* SPDX-License-Identifier: MIT */
/* caller.h - what the kernel does not tell us about the caller of a
 * request: its supplementary groups and capabilities (caller.c). */
#ifndef MAPFS_CALLER_H
#define MAPFS_CALLER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Linux's in_group_or_capable() for the task pid, whose fsuid and fsgid
 * (as the request carries them) are uid and gid: true if it may keep
 * the setgid bit of a file of group file_gid that it changes (uid 0,
 * gid or a supplementary group equal to file_gid, or CAP_FSETID in its
 * effective set). Reads /proc/PID/status only when uid and gid do not
 * decide; a task that cannot be read (gone, pid 0 for the kernel's own
 * write-back) counts as allowed, which leaves the bit as it was. */
bool caller_in_group_or_capable(pid_t pid, uint32_t uid, uint32_t gid,
				uint32_t file_gid);

#endif
