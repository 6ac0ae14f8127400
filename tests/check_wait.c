/*
 * check_wait.c - how consumers wait, and what ends a wait: poll timeouts
 * that end on time, dead and stale claims and lost index entries skipped
 * after (at most) one stall, a message whose producer died before its wake,
 * idle processes that do not wake up a thousand times a second, and the
 * doorbell lease of multi-topic sleepers running out when they die.
 *
 * Timing bounds are generous (a loaded two-core machine): a lower bound
 * that the code guarantees, and an upper bound of the expected time plus
 * SLACK_MS, scaled by CK_TIMEOUT_MULTIPLIER.  Children report through
 * _exit() codes; the parent asserts.
 */
#include "config.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "bus.h"
#include "client.h"
#include "commitlog.h"
#include "consumequeue.h"
#include "internal.h"
#include "layout.h"
#include "msg.h"
#include "prefault.h"
#include "topic.h"
#include "testutil.h"

#define SLACK_MS	60

static struct shmq_bus *bus;

/* Upper bound for something expected to take MS milliseconds. */
static uint64_t
bound_ms(uint64_t ms)
{
	return ms + (uint64_t)(SLACK_MS * tu_mult());
}

static uint64_t
ms_since(uint64_t t0)
{
	return (tu_mono_ns() - t0) / 1000000;
}

static void
open_bus(uint32_t stall_ms)
{
	struct shmq_bus_opts o;

	shmq_bus_opts_init(&o);
	o.segment_bytes = 4ull << 20;
	if (stall_ms != 0)
		o.stall_ms = stall_ms;
	ck_assert_int_eq(shmq_bus_open(&bus, NULL, &o), 0);
}

static void
setup(void)
{
	tu_setup_store();
	bus = NULL;
}

static void
teardown(void)
{
	shmq_bus_close(bus);
	bus = NULL;
	tu_cleanup_store();
}

static int
send_seq(struct shmq_producer *p, const char *topic, uint64_t seq)
{
	struct shmq_msg m;

	shmq_msg_init(&m);
	m.topic = topic;
	m.body = &seq;
	m.body_len = sizeof(seq);
	m.queue = 0;
	return shmq_producer_send(p, &m, NULL);
}

static uint64_t
view_seq(const struct shmq_msgview *v)
{
	uint64_t seq = UINT64_MAX;

	if (v->body_len == sizeof(seq))
		memcpy(&seq, v->body, sizeof(seq));
	return seq;
}

/* Voluntary context switches of every thread of PID, or -1. */
static long
ctx_switches(pid_t pid)
{
	char path[256], line[256];
	struct dirent *d;
	long sum = 0, v;
	DIR *dir;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status",
		    (int)pid, d->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "voluntary_ctxt_switches: %ld",
			    &v) == 1)
				sum += v;
		fclose(f);
	}
	closedir(dir);
	return sum;
}

/* Number of threads of PID. */
static int
nthreads(pid_t pid)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL)
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* ------------------------------------------------------------------ */
/* Poll timeouts                                                       */
/* ------------------------------------------------------------------ */

static void
check_timeouts(struct shmq_consumer *c)
{
	static const int tmo[] = { 1, 20, 99, 150 };
	struct shmq_msgview v;
	uint64_t t0, ms;
	size_t i;

	for (i = 0; i < sizeof(tmo) / sizeof(tmo[0]); i++) {
		t0 = tu_mono_ns();
		ck_assert_int_eq(shmq_consumer_poll(c, &v, 1, tmo[i]), 0);
		ms = ms_since(t0);
		ck_assert_msg(ms >= (uint64_t)tmo[i] &&
		    ms <= bound_ms((uint64_t)tmo[i]),
		    "poll(%d) took %llu ms", tmo[i], (unsigned long long)ms);
		fprintf(stderr, "check_wait: poll(%d) took %.2f ms\n", tmo[i],
		    (double)(tu_mono_ns() - t0) / 1e6);
	}
}

START_TEST(t_poll_timeout_one_topic)
{
	struct shmq_consumer *c;

	open_bus(0);
	ck_assert_int_eq(shmq_topic_create(bus, "a", 2), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "a", SHMQ_QUEUE_ANY, NULL),
	    0);
	check_timeouts(c);
	shmq_consumer_close(c);
}
END_TEST

START_TEST(t_poll_timeout_two_topics)
{
	struct shmq_consumer *c;

	open_bus(0);
	ck_assert_int_eq(shmq_topic_create(bus, "a", 1), 0);
	ck_assert_int_eq(shmq_topic_create(bus, "b", 1), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "a", 0, NULL), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "b", 0, NULL), 0);
	check_timeouts(c);
	shmq_consumer_close(c);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Dead and stale claims                                               */
/* ------------------------------------------------------------------ */

/* In a child: register a producer slot, claim the next entry of queue 0 of
 * TOPIC and die holding it. */
static void
claim_and_die(const char *topic)
{
	struct shmq_client_slot *slot;
	struct shmq_cq_entry *e;
	struct shmq_topic *t;
	struct shmq_bus *b;
	uint64_t off;
	uint32_t idx;

	if (shmq_bus_open(&b, NULL, NULL) < 0 ||
	    shmq__client_register(b, SHMQ_ROLE_PRODUCER, "doomed", &idx,
	    &slot) < 0 ||
	    shmq__topic_get(b, topic, false, 0, &t) < 0 ||
	    shmq__cq_claim(b, t, &t->cq[0], shmq__client_claim(b, idx), &off,
	    &e) < 0)
		_exit(1);
	_exit(off == 0 ? 0 : 2);
}

START_TEST(t_dead_claim)
{
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_msgview v;
	uint64_t t0, ms;
	pid_t pid;

	open_bus(20);
	ck_assert_int_eq(shmq_topic_create(bus, "a", 1), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "a", 0, NULL), 0);
	if ((pid = fork()) == 0)
		claim_and_die("a");
	ck_assert_int_eq(tu_wait(pid), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(send_seq(p, "a", 7), 0);

	t0 = tu_mono_ns();
	ck_assert_int_eq(shmq_consumer_poll(c, &v, 1, 5000), 1);
	ms = ms_since(t0);
	ck_assert_uint_eq(v.queue_off, 1);
	ck_assert_uint_eq(view_seq(&v), 7);
	/* One stall (20 ms) and the re-check before it (1 ms). */
	ck_assert_msg(ms >= 20 && ms <= bound_ms(21),
	    "dead claim skipped after %llu ms", (unsigned long long)ms);
	fprintf(stderr, "check_wait: dead claim skipped after %llu ms "
	    "(stall 20 ms)\n", (unsigned long long)ms);
	shmq_producer_close(p);
	shmq_consumer_close(c);
}
END_TEST

START_TEST(t_stale_epoch_claim)
{
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_cq_entry *e;
	struct shmq_msgview v;
	struct shmq_topic *t;
	struct shmq_bus_info bi;
	uint64_t off, t0, ms;

	/* A stall so long that only the epoch can explain a quick skip. */
	open_bus(10000);
	ck_assert_int_eq(shmq_topic_create(bus, "a", 1), 0);
	ck_assert_int_eq(shmq__topic_get(bus, "a", false, 0, &t), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "a", 0, NULL), 0);
	/* What a producer of the previous control region left behind. */
	ck_assert_int_eq(shmq__cq_claim(bus, t, &t->cq[0],
	    shmq_claim_state(bus->epoch ^ 1, 1, 0), &off, &e), 0);
	ck_assert_uint_eq(off, 0);
	ck_assert(shmq__claim_stale(bus, shmq_claim_state(bus->epoch ^ 1, 1,
	    0)));
	ck_assert(!shmq__claim_stale(bus, shmq_claim_state(bus->epoch, 1,
	    0)));
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(send_seq(p, "a", 9), 0);

	t0 = tu_mono_ns();
	ck_assert_int_eq(shmq_consumer_poll(c, &v, 1, 3000), 1);
	ms = ms_since(t0);
	ck_assert_uint_eq(v.queue_off, 1);
	ck_assert_uint_eq(view_seq(&v), 9);
	ck_assert_msg(ms <= bound_ms(0), "stale claim skipped after %llu ms",
	    (unsigned long long)ms);
	ck_assert_uint_eq(shmq__cq_state(e), SHMQ_CQ_HOLE);
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	ck_assert_uint_eq(bi.holes, 1);
	shmq_producer_close(p);
	shmq_consumer_close(c);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Lost index entries                                                  */
/* ------------------------------------------------------------------ */

#define LOST_N		20000u
#define LOST_AT		10000u
#define LOST_RUN	128u	/* one 4 KiB page of entries */

/* Receive from C until WANT messages came or polls keep returning none;
 * checks that they are SEQS in order, skipping [LOST_AT, +LOST_RUN) of
 * the first LOST_N.  Returns the count. */
static uint64_t
drain(struct shmq_consumer *c, uint64_t *next, uint64_t want)
{
	struct shmq_msgview v[256];
	uint64_t got = 0, seq;
	int n, i, idle = 0;

	while (got < want && idle < 3) {
		n = shmq_consumer_poll(c, v, 256, 1000);
		ck_assert_int_ge(n, 0);
		idle = n == 0 ? idle + 1 : 0;
		for (i = 0; i < n; i++) {
			if (*next == LOST_AT)
				*next += LOST_RUN;
			seq = view_seq(&v[i]);
			if (seq != *next)
				ck_abort_msg("got seq %llu, expected %llu",
				    (unsigned long long)seq,
				    (unsigned long long)*next);
			(*next)++;
		}
		got += (uint64_t)n;
	}
	return got;
}

START_TEST(t_lost_index_page)
{
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_cq_entry *e;
	struct shmq_topic *t;
	uint64_t i, next = 0, got, t0, ms;
	int err;

	open_bus(20);
	ck_assert_int_eq(shmq_topic_create(bus, "lost", 1), 0);
	ck_assert_int_eq(shmq__topic_get(bus, "lost", false, 0, &t), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < LOST_N; i++)
		if (send_seq(p, "lost", i) != 0)
			ck_abort_msg("send %llu: %s", (unsigned long long)i,
			    shmq_errmsg());
	/* What a crash that loses one page of the index leaves. */
	for (i = LOST_AT; i < LOST_AT + LOST_RUN; i++) {
		e = shmq__cq_entry(bus, t, &t->cq[0], i, false, &err);
		ck_assert_ptr_nonnull(e);
		memset(e, 0, sizeof(*e));
	}

	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "lost", 0, NULL), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, "lost", 0, SHMQ_SEEK_FIRST, 0),
	    0);
	t0 = tu_mono_ns();
	got = drain(c, &next, LOST_N - LOST_RUN);
	ms = ms_since(t0);
	ck_assert_uint_eq(got, LOST_N - LOST_RUN);
	ck_assert_uint_eq(next, LOST_N);
	for (i = LOST_AT; i < LOST_AT + LOST_RUN; i++) {
		e = shmq__cq_entry(bus, t, &t->cq[0], i, false, &err);
		ck_assert_uint_eq(shmq__cq_state(e), SHMQ_CQ_HOLE);
	}
	/* One stall for the whole run, not one per entry (2.5 s). */
	ck_assert_msg(ms <= bound_ms(20) + 500, "took %llu ms",
	    (unsigned long long)ms);
	fprintf(stderr, "check_wait: %u messages with %u lost entries read "
	    "in %llu ms (stall 20 ms)\n", LOST_N - LOST_RUN, LOST_RUN,
	    (unsigned long long)ms);

	/* And it goes on with what comes next. */
	for (i = LOST_N; i < LOST_N + 100; i++)
		ck_assert_int_eq(send_seq(p, "lost", i), 0);
	ck_assert_uint_eq(drain(c, &next, 100), 100);
	ck_assert_uint_eq(next, LOST_N + 100);
	shmq_producer_close(p);
	shmq_consumer_close(c);
}
END_TEST

/* ------------------------------------------------------------------ */
/* A producer that dies between commit and wake                        */
/* ------------------------------------------------------------------ */

/* In a child: store SEQ in queue 0 of TOPIC exactly as a send does, up to
 * and including the commit, and die before the wake. */
static void
commit_and_die(const char *topic, uint64_t seq)
{
	struct shmq_client_slot *slot;
	struct shmq_rec_meta meta;
	struct shmq_cq_entry *e;
	struct shmq_topic *t;
	struct shmq_rec *rec;
	struct shmq_enc enc;
	struct shmq_msg m;
	struct shmq_bus *b;
	uint64_t claim, qoff, loff, now;
	uint32_t idx;

	shmq_msg_init(&m);
	m.topic = topic;
	m.body = &seq;
	m.body_len = sizeof(seq);
	m.queue = 0;
	if (shmq_bus_open(&b, NULL, NULL) < 0 ||
	    shmq__client_register(b, SHMQ_ROLE_PRODUCER, "doomed", &idx,
	    &slot) < 0 ||
	    shmq__topic_get(b, topic, false, 0, &t) < 0 ||
	    shmq__msg_measure(&m, t->name_len, b->max_msg_bytes, &enc) < 0)
		_exit(1);
	claim = shmq__client_claim(b, idx);
	if (shmq__cq_claim(b, t, &t->cq[0], claim, &qoff, &e) < 0 ||
	    shmq__log_reserve(b, enc.size, &loff, &rec) < 0)
		_exit(2);
	now = shmq__real_ns();
	memset(&meta, 0, sizeof(meta));
	meta.log_off = loff;
	meta.queue_off = qoff;
	meta.born_ns = now;
	meta.store_ns = now;
	meta.producer_id = idx;
	shmq__msg_write(rec, &m, t->name, &enc, &meta);
	ck_pr_fence_store();
	ck_pr_store_32(&rec->size, enc.size);
	if (!shmq__cq_commit(e, claim, loff, enc.size, 0, now))
		_exit(3);
	_exit(0);	/* no ck_ec64_inc: nobody is told */
}

START_TEST(t_unannounced_commit)
{
	struct shmq_consumer *c;
	struct shmq_msgview v;
	uint64_t t0, ms;
	pid_t pid;

	open_bus(0);
	ck_assert_int_eq(shmq_topic_create(bus, "a", 1), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "a", 0, NULL), 0);
	t0 = tu_mono_ns();
	if ((pid = fork()) == 0) {
		usleep(200000);		/* the parent is asleep by then */
		commit_and_die("a", 42);
	}
	ck_assert_int_eq(shmq_consumer_poll(c, &v, 1, 10000), 1);
	ms = ms_since(t0);
	ck_assert_int_eq(tu_wait(pid), 0);
	ck_assert_uint_eq(view_seq(&v), 42);
	/* Within the one-second cap of a sleep (after the commit at about
	 * 200 ms): not at the poll's deadline. */
	ck_assert_msg(ms <= bound_ms(1200) + 500, "unannounced message seen "
	    "after %llu ms", (unsigned long long)ms);
	fprintf(stderr, "check_wait: unannounced message seen %llu ms after "
	    "poll start (committed at ~200 ms)\n", (unsigned long long)ms);
	shmq_consumer_close(c);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Idle processes                                                      */
/* ------------------------------------------------------------------ */

/* Child: a consumer of TOPICS (one or two) asleep in poll(-1).  Writes one
 * byte to FD before it polls. */
static void
idle_consumer(int fd, int ntopics)
{
	struct shmq_consumer *c;
	struct shmq_msgview v;
	struct shmq_bus *b;

	if (shmq_bus_open(&b, NULL, NULL) < 0 ||
	    shmq_consumer_open(&c, b) < 0 ||
	    shmq_consumer_assign(c, "a", SHMQ_QUEUE_ANY, NULL) < 0 ||
	    (ntopics > 1 && shmq_consumer_assign(c, "b", SHMQ_QUEUE_ANY,
	    NULL) < 0))
		_exit(1);
	if (write(fd, "r", 1) != 1)
		_exit(2);
	for (;;)
		if (shmq_consumer_poll(c, &v, 1, -1) < 0)
			_exit(3);
}

/* Child: a producer that sent one message and then does nothing. */
static void
idle_producer(int fd)
{
	struct shmq_producer *p;
	struct shmq_bus *b;

	if (shmq_bus_open(&b, NULL, NULL) < 0 ||
	    shmq_producer_open(&p, b, NULL) < 0 ||
	    send_seq(p, "a", 1) < 0)
		_exit(1);
	if (write(fd, "r", 1) != 1)
		_exit(2);
	for (;;)
		pause();
}

/* Fork WHAT, wait until it is ready and has settled for SETTLE_MS, and
 * return its voluntary context switches over the next second. */
static long
idle_switches(int what, unsigned settle_ms, int *threads)
{
	long a, b;
	pid_t pid;
	int fds[2];
	char ch;

	ck_assert_int_eq(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		if (what == 0)
			idle_producer(fds[1]);
		idle_consumer(fds[1], what);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &ch, 1), 1);
	close(fds[0]);
	usleep(settle_ms * 1000);
	*threads = nthreads(pid);
	a = ctx_switches(pid);
	sleep(1);
	b = ctx_switches(pid);
	kill(pid, SIGKILL);
	ck_assert_int_eq(tu_wait(pid), 128 + SIGKILL);
	ck_assert(a >= 0 && b >= a);
	return b - a;
}

START_TEST(t_idle_consumer)
{
	long n;
	int th;

	open_bus(0);
	ck_assert_int_eq(shmq_topic_create(bus, "a", 4), 0);
	n = idle_switches(1, 200, &th);
	fprintf(stderr, "check_wait: idle consumer: %ld wakeups/s, %d "
	    "threads\n", n, th);
	ck_assert_msg(n < 5, "idle consumer: %ld context switches in 1 s", n);
	ck_assert_int_eq(th, 1);	/* no prefault thread */
}
END_TEST

START_TEST(t_idle_consumer_two_topics)
{
	long n;
	int th;

	open_bus(0);
	ck_assert_int_eq(shmq_topic_create(bus, "a", 1), 0);
	ck_assert_int_eq(shmq_topic_create(bus, "b", 1), 0);
	n = idle_switches(2, 200, &th);
	fprintf(stderr, "check_wait: idle two-topic consumer: %ld "
	    "wakeups/s\n", n);
	ck_assert_msg(n < 5, "idle consumer: %ld context switches in 1 s", n);
}
END_TEST

START_TEST(t_idle_producer)
{
	long n;
	int th;

	open_bus(0);
	ck_assert_int_eq(shmq_topic_create(bus, "a", 1), 0);
	/* The prefault thread reaches its idle period within 0.3 s. */
	n = idle_switches(0, 500, &th);
	fprintf(stderr, "check_wait: idle producer: %ld wakeups/s, %d "
	    "threads\n", n, th);
	ck_assert_msg(n < 30, "idle producer: %ld context switches in 1 s", n);
	ck_assert_int_eq(th, 2);	/* main and prefault */
}
END_TEST

START_TEST(t_prefault_resumes)
{
	struct shmq_producer *p;
	struct shmq_bus_info bi;
	uint64_t t0, ms, upto;
	int i;

	/* The producer's helper goes idle, then picks up again: a burst
	 * across several segments (4 MiB, 2 MiB lead) finds them made, and
	 * the helper ends up ahead of the new tail. */
	open_bus(0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(send_seq(p, "a", 0), 0);
	usleep(500000);
	upto = ck_pr_load_64(&bus->prefault_upto);
	for (i = 0; i < 100000; i++)
		if (send_seq(p, "a", (uint64_t)i) != 0)
			ck_abort_msg("send %d: %s", i, shmq_errmsg());
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	ck_assert_uint_gt(bi.segments, 2);
	usleep(300000);
	ck_assert_uint_gt(ck_pr_load_64(&bus->prefault_upto), upto);
	ck_assert_uint_ge(ck_pr_load_64(&bus->prefault_upto),
	    ck_pr_load_64(&bus->ctl->log_tail));
	shmq_producer_close(p);
	/* Idle again: stopping it does not wait out its 100 ms period. */
	usleep(300000);
	t0 = tu_mono_ns();
	shmq__prefault_stop(bus);
	ms = ms_since(t0);
	ck_assert_msg(ms <= bound_ms(0) / 2, "stop took %llu ms",
	    (unsigned long long)ms);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Doorbell                                                            */
/* ------------------------------------------------------------------ */

/* Child: send SEQ on TOPIC after DELAY_MS. */
static void
send_later(const char *topic, unsigned delay_ms, uint64_t seq)
{
	struct shmq_producer *p;
	struct shmq_bus *b;

	if (shmq_bus_open(&b, NULL, NULL) < 0 ||
	    shmq_producer_open(&p, b, NULL) < 0)
		_exit(1);
	usleep(delay_ms * 1000);
	if (send_seq(p, topic, seq) < 0)
		_exit(2);
	_exit(0);
}

START_TEST(t_doorbell_wakes)
{
	struct shmq_consumer *c;
	struct shmq_msgview v;
	uint64_t t0, ms;
	pid_t pid;

	open_bus(0);
	ck_assert_int_eq(shmq_topic_create(bus, "a", 1), 0);
	ck_assert_int_eq(shmq_topic_create(bus, "b", 1), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "a", 0, NULL), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "b", 0, NULL), 0);
	t0 = tu_mono_ns();
	if ((pid = fork()) == 0)
		send_later("b", 300, 5);
	ck_assert_int_eq(shmq_consumer_poll(c, &v, 1, 10000), 1);
	ms = ms_since(t0);
	ck_assert_int_eq(tu_wait(pid), 0);
	ck_assert_uint_eq(view_seq(&v), 5);
	/* Woken by the doorbell, not by the one-second cap. */
	ck_assert_msg(ms >= 300 && ms <= bound_ms(300) + 300,
	    "two-topic consumer woke after %llu ms", (unsigned long long)ms);
	shmq_consumer_close(c);
}
END_TEST

START_TEST(t_doorbell_dead_sleeper)
{
	struct shmq_producer *p;
	struct ck_ec64 *db;
	uint64_t before;
	pid_t pid;
	int fds[2];
	char ch;

	open_bus(0);
	ck_assert_int_eq(shmq_topic_create(bus, "a", 1), 0);
	ck_assert_int_eq(shmq_topic_create(bus, "b", 1), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	db = &bus->ctl->doorbell;

	/* Nobody asleep on two topics: no doorbell. */
	before = ck_ec64_value(db);
	ck_assert_int_eq(send_seq(p, "a", 0), 0);
	ck_assert_uint_eq(ck_ec64_value(db), before);

	ck_assert_int_eq(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		idle_consumer(fds[1], 2);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &ch, 1), 1);
	close(fds[0]);
	usleep(200000);
	/* A two-topic sleeper: the doorbell rings. */
	before = ck_ec64_value(db);
	ck_assert_int_eq(send_seq(p, "a", 1), 0);
	ck_assert_uint_gt(ck_ec64_value(db), before);
	/* Killed in its sleep; a while later producers stop ringing. */
	usleep(200000);
	kill(pid, SIGKILL);
	ck_assert_int_eq(tu_wait(pid), 128 + SIGKILL);
	sleep(4);
	before = ck_ec64_value(db);
	ck_assert_int_eq(send_seq(p, "a", 2), 0);
	ck_assert_int_eq(send_seq(p, "b", 3), 0);
	ck_assert_uint_eq(ck_ec64_value(db), before);
	shmq_producer_close(p);
}
END_TEST

static Suite *
wait_suite(void)
{
	Suite *s = suite_create("wait");
	TCase *tc;

	tc = tcase_create("timeouts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, t_poll_timeout_one_topic);
	tcase_add_test(tc, t_poll_timeout_two_topics);
	suite_add_tcase(s, tc);

	tc = tcase_create("claims");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, t_dead_claim);
	tcase_add_test(tc, t_stale_epoch_claim);
	tcase_add_test(tc, t_lost_index_page);
	suite_add_tcase(s, tc);

	tc = tcase_create("lost_wake");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, t_unannounced_commit);
	suite_add_tcase(s, tc);

	tc = tcase_create("idle");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, t_idle_consumer);
	tcase_add_test(tc, t_idle_consumer_two_topics);
	tcase_add_test(tc, t_idle_producer);
	tcase_add_test(tc, t_prefault_resumes);
	suite_add_tcase(s, tc);

	tc = tcase_create("doorbell");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, t_doorbell_wakes);
	tcase_add_test(tc, t_doorbell_dead_sleeper);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(wait_suite);
}
