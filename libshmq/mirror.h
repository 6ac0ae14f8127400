/*
 * mirror.h - a mirror topic: this bus's copy of a topic whose home is
 * another host, written only by shmqd's replication (federate/replmirror.c)
 * and read by local consumers like any topic.
 *
 * A mirror keeps its home's queue offsets: entry n of a mirror queue holds
 * the message at offset n of the home's, or is a hole where the home has
 * one.  Its records carry the id the message has at its home
 * (SHMQ_REC_F_ORIGIN, layout.h), and the home's born and store times.
 *
 * One writer per mirror topic (the thread that replicates it), so entries
 * are written without claims: fields first, then the state goes from EMPTY
 * to COMMITTED in one step, then the queue's tail hint passes it.  A writer
 * killed at any instruction leaves either nothing (the entry is still
 * EMPTY at the tail: it is written again), or a whole record that recovery
 * may index at its queue offset (then it is there, and the resume skips
 * it): never a hole where the home has a message, and never a duplicate.
 */
#ifndef SHMQ_MIRROR_H
#define SHMQ_MIRROR_H

#include <stdint.h>

#include "bus.h"
#include "msg.h"

/*
 * Find or make NAME as a mirror with at least QUEUES queues (grown if the
 * home grew).  Returns 0 and *out, SHMQ_EEXIST (a local topic of that name
 * that is not a mirror, or one that local producers already wrote: nothing
 * changed), SHMQ_ENAME, or another code, with detail.
 */
int shmq__mirror_topic(struct shmq_bus *bus, const char *name,
    unsigned queues, struct shmq_topic **out);

/* The offset from which mirror queue Q of T needs messages: its first
 * EMPTY entry from the tail hint on. */
uint64_t shmq__mirror_next(struct shmq_bus *bus, struct shmq_topic *t,
    uint32_t q);

/* Where a message goes in a mirror queue. */
struct shmq_mirror_pos {
	uint32_t	queue;
	uint64_t	queue_off;
	uint64_t	born_ns;
	uint64_t	store_ns;
	uint64_t	producer_id;
	uint32_t	reconsume;
	uint64_t	home_min;	/* the home's first stored offset of
					   the queue, as last told */
};

/*
 * Store M at POS in mirror T.  Entries between the queue's next offset
 * and POS->queue_off become holes (the home has holes there); in a queue
 * that holds nothing yet, those below POS->home_min are skipped instead
 * (reclaimed at the home: the queue starts there).  An offset already held is a duplicate
 * and is dropped.  Returns 1 stored, 0 dropped, or SHMQ_ENOSPC,
 * SHMQ_ETOOBIG, SHMQ_ENOQUEUE, SHMQ_ECORRUPT (the entry is not ours to
 * write), with detail.
 */
int shmq__mirror_put(struct shmq_bus *bus, struct shmq_topic *t,
    const struct shmq_mirror_pos *pos, const struct shmq_raw *m);

/* Make entries up to END (excluded) of mirror queue Q of T holes, those
 * below HOME_MIN skipped in an empty queue, as shmq__mirror_put does.  0
 * or a code. */
int shmq__mirror_fill(struct shmq_bus *bus, struct shmq_topic *t,
    uint32_t q, uint64_t end, uint64_t home_min);

#endif
