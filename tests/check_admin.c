/*
 * check_admin.c - shmq-admin, run as a real process against a private
 * store per test (topics, group reset, dead letters).
 *
 * Each test gets its own SHMQ_HOME and SHMQ_BUS (tt_setup), runs the tool
 * through /bin/sh with stdout and stderr sent to files in that store
 * (tt_run), and checks exit codes and output.  JSON output is checked with
 * jq (tt_json_valid), so that "parses" means parses.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <shmq/shmq.h>

#include "testutil.h"
#include "tooltest.h"

#define TOPIC "adm.topic"
#define GROUP "adm.g"

static char admin_prog[4096];

static void
setup(void)
{
	tt_setup();
	snprintf(admin_prog, sizeof(admin_prog), "%s",
	    tu_prog("utils/shmq-admin"));
}

static struct shmq_bus *
bus_open(void)
{
	struct shmq_bus *bus;

	ck_assert_int_eq(tu_bus_open(&bus, 1 << 20, 1024), 0);
	return bus;
}

static void
send(struct shmq_producer *p, const char *topic, const char *body)
{
	struct shmq_prop prop = { "color", "red" };
	struct shmq_msg m;

	shmq_msg_init(&m);
	m.topic = topic;
	m.body = body;
	m.body_len = strlen(body);
	m.tags = "tg";
	m.keys = "key1";
	m.props = &prop;
	m.nprops = 1;
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
}

START_TEST(test_usage)
{
	ck_assert_int_eq(tt_run("%s --help", admin_prog), 0);
	ck_assert_contains(tt_out, "dlq resend GROUP");
	ck_assert_contains(tt_out, "query --id ID");
	ck_assert_int_eq(tt_run("%s --version", admin_prog), 0);
	ck_assert_int_eq(tt_run("%s", admin_prog), 2);
	ck_assert_contains(tt_err, "--help");
	ck_assert_int_eq(tt_run("%s topic frob", admin_prog), 2);
	ck_assert_int_eq(tt_run("%s topic create", admin_prog), 2);
	ck_assert_int_eq(tt_run("%s topic create a b", admin_prog), 2);
	ck_assert_int_eq(tt_run("%s topic create a -q 0", admin_prog), 2);
	ck_assert_int_eq(tt_run("%s group reset g", admin_prog), 2);
	ck_assert_int_eq(tt_run("%s group reset g --to yesterday", admin_prog),
	    2);
	ck_assert_int_eq(tt_run("%s dlq resend g", admin_prog), 2);
	ck_assert_int_eq(tt_run("%s dlq resend g --id X --all", admin_prog), 2);
	ck_assert_int_eq(tt_run("%s dlq list g --bogus", admin_prog), 2);
	/* No bus: only topic create makes one. */
	ck_assert_int_eq(tt_run("%s topic list", admin_prog), 1);
	ck_assert_contains(tt_err, "shmq-admin: ");
}
END_TEST

START_TEST(test_topics)
{
	ck_assert_int_eq(tt_run("%s topic create " TOPIC " -q 3", admin_prog),
	    0);
	ck_assert_int_eq(tt_run("%s topic create " TOPIC, admin_prog), 1);
	ck_assert_contains(tt_err, "exists");
	ck_assert_int_eq(tt_run("%s topic create '%%mine'", admin_prog), 1);
	ck_assert_contains(tt_err, "reserved");
	ck_assert_int_eq(tt_run("%s topic create 'a b'", admin_prog), 1);
	ck_assert_int_eq(tt_run("%s -b %s topic create other", admin_prog,
	    tu_bus()), 0);
	ck_assert_int_eq(tt_run("%s topic list", admin_prog), 0);
	ck_assert_contains(tt_out, TOPIC);
	ck_assert_contains(tt_out, "other");
	ck_assert_int_eq(tt_count_lines(tt_out), 3);
	ck_assert_int_eq(tt_run("%s topic list --json", admin_prog), 0);
	ck_assert_msg(tt_json_valid(tt_out), "bad JSON: %s", tt_out);
	ck_assert_contains(tt_out, "{\"name\":\"" TOPIC "\",\"queues\":3,");
}
END_TEST

START_TEST(test_group_reset)
{
	struct shmq_bus *bus = bus_open();
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_group_opts go;
	struct shmq_msgview v[8];
	int n, got = 0;

	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 1), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	send(p, TOPIC, "1");
	send(p, TOPIC, "2");
	send(p, TOPIC, "3");
	shmq_group_opts_init(&go);
	go.start = SHMQ_SEEK_FIRST;
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, GROUP, &go), 0);
	ck_assert_int_eq(shmq_consumer_subscribe(c, TOPIC, NULL), 0);
	while (got < 3 && (n = shmq_consumer_poll(c, v, 8, 1000)) > 0)
		got += n;
	ck_assert_int_eq(got, 3);
	shmq_consumer_close(c);
	ck_assert_uint_eq(tu_group_committed(bus, GROUP, TOPIC, NULL, 0), 3);

	ck_assert_int_eq(tt_run("%s group reset " GROUP " -t " TOPIC
	    " --to @0", admin_prog), 0);
	ck_assert_contains(tt_err, "offsets reset to 1970-01-01T00:00:00.000Z");
	ck_assert_uint_eq(tu_group_committed(bus, GROUP, TOPIC, NULL, 0), 0);
	ck_assert_int_eq(tt_run("%s group reset " GROUP " --to -1s",
	    admin_prog), 0);
	ck_assert_int_eq(tt_run("%s group reset nosuch --to -1h", admin_prog),
	    1);
	ck_assert_contains(tt_err, "no such consumer group");
	ck_assert_int_eq(tt_run("%s group reset " GROUP " -t nosuch --to -1h",
	    admin_prog), 1);
	shmq_producer_close(p);
	shmq_bus_close(bus);
}
END_TEST

START_TEST(test_dlq)
{
	struct shmq_bus *bus = bus_open();
	struct shmq_producer *p;
	struct shmq_consumer *c, *r;
	struct shmq_group_opts go;
	struct shmq_retry_opts ro;
	struct shmq_msgview v[8];
	char id[2][SHMQ_MSGID_LEN + 1], dl[SHMQ_MSGID_LEN + 1];
	size_t len;
	const char *o;
	int n, got = 0, i;

	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 1), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	shmq_group_opts_init(&go);
	shmq_retry_opts_init(&ro);
	ro.max_reconsume = 0;		/* straight to the DLQ */
	go.retry = &ro;
	go.start = SHMQ_SEEK_FIRST;
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, GROUP, &go), 0);
	ck_assert_int_eq(shmq_consumer_subscribe(c, TOPIC, NULL), 0);
	/* A group with no dead letters yet: an empty list. */
	ck_assert_int_eq(tt_run("%s dlq list " GROUP, admin_prog), 0);
	ck_assert_int_eq(tt_count_lines(tt_out), 1);
	ck_assert_int_eq(tt_run("%s dlq resend " GROUP " --all", admin_prog),
	    0);
	send(p, TOPIC, "m1");
	send(p, TOPIC, "m2");
	while (got < 2 && (n = shmq_consumer_poll(c, v, 8, 1000)) > 0)
		for (i = 0; i < n; i++, got++) {
			memcpy(id[got], v[i].msg_id, sizeof(id[got]));
			ck_assert_int_eq(shmq_consumer_retry(c, &v[i], 0), 1);
		}
	ck_assert_int_eq(got, 2);

	ck_assert_int_eq(tt_run("%s dlq list " GROUP, admin_prog), 0);
	ck_assert_int_eq(tt_count_lines(tt_out), 3);
	ck_assert_contains(tt_out, TOPIC);
	ck_assert_contains(tt_out, id[0]);
	ck_assert_contains(tt_out, id[1]);
	ck_assert_int_eq(tt_run("%s dlq list " GROUP " --json", admin_prog), 0);
	ck_assert_msg(tt_json_valid(tt_out), "bad JSON: %s", tt_out);
	ck_assert_contains(tt_out, "\"topic\":\"" TOPIC "\"");
	ck_assert_contains(tt_out, "\"reconsume\":1");
	ck_assert_contains(tt_out, "\"body_bytes\":2");
	/* The first dead letter's id, from the JSON. */
	o = strstr(tt_out, "\"id\":\"");
	ck_assert_ptr_nonnull(o);
	memcpy(dl, o + 6, SHMQ_MSGID_LEN);
	dl[SHMQ_MSGID_LEN] = '\0';

	ck_assert_int_eq(tt_run("%s dlq resend " GROUP " --id %s", admin_prog,
	    dl), 0);
	ck_assert_int_eq(tt_run("%s dlq resend " GROUP " --id %s", admin_prog,
	    dl), 1);
	ck_assert_contains(tt_err, "already resent");
	ck_assert_int_eq(tt_run("%s dlq resend " GROUP " --id "
	    "0000000000000000000000000000FFFF", admin_prog), 1);
	ck_assert_int_eq(tt_run("%s dlq list " GROUP, admin_prog), 0);
	ck_assert_int_eq(tt_count_lines(tt_out), 2);
	ck_assert_lacks(tt_out, dl);
	ck_assert_int_eq(tt_run("%s dlq resend " GROUP " --all", admin_prog),
	    0);
	ck_assert_contains(tt_err, "resent 1 message");
	ck_assert_int_eq(tt_run("%s dlq list " GROUP, admin_prog), 0);
	ck_assert_int_eq(tt_count_lines(tt_out), 1);
	ck_assert_int_eq(tt_run("%s dlq list nosuch", admin_prog), 1);

	/* Both are back on the topic, as they were. */
	ck_assert_int_eq(shmq_consumer_open(&r, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(r, TOPIC, 0, NULL), 0);
	ck_assert_int_eq(shmq_consumer_seek(r, TOPIC, 0, SHMQ_SEEK_OFFSET, 2),
	    0);
	n = shmq_consumer_poll(r, v, 8, 1000);
	ck_assert_int_eq(n, 2);
	for (i = 0; i < 2; i++) {
		ck_assert_uint_eq(v[i].reconsume, 0);
		ck_assert(v[i].tags_len == 2 && memcmp(v[i].tags, "tg", 2) == 0);
		ck_assert(v[i].keys_len == 4 &&
		    memcmp(v[i].keys, "key1", 4) == 0);
		o = shmq_msgview_prop(&v[i], "color", &len);
		ck_assert(o != NULL && len == 3 && memcmp(o, "red", 3) == 0);
		o = shmq_msgview_prop(&v[i], SHMQ_PROP_ORIGIN_MSG_ID, &len);
		ck_assert(o != NULL && len == SHMQ_MSGID_LEN);
		ck_assert(memcmp(o, id[0], len) == 0 ||
		    memcmp(o, id[1], len) == 0);
		ck_assert(shmq_msgview_prop(&v[i], SHMQ_PROP_RETRY_TOPIC,
		    NULL) == NULL);
	}
	shmq_consumer_close(r);
	shmq_consumer_close(c);
	shmq_producer_close(p);
	shmq_bus_close(bus);
}
END_TEST

START_TEST(test_query)
{
	struct shmq_bus *bus = bus_open();
	struct shmq_producer *p;
	struct shmq_send_result res[4];
	struct shmq_msgview v;
	uint64_t ms[4];
	char id[SHMQ_MSGID_LEN + 1];
	struct shmq_msg m;
	char body[32];
	int i;

	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 2), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < 4; i++) {
		shmq_msg_init(&m);
		m.topic = TOPIC;
		snprintf(body, sizeof(body), "body-%d", i);
		m.body = body;
		m.body_len = strlen(body);
		m.tags = "tg";
		m.keys = "key1";
		ck_assert_int_eq(shmq_producer_send(p, &m, &res[i]), 0);
		ck_assert_int_eq(shmq_query_id(bus, res[i].msg_id, &v), 0);
		ms[i] = v.store_ns / 1000000;
		usleep(2000);
	}
	shmq_producer_close(p);

	/* By id: a table, and JSON as shmq-recv --json prints it. */
	ck_assert_int_eq(tt_run("%s query --id %s", admin_prog,
	    res[2].msg_id), 0);
	ck_assert_int_eq(tt_count_lines(tt_out), 2);
	ck_assert_contains(tt_out, res[2].msg_id);
	ck_assert_contains(tt_out, TOPIC);
	ck_assert_int_eq(tt_run("%s query --id %s --json", admin_prog,
	    res[2].msg_id), 0);
	ck_assert_msg(tt_json_valid(tt_out), "bad JSON: %s", tt_out);
	ck_assert_contains(tt_out, "\"body\":\"body-2\"");
	ck_assert_contains(tt_out, "\"topic\":\"" TOPIC "\"");
	ck_assert_contains(tt_out, "\"keys\":\"key1\"");
	/* Not found, malformed. */
	snprintf(id, sizeof(id), "%.16s%016llX", res[0].msg_id, 1ull << 40);
	ck_assert_int_eq(tt_run("%s query --id %s", admin_prog, id), 1);
	ck_assert_contains(tt_err, "beyond the log tail");
	ck_assert_int_eq(tt_run("%s query --id nonsense", admin_prog), 1);
	ck_assert_contains(tt_err, "invalid argument");

	/* By time: [ms[1], ms[3]) holds messages 1 and 2. */
	ck_assert_int_eq(tt_run("%s query -t " TOPIC " --from @%llu --to @%llu",
	    admin_prog, (unsigned long long)ms[1], (unsigned long long)ms[3]),
	    0);
	ck_assert_int_eq(tt_count_lines(tt_out), 3);
	ck_assert_lacks(tt_out, res[0].msg_id);
	ck_assert_contains(tt_out, res[1].msg_id);
	ck_assert_contains(tt_out, res[2].msg_id);
	ck_assert_lacks(tt_out, res[3].msg_id);
	ck_assert_int_eq(tt_run("%s query -t " TOPIC " --from @%llu --to @%llu "
	    "--json", admin_prog, (unsigned long long)ms[1],
	    (unsigned long long)ms[3]), 0);
	ck_assert_msg(tt_json_valid(tt_out), "bad JSON: %s", tt_out);
	ck_assert_contains(tt_out, "\"count\":2,\"truncated\":false");
	ck_assert_contains(tt_out, "\"body\":\"body-1\"");
	ck_assert_contains(tt_out, "\"body\":\"body-2\"");
	/* No end; --max. */
	ck_assert_int_eq(tt_run("%s query -t " TOPIC " --from -1h --json",
	    admin_prog), 0);
	ck_assert_msg(tt_json_valid(tt_out), "bad JSON: %s", tt_out);
	ck_assert_contains(tt_out, "\"count\":4,");
	ck_assert_int_eq(tt_run("%s query -t " TOPIC " --from @0 --max 3 "
	    "--json", admin_prog), 0);
	ck_assert_msg(tt_json_valid(tt_out), "bad JSON: %s", tt_out);
	ck_assert_contains(tt_out, "\"count\":3,\"truncated\":true");
	ck_assert_contains(tt_err, "--max");
	ck_assert_int_eq(tt_run("%s query -t " TOPIC " --from -1s --to -2s",
	    admin_prog), 2);
	ck_assert_int_eq(tt_run("%s query -t nosuch --from @0", admin_prog),
	    1);
	ck_assert_contains(tt_err, "no such topic");
	/* Bad usage. */
	ck_assert_int_eq(tt_run("%s query", admin_prog), 2);
	ck_assert_int_eq(tt_run("%s query -t " TOPIC, admin_prog), 2);
	ck_assert_int_eq(tt_run("%s query --id %s -t " TOPIC " --from @0",
	    admin_prog, res[0].msg_id), 2);
	ck_assert_int_eq(tt_run("%s query -t " TOPIC " --from yesterday",
	    admin_prog), 2);
	ck_assert_int_eq(tt_run("%s query -t " TOPIC " --from @0 --max 0",
	    admin_prog), 2);
	ck_assert_int_eq(tt_run("%s query extra --id %s", admin_prog,
	    res[0].msg_id), 2);
	ck_assert_int_eq(tt_run("%s topic list --from @0", admin_prog), 2);
	shmq_bus_close(bus);
}
END_TEST

static Suite *
admin_suite(void)
{
	Suite *s = suite_create("admin");
	TCase *tc = tcase_create("admin");

	tcase_add_checked_fixture(tc, setup, tt_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_topics);
	tcase_add_test(tc, test_group_reset);
	tcase_add_test(tc, test_dlq);
	tcase_add_test(tc, test_query);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(admin_suite);
}
