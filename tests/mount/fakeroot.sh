#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fakeroot.sh MKFS FSCK MAPFS
#
# -o fakeroot, as uid 65534 (nobody) mounting through fusermount3 with
# the work done in forked children of that uid:
#   - without the option, chown to another uid is refused (EPERM);
#   - with it: chown and chgrp to any ids succeed; stat shows every file
#     as owned by the mounting user; files chowned away (mode 0600, 0700
#     directories, 0744 scripts) stay readable, writable, searchable and
#     executable by the user; files the user creates are stored as 0:0;
#     fakeroot with allow_other is refused;
#   - a normal mount afterwards shows the ids the image stores: the
#     chowned ones, and 0:0 for what the user created.
# fsck.mapfs -n -f must be clean after each mount. /dev/fuse is made
# 0666 while the test runs (restored on any exit).
. "$(dirname "$0")/lib.sh"

lib_user_test "$@"

# Unmount as the user (lib.sh), then a clean forced check.
unmount_user_and_fsck() {
	user_unmount "${DAEMON_PID[$MNT]}"
	run_fsck "$IMG"
}

owner() { stat -c '%u:%g' "$1"; }

as_user "$MKFS" -q -s 64M "$IMG" || fail "mkfs.mapfs as the user failed"

# --- without fakeroot: the kernel refuses a chown to another uid --------
user_mount_fs
as_user bash -c 'cd "$1" && echo x > plain &&
	if chown 1234 plain 2>"$2"; then exit 1; fi
	grep -q "Operation not permitted" "$2"' _ "$MNT" "$U/home/chown.err" ||
	fail "without fakeroot, chown to another uid was not refused"
as_user rm "$MNT/plain"
unmount_user_and_fsck
note "without fakeroot: chown 1234 refused (EPERM)"

# --- fakeroot with allow_other: refused ---------------------------------
if as_user "$MAPFS" "$IMG" "$MNT" -f -o fakeroot,allow_other \
	> "$T/ao.log" 2>&1; then
	fail "fakeroot with allow_other was accepted"
fi
grep -q "fakeroot and allow_other" "$T/ao.log" ||
	{ cat "$T/ao.log"; fail "no clear message for fakeroot,allow_other"; }

# --- with fakeroot ------------------------------------------------------
user_mount_fs -o fakeroot
as_user bash -ec '
	cd "$1"
	mkdir -p build/bin build/etc/private
	echo secret > build/etc/shadow
	chown 1234:5678 build/etc/shadow
	chmod 0600 build/etc/shadow
	chgrp 4321 build/etc
	chown 2000:3000 build/etc/private
	chmod 0700 build/etc/private
	echo inside > build/etc/private/file	# in a 0700 dir of uid 2000
	printf "#!/bin/sh\necho ran\n" > build/bin/tool
	chown 7:7 build/bin/tool
	chmod 0744 build/bin/tool
	touch build/mine
	chown 0:0 build/etc/private/file
	chown 65534:65534 build/bin	# the user itself: stored as 0:0
	ln -s etc/shadow build/link
	chown -h 99:98 build/link
	# the kernel sees the caller as the owner of everything
	for f in build build/etc build/etc/shadow build/etc/private \
		 build/etc/private/file build/bin/tool build/mine build/link; do
		s=$(stat -c %u:%g "$f")
		[ "$s" = 65534:65534 ] || { echo "$f shows $s"; exit 1; }
	done
	# and is not blocked by the stored ids
	[ "$(cat build/etc/shadow)" = secret ]
	echo more >> build/etc/shadow
	[ "$(cat build/etc/private/file)" = inside ]
	[ "$(build/bin/tool)" = ran ]
	chmod 0000 build/mine
	echo written > build/mine
	[ "$(cat build/mine)" = written ]
' _ "$MNT" || fail "fakeroot: operations as uid $UID_U failed"
unmount_user_and_fsck
note "fakeroot: chown/chgrp accepted, everything shown as $UID_U, nothing blocked"

# --- a normal mount shows what the image stores -------------------------
mount_fs "$IMG" "$T/check"
C=$T/check/build
expect() {
	local got
	got=$(owner "$1")
	[ "$got" = "$2" ] || fail "$1: stored $got, expected $2"
}
expect "$C/etc/shadow" 1234:5678
expect "$C/etc" 0:4321
expect "$C/etc/private" 2000:3000
expect "$C/etc/private/file" 0:0
expect "$C/bin/tool" 7:7
expect "$C/bin" 0:0
expect "$C/mine" 0:0
expect "$C" 0:0
[ "$(stat -c %u:%g "$C/link")" = 99:98 ] || fail "symlink owner not stored"
[ "$(stat -c %a "$C/etc/shadow")" = 600 ] || fail "mode not stored"
[ "$(stat -c %a "$C/mine")" = 0 ] || fail "mode 0000 not stored"
[ "$(cat "$C/etc/shadow")" = "secret
more" ] || fail "content lost"
# The image's root, made by mkfs as the user, keeps the user's ids.
expect "$T/check" "$UID_U:$GID_U"
unmount_and_fsck "$IMG" "$T/check"
echo "ok - fakeroot"
