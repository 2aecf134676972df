#!/bin/bash
# SPDX-License-Identifier: MIT
#
# damage.sh MKFS FSCK CORRUPT MAPFS
#
# Random damage, many seeds: populate a small image, flip random bits in
# its in-use area (superblock, group 0 metadata, inode table, the first
# data blocks), then require, for every seed:
#  1. the daemon, mounting the damaged image with -o force, survives a walk
#     that stats and reads every file (errors are fine, death is not);
#  2. fsck.mapfs -y -f neither crashes nor hangs, and exits 0, 1 or 8
#     (8: nothing usable left);
#  3. after exit 0/1, a second fsck.mapfs -n -f exits 0;
#  4. the repaired image mounts, every file reads back, and after unmount
#     fsck.mapfs -n -f still exits 0.
# MAPFS_DAMAGE_SEEDS (default 25) and MAPFS_DAMAGE_FIRST (default 1) pick
# the seeds; MAPFS_DAMAGE_BYTES (default 1..24 per seed) the damage.
# Prints TAP.
set -u
MKFS=$1 FSCK=$2 CORRUPT=$3 MAPFS=$4
FIRST=${MAPFS_DAMAGE_FIRST:-1}
NSEEDS=${MAPFS_DAMAGE_SEEDS:-25}
T=$(mktemp -d /tmp/mapfs-damage.XXXXXX)
MNT=$T/mnt
mkdir -p "$MNT"
DPID=

cleanup() {
	if mounted; then
		fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	fi
	[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

can_mount=1
[ -c /dev/fuse ] && command -v fusermount3 >/dev/null || can_mount=0

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
bad() { n=$((n + 1)); failed=1; echo "not ok $n - $*"; }

# True if MNT is a mount point (from /proc/self/mounts: stat of a damaged
# filesystem's root may fail, so mountpoint(1) cannot tell).
mounted() { awk -v m="$MNT" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; }

# Start the daemon in the foreground; 0 if it mounted. A daemon that
# refuses exits by itself; one that does not mount in time is stopped.
mount_img() {
	"$MAPFS" "$1" "$MNT" -f -o force,timeout=0 >"$T/daemon.log" 2>&1 &
	DPID=$!
	for _ in $(seq 100); do
		mounted && return 0
		kill -0 "$DPID" 2>/dev/null || { wait "$DPID"; DPID=; return 1; }
		sleep 0.1
	done
	unmount_img
	return 1
}

# Unmount and wait for the daemon; its exit status (or 99 if it hangs).
unmount_img() {
	local st=0
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	for _ in $(seq 300); do
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$DPID" 2>/dev/null; then
		kill -9 "$DPID"
		st=99
	else
		wait "$DPID"
		st=$?
	fi
	DPID=
	return $st
}

# Stat and read everything under the mount, with a time limit.
walk() {
	timeout -s KILL 60 find "$MNT" -xdev -type f -print0 2>/dev/null |
		timeout -s KILL 60 xargs -0 -r -n 1 \
			head -c 67108864 >/dev/null 2>&1
	timeout -s KILL 30 ls -laR "$MNT" >/dev/null 2>&1
	return 0
}

# fsck_clean IMG OUT WHAT: fsck.mapfs -n -f IMG (output in OUT) must exit
# 0; else "not ok" for this seed with WHAT, the exit status and the damage
# done, and false.
fsck_clean() {
	local st
	timeout 120 "$FSCK" -n -f "$1" >"$2" 2>&1
	st=$?
	[ $st = 0 ] && return 0
	bad "seed $seed: $3 exit $st (damage:$desc)"
	head -8 "$2" | sed 's/^/# /'
	return 1
}

# Damage lands in what a populated 16 MiB image really uses: the
# superblock, group 0's header and bitmaps, the first inodes, and the first
# data blocks (directories, indirect blocks, file data).
for seed in $(seq "$FIRST" $((FIRST + NSEEDS - 1))); do
	img=$T/img
	rm -f "$img"
	"$MKFS" -q -E -s 16M "$img" >/dev/null || { bad "seed $seed: mkfs"; continue; }
	"$CORRUPT" "$img" populate >/dev/null || { bad "seed $seed: populate"; continue; }
	bsize=$("$CORRUPT" "$img" info bsize)
	doff=$("$CORRUPT" "$img" info data_off)
	RANDOM=$seed
	nbytes=$(( RANDOM % ${MAPFS_DAMAGE_BYTES:-24} + 1 ))
	desc=""
	for _ in $(seq "$nbytes"); do
		# Pick a region that is really in use, then a byte in it.
		# (The superblock is picked less often: a one-group image
		# has no copy, so most hits there are beyond repair.)
		case $(( RANDOM % 12 )) in
		0) base=0; len=512 ;;				# superblock
		1|2) base=$bsize; len=384 ;;			# group header
		3) base=$(( 2 * bsize )); len=64 ;;		# inode bitmap
		4) base=$(( 3 * bsize )); len=64 ;;		# block bitmap
		5|6|7) base=$(( 4 * bsize )); len=$(( 48 * 256 )) ;; # inodes
		*) base=$(( doff * bsize )); len=$(( 96 * bsize )) ;; # data
		esac
		off=$(( base + (RANDOM * 32768 + RANDOM) % len ))
		mask=$(( RANDOM % 255 + 1 ))
		"$CORRUPT" "$img" xorbyte "$off" "$mask" >/dev/null 2>&1
		desc="$desc $off^$mask"
	done
	cp "$img" "$T/damaged"

	# 1. The daemon on the damaged image.
	if [ $can_mount = 1 ]; then
		if mount_img "$img"; then
			walk
			unmount_img
			st=$?
			if [ $st -ge 128 ] || [ $st = 99 ]; then
				bad "seed $seed: daemon died or hung on the damaged image (status $st; damage:$desc)"
				tail -5 "$T/daemon.log" | sed 's/^/# /'
				continue
			fi
		fi
		cp "$T/damaged" "$img"	# repair the untouched damage
	fi

	# 2. First repair.
	timeout 120 "$FSCK" -y -f "$img" >"$T/fsck1" 2>&1
	st=$?
	case $st in
	0|1) ;;
	8)	ok "seed $seed: beyond repair (exit 8)"
		continue ;;
	*)	bad "seed $seed: fsck -y exit $st (damage:$desc)"
		tail -5 "$T/fsck1" | sed 's/^/# /'
		continue ;;
	esac

	# 3. Second run clean.
	fsck_clean "$img" "$T/fsck2" "second fsck" || continue

	# 4. The repaired image mounts and reads back.
	if [ $can_mount = 1 ]; then
		if ! mount_img "$img"; then
			bad "seed $seed: repaired image does not mount"
			sed 's/^/# /' "$T/daemon.log" | tail -5
			continue
		fi
		# The first 64 MiB of each file: a repaired inode may keep a
		# damaged but valid size (a huge sparse file reads as zeros).
		errs=$(timeout -s KILL 120 find "$MNT" -xdev -type f -print0 |
		       timeout -s KILL 120 xargs -0 -r -n 1 \
			       head -c 67108864 2>&1 >/dev/null |
		       tee "$T/readerr" | wc -l)
		unmount_img
		st=$?
		if [ $st != 0 ]; then
			bad "seed $seed: daemon exit $st on the repaired image"
			continue
		fi
		if [ "$errs" != 0 ]; then
			bad "seed $seed: $errs read errors on the repaired image (damage:$desc)"
			sed "s/^/# /" "$T/readerr" | head -5
			continue
		fi
		fsck_clean "$img" "$T/fsck3" \
			"fsck after mounting the repaired image" || continue
	fi
	ok "seed $seed: repaired ($nbytes bytes damaged)"
done
echo "1..$n"
exit $failed
