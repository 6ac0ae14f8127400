/*
 * reaper.h - shmqd's reaper: dead clients' slots freed, their unfinished
 * reservations (index entries still claimed) made holes, the dead members
 * of consumer groups removed.  The library does each of these lazily when
 * another client needs it (a reader after stall_ms, a registration, a
 * member's liveness scan); the reaper does them within one interval even
 * when no client runs.
 */
#ifndef SHMQD_REAPER_H
#define SHMQD_REAPER_H

#include <stdint.h>

struct shmq_bus;

struct reaper {
	struct shmq_bus	*bus;
	uint64_t	**lo;		/* per topic id, per queue: entries
					   below are settled */
	uint32_t	 *nq;		/* queues per lo[] row */
	uint32_t	  ntopics;
	/* Totals. */
	uint64_t	  clients;	/* slots of dead processes freed */
	uint64_t	  holes;	/* dead claims made holes */
	uint64_t	  members;	/* dead group members removed */
	uint64_t	  passes;
};

void reaper_init(struct reaper *r, struct shmq_bus *bus);
void reaper_fini(struct reaper *r);

/* One pass.  Returns how many things it reaped. */
uint64_t reaper_pass(struct reaper *r);

#endif
