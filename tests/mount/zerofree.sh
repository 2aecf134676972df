#!/bin/bash
# SPDX-License-Identifier: MIT
#
# zerofree.sh MKFS FSCK MAPFS
#
# Freed blocks are zeroed in the host before reuse (docs/DURABILITY.md):
#  - a deleted file's bytes are gone from the image file once the commits
#    after its unlink have run (an fsync of another file);
#  - the first mount of a new image zeroes the free blocks (logged), a
#    clean unmount writes sb_free_zeroed, the next mount trusts it (no
#    pass) and clears it on the image at once, a crash leaves it cleared
#    (the next mount zeroes again);
#  - fsck.mapfs on a clean image keeps the mark when it repairs nothing.
# Prints TAP.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
IMG=$T/z.img
MNT=$T/mnt
PASS="free blocks zeroed in the host"

mark() { od -An -tx4 -j320 -N4 "$IMG" | tr -d ' '; }
seen() { grep -a -c "zerofree-marker" "$IMG"; }

make_image "$IMG" 64M
t "mkfs writes no mark" '[ "$(mark)" = 00000000 ]'
mount_fs "$IMG" "$MNT"
t "the first mount zeroes the free blocks" \
	'grep -q "$PASS" "${DAEMON_LOG[$MNT]}"'
touch "$MNT/anchor"
yes zerofree-marker | head -c 1048576 > "$MNT/f"
sync "$MNT/f"
t "a file's bytes are in the image" '[ "$(seen)" -gt 0 ]'
rm "$MNT/f"
# The free becomes durable at the next commit, which zeroes the blocks;
# the kernel's forget (which frees an unlinked inode's blocks) may come
# a moment after the unlink.
for _ in $(seq 50); do
	sync "$MNT/anchor"
	[ "$(seen)" = 0 ] && break
	sleep 0.1
done
t "after the unlink and a commit, they are gone from the image" \
	'[ "$(seen)" = 0 ]'
unmount_and_fsck "$IMG" "$MNT"
t "a clean unmount writes the mark" '[ "$(mark)" = 5a45524f ]'

mount_fs "$IMG" "$MNT"
t "the next mount trusts it: no pass" \
	'! grep -q "$PASS" "${DAEMON_LOG[$MNT]}"'
t "and clears it on the image at once" '[ "$(mark)" = 00000000 ]'
kill -9 "${DAEMON_PID[$MNT]}"
wait "${DAEMON_PID[$MNT]}" 2>/dev/null
umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
unset "DAEMON_PID[$MNT]"
t "a crash leaves no mark" '[ "$(mark)" = 00000000 ]'
mount_fs "$IMG" "$MNT"
t "the mount after a crash zeroes again" \
	'grep -q "$PASS" "${DAEMON_LOG[$MNT]}"'
unmount_and_fsck "$IMG" "$MNT"
t "marked again after a clean unmount" '[ "$(mark)" = 5a45524f ]'
"$FSCK" -p "$IMG" > /dev/null 2>&1
t "fsck -p of the clean image keeps the mark" '[ "$(mark)" = 5a45524f ]'
"$FSCK" -y -f "$IMG" > /dev/null 2>&1
t "fsck -y -f that repairs nothing keeps it" '[ "$(mark)" = 5a45524f ]'
echo "1..$n"
exit $FAILED
