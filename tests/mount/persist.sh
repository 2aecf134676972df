#!/bin/bash
# SPDX-License-Identifier: MIT
#
# persist.sh MKFS FSCK MAPFS
#
# "Done means": build a varied tree on a 512M image (random files with
# checksums, directories, hard links, symlinks of 5, 1000 and 4095
# bytes, a fifo, device nodes, chmod/chown'd files, truncated files,
# nanosecond timestamps, a sparse file with a byte at 5 GiB, a directory
# renamed across directories, 3000 files in one directory), record a
# manifest, unmount, fsck -n -f must be clean, remount and compare the
# manifest bit for bit, unmount and fsck again; then mount read-only:
# same manifest, every kind of write fails with EROFS, and the image is
# not modified at all.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
IMG=$T/persist.img
MNT=$T/mnt
ROOT=0
[ "$(id -u)" = 0 ] && ROOT=1
SPARSE_OFF=$((5 * 1024 * 1024 * 1024))

populate() {
	set -e
	cd "$1"
	umask 022
	mkdir -p data/d1/d2/d3 data/empty moved/src/inner dest many
	for sz in 0 1 100 4095 4096 4097 65536 100000 1048576 3000000 \
		  12345678; do
		head -c "$sz" /dev/urandom > "data/rand.$sz"
	done
	head -c 70000 /dev/urandom > data/d1/d2/d3/deep
	ln data/rand.4097 data/d1/hard1
	ln data/rand.4097 data/d1/d2/hard2
	ln -s rand.1 data/sym.short
	ln -s ../rand.100 data/d1/sym.rel
	ln -s "$(head -c 1000 < <(yes 'abcdefghi/' | tr -d '\n'))" \
		data/sym.1000
	ln -s "$(head -c 4095 < <(yes 'jklmnopqr/' | tr -d '\n'))" \
		data/sym.4095
	ln -s dangling-target data/sym.dangling
	mkfifo data/fifo
	head -c 3000 /dev/urandom > data/owned
	head -c 3000 /dev/urandom > data/suid
	chmod 0640 data/owned
	mkdir data/sticky data/sgid
	chmod 1777 data/sticky
	if [ "$ROOT" = 1 ]; then
		chown 1234:5678 data/owned
		chown 4321:8765 data/suid
		chown :1234 data/sgid
		mknod data/chr c 1 3
		mknod data/blk b 8 1
		mknod data/chr-big c 259 65539
	fi
	chmod 4755 data/suid
	chmod 2775 data/sgid
	: > data/sgid/inherits
	chmod 0 data/empty
	head -c 200000 /dev/urandom > data/trunc.down
	truncate -s 5000 data/trunc.down
	head -c 5000 /dev/urandom > data/trunc.up
	truncate -s 70000 data/trunc.up
	truncate -s 4097 data/rand.12345678
	printf Z | dd of=data/sparse bs=1 seek="$SPARSE_OFF" conv=notrunc \
		status=none
	# a directory renamed across directories, with content
	head -c 5000 /dev/urandom > moved/src/inner/file
	mkdir moved/src/inner/sub
	mv moved/src dest/renamed
	# 3000 files in one directory (and some deleted, some subdirs)
	for ((i = 0; i < 3000; i++)); do
		echo "file $i" > "many/f$i"
	done
	for ((i = 0; i < 3000; i += 7)); do rm "many/f$i"; done
	for ((i = 0; i < 50; i++)); do mkdir "many/dir$i"; done
	# unlinked-while-open file: gone after close
	exec 9> data/orphan
	echo orphan >&9
	rm data/orphan
	exec 9>&-
	# nanosecond times, set last so nothing changes them afterwards
	touch -h -d '2001-02-03 04:05:06.123456789' data/rand.100
	touch -m -d '1999-12-31 23:59:59.999999999' data/rand.4096
	touch -a -d '2038-01-19 03:14:08.000000001' data/rand.4096
	touch -h -d '2022-02-22 22:22:22.222222222' data/sym.short
	touch -d '2010-10-10 10:10:10.101010101' data/d1/d2/d3
	touch -d '1970-01-01 00:00:00.5' data/fifo
	sync
}

# Everything that must survive a remount, sorted; atime only for one file
# whose atime is in the future (relatime never moves it), printed before
# anything reads it. %b (blocks) too: the sparse file must stay sparse.
manifest() (
	cd "$1" || exit 1
	# first, before anything reads the file
	find . -name rand.4096 -printf '%p atime %A@\n'
	find . -printf '%y %m %U %G %s %b %n %i %T@ %C@ %p -> %l\n' |
		LC_ALL=C sort
	find . -type f ! -name sparse -print0 | LC_ALL=C sort -z |
		xargs -0 sha256sum
	find . \( -type c -o -type b \) -printf '%p ' -exec stat -c '%t:%T' {} \;
	# the sparse file: its byte, and zeros in the hole
	dd if=data/sparse bs=1 skip="$SPARSE_OFF" count=1 status=none | od -c
	dd if=data/sparse bs=1M count=2 status=none | sha256sum
	dd if=data/sparse bs=1M skip=$((SPARSE_OFF / 1048576 - 1)) count=2 \
		status=none | sha256sum
	stat -f -c 'fs: blocks %b free %f avail %a files %c ffree %d bsize %S namemax %l' .
)

check_same() {
	diff -u "$T/manifest.1" "$T/manifest.$1" > "$T/manifest.diff" || {
		head -60 "$T/manifest.diff"
		fail "manifest differs $2"
	}
	note "manifest identical $2"
}

make_image "$IMG" 512M
mount_fs "$IMG" "$MNT"
(populate "$MNT") || fail "populating the filesystem failed"
manifest "$MNT" > "$T/manifest.1" || fail "manifest failed"
note "manifest: $(wc -l < "$T/manifest.1") lines"
grep -q '^p 644 .* ./data/fifo' "$T/manifest.1" || fail "no fifo in manifest"
grep -q '^f 4755 ' "$T/manifest.1" || fail "setuid file lost its bit"
if grep -q 'data/orphan' "$T/manifest.1"; then
	fail "unlinked file still listed"
fi
# sanity of the sparse file before relying on the comparison
sparse_line=$(grep ' ./data/sparse ->' "$T/manifest.1")
set -- $sparse_line
[ "$5" = $((SPARSE_OFF + 1)) ] || fail "sparse size $5"
[ "$6" -le 2048 ] || fail "sparse file holds $6 blocks of 512 bytes"
unmount_and_fsck "$IMG" "$MNT"

mount_fs "$IMG" "$MNT"
manifest "$MNT" > "$T/manifest.2"
check_same 2 "after remount"
# The first manifest read every file through the page cache filled by
# the writes; this one reads them from the daemon. Reading changes
# nothing that the manifest records (ctime in particular).
manifest "$MNT" > "$T/manifest.2b"
check_same 2b "after reading every file again"
unmount_and_fsck "$IMG" "$MNT"

# Read-only: same content, EROFS for every change, image untouched.
sum_before=$(sha256sum < "$IMG")
mount_fs "$IMG" "$MNT" -o ro
grep -E " $MNT fuse[^ ]* ro[, ]" /proc/self/mounts > /dev/null ||
	fail "mount with -o ro is not read-only in /proc/self/mounts"
manifest "$MNT" > "$T/manifest.3"
check_same 3 "on the read-only mount"

ro_fails() {
	local what=$1
	shift
	if "$@" 2> "$T/ro.err"; then
		fail "$what succeeded on a read-only mount"
	fi
	grep -q 'Read-only file system' "$T/ro.err" || {
		cat "$T/ro.err"
		fail "$what: expected EROFS"
	}
}
D=$MNT/data
ro_fails "create" sh -c ": > '$D/newfile'"
ro_fails "append" sh -c "echo x >> '$D/rand.1'"
ro_fails "open for write" sh -c "exec 3<> '$D/rand.100'"
ro_fails "truncate" truncate -s 0 "$D/rand.4096"
ro_fails "mkdir" mkdir "$D/newdir"
ro_fails "rmdir" rmdir "$D/empty"
ro_fails "unlink" rm "$D/rand.0"
ro_fails "rename" mv "$D/rand.1" "$D/rand.1.moved"
ro_fails "link" ln "$D/rand.1" "$D/rand.1.link"
ro_fails "symlink" ln -s x "$D/newsym"
ro_fails "mkfifo" mkfifo "$D/newfifo"
ro_fails "chmod" chmod 600 "$D/rand.1"
ro_fails "touch" touch "$D/rand.1"
if [ "$ROOT" = 1 ]; then
	ro_fails "chown" chown 1:1 "$D/rand.1"
fi
manifest "$MNT" > "$T/manifest.4"
check_same 4 "after the refused writes"
unmount_only "$MNT"
sum_after=$(sha256sum < "$IMG")
[ "$sum_before" = "$sum_after" ] ||
	fail "a read-only mount modified the image"
note "read-only mount left the image byte for byte unchanged"
run_fsck "$IMG"
note "persist: all checks passed"
exit 0
