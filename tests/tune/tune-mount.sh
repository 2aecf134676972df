#!/bin/bash
# SPDX-License-Identifier: MIT
#
# tune-mount.sh MKFS FSCK MAPFS TUNE
#
# tune.mapfs around real mounts:
#   A. an image (8 groups, a journal) populated through a mount with
#      files, a hard link, a symlink, directories and xattrs; tune.mapfs
#      refuses it while mounted, naming the mount point and the daemon's
#      pid, and changes nothing (-l alone lists it, with a warning); unmounted, -L -U random -m 1 change it;
#      fsck -n -f clean; mounted again: every file, link and xattr as it
#      was, and new files can be written (the checksum seed kept, the new
#      uuid in the superblock); a second -U round trip the same way.
#   B. an image made with -J 0, populated, given a journal by -j: fsck
#      clean, the data intact, the daemon mounts it journaled and writes.
# Needs /dev/fuse (exit 77, SKIP, without).
. "$(dirname "$0")/../mount/lib.sh"

lib_start "MKFS FSCK MAPFS TUNE" "$@"
[ -x "$TUNE" ] || fail "not an executable: $TUNE"
command -v getfattr > /dev/null && command -v setfattr > /dev/null ||
	skip "no getfattr/setfattr (attr package)"
MNT=$T/mnt
IMG=$T/a.img

populate() {
	local d=$1 i
	mkdir -p "$d/dir/sub" "$d/empty"
	for ((i = 0; i < 40; i++)); do
		head -c $((i * 3000 + 1)) /dev/urandom > "$d/dir/f$i"
	done
	head -c 3M /dev/urandom > "$d/dir/sub/big"
	ln "$d/dir/f1" "$d/hard"
	ln -s dir/f2 "$d/sym"
	setfattr -n user.color -v blue "$d/dir/f3"
	setfattr -n user.big -v "$(head -c 3000 /dev/zero | tr '\0' x)" \
		"$d/dir/sub/big"
	setfattr -n user.dir -v yes "$d/dir/sub"
}
manifest() {
	(cd "$1" && find . -path ./lost+found -prune -o \
		-printf '%p %y %m %n %s %l\n' | LC_ALL=C sort &&
		find . -type f -exec sha256sum {} + | LC_ALL=C sort &&
		getfattr -R -d -m 'user\.' . 2>/dev/null)
}
# sb FIELD: the value tune.mapfs -l lists for FIELD (its text label).
sb() { "$TUNE" -l "$IMG" | sed -n "s/^ *$1  *//p"; }

# A. label, uuid, reserve on a populated image.
make_image "$IMG" 16M -g 512
mount_fs "$IMG" "$MNT"
populate "$MNT"
manifest "$MNT" > "$T/m1"
pid=${DAEMON_PID[$MNT]}
"$TUNE" -L busy "$IMG" > "$T/out" 2> "$T/err"
rc=$?
t "refused while mounted (exit $rc): $(head -n 1 "$T/err")" '[ $rc = 1 ]'
t "the message names the mount point" \
	'grep -qF "is mounted at $MNT" "$T/err"'
t "the message names the daemon's pid ($pid)" \
	'grep -qF "(mapfs pid $pid)" "$T/err"'
"$TUNE" -l "$IMG" > "$T/out" 2> "$T/err"
rc=$?
t "-l lists a mounted image, with a warning (exit $rc)" \
	'[ $rc = 0 ] && grep -q "^  Label  *$" "$T/out" && grep -q "without the lock" "$T/err"'
unmount_and_fsck "$IMG" "$MNT"
t "nothing changed by the refused run" '[ "$(sb Label)" != busy ]'
old_uuid=$(sb UUID)
"$TUNE" -L tuned -U random -m 1 "$IMG" > "$T/out" 2>&1
rc=$?
t "-L -U -m on the unmounted image: exit $rc" '[ $rc = 0 ]'
new_uuid=$(sb UUID)
t "label, uuid ($new_uuid), reserve changed" \
	'[ "$(sb Label)" = tuned ] && [ "$new_uuid" != "$old_uuid" ] && [ "$(sb "Reserved percent")" = 1 ]'
run_fsck "$IMG"
mount_fs "$IMG" "$MNT"
manifest "$MNT" > "$T/m2"
t "files, links, xattrs intact after the uuid change" \
	'cmp -s "$T/m1" "$T/m2"'
head -c 1M /dev/urandom > "$MNT/dir/new" && mkdir "$MNT/newdir" &&
	setfattr -n user.new -v 1 "$MNT/newdir"
rc=$?
t "writable after the change" '[ $rc = 0 ]'
manifest "$MNT" > "$T/m3"
unmount_and_fsck "$IMG" "$MNT"
t "uuid as set after a mount" '[ "$(sb UUID)" = "$new_uuid" ]'
"$TUNE" -U "$old_uuid" "$IMG" > /dev/null 2>&1
t "the first uuid back: csum_seed gone" \
	'[ "$(sb "Incompat names")" = journal ]'
run_fsck "$IMG"
mount_fs "$IMG" "$MNT"
manifest "$MNT" > "$T/m4"
t "data intact after the second change" 'cmp -s "$T/m3" "$T/m4"'
unmount_and_fsck "$IMG" "$MNT"
t "free blocks still marked zeroed after tune ($(sb "Free blocks zeroed"))" \
	'"$TUNE" -L z "$IMG" > /dev/null && [ "$(sb "Free blocks zeroed")" = yes ]'

# B. a journal added to a -J 0 image.
IMG=$T/b.img
make_image "$IMG" 16M -g 512 -J 0
mount_fs "$IMG" "$MNT"
populate "$MNT"
manifest "$MNT" > "$T/m5"
unmount_and_fsck "$IMG" "$MNT"
"$TUNE" -j "$IMG" > "$T/out" 2>&1
rc=$?
t "-j: $(cat "$T/out")" '[ $rc = 0 ]'
t "-j: the journal feature" '[ "$(sb "Incompat names")" = journal ]'
run_fsck "$IMG"
mount_fs "$IMG" "$MNT"
manifest "$MNT" > "$T/m6"
t "-j: data intact" 'cmp -s "$T/m5" "$T/m6"'
head -c 2M /dev/urandom > "$MNT/after-j" && rm "$MNT/dir/f5" &&
	mkdir "$MNT/dir/more"
rc=$?
t "-j: the journaled daemon writes" '[ $rc = 0 ]'
unmount_and_fsck "$IMG" "$MNT"

echo "1..$n"
exit $FAILED
