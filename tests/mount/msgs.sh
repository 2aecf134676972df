#!/bin/bash
# SPDX-License-Identifier: MIT
#
# msgs.sh MKFS FSCK MAPFS DUMPFS
#
# What the tools say about a mounted image (issue 21 item 5), TAP:
#   - dumpfs.mapfs on a mounted image: exit 0, says where it is mounted
#     and that its state is expected (no "problem found", no "run fsck"),
#     JSON mounted_at
#   - df -i counts the inode total mkfs.mapfs, dumpfs.mapfs and fsck.mapfs
#     count
#   - -o logfile=PATH: the foreground and the detached daemon append
#     timestamped lines (mounted, unmounted, the journal's summary) to
#     PATH, a relative PATH is the caller's; a PATH inside the mount point
#     is refused; without it, where there is no /dev/log, the detached
#     daemon says before it detaches that its messages would be lost
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS DUMPFS" "$@"
IMG=$T/img
MNT=$T/mnt
MAPFS_ABS=$(realpath "$MAPFS")	# meson gives paths from the build dir
LOG=$T/daemon-messages.log
mkdir -p "$MNT"
TS='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z mapfs\[[0-9]+\]: '

"$MKFS" -s 64M -L msgs "$IMG" > "$T/mkfs.out" 2>&1 || fail "mkfs.mapfs failed"
total=$(sed -n 's/^\t\([0-9]*\) inodes, .*/\1/p' "$T/mkfs.out")

# --- foreground daemon, -o logfile ------------------------------------------
mount_fs "$IMG" "$MNT" -o "logfile=$LOG"
echo hello > "$MNT/f" && mkdir "$MNT/d"

"$DUMPFS" -s "$IMG" > "$T/out" 2> "$T/err"; rc=$?
t "dumpfs.mapfs on the mounted image: exit 0 (got $rc)" '[ $rc = 0 ]'
t "... says where it is mounted and that this is expected" \
	'grep -q "mounted at $MNT: .*expected while mounted, not a problem" "$T/err"'
t "... no problem counted, no 'run fsck'" \
	'! grep -qiE "problem found|problems found|run fsck" "$T/err" "$T/out"'
t "... shows the state and the mount point" \
	'grep -q "State  *mounted" "$T/out" &&
	 grep -q "the image is mounted at $MNT" "$T/out"'
if command -v jq >/dev/null 2>&1; then
	"$DUMPFS" -j "$IMG" > "$T/json" 2> /dev/null; rc=$?
	t "dumpfs.mapfs -j: mounted_at, problem_count 0 (rc $rc)" \
		'[ $rc = 0 ] && jq -e --arg m "$MNT" \
		 ".mounted_at == \$m and .problem_count == 0" "$T/json" >/dev/null'
else
	t "dumpfs.mapfs -j # SKIP no jq" true
fi

files=$(stat -f -c %c "$MNT")
dtotal=$(awk '$1 == "Inodes" && NF == 2 { print $2; exit }' "$T/out")
t "df -i total ($files) = mkfs.mapfs's ($total) = dumpfs.mapfs's ($dtotal)" \
	'[ "$files" = "$total" ] && [ "$dtotal" = "$total" ]'
ffree=$(stat -f -c %d "$MNT")
unmount_and_fsck "$IMG" "$MNT"
"$FSCK" -n "$IMG" > "$T/out" 2>&1
t "fsck.mapfs's clean line: $((total - ffree))/$total inodes (df: $ffree free)" \
	'grep -q ": clean, $((total - ffree))/$total inodes, " "$T/out"'

t "logfile: the mount, with a timestamp" \
	'grep -qE "${TS}info: $IMG mounted at $MNT \(read-write\)$" "$LOG"'
t "logfile: the unmount" \
	'grep -qE "${TS}info: $IMG unmounted from $MNT$" "$LOG"'
t "logfile: the journal's summary" 'grep -qE "${TS}info: journal: " "$LOG"'
t "logfile: every line timestamped" '! grep -vqE "$TS" "$LOG"'

# --- detached daemon ---------------------------------------------------------
# detached ARGS...: start a detached daemon from $T (relative paths are
# the caller's), wait for the mount; its stderr in $T/detached.err.
detached() {
	local i
	MOUNTS+=("$MNT")
	(cd "$T" && timeout 30 "$MAPFS_ABS" "$IMG" "$MNT" "$@") \
		> "$T/detached.err" 2>&1 || return 1
	for ((i = 0; i < MOUNT_WAIT * 20; i++)); do
		is_mounted "$MNT" && return 0
		sleep 0.05
	done
	return 1
}
# umount_detached: unmount, wait until the daemon let go of the image
# (it writes "unmounted" to its log before it closes the image).
umount_detached() {
	umount "$MNT" || return 1
	flock -w 30 "$IMG" true
}

lines=$(wc -l < "$LOG")
detached -o logfile=rel.log; rc=$?
t "detached daemon with -o logfile=rel.log (relative) mounts" '[ $rc = 0 ] || { cat "$T/detached.err"; false; }'
echo more > "$MNT/g"
umount_detached
t "... its messages are in \$T/rel.log, the caller's directory" \
	'grep -qE "${TS}info: $IMG mounted at $MNT" "$T/rel.log" &&
	 grep -qE "${TS}info: journal: " "$T/rel.log" &&
	 grep -qE "${TS}info: $IMG unmounted from $MNT$" "$T/rel.log"'
t "... and no syslog warning with a logfile" \
	'! grep -q "no syslog" "$T/detached.err"'
detached -o "logfile=$LOG"; rc=$?
umount_detached
t "a second daemon appends to the same logfile" \
	'[ $rc = 0 ] && [ "$(wc -l < "$LOG")" -gt "$lines" ] &&
	 [ "$(grep -c "unmounted from $MNT" "$LOG")" = 2 ]'

detached; rc=$?
umount_detached
if [ -S /dev/log ]; then
	t "without logfile, /dev/log here: no warning" \
		'[ $rc = 0 ] && ! grep -q "no syslog" "$T/detached.err"'
else
	t "without logfile and /dev/log: warned before detaching" \
		'[ $rc = 0 ] && grep -q "no syslog here (no /dev/log).*-o logfile=PATH" "$T/detached.err"'
fi

"$MAPFS" "$IMG" "$MNT" -f -o "logfile=$MNT/inside.log" > "$T/out" 2>&1; rc=$?
t "a logfile inside the mount point is refused (rc $rc)" \
	'[ $rc != 0 ] && grep -q "inside the mount point" "$T/out" &&
	 ! is_mounted "$MNT"'

run_fsck "$IMG"
echo "1..$n"
exit $FAILED
