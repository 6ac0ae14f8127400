/*
 * replhome.c - serving one topic to one mirror (see repl.h): a pull
 * consumer from the mirror's offsets streams DATA frames; a second thread
 * reads the mirror's ACKs and relays them to sync senders.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "consumequeue.h"
#include "groupsync.h"
#include "internal.h"
#include "msg.h"
#include "promote.h"
#include "replsync.h"
#include "topic.h"
#include "wait.h"

#include "fwd.h"
#include "repl.h"

#define BATCH		256	/* views per poll */
#define POLL_MS		100
#define STATE_MS	1000	/* bounds and keepalive (heartbeat_ms if
				   shorter) */

static void send_error(struct repl_home *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
send_error(struct repl_home *h, int code, const char *fmt, ...)
{
	struct fed_error e;
	uint8_t buf[512];
	struct fed_wbuf w = { buf, 0, sizeof(buf), false };
	va_list ap;

	e.code = code;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	if (fed_error_encode(&w, &e) == 0)
		(void)fed_chan_write(h->ch, FED_T_ERROR, w.p, w.len);
}

static int
send_state(struct repl_home *h, struct fed_repl_state *st, uint8_t *buf,
    size_t cap)
{
	struct fed_wbuf w = { buf, 0, cap, false };
	struct shmq_topic *t = h->t;
	uint32_t q;

	st->store_id = h->r->bus->store_id;
	st->epoch = shmq__topic_epoch(t->tc);
	st->n = t->queues;
	for (q = 0; q < t->queues; q++) {
		st->min[q] = ck_pr_load_64(&t->cq[q].qc->min_off);
		st->tail[q] = shmq__cq_tail(&t->cq[q]);
		if (st->min[q] > st->tail[q])
			st->min[q] = st->tail[q];
	}
	if (fed_repl_state_encode(&w, st) < 0)
		return SHMQ_ELIMIT;
	return fed_chan_write(h->ch, FED_T_REPL_STATE, w.p, w.len);
}

/*
 * Group offsets (groupsync.h).  Each keepalive, after STATE, the offsets
 * of the topic's groups are hashed (one lock-free read of the group
 * table); they are encoded and sent only when the hash moved, and once
 * after subscribing.  Each offset is held to the tail the STATE just sent
 * announced (a commit may run ahead of it): a later tail changes the hash
 * and sends the rest, so the mirror never gets an offset beyond what its
 * home said it has.
 */
struct goffs {
	struct repl_home		*h;
	const struct fed_repl_state	*st;
	struct fed_wbuf			 w;
	bool				 encode;	/* else hash */
	uint64_t			 hash;
	uint64_t			 n;
};

static int
goff_one(void *arg, const struct shmq_goff *o)
{
	struct goffs *x = arg;
	struct fed_repl_goff g;
	uint64_t c = o->committed;
	uint8_t model = (uint8_t)o->model;
	uint16_t q = (uint16_t)o->queue;
	int rc;

	if (o->queue >= x->st->n)
		return 0;
	if (c > x->st->tail[q])
		c = x->st->tail[q];
	x->n++;
	if (!x->encode) {
		x->hash = shmq__hash64_add(x->hash, o->group,
		    strlen(o->group) + 1);
		x->hash = shmq__hash64_add(x->hash, o->instance,
		    strlen(o->instance) + 1);
		x->hash = shmq__hash64_add(x->hash, &model, sizeof(model));
		x->hash = shmq__hash64_add(x->hash, &q, sizeof(q));
		x->hash = shmq__hash64_add(x->hash, &c, sizeof(c));
		return 0;
	}
	memset(&g, 0, sizeof(g));
	strlcpy(g.group, o->group, sizeof(g.group));
	strlcpy(g.instance, o->instance, sizeof(g.instance));
	g.model = model;
	g.queue = q;
	g.committed = c;
	rc = fed_repl_offsets_add(&x->w, &g);
	/* Full: send this frame, go on in the next. */
	if (rc == FED_EOVERSIZE && x->w.len > 4) {
		if (fed_chan_write(x->h->ch, FED_T_REPL_OFFSETS, x->w.p,
		    x->w.len) < 0)
			return SHMQ_EPROTO;
		fed_repl_offsets_begin(&x->w);
		rc = fed_repl_offsets_add(&x->w, &g);
	}
	return rc < 0 ? SHMQ_ELIMIT : 0;
}

/* Send the group offsets if they changed since *HASH (or FORCE). */
static int
send_offsets(struct repl_home *h, const struct fed_repl_state *st,
    uint8_t *buf, size_t cap, uint64_t *hash, bool force)
{
	struct goffs x;
	int rc;

	memset(&x, 0, sizeof(x));
	x.h = h;
	x.st = st;
	x.hash = SHMQ_HASH64_INIT;
	if ((rc = shmq__goff_foreach(h->r->bus, h->t, st->n, goff_one,
	    &x)) != 0)
		return rc;
	if (!force && x.hash == *hash)
		return 0;
	*hash = x.hash;
	if (x.n == 0)
		return 0;
	x.w = (struct fed_wbuf){ buf, 0, cap, false };
	x.encode = true;
	fed_repl_offsets_begin(&x.w);
	if ((rc = shmq__goff_foreach(h->r->bus, h->t, st->n, goff_one,
	    &x)) != 0)
		return rc;
	if (x.w.len > 4 && fed_chan_write(h->ch, FED_T_REPL_OFFSETS, x.w.p,
	    x.w.len) < 0)
		return SHMQ_EPROTO;
	return 0;
}

/* The ACK reader: the mirror's positions, until the channel ends. */
static void *
ack_run(void *arg)
{
	struct repl_home *h = arg;
	struct fed_repl *r = h->r;
	struct fed_repl_ack *a;
	struct fed_error e;
	struct fed_frame fr;
	uint32_t i, q;
	int rc;

	if ((a = malloc(sizeof(*a))) == NULL)
		goto out;
	while (!ck_pr_load_int(&h->stop)) {
		rc = fed_chan_read(h->ch, &fr, (int)(3 * r->c->heartbeat_ms));
		if (rc == 0) {
			rlog(r, LOG_WARNING, "replication of %s to %s: the "
			    "mirror was silent for %u ms: channel closed",
			    h->topic, h->host, 3 * r->c->heartbeat_ms);
			break;
		}
		if (rc < 0)
			break;
		if (fr.type == FED_T_ERROR) {
			if (fed_error_decode(fr.payload, fr.length, &e) == 0)
				rlog(r, LOG_WARNING, "replication of %s to %s: "
				    "mirror error %s: %s", h->topic, h->host,
				    shmq_err_name(e.code), e.msg);
			break;
		}
		if (fr.type != FED_T_REPL_ACK ||
		    fed_repl_ack_decode(fr.payload, fr.length, a) < 0) {
			rlog(r, LOG_WARNING, "replication of %s to %s: %s "
			    "frame out of place: channel cut", h->topic,
			    h->host, fed_type_name(fr.type));
			break;
		}
		for (i = 0; i < a->n; i++) {
			q = a->queue[i];
			/* Untrusted: a queue we have, an offset we wrote. */
			if (q >= h->queues || q >= h->t->queues ||
			    a->next[i] > shmq__cq_tail(&h->t->cq[q]))
				continue;
			if (a->next[i] > ck_pr_load_64(&h->acked[q]))
				ck_pr_store_64(&h->acked[q], a->next[i]);
			if (h->slot >= 0)
				(void)shmq__repl_ack(r->bus, h->t, q,
				    (unsigned)h->slot, a->next[i], false);
		}
	}
out:
	free(a);
	ck_pr_store_int(&h->stop, 1);
	shmq__word_wake(&h->stop);
	fed_chan_shutdown(h->ch);
	return NULL;
}

/* Follow queues [FROM, TO) of H's topic: queue Q from SUB's offset if
 * the mirror had it, else from the start. */
static int
follow(struct repl_home *h, struct shmq_consumer *c,
    const struct fed_repl_sub *sub, uint32_t from, uint32_t to)
{
	uint32_t q;
	int err;

	for (q = from; q < to && q < h->queues; q++) {
		if ((err = shmq_consumer_assign(c, h->topic, (int)q,
		    "*")) < 0)
			return err;
		if (sub != NULL && q < sub->n)
			err = shmq_consumer_seek(c, h->topic, (int)q,
			    SHMQ_SEEK_OFFSET, sub->next[q]);
		else
			err = shmq_consumer_seek(c, h->topic, (int)q,
			    SHMQ_SEEK_FIRST, 0);
		if (err < 0)
			return err;
	}
	return 0;
}

/* Encode view V (polled from the bus of STORE_ID) into W's DATA frame.
 * 0, or FED_EOVERSIZE. */
static int
add_view(struct fed_wbuf *w, const struct shmq_msgview *v,
    uint64_t store_id)
{
	struct fed_repl_rec rec;

	rec.queue = (uint16_t)v->queue;
	rec.queue_off = v->queue_off;
	/* The id it has everywhere: its home's (a mirror's copy carries
	 * it), from the record rather than the view's text. */
	shmq__view_origin(v, store_id, &rec.origin_store, &rec.origin_off);
	rec.born_ns = v->born_ns;
	rec.store_ns = v->store_ns;
	rec.producer_id = v->producer_id;
	rec.reconsume = v->reconsume;
	rec.tags_len = (uint8_t)v->tags_len;
	rec.tags = (const uint8_t *)v->tags;
	rec.keys_len = (uint16_t)v->keys_len;
	rec.keys = (const uint8_t *)v->keys;
	rec.props_len = (uint32_t)v->props_len;
	rec.props = (const uint8_t *)v->props;
	rec.body_len = (uint32_t)v->body_len;
	rec.body = v->body;
	return fed_repl_data_add(w, &rec);
}

/* Stream until the channel ends.  Returns why it ended, for the log. */
static const char *
stream(struct repl_home *h, struct shmq_consumer *c,
    struct fed_repl_state *st, uint8_t *buf, uint32_t had)
{
	struct fed_repl *r = h->r;
	struct shmq_msgview v[BATCH];
	struct fed_wbuf w = { buf, 0, r->max_frame, false };
	uint64_t last_state = 0, now, nb, keep, goff_hash = 0;
	bool goff_sent = false;
	uint32_t now_q;
	int n, i, rc;

	keep = r->c->heartbeat_ms < STATE_MS ? r->c->heartbeat_ms : STATE_MS;
	while (!ck_pr_load_int(&h->stop)) {
		now = shmq__mono_ns();
		if (now - last_state >= keep * 1000000ull) {
			/* Fenced (fence.h): another host is home now. */
			if (ck_pr_load_32(&h->t->tc->flags) &
			    SHMQ_TOPIC_F_FENCED) {
				send_error(h, SHMQ_ETOPICPERM, "topic \"%s\" "
				    "is fenced here: another host was "
				    "promoted to its home", h->topic);
				return "fenced: another host was promoted to "
				    "its home";
			}
			/* The topic grew: follow the new queues too.  HAD is
			 * what this thread follows: the view is the
			 * process's, which another thread may have grown. */
			shmq__topic_view_refresh(r->bus, h->t);
			if ((now_q = h->t->queues) > had) {
				if (follow(h, c, NULL, had, now_q) < 0)
					return shmq_errmsg();
				had = now_q;
			}
			if (send_state(h, st, buf, r->max_frame) < 0)
				return "write failed";
			if ((rc = send_offsets(h, st, buf, r->max_frame,
			    &goff_hash, !goff_sent)) < 0)
				return rc == SHMQ_EPROTO ? "write failed" :
				    "group offsets do not fit a frame";
			goff_sent = true;
			last_state = now;
		}
		n = shmq_consumer_poll(c, v, BATCH, POLL_MS);
		if (n < 0)
			return shmq_errmsg();
		if (n == 0)
			continue;
		fed_repl_data_begin(&w);
		nb = 0;
		for (i = 0; i < n; i++) {
			if (v[i].queue < 0 || (uint32_t)v[i].queue >= h->queues)
				continue;
			rc = add_view(&w, &v[i], r->bus->store_id);
			if (rc == FED_EOVERSIZE && w.len > 4) {
				if (fed_chan_write(h->ch, FED_T_REPL_DATA,
				    w.p, w.len) < 0)
					return "write failed";
				fed_repl_data_begin(&w);
				rc = add_view(&w, &v[i], r->bus->store_id);
			}
			if (rc < 0)
				return "a message does not fit a frame";
			nb += v[i].body_len + v[i].props_len;
		}
		if (w.len > 4 && fed_chan_write(h->ch, FED_T_REPL_DATA, w.p,
		    w.len) < 0)
			return "write failed";
		ck_pr_add_64(&h->msgs, (uint64_t)n);
		ck_pr_add_64(&h->bytes, nb);
	}
	return "closed";
}

void *
fed_repl_home_run(void *arg)
{
	struct repl_home *h = arg;
	struct fed_repl *r = h->r;
	struct fed_repl_sub *sub = NULL;
	struct fed_repl_state *st = NULL;
	struct shmq_consumer *c = NULL;
	struct shmq_topic *t;
	struct fed_frame fr;
	pthread_t ack;
	bool ack_on = false;
	uint8_t *buf = NULL;
	const char *why = "out of memory";
	uint64_t *acked;
	uint32_t q, followed;
	int rc;

	if ((sub = malloc(sizeof(*sub))) == NULL ||
	    (st = malloc(sizeof(*st))) == NULL ||
	    (buf = malloc(r->max_frame)) == NULL)
		goto out;
	rc = fed_chan_read(h->ch, &fr, (int)r->c->handshake_ms);
	/* Not a subscription: a sender's outbox (remote send, fwdin.c). */
	if (rc > 0 && fr.type == FED_T_FWD_OPEN) {
		why = fed_fwdin_run(h, &fr);
		goto out;
	}
	if (rc <= 0 || fr.type != FED_T_REPL_SUBSCRIBE ||
	    fed_repl_sub_decode(fr.payload, fr.length, sub) < 0) {
		why = rc == 0 ? "no subscription in time" :
		    "a bad subscription";
		if (rc > 0)
			send_error(h, SHMQ_EPROTO, "%s", why);
		goto out;
	}
	strlcpy(h->topic, sub->topic, sizeof(h->topic));
	t = shmq__topic_find(r->bus, sub->topic);
	if (t == NULL || !shmq__topic_readable(t)) {
		why = "no such topic here";
		send_error(h, SHMQ_ENOTOPIC, "no topic \"%s\" on this host "
		    "(or it is not readable)", sub->topic);
		goto out;
	}
	if (ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_FENCED) {
		why = "fenced: another host was promoted to its home";
		send_error(h, SHMQ_ETOPICPERM, "topic \"%s\" is fenced here: "
		    "another host was promoted to its home (mirror that host "
		    "instead)", sub->topic);
		goto out;
	}
	shmq__topic_view_refresh(r->bus, t);
	if ((acked = calloc(SHMQ_MAX_QUEUES, sizeof(*acked))) == NULL)
		goto out;
	for (q = 0; q < sub->n; q++)
		acked[q] = sub->next[q];
	h->slot = fed_repl_slot(r, h->topic, h->host_id);
	for (q = 0; q < t->queues && h->slot >= 0; q++)
		(void)shmq__repl_ack(r->bus, t, q, (unsigned)h->slot,
		    q < sub->n ? sub->next[q] : 0, true);
	pthread_mutex_lock(&r->lock);
	h->acked = acked;
	h->queues = SHMQ_MAX_QUEUES;
	h->t = t;
	pthread_mutex_unlock(&r->lock);
	followed = t->queues;
	if ((rc = shmq_consumer_open(&c, r->bus)) < 0 ||
	    (rc = follow(h, c, sub, 0, followed)) < 0) {
		why = shmq_errmsg();
		send_error(h, rc, "%s", why);
		goto out;
	}
	for (q = 0; q < sub->n && q < t->queues; q++)
		if (sub->next[q] > shmq__cq_tail(&t->cq[q]))
			rlog(r, LOG_WARNING, "replication of %s to %s: queue "
			    "%u: the mirror holds up to %llu, past this "
			    "host's tail %llu (this home lost messages, or "
			    "is a new store): it goes on from the tail",
			    h->topic, h->host, q,
			    (unsigned long long)sub->next[q],
			    (unsigned long long)shmq__cq_tail(&t->cq[q]));
	if (pthread_create(&ack, NULL, ack_run, h) != 0)
		goto out;
	ack_on = true;
	rlog(r, LOG_NOTICE, "replication of %s to %s: streaming (%u queues, "
	    "sync slot %d)", h->topic, h->host, t->queues, h->slot);
	why = stream(h, c, st, buf, followed);
out:
	ck_pr_store_int(&h->stop, 1);
	fed_chan_shutdown(h->ch);
	if (ack_on)
		pthread_join(ack, NULL);
	if (h->topic[0] != '\0')
		rlog(r, LOG_INFO, "replication of %s to %s: ended: %s",
		    h->topic, h->host, why);
	shmq_consumer_close(c);
	free(sub);
	free(st);
	free(buf);
	ck_pr_store_8((uint8_t *)&h->done, 1);
	return NULL;
}
