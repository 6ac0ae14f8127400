/*
 * reaper.c - shmqd's reaper (see reaper.h).
 *
 * Slots.  A slot whose owner is dead is freed under the admin mutex, after
 * checking again there: registration reuses dead owners' slots under the
 * same mutex, so a slot just taken by a live process is never freed.
 *
 * Claims.  Producers claim index entries at a queue's tail, so only the
 * entries near the tail can be unsettled.  For each queue the reaper keeps
 * the offset below which every entry is settled (committed or a hole) and
 * looks from there to the tail; a claim whose owner is dead (an earlier
 * incarnation's, a freed or reused slot, a dead pid) becomes a hole, as a
 * reader would make it after stall_ms.  The first pass starts WINDOW
 * entries below each tail.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "client.h"
#include "consumequeue.h"
#include "group.h"
#include "internal.h"
#include "topic.h"

#include "log.h"
#include "reaper.h"

#define WINDOW		4096
#define SCAN_MAX	65536	/* entries per queue per pass */

void
reaper_init(struct reaper *r, struct shmq_bus *bus)
{
	memset(r, 0, sizeof(*r));
	r->bus = bus;
}

void
reaper_fini(struct reaper *r)
{
	uint32_t i;

	for (i = 0; i < r->ntopics; i++)
		free(r->lo[i]);
	free(r->lo);
	free(r->nq);
	memset(r, 0, sizeof(*r));
}

static uint64_t
reap_clients(struct reaper *r)
{
	struct shmq_bus *bus = r->bus;
	struct shmq_client_slot *s;
	uint32_t i, n = ck_pr_load_32(&bus->ctl->nclients);
	uint64_t freed = 0;
	int pid;

	for (i = 0; i < n; i++) {
		if ((s = shmq__client_slot(bus, i)) == NULL ||
		    ck_pr_load_32(&s->role) == SHMQ_ROLE_FREE ||
		    shmq__client_alive(s))
			continue;
		if (shmq__admin_lock(bus) < 0)
			break;
		pid = s->pid;
		if (s->role != SHMQ_ROLE_FREE && !shmq__client_alive(s)) {
			ck_pr_store_32(&s->role, SHMQ_ROLE_FREE);
			freed++;
			log_info("reaper: client slot %u of dead pid %d (%s) "
			    "freed", i, pid, s->name[0] ? s->name : "-");
		}
		shmq__admin_unlock(bus);
	}
	return freed;
}

/* The row of settled offsets for topic ID with Q queues, or NULL. */
static uint64_t *
row(struct reaper *r, uint32_t id, uint32_t q)
{
	uint64_t **lo;
	uint32_t *nq, n;

	if (id >= r->ntopics) {
		n = id + 1 > r->ntopics * 2 ? id + 1 : r->ntopics * 2;
		if ((lo = reallocarray(r->lo, n, sizeof(*lo))) == NULL)
			return NULL;
		r->lo = lo;
		if ((nq = reallocarray(r->nq, n, sizeof(*nq))) == NULL)
			return NULL;
		r->nq = nq;
		memset(r->lo + r->ntopics, 0, (n - r->ntopics) * sizeof(*lo));
		memset(r->nq + r->ntopics, 0, (n - r->ntopics) * sizeof(*nq));
		r->ntopics = n;
	}
	if (r->lo[id] == NULL) {
		if ((r->lo[id] = calloc(q, sizeof(uint64_t))) == NULL)
			return NULL;
		r->nq[id] = q;
		for (n = 0; n < q; n++)
			r->lo[id][n] = UINT64_MAX;	/* not started */
	}
	return r->nq[id] == q ? r->lo[id] : NULL;
}

static uint64_t
reap_queue(struct reaper *r, struct shmq_topic *t, struct shmq_cq *cq,
    uint64_t *lo)
{
	struct shmq_bus *bus = r->bus;
	struct shmq_cq_entry *e;
	uint64_t tail = shmq__cq_tail(cq), min, off, st, holes = 0;
	bool settled = true;
	int err;

	min = ck_pr_load_64(&cq->qc->min_off);
	if (*lo == UINT64_MAX)
		*lo = tail > min + WINDOW ? tail - WINDOW : min;
	if (*lo < min)
		*lo = min;
	for (off = *lo; off < tail && off - *lo < SCAN_MAX; off++) {
		if ((e = shmq__cq_entry(bus, t, cq, off, false, &err)) ==
		    NULL)
			break;
		st = shmq__cq_state(e);
		if ((st & 3) == SHMQ_CQ_CLAIMED_TAG &&
		    shmq__claim_owner_dead(bus, st)) {
			if (shmq__cq_make_hole(bus, cq, e, st))
				holes++;
			st = shmq__cq_state(e);
		}
		if (st != SHMQ_CQ_COMMITTED && st != SHMQ_CQ_HOLE)
			settled = false;	/* in flight */
		if (settled)
			*lo = off + 1;
	}
	return holes;
}

uint64_t
reaper_pass(struct reaper *r)
{
	struct shmq_bus *bus = r->bus;
	struct shmq_topic *t;
	uint32_t id, q, ntopics;
	uint64_t clients, holes = 0, members, *lo;

	clients = reap_clients(r);
	ntopics = ck_pr_load_32(&bus->ctl->ntopics);
	for (id = 0; id < ntopics; id++) {
		if ((t = shmq__topic_by_id(bus, id)) == NULL ||
		    (lo = row(r, id, t->queues)) == NULL)
			continue;
		for (q = 0; q < t->queues; q++)
			holes += reap_queue(r, t, &t->cq[q], &lo[q]);
	}
	if (holes > 0)
		log_info("reaper: %llu unfinished reservation%s of dead "
		    "producers made holes", (unsigned long long)holes,
		    holes == 1 ? "" : "s");
	members = shmq__group_reap_all(bus);
	if (members > 0)
		log_info("reaper: %llu dead group member%s removed",
		    (unsigned long long)members, members == 1 ? "" : "s");
	r->clients += clients;
	r->holes += holes;
	r->members += members;
	r->passes++;
	return clients + holes + members;
}
