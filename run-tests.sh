#!/bin/sh
# run-tests.sh - the README's second Quick start command: build if needed and
# run the whole test suite: a bounded fuzzing run (30 s per target, when
# clang is installed; MAPFS_NO_FUZZ=1 skips it), then the meson suites
# (unit, fsck, mount, fuzz replay). Mount tests need root and /dev/fuse;
# they report SKIP otherwise. Arguments go to `meson test`.
set -eu
cd "$(dirname "$0")"
if [ ! -d build ]; then
	meson setup build
fi
ninja -C build
if [ -z "${MAPFS_NO_FUZZ:-}" ] && command -v clang >/dev/null 2>&1; then
	BUILD_DIR=build-fuzz scripts/fuzz.sh "${MAPFS_FUZZ_SECONDS:-30}"
fi
meson test -C build --print-errorlogs "$@"
