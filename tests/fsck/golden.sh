#!/bin/bash
# SPDX-License-Identifier: MIT
#
# golden.sh MKFS FSCK MAPFS IMAGESDIR
#
# Format stability. 1: a deterministic mkfs (-E -L golden -s 16M) still
# produces, byte for byte, the image recorded in golden-v1.mkfs.sha256 (an
# intended format change regenerates it and says so in its commit). 2: the
# committed, populated version-1 image still checks clean and mounts, and
# every file, directory and symlink reads back as recorded in
# golden-v1.manifest. Prints TAP.
set -u
MKFS=$1 FSCK=$2 MAPFS=$3 DIR=$4
T=$(mktemp -d /tmp/mapfs-golden.XXXXXX)
DPID=
cleanup() {
	mountpoint -q "$T/mnt" 2>/dev/null && fusermount3 -u "$T/mnt"
	[ -n "$DPID" ] && { kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; }
	rm -rf "$T"
}
trap cleanup EXIT
n=0 failed=0
tap() { n=$((n + 1)); if [ -z "$2" ]; then echo "ok $n - $1"; else failed=1; echo "not ok $n - $1: $2"; fi; }

"$MKFS" -q -E -L golden -s 16M "$T/new.img"
got=$(sha256sum "$T/new.img" | cut -d' ' -f1)
tap "deterministic mkfs matches golden-v1.mkfs.sha256" \
	"$([ "$got" = "$(cat "$DIR/golden-v1.mkfs.sha256")" ] || echo "got $got")"

gunzip -c "$DIR/golden-v1.img.gz" >"$T/gold.img"
out=$("$FSCK" -n -f "$T/gold.img" 2>&1); st=$?
tap "golden v1 image checks clean" "$([ $st = 0 ] || echo "exit $st: $out")"

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "ok $((n + 1)) # SKIP no FUSE"; n=$((n + 1))
else
	mkdir "$T/mnt"
	"$MAPFS" "$T/gold.img" "$T/mnt" -f -o ro >"$T/log" 2>&1 &
	DPID=$!
	for _ in $(seq 100); do mountpoint -q "$T/mnt" && break; sleep 0.1; done
	if ! mountpoint -q "$T/mnt"; then
		tap "golden v1 image mounts" "$(cat "$T/log")"
	else
		(cd "$T/mnt" &&
		 find . -xdev \( -type f -o -type l -o -type d \) \
			-printf '%y %m %n %s %p %l\n' | LC_ALL=C sort
		 find . -xdev -type f -print0 | LC_ALL=C sort -z |
			xargs -0 sha256sum) >"$T/manifest" 2>&1
		fusermount3 -u "$T/mnt"
		wait "$DPID"; DPID=
		tap "golden v1 image reads back as recorded" \
			"$(diff "$DIR/golden-v1.manifest" "$T/manifest" | head -5)"
		out=$("$FSCK" -n -f "$T/gold.img" 2>&1); st=$?
		tap "golden v1 image clean after a read-only mount" \
			"$([ $st = 0 ] || echo "exit $st: $out")"
	fi
fi
echo "1..$n"
exit $failed
