/*
 * check_admin.c - shmq-admin, run as a real process against a private
 * store per test (topics, group reset, dead letters).
 *
 * Each test gets its own SHMQ_HOME and SHMQ_BUS (tu_setup_store), runs the
 * built tools through /bin/sh with stdout and stderr sent to files in that
 * store, and checks exit codes and output.  JSON output is checked with a
 * small validating parser below, so that "parses" means parses.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <shmq/shmq.h>

#include "testutil.h"

#define TOPIC "adm.topic"
#define GROUP "adm.g"

static char admin_prog[4096];
static char out_path[4200], err_path[4200];
static char *out, *err;		/* output of the last run() */

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	if (f == NULL)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/*
 * Run a shell command (printf format) with stdout and stderr captured in
 * out and err; return its exit status.
 */
static int __attribute__((format(printf, 1, 2)))
run(const char *fmt, ...)
{
	char cmd[6000];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = tu_sh("%s >'%s' 2>'%s' </dev/null", cmd, out_path, err_path);
	free(out);
	free(err);
	out = slurp(out_path);
	err = slurp(err_path);
	return st;
}

#define ck_assert_contains(hay, needle)					\
	ck_assert_msg(strstr((hay), (needle)) != NULL,			\
	    "expected \"%s\" in:\n%s", (needle), (hay))
#define ck_assert_lacks(hay, needle)					\
	ck_assert_msg(strstr((hay), (needle)) == NULL,			\
	    "did not expect \"%s\" in:\n%s", (needle), (hay))

/* A minimal JSON validator (RFC 8259 grammar, no semantics). */
static const char *json_value(const char *p, int depth);

static const char *
json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *
json_string(const char *p)
{
	int i;

	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF",
					    p[i]) || p[i] == '\0')
						return NULL;
				p += 5;
				continue;
			}
			if (*p == '\0' || !strchr("\"\\/bfnrt", *p))
				return NULL;
		}
		p++;
	}
	return p + 1;
}

static const char *
json_number(const char *p)
{
	const char *s;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		s = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		s = p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	return p;
}

static const char *
json_value(const char *p, int depth)
{
	if (depth > 64)
		return NULL;
	p = json_ws(p);
	switch (*p) {
	case '{':
		p = json_ws(p + 1);
		if (*p == '}')
			return p + 1;
		for (;;) {
			p = json_string(json_ws(p));
			if (p == NULL)
				return NULL;
			p = json_ws(p);
			if (*p++ != ':')
				return NULL;
			p = json_value(p, depth + 1);
			if (p == NULL)
				return NULL;
			p = json_ws(p);
			if (*p == '}')
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	case '[':
		p = json_ws(p + 1);
		if (*p == ']')
			return p + 1;
		for (;;) {
			p = json_value(p, depth + 1);
			if (p == NULL)
				return NULL;
			p = json_ws(p);
			if (*p == ']')
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	case '"':
		return json_string(p);
	case 't':
		return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
	case 'f':
		return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
	case 'n':
		return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
	default:
		return json_number(p);
	}
}

/* 1 if S is exactly one JSON document (surrounding whitespace allowed). */
static int
json_valid(const char *s)
{
	const char *p = json_value(s, 0);

	return p != NULL && *json_ws(p) == '\0';
}

static void
setup(void)
{
	tu_setup_store();
	snprintf(admin_prog, sizeof(admin_prog), "%s",
	    tu_prog("utils/shmq-admin"));
	snprintf(out_path, sizeof(out_path), "%s/out", tu_home());
	snprintf(err_path, sizeof(err_path), "%s/err", tu_home());
}

static void
teardown(void)
{
	free(out);
	free(err);
	out = err = NULL;
	tu_sh("rm -f /dev/shm/shmq.*.%s.* 2>/dev/null", tu_bus());
	tu_cleanup_store();
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return n;
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
	ck_assert_int_eq(run("%s --help", admin_prog), 0);
	ck_assert_contains(out, "dlq resend GROUP");
	ck_assert_int_eq(run("%s --version", admin_prog), 0);
	ck_assert_int_eq(run("%s", admin_prog), 2);
	ck_assert_contains(err, "--help");
	ck_assert_int_eq(run("%s topic frob", admin_prog), 2);
	ck_assert_int_eq(run("%s topic create", admin_prog), 2);
	ck_assert_int_eq(run("%s topic create a b", admin_prog), 2);
	ck_assert_int_eq(run("%s topic create a -q 0", admin_prog), 2);
	ck_assert_int_eq(run("%s group reset g", admin_prog), 2);
	ck_assert_int_eq(run("%s group reset g --to yesterday", admin_prog),
	    2);
	ck_assert_int_eq(run("%s dlq resend g", admin_prog), 2);
	ck_assert_int_eq(run("%s dlq resend g --id X --all", admin_prog), 2);
	ck_assert_int_eq(run("%s dlq list g --bogus", admin_prog), 2);
	/* No bus: only topic create makes one. */
	ck_assert_int_eq(run("%s topic list", admin_prog), 1);
	ck_assert_contains(err, "shmq-admin: ");
}
END_TEST

START_TEST(test_topics)
{
	ck_assert_int_eq(run("%s topic create " TOPIC " -q 3", admin_prog), 0);
	ck_assert_int_eq(run("%s topic create " TOPIC, admin_prog), 1);
	ck_assert_contains(err, "exists");
	ck_assert_int_eq(run("%s topic create '%%mine'", admin_prog), 1);
	ck_assert_contains(err, "reserved");
	ck_assert_int_eq(run("%s topic create 'a b'", admin_prog), 1);
	ck_assert_int_eq(run("%s -b %s topic create other", admin_prog,
	    tu_bus()), 0);
	ck_assert_int_eq(run("%s topic list", admin_prog), 0);
	ck_assert_contains(out, TOPIC);
	ck_assert_contains(out, "other");
	ck_assert_int_eq(count_lines(out), 3);
	ck_assert_int_eq(run("%s topic list --json", admin_prog), 0);
	ck_assert_msg(json_valid(out), "bad JSON: %s", out);
	ck_assert_contains(out, "{\"name\":\"" TOPIC "\",\"queues\":3,");
}
END_TEST

static int
committed_cb(void *arg, const struct shmq_group_info *gi)
{
	uint64_t *sum = arg;
	size_t i;

	for (i = 0; i < gi->nqueues; i++)
		*sum += gi->queues[i].committed;
	return 0;
}

START_TEST(test_group_reset)
{
	struct shmq_bus *bus = bus_open();
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_group_opts go;
	struct shmq_msgview v[8];
	uint64_t sum = 0;
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
	ck_assert_int_eq(shmq_group_foreach(bus, GROUP, committed_cb, &sum),
	    0);
	ck_assert_uint_eq(sum, 3);

	ck_assert_int_eq(run("%s group reset " GROUP " -t " TOPIC
	    " --to @0", admin_prog), 0);
	ck_assert_contains(err, "offsets reset to 1970-01-01T00:00:00.000Z");
	sum = 0;
	ck_assert_int_eq(shmq_group_foreach(bus, GROUP, committed_cb, &sum),
	    0);
	ck_assert_uint_eq(sum, 0);
	ck_assert_int_eq(run("%s group reset " GROUP " --to -1s",
	    admin_prog), 0);
	ck_assert_int_eq(run("%s group reset nosuch --to -1h", admin_prog), 1);
	ck_assert_contains(err, "no such consumer group");
	ck_assert_int_eq(run("%s group reset " GROUP " -t nosuch --to -1h",
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
	ck_assert_int_eq(run("%s dlq list " GROUP, admin_prog), 0);
	ck_assert_int_eq(count_lines(out), 1);
	ck_assert_int_eq(run("%s dlq resend " GROUP " --all", admin_prog), 0);
	send(p, TOPIC, "m1");
	send(p, TOPIC, "m2");
	while (got < 2 && (n = shmq_consumer_poll(c, v, 8, 1000)) > 0)
		for (i = 0; i < n; i++, got++) {
			memcpy(id[got], v[i].msg_id, sizeof(id[got]));
			ck_assert_int_eq(shmq_consumer_retry(c, &v[i], 0), 1);
		}
	ck_assert_int_eq(got, 2);

	ck_assert_int_eq(run("%s dlq list " GROUP, admin_prog), 0);
	ck_assert_int_eq(count_lines(out), 3);
	ck_assert_contains(out, TOPIC);
	ck_assert_contains(out, id[0]);
	ck_assert_contains(out, id[1]);
	ck_assert_int_eq(run("%s dlq list " GROUP " --json", admin_prog), 0);
	ck_assert_msg(json_valid(out), "bad JSON: %s", out);
	ck_assert_contains(out, "\"topic\":\"" TOPIC "\"");
	ck_assert_contains(out, "\"reconsume\":1");
	ck_assert_contains(out, "\"body_bytes\":2");
	/* The first dead letter's id, from the JSON. */
	o = strstr(out, "\"id\":\"");
	ck_assert_ptr_nonnull(o);
	memcpy(dl, o + 6, SHMQ_MSGID_LEN);
	dl[SHMQ_MSGID_LEN] = '\0';

	ck_assert_int_eq(run("%s dlq resend " GROUP " --id %s", admin_prog,
	    dl), 0);
	ck_assert_int_eq(run("%s dlq resend " GROUP " --id %s", admin_prog,
	    dl), 1);
	ck_assert_contains(err, "already resent");
	ck_assert_int_eq(run("%s dlq resend " GROUP " --id "
	    "0000000000000000000000000000FFFF", admin_prog), 1);
	ck_assert_int_eq(run("%s dlq list " GROUP, admin_prog), 0);
	ck_assert_int_eq(count_lines(out), 2);
	ck_assert_lacks(out, dl);
	ck_assert_int_eq(run("%s dlq resend " GROUP " --all", admin_prog), 0);
	ck_assert_contains(err, "resent 1 message");
	ck_assert_int_eq(run("%s dlq list " GROUP, admin_prog), 0);
	ck_assert_int_eq(count_lines(out), 1);
	ck_assert_int_eq(run("%s dlq list nosuch", admin_prog), 1);

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

static Suite *
admin_suite(void)
{
	Suite *s = suite_create("admin");
	TCase *tc = tcase_create("admin");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_topics);
	tcase_add_test(tc, test_group_reset);
	tcase_add_test(tc, test_dlq);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(admin_suite);
}
