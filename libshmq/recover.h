/*
 * recover.h - rebuilding the control region from the store, run by the
 * process that opens a bus nobody else has open.
 */
#ifndef SHMQ_RECOVER_H
#define SHMQ_RECOVER_H

#include "bus.h"

/*
 * Fill a fresh, unpublished control region from the store: topics, queue
 * tails, the commitlog tail (a torn tail cut at the last record whose CRC
 * holds, gaps left by dead writers skipped), index entries the commitlog
 * has but the index lacks, and holes where the index points past the log.
 * Returns 0 or a code.
 */
int shmq__recover(struct shmq_bus *bus);

/* Write the checkpoint: every record below OFF is indexed. */
int shmq__checkpoint_write(struct shmq_bus *bus, uint64_t off, int clean);

#endif
