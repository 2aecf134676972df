#!/bin/bash
# SPDX-License-Identifier: MIT
#
# starve.sh MKFS FSCK MAPFS   (run through with_transport.sh uring)
#
# The io_uring queue threads run at SCHED_IDLE while requests flow, and
# a guard thread lifts any of them that waits behind a busy normal task
# (fs/fuse/uring.c, "the guard"). Without the guard, a CPU-bound loop on
# every CPU starves the daemon (55 creates/s measured). This test runs
# one such loop pinned to each CPU and, beside them:
#   - creates, stats, writes, reads back (checksums) and removes files
#     from two processes at once, each step under a generous timeout
#     (a liveness bound, not a speed figure);
#   - requires the daemon's exit log to say its threads ran at idle
#     priority and were lifted at least once (the guard did react);
#   - then stops the loops, waits past the guard's quiet time and does
#     the same work again;
#   - requires the guard (thread mapfs-guard) to stay asleep over 2 s of
#     an idle mount, then does the work once more, unmounts and requires
#     a clean fsck -n -f.
# SKIP when the daemon did not use idle priority (not allowed to leave
# SCHED_IDLE again, or no /proc schedstat).
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
IMG=$T/starve.img
MNT=$T/mnt
HOGS=()
trap 'rc=$?; [ ${#HOGS[@]} = 0 ] || kill "${HOGS[@]}" 2>/dev/null; (exit $rc); lib_cleanup' EXIT
N=${MAPFS_STARVE_FILES:-1500}
STEP_LIMIT=180		# seconds per step: about 100x the unloaded time

start_hogs() {
	local c
	for c in $(seq 0 $(($(nproc) - 1))); do
		taskset -c "$c" sh -c 'while :; do :; done' &
		HOGS+=($!)
	done
	note "CPU-bound loops on $(nproc) CPUs: ${HOGS[*]}"
}

stop_hogs() {
	[ ${#HOGS[@]} = 0 ] || kill "${HOGS[@]}" 2>/dev/null
	wait "${HOGS[@]}" 2>/dev/null
	HOGS=()
}

# work DIR: files in DIR from one process; fails the test on a timeout
# or a wrong byte.
work() {
	local d=$1
	timeout "$STEP_LIMIT" bash -c '
		set -e
		d=$1 n=$2
		mkdir -p "$d"
		for ((i = 0; i < n; i++)); do : > "$d/f$i"; done
		for ((i = 0; i < n; i++)); do [ -f "$d/f$i" ]; done
		head -c 3000000 /dev/urandom > "$d/big"
		sum=$(cksum < "$d/big")
		cp "$d/big" "$d/big2"
		[ "$(cksum < "$d/big2")" = "$sum" ]
		for ((i = 0; i < n; i += 2)); do rm "$d/f$i"; done
		[ "$(ls "$d" | wc -l)" = $((n / 2 + 2)) ]
	' work "$d" "$N"
}

two_workers() {
	local tag=$1 p1 p2 r1 r2
	work "$MNT/$tag.a" & p1=$!
	work "$MNT/$tag.b" & p2=$!
	wait "$p1"; r1=$?
	wait "$p2"; r2=$?
	[ "$r1" = 0 ] && [ "$r2" = 0 ] ||
		fail "$tag: workers ended with $r1 and $r2 (124: over ${STEP_LIMIT}s)"
	note "$tag: two workers done"
}

command -v taskset > /dev/null || skip "taskset is missing"
make_image "$IMG" 256M
mount_fs "$IMG" "$MNT"
two_workers warm
start_hogs
two_workers loaded
stop_hogs
sleep 1
two_workers after
# An idle mount costs the guard no wakeups: past its quiet time it sleeps
# until a request is served.
guard=$(grep -l '^mapfs-guard$' /proc/"${DAEMON_PID[$MNT]}"/task/*/comm 2>/dev/null)
[ -n "$guard" ] || fail "no thread named mapfs-guard in the daemon"
guard=${guard%/comm}
sleep 1
w1=$(awk '/^voluntary_ctxt_switches/ { print $2 }' "$guard/status")
sleep 2
w2=$(awk '/^voluntary_ctxt_switches/ { print $2 }' "$guard/status")
note "guard wakeups over 2 s of an idle mount: $((w2 - w1))"
[ "$((w2 - w1))" -le 1 ] ||
	fail "the guard woke $((w2 - w1)) times in 2 s on an idle mount"
# ... and wakes again when requests come: the first ones run at idle
# priority again (the log's "at idle priority" is checked below).
two_workers idle-then-busy
log=${DAEMON_LOG[$MNT]}
unmount_and_fsck "$IMG" "$MNT"
line=$(grep 'requests: ' "$log")
note "daemon: $line"
case $line in
*"at idle priority (lifted "*) ;;
*"requests: io_uring"*) skip "the queue threads did not run at idle priority" ;;
*) fail "the daemon did not use io_uring: $line" ;;
esac
lifted=$(sed -n 's/.*(lifted \([0-9]*\) times).*/\1/p' <<< "$line")
[ "${lifted:-0}" -ge 1 ] ||
	fail "with every CPU busy, the guard never lifted a starving thread"
echo "ok - starve: daemon served two processes beside $(nproc) CPU-bound loops; guard lifted threads $lifted times"
