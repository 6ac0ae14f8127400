/*
 * check_query.c - shmq_query_id and shmq_query_time through the public API.
 *
 * By id: every message sent comes back whole (topic, queue, offsets, body)
 * before and after the bus is closed by its only process and reopened
 * (the control region rebuilt from the store), across segment rolls;
 * ids of another store, malformed ids, offsets beyond the tail or where no
 * message starts are refused; a record changed in place is SHMQ_ECORRUPT.
 * By time: messages sent at least a millisecond apart, so that each store
 * time is its own millisecond; ranges with their edges on those store
 * times return exactly the messages in [from, to), per queue in offset
 * order.  Stores use 1 MiB segments and 1024-entry index files.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmq/shmq.h>

#include "testutil.h"

#define TOPIC	"q.topic"
#define NQ	3
#define NMSG	60

struct sent {
	struct shmq_send_result	 res;
	char			 body[64];
	size_t			 len;
	uint64_t		 store_ms;
};

static struct sent sent[NMSG];

static struct shmq_bus *
bus_open(void)
{
	struct shmq_bus *bus;

	ck_assert_int_eq(tu_bus_open(&bus, 1 << 20, 1024), 0);
	return bus;
}

/* Send N messages to TOPIC (NQ queues), GAP_US apart; big ones every
 * tenth so that the 1 MiB segments roll. */
static void
send_all(struct shmq_bus *bus, int n, unsigned gap_us)
{
	static char big[200000];
	struct shmq_producer *p;
	struct shmq_msg m;
	int i;

	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, NQ), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < n; i++) {
		shmq_msg_init(&m);
		m.topic = TOPIC;
		m.tags = "t";
		m.keys = "k";
		if (i % 10 == 9) {
			memset(big, 'a' + i % 26, sizeof(big));
			snprintf(sent[i].body, sizeof(sent[i].body), "big %d",
			    i);
			memcpy(big, sent[i].body, strlen(sent[i].body));
			m.body = big;
			m.body_len = sizeof(big);
		} else {
			snprintf(sent[i].body, sizeof(sent[i].body),
			    "message %d", i);
			m.body = sent[i].body;
			m.body_len = strlen(sent[i].body);
		}
		sent[i].len = m.body_len;
		ck_assert_int_eq(shmq_producer_send(p, &m, &sent[i].res), 0);
		if (gap_us > 0)
			usleep(gap_us);
	}
	shmq_producer_close(p);
}

static void
check_view(const struct shmq_msgview *v, int i)
{
	ck_assert_str_eq(v->msg_id, sent[i].res.msg_id);
	ck_assert_uint_eq(v->topic_len, strlen(TOPIC));
	ck_assert(memcmp(v->topic, TOPIC, v->topic_len) == 0);
	ck_assert_int_eq(v->queue, sent[i].res.queue);
	ck_assert_uint_eq(v->queue_off, sent[i].res.queue_off);
	ck_assert_uint_eq(v->log_off, sent[i].res.log_off);
	ck_assert_uint_eq(v->body_len, sent[i].len);
	ck_assert(memcmp(v->body, sent[i].body, strlen(sent[i].body)) == 0);
	ck_assert_uint_eq(v->tags_len, 1);
	ck_assert_uint_eq(v->keys_len, 1);
}

static void
query_all(struct shmq_bus *bus)
{
	struct shmq_msgview v;
	int i;

	for (i = 0; i < NMSG; i++) {
		ck_assert_msg(shmq_query_id(bus, sent[i].res.msg_id, &v) == 0,
		    "%s: %s", sent[i].res.msg_id, shmq_errmsg());
		check_view(&v, i);
		sent[i].store_ms = v.store_ns / 1000000;
	}
}

START_TEST(test_id_roundtrip)
{
	struct shmq_bus *bus = bus_open();
	struct shmq_bus_info bi;

	send_all(bus, NMSG, 0);
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	ck_assert_uint_gt(bi.segments, 1);
	query_all(bus);
	/* Every process gone: the next open rebuilds from the store. */
	shmq_bus_close(bus);
	bus = bus_open();
	query_all(bus);
	shmq_bus_close(bus);
}
END_TEST

/* ID with its offset replaced by OFF. */
static void
id_at(char *id, const char *from, uint64_t off)
{
	char tmp[SHMQ_MSGID_LEN + 2];

	snprintf(tmp, sizeof(tmp), "%.16s%016llX", from,
	    (unsigned long long)off);
	memcpy(id, tmp, SHMQ_MSGID_LEN + 1);
}

START_TEST(test_id_bad)
{
	static const char *garbage[] = {
		"", "xyz", "0123456789ABCDEF0123456789ABCDE",
		"0123456789ABCDEF0123456789ABCDEF0", "0123456789ABCDEFG123456789ABCDEF",
		"0123456789ABCDEF 123456789ABCDEF", "-123456789ABCDEF0123456789ABCDEF",
	};
	struct shmq_bus *bus = bus_open();
	struct shmq_bus_info bi;
	struct shmq_msgview v;
	char id[SHMQ_MSGID_LEN + 1];
	size_t i;

	send_all(bus, 12, 0);
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		ck_assert_msg(shmq_query_id(bus, garbage[i], &v) == SHMQ_EINVAL,
		    "\"%s\"", garbage[i]);
	ck_assert_int_eq(shmq_query_id(bus, NULL, &v), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_query_id(bus, sent[0].res.msg_id, NULL),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_query_id(NULL, sent[0].res.msg_id, &v),
	    SHMQ_EINVAL);

	/* Another store: the first digit changed. */
	memcpy(id, sent[3].res.msg_id, sizeof(id));
	id[0] = id[0] == '1' ? '2' : '1';
	ck_assert_int_eq(shmq_query_id(bus, id, &v), SHMQ_ENOENT);
	ck_assert_msg(strstr(shmq_errmsg(), "another store") != NULL, "%s",
	    shmq_errmsg());

	/* At and beyond the tail. */
	id_at(id, sent[0].res.msg_id, bi.log_tail_off);
	ck_assert_int_eq(shmq_query_id(bus, id, &v), SHMQ_ENOENT);
	ck_assert_msg(strstr(shmq_errmsg(), "tail") != NULL, "%s",
	    shmq_errmsg());
	id_at(id, sent[0].res.msg_id, bi.log_tail_off + 4096);
	ck_assert_int_eq(shmq_query_id(bus, id, &v), SHMQ_ENOENT);
	id_at(id, sent[0].res.msg_id, UINT64_MAX - 7);
	ck_assert_int_eq(shmq_query_id(bus, id, &v), SHMQ_ENOENT);
	/* Inside a record: misaligned, in its header, in its body. */
	id_at(id, sent[5].res.msg_id, sent[5].res.log_off + 1);
	ck_assert_int_eq(shmq_query_id(bus, id, &v), SHMQ_ENOENT);
	id_at(id, sent[5].res.msg_id, sent[5].res.log_off + 8);
	ck_assert_int_eq(shmq_query_id(bus, id, &v), SHMQ_ENOENT);
	id_at(id, sent[9].res.msg_id, sent[9].res.log_off + 4096);
	ck_assert_int_eq(shmq_query_id(bus, id, &v), SHMQ_ENOENT);
	/* The real ones still work. */
	ck_assert_int_eq(shmq_query_id(bus, sent[5].res.msg_id, &v), 0);
	shmq_bus_close(bus);
}
END_TEST

START_TEST(test_id_corrupt)
{
	struct shmq_bus *bus = bus_open();
	struct shmq_msgview v;
	char *b;

	send_all(bus, 4, 0);
	ck_assert_int_eq(shmq_query_id(bus, sent[2].res.msg_id, &v), 0);
	/* Change a body byte in place (the log is a shared file mapping). */
	b = (char *)(uintptr_t)v.body;
	b[0] ^= 0x20;
	ck_assert_int_eq(shmq_query_id(bus, sent[2].res.msg_id, &v),
	    SHMQ_ECORRUPT);
	ck_assert_msg(strstr(shmq_errmsg(), sent[2].res.msg_id) != NULL &&
	    strstr(shmq_errmsg(), "CRC") != NULL, "%s", shmq_errmsg());
	ck_assert_int_eq(shmq_query_id(bus, sent[1].res.msg_id, &v), 0);
	check_view(&v, 1);
	ck_assert_int_eq(shmq_query_id(bus, sent[3].res.msg_id, &v), 0);
	b[0] ^= 0x20;
	ck_assert_int_eq(shmq_query_id(bus, sent[2].res.msg_id, &v), 0);
	check_view(&v, 2);
	shmq_bus_close(bus);
}
END_TEST

/* ------------------------------------------------------------------ */
/* By time                                                             */
/* ------------------------------------------------------------------ */

struct got {
	int	 idx[NMSG];
	int	 n;
	int	 stop_after;	/* 0: never */
	int	 bad;		/* out of per-queue order */
	int	 lastq;
	uint64_t lastoff;
};

static int
got_cb(void *arg, const struct shmq_msgview *v)
{
	struct got *g = arg;
	int i;

	for (i = 0; i < NMSG; i++)
		if (strcmp(sent[i].res.msg_id, v->msg_id) == 0)
			break;
	if (i == NMSG || g->n == NMSG)
		return -1000;
	check_view(v, i);
	/* Queues in order, offsets rising within each. */
	if (g->n > 0 && (v->queue < g->lastq ||
	    (v->queue == g->lastq && v->queue_off <= g->lastoff)))
		g->bad++;
	g->lastq = v->queue;
	g->lastoff = v->queue_off;
	g->idx[g->n++] = i;
	if (g->stop_after > 0 && g->n == g->stop_after)
		return 7;
	return 0;
}

/* Query [FROM, TO) and check that exactly the messages sent in it came. */
static void
expect_range(struct shmq_bus *bus, int n, uint64_t from, uint64_t to)
{
	struct got g;
	int i, j, want = 0, seen;

	memset(&g, 0, sizeof(g));
	ck_assert_msg(shmq_query_time(bus, TOPIC, from, to, got_cb, &g) == 0,
	    "%s", shmq_errmsg());
	ck_assert_int_eq(g.bad, 0);
	for (i = 0; i < n; i++) {
		int in = sent[i].store_ms >= from && sent[i].store_ms < to;

		seen = 0;
		for (j = 0; j < g.n; j++)
			seen += g.idx[j] == i;
		ck_assert_msg(seen == in, "message %d (stored %llu) in "
		    "[%llu, %llu): seen %d times", i,
		    (unsigned long long)sent[i].store_ms,
		    (unsigned long long)from, (unsigned long long)to, seen);
		want += in;
	}
	ck_assert_int_eq(g.n, want);
}

START_TEST(test_time_range)
{
	struct shmq_bus *bus = bus_open();
	const int n = 30;
	struct got g;
	int i;

	tu_seed("test_time_range");
	send_all(bus, n, 1500);
	for (i = 0; i < n; i++) {
		struct shmq_msgview v;

		ck_assert_int_eq(shmq_query_id(bus, sent[i].res.msg_id, &v), 0);
		sent[i].store_ms = v.store_ns / 1000000;
		if (i > 0)
			ck_assert_uint_gt(sent[i].store_ms,
			    sent[i - 1].store_ms);
	}
	expect_range(bus, n, 0, UINT64_MAX);
	expect_range(bus, n, sent[0].store_ms, sent[n - 1].store_ms + 1);
	/* Edges on store times: FROM is in, TO is out. */
	expect_range(bus, n, sent[4].store_ms, sent[17].store_ms);
	expect_range(bus, n, sent[4].store_ms + 1, sent[17].store_ms + 1);
	expect_range(bus, n, sent[10].store_ms, sent[11].store_ms);
	expect_range(bus, n, sent[10].store_ms, sent[10].store_ms);
	expect_range(bus, n, 0, sent[0].store_ms);
	expect_range(bus, n, sent[n - 1].store_ms + 1, UINT64_MAX);
	for (i = 0; i < 8; i++) {
		int a = (int)(tu_rand() % n), b = (int)(tu_rand() % n);

		if (a > b) {
			int t = a;

			a = b;
			b = t;
		}
		expect_range(bus, n, sent[a].store_ms, sent[b].store_ms);
	}

	/* The callback stops it. */
	memset(&g, 0, sizeof(g));
	g.stop_after = 3;
	ck_assert_int_eq(shmq_query_time(bus, TOPIC, 0, UINT64_MAX, got_cb,
	    &g), 7);
	ck_assert_int_eq(g.n, 3);

	/* Errors. */
	ck_assert_int_eq(shmq_query_time(bus, "nosuch", 0, 10, got_cb, &g),
	    SHMQ_ENOTOPIC);
	ck_assert_int_eq(shmq_query_time(bus, TOPIC, 10, 9, got_cb, &g),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_query_time(bus, TOPIC, 0, 10, NULL, &g),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_query_time(bus, NULL, 0, 10, got_cb, &g),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_query_time(NULL, TOPIC, 0, 10, got_cb, &g),
	    SHMQ_EINVAL);

	/* After a reopen, from the rebuilt index. */
	shmq_bus_close(bus);
	bus = bus_open();
	expect_range(bus, n, sent[3].store_ms, sent[25].store_ms);
	shmq_bus_close(bus);
}
END_TEST

START_TEST(test_time_corrupt)
{
	struct shmq_bus *bus = bus_open();
	struct shmq_msgview v;
	struct got g;
	char *b;

	send_all(bus, 6, 0);
	ck_assert_int_eq(shmq_query_id(bus, sent[4].res.msg_id, &v), 0);
	b = (char *)(uintptr_t)v.body;
	b[0] ^= 0x20;
	/* Every other message is delivered, then the damage reported. */
	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(shmq_query_time(bus, TOPIC, 0, UINT64_MAX, got_cb,
	    &g), SHMQ_ECORRUPT);
	ck_assert_int_eq(g.n, 5);
	ck_assert_msg(strstr(shmq_errmsg(), TOPIC) != NULL &&
	    strstr(shmq_errmsg(), "CRC") != NULL, "%s", shmq_errmsg());
	b[0] ^= 0x20;
	shmq_bus_close(bus);
}
END_TEST

static Suite *
query_suite(void)
{
	Suite *s = suite_create("query");
	TCase *tc = tcase_create("by_id");

	tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_id_roundtrip);
	tcase_add_test(tc, test_id_bad);
	tcase_add_test(tc, test_id_corrupt);
	suite_add_tcase(s, tc);

	tc = tcase_create("by_time");
	tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_time_range);
	tcase_add_test(tc, test_time_corrupt);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(query_suite);
}
