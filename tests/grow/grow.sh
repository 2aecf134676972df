#!/bin/bash
# SPDX-License-Identifier: MIT
#
# grow.sh MKFS FSCK MAPFS GROWFS
#
# growfs.mapfs end to end, on real mounts:
#   A. a 40M image with 16M groups (-g 4096: groups 0, 1 full, group 2
#      partial), populated through a mount so that every group is in use;
#      grown 40M -> 48M (the initialized partial last group becomes full),
#      48M -> 130M without -s after enlarging the file (new groups 3..8,
#      copies in 3, 5, 7), 130M -> 2T (131072 groups, sparse);
#   B. a 64M image (one group of 64M) grown straight to 2T;
#   C. a 200M image with default groups (group 1 partial) grown to 2T.
# After each step: fsck.mapfs -n -f clean (which checks every superblock
# copy against the primary; for C also fsck -n -f -b on each new copy),
# the files intact (mount and compare a manifest), the new
# space usable (write more than the old size held), shrinking refused;
# a dry run changes nothing, mounted (the daemon would grow it) or not.
. "$(dirname "$0")/../mount/lib.sh"

[ $# = 4 ] || { echo "usage: $0 MKFS FSCK MAPFS GROWFS" >&2; exit 2; }
lib_init "$1" "$2" "$3"
GROWFS=$4
[ -x "$GROWFS" ] || fail "not an executable: $GROWFS"
MNT=$T/mnt
MiB=$((1024 * 1024))

# populate DIR MB: directories with random files, MB megabytes in all.
populate() {
	local dir=$1 mb=$2 i j
	mkdir -p "$dir/small" "$dir/links"
	for ((i = 0; i < mb; i++)); do
		j=$((i % 6))
		mkdir -p "$dir/d$j"
		head -c $((MiB - i * 1000)) /dev/urandom > "$dir/d$j/big$i" ||
			fail "populate: write failed"
	done
	for ((i = 0; i < 200; i++)); do
		echo "small file $i" > "$dir/small/f$i"
	done
	ln -s ../small/f1 "$dir/links/sym"
	ln "$dir/small/f2" "$dir/links/hard"
	chmod 0640 "$dir/small/f3"
	mkdir -p "$dir/sub/deeper"
	head -c 70000 /dev/urandom > "$dir/sub/deeper/file"
}

# A signature of an image that changes with any write: size, allocated
# blocks, modification time (a store through a mapping updates it) and
# the first 256 MiB's checksum (without reading 2 TiB of holes).
imgsum() {
	stat -c '%s %b %y' "$1"
	head -c 256M "$1" | sha256sum
}

manifest() {
	(cd "$1" && find . -path ./lost+found -prune -o \
		-printf '%p %y %m %n %s %l\n' | LC_ALL=C sort &&
		find . -type f -exec sha256sum {} + | LC_ALL=C sort)
}

# Used bytes of the mounted filesystem (statfs).
used_bytes() {
	local b f s
	read -r b f s < <(stat -f -c '%b %f %S' "$1")
	echo $(((b - f) * s))
}

total_bytes() {
	local b s
	read -r b s < <(stat -f -c '%b %S' "$1")
	echo $((b * s))
}

check_fsck_copies() {
	local img=$1 g rc
	run_fsck "$img"
	for g in "${@:2}"; do
		"$FSCK" -n -f -b "$g" "$img" > "$T/fsck-b.out" 2>&1
		rc=$?
		if [ "$rc" != 0 ]; then
			cat "$T/fsck-b.out"
			fail "fsck.mapfs -n -f -b $g: exit $rc"
		fi
	done
	[ $# -gt 1 ] && note "superblock copies in groups ${*:2} usable"
	return 0
}

# verify IMG OLD_BYTES FILL: mount, compare the manifest, write past
# the old size (FILL=full: until the filesystem is full; else FILL MiB),
# check the space was taken, clean up, unmount, fsck.
verify() {
	local img=$1 old=$2 fill=$3 used
	mount_fs "$img" "$MNT"
	manifest "$MNT" > "$T/manifest.now"
	if ! cmp -s "$T/manifest.ref" "$T/manifest.now"; then
		diff "$T/manifest.ref" "$T/manifest.now" | head -20
		unmount_only "$MNT"
		fail "files changed by growing"
	fi
	[ "$(total_bytes "$MNT")" -gt "$old" ] ||
		fail "statfs still shows $(total_bytes "$MNT") bytes"
	if [ "$fill" = full ]; then
		# Write a bounded amount, a little more than is free (with
		# -o writeback, ENOSPC would come only at fsync/close).
		fill=$(( $(stat -f -c '%f * %S' "$MNT") / MiB + 4 ))
		dd if=/dev/zero of="$MNT/fill" bs=1M count="$fill" \
			conv=fsync status=none 2>/dev/null
	else
		dd if=/dev/zero of="$MNT/fill" bs=1M count="$fill" \
			status=none || fail "cannot write ${fill}M after growing"
		sync "$MNT/fill" || fail "sync of the fill file failed"
	fi
	used=$(used_bytes "$MNT")
	[ "$used" -gt "$old" ] ||
		fail "used $used bytes after filling: not past the old $old"
	note "filled to $used bytes used (old filesystem: $old bytes)"
	rm -f "$MNT/fill"
	unmount_and_fsck "$img" "$MNT"
}

# grow IMG ARGS...: run growfs, must succeed.
grow() {
	local img=$1
	shift
	"$GROWFS" "$@" "$img" > "$T/grow.out" 2>&1 || {
		cat "$T/grow.out"
		fail "growfs.mapfs $* failed"
	}
	sed 's/^/# /' "$T/grow.out"
}

refuse_shrink() {
	local img=$1 size=$2 sum
	sum=$(imgsum "$img")
	if "$GROWFS" -s "$size" "$img" > "$T/shrink.out" 2>&1; then
		fail "growfs -s $size (a shrink) succeeded"
	fi
	grep -q "shrinking is not supported" "$T/shrink.out" ||
		{ cat "$T/shrink.out"; fail "no clear shrink refusal"; }
	[ "$(imgsum "$img")" = "$sum" ] || fail "refused shrink changed $img"
	note "shrink to $size refused"
}

# ---- A: 40M, 16M groups -------------------------------------------
IMG=$T/a.img
make_image "$IMG" 40M -g 4096
mount_fs "$IMG" "$MNT"
populate "$MNT" 30
manifest "$MNT" > "$T/manifest.ref"
# On a mounted image growfs asks the daemon (tests/mount/grow_online.sh);
# here only its dry run, which changes nothing.
"$GROWFS" -n -s 48M "$IMG" > "$T/busy.out" 2>&1 ||
	{ cat "$T/busy.out"; fail "growfs -n on a mounted image failed"; }
grep -q "the daemon grows it" "$T/busy.out" ||
	{ cat "$T/busy.out"; fail "mounted image not recognized"; }
[ "$(stat -c %s "$IMG")" = $((40 * MiB)) ] || fail "dry run resized the file"
unmount_and_fsck "$IMG" "$MNT"
OLD=$((40 * MiB))

# Dry run: prints the plan, writes nothing.
sum=$(imgsum "$IMG")
"$GROWFS" -n -s 48M "$IMG" > "$T/dry.out" 2>&1 ||
	{ cat "$T/dry.out"; fail "growfs -n failed"; }
sed 's/^/# /' "$T/dry.out"
grep -q "dry run" "$T/dry.out" || fail "dry run not announced"
grep -q "last group 2 extended from 2048 to 4096 blocks (its header rebuilt)" \
	"$T/dry.out" || fail "group 2 was expected to be partial and in use"
[ "$(imgsum "$IMG")" = "$sum" ] || fail "dry run changed the image"
[ "$(stat -c %s "$IMG")" = $((40 * MiB)) ] || fail "dry run resized the file"

# A1: partial, initialized last group -> full.
grow "$IMG" -s 48M
[ "$(stat -c %s "$IMG")" = $((48 * MiB)) ] || fail "file not enlarged to 48M"
check_fsck_copies "$IMG"
refuse_shrink "$IMG" 40M
verify "$IMG" "$OLD" full
OLD=$((48 * MiB))

# A2: no -s: grow to the file's size; groups 3..8, copies in 3, 5, 7.
truncate -s 130M "$IMG"
grow "$IMG"
grep -q "3 new superblock copies in groups: 3 5 7" "$T/grow.out" ||
	fail "expected new copies in groups 3, 5, 7"
check_fsck_copies "$IMG"
refuse_shrink "$IMG" 100M
verify "$IMG" "$OLD" full
OLD=$((130 * MiB))
# Nothing left to add: success, nothing written.
sum=$(imgsum "$IMG")
grow "$IMG"
grep -q "nothing to do" "$T/grow.out" || fail "expected nothing to do"
[ "$(imgsum "$IMG")" = "$sum" ] || fail "a no-op grow changed the image"

# A3: 130M -> 2T, sparse: few pages written.
before=$(du -k "$IMG" | cut -f1)
grow "$IMG" -s 2T
alloc=$(( $(du -k "$IMG" | cut -f1) - before ))
[ "$alloc" -lt $((16 * 1024)) ] || fail "growing to 2T allocated ${alloc}K"
note "growing to 2T allocated ${alloc} KiB on the host"
check_fsck_copies "$IMG"
refuse_shrink "$IMG" 1T
verify "$IMG" "$OLD" 160
# The grown image keeps working across another mount: more files.
mount_fs "$IMG" "$MNT"
populate "$MNT/later" 8
manifest "$MNT" > "$T/manifest.ref"
unmount_and_fsck "$IMG" "$MNT"
verify "$IMG" "$OLD" 160

# ---- B: 64M (one group of 64M) -> 2T in one step ---------------------
IMG=$T/b.img
make_image "$IMG" 64M
mount_fs "$IMG" "$MNT"
populate "$MNT" 20
manifest "$MNT" > "$T/manifest.ref"
unmount_and_fsck "$IMG" "$MNT"
grow "$IMG" -s 2T
check_fsck_copies "$IMG"
refuse_shrink "$IMG" 64M
verify "$IMG" $((64 * MiB)) 100

# ---- C: 200M with the default 128M groups (group 1 partial) -> 2T ----
# fsck -b finds copies at the default group size only, so this image
# also checks the new copies one by one.
IMG=$T/c.img
make_image "$IMG" 200M
mount_fs "$IMG" "$MNT"
populate "$MNT" 12
manifest "$MNT" > "$T/manifest.ref"
unmount_and_fsck "$IMG" "$MNT"
grow "$IMG" -s 2T
grep -q "last group 1 extended from 18432 to 32768 blocks" "$T/grow.out" ||
	fail "expected group 1 to be extended"
check_fsck_copies "$IMG" 1 3 5 7 9 25 27 49 81 125 243 343 625 729 2187 \
	2401 3125 6561
refuse_shrink "$IMG" 1G
verify "$IMG" $((200 * MiB)) 240
echo "ok - growfs.mapfs"
