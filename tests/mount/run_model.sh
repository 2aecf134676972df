#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run_model.sh MKFS FSCK MAPFS MODEL
#
# Run the randomized model test on a fresh 512M image against a
# reference tree in the temp dir, then unmount and require a clean fsck.
# MAPFS_MODEL_SEED (default 20240611) and MAPFS_MODEL_OPS (default 3000)
# choose the run; a failure prints the seed and the last operations.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS MODEL" "$@"
SEED=${MAPFS_MODEL_SEED:-20240611}
NOPS=${MAPFS_MODEL_OPS:-3000}

make_image "$T/model.img" 512M
mount_fs "$T/model.img" "$T/mnt"
mkdir -p "$T/ref"

"$MODEL" "$T/mnt" "$T/ref" "$SEED" "$NOPS"
rc=$?

if [ "$rc" != 0 ]; then
	unmount_and_show_fsck "$T/model.img" "$T/mnt"
	fail "model diverged (seed $SEED, $NOPS ops; exit $rc)"
fi
unmount_and_fsck "$T/model.img" "$T/mnt"

# The tree must survive a remount unchanged: compare again.
mount_fs "$T/model.img" "$T/mnt"
"$MODEL" "$T/mnt" "$T/ref" "$SEED" 0 ||
	fail "tree on the image differs from the reference after remount"
unmount_and_fsck "$T/model.img" "$T/mnt"
note "model: seed $SEED, $NOPS ops, no divergence, image clean"
exit 0
