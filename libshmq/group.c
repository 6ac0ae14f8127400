/*
 * group.c - consumer groups: the group table, membership, liveness, the
 * generation, and the clustering assignment with its ownership handover
 * (see group.h and, for offsets, offsets.h).
 *
 * Table.  Groups are found by id through the directory at
 * ctl->group_dir_off, in chunks of SHMQ_GROUP_CHUNK, and by name with a
 * scan (joins, resets and shmq-stat are rare).  A group is only ever
 * added; its control block is complete before ready, and ready before the
 * published count (release).
 *
 * Membership.  A member is a consumer handle: its client slot's claim
 * token (epoch, slot generation, slot) names it, its process is checked
 * with the slot's pid and start time, and its heartbeat is the coarse
 * monotonic time its poll stores in the slot (beat_ms).  Joins and leaves
 * change the member array under the admin mutex and bump the generation.
 * Every member's 100 ms tick competes (CAS on scan_due_ms) for the group's
 * liveness scan, so one member per group scans every 100 ms: it reads the
 * members' heartbeats without the lock, checks the process (kill(0) and
 * /proc) only of those silent for SHMQ_GROUP_SUSPECT_MS, and removes the
 * dead and those silent beyond their timeout under the lock, with a
 * generation bump.  A process killed while its member polls is thus gone
 * from the group 250 to 350 ms later.
 *
 * Handover (clustering).  For each queue the group has an owner word
 * (struct shmq_group_queue): 0, or the token of the member consuming it.
 * A member that sees a new generation snapshots the members (under the
 * lock), computes its share with shmq__allocate over their sorted ids,
 * lets go of the queues it no longer gets (commit, then CAS owner from its
 * token to 0: release, and a wake of the topic's sleepers) and drops the
 * ones whose owner word is no longer its token (taken over after it was
 * removed).  It takes a new queue by CAS of the owner word from 0, or from
 * the token of a member that is not in its snapshot (dead or removed),
 * and only while its snapshot is current: it loads the owner word, then
 * the generation (acquire), so a token it does not know belongs to a
 * member that left before that generation, never to one that joined
 * after (a joiner bumps the generation before it takes anything).  The new
 * owner then reads the committed offset (acquire, pairing with the old
 * owner's release) and starts there.  A queue is thus never consumed by
 * two members at once, except by one that was removed while alive (it
 * hung for its heartbeat timeout) until its next poll, which sees the new
 * generation: at-least-once, as in RocketMQ.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocate.h"
#include "client.h"
#include "consumequeue.h"
#include "group.h"
#include "internal.h"
#include "offsets.h"
#include "tagexpr.h"
#include "topic.h"
#include "wait.h"

#define MEMBERS_INIT	8

struct shmq_group_ctl *
shmq__group_ctl(struct shmq_bus *bus, uint32_t id)
{
	uint64_t *dir, coff;
	struct shmq_group_ctl *chunk;

	if (id >= SHMQ_MAX_GROUPS)
		return NULL;
	dir = shmq__ctl_ptr(bus, bus->ctl->group_dir_off,
	    SHMQ_GROUP_CHUNKS * sizeof(uint64_t));
	if (dir == NULL)
		return NULL;
	coff = ck_pr_load_64(&dir[id / SHMQ_GROUP_CHUNK]);
	chunk = shmq__ctl_ptr(bus, coff,
	    SHMQ_GROUP_CHUNK * sizeof(struct shmq_group_ctl));
	if (chunk == NULL)
		return NULL;
	return &chunk[id % SHMQ_GROUP_CHUNK];
}

int
shmq__group_find(struct shmq_bus *bus, const char *name,
    struct shmq_group_ctl **out)
{
	uint64_t hv = shmq__hash64(name, strlen(name));
	struct shmq_group_ctl *g;
	uint32_t id, n;

	n = ck_pr_load_32(&bus->ctl->ngroups);
	/* Pairs with the release of ngroups in shmq__group_get_locked. */
	ck_pr_fence_load();
	for (id = 0; id < n; id++) {
		g = shmq__group_ctl(bus, id);
		if (g == NULL || ck_pr_load_32(&g->ready) != 1)
			continue;
		ck_pr_fence_load();
		if (g->name_hash == hv &&
		    strncmp(g->name, name, sizeof(g->name)) == 0) {
			*out = g;
			return 0;
		}
	}
	return SHMQ_ERR(SHMQ_ENOGROUP, "group \"%s\" on bus \"%s\"", name,
	    bus->name);
}

int
shmq__group_get_locked(struct shmq_bus *bus, const char *name,
    uint32_t model, uint32_t strategy, struct shmq_group_ctl **out)
{
	struct shmq_ctl *ctl = bus->ctl;
	struct shmq_group_members *ma;
	struct shmq_group_osets *oa;
	struct shmq_group_ctl *g;
	uint64_t *dir, moff, ooff;
	uint32_t id = ctl->ngroups;
	int err;

	if (shmq__group_find(bus, name, out) == 0)
		return 0;
	if (id >= SHMQ_MAX_GROUPS)
		return SHMQ_ERR(SHMQ_ELIMIT, "bus \"%s\": %u groups", bus->name,
		    id);
	dir = shmq__ctl_ptr(bus, ctl->group_dir_off,
	    SHMQ_GROUP_CHUNKS * sizeof(uint64_t));
	if (dir == NULL)
		return SHMQ_ERR(SHMQ_ECORRUPT, "bus \"%s\": group directory",
		    bus->name);
	if (dir[id / SHMQ_GROUP_CHUNK] == 0) {
		uint64_t off = shmq__ctl_alloc(bus, SHMQ_GROUP_CHUNK *
		    sizeof(struct shmq_group_ctl), &err);

		if (off == 0)
			return err;
		ck_pr_store_64(&dir[id / SHMQ_GROUP_CHUNK], off);
	}
	if ((moff = shmq__ctl_alloc(bus, sizeof(*ma) + MEMBERS_INIT *
	    sizeof(ma->m[0]), &err)) == 0 ||
	    (ooff = shmq__ctl_alloc(bus, sizeof(*oa) + MEMBERS_INIT *
	    sizeof(oa->o[0]), &err)) == 0)
		return err;
	ma = shmq__ctl_ptr(bus, moff, sizeof(*ma));
	ma->cap = MEMBERS_INIT;
	oa = shmq__ctl_ptr(bus, ooff, sizeof(*oa));
	oa->cap = MEMBERS_INIT;
	g = shmq__group_ctl(bus, id);
	if (g == NULL)
		return SHMQ_ERR(SHMQ_ECORRUPT, "bus \"%s\": group chunk",
		    bus->name);
	memset(g, 0, sizeof(*g));
	strlcpy(g->name, name, sizeof(g->name));
	g->name_hash = shmq__hash64(name, strlen(name));
	g->created_ns = shmq__real_ns();
	g->id = id;
	g->model = model;
	g->strategy = strategy;
	g->members_off = moff;
	g->osets_off = ooff;
	/* Release: the block before ready, ready before the count. */
	ck_pr_fence_store();
	ck_pr_store_32(&g->ready, 1);
	ck_pr_fence_store();
	ck_pr_store_32(&ctl->ngroups, id + 1);
	*out = g;
	return 0;
}

/* The member array and its count, both checked; NULL if corrupt. */
static struct shmq_group_members *
members_get(struct shmq_bus *bus, const struct shmq_group_ctl *g,
    uint32_t *np)
{
	struct shmq_group_members *a;
	uint64_t off;
	uint32_t cap, n;

	off = ck_pr_load_64((uint64_t *)(uintptr_t)&g->members_off);
	/* Pairs with the release in member_add: a new array is complete
	 * before its offset is seen. */
	ck_pr_fence_load();
	a = shmq__ctl_ptr(bus, off, sizeof(*a));
	if (a == NULL)
		return NULL;
	cap = ck_pr_load_32(&a->cap);
	if (cap > SHMQ_GROUP_MAX_MEMBERS || shmq__ctl_ptr(bus, off,
	    sizeof(*a) + (uint64_t)cap * sizeof(a->m[0])) == NULL)
		return NULL;
	n = ck_pr_load_32(&a->n);
	/* Pairs with the release of n in member_add. */
	ck_pr_fence_load();
	*np = n < cap ? n : cap;
	return a;
}

struct shmq_group_members *
shmq__group_members(struct shmq_bus *bus, const struct shmq_group_ctl *g)
{
	uint32_t n;

	return members_get(bus, g, &n);
}

/* Add NM (admin lock held), moving the array to a bigger one if full. */
static int
member_add(struct shmq_bus *bus, struct shmq_group_ctl *g,
    const struct shmq_group_member *nm)
{
	struct shmq_group_members *a, *na;
	uint32_t n, cap;
	uint64_t off;
	int err;

	if ((a = members_get(bus, g, &n)) == NULL)
		return SHMQ_ERR(SHMQ_ECORRUPT, "group \"%s\": member table",
		    g->name);
	cap = a->cap;
	if (n >= cap) {
		if (cap >= SHMQ_GROUP_MAX_MEMBERS)
			return SHMQ_ERR(SHMQ_ELIMIT, "group \"%s\": %u members",
			    g->name, n);
		off = shmq__ctl_alloc(bus, sizeof(*na) + (uint64_t)cap * 2 *
		    sizeof(na->m[0]), &err);
		if (off == 0)
			return err;
		na = shmq__ctl_ptr(bus, off, sizeof(*na));
		na->cap = cap * 2;
		memcpy(na->m, a->m, (size_t)n * sizeof(na->m[0]));
		na->n = n;
		/* Release: the copy before its offset (members_get). */
		ck_pr_fence_store();
		ck_pr_store_64(&g->members_off, off);
		a = na;
	}
	a->m[n] = *nm;
	/* Release: the member before the count that shows it. */
	ck_pr_fence_store();
	ck_pr_store_32(&a->n, n + 1);
	return 0;
}

/* Remove member I of A (N members; admin lock held). */
static void
member_remove(struct shmq_group_members *a, uint32_t n, uint32_t i)
{
	if (i + 1 < n)
		a->m[i] = a->m[n - 1];
	ck_pr_fence_store();
	ck_pr_store_32(&a->n, n - 1);
}

static uint32_t
token_slot(uint64_t token)
{
	return (uint32_t)((token >> 2) & (SHMQ_MAX_CLIENTS - 1));
}

static uint32_t
token_gen(uint64_t token)
{
	return (uint32_t)((token >> (2 + SHMQ_TOKEN_SLOT_BITS)) &
	    ((1u << SHMQ_TOKEN_GEN_BITS) - 1));
}

void
shmq__member_id(const struct shmq_group_member *m, char *buf, size_t len)
{
	if (m->instance[0] != '\0' && memchr(m->instance, '\0',
	    sizeof(m->instance)) != NULL)
		strlcpy(buf, m->instance, len);
	else	/* '~' is no name character: never an instance's id. */
		snprintf(buf, len, "~%u.%u", token_slot(m->token),
		    token_gen(m->token));
}

/*
 * Is member M gone: its slot released or reused, its process dead, or
 * silent beyond its timeout?  /proc is read only for a member silent for
 * SHMQ_GROUP_SUSPECT_MS, or with ALWAYS.
 */
static bool
member_gone(struct shmq_bus *bus, const struct shmq_group_member *m,
    uint64_t now, bool always)
{
	struct shmq_client_slot *s;
	uint64_t token = ck_pr_load_64((uint64_t *)(uintptr_t)&m->token);
	uint64_t beat, age;

	s = shmq__client_slot(bus, token_slot(token));
	if (s == NULL)
		return true;
	/* Its slot released, or taken by another handle since (a dead
	 * process's slot is reused, with a new generation): the heartbeat
	 * there is not this member's. */
	if (ck_pr_load_32(&s->role) == SHMQ_ROLE_FREE ||
	    (ck_pr_load_32(&s->gen) & ((1u << SHMQ_TOKEN_GEN_BITS) - 1)) !=
	    token_gen(token))
		return true;
	beat = ck_pr_load_64(&s->beat_ms);
	age = now > beat ? now - beat : 0;
	if (age > m->timeout_ms)
		return true;
	if (!always && age < SHMQ_GROUP_SUSPECT_MS)
		return false;
	return shmq__claim_owner_dead(bus, token);
}

void
shmq__group_bump(struct shmq_bus *bus, struct shmq_group_ctl *g)
{
	struct shmq_group_osets *oa;
	struct shmq_topic *t;
	uint32_t i, n;

	/* Release: the member array (and any offsets a reset stored) before
	 * the generation that makes members look at them. */
	ck_pr_fence_store();
	ck_pr_store_64(&g->generation, g->generation + 1);
	ck_pr_fence_memory();
	/* Wake members asleep in poll, so they act now, not at their next
	 * tick: each topic the group has offsets for, and the doorbell. */
	if ((oa = shmq__group_osets(bus, g)) != NULL) {
		n = ck_pr_load_32(&oa->n);
		for (i = 0; i < n && i < oa->cap; i++) {
			t = shmq__topic_by_id(bus, oa->o[i].topic_id);
			if (t != NULL)
				ck_ec64_inc(&t->tc->ec, &shmq__ec_mp);
		}
	}
	ck_ec64_inc(&bus->ctl->doorbell, &shmq__ec_mp);
}

/* Remove the members that are gone, but not SELF (admin lock held).
 * Returns how many. */
static unsigned
reap_locked(struct shmq_bus *bus, struct shmq_group_ctl *g, uint64_t self,
    uint64_t now)
{
	struct shmq_group_members *a;
	unsigned removed = 0;
	uint32_t n, i;

	if ((a = members_get(bus, g, &n)) == NULL)
		return 0;
	for (i = n; i-- > 0;) {
		if (a->m[i].token == self || !member_gone(bus, &a->m[i], now,
		    false))
			continue;
		member_remove(a, n, i);
		n--;
		removed++;
	}
	return removed;
}

/*
 * Remove the gone members of every group (shmqd's reaper: the same rule as
 * the members' own scan, for groups none of whose members polls).
 * Returns how many.
 */
unsigned
shmq__group_reap_all(struct shmq_bus *bus)
{
	struct shmq_group_ctl *g;
	uint64_t now = shmq__coarse_ms();
	uint32_t id, n = ck_pr_load_32(&bus->ctl->ngroups);
	unsigned removed = 0, r;

	for (id = 0; id < n; id++) {
		if ((g = shmq__group_ctl(bus, id)) == NULL)
			continue;
		if (shmq__admin_lock(bus) < 0)
			break;
		if ((r = reap_locked(bus, g, 0, now)) > 0)
			shmq__group_bump(bus, g);
		shmq__admin_unlock(bus);
		removed += r;
	}
	return removed;
}

/* The group's liveness scan (see the top). */
static void
scan(struct shmq_consumer *c, uint64_t now)
{
	struct shmq_cgroup *cg = c->grp;
	struct shmq_bus *bus = c->bus;
	struct shmq_group_members *a;
	uint32_t n, i;

	if ((a = members_get(bus, cg->g, &n)) == NULL)
		return;
	for (i = 0; i < n; i++)
		if (a->m[i].token != cg->token &&
		    member_gone(bus, &a->m[i], now, false))
			break;
	if (i == n || shmq__admin_lock(bus) < 0)
		return;
	if (reap_locked(bus, cg->g, cg->token, now) > 0)
		shmq__group_bump(bus, cg->g);
	shmq__admin_unlock(bus);
}

/* Index of the member with TOKEN, or -1 (admin lock held). */
static int64_t
member_find(struct shmq_bus *bus, struct shmq_group_ctl *g, uint64_t token)
{
	struct shmq_group_members *a;
	uint32_t n, i;

	if ((a = members_get(bus, g, &n)) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (a->m[i].token == token)
			return i;
	return -1;
}

static const char *
model_name(uint32_t m)
{
	return m == SHMQ_GROUP_CLUSTERING ? "clustering" :
	    m == SHMQ_GROUP_BROADCASTING ? "broadcasting" : "unknown";
}

/* Join the group (admin lock held): checks, add, bump. */
static int
join_locked(struct shmq_consumer *c)
{
	struct shmq_cgroup *cg = c->grp;
	struct shmq_bus *bus = c->bus;
	struct shmq_group_ctl *g = cg->g;
	struct shmq_group_members *a;
	struct shmq_group_member nm;
	uint64_t now = shmq__coarse_ms();
	uint32_t n, i;
	int err;

	if ((a = members_get(bus, g, &n)) == NULL)
		return SHMQ_ERR(SHMQ_ECORRUPT, "group \"%s\": member table",
		    g->name);
	/* One live member per instance name: a dead one's name is free. */
	for (i = n; cg->instance[0] != '\0' && i-- > 0;) {
		if (strncmp(a->m[i].instance, cg->instance,
		    sizeof(a->m[i].instance)) != 0)
			continue;
		if (!member_gone(bus, &a->m[i], now, true))
			return SHMQ_ERR(SHMQ_EEXIST, "group \"%s\": instance "
			    "\"%s\" is a live member (pid %d)", g->name,
			    cg->instance, (int)a->m[i].pid);
		member_remove(a, n, i);
		n--;
	}
	if (n > 0 && (g->model != cg->model || g->strategy != cg->strategy)) {
		(void)reap_locked(bus, g, cg->token, now);
		a = members_get(bus, g, &n);
	}
	if (n > 0 && (g->model != cg->model || g->strategy != cg->strategy))
		return SHMQ_ERR(SHMQ_EINVAL, "group \"%s\" is %s (%s) for its "
		    "%u live members; this member asks %s (%s)", g->name,
		    model_name(g->model), shmq__alloc_strategy_name(
		    (enum shmq__alloc_strategy)g->strategy), n,
		    model_name(cg->model), shmq__alloc_strategy_name(
		    (enum shmq__alloc_strategy)cg->strategy));
	g->model = cg->model;
	g->strategy = cg->strategy;
	memset(&nm, 0, sizeof(nm));
	nm.token = cg->token;
	nm.slot = c->slot_idx;
	nm.pid = (int32_t)getpid();
	nm.joined_ns = shmq__real_ns();
	nm.timeout_ms = cg->timeout_ms;
	strlcpy(nm.instance, cg->instance, sizeof(nm.instance));
	/* A fresh heartbeat before anyone can see us. */
	cg->beat_ms = now;
	ck_pr_store_64(&c->slot->beat_ms, now);
	if ((err = member_add(bus, g, &nm)) < 0)
		return err;
	shmq__group_bump(bus, g);
	return 0;
}

/* Is TOKEN among the members of our snapshot? */
static bool
snapshot_has(const struct shmq_cgroup *cg, uint64_t token)
{
	size_t i;

	for (i = 0; i < cg->nmembers; i++)
		if (cg->mtok[i] == token)
			return true;
	return false;
}

static int
topic_index(const struct shmq_cgroup *cg, const struct shmq_topic *t)
{
	size_t i;

	for (i = 0; i < cg->ntopics; i++)
		if (cg->topics[i].t == t)
			return (int)i;
	return -1;
}

/*
 * Position to start from at committed offset OFF of CQ, a queue of T.
 * Held to the tail, except in a mirror: there an offset beyond the tail
 * is the home's (groupsync.h), for messages still on their way, and the
 * member waits for them rather than get again what the group consumed at
 * the home.
 */
static uint64_t
start_pos(const struct shmq_topic *t, const struct shmq_cq *cq, uint64_t off)
{
	uint64_t min = ck_pr_load_64(&cq->qc->min_off);
	uint64_t tail = shmq__cq_tail(cq);

	if (off > tail && (ck_pr_load_32(&t->tc->flags) &
	    SHMQ_TOPIC_F_MIRROR) != 0)
		return off;
	return off < min ? min : off > tail ? tail : off;
}

/*
 * Let go of sub I: commit its position (auto-commit), then the owner word
 * from our token to 0, and wake whoever waits for the queue.
 */
static void
release_sub(struct shmq_consumer *c, size_t i)
{
	struct shmq_cgroup *cg = c->grp;
	struct sub *s = &c->subs[i];

	if (cg->drop_hook != NULL)	/* push.c: finish, commit */
		cg->drop_hook(cg->drop_arg, s, SHMQ_DROP_RELEASE);
	if (cg->auto_commit && s->committed != SHMQ_COMMIT_CONFLICT &&
	    s->pos != shmq__commit_off(s->committed))
		(void)ck_pr_cas_64(&s->gq->committed, s->committed,
		    shmq__commit_with(s->committed, s->pos));
	/* Release: the commit before the owner word; pairs with the
	 * acquire in take_pending. */
	ck_pr_fence_store();
	if (cg->model == SHMQ_GROUP_CLUSTERING &&
	    ck_pr_cas_64(&s->gq->owner, cg->token, 0)) {
		ck_ec64_inc(&s->t->tc->ec, &shmq__ec_mp);
		ck_ec64_inc(&c->bus->ctl->doorbell, &shmq__ec_mp);
	}
	shmq__consumer_sub_remove(c, i);
}

/* Take over the pending queues whose owner let go or is gone. */
static int
take_pending(struct shmq_consumer *c)
{
	struct shmq_cgroup *cg = c->grp;
	struct shmq_group_queue *gq;
	struct shmq_gtopic *gt;
	struct sub *s;
	uint64_t owner, off;
	size_t k;
	bool ok;
	int err;

	for (k = 0; k < cg->npend;) {
		gt = &cg->topics[cg->pend[k].ti];
		gq = gt->gqs[cg->pend[k].q];
		owner = ck_pr_load_64(&gq->owner);
		if (owner == cg->token)
			ok = true;
		else if (owner == 0)
			ok = ck_pr_cas_64(&gq->owner, 0, cg->token);
		else {
			/* The owner word, then the generation: a token we
			 * do not know is a member's that left before the
			 * generation we act on (see the top). */
			ck_pr_fence_load();
			ok = ck_pr_load_64(&cg->g->generation) == cg->gen &&
			    !snapshot_has(cg, owner) &&
			    ck_pr_cas_64(&gq->owner, owner, cg->token);
		}
		if (!ok) {
			k++;
			continue;
		}
		/* Acquire: the previous owner's last commit; pairs with
		 * the release in release_sub. */
		ck_pr_fence_acquire();
		off = ck_pr_load_64(&gq->committed);	/* the word */
		if ((err = shmq__consumer_sub_add(c, gt->t, cg->pend[k].q,
		    gt->expr, start_pos(gt->t, &gt->t->cq[cg->pend[k].q],
		    shmq__commit_off(off)),
		    &s)) < 0) {
			(void)ck_pr_cas_64(&gq->owner, cg->token, 0);
			return err;
		}
		s->gq = gq;
		s->committed = off;
		s->hold = gt->retry;
		if ((err = shmq__consumer_sub_sql(s, gt->sql)) < 0) {
			shmq__consumer_sub_remove(c, c->nsubs - 1);
			(void)ck_pr_cas_64(&gq->owner, cg->token, 0);
			return err;
		}
		cg->pend[k] = cg->pend[--cg->npend];
	}
	return 0;
}

/* Clustering: this member's queues at the current snapshot. */
static int
assign(struct shmq_consumer *c)
{
	struct shmq_cgroup *cg = c->grp;
	uint32_t qs[SHMQ_MAX_QUEUES], mine[SHMQ_MAX_QUEUES];
	uint8_t *want;
	size_t ti, i, n;
	uint32_t q;
	int cnt;

	for (ti = 0; ti < cg->ntopics; ti++) {
		struct shmq_topic *t = cg->topics[ti].t;
		/* Not t->queues: the view may grow under us (another thread
		 * of the process); the group's count moves in topics_grow. */
		const uint32_t nq = cg->topics[ti].nq;

		for (q = 0; q < nq; q++)
			qs[q] = q;
		cnt = shmq__allocate((enum shmq__alloc_strategy)cg->strategy,
		    t->name, cg->ids, cg->nmembers, cg->self_id, qs, nq,
		    mine);
		want = calloc(nq, 1);
		if (want == NULL)
			return SHMQ_ERR(SHMQ_ENOMEM, "group rebalance");
		for (i = 0; cnt > 0 && i < (size_t)cnt; i++)
			want[mine[i]] = 1;
		/* Queues held: keep the wanted ones we still own. */
		for (i = c->nsubs; i-- > 0;) {
			struct sub *s = &c->subs[i];

			if (s->t != t)
				continue;
			if (ck_pr_load_64(&s->gq->owner) != cg->token) {
				/* Taken over after we were removed. */
				if (cg->drop_hook != NULL)	/* push.c */
					cg->drop_hook(cg->drop_arg, s,
					    SHMQ_DROP_LOST);
				shmq__consumer_sub_remove(c, i);
				continue;
			}
			if (!want[s->cq->queue]) {
				release_sub(c, i);
				continue;
			}
			want[s->cq->queue] = 2;
		}
		/* Pending: drop this topic's, then add the wanted ones. */
		for (i = cg->npend; i-- > 0;)
			if (cg->pend[i].ti == ti)
				cg->pend[i] = cg->pend[--cg->npend];
		for (q = 0; q < nq; q++) {
			if (want[q] != 1)
				continue;
			n = cg->npend;
			{
				struct shmq_gpend *np = reallocarray(cg->pend,
				    n + 1, sizeof(*np));

				if (np == NULL) {
					free(want);
					return SHMQ_ERR(SHMQ_ENOMEM,
					    "group rebalance");
				}
				cg->pend = np;
			}
			cg->pend[n].ti = (uint32_t)ti;
			cg->pend[n].q = q;
			cg->npend = n + 1;
		}
		free(want);
	}
	return 0;
}

/* Act on a new generation (or a commit conflict): see the top. */
static int gtopic_add(struct shmq_consumer *, struct shmq_topic *,
    const char *, const char *, bool);
static int topics_grow(struct shmq_consumer *);

static int
rebalance(struct shmq_consumer *c)
{
	struct shmq_cgroup *cg = c->grp;
	struct shmq_bus *bus = c->bus;
	struct shmq_group_members *a;
	uint64_t gen, resets, *nt;
	const char **nids;
	char *nbuf;
	uint32_t n, i;
	size_t k;
	int err;

	/* The group's retry topic, once some member has made it (a new
	 * generation tells everyone): followed by every clustering member. */
	if (cg->model == SHMQ_GROUP_CLUSTERING && !cg->retry_sub &&
	    cg->retry_topic[0] != '\0') {
		struct shmq_topic *rt = shmq__topic_find(bus, cg->retry_topic);

		if (rt != NULL) {
			if ((err = gtopic_add(c, rt, NULL, NULL, true)) < 0)
				return err;
			cg->retry_sub = true;
		}
	}
	if ((err = shmq__admin_lock(bus)) < 0)
		return err;
	if (member_find(bus, cg->g, cg->token) < 0 &&
	    (err = join_locked(c)) < 0) {
		shmq__admin_unlock(bus);
		return err;
	}
	gen = ck_pr_load_64(&cg->g->generation);
	resets = ck_pr_load_64(&cg->g->resets);
	if ((a = members_get(bus, cg->g, &n)) == NULL) {
		shmq__admin_unlock(bus);
		return SHMQ_ERR(SHMQ_ECORRUPT, "group \"%s\": member table",
		    cg->g->name);
	}
	nt = reallocarray(cg->mtok, n + 1, sizeof(*nt));
	if (nt != NULL)
		cg->mtok = nt;
	nids = reallocarray(cg->ids, n + 1, sizeof(*nids));
	if (nids != NULL)
		cg->ids = nids;
	nbuf = reallocarray(cg->idbuf, n + 1, SHMQ_NAME_MAX + 2);
	if (nbuf != NULL)
		cg->idbuf = nbuf;
	if (nt == NULL || nids == NULL || nbuf == NULL) {
		shmq__admin_unlock(bus);
		return SHMQ_ERR(SHMQ_ENOMEM, "group rebalance");
	}
	for (i = 0; i < n; i++) {
		cg->mtok[i] = a->m[i].token;
		shmq__member_id(&a->m[i], cg->idbuf + (size_t)i *
		    (SHMQ_NAME_MAX + 2), SHMQ_NAME_MAX + 2);
		cg->ids[i] = cg->idbuf + (size_t)i * (SHMQ_NAME_MAX + 2);
	}
	cg->nmembers = n;
	shmq__admin_unlock(bus);
	shmq__allocate_sort(cg->ids, cg->nmembers);

	/* A reset: every held queue restarts at the committed offset. */
	if (resets != cg->resets) {
		for (k = 0; k < c->nsubs; k++) {
			struct sub *s = &c->subs[k];

			if (cg->drop_hook != NULL)	/* push.c */
				cg->drop_hook(cg->drop_arg, s,
				    SHMQ_DROP_RESET);
			s->committed = ck_pr_load_64(&s->gq->committed);
			s->pos = start_pos(s->t, s->cq,
			    shmq__commit_off(s->committed));
			s->stall_state = 0;
			s->idle_ec = UINT64_MAX;
		}
		cg->resets = resets;
	}
	cg->gen = gen;
	cg->need_slow = false;
	if ((err = topics_grow(c)) < 0)
		return err;
	if (cg->model == SHMQ_GROUP_CLUSTERING &&
	    (err = assign(c)) < 0)
		return err;
	/* A commit that met another writer with neither a reset nor a
	 * takeover to explain it: start again from what is there. */
	for (k = 0; k < c->nsubs; k++)
		if (c->subs[k].committed == SHMQ_COMMIT_CONFLICT)
			c->subs[k].committed =
			    ck_pr_load_64(&c->subs[k].gq->committed);
	return take_pending(c);
}

static void
tick(struct shmq_consumer *c, uint64_t now)
{
	struct shmq_cgroup *cg = c->grp;
	struct shmq_group_ctl *g = cg->g;
	uint64_t due;

	cg->tick_due_ms = now + SHMQ_GROUP_TICK_MS;
	ck_pr_store_64(&c->slot->heartbeat_ns, shmq__real_ns());
	due = ck_pr_load_64(&g->scan_due_ms);
	if (now >= due && ck_pr_cas_64(&g->scan_due_ms, due,
	    now + SHMQ_GROUP_TICK_MS))
		scan(c, now);
	due = ck_pr_load_64(&g->save_due_ms);
	if (now >= due && ck_pr_cas_64(&g->save_due_ms, due,
	    now + SHMQ_GROUP_SAVE_MS))
		(void)shmq__offsets_save(c->bus, g, false, false);
}

int
shmq__group_slow(struct shmq_consumer *c, uint64_t now)
{
	struct shmq_cgroup *cg = c->grp;

	if (now >= cg->tick_due_ms)
		tick(c, now);
	if (ck_pr_load_64(&cg->g->generation) != cg->gen || cg->need_slow)
		return rebalance(c);
	if (cg->npend != 0)
		return take_pending(c);
	return 0;
}

void
shmq_group_opts_init(struct shmq_group_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->model = SHMQ_CLUSTERING;
	o->start = SHMQ_SEEK_LAST;
	o->auto_commit = 1;
	o->heartbeat_timeout_ms = SHMQ_GROUP_TIMEOUT_MS;
}

static void
cgroup_free(struct shmq_cgroup *cg)
{
	size_t i;

	if (cg == NULL)
		return;
	for (i = 0; i < cg->ntopics; i++) {
		free(cg->topics[i].expr);
		free(cg->topics[i].sql);
		free(cg->topics[i].gqs);
	}
	free(cg->topics);
	shmq_producer_close(cg->rp);
	free(cg->pend);
	free(cg->mtok);
	free(cg->ids);
	free(cg->idbuf);
	free(cg);
}

int
shmq_consumer_open_group(struct shmq_consumer **out, struct shmq_bus *bus,
    const char *group, const struct shmq_group_opts *opts)
{
	struct shmq_group_opts def;
	enum shmq__alloc_strategy strat = SHMQ_ALLOC_AVERAGELY;
	struct shmq_consumer *c;
	struct shmq_cgroup *cg;
	struct shmq_group_member me;
	int err;

	if (out == NULL || bus == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "group consumer: no bus");
	if (!shmq__name_ok(group))
		return SHMQ_ERR(SHMQ_ENAME, "group \"%s\"",
		    group != NULL ? group : "(null)");
	if (opts == NULL) {
		shmq_group_opts_init(&def);
		opts = &def;
	}
	if (opts->model != SHMQ_CLUSTERING && opts->model != SHMQ_BROADCASTING)
		return SHMQ_ERR(SHMQ_EINVAL, "group \"%s\": model %d", group,
		    opts->model);
	if (opts->strategy != NULL &&
	    (err = shmq__alloc_strategy_parse(opts->strategy, &strat)) < 0) {
		SHMQ_ERR_PREFIX("group \"%s\"", group);
		return err;
	}
	if (opts->instance != NULL && opts->instance[0] != '\0' &&
	    !shmq__name_ok(opts->instance))
		return SHMQ_ERR(SHMQ_ENAME, "group \"%s\": instance \"%s\"",
		    group, opts->instance);
	if (opts->model == SHMQ_BROADCASTING &&
	    (opts->instance == NULL || opts->instance[0] == '\0'))
		return SHMQ_ERR(SHMQ_EINVAL, "group \"%s\": a broadcasting "
		    "member needs an instance name (its offsets' key)", group);
	if (opts->start != SHMQ_SEEK_FIRST && opts->start != SHMQ_SEEK_LAST &&
	    opts->start != SHMQ_SEEK_TIME)
		return SHMQ_ERR(SHMQ_EINVAL, "group \"%s\": start position %d "
		    "(first, last or time)", group, opts->start);
	if (opts->heartbeat_timeout_ms != 0 &&
	    opts->heartbeat_timeout_ms < 500)
		return SHMQ_ERR(SHMQ_EINVAL, "group \"%s\": heartbeat timeout "
		    "%u ms (at least 500)", group, opts->heartbeat_timeout_ms);

	if ((err = shmq_consumer_open(&c, bus)) < 0)
		return err;
	if ((cg = calloc(1, sizeof(*cg))) == NULL) {
		shmq_consumer_close(c);
		return SHMQ_ERR(SHMQ_ENOMEM, "group consumer");
	}
	strlcpy(c->slot->name, group, sizeof(c->slot->name));
	cg->model = (uint32_t)opts->model;
	cg->strategy = (uint32_t)strat;
	cg->start = opts->start;
	cg->start_ms = opts->start_time_ms;
	cg->auto_commit = opts->auto_commit != 0;
	cg->timeout_ms = opts->heartbeat_timeout_ms != 0 ?
	    opts->heartbeat_timeout_ms : SHMQ_GROUP_TIMEOUT_MS;
	if (opts->instance != NULL)
		strlcpy(cg->instance, opts->instance, sizeof(cg->instance));
	if ((err = shmq__retry_cfg(&cg->retry, opts->retry, group)) < 0) {
		cgroup_free(cg);
		shmq_consumer_close(c);
		return err;
	}
	/* A group name too long for its retry topic leaves retry_topic
	 * empty: its retries fail with SHMQ_ENAME (retry.c). */
	if (shmq__retry_topic_name(cg->retry_topic, sizeof(cg->retry_topic),
	    SHMQ_RETRY_PREFIX, group) < 0 ||
	    shmq__retry_topic_name(cg->dlq_topic, sizeof(cg->dlq_topic),
	    SHMQ_DLQ_PREFIX, group) < 0) {
		cg->retry_topic[0] = '\0';
		cg->dlq_topic[0] = '\0';
	}
	cg->token = shmq__client_claim(bus, c->slot_idx);
	memset(&me, 0, sizeof(me));
	me.token = cg->token;
	strlcpy(me.instance, cg->instance, sizeof(me.instance));
	shmq__member_id(&me, cg->self_id, sizeof(cg->self_id));
	c->grp = cg;

	if ((err = shmq__admin_lock(bus)) < 0)
		goto fail;
	if ((err = shmq__group_get_locked(bus, group, cg->model, cg->strategy,
	    &cg->g)) == 0)
		err = join_locked(c);
	if (err == 0)
		cg->resets = ck_pr_load_64(&cg->g->resets);
	shmq__admin_unlock(bus);
	if (err < 0)
		goto fail;
	cg->need_slow = true;
	*out = c;
	return 0;
fail:
	c->grp = NULL;
	cgroup_free(cg);
	shmq_consumer_close(c);
	return err;
}

/* Broadcasting: follow GT's queues from FROM on, at their offsets. */
static int
follow_all(struct shmq_consumer *c, struct shmq_gtopic *gt, uint32_t from)
{
	struct sub *s;
	uint64_t off;
	uint32_t q;
	int err;

	for (q = from; q < gt->nq; q++) {
		off = ck_pr_load_64(&gt->gqs[q]->committed);
		if ((err = shmq__consumer_sub_add(c, gt->t, q, gt->expr,
		    start_pos(gt->t, &gt->t->cq[q], shmq__commit_off(off)),
		    &s)) < 0)
			return err;
		s->gq = gt->gqs[q];
		s->committed = off;
		if ((err = shmq__consumer_sub_sql(s, gt->sql)) < 0) {
			shmq__consumer_sub_remove(c, c->nsubs - 1);
			return err;
		}
	}
	return 0;
}

/*
 * Subscribe to T with tag expression EXPR or SQL92 filter SQL (at most one
 * not NULL), or give it that filter if subscribed.  RETRY: the group's
 * retry topic, whose offsets start at its first message and whose queues
 * hold their head until it is due.  A broadcasting member follows the
 * queues at once; a clustering one at its next rebalance (the caller's).
 */
static int
gtopic_add(struct shmq_consumer *c, struct shmq_topic *t, const char *expr,
    const char *sql, bool retry)
{
	struct shmq_cgroup *cg = c->grp;
	struct shmq_group_queue **gqs;
	struct shmq_gtopic *nt;
	struct shmq_tagexpr *x;
	char *ex = NULL, *sq = NULL;
	size_t i;
	uint32_t nq;
	int err, ti;

	if ((err = shmq__tagexpr_parse(expr, &x)) < 0)
		return err;
	shmq__tagexpr_free(x);
	if (sql != NULL) {
		struct sub probe;

		memset(&probe, 0, sizeof(probe));
		if ((err = shmq__consumer_sub_sql(&probe, sql)) < 0)
			return err;
		(void)shmq__consumer_sub_sql(&probe, NULL);
	}
	if ((expr != NULL && (ex = strdup(expr)) == NULL) ||
	    (sql != NULL && (sq = strdup(sql)) == NULL)) {
		free(ex);
		return SHMQ_ERR(SHMQ_ENOMEM, "subscribe");
	}
	if ((ti = topic_index(cg, t)) >= 0) {
		/* A new filter for the queues held and those to come. */
		for (i = 0; i < c->nsubs; i++) {
			if (c->subs[i].t != t)
				continue;
			if ((err = shmq__tagexpr_parse(expr, &x)) < 0 ||
			    (err = shmq__consumer_sub_sql(&c->subs[i],
			    sql)) < 0) {
				free(ex);
				free(sq);
				return err;
			}
			shmq__tagexpr_free(c->subs[i].expr);
			c->subs[i].expr = x;
		}
		free(cg->topics[ti].expr);
		free(cg->topics[ti].sql);
		cg->topics[ti].expr = ex;
		cg->topics[ti].sql = sq;
		return 0;
	}
	nt = reallocarray(cg->topics, cg->ntopics + 1, sizeof(*nt));
	if (nt == NULL) {
		free(ex);
		free(sq);
		return SHMQ_ERR(SHMQ_ENOMEM, "subscribe");
	}
	cg->topics = nt;
	nq = ck_pr_load_32(&t->queues);
	if ((gqs = calloc(nq, sizeof(*gqs))) == NULL ||
	    (err = shmq__admin_lock(c->bus)) < 0) {
		free(gqs);
		free(ex);
		free(sq);
		return gqs == NULL ? SHMQ_ERR(SHMQ_ENOMEM, "subscribe") : err;
	}
	err = shmq__oset_get_locked(c->bus, cg->g,
	    cg->model == SHMQ_GROUP_BROADCASTING ? cg->instance : "", t, nq,
	    retry ? SHMQ_SEEK_FIRST : cg->start, cg->start_ms, gqs);
	shmq__admin_unlock(c->bus);
	if (err < 0) {
		free(gqs);
		free(ex);
		free(sq);
		SHMQ_ERR_PREFIX("group \"%s\"", cg->g->name);
		return err;
	}
	nt[cg->ntopics].t = t;
	nt[cg->ntopics].gqs = gqs;
	nt[cg->ntopics].nq = nq;
	nt[cg->ntopics].expr = ex;
	nt[cg->ntopics].sql = sq;
	nt[cg->ntopics].retry = retry;
	cg->ntopics++;
	shmq__consumer_update_multi(c);
	if (cg->model == SHMQ_GROUP_BROADCASTING)
		return follow_all(c, &nt[cg->ntopics - 1], 0);
	return 0;
}

/*
 * Queues of topics that grew (topicadmin.c): extend the group's offsets
 * and this member's count; a broadcasting member follows the new queues
 * at once, a clustering one through assign().  The topic's generation
 * bump brought us here.
 */
static int
topics_grow(struct shmq_consumer *c)
{
	struct shmq_cgroup *cg = c->grp;
	struct shmq_group_queue **ng;
	struct shmq_gtopic *gt;
	uint32_t nq, old;
	size_t ti;
	int err;

	for (ti = 0; ti < cg->ntopics; ti++) {
		gt = &cg->topics[ti];
		/* Grows the view in place (topic.c). */
		(void)shmq__topic_by_id(c->bus, gt->t->id);
		if ((nq = ck_pr_load_32(&gt->t->queues)) <= gt->nq)
			continue;
		if ((ng = reallocarray(gt->gqs, nq, sizeof(*ng))) == NULL)
			return SHMQ_ERR(SHMQ_ENOMEM, "group rebalance");
		gt->gqs = ng;
		if ((err = shmq__admin_lock(c->bus)) < 0)
			return err;
		err = shmq__oset_get_locked(c->bus, cg->g,
		    cg->model == SHMQ_GROUP_BROADCASTING ? cg->instance : "",
		    gt->t, nq, SHMQ_SEEK_FIRST, 0, ng);
		shmq__admin_unlock(c->bus);
		if (err < 0) {
			SHMQ_ERR_PREFIX("group \"%s\"", cg->g->name);
			return err;
		}
		old = gt->nq;
		gt->nq = nq;
		if (cg->model == SHMQ_GROUP_BROADCASTING &&
		    (err = follow_all(c, gt, old)) < 0)
			return err;
	}
	return 0;
}

static int
subscribe(struct shmq_consumer *c, const char *topic, const char *expr,
    const char *sql)
{
	struct shmq_topic *t;
	int err;

	if (c == NULL || c->grp == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "subscribe: not a group consumer");
	if ((err = shmq__topic_get(c->bus, topic, false, 0, &t)) < 0)
		return err;
	if (strcmp(t->name, c->grp->retry_topic) == 0)
		return SHMQ_ERR(SHMQ_EINVAL, "subscribe: topic \"%s\" is "
		    "the group's retry topic (its members follow it on their "
		    "own)", t->name);
	if ((err = gtopic_add(c, t, expr, sql, false)) < 0)
		return err;
	if (c->grp->model == SHMQ_GROUP_BROADCASTING)
		return 0;
	return rebalance(c);
}

int
shmq_consumer_subscribe(struct shmq_consumer *c, const char *topic,
    const char *expr)
{
	return subscribe(c, topic, expr, NULL);
}

int
shmq_consumer_subscribe_sql(struct shmq_consumer *c, const char *topic,
    const char *sql)
{
	return subscribe(c, topic, NULL, sql);
}

void
shmq__group_close(struct shmq_consumer *c)
{
	struct shmq_cgroup *cg = c->grp;
	struct shmq_bus *bus = c->bus;
	int64_t i;
	uint32_t n;

	if (cg == NULL)
		return;
	while (c->nsubs > 0)
		release_sub(c, c->nsubs - 1);
	if (shmq__admin_lock(bus) == 0) {
		struct shmq_group_members *a = members_get(bus, cg->g, &n);

		if (a != NULL && (i = member_find(bus, cg->g, cg->token)) >= 0) {
			member_remove(a, n, (uint32_t)i);
			shmq__group_bump(bus, cg->g);
		}
		shmq__admin_unlock(bus);
	}
	(void)shmq__offsets_save(bus, cg->g, true, false);
	c->grp = NULL;
	cgroup_free(cg);
}
