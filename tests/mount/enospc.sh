#!/bin/bash
# SPDX-License-Identifier: MIT
#
# enospc.sh MKFS FSCK MAPFS
#
# A full host disk: a 48 MiB tmpfs holds a sparse 256 MiB image, so the
# host runs out of space long before the filesystem does. Writes must fail
# with ENOSPC (the daemon reserves host space with fallocate when it
# allocates blocks, so no store through the mapping can fault), the
# daemon must keep running and serving, space freed on the mount must be
# usable again, and after unmounting the image must check clean and hold
# what was written. Prints TAP.
. "$(dirname "$0")/lib.sh"

[ $# = 3 ] || { echo "usage: $0 MKFS FSCK MAPFS" >&2; exit 2; }
lib_init "$1" "$2" "$3"
HOST=$T/host
MNT=$T/mnt
mkdir -p "$HOST"
mount -t tmpfs -o size=48m tmpfs "$HOST" 2>/dev/null ||
	skip "cannot mount a tmpfs here"
MOUNTS+=("$HOST")
IMG=$HOST/img

make_image "$IMG" 256M
mount_fs "$IMG" "$MNT"
pid=${DAEMON_PID[$MNT]}
echo "small file written first" > "$MNT/keep"
sync "$MNT/keep"
# Fill: 1 MiB writes until something fails.
dd if=/dev/urandom of="$T/chunk" bs=1M count=1 status=none
err=""
for i in $(seq 1 400); do
	if ! out=$(dd if="$T/chunk" of="$MNT/big$i" bs=1M conv=fsync status=none 2>&1); then
		err=$out
		break
	fi
done
note "stopped at file $i: $err"
t "a write failed with ENOSPC before the image was full" \
	'[[ "$err" == *"No space left on device"* ]] && [ "$i" -lt 250 ]'
t "the daemon is still running" 'pid_alive "$pid" && is_mounted "$MNT"'
t "earlier data reads back" '[ "$(cat "$MNT/keep")" = "small file written first" ] && cmp -s "$T/chunk" "$MNT/big1"'
t "operations that need no new block still work" \
	'touch "$MNT/f" && mv "$MNT/f" "$MNT/g" && ln "$MNT/g" "$MNT/h" && rm "$MNT/g" "$MNT/h"'
t "mkdir (a new block) succeeds or fails cleanly with ENOSPC" \
	'out=$(mkdir "$MNT/dir" 2>&1) || [[ "$out" == *"No space left"* ]]'
rm -f "$MNT"/big*
sync
# The freed blocks are reused: the image file already holds them.
t "after deleting, the space can be written again" \
	'dd if="$T/chunk" of="$MNT/again" bs=1M count=1 conv=fsync status=none && cmp -s "$T/chunk" "$MNT/again"'
unmount_and_fsck "$IMG" "$MNT"
t "the image checks clean" 'true'
echo "1..$n"
exit $FAILED
