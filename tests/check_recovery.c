/*
 * check_recovery.c - opening a bus from a damaged or crashed store.
 *
 * Crash images made by hand, each then opened by a fresh process (which
 * rebuilds the control region from the store) and read from the first
 * offset:
 *  (a) a store copied with cp -a while producers write, opened under
 *      another bus name;
 *  (b) the last record of the log torn: the newest segment cut short in the
 *      middle of it, or bytes zeroed inside it, or a record zeroed in the
 *      middle of the last segment (a gap with valid records after it);
 *  (c) bytes changed inside a committed record in the middle of the log
 *      (body, size, magic, own offset): that one message is reported once
 *      as SHMQ_ECORRUPT and every other is delivered;
 *  (d) every process SIGKILLed while writing across segment and index-file
 *      rolls, several rounds;
 *  (e) the checkpoint deleted, emptied or garbage, with index files lost.
 * Always: nothing read is torn (bodies carry a checksum and a generated
 * payload), what was acknowledged before the damage and outside it is
 * there, offsets only grow, sends continue with dense offsets after the
 * recovered tail, land after every surviving record, and survive another
 * reopen.  Stores use 1 MiB segments and 1024-entry index files.
 *
 * (b) and (c) locate records with the on-disk layout (layout.h); the rest
 * uses only the public API.  Children report through _exit() codes and a
 * detail file; every process that writes is a child.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>

#include "shmq/shmq.h"
#include "layout.h"
#include "body.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* Exit codes of children (E_OK to E_QUEUE: body.h)                    */
/* ------------------------------------------------------------------ */

enum {
	E_LOSS = E_BODY_NEXT,	/* a message that must be there is missing */
	E_PHANTOM,	/* a seq that was never sent */
	E_CORRUPT,	/* SHMQ_ECORRUPT count not as expected */
	E_DAMAGED,	/* the damaged message was delivered */
	E_SKIPPED,	/* more offsets skipped than allowed */
	E_STUCK,	/* positions never reach the queues' tails */
	E_OVERWRITE,	/* a new record placed before a surviving one */
	E_STATS,	/* introspection call failed */
};

static const char *
ecode_name(int code)
{
	switch (code) {
	case E_TORN:	return "torn or corrupt body delivered";
	case E_LOSS:	return "message lost";
	case E_PHANTOM:	return "message that was never sent";
	case E_CORRUPT:	return "SHMQ_ECORRUPT count wrong";
	case E_DAMAGED:	return "damaged message delivered";
	case E_SKIPPED:	return "too many offsets skipped";
	case E_STUCK:	return "consumer stuck before the tail";
	case E_OVERWRITE: return "new record not after the surviving log";
	case E_STATS:	return "introspection failed";
	default:	return body_exit_name(code);
	}
}

/* ------------------------------------------------------------------ */
/* Shared state and helpers                                            */
/* ------------------------------------------------------------------ */

#define TOPIC		"rec.topic"
#define NQ		4
#define MAXID		32
#define CAP		(1u << 18)	/* seqs per logical producer */
#define SEG		(1ull << 20)
#define CQ_ENTRIES	1024
#define MAX_MSG		(64 * 1024)
#define SHARED_BYTES	(64 * 1024)

/* What a verifier expects; written by the parent before the fork. */
struct vparams {
	char		bus[128];	/* "": $SHMQ_BUS */
	uint32_t	nids;
	int32_t		damaged_id;	/* -1: none */
	uint64_t	damaged_seq;	/* may be missing, must not be
					   delivered */
	uint64_t	need[MAXID];	/* seqs [0, need) must be present */
	uint64_t	maxseq[MAXID];	/* none above may appear */
	int		corrupt_min;	/* SHMQ_ECORRUPT returns per pass */
	int		corrupt_max;
	uint64_t	skipped_max;	/* offsets passed over per pass */
	int		passes;		/* read everything this many times */
	int		resend_id;	/* -1: no sends after reading */
};

/* One anonymous MAP_SHARED region, mapped before any fork. */
struct rshared {
	uint32_t	stop;
	uint32_t	ready[MAXID];
	uint64_t	acked[MAXID];	/* sends of id that returned 0 */
	struct vparams	vp;
	/* Results of the last verifier. */
	uint64_t	got;
	uint64_t	skipped;
	int		corrupt;
	uint64_t	max_off[NQ];
};
_Static_assert(sizeof(struct rshared) <= SHARED_BYTES, "shared page");

static unsigned
queue_for(uint32_t id, uint64_t seq)
{
	return (unsigned)((seq + id) % NQ);
}

static int
open_bus(const char *who, const char *name, struct shmq_bus **bus)
{
	struct shmq_bus_opts o;
	int rc;

	shmq_bus_opts_init(&o);
	o.segment_bytes = SEG;
	o.cq_entries = CQ_ENTRIES;
	o.max_msg_bytes = MAX_MSG;
	o.default_queues = NQ;
	o.stall_ms = 20;
	if ((rc = shmq_bus_open(bus, name != NULL && *name != '\0' ? name :
	    NULL, &o)) != 0) {
		tu_detail(who, "bus_open %s: %s (%s)", name ? name : "(env)",
		    shmq_err_name(rc), shmq_errmsg());
		return E_SETUP;
	}
	return E_OK;
}

static const char *
store_dir(const char *bus)
{
	static char buf[4200];

	snprintf(buf, sizeof(buf), "%s/%s", tu_home(),
	    bus != NULL ? bus : tu_bus());
	return buf;
}

/* ------------------------------------------------------------------ */
/* Writers                                                             */
/* ------------------------------------------------------------------ */

enum wmode {
	W_CLEAN,	/* close everything and exit 0 */
	W_KILL_SELF,	/* SIGKILL itself after the last send */
	W_UNTIL_KILLED	/* send until the parent kills it */
};

struct wthread {
	struct rshared		*sh;
	struct shmq_producer	*p;
	uint32_t		 id;
	uint64_t		 seq0;
	uint64_t		 n;
	size_t			 maxlen;
	unsigned		 pause_us;
	int			 rc;
	char			 who[32];
};

static void *
wthread_run(void *arg)
{
	struct wthread *w = arg;
	struct shmq_send_result res;
	struct shmq_msg m;
	unsigned char *buf;
	uint64_t seq;
	size_t len;
	int rc;

	w->rc = E_OK;
	buf = malloc(w->maxlen);
	if (buf == NULL) {
		w->rc = E_SETUP;
		return NULL;
	}
	__atomic_store_n(&w->sh->ready[w->id], 1, __ATOMIC_RELEASE);
	for (seq = w->seq0; seq < w->seq0 + w->n && seq < CAP; seq++) {
		if (__atomic_load_n(&w->sh->stop, __ATOMIC_ACQUIRE))
			break;
		len = body_pick_len(w->id, seq, w->maxlen);
		body_fill(buf, len, w->id, seq, tu_mono_ns());
		shmq_msg_init(&m);
		m.topic = TOPIC;
		m.body = buf;
		m.body_len = len;
		m.queue = (int)queue_for(w->id, seq);
		if ((rc = shmq_producer_send(w->p, &m, &res)) != 0) {
			tu_detail(w->who, "seq %llu: send: %s (%s)",
			    (unsigned long long)seq, shmq_err_name(rc),
			    shmq_errmsg());
			w->rc = E_SEND;
			break;
		}
		if (res.queue != m.queue) {
			tu_detail(w->who, "seq %llu: sent to queue %d, result "
			    "says %d", (unsigned long long)seq, m.queue,
			    res.queue);
			w->rc = E_SENDRES;
			break;
		}
		__atomic_store_n(&w->sh->acked[w->id], seq + 1,
		    __ATOMIC_RELEASE);
		if (w->pause_us != 0 && (seq & 15) == 15)
			usleep(w->pause_us);
	}
	free(buf);
	return NULL;
}

/*
 * Open the bus NAME, then NTHREADS threads send as logical producers
 * ID0.. (seqs SEQ0 to SEQ0 + N - 1, or until stop), then MODE.
 */
static int
writer_proc(struct rshared *sh, const char *name, uint32_t id0,
    unsigned nthreads, uint64_t seq0, uint64_t n, size_t maxlen,
    unsigned pause_us, enum wmode mode)
{
	struct wthread w[8];
	pthread_t th[8];
	struct shmq_producer *p;
	struct shmq_bus *bus;
	char who[32];
	unsigned t;
	int rc, code = E_OK;

	snprintf(who, sizeof(who), "writer%u", id0);
	if ((rc = open_bus(who, name, &bus)) != E_OK)
		return rc;
	if ((rc = shmq_producer_open(&p, bus, "writer")) != 0) {
		tu_detail(who, "producer_open: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	for (t = 0; t < nthreads; t++) {
		w[t].sh = sh;
		w[t].p = p;
		w[t].id = id0 + t;
		w[t].seq0 = seq0;
		w[t].n = n;
		w[t].maxlen = maxlen;
		w[t].pause_us = pause_us;
		snprintf(w[t].who, sizeof(w[t].who), "%s", who);
		if (pthread_create(&th[t], NULL, wthread_run, &w[t]) != 0) {
			tu_detail(who, "pthread_create failed");
			return E_SETUP;
		}
	}
	for (t = 0; t < nthreads; t++) {
		pthread_join(th[t], NULL);
		if (w[t].rc != E_OK && code == E_OK)
			code = w[t].rc;
	}
	if (code != E_OK)
		return code;
	if (mode == W_KILL_SELF)
		raise(SIGKILL);
	if (mode == W_UNTIL_KILLED)
		for (;;)
			pause();
	shmq_producer_close(p);
	shmq_bus_close(bus);
	return E_OK;
}

static int
setup_proc(void)
{
	struct shmq_bus *bus;
	int rc;

	if ((rc = open_bus("setup", NULL, &bus)) != E_OK)
		return rc;
	if ((rc = shmq_topic_create(bus, TOPIC, NQ)) != 0) {
		tu_detail("setup", "topic_create: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	shmq_bus_close(bus);
	return E_OK;
}

/* A consumer that reads from the first offset until it is killed. */
static int
reader_proc(const char *who)
{
	struct shmq_msgview v[64];
	struct shmq_consumer *c;
	struct shmq_bus *bus;
	struct body_hdr h;
	int rc, n, i;

	if ((rc = open_bus(who, NULL, &bus)) != E_OK)
		return rc;
	if ((rc = shmq_consumer_open(&c, bus)) != 0 ||
	    (rc = shmq_consumer_assign(c, TOPIC, SHMQ_QUEUE_ANY, "*")) != 0 ||
	    (rc = shmq_consumer_seek(c, TOPIC, SHMQ_QUEUE_ANY,
	    SHMQ_SEEK_FIRST, 0)) != 0) {
		tu_detail(who, "consumer setup: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	for (;;) {
		n = shmq_consumer_poll(c, v, 64, 100);
		if (n < 0) {
			tu_detail(who, "poll: %s (%s)", shmq_err_name(n),
			    shmq_errmsg());
			return E_POLL;
		}
		for (i = 0; i < n; i++)
			if (body_check(v[i].body, v[i].body_len, &h) != 0) {
				tu_detail(who, "torn body: queue %d off %llu",
				    v[i].queue,
				    (unsigned long long)v[i].queue_off);
				return E_TORN;
			}
	}
}

/* ------------------------------------------------------------------ */
/* The verifier                                                        */
/* ------------------------------------------------------------------ */

struct vst {
	const char	*who;
	unsigned	 nids;
	uint8_t		*bits;		/* nids * CAP bits */
	int64_t		 last[MAXID][NQ];
	uint64_t	 cnt[MAXID];
	uint64_t	 maxseen[MAXID];
	uint64_t	 next_off[NQ];
	uint64_t	 skipped;
	uint64_t	 got;
	uint64_t	 log_end;	/* past the furthest record read */
	int		 corrupt;
};

static int
vst_init(struct vst *vs, const char *who, unsigned nids)
{
	unsigned id, q;

	free(vs->bits);
	memset(vs, 0, sizeof(*vs));
	vs->who = who;
	vs->nids = nids;
	vs->bits = calloc((size_t)nids * CAP / 8, 1);
	if (vs->bits == NULL)
		return E_SETUP;
	for (id = 0; id < MAXID; id++)
		for (q = 0; q < NQ; q++)
			vs->last[id][q] = -1;
	return E_OK;
}

static int
vst_has(const struct vst *vs, uint32_t id, uint64_t seq)
{
	uint64_t bit = (uint64_t)id * CAP + seq;

	return (vs->bits[bit / 8] >> (bit % 8)) & 1;
}

static int
vst_msg(struct vst *vs, const struct vparams *vp,
    const struct shmq_msgview *m)
{
	struct body_hdr h;
	uint64_t bit;
	unsigned q;

	if (body_check(m->body, m->body_len, &h) != 0) {
		tu_detail(vs->who, "torn body delivered: queue %d off %llu len "
		    "%zu", m->queue, (unsigned long long)m->queue_off,
		    m->body_len);
		return E_TORN;
	}
	if (h.prod >= vs->nids || h.seq >= CAP || m->queue < 0 ||
	    m->queue >= NQ) {
		tu_detail(vs->who, "out of range: prod %u seq %llu queue %d",
		    h.prod, (unsigned long long)h.seq, m->queue);
		return E_BADID;
	}
	if (vp->damaged_id >= 0 && h.prod == (uint32_t)vp->damaged_id &&
	    h.seq == vp->damaged_seq) {
		tu_detail(vs->who, "the damaged message (prod %u seq %llu, "
		    "queue %d off %llu) was delivered", h.prod,
		    (unsigned long long)h.seq, m->queue,
		    (unsigned long long)m->queue_off);
		return E_DAMAGED;
	}
	q = (unsigned)m->queue;
	if (q != queue_for(h.prod, h.seq)) {
		tu_detail(vs->who, "prod %u seq %llu in queue %u, sent to %u",
		    h.prod, (unsigned long long)h.seq, q,
		    queue_for(h.prod, h.seq));
		return E_QUEUE;
	}
	bit = (uint64_t)h.prod * CAP + h.seq;
	if (vs->bits[bit / 8] & (1u << (bit % 8))) {
		tu_detail(vs->who, "duplicate prod %u seq %llu (queue %u off "
		    "%llu)", h.prod, (unsigned long long)h.seq, q,
		    (unsigned long long)m->queue_off);
		return E_DUP;
	}
	vs->bits[bit / 8] |= (uint8_t)(1u << (bit % 8));
	if ((int64_t)h.seq <= vs->last[h.prod][q]) {
		tu_detail(vs->who, "order: prod %u queue %u: seq %llu after "
		    "%lld", h.prod, q, (unsigned long long)h.seq,
		    (long long)vs->last[h.prod][q]);
		return E_ORDER;
	}
	vs->last[h.prod][q] = (int64_t)h.seq;
	if (m->queue_off < vs->next_off[q]) {
		tu_detail(vs->who, "queue %u: offset %llu after %llu", q,
		    (unsigned long long)m->queue_off,
		    (unsigned long long)vs->next_off[q]);
		return E_OFFSET;
	}
	vs->skipped += m->queue_off - vs->next_off[q];
	vs->next_off[q] = m->queue_off + 1;
	vs->cnt[h.prod]++;
	if (vs->cnt[h.prod] == 1 || h.seq > vs->maxseen[h.prod])
		vs->maxseen[h.prod] = h.seq;
	if (m->log_off + 1 > vs->log_end)
		vs->log_end = m->log_off + 1;
	vs->got++;
	return E_OK;
}

static int
vst_final(const struct vst *vs, const struct vparams *vp)
{
	uint64_t seq, missing = 0;
	unsigned id;
	int code = E_OK;

	for (id = 0; id < vs->nids; id++) {
		for (seq = 0; seq < vp->need[id] && seq < CAP; seq++) {
			if (vst_has(vs, id, seq))
				continue;
			if (vp->damaged_id == (int32_t)id &&
			    vp->damaged_seq == seq)
				continue;
			if (missing++ < 5)
				tu_detail(vs->who, "missing prod %u seq %llu "
				    "(queue %u)", id, (unsigned long long)seq,
				    queue_for(id, seq));
			code = E_LOSS;
		}
		if (vs->cnt[id] != 0 && vs->maxseen[id] > vp->maxseq[id]) {
			tu_detail(vs->who, "prod %u: seq %llu seen, at most "
			    "%llu sent", id,
			    (unsigned long long)vs->maxseen[id],
			    (unsigned long long)vp->maxseq[id]);
			if (code == E_OK)
				code = E_PHANTOM;
		}
	}
	if (missing != 0)
		tu_detail(vs->who, "%llu messages missing",
		    (unsigned long long)missing);
	return code;
}

struct maxoffs {
	uint64_t	max_off[NQ];
	unsigned	n;
};

static int
maxoffs_cb(void *arg, const struct shmq_queue_info *qi)
{
	struct maxoffs *mo = arg;

	if (qi->queue >= 0 && qi->queue < NQ)
		mo->max_off[qi->queue] = qi->max_off;
	mo->n++;
	return 0;
}

/*
 * Read until every position reaches its queue's max_off, counting
 * SHMQ_ECORRUPT returns; nothing writes meanwhile.
 */
static int
drain(struct shmq_bus *bus, struct shmq_consumer *c, struct vst *vs,
    const struct vparams *vp)
{
	struct shmq_msgview v[16];
	struct maxoffs mo;
	uint64_t end, pos[NQ];
	unsigned q;
	int n, i, rc, at_end;

	end = tu_mono_ns() + (uint64_t)(20e9 * tu_mult());
	for (;;) {
		n = shmq_consumer_poll(c, v, 16, 100);
		if (n == SHMQ_ECORRUPT) {
			if (vs->corrupt++ < 3)
				tu_detail(vs->who, "(SHMQ_ECORRUPT: %s)",
				    shmq_errmsg());
			if (vs->corrupt > 1000)
				return E_CORRUPT;	/* not moving on */
			continue;
		}
		if (n < 0) {
			tu_detail(vs->who, "poll: %s (%s) after %llu messages",
			    shmq_err_name(n), shmq_errmsg(),
			    (unsigned long long)vs->got);
			return E_POLL;
		}
		for (i = 0; i < n; i++)
			if ((rc = vst_msg(vs, vp, &v[i])) != E_OK)
				return rc;
		if (n != 0)
			continue;
		memset(&mo, 0, sizeof(mo));
		if ((rc = shmq_queue_foreach(bus, TOPIC, maxoffs_cb,
		    &mo)) != 0 || mo.n != NQ) {
			tu_detail(vs->who, "queue_foreach: %s, %u queues",
			    shmq_err_name(rc), mo.n);
			return E_STATS;
		}
		at_end = 1;
		for (q = 0; q < NQ; q++) {
			if ((rc = shmq_consumer_position(c, TOPIC, (int)q,
			    &pos[q])) != 0) {
				tu_detail(vs->who, "position: %s",
				    shmq_err_name(rc));
				return E_STATS;
			}
			if (pos[q] < mo.max_off[q])
				at_end = 0;
		}
		if (at_end) {
			for (q = 0; q < NQ; q++) {
				if (pos[q] < vs->next_off[q]) {
					tu_detail(vs->who, "queue %u: position "
					    "%llu behind offset %llu read",
					    q, (unsigned long long)pos[q],
					    (unsigned long long)
					    (vs->next_off[q] - 1));
					return E_OFFSET;
				}
				vs->skipped += pos[q] - vs->next_off[q];
				vs->next_off[q] = pos[q];
			}
			return E_OK;
		}
		if (tu_mono_ns() > end) {
			for (q = 0; q < NQ; q++)
				tu_detail(vs->who, "queue %u: position %llu, "
				    "max_off %llu", q,
				    (unsigned long long)pos[q],
				    (unsigned long long)mo.max_off[q]);
			return E_STUCK;
		}
	}
}

static int
check_pass(const struct vst *vs, const struct vparams *vp, int pass)
{
	if (vs->corrupt < vp->corrupt_min || vs->corrupt > vp->corrupt_max) {
		tu_detail(vs->who, "pass %d: %d SHMQ_ECORRUPT returns, "
		    "expected %d to %d", pass, vs->corrupt, vp->corrupt_min,
		    vp->corrupt_max);
		return E_CORRUPT;
	}
	if (vs->skipped > vp->skipped_max) {
		tu_detail(vs->who, "pass %d: %llu offsets skipped, at most "
		    "%llu allowed", pass, (unsigned long long)vs->skipped,
		    (unsigned long long)vp->skipped_max);
		return E_SKIPPED;
	}
	return vst_final(vs, vp);
}

/*
 * Open the bus (recovery when nobody has it open), read everything from
 * the first offset vp->passes times, check, then optionally send 4
 * messages per queue: they must get the next dense offsets, land after
 * every record read, and be read back.
 */
static int
verify_proc(struct rshared *sh, const char *who)
{
	const struct vparams *vp = &sh->vp;
	struct shmq_send_result res;
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_bus *bus;
	struct shmq_msg m;
	struct maxoffs mo;
	struct vst *vs;
	unsigned char buf[512];
	uint64_t seq, sent[NQ], pos, skipped, log_end;
	unsigned q;
	size_t len;
	int rc, pass;

	vs = calloc(1, sizeof(*vs));
	if (vs == NULL)
		return E_SETUP;
	if ((rc = open_bus(who, vp->bus, &bus)) != E_OK)
		return rc;
	if ((rc = shmq_consumer_open(&c, bus)) != 0 ||
	    (rc = shmq_consumer_assign(c, TOPIC, SHMQ_QUEUE_ANY,
	    "*")) != 0) {
		tu_detail(who, "consumer setup: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	for (pass = 0; pass < vp->passes; pass++) {
		if ((rc = vst_init(vs, who, vp->nids)) != E_OK)
			return rc;
		if ((rc = shmq_consumer_seek(c, TOPIC, SHMQ_QUEUE_ANY,
		    SHMQ_SEEK_FIRST, 0)) != 0) {
			tu_detail(who, "seek: %s (%s)", shmq_err_name(rc),
			    shmq_errmsg());
			return E_SETUP;
		}
		if ((rc = drain(bus, c, vs, vp)) != E_OK ||
		    (rc = check_pass(vs, vp, pass)) != E_OK)
			return rc;
	}
	sh->got = vs->got;
	sh->skipped = vs->skipped;
	sh->corrupt = vs->corrupt;
	if (vp->resend_id < 0)
		goto out;

	memset(&mo, 0, sizeof(mo));
	if ((rc = shmq_queue_foreach(bus, TOPIC, maxoffs_cb, &mo)) != 0) {
		tu_detail(who, "queue_foreach: %s", shmq_err_name(rc));
		return E_STATS;
	}
	if ((rc = shmq_producer_open(&p, bus, "verify")) != 0) {
		tu_detail(who, "producer_open: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	memset(sent, 0, sizeof(sent));
	log_end = vs->log_end;
	for (seq = 0; seq < 4 * NQ; seq++) {
		len = body_pick_len((uint32_t)vp->resend_id, seq, sizeof(buf));
		body_fill(buf, len, (uint32_t)vp->resend_id, seq,
		    tu_mono_ns());
		shmq_msg_init(&m);
		m.topic = TOPIC;
		m.body = buf;
		m.body_len = len;
		q = queue_for((uint32_t)vp->resend_id, seq);
		m.queue = (int)q;
		if ((rc = shmq_producer_send(p, &m, &res)) != 0) {
			tu_detail(who, "send after recovery: %s (%s)",
			    shmq_err_name(rc), shmq_errmsg());
			return E_SEND;
		}
		if (res.queue != (int)q ||
		    res.queue_off != mo.max_off[q] + sent[q]) {
			tu_detail(who, "send after recovery: queue %d off "
			    "%llu, expected queue %u off %llu (dense after the "
			    "recovered tail)", res.queue,
			    (unsigned long long)res.queue_off, q,
			    (unsigned long long)(mo.max_off[q] + sent[q]));
			return E_SENDRES;
		}
		if (res.log_off < log_end) {
			tu_detail(who, "send after recovery stored at log "
			    "offset %llu, before a surviving record at %llu",
			    (unsigned long long)res.log_off,
			    (unsigned long long)(log_end - 1));
			return E_OVERWRITE;
		}
		sent[q]++;
	}
	skipped = vs->skipped;
	vs->corrupt = 0;
	if ((rc = drain(bus, c, vs, vp)) != E_OK)
		return rc;
	if (vs->skipped != skipped || vs->corrupt != 0 ||
	    vs->cnt[vp->resend_id] != 4 * NQ) {
		tu_detail(who, "read back %llu of %u new messages, %llu "
		    "offsets skipped, %d corrupt",
		    (unsigned long long)vs->cnt[vp->resend_id], 4 * NQ,
		    (unsigned long long)(vs->skipped - skipped), vs->corrupt);
		return E_LOSS;
	}
	for (q = 0; q < NQ; q++) {
		if (shmq_consumer_position(c, TOPIC, (int)q, &pos) != 0 ||
		    pos != mo.max_off[q] + sent[q]) {
			tu_detail(who, "queue %u: position %llu after reading "
			    "the new messages, expected %llu", q,
			    (unsigned long long)pos,
			    (unsigned long long)(mo.max_off[q] + sent[q]));
			return E_OFFSET;
		}
		sh->max_off[q] = pos;
	}
	shmq_producer_close(p);
out:
	shmq_consumer_close(c);
	shmq_bus_close(bus);
	free(vs->bits);
	free(vs);
	return E_OK;
}

/* ------------------------------------------------------------------ */
/* The parent                                                          */
/* ------------------------------------------------------------------ */

/* "[who: exit N (name): detail] " if CH did not exit EXPECT. */
static int
report1(const struct tu_child *ch, int expect, char *msg, size_t size)
{
	return tu_report(ch, 1, expect, ecode_name, msg, size);
}

/* Run CALL in a child and assert that it exits EXPECT. */
#define RUN_CHILD(name, expect, secs, call) do {			\
	struct tu_child rc_ch;						\
	char rc_msg[4096];						\
									\
	TU_SPAWN(&rc_ch, (name), (call));				\
	tu_wait_children(&rc_ch, 1, (secs));				\
	if (report1(&rc_ch, (expect), rc_msg, sizeof(rc_msg)))		\
		ck_abort_msg("%s", rc_msg);				\
} while (0)

static struct rshared *
shared_new(void)
{
	struct rshared *sh = tu_shared_new(SHARED_BYTES);

	sh->vp.damaged_id = -1;
	sh->vp.resend_id = -1;
	sh->vp.passes = 1;
	return sh;
}

/* Expect exactly what SH->acked says: all of it, nothing more. */
static void
expect_exact(struct rshared *sh, unsigned nids)
{
	unsigned id;

	sh->vp.nids = nids;
	for (id = 0; id < nids; id++) {
		sh->vp.need[id] = sh->acked[id];
		sh->vp.maxseq[id] = sh->acked[id] - 1;
	}
}

/*
 * The end of tests (b), (c) and (e), once sh->vp describes the damaged
 * store: verify it, sending as producer 1 after reading, then verify again
 * after a reopen with producer 1's new messages expected too.
 */
static void
verify_resend_reopen(struct rshared *sh)
{
	sh->vp.resend_id = 1;
	RUN_CHILD("verify", E_OK, 60, verify_proc(sh, "verify"));
	sh->vp.need[1] = 4 * NQ;
	sh->vp.maxseq[1] = 4 * NQ - 1;
	sh->vp.resend_id = -1;
	RUN_CHILD("reverify", E_OK, 60, verify_proc(sh, "reverify"));
}

static void
wait_flag(uint32_t *flag, double secs)
{
	uint64_t end = tu_mono_ns() + (uint64_t)(secs * 1e9);

	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) == 0 &&
	    tu_mono_ns() < end)
		usleep(100);
}

/* ------------------------------------------------------------------ */
/* Finding and damaging records on disk                                */
/* ------------------------------------------------------------------ */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Segment start offsets of the store's commitlog, sorted. */
static size_t
list_segments(const char *store, uint64_t *out, size_t max)
{
	char dir[4300];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/commitlog", store);
	d = opendir(dir);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max)
		if (strlen(de->d_name) == 20 &&
		    strspn(de->d_name, "0123456789") == 20)
			out[n++] = strtoull(de->d_name, NULL, 10);
	closedir(d);
	qsort(out, n, sizeof(*out), cmp_u64);
	return n;
}

struct recloc {
	char		path[4400];	/* segment file */
	uint64_t	seg;		/* its first log offset */
	uint64_t	pos;		/* record's position in the file */
	uint32_t	size;
	uint32_t	queue;
	uint64_t	queue_off;
	int		last_in_seg;	/* no message record after it there */
};

/*
 * Walk the message records of the log in order.  Find the one at (QUEUE,
 * QOFF), or with QUEUE < 0 the last one.  0, or -1 if not found.
 */
static int
find_record(const char *store, int queue, uint64_t qoff, struct recloc *out)
{
	uint64_t segs[4096];
	size_t n, k;
	int found = -1;

	n = list_segments(store, segs, 4096);
	for (k = 0; k < n; k++) {
		char path[4400];
		struct stat st;
		unsigned char *base;
		uint64_t pos = 0;
		int fd;

		snprintf(path, sizeof(path), "%s/commitlog/%020llu", store,
		    (unsigned long long)segs[k]);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) < 0 || st.st_size == 0) {
			close(fd);
			continue;
		}
		base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED,
		    fd, 0);
		close(fd);
		if (base == MAP_FAILED)
			continue;
		while (pos + sizeof(struct shmq_rec) <= (uint64_t)st.st_size) {
			const struct shmq_rec *r = (const void *)(base + pos);

			if (r->size < 8 || (r->size & 7) != 0 ||
			    pos + r->size > (uint64_t)st.st_size ||
			    r->magic == SHMQ_PAD_MAGIC)
				break;
			if (r->magic == SHMQ_REC_MAGIC &&
			    (queue < 0 || (r->queue == queue &&
			    r->queue_off == qoff))) {
				snprintf(out->path, sizeof(out->path), "%s",
				    path);
				out->seg = segs[k];
				out->pos = pos;
				out->size = r->size;
				out->queue = r->queue;
				out->queue_off = r->queue_off;
				out->last_in_seg = 1;
				found = 0;
			} else if (found == 0 && r->magic == SHMQ_REC_MAGIC &&
			    queue < 0)
				out->last_in_seg = 0;
			pos += r->size;
		}
		munmap(base, (size_t)st.st_size);
		if (found == 0 && queue >= 0)
			break;
	}
	return found;
}

static int
file_zero(const char *path, uint64_t off, size_t len)
{
	char zero[4096];
	size_t n;
	int fd;

	memset(zero, 0, sizeof(zero));
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	while (len > 0) {
		n = len < sizeof(zero) ? len : sizeof(zero);
		if (pwrite(fd, zero, n, (off_t)off) != (ssize_t)n) {
			close(fd);
			return -1;
		}
		off += n;
		len -= n;
	}
	close(fd);
	return 0;
}

static int
file_poke(const char *path, uint64_t off, const void *p, size_t len)
{
	int fd, rc = 0;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	if (pwrite(fd, p, len, (off_t)off) != (ssize_t)len)
		rc = -1;
	close(fd);
	return rc;
}

static int
file_peek(const char *path, uint64_t off, void *p, size_t len)
{
	int fd, rc = 0;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	if (pread(fd, p, len, (off_t)off) != (ssize_t)len)
		rc = -1;
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void
setup(void)
{
	tu_setup_store();
	tu_seed("recovery");
}

static void
teardown(void)
{
	tu_sh("rm -f /dev/shm/shmq.*.%s* 2>/dev/null", tu_bus());
	tu_cleanup_store();
}

#define NCOPY		3

/*
 * (a) Two producers write (with short pauses, so copies stay small) while
 * the store is copied three times with cp -a.  Each copy, opened under its
 * own name: opens, delivers only intact messages with growing offsets,
 * holds everything acknowledged before its copy began, and takes new sends
 * with dense offsets after its recovered tail; then again after a reopen.
 * The original, closed cleanly, holds everything, exactly.
 */
START_TEST(test_copy_while_writing)
{
	struct rshared *sh;
	struct tu_child w[2];
	uint64_t snap[NCOPY][2], final[2];
	char name[NCOPY][128], msg[4096];
	unsigned i, c;

	sh = shared_new();
	RUN_CHILD("setup", E_OK, 30, setup_proc());
	for (i = 0; i < 2; i++) {
		char who[32];

		snprintf(who, sizeof(who), "writer%u", i);
		TU_SPAWN(&w[i], who, writer_proc(sh, NULL, i, 1, 0, CAP, 2000,
		    1000, W_CLEAN));
	}
	wait_flag(&sh->ready[0], 20);
	wait_flag(&sh->ready[1], 20);
	for (c = 0; c < NCOPY; c++) {
		usleep((useconds_t)(30000 + tu_rand() % 50000));
		for (i = 0; i < 2; i++)
			snap[c][i] = __atomic_load_n(&sh->acked[i],
			    __ATOMIC_ACQUIRE);
		snprintf(name[c], sizeof(name[c]), "%sc%u", tu_bus(), c);
		ck_assert_int_eq(tu_sh("cp -a '%s' '%s/%s'", store_dir(NULL),
		    tu_home(), name[c]), 0);
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	tu_wait_children(w, 2, 60);
	for (i = 0; i < 2; i++) {
		if (report1(&w[i], E_OK, msg, sizeof(msg)))
			ck_abort_msg("%s", msg);
		final[i] = sh->acked[i];
		ck_assert_msg(snap[0][i] > 0, "writer %u sent nothing before "
		    "the first copy", i);
	}

	/* The original: exact. */
	expect_exact(sh, 3);
	sh->vp.need[2] = sh->vp.maxseq[2] = 0;
	sh->vp.corrupt_min = sh->vp.corrupt_max = 0;
	sh->vp.skipped_max = 0;
	sh->vp.passes = 1;
	sh->vp.resend_id = -1;
	RUN_CHILD("verify-orig", E_OK, 60, verify_proc(sh, "verify-orig"));

	for (c = 0; c < NCOPY; c++) {
		char who[32];

		memset(&sh->vp, 0, sizeof(sh->vp));
		snprintf(sh->vp.bus, sizeof(sh->vp.bus), "%s", name[c]);
		sh->vp.nids = 3;
		sh->vp.damaged_id = -1;
		for (i = 0; i < 2; i++) {
			sh->vp.need[i] = snap[c][i];
			sh->vp.maxseq[i] = final[i] - 1;
		}
		/* Records in flight while cp read the files may be torn in
		 * the copy: they may be skipped or reported corrupt, never
		 * delivered torn. */
		sh->vp.corrupt_max = 64;
		sh->vp.skipped_max = UINT64_MAX;
		sh->vp.passes = 1;
		sh->vp.resend_id = 2;
		snprintf(who, sizeof(who), "verify-copy%u", c);
		RUN_CHILD(who, E_OK, 60, verify_proc(sh, who));
		fprintf(stderr, "copy %u: %llu messages (at least %llu "
		    "acknowledged before the copy), %llu skipped, %d "
		    "corrupt\n", c, (unsigned long long)sh->got,
		    (unsigned long long)(snap[c][0] + snap[c][1]),
		    (unsigned long long)sh->skipped, sh->corrupt);
		/* Reopen: the recovered copy and its new messages stay. */
		sh->vp.need[2] = 4 * NQ;
		sh->vp.maxseq[2] = 4 * NQ - 1;
		sh->vp.resend_id = -1;
		snprintf(who, sizeof(who), "reverify-copy%u", c);
		RUN_CHILD(who, E_OK, 60, verify_proc(sh, who));
	}
	munmap(sh, SHARED_BYTES);
}
END_TEST

#define NB		3000

enum tail_damage {
	TD_TRUNC,	/* newest segment cut short inside the last record */
	TD_ZERO,	/* bytes zeroed inside the last record */
	TD_TRUNC_ZERO,	/* both */
	TD_GAP		/* a record zeroed in the middle of the last segment */
};

static const char *
td_name(int td)
{
	switch (td) {
	case TD_TRUNC:	return "truncated";
	case TD_ZERO:	return "zeroed";
	case TD_TRUNC_ZERO: return "zeroed and truncated";
	case TD_GAP:	return "gap in the last segment";
	default:	return "?";
	}
}

/*
 * (b) One producer sends NB messages over about three segments, then
 * closes cleanly (even _i) or is SIGKILLed (odd _i); the log's tail is
 * damaged as _i / 2 says.  Every other message survives, the damaged one
 * is never delivered (at most one SHMQ_ECORRUPT), sends continue after the
 * surviving records, and all of it survives a reopen.
 */
START_TEST(test_torn_tail)
{
	int td = _i / 2, killed = _i % 2;
	struct rshared *sh;
	struct recloc rl;
	uint64_t target, cut;
	const char *store = store_dir(NULL);

	sh = shared_new();
	RUN_CHILD("setup", E_OK, 30, setup_proc());
	RUN_CHILD("writer0", killed ? 128 + SIGKILL : E_OK, 60,
	    writer_proc(sh, NULL, 0, 1, 0, NB, 1500, 0,
	    killed ? W_KILL_SELF : W_CLEAN));
	ck_assert_uint_eq(sh->acked[0], NB);

	/* One writer, one thread: log order is send order. */
	target = td == TD_GAP ? NB - 20 : NB - 1;
	if (td == TD_GAP)
		ck_assert_int_eq(find_record(store, (int)queue_for(0, target),
		    target / NQ, &rl), 0);
	else {
		ck_assert_int_eq(find_record(store, -1, 0, &rl), 0);
		ck_assert_msg(rl.queue == queue_for(0, target) &&
		    rl.queue_off == target / NQ, "last record is queue %u off "
		    "%llu, not seq %llu", rl.queue,
		    (unsigned long long)rl.queue_off,
		    (unsigned long long)target);
	}
	ck_assert_msg(rl.seg > 0, "the log should span several segments");
	fprintf(stderr, "torn tail (%s, %s): seq %llu at %s+%llu, %u bytes\n",
	    td_name(td), killed ? "killed" : "closed",
	    (unsigned long long)target, rl.path, (unsigned long long)rl.pos,
	    rl.size);
	if (td == TD_ZERO || td == TD_TRUNC_ZERO || td == TD_GAP)
		ck_assert_int_eq(file_zero(rl.path, rl.pos + rl.size / 4,
		    rl.size / 2), 0);
	if (td == TD_TRUNC || td == TD_TRUNC_ZERO) {
		cut = rl.pos + (td == TD_TRUNC ? rl.size / 2 :
		    rl.size * 7 / 8);
		ck_assert_int_eq(truncate(rl.path, (off_t)cut), 0);
	}

	expect_exact(sh, 2);
	sh->vp.need[1] = sh->vp.maxseq[1] = 0;
	sh->vp.damaged_id = 0;
	sh->vp.damaged_seq = target;
	sh->vp.corrupt_min = 0;
	sh->vp.corrupt_max = 1;
	sh->vp.skipped_max = 1;
	sh->vp.passes = 2;
	verify_resend_reopen(sh);
	munmap(sh, SHARED_BYTES);
}
END_TEST

#define NC		4000

enum mid_damage {
	MD_BODY,	/* a byte of the payload flipped */
	MD_SIZE,	/* the size field made huge */
	MD_MAGIC,	/* the magic changed */
	MD_LOGOFF	/* the record's own offset changed */
};

/*
 * (c) A record in the middle of the log damaged after a clean close: a
 * reader gets SHMQ_ECORRUPT exactly once for it, in each of two passes
 * from the first offset, and every other message; no crash.  Then sends
 * continue and everything survives a reopen.
 */
START_TEST(test_corrupt_middle)
{
	int md = _i;
	struct rshared *sh;
	struct recloc rl;
	uint64_t target = NC / 2;
	struct shmq_rec hdr;
	uint32_t u32;
	uint64_t u64;
	unsigned char b;
	const char *store = store_dir(NULL);

	sh = shared_new();
	RUN_CHILD("setup", E_OK, 30, setup_proc());
	RUN_CHILD("writer0", E_OK, 60, writer_proc(sh, NULL, 0, 1, 0, NC,
	    1200, 0, W_CLEAN));
	ck_assert_uint_eq(sh->acked[0], NC);
	ck_assert_int_eq(find_record(store, (int)queue_for(0, target),
	    target / NQ, &rl), 0);
	fprintf(stderr, "corrupt middle (%d): seq %llu at %s+%llu, %u "
	    "bytes\n", md, (unsigned long long)target, rl.path,
	    (unsigned long long)rl.pos, rl.size);
	switch (md) {
	case MD_BODY:
		/* A byte in the middle of the body: header, topic, tags,
		 * keys and properties come first. */
		ck_assert_int_eq(file_peek(rl.path, rl.pos, &hdr, sizeof(hdr)),
		    0);
		u64 = rl.pos + sizeof(hdr) + hdr.topic_len + hdr.tags_len +
		    hdr.keys_len + hdr.props_len + hdr.body_len / 2;
		ck_assert_uint_lt(u64, rl.pos + rl.size);
		ck_assert_int_eq(file_peek(rl.path, u64, &b, 1), 0);
		b ^= 0x5a;
		ck_assert_int_eq(file_poke(rl.path, u64, &b, 1), 0);
		break;
	case MD_SIZE:
		u32 = 0x7ffffff8u;
		ck_assert_int_eq(file_poke(rl.path, rl.pos +
		    offsetof(struct shmq_rec, size), &u32, 4), 0);
		break;
	case MD_MAGIC:
		u32 = 0xdeadbeefu;
		ck_assert_int_eq(file_poke(rl.path, rl.pos +
		    offsetof(struct shmq_rec, magic), &u32, 4), 0);
		break;
	case MD_LOGOFF:
		u64 = rl.seg + rl.pos + 4096;
		ck_assert_int_eq(file_poke(rl.path, rl.pos +
		    offsetof(struct shmq_rec, log_off), &u64, 8), 0);
		break;
	}

	expect_exact(sh, 2);
	sh->vp.need[1] = sh->vp.maxseq[1] = 0;
	sh->vp.damaged_id = 0;
	sh->vp.damaged_seq = target;
	sh->vp.corrupt_min = 1;
	sh->vp.corrupt_max = 1;
	sh->vp.skipped_max = 1;
	sh->vp.passes = 2;
	verify_resend_reopen(sh);
	munmap(sh, SHARED_BYTES);
}
END_TEST

#define ROUNDS_D	3
#define NPROC_D		2
#define NTHR_D		2
#define VBASE_D		24

/*
 * (d) Two producer processes of two threads each (bodies up to 8 KiB, so
 * 1 MiB segments and 1024-entry index files roll all the time) and a
 * reader, all SIGKILLed at a random moment; a fresh process recovers the
 * store: everything acknowledged, nothing torn, at most one hole per dead
 * sender thread, dense sends after the tail.  Three rounds.
 */
START_TEST(test_kill_all_rolls)
{
	struct rshared *sh;
	struct tu_child ch[NPROC_D + 1];
	char msg[4096], who[32];
	unsigned r, i, id, n;
	uint64_t total = 0;

	sh = shared_new();
	RUN_CHILD("setup", E_OK, 30, setup_proc());
	sh->vp.nids = MAXID;
	for (r = 0; r < ROUNDS_D; r++) {
		n = 0;
		snprintf(who, sizeof(who), "reader%u", r);
		TU_SPAWN(&ch[n], who, reader_proc(who));
		n++;
		for (i = 0; i < NPROC_D; i++) {
			id = (r * NPROC_D + i) * NTHR_D;
			snprintf(who, sizeof(who), "writer%u", id);
			TU_SPAWN(&ch[n], who, writer_proc(sh, NULL, id, NTHR_D,
			    0, CAP, 8192, 0, W_UNTIL_KILLED));
			n++;
		}
		for (i = 0; i < NPROC_D * NTHR_D; i++)
			wait_flag(&sh->ready[r * NPROC_D * NTHR_D + i], 20);
		usleep((useconds_t)(20000 + tu_rand() % 80000));
		for (i = 0; i < n; i++)
			kill(ch[(i + r) % n].pid, SIGKILL);
		for (i = 0; i < n; i++) {
			ch[i].code = tu_wait(ch[i].pid);
			if (report1(&ch[i], 128 + SIGKILL, msg, sizeof(msg)))
				ck_abort_msg("round %u: %s", r, msg);
		}
		for (i = 0; i < NPROC_D * NTHR_D; i++) {
			id = r * NPROC_D * NTHR_D + i;
			sh->vp.need[id] = sh->acked[id];
			sh->vp.maxseq[id] = sh->acked[id];
			total += sh->acked[id];
		}
		sh->vp.corrupt_min = sh->vp.corrupt_max = 0;
		sh->vp.skipped_max = (uint64_t)(r + 1) * NPROC_D * NTHR_D;
		sh->vp.passes = 1;
		sh->vp.resend_id = (int)(VBASE_D + r);
		snprintf(who, sizeof(who), "verify%u", r);
		RUN_CHILD(who, E_OK, 60, verify_proc(sh, who));
		sh->vp.need[VBASE_D + r] = 4 * NQ;
		sh->vp.maxseq[VBASE_D + r] = 4 * NQ - 1;
		fprintf(stderr, "kill all, round %u: %llu messages, %llu "
		    "offsets skipped\n", r, (unsigned long long)sh->got,
		    (unsigned long long)sh->skipped);
	}
	/* About 4 KiB a message: enough for many segment and index rolls. */
	ck_assert_msg(total > 2 * CQ_ENTRIES, "only %llu messages sent",
	    (unsigned long long)total);
	munmap(sh, SHARED_BYTES);
}
END_TEST

enum ckpt_damage {
	CK_DELETED,
	CK_GARBAGE,
	CK_EMPTY,
	CK_DELETED_NO_INDEX,	/* and queue 1's index files deleted */
	CK_GARBAGE_SHORT_INDEX	/* and queue 2's index file cut short */
};

#define NE		1500

/*
 * (e) NE messages and a clean close, then NE more and a SIGKILL, so that
 * recovery has work past the checkpoint; then the checkpoint is damaged
 * (and in two variants index files lost).  Everything is there, exactly,
 * with dense offsets, and sends continue.
 */
START_TEST(test_checkpoint_damage)
{
	int cd = _i;
	struct rshared *sh;
	unsigned char junk[40];
	char path[4400];
	const char *store = store_dir(NULL);
	unsigned i;

	sh = shared_new();
	RUN_CHILD("setup", E_OK, 30, setup_proc());
	RUN_CHILD("writer0", E_OK, 60, writer_proc(sh, NULL, 0, 1, 0, NE,
	    1000, 0, W_CLEAN));
	RUN_CHILD("writer0b", 128 + SIGKILL, 60, writer_proc(sh, NULL, 0, 1,
	    NE, NE, 1000, 0, W_KILL_SELF));
	ck_assert_uint_eq(sh->acked[0], 2 * NE);

	snprintf(path, sizeof(path), "%s/checkpoint", store);
	switch (cd) {
	case CK_DELETED:
	case CK_DELETED_NO_INDEX:
		ck_assert_int_eq(unlink(path), 0);
		break;
	case CK_GARBAGE:
	case CK_GARBAGE_SHORT_INDEX:
		for (i = 0; i < sizeof(junk); i++)
			junk[i] = (unsigned char)tu_rand();
		ck_assert_int_eq(file_poke(path, 0, junk, sizeof(junk)), 0);
		break;
	case CK_EMPTY:
		ck_assert_int_eq(truncate(path, 0), 0);
		break;
	}
	if (cd == CK_DELETED_NO_INDEX)
		ck_assert_int_eq(tu_sh("rm -f '%s'/consumequeue/%s/1/*", store,
		    TOPIC), 0);
	if (cd == CK_GARBAGE_SHORT_INDEX)
		ck_assert_int_eq(tu_sh("truncate -s %u '%s'/consumequeue/%s/2/"
		    "00000000000000000000", (unsigned)(NE / NQ *
		    sizeof(struct shmq_cq_entry)), store, TOPIC), 0);

	expect_exact(sh, 2);
	sh->vp.need[1] = sh->vp.maxseq[1] = 0;
	sh->vp.corrupt_min = sh->vp.corrupt_max = 0;
	sh->vp.skipped_max = 0;
	sh->vp.passes = 1;
	verify_resend_reopen(sh);
	munmap(sh, SHARED_BYTES);
}
END_TEST

static Suite *
recovery_suite(void)
{
	Suite *s = suite_create("recovery");
	TCase *tc;

	tc = tcase_create("copy");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_copy_while_writing);
	suite_add_tcase(s, tc);

	tc = tcase_create("torn_tail");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_torn_tail, 0, 8);
	suite_add_tcase(s, tc);

	tc = tcase_create("corrupt_middle");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_corrupt_middle, 0, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("kill_all");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_kill_all_rolls);
	suite_add_tcase(s, tc);

	tc = tcase_create("checkpoint");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_checkpoint_damage, 0, 5);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(recovery_suite);
}
