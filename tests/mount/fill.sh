#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fill.sh MKFS FSCK MAPFS FILL
#
# A full filesystem on the default mount (fill.c): a writer of 1 MiB
# write()s, then one of 4 KiB write()s, each until write() fails. The
# failing write() must fail with ENOSPC, within the space that was free
# and within 60 s; fsync after it succeeds; each file's size is what
# write() accepted, with no hole, and reads back. After unmount, fsck
# is clean; after a remount the small writer's file is all there. With
# the kernel's writeback cache (-o writeback) write() never fails: the
# kernel accepts the data and the daemon's failed write-back loses it
# (docs/DESIGN.md, "Writes and a full filesystem"), which is why it is
# not the default.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS FILL" "$@"
IMG=$T/fill.img
MNT=$T/mnt

run_fill() {
	local rc
	timeout -k 5 150 "$FILL" "$@" > "$T/fill.out" 2>&1
	rc=$?
	sed 's/^/# /' "$T/fill.out"
	return $rc
}

for size in 64M 200M; do
	make_image "$IMG" "$size"
	mount_fs "$IMG" "$MNT"
	run_fill "$MNT"
	rc=$?
	t "$size image: write() got ENOSPC in time, files whole" '[ $rc = 0 ]'
	small=$(sed -n 's/^small: //p' "$T/fill.out")
	unmount_and_fsck "$IMG" "$MNT"
	mount_fs "$IMG" "$MNT"
	run_fill "$MNT" verify "${small:-0}"
	rc=$?
	t "$size image: after a remount the file is all there" '[ $rc = 0 ]'
	unmount_and_fsck "$IMG" "$MNT"
	rm -f "$IMG"
done
echo "1..$n"
exit $FAILED
