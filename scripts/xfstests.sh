#!/bin/bash
# xfstests.sh - run the Linux filesystem regression suite (xfstests, also
# called fstests) on mapfs, by hand: it is a yardstick, not part of
# ./run-tests.sh (the default suite cannot fetch xfstests).
#
#   scripts/xfstests.sh -s SRC [-b BUILD] [-w WORK] [-S SIZE] [-u] [--] TESTS...
#
#   -s SRC    an xfstests source tree (git clone of
#             git://git.kernel.org/pub/scm/fs/xfs/xfstests-dev.git or its
#             mirror github.com/kdave/xfstests); copied, never changed
#   -b BUILD  the mapfs build directory (default: build)
#   -w WORK   where xfstests is built and the images live
#             (default: /var/tmp/mapfs-xfstests)
#   -S SIZE   size of the two images (default 4G; sparse)
#   -u        create the users and groups xfstests runs some tests as
#             (fsgqa, fsgqa2, 123456-fsgqa) if they do not exist
#   TESTS     what ./check takes: names (generic/003), groups (-g quick),
#             exclusions (-e generic/650), after "--" when the first
#             is an option; default: -g quick
#
# Needs root, /dev/fuse and xfstests' build and run dependencies (the
# apt-get line in xfstests' README). It:
#   - copies SRC to WORK/xfstests and builds it there (once; rm the
#     directory to rebuild);
#   - applies local hooks to the copy's common/rc, for FSTYP=fuse
#     (which xfstests cannot format or check on its own):
#       _scratch_mkfs and _test_mkfs run mkfs.mapfs -F -q on the image,
#       _scratch_mkfs_sized formats its first SIZE bytes (-o offset=0,size=);
#       the consistency check after each test unmounts the image, runs
#       fsck.mapfs -n -f (any finding fails the test) and mounts it again;
#       _fs_type reports the mount's type fuse.mapfs as fuse (= FSTYP);
#   - makes WORK/test.img and WORK/scratch.img (TEST_DEV, SCRATCH_DEV) and
#     writes WORK/xfstests/local.config (FSTYP=fuse, FUSE_SUBTYP=.mapfs);
#   - runs ./check inside a private mount namespace in which BUILD's
#     programs are bind-mounted over /usr/local/sbin, where mount(8)'s
#     helper mount.fuse3 finds "mapfs" (it clears PATH); nothing is
#     installed on the host, and every mount goes with the namespace;
#   - prints ./check's summary and WORK/summary.txt: the counts of passed,
#     failed and not-run tests and the names of the failed ones.
# docs/POSIX.md lists the expected failures and the reason for each.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
src="" build="$here/build" work=/var/tmp/mapfs-xfstests size=4G users=0
usage() {
	sed -n '5,18p' "$0" >&2
	exit 16
}
while getopts s:b:w:S:uh opt; do
	case $opt in
	s) src=$(cd "$OPTARG" && pwd) ;;
	b) build=$(cd "$OPTARG" && pwd) ;;
	w) work=$OPTARG ;;
	S) size=$OPTARG ;;
	u) users=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$src" ] || usage
[ $# -gt 0 ] || set -- -g quick
[ "$(id -u)" = 0 ] || { echo "xfstests.sh: needs root" >&2; exit 1; }
for p in mapfs mkfs.mapfs fsck.mapfs; do
	f=$(find "$build" -maxdepth 3 -type f -name "$p" -perm -u+x | head -n1)
	[ -n "$f" ] || { echo "xfstests.sh: no $p under $build (build first)" >&2; exit 1; }
	eval "bin_${p//./_}=\$f"
done

mkdir -p "$work"
work=$(cd "$work" && pwd)
xt=$work/xfstests

# ---- build a private copy of xfstests
if [ ! -x "$xt/check" ] || [ ! -e "$xt/.mapfs-built" ]; then
	rm -rf "$xt"
	mkdir -p "$xt"
	(cd "$src" && tar --exclude=.git -cf - .) | (cd "$xt" && tar -xf -)
	echo "xfstests.sh: building xfstests in $xt"
	make -C "$xt" -j"$(nproc)" >"$work/build.log" 2>&1 || {
		tail -n 30 "$work/build.log" >&2
		echo "xfstests.sh: xfstests build failed (log: $work/build.log)" >&2
		exit 1
	}
	touch "$xt/.mapfs-built"
fi

# ---- the two local hooks (idempotent: a marker line guards each)
rc=$xt/common/rc
if ! grep -q '^# mapfs hook' "$rc"; then
	python3 - "$rc" <<'PY'
import re, sys
path = sys.argv[1]
s = open(path).read()
hook = '''
# mapfs hook (scripts/xfstests.sh): format and check mapfs images
_mapfs_mkfs()
{
	mkfs.mapfs -F -q "$1"
}

# A filesystem of SIZE bytes at the start of the (larger) image file;
# block sizes below mapfs's 4096 become 4096.
_mapfs_mkfs_sized()
{
	local bs=$2
	[ "$bs" -ge 4096 ] 2>/dev/null || bs=4096
	mkfs.mapfs -F -q -b "$bs" -o offset=0,size="$1" "$SCRATCH_DEV"
}

_mapfs_check()
{
	local dev=$1 mnt ok=0
	mnt=$(findmnt -n -o TARGET -S "$dev" | head -n1)
	if [ -n "$mnt" ]; then
		$UMOUNT_PROG "$mnt" || return 1
	fi
	if ! fsck.mapfs -n -f "$dev" >$tmp.fsck 2>&1; then
		_log_err "_mapfs_check: fsck.mapfs -n -f $dev found problems"
		cat $tmp.fsck >>$seqres.full
		ok=1
	fi
	rm -f $tmp.fsck
	if [ -n "$mnt" ]; then
		if [ "$dev" = "$TEST_DEV" ]; then
			_test_mount
		else
			_mount -t $FSTYP$FUSE_SUBTYP $MOUNT_OPTIONS "$dev" "$mnt"
		fi
	fi
	return $ok
}
'''
# _scratch_mkfs: format instead of emptying the directory
old = '''	nfs*|afs|cifs|ceph|overlay|glusterfs|pvfs2|9p|fuse|virtiofs)
		# unable to re-create this fstyp'''
new = '''	fuse)
		_mapfs_mkfs "$SCRATCH_DEV"
		return $?
		;;
	nfs*|afs|cifs|ceph|overlay|glusterfs|pvfs2|9p|virtiofs)
		# unable to re-create this fstyp'''
assert old in s, "_scratch_mkfs case not found"
s = s.replace(old, new, 1)
# _test_mkfs and _try_mkfs_dev, then the two checks: each has two fuse
# cases that do nothing; they get these calls, in order
for what, body, calls in (
        ('mkfs cases', '# do nothing for fuse',
         ('_mapfs_mkfs "$TEST_DEV"', '_mapfs_mkfs "$1"')),
        ('check cases', '# no way to check consistency for fuse',
         ('_mapfs_check "$TEST_DEV"', '_mapfs_check "$device"'))):
    old = '    fuse)\n\t%s\n\t;;' % body
    n = s.count(old)
    assert n == 2, "%s: %d" % (what, n)
    for call in calls:
        s = s.replace(old, '    fuse)\n\t%s\n\t;;' % call, 1)
# _scratch_mkfs_sized: the first SIZE bytes of the image
old = '''	*)
		_notrun "Filesystem $FSTYP not supported in _scratch_mkfs_sized"'''
assert old in s, "_scratch_mkfs_sized default case not found"
s = s.replace(old, '''	fuse)
		_mapfs_mkfs_sized "$fssize" "$blocksize"
		;;
''' + old, 1)
# _fs_type: the mount shows as fuse.mapfs, FSTYP is fuse
old = "-e 's/fuse.ceph-fuse/ceph-fuse/'"
assert old in s, "_fs_type sed not found"
s = s.replace(old, old + " -e 's/fuse\\.mapfs$/fuse/'", 1)
open(path, 'w').write(s + hook)
PY
fi

# ---- users some tests switch to
if [ "$users" = 1 ]; then
	getent group fsgqa >/dev/null || groupadd fsgqa
	id fsgqa >/dev/null 2>&1 || useradd -m -g fsgqa fsgqa
	id fsgqa2 >/dev/null 2>&1 || useradd -m fsgqa2
	id 123456-fsgqa >/dev/null 2>&1 || useradd -m 123456-fsgqa
fi

# ---- images and configuration
for img in test scratch; do
	[ -e "$work/$img.img" ] || truncate -s "$size" "$work/$img.img"
done
"$bin_mkfs_mapfs" -F -q "$work/test.img"
mkdir -p "$work/test" "$work/scratch" "$work/bin" "$work/results"
for p in mapfs mkfs.mapfs fsck.mapfs; do
	v=bin_${p//./_}
	ln -sf "${!v}" "$work/bin/$p"
done
cat >"$xt/local.config" <<EOF
export FSTYP=fuse
export FUSE_SUBTYP=.mapfs
export TEST_DEV=$work/test.img
export TEST_DIR=$work/test
export SCRATCH_DEV=$work/scratch.img
export SCRATCH_MNT=$work/scratch
export MOUNT_OPTIONS="-o allow_other"
export TEST_FS_MOUNT_OPTS="-o allow_other"
export RESULT_BASE=$work/results
EOF

# ---- run, in a private mount namespace
log=$work/check.log
set +e
# findmnt escapes odd characters in paths (\x20): such mount points of
# other programs are left, as they are in every private namespace.
# The mounts check leaves (TEST_DIR stays mounted) are unmounted before
# the namespace ends: a daemon keeps its namespace alive, so a mount left
# there would hold the image locked.
unshare -m --propagation private bash -c '
	work=$1 xt=$2
	shift 2
	release() {
		findmnt -rn -o TARGET -t fuse.mapfs | grep "^$work/" |
			xargs -r -n1 umount
	}
	trap release EXIT
	# The namespace starts with a copy of every mount, FUSE mounts of
	# other programs too; a copy would keep their daemons alive after
	# their own unmount. Detach them here (the host keeps its own).
	findmnt -rn -o TARGET,FSTYPE | awk "\$2 ~ /^fuse/ { print \$1 }" |
		grep -v "^/sys/fs/fuse" | tac | xargs -r -n1 umount -l
	mount --bind "$work/bin" /usr/local/sbin || exit 1
	export PATH="$work/bin:$PATH"
	cd "$xt" && ./check "$@"
' xfstests "$work" "$xt" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# ---- summary
{
	echo "# xfstests on mapfs, $(date -u +%Y-%m-%dT%H:%MZ)"
	bsrc=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["directories"]["source"])' "$build/meson-info/meson-info.json" 2>/dev/null || echo "$build")
	echo "# mapfs build: $build ($(git -C "$bsrc" describe --always --dirty 2>/dev/null || echo ?)); xfstests: $(git -C "$src" describe --always 2>/dev/null || echo unknown)"
	echo "# tests: $*"
	ran=$(sed -n 's/^Ran: //p' "$log" | tail -n1 | wc -w)
	notrun=$(sed -n 's/^Not run: //p' "$log" | tail -n1 | wc -w)
	failed=$(sed -n 's/^Failures: //p' "$log" | tail -n1)
	nfailed=$(echo "$failed" | wc -w)
	echo "ran $ran (of which not run $notrun), passed $((ran - nfailed - notrun)), failed $nfailed"
	echo "failed: ${failed:-none}"
} | tee "$work/summary.txt"
exit "$status"
