#!/bin/bash
# SPDX-License-Identifier: MIT
#
# around.sh MKFS FSCK MAPFS
#
# Reading around small files (docs/PERF.md, "Reading around small files"): a read
# from the start of a file also asks for the image bytes that follow it,
# where the next files written in the same directory are. Here 40 files of
# one page each are written one after another, the image's pages are
# dropped from the host's page cache, and after a fresh mount the first
# file is read. Reading the other 39 then must not make the daemon wait
# for a single page read from the disk (its major-fault count stays, give
# or take 3), where without reading around each file costs one. Every file
# must hold what was written, and fsck must find nothing. As root, the
# daemon must also have raised the mount's read_ahead_kb to 1024 (a READ
# per MiB of a sequential read, not per 128 KiB). Skips where the
# image's page cache cannot be dropped (tmpfs) or fincore(1) is missing.
# Prints TAP.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
command -v fincore > /dev/null 2>&1 || skip "fincore(1) is missing"
IMG=$T/around.img
MNT=$T/mnt
N=40

majflt() {	# the daemon's major faults so far
	sed 's/^.*) //' "/proc/${DAEMON_PID[$MNT]}/stat" | cut -d' ' -f10
}

make_image "$IMG" 64M
mount_fs "$IMG" "$MNT"
mkdir "$MNT/d" || fail "mkdir"
for i in $(seq 1 $N); do
	head -c 4096 /dev/urandom > "$T/src.$i" || fail "no random source"
	cp "$T/src.$i" "$MNT/d/f$i" || fail "write f$i"
done
unmount_only "$MNT"

# Drop the image's pages (GNU dd: nocache on the whole file).
dd of="$IMG" oflag=nocache conv=notrunc,fdatasync count=0 status=none ||
	fail "dd nocache"
res=$(fincore --bytes --noheadings --output RES "$IMG" | tr -d ' ')
[ "${res:-1}" -lt $((1 << 20)) ] ||
	skip "the image's page cache cannot be dropped here ($res bytes stay)"

# noatime: reads store nothing (no journal page to fault in).
mount_fs "$IMG" "$MNT" -o noatime
if [ "$(id -u)" = 0 ]; then
	# The daemon (as root) raises the kernel's read-ahead window for the
	# mount from 128 KiB to 1 MiB once INIT is done.
	ra=/sys/class/bdi/$(mountpoint -d "$MNT")/read_ahead_kb
	for i in $(seq 50); do
		[ "$(cat "$ra" 2>/dev/null)" = 1024 ] && break
		sleep 0.1
	done
	t "the mount's read_ahead_kb is 1024 ($(cat "$ra" 2>/dev/null))" \
		'[ "$(cat "$ra" 2>/dev/null)" = 1024 ]'
fi
ls "$MNT/d" > /dev/null || fail "ls"
cat "$MNT/d/f1" > /dev/null || fail "read f1"
sleep 1		# the reads asked for land
before=$(majflt)
for i in $(seq 2 $N); do
	cat "$MNT/d/f$i" > /dev/null || fail "read f$i"
done
after=$(majflt)
t "39 files read after the first: no synchronous page reads ($((after - before)) major faults)" \
	'[ $((after - before)) -le 3 ]'
bad=0
for i in $(seq 1 $N); do
	cmp -s "$T/src.$i" "$MNT/d/f$i" || { note "f$i differs"; bad=1; }
done
t "every file holds what was written" '[ $bad = 0 ]'

unmount_and_fsck "$IMG" "$MNT"
echo "1..$n"
exit $FAILED
