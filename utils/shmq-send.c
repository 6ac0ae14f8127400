/*
 * shmq-send - send messages to a topic from a shell.
 *
 * Messages come from -m (one message per option), -f (one message per file,
 * its whole contents) or, when neither is given, from standard input, one
 * message per line (the newline is not part of the message).  Each message
 * is sent -c COUNT times.  The topic is created on first send with the bus's
 * default queue count, or with --create-queues N.
 *
 * Output: "sent N message(s) to TOPIC" on stderr at the end (-q: nothing),
 * one line per message on stderr with -v, one JSON object per message on
 * stdout with --json.  Exit 0 when every message was sent, 1 when one could
 * not be (nothing after it is sent) or on interruption, 2 on bad usage.
 *
 * Transactions (--txn STATE, --txn-exec CMD): each message is sent with
 * shmq_producer_send_txn in the producer group of -g.  The local
 * transaction is STATE itself, or CMD run through /bin/sh once per message
 * with the body on its standard input and SHMQ_TXN_ID, SHMQ_TOPIC in its
 * environment: exit 0 commits, exit 1 rolls back, anything else (another
 * status, a signal, a command that cannot start) leaves the transaction
 * unknown, for shmqd to check back with the group's producers later.
 * CMD's standard output goes to our standard error, so that --json stays
 * one object per line.  The outcome is a sent message's result: shown
 * with -v and --json, counted in the summary; a rollback is no failure.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cli.h"

enum {
	OPT_TAG = CLI_OPT_TOOL,
	OPT_SHARD,
	OPT_QUEUE,
	OPT_CREATE_QUEUES,
	OPT_JSON,
	OPT_TXN,
	OPT_TXN_EXEC
};

static const struct option longopts[] = {
	CLI_LONGOPTS,
	{ "topic",		required_argument,	NULL,	't' },
	{ "message",		required_argument,	NULL,	'm' },
	{ "file",		required_argument,	NULL,	'f' },
	{ "tag",		required_argument,	NULL,	OPT_TAG },
	{ "key",		required_argument,	NULL,	'k' },
	{ "keys",		required_argument,	NULL,	'k' },
	{ "shard",		required_argument,	NULL,	OPT_SHARD },
	{ "queue",		required_argument,	NULL,	OPT_QUEUE },
	{ "prop",		required_argument,	NULL,	'p' },
	{ "count",		required_argument,	NULL,	'c' },
	{ "create-queues",	required_argument,	NULL,
	    OPT_CREATE_QUEUES },
	{ "json",		no_argument,		NULL,	OPT_JSON },
	{ "group",		required_argument,	NULL,	'g' },
	{ "txn",		required_argument,	NULL,	OPT_TXN },
	{ "txn-exec",		required_argument,	NULL,	OPT_TXN_EXEC },
	{ "quiet",		no_argument,		NULL,	'q' },
	{ "verbose",		no_argument,		NULL,	'v' },
	{ NULL,			0,			NULL,	0 }
};

/* A message given on the command line: -m TEXT or -f FILE, in order. */
struct source {
	int		 is_file;
	const char	*arg;
};

struct send {
	struct shmq_producer	*prod;
	struct shmq_msg		 msg;
	const char		*topic;
	long long		 count;
	int			 json;
	int			 quiet;
	int			 verbose;
	unsigned long long	 sent;
	int			 txn;		/* --txn or --txn-exec given */
	int			 txn_state;	/* --txn's SHMQ_TXN_* */
	const char		*txn_exec;	/* --txn-exec CMD, or NULL */
	unsigned long long	 outcome[3];	/* by SHMQ_TXN_* */
};

static const char *const outcome_names[] = { "commit", "rollback",
    "unknown" };

static void
usage(FILE *f)
{
	fprintf(f,
"usage: shmq-send -t TOPIC [-m MESSAGE]... [-f FILE]... [options]\n"
"Send messages to TOPIC: each -m and each -f (a whole file) is one message;\n"
"without them, each line of standard input is one message.\n"
"\n"
"  -t, --topic TOPIC   topic to send to (created on first send)\n"
"  -m, --message TEXT  a message (repeatable)\n"
"  -f, --file FILE     a message made of FILE's contents, - for stdin\n"
"                      (repeatable)\n"
"      --tag TAG       the messages' tag\n"
"  -k, --key KEYS      the messages' keys, separated by spaces\n"
"      --shard KEY     sharding key: messages with one key go to one queue,\n"
"                      in order\n"
"      --queue N       send to queue N\n"
"  -p, --prop NAME=VALUE\n"
"                      a user property (repeatable)\n"
"  -c, --count N       send each message N times (default 1)\n"
"      --create-queues N\n"
"                      create TOPIC with N queues if it does not exist\n"
"  -g, --group GROUP   the producer group (default DEFAULT)\n"
"      --txn STATE     send transactional messages, ending each with STATE:\n"
"                      commit, rollback or unknown (shmqd checks it back)\n"
"      --txn-exec CMD  send transactional messages, running CMD through\n"
"                      /bin/sh for each (body on its stdin, $SHMQ_TXN_ID):\n"
"                      exit 0 commits, 1 rolls back, else unknown\n"
"      --json          print one JSON object per message sent on stdout\n"
"                      (topic, msg_id, queue, queue_off, log_off; with\n"
"                      transactions also txn_id, state, decided_before)\n"
"  -v, --verbose       print the id, queue and offset of each message\n"
"  -q, --quiet         do not print the summary\n"
CLI_USAGE_COMMON
"\n"
"Exit status: 0 all sent, 1 failed or interrupted, 2 bad usage.\n");
}

/* Write all of P[0..N) to FD; stops early when the reader goes away. */
static void
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR && !cli_interrupted())
				continue;
			return;	/* EPIPE: the command does not read it */
		}
		p += w;
		n -= (size_t)w;
	}
}

/*
 * The local transaction of --txn-exec: run CMD with M's body on its
 * standard input and its standard output on our standard error.  The
 * transaction's answer is CMD's: exit 0 COMMIT, 1 ROLLBACK, anything else
 * UNKNOWN.
 */
static int
txn_run(const char *cmd, const struct shmq_msg *m, const char *txn_id)
{
	struct sigaction sa;
	int fds[2], st;
	pid_t pid;

	/* Set here, not in the child: the environment of a forked child of
	 * a process that may have threads is not to be touched. */
	if (setenv("SHMQ_TXN_ID", txn_id, 1) < 0 ||
	    setenv("SHMQ_TOPIC", m->topic, 1) < 0 ||
	    pipe2(fds, O_CLOEXEC) < 0) {
		cli_syserr("--txn-exec");
		return SHMQ_TXN_UNKNOWN;
	}
	if ((pid = fork()) < 0) {
		cli_syserr("--txn-exec: fork");
		close(fds[0]);
		close(fds[1]);
		return SHMQ_TXN_UNKNOWN;
	}
	if (pid == 0) {
		/* cli_init ignores SIGPIPE, which exec would keep. */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(SIGPIPE, &sa, NULL);
		if (dup2(fds[0], STDIN_FILENO) < 0 ||
		    dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	write_all(fds[1], m->body, m->body_len);
	close(fds[1]);
	/* Waited for even when interrupted: its answer decides. */
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			cli_syserr("--txn-exec: wait");
			return SHMQ_TXN_UNKNOWN;
		}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return SHMQ_TXN_COMMIT;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
		return SHMQ_TXN_ROLLBACK;
	return SHMQ_TXN_UNKNOWN;
}

static int
txn_local(void *arg, const struct shmq_msg *m, const char *txn_id)
{
	const struct send *s = arg;

	if (s->txn_exec != NULL)
		return txn_run(s->txn_exec, m, txn_id);
	return s->txn_state;
}

/* Send the message once; fill *RES (its msg_id "" when it is not in its
 * topic now), *TR for a transaction.  0 or CLI_EXIT_FAIL, printed. */
static int
send_one(struct send *s, struct shmq_send_result *res,
    struct shmq_txn_result *tr)
{
	int rc;

	if (!s->txn) {
		if ((rc = shmq_producer_send(s->prod, &s->msg, res)) < 0)
			return cli_err(rc, "topic \"%s\"", s->topic);
		return 0;
	}
	rc = shmq_producer_send_txn(s->prod, &s->msg, txn_local, s, tr);
	if (rc < 0 && tr->txn_id[0] != '\0')
		return cli_err(rc, "topic \"%s\": transaction %s (%s, not "
		    "recorded: shmqd will check it back)", s->topic,
		    tr->txn_id, outcome_names[tr->state]);
	if (rc < 0)
		return cli_err(rc, "topic \"%s\"", s->topic);
	s->outcome[tr->state]++;
	*res = tr->send;
	if (tr->state != SHMQ_TXN_COMMIT || tr->decided_before)
		res->msg_id[0] = '\0';
	return 0;
}

/* Send BODY count times; 0, or CLI_EXIT_FAIL with the error printed. */
static int
send_body(struct send *s, const void *body, size_t len)
{
	struct shmq_send_result res;
	struct shmq_txn_result tr;
	long long i;
	int rc;

	s->msg.body = body;
	s->msg.body_len = len;
	for (i = 0; i < s->count; i++) {
		if (cli_interrupted())
			return CLI_EXIT_FAIL;
		if ((rc = send_one(s, &res, &tr)) != 0)
			return rc;
		s->sent++;
		if (s->json) {
			printf("{\"topic\":");
			cli_json_cstr(stdout, s->topic);
			if (s->txn)
				printf(",\"txn_id\":\"%s\",\"state\":\"%s\","
				    "\"decided_before\":%s", tr.txn_id,
				    outcome_names[tr.state],
				    tr.decided_before ? "true" : "false");
			if (res.msg_id[0] != '\0')
				printf(",\"msg_id\":\"%s\",\"queue\":%d,"
				    "\"queue_off\":%llu,\"log_off\":%llu}\n",
				    res.msg_id, res.queue,
				    (unsigned long long)res.queue_off,
				    (unsigned long long)res.log_off);
			else
				printf(",\"msg_id\":null}\n");
			if (ferror(stdout)) {
				cli_syserr("stdout");
				return CLI_EXIT_FAIL;
			}
		}
		if (!s->verbose)
			continue;
		if (s->txn)
			fprintf(stderr, "transaction %s: %s%s%s", tr.txn_id,
			    outcome_names[tr.state], tr.decided_before ?
			    " (decided before by a check-back)" : "",
			    res.msg_id[0] != '\0' ? ": " : "\n");
		if (res.msg_id[0] != '\0')
			fprintf(stderr, "%s queue %d offset %llu\n",
			    res.msg_id, res.queue,
			    (unsigned long long)res.queue_off);
	}
	return 0;
}

/* Read all of FD into a new buffer; -1 on error (errno set). */
static int
slurp(int fd, char **out, size_t *outlen)
{
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0;
	ssize_t n;

	for (;;) {
		if (len == cap) {
			cap = cap == 0 ? 65536 : cap * 2;
			nbuf = realloc(buf, cap);
			if (nbuf == NULL) {
				free(buf);
				errno = ENOMEM;
				return -1;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR && !cli_interrupted())
				continue;
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

static int
send_file(struct send *s, const char *path)
{
	char *buf;
	size_t len;
	int fd, rc;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return cli_syserr("file \"%s\"", path);
	rc = slurp(fd, &buf, &len);
	if (fd != STDIN_FILENO)
		close(fd);
	if (rc < 0) {
		if (cli_interrupted())
			return CLI_EXIT_FAIL;
		return cli_syserr("file \"%s\"", path);
	}
	rc = send_body(s, buf, len);
	free(buf);
	return rc;
}

/* One message per line of standard input, without its newline. */
static int
send_lines(struct send *s)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	while (!cli_interrupted()) {
		errno = 0;
		n = getline(&line, &cap, stdin);
		if (n < 0) {
			if (ferror(stdin) && !cli_interrupted())
				rc = cli_syserr("stdin");
			break;
		}
		if (n > 0 && line[n - 1] == '\n')
			n--;
		rc = send_body(s, line, (size_t)n);
		if (rc != 0)
			break;
	}
	free(line);
	return rc;
}

/* Parse -p NAME=VALUE into PROPS (the argument is split in place). */
static int
add_prop(struct shmq_prop **props, size_t *nprops, char *arg)
{
	struct shmq_prop *np;
	char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg) {
		cli_warnx("-p \"%s\": expected NAME=VALUE", arg);
		return -1;
	}
	np = reallocarray(*props, *nprops + 1, sizeof(**props));
	if (np == NULL) {
		cli_syserr("-p");
		return -1;
	}
	*eq = '\0';
	np[*nprops].name = arg;
	np[*nprops].value = eq + 1;
	*props = np;
	(*nprops)++;
	return 0;
}

int
main(int argc, char **argv)
{
	struct cli cli;
	struct send s;
	struct shmq_bus *bus = NULL;
	/* Static so that they stay reachable (and LeakSanitizer quiet) on
	 * the early returns of a bad command line. */
	static struct shmq_prop *props;
	static struct source *srcs;
	struct source *ns;
	size_t nprops = 0, nsrcs = 0, i;
	const char *group = NULL;
	long long v;
	unsigned create_queues = 0;
	int ch, rc = CLI_EXIT_OK, have_queue = 0;

	cli_init(&cli, "shmq-send", usage);
	memset(&s, 0, sizeof(s));
	shmq_msg_init(&s.msg);
	s.count = 1;

	while ((ch = cli_getopt(&cli, argc, argv,
	    CLI_SHORTOPTS "t:m:f:k:p:c:g:qv", longopts)) != -1) {
		switch (ch) {
		case 't':
			s.topic = optarg;
			break;
		case 'm':
		case 'f':
			ns = reallocarray(srcs, nsrcs + 1, sizeof(*srcs));
			if (ns == NULL)
				return cli_syserr("arguments");
			srcs = ns;
			srcs[nsrcs].is_file = ch == 'f';
			srcs[nsrcs].arg = optarg;
			nsrcs++;
			break;
		case OPT_TAG:
			s.msg.tags = optarg;
			break;
		case 'k':
			s.msg.keys = optarg;
			break;
		case OPT_SHARD:
			s.msg.shard_key = optarg;
			s.msg.shard_key_len = strlen(optarg);
			break;
		case OPT_QUEUE:
			if (cli_parse_ll("--queue", optarg, 0, 1023, &v) < 0)
				return CLI_EXIT_USAGE;
			s.msg.queue = (int)v;
			have_queue = 1;
			break;
		case 'p':
			if (add_prop(&props, &nprops, optarg) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 'c':
			if (cli_parse_ll("-c", optarg, 0, LLONG_MAX, &v) < 0)
				return CLI_EXIT_USAGE;
			s.count = v;
			break;
		case OPT_CREATE_QUEUES:
			if (cli_parse_ll("--create-queues", optarg, 1, 1024,
			    &v) < 0)
				return CLI_EXIT_USAGE;
			create_queues = (unsigned)v;
			break;
		case OPT_JSON:
			s.json = 1;
			break;
		case 'g':
			group = optarg;
			break;
		case OPT_TXN:
			for (i = 0; i < 3; i++)
				if (strcmp(optarg, outcome_names[i]) == 0)
					break;
			if (i == 3)
				return cli_usage_error(&cli, "--txn \"%s\": "
				    "expected commit, rollback or unknown",
				    optarg);
			s.txn_state = (int)i;
			s.txn = 1;
			break;
		case OPT_TXN_EXEC:
			s.txn_exec = optarg;
			break;
		case 'q':
			s.quiet = 1;
			break;
		case 'v':
			s.verbose = 1;
			break;
		default:
			return cli_usage_error(&cli, "unexpected option");
		}
	}
	if (s.topic == NULL)
		return cli_usage_error(&cli, "no topic: give -t TOPIC");
	if (have_queue && s.msg.shard_key != NULL)
		return cli_usage_error(&cli,
		    "--queue and --shard choose the queue both: give one");
	if (s.txn && s.txn_exec != NULL)
		return cli_usage_error(&cli, "--txn and --txn-exec both decide "
		    "the transactions: give one");
	if (s.txn_exec != NULL)
		s.txn = 1;
	if (cli_check_name("topic", s.topic) != 0 || (group != NULL &&
	    cli_check_name("group", group) != 0))
		return CLI_EXIT_FAIL;
	s.msg.topic = s.topic;
	s.msg.props = props;
	s.msg.nprops = nprops;

	/* Stop between two messages, never in the middle of one. */
	cli_catch_signals();

	if (cli_bus_open(&cli, &bus, 1) != 0) {
		free(srcs);
		free(props);
		return CLI_EXIT_FAIL;
	}
	if (create_queues > 0 &&
	    (rc = cli_topic_create(bus, s.topic, create_queues)) != 0)
		goto out;
	rc = shmq_producer_open(&s.prod, bus, group);
	if (rc < 0) {
		rc = cli_err(rc, "producer on bus \"%s\"", cli_bus_name(&cli));
		goto out;
	}

	if (nsrcs == 0)
		rc = send_lines(&s);
	for (i = 0; i < nsrcs && rc == 0; i++) {
		if (srcs[i].is_file)
			rc = send_file(&s, srcs[i].arg);
		else
			rc = send_body(&s, srcs[i].arg, strlen(srcs[i].arg));
	}
	if (rc == 0 && cli_interrupted())
		rc = CLI_EXIT_FAIL;
	if (s.json && cli_flush(stdout, "stdout") < 0) {
		if (errno == EPIPE)
			cli_warnx("stdout: %s", strerror(EPIPE));
		rc = CLI_EXIT_FAIL;
	}
	if (!s.quiet || rc != 0)
		fprintf(stderr, "%s%llu %smessage%s to %s",
		    cli_interrupted() ? "interrupted: sent " :
		    rc != 0 ? "sent only " : "sent ", s.sent,
		    s.txn ? "transactional " : "", s.sent == 1 ? "" : "s",
		    s.topic);
	if ((!s.quiet || rc != 0) && s.txn)
		fprintf(stderr, ": %llu committed, %llu rolled back, %llu "
		    "unknown", s.outcome[SHMQ_TXN_COMMIT],
		    s.outcome[SHMQ_TXN_ROLLBACK], s.outcome[SHMQ_TXN_UNKNOWN]);
	if (!s.quiet || rc != 0)
		fputc('\n', stderr);
	shmq_producer_close(s.prod);
out:
	shmq_bus_close(bus);
	free(srcs);
	free(props);
	return rc;
}
