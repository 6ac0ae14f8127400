/*
 * check_push.c - the push consumer: concurrent listeners across processes,
 * flow control per queue, the commit rule (never past an unfinished
 * message) under SIGKILL, orderly listeners (one thread and one member per
 * queue, queue order) while members are killed and join, LATER (retry
 * topic, orderly suspension), bad input.
 *
 * Every message body is its sequence number (8 bytes), sent to queue
 * seq % queues.  Members are forked children that report through a page
 * mapped before fork (tu_shared_new):
 *
 *   seen[seq]   times processed; distinct counts seqs seen at least once.
 *   last[q]     (orderly) the highest queue offset processed on queue q,
 *               moved by CAS from o - 1 to o: o > last[q] + 1 is a gap
 *               (order broken or a loss), o <= last[q] a redelivery.
 *   inprog[q]   (orderly) pid << 32 | tid of the thread in a call on
 *               queue q, or 0: a thread that finds another live one there
 *               counts a violation (a dead one's, killed mid-call, is
 *               taken over).
 *   cur/maxcur  listener calls running per queue, and the most seen.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <check.h>
#include <ck_pr.h>

#include "shmq/shmq.h"
#include "testutil.h"

#define TOPIC		"push.topic"
#define GROUP		"push.g"
#define MAXQ		16
#define MAXM		8

enum {
	E_OK = 0,
	E_SETUP = 10,
	E_BODY,
	E_CHECK,
	E_TIMEOUT = TU_E_TIMEOUT
};

static const char *
ecode_name(int code)
{
	switch (code) {
	case E_SETUP:	return "setup failed";
	case E_BODY:	return "bad body";
	case E_CHECK:	return "check failed";
	default:	return tu_exit_name(code);
	}
}

struct shared {
	uint32_t	stop;
	uint32_t	stop_send;
	uint32_t	ready[MAXM];
	uint32_t	blocked;	/* kill test: the call that never ends */
	uint64_t	got[MAXM];
	uint64_t	distinct;
	uint64_t	dups;
	uint64_t	gaps;
	uint64_t	violations;
	uint64_t	bad;
	uint64_t	sent;
	int64_t		last[MAXQ];
	uint64_t	inprog[MAXQ];
	uint32_t	cur[MAXQ];
	uint32_t	maxcur[MAXQ];
	uint8_t		seen[];
};

static struct shared *sh;
static size_t sh_bytes;

static void
teardown(void)
{
	if (sh != NULL) {
		munmap(sh, sh_bytes);
		sh = NULL;
	}
	tu_teardown();
}

static void
shared_new(uint64_t nseq)
{
	int q;

	sh_bytes = sizeof(*sh) + nseq;
	sh = tu_shared_new(sh_bytes);
	for (q = 0; q < MAXQ; q++)
		sh->last[q] = -1;
}

static int
send_range(struct shmq_bus *bus, unsigned nq, uint64_t from, uint64_t to,
    unsigned pace_us)
{
	struct shmq_producer *p;
	struct shmq_msg m;
	uint64_t seq;
	int rc = 0;

	if ((rc = shmq_producer_open(&p, bus, "push.p")) < 0)
		return rc;
	for (seq = from; seq < to; seq++) {
		if (sh != NULL && ck_pr_load_32(&sh->stop_send))
			break;
		shmq_msg_init(&m);
		m.topic = TOPIC;
		m.body = &seq;
		m.body_len = sizeof(seq);
		m.queue = (int)(seq % nq);
		if ((rc = shmq_producer_send(p, &m, NULL)) < 0)
			break;
		if (sh != NULL)
			ck_pr_store_64(&sh->sent, seq + 1);
		if (pace_us != 0 && seq % nq == nq - 1)
			usleep(pace_us);
	}
	shmq_producer_close(p);
	return rc < 0 ? rc : 0;
}

static int
producer(unsigned nq, uint64_t n, unsigned pace_us)
{
	struct shmq_bus *bus;
	int rc;

	if (shmq_bus_open(&bus, NULL, NULL) < 0)
		return E_SETUP;
	rc = send_range(bus, nq, 0, n, pace_us);
	shmq_bus_close(bus);
	return rc < 0 ? E_SETUP : E_OK;
}

static uint64_t
self_id(void)
{
	return ((uint64_t)getpid() << 32) | (uint32_t)syscall(SYS_gettid);
}

/* Orderly: take queue Q for this thread (see the top). */
static void
enter_queue(int q, uint64_t me)
{
	uint64_t cur;

	for (;;) {
		cur = ck_pr_load_64(&sh->inprog[q]);
		if (cur == 0) {
			if (ck_pr_cas_64(&sh->inprog[q], 0, me))
				return;
			continue;
		}
		if (kill((pid_t)(cur >> 32), 0) < 0 && errno == ESRCH) {
			if (ck_pr_cas_64(&sh->inprog[q], cur, me))
				return;
			continue;
		}
		ck_pr_inc_64(&sh->violations);
		tu_detail("violation", "queue %d: %llx in a call, %llx "
		    "enters", q, (unsigned long long)cur,
		    (unsigned long long)me);
		return;
	}
}

/* What a member's listener does; one per process (children) or test. */
struct lctx {
	int		idx;
	unsigned	nq;
	int		orderly;
	unsigned	sleep_us;
	int		block_seq;	/* -1: none; else never returns */
};

static struct lctx lc;

static int
listener(void *arg, const struct shmq_msgview *v, size_t n)
{
	struct lctx *c = arg;
	uint64_t seq, me = self_id();
	int64_t prev, o;
	uint32_t cur, mx;
	size_t i;
	int q;

	for (i = 0; i < n; i++) {
		q = v[i].queue;
		if (v[i].body_len != sizeof(seq) || q < 0 || q >= MAXQ) {
			ck_pr_inc_64(&sh->bad);
			continue;
		}
		memcpy(&seq, v[i].body, sizeof(seq));
		if (seq % c->nq != (uint64_t)q) {
			ck_pr_inc_64(&sh->bad);
			continue;
		}
		if (c->orderly)
			enter_queue(q, me);
		cur = ck_pr_faa_32(&sh->cur[q], 1) + 1;
		while ((mx = ck_pr_load_32(&sh->maxcur[q])) < cur &&
		    !ck_pr_cas_32(&sh->maxcur[q], mx, cur))
			;
		if ((int64_t)seq == c->block_seq) {
			ck_pr_store_32(&sh->blocked, 1);
			for (;;)
				pause();
		}
		if (c->sleep_us != 0)
			usleep(c->sleep_us);
		if (c->orderly) {
			o = (int64_t)v[i].queue_off;
			prev = ck_pr_load_64((uint64_t *)&sh->last[q]);
			if (o > prev + 1) {
				ck_pr_inc_64(&sh->gaps);
				tu_detail("gap", "member %d queue %d offset %lld "
				    "after %lld", c->idx, q, (long long)o,
				    (long long)prev);
			} else if (o <= prev || !ck_pr_cas_64(
			    (uint64_t *)&sh->last[q], (uint64_t)prev,
			    (uint64_t)o))
				ck_pr_inc_64(&sh->dups);
		}
		if (ck_pr_faa_8(&sh->seen[seq], 1) == 0)
			ck_pr_inc_64(&sh->distinct);
		else if (!c->orderly)
			ck_pr_inc_64(&sh->dups);
		ck_pr_inc_64(&sh->got[c->idx]);
		ck_pr_dec_32(&sh->cur[q]);
		if (c->orderly)
			(void)ck_pr_cas_64(&sh->inprog[q], me, 0);
	}
	return SHMQ_CONSUME_SUCCESS;
}

/* A push member: run until told to stop. */
static int
member(int idx, unsigned nq, int kind, unsigned threads, unsigned sleep_us,
    int block_seq)
{
	struct shmq_push_opts po;
	struct shmq_group_opts go;
	struct shmq_push *pc;
	struct shmq_bus *bus;
	int rc;

	if (shmq_bus_open(&bus, NULL, NULL) < 0)
		return E_SETUP;
	shmq_group_opts_init(&go);
	go.start = SHMQ_SEEK_FIRST;
	shmq_push_opts_init(&po);
	po.kind = kind;
	po.threads = threads;
	lc.idx = idx;
	lc.nq = nq;
	lc.orderly = kind == SHMQ_LISTENER_ORDERLY;
	lc.sleep_us = sleep_us;
	lc.block_seq = block_seq;
	if ((rc = shmq_push_open(&pc, bus, GROUP, &go, &po)) < 0 ||
	    (rc = shmq_push_subscribe(pc, TOPIC, NULL)) < 0 ||
	    (rc = shmq_push_start(pc, listener, &lc)) < 0) {
		tu_detail("member", "%d: %s (%s)", idx, shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	ck_pr_store_32(&sh->ready[idx], 1);
	while (!ck_pr_load_32(&sh->stop))
		usleep(2000);
	if ((rc = shmq_push_stop(pc)) < 0)
		return E_CHECK;
	shmq_push_close(pc);
	shmq_bus_close(bus);
	return E_OK;
}

static void
wait_distinct(uint64_t n, double secs)
{
	uint64_t end = tu_mono_ns() + (uint64_t)(secs * tu_mult() * 1e9);

	while (ck_pr_load_64(&sh->distinct) < n) {
		ck_assert_msg(tu_mono_ns() < end, "%llu of %llu messages "
		    "processed", (unsigned long long)sh->distinct,
		    (unsigned long long)n);
		usleep(1000);
	}
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static int
noop(void *arg, const struct shmq_msgview *v, size_t n)
{
	(void)arg;
	(void)v;
	(void)n;
	return SHMQ_CONSUME_SUCCESS;
}

START_TEST(test_bad_input)
{
	struct shmq_push_opts po;
	struct shmq_push *pc;
	struct shmq_bus *bus = tu_bus_open_default();

	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 2), 0);
	ck_assert_int_eq(shmq_push_open(NULL, bus, GROUP, NULL, NULL),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_push_open(&pc, NULL, GROUP, NULL, NULL),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_push_open(&pc, bus, "a b", NULL, NULL),
	    SHMQ_ENAME);
	shmq_push_opts_init(&po);
	po.threads = 0;
	ck_assert_int_eq(shmq_push_open(&pc, bus, GROUP, NULL, &po),
	    SHMQ_EINVAL);
	shmq_push_opts_init(&po);
	po.batch = 0;
	ck_assert_int_eq(shmq_push_open(&pc, bus, GROUP, NULL, &po),
	    SHMQ_EINVAL);
	shmq_push_opts_init(&po);
	po.max_inflight = 0;
	ck_assert_int_eq(shmq_push_open(&pc, bus, GROUP, NULL, &po),
	    SHMQ_EINVAL);
	shmq_push_opts_init(&po);
	po.kind = 7;
	ck_assert_int_eq(shmq_push_open(&pc, bus, GROUP, NULL, &po),
	    SHMQ_EINVAL);
	shmq_push_opts_init(&po);
	po.max_reconsume = -2;
	ck_assert_int_eq(shmq_push_open(&pc, bus, GROUP, NULL, &po),
	    SHMQ_EINVAL);

	ck_assert_int_eq(shmq_push_open(&pc, bus, GROUP, NULL, NULL), 0);
	ck_assert_int_eq(shmq_push_start(pc, noop, NULL), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_push_subscribe(pc, "push.none", NULL),
	    SHMQ_ENOTOPIC);
	ck_assert_int_eq(shmq_push_subscribe(pc, TOPIC, "a ||"),
	    SHMQ_EBADEXPR);
	ck_assert_int_eq(shmq_push_subscribe(pc, TOPIC, NULL), 0);
	ck_assert_int_eq(shmq_push_start(pc, NULL, NULL), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_push_start(NULL, noop, NULL), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_push_start(pc, noop, NULL), 0);
	ck_assert_int_eq(shmq_push_start(pc, noop, NULL), SHMQ_EBUSY);
	ck_assert_int_eq(shmq_push_subscribe(pc, TOPIC, NULL), SHMQ_EBUSY);
	ck_assert_int_eq(shmq_push_stats(pc, NULL), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_push_stop(NULL), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_push_stop(pc), 0);
	ck_assert_int_eq(shmq_push_stop(pc), 0);
	ck_assert_int_eq(shmq_push_start(pc, noop, NULL), SHMQ_EBUSY);
	shmq_push_close(pc);
	shmq_push_close(NULL);
	/* Closed without starting. */
	ck_assert_int_eq(shmq_push_open(&pc, bus, GROUP, NULL, NULL), 0);
	shmq_push_close(pc);
	shmq_bus_close(bus);
}
END_TEST

/* Two processes, 4 threads each: every message at least once. */
START_TEST(test_concurrent_two_procs)
{
	const uint64_t n = 200000;
	struct tu_child ch[2];
	struct shmq_bus *bus;
	unsigned nq = 8;
	uint64_t t0;
	int rc;

	shared_new(n);
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, nq), 0);
	TU_SPAWN(&ch[0], "member0", member(0, nq, SHMQ_LISTENER_CONCURRENT,
	    4, 0, -1));
	TU_SPAWN(&ch[1], "member1", member(1, nq, SHMQ_LISTENER_CONCURRENT,
	    4, 0, -1));
	tu_wait_flag(&sh->ready[0], 5);
	tu_wait_flag(&sh->ready[1], 5);
	t0 = tu_mono_ns();
	rc = send_range(bus, nq, 0, n, 0);
	ck_assert_msg(rc == 0, "send: %s", shmq_err_name(rc));
	wait_distinct(n, 20);
	fprintf(stderr, "push: %llu messages through 2 members x 4 threads "
	    "in %.0f ms (sent and processed); %llu + %llu, %llu "
	    "duplicates\n", (unsigned long long)n, (tu_mono_ns() - t0) / 1e6,
	    (unsigned long long)sh->got[0], (unsigned long long)sh->got[1],
	    (unsigned long long)sh->dups);
	ck_pr_store_32(&sh->stop, 1);
	tu_check_children(ch, 2, 30, ecode_name);
	ck_assert_uint_eq(sh->bad, 0);
	ck_assert_uint_gt(sh->got[0], 0);
	ck_assert_uint_gt(sh->got[1], 0);
	/* Both left: everything is committed. */
	{
		uint64_t c[MAXQ];
		unsigned q;

		(void)tu_group_committed(bus, GROUP, TOPIC, c, MAXQ);
		for (q = 0; q < nq; q++)
			ck_assert_uint_eq(c[q], n / nq);
	}
	shmq_bus_close(bus);
}
END_TEST

/* A slow listener: never more than max_inflight messages of a queue held,
 * so never more calls on it at once, with threads to spare. */
START_TEST(test_flow_control)
{
	const uint64_t n = 400;
	struct shmq_push_opts po;
	struct shmq_group_opts go;
	struct shmq_push_stats st;
	struct shmq_push *pc;
	struct shmq_bus *bus;
	unsigned nq = 2, q;

	shared_new(n);
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, nq), 0);
	ck_assert_int_eq(send_range(bus, nq, 0, n, 0), 0);
	shmq_group_opts_init(&go);
	go.start = SHMQ_SEEK_FIRST;
	shmq_push_opts_init(&po);
	po.threads = 8;
	po.max_inflight = 3;
	lc.nq = nq;
	lc.sleep_us = 1000;
	lc.block_seq = -1;
	ck_assert_int_eq(shmq_push_open(&pc, bus, GROUP, &go, &po), 0);
	ck_assert_int_eq(shmq_push_subscribe(pc, TOPIC, NULL), 0);
	ck_assert_int_eq(shmq_push_start(pc, listener, &lc), 0);
	wait_distinct(n, 20);
	ck_assert_int_eq(shmq_push_stats(pc, &st), 0);
	fprintf(stderr, "push: flow control: max calls per queue %u %u, "
	    "max held %u, %llu polls met a full queue\n", sh->maxcur[0],
	    sh->maxcur[1], st.max_inflight_seen,
	    (unsigned long long)st.flow_paused);
	for (q = 0; q < nq; q++) {
		ck_assert_uint_le(sh->maxcur[q], 3);
		ck_assert_uint_ge(sh->maxcur[q], 2);
	}
	ck_assert_uint_le(st.max_inflight_seen, 3);
	ck_assert_uint_gt(st.flow_paused, 0);
	ck_assert_uint_eq(st.succeeded, n);
	ck_assert_uint_eq(st.queues, nq);
	shmq_push_close(pc);
	shmq_bus_close(bus);
}
END_TEST

/*
 * At-least-once: a member finishes every message but one, whose call
 * never returns; the committed offset stays at that message; the member
 * is SIGKILLed; the next member gets it (and what followed it) again.
 */
START_TEST(test_kill_redelivery)
{
	struct tu_child ch[2];
	struct shmq_bus *bus;
	uint64_t c[MAXQ], end, seq;

	shared_new(64);
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 1), 0);
	ck_assert_int_eq(send_range(bus, 1, 0, 10, 0), 0);
	TU_SPAWN(&ch[0], "member0", member(0, 1, SHMQ_LISTENER_CONCURRENT,
	    4, 0, 3));
	tu_wait_flag(&sh->blocked, 5);
	wait_distinct(9, 5);
	/* Everything but seq 3 done, and the commit stays at offset 3. */
	end = tu_mono_ns() + (uint64_t)(5e9 * tu_mult());
	for (;;) {
		(void)tu_group_committed(bus, GROUP, TOPIC, c, MAXQ);
		if (c[0] == 3)
			break;
		ck_assert_msg(c[0] < 3, "committed %llu past the unfinished "
		    "offset 3", (unsigned long long)c[0]);
		ck_assert_msg(tu_mono_ns() < end, "committed %llu",
		    (unsigned long long)c[0]);
		usleep(1000);
	}
	usleep(100000);
	(void)tu_group_committed(bus, GROUP, TOPIC, c, MAXQ);
	ck_assert_uint_eq(c[0], 3);
	kill(ch[0].pid, SIGKILL);
	(void)tu_wait(ch[0].pid);
	for (seq = 0; seq < 10; seq++)
		sh->seen[seq] = 0;
	sh->distinct = 0;
	TU_SPAWN(&ch[1], "member1", member(1, 1, SHMQ_LISTENER_CONCURRENT,
	    4, 0, -1));
	wait_distinct(7, 10);
	for (seq = 0; seq < 10; seq++)
		ck_assert_uint_eq(sh->seen[seq], seq >= 3 ? 1 : 0);
	ck_pr_store_32(&sh->stop, 1);
	tu_check_children(&ch[1], 1, 30, ecode_name);
	(void)tu_group_committed(bus, GROUP, TOPIC, c, MAXQ);
	ck_assert_uint_eq(c[0], 10);
	shmq_bus_close(bus);
}
END_TEST

/*
 * Orderly: members are SIGKILLed (mid-call, most likely) and new ones join
 * while a producer sends; a queue is never in two calls at once, offsets
 * of a queue come in order (redeliveries after a kill only), and every
 * message is processed.
 */
START_TEST(test_orderly_kill_join)
{
	const uint64_t n = 30000;
	struct tu_child ch[6], prod;
	struct shmq_bus *bus;
	unsigned nq = 6;
	int i;

	shared_new(n);
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, nq), 0);
	for (i = 0; i < 3; i++) {
		char who[16];

		snprintf(who, sizeof(who), "member%d", i);
		TU_SPAWN(&ch[i], who, member(i, nq, SHMQ_LISTENER_ORDERLY, 2,
		    50, -1));
	}
	for (i = 0; i < 3; i++)
		tu_wait_flag(&sh->ready[i], 5);
	TU_SPAWN(&prod, "producer", producer(nq, n, 300));
	usleep(400000);
	kill(ch[0].pid, SIGKILL);
	(void)tu_wait(ch[0].pid);
	TU_SPAWN(&ch[3], "member3", member(3, nq, SHMQ_LISTENER_ORDERLY, 2,
	    50, -1));
	usleep(400000);
	kill(ch[1].pid, SIGKILL);
	(void)tu_wait(ch[1].pid);
	TU_SPAWN(&ch[4], "member4", member(4, nq, SHMQ_LISTENER_ORDERLY, 2,
	    50, -1));
	usleep(300000);
	kill(ch[3].pid, SIGKILL);
	(void)tu_wait(ch[3].pid);
	tu_check_children(&prod, 1, 30, ecode_name);
	wait_distinct(sh->sent, 20);
	fprintf(stderr, "push: orderly, 3 kills and 2 joins: %llu messages, "
	    "%llu redelivered, %llu violations, %llu gaps\n",
	    (unsigned long long)sh->sent, (unsigned long long)sh->dups,
	    (unsigned long long)sh->violations,
	    (unsigned long long)sh->gaps);
	ck_pr_store_32(&sh->stop, 1);
	tu_check_children(&ch[2], 1, 30, ecode_name);
	tu_check_children(&ch[4], 1, 30, ecode_name);
	ck_assert_uint_eq(sh->violations, 0);
	ck_assert_uint_eq(sh->gaps, 0);
	ck_assert_uint_eq(sh->bad, 0);
	shmq_bus_close(bus);
}
END_TEST

/* LATER, concurrent and clustering: through the group's retry topic. */
static uint32_t attempts[64], reconsumes[64][4], wrong_topic;

static int
later_listener(void *arg, const struct shmq_msgview *v, size_t n)
{
	uint64_t seq;
	size_t i;
	int rc = SHMQ_CONSUME_SUCCESS;

	(void)arg;
	for (i = 0; i < n; i++) {
		memcpy(&seq, v[i].body, sizeof(seq));
		if (seq >= 64)
			continue;
		if (v[i].topic_len != strlen(TOPIC) ||
		    memcmp(v[i].topic, TOPIC, v[i].topic_len) != 0)
			ck_pr_inc_32(&wrong_topic);
		if (v[i].reconsume < 4)
			ck_pr_inc_32(&reconsumes[seq][v[i].reconsume]);
		ck_pr_inc_32(&attempts[seq]);
		if (seq == 7 || (seq % 5 == 0 && v[i].reconsume < 2))
			rc = SHMQ_CONSUME_LATER;
		else if (ck_pr_faa_8(&sh->seen[seq], 1) == 0)
			ck_pr_inc_64(&sh->distinct);
	}
	return rc;
}

START_TEST(test_later_retry_topic)
{
	static const uint32_t levels[] = { 30 };
	struct shmq_retry_opts ro;
	struct shmq_push_opts po;
	struct shmq_group_opts go;
	struct shmq_push_stats st;
	struct shmq_push *pc;
	struct shmq_bus *bus;
	uint64_t end, seq;

	shared_new(64);
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 2), 0);
	ck_assert_int_eq(send_range(bus, 2, 0, 20, 0), 0);
	shmq_retry_opts_init(&ro);
	ro.max_reconsume = 2;
	ro.delay_levels_ms = levels;
	ro.ndelay_levels = 1;
	ro.first_level = 1;
	shmq_group_opts_init(&go);
	go.start = SHMQ_SEEK_FIRST;
	go.retry = &ro;
	shmq_push_opts_init(&po);
	po.threads = 2;
	ck_assert_int_eq(shmq_push_open(&pc, bus, GROUP, &go, &po), 0);
	ck_assert_int_eq(shmq_push_subscribe(pc, TOPIC, NULL), 0);
	ck_assert_int_eq(shmq_push_start(pc, later_listener, NULL), 0);
	/* 19 succeed (seq 7 never does); seq 7 ends in the DLQ. */
	end = tu_mono_ns() + (uint64_t)(10e9 * tu_mult());
	for (;;) {
		ck_assert_int_eq(shmq_push_stats(pc, &st), 0);
		if (ck_pr_load_64(&sh->distinct) == 19 && st.gave_up == 1)
			break;
		ck_assert_msg(tu_mono_ns() < end, "%llu of 19 done, %llu "
		    "given up, %llu later", (unsigned long long)sh->distinct,
		    (unsigned long long)st.gave_up,
		    (unsigned long long)st.later);
		usleep(2000);
	}
	shmq_push_close(pc);
	for (seq = 0; seq < 20; seq++) {
		if (seq == 7 || seq % 5 == 0) {
			ck_assert_uint_eq(attempts[seq], 3);
			ck_assert_uint_eq(reconsumes[seq][0], 1);
			ck_assert_uint_eq(reconsumes[seq][1], 1);
			ck_assert_uint_eq(reconsumes[seq][2], 1);
		} else
			ck_assert_uint_eq(attempts[seq], 1);
	}
	ck_assert_uint_eq(wrong_topic, 0);
	ck_assert_uint_eq(st.later, 4 * 2 + 3);
	shmq_bus_close(bus);
}
END_TEST

/* LATER, orderly: the queue waits suspend_ms and the same message comes
 * again before any after it. */
static uint64_t order_log[64], order_ns[64];
static uint32_t norder;

static int
orderly_later_listener(void *arg, const struct shmq_msgview *v, size_t n)
{
	uint32_t k;
	uint64_t seq;

	(void)arg;
	ck_assert_uint_eq(n, 1);
	memcpy(&seq, v[0].body, sizeof(seq));
	k = ck_pr_faa_32(&norder, 1);
	if (k < 64) {
		order_log[k] = seq;
		order_ns[k] = tu_mono_ns();
	}
	if (seq == 4 && v[0].reconsume == 0)
		return SHMQ_CONSUME_LATER;
	if (ck_pr_faa_8(&sh->seen[seq], 1) == 0)
		ck_pr_inc_64(&sh->distinct);
	return SHMQ_CONSUME_SUCCESS;
}

START_TEST(test_later_orderly)
{
	static const uint64_t want[] = { 0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9 };
	struct shmq_push_opts po;
	struct shmq_group_opts go;
	struct shmq_push *pc;
	struct shmq_bus *bus;
	unsigned i;

	shared_new(64);
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 1), 0);
	ck_assert_int_eq(send_range(bus, 1, 0, 10, 0), 0);
	shmq_group_opts_init(&go);
	go.start = SHMQ_SEEK_FIRST;
	shmq_push_opts_init(&po);
	po.kind = SHMQ_LISTENER_ORDERLY;
	po.threads = 3;
	po.suspend_ms = 50;
	ck_assert_int_eq(shmq_push_open(&pc, bus, GROUP, &go, &po), 0);
	ck_assert_int_eq(shmq_push_subscribe(pc, TOPIC, NULL), 0);
	ck_assert_int_eq(shmq_push_start(pc, orderly_later_listener, NULL),
	    0);
	wait_distinct(10, 10);
	shmq_push_close(pc);
	ck_assert_uint_eq(norder, 11);
	for (i = 0; i < 11; i++)
		ck_assert_uint_eq(order_log[i], want[i]);
	ck_assert_msg(order_ns[5] - order_ns[4] >= 45000000ull, "suspended "
	    "%.1f ms", (order_ns[5] - order_ns[4]) / 1e6);
	shmq_bus_close(bus);
}
END_TEST

static Suite *
push_suite(void)
{
	Suite *s = suite_create("push");
	TCase *tc;

	tc = tcase_create("api");
	tcase_add_checked_fixture(tc, tu_setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_flow_control);
	tcase_add_test(tc, test_later_retry_topic);
	tcase_add_test(tc, test_later_orderly);
	suite_add_tcase(s, tc);

	tc = tcase_create("processes");
	tcase_add_checked_fixture(tc, tu_setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_concurrent_two_procs);
	tcase_add_test(tc, test_kill_redelivery);
	tcase_add_test(tc, test_orderly_kill_join);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(push_suite);
}
