#!/bin/bash
# SPDX-License-Identifier: MIT
#
# libcheck.sh MKFS FSCK MAPFS
#
# A check of lib.sh itself: when a daemon exits non-zero after its unmount,
# unmount_only must print that daemon's output to stderr, even when the
# caller throws away its stdout (crash.sh does: an intermittent "mapfs
# exited with status 1 after unmounting" left nothing to read). The
# daemon here is mapfs behind a wrapper that reports and then exits 3.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS" "$@"
IMG=$T/lib.img
MNT=$T/mnt
make_image "$IMG" 32M

REAL=$MAPFS
MAPFS=$T/mapfs-exit3
cat > "$MAPFS" <<WRAP
#!/bin/bash
"$REAL" "\$@"
echo "wrapper: mapfs exited \$?, the wrapper exits 3" >&2
exit 3
WRAP
chmod +x "$MAPFS"

mount_fs "$IMG" "$MNT"
# fail would end the script: record instead.
fail() { echo "FAIL: $*" >&2; return 1; }
unmount_only "$MNT" > /dev/null 2> "$T/err"
unset -f fail
fail() {
	echo "FAIL: $*" >&2
	echo "not ok - $*"
	exit 1
}
sed 's/^/# /' "$T/err"
t "unmount_only fails on the exit status" \
	'grep -q "FAIL: mapfs exited with status 3 after unmounting" "$T/err"'
t "with the daemon's output on stderr" \
	'grep -q "^wrapper: mapfs exited 0, the wrapper exits 3" "$T/err" &&
	 grep -q "^--- daemon output (pid [0-9]*, exit status 3) ---" "$T/err"'
run_fsck "$IMG"
echo "1..$n"
exit $FAILED
