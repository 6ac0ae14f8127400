/*
 * check_promote.c - promotion of a mirror to home (manual failover) and
 * fencing of the old home, with real shmqd processes on loopback
 * (fedtest.h), as doc/federation.md ("Promotion") specifies:
 *
 *	shmq-admin promote TOPIC [--force]	(on the mirror's host)
 *
 * failover: home alpha, mirror beta (of alpha), gamma linked to both for
 * its routes and a second mirror of alpha.  Messages sent on alpha arrive
 * on beta; alpha's shmqd is
 * SIGKILLed and its producer gone; beta is promoted (epoch 2); beta's
 * producers continue each queue at the offset after the last mirrored one,
 * and every earlier message is still there at its offset with its id;
 * beta's shmqd stops replicating (and after a restart with the `mirror =`
 * line still in its config, leaves the topic alone); alpha's shmqd comes
 * back and within seconds sends there fail with SHMQ_ETOPICPERM naming beta
 * and epoch 2, also after its control region is rebuilt from its store;
 * alpha's consumers still read, its mirror gamma is refused; gamma's
 * routes name beta as home (epoch 2), alpha as fenced.  Then the operator's way back: alpha deletes its copy
 * and mirrors beta, and ends with beta's messages, those sent after the
 * promotion included.
 *
 * live: alpha stays up.  Beta cannot store one message (its bus takes
 * smaller messages), so it stays behind: promote without --force is
 * refused with how far (SHMQ_EBUSY), with --force it goes through and
 * says what is lost; alpha is fenced as soon as beta's registration
 * reaches it.
 *
 * race: promotion while the mirror stores a live stream and a local
 * producer sends as soon as it may: every offset written once, no hole,
 * the home's messages in order then the new ones.
 *
 * refuse: a topic that is not a mirror (SHMQ_EEXIST), a missing one
 * (SHMQ_ENOTOPIC), a bad flag (SHMQ_EINVAL), promote twice; a fenced copy
 * cannot be made writable with topic update.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <ck_pr.h>

#include <shmq/shmq.h>

#include "fedtest.h"
#include "testutil.h"
#include "tooltest.h"

#define TOPIC		"orders"
#define NQ		2
#define N_HOME		300	/* sent on the home before the failover */
#define N_NEW		40	/* sent on the promoted mirror */
#define WAIT_S		10.0	/* scaled: how long anything may take */

/* What a send returned: where the message is, and its id. */
struct sent {
	int		 queue;
	uint64_t	 off;
	char		 id[SHMQ_MSGID_LEN + 1];
};

static void
setup(void)
{
	tt_setup();
}

/* Send N messages "TAG-i" to TOPIC on BUS, round robin; record each. */
static void
send_n(struct shmq_bus *bus, const char *tag, int n, struct sent *out)
{
	struct shmq_producer *p;
	struct shmq_send_result res;
	struct shmq_msg m;
	char body[64];
	int i, rc;

	ck_assert_int_eq(shmq_producer_open(&p, bus, "promote-test"), 0);
	for (i = 0; i < n; i++) {
		shmq_msg_init(&m);
		m.topic = TOPIC;
		snprintf(body, sizeof(body), "%s-%d", tag, i);
		m.body = body;
		m.body_len = strlen(body);
		rc = shmq_producer_send(p, &m, &res);
		ck_assert_msg(rc == 0, "send %s: %s (%s)", body,
		    shmq_err_name(rc), shmq_errmsg());
		if (out != NULL) {
			out[i].queue = res.queue;
			out[i].off = res.queue_off;
			strlcpy(out[i].id, res.msg_id, sizeof(out[i].id));
		}
	}
	shmq_producer_close(p);
}

/* One send to TOPIC on BUS: its result code (and the detail in MSG). */
static int
send_one(struct shmq_bus *bus, char *msg, size_t len)
{
	struct shmq_producer *p;
	struct shmq_msg m;
	int rc;

	ck_assert_int_eq(shmq_producer_open(&p, bus, "promote-probe"), 0);
	shmq_msg_init(&m);
	m.topic = TOPIC;
	m.body = "probe";
	m.body_len = 5;
	rc = shmq_producer_send(p, &m, NULL);
	if (msg != NULL)
		strlcpy(msg, rc < 0 ? shmq_errmsg() : "", len);
	shmq_producer_close(p);
	return rc;
}

/* Wait until a send on BUS fails with SHMQ_ETOPICPERM; the message. */
static void
wait_fenced(struct shmq_bus *bus, const struct ft_host *h, char *msg,
    size_t len)
{
	uint64_t t0 = tu_mono_ns();
	int rc;

	while ((rc = send_one(bus, msg, len)) == 0) {
		if (tu_mono_ns() - t0 > (uint64_t)(WAIT_S * 1e9 * tu_mult()))
			ck_abort_msg("%s: sends still accepted after %.0f s; "
			    "its log ends:\n%s", h->name, WAIT_S,
			    ft_log_tail(h, 1500));
		usleep(50000);
	}
	ck_assert_msg(rc == SHMQ_ETOPICPERM, "%s: send: %s (%s)", h->name,
	    shmq_err_name(rc), msg);
}

/* The message at queue Q offset OFF of TOPIC on BUS: 1 and *V's id and
 * body in ID, BODY; 0 if there is none. */
static int
read_at(struct shmq_bus *bus, int q, uint64_t off, char *id, char *body,
    size_t len)
{
	struct shmq_consumer *c;
	struct shmq_msgview v;
	int n;

	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, TOPIC, q, "*"), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, TOPIC, q, SHMQ_SEEK_OFFSET,
	    off), 0);
	n = shmq_consumer_poll(c, &v, 1, 500);
	ck_assert_int_ge(n, 0);
	if (n == 1 && v.queue_off == off) {
		strlcpy(id, v.msg_id, SHMQ_MSGID_LEN + 1);
		snprintf(body, len, "%.*s", (int)v.body_len,
		    (const char *)v.body);
	} else
		n = 0;
	shmq_consumer_close(c);
	return n;
}

/* Every message of S[0..N) (bodies "TAG-i") is on BUS at its offset with
 * its id. */
static void
check_all(struct shmq_bus *bus, const char *who, const char *tag,
    const struct sent *s, int n)
{
	char id[SHMQ_MSGID_LEN + 1], body[64], want[64];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "%s-%d", tag, i);
		ck_assert_msg(read_at(bus, s[i].queue, s[i].off, id, body,
		    sizeof(body)) == 1, "%s: no message at q%d %llu (%s)", who,
		    s[i].queue, (unsigned long long)s[i].off, want);
		ck_assert_msg(strcmp(id, s[i].id) == 0 &&
		    strcmp(body, want) == 0, "%s: q%d %llu is %s \"%s\", sent "
		    "as %s \"%s\"", who, s[i].queue,
		    (unsigned long long)s[i].off, id, body, s[i].id, want);
	}
}

/* TOPIC's tails (next offset per queue) on BUS into T[NQ]. */
static int
tails_cb(void *arg, const struct shmq_queue_info *qi)
{
	uint64_t *t = arg;

	if (qi->queue >= 0 && qi->queue < NQ)
		t[qi->queue] = qi->max_off;
	return 0;
}

static void
tails(struct shmq_bus *bus, uint64_t *t)
{
	memset(t, 0, NQ * sizeof(*t));
	ck_assert_int_eq(shmq_queue_foreach(bus, TOPIC, tails_cb, t), 0);
}

/* Wait until MIRROR's tails are HOME's. */
static void
wait_caught_up(struct shmq_bus *home, struct shmq_bus *mirror,
    const struct ft_host *mh)
{
	uint64_t th[NQ], tm[NQ], t0 = tu_mono_ns();

	tails(home, th);
	for (;;) {
		if (shmq_queue_foreach(mirror, TOPIC, tails_cb,
		    memset(tm, 0, sizeof(tm))) == 0 &&
		    memcmp(th, tm, sizeof(th)) == 0)
			return;
		if (tu_mono_ns() - t0 > (uint64_t)(WAIT_S * 1e9 * tu_mult()))
			ck_abort_msg("%s: mirror not caught up (%llu %llu of "
			    "%llu %llu); its log ends:\n%s", mh->name,
			    (unsigned long long)tm[0],
			    (unsigned long long)tm[1],
			    (unsigned long long)th[0],
			    (unsigned long long)th[1], ft_log_tail(mh, 1500));
		usleep(10000);
	}
}

/* Run shmq-admin on H with ARGS: its exit status (output in tt_out,
 * tt_err). */
static int
admin(const struct ft_host *h, const char *args)
{
	return tt_run("%s -b %s --home %s %s", tu_prog("utils/shmq-admin"),
	    h->bus, h->home, args);
}

/* ------------------------------------------------------------------ */
/* failover                                                            */
/* ------------------------------------------------------------------ */

START_TEST(test_failover)
{
	struct ft_host a, b, c;
	struct ft_host *pa[] = { &a, NULL }, *pab[] = { &a, &b, NULL };
	static struct sent s[N_HOME], n[N_NEW], back[N_NEW];
	struct shmq_route_info ri[4];
	struct shmq_bus *ba, *bb, *bc;
	uint64_t ta[NQ], tb[NQ], t0;
	char msg[512];
	int i, rc;

	ft_host_init(&a, "alpha", false, NULL);
	ft_host_init(&b, "beta", false, pa);
	ft_host_init(&c, "gamma", false, pab);
	ft_host_conf(&b, "mirror = %s@%s:%d", TOPIC, a.addr, a.port);
	ft_host_conf(&c, "mirror = %s@%s:%d", TOPIC, a.addr, a.port);
	ft_host_start(&a);
	ft_topic_create(&a, TOPIC, NQ);
	ft_host_start(&b);
	ft_host_start(&c);
	ba = ft_bus_open(&a);
	bb = ft_bus_open(&b);

	/* The home's messages reach the mirror. */
	send_n(ba, "home", N_HOME, s);
	wait_caught_up(ba, bb, &b);
	tails(ba, ta);
	ft_wait_jq(&c, ".federation.routes | any(.topic == \"" TOPIC "\" "
	    "and .host == \"alpha\" and .home and .epoch == 1)", WAIT_S,
	    "gamma: alpha home of " TOPIC);

	/* The home dies (its producer is done: send_n closed it). */
	ft_host_kill(&a);
	ck_assert_int_eq(admin(&b, "promote " TOPIC " --json"), 0);
	ck_assert_contains(tt_out, "\"epoch\":2");
	ck_assert_contains(tt_out, "\"behind_msgs\":0");
	ck_assert_contains(tt_err, "promoted");
	ck_assert_msg(tt_log_has(b.log, "promoted to home on this host", 1,
	    WAIT_S), "beta: replication not stopped:\n%s",
	    ft_log_tail(&b, 1500));

	/* Producers on beta continue at the next offsets; what was
	 * mirrored is still where it was. */
	send_n(bb, "new", N_NEW, n);
	for (i = 0; i < N_NEW; i++) {
		ck_assert_msg(n[i].off >= ta[n[i].queue], "beta wrote q%d "
		    "%llu, below the mirrored tail %llu", n[i].queue,
		    (unsigned long long)n[i].off,
		    (unsigned long long)ta[n[i].queue]);
		/* Round robin over 2 queues: i / 2 on each. */
		ck_assert_uint_eq(n[i].off, ta[n[i].queue] +
		    (uint64_t)(i / NQ));
	}
	tails(bb, tb);
	for (i = 0; i < NQ; i++)
		ck_assert_uint_eq(tb[i], ta[i] + N_NEW / NQ);
	check_all(bb, "beta", "home", s, N_HOME);
	check_all(bb, "beta", "new", n, N_NEW);

	/* Gamma: beta is the home now, at epoch 2. */
	ft_wait_jq(&c, ".federation.routes | any(.topic == \"" TOPIC "\" "
	    "and .host == \"beta\" and .home and .epoch == 2)", WAIT_S,
	    "gamma: beta home of " TOPIC " at epoch 2");

	/* Alpha comes back: fenced as soon as it hears of beta. */
	t0 = tu_mono_ns();
	ft_host_start(&a);
	wait_fenced(ba, &a, msg, sizeof(msg));
	fprintf(stderr, "failover: alpha fenced %.0f ms after its shmqd was "
	    "started again\n", (double)(tu_mono_ns() - t0) / 1e6);
	ck_assert_contains(msg, "promoted on host beta (epoch 2)");
	ck_assert_contains(msg, "fenced");
	ck_assert_msg(tt_log_has(a.log, "this copy is fenced", 1, WAIT_S),
	    "alpha's log:\n%s", ft_log_tail(&a, 1500));
	/* It serves its other mirror no more. */
	ck_assert_msg(tt_log_has(a.log, "replication of " TOPIC " to gamma: "
	    "ended: fenced", 1, WAIT_S), "alpha still serves gamma:\n%s",
	    ft_log_tail(&a, 1500));
	ck_assert_msg(tt_log_has(c.log, "is fenced here", 1, WAIT_S),
	    "gamma's log:\n%s", ft_log_tail(&c, 1500));
	/* Consumers may still read it. */
	check_all(ba, "alpha", "home", s, 10);
	ck_assert_int_eq(ft_stat_jq(&a, ".topics[] | select(.name == \""
	    TOPIC "\") | .fenced and .perm == \"r\""), 0);
	/* Gamma: beta first, alpha fenced (a fenced registration). */
	ft_wait_jq(&c, ".federation.routes | any(.topic == \"" TOPIC "\" "
	    "and .host == \"alpha\" and .fenced and (.home | not))", WAIT_S,
	    "gamma: alpha fenced");
	bc = ft_bus_open(&c);
	rc = shmq_route_lookup(bc, TOPIC, ri, 4);
	ck_assert_int_ge(rc, 2);
	ck_assert_str_eq(ri[0].host, "beta");
	ck_assert(ri[0].home && !ri[0].fenced && ri[0].epoch == 2);
	shmq_bus_close(bc);
	/* Cannot be made writable, cannot be promoted. */
	ck_assert_int_eq(admin(&a, "topic update " TOPIC " --perm rw"), 1);
	ck_assert_contains(tt_err, "fenced");
	ck_assert_int_eq(admin(&a, "promote " TOPIC " --force"), 1);
	ck_assert_contains(tt_err, "fenced");

	/* Persistent: alpha's control region rebuilt from its store. */
	shmq_bus_close(ba);
	ft_host_stop(&a);
	ba = ft_bus_open(&a);
	ck_assert_int_eq(send_one(ba, msg, sizeof(msg)), SHMQ_ETOPICPERM);
	ck_assert_contains(msg, "promoted on host beta (epoch 2)");
	ft_host_start(&a);
	ck_assert_int_eq(send_one(ba, msg, sizeof(msg)), SHMQ_ETOPICPERM);

	/* Beta, rebuilt from its store and restarted with its mirror line:
	 * still the home, the line ignored with a warning. */
	shmq_bus_close(bb);
	ft_host_stop(&b);
	bb = ft_bus_open(&b);
	ck_assert_int_eq(send_one(bb, NULL, 0), 0);
	ft_host_start(&b);
	ck_assert_msg(tt_log_has(b.log, "not replicated (remove the line)", 1,
	    WAIT_S), "beta's log:\n%s", ft_log_tail(&b, 1500));
	ck_assert_int_eq(send_one(bb, NULL, 0), 0);
	ck_assert_int_eq(ft_stat_jq(&b, ".topics[] | select(.name == \""
	    TOPIC "\") | .epoch == 2 and (.mirror | not) and "
	    "(.fenced | not)"), 0);

	/* The way back: alpha drops its copy and mirrors beta. */
	shmq_bus_close(ba);
	ft_host_stop(&a);
	ck_assert_msg(admin(&a, "topic delete " TOPIC) == 0, "delete: %s",
	    tt_err);
	ft_host_conf(&a, "mirror = %s@%s:%d", TOPIC, b.addr, b.port);
	ft_host_start(&a);
	ba = ft_bus_open(&a);
	send_n(bb, "back", N_NEW, back);
	wait_caught_up(bb, ba, &a);
	check_all(ba, "alpha", "home", s, N_HOME);
	check_all(ba, "alpha", "new", n, N_NEW);
	check_all(ba, "alpha", "back", back, N_NEW);
	ck_assert_int_eq(ft_stat_jq(&a, ".topics[] | select(.name == \""
	    TOPIC "\") | .epoch == 2 and .mirror and (.fenced | not)"), 0);
	shmq_bus_close(ba);
	shmq_bus_close(bb);
}
END_TEST

/* ------------------------------------------------------------------ */
/* live                                                                */
/* ------------------------------------------------------------------ */

#define LIVE_SMALL	(64u << 10)	/* beta's largest message */

START_TEST(test_live)
{
	struct ft_host a, b;
	struct ft_host *pa[] = { &a, NULL };
	struct shmq_bus_opts o;
	struct shmq_bus *ba, *bb;
	struct shmq_producer *p;
	struct shmq_msg m;
	static char big[LIVE_SMALL * 2];
	static struct sent s[10], after[5], n[4];
	uint64_t t0;
	char msg[512];
	int i;

	ft_host_init(&a, "alpha", false, NULL);
	ft_host_init(&b, "beta", false, pa);
	ft_host_conf(&b, "mirror = %s@%s:%d", TOPIC, a.addr, a.port);
	/* Beta's bus takes smaller messages than alpha's. */
	shmq_bus_opts_init(&o);
	o.home = b.home;
	o.max_msg_bytes = LIVE_SMALL;
	ck_assert_int_eq(shmq_bus_open(&bb, b.bus, &o), 0);
	ft_host_start(&a);
	ft_topic_create(&a, TOPIC, 1);
	ft_host_start(&b);
	ba = ft_bus_open(&a);

	/* 10 that beta stores, one it cannot, 5 behind it. */
	send_n(ba, "home", 10, s);
	ck_assert_int_eq(shmq_producer_open(&p, ba, NULL), 0);
	shmq_msg_init(&m);
	m.topic = TOPIC;
	m.body = big;
	m.body_len = sizeof(big);
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	shmq_producer_close(p);
	send_n(ba, "after", 5, after);

	/* Refused while behind, with how far, once a REPL_STATE told beta
	 * (its link's figure comes from the same state). */
	ft_wait_jq(&b, ".federation.links | any(.host == \"alpha\" and "
	    ".behind_msgs == 6)", WAIT_S, "beta: 6 behind alpha");
	ck_assert_int_eq(admin(&b, "promote " TOPIC), 1);
	ck_assert_contains(tt_err, "6 messages behind");
	ck_assert_int_eq(shmq_topic_promote(bb, TOPIC, 0, NULL), SHMQ_EBUSY);
	/* (Still a mirror: a send on beta now would be forwarded to alpha,
	 * remote send, and change the counts below; not tried here.) */

	/* Forced: beta is home, the 6 are lost there. */
	ck_assert_int_eq(admin(&b, "promote " TOPIC " --force"), 0);
	ck_assert_contains(tt_err, "6 messages");
	ck_assert_contains(tt_err, "lost");
	ck_assert_contains(tt_err, "epoch 2");
	send_n(bb, "new", 4, n);
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(n[i].off, 10 + (uint64_t)i);
	check_all(bb, "beta", "home", s, 10);

	/* Alpha, up all along, is fenced when beta's routes reach it (the
	 * time it took is printed, not asserted). */
	t0 = tu_mono_ns();
	wait_fenced(ba, &a, msg, sizeof(msg));
	fprintf(stderr, "live: alpha fenced %.0f ms after beta's promotion "
	    "(local list every 1000 ms, then one registration)\n",
	    (double)(tu_mono_ns() - t0) / 1e6);
	ck_assert_contains(msg, "promoted on host beta (epoch 2)");
	shmq_bus_close(ba);
	shmq_bus_close(bb);
}
END_TEST

/* ------------------------------------------------------------------ */
/* race                                                                */
/* ------------------------------------------------------------------ */

#define RACE_MIN	2000	/* mirrored before the promotion */
#define RACE_NEW	300	/* sent on beta after it */

/* The home's producer: "home-i" to TOPIC on H until *STOP, as fast as it
 * goes; exits 0, or 1 if a send fails before the stop. */
static void
race_producer(const struct ft_host *h, const uint32_t *stop)
{
	struct shmq_bus_opts o;
	struct shmq_producer *p;
	struct shmq_bus *bus;
	struct shmq_msg m;
	char body[32];
	uint64_t i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	shmq_bus_opts_init(&o);
	o.home = h->home;
	o.create = 0;
	if (shmq_bus_open(&bus, h->bus, &o) != 0 ||
	    shmq_producer_open(&p, bus, NULL) != 0)
		_exit(1);
	for (i = 0; !ck_pr_load_32(stop); i++) {
		shmq_msg_init(&m);
		m.topic = TOPIC;
		snprintf(body, sizeof(body), "home-%llu",
		    (unsigned long long)i);
		m.body = body;
		m.body_len = strlen(body);
		if (shmq_producer_send(p, &m, NULL) != 0)
			_exit(ck_pr_load_32(stop) ? 0 : 1);
	}
	shmq_producer_close(p);
	shmq_bus_close(bus);
	_exit(0);
}

/*
 * Promotion while the mirror is storing a stream from a live home, with a
 * producer on the mirror host sending as soon as it may: queue 0 of the
 * promoted topic is the home's messages home-0, home-1, ... without a gap,
 * then the new ones, each offset written once, no hole.
 */
START_TEST(test_race)
{
	struct ft_host a, b;
	struct ft_host *pa[] = { &a, NULL };
	struct shmq_bus *bb;
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msgview v[64];
	struct shmq_msg m;
	uint32_t *stop = tu_shared_new(sizeof(*stop));
	uint64_t t[NQ], next_home = 0, next_new = 0, off = 0, t0;
	unsigned long long k;
	char body[32];
	pid_t pid;
	int i, n = 0, rc;

	ft_host_init(&a, "alpha", false, NULL);
	ft_host_init(&b, "beta", false, pa);
	ft_host_conf(&b, "mirror = %s@%s:%d", TOPIC, a.addr, a.port);
	ft_host_start(&a);
	ft_topic_create(&a, TOPIC, 1);
	ft_host_start(&b);
	bb = ft_bus_open(&b);
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0)
		race_producer(&a, stop);
	/* Mid-stream: beta holds some, more keep coming. */
	t0 = tu_mono_ns();
	do {
		ck_assert_msg(tu_mono_ns() - t0 < (uint64_t)(WAIT_S * 1e9 *
		    tu_mult()), "beta mirrors nothing:\n%s",
		    ft_log_tail(&b, 1500));
		usleep(10000);
		memset(t, 0, sizeof(t));
		(void)shmq_queue_foreach(bb, TOPIC, tails_cb, t);
	} while (t[0] < RACE_MIN);
	ck_assert_int_eq(shmq_producer_open(&p, bb, NULL), 0);
	ck_assert_int_eq(shmq_topic_promote(bb, TOPIC, SHMQ_PROMOTE_FORCE,
	    NULL), 0);
	for (i = 0; i < RACE_NEW; i++) {
		shmq_msg_init(&m);
		m.topic = TOPIC;
		snprintf(body, sizeof(body), "new-%d", i);
		m.body = body;
		m.body_len = strlen(body);
		rc = shmq_producer_send(p, &m, NULL);
		ck_assert_msg(rc == 0, "send %s: %s", body, shmq_errmsg());
	}
	shmq_producer_close(p);
	ck_pr_store_32(stop, 1);
	ck_assert_int_eq(tu_wait_deadline(pid, WAIT_S), 0);

	/* Read it all from offset 0: home-0.. in order, then new-0.. */
	tails(bb, t);
	ck_assert_int_eq(shmq_consumer_open(&c, bb), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, TOPIC, 0, "*"), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, TOPIC, 0, SHMQ_SEEK_FIRST, 0),
	    0);
	while (off < t[0] && (n = shmq_consumer_poll(c, v, 64, 1000)) > 0) {
		for (i = 0; i < n; i++, off++) {
			ck_assert_msg(v[i].queue_off == off, "offset %llu "
			    "missing (next read %llu): a hole",
			    (unsigned long long)off,
			    (unsigned long long)v[i].queue_off);
			snprintf(body, sizeof(body), "%.*s",
			    (int)v[i].body_len, (const char *)v[i].body);
			if (next_new == 0 && sscanf(body, "home-%llu", &k) ==
			    1) {
				ck_assert_msg(k == next_home, "offset %llu: "
				    "%s, expected home-%llu",
				    (unsigned long long)off, body,
				    (unsigned long long)next_home);
				next_home++;
			} else {
				ck_assert_msg(sscanf(body, "new-%llu", &k) ==
				    1 && k == next_new, "offset %llu: %s, "
				    "expected new-%llu",
				    (unsigned long long)off, body,
				    (unsigned long long)next_new);
				next_new++;
			}
		}
	}
	ck_assert_msg(off == t[0], "read up to offset %llu of %llu (last poll: "
	    "%d, %s); %llu home and %llu local messages read",
	    (unsigned long long)off, (unsigned long long)t[0], n,
	    n < 0 ? shmq_errmsg() : "nothing more within 1 s",
	    (unsigned long long)next_home, (unsigned long long)next_new);
	shmq_consumer_close(c);
	ck_assert_uint_eq(next_new, RACE_NEW);
	ck_assert_uint_ge(next_home, RACE_MIN);
	fprintf(stderr, "race: promoted after %llu mirrored messages, %d "
	    "local ones followed\n", (unsigned long long)next_home,
	    RACE_NEW);
	shmq_bus_close(bb);
}
END_TEST

/* ------------------------------------------------------------------ */
/* refuse                                                              */
/* ------------------------------------------------------------------ */

START_TEST(test_refuse)
{
	struct shmq_promote_info pi;
	struct shmq_bus *bus = tu_bus_open_default();

	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 2), 0);
	ck_assert_int_eq(shmq_topic_promote(bus, TOPIC, 0, &pi), SHMQ_EEXIST);
	ck_assert_contains(shmq_errmsg(), "not a mirror");
	ck_assert(pi.epoch == 1);
	ck_assert_int_eq(shmq_topic_promote(bus, TOPIC, SHMQ_PROMOTE_FORCE,
	    NULL), SHMQ_EEXIST);
	ck_assert_int_eq(shmq_topic_promote(bus, "nope", 0, NULL),
	    SHMQ_ENOTOPIC);
	ck_assert_int_eq(shmq_topic_promote(bus, TOPIC, 0x10, NULL),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_topic_promote(NULL, TOPIC, 0, NULL),
	    SHMQ_EINVAL);
	/* The tool: exit 1 with the reason; bad usage exit 2. */
	ck_assert_int_eq(tt_run("%s -b %s promote %s",
	    tu_prog("utils/shmq-admin"), tu_bus(), TOPIC), 1);
	ck_assert_contains(tt_err, "not a mirror");
	ck_assert_int_eq(tt_run("%s -b %s promote",
	    tu_prog("utils/shmq-admin"), tu_bus()), 2);
	ck_assert_int_eq(tt_run("%s -b %s promote %s extra",
	    tu_prog("utils/shmq-admin"), tu_bus(), TOPIC), 2);
	shmq_bus_close(bus);
}
END_TEST

static void
add_case(Suite *s, const char *name, double timeout, const TTest *t,
    bool fed)
{
	TCase *tc = tcase_create(name);

	if (fed)
		tcase_add_checked_fixture(tc, setup, ft_teardown);
	else
		tcase_add_checked_fixture(tc, tt_setup, tt_teardown);
	tcase_set_timeout(tc, timeout);
	tcase_add_test(tc, t);
	suite_add_tcase(s, tc);
}

/* One case per behaviour: CK_RUN_CASE=NAME runs one. */
static Suite *
promote_suite(void)
{
	Suite *s = suite_create("promote");

	add_case(s, "failover", 60, test_failover, true);
	add_case(s, "live", 60, test_live, true);
	add_case(s, "race", 60, test_race, true);
	add_case(s, "refuse", 30, test_refuse, false);
	return s;
}

int
main(void)
{
	return tu_run(promote_suite);
}
