#!/bin/sh
# run-tests.sh - the README's second Quick start command: build if needed and
# run the whole test suite (unit, fsck and mount suites). Mount tests need
# root and /dev/fuse; they report SKIP otherwise.
set -eu
cd "$(dirname "$0")"
if [ ! -d build ]; then
	meson setup build
fi
ninja -C build
meson test -C build --print-errorlogs "$@"
