#!/bin/bash
# SPDX-License-Identifier: MIT
# run.sh MKFS DUMPFS MKIMAGE CORRUPT
#
# dumpfs.mapfs on a known tree, TAP output. mkfs.mapfs formats a 64 MiB
# image, mkimage (a test program on the core) populates it (see
# mkimage.c for the tree), and every mode's JSON is checked with jq
# against what was created: sizes, link counts, names, block counts,
# holes, indirect blocks, xattrs, preallocation. Also: text mode runs,
# exit codes (usage 16, operational 8, problems 1), an image locked by
# someone else (mounted) is still read, and nothing ever changes the
# image (checksum before and after). Exit 77 without jq.
set -u

MKFS=${1:?usage: run.sh MKFS DUMPFS MKIMAGE CORRUPT}
DUMPFS=${2:?}
MKIMAGE=${3:?}
C=${4:?}

command -v jq >/dev/null 2>&1 || { echo "1..0 # SKIP jq not installed"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-dump.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT INT TERM
IMG=$T/img
BS=4096

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1))
	failed=1
	echo "not ok $n - $1"
	[ -s "$T/err" ] && sed 's/^/#   /' "$T/err"
}
# check DESC JQ-EXPR: the expression must be true on $T/out.
check() {
	if jq -e "$2" "$T/out" >/dev/null 2>"$T/jqerr"; then
		ok "$1"
	else
		not_ok "$1 ($2)"
		sed 's/^/#   /' "$T/jqerr"
	fi
}
# dump WANT-RC ARGS...: run dumpfs on $IMG into $T/out and $T/err.
dump() {
	local want=$1 rc
	shift
	"$DUMPFS" "$@" "$IMG" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		not_ok "dumpfs $* exits $want (got $rc)"
		return 1
	fi
	return 0
}

# 256-byte inodes: the attribute goes to a block, which the checks look at
"$MKFS" -q -E -I 256 -L dumptest -s 64M "$IMG" >"$T/err" 2>&1 || {
	echo "Bail out! mkfs failed"; cat "$T/err"; exit 1; }
"$MKIMAGE" "$IMG" >"$T/err" 2>&1 || {
	echo "Bail out! mkimage failed"; cat "$T/err"; exit 1; }
sum_before=$(sha256sum "$IMG" | cut -d' ' -f1)

# --- superblock and groups -------------------------------------------
if dump 0 -j; then
	check "superblock: label, geometry, state" \
		'.superblock.label == "dumptest" and
		 .superblock.block_size == 4096 and
		 .superblock.blocks == 16384 and .superblock.groups == 1 and
		 .superblock.inode_size == 256 and
		 .superblock.state == "clean" and .superblock.version == 1 and
		 .superblock.magic == 1397117005 and
		 .superblock.root_inode == 2 and .superblock.first_inode == 16'
	check "superblock: features (xattr and keepsize in use)" \
		'.superblock.features.ro_compat == 3 and
		 (.superblock.features.names | sort) == ["keepsize", "xattr"]'
	# Directories: root, lost+found, dir, dir/sub, many.
	check "superblock: 5 directories, counts equal the group sums" \
		'.superblock.directories == 5 and
		 .superblock.group_totals.directories == 5 and
		 .superblock.free_blocks == .superblock.group_totals.free_blocks and
		 .superblock.free_inodes == .superblock.group_totals.free_inodes'
	# Inodes in use: root, lost+found, dir, a, sub, bad, big, sparse,
	# sym, longsym, fifo, pre, many, 150 files = 163, plus reserved 0..15
	# but 2 (15) marked in the bitmap and not counted as free.
	check "superblock: free inodes" \
		'.superblock.free_inodes == .superblock.inodes - 163 - 15'
	check "groups: one group, initialized, counts match" \
		'(.groups | length) == 1 and .groups[0].status == "initialized"
		 and .groups[0].free_blocks == .superblock.free_blocks
		 and .groups[0].directories == 5 and .groups[0].error == null'
	check "superblock locations: the primary, valid" \
		'.superblock.superblocks == [{"group": 0, "block": 0,
		 "primary": true, "in_use": true, "valid": true,
		 "error": null}]'
	check "no problems, superblock_group 0" \
		'.problems == [] and .problem_count == 0 and
		 .superblock_group == 0'
fi

# --- inodes ----------------------------------------------------------
if dump 0 -j -i /big; then
	check "-i /big: regular, size 20 blocks, 2 links, 21 blocks held" \
		".inode.type == \"regular\" and .inode.size == 20 * $BS and
		 .inode.nlink == 2 and .inode.blocks == 21 and
		 .inode.permissions == 420 and .inode.mode == 33188 and
		 .inode.valid and .inode.allocated and .inode.checksum.ok"
	check "-i /big: 12 direct pointers, a single indirect" \
		'(.inode.direct | length) == 12 and
		 (.inode.direct | all(. > 0)) and .inode.indirect[0] > 0 and
		 .inode.indirect[1] == 0 and .inode.indirect[2] == 0'
	big=$(jq .inode.ino "$T/out")
fi
dump 0 -j -i /big2 && check "-i /big2 is the same inode as /big" \
	".inode.ino == ${big:-0}"
dump 0 -j -i 2 && check "-i 2: the root, 5 links (lost+found, dir, many)" \
	'.inode.type == "directory" and .inode.nlink == 5 and
	 .inode.size == 4096 and .inode.blocks == 1 and .inode.reserved == false'
dump 0 -j -i /dir/a && check "-i /dir/a: 100 bytes, xattr user.test of 5 bytes" \
	'.inode.size == 100 and .inode.blocks == 2 and .inode.xattr_block > 0
	 and .inode.xattrs == [{"name": "user.test", "value_length": 5}]'
dump 0 -j -i /dir/sub && check "-i /dir/sub: mode 0700, 2 links" \
	'.inode.permissions == 448 and .inode.nlink == 2'
dump 0 -j -i /sym && check "-i /sym: fast symlink" \
	'.inode.type == "symlink" and .inode.symlink_target == "dir/a" and
	 .inode.size == 5 and .inode.blocks == 0 and .inode.direct == null'
dump 0 -j -i /longsym && check "-i /longsym: slow symlink, one block" \
	'.inode.symlink_target == ("x" * 200) and .inode.size == 200 and
	 .inode.blocks == 1'
dump 0 -j -i /fifo && check "-i /fifo: fifo, no blocks" \
	'.inode.type == "fifo" and .inode.blocks == 0 and .inode.size == 0'
dump 0 -j -i /pre && check "-i /pre: keepsize flag" \
	'.inode.flag_names == ["keepsize"] and .inode.size == 0 and
	 .inode.blocks == 4'
dump 0 -j -i 1 && check "-i 1: reserved, free" \
	'.inode.reserved and .inode.type == "free" and .inode.mode == 0'

# --- block maps --------------------------------------------------------
dump 0 -j -m /big && check "-m /big: 20 data blocks, 1 indirect, no hole" \
	'.blockmap.data_blocks == 20 and .blockmap.indirect_blocks == 1 and
	 ([.blockmap.extents[].count] | add) == 20 and
	 .blockmap.extents[0].logical == 0 and .blockmap.holes == [] and
	 (.blockmap.indirect | length) == 1 and
	 .blockmap.indirect[0].level == 1 and .blockmap.indirect[0].logical == 12
	 and .blockmap.counted_blocks == .blockmap.blocks and
	 .blockmap.bad_pointers == [] and .blockmap.eof_blocks == 20'
dump 0 -j -m /sparse && check "-m /sparse: a 2560-block hole, double indirect" \
	'.blockmap.holes == [{"logical": 0, "count": 2560}] and
	 .blockmap.extents == [{"logical": 2560, "physical":
	   .blockmap.extents[0].physical, "count": 1, "past_eof": false}] and
	 ([.blockmap.indirect[].level] == [2, 1]) and
	 .blockmap.blocks == 3 and .blockmap.counted_blocks == 3 and
	 .blockmap.size == 10 * 1048576 + 4096'
dump 0 -j -m /pre && check "-m /pre: 4 blocks past EOF" \
	'.blockmap.past_eof_blocks == 4 and .blockmap.eof_blocks == 0 and
	 (.blockmap.extents | all(.past_eof)) and .blockmap.holes == []'
dump 0 -j -m /sym && check "-m /sym: no block map" \
	'.blockmap.has_block_map == false and .blockmap.extents == []'
dump 0 -j -m /dir/a && check "-m /dir/a: one block and the xattr block" \
	'.blockmap.data_blocks == 1 and .blockmap.xattr_block > 0 and
	 .blockmap.counted_blocks == 2'

# --- directories -------------------------------------------------------
if dump 0 -j -d /many; then
	check "-d /many: 2 chunks, 152 entries, every name" \
		'.directory.chunks == 2 and .directory.size == 8192 and
		 .directory.entry_count == 152 and
		 ([.directory.entries[].name] | sort) ==
		 ([".", ".."] + [range(150) | "file-with-a-long-name-" +
		   (if . < 10 then "00" elif . < 100 then "0" else "" end) +
		   tostring] | sort)'
	check "-d /many: records tile each chunk (reclen sums to 4088)" \
		'[.directory.entries | group_by(.chunk)[] |
		  map(.reclen) | add] == [4088, 4088]'
	check "-d /many: types and record lengths" \
		'(.directory.entries[0] | .name == "." and .type == 4 and
		  .type_name == "directory" and .reclen == 16 and .offset == 0)
		 and ([.directory.entries[2:][] | .type_name] | unique) ==
		 ["regular"]'
fi
dump 0 -j -d /dir && check "-d /dir: a non-UTF-8 name comes with name_hex" \
	'([.directory.entries[] | select(.name_hex == "626164fffe")] | length)
	 == 1 and ([.directory.entries[] | .name] | index("sub")) != null'
dump 0 -j -d 2 && check "-d 2: root entries" \
	'[.directory.entries[].name] == [".", "..", "lost+found", "dir", "big",
	 "big2", "sparse", "sym", "longsym", "fifo", "pre", "many"]'

# --- text mode, all modes ---------------------------------------------
for args in "" "-s" "-i /big" "-d /many" "-m /sparse" "-i 2 -d 2 -m /big"; do
	# shellcheck disable=SC2086
	if dump 0 $args; then
		if [ -s "$T/out" ]; then ok "text: dumpfs $args"
		else not_ok "text: dumpfs $args printed nothing"; fi
	fi
done
dump 0 -d /many && grep -q 'file-with-a-long-name-149' "$T/out" &&
	ok "text: -d shows names" || not_ok "text: -d shows names"
dump 0 -d /dir && grep -q 'bad\\377\\376' "$T/out" &&
	ok "text: unprintable bytes escaped" ||
	not_ok "text: unprintable bytes escaped"

# --- exit codes --------------------------------------------------------
usage_ok=1
for args in "" "-x" "-i" "-b 2" "-b x" "-s -i 2" "a b"; do
	# shellcheck disable=SC2086
	"$DUMPFS" $args >/dev/null 2>&1
	rc=$?
	[ "$rc" = 16 ] || { usage_ok=0; echo "# '$args': exit $rc"; }
done
[ "$usage_ok" = 1 ] && ok "usage errors exit 16" || not_ok "usage errors exit 16"
"$DUMPFS" -j "$T/nonexistent" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 8 ] && [ ! -s "$T/out" ] && [ -s "$T/err" ] &&
	ok "missing image: exit 8, nothing on stdout, a message" ||
	not_ok "missing image: exit 8 (got $rc)"
dump 8 -j -i 99999999 && [ ! -s "$T/out" ] && ok "inode out of range: exit 8"
dump 8 -j -d /big && grep -q 'not a directory' "$T/err" &&
	ok "-d on a file: exit 8"
dump 8 -j -i /nonexistent && ok "-i on a missing path: exit 8"
dump 8 -j -m 1 && ok "-m on a free inode: exit 8"
"$DUMPFS" --version >"$T/out" 2>&1 && grep -q '^dumpfs.mapfs ' "$T/out" &&
	ok "--version" || not_ok "--version"
"$DUMPFS" --help >"$T/out" 2>&1 && grep -q '^Usage: dumpfs.mapfs' "$T/out" &&
	ok "--help" || not_ok "--help"

# --- an image in use (mounted: the daemon holds an exclusive lock) -----
if command -v flock >/dev/null 2>&1; then
	flock -x "$IMG" "$DUMPFS" -j "$IMG" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" = 0 ] && grep -q 'image is in use' "$T/err" &&
		jq -e '.superblock.label == "dumptest"' "$T/out" >/dev/null &&
		ok "locked image: read without the lock, with a warning" ||
		not_ok "locked image (exit $rc)"
	# dumpfs holds a shared lock only: a reader can run meanwhile.
	flock -s "$IMG" "$DUMPFS" -s "$IMG" >/dev/null 2>"$T/err" &&
		! grep -q 'in use' "$T/err" &&
		ok "shared lock held elsewhere: no conflict" ||
		not_ok "shared lock held elsewhere"
else
	ok "locked image # SKIP no flock(1)"
	ok "shared lock # SKIP no flock(1)"
fi

# --- read-only ------------------------------------------------------------
[ "$(sha256sum "$IMG" | cut -d' ' -f1)" = "$sum_before" ] &&
	ok "the image is unchanged" || not_ok "the image changed"

# --- several groups: copies, unused groups, -b ---------------------------
"$MKFS" -q -E -s 300M "$T/multi" >"$T/err" 2>&1
if "$DUMPFS" -j "$T/multi" >"$T/out" 2>"$T/err"; then
	check "3 groups: the primary and a copy in group 1, group 2 unused" \
		'.superblock.groups == 3 and
		 ([.superblock.superblocks[] | [.group, .valid]] ==
		  [[0, true], [1, true]]) and
		 .groups[0].status == "initialized" and
		 .groups[2].status == "unused" and .groups[2].initialized == false and
		 .groups[1].superblock and (.groups[2].superblock | not)'
else
	not_ok "dumpfs -j on a 3-group image"
fi
"$DUMPFS" -j -b 1 "$T/multi" >"$T/out" 2>"$T/err" &&
	check "-b 1: the copy in group 1 is shown" \
		'.superblock_group == 1 and .superblock.this_group == 1 and
		 .superblock.superblocks[1].in_use' ||
	not_ok "dumpfs -j -b 1"
"$DUMPFS" -b 3 "$T/multi" >/dev/null 2>"$T/err"
[ $? = 8 ] && ok "-b 3 past the last group: exit 8" ||
	not_ok "-b 3 past the last group: exit 8"

# --- damage is reported, exit 1 ---------------------------------------
cp "$IMG" "$T/dmg"
"$C" "$T/dmg" inode /big crc 0x1234 >"$T/err" 2>&1
"$DUMPFS" -j -i /big "$T/dmg" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 1 ] && jq -e '.problem_count >= 1 and .inode.valid == false and
	.inode.checksum.ok == false and .inode.checksum.stored == 4660' \
	"$T/out" >/dev/null && ok "bad inode checksum: exit 1, reported" ||
	not_ok "bad inode checksum (exit $rc)"
cp "$IMG" "$T/dmg"
"$C" "$T/dmg" xorbyte 4092 1 >"$T/err" 2>&1
"$DUMPFS" -j "$T/dmg" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 1 ] && jq -e '.problems[0] | test("primary superblock")' \
	"$T/out" >/dev/null && ok "bad primary superblock: exit 1, reported" ||
	not_ok "bad primary superblock (exit $rc)"

echo "1..$n"
exit $failed
