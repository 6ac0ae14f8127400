/*
 * retry.c - retries and dead letters of consumer groups (see retry.h):
 * the retry settings, shmq_consumer_retry, and the due-time check that
 * consumer.c makes at the head of a retry queue.
 *
 * The copy is made from the record in the commitlog, found through the
 * index entry the view names (queue, queue offset, log offset) among the
 * queues this member holds: the caller's view is only a key, never a
 * source of bytes, so a stale or made-up view cannot send garbage.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commitlog.h"
#include "consumequeue.h"
#include "consumer.h"
#include "group.h"
#include "internal.h"
#include "msg.h"
#include "retry.h"
#include "topic.h"

/* RocketMQ's messageDelayLevel: "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m
 * 10m 20m 30m 1h 2h". */
static const uint32_t default_levels_ms[SHMQ_DELAY_LEVELS_MAX] = {
	1000, 5000, 10000, 30000, 60000, 120000, 180000, 240000, 300000,
	360000, 420000, 480000, 540000, 600000, 1200000, 1800000, 3600000,
	7200000
};

void
shmq_retry_opts_init(struct shmq_retry_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_reconsume = 16;
	o->first_level = 3;
}

int
shmq__retry_cfg(struct shmq_retry_cfg *cfg, const struct shmq_retry_opts *o,
    const char *group)
{
	struct shmq_retry_opts def;
	uint32_t i;

	if (o == NULL) {
		shmq_retry_opts_init(&def);
		o = &def;
	}
	memset(cfg, 0, sizeof(*cfg));
	if (o->delay_levels_ms == NULL) {
		if (o->ndelay_levels != 0)
			return SHMQ_ERR(SHMQ_EINVAL, "group \"%s\": %u delay "
			    "levels but no array", group, o->ndelay_levels);
		cfg->nlevels = SHMQ_DELAY_LEVELS_MAX;
		memcpy(cfg->levels_ms, default_levels_ms,
		    sizeof(default_levels_ms));
	} else {
		if (o->ndelay_levels == 0 ||
		    o->ndelay_levels > SHMQ_DELAY_LEVELS_MAX)
			return SHMQ_ERR(SHMQ_EINVAL, "group \"%s\": %u delay "
			    "levels (1 to %d)", group, o->ndelay_levels,
			    SHMQ_DELAY_LEVELS_MAX);
		cfg->nlevels = o->ndelay_levels;
		for (i = 0; i < cfg->nlevels; i++)
			cfg->levels_ms[i] = o->delay_levels_ms[i];
	}
	if (o->first_level < 1 || o->first_level > cfg->nlevels)
		return SHMQ_ERR(SHMQ_EINVAL, "group \"%s\": first retry level "
		    "%u (1 to %u)", group, o->first_level, cfg->nlevels);
	cfg->first_level = o->first_level;
	cfg->max_reconsume = o->max_reconsume;
	return 0;
}

int
shmq__retry_topic_name(char *buf, size_t len, const char *prefix,
    const char *group)
{
	if ((size_t)snprintf(buf, len, "%s%s", prefix, group) >= len ||
	    strlen(buf) > SHMQ_NAME_MAX)
		return SHMQ_ERR(SHMQ_ENAME, "group \"%s\": too long for its "
		    "retry and dead-letter topics (at most %d characters)",
		    group, SHMQ_NAME_MAX - (int)strlen(SHMQ_RETRY_PREFIX));
	return 0;
}

const char *
shmq__prop_find(const char *p, size_t len, const char *name, size_t *vlen)
{
	const char *end = p + len, *sep, *stop;
	size_t nl = strlen(name);

	while (p < end) {
		if ((sep = memchr(p, '\1', (size_t)(end - p))) == NULL ||
		    (stop = memchr(sep + 1, '\2', (size_t)(end - sep - 1))) ==
		    NULL)
			return NULL;
		if ((size_t)(sep - p) == nl && memcmp(p, name, nl) == 0) {
			*vlen = (size_t)(stop - sep - 1);
			return sep + 1;
		}
		p = stop + 1;
	}
	return NULL;
}

static const char *
rec_props(const struct shmq_rec *r)
{
	return (const char *)(r + 1) + r->topic_len + r->tags_len +
	    r->keys_len;
}

bool
shmq__retry_due(const struct shmq_rec *r, uint64_t *due)
{
	const char *v;
	size_t vl, i;
	uint64_t due_ms = 0, due_ns, now, at;

	v = shmq__prop_find(rec_props(r), r->props_len, SHMQ_PROP_RETRY_DUE_MS,
	    &vl);
	if (v == NULL || vl == 0 || vl > 15)
		return true;
	for (i = 0; i < vl; i++) {
		if (v[i] < '0' || v[i] > '9')
			return true;
		due_ms = due_ms * 10 + (uint64_t)(v[i] - '0');
	}
	due_ns = due_ms * 1000000ull;
	now = shmq__real_ns();
	if (now >= due_ns)
		return true;
	/* The wait is on the monotonic clock; the due time is wall-clock
	 * time (it must mean the same after a reboot).  A clock step while
	 * we sleep is caught at the next wake (a second at most). */
	at = shmq__mono_ns() + (due_ns - now);
	if (at < *due)
		*due = at;
	return false;
}

void
shmq__retry_view_topic(struct shmq_msgview *v)
{
	const char *t;
	size_t tl;

	t = shmq__prop_find(v->props, v->props_len, SHMQ_PROP_RETRY_TOPIC, &tl);
	if (t != NULL && tl > 0) {
		v->topic = t;
		v->topic_len = tl;
	}
}

/* The record a view of this member names, checked; NULL if none. */
static const struct shmq_rec *
find_record(struct shmq_consumer *c, const struct shmq_msgview *v, int *err)
{
	struct shmq_cq_entry *e;
	const struct shmq_rec *r;
	size_t i;

	*err = 0;
	for (i = 0; i < c->nsubs; i++) {
		struct sub *s = &c->subs[i];

		if (v->queue < 0 || s->cq->queue != (uint32_t)v->queue ||
		    v->queue_off >= s->pos)
			continue;
		e = shmq__cq_entry(c->bus, s->t, s->cq, v->queue_off, false,
		    err);
		if (e == NULL || shmq__cq_state(e) != SHMQ_CQ_COMMITTED ||
		    ck_pr_load_64(&e->log_off) != v->log_off)
			continue;
		r = shmq__log_record(c->bus, v->log_off,
		    ck_pr_load_32(&e->size), true, err);
		if (r != NULL)
			return r;
	}
	if (*err == 0)
		*err = SHMQ_ERR(SHMQ_ENOQUEUE, "retry: message %.*s (queue %d "
		    "offset %llu) is not one this member returned from a "
		    "queue it holds", SHMQ_MSGID_LEN, v->msg_id, v->queue,
		    (unsigned long long)v->queue_off);
	return NULL;
}

/* Topic NAME, made with QUEUES queues if missing; *made says so. */
static int
own_topic(struct shmq_bus *bus, const char *name, unsigned queues,
    struct shmq_topic **out, bool *made)
{
	*made = false;
	if ((*out = shmq__topic_find(bus, name)) != NULL)
		return 0;
	*made = true;
	return shmq__topic_get_reserved(bus, name, queues, out);
}

static bool
system_prop(const char *name, size_t len)
{
	static const char *const sys[] = { SHMQ_PROP_RETRY_TOPIC,
	    SHMQ_PROP_ORIGIN_MSG_ID, SHMQ_PROP_RETRY_DUE_MS };

	return shmq__name_in(name, len, sys, sizeof(sys) / sizeof(sys[0]));
}

int
shmq_consumer_retry(struct shmq_consumer *c, const struct shmq_msgview *v,
    int delay_level)
{
	struct shmq_cgroup *cg;
	const struct shmq_rec *r;
	const struct shmq_retry_cfg *rc;
	struct shmq_topic *t;
	struct shmq_prop *props = NULL;
	struct shmq_msg m;
	char oid[SHMQ_MSGID_LEN + 1], due[24], *buf = NULL, *b;
	const char *p, *end, *pl, *sep, *stop, *ot, *tags, *keys, *v1;
	size_t otl, vl, np = 0, need;
	uint32_t level = 0, q = 0;
	bool dead, made;
	int err;

	if (c == NULL || v == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "retry: no consumer or message");
	if ((cg = c->grp) == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "retry: not a group consumer (a "
		    "retry goes to its group's retry topic)");
	if (cg->model != SHMQ_GROUP_CLUSTERING)
		return SHMQ_ERR(SHMQ_EINVAL, "retry: group \"%s\" is "
		    "broadcasting (every member has every message: there is "
		    "no one to retry for)", cg->g->name);
	if (cg->retry_topic[0] == '\0')
		return SHMQ_ERR(SHMQ_ENAME, "retry: group \"%s\": name too "
		    "long for its retry topic (at most %d characters)",
		    cg->g->name, SHMQ_NAME_MAX - (int)strlen(SHMQ_RETRY_PREFIX));
	rc = &cg->retry;
	if (delay_level < -1 || delay_level > (int)rc->nlevels)
		return SHMQ_ERR(SHMQ_EINVAL, "retry: delay level %d (-1: dead "
		    "letter, 0: next, 1 to %u)", delay_level, rc->nlevels);
	if ((r = find_record(c, v, &err)) == NULL)
		return err;

	/* Where it came from: a retry's original topic and first id. */
	pl = (const char *)(r + 1);
	tags = pl + r->topic_len;
	keys = tags + r->tags_len;
	p = rec_props(r);
	end = p + r->props_len;
	ot = pl;
	otl = r->topic_len;
	if (otl > strlen(SHMQ_RETRY_PREFIX) && memcmp(ot, SHMQ_RETRY_PREFIX,
	    strlen(SHMQ_RETRY_PREFIX)) == 0 && (v1 = shmq__prop_find(p,
	    r->props_len, SHMQ_PROP_RETRY_TOPIC, &vl)) != NULL) {
		ot = v1;
		otl = vl;
	}
	if ((v1 = shmq__prop_find(p, r->props_len, SHMQ_PROP_ORIGIN_MSG_ID,
	    &vl)) != NULL && vl == SHMQ_MSGID_LEN) {
		memcpy(oid, v1, vl);
		oid[vl] = '\0';
	} else
		shmq__rec_id(r, c->bus->store_id, oid);

	dead = delay_level == -1 || r->reconsume >= rc->max_reconsume;
	if (!dead) {
		level = delay_level > 0 ? (uint32_t)delay_level :
		    rc->first_level + r->reconsume;
		if (level > rc->nlevels)
			level = rc->nlevels;
		q = level - 1;
		/* Rounded up: never due before its delay has passed. */
		snprintf(due, sizeof(due), "%llu", (unsigned long long)
		    ((shmq__real_ns() + (uint64_t)rc->levels_ms[q] *
		    1000000ull + 999999) / 1000000ull));
	}

	/* The user's properties, NUL-terminated, then ours. */
	need = r->props_len + r->tags_len + r->keys_len + otl + 8;
	if ((buf = malloc(need)) == NULL ||
	    (props = calloc(r->props_len / 2 + 4, sizeof(*props))) == NULL) {
		free(buf);
		return SHMQ_ERR(SHMQ_ENOMEM, "retry");
	}
	b = buf;
	while (p < end) {
		if ((sep = memchr(p, '\1', (size_t)(end - p))) == NULL ||
		    (stop = memchr(sep + 1, '\2', (size_t)(end - sep - 1))) ==
		    NULL)
			break;
		if (!system_prop(p, (size_t)(sep - p))) {
			props[np].name = b;
			memcpy(b, p, (size_t)(sep - p));
			b += sep - p;
			*b++ = '\0';
			props[np].value = b;
			memcpy(b, sep + 1, (size_t)(stop - sep - 1));
			b += stop - sep - 1;
			*b++ = '\0';
			np++;
		}
		p = stop + 1;
	}
	props[np].name = SHMQ_PROP_RETRY_TOPIC;
	props[np++].value = b;
	memcpy(b, ot, otl);
	b += otl;
	*b++ = '\0';
	props[np].name = SHMQ_PROP_ORIGIN_MSG_ID;
	props[np++].value = oid;
	if (!dead) {
		props[np].name = SHMQ_PROP_RETRY_DUE_MS;
		props[np++].value = due;
	}
	shmq_msg_init(&m);
	if (r->tags_len > 0) {
		m.tags = b;
		memcpy(b, tags, r->tags_len);
		b += r->tags_len;
		*b++ = '\0';
	}
	if (r->keys_len > 0) {
		m.keys = b;
		memcpy(b, keys, r->keys_len);
		b += r->keys_len;
		*b++ = '\0';
	}
	m.props = props;
	m.nprops = np;
	m.body = (const char *)(r + 1) + r->topic_len + r->tags_len +
	    r->keys_len + r->props_len;
	m.body_len = r->body_len;

	if ((err = own_topic(c->bus, dead ? cg->dlq_topic : cg->retry_topic,
	    dead ? 1 : SHMQ_DELAY_LEVELS_MAX, &t, &made)) < 0)
		goto out;
	if (made && !dead && shmq__admin_lock(c->bus) == 0) {
		/* A new retry topic: every member subscribes to it when it
		 * acts on the new generation (group.c). */
		shmq__group_bump(c->bus, cg->g);
		shmq__admin_unlock(c->bus);
	}
	m.topic = t->name;
	if (cg->rp == NULL && (err = shmq__producer_open_quiet(&cg->rp,
	    c->bus, cg->g->name)) < 0)
		goto out;
	err = shmq__producer_send_to(cg->rp, t, q, &m, r->reconsume + 1, NULL);
out:
	free(props);
	free(buf);
	if (err < 0) {
		SHMQ_ERR_PREFIX("group \"%s\": retry", cg->g->name);
		return err;
	}
	return dead ? 1 : 0;
}
