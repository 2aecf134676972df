#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run_stress.sh MKFS FSCK MAPFS STRESS
#
# Run the concurrency stress test (stress.c: workers in private trees
# and in one shared directory at once, every result checked) on a fresh
# 512M image, then unmount and require a clean fsck; remount and
# require the tree the workers left to be identical (names, types,
# sizes, link counts, inode numbers, contents); unmount and fsck again.
# MAPFS_STRESS_SEED (default 20240612), MAPFS_STRESS_OPS (operations
# per worker, default 5000), MAPFS_STRESS_WORKERS (default 4) and
# MAPFS_STRESS_TIMEOUT (seconds before the workers count as hung,
# default 240) choose the run; MAPFS_STRESS_MOUNT_OPTS (e.g. "-o
# nowriteback" or "-s") is passed to mapfs.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS STRESS" "$@"
SEED=${MAPFS_STRESS_SEED:-20240612}
NOPS=${MAPFS_STRESS_OPS:-5000}
NW=${MAPFS_STRESS_WORKERS:-4}
export MAPFS_STRESS_TIMEOUT=${MAPFS_STRESS_TIMEOUT:-240}
IMG=$T/stress.img
MNT=$T/mnt

manifest() (
	cd "$1" || exit 1
	find stress -printf '%y %m %s %n %i %p -> %l\n' | LC_ALL=C sort
	find stress -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
)

make_image "$IMG" 512M
# shellcheck disable=SC2086 # the options are words
mount_fs "$IMG" "$MNT" ${MAPFS_STRESS_MOUNT_OPTS:-}

"$STRESS" "$MNT" "$SEED" "$NOPS" "$NW"
rc=$?
if [ "$rc" != 0 ]; then
	unmount_and_show_fsck "$IMG" "$MNT"
	fail "stress failed (seed $SEED, $NOPS ops, $NW workers; exit $rc)"
fi
manifest "$MNT" > "$T/manifest.1" || fail "manifest failed"
note "manifest: $(wc -l < "$T/manifest.1") lines"
unmount_and_fsck "$IMG" "$MNT"

# shellcheck disable=SC2086
mount_fs "$IMG" "$MNT" ${MAPFS_STRESS_MOUNT_OPTS:-}
manifest "$MNT" > "$T/manifest.2" || fail "manifest failed after remount"
diff -u "$T/manifest.1" "$T/manifest.2" > "$T/manifest.diff" || {
	head -60 "$T/manifest.diff"
	fail "the tree differs after unmount and remount"
}
note "tree identical after remount"
unmount_and_fsck "$IMG" "$MNT"
note "stress: seed $SEED, $NOPS ops x $NW workers, image clean"
exit 0
