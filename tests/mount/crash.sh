#!/bin/bash
# SPDX-License-Identifier: MIT
#
# crash.sh MKFS FSCK MAPFS CRASHLOAD
#
# Kill the daemon (SIGKILL) at random moments of a seeded workload and
# check what the durability contract promises for a daemon crash:
#  - fsck.mapfs -p repairs the image (exit 0 or 1): only what a crash may
#    leave (leaks, link counts too high, counters, stale checksums);
#    anything else makes -p exit 4 and the test fail;
#  - a second fsck.mapfs -n -f is clean;
#  - the image mounts again and every file the workload had fsynced (and
#    not touched since) holds exactly its fsynced content.
# With the metadata journal (the default) the image the kill leaves is
# replayed when opened, so fsck -n -f must find at most unlinked files the
# kernel still held (open or only looked up), all on the orphan list:
# counted and printed at the end. Every fifth kill the image is mounted
# and unmounted first instead: the mount frees the orphans, and fsck -n -f
# must then find nothing at all.
# Every wait after a kill is bounded: if the daemon or the workload is still
# there 10 s after the SIGKILL, the test fails, printing their kernel
# stacks, after aborting the connection through fusectl (lib.sh,
# release_hung). MAPFS_CRASH_KILLS (default 200) kill points;
# MAPFS_CRASH_SEED the first seed. Prints TAP.
. "$(dirname "$0")/lib.sh"

[ $# = 4 ] || { echo "usage: $0 MKFS FSCK MAPFS CRASHLOAD" >&2; exit 2; }
lib_init "$1" "$2" "$3"
dmesg_mark
LOAD=$4
KILLS=${MAPFS_CRASH_KILLS:-200}
SEED0=${MAPFS_CRASH_SEED:-1}
IMG=$T/crash.img
MNT=$T/mnt
n=0
failed=0
orphans_only=0
mounted_first=0

make_image "$IMG" 128M
for ((i = 0; i < KILLS; i++)); do
	seed=$((SEED0 + i))
	log=$T/load.$seed.log
	: > "$log"
	mount_fs "$IMG" "$MNT" -o force
	pid=${DAEMON_PID[$MNT]}
	"$LOAD" "$MNT" "$seed" "$log" &
	lpid=$!
	# A random moment: 0 to 400 ms into the workload.
	sleep "0.$(printf '%03d' $(( (seed * 7919) % 400 )))"
	kill -9 "$pid"
	n=$((n + 1))
	# Bounded: a daemon that cannot die (a thread of it stuck on its own
	# mount keeps /dev/fuse open) or a workload stuck on the mount must
	# fail the test, not stall it until meson's timeout.
	if ! wait_gone 10 "$pid" "$lpid"; then
		echo "not ok $n - kill $seed: daemon or workload still there 10 s after SIGKILL"
		release_hung "$MNT" "$pid" "$lpid"
		echo "1..$n"
		exit 1
	fi
	wait "$pid" 2>/dev/null
	wait "$lpid" 2>/dev/null
	umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
	unset "DAEMON_PID[$MNT]"
	if (( i % 5 == 4 )); then
		mount_fs "$IMG" "$MNT"
		unmount_only "$MNT" > /dev/null
		if ! "$FSCK" -n -f "$IMG" > "$T/fsck.m" 2>&1; then
			failed=1
			echo "not ok $n - kill $seed: after a mount and unmount, fsck -n -f still finds"
			sed 's/^/# /' "$T/fsck.m" | head -20
		fi
		mounted_first=$((mounted_first + 1))
	fi
	"$FSCK" -n -f "$IMG" > "$T/fsck.n0" 2>&1
	st=$?
	other=$(grep -o '\[P[0-9A-Z_]*\]' "$T/fsck.n0" | grep -v P4_ORPHAN_INODE | sort -u | tr '\n' ' ')
	if [ -n "$other" ] || [ $st -gt 4 ]; then
		failed=1
		echo "not ok $n - kill $seed: fsck -n -f exit $st, found $other"
		sed 's/^/# /' "$T/fsck.n0" | head -20
	fi
	[ $st = 0 ] || orphans_only=$((orphans_only + 1))
	"$FSCK" -p "$IMG" > "$T/fsck.p" 2>&1
	st=$?
	if [ $st -gt 1 ]; then
		failed=1
		echo "not ok $n - kill $seed: fsck -p exit $st (not only crash damage)"
		sed 's/^/# /' "$T/fsck.p" | head -20
		cp "$IMG" "$T/keep.$seed.img" 2>/dev/null
		"$FSCK" -y -f "$IMG" > /dev/null 2>&1
		continue
	fi
	"$FSCK" -n -f "$IMG" > "$T/fsck.n" 2>&1
	st=$?
	if [ $st != 0 ]; then
		failed=1
		echo "not ok $n - kill $seed: second fsck -n -f exit $st"
		sed 's/^/# /' "$T/fsck.n" | head -20
		"$FSCK" -y -f "$IMG" > /dev/null 2>&1
		continue
	fi
	mount_fs "$IMG" "$MNT"
	if ! "$LOAD" --verify "$MNT" "$log" > "$T/verify" 2>&1; then
		failed=1
		echo "not ok $n - kill $seed: fsynced data lost"
		sed 's/^/# /' "$T/verify" | head -20
	else
		fixed=$(grep -c '^  fixed' "$T/fsck.p")
		echo "ok $n - kill $seed: preen fixed $fixed, fsynced data intact"
	fi
	unmount_and_fsck "$IMG" "$MNT" > /dev/null || { failed=1; echo "not ok - fsck after remount"; }
	# Start the next round from a clean, emptied tree now and then, so
	# the image does not fill up.
	if (( i % 10 == 9 )); then
		mount_fs "$IMG" "$MNT"
		rm -rf "$MNT"/d0 "$MNT"/d1 "$MNT"/d2
		unmount_only "$MNT" > /dev/null
	fi
done
echo "# $n kills ($mounted_first remounted first): fsck -n -f clean after $((n - orphans_only)); only orphans to free after $orphans_only"
echo "1..$n"
exit $failed
