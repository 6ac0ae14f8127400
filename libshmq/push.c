/*
 * push.c - the push consumer: a group member's pull consumer (auto-commit
 * off) polled by one thread, listener calls on a pool of threads, commits
 * that never pass an unfinished message, flow control per queue, LATER,
 * and the orderly listener's one-thread-one-member rule (see shmq.h for
 * the contract and push.h for the state).
 *
 * Poller.  Polls up to 32 messages, puts each at the tail of its queue's
 * ring (where it is in the commitlog, not a copy: listener threads re-read
 * the record, so nothing is allocated per message and a message of any
 * size costs one 40-byte slot), links the queue into the runnable list,
 * and then commits, per held queue, the offset of the ring's head (the
 * lowest unfinished message), or the consumer's position when the ring is
 * empty.  A queue whose ring holds max_inflight messages is full: the
 * poller moves the consumer's position on that queue back to the first
 * message it could not take (shmq_consumer_seek), so the next poll reads
 * it again, and if a poll brought nothing but such messages it waits for
 * an answer from a listener (at most 50 ms) before polling again.
 *
 * Listener threads take a queue from the runnable list and up to batch
 * slots of it: for a concurrent listener the slots due again (LATER) then
 * the next never dispatched, leaving the queue linked while more remain,
 * so several threads run one queue; for an orderly one the slots from the
 * ring's head, with the queue marked busy (not runnable) until the answer,
 * so one thread at a time runs it, in order.  An answer marks the slots
 * done (SUCCESS) or hands them to push_later, then moves the head past
 * done slots.
 *
 * Handover.  The group code calls drop_hook (group.h) in the poller's
 * thread before it lets a queue go, after it found the queue taken over,
 * and before a reset moves the position.  For an orderly listener the hook
 * first waits for the queue's running call (the member keeps its heartbeat
 * meanwhile), so that the next owner never runs the queue while we do;
 * for a concurrent one it does not wait (the next owner may get messages
 * we are still processing: at-least-once).  On a release it commits the
 * ring's head, then forgets the queue's messages: its epoch moves, and an
 * answer for an older epoch is dropped.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commitlog.h"
#include "consumer.h"
#include "group.h"
#include "internal.h"
#include "layout.h"
#include "msg.h"
#include "push.h"
#include "retry.h"
#include "topic.h"

void
shmq_push_opts_init(struct shmq_push_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->kind = SHMQ_LISTENER_CONCURRENT;
	o->threads = 4;
	o->batch = 1;
	o->max_inflight = 1000;
	o->suspend_ms = 1000;
	o->retry_delay_ms = 5000;
	o->max_reconsume = -1;
}

static bool
orderly(const struct shmq_push *p)
{
	return p->o.kind == SHMQ_LISTENER_ORDERLY;
}

/* Wait on CV for at most MS (CLOCK_MONOTONIC: the condvars use it). */
static void
cv_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t ms)
{
	uint64_t t = shmq__mono_ns() + ms * 1000000ull;
	struct timespec ts;

	ts.tv_sec = (time_t)(t / 1000000000ull);
	ts.tv_nsec = (long)(t % 1000000000ull);
	(void)pthread_cond_timedwait(cv, mu, &ts);
}

/* ------------------------------------------------------------------ */
/* Queues and the runnable list (push->mu held)                        */
/* ------------------------------------------------------------------ */

static struct shmq_pq *
pq_of(struct shmq_push *p, const struct shmq_topic *t, uint32_t queue)
{
	size_t i;

	for (i = 0; i < p->ntopics; i++)
		if (p->topics[i]->t == t)
			return queue < p->topics[i]->nq ?
			    &p->topics[i]->pq[queue] : NULL;
	return NULL;
}

static int ptopic_add(struct shmq_push *, struct shmq_topic *,
    struct shmq_ptopic **);

/*
 * The queue of record R, which a poll returned: by the record's own topic
 * (a view of a retry shows its original topic instead), and made on
 * first sight for a topic the group follows on its own (its retry topic).
 */
static struct shmq_pq *
pq_of_rec(struct shmq_push *p, const struct shmq_rec *r)
{
	const char *name = (const char *)(r + 1);
	struct shmq_consumer *c = p->c;
	struct shmq_ptopic *pt;
	const struct shmq_topic *t;
	size_t i;

	for (i = 0; i < p->ntopics; i++) {
		t = p->topics[i]->t;
		if (t->name_len == r->topic_len &&
		    memcmp(t->name, name, r->topic_len) == 0)
			return r->queue < p->topics[i]->nq ?
			    &p->topics[i]->pq[r->queue] : NULL;
	}
	for (i = 0; i < c->nsubs; i++) {
		t = c->subs[i].t;
		if (t->name_len == r->topic_len &&
		    memcmp(t->name, name, r->topic_len) == 0) {
			if (ptopic_add(p, c->subs[i].t, &pt) < 0)
				return NULL;
			return r->queue < pt->nq ? &pt->pq[r->queue] : NULL;
		}
	}
	return NULL;
}

/* The record at commitlog offset OFF, which a poll has checked. */
static const struct shmq_rec *
rec_at(struct shmq_bus *bus, uint64_t off)
{
	char *base;
	int err;

	base = shmq__log_seg(bus, off / bus->segment_bytes, false, &err);
	return base == NULL ? NULL :
	    (const struct shmq_rec *)(const void *)(base +
	    off % bus->segment_bytes);
}

static struct shmq_pslot *
slot(struct shmq_push *p, struct shmq_pq *q, uint64_t i)
{
	return &q->ring[i & p->mask];
}

static bool
runnable(const struct shmq_push *p, const struct shmq_pq *q)
{
	if (q->ring == NULL || q->draining)
		return false;
	if (orderly(p))
		return !q->busy && q->suspend_ns == 0 && q->head < q->tail;
	return q->nredo > 0 || q->disp < q->tail;
}

/* Link Q at the tail of the runnable list if it has work and is not
 * linked (a linked queue that lost its work is skipped when popped). */
static void
maybe_link(struct shmq_push *p, struct shmq_pq *q)
{
	if (q->linked || !runnable(p, q))
		return;
	q->linked = true;
	q->next = NULL;
	if (p->run_tail != NULL)
		p->run_tail->next = q;
	else
		p->run_head = q;
	p->run_tail = q;
	pthread_cond_signal(&p->work_cv);
}

static struct shmq_pq *
run_pop(struct shmq_push *p)
{
	struct shmq_pq *q = p->run_head;

	if (q == NULL)
		return NULL;
	p->run_head = q->next;
	if (p->run_head == NULL)
		p->run_tail = NULL;
	q->next = NULL;
	q->linked = false;
	return q;
}

/* Move Q's head past finished slots. */
static void
advance(struct shmq_push *p, struct shmq_pq *q)
{
	struct shmq_pslot *s;

	while (q->head < q->tail && (s = slot(p, q, q->head))->state ==
	    PS_DONE) {
		s->state = PS_FREE;
		q->head++;
	}
}

/* Forget Q's messages: answers of calls still running are dropped. */
static void
pq_forget(struct shmq_push *p, struct shmq_pq *q)
{
	p->nretry -= q->nretry;
	q->nretry = 0;
	q->epoch++;
	q->head = q->disp = q->tail;
	q->nredo = 0;
	q->nwait = 0;
	q->running = 0;
	q->busy = false;
	q->suspend_ns = 0;
}

static int
ring_alloc(struct shmq_push *p, struct shmq_pq *q)
{
	q->ring = calloc(p->mask + 1, sizeof(*q->ring));
	q->redo = calloc(p->mask + 1, sizeof(*q->redo));
	if (q->ring == NULL || q->redo == NULL) {
		free(q->ring);
		free(q->redo);
		q->ring = NULL;
		q->redo = NULL;
		return SHMQ_ERR(SHMQ_ENOMEM, "push consumer: queue ring");
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Listener threads                                                    */
/* ------------------------------------------------------------------ */

/* Take up to batch slots of Q for W (see the top).  Returns how many. */
static size_t
take(struct shmq_push *p, struct shmq_pq *q, struct shmq_pworker *w)
{
	struct shmq_pslot *s;
	size_t n = 0;
	uint64_t i;
	uint32_t k;

	if (!runnable(p, q))
		return 0;
	if (orderly(p)) {
		for (i = q->head; i < q->tail && n < p->o.batch; i++) {
			s = slot(p, q, i);
			if (s->state != PS_READY)
				continue;	/* done: given up, unreadable */
			s->state = PS_RUN;
			w->idx[n] = (uint32_t)(i & p->mask);
			w->copy[n++] = *s;
		}
		if (n == 0)
			return 0;
		q->busy = true;
	} else {
		while (q->nredo > 0 && n < p->o.batch) {
			k = q->redo[--q->nredo];
			s = &q->ring[k];
			s->state = PS_RUN;
			w->idx[n] = k;
			w->copy[n++] = *s;
		}
		while (q->disp < q->tail && n < p->o.batch) {
			s = slot(p, q, q->disp);
			s->state = PS_RUN;
			w->idx[n] = (uint32_t)(q->disp & p->mask);
			w->copy[n++] = *s;
			q->disp++;
		}
	}
	q->running++;
	w->q = q;
	w->epoch = q->epoch;
	p->st.delivered += n;
	/* More for another thread (concurrent). */
	maybe_link(p, q);
	return n;
}

/*
 * The listener answered LATER for W's N slots of Q.  What LATER means is
 * decided here (and in retry_flush) alone:
 *  - concurrent, clustering: the poller sends each message to the group's
 *    retry topic (shmq_consumer_retry: durable, growing delays, then the
 *    dead-letter topic), and the slot is done once it is there; if that
 *    fails, as RocketMQ does when its send-back fails:
 *  - concurrent, otherwise: the message is due again retry_delay_ms from
 *    now, in this process (not durable: the slot pins the queue's
 *    committed offset, so a crash has the next owner deliver it again,
 *    with the attempt count starting over);
 *  - orderly: the messages stay at the head and the queue is suspended
 *    for suspend_ms, then they are delivered again, in order.
 * A message kept here that had max_reconsume attempts after its first is
 * given up (counted in gave_up).
 */
static void
push_later(struct shmq_push *p, struct shmq_pq *q, struct shmq_pworker *w,
    size_t n)
{
	uint64_t now = shmq__mono_ns(), due;
	struct shmq_pslot *s;
	bool again = false;
	size_t i;

	for (i = 0; i < n; i++) {
		s = &q->ring[w->idx[i]];
		if (w->copy[i].bad) {
			s->state = PS_DONE;
			continue;
		}
		p->st.later++;
		if (p->max_reconsume != UINT32_MAX &&
		    (orderly(p) || s->local) &&
		    s->reconsume >= p->max_reconsume) {
			s->state = PS_DONE;
			p->st.gave_up++;
			continue;
		}
		if (orderly(p)) {
			s->reconsume++;
			s->state = PS_READY;
			again = true;
			continue;
		}
		if (p->c->grp->model == SHMQ_GROUP_CLUSTERING &&
		    !s->local) {
			/* To the group's retry topic, by the poller. */
			s->state = PS_RETRY;
			q->nretry++;
			p->nretry++;
			continue;
		}
		s->reconsume++;
		s->state = PS_WAIT;
		s->due_ns = now + (uint64_t)p->o.retry_delay_ms * 1000000ull;
		q->nwait++;
		if (s->due_ns < p->next_due_ns)
			p->next_due_ns = s->due_ns;
	}
	if (orderly(p) && again) {
		due = now + (uint64_t)p->o.suspend_ms * 1000000ull;
		q->suspend_ns = due;
		if (due < p->next_due_ns)
			p->next_due_ns = due;
	}
}

/* Record the answer RC of W's call on N slots (push->mu held). */
static void
answer(struct shmq_push *p, struct shmq_pworker *w, size_t n, int rc)
{
	struct shmq_pq *q = w->q;
	size_t i;

	if (q->epoch != w->epoch)
		return;			/* the queue was dropped meanwhile */
	q->running--;
	if (rc == SHMQ_CONSUME_SUCCESS) {
		for (i = 0; i < n; i++) {
			q->ring[w->idx[i]].state = PS_DONE;
			if (!w->copy[i].bad)
				p->st.succeeded++;
		}
	} else
		push_later(p, q, w, n);
	q->busy = false;
	advance(p, q);
	maybe_link(p, q);
	if (p->waiting)
		pthread_cond_broadcast(&p->done_cv);
}

/* Views of W's N slots into w->views (outside the lock).  A record that
 * fails its checks is marked bad and left out.  Returns how many. */
static size_t
views(struct shmq_push *p, struct shmq_pworker *w, size_t n)
{
	const struct shmq_rec *r;
	size_t i, k = 0;
	int err;

	for (i = 0; i < n; i++) {
		r = shmq__log_record(p->bus, w->copy[i].log_off,
		    w->copy[i].size, false, &err);
		w->copy[i].bad = r == NULL;
		if (r == NULL)
			continue;
		shmq__msg_view(r, p->bus->store_id, &w->views[k]);
		/* As the pull consumer shows it: a retry's original topic. */
		if (r->topic_len > strlen(SHMQ_RETRY_PREFIX) &&
		    memcmp(r + 1, SHMQ_RETRY_PREFIX,
		    strlen(SHMQ_RETRY_PREFIX)) == 0)
			shmq__retry_view_topic(&w->views[k]);
		w->views[k].reconsume += w->copy[i].reconsume;
		k++;
	}
	return k;
}

static void *
worker_main(void *arg)
{
	struct shmq_pworker *w = arg;
	struct shmq_push *p = w->p;
	struct shmq_pq *q;
	size_t n, k, i;
	int rc;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stopping && p->run_head == NULL)
			pthread_cond_wait(&p->work_cv, &p->mu);
		if (p->stopping)
			break;
		q = run_pop(p);
		if ((n = take(p, q, w)) == 0)
			continue;
		pthread_mutex_unlock(&p->mu);
		k = views(p, w, n);
		rc = k > 0 ? p->cb(p->arg, w->views, k) : SHMQ_CONSUME_SUCCESS;
		pthread_mutex_lock(&p->mu);
		for (i = 0; i < n; i++)
			if (w->copy[i].bad)
				p->st.unreadable++;
		answer(p, w, n, rc);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Poller                                                              */
/* ------------------------------------------------------------------ */

/* Commit OFF for S unless the queue is no longer ours or met another
 * writer (as shmq_consumer_commit; the next generation sorts it out). */
static void
commit_sub(struct shmq_push *p, struct sub *s, uint64_t off)
{
	struct shmq_cgroup *cg = p->c->grp;
	uint64_t w;

	if (s->committed == SHMQ_COMMIT_CONFLICT ||
	    off == shmq__commit_off(s->committed))
		return;
	if (cg->model == SHMQ_GROUP_CLUSTERING &&
	    ck_pr_load_64(&s->gq->owner) != cg->token)
		return;
	w = shmq__commit_with(s->committed, off);
	if (ck_pr_cas_64(&s->gq->committed, s->committed, w))
		s->committed = w;
	else {
		s->committed = SHMQ_COMMIT_CONFLICT;
		cg->need_slow = true;
	}
}

/* The offset S may commit: Q's lowest unfinished message, else the
 * position. */
static uint64_t
commit_point(struct shmq_push *p, struct shmq_pq *q, const struct sub *s)
{
	if (q != NULL && q->head < q->tail)
		return slot(p, q, q->head)->queue_off;
	return s->pos;
}

/* Commit every held queue; true if any has unfinished messages. */
static bool
commit_all(struct shmq_push *p)
{
	struct shmq_consumer *c = p->c;
	struct shmq_pq *q;
	struct sub *s;
	bool busy = false;
	size_t i;

	for (i = 0; i < c->nsubs; i++) {
		s = &c->subs[i];
		q = pq_of(p, s->t, s->cq->queue);
		if (q != NULL && q->head < q->tail)
			busy = true;
		commit_sub(p, s, commit_point(p, q, s));
	}
	p->st.queues = (uint32_t)c->nsubs;
	return busy;
}

/* Put the N polled views into their rings; true if any was taken.
 * *full: a queue was full (its position was moved back). */
static bool
accept(struct shmq_push *p, size_t n, bool *full)
{
	const struct shmq_msgview *v;
	const struct shmq_rec *r;
	struct shmq_pslot *s;
	struct shmq_pq *q;
	bool took = false;
	uint64_t held;
	size_t i;

	p->round++;
	for (i = 0; i < n; i++) {
		v = &p->views[i];
		if ((r = rec_at(p->bus, v->log_off)) == NULL ||
		    (q = pq_of_rec(p, r)) == NULL ||
		    q->full_round == p->round)
			continue;
		if ((q->ring == NULL && ring_alloc(p, q) < 0) ||
		    q->tail - q->head >= p->o.max_inflight) {
			/* Read it again once there is room. */
			q->full_round = p->round;
			(void)shmq_consumer_seek(p->c, q->pt->t->name,
			    (int)q->queue, SHMQ_SEEK_OFFSET, r->queue_off);
			p->st.flow_paused++;
			*full = true;
			continue;
		}
		s = slot(p, q, q->tail);
		s->queue_off = r->queue_off;
		s->log_off = v->log_off;
		s->size = r->size;
		s->reconsume = 0;
		s->local = 0;
		s->bad = 0;
		s->state = PS_READY;
		q->tail++;
		held = q->tail - q->head;
		if (held > p->st.max_inflight_seen)
			p->st.max_inflight_seen = (uint32_t)held;
		maybe_link(p, q);
		took = true;
	}
	return took;
}

/*
 * Send the slots that push_later marked PS_RETRY to the group's retry
 * topic (the consumer is the poller's alone).  A slot whose send fails is
 * kept here instead (push_later's local path).
 */
static void
retry_flush(struct shmq_push *p)
{
	const struct shmq_rec *r;
	struct shmq_msgview v;
	struct shmq_pslot *s;
	struct shmq_pq *q;
	size_t ti, k;
	uint64_t i;
	int err;

	for (ti = 0; p->nretry > 0 && ti < p->ntopics; ti++) {
		for (k = 0; k < p->topics[ti]->nq; k++) {
			q = &p->topics[ti]->pq[k];
			for (i = q->head; q->nretry > 0 && i < q->tail; i++) {
				s = slot(p, q, i);
				if (s->state != PS_RETRY)
					continue;
				q->nretry--;
				p->nretry--;
				r = shmq__log_record(p->bus, s->log_off,
				    s->size, false, &err);
				if (r != NULL) {
					shmq__msg_view(r, p->bus->store_id,
					    &v);
					/* 0: stored for a retry; 1: in the
					 * dead-letter topic. */
					if ((err = shmq_consumer_retry(p->c,
					    &v, 0)) >= 0) {
						if (err == 1)
							p->st.gave_up++;
						s->state = PS_DONE;
						continue;
					}
				}
				s->local = 1;
				s->reconsume++;
				s->state = PS_WAIT;
				s->due_ns = shmq__mono_ns() +
				    (uint64_t)p->o.retry_delay_ms * 1000000ull;
				q->nwait++;
				if (s->due_ns < p->next_due_ns)
					p->next_due_ns = s->due_ns;
			}
			advance(p, q);
		}
	}
}

/* Retries and suspensions that are due (see push_later). */
static void
due_scan(struct shmq_push *p, uint64_t now)
{
	struct shmq_pslot *s;
	struct shmq_pq *q;
	size_t ti, k;
	uint64_t i;

	if (now < p->next_due_ns)
		return;
	p->next_due_ns = UINT64_MAX;
	for (ti = 0; ti < p->ntopics; ti++) {
		for (k = 0; k < p->topics[ti]->nq; k++) {
			q = &p->topics[ti]->pq[k];
			if (q->ring == NULL)
				continue;
			if (orderly(p)) {
				if (q->suspend_ns == 0)
					continue;
				if (q->suspend_ns <= now) {
					q->suspend_ns = 0;
					maybe_link(p, q);
				} else if (q->suspend_ns < p->next_due_ns)
					p->next_due_ns = q->suspend_ns;
				continue;
			}
			for (i = q->head; q->nwait > 0 && i < q->tail; i++) {
				s = slot(p, q, i);
				if (s->state != PS_WAIT)
					continue;
				if (s->due_ns > now) {
					if (s->due_ns < p->next_due_ns)
						p->next_due_ns = s->due_ns;
					continue;
				}
				s->state = PS_READY;
				q->redo[q->nredo++] = (uint32_t)(i & p->mask);
				q->nwait--;
			}
			maybe_link(p, q);
		}
	}
}

static void *
poller_main(void *arg)
{
	struct shmq_push *p = arg;
	int n, timeout = SHMQ_PUSH_IDLE_POLL_MS;
	bool full, took, busy;
	uint64_t now;

	for (;;) {
		n = shmq_consumer_poll(p->c, p->views, SHMQ_PUSH_PULL_BATCH,
		    timeout);
		pthread_mutex_lock(&p->mu);
		full = false;
		took = false;
		/* Even when stopping: the position is past these now, so
		 * they must be in the rings to hold the commit back. */
		if (n < 0)
			p->st.poll_errors++;
		else
			took = accept(p, (size_t)n, &full);
		if (p->stopping) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		retry_flush(p);
		now = shmq__mono_ns();
		due_scan(p, now);
		busy = commit_all(p);
		if (n < 0 || (full && !took)) {
			/* Every queue we read is full (or the poll failed):
			 * wait for an answer rather than read again. */
			p->waiting = true;
			cv_wait_ms(&p->done_cv, &p->mu, n < 0 ? 100 :
			    SHMQ_PUSH_FLOW_PAUSE_MS);
			p->waiting = false;
		}
		timeout = busy ? SHMQ_PUSH_BUSY_POLL_MS :
		    SHMQ_PUSH_IDLE_POLL_MS;
		if (p->next_due_ns != UINT64_MAX) {
			uint64_t ms = p->next_due_ns > now ?
			    (p->next_due_ns - now) / 1000000 + 1 : 0;

			if (ms < (uint64_t)timeout)
				timeout = (int)ms;
		}
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

/* The member keeps its heartbeat while it waits in drop_hook. */
static void
beat(struct shmq_push *p)
{
	uint64_t now = shmq__coarse_ms();

	p->c->grp->beat_ms = now;
	ck_pr_store_64(&p->c->slot->beat_ms, now);
}

/* group.h's drop_hook: see the top. */
static void
drop_hook(void *arg, struct sub *s, int why)
{
	struct shmq_push *p = arg;
	struct shmq_pq *q;
	uint64_t end;

	pthread_mutex_lock(&p->mu);
	if ((q = pq_of(p, s->t, s->cq->queue)) == NULL) {
		/* Nothing of it polled yet, or only filtered out. */
		if (why == SHMQ_DROP_RELEASE)
			commit_sub(p, s, s->pos);
		pthread_mutex_unlock(&p->mu);
		return;
	}
	if (orderly(p) && q->running > 0) {
		end = shmq__mono_ns() + SHMQ_PUSH_DRAIN_MAX_MS * 1000000ull;
		q->draining = true;
		while (q->running > 0 && shmq__mono_ns() < end) {
			p->waiting = true;
			cv_wait_ms(&p->done_cv, &p->mu, 20);
			p->waiting = false;
			beat(p);
		}
		q->draining = false;
	}
	if (why == SHMQ_DROP_RELEASE)
		commit_sub(p, s, commit_point(p, q, s));
	pq_forget(p, q);
	pthread_mutex_unlock(&p->mu);
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */
/* ------------------------------------------------------------------ */

/* Add topic T's queues (push->mu held, or no other thread yet). */
static int
ptopic_add(struct shmq_push *p, struct shmq_topic *t, struct shmq_ptopic **out)
{
	struct shmq_ptopic *pt, **nt;
	uint32_t k;

	nt = reallocarray(p->topics, p->ntopics + 1, sizeof(*nt));
	if (nt == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "push consumer: topic");
	p->topics = nt;
	if ((pt = calloc(1, sizeof(*pt))) == NULL ||
	    (pt->pq = calloc(t->queues, sizeof(*pt->pq))) == NULL) {
		free(pt);
		return SHMQ_ERR(SHMQ_ENOMEM, "push consumer: topic");
	}
	pt->t = t;
	pt->nq = t->queues;
	for (k = 0; k < pt->nq; k++) {
		pt->pq[k].pt = pt;
		pt->pq[k].queue = k;
	}
	p->topics[p->ntopics++] = pt;
	*out = pt;
	return 0;
}

static uint64_t
pow2_at_least(uint64_t v)
{
	uint64_t r = 1;

	while (r < v)
		r <<= 1;
	return r;
}

int
shmq_push_open(struct shmq_push **out, struct shmq_bus *bus,
    const char *group, const struct shmq_group_opts *gopts,
    const struct shmq_push_opts *popts)
{
	struct shmq_push_opts def;
	struct shmq_group_opts g;
	pthread_condattr_t ca;
	struct shmq_push *p;
	int err;

	if (out == NULL || bus == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "push consumer: no bus");
	if (popts == NULL) {
		shmq_push_opts_init(&def);
		popts = &def;
	}
	if (popts->kind != SHMQ_LISTENER_CONCURRENT &&
	    popts->kind != SHMQ_LISTENER_ORDERLY)
		return SHMQ_ERR(SHMQ_EINVAL, "push consumer: listener kind %d",
		    popts->kind);
	if (popts->threads == 0 || popts->threads > SHMQ_PUSH_MAX_THREADS)
		return SHMQ_ERR(SHMQ_EINVAL, "push consumer: %u threads (1 to "
		    "%u)", popts->threads, SHMQ_PUSH_MAX_THREADS);
	if (popts->max_inflight == 0 ||
	    popts->max_inflight > SHMQ_PUSH_MAX_INFLIGHT)
		return SHMQ_ERR(SHMQ_EINVAL, "push consumer: max_inflight %u "
		    "(1 to %u)", popts->max_inflight, SHMQ_PUSH_MAX_INFLIGHT);
	if (popts->batch == 0 || popts->batch > popts->max_inflight)
		return SHMQ_ERR(SHMQ_EINVAL, "push consumer: batch %u (1 to "
		    "max_inflight, %u)", popts->batch, popts->max_inflight);
	if (popts->max_reconsume < -1)
		return SHMQ_ERR(SHMQ_EINVAL, "push consumer: max_reconsume %d",
		    popts->max_reconsume);
	if (gopts != NULL)
		g = *gopts;
	else
		shmq_group_opts_init(&g);
	g.auto_commit = 0;		/* commits are ours (see the top) */

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "push consumer");
	p->bus = bus;
	p->o = *popts;
	p->max_reconsume = popts->max_reconsume >= 0 ?
	    (uint32_t)popts->max_reconsume : popts->kind ==
	    SHMQ_LISTENER_ORDERLY ? UINT32_MAX : 16;
	p->mask = pow2_at_least(popts->max_inflight) - 1;
	p->next_due_ns = UINT64_MAX;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->work_cv, &ca);
	pthread_cond_init(&p->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((err = shmq_consumer_open_group(&p->c, bus, group, &g)) < 0) {
		pthread_cond_destroy(&p->work_cv);
		pthread_cond_destroy(&p->done_cv);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return err;
	}
	p->c->grp->drop_arg = p;
	p->c->grp->drop_hook = drop_hook;
	*out = p;
	return 0;
}

int
shmq_push_subscribe(struct shmq_push *p, const char *topic, const char *expr)
{
	struct shmq_ptopic *pt = NULL;
	struct shmq_topic *t;
	size_t i;
	int err;

	if (p == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "push subscribe: no consumer");
	if (p->started || p->stopped)
		return SHMQ_ERR(SHMQ_EBUSY, "push subscribe: after start");
	if ((err = shmq__topic_get(p->bus, topic, false, 0, &t)) < 0)
		return err;
	for (i = 0; i < p->ntopics; i++)
		if (p->topics[i]->t == t)
			pt = p->topics[i];
	if (pt == NULL) {
		/* Before the group's subscribe: its rebalance may call the
		 * hook for this topic's queues. */
		pthread_mutex_lock(&p->mu);
		err = ptopic_add(p, t, &pt);
		pthread_mutex_unlock(&p->mu);
		if (err < 0)
			return err;
		if ((err = shmq_consumer_subscribe(p->c, topic, expr)) < 0) {
			pthread_mutex_lock(&p->mu);
			p->ntopics--;
			pthread_mutex_unlock(&p->mu);
			free(pt->pq);
			free(pt);
		}
		return err;
	}
	return shmq_consumer_subscribe(p->c, topic, expr);
}

static void stop_threads(struct shmq_push *p);

int
shmq_push_start(struct shmq_push *p, shmq_listener_cb listener, void *arg)
{
	struct shmq_pworker *w;
	unsigned i;
	int err;

	if (p == NULL || listener == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "push start: no %s",
		    p == NULL ? "consumer" : "listener");
	if (p->started || p->stopped)
		return SHMQ_ERR(SHMQ_EBUSY, "push start: started before");
	if (p->ntopics == 0)
		return SHMQ_ERR(SHMQ_EINVAL, "push start: no topic subscribed");
	p->cb = listener;
	p->arg = arg;
	if ((p->w = calloc(p->o.threads, sizeof(*p->w))) == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "push start");
	for (i = 0; i < p->o.threads; i++) {
		w = &p->w[i];
		w->p = p;
		w->idx = calloc(p->o.batch, sizeof(*w->idx));
		w->copy = calloc(p->o.batch, sizeof(*w->copy));
		w->views = calloc(p->o.batch, sizeof(*w->views));
		if (w->idx == NULL || w->copy == NULL || w->views == NULL) {
			err = SHMQ_ERR(SHMQ_ENOMEM, "push start");
			goto fail;
		}
	}
	p->started = true;
	for (i = 0; i < p->o.threads; i++) {
		if ((err = pthread_create(&p->w[i].thr, NULL, worker_main,
		    &p->w[i])) != 0) {
			err = SHMQ_ERR(-err, "push start: listener thread");
			goto fail;
		}
		p->w[i].started = true;
	}
	if ((err = pthread_create(&p->poller, NULL, poller_main, p)) != 0) {
		err = SHMQ_ERR(-err, "push start: poller thread");
		goto fail;
	}
	p->poller_started = true;
	return 0;
fail:
	stop_threads(p);
	p->started = false;
	p->stopping = false;
	for (i = 0; i < p->o.threads; i++) {
		free(p->w[i].idx);
		free(p->w[i].copy);
		free(p->w[i].views);
	}
	free(p->w);
	p->w = NULL;
	return err;
}

/* Tell the threads to stop and wait for them (listener calls finish). */
static void
stop_threads(struct shmq_push *p)
{
	unsigned i;

	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->work_cv);
	pthread_cond_broadcast(&p->done_cv);
	pthread_mutex_unlock(&p->mu);
	if (p->poller_started)
		pthread_join(p->poller, NULL);
	p->poller_started = false;
	for (i = 0; p->w != NULL && i < p->o.threads; i++) {
		if (p->w[i].started)
			pthread_join(p->w[i].thr, NULL);
		p->w[i].started = false;
	}
}

int
shmq_push_stop(struct shmq_push *p)
{
	unsigned i;

	if (p == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "push stop: no consumer");
	if (p->stopped)
		return 0;
	for (i = 0; p->w != NULL && i < p->o.threads; i++)
		if (p->w[i].started &&
		    pthread_equal(p->w[i].thr, pthread_self()))
			return SHMQ_ERR(SHMQ_EINVAL, "push stop: called from "
			    "a listener");
	stop_threads(p);
	/* Every call has answered: closing commits each queue's lowest
	 * unfinished message (drop_hook) and leaves the group. */
	shmq_consumer_close(p->c);
	p->c = NULL;
	p->stopped = true;
	return 0;
}

void
shmq_push_close(struct shmq_push *p)
{
	size_t i;

	if (p == NULL)
		return;
	if (shmq_push_stop(p) < 0)
		return;			/* from a listener: leak, not hang */
	for (i = 0; i < p->ntopics; i++) {
		uint32_t k;

		for (k = 0; k < p->topics[i]->nq; k++) {
			free(p->topics[i]->pq[k].ring);
			free(p->topics[i]->pq[k].redo);
		}
		free(p->topics[i]->pq);
		free(p->topics[i]);
	}
	free(p->topics);
	for (i = 0; p->w != NULL && i < p->o.threads; i++) {
		free(p->w[i].idx);
		free(p->w[i].copy);
		free(p->w[i].views);
	}
	free(p->w);
	pthread_cond_destroy(&p->work_cv);
	pthread_cond_destroy(&p->done_cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int
shmq_push_stats(struct shmq_push *p, struct shmq_push_stats *st)
{
	if (p == NULL || st == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "push stats: bad arguments");
	pthread_mutex_lock(&p->mu);
	*st = p->st;
	pthread_mutex_unlock(&p->mu);
	return 0;
}
