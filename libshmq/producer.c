/*
 * producer.c - the public producer API: choose a queue, claim its next index
 * entry, reserve and write the record, commit the entry, wake consumers.
 *
 * The steady-state path takes no lock, allocates nothing and makes no system
 * call: a topic lookup in the control region's hash, a CAS on the index
 * entry, a CAS on the log tail, a memcpy and a CRC, a CAS to commit, and
 * one atomic add on the topic's event count (a futex wake only when a
 * consumer sleeps), and one on the bus doorbell while a multi-topic
 * consumer holds a lease on the topic (consumer.c).  Making a new segment
 * or index file happens once per file, ahead of need.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "commitlog.h"
#include "consumequeue.h"
#include "delay.h"
#include "flush.h"
#include "forward.h"
#include "internal.h"
#include "msg.h"
#include "prefault.h"
#include "replsync.h"
#include "retry.h"
#include "topic.h"
#include "txn.h"
#include "wait.h"

struct shmq_producer {
	struct shmq_bus			*bus;
	struct shmq_client_slot		*slot;
	uint32_t			 slot_idx;
	uint64_t			 claim;
	uint64_t			 id;
	/* The topic of the last send: most producers send to one or a few
	 * topics, and a name compare is a quarter of the cost of the hash
	 * lookup (validation, hash, probe).  Views are never freed while
	 * the bus is open, so the pointer stays valid; a deleted topic's
	 * view says so (shmq__topic_writable), and is dropped then. */
	struct shmq_topic		*last;
	/* Sync flush (shmq_producer_set_sync): 0 ms, async. */
	uint32_t			 sync_ms;
	uint32_t			 sync_flags;
	/* Sync replication (shmq_producer_set_repl): 0 mirrors, async. */
	uint32_t			 repl_k;
	uint32_t			 repl_ms;
	/* Transactions (txn.c): the group, and the check-back listener. */
	char				 group[SHMQ_NAME_MAX + 1];
	struct shmq_txn_listener	*txn;
	/* Topics sent to through the outbox (forward.h), newest first. */
	struct shmq_fwd			*fwd;
};

static int
producer_open(struct shmq_producer **out, struct shmq_bus *bus,
    const char *group, bool prefault)
{
	struct shmq_producer *p;
	int err;

	if (out == NULL || bus == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "producer: no bus");
	if (group == NULL)
		group = "DEFAULT";
	if (!shmq__name_ok(group))
		return SHMQ_ERR(SHMQ_ENAME, "producer group \"%s\"", group);
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "producer");
	p->bus = bus;
	strlcpy(p->group, group, sizeof(p->group));
	if ((err = shmq__client_register(bus, SHMQ_ROLE_PRODUCER, group,
	    &p->slot_idx, &p->slot)) < 0) {
		free(p);
		return err;
	}
	if (prefault)
		(void)shmq__prefault_start(bus);	/* best effort */
	p->claim = shmq__client_claim(bus, p->slot_idx);
	p->id = ((uint64_t)p->slot->gen << 32) | p->slot_idx;
	*out = p;
	return 0;
}

int
shmq_producer_open(struct shmq_producer **out, struct shmq_bus *bus,
    const char *group)
{
	return producer_open(out, bus, group, true);
}

int
shmq__producer_open_quiet(struct shmq_producer **out, struct shmq_bus *bus,
    const char *group)
{
	return producer_open(out, bus, group, false);
}

void
shmq_producer_close(struct shmq_producer *p)
{
	if (p == NULL)
		return;
	/* The check thread sends with P: it stops first. */
	shmq__txn_listener_stop(p->txn);
	shmq__client_release(p->bus, p->slot_idx);
	shmq__fwd_free(p->fwd);
	free(p);
}

struct shmq_bus *
shmq__producer_bus(const struct shmq_producer *p)
{
	return p->bus;
}

const char *
shmq__producer_group(const struct shmq_producer *p)
{
	return p->group;
}

struct shmq_txn_listener **
shmq__producer_txn(struct shmq_producer *p)
{
	return &p->txn;
}

struct shmq_fwd **
shmq__producer_fwd(struct shmq_producer *p)
{
	return &p->fwd;
}

int
shmq_producer_set_sync(struct shmq_producer *p, uint32_t timeout_ms,
    unsigned int flags)
{
	if (p == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "no producer");
	if ((flags & ~SHMQ_SYNC_NO_SELF) != 0)
		return SHMQ_ERR(SHMQ_EINVAL, "sync flags %#x", flags);
	ck_pr_store_32(&p->sync_flags, flags);
	ck_pr_store_32(&p->sync_ms, timeout_ms);
	return 0;
}

int
shmq_producer_set_repl(struct shmq_producer *p, unsigned k,
    uint32_t timeout_ms)
{
	if (p == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "no producer");
	if (k > SHMQ_REPL_SLOTS)
		return SHMQ_ERR(SHMQ_EINVAL, "sync replication to %u mirrors "
		    "(at most %d)", k, SHMQ_REPL_SLOTS);
	if (k > 0 && timeout_ms == 0)
		return SHMQ_ERR(SHMQ_EINVAL, "sync replication needs a "
		    "timeout");
	ck_pr_store_32(&p->repl_ms, timeout_ms);
	ck_pr_store_32(&p->repl_k, k);
	return 0;
}

static int
pick_queue(const struct shmq_msg *m, const struct shmq_topic *t)
{
	static __thread uint32_t rr;

	if (m->queue >= 0) {
		if ((uint32_t)m->queue >= t->queues)
			return SHMQ_ERR(SHMQ_ENOQUEUE, "topic \"%s\": queue %d "
			    "(it has %u)", t->name, m->queue, t->queues);
		return m->queue;
	}
	if (m->queue != SHMQ_QUEUE_ANY)
		return SHMQ_ERR(SHMQ_EINVAL, "queue %d", m->queue);
	if (m->shard_key != NULL && m->shard_key_len > 0)
		return (int)(shmq__hash64(m->shard_key, m->shard_key_len) %
		    t->queues);
	return (int)(rr++ % t->queues);
}

/* Store M in queue Q of T.  The heart of the bus. */
static int
store(struct shmq_producer *p, struct shmq_topic *t, uint32_t q,
    const struct shmq_msg *m, const struct shmq_enc *enc, uint32_t reconsume,
    uint64_t born_ns, struct shmq_send_result *res)
{
	struct shmq_bus *bus = p->bus;
	struct shmq_cq *cq = &t->cq[q];
	struct shmq_cq_entry *e;
	struct shmq_rec *rec;
	struct shmq_rec_meta meta;
	uint64_t qoff, loff, now;
	int err;

again:
	/* Above the hard disk ceiling (retention.c).  The word shares the
	 * log tail's line, which the reservation below loads anyway. */
	if (unlikely(ck_pr_load_32(&bus->ctl->write_refused) != 0)) {
		ck_pr_inc_64(&bus->ctl->retain_refused);
		return SHMQ_ERR(SHMQ_ENOSPC, "bus \"%s\": the store is above "
		    "its disk ceiling; writes are refused until shmqd frees "
		    "space", bus->name);
	}
	if (unlikely((err = shmq__cq_claim(bus, t, cq, p->claim, &qoff,
	    &e)) < 0))
		return err;
	if (unlikely((err = shmq__log_reserve(bus, enc->size, &loff,
	    &rec)) < 0)) {
		/* Give the entry up so readers need not wait for it. */
		shmq__cq_make_hole(bus, cq, e, p->claim);
		return err;
	}
	now = shmq__real_ns();
	meta.log_off = loff;
	meta.queue_off = qoff;
	meta.born_ns = born_ns != 0 ? born_ns : now;
	meta.store_ns = now;
	meta.producer_id = p->id;
	meta.queue = q;
	meta.reconsume = reconsume;
	shmq__msg_write(rec, m, t->name, enc, &meta);
	/* Release: the record's bytes before its size; pairs with the
	 * acquire in shmq__log_record and the recovery scan. */
	ck_pr_fence_store();
	ck_pr_store_32(&rec->size, enc->size);

	if (unlikely(!shmq__cq_commit(e, p->claim, loff, enc->size,
	    shmq__tag_hash(m->tags, enc->tags_len), now))) {
		/* A reader took us for dead and made the entry a hole.  The
		 * record must not come back at recovery: mark it aborted,
		 * and send again. */
		ck_pr_store_32(&rec->magic, SHMQ_ABORT_MAGIC);
		ck_pr_inc_64(&bus->ctl->resends);
		goto again;
	}
	shmq__topic_announce(bus, t, now);
	p->slot->sent++;
	if (res != NULL) {
		shmq__msg_id(bus->store_id, loff, res->msg_id);
		res->queue = (int)q;
		res->queue_off = qoff;
		res->log_off = loff;
	}
	/* Sync flush: the record is stored and announced whatever the
	 * outcome; a timeout only leaves its durability unconfirmed. */
	if (unlikely(ck_pr_load_32(&p->sync_ms) != 0) &&
	    (err = shmq__flush_wait(bus, loff, loff + enc->size, e,
	    ck_pr_load_32(&p->sync_ms), ck_pr_load_32(&p->sync_flags))) < 0)
		return err;
	/* Sync replication: as above, stored here whatever the outcome. */
	if (unlikely(ck_pr_load_32(&p->repl_k) != 0))
		return shmq__repl_wait(bus, t, q, qoff + 1,
		    ck_pr_load_32(&p->repl_k), ck_pr_load_32(&p->repl_ms));
	return 0;
}

/* 0 with *T and *ENC for a local send; 1 with *FWD for a send through
 * the outbox (forward.h); or a code. */
static int
prepare(struct shmq_producer *p, const struct shmq_msg *m,
    struct shmq_topic **t, struct shmq_enc *enc, struct shmq_fwd **fwd)
{
	struct shmq_bus *bus = p->bus;
	int err;

	if (unlikely(m == NULL))
		return SHMQ_ERR(SHMQ_EINVAL, "no message");
	if (likely(p->last != NULL && m->topic != NULL &&
	    strcmp(m->topic, p->last->name) == 0))
		*t = p->last;
	else {
		/* Not the last topic: looked up once; a remote one (a local
		 * mirror, or none here and a home elsewhere) goes to the
		 * outbox, delayed or not (forward.c; fwd_batch refuses a
		 * delayed one). */
		*t = shmq__topic_find(bus, m->topic);
		if (unlikely((err = shmq__fwd_find(bus, &p->fwd, m->topic, *t,
		    fwd)) != 0))
			return err;
		if (*t == NULL && unlikely((err = shmq__topic_get(bus,
		    m->topic, bus->auto_create, 0, t)) < 0))
			return err;
		p->last = *t;
	}
	/* A delayed message for a local topic reaches here only in a batch
	 * (a plain send routes it to delay.c first). */
	if (unlikely(m->delay_level != 0 || m->deliver_at_ms != 0))
		return SHMQ_ERR(SHMQ_EINVAL, "delayed messages are sent one "
		    "by one, not in batches");
	/* Permissions, deletion, a grown queue count (topicadmin.c). */
	if (unlikely((err = shmq__topic_writable(bus, *t)) < 0)) {
		if (err == SHMQ_ENOTOPIC)
			p->last = NULL;		/* look the name up again */
		return err;
	}
	if (unlikely((err = shmq__msg_measure(m, (*t)->name_len,
	    bus->max_msg_bytes, enc)) < 0)) {
		SHMQ_ERR_PREFIX("topic \"%s\"", m->topic);
		return err;
	}
	return 0;
}

/*
 * M through the outbox to F's home.  Sync replication counts mirrors of a
 * topic at its home, which a send stored in the outbox has none of yet:
 * refused rather than a wait that could only time out.
 */
static int
fwd_send(struct shmq_producer *p, const struct shmq_fwd *f,
    const struct shmq_msg *m, struct shmq_send_result *res)
{
	if (ck_pr_load_32(&p->repl_k) != 0)
		return SHMQ_ERR(SHMQ_EINVAL, "topic \"%s\": its home is "
		    "another host, and a send there goes through the outbox: "
		    "sync replication (shmq_producer_set_repl) counts mirrors "
		    "of sends at the home only", f->name);
	return shmq__fwd_send(p, p->bus, f, m, res);
}

int
shmq_producer_send(struct shmq_producer *p, const struct shmq_msg *m,
    struct shmq_send_result *res)
{
	struct shmq_topic *t;
	struct shmq_enc enc;
	struct shmq_fwd *f;
	int err, q;

	if (unlikely(p == NULL))
		return SHMQ_ERR(SHMQ_EINVAL, "no producer");
	/* Delayed: stored in the delay topic instead (delay.c), but for a
	 * remote topic in the outbox as any send, to wait at its home. */
	if (unlikely(m != NULL && (m->delay_level != 0 ||
	    m->deliver_at_ms != 0)) && (err = shmq__fwd_find(p->bus,
	    &p->fwd, m->topic, shmq__topic_find(p->bus, m->topic), &f)) <= 0)
		return err < 0 ? err : shmq__delay_send(p, p->bus, m, res);
	if (unlikely((err = prepare(p, m, &t, &enc, &f)) != 0))
		return err > 0 ? fwd_send(p, f, m, res) : err;
	if (unlikely((q = pick_queue(m, t)) < 0))
		return q;
	return store(p, t, (uint32_t)q, m, &enc, 0, 0, res);
}

int
shmq__producer_send_to(struct shmq_producer *p, struct shmq_topic *t,
    uint32_t q, const struct shmq_msg *m, uint32_t reconsume,
    struct shmq_send_result *res)
{
	return shmq__producer_send_born(p, t, q, m, reconsume, 0, res);
}

int
shmq__producer_send_born(struct shmq_producer *p, struct shmq_topic *t,
    uint32_t q, const struct shmq_msg *m, uint32_t reconsume,
    uint64_t born_ns, struct shmq_send_result *res)
{
	struct shmq_enc enc;
	int err;

	if ((err = shmq__topic_writable(p->bus, t)) < 0)
		return err;
	if (q >= t->queues)
		return SHMQ_ERR(SHMQ_ENOQUEUE, "topic \"%s\": queue %u (it "
		    "has %u)", t->name, q, t->queues);
	if ((err = shmq__msg_measure(m, t->name_len, p->bus->max_msg_bytes,
	    &enc)) < 0) {
		SHMQ_ERR_PREFIX("topic \"%s\"", t->name);
		return err;
	}
	return store(p, t, q, m, &enc, reconsume, born_ns, res);
}

int
shmq_producer_send_oneway(struct shmq_producer *p, const struct shmq_msg *m)
{
	return shmq_producer_send(p, m, NULL);
}

int
shmq_producer_send_async(struct shmq_producer *p, const struct shmq_msg *m,
    shmq_send_cb cb, void *arg)
{
	struct shmq_send_result res;
	int st;

	if (cb == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "no completion callback");
	memset(&res, 0, sizeof(res));
	st = shmq_producer_send(p, m, &res);
	cb(arg, st, st == 0 ? &res : NULL);
	return 0;
}

/* A batch for a forwarded topic: each message through the outbox, in
 * order (one outbox queue for all: the first message's queue choice). */
static int
fwd_batch(struct shmq_producer *p, const struct shmq_fwd *f,
    const struct shmq_msg *msgs, size_t n, struct shmq_send_result *res)
{
	struct shmq_msg m;
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		if (msgs[i].topic == NULL || strcmp(msgs[i].topic, f->name)) {
			err = SHMQ_ERR(SHMQ_EINVAL, "batch: message %zu is for "
			    "another topic", i);
			goto out;
		}
		if (msgs[i].delay_level != 0 || msgs[i].deliver_at_ms != 0) {
			err = SHMQ_ERR(SHMQ_EINVAL, "batch: message %zu is "
			    "delayed (send it alone)", i);
			goto out;
		}
		m = msgs[i];
		m.queue = msgs[0].queue;
		m.shard_key = msgs[0].shard_key;
		m.shard_key_len = msgs[0].shard_key_len;
		if ((err = fwd_send(p, f, &m, res != NULL ? &res[i] :
		    NULL)) < 0)
			goto out;
	}
	return (int)n;
out:
	return i > 0 ? (int)i : err;
}

int
shmq_producer_send_batch(struct shmq_producer *p, const struct shmq_msg *msgs,
    size_t n, struct shmq_send_result *res)
{
	struct shmq_topic *t;
	struct shmq_enc enc;
	struct shmq_fwd *f;
	size_t i;
	int err, q;

	if (p == NULL || (msgs == NULL && n > 0))
		return SHMQ_ERR(SHMQ_EINVAL, "batch: no producer or messages");
	if (n == 0)
		return 0;
	if (n > INT32_MAX)
		return SHMQ_ERR(SHMQ_EINVAL, "batch of %zu", n);
	if ((err = prepare(p, &msgs[0], &t, &enc, &f)) < 0)
		return err;
	if (err > 0)
		return fwd_batch(p, f, msgs, n, res);
	if ((q = pick_queue(&msgs[0], t)) < 0)
		return q;
	for (i = 0; i < n; i++) {
		if (i > 0) {
			if (msgs[i].topic == NULL ||
			    strcmp(msgs[i].topic, t->name) != 0) {
				err = SHMQ_ERR(SHMQ_EINVAL, "batch: message %zu "
				    "is for another topic", i);
				goto out;
			}
			if (msgs[i].delay_level != 0 ||
			    msgs[i].deliver_at_ms != 0) {
				err = SHMQ_ERR(SHMQ_EINVAL, "batch: message "
				    "%zu is delayed (send it alone)", i);
				goto out;
			}
			if ((err = shmq__msg_measure(&msgs[i], t->name_len,
			    p->bus->max_msg_bytes, &enc)) < 0)
				goto out;
		}
		if ((err = store(p, t, (uint32_t)q, &msgs[i], &enc, 0, 0,
		    res != NULL ? &res[i] : NULL)) < 0)
			goto out;
	}
	return (int)n;
out:
	return i > 0 ? (int)i : err;
}
