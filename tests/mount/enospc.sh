#!/bin/bash
# SPDX-License-Identifier: MIT
#
# enospc.sh MKFS FSCK MAPFS
#
# A full host disk: a 48 MiB tmpfs holds a sparse 512 MiB image, so the
# host runs out of space long before the filesystem does. Writes must fail
# with ENOSPC (the daemon reserves host space with fallocate when it
# allocates blocks, so no store through the mapping can fault), the
# daemon must keep running and serving, space freed on the mount must be
# usable again, and after unmounting the image must check clean and hold
# what was written.
#
# Inode tables are reserved a 64 KiB chunk (128 inodes) at a time as
# their high-water mark grows, a new group's header and bitmaps when it
# is first used (fs/alloc.c). So, with the host full: creating files in
# a directory that has room for their entries must fail with ENOSPC once
# they need a new chunk of the table (at the latest after 128), never
# with EIO (a store into an unbacked page would fault: SIGBUS, EIO, the
# image marked as needing a check); a new top-level directory (a fresh
# group) must succeed or fail with ENOSPC; the inodes of files deleted
# then serve new files. Prints TAP.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
HOST=$T/host
MNT=$T/mnt
mkdir -p "$HOST"
mount -t tmpfs -o size=48m tmpfs "$HOST" 2>/dev/null ||
	skip "cannot mount a tmpfs here"
MOUNTS+=("$HOST")
IMG=$HOST/img

make_image "$IMG" 512M
mount_fs "$IMG" "$MNT"
pid=${DAEMON_PID[$MNT]}
echo "small file written first" > "$MNT/keep"
# A directory (in a group of its own: a top-level one) with room for 200
# more entries: its blocks hold 200 long names (links to keep, one
# inode), then the names go.
mkdir "$MNT/many" || fail "mkdir many"
long=$(printf 'x%.0s' $(seq 1 100))
for i in $(seq 1 200); do
	ln "$MNT/keep" "$MNT/many/$long$i" || fail "ln $i"
done
rm -f "$MNT/many/$long"*
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
made=0 cerr=""
for i in $(seq 1 200); do
	if ! cerr=$(: 2>&1 > "$MNT/many/n$i"); then
		break
	fi
	made=$i
done
note "created $made files in many/ on the full host, then: $cerr"
t "creates needing a new inode-table chunk fail with ENOSPC" \
	'[ "$made" -lt 200 ] && [[ "$cerr" == *"No space left"* ]]'
t "mkdir of a top-level directory (a fresh group) succeeds or fails with ENOSPC" \
	'out=$(mkdir "$MNT/top" 2>&1) || [[ "$out" == *"No space left"* ]]'
# A fault would have stopped all changes (EIO): a rename needs no space.
t "the daemon is still running and accepts changes" \
	'pid_alive "$pid" && is_mounted "$MNT" && ls "$MNT/many" > /dev/null &&
	 mv "$MNT/keep" "$MNT/keep2" && mv "$MNT/keep2" "$MNT/keep"'
rm -f "$MNT"/big*
sync
# The freed blocks are reused: the image file already holds them.
t "after deleting, the space can be written again" \
	'dd if="$T/chunk" of="$MNT/again" bs=1M count=1 conv=fsync status=none && cmp -s "$T/chunk" "$MNT/again"'
# Deleting files gives the host no space back (their blocks stay in the
# image file), so new inodes come from the slots the deleted ones free.
rm -f "$MNT"/many/n*
t "files can be created again in the inodes freed" \
	'(for i in $(seq 1 "$made"); do : > "$MNT/many/m$i" || exit 1; done)'
unmount_and_fsck "$IMG" "$MNT"
t "the image checks clean" 'true'
echo "1..$n"
exit $FAILED
