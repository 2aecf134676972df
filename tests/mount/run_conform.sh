#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run_conform.sh MKFS FSCK MAPFS CONFORM
#
# The conformance checks (conform.c: xattrs, ACLs through setfacl and
# getfacl, fallocate, SEEK_DATA/SEEK_HOLE, copy_file_range, file flags)
# on a fresh 256M image mounted with allow_other (the checks as uid
# 65534 need it), first with the default options (no writeback cache),
# then with the kernel's writeback cache (-o writeback). Each run ends
# with a clean fsck.mapfs -n -f.
. "$(dirname "$0")/lib.sh"

[ $# = 4 ] || { echo "usage: $0 MKFS FSCK MAPFS CONFORM" >&2; exit 2; }
lib_init "$1" "$2" "$3"
CONFORM=$4
[ "$(id -u)" = 0 ] || skip "conform switches users: run as root"
failed=()

for opt in default writeback; do
	img="$T/$opt.img"
	mnt="$T/$opt"
	note "run: $opt"
	make_image "$img" 256M
	if [ "$opt" = default ]; then
		mount_fs "$img" "$mnt" -o allow_other
	else
		mount_fs "$img" "$mnt" -o allow_other -o writeback
	fi
	wb=0
	[ "$opt" = writeback ] && wb=1
	MAPFS_CONFORM_WRITEBACK=$wb "$CONFORM" "$mnt"
	rc=$?
	if [ "$rc" != 0 ]; then
		unmount_and_show_fsck "$img" "$mnt"
		failed+=("conform ($opt) exit $rc")
	else
		unmount_and_fsck "$img" "$mnt"
	fi
done

[ ${#failed[@]} = 0 ] || fail "failures: ${failed[*]}"
note "conform passed, images clean"
exit 0
