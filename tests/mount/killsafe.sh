#!/bin/bash
# SPDX-License-Identifier: MIT
#
# killsafe.sh MKFS FSCK MAPFS KILLLOAD
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
# it started and detaches the mount. After each transport's kills the
# image is mounted (journal replay), unmounted, and fsck -n -f must find
# it clean. Nothing here makes a system call on the mount under test
# except the load: mounts are found in /proc/self/mountinfo.
# MAPFS_KILLSAFE_SEED picks the instants (printed); MAPFS_KILLSAFE_MODES
# ("devfuse uring") the transports.
. "$(dirname "$0")/lib.sh"

[ $# = 4 ] || { echo "usage: $0 MKFS FSCK MAPFS KILLLOAD" >&2; exit 2; }
lib_init "$1" "$2" "$3"
dmesg_mark
LOAD=$4
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
			"$LOAD" "$MNT" "$j" < /dev/null > "$T/load.$j.log" 2>&1 &
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
