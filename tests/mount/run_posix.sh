#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run_posix.sh MKFS FSCK MAPFS POSIX_OPS
#
# Run 1: mount a fresh 512M image and a small 32M one (for ENOSPC), both
# with allow_other when possible (the checks as another user need it),
# run posix_ops on them, unmount both and require a clean fsck.
# Run 2, when the daemon has the timeout= option: the same on a fresh
# image mounted with -o timeout=0, so the kernel caches no attributes or
# entries and every stat shows the daemon's own view (a change the
# kernel only made in its cache, e.g. an ignored O_TRUNC, cannot pass).
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS POSIX_OPS" "$@"
failed=()

opts=()
if can_allow_other; then
	opts=(-o allow_other)
else
	note "no allow_other: the checks as another user will fail or skip"
fi

note "run 1: default mount options"
make_image "$T/main.img" 512M
make_image "$T/small.img" 32M
mount_fs "$T/main.img" "$T/mnt" "${opts[@]}"
mount_fs "$T/small.img" "$T/small" "${opts[@]}"
MAPFS_EXPECT_RESERVE=1 "$POSIX_OPS" "$T/mnt" "$T/small"
rc=$?
if [ "$rc" != 0 ]; then
	# fsck's view of the images helps the report of the failure
	unmount_and_show_fsck "$T/main.img" "$T/mnt"
	unmount_and_show_fsck "$T/small.img" "$T/small"
	failed+=("posix_ops (default options) exit $rc")
else
	unmount_and_fsck "$T/main.img" "$T/mnt"
	unmount_and_fsck "$T/small.img" "$T/small"
fi

if "$MAPFS" --help 2>&1 | grep -q 'timeout='; then
	note "run 2: -o timeout=0"
	make_image "$T/nocache.img" 512M
	mount_fs "$T/nocache.img" "$T/nocache" "${opts[@]}" -o timeout=0
	run_checked "posix_ops (-o timeout=0)" "$T/nocache.img" \
		"$T/nocache" "$POSIX_OPS" "$T/nocache"
else
	note "mapfs has no timeout= option: run 2 skipped"
fi

[ ${#failed[@]} = 0 ] || fail "failures: ${failed[*]}"
note "posix_ops passed, images clean"
exit 0
