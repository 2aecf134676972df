#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/smallfiles.sh - small-file workload, as a `pip install` or the
# unpacking of a source tree (not part of the test suite).
#
#   bench/smallfiles.sh [-r N] [-b BUILD_DIR] [-s IMAGE_SIZE]
#
# Builds once, in the work dir, a tarball of /usr/include and the Python
# standard library (/usr/lib/python3.N without __pycache__ and
# site/dist-packages): about 10,000 small files. Then, on each target,
# freshly formatted and mounted for every run:
#   unpack     tar -xf of the tarball, then sync -f (files/s)
#   compile    python3 -m compileall -q -j 1 of the Python part: reads
#              every .py, creates a __pycache__/*.pyc for each (files/s
#              over the .py files), then sync -f
#   read-cold  find -type f | xargs cat > /dev/null after sync and
#              drop_caches (files/s over every file)
#   rm         rm -rf of the tree, then sync -f (files/s)
# Targets: mapfs (mkfs.mapfs -s SIZE), fuse2fs over an ext4 image of the
# same size (mkfs.ext4 -F -q, fuse2fs -f), both images in the same work
# dir on the same host filesystem, and tmpfs (size=SIZE) as reference.
# Prints the median of -r runs (default 3) per workload and target, and
# mapfs's speed relative to fuse2fs and tmpfs (> 1: mapfs faster).
#
# Needs root (mount, drop_caches), fuse2fs, mkfs.ext4, python3. Work dir
# under $TMPDIR (default /var/tmp), removed at the end; every mount is
# undone on any exit, Ctrl-C included.

set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${MAPFS_BUILD:-$ROOT/build}
RUNS=3
SIZE=2G

while [ $# -gt 0 ]; do
	case $1 in
	-r) RUNS=${2:?}; shift ;;
	-b) BUILD=${2:?}; shift ;;
	-s) SIZE=${2:?}; shift ;;
	-h|--help) sed -n '4,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "smallfiles.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

MKFS=$BUILD/mkfs/mkfs.mapfs
FSCK=$BUILD/fsck/fsck.mapfs
MAPFS=$BUILD/fs/fuse/mapfs
PY=$(command -v /usr/bin/python3 || command -v python3)
[ "$(id -u)" = 0 ] || { echo "smallfiles.sh: needs root" >&2; exit 2; }
for p in "$MKFS" "$FSCK" "$MAPFS"; do
	[ -x "$p" ] || { echo "smallfiles.sh: no $p (build first, or -b)" >&2; exit 2; }
done
for c in fuse2fs mkfs.ext4 tar; do
	command -v "$c" > /dev/null || { echo "smallfiles.sh: $c missing" >&2; exit 2; }
done

W=$(mktemp -d "${TMPDIR:-/var/tmp}/mapfs-smallfiles.XXXXXX") || exit 1
M=$W/mnt
PID=

log() { echo "# $*" >&2; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if mountpoint -q "$M" 2>/dev/null; then
		fusermount3 -u "$M" 2>/dev/null || umount "$M" 2>/dev/null ||
			umount -l "$M"
	fi
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$W"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }

# --- the tarball --------------------------------------------------------
PYLIB=$(ls -d /usr/lib/python3.[0-9]* 2>/dev/null | sort -V | tail -1)
[ -n "$PYLIB" ] || { echo "smallfiles.sh: no /usr/lib/python3.N" >&2; exit 2; }
mkdir -p "$W/src"
tar -C / -cf "$W/src/tree.tar" --exclude=__pycache__ \
	--exclude=site-packages --exclude=dist-packages \
	usr/include "${PYLIB#/}" 2>/dev/null
NFILES=$(tar -tf "$W/src/tree.tar" | grep -vc '/$')
NPY=$(tar -tf "$W/src/tree.tar" | grep -c '\.py$')
log "tarball: $NFILES files ($NPY .py), $(du -h "$W/src/tree.tar" | cut -f1)"

wait_mount() {
	local i
	for ((i = 0; i < 200; i++)); do
		mountpoint -q "$M" && return 0
		[ -n "$PID" ] && ! kill -0 "$PID" 2>/dev/null && return 1
		sleep 0.05
	done
	return 1
}

setup() {	# setup TARGET
	rm -f "$W/img"
	mkdir -p "$M"
	case $1 in
	mapfs)
		"$MKFS" -q -s "$SIZE" "$W/img" || return 1
		"$MAPFS" "$W/img" "$M" -f > "$W/daemon.log" 2>&1 &
		PID=$!
		;;
	fuse2fs)
		truncate -s "$SIZE" "$W/img" && mkfs.ext4 -F -q "$W/img" ||
			return 1
		fuse2fs "$W/img" "$M" -f > "$W/daemon.log" 2>&1 &
		PID=$!
		;;
	tmpfs)
		mount -t tmpfs -o size="$SIZE" tmpfs "$M" || return 1
		PID=
		;;
	esac
	wait_mount || { cat "$W/daemon.log"; return 1; }
}

teardown() {	# teardown TARGET
	if [ "$1" = tmpfs ]; then
		umount "$M"
	else
		fusermount3 -u "$M"
		wait "$PID"
		PID=
	fi
	if [ "$1" = mapfs ] && ! "$FSCK" -n -f "$W/img" > "$W/fsck.out" 2>&1; then
		log "mapfs: fsck.mapfs -n -f NOT CLEAN"
		head -20 "$W/fsck.out" >&2
	fi
	rm -f "$W/img"
}

# rate COUNT START END: files per second
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

declare -A R	# R[target,workload] = "v1 v2 v3"

one_run() {	# one_run TARGET
	local t=$1 a b pyd
	setup "$t" || { log "$t: setup failed"; return 1; }
	a=$(now)
	tar -xf "$W/src/tree.tar" -C "$M" && sync -f "$M"
	b=$(now)
	R[$t,unpack]+="$(rate "$NFILES" "$a" "$b") "
	pyd=$M/${PYLIB#/}
	a=$(now)
	"$PY" -m compileall -q -j 1 "$pyd" > /dev/null 2>&1
	sync -f "$M"
	b=$(now)
	R[$t,compile]+="$(rate "$NPY" "$a" "$b") "
	sync
	echo 3 > /proc/sys/vm/drop_caches
	a=$(now)
	find "$M/usr" -type f -print0 | xargs -0 cat > /dev/null
	b=$(now)
	R[$t,read-cold]+="$(rate "$NFILES" "$a" "$b") "
	a=$(now)
	rm -rf "$M/usr" && sync -f "$M"
	b=$(now)
	R[$t,rm]+="$(rate "$NFILES" "$a" "$b") "
	teardown "$t"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 }
	END { if (NR) print v[int((NR + 1) / 2)]; else print "n/a" }'; }

TARGETS="mapfs fuse2fs tmpfs"
for ((r = 1; r <= RUNS; r++)); do
	for t in $TARGETS; do
		log "run $r/$RUNS: $t"
		one_run "$t" || exit 1
	done
done

printf '\nsmall files: %d files (%d .py) from /usr/include and %s; median of %d runs; files/s\n' \
	"$NFILES" "$NPY" "$PYLIB" "$RUNS"
printf '%-10s %9s %9s %9s %14s %12s\n' workload mapfs fuse2fs tmpfs \
	mapfs:fuse2fs mapfs:tmpfs
for w in unpack compile read-cold rm; do
	declare -A MED=()
	for t in $TARGETS; do
		MED[$t]=$(echo "${R[$t,$w]}" | median)
	done
	printf '%-10s %9s %9s %9s %14s %12s\n' "$w" "${MED[mapfs]}" \
		"${MED[fuse2fs]}" "${MED[tmpfs]}" \
		"$(awk -v a="${MED[mapfs]}" -v b="${MED[fuse2fs]}" 'BEGIN { printf "%.2f", a / b }')" \
		"$(awk -v a="${MED[mapfs]}" -v b="${MED[tmpfs]}" 'BEGIN { printf "%.2f", a / b }')"
done
