#!/bin/bash
# SPDX-License-Identifier: MIT
#
# umount_race.sh MKFS FSCK MAPFS
#
# What scripts do: unmount, then at once check or mount the image again.
# umount(8) and fusermount3 -u return when the kernel has detached the
# mount; the daemon learns of it only then and still writes back and
# marks the image clean before it lets go of the image's lock. The tools
# must wait for that (they see no mount of the image, so they wait for
# the lock, with a bound), not fail with "in use". MAPFS_RACE_ROUNDS
# rounds (default 200) of: mount (daemonized, as users do), check the
# previous round's file, write a new one, unmount (fusermount3 -u and
# umount in turn), fsck.mapfs -n at once (must be clean), then the next
# round's mount at once. Then MAPFS_RACE_USER_ROUNDS (default 50) rounds
# as uid 65534, through fusermount3.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
ROUNDS=${MAPFS_RACE_ROUNDS:-200}
IMG=$T/race.img
MNT=$T/mnt
mkdir -p "$MNT"
make_image "$IMG" 64M
MOUNTS+=("$MNT")
head -c 200000 /dev/urandom > "$T/data"

# race ROUNDS [as_user]: the rounds, as root or (as_user) as uid 65534
race() {
local rounds=$1 as=${2:-}
fails=0 slow=0
for ((i = 1; i <= rounds; i++)); do
	if ! $as timeout -k 5 70 "$MAPFS" "$IMG" "$MNT" > "$T/mount.out" 2>&1; then
		note "round $i: mount right after the unmount failed:"
		sed 's/^/#   /' "$T/mount.out"
		fails=$((fails + 1))
		break
	fi
	# (root cannot read a user's mount: read it as its user)
	if [ "$i" -gt 1 ] && ! { $as cat "$MNT/f" > "$T/got" &&
	      [ "$(head -n 1 "$T/got")" = "round $((i - 1))" ] &&
	      tail -n +2 "$T/got" | cmp -s - "$T/data"; }; then
		note "round $i: the previous round's file is not there whole"
		fails=$((fails + 1))
		break
	fi
	$as sh -c '{ echo "round $1"; cat "$2"; } > "$3/f.new" && mv "$3/f.new" "$3/f"' \
		_ "$i" "$T/data" "$MNT"
	if [ $((i % 2)) = 0 ] && [ -z "$as" ]; then
		umount "$MNT"
	else
		$as fusermount3 -u "$MNT"
	fi || { note "round $i: unmount failed"; fails=$((fails + 1)); break; }
	start=$(date +%s%N)
	$as timeout -k 5 70 "$FSCK" -n "$IMG" > "$T/fsck.out" 2>&1
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	[ "$ms" -gt 1000 ] && slow=$((slow + 1))
	if [ "$rc" != 0 ]; then
		note "round $i: fsck.mapfs -n right after the unmount: exit $rc"
		sed 's/^/#   /' "$T/fsck.out"
		fails=$((fails + 1))
		break
	fi
done
note "${as:+as uid 65534: }$((i > rounds ? rounds : i)) rounds, $slow fsck runs took over 1 s"
is_mounted "$MNT" && $as fusermount3 -u "$MNT"
# The last daemon must let go too before the final check.
flock -x -w 60 "$IMG" true
}

race "$ROUNDS"
t "as root, $ROUNDS rounds of unmount then fsck and mount at once: no failure" \
	'[ "$fails" = 0 ]'
run_fsck "$IMG"

# The same as an ordinary user (fusermount3 mounts and unmounts).
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
	lib_user_init
	rm -f "$IMG"
	IMG=$U/race.img
	as_user "$MKFS" -q -s 64M "$IMG" || fail "mkfs as uid $UID_U failed"
	chmod 644 "$T/data"
	MOUNTS+=("$MNT")
	race "${MAPFS_RACE_USER_ROUNDS:-50}" as_user
	t "as uid $UID_U, ${MAPFS_RACE_USER_ROUNDS:-50} rounds: no failure" \
		'[ "$fails" = 0 ]'
	run_fsck "$IMG"
fi
echo "1..$n"
exit $FAILED
