#!/bin/bash
# SPDX-License-Identifier: MIT
#
# nfs_export.sh MKFS FSCK MAPFS [NFS_CLIENT]
#
# A mapfs mount exported over NFS by nfs-ganesha (FSAL VFS, which works
# on file handles: name_to_handle_at/open_by_handle_at on the mount), a
# user-space client (nfs_client.c, libnfs) over 127.0.0.1 with NFSv4 (no
# rpcbind, no kernel NFS). The client writes, reads, lists and renames,
# keeps a file's NFS handle; then the mapfs daemon is restarted under the
# running ganesha and the same client session goes on: the kept handle
# names the same file (inode, size, including a change made meanwhile
# through the new mount), paths resolve, writes, lists, renames work.
# Two rounds, each with its own client in its own directory: a clean
# restart, then a crash (SIGKILL) and a new daemon.
#
# The restart, as ganesha allows it (README, "Sharing an image over
# NFS"): ganesha holds descriptors on the mount (its root and open
# files), so the export is withdrawn first (SIGHUP with a configuration
# without it), then the mount is unmounted cleanly and checked (fsck),
# or after the kill detached, mounted again by a new daemon (on another
# device number), and the export put back (SIGHUP). NFS
# handles survive because ganesha's VFS handle is (fsid, kernel handle):
# the kernel handle holds the node id (the inode number) and the
# generation, which mapfs keeps on disk, and `fsid_type = Major64` in
# the export's FSAL block keys the fsid on the device major alone (0 for
# every FUSE mount: its f_fsid is 0 and the minor changes per mount).
# The NFSv4 open state does not survive: ganesha drops it with the
# export, and a READ through the old open gets NFS4ERR_BAD_STATEID (a
# real client opens again; libnfs does not, so the test reads by a new
# open).
#
# Needs root, ganesha.nfsd with its VFS backend and the libnfs client
# (scripts/install-deps.sh installs them); SKIP (77) without. Everything
# it started (ganesha, the client, the daemon) is stopped on any exit.
. "$(dirname "$0")/lib.sh"

[ $# = 3 ] || [ $# = 4 ] ||
	{ echo "usage: $0 MKFS FSCK MAPFS [NFS_CLIENT]" >&2; exit 2; }
lib_init "$1" "$2" "$3"
CLIENT=${4:-}
[ "$(id -u)" = 0 ] || skip "ganesha needs root"
GANESHA=$(command -v ganesha.nfsd) || skip "no ganesha.nfsd (nfs-ganesha)"
FSAL_DIR=
for d in /usr/lib/*/ganesha /usr/lib/ganesha /usr/lib64/ganesha; do
	[ -e "$d/libfsalvfs.so" ] && FSAL_DIR=$d
done
[ -n "$FSAL_DIR" ] || skip "no libfsalvfs.so (nfs-ganesha-vfs)"
[ -n "$CLIENT" ] && [ -x "$CLIENT" ] ||
	skip "nfs_client not built (no libnfs-dev when meson was set up)"

IMG=$T/nfs.img
MNT=$T/mnt
G=$T/ganesha
GPID=
CPID=
mkdir -p "$G/recovery"

stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		pid_alive "$pid" || break
		sleep 0.1
	done
	pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}
# ganesha and the client first: ganesha's descriptors keep the mount busy.
HOLD=
trap 'rc=$?; stop_pid "$CPID"; stop_pid "$GPID"
      for h in $HOLD; do umount "$h"; done; (exit $rc); lib_cleanup' EXIT

# A port nobody listens on.
for ((i = 0; i < 50; i++)); do
	PORT=$((20000 + (RANDOM % 10000)))
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || break
done

cat > "$G/core.conf" <<EOF
NFS_CORE_PARAM {
	Protocols = 4;
	NFS_Port = $PORT;
	Bind_addr = 127.0.0.1;
	Enable_NLM = false;
	Enable_RQUOTA = false;
	Enable_UDP = false;
	Plugins_Dir = $FSAL_DIR;
}
NFSV4 {
	Graceless = true;
	RecoveryBackend = fs;
	RecoveryRoot = $G/recovery;
}
NFS_KRB5 { Active_krb5 = false; }
EOF
cat > "$G/export.conf" <<EOF
EXPORT {
	Export_Id = 1;
	Path = $MNT;
	Pseudo = /mapfs;
	Access_Type = RW;
	Squash = No_Root_Squash;
	Protocols = 4;
	Transports = TCP;
	SecType = sys;
	FSAL { Name = VFS; fsid_type = Major64; }
}
EOF
cat "$G/core.conf" "$G/export.conf" > "$G/ganesha.conf"

# reload N: make ganesha reread its configuration, wait for the Nth
# reread to be done (bounded).
reload() {
	local i
	kill -HUP "$GPID" || fail "ganesha is gone"
	for ((i = 0; i < 200; i++)); do
		[ "$(grep -c 'Reread exports complete' "$G/log")" -ge "$1" ] &&
			return 0
		sleep 0.05
	done
	tail -20 "$G/log"
	fail "ganesha did not reread its configuration"
}

make_image "$IMG" 64M
mount_fs "$IMG" "$MNT"
"$GANESHA" -F -f "$G/ganesha.conf" -L "$G/log" -p "$G/pid" \
	-N NIV_EVENT > "$G/out" 2>&1 &
GPID=$!
for ((i = 0; i < 300; i++)); do
	grep -q "NFS SERVER INITIALIZED" "$G/log" 2>/dev/null && break
	pid_alive "$GPID" || break
	sleep 0.1
done
grep -q "NFS SERVER INITIALIZED" "$G/log" 2>/dev/null || {
	cat "$G/out" "$G/log" 2>/dev/null | tail -30
	fail "ganesha did not start"
}
note "ganesha (pid $GPID) serves $MNT as 127.0.0.1:$PORT/mapfs"

# round NAME clean|kill: a client session in $MNT/NAME, a restart of the
# daemon under it, then the same session goes on (nfs_client.c).
nreload=0
round() {
	local dir=$1 how=$2 pid rc dev1 dev2 i
	mkdir "$MNT/$dir" || fail "mkdir $dir"
	rm -f "$T/ready" "$T/go"
	timeout 200 "$CLIENT" "nfs://127.0.0.1/mapfs/$dir?version=4&nfsport=$PORT" \
		"$T/ready" "$T/go" > "$T/client.$dir" 2>&1 &
	CPID=$!
	for ((i = 0; i < 600; i++)); do
		[ -e "$T/ready" ] && break
		pid_alive "$CPID" || break
		sleep 0.1
	done
	[ -e "$T/ready" ] ||
		{ cat "$T/client.$dir"; fail "$dir: the client did not get ready"; }
	dev1=$(stat -c %d "$MNT")
	if [ "$how" = kill ]; then
		# The daemon dies under ganesha; its mount answers ENOTCONN
		# (and ganesha NFS4ERR_SERVERFAULT) until the export is
		# withdrawn and the image mounted again, which replays the
		# journal.
		pid=${DAEMON_PID[$MNT]}
		kill -KILL "$pid"
		wait_gone 10 "$pid" || fail "$dir: daemon still there after SIGKILL"
		wait "$pid" 2>/dev/null
		unset "DAEMON_PID[$MNT]"
		cp "$G/core.conf" "$G/ganesha.conf"
		reload $((nreload += 1))
		umount -l "$MNT" || fail "$dir: cannot detach the dead mount"
	else
		# Withdraw the export (ganesha closes its descriptors on the
		# mount), unmount cleanly, fsck.
		cp "$G/core.conf" "$G/ganesha.conf"
		reload $((nreload += 1))
		unmount_and_fsck "$IMG" "$MNT"
	fi
	# The kernel would give the new mount the device number just freed
	# (the lowest free one): small tmpfs mounts take numbers until one
	# has it, so the new mount gets another, as on a machine where
	# mounts come and go.
	for ((i = 0; i < 32; i++)); do
		mkdir -p "$T/hold.$dir.$i"
		mount -t tmpfs -o size=64k mapfs-test-hold "$T/hold.$dir.$i" ||
			break
		HOLD="$HOLD $T/hold.$dir.$i"
		[ "$(stat -c %d "$T/hold.$dir.$i")" = "$dev1" ] && break
	done
	mount_fs "$IMG" "$MNT"
	dev2=$(stat -c %d "$MNT")
	note "$dir ($how): device of the mount $((dev1 >> 8)):$((dev1 & 255))" \
	     "before, $((dev2 >> 8)):$((dev2 & 255)) after the restart"
	# A change the kept handle must see: only the new daemon knows it.
	printf '+local' >> "$MNT/$dir/held" || fail "$dir: append to held"
	# Nothing in the kernel's caches either: the handle must be
	# resolved by the new daemon (LOOKUP of "." in the node).
	sync
	echo 3 > /proc/sys/vm/drop_caches
	cat "$G/core.conf" "$G/export.conf" > "$G/ganesha.conf"
	reload $((nreload += 1))
	touch "$T/go"
	wait "$CPID"
	rc=$?
	CPID=
	sed "s/^/$dir: /" "$T/client.$dir"
	[ "$rc" = 0 ] || fail "$dir ($how): the NFS client failed (exit $rc)"
}

round clean clean
round killed kill
stop_pid "$GPID"
GPID=
unmount_and_fsck "$IMG" "$MNT"
echo "ok - nfs_export"
