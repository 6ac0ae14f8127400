/*
 * repl.c - the replication table (see repl.h): starting and stopping the
 * threads, handing them channels, slots for sync replication, and the
 * figures the link shows.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "consumequeue.h"
#include "internal.h"
#include "wait.h"

#include "fwd.h"
#include "repl.h"

bool
fed_repl_nap(struct fed_repl *r, uint32_t ms)
{
	uint64_t until = shmq__mono_ns() + (uint64_t)ms * 1000000, now;

	while (!ck_pr_load_int(&r->stopping) &&
	    (now = shmq__mono_ns()) < until)
		shmq__word_wait(&r->stopping, 0, until - now);
	return ck_pr_load_int(&r->stopping) != 0;
}

int
fed_repl_start(struct fed_repl **out, struct shmq_bus *bus,
    const struct fed_conf *c, const struct fed_secret *secret,
    struct fed_tls *tls, const struct fed_hello *me)
{
	struct fed_repl *r;
	unsigned i;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return SHMQ_ENOMEM;
	r->bus = bus;
	r->c = c;
	r->secret = secret;
	r->tls = tls;
	r->me = *me;
	r->me.channel = FED_CHAN_REPL;
	/* A DATA frame holds one message at least. */
	r->max_frame = c->max_frame;
	if (r->max_frame < bus->max_msg_bytes + 65536u)
		r->max_frame = bus->max_msg_bytes + 65536u;
	if (r->max_frame > FED_PAYLOAD_MAX)
		r->max_frame = FED_PAYLOAD_MAX;
	pthread_mutex_init(&r->lock, NULL);
	if (c->nmirrors > 0 &&
	    (r->mirrors = calloc(c->nmirrors, sizeof(*r->mirrors))) == NULL) {
		free(r);
		return SHMQ_ENOMEM;
	}
	r->nmirrors = c->nmirrors;
	for (i = 0; i < r->nmirrors; i++) {
		struct repl_mirror *m = &r->mirrors[i];

		m->r = r;
		m->m = c->mirrors[i];
		if (pthread_create(&m->th, NULL, fed_repl_mirror_run, m) == 0)
			m->started = true;
		else
			rlog(r, LOG_ERR, "mirror %s: cannot start its thread",
			    m->m.topic);
	}
	if (fed_fwd_start(&r->fwd, r) < 0)
		rlog(r, LOG_ERR, "forwarding: cannot start its thread");
	*out = r;
	return 0;
}

/* Join and free the homes that are over (ALL: every one, after telling
 * them to stop).  Lock not held. */
static void
reap(struct fed_repl *r, bool all)
{
	struct repl_home **pp, *h;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		for (pp = &r->homes; (h = *pp) != NULL; pp = &h->next)
			if (all || ck_pr_load_8((uint8_t *)&h->done))
				break;
		if (h != NULL)
			*pp = h->next;
		pthread_mutex_unlock(&r->lock);
		if (h == NULL)
			return;
		ck_pr_store_int(&h->stop, 1);
		shmq__word_wake(&h->stop);
		fed_chan_shutdown(h->ch);
		pthread_join(h->th, NULL);
		fed_chan_close(h->ch);
		free(h->acked);
		free(h);
	}
}

void
fed_repl_stop(struct fed_repl *r)
{
	unsigned i;

	if (r == NULL)
		return;
	ck_pr_store_int(&r->stopping, 1);
	shmq__word_wake(&r->stopping);
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->nmirrors; i++)
		fed_chan_shutdown(r->mirrors[i].ch);
	pthread_mutex_unlock(&r->lock);
	for (i = 0; i < r->nmirrors; i++)
		if (r->mirrors[i].started)
			pthread_join(r->mirrors[i].th, NULL);
	fed_fwd_stop(r->fwd);
	reap(r, true);
	pthread_mutex_destroy(&r->lock);
	free(r->mirrors);
	free(r->slots);
	free(r);
}

void
fed_repl_accept(struct fed_repl *r, int fd, struct fed_tls_sess *tls,
    const uint8_t *wpend, size_t wn, const uint8_t *rpend, size_t rn,
    const struct fed_hello *peer, uint64_t seq_out)
{
	struct repl_home *h;

	reap(r, false);
	if (ck_pr_load_int(&r->stopping) ||
	    (h = calloc(1, sizeof(*h))) == NULL) {
		fed_tls_sess_free(tls);
		close(fd);
		return;
	}
	h->r = r;
	h->slot = -1;
	h->host_id = peer->host_id;
	strlcpy(h->host, peer->host, sizeof(h->host));
	/* SUBSCRIBE and ACKs are small, but a remote send's REPL_FORWARD
	 * holds a message at least: the DATA frames' limit. */
	if (fed_chan_adopt(&h->ch, fd, tls, wpend, wn, rpend, rn, peer,
	    r->max_frame) < 0) {
		free(h);
		return;
	}
	h->ch->seq_out = seq_out;
	pthread_mutex_lock(&r->lock);
	if (pthread_create(&h->th, NULL, fed_repl_home_run, h) != 0) {
		pthread_mutex_unlock(&r->lock);
		rlog(r, LOG_ERR, "replication channel from %s: cannot start "
		    "its thread", peer->host);
		fed_chan_close(h->ch);
		free(h);
		return;
	}
	h->next = r->homes;
	r->homes = h;
	pthread_mutex_unlock(&r->lock);
}

int
fed_repl_slot(struct fed_repl *r, const char *topic, uint64_t host_id)
{
	struct repl_slots *s = NULL, *ns;
	size_t i;
	int k, free_k = -1;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->nslots && s == NULL; i++)
		if (strcmp(r->slots[i].topic, topic) == 0)
			s = &r->slots[i];
	if (s == NULL) {
		ns = reallocarray(r->slots, r->nslots + 1, sizeof(*ns));
		if (ns == NULL) {
			pthread_mutex_unlock(&r->lock);
			return -1;
		}
		r->slots = ns;
		s = &r->slots[r->nslots++];
		memset(s, 0, sizeof(*s));
		strlcpy(s->topic, topic, sizeof(s->topic));
	}
	for (k = 0; k < SHMQ_REPL_SLOTS; k++) {
		if (s->host[k] == host_id)
			break;
		if (s->host[k] == 0 && free_k < 0)
			free_k = k;
	}
	if (k == SHMQ_REPL_SLOTS) {
		k = free_k;
		if (k >= 0)
			s->host[k] = host_id;
	}
	pthread_mutex_unlock(&r->lock);
	return k;
}

/* Is there a live channel for H's topic to H's host?  Lock held. */
static bool
live(struct fed_repl *r, const struct repl_home *h)
{
	const struct repl_home *o;

	for (o = r->homes; o != NULL; o = o->next)
		if (o != h && o->host_id == h->host_id && o->t == h->t &&
		    !ck_pr_load_8((uint8_t *)&o->done))
			return true;
	return false;
}

void
fed_repl_behind(struct fed_repl *r, uint64_t host_id, uint64_t *msgs,
    uint64_t *bytes)
{
	struct repl_home *h;
	uint64_t n, tail, a, m_n, m_b;
	uint32_t q;
	unsigned i;

	*msgs = *bytes = 0;
	if (r == NULL || host_id == 0)
		return;
	pthread_mutex_lock(&r->lock);
	for (h = r->homes; h != NULL; h = h->next) {
		if (h->host_id != host_id || h->t == NULL)
			continue;
		/* A channel that ended still says how far its mirror got,
		 * until the mirror is back (its new channel reaps it). */
		if (ck_pr_load_8((uint8_t *)&h->done) && live(r, h))
			continue;
		n = 0;
		for (q = 0; q < h->queues && q < h->t->queues; q++) {
			tail = shmq__cq_tail(&h->t->cq[q]);
			a = ck_pr_load_64(&h->acked[q]);
			n += tail > a ? tail - a : 0;
		}
		*msgs += n;
		/* Bytes: at the mean size of what this channel sent. */
		m_n = ck_pr_load_64(&h->msgs);
		m_b = ck_pr_load_64(&h->bytes);
		*bytes += m_n > 0 ? n * (m_b / m_n) : 0;
	}
	for (i = 0; i < r->nmirrors; i++) {
		struct repl_mirror *m = &r->mirrors[i];

		if (ck_pr_load_64(&m->home_id) != host_id)
			continue;
		n = 0;
		for (q = 0; q < ck_pr_load_32(&m->queues); q++) {
			tail = ck_pr_load_64(&m->home_tail[q]);
			a = ck_pr_load_64(&m->next[q]);
			n += tail > a ? tail - a : 0;
		}
		*msgs += n;
		m_n = ck_pr_load_64(&m->msgs);
		m_b = ck_pr_load_64(&m->bytes);
		*bytes += m_n > 0 ? n * (m_b / m_n) : 0;
	}
	pthread_mutex_unlock(&r->lock);
	/* And this host's outbox records waiting for it (remote send). */
	fed_fwd_behind(r->fwd, host_id, &n, &m_b);
	*msgs += n;
	*bytes += m_b;
}
