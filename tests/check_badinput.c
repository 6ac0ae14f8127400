/*
 * check_badinput.c - bad input gets a clear error and loses nothing.
 *
 * Invalid names (topic, bus, group) through every entry point, oversized
 * messages, queues out of range, unknown topics without auto-creation, bad
 * tag expressions, missing buses, bad bus options, no permission (another
 * user, or a store made unreadable), a full disk (a small tmpfs when we
 * may mount one, and RLIMIT_FSIZE always), and 10,000 topics on one bus.
 * Each check looks at the specific SHMQ_E* code, that shmq_errmsg() says
 * something (naming the thing where it can), and that the bus is unchanged
 * afterwards: queue max offsets, the log tail, the topic list, the store
 * directory.
 *
 * Tests that need several processes use the usual pattern: children report
 * through _exit() codes (E_* below) and a detail buffer in a MAP_SHARED
 * page (a child that changed its uid may not write files), the parent
 * waits and asserts.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>

#include "shmq/shmq.h"
#include "testutil.h"

enum {
	E_OK = 0,
	E_SETUP = 10,	/* could not get to the point of the test */
	E_WRONG,	/* wrong return code */
	E_NOMSG,	/* no detail message */
	E_STORED,	/* something was stored by a failed call */
	E_LOSS,		/* an acknowledged message is missing or torn */
	E_AFTER,	/* sends do not work again after the failure */
	E_TIMEOUT = TU_E_TIMEOUT
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* A MAP_SHARED page for children's reports. */
struct bshared {
	uint32_t	flag;		/* parent/child handshake */
	uint32_t	release;
	uint64_t	acked;		/* successful sends */
	uint64_t	failed;		/* sends that failed with ENOSPC */
	uint64_t	holes;		/* offsets those failures used up */
	char		shm_name[256];
	char		msg[2048];
};

static struct bshared *
shared_new(void)
{
	return tu_shared_new(sizeof(struct bshared));
}

static void
say(struct bshared *sh, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tu_vappend(sh->msg, sizeof(sh->msg), fmt, ap);
	va_end(ap);
}

static void
opts_small(struct shmq_bus_opts *o)
{
	shmq_bus_opts_init(o);
	o->segment_bytes = 1 << 20;
	o->cq_entries = 1024;
	o->max_msg_bytes = 64 * 1024;
	o->default_queues = 4;
}

static struct shmq_bus *
bus_open_ok(const char *name, const struct shmq_bus_opts *o)
{
	struct shmq_bus *bus = NULL;
	int rc;

	rc = shmq_bus_open(&bus, name, o);
	ck_assert_msg(rc == 0, "bus_open %s: %s (%s)", name ? name : "(env)",
	    shmq_err_name(rc), shmq_errmsg());
	return bus;
}

/* Sum of max_off over the queues of TOPIC (or of the bus). */
struct qsum {
	uint64_t	max_sum;
	unsigned	n;
};

static int
qsum_cb(void *arg, const struct shmq_queue_info *qi)
{
	struct qsum *s = arg;

	s->max_sum += qi->max_off;
	s->n++;
	return 0;
}

static struct qsum
qsum(struct shmq_bus *bus, const char *topic)
{
	struct qsum s = { 0, 0 };

	ck_assert_int_eq(shmq_queue_foreach(bus, topic, qsum_cb, &s), 0);
	return s;
}

static uint64_t
log_tail(struct shmq_bus *bus)
{
	struct shmq_bus_info bi;

	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	return bi.log_tail_off;
}

/* Entries of DIR, not counting . and .. (-1 if it cannot be read). */
static int
dir_entries(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir(dir);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Body of message SEQ: its seq then a pattern. */
static void
fill(unsigned char *buf, size_t len, uint64_t seq)
{
	size_t i;

	memcpy(buf, &seq, sizeof(seq));
	for (i = sizeof(seq); i < len; i++)
		buf[i] = (unsigned char)(seq * 131 + i * 7);
}

static int
fill_ok(const unsigned char *buf, size_t len, uint64_t *seq)
{
	size_t i;

	if (len < sizeof(*seq))
		return 0;
	memcpy(seq, buf, sizeof(*seq));
	for (i = sizeof(*seq); i < len; i++)
		if (buf[i] != (unsigned char)(*seq * 131 + i * 7))
			return 0;
	return 1;
}

static void
setup(void)
{
	tu_setup_store();
}

static void
teardown(void)
{
	tu_sh("rm -f /dev/shm/shmq.*.%s* 2>/dev/null", tu_bus());
	tu_cleanup_store();
}

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

static const char *
long_name(size_t n)
{
	static char buf[512];

	memset(buf, 'x', n);
	buf[n] = '\0';
	return buf;
}

/* Does the detail message name NAME (or, for odd names, say anything)? */
static int
names_it(const char *name)
{
	const char *m = shmq_errmsg();
	char head[33];
	const char *p;

	if (m == NULL || *m == '\0')
		return 0;
	for (p = name; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e)
			return 1;	/* may be escaped: any text will do */
	if (*name == '\0')
		return 1;
	snprintf(head, sizeof(head), "%s", name);
	return strstr(m, head) != NULL;
}

/*
 * Invalid topic names through topic_create, topic_queues, send and assign:
 * SHMQ_ENAME with a message naming the topic, and nothing created.
 */
START_TEST(test_bad_topic_names)
{
	const char *fixed[] = {
		"", " ", "a b", "a/b", "/", "/etc", "..", ".", "../x", "a\tb",
		"a\nb", "a:b", "a*b", "caf\xc3\xa9", "x$"
	};
	const char *bad[32];
	char name128[200], name300[400], path[4400], fails[4096] = "";
	struct shmq_bus_opts o;
	struct shmq_consumer *c;
	struct shmq_producer *p;
	struct shmq_bus *bus;
	struct shmq_msg m;
	uint64_t tail;
	unsigned i, nbad = 0, nmsg = 0, n = 0;
	int rc;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		bad[n++] = fixed[i];
	snprintf(name128, sizeof(name128), "%s", long_name(128));
	snprintf(name300, sizeof(name300), "%s", long_name(300));
	bad[n++] = name128;
	bad[n++] = name300;

	opts_small(&o);
	bus = bus_open_ok(NULL, &o);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	/* The longest valid name works; one more character does not. */
	ck_assert_int_eq(shmq_topic_create(bus, long_name(127), 1), 0);
	ck_assert_int_eq(shmq_name_check(long_name(127)), 0);
	ck_assert_int_eq(shmq_topic_create(bus, "ok.name_-%1", 1), 0);
	tail = log_tail(bus);

	for (i = 0; i < n; i++) {
		const char *name = bad[i];

#define BAD(what, expr) do {						\
	rc = (expr);							\
	if (rc != SHMQ_ENAME) {						\
		nbad++;							\
		snprintf(fails + strlen(fails), sizeof(fails) -		\
		    strlen(fails), "%s(\"%.20s\") = %s; ", (what), name,	\
		    shmq_err_name(rc));					\
	} else if (!names_it(name)) {					\
		nmsg++;							\
		snprintf(fails + strlen(fails), sizeof(fails) -		\
		    strlen(fails), "%s(\"%.20s\"): message \"%s\"; ",	\
		    (what), name, shmq_errmsg());			\
	}								\
} while (0)
		BAD("name_check", shmq_name_check(name));
		BAD("topic_create", shmq_topic_create(bus, name, 2));
		BAD("topic_queues", shmq_topic_queues(bus, name));
		shmq_msg_init(&m);
		m.topic = name;
		m.body = "x";
		m.body_len = 1;
		BAD("send", shmq_producer_send(p, &m, NULL));
		m.queue = 0;
		BAD("send(queue 0)", shmq_producer_send(p, &m, NULL));
		BAD("assign", shmq_consumer_assign(c, name, SHMQ_QUEUE_ANY,
		    "*"));
#undef BAD
	}
	ck_assert_msg(nbad == 0 && nmsg == 0, "%u wrong codes, %u unhelpful "
	    "messages: %s", nbad, nmsg, fails);

	/* A NULL topic is refused too. */
	shmq_msg_init(&m);
	m.body = "x";
	m.body_len = 1;
	rc = shmq_producer_send(p, &m, NULL);
	ck_assert_msg(rc == SHMQ_ENAME || rc == SHMQ_EINVAL, "NULL topic: %s",
	    shmq_err_name(rc));

	/* Nothing was created or stored. */
	ck_assert_uint_eq(qsum(bus, NULL).n, 2);
	ck_assert_uint_eq(qsum(bus, NULL).max_sum, 0);
	ck_assert_uint_eq(log_tail(bus), tail);
	snprintf(path, sizeof(path), "%s/%s/consumequeue", tu_home(),
	    tu_bus());
	ck_assert_int_eq(dir_entries(path), 2);
	snprintf(path, sizeof(path), "%s/etc", tu_home());
	ck_assert_int_eq(access(path, F_OK), -1);
	shmq_consumer_close(c);
	shmq_producer_close(p);
	shmq_bus_close(bus);
}
END_TEST

/* Invalid bus and producer group names. */
START_TEST(test_bad_bus_and_group_names)
{
	/* "" is not here: like NULL, it names the default bus. */
	const char *bad[] = { "a/b", "..", ".", "a b", "../up", "a:b", NULL };
	struct shmq_producer *p;
	struct shmq_bus *bus;
	char path[4400];
	unsigned i;
	int rc, before;

	before = dir_entries(tu_home());
	for (i = 0; bad[i] != NULL; i++) {
		bus = NULL;
		rc = shmq_bus_open(&bus, bad[i], NULL);
		ck_assert_msg(rc == SHMQ_ENAME, "bus \"%s\": %s", bad[i],
		    shmq_err_name(rc));
		ck_assert_msg(*shmq_errmsg() != '\0', "bus \"%s\": no message",
		    bad[i]);
	}
	rc = shmq_bus_open(&bus, long_name(128), NULL);
	ck_assert_msg(rc == SHMQ_ENAME, "128-character bus name: %s",
	    shmq_err_name(rc));
	ck_assert_int_eq(dir_entries(tu_home()), before);
	snprintf(path, sizeof(path), "%s/up", tu_home());
	ck_assert_int_eq(access(path, F_OK), -1);

	bus = bus_open_ok(NULL, NULL);
	rc = shmq_producer_open(&p, bus, "bad group");
	ck_assert_msg(rc == SHMQ_ENAME, "group \"bad group\": %s",
	    shmq_err_name(rc));
	ck_assert_msg(strstr(shmq_errmsg(), "bad group") != NULL,
	    "message does not name the group: \"%s\"", shmq_errmsg());
	rc = shmq_producer_open(&p, bus, "a/b");
	ck_assert_msg(rc == SHMQ_ENAME, "group \"a/b\": %s",
	    shmq_err_name(rc));
	shmq_bus_close(bus);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

/*
 * Oversized messages (single, in a batch, oversized tags) fail with
 * SHMQ_ETOOBIG and store nothing: queue max offsets and the log tail stay.
 */
START_TEST(test_too_big)
{
	struct shmq_bus_opts o;
	struct shmq_send_result res[3];
	struct shmq_producer *p;
	struct shmq_bus *bus;
	struct shmq_msg m, batch[3];
	unsigned char *buf;
	char tags[300];
	uint64_t tail;
	size_t sizes[] = { 64 * 1024 + 1, 64 * 1024, 1 << 20, 64u << 20 };
	unsigned i;
	int rc;

	opts_small(&o);
	bus = bus_open_ok(NULL, &o);
	ck_assert_int_eq(shmq_topic_create(bus, "big", 2), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	buf = calloc(1, 64u << 20);
	ck_assert_ptr_nonnull(buf);

	/* Something first, so the log is not empty. */
	shmq_msg_init(&m);
	m.topic = "big";
	m.body = buf;
	m.body_len = 100;
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	tail = log_tail(bus);
	ck_assert_uint_eq(qsum(bus, "big").max_sum, 1);

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		m.body_len = sizes[i];
		rc = shmq_producer_send(p, &m, NULL);
		ck_assert_msg(rc == SHMQ_ETOOBIG, "body of %zu bytes (max "
		    "message 65536): %s", sizes[i], shmq_err_name(rc));
		ck_assert_msg(*shmq_errmsg() != '\0', "no message");
		m.queue = 1;
		rc = shmq_producer_send(p, &m, NULL);
		ck_assert_msg(rc == SHMQ_ETOOBIG, "body of %zu bytes, queue 1: "
		    "%s", sizes[i], shmq_err_name(rc));
		m.queue = SHMQ_QUEUE_ANY;
	}
	ck_assert_uint_eq(qsum(bus, "big").max_sum, 1);
	ck_assert_uint_eq(log_tail(bus), tail);

	/* Tags longer than a record can hold. */
	memset(tags, 't', sizeof(tags) - 1);
	tags[sizeof(tags) - 1] = '\0';
	m.body_len = 10;
	m.tags = tags;
	rc = shmq_producer_send(p, &m, NULL);
	ck_assert_msg(rc < 0, "300-character tag accepted");
	ck_assert_uint_eq(qsum(bus, "big").max_sum, 1);
	ck_assert_uint_eq(log_tail(bus), tail);

	/* Half the limit fits. */
	m.tags = NULL;
	m.body_len = 32 * 1024;
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	ck_assert_uint_eq(qsum(bus, "big").max_sum, 2);

	/* A batch stops at the oversized message: the one before is sent,
	 * nothing after it. */
	for (i = 0; i < 3; i++) {
		shmq_msg_init(&batch[i]);
		batch[i].topic = "big";
		batch[i].body = buf;
		batch[i].body_len = i == 1 ? 100 * 1024 : 10;
	}
	rc = shmq_producer_send_batch(p, batch, 3, res);
	ck_assert_msg(rc == 1, "batch with an oversized second message "
	    "returned %d (%s)", rc, rc < 0 ? shmq_err_name(rc) : "count");
	ck_assert_uint_eq(qsum(bus, "big").max_sum, 3);
	/* Oversized first message: the error itself. */
	batch[0].body_len = 100 * 1024;
	rc = shmq_producer_send_batch(p, batch, 3, res);
	ck_assert_msg(rc == SHMQ_ETOOBIG, "batch with an oversized first "
	    "message returned %d", rc);
	ck_assert_uint_eq(qsum(bus, "big").max_sum, 3);

	free(buf);
	shmq_producer_close(p);
	shmq_bus_close(bus);
}
END_TEST

/* Queues out of range: SHMQ_ENOQUEUE, nothing stored. */
START_TEST(test_no_queue)
{
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_bus *bus;
	struct shmq_msg m;
	uint64_t tail, off;
	int qs[] = { 4, 5, 1024, 1 << 30 }, rc;
	unsigned i;

	bus = bus_open_ok(NULL, NULL);
	ck_assert_int_eq(shmq_topic_create(bus, "four", 4), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	tail = log_tail(bus);
	shmq_msg_init(&m);
	m.topic = "four";
	m.body = "x";
	m.body_len = 1;
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		m.queue = qs[i];
		rc = shmq_producer_send(p, &m, NULL);
		ck_assert_msg(rc == SHMQ_ENOQUEUE, "queue %d: %s", qs[i],
		    shmq_err_name(rc));
		ck_assert_msg(strstr(shmq_errmsg(), "four") != NULL,
		    "message does not name the topic: \"%s\"", shmq_errmsg());
		rc = shmq_consumer_assign(c, "four", qs[i], "*");
		ck_assert_msg(rc == SHMQ_ENOQUEUE, "assign queue %d: %s",
		    qs[i], shmq_err_name(rc));
	}
	m.queue = -2;
	rc = shmq_producer_send(p, &m, NULL);
	ck_assert_msg(rc == SHMQ_ENOQUEUE || rc == SHMQ_EINVAL, "queue -2: %s",
	    shmq_err_name(rc));
	ck_assert_uint_eq(qsum(bus, "four").max_sum, 0);
	ck_assert_uint_eq(log_tail(bus), tail);

	/* Operations on queues not assigned. */
	ck_assert_int_eq(shmq_consumer_assign(c, "four", 1, "*"), 0);
	rc = shmq_consumer_seek(c, "four", 2, SHMQ_SEEK_FIRST, 0);
	ck_assert_msg(rc == SHMQ_ENOQUEUE, "seek unassigned: %s",
	    shmq_err_name(rc));
	rc = shmq_consumer_position(c, "four", 2, &off);
	ck_assert_msg(rc < 0, "position of an unassigned queue: %d", rc);
	rc = shmq_consumer_unassign(c, "four", 3);
	ck_assert_msg(rc == SHMQ_ENOQUEUE, "unassign unassigned: %s",
	    shmq_err_name(rc));

	/* Queue counts out of range, and a second create. */
	rc = shmq_topic_create(bus, "zero", 0);
	ck_assert_msg(rc == SHMQ_EINVAL, "0 queues: %s", shmq_err_name(rc));
	rc = shmq_topic_create(bus, "many", 1025);
	ck_assert_msg(rc == SHMQ_EINVAL, "1025 queues: %s", shmq_err_name(rc));
	rc = shmq_topic_create(bus, "four", 2);
	ck_assert_msg(rc == SHMQ_EEXIST, "second create: %s",
	    shmq_err_name(rc));
	ck_assert_int_eq(shmq_topic_queues(bus, "four"), 4);
	ck_assert_int_eq(shmq_topic_queues(bus, "zero"), SHMQ_ENOTOPIC);
	ck_assert_int_eq(shmq_topic_queues(bus, "many"), SHMQ_ENOTOPIC);
	shmq_consumer_close(c);
	shmq_producer_close(p);
	shmq_bus_close(bus);
}
END_TEST

/*
 * Unknown topics on a bus without auto-creation: SHMQ_ENOTOPIC from send
 * and assign, nothing created; with auto-creation the send creates it.
 */
START_TEST(test_no_topic)
{
	struct shmq_bus_opts o;
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_bus *bus;
	struct shmq_msg m;
	char path[4400], other[128];
	uint64_t tail;
	int rc;

	shmq_bus_opts_init(&o);
	o.auto_create = 0;
	bus = bus_open_ok(NULL, &o);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	tail = log_tail(bus);
	shmq_msg_init(&m);
	m.topic = "nope";
	m.body = "x";
	m.body_len = 1;
	rc = shmq_producer_send(p, &m, NULL);
	ck_assert_msg(rc == SHMQ_ENOTOPIC, "send: %s", shmq_err_name(rc));
	ck_assert_msg(strstr(shmq_errmsg(), "nope") != NULL,
	    "message does not name the topic: \"%s\"", shmq_errmsg());
	m.queue = 0;
	rc = shmq_producer_send(p, &m, NULL);
	ck_assert_msg(rc == SHMQ_ENOTOPIC, "send to queue 0: %s",
	    shmq_err_name(rc));
	rc = shmq_consumer_assign(c, "nope", SHMQ_QUEUE_ANY, "*");
	ck_assert_msg(rc == SHMQ_ENOTOPIC, "assign: %s", shmq_err_name(rc));
	ck_assert_int_eq(shmq_topic_queues(bus, "nope"), SHMQ_ENOTOPIC);
	ck_assert_uint_eq(qsum(bus, NULL).n, 0);
	ck_assert_uint_eq(log_tail(bus), tail);
	snprintf(path, sizeof(path), "%s/%s/consumequeue/nope", tu_home(),
	    tu_bus());
	ck_assert_int_eq(access(path, F_OK), -1);
	shmq_consumer_close(c);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	m.queue = SHMQ_QUEUE_ANY;

	/* A bus with auto-creation makes the topic with default_queues. */
	snprintf(other, sizeof(other), "%sb", tu_bus());
	shmq_bus_opts_init(&o);
	o.default_queues = 3;
	bus = bus_open_ok(other, &o);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	ck_assert_int_eq(shmq_topic_queues(bus, "nope"), 3);
	shmq_producer_close(p);
	shmq_bus_close(bus);
}
END_TEST

/*
 * Bad tag expressions: SHMQ_EBADEXPR with a message, and a failed
 * reassignment keeps the expression in force.
 */
START_TEST(test_bad_expr)
{
	const char *bad[] = { "a ||", "|| b", "a | b", "||", "a || || b",
	    "a ||| b", NULL };
	struct shmq_msgview v[8];
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_bus *bus;
	struct shmq_msg m;
	const char *tags[] = { "a", "b", "c", "a" };
	unsigned i;
	int rc, n, got_b = 0, got = 0;

	bus = bus_open_ok(NULL, NULL);
	ck_assert_int_eq(shmq_topic_create(bus, "tags", 1), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	for (i = 0; bad[i] != NULL; i++) {
		rc = shmq_consumer_assign(c, "tags", SHMQ_QUEUE_ANY, bad[i]);
		ck_assert_msg(rc == SHMQ_EBADEXPR, "\"%s\": %s", bad[i],
		    shmq_err_name(rc));
		ck_assert_msg(*shmq_errmsg() != '\0', "\"%s\": no message",
		    bad[i]);
	}
	/* Nothing was assigned by the failures. */
	rc = shmq_consumer_poll(c, v, 8, 0);
	ck_assert_msg(rc == SHMQ_EINVAL, "poll with nothing assigned: %d",
	    rc);

	ck_assert_int_eq(shmq_consumer_assign(c, "tags", 0, "a || b"), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, "tags", 0, SHMQ_SEEK_FIRST, 0),
	    0);
	for (i = 0; bad[i] != NULL; i++)
		ck_assert_int_eq(shmq_consumer_assign(c, "tags", 0, bad[i]),
		    SHMQ_EBADEXPR);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < 4; i++) {
		shmq_msg_init(&m);
		m.topic = "tags";
		m.tags = tags[i];
		m.body = tags[i];
		m.body_len = 1;
		ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	}
	while ((n = shmq_consumer_poll(c, v, 8, 100)) > 0)
		for (rc = 0; rc < n; rc++) {
			got++;
			ck_assert_msg(v[rc].tags_len == 1 &&
			    (v[rc].tags[0] == 'a' || v[rc].tags[0] == 'b'),
			    "tag '%.*s' passed \"a || b\"", (int)v[rc].tags_len,
			    v[rc].tags);
			got_b += v[rc].tags[0] == 'b';
		}
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(got, 3);
	ck_assert_int_eq(got_b, 1);
	shmq_producer_close(p);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
}
END_TEST

/* A missing bus with create = 0, and invalid creation options. */
START_TEST(test_no_bus_and_bad_opts)
{
	struct shmq_bus_opts o;
	struct shmq_bus *bus;
	int rc, before;

	before = dir_entries(tu_home());
	shmq_bus_opts_init(&o);
	o.create = 0;
	rc = shmq_bus_open(&bus, "missing", &o);
	ck_assert_msg(rc == SHMQ_ENOENT, "missing bus: %s", shmq_err_name(rc));
	ck_assert_msg(strstr(shmq_errmsg(), "missing") != NULL,
	    "message does not name the bus: \"%s\"", shmq_errmsg());
	ck_assert_int_eq(dir_entries(tu_home()), before);

	shmq_bus_opts_init(&o);
	o.segment_bytes = 1000;
	rc = shmq_bus_open(&bus, "bad1", &o);
	ck_assert_msg(rc == SHMQ_EINVAL, "segment_bytes 1000: %s",
	    shmq_err_name(rc));
	shmq_bus_opts_init(&o);
	o.segment_bytes = (1 << 20) + 1;
	rc = shmq_bus_open(&bus, "bad2", &o);
	ck_assert_msg(rc == SHMQ_EINVAL, "segment_bytes 1 MiB + 1: %s",
	    shmq_err_name(rc));
	shmq_bus_opts_init(&o);
	o.cq_entries = 1000;
	rc = shmq_bus_open(&bus, "bad3", &o);
	ck_assert_msg(rc == SHMQ_EINVAL, "cq_entries 1000: %s",
	    shmq_err_name(rc));
	shmq_bus_opts_init(&o);
	o.cq_entries = 64;	/* smaller than a page */
	rc = shmq_bus_open(&bus, "bad3b", &o);
	ck_assert_msg(rc == SHMQ_EINVAL, "cq_entries 64: %s",
	    shmq_err_name(rc));
	shmq_bus_opts_init(&o);
	o.default_queues = 0;
	rc = shmq_bus_open(&bus, "bad4", &o);
	ck_assert_msg(rc == SHMQ_EINVAL, "default_queues 0: %s",
	    shmq_err_name(rc));
	/* A failed creation leaves nothing a later open would trip on. */
	shmq_bus_opts_init(&o);
	o.create = 0;
	rc = shmq_bus_open(&bus, "bad1", &o);
	ck_assert_msg(rc == SHMQ_ENOENT, "after a failed create: %s",
	    shmq_err_name(rc));
	shmq_bus_opts_init(&o);
	bus = bus_open_ok("bad1", &o);
	shmq_bus_close(bus);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Permissions                                                         */
/* ------------------------------------------------------------------ */

/* Child: open the bus, send, report the shm name, hold it until told. */
static int
holder_proc(struct bshared *sh)
{
	struct shmq_bus_info bi;
	struct shmq_producer *p;
	struct shmq_bus *bus;
	struct shmq_msg m;
	int rc;

	if ((rc = shmq_bus_open(&bus, NULL, NULL)) != 0 ||
	    (rc = shmq_producer_open(&p, bus, NULL)) != 0) {
		say(sh, "holder open: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	shmq_msg_init(&m);
	m.topic = "perm";
	m.body = "secret";
	m.body_len = 6;
	if ((rc = shmq_producer_send(p, &m, NULL)) != 0 ||
	    (rc = shmq_bus_info(bus, &bi)) != 0) {
		say(sh, "holder send: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	snprintf(sh->shm_name, sizeof(sh->shm_name), "%s", bi.shm_name);
	__atomic_store_n(&sh->flag, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&sh->release, __ATOMIC_ACQUIRE) == 0)
		usleep(1000);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	return E_OK;
}

/*
 * Child: become NOBODY (when UID is set), then open the bus NAME (NULL:
 * $SHMQ_BUS): it must fail with SHMQ_EACCES and a message.
 */
static int
intruder_proc(struct bshared *sh, uid_t uid, const char *name)
{
	struct shmq_bus *bus = NULL;
	int rc;

	if (uid != 0) {
		if (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 ||
		    setuid(uid) != 0) {
			say(sh, "cannot become uid %u: %s", (unsigned)uid,
			    strerror(errno));
			return E_SETUP;
		}
	}
	rc = shmq_bus_open(&bus, name, NULL);
	if (rc != SHMQ_EACCES) {
		say(sh, "open %s as uid %u: %s (%s)", name ? name : "(env)",
		    (unsigned)geteuid(), shmq_err_name(rc), shmq_errmsg());
		if (rc == 0)
			shmq_bus_close(bus);
		return E_WRONG;
	}
	if (*shmq_errmsg() == '\0') {
		say(sh, "SHMQ_EACCES without a message");
		return E_NOMSG;
	}
	return E_OK;
}

#define NOBODY	65534

/*
 * The store and control region are owner-only; another user gets
 * SHMQ_EACCES, both while the bus is open (control region present) and
 * after it closed, and cannot create a bus in our store root.  As root,
 * the other user is nobody; otherwise the store is made unreadable.
 */
START_TEST(test_permissions)
{
	struct bshared *sh;
	char path[4400], newbus[128];
	struct stat st;
	pid_t holder, pid;
	int code;

	sh = shared_new();
	if (geteuid() != 0) {
		/* Unprivileged: make the store unreadable to ourselves. */
		struct shmq_bus *bus;

		bus = bus_open_ok(NULL, NULL);
		shmq_bus_close(bus);
		snprintf(path, sizeof(path), "%s/%s", tu_home(), tu_bus());
		ck_assert_int_eq(chmod(path, 0), 0);
		if ((pid = fork()) == 0)
			_exit(intruder_proc(sh, 0, NULL));
		code = tu_wait_deadline(pid, 30);
		chmod(path, 0700);
		ck_assert_msg(code == E_OK, "exit %d: %s", code, sh->msg);
		return;
	}

	if ((holder = fork()) == 0)
		_exit(holder_proc(sh));
	ck_assert_int_gt(holder, 0);
	for (code = 0; code < 20000 &&
	    __atomic_load_n(&sh->flag, __ATOMIC_ACQUIRE) == 0; code++) {
		if (waitpid(holder, NULL, WNOHANG) != 0)
			break;
		usleep(1000);
	}
	ck_assert_msg(sh->flag == 1, "holder did not start: %s", sh->msg);

	/* Owner-only: nothing in the store for group or others. */
	snprintf(path, sizeof(path), "%s/%s", tu_home(), tu_bus());
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg((st.st_mode & 077) == 0, "store mode %o",
	    (unsigned)(st.st_mode & 07777));
	ck_assert_msg(tu_sh("test -z \"$(find '%s' -perm /077)\"", path) == 0,
	    "files in the store open to group or others");
	snprintf(path, sizeof(path), "/dev/shm/%s",
	    sh->shm_name[0] == '/' ? sh->shm_name + 1 : sh->shm_name);
	ck_assert_msg(stat(path, &st) == 0, "no control region at %s", path);
	ck_assert_msg((st.st_mode & 077) == 0, "control region mode %o",
	    (unsigned)(st.st_mode & 07777));

	/* Let nobody reach the store root, not the store. */
	ck_assert_int_eq(chmod(tu_home(), 0755), 0);
	if ((pid = fork()) == 0)
		_exit(intruder_proc(sh, NOBODY, NULL));
	code = tu_wait_deadline(pid, 30);
	ck_assert_msg(code == E_OK, "while open: exit %d: %s", code, sh->msg);

	__atomic_store_n(&sh->release, 1, __ATOMIC_RELEASE);
	code = tu_wait_deadline(holder, 30);
	ck_assert_msg(code == E_OK, "holder: exit %d: %s", code, sh->msg);

	if ((pid = fork()) == 0)
		_exit(intruder_proc(sh, NOBODY, NULL));
	code = tu_wait_deadline(pid, 30);
	ck_assert_msg(code == E_OK, "after close: exit %d: %s", code,
	    sh->msg);

	snprintf(newbus, sizeof(newbus), "%sn", tu_bus());
	if ((pid = fork()) == 0)
		_exit(intruder_proc(sh, NOBODY, newbus));
	code = tu_wait_deadline(pid, 30);
	ck_assert_msg(code == E_OK, "new bus in a root-owned store root: "
	    "exit %d: %s", code, sh->msg);
	chmod(tu_home(), 0700);
	munmap(sh, sizeof(*sh));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Full disk                                                           */
/* ------------------------------------------------------------------ */

#define FULL_BODY	(16 * 1024)
#define FULL_MAX	20000

enum full_how {
	FULL_FILLER,	/* free space by deleting a filler file */
	FULL_RLIMIT	/* RLIMIT_FSIZE below the segment size, then raised */
};

/*
 * Child: send 16 KiB messages until the store is full.  Sends must fail
 * with SHMQ_ENOSPC (again and again), then work once space is back.
 */
static int
full_writer(struct bshared *sh, enum full_how how, const char *filler)
{
	struct shmq_send_result res;
	struct shmq_bus_opts o;
	struct shmq_producer *p;
	struct shmq_bus *bus;
	struct shmq_msg m;
	struct rlimit rl, old;
	unsigned char *buf;
	uint64_t seq = 0, before;
	struct qsum s;
	int rc = 0, i;

	buf = malloc(FULL_BODY);
	shmq_bus_opts_init(&o);
	o.segment_bytes = 1 << 20;
	o.cq_entries = 1024;
	o.max_msg_bytes = 64 * 1024;
	if (buf == NULL || (rc = shmq_bus_open(&bus, NULL, &o)) != 0 ||
	    (rc = shmq_topic_create(bus, "full", 2)) != 0 ||
	    (rc = shmq_producer_open(&p, bus, NULL)) != 0) {
		say(sh, "setup: %s (%s)", shmq_err_name(rc), shmq_errmsg());
		return E_SETUP;
	}
	shmq_msg_init(&m);
	m.topic = "full";
	m.body = buf;
	m.body_len = FULL_BODY;
	if (how == FULL_RLIMIT) {
		/* A few sends make the first segment and index files. */
		for (; seq < 8; seq++) {
			fill(buf, FULL_BODY, seq);
			m.queue = (int)(seq % 2);
			if ((rc = shmq_producer_send(p, &m, NULL)) != 0) {
				say(sh, "send %llu: %s (%s)",
				    (unsigned long long)seq,
				    shmq_err_name(rc), shmq_errmsg());
				return E_SETUP;
			}
			sh->acked = seq + 1;
		}
		signal(SIGXFSZ, SIG_IGN);
		getrlimit(RLIMIT_FSIZE, &old);
		rl = old;
		rl.rlim_cur = 512 * 1024;
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0) {
			say(sh, "setrlimit: %s", strerror(errno));
			return E_SETUP;
		}
	}
	for (; seq < FULL_MAX; seq++) {
		fill(buf, FULL_BODY, seq);
		m.queue = (int)(seq % 2);
		if ((rc = shmq_producer_send(p, &m, NULL)) != 0)
			break;
		sh->acked = seq + 1;
	}
	if (rc != SHMQ_ENOSPC) {
		say(sh, "after %llu sends: %s (%s), expected SHMQ_ENOSPC",
		    (unsigned long long)seq, shmq_err_name(rc),
		    shmq_errmsg());
		return E_WRONG;
	}
	if (*shmq_errmsg() == '\0') {
		say(sh, "SHMQ_ENOSPC without a message");
		return E_NOMSG;
	}
	say(sh, "full after %llu messages: %s", (unsigned long long)seq,
	    shmq_errmsg());
	sh->failed = 1;
	/* Still full: the same answer, the bus unharmed. */
	s = qsum(bus, "full");
	before = s.max_sum;
	for (i = 0; i < 5; i++) {
		rc = shmq_producer_send(p, &m, NULL);
		sh->failed++;
		if (rc != SHMQ_ENOSPC) {
			say(sh, "retry %d while full: %s", i,
			    shmq_err_name(rc));
			return E_WRONG;
		}
	}
	s = qsum(bus, "full");
	/* Offsets used up by failed sends (they are holes, if any). */
	sh->holes = s.max_sum - sh->acked;
	if (s.max_sum - before > 5) {
		say(sh, "5 failed sends moved the queues' max offsets by %llu",
		    (unsigned long long)(s.max_sum - before));
		return E_STORED;
	}

	if (how == FULL_FILLER) {
		if (unlink(filler) != 0) {
			say(sh, "unlink %s: %s", filler, strerror(errno));
			return E_SETUP;
		}
	} else
		setrlimit(RLIMIT_FSIZE, &old);
	for (i = 0; i < 20; i++, seq++) {
		fill(buf, FULL_BODY, seq);
		m.queue = (int)(seq % 2);
		if ((rc = shmq_producer_send(p, &m, &res)) != 0) {
			say(sh, "send %d after space was freed: %s (%s)", i,
			    shmq_err_name(rc), shmq_errmsg());
			return E_AFTER;
		}
		sh->acked = seq + 1;
	}
	shmq_producer_close(p);
	shmq_bus_close(bus);
	free(buf);
	return E_OK;
}

/* Child: every acknowledged message is there, intact, once. */
static int
full_reader(struct bshared *sh)
{
	struct shmq_msgview v[32];
	struct shmq_consumer *c;
	struct shmq_bus *bus;
	uint8_t *seen;
	uint64_t seq, got = 0, next[2] = { 0, 0 }, skipped = 0;
	int rc = 0, n, i;

	seen = calloc(FULL_MAX + 64, 1);
	if (seen == NULL || (rc = shmq_bus_open(&bus, NULL, NULL)) != 0 ||
	    (rc = shmq_consumer_open(&c, bus)) != 0 ||
	    (rc = shmq_consumer_assign(c, "full", SHMQ_QUEUE_ANY, "*")) != 0 ||
	    (rc = shmq_consumer_seek(c, "full", SHMQ_QUEUE_ANY,
	    SHMQ_SEEK_FIRST, 0)) != 0) {
		say(sh, "reader setup: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	while ((n = shmq_consumer_poll(c, v, 32, 200)) > 0) {
		for (i = 0; i < n; i++) {
			if (v[i].body_len != FULL_BODY ||
			    !fill_ok(v[i].body, v[i].body_len, &seq) ||
			    seq >= sh->acked || seen[seq] ||
			    v[i].queue != (int)(seq % 2) ||
			    v[i].queue_off < next[v[i].queue]) {
				say(sh, "bad message at queue %d off %llu",
				    v[i].queue,
				    (unsigned long long)v[i].queue_off);
				return E_LOSS;
			}
			skipped += v[i].queue_off - next[v[i].queue];
			next[v[i].queue] = v[i].queue_off + 1;
			seen[seq] = 1;
			got++;
		}
	}
	if (n < 0 || got != sh->acked) {
		say(sh, "read %llu of %llu acknowledged messages (poll %s)",
		    (unsigned long long)got, (unsigned long long)sh->acked,
		    n < 0 ? shmq_err_name(n) : "0");
		return E_LOSS;
	}
	if (skipped > sh->failed) {
		say(sh, "%llu offsets skipped for %llu failed sends",
		    (unsigned long long)skipped,
		    (unsigned long long)sh->failed);
		return E_STORED;
	}
	shmq_consumer_close(c);
	shmq_bus_close(bus);
	free(seen);
	return E_OK;
}

static void
run_full(struct bshared *sh, enum full_how how, const char *filler)
{
	pid_t pid;
	int code;

	if ((pid = fork()) == 0)
		_exit(full_writer(sh, how, filler));
	ck_assert_int_gt(pid, 0);
	code = tu_wait_deadline(pid, 60);
	fprintf(stderr, "full disk (%s): %llu acknowledged, %llu failed "
	    "sends used %llu offsets: %s\n", how == FULL_FILLER ? "tmpfs" :
	    "RLIMIT_FSIZE", (unsigned long long)sh->acked,
	    (unsigned long long)sh->failed, (unsigned long long)sh->holes,
	    sh->msg);
	if (code != E_OK) {
		char m[2100];

		snprintf(m, sizeof(m), "writer: exit %d: %s", code, sh->msg);
		if (how == FULL_FILLER)
			tu_sh("umount -l '%s/fs'", tu_home());
		ck_abort_msg("%s", m);
	}
	if ((pid = fork()) == 0)
		_exit(full_reader(sh));
	code = tu_wait_deadline(pid, 60);
	if (code != E_OK) {
		char m[2100];

		snprintf(m, sizeof(m), "reader: exit %d: %s", code, sh->msg);
		if (how == FULL_FILLER)
			tu_sh("umount -l '%s/fs'", tu_home());
		ck_abort_msg("%s", m);
	}
}

/*
 * As root: the store on an 8 MiB tmpfs holding a 2 MiB filler file.
 * Sends fill it, then fail with SHMQ_ENOSPC (no SIGBUS); everything
 * acknowledged is readable; deleting the filler makes sends work again.
 */
START_TEST(test_full_tmpfs)
{
	struct bshared *sh;
	char fs[4200], filler[4300];

	if (geteuid() != 0) {
		fprintf(stderr, "full_tmpfs: skipped (not root: cannot mount "
		    "a tmpfs; test_full_rlimit covers ENOSPC)\n");
		return;
	}
	snprintf(fs, sizeof(fs), "%s/fs", tu_home());
	ck_assert_int_eq(mkdir(fs, 0700), 0);
	if (tu_sh("mount -t tmpfs -o size=8m,mode=0700 tmpfs '%s' "
	    "2>/dev/null", fs) != 0) {
		fprintf(stderr, "full_tmpfs: skipped (mount -t tmpfs failed: "
		    "no CAP_SYS_ADMIN here?)\n");
		return;
	}
	snprintf(filler, sizeof(filler), "%s/filler", fs);
	ck_assert_int_eq(tu_sh("dd if=/dev/zero of='%s' bs=1M count=2 "
	    "2>/dev/null", filler), 0);
	setenv("SHMQ_HOME", fs, 1);
	sh = shared_new();
	run_full(sh, FULL_FILLER, filler);
	setenv("SHMQ_HOME", tu_home(), 1);
	tu_sh("rm -f /dev/shm/shmq.*.%s.* 2>/dev/null", tu_bus());
	ck_assert_int_eq(tu_sh("umount '%s'", fs), 0);
	ck_assert_uint_gt(sh->acked, 20);
	munmap(sh, sizeof(*sh));
}
END_TEST

/*
 * Any user: RLIMIT_FSIZE (with SIGXFSZ ignored) below the segment size
 * makes the next segment impossible to create: SHMQ_ENOSPC, then sends
 * work again once the limit is raised.
 */
START_TEST(test_full_rlimit)
{
	struct bshared *sh;

	sh = shared_new();
	run_full(sh, FULL_RLIMIT, NULL);
	ck_assert_uint_ge(sh->acked, 28);
	munmap(sh, sizeof(*sh));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Many topics                                                         */
/* ------------------------------------------------------------------ */

#define NTOPICS		10000

struct tcount {
	unsigned	queues;
	unsigned	bad;
};

static int
tcount_cb(void *arg, const struct shmq_queue_info *qi)
{
	struct tcount *tc = arg;

	tc->queues++;
	if (qi->max_off != 1 || qi->min_off != 0 || qi->queues != 1)
		tc->bad++;
	return 0;
}

/*
 * 10,000 topics on one bus: create them, send one message to each, read a
 * few back with one consumer, count them all with shmq_queue_foreach, and
 * again after a reopen (the control region rebuilt from the store).
 */
START_TEST(test_many_topics)
{
	struct shmq_bus_opts o;
	struct shmq_bus_info bi;
	struct shmq_msgview v[8];
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_bus *bus;
	struct shmq_msg m;
	struct tcount tc;
	char name[64], body[64];
	const unsigned probe[] = { 0, 1, 4999, 9998, 9999 };
	const unsigned nprobe = sizeof(probe) / sizeof(probe[0]);
	unsigned i, k, bad = 0, got, pass;
	uint64_t t0, t1, t2, t3 = 0;
	int rc, n, tries;

	shmq_bus_opts_init(&o);
	o.segment_bytes = 1 << 20;
	o.max_msg_bytes = 64 * 1024;	/* default index files (262144) */
	t0 = tu_mono_ns();
	bus = bus_open_ok(NULL, &o);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < NTOPICS; i++) {
		snprintf(name, sizeof(name), "topic.%05u", i);
		if ((rc = shmq_topic_create(bus, name, 1)) != 0)
			ck_abort_msg("topic %u: %s (%s)", i, shmq_err_name(rc),
			    shmq_errmsg());
	}
	t1 = tu_mono_ns();
	for (i = 0; i < NTOPICS; i++) {
		snprintf(name, sizeof(name), "topic.%05u", i);
		snprintf(body, sizeof(body), "body of %u", i);
		shmq_msg_init(&m);
		m.topic = name;
		m.body = body;
		m.body_len = strlen(body);
		if (shmq_producer_send(p, &m, NULL) != 0)
			bad++;
	}
	ck_assert_msg(bad == 0, "%u sends failed (%s)", bad, shmq_errmsg());
	t2 = tu_mono_ns();
	shmq_producer_close(p);

	for (pass = 0; pass < 2; pass++) {
		ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
		ck_assert_uint_eq(bi.topics, NTOPICS);
		/* A quiet queue's index is one small file (32 KiB), not a
		 * full-size one (8 MiB): 10k topics fit in ~330 MB. */
		ck_assert_msg(bi.store_bytes < (uint64_t)NTOPICS * 40 * 1024 +
		    64 * bi.segment_bytes, "store uses %llu bytes",
		    (unsigned long long)bi.store_bytes);
		memset(&tc, 0, sizeof(tc));
		ck_assert_int_eq(shmq_queue_foreach(bus, NULL, tcount_cb, &tc),
		    0);
		ck_assert_uint_eq(tc.queues, NTOPICS);
		ck_assert_uint_eq(tc.bad, 0);
		ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
		for (i = 0; i < nprobe; i++) {
			snprintf(name, sizeof(name), "topic.%05u", probe[i]);
			ck_assert_int_eq(shmq_consumer_assign(c, name,
			    SHMQ_QUEUE_ANY, "*"), 0);
			ck_assert_int_eq(shmq_consumer_seek(c, name,
			    SHMQ_QUEUE_ANY, SHMQ_SEEK_FIRST, 0), 0);
			ck_assert_int_eq(shmq_topic_queues(bus, name), 1);
		}
		/* One consumer on several topics gets each message once. */
		got = 0;
		bad = 0;
		for (tries = 0; tries < 50 && got < nprobe; tries++) {
			n = shmq_consumer_poll(c, v, 8, 20);
			ck_assert_int_ge(n, 0);
			for (rc = 0; rc < n; rc++) {
				char t[64];

				got++;
				snprintf(t, sizeof(t), "%.*s",
				    (int)v[rc].topic_len, v[rc].topic);
				if (sscanf(t, "topic.%u", &k) != 1 ||
				    v[rc].queue_off != 0) {
					bad++;
					continue;
				}
				snprintf(body, sizeof(body), "body of %u", k);
				if (v[rc].body_len != strlen(body) ||
				    memcmp(v[rc].body, body,
				    v[rc].body_len) != 0)
					bad++;
			}
		}
		ck_assert_int_eq(shmq_consumer_poll(c, v, 8, 20), 0);
		ck_assert_msg(bad == 0 && got == nprobe, "pass %u: read %u of "
		    "%u messages, %u bad", pass, got, nprobe, bad);
		shmq_consumer_close(c);
		shmq_bus_close(bus);
		if (pass == 0) {
			/* Reopen: rebuilt from the store, 10k topics. */
			t3 = tu_mono_ns();
			bus = bus_open_ok(NULL, &o);
			t3 = tu_mono_ns() - t3;
		}
	}
	fprintf(stderr, "many topics: create %.2f s, send %.2f s, reopen "
	    "%.2f s, total %.2f s\n", (double)(t1 - t0) / 1e9,
	    (double)(t2 - t1) / 1e9, (double)t3 / 1e9,
	    (double)(tu_mono_ns() - t0) / 1e9);
}
END_TEST

static Suite *
badinput_suite(void)
{
	Suite *s = suite_create("badinput");
	TCase *tc;

	tc = tcase_create("names");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_bad_topic_names);
	tcase_add_test(tc, test_bad_bus_and_group_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_too_big);
	tcase_add_test(tc, test_no_queue);
	tcase_add_test(tc, test_no_topic);
	tcase_add_test(tc, test_bad_expr);
	tcase_add_test(tc, test_no_bus_and_bad_opts);
	suite_add_tcase(s, tc);

	tc = tcase_create("permissions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_permissions);
	suite_add_tcase(s, tc);

	tc = tcase_create("full");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_full_tmpfs);
	tcase_add_test(tc, test_full_rlimit);
	suite_add_tcase(s, tc);

	tc = tcase_create("scale");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_many_topics);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(badinput_suite);
}
