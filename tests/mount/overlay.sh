#!/bin/bash
# SPDX-License-Identifier: MIT
#
# overlay.sh MKFS FSCK MAPFS TMPFILE
#
# mapfs as the writable layer under overlayfs, and the two features the
# kernel's overlayfs asks of an upper layer at mount (it probes them and
# refuses the mount with "upper fs missing required features" without):
#  1. O_TMPFILE (FUSE_TMPFILE, served by fs/fuse/extra.c): write and read
#     an unnamed file, linkat it to a name, O_EXCL refuses the link, one
#     closed unlinked is freed (statfs inode count back, fsck clean);
#     the daemon killed (-9) while a 4 MiB tmpfile is open: fsck -p and
#     the next mount free it (statfs blocks back), fsck clean;
#  2. renameat2(RENAME_WHITEOUT): the old name is a character device 0/0;
#  3. overlay: lowerdir a plain directory, upperdir and workdir on the
#     mapfs mount; the mount succeeds and dmesg has no complaint about
#     the upper layer; copy-up of a lower file (append), deleting a lower
#     file (a whiteout), renaming a lower directory (default: rename(2)
#     gives EXDEV and mv copies; with redirect_dir=on rename(2) itself
#     works), user.* and trusted.* xattrs on copied-up files; then both
#     unmounted, fsck clean, both remounted: the merged view (names,
#     types, modes, sizes, contents, user xattrs) is the same.
# Needs root (overlayfs, trusted.* xattrs); exit 77 (SKIP) without it or
# without overlayfs in the kernel.
set -u
. "$(dirname "$0")/lib.sh"
lib_init "$1" "$2" "$3"
TMPF=$4
[ -x "$TMPF" ] || fail "not an executable: $TMPF"
[ "$(id -u)" = 0 ] || skip "overlayfs needs root"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null
grep -qw overlay /proc/filesystems || skip "no overlayfs in this kernel"

IMG=$T/img
M=$T/m
make_image "$IMG" 256M
mount_fs "$IMG" "$M"

ffree() { stat -f -c %d "$1"; }
# Kernel lines since dmesg_mark (lib.sh).
dmesg_since() {
	dmesg 2>/dev/null | awk -v t="${DMESG_SINCE:-0}" '
		{ s = $0; sub(/^\[ */, "", s); sub(/\].*/, "", s) }
		s + 0 >= t'
}
bfree() { stat -f -c %f "$1"; }

# ---------------------------------------------------------- O_TMPFILE
mkdir "$M/t"
sync
before=$(ffree "$M")
t "O_TMPFILE: write, read, linkat, O_EXCL, unlinked close" \
	'"$TMPF" basic "$M/t"'
t "the linked tmpfile has its name and data" '[ -f "$M/t/linked" ]'
# The unlinked ones are freed at their release and forget (asynchronous
# to close): wait a little for the count.
for ((i = 0; i < 50; i++)); do
	[ "$(ffree "$M")" = $((before - 1)) ] && break
	sleep 0.1
done
t "closed tmpfiles are freed (free inodes $before -> $(ffree "$M"), one linked)" \
	'[ "$(ffree "$M")" = $((before - 1)) ]'
unmount_and_fsck "$IMG" "$M"

# Killed while a tmpfile is open: the tmpfile is on the orphan list;
# the next mount frees it (how=mount) or fsck -p does (how=fsck).
hold_and_kill() {
	local how=$1 b0 b1 dpid hpid st
	mount_fs "$IMG" "$M"
	sync
	b0=$(bfree "$M")
	"$TMPF" hold "$M/t" > "$T/hold.out" 2>&1 &
	hpid=$!
	for ((i = 0; i < 100; i++)); do
		grep -q ready "$T/hold.out" && break
		sleep 0.1
	done
	t "$how: a 4 MiB tmpfile is open" 'grep -q ready "$T/hold.out"'
	dpid=${DAEMON_PID[$M]}
	b1=$(bfree "$M")
	t "$how: it holds its blocks ($b0 -> $b1 free)" \
		'[ $((b0 - b1)) -ge 1024 ]'
	kill -9 "$dpid"
	kill -9 "$hpid" 2>/dev/null
	if ! wait_gone 10 "$dpid" "$hpid"; then
		release_hung "$M" "$dpid" "$hpid"
		fail "daemon or tmpfile holder still there 10 s after SIGKILL"
	fi
	wait "$dpid" 2>/dev/null
	wait "$hpid" 2>/dev/null
	umount -l "$M" 2>/dev/null || fusermount3 -uz "$M" 2>/dev/null
	unset "DAEMON_PID[$M]"
	if [ "$how" = fsck ]; then
		"$FSCK" -p "$IMG" > "$T/fsck.p" 2>&1
		st=$?
		sed 's/^/# fsck -p: /' "$T/fsck.p"
		t "fsck -p after the kill: exit $st (0 or 1)" '[ $st -le 1 ]'
		run_fsck "$IMG"
	fi
	mount_fs "$IMG" "$M"
	t "$how: the tmpfile's blocks are free again ($(bfree "$M") >= $b0)" \
		'[ "$(bfree "$M")" -ge "$b0" ]'
	unmount_and_fsck "$IMG" "$M"
}
hold_and_kill mount
hold_and_kill fsck

# ---------------------------------------------------- RENAME_WHITEOUT
mount_fs "$IMG" "$M"
echo data > "$M/t/src"
t "renameat2(RENAME_WHITEOUT) leaves a whiteout" \
	'"$TMPF" whiteout "$M/t" src dst'
t "the renamed file keeps its data" '[ "$(cat "$M/t/dst")" = data ]'
unmount_and_fsck "$IMG" "$M"

# ------------------------------------------------------------ overlay
L=$T/lower
O=$T/merged
mkdir -p "$L/dir/sub" "$L/dir2" "$L/keep" "$O"
echo hello > "$L/f1"
echo gone > "$L/f2"
echo y > "$L/dir/sub/y"
echo z > "$L/dir2/z"
head -c 300000 /dev/urandom > "$L/keep/big"
mount_fs "$IMG" "$M"

mount_overlay() {
	local extra=$1 out
	is_mounted "$M" || fail "$M is not mounted"
	mkdir -p "$M/upper" "$M/work"
	dmesg_mark
	out=$(mount -t overlay overlay -o "lowerdir=$L,upperdir=$M/upper,workdir=$M/work$extra" "$O" 2>&1)
	st=$?
	MOUNTS+=("$O")
	t "mount -t overlay${extra:+ ($extra)} on a mapfs upper: $out" \
		'[ $st = 0 ]'
	t "dmesg: no complaint about the upper layer" \
		'! dmesg_since | grep -iE "overlayfs.*(missing required|does not support|upper fs)"'
	[ $st = 0 ] || { dmesg_since | tail -20; fail "overlay mount failed"; }
}

# One line per entry: path, type, mode, size, content hash, user and
# trusted.test xattrs (the overlay's own trusted.overlay.* stay inside).
listing() {
	(cd "$O" && find . -printf '%p %y %m %s\n' | sort | while read -r p y m s; do
		h=-
		[ "$y" = f ] && h=$(md5sum < "$p" | cut -c1-32)
		x=$(getfattr -h --absolute-names -d -m '^(user\.|trusted\.test)' \
			"$p" 2>/dev/null | grep -v '^#' | tr '\n' ' ')
		echo "$p $y $m $s $h $x"
	done)
}

mount_overlay ""
echo more >> "$O/f1"
t "copy-up of a lower file on write" \
	'[ "$(cat "$O/f1")" = "$(printf "hello\nmore")" ] && [ -f "$M/upper/f1" ] && [ "$(cat "$L/f1")" = hello ]'
rm "$O/f2"
t "deleting a lower file leaves a whiteout in the upper layer" \
	'[ ! -e "$O/f2" ] && [ -c "$M/upper/f2" ] && [ -e "$L/f2" ]'
rc=$(python3 -c 'import os,sys
try:
    os.rename(sys.argv[1], sys.argv[2]); print(0)
except OSError as e: print(e.errno)' "$O/dir" "$O/dirR")
note "rename(2) of a lower directory, redirect_dir off: errno $rc (18 = EXDEV, mv copies)"
t "rename of a lower directory (mv)" \
	'mv "$O/dir" "$O/dirR" && [ "$(cat "$O/dirR/sub/y")" = y ] && [ ! -e "$O/dir" ]'
setfattr -n user.color -v blue "$O/f1"
setfattr -n trusted.test -v 42 "$O/keep/big"
t "xattrs on copied-up files" \
	'[ "$(getfattr --only-values -n user.color "$O/f1")" = blue ] && [ "$(getfattr --only-values -n trusted.test "$O/keep/big")" = 42 ]'
t "the overlay's own trusted.* xattrs are stored on mapfs" \
	'getfattr -d -m "^trusted\.overlay\." "$M/upper/keep/big" 2>/dev/null | grep -q trusted.overlay'
mkdir "$O/newdir"
echo new > "$O/newdir/n"
ln -s f1 "$O/sym"
listing > "$T/list1"
umount "$O"
unmount_and_fsck "$IMG" "$M"

mount_fs "$IMG" "$M"
mount_overlay ""
listing > "$T/list2"
t "after unmounting and remounting both, the merged view is the same" \
	'cmp -s "$T/list1" "$T/list2"'
cmp -s "$T/list1" "$T/list2" || diff "$T/list1" "$T/list2" | head -20
umount "$O"

# redirect_dir=on: rename(2) of a lower directory succeeds (the upper
# copy carries trusted.overlay.redirect).
mount_overlay ",redirect_dir=on"
t "rename(2) of a lower directory with redirect_dir=on" \
	'python3 -c "import os,sys; os.rename(sys.argv[1], sys.argv[2])" "$O/dir2" "$O/dir2R" && [ "$(cat "$O/dir2R/z")" = z ]'
t "the redirect is stored as an xattr on mapfs" \
	'getfattr -n trusted.overlay.redirect "$M/upper/dir2R" > /dev/null 2>&1'
listing > "$T/list3"
umount "$O"
unmount_and_fsck "$IMG" "$M"
mount_fs "$IMG" "$M"
mount_overlay ",redirect_dir=on"
listing > "$T/list4"
t "redirected directory: the merged view is the same after remounting" \
	'cmp -s "$T/list3" "$T/list4"'
cmp -s "$T/list3" "$T/list4" || diff "$T/list3" "$T/list4" | head -20
umount "$O"
unmount_and_fsck "$IMG" "$M"

echo "1..$n"
exit $FAILED
