/*
 * fwdin.c - the home's side of remote send (see fwd.h and
 * fwdframe.h): store each forwarded record in its topic with a producer,
 * refuse for good what cannot be stored there (FWD_REJECT: the sender
 * puts it in its DLQ), keep what this host holds of the sender's outbox
 * in a file (layout.h, "Remote send"), and acknowledge.
 *
 * Order: one channel per sender, read by this one thread; the records of
 * each outbox queue come in offset order and are stored in that order.
 * A failure that may pass (a full disk, no memory) ends the channel
 * before anything after it is stored: the sender sends it again.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "bus.h"
#include "delay.h"
#include "internal.h"
#include "region.h"
#include "retry.h"
#include "topic.h"
#include "forward.h"

#include "fwd.h"
#include "fwdframe.h"
#include "link.h"
#include "repl.h"

struct fwdin {
	struct repl_home	*h;
	struct shmq_producer	*p;
	struct shmq_fwd_buf	 b;
	uint64_t		 store_id;	/* the sender's */
	uint32_t		 queues;	/* its outbox queues */
	uint64_t		 held[FED_REPL_QUEUES_MAX];
	bool			 changed[FED_REPL_QUEUES_MAX];
	uint32_t		 rr;
	char			 path[PATH_MAX];
	struct fed_repl_ack	 ack;
	uint8_t			 abuf[4 + FED_REPL_QUEUES_MAX * 10];
	uint64_t		 stored, dups, refused;
};

/* The sender's file, if it is this store's: else nothing held. */
static void
held_load(struct fwdin *in)
{
	struct {
		struct shmq_fwdin_hdr	h;
		uint64_t		next[FED_REPL_QUEUES_MAX];
	} f;
	ssize_t n;
	uint32_t crc;

	n = shmq__file_read(in->path, &f, sizeof(f));
	if (n < (ssize_t)sizeof(f.h) || f.h.magic != SHMQ_FWDIN_MAGIC ||
	    f.h.version != SHMQ_FWDIN_VERSION ||
	    f.h.queues > FED_REPL_QUEUES_MAX ||
	    (size_t)n != sizeof(f.h) + f.h.queues * sizeof(uint64_t))
		return;
	crc = f.h.crc;
	f.h.crc = 0;
	if (shmq__crc32c(0xffffffffu, &f, (size_t)n) != crc ||
	    f.h.store_id != in->store_id)
		return;
	memcpy(in->held, f.next, f.h.queues * sizeof(uint64_t));
}

static int
held_save(struct fwdin *in)
{
	struct {
		struct shmq_fwdin_hdr	h;
		uint64_t		next[FED_REPL_QUEUES_MAX];
	} f;
	size_t n = sizeof(f.h) + in->queues * sizeof(uint64_t);

	memset(&f.h, 0, sizeof(f.h));
	f.h.magic = SHMQ_FWDIN_MAGIC;
	f.h.version = SHMQ_FWDIN_VERSION;
	f.h.queues = in->queues;
	f.h.store_id = in->store_id;
	memcpy(f.next, in->held, in->queues * sizeof(uint64_t));
	f.h.crc = shmq__crc32c(0xffffffffu, &f, n);
	return shmq__file_replace(in->path, &f, n, &in->h->r->bus->perm,
	    false);
}

/* FWD_HELD (ALL queues) or REPL_ACK (the changed ones). */
static int
answer(struct fwdin *in, bool all)
{
	struct fed_wbuf w = { in->abuf, 0, sizeof(in->abuf), false };
	uint32_t q;

	in->ack.n = 0;
	for (q = 0; q < in->queues; q++)
		if (all ? in->held[q] != 0 : in->changed[q]) {
			in->ack.queue[in->ack.n] = (uint16_t)q;
			in->ack.next[in->ack.n++] = in->held[q];
			in->changed[q] = false;
		}
	if (all) {
		if (fed_fwd_held_encode(&w, &in->ack) < 0)
			return SHMQ_ELIMIT;
		return fed_chan_write(in->h->ch, FED_T_FWD_HELD, w.p, w.len);
	}
	if (in->ack.n == 0)
		return 0;
	if (fed_repl_ack_encode(&w, &in->ack) < 0)
		return SHMQ_ELIMIT;
	return fed_chan_write(in->h->ch, FED_T_REPL_ACK, w.p, w.len);
}

static int
reject(struct fwdin *in, const struct fed_fwd_rec *rec, int code,
    const char *msg)
{
	struct fed_fwd_reject j;
	uint8_t buf[300];
	struct fed_wbuf w = { buf, 0, sizeof(buf), false };

	j.oq = rec->oq;
	j.ooff = rec->ooff;
	j.code = code;
	strlcpy(j.msg, msg, sizeof(j.msg));
	if (fed_fwd_reject_encode(&w, &j) < 0)
		return SHMQ_ELIMIT;
	return fed_chan_write(in->h->ch, FED_T_FWD_REJECT, w.p, w.len);
}

/* A refusal that sending again cannot change. */
bool
fed_fwd_for_good(int code)
{
	return code == SHMQ_ENOTOPIC || code == SHMQ_ETOPICPERM ||
	    code == SHMQ_ETOOBIG || code == SHMQ_ENOQUEUE ||
	    code == SHMQ_ENAME || code == SHMQ_EINVAL;
}

/*
 * Is REC delayed?  1 with M's delivery time set (M's queue is chosen
 * already: the delay topic keeps it), 0, or SHMQ_EINVAL.  A level is due
 * at the sender's born time plus the level's delay here, a time at that
 * time: the time it took to get here does not delay it more (the
 * scheduler stores what is due at once).
 */
static int
delayed(const struct fed_fwd_rec *rec, const struct fed_conf *c,
    struct shmq_msg *m)
{
	const char *props = (const char *)rec->props;
	uint64_t level, at;

	if (shmq__fwd_prop_u64(props, rec->props_len, SHMQ_PROP_FWD_AT_MS,
	    &at)) {
		if (at == 0)
			return SHMQ_ERR(SHMQ_EINVAL, "delivery time 0");
	} else if (shmq__fwd_prop_u64(props, rec->props_len,
	    SHMQ_PROP_FWD_DELAY, &level)) {
		if (level == 0 || level > SHMQ_DELAY_LEVELS_MAX)
			return SHMQ_ERR(SHMQ_EINVAL, "delay level %llu",
			    (unsigned long long)level);
		/* Rounded up, as the scheduler does: never early. */
		at = (rec->born_ns + 999999) / 1000000 + shmq__delay_level_ms(
		    c->delay_ms, c->ndelay, level);
	} else
		return 0;
	m->deliver_at_ms = at;
	return 1;
}

int
fed_fwd_store(struct shmq_bus *bus, struct shmq_producer *p,
    struct shmq_fwd_buf *b, uint32_t *rr, const struct fed_fwd_rec *rec,
    const struct fed_conf *c)
{
	struct shmq_fwd_raw raw;
	struct shmq_topic *t;
	struct shmq_msg m;
	char topic[FED_TOPIC_MAX + 1], id[FED_FWD_ID_MAX + 1];
	uint32_t q;
	int err;

	memcpy(topic, rec->topic, rec->topic_len);
	topic[rec->topic_len] = '\0';
	if (topic[0] == '%')
		return SHMQ_ERR(SHMQ_ENAME, "topic \"%s\" is reserved", topic);
	if ((err = shmq__topic_get(bus, topic, false, 0, &t)) < 0)
		return SHMQ_ERR(err, "no topic \"%s\" on this host", topic);
	shmq__topic_view_refresh(bus, t);
	if (rec->queue >= 0) {
		if ((uint32_t)rec->queue >= t->queues)
			return SHMQ_ERR(SHMQ_ENOQUEUE, "topic \"%s\": queue %d "
			    "(it has %u)", topic, rec->queue, t->queues);
		q = (uint32_t)rec->queue;
	} else if (rec->has_shard)
		q = (uint32_t)(rec->shard % t->queues);
	else
		q = (*rr)++ % t->queues;
	raw.tags = (const char *)rec->tags;
	raw.tags_len = rec->tags_len;
	raw.keys = (const char *)rec->keys;
	raw.keys_len = rec->keys_len;
	raw.props = (const char *)rec->props;
	raw.props_len = rec->props_len;
	raw.body = rec->body;
	raw.body_len = rec->body_len;
	if ((err = shmq__fwd_unpack(b, &raw, 1, &m)) < 0)
		return err;
	if (rec->id_len > 0) {
		memcpy(id, rec->id, rec->id_len);
		id[rec->id_len] = '\0';
		b->props[m.nprops].name = SHMQ_PROP_FWD_MSG_ID;
		b->props[m.nprops++].value = id;
	}
	m.topic = t->name;
	if ((err = delayed(rec, c, &m)) != 0) {
		/* What a plain store refuses, refused now, not when due. */
		if (err < 0 || (err = shmq__topic_writable(bus, t)) < 0)
			return err;
		m.queue = (int)q;
		return shmq__delay_send(p, bus, &m, NULL);
	}
	return shmq__producer_send_born(p, t, q, &m, 0, rec->born_ns, NULL);
}

/* A REPL_FORWARD frame.  0, or a code with WHY (the channel ends). */
static int
take(struct fwdin *in, const struct fed_frame *fr, char *why, size_t len)
{
	struct fed_fwd_rec rec;
	struct fed_rbuf rb;
	uint32_t n, i;
	bool any = false;
	int err, rc;

	if (fed_fwd_data_open(&rb, fr->payload, fr->length, &n) < 0) {
		snprintf(why, len, "malformed REPL_FORWARD frame");
		return SHMQ_EPROTO;
	}
	for (i = 0; i < n; i++) {
		if (fed_fwd_data_next(&rb, &rec) < 0 || rec.oq >= in->queues) {
			snprintf(why, len, "malformed REPL_FORWARD frame "
			    "(record %u)", i);
			return SHMQ_EPROTO;
		}
		if (rec.ooff < in->held[rec.oq]) {
			in->dups++;		/* held already: a resend */
			in->changed[rec.oq] = true;
			continue;
		}
		if ((err = fed_fwd_store(in->h->r->bus, in->p, &in->b,
		    &in->rr, &rec, in->h->r->c)) < 0) {
			if (!fed_fwd_for_good(err)) {
				snprintf(why, len, "storing outbox queue %u "
				    "offset %" PRIu64 ": %s", rec.oq,
				    rec.ooff, shmq_errmsg());
				goto out;
			}
			if (reject(in, &rec, err, shmq_errmsg()) < 0) {
				snprintf(why, len, "write failed");
				err = SHMQ_EPROTO;
				goto out;
			}
			in->refused++;
		} else
			in->stored++;
		in->held[rec.oq] = rec.ooff + 1;
		in->changed[rec.oq] = true;
		any = true;
	}
	if (fed_rdone(&rb) < 0) {
		snprintf(why, len, "trailing bytes in a REPL_FORWARD frame");
		return SHMQ_EPROTO;
	}
	err = 0;
out:
	/* What was stored is held, whatever came after. */
	if (any && (rc = held_save(in)) < 0) {
		snprintf(why, len, "%s", shmq_errmsg());
		return rc;
	}
	if (err == 0 && answer(in, false) < 0) {
		snprintf(why, len, "write failed");
		return SHMQ_EPROTO;
	}
	return err;
}

static void
send_error(struct repl_home *h, int code, const char *msg)
{
	struct fed_error e;
	uint8_t buf[300];
	struct fed_wbuf w = { buf, 0, sizeof(buf), false };

	e.code = code;
	strlcpy(e.msg, msg, sizeof(e.msg));
	if (fed_error_encode(&w, &e) == 0)
		(void)fed_chan_write(h->ch, FED_T_ERROR, w.p, w.len);
}

/*
 * Be the only channel that serves H's sender: the held file is read once
 * and then written by one thread, so two channels of one sender (a new one
 * while the old is not yet seen closed) would each store what the other
 * holds.  The newer wins: an older one is shut down, and this waits until
 * it saved what it stored.  False if it does not end in time, or the
 * table stops.
 */
static bool
sender_claim(struct repl_home *h)
{
	struct fed_repl *r = h->r;
	struct repl_home *o;
	uint64_t end = shmq__mono_ns() + 3 * (uint64_t)r->c->heartbeat_ms *
	    1000000;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		for (o = r->homes; o != NULL; o = o->next)
			if (o != h && o->fwd_in && o->host_id == h->host_id)
				break;
		if (o == NULL)
			h->fwd_in = true;
		else {
			ck_pr_store_int(&o->stop, 1);
			fed_chan_shutdown(o->ch);
		}
		pthread_mutex_unlock(&r->lock);
		if (o == NULL)
			return true;
		if (shmq__mono_ns() > end || fed_repl_nap(r, 10))
			return false;
	}
}

static void
sender_release(struct repl_home *h)
{
	pthread_mutex_lock(&h->r->lock);
	h->fwd_in = false;
	pthread_mutex_unlock(&h->r->lock);
}

const char *
fed_fwdin_run(struct repl_home *h, const struct fed_frame *open)
{
	static __thread char why[200];
	struct fed_repl *r = h->r;
	struct fed_fwd_open o;
	struct fed_frame fr;
	struct fwdin *in;
	char dir[PATH_MAX];
	int rc;

	snprintf(h->topic, sizeof(h->topic), "%%OUTBOX%%");
	if (fed_fwd_open_decode(open->payload, open->length, &o) < 0) {
		send_error(h, SHMQ_EPROTO, "malformed FWD_OPEN");
		return "a malformed FWD_OPEN";
	}
	if ((in = calloc(1, sizeof(*in))) == NULL)
		return "out of memory";
	in->h = h;
	in->store_id = o.store_id;
	in->queues = o.queues;
	snprintf(dir, sizeof(dir), "%s/%s", r->bus->path, SHMQ_FWDIN_DIR);
	snprintf(in->path, sizeof(in->path), "%s/%016" PRIx64, dir,
	    h->host_id);
	if ((rc = shmq__mkdir_p(dir, &r->bus->perm)) < 0 ||
	    (rc = shmq__producer_open_quiet(&in->p, r->bus,
	    "FORWARD_IN")) < 0) {
		snprintf(why, sizeof(why), "%s", shmq_errmsg());
		send_error(h, rc, why);
		goto out;
	}
	if (!sender_claim(h)) {
		snprintf(why, sizeof(why), "an older channel of this sender "
		    "did not end");
		send_error(h, SHMQ_EBUSY, why);
		goto out;
	}
	held_load(in);
	if (answer(in, true) < 0) {
		snprintf(why, sizeof(why), "write failed");
		goto out;
	}
	rlog(r, LOG_NOTICE, "forwarding from %s: open (%u outbox queues)",
	    h->host, in->queues);
	snprintf(why, sizeof(why), "closed");
	while (!ck_pr_load_int(&h->stop) && !ck_pr_load_int(&r->stopping)) {
		rc = fed_chan_read(h->ch, &fr, (int)(3 * r->c->heartbeat_ms));
		if (rc == 0) {
			snprintf(why, sizeof(why), "the sender was silent for "
			    "%u ms", 3 * r->c->heartbeat_ms);
			break;
		}
		if (rc < 0)
			break;
		if (fr.type == FED_T_HEARTBEAT)
			continue;
		if (fr.type != FED_T_REPL_FORWARD) {
			snprintf(why, sizeof(why), "%s frame out of place",
			    fed_type_name(fr.type));
			send_error(h, SHMQ_EPROTO, why);
			break;
		}
		if ((rc = take(in, &fr, why, sizeof(why))) < 0) {
			send_error(h, rc, why);
			break;
		}
	}
	rlog(r, LOG_INFO, "forwarding from %s: %" PRIu64 " stored, %" PRIu64
	    " already held, %" PRIu64 " refused", h->host, in->stored,
	    in->dups, in->refused);
out:
	if (h->fwd_in)
		sender_release(h);
	shmq_producer_close(in->p);
	shmq__fwd_buf_free(&in->b);
	free(in);
	return why;
}
