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
# Leaks: LeakSanitizer is on for everything, the daemon included
# (ASAN_OPTIONS=detect_leaks=1; set ASAN_OPTIONS yourself to override).
# The mount tests inherit it, so the daemon they start runs under ASan
# with leak checking too. libfuse does not leak at exit (a mount, writes,
# then SIGTERM or fusermount -u exits without a report), so there is no
# reason to turn leak checking off for the daemon: what it reports is
# ours. If a libfuse version does leak at exit, run with
# ASAN_OPTIONS=detect_leaks=0 for the mount suite:
#   ASAN_OPTIONS=detect_leaks=0 scripts/sanitize.sh --suite mount
set -eu
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-asan}

if [ ! -f "$build/build.ninja" ]; then
	CC=${CC:-gcc} meson setup "$build" -Db_sanitize=address,undefined \
		-Db_lundef=false
fi
ninja -C "$build"

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
meson test -C "$build" --print-errorlogs "$@"
