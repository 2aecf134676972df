#!/bin/bash
# SPDX-License-Identifier: MIT
# build-deb.sh [-o OUTDIR] [-t] [-k] [SRCDIR]
#
# Build the Debian package of mapfs (binary only, unsigned) and run
# lintian on it. Not part of the test suite (minutes). Needs root to
# install the build dependencies (skipped when they are all there).
#
#   SRCDIR     the source tree (default: the tree holding this script).
#              It is copied (without .git, build directories and
#              images) to a temporary directory and built there, so the
#              tree itself, and its parent, get no build artefacts.
#   -o OUTDIR  where the .deb, .buildinfo and .changes go (default: a new
#              directory under ${TMPDIR:-/tmp}, printed at the end)
#   -t         then test the package: apt install it; every program of
#              PROGS (below) must be in the package (dpkg -L) at
#              /usr/sbin and be the one PATH finds (a copy elsewhere, e.g.
#              /usr/local/sbin, fails the test) and print its version;
#              every man page, document and the magic file is installed;
#              then, by their /usr/sbin paths and through mkfs -t, fsck -t
#              and mount -t: format, check, dump, grow, mount (the daemon
#              must be /usr/sbin/mapfs), mount --fstab; then apt remove
#              it again (only if it was not installed before)
#   -k         keep the temporary build tree (printed)
#
# Exit status: 0 built (and tested), 1 a step failed. lintian's findings
# are printed; errors fail the run, warnings do not.
set -u

usage() {
	sed -n '3,20p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

OUT=
TEST=0
KEEP=0
while getopts "o:tkh" opt; do
	case $opt in
	o) OUT=$OPTARG ;;
	t) TEST=1 ;;
	k) KEEP=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -le 1 ] || usage
SRC=${1:-$(cd "$(dirname "$0")/.." && pwd)}
SRC=$(cd "$SRC" && pwd) || exit 1
[ -f "$SRC/debian/control" ] || { echo "build-deb: $SRC/debian/control: missing" >&2; exit 1; }

# The programs the package ships in /usr/sbin, one a line: a new
# program is one more line here (tests/install checks that every
# program meson installs is listed).
PROGS="
mapfs
mkfs.mapfs
fsck.mapfs
dumpfs.mapfs
growfs.mapfs
tune.mapfs
mapfs-tool
"

say() { echo "build-deb: $*" >&2; }
die() { say "$*"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-deb-build.XXXXXX") || exit 1
MNT=
IMG_DIR=
INSTALLED_BY_US=0
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$MNT" ] && mountpoint -q "$MNT" 2>/dev/null; then
		umount "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
	if [ "$INSTALLED_BY_US" = 1 ]; then
		say "removing the mapfs package again"
		DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq mapfs \
			>/dev/null 2>&1 || say "apt-get remove mapfs failed"
	fi
	[ -n "$IMG_DIR" ] && rm -rf "$IMG_DIR"
	if [ "$KEEP" = 1 ]; then
		say "kept the build tree in $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build dependencies -------------------------------------------------
tools="dpkg-dev build-essential debhelper lintian rsync"
# shellcheck disable=SC2086
sh "$(dirname "$0")/install-deps.sh" $tools >/dev/null ||
	die "cannot install the build tools ($tools)"

# --- the source copy ------------------------------------------------------
VERSION=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version) ||
	die "cannot read debian/changelog"
TREE=$WORK/mapfs-$VERSION
mkdir -p "$TREE"
rsync -a --copy-links \
	--exclude=/.git --exclude='/build*/' --exclude='/obj-*/' \
	--exclude=/mnt/ --exclude=/images/default.img \
	--exclude=/debian/build/ --exclude=/debian/mapfs/ \
	--exclude=/debian/.debhelper/ --exclude='/debian/files' \
	--exclude='/debian/*.substvars' --exclude='/debian/*.debhelper*' \
	--exclude=/debian/debhelper-build-stamp \
	"$SRC/" "$TREE/" || die "cannot copy $SRC"

if ! (cd "$TREE" && dpkg-checkbuilddeps) >/dev/null 2>&1; then
	[ "$(id -u)" = 0 ] || die "build dependencies missing (run as root)"
	say "installing the build dependencies"
	DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq "$TREE" \
		>/dev/null || die "apt-get build-dep failed"
fi

# --- build ----------------------------------------------------------------
say "building in $TREE"
(cd "$TREE" && dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1 || {
	tail -40 "$WORK/build.log" >&2
	KEEP=1
	die "dpkg-buildpackage failed (log: $WORK/build.log)"
}
[ -n "$OUT" ] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-deb.XXXXXX")
mkdir -p "$OUT"
ARCH=$(dpkg --print-architecture)
DEB=mapfs_${VERSION}_$ARCH.deb
CHANGES=mapfs_${VERSION}_$ARCH.changes
[ -f "$WORK/$DEB" ] || die "no package was made"
# The .changes names the -dbgsym package too: copy everything.
cp "$WORK"/*.deb "$WORK"/*.changes "$WORK"/*.buildinfo "$OUT/" ||
	die "cannot copy the packages to $OUT"
rm -f "$WORK"/*.deb "$WORK"/*.changes "$WORK"/*.buildinfo
say "package: $OUT/$DEB"
dpkg-deb -c "$OUT/$DEB" | awk '{print "  " $6}' >&2

# --- lintian --------------------------------------------------------------
say "lintian:"
# lintian prefers not to run as root: as nobody when we can.
if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null 2>&1; then
	chmod a+rx "$OUT" && chmod a+r "$OUT"/*
	runuser -u nobody -- lintian --display-info "$OUT/$CHANGES" >&2
else
	lintian --display-info "$OUT/$CHANGES" >&2
fi
lrc=$?
[ "$lrc" = 0 ] || say "lintian reported errors (exit $lrc)"

# --- test the package -------------------------------------------------------
if [ "$TEST" = 1 ]; then
	[ "$(id -u)" = 0 ] || die "-t needs root"
	if dpkg-query -W -f='${Status}' mapfs 2>/dev/null | grep -q "ok installed"; then
		say "mapfs is already installed: it will be upgraded and left installed"
	else
		INSTALLED_BY_US=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$OUT/$DEB" \
		>"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; die "apt install failed"; }
	IMG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-deb-test.XXXXXX")
	IMG=$IMG_DIR/img
	MNT=$IMG_DIR/mnt
	mkdir "$MNT"
	fails=0
	t() {	# t DESC COMMAND...: run, report
		local desc=$1
		shift
		if "$@" >"$IMG_DIR/out" 2>&1; then
			echo "ok - $desc"
		else
			echo "not ok - $desc"
			sed 's/^/#   /' "$IMG_DIR/out"
			fails=$((fails + 1))
		fi
	}
	dpkg -L mapfs >"$IMG_DIR/files" 2>&1
	upstream=${VERSION%-*}
	descr=$(dpkg-query -W -f='${Description}' mapfs)
	for p in $PROGS; do
		t "$p: in the package as /usr/sbin/$p" \
			grep -qx "/usr/sbin/$p" "$IMG_DIR/files"
		t "$p: PATH finds /usr/sbin/$p (got: $(command -v "$p" ||
			echo nothing))" [ "$(command -v "$p")" = "/usr/sbin/$p" ]
		t "/usr/sbin/$p --version: $p $upstream" sh -c \
			"/usr/sbin/$p --version | grep -q '^$p $upstream'"
		t "$p: named in the package description" sh -c \
			"printf '%s\n' \"\$1\" | grep -qw -- '$p'" sh "$descr"
	done
	# Every manual page and document of the tree, and the magic file.
	for m in "$TREE"/docs/man/*.[0-9]; do
		m=${m##*/}
		t "man page $m in the package" grep -qE \
			"^/usr/share/man/man${m##*.}/$m(\.gz)?$" "$IMG_DIR/files"
		t "man ${m##*.} ${m%.*} renders" \
			sh -c "man ${m##*.} ${m%.*} >/dev/null"
	done
	for d in README.md $(grep -o 'docs/[A-Z]*\.md' "$TREE/README.md" |
			     sort -u); do
		t "$d (the README points to it) in /usr/share/doc/mapfs" \
			grep -qE "^/usr/share/doc/mapfs/${d##*/}(\.gz)?$" \
			"$IMG_DIR/files"
	done
	t "/usr/share/mapfs/magic in the package" \
		grep -qx /usr/share/mapfs/magic "$IMG_DIR/files"
	truncate -s 64M "$IMG"
	t "mkfs -t mapfs IMG" mkfs -t mapfs -L debtest "$IMG"
	t "fsck -t mapfs -n IMG" fsck -t mapfs -n -f "$IMG"
	t "/usr/sbin/mkfs.mapfs -F IMG" /usr/sbin/mkfs.mapfs -q -F -L debtest \
		"$IMG"
	t "/usr/sbin/fsck.mapfs -n -f IMG" /usr/sbin/fsck.mapfs -n -f "$IMG"
	t "/usr/sbin/dumpfs.mapfs -j IMG" sh -c \
		"/usr/sbin/dumpfs.mapfs -j '$IMG' | grep -q '\"label\": \"debtest\"'"
	if command -v file >/dev/null 2>&1; then
		t "file -m /usr/share/mapfs/magic IMG: mapfs, label" sh -c \
			"file -m /usr/share/mapfs/magic '$IMG' |
			 grep -q 'mapfs filesystem data.*label \"debtest\"'"
	fi
	t "/usr/sbin/growfs.mapfs -s 96M IMG" /usr/sbin/growfs.mapfs -s 96M \
		"$IMG"
	t "the image is 96 MiB and fsck -t mapfs -n -f is clean" sh -c \
		"[ \$(stat -c %s '$IMG') = $((96 << 20)) ] &&
		 fsck -t mapfs -n -f '$IMG'"
	t "/usr/sbin/tune.mapfs -L debtune IMG, then -l shows it" sh -c \
		"/usr/sbin/tune.mapfs -L debtune '$IMG' >/dev/null &&
		 /usr/sbin/tune.mapfs -l '$IMG' | grep -q 'Label.*debtune'"
	t "/usr/sbin/mapfs-tool IMG mkdir, put, cat" sh -c \
		"/usr/sbin/mapfs-tool '$IMG' mkdir /t &&
		 echo deb > '$IMG_DIR/f' &&
		 /usr/sbin/mapfs-tool '$IMG' put '$IMG_DIR/f' /t/f &&
		 [ \"\$(/usr/sbin/mapfs-tool '$IMG' cat /t/f)\" = deb ] &&
		 fsck -t mapfs -n -f '$IMG'"
	daemon_is_ours() {	# the daemon serving IMG runs /usr/sbin/mapfs
		local d exe
		for d in /proc/[0-9]*; do
			exe=$(readlink "$d/exe" 2>/dev/null) || continue
			case $exe in */mapfs) ;; *) continue ;; esac
			tr '\0' '\n' <"$d/cmdline" 2>/dev/null |
				grep -qx "$IMG" || continue
			echo "daemon: $exe"
			[ "$exe" = /usr/sbin/mapfs ] || return 1
			return 0
		done
		echo "no daemon for $IMG"
		return 1
	}
	mnt_test() {	# mnt_test DESC COMMAND...
		local desc=$1
		shift
		t "$desc" "$@"
		t "$desc: mounted as fuse.mapfs" sh -c \
			"grep -q ' $MNT fuse.mapfs ' /proc/self/mounts"
		t "$desc: the daemon is /usr/sbin/mapfs" daemon_is_ours
		t "$desc: write and read a file" sh -c \
			"echo hello > '$MNT/f' && [ \"\$(cat '$MNT/f')\" = hello ]"
		t "$desc: umount" umount "$MNT"
		t "$desc: the daemon let go of the image" \
			flock -x -w 30 "$IMG" true
		t "$desc: fsck -t mapfs -n -f IMG clean" \
			fsck -t mapfs -n -f "$IMG"
	}
	mnt_test "mount -t fuse.mapfs IMG MNT" \
		mount -t fuse.mapfs "$IMG" "$MNT"
	printf '%s %s fuse.mapfs defaults 0 0\n' "$IMG" "$MNT" >"$IMG_DIR/fstab"
	mnt_test "mount --fstab FILE MNT" mount --fstab "$IMG_DIR/fstab" "$MNT"
	[ "$fails" = 0 ] || die "$fails package checks failed"
	say "package checks passed"
fi
say "done: $OUT"
[ "$lrc" = 0 ]
