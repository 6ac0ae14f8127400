/*
 * delay.c - delayed messages: the send side (producer.c calls
 * shmq__delay_send) and the scheduler shmqd runs (see delay.h for the
 * design: the delay topic's queues, the hops, at-least-once).
 *
 * The scheduler reuses the retry machinery rather than a second one: its
 * group consumer follows the delay topic as its group's retry topic, so
 * consumer.c holds each queue at a head not yet due (RETRY_DUE_MS) and
 * sleeps until then.  The inbox's records carry no due time: never held.
 *
 * Writers: producers write only the inbox; the scheduler (one per bus,
 * shmqd's pidfile sees to that) every other queue, due times rising with
 * the offsets of each queue.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer.h"
#include "delay.h"
#include "group.h"
#include "internal.h"
#include "retry.h"
#include "topic.h"

const uint32_t shmq__delay_levels_def[SHMQ_DELAY_LEVELS_MAX] = {
	1000, 5000, 10000, 30000, 60000, 120000, 180000, 240000, 300000,
	360000, 420000, 480000, 540000, 600000, 1200000, 1800000, 3600000,
	7200000
};

#define BATCH	64

struct shmq_delay {
	struct shmq_bus		*bus;
	struct shmq_consumer	*c;
	struct shmq_producer	*p;
	struct shmq_topic	*t;
	uint32_t		 levels_ms[SHMQ_DELAY_LEVELS_MAX];
	uint32_t		 nlevels;
	uint32_t		 rr;		/* queue of SHMQ_QUEUE_ANY */
	struct shmq_delay_stats	 st;
	struct shmq_prop	*props;		/* per record, reused */
	size_t			 nprops_cap;
	char			*buf;
	size_t			 buf_cap;
};

static uint64_t
now_ms(void)
{
	return shmq__real_ns() / 1000000ull;
}

/* Delay names we keep for ourselves: stripped from what is delivered. */
static bool
system_prop(const char *name, size_t len)
{
	static const char *const sys[] = { SHMQ_PROP_REAL_TOPIC,
	    SHMQ_PROP_REAL_QID, SHMQ_PROP_DELAY, SHMQ_PROP_DELIVER_MS,
	    SHMQ_PROP_RETRY_DUE_MS, SHMQ_PROP_ORIGIN_MSG_ID };

	return shmq__name_in(name, len, sys, sizeof(sys) / sizeof(sys[0]));
}

static int
delay_topic(struct shmq_bus *bus, struct shmq_topic **t)
{
	return shmq__topic_get_reserved(bus, SHMQ_DELAY_TOPIC,
	    SHMQ_DELAY_QUEUES, t);
}

/* ------------------------------------------------------------------ */
/* Send side                                                           */
/* ------------------------------------------------------------------ */

int
shmq__delay_check(const struct shmq_msg *m, uint64_t now)
{
	if (m->delay_level != 0 && m->deliver_at_ms != 0)
		return SHMQ_ERR(SHMQ_EINVAL, "delay: both delay_level and "
		    "deliver_at_ms set (at most one)");
	if (m->delay_level < 0 || m->delay_level > SHMQ_DELAY_LEVELS_MAX)
		return SHMQ_ERR(SHMQ_EINVAL, "delay level %d (0: none, 1 to "
		    "%d)", m->delay_level, SHMQ_DELAY_LEVELS_MAX);
	if (m->deliver_at_ms > now && m->deliver_at_ms - now >
	    SHMQ_DELAY_MAX_MS)
		return SHMQ_ERR(SHMQ_EINVAL, "deliver_at_ms %llu is %llu ms "
		    "ahead (at most %llu)", (unsigned long long)m->deliver_at_ms,
		    (unsigned long long)(m->deliver_at_ms - now),
		    (unsigned long long)SHMQ_DELAY_MAX_MS);
	return 0;
}

uint64_t
shmq__delay_level_ms(const uint32_t *levels_ms, uint32_t n, uint64_t level)
{
	if (n == 0) {
		levels_ms = shmq__delay_levels_def;
		n = SHMQ_DELAY_LEVELS_MAX;
	}
	return levels_ms[(level > n ? n : level) - 1];
}

int
shmq__delay_send(struct shmq_producer *p, struct shmq_bus *bus,
    const struct shmq_msg *m, struct shmq_send_result *res)
{
	static __thread uint32_t rr;
	struct shmq_topic *rt, *dt;
	struct shmq_prop *props;
	struct shmq_msg dm;
	char qid[16], lvl[8], at[24];
	uint64_t now;
	size_t np, i;
	int q, err;

	now = now_ms();
	if ((err = shmq__delay_check(m, now)) < 0)
		return err;
	if (m->topic != NULL && m->topic[0] == '%')
		return SHMQ_ERR(SHMQ_ENAME, "delay: topic \"%s\" is reserved",
		    m->topic);
	if ((err = shmq__topic_get(bus, m->topic, bus->auto_create, 0,
	    &rt)) < 0)
		return err;
	/* The queue is chosen now: a shard key is not stored. */
	if (m->queue >= 0) {
		if ((uint32_t)m->queue >= rt->queues)
			return SHMQ_ERR(SHMQ_ENOQUEUE, "topic \"%s\": queue %d "
			    "(it has %u)", rt->name, m->queue, rt->queues);
		q = m->queue;
	} else if (m->queue != SHMQ_QUEUE_ANY)
		return SHMQ_ERR(SHMQ_EINVAL, "queue %d", m->queue);
	else if (m->shard_key != NULL && m->shard_key_len > 0)
		q = (int)(shmq__hash64(m->shard_key, m->shard_key_len) %
		    rt->queues);
	else
		q = -1;

	dm = *m;
	dm.delay_level = 0;
	dm.deliver_at_ms = 0;
	dm.shard_key = NULL;
	dm.shard_key_len = 0;
	if (m->delay_level == 0 && m->deliver_at_ms <= now) {
		/* Due already: at once, as a plain send. */
		if (q < 0)
			q = (int)(rr++ % rt->queues);
		return shmq__producer_send_to(p, rt, (uint32_t)q, &dm, 0, res);
	}
	if ((err = delay_topic(bus, &dt)) < 0)
		return err;
	if ((props = calloc(m->nprops + 3, sizeof(*props))) == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "delay");
	/* Ours first: a lookup finds them before a user's of that name. */
	np = 0;
	props[np].name = SHMQ_PROP_REAL_TOPIC;
	props[np++].value = rt->name;
	if (q >= 0) {
		snprintf(qid, sizeof(qid), "%d", q);
		props[np].name = SHMQ_PROP_REAL_QID;
		props[np++].value = qid;
	}
	if (m->delay_level != 0) {
		snprintf(lvl, sizeof(lvl), "%d", m->delay_level);
		props[np].name = SHMQ_PROP_DELAY;
		props[np++].value = lvl;
	} else {
		snprintf(at, sizeof(at), "%llu",
		    (unsigned long long)m->deliver_at_ms);
		props[np].name = SHMQ_PROP_DELIVER_MS;
		props[np++].value = at;
	}
	for (i = 0; i < m->nprops; i++)
		props[np++] = m->props[i];
	dm.topic = dt->name;
	dm.props = props;
	dm.nprops = np;
	err = shmq__producer_send_to(p, dt, SHMQ_DELAY_Q_INBOX, &dm, 0, res);
	free(props);
	return err;
}

int
shmq__delay_levels_parse(const char *s,
    uint32_t levels_ms[SHMQ_DELAY_LEVELS_MAX], char *err, size_t errlen)
{
	const char *end;
	uint64_t ms;
	int n = 0;

	for (;;) {
		while (isspace((unsigned char)*s) || *s == ',')
			s++;
		if (*s == '\0')
			break;
		if (n == SHMQ_DELAY_LEVELS_MAX) {
			snprintf(err, errlen, "more than %d levels",
			    SHMQ_DELAY_LEVELS_MAX);
			return -1;
		}
		if (shmq_duration_parse(s, SHMQ_DELAY_MAX_MS, &ms, &end) < 0) {
			snprintf(err, errlen, "level %d: %s", n + 1,
			    strcmp(shmq_errmsg(), "too long") == 0 ?
			    "longer than 30 days" : shmq_errmsg());
			return -1;
		}
		if (*end != '\0' && !isspace((unsigned char)*end) &&
		    *end != ',') {
			snprintf(err, errlen, "level %d: bad unit", n + 1);
			return -1;
		}
		levels_ms[n++] = (uint32_t)ms;
		s = end;
	}
	if (n == 0) {
		snprintf(err, errlen, "no levels");
		return -1;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Scheduler                                                           */
/* ------------------------------------------------------------------ */

int
shmq__delay_open(struct shmq_delay **out, struct shmq_bus *bus,
    const uint32_t *levels_ms, uint32_t n)
{
	struct shmq_group_opts go;
	struct shmq_delay *d;
	uint32_t i;
	int err;

	if (n > SHMQ_DELAY_LEVELS_MAX)
		return SHMQ_ERR(SHMQ_EINVAL, "delay: %u levels", n);
	/* Made by the first delayed send: until then nothing to do. */
	if (shmq__topic_find(bus, SHMQ_DELAY_TOPIC) == NULL)
		return SHMQ_ENOTOPIC;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "delay scheduler");
	d->bus = bus;
	if (n == 0) {
		memcpy(d->levels_ms, shmq__delay_levels_def,
		    sizeof(d->levels_ms));
		d->nlevels = SHMQ_DELAY_LEVELS_MAX;
	} else {
		for (i = 0; i < n; i++)
			d->levels_ms[i] = levels_ms[i];
		d->nlevels = n;
	}
	if ((err = delay_topic(bus, &d->t)) < 0)
		goto fail;
	if (d->t->queues != SHMQ_DELAY_QUEUES) {
		err = SHMQ_ERR(SHMQ_ECORRUPT, "topic \"%s\" has %u queues, "
		    "not %d", SHMQ_DELAY_TOPIC, d->t->queues,
		    SHMQ_DELAY_QUEUES);
		goto fail;
	}
	if ((err = shmq__producer_open_quiet(&d->p, bus,
	    "SCHEDULE_PRODUCER")) < 0)
		goto fail;
	shmq_group_opts_init(&go);
	go.start = SHMQ_SEEK_FIRST;
	go.auto_commit = 0;
	if ((err = shmq_consumer_open_group(&d->c, bus, SHMQ_DELAY_GROUP,
	    &go)) < 0)
		goto fail;
	/* The hook into the retry machinery (see the top): the delay topic
	 * is this group's retry topic, followed at the first poll's
	 * rebalance with its queues held until due.  It never retries. */
	strlcpy(d->c->grp->retry_topic, SHMQ_DELAY_TOPIC,
	    sizeof(d->c->grp->retry_topic));
	d->c->grp->dlq_topic[0] = '\0';
	/* The first rebalance now: a poll wants a topic already. */
	if ((err = shmq__group_slow(d->c, shmq__coarse_ms())) < 0)
		goto fail;
	*out = d;
	return 0;
fail:
	shmq__delay_close(d);
	return err;
}

void
shmq__delay_close(struct shmq_delay *d)
{
	if (d == NULL)
		return;
	if (d->c != NULL)
		shmq_consumer_close(d->c);
	if (d->p != NULL)
		shmq_producer_close(d->p);
	free(d->props);
	free(d->buf);
	free(d);
}

void
shmq__delay_stats(const struct shmq_delay *d, struct shmq_delay_stats *st)
{
	*st = d->st;
}

/* A decimal property of V, or false. */
static bool
prop_u64(const struct shmq_msgview *v, const char *name, uint64_t *out)
{
	const char *s;
	size_t len, i;
	uint64_t x = 0;

	if ((s = shmq__prop_find(v->props, v->props_len, name, &len)) ==
	    NULL || len == 0 || len > 19)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*out = x;
	return true;
}

/* Room for a copy of V with EXTRA more properties; false if no memory. */
static bool
reserve(struct shmq_delay *d, const struct shmq_msgview *v, size_t extra)
{
	size_t np = v->props_len / 2 + extra + 1;
	size_t nb = v->props_len + v->tags_len + v->keys_len + 128;
	void *x;

	if (np > d->nprops_cap) {
		if ((x = reallocarray(d->props, np, sizeof(*d->props))) ==
		    NULL)
			return false;
		d->props = x;
		d->nprops_cap = np;
	}
	if (nb > d->buf_cap) {
		if ((x = realloc(d->buf, nb)) == NULL)
			return false;
		d->buf = x;
		d->buf_cap = nb;
	}
	return true;
}

/*
 * Copy V into *M for a send: tags, keys, body, the properties that are not
 * the system's (all of them too if KEEP), NUL-terminated in d->buf; then
 * ORIGIN_MESSAGE_ID.  Returns the next free byte of d->buf.
 */
static char *
copy_view(struct shmq_delay *d, const struct shmq_msgview *v,
    struct shmq_msg *m, bool keep, const char *origin)
{
	const char *p = v->props, *end = v->props + v->props_len, *sep, *stop;
	char *b = d->buf;
	size_t np = 0;

	shmq_msg_init(m);
	while (p < end) {
		if ((sep = memchr(p, '\1', (size_t)(end - p))) == NULL ||
		    (stop = memchr(sep + 1, '\2', (size_t)(end - sep - 1))) ==
		    NULL)
			break;
		if (keep ? !(strlen(SHMQ_PROP_RETRY_DUE_MS) ==
		    (size_t)(sep - p) && memcmp(p, SHMQ_PROP_RETRY_DUE_MS,
		    (size_t)(sep - p)) == 0) && !(strlen(
		    SHMQ_PROP_ORIGIN_MSG_ID) == (size_t)(sep - p) && memcmp(p,
		    SHMQ_PROP_ORIGIN_MSG_ID, (size_t)(sep - p)) == 0) :
		    !system_prop(p, (size_t)(sep - p))) {
			d->props[np].name = b;
			memcpy(b, p, (size_t)(sep - p));
			b += sep - p;
			*b++ = '\0';
			d->props[np].value = b;
			memcpy(b, sep + 1, (size_t)(stop - sep - 1));
			b += stop - sep - 1;
			*b++ = '\0';
			np++;
		}
		p = stop + 1;
	}
	d->props[np].name = SHMQ_PROP_ORIGIN_MSG_ID;
	d->props[np++].value = origin;
	if (v->tags_len > 0) {
		m->tags = b;
		memcpy(b, v->tags, v->tags_len);
		b += v->tags_len;
		*b++ = '\0';
	}
	if (v->keys_len > 0) {
		m->keys = b;
		memcpy(b, v->keys, v->keys_len);
		b += v->keys_len;
		*b++ = '\0';
	}
	m->props = d->props;
	m->nprops = np;
	m->body = v->body;
	m->body_len = v->body_len;
	return b;
}

/* Highest j with 2^j <= R (R >= 1), at most SHMQ_DELAY_HOPS - 1. */
static uint32_t
hop_of(uint64_t r)
{
	uint32_t j = 63 - (uint32_t)__builtin_clzll(r);

	return j < SHMQ_DELAY_HOPS ? j : SHMQ_DELAY_HOPS - 1;
}

/* Act on record V: deliver it, or move it on.  0 or a negative code. */
static int
one(struct shmq_delay *d, const struct shmq_msgview *v)
{
	struct shmq_topic *rt;
	struct shmq_msg m;
	char origin[SHMQ_MSGID_LEN + 1], rtopic[SHMQ_NAME_MAX + 1];
	char due[24], at_s[24], *b;
	const char *s;
	size_t len;
	uint64_t level = 0, at = 0, qid, now, due_ms;
	uint32_t q;
	int err;

	if ((s = shmq__prop_find(v->props, v->props_len,
	    SHMQ_PROP_ORIGIN_MSG_ID, &len)) != NULL && len == SHMQ_MSGID_LEN) {
		memcpy(origin, s, len);
		origin[len] = '\0';
	} else
		memcpy(origin, v->msg_id, sizeof(origin));
	if ((s = shmq__prop_find(v->props, v->props_len, SHMQ_PROP_REAL_TOPIC,
	    &len)) == NULL || len == 0 || len > SHMQ_NAME_MAX)
		goto drop;
	memcpy(rtopic, s, len);
	rtopic[len] = '\0';
	if (!prop_u64(v, SHMQ_PROP_DELIVER_MS, &at)) {
		if (!prop_u64(v, SHMQ_PROP_DELAY, &level) || level == 0 ||
		    level > SHMQ_DELAY_LEVELS_MAX)
			goto drop;
		/* From the store time, rounded up: never early. */
		at = (v->store_ns + 999999) / 1000000ull +
		    shmq__delay_level_ms(d->levels_ms, d->nlevels, level);
	}
	if (!reserve(d, v, 4))
		return SHMQ_ERR(SHMQ_ENOMEM, "delay scheduler");
	now = now_ms();
	if (at <= now) {
		if ((err = shmq__topic_get(d->bus, rtopic, false, 0, &rt)) < 0)
			goto drop;
		b = copy_view(d, v, &m, false, origin);
		snprintf(at_s, sizeof(at_s), "%llu", (unsigned long long)at);
		d->props[m.nprops].name = SHMQ_PROP_DELIVER_MS;
		d->props[m.nprops++].value = at_s;
		(void)b;
		m.topic = rt->name;
		q = prop_u64(v, SHMQ_PROP_REAL_QID, &qid) ?
		    (uint32_t)(qid % rt->queues) : d->rr++ % rt->queues;
		if ((err = shmq__producer_send_to(d->p, rt, q, &m, 0,
		    NULL)) < 0)
			return err;
		d->st.delivered++;
		return 0;
	}
	/* Not due: a level queue from the inbox, else a hop. */
	if (v->queue == SHMQ_DELAY_Q_INBOX && level != 0) {
		q = (uint32_t)level - 1;
		due_ms = at;
	} else {
		q = SHMQ_DELAY_Q_HOP0 + hop_of(at - now);
		due_ms = now + (1ull << (q - SHMQ_DELAY_Q_HOP0));
	}
	b = copy_view(d, v, &m, true, origin);
	(void)b;
	snprintf(due, sizeof(due), "%llu", (unsigned long long)due_ms);
	d->props[m.nprops].name = SHMQ_PROP_RETRY_DUE_MS;
	d->props[m.nprops++].value = due;
	if (level != 0) {
		/* The level's due time, fixed now (the table may change). */
		snprintf(at_s, sizeof(at_s), "%llu", (unsigned long long)at);
		d->props[m.nprops].name = SHMQ_PROP_DELIVER_MS;
		d->props[m.nprops++].value = at_s;
	}
	m.topic = d->t->name;
	if ((err = shmq__producer_send_to(d->p, d->t, q, &m, 0, NULL)) < 0)
		return err;
	d->st.moved++;
	return 0;
drop:
	d->st.dropped++;
	return 0;
}

int
shmq__delay_run(struct shmq_delay *d, int timeout_ms)
{
	struct shmq_msgview v[BATCH];
	int n, i, err;

	if ((n = shmq_consumer_poll(d->c, v, BATCH, timeout_ms)) <= 0)
		return n;
	for (i = 0; i < n; i++) {
		if ((err = one(d, &v[i])) < 0)
			return err;
		/* After the copy is stored: at least once. */
		if ((err = shmq_consumer_commit(d->c, SHMQ_DELAY_TOPIC,
		    v[i].queue, v[i].queue_off + 1)) < 0)
			return err;
	}
	return n;
}
