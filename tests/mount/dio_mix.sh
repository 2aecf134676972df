#!/bin/bash
# SPDX-License-Identifier: MIT
#
# dio_mix.sh MKFS FSCK MAPFS DIO_MIX
#
# O_DIRECT writes mixed with buffered and mmap reads of the same file
# (dio_mix.c; the race of xfstests generic/451): synchronous pwrite and
# Linux AIO (io_submit), on the default mount and with the kernel's
# writeback cache (-o writeback). After each round of direct writes has
# completed, a buffered read and a read through a shared mapping must
# return the new bytes.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS DIO_MIX" "$@"
IMG=$T/dio.img
MNT=$T/mnt
make_image "$IMG" 64M

for opts in "" "-o writeback"; do
	# shellcheck disable=SC2086
	mount_fs "$IMG" "$MNT" $opts
	for mode in sync aio; do
		timeout -k 5 120 "$DIO_MIX" "$MNT/f" "$mode" 60 > "$T/out" 2>&1
		rc=$?
		sed 's/^/# /' "$T/out"
		t "${opts:-default mount}: $mode O_DIRECT writes, then buffered and mmap reads see them" \
			'[ $rc = 0 ]'
	done
	unmount_and_fsck "$IMG" "$MNT"
done
echo "1..$n"
exit $FAILED
