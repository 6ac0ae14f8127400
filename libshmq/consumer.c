/*
 * consumer.c - the public pull consumer: follow assigned queues, return
 * zero-copy views, seek, and wait without burning CPU.
 *
 * Per assigned queue the consumer keeps its next offset and reads that
 * index entry: committed entries become views (after the tag and record
 * checks), holes are skipped, and
 *
 *  - an empty entry at or above the queue's tail hint means "nothing yet";
 *    one below it was claimed once (the hint only passes claimed entries)
 *    and has been lost since (an index page zeroed by a crash, a file
 *    remade): after the bus's stall time it becomes a hole;
 *  - a claimed entry whose token carries another epoch than the bus's was
 *    left by a process of an earlier control region, which is dead: it
 *    becomes a hole at once;
 *  - any other claimed entry that lasts the stall time has its owner
 *    checked and, if the owner is dead, becomes a hole.
 *
 * Waiting: spin for SHMQ_SPIN_US (default 50 us) re-reading the entries,
 * then sleep on the topic's event count (one topic) or on the bus doorbell
 * (several topics), with a deadline that is the earliest of the caller's,
 * the next stall check, and one second (SLEEP_MAX_NS): a producer that dies
 * between its commit and its wake leaves a message that nobody announces,
 * and the one-second cap bounds how long it waits unseen.  An idle
 * consumer thus wakes once a second, for a few microseconds.
 *
 * Doorbell.  A multi-topic sleeper cannot wait on several event counts, so
 * it sleeps on the bus doorbell, and producers ring it for topics that
 * have such sleepers: topic_ctl.bus_waiters holds a lease, the time
 * (CLOCK_REALTIME in units of 2^30 ns, about 1.07 s) until which a
 * multi-topic consumer may be asleep on the topic.  A sleeper extends the
 * lease of each of its topics before every sleep (which lasts at most a
 * second), and a producer rings the doorbell while the lease has not run
 * out.  There is no deregistration, so a consumer that dies asleep (or
 * closes, or gets busy) costs producers one extra atomic add per send for
 * at most LEASE_UNITS + 1 units (3.2 s), never longer, and nothing has to
 * be repaired.  (A count of sleepers, +1 before and -1 after a sleep, stays
 * raised for good when its consumer is killed asleep.)  Times are compared
 * as plain 32-bit unsigned units, which wrap in 2106.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "commitlog.h"
#include "consumequeue.h"
#include "consumer.h"
#include "group.h"
#include "internal.h"
#include "msg.h"
#include "retention.h"
#include "retry.h"
#include "sqlfilter.h"
#include "tagexpr.h"
#include "topic.h"
#include "wait.h"

/* Longest sleep in poll: bounds the delay of a message whose producer died
 * before waking anyone, at the cost of one wake a second when idle. */
#define SLEEP_MAX_NS	1000000000ull

/* How far CLOCK_MONOTONIC_COARSE may lag CLOCK_MONOTONIC (a jiffy at
 * HZ=100), so that a member wakes after its tick is due, not just before. */
#define GROUP_SLACK_NS	10000000ull

/* Doorbell lease length (shmq__lease_units): see the comment at the top. */
#define LEASE_UNITS	2u

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
	/* No prefault thread for consumers (producers start one): a
	 * consumer only reads, and its first read of each 4 KiB page of a
	 * segment costs a minor fault (the page is in the page cache, put
	 * there by the producer that wrote it): well under a microsecond,
	 * a few nanoseconds per message of a few hundred bytes.  The thread
	 * would save that at the price of waking an idle consumer process
	 * many times a second.  A process that also produces has the
	 * producer's thread, whose mappings its consumers share. */
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
	if (c->grp != NULL)
		shmq__group_close(c);
	for (i = 0; i < c->nsubs; i++) {
		shmq__tagexpr_free(c->subs[i].expr);
		shmq__sqlfilter_free(c->subs[i].sql);
	}
	free(c->subs);
	shmq__client_release(c->bus, c->slot_idx);
	free(c);
}

void
shmq__consumer_update_multi(struct shmq_consumer *c)
{
	size_t i;

	c->multi_topic = false;
	/* A group member sleeps for its subscriptions, held queues or
	 * not: one of them may come to it while it sleeps. */
	if (c->grp != NULL) {
		c->multi_topic = c->grp->ntopics > 1;
		return;
	}
	for (i = 1; i < c->nsubs; i++)
		if (c->subs[i].t != c->subs[0].t)
			c->multi_topic = true;
}

int
shmq__consumer_sub_add(struct shmq_consumer *c, struct shmq_topic *t,
    uint32_t q, const char *expr, uint64_t pos, struct sub **out)
{
	struct shmq_tagexpr *x;
	struct sub *s, *ns;
	int err;

	if ((err = shmq__tagexpr_parse(expr, &x)) < 0)
		return err;
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
	s->pos = pos;
	s->idle_ec = UINT64_MAX;
	shmq__consumer_update_multi(c);
	*out = s;
	return 0;
}

int
shmq__consumer_sub_sql(struct sub *s, const char *sql)
{
	struct shmq_sqlfilter *f = NULL;
	int err;

	if (sql != NULL && (err = shmq__sqlfilter_parse(sql, &f)) < 0)
		return err;
	shmq__sqlfilter_free(s->sql);
	s->sql = f;
	return 0;
}

void
shmq__consumer_sub_remove(struct shmq_consumer *c, size_t i)
{
	shmq__tagexpr_free(c->subs[i].expr);
	shmq__sqlfilter_free(c->subs[i].sql);
	c->subs[i] = c->subs[--c->nsubs];
	c->next = 0;
	shmq__consumer_update_multi(c);
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

/* Assign with tag expression EXPR or SQL92 filter SQL (one is NULL). */
static int
assign(struct shmq_consumer *c, const char *topic, int queue,
    const char *expr, const char *sql)
{
	struct shmq_sqlfilter *f = NULL;
	struct shmq_topic *t;
	struct sub *s, *ns;
	uint32_t q, lo = 0, hi = 0;
	int err;

	if (c == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "no consumer");
	if (c->grp != NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "assign: a group consumer's "
		    "queues come from its group (shmq_consumer_subscribe)");
	if ((err = shmq__topic_get(c->bus, topic, false, 0, &t)) < 0 ||
	    (err = queue_range(t, queue, &lo, &hi)) < 0)
		return err;
	/* Checked before anything changes. */
	if (sql != NULL) {
		if ((err = shmq__sqlfilter_parse(sql, &f)) < 0)
			return err;
		shmq__sqlfilter_free(f);
	}
	for (q = lo; q < hi; q++) {
		struct shmq_tagexpr *x;

		if ((err = shmq__tagexpr_parse(expr, &x)) < 0)
			return err;
		f = NULL;
		if (sql != NULL && (err = shmq__sqlfilter_parse(sql, &f)) < 0) {
			shmq__tagexpr_free(x);
			return err;
		}
		s = find_sub(c, t, q);
		if (s != NULL) {
			shmq__tagexpr_free(s->expr);
			s->expr = x;
			shmq__sqlfilter_free(s->sql);
			s->sql = f;
			continue;
		}
		ns = reallocarray(c->subs, c->nsubs + 1, sizeof(*ns));
		if (ns == NULL) {
			shmq__tagexpr_free(x);
			shmq__sqlfilter_free(f);
			return SHMQ_ERR(SHMQ_ENOMEM, "assign");
		}
		c->subs = ns;
		s = &c->subs[c->nsubs++];
		memset(s, 0, sizeof(*s));
		s->idle_ec = UINT64_MAX;
		s->t = t;
		s->cq = &t->cq[q];
		s->expr = x;
		s->sql = f;
		s->pos = shmq__cq_tail(s->cq);
	}
	shmq__consumer_update_multi(c);
	return 0;
}

int
shmq_consumer_assign(struct shmq_consumer *c, const char *topic, int queue,
    const char *expr)
{
	return assign(c, topic, queue, expr, NULL);
}

int
shmq_consumer_assign_sql(struct shmq_consumer *c, const char *topic,
    int queue, const char *sql)
{
	return assign(c, topic, queue, NULL, sql);
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
	if (c->grp != NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "unassign: a group consumer's "
		    "queues come from its group");
	if ((err = shmq__topic_get(c->bus, topic, false, 0, &t)) < 0 ||
	    (err = queue_range(t, queue, &lo, &hi)) < 0)
		return err;
	for (q = lo; q < hi; q++) {
		if ((s = find_sub(c, t, q)) == NULL)
			continue;
		shmq__tagexpr_free(s->expr);
		shmq__sqlfilter_free(s->sql);
		*s = c->subs[--c->nsubs];
		found = 1;
	}
	c->next = 0;
	shmq__consumer_update_multi(c);
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
	s->idle_ec = UINT64_MAX;	/* look at the entries next time */
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
 * Entry E at S->pos was read empty.  Below the queue's tail hint it was
 * claimed once and has been lost since: make it a hole once the bus's stall
 * time has passed since that was first seen.  Returns true when the caller
 * should read the entry again (it changed, or is now a hole); otherwise
 * lowers *due to the time of the next check, if there is one.
 *
 * Evidence: (lost_below, lost_since) says that every entry below lost_below
 * had been claimed by lost_since (the tail hint was read before the clock).
 * It stays true, so one stall covers a whole run of lost entries (a zeroed
 * page is 128 of them), and is renewed only for an entry above it.
 */
static bool
empty_below_tail(struct shmq_consumer *c, struct sub *s,
    struct shmq_cq_entry *e, uint64_t *due)
{
	uint64_t tail, now;

	tail = shmq__cq_tail(s->cq);
	if (s->pos >= tail)
		return false;			/* nothing yet */
	/* The tail hint before the entry: a claim CAS on the entry precedes
	 * any move of the hint past it (shmq__cq_claim), so an entry still
	 * empty now was claimed and lost, not claimed since the first read. */
	ck_pr_fence_load();
	if (shmq__cq_state(e) != SHMQ_CQ_EMPTY)
		return true;
	now = shmq__mono_ns();
	if (s->lost_since == 0 || s->pos >= s->lost_below) {
		s->lost_below = tail;
		s->lost_since = now;
	}
	if (now - s->lost_since >= c->stall_ns) {
		/* CAS EMPTY -> HOLE: a late claim by a producer that read a
		 * stale tail hint wins or loses cleanly (it resends). */
		(void)shmq__cq_make_hole(c->bus, s->cq, e, SHMQ_CQ_EMPTY);
		return true;
	}
	if (s->lost_since + c->stall_ns < *due)
		*due = s->lost_since + c->stall_ns;
	return false;
}

/*
 * S's position fell below what the queue still keeps (retention.c
 * reclaimed it): move to the first entry kept.  True if it moved.  The
 * entries passed are counted by the reclaimer (unconsumed, per group).
 */
static bool
skip_reclaimed(struct sub *s)
{
	uint64_t min = ck_pr_load_64(&s->cq->qc->min_off);

	if (s->pos >= min)
		return false;
	s->pos = min;
	s->stall_state = 0;
	s->lost_since = 0;
	return true;
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
	uint64_t st, now, ec;
	int err;

	/* Caught up, and the topic's count has not moved since: nothing
	 * was committed, so do not touch the entry a producer is about to
	 * claim and commit (each look there costs it a cache-line
	 * transfer).  The count moves after every commit; every 64th look
	 * goes on regardless, for stalls. */
	ec = ck_ec64_value(&s->t->tc->ec);
	if (ec == s->idle_ec && !c->sleeping && (++s->idle_looks & 63) != 0)
		return 0;
	/* Read not allowed, or deleted (topicadmin.c): nothing, and the
	 * position stays.  The flags share the event count's line. */
	if (unlikely(!shmq__topic_readable(s->t)))
		return 0;
	while (*n < max) {
		e = shmq__cq_entry(bus, s->t, s->cq, s->pos, false, &err);
		if (unlikely(e == NULL)) {
			if (err == SHMQ_ERECLAIMED && skip_reclaimed(s))
				continue;
			return err;
		}
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
				/* Reclaimed, its entry not yet dropped. */
				if (err == SHMQ_ERECLAIMED) {
					if (!skip_reclaimed(s))
						s->pos++;
					continue;
				}
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
			/* A filtered-out message is passed, and so counts as
			 * consumed (the committed offset moves past it). */
			if (unlikely(s->sql != NULL) &&
			    !shmq__sqlfilter_match_props(s->sql,
			    (const char *)(r + 1) + r->topic_len +
			    r->tags_len + r->keys_len, r->props_len,
			    (const char *)(r + 1) + r->topic_len,
			    r->tags_len)) {
				s->pos++;
				continue;
			}
			/* A retry queue's head waits for its due time; the
			 * ones behind it are due later (retry.h). */
			if (unlikely(s->hold) && !shmq__retry_due(r, due))
				return 0;
			shmq__msg_view(r, bus->store_id, &out[*n]);
			if (unlikely(s->hold))
				shmq__retry_view_topic(&out[*n]);
			(*n)++;
			s->pos++;
			continue;
		}
		if (st == SHMQ_CQ_HOLE) {
			s->pos++;
			continue;
		}
		if (st == SHMQ_CQ_EMPTY) {
			/* Nothing yet, unless it is below the tail hint.  The
			 * tail is read only now and then: it is a line that
			 * every claim writes. */
			s->idle_ec = ec;
			if (likely(!c->sleeping && s->pos >= s->lost_below &&
			    (++s->empty_looks & 63) != 0))
				return 0;
			/* A blanked file of reclaimed entries reads empty. */
			if (unlikely(skip_reclaimed(s)))
				continue;
			if (empty_below_tail(c, s, e, due))
				continue;
			return 0;
		}
		/* Claimed by a process of an earlier control region: dead. */
		if (unlikely(shmq__claim_stale(bus, st))) {
			shmq__cq_make_hole(bus, s->cq, e, st);
			continue;
		}
		/* Claimed: a producer is writing it, or died doing so.  A
		 * busy reader meets most claims for a few hundred ns, so
		 * the clock is read only when one lasts: from the 64th
		 * look at it on (due 0 until then: the sleeper re-checks
		 * in a millisecond). */
		s->idle_ec = ec;
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

/*
 * Extend the doorbell lease of every followed topic to LEASE_UNITS from now
 * (see the top).  The CAS that raises a lease is a full barrier: the lease
 * is visible before the caller reads the doorbell and the entries, and a
 * producer reads it after its commit and topic wake (Dekker: one of the two
 * sees the other).  A lease that is already long enough needs no store.
 */
static void
lease_one(struct shmq_topic *t, uint32_t want)
{
	uint32_t cur, *l = &t->tc->bus_waiters;

	while ((cur = ck_pr_load_32(l)) < want && !ck_pr_cas_32(l, cur, want))
		ck_pr_stall();
}

static void
doorbell_lease(struct shmq_consumer *c)
{
	uint32_t want;
	size_t i, j;

	want = shmq__lease_units(shmq__real_ns()) + LEASE_UNITS;
	if (c->grp != NULL) {
		/* A group member: every subscribed topic (held or not). */
		for (i = 0; i < c->grp->ntopics; i++)
			lease_one(c->grp->topics[i].t, want);
		ck_pr_fence_memory();
		return;
	}
	for (i = 0; i < c->nsubs; i++) {
		for (j = 0; j < i; j++)
			if (c->subs[j].t == c->subs[i].t)
				break;
		if (j < i)
			continue;
		lease_one(c->subs[i].t, want);
	}
	ck_pr_fence_memory();
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
	if (c->grp != NULL) {
		if (c->grp->ntopics == 0)
			return SHMQ_ERR(SHMQ_EINVAL, "poll: no topic "
			    "subscribed");
		/* One load of the generation, a coarse clock read, and the
		 * auto-commit of what the previous poll returned. */
		if ((n = shmq__group_enter(c)) < 0)
			return n;
	} else if (c->nsubs == 0)
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

	ec = c->multi_topic ? &c->bus->ctl->doorbell : c->grp != NULL ?
	    &c->grp->topics[0].t->tc->ec : &c->subs[0].t->tc->ec;
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
		if (c->grp != NULL && (n = shmq__group_enter(c)) < 0)
			return n;
		if (c->multi_topic)
			doorbell_lease(c);
		/* Read the count, then re-check: a publish after this read
		 * changes the count and ends the wait at once. */
		old = ck_ec64_value(ec);
		ck_pr_fence_memory();
		if ((n = collect_all(c, out, max, &due)) != 0)
			return n;
		now = shmq__mono_ns();
		if (deadline != 0 && now >= deadline)
			return 0;
		/* The earliest of the deadline, a second from now, and the
		 * next stall check (due 0: in a millisecond). */
		wake = now + SLEEP_MAX_NS;
		if (deadline != 0 && deadline < wake)
			wake = deadline;
		if (due < wake)
			wake = due > now ? due : now + 1000000;
		if (c->grp != NULL) {
			/* The member's tick (kept in coarse ms, which lag
			 * this clock by up to a jiffy: GROUP_SLACK_NS), or
			 * soon while a queue handover is pending. */
			uint64_t g = c->grp->npend != 0 ? now + 10000000 :
			    c->grp->tick_due_ms * 1000000ull + GROUP_SLACK_NS;

			if (g < wake)
				wake = g > now ? g : now + 1000000;
		}
		/* Idle: let go of reclaimed files (one load, mostly). */
		shmq__retain_release(c->bus);
		(void)shmq__ec_wait(ec, old, wake);
	}
}
