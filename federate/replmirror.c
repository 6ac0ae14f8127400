/*
 * replmirror.c - keeping one mirror (see repl.h): dial the home, subscribe
 * from what this bus holds, store what comes at the home's offsets,
 * acknowledge; on any failure, dial again with backoff and resume.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "groupsync.h"
#include "internal.h"
#include "mirror.h"
#include "prefault.h"
#include "promote.h"
#include "topic.h"

#include "repl.h"

#define ACK_MS		1000	/* keepalive: an ACK at least this often
				   (heartbeat_ms if shorter) */
#define BUF_BYTES	(16384 + FED_REPL_QUEUES_MAX * 16) /* SUBSCRIBE */

static void
set_error(struct repl_mirror *m, const char *why)
{
	struct fed_repl *r = m->r;

	/* Logged when it changes, not at every attempt. */
	if (strncmp(m->last_error, why, sizeof(m->last_error) - 1) != 0)
		rlog(r, LOG_WARNING, "mirror %s (home %s): %s", m->m.topic,
		    m->m.addr, why);
	pthread_mutex_lock(&r->lock);
	strlcpy(m->last_error, why, sizeof(m->last_error));
	pthread_mutex_unlock(&r->lock);
}

/* ACK the queues flagged in CHANGED (all: every queue). */
static int
send_ack(struct repl_mirror *m, struct fed_repl_ack *a, const bool *changed,
    bool all)
{
	uint8_t buf[4 + FED_REPL_QUEUES_MAX * 10];
	struct fed_wbuf w = { buf, 0, sizeof(buf), false };
	uint32_t q;

	a->n = 0;
	for (q = 0; q < m->queues; q++)
		if (all || changed[q]) {
			a->queue[a->n] = (uint16_t)q;
			a->next[a->n++] = ck_pr_load_64(&m->next[q]);
		}
	if (a->n == 0)
		return 0;
	if (fed_repl_ack_encode(&w, a) < 0)
		return SHMQ_ELIMIT;
	return fed_chan_write(m->ch, FED_T_REPL_ACK, w.p, w.len);
}

/* STATE from the home: make or grow the mirror, note the home's bounds. */
static int
take_state(struct repl_mirror *m, const struct fed_repl_state *st,
    char *why, size_t len)
{
	struct fed_repl *r = m->r;
	uint32_t q;
	int err;

	if (m->t == NULL || m->t->queues < st->n) {
		if ((err = shmq__mirror_topic(r->bus, m->m.topic, st->n,
		    &m->t)) < 0) {
			snprintf(why, len, "%s", shmq_errmsg());
			return err;
		}
		/* As a producer: segments made and faulted in ahead of the
		 * writer (half its time went to page faults without). */
		(void)shmq__prefault_start(r->bus);
		for (q = ck_pr_load_32(&m->queues); q < m->t->queues; q++)
			ck_pr_store_64(&m->next[q],
			    shmq__mirror_next(r->bus, m->t, q));
		ck_pr_store_32(&m->queues, m->t->queues);
	}
	for (q = 0; q < st->n; q++) {
		ck_pr_store_64(&m->home_tail[q], st->tail[q]);
		m->home_min[q] = st->min[q];
	}
	/* For a promotion: how far behind, and the epoch to go above. */
	shmq__home_state_note(r->bus, m->t, st->tail, st->n);
	if ((err = shmq__home_epoch_learn(r->bus, m->t, st->epoch)) < 0) {
		snprintf(why, len, "%s", shmq_errmsg());
		return err;
	}
	return 0;
}

/*
 * Was M's topic promoted to home on this host (promote.h)?  Then it is
 * not replicated any more: say so once (WHEN: "now" while running, or at
 * start, when a `mirror =` line names it) and stop the figures.
 */
static bool
promoted(struct repl_mirror *m, bool at_start)
{
	struct fed_repl *r = m->r;
	struct shmq_topic *t = shmq__topic_find(r->bus, m->m.topic);

	if (t == NULL || !shmq__home_promoted(t))
		return false;
	if (at_start)
		rlog(r, LOG_WARNING, "mirror = %s@%s: %s was promoted to home "
		    "on this host (epoch %llu): not replicated (remove the "
		    "line)", m->m.topic, m->m.addr, m->m.topic,
		    (unsigned long long)shmq__topic_epoch(t->tc));
	else
		rlog(r, LOG_NOTICE, "mirror %s (home %s): promoted to home on "
		    "this host (epoch %llu): replication stopped, channel "
		    "closed", m->m.topic, m->m.addr,
		    (unsigned long long)shmq__topic_epoch(t->tc));
	pthread_mutex_lock(&r->lock);
	snprintf(m->last_error, sizeof(m->last_error), "promoted here "
	    "(epoch %llu)", (unsigned long long)shmq__topic_epoch(t->tc));
	pthread_mutex_unlock(&r->lock);
	ck_pr_store_32(&m->queues, 0);
	return true;
}

/* A DATA frame: store each message.  0, or a code with WHY. */
static int
take_data(struct repl_mirror *m, const struct fed_frame *fr, bool *changed,
    char *why, size_t len)
{
	struct fed_repl *r = m->r;
	struct fed_repl_rec rec;
	struct shmq_mirror_pos pos;
	struct shmq_raw raw;
	struct fed_rbuf rb;
	uint32_t n, i;
	int err;

	if (m->t == NULL) {
		snprintf(why, len, "DATA before STATE");
		return SHMQ_EPROTO;
	}
	if (fed_repl_data_open(&rb, fr->payload, fr->length, &n) < 0) {
		snprintf(why, len, "malformed DATA frame");
		return SHMQ_EPROTO;
	}
	for (i = 0; i < n; i++) {
		if (fed_repl_data_next(&rb, &rec) < 0 ||
		    rec.queue >= m->t->queues) {
			snprintf(why, len, "malformed DATA frame (message %u)",
			    i);
			return SHMQ_EPROTO;
		}
		raw.tags = (const char *)rec.tags;
		raw.tags_len = rec.tags_len;
		raw.keys = (const char *)rec.keys;
		raw.keys_len = rec.keys_len;
		raw.props = (const char *)rec.props;
		raw.props_len = rec.props_len;
		raw.body = rec.body;
		raw.body_len = rec.body_len;
		raw.origin_store = rec.origin_store;
		raw.origin_off = rec.origin_off;
		pos.queue = rec.queue;
		pos.queue_off = rec.queue_off;
		pos.born_ns = rec.born_ns;
		pos.store_ns = rec.store_ns;
		pos.producer_id = rec.producer_id;
		pos.reconsume = rec.reconsume;
		pos.home_min = m->home_min[rec.queue];
		if ((err = shmq__mirror_put(r->bus, m->t, &pos, &raw)) < 0) {
			snprintf(why, len, "storing queue %u offset %llu: %s",
			    rec.queue, (unsigned long long)rec.queue_off,
			    shmq_errmsg());
			return err;
		}
		if (err == 1) {
			ck_pr_add_64(&m->msgs, 1);
			ck_pr_add_64(&m->bytes, rec.body_len + rec.props_len);
		}
		if (rec.queue_off + 1 > ck_pr_load_64(&m->next[rec.queue]))
			ck_pr_store_64(&m->next[rec.queue], rec.queue_off + 1);
		if (rec.queue_off + 1 > ck_pr_load_64(
		    &m->home_tail[rec.queue]))
			ck_pr_store_64(&m->home_tail[rec.queue],
			    rec.queue_off + 1);
		changed[rec.queue] = true;
	}
	if (fed_rdone(&rb) < 0) {
		snprintf(why, len, "trailing bytes in a DATA frame");
		return SHMQ_EPROTO;
	}
	return 0;
}

/*
 * An OFFSETS frame: the home's group offsets, applied forward only
 * (groupsync.h).  The whole frame is checked before any of it is applied:
 * a malformed one changes nothing.  An offset beyond the tail the home
 * announced is held to it (a home never sends one: see replhome.c).  A
 * name or value the bus refuses is the home's fault, as a malformed frame
 * (SHMQ_EPROTO: the channel is cut); a failure of this bus (no memory,
 * the group table full) is logged and the data goes on.  *LOGGED: what
 * this session logged (1: the first frame's figures, 2: a drop).
 */
static int
take_offsets(struct repl_mirror *m, const struct fed_frame *fr, int *logged,
    char *why, size_t len)
{
	struct fed_repl *r = m->r;
	struct shmq_goff_apply *a;
	struct fed_repl_goff g;
	struct shmq_goff o;
	struct fed_rbuf rb;
	uint32_t n, i;
	int err = 0, end;

	if (m->t == NULL) {
		snprintf(why, len, "OFFSETS before STATE");
		return SHMQ_EPROTO;
	}
	if (fed_repl_offsets_open(&rb, fr->payload, fr->length, &n) < 0) {
		snprintf(why, len, "malformed OFFSETS frame");
		return SHMQ_EPROTO;
	}
	for (i = 0; i < n; i++)
		if (fed_repl_offsets_next(&rb, &g) < 0) {
			snprintf(why, len, "malformed OFFSETS frame (offset "
			    "%u)", i);
			return SHMQ_EPROTO;
		}
	if (fed_rdone(&rb) < 0) {
		snprintf(why, len, "trailing bytes in an OFFSETS frame");
		return SHMQ_EPROTO;
	}
	/* Big (a queue pointer each): not on this thread's stack. */
	if ((a = malloc(sizeof(*a))) == NULL ||
	    shmq__goff_apply_begin(a, r->bus, m->t) < 0) {
		rlog(r, LOG_WARNING, "mirror %s: group offsets: %s",
		    m->m.topic, a == NULL ? "out of memory" : shmq_errmsg());
		free(a);
		return 0;
	}
	(void)fed_repl_offsets_open(&rb, fr->payload, fr->length, &n);
	for (i = 0; i < n && err == 0; i++) {
		(void)fed_repl_offsets_next(&rb, &g);
		o.group = g.group;
		o.instance = g.instance;
		o.model = g.model;
		o.queue = g.queue;
		o.committed = g.committed;
		if (g.queue < FED_REPL_QUEUES_MAX && o.committed >
		    ck_pr_load_64(&m->home_tail[g.queue]))
			o.committed = ck_pr_load_64(&m->home_tail[g.queue]);
		if ((err = shmq__goff_apply(a, &o)) < 0)
			snprintf(why, len, "group offsets: %s", shmq_errmsg());
	}
	end = shmq__goff_apply_end(a);
	if (err == SHMQ_ENAME || err == SHMQ_EINVAL) {
		free(a);
		return SHMQ_EPROTO;
	}
	/* This bus's trouble: what was applied stays in the control
	 * region (the next save writes it). */
	if (err < 0 || end < 0)
		rlog(r, LOG_WARNING, "mirror %s: group offsets: %s",
		    m->m.topic, err < 0 ? why : shmq_errmsg());
	if (!(*logged & 1) || (a->dropped > 0 && !(*logged & 2))) {
		rlog(r, a->dropped > 0 ? LOG_WARNING : LOG_INFO, "mirror %s: "
		    "group offsets from %s: %llu moved forward, %llu kept, "
		    "%llu dropped (a queue this mirror lacks, a system group, "
		    "or a local group of another model)", m->m.topic, m->home,
		    (unsigned long long)a->moved,
		    (unsigned long long)a->kept,
		    (unsigned long long)a->dropped);
		*logged |= a->dropped > 0 ? 3 : 1;
	}
	free(a);
	return 0;
}

/* Subscribe from what this bus holds. */
static int
subscribe(struct repl_mirror *m, struct fed_repl_sub *sub, uint8_t *buf,
    size_t cap)
{
	struct fed_repl *r = m->r;
	struct fed_wbuf w = { buf, 0, cap, false };
	struct shmq_topic *t;
	uint32_t q;

	memset(sub->topic, 0, sizeof(sub->topic));
	strlcpy(sub->topic, m->m.topic, sizeof(sub->topic));
	sub->n = 0;
	t = shmq__topic_find(r->bus, m->m.topic);
	if (t != NULL && (ck_pr_load_32(&t->tc->flags) &
	    SHMQ_TOPIC_F_MIRROR)) {
		shmq__topic_view_refresh(r->bus, t);
		m->t = t;
		sub->n = t->queues;
		for (q = 0; q < t->queues; q++) {
			sub->next[q] = shmq__mirror_next(r->bus, t, q);
			ck_pr_store_64(&m->next[q], sub->next[q]);
		}
		ck_pr_store_32(&m->queues, t->queues);
	}
	if (fed_repl_sub_encode(&w, sub) < 0)
		return SHMQ_ELIMIT;
	return fed_chan_write(m->ch, FED_T_REPL_SUBSCRIBE, w.p, w.len);
}

/* One session on an authenticated channel.  True if it got anywhere
 * (the next attempt need not back off far). */
static bool
session(struct repl_mirror *m, struct fed_repl_sub *sub,
    struct fed_repl_state *st, struct fed_repl_ack *a, uint8_t *buf)
{
	struct fed_repl *r = m->r;
	bool changed[FED_REPL_QUEUES_MAX], progress = false;
	int goff_logged = 0;
	uint64_t last_in, last_ack, now;
	struct fed_frame fr;
	struct fed_error e;
	char why[160];
	uint64_t keep = r->c->heartbeat_ms < ACK_MS ? r->c->heartbeat_ms :
	    ACK_MS;
	int rc;

	if (subscribe(m, sub, buf, BUF_BYTES) < 0) {
		set_error(m, "cannot subscribe: write failed");
		return false;
	}
	last_in = last_ack = shmq__mono_ns();
	snprintf(why, sizeof(why), "closed");
	while (!ck_pr_load_int(&r->stopping)) {
		/* Promoted (shmq_topic_promote): this host writes it now. */
		if (m->t != NULL && (ck_pr_load_32(&m->t->tc->flags) &
		    SHMQ_TOPIC_F_MIRROR) == 0) {
			snprintf(why, sizeof(why), "no longer a mirror");
			break;
		}
		rc = fed_chan_read(m->ch, &fr, (int)keep / 2);
		now = shmq__mono_ns();
		if (rc < 0) {
			snprintf(why, sizeof(why), "%s", rc == SHMQ_EPROTO ?
			    "malformed frame" : rc == -ECONNRESET ?
			    "closed by the home" : shmq_strerror(rc));
			break;
		}
		if (rc == 0) {
			if (now - last_in > 3ull * r->c->heartbeat_ms *
			    1000000) {
				snprintf(why, sizeof(why), "the home was "
				    "silent for %u ms", 3 * r->c->heartbeat_ms);
				break;
			}
		} else {
			last_in = now;
			memset(changed, 0, sizeof(changed));
			switch (fr.type) {
			case FED_T_REPL_STATE:
				if (fed_repl_state_decode(fr.payload,
				    fr.length, st) < 0) {
					snprintf(why, sizeof(why), "malformed "
					    "STATE frame");
					rc = SHMQ_EPROTO;
				} else if ((rc = take_state(m, st, why,
				    sizeof(why))) == 0 && !m->up) {
					m->up = true;
					rlog(r, LOG_NOTICE, "mirror %s: "
					    "subscribed at %s (%s), %u "
					    "queues", m->m.topic, m->home,
					    m->m.addr, m->t->queues);
					pthread_mutex_lock(&r->lock);
					m->last_error[0] = '\0';
					pthread_mutex_unlock(&r->lock);
				}
				break;
			case FED_T_REPL_DATA:
				rc = take_data(m, &fr, changed, why,
				    sizeof(why));
				if (rc == 0) {
					progress = true;
					rc = send_ack(m, a, changed, false);
					if (rc < 0)
						snprintf(why, sizeof(why),
						    "write failed");
				}
				break;
			case FED_T_REPL_OFFSETS:
				rc = take_offsets(m, &fr, &goff_logged, why,
				    sizeof(why));
				break;
			case FED_T_ERROR:
				if (fed_error_decode(fr.payload, fr.length,
				    &e) == 0)
					snprintf(why, sizeof(why), "home "
					    "refused: %s: %s",
					    shmq_err_name(e.code), e.msg);
				else
					snprintf(why, sizeof(why), "malformed "
					    "ERROR frame");
				rc = SHMQ_EPROTO;
				break;
			default:
				snprintf(why, sizeof(why), "%s frame out of "
				    "place", fed_type_name(fr.type));
				rc = SHMQ_EPROTO;
			}
			if (rc < 0)
				break;
		}
		if (now - last_ack >= keep * 1000000ull) {
			if (send_ack(m, a, changed, true) < 0) {
				snprintf(why, sizeof(why), "write failed");
				break;
			}
			last_ack = now;
		}
	}
	/* A promotion is logged by the caller, once. */
	if (!ck_pr_load_int(&r->stopping) && (m->t == NULL ||
	    (ck_pr_load_32(&m->t->tc->flags) & SHMQ_TOPIC_F_MIRROR) != 0))
		set_error(m, why);
	m->up = false;
	return progress;
}

void *
fed_repl_mirror_run(void *arg)
{
	struct repl_mirror *m = arg;
	struct fed_repl *r = m->r;
	struct fed_repl_sub *sub = malloc(sizeof(*sub));
	struct fed_repl_state *st = malloc(sizeof(*st));
	struct fed_repl_ack *a = malloc(sizeof(*a));
	uint8_t *buf = malloc(BUF_BYTES);
	struct fed_chan *ch;
	uint32_t backoff = r->c->backoff_min_ms, wait;
	char why[224];
	bool progress, start;

	if (sub == NULL || st == NULL || a == NULL || buf == NULL) {
		set_error(m, "out of memory: not replicated");
		goto out;
	}
	for (start = true; !ck_pr_load_int(&r->stopping); start = false) {
		if (promoted(m, start))
			break;
		if (fed_chan_dial(&ch, m->m.addr, &r->me, r->secret, r->tls,
		    r->max_frame, r->c->handshake_ms, why, sizeof(why)) < 0) {
			set_error(m, why);
			progress = false;
		} else {
			pthread_mutex_lock(&r->lock);
			m->ch = ch;
			ck_pr_store_64(&m->home_id, ch->peer.host_id);
			strlcpy(m->home, ch->peer.host, sizeof(m->home));
			pthread_mutex_unlock(&r->lock);
			progress = session(m, sub, st, a, buf);
			pthread_mutex_lock(&r->lock);
			m->ch = NULL;
			pthread_mutex_unlock(&r->lock);
			fed_chan_close(ch);
			if (promoted(m, false))
				break;
		}
		/* Backoff with jitter, as the links (link.h). */
		if (progress)
			backoff = r->c->backoff_min_ms;
		wait = backoff / 2 + (uint32_t)(shmq__mono_ns() %
		    (backoff / 2 + 1));
		if (fed_repl_nap(r, wait))
			break;
		if (!progress && backoff < r->c->backoff_max_ms)
			backoff = backoff * 2 > r->c->backoff_max_ms ?
			    r->c->backoff_max_ms : backoff * 2;
	}
out:
	free(sub);
	free(st);
	free(a);
	free(buf);
	return NULL;
}
