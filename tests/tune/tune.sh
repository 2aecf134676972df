#!/bin/bash
# SPDX-License-Identifier: MIT
#
# tune.sh MKFS FSCK DUMPFS TUNE CORRUPT
#
# tune.mapfs on small unmounted images, no mount (tune-mount.sh mounts):
#   - each option (-L, -U given/random/time, -m, -j with and without a
#     size, several at once) changes what dumpfs.mapfs -j shows, on an
#     image with superblock copies (-g 512: 8 groups), and fsck.mapfs -n
#     -f stays clean (it compares every copy with the primary);
#   - -U keeps the checksum seed and sets csum_seed; the first uuid back
#     clears it;
#   - bad input (label of 65 bytes, malformed uuid, percentage out of
#     range, -j on a journaled image or too large, -c/-o, no option, an
#     image not clean: CORRUPT sets its state) is refused with a message
#     and a non-zero exit, the image unchanged (cmp before/after);
#   - -l prints exactly dumpfs.mapfs -s's text.
# TAP output; needs jq (exit 77, SKIP, without).
set -u
[ $# = 5 ] || { echo "usage: $0 MKFS FSCK DUMPFS TUNE CORRUPT" >&2; exit 2; }
MKFS=$1 FSCK=$2 DUMPFS=$3 TUNE=$4 CORRUPT=$5
command -v jq > /dev/null || { echo "SKIP: no jq"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-tune.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT

n=0 FAILED=0
t() {
	n=$((n + 1))
	if eval "$2"; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		FAILED=1
	fi
}
IMG=$T/a.img
# 16M in 8 groups of 2M: copies in groups 1, 3, 5, 7.
mkimg() { rm -f "$IMG"; "$MKFS" -q -s 16M -g 512 "$@" "$IMG"; }
sb() { "$DUMPFS" -j -s "$IMG" | jq -r ".superblock.$1"; }
fsck_clean() { "$FSCK" -n -f "$IMG" > "$T/fsck.out" 2>&1; }
# refused WHAT ARGS...: non-zero exit, a message, the image unchanged.
refused() {
	local what=$1 rc
	shift
	cp "$IMG" "$T/before.img"
	"$TUNE" "$@" > "$T/out" 2> "$T/err"
	rc=$?
	t "$what: refused (exit $rc): $(head -n 1 "$T/err" | head -c 160)" \
		"[ $rc -ne 0 ] && [ -s '$T/err' ]"
	t "$what: image unchanged" "cmp -s '$T/before.img' '$IMG'"
}

mkimg -L first || exit 99
t "8 groups, 4 copies" '[ "$(sb groups)" = 8 ]'
seed=$(sb checksum_seed)
uuid0=$(sb uuid)

"$TUNE" -L "new label" "$IMG" > "$T/out" 2>&1
rc=$?
t "-L: exit 0" '[ $rc = 0 ]'
t "-L: dumpfs shows the label" '[ "$(sb label)" = "new label" ]'
t "-L: fsck clean" fsck_clean

U=0f8fad5b-d9cb-469f-a165-70867728950e
"$TUNE" -U $U "$IMG" > "$T/out" 2>&1
rc=$?
t "-U UUID: exit 0" '[ $rc = 0 ]'
t "-U UUID: dumpfs shows it" '[ "$(sb uuid)" = $U ]'
t "-U: the checksum seed kept" '[ "$(sb checksum_seed)" = "$seed" ]'
t "-U: feature csum_seed" \
	'"$DUMPFS" -j -s "$IMG" | jq -e ".superblock.features.incompat_names | index(\"csum_seed\")" > /dev/null'
t "-U UUID: fsck clean" fsck_clean
"$TUNE" -U random "$IMG" > /dev/null 2>&1
u=$(sb uuid)
t "-U random: a new version 4 uuid" \
	'[ "$u" != $U ] && [[ $u =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]'
"$TUNE" -U time "$IMG" > /dev/null 2>&1
u=$(sb uuid)
t "-U time: a version 1 uuid" \
	'[[ $u =~ ^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]'
t "-U random, time: fsck clean" fsck_clean
"$TUNE" -U "$uuid0" "$IMG" > /dev/null 2>&1
t "-U the first uuid: csum_seed cleared" \
	'[ "$(sb uuid)" = "$uuid0" ] && [ "$(sb features.incompat)" = 1 ]'
t "-U back: fsck clean" fsck_clean

"$TUNE" -m 12 "$IMG" > "$T/out" 2>&1
rc=$?
t "-m 12: exit 0" '[ $rc = 0 ]'
data=$(( $(sb blocks) - $(sb groups) * $(sb group_layout.data) ))
t "-m 12: percent and blocks ($(sb reserved_blocks) of $data)" \
	'[ "$(sb reserved_percent)" = 12 ] && [ "$(sb reserved_blocks)" = $((data * 12 / 100)) ]'
t "-m: fsck clean" fsck_clean

"$TUNE" -L all -U random -m 0 "$IMG" > "$T/out" 2>&1
t "-L -U -m at once" \
	'[ "$(sb label)" = all ] && [ "$(sb reserved_blocks)" = 0 ] && fsck_clean'

# Refusals.
refused "-L 65 bytes" -L "$(printf 'x%.0s' {1..65})" "$IMG"
t "-L 65 bytes: says the limit" 'grep -q "at most 64 bytes" "$T/err"'
refused "-U malformed" -U 0f8fad5b-d9cb-469f-a165-70867728950 "$IMG"
refused "-U not hex" -U 0f8fad5b-d9cb-469f-a165-70867728950g "$IMG"
refused "-m 51" -m 51 "$IMG"
refused "-m -1" -m -1 "$IMG"
refused "-m abc" -m abc "$IMG"
refused "-j on a journaled image" -j "$IMG"
t "-j on a journaled image: says so" 'grep -q "already has a journal" "$T/err"'
refused "-c (no field in the format)" -c 5 "$IMG"
refused "no option" "$IMG"
refused "-L with -j refused: nothing of it done" -L other -j "$IMG"
cp "$IMG" "$T/clean.img"
"$CORRUPT" "$IMG" sb state 2 > /dev/null || exit 99
refused "not clean (a journaled image)" -L other "$IMG"
t "not clean: says to run fsck" 'grep -q "run fsck.mapfs first" "$T/err"'
cp "$T/clean.img" "$IMG"
"$TUNE" -L "" "$IMG" > /dev/null 2>&1
t "-L \"\": the label cleared" '[ -z "$(sb label)" ] && fsck_clean'

# -l: dumpfs's superblock listing, the same code.
"$TUNE" -l "$IMG" > "$T/l.txt"
"$DUMPFS" -s "$IMG" > "$T/d.txt"
t "-l equals dumpfs.mapfs -s" 'cmp -s "$T/l.txt" "$T/d.txt"'
t "-l: lists the superblock" 'grep -q "^  UUID  *[0-9a-f-]\{36\}$" "$T/l.txt"'

# -j: a journal for a -J 0 image, where mkfs puts one.
mkimg -J 0 || exit 99
rm -f "$T/ref.img"
"$MKFS" -q -s 16M -g 512 "$T/ref.img"
t "-J 0: no journal" '[ "$(sb features.incompat)" = 0 ]'
refused "-j 8M: too large for group 0" -j 8M "$IMG"
t "-j 8M: the size was read" 'grep -q "journal of 8388608 bytes does not fit" "$T/err"'
"$TUNE" -j "$IMG" > "$T/out" 2>&1
rc=$?
t "-j: exit 0 ($(cat "$T/out"))" '[ $rc = 0 ]'
ref() { "$DUMPFS" -j -s "$T/ref.img" | jq -r ".superblock.$1"; }
t "-j: mkfs's size and place ($(sb journal.blocks) blocks at $(sb journal.start))" \
	'[ "$(sb journal.start)" = "$(ref journal.start)" ] && [ "$(sb journal.blocks)" = "$(ref journal.blocks)" ]'
t "-j: header ok, nothing to replay" \
	'[ "$(sb journal.header)" = ok ] && [ "$(sb journal.records)" = 0 ]'
t "-j: free blocks as mkfs's" '[ "$(sb free_blocks)" = "$(ref free_blocks)" ]'
t "-j: fsck clean" fsck_clean
mkimg -J 0 || exit 99
"$TUNE" -j 512K -L j "$IMG" > "$T/out" 2>&1
rc=$?
t "-j 512K -L: exit 0" '[ $rc = 0 ]'
t "-j 512K: 128 blocks" '[ "$(sb journal.blocks)" = 128 ] && [ "$(sb label)" = j ]'
t "-j 512K: fsck clean" fsck_clean

echo "1..$n"
exit $FAILED
