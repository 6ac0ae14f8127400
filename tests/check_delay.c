/*
 * check_delay.c - delayed messages (delay levels and deliver_at_ms) with
 * a real shmqd process, whose scheduler delivers them: never before due,
 * in due order, across a SIGKILL and restart of shmqd, bad input, and the
 * lateness over a few hundred messages (printed; asserted only against a
 * generous bound).  Short delays through shmqd --delay-levels.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <shmq/shmq.h>

#include "internal.h"
#include "testutil.h"
#include "tooltest.h"

static uint64_t
real_ms(void)
{
	return shmq__real_ns() / 1000000ull;
}

/* One received message. */
struct got {
	int		id;		/* the body: a decimal number */
	uint64_t	at_ms;		/* TIMER_DELIVER_MS */
	uint64_t	recv_us;	/* CLOCK_REALTIME at receipt */
	char		origin[SHMQ_MSGID_LEN + 1];
};

static struct shmq_consumer *
group_on(struct shmq_bus *bus, const char *topic)
{
	struct shmq_group_opts go;
	struct shmq_consumer *c;

	ck_assert_int_eq(shmq_topic_create(bus, topic, 4), 0);
	shmq_group_opts_init(&go);
	go.start = SHMQ_SEEK_FIRST;
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, "g", &go), 0);
	ck_assert_int_eq(shmq_consumer_subscribe(c, topic, NULL), 0);
	return c;
}

/* Receive until N distinct ids (duplicates dropped) or SECS: the count. */
static int
recv_n(struct shmq_consumer *c, struct got *g, int n, double secs)
{
	struct shmq_msgview v[32];
	uint64_t t0 = tu_mono_ns(), now;
	const char *s;
	size_t len;
	char buf[32];
	int k = 0, r, i, j;

	while (k < n && tu_mono_ns() - t0 < secs * 1e9 * tu_mult()) {
		r = shmq_consumer_poll(c, v, 32, 100);
		ck_assert_int_ge(r, 0);
		now = shmq__real_ns() / 1000;
		for (i = 0; i < r; i++) {
			struct got x;

			memset(&x, 0, sizeof(x));
			len = v[i].body_len < sizeof(buf) - 1 ? v[i].body_len :
			    sizeof(buf) - 1;
			memcpy(buf, v[i].body, len);
			buf[len] = '\0';
			x.id = atoi(buf);
			x.recv_us = now;
			if ((s = shmq_msgview_prop(&v[i], SHMQ_PROP_DELIVER_MS,
			    &len)) != NULL && len < sizeof(buf)) {
				memcpy(buf, s, len);
				buf[len] = '\0';
				x.at_ms = strtoull(buf, NULL, 10);
			}
			if ((s = shmq_msgview_prop(&v[i],
			    SHMQ_PROP_ORIGIN_MSG_ID, &len)) != NULL &&
			    len == SHMQ_MSGID_LEN)
				memcpy(x.origin, s, len);
			for (j = 0; j < k; j++)
				if (g[j].id == x.id)
					break;
			if (j == k && k < n)
				g[k++] = x;
		}
	}
	return k;
}

static int
send_delayed(struct shmq_producer *p, const char *topic, int id, int level,
    uint64_t at_ms, struct shmq_send_result *res)
{
	struct shmq_msg m;
	char body[32];

	snprintf(body, sizeof(body), "%d", id);
	shmq_msg_init(&m);
	m.topic = topic;
	m.body = body;
	m.body_len = strlen(body);
	m.delay_level = level;
	m.deliver_at_ms = at_ms;
	return shmq_producer_send(p, &m, res);
}

/* The scheduler finds the delay topic (made by the first delayed send)
 * within its idle check: send one and wait for it. */
static void
warm(struct shmq_producer *p, struct shmq_consumer *c, const char *topic)
{
	struct got g;

	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(send_delayed(p, topic, 9999, 0, real_ms() + 1,
	    NULL), 0);
	if (recv_n(c, &g, 1, 5) != 1) {	/* show why */
		char *l = tt_slurp(tt_shmqd_log());

		fprintf(stderr, "%s\n", l);
		free(l);
	}
	ck_assert_int_eq(g.id, 9999);
	ck_assert_int_eq(g.id, 9999);
}

START_TEST(levels_in_order)
{
	struct shmq_send_result res[4];
	struct shmq_bus *bus;
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct got g[4];
	uint64_t sent[4];
	static const int lv[4] = { 3, 2, 1, 0 };
	static const uint64_t d_ms[4] = { 300, 200, 100, 0 };
	int i;
	pid_t pid = tt_shmqd_start("--delay-levels '100ms 200ms 300ms'");

	ck_assert(tt_shmqd_log_has("started", 1));
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	c = group_on(bus, "d1");
	warm(p, c, "d1");
	for (i = 0; i < 4; i++) {
		sent[i] = real_ms();
		ck_assert_int_eq(send_delayed(p, "d1", i, lv[i], 0, &res[i]),
		    0);
	}
	ck_assert_int_eq(recv_n(c, g, 4, 5), 4);
	/* Due order: the undelayed one, then level 1, 2, 3. */
	for (i = 0; i < 4; i++) {
		int id = 3 - i;

		ck_assert_int_eq(g[i].id, id);
		if (lv[id] == 0)
			continue;
		ck_assert_uint_ge(g[i].at_ms, sent[id] + d_ms[id]);
		ck_assert_uint_ge(g[i].recv_us, g[i].at_ms * 1000);
		ck_assert_str_eq(g[i].origin, res[id].msg_id);
	}
	shmq_consumer_close(c);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
	ck_assert(tt_shmqd_log_has("delayed messages delivered", 1));
}
END_TEST

START_TEST(deliver_at)
{
	static const int64_t off_ms[6] = { 250, 80, -1000, 160, 40, 1300 };
	static const int order[6] = { 2, 4, 1, 3, 0, 5 };
	struct shmq_bus *bus;
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct got g[6];
	uint64_t at[6], now;
	int i;
	pid_t pid = tt_shmqd_start("");

	ck_assert(tt_shmqd_log_has("started", 1));
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	c = group_on(bus, "d2");
	warm(p, c, "d2");
	now = real_ms();
	for (i = 0; i < 6; i++) {
		at[i] = (uint64_t)((int64_t)now + off_ms[i]);
		ck_assert_int_eq(send_delayed(p, "d2", i, 0, at[i], NULL), 0);
	}
	ck_assert_int_eq(recv_n(c, g, 6, 5), 6);
	for (i = 0; i < 6; i++) {
		ck_assert_int_eq(g[i].id, order[i]);
		/* Never early. */
		ck_assert_uint_ge(g[i].recv_us, at[order[i]] * 1000);
		if (off_ms[order[i]] > 0)
			ck_assert_uint_eq(g[i].at_ms, at[order[i]]);
	}
	shmq_consumer_close(c);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
}
END_TEST

START_TEST(bad_input)
{
	struct shmq_bus *bus = tu_bus_open_default();
	struct shmq_producer *p;
	struct shmq_msg m[2];

	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(shmq_topic_create(bus, "d3", 2), 0);
	ck_assert_int_eq(send_delayed(p, "d3", 1, 19, 0, NULL), SHMQ_EINVAL);
	ck_assert_int_eq(send_delayed(p, "d3", 1, -1, 0, NULL), SHMQ_EINVAL);
	ck_assert_int_eq(send_delayed(p, "d3", 1, 1, real_ms() + 10, NULL),
	    SHMQ_EINVAL);
	ck_assert_int_eq(send_delayed(p, "d3", 1, 0, real_ms() +
	    SHMQ_DELAY_MAX_MS + 60000, NULL), SHMQ_EINVAL);
	ck_assert_int_eq(send_delayed(p, "%SCHEDULE%", 1, 1, 0, NULL),
	    SHMQ_ENAME);
	shmq_msg_init(&m[0]);
	m[0].topic = "d3";
	m[0].body = "x";
	m[0].body_len = 1;
	m[0].delay_level = 1;
	m[0].queue = 7;
	ck_assert_int_eq(shmq_producer_send(p, &m[0], NULL), SHMQ_ENOQUEUE);
	/* Batches: no delayed message, first or later. */
	m[0].queue = SHMQ_QUEUE_ANY;
	m[1] = m[0];
	ck_assert_int_eq(shmq_producer_send_batch(p, m, 2, NULL),
	    SHMQ_EINVAL);
	m[0].delay_level = 0;
	ck_assert_int_lt(shmq_producer_send_batch(p, m, 2, NULL), 2);
	/* In the past: at once, to the topic itself (no shmqd running). */
	ck_assert_int_eq(send_delayed(p, "d3", 1, 0, 1, NULL), 0);
	shmq_producer_close(p);
	shmq_bus_close(bus);
}
END_TEST

#define NR	110

START_TEST(restart)
{
	struct shmq_bus *bus;
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct got *g = calloc(NR, sizeof(*g));
	uint64_t due[NR], t;
	int i, k;
	pid_t pid = tt_shmqd_start("--delay-levels '300ms 2s'");

	ck_assert(tt_shmqd_log_has("started", 1));
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	c = group_on(bus, "d4");
	for (i = 0; i < 100; i++) {
		t = real_ms();
		if (i % 2 == 0) {
			due[i] = t + (i % 4 == 0 ? 300 : 2000);
			ck_assert_int_eq(send_delayed(p, "d4", i,
			    i % 4 == 0 ? 1 : 2, 0, NULL), 0);
		} else {
			due[i] = t + 400 + (uint64_t)i;
			ck_assert_int_eq(send_delayed(p, "d4", i, 0, due[i],
			    NULL), 0);
		}
	}
	/* The scheduler has seen the inbox (the topic appeared): kill it
	 * in the middle, the messages moved to level and hop queues. */
	ck_assert(tt_shmqd_log_has("scheduler: delivering", 1));
	usleep(100000);
	kill(pid, SIGKILL);
	ck_assert_int_eq(tu_wait_deadline(pid, 10), 128 + SIGKILL);
	/* More while it is down: stored, not delivered. */
	for (i = 100; i < NR; i++) {
		due[i] = real_ms() + 300;
		ck_assert_int_eq(send_delayed(p, "d4", i, 1, 0, NULL), 0);
	}
	k = recv_n(c, g, NR, 0.8);
	ck_assert_int_lt(k, NR);
	pid = tt_shmqd_start("--delay-levels '300ms 2s'");
	k += recv_n(c, g + k, NR - k, 10);
	ck_assert_int_eq(k, NR);
	for (i = 0; i < NR; i++)
		ck_assert_uint_ge(g[i].recv_us, due[g[i].id] * 1000);
	shmq_consumer_close(c);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	free(g);
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
}
END_TEST

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

#define NL	200

START_TEST(lateness)
{
	struct shmq_bus *bus;
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct got *g = calloc(NL + 1, sizeof(*g));
	int64_t late[NL];
	pid_t child;
	int i;
	pid_t pid = tt_shmqd_start("--delay-levels '50ms 75ms 100ms'");

	ck_assert(tt_shmqd_log_has("started", 1));
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	c = group_on(bus, "d5");
	warm(p, c, "d5");
	/* A child sends, two milliseconds apart, while we receive. */
	if ((child = fork()) == 0) {
		struct shmq_bus *cb = tu_bus_open_default();
		struct shmq_producer *cp;
		int bad = 0;

		if (shmq_producer_open(&cp, cb, NULL) < 0)
			_exit(1);
		for (i = 0; i < NL; i++) {
			if (i % 2 == 0)
				bad |= send_delayed(cp, "d5", i, 1 + i % 3, 0,
				    NULL);
			else
				bad |= send_delayed(cp, "d5", i, 0, real_ms() +
				    50 + (uint64_t)(i % 51), NULL);
			usleep(2000);
		}
		shmq_producer_close(cp);
		shmq_bus_close(cb);
		_exit(bad != 0);
	}
	ck_assert_int_gt(child, 0);
	ck_assert_int_eq(recv_n(c, g, NL, 10), NL);
	ck_assert_int_eq(tu_wait(child), 0);
	for (i = 0; i < NL; i++) {
		ck_assert_uint_gt(g[i].at_ms, 0);
		late[i] = (int64_t)g[i].recv_us - (int64_t)g[i].at_ms * 1000;
		ck_assert_int_ge(late[i], 0);
	}
	qsort(late, NL, sizeof(late[0]), cmp_i64);
	fprintf(stderr, "delay lateness over %d messages (50-100 ms delays): "
	    "p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", NL,
	    late[NL / 2] / 1e3, late[NL * 99 / 100] / 1e3,
	    late[NL - 1] / 1e3);
	ck_assert_int_lt(late[NL * 99 / 100], 500000 * tu_mult());
	shmq_consumer_close(c);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	free(g);
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
}
END_TEST

static Suite *
delay_suite(void)
{
	Suite *s = suite_create("delay");
	TCase *tc = tcase_create("scheduler");
	TCase *tb = tcase_create("input");

	tcase_add_checked_fixture(tc, tt_setup, tt_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, levels_in_order);
	tcase_add_test(tc, deliver_at);
	tcase_add_test(tc, restart);
	tcase_add_test(tc, lateness);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tb, tt_setup, tt_teardown);
	tcase_add_test(tb, bad_input);
	suite_add_tcase(s, tb);
	return s;
}

int
main(void)
{
	return tu_run(delay_suite);
}
