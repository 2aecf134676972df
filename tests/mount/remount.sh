#!/bin/bash
# SPDX-License-Identifier: MIT
#
# remount.sh MKFS FSCK MAPFS
#
# mount -o remount,ro and back to remount,rw (xfstests generic/294, 306,
# 452) remount the running mount instead of starting a second daemon:
#   - as mount.fuse3 runs it ("mapfs IMG MNT -o remount,ro"): after it,
#     writes fail with EROFS, reads work, the mount table says ro, the
#     image checks clean with fsck.mapfs -n -f while still mounted; after
#     remount,rw writes work again; twice; one daemon (the same pid) and
#     one mount entry throughout;
#   - a mount made with -o ro refuses remount,rw (its image is open
#     read-only) and stays as it was;
#   - through mount(8) (mount -o remount,ro MNT, then rw), in a private
#     mount namespace with our mapfs bind-mounted over /usr/local/sbin as
#     lifecycle.sh does (skipped where that is not possible).
# Each mount ends with a clean fsck. Prints TAP.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
[ "$(id -u)" = 0 ] || skip "remounting needs root"
MNT=$T/mnt
IMG=$T/a.img

entries() { awk -v m="$1" '$2 == m' /proc/self/mounts | wc -l; }
opts() { awk -v m="$1" '$2 == m { print $4 }' /proc/self/mounts | tail -1; }
daemons() { pgrep -f -- " $1 $MNT -f" | wc -l; }
erofs() { # a write to MNT/b fails with EROFS and makes nothing
	(echo x > "$MNT/b") 2> "$T/w.err" && return 1
	grep -q "Read-only file system" "$T/w.err" && [ ! -e "$MNT/b" ]
}

make_image "$IMG" 64M
mount_fs "$IMG" "$MNT"
pid=${DAEMON_PID[$MNT]}
echo one > "$MNT/a"
for round in 1 2; do
	"$MAPFS" "$IMG" "$MNT" -o remount,ro > "$T/r.out" 2>&1
	t "round $round: remount,ro exits 0" '[ $? = 0 ] || { cat "$T/r.out"; false; }'
	t "round $round: the mount table says ro" '[[ "$(opts "$MNT")" == ro,* ]]'
	t "round $round: a write fails with EROFS" erofs
	t "round $round: reads work" '[ "$(cat "$MNT/a")" = one ]'
	"$FSCK" -n -f "$IMG" > "$T/fsck.out" 2>&1
	t "round $round: fsck.mapfs -n -f clean while mounted ro" \
		'[ $? = 0 ] || { cat "$T/fsck.out"; false; }'
	"$MAPFS" "$IMG" "$MNT" -o remount,rw > "$T/r.out" 2>&1
	t "round $round: remount,rw exits 0" '[ $? = 0 ] || { cat "$T/r.out"; false; }'
	t "round $round: the mount table says rw" '[[ "$(opts "$MNT")" == rw,* ]]'
	t "round $round: writes work again" \
		'echo two > "$MNT/b$round" && [ "$(cat "$MNT/b$round")" = two ]'
	t "round $round: one daemon, the same, and one mount entry" \
		'pid_alive "$pid" && [ "$(daemons "$IMG")" = 1 ] &&
		 [ "$(entries "$MNT")" = 1 ]'
done
unmount_and_fsck "$IMG" "$MNT"

mount_fs "$IMG" "$MNT" -o ro
"$MAPFS" "$IMG" "$MNT" -o remount,rw > "$T/r.out" 2>&1
rc=$?
t "-o ro mount: remount,rw refused" '[ "$rc" != 0 ] && grep -q "mounted with -o ro" "$T/r.out"'
t "-o ro mount: still ro, one daemon, one entry" \
	'[[ "$(opts "$MNT")" == ro,* ]] && [ "$(daemons "$IMG")" = 1 ] &&
	 [ "$(entries "$MNT")" = 1 ]'
unmount_and_fsck "$IMG" "$MNT"

# Through mount(8): mount.fuse3 looks "mapfs" up in its default PATH.
if ! command -v mount.fuse3 > /dev/null && [ ! -x /sbin/mount.fuse3 ] &&
   [ ! -x /usr/sbin/mount.fuse3 ]; then
	note "SKIP mount(8): mount.fuse3 is not installed"
elif ! [ -d /usr/local/sbin ] ||
     ! unshare --mount --propagation private true 2>/dev/null; then
	note "SKIP mount(8): no private mount namespace"
else
	mkdir -p "$T/bin" "$T/m8"
	ln -s "$(realpath "$MAPFS")" "$T/bin/mapfs"
	cat > "$T/inner.sh" <<'EOF'
# inner.sh IMG MNT BIN FSCK: one line per check
IMG=$1 MNT=$2 BIN=$3 FSCK=$4
res() { if [ "$1" = 0 ]; then echo "ok - $2"; else echo "not ok - $2"; fi; }
trap 'mountpoint -q "$MNT" && { umount "$MNT" || umount -l "$MNT"; }' EXIT
mount --bind "$BIN" /usr/local/sbin || { echo "skip - cannot bind"; exit 0; }
export PATH="$BIN:$PATH"
nd() { pgrep -f -- "(^|/)mapfs $IMG $MNT " | wc -l; }
ne() { awk -v m="$MNT" '$2 == m' /proc/self/mounts | wc -l; }
timeout 60 mount -t fuse.mapfs "$IMG" "$MNT" || { echo "skip - mount -t fuse.mapfs failed"; exit 0; }
echo one > "$MNT/a"
timeout 60 mount -o remount,ro "$MNT"; res $? "mount -o remount,ro"
(echo x > "$MNT/b") 2> /dev/null; [ $? != 0 ] && [ ! -e "$MNT/b" ]
res $? "mount(8) ro: a write fails"
"$FSCK" -n -f "$IMG" > /dev/null 2>&1; res $? "mount(8) ro: fsck.mapfs -n -f clean while mounted"
timeout 60 mount -o remount,rw "$MNT"; res $? "mount -o remount,rw"
echo two > "$MNT/b" && [ "$(cat "$MNT/b")" = two ]; res $? "mount(8) rw: writes work"
[ "$(nd)" = 1 ] && [ "$(ne)" = 1 ]; res $? "mount(8): one daemon, one mount entry"
umount "$MNT"; res $? "umount"
flock -x -w 60 "$IMG" true
"$FSCK" -n -f "$IMG" > /dev/null 2>&1; res $? "mount(8): fsck.mapfs -n -f clean after umount"
EOF
	make_image "$T/m8.img" 64M
	unshare --mount --propagation private bash "$T/inner.sh" \
		"$T/m8.img" "$T/m8" "$T/bin" "$FSCK" > "$T/inner.tap" 2>&1
	while IFS= read -r line; do
		case $line in
		"ok - "*) t "${line#ok - }" true ;;
		"not ok - "*) t "${line#not ok - }" false ;;
		*) note "$line" ;;
		esac
	done < "$T/inner.tap"
fi
echo "1..$n"
exit $FAILED
