/*
 * consumer.c - the public pull consumer: follow assigned queues, return
 * zero-copy views, seek, and wait without burning CPU.
 *
 * Per assigned queue the consumer keeps its next offset and reads that
 * index entry: committed entries become views (after the tag and record
 * checks), holes are skipped, an empty entry means "nothing yet", and an
 * entry claimed for longer than the bus's stall time has its owner checked
 * and, if the owner is dead, is turned into a hole.
 *
 * Waiting: spin for SHMQ_SPIN_US (default 50 us) re-reading the entries,
 * then sleep on the topic's event count (one topic) or on the bus doorbell
 * after registering on every followed topic (several topics).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "commitlog.h"
#include "consumequeue.h"
#include "internal.h"
#include "msg.h"
#include "prefault.h"
#include "tagexpr.h"
#include "topic.h"
#include "wait.h"

struct sub {
	struct shmq_topic	*t;
	struct shmq_cq		*cq;
	uint64_t		 pos;
	struct shmq_tagexpr	*expr;
	uint64_t		 stall_state;	/* claim seen at pos */
	uint64_t		 stall_pos;
	uint64_t		 stall_since;	/* mono ns; 0: not read yet */
	uint32_t		 stall_looks;	/* looks before the clock */
};

struct shmq_consumer {
	struct shmq_bus			*bus;
	struct shmq_client_slot		*slot;
	uint32_t			 slot_idx;
	struct sub			*subs;
	size_t				 nsubs;
	size_t				 next;		/* fairness */
	bool				 multi_topic;
	bool				 sleeping;	/* in sleep_poll */
	uint64_t			 spin_ns;
	uint64_t			 stall_ns;
};

int
shmq_consumer_open(struct shmq_consumer **out, struct shmq_bus *bus)
{
	struct shmq_consumer *c;
	const char *spin;
	int err;

	if (out == NULL || bus == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "consumer: no bus");
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "consumer");
	c->bus = bus;
	if ((err = shmq__client_register(bus, SHMQ_ROLE_CONSUMER, "",
	    &c->slot_idx, &c->slot)) < 0) {
		free(c);
		return err;
	}
	(void)shmq__prefault_start(bus);	/* best effort */
	spin = getenv("SHMQ_SPIN_US");
	c->spin_ns = (spin != NULL ? strtoull(spin, NULL, 10) : 50) * 1000;
	c->stall_ns = (uint64_t)bus->stall_ms * 1000000ull;
	*out = c;
	return 0;
}

void
shmq_consumer_close(struct shmq_consumer *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nsubs; i++)
		shmq__tagexpr_free(c->subs[i].expr);
	free(c->subs);
	shmq__client_release(c->bus, c->slot_idx);
	free(c);
}

static void
update_multi(struct shmq_consumer *c)
{
	size_t i;

	c->multi_topic = false;
	for (i = 1; i < c->nsubs; i++)
		if (c->subs[i].t != c->subs[0].t)
			c->multi_topic = true;
}

static struct sub *
find_sub(struct shmq_consumer *c, const struct shmq_topic *t, uint32_t q)
{
	size_t i;

	for (i = 0; i < c->nsubs; i++)
		if (c->subs[i].t == t && c->subs[i].cq->queue == q)
			return &c->subs[i];
	return NULL;
}

static int
queue_range(const struct shmq_topic *t, int queue, uint32_t *lo, uint32_t *hi)
{
	if (queue == SHMQ_QUEUE_ANY) {
		*lo = 0;
		*hi = t->queues;
		return 0;
	}
	if (queue < 0 || (uint32_t)queue >= t->queues)
		return SHMQ_ERR(SHMQ_ENOQUEUE, "topic \"%s\": queue %d (it "
		    "has %u)", t->name, queue, t->queues);
	*lo = (uint32_t)queue;
	*hi = *lo + 1;
	return 0;
}

int
shmq_consumer_assign(struct shmq_consumer *c, const char *topic, int queue,
    const char *expr)
{
	struct shmq_topic *t;
	struct sub *s, *ns;
	uint32_t q, lo = 0, hi = 0;
	int err;

	if (c == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "no consumer");
	if ((err = shmq__topic_get(c->bus, topic, false, 0, &t)) < 0 ||
	    (err = queue_range(t, queue, &lo, &hi)) < 0)
		return err;
	for (q = lo; q < hi; q++) {
		struct shmq_tagexpr *x;

		if ((err = shmq__tagexpr_parse(expr, &x)) < 0)
			return err;
		s = find_sub(c, t, q);
		if (s != NULL) {
			shmq__tagexpr_free(s->expr);
			s->expr = x;
			continue;
		}
		ns = reallocarray(c->subs, c->nsubs + 1, sizeof(*ns));
		if (ns == NULL) {
			shmq__tagexpr_free(x);
			return SHMQ_ERR(SHMQ_ENOMEM, "assign");
		}
		c->subs = ns;
		s = &c->subs[c->nsubs++];
		memset(s, 0, sizeof(*s));
		s->t = t;
		s->cq = &t->cq[q];
		s->expr = x;
		s->pos = shmq__cq_tail(s->cq);
	}
	update_multi(c);
	return 0;
}

int
shmq_consumer_unassign(struct shmq_consumer *c, const char *topic, int queue)
{
	struct shmq_topic *t;
	uint32_t q, lo = 0, hi = 0;
	struct sub *s;
	int err, found = 0;

	if (c == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "no consumer");
	if ((err = shmq__topic_get(c->bus, topic, false, 0, &t)) < 0 ||
	    (err = queue_range(t, queue, &lo, &hi)) < 0)
		return err;
	for (q = lo; q < hi; q++) {
		if ((s = find_sub(c, t, q)) == NULL)
			continue;
		shmq__tagexpr_free(s->expr);
		*s = c->subs[--c->nsubs];
		found = 1;
	}
	c->next = 0;
	update_multi(c);
	return found ? 0 : SHMQ_ERR(SHMQ_ENOQUEUE, "topic \"%s\": queue %d "
	    "not assigned", topic, queue);
}

static void
seek_one(struct shmq_consumer *c, struct sub *s, enum shmq_whence whence,
    uint64_t value)
{
	uint64_t min = ck_pr_load_64(&s->cq->qc->min_off);
	uint64_t tail = shmq__cq_tail(s->cq);

	switch (whence) {
	case SHMQ_SEEK_FIRST:
		s->pos = min;
		break;
	case SHMQ_SEEK_LAST:
		s->pos = tail;
		break;
	case SHMQ_SEEK_OFFSET:
		s->pos = value < min ? min : value > tail ? tail : value;
		break;
	case SHMQ_SEEK_TIME:
		s->pos = shmq__cq_seek_time(c->bus, s->t, s->cq,
		    value * 1000000ull);
		break;
	}
	s->stall_state = 0;
}

int
shmq_consumer_seek(struct shmq_consumer *c, const char *topic, int queue,
    enum shmq_whence whence, uint64_t value)
{
	struct shmq_topic *t = NULL;
	size_t i;
	int err, n = 0;

	if (c == NULL || whence < SHMQ_SEEK_FIRST || whence > SHMQ_SEEK_TIME)
		return SHMQ_ERR(SHMQ_EINVAL, "seek: bad arguments");
	if (topic != NULL &&
	    (err = shmq__topic_get(c->bus, topic, false, 0, &t)) < 0)
		return err;
	for (i = 0; i < c->nsubs; i++) {
		struct sub *s = &c->subs[i];

		if (t != NULL && s->t != t)
			continue;
		if (queue != SHMQ_QUEUE_ANY && s->cq->queue != (uint32_t)queue)
			continue;
		seek_one(c, s, whence, value);
		n++;
	}
	if (n == 0)
		return SHMQ_ERR(SHMQ_ENOQUEUE, "seek: topic \"%s\" queue %d "
		    "not assigned", topic != NULL ? topic : "*", queue);
	return 0;
}

int
shmq_consumer_position(struct shmq_consumer *c, const char *topic, int queue,
    uint64_t *off)
{
	struct shmq_topic *t;
	struct sub *s;
	int err;

	if (c == NULL || off == NULL || queue < 0)
		return SHMQ_ERR(SHMQ_EINVAL, "position: bad arguments");
	if ((err = shmq__topic_get(c->bus, topic, false, 0, &t)) < 0)
		return err;
	if ((s = find_sub(c, t, (uint32_t)queue)) == NULL)
		return SHMQ_ERR(SHMQ_ENOQUEUE, "topic \"%s\": queue %d not "
		    "assigned", topic, queue);
	*off = s->pos;
	return 0;
}

/*
 * Read what is ready on S into OUT[*n..max).  Returns 0, or a negative code
 * for a corrupt record met before anything was collected (the position
 * moves past it, so the next poll goes on).  *due is lowered to the
 * monotonic time at which a stalled claim should be checked again.
 */
static int
collect(struct shmq_consumer *c, struct sub *s, struct shmq_msgview *out,
    size_t max, size_t *n, uint64_t *due)
{
	struct shmq_bus *bus = c->bus;
	struct shmq_cq_entry *e;
	const struct shmq_rec *r;
	uint64_t st, now;
	int err;

	while (*n < max) {
		e = shmq__cq_entry(bus, s->t, s->cq, s->pos, false, &err);
		if (e == NULL)
			return err;
		st = shmq__cq_state(e);
		if (likely(st == SHMQ_CQ_COMMITTED)) {
			if (!shmq__tagexpr_match_hash(s->expr,
			    ck_pr_load_32(&e->tag_hash))) {
				s->pos++;
				continue;
			}
			r = shmq__log_record(bus, ck_pr_load_64(&e->log_off),
			    ck_pr_load_32(&e->size), true, &err);
			if (unlikely(r == NULL)) {
				if (*n > 0)
					return 0;	/* report it next */
				ck_pr_inc_64(&bus->ctl->corrupt);
				SHMQ_ERR_PREFIX("topic \"%s\" queue %u offset "
				    "%llu", s->t->name, s->cq->queue,
				    (unsigned long long)s->pos);
				s->pos++;
				return err;
			}
			if (unlikely(s->expr != NULL && !s->expr->all &&
			    !shmq__tagexpr_match(s->expr, (const char *)(r + 1) +
			    r->topic_len, r->tags_len))) {
				s->pos++;
				continue;
			}
			shmq__msg_view(r, bus->store_id, &out[*n]);
			(*n)++;
			s->pos++;
			continue;
		}
		if (st == SHMQ_CQ_HOLE) {
			s->pos++;
			continue;
		}
		if (st == SHMQ_CQ_EMPTY)
			return 0;
		/* Claimed: a producer is writing it, or died doing so.  A
		 * busy reader meets most claims for a few hundred ns, so
		 * the clock is read only when one lasts: from the 64th
		 * look at it on (due 0 until then: the sleeper re-checks
		 * in a millisecond). */
		if (s->stall_state != st || s->stall_pos != s->pos) {
			s->stall_state = st;
			s->stall_pos = s->pos;
			s->stall_since = 0;
			s->stall_looks = 0;
			*due = 0;
			return 0;
		}
		if (s->stall_since == 0) {
			if (++s->stall_looks < 64 && !c->sleeping) {
				*due = 0;
				return 0;
			}
			s->stall_since = shmq__mono_ns();
		} else if ((now = shmq__mono_ns()) - s->stall_since >=
		    c->stall_ns) {
			if (shmq__claim_owner_dead(bus, st)) {
				shmq__cq_make_hole(bus, s->cq, e, st);
				continue;
			}
			s->stall_since = now;
		}
		if (s->stall_since + c->stall_ns < *due)
			*due = s->stall_since + c->stall_ns;
		return 0;
	}
	return 0;
}

static int
collect_all(struct shmq_consumer *c, struct shmq_msgview *out, size_t max,
    uint64_t *due)
{
	size_t n = 0, i, k;
	int err;

	*due = UINT64_MAX;
	for (k = 0; k < c->nsubs && n < max; k++) {
		i = (c->next + k) % c->nsubs;
		if ((err = collect(c, &c->subs[i], out, max, &n, due)) < 0) {
			if (n == 0)
				return err;
			break;
		}
	}
	/* Start with the next queue next time, so none starves. */
	if (c->nsubs > 0)
		c->next = (c->next + 1) % c->nsubs;
	if (n > 0)
		c->slot->received += n;
	return (int)n;
}

/* Register (+1) or unregister (-1) as a doorbell sleeper on each topic. */
static void
doorbell_waiters(struct shmq_consumer *c, int delta)
{
	size_t i, j;

	for (i = 0; i < c->nsubs; i++) {
		for (j = 0; j < i; j++)
			if (c->subs[j].t == c->subs[i].t)
				break;
		if (j == i)
			ck_pr_add_32(&c->subs[i].t->tc->bus_waiters,
			    (uint32_t)delta);
	}
}

static int sleep_poll(struct shmq_consumer *, struct shmq_msgview *, size_t,
    struct ck_ec64 *, uint64_t);

int
shmq_consumer_poll(struct shmq_consumer *c, struct shmq_msgview *out,
    size_t max, int timeout_ms)
{
	uint64_t start, deadline = 0, due, now;
	struct ck_ec64 *ec;
	unsigned spins = 0;
	int n;

	if (c == NULL || out == NULL || max == 0)
		return SHMQ_ERR(SHMQ_EINVAL, "poll: bad arguments");
	if (c->nsubs == 0)
		return SHMQ_ERR(SHMQ_EINVAL, "poll: no queue assigned");
	n = collect_all(c, out, max, &due);
	if (n != 0 || timeout_ms == 0)
		return n;
	start = shmq__mono_ns();
	if (timeout_ms > 0)
		deadline = start + (uint64_t)timeout_ms * 1000000ull;

	/* Spin: most gaps between messages are short, and a sleep costs a
	 * futex wake on both sides. */
	for (;;) {
		ck_pr_stall();
		if ((n = collect_all(c, out, max, &due)) != 0)
			return n;
		if ((++spins & 63) == 0) {
			now = shmq__mono_ns();
			if (now - start >= c->spin_ns)
				break;
		}
	}

	ec = c->multi_topic ? &c->bus->ctl->doorbell : &c->subs[0].t->tc->ec;
	c->sleeping = true;
	n = sleep_poll(c, out, max, ec, deadline);
	c->sleeping = false;
	return n;
}

/* The sleeping half of shmq_consumer_poll: wait on EC until something is
 * ready or DEADLINE (0: none) passes. */
static int
sleep_poll(struct shmq_consumer *c, struct shmq_msgview *out, size_t max,
    struct ck_ec64 *ec, uint64_t deadline)
{
	uint64_t due, now, old, wake;
	int n;

	for (;;) {
		if (c->multi_topic)
			doorbell_waiters(c, 1);
		/* Read the count, then re-check: a publish after this read
		 * changes the count and ends the wait at once. */
		old = ck_ec64_value(ec);
		ck_pr_fence_memory();
		n = collect_all(c, out, max, &due);
		if (n == 0) {
			now = shmq__mono_ns();
			if (deadline != 0 && now >= deadline) {
				if (c->multi_topic)
					doorbell_waiters(c, -1);
				return 0;
			}
			wake = deadline;
			if (due != UINT64_MAX && (wake == 0 || due < wake))
				wake = due > now ? due : now + 1000000;
			(void)shmq__ec_wait(ec, old, wake);
			n = collect_all(c, out, max, &due);
		}
		if (c->multi_topic)
			doorbell_waiters(c, -1);
		if (n != 0)
			return n;
		if (deadline != 0 && shmq__mono_ns() >= deadline)
			return 0;
	}
}
