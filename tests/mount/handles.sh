#!/bin/bash
# SPDX-License-Identifier: MIT
#
# handles.sh MKFS FSCK MAPFS HANDLES
#
# File handles on a mapfs mount (handles.c says what is covered): the
# handles of files, directories, a hard-linked file, an unlinked open
# file and the root open after the kernel's caches are dropped; deleted
# and reused inodes give ESTALE. Then unmount, fsck clean, remount the
# same image: the handle bytes taken in the first run still open the same
# files. Root only (open_by_handle_at needs CAP_DAC_READ_SEARCH).
# The root's entries must carry generation 0: the kernel (fuse_lookup_name)
# logs "fuse: root generation should be zero" otherwise, which this test
# looks for; the kernel prints it once per boot, so only the first
# offending run after a boot can see it.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS HANDLES" "$@"
[ "$(id -u)" = 0 ] || skip "open_by_handle_at and drop_caches need root"
IMG=$T/handles.img
MNT=$T/mnt

make_image "$IMG" 64M
dmesg_mark
mount_fs "$IMG" "$MNT"
"$HANDLES" make "$MNT" "$T/state" || fail "handles in the first mount"
unmount_and_fsck "$IMG" "$MNT"
mount_fs "$IMG" "$MNT"
"$HANDLES" check "$MNT" "$T/state" || fail "handles after the remount"
unmount_and_fsck "$IMG" "$MNT"
if dmesg 2>/dev/null | awk -v t="$DMESG_SINCE" '
	{ s = $0; sub(/^\[ */, "", s); sub(/\].*/, "", s) }
	s + 0 >= t && /root generation should be zero/' | grep -q .; then
	fail "the kernel saw a root entry with a generation other than 0"
fi
echo "ok - handles"
