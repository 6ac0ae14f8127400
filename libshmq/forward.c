/*
 * forward.c - remote send, the producer's side (see forward.h): which
 * topics are forwarded, and the outbox write.
 *
 * The outbox write is a send to a reserved topic with the target in
 * properties, as delay.c does for delayed messages, without delay.c's
 * allocation: the properties are put together on the stack (a message
 * with more than FWD_PROPS_STACK of its own pays one calloc).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delay.h"
#include "forward.h"
#include "internal.h"
#include "retry.h"
#include "topic.h"

#define FWD_PROPS_STACK	32

uint32_t
shmq__fwd_queue(uint64_t name_hash, int q, bool has_shard, uint64_t shard)
{
	uint64_t h = name_hash, x;

	if (q >= 0) {
		x = (uint64_t)q;
		h = shmq__hash64_end(shmq__hash64_add(h, &x, sizeof(x)));
	} else if (has_shard)
		h = shmq__hash64_end(shmq__hash64_add(h, &shard,
		    sizeof(shard)));
	return (uint32_t)(h % SHMQ_OUTBOX_QUEUES);
}

/* Is NAME's home another host, by the routes?  A lookup that fails (no
 * shmqd, no federation) says no: the send goes on as a local one. */
static bool
remote_home(struct shmq_bus *bus, const char *name)
{
	struct shmq_route_info ri[4];
	int n;

	n = shmq_route_lookup(bus, name, ri, 4);
	return n > 0 && ri[0].home && !ri[0].local;
}

int
shmq__fwd_find(struct shmq_bus *bus, struct shmq_fwd **list,
    const char *name, struct shmq_topic *local, struct shmq_fwd **out)
{
	struct shmq_topic *t = local;
	struct shmq_fwd *f, *head;

	if (name == NULL || name[0] == '%')
		return 0;
	/* A local topic that is not a mirror: sent here, whatever the list
	 * says (a mirror promoted since, a topic made here since). */
	if (t != NULL && !(ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_MIRROR))
		return 0;
	for (f = ck_pr_load_ptr(list); f != NULL; f = f->next)
		if (strcmp(f->name, name) == 0) {
			*out = f;
			return 1;
		}
	if (t == NULL && !remote_home(bus, name))
		return 0;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "producer: forward to \"%s\"",
		    name);
	strlcpy(f->name, name, sizeof(f->name));
	f->name_hash = shmq__hash64(f->name, strlen(f->name));
	/* Prepended by CAS: a producer may send from several threads. */
	do {
		head = ck_pr_load_ptr(list);
		f->next = head;
	} while (!ck_pr_cas_ptr(list, head, f));
	*out = f;
	return 1;
}

void
shmq__fwd_free(struct shmq_fwd *list)
{
	struct shmq_fwd *next;

	for (; list != NULL; list = next) {
		next = list->next;
		free(list);
	}
}

int
shmq__fwd_send(struct shmq_producer *p, struct shmq_bus *bus,
    const struct shmq_fwd *f, const struct shmq_msg *m,
    struct shmq_send_result *res)
{
	struct shmq_prop stack[FWD_PROPS_STACK], *props = stack;
	struct shmq_topic *ot;
	struct shmq_msg om;
	char qid[16], shard[24], delay[24];
	uint64_t sh = 0;
	bool has_shard = false;
	size_t np = 0, i;
	int err;

	if ((err = shmq__delay_check(m, shmq__real_ns() / 1000000)) < 0) {
		SHMQ_ERR_PREFIX("topic \"%s\" (forwarded)", f->name);
		return err;
	}
	if (m->queue < 0 && m->queue != SHMQ_QUEUE_ANY)
		return SHMQ_ERR(SHMQ_EINVAL, "queue %d", m->queue);
	if (m->nprops > 0 && m->props == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "props is NULL, nprops %zu",
		    m->nprops);
	if ((err = shmq__topic_get_reserved(bus, SHMQ_OUTBOX_TOPIC,
	    SHMQ_OUTBOX_QUEUES, &ot)) < 0)
		return err;
	if (ot->queues < SHMQ_OUTBOX_QUEUES)
		return SHMQ_ERR(SHMQ_ECORRUPT, "topic \"%s\" has %u queues, "
		    "not %d", SHMQ_OUTBOX_TOPIC, ot->queues,
		    SHMQ_OUTBOX_QUEUES);
	if (m->nprops + 3 > FWD_PROPS_STACK &&
	    (props = calloc(m->nprops + 3, sizeof(*props))) == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "forward");
	/* Ours first: a lookup finds them before a user's of that name. */
	props[np].name = SHMQ_PROP_FWD_TOPIC;
	props[np++].value = f->name;
	if (m->queue >= 0) {
		snprintf(qid, sizeof(qid), "%d", m->queue);
		props[np].name = SHMQ_PROP_REAL_QID;
		props[np++].value = qid;
	} else if (m->shard_key != NULL && m->shard_key_len > 0) {
		sh = shmq__hash64(m->shard_key, m->shard_key_len);
		has_shard = true;
		snprintf(shard, sizeof(shard), "%llu", (unsigned long long)sh);
		props[np].name = SHMQ_PROP_FWD_SHARD;
		props[np++].value = shard;
	}
	if (m->delay_level != 0) {
		snprintf(delay, sizeof(delay), "%d", m->delay_level);
		props[np].name = SHMQ_PROP_FWD_DELAY;
		props[np++].value = delay;
	} else if (m->deliver_at_ms != 0) {
		snprintf(delay, sizeof(delay), "%llu",
		    (unsigned long long)m->deliver_at_ms);
		props[np].name = SHMQ_PROP_FWD_AT_MS;
		props[np++].value = delay;
	}
	for (i = 0; i < m->nprops; i++)
		props[np++] = m->props[i];
	om = *m;
	om.topic = ot->name;
	om.queue = SHMQ_QUEUE_ANY;
	om.shard_key = NULL;
	om.shard_key_len = 0;
	om.delay_level = 0;
	om.deliver_at_ms = 0;
	om.props = props;
	om.nprops = np;
	err = shmq__producer_send_to(p, ot, shmq__fwd_queue(f->name_hash,
	    m->queue, has_shard, sh), &om, 0, res);
	if (props != stack)
		free(props);
	if (err < 0)
		SHMQ_ERR_PREFIX("topic \"%s\" (forwarded)", f->name);
	return err;
}

bool
shmq__fwd_prop_u64(const char *props, size_t props_len, const char *name,
    uint64_t *out)
{
	const char *s;
	size_t len, i;
	uint64_t x = 0;

	if ((s = shmq__prop_find(props, props_len, name, &len)) == NULL ||
	    len == 0 || len > 20)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*out = x;
	return true;
}

/* Ours, left out when a record is unpacked for its home or its DLQ. */
static bool
fwd_prop(const char *name, size_t len)
{
	static const char *const sys[] = { SHMQ_PROP_FWD_TOPIC,
	    SHMQ_PROP_FWD_SHARD, SHMQ_PROP_REAL_QID, SHMQ_PROP_FWD_DELAY,
	    SHMQ_PROP_FWD_AT_MS };

	return shmq__name_in(name, len, sys, sizeof(sys) / sizeof(sys[0]));
}

/* Room for NP properties and NB bytes in B. */
static int
buf_grow(struct shmq_fwd_buf *b, size_t np, size_t nb)
{
	void *x;

	if (np > b->nprops_cap) {
		if ((x = reallocarray(b->props, np, sizeof(*b->props))) == NULL)
			return SHMQ_ERR(SHMQ_ENOMEM, "forward");
		b->props = x;
		b->nprops_cap = np;
	}
	if (nb > b->buf_cap) {
		if ((x = realloc(b->buf, nb)) == NULL)
			return SHMQ_ERR(SHMQ_ENOMEM, "forward");
		b->buf = x;
		b->buf_cap = nb;
	}
	return 0;
}

/* A NUL-terminated copy of S[0..N) at *B, advanced; NULL if S holds a
 * NUL (the string would mean less than was sent). */
static const char *
cstr(char **b, const char *s, size_t n)
{
	char *o = *b;

	if (n > 0 && memchr(s, '\0', n) != NULL)
		return NULL;
	memcpy(o, s, n);
	o[n] = '\0';
	*b += n + 1;
	return o;
}

int
shmq__fwd_unpack(struct shmq_fwd_buf *b, const struct shmq_fwd_raw *r,
    size_t extra, struct shmq_msg *m)
{
	const char *p = r->props, *end = r->props + r->props_len, *sep, *stop;
	char *o;
	size_t np = 0;
	int err;

	if ((err = buf_grow(b, r->props_len / 2 + extra + 1, r->props_len +
	    r->tags_len + r->keys_len + 2)) < 0)
		return err;
	o = b->buf;
	shmq_msg_init(m);
	while (p < end) {
		if ((sep = memchr(p, '\1', (size_t)(end - p))) == NULL ||
		    (stop = memchr(sep + 1, '\2', (size_t)(end - sep - 1))) ==
		    NULL || sep == p)
			return SHMQ_ERR(SHMQ_EINVAL, "malformed properties");
		if (!fwd_prop(p, (size_t)(sep - p))) {
			if ((b->props[np].name = cstr(&o, p,
			    (size_t)(sep - p))) == NULL ||
			    (b->props[np].value = cstr(&o, sep + 1,
			    (size_t)(stop - sep - 1))) == NULL)
				return SHMQ_ERR(SHMQ_EINVAL, "a NUL byte in a "
				    "property");
			np++;
		}
		p = stop + 1;
	}
	if (r->tags_len > 0 && (m->tags = cstr(&o, r->tags, r->tags_len)) ==
	    NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "a NUL byte in the tag");
	if (r->keys_len > 0 && (m->keys = cstr(&o, r->keys, r->keys_len)) ==
	    NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "a NUL byte in the keys");
	m->props = b->props;
	m->nprops = np;
	m->body = r->body;
	m->body_len = r->body_len;
	return 0;
}

void
shmq__fwd_buf_free(struct shmq_fwd_buf *b)
{
	free(b->props);
	free(b->buf);
	b->props = NULL;
	b->buf = NULL;
	b->nprops_cap = b->buf_cap = 0;
}
