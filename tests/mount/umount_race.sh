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
# round's mount at once.
. "$(dirname "$0")/lib.sh"

[ $# = 3 ] || { echo "usage: $0 MKFS FSCK MAPFS" >&2; exit 2; }
lib_init "$1" "$2" "$3"
ROUNDS=${MAPFS_RACE_ROUNDS:-200}
IMG=$T/race.img
MNT=$T/mnt
mkdir -p "$MNT"
make_image "$IMG" 64M
MOUNTS+=("$MNT")
head -c 200000 /dev/urandom > "$T/data"

fails=0 slow=0
for ((i = 1; i <= ROUNDS; i++)); do
	if ! timeout -k 5 70 "$MAPFS" "$IMG" "$MNT" > "$T/mount.out" 2>&1; then
		note "round $i: mount right after the unmount failed:"
		sed 's/^/#   /' "$T/mount.out"
		fails=$((fails + 1))
		break
	fi
	if [ "$i" -gt 1 ] && ! { [ "$(head -n 1 "$MNT/f")" = "round $((i - 1))" ] &&
	      tail -n +2 "$MNT/f" | cmp -s - "$T/data"; }; then
		note "round $i: the previous round's file is not there whole"
		fails=$((fails + 1))
		break
	fi
	{ echo "round $i"; cat "$T/data"; } > "$MNT/f.new" && mv "$MNT/f.new" "$MNT/f"
	if [ $((i % 2)) = 0 ]; then
		umount "$MNT"
	else
		fusermount3 -u "$MNT"
	fi || { note "round $i: unmount failed"; fails=$((fails + 1)); break; }
	start=$(date +%s%N)
	timeout -k 5 70 "$FSCK" -n "$IMG" > "$T/fsck.out" 2>&1
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
note "$((i > ROUNDS ? ROUNDS : i)) rounds, $slow fsck runs took over 1 s"
t "$ROUNDS rounds of unmount then fsck and mount at once: no failure" \
	'[ "$fails" = 0 ]'
is_mounted "$MNT" && fusermount3 -u "$MNT"
# The last daemon must let go too before the final check.
flock -x -w 60 "$IMG" true
run_fsck "$IMG"
echo "1..$n"
exit $FAILED
