#!/bin/bash
# SPDX-License-Identifier: MIT
#
# offset.sh MKFS FSCK MAPFS
#
# A filesystem inside a larger file (-o offset=,size=): a 96 MiB
# "container" filled with a pattern; mkfs.mapfs -o offset=16M,size=48M
# formats the middle, mapfs -o offset=16M,size=48M mounts it, files are
# written and read back, fsck.mapfs -o ... checks it (clean, and a second
# filesystem at another offset in the same file too), and the bytes
# outside each region are exactly the pattern they were. Bad offsets are
# refused with a clear message. As root, a second mount of the mounted
# image is a view of it only for the same region. Prints TAP.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
C=$T/container
MNT=$T/mnt
sum() { dd if="$C" bs=1M skip="$1" count="$2" status=none | sha256sum | cut -d' ' -f1; }

# The pattern: 96 MiB of a repeating, non-zero sequence.
yes "container bytes outside the filesystem" | head -c 96M > "$C"
head0=$(sum 0 16) mid=$(sum 64 8)

"$MKFS" -q -o offset=16M,size=48M "$C" > "$T/out" 2>&1; rc=$?
t "mkfs.mapfs -o offset=16M,size=48M" '[ $rc = 0 ]'
"$MKFS" -q -o offset=72M "$C" > "$T/out" 2>&1; rc=$?
t "mkfs.mapfs -o offset=72M (to the end)" '[ $rc = 0 ]'
"$MKFS" -q -o offset=1000 "$C" > "$T/out" 2>&1; rc=$?
t "an offset that is not a multiple of 4096 is refused" \
	'[ $rc = 2 ] && grep -q "multiple of 4096" "$T/out"'
"$MKFS" -q -o offset=16M -s 10M "$C" > "$T/out" 2>&1; rc=$?
t "-s with -o offset is refused" '[ $rc = 2 ]'
"$FSCK" -n -f -o offset=200M "$C" > "$T/out" 2>&1; rc=$?
t "fsck.mapfs -o offset past the end: exit 8, says why" \
	'[ $rc = 8 ] && grep -q "past the end" "$T/out"'
"$FSCK" -n -f -o offset=16M,size=48M "$C" > "$T/out" 2>&1; rc=$?
t "fsck.mapfs -o offset=16M,size=48M: clean" '[ $rc = 0 ]'
"$FSCK" -n -f "$C" > "$T/out" 2>&1; rc=$?
t "fsck.mapfs without the offset: not a mapfs image (exit 8)" '[ $rc = 8 ]'

mount_fs "$C" "$MNT" -o offset=16M,size=48M
dd if=/dev/urandom of="$T/data" bs=1M count=20 status=none
cp "$T/data" "$MNT/data"
mkdir -p "$MNT/a/b" && echo hello > "$MNT/a/b/c"
t "files written inside the region read back" \
	'cmp -s "$T/data" "$MNT/data" && [ "$(cat "$MNT/a/b/c")" = hello ]'
t "df sees a 48 MiB filesystem" \
	'[ "$(stat -f -c "%b" "$MNT")" -le $((48 * 256)) ]'
# A second mount of the image (root: a bind mount of the live one) is
# made only of the same region: another region of it, or the whole
# file, is refused with the reason, never shown as the mounted one.
if [ "$(id -u)" = 0 ]; then
	M2=$T/mnt2
	mkdir -p "$M2"
	MOUNTS+=("$M2")
	clear_m2() {	# a wrong view (several, stacked) must not stay
		local i
		for ((i = 0; i < 5; i++)); do
			is_mounted "$M2" || return 0
			umount -l "$M2"
		done
	}
	second() {
		clear_m2
		timeout 30 "$MAPFS" "$C" "$M2" "$@" > "$T/out" 2>&1
	}
	refused() {
		[ "$1" != 0 ] && ! is_mounted "$M2" &&
			grep -q "offset=16777216,size=50331648" "$T/out"
	}
	second -o offset=72M; rc=$?
	t "a second mount of another region of the image is refused" \
		'refused $rc'
	second -o offset=72M,ro; rc=$?
	t "... read-only too (the mounted one is read-write)" 'refused $rc'
	second; rc=$?
	t "... and of the whole file" 'refused $rc'
	second -o offset=16M,size=48M; rc=$?
	t "a second mount of the same region shows the same filesystem" \
		'[ $rc = 0 ] && is_mounted "$M2" && cmp -s "$T/data" "$M2/data"'
	clear_m2
fi
unmount_only "$MNT"
"$FSCK" -n -f -o offset=16M,size=48M "$C" > "$T/out" 2>&1; rc=$?
t "after unmounting: fsck clean" '[ $rc = 0 ]'
mount_fs "$C" "$MNT" -o offset=72M
echo second > "$MNT/f"
unmount_only "$MNT"
mount_fs "$C" "$MNT" -o offset=16M,size=48M,ro
t "remounted read-only: the data is there" 'cmp -s "$T/data" "$MNT/data"'
unmount_only "$MNT"
"$FSCK" -n -f -o offset=72M "$C" > "$T/out" 2>&1; rc=$?
t "the second filesystem checks clean" '[ $rc = 0 ]'
t "the bytes before and between the filesystems are untouched" \
	'[ "$(sum 0 16)" = "$head0" ] && [ "$(sum 64 8)" = "$mid" ]'
DUMPFS=$(dirname "$MKFS")/../dump/dumpfs.mapfs
if [ -x "$DUMPFS" ] && command -v jq > /dev/null; then
	"$DUMPFS" -j -o offset=16M,size=48M -d / "$C" > "$T/out" 2>&1; rc=$?
	t "dumpfs.mapfs -o offset: the root directory lists data and a" \
		'[ $rc = 0 ] && [ "$(jq -r "[.directory.entries[].name] | sort | join(\",\")" "$T/out")" = ".,..,a,data,lost+found" ]'
fi
echo "1..$n"
exit $FAILED
