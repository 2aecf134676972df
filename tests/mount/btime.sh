#!/bin/bash
# SPDX-License-Identifier: MIT
#
# btime.sh MKFS FSCK MAPFS
#
# statx(2) reports the birth time each inode keeps (di_btime), through
# FUSE_STATX (fs/fuse/extra.c; libfuse 3.14 does not dispatch it), for a
# file, a directory and a symlink: known (stat -c %W not 0), not after the
# first change, unchanged by later writes, renames and chmod while mtime
# and ctime move, the same to the nanosecond after a remount, and the
# plain attributes statx returns with it agree with stat(2)'s. Prints TAP.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
MNT=$T/mnt
IMG=$T/a.img

make_image "$IMG" 64M
mount_fs "$IMG" "$MNT"
echo one > "$MNT/f"
mkdir "$MNT/d"
ln -s f "$MNT/l"
declare -A born
for o in f d l; do
	born[$o]=$(stat -c %w "$MNT/$o")
	t "$o: birth time known" '[ "$(stat -c %W "$MNT/$o")" != 0 ]'
	t "$o: born no later than its mtime" \
		'[ "$(stat -c %W "$MNT/$o")" -le "$(stat -c %Y "$MNT/$o")" ]'
done
sleep 1.1
echo two >> "$MNT/f"
chmod 600 "$MNT/f"
touch "$MNT/d/x"
mv "$MNT/f" "$MNT/g" && mv "$MNT/g" "$MNT/f"
t "f: birth time kept by a write, chmod and renames" \
	'[ "$(stat -c %w "$MNT/f")" = "${born[f]}" ]'
t "f: mtime moved past it" \
	'[ "$(stat -c %Y "$MNT/f")" -gt "$(stat -c %W "$MNT/f")" ]'
t "d: birth time kept by a new entry" \
	'[ "$(stat -c %w "$MNT/d")" = "${born[d]}" ]'
plain() { # stat(2) through Python: no birth time asked, no FUSE_STATX
	python3 -c 'import os, sys
s = os.lstat(sys.argv[1])
print(s.st_size, s.st_nlink, "%o" % (s.st_mode & 0o7777), s.st_uid,
      s.st_gid, s.st_ino, int(s.st_mtime), int(s.st_ctime))' "$1"
}
for o in f d l; do
	t "$o: statx and stat(2) agree on the rest" \
		'[ "$(stat -c "%s %h %a %u %g %i %Y %Z" "$MNT/$o")" = "$(plain "$MNT/$o")" ]'
done
unmount_and_fsck "$IMG" "$MNT"
mount_fs "$IMG" "$MNT"
for o in f d l; do
	t "$o: the same birth time after a remount" \
		'[ "$(stat -c %w "$MNT/$o")" = "${born[$o]}" ]'
done
unmount_and_fsck "$IMG" "$MNT"
echo "1..$n"
exit $FAILED
