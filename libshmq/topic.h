/*
 * topic.h - topics: the table in the control region (name hash, topic and
 * queue control blocks), their directories in the store, and this process's
 * cached views of them.
 */
#ifndef SHMQ_TOPIC_H
#define SHMQ_TOPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "wait.h"

/*
 * Find topic NAME; with CREATE, create it with QUEUES queues (0: the bus
 * default) if missing.  Returns 0 and *out (valid while the bus is open),
 * SHMQ_ENAME, SHMQ_ENOTOPIC, or a creation error.  Lock-free when the topic
 * exists and this process has seen it before.  Names that start with '%' are
 * found but never created here (SHMQ_ENAME): see shmq__topic_get_reserved.
 */
int shmq__topic_get(struct shmq_bus *bus, const char *name, bool create,
    unsigned queues, struct shmq_topic **out);

/* As shmq__topic_get with CREATE, for the bus's own topics, whose names
 * start with '%' (which shmq__topic_get does not create). */
int shmq__topic_get_reserved(struct shmq_bus *bus, const char *name,
    unsigned queues, struct shmq_topic **out);

/* Topic NAME if it exists, else NULL; sets no error detail. */
struct shmq_topic *shmq__topic_find(struct shmq_bus *bus, const char *name);

/* The process-local view of topic ID (making it if needed), or NULL. */
struct shmq_topic *shmq__topic_by_id(struct shmq_bus *bus, uint32_t id);

/*
 * Recovery: put topic NAME with QUEUES queues, permission FLAGS
 * (SHMQ_TOPIC_F_NOWRITE, _NOREAD) and RETENTION_MS into a control region
 * that is not yet published (no disk writes).  Returns 0 or a code.
 */
int shmq__topic_install(struct shmq_bus *bus, const char *name,
    unsigned queues, uint32_t flags, uint64_t retention_ms);

/* Grow view T to its topic's queue count if it grew (a failure leaves
 * the view as it was: callers compare t->queues). */
void shmq__topic_view_refresh(struct shmq_bus *bus, struct shmq_topic *t);

/*
 * Tell T's sleepers that an entry was committed: the add is a locked
 * instruction, so the commit is visible before a sleeper can re-check
 * (ck_ec's protocol).  A process killed before this leaves its message
 * unannounced: sleepers find it within a second (consumer.c
 * SLEEP_MAX_NS).  The bus doorbell rings too while a multi-topic consumer
 * holds a lease on T (consumer.c doorbell_lease): the commit and add come
 * before the load of the lease, which pairs with the CAS and fence there
 * (Dekker: the sleeper sees the entry, or we see its lease).  NOW is a
 * time taken before the write: it errs on the side of ringing.
 */
static inline void
shmq__topic_announce(struct shmq_bus *bus, struct shmq_topic *t,
    uint64_t now)
{
	ck_ec64_inc(&t->tc->ec, &shmq__ec_mp);
	ck_pr_fence_atomic_load();
	if (unlikely(ck_pr_load_32(&t->tc->bus_waiters) >=
	    shmq__lease_units(now)))
		ck_ec64_inc(&bus->ctl->doorbell, &shmq__ec_mp);
}

/* Topic ID's control block (any state), or NULL. */
struct shmq_topic_ctl *shmq__topic_ctl(struct shmq_bus *bus, uint32_t id);

/* Control block of queue Q of the topic at TC (checked), or NULL. */
struct shmq_queue_ctl *shmq__topic_queue_ctl(struct shmq_bus *bus,
    struct shmq_topic_ctl *tc, uint32_t q);

/*
 * Write the topic's meta file, consumequeue/<NAME>/meta: "queues=N", then
 * "perm=P" and "retention_ms=M" when not the defaults (older versions read
 * the first line only).  SYNC: fdatasync before the rename.  0 or a code.
 */
int shmq__topic_meta_write(struct shmq_bus *bus, const char *name,
    unsigned queues, uint32_t flags, uint64_t retention_ms, bool sync);

/* Read DIR/meta: 0 with the queue count (>= 1), the permission flags and
 * the retention; -1 if missing or without a usable queue count. */
int shmq__topic_meta_read(const char *dir, unsigned *queues,
    uint32_t *flags, uint64_t *retention_ms);

/* Set SET and clear CLEAR in TC's flags, and count one update more, after
 * a store fence (topicadmin.c; admin lock held). */
void shmq__topic_flags_change(struct shmq_topic_ctl *tc, uint32_t set,
    uint32_t clear);

/* Slow path of shmq__topic_writable: see there. */
int shmq__topic_writable_slow(struct shmq_bus *bus, struct shmq_topic *t);

/*
 * May this process send to T now?  0, SHMQ_ETOPICPERM (no write
 * permission) or SHMQ_ENOTOPIC (deleted).  One load of the topic's flags,
 * which share a line with the event count every send bumps, against the
 * value this view last saw them writable with; any update (permissions,
 * queue count) changes the word and takes the slow path once, which also
 * grows the view.
 */
static inline int
shmq__topic_writable(struct shmq_bus *bus, struct shmq_topic *t)
{
	if (likely(ck_pr_load_32(&t->tc->flags) ==
	    ck_pr_load_32(&t->ok_flags)))
		return 0;
	return shmq__topic_writable_slow(bus, t);
}

/*
 * Recovery (topicadmin.c): was the record at LOG_OFF of topic NAME written
 * before NAME was deleted?  Reads the store's tombstones on first use.
 */
bool shmq__tombstone_hides(struct shmq_bus *bus, const char *name,
    uint64_t log_off);

/* Drop what shmq__tombstone_hides read. */
void shmq__tombstones_free(struct shmq_bus *bus);

/* Is T readable now (not deleted, read allowed)?  One load, as above. */
static inline bool
shmq__topic_readable(const struct shmq_topic *t)
{
	return (ck_pr_load_32((uint32_t *)(uintptr_t)&t->tc->flags) &
	    (SHMQ_TOPIC_F_NOREAD | SHMQ_TOPIC_F_DELETED)) == 0;
}

/* Directory of queue Q of TOPIC in the store, into BUF. */
int shmq__queue_dir(const struct shmq_bus *bus, const char *topic,
    uint32_t q, char *buf, size_t len);

/* Free this process's topic views (bus close). */
void shmq__topics_free(struct shmq_bus *bus);

#endif
