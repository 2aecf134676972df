#!/bin/bash
# SPDX-License-Identifier: MIT
# run.sh MESON BUILDDIR PREFIX SBINDIR MANDIR DATADIR SRCDIR
#
# Stage 'meson install' into a temporary directory (--destdir) and check,
# TAP output: the programs mapfs, mkfs.mapfs, fsck.mapfs and
# dumpfs.mapfs are in PREFIX/SBINDIR (where mkfs(8), fsck(8) and
# mount.fuse3 find them) and run (--version, --help), and together
# format, check and dump an image; the man pages are in
# PREFIX/MANDIR/man5 and man8 and render without warnings; nothing but
# *.mapfs programs and mapfs is installed in SBINDIR (no test programs).
# DATADIR/mapfs/magic is installed and file(1) names a staged image with
# it. The Debian package follows: every installed program is in
# scripts/build-deb.sh's PROGS (what its -t tests at /usr/sbin) and named
# in debian/control's description, every manual page of docs/man/ is
# installed, every docs/*.md the README points to is in debian/mapfs.docs.
set -u

MESON=${1:?usage: run.sh MESON BUILDDIR PREFIX SBINDIR MANDIR}
BUILD=${2:?}
PREFIX=${3:?}
SBINDIR=${4:?}
MANDIR=${5:?}
DATADIR=${6:?}
SRC=${7:?}
case $SBINDIR in /*) ;; *) SBINDIR=$PREFIX/$SBINDIR ;; esac
case $MANDIR in /*) ;; *) MANDIR=$PREFIX/$MANDIR ;; esac
case $DATADIR in /*) ;; *) DATADIR=$PREFIX/$DATADIR ;; esac

T=$(mktemp -d "${TMPDIR:-/tmp}/mapfs-install.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT INT TERM
D=$T/stage

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
res() { if [ "$1" = 0 ]; then ok "$2"; else not_ok "$2"; fi; }

if ! "$MESON" install -C "$BUILD" --no-rebuild --destdir "$D" \
	>"$T/log" 2>&1; then
	echo "Bail out! meson install failed"
	sed 's/^/#   /' "$T/log"
	exit 1
fi
ok "meson install --destdir"

BIN=$D$SBINDIR
for p in mapfs mkfs.mapfs fsck.mapfs dumpfs.mapfs growfs.mapfs mapfs-tool; do
	[ -x "$BIN/$p" ]
	res $? "$SBINDIR/$p installed"
	"$BIN/$p" --version >"$T/out" 2>&1
	rc=$?
	[ "$rc" = 0 ] && grep -q "^$p [0-9]" "$T/out"
	res $? "$p --version"
	"$BIN/$p" --help >"$T/out" 2>&1
	res $? "$p --help"
done
extra=""
for f in "$BIN"/*; do
	case ${f##*/} in
	mapfs|*.mapfs|mapfs-tool) ;;
	*) extra="$extra ${f##*/}" ;;
	esac
done
[ -z "$extra" ]
res $? "nothing else in $SBINDIR${extra:+ (found:$extra)}"

for m in man5/mapfs.5 man8/mapfs.8 man8/mkfs.mapfs.8 man8/fsck.mapfs.8 \
	 man8/dumpfs.mapfs.8 man8/growfs.mapfs.8 man8/mapfs-tool.8; do
	f=$D$MANDIR/$m
	[ -f "$f" ]
	res $? "$MANDIR/$m installed"
	if command -v man >/dev/null 2>&1; then
		LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
			man --warnings -l "$f" >"$T/out" 2>"$T/err"
		[ $? = 0 ] && [ ! -s "$T/err" ] && [ -s "$T/out" ]
		res $? "$m renders without warnings"
		[ -s "$T/err" ] && sed 's/^/#   /' "$T/err"
	else
		ok "$m renders # SKIP no man(1)"
	fi
done

# The staged tools work together.
IMG=$T/img
"$BIN/mkfs.mapfs" -q -s 32M -L staged "$IMG" >"$T/out" 2>&1
res $? "staged mkfs.mapfs formats an image"
"$BIN/fsck.mapfs" -n -f "$IMG" >"$T/out" 2>&1
res $? "staged fsck.mapfs -n -f: clean"
"$BIN/dumpfs.mapfs" -s "$IMG" >"$T/out" 2>&1 &&
	grep -qE '^  Label +staged$' "$T/out"
res $? "staged dumpfs.mapfs -s shows the label"

# The magic file.
MAGIC=$D$DATADIR/mapfs/magic
[ -f "$MAGIC" ]
res $? "$DATADIR/mapfs/magic installed"
if command -v file >/dev/null 2>&1; then
	file -m "$MAGIC" "$IMG" >"$T/out" 2>&1 &&
		grep -q 'mapfs filesystem data.*label "staged"' "$T/out"
	res $? "file -m magic: the staged image is mapfs, label staged"
else
	ok "file -m magic # SKIP no file(1)"
fi

# What the Debian package ships and tests, against what meson installs.
progs=$(sed -n '/^PROGS="$/,/^"$/p' "$SRC/scripts/build-deb.sh" |
	sed '1d;$d')
descr=$(sed -n '/^Description:/,/^[A-Z]/p' "$SRC/debian/control")
for f in "$BIN"/*; do
	p=${f##*/}
	printf '%s\n' "$progs" | grep -qx -- "$p"
	res $? "$p: in scripts/build-deb.sh's PROGS (tested at /usr/sbin)"
	printf '%s\n' "$descr" | grep -qw -- "$p"
	res $? "$p: named in debian/control's description"
done
for f in "$SRC"/docs/man/*.[0-9]; do
	m=man${f##*.}/${f##*/}
	[ -f "$D$MANDIR/$m" ]
	res $? "docs/man/${f##*/} installed as $MANDIR/$m"
done
for d in $(grep -o 'docs/[A-Z]*\.md' "$SRC/README.md" | sort -u); do
	grep -qx "$d" "$SRC/debian/mapfs.docs"
	res $? "$d (the README points to it) in debian/mapfs.docs"
done

echo "1..$n"
exit $failed
