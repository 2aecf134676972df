#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/requests.sh - the FUSE requests each small-file workload costs,
# per file, counted by the daemon (mapfs -o stats) (not part of the test
# suite; needs root for drop_caches).
#
#   bench/requests.sh [-b BUILD_DIR] [-n FILES] [--only W,...] [-o OPTS]
#
# Each workload runs in mounts of its own on a fresh 4 GiB image in a work
# dir under $TMPDIR (default /var/tmp). A workload that needs a populated
# tree first (unlink, rm -rf) runs twice: the set-up alone, then set-up +
# workload, each in one counted mount, and the table shows the difference,
# so it counts the workload only (mount and unmount add a few requests to
# both). Cold workloads (stat-cold) populate in one mount and count a
# second, fresh one.
#
# Workloads: create (N files in one directory), unlink (them), stat-cold
# (stat of each in a new mount), cp-a (cp -a /usr/include, then sync -f),
# rm-rf (of that tree, in the mount that copied it), tar-x (of an archive
# of /usr/include), git-clone (git clone --no-local of this repository).
#
# Output: one block per workload: its wall time, the requests per file
# (files: N, or the entries of the tree) and, per request kind, how many
# per file and the daemon's microseconds per file. -o OPTS: extra mapfs
# options (e.g. -o writeback) for every mount.

set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
N=16000
ONLY=
OPTS=
while [ $# -gt 0 ]; do
	case $1 in
	-b) BUILD=$(cd "$2" && pwd); shift 2 ;;
	-n) N=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	-o) OPTS="$OPTS,$2"; shift 2 ;;
	-h|--help) sed -n '3,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "requests.sh: unknown argument $1" >&2; exit 16 ;;
	esac
done
MKFS=$BUILD/mkfs/mkfs.mapfs
MAPFS=$BUILD/fs/fuse/mapfs
for p in "$MKFS" "$MAPFS"; do
	[ -x "$p" ] || { echo "requests.sh: $p missing (build first)" >&2;
			 exit 8; }
done

W=$(mktemp -d "${TMPDIR:-/var/tmp}/mapfs-requests.XXXXXX")
IMG=$W/img
MNT=$W/mnt
LOG=$W/log
PID=
mkdir -p "$MNT"
META=$W/meta
gcc -O2 -Wall -o "$META" "$ROOT/bench/meta.c" || exit 8
cleanup() {
	if mountpoint -q "$MNT"; then
		umount "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

fresh() {
	rm -f "$IMG"
	"$MKFS" -q -s 4G "$IMG" || exit 8
}

# up [stats]: mount the image (with -o stats when asked).
up() {
	local o="nouring$OPTS"

	[ "${1:-}" = stats ] && o="$o,stats"
	"$MAPFS" "$IMG" "$MNT" -f -o "$o" > "$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 200); do
		mountpoint -q "$MNT" && return 0
		sleep 0.05
	done
	echo "requests.sh: mount failed:" >&2
	cat "$LOG" >&2
	exit 8
}

# down [FILE]: unmount, wait for the daemon, keep its stats lines in FILE.
down() {
	umount "$MNT" || exit 8
	wait "$PID"
	PID=
	[ -n "${1:-}" ] && grep 'stats: ' "$LOG" | sed 's/.*stats: //' > "$1"
	sync
	echo 3 > /proc/sys/vm/drop_caches
}

now() { date +%s.%N; }

# report NAME FILES SECONDS RUN [BASE]: the difference of two stats files.
report() {
	local name=$1 files=$2 secs=$3 run=$4 base=${5:-/dev/null}

	awk -v name="$name" -v files="$files" -v secs="$secs" '
	FNR == 1 { f++ }
	/^[A-Z_]+ / {
		n = $2; s = $3
		if (f == 1) { bn[$1] += n; bs[$1] += s }
		else { rn[$1] += n; rs[$1] += s; seen[$1] = 1 }
	}
	END {
		tot = 0; tots = 0
		for (k in seen) {
			d = rn[k] - bn[k]; ds = rs[k] - bs[k]
			if (d <= 0) continue
			cnt[k] = d; tim[k] = ds; tot += d; tots += ds
		}
		printf "%s: %d files, %.2f s, %.2f requests per file, " \
		       "%.1f us per file in the daemon\n", name, files, secs,
		       tot / files, tots * 1e6 / files
		for (k in cnt)
			printf "  %-14s %6.2f per file  %7.1f us per file\n",
			       k, cnt[k] / files, tim[k] * 1e6 / files
	}' "$base" "$run"
}

want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

# timed CMD...: run it, print its wall seconds.
timed() {
	local t0 t1
	t0=$(now)
	"$@" >/dev/null || { echo "requests.sh: $* failed" >&2; exit 1; }
	t1=$(now)
	echo "$t1 - $t0" | bc
}

entries() { find "$1" | wc -l; }

echo "# mapfs requests per file; options: nouring$OPTS,stats; $(uname -r)"

if want create || want unlink; then
	fresh; up stats; down "$W/base"
	fresh; up stats
	s=$(timed "$META" create "$MNT" "$N"); down "$W/create"
	want create && report create "$N" "$s" "$W/create" "$W/base"
	if want unlink; then
		fresh; up stats; "$META" create "$MNT" "$N" >/dev/null
		s=$(timed "$META" unlink "$MNT" "$N"); down "$W/unlink"
		report unlink "$N" "$s" "$W/unlink" "$W/create"
	fi
fi

if want stat-cold; then
	fresh; up; "$META" create "$MNT" "$N" >/dev/null; down
	up stats; down "$W/base"
	up stats; s=$(timed "$META" stat "$MNT" "$N"); down "$W/stat"
	report stat-cold "$N" "$s" "$W/stat" "$W/base"
fi

if want cp-a || want rm-rf; then
	files=$(entries /usr/include)
	fresh; up stats; down "$W/base"
	fresh; up stats
	s=$(timed sh -c "cp -a /usr/include '$MNT/tree' && sync -f '$MNT'")
	down "$W/cp"
	want cp-a && report cp-a "$files" "$s" "$W/cp" "$W/base"
	if want rm-rf; then
		fresh; up stats
		cp -a /usr/include "$MNT/tree" && sync -f "$MNT"
		s=$(timed rm -rf "$MNT/tree"); down "$W/rm"
		report rm-rf "$files" "$s" "$W/rm" "$W/cp"
	fi
fi

if want tar-x; then
	tar cf "$W/include.tar" -C /usr include
	files=$(tar tf "$W/include.tar" | wc -l)
	fresh; up stats; down "$W/base"
	fresh; up stats
	s=$(timed tar xf "$W/include.tar" -C "$MNT"); down "$W/tar"
	report tar-x "$files" "$s" "$W/tar" "$W/base"
fi

if want git-clone; then
	fresh; up stats; down "$W/base"
	fresh; up stats
	s=$(timed git clone -q --no-local "$ROOT" "$MNT/repo")
	files=$(entries "$MNT/repo")
	down "$W/git"
	report git-clone "$files" "$s" "$W/git" "$W/base"
fi
