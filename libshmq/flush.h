/*
 * flush.h - a periodic flush for a process that keeps the bus open while
 * others write (shmqd): put the log and the index on disk up to the point
 * below which every record is whole and indexed, then write a checkpoint
 * that says so, without claiming a clean shutdown.
 *
 * The invariant is the close path's (bus.c, store_sync): a checkpoint
 * reaches the disk only after everything it vouches for.  While producers
 * run, the log tail is not such a point: records below it may still be
 * being written or not yet indexed.  shmq__flush walks the log from the
 * last checkpoint and stops at the first record that is not both complete
 * (its size stored, release) and settled in its index (entry committed to
 * it, or a hole): that offset is the safe point.
 */
#ifndef SHMQ_FLUSH_H
#define SHMQ_FLUSH_H

#include <stdint.h>

#include "bus.h"

/* How long a zero-size gap must stay before the flush takes it for the
 * reservation of a dead writer and looks past it (as recovery does). */
#define SHMQ_FLUSH_GAP_NS	(1000ull * 1000 * 1000)

/* The flusher's state and statistics (process-local, caller memory). */
struct shmq_flusher {
	uint64_t	ckpt_off;	/* last checkpoint written (or read) */
	uint64_t	gap_off;	/* gap the walk last stopped at */
	uint64_t	gap_since_ns;
	/* Statistics of the last flush that wrote a checkpoint. */
	uint64_t	last_ns;	/* CLOCK_REALTIME when it ended */
	uint64_t	last_bytes;	/* log bytes it covered */
	uint64_t	last_dur_ns;
	uint64_t	lag_bytes;	/* log tail minus safe point */
	/* Totals. */
	uint64_t	flushes;	/* checkpoints written */
	uint64_t	bytes;
	uint64_t	gaps;		/* dead writers' gaps looked past */
	uint64_t	errors;
	/* Sync flush (server side). */
	uint64_t	sync_pos;	/* synced, every record below whole */
	uint64_t	sync_gap_off;	/* the sync walk's own gap state */
	uint64_t	sync_gap_since_ns;
	uint64_t	rounds;		/* syncs that published flushed_off */
};

/* A server that has not beaten for this long is taken for gone. */
#define SHMQ_SYNC_GRACE_NS	(250ull * 1000 * 1000)
/* The server beats at least this often, even idle. */
#define SHMQ_SYNC_BEAT_NS	(50ull * 1000 * 1000)

/* Start from the checkpoint on disk (or 0). */
void shmq__flush_init(struct shmq_bus *bus, struct shmq_flusher *f);

/*
 * Flush once: find the safe point, write the log and index files up to it
 * and the names of new files (shmq__store_sync), then the checkpoint
 * (clean = 0).  Returns 1 if a checkpoint was written, 0 if nothing new was
 * safe to vouch for, or a code with detail (the old checkpoint stays).
 * One caller per bus at a time; never while the bus is being closed.
 */
int shmq__flush(struct shmq_bus *bus, struct shmq_flusher *f);

/* The safe point from FROM (see the top), for tests.  Updates F's gap
 * state. */
uint64_t shmq__flush_safe_point(struct shmq_bus *bus, struct shmq_flusher *f,
    uint64_t from, uint64_t tail);

/*
 * Server (shmqd's flusher, one thread per bus): beat, and serve sync
 * requests until UNTIL_NS (CLOCK_MONOTONIC), sleeping on ctl->flush_req
 * meanwhile.  Returns 1 after a round that published flushed_off, 0 at
 * UNTIL_NS, or a code with detail.
 */
int shmq__flush_serve(struct shmq_bus *bus, struct shmq_flusher *f,
    uint64_t until_ns);

/* The server stops serving: senders fall back to syncing themselves. */
void shmq__flush_serve_stop(struct shmq_bus *bus);

/*
 * Sender: return once the record [OFF, END) (index entry at ENTRY, may be
 * NULL) is on disk: 0, SHMQ_ETIMEDOUT after TIMEOUT_MS, or a code with
 * detail.  FLAGS: SHMQ_SYNC_NO_SELF.
 */
int shmq__flush_wait(struct shmq_bus *bus, uint64_t off, uint64_t end,
    const void *entry, uint32_t timeout_ms, unsigned int flags);

#endif
