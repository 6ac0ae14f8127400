/*
 * groupsync.h - consumer-group offsets carried from a topic's home bus to
 * its mirrors (federate/replhome.c reads them, federate/replmirror.c
 * applies them), so that a group can move to a mirror and go on from
 * where it was: a mirror keeps the home's queue offsets, so the home's
 * committed offsets mean the same messages there.
 *
 * What is carried: for one topic, every committed offset of every group
 * of the home bus (clustering: the group's; broadcasting: each
 * instance's), system groups ('%' names) excepted: they are the bus's own
 * (the delay scheduler, the transaction checker).
 *
 * How it is applied: forward only.  A mirror's committed offset becomes
 * the home's when the home's is higher, and is otherwise kept.  A group
 * that moved to the mirror and consumes there runs ahead of the offsets
 * its home keeps (and sends again after every restart), so they never
 * pull it back; the price is that a backward reset on the home
 * (shmq_group_reset to an earlier time) does not reach the mirror: reset
 * the mirror's group too.  A group or offset set the mirror lacks is made
 * (the home's model; the default allocation strategy), its other queues
 * from their first message.  Live members on the mirror pick a moved
 * offset up as after shmq_group_reset (the group's resets and generation
 * move, the queue's committed word gets one more reset).  The offsets are
 * saved in the mirror's store like any group's (offsets.h).
 */
#ifndef SHMQ_GROUPSYNC_H
#define SHMQ_GROUPSYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "layout.h"

/* One committed offset of one group, for one queue of one topic. */
struct shmq_goff {
	const char	*group;
	const char	*instance;	/* broadcasting: whose; clustering: "" */
	uint32_t	 model;		/* SHMQ_GROUP_* */
	uint32_t	 queue;
	uint64_t	 committed;	/* next offset to consume */
};

/*
 * Call CB(ARG, o) for every committed offset of topic T's queues below NQ
 * (and below T's view's count) held by the bus's groups, system groups
 * excepted, in group order.  Lock-free (reads what the control region
 * publishes with release; values may move meanwhile).  Stops and returns
 * CB's value if it is not 0; else 0.  No allocation.
 */
int shmq__goff_foreach(struct shmq_bus *bus, struct shmq_topic *t,
    uint32_t nq, int (*cb)(void *arg, const struct shmq_goff *o), void *arg);

/* Applying a batch of offsets to one mirror topic (see the top). */
struct shmq_goff_apply {
	struct shmq_bus		*bus;
	struct shmq_topic	*t;
	/* The group and offset set of the last offset: a batch comes
	 * group by group, so most offsets reuse them. */
	struct shmq_group_ctl	*g;
	bool			 g_moved;	/* an offset of G moved */
	char			 instance[SHMQ_NAME_MAX + 1];
	bool			 have_set;
	struct shmq_group_queue	*gqs[SHMQ_MAX_QUEUES];
	/* Groups to save at the end (ids). */
	uint32_t		*save;
	size_t			 nsave, capsave;
	/* What the batch did, for the caller's figures and log. */
	uint64_t		 moved;		/* offsets moved forward */
	uint64_t		 kept;		/* already there or ahead */
	uint64_t		 dropped;	/* queue beyond T's, a system
						   group, or a local group of
						   that name with the other
						   model */
};

/*
 * Start a batch on mirror topic T of BUS: takes the admin lock until
 * shmq__goff_apply_end, which must follow once this returned 0, whatever
 * the applies return.  A is the caller's.  0, SHMQ_EINVAL (T is not a
 * mirror), or the lock's code (nothing locked).
 */
int shmq__goff_apply_begin(struct shmq_goff_apply *a, struct shmq_bus *bus,
    struct shmq_topic *t);

/*
 * Apply O (forward only, see the top).  A queue at or beyond T's count is
 * dropped (a->dropped), not grown: the topic grows with the home's
 * REPL_STATE, which comes first.  Returns 0, SHMQ_ENAME (group or
 * instance not a name, or an instance that does not fit the model),
 * SHMQ_EINVAL (model unknown, offset above 2^48 - 1), or a code from
 * making the group or its offset set (SHMQ_ELIMIT, SHMQ_ENOMEM...).
 */
int shmq__goff_apply(struct shmq_goff_apply *a, const struct shmq_goff *o);

/*
 * End the batch: tell the live members of each group whose offsets moved
 * (resets and generation, a wake), let the admin lock go, and save every
 * group that changed to the store (unsynced, as members' periodic saves).
 * Returns 0 or the first save's code; A's figures stay.
 */
int shmq__goff_apply_end(struct shmq_goff_apply *a);

#endif
