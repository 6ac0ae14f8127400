/*
 * check_forward.c - remote send (issue 5, item 4): a send on a host that
 * is not the topic's home is stored in its outbox and shmqd forwards it
 * to the home, in order, without loss, and without duplicates unless the
 * home's shmqd dies in the window doc/federation.md names.
 *
 * Two hosts with real shmqd (fedtest.h): alpha is the home of the topics,
 * beta sends.  beta keeps alpha's routes for a minute, so that it can send
 * while alpha's shmqd is down.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include <shmq/shmq.h>

#include "fedtest.h"
#include "testutil.h"
#include "tooltest.h"

/* The outbox queue choice, to put two messages in one outbox queue. */
#include "delay.h"
#include "forward.h"
#include "internal.h"

#define NKEYS		5
#define BODY_BYTES	64

static void
setup(void)
{
	tt_setup();
	tu_seed("forward");
}

/* alpha, home of TOPIC (QUEUES); beta peered with it, knowing its
 * routes for a minute (EXTRA: a config line for beta, or NULL). */
static void
hosts_start(struct ft_host *a, struct ft_host *b, const char *topic,
    int queues, const char *extra)
{
	struct ft_host *pa[] = { a, NULL };

	ft_host_init(a, "alpha", false, NULL);
	ft_host_init(b, "beta", false, pa);
	ft_host_conf(b, "route_expire_ms = 60000");
	if (extra != NULL)
		ft_host_conf(b, "%s", extra);
	ft_host_start(a);
	ft_topic_create(a, topic, queues);
	ft_host_start(b);
	ft_wait_jq(b, FT_ROUTE("fwd", "alpha"), 10, "beta learns the route");
}

/* The end of a test: P closed, then the buses, then beta, then alpha. */
static void
hosts_stop(struct ft_host *a, struct ft_host *b, struct shmq_bus *ba,
    struct shmq_bus *bb, struct shmq_producer *p)
{
	shmq_producer_close(p);
	shmq_bus_close(ba);
	shmq_bus_close(bb);
	ft_host_stop(b);
	ft_host_stop(a);
}

/* Send messages [FROM, TO) of TOPIC with P: key i % NKEYS as sharding
 * key, tag and body say the key and the sequence number. */
static void
send_range(struct shmq_producer *p, const char *topic, int from, int to)
{
	struct shmq_send_result res;
	struct shmq_msg m;
	char body[BODY_BYTES], key[16], tag[16], keys[16];
	int i, rc;

	for (i = from; i < to; i++) {
		memset(body, '.', sizeof(body));
		snprintf(body, sizeof(body), "k%d-%d", i % NKEYS, i);
		snprintf(key, sizeof(key), "key%d", i % NKEYS);
		snprintf(tag, sizeof(tag), "tag%d", i % NKEYS);
		snprintf(keys, sizeof(keys), "id%d", i);
		shmq_msg_init(&m);
		m.topic = topic;
		m.shard_key = key;
		m.shard_key_len = strlen(key);
		m.tags = tag;
		m.keys = keys;
		m.body = body;
		m.body_len = sizeof(body);
		rc = shmq_producer_send(p, &m, &res);
		ck_assert_msg(rc == 0, "send %d to %s: %s (%s)", i, topic,
		    shmq_err_name(rc), shmq_errmsg());
		/* The result names the outbox record. */
		ck_assert_int_eq(strlen(res.msg_id), SHMQ_MSGID_LEN);
	}
}

/* A consumer of all of TOPIC on BUS from its first message, once TOPIC
 * exists (before DEADLINE, tu_mono_ns). */
static struct shmq_consumer *
consumer_first(struct shmq_bus *bus, const char *topic, uint64_t deadline)
{
	struct shmq_consumer *c;

	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	while (shmq_consumer_assign(c, topic, SHMQ_QUEUE_ANY, "*") != 0) {
		ck_assert_msg(tu_mono_ns() < deadline, "no topic %s", topic);
		usleep(20000);
	}
	ck_assert_int_eq(shmq_consumer_seek(c, topic, SHMQ_QUEUE_ANY,
	    SHMQ_SEEK_FIRST, 0), 0);
	return c;
}

/* What a host holds of a topic. */
struct got {
	int		 n;		/* messages */
	int		 max;		/* sequence numbers below */
	unsigned char	*seen;		/* per sequence number: times */
	int		 dups;
	int		 disorder;	/* a key's sequence going back */
	int		 bad;		/* tag, keys or body not as sent */
};

/* Read all of TOPIC on BUS into G (fresh), waiting up to SECS (scaled)
 * for WANT distinct messages. */
static void
collect(struct shmq_bus *bus, const char *topic, int want, int max,
    double secs, struct got *g)
{
	struct shmq_consumer *c;
	struct shmq_msgview v[256];
	char tag[16], keys[16], body[BODY_BYTES];
	int last[NKEYS], k, s, i, n, distinct = 0;
	uint64_t deadline = tu_mono_ns() + (uint64_t)(secs * tu_mult() * 1e9);

	memset(g, 0, sizeof(*g));
	g->max = max;
	ck_assert_ptr_nonnull(g->seen = calloc((size_t)max, 1));
	for (k = 0; k < NKEYS; k++)
		last[k] = -1;
	c = consumer_first(bus, topic, deadline);
	while (distinct < want && tu_mono_ns() < deadline) {
		n = shmq_consumer_poll(c, v, 256, 100);
		ck_assert_int_ge(n, 0);
		for (i = 0; i < n; i++) {
			if (sscanf(v[i].body, "k%d-%d", &k, &s) != 2 ||
			    k < 0 || k >= NKEYS || s < 0 || s >= max) {
				g->bad++;
				continue;
			}
			memset(body, '.', sizeof(body));
			snprintf(body, sizeof(body), "k%d-%d", k, s);
			snprintf(tag, sizeof(tag), "tag%d", k);
			snprintf(keys, sizeof(keys), "id%d", s);
			if (v[i].body_len != sizeof(body) ||
			    memcmp(v[i].body, body, sizeof(body)) != 0 ||
			    v[i].tags_len != strlen(tag) ||
			    memcmp(v[i].tags, tag, v[i].tags_len) != 0 ||
			    v[i].keys_len != strlen(keys) ||
			    memcmp(v[i].keys, keys, v[i].keys_len) != 0 ||
			    s % NKEYS != k)
				g->bad++;
			g->n++;
			if (g->seen[s]++ > 0) {
				g->dups++;
				continue;
			}
			distinct++;
			/* One key, one queue: its numbers only grow. */
			if (s < last[k])
				g->disorder++;
			last[k] = s;
		}
	}
	shmq_consumer_close(c);
}

/* Fail unless G holds each of [0, N) at least once and is intact. */
static void
got_check(const struct got *g, int n, const char *what, const char *log)
{
	int i, missing = 0, first = -1;

	for (i = 0; i < n; i++)
		if (g->seen[i] == 0 && missing++ == 0)
			first = i;
	ck_assert_msg(missing == 0, "%s: %d of %d missing (first %d)\n%s",
	    what, missing, n, first, log != NULL ? log : "");
	ck_assert_msg(g->bad == 0, "%s: %d messages not as sent", what,
	    g->bad);
	ck_assert_msg(g->disorder == 0, "%s: %d out of order", what,
	    g->disorder);
}

/* Messages in one queue of a topic. */
struct qcount {
	int		 q;
	uint64_t	 n;
};

static int
qcount_cb(void *arg, const struct shmq_queue_info *qi)
{
	struct qcount *x = arg;

	if (qi->queue == x->q)
		x->n += qi->messages;
	return 0;
}

static int
count_cb(void *arg, const struct shmq_queue_info *qi)
{
	*(uint64_t *)arg += qi->messages;
	return 0;
}

/* Wait until alpha's TOPIC holds more than N messages (forwarding is on). */
static void
wait_more(struct shmq_bus *bus, const char *topic, uint64_t n, double secs)
{
	uint64_t deadline = tu_mono_ns() + (uint64_t)(secs * tu_mult() * 1e9);
	uint64_t have;

	for (;;) {
		have = 0;
		if (shmq_queue_foreach(bus, topic, count_cb, &have) == 0 &&
		    have > n)
			return;
		ck_assert_msg(tu_mono_ns() < deadline, "%s: no more than %llu "
		    "messages", topic, (unsigned long long)n);
		usleep(5000);
	}
}

#define N1	1000
#define N2	20000
#define N3	20000

START_TEST(test_outbox)
{
	struct ft_host a, b;
	struct shmq_bus *ba, *bb;
	struct shmq_producer *p;
	struct got g;
	uint64_t t0, before;
	double dt;

	/* SHMQ_FWD_BENCH=N: only the first part, with N messages, timed
	 * (a figure for the closing note, not a check). */
	const char *bench = getenv("SHMQ_FWD_BENCH");
	int n1 = bench != NULL ? atoi(bench) : N1;

	hosts_start(&a, &b, "fwd", 4, NULL);
	bb = ft_bus_open(&b);
	ck_assert_int_eq(shmq_producer_open(&p, bb, "remote"), 0);

	/* The home is down: the sends are stored in beta's outbox. */
	ft_host_stop(&a);
	send_range(p, "fwd", 0, n1);
	ft_host_start(&a);
	ba = ft_bus_open(&a);
	wait_more(ba, "fwd", 0, 20);
	t0 = tu_mono_ns();
	collect(ba, "fwd", n1, n1, 60, &g);
	dt = (double)(tu_mono_ns() - t0) / 1e9;
	got_check(&g, n1, "after the home came back", NULL);
	ck_assert_msg(g.dups == 0, "%d duplicates", g.dups);
	free(g.seen);
	if (bench != NULL) {
		fprintf(stderr, "forward: %d messages of %d B from the first "
		    "arrival in %.2f s: %.0f msg/s\n", n1, BODY_BYTES, dt,
		    (double)n1 / dt);
		hosts_stop(&a, &b, ba, bb, p);
		return;
	}

	/* beta's shmqd killed while it forwards: no loss, no duplicate
	 * (the home says what it holds). */
	ft_host_stop(&a);
	send_range(p, "fwd", N1, N1 + N2);
	ft_host_start(&a);
	wait_more(ba, "fwd", N1, 20);
	ft_host_kill(&b);
	ft_host_start(&b);
	t0 = tu_mono_ns();
	collect(ba, "fwd", N1 + N2, N1 + N2, 30, &g);
	dt = (double)(tu_mono_ns() - t0) / 1e9;
	got_check(&g, N1 + N2, "beta's shmqd killed", NULL);
	ck_assert_msg(g.dups == 0, "%d duplicates after beta's shmqd was "
	    "killed", g.dups);
	fprintf(stderr, "forward: beta killed mid-stream: %d messages, "
	    "0 duplicates; the rest arrived %.2f s after its restart\n", g.n,
	    dt);
	free(g.seen);

	/* alpha's shmqd killed while it stores: no loss; duplicates only
	 * of the batch it had stored and not yet noted (counted). */
	ft_host_stop(&a);
	before = N1 + N2;
	send_range(p, "fwd", N1 + N2, N1 + N2 + N3);
	ft_host_start(&a);
	wait_more(ba, "fwd", before, 20);
	ft_host_kill(&a);
	ft_host_start(&a);
	collect(ba, "fwd", N1 + N2 + N3, N1 + N2 + N3, 30, &g);
	got_check(&g, N1 + N2 + N3, "alpha's shmqd killed", NULL);
	fprintf(stderr, "forward: alpha killed mid-stream: %d messages, %d "
	    "duplicates\n", g.n, g.dups);
	ck_assert_msg(g.dups <= 256, "%d duplicates: more than one batch",
	    g.dups);
	free(g.seen);

	hosts_stop(&a, &b, ba, bb, p);
}
END_TEST

/* A send on beta to the topic it mirrors goes home, and comes back. */
/* Messages stored in BUS's outbox so far (0 if it has none yet). */
static uint64_t
outbox_count(struct shmq_bus *bus)
{
	uint64_t have = 0;

	(void)shmq_queue_foreach(bus, SHMQ_OUTBOX_TOPIC, count_cb, &have);
	return have;
}

/* Send one message to TOPIC with P; the send's result, checked to leave
 * BUS's outbox as it was when it fails. */
static int
outbox_sent(struct shmq_bus *bus, struct shmq_producer *p, const char *topic)
{
	struct shmq_msg m;
	uint64_t before, after;
	int rc;

	before = outbox_count(bus);
	shmq_msg_init(&m);
	m.topic = topic;
	m.body = "sync?";
	m.body_len = 5;
	rc = shmq_producer_send(p, &m, NULL);
	after = outbox_count(bus);
	if (rc < 0)
		ck_assert_uint_eq(after, before);
	return rc;
}

START_TEST(test_mirror)
{
	struct ft_host a, b;
	struct ft_host *pa[] = { &a, NULL };
	struct shmq_bus *ba, *bb;
	struct shmq_producer *p;
	char line[256];
	struct got g;

	ft_host_init(&a, "alpha", false, NULL);
	ft_host_init(&b, "beta", false, pa);
	snprintf(line, sizeof(line), "mirror = fwd@%s:%d", a.addr, a.port);
	ft_host_conf(&b, "%s", line);
	ft_host_start(&a);
	ft_topic_create(&a, "fwd", 3);
	ft_host_start(&b);
	ft_wait_jq(&b, FT_ROUTE("fwd", "alpha"), 10, "beta learns the route");
	ba = ft_bus_open(&a);
	bb = ft_bus_open(&b);
	/* The mirror exists once replication began. */
	collect(bb, "fwd", 0, 1, 10, &g);
	free(g.seen);
	ck_assert_int_eq(shmq_producer_open(&p, bb, "remote"), 0);
	send_range(p, "fwd", 0, 500);
	collect(ba, "fwd", 500, 500, 20, &g);
	got_check(&g, 500, "the home", NULL);
	ck_assert_int_eq(g.dups, 0);
	free(g.seen);
	collect(bb, "fwd", 500, 500, 20, &g);
	got_check(&g, 500, "the mirror", NULL);
	ck_assert_int_eq(g.dups, 0);
	free(g.seen);
	/* Sync replication counts mirrors at the home: a forwarded send
	 * with it is refused, and stores nothing in the outbox. */
	ck_assert_int_eq(shmq_producer_set_repl(p, 1, 200), 0);
	ck_assert_int_eq(outbox_sent(bb, p, "fwd"), SHMQ_EINVAL);
	ck_assert_msg(strstr(shmq_errmsg(), "sync replication") != NULL,
	    "%s", shmq_errmsg());
	ck_assert_int_eq(shmq_producer_set_repl(p, 0, 0), 0);
	hosts_stop(&a, &b, ba, bb, p);
}
END_TEST

/*
 * Make alpha (A, whose bus is BA) refuse a message P sends from beta (B):
 * P learns that topic GONE is forwarded (a first message arrives), then
 * alpha's shmqd stops and GONE is deleted there, and P sends "refused" to
 * it.  alpha stays stopped.
 */
static void
send_refused(struct ft_host *a, struct ft_host *b, struct shmq_bus *ba,
    struct shmq_producer *p, const char *gone)
{
	struct shmq_msg m;
	char jq[128];

	ft_topic_create(a, gone, 1);
	snprintf(jq, sizeof(jq), ".federation.routes | any(.topic == \"%s\")",
	    gone);
	ft_wait_jq(b, jq, 10, "beta learns the second route");
	shmq_msg_init(&m);
	m.topic = gone;
	m.body = "first";
	m.body_len = 5;
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	wait_more(ba, gone, 0, 10);
	ft_host_stop(a);
	ck_assert_msg(tt_run("%s -b %s --home %s topic delete %s",
	    tu_prog("utils/shmq-admin"), a->bus, a->home, gone) == 0, "%s",
	    tt_err);
	m.body = "refused";
	m.body_len = 7;
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
}

/* A message the home refuses for good goes to beta's forwarding DLQ with
 * the reason, and what follows it in its outbox queue still arrives. */
START_TEST(test_refused)
{
	struct ft_host a, b;
	struct shmq_bus *ba, *bb;
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msgview v[4];
	struct shmq_msg m;
	const char *why;
	char gone[32];
	uint64_t deadline;
	size_t len;
	uint32_t oq;
	int q = -1, i, n;
	struct got g;

	/* A topic whose outbox queue is that of one of fwd's queues. */
	for (i = 0; i < 1000 && q < 0; i++) {
		snprintf(gone, sizeof(gone), "gone%d", i);
		oq = shmq__fwd_queue(shmq__hash64(gone, strlen(gone)), -1,
		    false, 0);
		for (n = 0; n < 4 && q < 0; n++)
			if (shmq__fwd_queue(shmq__hash64("fwd", 3), n, false,
			    0) == oq)
				q = n;
	}
	ck_assert_int_ge(q, 0);
	hosts_start(&a, &b, "fwd", 4, NULL);
	bb = ft_bus_open(&b);
	ba = ft_bus_open(&a);
	ck_assert_int_eq(shmq_producer_open(&p, bb, "remote"), 0);
	send_refused(&a, &b, ba, p, gone);
	for (i = 0; i < 100; i++) {
		char body[BODY_BYTES], tag[16], keys[16];

		memset(body, '.', sizeof(body));
		snprintf(body, sizeof(body), "k%d-%d", i % NKEYS, i);
		snprintf(tag, sizeof(tag), "tag%d", i % NKEYS);
		snprintf(keys, sizeof(keys), "id%d", i);
		shmq_msg_init(&m);
		m.topic = "fwd";
		m.queue = q;
		m.tags = tag;
		m.keys = keys;
		m.body = body;
		m.body_len = sizeof(body);
		ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	}
	ft_host_start(&a);
	collect(ba, "fwd", 100, 100, 20, &g);
	got_check(&g, 100, "after the refused one", NULL);
	free(g.seen);
	ck_assert_int_eq(shmq_consumer_open(&c, bb), 0);
	/* The home stored what followed before the sender took its answer
	 * about the refused one: the DLQ may come a little later. */
	deadline = tu_mono_ns() + (uint64_t)(10 * tu_mult() * 1e9);
	while (shmq_consumer_assign(c, SHMQ_FORWARD_DLQ, 0, "*") != 0) {
		ck_assert_msg(tu_mono_ns() < deadline, "no %s: %s\n%s",
		    SHMQ_FORWARD_DLQ, shmq_errmsg(), ft_log_tail(&b, 2500));
		usleep(10000);
	}
	ck_assert_int_eq(shmq_consumer_seek(c, SHMQ_FORWARD_DLQ, 0,
	    SHMQ_SEEK_FIRST, 0), 0);
	n = shmq_consumer_poll(c, v, 4, 5000);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(v[0].body_len, 7);
	ck_assert(memcmp(v[0].body, "refused", 7) == 0);
	why = shmq_msgview_prop(&v[0], SHMQ_PROP_FWD_ERROR, &len);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(len > 18 && memcmp(why, "SHMQ_ENOTOPIC", 13) == 0,
	    "reason %.*s", (int)len, why);
	why = shmq_msgview_prop(&v[0], SHMQ_PROP_RETRY_TOPIC, &len);
	ck_assert_ptr_nonnull(why);
	ck_assert(len == strlen(gone) && memcmp(why, gone, len) == 0);
	shmq_consumer_close(c);
	hosts_stop(&a, &b, ba, bb, p);
}
END_TEST

/*
 * shmq-stat's outbox figures on beta: none before any remote send; then
 * pending while the home is down, forwarded once it is up, refused after
 * the home refused one.
 */
START_TEST(test_stat)
{
	struct ft_host a, b;
	struct shmq_bus *ba, *bb;
	struct shmq_producer *p;

	hosts_start(&a, &b, "fwd", 4, NULL);
	ck_assert_msg(ft_stat_jq(&b, ".outbox == null") == 0, "an outbox "
	    "before any remote send");
	ck_assert_int_eq(tt_run("%s -b %s --home %s",
	    tu_prog("utils/shmq-stat"), b.bus, b.home), 0);
	ck_assert_lacks(tt_out, "outbox:");
	bb = ft_bus_open(&b);
	ck_assert_int_eq(shmq_producer_open(&p, bb, "remote"), 0);
	ft_host_stop(&a);
	send_range(p, "fwd", 0, 50);
	ft_wait_jq(&b, ".outbox.pending == 50 and .outbox.forwarded == 0 and "
	    ".outbox.refused == 0", 10, "50 pending while the home is down");
	ck_assert_int_eq(tt_run("%s -b %s --home %s",
	    tu_prog("utils/shmq-stat"), b.bus, b.home), 0);
	ck_assert_contains(tt_out, "outbox:          50 pending, 0 forwarded, "
	    "0 refused");
	ft_host_start(&a);
	ft_wait_jq(&b, ".outbox.pending == 0 and .outbox.forwarded == 50", 20,
	    "all 50 forwarded once the home is up");
	ba = ft_bus_open(&a);
	send_refused(&a, &b, ba, p, "gone");
	ft_wait_jq(&b, ".outbox.pending == 1 and .outbox.forwarded == 51", 10,
	    "the refused one pending while the home is down");
	ft_host_start(&a);
	ft_wait_jq(&b, ".outbox.pending == 0 and .outbox.forwarded == 51 and "
	    ".outbox.refused == 1", 20, "one refused");
	ck_assert_int_eq(tt_run("%s -b %s --home %s",
	    tu_prog("utils/shmq-stat"), b.bus, b.home), 0);
	ck_assert_contains(tt_out, "outbox:          0 pending, 51 forwarded, "
	    "1 refused");
	hosts_stop(&a, &b, ba, bb, p);
}
END_TEST

/* Messages in queue Q of TOPIC on BUS (0: no such topic). */
static uint64_t
queue_messages(struct shmq_bus *bus, const char *topic, int q)
{
	struct qcount x = { q, 0 };

	(void)shmq_queue_foreach(bus, topic, qcount_cb, &x);
	return x.n;
}

/* A delayed message for TOPIC with BODY: due at AT_MS, or LEVEL. */
static void
send_delayed(struct shmq_producer *p, const char *topic, const char *body,
    uint64_t at_ms, int level)
{
	struct shmq_msg m;
	int rc;

	shmq_msg_init(&m);
	m.topic = topic;
	m.body = body;
	m.body_len = strlen(body);
	m.deliver_at_ms = at_ms;
	m.delay_level = level;
	rc = shmq_producer_send(p, &m, NULL);
	ck_assert_msg(rc == 0, "delayed send %s: %s (%s)", body,
	    shmq_err_name(rc), shmq_errmsg());
}

/* Read N messages of TOPIC on BUS (from the first), each no earlier than
 * the time its body names ("name@ms"). */
static void
collect_due(struct shmq_bus *bus, const char *topic, int n, double secs)
{
	struct shmq_consumer *c;
	struct shmq_msgview v[8];
	uint64_t deadline = tu_mono_ns() + (uint64_t)(secs * tu_mult() * 1e9);
	unsigned long long due;
	uint64_t now;
	int got = 0, i, k;

	c = consumer_first(bus, topic, deadline);
	while (got < n) {
		ck_assert_msg(tu_mono_ns() < deadline, "%d of %d delayed "
		    "messages", got, n);
		k = shmq_consumer_poll(c, v, 8, 100);
		ck_assert_int_ge(k, 0);
		now = shmq_now_ns() / 1000000;
		for (i = 0; i < k; i++) {
			const char *at = memchr(v[i].body, '@', v[i].body_len);

			ck_assert_ptr_nonnull(at);
			due = strtoull(at + 1, NULL, 10);
			ck_assert_msg(now >= due, "%.*s delivered %llu ms early",
			    (int)v[i].body_len, (const char *)v[i].body,
			    (unsigned long long)(due - now));
		}
		got += k;
	}
	ck_assert_int_eq(shmq_consumer_poll(c, v, 8, 0), 0);
	shmq_consumer_close(c);
}

/*
 * Delayed messages to a remote topic: the home stores them as delayed
 * (its scheduler delivers them), due at the sender's time plus the delay
 * (the home's level table), however long they took to get there.
 */
START_TEST(test_delay)
{
	struct ft_host a, b;
	struct ft_host *pa[] = { &a, NULL };
	struct shmq_bus *ba, *bb;
	struct shmq_producer *p;
	uint64_t d = (uint64_t)(3000 * tu_mult()), t;
	char body[64];

	ft_host_init(&a, "alpha", false, NULL);
	ft_host_init(&b, "beta", false, pa);
	ft_host_conf(&a, "delay_levels = %llums 1h", (unsigned long long)d);
	ft_host_conf(&b, "route_expire_ms = 60000");
	ft_host_start(&a);
	ft_topic_create(&a, "fwd", 2);
	ft_host_start(&b);
	ft_wait_jq(&b, FT_ROUTE("fwd", "alpha"), 10, "beta learns the route");
	ba = ft_bus_open(&a);
	bb = ft_bus_open(&b);
	ck_assert_int_eq(shmq_producer_open(&p, bb, "remote"), 0);

	/* The link up: they wait in alpha's delay topic. */
	t = shmq_now_ns() / 1000000;
	snprintf(body, sizeof(body), "at@%llu", (unsigned long long)(t + d));
	send_delayed(p, "fwd", body, t + d, 0);
	snprintf(body, sizeof(body), "level@%llu", (unsigned long long)(t + d));
	send_delayed(p, "fwd", body, 0, 1);
	collect_due(ba, "fwd", 2, 30);
	ck_assert_int_eq(queue_messages(ba, "%SCHEDULE%", SHMQ_DELAY_Q_INBOX),
	    2);
	ck_assert_int_eq(queue_messages(bb, "%SCHEDULE%", SHMQ_DELAY_Q_INBOX),
	    0);

	/* The home down until both are due: stored at once when they get
	 * there, not a delay later (its delay topic gets nothing). */
	ft_host_stop(&a);
	t = shmq_now_ns() / 1000000;
	snprintf(body, sizeof(body), "at2@%llu", (unsigned long long)(t + d));
	send_delayed(p, "fwd", body, t + d, 0);
	snprintf(body, sizeof(body), "level2@%llu",
	    (unsigned long long)(t + d));
	send_delayed(p, "fwd", body, 0, 1);
	while (shmq_now_ns() / 1000000 <= t + d + 10)
		usleep(50000);
	ft_host_start(&a);
	collect_due(ba, "fwd", 4, 30);
	ck_assert_int_eq(queue_messages(ba, "%SCHEDULE%", SHMQ_DELAY_Q_INBOX),
	    2);

	/* Level 2 is an hour: still waiting at the home. */
	send_delayed(p, "fwd", "late@0", 0, 2);
	ft_wait_jq(&b, ".outbox.pending == 0", 20, "the hour-long one "
	    "forwarded");
	ck_assert_int_eq(queue_messages(ba, "%SCHEDULE%", SHMQ_DELAY_Q_INBOX),
	    3);
	ck_assert_int_eq(queue_messages(ba, "fwd", 0) + queue_messages(ba,
	    "fwd", 1), 4);
	hosts_stop(&a, &b, ba, bb, p);
}
END_TEST

static int
txn_exec(void *arg, const struct shmq_msg *m, const char *txn_id)
{
	(void)m;
	(void)txn_id;
	(*(int *)arg)++;
	return SHMQ_TXN_COMMIT;
}

/*
 * A transactional send to a remote topic is refused (SHMQ_EINVAL) before
 * anything is stored or the local transaction runs: no half message, and
 * no local topic of that name.
 */
START_TEST(test_txn)
{
	struct ft_host a, b;
	struct shmq_bus *bb;
	struct shmq_producer *p;
	struct shmq_txn_result res;
	struct shmq_msg m;
	int calls = 0, rc;

	hosts_start(&a, &b, "fwd", 2, NULL);
	bb = ft_bus_open(&b);
	ck_assert_int_eq(shmq_producer_open(&p, bb, "remote"), 0);
	shmq_msg_init(&m);
	m.topic = "fwd";
	m.body = "txn";
	m.body_len = 3;
	rc = shmq_producer_send_txn(p, &m, txn_exec, &calls, &res);
	ck_assert_msg(rc == SHMQ_EINVAL, "send_txn: %s (%s)",
	    shmq_err_name(rc), shmq_errmsg());
	ck_assert_contains(shmq_errmsg(), "not supported");
	ck_assert_int_eq(calls, 0);
	ck_assert_int_eq(shmq_queue_foreach(bb, "fwd", count_cb, &(uint64_t){
	    0 }), SHMQ_ENOTOPIC);
	ck_assert_int_eq(queue_messages(bb, SHMQ_HALF_TOPIC, 0), 0);
	hosts_stop(&a, &b, NULL, bb, p);
}
END_TEST

static void
add_case(Suite *s, const char *name, double timeout, const TTest *t)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, ft_teardown);
	tcase_set_timeout(tc, timeout);
	tcase_add_test(tc, t);
	suite_add_tcase(s, tc);
}

/* One case per behaviour: CK_RUN_CASE=NAME runs one. */
static Suite *
forward_suite(void)
{
	Suite *s = suite_create("forward");

	add_case(s, "outbox", 120, test_outbox);
	add_case(s, "mirror", 60, test_mirror);
	add_case(s, "refused", 60, test_refused);
	add_case(s, "stat", 60, test_stat);
	add_case(s, "delay", 60, test_delay);
	add_case(s, "txn", 60, test_txn);
	return s;
}

int
main(void)
{
	return tu_run(forward_suite);
}
