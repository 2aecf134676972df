#!/bin/sh
# SPDX-License-Identifier: MIT
# layering.sh - the core's layer order, checked on its objects.
#
# Usage: layering.sh path/to/libmapfs-core.a
#
# Every object of the core (fs/*.c, the static library mapfs-core) may
# call only the files listed BEFORE it below: a total order, so the import
# graph has no upward arrow and no circle. Read from the archive with nm:
# each object's undefined symbols (nm -u) against the globals every object
# defines (nm --defined-only -g). Fails on a call to a later file, and on
# an object of the library missing from the list (a new file must be
# given its place). Registered in tests/meson.build (suite unit).
#
# The order, lowest first, one file a line (this list is the one place it
# is kept; docs/DESIGN.md describes it):
LAYERS='
crc	checksums (CRC32C, page seals): the C library only
mounts	the host mount table (is an image mounted?): reads /proc
image	the mapping services and logging; system calls on the image
journal	the redo journal: records, the ring, replay, checkpoints; its ring
seal	the deferred-seal list; sealers registered by their owners
super	the superblock: decode, check, store, attach; the journal geometry
cg	group headers and bitmaps, the inode-table slots (mapfs_dinode)
alloc	block and inode allocation, host space reservation
inode	inodes: codec, table, load/store (split: inode, bmap, file)
bmap	block maps, indirect pages (split from inode.c)
file	file I/O (split from inode.c)
dirhash	the in-memory directory index
dir	directories
xattr	extended attributes and ACLs
ops	the filesystem operations (create, rename, setattr ...)
txn	the operation bracket: mapfs_op_begin/mapfs_op_end, ENOSPC retry
mount	open, lock, map, attach, replay, commit, close
format	mkfs of an image (uses a detached in-memory fs)
grow	growfs
tune	tune.mapfs: label, uuid, reserve, a journal added
'

lib=$1
if [ -z "$lib" ] || [ ! -r "$lib" ]; then
	echo "usage: $0 libmapfs-core.a" >&2
	exit 2
fi
NM=${NM:-nm}

{
	printf '%s\n' "$LAYERS" | awk 'NF { print "L", $1 }'
	# "lib.a:file.c.o: 0000 T sym" / "lib.a:file.c.o:          U sym"
	"$NM" -A --defined-only -g "$lib" 2>/dev/null |
		awk '{ n = split($1, a, ":"); print "D", a[n - 1], $NF }'
	"$NM" -A -u "$lib" 2>/dev/null |
		awk '{ n = split($1, a, ":"); print "U", a[n - 1], $NF }'
} | awk '
function base(o) { sub(/.*\//, "", o); sub(/\.c\.o$/, "", o); sub(/\.o$/, "", o); return o }
$1 == "L" { rank[$2] = ++nl; next }
function obj(o) { if (!(o in objs)) { objs[o] = 1; no++ } return o }
$1 == "D" { o = obj(base($2)); def[$3] = o; next }
$1 == "U" { o = obj(base($2)); nu++; uo[nu] = o; us[nu] = $3 }
END {
	bad = 0
	if (nl == 0 || no == 0) {
		print "layering: nothing read (no list, or no objects)"
		exit 1
	}
	for (o in objs)
		if (!(o in rank)) {
			printf "layering: %s.c is not in the layer list " \
			       "(tests/layering.sh): give it a place\n", o
			bad = 1
		}
	for (i = 1; i <= nu; i++) {
		o = uo[i]; s = us[i]
		if (!(s in def))
			continue	# the C library
		d = def[s]
		if (d == o || !(o in rank) || !(d in rank))
			continue
		if (rank[d] > rank[o]) {
			printf "layering: %s.c calls %s (%s.c), a later " \
			       "layer: %s.c may call only the files before " \
			       "it\n", o, s, d, o
			bad = 1
		}
	}
	if (!bad)
		printf "layering: %d objects, %d layers, no upward call\n",
		       no, nl
	exit bad
}'
