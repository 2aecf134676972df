#!/bin/bash
# SPDX-License-Identifier: MIT
#
# nosync.sh MKFS FSCK MAPFS
#
# -o nosync: fsync and fsyncdir answer at once without flushing the image.
# Counted, not timed: the daemon logs at unmount how many flushes its
# journal made. 20 files written with fsync each: with -o commit=0 at
# least 20 flushes; with -o nosync,commit=0 only the few of mount and
# unmount. Both images check clean and hold the files. Then the commit
# timer: an overwrite inside a file changes no metadata (no journal
# record), and -o commit=1 must still write it back within seconds, seen
# as the daemon's dirty pages of the image (smaps). Prints TAP.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
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

# KiB of dirty pages in the daemon's shared mapping of IMG (file data).
dirty_kib() { # PID IMG
	awk -v img="$(readlink -f "$2")" '
		/^[0-9a-f]+-[0-9a-f]+ / { on = ($2 ~ /s/ && $NF == img) }
		on && /^(Shared|Private)_Dirty:/ { kb += $2 }
		END { print kb + 0 }' "/proc/$1/smaps"
}

make_image "$T/c.img" 64M
mount_fs "$T/c.img" "$MNT" -o commit=1
dd if=/dev/urandom of="$MNT/data" bs=1M count=4 conv=fsync status=none ||
	echo "dd failed" >&2
sleep 2		# the timer's commit after the fsync's records
# Overwrite 2 MiB (O_DIRECT: straight to the daemon) and keep the file
# open: a close would make the kernel send the new mtime (a SETATTR, so
# a record), which the timer would commit anyway.
python3 - "$MNT/data" "$T/written" <<'EOF' &
import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 2 << 20)
buf.write(os.urandom(2 << 20))
os.pwrite(fd, buf, 1 << 20)
open(sys.argv[2], "w").close()
time.sleep(8)
os.close(fd)
EOF
writer=$!
for ((i = 0; i < 100; i++)); do [ -e "$T/written" ] && break; sleep 0.05; done
d0=$(dirty_kib "${DAEMON_PID[$MNT]}" "$T/c.img")
sleep 4
d1=$(dirty_kib "${DAEMON_PID[$MNT]}" "$T/c.img")
wait $writer
wst=$?
note "dirty KiB of the image after a 2 MiB overwrite: $d0, 4 s later: $d1"
t "the O_DIRECT overwrite with the file held open ran" \
	'[ "$wst" = 0 ] && [ -e "$T/written" ]'
t "-o commit=1: an overwrite alone is written back by the timer" \
	'[ "$wst" = 0 ] && [ -n "$d1" ] && [ "$d1" -lt 512 ]'
unmount_and_fsck "$T/c.img" "$MNT"
echo "1..$n"
exit $FAILED
