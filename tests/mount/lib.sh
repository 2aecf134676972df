# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# lib.sh - helpers shared by the mount tests; source it from bash.
#
#   . lib.sh
#   lib_init MKFS FSCK MAPFS      # paths of the three programs; sets up
#                                 # $T (temp dir) and the cleanup trap
#   make_image IMG SIZE [mkfs options...]
#   mount_fs IMG MNT [mapfs options...]   # starts "mapfs IMG MNT -f ...",
#                                         # waits up to 10 s for the mount
#   unmount_and_fsck IMG MNT      # unmount, wait for the daemon to exit,
#                                 # fsck.mapfs -n -f must exit 0
#   fail MSG / skip MSG / note MSG
#   t DESCRIPTION EXPR            # one TAP check (counts in n, FAILED)
#
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
		wait "$pid" 2>/dev/null
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

as_user() {
	setpriv --reuid="$UID_U" --regid="$GID_U" --clear-groups \
		env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$U/home" \
		LANG=C "$@"
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
	log="$T/daemon.$(basename "$mnt").$RANDOM.log"
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
		echo "--- daemon output ($MAPFS $img $mnt -f $*) ---"
		cat "$log"
		echo "--- end ---"
		# Refusals by the kernel or fusermount mean FUSE cannot be
		# used here: that is a SKIP, not a failure of mapfs.
		if grep -qiE 'fuse: device not found|failed to open /dev/fuse|fusermount3?: (mount failed|failed to open)|mount failed: Operation not permitted|Permission denied.*/dev/fuse|option allow_other only allowed' "$log"; then
			skip "cannot mount FUSE here"
		fi
		fail "mapfs exited with status $rc before mounting $mnt"
	fi
	echo "--- daemon output so far ---"
	cat "$log"
	fail "$mnt not mounted after ${MOUNT_WAIT}s"
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
		cat "$T/umount.err"
		fail "cannot unmount $mnt"
	fi
	[ -n "$pid" ] || return 0
	for ((i = 0; i < EXIT_WAIT * 10; i++)); do
		pid_alive "$pid" || break
		sleep 0.1
	done
	if pid_alive "$pid"; then
		cat "${DAEMON_LOG[$mnt]}"
		fail "mapfs (pid $pid) still running ${EXIT_WAIT}s after unmount"
	fi
	wait "$pid"
	rc=$?
	unset "DAEMON_PID[$mnt]"
	if [ "$rc" != 0 ]; then
		echo "--- daemon output ---"
		cat "${DAEMON_LOG[$mnt]}"
		echo "--- end ---"
		fail "mapfs exited with status $rc after unmounting $mnt"
	fi
	# with_transport.sh: the daemon must have used the transport asked
	# for (it names it at unmount; read-only mounts too).
	if [ -n "${MAPFS_EXPECT_TRANSPORT:-}" ] &&
	   ! grep -q "requests: $MAPFS_EXPECT_TRANSPORT" "${DAEMON_LOG[$mnt]}"; then
		# To stderr: callers may discard the unmount's stdout.
		cat "${DAEMON_LOG[$mnt]}" >&2
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
