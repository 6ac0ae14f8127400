/*
 * check_crash.c - processes SIGKILLed at random moments while others run.
 *
 * What DESIGN.md's invariants demand, tested here:
 *  - a dead writer blocks nobody: producers killed mid-send (often with an
 *    index entry claimed and not committed) never stall a consumer or
 *    another producer for longer than a short time (stall_ms = 20 here; we
 *    allow a couple of seconds, scaled by CK_TIMEOUT_MULTIPLIER, to stay
 *    clear of CI noise while catching Aeron-like 15 s waits or hangs);
 *  - no torn reads: every body carries a header checksum and a payload
 *    generated from (producer, seq), and every message read is checked;
 *  - nothing acknowledged is lost: each producer stores the count of its
 *    acknowledged sends in a MAP_SHARED page after every successful send,
 *    and every seq below that count must be readable afterwards (and no seq
 *    above it, which was never sent, may appear);
 *  - killing consumers affects nobody else;
 *  - killing everything, then reopening, recovers the tails: everything
 *    acknowledged is there and sends continue with dense queue offsets.
 *
 * Children report only through _exit() codes (E_* below) and a detail file
 * in the store root; the parent asserts once per phase.  The random seed is
 * printed; set SHMQ_TEST_SEED to replay a run's kill schedule.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <check.h>

#include "shmq/shmq.h"
#include "body.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* Exit codes of children (E_OK to E_QUEUE: body.h)                    */
/* ------------------------------------------------------------------ */

enum {
	E_LOSS = E_BODY_NEXT,	/* an acknowledged message is missing */
	E_PHANTOM,	/* a seq that was never sent */
	E_STALL,	/* a consumer waited too long between messages */
	E_SLOWSEND,	/* a send took too long */
	E_STUCK,	/* positions never reach the queues' tails */
	E_HOLES,	/* more holes than dead writers */
	E_CLIENTS,	/* a killed client still shown alive */
	E_STATS,	/* introspection call failed */
};

static const char *
ecode_name(int code)
{
	switch (code) {
	case E_LOSS:	return "acknowledged message lost";
	case E_PHANTOM:	return "message that was never acknowledged nor sent";
	case E_STALL:	return "consumer stalled";
	case E_SLOWSEND: return "send stalled";
	case E_STUCK:	return "consumer stuck before the tail";
	case E_HOLES:	return "too many holes";
	case E_CLIENTS:	return "dead client shown alive";
	case E_STATS:	return "introspection failed";
	default:	return body_exit_name(code);
	}
}

/* ------------------------------------------------------------------ */
/* Shared state and helpers                                            */
/* ------------------------------------------------------------------ */

#define TOPIC		"crash.topic"
#define NQ		4
#define MAXID		256
#define CAP		(1u << 18)	/* seqs per logical producer */
#define MAXVICT		64
#define SHARED_BYTES	(64 * 1024)

/* One anonymous MAP_SHARED region, mapped before any fork. */
struct cshared {
	uint32_t	go;		/* parent: start */
	uint32_t	stop;		/* parent: steady producers stop */
	uint32_t	ready[MAXID];	/* producer id began sending */
	uint32_t	done[MAXID];	/* producer id stopped; acked final */
	uint64_t	acked[MAXID];	/* sends of id that returned 0 */
	uint32_t	cready;		/* consumers ready */
	uint32_t	nvict;
	int32_t		vict[MAXVICT];	/* pids of killed consumers */
	/* Expectations for verifiers, written by the parent. */
	uint32_t	nids;
	uint32_t	pad;
	uint64_t	need[MAXID];	/* seqs [0, need) must be present */
	uint64_t	maxseq[MAXID];	/* no seq above may appear */
	uint64_t	holes_max;	/* dead writers so far */
	/* Results. */
	uint64_t	max_gap_ns;
	uint64_t	max_send_ns;
	uint64_t	holes;
	uint64_t	skipped;
	uint64_t	got;
	uint64_t	max_off[NQ];
};
_Static_assert(sizeof(struct cshared) <= SHARED_BYTES, "shared page");

/* The longest a live consumer or producer may wait on a dead one. */
static uint64_t
stall_limit_ns(void)
{
	return (uint64_t)(2e9 * tu_mult());
}

static void
opts_for(struct shmq_bus_opts *o, uint64_t segment_bytes)
{
	shmq_bus_opts_init(o);
	o->segment_bytes = segment_bytes;
	o->default_queues = NQ;
	o->stall_ms = 20;
	if (o->max_msg_bytes > segment_bytes / 4)
		o->max_msg_bytes = (uint32_t)(segment_bytes / 4);
}

static unsigned
queue_for(uint32_t id, uint64_t seq)
{
	return (unsigned)((seq + id) % NQ);
}

static struct cshared *
shared_new(void)
{
	return tu_shared_new(SHARED_BYTES);
}

static int
open_bus(const char *who, uint64_t segment_bytes, struct shmq_bus **bus)
{
	struct shmq_bus_opts o;
	int rc;

	opts_for(&o, segment_bytes);
	if ((rc = shmq_bus_open(bus, NULL, &o)) != 0) {
		tu_detail(who, "bus_open: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	return E_OK;
}

/* ------------------------------------------------------------------ */
/* Verifier state: what a consumer has seen, and checks per message    */
/* ------------------------------------------------------------------ */

struct vst {
	const char	*who;
	unsigned	 nids;
	uint8_t		*bits;		/* nids * CAP bits */
	int64_t		 last[MAXID][NQ];
	uint64_t	 cnt[MAXID];	/* distinct seqs seen */
	uint64_t	 maxseen[MAXID];
	uint64_t	 next_off[NQ];
	uint64_t	 skipped;	/* queue offsets passed over */
	uint64_t	 got;
};

static int
vst_init(struct vst *vs, const char *who, unsigned nids)
{
	unsigned id, q;

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

static void
vst_fini(struct vst *vs)
{
	free(vs->bits);
	vs->bits = NULL;
}

/* Check one message and record it.  E_OK or the failure. */
static int
vst_msg(struct vst *vs, const struct shmq_msgview *m, struct body_hdr *hp)
{
	struct body_hdr h;
	uint64_t bit;
	unsigned q;

	if (body_check(m->body, m->body_len, &h) != 0) {
		tu_detail(vs->who, "torn body: queue %d off %llu len %zu",
		    m->queue, (unsigned long long)m->queue_off, m->body_len);
		return E_TORN;
	}
	if (h.prod >= vs->nids || h.seq >= CAP || m->queue < 0 ||
	    m->queue >= NQ) {
		tu_detail(vs->who, "out of range: prod %u seq %llu queue %d",
		    h.prod, (unsigned long long)h.seq, m->queue);
		return E_BADID;
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
	vs->got++;
	if (hp != NULL)
		*hp = h;
	return E_OK;
}

static int
vst_has(const struct vst *vs, uint32_t id, uint64_t seq)
{
	uint64_t bit = (uint64_t)id * CAP + seq;

	return (vs->bits[bit / 8] >> (bit % 8)) & 1;
}

/* Everything in [0, need) present, nothing above maxseq. */
static int
vst_final(const struct vst *vs, const uint64_t *need, const uint64_t *maxseq)
{
	uint64_t seq, missing = 0;
	unsigned id;
	int code = E_OK;

	for (id = 0; id < vs->nids; id++) {
		for (seq = 0; seq < need[id] && seq < CAP; seq++) {
			if (vst_has(vs, id, seq))
				continue;
			if (missing++ < 5)
				tu_detail(vs->who, "missing prod %u seq %llu "
				    "of %llu acknowledged (queue %u)", id,
				    (unsigned long long)seq,
				    (unsigned long long)need[id],
				    queue_for(id, seq));
			code = E_LOSS;
		}
		if (vs->cnt[id] != 0 && vs->maxseen[id] > maxseq[id]) {
			tu_detail(vs->who, "prod %u: seq %llu seen, but only "
			    "%llu acknowledged", id,
			    (unsigned long long)vs->maxseen[id],
			    (unsigned long long)maxseq[id]);
			if (code == E_OK)
				code = E_PHANTOM;
		}
	}
	if (missing != 0)
		tu_detail(vs->who, "%llu acknowledged messages missing",
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
 * With no writer left, read until every position reaches its queue's
 * max_off.  A reader that cannot get past a dead reservation is E_STUCK.
 */
static int
drain(struct shmq_bus *bus, struct shmq_consumer *c, struct vst *vs)
{
	struct shmq_msgview v[64];
	struct maxoffs mo;
	uint64_t end, pos[NQ];
	unsigned q;
	int n, i, rc, at_end;

	end = tu_mono_ns() + (uint64_t)(30e9 * tu_mult());
	for (;;) {
		n = shmq_consumer_poll(c, v, 64, 200);
		if (n < 0) {
			tu_detail(vs->who, "poll: %s (%s) after %llu messages",
			    shmq_err_name(n), shmq_errmsg(),
			    (unsigned long long)vs->got);
			return E_POLL;
		}
		for (i = 0; i < n; i++)
			if ((rc = vst_msg(vs, &v[i], NULL)) != E_OK)
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
			/* Holes at the tail were passed over, too. */
			for (q = 0; q < NQ; q++) {
				if (pos[q] < vs->next_off[q]) {
					tu_detail(vs->who, "queue %u: position "
					    "%llu behind a message read at "
					    "%llu", q,
					    (unsigned long long)pos[q],
					    (unsigned long long)
					    (vs->next_off[q] - 1));
					return E_OFFSET;
				}
				vs->skipped += pos[q] - vs->next_off[q];
				vs->next_off[q] = pos[q];
			}
			break;
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
	return E_OK;
}

static int
consumer_first(const char *who, struct shmq_bus *bus,
    struct shmq_consumer **c, int first)
{
	int rc;

	if ((rc = shmq_consumer_open(c, bus)) != 0 ||
	    (rc = shmq_consumer_assign(*c, TOPIC, SHMQ_QUEUE_ANY,
	    "*")) != 0 ||
	    (first && (rc = shmq_consumer_seek(*c, TOPIC, SHMQ_QUEUE_ANY,
	    SHMQ_SEEK_FIRST, 0)) != 0)) {
		tu_detail(who, "consumer setup: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	return E_OK;
}

/* ------------------------------------------------------------------ */
/* Children                                                            */
/* ------------------------------------------------------------------ */

static int
setup_proc(uint64_t segment_bytes)
{
	struct shmq_bus *bus;
	int rc;

	if ((rc = open_bus("setup", segment_bytes, &bus)) != E_OK)
		return rc;
	if ((rc = shmq_topic_create(bus, TOPIC, NQ)) != 0) {
		tu_detail("setup", "topic_create: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	shmq_bus_close(bus);
	return E_OK;
}

/*
 * A producer that sends in a tight loop until it is killed, publishing the
 * count of acknowledged sends after each one.
 */
static int
killer_proc(struct cshared *sh, uint32_t id, uint64_t segment_bytes,
    size_t maxlen)
{
	struct shmq_producer *p;
	struct shmq_bus *bus;
	struct shmq_msg m;
	unsigned char buf[4096];
	char who[32];
	uint64_t seq;
	size_t len;
	int rc;

	snprintf(who, sizeof(who), "killer%u", id);
	if ((rc = open_bus(who, segment_bytes, &bus)) != E_OK)
		return rc;
	if ((rc = shmq_producer_open(&p, bus, "killer")) != 0) {
		tu_detail(who, "producer_open: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	__atomic_store_n(&sh->ready[id], 1, __ATOMIC_RELEASE);
	for (seq = 0; seq < CAP; seq++) {
		len = body_pick_len(id, seq, maxlen);
		body_fill(buf, len, id, seq, tu_mono_ns());
		shmq_msg_init(&m);
		m.topic = TOPIC;
		m.body = buf;
		m.body_len = len;
		m.queue = (int)queue_for(id, seq);
		if ((rc = shmq_producer_send(p, &m, NULL)) != 0) {
			tu_detail(who, "seq %llu: send: %s (%s)",
			    (unsigned long long)seq, shmq_err_name(rc),
			    shmq_errmsg());
			return E_SEND;
		}
		__atomic_store_n(&sh->acked[id], seq + 1, __ATOMIC_RELEASE);
	}
	for (;;)
		pause();
}

/*
 * A steady producer: one message every ~100 us, round robin over the
 * queues, until told to stop.  No send may take long.
 */
static int
steady_proc(struct cshared *sh, uint32_t id, uint64_t segment_bytes,
    unsigned pause_us)
{
	struct shmq_producer *p;
	struct shmq_bus *bus;
	struct shmq_msg m;
	unsigned char buf[512];
	char who[32];
	uint64_t seq, t, dt, worst = 0;
	size_t len;
	int rc;

	snprintf(who, sizeof(who), "steady%u", id);
	if ((rc = open_bus(who, segment_bytes, &bus)) != E_OK)
		return rc;
	if ((rc = shmq_producer_open(&p, bus, "steady")) != 0) {
		tu_detail(who, "producer_open: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	__atomic_store_n(&sh->ready[id], 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE) == 0)
		usleep(200);
	for (seq = 0; seq < CAP &&
	    __atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) == 0; seq++) {
		len = body_pick_len(id, seq, sizeof(buf));
		t = tu_mono_ns();
		body_fill(buf, len, id, seq, t);
		shmq_msg_init(&m);
		m.topic = TOPIC;
		m.body = buf;
		m.body_len = len;
		m.queue = (int)queue_for(id, seq);
		if ((rc = shmq_producer_send(p, &m, NULL)) != 0) {
			tu_detail(who, "seq %llu: send: %s (%s)",
			    (unsigned long long)seq, shmq_err_name(rc),
			    shmq_errmsg());
			return E_SEND;
		}
		dt = tu_mono_ns() - t;
		if (dt > worst)
			worst = dt;
		__atomic_store_n(&sh->acked[id], seq + 1, __ATOMIC_RELEASE);
		if (pause_us != 0 && (seq & 31) == 31)
			usleep(pause_us);
	}
	__atomic_store_n(&sh->done[id], 1, __ATOMIC_RELEASE);
	/* Several steady producers: keep the worst. */
	for (;;) {
		uint64_t cur = __atomic_load_n(&sh->max_send_ns,
		    __ATOMIC_ACQUIRE);

		if (worst <= cur || __atomic_compare_exchange_n(
		    &sh->max_send_ns, &cur, worst, 0, __ATOMIC_ACQ_REL,
		    __ATOMIC_ACQUIRE))
			break;
	}
	shmq_producer_close(p);
	shmq_bus_close(bus);
	if (worst > stall_limit_ns()) {
		tu_detail(who, "a send took %.3f s", (double)worst / 1e9);
		return E_SLOWSEND;
	}
	return E_OK;
}

struct live_cfg {
	uint64_t	segment_bytes;
	unsigned	nids;		/* all logical producers */
	unsigned	nsteady;	/* ids [0, nsteady) are steady */
	unsigned	nkiller;	/* the rest were killed */
	int		timeout_ms;
	int		check_clients;	/* sh->vict must not show alive */
};

struct clcheck {
	struct cshared	*sh;
	int		 bad;
	char		 msg[256];
};

static int
clcheck_cb(void *arg, const struct shmq_client_info *ci)
{
	struct clcheck *cc = arg;
	uint32_t i;

	for (i = 0; i < cc->sh->nvict && i < MAXVICT; i++) {
		if (ci->pid == cc->sh->vict[i] && ci->alive) {
			if (cc->bad++ == 0)
				snprintf(cc->msg, sizeof(cc->msg), "killed "
				    "pid %d shown alive (slot %u, %s)",
				    ci->pid, ci->id, ci->role);
		}
	}
	return 0;
}

/*
 * The live consumer: reads everything from the first offset while writers
 * die around it.  Per queue, the time between two messages of steady
 * producers must stay under the stall limit.  Ends once the parent said
 * stop, the steady producers are done and all of their messages arrived.
 */
static int
live_proc(struct cshared *sh, const struct live_cfg *lc, const char *who)
{
	struct shmq_msgview v[64];
	struct shmq_bus_info bi;
	struct shmq_consumer *c;
	struct shmq_bus *bus;
	struct body_hdr h;
	struct vst *vs;
	uint64_t last_rx[NQ], now, worst = 0, last_progress, idle_ns;
	uint64_t need[MAXID], maxseq[MAXID];
	unsigned i, id, worst_q = 0;
	int n, k, rc, all;

	vs = malloc(sizeof(*vs));
	if (vs == NULL || vst_init(vs, who, lc->nids) != E_OK)
		return E_SETUP;
	if ((rc = open_bus(who, lc->segment_bytes, &bus)) != E_OK)
		return rc;
	if ((rc = consumer_first(who, bus, &c, 1)) != E_OK)
		return rc;
	__atomic_add_fetch(&sh->cready, 1, __ATOMIC_SEQ_CST);
	memset(last_rx, 0, sizeof(last_rx));
	idle_ns = (uint64_t)(20e9 * tu_mult());
	last_progress = tu_mono_ns();
	for (;;) {
		n = shmq_consumer_poll(c, v, 64, lc->timeout_ms);
		if (n < 0) {
			tu_detail(who, "poll: %s (%s) after %llu messages",
			    shmq_err_name(n), shmq_errmsg(),
			    (unsigned long long)vs->got);
			return E_POLL;
		}
		now = tu_mono_ns();
		for (k = 0; k < n; k++) {
			if ((rc = vst_msg(vs, &v[k], &h)) != E_OK)
				return rc;
			if (h.prod >= lc->nsteady)
				continue;
			i = (unsigned)v[k].queue;
			if (last_rx[i] != 0 && now - last_rx[i] > worst) {
				worst = now - last_rx[i];
				worst_q = i;
			}
			last_rx[i] = now;
		}
		if (n > 0) {
			last_progress = now;
			continue;
		}
		if (now - last_progress > idle_ns)
			break;
		if (__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) == 0)
			continue;
		all = 1;
		for (id = 0; id < lc->nsteady; id++)
			if (!__atomic_load_n(&sh->done[id], __ATOMIC_ACQUIRE) ||
			    vs->cnt[id] != __atomic_load_n(&sh->acked[id],
			    __ATOMIC_ACQUIRE))
				all = 0;
		if (all)
			break;
	}
	if (shmq_bus_info(bus, &bi) == 0)
		sh->holes = bi.holes;
	if (lc->check_clients) {
		struct clcheck cc;

		memset(&cc, 0, sizeof(cc));
		cc.sh = sh;
		shmq_client_foreach(bus, clcheck_cb, &cc);
		if (cc.bad != 0) {
			tu_detail(who, "%d killed consumers shown alive: %s",
			    cc.bad, cc.msg);
			return E_CLIENTS;
		}
	}
	sh->max_gap_ns = worst;
	sh->got = vs->got;
	for (id = 0; id < lc->nids; id++) {
		need[id] = __atomic_load_n(&sh->acked[id], __ATOMIC_ACQUIRE);
		/* A killed producer may have stored its last message and
		 * died before counting it: one more is allowed. */
		maxseq[id] = id < lc->nsteady ? need[id] - 1 : need[id];
	}
	if ((rc = vst_final(vs, need, maxseq)) != E_OK)
		return rc;
	if (worst > stall_limit_ns()) {
		tu_detail(who, "queue %u waited %.3f s between two messages of "
		    "live producers (limit %.3f s)", worst_q,
		    (double)worst / 1e9, (double)stall_limit_ns() / 1e9);
		return E_STALL;
	}
	shmq_consumer_close(c);
	shmq_bus_close(bus);
	vst_fini(vs);
	free(vs);
	return E_OK;
}

/*
 * A fresh consumer from the first offset, with no writer left: every
 * expectation in sh->need/maxseq holds, the reader reaches every queue's
 * tail, and fewer offsets were skipped than writers died.  With
 * resend_id >= 0, then sends 4 messages per queue and checks that they get
 * the next dense offsets and are read back.
 */
static int
verify_proc(struct cshared *sh, uint64_t segment_bytes, int resend_id,
    const char *who)
{
	struct shmq_send_result res;
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_bus *bus;
	struct shmq_msg m;
	struct maxoffs mo;
	struct vst *vs;
	unsigned char buf[256];
	uint64_t seq, skipped, sent[NQ], pos;
	unsigned q;
	size_t len;
	int rc;

	vs = malloc(sizeof(*vs));
	if (vs == NULL || vst_init(vs, who, sh->nids) != E_OK)
		return E_SETUP;
	if ((rc = open_bus(who, segment_bytes, &bus)) != E_OK)
		return rc;
	if ((rc = consumer_first(who, bus, &c, 1)) != E_OK)
		return rc;
	if ((rc = drain(bus, c, vs)) != E_OK)
		return rc;
	if ((rc = vst_final(vs, sh->need, sh->maxseq)) != E_OK)
		return rc;
	sh->skipped = vs->skipped;
	sh->got = vs->got;
	if (vs->skipped > sh->holes_max) {
		tu_detail(who, "%llu queue offsets skipped, but only %llu "
		    "writers died", (unsigned long long)vs->skipped,
		    (unsigned long long)sh->holes_max);
		return E_HOLES;
	}
	if (resend_id < 0)
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
	for (seq = 0; seq < 4 * NQ; seq++) {
		len = body_pick_len((uint32_t)resend_id, seq, sizeof(buf));
		body_fill(buf, len, (uint32_t)resend_id, seq, tu_mono_ns());
		shmq_msg_init(&m);
		m.topic = TOPIC;
		m.body = buf;
		m.body_len = len;
		q = queue_for((uint32_t)resend_id, seq);
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
		sent[q]++;
	}
	skipped = vs->skipped;
	if ((rc = drain(bus, c, vs)) != E_OK)
		return rc;
	if (vs->skipped != skipped || vs->cnt[resend_id] != 4 * NQ) {
		tu_detail(who, "read back %llu of %u new messages, %llu "
		    "offsets skipped", (unsigned long long)vs->cnt[resend_id],
		    4 * NQ, (unsigned long long)(vs->skipped - skipped));
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
	vst_fini(vs);
	free(vs);
	return E_OK;
}

/* A consumer that is killed: reads (or sleeps) until the end. */
static int
victim_proc(struct cshared *sh, unsigned mode, const char *who,
    uint64_t segment_bytes)
{
	struct shmq_msgview v[64];
	struct shmq_consumer *c;
	struct shmq_bus *bus;
	struct body_hdr h;
	int n, i, rc, timeout;
	size_t max;

	if ((rc = open_bus(who, segment_bytes, &bus)) != E_OK)
		return rc;
	if ((rc = consumer_first(who, bus, &c, mode != 1)) != E_OK)
		return rc;
	timeout = mode == 0 ? 0 : mode == 1 ? -1 : 5;
	max = mode == 2 ? 1 : 64;
	__atomic_add_fetch(&sh->cready, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		n = shmq_consumer_poll(c, v, max, timeout);
		if (n < 0) {
			tu_detail(who, "poll: %s (%s)", shmq_err_name(n),
			    shmq_errmsg());
			return E_POLL;
		}
		for (i = 0; i < n; i++) {
			if (body_check(v[i].body, v[i].body_len, &h) != 0) {
				tu_detail(who, "torn body: queue %d off %llu",
				    v[i].queue,
				    (unsigned long long)v[i].queue_off);
				return E_TORN;
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* The parent                                                          */
/* ------------------------------------------------------------------ */

/* The failed children of CH[0..N) and their details in MSG; how many. */
static int
report(const struct tu_child *ch, unsigned n, char *msg, size_t size)
{
	return tu_report(ch, n, E_OK, ecode_name, msg, size);
}

static void
run_setup(uint64_t segment_bytes)
{
	struct tu_child ch;
	char msg[4096];

	TU_SPAWN(&ch, "setup", setup_proc(segment_bytes));
	tu_wait_children(&ch, 1, 30);
	if (report(&ch, 1, msg, sizeof(msg)) != 0)
		ck_abort_msg("%s", msg);
}

static void
wait_flag(uint32_t *flag, pid_t pid, double secs)
{
	uint64_t end = tu_mono_ns() + (uint64_t)(secs * 1e9);

	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) == 0 &&
	    tu_mono_ns() < end) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			break;	/* exited early: the parent sees its code */
		usleep(50);
	}
}

/*
 * After the last kill, let steady producer ID send N more messages, so
 * that readers must get past whatever the dead left behind.
 */
static void
wait_more(struct cshared *sh, uint32_t id, uint64_t n)
{
	uint64_t want = __atomic_load_n(&sh->acked[id], __ATOMIC_ACQUIRE) + n;
	uint64_t end = tu_mono_ns() + (uint64_t)(10e9 * tu_mult());

	while (__atomic_load_n(&sh->acked[id], __ATOMIC_ACQUIRE) < want &&
	    __atomic_load_n(&sh->done[id], __ATOMIC_ACQUIRE) == 0 &&
	    tu_mono_ns() < end)
		usleep(1000);
}

/* Kill a producer and return its exit code (should be 128 + SIGKILL). */
static int
kill_one(pid_t pid)
{
	kill(pid, SIGKILL);
	return tu_wait(pid);
}

static void
setup(void)
{
	tu_setup_store();
	tu_seed("crash");
}

#define NSTEADY		2
#define NKILL		120
#define SEG_A		(16ull << 20)

/*
 * Two steady producers and a live consumer run while 120 producers, each a
 * fresh process sending in a tight loop, are SIGKILLed at random moments
 * (most a few hundred microseconds to 3 ms after they start sending, one in
 * ten at a random point of opening the bus).
 */
START_TEST(test_kill_producers)
{
	struct live_cfg lc;
	struct cshared *sh;
	struct tu_child ch[8], vf;
	char msg[8192];
	unsigned k, n = 0, early = 0, id;
	uint64_t t0;
	pid_t pid;
	int code;

	sh = shared_new();
	run_setup(SEG_A);
	memset(&lc, 0, sizeof(lc));
	lc.segment_bytes = SEG_A;
	lc.nsteady = NSTEADY;
	lc.nkiller = NKILL;
	lc.nids = NSTEADY + NKILL;
	lc.timeout_ms = 500;

	t0 = tu_mono_ns();
	TU_SPAWN(&ch[n], "live", live_proc(sh, &lc, "live"));
	n++;
	for (id = 0; id < NSTEADY; id++) {
		char name[32];

		snprintf(name, sizeof(name), "steady%u", id);
		TU_SPAWN(&ch[n], name, steady_proc(sh, id, SEG_A, 3000));
		n++;
	}
	wait_flag(&sh->cready, ch[0].pid, 20);
	for (id = 0; id < NSTEADY; id++)
		wait_flag(&sh->ready[id], ch[1 + id].pid, 20);
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);

	msg[0] = '\0';
	for (k = 0; k < NKILL; k++) {
		id = NSTEADY + k;
		pid = fork();
		if (pid == 0)
			_exit(killer_proc(sh, id, SEG_A, 200));
		ck_assert_int_gt(pid, 0);
		if (tu_rand() % 10 == 0) {
			early++;
			usleep((useconds_t)(tu_rand() % 3000));
		} else {
			wait_flag(&sh->ready[id], pid, 10);
			usleep((useconds_t)(100 + tu_rand() % 2900));
		}
		code = kill_one(pid);
		if (code != 128 + SIGKILL && msg[0] == '\0') {
			char who[32], d[1024];

			snprintf(who, sizeof(who), "killer%u", id);
			tu_read_detail(who, d, sizeof(d));
			snprintf(msg, sizeof(msg), "killer %u exited %d (%s) "
			    "before it was killed: %s", id, code,
			    ecode_name(code), d);
		}
		/* Let the consumer catch up now and then. */
		if (k % 8 == 7)
			usleep(20000);
	}
	wait_more(sh, 0, 500);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	tu_wait_children(ch, n, 90);
	fprintf(stderr, "kill_producers: %u kills (%u early), %llu messages "
	    "read live, worst gap %.1f ms, worst steady send %.1f ms, %llu "
	    "holes, %.2f s\n", NKILL, early, (unsigned long long)sh->got,
	    (double)sh->max_gap_ns / 1e6, (double)sh->max_send_ns / 1e6,
	    (unsigned long long)sh->holes,
	    (double)(tu_mono_ns() - t0) / 1e9);
	ck_assert_msg(msg[0] == '\0', "%s", msg);
	if (report(ch, n, msg, sizeof(msg)) != 0)
		ck_abort_msg("%s", msg);
	ck_assert_msg(sh->holes <= NKILL, "%llu holes from %u dead writers",
	    (unsigned long long)sh->holes, NKILL);

	/* A fresh consumer, after everyone closed or died: recovery path. */
	sh->nids = lc.nids;
	for (id = 0; id < lc.nids; id++) {
		sh->need[id] = sh->acked[id];
		sh->maxseq[id] = id < NSTEADY ? sh->acked[id] - 1 :
		    sh->acked[id];
	}
	sh->holes_max = NKILL;
	TU_SPAWN(&vf, "verify", verify_proc(sh, SEG_A, -1, "verify"));
	tu_wait_children(&vf, 1, 60);
	if (report(&vf, 1, msg, sizeof(msg)) != 0)
		ck_abort_msg("%s", msg);
	munmap(sh, SHARED_BYTES);
}
END_TEST

/*
 * A verifier that runs while the steady producers still write: the killed
 * producers' acknowledged messages are all readable by a fresh consumer on
 * the live bus (no recovery involved).
 */
START_TEST(test_kill_producers_live_verify)
{
	struct live_cfg lc;
	struct cshared *sh;
	struct tu_child ch[4], vf;
	char msg[8192];
	unsigned k, n = 0, id;
	pid_t pid;
	int code;

	sh = shared_new();
	run_setup(SEG_A);
	memset(&lc, 0, sizeof(lc));
	lc.segment_bytes = SEG_A;
	lc.nsteady = 1;
	lc.nkiller = 40;
	lc.nids = 1 + 40;
	lc.timeout_ms = 1000;

	/* A steady producer keeps the bus open and the queues moving. */
	TU_SPAWN(&ch[n], "steady0", steady_proc(sh, 0, SEG_A, 2000));
	n++;
	wait_flag(&sh->ready[0], ch[0].pid, 20);
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
	msg[0] = '\0';
	for (k = 0; k < lc.nkiller; k++) {
		id = 1 + k;
		pid = fork();
		if (pid == 0)
			_exit(killer_proc(sh, id, SEG_A, 300));
		ck_assert_int_gt(pid, 0);
		wait_flag(&sh->ready[id], pid, 10);
		usleep((useconds_t)(100 + tu_rand() % 2000));
		code = kill_one(pid);
		if (code != 128 + SIGKILL && msg[0] == '\0')
			snprintf(msg, sizeof(msg), "killer %u exited %d (%s)",
			    id, code, ecode_name(code));
	}
	ck_assert_msg(msg[0] == '\0', "%s", msg);

	/* Killers are all dead; the steady producer still writes, so the
	 * verifier cannot drain: it checks the killers' messages, and only
	 * the integrity of the steady producer's. */
	TU_SPAWN(&vf, "live_verify", live_proc(sh, &lc, "live_verify"));
	/* live_proc stops when told and the steady producer is done. */
	usleep(300000);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	tu_wait_children(ch, n, 60);
	tu_wait_children(&vf, 1, 60);
	if (report(ch, n, msg, sizeof(msg)) != 0 ||
	    report(&vf, 1, msg, sizeof(msg)) != 0)
		ck_abort_msg("%s", msg);
	munmap(sh, SHARED_BYTES);
}
END_TEST

#define NVICT		60

/*
 * Consumers killed mid-poll (busy, asleep in the futex, reading a backlog
 * one message at a time) while a producer sends and an observer consumer
 * reads: the observer gets everything with no long gap, the producer never
 * waits, and killed consumers are not shown alive.
 */
START_TEST(test_kill_consumers)
{
	struct live_cfg lc;
	struct cshared *sh;
	struct tu_child ch[4];
	char msg[8192], who[32];
	unsigned k, n = 0, mode;
	pid_t pid;
	int code;

	sh = shared_new();
	run_setup(SEG_A);
	memset(&lc, 0, sizeof(lc));
	lc.segment_bytes = SEG_A;
	lc.nsteady = 1;
	lc.nids = 1;
	lc.timeout_ms = 200;
	lc.check_clients = 1;

	TU_SPAWN(&ch[n], "observer", live_proc(sh, &lc, "observer"));
	n++;
	TU_SPAWN(&ch[n], "steady0", steady_proc(sh, 0, SEG_A, 200));
	n++;
	wait_flag(&sh->cready, ch[0].pid, 20);
	wait_flag(&sh->ready[0], ch[1].pid, 20);
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);

	msg[0] = '\0';
	for (k = 0; k < NVICT; k++) {
		uint32_t before = __atomic_load_n(&sh->cready,
		    __ATOMIC_ACQUIRE);

		mode = k % 3;
		snprintf(who, sizeof(who), "victim%u", k);
		pid = fork();
		if (pid == 0)
			_exit(victim_proc(sh, mode, who, SEG_A));
		ck_assert_int_gt(pid, 0);
		/* Wait until it polls, then a little more. */
		while (__atomic_load_n(&sh->cready, __ATOMIC_ACQUIRE) ==
		    before && waitpid(pid, NULL, WNOHANG) == 0)
			usleep(50);
		usleep((useconds_t)(200 + tu_rand() % 5000));
		code = kill_one(pid);
		if (code != 128 + SIGKILL && msg[0] == '\0') {
			char d[1024];

			tu_read_detail(who, d, sizeof(d));
			snprintf(msg, sizeof(msg), "victim %u (mode %u) exited "
			    "%d (%s) before it was killed: %s", k, mode, code,
			    ecode_name(code), d);
		}
		sh->vict[sh->nvict++] = pid;
	}
	wait_more(sh, 0, 2000);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	tu_wait_children(ch, n, 60);
	fprintf(stderr, "kill_consumers: %u kills, %llu messages, worst gap "
	    "%.1f ms, worst send %.1f ms\n", NVICT,
	    (unsigned long long)sh->got, (double)sh->max_gap_ns / 1e6,
	    (double)sh->max_send_ns / 1e6);
	ck_assert_msg(msg[0] == '\0', "%s", msg);
	if (report(ch, n, msg, sizeof(msg)) != 0)
		ck_abort_msg("%s", msg);
	munmap(sh, SHARED_BYTES);
}
END_TEST

#define ROUNDS		4
#define NPROD_C		3
#define SEG_C		(4ull << 20)
#define VBASE		200	/* ids of the verifiers' own messages */

/*
 * Producers in tight loops and a consumer, all SIGKILLed at a random
 * moment; then a fresh process opens the bus (rebuilding the control region
 * from the store), finds every acknowledged message, reaches each queue's
 * tail, and sends more with dense offsets after it.  Four rounds, so the
 * later ones crash on top of recovered stores.
 */
START_TEST(test_kill_everything)
{
	struct cshared *sh;
	struct tu_child ch[8], vf;
	char msg[8192], name[32];
	unsigned r, i, n, id;
	uint64_t hmax = 0;
	pid_t tmp;

	sh = shared_new();
	run_setup(SEG_C);
	sh->nids = MAXID;
	for (id = 0; id < MAXID; id++)
		sh->maxseq[id] = 0;
	for (r = 0; r < ROUNDS; r++) {
		n = 0;
		snprintf(name, sizeof(name), "reader%u", r);
		TU_SPAWN(&ch[n], name, victim_proc(sh, 0, name, SEG_C));
		n++;
		for (i = 0; i < NPROD_C; i++) {
			id = r * NPROD_C + i;
			snprintf(name, sizeof(name), "killer%u", id);
			TU_SPAWN(&ch[n], name, killer_proc(sh, id, SEG_C,
			    1500));
			n++;
		}
		for (i = 0; i < NPROD_C; i++)
			wait_flag(&sh->ready[r * NPROD_C + i], ch[1 + i].pid,
			    20);
		usleep((useconds_t)(5000 + tu_rand() % 60000));
		/* Everyone at once, in a random order. */
		for (i = 0; i < n; i++) {
			unsigned j = (unsigned)(tu_rand() % n);

			tmp = ch[i].pid;
			ch[i].pid = ch[j].pid;
			ch[j].pid = tmp;
		}
		for (i = 0; i < n; i++)
			kill(ch[i].pid, SIGKILL);
		msg[0] = '\0';
		for (i = 0; i < n; i++) {
			int code = tu_wait(ch[i].pid);

			if (code != 128 + SIGKILL && msg[0] == '\0')
				snprintf(msg, sizeof(msg), "round %u: a child "
				    "exited %d (%s) before the kill (see "
				    "detail files in %s)", r, code,
				    ecode_name(code), tu_home());
		}
		ck_assert_msg(msg[0] == '\0', "%s", msg);

		for (i = 0; i < NPROD_C; i++) {
			id = r * NPROD_C + i;
			sh->need[id] = sh->acked[id];
			sh->maxseq[id] = sh->acked[id];
		}
		hmax += NPROD_C;
		sh->holes_max = hmax;
		snprintf(name, sizeof(name), "verify%u", r);
		TU_SPAWN(&vf, name, verify_proc(sh, SEG_C, VBASE + (int)r,
		    name));
		tu_wait_children(&vf, 1, 60);
		if (report(&vf, 1, msg, sizeof(msg)) != 0)
			ck_abort_msg("round %u: %s", r, msg);
		/* The verifier's own messages must survive later rounds. */
		sh->need[VBASE + r] = 4 * NQ;
		sh->maxseq[VBASE + r] = 4 * NQ - 1;
		fprintf(stderr, "kill_everything: round %u: %llu messages, "
		    "%llu offsets skipped, tails %llu %llu %llu %llu\n", r,
		    (unsigned long long)sh->got,
		    (unsigned long long)sh->skipped,
		    (unsigned long long)sh->max_off[0],
		    (unsigned long long)sh->max_off[1],
		    (unsigned long long)sh->max_off[2],
		    (unsigned long long)sh->max_off[3]);
	}
	munmap(sh, SHARED_BYTES);
}
END_TEST

static Suite *
crash_suite(void)
{
	Suite *s = suite_create("crash");
	TCase *tc;

	tc = tcase_create("producers");
	tcase_add_checked_fixture(tc, setup, tu_teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_kill_producers);
	tcase_add_test(tc, test_kill_producers_live_verify);
	suite_add_tcase(s, tc);

	tc = tcase_create("consumers");
	tcase_add_checked_fixture(tc, setup, tu_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_kill_consumers);
	suite_add_tcase(s, tc);

	tc = tcase_create("everything");
	tcase_add_checked_fixture(tc, setup, tu_teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_kill_everything);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(crash_suite);
}
