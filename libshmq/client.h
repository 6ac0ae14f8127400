/*
 * client.h - the client table: one slot per producer or consumer handle,
 * with the owner's pid and process start time, so that anyone can tell
 * whether the owner of an unfinished reservation is still alive (a reused
 * pid has another start time).
 */
#ifndef SHMQ_CLIENT_H
#define SHMQ_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"

/*
 * Take a free (or dead owner's) slot for this process with ROLE and NAME.
 * Returns 0 and the slot index and pointer, SHMQ_ELIMIT, or a code.
 */
int shmq__client_register(struct shmq_bus *bus, uint32_t role,
    const char *name, uint32_t *idx, struct shmq_client_slot **slot);

/* Give slot IDX back. */
void shmq__client_release(struct shmq_bus *bus, uint32_t idx);

/* Slot IDX, or NULL if out of range. */
struct shmq_client_slot *shmq__client_slot(struct shmq_bus *bus,
    uint32_t idx);

/* Is the process owning slot S alive (pid exists with its start time)? */
bool shmq__client_alive(const struct shmq_client_slot *s);

/*
 * Is the claimed index-entry state STATE from an earlier incarnation of the
 * control region (its token's epoch is not the bus's)?  Then its owner is
 * certainly dead: every process of that incarnation had closed the bus or
 * died before the region was rebuilt.  Cheap: no shared memory is read.
 * (Epochs are random, so one in 2^20 rebuilds reuses the old epoch; such a
 * claim is then found dead by shmq__claim_owner_dead after a stall.)
 */
static inline bool
shmq__claim_stale(const struct shmq_bus *bus, uint64_t state)
{
	return (uint32_t)(state >> (2 + SHMQ_TOKEN_SLOT_BITS +
	    SHMQ_TOKEN_GEN_BITS)) !=
	    (bus->epoch & ((1u << SHMQ_TOKEN_EPOCH_BITS) - 1));
}

/*
 * Is the owner of the claimed index-entry state STATE dead?  True for a
 * claim of an earlier control-region incarnation, a released or reused
 * slot, or a dead process.  Slow path (reads /proc).
 */
bool shmq__claim_owner_dead(struct shmq_bus *bus, uint64_t state);

/* The claim state a producer with slot IDX writes into entries it owns. */
uint64_t shmq__client_claim(struct shmq_bus *bus, uint32_t idx);

#endif
