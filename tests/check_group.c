/*
 * check_group.c - consumer groups: membership, clustering allocation and
 * handover, committed offsets and their recovery, broadcasting, start
 * positions, reset to a time, bad input.
 *
 * Multi-process: members are forked children that open their own bus and
 * report through a shared page mapped before fork (tu_shared_new) and their
 * exit codes.  Every message body is its sequence number (8 bytes), sent to
 * queue seq % queues, so a member can prove, per queue, that offsets come
 * in order and find duplicates and gaps:
 *
 *   last[q]  the highest queue offset processed so far on queue q, moved
 *            by CAS from o - 1 to o; a member that meets o <= last[q] has a
 *            duplicate (a redelivery after a takeover, or two members on
 *            one queue at once: a clean rebalance must have none), one that
 *            meets o > last[q] + 1 a gap (a loss: never allowed).
 *
 * Figures (takeover after SIGKILL, rebalance on join, duplicates) go to
 * stderr.
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
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <ck_pr.h>

#include "shmq/shmq.h"
#include "testutil.h"

#define TOPIC		"grp.topic"
#define GROUP		"grp.g"
#define MAXQ		16
#define MAXM		8

enum {
	E_OK = 0,
	E_SETUP = 10,	/* bus, group, subscribe */
	E_POLL,		/* poll failed */
	E_BODY,		/* body is not a seq of its queue */
	E_GAP,		/* a queue offset skipped: loss */
	E_DUP,		/* a duplicate where none is allowed */
	E_SEND,		/* a send failed */
	E_CHECK,	/* some other expectation */
	E_TIMEOUT = TU_E_TIMEOUT
};

static const char *
ecode_name(int code)
{
	switch (code) {
	case E_SETUP:	return "setup failed";
	case E_POLL:	return "poll failed";
	case E_BODY:	return "bad body";
	case E_GAP:	return "gap (loss)";
	case E_DUP:	return "duplicate in a clean run";
	case E_SEND:	return "send failed";
	case E_CHECK:	return "check failed";
	default:	return tu_exit_name(code);
	}
}

/* The page shared by the parent and its children. */
struct shared {
	uint32_t	stop;		/* members leave */
	uint32_t	stop_send;	/* the producer stops */
	uint32_t	ready[MAXM];	/* member i subscribed */
	uint64_t	got[MAXM];	/* messages member i processed */
	uint64_t	distinct;	/* seqs seen at least once */
	uint64_t	dups;
	uint64_t	gaps;
	uint64_t	sent;		/* producer's count */
	int64_t		last[MAXQ];	/* see the top */
	uint32_t	who[MAXQ];	/* member that moved last[q] */
	uint64_t	when_ns[MAXQ];	/* when (tu_mono_ns) */
	uint32_t	qmask[MAXM];	/* queues member i processed */
	uint8_t		seen[];		/* per seq: times processed */
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
send_range(struct shmq_bus *bus, unsigned nq, uint64_t from, uint64_t to)
{
	struct shmq_producer *p;
	struct shmq_msg m;
	uint64_t seq;
	int rc;

	if ((rc = shmq_producer_open(&p, bus, "grp.p")) < 0)
		return rc;
	for (seq = from; seq < to; seq++) {
		shmq_msg_init(&m);
		m.topic = TOPIC;
		m.body = &seq;
		m.body_len = sizeof(seq);
		m.queue = (int)(seq % nq);
		if ((rc = shmq_producer_send(p, &m, NULL)) < 0)
			break;
	}
	shmq_producer_close(p);
	return rc < 0 ? rc : 0;
}

/* Record one message processed by member IDX (see the top). */
static int
record(int idx, unsigned nq, const struct shmq_msgview *v, int clean)
{
	uint64_t seq;
	int64_t prev, o = (int64_t)v->queue_off;
	int q = v->queue;

	if (v->body_len != sizeof(seq) || q < 0 || q >= MAXQ)
		return E_BODY;
	memcpy(&seq, v->body, sizeof(seq));
	if (seq % nq != (uint64_t)q)
		return E_BODY;
	prev = ck_pr_load_64((uint64_t *)&sh->last[q]);
	if (o > prev + 1) {
		ck_pr_inc_64(&sh->gaps);
		tu_detail("gap", "member %d queue %d offset %lld after %lld",
		    idx, q, (long long)o, (long long)prev);
		return E_GAP;
	}
	if (o <= prev || !ck_pr_cas_64((uint64_t *)&sh->last[q],
	    (uint64_t)prev, (uint64_t)o)) {
		ck_pr_inc_64(&sh->dups);
		if (clean) {
			tu_detail("dup", "member %d queue %d offset %lld "
			    "(last %lld)", idx, q, (long long)o,
			    (long long)prev);
			return E_DUP;
		}
	} else {
		ck_pr_store_32(&sh->who[q], (uint32_t)idx);
		ck_pr_store_64(&sh->when_ns[q], tu_mono_ns());
	}
	ck_pr_or_32(&sh->qmask[idx], 1u << q);
	if (ck_pr_faa_8(&sh->seen[seq], 1) == 0)
		ck_pr_inc_64(&sh->distinct);
	ck_pr_inc_64(&sh->got[idx]);
	return E_OK;
}

/*
 * A clustering member: join GROUP, subscribe, process until told to stop
 * (or, with UNTIL, until that many distinct seqs were seen), then close.
 */
static int
member(int idx, unsigned nq, int clean, uint64_t until, unsigned batch)
{
	struct shmq_msgview v[64];
	struct shmq_group_opts o;
	struct shmq_consumer *c;
	struct shmq_bus *bus;
	int rc, i, n;

	if (shmq_bus_open(&bus, NULL, NULL) < 0)
		return E_SETUP;
	shmq_group_opts_init(&o);
	o.start = SHMQ_SEEK_FIRST;
	if ((rc = shmq_consumer_open_group(&c, bus, GROUP, &o)) < 0 ||
	    (rc = shmq_consumer_subscribe(c, TOPIC, NULL)) < 0) {
		tu_detail("member", "%d: %s (%s)", idx, shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	ck_pr_store_32(&sh->ready[idx], 1);
	while (!ck_pr_load_32(&sh->stop) &&
	    (until == 0 || ck_pr_load_64(&sh->distinct) < until)) {
		n = shmq_consumer_poll(c, v, batch, 20);
		if (n < 0) {
			tu_detail("member", "%d: poll %s (%s)", idx,
			    shmq_err_name(n), shmq_errmsg());
			return E_POLL;
		}
		for (i = 0; i < n; i++)
			if ((rc = record(idx, nq, &v[i], clean)) != E_OK)
				return rc;
	}
	shmq_consumer_close(c);
	shmq_bus_close(bus);
	return E_OK;
}

/* A producer child: SEQ from..to, paced at one message per PACE_US. */
static int
producer(unsigned nq, uint64_t from, uint64_t to, unsigned pace_us)
{
	struct shmq_producer *p;
	struct shmq_bus *bus;
	struct shmq_msg m;
	uint64_t seq;
	int rc;

	if (shmq_bus_open(&bus, NULL, NULL) < 0 ||
	    shmq_producer_open(&p, bus, "grp.p") < 0)
		return E_SETUP;
	for (seq = from; seq < to && !ck_pr_load_32(&sh->stop_send); seq++) {
		shmq_msg_init(&m);
		m.topic = TOPIC;
		m.body = &seq;
		m.body_len = sizeof(seq);
		m.queue = (int)(seq % nq);
		if ((rc = shmq_producer_send(p, &m, NULL)) < 0) {
			tu_detail("producer", "%s (%s)", shmq_err_name(rc),
			    shmq_errmsg());
			return E_SEND;
		}
		ck_pr_store_64(&sh->sent, seq + 1);
		if (pace_us != 0 && seq % nq == nq - 1)
			usleep(pace_us);
	}
	shmq_producer_close(p);
	shmq_bus_close(bus);
	return E_OK;
}

/* ------------------------------------------------------------------ */
/* Introspection helpers                                               */
/* ------------------------------------------------------------------ */

struct gsnap {
	size_t		 nmembers;
	uint32_t	 mqueues[MAXM];	/* queues held, per member */
	int		 owner[MAXQ];	/* pid per queue */
	uint64_t	 committed[MAXQ];
	uint64_t	 lag[MAXQ];
	uint64_t	 generation;
};

static int
snap_cb(void *arg, const struct shmq_group_info *gi)
{
	struct gsnap *g = arg;
	size_t i;

	g->nmembers = gi->nmembers;
	g->generation = gi->generation;
	for (i = 0; i < gi->nmembers && i < MAXM; i++)
		g->mqueues[i] = gi->members[i].queues;
	for (i = 0; i < gi->nqueues; i++) {
		int q = gi->queues[i].queue;

		if (q < 0 || q >= MAXQ)
			continue;
		g->owner[q] = gi->queues[i].owner_pid;
		g->committed[q] = gi->queues[i].committed;
		g->lag[q] = gi->queues[i].lag;
	}
	return 0;
}

static void
snap(struct shmq_bus *bus, struct gsnap *g)
{
	int rc;

	memset(g, 0, sizeof(*g));
	rc = shmq_group_foreach(bus, GROUP, snap_cb, g);
	ck_assert_msg(rc == 0, "group foreach: %s (%s)", shmq_err_name(rc),
	    shmq_errmsg());
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Wait until the group has N members holding, sorted, the counts WANT. */
static void
wait_split(struct shmq_bus *bus, size_t n, const uint32_t *want, unsigned nq)
{
	uint64_t end = tu_mono_ns() + (uint64_t)(5 * tu_mult() * 1e9);
	struct gsnap g;
	uint32_t got[MAXM];
	unsigned q, held;

	for (;;) {
		snap(bus, &g);
		for (q = 0, held = 0; q < nq; q++)
			held += g.owner[q] != 0;
		memcpy(got, g.mqueues, sizeof(got));
		qsort(got, n, sizeof(got[0]), cmp_u32);
		if (g.nmembers == n && held == nq &&
		    memcmp(got, want, n * sizeof(got[0])) == 0)
			return;
		ck_assert_msg(tu_mono_ns() < end, "split: %zu members, %u "
		    "queues held, counts %u %u %u", g.nmembers, held, got[0],
		    got[1], got[2]);
		usleep(2000);
	}
}

/* On a failure: what the group and the children look like. */
static void
dump(struct shmq_bus *bus, struct tu_child *ch, unsigned n)
{
	struct gsnap g;
	char buf[1024];
	unsigned i;
	int st;

	snap(bus, &g);
	fprintf(stderr, "dump: %zu members, generation %llu\n", g.nmembers,
	    (unsigned long long)g.generation);
	for (i = 0; i < MAXQ; i++)
		if (g.owner[i] != 0 || g.committed[i] != 0)
			fprintf(stderr, "  queue %u: owner %d committed %llu "
			    "lag %llu last %lld\n", i, g.owner[i],
			    (unsigned long long)g.committed[i],
			    (unsigned long long)g.lag[i],
			    (long long)sh->last[i]);
	for (i = 0; i < n; i++) {
		tu_read_detail(ch[i].who, buf, sizeof(buf));
		fprintf(stderr, "  %s pid %d: %s %s\n", ch[i].who,
		    (int)ch[i].pid, waitpid(ch[i].pid, &st, WNOHANG) == 0 ?
		    "running" : "ended", buf);
	}
	tu_read_detail("member", buf, sizeof(buf));
	fprintf(stderr, "  member details: %s\n", buf);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

/* 2 then 3 members split 8 queues 4/4 and 3/3/2; a clean join and a
 * clean leave lose nothing and deliver nothing twice. */
START_TEST(test_split)
{
	static const uint32_t w2[] = { 4, 4 }, w3[] = { 2, 3, 3 },
	    w1[] = { 8 };
	struct tu_child ch[4];
	struct shmq_bus *bus;
	uint64_t t0, end;
	unsigned nq = 8;
	int i;

	shared_new(1u << 20);
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, nq), 0);
	TU_SPAWN(&ch[0], "member0", member(0, nq, 1, 0, 16));
	TU_SPAWN(&ch[1], "member1", member(1, nq, 1, 0, 16));
	tu_wait_flag(&sh->ready[0], 5);
	tu_wait_flag(&sh->ready[1], 5);
	wait_split(bus, 2, w2, nq);
	TU_SPAWN(&ch[2], "producer", producer(nq, 0, 600000, 100));
	usleep(200000);
	/* A third member joins: the others let queues go, it takes them. */
	t0 = tu_mono_ns();
	TU_SPAWN(&ch[3], "member2", member(2, nq, 1, 0, 16));
	wait_split(bus, 3, w3, nq);
	end = tu_mono_ns();
	while (ck_pr_load_32(&sh->qmask[2]) == 0 &&
	    tu_mono_ns() - end < 5e9 * tu_mult())
		usleep(1000);
	fprintf(stderr, "group: rebalance on join: split after %.1f ms, "
	    "first message to the new member after %.1f ms\n",
	    (end - t0) / 1e6, (tu_mono_ns() - t0) / 1e6);
	usleep(200000);
	ck_pr_store_32(&sh->stop_send, 1);
	tu_wait_children(&ch[2], 1, 30);
	ck_assert_int_eq(ch[2].code, 0);
	/* Drain, then every member leaves but one, which gets all. */
	end = tu_mono_ns() + (uint64_t)(10e9 * tu_mult());
	while (ck_pr_load_64(&sh->distinct) < ck_pr_load_64(&sh->sent)) {
		ck_assert_msg(tu_mono_ns() < end, "drain: %llu of %llu",
		    (unsigned long long)sh->distinct,
		    (unsigned long long)sh->sent);
		usleep(1000);
	}
	ck_pr_store_32(&sh->stop, 1);
	tu_check_children(ch, 2, 30, ecode_name);
	tu_check_children(&ch[3], 1, 30, ecode_name);
	ck_assert_uint_eq(sh->dups, 0);
	ck_assert_uint_eq(sh->gaps, 0);
	for (i = 0; i < 3; i++)
		ck_assert_uint_gt(sh->got[i], 0);
	/* Committed offsets after everyone left: the queue tails. */
	{
		struct gsnap g;
		unsigned q;

		snap(bus, &g);
		ck_assert_uint_eq(g.nmembers, 0);
		for (q = 0; q < nq; q++) {
			ck_assert_uint_eq(g.lag[q], 0);
			ck_assert_int_eq(g.owner[q], 0);
		}
	}
	/* One member alone holds everything. */
	sh->stop = 0;
	sh->ready[0] = 0;
	TU_SPAWN(&ch[0], "member0", member(0, nq, 1, 0, 16));
	tu_wait_flag(&sh->ready[0], 5);
	wait_split(bus, 1, w1, nq);
	ck_pr_store_32(&sh->stop, 1);
	tu_check_children(ch, 1, 30, ecode_name);
	shmq_bus_close(bus);
}
END_TEST

/* A member is SIGKILLed: its queues are consumed again by the others
 * within a second; nothing is lost; duplicates only on its queues. */
START_TEST(test_kill_takeover)
{
	struct tu_child ch[4];
	struct shmq_bus *bus;
	uint64_t kill_ns, done_ns = 0, end;
	unsigned nq = 8, q;
	uint32_t victim_q = 0;
	int i;

	shared_new(1u << 20);
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, nq), 0);
	for (i = 0; i < 3; i++) {
		char who[16];

		snprintf(who, sizeof(who), "member%d", i);
		TU_SPAWN(&ch[i], who, member(i, nq, 0, 0, 8));
	}
	for (i = 0; i < 3; i++)
		tu_wait_flag(&sh->ready[i], 5);
	TU_SPAWN(&ch[3], "producer", producer(nq, 0, 800000, 200));
	/* Until every member has messages, then kill member 1. */
	end = tu_mono_ns() + (uint64_t)(10e9 * tu_mult());
	while (ck_pr_load_32(&sh->qmask[0]) == 0 ||
	    ck_pr_load_32(&sh->qmask[1]) == 0 ||
	    ck_pr_load_32(&sh->qmask[2]) == 0)
		ck_assert(tu_mono_ns() < end);
	usleep(100000);
	kill(ch[1].pid, SIGKILL);
	kill_ns = tu_mono_ns();
	(void)tu_wait(ch[1].pid);
	for (q = 0; q < nq; q++)
		if (ck_pr_load_32(&sh->who[q]) == 1)
			victim_q |= 1u << q;
	ck_assert_uint_ne(victim_q, 0);
	/* Each of its queues moves on under another member. */
	end = kill_ns + (uint64_t)(5e9 * tu_mult());
	for (;;) {
		uint32_t left = 0;

		for (q = 0; q < nq; q++)
			if ((victim_q & (1u << q)) &&
			    (ck_pr_load_32(&sh->who[q]) == 1 ||
			    ck_pr_load_64(&sh->when_ns[q]) < kill_ns))
				left |= 1u << q;
		if (left == 0)
			break;
		ck_assert_msg(tu_mono_ns() < end, "queues %#x not taken over "
		    "after 5 s", left);
		usleep(500);
	}
	for (q = 0; q < nq; q++)
		if ((victim_q & (1u << q)) && sh->when_ns[q] > done_ns)
			done_ns = sh->when_ns[q];
	fprintf(stderr, "group: takeover after SIGKILL: %.1f ms "
	    "(queues %#x)\n", (done_ns - kill_ns) / 1e6, victim_q);
	ck_assert_msg(done_ns - kill_ns < 1.5e9 * tu_mult(),
	    "takeover took %.1f ms", (done_ns - kill_ns) / 1e6);
	ck_pr_store_32(&sh->stop_send, 1);
	tu_wait_children(&ch[3], 1, 30);
	end = tu_mono_ns() + (uint64_t)(10e9 * tu_mult());
	while (ck_pr_load_64(&sh->distinct) < ck_pr_load_64(&sh->sent)) {
		ck_assert_msg(tu_mono_ns() < end, "drain: %llu of %llu",
		    (unsigned long long)sh->distinct,
		    (unsigned long long)sh->sent);
		usleep(1000);
	}
	ck_pr_store_32(&sh->stop, 1);
	tu_check_children(&ch[0], 1, 30, ecode_name);
	tu_check_children(&ch[2], 1, 30, ecode_name);
	fprintf(stderr, "group: kill test: %llu messages, %llu duplicates\n",
	    (unsigned long long)sh->sent, (unsigned long long)sh->dups);
	ck_assert_uint_eq(sh->gaps, 0);
	/* At most one batch per queue of the victim was not committed. */
	ck_assert_uint_le(sh->dups, 8u * nq);
	shmq_bus_close(bus);
}
END_TEST

/* About a million messages, 3 members; one is killed, a new one joins.
 * Every message is processed at least once; duplicates are counted. */
START_TEST(test_stream_million)
{
	const uint64_t N = 1000000;
	struct tu_child ch[5];
	struct shmq_bus *bus;
	uint64_t end, t0, s;
	unsigned nq = 8;
	int i;

	shared_new(N);
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, nq), 0);
	t0 = tu_mono_ns();
	for (i = 0; i < 3; i++) {
		char who[16];

		snprintf(who, sizeof(who), "member%d", i);
		TU_SPAWN(&ch[i], who, member(i, nq, 0, N, 32));
	}
	for (i = 0; i < 3; i++)
		tu_wait_flag(&sh->ready[i], 5);
	TU_SPAWN(&ch[3], "producer", producer(nq, 0, N, 0));
	end = tu_mono_ns() + (uint64_t)(30e9 * tu_mult());
	while (ck_pr_load_64(&sh->distinct) < N / 3) {
		ck_assert(tu_mono_ns() < end);
		usleep(200);
	}
	kill(ch[0].pid, SIGKILL);
	(void)tu_wait(ch[0].pid);
	while (ck_pr_load_64(&sh->distinct) < N / 2) {
		ck_assert(tu_mono_ns() < end);
		usleep(200);
	}
	TU_SPAWN(&ch[4], "member3", member(3, nq, 0, N, 32));
	tu_wait_children(&ch[3], 1, 30);
	ck_assert_int_eq(ch[3].code, 0);
	while (ck_pr_load_64(&sh->distinct) < N) {
		if (tu_mono_ns() >= end)
			dump(bus, ch, 5);
		ck_assert_msg(tu_mono_ns() < end, "%llu of %llu",
		    (unsigned long long)sh->distinct, (unsigned long long)N);
		usleep(1000);
	}
	ck_pr_store_32(&sh->stop, 1);
	tu_check_children(&ch[1], 2, 30, ecode_name);
	tu_check_children(&ch[4], 1, 30, ecode_name);
	for (s = 0; s < N; s++)
		ck_assert(sh->seen[s] >= 1);
	fprintf(stderr, "group: %llu messages, 3 members, one killed, one "
	    "joined: %.2f s, %llu duplicates (member 3 got %llu)\n",
	    (unsigned long long)N, (tu_mono_ns() - t0) / 1e9,
	    (unsigned long long)sh->dups, (unsigned long long)sh->got[3]);
	ck_assert_uint_eq(sh->gaps, 0);
	ck_assert_uint_le(sh->dups, 32u * nq);
	shmq_bus_close(bus);
}
END_TEST

/* A member in its own process: consume COUNT messages one poll at a time
 * (auto-commit or explicit), check the first seq, then close.  With
 * COMMIT_AT > 0 and no auto-commit, commit after that many. */
/* Group and detail-file name of consume_n (set before the fork). */
static const char *cgroup = GROUP;
static char cwho[32] = "consume";

static int
consume_n(const char *instance, int model, int start, uint64_t start_ms,
    int auto_commit, uint64_t count, int64_t first, uint64_t commit_at,
    int exact)
{
	struct shmq_group_opts o;
	struct shmq_consumer *c;
	struct shmq_msgview v;
	struct shmq_bus *bus;
	uint64_t got = 0, seq, end;
	int rc, n;

	if (shmq_bus_open(&bus, NULL, NULL) < 0)
		return E_SETUP;
	shmq_group_opts_init(&o);
	o.model = model;
	o.instance = instance;
	o.start = start;
	o.start_time_ms = start_ms;
	o.auto_commit = auto_commit;
	if ((rc = shmq_consumer_open_group(&c, bus, cgroup, &o)) < 0 ||
	    (rc = shmq_consumer_subscribe(c, TOPIC, NULL)) < 0) {
		tu_detail(cwho, "%s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	end = tu_mono_ns() + (uint64_t)(5e9 * tu_mult());
	while (got < count && tu_mono_ns() < end) {
		n = shmq_consumer_poll(c, &v, 1, 20);
		if (n < 0)
			return E_POLL;
		if (n == 0)
			continue;
		memcpy(&seq, v.body, sizeof(seq));
		if (got == 0 && first >= 0 && seq != (uint64_t)first) {
			tu_detail(cwho, "first seq %llu, want %lld",
			    (unsigned long long)seq, (long long)first);
			return E_CHECK;
		}
		got++;
		if (commit_at != 0 && got == commit_at &&
		    (rc = shmq_consumer_commit(c, TOPIC, v.queue,
		    v.queue_off + 1)) < 0) {
			tu_detail(cwho, "commit %s (%s)",
			    shmq_err_name(rc), shmq_errmsg());
			return E_CHECK;
		}
	}
	if (got != count) {
		tu_detail(cwho, "got %llu, want %llu",
		    (unsigned long long)got, (unsigned long long)count);
		return E_CHECK;
	}
	/* With EXACT, nothing more than COUNT. */
	if (exact && (n = shmq_consumer_poll(c, &v, 1, 50)) != 0) {
		tu_detail(cwho, "one more than %llu (%d)",
		    (unsigned long long)count, n);
		return E_CHECK;
	}
	shmq_consumer_close(c);
	shmq_bus_close(bus);
	return E_OK;
}

#define CHILD(name, call) do {						\
	struct tu_child c_;						\
	char m_[1024];							\
	snprintf(cwho, sizeof(cwho), "%s", (name));			\
	TU_SPAWN(&c_, (name), (call));					\
	tu_wait_children(&c_, 1, 20);					\
	ck_assert_msg(tu_report(&c_, 1, E_OK, ecode_name, m_,		\
	    sizeof(m_)) == 0, "%s", m_);				\
} while (0)

static int
send_child(unsigned nq, uint64_t from, uint64_t to)
{
	struct shmq_bus *bus;
	int rc;

	if (shmq_bus_open(&bus, NULL, NULL) < 0)
		return E_SETUP;
	if (from == 0 && (rc = shmq_topic_create(bus, TOPIC, nq)) < 0 &&
	    rc != SHMQ_EEXIST)
		return E_SETUP;
	rc = send_range(bus, nq, from, to);
	shmq_bus_close(bus);
	return rc < 0 ? E_SEND : E_OK;
}

/* Committed offsets survive every process closing (a rebuild from the
 * store), with auto-commit and with explicit commits. */
START_TEST(test_offsets_survive)
{
	char path[4096];
	struct stat st;
	struct shmq_bus *bus;
	struct gsnap g;

	/* Nobody holds the bus between the steps: each reopen rebuilds the
	 * control region from the store. */
	CHILD("send", send_child(1, 0, 200));
	CHILD("first", consume_n(NULL, SHMQ_CLUSTERING, SHMQ_SEEK_FIRST, 0,
	    1, 100, 0, 0, 0));
	snprintf(path, sizeof(path), "%s/%s/groups/%s/offsets", tu_home(),
	    tu_bus(), GROUP);
	ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
	bus = tu_bus_open_default();
	snap(bus, &g);
	ck_assert_uint_eq(g.nmembers, 0);
	ck_assert_uint_eq(g.committed[0], 100);
	ck_assert_uint_eq(g.lag[0], 100);
	shmq_bus_close(bus);
	/* Explicit commits: 30 processed and committed, 20 more returned
	 * but never committed. */
	CHILD("explicit", consume_n(NULL, SHMQ_CLUSTERING, SHMQ_SEEK_FIRST,
	    0, 0, 50, 100, 30, 0));
	CHILD("resume", consume_n(NULL, SHMQ_CLUSTERING, SHMQ_SEEK_LAST, 0,
	    1, 70, 130, 0, 1));
	bus = tu_bus_open_default();
	snap(bus, &g);
	ck_assert_uint_eq(g.committed[0], 200);
	shmq_bus_close(bus);
}
END_TEST

/* Broadcasting: every instance gets everything, with its own offsets. */
START_TEST(test_broadcast)
{
	struct tu_child ch[2];
	struct shmq_bus *bus;

	CHILD("send", send_child(4, 0, 400));
	TU_SPAWN(&ch[0], "b1", consume_n("b1", SHMQ_BROADCASTING,
	    SHMQ_SEEK_FIRST, 0, 1, 400, -1, 0, 1));
	TU_SPAWN(&ch[1], "b2", consume_n("b2", SHMQ_BROADCASTING,
	    SHMQ_SEEK_FIRST, 0, 1, 400, -1, 0, 1));
	tu_check_children(ch, 2, 30, ecode_name);
	CHILD("send2", send_child(4, 400, 440));
	/* b1 resumes where it left off: exactly the 40 new ones. */
	CHILD("b1again", consume_n("b1", SHMQ_BROADCASTING, SHMQ_SEEK_FIRST,
	    0, 1, 40, -1, 0, 1));
	/* A new instance with FIRST gets everything. */
	CHILD("b3", consume_n("b3", SHMQ_BROADCASTING, SHMQ_SEEK_FIRST, 0,
	    1, 440, -1, 0, 1));
	bus = tu_bus_open_default();
	{
		struct shmq_group_opts o;
		struct shmq_consumer *c1, *c2;
		int rc;

		shmq_group_opts_init(&o);
		o.model = SHMQ_BROADCASTING;
		o.instance = "b1";
		ck_assert_int_eq(shmq_consumer_open_group(&c1, bus, GROUP, &o),
		    0);
		rc = shmq_consumer_open_group(&c2, bus, GROUP, &o);
		ck_assert_msg(rc == SHMQ_EEXIST, "same instance: %s",
		    shmq_err_name(rc));
		o.instance = NULL;
		ck_assert_int_eq(shmq_consumer_open_group(&c2, bus, GROUP, &o),
		    SHMQ_EINVAL);
		o.model = SHMQ_CLUSTERING;
		rc = shmq_consumer_open_group(&c2, bus, GROUP, &o);
		ck_assert_msg(rc == SHMQ_EINVAL, "model mismatch: %s",
		    shmq_err_name(rc));
		shmq_consumer_close(c1);
	}
	shmq_bus_close(bus);
}
END_TEST

static uint64_t
now_ms(void)
{
	return shmq_now_ns() / 1000000u;
}

/* Start positions of a new group: FIRST, LAST, TIME; and LAST means the
 * tail when the group first subscribed, even across a restart. */
START_TEST(test_start_positions)
{
	struct shmq_bus *bus;
	uint64_t t;

	CHILD("send", send_child(1, 0, 10));
	usleep(20000);
	t = now_ms();
	usleep(5000);
	CHILD("send2", send_child(1, 10, 15));
	bus = tu_bus_open_default();
	{
		struct shmq_group_opts o;
		struct shmq_consumer *c;
		struct shmq_msgview v[32];
		uint64_t seq;
		int n;

		/* FIRST: all 15, from seq 0. */
		shmq_group_opts_init(&o);
		o.start = SHMQ_SEEK_FIRST;
		ck_assert_int_eq(shmq_consumer_open_group(&c, bus, "g.first",
		    &o), 0);
		ck_assert_int_eq(shmq_consumer_subscribe(c, TOPIC, NULL), 0);
		n = shmq_consumer_poll(c, v, 32, 200);
		ck_assert_int_eq(n, 15);
		memcpy(&seq, v[0].body, 8);
		ck_assert_uint_eq(seq, 0);
		shmq_consumer_close(c);

		/* TIME: the 5 sent after t. */
		shmq_group_opts_init(&o);
		o.start = SHMQ_SEEK_TIME;
		o.start_time_ms = t;
		ck_assert_int_eq(shmq_consumer_open_group(&c, bus, "g.time",
		    &o), 0);
		ck_assert_int_eq(shmq_consumer_subscribe(c, TOPIC, NULL), 0);
		n = shmq_consumer_poll(c, v, 32, 200);
		ck_assert_int_eq(n, 5);
		memcpy(&seq, v[0].body, 8);
		ck_assert_uint_eq(seq, 10);
		shmq_consumer_close(c);

		/* LAST: nothing old, however young the topic ... */
		shmq_group_opts_init(&o);
		ck_assert_int_eq(shmq_consumer_open_group(&c, bus, "g.last",
		    &o), 0);
		ck_assert_int_eq(shmq_consumer_subscribe(c, TOPIC, NULL), 0);
		ck_assert_int_eq(shmq_consumer_poll(c, v, 32, 50), 0);
		shmq_consumer_close(c);
	}
	shmq_bus_close(bus);
	/* ... and what was sent while no member ran, after a rebuild. */
	CHILD("send3", send_child(1, 15, 18));
	cgroup = "g.last";
	CHILD("last", consume_n(NULL, SHMQ_CLUSTERING, SHMQ_SEEK_LAST, 0, 1,
	    3, 15, 0, 1));
}
END_TEST

static int
err_cb(void *arg, const struct shmq_group_info *gi)
{
	(void)arg;
	(void)gi;
	return 0;
}

/* Reset to a time, to the millisecond: a live member picks it up. */
START_TEST(test_reset)
{
	struct shmq_group_opts o;
	struct shmq_consumer *c;
	struct shmq_msgview v[32];
	struct shmq_bus *bus;
	uint64_t t, seq;
	int n;

	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 2), 0);
	ck_assert_int_eq(send_range(bus, 2, 0, 10), 0);
	usleep(20000);
	t = now_ms();
	usleep(5000);
	ck_assert_int_eq(send_range(bus, 2, 10, 16), 0);
	ck_assert_int_eq(shmq_group_reset(bus, GROUP, NULL, t),
	    SHMQ_ENOGROUP);
	ck_assert_int_eq(shmq_group_reset(bus, "bad name", NULL, t),
	    SHMQ_ENAME);
	ck_assert_int_eq(shmq_group_foreach(bus, GROUP, err_cb, NULL),
	    SHMQ_ENOGROUP);

	shmq_group_opts_init(&o);
	o.start = SHMQ_SEEK_FIRST;
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, GROUP, &o), 0);
	ck_assert_int_eq(shmq_consumer_subscribe(c, TOPIC, NULL), 0);
	n = 0;
	while (n < 16) {
		int k = shmq_consumer_poll(c, v, 32, 200);

		ck_assert_int_gt(k, 0);
		n += k;
	}
	ck_assert_int_eq(shmq_consumer_poll(c, v, 32, 20), 0);
	/* Reset to t: seqs 10..15 again, and only those. */
	ck_assert_int_eq(shmq_group_reset(bus, GROUP, TOPIC, t), 0);
	n = 0;
	while (n < 6) {
		int k = shmq_consumer_poll(c, v, 32, 200), i;

		ck_assert_int_gt(k, 0);
		for (i = 0; i < k; i++) {
			memcpy(&seq, v[i].body, 8);
			ck_assert_uint_ge(seq, 10);
		}
		n += k;
	}
	ck_assert_int_eq(n, 6);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 32, 20), 0);
	/* Reset to 0: everything again. */
	ck_assert_int_eq(shmq_group_reset(bus, GROUP, NULL, 0), 0);
	n = 0;
	while (n < 16) {
		int k = shmq_consumer_poll(c, v, 32, 200);

		ck_assert_int_gt(k, 0);
		n += k;
	}
	ck_assert_int_eq(n, 16);
	shmq_consumer_close(c);

	/* A reset to the very offsets a member last saw is not lost: its
	 * auto-commit of what it read since must fail (the committed word
	 * counts resets), so it reads everything again. */
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, GROUP ".b", &o),
	    0);
	ck_assert_int_eq(shmq_consumer_subscribe(c, TOPIC, NULL), 0);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 32, 1000), 16);
	ck_assert_int_eq(shmq_group_reset(bus, GROUP ".b", NULL, 0), 0);
	n = 0;
	while (n < 16) {
		int k = shmq_consumer_poll(c, v, 32, 200);

		ck_assert_int_gt(k, 0);
		n += k;
	}
	ck_assert_int_eq(n, 16);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
}
END_TEST

/* Bad input: clear errors, nothing changed. */
START_TEST(test_bad_input)
{
	struct shmq_group_opts o;
	struct shmq_consumer *c = NULL, *p;
	struct shmq_msgview v;
	struct shmq_bus *bus;

	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 2), 0);
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, NULL, NULL),
	    SHMQ_ENAME);
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, "", NULL),
	    SHMQ_ENAME);
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, "a b", NULL),
	    SHMQ_ENAME);
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, "..", NULL),
	    SHMQ_ENAME);
	shmq_group_opts_init(&o);
	o.strategy = "nearest";
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, GROUP, &o),
	    SHMQ_EINVAL);
	shmq_group_opts_init(&o);
	o.instance = "x/y";
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, GROUP, &o),
	    SHMQ_ENAME);
	shmq_group_opts_init(&o);
	o.model = SHMQ_BROADCASTING;
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, GROUP, &o),
	    SHMQ_EINVAL);
	shmq_group_opts_init(&o);
	o.start = SHMQ_SEEK_OFFSET;
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, GROUP, &o),
	    SHMQ_EINVAL);
	shmq_group_opts_init(&o);
	o.heartbeat_timeout_ms = 10;
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, GROUP, &o),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_group_reset(bus, "nogroup", NULL, 0),
	    SHMQ_ENOGROUP);
	ck_assert_msg(strstr(shmq_errmsg(), "nogroup") != NULL, "%s",
	    shmq_errmsg());

	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, GROUP, NULL), 0);
	ck_assert_int_eq(shmq_consumer_poll(c, &v, 1, 0), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_consumer_subscribe(c, "nosuch", NULL),
	    SHMQ_ENOTOPIC);
	ck_assert_int_eq(shmq_consumer_subscribe(c, TOPIC, "a ||"),
	    SHMQ_EBADEXPR);
	ck_assert_int_eq(shmq_consumer_subscribe(c, TOPIC, "*"), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, TOPIC, 0, NULL),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_consumer_unassign(c, TOPIC, 0), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_consumer_commit(c, TOPIC, 7, 1),
	    SHMQ_ENOQUEUE);
	ck_assert_int_eq(shmq_consumer_commit(c, NULL, 0, 1), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_consumer_commit(c, NULL, SHMQ_QUEUE_ANY,
	    SHMQ_OFFSET_CURRENT), 0);
	ck_assert_int_eq(shmq_group_reset(bus, GROUP, "nosuch", 0),
	    SHMQ_ENOTOPIC);
	/* Another strategy than the live member's. */
	shmq_group_opts_init(&o);
	o.strategy = "circle";
	ck_assert_int_eq(shmq_consumer_open_group(&p, bus, GROUP, &o),
	    SHMQ_EINVAL);
	/* Plain consumers have no group. */
	ck_assert_int_eq(shmq_consumer_open(&p, bus), 0);
	ck_assert_int_eq(shmq_consumer_subscribe(p, TOPIC, NULL),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_consumer_commit(p, TOPIC, 0, 0), SHMQ_EINVAL);
	shmq_consumer_close(p);
	shmq_consumer_close(c);
	ck_assert_int_eq(shmq_group_foreach(bus, "a b", err_cb, NULL),
	    SHMQ_ENAME);
	shmq_bus_close(bus);
}
END_TEST

static Suite *
group_suite(void)
{
	Suite *s = suite_create("group");
	TCase *tc;

	tc = tcase_create("basic");
	tcase_add_checked_fixture(tc, tu_setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_start_positions);
	tcase_add_test(tc, test_reset);
	tcase_add_test(tc, test_offsets_survive);
	tcase_add_test(tc, test_broadcast);
	suite_add_tcase(s, tc);

	tc = tcase_create("clustering");
	tcase_add_checked_fixture(tc, tu_setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_split);
	tcase_add_test(tc, test_kill_takeover);
	tcase_add_test(tc, test_stream_million);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(group_suite);
}
