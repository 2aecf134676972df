#!/bin/sh
# sanitize.sh - build everything with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc) and run the whole test suite.
#
#   scripts/sanitize.sh [meson test arguments...]
#
# The build directory is $BUILD_DIR (default build-asan), set up on first
# use with -Db_sanitize=address,undefined. Undefined behaviour stops the
# program (halt_on_error), so it fails its test.
#
# Leaks: LeakSanitizer is on for the unit tests, mkfs, fsck and the fuzz
# replay (ASAN_OPTIONS=detect_leaks=1, which tests/meson.build also sets
# for the unit tests). The mount tests run the daemon under ASan too, but
# with leak detection off for it (MAPFS_DAEMON_ASAN_OPTIONS, default
# detect_leaks=0): the daemon is a long-lived process whose exit path
# leaves libfuse's and glibc's per-thread allocations to the kernel, and
# LeakSanitizer's report at exit would fail the mount test for memory
# that is not ours. Set MAPFS_DAEMON_ASAN_OPTIONS=detect_leaks=1 to look
# anyway. The mount test scripts inherit ASAN_OPTIONS from here, so the
# split is made by running the mount suite separately.
set -eu
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-asan}

if [ ! -f "$build/build.ninja" ]; then
	CC=${CC:-gcc} meson setup "$build" -Db_sanitize=address,undefined \
		-Db_lundef=false
fi
ninja -C "$build"

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
ASAN_OPTIONS=detect_leaks=1 \
	meson test -C "$build" --print-errorlogs --no-suite mount "$@" ||
	status=1
ASAN_OPTIONS=${MAPFS_DAEMON_ASAN_OPTIONS:-detect_leaks=0} \
	meson test -C "$build" --print-errorlogs --suite mount "$@" ||
	status=1
exit $status
