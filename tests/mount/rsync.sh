#!/bin/bash
# SPDX-License-Identifier: MIT
#
# rsync.sh MKFS FSCK MAPFS
#
# rsync -aAXH round trip: a tree on tmpfs with regular files (empty,
# small, 1 MiB, sparse), hard links across directories, symlinks
# (relative, absolute, dangling, long), a fifo, character and block
# devices, a socket, user. and trusted. xattrs (binary and 3000-byte
# values), access and default ACLs, odd modes (setuid, setgid, sticky,
# 0000), odd owners, and nanosecond mtimes on files, directories and
# symlinks, is copied onto mapfs with `rsync -aAXH --sparse`, and from
# there to a fresh directory. The three trees must give the same
# manifest (type, mode, owner, link count, size, rdev, mtime to the
# nanosecond, symlink target, content digest, hard-link groups), the
# same `getfacl` and `getfattr -d -m -` for every path; the sparse file
# must stay sparse on mapfs. Then remount and compare again; fsck clean.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
[ "$(id -u)" = 0 ] || skip "needs root (devices, owners, trusted.*)"
for t in rsync setfacl getfacl setfattr getfattr; do
	command -v $t >/dev/null 2>&1 || skip "$t is missing"
done

# A tmpfs for the source and the copy back (user xattrs need Linux 6.6
# on tmpfs); else the temp dir, if it takes user xattrs.
LOCAL="$T/local"
mkdir -p "$LOCAL"
if mount -t tmpfs -o size=256M,mode=755 mapfs-rsync "$LOCAL" 2>/dev/null; then
	MOUNTS+=("$LOCAL")	# lib_cleanup unmounts it on any exit
	touch "$LOCAL/probe"
	if ! setfattr -n user.probe -v 1 "$LOCAL/probe" 2>/dev/null; then
		umount "$LOCAL"
	fi
	rm -f "$LOCAL/probe"
fi
touch "$LOCAL/probe"
setfattr -n user.probe -v 1 "$LOCAL/probe" 2>/dev/null ||
	skip "no local filesystem with user xattrs for the source tree"
setfacl -m u:1234:r "$LOCAL/probe" 2>/dev/null ||
	skip "no local filesystem with ACLs for the source tree"
rm -f "$LOCAL/probe"
note "source and copy back on $(stat -f -c %T "$LOCAL")"

SRC="$LOCAL/src"
BACK="$LOCAL/back"
MNT="$T/mnt"
IMG="$T/rsync.img"

build_tree() {
	local s=$1
	mkdir -p "$s"/{a/b/c,d,acl/sub,x,sticky,sgid,empty}
	: > "$s/empty.f"
	printf 'hello\n' > "$s/a/small"
	head -c 1048576 /dev/urandom > "$s/a/b/big"
	head -c 12345 /dev/urandom > "$s/a/b/c/odd"
	# sparse: data at 0, 40 MiB and 100 MiB - 1
	printf 'start' | dd of="$s/sparse" conv=notrunc status=none
	printf 'middle' | dd of="$s/sparse" bs=1M seek=40 conv=notrunc \
		status=none
	truncate -s 100M "$s/sparse"
	printf 'E' | dd of="$s/sparse" bs=1 seek=$((100 * 1048576 - 1)) \
		conv=notrunc status=none
	truncate -s 8M "$s/allhole"
	# hard links, across directories
	printf 'linked\n' > "$s/a/h1"
	ln "$s/a/h1" "$s/d/h2"
	ln "$s/a/h1" "$s/a/b/h3"
	printf 'two\n' > "$s/x/l1"
	ln "$s/x/l1" "$s/x/l2"
	# symlinks
	ln -s small "$s/a/rel"
	ln -s /etc/passwd "$s/a/abs"
	ln -s nowhere/at/all "$s/a/dangling"
	ln -s "$(printf 'p%.0s/q' $(seq 100))" "$s/a/long"
	ln -s ../a "$s/d/updir"
	# specials
	mkfifo "$s/d/fifo"
	mknod "$s/d/chr" c 1 7
	mknod "$s/d/blk" b 259 70000
	python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" \
		"$s/d/sock" 2>/dev/null || true
	# modes and owners
	chmod 0000 "$s/x/l1"
	chmod 4755 "$s/a/small"
	chmod 2750 "$s/a/b/big"
	chmod 1777 "$s/sticky"
	chmod 2775 "$s/sgid"
	chmod 0444 "$s/empty.f"
	chmod 0700 "$s/a/b/c"
	chown 1234:5678 "$s/a/b/big" "$s/sgid"
	chown 65534:65534 "$s/a/b/c/odd"
	chown -h 4242:4343 "$s/a/rel"
	chown 0:5678 "$s/d/fifo"
	# xattrs
	setfattr -n user.text -v "plain value" "$s/a/small"
	setfattr -n user.bin -v 0x00ff10ee7f "$s/a/small"
	setfattr -n trusted.t -v "trusted value" "$s/a/small"
	setfattr -n user.big -v "$(head -c 3000 /dev/zero | tr '\0' z)" \
		"$s/a/b/c/odd"
	setfattr -n user.empty "$s/a/b/c/odd"
	setfattr -n user.dir -v d "$s/a/b"
	setfattr -n trusted.dir -v td "$s/d"
	setfattr -n trusted.onlink -v L "$s/a/abs" -h
	setfattr -n user.linked -v h "$s/d/h2"
	# ACLs: access on files and dirs, default on dirs
	setfacl -m u:1234:rwx,g:5678:r-x,m::rwx "$s/acl"
	setfacl -d -m u:1234:rwx,g::r-x,o::- "$s/acl"
	setfacl -d -m u:65534:r-x "$s/acl/sub"
	printf 'acl\n' > "$s/acl/file"
	setfacl -m u:1234:r--,u:65534:rw-,g:5678:---,m::rw- "$s/acl/file"
	setfacl -m u:4242:r "$s/a/b/c/odd"
	# times, deepest first so directories keep theirs. Everything gets
	# a past time first: rsync compares only whole seconds for symlinks
	# and specials, so one created in the same second as its source
	# would keep its own creation time.
	find "$s" ! -type d -exec touch -h -d @1300000000.700000007 {} +
	touch -h -d @1000000000.123456789 "$s/a/rel" "$s/a/dangling"
	touch -d @1234567890.987654321 "$s/a/small"
	touch -d @946684800.000000001 "$s/a/b/big"
	touch -d @4102444800.5 "$s/a/b/c/odd"
	touch -d @1.25 "$s/empty.f"
	touch -d @1600000000.111111111 "$s/sparse" "$s/d/fifo" "$s/d/chr"
	touch -d @1500000000.333333333 "$s/a/b/c" "$s/a/b" "$s/acl/sub" \
		"$s/acl" "$s/d" "$s/x" "$s/sticky" "$s/sgid" "$s/empty"
	touch -d @1400000000.444444444 "$s/a"
}

# One line per path, sorted; hard-link groups named by their first path.
manifest() {
	local dir=$1
	(
		cd "$dir" || exit 1
		find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do
			local typ fmt extra=""
			typ=$(stat -c %F "$p")
			if [ -L "$p" ]; then
				extra="-> $(readlink "$p")"
			elif [ -f "$p" ]; then
				extra=$(sha256sum < "$p" | cut -c1-16)
			fi
			# directory sizes are the filesystem's business
			if [ "$typ" = directory ]; then
				fmt="%n|%F|%a|%u:%g|%h|-|%t:%T|%.9Y|%i"
			else
				fmt="%n|%F|%a|%u:%g|%h|%s|%t:%T|%.9Y|%i"
			fi
			printf '%s|%s\n' "$(stat -c "$fmt" "$p")" "$extra"
		done | awk -F'|' -v OFS='|' '{
			if (!($9 in first)) first[$9] = $1
			$9 = ($5 > 1 && $2 != "directory") ? "link:" first[$9] : ""
			print }'
	)
}

acls_and_xattrs() {
	local dir=$1
	(
		cd "$dir" || exit 1
		find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do
			if [ ! -L "$p" ]; then
				getfacl -p "$p" 2>&1
			fi
			getfattr -h -d -m - -e hex "$p" 2>&1
		done
	)
}

compare() {
	local what=$1 a=$2 b=$3
	manifest "$a" > "$T/m.a"
	manifest "$b" > "$T/m.b"
	if ! diff -u "$T/m.a" "$T/m.b" > "$T/m.diff"; then
		cat "$T/m.diff"
		fail "$what: manifests differ"
	fi
	acls_and_xattrs "$a" > "$T/x.a"
	acls_and_xattrs "$b" > "$T/x.b"
	if ! diff -u "$T/x.a" "$T/x.b" > "$T/x.diff"; then
		cat "$T/x.diff"
		fail "$what: ACLs or xattrs differ"
	fi
	note "$what: identical ($(wc -l < "$T/m.a") paths," \
		"$(grep -c '^user\.\|^trusted\.' "$T/x.a") xattrs," \
		"$(grep -c '^user:[0-9]\|^default:' "$T/x.a") ACL entries)"
}

build_tree "$SRC"
[ "$(stat -c %h "$SRC/a/h1")" = 3 ] || fail "source tree: hard links"
make_image "$IMG" 512M
mount_fs "$IMG" "$MNT"

RSYNC=(rsync -aAXH --sparse --numeric-ids)
"${RSYNC[@]}" "$SRC/" "$MNT/copy/" > "$T/rsync1.out" 2>&1 || {
	cat "$T/rsync1.out"
	fail "rsync onto mapfs failed"
}
note "rsync -aAXH tmpfs -> mapfs done"
compare "source vs mapfs" "$SRC" "$MNT/copy"

# Holes stay holes: rsync --sparse writes only the data blocks.
blocks=$(stat -c %b "$MNT/copy/sparse")
[ "$blocks" -lt 1024 ] || fail "sparse file takes $blocks blocks on mapfs"
blocks=$(stat -c %b "$MNT/copy/allhole")
[ "$blocks" = 0 ] || fail "all-hole file takes $blocks blocks on mapfs"

"${RSYNC[@]}" "$MNT/copy/" "$BACK/" > "$T/rsync2.out" 2>&1 || {
	cat "$T/rsync2.out"
	fail "rsync back from mapfs failed"
}
note "rsync -aAXH mapfs -> local done"
compare "source vs copy back" "$SRC" "$BACK"

# A second rsync has nothing to transfer (times and sizes agree).
"${RSYNC[@]}" -i "$SRC/" "$MNT/copy/" > "$T/rsync3.out" 2>&1 ||
	fail "second rsync failed"
if grep -v '^\.d\.\.\.\.\.\.\.\.\. \./$' "$T/rsync3.out" | grep -q .; then
	cat "$T/rsync3.out"
	fail "second rsync found differences"
fi

unmount_and_fsck "$IMG" "$MNT"
mount_fs "$IMG" "$MNT"
compare "source vs mapfs after remount" "$SRC" "$MNT/copy"
unmount_and_fsck "$IMG" "$MNT"
note "rsync round trip identical, image clean"
exit 0
