/*
 * statoutbox.c - shmq-stat's outbox line (see statoutbox.h).
 *
 * Per outbox queue, the forwarder commits an offset once the home has
 * answered for every record before it (stored, or refused: then the
 * record is in SHMQ_FORWARD_DLQ first), so:
 *
 *	pending   = tail - committed (tail - min where no offset yet)
 *	refused   = the dead letters stored in SHMQ_FORWARD_DLQ
 *	forwarded = committed - refused (answered, and not refused)
 *
 * "refused" counts what the DLQ still holds: retention can make it
 * smaller (and "forwarded" larger) than what was refused.  Per target
 * host the links' BEHIND column says the same backlog (statfed.c).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmq/shmq.h>

#include "cli.h"
#include "statoutbox.h"

#define OB_QUEUES_MAX	64	/* the outbox has 8; room for a grown one */

struct outbox {
	int		 nq;
	uint64_t	 min[OB_QUEUES_MAX];
	uint64_t	 tail[OB_QUEUES_MAX];
	uint64_t	 committed[OB_QUEUES_MAX];
	int		 has_off[OB_QUEUES_MAX];
	int		 has_group;
	uint64_t	 refused;
	uint64_t	 resent;
};

static int
queue_cb(void *arg, const struct shmq_queue_info *qi)
{
	struct outbox *o = arg;

	if (qi->queue < 0 || qi->queue >= OB_QUEUES_MAX)
		return 0;
	o->min[qi->queue] = qi->min_off;
	o->tail[qi->queue] = qi->max_off;
	if (qi->queue + 1 > o->nq)
		o->nq = qi->queue + 1;
	return 0;
}

static int
group_cb(void *arg, const struct shmq_group_info *gi)
{
	struct outbox *o = arg;
	size_t i;
	int q;

	o->has_group = 1;
	for (i = 0; i < gi->nqueues; i++) {
		q = gi->queues[i].queue;
		if (strcmp(gi->queues[i].topic, SHMQ_OUTBOX_TOPIC) != 0 ||
		    q < 0 || q >= OB_QUEUES_MAX)
			continue;
		o->committed[q] = gi->queues[i].committed;
		o->has_off[q] = 1;
	}
	o->refused = gi->dlq_messages;
	o->resent = gi->dlq_resent;
	return 0;
}

/* Queue Q's records not answered for. */
static uint64_t
waiting(const struct outbox *o, int q)
{
	/* No offset yet: nothing answered, all that is stored waits. */
	uint64_t from = o->has_off[q] ? o->committed[q] : o->min[q];

	if (from < o->min[q])
		from = o->min[q];	/* reclaimed before it was answered */
	return o->tail[q] > from ? o->tail[q] - from : 0;
}

int
statoutbox_take(struct shmq_bus *bus, char **text, char **json)
{
	struct outbox o;
	uint64_t pending = 0, answered = 0, forwarded;
	FILE *ft, *fj;
	size_t tl, jl;
	int rc, q;

	free(*text);
	free(*json);
	*text = *json = NULL;
	memset(&o, 0, sizeof(o));
	rc = shmq_queue_foreach(bus, SHMQ_OUTBOX_TOPIC, queue_cb, &o);
	if (rc == SHMQ_ENOTOPIC) {
		*text = strdup("");
		*json = strdup("null");
		return *text == NULL || *json == NULL ?
		    cli_syserr("outbox") : 0;
	}
	if (rc < 0)
		return cli_err(rc, "topic \"%s\"", SHMQ_OUTBOX_TOPIC);
	rc = shmq_group_foreach(bus, SHMQ_FORWARD_GROUP, group_cb, &o);
	if (rc < 0 && rc != SHMQ_ENOGROUP)
		return cli_err(rc, "group \"%s\"", SHMQ_FORWARD_GROUP);
	for (q = 0; q < o.nq; q++) {
		pending += waiting(&o, q);
		if (o.has_off[q])
			answered += o.committed[q];
	}
	forwarded = answered > o.refused ? answered - o.refused : 0;
	if ((ft = open_memstream(text, &tl)) == NULL)
		return cli_syserr("outbox");
	if ((fj = open_memstream(json, &jl)) == NULL) {
		fclose(ft);
		return cli_syserr("outbox");
	}
	fprintf(ft, "outbox:          %llu pending, %llu forwarded, %llu "
	    "refused (in %s%s)\n", (unsigned long long)pending,
	    (unsigned long long)forwarded, (unsigned long long)o.refused,
	    SHMQ_FORWARD_DLQ, o.has_group ? "" : "; not forwarding yet: no "
	    "group " SHMQ_FORWARD_GROUP);
	fprintf(fj, "{\"pending\":%llu,\"forwarded\":%llu,\"refused\":%llu,"
	    "\"refused_resent\":%llu,\"forwarding\":%s,\"queues\":[",
	    (unsigned long long)pending, (unsigned long long)forwarded,
	    (unsigned long long)o.refused, (unsigned long long)o.resent,
	    o.has_group ? "true" : "false");
	for (q = 0; q < o.nq; q++) {
		fprintf(fj, "%s{\"queue\":%d,\"tail\":%llu,\"committed\":%llu,"
		    "\"pending\":%llu}", q > 0 ? "," : "", q,
		    (unsigned long long)o.tail[q],
		    (unsigned long long)(o.has_off[q] ? o.committed[q] : 0),
		    (unsigned long long)waiting(&o, q));
	}
	fputs("]}", fj);
	fclose(ft);
	fclose(fj);
	return 0;
}
