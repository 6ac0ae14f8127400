/*
 * check_retry.c - retries and dead letters on the pull API, SQL92
 * property filters on subscriptions, and the retry and dead-letter counts
 * that shmq-stat shows.
 *
 * Retries use short delay levels (50 ms and up) so that a test takes
 * well under a second per retry; time bounds are generous upward (a
 * loaded machine is late, never early).  Figures (retry lateness p50 and
 * p99) go to stderr.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include <check.h>

#include "shmq/shmq.h"
#include "bus.h"
#include "testutil.h"
#include "tooltest.h"

#define TOPIC	"rt.topic"
#define GROUP	"rt.g"

static struct shmq_bus *
bus_open(void)
{
	struct shmq_bus *bus;
	int err = tu_bus_open(&bus, 1 << 20, 1024);

	ck_assert_msg(err == 0, "bus: %s", shmq_errmsg());
	return bus;
}

/* A group consumer on TOPIC with delay levels LEVELS (N of them), the
 * first retry at level 1, MAX retries. */
static struct shmq_consumer *
group_open(struct shmq_bus *bus, const uint32_t *levels, unsigned n,
    uint32_t max)
{
	struct shmq_group_opts go;
	struct shmq_retry_opts ro;
	struct shmq_consumer *c;
	int err;

	shmq_group_opts_init(&go);
	shmq_retry_opts_init(&ro);
	ro.delay_levels_ms = levels;
	ro.ndelay_levels = n;
	ro.first_level = 1;
	ro.max_reconsume = max;
	go.retry = &ro;
	go.start = SHMQ_SEEK_FIRST;
	err = shmq_consumer_open_group(&c, bus, GROUP, &go);
	ck_assert_msg(err == 0, "open group: %s", shmq_errmsg());
	err = shmq_consumer_subscribe(c, TOPIC, NULL);
	ck_assert_msg(err == 0, "subscribe: %s", shmq_errmsg());
	return c;
}

static void
send_one(struct shmq_producer *p, const char *body, const char *tags,
    const char *a, char id[SHMQ_MSGID_LEN + 1])
{
	struct shmq_prop props[2] = { { "a", a }, { "b", "bee" } };
	struct shmq_send_result res;
	struct shmq_msg m;
	int err;

	shmq_msg_init(&m);
	m.topic = TOPIC;
	m.body = body;
	m.body_len = strlen(body);
	m.tags = tags;
	m.keys = "k1 k2";
	m.props = props;
	m.nprops = a != NULL ? 2 : 0;
	err = shmq_producer_send(p, &m, &res);
	ck_assert_msg(err == 0, "send: %s", shmq_errmsg());
	if (id != NULL)
		memcpy(id, res.msg_id, SHMQ_MSGID_LEN + 1);
}

static int
prop_is(const struct shmq_msgview *v, const char *name, const char *want)
{
	size_t len;
	const char *p = shmq_msgview_prop(v, name, &len);

	return p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
}

/* Poll one message within SECS; 1 if got. */
static int
poll_one(struct shmq_consumer *c, struct shmq_msgview *v, double secs)
{
	uint64_t end = tu_mono_ns() + (uint64_t)(secs * tu_mult() * 1e9);
	int n;

	while (tu_mono_ns() < end) {
		n = shmq_consumer_poll(c, v, 1, 100);
		ck_assert_msg(n >= 0, "poll: %s", shmq_errmsg());
		if (n == 1)
			return 1;
	}
	return 0;
}

static double
ms_since(uint64_t t0)
{
	return (double)(tu_mono_ns() - t0) / 1e6;
}

/* ------------------------------------------------------------------ */

START_TEST(retry_comes_back)
{
	static const uint32_t levels[] = { 50, 100 };
	struct shmq_bus *bus = bus_open();
	struct shmq_producer *p;
	struct shmq_consumer *c, *dl;
	struct shmq_msgview v;
	char id[SHMQ_MSGID_LEN + 1];
	uint64_t t0;
	unsigned i;
	double el;
	int rc;

	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 2), 0);
	c = group_open(bus, levels, 2, 3);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	send_one(p, "hello", "tA", "7", id);
	ck_assert_int_eq(poll_one(c, &v, 5), 1);
	ck_assert_uint_eq(v.reconsume, 0);

	/* Three retries: 50 ms, 100 ms, then the last level again. */
	for (i = 1; i <= 3; i++) {
		t0 = tu_mono_ns();
		rc = shmq_consumer_retry(c, &v, 0);
		ck_assert_msg(rc == 0, "retry %u: %d %s", i, rc,
		    shmq_errmsg());
		ck_assert_int_eq(poll_one(c, &v, 5), 1);
		el = ms_since(t0);
		ck_assert_msg(el >= levels[i > 2 ? 1 : i - 1] - 1.0,
		    "retry %u back after %.1f ms", i, el);
		ck_assert_msg(el < 3000 * tu_mult(), "retry %u back after %.1f "
		    "ms", i, el);
		ck_assert_uint_eq(v.reconsume, i);
		ck_assert_msg(v.topic_len == strlen(TOPIC) &&
		    memcmp(v.topic, TOPIC, v.topic_len) == 0,
		    "topic %.*s", (int)v.topic_len, v.topic);
		ck_assert(v.body_len == 5 && memcmp(v.body, "hello", 5) == 0);
		ck_assert(v.tags_len == 2 && memcmp(v.tags, "tA", 2) == 0);
		ck_assert(v.keys_len == 5 && memcmp(v.keys, "k1 k2", 5) == 0);
		ck_assert(prop_is(&v, "a", "7"));
		ck_assert(prop_is(&v, "b", "bee"));
		ck_assert(prop_is(&v, SHMQ_PROP_ORIGIN_MSG_ID, id));
		ck_assert(prop_is(&v, SHMQ_PROP_RETRY_TOPIC, TOPIC));
	}
	/* The fourth throw-back: past the maximum, to the DLQ. */
	rc = shmq_consumer_retry(c, &v, 0);
	ck_assert_msg(rc == 1, "to the DLQ: %d %s", rc, shmq_errmsg());
	ck_assert_int_eq(shmq_consumer_poll(c, &v, 1, 300), 0);

	ck_assert_int_eq(shmq_consumer_open(&dl, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(dl, "%DLQ%" GROUP,
	    SHMQ_QUEUE_ANY, NULL), 0);
	ck_assert_int_eq(shmq_consumer_seek(dl, NULL, SHMQ_QUEUE_ANY,
	    SHMQ_SEEK_FIRST, 0), 0);
	ck_assert_int_eq(shmq_consumer_poll(dl, &v, 1, 1000), 1);
	ck_assert_uint_eq(v.reconsume, 4);
	ck_assert(prop_is(&v, SHMQ_PROP_ORIGIN_MSG_ID, id));
	ck_assert(prop_is(&v, SHMQ_PROP_RETRY_TOPIC, TOPIC));
	ck_assert(prop_is(&v, "a", "7"));
	ck_assert(shmq_msgview_prop(&v, SHMQ_PROP_RETRY_DUE_MS, NULL) == NULL);
	ck_assert(v.body_len == 5 && memcmp(v.body, "hello", 5) == 0);
	ck_assert_int_eq(shmq_consumer_poll(dl, &v, 1, 0), 0);
	shmq_consumer_close(dl);

	shmq_producer_close(p);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
}
END_TEST

/* Level -1: straight to the DLQ; an explicit level is taken as given. */
START_TEST(retry_levels)
{
	static const uint32_t levels[] = { 50, 400 };
	struct shmq_bus *bus = bus_open();
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msgview v;
	uint64_t t0;
	double el;

	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 1), 0);
	c = group_open(bus, levels, 2, 16);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	send_one(p, "one", NULL, NULL, NULL);
	send_one(p, "two", NULL, NULL, NULL);
	ck_assert_int_eq(poll_one(c, &v, 5), 1);
	ck_assert_int_eq(shmq_consumer_retry(c, &v, -1), 1);
	ck_assert_int_eq(poll_one(c, &v, 5), 1);
	ck_assert(v.body_len == 3 && memcmp(v.body, "two", 3) == 0);
	t0 = tu_mono_ns();
	ck_assert_int_eq(shmq_consumer_retry(c, &v, 2), 0);
	ck_assert_int_eq(poll_one(c, &v, 5), 1);
	el = ms_since(t0);
	ck_assert_msg(el >= 399.0, "level 2 back after %.1f ms", el);
	ck_assert(v.body_len == 3 && memcmp(v.body, "two", 3) == 0);
	ck_assert_int_eq(shmq_topic_queues(bus, "%DLQ%" GROUP), 1);
	ck_assert_int_eq(shmq_topic_queues(bus, "%RETRY%" GROUP),
	    SHMQ_DELAY_LEVELS_MAX);
	shmq_producer_close(p);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
}
END_TEST

/* Child: open, take the message, throw it back with a 400 ms delay, and
 * exit with everything closed.  Its control region's name goes to SHM. */
static int
durable_child(char *shm, size_t len)
{
	static const uint32_t levels[] = { 400 };
	struct shmq_bus *bus;
	struct shmq_consumer *c;
	struct shmq_producer *p;
	struct shmq_group_opts go;
	struct shmq_retry_opts ro;
	struct shmq_msgview v;
	struct shmq_msg m;
	int n, i;

	if (tu_bus_open(&bus, 1 << 20, 1024) != 0 ||
	    shmq_topic_create(bus, TOPIC, 1) != 0 ||
	    shmq_producer_open(&p, bus, NULL) != 0)
		return 10;
	strlcpy(shm, bus->shm_name, len);
	shmq_group_opts_init(&go);
	shmq_retry_opts_init(&ro);
	ro.delay_levels_ms = levels;
	ro.ndelay_levels = 1;
	ro.first_level = 1;
	go.retry = &ro;
	go.start = SHMQ_SEEK_FIRST;
	if (shmq_consumer_open_group(&c, bus, GROUP, &go) != 0 ||
	    shmq_consumer_subscribe(c, TOPIC, NULL) != 0)
		return 11;
	shmq_msg_init(&m);
	m.topic = TOPIC;
	m.body = "durable";
	m.body_len = 7;
	if (shmq_producer_send(p, &m, NULL) != 0)
		return 12;
	for (i = 0, n = 0; i < 50 && n == 0; i++)
		n = shmq_consumer_poll(c, &v, 1, 100);
	if (n != 1)
		return 13;
	if (shmq_consumer_retry(c, &v, 0) != 0)
		return 14;
	shmq_producer_close(p);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
	return 0;
}

START_TEST(retry_durable)
{
	static const uint32_t levels[] = { 400 };
	struct shmq_bus *bus;
	struct shmq_consumer *c;
	struct shmq_msgview v;
	struct tu_child ch;
	char *shm = tu_shared_new(4096), path[4200];

	TU_SPAWN(&ch, "first", durable_child(shm, 4096));
	ck_assert_int_eq(tu_wait_deadline(ch.pid, 20), 0);
	/* Nobody has the bus open: the control region is gone, rebuilt
	 * from the store at the next open.  That region by its exact name:
	 * another store's left by a test that failed may have the bus name
	 * (names are t<pid>-<n>, and pids come round). */
	ck_assert_msg(shm[0] == '/', "control region name \"%s\"", shm);
	snprintf(path, sizeof(path), "/dev/shm%s", shm);
	ck_assert_msg(access(path, F_OK) != 0, "%s is still there", path);
	munmap(shm, 4096);
	bus = bus_open();
	c = group_open(bus, levels, 1, 16);
	ck_assert_int_eq(poll_one(c, &v, 5), 1);
	ck_assert_uint_eq(v.reconsume, 1);
	ck_assert(v.body_len == 7 && memcmp(v.body, "durable", 7) == 0);
	ck_assert(v.topic_len == strlen(TOPIC));
	/* Consumed: not again after another restart. */
	shmq_consumer_close(c);
	shmq_bus_close(bus);
	bus = bus_open();
	c = group_open(bus, levels, 1, 16);
	ck_assert_int_eq(shmq_consumer_poll(c, &v, 1, 600), 0);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
}
END_TEST

static double
thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Waiting for a due retry sleeps: the poll blocks, the thread's CPU time
 * stays low. */
START_TEST(retry_wait_no_cpu)
{
	static const uint32_t levels[] = { 1500 };
	struct shmq_bus *bus = bus_open();
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msgview v;
	uint64_t t0;
	double cpu0, cpu, el;
	int n;

	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 1), 0);
	c = group_open(bus, levels, 1, 16);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	send_one(p, "x", NULL, NULL, NULL);
	ck_assert_int_eq(poll_one(c, &v, 5), 1);
	t0 = tu_mono_ns();
	ck_assert_int_eq(shmq_consumer_retry(c, &v, 0), 0);
	cpu0 = thread_cpu_ms();
	n = shmq_consumer_poll(c, &v, 1, (int)(10000 * tu_mult()));
	cpu = thread_cpu_ms() - cpu0;
	el = ms_since(t0);
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(v.reconsume, 1);
	ck_assert_msg(el >= 1499.0, "back after %.1f ms", el);
	fprintf(stderr, "retry wait: %.0f ms asleep, %.2f ms of CPU\n", el,
	    cpu);
	ck_assert_msg(cpu < 100.0, "%.2f ms of CPU in %.0f ms", cpu, el);
	shmq_producer_close(p);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
}
END_TEST

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* 200 retries with 50 ms: every one back at or after its due time; the
 * lateness figures go to stderr. */
START_TEST(retry_lateness)
{
	enum { N = 200 };
	static const uint32_t levels[] = { 50 };
	static double late[N];
	static uint64_t due[N];
	struct shmq_bus *bus = bus_open();
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msgview v[16];
	char body[16];
	unsigned i, got = 0, k;
	uint64_t end;
	int n;

	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 1), 0);
	c = group_open(bus, levels, 1, 16);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < N; i++) {
		snprintf(body, sizeof(body), "%u", i);
		send_one(p, body, NULL, NULL, NULL);
	}
	/* Take each and throw it back at once; each comes back once. */
	end = tu_mono_ns() + (uint64_t)(30e9 * tu_mult());
	while (got < N && tu_mono_ns() < end) {
		uint64_t now;

		n = shmq_consumer_poll(c, v, 16, 200);
		now = tu_mono_ns();
		ck_assert_int_ge(n, 0);
		for (i = 0; i < (unsigned)n; i++) {
			snprintf(body, sizeof(body), "%.*s",
			    (int)v[i].body_len, (const char *)v[i].body);
			k = (unsigned)strtoul(body, NULL, 10);
			ck_assert_uint_lt(k, N);
			if (v[i].reconsume == 0) {
				due[k] = tu_mono_ns() + 50000000ull;
				ck_assert_int_eq(shmq_consumer_retry(c, &v[i],
				    0), 0);
				continue;
			}
			ck_assert_uint_eq(v[i].reconsume, 1);
			late[got++] = ((double)now - (double)due[k]) / 1e6;
		}
	}
	ck_assert_uint_eq(got, N);
	qsort(late, N, sizeof(late[0]), cmp_dbl);
	fprintf(stderr, "retry lateness over %d retries of 50 ms: min %.3f "
	    "p50 %.3f p99 %.3f max %.3f ms\n", N, late[0], late[N / 2],
	    late[N * 99 / 100], late[N - 1]);
	/* Never early (the due time is rounded up to the ms; the clocks
	 * are read a few us apart). */
	ck_assert_msg(late[0] > -0.5, "early by %.3f ms", -late[0]);
	ck_assert_msg(late[N * 99 / 100] < 500 * tu_mult(), "p99 %.3f ms",
	    late[N * 99 / 100]);
	shmq_producer_close(p);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
}
END_TEST

/* ------------------------------------------------------------------ */
/* SQL92 filters                                                       */
/* ------------------------------------------------------------------ */

START_TEST(sql_group)
{
	struct shmq_bus *bus = bus_open();
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_group_opts go;
	struct shmq_msgview v[32];
	char a[8];
	int i, n, got = 0, rc;

	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 2), 0);
	shmq_group_opts_init(&go);
	go.start = SHMQ_SEEK_FIRST;
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, GROUP, &go), 0);
	/* Malformed: the error says where. */
	rc = shmq_consumer_subscribe_sql(c, TOPIC, "a > ");
	ck_assert_int_eq(rc, SHMQ_EBADEXPR);
	ck_assert_msg(strstr(shmq_errmsg(), "position 4") != NULL, "%s",
	    shmq_errmsg());
	rc = shmq_consumer_subscribe_sql(c, TOPIC, "a != 3");
	ck_assert_int_eq(rc, SHMQ_EBADEXPR);
	ck_assert_msg(strstr(shmq_errmsg(), "position") != NULL, "%s",
	    shmq_errmsg());
	ck_assert_int_eq(shmq_consumer_subscribe_sql(c, TOPIC,
	    "a > 5 AND TAGS IN ('x', 'y')"), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < 20; i++) {
		snprintf(a, sizeof(a), "%d", i);
		/* Matching: i > 5 with tag x or y (i even: x, odd: z). */
		send_one(p, a, i % 2 == 0 ? "x" : "z", a, NULL);
	}
	send_one(p, "noprop", "x", NULL, NULL);	/* a IS NULL: no match */
	while ((n = shmq_consumer_poll(c, v, 32, 300)) > 0) {
		for (i = 0; i < n; i++) {
			char b[16];
			int k;

			snprintf(b, sizeof(b), "%.*s", (int)v[i].body_len,
			    (const char *)v[i].body);
			k = atoi(b);
			ck_assert_msg(k > 5 && k % 2 == 0, "got %s", b);
			got++;
		}
	}
	ck_assert_int_ge(n, 0);
	ck_assert_int_eq(got, 7);	/* 6 8 10 12 14 16 18 */
	/* Filtered-out messages count as consumed. */
	ck_assert_int_eq(shmq_consumer_commit(c, NULL, SHMQ_QUEUE_ANY,
	    SHMQ_OFFSET_CURRENT), 0);
	ck_assert_uint_eq(tu_group_committed(bus, GROUP, TOPIC, NULL, 0), 21);
	/* No match at all. */
	ck_assert_int_eq(shmq_consumer_subscribe_sql(c, TOPIC, "a = 'none'"),
	    0);
	send_one(p, "1", "x", "1", NULL);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 32, 200), 0);
	/* Back to a tag expression: everything tagged x. */
	ck_assert_int_eq(shmq_consumer_subscribe(c, TOPIC, "x"), 0);
	send_one(p, "2", "x", "2", NULL);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 32, 1000), 1);
	/* A plain consumer's calls on a group consumer, and the other way. */
	ck_assert_int_eq(shmq_consumer_assign_sql(c, TOPIC, 0, "a = 1"),
	    SHMQ_EINVAL);
	shmq_producer_close(p);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
}
END_TEST

START_TEST(sql_plain)
{
	struct shmq_bus *bus = bus_open();
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msgview v[8];
	int n;

	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 1), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign_sql(c, TOPIC, 0, "b = "),
	    SHMQ_EBADEXPR);
	ck_assert_msg(strstr(shmq_errmsg(), "position") != NULL, "%s",
	    shmq_errmsg());
	ck_assert_int_eq(shmq_consumer_assign_sql(c, TOPIC, 0,
	    "a BETWEEN 2 AND 3 OR a IS NULL"), 0);
	ck_assert_int_eq(shmq_consumer_subscribe_sql(c, TOPIC, "a = 1"),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	send_one(p, "1", NULL, "1", NULL);
	send_one(p, "2", NULL, "2", NULL);
	send_one(p, "3", NULL, "3", NULL);
	send_one(p, "4", NULL, "4", NULL);
	send_one(p, "n", NULL, NULL, NULL);
	n = shmq_consumer_poll(c, v, 8, 1000);
	ck_assert_int_eq(n, 3);
	ck_assert(memcmp(v[0].body, "2", 1) == 0);
	ck_assert(memcmp(v[1].body, "3", 1) == 0);
	ck_assert(memcmp(v[2].body, "n", 1) == 0);
	shmq_producer_close(p);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bad input                                                           */
/* ------------------------------------------------------------------ */

START_TEST(retry_bad_input)
{
	static const uint32_t levels[] = { 50 };
	struct shmq_bus *bus = bus_open();
	struct shmq_producer *p;
	struct shmq_consumer *c, *plain, *bc;
	struct shmq_group_opts go;
	struct shmq_retry_opts ro;
	struct shmq_msgview v, fake;
	struct shmq_msg m;

	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 1), 0);
	/* Reserved names. */
	ck_assert_int_eq(shmq_topic_create(bus, "%mine", 1), SHMQ_ENAME);
	ck_assert_int_eq(shmq_topic_create(bus, "%RETRY%x", 1), SHMQ_ENAME);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	shmq_msg_init(&m);
	m.topic = "%DLQ%auto";
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), SHMQ_ENAME);
	ck_assert_int_eq(shmq_topic_queues(bus, "%DLQ%auto"), SHMQ_ENOTOPIC);
	ck_assert_int_eq(shmq_topic_create(bus, "a%b", 1), 0);

	/* Bad retry options. */
	shmq_group_opts_init(&go);
	shmq_retry_opts_init(&ro);
	go.retry = &ro;
	ro.ndelay_levels = 3;			/* no array */
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, GROUP, &go),
	    SHMQ_EINVAL);
	ro.delay_levels_ms = levels;
	ro.ndelay_levels = 1;
	ro.first_level = 2;			/* beyond the levels */
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, GROUP, &go),
	    SHMQ_EINVAL);
	ro.first_level = 1;
	go.start = SHMQ_SEEK_FIRST;
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, GROUP, &go), 0);
	ck_assert_int_eq(shmq_consumer_subscribe(c, TOPIC, NULL), 0);

	m.topic = TOPIC;
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	ck_assert_int_eq(poll_one(c, &v, 5), 1);
	ck_assert_int_eq(shmq_consumer_retry(NULL, &v, 0), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_consumer_retry(c, NULL, 0), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_consumer_retry(c, &v, 2), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_consumer_retry(c, &v, -2), SHMQ_EINVAL);
	fake = v;
	fake.queue_off += 1000;
	ck_assert_int_eq(shmq_consumer_retry(c, &fake, 0), SHMQ_ENOQUEUE);
	fake = v;
	fake.log_off += 8;
	ck_assert_int_eq(shmq_consumer_retry(c, &fake, 0), SHMQ_ENOQUEUE);
	fake = v;
	fake.queue = 7;
	ck_assert_int_eq(shmq_consumer_retry(c, &fake, 0), SHMQ_ENOQUEUE);

	/* A plain consumer and a broadcasting one cannot retry. */
	ck_assert_int_eq(shmq_consumer_open(&plain, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(plain, TOPIC, 0, NULL), 0);
	ck_assert_int_eq(shmq_consumer_seek(plain, TOPIC, 0, SHMQ_SEEK_FIRST,
	    0), 0);
	ck_assert_int_eq(shmq_consumer_poll(plain, &v, 1, 1000), 1);
	ck_assert_int_eq(shmq_consumer_retry(plain, &v, 0), SHMQ_EINVAL);
	shmq_consumer_close(plain);
	shmq_group_opts_init(&go);
	go.model = SHMQ_BROADCASTING;
	go.instance = "i1";
	go.start = SHMQ_SEEK_FIRST;
	ck_assert_int_eq(shmq_consumer_open_group(&bc, bus, "rt.bc", &go), 0);
	ck_assert_int_eq(shmq_consumer_subscribe(bc, TOPIC, NULL), 0);
	ck_assert_int_eq(poll_one(bc, &v, 5), 1);
	ck_assert_int_eq(shmq_consumer_retry(bc, &v, 0), SHMQ_EINVAL);
	shmq_consumer_close(bc);

	/* The retry topic is followed on its own, not by subscribing. */
	ck_assert_int_eq(poll_one(c, &v, 0.2), 0);
	ck_assert_int_eq(shmq_consumer_subscribe(c, "%RETRY%" GROUP, NULL),
	    SHMQ_ENOTOPIC);
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	ck_assert_int_eq(poll_one(c, &v, 5), 1);
	ck_assert_int_eq(shmq_consumer_retry(c, &v, 0), 0);
	ck_assert_int_eq(shmq_consumer_subscribe(c, "%RETRY%" GROUP, NULL),
	    SHMQ_EINVAL);
	ck_assert_int_eq(poll_one(c, &v, 5), 1);
	ck_assert_uint_eq(v.reconsume, 1);

	/* Unknown group. */
	ck_assert_int_eq(shmq_group_reset(bus, "nosuch", NULL, 0),
	    SHMQ_ENOGROUP);
	shmq_producer_close(p);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
}
END_TEST

/* ------------------------------------------------------------------ */
/* shmq-stat: the GROUPS section                                      */
/* ------------------------------------------------------------------ */

/*
 * Retry and dead-letter counts of a group, as the real shmq-stat prints
 * them (plain and --json): one retry pending (a 60 s delay), two dead
 * letters of which shmq-admin resends one; a second group that never
 * retried has neither topic.
 */
START_TEST(stat_groups)
{
	static const uint32_t levels[] = { 60000 };
	struct shmq_bus *bus = bus_open();
	struct shmq_producer *p;
	struct shmq_consumer *c, *c2, *dl;
	struct shmq_group_opts go;
	struct shmq_msgview v[3], d;
	char want[256], id[SHMQ_MSGID_LEN + 1];
	int i;

	ck_assert_int_eq(shmq_topic_create(bus, TOPIC, 2), 0);
	c = group_open(bus, levels, 1, 16);
	shmq_group_opts_init(&go);
	go.start = SHMQ_SEEK_FIRST;
	ck_assert_int_eq(shmq_consumer_open_group(&c2, bus, "rt.other", &go),
	    0);
	ck_assert_int_eq(shmq_consumer_subscribe(c2, TOPIC, NULL), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < 3; i++)
		send_one(p, "m", "t", NULL, NULL);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(poll_one(c, &v[i], 5), 1);
	ck_assert_int_eq(shmq_consumer_retry(c, &v[0], 0), 0);
	ck_assert_int_eq(shmq_consumer_retry(c, &v[1], -1), 1);
	ck_assert_int_eq(shmq_consumer_retry(c, &v[2], -1), 1);
	/* Commits the three, and subscribes to the retry topic. */
	ck_assert_int_eq(shmq_consumer_poll(c, v, 1, 50), 0);

	/* Resend the first dead letter with the real tool. */
	ck_assert_int_eq(shmq_consumer_open(&dl, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(dl, "%DLQ%" GROUP,
	    SHMQ_QUEUE_ANY, NULL), 0);
	ck_assert_int_eq(shmq_consumer_seek(dl, NULL, SHMQ_QUEUE_ANY,
	    SHMQ_SEEK_FIRST, 0), 0);
	ck_assert_int_eq(shmq_consumer_poll(dl, &d, 1, 1000), 1);
	memcpy(id, d.msg_id, sizeof(id));
	shmq_consumer_close(dl);
	ck_assert_int_eq(tt_run("'%s' dlq resend %s --id %s",
	    tu_prog("utils/shmq-admin"), GROUP, id), 0);

	ck_assert_int_eq(tt_run("'%s'", tu_prog("utils/shmq-stat")), 0);
	ck_assert_contains(tt_out, "\nGROUPS\n");
	ck_assert_contains(tt_out, "group " GROUP ": clustering (averagely)");
	ck_assert_contains(tt_out, "  retry: 1 pending; dead letters: 2 (1 resent)\n");
	ck_assert_contains(tt_out, "group rt.other: clustering (averagely)");
	ck_assert_contains(tt_out, "  retry: 0 pending (no retry topic); dead "
	    "letters: 0 (0 resent) (no dead-letter topic)\n");
	snprintf(want, sizeof(want), " %8d yes ", (int)getpid());
	ck_assert_contains(tt_out, want);
	/* The retry topic's queues are the group's too: level 1 holds it. */
	ck_assert_contains(tt_out, "%RETRY%" GROUP);

	ck_assert_int_eq(tt_run("'%s' --json", tu_prog("utils/shmq-stat")),
	    0);
	ck_assert_contains(tt_out, "\"groups\":[{\"name\":\"" GROUP "\"");
	ck_assert_contains(tt_out, "\"retry\":{\"topic\":\"%RETRY%" GROUP "\","
	    "\"pending\":1}");
	ck_assert_contains(tt_out, "\"dlq\":{\"topic\":\"%DLQ%" GROUP "\","
	    "\"messages\":2,\"resent\":1,\"not_resent\":1}");
	ck_assert_contains(tt_out, "{\"name\":\"rt.other\"");
	ck_assert_contains(tt_out, "\"retry\":{\"topic\":null,\"pending\":0},"
	    "\"dlq\":{\"topic\":null,\"messages\":0,\"resent\":0,"
	    "\"not_resent\":0}");
	snprintf(want, sizeof(want), "\"pid\":%d,\"alive\":true",
	    (int)getpid());
	ck_assert_contains(tt_out, want);
	ck_assert_contains(tt_out, "{\"topic\":\"%RETRY%" GROUP "\",\"queue\":0,");
	ck_assert_msg(tt_json_valid(tt_out), "invalid JSON: %s", tt_out);

	shmq_consumer_close(c);
	shmq_consumer_close(c2);
	shmq_producer_close(p);
	shmq_bus_close(bus);
}
END_TEST

static Suite *
retry_suite(void)
{
	Suite *s = suite_create("retry");
	TCase *tc;

	tc = tcase_create("retry");
	tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, retry_comes_back);
	tcase_add_test(tc, retry_levels);
	tcase_add_test(tc, retry_durable);
	tcase_add_test(tc, retry_wait_no_cpu);
	tcase_add_test(tc, retry_lateness);
	suite_add_tcase(s, tc);

	tc = tcase_create("sql");
	tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, sql_group);
	tcase_add_test(tc, sql_plain);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad_input");
	tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, retry_bad_input);
	suite_add_tcase(s, tc);

	tc = tcase_create("stat");
	tcase_add_checked_fixture(tc, tt_setup, tt_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, stat_groups);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(retry_suite);
}
