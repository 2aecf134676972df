#!/bin/bash
# SPDX-License-Identifier: MIT
#
# with_transport.sh uring|devfuse SCRIPT ARGS...
#
# Runs another mount test with the kernel's FUSE-over-io_uring switch
# (/sys/module/fuse/parameters/enable_uring) set for the transport asked
# for, and restores the switch afterwards, whatever way the test ends.
# The daemon uses io_uring whenever the switch is on (fs/fuse/uring.c),
# so the default mount suite tests whichever transport the machine is
# set for; these runs cover the other one too. Every daemon started must
# name the transport at unmount (MAPFS_EXPECT_TRANSPORT, checked in
# lib.sh). Exit 77 (SKIP) when the kernel has no such switch (before
# Linux 6.14, or FUSE built without CONFIG_FUSE_IO_URING).
set -u
[ $# -ge 2 ] || { echo "usage: $0 uring|devfuse SCRIPT ARGS..." >&2; exit 2; }
mode=$1
shift
param=/sys/module/fuse/parameters/enable_uring
if [ ! -e "$param" ]; then
	echo "SKIP: this kernel has no FUSE over io_uring ($param)"
	exit 77
fi
[ "$(id -u)" = 0 ] || { echo "SKIP: setting $param needs root"; exit 77; }
# The switch is global: two runs at once (parallel meson invocations, a
# second worktree) would flip it under each other's daemons. Take turns.
exec 9>/tmp/mapfs-transport.lock
flock 9
old=$(cat "$param")
trap 'echo "$old" > "$param"' EXIT
case $mode in
uring)	echo Y > "$param"; export MAPFS_EXPECT_TRANSPORT=io_uring ;;
devfuse) echo N > "$param"; export MAPFS_EXPECT_TRANSPORT=/dev/fuse ;;
*)	echo "$0: unknown transport $mode" >&2; exit 2 ;;
esac
echo "# $param = $(cat "$param") (was $old) for: $*"
bash "$@"
