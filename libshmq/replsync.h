/*
 * replsync.h - sync replication in shared memory: the home's shmqd writes
 * how far each mirror holds each queue (queue_ctl.repl_acked, one slot per
 * mirror), and a producer in sync-replication mode waits there until K
 * mirrors hold its message (shmq_producer_set_repl).
 */
#ifndef SHMQ_REPLSYNC_H
#define SHMQ_REPLSYNC_H

#include <stdint.h>

#include "bus.h"

/*
 * Wait until K of the mirrors hold entries below END of queue Q of T, at
 * most TIMEOUT_MS.  0, or SHMQ_ETIMEDOUT with detail.
 */
int shmq__repl_wait(struct shmq_bus *bus, struct shmq_topic *t, uint32_t q,
    uint64_t end, unsigned k, uint32_t timeout_ms);

/*
 * The mirror in SLOT holds entries below END of queue Q of T: raise its
 * mark (RESET: set it, for a slot given to another mirror) and wake the
 * waiters.  0, or SHMQ_ENOQUEUE / SHMQ_EINVAL.
 */
int shmq__repl_ack(struct shmq_bus *bus, struct shmq_topic *t, uint32_t q,
    unsigned slot, uint64_t end, bool reset);

#endif
