/*
 * flush.c - the periodic flush and checkpoint (see flush.h).
 *
 * Why the walk looks at the index too: recovery never scans below a
 * checkpoint, so a record below it whose index entry was still only claimed
 * when the checkpoint was written would never be indexed after a crash.
 * The producer (producer.c) claims the entry, reserves the log, writes the
 * record, stores its size (release), then commits the entry; so a record
 * whose size is set and whose entry is committed to it (or was made a hole:
 * the producer then marks the record aborted and sends again) is final.
 *
 * Gaps.  A producer killed between reserving and storing the size leaves
 * zeros that never change.  The walk stops there; when the same gap has
 * stayed for SHMQ_FLUSH_GAP_NS, it looks for the next valid record in the
 * segment (magic, own offset, CRC: as recovery does) and goes on.  A live
 * writer stalled that long between its CAS on the tail and its size store
 * (a few microseconds of work) would be passed over; its entry, committed
 * later, is in an index file the next flush writes.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "commitlog.h"
#include "consumequeue.h"
#include "flush.h"
#include "internal.h"
#include "layout.h"
#include "recover.h"
#include "region.h"
#include "topic.h"

void
shmq__flush_init(struct shmq_bus *bus, struct shmq_flusher *f)
{
	struct shmq_checkpoint ck;
	char path[PATH_MAX];

	memset(f, 0, sizeof(*f));
	snprintf(path, sizeof(path), "%s/checkpoint", bus->path);
	if (shmq__file_read(path, &ck, sizeof(ck)) == sizeof(ck) &&
	    ck.magic == SHMQ_CKPT_MAGIC &&
	    shmq__crc32c(0xffffffffu, &ck, offsetof(struct shmq_checkpoint,
	    crc)) == ck.crc)
		f->ckpt_off = ck.log_indexed_off;
	f->gap_off = UINT64_MAX;
}

/* A whole record or padding at POS of the segment at SEG0 (recover.c's
 * valid_at). */
static bool
valid_at(struct shmq_bus *bus, const char *base, uint64_t seg0, uint64_t pos)
{
	const struct shmq_rec *r = (const struct shmq_rec *)(base + pos);
	const uint64_t S = bus->segment_bytes;
	uint32_t size = ck_pr_load_32((uint32_t *)(uintptr_t)&r->size);

	/* Pairs with the writer's release store of size. */
	ck_pr_fence_acquire();
	if (size < 8 || (size & 7) != 0 || pos + size > S)
		return false;
	if (r->magic == SHMQ_PAD_MAGIC)
		return pos + size == S;
	if (size < sizeof(*r) || size > bus->max_msg_bytes ||
	    r->log_off != seg0 + pos)
		return false;
	if (r->magic == SHMQ_ABORT_MAGIC) {
		struct shmq_rec h = *r;

		h.magic = SHMQ_REC_MAGIC;
		if (!shmq__rec_sane(&h, seg0 + pos, size, S))
			return false;
	} else if (!shmq__rec_sane(r, seg0 + pos, size, S)) {
		return false;
	}
	return shmq__rec_crc(r, size) == r->crc;
}

/* Is the message record R at OFF settled in its index (committed there,
 * or a hole)?  A record whose topic or entry cannot be found (corrupt, or
 * reclaimed) counts as settled: nothing will ever index it. */
static bool
indexed(struct shmq_bus *bus, const struct shmq_rec *r, uint64_t off)
{
	char name[SHMQ_NAME_MAX + 1];
	struct shmq_topic *t;
	struct shmq_cq_entry *e;
	uint64_t st;
	int err;

	if (r->topic_len == 0 || r->topic_len > SHMQ_NAME_MAX)
		return true;
	memcpy(name, r + 1, r->topic_len);
	name[r->topic_len] = '\0';
	if ((t = shmq__topic_find(bus, name)) == NULL || r->queue >= t->queues)
		return true;
	e = shmq__cq_entry(bus, t, &t->cq[r->queue], r->queue_off, false,
	    &err);
	if (e == NULL)
		return true;
	st = shmq__cq_state(e);
	if (st == SHMQ_CQ_HOLE)
		return true;
	if (st == SHMQ_CQ_COMMITTED)
		return true;	/* to this record, or to its resend */
	return false;		/* claimed (in flight) or not yet claimed */
}

uint64_t
shmq__flush_safe_point(struct shmq_bus *bus, struct shmq_flusher *f,
    uint64_t from, uint64_t tail)
{
	const uint64_t S = bus->segment_bytes;
	uint64_t pos = from, seg0, in, p, lim, now;
	const struct shmq_rec *r;
	const char *base;
	uint32_t size, magic;
	int err;

	while (pos < tail) {
		seg0 = pos - pos % S;
		in = pos - seg0;
		if (in + 8 > S) {
			pos = seg0 + S;
			continue;
		}
		if ((base = shmq__log_seg(bus, seg0 / S, false, &err)) == NULL)
			break;
		r = (const struct shmq_rec *)(base + in);
		size = ck_pr_load_32((uint32_t *)(uintptr_t)&r->size);
		/* Pairs with the writer's release store of size: the
		 * record's bytes are read after it. */
		ck_pr_fence_acquire();
		magic = ck_pr_load_32((uint32_t *)(uintptr_t)&r->magic);
		if (size >= 8 && (size & 7) == 0 && in + size <= S &&
		    (magic == SHMQ_PAD_MAGIC || magic == SHMQ_ABORT_MAGIC ||
		    (magic == SHMQ_REC_MAGIC && size >= sizeof(*r) &&
		    r->log_off == pos))) {
			if (magic == SHMQ_REC_MAGIC && !indexed(bus, r, pos))
				break;
			pos += size;
			continue;
		}
		/* A gap: in flight, or left by a dead writer. */
		now = shmq__mono_ns();
		if (f->gap_off != pos) {
			f->gap_off = pos;
			f->gap_since_ns = now;
			break;
		}
		if (now - f->gap_since_ns < SHMQ_FLUSH_GAP_NS)
			break;
		lim = tail - seg0 < S ? tail - seg0 : S;
		for (p = in + 8; p + 8 <= lim; p += 8)
			if (valid_at(bus, base, seg0, p))
				break;
		if (p + 8 > lim) {
			if (tail <= seg0 + S)
				break;
			p = S;	/* the padding's writer died too */
		}
		f->gaps++;
		f->gap_off = UINT64_MAX;
		pos = seg0 + p;
	}
	return pos < tail ? pos : tail;
}

int
shmq__flush(struct shmq_bus *bus, struct shmq_flusher *f)
{
	uint64_t tail, to, t0;
	int err;

	t0 = shmq__mono_ns();
	tail = ck_pr_load_64(&bus->ctl->log_tail);
	ck_pr_fence_acquire();
	if (f->ckpt_off > tail)
		f->ckpt_off = 0;	/* not this log's */
	if (f->ckpt_off < ck_pr_load_64(&bus->ctl->log_min_off))
		f->ckpt_off = ck_pr_load_64(&bus->ctl->log_min_off);
	to = shmq__flush_safe_point(bus, f, f->ckpt_off, tail);
	f->lag_bytes = tail - to;
	if (to <= f->ckpt_off)
		return 0;
	/* Data first, then the checkpoint that vouches for it. */
	if ((err = shmq__store_sync(bus, f->ckpt_off, to)) < 0 ||
	    (err = shmq__checkpoint_write(bus, to, 0)) < 0) {
		f->errors++;
		return err;
	}
	f->last_bytes = to - f->ckpt_off;
	f->bytes += f->last_bytes;
	f->flushes++;
	f->ckpt_off = to;
	f->last_ns = shmq__real_ns();
	f->last_dur_ns = shmq__mono_ns() - t0;
	return 1;
}
