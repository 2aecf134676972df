#!/bin/sh
# SPDX-License-Identifier: MIT
# run_cases.sh MKFS FSCK CORRUPT CASEDIR [CASE...]
#
# fsck test cases in the e2fsprogs f_* convention, TAP output. A case is a
# directory CASEDIR/NAME holding:
#   name      one line: what is broken, in words
#   recipe    a shell fragment that makes the damaged image $IMG: mkfs
#             ($MKFS, deterministic -E), populate and edits with the
#             test-only corruption tool ($C), see corrupt.c
#   expect.1  the output of the first run, `fsck.mapfs -y -f test.img`
#             (stdout and stderr), then "Exit status is N"
#   expect.2  the same for the second run (clean, exit 0)
#   opts      (optional) options of the first run instead of "-y -f"
#   opts2     (optional) options of the second run instead of "-y -f"
# Each case also runs `fsck.mapfs -n -f` on a copy of the damaged image:
# it must leave the copy byte for byte unchanged, exit 4 (0 if the first
# run found nothing) and report the same first problem as expect.1.
#
# MAPFS_FSCK_REGEN=1 rewrites expect.1 and expect.2 from what fsck prints
# (read each one before committing it). Naming cases runs only those.
set -u

. "$(dirname "$0")/cases.sh"
cases_start FSCK "$@"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-fsck.XXXXXX") || exit 99
trap 'rm -rf "$TMP"' EXIT INT TERM

total=0
for t in $cases; do total=$((total + 1)); done
nmkfs=4
[ -n "$ONLY" ] && nmkfs=0
echo "1..$((total + nmkfs))"

tap() { # N NAME WHY
	if [ -z "$3" ]; then echo "ok $1 - $2"; else echo "not ok $1 - $2: $3"; fi
}

# mkfs checks first (skipped when cases are named).
if [ "$nmkfs" -gt 0 ]; then
	why=""
	"$MKFS" -q -E -L det -s 32M "$TMP/a" && "$MKFS" -q -E -L det -s 32M "$TMP/b" &&
		cmp -s "$TMP/a" "$TMP/b" || why="two -E runs differ"
	tap 1 mkfs-deterministic "$why"
	why=""
	if "$MKFS" -q -s 32M "$TMP/a" >"$TMP/out" 2>&1; then
		why="formatted over a filesystem without -F"
	elif ! grep -q 'already contains a mapfs filesystem: use -F' "$TMP/out"; then
		why="no refusal message"
	elif ! "$MKFS" -q -F -s 32M "$TMP/a" >"$TMP/out" 2>&1; then
		why="-F refused"
	fi
	tap 2 mkfs-needs-F "$why"
	why=""
	"$MKFS" -n -s 32M "$TMP/dry" >/dev/null 2>&1 || why="dry run failed"
	[ -e "$TMP/dry" ] && why="dry run created the image"
	tap 3 mkfs-dry-run "$why"
	# An image locked exclusively (as the daemon does) is refused.
	why=""
	if ! command -v flock >/dev/null 2>&1; then
		echo "ok 4 - fsck-in-use # SKIP no flock(1)"
	else
		flock -x "$TMP/a" "$FSCK" -n -f "$TMP/a" >"$TMP/out" 2>&1
		rc=$?
		[ "$rc" = 8 ] || why="exit $rc, expected 8"
		grep -q 'image is in use' "$TMP/out" || why="$why; no message"
		tap 4 fsck-in-use "$why"
	fi
	rm -f "$TMP/a" "$TMP/b" "$TMP/dry"
fi

# fsck_run OPTS OUT: run fsck in $TMP on test.img, append the exit status.
fsck_run() {
	(cd "$TMP" && "$FSCK" $1 test.img) >"$2" 2>&1
	echo "Exit status is $?" >>"$2"
}

first_problem() { grep -m1 '\[P[0-9A-Z_]*\]$' "$1"; }

checksum() { sha256sum "$1" | cut -d' ' -f1; }

n=$nmkfs
for t in $cases; do
	n=$((n + 1))
	d=$CASEDIR/$t
	log=$TMP/$t.log
	IMG=$TMP/test.img
	rm -f "$TMP/orig.img"
	why=""
	opts="-y -f"
	opts2="-y -f"
	[ -f "$d/opts" ] && opts=$(cat "$d/opts")
	[ -f "$d/opts2" ] && opts2=$(cat "$d/opts2")
	if case_image "$d" "$TMP" "$log"; then
		cp "$IMG" "$TMP/orig.img"
		fsck_run "$opts" "$TMP/out.1"
		fsck_run "$opts2" "$TMP/out.2"
		if [ "${MAPFS_FSCK_REGEN:-}" = 1 ]; then
			cp "$TMP/out.1" "$d/expect.1"
			cp "$TMP/out.2" "$d/expect.2"
		fi
		if ! cmp -s "$TMP/out.1" "$d/expect.1"; then
			why="first run differs from expect.1"
			diff -u "$d/expect.1" "$TMP/out.1" >>"$log" 2>&1
		elif ! cmp -s "$TMP/out.2" "$d/expect.2"; then
			why="second run differs from expect.2"
			diff -u "$d/expect.2" "$TMP/out.2" >>"$log" 2>&1
		fi
		# -n on the damaged image: same first problem, no change.
		mv "$TMP/orig.img" "$IMG"
		sum=$(checksum "$IMG")
		fsck_run "-n -f" "$TMP/out.n"
		want=4
		grep -q '^Exit status is 0$' "$d/expect.1" && want=0
		if [ "$(checksum "$IMG")" != "$sum" ]; then
			why="${why:+$why; }-n changed the image"
		elif ! grep -q "^Exit status is $want\$" "$TMP/out.n"; then
			why="${why:+$why; }-n: $(tail -1 "$TMP/out.n"), expected $want"
		elif [ "$(first_problem "$TMP/out.n")" != \
		       "$(first_problem "$d/expect.1")" ]; then
			why="${why:+$why; }-n reports another first problem"
		fi
		cat "$TMP/out.n" >>"$log"
	fi
	if [ -z "$why" ]; then
		echo "ok $n - $t"
	else
		echo "not ok $n - $t: $why"
		sed 's/^/#   /' "$log"
	fi
done
