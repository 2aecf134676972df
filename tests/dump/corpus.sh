#!/bin/bash
# SPDX-License-Identifier: MIT
# corpus.sh MKFS DUMPFS CORRUPT CASEDIR [CASE...]
#
# dumpfs.mapfs on damaged images, TAP output: every image of the fsck
# corpus (CASEDIR/*/recipe, made as tests/fsck/run_cases.sh makes them,
# with the test-only corruption tool), then images damaged at random
# (inode fields edited with their checksums kept right, so the damage
# reaches the validators behind them, plus raw byte flips). On each,
# dumpfs runs in every mode (default, -s, -b 1, and -i, -d, -m on the
# root, the reserved inodes and every inode the recipe's tree can use),
# as text and as JSON. It must never crash (exit status below 128, one
# of 0, 1, 8), must not change the image, and in JSON mode must print
# one valid JSON document, or nothing and a message on stderr.
#
# MAPFS_DUMP_SEEDS sets the number of random images (default 25).
set -u

. "$(dirname "$0")/../fsck/cases.sh"
cases_start DUMPFS "$@"
SEEDS=${MAPFS_DUMP_SEEDS:-25}

command -v jq >/dev/null 2>&1 || { echo "1..0 # SKIP jq not installed"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-dumpc.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT INT TERM

total=$SEEDS
for t in $cases; do total=$((total + 1)); done
echo "1..$total"

# Inodes to look at: reserved ones, the root, every kind of inode the
# recipes' tree (corrupt populate) holds (16..34: lost+found, the
# directories, files with direct, single and double indirect blocks,
# symlinks, a fifo, the big directory), one of its files, and numbers
# past the end.
INOS="0 1 2 15 $(seq 16 34 | tr '\n' ' ') 180 4096 99999999 /"

# run_all IMG: every mode, text and JSON. Prints the reasons for failure
# (empty when everything held).
run_all() {
	local img=$1 args rc mode ino why=""
	local sum
	sum=$(sha256sum "$img" | cut -d' ' -f1)
	: >"$T/stream"
	set -- "" "-s" "-b 1"
	for ino in $INOS; do
		set -- "$@" "-i $ino" "-d $ino" "-m $ino"
	done
	for args in "$@"; do
		for mode in text json; do
			local j=""
			[ "$mode" = json ] && j=-j
			# shellcheck disable=SC2086
			"$DUMPFS" $j $args "$img" >"$T/out" 2>"$T/err"
			rc=$?
			case $rc in
			0|1|8) ;;
			*) why="$why; dumpfs $j $args: exit $rc"
			   sed 's/^/#   /' "$T/err" | head -5 >&2
			   continue ;;
			esac
			[ "$mode" = json ] || continue
			if [ -s "$T/out" ]; then
				cat "$T/out" >>"$T/stream"
				[ "$rc" = 8 ] &&
					why="$why; dumpfs -j $args: exit 8 with output"
			elif [ ! -s "$T/err" ]; then
				why="$why; dumpfs -j $args: no output and no message"
			fi
		done
	done
	# One jq run for all the documents; only on failure, one per run.
	if ! jq -e -n '[inputs] | length >= 0' "$T/stream" >/dev/null 2>&1; then
		for args in "$@"; do
			# shellcheck disable=SC2086
			"$DUMPFS" -j $args "$img" >"$T/out" 2>/dev/null
			if [ -s "$T/out" ] && ! jq -e . "$T/out" >/dev/null 2>&1; then
				why="$why; dumpfs -j $args: invalid JSON"
				head -c 300 "$T/out" | sed 's/^/#   /' >&2
			fi
		done
	fi
	[ "$(sha256sum "$img" | cut -d' ' -f1)" = "$sum" ] ||
		why="$why; the image changed"
	echo "${why#; }"
}

# check_image N NAME [DETAIL]: run_all on $IMG as TAP check N; DETAIL
# (what was done to the image) is shown on failure.
check_image() {
	local why
	why=$(run_all "$IMG" 2>"$T/log")
	if [ -z "$why" ]; then
		echo "ok $1 - $2"
	else
		echo "not ok $1 - $2${3:+ ($3)}: $why"
		sed 's/^/#   /' "$T/log"
	fi
}

n=0
for t in $cases; do
	n=$((n + 1))
	d=$CASEDIR/$t
	IMG=$T/test.img
	if ! case_image "$d" "$T" "$T/log"; then
		echo "not ok $n - $t: $why"
		sed 's/^/#   /' "$T/log"
		continue
	fi
	check_image $n "$t"
done

# Random damage on a populated image: inode fields with checksums kept
# right (so the damage gets past the CRCs), and raw flips in the
# metadata blocks.
BASE=$T/base.img
"$MKFS" -q -E -s 16M "$BASE" >/dev/null 2>&1 && "$C" "$BASE" populate \
	>/dev/null 2>&1 || { echo "Bail out! cannot make the base image"; exit 1; }
read -ra fields <<<"mode nlink size blocks flags xattr orphan_next blk0 blk1 blk11 blk12 blk13 blk14"
set -f
for seed in $(seq 1 "$SEEDS"); do
	n=$((n + 1))
	RANDOM=$seed
	IMG=$T/rand.img
	cp "$BASE" "$IMG"
	edits=""
	for _ in 1 2 3; do
		ino=$((16 + RANDOM % 19))
		f=${fields[$((RANDOM % ${#fields[@]}))]}
		case $((RANDOM % 4)) in
		0) v=$((RANDOM % 8)) ;;
		1) v=$((RANDOM * 32768 + RANDOM)) ;;
		2) v=$(( (RANDOM << 48) | (RANDOM << 32) | (RANDOM << 16) | RANDOM )) ;;
		*) v=$((RANDOM % 4200)) ;;
		esac
		[ "$f" = mode ] && v=$((v % 65536))
		[ "$f" = nlink ] || [ "$f" = flags ] && v=$((v % 4294967296))
		"$C" "$IMG" inode "$ino" "$f" "$v" >/dev/null 2>&1
		edits="$edits $ino.$f=$v"
	done
	for _ in 1 2 3 4; do
		# The first 300 blocks: superblock, group header, bitmaps,
		# inode table and the first directory and indirect blocks.
		off=$(( (RANDOM * 32768 + RANDOM) % (300 * 4096) ))
		"$C" "$IMG" xorbyte "$off" $((1 + RANDOM % 255)) >/dev/null 2>&1
		edits="$edits @$off"
	done
	check_image $n "random damage seed $seed" "${edits# }"
done
