#!/bin/sh
# fuzz.sh - build the fuzz targets with clang (libFuzzer, ASan, UBSan) and
# run each for a while, one after the other.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); targets fuzz_image and fuzz_fsck by
# default. The build directory is $BUILD_DIR (default build-fuzz), set up
# on first use with every source instrumented for coverage
# (-fsanitize=fuzzer-no-link), so libFuzzer sees the core and fsck, not
# only the targets. The corpus grows in tests/fuzz/corpus/TARGET/ (not
# committed; it starts from mkseed's inputs); crashes, leaks and timeouts
# are written to tests/fuzz/crashes/TARGET-*. To turn one into a
# regression input see tests/fuzz/README.md. Exit status 1 if any target
# found something.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-fuzz_image fuzz_fsck}
build=${BUILD_DIR:-build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
	CC=${CC:-clang} meson setup "$build" \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link
fi
ninja -C "$build" tests/fuzz/mkseed tests/fuzz/fuzz_image \
	tests/fuzz/fuzz_fsck
# A libFuzzer binary says "INFO: Seed: ..."; the plain driver does not.
if ! "$build/tests/fuzz/fuzz_image" -runs=0 2>&1 | grep -q 'INFO: Seed'; then
	echo "fuzz.sh: $build has no libFuzzer (not clang?); use a clang" \
		"build directory" >&2
	exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p tests/fuzz/crashes
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
status=0
for t in $targets; do
	corpus=tests/fuzz/corpus/$t
	mkdir -p "$corpus" "$tmp/img"
	"$build/tests/fuzz/mkseed" "$tmp/img" "$corpus"
	echo "== $t: $secs s, corpus $corpus"
	"$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=20 \
		-rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
		-artifact_prefix="tests/fuzz/crashes/$t-" "$corpus" || {
		echo "== $t: found a problem, see tests/fuzz/crashes/"
		status=1
	}
done
exit $status
