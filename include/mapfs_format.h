/* SPDX-License-Identifier: MIT */
/*
 * mapfs_format.h - the mapfs on-disk format. Every byte on disk is
 * described here and nowhere else; docs/FORMAT.md explains the layout, the
 * invariants and the reasons.
 *
 * Rules kept by every structure below:
 *  - little-endian, fixed-width fields, naturally aligned, padding named;
 *  - no structure straddles a 4 KiB page, so each reaches the disk whole
 *    or not at all (a torn page is caught by its CRC32C);
 *  - block numbers, inode numbers, sizes and counters are 64-bit;
 *  - every checksummed structure keeps its CRC32C in its last bytes; the
 *    CRC covers the bytes before it, after a seed made of the
 *    per-filesystem seed and the structure's location (see "Checksums"
 *    at the end of this file and docs/FORMAT.md).
 *
 * The in-memory code never works on these structs directly except in the
 * module that owns them (super.c, cg.c, inode.c, bmap.c, dir.c), which
 * converts to host order on load and back on store.
 */
#ifndef MAPFS_FORMAT_H
#define MAPFS_FORMAT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Constants                                                           */
/* ------------------------------------------------------------------ */

#define MAPFS_PAGE_SIZE		4096u	/* the unit of atomic writes */
#define MAPFS_MIN_BSIZE		4096u
#define MAPFS_MAX_BSIZE		65536u
#define MAPFS_DEFAULT_BSIZE	4096u

#define MAPFS_SB_MAGIC		0x5346504du	/* "MPFS" as LE bytes */
#define MAPFS_SB_MAGIC_MKFS	0x21464b4du	/* "MKF!": mkfs unfinished */
#define MAPFS_CG_MAGIC		0x4743504du	/* "MPCG" */
#define MAPFS_DIRTAIL_MAGIC	0x5244504du	/* "MPDR" */
#define MAPFS_INDTAIL_MAGIC	0x4e49504du	/* "MPIN" */
#define MAPFS_XATTR_MAGIC	0x4858504du	/* "MPXH": xattr block header */
#define MAPFS_XATTRTAIL_MAGIC	0x4158504du	/* "MPXA": xattr page tail */
#define MAPFS_VERSION		1u

/* The primary superblock is the first 4 KiB page of the image. */
#define MAPFS_SB_OFFSET		0u

#define MAPFS_INODE_SIZE	256u	/* the inode proper; the minimum size */
#define MAPFS_DEFAULT_INODE_SIZE 512u	/* 256 more for in-inode xattrs */
#define MAPFS_NDADDR		12u	/* direct block pointers */
#define MAPFS_NIADDR		3u	/* single, double, triple indirect */
#define MAPFS_NADDR		(MAPFS_NDADDR + MAPFS_NIADDR)
/* Symlink targets up to this many bytes live in the inode itself. */
#define MAPFS_FAST_SYMLINK_MAX	(MAPFS_NADDR * 8u)	/* 120 */
#define MAPFS_SYMLINK_MAX	4095u	/* longest target, bytes, no NUL */
#define MAPFS_NAME_MAX		255u	/* longest name, bytes */
#define MAPFS_LINK_MAX		65000u	/* most hard links to one inode */

/* Inode numbers. 0 is never valid (it marks a free directory record);
 * 1 is reserved; 2 is the root; 3 .. MAPFS_FIRST_INO-1 are reserved for
 * future features (journal, orphan file, quota). */
#define MAPFS_ROOT_INO		2u
#define MAPFS_FIRST_INO		16u

/* Directories are made of 4 KiB chunks whatever the block size; a chunk
 * ends in a struct mapfs_dirtail. Records are 8-byte aligned. */
#define MAPFS_DIRCHUNK		4096u
#define MAPFS_DIR_ALIGN		8u

/* Indirect blocks are made of 4 KiB pages; each page holds
 * MAPFS_PTRS_PER_PAGE block numbers and ends in a struct mapfs_indtail. */
#define MAPFS_PTRS_PER_PAGE	511u

/* Defaults and limits chosen by mkfs. */
#define MAPFS_DEFAULT_BYTES_PER_INODE	16384u
#define MAPFS_DEFAULT_MINFREE_PCT	5u
#define MAPFS_LABEL_MAX		64u

/* ------------------------------------------------------------------ */
/* Feature words                                                       */
/* ------------------------------------------------------------------ */
/* Unknown compat bits are ignored, unknown ro_compat bits allow a
 * read-only mount only, unknown incompat bits refuse the image. */
#define MAPFS_FEAT_COMPAT_SUPP		0u
/* ro_compat: set the first time a feature's structures are written, so
 * code that does not know them (whose fsck would free the blocks) opens
 * the image read-only. */
#define MAPFS_FEAT_RO_COMPAT_XATTR	0x1u	/* di_xattr blocks in use */
#define MAPFS_FEAT_RO_COMPAT_KEEPSIZE	0x2u	/* blocks past EOF (fallocate) */
#define MAPFS_FEAT_RO_COMPAT_SUPP	(MAPFS_FEAT_RO_COMPAT_XATTR | \
					 MAPFS_FEAT_RO_COMPAT_KEEPSIZE)
/* incompat: a metadata journal (sb_journal_*) that must be replayed
 * before the image is read: code that does not know it would see an
 * older state of the filesystem. */
#define MAPFS_FEAT_INCOMPAT_JOURNAL	0x1u
/* incompat: sb_csum_seed is kept as it was when the uuid changed
 * (tune.mapfs -U), so it need not equal crc32c(uuid): code that does not
 * know it would call every checksum wrong. Without it, seed =
 * crc32c(uuid) is checked. ext4's metadata_csum_seed. */
#define MAPFS_FEAT_INCOMPAT_CSUM_SEED	0x2u
#define MAPFS_FEAT_INCOMPAT_SUPP	(MAPFS_FEAT_INCOMPAT_JOURNAL | \
					 MAPFS_FEAT_INCOMPAT_CSUM_SEED)

/* ------------------------------------------------------------------ */
/* Superblock state word                                               */
/* ------------------------------------------------------------------ */
#define MAPFS_STATE_CLEAN	1u	/* unmounted cleanly or checked */
#define MAPFS_STATE_MOUNTED	2u	/* mounted read-write right now */
#define MAPFS_STATE_ERROR	3u	/* an inconsistency was seen: fsck */

/* ------------------------------------------------------------------ */
/* Superblock: page 0 of block 0 of the image (primary), and the same   */
/* page of block 0 of groups 1, 3^k, 5^k, 7^k (copies).                 */
/* ------------------------------------------------------------------ */
struct mapfs_dsuper {
	uint32_t sb_magic;		/*   0: MAPFS_SB_MAGIC */
	uint32_t sb_version;		/*   4: MAPFS_VERSION */
	uint32_t sb_feat_compat;	/*   8 */
	uint32_t sb_feat_ro_compat;	/*  12 */
	uint32_t sb_feat_incompat;	/*  16 */
	uint32_t sb_bsize;		/*  20: bytes per block, 2^12..2^16 */
	uint32_t sb_inode_size;		/*  24: bytes per inode, >= 256 */
	uint32_t sb_state;		/*  28: MAPFS_STATE_* */
	uint64_t sb_nblocks;		/*  32: blocks in the filesystem */
	uint64_t sb_ngroups;		/*  40: cylinder groups */
	uint32_t sb_bpg;		/*  48: blocks per group (last: fewer) */
	uint32_t sb_ipg;		/*  52: inodes per group */
	uint64_t sb_ninodes;		/*  56: = ngroups * ipg */
	/* Summary counters: exact after a clean unmount; refreshed at sync
	 * points while mounted; fsck recomputes them. */
	uint64_t sb_free_blocks;	/*  64: free data blocks */
	uint64_t sb_free_inodes;	/*  72: free inodes */
	uint64_t sb_ndirs;		/*  80: directories */
	uint64_t sb_reserved_blocks;	/*  88: kept back for root (minfree) */
	/* Per-group layout, in blocks from the group's first block. */
	uint32_t sb_cg_hdr_off;		/*  96: group header (= 1) */
	uint32_t sb_cg_ibm_off;		/* 100: inode bitmap (= 2) */
	uint32_t sb_cg_bbm_off;		/* 104: block bitmap (= 3) */
	uint32_t sb_cg_itab_off;	/* 108: inode table (= 4) */
	uint32_t sb_cg_data_off;	/* 112: first data block */
	uint32_t sb_itab_blocks;	/* 116: blocks of inode table */
	uint64_t sb_root_ino;		/* 120: MAPFS_ROOT_INO */
	uint64_t sb_first_ino;		/* 128: first non-reserved inode */
	uint64_t sb_orphan_head;	/* 136: first unlinked-but-open inode */
	int64_t  sb_mkfs_time;		/* 144: seconds since the epoch */
	int64_t  sb_mount_time;		/* 152: last read-write mount */
	int64_t  sb_write_time;		/* 160: last write of the superblock */
	int64_t  sb_check_time;		/* 168: last complete fsck */
	uint32_t sb_mount_count;	/* 176: mounts since last fsck */
	uint32_t sb_minfree_pct;	/* 180: percent kept for root */
	uint32_t sb_csum_seed;		/* 184: CRC32C seed = crc32c(uuid) at
					 * mkfs; kept when the uuid changes
					 * (incompat CSUM_SEED) */
	uint32_t sb_maxsymlink_fast;	/* 188: MAPFS_FAST_SYMLINK_MAX */
	uint8_t  sb_uuid[16];		/* 192 */
	char     sb_label[MAPFS_LABEL_MAX];	/* 208: NUL-padded */
	uint64_t sb_this_group;		/* 272: group holding this copy */
	uint64_t sb_maxfilesize;	/* 280: bytes, from the block map */
	uint32_t sb_nindir;		/* 288: pointers per indirect block */
	uint32_t sb_last_feat_incompat;	/* 292: features of the last writer */
	uint32_t sb_last_feat_ro_compat;/* 296 */
	uint32_t sb_last_feat_compat;	/* 300 */
	uint64_t sb_journal_start;	/* 304: first journal block, 0 = none */
	uint64_t sb_journal_blocks;	/* 312: journal length in blocks */
	uint32_t sb_free_zeroed;	/* 320: MAPFS_FREE_ZEROED_MAGIC when
					 * every free block reads as zeros in
					 * the host (below); else 0 */
	uint32_t sb_pad1;		/* 324: zero */
	uint64_t sb_spare[470];		/* 328: zero */
	uint32_t sb_pad;		/* 4088: zero */
	uint32_t sb_crc;		/* 4092: CRC32C of bytes 0..4091 */
};
static_assert(sizeof(struct mapfs_dsuper) == 4096, "superblock size");
static_assert(offsetof(struct mapfs_dsuper, sb_nblocks) == 32, "sb moved");
static_assert(offsetof(struct mapfs_dsuper, sb_cg_hdr_off) == 96, "sb moved");
static_assert(offsetof(struct mapfs_dsuper, sb_uuid) == 192, "sb moved");
static_assert(offsetof(struct mapfs_dsuper, sb_this_group) == 272, "sb moved");
static_assert(offsetof(struct mapfs_dsuper, sb_journal_start) == 304,
	      "sb moved");
static_assert(offsetof(struct mapfs_dsuper, sb_free_zeroed) == 320,
	      "sb moved");
static_assert(offsetof(struct mapfs_dsuper, sb_spare) == 328, "sb moved");
static_assert(offsetof(struct mapfs_dsuper, sb_crc) == 4092, "sb crc moved");

/* sb_free_zeroed: written as MAPFS_FREE_ZEROED_MAGIC only by the clean
 * unmount of a daemon that kept every freed block zeroed in the host
 * before reusing it (docs/DURABILITY.md), with that zeroing durable. The
 * daemon's open clears it on the image first; other writers (fsck,
 * growfs, tools) clear it, durably, before they free a block, rewrite a
 * bitmap or grow the image; an older version writes this word as zero
 * with its first superblock store. Without it the next mount zeroes
 * every free block's host data once. A hint: fsck ignores it. */
#define MAPFS_FREE_ZEROED_MAGIC	0x5a45524fu	/* "ZERO" */

/* ------------------------------------------------------------------ */
/* Cylinder group header: page 0 of block sb_cg_hdr_off of the group.  */
/* An all-zero header page means the group was never used ("unused    */
/* group"): all its inodes and data blocks are free, its bitmaps are   */
/* zero. The first allocation in it initializes it. Group 0 is always  */
/* initialized by mkfs.                                                */
/* ------------------------------------------------------------------ */
#define MAPFS_CG_MAX_BMPAGES	16u	/* 64 KiB bitmap / 4 KiB pages */

struct mapfs_dcg {
	uint32_t cg_magic;		/*   0: MAPFS_CG_MAGIC */
	uint32_t cg_flags;		/*   4: zero (reserved) */
	uint64_t cg_index;		/*   8: this group's number */
	uint64_t cg_start;		/*  16: first block of the group */
	uint32_t cg_nblocks;		/*  24: blocks in this group */
	uint32_t cg_ipg;		/*  28: inodes in this group */
	uint64_t cg_free_blocks;	/*  32: free data blocks */
	uint64_t cg_free_inodes;	/*  40: free inodes */
	uint64_t cg_ndirs;		/*  48: directories */
	uint32_t cg_ihiwater;		/*  56: inode slots >= this never used */
	uint32_t cg_brotor;		/*  60: allocation hint, not checked */
	uint32_t cg_ibm_crc[MAPFS_CG_MAX_BMPAGES]; /*  64: per bitmap page */
	uint32_t cg_bbm_crc[MAPFS_CG_MAX_BMPAGES]; /* 128: per bitmap page */
	uint64_t cg_spare[23];		/* 192: zero */
	uint32_t cg_pad;		/* 376 */
	uint32_t cg_crc;		/* 380: CRC32C of bytes 0..379 */
};
static_assert(sizeof(struct mapfs_dcg) == 384, "cg header size");
static_assert(offsetof(struct mapfs_dcg, cg_ibm_crc) == 64, "cg moved");
static_assert(offsetof(struct mapfs_dcg, cg_bbm_crc) == 128, "cg moved");
static_assert(offsetof(struct mapfs_dcg, cg_crc) == 380, "cg crc moved");

/* ------------------------------------------------------------------ */
/* Inode: sb_inode_size bytes (256 here) in the group's inode table.    */
/* Inode ino lives in group ino / ipg, slot ino % ipg. di_mode == 0     */
/* means free; a free inode is zero except di_gen.                      */
/* ------------------------------------------------------------------ */
#define MAPFS_IFMT	0170000u
#define MAPFS_IFSOCK	0140000u
#define MAPFS_IFLNK	0120000u
#define MAPFS_IFREG	0100000u
#define MAPFS_IFBLK	0060000u
#define MAPFS_IFDIR	0040000u
#define MAPFS_IFCHR	0020000u
#define MAPFS_IFIFO	0010000u

/* di_flags (chattr-style); enforced by later work, stored now. */
#define MAPFS_FL_IMMUTABLE	0x00000010u
#define MAPFS_FL_APPEND		0x00000020u
#define MAPFS_FL_NODUMP		0x00000040u
#define MAPFS_FL_NOATIME	0x00000080u
/* The user-visible flags (FS_IOC_GETFLAGS / SETFLAGS); same values as
 * Linux's FS_*_FL. The bits below are internal and never shown. */
#define MAPFS_FL_USER		(MAPFS_FL_IMMUTABLE | MAPFS_FL_APPEND | \
				 MAPFS_FL_NODUMP | MAPFS_FL_NOATIME)
/* A regular file that may hold blocks at or past ceil(size / bsize):
 * preallocated by fallocate(FALLOC_FL_KEEP_SIZE). Without it fsck
 * treats such blocks as damage (P1_BLOCK_PAST_EOF). */
#define MAPFS_FL_KEEPSIZE	0x40000000u
#define MAPFS_FL_ORPHAN		0x80000000u /* on the orphan list */

struct mapfs_dinode {
	uint16_t di_mode;		/*   0: type and permission bits */
	uint16_t di_pad0;		/*   2: zero */
	uint32_t di_nlink;		/*   4: hard links */
	uint32_t di_uid;		/*   8 */
	uint32_t di_gid;		/*  12 */
	uint64_t di_size;		/*  16: bytes */
	uint64_t di_blocks;		/*  24: fs blocks held (data+indirect) */
	int64_t  di_atime;		/*  32: seconds */
	int64_t  di_mtime;		/*  40 */
	int64_t  di_ctime;		/*  48 */
	int64_t  di_btime;		/*  56: birth (creation) */
	uint32_t di_atime_ns;		/*  64: nanoseconds, < 10^9 */
	uint32_t di_mtime_ns;		/*  68 */
	uint32_t di_ctime_ns;		/*  72 */
	uint32_t di_btime_ns;		/*  76 */
	uint32_t di_flags;		/*  80: MAPFS_FL_* */
	uint32_t di_gen;		/*  84: generation, new on each reuse */
	uint64_t di_rdev;		/*  88: device number (chr/blk) */
	uint64_t di_xattr;		/*  96: xattr block, 0 = none */
	uint64_t di_orphan_next;	/* 104: next inode on the orphan list */
	union {
		uint64_t di_blk[MAPFS_NADDR];	/* 112: 12 direct, 3 indirect */
		char di_symlink[MAPFS_FAST_SYMLINK_MAX]; /* fast symlink */
	};
	uint64_t di_spare[2];		/* 232: zero */
	uint32_t di_pad1;		/* 248: zero */
	uint32_t di_crc;		/* 252: CRC32C of bytes 0..251 */
};
static_assert(sizeof(struct mapfs_dinode) == MAPFS_INODE_SIZE, "inode");
static_assert(offsetof(struct mapfs_dinode, di_size) == 16, "inode moved");
static_assert(offsetof(struct mapfs_dinode, di_gen) == 84, "inode moved");
static_assert(offsetof(struct mapfs_dinode, di_blk) == 112, "inode moved");
static_assert(offsetof(struct mapfs_dinode, di_symlink) == 112, "inode");
static_assert(offsetof(struct mapfs_dinode, di_crc) == 252, "inode crc");
static_assert(MAPFS_PAGE_SIZE % MAPFS_INODE_SIZE == 0, "inode straddles");

/* ------------------------------------------------------------------ */
/* Directory records, in 4 KiB chunks. A chunk holds records covering  */
/* bytes [0, MAPFS_DIRCHUNK - 8) exactly, then a struct mapfs_dirtail.  */
/* A record with de_ino == 0 is free space (only as a chunk's first    */
/* record); a live record with spare room past its name owns that room. */
/* ------------------------------------------------------------------ */
#define MAPFS_DT_UNKNOWN	0u
#define MAPFS_DT_FIFO		1u
#define MAPFS_DT_CHR		2u
#define MAPFS_DT_DIR		4u
#define MAPFS_DT_BLK		6u
#define MAPFS_DT_REG		8u
#define MAPFS_DT_LNK		10u
#define MAPFS_DT_SOCK		12u

struct mapfs_dirent {
	uint64_t de_ino;	/* inode number, 0 = unused record */
	uint16_t de_reclen;	/* bytes to the next record, multiple of 8 */
	uint8_t  de_type;	/* MAPFS_DT_*, = (mode & IFMT) >> 12 */
	uint8_t  de_namelen;	/* bytes of name; no NUL on disk */
	char     de_name[];	/* the name, then zeros up to de_reclen */
};
/* The name starts at byte 12; sizeof is 16 only because of tail padding,
 * so record sizes are computed from offsetof(), never from sizeof. */
static_assert(offsetof(struct mapfs_dirent, de_name) == 12, "name moved");
static_assert(sizeof(struct mapfs_dirent) == 16, "dirent padding changed");

struct mapfs_dirtail {
	uint32_t dt_magic;	/* MAPFS_DIRTAIL_MAGIC */
	uint32_t dt_crc;	/* CRC32C of the chunk's bytes 0..4087 */
};
static_assert(sizeof(struct mapfs_dirtail) == 8, "dirtail");

#define MAPFS_DIRCHUNK_USABLE	(MAPFS_DIRCHUNK - sizeof(struct mapfs_dirtail))
#define MAPFS_DIRENT_HDR	offsetof(struct mapfs_dirent, de_name)

/* Bytes a record with a name of n bytes needs: header + name, rounded up
 * to 8. n = 1 gives 16; n = 255 gives 272. */
static inline uint32_t mapfs_dirent_size(uint32_t namelen)
{
	return ((uint32_t)MAPFS_DIRENT_HDR + namelen + MAPFS_DIR_ALIGN - 1) &
	       ~(MAPFS_DIR_ALIGN - 1);
}

/* ------------------------------------------------------------------ */
/* Indirect blocks: bsize / 4096 pages; each page holds 511 64-bit     */
/* block numbers (0 = hole) and ends in a struct mapfs_indtail.         */
/* ------------------------------------------------------------------ */
struct mapfs_indtail {
	uint32_t it_magic;	/* MAPFS_INDTAIL_MAGIC */
	uint32_t it_crc;	/* CRC32C of the page's bytes 0..4087 */
};
static_assert(MAPFS_PTRS_PER_PAGE * 8 + sizeof(struct mapfs_indtail) ==
	      MAPFS_PAGE_SIZE, "indirect page");

/* ------------------------------------------------------------------ */
/* Extended attribute block: one data block named by di_xattr (counted */
/* in di_blocks). The block is bsize / 4096 pages; each page ends in a */
/* struct mapfs_xattrtail, and the first 4088 bytes of every page, end */
/* to end, form the block's "payload":                                */
/*                                                                     */
/*   payload: | header (32) | entry | entry | ... | free | values |    */
/*                                                                     */
/* Entries follow the header, each a struct mapfs_xattr_entry then the */
/* name (without its namespace prefix) padded to 4 bytes. Values are   */
/* packed from the end of the payload down, each at a 4-byte aligned   */
/* offset. A linked xattr block is never changed in place: a change    */
/* writes a new block, then points di_xattr at it, then frees the old  */
/* one (the exception: a one-page block on a full filesystem, whose    */
/* page is rewritten whole). So an entry or value may cross a page     */
/* boundary: the block as a whole is what reaches the disk first.      */
/* ------------------------------------------------------------------ */
#define MAPFS_XATTR_PAGE_USABLE	(MAPFS_PAGE_SIZE - 8u)	/* 4088 */
#define MAPFS_XATTR_ALIGN	4u

/* Name index: the namespace prefix an entry's name is stored without. */
#define MAPFS_XATTR_INDEX_USER		1u	/* "user." */
#define MAPFS_XATTR_INDEX_TRUSTED	2u	/* "trusted." */
#define MAPFS_XATTR_INDEX_SECURITY	3u	/* "security." */
#define MAPFS_XATTR_INDEX_ACL_ACCESS	4u	/* "system.posix_acl_access",
						 * empty name */
#define MAPFS_XATTR_INDEX_ACL_DEFAULT	5u	/* "system.posix_acl_default",
						 * empty name */
#define MAPFS_XATTR_INDEX_MAX		5u

struct mapfs_xattr_hdr {
	uint32_t xh_magic;	/*  0: MAPFS_XATTR_MAGIC */
	uint32_t xh_count;	/*  4: entries */
	uint64_t xh_owner;	/*  8: inode number owning the block */
	uint32_t xh_used;	/* 16: payload bytes in use: header, entries
				 *     and values (padding included) */
	uint32_t xh_pad;	/* 20: zero */
	uint64_t xh_spare;	/* 24: zero */
};
static_assert(sizeof(struct mapfs_xattr_hdr) == 32, "xattr header");

struct mapfs_xattr_entry {
	uint8_t  xe_index;	/*  0: MAPFS_XATTR_INDEX_* */
	uint8_t  xe_namelen;	/*  1: bytes of name after the prefix */
	uint16_t xe_pad;	/*  2: zero */
	uint32_t xe_value_len;	/*  4: bytes of value */
	uint32_t xe_value_off;	/*  8: payload offset of the value */
	char     xe_name[];	/* 12: the name, then zeros to a 4-byte
				 *     boundary */
};
static_assert(offsetof(struct mapfs_xattr_entry, xe_name) == 12,
	      "xattr entry name moved");

struct mapfs_xattrtail {
	uint32_t xt_magic;	/* MAPFS_XATTRTAIL_MAGIC */
	uint32_t xt_crc;	/* CRC32C of the page's bytes 0..4087 */
};
static_assert(sizeof(struct mapfs_xattrtail) == 8, "xattr tail");
static_assert(MAPFS_XATTR_PAGE_USABLE + sizeof(struct mapfs_xattrtail) ==
	      MAPFS_PAGE_SIZE, "xattr page");

/* In-inode attributes: with sb_inode_size > 256, the bytes of an inode's
 * slot past the first 256 hold the same payload as a block (header with
 * xh_owner = the inode, entries, values packed from the end) followed by
 * this tail in the slot's last 8 bytes. A zero tail means no in-inode
 * attributes. An inode keeps its attributes in the inode when they fit,
 * in a block (di_xattr) otherwise, never in both. */
#define MAPFS_XATTR_IBODY_MAGIC	0x4958504du	/* "MPXI" */
struct mapfs_xattr_itail {
	uint32_t xi_magic;	/* MAPFS_XATTR_IBODY_MAGIC */
	uint32_t xi_crc;	/* crc32c(seed, le64 ino, le32 gen) then the
				 * payload (bytes 256 .. inode_size - 9) */
};
static_assert(sizeof(struct mapfs_xattr_itail) == 8, "xattr itail");

/* Bytes an entry with a name of n bytes takes: 12 + n, rounded to 4. */
static inline uint32_t mapfs_xattr_entry_size(uint32_t namelen)
{
	return (12u + namelen + MAPFS_XATTR_ALIGN - 1) &
	       ~(MAPFS_XATTR_ALIGN - 1);
}

/* ------------------------------------------------------------------ */
/* Checksums (CRC32C, Castagnoli). With seed = sb_csum_seed:            */
/*   superblock   crc32c(~0, bytes 0..4091)       (sb_this_group inside) */
/*   group header crc32c(seed, le64 group) then bytes 0..379            */
/*   bitmap page  crc32c(seed, le64 bno, le32 page) then the 4 KiB page  */
/*                (stored in the group header)                          */
/*   inode        crc32c(seed, le64 ino, le32 gen) then bytes 0..251    */
/*   dir chunk    crc32c(seed, le64 dir ino, le64 bno, le32 page) then  */
/*                bytes 0..4087                                         */
/*   indirect pg  crc32c(seed, le64 owner ino, le64 bno, le32 page)     */
/*                then bytes 0..4087                                    */
/*   xattr page   crc32c(seed, le64 owner ino, le64 bno, le32 page)     */
/*                then bytes 0..4087                                    */
/* Free inodes (di_mode == 0) carry no checksum (di_crc = 0).           */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* Metadata journal (MAPFS_FEAT_INCOMPAT_JOURNAL): sb_journal_blocks     */
/* contiguous blocks from sb_journal_start, inside one group's data      */
/* area and marked used in its bitmap. Page 0 is the header; the rest    */
/* is a ring of records, addressed by a 64-bit byte count that only      */
/* grows ("abs"): a record at abs starts at ring byte abs % ring_bytes.  */
/* One record is one operation's metadata changes: byte ranges of the    */
/* image with their new contents (redo). Replay applies records from the */
/* header's tail while each has the expected sequence number and a good  */
/* CRC, and stops at the first that does not. See docs/DURABILITY.md.    */
/* ------------------------------------------------------------------ */
#define MAPFS_JHDR_MAGIC	0x4a50414du	/* "MAPJ" */
#define MAPFS_JREC_MAGIC	0x434a504du	/* "MPJC" */
#define MAPFS_JOURNAL_VERSION	1u
#define MAPFS_JOURNAL_MIN_BYTES	(256u * 1024)	/* header page + ring */

struct mapfs_djheader {
	uint32_t jh_magic;	/*  0: MAPFS_JHDR_MAGIC */
	uint32_t jh_version;	/*  4: MAPFS_JOURNAL_VERSION */
	uint64_t jh_seq;	/*  8: sequence number of the record at tail */
	uint64_t jh_tail;	/* 16: abs of the first record to replay */
	uint64_t jh_ring;	/* 24: ring bytes (journal bytes - 4096) */
	uint32_t jh_pad;	/* 32: zero */
	uint32_t jh_crc;	/* 36: CRC32C(fs seed) of bytes 0..35 */
};
static_assert(sizeof(struct mapfs_djheader) == 40, "journal header size");

/* Record flags */
#define MAPFS_JREC_WRAP	0x1u	/* skip to ring byte 0 (no ranges) */

/* A record: this header, jr_nranges struct mapfs_djrange, then each
 * range's bytes padded to 8. jr_len (a multiple of 8) counts it all.
 * A record never crosses the ring's end: a WRAP record (or, when fewer
 * than 32 bytes are left, nothing) fills the rest. */
struct mapfs_djrec {
	uint32_t jr_magic;	/*  0: MAPFS_JREC_MAGIC */
	uint32_t jr_len;	/*  4: bytes, header included */
	uint64_t jr_seq;	/*  8: previous record's + 1 */
	uint32_t jr_nranges;	/* 16 */
	uint32_t jr_flags;	/* 20: MAPFS_JREC_* */
	uint32_t jr_pad;	/* 24: zero */
	uint32_t jr_crc;	/* 28: CRC32C(fs seed) of the record with
				 *     jr_crc = 0 */
};
static_assert(sizeof(struct mapfs_djrec) == 32, "journal record size");

struct mapfs_djrange {
	uint64_t jg_off;	/* image byte offset */
	uint32_t jg_len;	/* bytes, > 0, within one 4 KiB page */
	uint32_t jg_pad;
};
static_assert(sizeof(struct mapfs_djrange) == 16, "journal range size");

/* ------------------------------------------------------------------ */
/* Field accessors                                                     */
/* ------------------------------------------------------------------ */
/*
 * Host-order values of single on-disk fields, for code that reads a
 * structure it does not own (fsck, dumpfs, mkfs, the allocator). They
 * only decode: a value is not validated here, so range-check it before
 * use as an index or pointer. Changes of state go through the owner
 * (super.c, cg.c, inode.c, bmap.c, dir.c), which keeps the checksums and
 * the journal right; the one setter below writes a caller's own copy.
 */
#include <endian.h>
#include <stdbool.h>
#include <string.h>

/* Little-endian loads and stores at any alignment, for records read out
 * of a byte buffer (directory chunks: page aligned in the mapping, but
 * fsck and the tests may hand over any buffer). */
static inline uint16_t mapfs_get_le16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static inline uint32_t mapfs_get_le32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline uint64_t mapfs_get_le64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static inline void mapfs_put_le16(void *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void mapfs_put_le32(void *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void mapfs_put_le64(void *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint32_t mapfs_sb_magic(const struct mapfs_dsuper *s)
{
	return le32toh(s->sb_magic);
}

static inline uint32_t mapfs_sb_version(const struct mapfs_dsuper *s)
{
	return le32toh(s->sb_version);
}

/* Feature words of the last program that wrote the image. */
static inline uint32_t mapfs_sb_last_compat(const struct mapfs_dsuper *s)
{
	return le32toh(s->sb_last_feat_compat);
}

static inline uint32_t mapfs_sb_last_ro_compat(const struct mapfs_dsuper *s)
{
	return le32toh(s->sb_last_feat_ro_compat);
}

static inline uint32_t mapfs_sb_last_incompat(const struct mapfs_dsuper *s)
{
	return le32toh(s->sb_last_feat_incompat);
}

static inline uint32_t mapfs_sb_free_zeroed(const struct mapfs_dsuper *s)
{
	return le32toh(s->sb_free_zeroed);
}

static inline uint64_t mapfs_sb_root_ino(const struct mapfs_dsuper *s)
{
	return le64toh(s->sb_root_ino);
}

static inline uint64_t mapfs_sb_this_group(const struct mapfs_dsuper *s)
{
	return le64toh(s->sb_this_group);
}

static inline uint32_t mapfs_sb_maxsymlink_fast(const struct mapfs_dsuper *s)
{
	return le32toh(s->sb_maxsymlink_fast);
}

static inline uint32_t mapfs_sb_crc(const struct mapfs_dsuper *s)
{
	return le32toh(s->sb_crc);
}

static inline uint32_t mapfs_cg_magic(const struct mapfs_dcg *h)
{
	return le32toh(h->cg_magic);
}

/* Inode slots >= this were never used since mkfs (at most ipg in a
 * header that passed its check). */
static inline uint32_t mapfs_cg_ihiwater(const struct mapfs_dcg *h)
{
	return le32toh(h->cg_ihiwater);
}

/* Stored CRC of page `page` (< MAPFS_CG_MAX_BMPAGES) of the inode
 * (inode_bm) or block bitmap. */
static inline uint32_t mapfs_cg_bm_crc(const struct mapfs_dcg *h,
				       bool inode_bm, uint32_t page)
{
	return le32toh(inode_bm ? h->cg_ibm_crc[page] : h->cg_bbm_crc[page]);
}

static inline uint32_t mapfs_cg_crc(const struct mapfs_dcg *h)
{
	return le32toh(h->cg_crc);
}

/* The group's summary counts (checked against its bitmaps by fsck). */
static inline uint64_t mapfs_cg_free_blocks(const struct mapfs_dcg *h)
{
	return le64toh(h->cg_free_blocks);
}

static inline uint64_t mapfs_cg_free_inodes(const struct mapfs_dcg *h)
{
	return le64toh(h->cg_free_inodes);
}

static inline uint64_t mapfs_cg_ndirs(const struct mapfs_dcg *h)
{
	return le64toh(h->cg_ndirs);
}

/* Type and permission bits; 0: a free inode. */
static inline uint32_t mapfs_di_mode(const struct mapfs_dinode *d)
{
	return le16toh(d->di_mode);
}

static inline uint32_t mapfs_di_nlink(const struct mapfs_dinode *d)
{
	return le32toh(d->di_nlink);
}

/* Generation: kept in a free slot, so the next use can differ. */
static inline uint32_t mapfs_di_gen(const struct mapfs_dinode *d)
{
	return le32toh(d->di_gen);
}

static inline uint32_t mapfs_di_crc(const struct mapfs_dinode *d)
{
	return le32toh(d->di_crc);
}

/* Store crc into d, a caller's copy of an inode (never the image's: the
 * image's inodes are sealed by mapfs_inode_store). */
static inline void mapfs_di_set_crc(struct mapfs_dinode *d, uint32_t crc)
{
	d->di_crc = htole32(crc);
}

/* dt_magic of the tail of a directory chunk held in buf (any
 * alignment). */
static inline uint32_t mapfs_dirchunk_magic(const void *buf)
{
	return mapfs_get_le32((const uint8_t *)buf + MAPFS_DIRCHUNK_USABLE +
			      offsetof(struct mapfs_dirtail, dt_magic));
}

#endif /* MAPFS_FORMAT_H */
