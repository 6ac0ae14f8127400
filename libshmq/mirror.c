/*
 * mirror.c - mirror topics (see mirror.h): made by shmqd's replication,
 * written at the home's queue offsets by one writer.
 */
#include "config.h"

#include <string.h>

#include "commitlog.h"
#include "consumequeue.h"
#include "internal.h"
#include "mirror.h"
#include "topic.h"

/* Did anything ever go into T (an entry, a hole, a reclaimed start)? */
static bool
ever_written(struct shmq_bus *bus, struct shmq_topic *t)
{
	uint32_t q;
	int err;

	for (q = 0; q < t->queues; q++) {
		struct shmq_cq *cq = &t->cq[q];
		struct shmq_cq_entry *e;

		if (shmq__cq_tail(cq) != 0 ||
		    ck_pr_load_64(&cq->qc->min_off) != 0)
			return true;
		e = shmq__cq_entry(bus, t, cq, 0, false, &err);
		if (e != NULL && shmq__cq_state(e) != SHMQ_CQ_EMPTY)
			return true;
	}
	return false;
}

/* Make T a mirror (admin lock held): the meta file first (it is what a
 * recovery believes), then the flags every process loads. */
static int
make_mirror(struct shmq_bus *bus, struct shmq_topic *t)
{
	const uint32_t set = SHMQ_TOPIC_F_MIRROR | SHMQ_TOPIC_F_NOWRITE;
	struct shmq_topic_ctl *tc = t->tc;
	uint32_t f, nf;
	int err;

	f = ck_pr_load_32(&tc->flags);
	if (f & SHMQ_TOPIC_F_DELETED)
		return SHMQ_ERR(SHMQ_ENOTOPIC, "topic \"%s\": deleted",
		    t->name);
	if (ever_written(bus, t))
		return SHMQ_ERR(SHMQ_EEXIST, "topic \"%s\": a local topic of "
		    "that name holds messages: it cannot become a mirror "
		    "(delete it first)", t->name);
	if ((err = shmq__topic_meta_write(bus, t->name,
	    ck_pr_load_32(&tc->queues), (f & SHMQ_TOPIC_F_MASK) | set,
	    ck_pr_load_64(&tc->retention_ms), true)) < 0)
		return err;
	ck_pr_fence_store();
	do {
		f = ck_pr_load_32(&tc->flags);
		nf = (f | set) + SHMQ_TOPIC_F_CHANGE;
	} while (!ck_pr_cas_32(&tc->flags, f, nf));
	/* A producer that passed its permission check before the flags
	 * changed may still store one message: look once more. */
	if (ever_written(bus, t))
		return SHMQ_ERR(SHMQ_EEXIST, "topic \"%s\": a local producer "
		    "wrote to it as it became a mirror", t->name);
	return 0;
}

int
shmq__mirror_topic(struct shmq_bus *bus, const char *name, unsigned queues,
    struct shmq_topic **out)
{
	struct shmq_topic_conf conf;
	struct shmq_topic *t;
	int err;

	if (queues == 0 || queues > SHMQ_MAX_QUEUES)
		return SHMQ_ERR(SHMQ_EINVAL, "mirror \"%s\": %u queues", name,
		    queues);
	if (name == NULL || name[0] == '%')
		return SHMQ_ERR(SHMQ_ENAME, "mirror \"%s\": the bus's own "
		    "topics are not replicated", name != NULL ? name : "");
	if ((err = shmq__topic_get(bus, name, true, queues, &t)) < 0)
		return err;
	if ((ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_MIRROR) == 0) {
		if ((err = shmq__admin_lock(bus)) < 0)
			return err;
		if ((ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_MIRROR) == 0)
			err = make_mirror(bus, t);
		shmq__admin_unlock(bus);
		if (err < 0)
			return err;
	}
	if (ck_pr_load_32(&t->tc->queues) < queues) {
		memset(&conf, 0, sizeof(conf));
		conf.queues = queues;
		if ((err = shmq_topic_update(bus, name, &conf,
		    SHMQ_TOPIC_SET_QUEUES)) < 0)
			return err;
	}
	shmq__topic_view_refresh(bus, t);
	if (t->queues < queues)
		return SHMQ_ERR(SHMQ_ENOMEM, "mirror \"%s\": view of %u "
		    "queues", name, queues);
	*out = t;
	return 0;
}

uint64_t
shmq__mirror_next(struct shmq_bus *bus, struct shmq_topic *t, uint32_t q)
{
	struct shmq_cq *cq = &t->cq[q];
	struct shmq_cq_entry *e;
	uint64_t off, min;
	int err;

	off = shmq__cq_tail(cq);
	min = ck_pr_load_64(&cq->qc->min_off);
	if (off < min)
		off = min;
	/* The hint is passed after a commit; a recovery may have indexed
	 * a record the writer had stored but not committed. */
	while ((e = shmq__cq_entry(bus, t, cq, off, false, &err)) != NULL &&
	    shmq__cq_state(e) != SHMQ_CQ_EMPTY)
		off++;
	return off;
}

/* Raise the tail hint of CQ to at least OFF. */
static void
tail_raise(struct shmq_cq *cq, uint64_t off)
{
	uint64_t cur;

	while ((cur = ck_pr_load_64(&cq->qc->tail)) < off &&
	    !ck_pr_cas_64(&cq->qc->tail, cur, off))
		;
}

int
shmq__mirror_fill(struct shmq_bus *bus, struct shmq_topic *t, uint32_t q,
    uint64_t end, uint64_t home_min)
{
	struct shmq_cq *cq;
	struct shmq_cq_entry *e;
	uint64_t next, off;
	int err;

	if (q >= t->queues)
		return SHMQ_ERR(SHMQ_ENOQUEUE, "mirror \"%s\": queue %u", t->name,
		    q);
	cq = &t->cq[q];
	next = shmq__mirror_next(bus, t, q);
	if (next >= end)
		return 0;
	if (next == ck_pr_load_64(&cq->qc->min_off) && home_min > next) {
		/* Nothing here yet: the queue starts where the home's does
		 * now (what is below was reclaimed there; holes from there
		 * on are the home's holes).  min_off first, so that no index
		 * file is made below it (consumequeue.c), readers below it
		 * move up. */
		next = home_min < end ? home_min : end;
		ck_pr_store_64(&cq->qc->min_off, next);
		ck_pr_fence_store();
		tail_raise(cq, next);
		ck_ec64_inc(&t->tc->ec, &shmq__ec_mp);
	}
	for (off = next; off < end; off++) {
		if ((e = shmq__cq_entry(bus, t, cq, off, true, &err)) == NULL)
			return err < 0 ? err : SHMQ_ERR(SHMQ_ECORRUPT,
			    "mirror \"%s\" queue %u: no index file", t->name,
			    q);
		if (ck_pr_cas_64(&e->state, SHMQ_CQ_EMPTY, SHMQ_CQ_HOLE)) {
			ck_pr_inc_64(&cq->qc->holes);
			ck_pr_inc_64(&bus->ctl->holes);
		}
		tail_raise(cq, off + 1);
	}
	ck_ec64_inc(&t->tc->ec, &shmq__ec_mp);
	return 0;
}

static int
mirror_put(struct shmq_bus *bus, struct shmq_topic *t,
    const struct shmq_mirror_pos *pos, const struct shmq_raw *m)
{
	const uint32_t q = pos->queue;
	struct shmq_rec_meta meta;
	struct shmq_cq_entry *e;
	struct shmq_rec *rec;
	struct shmq_cq *cq;
	uint64_t next, loff, now;
	uint32_t size;
	int err;

	if (q >= t->queues)
		shmq__topic_view_refresh(bus, t);
	if (q >= t->queues)
		return SHMQ_ERR(SHMQ_ENOQUEUE, "mirror \"%s\": queue %u (it "
		    "has %u)", t->name, q, t->queues);
	/* Promoted (promote.c): local producers write it now. */
	if (unlikely((ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_MIRROR) ==
	    0))
		return SHMQ_ERR(SHMQ_ETOPICPERM, "topic \"%s\": no longer a "
		    "mirror (promoted to home here)", t->name);
	cq = &t->cq[q];
	next = shmq__mirror_next(bus, t, q);
	if (pos->queue_off < next)
		return 0;
	if (pos->queue_off > next &&
	    (err = shmq__mirror_fill(bus, t, q, pos->queue_off,
	    pos->home_min)) < 0)
		return err;
	size = shmq__msg_raw_size(m, t->name_len);
	if (size > (uint64_t)bus->max_msg_bytes + 4096)
		return SHMQ_ERR(SHMQ_ETOOBIG, "mirror \"%s\": a record of %u "
		    "bytes (this bus takes %u: give it max_msg_bytes as "
		    "large as the home's)", t->name, size, bus->max_msg_bytes);
	if (unlikely(ck_pr_load_32(&bus->ctl->write_refused) != 0))
		return SHMQ_ERR(SHMQ_ENOSPC, "bus \"%s\": the store is above "
		    "its disk ceiling", bus->name);
	e = shmq__cq_entry(bus, t, cq, pos->queue_off, true, &err);
	if (e == NULL)
		return err < 0 ? err : SHMQ_ERR(SHMQ_ECORRUPT, "mirror \"%s\" "
		    "queue %u: no index file", t->name, q);
	if (shmq__cq_state(e) != SHMQ_CQ_EMPTY)
		return SHMQ_ERR(SHMQ_ECORRUPT, "mirror \"%s\" queue %u: entry "
		    "%llu written by someone else", t->name, q,
		    (unsigned long long)pos->queue_off);
	if ((err = shmq__log_reserve(bus, size, &loff, &rec)) < 0)
		return err;
	now = shmq__real_ns();
	meta.log_off = loff;
	meta.queue_off = pos->queue_off;
	meta.born_ns = pos->born_ns;
	meta.store_ns = pos->store_ns;
	meta.producer_id = pos->producer_id;
	meta.queue = q;
	meta.reconsume = pos->reconsume;
	shmq__msg_write_raw(rec, m, t->name, size, &meta);
	/* The record whole before its size (recovery may index it from
	 * here on: at its queue offset, which is right). */
	ck_pr_fence_store();
	ck_pr_store_32(&rec->size, size);
	e->log_off = loff;
	e->size = size;
	e->tag_hash = shmq__tag_hash(m->tags, m->tags_len);
	e->store_ns = pos->store_ns;
	ck_pr_fence_store_atomic();
	if (!ck_pr_cas_64(&e->state, SHMQ_CQ_EMPTY, SHMQ_CQ_COMMITTED)) {
		ck_pr_store_32(&rec->magic, SHMQ_ABORT_MAGIC);
		return SHMQ_ERR(SHMQ_ECORRUPT, "mirror \"%s\" queue %u: entry "
		    "%llu taken while written", t->name, q,
		    (unsigned long long)pos->queue_off);
	}
	tail_raise(cq, pos->queue_off + 1);
	shmq__topic_announce(bus, t, now);
	return 1;
}

int
shmq__mirror_put(struct shmq_bus *bus, struct shmq_topic *t,
    const struct shmq_mirror_pos *pos, const struct shmq_raw *m)
{
	struct shmq_topic_ctl *tc = t->tc;
	int rc;

	/*
	 * Busy, then a full fence, then stop: promotion stores stop, fences,
	 * then waits for busy to clear (promote.c), so either this sees stop
	 * or promotion sees this write through before producers may claim.
	 * Without it, this entry's fields, written before its CAS, could
	 * land on an entry a local producer claimed meanwhile.
	 */
	ck_pr_store_32(&tc->mirror_busy, 1);
	ck_pr_fence_memory();
	if (unlikely(ck_pr_load_32(&tc->mirror_stop) != 0))
		rc = SHMQ_ERR(SHMQ_ETOPICPERM, "topic \"%s\": being promoted "
		    "to home here", t->name);
	else {
		/* The flags after stop: promotion clears the mirror flag
		 * before it resets stop. */
		ck_pr_fence_acquire();
		rc = mirror_put(bus, t, pos, m);
	}
	ck_pr_fence_release();
	ck_pr_store_32(&tc->mirror_busy, 0);
	return rc;
}
