#!/bin/bash
# SPDX-License-Identifier: MIT
#
# grow_online.sh MKFS FSCK MAPFS GROWFS
#
# growfs.mapfs on a mounted image (the daemon grows it, MAPFS_IOC_GROW):
#  - a 40M image (16M groups) with files: grown to 100M while mounted,
#    df shows the new size at once, then more is written than the old
#    size held; grown again to 200M; unmount, fsck -n -f clean, remount:
#    every file intact, the size kept; the file enlarged by truncate,
#    then growfs without -s: grown to the file's end;
#  - a dry run (-n) on the mount changes nothing; shrinking is refused;
#    a size past the address space the daemon reserved is refused with
#    the limit named;
#  - a region of fixed size (-o offset=,size=): the ioctl is refused,
#    the container's bytes after the region untouched;
#  - as uid 65534 on a root mount with allow_other: refused (EPERM,
#    "only root or the user the daemon runs as");
#  - as uid 65534 on that user's own mount (fusermount3): allowed.
. "$(dirname "$0")/lib.sh"

lib_start "MKFS FSCK MAPFS GROWFS" "$@"
[ -x "$GROWFS" ] || fail "not an executable: $GROWFS"
IMG=$T/g.img
MNT=$T/mnt
MiB=$((1024 * 1024))

# df's total of MNT in 1K blocks (statfs).
df_total() { df -k --output=size "$1" | tail -1 | tr -d ' '; }
manifest() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 md5sum); }

make_image "$IMG" 40M -g 4096
mount_fs "$IMG" "$MNT"
mkdir "$MNT/d"
head -c $((20 * MiB)) /dev/urandom > "$MNT/d/a" || fail "write a"
for i in $(seq 1 50); do echo "small $i" > "$MNT/d/s$i"; done
t0=$(df_total "$MNT")

"$GROWFS" -n -s 100M "$IMG" > "$T/dry.out" 2>&1
rc=$?
sed 's/^/# /' "$T/dry.out"
t "dry run on the mount: exit 0, plan printed" \
	'[ $rc = 0 ] && grep -q "dry run" "$T/dry.out" && grep -q "the daemon grows it" "$T/dry.out"'
t "dry run changed nothing" '[ "$(df_total "$MNT")" = "$t0" ] && [ "$(stat -c %s "$IMG")" = $((40 * MiB)) ]'

"$GROWFS" -s 100M "$IMG" > "$T/g1.out" 2>&1
rc=$?
sed 's/^/# /' "$T/g1.out"
t1=$(df_total "$MNT")
t "grown to 100M while mounted" '[ $rc = 0 ] && grep -q "grown while mounted" "$T/g1.out"'
t "df shows the new size at once ($t0 -> $t1 KiB)" '[ "$t1" -gt $((t0 * 2)) ]'
t "image file enlarged to 100M" '[ "$(stat -c %s "$IMG")" = $((100 * MiB)) ]'
head -c $((50 * MiB)) /dev/urandom > "$MNT/d/b"
rc=$?
t "50M more written (70M in all: more than 40M held)" \
	'[ $rc = 0 ] && [ "$(stat -c %s "$MNT/d/b")" = $((50 * MiB)) ]'

"$GROWFS" -s 200M "$IMG" > "$T/g2.out" 2>&1
rc=$?
t2=$(df_total "$MNT")
t "grown again to 200M ($t2 KiB)" '[ $rc = 0 ] && [ "$t2" -gt $((t1 + 90 * 1024)) ]'
head -c $((60 * MiB)) /dev/urandom > "$MNT/d/c"
rc=$?
t "60M more written (130M in all)" '[ $rc = 0 ]'
# The file enlarged first (truncate), then growfs without -s: to its end.
truncate -s 250M "$IMG"
"$GROWFS" "$IMG" > "$T/g3.out" 2>&1
rc=$?
t3=$(df_total "$MNT")
t "truncate -s 250M, then growfs without -s ($t3 KiB)" \
	'[ $rc = 0 ] && [ "$t3" -gt $((t2 + 45 * 1024)) ]'
t2=$t3

"$GROWFS" -s 50M "$IMG" > "$T/shrink.out" 2>&1
rc=$?
note "$(cat "$T/shrink.out")"
t "shrink refused" '[ $rc != 0 ] && grep -q "shrinking is not supported" "$T/shrink.out"'
"$GROWFS" -s 100T "$IMG" > "$T/big.out" 2>&1
rc=$?
note "$(cat "$T/big.out")"
t "past the reserved address space: refused, limit named" \
	'[ $rc != 0 ] && grep -q "while mounted it can grow to" "$T/big.out"'
t "refusals changed nothing" '[ "$(df_total "$MNT")" = "$t2" ] && [ "$(stat -c %s "$IMG")" = $((250 * MiB)) ]'

manifest "$MNT" > "$T/manifest.ref"
unmount_and_fsck "$IMG" "$MNT"
mount_fs "$IMG" "$MNT"
manifest "$MNT" > "$T/manifest.now"
t "after a remount: every file intact" 'cmp -s "$T/manifest.ref" "$T/manifest.now"'
t "after a remount: the size kept" '[ "$(df_total "$MNT")" = "$t2" ]'
unmount_and_fsck "$IMG" "$MNT"

# A region of fixed size (-o offset=,size=) is not grown past its end:
# the bytes after it are not the filesystem's (the ioctl sent directly:
# growfs.mapfs has no -o offset=).
C=$T/container
head -c $((96 * MiB)) /dev/zero | tr '\0' 'x' > "$C"
"$MKFS" -q -o offset=16M,size=48M "$C" > /dev/null 2>&1 || fail "mkfs -o offset"
mount_fs "$C" "$MNT" -o offset=16M,size=48M
python3 - "$MNT" > "$T/region.out" 2>&1 <<'PY'
import errno, fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
req = bytearray(struct.pack("<4Q", 80 << 20, 0, 0, 0))
try:
    fcntl.ioctl(fd, 0xC0206D47, req)    # MAPFS_IOC_GROW
    print("grown")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
note "region of fixed size: $(cat "$T/region.out")"
t "a region of fixed size is not grown (EINVAL)" 'grep -qx EINVAL "$T/region.out"'
unmount_and_fsck_region() {
	unmount_only "$MNT"
	"$FSCK" -n -f -o offset=16M,size=48M "$C" > "$T/fsck.out" 2>&1
}
unmount_and_fsck_region
rc=$?
t "the region checks clean, the container is as it was" \
	'[ $rc = 0 ] && [ "$(stat -c %s "$C")" = $((96 * MiB)) ] &&
	 [ "$(tail -c $((32 * MiB)) "$C" | tr -d x | wc -c)" = 0 ]'

# Who may grow: not another user on a root mount with allow_other.
if command -v setpriv >/dev/null 2>&1; then
	mount_fs "$IMG" "$MNT" -o allow_other
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$GROWFS" -s 300M "$IMG" > "$T/user.out" 2>&1
	rc=$?
	note "$(cat "$T/user.out")"
	t "another user on an allow_other mount: refused" \
		'[ $rc != 0 ] && grep -q "only root or the user the daemon runs as" "$T/user.out"'
	t "refused: size unchanged" '[ "$(df_total "$MNT")" = "$t2" ]'
	unmount_and_fsck "$IMG" "$MNT"

	# The user who mounted it may.
	lib_user_init
	as_user "$MKFS" -q -s 40M -g 4096 "$IMG" || fail "mkfs as the user"
	user_mount_fs
	as_user sh -c "head -c 10485760 /dev/urandom > $MNT/f" || fail "write as the user"
	as_user "$GROWFS" -s 80M "$IMG" > "$T/own.out" 2>&1
	rc=$?
	sed 's/^/# /' "$T/own.out"
	# (root cannot look into a user's mount without allow_other)
	ut=$(as_user df -k --output=size "$MNT" | tail -1 | tr -d ' ')
	t "the mounting user grows their own mount ($ut KiB)" \
		'[ $rc = 0 ] && [ "$ut" -gt 70000 ]'
	user_unmount "$PID"
	run_fsck "$IMG"
else
	note "setpriv missing: the user checks were skipped"
fi
echo "1..$n"
exit $FAILED
