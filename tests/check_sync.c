/*
 * check_sync.c - sync flush (shmq_producer_set_sync, flush.c): a sync send
 * without shmqd syncs its own record (cachestat(2): no dirty page left
 * under it or under its index entry); with shmqd the flusher serves many
 * threads' sends with few syncs (group commit); a stopped shmqd makes a
 * daemon-only sync send time out while the message stays stored and is
 * delivered; shmqd killed under sync load loses no acknowledged message.
 *
 * Figures: the tests print sync-send latency (p50, p99, per send, from
 * just before shmq_producer_send to its return), throughput and messages
 * per sync with 1 and 8 threads sharing one producer, with and without
 * shmqd.  Messages per sync = sync sends the server acknowledged /
 * group-commit rounds (ctl->flush_acks, ctl->flush_rounds deltas).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <shmq/shmq.h>

#include "bus.h"
#include "flush.h"
#include "internal.h"
#include "layout.h"
#include "retry.h"
#include "testutil.h"
#include "tooltest.h"

/* Wait until shmqd serves sync requests (it has beaten). */
static void
served(struct shmq_bus *bus)
{
	uint64_t t0 = tu_mono_ns();

	while (ck_pr_load_64(&bus->ctl->flush_server_ns) == 0 &&
	    tu_mono_ns() - t0 < 5000000000ull * tu_mult())
		usleep(5000);
	ck_assert_uint_ne(ck_pr_load_64(&bus->ctl->flush_server_ns), 0);
}

/* Send SEQ (in the first 4 bytes of a BYTES-byte body) to TOPIC. */
static int
send_seq(struct shmq_producer *p, const char *topic, uint32_t seq,
    size_t bytes, struct shmq_send_result *res)
{
	struct shmq_msg m;
	char body[2048];

	if (bytes > sizeof(body))
		bytes = sizeof(body);
	memset(body, 'x', bytes);
	memcpy(body, &seq, sizeof(seq));
	shmq_msg_init(&m);
	m.topic = topic;
	m.body = body;
	m.body_len = bytes;
	return shmq_producer_send(p, &m, res);
}

START_TEST(self_sync)
{
	struct shmq_bus *bus;
	struct shmq_producer *p;
	struct shmq_send_result res;
	char seg[PATH_MAX + 64], idx[PATH_MAX + 64];
	uint64_t self0, end, lo;
	uint32_t i;

	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_topic_create(bus, "s", 1), 0);
	/* Without the prefault thread: its MADV_POPULATE_WRITE ahead of
	 * the tail dirties the (clean, synced) page that holds the tail
	 * again, with the same bytes, which cachestat would count. */
	ck_assert_int_eq(shmq__producer_open_quiet(&p, bus, NULL), 0);
	ck_assert_int_eq(shmq_producer_set_sync(NULL, 1, 0), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_producer_set_sync(p, 1, 0x80), SHMQ_EINVAL);
	/* Async first: dirty pages below. */
	for (i = 0; i < 200; i++)
		ck_assert_int_eq(send_seq(p, "s", i, 1000, NULL), 0);
	self0 = ck_pr_load_64(&bus->ctl->flush_self);
	ck_assert_int_eq(shmq_producer_set_sync(p,
	    SHMQ_SYNC_TIMEOUT_DEFAULT_MS, 0), 0);
	ck_assert_msg(send_seq(p, "s", 200, 1000, &res) == 0, "%s",
	    shmq_errmsg());
	end = ck_pr_load_64(&bus->ctl->log_tail);
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->flush_self), self0 + 1);
	if (tu_disk_store("self_sync")) {
		snprintf(seg, sizeof(seg), "%s/%s/commitlog/%020d",
		    tu_home(), tu_bus(), 0);
		snprintf(idx, sizeof(idx), "%s/%s/consumequeue/s/0/%020d",
		    tu_home(), tu_bus(), 0);
		lo = res.log_off & ~4095ull;
		ck_assert_int_eq(tu_unsynced(seg, lo, end - lo), 0);
		ck_assert_int_eq(tu_unsynced(idx, (res.queue_off * 32) &
		    ~4095ull, 4096), 0);
	}
	/* Back to async: no more syncs. */
	ck_assert_int_eq(shmq_producer_set_sync(p, 0, 0), 0);
	ck_assert_int_eq(send_seq(p, "s", 201, 1000, NULL), 0);
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->flush_self), self0 + 1);
	shmq_producer_close(p);
	shmq_bus_close(bus);
}
END_TEST

struct load {
	struct shmq_producer	*p;
	const char		*topic;
	uint32_t		 base;
	int			 n;
	uint64_t		*lat_ns;
	int			 fails;
};

static void *
load_thread(void *arg)
{
	struct load *l = arg;
	uint64_t t0;
	int i;

	for (i = 0; i < l->n; i++) {
		t0 = tu_mono_ns();
		if (send_seq(l->p, l->topic, l->base + (uint32_t)i, 256,
		    NULL) != 0)
			l->fails++;
		l->lat_ns[i] = tu_mono_ns() - t0;
	}
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * NT threads send PER sync messages each through one producer; print the
 * figures and return messages per server sync (0 if none).
 */
static double
sync_load(struct shmq_bus *bus, const char *what, int nt, int per)
{
	struct shmq_producer *p;
	struct load l[8];
	pthread_t th[8];
	uint64_t *lat, t0, dt, r0, a0, s0, rounds, acks, self;
	int i, fails = 0, n = nt * per;

	ck_assert_int_le(nt, 8);
	lat = calloc((size_t)n, sizeof(*lat));
	ck_assert_ptr_nonnull(lat);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(shmq_producer_set_sync(p,
	    SHMQ_SYNC_TIMEOUT_DEFAULT_MS, 0), 0);
	r0 = ck_pr_load_64(&bus->ctl->flush_rounds);
	a0 = ck_pr_load_64(&bus->ctl->flush_acks);
	s0 = ck_pr_load_64(&bus->ctl->flush_self);
	t0 = tu_mono_ns();
	for (i = 0; i < nt; i++) {
		l[i] = (struct load){ p, "g", (uint32_t)(i * per), per,
		    lat + i * per, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, load_thread,
		    &l[i]), 0);
	}
	for (i = 0; i < nt; i++) {
		pthread_join(th[i], NULL);
		fails += l[i].fails;
	}
	dt = tu_mono_ns() - t0;
	rounds = ck_pr_load_64(&bus->ctl->flush_rounds) - r0;
	acks = ck_pr_load_64(&bus->ctl->flush_acks) - a0;
	self = ck_pr_load_64(&bus->ctl->flush_self) - s0;
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	fprintf(stderr, "sync send, %s, %d thread%s: %d sends in %.1f ms = "
	    "%.0f msg/s; latency p50 %.1f us, p99 %.1f us; %llu server "
	    "syncs for %llu sends (%.2f per sync), %llu self-synced\n",
	    what, nt, nt > 1 ? "s" : "", n, (double)dt / 1e6,
	    (double)n * 1e9 / (double)dt, (double)lat[n / 2] / 1e3,
	    (double)lat[(size_t)n * 99 / 100] / 1e3,
	    (unsigned long long)rounds, (unsigned long long)acks,
	    rounds ? (double)acks / (double)rounds : 0.0,
	    (unsigned long long)self);
	free(lat);
	shmq_producer_close(p);
	ck_assert_int_eq(fails, 0);
	return rounds ? (double)acks / (double)rounds : 0.0;
}

START_TEST(no_daemon_figures)
{
	struct shmq_bus *bus = tu_bus_open_default();

	ck_assert_int_eq(shmq_topic_create(bus, "g", 4), 0);
	(void)sync_load(bus, "no shmqd", 1, 100);
	(void)sync_load(bus, "no shmqd", 8, 50);
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->flush_rounds), 0);
	shmq_bus_close(bus);
}
END_TEST

START_TEST(group_commit)
{
	struct shmq_bus *bus;
	struct shmq_producer *p;
	struct shmq_send_result res;
	char seg[PATH_MAX + 64];
	uint64_t s0, end, lo;
	double per;
	pid_t pid;

	pid = tt_shmqd_start("--flush-interval 10000");
	ck_assert(tt_shmqd_log_has("started", 1));
	bus = tu_bus_open_default();
	served(bus);
	ck_assert_int_eq(shmq_topic_create(bus, "g", 4), 0);
	/* One send, served by shmqd, on disk. */
	s0 = ck_pr_load_64(&bus->ctl->flush_self);
	ck_assert_int_eq(shmq__producer_open_quiet(&p, bus, NULL), 0);
	ck_assert_int_eq(send_seq(p, "g", 0, 1000, NULL), 0);	/* dirty */
	ck_assert_int_eq(shmq_producer_set_sync(p, 5000, 0), 0);
	ck_assert_msg(send_seq(p, "g", 1, 1000, &res) == 0, "%s",
	    shmq_errmsg());
	end = ck_pr_load_64(&bus->ctl->log_tail);
	ck_assert_uint_ge(ck_pr_load_64(&bus->ctl->flushed_off), end);
	if (tu_disk_store("group_commit")) {
		snprintf(seg, sizeof(seg), "%s/%s/commitlog/%020d",
		    tu_home(), tu_bus(), 0);
		lo = res.log_off & ~4095ull;
		ck_assert_int_eq(tu_unsynced(seg, lo, end - lo), 0);
	}
	shmq_producer_close(p);
	(void)sync_load(bus, "shmqd", 1, 300);
	per = sync_load(bus, "shmqd", 8, 300);
	ck_assert_msg(per > 1.0, "%.2f messages per sync with 8 threads",
	    per);
	/* shmqd served them all. */
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->flush_self), s0);
	shmq_bus_close(bus);
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
	ck_assert(tt_shmqd_log_has("group commits for", 1));
}
END_TEST

START_TEST(timeout)
{
	struct shmq_bus *bus;
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_send_result res, res2;
	struct shmq_msgview v[8];
	uint64_t t0, dt, self0, end;
	int n, rc, st;
	pid_t pid;

	pid = tt_shmqd_start("--flush-interval 10000");
	ck_assert(tt_shmqd_log_has("started", 1));
	bus = tu_bus_open_default();
	served(bus);
	ck_assert_int_eq(shmq_topic_create(bus, "to", 1), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(shmq_producer_set_sync(p, 5000, SHMQ_SYNC_NO_SELF),
	    0);
	ck_assert_int_eq(send_seq(p, "to", 0, 100, NULL), 0);

	/* A stopped daemon, no fallback: a timeout, the message stored. */
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	/* kill() returns before every thread has stopped. */
	ck_assert_int_eq(waitpid(pid, &st, WUNTRACED), pid);
	ck_assert(WIFSTOPPED(st));
	ck_assert_int_eq(shmq_producer_set_sync(p, 300, SHMQ_SYNC_NO_SELF),
	    0);
	memset(&res, 0, sizeof(res));
	t0 = tu_mono_ns();
	rc = send_seq(p, "to", 1, 100, &res);
	dt = tu_mono_ns() - t0;
	ck_assert_msg(rc == SHMQ_ETIMEDOUT, "%d %s", rc, shmq_errmsg());
	ck_assert(strstr(shmq_errmsg(), "is stored") != NULL);
	end = ck_pr_load_64(&bus->ctl->log_tail);
	ck_assert_uint_ge(dt, 300000000ull);
	ck_assert_uint_lt(dt, 3000000000ull * tu_mult());
	ck_assert_uint_eq(res.queue_off, 1);	/* *res filled */
	ck_assert_uint_lt(ck_pr_load_64(&bus->ctl->flushed_off), end);
	ck_assert_uint_ge(ck_pr_load_64(&bus->ctl->flush_timeouts), 1);

	/* Delivered all the same. */
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "to", 0, NULL), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, "to", 0, SHMQ_SEEK_FIRST, 0),
	    0);
	n = shmq_consumer_poll(c, v, 8, 1000);
	ck_assert_int_eq(n, 2);
	ck_assert_uint_eq(v[1].log_off, res.log_off);
	shmq_consumer_close(c);

	/* With the fallback, the sender syncs itself (the daemon's beat is
	 * older than the grace by now). */
	self0 = ck_pr_load_64(&bus->ctl->flush_self);
	ck_assert_int_eq(shmq_producer_set_sync(p, 5000, 0), 0);
	ck_assert_msg(send_seq(p, "to", 2, 100, &res2) == 0, "%s",
	    shmq_errmsg());
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->flush_self), self0 + 1);

	/* The daemon back: the timed-out record reaches the disk. */
	ck_assert_int_eq(kill(pid, SIGCONT), 0);
	t0 = tu_mono_ns();
	while (ck_pr_load_64(&bus->ctl->flushed_off) < end &&
	    tu_mono_ns() - t0 < 3000000000ull * tu_mult())
		usleep(5000);
	ck_assert_uint_ge(ck_pr_load_64(&bus->ctl->flushed_off), end);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
}
END_TEST

#define KILL_THREADS	4
#define KILL_PER	100000u

struct kill_arg {
	struct shmq_producer	*p;
	uint32_t		 base;
	uint8_t			*acked;
	uint32_t		*count;
	uint32_t		*fails;
};

static void *
kill_thread(void *arg)
{
	struct kill_arg *a = arg;
	uint32_t i;

	for (i = 0; i < KILL_PER; i++) {
		if (send_seq(a->p, "k", a->base + i, 200, NULL) == 0) {
			ck_pr_store_8(&a->acked[a->base + i], 1);
			ck_pr_inc_32(a->count);
		} else {
			ck_pr_inc_32(a->fails);
		}
	}
	return NULL;
}

START_TEST(daemon_killed)
{
	struct shmq_bus *bus;
	struct shmq_consumer *c;
	struct shmq_msgview v[64];
	uint8_t *acked, *seen;
	uint32_t *shared, seq, before, i, lost = 0, nacked = 0;
	int n, idle = 0, k;
	pid_t pid, child;

	acked = tu_shared_new(KILL_THREADS * KILL_PER);
	shared = tu_shared_new(4096);
	pid = tt_shmqd_start("--flush-interval 500");
	ck_assert(tt_shmqd_log_has("started", 1));
	bus = tu_bus_open_default();
	served(bus);
	ck_assert_int_eq(shmq_topic_create(bus, "k", 4), 0);
	shmq_bus_close(bus);

	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct shmq_bus *b;
		struct shmq_producer *p;
		struct kill_arg a[KILL_THREADS];
		pthread_t th[KILL_THREADS];

		if (shmq_bus_open(&b, NULL, NULL) < 0 ||
		    shmq_producer_open(&p, b, NULL) < 0 ||
		    shmq_producer_set_sync(p, 5000, 0) < 0)
			_exit(1);
		for (k = 0; k < KILL_THREADS; k++) {
			a[k] = (struct kill_arg){ p, (uint32_t)k * KILL_PER,
			    acked, &shared[0], &shared[1] };
			if (pthread_create(&th[k], NULL, kill_thread,
			    &a[k]) != 0)
				_exit(1);
		}
		for (k = 0; k < KILL_THREADS; k++)
			pthread_join(th[k], NULL);
		_exit(0);
	}
	usleep(300000);
	kill(pid, SIGKILL);
	ck_assert_int_eq(tu_wait(pid), 128 + SIGKILL);
	before = ck_pr_load_32(&shared[0]);
	usleep(600000);		/* the senders fall back to their own sync */
	kill(child, SIGKILL);
	ck_assert_int_eq(tu_wait(child), 128 + SIGKILL);
	fprintf(stderr, "daemon_killed: %u sync sends acknowledged with "
	    "shmqd, %u after it was killed, %u failed\n", before,
	    shared[0] - before, shared[1]);
	ck_assert_uint_gt(before, 0);
	ck_assert_uint_gt(shared[0], before);
	ck_assert_uint_eq(shared[1], 0);

	/* Nobody has the bus open: this open recovers. */
	bus = tu_bus_open_default();
	seen = calloc(KILL_THREADS * KILL_PER, 1);
	ck_assert_ptr_nonnull(seen);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "k", SHMQ_QUEUE_ANY, NULL),
	    0);
	ck_assert_int_eq(shmq_consumer_seek(c, "k", SHMQ_QUEUE_ANY,
	    SHMQ_SEEK_FIRST, 0), 0);
	while (idle < 3) {
		n = shmq_consumer_poll(c, v, 64, 100);
		ck_assert_int_ge(n, 0);
		if (n == 0) {
			idle++;
			continue;
		}
		idle = 0;
		for (k = 0; k < n; k++) {
			ck_assert_uint_ge(v[k].body_len, sizeof(seq));
			memcpy(&seq, v[k].body, sizeof(seq));
			ck_assert_uint_lt(seq, KILL_THREADS * KILL_PER);
			seen[seq] = 1;
		}
	}
	for (i = 0; i < KILL_THREADS * KILL_PER; i++) {
		if (acked[i] == 0)
			continue;
		nacked++;
		if (!seen[i])
			lost++;
	}
	ck_assert_uint_ge(nacked, shared[0]);
	ck_assert_msg(lost == 0, "%u of %u acknowledged messages lost", lost,
	    nacked);
	free(seen);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
}
END_TEST

static Suite *
sync_suite(void)
{
	Suite *s = suite_create("sync");
	TCase *tc = tcase_create("sync");

	tcase_add_checked_fixture(tc, tt_setup, tt_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, self_sync);
	tcase_add_test(tc, no_daemon_figures);
	tcase_add_test(tc, group_commit);
	tcase_add_test(tc, timeout);
	tcase_add_test(tc, daemon_killed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(sync_suite);
}
