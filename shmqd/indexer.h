/*
 * indexer.h - shmqd's key indexer: the thread that follows the commitlog
 * from the key index's recorded end up to the flush's safe point
 * (flushed_off: everything below is whole and final) and adds every
 * record's keys to the index files (libshmq/keyindex.h), off the send
 * path.  Messages stored while shmqd did not run are indexed when it next
 * runs, from the recorded end.
 */
#ifndef SHMQD_INDEXER_H
#define SHMQD_INDEXER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct shmq_bus;

struct indexer {
	struct shmq_bus	*bus;
	pthread_t	 th;
	bool		 running;
	uint8_t		 stop;		/* ck_pr: set by indexer_stop */
	/* Totals, read after the join. */
	uint64_t	 records;	/* records with keys indexed */
	uint64_t	 keys;
	uint64_t	 files;		/* files made */
	uint64_t	 errors;
};

/* Start the thread on BUS: 0, or -1. */
int indexer_start(struct indexer *x, struct shmq_bus *bus);

/* Stop and join (after one last pass); no-op if not started. */
void indexer_stop(struct indexer *x);

#endif
