/*
 * recover.c - rebuild the control region from the store (see recover.h).
 *
 * Nothing else runs while this does: the caller holds the bus's lock file
 * exclusively and nobody holds it shared.  What the store may look like:
 *  - after clean closes: checkpoint at the log tail, indexes complete;
 *  - after processes were killed: records reserved but never written (zero
 *    or partly written bytes: gaps), index entries claimed by dead
 *    producers (their claims carry an old epoch and become holes when a
 *    reader meets them), records committed whose entries were not;
 *  - after a machine crash or a copy taken while running: any page may be
 *    older than any other, so a record may be torn, an index entry may
 *    point past the surviving log, and index pages may be missing.
 * Every record is checked (magic, its own offset, CRC) before it is used.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commitlog.h"
#include "consumequeue.h"
#include "internal.h"
#include "layout.h"
#include "offsets.h"
#include "promote.h"
#include "recover.h"
#include "region.h"
#include "retention.h"
#include "topic.h"

/* How far past a queue's tail to look for entries written out of order. */
#define TAIL_SLACK	4096

/* Queue count of topic directory DIR, and its permissions and retention:
 * meta, else its queue directories (and the defaults). */
static unsigned
topic_queues(const char *dir, uint32_t *flags, uint64_t *retention_ms)
{
	char path[PATH_MAX];
	unsigned q = 0;
	struct stat st;

	if (shmq__topic_meta_read(dir, &q, flags, retention_ms) == 0)
		return q;
	/* Lost meta (a machine crash before writeback): count the queue
	 * directories, which were made before it. */
	for (q = 0; q < SHMQ_MAX_QUEUES; q++) {
		snprintf(path, sizeof(path), "%s/%u", dir, q);
		if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			break;
	}
	return q;
}

static int
load_topics(struct shmq_bus *bus)
{
	char dir[PATH_MAX], tdir[PATH_MAX];
	struct dirent *de;
	DIR *d;
	unsigned q;
	uint32_t flags;
	uint64_t retention_ms;
	int err = 0;

	snprintf(dir, sizeof(dir), "%s/consumequeue", bus->path);
	d = opendir(dir);
	if (d == NULL)
		return shmq__err_sys(errno, "open directory", dir);
	while ((de = readdir(d)) != NULL) {
		if (!shmq__name_ok(de->d_name))
			continue;
		snprintf(tdir, sizeof(tdir), "%s/%s", dir, de->d_name);
		q = topic_queues(tdir, &flags, &retention_ms);
		if (q == 0)
			continue;
		err = shmq__topic_install(bus, de->d_name, q, flags,
		    retention_ms);
		if (err == 0)
			shmq__home_load(bus, tdir, de->d_name);
		if (err == SHMQ_EEXIST)
			err = 0;
		if (err < 0)
			break;
	}
	closedir(d);
	return err;
}

/* Is entry E written (committed, or a hole, or claimed)? */
static bool
used(const struct shmq_cq_entry *e)
{
	return e->state != SHMQ_CQ_EMPTY;
}

/* Find queue CQ's tail and first offset from its index files. */
static int
queue_tail(struct shmq_bus *bus, struct shmq_topic *t, struct shmq_cq *cq)
{
	char dir[PATH_MAX];
	uint64_t *files, lo, hi, mid, tail = 0, i;
	struct shmq_cq_entry *base;
	size_t n;
	ssize_t k;
	int err;

	if ((err = shmq__queue_dir(bus, t->name, cq->queue, dir,
	    sizeof(dir))) < 0 ||
	    (err = shmq__list_numbered(dir, &files, &n)) < 0)
		return err;
	if (n == 0)
		return 0;
	/* Files are named by their first entry: take the file an odd name
	 * falls in (a name is only a hint; the entries decide). */
	cq->qc->min_off = shmq__cq_file_start(bus,
	    shmq__cq_locate(bus, files[0], &i));
	tail = cq->qc->min_off;
	for (k = (ssize_t)n - 1; k >= 0; k--) {
		uint64_t file = shmq__cq_locate(bus, files[k], &i);
		uint64_t first = shmq__cq_file_start(bus, file);
		uint64_t entries = shmq__cq_file_entries(bus, file);

		/* Mapping with create extends a file cut short. */
		ck_pr_store_64(&cq->qc->tail, first + entries);
		base = shmq__cq_entry(bus, t, cq, first, true, &err);
		if (base == NULL) {
			free(files);
			return err;
		}
		if (!used(&base[0]))
			continue;
		/* Entries are claimed in order: find the first empty one,
		 * then look a little further for any written out of order
		 * (a machine crash may lose a page in the middle). */
		lo = 0;
		hi = entries;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (used(&base[mid]))
				lo = mid + 1;
			else
				hi = mid;
		}
		for (i = lo; i < entries && i < lo + TAIL_SLACK; i++)
			if (used(&base[i]))
				lo = i + 1;
		tail = first + lo;
		break;
	}
	free(files);
	ck_pr_store_64(&cq->qc->tail, tail);
	return 0;
}

/* Put record R (checked) into its queue's index if it is missing there. */
static void
index_record(struct shmq_bus *bus, const struct shmq_rec *r, uint64_t *fixed)
{
	char name[SHMQ_NAME_MAX + 1];
	struct shmq_topic *t;
	struct shmq_cq *cq;
	struct shmq_cq_entry *e;
	const char *tags;
	int err;

	memcpy(name, r + 1, r->topic_len);
	name[r->topic_len] = '\0';
	/* Written before its topic was deleted: not to come back. */
	if (shmq__tombstone_hides(bus, name, r->log_off))
		return;
	if (shmq__topic_get(bus, name, false, 0, &t) < 0 &&
	    shmq__topic_get(bus, name, true, r->queue + 1u >
	    bus->default_queues ? r->queue + 1u : bus->default_queues,
	    &t) < 0)
		return;
	if (r->queue >= t->queues)
		return;
	cq = &t->cq[r->queue];
	if (r->queue_off < cq->qc->min_off)
		return;
	if (r->queue_off >= cq->qc->tail)
		ck_pr_store_64(&cq->qc->tail, r->queue_off + 1);
	e = shmq__cq_entry(bus, t, cq, r->queue_off, true, &err);
	if (e == NULL)
		return;
	if (e->state == SHMQ_CQ_COMMITTED || e->state == SHMQ_CQ_HOLE)
		return;
	/* Empty (index page lost) or claimed by a producer that died
	 * between publishing the record and committing the entry: the
	 * record is whole, so deliver it. */
	tags = (const char *)(r + 1) + r->topic_len;
	e->log_off = r->log_off;
	e->size = r->size;
	e->tag_hash = shmq__tag_hash(tags, r->tags_len);
	e->store_ns = r->store_ns;
	e->state = SHMQ_CQ_COMMITTED;
	(*fixed)++;
}

/* Is there a valid record or padding at POS of a segment at START? */
static bool
valid_at(struct shmq_bus *bus, const char *base, uint64_t start, uint64_t pos)
{
	const struct shmq_rec *r = (const struct shmq_rec *)(base + pos);
	const uint64_t S = bus->segment_bytes;
	uint32_t size = r->size;

	if (size < 8 || (size & 7) != 0 || pos + size > S)
		return false;
	if (r->magic == SHMQ_PAD_MAGIC)
		return pos + size == S;
	if (size < sizeof(*r) || size > bus->max_msg_bytes ||
	    r->log_off != start + pos)
		return false;
	if (r->magic == SHMQ_ABORT_MAGIC) {
		struct shmq_rec h = *r;

		h.magic = SHMQ_REC_MAGIC;
		if (!shmq__rec_sane(&h, start + pos, size, S))
			return false;
	} else if (!shmq__rec_sane(r, start + pos, size, S)) {
		return false;
	}
	return shmq__rec_crc(r, size) == r->crc;
}

static int
read_checkpoint(struct shmq_bus *bus, struct shmq_checkpoint *ck)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/checkpoint", bus->path);
	if (shmq__file_read(path, ck, sizeof(*ck)) != sizeof(*ck) ||
	    ck->magic != SHMQ_CKPT_MAGIC ||
	    shmq__crc32c(0xffffffffu, ck, offsetof(struct shmq_checkpoint,
	    crc)) != ck->crc)
		return -1;
	return 0;
}

int
shmq__checkpoint_write(struct shmq_bus *bus, uint64_t off, int clean)
{
	struct shmq_checkpoint ck;
	char path[PATH_MAX];

	memset(&ck, 0, sizeof(ck));
	ck.magic = SHMQ_CKPT_MAGIC;
	ck.version = SHMQ_LAYOUT_VERSION;
	ck.clean = (uint32_t)clean;
	ck.log_indexed_off = off;
	ck.written_ns = shmq__real_ns();
	ck.crc = shmq__crc32c(0xffffffffu, &ck,
	    offsetof(struct shmq_checkpoint, crc));
	snprintf(path, sizeof(path), "%s/checkpoint", bus->path);
	return shmq__file_replace(path, &ck, sizeof(ck), &bus->perm, true);
}

/*
 * Where the data of the segment file starting at SEG0 ends: past it the file
 * is a hole (never written, or preallocated and never touched), which holds
 * no record, so the gap search need not read it (reading would also fill the
 * page cache with zeros).  S if the file system cannot tell.
 */
static uint64_t
seg_data_end(struct shmq_bus *bus, uint64_t seg0)
{
	const uint64_t S = bus->segment_bytes;
	char path[PATH_MAX];
	off_t d, h, pos = 0;
	uint64_t end = 0;
	int fd;

	if (shmq__log_seg_path(bus, seg0, path, sizeof(path)) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return S;
	for (;;) {
		if ((d = lseek(fd, pos, SEEK_DATA)) < 0) {
			if (errno != ENXIO)
				end = S;
			break;
		}
		if ((h = lseek(fd, d, SEEK_HOLE)) < 0) {
			end = S;
			break;
		}
		end = (uint64_t)h;
		pos = h;
	}
	close(fd);
	return end < S ? (end + 7) & ~(uint64_t)7 : S;
}

/* Is the 64-byte block at P all zero?  (No record or padding is.) */
static inline bool
zero_block(const char *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;

	return (w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) == 0;
}

/*
 * Walk the log from START through the segments SEGS[0..N): index what the
 * index lacks, skip gaps, and return the end of the last valid record.
 */
static uint64_t
scan_log(struct shmq_bus *bus, const uint64_t *segs, size_t n, uint64_t start,
    uint64_t *fixed, uint64_t *gaps)
{
	const uint64_t S = bus->segment_bytes;
	uint64_t end = start, pos, seg0, lim;
	size_t k;
	int err;

	for (k = 0; k < n; k++) {
		const char *base;

		seg0 = segs[k];
		if (seg0 + S <= start)
			continue;
		base = shmq__log_seg(bus, seg0 / S, true, &err);
		if (base == NULL)
			break;
		pos = start > seg0 ? start - seg0 : 0;
		lim = seg_data_end(bus, seg0);
		while (pos + 8 <= S) {
			const struct shmq_rec *r;

			if (!valid_at(bus, base, seg0, pos)) {
				/* A gap: look for the next valid record in
				 * this segment.  A record's own offset in
				 * its header makes a false match all but
				 * impossible. */
				uint64_t p;

				for (p = pos + 8; p + 8 <= lim; p += 8) {
					const struct shmq_rec *c =
					    (const void *)(base + p);

					/* Zeros: never written. */
					if (p % 64 == 0 && p + 64 <= lim &&
					    zero_block(base + p)) {
						p += 56;
						continue;
					}

					/* Only the first 8 bytes are sure
					 * to be inside the segment. */
					if ((c->magic == SHMQ_PAD_MAGIC ||
					    (p + sizeof(*c) <= S &&
					    c->log_off == seg0 + p)) &&
					    valid_at(bus, base, seg0, p))
						break;
				}
				if (p + 8 > lim)
					break;
				(*gaps)++;
				pos = p;
				continue;
			}
			r = (const struct shmq_rec *)(base + pos);
			if (r->magic == SHMQ_REC_MAGIC)
				index_record(bus, r, fixed);
			pos += r->size;
			end = seg0 + pos;
		}
	}
	return end;
}

/* Entries of CQ that point at or past the log end become holes. */
static void
cut_queue(struct shmq_bus *bus, struct shmq_topic *t, struct shmq_cq *cq,
    uint64_t log_end)
{
	uint64_t tail = cq->qc->tail, off, lo;
	struct shmq_cq_entry *e;
	int err;

	lo = tail > cq->qc->min_off + TAIL_SLACK ? tail - TAIL_SLACK :
	    cq->qc->min_off;
	for (off = lo; off < tail; off++) {
		e = shmq__cq_entry(bus, t, cq, off, true, &err);
		if (e == NULL)
			return;
		if (e->state == SHMQ_CQ_COMMITTED &&
		    e->log_off + e->size > log_end)
			e->state = SHMQ_CQ_HOLE;
		else if (e->state == SHMQ_CQ_EMPTY ||
		    (e->state & 3) == SHMQ_CQ_CLAIMED_TAG)
			/* Below the tail and owned by nobody alive (every
			 * claim is from an earlier incarnation): readers
			 * must not wait for it. */
			e->state = SHMQ_CQ_HOLE;
		if (e->state == SHMQ_CQ_COMMITTED &&
		    e->store_ns > cq->qc->last_store_ns)
			cq->qc->last_store_ns = e->store_ns;
	}
}

int
shmq__recover(struct shmq_bus *bus)
{
	struct shmq_ctl *ctl = bus->ctl;
	struct shmq_checkpoint ck;
	const uint64_t S = bus->segment_bytes;
	char dir[PATH_MAX];
	uint64_t *segs, start, end, fixed = 0, gaps = 0;
	uint32_t id, q, ntopics;
	size_t n, k;
	int err;

	if ((err = load_topics(bus)) < 0)
		return err;
	ntopics = ctl->ntopics;
	for (id = 0; id < ntopics; id++) {
		struct shmq_topic *t = shmq__topic_by_id(bus, id);

		if (t == NULL)
			return SHMQ_ERR(SHMQ_ENOMEM, "recovery");
		for (q = 0; q < t->queues; q++)
			if ((err = queue_tail(bus, t, &t->cq[q])) < 0)
				return err;
	}

	snprintf(dir, sizeof(dir), "%s/commitlog", bus->path);
	if ((err = shmq__list_numbered(dir, &segs, &n)) < 0)
		return err;
	/* Only whole, contiguous segments count; a gap in the sequence
	 * means older ones were removed by hand: start after it. */
	for (k = n; k > 1; k--)
		if (segs[k - 1] != segs[k - 2] + S)
			break;
	if (n > 0 && k > 0)
		k--;
	if (n > 0 && segs[k] % S != 0) {
		err = SHMQ_ERR(SHMQ_ECORRUPT, "commitlog segment %020llu is "
		    "not a multiple of the segment size %llu",
		    (unsigned long long)segs[k], (unsigned long long)S);
		free(segs);
		return err;
	}
	if (n == 0) {
		ctl->log_min_off = ctl->log_tail = ctl->log_ready_end = 0;
		free(segs);
		goto queues;
	}
	ctl->log_min_off = segs[k];
	start = segs[k];
	if (read_checkpoint(bus, &ck) == 0 && ck.log_indexed_off >= segs[k] &&
	    ck.log_indexed_off <= segs[n - 1] + S)
		start = ck.log_indexed_off;
	end = scan_log(bus, segs + k, n - k, start, &fixed, &gaps);
	ctl->log_tail = end;
	ctl->log_ready_end = segs[n - 1] + S;
	if (end == ctl->log_ready_end)
		ctl->log_ready_end = end;	/* next reserve makes one */
	free(segs);
queues:
	for (id = 0; id < ctl->ntopics; id++) {
		struct shmq_topic *t = shmq__topic_by_id(bus, id);

		if (t == NULL)
			continue;
		for (q = 0; q < t->queues; q++)
			cut_queue(bus, t, &t->cq[q], ctl->log_tail);
	}
	/* 5. Consumer groups and their committed offsets, once the queue
	 * tails they are held to are known. */
	err = shmq__offsets_load(bus);
	shmq__tombstones_free(bus);
	/* What a deletion that crashed left in the trash: nobody else has
	 * the bus, so no deletion is under way (retention.h). */
	shmq__retain_trash(bus);
	return err;
}
