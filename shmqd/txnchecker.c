/*
 * txnchecker.c - shmqd's transaction checker thread (see txnchecker.h).
 *
 * State, all the thread's own:
 *   pend	the half messages read and not yet decided, by transaction
 *		key: where the record is, its store time and checks.  At
 *		most one per key (a copy replaces an older one).
 *   done	keys decided in %HALFOP% whose half message has not been
 *		read yet (decisions are often read before their half).
 *		Bounded: when full it is emptied and decisions older than
 *		the op reader are looked up in %HALFOP% instead.
 * The committed progress on %HALF% is the lowest queue offset in pend,
 * or the read position when pend is empty: everything below is decided,
 * given up, or has a newer copy above.
 *
 * Each step reads new decisions, then new half messages (waiting up to
 * the next due time for them), then acts on the due ones, then commits
 * the progress and publishes the counters.  An error closes everything
 * and starts again a second later from the committed progress.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ck_pr.h>

#include "bus.h"
#include "consumer.h"
#include "internal.h"
#include "msg.h"
#include "commitlog.h"
#include "retry.h"
#include "topic.h"
#include "txn.h"

#include "log.h"
#include "txnchecker.h"

#define STEP_MS		100	/* longest wait: stop latency, due slack */
#define IDLE_MS		200	/* no half topic yet: look again */
#define RETRY_MS	1000	/* after an error */
#define BATCH		64
#define DUE_BATCH	256	/* half messages acted on per step */
#define DONE_MAX	(1u << 18)

/* One half message waiting for its decision (pend), or a key (done). */
struct pend {
	uint64_t	key;
	uint64_t	qoff;		/* in %HALF% */
	uint64_t	log_off;
	uint64_t	store_ns;
	uint64_t	op_from;
	uint32_t	size;
	uint32_t	checks;
	uint32_t	immunity_s;
	bool		used;
};

/* Open addressing on the key, linear probing, at most half full. */
struct map {
	struct pend	*v;
	size_t		 cap;		/* power of two, or 0 */
	size_t		 n;
};

struct txnck {
	struct shmq_bus		*bus;
	struct txnchecker	*cfg;
	struct shmq_producer	*p;
	struct shmq_consumer	*hc;	/* group member on %HALF% */
	struct shmq_consumer	*oc;	/* plain, on %HALFOP%; NULL: none */
	uint64_t		 op_low; /* oc started here */
	bool			 ops_new; /* %HALFOP% made after we started */
	uint64_t		 committed;
	struct map		 pend;
	struct map		 done;
	uint64_t		 next_due_ns; /* CLOCK_REALTIME; 0: none */
	struct txnchecker	 st;	/* counters (checks .. dropped) */
};

/* ------------------------------------------------------------------ */
/* The map                                                             */
/* ------------------------------------------------------------------ */

static size_t
slot_of(const struct map *m, uint64_t key)
{
	return (size_t)shmq__hash64_end(key) & (m->cap - 1);
}

static struct pend *
map_find(struct map *m, uint64_t key)
{
	size_t i;

	if (m->n == 0)
		return NULL;
	for (i = slot_of(m, key); m->v[i].used; i = (i + 1) & (m->cap - 1))
		if (m->v[i].key == key)
			return &m->v[i];
	return NULL;
}

/* The entry of KEY, made (zeroed but for the key) if missing; NULL if no
 * memory. */
static struct pend *
map_put(struct map *m, uint64_t key)
{
	struct pend *e, *old;
	size_t i, ocap;

	if ((e = map_find(m, key)) != NULL)
		return e;
	if ((m->n + 1) * 2 > m->cap) {
		old = m->v;
		ocap = m->cap;
		m->cap = ocap == 0 ? 64 : ocap * 2;
		if ((m->v = calloc(m->cap, sizeof(*m->v))) == NULL) {
			m->v = old;
			m->cap = ocap;
			return NULL;
		}
		m->n = 0;
		for (i = 0; i < ocap; i++)
			if (old[i].used)
				*map_put(m, old[i].key) = old[i];
		free(old);
	}
	for (i = slot_of(m, key); m->v[i].used; i = (i + 1) & (m->cap - 1))
		;
	memset(&m->v[i], 0, sizeof(m->v[i]));
	m->v[i].key = key;
	m->v[i].used = true;
	m->n++;
	return &m->v[i];
}

/* Remove E, moving back the entries of its run that hashed before it. */
static void
map_del(struct map *m, struct pend *e)
{
	size_t i = (size_t)(e - m->v), j = i, k;

	m->v[i].used = false;
	m->n--;
	for (;;) {
		j = (j + 1) & (m->cap - 1);
		if (!m->v[j].used)
			return;
		k = slot_of(m, m->v[j].key);
		/* Stays if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		m->v[i] = m->v[j];
		m->v[j].used = false;
		i = j;
	}
}

static void
map_clear(struct map *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* Open and close                                                      */
/* ------------------------------------------------------------------ */

static void
ck_close(struct txnck *k)
{
	if (k == NULL)
		return;
	shmq_consumer_close(k->oc);
	shmq_consumer_close(k->hc);
	shmq_producer_close(k->p);
	map_clear(&k->pend);
	map_clear(&k->done);
	free(k);
}

/* Ready to check, or SHMQ_ENOTOPIC while no half message was ever sent. */
static int
ck_open(struct txnck **out, struct shmq_bus *bus, struct txnchecker *cfg)
{
	struct shmq_group_opts go;
	struct txnck *k;
	int err;

	if (shmq__topic_find(bus, SHMQ_HALF_TOPIC) == NULL)
		return SHMQ_ENOTOPIC;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "transaction checker");
	k->bus = bus;
	k->cfg = cfg;
	k->committed = UINT64_MAX;
	k->ops_new = shmq__topic_find(bus, SHMQ_HALF_OP_TOPIC) == NULL;
	shmq_group_opts_init(&go);
	go.start = SHMQ_SEEK_FIRST;
	go.auto_commit = 0;
	if ((err = shmq__producer_open_quiet(&k->p, bus,
	    SHMQ_TXN_CHECKER_PGROUP)) < 0 ||
	    (err = shmq_consumer_open_group(&k->hc, bus,
	    SHMQ_TXN_CHECKER_GROUP, &go)) < 0 ||
	    (err = shmq_consumer_subscribe(k->hc, SHMQ_HALF_TOPIC, NULL)) < 0) {
		ck_close(k);
		return err;
	}
	*out = k;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Decisions                                                           */
/* ------------------------------------------------------------------ */

/*
 * Follow %HALFOP% from its tail of now, once it exists (from its start if
 * it did not when we started): a decision stored below is found by a
 * lookup (pend entries whose op_from is below op_low), one above is read
 * here.
 */
static int
ops_open(struct txnck *k)
{
	uint64_t tail;
	int err;

	if (k->oc != NULL || shmq__topic_find(k->bus, SHMQ_HALF_OP_TOPIC) ==
	    NULL)
		return 0;
	tail = k->ops_new ? 0 : shmq__txn_op_tail(k->bus);
	if ((err = shmq_consumer_open(&k->oc, k->bus)) < 0)
		return err;
	if ((err = shmq_consumer_assign(k->oc, SHMQ_HALF_OP_TOPIC, 0,
	    NULL)) < 0 || (err = shmq_consumer_seek(k->oc, SHMQ_HALF_OP_TOPIC,
	    0, SHMQ_SEEK_OFFSET, tail)) < 0) {
		shmq_consumer_close(k->oc);
		k->oc = NULL;
		return err;
	}
	k->op_low = tail;
	return 0;
}

static int
ops_read(struct txnck *k)
{
	struct shmq_msgview v[BATCH];
	struct pend *e;
	const char *s;
	uint64_t key, pos;
	size_t len;
	int n, i, total = 0;

	if (k->oc == NULL)
		return 0;
	do {
		if ((n = shmq_consumer_poll(k->oc, v, BATCH, 0)) < 0)
			return n;
		for (i = 0; i < n; i++) {
			if (!shmq__txn_dec(v[i].tags, v[i].tags_len, &key))
				continue;
			s = shmq__prop_find(v[i].props, v[i].props_len,
			    SHMQ_PROP_TXN_STATE, &len);
			if (s != NULL && ((len == 6 && memcmp(s, "COMMIT",
			    6) == 0) || (len == 8 && memcmp(s, "ROLLBACK",
			    8) == 0)))
				k->st.resolved++;
			if ((e = map_find(&k->pend, key)) != NULL)
				map_del(&k->pend, e);
			else if (map_put(&k->done, key) == NULL)
				return SHMQ_ERR(SHMQ_ENOMEM, "transaction "
				    "checker");
		}
		total += n;
	} while (n == BATCH && total < 16 * BATCH);
	if (k->done.n > DONE_MAX &&
	    shmq_consumer_position(k->oc, SHMQ_HALF_OP_TOPIC, 0, &pos) == 0) {
		/* Forget them: lookups cover what is below from now on. */
		map_clear(&k->done);
		k->op_low = pos;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Half messages                                                       */
/* ------------------------------------------------------------------ */

static int
half_read(struct txnck *k, const struct shmq_msgview *v)
{
	struct shmq_txn_half h;
	struct pend *e;
	int st, r;

	if (shmq__txn_half_parse(v, &h) < 0) {
		log_warn("transaction checker: %s; passed over",
		    shmq_errmsg());
		k->st.dropped++;
		return 0;
	}
	if ((e = map_find(&k->done, h.key)) != NULL) {
		map_del(&k->done, e);
		return 0;
	}
	/* Decided before the op reader started: look it up. */
	if (k->oc == NULL || h.op_from < k->op_low) {
		if ((r = shmq__txn_op_find(k->bus, h.key, h.op_from, &st,
		    NULL)) < 0)
			return r;
		if (r == 1)
			return 0;
	}
	if ((e = map_put(&k->pend, h.key)) == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "transaction checker");
	if (e->store_ns != 0 && e->qoff > v->queue_off)
		return 0;	/* a newer copy is there already */
	e->qoff = v->queue_off;
	e->log_off = v->log_off;
	e->store_ns = v->store_ns;
	e->op_from = h.op_from;
	e->checks = h.checks;
	e->immunity_s = h.immunity_s;
	/* The views come from a checked record: its size is the encoded
	 * length, as the index entry said. */
	e->size = (uint32_t)shmq__align8(sizeof(struct shmq_rec) +
	    v->topic_len + v->tags_len + v->keys_len + v->props_len +
	    v->body_len);
	return 0;
}

static uint64_t
due_ns(const struct txnck *k, const struct pend *e)
{
	uint64_t ms = e->checks == 0 ? k->cfg->timeout_ms :
	    k->cfg->interval_ms;

	if (e->checks == 0 && (uint64_t)e->immunity_s * 1000 > ms)
		ms = (uint64_t)e->immunity_s * 1000;
	return e->store_ns + ms * 1000000ull;
}

/* Ask again: a copy at the end of %HALF%, and a request to its group. */
static int
recheck(struct txnck *k, const struct shmq_msgview *v,
    const struct shmq_txn_half *h, uint64_t op_from)
{
	struct shmq_send_result hres;
	struct shmq_txn_copy c;
	struct shmq_topic *ht, *rt;
	char key[24], opf[24], checks[16], topic[SHMQ_NAME_MAX + 1];
	int err;

	if ((err = shmq__topic_get_reserved(k->bus, SHMQ_HALF_TOPIC, 1,
	    &ht)) < 0 || (err = shmq__txn_copy(&c, v, true, 5)) < 0)
		return err;
	snprintf(key, sizeof(key), "%llu", (unsigned long long)h->key);
	snprintf(opf, sizeof(opf), "%llu", (unsigned long long)op_from);
	snprintf(checks, sizeof(checks), "%u", h->checks + 1);
	shmq__txn_copy_add(&c, SHMQ_PROP_TXN_KEY, key);
	shmq__txn_copy_add(&c, SHMQ_PROP_TXN_ID, h->txn_id);
	shmq__txn_copy_add(&c, SHMQ_PROP_TXN_OP_FROM, opf);
	shmq__txn_copy_add(&c, SHMQ_PROP_TXN_CHECKS, checks);
	c.m.topic = ht->name;
	if ((err = shmq__producer_send_to(k->p, ht, 0, &c.m, 0, &hres)) < 0)
		goto out;
	/* The request names the copy; a group too long for a check topic
	 * has no listener (shmq_producer_set_txn_checker refuses it): it
	 * is only counted down to the end. */
	if (shmq__txn_check_topic(topic, sizeof(topic), h->pgroup) == 0) {
		shmq__txn_copy_add(&c, SHMQ_PROP_TXN_HALF_ID, hres.msg_id);
		if ((err = shmq__topic_get_reserved(k->bus, topic,
		    SHMQ_TXN_CHECK_QUEUES, &rt)) < 0)
			goto out;
		c.m.topic = rt->name;
		if ((err = shmq__producer_send_to(k->p, rt, (uint32_t)(h->key %
		    rt->queues), &c.m, 0, NULL)) < 0)
			goto out;
	}
	k->st.checks++;
	log_info("transaction %s (group %s, topic %s): check %u of %u sent",
	    h->txn_id, h->pgroup, h->real_topic, h->checks + 1,
	    k->cfg->max);
out:
	shmq__txn_copy_free(&c);
	return err;
}

/* Act on due entry E: look it up, then ask or give it up. */
static int
act(struct txnck *k, struct pend *e)
{
	const struct shmq_rec *r;
	struct shmq_msgview v;
	struct shmq_txn_half h;
	uint64_t safe;
	int err, st;

	if ((r = shmq__log_record(k->bus, e->log_off, e->size, true,
	    &err)) == NULL) {
		log_warn("transaction checker: half message at %llu: %s; "
		    "passed over", (unsigned long long)e->log_off,
		    shmq_errmsg());
		k->st.dropped++;
		return 0;
	}
	shmq__msg_view(r, k->bus->store_id, &v);
	if (shmq__txn_half_parse(&v, &h) < 0) {
		k->st.dropped++;
		return 0;
	}
	/* Decided in a way the op reader missed (a decision below op_low,
	 * or one whose claim was still open when the half was read). */
	if ((err = shmq__txn_op_find(k->bus, h.key, h.op_from, &st,
	    &safe)) != 0)
		return err < 0 ? err : 0;
	if (h.checks >= k->cfg->max) {
		if ((err = shmq__txn_end_view(k->p, k->bus, &v,
		    SHMQ_TXN_DISCARD, NULL)) < 0)
			return err;
		if (err == 0) {
			k->st.discarded++;
			log_warn("transaction %s (group %s, topic %s): still "
			    "undecided after %u checks: given up, moved to %s",
			    h.txn_id, h.pgroup, h.real_topic, h.checks,
			    SHMQ_TXN_DISCARD_TOPIC);
		}
		return 0;
	}
	/* No decision below SAFE can be missed by the copy's lookups. */
	return recheck(k, &v, &h, safe == UINT64_MAX ?
	    shmq__txn_op_tail(k->bus) : safe);
}

/* Act on the due entries; set next_due_ns to the earliest left. */
static int
act_due(struct txnck *k)
{
	uint64_t keys[DUE_BATCH], now = shmq__real_ns(), d, next = 0;
	struct pend *e;
	size_t i, n = 0;
	int err;

	for (i = 0; i < k->pend.cap; i++) {
		e = &k->pend.v[i];
		if (!e->used)
			continue;
		if ((d = due_ns(k, e)) <= now && n < DUE_BATCH)
			keys[n++] = e->key;
		else if (next == 0 || d < next)
			next = d;
	}
	k->next_due_ns = next;
	for (i = 0; i < n; i++) {
		if ((e = map_find(&k->pend, keys[i])) == NULL)
			continue;
		if ((err = act(k, e)) < 0)
			return err;
		/* Handled: a copy (if any) comes back as a new entry. */
		if ((e = map_find(&k->pend, keys[i])) != NULL)
			map_del(&k->pend, e);
	}
	if (n == DUE_BATCH)
		k->next_due_ns = now;	/* more are due */
	return 0;
}

/* Commit the progress: the lowest pending offset, or the position. */
static int
commit(struct txnck *k)
{
	uint64_t low;
	size_t i;
	int err;

	if (shmq_consumer_position(k->hc, SHMQ_HALF_TOPIC, 0, &low) < 0)
		return 0;	/* not holding the queue yet */
	for (i = 0; i < k->pend.cap; i++)
		if (k->pend.v[i].used && k->pend.v[i].qoff < low)
			low = k->pend.v[i].qoff;
	if (low == k->committed)
		return 0;
	if ((err = shmq_consumer_commit(k->hc, SHMQ_HALF_TOPIC, 0, low)) < 0)
		return err;
	k->committed = low;
	return 0;
}

/* One step (see the top).  0 or a negative code. */
static int
ck_step(struct txnck *k)
{
	struct shmq_msgview v[BATCH];
	uint64_t now;
	int n, i, err, wait = STEP_MS;

	if ((err = ops_open(k)) < 0 || (err = ops_read(k)) < 0)
		return err;
	now = shmq__real_ns();
	if (k->next_due_ns != 0 && k->next_due_ns > now &&
	    k->next_due_ns - now < (uint64_t)STEP_MS * 1000000)
		wait = (int)((k->next_due_ns - now) / 1000000) + 1;
	else if (k->next_due_ns != 0 && k->next_due_ns <= now)
		wait = 0;
	if ((n = shmq_consumer_poll(k->hc, v, BATCH, wait)) < 0)
		return n;
	if (n > 0 && (err = ops_read(k)) < 0)
		return err;
	for (i = 0; i < n; i++)
		if ((err = half_read(k, &v[i])) < 0)
			return err;
	if ((err = act_due(k)) < 0)
		return err;
	return commit(k);
}

/* ------------------------------------------------------------------ */
/* The thread                                                          */
/* ------------------------------------------------------------------ */

static void
pause_ms(struct txnchecker *t, uint32_t ms)
{
	struct timespec ts = { 0, 20 * 1000000L };
	uint32_t slept;

	for (slept = 0; slept < ms && !ck_pr_load_8(&t->stop); slept += 20)
		nanosleep(&ts, NULL);
}

/* Fold the open checker's counters into the totals. */
static void
totals(struct txnchecker *t)
{
	if (t->k == NULL)
		return;
	t->checks += t->k->st.checks;
	t->discarded += t->k->st.discarded;
	t->resolved += t->k->st.resolved;
	t->dropped += t->k->st.dropped;
}

/* Publish the counters (layout.h, "Transaction checker"). */
static void
status(struct txnchecker *t)
{
	struct shmq_ctl *ctl = t->bus->ctl;
	struct txnck *k = t->k;

	ck_pr_store_64(&ctl->daemon_txn_checks, t->checks +
	    (k != NULL ? k->st.checks : 0));
	ck_pr_store_64(&ctl->daemon_txn_discarded, t->discarded +
	    (k != NULL ? k->st.discarded : 0));
	ck_pr_store_64(&ctl->daemon_txn_resolved, t->resolved +
	    (k != NULL ? k->st.resolved : 0));
	ck_pr_store_64(&ctl->daemon_txn_pending, k != NULL ? k->pend.n : 0);
}

static void *
run(void *arg)
{
	struct txnchecker *t = arg;
	int r;

	while (!ck_pr_load_8(&t->stop)) {
		if (t->k == NULL) {
			r = ck_open(&t->k, t->bus, t);
			if (r == SHMQ_ENOTOPIC) {
				pause_ms(t, IDLE_MS);
				continue;
			}
			if (r < 0) {
				log_err("transaction checker: %s",
				    shmq_errmsg());
				t->errors++;
				pause_ms(t, RETRY_MS);
				continue;
			}
			log_info("transaction checker: checking half messages "
			    "of %s (timeout %u ms, interval %u ms, at most %u "
			    "checks)", SHMQ_HALF_TOPIC, t->timeout_ms,
			    t->interval_ms, t->max);
		}
		r = ck_step(t->k);
		status(t);
		if (r < 0) {
			log_err("transaction checker: %s; starting again from "
			    "its committed progress", shmq_errmsg());
			t->errors++;
			totals(t);
			ck_close(t->k);
			t->k = NULL;
			pause_ms(t, RETRY_MS);
		}
	}
	totals(t);
	if (t->k != NULL)
		(void)commit(t->k);
	ck_close(t->k);
	t->k = NULL;
	return NULL;
}

int
txnchecker_start(struct txnchecker *t, struct shmq_bus *bus,
    uint32_t timeout_ms, uint32_t interval_ms, uint32_t max)
{
	memset(t, 0, sizeof(*t));
	t->bus = bus;
	t->timeout_ms = timeout_ms;
	t->interval_ms = interval_ms;
	t->max = max;
	status(t);
	if (pthread_create(&t->th, NULL, run, t) != 0)
		return -1;
	t->running = true;
	return 0;
}

void
txnchecker_stop(struct txnchecker *t)
{
	if (!t->running)
		return;
	ck_pr_store_8(&t->stop, 1);
	pthread_join(t->th, NULL);
	t->running = false;
	status(t);
}
