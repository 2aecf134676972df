#!/bin/sh
# SPDX-License-Identifier: MIT
# Only the owner of an on-disk structure converts its fields to and from
# little-endian (docs/FORMAT.md): everyone else uses the field accessors
# of include/mapfs_format.h or the owner's functions. Fails, naming the
# lines, when le*toh/htole* appears in the programs (fsck/, dump/, mkfs/,
# fs/fuse/) or in a core file that owns no on-disk structure.
# Usage: decode_owners.sh <source root>
src=${1:?usage: decode_owners.sh <source root>}
cd "$src" || exit 1

# The core's owners: superblock, group headers, bitmaps (alloc.c scans
# them a word at a time), inodes, indirect blocks, directory chunks,
# xattr blocks, the journal, the CRC seeds; format.c lays out a new image.
owners='super.c cg.c alloc.c inode.c bmap.c dir.c xattr.c journal.c crc.c format.c'

files=$(ls fsck/*.c dump/*.c mkfs/*.c fs/fuse/*.c fs/*.c 2>/dev/null)
bad=0
for f in $files; do
	case " $owners " in
	*" ${f#fs/} "*) [ "${f%/*}" = fs ] && continue ;;
	esac
	if grep -n 'le[0-9]*toh\|htole[0-9]*' "$f" /dev/null; then
		bad=1
	fi
done
if [ "$bad" -ne 0 ]; then
	echo "raw on-disk decodes outside the owner (use the accessors of" \
	     "include/mapfs_format.h or the owner's functions)" >&2
	exit 1
fi
echo "ok: no raw decodes outside the owners ($(echo $files | wc -w) files)"
