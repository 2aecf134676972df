# SPDX-License-Identifier: MIT
# shellcheck shell=sh
#
# cases.sh - the fsck corpus (tests/fsck/cases/NAME/recipe) for the
# scripts that run something on its damaged images: run_cases.sh (fsck)
# and tests/dump/corpus.sh (dumpfs). POSIX sh; source it, then:
#
#   cases_start PROGVAR "$@"   # the arguments MKFS PROG CORRUPT CASEDIR
#                        # [CASE...]: MKFS, PROGVAR (FSCK, DUMPFS) and C
#                        # (the corruption tool) absolute and exported
#                        # (recipes run in a temporary directory),
#                        # CASEDIR, ONLY (the cases named) and cases
#                        # (those, else all of CASEDIR's, sorted)
#   case_image CASEDIR/NAME WORKDIR LOG  # run the recipe in WORKDIR to
#                        # make $IMG (exported); on failure sets why
#                        # ("no recipe", "recipe failed") and returns 1

abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

cases_start() {
	_prog=$1
	shift
	if [ $# -lt 4 ]; then
		echo "usage: $0 MKFS $_prog CORRUPT CASEDIR [CASE...]" >&2
		exit 99
	fi
	MKFS=$(abs "$1")
	eval "$_prog=\$(abs \"\$2\")"
	C=$(abs "$3")
	export MKFS "$_prog" C
	CASEDIR=$(cd "$4" && pwd) || exit 99
	shift 4
	ONLY="$*"
	if [ -n "$ONLY" ]; then
		cases=$ONLY
	else
		cases=$(cd "$CASEDIR" && ls -d */ | tr -d / | sort)
	fi
}

case_image() {
	export IMG
	rm -f "$IMG"
	if [ ! -f "$1/recipe" ]; then
		why="no recipe"
		return 1
	fi
	if ! (cd "$2" && set -e && . "$1/recipe") >"$3" 2>&1; then
		why="recipe failed"
		return 1
	fi
	return 0
}
