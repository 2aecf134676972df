#!/bin/bash
# SPDX-License-Identifier: MIT
#
# unpriv.sh MKFS FSCK MAPFS
#
# Unprivileged use, end to end, as uid 65534 (nobody) in a directory it
# owns: mkfs.mapfs, mount through the daemon (which calls the setuid
# fusermount3: nothing of ours is setuid), file operations, unmount with
# `fusermount3 -u` as that user, wait for the daemon process to exit,
# and then the image must be marked clean: `fsck.mapfs -n` (no -f) exits
# 0 saying "clean" without forcing a check. Done twice: with the daemon
# in the foreground (-f, its exit status must be 0) and daemonized (the
# wrapper finds its pid and waits for it), then a remount checks the
# data. Then recovery from kill -9 as the user: mounting again at the
# same point clears the dead mount, and -o auto_unmount removes it by
# itself. A final fsck.mapfs -n -f must be clean.
#
# /dev/fuse is 0600 on some machines (0666 on standard Debian): the test
# makes it 0666 while it runs and restores the mode on any exit.
. "$(dirname "$0")/lib.sh"

lib_user_test "$@"

# Also a SKIP: the daemon's own refusals to mount as this user.
USER_REFUSED='Permission denied|Operation not permitted'

# The image must say "clean" by itself: fsck.mapfs -n without -f.
check_clean() {
	local rc
	"$FSCK" -n "$IMG" > "$T/fsck.out" 2>&1
	rc=$?
	cat "$T/fsck.out" | sed 's/^/# /'
	[ "$rc" = 0 ] || fail "fsck.mapfs -n after the daemon exited: exit $rc"
	grep -q ': clean, ' "$T/fsck.out" ||
		fail "image not marked clean after the daemon exited"
	grep -q 'check forced' "$T/fsck.out" && fail "fsck forced a check"
	return 0
}

workload() {	# as the user, on the mount
	as_user bash -ec '
		cd "$1"
		mkdir -p a/b/c
		head -c 3000000 /dev/urandom > a/big
		for i in $(seq 200); do echo "file $i" > a/b/f$i; done
		cp a/big a/b/c/copy
		mv a/b/f1 a/moved
		ln a/moved a/hard
		ln -s ../big a/b/sym
		chmod 0600 a/moved
		truncate -s 100000 a/b/c/copy
		rm a/b/f2
		dd if=/dev/zero of=a/zero bs=64k count=100 status=none
		sync a/big
		sha256sum a/big a/moved a/b/c/copy a/b/f3 > sums
	' _ "$MNT" || fail "file operations as uid $UID_U failed"
}

# --- mkfs as the user --------------------------------------------------
as_user "$MKFS" -q -s 64M "$IMG" || fail "mkfs.mapfs as uid $UID_U failed"
[ "$(stat -c %u "$IMG")" = "$UID_U" ] || fail "image not owned by the user"
[ "$(stat -c %u "$MNT")" = "$UID_U" ] || fail "mount point not owned"

# --- 1: foreground daemon, fusermount3 -u, its exit status --------------
user_mount_fs
grep -E " $MNT fuse" /proc/self/mounts | grep -q "user_id=$UID_U" ||
	fail "the mount is not the user's: $(grep " $MNT " /proc/self/mounts)"
note "mounted by uid $UID_U: $(grep " $MNT " /proc/self/mounts)"
workload
user_unmount "$PID"
check_clean
note "foreground daemon: clean after fusermount3 -u"

# --- 2: daemonized (no -f), the wrapper waits for the daemon's pid -------
as_user "$MAPFS" "$IMG" "$MNT" > "$T/daemon.log" 2>&1 ||
	{ cat "$T/daemon.log"; fail "mapfs (daemonized) as the user failed"; }
user_wait_mounted ""
PID=
for p in $(pgrep -u "$UID_U" -x mapfs); do
	tr '\0' ' ' < "/proc/$p/cmdline" | grep -qF "$IMG" && PID=$p
done
[ -n "$PID" ] || fail "cannot find the daemonized mapfs"
DAEMON_PID[$MNT]=$PID
as_user bash -ec 'cd "$1" && sha256sum -c --quiet sums &&
	head -c 5000000 /dev/urandom > a/second &&
	sha256sum a/second >> sums && rm -r a/b/c' _ "$MNT" ||
	fail "second round of file operations failed"
user_unmount "$PID" nostatus
check_clean
note "daemonized: clean once its pid is gone"

# --- remount: the data is there; final forced check ---------------------
user_mount_fs
as_user bash -ec 'cd "$1" && grep -v copy sums | sha256sum -c --quiet &&
	[ ! -e a/b/c ] && [ "$(stat -c %u a/second)" = '"$UID_U"' ]' _ "$MNT" ||
	fail "data lost across the unprivileged unmount"
user_unmount "$PID"
check_clean

# The user's daemon serving IMG (the pid of `as_user ... &` is a subshell).
daemon_pid() {
	local p
	for p in $(pgrep -u "$UID_U" -x mapfs); do
		tr '\0' ' ' < "/proc/$p/cmdline" | grep -qF "$IMG $MNT" && echo "$p"
	done
}
kill9() {	# SIGKILL the user's daemon; wait until it is gone
	local d i
	d=$(daemon_pid)
	[ -n "$d" ] || fail "cannot find the user's daemon"
	kill -KILL "$d"
	for ((i = 0; i < 200; i++)); do pid_alive "$d" || break; sleep 0.05; done
	pid_alive "$d" && fail "the killed daemon $d is still there after 10 s"
	exec 3>&2 2>/dev/null
	wait "$PID"
	exec 2>&3 3>&-
	unset "DAEMON_PID[$MNT]"
}

# --- kill -9, then the user mounts again at the same point --------------
# Before mapfs cleared it, the second mount replayed the journal and
# then failed with "Transport endpoint is not connected".
user_mount_fs
as_user sh -c 'echo "before the kill" > "$1/killed"' _ "$MNT" ||
	fail "cannot write as the user"
kill9
is_mounted "$MNT" || fail "the dead mount went away by itself?"
user_mount_fs
sleep 0.2
pid_alive "$PID" || { cat "$T/daemon.log"; fail "the second mount did not stay up"; }
grep -q "unmounted a dead mount" "$T/daemon.log" ||
	{ cat "$T/daemon.log"; fail "no word of the dead mount it cleared"; }
[ "$(awk -v m="$MNT" '$2 == m' /proc/self/mounts | wc -l)" = 1 ] ||
	fail "not exactly one mount at $MNT"
[ "$(as_user cat "$MNT/killed")" = "before the kill" ] ||
	fail "the file written before the kill is not there"
note "after kill -9 the user's next mount cleared the dead one"

# --- -o auto_unmount: the dead mount goes away by itself ------------------
user_unmount "$PID" nostatus
user_mount_fs -o auto_unmount
sleep 0.5
kill9
for ((i = 0; i < 100; i++)); do is_mounted "$MNT" || break; sleep 0.05; done
is_mounted "$MNT" && fail "-o auto_unmount as the user: the dead mount is still there 5 s after kill -9"
note "-o auto_unmount as the user: the dead mount was removed"
run_fsck "$IMG"
echo "ok - unprivileged mkfs, mount, use, fusermount3 -u, clean image; kill -9 recovery and auto_unmount as the user"
