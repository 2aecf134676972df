#!/bin/bash
# SPDX-License-Identifier: MIT
#
# ahead.sh MKFS FSCK MAPFS
#
# Writing ahead (docs/PERF.md, "New file data"): large sequential writes
# make the daemon zero the free blocks that follow a file and fault their
# pages in on a helper thread. Those blocks are free when that happens but
# anything may take them next. Here two files are written sequentially in
# 1 MiB requests while other processes create, truncate and delete files
# in the same image (taking and freeing blocks next to the prepared ones),
# and one of the big files is truncated and appended to again. Every file
# must hold exactly what was written: right after, after the caches are
# dropped (read back from the image), and after a remount. The daemon
# must have handed runs to the helper (its log at unmount), and fsck must
# find nothing. Prints TAP.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
IMG=$T/ahead.img
MNT=$T/mnt

head -c $((40 << 20)) /dev/urandom > "$T/src" || fail "no random source"
# What the files must hold.
cat "$T/src" "$T/src" > "$T/want.a"
{ head -c $((5 << 20)) "$T/src"; head -c $((24 << 20)) "$T/src"; } > "$T/want.b"

churn() {	# small files taking and freeing blocks everywhere
	local i
	for i in $(seq 1 40); do
		head -c $((i * 37000)) "$T/src" > "$MNT/churn.$i" || return 1
		if ((i % 3 == 0)); then
			truncate -s 1000 "$MNT/churn.$((i - 1))" || return 1
		fi
		if ((i % 4 == 0)); then
			rm -f "$MNT/churn.$((i - 2))" || return 1
		fi
	done
}

check_all() {	# LABEL: compare every file with what it must hold
	local i ok=0 want
	cmp -s "$T/want.a" "$MNT/a" || { echo "# $1: a differs"; ok=1; }
	cmp -s "$T/want.b" "$MNT/b" || { echo "# $1: b differs"; ok=1; }
	for i in $(seq 1 40); do
		if ((i % 4 == 2)) && ((i <= 38)); then
			[ ! -e "$MNT/churn.$i" ] ||
				{ echo "# $1: churn.$i exists"; ok=1; }
			continue
		fi
		if ((i % 3 == 2)) && ((i <= 39)); then
			want=$(head -c 1000 "$T/src" | sha256sum)
		else
			want=$(head -c $((i * 37000)) "$T/src" | sha256sum)
		fi
		[ "$(sha256sum < "$MNT/churn.$i")" = "$want" ] ||
			{ echo "# $1: churn.$i differs"; ok=1; }
	done
	return $ok
}

make_image "$IMG" 512M
mount_fs "$IMG" "$MNT"
{
	dd if="$T/src" of="$MNT/a" bs=1M status=none &&
	dd if="$T/src" of="$MNT/a" bs=1M oflag=append conv=notrunc,fsync \
		status=none
} &
pa=$!
{
	dd if="$T/src" of="$MNT/b" bs=1M count=32 status=none &&
	truncate -s 5M "$MNT/b" &&
	head -c $((24 << 20)) "$T/src" |
		dd of="$MNT/b" bs=1M iflag=fullblock oflag=append \
			conv=notrunc,fsync status=none
} &
pb=$!
churn &
pc=$!
wait $pa; ra=$?
wait $pb; rb=$?
wait $pc; rc=$?
t "the writers and the churn finished without errors" \
	'[ $ra = 0 ] && [ $rb = 0 ] && [ $rc = 0 ]'
t "every file holds what was written" 'check_all written'
sync
echo 3 > /proc/sys/vm/drop_caches 2>/dev/null
t "... read back from the image (caches dropped)" 'check_all dropped'
log=${DAEMON_LOG[$MNT]}
unmount_and_fsck "$IMG" "$MNT"
runs=$(sed -n 's/.*write-ahead: \([0-9]*\) runs.*/\1/p' "$log")
note "write-ahead: ${runs:-?} runs handed to the helper"
t "the daemon wrote ahead (its log counts the runs)" \
	'[ -n "$runs" ] && [ "$runs" -gt 0 ]'
mount_fs "$IMG" "$MNT"
t "... and after a remount" 'check_all remounted'
unmount_and_fsck "$IMG" "$MNT"
echo "1..$n"
exit $FAILED
