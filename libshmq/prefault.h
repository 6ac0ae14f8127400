/*
 * prefault.h - a per-bus-handle helper thread that keeps the commitlog
 * ahead of the tail created, preallocated and mapped writable in this
 * process, so that the producer neither takes a page fault nor makes a file
 * on the send path.  Started by producers only (consumer.c says why); it
 * backs off to ten looks a second while the log tail does not move.
 */
#ifndef SHMQ_PREFAULT_H
#define SHMQ_PREFAULT_H

#include "bus.h"

/* Start the thread if it is not running (idempotent).  0 or a code. */
int shmq__prefault_start(struct shmq_bus *bus);

/* Stop and join it (bus close). */
void shmq__prefault_stop(struct shmq_bus *bus);

#endif
