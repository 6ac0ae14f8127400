/*
 * retention.h - reclaiming the store: commitlog segments older than the
 * retention time or beyond the disk ceilings, the index entries and files
 * that pointed into them, and refusing writes above the hard ceiling.
 *
 * One reclaimer per bus (shmqd's; its pidfile makes it one) calls
 * shmq__retain_pass.  Everyone else only has to cope with what it does:
 * log_min_off and each queue's min_off rise (release), files below them are
 * unlinked, and a record or index entry below them reads as
 * SHMQ_ERECLAIMED, which readers skip.  Mappings of unlinked files keep
 * their disk space until every process drops them: each process replaces
 * its own by empty memory a grace period after it first sees them
 * reclaimed (shmq__retain_release), so a view handed out just before the
 * reclaim stays readable for that long.
 */
#ifndef SHMQ_RETENTION_H
#define SHMQ_RETENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"

/* A view of a reclaimed file stays mapped at least this long. */
#define SHMQ_RELEASE_GRACE_NS	(10ull * 1000000000ull)

/* The grace of this process: SHMQ_RELEASE_GRACE_MS from the environment
 * (tests shorten it), else SHMQ_RELEASE_GRACE_NS. */
uint64_t shmq__retain_grace_ns(void);

/* Milliseconds in environment variable VAR (0 to an hour) as ns, else
 * DEF_NS. */
uint64_t shmq__grace_env_ns(const char *var, uint64_t def_ns);

/*
 * The trash: a deleted topic's index directory is renamed into it (one
 * atomic step out of consumequeue/, topicadmin.c) and removed from there.
 * A crash or a failure while removing leaves the rest, which the next
 * deletion, the next retention pass and the next rebuild of the bus
 * remove.
 */
#define SHMQ_TRASH_DIR		"deleted"

/* Remove everything in the store's trash.  Safe while deletions run
 * (removal only; a mapping of a removed file stays valid).  No error:
 * what is left is removed next time. */
void shmq__retain_trash(struct shmq_bus *bus);

struct shmq__retain_conf {
	uint64_t	retention_ms;	/* bus default; topics may say more or
					   less (shmq_topic_ctl.retention_ms) */
	uint64_t	store_max_bytes; /* above: reclaim the oldest, expired
					   or not; 0: no limit */
	uint64_t	store_hard_bytes; /* above: refuse writes; 0: none */
	uint32_t	disk_reclaim_pct; /* file system use above: reclaim the
					   oldest (RocketMQ's 85); 0: never */
	uint32_t	disk_refuse_pct; /* above: refuse writes (90); 0: never */
	bool		protect_unconsumed; /* keep what a group has not
					   consumed; refuse writes instead */
};

struct shmq__retain_result {
	/* This pass. */
	uint64_t	segs;		/* segments reclaimed */
	uint64_t	bytes;
	uint64_t	entries;	/* index entries dropped */
	uint64_t	unconsumed;	/* of those, unconsumed by some group */
	uint64_t	held;		/* segments due but kept for a group */
	char		held_by[128];	/* a topic that held them */
	/* State after it. */
	uint64_t	store_bytes;	/* bytes of the store's files */
	uint64_t	disk_free;	/* bytes free to us on its file system */
	uint32_t	disk_used_pct;
	bool		refused;	/* writes are refused now */
};

/*
 * Reclaim what C says is due, then set or clear the write refusal.  NOW_NS
 * is CLOCK_REALTIME (tests pass a time in the future).  Returns 0 (R
 * filled in), or a code with detail for a failure that left the store as
 * it was or partly reclaimed (never inconsistent: the next pass goes on).
 */
int shmq__retain_pass(struct shmq_bus *bus, const struct shmq__retain_conf *c,
    uint64_t now_ns, struct shmq__retain_result *r);

/*
 * This process: drop its mappings of reclaimed segments and index files
 * once they have been reclaimed for its grace period (replaced by
 * empty memory, so a stale pointer reads zeros instead of faulting).  Cheap
 * when nothing was reclaimed since the last call (one load).  Slow paths
 * only: it takes bus->lock.
 */
void shmq__retain_release(struct shmq_bus *bus);

#endif
