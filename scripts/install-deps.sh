#!/bin/sh
# install-deps.sh [PACKAGE...]
# Install the Debian packages mapfs needs to build and test, if missing;
# or only the packages named (build-deb.sh's tools), without their
# recommended packages. Exit 1 when some are missing and not root.
set -eu
recommends=
if [ $# -gt 0 ]; then
	pkgs="$*"
	recommends=--no-install-recommends
else
	# build
	pkgs="gcc meson ninja-build pkg-config libfuse3-dev fuse3 libcmocka-dev libblkid-dev"
	# tests: mount/umount, fuzzing, setfacl/chattr, rsync -aAX, JSON checks,
	# partition tables for mkfs's refusals (sfdisk)
	pkgs="$pkgs util-linux fdisk clang libclang-rt-14-dev acl attr e2fsprogs rsync jq"
	# tests: NFS export of a mount (nfs_export.sh): the NFS server with its
	# VFS backend, the user-space client library (and its command-line tools)
	pkgs="$pkgs nfs-ganesha nfs-ganesha-vfs libnfs-dev libnfs-utils"
fi
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root or install them)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq $recommends $missing
