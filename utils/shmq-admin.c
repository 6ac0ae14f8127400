/*
 * shmq-admin - change what a bus holds: create, update, delete and list
 * topics, reset a consumer group's offsets to a time, list and resend the
 * messages of a group's dead-letter topic, list, decide and resend
 * transactional messages.
 *
 *	shmq-admin topic create NAME [-q N]
 *	shmq-admin topic update NAME [-q N] [--perm P] [--retention D|default]
 *	shmq-admin topic delete NAME [--force]
 *	shmq-admin topic list [--json]
 *	shmq-admin group reset GROUP [-t TOPIC] --to TIME
 *	shmq-admin dlq list GROUP [--json]
 *	shmq-admin dlq resend GROUP (--id ID | --all)
 *	shmq-admin txn list [--json]
 *	shmq-admin txn commit|rollback TXN-ID
 *	shmq-admin txn resend (TXN-ID | --all)
 *	shmq-admin query --id ID [--json]
 *	shmq-admin query -t TOPIC --from TIME [--to TIME] [--max N] [--json]
 *	shmq-admin query -t TOPIC --key KEY [--max N] [--json]
 *	shmq-admin promote TOPIC [--force] [--json]
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
 *
 * Transactions.  "txn list" shows the half messages no decision names
 * yet (pending) and those shmqd gave up after its last check-back, in
 * %TRANS_CHECK_MAX%; a pending one is decided with shmq_txn_end as its
 * producer would, and a given-up one resent to its real topic the way a
 * dead letter is (same code, same markers).
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
"       shmq-admin txn list [--json]\n"
"       shmq-admin txn commit|rollback TXN-ID\n"
"       shmq-admin txn resend (TXN-ID | --all)\n"
"       shmq-admin query --id ID [--json]\n"
"       shmq-admin query -t TOPIC --from TIME [--to TIME] [--max N] [--json]\n"
"       shmq-admin query -t TOPIC --key KEY [--max N] [--json]\n"
"       shmq-admin promote TOPIC [--force] [--json]\n"
"\n"
"Change what a shmq bus holds, and find stored messages.\n"
"\n"
"  -q, --queues N      queues of a new topic (default: the bus's); update:\n"
"                      grow to N (never fewer: offsets are forever)\n"
"      --perm P        update: r (no sends), w (consumers get nothing),\n"
"                      rw, or none\n"
"      --retention D   update: keep the topic's messages D (30m, 12h, 7d),\n"
"                      or \"default\" for the bus's retention time\n"
"      --force         delete a system topic (its name starts with '%%');\n"
"                      promote a mirror even if it is behind its home\n"
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
"      --all           resend every dead letter, or every given-up\n"
"                      transaction, not resent yet\n"
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
		    (unsigned long long)l->messages, cli_perm_name(tc.perm),
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
		    (unsigned long long)l->messages, cli_perm_name(tc.perm),
		    ret);
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
	    "retention %s%llu%s\n", name, tc.queues,
	    cli_perm_name(tc.perm), tc.retention_ms == 0 ? "default (" : "",
	    (unsigned long long)tc.retention_ms,
	    tc.retention_ms == 0 ? " ms: the bus's)" : " ms");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Resending: dead letters and given-up transactions                   */
/* ------------------------------------------------------------------ */

/*
 * Two kinds of topic hold messages that an operator sends on to the topic
 * they were meant for: a group's dead-letter topic, and %TRANS_CHECK_MAX%,
 * where shmqd puts the transactions it gave up.  Both are read from their
 * first message with shmq_query_time (no consumer, no client slot), and a
 * resend is recorded in both the same way: a marker appended to the topic
 * (tag %RESENT, RESENT_ID the record resent).  A dead letter is named by
 * its message id; a given-up transaction by its transaction id, which its
 * markers carry too (__transactionId__): a transaction given up twice
 * (shmqd killed between its copy and its decision) has two records, and
 * one resend settles both.
 */
struct rkind {
	const char		*what;	/* "dead letter", "transaction" */
	const char		*unit;	/* what a count counts */
	const char		*origin; /* property: the topic to resend to */
	const char		*qid;	/* property: its queue, or NULL */
	const char *const	*drop;	/* properties not resent */
	int			 by_txn; /* named by SHMQ_PROP_TXN_ID */
};

static const char *const dlq_drop[] = { SHMQ_PROP_RETRY_TOPIC,
    SHMQ_PROP_RETRY_DUE_MS, NULL };
static const struct rkind dlq_kind = { "dead letter", "message",
    SHMQ_PROP_RETRY_TOPIC, NULL, dlq_drop, 0 };

/*
 * Stored property names of half messages that shmq.h does not export
 * (libshmq/txn.h and delay.h): with PGROUP and TRANSACTION_CHECK_TIMES,
 * what a commit drops.  __transactionId__ stays, as a commit sets it.
 */
#define TXN_REAL_TOPIC	"REAL_TOPIC"
#define TXN_REAL_QID	"REAL_QID"
static const char *const txn_drop[] = { TXN_REAL_TOPIC, TXN_REAL_QID,
    SHMQ_PROP_PGROUP, SHMQ_PROP_TXN_CHECKS, "TRAN_MSG", "TXN_KEY",
    "TXN_OP_FROM", "TXN_HALF_ID", "TXN_STATE", NULL };
static const struct rkind txn_kind = { "transaction", "transaction",
    TXN_REAL_TOPIC, TXN_REAL_QID, txn_drop, 1 };

/* A set of ids; looked up by bsearch in its sorted prefix. */
struct idset {
	char	(*id)[SHMQ_MSGID_LEN + 1];
	size_t	 n;
	size_t	 cap;
	size_t	 sorted;	/* id[0..sorted) is in order */
};

/* Room in array *VP (N used of *CAP, SIZE bytes each) for one more: 0,
 * or CLI_EXIT_FAIL printed. */
static int
grow(void *vp, size_t n, size_t *cap, size_t size)
{
	void **v = vp, *nv;
	size_t ncap = *cap == 0 ? 64 : *cap * 2;

	if (n < *cap)
		return 0;
	if ((nv = reallocarray(*v, ncap, size)) == NULL)
		return cli_syserr("ids");
	*v = nv;
	*cap = ncap;
	return 0;
}

/* Add ID[0..LEN) (not an id unless SHMQ_MSGID_LEN long: then nothing). */
static int
idset_add(struct idset *s, const char *id, size_t len)
{
	if (len != SHMQ_MSGID_LEN)
		return 0;
	if (grow(&s->id, s->n, &s->cap, sizeof(*s->id)) != 0)
		return CLI_EXIT_FAIL;
	memcpy(s->id[s->n], id, len);
	s->id[s->n++][len] = '\0';
	return 0;
}

static int
id_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
idset_sort(struct idset *s)
{
	if (s->n > 1)
		qsort(s->id, s->n, sizeof(*s->id), id_cmp);
	s->sorted = s->n;
}

static int
idset_has(const struct idset *s, const char *id)
{
	size_t i;

	if (s->sorted > 0 && bsearch(id, s->id, s->sorted, sizeof(*s->id),
	    id_cmp) != NULL)
		return 1;
	for (i = s->sorted; i < s->n; i++)
		if (strcmp(s->id[i], id) == 0)
			return 1;
	return 0;
}

/* A topic of messages to resend, open. */
struct rtopic {
	struct shmq_bus		*bus;
	const struct rkind	*k;
	char			 topic[160];
	struct idset		 done;	/* names a marker settles, and
					   those handled by this run */
};

static int
is_marker(const struct shmq_msgview *v)
{
	return v->tags_len == strlen(SHMQ_DLQ_RESENT_TAG) &&
	    memcmp(v->tags, SHMQ_DLQ_RESENT_TAG, v->tags_len) == 0 &&
	    shmq_msgview_prop(v, SHMQ_PROP_RESENT_ID, NULL) != NULL;
}

/* NAME gets what record V is named by: its id, or its transaction's; 0
 * if it has none. */
static int
rec_name(const struct rtopic *d, const struct shmq_msgview *v, char *name)
{
	const char *s = v->msg_id;
	size_t len = strlen(v->msg_id);

	if (d->k->by_txn)
		s = shmq_msgview_prop(v, SHMQ_PROP_TXN_ID, &len);
	if (s == NULL || len != SHMQ_MSGID_LEN)
		return 0;
	memcpy(name, s, len);
	name[len] = '\0';
	return 1;
}

struct rscan {
	struct rtopic	*d;
	int		(*cb)(struct rtopic *, const struct shmq_msgview *,
			    void *);
	void		*arg;
};

static int
rscan_one(void *arg, const struct shmq_msgview *v)
{
	struct rscan *s = arg;

	return s->cb(s->d, v, s->arg);
}

/* Read the topic from its first message, calling CB for each: 0, CB's
 * non-zero value, or CLI_EXIT_FAIL printed. */
static int
rtopic_scan(struct rtopic *d, int (*cb)(struct rtopic *,
    const struct shmq_msgview *, void *), void *arg)
{
	struct rscan s = { d, cb, arg };
	int rc;

	if ((rc = shmq_query_time(d->bus, d->topic, 0, UINT64_MAX, rscan_one,
	    &s)) < 0)
		return cli_err(rc, "topic \"%s\"", d->topic);
	return rc;
}

static int
collect_marker(struct rtopic *d, const struct shmq_msgview *v, void *arg)
{
	const char *id;
	size_t len;

	(void)arg;
	if (!is_marker(v))
		return 0;
	id = shmq_msgview_prop(v, d->k->by_txn ? SHMQ_PROP_TXN_ID :
	    SHMQ_PROP_RESENT_ID, &len);
	return id == NULL ? 0 : idset_add(&d->done, id, len);
}

/* Open TOPIC (of kind K, set first) and learn what was resent: 0, -1 (no
 * such topic), or CLI_EXIT_FAIL printed.  Close it in every case. */
static int
rtopic_open(struct rtopic *d, struct shmq_bus *bus, const char *topic)
{
	int err;

	d->bus = bus;
	snprintf(d->topic, sizeof(d->topic), "%s", topic);
	if ((err = shmq_topic_queues(bus, d->topic)) == SHMQ_ENOTOPIC)
		return -1;
	if (err < 0)
		return cli_err(err, "topic \"%s\"", d->topic);
	if ((err = rtopic_scan(d, collect_marker, NULL)) != 0)
		return err;
	idset_sort(&d->done);
	return 0;
}

static void
rtopic_close(struct rtopic *d)
{
	free(d->done.id);
	memset(&d->done, 0, sizeof(d->done));
}

static int
no_cb(void *arg, const struct shmq_group_info *gi)
{
	(void)arg;
	(void)gi;
	return 0;
}

/* Open group GROUP's DLQ, as rtopic_open. */
static int
dlq_open(struct rtopic *d, struct shmq_bus *bus, const char *group)
{
	char topic[160];
	int err;

	memset(d, 0, sizeof(*d));
	d->k = &dlq_kind;
	if (cli_check_name("group", group) != 0)
		return CLI_EXIT_FAIL;
	if ((err = shmq_group_foreach(bus, group, no_cb, NULL)) < 0)
		return cli_err(err, "group \"%s\"", group);
	snprintf(topic, sizeof(topic), "%s%s", DLQ_PREFIX, group);
	return rtopic_open(d, bus, topic);
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
list_one(struct rtopic *d, const struct shmq_msgview *v, void *arg)
{
	struct list_out *o = arg;
	const char *ot, *oid;
	size_t otl = 0, oidl = 0;
	char when[64];

	if (is_marker(v) || idset_has(&d->done, v->msg_id))
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
	struct rtopic d;
	int rc;

	rc = dlq_open(&d, bus, group);
	if (rc > 0) {
		rtopic_close(&d);
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
		rc = rtopic_scan(&d, list_one, &o);
	else
		rc = 0;
	if (json)
		printf("]}\n");
	rtopic_close(&d);
	return rc;
}

struct resend {
	struct shmq_producer	*p;
	const char		*id;	/* NULL: all */
	int			 n;
};

static int
in_list(const char *const *list, const char *name)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return 1;
	return 0;
}

/* The queue property QID of V names, within QUEUES as a commit takes it
 * (modulo: the topic may have grown); SHMQ_QUEUE_ANY without one. */
static int
rec_queue(const struct shmq_msgview *v, const char *qid, int queues)
{
	const char *s;
	char buf[8];
	size_t len;
	long long q;

	if (qid == NULL || queues <= 0 || (s = shmq_msgview_prop(v, qid,
	    &len)) == NULL || len == 0 || len >= sizeof(buf))
		return SHMQ_QUEUE_ANY;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strspn(buf, "0123456789") != len || (q = atoll(buf)) > 1023)
		return SHMQ_QUEUE_ANY;
	return (int)(q % queues);
}

static int
resend_one(struct rtopic *d, const struct shmq_msgview *v, void *arg)
{
	struct resend *r = arg;
	struct shmq_prop props[64], mark[2];
	char name[SHMQ_MSGID_LEN + 1], topic[160], tags[256];
	char *keys = NULL, *buf = NULL, *b;
	const char *ot, *p, *end, *sep, *stop;
	size_t otl, np = 0;
	struct shmq_msg m;
	int err;

	if (is_marker(v) || !rec_name(d, v, name) ||
	    idset_has(&d->done, name) ||
	    (r->id != NULL && strcmp(r->id, name) != 0))
		return 0;
	ot = shmq_msgview_prop(v, d->k->origin, &otl);
	if (ot == NULL || otl == 0 || otl >= sizeof(topic)) {
		cli_warnx("%s %s: no original topic", d->k->what, name);
		return CLI_EXIT_FAIL;
	}
	snprintf(topic, sizeof(topic), "%.*s", (int)otl, ot);
	shmq_msg_init(&m);
	m.topic = topic;
	m.queue = rec_queue(v, d->k->qid, shmq_topic_queues(d->bus, topic));
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
	/* The user's properties (and ORIGIN_MESSAGE_ID, __transactionId__);
	 * not those that routed it here. */
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
		if (!in_list(d->k->drop, props[np].name))
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
		return cli_err(err, "resend %s %s to topic \"%s\"", d->k->what,
		    name, topic);
	/* The marker: this record (and its transaction) is settled. */
	mark[0].name = SHMQ_PROP_RESENT_ID;
	mark[0].value = v->msg_id;
	mark[1].name = SHMQ_PROP_TXN_ID;
	mark[1].value = name;
	shmq_msg_init(&m);
	m.topic = d->topic;
	m.tags = SHMQ_DLQ_RESENT_TAG;
	m.props = mark;
	m.nprops = d->k->by_txn ? 2 : 1;
	if ((err = shmq_producer_send(r->p, &m, NULL)) < 0)
		return cli_err(err, "mark %s resent", name);
	fprintf(stderr, "shmq-admin: resent %s %s to topic \"%s\"\n",
	    d->k->what, name, topic);
	r->n++;
	return idset_add(&d->done, name, strlen(name));
}

/*
 * Resend record ID of D (NULL: every one not resent yet) after
 * rtopic_open returned RC; NONE says why there is nothing to resend when
 * the topic does not exist.  Closes D.
 */
static int
resend(struct rtopic *d, int rc, const char *id, const char *none)
{
	struct resend r;
	int err;

	memset(&r, 0, sizeof(r));
	r.id = id;
	if (rc < 0 && id != NULL) {
		cli_warnx("%s", none);
		rc = CLI_EXIT_FAIL;
	} else if (rc < 0) {
		fprintf(stderr, "shmq-admin: resent 0 %ss\n", d->k->unit);
		rc = 0;
	} else if (rc == 0 && id != NULL && idset_has(&d->done, id)) {
		cli_warnx("%s %s: already resent", d->k->what, id);
		rc = CLI_EXIT_FAIL;
	} else if (rc == 0) {
		if ((err = shmq_producer_open(&r.p, d->bus, "shmq-admin")) < 0)
			rc = cli_err(err, "producer");
		else {
			rc = rtopic_scan(d, resend_one, &r);
			shmq_producer_close(r.p);
		}
		if (rc == 0 && id != NULL && r.n == 0) {
			cli_warnx("%s %s: not in topic \"%s\"", d->k->what, id,
			    d->topic);
			rc = CLI_EXIT_FAIL;
		}
		if (rc == 0 && id == NULL)
			fprintf(stderr, "shmq-admin: resent %d %s%s\n", r.n,
			    d->k->unit, r.n == 1 ? "" : "s");
	}
	rtopic_close(d);
	return rc;
}

static int
dlq_resend(struct shmq_bus *bus, const char *group, const char *id)
{
	struct rtopic d;
	char none[256];

	snprintf(none, sizeof(none), "group \"%s\": no dead letters (no "
	    "topic \"%s%s\")", group, DLQ_PREFIX, group);
	return resend(&d, dlq_open(&d, bus, group), id, none);
}

/* ------------------------------------------------------------------ */
/* txn                                                                 */
/* ------------------------------------------------------------------ */

/*
 * Pending transactions are the half messages that no decision names.
 * %HALFOP% holds one record per decision (commit, rollback, given up)
 * with the transaction's id in __transactionId__; %HALF% holds the first
 * half message of each transaction (its id is the transaction's) and
 * shmqd's copies, one per check-back (with the transaction's id and the
 * checks so far).  Decisions are read first, so a transaction decided
 * between the two reads may show as pending, never one undecided as
 * decided.
 */
struct half {
	char		txn_id[SHMQ_MSGID_LEN + 1];
	char		last_id[SHMQ_MSGID_LEN + 1];	/* newest record */
	uint64_t	first_ms;			/* oldest record */
	uint64_t	queue_off;
};

struct halves {
	struct idset	 decided;
	struct half	*v;
	size_t		 n;
	size_t		 cap;
};

static int
add_decision(void *arg, const struct shmq_msgview *v)
{
	struct halves *h = arg;
	const char *id;
	size_t len;

	if ((id = shmq_msgview_prop(v, SHMQ_PROP_TXN_ID, &len)) == NULL)
		return 0;
	return idset_add(&h->decided, id, len);
}

static int
add_half(void *arg, const struct shmq_msgview *v)
{
	struct halves *h = arg;
	struct half *x;
	const char *id;
	size_t len;

	/* A copy names its transaction; a first half is it. */
	if ((id = shmq_msgview_prop(v, SHMQ_PROP_TXN_ID, &len)) == NULL) {
		id = v->msg_id;
		len = strlen(id);
	}
	if (len != SHMQ_MSGID_LEN)
		return 0;
	if (grow(&h->v, h->n, &h->cap, sizeof(*h->v)) != 0)
		return CLI_EXIT_FAIL;
	x = &h->v[h->n];
	memcpy(x->txn_id, id, len);
	x->txn_id[len] = '\0';
	if (idset_has(&h->decided, x->txn_id))
		return 0;
	strlcpy(x->last_id, v->msg_id, sizeof(x->last_id));
	x->first_ms = v->store_ns / 1000000;
	x->queue_off = v->queue_off;
	h->n++;
	return 0;
}

static int
half_cmp(const void *a, const void *b)
{
	const struct half *x = a, *y = b;
	int c = strcmp(x->txn_id, y->txn_id);

	if (c != 0)
		return c;
	return x->queue_off < y->queue_off ? -1 : x->queue_off > y->queue_off;
}

static int
half_time_cmp(const void *a, const void *b)
{
	const struct half *x = a, *y = b;

	if (x->first_ms != y->first_ms)
		return x->first_ms < y->first_ms ? -1 : 1;
	return strcmp(x->txn_id, y->txn_id);
}

/* Read topic TOPIC with CB if it exists: 0 or CLI_EXIT_FAIL printed. */
static int
read_all(struct shmq_bus *bus, const char *topic,
    int (*cb)(void *, const struct shmq_msgview *), void *arg)
{
	int rc = shmq_query_time(bus, topic, 0, UINT64_MAX, cb, arg);

	if (rc == SHMQ_ENOTOPIC)
		return 0;
	if (rc < 0)
		return cli_err(rc, "topic \"%s\"", topic);
	return rc;
}

/* The undecided transactions, one each (its newest record, since its
 * oldest), oldest first. */
static int
halves_read(struct shmq_bus *bus, struct halves *h)
{
	size_t i, j, n;
	uint64_t first;
	int rc;

	if ((rc = read_all(bus, SHMQ_HALF_OP_TOPIC, add_decision, h)) != 0)
		return rc;
	idset_sort(&h->decided);
	if ((rc = read_all(bus, SHMQ_HALF_TOPIC, add_half, h)) != 0)
		return rc;
	if (h->n > 1)
		qsort(h->v, h->n, sizeof(*h->v), half_cmp);
	for (i = n = 0; i < h->n; i = j) {
		first = h->v[i].first_ms;
		for (j = i + 1; j < h->n &&
		    strcmp(h->v[j].txn_id, h->v[i].txn_id) == 0; j++)
			if (h->v[j].first_ms < first)
				first = h->v[j].first_ms;
		h->v[n] = h->v[j - 1];
		h->v[n++].first_ms = first;
	}
	h->n = n;
	if (h->n > 1)
		qsort(h->v, h->n, sizeof(*h->v), half_time_cmp);
	return 0;
}

/* Decimal property NAME of V; 0 if missing or not a number. */
static unsigned long long
prop_num(const struct shmq_msgview *v, const char *name)
{
	const char *s;
	char buf[21];
	size_t len;

	if ((s = shmq_msgview_prop(v, name, &len)) == NULL || len == 0 ||
	    len >= sizeof(buf))
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return strspn(buf, "0123456789") == len ? strtoull(buf, NULL, 10) : 0;
}

static void
txn_header(void)
{
	printf("%-32s  %s  %s  %s  %s  %s\n", "TXN-ID", "TOPIC", "GROUP",
	    "CHECKS", "STORED", "BYTES");
}

/* Transaction TXN_ID as its record V says, stored at STORE_MS. */
static void
txn_row(struct list_out *o, const struct shmq_msgview *v, const char *txn_id,
    uint64_t store_ms)
{
	const char *t, *g;
	size_t tl = 0, gl = 0;
	char when[64];

	t = shmq_msgview_prop(v, TXN_REAL_TOPIC, &tl);
	g = shmq_msgview_prop(v, SHMQ_PROP_PGROUP, &gl);
	cli_format_time_ms(when, sizeof(when), store_ms);
	if (o->json) {
		printf("%s{\"txn_id\":\"%s\",\"id\":\"%s\",\"topic\":",
		    o->n > 0 ? "," : "", txn_id, v->msg_id);
		print_field(t, tl, 1);
		printf(",\"group\":");
		print_field(g, gl, 1);
		printf(",\"checks\":%llu,\"stored\":\"%s\",\"store_ms\":%llu,"
		    "\"tags\":", prop_num(v, SHMQ_PROP_TXN_CHECKS), when,
		    (unsigned long long)store_ms);
		print_field(v->tags, v->tags_len, 1);
		printf(",\"keys\":");
		print_field(v->keys, v->keys_len, 1);
		printf(",\"body_bytes\":%zu}", v->body_len);
	} else {
		printf("%s  ", txn_id);
		print_field(t, tl, 0);
		printf("  ");
		print_field(g, gl, 0);
		printf("  %llu  %s  %zu\n", prop_num(v, SHMQ_PROP_TXN_CHECKS),
		    when, v->body_len);
	}
	o->n++;
}

static int
given_up_one(struct rtopic *d, const struct shmq_msgview *v, void *arg)
{
	char name[SHMQ_MSGID_LEN + 1];

	if (is_marker(v) || !rec_name(d, v, name) ||
	    idset_has(&d->done, name))
		return 0;
	txn_row(arg, v, name, v->store_ns / 1000000);
	/* A transaction given up twice is listed once. */
	return idset_add(&d->done, name, strlen(name));
}

static int
txn_list(struct shmq_bus *bus, int json)
{
	struct list_out o = { json, 0 };
	struct shmq_msgview v;
	struct halves h;
	struct rtopic d;
	size_t i;
	int rc, err;

	memset(&h, 0, sizeof(h));
	memset(&d, 0, sizeof(d));
	d.k = &txn_kind;
	if ((rc = halves_read(bus, &h)) != 0)
		goto out;
	if (json)
		printf("{\"pending\":[");
	else {
		printf("PENDING (undecided half messages)\n");
		txn_header();
	}
	for (i = 0; i < h.n; i++) {
		/* Reclaimed since it was read: its transaction went too. */
		if ((err = shmq_query_id(bus, h.v[i].last_id, &v)) ==
		    SHMQ_ERECLAIMED)
			continue;
		if (err < 0) {
			rc = cli_err(err, "transaction %s", h.v[i].txn_id);
			continue;
		}
		txn_row(&o, &v, h.v[i].txn_id, h.v[i].first_ms);
	}
	if (json)
		printf("],\"given_up\":[");
	else
		printf("%s\nGIVEN UP (in %s, not resent)\n", o.n == 0 ?
		    "(none)\n" : "", SHMQ_TXN_DISCARD_TOPIC);
	o.n = 0;
	if (!json)
		txn_header();
	err = rtopic_open(&d, bus, SHMQ_TXN_DISCARD_TOPIC);
	if (err == 0)
		err = rtopic_scan(&d, given_up_one, &o);
	if (err > 0)
		rc = err;
	if (json)
		printf("]}\n");
	else if (o.n == 0)
		printf("(none)\n");
out:
	rtopic_close(&d);
	free(h.decided.id);
	free(h.v);
	return rc;
}

/* Decide pending transaction ID with STATE (SHMQ_TXN_COMMIT, _ROLLBACK). */
static int
txn_decide(struct shmq_bus *bus, const char *id, int state)
{
	struct shmq_producer *p;
	int err;

	if ((err = shmq_producer_open(&p, bus, "shmq-admin")) < 0)
		return cli_err(err, "producer");
	err = shmq_txn_end(p, id, state);
	shmq_producer_close(p);
	/* The library's detail names the id, quoted or not. */
	if (err < 0 && strstr(shmq_errmsg(), id) != NULL)
		return cli_err(err, "%s", id);
	if (err < 0)
		return cli_err(err, "transaction %s", id);
	if (err == 1) {
		cli_warnx("transaction %s: decided before, or given up (see "
		    "shmq-admin txn list; resend a given-up one with txn "
		    "resend)", id);
		return CLI_EXIT_FAIL;
	}
	fprintf(stderr, "shmq-admin: transaction %s %s\n", id,
	    state == SHMQ_TXN_COMMIT ? "committed" : "rolled back");
	return 0;
}

static int
txn_resend(struct shmq_bus *bus, const char *id)
{
	struct rtopic d;

	memset(&d, 0, sizeof(d));
	d.k = &txn_kind;
	return resend(&d, rtopic_open(&d, bus, SHMQ_TXN_DISCARD_TOPIC), id,
	    "no transaction was given up (no topic \"" SHMQ_TXN_DISCARD_TOPIC
	    "\")");
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
/* promote                                                             */
/* ------------------------------------------------------------------ */

/* Make mirror TOPIC the home here (shmq_topic_promote), and say what
 * happened and what it cost. */
static int
promote(struct shmq_bus *bus, const char *topic, int force, int json)
{
	struct shmq_promote_info pi;
	int err;

	err = shmq_topic_promote(bus, topic, force ? SHMQ_PROMOTE_FORCE : 0,
	    &pi);
	if (err < 0)
		return cli_err(err, "topic \"%s\"", topic);
	if (json) {
		printf("{\"topic\":");
		cli_json_cstr(stdout, topic);
		printf(",\"epoch\":%llu,\"home_epoch\":%llu,\"queues\":%u,"
		    "\"state_known\":%s,\"state_age_ms\":%llu,"
		    "\"behind_msgs\":%llu,\"forced\":%s}\n",
		    (unsigned long long)pi.epoch,
		    (unsigned long long)pi.home_epoch, pi.queues,
		    pi.state_known ? "true" : "false",
		    (unsigned long long)pi.state_age_ms,
		    (unsigned long long)pi.behind_msgs,
		    force ? "true" : "false");
	}
	fprintf(stderr, "shmq-admin: topic \"%s\" promoted: this host is its "
	    "home now, epoch %llu (its home had %llu); local producers write "
	    "its %u queues from the offset after the last one mirrored; "
	    "shmqd stops replicating it and registers it as home, and the "
	    "old home fences its copy when it hears of it\n", topic,
	    (unsigned long long)pi.epoch, (unsigned long long)pi.home_epoch,
	    pi.queues);
	if (!pi.state_known)
		fprintf(stderr, "shmq-admin: --force: no state was heard from "
		    "the home since this bus's control region was made: what "
		    "it had beyond this mirror is unknown, and not here\n");
	else if (pi.behind_msgs > 0)
		fprintf(stderr, "shmq-admin: --force: %llu messages the home "
		    "had at its last state (%llu s ago) are not here: they "
		    "are lost on this host, and their offsets will hold new "
		    "messages\n", (unsigned long long)pi.behind_msgs,
		    (unsigned long long)(pi.state_age_ms / 1000));
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
	int perm = -1, retention_set = 0, force = 0, upd, promo;

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
	promo = nwords > 0 && strcmp(words[0], "promote") == 0;
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
	if (force && !promo && (query || strcmp(words[0], "topic") != 0 ||
	    strcmp(words[1], "delete") != 0))
		return cli_usage_error(&cli, "--force is for topic delete and "
		    "promote");
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
	} else if (promo) {
		if (nwords != 2 || queues || topic || to || id || all)
			return cli_usage_error(&cli, "usage: promote TOPIC "
			    "[--force] [--json]");
		if (cli_check_name("topic", words[1]) != 0)
			return CLI_EXIT_FAIL;
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
	} else if (CMD("txn", "list")) {
		if (nwords != 2 || queues || topic || to || id || all)
			return cli_usage_error(&cli, "txn list takes --json "
			    "only");
	} else if (CMD("txn", "commit") || CMD("txn", "rollback")) {
		if (nwords != 3 || json || queues || topic || to || id || all)
			return cli_usage_error(&cli, "usage: txn %s TXN-ID",
			    words[1]);
	} else if (CMD("txn", "resend")) {
		if (nwords != (all ? 2 : 3) || json || queues || topic || to ||
		    id)
			return cli_usage_error(&cli, "usage: txn resend "
			    "(TXN-ID | --all)");
	} else
		return cli_usage_error(&cli, "unknown command \"%s %s\"",
		    words[0], words[1]);

	if (cli_bus_open(&cli, &bus, CMD("topic", "create")) != 0)
		return CLI_EXIT_FAIL;
	rc = CLI_EXIT_OK;
	if (promo)
		rc = promote(bus, words[1], force, json);
	else if (CMD("topic", "list"))
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
	else if (CMD("dlq", "resend"))
		rc = dlq_resend(bus, words[2], id);
	else if (CMD("txn", "list"))
		rc = txn_list(bus, json);
	else if (CMD("txn", "commit"))
		rc = txn_decide(bus, words[2], SHMQ_TXN_COMMIT);
	else if (CMD("txn", "rollback"))
		rc = txn_decide(bus, words[2], SHMQ_TXN_ROLLBACK);
	else
		rc = txn_resend(bus, all ? NULL : words[2]);
#undef CMD
	if (rc == 0 && cli_flush(stdout, "stdout") < 0)
		rc = CLI_EXIT_FAIL;
	shmq_bus_close(bus);
	return rc;
}
