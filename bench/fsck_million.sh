#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/fsck_million.sh [BUILDDIR] [N]
#
# Benchmark, not a test: build an image holding N (default 1,000,000)
# empty files, 1000 per directory, through the core directly (no mount:
# bench/mkmillion.c, compiled here against BUILDDIR's core library), then
# time `fsck.mapfs -n -f` on it (best of three runs) and a `-y -f` run.
set -eu
BUILD=${1:-build}
N=${2:-1000000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

cc -O2 -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I"$SRC/include" \
	-o "$TMP/mkmillion" "$SRC/bench/mkmillion.c" \
	"$BUILD/fs/libmapfs-core.a" -lpthread
# 4 KiB of data per inode: N inodes need about N * 4 KiB (sparse file).
SIZE=$(( (N / 1000 + 2) * 4 ))M
"$BUILD/mkfs/mkfs.mapfs" -q -i 4096 -s "$SIZE" "$TMP/img"
t0=$(date +%s.%N)
"$TMP/mkmillion" "$TMP/img" "$N"
t1=$(date +%s.%N)
echo "populate: $N files in $(echo "$t1 - $t0" | bc) s"
best=
for i in 1 2 3; do
	t0=$(date +%s.%N)
	"$BUILD/fsck/fsck.mapfs" -n -f "$TMP/img" >"$TMP/out" || {
		cat "$TMP/out"; exit 1; }
	t1=$(date +%s.%N)
	t=$(echo "$t1 - $t0" | bc)
	if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then
		best=$t
	fi
done
tail -1 "$TMP/out"
echo "fsck -n -f: best of 3: $best s"
t0=$(date +%s.%N)
"$BUILD/fsck/fsck.mapfs" -y -f "$TMP/img" >"$TMP/out" || true
t1=$(date +%s.%N)
echo "fsck -y -f: $(echo "$t1 - $t0" | bc) s ($(tail -1 "$TMP/out"))"
