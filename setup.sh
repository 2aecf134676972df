#!/bin/sh
# setup.sh - the README's first Quick start command.
# Installs what is missing (Debian), builds mapfs, formats images/default.img
# if it does not exist, and mounts it at ./mnt (override with MAPFS_MNT).
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
./build/fs/fuse/mapfs "$img" "$mnt"
echo "setup.sh: $img is mounted at $mnt (unmount: fusermount3 -u $mnt)"
