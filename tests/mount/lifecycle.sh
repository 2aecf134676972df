#!/bin/bash
# SPDX-License-Identifier: MIT
#
# lifecycle.sh MKFS FSCK MAPFS
#
# The daemon's life cycle and the three tools' command lines, one TAP
# line per check (plan at the end), exit 1 if any check failed:
#   - --help, --version and a bad option of each tool;
#   - mkfs refusals (too small, bad -b, an existing image without -F,
#     any filesystem, partition table or swap libblkid recognizes,
#     named) and -n writing nothing; -F wipes the foreign signature;
#   - a mounted image is locked: mkfs -F, fsck -n and a second mapfs at
#     the same point are refused with "in use" and the mount point; a
#     second mapfs elsewhere shows the same filesystem there (a bind
#     mount, read-only with -o ro), with no second daemon;
#   - the mount point: the image itself, or a directory holding it, is
#     refused;
#   - unclean shutdown (kill -9): fsck -n -f survives it, a plain mount
#     is refused pointing at fsck.mapfs, -o ro and -o force work, and a
#     clean unmount after -o force leaves a clean image;
#   - after kill -9 the dead mount is cleared by mounting again at the
#     same point (one mount, not two stacked), and -o auto_unmount
#     removes it by itself;
#   - SIGTERM and SIGINT to mapfs -f unmount cleanly (exit 0, image
#     clean, data kept), and so does umount(8);
#   - mounting through mount.fuse3: mount -t fuse.mapfs (also with every
#     atime option) and an fstab line (mount --fstab FILE MNT);
#   - truncated and foreign images are refused by mapfs and fsck;
#   - an image truncated while mounted: reads fail with EIO, the daemon
#     lives on and exits after the unmount, fsck then finds problems;
#   - statfs: df shows the size, stat -f a name length of 255.
# That a read-only mount leaves the image unchanged is checked by
# persist.sh, not here.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
REAL_MAPFS=$(realpath "$MAPFS")

N=0
FAILED=0
ok() {
	N=$((N + 1))
	echo "ok $N - $*"
}
not_ok() {
	N=$((N + 1))
	echo "not ok $N - $*"
	FAILED=$((FAILED + 1))
}
skip_check() {
	N=$((N + 1))
	echo "ok $N - $1 # SKIP $2"
}
# check DESC COMMAND...: ok when COMMAND succeeds; on failure the
# output of the last run (if not shown by an earlier check) is shown.
check() {
	local desc=$1
	shift
	if "$@"; then
		ok "$desc"
	else
		[ "$FRESH" = 1 ] && show
		not_ok "$desc"
	fi
	FRESH=0
}

# run COMMAND...: stdout and stderr in $OUT, exit status in $RC. A
# command still running after 60 s is killed (status 124 or 137).
OUT=$T/out
run() {
	timeout -k 5 60 "$@" > "$OUT" 2>&1
	RC=$?
	LAST="$*"
	FRESH=1
}
FRESH=0
show() {
	echo "#   \$ $LAST  (exit $RC)"
	sed -n '1,25s/^/#   /p' "$OUT"
	[ "$(wc -l < "$OUT")" -le 25 ] || echo "#   ..."
}
has() { grep -qE -- "$1" "$OUT"; }
# The program ended by itself: no signal, no timeout, no exec failure.
no_crash() { [ "$RC" -lt 124 ]; }
refused() { [ "$RC" != 0 ] && no_crash; }
sum() { sha256sum < "$1"; }

# A mapfs run without -f daemonizes when it succeeds: have the trap
# unmount anything it mounts.
track() { MOUNTS+=("$1"); }

# wait_exit MNT: wait for the daemon serving MNT (started by mount_fs)
# to exit; its status in $DRC. Fails if it is still running.
wait_exit() {
	local mnt=$1 pid i
	pid=${DAEMON_PID[$mnt]:-}
	[ -n "$pid" ] || return 1
	for ((i = 0; i < EXIT_WAIT * 10; i++)); do
		pid_alive "$pid" || break
		sleep 0.1
	done
	pid_alive "$pid" && return 1
	wait "$pid"
	DRC=$?
	unset "DAEMON_PID[$mnt]"
	return 0
}

# fsck_clean IMG: fsck.mapfs -n -f must exit 0 (a TAP check).
fsck_clean() {
	run "$FSCK" -n -f "$1"
	check "fsck.mapfs -n -f $(basename "$1"): clean${2:+ $2}" \
		[ "$RC" = 0 ]
}

# Every process that has FILE open (a daemon we did not start).
holders() {
	local f p fd
	f=$(realpath "$1")
	for p in /proc/[0-9]*; do
		for fd in "$p"/fd/*; do
			if [ "$(readlink "$fd" 2>/dev/null)" = "$f" ]; then
				echo "${p#/proc/}"
				break
			fi
		done
	done
}

# The image lock is free: whatever daemon used IMG has exited.
wait_unlocked() {
	flock -x -w "${2:-$EXIT_WAIT}" "$1" true
}

tool_name() {
	case $1 in
	"$MKFS") echo mkfs.mapfs ;;
	"$FSCK") echo fsck.mapfs ;;
	*) echo mapfs ;;
	esac
}

MNT=$T/mnt
MNT2=$T/mnt2
mkdir -p "$MNT" "$MNT2"

# ------------------------------------------------------------------
note "command lines: --help, --version, bad options"
for prog in "$MKFS" "$FSCK" "$MAPFS"; do
	name=$(tool_name "$prog")
	run "$prog" --help
	check "$name --help exits 0 and prints a usage" \
		eval '[ "$RC" = 0 ] && grep -qi "usage: .*$name" "$OUT"'
	run "$prog" --version
	check "$name --version exits 0 and prints the version" \
		eval '[ "$RC" = 0 ] && has "^$name [0-9]+\.[0-9]+"'
	run "$prog" --no-such-option
	check "$name --no-such-option: nonzero exit, '$name: ...' message" \
		eval 'refused && has "^$name: "'
	run "$prog" -Z
	check "$name -Z: nonzero exit, '$name: ...' message" \
		eval 'refused && has "^$name: "'
done
run "$MKFS" --no-such-option
check "mkfs.mapfs: bad option exits 2" [ "$RC" = 2 ]
run "$FSCK" --no-such-option
check "fsck.mapfs: bad option exits 16" [ "$RC" = 16 ]
run "$FSCK" -n -y "$T/whatever.img"
check "fsck.mapfs -n -y: usage error (16)" \
	eval '[ "$RC" = 16 ] && has "^fsck.mapfs: "'
run "$MKFS"
check "mkfs.mapfs without an image: exit 2 with a message" \
	eval '[ "$RC" = 2 ] && has "^mkfs.mapfs: "'
run "$MAPFS"
check "mapfs without arguments: nonzero exit, usage" \
	eval 'refused && has "usage: mapfs"'

make_image "$T/opt.img" 64M
track "$MNT"
run "$MAPFS" "$T/opt.img" "$MNT" --no-such-option
check "mapfs IMG MNT --no-such-option: refused with 'mapfs: ...', not mounted" \
	eval 'refused && has "^mapfs: " && has "no-such-option" && ! is_mounted "$MNT"'
run "$MAPFS" "$T/opt.img" "$MNT" -o no_such_option
check "mapfs IMG MNT -o no_such_option: refused with 'mapfs: ...', not mounted" \
	eval 'refused && has "^mapfs: " && has "no_such_option" && ! is_mounted "$MNT"'
run "$MAPFS" "$T/opt.img" "$MNT" -o timeout=-1
check "mapfs -o timeout=-1: refused, not mounted" \
	eval 'refused && has "^mapfs: .*timeout" && ! is_mounted "$MNT"'
run "$MAPFS" "$T/no-such.img" "$MNT"
check "mapfs on a missing image: refused with 'mapfs: ...: No such file'" \
	eval 'refused && has "^mapfs: .*No such file" && ! is_mounted "$MNT"'
run "$MAPFS" "$T/opt.img" "$T/no-such-dir"
check "mapfs on a missing mount point: refused" \
	eval 'refused && has "^mapfs: |fuse: "'
run "$FSCK" -n "$T/no-such.img"
check "fsck.mapfs on a missing image: exit 8 with a message" \
	eval '[ "$RC" = 8 ] && has "^fsck.mapfs: "'
run "$FSCK" -n -f "$T/opt.img"
check "fsck.mapfs -n -f: the image is clean after the refused mounts" [ "$RC" = 0 ]

# ------------------------------------------------------------------
note "mkfs.mapfs: refusals and dry runs"
run "$MKFS" -q -s 100K "$T/small.img"
check "mkfs -s 100K: refused as too small, nothing created" \
	eval 'refused && has "^mkfs.mapfs: .*too small" && [ ! -e "$T/small.img" ]'
for b in 3000 131072 0 2048; do
	run "$MKFS" -q -s 64M -b "$b" "$T/bsize.img"
	check "mkfs -b $b: refused (bad block size), nothing created" \
		eval 'refused && has "^mkfs.mapfs: bad block size" && [ ! -e "$T/bsize.img" ]'
done
run "$MKFS" -q -s 64M -b 65536 "$T/b64k.img"
check "mkfs -b 65536 works" [ "$RC" = 0 ]
fsck_clean "$T/b64k.img" "(64 KiB blocks)"
rm -f "$T/b64k.img"
run "$MKFS" -q -s 1M "$T/tiny.img"
check "mkfs -s 1M works" [ "$RC" = 0 ]
fsck_clean "$T/tiny.img" "(1 MiB)"

EX=$T/existing.img
make_image "$EX" 64M
before=$(sum "$EX")
run "$MKFS" -q "$EX"
check "mkfs on an existing image without -F: refused (use -F)" \
	eval 'refused && has "^mkfs.mapfs: .*-F"'
run "$MKFS" -q -s 32M "$EX"
check "mkfs -s 32M on an existing image without -F: refused" \
	eval 'refused && has "^mkfs.mapfs: .*-F"'
check "the refused mkfs left the image unchanged (bytes and size)" \
	eval '[ "$(sum "$EX")" = "$before" ] && [ "$(stat -c %s "$EX")" = $((64 << 20)) ]'
run "$MKFS" -n "$EX"
check "mkfs -n on an existing image: exit 0, says dry run" \
	eval '[ "$RC" = 0 ] && has "dry run"'
run "$MKFS" -n -F -s 128M "$EX"
check "mkfs -n -F -s 128M on an existing image: exit 0" [ "$RC" = 0 ]
check "mkfs -n changed nothing (bytes and size)" \
	eval '[ "$(sum "$EX")" = "$before" ] && [ "$(stat -c %s "$EX")" = $((64 << 20)) ]'
run "$MKFS" -n -s 64M "$T/dry.img"
check "mkfs -n -s 64M NEW: exit 0, file not created" \
	eval '[ "$RC" = 0 ] && [ ! -e "$T/dry.img" ]'
head -c 1M /dev/zero > "$T/zeros.img"
# shellcheck disable=SC2034 # used in the eval below
zbefore=$(sum "$T/zeros.img")
run "$MKFS" -n "$T/zeros.img"
check "mkfs -n on a plain file: exit 0, file unchanged" \
	eval '[ "$RC" = 0 ] && [ "$(sum "$T/zeros.img")" = "$zbefore" ]'
run "$MKFS" -q -F "$EX"
check "mkfs -F over an existing image works" [ "$RC" = 0 ]
check "mkfs -F rewrote the image (new uuid)" \
	[ "$(sum "$EX")" != "$before" ]
fsck_clean "$EX" "after mkfs -F"

# Other filesystems, partition tables, swap: what libblkid recognizes.
foreign() { # NAME COMMAND... : make $T/foreign.img with COMMAND, then check
	local name=$1 fb
	shift
	rm -f "$T/foreign.img"
	truncate -s 64M "$T/foreign.img"
	if ! "$@" > /dev/null 2>&1; then
		skip_check "mkfs over $name" "cannot make one here ($1)"
		return
	fi
	fb=$(sum "$T/foreign.img")
	run "$MKFS" -q "$T/foreign.img"
	check "mkfs over $name: refused, names it, use -F" 		eval 'refused && has "^mkfs.mapfs: .*contains .*$name.*-F"'
	check "mkfs over $name: image unchanged" 		eval '[ "$(sum "$T/foreign.img")" = "$fb" ]'
	run "$MKFS" -q -F "$T/foreign.img"
	check "mkfs -F over $name works" [ "$RC" = 0 ]
	if command -v blkid > /dev/null; then
		run blkid -p "$T/foreign.img"
		check "after mkfs -F, blkid finds nothing of $name" \
			eval '[ "$RC" = 2 ]'
	fi
	fsck_clean "$T/foreign.img" "(made over $name)"
}
foreign 'ext4 filesystem \(label "old"\)' mkfs.ext4 -q -F -L old "$T/foreign.img"
foreign 'swap' mkswap "$T/foreign.img"
foreign 'dos partition table' sh -c "printf 'label: dos\n,\n' | sfdisk -q '$T/foreign.img'"
foreign 'gpt partition table' sh -c "printf 'label: gpt\n,\n' | sfdisk -q '$T/foreign.img'"
rm -f "$T/foreign.img"

# ------------------------------------------------------------------
note "a mounted image is locked"
IMG=$T/life.img
make_image "$IMG" 64M
mount_fs "$IMG" "$MNT"
echo "locked data" > "$MNT/file"
track "$MNT2"
# A second mount elsewhere (root) is one more view of the same filesystem,
# as for a block device (xfstests generic/732): no second daemon.
ndaemons() { pgrep -c -f -- "$(realpath "$IMG")" || true; }
nd=$(ndaemons)
run "$MAPFS" "$IMG" "$MNT2"
check "second mapfs IMG MNT2: the same filesystem shown there" \
	eval '[ "$RC" = 0 ] && is_mounted "$MNT2" &&
	      [ "$(cat "$MNT2/file")" = "locked data" ]'
check "second mapfs IMG MNT2: no second daemon" eval '[ "$(ndaemons)" = "$nd" ]'
mkdir -p "$MNT/A" "$MNT/B" && touch "$MNT/A/f" && mv "$MNT/A/f" "$MNT/B/" &&
	mv "$MNT2/B/f" "$MNT2/A/"
check "renames through both mount points land in one tree" \
	eval '[ -e "$MNT/A/f" ] && [ ! -e "$MNT/B/f" ]'
rm -rf "$MNT/A" "$MNT/B"
run umount "$MNT2"
check "unmounting the second view leaves the first" \
	eval '[ "$RC" = 0 ] && [ "$(cat "$MNT/file")" = "locked data" ]'
run "$MAPFS" -o ro "$IMG" "$MNT2"
check "second mapfs -o ro IMG MNT2: a read-only view" \
	eval '[ "$RC" = 0 ] && [ "$(cat "$MNT2/file")" = "locked data" ] &&
	      ! touch "$MNT2/ro-view" 2>/dev/null && touch "$MNT/rw-view" &&
	      rm "$MNT/rw-view"'
umount "$MNT2"
run "$MAPFS" "$IMG" "$MNT"
check "mapfs IMG MNT again at the same point: refused, 'in use'" \
	eval 'refused && has "^mapfs: .*in use: mounted at"'
run "$MKFS" -F "$IMG"
check "mkfs.mapfs -F on the mounted image: refused, 'in use'" \
	eval 'refused && has "^mkfs.mapfs: .*in use"'
run "$MKFS" -q -F -s 64M "$IMG"
check "mkfs.mapfs -F -s 64M on the mounted image: refused, 'in use'" \
	eval 'refused && has "^mkfs.mapfs: .*in use"'
run "$FSCK" -n "$IMG"
check "fsck.mapfs -n on the mounted image: exit 8, 'in use', names the mount point" \
	eval '[ "$RC" = 8 ] && has "^fsck.mapfs: .*in use: mounted at $MNT"'
run "$FSCK" -y -f "$IMG"
check "fsck.mapfs -y -f on the mounted image: exit 8, 'in use'" \
	eval '[ "$RC" = 8 ] && has "^fsck.mapfs: .*in use"'
check "the mount still works after the refusals" \
	eval '[ "$(cat "$MNT/file")" = "locked data" ]'
unmount_and_fsck "$IMG" "$MNT"
ok "unmounted, image clean"

note "the mount point"
track "$IMG"	# should a mount happen anyway, the trap undoes it
track "$T"
run "$MAPFS" "$IMG" "$IMG"
check "mapfs IMG IMG: refused, nothing mounted over the image" \
	eval 'refused && has "^mapfs: mount point .* is the image" && ! is_mounted "$IMG"'
run "$MAPFS" "$IMG" "$T"
check "mapfs IMG DIR-HOLDING-IMG: refused" \
	eval 'refused && has "^mapfs: mount point .* contains the image" && ! is_mounted "$T"'
fsck_clean "$IMG" "after the refused mounts"

# ------------------------------------------------------------------
note "unclean shutdown: kill -9, with the journal (the default)"
kill_only() { # MNT: SIGKILL its daemon, leaving the dead mount
	local pid=${DAEMON_PID[$1]}
	# (bash reports the killed job on its own stderr: silence that)
	exec 3>&2 2>/dev/null
	kill -KILL "$pid"
	wait "$pid"
	exec 2>&3 3>&-
	unset "DAEMON_PID[$1]"
}
kill_daemon() { # MNT: SIGKILL its daemon and clear the dead mount
	kill_only "$1"
	fusermount3 -u -z "$1" 2>/dev/null || umount -l "$1" 2>/dev/null
}
mount_fs "$IMG" "$MNT"
echo "written before the crash" > "$MNT/crash"
echo "not synced, but acknowledged" > "$MNT/unsynced"
sync "$MNT/crash"
kill_daemon "$MNT"
check "the dead mount is gone after a lazy unmount" eval '! is_mounted "$MNT"'
run "$FSCK" -n -f "$IMG"
show
check "fsck -n -f after kill -9: the journal replays in memory, clean" \
	eval '[ "$RC" = 0 ] && has "journal: .* replayed in memory"'
mount_fs "$IMG" "$MNT"
check "mapfs on the unclean image: recovered from the journal" \
	eval 'grep -q "recovered from the journal" "${DAEMON_LOG[$MNT]}" &&
	      grep -qE " $MNT fuse[^ ]* rw[, ]" /proc/self/mounts'
check "both files are there, the unsynced one too" \
	eval '[ "$(cat "$MNT/crash")" = "written before the crash" ] &&
	      [ "$(cat "$MNT/unsynced")" = "not synced, but acknowledged" ]'
unmount_and_fsck "$IMG" "$MNT"

note "kill -9, then mount again at the same point"
mount_fs "$IMG" "$MNT"
echo "before the kill" > "$MNT/dead"
kill_only "$MNT"
check "the dead mount is still there (nothing cleared it yet)" \
	eval 'is_mounted "$MNT"'
mount_fs "$IMG" "$MNT"
check "mapfs IMG MNT over the dead mount: it says it cleared it" \
	eval 'grep -q "unmounted a dead mount" "${DAEMON_LOG[$MNT]}"'
check "one mount at MNT, not two stacked" \
	eval '[ "$(awk -v m="$MNT" '"'"'$2 == m'"'"' /proc/self/mounts | wc -l)" = 1 ]'
check "the data is there" eval '[ "$(cat "$MNT/dead")" = "before the kill" ]'
unmount_and_fsck "$IMG" "$MNT"

note "-o auto_unmount removes the mount of a killed daemon"
mount_fs "$IMG" "$MNT" -o auto_unmount
kill_only "$MNT"
for ((i = 0; i < 100; i++)); do is_mounted "$MNT" || break; sleep 0.05; done
check "auto_unmount: the dead mount is gone within 5 s" eval '! is_mounted "$MNT"'
mount_fs "$IMG" "$MNT" -o auto_unmount
unmount_and_fsck "$IMG" "$MNT"
sleep 0.2
check "auto_unmount: no guard left behind after a clean unmount" \
	eval '! pgrep -f "mapfs-guard .* $IMG\$" > /dev/null'

note "unclean shutdown: kill -9, image without a journal (-J 0)"
IMGNJ=$T/nojournal.img
run "$MKFS" -q -J 0 -s 32M "$IMGNJ"
check "mkfs.mapfs -J 0: no journal" eval '[ "$RC" = 0 ]'
mount_fs "$IMGNJ" "$MNT"
echo "written before the crash" > "$MNT/crash"
sync "$MNT/crash"
kill_daemon "$MNT"
run "$FSCK" -n -f "$IMGNJ"
show
FRESH=0
check "fsck -n -f after kill -9: exit 0 or 4 (exit $RC), no crash" \
	eval '[ "$RC" = 0 ] || [ "$RC" = 4 ]'
track "$MNT"
run "$MAPFS" "$IMGNJ" "$MNT"
check "mapfs on the unclean image: refused, pointing at fsck.mapfs" \
	eval 'refused && has "^mapfs: .*fsck\.mapfs" && ! is_mounted "$MNT"'
mount_fs "$IMGNJ" "$MNT" -o ro
check "mapfs -o ro on the unclean image: mounted read-only" \
	eval 'grep -qE " $MNT fuse[^ ]* ro[, ]" /proc/self/mounts'
check "the file written before the crash is readable" \
	eval '[ "$(cat "$MNT/crash")" = "written before the crash" ]'
check "writing to the read-only mount fails" \
	eval '! (echo x > "$MNT/new") 2>/dev/null'
unmount_only "$MNT"
run "$MAPFS" "$IMGNJ" "$MNT"
check "a read-only mount did not mark the image clean: still refused" \
	eval 'refused && has "^mapfs: .*fsck\.mapfs" && ! is_mounted "$MNT"'
mount_fs "$IMGNJ" "$MNT" -o force
check "mapfs -o force: mounted read-write" \
	eval 'grep -qE " $MNT fuse[^ ]* rw[, ]" /proc/self/mounts'
check "-o force: the file is there and a new one can be written" \
	eval '[ "$(cat "$MNT/crash")" = "written before the crash" ] &&
	      echo after > "$MNT/after" && [ "$(cat "$MNT/after")" = after ]'
unmount_only "$MNT"
ok "-o force mount unmounted cleanly (daemon exit 0)"
fsck_clean "$IMGNJ" "after the forced mount"
mount_fs "$IMGNJ" "$MNT"
check "a plain mount works again and the data is there" \
	eval '[ "$(cat "$MNT/after")" = after ] && [ "$(cat "$MNT/crash")" = "written before the crash" ]'
unmount_and_fsck "$IMGNJ" "$MNT"

# ------------------------------------------------------------------
note "SIGTERM, SIGINT and umount(8)"
# A background job of a non-interactive shell starts with SIGINT
# ignored, and libfuse leaves an ignored signal alone: start the daemon
# with SIGINT back to its default.
LAUNCH=$T/mapfs-sigint
if env --default-signal=INT true 2>/dev/null; then
	printf '#!/bin/sh\nexec env --default-signal=INT "%s" "$@"\n' \
		"$REAL_MAPFS" > "$LAUNCH"
elif command -v perl > /dev/null; then
	printf '#!/bin/sh\nexec perl -e %s "%s" "$@"\n' \
		"'\$SIG{INT} = \"DEFAULT\"; exec @ARGV or die'" \
		"$REAL_MAPFS" > "$LAUNCH"
else
	LAUNCH=
fi
[ -n "$LAUNCH" ] && chmod +x "$LAUNCH"

for sig in TERM INT; do
	if [ "$sig" = INT ] && [ -z "$LAUNCH" ]; then
		skip_check "SIGINT" "no env --default-signal and no perl"
		continue
	fi
	[ "$sig" = INT ] && MAPFS=$LAUNCH
	mount_fs "$IMG" "$MNT"
	MAPFS=$REAL_MAPFS
	echo "before SIG$sig" > "$MNT/sig$sig"
	kill -"$sig" "${DAEMON_PID[$MNT]}"
	if wait_exit "$MNT"; then
		check "SIG$sig: mapfs -f exits with status 0 (got $DRC)" \
			[ "$DRC" = 0 ]
		check "SIG$sig: the mount is gone" eval '! is_mounted "$MNT"'
		fsck_clean "$IMG" "after SIG$sig"
	else
		not_ok "SIG$sig: mapfs -f still running ${EXIT_WAIT}s later"
		unmount_only "$MNT"
	fi
	if is_mounted "$MNT"; then
		fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
	mount_fs "$IMG" "$MNT"
	check "SIG$sig: data written before is there after remount" \
		eval '[ "$(cat "$MNT/sig$sig" 2>/dev/null)" = "before SIG$sig" ]'
	unmount_and_fsck "$IMG" "$MNT"
done

mount_fs "$IMG" "$MNT"
echo "before umount" > "$MNT/umount"
run umount "$MNT"
check "umount(8) of the mount works" \
	eval '[ "$RC" = 0 ] && ! is_mounted "$MNT"'
if wait_exit "$MNT"; then
	check "after umount(8) the daemon exits with status 0 (got $DRC)" \
		[ "$DRC" = 0 ]
else
	not_ok "daemon still running ${EXIT_WAIT}s after umount(8)"
fi
fsck_clean "$IMG" "after umount(8)"
mount_fs "$IMG" "$MNT"
check "data written before umount(8) is there after remount" \
	eval '[ "$(cat "$MNT/umount")" = "before umount" ]'
unmount_and_fsck "$IMG" "$MNT"

# ------------------------------------------------------------------
note "mount.fuse3: mount -t fuse.mapfs and an fstab line"
# mount(8) runs mount.fuse3 with PATH removed from the environment, so
# the shell that mount.fuse3 starts looks "mapfs" up in its default
# PATH only. In a private mount namespace our bin dir is bind-mounted
# over /usr/local/sbin (on that default PATH) and prepended to PATH;
# without unshare only PATH is tried, and "mapfs: not found" is a skip.
FIMG=$T/fstab.img
FMNT=$T/fmnt
BIN=$T/bin
mkdir -p "$FMNT" "$BIN"
ln -s "$(realpath "$REAL_MAPFS")" "$BIN/mapfs"
make_image "$FIMG" 64M
printf '%s %s fuse.mapfs defaults,allow_other 0 0\n' "$FIMG" "$FMNT" \
	> "$T/fstab"
cat > "$T/fstab-inner.sh" <<'EOF'
# fstab-inner.sh IMG MNT FSTAB FSCK BIN T BIND: one line per check:
# "ok - ...", "not ok - ...", "skip - WHAT - WHY", "# ..."
set -u
IMG=$1 MNT=$2 FSTAB=$3 FSCK=$4 BIN=$5 T=$6 BIND=$7
OUT=$T/fstab.out
cleanup() {
	if mountpoint -q "$MNT"; then
		umount "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
}
trap cleanup EXIT
res() {
	if [ "$1" = 0 ]; then echo "ok - $2"; else echo "not ok - $2"; fi
}
showout() { sed 's/^/#   /' "$OUT"; }
if [ "$BIND" = 1 ]; then
	mount --bind "$BIN" /usr/local/sbin || {
		echo "skip - mount.fuse3 checks - cannot bind-mount over /usr/local/sbin"
		exit 0
	}
fi
export PATH="$BIN:$PATH"

# try_mount DESC COMMAND...
try_mount() {
	local desc=$1 rc
	shift
	timeout -k 5 60 "$@" > "$OUT" 2>&1
	rc=$?
	if [ "$rc" != 0 ] && grep -q 'mapfs: not found' "$OUT"; then
		showout
		echo "skip - $desc - mount(8) did not pass PATH to mount.fuse3"
		return 1
	fi
	[ "$rc" = 0 ] && mountpoint -q "$MNT"
	rc=$?
	[ "$rc" = 0 ] || showout
	res $rc "$desc: mounted"
	[ "$rc" = 0 ] || return 1
	awk -v m="$MNT" '$2 == m && $3 == "fuse.mapfs" { f = 1 }
		END { exit !f }' /proc/self/mounts
	res $? "$desc: /proc/self/mounts says fuse.mapfs"
	grep " $MNT " /proc/self/mounts | sed 's/^/#   /'
	grep -qE " $MNT fuse.mapfs [^ ]*allow_other" /proc/self/mounts
	res $? "$desc: allow_other in the mount options"
	echo "via $desc" > "$MNT/file" && [ "$(cat "$MNT/file")" = "via $desc" ]
	res $? "$desc: a file can be written and read back"
	umount "$MNT" > "$OUT" 2>&1
	rc=$?
	[ "$rc" = 0 ] || showout
	res $rc "$desc: umount"
	flock -x -w 60 "$IMG" true
	res $? "$desc: the daemon released the image after umount"
	"$FSCK" -n -f "$IMG" > "$OUT" 2>&1
	rc=$?
	[ "$rc" = 0 ] || showout
	res $rc "$desc: fsck.mapfs -n -f clean"
}

try_mount "mount -t fuse.mapfs IMG MNT -o allow_other" \
	mount -t fuse.mapfs "$IMG" "$MNT" -o allow_other
# the atime words as mount(8) users write them (xfstests generic/003)
try_mount "mount -t fuse.mapfs -o nodiratime,relatime,lazytime,..." \
	mount -t fuse.mapfs "$IMG" "$MNT" -o allow_other,nodiratime,relatime,lazytime,strictatime,norelatime,nostrictatime,diratime,nolazytime,atime
if mount --help 2>&1 | grep -q -- '--fstab'; then
	try_mount "mount --fstab FILE MNT" mount --fstab "$FSTAB" "$MNT"
else
	echo "skip - mount --fstab FILE MNT - this mount(8) has no --fstab"
fi
exit 0
EOF
if ! command -v mount.fuse3 > /dev/null && [ ! -x /sbin/mount.fuse3 ] &&
   [ ! -x /usr/sbin/mount.fuse3 ]; then
	skip_check "mount -t fuse.mapfs" "mount.fuse3 is not installed"
elif ! can_allow_other; then
	skip_check "mount -t fuse.mapfs" "allow_other not permitted"
else
	bind=0
	wrap=()
	if [ -d /usr/local/sbin ] && [ "$(id -u)" = 0 ] &&
	   unshare --mount --propagation private true 2>/dev/null; then
		bind=1
		wrap=(unshare --mount --propagation private)
	fi
	"${wrap[@]}" bash "$T/fstab-inner.sh" "$FIMG" "$FMNT" "$T/fstab" \
		"$FSCK" "$BIN" "$T" "$bind" > "$T/fstab.tap" 2>&1
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*) not_ok "${line#not ok - }" ;;
		"skip - "*)
			line=${line#skip - }
			skip_check "${line%% - *}" "${line#* - }" ;;
		"#"*) echo "$line" ;;
		*) echo "# $line" ;;
		esac
	done < "$T/fstab.tap"
	grep -qE '^(ok|not ok|skip) - ' "$T/fstab.tap" ||
		not_ok "the mount.fuse3 checks produced no result"
	if ! wait_unlocked "$FIMG" 30; then
		not_ok "a daemon still holds $FIMG after the mount.fuse3 checks"
		for p in $(holders "$FIMG"); do kill -TERM "$p"; done
	fi
fi

# ------------------------------------------------------------------
note "truncated and foreign images"
make_image "$T/whole.img" 256M
make_image "$T/small1.img" 64M
cp --sparse=always "$T/whole.img" "$T/half.img"
truncate -s 128M "$T/half.img"
cp --sparse=always "$T/small1.img" "$T/half1.img"
truncate -s 32M "$T/half1.img"
head -c 8M /dev/urandom > "$T/random.img"
truncate -s 64M "$T/zeros64.img"
: > "$T/empty.img"
for bad in half half1 random zeros64 empty; do
	f=$T/$bad.img
	before=$(sum "$f")
	run "$MAPFS" "$f" "$MNT"
	check "mapfs refuses $bad.img with a message, no crash" \
		eval 'refused && has "^mapfs: .*$bad\.img" && ! is_mounted "$MNT"'
	case $bad in half*)
		check "mapfs names the truncation of $bad.img" \
			has "truncated|image holds only"
	esac
	run "$FSCK" -n -f "$f"
	check "fsck.mapfs -n -f $bad.img: exit 8 or 4 (got $RC) with a message" \
		eval '{ [ "$RC" = 8 ] || [ "$RC" = 4 ]; } && has "^fsck.mapfs: "'
	run "$FSCK" -f "$f"
	check "fsck.mapfs -f $bad.img: exit 8 or 4 (got $RC), no crash" \
		eval '[ "$RC" = 8 ] || [ "$RC" = 4 ]'
	check "$bad.img was not modified" [ "$(sum "$f")" = "$before" ]
	rm -f "$f"
done
rm -f "$T/whole.img" "$T/small1.img"

# ------------------------------------------------------------------
note "an image truncated while mounted"
# The file's data lies past the first quarter of a 16M image; once the
# image shrinks under the daemon, its loads fault (SIGBUS): the read
# must fail with EIO, the daemon must live on and answer, exit after
# the unmount, and leave the image marked for fsck. drop_caches makes
# the read reach the daemon instead of the kernel's cache of the file.
SIMG=$T/shrunk.img
make_image "$SIMG" 16M
mount_fs "$SIMG" "$MNT"
head -c 6M /dev/urandom > "$MNT/big"
sync
if ! (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then
	skip_check "an image truncated while mounted" \
		"cannot write /proc/sys/vm/drop_caches"
	unmount_only "$MNT"
else
	# shellcheck disable=SC2034 # used in the eval below
	spid=${DAEMON_PID[$MNT]}
	truncate -s $(( $(stat -c %s "$SIMG") / 4 )) "$SIMG"
	# O_DIRECT: the read goes to the daemon even if the kernel still
	# caches some of the file's pages.
	run dd if="$MNT/big" of=/dev/null bs=1M iflag=direct
	check "truncated while mounted: reading the file fails with EIO (exit $RC)" \
		eval 'refused && has "Input/output error"'
	check "truncated while mounted: the daemon is still alive" \
		eval 'kill -0 "$spid" && pid_alive "$spid"'
	run stat "$MNT"
	check "truncated while mounted: stat of the root answers, no hang (exit $RC)" \
		no_crash
	run fusermount3 -u "$MNT"
	[ "$RC" = 0 ] || umount "$MNT" 2>/dev/null
	if wait_exit "$MNT"; then
		ok "truncated while mounted: the daemon exits after the unmount (status $DRC)"
	else
		not_ok "truncated while mounted: daemon still running ${EXIT_WAIT}s after the unmount"
	fi
	run "$FSCK" -n -f "$SIMG"
	check "truncated while mounted: fsck.mapfs -n -f reports problems (exit $RC), no crash" \
		eval '[ "$RC" != 0 ] && [ "$RC" -lt 128 ]'
fi
rm -f "$SIMG"

# ------------------------------------------------------------------
note "statfs"
mount_fs "$IMG" "$MNT"
run df -B1 --output=size,target "$MNT"
size=$(tail -1 "$OUT" | awk '{ print $1 }')
img_size=$(stat -c %s "$IMG")
check "df shows the mount with a size close to the image's ($size of $img_size)" \
	eval 'has "$MNT\$" && [ "$size" -gt $((img_size * 9 / 10)) ] &&
	      [ "$size" -le "$img_size" ]'
run stat -f -c '%l' "$MNT"
check "stat -f: namelen 255 (got $(cat "$OUT"))" [ "$(cat "$OUT")" = 255 ]
run stat -f -c '%S %c %d' "$MNT"
read -r bsize files ffree < "$OUT"
check "stat -f: block size 4096, inodes counted ($bsize $files $ffree)" \
	eval '[ "$bsize" = 4096 ] && [ "$files" -gt 0 ] && [ "$ffree" -le "$files" ]'
unmount_and_fsck "$IMG" "$MNT"

skip_check "read-only mount leaves the image unchanged" "checked by persist.sh"

echo "1..$N"
if [ "$FAILED" != 0 ]; then
	echo "# $FAILED of $N checks failed"
	exit 1
fi
exit 0
