/*
 * consumer.h - the pull consumer's process-local state, shared by
 * consumer.c (reading and waiting) and group.c (which queues a group
 * member follows).  Nothing here lives in shared memory.
 */
#ifndef SHMQ_CONSUMER_H
#define SHMQ_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "layout.h"

struct shmq_cgroup;

/* One followed queue. */
struct sub {
	struct shmq_topic	*t;
	struct shmq_cq		*cq;
	uint64_t		 pos;
	struct shmq_tagexpr	*expr;
	struct shmq_sqlfilter	*sql;		/* NULL: no SQL92 filter */
	bool			 hold;		/* a group's retry queue: hold
						   the head until it is due */
	uint64_t		 stall_state;	/* claim seen at pos */
	uint64_t		 stall_pos;
	uint64_t		 stall_since;	/* mono ns; 0: not read yet */
	uint32_t		 stall_looks;	/* looks before the clock */
	uint32_t		 empty_looks;	/* looks before the tail */
	uint64_t		 lost_below;	/* entries below were claimed */
	uint64_t		 lost_since;	/* ... by mono ns; 0: none */
	uint64_t		 idle_ec;	/* topic count when found idle */
	uint32_t		 idle_looks;
	/* Group members only (else NULL / 0). */
	struct shmq_group_queue	*gq;		/* owner word, committed */
	uint64_t		 committed;	/* what we last saw there */
};

struct shmq_consumer {
	struct shmq_bus			*bus;
	struct shmq_client_slot		*slot;
	uint32_t			 slot_idx;
	struct sub			*subs;
	size_t				 nsubs;
	size_t				 next;		/* fairness */
	bool				 multi_topic;
	bool				 sleeping;	/* in sleep_poll */
	uint64_t			 spin_ns;
	uint64_t			 stall_ns;
	struct shmq_cgroup		*grp;		/* NULL: plain */
};

/*
 * Follow queue Q of T from POS with tag expression EXPR (parsed here; NULL
 * or "*": all).  Returns 0 and the new sub in *out (valid until the next
 * add or remove), or SHMQ_EBADEXPR / SHMQ_ENOMEM.
 */
int shmq__consumer_sub_add(struct shmq_consumer *c, struct shmq_topic *t,
    uint32_t q, const char *expr, uint64_t pos, struct sub **out);

/*
 * Give sub S the SQL92 filter SQL (NULL: none), replacing its own.
 * 0, SHMQ_EBADEXPR (with the position) or SHMQ_ENOMEM.
 */
int shmq__consumer_sub_sql(struct sub *s, const char *sql);

/* Stop following sub I (the last one moves into its place). */
void shmq__consumer_sub_remove(struct shmq_consumer *c, size_t i);

/* Recompute which event count the consumer sleeps on. */
void shmq__consumer_update_multi(struct shmq_consumer *c);

#endif
