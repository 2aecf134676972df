#!/bin/bash
# SPDX-License-Identifier: MIT
# run.sh MKFS FSCK DUMPFS MAPFS MAGIC
#
# What the tools say about an image, without mounting (issue 21 item 5),
# TAP output:
#   - file(1) with the magic file (docs/magic) names a fresh image: mapfs,
#     version, block size, label and UUID (as dumpfs.mapfs prints them);
#     an unfinished mkfs too (skipped without file(1))
#   - an empty image file: mkfs.mapfs asks for -s (or offset=,size=),
#     fsck, dumpfs and the daemon say it is empty, none talks of an offset
#   - a one-group image: mkfs.mapfs warns that there is no backup
#     superblock and from what size there is; at that size there is a
#     copy and no warning
#   - inode counts: fsck.mapfs's clean line counts the same total as
#     mkfs.mapfs and dumpfs.mapfs
set -u

MKFS=${1:?usage: run.sh MKFS FSCK DUMPFS MAPFS MAGIC}
FSCK=${2:?}
DUMPFS=${3:?}
MAPFS=${4:?}
MAGIC=${5:?}

T=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-msgs.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT INT TERM

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)); failed=1; echo "not ok $n - $1"
	[ -f "$T/out" ] && sed 's/^/#   /' "$T/out"
}
res() { if [ "$1" = 0 ]; then ok "$2"; else not_ok "$2"; fi; }
has() { grep -q -- "$1" "$T/out"; }

IMG=$T/img
"$MKFS" -s 64M -L 'my label' "$IMG" >"$T/mkfs.out" 2>&1
res $? "mkfs.mapfs -s 64M -L 'my label'"
uuid=$("$DUMPFS" -s "$IMG" 2>/dev/null | awk '$1 == "UUID" { print $2 }')

# --- file(1) ---------------------------------------------------------------
if command -v file >/dev/null 2>&1; then
	file -m "$MAGIC" "$IMG" >"$T/out" 2>&1
	res $? "file -m magic IMG runs"
	has "^$IMG: mapfs filesystem data, version 1, 4096-byte blocks"
	res $? "file: mapfs, version 1, 4096-byte blocks"
	has "UUID=$uuid, " && [ -n "$uuid" ]
	res $? "file: the UUID dumpfs.mapfs prints ($uuid)"
	has 'label "my label"'
	res $? "file: the label"
	has '(clean)' && has ', journal'
	res $? "file: clean, journal"
	# The magic file compiles (file -C), as file(1)'s upstream does it.
	(cd "$T" && file -C -m "$MAGIC") >"$T/out" 2>&1
	res $? "file -C -m magic: compiles"
	# mkfs stores "MKF!" first: an interrupted mkfs.
	printf 'MKF!' | dd of="$IMG" conv=notrunc status=none
	file -m "$MAGIC" "$IMG" >"$T/out" 2>&1
	has 'mkfs.mapfs did not finish'
	res $? "file: an unfinished mkfs"
	truncate -s 1M "$T/zero"
	file -m "$MAGIC" "$T/zero" >"$T/out" 2>&1
	! has 'mapfs filesystem'
	res $? "file: zeros are not mapfs"
	"$MKFS" -q -F -s 64M -L 'my label' "$IMG" >/dev/null 2>&1
else
	for d in runs version UUID label state compiles unfinished zeros; do
		ok "file: $d # SKIP no file(1)"
	done
fi

# --- an empty image file ---------------------------------------------------
: >"$T/empty"
"$MKFS" "$T/empty" >"$T/out" 2>&1
rc=$?
[ $rc != 0 ] && has "empty (0 bytes): give -s SIZE" && ! has offset
res $? "mkfs.mapfs EMPTY: says it is empty, asks for -s (rc $rc)"
"$MKFS" -o offset=0 "$T/empty" >"$T/out" 2>&1
rc=$?
[ $rc != 0 ] && has "empty (0 bytes): give " && ! has past
res $? "mkfs.mapfs -o offset=0 EMPTY: says it is empty (rc $rc)"
for p in "$FSCK -n" "$DUMPFS" "$MAPFS"; do
	if [ "${p##*/}" = mapfs ]; then
		mkdir -p "$T/mnt"
		timeout 20 $p "$T/empty" "$T/mnt" >"$T/out" 2>&1
	else
		$p "$T/empty" >"$T/out" 2>&1
	fi
	rc=$?
	[ $rc != 0 ] && has "the file is empty (0 bytes)" && ! has offset
	res $? "${p##*/} EMPTY: says the file is empty, no offset (rc $rc)"
done

# --- backup superblock -----------------------------------------------------
has2() { grep -q -- "$1" "$T/mkfs.out"; }
cp "$T/mkfs.out" "$T/out"
has "0 superblock copies" &&
	has "warning: no backup superblock (one group only); images of "
res $? "mkfs.mapfs 64M: warns that there is no backup superblock"
min=$(sed -n 's/.*images of .* (\([0-9]*\) bytes) or more get one/\1/p' \
	"$T/out")
rm -f "$IMG"
"$MKFS" -n -s "$((min - 4096))" "$IMG" >"$T/out" 2>&1
has "0 superblock copies" && has "warning: no backup superblock"
res $? "mkfs.mapfs one block below that ($((min - 4096))): no copy, warned"
"$MKFS" -n -s "$min" "$IMG" >"$T/out" 2>&1
has "1 superblock copy at blocks: " && ! has "warning: no backup"
res $? "mkfs.mapfs at that size ($min): a copy, no warning"
"$MKFS" -q -s "$min" "$IMG" >"$T/out" 2>&1 &&
	"$FSCK" -n -f -b 1 "$IMG" >"$T/out" 2>&1
res $? "fsck.mapfs -b 1 reads that copy"
rm -f "$IMG"

# --- inode counts ------------------------------------------------------------
"$MKFS" -s 64M "$IMG" >"$T/out" 2>&1
total=$(sed -n 's/^\t\([0-9]*\) inodes, .*/\1/p' "$T/out")
"$DUMPFS" -s "$IMG" >"$T/dump" 2>&1
dtotal=$(awk '$1 == "Inodes" && NF == 2 { print $2; exit }' "$T/dump")
dfree=$(awk '$1 == "Free" && $2 == "inodes" { print $3; exit }' "$T/dump")
"$FSCK" -n "$IMG" >"$T/out" 2>&1
has ": clean, $((total - dfree))/$total inodes, " &&
	[ "$total" = "$dtotal" ]
res $? "mkfs ($total), dumpfs ($dtotal, $dfree free) and fsck: one inode total"

echo "1..$n"
exit $failed
