#!/bin/bash
# SPDX-License-Identifier: MIT
#
# pysuite.sh MKFS FSCK MAPFS [mapfs|ext4|tmpfs]
#
# An independent conformance run, not part of `meson test` (it takes a
# few minutes): CPython's own regression tests for the filesystem
# interfaces (Debian package libpython3.11-testsuite, run by
# /usr/bin/python3.11), with their temporary directories and working
# directory on a fresh default mapfs mount, or on
# an ext4 loop mount or a tmpfs as the reference. Run as root. Prints
# regrtest's summary; exit status is regrtest's (0: all passed), and
# for mapfs the image must then pass fsck.mapfs -n -f.
. "$(dirname "$0")/lib.sh"

[ $# -ge 3 ] || { echo "usage: $0 MKFS FSCK MAPFS [mapfs|ext4|tmpfs]" >&2; exit 2; }
lib_init "$1" "$2" "$3"
FS=${4:-mapfs}
PY=/usr/bin/python3.11
[ -d /usr/lib/python3.11/test ] ||
	skip "install libpython3.11-testsuite (CPython's test suite)"
TESTS=${MAPFS_PYSUITE_TESTS:-"test_os test_posix test_shutil test_pathlib
	test_tempfile test_stat test_fileio test_file test_glob test_fcntl
	test_mmap test_genericpath test_posixpath test_largefile test_filecmp
	test_dbm_dumb test_zipfile test_tarfile test_io test_compileall
	test_py_compile test_fnmatch test_pkgutil test_zipimport"}

MNT="$T/mnt"
case $FS in
mapfs)
	make_image "$T/py.img" 2G
	mount_fs "$T/py.img" "$MNT" ;;
ext4)
	truncate -s 2G "$T/ext4.img"
	mkfs.ext4 -q -F "$T/ext4.img" || fail "mkfs.ext4"
	mkdir -p "$MNT"
	mount -o loop "$T/ext4.img" "$MNT" || skip "cannot loop-mount ext4"
	MOUNTS+=("$MNT") ;;
tmpfs)
	mkdir -p "$MNT"
	mount -t tmpfs -o size=2G mapfs-pysuite "$MNT" || skip "no tmpfs"
	MOUNTS+=("$MNT") ;;
*) fail "unknown filesystem $FS" ;;
esac
mkdir -p "$MNT/tmp"
chmod 1777 "$MNT/tmp"
# -u largefile: test_largefile writes 2 GiB-offset files (sparse here)
( cd "$MNT/tmp" && TMPDIR="$MNT/tmp" timeout 1200 "$PY" -m test \
	-u largefile,cpu -v -j1 $TESTS ) > "$T/py.out" 2>&1
rc=$?
grep -E '^(FAIL|ERROR):|^[0-9]+ tests? (OK|failed)|^== Tests result|^Total|tests? skipped|^test_[a-z_0-9]+ failed|^Tests? result' "$T/py.out"
cp "$T/py.out" "${MAPFS_PYSUITE_LOG:-/dev/null}" 2>/dev/null
if [ "$FS" = mapfs ]; then
	unmount_and_fsck "$T/py.img" "$MNT"
else
	umount "$MNT"
fi
note "pysuite on $FS: regrtest exit $rc"
exit $rc
