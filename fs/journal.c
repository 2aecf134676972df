/* SPDX-License-Identifier: MIT */
/*
 * journal.c - the metadata journal: redo records of byte ranges, staged
 * metadata in a private mapping, checkpoints to home locations.
 *
 * Layer: above crc, mounts and image; below seal, super and the rest
 * (tests/layering.sh). One of the three files that make system calls on
 * the image: fdatasync (a commit) and madvise (dropping staged private
 * pages after a checkpoint); the mapping itself is mount.c's and
 * image.c's. The journal is the consumer of the operation bracket txn.c
 * owns: it records the ranges stores dirty, keeps room for an operation
 * and writes its record; the superblock store and the unmapping of freed
 * blocks at an operation's end are txn.c's.
 *
 * The problem (docs/DURABILITY.md): the kernel
 * writes dirty pages of a MAP_SHARED mapping back at any time and in any
 * order, so metadata changed in place can reach the disk half done, and
 * a power cut leaves a mix of old and new pages. The answer here:
 *
 *  - With MAPFS_OPEN_JOURNAL, fs->base is a MAP_PRIVATE mapping of the
 *    image: metadata stores make private copies of their pages, which the
 *    kernel never writes to the file. fs->dbase is the MAP_SHARED mapping
 *    (file data, the journal).
 *  - Every metadata store is followed by mapfs_jdirty(p, len). At the end
 *    of each operation (mapfs_op_end, txn.c: the daemon calls it before
 *    it replies) the changed ranges, with their new bytes, go into one
 *    record in the ring through the shared mapping: the page cache has
 *    it, so a daemon crash loses no completed operation; a sequence
 *    number and a CRC let replay find where a torn ring ends.
 *  - A commit (fsync, the periodic timer, a full ring, unmount) is one
 *    fdatasync of the image: every record so far is durable. Only then
 *    are the staged pages copied to their home locations (checkpoint)
 *    and the private copies dropped: a home page is never written before
 *    the record that explains it is on disk (write-ahead), so replay of
 *    the records from the tail always rebuilds a state some prefix of
 *    the operations produced.
 *  - The header's tail moves past records only once their checkpointed
 *    homes are durable (the following flush); the ring space before the
 *    durable tail is reused.
 *  - Blocks freed by operations whose records are not durable are not
 *    reused (the quarantine: a per-group bitmap, released by ring
 *    position): file data goes to the shared mapping at once, and a
 *    freed block holding a durable file's bytes must not be overwritten
 *    while a power cut could still bring that file back. Once their
 *    free is durable and checkpointed they are zeroed in the host
 *    (mapfs_fs_zero_free), and they are released only after a flush
 *    has made that zeroing durable too: a block given to a file reads
 *    as zeros on the disk until that file's data lands, so a power cut
 *    never shows an earlier owner's bytes in it.
 *
 * Each open starts a new sequence epoch (high 32 bits), so records left
 * in the ring by an earlier mount can never be mistaken for new ones.
 * All calls run with the filesystem held exclusively.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct jrange {
	uint64_t off;
	uint32_t len;
};

struct qext {
	uint64_t start, len;
};

struct qgen {
	uint64_t until;		/* safe once tail_durable >= until */
	struct qext *v;
	size_t n, cap;
	bool zeroed;		/* v zeroed in the host (quarantine_zero) */
	uint64_t zflush;	/* ... before flush number zflush + 1 */
};

struct mapfs_journal {
	uint8_t *ring;		/* ring start (shared mapping) */
	uint64_t rbytes;	/* ring bytes */
	uint64_t head, seq;	/* next record: abs offset, sequence */
	uint64_t ra;		/* ring read ahead up to this abs offset */
	uint64_t ckpt, ckpt_seq;	/* records before ckpt are home */
	uint64_t tail_written;	/* in the header */
	uint64_t tail_durable;	/* header value known to be on disk */

	struct jrange *rg;	/* the operation in progress */
	size_t nrg, caprg;

	uint64_t *staged;	/* hash set of page numbers + 1 */
	size_t nstaged, capstaged;

	/* Quarantine: blocks freed by operations whose records may still
	 * be replayed. qbm[cg] has their bits (allocated lazily); gens
	 * lists them by the ring position after which they are safe. */
	uint8_t **qbm;
	struct qgen *gens;	/* FIFO: gens[0] oldest */
	size_t ngens, capgens;
	uint64_t nquar;		/* blocks in quarantine */
	uint64_t nflush;	/* flushes completed */

	bool verify;		/* MAPFS_JOURNAL_VERIFY: check at checkpoints */
	bool big_warned;
	struct mapfs_journal_stats st;
};

#define JPAGE MAPFS_PAGE_SIZE
#define REC_HDR sizeof(struct mapfs_djrec)
#define RANGE_SZ sizeof(struct mapfs_djrange)

static uint64_t align8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

static uint64_t journal_off(const struct mapfs_fs *fs)
{
	return fs->g.jstart << fs->g.bshift;
}

static uint64_t journal_bytes(const struct mapfs_fs *fs)
{
	return fs->g.jblocks << fs->g.bshift;
}

static uint32_t hdr_crc(const struct mapfs_fs *fs,
			const struct mapfs_djheader *h)
{
	return mapfs_crc32c(fs->g.seed, h, offsetof(struct mapfs_djheader,
						    jh_crc));
}

static void hdr_write(struct mapfs_fs *fs, uint64_t seq, uint64_t tail)
{
	struct mapfs_djheader h;

	memset(&h, 0, sizeof(h));
	h.jh_magic = htole32(MAPFS_JHDR_MAGIC);
	h.jh_version = htole32(MAPFS_JOURNAL_VERSION);
	h.jh_seq = htole64(seq);
	h.jh_tail = htole64(tail);
	h.jh_ring = htole64(journal_bytes(fs) - JPAGE);
	h.jh_crc = htole32(hdr_crc(fs, &h));
	memcpy(fs->dbase + journal_off(fs), &h, sizeof(h));
}

void mapfs_journal_format(struct mapfs_fs *fs)
{
	if (!(fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL))
		return;
	memset(fs->dbase + journal_off(fs), 0, JPAGE);
	hdr_write(fs, 1ull << 32, 0);
}

static int hdr_read(struct mapfs_fs *fs, uint64_t *seq, uint64_t *tail,
		    char *why, size_t whylen)
{
	struct mapfs_djheader h;

	memcpy(&h, fs->dbase + journal_off(fs), sizeof(h));
	if (le32toh(h.jh_magic) != MAPFS_JHDR_MAGIC)
		return mapfs_why(why, whylen, "journal header: bad magic");
	if (le32toh(h.jh_crc) != hdr_crc(fs, &h))
		return mapfs_why(why, whylen, "journal header: bad checksum");
	if (le32toh(h.jh_version) != MAPFS_JOURNAL_VERSION)
		return mapfs_why(why, whylen, "journal header: version %u",
				 le32toh(h.jh_version));
	if (le64toh(h.jh_ring) != journal_bytes(fs) - JPAGE)
		return mapfs_why(why, whylen, "journal header: ring size "
				 "disagrees with the superblock");
	*seq = le64toh(h.jh_seq);
	*tail = le64toh(h.jh_tail);
	if (*tail > (UINT64_MAX >> 2))
		return mapfs_why(why, whylen, "journal header: bad tail");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reading records                                                     */
/* ------------------------------------------------------------------ */

/* Walk valid records from (abs, seq); fn is called for every range of
 * every record (not for WRAP records). Stops at the first invalid one.
 * On return *absp and *seqp name the first record not read. Returns records read. */
typedef void (*range_fn)(struct mapfs_fs *fs, uint64_t off, uint32_t len,
			 const uint8_t *data, void *arg);

static bool range_ok(const struct mapfs_fs *fs, uint64_t off, uint32_t len)
{
	uint64_t js = journal_off(fs), je = js + journal_bytes(fs);

	if (len == 0 || off >= fs->size || len > fs->size - off)
		return false;
	/* Never into the journal itself. */
	return off + len <= js || off >= je;
}

static uint64_t walk(struct mapfs_fs *fs, uint64_t *absp, uint64_t *seqp,
		     uint64_t stop, range_fn fn, void *arg)
{
	const uint64_t r = journal_bytes(fs) - JPAGE;
	const uint8_t *ring = fs->dbase + journal_off(fs) + JPAGE;
	uint64_t abs = *absp, seq = *seqp, n = 0;

	while (abs < stop) {
		uint64_t pos = abs % r;
		struct mapfs_djrec h;
		uint32_t len, nr, crc;
		const uint8_t *rec, *data;

		if (r - pos < REC_HDR) {
			abs += r - pos;
			continue;
		}
		rec = ring + pos;
		memcpy(&h, rec, sizeof(h));
		len = le32toh(h.jr_len);
		nr = le32toh(h.jr_nranges);
		if (le32toh(h.jr_magic) != MAPFS_JREC_MAGIC ||
		    le64toh(h.jr_seq) != seq || len < REC_HDR || len % 8 ||
		    len > r - pos)
			break;
		h.jr_crc = 0;
		crc = mapfs_crc32c(fs->g.seed, &h, sizeof(h));
		crc = mapfs_crc32c(crc, rec + REC_HDR, len - REC_HDR);
		if (crc != le32toh(((const struct mapfs_djrec *)rec)->jr_crc))
			break;
		if (le32toh(h.jr_flags) & MAPFS_JREC_WRAP) {
			abs += len;
			seq++;
			continue;
		}
		if (nr > (len - REC_HDR) / RANGE_SZ)
			break;
		/* Check every range before applying any: a record is one
		 * operation, applied whole or not at all. */
		data = rec + REC_HDR + (uint64_t)nr * RANGE_SZ;
		{
			uint64_t need = REC_HDR + (uint64_t)nr * RANGE_SZ;
			bool ok = true;

			for (uint32_t i = 0; i < nr && ok; i++) {
				struct mapfs_djrange g;

				memcpy(&g, rec + REC_HDR + i * RANGE_SZ,
				       sizeof(g));
				ok = range_ok(fs, le64toh(g.jg_off),
					      le32toh(g.jg_len));
				need += align8(le32toh(g.jg_len));
			}
			if (!ok || need != len) {
				mapfs_log(fs, MAPFS_LOG_WARN,
					  "journal record %llu has a good "
					  "checksum but bad ranges: replay "
					  "stops there",
					  (unsigned long long)seq);
				break;
			}
		}
		for (uint32_t i = 0; i < nr; i++) {
			struct mapfs_djrange g;

			memcpy(&g, rec + REC_HDR + i * RANGE_SZ, sizeof(g));
			if (fn)
				fn(fs, le64toh(g.jg_off), le32toh(g.jg_len),
				   data, arg);
			data += align8(le32toh(g.jg_len));
		}
		abs += len;
		seq++;
		n++;
	}
	*absp = abs;
	*seqp = seq;
	return n;
}

static void apply_home(struct mapfs_fs *fs, uint64_t off, uint32_t len,
		       const uint8_t *data, void *arg)
{
	(void)arg;
	memcpy(fs->dbase + off, data, len);
}

int mapfs_journal_replay(struct mapfs_fs *fs, uint64_t *nrec, char *why,
			 size_t whylen)
{
	uint64_t seq = 0, abs = 0;
	int err;

	*nrec = 0;
	if (!(fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL))
		return 0;
	err = hdr_read(fs, &seq, &abs, why, whylen);
	if (err < 0)
		return err;
	*nrec = walk(fs, &abs, &seq, UINT64_MAX, apply_home, NULL);
	return 0;
}

int mapfs_journal_info(struct mapfs_fs *fs, struct mapfs_journal_info *ji)
{
	uint64_t abs = 0, seq = 0;
	char why[128] = "";

	memset(ji, 0, sizeof(*ji));
	if (!(fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL))
		return -ENOENT;
	ji->start = fs->g.jstart;
	ji->blocks = fs->g.jblocks;
	ji->ring = journal_bytes(fs) - JPAGE;
	if (hdr_read(fs, &seq, &abs, why, sizeof(why)) < 0) {
		snprintf(ji->why, sizeof(ji->why), "%s", why);
		return 0;
	}
	ji->header_ok = true;
	ji->seq = seq;
	ji->tail = abs;
	ji->records = walk(fs, &abs, &seq, UINT64_MAX, NULL, NULL);
	return 0;
}

static int flush(struct mapfs_fs *fs)
{
	if (fs->fd < 0)
		return 0;
	if (fs->j)
		fs->j->st.flushes++;
	if (fdatasync(fs->fd) < 0)
		return -errno;
	if (fs->j)
		fs->j->nflush++;
	if (fs->flush_hook)
		fs->flush_hook(fs->flush_arg);
	return 0;
}

/* Next epoch after whatever the header or the ring holds. */
static uint64_t next_epoch(uint64_t seq)
{
	return ((seq >> 32) + 1) << 32;
}

int mapfs_journal_reset(struct mapfs_fs *fs)
{
	uint64_t seq = 0, tail = 0;
	int err;

	if (!(fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL))
		return 0;
	(void)hdr_read(fs, &seq, &tail, NULL, 0);
	/* What replay wrote must be on disk before the records that
	 * explain it are dropped. */
	err = flush(fs);
	if (err < 0)
		return err;
	hdr_write(fs, next_epoch(seq), 0);
	return flush(fs);
}

/* ------------------------------------------------------------------ */
/* Staged pages                                                        */
/* ------------------------------------------------------------------ */

static uint64_t hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static bool staged_has(const struct mapfs_journal *j, uint64_t page)
{
	if (!j->capstaged)
		return false;
	for (size_t i = hash64(page) & (j->capstaged - 1);;
	     i = (i + 1) & (j->capstaged - 1)) {
		if (j->staged[i] == 0)
			return false;
		if (j->staged[i] == page + 1)
			return true;
	}
}

static int staged_add(struct mapfs_journal *j, uint64_t page)
{
	size_t i;

	if ((j->nstaged + 1) * 2 > j->capstaged) {
		size_t ncap = j->capstaged ? j->capstaged * 2 : 1024;
		uint64_t *ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		for (size_t k = 0; k < j->capstaged; k++) {
			uint64_t v = j->staged[k];

			if (!v)
				continue;
			for (i = hash64(v - 1) & (ncap - 1); ns[i];
			     i = (i + 1) & (ncap - 1))
				;
			ns[i] = v;
		}
		free(j->staged);
		j->staged = ns;
		j->capstaged = ncap;
	}
	for (i = hash64(page) & (j->capstaged - 1); j->staged[i];
	     i = (i + 1) & (j->capstaged - 1))
		if (j->staged[i] == page + 1)
			return 0;
	j->staged[i] = page + 1;
	j->nstaged++;
	return 0;
}

void mapfs_journal_dirty(const struct mapfs_fs *fs, const void *p,
			 size_t len)
{
	struct mapfs_journal *j = fs->j;
	uint64_t off = (uint64_t)((const uint8_t *)p - fs->base);

	assert((const uint8_t *)p >= fs->base && off < fs->size &&
	       len <= fs->size - off);
	/* A metadata store outside an operation (txn.c): its range would
	 * join whichever operation ends next, or be written home by a
	 * checkpoint without a record. */
	assert(fs->in->op_depth > 0);
	while (len > 0) {
		uint64_t page = off / JPAGE;
		uint32_t n = (uint32_t)(JPAGE - off % JPAGE);

		if (n > len)
			n = (uint32_t)len;
		if (j->nrg == j->caprg) {
			size_t ncap = j->caprg ? j->caprg * 2 : 64;
			struct jrange *nr = realloc(j->rg, ncap * sizeof(*nr));

			if (!nr)
				abort();	/* cannot lose a change */
			j->rg = nr;
			j->caprg = ncap;
		}
		j->rg[j->nrg].off = off;
		j->rg[j->nrg].len = n;
		j->nrg++;
		if (staged_add(j, page) < 0)
			abort();
		off += n;
		len -= n;
	}
}

static int cmp_range(const void *a, const void *b)
{
	const struct jrange *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* Sort and merge overlapping or touching ranges. */
static void merge_ranges(struct mapfs_journal *j)
{
	size_t k = 0;

	qsort(j->rg, j->nrg, sizeof(*j->rg), cmp_range);
	for (size_t i = 1; i < j->nrg; i++) {
		struct jrange *a = &j->rg[k], *b = &j->rg[i];
		uint64_t aend = a->off + a->len;

		if (b->off <= aend) {
			uint64_t bend = b->off + b->len;

			if (bend > aend)
				a->len = (uint32_t)(bend - a->off);
		} else {
			j->rg[++k] = *b;
		}
	}
	if (j->nrg)
		j->nrg = k + 1;
}

/* ------------------------------------------------------------------ */
/* Checkpoint                                                          */
/* ------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Collect the staged page numbers, sorted, into a fresh array. */
static uint64_t *staged_list(struct mapfs_journal *j, size_t *np)
{
	uint64_t *v = malloc((j->nstaged ? j->nstaged : 1) * sizeof(*v));
	size_t n = 0;

	if (!v)
		return NULL;
	for (size_t i = 0; i < j->capstaged; i++)
		if (j->staged[i])
			v[n++] = j->staged[i] - 1;
	qsort(v, n, sizeof(*v), cmp_u64);
	*np = n;
	return v;
}

struct vpage {
	uint64_t page;
	uint8_t *buf;
};

struct vctx {
	struct vpage *v;
	size_t n;
	bool bad;
};

static int cmp_vpage(const void *a, const void *b)
{
	const struct vpage *x = a, *y = b;

	return x->page < y->page ? -1 : x->page > y->page;
}

static void verify_apply(struct mapfs_fs *fs, uint64_t off, uint32_t len,
			 const uint8_t *data, void *arg)
{
	struct vctx *c = arg;

	while (len > 0) {
		struct vpage key = {off / JPAGE, NULL}, *hit;
		uint32_t n = (uint32_t)(JPAGE - off % JPAGE);

		if (n > len)
			n = len;
		hit = bsearch(&key, c->v, c->n, sizeof(*c->v), cmp_vpage);
		if (!hit) {
			mapfs_log(fs, MAPFS_LOG_ERR, "journal verify: record "
				  "range at %llu is on no staged page",
				  (unsigned long long)off);
			c->bad = true;
			return;
		}
		memcpy(hit->buf + off % JPAGE, data, n);
		off += n;
		data += n;
		len -= n;
	}
}

/* MAPFS_JOURNAL_VERIFY: before a checkpoint, (1) every page the private
 * mapping has copied must be staged (a store without mapfs_jdirty would
 * show up here), and (2) home + the records since the last checkpoint
 * must equal the staged pages byte for byte (a store whose range was not
 * recorded). Aborts on failure: it is a test mode. */
static void verify(struct mapfs_fs *fs, const uint64_t *pages, size_t n)
{
	struct mapfs_journal *j = fs->j;
	struct vctx c = {calloc(n ? n : 1, sizeof(struct vpage)), n, false};
	uint64_t abs = j->ckpt, seq = j->ckpt_seq;
	int pm;

	if (!c.v)
		abort();
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm >= 0 && fs->size <= (1ull << 30)) {
		uint64_t npg = fs->size / JPAGE;
		uint64_t *e = malloc(npg * sizeof(*e));
		off_t at = (off_t)((uintptr_t)fs->base / JPAGE * 8);

		if (e && pread(pm, e, npg * 8, at) == (ssize_t)(npg * 8)) {
			for (uint64_t p = 0; p < npg; p++) {
				/* present, not a file page: a private copy */
				if ((e[p] >> 63 & 1) && !(e[p] >> 61 & 1) &&
				    !staged_has(j, p)) {
					mapfs_log(fs, MAPFS_LOG_ERR,
						  "journal verify: page %llu "
						  "changed without a record",
						  (unsigned long long)p);
					c.bad = true;
				}
			}
		}
		free(e);
	}
	if (pm >= 0)
		close(pm);
	for (size_t i = 0; i < n; i++) {
		c.v[i].page = pages[i];
		c.v[i].buf = malloc(JPAGE);
		if (!c.v[i].buf)
			abort();
		memcpy(c.v[i].buf, fs->dbase + pages[i] * JPAGE, JPAGE);
	}
	(void)walk(fs, &abs, &seq, j->head, verify_apply, &c);
	if (abs != j->head) {
		mapfs_log(fs, MAPFS_LOG_ERR, "journal verify: records end at "
			  "%llu, head is %llu", (unsigned long long)abs,
			  (unsigned long long)j->head);
		c.bad = true;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *want = fs->base + pages[i] * JPAGE;

		if (memcmp(c.v[i].buf, want, JPAGE) != 0) {
			size_t k = 0;

			while (c.v[i].buf[k] == want[k])
				k++;
			mapfs_log(fs, MAPFS_LOG_ERR, "journal verify: page "
				  "%llu differs from its records at byte %zu",
				  (unsigned long long)pages[i], k);
			c.bad = true;
		}
		free(c.v[i].buf);
	}
	free(c.v);
	if (c.bad)
		abort();
}

/* Copy every staged page home and drop the private copies. Records up to
 * j->head must be durable. */
static int checkpoint(struct mapfs_fs *fs)
{
	struct mapfs_journal *j = fs->j;
	uint64_t *pages;
	size_t n, i = 0;

	pages = staged_list(j, &n);
	if (!pages)
		return -ENOMEM;
	if (j->verify)
		verify(fs, pages, n);
	while (i < n) {
		size_t k = i + 1;
		uint64_t off = pages[i] * JPAGE;

		while (k < n && pages[k] == pages[k - 1] + 1)
			k++;
		memcpy(fs->dbase + off, fs->base + off, (k - i) * JPAGE);
		/* A private file mapping's page reverts to the file's
		 * (now identical) page cache page. */
		(void)madvise(fs->base + off, (k - i) * JPAGE, MADV_DONTNEED);
		i = k;
	}
	j->st.checkpoint_pages += n;
	free(pages);
	memset(j->staged, 0, j->capstaged * sizeof(*j->staged));
	j->nstaged = 0;
	j->ckpt = j->head;
	j->ckpt_seq = j->seq;
	return 0;
}

/*
 * A freed block may be reused only when no record that could still be
 * replayed predates its free: replaying one that wrote it as metadata
 * would overwrite the next owner's data, and a power cut could bring
 * back the file that owned it. So it waits until the durable tail has
 * passed the position the ring had when it was freed (two commits, or
 * one full commit), and until then its private copy, if it was
 * metadata, is gone too (checkpoint drops them).
 *
 * It must also read as zeros on the disk before it is reused: the next
 * owner's record can reach the disk before its data (the kernel writes
 * the ring's pages and the data's when it likes), and replay would then
 * show the old bytes in the new file. A generation is zeroed
 * (quarantine_zero) once the last checkpoint has passed it: its frees
 * are durable (no cut can bring the old owner back, so its bytes may
 * go) and no staged copy of its blocks is left to be written home over
 * the zeros. It is released once the tail has passed it and a flush
 * has made the zeroing durable; in the usual order (free, commit: zero,
 * commit: zeros durable, commit: tail durable) that costs no wait, and
 * a full commit still releases everything.
 */
static struct qgen *qgen_cur(struct mapfs_journal *j)
{
	if (j->ngens == 0 || j->gens[j->ngens - 1].until != UINT64_MAX) {
		if (j->ngens == j->capgens) {
			size_t ncap = j->capgens ? 2 * j->capgens : 4;
			struct qgen *ng = realloc(j->gens, ncap * sizeof(*ng));

			if (!ng)
				return NULL;
			j->gens = ng;
			j->capgens = ncap;
		}
		memset(&j->gens[j->ngens], 0, sizeof(j->gens[0]));
		j->gens[j->ngens].until = UINT64_MAX;
		j->ngens++;
	}
	return &j->gens[j->ngens - 1];
}

static int cmp_qext(const void *a, const void *b)
{
	const struct qext *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Zero the blocks of every sealed generation the last checkpoint has
 * passed, adjacent runs as one (an rm -rf frees files whose blocks
 * follow each other). */
static void quarantine_zero(struct mapfs_fs *fs)
{
	struct mapfs_journal *j = fs->j;

	for (size_t k = 0; k < j->ngens; k++) {
		struct qgen *q = &j->gens[k];
		size_t i = 0;

		if (q->zeroed || q->until == UINT64_MAX || q->until > j->ckpt)
			continue;
		qsort(q->v, q->n, sizeof(*q->v), cmp_qext);
		while (i < q->n) {
			uint64_t start = q->v[i].start;
			uint64_t end = start + q->v[i].len;

			for (i++; i < q->n && q->v[i].start <= end; i++)
				if (q->v[i].start + q->v[i].len > end)
					end = q->v[i].start + q->v[i].len;
			mapfs_fs_zero_free(fs, start, end - start);
			j->st.zeroed_runs++;
			j->st.zeroed_blocks += end - start;
		}
		q->zeroed = true;
		q->zflush = j->nflush;
	}
}

/* Seal the generation being filled at the current head, release every
 * generation the durable tail has passed whose zeroing is durable, and
 * zero those the last checkpoint has passed. */
static void quarantine_advance(struct mapfs_fs *fs)
{
	struct mapfs_journal *j = fs->j;
	const struct mapfs_geom *g = &fs->g;
	size_t k = 0;

	if (j->ngens && j->gens[j->ngens - 1].until == UINT64_MAX)
		j->gens[j->ngens - 1].until = j->head;
	while (k < j->ngens && j->gens[k].until <= j->tail_durable &&
	       j->gens[k].zeroed && j->gens[k].zflush < j->nflush) {
		struct qgen *q = &j->gens[k];

		for (size_t i = 0; i < q->n; i++) {
			for (uint64_t b = q->v[i].start;
			     b < q->v[i].start + q->v[i].len; b++) {
				uint64_t cg = b / g->bpg;

				mapfs_bit_clear(j->qbm[cg], b % g->bpg);
			}
			j->nquar -= q->v[i].len;
		}
		free(q->v);
		k++;
	}
	if (k) {
		memmove(j->gens, j->gens + k, (j->ngens - k) * sizeof(*j->gens));
		j->ngens -= k;
	}
	quarantine_zero(fs);
	if (j->nquar == 0) {
		/* Nothing waits: give the bitmaps back. */
		for (uint64_t cg = 0; cg < g->ngroups; cg++) {
			free(j->qbm[cg]);
			j->qbm[cg] = NULL;
		}
	}
}

int mapfs_journal_commit(struct mapfs_fs *fs, bool full)
{
	struct mapfs_journal *j = fs->j;
	uint64_t prev, prev_seq;
	int err;

	if (!j)
		return flush(fs);
	assert(j->nrg == 0);
	err = flush(fs);		/* every record is durable */
	if (err < 0)
		return err;
	j->st.commits++;
	j->tail_durable = j->tail_written;
	quarantine_advance(fs);
	prev = j->ckpt;
	prev_seq = j->ckpt_seq;
	err = checkpoint(fs);
	if (err < 0)
		return err;
	quarantine_zero(fs);	/* what this checkpoint has passed */
	/* The homes of the previous checkpoint were in that flush: the
	 * records before it are no longer needed. */
	if (prev != j->tail_written) {
		hdr_write(fs, prev_seq, prev);
		j->tail_written = prev;
	}
	if (!full)
		return 0;
	err = flush(fs);		/* homes of this checkpoint */
	if (err < 0)
		return err;
	j->tail_durable = j->tail_written;
	hdr_write(fs, j->ckpt_seq, j->ckpt);
	j->tail_written = j->ckpt;
	err = flush(fs);
	if (err < 0)
		return err;
	j->tail_durable = j->ckpt;
	quarantine_advance(fs);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Writing records                                                     */
/* ------------------------------------------------------------------ */

static void put_record(struct mapfs_fs *fs, uint8_t *at, uint32_t len,
		       uint32_t flags)
{
	struct mapfs_journal *j = fs->j;
	struct mapfs_djrec h;
	uint8_t *p = at + REC_HDR, *data;
	uint32_t nr = flags & MAPFS_JREC_WRAP ? 0 : (uint32_t)j->nrg;

	memset(&h, 0, sizeof(h));
	h.jr_magic = htole32(MAPFS_JREC_MAGIC);
	h.jr_len = htole32(len);
	h.jr_seq = htole64(j->seq);
	h.jr_nranges = htole32(nr);
	h.jr_flags = htole32(flags);
	data = p + (uint64_t)nr * RANGE_SZ;
	for (uint32_t i = 0; i < nr; i++) {
		struct mapfs_djrange g = {htole64(j->rg[i].off),
					  htole32(j->rg[i].len), 0};

		memcpy(p + i * RANGE_SZ, &g, sizeof(g));
		memcpy(data, fs->base + j->rg[i].off, j->rg[i].len);
		memset(data + j->rg[i].len, 0,
		       align8(j->rg[i].len) - j->rg[i].len);
		data += align8(j->rg[i].len);
	}
	if (flags & MAPFS_JREC_WRAP)
		memset(p, 0, len - REC_HDR);
	memcpy(at, &h, sizeof(h));
	h.jr_crc = htole32(mapfs_crc32c(mapfs_crc32c(fs->g.seed, &h,
						     sizeof(h)),
					p, len - REC_HDR));
	memcpy(at, &h, sizeof(h));
	j->seq++;
	j->head += len;
	j->st.records++;
	j->st.bytes += len;
}

/* Room for a record of need bytes (and the wrap before it, if any) at
 * head, not overwriting anything before the durable tail. */
static bool room(const struct mapfs_journal *j, uint64_t need)
{
	uint64_t pos = j->head % j->rbytes, end = j->head + need;

	if (j->rbytes - pos < need)
		end = j->head + (j->rbytes - pos) + need;
	return end - j->tail_durable <= j->rbytes;
}

/* Bytes free in the ring for new records. */
static uint64_t ring_free(const struct mapfs_journal *j)
{
	return j->rbytes - (j->head - j->tail_durable);
}

int mapfs_journal_make_room(struct mapfs_fs *fs)
{
	struct mapfs_journal *j = fs->j;
	int err;

	if (!j || ring_free(j) >= j->rbytes / 4)
		return 0;
	/* Keep a quarter of the ring free for the operation about to run:
	 * making room needs a checkpoint, and a checkpoint in the middle
	 * of an operation would write its half-done pages home. */
	assert(j->nrg == 0);
	j->st.forced++;
	err = mapfs_journal_commit(fs, false);
	if (err == 0 && ring_free(j) < j->rbytes / 4)
		err = mapfs_journal_commit(fs, true);
	return err;
}

/* An operation whose record does not fit in the room make_room kept
 * (truncating a file of many terabytes touches thousands of bitmap
 * pages): make everything before it durable, then write its pages home
 * with the rest and flush. A power cut during that last flush can leave
 * this one operation half done (fsck repairs it); a daemon crash cannot
 * (the pages are in the page cache before the reply). Logged once. */
static int big_op(struct mapfs_fs *fs)
{
	struct mapfs_journal *j = fs->j;
	int err;

	if (!j->big_warned) {
		mapfs_log(fs, MAPFS_LOG_WARN, "an operation changed more "
			  "metadata than the journal has room for: written "
			  "home without the journal");
		j->big_warned = true;
	}
	j->st.big_ops++;
	j->nrg = 0;
	err = flush(fs);	/* the records before it */
	if (err < 0)
		return err;
	err = checkpoint(fs);
	if (err < 0)
		return err;
	/* Drop the records at once: replaying them over homes that hold
	 * this operation's changes could undo some of those. */
	hdr_write(fs, j->seq, j->head);
	j->tail_written = j->head;
	err = flush(fs);
	if (err == 0) {
		j->tail_durable = j->head;
		quarantine_advance(fs);
	}
	return err;
}

/* The ring's pages are written in turn and each is read first (a store
 * to a page not in the page cache faults it in from the disk, one page
 * at a time in the MADV_RANDOM mapping): ask for the next ones ahead of
 * the head, RING_AHEAD bytes at a time. */
#define RING_AHEAD (1u << 20)

static void ring_ahead(struct mapfs_fs *fs, uint64_t need)
{
	struct mapfs_journal *j = fs->j;
	uint64_t from, len, pos;

	if (j->head + need + RING_AHEAD / 4 <= j->ra)
		return;
	from = j->ra > j->head ? j->ra : j->head;
	len = RING_AHEAD < j->rbytes ? RING_AHEAD : j->rbytes;
	j->ra = from + len;
	pos = from % j->rbytes;
	if (len > j->rbytes - pos) {
		mapfs_fs_readahead(fs, j->ring, len - (j->rbytes - pos));
		len = j->rbytes - pos;
	}
	mapfs_fs_readahead(fs, j->ring + pos, len);
}

int mapfs_journal_write_op(struct mapfs_fs *fs)
{
	struct mapfs_journal *j = fs->j;
	uint64_t need, pos;

	if (!j || j->nrg == 0)
		return 0;
	merge_ranges(j);
	need = REC_HDR + j->nrg * RANGE_SZ;
	for (size_t i = 0; i < j->nrg; i++)
		need += align8(j->rg[i].len);
	if (need > UINT32_MAX || !room(j, need))
		return big_op(fs);
	ring_ahead(fs, need);
	pos = j->head % j->rbytes;
	if (j->rbytes - pos < need) {
		uint64_t left = j->rbytes - pos;

		if (left >= REC_HDR)
			put_record(fs, j->ring + pos, (uint32_t)left,
				   MAPFS_JREC_WRAP);
		else
			j->head += left;
		pos = 0;
	}
	put_record(fs, j->ring + pos, (uint32_t)need, 0);
	j->nrg = 0;
	return 0;
}

bool mapfs_journal_has_changes(const struct mapfs_fs *fs)
{
	return fs->j && fs->j->nrg > 0;
}

/* ------------------------------------------------------------------ */
/* Quarantine of freed blocks                                          */
/* ------------------------------------------------------------------ */

const uint8_t *mapfs_journal_quarantine(const struct mapfs_fs *fs,
					uint64_t cg)
{
	return fs->j && fs->j->nquar ? fs->j->qbm[cg] : NULL;
}

int mapfs_journal_note_free(struct mapfs_fs *fs, mapfs_bno_t bno)
{
	struct mapfs_journal *j = fs->j;
	uint64_t cg = bno / fs->g.bpg;
	struct qgen *q;

	if (!j)
		return 0;
	if (!j->qbm[cg]) {
		j->qbm[cg] = calloc(((size_t)fs->g.bpg + 7) / 8, 1);
		if (!j->qbm[cg])
			return -ENOMEM;
	}
	q = qgen_cur(j);
	if (!q)
		return -ENOMEM;
	if (q->n && q->v[q->n - 1].start + q->v[q->n - 1].len == bno) {
		q->v[q->n - 1].len++;
	} else {
		if (q->n == q->cap) {
			size_t ncap = q->cap ? 2 * q->cap : 64;
			struct qext *nv = realloc(q->v, ncap * sizeof(*nv));

			if (!nv)
				return -ENOMEM;
			q->v = nv;
			q->cap = ncap;
		}
		q->v[q->n].start = bno;
		q->v[q->n].len = 1;
		q->n++;
	}
	mapfs_bit_set(j->qbm[cg], bno % fs->g.bpg);
	j->nquar++;
	return 0;
}

bool mapfs_journal_frees_pending(const struct mapfs_fs *fs)
{
	return fs->j && fs->j->nquar > 0;
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                      */
/* ------------------------------------------------------------------ */

int mapfs_journal_start(struct mapfs_fs *fs)
{
	struct mapfs_journal *j;
	uint64_t seq, tail;
	const char *v;
	int err;

	if (!(fs->feat_incompat & MAPFS_FEAT_INCOMPAT_JOURNAL))
		return 0;
	err = hdr_read(fs, &seq, &tail, NULL, 0);
	if (err < 0)
		return err;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->qbm = calloc(fs->g.ngroups, sizeof(*j->qbm));
	if (!j->qbm) {
		free(j);
		return -ENOMEM;
	}
	j->ring = fs->dbase + journal_off(fs) + JPAGE;
	j->rbytes = journal_bytes(fs) - JPAGE;
	/* The image was replayed and reset at open: start a new epoch at
	 * ring byte 0, and make the header durable before any record. */
	j->seq = j->ckpt_seq = next_epoch(seq);
	j->head = j->ckpt = j->tail_written = j->tail_durable = 0;
	fs->j = j;
	hdr_write(fs, j->seq, 0);
	err = flush(fs);
	if (err < 0) {
		mapfs_journal_stop(fs);
		return err;
	}
	v = getenv("MAPFS_JOURNAL_VERIFY");
	j->verify = v && *v && strcmp(v, "0") != 0;
	return 0;
}

int mapfs_journal_grow(struct mapfs_fs *fs, uint64_t ngroups)
{
	struct mapfs_journal *j = fs->j;
	uint8_t **q;

	if (!j || ngroups <= fs->g.ngroups)
		return 0;
	q = realloc(j->qbm, ngroups * sizeof(*q));
	if (!q)
		return -ENOMEM;
	memset(q + fs->g.ngroups, 0,
	       (ngroups - fs->g.ngroups) * sizeof(*q));
	j->qbm = q;
	return 0;
}

void mapfs_journal_stop(struct mapfs_fs *fs)
{
	struct mapfs_journal *j = fs->j;

	if (!j)
		return;
	for (uint64_t cg = 0; cg < fs->g.ngroups; cg++)
		free(j->qbm[cg]);
	for (size_t i = 0; i < j->ngens; i++)
		free(j->gens[i].v);
	free(j->gens);
	free(j->qbm);
	free(j->rg);
	free(j->staged);
	free(j);
	fs->j = NULL;
}

void mapfs_journal_get_stats(const struct mapfs_fs *fs,
			     struct mapfs_journal_stats *st)
{
	if (fs->j)
		*st = fs->j->st;
	else
		memset(st, 0, sizeof(*st));
}
