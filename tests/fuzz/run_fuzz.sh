#!/bin/sh
# run_fuzz.sh - the fuzz suite's driver.
#
#   run_fuzz.sh replay MKSEED FSCK TARGET... -- INPUT...
#       make the seed images, check that fsck.mapfs finds them clean, then
#       run every seed image, the starting corpus and each INPUT (files or
#       directories: tests/fuzz/regress) once through every TARGET
#       (paths must not contain white space).
#   run_fuzz.sh fuzz MKSEED SECONDS TARGET [CORPUSDIR]
#       a bounded libFuzzer run of TARGET from the starting corpus (kept in
#       CORPUSDIR if given, else a temporary one); a crash fails the test
#       and leaves crash-* files in the current directory.
set -eu

mode=$1
mkseed=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/img" "$tmp/corpus"
"$mkseed" "$tmp/img" "$tmp/corpus"

case $mode in
replay)
	fsck=$1
	shift
	for img in "$tmp"/img/*.img; do
		# A seed left as after a crash may hold orphans: the only
		# problem allowed (fsck -p frees them).
		"$fsck" -n -f "$img" >"$tmp/fsck.out" 2>&1 ||
		! grep '\[P' "$tmp/fsck.out" | grep -qv '\[P4_ORPHAN_INODE\]$' || {
			echo "seed image $(basename "$img") is not clean:"
			cat "$tmp/fsck.out"
			exit 1
		}
	done
	targets=""
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		targets="$targets $1"
		shift
	done
	[ $# -gt 0 ] && shift
	# Files, not directories: given a directory, a libFuzzer binary
	# would start fuzzing it.
	find "$tmp/img" "$tmp/corpus" "$@" -type f ! -name '.*' | sort \
		>"$tmp/inputs"
	for t in $targets; do
		echo "== $(basename "$t"): $(wc -l <"$tmp/inputs") inputs"
		# shellcheck disable=SC2046
		"$t" $(cat "$tmp/inputs")
	done
	;;
fuzz)
	secs=$1
	target=$2
	corpus=${3:-$tmp/corpus}
	if [ "$corpus" != "$tmp/corpus" ]; then
		mkdir -p "$corpus"
		cp -n "$tmp"/corpus/* "$corpus"/ 2>/dev/null || true
	fi
	# Crash files go to $MAPFS_FUZZ_ARTIFACTS/ if set, else the current
	# directory (meson's: the build directory).
	prefix=${MAPFS_FUZZ_ARTIFACTS:+$MAPFS_FUZZ_ARTIFACTS/}
	"$target" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
		-max_len=4096 -print_final_stats=1 \
		${prefix:+-artifact_prefix="$prefix"} "$corpus"
	;;
*)
	echo "run_fuzz.sh: unknown mode $mode" >&2
	exit 2
	;;
esac
