/*
 * check_groupsync.c - consumer-group offsets replicate from a topic's home
 * to its mirror (REPL_OFFSETS, doc/federation.md; libshmq/groupsync.h), so
 * that a group can move to the mirror and go on where it was.
 *
 * Two hosts with their own store and real shmqd (fedtest.h): alpha, the
 * home of the topic, and beta, its mirror.  Every message's body is its
 * sequence number and it goes to queue seq % queues, so each one is known
 * by its body wherever it is read.  The property each test ends with: the
 * messages a group got on the home and on the mirror are every message
 * sent, each once, and on each queue the mirror's first message is the
 * one at the offset the home had committed.
 *
 *  - apply: shmq__goff_apply on a mirror topic of one bus, no daemon:
 *    forward only, live members pick a moved offset up, an offset beyond
 *    the mirror's tail waits for its messages, bad input is refused or
 *    dropped as groupsync.h says.
 *  - clustering: a group consumes part of a 4-queue topic on the home;
 *    shmq-stat on the mirror shows it (no members, committed, lag); a
 *    member on the mirror gets exactly the rest.
 *  - broadcasting: two instances, each at its own point.
 *  - moved: a group that went on on the mirror is not pulled back when the
 *    home's shmqd restarts and sends its stale offsets again.
 *  - restart: the mirror's shmqd SIGKILLed and restarted (the home down,
 *    so nothing is sent again) keeps the offsets, and so does a rebuild of
 *    the mirror's control region from its store (a reboot).
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

/* For the apply test: the library's own functions. */
#include "bus.h"
#include "groupsync.h"
#include "layout.h"
#include "mirror.h"
#include "topic.h"

#define MAXQ	8
#define NMSG	400	/* messages of a test */

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

/* Send seqs [FROM, TO) to TOPIC of BUS, seq % NQ as queue. */
static void
send_seqs(struct shmq_bus *bus, const char *topic, int nq, unsigned from,
    unsigned to)
{
	struct shmq_producer *p;
	struct shmq_msg m;
	char body[32];
	unsigned seq;
	int rc;

	ck_assert_int_eq(shmq_producer_open(&p, bus, "gsync"), 0);
	for (seq = from; seq < to; seq++) {
		shmq_msg_init(&m);
		m.topic = topic;
		m.body = body;
		m.body_len = (size_t)snprintf(body, sizeof(body), "seq:%u",
		    seq);
		m.queue = (int)(seq % (unsigned)nq);
		rc = shmq_producer_send(p, &m, NULL);
		ck_assert_msg(rc == 0, "send %u: %s (%s)", seq,
		    shmq_err_name(rc), shmq_errmsg());
	}
	shmq_producer_close(p);
}

/* What a group got, over the hosts it consumed on. */
struct got {
	uint8_t		seen[NMSG];
	unsigned	n;		/* distinct */
	unsigned	dups;
	char		first_dup[96];
	/* This phase's first offset per queue (UINT64_MAX: none yet). */
	uint64_t	first[MAXQ];
};

static void
got_phase(struct got *g)
{
	unsigned q;

	for (q = 0; q < MAXQ; q++)
		g->first[q] = UINT64_MAX;
}

static void
got_init(struct got *g)
{
	memset(g, 0, sizeof(*g));
	got_phase(g);
}

static void
got_add(struct got *g, const struct shmq_msgview *v)
{
	char buf[32];
	unsigned seq;

	ck_assert_uint_lt(v->body_len, sizeof(buf));
	memcpy(buf, v->body, v->body_len);
	buf[v->body_len] = '\0';
	ck_assert_msg(sscanf(buf, "seq:%u", &seq) == 1 && seq < NMSG,
	    "a body that is not ours: \"%s\"", buf);
	ck_assert_int_lt(v->queue, MAXQ);
	if (g->first[v->queue] == UINT64_MAX)
		g->first[v->queue] = v->queue_off;
	if (g->seen[seq]) {
		if (g->dups++ == 0)
			snprintf(g->first_dup, sizeof(g->first_dup), "seq %u "
			    "(queue %d offset %llu)", seq, v->queue,
			    (unsigned long long)v->queue_off);
		return;
	}
	g->seen[seq] = 1;
	g->n++;
}

/* Poll C until G has WANT distinct messages (never asking for more than
 * that), then make sure nothing more comes for a moment. */
static void
consume(struct shmq_consumer *c, struct got *g, unsigned want,
    const char *who)
{
	struct shmq_msgview v[64];
	uint64_t t0 = tu_mono_ns();
	size_t max;
	int n, i;

	while (g->n + g->dups < want) {
		max = want - g->n - g->dups;
		n = shmq_consumer_poll(c, v, max < 64 ? max : 64, 100);
		ck_assert_msg(n >= 0, "%s: poll: %s (%s)", who,
		    shmq_err_name(n), shmq_errmsg());
		for (i = 0; i < n; i++)
			got_add(g, &v[i]);
		ck_assert_msg(tu_mono_ns() - t0 < (uint64_t)(10e9 * tu_mult()),
		    "%s: got %u of %u messages in 10 s", who, g->n, want);
	}
	ck_assert_msg(g->dups == 0, "%s: %u messages twice, first %s", who,
	    g->dups, g->first_dup);
}

/* Fail if C gets anything within a moment. */
static void
consume_none(struct shmq_consumer *c, const char *who)
{
	struct shmq_msgview v[8];
	int n;

	n = shmq_consumer_poll(c, v, 8, 300);
	ck_assert_msg(n == 0, "%s: %d messages more than sent (first at "
	    "queue %d offset %llu)", who, n, n > 0 ? v[0].queue : -1,
	    n > 0 ? (unsigned long long)v[0].queue_off : 0ull);
}

/* Every message once over the phases. */
static void
got_all(const struct got *g)
{
	unsigned seq;

	for (seq = 0; seq < NMSG; seq++)
		ck_assert_msg(g->seen[seq], "seq %u never delivered", seq);
	ck_assert_uint_eq(g->n, NMSG);
}

/* ------------------------------------------------------------------ */
/* Groups                                                              */
/* ------------------------------------------------------------------ */

/* Join GROUP (INSTANCE: broadcasting, else clustering) on BUS, from the
 * first message, subscribed to TOPIC. */
static struct shmq_consumer *
member(struct shmq_bus *bus, const char *group, const char *instance,
    const char *topic)
{
	struct shmq_group_opts o;
	struct shmq_consumer *c;
	int rc;

	shmq_group_opts_init(&o);
	o.start = SHMQ_SEEK_FIRST;
	if (instance != NULL) {
		o.model = SHMQ_BROADCASTING;
		o.instance = instance;
	}
	rc = shmq_consumer_open_group(&c, bus, group, &o);
	ck_assert_msg(rc == 0, "join %s: %s (%s)", group, shmq_err_name(rc),
	    shmq_errmsg());
	ck_assert_int_eq(shmq_consumer_subscribe(c, topic, "*"), 0);
	return c;
}

struct committed {
	const char	*topic;
	const char	*instance;	/* "" clustering */
	uint64_t	 off[MAXQ];
	unsigned	 nq;		/* queues found */
	int		 members;
	char		 model[16];
};

static int
committed_cb(void *arg, const struct shmq_group_info *gi)
{
	struct committed *c = arg;
	size_t i;

	c->members = (int)gi->nmembers;
	strlcpy(c->model, gi->model, sizeof(c->model));
	for (i = 0; i < gi->nqueues; i++) {
		const struct shmq_group_queue_info *q = &gi->queues[i];

		if (strcmp(q->topic, c->topic) != 0 ||
		    strcmp(q->instance, c->instance) != 0 || q->queue < 0 ||
		    q->queue >= MAXQ)
			continue;
		c->off[q->queue] = q->committed;
		c->nq++;
	}
	return 0;
}

/* GROUP's committed offsets on TOPIC (INSTANCE or "") on BUS into *C;
 * false if BUS has no such group. */
static bool
committed_get(struct shmq_bus *bus, const char *group, const char *instance,
    const char *topic, struct committed *c)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->topic = topic;
	c->instance = instance;
	rc = shmq_group_foreach(bus, group, committed_cb, c);
	if (rc == SHMQ_ENOGROUP)
		return false;
	ck_assert_msg(rc == 0, "group %s: %s (%s)", group, shmq_err_name(rc),
	    shmq_errmsg());
	return true;
}

static bool
committed_eq(const struct committed *a, const struct committed *b)
{
	return a->nq == b->nq && memcmp(a->off, b->off, sizeof(a->off)) == 0;
}

static const char *
committed_str(const struct committed *c)
{
	static char buf[2][MAXQ * 24];
	static int k;
	char *b = buf[k ^= 1];
	size_t n = 0;
	unsigned q;

	b[0] = '\0';
	for (q = 0; q < c->nq && q < MAXQ; q++)
		n += (size_t)snprintf(b + n, sizeof(buf[0]) - n, "q%u=%llu ",
		    q, (unsigned long long)c->off[q]);
	return c->nq == 0 ? "(none)" : b;
}

/* Wait until MH's bus MIRROR has GROUP's offsets on TOPIC as they are on
 * HOME; fail after 10 s (scaled) with both and MH's log.  Returns them. */
static struct committed
wait_offsets(struct shmq_bus *home, struct shmq_bus *mirror,
    const struct ft_host *mh, const char *group, const char *instance,
    const char *topic)
{
	struct committed h, m;
	uint64_t t0 = tu_mono_ns();

	for (;;) {
		ck_assert(committed_get(home, group, instance, topic, &h));
		if (committed_get(mirror, group, instance, topic, &m) &&
		    committed_eq(&h, &m))
			return m;
		if (tu_mono_ns() - t0 > (uint64_t)(10e9 * tu_mult()))
			ck_abort_msg("%s (%s): offsets on %s not replicated "
			    "in 10 s:\nhome   %s\nmirror %s\nits log ends:\n%s",
			    group, instance, topic, committed_str(&h),
			    committed_str(&m), ft_log_tail(mh, 1500));
		usleep(10000);
	}
}

/* Wait until TOPIC on BUS holds TOTAL messages over its queues. */
static int
tail_cb(void *arg, const struct shmq_queue_info *qi)
{
	*(uint64_t *)arg += qi->max_off;
	return 0;
}

static void
wait_messages(struct shmq_bus *bus, const struct ft_host *h,
    const char *topic, uint64_t total)
{
	uint64_t t0 = tu_mono_ns(), n;
	int rc;

	for (;;) {
		n = 0;
		rc = shmq_queue_foreach(bus, topic, tail_cb, &n);
		if (rc == 0 && n == total)
			return;
		ck_assert_msg(rc == 0 || rc == SHMQ_ENOTOPIC, "%s: %s",
		    topic, shmq_err_name(rc));
		if (tu_mono_ns() - t0 > (uint64_t)(10e9 * tu_mult()))
			ck_abort_msg("%s: %s has %llu of %llu messages; its "
			    "log ends:\n%s", h->name, topic,
			    (unsigned long long)n, (unsigned long long)total,
			    ft_log_tail(h, 1500));
		usleep(10000);
	}
}

/* Fail unless each queue's first message in the last phase of G is at
 * the offset C says.  A queue that gave nothing in the phase must have had
 * nothing left if the phase read everything (WHOLE). */
static void
first_at(const struct got *g, const struct committed *c, int nq, bool whole,
    const char *who)
{
	int q;

	for (q = 0; q < nq; q++)
		ck_assert_msg(g->first[q] == c->off[q] || (g->first[q] ==
		    UINT64_MAX && (!whole || c->off[q] == NMSG / (unsigned)nq)),
		    "%s: queue %d went on at offset %llu, not at the "
		    "committed %llu", who, q, (unsigned long long)g->first[q],
		    (unsigned long long)c->off[q]);
}

/* ------------------------------------------------------------------ */
/* Hosts                                                               */
/* ------------------------------------------------------------------ */

static void
setup(void)
{
	tt_setup();
	tu_seed("groupsync");
}

/* Home A ("alpha") with TOPIC of QUEUES queues and NMSG messages, and B
 * ("beta") holding a mirror of it, caught up; their buses open. */
static void
pair_start(struct ft_host *a, struct ft_host *b, const char *topic,
    int queues, struct shmq_bus **ba, struct shmq_bus **bb)
{
	ft_host_init(a, "alpha", false, NULL);
	ft_host_init(b, "beta", false, NULL);
	ft_host_conf(b, "mirror = %s@%s:%d", topic, a->addr, a->port);
	ft_host_start(a);
	ft_topic_create(a, topic, queues);
	ft_host_start(b);
	*ba = ft_bus_open(a);
	*bb = ft_bus_open(b);
	send_seqs(*ba, topic, queues, 0, NMSG);
	wait_messages(*bb, b, topic, NMSG);
}

/* Consume WANT messages of TOPIC as GROUP (INSTANCE) on BUS, then leave
 * (which commits what was returned). */
static void
consume_as(struct shmq_bus *bus, const char *group, const char *instance,
    const char *topic, struct got *g, unsigned want, const char *who)
{
	struct shmq_consumer *c = member(bus, group, instance, topic);

	got_phase(g);
	consume(c, g, want, who);
	if (want == NMSG)
		consume_none(c, who);
	shmq_consumer_close(c);
}

/* ------------------------------------------------------------------ */
/* apply                                                               */
/* ------------------------------------------------------------------ */

/* Store seqs [FROM, TO) into queue 0 of mirror T at offsets seq. */
static void
mirror_put(struct shmq_bus *bus, struct shmq_topic *t, unsigned from,
    unsigned to)
{
	struct shmq_mirror_pos pos;
	struct shmq_raw raw;
	char body[32];
	unsigned seq;
	int rc;

	for (seq = from; seq < to; seq++) {
		memset(&raw, 0, sizeof(raw));
		memset(&pos, 0, sizeof(pos));
		raw.body = body;
		raw.body_len = (uint32_t)snprintf(body, sizeof(body), "seq:%u",
		    seq);
		raw.origin_store = 77;
		raw.origin_off = 4096 + seq;
		pos.queue = 0;
		pos.queue_off = seq;
		pos.born_ns = pos.store_ns = 1;
		rc = shmq__mirror_put(bus, t, &pos, &raw);
		ck_assert_msg(rc == 1, "mirror put %u: %s (%s)", seq,
		    shmq_err_name(rc), shmq_errmsg());
	}
}

/* Apply the NO offsets O as one batch; the apply's code (or end's). */
static int
apply(struct shmq_bus *bus, struct shmq_topic *t, const struct shmq_goff *o,
    size_t no, struct shmq_goff_apply *a)
{
	size_t i;
	int rc = 0, end;

	ck_assert_int_eq(shmq__goff_apply_begin(a, bus, t), 0);
	for (i = 0; i < no && rc == 0; i++)
		rc = shmq__goff_apply(a, &o[i]);
	end = shmq__goff_apply_end(a);
	return rc != 0 ? rc : end;
}

static int
count_cb(void *arg, const struct shmq_goff *o)
{
	(void)o;
	(*(uint64_t *)arg)++;
	return 0;
}

#define MANY	200

/* MANY groups of 2 queues into mirror T in one batch; time it, and the
 * read of them all (what a home does at each keepalive). */
static void
apply_many(struct shmq_bus *bus, struct shmq_topic *t,
    struct shmq_goff_apply *a)
{
	static char names[MANY][16];
	struct shmq_goff o;
	uint64_t t0, t1, t2, n = 0;
	unsigned i, q;

	t0 = tu_mono_ns();
	ck_assert_int_eq(shmq__goff_apply_begin(a, bus, t), 0);
	for (i = 0; i < MANY; i++) {
		snprintf(names[i], sizeof(names[i]), "g%u", i);
		for (q = 0; q < 2; q++) {
			o = (struct shmq_goff){ names[i], "",
			    SHMQ_GROUP_CLUSTERING, q, 3 + q };
			ck_assert_int_eq(shmq__goff_apply(a, &o), 0);
		}
	}
	ck_assert_int_eq(shmq__goff_apply_end(a), 0);
	t1 = tu_mono_ns();
	ck_assert_int_eq(shmq__goff_foreach(bus, t, 2, count_cb, &n), 0);
	t2 = tu_mono_ns();
	ck_assert_uint_ge(n, 2 * MANY);
	fprintf(stderr, "apply: %u new groups x 2 queues applied in %.1f ms "
	    "(group made, saved); all %llu offsets read in %.1f us\n", MANY,
	    (double)(t1 - t0) / 1e6, (unsigned long long)n,
	    (double)(t2 - t1) / 1e3);
}

START_TEST(test_apply)
{
	struct shmq_goff_apply *a = malloc(sizeof(*a));
	struct shmq_bus *bus = tu_bus_open_default();
	struct shmq_consumer *c;
	struct shmq_topic *t;
	struct committed cm;
	struct got g;
	struct shmq_goff o[2] = {
		{ "billing", "", SHMQ_GROUP_CLUSTERING, 0, 5 },
		{ "billing", "", SHMQ_GROUP_CLUSTERING, 1, 0 },
	};
	struct shmq_goff bad;

	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(shmq__mirror_topic(bus, "orders", 2, &t), 0);
	mirror_put(bus, t, 0, 10);

	/* A new group: made with the home's model, at the home's offset. */
	ck_assert_int_eq(apply(bus, t, o, 2, a), 0);
	ck_assert_uint_eq(a->moved, 1);		/* queue 1 stays at 0 */
	ck_assert_uint_eq(a->kept, 1);
	ck_assert(committed_get(bus, "billing", "", "orders", &cm));
	ck_assert_str_eq(cm.model, "clustering");
	ck_assert_uint_eq(cm.nq, 2);
	ck_assert_uint_eq(cm.off[0], 5);
	ck_assert_int_eq(cm.members, 0);

	/* A member goes on from there; backward offsets keep its commits,
	 * a forward one moves it (as a reset would) while it is live. */
	c = member(bus, "billing", NULL, "orders");
	got_init(&g);
	consume(c, &g, 3, "member");
	ck_assert_uint_eq(g.first[0], 5);
	ck_assert_int_eq(shmq_consumer_commit(c, NULL, SHMQ_QUEUE_ANY,
	    SHMQ_OFFSET_CURRENT), 0);
	o[0].committed = 2;
	ck_assert_int_eq(apply(bus, t, o, 1, a), 0);
	ck_assert_uint_eq(a->moved, 0);
	ck_assert(committed_get(bus, "billing", "", "orders", &cm));
	ck_assert_uint_eq(cm.off[0], 8);
	o[0].committed = 9;
	ck_assert_int_eq(apply(bus, t, o, 1, a), 0);
	ck_assert_uint_eq(a->moved, 1);
	got_phase(&g);
	consume(c, &g, 4, "member after a forward offset");
	ck_assert_uint_eq(g.first[0], 9);

	/* Beyond the mirror's tail (the messages are on their way): the
	 * member waits for them, and gets none it was told are done. */
	o[0].committed = 14;
	ck_assert_int_eq(apply(bus, t, o, 1, a), 0);
	consume_none(c, "member ahead of the data");
	mirror_put(bus, t, 10, 20);
	got_phase(&g);
	consume(c, &g, 10, "member once the data came");
	ck_assert_uint_eq(g.first[0], 14);
	shmq_consumer_close(c);
	ck_assert(committed_get(bus, "billing", "", "orders", &cm));
	ck_assert_uint_eq(cm.off[0], 20);

	/* Refused: a garbage name, an instance that does not fit the
	 * model, an unknown model, an offset beyond 48 bits. */
	bad = o[0];
	bad.group = "no such";
	ck_assert_int_eq(apply(bus, t, &bad, 1, a), SHMQ_ENAME);
	bad = o[0];
	bad.instance = "x";
	ck_assert_int_eq(apply(bus, t, &bad, 1, a), SHMQ_ENAME);
	bad.model = SHMQ_GROUP_BROADCASTING;
	bad.instance = "";
	ck_assert_int_eq(apply(bus, t, &bad, 1, a), SHMQ_ENAME);
	bad.model = 7;
	ck_assert_int_eq(apply(bus, t, &bad, 1, a), SHMQ_EINVAL);
	bad = o[0];
	bad.committed = UINT64_C(1) << 48;
	ck_assert_int_eq(apply(bus, t, &bad, 1, a), SHMQ_EINVAL);
	/* Dropped: a queue the mirror lacks, a system group, a local group
	 * of the other model. */
	bad = o[0];
	bad.queue = 2;
	ck_assert_int_eq(apply(bus, t, &bad, 1, a), 0);
	ck_assert_uint_eq(a->dropped, 1);
	bad.queue = 0;
	bad.group = "%SCHEDULE%";
	ck_assert_int_eq(apply(bus, t, &bad, 1, a), 0);
	ck_assert_uint_eq(a->dropped, 1);
	bad = o[0];
	bad.model = SHMQ_GROUP_BROADCASTING;
	bad.instance = "node";
	bad.committed = 19;
	ck_assert_int_eq(apply(bus, t, &bad, 1, a), 0);
	ck_assert_uint_eq(a->dropped, 1);
	ck_assert(!committed_get(bus, "%SCHEDULE%", "", "orders", &cm));
	ck_assert(committed_get(bus, "billing", "", "orders", &cm));
	ck_assert_uint_eq(cm.off[0], 20);
	/* Only mirrors take them. */
	ck_assert_int_eq(shmq_topic_create(bus, "local", 1), 0);
	ck_assert_int_eq(shmq__topic_get(bus, "local", false, 0, &t), 0);
	ck_assert_int_eq(shmq__goff_apply_begin(a, bus, t), SHMQ_EINVAL);

	/* Figures (printed, not asserted): a batch of many groups applied,
	 * and the home's per-keepalive read of them. */
	ck_assert_int_eq(shmq__topic_get(bus, "orders", false, 0, &t), 0);
	apply_many(bus, t, a);

	/* Beyond the tail, through a rebuild of the control region from
	 * the store (a reboot): not cut back to the tail. */
	ck_assert_int_eq(shmq__topic_get(bus, "orders", false, 0, &t), 0);
	o[0].committed = 25;
	ck_assert_int_eq(apply(bus, t, o, 1, a), 0);
	shmq_bus_close(bus);
	tu_sh("rm -f /dev/shm/shmq.*.%s.* 2>/dev/null", tu_bus());
	bus = tu_bus_open_default();
	ck_assert(committed_get(bus, "billing", "", "orders", &cm));
	ck_assert_uint_eq(cm.off[0], 25);
	shmq_bus_close(bus);
	free(a);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Between hosts                                                       */
/* ------------------------------------------------------------------ */

#define STAT_GROUP ".groups | any(.name == \"billing\" and " \
	"(.members | length) == 0 and ([.queues[] | select(.topic == " \
	"\"orders\") | .committed] | add) == 150 and ([.queues[] | " \
	"select(.topic == \"orders\") | .lag] | add) == 250)"

START_TEST(test_clustering)
{
	struct ft_host a, b;
	struct shmq_bus *ba, *bb;
	struct committed cm;
	struct got g;
	char *groups, *fed;
	uint64_t t0;

	pair_start(&a, &b, "orders", 4, &ba, &bb);
	got_init(&g);
	consume_as(ba, "billing", NULL, "orders", &g, 150, "home");
	t0 = tu_mono_ns();
	cm = wait_offsets(ba, bb, &b, "billing", "", "orders");
	fprintf(stderr, "clustering: the home's commit on the mirror after "
	    "%.0f ms (keepalive 200 ms)\n", (double)(tu_mono_ns() - t0) / 1e6);
	ck_assert_uint_eq(cm.nq, 4);
	ck_assert_uint_eq(cm.off[0] + cm.off[1] + cm.off[2] + cm.off[3],
	    150);
	/* shmq-stat on the mirror: the group, no members, its lag. */
	ft_wait_jq(&b, STAT_GROUP, 5, "the replicated group in shmq-stat");
	ck_assert_int_eq(tt_run("%s -b %s --home %s",
	    tu_prog("utils/shmq-stat"), b.bus, b.home), 0);
	if ((groups = strstr(tt_out, "GROUPS")) != NULL &&
	    (fed = strstr(groups, "FEDERATION")) != NULL)
		*fed = '\0';
	fprintf(stderr, "clustering: shmq-stat on the mirror:\n%s",
	    groups != NULL ? groups : tt_out);
	consume_as(bb, "billing", NULL, "orders", &g, NMSG, "mirror");
	first_at(&g, &cm, 4, true, "mirror");
	got_all(&g);

	shmq_bus_close(bb);
	shmq_bus_close(ba);
	ft_host_stop(&b);
	ft_host_stop(&a);
}
END_TEST

START_TEST(test_broadcasting)
{
	struct ft_host a, b;
	struct shmq_bus *ba, *bb;
	struct committed c1, c2;
	struct got g1, g2;

	pair_start(&a, &b, "events", 2, &ba, &bb);
	got_init(&g1);
	got_init(&g2);
	consume_as(ba, "audit", "node-1", "events", &g1, 50, "home node-1");
	consume_as(ba, "audit", "node-2", "events", &g2, 333, "home node-2");
	c1 = wait_offsets(ba, bb, &b, "audit", "node-1", "events");
	c2 = wait_offsets(ba, bb, &b, "audit", "node-2", "events");
	ck_assert_uint_eq(c1.off[0] + c1.off[1], 50);
	ck_assert_uint_eq(c2.off[0] + c2.off[1], 333);
	ck_assert_str_eq(c1.model, "broadcasting");
	consume_as(bb, "audit", "node-1", "events", &g1, NMSG,
	    "mirror node-1");
	consume_as(bb, "audit", "node-2", "events", &g2, NMSG,
	    "mirror node-2");
	first_at(&g1, &c1, 2, true, "mirror node-1");
	first_at(&g2, &c2, 2, true, "mirror node-2");
	got_all(&g1);
	got_all(&g2);

	shmq_bus_close(bb);
	shmq_bus_close(ba);
	ft_host_stop(&b);
	ft_host_stop(&a);
}
END_TEST

START_TEST(test_moved)
{
	struct ft_host a, b;
	struct shmq_bus *ba, *bb;
	struct committed home, moved, after;
	struct got g;

	pair_start(&a, &b, "orders", 4, &ba, &bb);
	got_init(&g);
	consume_as(ba, "billing", NULL, "orders", &g, 100, "home");
	home = wait_offsets(ba, bb, &b, "billing", "", "orders");
	ck_assert(tt_log_has(b.log, "group offsets from", 1, 5));
	/* The group moves: it goes on on the mirror. */
	consume_as(bb, "billing", NULL, "orders", &g, 220, "mirror");
	first_at(&g, &home, 4, false, "mirror");
	ck_assert(committed_get(bb, "billing", "", "orders", &moved));
	ck_assert_uint_eq(moved.off[0] + moved.off[1] + moved.off[2] +
	    moved.off[3], 220);

	/* The home restarts: the mirror subscribes again and gets the
	 * home's offsets again, all behind its own. */
	ft_host_stop(&a);
	ft_host_start(&a);
	ck_assert_msg(tt_log_has(b.log, "group offsets from", 2, 10),
	    "the home's offsets did not come again; mirror's log:\n%s",
	    ft_log_tail(&b, 1500));
	ck_assert(committed_get(bb, "billing", "", "orders", &after));
	ck_assert_msg(committed_eq(&moved, &after), "the group was moved "
	    "back: %s, not %s", committed_str(&after), committed_str(&moved));
	consume_as(bb, "billing", NULL, "orders", &g, NMSG, "mirror again");
	first_at(&g, &moved, 4, true, "mirror again");
	got_all(&g);

	shmq_bus_close(bb);
	shmq_bus_close(ba);
	ft_host_stop(&b);
	ft_host_stop(&a);
}
END_TEST

/* The offsets file of GROUP in H's store, or "" (free it). */
static char *
offsets_file(const struct ft_host *h, const char *group)
{
	char path[8192];

	snprintf(path, sizeof(path), "%s/%s/groups/%s/offsets", h->home,
	    h->bus, group);
	return tt_slurp(path);
}

START_TEST(test_restart)
{
	struct ft_host a, b;
	struct shmq_bus *ba, *bb;
	struct committed cm, after;
	struct got g;
	char line[64], *file;
	unsigned q;

	pair_start(&a, &b, "orders", 4, &ba, &bb);
	got_init(&g);
	consume_as(ba, "billing", NULL, "orders", &g, 150, "home");
	cm = wait_offsets(ba, bb, &b, "billing", "", "orders");
	shmq_bus_close(ba);
	ft_host_stop(&a);	/* nothing can come again */

	/* Saved in the mirror's store like any group's offsets. */
	file = offsets_file(&b, "billing");
	ck_assert_contains(file, "model=clustering");
	for (q = 0; q < 4; q++) {
		snprintf(line, sizeof(line), "o orders * %u %llu\n", q,
		    (unsigned long long)cm.off[q]);
		ck_assert_contains(file, line);
	}
	free(file);

	/* SIGKILL, restart: the control region keeps them. */
	ft_host_kill(&b);
	ft_host_start(&b);
	ck_assert(committed_get(bb, "billing", "", "orders", &after));
	ck_assert(committed_eq(&cm, &after));

	/* SIGKILL, and the control region gone (a reboot): the store. */
	shmq_bus_close(bb);
	ft_host_kill(&b);
	tu_sh("rm -f /dev/shm/shmq.*.%s.* 2>/dev/null", b.bus);
	ft_host_start(&b);
	bb = ft_bus_open(&b);
	ck_assert_msg(committed_get(bb, "billing", "", "orders", &after),
	    "the mirror lost the group in a rebuild");
	ck_assert_msg(committed_eq(&cm, &after), "rebuilt: %s, not %s",
	    committed_str(&after), committed_str(&cm));
	consume_as(bb, "billing", NULL, "orders", &g, NMSG, "mirror");
	first_at(&g, &cm, 4, true, "mirror");
	got_all(&g);

	shmq_bus_close(bb);
	ft_host_stop(&b);
}
END_TEST

static Suite *
groupsync_suite(void)
{
	Suite *s = suite_create("groupsync");
	TCase *tc;

	tc = tcase_create("apply");
	tcase_add_checked_fixture(tc, setup, tt_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_apply);
	suite_add_tcase(s, tc);
	tc = tcase_create("hosts");
	tcase_add_checked_fixture(tc, setup, ft_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_clustering);
	tcase_add_test(tc, test_broadcasting);
	tcase_add_test(tc, test_moved);
	tcase_add_test(tc, test_restart);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(groupsync_suite);
}

