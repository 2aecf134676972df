#!/bin/bash
# SPDX-License-Identifier: MIT
#
# trips.sh MKFS FSCK MAPFS
#
# The round-trip budget (docs/PERF.md, "Round trips"): with the daemon's
# debug output on (-d), which logs every request it is sent, common
# operations must cost no more requests than the design says. Repeated
# operations that the kernel can answer from what it was told must cost
# none:
#   - listing directories: no OPENDIR after the first (the kernel opens
#     directories itself), no RELEASEDIR, and a second listing of an
#     unchanged directory no READDIR or READDIRPLUS (cached listings);
#   - a missing name looked up again: no second LOOKUP (negative entries);
#   - stat of a known file again: no LOOKUP or GETATTR (long timeouts);
#   - closing files: no FLUSH after the first (it is not implemented);
#   - creating a file: at most LOOKUP, CREATE, GETATTR of the directory
#     and RELEASE;
#   - after a change, the next listing shows it (the cache is dropped).
# The daemon's own counters (-o stats, printed at unmount) must agree
# with the debug log, kind by kind. Counts, not times: nothing here
# depends on the machine's speed. Prints TAP.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
IMG=$T/trips.img
MNT=$T/mnt

make_image "$IMG" 64M
mount_fs "$IMG" "$MNT" -d -o stats
LOG=${DAEMON_LOG[$MNT]}

# Requests are logged by the thread that serves them; asynchronous ones
# (RELEASE, FORGET) may come a little after the call that caused them.
settle() { sleep 0.3; }
mark() { settle; wc -l < "$LOG"; }
# count FROM OPCODE...: requests with one of these opcodes since FROM
count() {
	local from=$1 re
	shift
	re=$(IFS='|'; echo "$*")
	tail -n +"$((from + 1))" "$LOG" |
		grep -cE "opcode: ($re) " || true
}

mkdir "$MNT/d" || fail "mkdir"
for i in $(seq 1 20); do
	mkdir "$MNT/d/s$i" && touch "$MNT/d/s$i/a" "$MNT/d/s$i/b" ||
		fail "populate"
done

# Directories: the first listing of each may read it; the second may not.
m=$(mark)
for i in $(seq 1 20); do ls "$MNT/d/s$i" > /dev/null || fail "ls"; done
first_open=$(count "$m" OPENDIR)
first_rel=$(count "$m" RELEASEDIR)
m=$(mark)
for i in $(seq 1 20); do
	[ "$(ls "$MNT/d/s$i" | tr '\n' ' ')" = "a b " ] || fail "ls again"
done
t "20 listings: at most one OPENDIR ($first_open)" '[ "$first_open" -le 1 ]'
t "20 listings: no RELEASEDIR ($first_rel)" '[ "$first_rel" = 0 ]'
again=$(count "$m" OPENDIR RELEASEDIR READDIR READDIRPLUS)
t "20 listings again: no directory requests ($again)" '[ "$again" = 0 ]'

# A change drops the cached listing.
touch "$MNT/d/s3/c" || fail "touch c"
t "a new entry shows in the next listing" \
	'[ "$(ls "$MNT/d/s3" | tr "\n" " ")" = "a b c " ]'
rm "$MNT/d/s3/a" || fail "rm a"
t "a removed entry is gone from the next listing" \
	'[ "$(ls "$MNT/d/s3" | tr "\n" " ")" = "b c " ]'

# Negative entries.
stat "$MNT/d/missing" > /dev/null 2>&1
m=$(mark)
for i in $(seq 1 10); do
	stat "$MNT/d/missing" > /dev/null 2>&1 && fail "missing exists"
done
neg=$(count "$m" LOOKUP)
t "10 lookups of a missing name: no LOOKUP ($neg)" '[ "$neg" = 0 ]'
touch "$MNT/d/missing" || fail "create missing"
t "a created name is found after its negative entry" \
	'[ -f "$MNT/d/missing" ]'

# Known files.
stat "$MNT/d/s1/a" > /dev/null || fail "stat"
m=$(mark)
for i in $(seq 1 10); do stat "$MNT/d/s1/a" > /dev/null || fail "stat"; done
warm=$(count "$m" LOOKUP GETATTR)
t "10 stats of a known file: no LOOKUP or GETATTR ($warm)" '[ "$warm" = 0 ]'

# Closes.
m=$(mark)
for i in $(seq 1 10); do cat "$MNT/d/s1/a" > /dev/null || fail "cat"; done
fl=$(count "$m" FLUSH)
t "10 opens and closes: at most one FLUSH ($fl)" '[ "$fl" -le 1 ]'

# Creates: 10 new files in a directory the kernel knows.
m=$(mark)
for i in $(seq 1 10); do : > "$MNT/d/new$i" || fail "create"; done
settle
total=$(tail -n +"$((m + 1))" "$LOG" | grep -cE "opcode: [A-Z_]+ " || true)
other=$(tail -n +"$((m + 1))" "$LOG" | grep -oE "opcode: [A-Z_]+ " |
	grep -vcE "LOOKUP|CREATE|GETATTR|RELEASE|FLUSH" || true)
t "10 creates: at most 4 requests each ($total)" '[ "$total" -le 40 ]'
t "10 creates: nothing but lookup, create, getattr, release ($other)" \
	'[ "$other" = 0 ]'

unmount_and_fsck "$IMG" "$MNT"

# -o stats: the table at unmount counts what the debug log shows.
for op in LOOKUP CREATE GETATTR RELEASE MKDIR; do
	logged=$(grep -cE "opcode: $op " "$LOG" || true)
	counted=$(sed -nE "s/.*stats: $op +([0-9]+) .*/\1/p" "$LOG")
	t "-o stats counts $op as the log does (${counted:-none} vs $logged)" \
		'[ "${counted:-0}" = "$logged" ] && [ "$logged" -gt 0 ]'
done
echo "1..$n"
exit $FAILED
