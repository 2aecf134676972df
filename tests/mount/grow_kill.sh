#!/bin/bash
# SPDX-License-Identifier: MIT
#
# grow_kill.sh MKFS FSCK MAPFS GROWFS
#
# A daemon killed (SIGKILL) while it grows the mounted image leaves the
# old size or the new one, never a damaged image:
#  - at the named points of fs/fuse/growops.c (MAPFS_TEST_GROW_KILL):
#    "stored" (the change made in memory, no journal record yet: the old
#    size, in a file already enlarged), "record" (the record written,
#    not committed: the new size after replay), "commit" (committed, not
#    answered: the new size);
#  - at random instants while growfs runs (a kill from outside): either.
# After each kill: fsck.mapfs -n -f clean (it replays the journal), the
# image mounts again with every file intact and the size expected; then
# it grows while mounted to the end of the file (for "stored", a file
# longer than its filesystem), and fsck is clean again.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS GROWFS" "$@"
[ -x "$GROWFS" ] || fail "not an executable: $GROWFS"
IMG=$T/k.img
MNT=$T/mnt
MiB=$((1024 * 1024))
OLD=10240 NEW=25600	# blocks at 40M and 100M

manifest() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 md5sum); }
# Blocks of the filesystem in IMG, from fsck's summary ("... u/N blocks").
fs_blocks() { "$FSCK" -n -f "$1" 2>&1 | sed -n 's#.*/\([0-9]*\) blocks$#\1#p'; }

# kill_grow HOW: grow a fresh populated image, the daemon killed HOW
# (a point name, or "random:MS"); check what is left. Echoes nothing.
kill_grow() {
	local how=$1 pid gpid blocks want rc rc2
	rm -f "$IMG"
	make_image "$IMG" 40M -g 4096
	if [ "${how%%:*}" = random ]; then
		mount_fs "$IMG" "$MNT"
	else
		MAPFS_TEST_GROW_KILL=$how mount_fs "$IMG" "$MNT"
	fi
	pid=${DAEMON_PID[$MNT]}
	mkdir "$MNT/d"
	head -c $((8 * MiB)) /dev/urandom > "$MNT/d/a"
	for i in $(seq 1 30); do echo "f $i" > "$MNT/d/s$i"; done
	sync "$MNT/d/a"
	manifest "$MNT" > "$T/manifest.ref"
	"$GROWFS" -q -s 100M "$IMG" > "$T/grow.out" 2>&1 &
	gpid=$!
	if [ "${how%%:*}" = random ]; then
		sleep "$(printf '0.%03d' "${how#random:}")"
		kill -9 "$pid" 2>/dev/null
	fi
	if ! wait_gone 10 "$pid" "$gpid"; then
		echo "not ok - $how: daemon or growfs still there 10 s after the kill"
		release_hung "$MNT" "$pid" "$gpid"
		echo "1..$n"
		exit 1
	fi
	wait "$pid" 2>/dev/null
	wait "$gpid"
	rc=$?
	umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
	unset "DAEMON_PID[$MNT]"
	"$FSCK" -n -f "$IMG" > "$T/fsck.out" 2>&1
	rc2=$?
	t "$how: fsck -n -f clean after the kill" '[ $rc2 = 0 ]'
	[ $rc2 = 0 ] || sed 's/^/# /' "$T/fsck.out" | head -20
	blocks=$(fs_blocks "$IMG")
	case $how in
	stored) want=$OLD ;;
	record|commit) want=$NEW ;;
	*) want="$OLD|$NEW" ;;
	esac
	note "$how: growfs exit $rc, $blocks blocks, file $(stat -c %s "$IMG") bytes"
	t "$how: $blocks blocks, the old size or the new ($want)" \
		'[[ $blocks =~ ^($want)$ ]]'
	mount_fs "$IMG" "$MNT"
	manifest "$MNT" > "$T/manifest.now"
	t "$how: files intact after a remount" 'cmp -s "$T/manifest.ref" "$T/manifest.now"'
	# Grow to 100M (when the kill left the old size in an enlarged
	# file: a file longer than its filesystem, whose tail is zeroed).
	"$GROWFS" -q -s 100M "$IMG" > "$T/grow2.out" 2>&1
	rc2=$?
	t "$how: grown to 100M while mounted" '[ $rc2 = 0 ]'
	[ $rc2 = 0 ] || sed 's/^/# /' "$T/grow2.out"
	head -c $((60 * MiB)) /dev/zero > "$MNT/d/big"
	rc2=$?
	t "$how: 60M more written" '[ $rc2 = 0 ]'
	unmount_only "$MNT"
	"$FSCK" -n -f "$IMG" > "$T/fsck.out" 2>&1
	rc2=$?
	blocks=$(fs_blocks "$IMG")
	t "$how: fsck -n -f clean, $blocks blocks" \
		'[ $rc2 = 0 ] && [ "$blocks" = $NEW ]'
	[ $rc2 = 0 ] || sed 's/^/# /' "$T/fsck.out" | head -20
}

for p in stored record commit; do
	kill_grow "$p"
done
for ms in 0 2 5 10 20 40; do
	kill_grow "random:$ms"
done
echo "1..$n"
exit $FAILED
