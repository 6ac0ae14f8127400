/*
 * group.h - consumer groups: the group table in the control region,
 * membership (join, leave, liveness), the generation, and the clustering
 * assignment with its ownership handover.  Committed offsets and their
 * persistence are in offsets.h.
 *
 * The per-poll part is inline here (shmq__group_enter): a coarse clock read
 * (vDSO, no syscall), a store of the heartbeat when that clock has moved,
 * the auto-commit of positions that moved (a CAS each, local loads
 * otherwise), and one load of the group's generation.  Everything else
 * runs in shmq__group_slow, when the generation moved, a handover is
 * pending, or the member's 100 ms tick is due.
 */
#ifndef SHMQ_GROUP_H
#define SHMQ_GROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "bus.h"
#include "consumer.h"
#include "internal.h"
#include "layout.h"
#include "retry.h"

/* Member tick: liveness scan (one member per group does it), heartbeat
 * time for shmq-stat, periodic save. */
#define SHMQ_GROUP_TICK_MS	100
/* A member whose heartbeat is older than this has its process checked. */
#define SHMQ_GROUP_SUSPECT_MS	250
/* Offsets are saved at most this often while they change. */
#define SHMQ_GROUP_SAVE_MS	1000
#define SHMQ_GROUP_TIMEOUT_MS	3000

/* s->committed of a sub whose commit met another writer: no more commits
 * until the next generation says what happened (reset or takeover). */
#define SHMQ_COMMIT_CONFLICT	UINT64_MAX

/*
 * A queue's committed word (struct shmq_group_queue, and s->committed, the
 * word a member last saw): the offset in the low 48 bits, a count of
 * resets in the high 16.  A member commits by CAS from the word it saw, so
 * a reset in between makes that CAS fail even when the reset chose the
 * very offset the member had seen.
 */
#define SHMQ_COMMIT_OFF_BITS	48
#define SHMQ_COMMIT_OFF_MASK	((UINT64_C(1) << SHMQ_COMMIT_OFF_BITS) - 1)

static inline uint64_t
shmq__commit_off(uint64_t w)
{
	return w & SHMQ_COMMIT_OFF_MASK;
}

/* W with its offset replaced by OFF (same reset count). */
static inline uint64_t
shmq__commit_with(uint64_t w, uint64_t off)
{
	return (w & ~SHMQ_COMMIT_OFF_MASK) | (off & SHMQ_COMMIT_OFF_MASK);
}

/* The word a reset to OFF stores over W: one more reset. */
static inline uint64_t
shmq__commit_reset(uint64_t w, uint64_t off)
{
	return ((w & ~SHMQ_COMMIT_OFF_MASK) +
	    (UINT64_C(1) << SHMQ_COMMIT_OFF_BITS)) |
	    (off & SHMQ_COMMIT_OFF_MASK);
}

/* A subscribed topic of a group consumer. */
struct shmq_gtopic {
	struct shmq_topic	*t;
	struct shmq_group_queue	**gqs;	/* [nq], in the control region */
	uint32_t		 nq;	/* queues the group uses: t->queues
					   when last looked at (grows at a
					   rebalance, group.c topics_grow) */
	char			*expr;	/* as given; NULL: all */
	char			*sql;	/* SQL92 filter as given, or NULL */
	bool			 retry;	/* the group's retry topic */
};

/* A queue this member was allocated and waits to take over. */
struct shmq_gpend {
	uint32_t		 ti;	/* index in topics */
	uint32_t		 q;
};

/* Process-local state of a group member. */
struct shmq_cgroup {
	struct shmq_group_ctl	*g;
	uint32_t		 gid;
	uint32_t		 model;
	uint32_t		 strategy;
	int			 start;
	uint64_t		 start_ms;
	bool			 auto_commit;
	bool			 need_slow;
	uint32_t		 timeout_ms;
	char			 instance[SHMQ_NAME_MAX + 1];
	char			 self_id[SHMQ_NAME_MAX + 2];
	uint64_t		 token;		/* our client claim token */
	uint64_t		 gen;		/* generation acted upon */
	uint64_t		 resets;
	uint64_t		 beat_ms;	/* last heartbeat stored */
	uint64_t		 tick_due_ms;
	struct shmq_gtopic	*topics;
	size_t			 ntopics;
	struct shmq_gpend	*pend;
	size_t			 npend;
	/* Members at generation gen: tokens and allocation ids (sorted). */
	uint64_t		*mtok;
	size_t			 nmembers;
	const char		**ids;
	char			*idbuf;
	/* Retries (retry.c): settings, own topics, a producer made on the
	 * first retry, and whether the retry topic is subscribed. */
	struct shmq_retry_cfg	 retry;
	char			 retry_topic[SHMQ_NAME_MAX + 1];
	char			 dlq_topic[SHMQ_NAME_MAX + 1];
	struct shmq_producer	*rp;
	bool			 retry_sub;
	/* Push consumer hook (push.c; NULL: none).  Called in the polling
	 * thread, with sub S still in place, before the member stops
	 * consuming S from its position: it lets the queue go
	 * (SHMQ_DROP_RELEASE, before the owner word is cleared), found it
	 * taken over (SHMQ_DROP_LOST), or a reset moves its position
	 * (SHMQ_DROP_RESET).  It may block (to let callbacks finish). */
	void			(*drop_hook)(void *arg, struct sub *s,
				    int why);
	void			*drop_arg;
};

#define SHMQ_DROP_RELEASE	0
#define SHMQ_DROP_LOST		1
#define SHMQ_DROP_RESET		2

/* CLOCK_MONOTONIC_COARSE in ms: a read of the vDSO page, no syscall. */
static inline uint64_t
shmq__coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Everything but the per-poll fast path (see the top). */
int shmq__group_slow(struct shmq_consumer *c, uint64_t now_ms);

/*
 * Commit the position of every held queue that moved (auto-commit).  A CAS
 * from what we last saw: a reset or a takeover in between makes it fail,
 * and the sub commits no more until the next generation is acted upon.
 */
static inline void
shmq__group_commit_moved(struct shmq_consumer *c)
{
	struct sub *s;
	uint64_t w;
	size_t i;

	for (i = 0; i < c->nsubs; i++) {
		s = &c->subs[i];
		if (s->committed == SHMQ_COMMIT_CONFLICT ||
		    s->pos == shmq__commit_off(s->committed))
			continue;
		w = shmq__commit_with(s->committed, s->pos);
		if (ck_pr_cas_64(&s->gq->committed, s->committed, w))
			s->committed = w;
		else {
			s->committed = SHMQ_COMMIT_CONFLICT;
			c->grp->need_slow = true;
		}
	}
}

/* Per poll call of a group member (see the top).  0 or a code. */
static inline int
shmq__group_enter(struct shmq_consumer *c)
{
	struct shmq_cgroup *cg = c->grp;
	uint64_t now = shmq__coarse_ms();

	if (now != cg->beat_ms) {
		cg->beat_ms = now;
		ck_pr_store_64(&c->slot->beat_ms, now);
	}
	if (cg->auto_commit)
		shmq__group_commit_moved(c);
	if (unlikely(ck_pr_load_64(&cg->g->generation) != cg->gen ||
	    cg->npend != 0 || cg->need_slow || now >= cg->tick_due_ms))
		return shmq__group_slow(c, now);
	return 0;
}

/* Leave the group: commit (auto-commit), let the queues go, save. */
void shmq__group_close(struct shmq_consumer *c);

/* Remove the gone members of every group (shmqd).  Returns how many. */
unsigned shmq__group_reap_all(struct shmq_bus *bus);

/* Group ID's control block, or NULL. */
struct shmq_group_ctl *shmq__group_ctl(struct shmq_bus *bus, uint32_t id);

/* Lock-free lookup: 0 and *out, or SHMQ_ENOGROUP. */
int shmq__group_find(struct shmq_bus *bus, const char *name,
    struct shmq_group_ctl **out);

/* Find or make group NAME (admin lock held).  0 and *out, or a code. */
int shmq__group_get_locked(struct shmq_bus *bus, const char *name,
    uint32_t model, uint32_t strategy, struct shmq_group_ctl **out);

/* The group's member array if its header and extent check, else NULL. */
struct shmq_group_members *shmq__group_members(struct shmq_bus *bus,
    const struct shmq_group_ctl *g);

/* Bump the generation (admin lock held) and wake the members. */
void shmq__group_bump(struct shmq_bus *bus, struct shmq_group_ctl *g);

/* The allocation id of member M: its instance, else "~slot.gen". */
void shmq__member_id(const struct shmq_group_member *m, char *buf,
    size_t len);

#endif
