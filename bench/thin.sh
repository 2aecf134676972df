#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/thin.sh - host disk taken by a sparse image after unpacking a tree
# (not part of the test suite; the test is tests/mount/thin.sh).
#
#   bench/thin.sh [-b BUILD_DIR] [-s SIZE] [-d NDIRS] [-f NFILES] [TREE]
#
# Makes a SIZE (default 1T) sparse image under $TMPDIR (default /var/tmp),
# mounts it, unpacks TREE into it (tar c | tar x; default: a tree written
# by tests/mount/mktree.c with NDIRS directories (1493) and NFILES files
# (8100): about 121 MB of small files, du 141 MiB), unmounts, and prints
# the image's host bytes (du --block-size=1, i.e. st_blocks * 512) after
# mkfs, after the mount and after the unpack, with the tree's own du, the
# journal, the groups in use and the time the unpack took. Needs root.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${MAPFS_BUILD:-$ROOT/build}
SIZE=1T NDIRS=1493 NFILES=8100
while getopts b:s:d:f: o; do
	case $o in
	b) BUILD=$OPTARG ;;
	s) SIZE=$OPTARG ;;
	d) NDIRS=$OPTARG ;;
	f) NFILES=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
TREE=${1:-}

W=$(mktemp -d "${TMPDIR:-/var/tmp}/mapfs-thin.XXXXXX") || exit 1
pid=
cleanup() {
	mountpoint -q "$W/mnt" && { fusermount3 -u "$W/mnt" || umount -l "$W/mnt"; }
	[ -n "$pid" ] && wait "$pid" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/mnt"
if [ -z "$TREE" ]; then
	gcc -O2 -o "$W/mktree" "$ROOT/tests/mount/mktree.c" || exit 1
	mkdir -p "$W/tree"
	"$W/mktree" "$W/tree/node_modules" "$NDIRS" "$NFILES" 42 >/dev/null ||
		exit 1
	TREE=$W/tree
fi
used() { du --block-size=1 "$W/img" | cut -f1; }
"$BUILD/mkfs/mkfs.mapfs" -q -s "$SIZE" "$W/img" || exit 1
mkfs_b=$(used)
"$BUILD/fs/fuse/mapfs" "$W/img" "$W/mnt" -f 2>"$W/log" &
pid=$!
for _ in $(seq 200); do mountpoint -q "$W/mnt" && break; sleep 0.05; done
mountpoint -q "$W/mnt" || { cat "$W/log"; exit 1; }
mount_b=$(used)
t0=$(date +%s.%N)
tar -C "$TREE" -cf - . | tar -C "$W/mnt" -xf - || exit 1
sync -f "$W/mnt"
t1=$(date +%s.%N)
fusermount3 -u "$W/mnt"
wait "$pid"
pid=
after=$(used)
tree_du=$(du -s --block-size=1 "$TREE" | cut -f1)
"$BUILD/dump/dumpfs.mapfs" "$W/img" > "$W/dump" 2>/dev/null
jbytes=$(awk '/^  Journal:/ { j = 1 } j && $1 == "Blocks" { print $2 * 4096; exit }' "$W/dump")
groups=$(awk '$4 == "initialized"' "$W/dump" | wc -l)
echo "image $SIZE tree_du $tree_du journal $jbytes groups_in_use $groups"
echo "host bytes: mkfs $mkfs_b mounted $mount_b after_unpack $after"
echo "after/tree_du $(echo "scale=3; $after / $tree_du" | bc)" \
     "(after-journal)/tree_du $(echo "scale=3; ($after - $jbytes) / $tree_du" | bc)" \
     "unpack_s $(echo "$t1 - $t0" | bc)"
