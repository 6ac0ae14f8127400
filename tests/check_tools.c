/*
 * check_tools.c - the command-line tools, run as real processes: shmq-send,
 * shmq-recv and shmq-stat against a private store per test.
 *
 * Each test gets its own SHMQ_HOME and SHMQ_BUS (tt_setup), runs the built
 * tools through /bin/sh with stdout and stderr sent to files in that store
 * (tt_run), and checks exit codes and output.  JSON output is checked with
 * jq (tt_json_valid), so that "parses" means parses.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmq/shmq.h>

#include "testutil.h"
#include "tooltest.h"

static char send_prog[4096], recv_prog[4096], stat_prog[4096];

static void
setup(void)
{
	tt_setup();
	snprintf(send_prog, sizeof(send_prog), "%s",
	    tu_prog("utils/shmq-send"));
	snprintf(recv_prog, sizeof(recv_prog), "%s",
	    tu_prog("utils/shmq-recv"));
	snprintf(stat_prog, sizeof(stat_prog), "%s",
	    tu_prog("utils/shmq-stat"));
}

/* ------------------------------------------------------------------ */
/* Usage                                                               */
/* ------------------------------------------------------------------ */

START_TEST(test_help_version)
{
	const char *progs[] = { send_prog, recv_prog, stat_prog };
	const char *names[] = { "shmq-send", "shmq-recv", "shmq-stat" };
	char want[64];
	int i;

	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(tt_run("'%s' --help", progs[i]), 0);
		snprintf(want, sizeof(want), "usage: %s", names[i]);
		ck_assert_contains(tt_out, want);
		ck_assert_contains(tt_out, "--bus BUS");
		ck_assert_contains(tt_out, "--home DIR");
		ck_assert_contains(tt_out, "Exit status");
		ck_assert_str_eq(tt_err, "");

		ck_assert_int_eq(tt_run("'%s' -h", progs[i]), 0);
		ck_assert_contains(tt_out, want);

		ck_assert_int_eq(tt_run("'%s' --version", progs[i]), 0);
		snprintf(want, sizeof(want), "%s (shmq) %s", names[i],
		    SHMQ_VERSION_STRING);
		ck_assert_contains(tt_out, want);
	}
}
END_TEST

START_TEST(test_bad_usage)
{
	/* No topic. */
	ck_assert_int_eq(tt_run("'%s' -m hi", send_prog), 2);
	ck_assert_contains(tt_err, "shmq-send: no topic");
	ck_assert_contains(tt_err, "Try 'shmq-send --help'");
	ck_assert_int_eq(tt_run("'%s'", recv_prog), 2);
	ck_assert_contains(tt_err, "shmq-recv: no topic");

	/* Unknown option, missing argument, stray argument. */
	ck_assert_int_eq(tt_run("'%s' -t x --bogus", send_prog), 2);
	ck_assert_contains(tt_err, "--help");
	ck_assert_int_eq(tt_run("'%s' -t", recv_prog), 2);
	ck_assert_int_eq(tt_run("'%s' stray", stat_prog), 2);
	ck_assert_contains(tt_err, "unexpected argument \"stray\"");

	/* Bad numbers and positions name the option and the value. */
	ck_assert_int_eq(tt_run("'%s' -t x -m hi -c abc", send_prog), 2);
	ck_assert_contains(tt_err, "shmq-send: -c \"abc\": invalid");
	ck_assert_int_eq(tt_run("'%s' -t x -m hi --queue -1", send_prog), 2);
	ck_assert_contains(tt_err, "--queue \"-1\": too small");
	ck_assert_int_eq(tt_run("'%s' -t x -p novalue -m hi", send_prog), 2);
	ck_assert_contains(tt_err, "-p \"novalue\": expected NAME=VALUE");
	ck_assert_int_eq(tt_run("'%s' -t x --from nowhere", recv_prog), 2);
	ck_assert_contains(tt_err, "shmq-recv: --from \"nowhere\"");
	ck_assert_int_eq(tt_run("'%s' -t x -n 0", recv_prog), 2);
	ck_assert_int_eq(tt_run("'%s' -w 0", stat_prog), 2);
	ck_assert_int_eq(tt_run("'%s' -t x -m a --queue 1 --shard k",
	    send_prog), 2);

	/* Nothing of that created the bus. */
	ck_assert_int_eq(tu_sh("test -e '%s/%s'", tu_home(), tu_bus()), 1);
}
END_TEST

START_TEST(test_invalid_topic)
{
	ck_assert_int_eq(tt_run("'%s' -t 'x y' -m hi", send_prog), 1);
	ck_assert_contains(tt_err, "shmq-send: topic \"x y\": invalid name "
	    "(letters, digits, . _ - % only");
	ck_assert_int_eq(tt_count_lines(tt_err), 1);
	ck_assert_int_eq(tt_run("'%s' -t 'a/b' --from first", recv_prog), 1);
	ck_assert_contains(tt_err, "shmq-recv: topic \"a/b\": invalid name");
	ck_assert_int_eq(tt_run("'%s' -t ''", stat_prog), 1);
	ck_assert_contains(tt_err, "shmq-stat: topic \"\": invalid name");
}
END_TEST

START_TEST(test_missing_bus)
{
	char want[4300];

	ck_assert_int_eq(tt_run("'%s' -b nosuch", stat_prog), 1);
	snprintf(want, sizeof(want), "shmq-stat: bus \"nosuch\": no such bus "
	    "(looked in %s)", tu_home());
	ck_assert_contains(tt_err, want);
	ck_assert_str_eq(tt_out, "");
	/* shmq-stat must not have created it. */
	ck_assert_int_eq(tu_sh("test -e '%s/nosuch'", tu_home()), 1);

	/* --home and $SHMQ_BUS are honoured the same way. */
	ck_assert_int_eq(tt_run("SHMQ_BUS=other '%s' --home '%s/elsewhere'",
	    stat_prog, tu_home()), 1);
	snprintf(want, sizeof(want), "bus \"other\": no such bus "
	    "(looked in %s/elsewhere)", tu_home());
	ck_assert_contains(tt_err, want);

	/* A reader does not create a bus either. */
	ck_assert_int_eq(tt_run("'%s' -b nosuch -t t -w 0", recv_prog), 1);
	ck_assert_contains(tt_err, "shmq-recv: bus \"nosuch\": no such bus");
	ck_assert_int_eq(tu_sh("test -e '%s/nosuch'", tu_home()), 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Send and receive                                                    */
/* ------------------------------------------------------------------ */

START_TEST(test_send_recv_json)
{
	const char *l;

	/* -m, twice, with tag, keys and properties; one queue, so that
	 * the order is the sending order. */
	ck_assert_int_eq(tt_run("'%s' -t orders --create-queues 1 -m one "
	    "-m two --tag a --key 'k1 k2' -p color=red -p size=3", send_prog),
	    0);
	ck_assert_contains(tt_err, "sent 2 messages to orders");
	ck_assert_str_eq(tt_out, "");

	/* Lines from standard input, with a tag of their own. */
	ck_assert_int_eq(tt_run_in("three\nfour \"q\"\n", "'%s' -t orders "
	    "--tag b", send_prog), 0);
	ck_assert_contains(tt_err, "sent 2 messages to orders");

	ck_assert_int_eq(tt_run("'%s' -t orders --from first -n 4 --json "
	    "-w 5000", recv_prog), 0);
	ck_assert_int_eq(tt_count_lines(tt_out), 4);

	l = tt_line(tt_out, 0);
	ck_assert_msg(tt_json_valid(l), "not JSON: %s", l);
	ck_assert_contains(l, "\"topic\":\"orders\"");
	ck_assert_contains(l, "\"queue\":0");
	ck_assert_contains(l, "\"queue_off\":0");
	ck_assert_contains(l, "\"body\":\"one\"");
	ck_assert_contains(l, "\"tags\":\"a\"");
	ck_assert_contains(l, "\"keys\":\"k1 k2\"");
	ck_assert_contains(l, "\"color\":\"red\"");
	ck_assert_contains(l, "\"size\":\"3\"");
	ck_assert_contains(l, "\"msg_id\":\"");
	ck_assert_contains(l, "\"store_ms\":");

	l = tt_line(tt_out, 1);
	ck_assert_contains(l, "\"queue_off\":1");
	ck_assert_contains(l, "\"body\":\"two\"");

	l = tt_line(tt_out, 2);
	ck_assert_msg(tt_json_valid(l), "not JSON: %s", l);
	ck_assert_contains(l, "\"body\":\"three\"");
	ck_assert_contains(l, "\"tags\":\"b\"");
	ck_assert_contains(l, "\"keys\":null");
	ck_assert_contains(l, "\"props\":{}");

	l = tt_line(tt_out, 3);
	ck_assert_msg(tt_json_valid(l), "not JSON: %s", l);
	ck_assert_contains(l, "\"body\":\"four \\\"q\\\"\"");
	ck_assert_contains(l, "\"queue_off\":3");

	/* Default output: bodies and newlines. */
	ck_assert_int_eq(tt_run("'%s' -t orders --from first -n 4", recv_prog),
	    0);
	ck_assert_str_eq(tt_out, "one\ntwo\nthree\nfour \"q\"\n");

	/* --body-only: bodies alone. */
	ck_assert_int_eq(tt_run("'%s' -t orders --from first -n 2 --body-only",
	    recv_prog), 0);
	ck_assert_str_eq(tt_out, "onetwo");

	/* --from OFFSET. */
	ck_assert_int_eq(tt_run("'%s' -t orders --from 2 -n 2", recv_prog), 0);
	ck_assert_str_eq(tt_out, "three\nfour \"q\"\n");
}
END_TEST

START_TEST(test_send_json_count)
{
	char want[64];
	int i;

	ck_assert_int_eq(tt_run("'%s' -t bulk --create-queues 1 -m x -c 100 "
	    "--json -q", send_prog), 0);
	ck_assert_str_eq(tt_err, "");
	ck_assert_int_eq(tt_count_lines(tt_out), 100);
	for (i = 0; i < 100; i += 33) {
		ck_assert_msg(tt_json_valid(tt_line(tt_out, i)), "not JSON: %s",
		    tt_line(tt_out, i));
		snprintf(want, sizeof(want), "\"queue_off\":%d,", i);
		ck_assert_contains(tt_line(tt_out, i), want);
		ck_assert_contains(tt_line(tt_out, i), "\"msg_id\":\"");
		ck_assert_contains(tt_line(tt_out, i), "\"topic\":\"bulk\"");
	}

	/* -v prints one line per message on stderr. */
	ck_assert_int_eq(tt_run("'%s' -t bulk -m y -c 3 -v", send_prog), 0);
	ck_assert_int_eq(tt_count_lines(tt_err), 4);
	ck_assert_contains(tt_err, "queue 0 offset 102");
	ck_assert_contains(tt_err, "sent 3 messages to bulk");
}
END_TEST

START_TEST(test_tag_filter)
{
	ck_assert_int_eq(tt_run("'%s' -t tagged --create-queues 1 -m a1 "
	    "--tag a", send_prog), 0);
	ck_assert_int_eq(tt_run("'%s' -t tagged -m b1 --tag b", send_prog), 0);
	ck_assert_int_eq(tt_run("'%s' -t tagged -m c1 --tag c", send_prog), 0);
	ck_assert_int_eq(tt_run("'%s' -t tagged -m none", send_prog), 0);
	ck_assert_int_eq(tt_run("'%s' -t tagged -m a2 --tag a -c 2", send_prog),
	    0);

	/* Without -n, a timeout ends a drained topic: exit 0. */
	ck_assert_int_eq(tt_run("'%s' -t tagged --from first -e 'a || c' "
	    "-w 300", recv_prog), 0);
	ck_assert_int_eq(tt_count_lines(tt_out), 4);
	ck_assert_contains(tt_out, "a1\n");
	ck_assert_contains(tt_out, "c1\n");
	ck_assert_contains(tt_out, "a2\na2\n");
	ck_assert_lacks(tt_out, "b1");
	ck_assert_lacks(tt_out, "none");

	ck_assert_int_eq(tt_run("'%s' -t tagged --from first --tags '*' -w 300",
	    recv_prog), 0);
	ck_assert_int_eq(tt_count_lines(tt_out), 6);

	/* A bad expression is an error that says so. */
	ck_assert_int_eq(tt_run("'%s' -t tagged -e 'a ||' -w 0", recv_prog), 1);
	ck_assert_contains(tt_err, "shmq-recv: ");
	ck_assert_contains(tt_err, "invalid expression");
}
END_TEST

START_TEST(test_recv_timeout_and_missing_topic)
{
	ck_assert_int_eq(tt_run("'%s' -t few -m 1 -m 2", send_prog), 0);

	/* With -n, a timeout before COUNT messages is a failure. */
	ck_assert_int_eq(tt_run("'%s' -t few --from first -n 5 -w 200",
	    recv_prog), 1);
	ck_assert_int_eq(tt_count_lines(tt_out), 2);
	ck_assert_contains(tt_err, "timed out");
	ck_assert_contains(tt_err, "received 2 of 5");

	/* -w 0: read what is there and stop. */
	ck_assert_int_eq(tt_run("'%s' -t few --from first -w 0 -v", recv_prog),
	    0);
	ck_assert_int_eq(tt_count_lines(tt_out), 2);
	ck_assert_contains(tt_err, "received 2 messages");

	/* --from last (the default) sees nothing old. */
	ck_assert_int_eq(tt_run("'%s' -t few -w 100", recv_prog), 0);
	ck_assert_str_eq(tt_out, "");

	ck_assert_int_eq(tt_run("'%s' -t nosuch -w 0", recv_prog), 1);
	ck_assert_contains(tt_err,
	    "shmq-recv: topic \"nosuch\": no such topic");

	/* --create-queues makes it, and then there is nothing to read. */
	ck_assert_int_eq(tt_run("'%s' -t nosuch --create-queues 3 -w 0",
	    recv_prog), 0);
	ck_assert_int_eq(tt_run("'%s' --json -t nosuch", stat_prog), 0);
	ck_assert_contains(tt_out, "\"queue_count\":3");
}
END_TEST

START_TEST(test_binary_and_queue)
{
	char path[4200];
	FILE *f;

	/* A body that is not UTF-8 comes out as base64. */
	snprintf(path, sizeof(path), "%s/bin", tu_home());
	f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	fwrite("\xff\x00\x01", 1, 3, f);
	fclose(f);
	ck_assert_int_eq(tt_run("'%s' -t bin --create-queues 4 --queue 2 "
	    "-f '%s' --json", send_prog, path), 0);
	ck_assert_contains(tt_out, "\"queue\":2,");

	ck_assert_int_eq(tt_run("'%s' -t bin --queue 2 --from first -n 1 "
	    "--json", recv_prog), 0);
	ck_assert_msg(tt_json_valid(tt_out), "not JSON: %s", tt_out);
	ck_assert_contains(tt_out, "\"body_b64\":\"/wAB\"");
	ck_assert_contains(tt_out, "\"queue\":2,");

	/* --body-only gives the bytes back exactly. */
	ck_assert_int_eq(tu_sh("'%s' -t bin --queue 2 --from first -n 1 "
	    "--body-only | cmp -s - '%s'", recv_prog, path), 0);

	/* Another queue does not have it. */
	ck_assert_int_eq(tt_run("'%s' -t bin --queue 1 --from first -w 0",
	    recv_prog), 0);
	ck_assert_str_eq(tt_out, "");

	/* A queue the topic does not have. */
	ck_assert_int_eq(tt_run("'%s' -t bin --queue 9 -m x", send_prog), 1);
	ck_assert_contains(tt_err, "shmq-send: ");
	ck_assert_contains(tt_err, "bin");

	/* One sharding key, one queue. */
	ck_assert_int_eq(tt_run("'%s' -t bin --shard user-7 -m s -c 5 --json",
	    send_prog), 0);
	ck_assert_int_eq(tt_count_lines(tt_out), 5);
	{
		const char *q = strstr(tt_line(tt_out, 0), "\"queue\":");
		char want[32];

		ck_assert_ptr_nonnull(q);
		snprintf(want, sizeof(want), "%.9s", q);
		ck_assert_contains(tt_line(tt_out, 4), want);
	}
}
END_TEST

/* shmq-recv -g: a consumer group resumes where it committed, and the
 * options that make no sense with a group are refused. */
START_TEST(test_recv_group)
{
	ck_assert_int_eq(tt_run("'%s' -t grp --create-queues 2 -q -m 1 -m 2 "
	    "-m 3 -m 4 -m 5 -m 6 -m 7 -m 8 -m 9 -m 10", send_prog), 0);
	ck_assert_int_eq(tt_run("'%s' -t grp -g readers --from first -n 4 "
	    "--body-only", recv_prog), 0);
	ck_assert_uint_eq(strlen(tt_out), 4 + 0);
	/* The next run of the group goes on after those four. */
	ck_assert_int_eq(tt_run("'%s' -t grp -g readers -w 300 --body-only",
	    recv_prog), 0);
	ck_assert_uint_eq(strlen(tt_out), 6 + 1);	/* "10" is two bytes */
	ck_assert_int_eq(tt_run("'%s' -t grp -g readers -w 200", recv_prog), 0);
	ck_assert_str_eq(tt_out, "");
	/* Broadcasting: a named instance gets everything. */
	ck_assert_int_eq(tt_run("'%s' -t grp -g all --broadcast --instance a "
	    "--from first -w 200 -v", recv_prog), 0);
	ck_assert_int_eq(tt_count_lines(tt_out), 10);
	/* Bad usage. */
	ck_assert_int_eq(tt_run("'%s' -t grp --broadcast", recv_prog), 2);
	ck_assert_int_eq(tt_run("'%s' -t grp -g x --queue 1", recv_prog), 2);
	ck_assert_int_eq(tt_run("'%s' -t grp -g x --from 3", recv_prog), 2);
	ck_assert_int_eq(tt_run("'%s' -t grp -g 'bad name' -w 10", recv_prog),
	    1);
	ck_assert_int_eq(tt_run("'%s' -t grp -g b --broadcast -w 10",
	    recv_prog), 1);
}
END_TEST

START_TEST(test_from_time)
{
	char ts[64];
	uint64_t ms;
	struct timespec t;

	ck_assert_int_eq(tt_run("'%s' -t timed --create-queues 1 -m old",
	    send_prog), 0);
	usleep(50 * 1000);
	clock_gettime(CLOCK_REALTIME, &t);
	ms = (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
	usleep(50 * 1000);
	ck_assert_int_eq(tt_run("'%s' -t timed -m new", send_prog), 0);

	snprintf(ts, sizeof(ts), "@%llu", (unsigned long long)ms);
	ck_assert_int_eq(tt_run("'%s' -t timed --from %s -w 200", recv_prog,
	    ts), 0);
	ck_assert_str_eq(tt_out, "new\n");

	/* An ISO 8601 time before both, and a relative one. */
	ck_assert_int_eq(tt_run("'%s' -t timed --from 2001-01-01T00:00:00Z "
	    "-w 200", recv_prog), 0);
	ck_assert_str_eq(tt_out, "old\nnew\n");
	ck_assert_int_eq(tt_run("'%s' -t timed --from -1h -w 200", recv_prog),
	    0);
	ck_assert_str_eq(tt_out, "old\nnew\n");
}
END_TEST

/* A live reader sees messages sent while it waits, and stops on SIGTERM. */
START_TEST(test_recv_live_and_signal)
{
	char cmd[6000];
	pid_t pid;
	int i;

	ck_assert_int_eq(tt_run("'%s' -t live --create-queues 2 -c 0 -m x",
	    send_prog), 0);
	/* --from first: the topic is empty, and no message sent between the
	 * reader's registration and its assignment can be missed. */
	snprintf(cmd, sizeof(cmd), "exec '%s' -t live --from first >'%s' "
	    "2>'%s'",
	    recv_prog, tt_out_path(), tt_err_path());
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	/* Wait until the reader is registered: shmq-stat shows it. */
	for (i = 0; i < 100; i++) {
		if (tu_sh("'%s' --json 2>/dev/null | grep -q '\"role\":"
		    "\"consumer\"'", stat_prog) == 0)
			break;
		usleep(50 * 1000);
	}
	ck_assert_int_lt(i, 100);
	ck_assert_int_eq(tu_sh("'%s' -t live -m hello -m world -q",
	    send_prog), 0);
	for (i = 0; i < 100; i++) {
		free(tt_out);
		tt_out = tt_slurp(tt_out_path());
		if (tt_count_lines(tt_out) >= 2)
			break;
		usleep(50 * 1000);
	}
	ck_assert_int_eq(tt_count_lines(tt_out), 2);
	ck_assert_contains(tt_out, "hello\n");
	ck_assert_contains(tt_out, "world\n");

	kill(pid, SIGTERM);
	ck_assert_int_eq(tu_wait(pid), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* shmq-stat                                                           */
/* ------------------------------------------------------------------ */

START_TEST(test_stat)
{
	ck_assert_int_eq(tt_run("'%s' -t alpha --create-queues 2 -m x -c 7",
	    send_prog), 0);
	ck_assert_int_eq(tt_run("'%s' -t beta --create-queues 1 -m y -c 5",
	    send_prog), 0);

	ck_assert_int_eq(tt_run("'%s' --json", stat_prog), 0);
	ck_assert_msg(tt_json_valid(tt_out), "not JSON: %s", tt_out);
	ck_assert_int_eq(tt_count_lines(tt_out), 1);
	ck_assert_contains(tt_out, "\"bus\":{\"name\":");
	ck_assert_contains(tt_out, tu_bus());
	ck_assert_contains(tt_out, "\"name\":\"alpha\",\"queue_count\":2,"
	    "\"messages\":7");
	ck_assert_contains(tt_out, "\"name\":\"beta\",\"queue_count\":1,"
	    "\"messages\":5,\"queues\":[{\"queue\":0,\"min_off\":0,"
	    "\"max_off\":5,\"messages\":5");
	ck_assert_contains(tt_out, "\"topics\":2,");
	ck_assert_contains(tt_out, "\"clients\":[");

	/* -t restricts the topics. */
	ck_assert_int_eq(tt_run("'%s' --json -t beta", stat_prog), 0);
	ck_assert_msg(tt_json_valid(tt_out), "not JSON: %s", tt_out);
	ck_assert_lacks(tt_out, "\"alpha\"");
	ck_assert_contains(tt_out, "\"max_off\":5");
	ck_assert_int_eq(tt_run("'%s' -t gamma", stat_prog), 1);
	ck_assert_contains(tt_err, "shmq-stat: topic \"gamma\": no such topic");

	/* The text form names the same things. */
	ck_assert_int_eq(tt_run("'%s'", stat_prog), 0);
	ck_assert_contains(tt_out, "bus:");
	ck_assert_contains(tt_out, tu_bus());
	ck_assert_contains(tt_out, "alpha");
	ck_assert_contains(tt_out, "beta");
	ck_assert_contains(tt_out, "segment size:");
	ck_assert_contains(tt_out, "live clients:");
	ck_assert_contains(tt_out, "TOPIC");
	ck_assert_contains(tt_out, "CLIENT");
	ck_assert_str_eq(tt_err, "");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Permissions and transactions (shmq-stat, shmq-send, shmq-admin)     */
/* ------------------------------------------------------------------ */

static char admin_prog[4096];

static void
txn_setup(void)
{
	setup();
	snprintf(admin_prog, sizeof(admin_prog), "%s",
	    tu_prog("utils/shmq-admin"));
}

/* The 32-digit id after "NAME":" in S, in a static buffer ("" if none). */
static const char *
json_id(const char *s, const char *name)
{
	static char id[SHMQ_MSGID_LEN + 1];
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\"%s\":\"", name);
	id[0] = '\0';
	if ((p = strstr(s, key)) != NULL && strlen(p + strlen(key)) >=
	    SHMQ_MSGID_LEN)
		snprintf(id, sizeof(id), "%s", p + strlen(key));
	return id;
}

/* The row of TOPIC in shmq-stat's text: its name and PERM columns. */
static void
assert_perm_row(const char *topic, const char *perm)
{
	char want[64];

	snprintf(want, sizeof(want), "\n%-24s %-4s ", topic, perm);
	ck_assert_contains(tt_out, want);
}

START_TEST(test_stat_perm)
{
	char want[64];

	ck_assert_int_eq(tt_run("'%s' -t ro --create-queues 2 -m x",
	    send_prog), 0);
	ck_assert_int_eq(tt_run("'%s' -t open --create-queues 1 -m y",
	    send_prog), 0);
	ck_assert_int_eq(tt_run("'%s' -t shut --create-queues 1 -m z",
	    send_prog), 0);
	ck_assert_int_eq(tt_run("'%s' topic update ro --perm r", admin_prog),
	    0);
	ck_assert_int_eq(tt_run("'%s' topic update shut --perm none",
	    admin_prog), 0);

	ck_assert_int_eq(tt_run("'%s'", stat_prog), 0);
	ck_assert_contains(tt_out, "TOPIC                    PERM QUEUE");
	assert_perm_row("ro", "r");
	assert_perm_row("open", "rw");
	assert_perm_row("shut", "none");
	/* Once per topic, as its name: the second queue's row has neither. */
	snprintf(want, sizeof(want), "\n%-24s %-4s %5d ", "", "", 1);
	ck_assert_contains(tt_out, want);

	/* In braces: tt_run's redirections must not reach jq's input. */
	ck_assert_int_eq(tt_run("{ '%s' --json | jq -c '[.topics[] | "
	    "[.name, .perm]]'; }", stat_prog), 0);
	ck_assert_str_eq(tt_out, "[[\"ro\",\"r\"],[\"open\",\"rw\"],"
	    "[\"shut\",\"none\"]]\n");
	ck_assert_int_eq(tt_run("'%s' --json -t ro", stat_prog), 0);
	ck_assert_msg(tt_json_valid(tt_out), "not JSON: %s", tt_out);
	ck_assert_contains(tt_out, "],\"perm\":\"r\"}");
	/* Writes back on: the next sample says so. */
	ck_assert_int_eq(tt_run("'%s' topic update ro --perm rw", admin_prog),
	    0);
	ck_assert_int_eq(tt_run("'%s'", stat_prog), 0);
	assert_perm_row("ro", "rw");
}
END_TEST

START_TEST(test_send_txn)
{
	char id[SHMQ_MSGID_LEN + 1], later[SHMQ_MSGID_LEN + 1];
	char killed[SHMQ_MSGID_LEN + 1], want[200];
	char *f;

	/* Exit 0 commits; the command gets the body on its standard input,
	 * the transaction's id and the topic in its environment. */
	ck_assert_int_eq(tt_run("'%s' -t tt --create-queues 1 -g pg -m yes "
	    "--json --txn-exec 'cat >\"%s/body\"; echo \"$SHMQ_TXN_ID "
	    "$SHMQ_TOPIC\" >\"%s/env\"; echo to-stderr'", send_prog,
	    tu_home(), tu_home()), 0);
	ck_assert_msg(tt_json_valid(tt_out), "not JSON: %s", tt_out);
	ck_assert_contains(tt_out, "\"state\":\"commit\",\"decided_before\":"
	    "false,\"msg_id\":\"");
	ck_assert_contains(tt_err, "to-stderr\n");
	ck_assert_contains(tt_err, "sent 1 transactional message to tt: 1 "
	    "committed, 0 rolled back, 0 unknown");
	strlcpy(id, json_id(tt_out, "txn_id"), sizeof(id));
	ck_assert_uint_eq(strlen(id), SHMQ_MSGID_LEN);
	snprintf(want, sizeof(want), "%s/body", tu_home());
	f = tt_slurp(want);
	ck_assert_str_eq(f, "yes");
	free(f);
	snprintf(want, sizeof(want), "%s/env", tu_home());
	f = tt_slurp(want);
	snprintf(want, sizeof(want), "%s tt\n", id);
	ck_assert_str_eq(f, want);
	free(f);

	/* Exit 1 rolls back: never delivered. */
	ck_assert_int_eq(tt_run("'%s' -t tt -g pg -m no --json --txn-exec "
	    "false", send_prog), 0);
	ck_assert_contains(tt_out, "\"state\":\"rollback\",\"decided_before\":"
	    "false,\"msg_id\":null}");
	/* --txn decides without a command. */
	ck_assert_int_eq(tt_run("'%s' -t tt -g pg -m direct --txn commit -v",
	    send_prog), 0);
	ck_assert_contains(tt_err, ": commit: ");
	ck_assert_int_eq(tt_run("'%s' -t tt -g pg -m never -c 2 --txn "
	    "rollback", send_prog), 0);
	ck_assert_contains(tt_err, "sent 2 transactional messages to tt: 0 "
	    "committed, 2 rolled back, 0 unknown");
	/* Any other exit, and a kill, leave it unknown. */
	ck_assert_int_eq(tt_run("'%s' -t tt -g pg -m later --json "
	    "--txn-exec 'exit 3'", send_prog), 0);
	ck_assert_contains(tt_out, "\"state\":\"unknown\"");
	strlcpy(later, json_id(tt_out, "txn_id"), sizeof(later));
	ck_assert_int_eq(tt_run("'%s' -t tt -g pg -m killed --json "
	    "--txn-exec 'kill -KILL $$'", send_prog), 0);
	ck_assert_contains(tt_out, "\"state\":\"unknown\"");
	strlcpy(killed, json_id(tt_out, "txn_id"), sizeof(killed));

	ck_assert_int_eq(tt_run("'%s' -t tt --from first -w 0", recv_prog), 0);
	ck_assert_str_eq(tt_out, "yes\ndirect\n");
	ck_assert_int_eq(tt_run("'%s' -t tt --from first -n 1 --json",
	    recv_prog), 0);
	snprintf(want, sizeof(want), "\"__transactionId__\":\"%s\"", id);
	ck_assert_contains(tt_out, want);

	/* shmq-admin: the two undecided are pending; decide them. */
	ck_assert_int_eq(tt_run("'%s' txn list --json", admin_prog), 0);
	ck_assert_msg(tt_json_valid(tt_out), "not JSON: %s", tt_out);
	snprintf(want, sizeof(want), "{\"pending\":[{\"txn_id\":\"%s\"", later);
	ck_assert_contains(tt_out, want);
	snprintf(want, sizeof(want), "},{\"txn_id\":\"%s\"", killed);
	ck_assert_contains(tt_out, want);
	ck_assert_contains(tt_out, "\"topic\":\"tt\",\"group\":\"pg\","
	    "\"checks\":0,");
	ck_assert_contains(tt_out, "\"given_up\":[]}");
	ck_assert_lacks(tt_out, id);
	ck_assert_int_eq(tt_run("'%s' txn commit %s", admin_prog, later), 0);
	ck_assert_contains(tt_err, "committed");
	ck_assert_int_eq(tt_run("'%s' txn rollback %s", admin_prog, killed),
	    0);
	ck_assert_int_eq(tt_run("'%s' txn commit %s", admin_prog, killed), 1);
	ck_assert_contains(tt_err, "decided before");
	ck_assert_int_eq(tt_run("'%s' txn commit %s", admin_prog,
	    "0000000000000000FFFFFFFFFFFFFFF0"), 1);
	ck_assert_contains(tt_err, "no such");
	ck_assert_int_eq(tt_run("'%s' -t tt --from first -w 0", recv_prog), 0);
	ck_assert_str_eq(tt_out, "yes\ndirect\nlater\n");
	ck_assert_int_eq(tt_run("'%s' txn list", admin_prog), 0);
	ck_assert_contains(tt_out, "PENDING (undecided half messages)\n"
	    "TXN-ID");
	ck_assert_lacks(tt_out, later);
	ck_assert_lacks(tt_out, killed);
	ck_assert_int_eq(tt_count_lines(tt_out), 7);	/* (none) twice */

	/* Bad usage. */
	ck_assert_int_eq(tt_run("'%s' -t tt -m x --txn maybe", send_prog), 2);
	ck_assert_contains(tt_err, "--txn \"maybe\": expected commit, "
	    "rollback or unknown");
	ck_assert_int_eq(tt_run("'%s' -t tt -m x --txn commit --txn-exec true",
	    send_prog), 2);
	ck_assert_int_eq(tt_run("'%s' -t tt -m x --txn commit -g 'a b'",
	    send_prog), 1);
}
END_TEST

/* Stat's JSON holds NEEDLE within 2 s (shmqd publishes its counters
 * after each step). */
static void
wait_stat_has(const char *needle)
{
	int i;

	for (i = 0; i < 200; i++) {
		ck_assert_int_eq(tt_run("'%s' --json", stat_prog), 0);
		if (strstr(tt_out, needle) != NULL)
			return;
		usleep(10000);
	}
	ck_assert_contains(tt_out, needle);
}

START_TEST(test_txn_given_up)
{
	char id[SHMQ_MSGID_LEN + 1], want[200];
	pid_t pid;

	ck_assert_int_eq(tt_run("'%s' -t tg --create-queues 2 -g pg -m maybe "
	    "-p u=1 --queue 1 --json --txn-exec 'exit 3'", send_prog), 0);
	strlcpy(id, json_id(tt_out, "txn_id"), sizeof(id));
	ck_assert_uint_eq(strlen(id), SHMQ_MSGID_LEN);
	ck_assert_int_eq(tt_run("'%s'", stat_prog), 0);
	ck_assert_contains(tt_out, "transactions:    pending unknown (no "
	    "shmqd), 0 given up in %TRANS_CHECK_MAX% (0 resent)\n");

	/* shmqd checks it back (no producer of pg answers), then gives up. */
	pid = tt_shmqd_start("--txn-timeout 200 --txn-check-interval 200 "
	    "--txn-check-max 2");
	snprintf(want, sizeof(want), "transaction %s (group pg, topic tg): "
	    "check 1 of 2 sent", id);
	ck_assert(tt_shmqd_log_has(want, 1));
	ck_assert(tt_shmqd_log_has("given up", 1));
	ck_assert_int_eq(tt_run("'%s' -t tg --from first -w 0", recv_prog), 0);
	ck_assert_str_eq(tt_out, "");

	ck_assert_int_eq(tt_run("'%s' txn list --json", admin_prog), 0);
	ck_assert_msg(tt_json_valid(tt_out), "not JSON: %s", tt_out);
	snprintf(want, sizeof(want), "{\"pending\":[],\"given_up\":"
	    "[{\"txn_id\":\"%s\"", id);
	ck_assert_contains(tt_out, want);
	ck_assert_contains(tt_out, "\"topic\":\"tg\",\"group\":\"pg\","
	    "\"checks\":2,");
	ck_assert_int_eq(tt_run("'%s' txn list", admin_prog), 0);
	ck_assert_contains(tt_out, "GIVEN UP (in %TRANS_CHECK_MAX%, not "
	    "resent)\n");
	snprintf(want, sizeof(want), "%s  tg  pg  2  ", id);
	ck_assert_contains(tt_out, want);
	wait_stat_has("\"transactions\":{\"pending\":0,\"given_up\":1,"
	    "\"resent\":0}");
	ck_assert_int_eq(tt_run("'%s'", stat_prog), 0);
	ck_assert_contains(tt_out, "transactions:    0 pending, 1 given up in "
	    "%TRANS_CHECK_MAX% (0 resent)\n");

	/* Given up is decided: only a resend delivers it, once. */
	ck_assert_int_eq(tt_run("'%s' txn commit %s", admin_prog, id), 1);
	ck_assert_contains(tt_err, "given up");
	ck_assert_int_eq(tt_run("'%s' txn resend %s", admin_prog, id), 0);
	snprintf(want, sizeof(want), "resent transaction %s to topic \"tg\"",
	    id);
	ck_assert_contains(tt_err, want);
	ck_assert_int_eq(tt_run("'%s' -t tg --from first -w 0 --json",
	    recv_prog), 0);
	ck_assert_int_eq(tt_count_lines(tt_out), 1);
	ck_assert_contains(tt_out, "\"body\":\"maybe\"");
	/* Its queue, as a commit would have chosen it (round-robin: 0). */
	ck_assert_contains(tt_out, "\"queue\":1,");
	snprintf(want, sizeof(want), "\"props\":{\"u\":\"1\","
	    "\"__transactionId__\":\"%s\"}", id);
	ck_assert_contains(tt_out, want);
	ck_assert_int_eq(tt_run("'%s' txn resend %s", admin_prog, id), 1);
	ck_assert_contains(tt_err, "already resent");
	ck_assert_int_eq(tt_run("'%s' txn resend --all", admin_prog), 0);
	ck_assert_contains(tt_err, "resent 0 transactions");
	ck_assert_int_eq(tt_run("'%s' txn list --json", admin_prog), 0);
	ck_assert_contains(tt_out, "\"given_up\":[]}");
	ck_assert_int_eq(tt_run("'%s' -t tg --from first -w 0", recv_prog), 0);
	ck_assert_str_eq(tt_out, "maybe\n");
	ck_assert_int_eq(tt_run("'%s' --json", stat_prog), 0);
	ck_assert_contains(tt_out, "\"given_up\":1,\"resent\":1}");
	ck_assert_int_eq(tt_shmqd_stop(pid), 0);
}
END_TEST

START_TEST(test_txn_admin_usage)
{
	ck_assert_int_eq(tt_run("'%s' --help", admin_prog), 0);
	ck_assert_contains(tt_out, "txn list [--json]");
	ck_assert_contains(tt_out, "txn commit|rollback TXN-ID");
	ck_assert_int_eq(tt_run("'%s' txn list extra", admin_prog), 2);
	ck_assert_int_eq(tt_run("'%s' txn commit", admin_prog), 2);
	ck_assert_int_eq(tt_run("'%s' txn rollback x --json", admin_prog), 2);
	ck_assert_int_eq(tt_run("'%s' txn resend", admin_prog), 2);
	ck_assert_int_eq(tt_run("'%s' txn resend x --all", admin_prog), 2);
	ck_assert_int_eq(tt_run("'%s' txn bogus", admin_prog), 2);

	/* A bus that never had a transaction. */
	ck_assert_int_eq(tt_run("'%s' -t plain -m x", send_prog), 0);
	ck_assert_int_eq(tt_run("'%s' txn list", admin_prog), 0);
	ck_assert_int_eq(tt_count_lines(tt_out), 7);
	ck_assert_int_eq(tt_run("'%s' txn list --json", admin_prog), 0);
	ck_assert_str_eq(tt_out, "{\"pending\":[],\"given_up\":[]}\n");
	ck_assert_int_eq(tt_run("'%s' txn resend --all", admin_prog), 0);
	ck_assert_contains(tt_err, "resent 0 transactions");
	ck_assert_int_eq(tt_run("'%s' txn resend %s", admin_prog,
	    "0000000000000000FFFFFFFFFFFFFFF0"), 1);
	ck_assert_contains(tt_err, "no transaction was given up");
	/* Nothing transactional: no transactions line in shmq-stat. */
	ck_assert_int_eq(tt_run("'%s'", stat_prog), 0);
	ck_assert_lacks(tt_out, "transactions:    ");
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("tools");
	TCase *tc;

	tc = tcase_create("usage");
	tcase_add_checked_fixture(tc, setup, tt_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_help_version);
	tcase_add_test(tc, test_bad_usage);
	tcase_add_test(tc, test_invalid_topic);
	tcase_add_test(tc, test_missing_bus);
	suite_add_tcase(s, tc);

	tc = tcase_create("send_recv");
	tcase_add_checked_fixture(tc, setup, tt_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_send_recv_json);
	tcase_add_test(tc, test_send_json_count);
	tcase_add_test(tc, test_tag_filter);
	tcase_add_test(tc, test_recv_timeout_and_missing_topic);
	tcase_add_test(tc, test_binary_and_queue);
	tcase_add_test(tc, test_from_time);
	tcase_add_test(tc, test_recv_group);
	tcase_add_test(tc, test_recv_live_and_signal);
	suite_add_tcase(s, tc);

	tc = tcase_create("stat");
	tcase_add_checked_fixture(tc, setup, tt_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stat);
	suite_add_tcase(s, tc);

	tc = tcase_create("txn");
	tcase_add_checked_fixture(tc, txn_setup, tt_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stat_perm);
	tcase_add_test(tc, test_send_txn);
	tcase_add_test(tc, test_txn_given_up);
	tcase_add_test(tc, test_txn_admin_usage);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(make_suite);
}
