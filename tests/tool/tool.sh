#!/bin/bash
# SPDX-License-Identifier: MIT
#
# tool.sh MKFS FSCK MAPFS TOOL DUMPFS
#
# mapfs-tool end to end, on small images, mostly without FUSE (what it is
# for); the checks against a real mount run only where FUSE works.
#   A. every verb: mkdir [-p], put, cat, stat, ls [-l] [-a], ln [-s],
#      chmod, chown, rm [-r], get; after each changing verb the image is
#      clean (dumpfs: State clean) and fsck.mapfs -n -f finds nothing;
#      results checked with other verbs, and byte for byte on the host;
#   B. put -r of a host tree with every kind of object (directories,
#      files, a sparse file, symlinks, hard links, a fifo, a socket,
#      device nodes, xattrs, POSIX ACLs, odd modes, owners, nanosecond times), then
#      get -r back: the two host trees are identical (rsync -aHAX
#      --numeric-ids -n lists nothing, and a manifest of every field),
#      holes stay holes, hard links stay links;
#   A2. the same through -o offset=,size= (a filesystem inside a file);
#   C. errors: messages naming the path, exit 1; usage errors exit 16;
#      an image that cannot be opened exit 8;
#   D. a mapfs-tool killed (SIGKILL) in the middle of put -r: fsck -n -f
#      is clean after the next open replays the journal, and that open
#      can change the image; repeated at several kill points;
#   E. (FUSE) the image made by A and B mounts and shows the same tree
#      (rsync against the get -r copy); while mounted, read-write or
#      read-only, every verb is refused with exit 8 and "mounted at".
. "$(dirname "$0")/../mount/lib.sh"

[ $# = 5 ] || { echo "usage: $0 MKFS FSCK MAPFS TOOL DUMPFS" >&2; exit 2; }
MKFS=$1 FSCK=$2 MAPFS=$3 TOOL=$4 DUMPFS=$5
for p in "$MKFS" "$FSCK" "$MAPFS" "$TOOL" "$DUMPFS"; do
	[ -x "$p" ] || fail "not an executable: $p"
done
T=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-tool.XXXXXX") || fail "mktemp failed"
chmod 755 "$T"
trap lib_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
IMG=$T/img
ROOT=$([ "$(id -u)" = 0 ] && echo 1 || echo 0)

tool() { "$TOOL" "$IMG" "$@"; }

# clean WHAT: the image is marked clean and fsck.mapfs -n -f is clean.
clean() {
	local rc
	"$FSCK" -n -f "$IMG" > "$T/fsck.out" 2>&1
	rc=$?
	if [ "$rc" != 0 ]; then
		cat "$T/fsck.out"
		t "fsck clean after $1" false
		return
	fi
	"$DUMPFS" -s "$IMG" > "$T/dumpfs.out" 2>&1
	t "fsck clean, image marked clean after $1" \
		"grep -Eq '^ *State +clean\$' '$T/dumpfs.out'"
}

# ok WHAT CMD...: CMD exits 0.
ok() {
	local what=$1
	shift
	"$@" > "$T/out" 2> "$T/err"
	local rc=$?
	[ $rc = 0 ] || { cat "$T/err"; }
	t "$what (exit $rc)" "[ $rc = 0 ]"
}

# fails WHAT RC PATTERN CMD...: CMD exits RC, stderr matches PATTERN.
fails() {
	local what=$1 want=$2 pat=$3
	shift 3
	"$@" > "$T/out" 2> "$T/err"
	local rc=$?
	t "$what: exit $rc (want $want): $(head -1 "$T/err")" \
		"[ $rc = $want ] && grep -q -- '$pat' '$T/err'"
}

# manifest DIR: every object's path, type, mode, owner, size, link
# count, mtime (ns), symlink target, content hash and xattrs.
manifest() {
	(cd "$1" && find . -printf '%P|%y|%m|%U:%G|%s|%n|%T@|%l\n' |
		grep -v '^|' | LC_ALL=C sort &&
		find . -type f -exec sha256sum {} + | LC_ALL=C sort &&
		getfattr -R -P -d -m - --absolute-names . 2>/dev/null |
		grep -v '^# file: \.$')
}

note "A. every verb on a fresh 64M image"
"$MKFS" -q -s 64M -L tooltest "$IMG" || fail "mkfs failed"
ok "ls /" tool ls /
t "ls / shows lost+found" "grep -qx lost+found '$T/out'"
ok "mkdir /a" tool mkdir /a
clean "mkdir"
ok "mkdir -p /a/b/c/d" tool mkdir -p /a/b/c/d
clean "mkdir -p"
ok "mkdir -p on existing" tool mkdir -p /a/b
ok "ls /a/b" tool ls /a/b
t "ls /a/b is c" "[ \"\$(cat '$T/out')\" = c ]"
head -c 300000 /dev/urandom > "$T/rand"
ok "put file into a directory" tool put "$T/rand" /a
clean "put"
ok "cat /a/rand" tool cat /a/rand
t "cat gives the bytes put" "cmp -s '$T/out' '$T/rand'"
ok "put file as a name" tool put "$T/rand" /a/b/copy
ok "get file" tool get /a/b/copy "$T/got"
t "get gives the bytes put" "cmp -s '$T/got' '$T/rand'"
ok "stat /a/rand" tool stat /a/rand
t "stat: size, type, links" "grep -q '^size: *300000\$' '$T/out' &&
	grep -q '^type: *regular file\$' '$T/out' &&
	grep -q '^links: *1\$' '$T/out'"
t "stat: times with nanoseconds, generation, flags" \
	"grep -Eq '^mtime: .*\.[0-9]{9} UTC' '$T/out' &&
	grep -Eq '^btime: ' '$T/out' && grep -q '^generation: ' '$T/out' &&
	grep -q '^flags: ' '$T/out'"
ok "ln (hard)" tool ln /a/rand /a/hard
clean "ln"
ok "stat after ln" tool stat /a/rand
t "link count 2 after ln" "grep -q '^links: *2\$' '$T/out'"
ok "ln -s" tool ln -s b/copy /a/sym
clean "ln -s"
ok "cat through a symlink" tool cat /a/sym
t "cat /a/sym follows it" "cmp -s '$T/out' '$T/rand'"
ok "ls -l /a" tool ls -l /a
t "ls -l shows the symlink target" "grep -q ' sym -> b/copy\$' '$T/out'"
t "ls -l shows the link count" "grep -Eq '^-rw.* 2 .* hard\$' '$T/out'"
ok "ls -a /a" tool ls -a /a
t "ls -a lists . and .." "grep -qx '\\.' '$T/out' && grep -qx '\\.\\.' '$T/out'"
ok "chmod 4751" tool chmod 4751 /a/rand
clean "chmod"
ok "stat after chmod" tool stat /a/hard
t "mode 4751 after chmod" "grep -q '^mode: *4751 (-rwsr-x--x)\$' '$T/out'"
ok "chown 1234:5678" tool chown 1234:5678 /a/b
clean "chown"
ok "chown 42 (uid only)" tool chown 42 /a/b
ok "stat after chown" tool stat /a/b
t "owner 42:5678 after chown" "grep -q '^uid: *42\$' '$T/out' &&
	grep -q '^gid: *5678\$' '$T/out'"
ok "rm a file" tool rm /a/hard
clean "rm"
fails "rm of a non-empty directory" 1 "/a/b: Directory not empty" \
	tool rm /a/b
ok "rm of an empty directory" tool rm /a/b/c/d
ok "rm -r" tool rm -r /a/b
clean "rm -r"
ok "ls /a after rm" tool ls /a
t "ls /a is rand and sym" "[ \"\$(tr '\n' ' ' < '$T/out')\" = 'rand sym ' ]"

note "C. errors"
fails "cat of a missing file" 1 "/nope: No such file or directory" \
	tool cat /nope
fails "mkdir of an existing name" 1 "/a: File exists" tool mkdir /a
fails "cat of a directory" 1 "/a: Is a directory" tool cat /a
fails "ls through a file" 1 "/a/rand/x: Not a directory" tool ls /a/rand/x
fails "chmod with a bad mode" 16 "not an octal mode" tool chmod 9z /a
fails "unknown verb" 16 "unknown verb" tool frobnicate /
fails "missing operand" 16 "missing operands" tool ln /a
fails "unknown option" 16 "unknown option" tool ls -q /
fails "not an image" 8 "cannot open" "$TOOL" "$T/rand" ls /
fails "no such image" 8 "cannot open" "$TOOL" "$T/none" ls /
clean "errors"

note "A2. a filesystem inside a larger file (-o offset=,size=)"
truncate -s 100M "$T/part.img"
"$MKFS" -q -o offset=16M,size=48M "$T/part.img" || fail "mkfs -o failed"
ok "put at an offset" "$TOOL" -o offset=16M,size=48M "$T/part.img" \
	put "$T/rand" /r
ok "cat at an offset" "$TOOL" -o offset=16M,size=48M "$T/part.img" cat /r
t "cat at an offset gives the bytes put" "cmp -s '$T/out' '$T/rand'"
"$FSCK" -n -f -o offset=16M,size=48M "$T/part.img" > "$T/fsck.out" 2>&1
t "fsck -o offset clean after put" "[ $? = 0 ]"
t "nothing written before the offset" \
	"cmp -s -n 16777216 '$T/part.img' /dev/zero"
fails "a bad offset is a usage error" 16 "not a multiple of 4096" \
	"$TOOL" -o offset=3 "$T/part.img" ls /
rm -f "$T/part.img"

note "B. put -r and get -r of a tree with every kind of object"
SRC=$T/src
mkdir -p "$SRC/dir/sub/deep" "$SRC/empty"
head -c 123457 /dev/urandom > "$SRC/dir/file"
echo small > "$SRC/dir/sub/small"
: > "$SRC/dir/zero"
truncate -s 20M "$SRC/dir/sparse"
echo middle | dd of="$SRC/dir/sparse" bs=1 seek=9000000 conv=notrunc \
	status=none
ln "$SRC/dir/file" "$SRC/dir/sub/hardlink"
ln "$SRC/dir/file" "$SRC/hard2"
ln -s ../file "$SRC/dir/sub/rel"
ln -s /no/such/target "$SRC/dangling"
mkdir "$SRC/links"
for i in $(seq 1 40); do
	echo "$i" > "$SRC/links/a$i"
	ln "$SRC/links/a$i" "$SRC/links/b$i"
done
mkfifo "$SRC/dir/fifo"
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" \
	"$SRC/dir/sock" 2>/dev/null || note "no socket made"
if [ "$ROOT" = 1 ]; then
	mknod "$SRC/dir/chr" c 1 3
	mknod "$SRC/dir/blk" b 7 200
	chown 1234:5678 "$SRC/dir/file"
	chown -h 99:98 "$SRC/dir/sub/rel"
	chown 4321:8765 "$SRC/dir/sub"
fi
chmod 2751 "$SRC/dir/sub"
chmod 1777 "$SRC/empty"
chmod 0604 "$SRC/dir/sub/small"
XATTR=0
if setfattr -n user.tool -v value "$SRC/dir/file" 2>/dev/null; then
	XATTR=1
	setfattr -n user.dir -v 0xdeadbeef "$SRC/dir/sub"
fi
if command -v setfacl > /dev/null &&
   setfacl -m u:1234:rx "$SRC/dir/sub/small" 2>/dev/null; then
	setfacl -d -m g:5678:rwx "$SRC/empty"
else
	note "no ACLs on the host"
fi
touch -h -d '2001-02-03 04:05:06.123456789' "$SRC/dir/sub/rel"
touch -d '2011-12-13 14:15:16.987654321' "$SRC/dir/sub/small" \
	"$SRC/dir/sub/deep" "$SRC/dir/sub" "$SRC/empty"
touch -d '1999-09-09 09:09:09.5' "$SRC/dir" "$SRC"
ok "put -r" tool put -r "$SRC" /tree
clean "put -r"
ok "ls /tree" tool ls /tree
t "put -r made /tree with the source's entries" \
	"[ \"\$(tr '\n' ' ' < '$T/out')\" = 'dangling dir empty hard2 links ' ]"
ok "stat the sparse file" tool stat /tree/dir/sparse
t "the sparse file is sparse in the image (<= 4 blocks)" \
	"[ \$(sed -n 's/^blocks: *\([0-9]*\) .*/\1/p' '$T/out') -le 4 ]"
ok "get -r" tool get -r /tree "$T/back"
t "get -r made the tree" "[ -d '$T/back/dir/sub/deep' ]"
if [ "$ROOT" = 0 ]; then
	# As a user, get -r cannot give files away: compare without owners.
	RS_OWN=(--no-owner --no-group)
else
	RS_OWN=()
fi
rsync -aHAXn --numeric-ids -i --delete "${RS_OWN[@]}" "$SRC/" \
	"$T/back/" > "$T/rsync.out" 2>&1
t "rsync -aHAXn: nothing to transfer src -> back ($(head -3 "$T/rsync.out" | tr '\n' ' '))" \
	"[ ! -s '$T/rsync.out' ]"
if [ "$ROOT" = 1 ]; then
	manifest "$SRC" > "$T/m.src"
	manifest "$T/back" > "$T/m.back"
	diff "$T/m.src" "$T/m.back" > "$T/m.diff"
	t "manifest (modes, owners, links, ns mtimes, xattrs) identical" \
		"[ ! -s '$T/m.diff' ]" || head -20 "$T/m.diff"
fi
t "hard links stay links" \
	"[ \$(stat -c %h '$T/back/dir/file') = 3 ] &&
	[ '$T/back/dir/file' -ef '$T/back/hard2' ]"
LINKED=0
for i in $(seq 1 40); do
	[ "$T/back/links/a$i" -ef "$T/back/links/b$i" ] &&
		LINKED=$((LINKED + 1))
done
t "40 hard-linked pairs stay pairs ($LINKED)" "[ $LINKED = 40 ]"
if command -v valgrind > /dev/null; then
	# The hard-link table (tsearch) read a key before it was set.
	valgrind -q --error-exitcode=9 "$TOOL" "$IMG" get -r /tree/links \
		"$T/vg" > "$T/vg.out" 2>&1
	rc=$?
	[ $rc = 0 ] || head -20 "$T/vg.out"
	t "get -r of hard links under valgrind: no error (exit $rc)" \
		"[ $rc = 0 ]"
else
	note "no valgrind: the memory check of get -r is skipped"
fi
t "holes stay holes (sparse file <= 64K on the host)" \
	"[ \$(du -k '$T/back/dir/sparse' | cut -f1) -le 64 ]"
t "sparse file content" "cmp -s '$SRC/dir/sparse' '$T/back/dir/sparse'"
[ "$XATTR" = 1 ] && t "xattr copied in and out" \
	"[ \"\$(getfattr --only-values -n user.tool '$T/back/dir/file')\" = value ]"
ok "get -r of a subtree into an existing directory" \
	tool get -r /tree/dir/sub "$T/back"
t "the subtree lands under its name" "cmp -s '$SRC/dir/sub/small' '$T/back/sub/small'"
mkdir -p "$T/more/dir"
echo new > "$T/more/dir/newfile"
ok "put -r into an existing directory (merge)" tool put -r "$T/more/dir" /tree
clean "put -r merge"
ok "cat a merged file" tool cat /tree/dir/newfile
t "the merged file is there" "[ \"\$(cat '$T/out')\" = new ]"
ok "ls after the merge" tool ls /tree/dir
t "the merge kept what was there" "grep -qx sparse '$T/out'"
fails "put -r of a name that exists as a file" 1 "File exists" \
	tool put -r "$T/more/dir/newfile" /tree/dir
fails "put onto an existing file" 1 "File exists" \
	tool put "$T/rand" /a/rand

ok "get -r / (the whole image)" tool get -r / "$T/all"

note "D. SIGKILL in the middle of put -r"
BIG=$T/big
mkdir -p "$BIG"
for i in $(seq 1 16); do
	mkdir -p "$BIG/d$i"
	for j in $(seq 1 250); do
		echo "file $i $j" > "$BIG/d$i/f$j"
	done
	head -c 2000000 /dev/urandom > "$BIG/d$i/big"
done
KILLS=${MAPFS_TOOL_KILLS:-5} MIDWAY=0
[ "$KILLS" -le 6 ] || KILLS=6
for k in $(seq 1 "$KILLS"); do
	"$MKFS" -q -s 128M "$IMG.k" || fail "mkfs failed"
	"$TOOL" "$IMG.k" put -r "$BIG" /big > /dev/null 2>&1 &
	pid=$!
	sleep "0.$((k * 15))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	st=$("$DUMPFS" -s "$IMG.k" 2>/dev/null |
		sed -n 's/^ *State *//p')
	note "kill $k after 0.$((k * 15)) s: image state '$st'"
	[ "$st" = clean ] || MIDWAY=$((MIDWAY + 1))
	"$FSCK" -n -f "$IMG.k" > "$T/fsck.out" 2>&1
	rc=$?
	[ $rc = 0 ] || cat "$T/fsck.out"
	t "kill $k: fsck -n -f (replaying in memory) clean (exit $rc)" \
		"[ $rc = 0 ]"
	"$TOOL" "$IMG.k" mkdir /after > "$T/out" 2>&1
	rc=$?
	[ $rc = 0 ] || cat "$T/out"
	t "kill $k: the next open replays and changes the image" "[ $rc = 0 ]"
	note "kill $k: $(grep -c . "$T/out") lines from the replaying open: $(head -1 "$T/out"); /big has $("$TOOL" "$IMG.k" ls /big 2>/dev/null | wc -l) of 16 directories"
	"$FSCK" -n -f "$IMG.k" > "$T/fsck.out" 2>&1
	rc=$?
	[ $rc = 0 ] || cat "$T/fsck.out"
	t "kill $k: fsck -n -f clean after the replay (exit $rc)" "[ $rc = 0 ]"
	"$DUMPFS" -s "$IMG.k" > "$T/dumpfs.out" 2>&1
	t "kill $k: image marked clean" \
		"grep -Eq '^ *State +clean\$' '$T/dumpfs.out'"
	rm -f "$IMG.k"
done

t "at least one kill landed in the middle of put -r ($MIDWAY)" \
	"[ $MIDWAY -ge 1 ]"

note "E. against a real mount"
if ! [ -c /dev/fuse ] || ! command -v fusermount3 > /dev/null ||
   { [ "$ROOT" = 0 ] && ! [ -w /dev/fuse ]; }; then
	note "SKIP E: no usable FUSE here"
else
	MNT=$T/mnt
	mkdir -p "$MNT"
	mount_fs "$IMG" "$MNT"
	rsync -aHAXn --numeric-ids -i --delete "${RS_OWN[@]}" "$MNT/" \
		"$T/all/" > "$T/rsync.out" 2>&1
	t "the mount equals get -r / ($(head -3 "$T/rsync.out" | tr '\n' ' '))" \
		"[ ! -s '$T/rsync.out' ]"
	t "the mounted /a/rand is the file put" "cmp -s '$MNT/a/rand' '$T/rand'"
	for v in "ls /" "cat /a/rand" "stat /a" "mkdir /m" "rm /a/sym"; do
		# shellcheck disable=SC2086
		fails "$v refused while mounted" 8 "mounted at $MNT" tool $v
	done
	unmount_and_fsck "$IMG" "$MNT"
	mount_fs "$IMG" "$MNT" -o ro
	fails "ls refused while mounted read-only" 8 "mounted at $MNT" tool ls /
	fails "mkdir refused while mounted read-only" 8 "mounted at $MNT" \
		tool mkdir /m
	unmount_and_fsck "$IMG" "$MNT"
	ok "after the unmount the tool works again" tool ls /a
fi

echo "1..$n"
exit $FAILED
