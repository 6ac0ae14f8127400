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
 *
 * Sync flush (group commit, see flush.h) reuses the walk with a gap state
 * of its own: the server syncs only up to where the walk got before the
 * sync began, so what it publishes was whole when it was written out.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "commitlog.h"
#include "consumequeue.h"
#include "flush.h"
#include "internal.h"
#include "layout.h"
#include "recover.h"
#include "region.h"
#include "topic.h"
#include "wait.h"

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
	f->sync_gap_off = UINT64_MAX;
	/* What an earlier server published is still on disk. */
	f->sync_pos = ck_pr_load_64(&bus->ctl->flushed_off);
	if (f->sync_pos < f->ckpt_off)
		f->sync_pos = f->ckpt_off;
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

/* The walk, with its gap state in *GAP_OFF and *GAP_SINCE: the periodic
 * flush and the sync flush walk from different points and must not reset
 * each other's gap timer. */
static uint64_t
walk(struct shmq_bus *bus, uint64_t *gap_off, uint64_t *gap_since,
    uint64_t *gaps, uint64_t from, uint64_t tail)
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
		if (*gap_off != pos) {
			*gap_off = pos;
			*gap_since = now;
			break;
		}
		if (now - *gap_since < SHMQ_FLUSH_GAP_NS)
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
		(*gaps)++;
		*gap_off = UINT64_MAX;
		pos = seg0 + p;
	}
	return pos < tail ? pos : tail;
}

uint64_t
shmq__flush_safe_point(struct shmq_bus *bus, struct shmq_flusher *f,
    uint64_t from, uint64_t tail)
{
	return walk(bus, &f->gap_off, &f->gap_since_ns, &f->gaps, from, tail);
}

/* *P = max(*P, V), atomically. */
static void
max64(uint64_t *p, uint64_t v)
{
	uint64_t cur = ck_pr_load_64(p);

	while (cur < v && !ck_pr_cas_64_value(p, cur, v, &cur))
		ck_pr_stall();
}

/* The segments holding the log below END have their names on disk. */
static int
dir_sync_upto(struct shmq_bus *bus, uint64_t end)
{
	char path[PATH_MAX];
	uint64_t need;
	int err;

	if (end == 0)
		return 0;
	need = (end - 1) / bus->segment_bytes + 1;
	if (ck_pr_load_64(&bus->ctl->flush_dir_segs) >= need)
		return 0;
	/* Every segment below NEED exists: its record was written. */
	snprintf(path, sizeof(path), "%s/commitlog", bus->path);
	if ((err = shmq__dir_sync(path)) < 0)
		return err;
	max64(&bus->ctl->flush_dir_segs, need);
	return 0;
}

/* Log bytes below TO were whole before a sync that covered them ended:
 * publish, and wake the sync senders. */
static void
publish(struct shmq_bus *bus, struct shmq_flusher *f, uint64_t to)
{
	if (to > f->sync_pos)
		f->sync_pos = to;
	if (ck_pr_load_64(&bus->ctl->flushed_off) >= to)
		return;
	/* The sync returned before the CAS (a full barrier); the CAS before
	 * the add, so a sender that sees the new count sees flushed_off;
	 * pairs with the load of the count in shmq__flush_wait. */
	max64(&bus->ctl->flushed_off, to);
	ck_pr_fence_memory();
	ck_ec64_inc(&bus->ctl->flush_done, &shmq__ec_mp);
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
	max64(&bus->ctl->flush_dir_segs, (to - 1) / bus->segment_bytes + 1);
	publish(bus, f, to);
	f->last_bytes = to - f->ckpt_off;
	f->bytes += f->last_bytes;
	f->flushes++;
	f->ckpt_off = to;
	f->last_ns = shmq__real_ns();
	f->last_dur_ns = shmq__mono_ns() - t0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* Sync flush: group commit                                            */
/* ------------------------------------------------------------------ */

/* A wanted end above flushed_off (and, untrusted, not above the tail). */
static bool
pending(struct shmq_bus *bus)
{
	uint64_t want = ck_pr_load_64(&bus->ctl->flush_want_off);
	uint64_t tail = ck_pr_load_64(&bus->ctl->log_tail);

	return (want < tail ? want : tail) >
	    ck_pr_load_64(&bus->ctl->flushed_off);
}

/* One group commit: 1 if published, 0 if the first record wanted is not
 * whole yet, or a code. */
static int
serve_round(struct shmq_bus *bus, struct shmq_flusher *f)
{
	struct shmq_ctl *ctl = bus->ctl;
	uint64_t want, tail, min, done, to;
	int err;

	want = ck_pr_load_64(&ctl->flush_want_off);
	tail = ck_pr_load_64(&ctl->log_tail);
	min = ck_pr_load_64(&ctl->log_min_off);
	done = ck_pr_load_64(&ctl->flushed_off);
	if (want > tail)
		want = tail;	/* untrusted */
	if (f->sync_pos < done)
		f->sync_pos = done;
	if (f->sync_pos < min)
		f->sync_pos = min;
	if (f->sync_pos > tail)
		f->sync_pos = min;	/* not this log's */
	if (want <= done)
		return 0;
	/* The walk before the sync: what it passes was whole before the
	 * sync began (its acquire loads pair with the writers' release
	 * stores of size). */
	to = walk(bus, &f->sync_gap_off, &f->sync_gap_since_ns, &f->gaps,
	    f->sync_pos, want);
	if (to <= f->sync_pos) {
		/* Nothing new is whole; what is below sync_pos is on disk
		 * (synced by us, or vouched for by the checkpoint). */
		if (f->sync_pos > done)
			publish(bus, f, f->sync_pos);
		return 0;
	}
	if ((err = shmq__log_sync(bus, f->sync_pos, to)) < 0 ||
	    (err = dir_sync_upto(bus, to)) < 0) {
		f->errors++;
		return err;
	}
	f->rounds++;
	ck_pr_inc_64(&ctl->flush_rounds);
	publish(bus, f, to);
	return 1;
}

int
shmq__flush_serve(struct shmq_bus *bus, struct shmq_flusher *f,
    uint64_t until_ns)
{
	struct shmq_ctl *ctl = bus->ctl;
	struct timespec ts = { 0, 100 * 1000 };
	uint64_t now, seq, wake;
	int r;

	for (;;) {
		now = shmq__mono_ns();
		ck_pr_store_64(&ctl->flush_server_ns, now);
		seq = ck_ec64_value(&ctl->flush_req);
		/* The count before the wanted offset; pairs with the fence
		 * between the raise and the add in shmq__flush_wait. */
		ck_pr_fence_memory();
		if (pending(bus)) {
			if ((r = serve_round(bus, f)) != 0)
				return r;
			if (now >= until_ns)
				return 0;
			/* A wanted record is still being written (a few
			 * microseconds), or its writer died (the walk
			 * passes it after SHMQ_FLUSH_GAP_NS). */
			nanosleep(&ts, NULL);
			continue;
		}
		if (now >= until_ns)
			return 0;
		wake = now + SHMQ_SYNC_BEAT_NS;
		(void)shmq__ec_wait(&ctl->flush_req, seq,
		    wake < until_ns ? wake : until_ns);
	}
}

void
shmq__flush_serve_stop(struct shmq_bus *bus)
{
	ck_pr_store_64(&bus->ctl->flush_server_ns, 0);
	/* Wake the senders so they see it and sync themselves. */
	ck_pr_fence_memory();
	ck_ec64_inc(&bus->ctl->flush_done, &shmq__ec_mp);
}

/* No server: sync the record, its index entry's page and the directory. */
static int
self_sync(struct shmq_bus *bus, uint64_t off, uint64_t end,
    const void *entry)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	int err;

	if ((err = shmq__log_sync(bus, off, end)) < 0)
		return err;
	if (entry != NULL && msync((void *)((uintptr_t)entry & ~(pg - 1)),
	    pg, MS_SYNC) < 0)
		return shmq__err_sys(errno, "sync", "index entry");
	if ((err = dir_sync_upto(bus, end)) < 0)
		return err;
	ck_pr_inc_64(&bus->ctl->flush_self);
	return 0;
}

int
shmq__flush_wait(struct shmq_bus *bus, uint64_t off, uint64_t end,
    const void *entry, uint32_t timeout_ms, unsigned int flags)
{
	struct shmq_ctl *ctl = bus->ctl;
	uint64_t t0, deadline, now, hb, seq, wake;

	if (ck_pr_load_64(&ctl->flushed_off) >= end)
		goto acked;
	/* The record was published (release store of its size, CAS of its
	 * entry) before the raise; the raise before the add that wakes the
	 * server.  Pairs with the fence in shmq__flush_serve. */
	max64(&ctl->flush_want_off, end);
	ck_pr_fence_memory();
	ck_ec64_inc(&ctl->flush_req, &shmq__ec_mp);
	t0 = shmq__mono_ns();
	deadline = t0 + (uint64_t)timeout_ms * 1000000;
	for (;;) {
		seq = ck_ec64_value(&ctl->flush_done);
		/* The count before flushed_off; pairs with publish(). */
		ck_pr_fence_memory();
		if (ck_pr_load_64(&ctl->flushed_off) >= end)
			goto acked;
		now = shmq__mono_ns();
		hb = ck_pr_load_64(&ctl->flush_server_ns);
		if ((flags & SHMQ_SYNC_NO_SELF) == 0 && (hb == 0 ||
		    (int64_t)(now - hb) > (int64_t)SHMQ_SYNC_GRACE_NS))
			return self_sync(bus, off, end, entry);
		if (now >= deadline) {
			ck_pr_inc_64(&ctl->flush_timeouts);
			return SHMQ_ERR(SHMQ_ETIMEDOUT, "sync flush of the "
			    "record at %llu: not on disk after %u ms (it is "
			    "stored; its durability is unconfirmed)",
			    (unsigned long long)off, timeout_ms);
		}
		wake = now + SHMQ_SYNC_GRACE_NS / 2;
		(void)shmq__ec_wait(&ctl->flush_done, seq,
		    wake < deadline ? wake : deadline);
	}
acked:
	ck_pr_inc_64(&ctl->flush_acks);
	return 0;
}
