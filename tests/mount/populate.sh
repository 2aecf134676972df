#!/bin/bash
# SPDX-License-Identifier: MIT
#
# populate.sh MKFS FSCK MAPFS
#
# mkfs.mapfs -d DIR (fs/populate.c): a source tree with every kind of
# object (regular files, a sparse file with a 4 MiB hole and one ending
# in a hole, hard links across directories, symlinks, an empty
# directory, a fifo, a socket, character and block devices and odd
# owners when run as root, setuid/setgid/sticky modes, user. xattrs,
# trusted. ones as root, access and default ACLs, nanosecond atimes and
# mtimes, attributes on DIR itself) is copied into a fresh image, which
# must be fsck clean, mount, and show nothing to transfer to
# `rsync -aAXHn --numeric-ids --itemize-changes SRC/ MNT/`; a manifest
# (type, mode, owner, links, size, rdev, mtime and atime to the
# nanosecond) must match; the sparse files must stay sparse. Then:
# two runs of `mkfs.mapfs -E -d` give byte-identical images (cmp); -r
# 0:0 gives everything to root; as root, uid 65534 runs mkfs.mapfs -d
# on an image file it owns, from a tree it owns, and the copy is right.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
for c in rsync setfattr getfattr; do
	command -v $c >/dev/null 2>&1 || skip "$c is missing"
done
ROOT=0
[ "$(id -u)" = 0 ] && ROOT=1

# The source on a tmpfs (user xattrs need Linux 6.6 there) when root can
# mount one, else in the temp dir if it takes user xattrs.
LOCAL="$T/local"
mkdir -p "$LOCAL"
if [ $ROOT = 1 ] &&
   mount -t tmpfs -o size=64M,mode=755 mapfs-populate "$LOCAL" 2>/dev/null
then
	MOUNTS+=("$LOCAL")	# lib_cleanup unmounts it on any exit
	touch "$LOCAL/probe"
	setfattr -n user.probe -v 1 "$LOCAL/probe" 2>/dev/null ||
		umount "$LOCAL"
	rm -f "$LOCAL/probe"
fi
touch "$LOCAL/probe"
setfattr -n user.probe -v 1 "$LOCAL/probe" 2>/dev/null ||
	skip "no local filesystem with user xattrs for the source tree"
ACL=0
if command -v setfacl >/dev/null 2>&1 &&
   setfacl -m u:1234:r "$LOCAL/probe" 2>/dev/null; then
	ACL=1
else
	note "no ACLs here: that part is left out"
fi
rm -f "$LOCAL/probe"
[ $ROOT = 1 ] || note "not root: devices, owners and trusted.* left out"

SRC="$LOCAL/src"
MNT="$T/mnt"
IMG="$T/pop.img"

build_tree() {
	local s=$1
	mkdir -p "$s"/{a/b/c,d,empty,sticky,sgid,acl/sub}
	: > "$s/empty.f"
	printf 'hello\n' > "$s/a/small"
	head -c 300000 /dev/urandom > "$s/a/b/big"
	# sparse: 4 KiB of data, a 4 MiB hole, 4 KiB; and one ending in a hole
	head -c 4096 /dev/urandom > "$s/sparse"
	head -c 4096 /dev/urandom |
		dd of="$s/sparse" bs=4096 seek=1025 conv=notrunc status=none
	printf 'head' > "$s/tailhole"
	truncate -s 3M "$s/tailhole"
	# hard links, across directories
	printf 'linked\n' > "$s/a/h1"
	ln "$s/a/h1" "$s/d/h2"
	ln "$s/a/h1" "$s/a/b/h3"
	# symlinks
	ln -s small "$s/a/rel"
	ln -s /etc/passwd "$s/a/abs"
	ln -s "$(printf 'p%.0s/q' $(seq 60))" "$s/a/long"
	# specials
	mkfifo "$s/d/fifo"
	python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" \
		"$s/d/sock" || fail "cannot make a socket"
	if [ $ROOT = 1 ]; then
		mknod "$s/d/chr" c 1 7
		mknod "$s/d/blk" b 259 70000
		chown 1234:5678 "$s/a/b/big" "$s/sgid"
		chown -h 4242:4343 "$s/a/rel"
		chown 0:5678 "$s/d/fifo"
		setfattr -n trusted.t -v "trusted value" "$s/a/small"
		setfattr -n trusted.dir -v td "$s/d"
	fi
	# modes
	chmod 4755 "$s/a/small"
	chmod 2750 "$s/a/b/big"
	chmod 1777 "$s/sticky"
	chmod 2775 "$s/sgid"
	chmod 0444 "$s/empty.f"
	chmod 0700 "$s/a/b/c"
	# xattrs, the source directory's own too
	setfattr -n user.text -v "plain value" "$s/a/small"
	setfattr -n user.bin -v 0x00ff10ee7f "$s/a/small"
	setfattr -n user.big -v "$(head -c 3000 /dev/zero | tr '\0' z)" \
		"$s/a/b/big"
	setfattr -n user.empty "$s/empty.f"
	setfattr -n user.linked -v h "$s/d/h2"
	setfattr -n user.top -v root-of-tree "$s"
	if [ $ACL = 1 ]; then
		setfacl -m u:1234:rwx,g:5678:r-x,m::rwx "$s/acl"
		setfacl -d -m u:1234:rwx,g::r-x,o::- "$s/acl"
		setfacl -d -m u:65534:r-x "$s/acl/sub"
		printf 'acl\n' > "$s/acl/file"
		setfacl -m u:1234:r--,g:5678:---,m::rw- "$s/acl/file"
	fi
	# times to the nanosecond, directories last
	find "$s" ! -type d -exec touch -h -d @1300000000.700000007 {} +
	touch -h -a -d @1100000000.000000123 "$s/a/small"
	touch -h -m -d @1234567890.987654321 "$s/a/small"
	touch -h -d @1000000000.123456789 "$s/a/rel"
	touch -d @4102444800.5 "$s/a/b/big"
	touch -d @1600000000.111111111 "$s/sparse" "$s/d/fifo"
	find "$s" -type d -exec touch -d @1500000000.333333333 {} +
	touch -d @1400000000.444444444 "$s/a" "$s"
	chmod 0750 "$s"
}

# One line per path: type, mode, owner, links, rdev, mtime (with
# nanoseconds), and for all but directories size and atime (a
# directory's size is the filesystem's own; reading it moves its atime);
# lost+found (the image's own) left out.
manifest() {
	(cd "$1" && find . -path ./lost+found -prune -o -printf '%p\n' |
		LC_ALL=C sort | while IFS= read -r p; do
			if [ -d "$p" ] && ! [ -L "$p" ]; then
				stat -c "%n %F %a %u:%g %h %t:%T %.9Y" "$p"
			else
				stat -c "%n %F %a %u:%g %h %t:%T %.9Y %s %.9X" "$p"
			fi
		done)
}

build_tree "$SRC"
# the image's root also holds lost+found: one link more
manifest "$SRC" | awk '$1 == "." { $5 = $5 + 1 } { print }' \
	> "$T/src.manifest"

# 1. The copy: fsck clean, mounts, nothing for rsync to transfer.
"$MKFS" -s 64M -d "$SRC" "$IMG" > "$T/mkfs.out" 2>&1 || {
	cat "$T/mkfs.out"; fail "mkfs.mapfs -d failed"; }
sed 's/^/# /' "$T/mkfs.out" | tail -1
"$FSCK" -n -f "$IMG" > "$T/fsck.out" 2>&1 || {
	cat "$T/fsck.out"; fail "fsck.mapfs -n -f after mkfs.mapfs -d"; }
mount_fs "$IMG" "$MNT"
# atimes first, before anything reads through the mount
manifest "$MNT" > "$T/mnt.manifest"
t "manifest (types, modes, owners, links, sizes, rdev, ns times)" \
	'diff "$T/src.manifest" "$T/mnt.manifest"'
rsync -aAXHn --numeric-ids --itemize-changes "$SRC/" "$MNT/" \
	> "$T/rsync.out" 2>&1
rc=$?
t "rsync -aAXHn: exit 0 (got $rc)" '[ $rc = 0 ]'
t "rsync -aAXHn: nothing to transfer" '! [ -s "$T/rsync.out" ]'
sed 's/^/# rsync: /' "$T/rsync.out" | head -20
blocks=$(stat -c %b "$MNT/sparse")
t "sparse file stays sparse ($blocks blocks of 512)" '[ "$blocks" -le 64 ]'
blocks=$(stat -c %b "$MNT/tailhole")
t "file ending in a hole stays sparse ($blocks)" '[ "$blocks" -le 16 ]'
t "sparse contents" 'cmp -s "$SRC/sparse" "$MNT/sparse"'
t "big contents" 'cmp -s "$SRC/a/b/big" "$MNT/a/b/big"'
t "hard link count 3" '[ "$(stat -c %h "$MNT/d/h2")" = 3 ]'
t "hard links share the inode" \
	'[ "$(stat -c %i "$MNT/a/h1")" = "$(stat -c %i "$MNT/a/b/h3")" ]'
t "root takes DIR's xattr" \
	'[ "$(getfattr --only-values -n user.top "$MNT" 2>/dev/null)" = root-of-tree ]'
t "root takes DIR's mode" '[ "$(stat -c %a "$MNT")" = 750 ]'
unmount_and_fsck "$IMG" "$MNT"

# 2. Deterministic: two runs with -E give the same bytes.
"$MKFS" -q -E -s 64M -d "$SRC" "$T/e1.img" > "$T/e1.out" 2>&1 ||
	{ cat "$T/e1.out"; fail "mkfs.mapfs -E -d (1)"; }
sleep 1.1	# a leak of the clock would show
"$MKFS" -q -E -s 64M -d "$SRC" "$T/e2.img" > "$T/e2.out" 2>&1 ||
	{ cat "$T/e2.out"; fail "mkfs.mapfs -E -d (2)"; }
t "mkfs.mapfs -E -d twice: identical images" 'cmp "$T/e1.img" "$T/e2.img"'
"$FSCK" -n -f "$T/e1.img" > "$T/fsck.out" 2>&1
rc=$?
t "fsck of the -E image clean" '[ $rc = 0 ]'
rm -f "$T/e1.img" "$T/e2.img"

# 3. -r 0:0: every copied object owned by root.
"$MKFS" -q -s 64M -r 0:0 -d "$SRC" "$IMG" -F > "$T/mkfs.out" 2>&1 || {
	cat "$T/mkfs.out"; fail "mkfs.mapfs -r 0:0 -d failed"; }
mount_fs "$IMG" "$MNT"
others=$(find "$MNT" \( ! -uid 0 -o ! -gid 0 \) -printf '%p ' | head -c 300)
t "-r 0:0: all owned by 0:0 ($others)" '[ -z "$others" ]'
t "-r 0:0 keeps setuid" '[ "$(stat -c %a "$MNT/a/small")" = 4755 ]'
unmount_and_fsck "$IMG" "$MNT"

# 4. An ordinary user: uid 65534 on an image file and a tree it owns.
if [ $ROOT = 1 ] && command -v setpriv >/dev/null 2>&1; then
	U="$T/user"
	mkdir -p "$U/tree/sub"
	printf 'mine\n' > "$U/tree/sub/f"
	ln -s f "$U/tree/sub/l"
	truncate -s 2M "$U/tree/holey"
	setfattr -n user.u -v 1 "$U/tree/sub/f" 2>/dev/null || true
	touch -d @1500000000.5 "$U/tree/sub/f"
	chown -R 65534:65534 "$U"
	chmod 700 "$U"
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		env -i PATH=/usr/bin:/bin "$MKFS" -q -s 32M -d "$U/tree" \
		"$U/u.img" > "$T/user.out" 2>&1
	rc=$?
	sed 's/^/# user: /' "$T/user.out"
	t "mkfs.mapfs -d as uid 65534: exit 0 (got $rc)" '[ $rc = 0 ]'
	mount_fs "$U/u.img" "$MNT"
	rsync -aAXHn --numeric-ids --itemize-changes "$U/tree/" "$MNT/" \
		> "$T/rsync.out" 2>&1
	rc=$?
	t "as uid 65534: nothing to transfer (exit $rc)" \
		'[ $rc = 0 ] && ! [ -s "$T/rsync.out" ]'
	sed 's/^/# rsync: /' "$T/rsync.out" | head -10
	t "as uid 65534: owner kept" \
		'[ "$(stat -c %u:%g "$MNT/sub/f")" = 65534:65534 ]'
	unmount_and_fsck "$U/u.img" "$MNT"
	# a file the user cannot read: exit 1 naming it, the image not clean
	printf 'no\n' > "$U/tree/secret"
	chown 65534:65534 "$U/tree/secret"
	chmod 000 "$U/tree/secret"
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		env -i PATH=/usr/bin:/bin "$MKFS" -q -s 32M -F -d "$U/tree" \
		"$U/u.img" > "$T/user.out" 2>&1
	rc=$?
	sed 's/^/# user: /' "$T/user.out"
	t "unreadable file: exit 1 (got $rc)" '[ $rc = 1 ]'
	t "unreadable file: named" \
		'grep -q "tree/secret: open: Permission denied" "$T/user.out"'
	"$FSCK" -n "$U/u.img" > "$T/fsck.out" 2>&1
	t "unreadable file: the image is not marked clean" \
		'grep -q "not cleanly unmounted" "$T/fsck.out"'
else
	note "not root (or no setpriv): the run as another user is left out"
fi

echo "1..$n"
exit $FAILED
