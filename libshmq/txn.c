/*
 * txn.c - transactional messages, the library side (txn.h has the
 * topics, keys and decision rules; shmq.h the contract): the half
 * message send, decisions, their lookup, and the check-back listener
 * that answers shmqd's checker (shmqd/txnchecker.c) in a producer.
 *
 * Everything read back (half records, requests, decisions) comes from
 * the store or from topics any process may write to: each property is
 * bounded and parsed with checks, and a bad record is an error for that
 * record only.
 *
 * The listener is a thread per producer that set a checker, polling the
 * group's check topic as a member of its clustering group (group.c
 * moves a dead member's queues to a live one).  It looks a request's
 * transaction up before asking, so requests that waited while the
 * transaction was decided meanwhile are dropped without a call.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commitlog.h"
#include "consumequeue.h"
#include "delay.h"
#include "forward.h"
#include "internal.h"
#include "msg.h"
#include "retry.h"
#include "topic.h"
#include "txn.h"

#define LISTEN_BATCH	16
#define LISTEN_POLL_MS	100	/* longest wait in a poll: stop latency */

static const char *const state_names[] = { "COMMIT", "ROLLBACK", "UNKNOWN",
    "DISCARD" };

/* ------------------------------------------------------------------ */
/* Properties                                                          */
/* ------------------------------------------------------------------ */

/* Properties every copy sets anew (never copied). */
static const char *const per_copy[] = { SHMQ_PROP_TXN_KEY,
    SHMQ_PROP_TXN_OP_FROM, SHMQ_PROP_TXN_HALF_ID, SHMQ_PROP_TXN_CHECKS,
    SHMQ_PROP_TXN_ID, SHMQ_PROP_TXN_STATE };
/* Where the message goes: kept in half copies, dropped on commit. */
static const char *const routing[] = { SHMQ_PROP_REAL_TOPIC,
    SHMQ_PROP_REAL_QID, SHMQ_PROP_PGROUP, SHMQ_PROP_TRAN_MSG };

static bool
in_list(const char *const *list, size_t n, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(list[i]) == len && memcmp(list[i], name, len) == 0)
			return true;
	return false;
}

/* A name the system sets: never taken from a user or a copy. */
static bool
system_name(const char *name, size_t len, bool keep_routing)
{
	return in_list(per_copy, sizeof(per_copy) / sizeof(per_copy[0]),
	    name, len) || (!keep_routing && in_list(routing,
	    sizeof(routing) / sizeof(routing[0]), name, len));
}

/* The next "name\1value\2" of [*P, END): false at the end or a bad one. */
static bool
next_prop(const char **p, const char *end, const char **name, size_t *nl,
    const char **val, size_t *vl)
{
	const char *sep, *stop;

	if (*p >= end || (sep = memchr(*p, '\1', (size_t)(end - *p))) ==
	    NULL || (stop = memchr(sep + 1, '\2', (size_t)(end - sep - 1))) ==
	    NULL)
		return false;
	*name = *p;
	*nl = (size_t)(sep - *p);
	*val = sep + 1;
	*vl = (size_t)(stop - sep - 1);
	*p = stop + 1;
	return true;
}

/* BUF gets S[0..N) and a NUL; returns the byte after. */
static char *
put(char *buf, const char *s, size_t n)
{
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf + n + 1;
}

int
shmq__txn_copy(struct shmq_txn_copy *c, const struct shmq_msgview *v,
    bool keep, size_t extra)
{
	const char *p = v->props, *end = v->props + v->props_len, *n, *val;
	size_t nl, vl;
	char *b;

	memset(c, 0, sizeof(*c));
	shmq_msg_init(&c->m);
	/* A property takes at least two bytes encoded ("\1\2"), and as many
	 * NUL-terminated: the sizes below always suffice. */
	c->props = calloc(v->props_len / 2 + extra + 1, sizeof(*c->props));
	c->buf = malloc(v->props_len + v->tags_len + v->keys_len + 2);
	if (c->props == NULL || c->buf == NULL) {
		shmq__txn_copy_free(c);
		return SHMQ_ERR(SHMQ_ENOMEM, "transaction: copy");
	}
	b = c->buf;
	while (next_prop(&p, end, &n, &nl, &val, &vl)) {
		if (system_name(n, nl, keep))
			continue;
		c->props[c->m.nprops].name = b;
		b = put(b, n, nl);
		c->props[c->m.nprops++].value = b;
		b = put(b, val, vl);
	}
	if (v->tags_len > 0) {
		c->m.tags = b;
		b = put(b, v->tags, v->tags_len);
	}
	if (v->keys_len > 0) {
		c->m.keys = b;
		b = put(b, v->keys, v->keys_len);
	}
	c->m.props = c->props;
	c->m.body = v->body;
	c->m.body_len = v->body_len;
	return 0;
}

void
shmq__txn_copy_free(struct shmq_txn_copy *c)
{
	free(c->props);
	free(c->buf);
	c->props = NULL;
	c->buf = NULL;
}

bool
shmq__txn_dec(const char *s, size_t len, uint64_t *out)
{
	char buf[20];

	/* Nineteen digits always fit 64 bits. */
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strspn(buf, "0123456789") != len)
		return false;
	*out = strtoull(buf, NULL, 10);
	return true;
}

bool
shmq__txn_prop_u64(const struct shmq_msgview *v, const char *name,
    uint64_t *out)
{
	const char *s;
	size_t len;

	return (s = shmq__prop_find(v->props, v->props_len, name, &len)) !=
	    NULL && shmq__txn_dec(s, len, out);
}

/* Property NAME of V as a name (the name rule) into BUF; false if not. */
static bool
prop_name(const struct shmq_msgview *v, const char *name, char *buf)
{
	const char *s;
	size_t len;

	if ((s = shmq__prop_find(v->props, v->props_len, name, &len)) ==
	    NULL || len == 0 || len > SHMQ_NAME_MAX)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return shmq__name_ok(buf);
}

static bool
view_topic_is(const struct shmq_msgview *v, const char *topic)
{
	return v->topic_len == strlen(topic) &&
	    memcmp(v->topic, topic, v->topic_len) == 0;
}

int
shmq__txn_half_parse(const struct shmq_msgview *v, struct shmq_txn_half *h)
{
	const char *s;
	size_t len;
	uint64_t x;

	memset(h, 0, sizeof(*h));
	h->real_qid = -1;
	if (!prop_name(v, SHMQ_PROP_REAL_TOPIC, h->real_topic) ||
	    h->real_topic[0] == '%')
		return SHMQ_ERR(SHMQ_ECORRUPT, "transaction message %s: no "
		    "valid %s", v->msg_id, SHMQ_PROP_REAL_TOPIC);
	if (!prop_name(v, SHMQ_PROP_PGROUP, h->pgroup))
		return SHMQ_ERR(SHMQ_ECORRUPT, "transaction message %s: no "
		    "valid %s", v->msg_id, SHMQ_PROP_PGROUP);
	if (shmq__txn_prop_u64(v, SHMQ_PROP_TXN_KEY, &h->key)) {
		/* A copy: the first half's id comes with the key. */
		if ((s = shmq__prop_find(v->props, v->props_len,
		    SHMQ_PROP_TXN_ID, &len)) == NULL || len != SHMQ_MSGID_LEN)
			return SHMQ_ERR(SHMQ_ECORRUPT, "transaction message "
			    "%s: a key but no id", v->msg_id);
		memcpy(h->txn_id, s, len);
		h->txn_id[len] = '\0';
	} else if (view_topic_is(v, SHMQ_HALF_TOPIC)) {
		h->key = v->queue_off;
		memcpy(h->txn_id, v->msg_id, sizeof(h->txn_id));
	} else
		return SHMQ_ERR(SHMQ_ECORRUPT, "transaction message %s: no "
		    "%s", v->msg_id, SHMQ_PROP_TXN_KEY);
	if (shmq__txn_prop_u64(v, SHMQ_PROP_TXN_OP_FROM, &x))
		h->op_from = x;
	if (shmq__txn_prop_u64(v, SHMQ_PROP_TXN_CHECKS, &x))
		h->checks = x > UINT32_MAX ? UINT32_MAX : (uint32_t)x;
	if (shmq__txn_prop_u64(v, SHMQ_PROP_TXN_IMMUNITY, &x))
		h->immunity_s = x > 86400 * 30 ? 86400 * 30 : (uint32_t)x;
	if (shmq__txn_prop_u64(v, SHMQ_PROP_REAL_QID, &x) && x < 1024)
		h->real_qid = (int)x;
	return 0;
}

int
shmq__txn_check_topic(char *buf, size_t len, const char *group)
{
	if ((size_t)snprintf(buf, len, "%s%s", SHMQ_TXN_CHECK_PREFIX, group) >=
	    len || strlen(buf) > SHMQ_NAME_MAX)
		return SHMQ_ERR(SHMQ_ENAME, "producer group \"%s\": too long "
		    "for its check topic (at most %d characters)", group,
		    SHMQ_NAME_MAX - (int)strlen(SHMQ_TXN_CHECK_PREFIX));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Decisions                                                           */
/* ------------------------------------------------------------------ */

uint64_t
shmq__txn_op_tail(struct shmq_bus *bus)
{
	struct shmq_topic *t = shmq__topic_find(bus, SHMQ_HALF_OP_TOPIC);

	return t == NULL || t->queues < 1 ? 0 : shmq__cq_tail(&t->cq[0]);
}

int
shmq__txn_op_find(struct shmq_bus *bus, uint64_t key, uint64_t from,
    int *state, uint64_t *safe)
{
	struct shmq_topic *t = shmq__topic_find(bus, SHMQ_HALF_OP_TOPIC);
	const struct shmq_cq_entry *e;
	const struct shmq_rec *r;
	struct shmq_msgview v;
	struct shmq_cq *cq;
	const char *s;
	char ks[24];
	size_t klen, len, i;
	uint64_t off, min, st;
	uint32_t h;
	int err;

	if (safe != NULL)
		*safe = UINT64_MAX;
	if (t == NULL || t->queues < 1)
		return 0;
	cq = &t->cq[0];
	min = ck_pr_load_64(&cq->qc->min_off);
	klen = (size_t)snprintf(ks, sizeof(ks), "%llu",
	    (unsigned long long)key);
	h = shmq__tag_hash(ks, klen);
	for (off = from < min ? min : from;; off++) {
		if ((e = shmq__cq_entry(bus, t, cq, off, false, &err)) == NULL
		    || (st = shmq__cq_state(e)) == SHMQ_CQ_EMPTY) {
			/* Past the last file (err 0) or the last claim. */
			if (safe != NULL && *safe > off)
				*safe = off;
			return err;
		}
		/* A claim not yet committed may still decide KEY: no later
		 * lookup may start above it. */
		if (safe != NULL && *safe > off && (st & 3) ==
		    SHMQ_CQ_CLAIMED_TAG)
			*safe = off;
		if (st != SHMQ_CQ_COMMITTED ||
		    ck_pr_load_32((uint32_t *)(uintptr_t)&e->tag_hash) != h)
			continue;
		r = shmq__log_record(bus, ck_pr_load_64((uint64_t *)
		    (uintptr_t)&e->log_off), ck_pr_load_32((uint32_t *)
		    (uintptr_t)&e->size), true, &err);
		if (r == NULL)
			continue;	/* damaged or reclaimed: not a match */
		shmq__msg_view(r, bus->store_id, &v);
		if (v.tags_len != klen || memcmp(v.tags, ks, klen) != 0)
			continue;
		*state = SHMQ_TXN_UNKNOWN;
		if ((s = shmq__prop_find(v.props, v.props_len,
		    SHMQ_PROP_TXN_STATE, &len)) != NULL)
			for (i = 0; i < 4; i++)
				if (strlen(state_names[i]) == len &&
				    memcmp(state_names[i], s, len) == 0)
					*state = (int)i;
		return 1;
	}
}

/* Record decision STATE of transaction KEY (id TXN_ID) in %HALFOP%. */
static int
op_write(struct shmq_producer *p, struct shmq_bus *bus, uint64_t key,
    const char *txn_id, int state)
{
	struct shmq_topic *t;
	struct shmq_prop props[2];
	struct shmq_msg m;
	char ks[24];
	int err;

	if ((err = shmq__topic_get_reserved(bus, SHMQ_HALF_OP_TOPIC, 1,
	    &t)) < 0)
		return err;
	snprintf(ks, sizeof(ks), "%llu", (unsigned long long)key);
	props[0].name = SHMQ_PROP_TXN_STATE;
	props[0].value = state_names[state];
	props[1].name = SHMQ_PROP_TXN_ID;
	props[1].value = txn_id;
	shmq_msg_init(&m);
	m.topic = t->name;
	m.tags = ks;
	m.body = ks;
	m.body_len = strlen(ks);
	m.props = props;
	m.nprops = 2;
	return shmq__producer_send_to(p, t, 0, &m, 0, NULL);
}

int
shmq__txn_end_view(struct shmq_producer *p, struct shmq_bus *bus,
    const struct shmq_msgview *v, int state, struct shmq_send_result *res)
{
	struct shmq_txn_copy c;
	struct shmq_txn_half h;
	struct shmq_topic *t;
	char key[24], checks[16];
	int err, old;

	if ((err = shmq__txn_half_parse(v, &h)) < 0)
		return err;
	if ((err = shmq__txn_op_find(bus, h.key, h.op_from, &old, NULL)) != 0)
		return err;
	if (state == SHMQ_TXN_COMMIT || state == SHMQ_TXN_DISCARD) {
		if (state == SHMQ_TXN_COMMIT)
			err = shmq__topic_get(bus, h.real_topic, false, 0, &t);
		else
			err = shmq__topic_get_reserved(bus,
			    SHMQ_TXN_DISCARD_TOPIC, 1, &t);
		if (err < 0 || (err = shmq__txn_copy(&c, v,
		    state == SHMQ_TXN_DISCARD, 3)) < 0)
			goto fail;
		shmq__txn_copy_add(&c, SHMQ_PROP_TXN_ID, h.txn_id);
		if (state == SHMQ_TXN_DISCARD) {
			/* For operators: which transaction, how often asked. */
			snprintf(key, sizeof(key), "%llu",
			    (unsigned long long)h.key);
			snprintf(checks, sizeof(checks), "%u", h.checks);
			shmq__txn_copy_add(&c, SHMQ_PROP_TXN_KEY, key);
			shmq__txn_copy_add(&c, SHMQ_PROP_TXN_CHECKS, checks);
		}
		c.m.topic = t->name;
		err = shmq__producer_send_to(p, t, state == SHMQ_TXN_DISCARD ?
		    0 : h.real_qid >= 0 ? (uint32_t)h.real_qid % t->queues :
		    (uint32_t)(h.key % t->queues), &c.m, 0,
		    state == SHMQ_TXN_COMMIT ? res : NULL);
		shmq__txn_copy_free(&c);
		if (err < 0)
			goto fail;
	}
	/* After the message: a crash in between leaves the transaction
	 * undecided, so it is asked again (at least once). */
	if ((err = op_write(p, bus, h.key, h.txn_id, state)) < 0)
		goto fail;
	return 0;
fail:
	SHMQ_ERR_PREFIX("transaction %s: %s", h.txn_id, state_names[state]);
	return err;
}

/* ------------------------------------------------------------------ */
/* Send and end                                                        */
/* ------------------------------------------------------------------ */

int
shmq_producer_send_txn(struct shmq_producer *p, const struct shmq_msg *m,
    shmq_txn_exec_cb exec, void *arg, struct shmq_txn_result *res)
{
	struct shmq_txn_result r0;
	struct shmq_send_result hres;
	struct shmq_msgview hv;
	struct shmq_topic *rt, *ht;
	struct shmq_prop *props;
	struct shmq_fwd *fwd;
	struct shmq_bus *bus;
	struct shmq_msg hm;
	char qid[16], opf[24];
	size_t np = 0, i;
	int q, err, st;

	if (res == NULL)
		res = &r0;
	memset(res, 0, sizeof(*res));
	res->state = SHMQ_TXN_UNKNOWN;
	if (p == NULL || m == NULL || exec == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "transaction: no producer, "
		    "message or local transaction callback");
	if (m->delay_level != 0 || m->deliver_at_ms != 0)
		return SHMQ_ERR(SHMQ_EINVAL, "transaction: a transactional "
		    "message cannot be delayed");
	if (m->topic != NULL && m->topic[0] == '%')
		return SHMQ_ERR(SHMQ_ENAME, "transaction: topic \"%s\" is "
		    "reserved", m->topic);
	bus = shmq__producer_bus(p);
	/* A remote topic (forward.h): the half message, the decision and
	 * the check-backs are this bus's, the topic another host's. */
	if ((err = shmq__fwd_find(bus, shmq__producer_fwd(p), m->topic,
	    shmq__topic_find(bus, m->topic), &fwd)) != 0)
		return err < 0 ? err : SHMQ_ERR(SHMQ_EINVAL, "transaction: "
		    "topic \"%s\" has its home on another host: remote "
		    "transactions are not supported", m->topic);
	if ((err = shmq__topic_get(bus, m->topic, bus->auto_create, 0,
	    &rt)) < 0)
		return err;
	/* The queue is chosen now if it is the caller's: the shard key is
	 * not stored. */
	q = m->queue != SHMQ_QUEUE_ANY ? m->queue : m->shard_key == NULL ||
	    m->shard_key_len == 0 ? -1 : (int)(shmq__hash64(m->shard_key,
	    m->shard_key_len) % rt->queues);
	if (q < -1 || q >= (int)rt->queues)
		return SHMQ_ERR(SHMQ_ENOQUEUE, "topic \"%s\": queue %d (it has "
		    "%u)", rt->name, m->queue, rt->queues);
	if ((err = shmq__topic_get_reserved(bus, SHMQ_HALF_TOPIC, 1, &ht)) < 0)
		return err;
	if ((props = calloc(m->nprops + 5, sizeof(*props))) == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "transaction");
	/* Decisions stored from now on are at or above the tail read now:
	 * read before the half message is stored. */
	snprintf(opf, sizeof(opf), "%llu",
	    (unsigned long long)shmq__txn_op_tail(bus));
	props[np].name = SHMQ_PROP_REAL_TOPIC;
	props[np++].value = rt->name;
	if (q >= 0) {
		snprintf(qid, sizeof(qid), "%d", q);
		props[np].name = SHMQ_PROP_REAL_QID;
		props[np++].value = qid;
	}
	props[np].name = SHMQ_PROP_PGROUP;
	props[np++].value = shmq__producer_group(p);
	props[np].name = SHMQ_PROP_TRAN_MSG;
	props[np++].value = "true";
	props[np].name = SHMQ_PROP_TXN_OP_FROM;
	props[np++].value = opf;
	for (i = 0; i < m->nprops; i++)
		if (m->props[i].name == NULL || !system_name(m->props[i].name,
		    strlen(m->props[i].name), false))
			props[np++] = m->props[i];
	hm = *m;
	hm.topic = ht->name;
	hm.queue = 0;
	hm.shard_key = NULL;
	hm.shard_key_len = 0;
	hm.props = props;
	hm.nprops = np;
	err = shmq__producer_send_to(p, ht, 0, &hm, 0, &hres);
	free(props);
	if (err < 0)
		return err;
	memcpy(res->txn_id, hres.msg_id, sizeof(res->txn_id));

	st = exec(arg, m, res->txn_id);
	if (st != SHMQ_TXN_COMMIT && st != SHMQ_TXN_ROLLBACK)
		st = SHMQ_TXN_UNKNOWN;
	res->state = st;
	if (st == SHMQ_TXN_UNKNOWN)
		return 0;
	/* The decision from the stored half, as any later one is made. */
	if ((err = shmq_query_id(bus, res->txn_id, &hv)) < 0)
		return err;
	if ((err = shmq__txn_end_view(p, bus, &hv, st, &res->send)) < 0)
		return err;
	res->decided_before = err == 1;
	return 0;
}

int
shmq_txn_end(struct shmq_producer *p, const char *txn_id, int state)
{
	struct shmq_msgview v;
	struct shmq_bus *bus;
	int err;

	if (p == NULL || txn_id == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "transaction: no producer or id");
	if (state != SHMQ_TXN_COMMIT && state != SHMQ_TXN_ROLLBACK)
		return SHMQ_ERR(SHMQ_EINVAL, "transaction %.*s: state %d "
		    "(SHMQ_TXN_COMMIT or SHMQ_TXN_ROLLBACK)", SHMQ_MSGID_LEN,
		    txn_id, state);
	bus = shmq__producer_bus(p);
	err = shmq_query_id(bus, txn_id, &v);
	if (err == SHMQ_EINVAL || err == SHMQ_ENOENT)
		return SHMQ_ERR(SHMQ_ENOTXN, "transaction \"%.*s\": no such "
		    "half message on bus \"%s\"", SHMQ_MSGID_LEN + 8, txn_id,
		    bus->name);
	if (err < 0)
		return err;
	if (!view_topic_is(&v, SHMQ_HALF_TOPIC))
		return SHMQ_ERR(SHMQ_ENOTXN, "transaction %s: message of topic "
		    "\"%.*s\", not a half message", txn_id, (int)v.topic_len,
		    v.topic);
	return shmq__txn_end_view(p, bus, &v, state, NULL);
}

/* ------------------------------------------------------------------ */
/* Check-back listener                                                 */
/* ------------------------------------------------------------------ */

struct shmq_txn_listener {
	struct shmq_producer	*p;
	struct shmq_bus		*bus;
	shmq_txn_check_cb	 cb;
	void			*arg;
	struct shmq_consumer	*c;
	pthread_t		 th;
	uint8_t			 stop;		/* ck_pr */
};

/* Answer request V: unless decided meanwhile, ask and decide. */
static void
answer(struct shmq_txn_listener *l, const struct shmq_msgview *v)
{
	struct shmq_txn_half h;
	struct shmq_msgview uv;
	int st;

	if (shmq__txn_half_parse(v, &h) < 0 ||
	    shmq__txn_op_find(l->bus, h.key, h.op_from, &st, NULL) != 0)
		return;
	/* The user sees the message as sent: its own topic. */
	uv = *v;
	uv.topic = h.real_topic;
	uv.topic_len = strlen(h.real_topic);
	st = l->cb(l->arg, &uv, h.txn_id);
	/* An error leaves it undecided: shmqd asks again. */
	if (st == SHMQ_TXN_COMMIT || st == SHMQ_TXN_ROLLBACK)
		(void)shmq__txn_end_view(l->p, l->bus, v, st, NULL);
}

static void *
listen_run(void *arg)
{
	struct shmq_txn_listener *l = arg;
	struct shmq_msgview v[LISTEN_BATCH];
	struct timespec ts = { 0, LISTEN_POLL_MS * 1000000L };
	int n, i;

	while (!ck_pr_load_8(&l->stop)) {
		if ((n = shmq_consumer_poll(l->c, v, LISTEN_BATCH,
		    LISTEN_POLL_MS)) < 0) {
			nanosleep(&ts, NULL);
			continue;
		}
		for (i = 0; i < n; i++)
			answer(l, &v[i]);
	}
	return NULL;
}

int
shmq_producer_set_txn_checker(struct shmq_producer *p,
    shmq_txn_check_cb check, void *arg)
{
	struct shmq_txn_listener *l;
	struct shmq_group_opts go;
	struct shmq_topic *t;
	char name[SHMQ_NAME_MAX + 1];
	int err;

	if (p == NULL || check == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "transaction checker: no producer "
		    "or callback");
	if (ck_pr_load_ptr(shmq__producer_txn(p)) != NULL)
		return SHMQ_ERR(SHMQ_EBUSY, "transaction checker: set before");
	if ((err = shmq__txn_check_topic(name, sizeof(name),
	    shmq__producer_group(p))) < 0)
		return err;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "transaction checker");
	l->p = p;
	l->bus = shmq__producer_bus(p);
	l->cb = check;
	l->arg = arg;
	shmq_group_opts_init(&go);
	/* Requests stored while no producer listened are answered too. */
	go.start = SHMQ_SEEK_FIRST;
	if ((err = shmq__topic_get_reserved(l->bus, name,
	    SHMQ_TXN_CHECK_QUEUES, &t)) < 0 ||
	    (err = shmq_consumer_open_group(&l->c, l->bus, name, &go)) < 0 ||
	    (err = shmq_consumer_subscribe(l->c, name, NULL)) < 0)
		goto fail;
	if (!ck_pr_cas_ptr(shmq__producer_txn(p), NULL, l)) {
		err = SHMQ_ERR(SHMQ_EBUSY, "transaction checker: set before");
		goto fail;
	}
	if ((err = pthread_create(&l->th, NULL, listen_run, l)) != 0) {
		ck_pr_store_ptr(shmq__producer_txn(p), NULL);
		err = SHMQ_ERR(-err, "transaction checker: thread");
		goto fail;
	}
	return 0;
fail:
	shmq_consumer_close(l->c);
	free(l);
	return err;
}

void
shmq__txn_listener_stop(struct shmq_txn_listener *l)
{
	if (l == NULL)
		return;
	ck_pr_store_8(&l->stop, 1);
	pthread_join(l->th, NULL);
	shmq_consumer_close(l->c);
	free(l);
}
