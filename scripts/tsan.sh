#!/bin/sh
# tsan.sh - build the daemon and the tests with ThreadSanitizer and run the
# concurrency stress test (and, with arguments, whatever meson test
# arguments are given instead) under it.
#
#   scripts/tsan.sh                  # the stress test
#   scripts/tsan.sh --suite mount    # every mount test
#
# The build directory is $BUILD_DIR (default build-tsan). A report stops
# the daemon with exit status 66 (halt_on_error), which the mount tests
# see as a failed unmount: the run fails on the first data race.
set -eu
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-tsan}

if [ ! -f "$build/build.ninja" ]; then
	CC=${CC:-gcc} meson setup "$build" -Db_sanitize=thread \
		-Db_lundef=false
fi
ninja -C "$build"
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
if [ $# -eq 0 ]; then
	set -- --suite mount stress
fi
meson test -C "$build" --print-errorlogs "$@"
