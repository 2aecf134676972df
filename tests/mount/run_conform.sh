#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run_conform.sh MKFS FSCK MAPFS CONFORM
#
# The conformance checks (conform.c: xattrs, ACLs through setfacl and
# getfacl, fallocate, SEEK_DATA/SEEK_HOLE, copy_file_range, file flags)
# on a fresh 256M image mounted with allow_other (the checks as uid
# 65534 need it), first with the default options (no writeback cache),
# then with the kernel's writeback cache (-o writeback). Each run ends
# with a clean fsck.mapfs -n -f.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS CONFORM" "$@"
[ "$(id -u)" = 0 ] || skip "conform switches users: run as root"
failed=()

run_cache_modes conform 256M MAPFS_CONFORM_WRITEBACK "$CONFORM"

[ ${#failed[@]} = 0 ] || fail "failures: ${failed[*]}"
note "conform passed, images clean"
exit 0
