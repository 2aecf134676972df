#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run_bigdir.sh MKFS FSCK MAPFS BIGDIR
#
# Link-count limits and a 64998-entry directory (bigdir.c): a file
# hard-linked until link() answers EMLINK at exactly MAPFS_LINK_MAX
# (include/mapfs_format.h), a directory filled with subdirectories until
# mkdir() answers EMLINK (each ".." counts on the parent), rename of a
# directory into it refused with EMLINK; every subdirectory stat'ed,
# readdir counted, some renamed. Then unmount, fsck clean, remount, the
# same counts, everything removed, fsck clean. The image lives on a
# tmpfs when one can be mounted (the host's fallocate is most of the
# cost of a mkdir on a disk), which keeps the run under a minute.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS BIGDIR" "$@"
here=$(dirname "$0")
LINK_MAX=$(awk '$2 == "MAPFS_LINK_MAX" { sub(/u$/, "", $3); print $3 }' \
	"$here/../../include/mapfs_format.h")
[ -n "$LINK_MAX" ] || fail "cannot read MAPFS_LINK_MAX"
note "MAPFS_LINK_MAX $LINK_MAX"

IMGDIR="$T"
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$T/imgfs"
	if mount -t tmpfs -o size=1G mapfs-bigdir "$T/imgfs" 2>/dev/null; then
		MOUNTS+=("$T/imgfs")	# unmounted by lib_cleanup
		IMGDIR="$T/imgfs"
	fi
fi
IMG="$IMGDIR/bigdir.img"
MNT="$T/mnt"

# 65000 directories need 65000 inodes and blocks: one inode per 4 KiB.
make_image "$IMG" 512M -i 4096
mount_fs "$IMG" "$MNT"
if ! "$BIGDIR" "$MNT" fill "$LINK_MAX"; then
	unmount_and_show_fsck "$IMG" "$MNT"
	fail "bigdir fill failed"
fi
unmount_and_fsck "$IMG" "$MNT"
mount_fs "$IMG" "$MNT"
if ! "$BIGDIR" "$MNT" check "$LINK_MAX"; then
	unmount_and_show_fsck "$IMG" "$MNT"
	fail "bigdir check failed"
fi
unmount_and_fsck "$IMG" "$MNT"
# lib_cleanup removes $T; the tmpfs under it must go first
umount "$T/imgfs" 2>/dev/null
note "bigdir: EMLINK at $LINK_MAX, 64998 subdirectories, images clean"
exit 0
