# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# lib.sh - helpers shared by the mount tests; source it from bash.
#
#   . lib.sh
#   lib_init MKFS FSCK MAPFS      # paths of the three programs; sets up
#                                 # $T (temp dir) and the cleanup trap
#   lib_start "MKFS FSCK MAPFS [PROG]" "$@"  # argument count, lib_init,
#                                 # PROG=$4 (the variable named PROG)
#   make_image IMG SIZE [mkfs options...]
#   mount_fs IMG MNT [mapfs options...]   # starts "mapfs IMG MNT -f ...",
#                                         # waits up to 10 s for the mount
#   unmount_and_fsck IMG MNT      # unmount, wait for the daemon to exit,
#                                 # fsck.mapfs -n -f must exit 0
#   show_daemon_log MNT WHY       # the output of MNT's daemon, to stderr
#   user_mount_fs / user_unmount  # the same as the user of lib_user_init
#   run_checked WHAT IMG MNT CMD...   # CMD, then unmount and fsck; a
#                                     # failure goes to failed[]
#   run_cache_modes WHAT SIZE VAR PROG  # PROG MNT with and without -o
#                                       # writeback (run_conform, run_pconf)
#   fail MSG / skip MSG / note MSG
#   t DESCRIPTION EXPR            # one TAP check (counts in n, FAILED)
#   wait_gone SECS PID...         # after a kill: bounded wait for every
#                                 # thread to go (see "Kill safety" below)
#   release_hung MNT PID...       # report, fusectl abort, kill, detach
#
# Each mount_fs writes its daemon's stdout and stderr (where a daemon in
# the foreground sends its log lines) to a file of its own in $T; any
# failure about a daemon (it did not mount, did not unmount, did not exit,
# exited non-zero) prints that file to stderr, since callers often discard
# the stdout of unmount_only.
# The EXIT trap always unmounts (fusermount3 -u, then umount -l), kills
# daemons still running and removes $T, whatever way the test ends. Set
# MAPFS_TEST_KEEP=1 to keep $T (images, daemon logs) for a post-mortem.
# Exit status 77 means SKIP (no /dev/fuse, no fusermount3, mounting
# impossible here); 1 means failure.

set -u

MOUNT_WAIT=${MAPFS_MOUNT_WAIT:-10}	# seconds for a mount to appear
EXIT_WAIT=${MAPFS_EXIT_WAIT:-60}	# seconds for a daemon to exit

MOUNTS=()		# mount points we started, in order
declare -A DAEMON_PID	# mount point -> daemon pid
declare -A DAEMON_LOG	# mount point -> daemon log file
MOUNT_SEQ=0		# mounts started: names the daemon logs
T=

note() { echo "# $*"; }
# TAP checks: t DESCRIPTION EXPR evaluates EXPR and prints "ok N" or
# "not ok N" (then FAILED=1); end a script with: echo "1..$n"; exit $FAILED
n=0 FAILED=0
t() {
	n=$((n + 1))
	if eval "$2"; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		FAILED=1
	fi
}
fail() {
	echo "FAIL: $*" >&2
	echo "not ok - $*"
	exit 1
}
skip() {
	echo "SKIP: $*"
	exit 77
}

lib_cleanup() {
	local rc=$? m pid
	trap - EXIT INT TERM HUP
	set +e
	for m in "${MOUNTS[@]}"; do
		if is_mounted "$m"; then
			fusermount3 -u "$m" 2>/dev/null ||
				umount -l "$m" 2>/dev/null ||
				fusermount3 -u -z "$m" 2>/dev/null
		fi
	done
	for m in "${MOUNTS[@]}"; do
		pid=${DAEMON_PID[$m]:-}
		[ -n "$pid" ] || continue
		if pid_alive "$pid"; then
			kill -TERM "$pid" 2>/dev/null
			for _ in $(seq 50); do
				pid_alive "$pid" || break
				sleep 0.1
			done
			pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
		fi
		# A killed daemon with a thread stuck in the kernel never
		# ends: do not wait for it (wait_gone is bounded).
		wait_gone 10 "$pid" && wait "$pid" 2>/dev/null
	done
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ "${MAPFS_TEST_KEEP:-0}" = 1 ]; then
			echo "# kept $T" >&2
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}

# Alive and not a zombie (kill -0 succeeds on zombies too).
pid_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

is_mounted() {
	if command -v mountpoint >/dev/null 2>&1; then
		mountpoint -q "$1" 2>/dev/null && return 0
	fi
	awk -v m="$1" '$2 == m && $3 ~ /^fuse/ { found = 1 }
		END { exit !found }' /proc/self/mounts
}

require_fuse() {
	[ -c /dev/fuse ] || skip "/dev/fuse is missing"
	command -v fusermount3 >/dev/null 2>&1 || skip "fusermount3 is missing"
	if [ "$(id -u)" != 0 ]; then
		[ -r /dev/fuse ] && [ -w /dev/fuse ] ||
			skip "/dev/fuse is not accessible to this user"
	fi
}

# lib_start USAGE "$@": the start of a mount test. USAGE names its
# arguments ("MKFS FSCK MAPFS" and maybe one test program): any other
# count prints the usage and exits 2. Then lib_init with the first
# three; a fourth is stored in the variable its name in USAGE gives.
lib_start() {
	local usage=$1
	local -a names
	shift
	read -r -a names <<< "$usage"
	[ $# = ${#names[@]} ] || { echo "usage: $0 $usage" >&2; exit 2; }
	lib_init "$1" "$2" "$3"
	[ $# -lt 4 ] || printf -v "${names[3]}" %s "$4"
}

lib_init() {
	MKFS=$1 FSCK=$2 MAPFS=$3
	local p
	for p in "$MKFS" "$FSCK" "$MAPFS"; do
		[ -x "$p" ] || fail "not an executable: $p"
	done
	require_fuse
	T=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-mount.XXXXXX") ||
		fail "mktemp failed"
	chmod 755 "$T"
	trap lib_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

# lib_user_init (after lib_init, as root): an unprivileged user for the
# tests that mount as one (uid/gid 65534): /dev/fuse made 0666 (as on a
# standard Debian system) and restored on any exit, a directory $U that
# the user owns with $IMG and $MNT in it, and as_user CMD... to run CMD as
# that user, no supplementary groups, a minimal environment.
lib_user_init() {
	UID_U=65534
	GID_U=65534
	FUSE_MODE=$(stat -c %a /dev/fuse)
	trap 'rc=$?; chmod "$FUSE_MODE" /dev/fuse 2>/dev/null; (exit $rc); lib_cleanup' EXIT
	chmod 0666 /dev/fuse || skip "cannot chmod /dev/fuse"
	U=$T/user
	mkdir -p "$U/mnt" "$U/home"
	chown -R "$UID_U:$GID_U" "$U"
	chmod 700 "$U"
	IMG=$U/disk.img
	MNT=$U/mnt
}

# lib_user_test MKFS FSCK MAPFS (a script's arguments): the start of a
# test that acts as that user: SKIP unless run as root with setpriv, then
# lib_init and lib_user_init.
lib_user_test() {
	[ $# = 3 ] || { echo "usage: $0 MKFS FSCK MAPFS" >&2; exit 2; }
	[ "$(id -u)" = 0 ] || skip "needs root (to act as another user)"
	command -v setpriv >/dev/null 2>&1 || skip "setpriv is missing"
	lib_init "$1" "$2" "$3"
	lib_user_init
}

as_user() {
	setpriv --reuid="$UID_U" --regid="$GID_U" --clear-groups \
		env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$U/home" \
		LANG=C "$@"
}

# user_mount_fs [mapfs options]: as_user, start "mapfs $IMG $MNT -f
# options" in the background (output in $T/daemon.log, which is also
# DAEMON_LOG[$MNT]), register it like mount_fs does and wait for the
# mount (user_wait_mounted). Sets PID to the background job's pid.
user_mount_fs() {
	as_user "$MAPFS" "$IMG" "$MNT" -f "$@" > "$T/daemon.log" 2>&1 &
	PID=$!
	MOUNTS+=("$MNT")
	DAEMON_PID[$MNT]=$PID
	DAEMON_LOG[$MNT]=$T/daemon.log
	user_wait_mounted "$PID"
}

# user_wait_mounted PID: wait up to MOUNT_WAIT seconds for $MNT to be
# mounted while PID lives (any time if PID is empty: a daemonized
# mapfs). If it is not: SKIP when the log shows that the system refuses
# unprivileged FUSE mounts (fusermount3's messages, and the patterns in
# USER_REFUSED if set), else fail.
user_wait_mounted() {
	local pid=$1 i
	for ((i = 0; i < MOUNT_WAIT * 20; i++)); do
		is_mounted "$MNT" && return 0
		[ -n "$pid" ] && ! pid_alive "$pid" && break
		sleep 0.05
	done
	DAEMON_LOG[$MNT]=$T/daemon.log
	show_daemon_log "$MNT" "the user's mapfs, not mounted"
	grep -qiE "fusermount3?: (mount failed|failed to open)${USER_REFUSED:+|$USER_REFUSED}" \
		"$T/daemon.log" 2>/dev/null &&
		skip "unprivileged FUSE mounts are not allowed here"
	fail "$MNT not mounted by the unprivileged daemon"
}

# user_unmount PID [nostatus]: fusermount3 -u $MNT as the user, then
# wait up to EXIT_WAIT seconds for the daemon PID to exit (fail if it
# does not); its exit status must be 0, unless nostatus (a daemonized
# mapfs is not our child).
user_unmount() {
	local pid=$1 i rc
	as_user fusermount3 -u "$MNT" || fail "fusermount3 -u as the user failed"
	for ((i = 0; i < EXIT_WAIT * 20; i++)); do
		pid_alive "$pid" || break
		sleep 0.05
	done
	if pid_alive "$pid"; then
		show_daemon_log "$MNT" "pid $pid, still running"
		fail "daemon (pid $pid) still running ${EXIT_WAIT}s after fusermount3 -u"
	fi
	unset "DAEMON_PID[$MNT]"
	[ "${2:-}" = nostatus ] && return 0
	wait "$pid"
	rc=$?
	if [ "$rc" != 0 ]; then
		show_daemon_log "$MNT" "pid $pid, exit status $rc"
		fail "daemon exited with $rc"
	fi
}

# allow_other needs root, or user_allow_other in /etc/fuse.conf.
can_allow_other() {
	[ "$(id -u)" = 0 ] && return 0
	grep -qs '^[[:space:]]*user_allow_other' /etc/fuse.conf
}

make_image() {
	local img=$1 size=$2
	shift 2
	"$MKFS" -q -s "$size" "$@" "$img" > "$T/mkfs.out" 2>&1 || {
		cat "$T/mkfs.out"
		fail "mkfs.mapfs -s $size $* $img failed"
	}
}

# mount_fs IMG MNT [options for mapfs, e.g. -o allow_other]
mount_fs() {
	local img=$1 mnt=$2 pid log i
	shift 2
	mkdir -p "$mnt"
	MOUNT_SEQ=$((MOUNT_SEQ + 1))
	log="$T/daemon.$MOUNT_SEQ.$(basename "$mnt").log"
	"$MAPFS" "$img" "$mnt" -f "$@" > "$log" 2>&1 &
	pid=$!
	MOUNTS+=("$mnt")
	DAEMON_PID[$mnt]=$pid
	DAEMON_LOG[$mnt]=$log
	for ((i = 0; i < MOUNT_WAIT * 20; i++)); do
		is_mounted "$mnt" && return 0
		pid_alive "$pid" || break
		sleep 0.05
	done
	if ! pid_alive "$pid"; then
		wait "$pid"
		local rc=$?
		unset "DAEMON_PID[$mnt]"
		show_daemon_log "$mnt" "$MAPFS $img $mnt -f $*"
		# Refusals by the kernel or fusermount mean FUSE cannot be
		# used here: that is a SKIP, not a failure of mapfs.
		if grep -qiE 'fuse: device not found|failed to open /dev/fuse|fusermount3?: (mount failed|failed to open)|mount failed: Operation not permitted|Permission denied.*/dev/fuse|option allow_other only allowed' "$log"; then
			skip "cannot mount FUSE here"
		fi
		fail "mapfs exited with status $rc before mounting $mnt"
	fi
	show_daemon_log "$mnt" "so far"
	fail "$mnt not mounted after ${MOUNT_WAIT}s"
}

# show_daemon_log MNT WHY: the output of the daemon last started on MNT,
# to stderr.
show_daemon_log() {
	local log=${DAEMON_LOG[$1]:-}
	{
		echo "--- daemon output ($2) ---"
		[ -n "$log" ] && cat "$log"
		echo "--- end ---"
	} >&2
}

# Unmount MNT; the daemon must exit by itself with status 0 (writeback
# complete), then fsck.mapfs -n -f IMG must report a clean image.
unmount_only() {
	local mnt=$1 pid i rc
	pid=${DAEMON_PID[$mnt]:-}
	for ((i = 0; i < 50; i++)); do
		fusermount3 -u "$mnt" 2>"$T/umount.err" && break
		umount "$mnt" 2>>"$T/umount.err" && break
		sleep 0.2
	done
	if is_mounted "$mnt"; then
		cat "$T/umount.err" >&2
		show_daemon_log "$mnt" "pid ${pid:-?}, still mounted"
		fail "cannot unmount $mnt"
	fi
	[ -n "$pid" ] || return 0
	for ((i = 0; i < EXIT_WAIT * 10; i++)); do
		proc_gone "$pid" && break
		sleep 0.1
	done
	if ! proc_gone "$pid"; then
		show_daemon_log "$mnt" "pid $pid, still running"
		fail "mapfs (pid $pid) still running ${EXIT_WAIT}s after unmount"
	fi
	wait "$pid"
	rc=$?
	unset "DAEMON_PID[$mnt]"
	if [ "$rc" != 0 ]; then
		show_daemon_log "$mnt" "pid $pid, exit status $rc"
		fail "mapfs exited with status $rc after unmounting $mnt"
	fi
	# with_transport.sh: the daemon must have used the transport asked
	# for (it names it at unmount; read-only mounts too).
	if [ -n "${MAPFS_EXPECT_TRANSPORT:-}" ] &&
	   ! grep -q "requests: $MAPFS_EXPECT_TRANSPORT" "${DAEMON_LOG[$mnt]}"; then
		show_daemon_log "$mnt" "pid $pid, no $MAPFS_EXPECT_TRANSPORT"
		fail "the daemon did not take requests from $MAPFS_EXPECT_TRANSPORT"
	fi
}

run_fsck() {
	local img=$1 rc
	"$FSCK" -n -f "$img" > "$T/fsck.out" 2>&1
	rc=$?
	if [ "$rc" != 0 ]; then
		echo "--- fsck.mapfs -n -f $img (exit $rc) ---"
		cat "$T/fsck.out"
		echo "--- end ---"
		fail "fsck.mapfs -n -f found problems (exit $rc)"
	fi
	note "fsck.mapfs -n -f $(basename "$img"): clean"
}

unmount_and_fsck() {
	local img=$1 mnt=$2
	unmount_only "$mnt"
	run_fsck "$img"
}

# After a test failure: unmount and show fsck's view without failing
# here, so the caller can report the original failure.
unmount_and_show_fsck() {
	local img=$1 mnt=$2 rc
	unmount_only "$mnt"
	"$FSCK" -n -f "$img" > "$T/fsck.out" 2>&1
	rc=$?
	echo "--- fsck.mapfs -n -f $img (exit $rc) ---"
	cat "$T/fsck.out"
	echo "--- end ---"
}

# run_checked WHAT IMG MNT CMD...: run CMD on the mounted MNT; if it
# passed, unmount_and_fsck IMG MNT (which fails the test on a dirty
# image); if it failed, show fsck's view (unmount_and_show_fsck) and add
# "WHAT exit RC" to the caller's array failed.
run_checked() {
	local what=$1 img=$2 mnt=$3 rc
	shift 3
	"$@"
	rc=$?
	if [ "$rc" != 0 ]; then
		unmount_and_show_fsck "$img" "$mnt"
		failed+=("$what exit $rc")
	else
		unmount_and_fsck "$img" "$mnt"
	fi
}

# run_cache_modes WHAT SIZE VAR PROG: PROG MNT (through run_checked) on a
# fresh image of SIZE mounted with -o allow_other, first with the default
# options, then with the kernel's writeback cache (-o writeback); VAR is 1
# in PROG's environment for the second run, 0 for the first.
run_cache_modes() {
	local what=$1 size=$2 var=$3 prog=$4 opt img mnt wb
	local -a more
	for opt in default writeback; do
		img="$T/$opt.img"
		mnt="$T/$opt"
		note "run: $opt"
		make_image "$img" "$size"
		wb=0 more=()
		[ "$opt" = writeback ] && wb=1 more=(-o writeback)
		mount_fs "$img" "$mnt" -o allow_other "${more[@]}"
		run_checked "$what ($opt)" "$img" "$mnt" \
			env "$var=$wb" "$prog" "$mnt"
	done
}

# ---- Kill safety (killsafe.sh, crash.sh). None of these makes a system
# call on a mount: they read /proc and /sys only, so they cannot hang on
# a mount whose daemon is dead or stuck.

# proc_gone PID: true when PID has no thread left that is not a zombie
# (a killed process whose leader exited while another thread sleeps
# uninterruptibly shows Z for the leader but is not gone).
proc_gone() {
	local f line st
	[ -d "/proc/$1/task" ] || return 0
	for f in /proc/"$1"/task/*/stat; do
		# bash builtins only: this runs in tight loops
		line=
		read -r line 2>/dev/null < "$f" || continue
		st=${line##*) }
		case ${st%% *} in
		''|Z|X) ;;
		*) return 1 ;;
		esac
	done
	return 0
}

# wait_gone SECS PID...: wait until every PID is gone (proc_gone); false
# after SECS seconds.
wait_gone() {
	local secs=$1 p i left
	shift
	for ((i = 0; ; i++)); do
		left=0
		for p in "$@"; do
			proc_gone "$p" || { left=1; break; }
		done
		[ $left = 0 ] && return 0
		[ $i -ge $((secs * 50)) ] && return 1
		sleep 0.02
	done
}

# mount_devno MNT: MAJ:MIN of the newest FUSE mount at MNT, from
# /proc/self/mountinfo; empty if none. Only MNT's parent is resolved
# (realpath of MNT itself would look into the mount).
mount_devno() {
	local -a f
	local i dev= m
	m=$(realpath "$(dirname "$1")")/$(basename "$1")
	while read -r -a f; do
		[ "${f[4]}" = "$m" ] || continue
		for ((i = 6; i < ${#f[@]}; i++)); do
			[ "${f[i]}" = - ] && break
		done
		case ${f[i + 1]:-} in
		fuse|fuse.*) dev=${f[2]} ;;
		esac
	done < /proc/self/mountinfo
	echo "$dev"
}

# fuse_ctl_dir: the fusectl directory (/sys/fs/fuse/connections),
# mounted first if it is empty; empty output if that fails.
fuse_ctl_dir() {
	local d=/sys/fs/fuse/connections
	[ -d "$d" ] || return 0
	if [ -z "$(ls -A "$d" 2>/dev/null)" ] &&
	   ! grep -q " $d fusectl " /proc/self/mounts; then
		mount -t fusectl none "$d" 2>/dev/null || return 0
	fi
	echo "$d"
}

# fuse_abort DEVNO: abort the FUSE connection of the mount whose device
# is DEVNO (MAJ:MIN; the connection is named by the minor) through
# fusectl, ending every request it holds with ENOTCONN.
fuse_abort() {
	local ctl
	ctl=$(fuse_ctl_dir)
	[ -n "$ctl" ] && [ -w "$ctl/${1#*:}/abort" ] || {
		note "cannot abort connection ${1#*:}: no fusectl"
		return 1
	}
	echo 1 > "$ctl/${1#*:}/abort"
}

# report_stuck PID...: for the processes still there, every thread's
# state, wait channel and kernel stack, then the kernel's recent FUSE
# and io_uring lines; as TAP comments.
report_stuck() {
	local p t
	for p in "$@"; do
		proc_gone "$p" && continue
		for t in /proc/"$p"/task/*; do
			note "pid $p tid ${t##*/} ($(cat "$t/comm" 2>/dev/null)):" \
			     "state $(sed 's/^.*) //' "$t/stat" 2>/dev/null |
				      cut -d' ' -f1)," \
			     "wchan $(cat "$t/wchan" 2>/dev/null)"
			sed 's/^/#     /' "$t/stack" 2>/dev/null | head -12
		done
	done
	note "dmesg since the test began (fuse, io_uring, hung tasks; last 20):"
	dmesg 2>/dev/null | awk -v t="${DMESG_SINCE:-0}" '
		{ s = $0; sub(/^\[ */, "", s); sub(/\].*/, "", s) }
		s + 0 >= t && tolower($0) ~ /fuse|uring|hung|blocked for/' |
		tail -20 | sed 's/^/#   /'
}

# dmesg_mark: report_stuck shows only kernel lines from now on.
dmesg_mark() {
	DMESG_SINCE=$(cut -d' ' -f1 /proc/uptime)
}

# release_hung MNT PID...: PID... (a killed daemon, processes using MNT)
# are still there: print what they wait for and the kernel's FUSE lines,
# abort MNT's connection through fusectl, wait again and say whether that
# released them, then kill them and detach MNT. For a test about to fail;
# it never waits more than 10 s.
release_hung() {
	local mnt=$1 dev
	shift
	report_stuck "$@"
	dev=$(mount_devno "$mnt")
	if [ -z "$dev" ]; then
		note "no mount left at $mnt to abort"
	elif fuse_abort "$dev"; then
		if wait_gone 10 "$@"; then
			note "released by aborting connection ${dev#*:} (fusectl)"
		else
			note "NOT released 10 s after aborting connection" \
			     "${dev#*:} (fusectl):"
			report_stuck "$@"
		fi
	fi
	kill -9 "$@" 2>/dev/null
	# Detach in the background: if a request is still stuck, the last
	# reference to the mount waits for it forever (even with -l), and
	# lib_cleanup must not try a plain unmount of it either.
	umount -c -l "$mnt" < /dev/null > /dev/null 2>&1 &
	disown $!
	for _ in $(seq 100); do
		[ -z "$(mount_devno "$mnt")" ] && break
		sleep 0.02
	done
	local m keep=()
	for m in "${MOUNTS[@]}"; do
		[ "$m" = "$mnt" ] || keep+=("$m")
	done
	MOUNTS=("${keep[@]}")
	unset "DAEMON_PID[$mnt]"
}
