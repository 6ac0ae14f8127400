/*
 * check_shmqd.c - the daemon as a process: single instance, usage and
 * config errors, reload, stop with a checkpoint, the flush advancing the
 * checkpoint while a producer runs, the reaper, a restart under load, and
 * the daemon's status as shmq-stat shows it.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <shmq/shmq.h>

#include "bus.h"
#include "client.h"
#include "consumequeue.h"
#include "internal.h"
#include "layout.h"
#include "region.h"
#include "testutil.h"
#include "tooltest.h"
#include "topic.h"

static bool
checkpoint(struct shmq_checkpoint *ck)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s/checkpoint", tu_home(), tu_bus());
	return shmq__file_read(path, ck, sizeof(*ck)) == sizeof(*ck) &&
	    ck->magic == SHMQ_CKPT_MAGIC;
}

START_TEST(second_instance)
{
	pid_t pid = tt_shmqd_start("");
	char want[64];

	ck_assert(tt_shmqd_log_has("started", 1));
	ck_assert_int_eq(tt_run("%s -f", tu_prog("shmqd/shmqd")), 1);
	snprintf(want, sizeof(want), "already has a daemon: pid %ld",
	    (long)pid);
	ck_assert_contains(tt_err, want);
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
}
END_TEST

START_TEST(bad_usage)
{
	char conf[PATH_MAX];
	FILE *f;

	ck_assert_int_eq(tt_run("%s --bogus", tu_prog("shmqd/shmqd")), 2);
	ck_assert_contains(tt_err, "unknown option --bogus");
	ck_assert_int_eq(tt_run("%s --flush-interval x",
	    tu_prog("shmqd/shmqd")), 2);
	ck_assert_contains(tt_err, "--flush-interval \"x\"");
	snprintf(conf, sizeof(conf), "%s/bad.conf", tu_home());
	f = fopen(conf, "w");
	fputs("[shmqd]\nflush_interval_ms = 100\nflush_intervl = 3\n", f);
	fclose(f);
	ck_assert_int_eq(tt_run("%s -f -c %s", tu_prog("shmqd/shmqd"), conf),
	    2);
	ck_assert_contains(tt_err, "bad.conf:3: unknown key \"flush_intervl\"");
	ck_assert_int_eq(tt_run("%s -f -c %s/none.conf",
	    tu_prog("shmqd/shmqd"), tu_home()), 2);
	ck_assert_contains(tt_err, "cannot open");
}
END_TEST

START_TEST(reload)
{
	char conf[PATH_MAX], args[PATH_MAX + 8];
	FILE *f;
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/d.conf", tu_home());
	f = fopen(conf, "w");
	fputs("flush_interval_ms = 300\n", f);
	fclose(f);
	snprintf(args, sizeof(args), "-c %s", conf);
	pid = tt_shmqd_start(args);
	ck_assert(tt_shmqd_log_has("flush every 300 ms", 1));
	f = fopen(conf, "w");
	fputs("[shmqd]\nflush_interval_ms = 50\nlog_level = debug\n", f);
	fclose(f);
	kill(pid, SIGHUP);
	ck_assert(tt_shmqd_log_has("reload: flush interval 50 ms", 1));
	/* A bad file on reload keeps the running settings. */
	f = fopen(conf, "w");
	fputs("nonsense\n", f);
	fclose(f);
	kill(pid, SIGHUP);
	ck_assert(tt_shmqd_log_has("keeping the running settings", 1));
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
}
END_TEST

/* Send N messages of a few hundred bytes to topic T. */
static void
send_n(struct shmq_producer *p, const char *topic, int n)
{
	struct shmq_msg m;
	char body[300];
	int i;

	memset(body, 'x', sizeof(body));
	shmq_msg_init(&m);
	m.topic = topic;
	m.body = body;
	m.body_len = sizeof(body);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
}

START_TEST(flush_and_stop)
{
	struct shmq_checkpoint ck, ck2;
	struct shmq_bus *bus;
	struct shmq_producer *p;
	uint64_t t0, dt;
	pid_t pid = tt_shmqd_start("--flush-interval 50");

	ck_assert(tt_shmqd_log_has("started", 1));
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	send_n(p, "t1", 1000);
	t0 = tu_mono_ns();
	do {
		usleep(20000);
	} while ((!checkpoint(&ck) || ck.log_indexed_off <
	    ck_pr_load_64(&bus->ctl->log_tail)) &&
	    tu_mono_ns() - t0 < 3000000000ull);
	dt = tu_mono_ns() - t0;
	ck_assert_msg(checkpoint(&ck), "no checkpoint after %llu ms",
	    (unsigned long long)(dt / 1000000));
	ck_assert_uint_eq(ck.log_indexed_off, bus->ctl->log_tail);
	ck_assert_uint_eq(ck.clean, 0);	/* not a clean shutdown */
	/* And again, while the producer stays open. */
	send_n(p, "t1", 1000);
	t0 = tu_mono_ns();
	while (checkpoint(&ck2) && ck2.log_indexed_off <= ck.log_indexed_off
	    && tu_mono_ns() - t0 < 3000000000ull)
		usleep(20000);
	ck_assert_uint_gt(ck2.log_indexed_off, ck.log_indexed_off);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	/* shmqd is the last on the bus: the clean checkpoint. */
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
	ck_assert(checkpoint(&ck));
	ck_assert_uint_eq(ck.clean, 1);
	ck_assert(tt_shmqd_log_has("stopped: checkpoint at", 1));
}
END_TEST

START_TEST(reaper)
{
	struct shmq_bus *bus;
	struct shmq_topic *t;
	struct shmq_cq_entry *e;
	struct shmq_client_slot *s;
	uint64_t off = 0, t0;
	uint32_t idx = 0;
	int fds[2], err;
	pid_t pid, child;

	pid = tt_shmqd_start("--reap-interval 100");
	ck_assert(tt_shmqd_log_has("started", 1));
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq__topic_get(bus, "r1", true, 1, &t), 0);
	ck_assert_int_eq(pipe(fds), 0);
	child = fork();
	if (child == 0) {
		struct shmq_bus *b;
		struct shmq_topic *ct;
		struct shmq_client_slot *cs;
		uint32_t i;
		uint64_t o;

		if (shmq_bus_open(&b, NULL, NULL) < 0 ||
		    shmq__client_register(b, SHMQ_ROLE_PRODUCER, "doomed",
		    &i, &cs) < 0 || shmq__topic_get(b, "r1", false, 0,
		    &ct) < 0 || shmq__cq_claim(b, ct, &ct->cq[0],
		    shmq__client_claim(b, i), &o, &e) < 0)
			_exit(1);
		if (write(fds[1], &i, sizeof(i)) != sizeof(i) ||
		    write(fds[1], &o, sizeof(o)) != sizeof(o))
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &idx, sizeof(idx)), sizeof(idx));
	ck_assert_int_eq(read(fds[0], &off, sizeof(off)), sizeof(off));
	s = shmq__client_slot(bus, idx);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->role, SHMQ_ROLE_PRODUCER);
	kill(child, SIGKILL);
	ck_assert_int_eq(tu_wait(child), 128 + SIGKILL);
	t0 = tu_mono_ns();
	e = shmq__cq_entry(bus, t, &t->cq[0], off, false, &err);
	ck_assert_ptr_nonnull(e);
	while ((shmq__cq_state(e) != SHMQ_CQ_HOLE ||
	    ck_pr_load_32(&s->role) != SHMQ_ROLE_FREE) &&
	    tu_mono_ns() - t0 < 1000000000ull * tu_mult())
		usleep(5000);
	fprintf(stderr, "reaper: slot and claim reaped in %.1f ms\n",
	    (double)(tu_mono_ns() - t0) / 1e6);
	ck_assert_uint_eq(shmq__cq_state(e), SHMQ_CQ_HOLE);
	ck_assert_uint_eq(s->role, SHMQ_ROLE_FREE);
	ck_assert(tt_shmqd_log_has("freed", 1));
	shmq_bus_close(bus);
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
}
END_TEST

START_TEST(restart)
{
	struct shmq_bus *bus;
	struct shmq_producer *p;
	struct shmq_checkpoint ck;
	pid_t pid;

	pid = tt_shmqd_start("--flush-interval 50");
	ck_assert(tt_shmqd_log_has("started", 1));
	bus = tu_bus_open_default();
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	send_n(p, "t2", 500);
	kill(pid, SIGKILL);
	ck_assert_int_eq(tu_wait(pid), 128 + SIGKILL);
	send_n(p, "t2", 500);	/* no daemon: sending goes on */
	pid = tt_shmqd_start("--flush-interval 50");
	ck_assert(tt_shmqd_log_has("started", 2));	/* the stale pidfile is fine */
	send_n(p, "t2", 500);
	usleep(300000);
	ck_assert(checkpoint(&ck));
	ck_assert_uint_eq(ck.log_indexed_off, bus->ctl->log_tail);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
}
END_TEST

/* The number after KEY in S (JSON "key": or text), or UINT64_MAX. */
static uint64_t
num_after(const char *s, const char *key)
{
	const char *p = strstr(s, key);

	return p == NULL ? UINT64_MAX : strtoull(p + strlen(key), NULL, 10);
}

/*
 * shmq-stat's daemon block, from the real tool: "none" without shmqd; with
 * it, its pid and the counters of sync sends (group commits) and of a dead
 * client its reaper freed; "none" again once it stopped.
 */
START_TEST(stat_daemon)
{
	struct shmq_bus *bus;
	struct shmq_producer *p;
	struct shmq_bus_info bi;
	char stat[PATH_MAX], want[64], *line;
	uint64_t t0, rounds, acks;
	int fds[2];
	pid_t pid, child;
	char c;

	/* A copy: tu_prog's buffer is reused by tt_shmqd_start(). */
	strlcpy(stat, tu_prog("utils/shmq-stat"), sizeof(stat));
	bus = tu_bus_open_default();
	ck_assert_int_eq(tt_run("%s", stat), 0);
	ck_assert_contains(tt_out, "daemon:          none (plain send and "
	    "receive work without it; see shmqd(8))");
	ck_assert_int_eq(tt_run("%s --json", stat), 0);
	ck_assert(tt_json_valid(tt_out));
	ck_assert_contains(tt_out, "\"daemon\":{\"pid\":0,\"running\":false");

	pid = tt_shmqd_start("--flush-interval 50 --reap-interval 50");
	ck_assert(tt_shmqd_log_has("started", 1));
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(shmq_producer_set_sync(p, 5000, 0), 0);
	send_n(p, "ts", 50);
	/* A client that dies without closing: the reaper frees its slot. */
	ck_assert_int_eq(pipe(fds), 0);
	if ((child = fork()) == 0) {
		struct shmq_bus *b;
		struct shmq_producer *cp;

		if (shmq_bus_open(&b, NULL, NULL) < 0 ||
		    shmq_producer_open(&cp, b, NULL) < 0 ||
		    write(fds[1], "k", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	close(fds[0]);
	kill(child, SIGKILL);
	ck_assert_int_eq(tu_wait(child), 128 + SIGKILL);
	t0 = tu_mono_ns();
	do {
		usleep(20000);
		ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	} while ((bi.daemon_reaped_clients == 0 || bi.daemon_flushes == 0) &&
	    tu_mono_ns() - t0 < 3000000000ull * tu_mult());
	ck_assert_int_eq(bi.daemon_pid, pid);
	ck_assert(bi.daemon_serving);
	ck_assert_uint_ge(bi.daemon_reaped_clients, 1);
	ck_assert_uint_ge(bi.daemon_flushes, 1);

	ck_assert_int_eq(tt_run("%s", stat), 0);
	snprintf(want, sizeof(want), "daemon:          shmqd pid %ld, up ",
	    (long)pid);
	ck_assert_contains(tt_out, want);
	ck_assert_contains(tt_out, "  flush:         every 50 ms, last ");
	ck_assert_ptr_nonnull(line = strstr(tt_out, "  sync:          "));
	rounds = num_after(line, "  sync:          ");
	acks = num_after(line, " for ");
	ck_assert_uint_gt(rounds, 0);
	ck_assert_uint_ge(acks, 50);	/* every send acknowledged by shmqd */
	ck_assert_uint_le(rounds, acks);
	ck_assert_uint_ge(num_after(tt_out, "  reaped:        "), 1);
	fprintf(stderr, "stat_daemon: %.*s", (int)strcspn(line, "\n") + 1,
	    line);

	ck_assert_int_eq(tt_run("%s --json", stat), 0);
	ck_assert(tt_json_valid(tt_out));
	snprintf(want, sizeof(want), "\"daemon\":{\"pid\":%ld,"
	    "\"running\":true,\"serving\":true", (long)pid);
	ck_assert_contains(tt_out, want);
	ck_assert_uint_gt(num_after(tt_out, "\"group_commits\":"), 0);
	ck_assert_uint_ge(num_after(tt_out, "\"acks\":"), 50);
	ck_assert_uint_ge(num_after(tt_out, "\"clients\":"), 1);
	ck_assert_uint_gt(num_after(tt_out, "\"checkpoints\":"), 0);

	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
	/* The bus stays open here: the region keeps the stopped daemon's
	 * figures, but it is no longer shown as running. */
	ck_assert_int_eq(tt_run("%s", stat), 0);
	ck_assert_contains(tt_out, "daemon:          none");
	ck_assert_contains(tt_out, "  sync:          ");
	shmq_producer_close(p);
	shmq_bus_close(bus);
}
END_TEST

static Suite *
shmqd_suite(void)
{
	Suite *s = suite_create("shmqd");
	TCase *tc = tcase_create("daemon");

	tcase_add_checked_fixture(tc, tt_setup, tt_teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, second_instance);
	tcase_add_test(tc, bad_usage);
	tcase_add_test(tc, reload);
	tcase_add_test(tc, flush_and_stop);
	tcase_add_test(tc, reaper);
	tcase_add_test(tc, restart);
	tcase_add_test(tc, stat_daemon);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(shmqd_suite);
}
