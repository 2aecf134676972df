#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run_fsx.sh MKFS FSCK MAPFS FSX
#
# The fsx data-integrity exerciser (fsx.c) on one file of a fresh 256M
# image: MAPFS_FSX_OPS (default 20000) seeded random reads, writes,
# truncates, fallocate modes, copy_file_range, mmap reads and writes,
# close/reopen and fsyncs, every read checked against an in-memory copy;
# MAPFS_FSX_SEED (default 1) chooses the sequence. Then file locks on the
# same mount: flock(1) exclusive locks between processes, and fcntl
# byte-range locks between two processes (fsx --locks). Unmount, then a
# clean fsck.mapfs -n -f is required.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS FSX" "$@"
SEED=${MAPFS_FSX_SEED:-1}
NOPS=${MAPFS_FSX_OPS:-20000}

img="$T/fsx.img"
mnt="$T/mnt"
make_image "$img" 256M
mount_fs "$img" "$mnt"

note "fsx: seed $SEED, $NOPS ops"
"$FSX" "$mnt/fsx.file" "$SEED" "$NOPS"
rc=$?
if [ "$rc" != 0 ]; then
	unmount_and_show_fsck "$img" "$mnt"
	fail "fsx found a problem (seed $SEED, $NOPS ops; exit $rc)"
fi

# flock(2) through flock(1): a holder keeps an exclusive lock until told
# to let go through a fifo; meanwhile flock -n must fail, afterwards succeed.
locks_failed=
if command -v flock >/dev/null 2>&1; then
	lf="$mnt/flock.file"
	: > "$lf"
	mkfifo "$T/release"
	(
		exec 9<>"$lf"
		flock -x 9 || exit 1
		: > "$T/held"
		read -r _ < "$T/release"
	) &
	holder=$!
	for ((i = 0; i < 100; i++)); do
		[ -e "$T/held" ] && break
		sleep 0.05
	done
	[ -e "$T/held" ] || locks_failed+=" holder-never-locked"
	if flock -n -x "$lf" true; then
		locks_failed+=" flock-x-not-exclusive"
	fi
	if flock -n -s "$lf" true; then
		locks_failed+=" flock-s-granted-under-x"
	fi
	echo go > "$T/release"
	wait "$holder" || locks_failed+=" holder-failed"
	flock -n -x "$lf" true || locks_failed+=" flock-x-after-release"
	# Two shared locks coexist.
	flock -s "$lf" sleep 1 &
	sh_pid=$!
	sleep 0.2
	flock -n -s "$lf" true || locks_failed+=" flock-s-with-s"
	wait "$sh_pid"
else
	note "flock(1) missing: flock check skipped"
fi
"$FSX" --locks "$mnt/fcntl.file" || locks_failed+=" fcntl-locks"

if [ -n "$locks_failed" ]; then
	unmount_and_show_fsck "$img" "$mnt"
	fail "lock checks failed:$locks_failed"
fi
note "flock and fcntl locks OK"

unmount_and_fsck "$img" "$mnt"
note "fsx: seed $SEED, $NOPS ops, no mismatch, image clean"
exit 0
