/*
 * shmq-admin - change what a bus holds: create, update, delete and list
 * topics, reset a consumer group's offsets to a time, list and resend the
 * messages of a group's dead-letter topic.
 *
 *	shmq-admin topic create NAME [-q N]
 *	shmq-admin topic update NAME [-q N] [--perm P] [--retention D|default]
 *	shmq-admin topic delete NAME [--force]
 *	shmq-admin topic list [--json]
 *	shmq-admin group reset GROUP [-t TOPIC] --to TIME
 *	shmq-admin dlq list GROUP [--json]
 *	shmq-admin dlq resend GROUP (--id ID | --all)
 *	shmq-admin query --id ID [--json]
 *	shmq-admin query -t TOPIC --from TIME [--to TIME] [--max N] [--json]
 *	shmq-admin query -t TOPIC --key KEY [--max N] [--json]
 *
 * Queries read the store directly (shmq_query_id, shmq_query_time,
 * shmq_query_key): no consumer, no group, nothing changed.  By key finds
 * only what shmqd has indexed.
 *
 * Dead letters.  %DLQ%<group> is a topic of one queue; a message there
 * carries its original topic (RETRY_TOPIC) and first id
 * (ORIGIN_MESSAGE_ID).  A resend sends a copy to the original topic (the
 * same tags, keys, properties and body, reconsume count 0) and then
 * appends a marker to the DLQ: an empty message with tag "%RESENT" whose
 * property RESENT_ID names the dead letter it settles.  Markers are never
 * listed, and listed messages are those no marker names, so the record of
 * what was resent lives in the store with the messages, survives
 * restarts, and needs no consumer group.  A crash between the resend and
 * its marker resends the message again next time (at-least-once).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define DLQ_PREFIX	"%DLQ%"

enum {
	OPT_JSON = CLI_OPT_TOOL,
	OPT_TO,
	OPT_ID,
	OPT_ALL,
	OPT_FROM,
	OPT_MAX,
	OPT_KEY,
	OPT_PERM,
	OPT_RETENTION,
	OPT_FORCE
};

static const struct option longopts[] = {
	CLI_LONGOPTS,
	{ "json",	no_argument,		NULL,	OPT_JSON },
	{ "queues",	required_argument,	NULL,	'q' },
	{ "topic",	required_argument,	NULL,	't' },
	{ "to",		required_argument,	NULL,	OPT_TO },
	{ "id",		required_argument,	NULL,	OPT_ID },
	{ "all",	no_argument,		NULL,	OPT_ALL },
	{ "from",	required_argument,	NULL,	OPT_FROM },
	{ "max",	required_argument,	NULL,	OPT_MAX },
	{ "key",	required_argument,	NULL,	OPT_KEY },
	{ "perm",	required_argument,	NULL,	OPT_PERM },
	{ "retention",	required_argument,	NULL,	OPT_RETENTION },
	{ "force",	no_argument,		NULL,	OPT_FORCE },
	{ NULL,		0,			NULL,	0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: shmq-admin topic create NAME [-q N]\n"
"       shmq-admin topic update NAME [-q N] [--perm r|w|rw|none]\n"
"                               [--retention DURATION|default]\n"
"       shmq-admin topic delete NAME [--force]\n"
"       shmq-admin topic list [--json]\n"
"       shmq-admin group reset GROUP [-t TOPIC] --to TIME\n"
"       shmq-admin dlq list GROUP [--json]\n"
"       shmq-admin dlq resend GROUP (--id ID | --all)\n"
"       shmq-admin query --id ID [--json]\n"
"       shmq-admin query -t TOPIC --from TIME [--to TIME] [--max N] [--json]\n"
"       shmq-admin query -t TOPIC --key KEY [--max N] [--json]\n"
"\n"
"Change what a shmq bus holds, and find stored messages.\n"
"\n"
"  -q, --queues N      queues of a new topic (default: the bus's); update:\n"
"                      grow to N (never fewer: offsets are forever)\n"
"      --perm P        update: r (no sends), w (consumers get nothing),\n"
"                      rw, or none\n"
"      --retention D   update: keep the topic's messages D (30m, 12h, 7d),\n"
"                      or \"default\" for the bus's retention time\n"
"      --force         delete a system topic (its name starts with '%%')\n"
"  -t, --topic TOPIC   reset only this topic's offsets; the topic to query\n"
"      --to TIME       @MS (ms since the epoch), ISO 8601\n"
"                      (2026-11-21T10:00:00.123Z), or -DURATION ago\n"
"                      (30s, 5m, 2h, 1d); a query's range ends before it\n"
"                      (default: no end)\n"
"      --from TIME     a query's range starts at it (as --to)\n"
"      --key KEY       the messages with this key (as indexed by shmqd)\n"
"      --max N         print at most N messages of a query (default 1000)\n"
"      --id ID         resend the dead letter with this message id; the\n"
"                      message to look up\n"
"      --all           resend every dead letter not resent yet\n"
"      --json          print one JSON document\n"
CLI_USAGE_COMMON
"\n"
"Exit status: 0 done, 1 failed, 2 bad usage.\n");
}

/* ------------------------------------------------------------------ */
/* topic                                                               */
/* ------------------------------------------------------------------ */

struct tlist {
	struct shmq_bus	*bus;
	char		 name[128];
	int		 queues;
	uint64_t	 messages;
	int		 n;
	int		 json;
};

static const char *
perm_name(unsigned perm)
{
	static const char *names[] = { "none", "w", "r", "rw" };

	return names[((perm & SHMQ_PERM_READ) ? 2 : 0) |
	    ((perm & SHMQ_PERM_WRITE) ? 1 : 0)];
}

static void
tlist_flush(struct tlist *l)
{
	struct shmq_topic_conf tc;
	char ret[32];

	if (l->name[0] == '\0')
		return;
	/* Deleted since it was listed: not shown. */
	if (shmq_topic_conf_get(l->bus, l->name, &tc) < 0) {
		l->name[0] = '\0';
		return;
	}
	if (l->json) {
		printf("%s{\"name\":", l->n > 0 ? "," : "");
		cli_json_cstr(stdout, l->name);
		printf(",\"queues\":%d,\"messages\":%llu,\"perm\":\"%s\","
		    "\"retention_ms\":%llu}", l->queues,
		    (unsigned long long)l->messages, perm_name(tc.perm),
		    (unsigned long long)tc.retention_ms);
	} else {
		if (tc.retention_ms == 0)
			snprintf(ret, sizeof(ret), "default");
		else if (tc.retention_ms % 3600000 == 0)
			snprintf(ret, sizeof(ret), "%lluh",
			    (unsigned long long)tc.retention_ms / 3600000);
		else if (tc.retention_ms % 1000 == 0)
			snprintf(ret, sizeof(ret), "%llus",
			    (unsigned long long)tc.retention_ms / 1000);
		else
			snprintf(ret, sizeof(ret), "%llums",
			    (unsigned long long)tc.retention_ms);
		printf("%-40s %6d %12llu %4s %10s\n", l->name, l->queues,
		    (unsigned long long)l->messages, perm_name(tc.perm), ret);
	}
	l->n++;
	l->name[0] = '\0';
}

static int
tlist_cb(void *arg, const struct shmq_queue_info *qi)
{
	struct tlist *l = arg;

	if (strcmp(l->name, qi->topic) != 0) {
		tlist_flush(l);
		snprintf(l->name, sizeof(l->name), "%s", qi->topic);
		l->queues = qi->queues;
		l->messages = 0;
	}
	l->messages += qi->messages;
	return 0;
}

static int
topic_list(struct shmq_bus *bus, int json)
{
	struct tlist l;
	int err;

	memset(&l, 0, sizeof(l));
	l.bus = bus;
	l.json = json;
	if (json)
		printf("{\"topics\":[");
	else
		printf("%-40s %6s %12s %4s %10s\n", "TOPIC", "QUEUES",
		    "MESSAGES", "PERM", "RETENTION");
	if ((err = shmq_queue_foreach(bus, NULL, tlist_cb, &l)) < 0)
		return cli_err(err, "topics");
	tlist_flush(&l);
	if (json)
		printf("]}\n");
	return 0;
}

/* "r", "w", "rw" or "none" to SHMQ_PERM_* bits; -1 if none of those. */
static int
perm_parse(const char *s)
{
	if (strcmp(s, "rw") == 0 || strcmp(s, "wr") == 0)
		return SHMQ_PERM_RW;
	if (strcmp(s, "r") == 0)
		return SHMQ_PERM_READ;
	if (strcmp(s, "w") == 0)
		return SHMQ_PERM_WRITE;
	if (strcmp(s, "none") == 0)
		return 0;
	return -1;
}

/* "default" (0), or a duration (30s, 5m, 12h, 7d, 500ms) in ms; -1. */
static int
retention_parse(const char *s, uint64_t *ms)
{
	if (strcmp(s, "default") == 0) {
		*ms = 0;
		return 0;
	}
	/* 0 would mean "the bus's": a topic's own retention is at least
	 * a millisecond. */
	if (cli_parse_duration_ms(s, UINT64_MAX / 2, ms) < 0 || *ms == 0)
		return -1;
	return 0;
}

static int
topic_update(struct shmq_bus *bus, const char *name, long long queues,
    int perm, int retention_set, uint64_t retention_ms)
{
	struct shmq_topic_conf tc;
	unsigned mask = 0;
	int err;

	memset(&tc, 0, sizeof(tc));
	if (queues > 0) {
		tc.queues = (unsigned)queues;
		mask |= SHMQ_TOPIC_SET_QUEUES;
	}
	if (perm >= 0) {
		tc.perm = (unsigned)perm;
		mask |= SHMQ_TOPIC_SET_PERM;
	}
	if (retention_set) {
		tc.retention_ms = retention_ms;
		mask |= SHMQ_TOPIC_SET_RETENTION;
	}
	if ((err = shmq_topic_update(bus, name, &tc, mask)) < 0)
		return cli_err(err, "topic \"%s\"", name);
	if ((err = shmq_topic_conf_get(bus, name, &tc)) < 0)
		return cli_err(err, "topic \"%s\"", name);
	fprintf(stderr, "shmq-admin: topic \"%s\": %u queues, perm %s, "
	    "retention %s%llu%s\n", name, tc.queues, perm_name(tc.perm),
	    tc.retention_ms == 0 ? "default (" : "",
	    (unsigned long long)tc.retention_ms,
	    tc.retention_ms == 0 ? " ms: the bus's)" : " ms");
	return 0;
}

/* ------------------------------------------------------------------ */
/* dlq                                                                 */
/* ------------------------------------------------------------------ */

struct dlq {
	struct shmq_bus		*bus;
	struct shmq_consumer	*c;
	char			 topic[160];
	char			(*resent)[SHMQ_MSGID_LEN + 1];
	size_t			 nresent;
};

static int
is_marker(const struct shmq_msgview *v)
{
	return v->tags_len == strlen(SHMQ_DLQ_RESENT_TAG) &&
	    memcmp(v->tags, SHMQ_DLQ_RESENT_TAG, v->tags_len) == 0 &&
	    shmq_msgview_prop(v, SHMQ_PROP_RESENT_ID, NULL) != NULL;
}

static int
was_resent(const struct dlq *d, const char *id)
{
	size_t i;

	for (i = 0; i < d->nresent; i++)
		if (strcmp(d->resent[i], id) == 0)
			return 1;
	return 0;
}

/* Read the DLQ from its first message, calling CB for each. */
static int
dlq_scan(struct dlq *d, int (*cb)(struct dlq *, const struct shmq_msgview *,
    void *), void *arg)
{
	struct shmq_msgview v[64];
	int n, i, rc;

	if ((rc = shmq_consumer_seek(d->c, d->topic, SHMQ_QUEUE_ANY,
	    SHMQ_SEEK_FIRST, 0)) < 0)
		return cli_err(rc, "topic \"%s\"", d->topic);
	while ((n = shmq_consumer_poll(d->c, v, 64, 0)) > 0)
		for (i = 0; i < n; i++)
			if ((rc = cb(d, &v[i], arg)) != 0)
				return rc;
	if (n < 0)
		return cli_err(n, "topic \"%s\"", d->topic);
	return 0;
}

static int
collect_marker(struct dlq *d, const struct shmq_msgview *v, void *arg)
{
	const char *id;
	size_t len;
	void *nr;

	(void)arg;
	if (!is_marker(v))
		return 0;
	id = shmq_msgview_prop(v, SHMQ_PROP_RESENT_ID, &len);
	if (len != SHMQ_MSGID_LEN)
		return 0;
	if ((nr = reallocarray(d->resent, d->nresent + 1,
	    sizeof(*d->resent))) == NULL)
		return cli_syserr("dead letters");
	d->resent = nr;
	memcpy(d->resent[d->nresent], id, len);
	d->resent[d->nresent][len] = '\0';
	d->nresent++;
	return 0;
}

static int
no_cb(void *arg, const struct shmq_group_info *gi)
{
	(void)arg;
	(void)gi;
	return 0;
}

/* Open group GROUP's DLQ.  1: the group has none (nothing to do). */
static int
dlq_open(struct dlq *d, struct shmq_bus *bus, const char *group)
{
	int err;

	memset(d, 0, sizeof(*d));
	d->bus = bus;
	if (cli_check_name("group", group) != 0)
		return CLI_EXIT_FAIL;
	if ((err = shmq_group_foreach(bus, group, no_cb, NULL)) < 0)
		return cli_err(err, "group \"%s\"", group);
	snprintf(d->topic, sizeof(d->topic), "%s%s", DLQ_PREFIX, group);
	if ((err = shmq_topic_queues(bus, d->topic)) == SHMQ_ENOTOPIC)
		return -1;
	if (err < 0)
		return cli_err(err, "topic \"%s\"", d->topic);
	if ((err = shmq_consumer_open(&d->c, bus)) < 0)
		return cli_err(err, "consumer");
	if ((err = shmq_consumer_assign(d->c, d->topic, SHMQ_QUEUE_ANY,
	    NULL)) < 0)
		return cli_err(err, "topic \"%s\"", d->topic);
	return dlq_scan(d, collect_marker, NULL);
}

static void
dlq_close(struct dlq *d)
{
	shmq_consumer_close(d->c);
	free(d->resent);
}

struct list_out {
	int	 json;
	int	 n;
};

static void
print_field(const char *p, size_t n, int json)
{
	if (json)
		cli_json_str(stdout, p, n);
	else if (n > 0)
		printf("%.*s", (int)n, p);
	else
		putchar('-');
}

static int
list_one(struct dlq *d, const struct shmq_msgview *v, void *arg)
{
	struct list_out *o = arg;
	const char *ot, *oid;
	size_t otl = 0, oidl = 0;
	char when[64];

	if (is_marker(v) || was_resent(d, v->msg_id))
		return 0;
	ot = shmq_msgview_prop(v, SHMQ_PROP_RETRY_TOPIC, &otl);
	oid = shmq_msgview_prop(v, SHMQ_PROP_ORIGIN_MSG_ID, &oidl);
	cli_format_time_ms(when, sizeof(when), v->store_ns / 1000000);
	if (o->json) {
		printf("%s{\"id\":\"%s\",\"topic\":", o->n > 0 ? "," : "",
		    v->msg_id);
		print_field(ot, otl, 1);
		printf(",\"origin_id\":");
		print_field(oid, oidl, 1);
		printf(",\"reconsume\":%u,\"stored\":\"%s\",\"store_ms\":%llu,"
		    "\"tags\":", v->reconsume, when,
		    (unsigned long long)(v->store_ns / 1000000));
		print_field(v->tags, v->tags_len, 1);
		printf(",\"keys\":");
		print_field(v->keys, v->keys_len, 1);
		printf(",\"body_bytes\":%zu}", v->body_len);
	} else {
		printf("%s  ", v->msg_id);
		print_field(ot, otl, 0);
		printf("  ");
		print_field(oid, oidl, 0);
		printf("  %u  %s  %zu\n", v->reconsume, when, v->body_len);
	}
	o->n++;
	return 0;
}

static int
dlq_list(struct shmq_bus *bus, const char *group, int json)
{
	struct list_out o = { json, 0 };
	struct dlq d;
	int rc;

	rc = dlq_open(&d, bus, group);
	if (rc > 0) {
		dlq_close(&d);
		return rc;
	}
	if (json)
		printf("{\"group\":");
	if (json) {
		cli_json_cstr(stdout, group);
		printf(",\"messages\":[");
	} else
		printf("%-32s  %s  %s  %s  %s  %s\n", "ID", "TOPIC",
		    "ORIGIN-ID", "RECONSUME", "STORED", "BYTES");
	if (rc == 0)
		rc = dlq_scan(&d, list_one, &o);
	else
		rc = 0;
	if (json)
		printf("]}\n");
	dlq_close(&d);
	return rc;
}

struct resend {
	struct shmq_producer	*p;
	const char		*id;	/* NULL: all */
	int			 n;
};

static int
resend_one(struct dlq *d, const struct shmq_msgview *v, void *arg)
{
	struct resend *r = arg;
	struct shmq_prop props[64], mark;
	char topic[160], tags[256], *keys = NULL, *buf = NULL, *b;
	const char *ot, *p, *end, *sep, *stop;
	size_t otl, np = 0;
	struct shmq_msg m;
	int err;

	if (is_marker(v) || was_resent(d, v->msg_id) ||
	    (r->id != NULL && strcmp(r->id, v->msg_id) != 0))
		return 0;
	ot = shmq_msgview_prop(v, SHMQ_PROP_RETRY_TOPIC, &otl);
	if (ot == NULL || otl == 0 || otl >= sizeof(topic)) {
		cli_warnx("dead letter %s: no original topic", v->msg_id);
		return CLI_EXIT_FAIL;
	}
	snprintf(topic, sizeof(topic), "%.*s", (int)otl, ot);
	shmq_msg_init(&m);
	m.topic = topic;
	if (v->tags_len > 0) {
		snprintf(tags, sizeof(tags), "%.*s", (int)v->tags_len, v->tags);
		m.tags = tags;
	}
	if ((buf = malloc(v->props_len + v->keys_len + 2)) == NULL)
		return cli_syserr("resend");
	b = buf;
	if (v->keys_len > 0) {
		keys = b;
		memcpy(b, v->keys, v->keys_len);
		b += v->keys_len;
		*b++ = '\0';
		m.keys = keys;
	}
	/* The user's properties and ORIGIN_MESSAGE_ID; not the retry's. */
	p = v->props;
	end = p + v->props_len;
	while (p < end && np < sizeof(props) / sizeof(props[0])) {
		if ((sep = memchr(p, '\1', (size_t)(end - p))) == NULL ||
		    (stop = memchr(sep + 1, '\2', (size_t)(end - sep - 1))) ==
		    NULL)
			break;
		props[np].name = b;
		memcpy(b, p, (size_t)(sep - p));
		b[sep - p] = '\0';
		b += sep - p + 1;
		props[np].value = b;
		memcpy(b, sep + 1, (size_t)(stop - sep - 1));
		b[stop - sep - 1] = '\0';
		b += stop - sep;
		if (strcmp(props[np].name, SHMQ_PROP_RETRY_TOPIC) != 0 &&
		    strcmp(props[np].name, SHMQ_PROP_RETRY_DUE_MS) != 0)
			np++;
		p = stop + 1;
	}
	m.props = props;
	m.nprops = np;
	m.body = v->body;
	m.body_len = v->body_len;
	err = shmq_producer_send(r->p, &m, NULL);
	free(buf);
	if (err < 0)
		return cli_err(err, "resend %s to topic \"%s\"", v->msg_id,
		    topic);
	/* The marker: this dead letter is settled. */
	mark.name = SHMQ_PROP_RESENT_ID;
	mark.value = v->msg_id;
	shmq_msg_init(&m);
	m.topic = d->topic;
	m.tags = SHMQ_DLQ_RESENT_TAG;
	m.props = &mark;
	m.nprops = 1;
	if ((err = shmq_producer_send(r->p, &m, NULL)) < 0)
		return cli_err(err, "mark %s resent", v->msg_id);
	fprintf(stderr, "shmq-admin: resent %s to topic \"%s\"\n",
	    v->msg_id, topic);
	r->n++;
	return 0;
}

static int
dlq_resend(struct shmq_bus *bus, const char *group, const char *id)
{
	struct resend r;
	struct dlq d;
	int rc, err;

	memset(&r, 0, sizeof(r));
	r.id = id;
	rc = dlq_open(&d, bus, group);
	if (rc < 0) {
		dlq_close(&d);
		if (id != NULL) {
			cli_warnx("group \"%s\": no dead letters (no topic "
			    "\"%s%s\")", group, DLQ_PREFIX, group);
			return CLI_EXIT_FAIL;
		}
		fprintf(stderr, "shmq-admin: resent 0 messages\n");
		return 0;
	}
	if (rc > 0) {
		dlq_close(&d);
		return rc;
	}
	if (id != NULL && was_resent(&d, id)) {
		dlq_close(&d);
		cli_warnx("dead letter %s: already resent", id);
		return CLI_EXIT_FAIL;
	}
	if ((err = shmq_producer_open(&r.p, bus, "shmq-admin")) < 0) {
		dlq_close(&d);
		return cli_err(err, "producer");
	}
	rc = dlq_scan(&d, resend_one, &r);
	shmq_producer_close(r.p);
	dlq_close(&d);
	if (rc != 0)
		return rc;
	if (id != NULL && r.n == 0) {
		cli_warnx("dead letter %s: not in topic \"%s%s\"", id,
		    DLQ_PREFIX, group);
		return CLI_EXIT_FAIL;
	}
	if (id == NULL)
		fprintf(stderr, "shmq-admin: resent %d message%s\n", r.n,
		    r.n == 1 ? "" : "s");
	return 0;
}

/* ------------------------------------------------------------------ */
/* query                                                               */
/* ------------------------------------------------------------------ */

struct qout {
	int		 json;
	uint64_t	 n;
	uint64_t	 max;
	int		 more;	/* stopped at max with messages left */
};

/* One message: a JSON object as shmq-recv --json prints it, or a row. */
static void
query_print(struct qout *o, const struct shmq_msgview *v)
{
	char when[64];

	if (o->json) {
		if (o->n > 0)
			putchar(',');
		cli_json_msg(stdout, v);
		return;
	}
	cli_format_time_ms(when, sizeof(when), v->store_ns / 1000000);
	printf("%s  ", v->msg_id);
	print_field(v->topic, v->topic_len, 0);
	printf("  %d  %llu  %s  ", v->queue, (unsigned long long)v->queue_off,
	    when);
	print_field(v->tags, v->tags_len, 0);
	printf("  ");
	print_field(v->keys, v->keys_len, 0);
	printf("  %zu\n", v->body_len);
}

static void
query_header(void)
{
	printf("%-32s  %s  %s  %s  %s  %s  %s  %s\n", "ID", "TOPIC", "QUEUE",
	    "OFFSET", "STORED", "TAGS", "KEYS", "BYTES");
}

static int
query_id(struct shmq_bus *bus, const char *id, int json)
{
	struct qout o = { json, 0, 1, 0 };
	struct shmq_msgview v;
	int err;

	if ((err = shmq_query_id(bus, id, &v)) < 0)
		return cli_err(err, "message id");
	if (!json)
		query_header();
	query_print(&o, &v);
	return 0;
}

static int
query_cb(void *arg, const struct shmq_msgview *v)
{
	struct qout *o = arg;

	if (o->n == o->max) {
		o->more = 1;
		return 1;
	}
	query_print(o, v);
	o->n++;
	return 0;
}

static int
query_time(struct shmq_bus *bus, const char *topic, uint64_t from_ms,
    uint64_t to_ms, uint64_t max, int json)
{
	struct qout o = { json, 0, max, 0 };
	int rc;

	if (json) {
		printf("{\"topic\":");
		cli_json_cstr(stdout, topic);
		printf(",\"from_ms\":%llu,\"to_ms\":", (unsigned long long)from_ms);
		if (to_ms == UINT64_MAX)
			printf("null");
		else
			printf("%llu", (unsigned long long)to_ms);
		printf(",\"messages\":[");
	} else
		query_header();
	rc = shmq_query_time(bus, topic, from_ms, to_ms, query_cb, &o);
	if (json) {
		printf("],\"count\":%llu,\"truncated\":%s}\n",
		    (unsigned long long)o.n, o.more ? "true" : "false");
	}
	if (rc < 0)
		return cli_err(rc, "topic \"%s\"", topic);
	if (o.more)
		cli_warnx("stopped after %llu messages (--max); more are in "
		    "the range", (unsigned long long)o.n);
	return 0;
}

static int
query_key(struct shmq_bus *bus, const char *topic, const char *key,
    uint64_t max, int json)
{
	struct qout o = { json, 0, max, 0 };
	int rc;

	if (json) {
		printf("{\"topic\":");
		cli_json_cstr(stdout, topic);
		printf(",\"key\":");
		cli_json_cstr(stdout, key);
		printf(",\"messages\":[");
	} else
		query_header();
	rc = shmq_query_key(bus, topic, key, 0, query_cb, &o);
	if (json)
		printf("],\"count\":%llu,\"truncated\":%s}\n",
		    (unsigned long long)o.n, o.more ? "true" : "false");
	if (rc < 0)
		return cli_err(rc, "topic \"%s\" key \"%s\"", topic, key);
	if (o.more)
		cli_warnx("stopped after %llu messages (--max); more have the "
		    "key", (unsigned long long)o.n);
	return 0;
}

/* ------------------------------------------------------------------ */

int
main(int argc, char **argv)
{
	struct cli cli;
	struct shmq_bus *bus = NULL;
	const char *words[4] = { NULL }, *topic = NULL, *to = NULL;
	const char *id = NULL, *from = NULL, *key = NULL;
	long long queues = 0, max = 1000;
	uint64_t to_ms = 0, from_ms = 0, retention_ms = 0;
	int ch, nwords = 0, json = 0, all = 0, query = 0, maxset = 0, rc, err;
	int perm = -1, retention_set = 0, force = 0, upd;

	cli_init(&cli, "shmq-admin", usage);
	/* "-" first: words come back as option 1, in order, wherever they
	 * stand among the options. */
	while ((ch = getopt_long(argc, argv, "-" CLI_SHORTOPTS "q:t:",
	    longopts, NULL)) != -1) {
		if (cli_common_opt(&cli, ch, optarg))
			continue;
		switch (ch) {
		case 1:
			if (nwords == 3)
				return cli_usage_error(&cli, "unexpected "
				    "argument \"%s\"", optarg);
			words[nwords++] = optarg;
			break;
		case 'q':
			if (cli_parse_ll("--queues", optarg, 1, 1024,
			    &queues) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 't':
			topic = optarg;
			break;
		case OPT_TO:
			to = optarg;
			break;
		case OPT_ID:
			id = optarg;
			break;
		case OPT_ALL:
			all = 1;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_FROM:
			from = optarg;
			break;
		case OPT_KEY:
			key = optarg;
			break;
		case OPT_MAX:
			if (cli_parse_ll("--max", optarg, 1, LLONG_MAX,
			    &max) < 0)
				return CLI_EXIT_USAGE;
			maxset = 1;
			break;
		case OPT_PERM:
			if ((perm = perm_parse(optarg)) < 0)
				return cli_usage_error(&cli, "--perm \"%s\": "
				    "expected r, w, rw or none", optarg);
			break;
		case OPT_RETENTION:
			if (retention_parse(optarg, &retention_ms) < 0)
				return cli_usage_error(&cli, "--retention "
				    "\"%s\": expected a duration (30s, 5m, "
				    "12h, 7d, 500ms) or \"default\"", optarg);
			retention_set = 1;
			break;
		case OPT_FORCE:
			force = 1;
			break;
		default:
			return cli_usage_error(&cli, "unexpected option");
		}
	}
	query = nwords > 0 && strcmp(words[0], "query") == 0;
	if (!query && nwords < 2)
		return cli_usage_error(&cli, "expected a command, such as "
		    "\"topic list\"");
	if (maxset && !query)
		return cli_usage_error(&cli, "--max is for query");
	if (from != NULL && !query)
		return cli_usage_error(&cli, "--from is for query");
	if (key != NULL && !query)
		return cli_usage_error(&cli, "--key is for query");
	upd = !query && strcmp(words[0], "topic") == 0 &&
	    strcmp(words[1], "update") == 0;
	if ((perm >= 0 || retention_set) && !upd)
		return cli_usage_error(&cli, "--perm and --retention are for "
		    "topic update");
	if (force && (query || strcmp(words[0], "topic") != 0 ||
	    strcmp(words[1], "delete") != 0))
		return cli_usage_error(&cli, "--force is for topic delete");
#define CMD(a, b) (!query && strcmp(words[0], (a)) == 0 &&		\
	strcmp(words[1], (b)) == 0)
	if (query) {
		if (nwords != 1 || queues || all || (id != NULL) ==
		    (topic != NULL) || (id != NULL && (from || to || maxset || key)) ||
		    (topic != NULL && (from == NULL) == (key == NULL)) ||
		    (key != NULL && to != NULL))
			return cli_usage_error(&cli, "usage: query --id ID "
			    "[--json], query -t TOPIC --from TIME [--to TIME] "
			    "[--max N] [--json], or query -t TOPIC --key KEY "
			    "[--max N] [--json]");
		if (from != NULL && cli_parse_time_ms(from,
		    shmq_now_ns() / 1000000, &from_ms) < 0)
			return cli_usage_error(&cli, "--from \"%s\": expected "
			    "@MS, an ISO 8601 time or -DURATION", from);
		to_ms = UINT64_MAX;
		if (to != NULL && cli_parse_time_ms(to,
		    shmq_now_ns() / 1000000, &to_ms) < 0)
			return cli_usage_error(&cli, "--to \"%s\": expected "
			    "@MS, an ISO 8601 time or -DURATION", to);
		if (from_ms > to_ms)
			return cli_usage_error(&cli, "--to is before --from");
	} else if (CMD("topic", "list")) {
		if (nwords != 2 || queues || topic || to || id || all)
			return cli_usage_error(&cli, "topic list takes "
			    "--json only");
	} else if (CMD("topic", "create")) {
		if (nwords != 3 || json || topic || to || id || all)
			return cli_usage_error(&cli, "usage: topic create "
			    "NAME [-q N]");
		if (cli_check_name("topic", words[2]) != 0)
			return CLI_EXIT_FAIL;
	} else if (CMD("topic", "update")) {
		if (nwords != 3 || json || topic || to || id || all)
			return cli_usage_error(&cli, "usage: topic update "
			    "NAME [-q N] [--perm r|w|rw|none] [--retention "
			    "DURATION|default]");
		if (queues == 0 && perm < 0 && !retention_set)
			return cli_usage_error(&cli, "topic update: nothing to "
			    "change (-q, --perm or --retention)");
		if (cli_check_name("topic", words[2]) != 0)
			return CLI_EXIT_FAIL;
	} else if (CMD("topic", "delete")) {
		if (nwords != 3 || json || topic || to || id || all || queues)
			return cli_usage_error(&cli, "usage: topic delete "
			    "NAME [--force]");
		if (cli_check_name("topic", words[2]) != 0)
			return CLI_EXIT_FAIL;
	} else if (CMD("group", "reset")) {
		if (nwords != 3 || to == NULL || json || id || all || queues)
			return cli_usage_error(&cli, "usage: group reset GROUP "
			    "[-t TOPIC] --to TIME");
		if (cli_parse_time_ms(to, shmq_now_ns() / 1000000,
		    &to_ms) < 0)
			return cli_usage_error(&cli, "--to \"%s\": expected "
			    "@MS, an ISO 8601 time or -DURATION", to);
	} else if (CMD("dlq", "list")) {
		if (nwords != 3 || queues || topic || to || id || all)
			return cli_usage_error(&cli, "usage: dlq list GROUP "
			    "[--json]");
	} else if (CMD("dlq", "resend")) {
		if (nwords != 3 || (id == NULL) == !all || json || queues ||
		    topic || to)
			return cli_usage_error(&cli, "usage: dlq resend GROUP "
			    "(--id ID | --all)");
	} else
		return cli_usage_error(&cli, "unknown command \"%s %s\"",
		    words[0], words[1]);

	if (cli_bus_open(&cli, &bus, CMD("topic", "create")) != 0)
		return CLI_EXIT_FAIL;
	rc = CLI_EXIT_OK;
	if (CMD("topic", "list"))
		rc = topic_list(bus, json);
	else if (CMD("topic", "create")) {
		if (queues == 0) {
			struct shmq_bus_info bi;

			if ((err = shmq_bus_info(bus, &bi)) < 0)
				rc = cli_err(err, "bus");
			queues = bi.default_queues;
		}
		if (rc == 0 && (err = shmq_topic_create(bus, words[2],
		    (unsigned)queues)) < 0)
			rc = cli_err(err, "topic \"%s\"", words[2]);
	} else if (CMD("topic", "update"))
		rc = topic_update(bus, words[2], queues, perm, retention_set,
		    retention_ms);
	else if (CMD("topic", "delete")) {
		if ((err = shmq_topic_delete(bus, words[2],
		    force ? SHMQ_TOPIC_FORCE : 0)) < 0)
			rc = cli_err(err, "topic \"%s\"", words[2]);
		else
			fprintf(stderr, "shmq-admin: topic \"%s\" deleted\n",
			    words[2]);
	} else if (CMD("group", "reset")) {
		char when[64];

		if ((err = shmq_group_reset(bus, words[2], topic, to_ms)) < 0)
			rc = cli_err(err, "group \"%s\"", words[2]);
		else {
			cli_format_time_ms(when, sizeof(when), to_ms);
			fprintf(stderr, "shmq-admin: group \"%s\"%s%s%s: "
			    "offsets reset to %s\n", words[2],
			    topic != NULL ? " topic \"" : "",
			    topic != NULL ? topic : "",
			    topic != NULL ? "\"" : "", when);
		}
	} else if (query && id != NULL)
		rc = query_id(bus, id, json);
	else if (query && key != NULL)
		rc = query_key(bus, topic, key, (uint64_t)max, json);
	else if (query)
		rc = query_time(bus, topic, from_ms, to_ms, (uint64_t)max, json);
	else if (CMD("dlq", "list"))
		rc = dlq_list(bus, words[2], json);
	else
		rc = dlq_resend(bus, words[2], id);
#undef CMD
	if (rc == 0 && cli_flush(stdout, "stdout") < 0)
		rc = CLI_EXIT_FAIL;
	shmq_bus_close(bus);
	return rc;
}
