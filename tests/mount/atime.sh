#!/bin/bash
# SPDX-License-Identifier: MIT
#
# atime.sh MKFS FSCK MAPFS
#
# Access times under each atime option, as xfstests generic/003 checks
# them, with and without the kernel's writeback cache. FUSE inodes are
# S_NOATIME: a read the kernel serves from its page cache never reaches
# the daemon, so each check reads a file whose pages are cached (read
# once already, or just written under -o writeback):
#   - relatime (default): a read after a change updates atime, a second
#     read does not; the same through a cached file;
#   - strictatime: every read updates atime;
#   - noatime: no read does; mtime and ctime still move;
#   - nodiratime: listing a changed directory leaves its atime; without
#     it (relatime) the listing updates it;
#   - ro,strictatime: nothing moves;
#   - every atime word mount(8) users write is accepted.
# Each mount ends with a clean fsck. Prints TAP.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
MNT=$T/mnt
IMG=$T/a.img

at() { stat -c %X.%x "$1"; }	# atime, seconds and full
mt() { stat -c %y/%z "$1"; }	# mtime and ctime
readf() { cat "$1" > /dev/null; }

make_image "$IMG" 64M
for mode in default writeback; do
	wb=()
	[ "$mode" = writeback ] && wb=(-o writeback)
	note "$mode: relatime (no option)"
	mount_fs "$IMG" "$MNT" "${wb[@]}"
	mkdir -p "$MNT/$mode"
	f=$MNT/$mode/f
	head -c 65536 /dev/urandom > "$f"
	sleep 0.05		# a read in the write's clock tick would leave
				# atime == mtime: due again (so on Linux too)
	readf "$f"		# the pages are cached from here on
	a0=$(at "$f")
	sleep 0.05
	readf "$f"
	t "$mode relatime: a second read leaves atime" '[ "$(at "$f")" = "$a0" ]'
	touch -m "$f"		# a change: the next read is due again
	a0=$(at "$f")
	sleep 0.05
	readf "$f"
	a1=$(at "$f")
	t "$mode relatime: a cached read after a change updates atime" \
		'[ "$a1" != "$a0" ]'
	sleep 0.05
	readf "$f"
	t "$mode relatime: and the read after it does not" \
		'[ "$(at "$f")" = "$a1" ]'
	d=$MNT/$mode/d
	mkdir "$d"
	ls "$d" > /dev/null
	touch "$d/new"
	a0=$(at "$d")
	sleep 0.05
	ls "$d" > /dev/null
	t "$mode relatime: listing a changed directory updates its atime" \
		'[ "$(at "$d")" != "$a0" ]'
	unmount_and_fsck "$IMG" "$MNT"

	note "$mode: strictatime"
	mount_fs "$IMG" "$MNT" -o strictatime "${wb[@]}"
	readf "$f"
	a0=$(at "$f")
	sleep 0.05
	readf "$f"
	a1=$(at "$f")
	t "$mode strictatime: a cached read updates atime" '[ "$a1" != "$a0" ]'
	sleep 0.05
	readf "$f"
	t "$mode strictatime: so does the next one" '[ "$(at "$f")" != "$a1" ]'
	unmount_and_fsck "$IMG" "$MNT"

	note "$mode: noatime, nodiratime"
	mount_fs "$IMG" "$MNT" -o noatime "${wb[@]}"
	g=$MNT/$mode/g
	echo ccc > "$g"
	sleep 0.05
	readf "$g"
	a0=$(at "$g")
	m0=$(mt "$g")
	sleep 0.05
	readf "$g"
	t "$mode noatime: a read after a write leaves atime" \
		'[ "$(at "$g")" = "$a0" ]'
	echo xyz > "$g"
	t "$mode noatime: mtime and ctime still move" '[ "$(mt "$g")" != "$m0" ]'
	unmount_and_fsck "$IMG" "$MNT"
	mount_fs "$IMG" "$MNT" -o nodiratime "${wb[@]}"
	touch "$d/new2"
	a0=$(at "$d")
	sleep 0.05
	ls "$d" > /dev/null
	t "$mode nodiratime: listing a changed directory leaves its atime" \
		'[ "$(at "$d")" = "$a0" ]'
	touch -m "$f"
	a0=$(at "$f")
	sleep 0.05
	readf "$f"
	t "$mode nodiratime: files' atime still updated" '[ "$(at "$f")" != "$a0" ]'
	unmount_and_fsck "$IMG" "$MNT"

	note "$mode: ro,strictatime"
	mount_fs "$IMG" "$MNT" -o ro,strictatime "${wb[@]}"
	fa=$(at "$f") da=$(at "$d")
	sleep 0.05
	readf "$f"
	ls "$d" > /dev/null
	t "$mode ro,strictatime: no atime moves" \
		'[ "$(at "$f")" = "$fa" ] && [ "$(at "$d")" = "$da" ]'
	unmount_and_fsck "$IMG" "$MNT"
done

note "every atime word is accepted"
words="noatime atime relatime norelatime strictatime nostrictatime"
words="$words nodiratime diratime lazytime nolazytime"
for w in $words; do
	mount_fs "$IMG" "$MNT" -o "$w"
	t "-o $w mounts" 'is_mounted "$MNT"'
	unmount_and_fsck "$IMG" "$MNT"
done
echo "1..$n"
exit $FAILED
