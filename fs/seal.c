/* SPDX-License-Identifier: MIT */
/*
 * seal.c - the deferred-seal list: checksums put off inside one large
 * write (mapfs_seal_defer ... mapfs_seal_flush, nesting) and computed
 * once at its end.
 *
 * Layer: above crc, mounts, image and journal, below super and every
 * owner of a sealed structure (tests/layering.sh); it calls nothing
 * above it. The owners register their sealer for each kind of entry
 * (mapfs_seal_register; mount.c does it at attach: cg.c's bitmap-page
 * and group-header sealers, the indirect-page sealer of inode.c), so
 * the list knows kinds only as numbers. A kind without a sealer is never
 * deferred (mapfs_seal_pend answers "seal now").
 *
 * Invariants: entries are unique; the kinds registered "last" are sealed
 * after all the others (a group header's CRC covers its bitmap CRCs);
 * a full list is sealed at once and emptied; mapfs_seal_settle_ind seals
 * everything when an indirect page about to be read has a pending seal.
 */
#include "internal.h"

void mapfs_seal_register(struct mapfs_fs *fs, uint8_t kind,
			 mapfs_sealer_fn fn, bool last)
{
	assert(kind < MAPFS_PEND_KINDS);
	fs->in->sealer[kind] = fn;
	fs->in->seal_last[kind] = last;
}

void mapfs_seal_defer(struct mapfs_fs *fs)
{
	fs->in->seal_defer++;
}

static void seal_all(struct mapfs_fs *fs)
{
	/* Bitmap pages and indirect pages first, the kinds registered
	 * "last" (group headers) after them: a header's own CRC covers
	 * its bitmap CRCs. */
	for (unsigned i = 0; i < fs->in->npend; i++) {
		struct mapfs_pend *e = &fs->in->pend[i];

		if (!fs->in->seal_last[e->kind])
			fs->in->sealer[e->kind](fs, e);
	}
	for (unsigned i = 0; i < fs->in->npend; i++) {
		struct mapfs_pend *e = &fs->in->pend[i];

		if (fs->in->seal_last[e->kind])
			fs->in->sealer[e->kind](fs, e);
	}
	fs->in->npend = 0;
}

void mapfs_seal_flush(struct mapfs_fs *fs)
{
	if (fs->in->seal_defer > 0 && --fs->in->seal_defer > 0)
		return;
	seal_all(fs);
}

bool mapfs_seal_pend(struct mapfs_fs *fs, uint8_t kind, bool ibm,
		     uint32_t page, uint64_t a, uint64_t b)
{
	struct mapfs_pend *e;

	if (!fs->in->seal_defer || kind >= MAPFS_PEND_KINDS || !fs->in->sealer[kind])
		return false;
	for (unsigned i = fs->in->npend; i-- > 0;) {
		e = &fs->in->pend[i];
		if (e->kind == kind && e->ibm == ibm && e->page == page &&
		    e->a == a && e->b == b)
			return true;
	}
	if (fs->in->npend == sizeof(fs->in->pend) / sizeof(fs->in->pend[0]))
		seal_all(fs);
	e = &fs->in->pend[fs->in->npend++];
	e->kind = kind;
	e->ibm = ibm;
	e->page = page;
	e->a = a;
	e->b = b;
	return true;
}

void mapfs_seal_end_op(struct mapfs_fs *fs)
{
	if (fs->in->seal_defer == 0 && fs->in->npend > 0)
		seal_all(fs);
}

void mapfs_seal_settle_ind(struct mapfs_fs *fs, uint64_t bno, uint32_t page)
{
	for (unsigned i = 0; i < fs->in->npend; i++)
		if (fs->in->pend[i].kind == MAPFS_PEND_IND && fs->in->pend[i].b == bno &&
		    fs->in->pend[i].page == page) {
			seal_all(fs);
			return;
		}
}

static_assert(MAPFS_PEND_KINDS <= sizeof(((struct mapfs_fs *)0)->in->seal_last),
	      "struct mapfs_fs: a sealer slot for each kind");
