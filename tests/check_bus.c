/*
 * check_bus.c - the public API in one process: bus open and close, topics,
 * every send mode, polling, tag filters, seeks, properties, message ids,
 * and persistence across a close and reopen.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmq/shmq.h>

#include "testutil.h"

static struct shmq_bus *bus;

static void
setup(void)
{
	tu_setup_store();
	ck_assert_int_eq(shmq_bus_open(&bus, NULL, NULL), 0);
}

static void
teardown(void)
{
	shmq_bus_close(bus);
	bus = NULL;
	tu_cleanup_store();
}

static int
send_str(struct shmq_producer *p, const char *topic, const char *body,
    const char *tag, int queue, struct shmq_send_result *res)
{
	struct shmq_msg m;

	shmq_msg_init(&m);
	m.topic = topic;
	m.body = body;
	m.body_len = strlen(body);
	m.tags = tag;
	m.queue = queue;
	return shmq_producer_send(p, &m, res);
}

START_TEST(t_open_close_reopen)
{
	struct shmq_bus_info bi;

	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	ck_assert_str_eq(bi.name, tu_bus());
	ck_assert_uint_eq(bi.topics, 0);
	ck_assert_uint_eq(bi.recoveries, 1);
	ck_assert(strstr(shmq_bus_path(bus), tu_home()) == shmq_bus_path(bus));
	/* A second handle in the same process attaches, no rebuild. */
	{
		struct shmq_bus *b2;

		ck_assert_int_eq(shmq_bus_open(&b2, NULL, NULL), 0);
		ck_assert_int_eq(shmq_bus_info(b2, &bi), 0);
		ck_assert_uint_eq(bi.recoveries, 1);
		shmq_bus_close(b2);
	}
}
END_TEST

START_TEST(t_topic_create)
{
	ck_assert_int_eq(shmq_topic_create(bus, "orders", 8), 0);
	ck_assert_int_eq(shmq_topic_queues(bus, "orders"), 8);
	ck_assert_int_eq(shmq_topic_create(bus, "orders", 8), SHMQ_EEXIST);
	ck_assert_int_eq(shmq_topic_queues(bus, "nope"), SHMQ_ENOTOPIC);
	ck_assert_int_eq(shmq_topic_create(bus, "bad name", 1), SHMQ_ENAME);
	ck_assert(strstr(shmq_errmsg(), "bad name") != NULL);
	ck_assert_int_eq(shmq_topic_create(bus, "z", 0), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_topic_create(bus, "z", 1025), SHMQ_EINVAL);
}
END_TEST

START_TEST(t_send_poll)
{
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_send_result r;
	struct shmq_msgview v[8];
	int i, n;

	ck_assert_int_eq(shmq_topic_create(bus, "t", 1), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, "pg"), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 8, 0), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_consumer_assign(c, "t", SHMQ_QUEUE_ANY, "*"), 0);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 8, 0), 0);
	for (i = 0; i < 5; i++) {
		char b[32];

		snprintf(b, sizeof(b), "m%d", i);
		ck_assert_int_eq(send_str(p, "t", b, NULL, SHMQ_QUEUE_ANY, &r),
		    0);
		ck_assert_int_eq(r.queue, 0);
		ck_assert_uint_eq(r.queue_off, (uint64_t)i);
		ck_assert_uint_eq(strlen(r.msg_id), SHMQ_MSGID_LEN);
	}
	n = shmq_consumer_poll(c, v, 8, 100);
	ck_assert_int_eq(n, 5);
	for (i = 0; i < n; i++) {
		char b[32];

		snprintf(b, sizeof(b), "m%d", i);
		ck_assert_uint_eq(v[i].body_len, strlen(b));
		ck_assert(memcmp(v[i].body, b, v[i].body_len) == 0);
		ck_assert_uint_eq(v[i].queue_off, (uint64_t)i);
		ck_assert(memcmp(v[i].topic, "t", 1) == 0 && v[i].topic_len == 1);
		ck_assert(v[i].store_ns > 0);
	}
	ck_assert_int_eq(shmq_consumer_poll(c, v, 8, 10), 0);
	shmq_consumer_close(c);
	shmq_producer_close(p);
}
END_TEST

START_TEST(t_auto_create_and_queues)
{
	struct shmq_producer *p;
	struct shmq_send_result r;
	int i, seen[4] = { 0 };

	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < 8; i++) {
		ck_assert_int_eq(send_str(p, "auto", "x", NULL, SHMQ_QUEUE_ANY,
		    &r), 0);
		seen[r.queue]++;
	}
	ck_assert_int_eq(shmq_topic_queues(bus, "auto"), 4);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(seen[i], 2);	/* round robin */
	ck_assert_int_eq(send_str(p, "auto", "x", NULL, 4, &r), SHMQ_ENOQUEUE);
	ck_assert_int_eq(send_str(p, "auto", "x", NULL, 3, &r), 0);
	ck_assert_int_eq(r.queue, 3);
	shmq_producer_close(p);
}
END_TEST

START_TEST(t_shard_key_order)
{
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msgview v[64];
	struct shmq_msg m;
	struct shmq_send_result r;
	char body[32];
	int i, n, q = -1, got = 0;

	ck_assert_int_eq(shmq_topic_create(bus, "sk", 8), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < 40; i++) {
		shmq_msg_init(&m);
		m.topic = "sk";
		snprintf(body, sizeof(body), "%d", i);
		m.body = body;
		m.body_len = strlen(body);
		m.shard_key = "order-42";
		m.shard_key_len = 8;
		ck_assert_int_eq(shmq_producer_send(p, &m, &r), 0);
		if (q < 0)
			q = r.queue;
		ck_assert_int_eq(r.queue, q);
	}
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "sk", q, NULL), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, "sk", q, SHMQ_SEEK_FIRST, 0), 0);
	while ((n = shmq_consumer_poll(c, v, 64, 50)) > 0) {
		for (i = 0; i < n; i++) {
			snprintf(body, sizeof(body), "%d", got++);
			ck_assert(v[i].body_len == strlen(body) &&
			    memcmp(v[i].body, body, v[i].body_len) == 0);
		}
	}
	ck_assert_int_eq(got, 40);
	shmq_consumer_close(c);
	shmq_producer_close(p);
}
END_TEST

START_TEST(t_tags_keys_props)
{
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msgview v[16];
	struct shmq_prop props[2] = { { "color", "red" }, { "n", "7" } };
	struct shmq_msg m;
	const char *val;
	size_t len;
	int n;

	ck_assert_int_eq(shmq_topic_create(bus, "tg", 1), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(send_str(p, "tg", "a1", "a", 0, NULL), 0);
	ck_assert_int_eq(send_str(p, "tg", "b1", "b", 0, NULL), 0);
	ck_assert_int_eq(send_str(p, "tg", "c1", "c", 0, NULL), 0);
	ck_assert_int_eq(send_str(p, "tg", "none", NULL, 0, NULL), 0);
	shmq_msg_init(&m);
	m.topic = "tg";
	m.body = "p";
	m.body_len = 1;
	m.tags = "a";
	m.keys = "k1 k2";
	m.props = props;
	m.nprops = 2;
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);

	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "tg", 0, "a || c"), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, NULL, SHMQ_QUEUE_ANY,
	    SHMQ_SEEK_FIRST, 0), 0);
	n = shmq_consumer_poll(c, v, 16, 50);
	ck_assert_int_eq(n, 3);
	ck_assert(memcmp(v[0].body, "a1", 2) == 0);
	ck_assert(memcmp(v[1].body, "c1", 2) == 0);
	ck_assert(v[2].keys_len == 5 && memcmp(v[2].keys, "k1 k2", 5) == 0);
	ck_assert(v[2].tags_len == 1 && v[2].tags[0] == 'a');
	val = shmq_msgview_prop(&v[2], "color", &len);
	ck_assert(val != NULL && len == 3 && memcmp(val, "red", 3) == 0);
	val = shmq_msgview_prop(&v[2], "n", &len);
	ck_assert(val != NULL && len == 1 && val[0] == '7');
	ck_assert(shmq_msgview_prop(&v[2], "nope", &len) == NULL);
	ck_assert(shmq_msgview_prop(&v[0], "color", &len) == NULL);
	ck_assert_int_eq(shmq_consumer_assign(c, "tg", 0, "a |"),
	    SHMQ_EBADEXPR);
	shmq_consumer_close(c);
	shmq_producer_close(p);
}
END_TEST

START_TEST(t_seek)
{
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msgview v[16];
	uint64_t mid_ms, pos;
	int i, n;

	ck_assert_int_eq(shmq_topic_create(bus, "s", 1), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(send_str(p, "s", "early", NULL, 0, NULL), 0);
	usleep(20000);
	mid_ms = shmq_now_ns() / 1000000;
	usleep(20000);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(send_str(p, "s", "late", NULL, 0, NULL), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "s", 0, NULL), 0);
	/* New assignments start after the newest message. */
	ck_assert_int_eq(shmq_consumer_poll(c, v, 16, 0), 0);
	ck_assert_int_eq(shmq_consumer_position(c, "s", 0, &pos), 0);
	ck_assert_uint_eq(pos, 10);
	ck_assert_int_eq(shmq_consumer_seek(c, "s", 0, SHMQ_SEEK_TIME, mid_ms),
	    0);
	n = shmq_consumer_poll(c, v, 16, 0);
	ck_assert_int_eq(n, 5);
	ck_assert(memcmp(v[0].body, "late", 4) == 0);
	ck_assert_uint_eq(v[0].queue_off, 5);
	ck_assert_int_eq(shmq_consumer_seek(c, "s", 0, SHMQ_SEEK_OFFSET, 3), 0);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 16, 0), 7);
	ck_assert_int_eq(shmq_consumer_seek(c, "s", 0, SHMQ_SEEK_OFFSET, 99), 0);
	ck_assert_int_eq(shmq_consumer_position(c, "s", 0, &pos), 0);
	ck_assert_uint_eq(pos, 10);
	ck_assert_int_eq(shmq_consumer_seek(c, "s", 0, SHMQ_SEEK_FIRST, 0), 0);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 16, 0), 10);
	ck_assert_int_eq(shmq_consumer_seek(c, "s", 0, SHMQ_SEEK_TIME,
	    shmq_now_ns() / 1000000 + 100000), 0);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 16, 0), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, "other", 0, SHMQ_SEEK_FIRST, 0),
	    SHMQ_ENOTOPIC);
	shmq_consumer_close(c);
	shmq_producer_close(p);
}
END_TEST

static int async_status = 1;
static struct shmq_send_result async_res;

static void
async_cb(void *arg, int status, const struct shmq_send_result *res)
{
	*(int *)arg += 1;
	async_status = status;
	if (res != NULL)
		async_res = *res;
}

START_TEST(t_async_batch_oneway)
{
	struct shmq_producer *p;
	struct shmq_msg ms[10];
	struct shmq_send_result rs[10];
	int i, calls = 0;

	ck_assert_int_eq(shmq_topic_create(bus, "b", 2), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	shmq_msg_init(&ms[0]);
	ms[0].topic = "b";
	ms[0].body = "x";
	ms[0].body_len = 1;
	ck_assert_int_eq(shmq_producer_send_async(p, &ms[0], async_cb, &calls),
	    0);
	ck_assert_int_eq(calls, 1);
	ck_assert_int_eq(async_status, 0);
	ck_assert_uint_eq(strlen(async_res.msg_id), SHMQ_MSGID_LEN);
	ck_assert_int_eq(shmq_producer_send_async(p, &ms[0], NULL, NULL),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_producer_send_oneway(p, &ms[0]), 0);
	for (i = 0; i < 10; i++)
		ms[i] = ms[0];
	ck_assert_int_eq(shmq_producer_send_batch(p, ms, 10, rs), 10);
	for (i = 1; i < 10; i++) {
		ck_assert_int_eq(rs[i].queue, rs[0].queue);
		ck_assert(rs[i].queue_off == rs[i - 1].queue_off + 1);
	}
	ms[5].topic = "other";
	ck_assert_int_eq(shmq_producer_send_batch(p, ms, 10, rs), 5);
	shmq_producer_close(p);
}
END_TEST

START_TEST(t_multi_topic_sleep)
{
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msgview v[4];
	uint64_t t0;
	pid_t pid;
	int n;

	ck_assert_int_eq(shmq_topic_create(bus, "x1", 1), 0);
	ck_assert_int_eq(shmq_topic_create(bus, "x2", 1), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "x1", 0, NULL), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "x2", 0, NULL), 0);
	pid = fork();
	if (pid == 0) {
		struct shmq_bus *b;

		usleep(200000);
		if (shmq_bus_open(&b, NULL, NULL) < 0 ||
		    shmq_producer_open(&p, b, NULL) < 0 ||
		    send_str(p, "x2", "wake", NULL, 0, NULL) < 0)
			_exit(1);
		shmq_producer_close(p);
		shmq_bus_close(b);
		_exit(0);
	}
	t0 = tu_mono_ns();
	n = shmq_consumer_poll(c, v, 4, 5000);
	ck_assert_int_eq(n, 1);
	ck_assert(memcmp(v[0].body, "wake", 4) == 0);
	/* Woken by the producer, not by the timeout. */
	ck_assert(tu_mono_ns() - t0 < 3000000000ull);
	ck_assert_int_eq(tu_wait(pid), 0);
	shmq_consumer_close(c);
}
END_TEST

START_TEST(t_persist)
{
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msgview v[4];
	struct shmq_send_result r;
	struct shmq_bus_info bi;

	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(send_str(p, "keep", "one", NULL, 1, &r), 0);
	ck_assert_int_eq(send_str(p, "keep", "two", NULL, 1, &r), 0);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	ck_assert_int_eq(shmq_bus_open(&bus, NULL, NULL), 0);
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	ck_assert_uint_eq(bi.topics, 1);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "keep", 1, NULL), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, "keep", 1, SHMQ_SEEK_FIRST, 0), 0);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 4, 0), 2);
	ck_assert(memcmp(v[1].body, "two", 3) == 0);
	ck_assert_uint_eq(v[1].queue_off, 1);
	ck_assert_str_eq(v[1].msg_id, r.msg_id);
	/* Offsets go on from where they were. */
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(send_str(p, "keep", "three", NULL, 1, &r), 0);
	ck_assert_uint_eq(r.queue_off, 2);
	shmq_producer_close(p);
	shmq_consumer_close(c);
}
END_TEST

START_TEST(t_segment_roll)
{
	struct shmq_bus_opts o;
	struct shmq_bus *b;
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msgview v[64];
	struct shmq_msg m;
	struct shmq_bus_info bi;
	static char body[100000];
	int i, n, got = 0, bad = 0;

	shmq_bus_opts_init(&o);
	o.segment_bytes = 1 << 20;
	o.cq_entries = 128;
	ck_assert_int_eq(shmq_bus_open(&b, "roll", &o), 0);
	ck_assert_int_eq(shmq_producer_open(&p, b, NULL), 0);
	ck_assert_int_eq(shmq_topic_create(b, "r", 1), 0);
	for (i = 0; i < 300; i++) {
		shmq_msg_init(&m);
		m.topic = "r";
		memset(body, 'a' + i % 26, sizeof(body));
		m.body = body;
		m.body_len = (size_t)(i * 997) % sizeof(body);
		ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	}
	ck_assert_int_eq(shmq_bus_info(b, &bi), 0);
	ck_assert(bi.segments > 10);
	ck_assert_int_eq(shmq_consumer_open(&c, b), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "r", 0, NULL), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, "r", 0, SHMQ_SEEK_FIRST, 0), 0);
	while ((n = shmq_consumer_poll(c, v, 64, 0)) > 0) {
		for (i = 0; i < n; i++, got++) {
			const char *bd = v[i].body;
			size_t k;

			if (v[i].body_len != (size_t)(got * 997) % sizeof(body))
				bad++;
			for (k = 0; k < v[i].body_len; k++)
				if (bd[k] != 'a' + got % 26) {
					bad++;
					break;
				}
		}
	}
	ck_assert_int_eq(got, 300);
	ck_assert_int_eq(bad, 0);
	shmq_consumer_close(c);
	shmq_producer_close(p);
	shmq_bus_close(b);
}
END_TEST

/* shmq_bus_prefault makes the segments ahead of the tail, and the sends
 * that fill them see the same log as without it. */
START_TEST(t_prefault)
{
	struct shmq_bus_opts o;
	struct shmq_bus *b;
	struct shmq_producer *p;
	struct shmq_bus_info bi;
	struct shmq_send_result r;
	struct shmq_msg m;
	char seg[4096];

	shmq_bus_opts_init(&o);
	o.segment_bytes = 1 << 20;
	ck_assert_int_eq(shmq_bus_open(&b, "pf", &o), 0);
	ck_assert_int_eq(shmq_bus_prefault(NULL, 1), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_bus_prefault(b, UINT64_MAX), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_bus_prefault(b, 0), 0);
	/* 2.5 MiB ahead of tail 0: segments 0, 1 and 2. */
	ck_assert_int_eq(shmq_bus_prefault(b, (5u << 20) / 2), 0);
	ck_assert_int_eq(shmq_bus_info(b, &bi), 0);
	ck_assert_uint_ge(bi.segments, 3);
	snprintf(seg, sizeof(seg), "%s/commitlog/%020llu", shmq_bus_path(b),
	    (unsigned long long)(2u << 20));
	ck_assert_int_eq(access(seg, F_OK), 0);
	ck_assert_int_eq(shmq_producer_open(&p, b, NULL), 0);
	shmq_msg_init(&m);
	m.topic = "pf";
	m.body = "x";
	m.body_len = 1;
	ck_assert_int_eq(shmq_producer_send(p, &m, &r), 0);
	ck_assert_uint_eq(r.log_off, 0);
	ck_assert_uint_eq(r.queue_off, 0);
	shmq_producer_close(p);
	shmq_bus_close(b);
}
END_TEST

START_TEST(t_missing_bus)
{
	struct shmq_bus_opts o;
	struct shmq_bus *b;

	shmq_bus_opts_init(&o);
	o.create = 0;
	ck_assert_int_eq(shmq_bus_open(&b, "nosuch", &o), SHMQ_ENOENT);
	ck_assert(strstr(shmq_errmsg(), "nosuch") != NULL);
	ck_assert_int_eq(shmq_bus_open(&b, "bad/name", NULL), SHMQ_ENAME);
}
END_TEST

static Suite *
make(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("api");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_open_close_reopen);
	tcase_add_test(tc, t_topic_create);
	tcase_add_test(tc, t_send_poll);
	tcase_add_test(tc, t_auto_create_and_queues);
	tcase_add_test(tc, t_shard_key_order);
	tcase_add_test(tc, t_tags_keys_props);
	tcase_add_test(tc, t_seek);
	tcase_add_test(tc, t_async_batch_oneway);
	tcase_add_test(tc, t_multi_topic_sleep);
	tcase_add_test(tc, t_persist);
	tcase_add_test(tc, t_segment_roll);
	tcase_add_test(tc, t_prefault);
	tcase_add_test(tc, t_missing_bus);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(make);
}
