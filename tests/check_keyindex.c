/*
 * check_keyindex.c - shmq_query_key and the key index shmqd builds.
 *
 * shmqd runs with 50 ms flushes and 32-entry index files (so that the
 * index rolls to new files).  Messages carry several keys, some shared,
 * one listed twice, and a second topic shares a key: each query returns
 * exactly the messages of its topic holding the key, each once.  The
 * index persists across a restart of shmqd, and what was sent while shmqd
 * was down is indexed once it runs again.  shmq-admin query --key prints
 * the same.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmq/shmq.h>

#include "testutil.h"
#include "tooltest.h"

#define TOPIC	"k.topic"
#define OTHER	"k.other"
#define NMSG	40
#define NMORE	10

struct got {
	uint64_t	 mask;	/* bit I: message I of TOPIC */
	int		 n;	/* calls */
	int		 dup;	/* a message seen twice */
	int		 wrong;	/* not of TOPIC */
};

static int
got_cb(void *arg, const struct shmq_msgview *v)
{
	struct got *g = arg;
	int i;

	g->n++;
	if (v->topic_len != strlen(TOPIC) ||
	    memcmp(v->topic, TOPIC, v->topic_len) != 0 ||
	    sscanf((const char *)v->body, "m%d", &i) != 1 || i < 0 ||
	    i >= 64) {
		g->wrong++;
		return 0;
	}
	if (g->mask & (1ull << i))
		g->dup++;
	g->mask |= 1ull << i;
	return 0;
}

static struct got
query(struct shmq_bus *bus, const char *topic, const char *key, size_t max)
{
	struct got g;

	memset(&g, 0, sizeof(g));
	ck_assert_int_eq(shmq_query_key(bus, topic, key, max, got_cb, &g), 0);
	return g;
}

/* Send messages FROM..TO-1 of TOPIC: keys "id-I all", "even" for even I,
 * "x x" (twice) for I % 5 == 0; body "mI". */
static void
send_range(struct shmq_bus *bus, int from, int to)
{
	struct shmq_producer *p;
	struct shmq_msg m;
	char keys[64], body[16];
	int i;

	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = from; i < to; i++) {
		snprintf(keys, sizeof(keys), "id-%d all%s%s", i,
		    i % 2 == 0 ? " even" : "", i % 5 == 0 ? " x x" : "");
		snprintf(body, sizeof(body), "m%d", i);
		shmq_msg_init(&m);
		m.topic = TOPIC;
		m.keys = keys;
		m.body = body;
		m.body_len = strlen(body) + 1;
		ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	}
	shmq_producer_close(p);
}

static void
send_other(struct shmq_bus *bus, int n)
{
	struct shmq_producer *p;
	struct shmq_msg m;
	int i;

	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < n; i++) {
		shmq_msg_init(&m);
		m.topic = OTHER;
		m.keys = "all id-1";
		m.body = "other";
		m.body_len = 6;
		ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	}
	shmq_producer_close(p);
}

static uint64_t
bits(int from, int to, int step)
{
	uint64_t m = 0;
	int i;

	for (i = from; i < to; i += step)
		m |= 1ull << i;
	return m;
}

/* Wait (5 s) until KEY of topic T finds N messages. */
static bool
wait_count(struct shmq_bus *bus, const char *t, const char *key, int n)
{
	uint64_t deadline = tu_mono_ns() + 5000000000ull *
	    (getenv("CK_TIMEOUT_MULTIPLIER") ? (uint64_t)atoi(
	    getenv("CK_TIMEOUT_MULTIPLIER")) + 1 : 1);
	struct got g;

	do {
		g = query(bus, t, key, 0);
		if (g.n == n)
			return true;
		usleep(20000);
	} while (tu_mono_ns() < deadline);
	return false;
}

static int
index_files(struct shmq_bus *bus)
{
	ck_assert_int_eq(tt_run("{ ls %s/index | wc -l; }", shmq_bus_path(bus)),
	    0);
	return atoi(tt_out);
}

static void
check_all(struct shmq_bus *bus, int n)
{
	struct got g;

	g = query(bus, TOPIC, "all", 0);
	ck_assert_int_eq(g.n, n);
	ck_assert_int_eq(g.dup, 0);
	ck_assert_int_eq(g.wrong, 0);
	ck_assert(g.mask == bits(0, n, 1));
	g = query(bus, TOPIC, "even", 0);
	ck_assert(g.mask == bits(0, n, 2));
	ck_assert_int_eq(g.n, (n + 1) / 2);
	g = query(bus, TOPIC, "x", 0);
	ck_assert(g.mask == bits(0, n, 5));
	ck_assert_int_eq(g.dup, 0);
	g = query(bus, TOPIC, "id-7", 0);
	ck_assert(g.mask == 1ull << 7);
	ck_assert_int_eq(g.n, 1);
	/* id-1 is also a key of OTHER's messages: not returned. */
	g = query(bus, TOPIC, "id-1", 0);
	ck_assert_int_eq(g.n, 1);
	ck_assert_int_eq(g.wrong, 0);
	g = query(bus, OTHER, "all", 0);
	ck_assert_int_eq(g.n, 3);
	g = query(bus, TOPIC, "nobody", 0);
	ck_assert_int_eq(g.n, 0);
	g = query(bus, TOPIC, "id-", 0);	/* a prefix is no key */
	ck_assert_int_eq(g.n, 0);
	g = query(bus, TOPIC, "all", 5);
	ck_assert_int_eq(g.n, 5);
}

START_TEST(index_and_restart)
{
	struct shmq_bus *bus;
	struct got g;
	pid_t pid;

	ck_assert_int_eq(setenv("SHMQ_KEYINDEX_ENTRIES", "32", 1), 0);
	pid = tt_shmqd_start("--flush-interval 50");
	ck_assert(tt_shmqd_log_has("started", 1));
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 2), 0);
	ck_assert_int_eq(shmq_topic_create(bus, OTHER, 1), 0);
	send_range(bus, 0, NMSG);
	send_other(bus, 3);
	ck_assert(wait_count(bus, TOPIC, "all", NMSG));
	/* OTHER's were sent after: the indexer may not be there yet. */
	ck_assert(wait_count(bus, OTHER, "all", 3));
	check_all(bus, NMSG);
	ck_assert_int_gt(index_files(bus), 1);	/* 32-entry files rolled */

	/* Bad keys and topics. */
	ck_assert_int_eq(shmq_query_key(bus, TOPIC, "", 0, got_cb, &g),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_query_key(bus, TOPIC, "a b", 0, got_cb, &g),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_query_key(bus, "k.none", "all", 0, got_cb,
	    &g), SHMQ_ENOTOPIC);

	/* The tool. */
	ck_assert_int_eq(tt_run("%s query -t %s --key id-3 --json",
	    tu_prog("utils/shmq-admin"), TOPIC), 0);
	ck_assert(tt_json_valid(tt_out));
	ck_assert_contains(tt_out, "\"count\":1,");
	ck_assert_contains(tt_out, "\"keys\":\"id-3 all\"");
	ck_assert_int_eq(tt_run("%s query -t %s --key even",
	    tu_prog("utils/shmq-admin"), TOPIC), 0);
	ck_assert_int_eq(tt_count_lines(tt_out), 1 + NMSG / 2);
	ck_assert_int_eq(tt_run("%s query -t %s --key id-3 --from -1h",
	    tu_prog("utils/shmq-admin"), TOPIC), 2);

	/* Down: sent, not indexed. */
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
	send_range(bus, NMSG, NMSG + NMORE);
	g = query(bus, TOPIC, "all", 0);
	ck_assert_int_eq(g.n, NMSG);
	g = query(bus, TOPIC, "id-45", 0);
	ck_assert_int_eq(g.n, 0);

	/* Up again: the old index persists, the rest is caught up. */
	pid = tt_shmqd_start("--flush-interval 50");
	ck_assert(tt_shmqd_log_has("started", 2));
	ck_assert(wait_count(bus, TOPIC, "all", NMSG + NMORE));
	check_all(bus, NMSG + NMORE);
	g = query(bus, TOPIC, "id-45", 0);
	ck_assert(g.mask == 1ull << 45);
	shmq_bus_close(bus);
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
	ck_assert(tt_shmqd_log_has("indexer: ", 2));
}
END_TEST

/* A damaged index file is passed over; the others still answer. */
START_TEST(damaged_file)
{
	struct shmq_bus *bus;
	struct got g;
	pid_t pid;

	pid = tt_shmqd_start("--flush-interval 50");
	ck_assert(tt_shmqd_log_has("started", 1));
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 2), 0);
	ck_assert_int_eq(shmq_topic_create(bus, OTHER, 1), 0);
	send_range(bus, 0, 10);
	ck_assert(wait_count(bus, TOPIC, "all", 10));
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
	/* Scribble over the slots and entries (not the header). */
	ck_assert_int_eq(tt_run("f=$(ls -d %s/index/* | tail -1); "
	    "head -c 1048576 /dev/urandom | dd of=$f bs=4096 seek=1 "
	    "conv=notrunc 2>/dev/null", shmq_bus_path(bus)), 0);
	memset(&g, 0, sizeof(g));
	(void)shmq_query_key(bus, TOPIC, "all", 0, got_cb, &g);
	ck_assert_int_eq(g.wrong, 0);
	ck_assert_int_eq(g.dup, 0);
	ck_assert_int_le(g.n, 10);
	shmq_bus_close(bus);
}
END_TEST

static Suite *
keyindex_suite(void)
{
	Suite *s = suite_create("keyindex");
	TCase *tc = tcase_create("keyindex");

	tcase_add_checked_fixture(tc, tt_setup, tt_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, index_and_restart);
	tcase_add_test(tc, damaged_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(keyindex_suite);
}
