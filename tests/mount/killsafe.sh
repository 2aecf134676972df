#!/bin/bash
# SPDX-License-Identifier: MIT
#
# killsafe.sh MKFS FSCK MAPFS KILLLOAD RINGHOLD
#
# A daemon killed at any instant never leaves a hung mount. For each
# request transport (/dev/fuse with -o nouring; FUSE over io_uring with the
# kernel's switch on, under /tmp/mapfs-transport.lock), MAPFS_KILLSAFE_KILLS
# times (default 300):
#   - start the daemon; one kill in eight comes 0-29 ms after its start
#     (while it opens the image, mounts, answers INIT, sets up its rings);
#   - otherwise, as soon as the mount appears, start two killload
#     processes (creates, stats, unlinks) and SIGKILL the daemon 0-99 ms
#     later (one kill in eight: 100-399 ms);
#   - within MAPFS_KILLSAFE_WAIT seconds (default 10) the daemon and the
#     load must be gone (every thread: a zombie leader whose other thread
#     sleeps in the kernel is not gone), and the dead mount is unmounted.
# Otherwise the test FAILS, never hangs: it prints every remaining
# thread's state and kernel stack and the kernel's FUSE lines, aborts the
# connection through fusectl (says whether that released it), kills what
# it started and detaches the mount. On io_uring, one more kill while
# ringhold keeps the daemon's rings open (as a daemon thread blocked on
# its own mount would, through the daemon's file table): a stat from each
# CPU, whose requests go to the rings of dead threads, must end within
# the wait all the same (fs/fuse/uring.c: no DEFER_TASKRUN); else the
# test fails, then closes the rings (which releases them). After each
# transport's kills the image is mounted (journal replay), unmounted, and
# fsck -n -f must find it clean. Nothing here makes a system call on the mount under test
# except the load: mounts are found in /proc/self/mountinfo.
# MAPFS_KILLSAFE_SEED picks the instants (printed); MAPFS_KILLSAFE_MODES
# ("devfuse uring") the transports. MAPFS_KILLSAFE_SEEK=1 mounts with
# -o writeback and makes the second load process write and
# lseek(SEEK_DATA) instead (meson test killsafe-writeback): the daemon
# used to launder its own mount's pages there, and a kill then hung
# (docs/DURABILITY.md, "Killing the daemon").
. "$(dirname "$0")/lib.sh"

[ $# = 5 ] || {
	echo "usage: $0 MKFS FSCK MAPFS KILLLOAD RINGHOLD" >&2
	exit 2
}
lib_init "$1" "$2" "$3"
dmesg_mark
LOAD=$4
RINGHOLD=$5
KILLS=${MAPFS_KILLSAFE_KILLS:-300}
WAIT=${MAPFS_KILLSAFE_WAIT:-10}
SEED=${MAPFS_KILLSAFE_SEED:-$(( $(date +%s) % 100000 ))}
MODES=${MAPFS_KILLSAFE_MODES:-devfuse uring}
PARAM=/sys/module/fuse/parameters/enable_uring
LOCK=/tmp/mapfs-transport.lock
[ "$(id -u)" = 0 ] || skip "needs root (fusectl, the transport switch)"
IMG=$T/killsafe.img
MNT=$(realpath "$T")/mnt
mkdir -p "$MNT"
RANDOM=$SEED
note "seed $SEED (MAPFS_KILLSAFE_SEED), $KILLS kills per transport"
make_image "$IMG" 64M

# A sleep without a fork: read from a FIFO nobody writes, with a timeout.
mkfifo "$T/never" && exec 8<> "$T/never" || fail "mkfifo"
nap() { read -r -t "$1" -u 8 _; }

OLD_SWITCH=
restore_switch() {
	[ -n "$OLD_SWITCH" ] && echo "$OLD_SWITCH" > "$PARAM"
	OLD_SWITCH=
}
trap 'rc=$?; restore_switch; (exit $rc); lib_cleanup' EXIT

# The daemon's queue threads are running (named mapfs-q<cpu>).
has_queue_threads() {
	local c
	for c in /proc/"$1"/task/*/comm; do
		read -r c 2>/dev/null < "$c" || continue
		[ "${c#mapfs-q}" != "$c" ] && return 0
	done
	return 1
}

detach() {
	[ -z "$(mount_devno "$MNT")" ] && return 0
	# -c: no canonicalization, so no stat of the dead mount
	umount -c "$MNT" 2>/dev/null || umount -c -l "$MNT" 2>/dev/null
}

# Still there WAIT s after the kill: report, abort, clean up, fail.
hang() {
	local what=$1
	shift
	echo "not ok - $what: still there ${WAIT}s after SIGKILL of the daemon"
	release_hung "$MNT" "$@"
	echo "--- daemon log ---"
	cat "$T/daemon.log"
	fail "$what: the mount hung after a daemon kill"
}

# kill_one MODE I
kill_one() {
	local mode=$1 i=$2 dpid dev= r w d j lp=() opts=()
	[ "$mode" = devfuse ] && opts=(-o nouring)
	[ "${MAPFS_KILLSAFE_SEEK:-0}" = 1 ] && opts+=(-o writeback)
	"$MAPFS" "$IMG" "$MNT" -f "${opts[@]}" < /dev/null > "$T/daemon.log" 2>&1 &
	dpid=$!
	# Out of the job table: no "Killed" notices; bash still reaps it.
	disown $dpid
	r=$((RANDOM % 8))
	if [ $r = 0 ]; then
		d=$((RANDOM % 30))
		nap "0.0$(printf %02d $d)"
		early=$((early + 1))
	else
		for ((w = 0; w < WAIT * 500; w++)); do
			dev=$(mount_devno "$MNT")
			[ -n "$dev" ] && break
			proc_gone $dpid && break
			nap 0.002
		done
		if [ -z "$dev" ]; then
			kill -9 $dpid 2>/dev/null
			wait_gone "$WAIT" $dpid || hang "$mode kill $i" $dpid
			echo "--- daemon log ---"
			cat "$T/daemon.log"
			fail "$mode kill $i: no mount after ${WAIT}s"
		fi
		for j in 1 2; do
			# shellcheck disable=SC2046 # no word, or "seek"
			"$LOAD" "$MNT" "$j" $([ $j = 2 ] &&
				[ "${MAPFS_KILLSAFE_SEEK:-0}" = 1 ] && echo seek) \
				< /dev/null > "$T/load.$j.log" 2>&1 &
			lp+=($!)
			disown $!
		done
		if [ $r = 1 ]; then
			d=$((100 + RANDOM % 300))
		else
			d=$((RANDOM % 100))
		fi
		nap "$(printf '0.%03d' $d)"
	fi
	has_queue_threads $dpid && rings=$((rings + 1))
	kill -9 $dpid
	wait_gone "$WAIT" $dpid "${lp[@]}" ||
		hang "$mode kill $i ($d ms)" $dpid "${lp[@]}"
	detach
	[ -z "$(mount_devno "$MNT")" ] ||
		fail "$mode kill $i: cannot unmount $MNT"
}

# The daemon killed while its rings stay open (held by ringhold): the
# requests the kernel then hands to the rings of its dead queue threads
# must still end (ECANCELED), not wait for a thread that will never run.
dead_rings() {
	local dpid hpid c i sp=()
	mount_fs "$IMG" "$MNT"
	dpid=${DAEMON_PID[$MNT]}
	: > "$MNT/held" || fail "create through the rings"
	"$RINGHOLD" "$dpid" < /dev/null > "$T/ringhold.out" 2>&1 &
	hpid=$!
	for ((i = 0; i < 250; i++)); do
		grep -q holding "$T/ringhold.out" && break
		proc_gone $hpid && break
		nap 0.02
	done
	grep -q holding "$T/ringhold.out" ||
		fail "ringhold: $(cat "$T/ringhold.out")"
	kill -9 "$dpid"
	wait_gone "$WAIT" "$dpid" || hang "uring kill with rings held" "$dpid"
	unset "DAEMON_PID[$MNT]"
	for ((c = 0; c < $(nproc); c++)); do
		taskset -c $c stat "$MNT/held" < /dev/null > /dev/null 2>&1 &
		sp+=($!)
		disown $!
	done
	if ! wait_gone "$WAIT" "${sp[@]}"; then
		echo "not ok - requests given to the rings of killed queue" \
		     "threads still waited ${WAIT}s later ($(cat "$T/ringhold.out"))"
		report_stuck "${sp[@]}"
		kill $hpid
		if wait_gone "$WAIT" "${sp[@]}"; then
			note "they ended when the rings were closed"
		fi
		release_hung "$MNT" "${sp[@]}"
		fail "a request waited on the ring of a dead queue thread"
	fi
	kill $hpid
	wait $hpid 2> /dev/null
	detach
	note "uring: with the rings of the killed daemon held open, a stat" \
	     "from each of $(nproc) CPUs ended at once"
}

for mode in $MODES; do
	early=0 rings=0
	case $mode in
	devfuse) expect=/dev/fuse opts=(-o nouring) ;;
	uring)
		if [ ! -e "$PARAM" ]; then
			note "no FUSE over io_uring in this kernel: uring skipped"
			continue
		fi
		expect=io_uring opts=()
		# The switch is global: hold the lock while it matters (the
		# transport suite of another run may hold it for minutes).
		exec 9> "$LOCK"
		if ! flock -w 300 9; then
			note "$LOCK busy for 300 s: uring kills skipped"
			continue
		fi
		OLD_SWITCH=$(cat "$PARAM")
		echo Y > "$PARAM"
		;;
	*) fail "unknown transport $mode" ;;
	esac
	start=$SECONDS
	for ((i = 1; i <= KILLS; i++)); do
		kill_one "$mode" "$i"
	done
	note "$mode: $KILLS kills ($early in the first 30 ms of the daemon," \
	     "queue threads up at $rings), none hung; $((SECONDS - start)) s"
	[ "$mode" = uring ] && dead_rings
	# What the kills left: replayed at the next mount, then clean.
	MAPFS_EXPECT_TRANSPORT=$expect
	mount_fs "$IMG" "$MNT" "${opts[@]}"
	unmount_and_fsck "$IMG" "$MNT"
	unset MAPFS_EXPECT_TRANSPORT
	if [ "$mode" = uring ]; then
		restore_switch
		flock -u 9
	fi
done
echo "ok - no hung mount after $KILLS kills on each of: $MODES"
