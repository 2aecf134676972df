#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fsync.sh [BUILD_DIR] [N]: what durability costs, mapfs against the
# kernel's ext4 on a loop device, both images in the same directory of the
# same host filesystem (so the same disk and the same flushes). Runs the
# four modes of bench/fsync.c (overwrite+fsync, append+fdatasync,
# create+fsync with fsyncdir every 10, the editor's write-fsync-rename-
# fsyncdir) N times each (default 1000) on each, and prints the ratios.
# Needs root (losetup, mount). Work directory: $BENCH_DIR or /var/tmp.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build}
N=${2:-1000}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/mapfs-fsync.XXXXXX") || exit 1
LOOP=
cleanup() {
	mountpoint -q "$W/m" && fusermount3 -u "$W/m"
	mountpoint -q "$W/e" && umount "$W/e"
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	rm -rf "$W"
}
trap cleanup EXIT
gcc -O2 -o "$W/fsync" "$ROOT/bench/fsync.c" || exit 1
mkdir "$W/m" "$W/e"
"$B/mkfs/mkfs.mapfs" -q -s 2G "$W/mapfs.img" || exit 1
"$B/fs/fuse/mapfs" "$W/mapfs.img" "$W/m" || exit 1
truncate -s 2G "$W/ext4.img" && mkfs.ext4 -F -q "$W/ext4.img" || exit 1
LOOP=$(losetup -f --show "$W/ext4.img") || exit 1
mount -t ext4 "$LOOP" "$W/e" || exit 1
echo "# host: $(df -T "$W" | awk 'NR==2 {print $2}') at $W; N=$N"
printf '%-10s %14s %14s %8s\n' mode "mapfs ops/s" "ext4 ops/s" ratio
for mode in overwrite append create rename; do
	a=$("$W/fsync" "$W/m" $mode "$N" | sed 's/.*= \([0-9]*\) ops.*/\1/')
	b=$("$W/fsync" "$W/e" $mode "$N" | sed 's/.*= \([0-9]*\) ops.*/\1/')
	printf '%-10s %14s %14s %8s\n' "$mode" "$a" "$b" \
		"$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", a / b}')"
done
