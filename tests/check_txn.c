/*
 * check_txn.c - transactional messages: commit, rollback, invisible until
 * committed, deciding twice, bad input (no daemon); then with a real
 * shmqd (small txn_timeout_ms): check-back of an UNKNOWN transaction, the
 * producer SIGKILLed inside its local transaction and a new process of
 * its group answering the check-back, shmqd SIGKILLed and restarted
 * between the half message and its checks, and a transaction given up
 * after txn_check_max checks.  Also prints the cost of a transactional
 * send against a plain one and the check-back latency (figures, never
 * asserted).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <check.h>
#include <shmq/shmq.h>

#include "internal.h"
#include "testutil.h"
#include "tooltest.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* A plain consumer of every queue of TOPIC from its first message. */
static struct shmq_consumer *
reader(struct shmq_bus *bus, const char *topic)
{
	struct shmq_consumer *c;

	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, topic, SHMQ_QUEUE_ANY, NULL),
	    0);
	ck_assert_int_eq(shmq_consumer_seek(c, topic, SHMQ_QUEUE_ANY,
	    SHMQ_SEEK_FIRST, 0), 0);
	return c;
}

/* What a reader saw: the count, and the last message's id property. */
struct seen {
	int	n;
	char	txn_id[SHMQ_MSGID_LEN + 1];
	char	body[64];
	char	tags[16];
	char	keys[32];
	char	prop[16];	/* user property "u" */
};

static void
copy_s(char *dst, size_t len, const char *s, size_t n)
{
	if (n >= len)
		n = len - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Read C until N messages were seen or SECS passed; add to *S. */
static void
read_for(struct shmq_consumer *c, struct seen *s, int n, double secs)
{
	struct shmq_msgview v[16];
	uint64_t t0 = tu_mono_ns();
	const char *p;
	size_t len;
	int r, i;

	while (tu_mono_ns() - t0 < secs * 1e9 * tu_mult()) {
		r = shmq_consumer_poll(c, v, 16, 20);
		ck_assert_int_ge(r, 0);
		for (i = 0; i < r; i++) {
			s->n++;
			copy_s(s->body, sizeof(s->body), v[i].body,
			    v[i].body_len);
			copy_s(s->tags, sizeof(s->tags), v[i].tags,
			    v[i].tags_len);
			copy_s(s->keys, sizeof(s->keys), v[i].keys,
			    v[i].keys_len);
			s->txn_id[0] = s->prop[0] = '\0';
			if ((p = shmq_msgview_prop(&v[i], SHMQ_PROP_TXN_ID,
			    &len)) != NULL)
				copy_s(s->txn_id, sizeof(s->txn_id), p, len);
			if ((p = shmq_msgview_prop(&v[i], "u", &len)) != NULL)
				copy_s(s->prop, sizeof(s->prop), p, len);
		}
		if (n > 0 && s->n >= n)
			return;
	}
}

static const struct shmq_prop uprop = { "u", "v1" };

static void
msg_for(struct shmq_msg *m, const char *topic, const char *body)
{
	shmq_msg_init(m);
	m->topic = topic;
	m->body = body;
	m->body_len = strlen(body);
	m->tags = "tg";
	m->keys = "k1 k2";
	m->props = &uprop;
	m->nprops = 1;
}

/* The local transaction's answer in *ARG; counts calls in exec_calls. */
static int exec_calls;
static int unknown = SHMQ_TXN_UNKNOWN;
static char exec_id[SHMQ_MSGID_LEN + 1];

static int
exec_answer(void *arg, const struct shmq_msg *m, const char *txn_id)
{
	(void)m;
	exec_calls++;
	strlcpy(exec_id, txn_id, sizeof(exec_id));
	return *(int *)arg;
}

static int
add_messages(void *arg, const struct shmq_queue_info *qi)
{
	*(uint64_t *)arg += qi->messages;
	return 0;
}

/* Half messages stored. */
static uint64_t
half_messages(struct shmq_bus *bus)
{
	uint64_t n = 0;

	ck_assert_int_eq(shmq_queue_foreach(bus, SHMQ_HALF_TOPIC,
	    add_messages, &n), 0);
	return n;
}

/* ------------------------------------------------------------------ */
/* Without a daemon                                                    */
/* ------------------------------------------------------------------ */

/* A bus, a producer of group "pg", a reader of TOPIC (made with 2 queues)
 * and a message M for it with BODY. */
struct local {
	struct shmq_bus		*bus;
	struct shmq_producer	*p;
	struct shmq_consumer	*c;
	struct shmq_msg		 m;
	struct seen		 s;
	struct shmq_txn_result	 res;
};

static void
local_open(struct local *l, const char *topic, const char *body)
{
	memset(l, 0, sizeof(*l));
	l->bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(l->bus, topic, 2), 0);
	ck_assert_int_eq(shmq_producer_open(&l->p, l->bus, "pg"), 0);
	l->c = reader(l->bus, topic);
	msg_for(&l->m, topic, body);
}

static void
local_close(struct local *l)
{
	shmq_consumer_close(l->c);
	shmq_producer_close(l->p);
	shmq_bus_close(l->bus);
}

START_TEST(commit_visible)
{
	struct local l;
	int ans = SHMQ_TXN_COMMIT;

	local_open(&l, "t1", "hello");
	exec_calls = 0;
	ck_assert_int_eq(shmq_producer_send_txn(l.p, &l.m, exec_answer, &ans,
	    &l.res), 0);
	ck_assert_int_eq(exec_calls, 1);
	ck_assert_str_eq(l.res.txn_id, exec_id);
	ck_assert_int_eq(l.res.state, SHMQ_TXN_COMMIT);
	ck_assert_int_eq(l.res.decided_before, 0);
	ck_assert_int_eq(strlen(l.res.send.msg_id), SHMQ_MSGID_LEN);
	read_for(l.c, &l.s, 0, 0.3);
	ck_assert_int_eq(l.s.n, 1);
	ck_assert_str_eq(l.s.body, "hello");
	ck_assert_str_eq(l.s.tags, "tg");
	ck_assert_str_eq(l.s.keys, "k1 k2");
	ck_assert_str_eq(l.s.prop, "v1");
	ck_assert_str_eq(l.s.txn_id, l.res.txn_id);
	/* Deciding again: nothing more. */
	ck_assert_int_eq(shmq_txn_end(l.p, l.res.txn_id, SHMQ_TXN_COMMIT), 1);
	ck_assert_int_eq(shmq_txn_end(l.p, l.res.txn_id, SHMQ_TXN_ROLLBACK),
	    1);
	read_for(l.c, &l.s, 0, 0.2);
	ck_assert_int_eq(l.s.n, 1);
	ck_assert_uint_eq(half_messages(l.bus), 1);
	local_close(&l);
}
END_TEST

START_TEST(rollback_never)
{
	struct local l;
	int ans = SHMQ_TXN_ROLLBACK;

	local_open(&l, "t2", "no");
	ck_assert_int_eq(shmq_producer_send_txn(l.p, &l.m, exec_answer, &ans,
	    &l.res), 0);
	ck_assert_int_eq(l.res.state, SHMQ_TXN_ROLLBACK);
	/* A late commit does nothing: the rollback stands. */
	ck_assert_int_eq(shmq_txn_end(l.p, l.res.txn_id, SHMQ_TXN_COMMIT), 1);
	read_for(l.c, &l.s, 0, 0.3);
	ck_assert_int_eq(l.s.n, 0);
	local_close(&l);
}
END_TEST

/* The local transaction of invisible_until_commit: reads the topic. */
static int
exec_peek(void *arg, const struct shmq_msg *m, const char *txn_id)
{
	struct seen s;

	(void)m;
	memset(&s, 0, sizeof(s));
	read_for(arg, &s, 0, 0.3);
	strlcpy(exec_id, txn_id, sizeof(exec_id));
	exec_calls = s.n;
	return SHMQ_TXN_UNKNOWN;
}

START_TEST(invisible_until_commit)
{
	struct shmq_producer *p2;
	struct local l;

	local_open(&l, "t3", "later");
	ck_assert_int_eq(shmq_producer_open(&p2, l.bus, "other"), 0);
	exec_calls = -1;
	ck_assert_int_eq(shmq_producer_send_txn(l.p, &l.m, exec_peek, l.c,
	    &l.res), 0);
	ck_assert_int_eq(exec_calls, 0);	/* nothing while it ran */
	ck_assert_int_eq(l.res.state, SHMQ_TXN_UNKNOWN);
	read_for(l.c, &l.s, 0, 0.2);
	ck_assert_int_eq(l.s.n, 0);		/* nor after UNKNOWN */
	/* Decided later, by another producer. */
	ck_assert_int_eq(shmq_txn_end(p2, l.res.txn_id, SHMQ_TXN_COMMIT), 0);
	ck_assert_int_eq(shmq_txn_end(l.p, l.res.txn_id, SHMQ_TXN_COMMIT), 1);
	read_for(l.c, &l.s, 0, 0.3);
	ck_assert_int_eq(l.s.n, 1);
	ck_assert_str_eq(l.s.body, "later");
	ck_assert_str_eq(l.s.txn_id, l.res.txn_id);
	shmq_producer_close(p2);
	local_close(&l);
}
END_TEST

static int check_answer(void *arg, const struct shmq_msgview *v,
    const char *txn_id);

START_TEST(bad_input)
{
	void *x = tu_shared_new(4096);	/* a checker's (struct shared) */
	struct shmq_bus *bus = tu_bus_open_default();
	struct shmq_send_result sr;
	struct shmq_txn_result res;
	struct shmq_producer *p;
	struct shmq_msg m;
	char id[SHMQ_MSGID_LEN + 1];
	int ans = SHMQ_TXN_COMMIT;

	ck_assert_int_eq(shmq_topic_create(bus, "t4", 1), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, "pg"), 0);
	msg_for(&m, "t4", "x");
	exec_calls = 0;
	ck_assert_int_eq(shmq_producer_send_txn(NULL, &m, exec_answer, &ans,
	    &res), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_producer_send_txn(p, NULL, exec_answer, &ans,
	    &res), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_producer_send_txn(p, &m, NULL, &ans, &res),
	    SHMQ_EINVAL);
	m.delay_level = 1;
	ck_assert_int_eq(shmq_producer_send_txn(p, &m, exec_answer, &ans,
	    &res), SHMQ_EINVAL);
	m.delay_level = 0;
	m.topic = SHMQ_HALF_TOPIC;
	ck_assert_int_eq(shmq_producer_send_txn(p, &m, exec_answer, &ans,
	    &res), SHMQ_ENAME);
	m.topic = "%DLQ%x";
	ck_assert_int_eq(shmq_producer_send_txn(p, &m, exec_answer, &ans,
	    &res), SHMQ_ENAME);
	m.topic = "t4";
	m.queue = 3;
	ck_assert_int_eq(shmq_producer_send_txn(p, &m, exec_answer, &ans,
	    &res), SHMQ_ENOQUEUE);
	ck_assert_int_eq(exec_calls, 0);	/* never ran */
	ck_assert_str_eq(res.txn_id, "");

	/* Ids: malformed, of no message, of a message not a half one. */
	ck_assert_int_eq(shmq_txn_end(p, NULL, SHMQ_TXN_COMMIT), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_txn_end(p, "zzz", SHMQ_TXN_COMMIT),
	    SHMQ_ENOTXN);
	m.queue = SHMQ_QUEUE_ANY;
	ck_assert_int_eq(shmq_producer_send(p, &m, &sr), 0);
	ck_assert_int_eq(shmq_txn_end(p, sr.msg_id, SHMQ_TXN_COMMIT),
	    SHMQ_ENOTXN);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "not a half message"));
	memcpy(id, sr.msg_id, sizeof(id));
	memcpy(id + 16, "00000000FFFFFF00", 16);
	ck_assert_int_eq(shmq_txn_end(p, id, SHMQ_TXN_COMMIT), SHMQ_ENOTXN);
	ans = SHMQ_TXN_UNKNOWN;
	ck_assert_int_eq(shmq_producer_send_txn(p, &m, exec_answer, &ans,
	    &res), 0);
	ck_assert_int_eq(shmq_txn_end(p, res.txn_id, SHMQ_TXN_UNKNOWN),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_txn_end(p, res.txn_id, 7), SHMQ_EINVAL);

	/* The checker: a callback is needed, and only one. */
	ck_assert_int_eq(shmq_producer_set_txn_checker(p, NULL, NULL),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_producer_set_txn_checker(NULL, check_answer,
	    x), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_producer_set_txn_checker(p, check_answer, x),
	    0);
	ck_assert_int_eq(shmq_producer_set_txn_checker(p, check_answer, x),
	    SHMQ_EBUSY);
	shmq_producer_close(p);
	shmq_bus_close(bus);
}
END_TEST

/* ------------------------------------------------------------------ */
/* With shmqd                                                          */
/* ------------------------------------------------------------------ */

/* Shared with children: what their checkers and transactions saw. */
struct shared {
	uint32_t	ready;		/* the child's half message is stored */
	uint32_t	quit;		/* the parent says: exit */
	uint32_t	checks;		/* check callbacks run */
	uint32_t	bad_view;	/* a callback saw the wrong topic */
	uint32_t	unknown_first;	/* answer UNKNOWN this many times */
	uint32_t	check_no;	/* TRANSACTION_CHECK_TIMES last seen */
	char		txn_id[SHMQ_MSGID_LEN + 1];
	char		checked_id[SHMQ_MSGID_LEN + 1];
};

static struct shared *sh;

static int
check_answer(void *arg, const struct shmq_msgview *v, const char *txn_id)
{
	struct shared *x = arg;
	uint32_t n = ck_pr_faa_32(&x->checks, 1);
	const char *p;
	size_t len;

	if (v->topic_len != 2 || memcmp(v->topic, "tx", 2) != 0)
		ck_pr_inc_32(&x->bad_view);
	strlcpy(x->checked_id, txn_id, sizeof(x->checked_id));
	if ((p = shmq_msgview_prop(v, SHMQ_PROP_TXN_CHECKS, &len)) != NULL &&
	    len == 1)
		ck_pr_store_32(&x->check_no, (uint32_t)(p[0] - '0'));
	return n < ck_pr_load_32(&x->unknown_first) ? SHMQ_TXN_UNKNOWN :
	    SHMQ_TXN_COMMIT;
}

#define SHMQD_FAST	"--txn-timeout 300 --txn-check-interval 300 " \
			"--txn-check-max 5"

static struct shmq_bus *
txn_setup(pid_t *pid, const char *args)
{
	struct shmq_bus *bus;

	*pid = tt_shmqd_start(args);
	if (!tt_shmqd_log_has("started", 1)) {	/* show why */
		char *l = tt_slurp(tt_shmqd_log());

		fprintf(stderr, "%s\n", l);
		free(l);
		ck_abort_msg("shmqd did not start");
	}
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, "tx", 4), 0);
	sh = tu_shared_new(sizeof(*sh));
	return bus;
}

START_TEST(checkback_commits)
{
	struct shmq_bus_info bi;
	struct shmq_txn_result res;
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msg m;
	struct seen s;
	uint64_t t0, lat;
	pid_t pid;
	struct shmq_bus *bus = txn_setup(&pid, SHMQD_FAST);

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(shmq_producer_open(&p, bus, "pg"), 0);
	ck_assert_int_eq(shmq_producer_set_txn_checker(p, check_answer, sh),
	    0);
	c = reader(bus, "tx");
	msg_for(&m, "tx", "checked");
	t0 = tu_mono_ns();
	ck_assert_int_eq(shmq_producer_send_txn(p, &m, exec_answer, &unknown,
	    &res), 0);
	read_for(c, &s, 1, 5);
	lat = tu_mono_ns() - t0;
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.txn_id, res.txn_id);
	ck_assert_str_eq(s.body, "checked");
	ck_assert_str_eq(s.prop, "v1");
	ck_assert_uint_eq(ck_pr_load_32(&sh->checks), 1);
	ck_assert_uint_eq(sh->bad_view, 0);
	ck_assert_str_eq(sh->checked_id, res.txn_id);
	fprintf(stderr, "check-back: UNKNOWN to visible in %.1f ms "
	    "(txn_timeout_ms 300)\n", lat / 1e6);
	/* Decided: never asked again, never a second copy. */
	read_for(c, &s, 0, 1.0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_uint_eq(ck_pr_load_32(&sh->checks), 1);
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	ck_assert_uint_eq(bi.daemon_txn_checks, 1);
	ck_assert_uint_ge(bi.daemon_txn_resolved, 1);
	ck_assert_uint_eq(bi.daemon_txn_pending, 0);
	ck_assert_uint_eq(bi.daemon_txn_discarded, 0);
	ck_assert_int_eq(tt_run("%s --json", tu_prog("utils/shmq-stat")), 0);
	ck_assert(tt_json_valid(tt_out));
	ck_assert_contains(tt_out, "\"transactions\":{\"pending\":0,"
	    "\"checks\":1,");
	ck_assert_int_eq(tt_run("%s", tu_prog("utils/shmq-stat")), 0);
	ck_assert_contains(tt_out, "transactions:  0 undecided, 1 check-back "
	    "sent");
	shmq_consumer_close(c);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
	ck_assert(tt_shmqd_log_has("check 1 of 5 sent", 1));
}
END_TEST

/* Child: send a transaction and die inside the local transaction. */
static int
exec_hang(void *arg, const struct shmq_msg *m, const char *txn_id)
{
	(void)arg;
	(void)m;
	strlcpy(sh->txn_id, txn_id, sizeof(sh->txn_id));
	ck_pr_store_32(&sh->ready, 1);
	for (;;)
		pause();
	return SHMQ_TXN_COMMIT;
}

static int
doomed_producer(void)
{
	struct shmq_bus *bus = tu_bus_open_default();
	struct shmq_producer *p;
	struct shmq_msg m;

	if (shmq_producer_open(&p, bus, "pg") < 0)
		return 1;
	msg_for(&m, "tx", "survivor");
	(void)shmq_producer_send_txn(p, &m, exec_hang, NULL, NULL);
	return 2;	/* never */
}

/* Child: a producer of the group that answers check-backs until told. */
static int
checker_producer(void)
{
	struct shmq_bus *bus = tu_bus_open_default();
	struct shmq_producer *p;

	if (shmq_producer_open(&p, bus, "pg") < 0 ||
	    shmq_producer_set_txn_checker(p, check_answer, sh) < 0)
		return 1;
	while (!ck_pr_load_32(&sh->quit))
		usleep(10000);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	return 0;
}

START_TEST(producer_killed)
{
	struct tu_child a, b;
	struct shmq_consumer *c;
	struct seen s;
	pid_t pid;
	struct shmq_bus *bus = txn_setup(&pid, SHMQD_FAST);

	memset(&s, 0, sizeof(s));
	c = reader(bus, "tx");
	TU_SPAWN(&a, "doomed", doomed_producer());
	tu_wait_flag(&sh->ready, 5);
	kill(a.pid, SIGKILL);
	ck_assert_int_eq(tu_wait_deadline(a.pid, 5), 128 + SIGKILL);
	/* Undecided: nothing visible; shmqd asks while no producer of the
	 * group listens: the request waits for one. */
	ck_assert(tt_shmqd_log_has("check 1 of 5 sent", 1));
	read_for(c, &s, 0, 0.1);
	ck_assert_int_eq(s.n, 0);
	TU_SPAWN(&b, "checker", checker_producer());
	read_for(c, &s, 1, 5);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.body, "survivor");
	ck_assert_str_eq(s.txn_id, sh->txn_id);
	ck_assert_str_eq(sh->checked_id, sh->txn_id);
	/* The request stored before it joined. */
	ck_assert_uint_eq(sh->check_no, 1);
	/* Exactly once, asked once. */
	read_for(c, &s, 0, 1.0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_uint_eq(ck_pr_load_32(&sh->checks), 1);
	ck_assert_uint_eq(sh->bad_view, 0);
	ck_pr_store_32(&sh->quit, 1);
	tu_check_children(&b, 1, 5, tu_exit_name);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
}
END_TEST

START_TEST(shmqd_restarts)
{
	struct shmq_txn_result res;
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msg m;
	struct seen s;
	pid_t pid;
	struct shmq_bus *bus = txn_setup(&pid, "--txn-timeout 600 "
	    "--txn-check-interval 300");

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(shmq_producer_open(&p, bus, "pg"), 0);
	c = reader(bus, "tx");
	msg_for(&m, "tx", "restarted");
	ck_assert_int_eq(shmq_producer_send_txn(p, &m, exec_answer, &unknown,
	    &res), 0);
	/* Killed between the half message and its first check. */
	ck_assert(tt_shmqd_log_has("transaction checker: checking", 1));
	kill(pid, SIGKILL);
	ck_assert_int_eq(tu_wait_deadline(pid, 5), 128 + SIGKILL);
	usleep(700000);
	ck_assert_uint_eq(ck_pr_load_32(&sh->checks), 0);
	/* The first check answered UNKNOWN, then killed again. */
	sh->unknown_first = 1;
	ck_assert_int_eq(shmq_producer_set_txn_checker(p, check_answer, sh),
	    0);
	pid = tt_shmqd_start("--txn-timeout 600 --txn-check-interval 300");
	ck_assert(tt_shmqd_log_has("check 1 of 15 sent", 1));
	while (ck_pr_load_32(&sh->checks) < 1)
		usleep(1000);
	kill(pid, SIGKILL);
	ck_assert_int_eq(tu_wait_deadline(pid, 5), 128 + SIGKILL);
	read_for(c, &s, 0, 0.5);
	ck_assert_int_eq(s.n, 0);
	/* The next one commits, once. */
	pid = tt_shmqd_start("--txn-timeout 600 --txn-check-interval 300");
	read_for(c, &s, 1, 5);
	if (s.n != 1) {
		char *l = tt_slurp(tt_shmqd_log());

		fprintf(stderr, "checks %u\n%s\n", sh->checks, l);
		free(l);
	}
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.txn_id, res.txn_id);
	read_for(c, &s, 0, 1.0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_uint_ge(ck_pr_load_32(&sh->checks), 2);
	shmq_consumer_close(c);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
}
END_TEST

START_TEST(given_up)
{
	struct shmq_bus_info bi;
	struct shmq_txn_result res;
	struct shmq_producer *p;
	struct shmq_consumer *c, *d;
	struct shmq_msg m;
	struct seen s, ds;
	pid_t pid;
	struct shmq_bus *bus = txn_setup(&pid, "--txn-timeout 200 "
	    "--txn-check-interval 200 --txn-check-max 3");

	memset(&s, 0, sizeof(s));
	memset(&ds, 0, sizeof(ds));
	sh->unknown_first = 1000;
	ck_assert_int_eq(shmq_producer_open(&p, bus, "pg"), 0);
	ck_assert_int_eq(shmq_producer_set_txn_checker(p, check_answer, sh),
	    0);
	c = reader(bus, "tx");
	msg_for(&m, "tx", "abandoned");
	ck_assert_int_eq(shmq_producer_send_txn(p, &m, exec_answer, &unknown,
	    &res), 0);
	ck_assert(tt_shmqd_log_has("given up", 1));
	ck_assert_uint_eq(ck_pr_load_32(&sh->checks), 3);
	ck_assert_int_eq(shmq_topic_queues(bus, SHMQ_TXN_DISCARD_TOPIC), 1);
	d = reader(bus, SHMQ_TXN_DISCARD_TOPIC);
	read_for(d, &ds, 1, 2);
	ck_assert_int_eq(ds.n, 1);
	ck_assert_str_eq(ds.body, "abandoned");
	ck_assert_str_eq(ds.txn_id, res.txn_id);
	/* Given up is decided: a late commit does nothing. */
	ck_assert_int_eq(shmq_txn_end(p, res.txn_id, SHMQ_TXN_COMMIT), 1);
	read_for(c, &s, 0, 0.8);
	ck_assert_int_eq(s.n, 0);
	ck_assert_uint_eq(ck_pr_load_32(&sh->checks), 3);
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	ck_assert_uint_eq(bi.daemon_txn_discarded, 1);
	ck_assert_uint_eq(bi.daemon_txn_checks, 3);
	ck_assert_uint_eq(bi.daemon_txn_pending, 0);
	shmq_consumer_close(d);
	shmq_consumer_close(c);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
}
END_TEST

#define NCOST	2000

/* Figures: a transactional send (commit) against a plain one. */
START_TEST(cost)
{
	struct shmq_bus *bus = tu_bus_open_default();
	struct shmq_producer *p;
	struct shmq_msg m;
	uint64_t t0, plain, txn;
	int i, ans = SHMQ_TXN_COMMIT;
	char body[64];

	memset(body, 'x', sizeof(body));
	ck_assert_int_eq(shmq_topic_create(bus, "tc", 4), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, "pg"), 0);
	shmq_msg_init(&m);
	m.topic = "tc";
	m.body = body;
	m.body_len = sizeof(body);
	/* Warm both paths (topics, files). */
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
		ck_assert_int_eq(shmq_producer_send_txn(p, &m, exec_answer,
		    &ans, NULL), 0);
	}
	t0 = tu_mono_ns();
	for (i = 0; i < NCOST; i++)
		if (shmq_producer_send(p, &m, NULL) != 0)
			ck_abort();
	plain = tu_mono_ns() - t0;
	t0 = tu_mono_ns();
	for (i = 0; i < NCOST; i++)
		if (shmq_producer_send_txn(p, &m, exec_answer, &ans, NULL) != 0)
			ck_abort();
	txn = tu_mono_ns() - t0;
	fprintf(stderr, "send of 64 B over %d messages: plain %.2f us, "
	    "transactional (commit) %.2f us (%.1fx)\n", NCOST,
	    plain / 1e3 / NCOST, txn / 1e3 / NCOST, (double)txn /
	    (double)plain);
	shmq_producer_close(p);
	shmq_bus_close(bus);
}
END_TEST

static Suite *
txn_suite(void)
{
	Suite *s = suite_create("txn");
	TCase *tl = tcase_create("local");
	TCase *td = tcase_create("checker");

	tcase_add_checked_fixture(tl, tt_setup, tt_teardown);
	tcase_add_test(tl, commit_visible);
	tcase_add_test(tl, rollback_never);
	tcase_add_test(tl, invisible_until_commit);
	tcase_add_test(tl, bad_input);
	tcase_add_test(tl, cost);
	suite_add_tcase(s, tl);
	tcase_add_checked_fixture(td, tt_setup, tt_teardown);
	tcase_set_timeout(td, 30);
	tcase_add_test(td, checkback_commits);
	tcase_add_test(td, producer_killed);
	tcase_add_test(td, shmqd_restarts);
	tcase_add_test(td, given_up);
	suite_add_tcase(s, td);
	return s;
}

int
main(void)
{
	return tu_run(txn_suite);
}
