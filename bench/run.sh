#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh - mapfs benchmark harness (not part of the test suite).
#
#   bench/run.sh [--quick] [--slow] [-r N] [-b BUILD_DIR]
#                [--targets mapfs,mapfs-devfuse,tmpfs,ext4,fuse2fs,passthrough]
#                [--only WORKLOAD,...] [--max-time SECS]
#
# Formats and mounts each target, runs the same workloads on each, and
# prints one table: workload | unit | one column per target | mapfs
# relative to each other target. Needs root (mount, losetup, drop_caches)
# and fio, fuse2fs, mkfs.ext4, gcc, libfuse3-dev.
#
# Targets
#   mapfs        mkfs.mapfs -s 4G on an image in the work dir, mapfs -f,
#                with the kernel's FUSE over io_uring switched on for it
#                (/sys/module/fuse/parameters/enable_uring = Y while it
#                mounts; the old value is restored at exit) where the
#                kernel has the switch: the daemon then serves requests
#                on the CPU that made them (fs/fuse/uring.c)
#   mapfs-devfuse  the same with the switch off: requests through
#                /dev/fuse, as on kernels without FUSE over io_uring
#   tmpfs        mount -t tmpfs -o size=4G
#   ext4         4G sparse file, mkfs.ext4 -F, losetup, mount (kernel ext4)
#   fuse2fs      4G ext4 image mounted with fuse2fs -f (as root, writable)
#   passthrough  libfuse's passthrough_ll example (built here from
#                /usr/share/doc/libfuse3-dev/examples) over a 4G tmpfs
#
# Workloads (names for --only)
#   seq        sequential write + fsync (dd bs=1M conv=fsync), then read it
#              back cold (after sync; echo 3 > drop_caches, and for mapfs
#              a remount: see cold()) and warm
#   randio     fio 4 KiB random read and write, psync, 1 job, buffered and
#              O_DIRECT ("n/a" where the target refuses O_DIRECT)
#   append     4 KiB appends (O_APPEND) then one fsync (meta append)
#   meta       create / stat cold / stat warm / readdir / unlink of N files
#              in one directory (meta); readdir runs twice: the first pass
#              after the stats, then again (readdir-again: where a target
#              keeps directory listings in the kernel's cache, as mapfs
#              does, the second pass is served from it)
#   lookup     distinct cold lookups (hits) and misses in a 100,000-entry
#              directory (20,000 with --quick; its creation rate is reported
#              too) and in 100 directories of 100 entries (meta)
#   tree       cp -a /usr/include, then find (cold, then warm), du -s, tar c,
#              rm -rf, then tar x of an archive of /usr/include (warm)
#   parallel   file creates by 1 process, and by 2 processes each in its
#              own directory (meta pcreate); scaling = 2 procs / 1 proc
#   mkfs       mkfs time and real disk use (du) of 1 TiB and 15 TiB sparse
#              images: mkfs.mapfs, and mkfs.ext4 if ext4 is a target
#   mount      (--slow only) mount and unmount time of a full 10 GiB mapfs
#              image (filled with large files first; needs ~10 GiB)
#   fsck       fsck time of a million-file image: runs bench/fsck_million.sh
#              BUILD once if present (skipped otherwise); it takes the best
#              of 3 fsck -n -f runs itself
#
# Every value is the median of -r runs (default 3); rates are per second,
# higher is better; rows in "s" or "MiB used" are lower-is-better. The ratio
# columns are mapfs's speed relative to the other target: > 1 means mapfs
# is faster (or smaller), for every row whatever its unit.
#
# Everything runs in one work dir (under $TMPDIR, default /var/tmp) that is
# removed at the end; all mounts are unmounted, daemons stopped and loop
# devices detached on any exit, including Ctrl-C, a failure or --max-time.
#
# Environment: MAPFS_BUILD (build dir, default ROOT/build; -b overrides);
# MAPFS_BENCH_OPTS: extra options for every mapfs daemon started (e.g.
# "-o writeback" to measure the kernel's writeback cache).

set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ARGS_ORIG="$*"
BUILD=${MAPFS_BUILD:-$ROOT/build}
RUNS=3
QUICK=0
SLOW=0
TARGETS=mapfs,mapfs-devfuse,tmpfs,ext4,fuse2fs,passthrough
ONLY=
MAX_TIME=
ALL_WORKLOADS=seq,randio,append,meta,lookup,tree,parallel,mkfs,mount,fsck
START=$(date +%s.%N)

usage() {
	sed -n '4,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--slow) SLOW=1 ;;
	-r) RUNS=${2:?}; shift ;;
	-r*) RUNS=${1#-r} ;;
	-b) BUILD=${2:?}; shift ;;
	--targets) TARGETS=${2:?}; shift ;;
	--targets=*) TARGETS=${1#*=} ;;
	--only) ONLY=${2:?}; shift ;;
	--only=*) ONLY=${1#*=} ;;
	--max-time) MAX_TIME=${2:?}; shift ;;
	-h|--help) usage 0 ;;
	*) echo "run.sh: unknown argument $1" >&2; usage ;;
	esac
	shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: -r needs a positive number" >&2; exit 2; }

# Sizes: full / --quick.
if [ "$QUICK" = 1 ]; then
	SEQ_MB=256 FIO_MB=128 FIO_T=3 APPEND_N=5000 META_N=5000
	BIG_N=20000 LOOK_M=5000 PAR_N=5000
	: "${MAX_TIME:=1500}"
else
	SEQ_MB=1024 FIO_MB=512 FIO_T=5 APPEND_N=25600 META_N=20000
	BIG_N=100000 LOOK_M=2000 PAR_N=10000
	: "${MAX_TIME:=2400}"
fi
SMALL_D=100 SMALL_N=100	# 100 directories of 100 entries
T_CMD=300		# seconds any single measured command may take
T_BIG=600		# ... the 100,000-file setup and fills

IFS=, read -r -a TLIST <<< "$TARGETS"
for t in "${TLIST[@]}"; do
	case $t in mapfs|mapfs-devfuse|tmpfs|ext4|fuse2fs|passthrough) ;;
	*) echo "run.sh: unknown target $t" >&2; exit 2 ;;
	esac
done
[ -n "$ONLY" ] || ONLY=$ALL_WORKLOADS
want() { [[ ",$ONLY," == *",$1,"* ]]; }
has_target() { [[ ",$TARGETS," == *",$1,"* ]]; }
for w in ${ONLY//,/ }; do
	[[ ",$ALL_WORKLOADS," == *",$w,"* ]] || { echo "run.sh: unknown workload $w" >&2; exit 2; }
done

[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root (mount, losetup, drop_caches)" >&2; exit 2; }

# ---------------------------------------------------------------- cleanup

W=
MOUNTS=()		# mount points, in mount order
declare -A DPID		# mount point -> daemon pid
LOOPS=()
WATCHDOG=

is_mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; }
pid_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Unmount MNT (and stop its daemon, if any): polite first, lazy last.
unmount_one() {
	local m=$1 pid i
	if is_mounted "$m"; then
		for ((i = 0; i < 20; i++)); do
			umount "$m" 2>/dev/null && break
			sleep 0.25
		done
		is_mounted "$m" && { umount -l "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null; }
	fi
	pid=${DPID[$m]:-}
	if [ -n "$pid" ]; then
		for ((i = 0; i < 600; i++)); do	# up to 60 s to write back
			pid_alive "$pid" || break
			sleep 0.1
		done
		if pid_alive "$pid"; then
			kill -TERM "$pid" 2>/dev/null; sleep 1
			pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
		unset "DPID[$m]"
	fi
}

cleanup() {
	local rc=$? i l
	trap - EXIT INT TERM HUP
	set +e
	[ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null && wait "$WATCHDOG" 2>/dev/null
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		unmount_one "${MOUNTS[i]}"
	done
	for l in "${LOOPS[@]}"; do
		losetup -d "$l" 2>/dev/null
	done
	[ -n "$URING_OLD" ] && echo "$URING_OLD" > "$URING_PARAM" 2>/dev/null
	if [ -n "$W" ] && [ -d "$W" ]; then
		# Never descend into something still mounted.
		if grep -q " $W/" /proc/self/mounts; then
			echo "run.sh: something is still mounted under $W; left in place" >&2
		else
			rm -rf --one-file-system "$W"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT
trap 'echo "run.sh: terminated (--max-time $MAX_TIME s?)" >&2; exit 143' TERM
trap 'exit 129' HUP

URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_OLD=
[ -w "$URING_PARAM" ] && URING_OLD=$(cat "$URING_PARAM")
W=$(mktemp -d "${TMPDIR:-/var/tmp}/mapfs-bench.XXXXXX") || exit 1
mkdir -p "$W/mnt" "$W/bin"

# Whole-run bound: TERM ourselves after MAX_TIME seconds.
# (Its output goes to /dev/null so that it never holds a pipe open, and it
# takes its sleep with it when cleanup kills it.)
(
	trap 'kill "$sp" 2> /dev/null; exit 0' TERM
	sleep "$MAX_TIME" & sp=$!
	wait "$sp" && kill -TERM $$
) > /dev/null 2>&1 &
WATCHDOG=$!

# ---------------------------------------------------------------- helpers

log() { echo "# $*"; }
since() { awk -v s="$START" -v n="$(now)" 'BEGIN { printf "t+%.0fs", n - s }'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# timed SECS CMD...: run CMD bounded by SECS; print the elapsed seconds;
# fail (printing nothing) if CMD fails or times out.
timed() {
	local lim=$1 t0 t1
	shift
	t0=$(now)
	timeout -k 10 "$lim" "$@" > "$W/cmd.out" 2> "$W/cmd.err" || {
		log "  failed: $* ($(head -c 300 "$W/cmd.err" | tr '\n' ' '))" >&2
		return 1
	}
	t1=$(now)
	elapsed "$t0" "$t1"
}

# bounded SECS CMD...: run CMD bounded by SECS, stdout passed through.
bounded() {
	local lim=$1
	shift
	timeout -k 10 "$lim" "$@" 2> "$W/cmd.err" || {
		log "  failed: $* ($(head -c 300 "$W/cmd.err" | tr '\n' ' '))" >&2
		return 1
	}
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { if (t <= 0) t = 1e-9; printf "%.6g", n / t }'; }

# Results: ROWS in print order, UNIT[row], LOWER[row]=1 if lower is better,
# VAL[row|target] (median) and SAMPLES[row|target].
ROWS=()
declare -A UNIT LOWER VAL SAMPLES NOTE
defrow() {	# defrow ROW UNIT [lower]
	local r=$1
	[ -n "${UNIT[$r]:-}" ] || ROWS+=("$r")
	UNIT[$r]=$2
	LOWER[$r]=${3:-0}
}
sample() {	# sample ROW TARGET VALUE|n/a
	local k="$1|$2"
	SAMPLES[$k]="${SAMPLES[$k]:-} $3"
	log "  $2: $1: $3 ${UNIT[$1]}"
}
finish_row() {	# finish_row ROW TARGET: the median of the numeric samples
	local k="$1|$2" s m
	s=${SAMPLES[$k]:-}
	m=$(tr ' ' '\n' <<< "$s" | grep -E '^[0-9.eE+-]+$' | median) || m=n/a
	VAL[$k]=$m
}
# measure ROW TARGET CMD...: run CMD (which prints one number and bounds
# its own time) RUNS times
measure() {
	local row=$1 tgt=$2 i v
	shift 2
	for ((i = 1; i <= RUNS; i++)); do
		v=$("$@") && [ -n "$v" ] || v=n/a
		sample "$row" "$tgt" "$v"
	done
	finish_row "$row" "$tgt"
}

# ---------------------------------------------------------------- build

MKFS=$BUILD/mkfs/mkfs.mapfs
MAPFS=$BUILD/fs/fuse/mapfs
FSCK=$BUILD/fsck/fsck.mapfs
if [ -f "$BUILD/build.ninja" ]; then
	log "building mapfs in $BUILD"
	ninja -C "$BUILD" > "$W/ninja.log" 2>&1 || { tail -20 "$W/ninja.log"; echo "run.sh: build failed" >&2; exit 1; }
fi
for p in "$MKFS" "$MAPFS" "$FSCK"; do
	[ -x "$p" ] || { echo "run.sh: $p missing: build first (meson setup $BUILD && ninja -C $BUILD) or pass -b" >&2; exit 1; }
done
CFLAGS="-O2 -Wall -Wextra"
gcc $CFLAGS -o "$W/bin/meta" "$ROOT/bench/meta.c" || exit 1
META=$W/bin/meta
PLL=
if has_target passthrough; then
	src=/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c
	# shellcheck disable=SC2046,SC2086
	if [ -f "$src" ] && gcc $CFLAGS -Wno-unused-parameter -Wno-sign-compare -o "$W/bin/passthrough_ll" "$src" \
		$(pkg-config --cflags --libs fuse3) > "$W/pll.log" 2>&1; then
		PLL=$W/bin/passthrough_ll
	else
		log "passthrough_ll does not build ($src): target dropped"; cat "$W/pll.log" 2>/dev/null | head -5
	fi
fi
for c in fio mkfs.ext4 losetup fusermount3; do
	command -v "$c" > /dev/null || { echo "run.sh: $c is missing" >&2; exit 1; }
done
if has_target fuse2fs && ! command -v fuse2fs > /dev/null; then
	log "fuse2fs missing (apt-get install fuse2fs): target dropped"
fi

# ---------------------------------------------------------------- targets

wait_mount() {	# wait_mount MNT PID: up to 20 s
	local i
	for ((i = 0; i < 200; i++)); do
		is_mounted "$1" && return 0
		[ -n "${2:-}" ] && ! pid_alive "$2" && return 1
		sleep 0.1
	done
	return 1
}

# mapfs_start TARGET: start the daemon on the target's image.
mapfs_start() {
	local t=$1 m=$W/mnt/$1 pid
	# The switch is global and read when the mount's INIT is answered:
	# hold it (and the lock the tests take turns on, see
	# tests/mount/with_transport.sh) until then only.
	if [ -n "$URING_OLD" ]; then
		exec 8>/tmp/mapfs-transport.lock
		flock 8
		[ "$t" = mapfs ] && echo Y > "$URING_PARAM" ||
			echo N > "$URING_PARAM"
	fi
	# shellcheck disable=SC2086
	"$MAPFS" "$W/$t.img" "$m" -f ${MAPFS_BENCH_OPTS:-} >> "$W/$t.log" 2>&1 &
	pid=$!
	MOUNTS+=("$m")
	DPID[$m]=$pid
	if ! wait_mount "$m" "$pid"; then
		[ -n "$URING_OLD" ] && { echo "$URING_OLD" > "$URING_PARAM"; exec 8>&-; }
		log "$t: mount failed:"; cat "$W/$t.log"; return 1
	fi
	if [ -n "$URING_OLD" ]; then
		stat "$m" > /dev/null	# returns once INIT is answered
		echo "$URING_OLD" > "$URING_PARAM"
		exec 8>&-
	fi
}

# cold TARGET: empty the caches before a "cold" measurement. For mapfs
# that takes a remount too: image pages the daemon has mapped (what it
# wrote or read) stay in memory through drop_caches, so a cold read of a
# file just written would otherwise read the image from memory.
cold() {
	if [[ $1 == mapfs* ]]; then
		unmount_one "$W/mnt/$1"
		mapfs_start "$1" || return 1
	fi
	drop_caches
}

# setup TARGET: mount it at $W/mnt/TARGET; returns 1 if impossible.
setup() {
	local t=$1 m=$W/mnt/$1 img=$W/$1.img pid loop
	mkdir -p "$m"
	case $t in
	mapfs|mapfs-devfuse)
		"$MKFS" -q -s 4G "$img" || return 1
		: > "$W/$t.log"
		mapfs_start "$t"
		return
		;;
	tmpfs)
		mount -t tmpfs -o size=4G tmpfs "$m" || return 1
		MOUNTS+=("$m")
		return 0
		;;
	ext4)
		truncate -s 4G "$img" && mkfs.ext4 -F -q "$img" || return 1
		loop=$(losetup -f --show "$img") || return 1
		LOOPS+=("$loop")
		mount -t ext4 "$loop" "$m" || return 1
		MOUNTS+=("$m")
		return 0
		;;
	fuse2fs)
		command -v fuse2fs > /dev/null || return 1
		truncate -s 4G "$img" && mkfs.ext4 -F -q "$img" || return 1
		fuse2fs "$img" "$m" -f > "$W/$t.log" 2>&1 &
		pid=$!
		;;
	passthrough)
		[ -n "$PLL" ] || return 1
		mkdir -p "$W/ptsrc"
		mount -t tmpfs -o size=4G tmpfs "$W/ptsrc" || return 1
		MOUNTS+=("$W/ptsrc")
		# passthrough_ll keeps an O_PATH fd open for every inode it
		# knows: raise its open-file limit past the workloads' counts.
		( ulimit -n 1048576 2> /dev/null || ulimit -n "$(ulimit -Hn)"
		  exec "$PLL" -f -o source="$W/ptsrc" "$m" ) > "$W/$t.log" 2>&1 &
		pid=$!
		;;
	esac
	MOUNTS+=("$m")
	DPID[$m]=$pid
	wait_mount "$m" "$pid" || { log "$t: mount failed:"; cat "$W/$t.log"; return 1; }
}

teardown() {
	local t=$1 m=$W/mnt/$1 i l
	unmount_one "$m"
	if [ "$t" = passthrough ]; then unmount_one "$W/ptsrc"; fi
	if [ "$t" = ext4 ]; then
		for i in "${!LOOPS[@]}"; do
			l=${LOOPS[i]}
			if losetup "$l" 2>/dev/null | grep -q "$W/ext4.img"; then
				losetup -d "$l"; unset "LOOPS[$i]"
			fi
		done
	fi
	if [[ $t == mapfs* ]] && [ -f "$W/$t.img" ]; then
		log "$t: daemon: $(grep -o 'requests: .*' "$W/$t.log" | head -1)"
		if "$FSCK" -n -f "$W/$t.img" > "$W/fsck.out" 2>&1; then
			log "$t: fsck.mapfs -n -f after the run: clean"
		else
			log "$t: fsck.mapfs -n -f after the run: NOT CLEAN"; head -20 "$W/fsck.out"
		fi
	fi
	rm -f "$W/$t.img"
}

# ---------------------------------------------------------------- workloads

wl_seq() {
	local t=$1 m=$W/mnt/$1 f i s r1=seq-write r2=seq-read-cold r3=seq-read-warm
	f=$m/seq.dat
	defrow "$r1" MiB/s; defrow "$r2" MiB/s; defrow "$r3" MiB/s
	for ((i = 1; i <= RUNS; i++)); do
		rm -f "$f"; drop_caches
		s=$(timed "$T_CMD" dd if=/dev/zero of="$f" bs=1M count="$SEQ_MB" conv=fsync status=none) &&
			sample "$r1" "$t" "$(rate "$SEQ_MB" "$s")" || sample "$r1" "$t" n/a
	done
	for ((i = 1; i <= RUNS; i++)); do
		cold "$t"
		s=$(timed "$T_CMD" dd if="$f" of=/dev/null bs=1M status=none) &&
			sample "$r2" "$t" "$(rate "$SEQ_MB" "$s")" || sample "$r2" "$t" n/a
	done
	for ((i = 1; i <= RUNS; i++)); do
		s=$(timed "$T_CMD" dd if="$f" of=/dev/null bs=1M status=none) &&
			sample "$r3" "$t" "$(rate "$SEQ_MB" "$s")" || sample "$r3" "$t" n/a
	done
	rm -f "$f"
	finish_row "$r1" "$t"; finish_row "$r2" "$t"; finish_row "$r3" "$t"
}

fio_iops() {	# fio_iops FILE RW DIRECT: print the IOPS of one run
	local f=$1 rw=$2 direct=$3 out field
	out=$(bounded $((FIO_T + 120)) fio --name=b --filename="$f" --size="${FIO_MB}M" \
		--bs=4k --ioengine=psync --rw="$rw" --direct="$direct" \
		--runtime="$FIO_T" --time_based --minimal) || return 1
	[ "$rw" = randread ] && field=8 || field=49
	awk -F';' -v f="$field" 'NR == 1 && $f > 0 { print $f; ok = 1 } END { exit !ok }' <<< "$out"
}

wl_randio() {
	local t=$1 f=$W/mnt/$1/fio.dat rw d row
	for d in 0 1; do
		for rw in randread randwrite; do
			row="4k-${rw#rand}-$([ $d = 1 ] && echo direct || echo buffered)"
			defrow "$row" IOPS
		done
	done
	# Lay the file out once (fio would otherwise do it in the first job).
	if ! bounded "$T_CMD" dd if=/dev/urandom of="$f" bs=1M count="$FIO_MB" conv=fsync status=none; then
		for row in 4k-read-buffered 4k-write-buffered 4k-read-direct 4k-write-direct; do
			sample "$row" "$t" n/a; finish_row "$row" "$t"
		done
		return
	fi
	for d in 0 1; do
		for rw in randread randwrite; do
			row="4k-${rw#rand}-$([ $d = 1 ] && echo direct || echo buffered)"
			if [ $d = 1 ] && ! bounded 30 dd if="$f" of=/dev/null bs=4k count=1 iflag=direct status=none; then
				NOTE[$t]="${NOTE[$t]:-}O_DIRECT refused ($(head -c 80 "$W/cmd.err" | tr '\n' ' ')); "
				sample "$row" "$t" n/a; finish_row "$row" "$t"
				continue
			fi
			measure "$row" "$t" fio_iops "$f" "$rw" "$d"
		done
	done
	rm -f "$f"
}

wl_append() {
	local t=$1 f=$W/mnt/$1/append.dat row=4k-append+fsync
	defrow "$row" ops/s
	measure "$row" "$t" bounded "$T_CMD" sh -c 'rm -f "$2"; "$1" append "$2" "$3"; r=$?; rm -f "$2"; exit $r' \
		sh "$META" "$f" "$APPEND_N"
}

wl_meta() {
	local t=$1 d=$W/mnt/$1/meta i v k=$((META_N / 1000))k
	local rows=("create-$k" "stat-cold-$k" "stat-warm-$k" "readdir-$k" "readdir-again-$k" "unlink-$k")
	[ "$t" = passthrough ] && [ "$META_N" -gt 15000 ] &&
		NOTE[$t]="${NOTE[$t]:-}meta with $META_N files exceeds passthrough_ll's open-file limit (20000 fds, one per known inode); "
	for i in "${rows[@]}"; do defrow "$i" ops/s; done
	for ((i = 1; i <= RUNS; i++)); do
		rm -rf "$d"; mkdir "$d"; drop_caches
		v=$(bounded "$T_CMD" "$META" create "$d" "$META_N") || v=n/a
		sample "${rows[0]}" "$t" "$v"
		cold "$t"
		v=$(bounded "$T_CMD" "$META" stat "$d" "$META_N") || v=n/a
		sample "${rows[1]}" "$t" "$v"
		v=$(bounded "$T_CMD" "$META" stat "$d" "$META_N") || v=n/a
		sample "${rows[2]}" "$t" "$v"
		v=$(bounded "$T_CMD" "$META" readdir "$d" "$META_N") || v=n/a
		sample "${rows[3]}" "$t" "$v"
		v=$(bounded "$T_CMD" "$META" readdir "$d" "$META_N") || v=n/a
		sample "${rows[4]}" "$t" "$v"
		v=$(bounded "$T_CMD" "$META" unlink "$d" "$META_N") || v=n/a
		sample "${rows[5]}" "$t" "$v"
	done
	rm -rf "$d"
	for i in "${rows[@]}"; do finish_row "$i" "$t"; done
}

wl_lookup() {
	local t=$1 b=$W/mnt/$1/big s=$W/mnt/$1/small i v ok=1 bk=$((BIG_N / 1000))k
	local rows=("create-${bk}-in-1-dir" "lookup-hit-${bk}-dir" "lookup-miss-${bk}-dir" \
		"lookup-hit-100-dir" "lookup-miss-100-dir")
	defrow "${rows[0]}" ops/s
	for i in "${rows[@]:1}"; do defrow "$i" ops/s; done
	mkdir -p "$b" "$s"
	if [ "$t" = passthrough ]; then
		# passthrough_ll holds one fd per inode the kernel knows and the
		# open-file limit here is 20000 (no CAP_SYS_RESOURCE to raise
		# it): create in chunks, dropping caches (so the kernel forgets
		# the inodes) between them; the rate excludes the drops.
		local c tsum=0 chunk=5000 r
		for ((c = 0; c < BIG_N; c += chunk)); do
			r=$(timeout -k 10 "$T_BIG" "$META" create "$b" "$chunk" "$c" 2> "$W/cmd.err") || { ok=0; break; }
			tsum=$(awk -v a="$tsum" -v n="$chunk" -v r="$r" 'BEGIN { print a + n / r }')
			drop_caches
		done
		[ "$ok" = 1 ] && v=$(rate "$BIG_N" "$tsum") || { v=n/a; log "  $(head -c 200 "$W/cmd.err")"; }
		NOTE[$t]="${NOTE[$t]:-}create-${bk}-in-1-dir made in chunks of 5000 with drop_caches between (fd limit); "
	else
		v=$(timeout -k 10 "$T_BIG" "$META" create "$b" "$BIG_N" 2> "$W/cmd.err") || { v=n/a; ok=0; log "  $(head -c 200 "$W/cmd.err")"; }
	fi
	sample "${rows[0]}" "$t" "$v"; finish_row "${rows[0]}" "$t"
	for ((i = 0; i < SMALL_D; i++)); do
		mkdir -p "$s/$(printf d%03d "$i")"
		"$META" create "$s/$(printf d%03d "$i")" "$SMALL_N" > /dev/null || ok=0
	done
	if [ "$ok" = 0 ]; then
		for i in "${rows[@]:1}"; do sample "$i" "$t" n/a; finish_row "$i" "$t"; done
	else
		for ((i = 1; i <= RUNS; i++)); do
			cold "$t"
			v=$(bounded "$T_CMD" "$META" lookup "$b" "$BIG_N" "$LOOK_M") || v=n/a
			sample "${rows[1]}" "$t" "$v"
			v=$(bounded "$T_CMD" "$META" miss "$b" "$BIG_N" "$LOOK_M") || v=n/a
			sample "${rows[2]}" "$t" "$v"
			cold "$t"
			v=$(bounded "$T_CMD" "$META" lookup "$s" "$SMALL_N" "$LOOK_M" "$SMALL_D") || v=n/a
			sample "${rows[3]}" "$t" "$v"
			v=$(bounded "$T_CMD" "$META" miss "$s" "$SMALL_N" "$LOOK_M" "$SMALL_D") || v=n/a
			sample "${rows[4]}" "$t" "$v"
		done
		for i in "${rows[@]:1}"; do finish_row "$i" "$t"; done
	fi
	bounded "$T_BIG" rm -rf "$b" "$s"
}

wl_tree() {
	local t=$1 m=$W/mnt/$1 i s
	local rows=(cp-a-usr-include find-cold find-warm du-s tar-c rm-rf tar-x)
	for i in "${rows[@]}"; do defrow "$i" s lower; done
	[ -f "$W/include.tar" ] || tar cf "$W/include.tar" -C /usr include
	for ((i = 1; i <= RUNS; i++)); do
		rm -rf "$m/tree"
		# The source is kept warm so that host disk reads stay out of it.
		tar cf - /usr/include 2>/dev/null | cat > /dev/null
		s=$(timed "$T_CMD" cp -a /usr/include "$m/tree") || s=n/a
		sample cp-a-usr-include "$t" "$s"
		cold "$t"
		s=$(timed "$T_CMD" find "$m/tree") || s=n/a
		sample find-cold "$t" "$s"
		s=$(timed "$T_CMD" find "$m/tree") || s=n/a
		sample find-warm "$t" "$s"
		s=$(timed "$T_CMD" du -s "$m/tree") || s=n/a
		sample du-s "$t" "$s"
		s=$(timed "$T_CMD" sh -c 'tar cf - -C "$1" tree | cat > /dev/null' sh "$m") || s=n/a
		sample tar-c "$t" "$s"
		s=$(timed "$T_CMD" rm -rf "$m/tree") || s=n/a
		sample rm-rf "$t" "$s"
		# Unpacking a small-file tree (a source tarball, an image
		# layer): from a warm archive on the host.
		cat "$W/include.tar" > /dev/null
		s=$(timed "$T_CMD" tar xf "$W/include.tar" -C "$m") || s=n/a
		sample tar-x "$t" "$s"
		rm -rf "$m/include"
	done
	rm -rf "$m/tree" "$m/include"
	for i in "${rows[@]}"; do finish_row "$i" "$t"; done
}

wl_parallel() {
	local t=$1 d=$W/mnt/$1/par i v v1 v2 r1=create-1-proc r2=create-2-procs r3=2-proc-scaling
	defrow "$r1" ops/s; defrow "$r2" ops/s; defrow "$r3" x
	[ "$t" = passthrough ] && [ $((2 * PAR_N)) -gt 15000 ] &&
		NOTE[$t]="${NOTE[$t]:-}create-2-procs makes $((2 * PAR_N)) files, past passthrough_ll's open-file limit; "
	for ((i = 1; i <= RUNS; i++)); do
		rm -rf "$d"; mkdir "$d"
		v1=$(bounded "$T_CMD" "$META" pcreate "$d" "$PAR_N" 1) || v1=n/a
		sample "$r1" "$t" "$v1"
		rm -rf "$d"; mkdir "$d"
		v2=$(bounded "$T_CMD" "$META" pcreate "$d" "$PAR_N" 2) || v2=n/a
		sample "$r2" "$t" "$v2"
		if [ "$v1" != n/a ] && [ "$v2" != n/a ]; then
			v=$(awk -v a="$v2" -v b="$v1" 'BEGIN { printf "%.3f", a / b }')
		else
			v=n/a
		fi
		sample "$r3" "$t" "$v"
	done
	rm -rf "$d"
	finish_row "$r1" "$t"; finish_row "$r2" "$t"; finish_row "$r3" "$t"
}

# Not per target: mapfs, and mkfs.ext4 under the ext4 column.
wl_mkfs() {
	local sz img=$W/big.img tool i s u
	for sz in 1T 15T; do
		defrow "mkfs-$sz" s lower; defrow "mkfs-$sz-disk-use" MiB lower
		for tool in mapfs ext4; do
			if [ $tool = mapfs ]; then
				has_target mapfs || continue
			else
				has_target ext4 || continue
			fi
			for ((i = 1; i <= RUNS; i++)); do
				rm -f "$img"
				if [ $tool = mapfs ]; then
					s=$(timed "$T_CMD" "$MKFS" -q -s "$sz" "$img") || s=n/a
				else
					s=$(timed "$T_CMD" sh -c 'truncate -s "$1" "$2" && mkfs.ext4 -F -q "$2"' sh "$sz" "$img") || s=n/a
				fi
				sample "mkfs-$sz" "$tool" "$s"
				sync
				u=$(du -k "$img" 2>/dev/null | awk '{ printf "%.3f", $1 / 1024 }')
				sample "mkfs-$sz-disk-use" "$tool" "${u:-n/a}"
			done
			rm -f "$img"
			finish_row "mkfs-$sz" "$tool"; finish_row "mkfs-$sz-disk-use" "$tool"
		done
	done
}

wl_mount() {
	local img=$W/full.img m=$W/mnt/full pid i s k r1=mount-full-10G r2=umount-full-10G
	defrow "$r1" s lower; defrow "$r2" s lower
	has_target mapfs || return 0
	if [ "$SLOW" != 1 ]; then
		log "mount: skipped (needs --slow: writes a 10 GiB image)"
		return 0
	fi
	"$MKFS" -q -s 10G "$img" || return 0
	mkdir -p "$m"
	"$MAPFS" "$img" "$m" -f > "$W/full.log" 2>&1 & pid=$!
	MOUNTS+=("$m"); DPID[$m]=$pid
	wait_mount "$m" "$pid" || { log "full: mount failed"; return 0; }
	# Fill with 2 GiB files until ENOSPC.
	for ((k = 0; k < 8; k++)); do
		timeout -k 10 "$T_BIG" dd if=/dev/zero of="$m/fill$k" bs=1M count=2048 status=none 2>/dev/null || break
	done
	log "full: $(df -h "$m" | tail -1)"
	unmount_one "$m"
	for ((i = 1; i <= RUNS; i++)); do
		drop_caches
		s=$(now)
		"$MAPFS" "$img" "$m" -f > "$W/full.log" 2>&1 & pid=$!
		DPID[$m]=$pid
		if wait_mount "$m" "$pid" && stat "$m/fill0" > /dev/null; then
			sample "$r1" mapfs "$(elapsed "$s" "$(now)")"
		else
			sample "$r1" mapfs n/a
		fi
		s=$(now)
		unmount_one "$m"
		sample "$r2" mapfs "$(elapsed "$s" "$(now)")"
	done
	finish_row "$r1" mapfs; finish_row "$r2" mapfs
	rm -f "$img"
}

# bench/fsck_million.sh BUILD (written separately) builds an image with a
# million files through the core (no mount), then times fsck.mapfs -n -f
# (best of three runs, by itself) and one -y -f run. It is run once; its
# lines "populate: ... in X s", "fsck -n -f: best of 3: X s" and
# "fsck -y -f: X s" become the rows.
wl_fsck() {
	local sc=$ROOT/bench/fsck_million.sh r0=populate-1M-files-core r1=fsck-n-1M-files r2=fsck-y-1M-files v
	has_target mapfs || return 0
	if [ ! -f "$sc" ]; then
		log "fsck: bench/fsck_million.sh not present: skipped"
		return 0
	fi
	defrow "$r0" s lower; defrow "$r1" s lower; defrow "$r2" s lower
	mkdir -p "$W/fsckm"
	if TMPDIR=$W/fsckm timeout -k 10 "$T_BIG" sh "$sc" "$BUILD" > "$W/fsckm.out" 2>&1; then
		sed 's/^/#   fsck_million.sh: /' "$W/fsckm.out"
		v=$(sed -n 's/^populate: .* in \([0-9.]*\) s.*/\1/p' "$W/fsckm.out" | tail -1)
		sample "$r0" mapfs "${v:-n/a}"
		v=$(sed -n 's/^fsck -n -f: best of 3: \([0-9.]*\) s.*/\1/p' "$W/fsckm.out" | tail -1)
		sample "$r1" mapfs "${v:-n/a}"
		v=$(sed -n 's/^fsck -y -f: \([0-9.]*\) s.*/\1/p' "$W/fsckm.out" | tail -1)
		sample "$r2" mapfs "${v:-n/a}"
	else
		log "  fsck_million.sh failed:"; tail -5 "$W/fsckm.out"
		sample "$r0" mapfs n/a; sample "$r1" mapfs n/a; sample "$r2" mapfs n/a
	fi
	rm -rf --one-file-system "$W/fsckm"
	finish_row "$r0" mapfs; finish_row "$r1" mapfs; finish_row "$r2" mapfs
}

# ---------------------------------------------------------------- run

log "mapfs benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
log "machine: $(nproc) CPUs, $(free -g | awk '/^Mem/ { print $2 " GiB RAM" }'), $(uname -srm)"
if [ -n "$URING_OLD" ]; then
	log "FUSE over io_uring: $URING_PARAM was $URING_OLD; set to Y for mapfs, N for mapfs-devfuse while each mounts (until INIT is answered), then restored"
else
	log "FUSE over io_uring: no switch on this kernel (or not writable): mapfs uses /dev/fuse"
fi
log "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
log "work dir: $W on $(df --output=source,fstype "$W" | tail -1 | tr -s ' ')"
rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$rev" != unknown ] && [ -n "$(GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" status --porcelain -uno 2>/dev/null)" ]; then
	rev="$rev (+ uncommitted changes)"
fi
log "mapfs revision: $rev; build: $BUILD ($(grep -m1 -o "buildtype=[a-z]*" "$BUILD/meson-logs/meson-log.txt" 2>/dev/null || echo "buildtype unknown"))"
log "versions: $(fio --version), fuse2fs $(fuse2fs -V 2>&1 | head -1 | awk '{ print $2 }'), libfuse $(pkg-config --modversion fuse3)"
log "settings: runs=$RUNS quick=$QUICK slow=$SLOW seq=${SEQ_MB}MiB fio=${FIO_MB}MiB/${FIO_T}s append=$APPEND_N meta=$META_N big-dir=$BIG_N lookups=$LOOK_M parallel=${PAR_N}/proc"
log "command: bench/run.sh ${ARGS_ORIG:-}"
log "MAPFS_BENCH_OPTS: ${MAPFS_BENCH_OPTS:-(none)}"

DONE=()
per_target=0
for w in seq randio append meta lookup tree parallel; do want "$w" && per_target=1; done
[ "$per_target" = 1 ] || TLIST=()
for t in "${TLIST[@]}"; do
	[ "$t" = passthrough ] && [ -z "$PLL" ] && continue
	[ "$t" = fuse2fs ] && ! command -v fuse2fs > /dev/null && continue
	log "== $t"
	if ! setup "$t"; then
		log "$t: setup failed, skipped"
		teardown "$t"
		continue
	fi
	DONE+=("$t")
	for w in seq randio append meta lookup tree parallel; do
		want "$w" || continue
		log "$t: $w ($(since))"
		"wl_$w" "$t"
	done
	teardown "$t"
done
for w in mkfs mount fsck; do
	want "$w" || continue
	log "== $w ($(since))"
	"wl_$w"
done

# ---------------------------------------------------------------- table

COLS=()	# the targets with at least one result, in a fixed order
for t in mapfs mapfs-devfuse tmpfs ext4 fuse2fs passthrough; do
	for r in "${ROWS[@]}"; do
		if [ -n "${VAL[$r|$t]:-}" ]; then COLS+=("$t"); break; fi
	done
done
OTHERS=()
for t in "${COLS[@]}"; do [ "$t" != mapfs ] && OTHERS+=("$t"); done
has_target mapfs || OTHERS=()

fmt() {	# fmt VALUE: a compact number
	awk -v v="$1" 'BEGIN {
		if (v == "" || v == "n/a" || v == "-") { print (v == "" ? "-" : v); exit }
		a = v < 0 ? -v : v
		if (a >= 100) printf "%.0f\n", v
		else if (a >= 10) printf "%.1f\n", v
		else if (a >= 1) printf "%.2f\n", v
		else printf "%.3f\n", v }'
}
echo
echo "Results: median of $RUNS runs$([ "$QUICK" = 1 ] && echo ", --quick sizes"); ratios are mapfs's speed relative to"
echo "each target (> 1: mapfs faster/smaller; for rows in s or MiB this is other/mapfs)."
echo
{
	printf '%s|%s' workload unit
	for t in "${COLS[@]}"; do printf '|%s' "$t"; done
	for t in "${OTHERS[@]}"; do printf '|mapfs:%s' "$t"; done
	echo
	for r in "${ROWS[@]}"; do
		printf '%s|%s' "$r" "${UNIT[$r]}"
		for t in "${COLS[@]}"; do printf '|%s' "$(fmt "${VAL[$r|$t]:-}")"; done
		for t in "${OTHERS[@]}"; do
			a=${VAL[$r|mapfs]:-} b=${VAL[$r|$t]:-}
			if [[ $a =~ ^[0-9.eE+-]+$ && $b =~ ^[0-9.eE+-]+$ ]]; then
				awk -v a="$a" -v b="$b" -v low="${LOWER[$r]}" 'BEGIN {
					if (low) { x = a; a = b; b = x }
					if (b == 0) print "|-"; else printf "|%.2f", a / b }'
			else
				printf '|-'
			fi
		done
		echo
	done
} > "$W/table"
column -t -s '|' -o '  ' "$W/table"
echo
for t in "${COLS[@]}"; do
	[ -n "${NOTE[$t]:-}" ] && echo "note: $t: ${NOTE[$t]}"
done
echo "total time: $(awk -v s="$(elapsed "$START" "$(now)")" 'BEGIN { printf "%.0f s", s }')"
