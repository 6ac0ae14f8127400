/*
 * fwdout.c - the forwarder (see fwd.h): one thread that empties the
 * outbox to the topics' homes.
 *
 * Each round: poll a batch of the outbox; walk it in order, giving each
 * record to its home's frame unless its queue is held (an earlier record
 * of the queue waits for a home that is unknown or down); send the
 * frames; read each home's answers (REPL_ACK, FWD_REJECT) until all it
 * was sent is answered; then per queue commit up to the first record not
 * answered for, and seek the queue back there so the next poll returns it
 * again.  Records refused for good go to SHMQ_FORWARD_DLQ with the reason
 * before their offset is committed.  A home that errs or is silent is
 * closed and dialed again after a backoff; what it was sent and did not
 * acknowledge is sent again (it skips what it holds: fwd.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "bus.h"
#include "consumequeue.h"
#include "delay.h"
#include "forward.h"
#include "internal.h"
#include "retry.h"
#include "topic.h"

#include "fwd.h"
#include "fwdframe.h"
#include "repl.h"

#define BATCH		256
#define POLL_MS		100
#define ROUTE_MS	1000	/* a route looked up is kept this long */
#define NROUTES		64	/* cached routes */

enum { I_WAIT, I_SENT, I_DONE };

struct fwd_home {
	uint64_t		 host_id;
	char			 host[FED_HOST_MAX + 1];
	struct fed_chan		*ch;		/* NULL: down */
	uint64_t		 retry_ns;	/* mono: no dial before */
	uint32_t		 backoff_ms;
	uint64_t		 last_out_ns;	/* mono: last frame written */
	uint64_t		 held[SHMQ_OUTBOX_QUEUES];
	uint8_t			*buf;		/* the frame being filled */
	struct fed_wbuf		 w;
	uint32_t		 sent;		/* records not answered yet */
	struct fwd_home		*next;
};

struct fwd_route {
	char			 topic[FED_TOPIC_MAX + 1];
	uint64_t		 host_id;	/* 0: unknown; 1: this host */
	uint64_t		 at_ns;
};

struct item {
	struct fwd_home		*h;
	int			 st;		/* I_* */
};

struct fed_fwd {
	struct fed_repl		*r;
	pthread_t		 th;
	bool			 started;
	struct shmq_consumer	*c;
	struct shmq_producer	*p;		/* DLQ and local stores */
	struct shmq_topic	*ot;
	struct fwd_home		*homes;		/* the list under r->lock */
	struct fwd_route	 routes[NROUTES];
	unsigned		 nroutes;
	struct shmq_fwd_buf	 b;
	uint32_t		 rr;
	struct shmq_msgview	 v[BATCH];
	struct item		 it[BATCH];
	/* Per outbox queue: the home it waits for, and from which offset
	 * (for the links' behind figures; atomics). */
	uint64_t		 wait_host[SHMQ_OUTBOX_QUEUES];
	uint64_t		 wait_from[SHMQ_OUTBOX_QUEUES];
	uint64_t		 msgs, bytes, refused;
	char			 why[200];
};

/* ------------------------------------------------------------------ */
/* Routes and homes                                                    */
/* ------------------------------------------------------------------ */

struct addr_find {
	uint64_t	 host_id;
	char		*addr;
	size_t		 len;
};

static int
addr_cb(void *arg, const struct shmq_link_info *li)
{
	struct addr_find *a = arg;

	if (li->host_id != a->host_id || li->addr[0] == '\0')
		return 0;
	strlcpy(a->addr, li->addr, a->len);
	return 1;
}

/* The home of TOPIC: its host id, 1 for this host, 0 if unknown. */
static uint64_t
route(struct fed_fwd *f, const char *topic)
{
	struct shmq_route_info ri[4];
	struct fwd_route *e = NULL;
	uint64_t now = shmq__mono_ns();
	unsigned i;
	int n;

	for (i = 0; i < f->nroutes; i++)
		if (strcmp(f->routes[i].topic, topic) == 0) {
			e = &f->routes[i];
			if (now - e->at_ns < ROUTE_MS * 1000000ull)
				return e->host_id;
			break;
		}
	if (e == NULL) {
		if (f->nroutes == NROUTES)
			f->nroutes = 0;		/* start over: few change */
		e = &f->routes[f->nroutes++];
		strlcpy(e->topic, topic, sizeof(e->topic));
	}
	n = shmq_route_lookup(f->r->bus, topic, ri, 4);
	e->host_id = n > 0 && ri[0].home ? (ri[0].local ? 1 : ri[0].host_id) :
	    0;
	e->at_ns = now;
	return e->host_id;
}

static void
home_down(struct fed_fwd *f, struct fwd_home *h, const char *why)
{
	struct fed_repl *r = f->r;

	if (h->ch != NULL) {
		rlog(r, LOG_WARNING, "forwarding to %s: %s", h->host, why);
		pthread_mutex_lock(&r->lock);
		fed_chan_close(h->ch);
		h->ch = NULL;
		pthread_mutex_unlock(&r->lock);
	}
	h->sent = 0;
	h->backoff_ms = h->backoff_ms == 0 ? r->c->backoff_min_ms :
	    h->backoff_ms * 2 > r->c->backoff_max_ms ? r->c->backoff_max_ms :
	    h->backoff_ms * 2;
	h->retry_ns = shmq__mono_ns() + (uint64_t)h->backoff_ms * 1000000ull;
}

/* Open a channel to H: dial, FWD_OPEN, its FWD_HELD.  0 or -1. */
static int
home_open(struct fed_fwd *f, struct fwd_home *h)
{
	struct fed_repl *r = f->r;
	struct addr_find af;
	struct fed_fwd_open o;
	struct fed_repl_ack *a = NULL;
	struct fed_frame fr;
	struct fed_error e;
	struct fed_chan *ch;
	char addr[FED_ADDR_MAX + 1], err[200];
	uint8_t buf[32];
	struct fed_wbuf w = { buf, 0, sizeof(buf), false };
	uint32_t i;
	int rc;

	af.host_id = h->host_id;
	af.addr = addr;
	af.len = sizeof(addr);
	if (shmq_link_foreach(r->bus, addr_cb, &af) != 1) {
		home_down(f, h, "no address");
		return -1;
	}
	if (fed_chan_dial(&ch, addr, &r->me, r->secret, r->tls, r->max_frame,
	    r->c->handshake_ms, err, sizeof(err)) < 0) {
		home_down(f, h, err);
		return -1;
	}
	pthread_mutex_lock(&r->lock);
	h->ch = ch;
	strlcpy(h->host, ch->peer.host, sizeof(h->host));
	pthread_mutex_unlock(&r->lock);
	o.store_id = r->bus->store_id;
	o.queues = SHMQ_OUTBOX_QUEUES;
	if (fed_fwd_open_encode(&w, &o) < 0 ||
	    fed_chan_write(ch, FED_T_FWD_OPEN, w.p, w.len) < 0) {
		home_down(f, h, "write failed");
		return -1;
	}
	rc = fed_chan_read(ch, &fr, (int)r->c->handshake_ms);
	if (rc <= 0 || (a = malloc(sizeof(*a))) == NULL) {
		home_down(f, h, rc == 0 ? "no answer to FWD_OPEN" :
		    "closed by the home");
		free(a);
		return -1;
	}
	if (fr.type == FED_T_ERROR && fed_error_decode(fr.payload, fr.length,
	    &e) == 0) {
		snprintf(err, sizeof(err), "home refused: %s: %s",
		    shmq_err_name(e.code), e.msg);
		home_down(f, h, err);
		free(a);
		return -1;
	}
	if (fr.type != FED_T_FWD_HELD ||
	    fed_fwd_held_decode(fr.payload, fr.length, a) < 0) {
		home_down(f, h, "a bad answer to FWD_OPEN");
		free(a);
		return -1;
	}
	memset(h->held, 0, sizeof(h->held));
	for (i = 0; i < a->n; i++)
		if (a->queue[i] < SHMQ_OUTBOX_QUEUES)
			h->held[a->queue[i]] = a->next[i];
	free(a);
	h->backoff_ms = 0;
	h->last_out_ns = shmq__mono_ns();
	rlog(r, LOG_NOTICE, "forwarding to %s (%s): open", h->host, addr);
	return 0;
}

/* The home HOST_ID, up (dialed if down and its backoff is over), or
 * NULL. */
static struct fwd_home *
home_get(struct fed_fwd *f, uint64_t host_id)
{
	struct fed_repl *r = f->r;
	struct fwd_home *h;

	for (h = f->homes; h != NULL; h = h->next)
		if (h->host_id == host_id)
			break;
	if (h == NULL) {
		if ((h = calloc(1, sizeof(*h))) == NULL ||
		    (h->buf = malloc(r->max_frame)) == NULL) {
			free(h);
			return NULL;
		}
		h->host_id = host_id;
		snprintf(h->host, sizeof(h->host), "%016" PRIx64, host_id);
		h->w.p = h->buf;
		h->w.cap = r->max_frame;
		pthread_mutex_lock(&r->lock);
		h->next = f->homes;
		f->homes = h;
		pthread_mutex_unlock(&r->lock);
	}
	if (h->ch == NULL && (shmq__mono_ns() < h->retry_ns ||
	    home_open(f, h) < 0))
		return NULL;
	return h;
}

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

/* A decimal property of V, or false. */
static bool
prop_num(const struct shmq_msgview *v, const char *name, uint64_t *out)
{
	return shmq__fwd_prop_u64(v->props, v->props_len, name, out);
}

/* The wire record of outbox view V.  False if V names no target. */
static bool
to_rec(const struct shmq_msgview *v, struct fed_fwd_rec *rec)
{
	const char *t;
	size_t tl;
	uint64_t x;

	if ((t = shmq__prop_find(v->props, v->props_len, SHMQ_PROP_FWD_TOPIC,
	    &tl)) == NULL || tl == 0 || tl > FED_TOPIC_MAX ||
	    v->props_len > UINT32_MAX || v->body_len > UINT32_MAX)
		return false;
	memset(rec, 0, sizeof(*rec));
	rec->oq = (uint16_t)v->queue;
	rec->ooff = v->queue_off;
	rec->born_ns = v->born_ns;
	rec->queue = prop_num(v, SHMQ_PROP_REAL_QID, &x) && x < INT32_MAX ?
	    (int32_t)x : -1;
	if (rec->queue < 0 && prop_num(v, SHMQ_PROP_FWD_SHARD, &x)) {
		rec->has_shard = 1;
		rec->shard = x;
	}
	rec->topic = (const uint8_t *)t;
	rec->topic_len = (uint8_t)tl;
	rec->id = (const uint8_t *)v->msg_id;
	rec->id_len = SHMQ_MSGID_LEN;
	rec->tags = (const uint8_t *)v->tags;
	rec->tags_len = (uint8_t)v->tags_len;
	rec->keys = (const uint8_t *)v->keys;
	rec->keys_len = (uint16_t)v->keys_len;
	rec->props = (const uint8_t *)v->props;
	rec->props_len = (uint32_t)v->props_len;
	rec->body = v->body;
	rec->body_len = (uint32_t)v->body_len;
	return true;
}

/* Put V in the forwarding DLQ with CODE and WHY.  0 or a code. */
static int
dead(struct fed_fwd *f, const struct shmq_msgview *v, int code,
    const char *why)
{
	struct shmq_fwd_raw raw;
	struct shmq_topic *t;
	struct shmq_msg m;
	char topic[FED_TOPIC_MAX + 1], reason[300];
	const char *s;
	size_t len;
	int err;

	topic[0] = '\0';
	if ((s = shmq__prop_find(v->props, v->props_len, SHMQ_PROP_FWD_TOPIC,
	    &len)) != NULL && len < sizeof(topic)) {
		memcpy(topic, s, len);
		topic[len] = '\0';
	}
	snprintf(reason, sizeof(reason), "%s: %s", shmq_err_name(code), why);
	raw.tags = v->tags;
	raw.tags_len = v->tags_len;
	raw.keys = v->keys;
	raw.keys_len = v->keys_len;
	raw.props = v->props;
	raw.props_len = v->props_len;
	raw.body = v->body;
	raw.body_len = v->body_len;
	if ((err = shmq__topic_get_reserved(f->r->bus, SHMQ_FORWARD_DLQ, 1,
	    &t)) < 0 || (err = shmq__fwd_unpack(&f->b, &raw, 3, &m)) < 0)
		return err;
	f->b.props[m.nprops].name = SHMQ_PROP_RETRY_TOPIC;
	f->b.props[m.nprops++].value = topic;
	f->b.props[m.nprops].name = SHMQ_PROP_ORIGIN_MSG_ID;
	f->b.props[m.nprops++].value = v->msg_id;
	f->b.props[m.nprops].name = SHMQ_PROP_FWD_ERROR;
	f->b.props[m.nprops++].value = reason;
	m.topic = t->name;
	if ((err = shmq__producer_send_to(f->p, t, 0, &m, 0, NULL)) < 0)
		return err;
	rlog(f->r, LOG_WARNING, "forwarding: outbox message %s for \"%s\" "
	    "refused (%s): in %s", v->msg_id, topic, reason,
	    SHMQ_FORWARD_DLQ);
	ck_pr_inc_64(&f->refused);
	return 0;
}

/* Write H's frame if it holds records.  0, or -1 (H is down). */
static int
flush_home(struct fed_fwd *f, struct fwd_home *h)
{
	if (h->w.len <= 4)
		return 0;
	if (fed_chan_write(h->ch, FED_T_REPL_FORWARD, h->w.p, h->w.len) < 0) {
		home_down(f, h, "write failed");
		return -1;
	}
	h->last_out_ns = shmq__mono_ns();
	fed_fwd_data_begin(&h->w);
	return 0;
}

/* Item N (view V) to H's frame.  0, or -1 (H is down). */
static int
send_rec(struct fed_fwd *f, struct fwd_home *h, const struct fed_fwd_rec *rec)
{
	if (h->w.len < 4)
		fed_fwd_data_begin(&h->w);
	if (fed_fwd_data_add(&h->w, rec) == FED_EOVERSIZE) {
		if (flush_home(f, h) < 0)
			return -1;
		if (fed_fwd_data_add(&h->w, rec) < 0)
			return -2;	/* larger than a frame */
	}
	h->sent++;
	return 0;
}

/* The item of (H, Q, OFF) among N, or -1. */
static int
find_item(struct fed_fwd *f, int n, const struct fwd_home *h, unsigned q,
    uint64_t off)
{
	int i;

	for (i = 0; i < n; i++)
		if (f->it[i].h == h && (unsigned)f->v[i].queue == q &&
		    f->v[i].queue_off == off)
			return i;
	return -1;
}

/* Read H's answers until what it was sent is answered for. */
static void
answers(struct fed_fwd *f, struct fwd_home *h, int n)
{
	struct fed_repl *r = f->r;
	struct fed_repl_ack a;
	struct fed_fwd_reject j;
	struct fed_error e;
	struct fed_frame fr;
	char why[300];
	uint32_t k;
	int rc, i;

	while (h->ch != NULL && h->sent > 0) {
		rc = fed_chan_read(h->ch, &fr, (int)(3 * r->c->heartbeat_ms));
		if (rc <= 0) {
			home_down(f, h, rc == 0 ? "no answer in time" :
			    "closed by the home");
			return;
		}
		switch (fr.type) {
		case FED_T_REPL_ACK:
			if (fed_repl_ack_decode(fr.payload, fr.length, &a) < 0)
				goto bad;
			for (k = 0; k < a.n; k++)
				if (a.queue[k] < SHMQ_OUTBOX_QUEUES &&
				    a.next[k] > h->held[a.queue[k]])
					h->held[a.queue[k]] = a.next[k];
			for (i = 0; i < n; i++)
				if (f->it[i].h == h && f->it[i].st == I_SENT &&
				    f->v[i].queue_off < h->held[f->v[i].queue]) {
					f->it[i].st = I_DONE;
					h->sent--;
					ck_pr_inc_64(&f->msgs);
					ck_pr_add_64(&f->bytes,
					    f->v[i].body_len);
				}
			break;
		case FED_T_FWD_REJECT:
			if (fed_fwd_reject_decode(fr.payload, fr.length,
			    &j) < 0)
				goto bad;
			if ((i = find_item(f, n, h, j.oq, j.ooff)) < 0 ||
			    f->it[i].st != I_SENT)
				break;
			if (dead(f, &f->v[i], j.code, j.msg) < 0) {
				/* Not in the DLQ: not done; sent again. */
				home_down(f, h, "cannot store a refused "
				    "message in the DLQ");
				return;
			}
			f->it[i].st = I_DONE;
			h->sent--;
			break;
		case FED_T_ERROR:
			if (fed_error_decode(fr.payload, fr.length, &e) == 0)
				snprintf(why, sizeof(why), "home error: %s: %s",
				    shmq_err_name(e.code), e.msg);
			else
				snprintf(why, sizeof(why), "malformed ERROR");
			home_down(f, h, why);
			return;
		default:
			goto bad;
		}
	}
	return;
bad:
	snprintf(why, sizeof(why), "%s frame malformed or out of place",
	    fed_type_name(fr.type));
	home_down(f, h, why);
}

/* One batch of N views.  True if anything was answered for. */
static bool
batch(struct fed_fwd *f, int n)
{
	struct fed_repl *r = f->r;
	struct fed_fwd_rec rec;
	struct fwd_home *h;
	bool held[SHMQ_OUTBOX_QUEUES] = { false }, progress = false;
	uint64_t first[SHMQ_OUTBOX_QUEUES], host;
	bool seen[SHMQ_OUTBOX_QUEUES] = { false };
	unsigned q;
	int i, rc;

	for (q = 0; q < SHMQ_OUTBOX_QUEUES; q++)
		ck_pr_store_64(&f->wait_host[q], 0);
	for (i = 0; i < n; i++) {
		const struct shmq_msgview *v = &f->v[i];

		f->it[i].h = NULL;
		f->it[i].st = I_WAIT;
		if (v->queue < 0 || v->queue >= SHMQ_OUTBOX_QUEUES) {
			f->it[i].st = I_DONE;	/* not ours to forward */
			continue;
		}
		q = (unsigned)v->queue;
		if (held[q])
			continue;
		if (!to_rec(v, &rec)) {
			if (dead(f, v, SHMQ_EINVAL, "no target topic") == 0)
				f->it[i].st = I_DONE;
			else
				held[q] = true;
			continue;
		}
		{
			char topic[FED_TOPIC_MAX + 1];

			memcpy(topic, rec.topic, rec.topic_len);
			topic[rec.topic_len] = '\0';
			host = route(f, topic);
		}
		if (host == 1) {
			/* Its home is this host now (a mirror promoted
			 * here): stored here, as the home would. */
			rc = fed_fwd_store(r->bus, f->p, &f->b, &f->rr, &rec,
			    r->c);
			if (rc == 0 || (fed_fwd_for_good(rc) &&
			    dead(f, v, rc, shmq_errmsg()) == 0)) {
				f->it[i].st = I_DONE;
				if (rc == 0)
					ck_pr_inc_64(&f->msgs);
			} else
				held[q] = true;
			continue;
		}
		if (host == 0 || (h = home_get(f, host)) == NULL) {
			held[q] = true;
			ck_pr_store_64(&f->wait_from[q], v->queue_off);
			ck_pr_store_64(&f->wait_host[q], host);
			continue;
		}
		f->it[i].h = h;
		if (v->queue_off < h->held[q]) {
			f->it[i].st = I_DONE;	/* held there already */
			continue;
		}
		rc = send_rec(f, h, &rec);
		if (rc == -2) {
			if (dead(f, v, SHMQ_ETOOBIG, "larger than a frame") == 0)
				f->it[i].st = I_DONE;
			else
				held[q] = true;
			continue;
		}
		if (rc < 0) {
			held[q] = true;
			continue;
		}
		f->it[i].st = I_SENT;
	}
	for (h = f->homes; h != NULL; h = h->next)
		if (h->ch != NULL)
			(void)flush_home(f, h);
	for (h = f->homes; h != NULL; h = h->next)
		answers(f, h, n);
	/* Per queue: commit to the first record not answered for, and
	 * return there (the next poll gives it again). */
	for (i = 0; i < n; i++) {
		q = (unsigned)f->v[i].queue;
		if (q >= SHMQ_OUTBOX_QUEUES || seen[q])
			continue;
		if (f->it[i].st != I_DONE) {
			seen[q] = true;
			first[q] = f->v[i].queue_off;
			continue;
		}
		progress = true;
		first[q] = f->v[i].queue_off + 1;
	}
	for (q = 0; q < SHMQ_OUTBOX_QUEUES; q++) {
		bool any = false;

		for (i = 0; i < n && !any; i++)
			any = f->v[i].queue == (int)q;
		if (!any)
			continue;
		(void)shmq_consumer_commit(f->c, SHMQ_OUTBOX_TOPIC, (int)q,
		    first[q]);
		if (seen[q])
			(void)shmq_consumer_seek(f->c, SHMQ_OUTBOX_TOPIC, (int)q,
			    SHMQ_SEEK_OFFSET, first[q]);
	}
	return progress;
}

/* Keep idle channels open: a heartbeat when nothing went out lately. */
static void
keepalive(struct fed_fwd *f)
{
	struct fed_heartbeat hb = { 0 };
	uint8_t buf[32];
	struct fed_wbuf w = { buf, 0, sizeof(buf), false };
	struct fwd_home *h;
	uint64_t now = shmq__mono_ns();

	hb.sent_ns = shmq__real_ns();
	if (fed_heartbeat_encode(&w, &hb) < 0)
		return;
	for (h = f->homes; h != NULL; h = h->next)
		if (h->ch != NULL && now - h->last_out_ns >
		    (uint64_t)f->r->c->heartbeat_ms * 500000ull) {
			if (fed_chan_write(h->ch, FED_T_HEARTBEAT, w.p,
			    w.len) < 0)
				home_down(f, h, "write failed");
			else
				h->last_out_ns = now;
		}
}

/* Open the outbox's consumer once the outbox exists.  0 or -1. */
static int
open_outbox(struct fed_fwd *f)
{
	struct fed_repl *r = f->r;
	struct shmq_group_opts go;

	if ((f->ot = shmq__topic_find(r->bus, SHMQ_OUTBOX_TOPIC)) == NULL)
		return -1;
	shmq_group_opts_init(&go);
	go.start = SHMQ_SEEK_FIRST;
	go.auto_commit = 0;
	if ((f->p == NULL && shmq__producer_open_quiet(&f->p, r->bus,
	    "FORWARDER") < 0) ||
	    shmq_consumer_open_group(&f->c, r->bus, SHMQ_FORWARD_GROUP,
	    &go) < 0 ||
	    shmq_consumer_subscribe(f->c, SHMQ_OUTBOX_TOPIC, "*") < 0) {
		rlog(r, LOG_ERR, "forwarding: cannot read the outbox: %s",
		    shmq_errmsg());
		shmq_consumer_close(f->c);
		f->c = NULL;
		return -1;
	}
	rlog(r, LOG_INFO, "forwarding: reading the outbox");
	return 0;
}

static void *
run(void *arg)
{
	struct fed_fwd *f = arg;
	struct fed_repl *r = f->r;
	int n;

	while (!ck_pr_load_int(&r->stopping)) {
		if (f->c == NULL && open_outbox(f) < 0) {
			if (fed_repl_nap(r, 200))
				break;
			continue;
		}
		n = shmq_consumer_poll(f->c, f->v, BATCH, POLL_MS);
		if (n < 0) {
			rlog(r, LOG_ERR, "forwarding: polling the outbox: %s",
			    shmq_errmsg());
			shmq_consumer_close(f->c);
			f->c = NULL;
			continue;
		}
		keepalive(f);
		if (n > 0 && !batch(f, n) && fed_repl_nap(r, POLL_MS))
			break;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The table's side                                                    */
/* ------------------------------------------------------------------ */

int
fed_fwd_start(struct fed_fwd **out, struct fed_repl *r)
{
	struct fed_fwd *f;

	*out = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return SHMQ_ENOMEM;
	f->r = r;
	if (pthread_create(&f->th, NULL, run, f) != 0) {
		free(f);
		return SHMQ_ENOMEM;
	}
	f->started = true;
	*out = f;
	return 0;
}

void
fed_fwd_stop(struct fed_fwd *f)
{
	struct fwd_home *h, *next;

	if (f == NULL)
		return;
	pthread_mutex_lock(&f->r->lock);
	for (h = f->homes; h != NULL; h = h->next)
		if (h->ch != NULL)
			fed_chan_shutdown(h->ch);
	pthread_mutex_unlock(&f->r->lock);
	if (f->started)
		pthread_join(f->th, NULL);
	for (h = f->homes; h != NULL; h = next) {
		next = h->next;
		fed_chan_close(h->ch);
		free(h->buf);
		free(h);
	}
	shmq_consumer_close(f->c);
	shmq_producer_close(f->p);
	shmq__fwd_buf_free(&f->b);
	free(f);
}

void
fed_fwd_behind(struct fed_fwd *f, uint64_t host_id, uint64_t *msgs,
    uint64_t *bytes)
{
	struct shmq_topic *t;
	uint64_t n = 0, tail, from, m_n, m_b;
	unsigned q;

	*msgs = *bytes = 0;
	if (f == NULL || host_id <= 1 ||
	    (t = ck_pr_load_ptr(&f->ot)) == NULL)
		return;
	/* The queues waiting for that host: all of each from the record
	 * that waits (what follows it waits too). */
	for (q = 0; q < SHMQ_OUTBOX_QUEUES && q < t->queues; q++) {
		if (ck_pr_load_64(&f->wait_host[q]) != host_id)
			continue;
		tail = shmq__cq_tail(&t->cq[q]);
		from = ck_pr_load_64(&f->wait_from[q]);
		n += tail > from ? tail - from : 0;
	}
	*msgs = n;
	m_n = ck_pr_load_64(&f->msgs);
	m_b = ck_pr_load_64(&f->bytes);
	*bytes = m_n > 0 ? n * (m_b / m_n) : 0;
}
