#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run_pconf.sh MKFS FSCK MAPFS PCONF
#
# The per-syscall conformance suite (pconf.c: chmod, chown, link, mkdir,
# mkfifo, mknod, open, rename, rmdir, symlink, truncate, unlink,
# utimensat; as root and as two unprivileged users). First on a tmpfs
# as the reference (the program must pass on Linux's own filesystems;
# skipped where tmpfs cannot be mounted), then on a fresh mapfs mounted
# with allow_other, with the default options (no writeback cache) and
# with the kernel's writeback cache (-o writeback). Each mapfs run ends
# with a clean fsck.mapfs -n -f.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS PCONF" "$@"
[ "$(id -u)" = 0 ] || skip "pconf switches users: run as root"
failed=()

ref="$T/tmpfs"
mkdir -p "$ref"
if mount -t tmpfs -o size=64M,mode=755 mapfs-pconf-ref "$ref" 2>/dev/null
then
	note "reference run: tmpfs"
	"$PCONF" "$ref" > "$T/ref.out" 2>&1
	rc=$?
	umount "$ref" || umount -l "$ref"
	if [ "$rc" != 0 ]; then
		grep -v '^ok' "$T/ref.out"
		failed+=("pconf on tmpfs (reference) exit $rc")
	fi
else
	note "tmpfs not mountable here: no reference run"
fi

run_cache_modes pconf 128M PCONF_WRITEBACK "$PCONF"

[ ${#failed[@]} = 0 ] || fail "failures: ${failed[*]}"
note "pconf passed on mapfs (with and without the writeback cache), images clean"
exit 0
