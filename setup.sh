#!/bin/sh
# setup.sh - the README's first Quick start command.
# Installs what is missing (Debian), builds mapfs, formats images/default.img
# if it does not exist, switches on the kernel's FUSE over io_uring where
# it has one (MAPFS_URING=0: don't), and mounts it at ./mnt (override with
# MAPFS_MNT).
set -eu
cd "$(dirname "$0")"
top=$(pwd)
img=${MAPFS_IMAGE:-$top/images/default.img}
mnt=${MAPFS_MNT:-$top/mnt}
size=${MAPFS_SIZE:-1G}

./scripts/install-deps.sh
if [ ! -d build ]; then
	meson setup build
fi
ninja -C build
if [ ! -e "$img" ]; then
	./build/mkfs/mkfs.mapfs -s "$size" -L default "$img"
fi
mkdir -p "$mnt"
if mountpoint -q "$mnt"; then
	echo "setup.sh: $mnt is already mounted"
	exit 0
fi
# FUSE over io_uring (Linux 6.14+) speeds up metadata and small I/O; the
# kernel ships it switched off. MAPFS_URING=0 leaves the switch alone.
param=/sys/module/fuse/parameters/enable_uring
if [ "${MAPFS_URING:-1}" != 0 ] && [ -w "$param" ] &&
   [ "$(cat "$param")" != Y ]; then
	echo Y > "$param"
	echo "setup.sh: switched on FUSE over io_uring ($param = Y; MAPFS_URING=0 to leave it off)"
fi
./build/fs/fuse/mapfs "$img" "$mnt"
echo "setup.sh: $img is mounted at $mnt (unmount: fusermount3 -u $mnt)"
