/*
 * shmq-recv - print the messages of a topic, as tail -f does for a file.
 *
 * A pull consumer follows every queue of each -t TOPIC (or only --queue N),
 * from the position --from chooses (default: last, only new messages), and
 * prints each message: its body and a newline (default), its body alone
 * (--body-only), or one JSON object per line (--json).
 *
 * When it stops (exit status):
 *  - -n COUNT messages received: 0;
 *  - SIGINT or SIGTERM, or the reader of stdout went away: 0, after the
 *    message being printed;
 *  - -w MS passed with no message: 0 without -n (the topic is drained), 1
 *    with -n (fewer than COUNT messages came);
 *  - an error: 1; bad usage: 2.
 * Without -n and -w it runs until interrupted.
 *
 * With -g GROUP it joins consumer group GROUP instead: the group shares the
 * topics' queues among its members (or, with --broadcast, gives every
 * named --instance everything), and the position is the group's committed
 * offset, committed as messages are printed; --from then only says where a
 * new group starts.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
	OPT_QUEUE = CLI_OPT_TOOL,
	OPT_FROM,
	OPT_JSON,
	OPT_BODY_ONLY,
	OPT_CREATE_QUEUES,
	OPT_BROADCAST,
	OPT_INSTANCE
};

static const struct option longopts[] = {
	CLI_LONGOPTS,
	{ "topic",		required_argument,	NULL,	't' },
	{ "queue",		required_argument,	NULL,	OPT_QUEUE },
	{ "from",		required_argument,	NULL,	OPT_FROM },
	{ "tags",		required_argument,	NULL,	'e' },
	{ "count",		required_argument,	NULL,	'n' },
	{ "timeout",		required_argument,	NULL,	'w' },
	{ "json",		no_argument,		NULL,	OPT_JSON },
	{ "body-only",		no_argument,		NULL,	OPT_BODY_ONLY },
	{ "create-queues",	required_argument,	NULL,
	    OPT_CREATE_QUEUES },
	{ "verbose",		no_argument,		NULL,	'v' },
	{ "group",		required_argument,	NULL,	'g' },
	{ "broadcast",		no_argument,		NULL,	OPT_BROADCAST },
	{ "instance",		required_argument,	NULL,	OPT_INSTANCE },
	{ NULL,			0,			NULL,	0 }
};

/* Longest sleep in one poll, so that a signal is seen soon. */
#define POLL_SLICE_MS	200

#define BATCH		64

enum out_mode {
	OUT_LINES,	/* body, newline */
	OUT_BODY,	/* body only */
	OUT_JSON	/* one object per line */
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: shmq-recv -t TOPIC [-t TOPIC]... [options]\n"
"Print the messages of TOPIC as they arrive: by default each body followed\n"
"by a newline.\n"
"\n"
"  -t, --topic TOPIC   topic to read (repeatable)\n"
"      --queue N       read only queue N (default: all queues)\n"
"      --from WHERE    where to start in each queue (default: last):\n"
"                        first    the oldest message still stored\n"
"                        last     only messages sent from now on\n"
"                        N        queue offset N\n"
"                        @MS      the first message stored at or after MS\n"
"                                 (ms since the epoch)\n"
"                        TIME     the same for an ISO 8601 time, e.g.\n"
"                                 2026-11-21T10:00:00Z (no zone: local)\n"
"                        -DUR     the same for DUR ago: 30s, 5m, 2h, 1d\n"
"  -e, --tags EXPR     only messages whose tag matches EXPR: \"*\" (all,\n"
"                      the default) or \"a || b || c\"\n"
"  -n, --count N       stop after N messages\n"
"  -w, --timeout MS    stop after MS milliseconds with no message\n"
"                      (default: -1, wait forever)\n"
"      --json          print one JSON object per message and line: topic,\n"
"                      queue, queue_off, log_off, msg_id, store_ms, born_ms,\n"
"                      tags, keys, props, and body (a string) or body_b64\n"
"                      (base64, when the body is not valid UTF-8)\n"
"      --body-only     print the bodies alone, with no newline added\n"
"      --create-queues N\n"
"                      create the bus if missing, and TOPIC with N queues\n"
"                      if missing (else a missing bus or topic is an error)\n"
"  -v, --verbose       print the number of messages received at the end\n"
"  -g, --group GROUP   join consumer group GROUP: its members share the\n"
"                      queues, and it resumes at the group's committed\n"
"                      offsets (--from: where a new group starts; last\n"
"                      means from the first subscription on)\n"
"      --broadcast     with -g: every member gets every message\n"
"      --instance NAME with -g: this member's name (required with\n"
"                      --broadcast: its offsets are kept under it)\n"
CLI_USAGE_COMMON
"\n"
"Exit status: 0 got N messages, or interrupted, or timed out without -n;\n"
"1 error, or timed out with -n before N messages; 2 bad usage.\n");
}

/* --from: where each assigned queue starts. */
struct from {
	enum shmq_whence	 whence;
	uint64_t		 value;
};

static int
parse_from(const char *arg, struct from *f)
{
	const char *errstr = NULL;
	long long off;

	if (strcmp(arg, "first") == 0) {
		f->whence = SHMQ_SEEK_FIRST;
		return 0;
	}
	if (strcmp(arg, "last") == 0) {
		f->whence = SHMQ_SEEK_LAST;
		return 0;
	}
	if (arg[0] >= '0' && arg[0] <= '9' && strchr(arg, '-') == NULL) {
		off = strtonum(arg, 0, LLONG_MAX, &errstr);
		if (errstr == NULL) {
			f->whence = SHMQ_SEEK_OFFSET;
			f->value = (uint64_t)off;
			return 0;
		}
	}
	if (cli_parse_time_ms(arg, shmq_now_ns() / 1000000, &f->value) == 0) {
		f->whence = SHMQ_SEEK_TIME;
		return 0;
	}
	cli_warnx("--from \"%s\": expected first, last, a queue offset, "
	    "@MS, an ISO 8601 time or -DURATION", arg);
	return -1;
}

static void
print_msg(enum out_mode mode, const struct shmq_msgview *v)
{
	switch (mode) {
	case OUT_JSON:
		cli_json_msg(stdout, v);
		break;
	case OUT_BODY:
		fwrite(v->body, 1, v->body_len, stdout);
		break;
	case OUT_LINES:
		fwrite(v->body, 1, v->body_len, stdout);
		putchar('\n');
		break;
	}
}

int
main(int argc, char **argv)
{
	struct cli cli;
	struct shmq_bus *bus = NULL;
	struct shmq_consumer *cons = NULL;
	struct shmq_msgview views[BATCH];
	struct from from = { SHMQ_SEEK_LAST, 0 };
	/* Static so that it stays reachable (and LeakSanitizer quiet) on
	 * the early returns of a bad command line. */
	static const char **topics;
	const char **nt, *expr = NULL;
	enum out_mode mode = OUT_LINES;
	size_t ntopics = 0, i, max;
	long long v, count = 0, timeout_ms = -1;
	unsigned long long got = 0;
	uint64_t idle_since, now, slice, left;
	unsigned create_queues = 0;
	int ch, n, rc = CLI_EXIT_OK, queue = SHMQ_QUEUE_ANY, verbose = 0;
	int timed_out = 0, pipe_closed = 0, broadcast = 0;
	const char *group = NULL, *instance = NULL;
	struct shmq_group_opts go;

	cli_init(&cli, "shmq-recv", usage);

	while ((ch = cli_getopt(&cli, argc, argv, CLI_SHORTOPTS "t:e:n:w:vg:",
	    longopts)) != -1) {
		switch (ch) {
		case 't':
			nt = reallocarray(topics, ntopics + 1,
			    sizeof(*topics));
			if (nt == NULL)
				return cli_syserr("arguments");
			topics = nt;
			topics[ntopics++] = optarg;
			break;
		case OPT_QUEUE:
			if (cli_parse_ll("--queue", optarg, 0, 1023, &v) < 0)
				return CLI_EXIT_USAGE;
			queue = (int)v;
			break;
		case OPT_FROM:
			if (parse_from(optarg, &from) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 'e':
			expr = optarg;
			break;
		case 'n':
			if (cli_parse_ll("-n", optarg, 1, LLONG_MAX, &v) < 0)
				return CLI_EXIT_USAGE;
			count = v;
			break;
		case 'w':
			if (cli_parse_ll("-w", optarg, -1, INT_MAX,
			    &timeout_ms) < 0)
				return CLI_EXIT_USAGE;
			break;
		case OPT_JSON:
			mode = OUT_JSON;
			break;
		case OPT_BODY_ONLY:
			mode = OUT_BODY;
			break;
		case OPT_CREATE_QUEUES:
			if (cli_parse_ll("--create-queues", optarg, 1, 1024,
			    &v) < 0)
				return CLI_EXIT_USAGE;
			create_queues = (unsigned)v;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'g':
			group = optarg;
			break;
		case OPT_BROADCAST:
			broadcast = 1;
			break;
		case OPT_INSTANCE:
			instance = optarg;
			break;
		default:
			return cli_usage_error(&cli, "unexpected option");
		}
	}
	if (ntopics == 0)
		return cli_usage_error(&cli, "no topic: give -t TOPIC");
	if (group == NULL && (broadcast || instance != NULL))
		return cli_usage_error(&cli, "--broadcast and --instance go "
		    "with -g GROUP");
	if (group != NULL && queue != SHMQ_QUEUE_ANY)
		return cli_usage_error(&cli, "--queue and -g: the group "
		    "chooses the queues");
	if (group != NULL && from.whence == SHMQ_SEEK_OFFSET)
		return cli_usage_error(&cli, "--from N and -g: a group starts "
		    "at first, last or a time");
	for (i = 0; i < ntopics; i++)
		if (cli_check_name("topic", topics[i]) != 0) {
			free(topics);
			return CLI_EXIT_FAIL;
		}

	cli_catch_signals();

	/*
	 * A reader does not create a bus by mistake (a typo in -b would wait
	 * forever on an empty bus): only when asked to create the topic.
	 */
	if (cli_bus_open(&cli, &bus, create_queues > 0) != 0) {
		free(topics);
		return CLI_EXIT_FAIL;
	}
	if (group != NULL) {
		shmq_group_opts_init(&go);
		go.model = broadcast ? SHMQ_BROADCASTING : SHMQ_CLUSTERING;
		go.instance = instance;
		go.start = from.whence;
		go.start_time_ms = from.value;
		rc = shmq_consumer_open_group(&cons, bus, group, &go);
		if (rc < 0) {
			rc = cli_err(rc, "consumer group \"%s\" on bus \"%s\"",
			    group, cli_bus_name(&cli));
			goto out;
		}
	} else if ((rc = shmq_consumer_open(&cons, bus)) < 0) {
		rc = cli_err(rc, "consumer on bus \"%s\"", cli_bus_name(&cli));
		goto out;
	}
	for (i = 0; i < ntopics; i++) {
		if (create_queues > 0 && (rc = cli_topic_create(bus, topics[i],
		    create_queues)) != 0)
			goto out;
		if (group != NULL)
			rc = shmq_consumer_subscribe(cons, topics[i], expr);
		else
			rc = shmq_consumer_assign(cons, topics[i], queue, expr);
		if (rc == SHMQ_ENOTOPIC) {
			cli_warnx("topic \"%s\": no such topic on bus \"%s\" "
			    "(send to it first, or give --create-queues N)",
			    topics[i], cli_bus_name(&cli));
			rc = CLI_EXIT_FAIL;
			goto out;
		}
		if (rc == SHMQ_EBADEXPR) {
			rc = cli_err(rc, "tag expression \"%s\"", expr);
			goto out;
		}
		if (rc < 0) {
			if (queue != SHMQ_QUEUE_ANY)
				rc = cli_err(rc, "topic \"%s\" queue %d",
				    topics[i], queue);
			else
				rc = cli_err(rc, "topic \"%s\"", topics[i]);
			goto out;
		}
		if (group != NULL)
			continue;	/* the group's offsets */
		rc = shmq_consumer_seek(cons, topics[i], queue, from.whence,
		    from.value);
		if (rc < 0) {
			rc = cli_err(rc, "topic \"%s\": --from", topics[i]);
			goto out;
		}
	}
	rc = CLI_EXIT_OK;

	/*
	 * Poll in slices so that a signal is seen within POLL_SLICE_MS even
	 * if the library restarts its futex wait after EINTR.  The -w
	 * timeout counts from the last message (or the start).
	 */
	idle_since = shmq_now_ns() / 1000000;
	while (!cli_interrupted() && !pipe_closed) {
		max = BATCH;
		if (count > 0 && (unsigned long long)count - got < max)
			max = (size_t)((unsigned long long)count - got);
		slice = POLL_SLICE_MS;
		now = shmq_now_ns() / 1000000;
		if (timeout_ms >= 0) {
			left = now - idle_since >= (uint64_t)timeout_ms ? 0 :
			    (uint64_t)timeout_ms - (now - idle_since);
			if (left < slice)
				slice = left;
		}
		n = shmq_consumer_poll(cons, views, max, (int)slice);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			rc = cli_err(n, "poll");
			break;
		}
		if (n == 0) {
			now = shmq_now_ns() / 1000000;
			if (timeout_ms >= 0 &&
			    now - idle_since >= (uint64_t)timeout_ms) {
				timed_out = 1;
				break;
			}
			continue;
		}
		for (i = 0; i < (size_t)n; i++)
			print_msg(mode, &views[i]);
		got += (unsigned long long)n;
		if (cli_flush(stdout, "stdout") < 0) {
			if (errno == EPIPE)
				pipe_closed = 1;
			else
				rc = CLI_EXIT_FAIL;
			break;
		}
		idle_since = shmq_now_ns() / 1000000;
		if (count > 0 && got >= (unsigned long long)count)
			break;
	}
	if (timed_out && count > 0) {
		cli_warnx("timed out after %lld ms with no message: received "
		    "%llu of %lld", timeout_ms, got, count);
		rc = CLI_EXIT_FAIL;
	}
	if (verbose)
		fprintf(stderr, "received %llu message%s\n", got,
		    got == 1 ? "" : "s");
out:
	shmq_consumer_close(cons);
	shmq_bus_close(bus);
	free(topics);
	return rc;
}
