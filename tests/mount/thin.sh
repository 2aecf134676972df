#!/bin/bash
# SPDX-License-Identifier: MIT
#
# thin.sh MKFS FSCK MAPFS MKTREE
#
# A sparse image stays thin (docs/DESIGN.md, "The host under the image"):
# a tree shaped like an unpacked node_modules (mktree: 1,500 directories,
# 3,000 small files, about 45 MB, du about 55 MiB) is written into a fresh
# 1 TiB image, and the image's host bytes (st_blocks * 512, what du(1)
# counts) must stay within
#
#     1.5 x the tree's du + the journal + 1 MiB
#
# The journal (31 MiB at 1 TiB) is reserved whole at mount. The 1 MiB
# covers what mkfs writes (128 KiB: group 0, superblock copies) and the
# header, bitmaps and first inode-table chunk of the two groups mkfs
# initializes (2 x 76 KiB); everything the tree itself costs (its blocks,
# its inodes' table pages at 512 bytes an inode, the headers of the few
# groups it fills, the data windows reserved ahead) must fit in the
# tree's du and the 50 % beside it. The image lives on a 512 MiB ext4
# filesystem (a loop device over a sparse file in the test's directory),
# like the hosts users keep their images on: where each directory took a
# group of its own and 5 MiB of host space (the allocator before this
# test), the tree cannot be written at all. Not on a tmpfs: a read fault
# on a hole of a tmpfs file allocates a page, so mkfs's check that each
# group's header and bitmaps are zero (12 KiB x 8,192 groups) and the
# mount's header reads fill 130 MB there before any file is written.
# Then fsck must find the image clean and a remount must read the tree
# back. Skips without mkfs.ext4 or loop devices. Prints TAP.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS MKTREE" "$@"
HOST=$T/host
MNT=$T/mnt
mkdir -p "$HOST"
command -v mkfs.ext4 > /dev/null 2>&1 || skip "mkfs.ext4 is missing"
truncate -s 512M "$T/host.ext4" || fail "truncate"
mkfs.ext4 -q -F "$T/host.ext4" > "$T/mkfs.ext4.out" 2>&1 ||
	{ cat "$T/mkfs.ext4.out"; fail "mkfs.ext4"; }
mount -o loop "$T/host.ext4" "$HOST" 2>/dev/null ||
	skip "cannot mount an ext4 image on a loop device here"
MOUNTS+=("$HOST")
IMG=$HOST/img

host_bytes() { du --block-size=1 "$IMG" | cut -f1; }

make_image "$IMG" 1T
jbytes=$("$MKFS" -n -s 1T "$T/dry.img" |
	sed -n 's/.*metadata journal: [0-9]* blocks (\([0-9]*\) KiB).*/\1/p')
[ -n "$jbytes" ] || fail "no journal size in mkfs -n's plan"
jbytes=$((jbytes * 1024))
mount_fs "$IMG" "$MNT"
if ! out=$("$MKTREE" "$MNT/node_modules" 1500 3000 7 2>&1); then
	note "mktree: $out"
	note "host bytes when it failed: $(host_bytes)"
	df -k "$HOST" | sed 's/^/# /'
	t "the tree fits in the image" 'false'
	unmount_and_show_fsck "$IMG" "$MNT"
	echo "1..$n"
	exit 1
fi
note "tree: $out"
tree_du=$(echo "$out" | awk '{ print $8 }')
find "$MNT/node_modules" -type f -name 'f1*.js' -size +1k | head -3 \
	> "$T/sample"
[ -s "$T/sample" ] || fail "no file to check in the tree"
xargs -d '\n' md5sum < "$T/sample" > "$T/sums" || fail "md5sum"
unmount_and_fsck "$IMG" "$MNT"
used=$(host_bytes)
limit=$((tree_du * 3 / 2 + jbytes + (1 << 20)))
note "host bytes $used, limit $limit (tree du $tree_du, journal $jbytes);" \
     "$(echo "scale=3; ($used - $jbytes) / $tree_du" | bc) x the tree beside the journal"
t "host bytes <= 1.5 x the tree's du + journal + 1 MiB" '[ "$used" -le "$limit" ]'
mount_fs "$IMG" "$MNT"
t "the tree reads back after a remount" \
	'[ "$(find "$MNT/node_modules" -type d | wc -l)" = 1500 ] &&
	 [ "$(find "$MNT/node_modules" -type f | wc -l)" = 3000 ] &&
	 (cd / && md5sum -c --quiet "$T/sums")'
unmount_and_fsck "$IMG" "$MNT"
echo "1..$n"
exit $FAILED
