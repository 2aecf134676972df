#!/bin/sh
# SPDX-License-Identifier: MIT
# run_cases.sh MKFS FSCK CORRUPT [CASE...]
#
# fsck test cases, TAP output. Each case: make a small deterministic image
# (mkfs.mapfs -E), populate it without mounting (corrupt populate), check
# that fsck.mapfs -n -f finds it clean (exit 0), apply one corruption,
# then expect fsck.mapfs -n -f to exit with the given code and to print
# the expected problem code(s).
#
# A case is one line of the table below:
#   name | mkfs size | expected exit | expected regex (grep -E) | commands
# The commands are run by the shell with $C (the corrupt tool) and $IMG
# set; they may use $( ... ) to look values up. An empty regex means
# "no problem code at all". Naming cases on the command line runs only
# those.
set -u

MKFS=${1:?usage: run_cases.sh MKFS FSCK CORRUPT [CASE...]}
FSCK=${2:?}
C=${3:?}
shift 3
ONLY="$*"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-fsck.XXXXXX") || exit 99
trap 'rm -rf "$TMP"' EXIT INT TERM
IMG=$TMP/img

# Superblock copies need a second group: at the default 32768 blocks per
# group that takes a 160 MiB image (sparse, so cheap).
CASES=$(cat <<'EOF'
clean-baseline      | 16M  | 0 | ^$ | :
clean-no-force      | 16M  | 0 | ^$ | :
sb-bad-magic        | 160M | 4 | P0_SB_PRIMARY_BAD | $C $IMG byte 0 0
sb-bad-crc          | 160M | 4 | P0_SB_PRIMARY_BAD | $C $IMG xorbyte 4092 1
sb-copy-bad         | 160M | 4 | P5_SB_COPY_BAD | $C $IMG byte $(( $($C $IMG info bpg) * 4096 + 20 )) 1
sb-free-blocks      | 16M  | 4 | P5_SB_FREE_BLOCKS | $C $IMG sb free_blocks 5
sb-free-inodes      | 16M  | 4 | P5_SB_FREE_INODES | $C $IMG sb free_inodes 5
cg-header-crc       | 16M  | 4 | P5_CG_CRC | $C $IMG cg 0 crc 12345
cg-free-blocks      | 16M  | 4 | P5_CG_FREE_BLOCKS | $C $IMG cg 0 free_blocks 17
cg-ndirs            | 16M  | 4 | P5_CG_NDIRS | $C $IMG cg 0 ndirs 3
bbm-used-not-marked | 16M  | 4 | P5_BLOCK_USED_NOT_MARKED | $C $IMG bitmap block $($C $IMG get /file1 blk3) 0
bbm-marked-not-used | 16M  | 4 | P5_BLOCK_MARKED_NOT_USED | $C $IMG bitmap block $(( $($C $IMG info nblocks) - 1 )) 1
bbm-meta-free       | 16M  | 4 | P5_META_NOT_MARKED | $C $IMG bitmap block 2 0
ibm-used-not-marked | 16M  | 4 | P1_IBM_USED_NOT_MARKED | $C $IMG bitmap inode $($C $IMG lookup /empty) 0
ibm-past-hiwater    | 16M  | 4 | P5_INODE_MARKED_NOT_USED | $C $IMG bitmap inode $(( $($C $IMG info ipg) - 1 )) 1
inode-bad-mode      | 16M  | 4 | P1_INODE_BAD | $C $IMG inode /dir1/file2 mode 0170644
inode-bad-crc       | 16M  | 4 | P1_INODE_CRC | $C $IMG inode /dir1/file2 crc 12345
free-inode-dirty    | 16M  | 4 | P1_FREE_INODE_DIRTY | i=$($C $IMG lookup /empty) && $C $IMG rm / empty && $C $IMG inode $i uid 7 --no-crc
direct-out-of-range | 16M  | 4 | P1_INODE_BAD | $C $IMG inode /file1 blk1 99999999
ind-out-of-range    | 16M  | 4 | P1_BLOCK_BAD | $C $IMG ind /file1 $($C $IMG get /file1 blk12) 3 99999999
ind-is-metadata     | 16M  | 4 | P1_BLOCK_BAD | $C $IMG ind /file1 $($C $IMG get /file1 blk12) 3 5
shared-block        | 16M  | 4 | P1B_DUP_BLOCK | $C $IMG inode /dir2/a blk0 $($C $IMG get /file1 blk0)
shared-ind-block    | 16M  | 4 | P1B_DUP_BLOCK | $C $IMG ind /file1 $($C $IMG get /file1 blk12) 2 $($C $IMG get /dir1/file2 blk1)
block-past-eof      | 16M  | 4 | P1_BLOCK_PAST_EOF | $C $IMG inode /dir1/file2 size 4096
blocks-count        | 16M  | 4 | P1_BLOCKS_COUNT|P1_INODE_BAD | $C $IMG inode /dir1/file2 blocks 4
ind-crc             | 16M  | 4 | P1_IND_CRC | $C $IMG xorbyte $(( $($C $IMG get /file1 blk12) * 4096 + 4092 )) 1
dir-hole            | 16M  | 4 | P1_DIR_HOLE | $C $IMG inode /bigdir blk1 0 && $C $IMG inode /bigdir blocks 1
dirent-bad-reclen   | 16M  | 4 | P2_CHUNK_BAD | $C $IMG dirent / sym reclen 13
dirent-name-slash   | 16M  | 4 | P2_CHUNK_BAD | $C $IMG dirent / fifo name f/fo
dirent-free-inode   | 16M  | 4 | P2_DIRENT_FREE_INODE | $C $IMG dirent /dir2 a ino 300
dirent-bad-ino      | 16M  | 4 | P2_CHUNK_BAD|P2_DIRENT_BAD_INO | $C $IMG dirent /dir2 a ino 5
dirent-type         | 16M  | 4 | P2_DIRENT_TYPE | $C $IMG dirent / dir1 type 8
dir-chunk-crc       | 16M  | 4 | P2_CHUNK_CRC | $C $IMG xorbyte $(( $($C $IMG get / blk0) * 4096 + 4092 )) 1
dot-wrong           | 16M  | 4 | P2_CHUNK_BAD|P2_DOT_WRONG | $C $IMG dirent /dir1 . ino 2
dir-two-names       | 16M  | 4 | P2_DIR_MULTI_LINK | $C $IMG add-entry /dir2 alias $($C $IMG lookup /dir1) 4
dotdot-wrong        | 16M  | 4 | P3_DOTDOT_WRONG | $C $IMG dirent /dir1/sub .. ino 2
root-dotdot         | 16M  | 4 | P3_ROOT_DOTDOT | $C $IMG dirent / .. ino $($C $IMG lookup /dir1)
orphan-dir          | 16M  | 4 | P3_DIR_UNREACHABLE | $C $IMG unlink-entry / dir2
dir-loop            | 16M  | 4 | P3_DIR_LOOP | $C $IMG add-entry /loopa/loopb back $($C $IMG lookup /loopa) 4 && $C $IMG unlink-entry / loopa
no-lost-found       | 16M  | 4 | P3_NO_LOSTFOUND | $C $IMG unlink-entry / lost+found
lost-found-file     | 16M  | 4 | P3_LOSTFOUND_NOT_DIR | $C $IMG unlink-entry / lost+found && $C $IMG add-entry / lost+found $($C $IMG lookup /empty) 8
nlink-high          | 16M  | 4 | P4_NLINK_HIGH | $C $IMG inode /dir1/file2 nlink 5
nlink-low           | 16M  | 4 | P4_NLINK_LOW | $C $IMG inode /file1 nlink 1
dir-nlink-low       | 16M  | 4 | P4_NLINK_LOW | $C $IMG inode /dir1 nlink 2
orphan-file         | 16M  | 4 | P4_UNREFERENCED | $C $IMG unlink-entry / empty
orphan-list-ok      | 16M  | 0 | ^$ | i=$($C $IMG lookup /empty) && $C $IMG unlink-entry / empty && $C $IMG inode $i nlink 0 && $C $IMG inode $i flags 0x80000000 && $C $IMG sb orphan_head $i && $C $IMG sb state 2
orphan-list-clean   | 16M  | 4 | P4_ORPHAN_CLEAN | i=$($C $IMG lookup /empty) && $C $IMG unlink-entry / empty && $C $IMG inode $i nlink 0 && $C $IMG inode $i flags 0x80000000 && $C $IMG sb orphan_head $i
orphan-list-loop    | 16M  | 4 | P4_ORPHAN_LOOP | i=$($C $IMG lookup /empty) && $C $IMG unlink-entry / empty && $C $IMG inode $i nlink 0 && $C $IMG inode $i flags 0x80000000 && $C $IMG inode $i orphan_next $i && $C $IMG sb orphan_head $i && $C $IMG sb state 2
orphan-flag-stray   | 16M  | 4 | P4_ORPHAN_FLAG | $C $IMG inode /dir2/a flags 0x80000000
EOF
)

total=$(printf '%s\n' "$CASES" | grep -c .)
nmkfs=4
if [ -n "$ONLY" ]; then
	total=0
	nmkfs=0
	for w in $ONLY; do total=$((total + 1)); done
fi
echo "1..$((total + nmkfs))"

# mkfs checks first (skipped when cases are named).
tap() { # N NAME WHY
	if [ -z "$3" ]; then echo "ok $1 - $2"; else echo "not ok $1 - $2: $3"; fi
}
if [ "$nmkfs" -gt 0 ]; then
	why=""
	"$MKFS" -q -E -L det -s 32M "$TMP/a" && "$MKFS" -q -E -L det -s 32M "$TMP/b" &&
		cmp -s "$TMP/a" "$TMP/b" || why="two -E runs differ"
	tap 1 mkfs-deterministic "$why"
	why=""
	if "$MKFS" -q -s 32M "$TMP/a" >"$TMP/out" 2>&1; then
		why="formatted over a filesystem without -F"
	elif ! grep -q 'already contains a mapfs filesystem: use -F' "$TMP/out"; then
		why="no refusal message"
	elif ! "$MKFS" -q -F -s 32M "$TMP/a" >"$TMP/out" 2>&1; then
		why="-F refused"
	fi
	tap 2 mkfs-needs-F "$why"
	why=""
	"$MKFS" -n -s 32M "$TMP/dry" >/dev/null 2>&1 || why="dry run failed"
	[ -e "$TMP/dry" ] && why="dry run created the image"
	tap 3 mkfs-dry-run "$why"
	# An image locked exclusively (as the daemon does) is refused.
	why=""
	if ! command -v flock >/dev/null 2>&1; then
		echo "ok 4 - fsck-in-use # SKIP no flock(1)"
	else
		flock -x "$TMP/a" "$FSCK" -n -f "$TMP/a" >"$TMP/out" 2>&1
		rc=$?
		[ "$rc" = 8 ] || why="exit $rc, expected 8"
		grep -q 'image is in use' "$TMP/out" || why="$why; no message"
		tap 4 fsck-in-use "$why"
	fi
	rm -f "$TMP/a" "$TMP/b" "$TMP/dry"
fi
n=$nmkfs

trim() { printf '%s' "$1" | sed 's/^ *//; s/ *$//'; }

printf '%s\n' "$CASES" | while IFS='|' read -r name size want regex cmds; do
	# A regex may itself contain '|': everything after the fourth
	# field's last ' | ' separator is the command.
	name=$(trim "$name"); size=$(trim "$size"); want=$(trim "$want")
	rest="$regex|$cmds"
	regex=$(trim "${rest%% | *}")
	cmds=$(trim "${rest#* | }")
	if [ -n "$ONLY" ]; then
		case " $ONLY " in *" $name "*) ;; *) continue ;; esac
	fi
	n=$((n + 1))
	log=$TMP/$name.log
	rm -f "$IMG"
	why=""
	if ! "$MKFS" -q -E -s "$size" "$IMG" >"$log" 2>&1; then
		why="mkfs failed"
	elif ! "$C" "$IMG" populate >>"$log" 2>&1; then
		why="populate failed"
	elif ! "$FSCK" -n -f "$IMG" >>"$log" 2>&1; then
		why="fresh image not clean"
	elif ! (eval "$cmds") >>"$log" 2>&1; then
		why="corruption failed: $cmds"
	else
		fopt="-f"
		[ "$name" = clean-no-force ] && fopt=""
		"$FSCK" -n $fopt "$IMG" >"$TMP/out" 2>&1
		rc=$?
		cat "$TMP/out" >>"$log"
		codes=$(grep -o '\[P[0-9][A-Z0-9_]*\]' "$TMP/out" | tr -d '[]' |
			sort -u | tr '\n' ' ')
		if [ "$rc" != "$want" ]; then
			why="exit $rc, expected $want"
		elif [ "$regex" = "^\$" ] && [ -n "$codes" ]; then
			why="unexpected problems: $codes"
		elif [ "$regex" != "^\$" ] &&
		     ! printf '%s\n' $codes | grep -Eq "^($regex)\$"; then
			why="expected $regex, got: $codes"
		fi
		if [ "$name" = sb-bad-magic ] &&
		   ! grep -q 'using copy in group 1' "$TMP/out"; then
			why="no fallback message"
		fi
		[ -z "$why" ] && [ -n "$codes" ] && echo "# $name: $codes"
	fi
	if [ -z "$why" ]; then
		echo "ok $n - $name"
	else
		echo "not ok $n - $name: $why"
		sed 's/^/#   /' "$log"
	fi
done
