/*
 * shmq-stat - show what a bus holds and who uses it: the store and control
 * region, transactions pending and given up, every topic (permissions) and
 * queue (offsets, messages, rates with --watch), every client (pid, role,
 * alive, counters), the daemon (shmqd: flushes, sync-flush group commits,
 * what its reaper reclaimed, delayed messages delivered) and every
 * consumer group (members, owners, committed offsets and lag, retries,
 * dead letters).
 *
 * It opens the bus without creating it (a typo in -b must not make a new
 * bus) and registers no client; while it runs it holds the bus open like
 * any other process.  With --json it prints one JSON document (with --watch,
 * one document per line and refresh).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "statfed.h"
#include "statoutbox.h"

enum {
	OPT_JSON = CLI_OPT_TOOL
};

static const struct option longopts[] = {
	CLI_LONGOPTS,
	{ "topic",	required_argument,	NULL,	't' },
	{ "json",	no_argument,		NULL,	OPT_JSON },
	{ "watch",	required_argument,	NULL,	'w' },
	{ NULL,		0,			NULL,	0 }
};

/* One sample of the bus: what the three introspection calls returned. */
struct sample {
	struct shmq_bus_info	 bus;
	struct shmq_queue_info	*queues;
	size_t			 nqueues;
	size_t			 capqueues;
	struct shmq_client_info	*clients;
	size_t			 nclients;
	size_t			 capclients;
	char			*groups_text;	/* GROUPS section, printed */
	size_t			 groups_text_len;
	char			*groups_json;	/* its array elements */
	size_t			 groups_json_len;
	char			*fed_text;	/* FEDERATION, LINKS, ROUTES */
	char			*fed_json;	/* its value (statfed.c) */
	char			*outbox_text;	/* statoutbox.c: "" if none */
	char			*outbox_json;	/* its value, "null" if none */
	uint64_t		 mono_ns;	/* when it was taken */
	unsigned		*perms;		/* per queue: its topic's
						   SHMQ_PERM_*, PERM_GONE */
	int			 txn_topics;	/* %HALF% or %TRANS_CHECK_MAX%
						   exists */
	uint64_t		 txn_given_up;	/* in %TRANS_CHECK_MAX% */
	uint64_t		 txn_resent;	/* its resend markers */
};

/* A topic deleted between its queues' listing and its settings' read. */
#define PERM_GONE	(~0u)

/* The group arrays are valid during the callback only: the sections are
 * printed into these streams there. */
struct group_out {
	FILE	*text;
	FILE	*json;
	int	 n;
};

static int
add_group(void *arg, const struct shmq_group_info *g)
{
	struct group_out *o = arg;
	char topic[160];
	size_t i;

	fprintf(o->text, "\ngroup %s: %s (%s), generation %llu, %zu "
	    "member%s, resets %llu\n", g->name, g->model, g->strategy,
	    (unsigned long long)g->generation, g->nmembers,
	    g->nmembers == 1 ? "" : "s", (unsigned long long)g->resets);
	if (strcmp(g->model, "clustering") == 0)
		fprintf(o->text, "  retry: %llu pending%s; dead letters: %llu "
		    "(%llu resent)%s\n", (unsigned long long)g->retry_pending,
		    g->has_retry ? "" : " (no retry topic)",
		    (unsigned long long)g->dlq_messages,
		    (unsigned long long)g->dlq_resent,
		    g->has_dlq ? "" : " (no dead-letter topic)");
	if (g->nmembers > 0)
		fprintf(o->text, "  %6s %8s %-5s %8s %6s  %s\n", "CLIENT",
		    "PID", "ALIVE", "BEAT_MS", "QUEUES", "INSTANCE");
	for (i = 0; i < g->nmembers; i++) {
		const struct shmq_group_member_info *m = &g->members[i];

		fprintf(o->text, "  %6u %8d %-5s %8llu %6u  %s\n",
		    m->client_id, m->pid, m->alive ? "yes" : "no",
		    (unsigned long long)m->heartbeat_age_ms, m->queues,
		    m->instance[0] != '\0' ? m->instance : "-");
	}
	if (g->nqueues > 0)
		fprintf(o->text, "  %-20s %5s %-12s %8s %12s %12s %12s\n",
		    "TOPIC", "QUEUE", "INSTANCE", "OWNER", "COMMITTED", "MAX",
		    "LAG");
	for (i = 0; i < g->nqueues; i++) {
		const struct shmq_group_queue_info *q = &g->queues[i];

		fprintf(o->text, "  %-20s %5d %-12s %8d %12llu %12llu "
		    "%12llu\n", q->topic, q->queue,
		    q->instance[0] != '\0' ? q->instance : "-", q->owner_pid,
		    (unsigned long long)q->committed,
		    (unsigned long long)q->max_off,
		    (unsigned long long)q->lag);
	}

	fprintf(o->json, "%s{\"name\":", o->n++ > 0 ? "," : "");
	cli_json_cstr(o->json, g->name);
	fprintf(o->json, ",\"model\":");
	cli_json_cstr(o->json, g->model);
	fprintf(o->json, ",\"strategy\":");
	cli_json_cstr(o->json, g->strategy);
	fprintf(o->json, ",\"generation\":%llu,\"resets\":%llu,",
	    (unsigned long long)g->generation,
	    (unsigned long long)g->resets);
	/* Topics by name (null: not made yet), counts as in the text. */
	fprintf(o->json, "\"retry\":{\"topic\":");
	if (g->has_retry) {
		snprintf(topic, sizeof(topic), "%%RETRY%%%s", g->name);
		cli_json_cstr(o->json, topic);
	} else
		fprintf(o->json, "null");
	fprintf(o->json, ",\"pending\":%llu},\"dlq\":{\"topic\":",
	    (unsigned long long)g->retry_pending);
	if (g->has_dlq) {
		snprintf(topic, sizeof(topic), "%%DLQ%%%s", g->name);
		cli_json_cstr(o->json, topic);
	} else
		fprintf(o->json, "null");
	fprintf(o->json, ",\"messages\":%llu,\"resent\":%llu,"
	    "\"not_resent\":%llu},\"members\":[",
	    (unsigned long long)g->dlq_messages,
	    (unsigned long long)g->dlq_resent,
	    (unsigned long long)(g->dlq_messages - g->dlq_resent));
	for (i = 0; i < g->nmembers; i++) {
		const struct shmq_group_member_info *m = &g->members[i];

		fprintf(o->json, "%s{\"client\":%u,\"pid\":%d,\"alive\":%s,"
		    "\"heartbeat_age_ms\":%llu,\"queues\":%u,\"instance\":",
		    i > 0 ? "," : "", m->client_id, m->pid,
		    m->alive ? "true" : "false",
		    (unsigned long long)m->heartbeat_age_ms, m->queues);
		cli_json_cstr(o->json, m->instance);
		fprintf(o->json, "}");
	}
	fprintf(o->json, "],\"queues\":[");
	for (i = 0; i < g->nqueues; i++) {
		const struct shmq_group_queue_info *q = &g->queues[i];

		fprintf(o->json, "%s{\"topic\":", i > 0 ? "," : "");
		cli_json_cstr(o->json, q->topic);
		fprintf(o->json, ",\"queue\":%d,\"instance\":", q->queue);
		cli_json_cstr(o->json, q->instance);
		fprintf(o->json, ",\"owner_pid\":%d,\"committed\":%llu,"
		    "\"min_off\":%llu,\"max_off\":%llu,\"lag\":%llu}",
		    q->owner_pid, (unsigned long long)q->committed,
		    (unsigned long long)q->min_off,
		    (unsigned long long)q->max_off,
		    (unsigned long long)q->lag);
	}
	fprintf(o->json, "]}");
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: shmq-stat [-t TOPIC] [--json] [-w SECONDS] [-b BUS] [--home DIR]\n"
"Show a bus: its store and control region, its transactions (pending, given\n"
"up), its topics (permissions) and queues (offsets, message counts), its\n"
"clients (pid, role, alive, messages sent and received), its daemon (shmqd:\n"
"flushes, sync-flush group commits, what it reaped, delayed messages\n"
"delivered) and its consumer groups (members, queue owners, committed\n"
"offsets and lag, retries pending, dead letters).\n"
"The bus is never created.\n"
"\n"
"  -t, --topic TOPIC   show only TOPIC's queues\n"
"      --json          print one JSON document\n"
"  -w, --watch SECONDS refresh every SECONDS (with rates); with --json,\n"
"                      one document per line and refresh\n"
CLI_USAGE_COMMON
"\n"
"Exit status: 0 done, 1 failed (no such bus, no such topic), 2 bad usage.\n");
}

static int
add_queue(void *arg, const struct shmq_queue_info *qi)
{
	struct sample *s = arg;
	struct shmq_queue_info *nq;
	size_t ncap;

	if (s->nqueues == s->capqueues) {
		ncap = s->capqueues == 0 ? 64 : s->capqueues * 2;
		nq = reallocarray(s->queues, ncap, sizeof(*nq));
		if (nq == NULL)
			return -ENOMEM;
		s->queues = nq;
		s->capqueues = ncap;
	}
	s->queues[s->nqueues++] = *qi;
	return 0;
}

/* Each queue's topic permissions (read once per topic). */
static int
add_perms(struct shmq_bus *bus, struct sample *s)
{
	struct shmq_topic_conf tc;
	size_t i;

	free(s->perms);
	if ((s->perms = calloc(s->nqueues + 1, sizeof(*s->perms))) == NULL)
		return -ENOMEM;
	for (i = 0; i < s->nqueues; i++) {
		if (i > 0 && strcmp(s->queues[i].topic,
		    s->queues[i - 1].topic) == 0)
			s->perms[i] = s->perms[i - 1];
		else
			s->perms[i] = shmq_topic_conf_get(bus,
			    s->queues[i].topic, &tc) < 0 ? PERM_GONE : tc.perm;
	}
	return 0;
}

static const char *
perm_str(unsigned perm)
{
	return perm == PERM_GONE ? "-" : cli_perm_name(perm);
}

/* Given-up transactions and resend markers (shmq-admin txn resend). */
static int
count_given_up(void *arg, const struct shmq_msgview *v)
{
	struct sample *s = arg;

	if (v->tags_len == strlen(SHMQ_DLQ_RESENT_TAG) &&
	    memcmp(v->tags, SHMQ_DLQ_RESENT_TAG, v->tags_len) == 0 &&
	    shmq_msgview_prop(v, SHMQ_PROP_RESENT_ID, NULL) != NULL)
		s->txn_resent++;
	else
		s->txn_given_up++;
	return 0;
}

/*
 * What the transaction topics hold: read from the store (no client), as
 * the DLQ counts are; %TRANS_CHECK_MAX% holds only what shmqd gave up, so
 * it stays small.  A damaged record is left out of the counts rather than
 * failing the whole view.  0 or a negative code.
 */
static int
add_txn(struct shmq_bus *bus, struct sample *s)
{
	int rc;

	s->txn_given_up = s->txn_resent = 0;
	s->txn_topics = shmq_topic_queues(bus, SHMQ_HALF_TOPIC) > 0;
	rc = shmq_query_time(bus, SHMQ_TXN_DISCARD_TOPIC, 0, UINT64_MAX,
	    count_given_up, s);
	if (rc == SHMQ_ENOTOPIC)
		return 0;
	s->txn_topics = 1;
	return rc == SHMQ_ECORRUPT ? 0 : rc;
}

static int
add_client(void *arg, const struct shmq_client_info *ci)
{
	struct sample *s = arg;
	struct shmq_client_info *nc;
	size_t ncap;

	if (s->nclients == s->capclients) {
		ncap = s->capclients == 0 ? 32 : s->capclients * 2;
		nc = reallocarray(s->clients, ncap, sizeof(*nc));
		if (nc == NULL)
			return -ENOMEM;
		s->clients = nc;
		s->capclients = ncap;
	}
	s->clients[s->nclients++] = *ci;
	return 0;
}

/* Take a sample; 0 or CLI_EXIT_FAIL with the error printed. */
static int
take_sample(struct shmq_bus *bus, const char *topic, struct sample *s)
{
	struct timespec ts;
	int rc;

	s->nqueues = 0;
	s->nclients = 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s->mono_ns = (uint64_t)ts.tv_sec * 1000000000ull +
	    (uint64_t)ts.tv_nsec;
	rc = shmq_bus_info(bus, &s->bus);
	if (rc < 0)
		return cli_err(rc, "bus \"%s\"", shmq_bus_name(bus));
	rc = shmq_queue_foreach(bus, topic, add_queue, s);
	if (rc == SHMQ_ENOTOPIC && topic != NULL) {
		cli_warnx("topic \"%s\": no such topic on bus \"%s\"", topic,
		    shmq_bus_name(bus));
		return CLI_EXIT_FAIL;
	}
	if (rc == -ENOMEM)
		return cli_syserr("queues");
	if (rc < 0)
		return cli_err(rc, "queues of bus \"%s\"", shmq_bus_name(bus));
	if (add_perms(bus, s) < 0)
		return cli_syserr("queues");
	if ((rc = add_txn(bus, s)) < 0)
		return cli_err(rc, "topic \"%s\"", SHMQ_TXN_DISCARD_TOPIC);
	rc = shmq_client_foreach(bus, add_client, s);
	if (rc == -ENOMEM)
		return cli_syserr("clients");
	if (rc < 0)
		return cli_err(rc, "clients of bus \"%s\"",
		    shmq_bus_name(bus));
	{
		struct group_out go = { NULL, NULL, 0 };

		free(s->groups_text);
		free(s->groups_json);
		s->groups_text = s->groups_json = NULL;
		go.text = open_memstream(&s->groups_text, &s->groups_text_len);
		go.json = open_memstream(&s->groups_json, &s->groups_json_len);
		if (go.text == NULL || go.json == NULL)
			return cli_syserr("groups");
		rc = shmq_group_foreach(bus, NULL, add_group, &go);
		fclose(go.text);
		fclose(go.json);
		if (rc < 0)
			return cli_err(rc, "groups of bus \"%s\"",
			    shmq_bus_name(bus));
	}
	if ((rc = statoutbox_take(bus, &s->outbox_text, &s->outbox_json)) != 0)
		return rc;
	return statfed_take(bus, topic, &s->fed_text, &s->fed_json);
}

/*
 * Messages per second on queue QI since the previous sample, or -1 when
 * there is no previous sample of it.
 */
static double
queue_rate(const struct sample *prev, const struct sample *cur,
    const struct shmq_queue_info *qi)
{
	size_t i;
	double dt;

	if (prev == NULL || cur->mono_ns <= prev->mono_ns)
		return -1;
	dt = (double)(cur->mono_ns - prev->mono_ns) / 1e9;
	for (i = 0; i < prev->nqueues; i++) {
		const struct shmq_queue_info *p = &prev->queues[i];

		if (p->queue == qi->queue && strcmp(p->topic, qi->topic) == 0)
			return qi->max_off >= p->max_off ?
			    (double)(qi->max_off - p->max_off) / dt : 0;
	}
	return -1;
}

/* A duration for people: "850 ms", "12 s", "5m12s", "3h04m", "2d03h". */
static void
fmt_dur(char *buf, size_t len, uint64_t ns)
{
	uint64_t s = ns / 1000000000ull;

	if (ns < 10000000ull)
		snprintf(buf, len, "%.1f ms", (double)ns / 1e6);
	else if (ns < 1000000000ull)
		snprintf(buf, len, "%llu ms", (unsigned long long)(ns / 1000000));
	else if (s < 60)
		snprintf(buf, len, "%.1f s", (double)ns / 1e9);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
		    (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, len, "%lluh%02llum",
		    (unsigned long long)(s / 3600),
		    (unsigned long long)(s / 60 % 60));
	else
		snprintf(buf, len, "%llud%02lluh",
		    (unsigned long long)(s / 86400),
		    (unsigned long long)(s / 3600 % 24));
}

/* The reclaimer's totals, and a refusal in force. */
static void
print_retention(const struct shmq_bus_info *b)
{
	char h1[16], h2[16];

	cli_humanize(h1, sizeof(h1), b->reclaimed_bytes);
	printf("  reclaimed:     %llu segment%s (%s), %llu entr%s (%llu "
	    "unconsumed by a group)",
	    (unsigned long long)b->reclaimed_segments,
	    b->reclaimed_segments == 1 ? "" : "s", h1,
	    (unsigned long long)b->reclaimed_entries,
	    b->reclaimed_entries == 1 ? "y" : "ies",
	    (unsigned long long)b->reclaimed_unconsumed);
	if (b->retain_last_ns != 0) {
		cli_humanize(h1, sizeof(h1), b->retain_store_bytes);
		cli_humanize(h2, sizeof(h2), b->retain_disk_free);
		printf("; store %s, %s free", h1, h2);
	}
	putchar('\n');
	if (b->writes_refused || b->refused_sends > 0)
		printf("  WRITES:        %s; %llu send%s refused\n",
		    b->writes_refused ? "REFUSED (store above its disk "
		    "ceiling)" : "accepted",
		    (unsigned long long)b->refused_sends,
		    b->refused_sends == 1 ? "" : "s");
}

/* The daemon block: shmqd's status, and the sync-flush counters (kept in
 * the control region whether or not a daemon runs). */
static void
print_daemon(const struct shmq_bus_info *b)
{
	uint64_t now = shmq_now_ns();
	char d1[24], d2[24], h1[16], h2[16];

	if (b->daemon_pid == 0)
		printf("daemon:          none (plain send and receive work "
		    "without it; see shmqd(8))\n");
	else {
		fmt_dur(d1, sizeof(d1), now > b->daemon_started_ns ?
		    now - b->daemon_started_ns : 0);
		printf("daemon:          shmqd pid %d, up %s", b->daemon_pid,
		    d1);
		if (!b->daemon_serving) {
			fmt_dur(d2, sizeof(d2), b->daemon_beat_age_ns);
			printf(", not serving sync flush (no beat for %s)", d2);
		}
		putchar('\n');
		if (b->daemon_flush_ms == 0)
			printf("  flush:         off");
		else
			printf("  flush:         every %u ms",
			    b->daemon_flush_ms);
		if (b->daemon_flush_last_ns != 0) {
			fmt_dur(d1, sizeof(d1), now > b->daemon_flush_last_ns ?
			    now - b->daemon_flush_last_ns : 0);
			fmt_dur(d2, sizeof(d2), b->daemon_flush_last_dur_ns);
			cli_humanize(h1, sizeof(h1),
			    b->daemon_flush_last_bytes);
			cli_humanize(h2, sizeof(h2), b->daemon_flush_bytes);
			printf(", last %s ago (%s in %s); %llu checkpoint%s "
			    "(%s)", d1, h1, d2,
			    (unsigned long long)b->daemon_flushes,
			    b->daemon_flushes == 1 ? "" : "s", h2);
		} else
			printf(", no checkpoint yet");
		putchar('\n');
		printf("  reaped:        %llu dead client%s, %llu hole%s, "
		    "%llu group member%s (%llu passes, ",
		    (unsigned long long)b->daemon_reaped_clients,
		    b->daemon_reaped_clients == 1 ? "" : "s",
		    (unsigned long long)b->daemon_reaped_holes,
		    b->daemon_reaped_holes == 1 ? "" : "s",
		    (unsigned long long)b->daemon_reaped_members,
		    b->daemon_reaped_members == 1 ? "" : "s",
		    (unsigned long long)b->daemon_reap_passes);
		if (b->daemon_reap_ms == 0)
			printf("reaper off)\n");
		else
			printf("every %u ms)\n", b->daemon_reap_ms);
		printf("  delayed:       %llu delivered",
		    (unsigned long long)b->daemon_delay_delivered);
		if (b->daemon_delay_errors > 0)
			printf(", %llu scheduler restart%s after errors",
			    (unsigned long long)b->daemon_delay_errors,
			    b->daemon_delay_errors == 1 ? "" : "s");
		putchar('\n');
		printf("  transactions:  %llu undecided, %llu check-back%s "
		    "sent, %llu decided, %llu given up\n",
		    (unsigned long long)b->daemon_txn_pending,
		    (unsigned long long)b->daemon_txn_checks,
		    b->daemon_txn_checks == 1 ? "" : "s",
		    (unsigned long long)b->daemon_txn_resolved,
		    (unsigned long long)b->daemon_txn_discarded);
	}
	printf("  sync:          %llu group commit%s for %llu send%s",
	    (unsigned long long)b->sync_rounds, b->sync_rounds == 1 ? "" : "s",
	    (unsigned long long)b->sync_acks, b->sync_acks == 1 ? "" : "s");
	if (b->sync_rounds > 0)
		printf(" (%.1f per sync)", (double)b->sync_acks /
		    (double)b->sync_rounds);
	printf(", %llu self-synced, %llu timeout%s; on disk below %llu\n",
	    (unsigned long long)b->sync_self,
	    (unsigned long long)b->sync_timeouts,
	    b->sync_timeouts == 1 ? "" : "s",
	    (unsigned long long)b->sync_flushed_off);
	print_retention(b);
}

static void
print_daemon_json(const struct shmq_bus_info *b)
{
	printf(",\"daemon\":{\"pid\":%d,\"running\":%s", b->daemon_pid,
	    b->daemon_pid != 0 ? "true" : "false");
	if (b->daemon_pid != 0)
		printf(",\"serving\":%s,\"beat_age_ms\":%llu,"
		    "\"started_ms\":%llu,\"flush\":{\"interval_ms\":%u,"
		    "\"checkpoints\":%llu,\"bytes\":%llu,\"last_ms\":%llu,"
		    "\"last_dur_us\":%llu,\"last_bytes\":%llu},"
		    "\"reaper\":{\"interval_ms\":%u,\"passes\":%llu,"
		    "\"clients\":%llu,\"holes\":%llu,\"members\":%llu},"
		    "\"delayed\":{\"delivered\":%llu,\"errors\":%llu},"
		    "\"transactions\":{\"pending\":%llu,\"checks\":%llu,"
		    "\"resolved\":%llu,\"discarded\":%llu}",
		    b->daemon_serving ? "true" : "false",
		    (unsigned long long)(b->daemon_beat_age_ns / 1000000),
		    (unsigned long long)(b->daemon_started_ns / 1000000),
		    b->daemon_flush_ms,
		    (unsigned long long)b->daemon_flushes,
		    (unsigned long long)b->daemon_flush_bytes,
		    (unsigned long long)(b->daemon_flush_last_ns / 1000000),
		    (unsigned long long)(b->daemon_flush_last_dur_ns / 1000),
		    (unsigned long long)b->daemon_flush_last_bytes,
		    b->daemon_reap_ms,
		    (unsigned long long)b->daemon_reap_passes,
		    (unsigned long long)b->daemon_reaped_clients,
		    (unsigned long long)b->daemon_reaped_holes,
		    (unsigned long long)b->daemon_reaped_members,
		    (unsigned long long)b->daemon_delay_delivered,
		    (unsigned long long)b->daemon_delay_errors,
		    (unsigned long long)b->daemon_txn_pending,
		    (unsigned long long)b->daemon_txn_checks,
		    (unsigned long long)b->daemon_txn_resolved,
		    (unsigned long long)b->daemon_txn_discarded);
	printf(",\"sync\":{\"group_commits\":%llu,\"acks\":%llu,"
	    "\"self_synced\":%llu,\"timeouts\":%llu,\"flushed_off\":%llu}",
	    (unsigned long long)b->sync_rounds,
	    (unsigned long long)b->sync_acks,
	    (unsigned long long)b->sync_self,
	    (unsigned long long)b->sync_timeouts,
	    (unsigned long long)b->sync_flushed_off);
	printf(",\"retention\":{\"segments\":%llu,\"bytes\":%llu,"
	    "\"entries\":%llu,\"unconsumed\":%llu,\"refused_sends\":%llu,"
	    "\"writes_refused\":%s,\"last_ms\":%llu,\"store_bytes\":%llu,"
	    "\"disk_free\":%llu}}",
	    (unsigned long long)b->reclaimed_segments,
	    (unsigned long long)b->reclaimed_bytes,
	    (unsigned long long)b->reclaimed_entries,
	    (unsigned long long)b->reclaimed_unconsumed,
	    (unsigned long long)b->refused_sends,
	    b->writes_refused ? "true" : "false",
	    (unsigned long long)(b->retain_last_ns / 1000000),
	    (unsigned long long)b->retain_store_bytes,
	    (unsigned long long)b->retain_disk_free);
}

static void
print_text(const struct sample *s, const struct sample *prev)
{
	const struct shmq_bus_info *b = &s->bus;
	char h1[16], h2[16], h3[16], h4[16], t[40], pcell[16];
	const char *last_topic = "";
	size_t i;
	double rate;

	cli_humanize(h1, sizeof(h1), b->segment_bytes);
	cli_humanize(h2, sizeof(h2), b->max_msg_bytes);
	printf("bus:             %s\n", b->name);
	printf("path:            %s\n", b->path);
	printf("store id:        %016llX\n", (unsigned long long)b->store_id);
	printf("segment size:    %s (%llu bytes)\n", h1,
	    (unsigned long long)b->segment_bytes);
	printf("index files:     %u entries at most (a queue's first "
	    "file %u, doubling)\n", b->cq_entries,
	    b->cq_entries < 1024 ? b->cq_entries : 1024);
	printf("max message:     %s (%u bytes)\n", h2, b->max_msg_bytes);
	printf("default queues:  %u (auto-create %s)\n", b->default_queues,
	    b->auto_create ? "on" : "off");
	printf("stall:           %u ms\n", b->stall_ms);
	cli_humanize(h1, sizeof(h1), b->log_tail_off >= b->log_min_off ?
	    b->log_tail_off - b->log_min_off : 0);
	printf("commitlog:       min %llu, tail %llu (%s), %llu segment%s\n",
	    (unsigned long long)b->log_min_off,
	    (unsigned long long)b->log_tail_off, h1,
	    (unsigned long long)b->segments, b->segments == 1 ? "" : "s");
	cli_humanize(h3, sizeof(h3), b->store_bytes);
	printf("store:           %s on disk (%llu bytes)\n", h3,
	    (unsigned long long)b->store_bytes);
	cli_humanize(h4, sizeof(h4), b->ctl_bytes);
	printf("control region:  %s (%s)\n", h4, b->shm_name);
	printf("topics:          %u\n", b->topics);
	printf("live clients:    %u\n", b->clients_live);
	printf("holes:           %llu\n", (unsigned long long)b->holes);
	printf("recoveries:      %llu\n", (unsigned long long)b->recoveries);
	if (s->txn_topics) {
		printf("transactions:    ");
		if (b->daemon_pid != 0)
			printf("%llu pending", (unsigned long long)
			    b->daemon_txn_pending);
		else
			printf("pending unknown (no shmqd)");
		printf(", %llu given up in %s (%llu resent)\n",
		    (unsigned long long)s->txn_given_up,
		    SHMQ_TXN_DISCARD_TOPIC,
		    (unsigned long long)s->txn_resent);
	}
	fputs(s->outbox_text != NULL ? s->outbox_text : "", stdout);
	print_daemon(b);

	/* The last column is padded only when the rate column follows. */
	if (prev != NULL)
		printf("\n%-24s %-4s %5s %12s %12s %12s %-24s %9s\n", "TOPIC",
		    "PERM", "QUEUE", "MIN", "MAX", "MESSAGES", "LAST STORED",
		    "MSG/S");
	else
		printf("\n%-24s %-4s %5s %12s %12s %12s %s\n", "TOPIC",
		    "PERM", "QUEUE", "MIN", "MAX", "MESSAGES", "LAST STORED");
	for (i = 0; i < s->nqueues; i++) {
		const struct shmq_queue_info *q = &s->queues[i];

		if (q->last_store_ns != 0)
			cli_format_time_ms(t, sizeof(t),
			    q->last_store_ns / 1000000);
		else
			strlcpy(t, "-", sizeof(t));
		/* A fenced copy (promote.h): its permission, then F. */
		snprintf(pcell, sizeof(pcell), "%s%s", perm_str(s->perms[i]),
		    q->fenced ? "F" : "");
		printf("%-24s %-4s %5d %12llu %12llu %12llu %-*s",
		    strcmp(q->topic, last_topic) == 0 ? "" : q->topic,
		    strcmp(q->topic, last_topic) == 0 ? "" : pcell, q->queue,
		    (unsigned long long)q->min_off,
		    (unsigned long long)q->max_off,
		    (unsigned long long)q->messages, prev != NULL ? 24 : 0, t);
		if (prev != NULL) {
			rate = queue_rate(prev, s, q);
			if (rate < 0)
				printf(" %9s", "-");
			else
				printf(" %9.0f", rate);
		}
		putchar('\n');
		last_topic = q->topic;
	}
	if (s->nqueues == 0)
		printf("(no topics)\n");

	printf("\n%6s %8s %-5s %-9s %-20s %12s %12s\n", "CLIENT", "PID",
	    "ALIVE", "ROLE", "NAME", "SENT", "RECEIVED");
	for (i = 0; i < s->nclients; i++) {
		const struct shmq_client_info *c = &s->clients[i];

		printf("%6u %8d %-5s %-9s %-20s %12llu %12llu\n", c->id,
		    c->pid, c->alive ? "yes" : "no", c->role,
		    c->name[0] != '\0' ? c->name : "-",
		    (unsigned long long)c->sent,
		    (unsigned long long)c->received);
	}
	if (s->nclients == 0)
		printf("(no clients)\n");
	printf("\nGROUPS\n%s", s->groups_text_len > 0 ? s->groups_text :
	    "(no consumer groups)\n");
	fputs(s->fed_text != NULL ? s->fed_text : "", stdout);
}

static void
print_json(const struct sample *s, const struct sample *prev)
{
	const struct shmq_bus_info *b = &s->bus;
	size_t i, j;
	uint64_t total;
	double rate;

	printf("{\"time_ms\":%llu,\"bus\":{\"name\":",
	    (unsigned long long)(shmq_now_ns() / 1000000));
	cli_json_cstr(stdout, b->name);
	printf(",\"path\":");
	cli_json_cstr(stdout, b->path);
	printf(",\"shm_name\":");
	cli_json_cstr(stdout, b->shm_name);
	/* A string: JSON readers lose precision on integers past 2^53. */
	printf(",\"store_id\":\"%016llX\"", (unsigned long long)b->store_id);
	printf(",\"segment_bytes\":%llu,\"cq_entries\":%u,"
	    "\"max_msg_bytes\":%u,\"default_queues\":%u,\"auto_create\":%s,"
	    "\"stall_ms\":%u,\"log_min_off\":%llu,\"log_tail_off\":%llu,"
	    "\"segments\":%llu,\"store_bytes\":%llu,\"ctl_bytes\":%llu,"
	    "\"topics\":%u,\"clients_live\":%u,\"holes\":%llu,"
	    "\"recoveries\":%llu}",
	    (unsigned long long)b->segment_bytes, b->cq_entries,
	    b->max_msg_bytes, b->default_queues,
	    b->auto_create ? "true" : "false", b->stall_ms,
	    (unsigned long long)b->log_min_off,
	    (unsigned long long)b->log_tail_off,
	    (unsigned long long)b->segments,
	    (unsigned long long)b->store_bytes,
	    (unsigned long long)b->ctl_bytes, b->topics, b->clients_live,
	    (unsigned long long)b->holes, (unsigned long long)b->recoveries);
	print_daemon_json(b);
	printf(",\"transactions\":{\"pending\":");
	if (b->daemon_pid != 0)
		printf("%llu", (unsigned long long)b->daemon_txn_pending);
	else
		printf("null");
	printf(",\"given_up\":%llu,\"resent\":%llu}",
	    (unsigned long long)s->txn_given_up,
	    (unsigned long long)s->txn_resent);
	printf(",\"outbox\":%s", s->outbox_json != NULL ? s->outbox_json :
	    "null");

	/* Queues come grouped by topic (creation order): one object each. */
	printf(",\"topics\":[");
	for (i = 0; i < s->nqueues; i = j) {
		total = 0;
		for (j = i; j < s->nqueues &&
		    strcmp(s->queues[j].topic, s->queues[i].topic) == 0; j++)
			total += s->queues[j].messages;
		if (i > 0)
			putchar(',');
		/* Federation first: name, counts, queues and perm keep the
		 * order they always had. */
		printf("{\"mirror\":%s,\"epoch\":%llu,\"fenced\":%s,"
		    "\"name\":", s->queues[i].mirror ? "true" : "false",
		    (unsigned long long)s->queues[i].epoch,
		    s->queues[i].fenced ? "true" : "false");
		cli_json_cstr(stdout, s->queues[i].topic);
		printf(",\"queue_count\":%d,\"messages\":%llu,\"queues\":[",
		    s->queues[i].queues, (unsigned long long)total);
		for (j = i; j < s->nqueues &&
		    strcmp(s->queues[j].topic, s->queues[i].topic) == 0;
		    j++) {
			const struct shmq_queue_info *q = &s->queues[j];

			printf("%s{\"queue\":%d,\"min_off\":%llu,"
			    "\"max_off\":%llu,\"messages\":%llu,"
			    "\"last_store_ms\":%llu",
			    j > i ? "," : "", q->queue,
			    (unsigned long long)q->min_off,
			    (unsigned long long)q->max_off,
			    (unsigned long long)q->messages,
			    (unsigned long long)(q->last_store_ns / 1000000));
			rate = queue_rate(prev, s, q);
			if (rate >= 0)
				printf(",\"rate\":%.1f", rate);
			putchar('}');
		}
		printf("],\"perm\":\"%s\"}", perm_str(s->perms[i]));
	}
	printf("],\"clients\":[");
	for (i = 0; i < s->nclients; i++) {
		const struct shmq_client_info *c = &s->clients[i];

		printf("%s{\"id\":%u,\"pid\":%d,\"alive\":%s,\"role\":",
		    i > 0 ? "," : "", c->id, c->pid,
		    c->alive ? "true" : "false");
		cli_json_cstr(stdout, c->role);
		printf(",\"name\":");
		cli_json_cstr(stdout, c->name);
		printf(",\"started_ms\":%llu,\"heartbeat_ms\":%llu,"
		    "\"sent\":%llu,\"received\":%llu}",
		    (unsigned long long)(c->started_ns / 1000000),
		    (unsigned long long)(c->heartbeat_ns / 1000000),
		    (unsigned long long)c->sent,
		    (unsigned long long)c->received);
	}
	printf("],\"groups\":[%s],\"federation\":%s}\n",
	    s->groups_json != NULL ? s->groups_json : "",
	    s->fed_json != NULL ? s->fed_json : "null");
}

static void
sample_free(struct sample *s)
{
	free(s->queues);
	free(s->clients);
	free(s->groups_text);
	free(s->groups_json);
	free(s->fed_text);
	free(s->fed_json);
	free(s->outbox_text);
	free(s->outbox_json);
	free(s->perms);
	memset(s, 0, sizeof(*s));
}

int
main(int argc, char **argv)
{
	struct cli cli;
	struct shmq_bus *bus = NULL;
	struct sample samples[2], *cur, *prev = NULL, *tmp;
	struct timespec ts;
	const char *topic = NULL;
	long long watch = 0;
	int ch, rc, json = 0, clear;

	cli_init(&cli, "shmq-stat", usage);

	while ((ch = cli_getopt(&cli, argc, argv, CLI_SHORTOPTS "t:w:",
	    longopts)) != -1) {
		switch (ch) {
		case 't':
			topic = optarg;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case 'w':
			if (cli_parse_ll("--watch", optarg, 1, 86400,
			    &watch) < 0)
				return CLI_EXIT_USAGE;
			break;
		default:
			return cli_usage_error(&cli, "unexpected option");
		}
	}
	if (topic != NULL && cli_check_name("topic", topic) != 0)
		return CLI_EXIT_FAIL;

	if (cli_bus_open(&cli, &bus, 0) != 0)
		return CLI_EXIT_FAIL;

	cli_catch_signals();

	memset(samples, 0, sizeof(samples));
	cur = &samples[0];
	clear = watch > 0 && !json && isatty(STDOUT_FILENO);
	for (;;) {
		rc = take_sample(bus, topic, cur);
		if (rc != 0)
			break;
		if (clear)
			fputs("\033[H\033[2J", stdout);
		if (json)
			print_json(cur, prev);
		else
			print_text(cur, prev);
		if (cli_flush(stdout, "stdout") < 0) {
			rc = errno == EPIPE && watch > 0 ? CLI_EXIT_OK :
			    CLI_EXIT_FAIL;
			break;
		}
		if (watch == 0)
			break;
		if (!json && !clear)
			putchar('\n');
		/* nanosleep returns early on SIGINT or SIGTERM. */
		ts.tv_sec = (time_t)watch;
		ts.tv_nsec = 0;
		while (!cli_interrupted() && nanosleep(&ts, &ts) < 0 &&
		    errno == EINTR)
			;
		if (cli_interrupted())
			break;
		tmp = prev == NULL ? &samples[1] : prev;
		prev = cur;
		cur = tmp;
	}
	shmq_bus_close(bus);
	sample_free(&samples[0]);
	sample_free(&samples[1]);
	return rc;
}
