#!/bin/bash
# SPDX-License-Identifier: MIT
#
# nosync.sh MKFS FSCK MAPFS
#
# -o nosync: fsync and fsyncdir answer at once without flushing the image.
# Counted, not timed: the daemon logs at unmount how many flushes its
# journal made. 20 files written with fsync each: with -o commit=0 at
# least 20 flushes; with -o nosync,commit=0 only the few of mount and
# unmount. Both images check clean and hold the files. Prints TAP.
. "$(dirname "$0")/lib.sh"

[ $# = 3 ] || { echo "usage: $0 MKFS FSCK MAPFS" >&2; exit 2; }
lib_init "$1" "$2" "$3"
MNT=$T/mnt

flushes() { # IMG OPTS: write 20 files with fsync, unmount, print flushes
	mount_fs "$1" "$MNT" -o "$2"
	local log=${DAEMON_LOG[$MNT]} i
	for i in $(seq 1 20); do
		dd if=/dev/zero of="$MNT/f$i" bs=4k count=1 conv=fsync \
			status=none || echo "dd failed" >&2
	done
	unmount_only "$MNT" > /dev/null
	run_fsck "$1" > /dev/null
	sed -n 's/.*journal: .*commits, \([0-9]*\) flushes.*/\1/p' "$log"
}

make_image "$T/a.img" 64M
make_image "$T/b.img" 64M
fa=$(flushes "$T/a.img" commit=0)
fb=$(flushes "$T/b.img" nosync,commit=0)
note "flushes: $fa with fsync, $fb with -o nosync"
t "every fsync flushes the image (20 flushes more than with -o nosync)" \
	'[ -n "$fa" ] && [ -n "$fb" ] && [ "$fa" -ge $((fb + 20)) ]'
t "-o nosync: fsync does not (at most 10 flushes: mount and unmount)" \
	'[ -n "$fb" ] && [ "$fb" -le 10 ]'
mount_fs "$T/b.img" "$MNT" -o ro
t "the files written under -o nosync are there after a clean unmount" \
	'[ "$(ls "$MNT" | grep -c "^f")" = 20 ]'
unmount_only "$MNT" > /dev/null
echo "1..$n"
exit $FAILED
