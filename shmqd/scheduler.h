/*
 * scheduler.h - shmqd's delay scheduler: the thread that delivers delayed
 * messages (libshmq/delay.h has the design).  It idles, checking every
 * IDLE_MS, until the first delayed send makes the delay topic; then it
 * sleeps in the group consumer's poll until the next record is due (the
 * retry hold) or a producer writes the inbox, and wakes at most every
 * POLL_MS to see a stop.
 */
#ifndef SHMQD_SCHEDULER_H
#define SHMQD_SCHEDULER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <shmq/shmq.h>

struct shmq_bus;
struct shmq_delay;

struct scheduler {
	struct shmq_bus		*bus;
	uint32_t		 levels_ms[SHMQ_DELAY_LEVELS_MAX];
	uint32_t		 nlevels;	/* 0: RocketMQ's table */
	pthread_t		 th;
	bool			 running;
	uint8_t			 stop;		/* ck_pr: set by scheduler_stop */
	struct shmq_delay	*d;		/* the thread's */
	/* Totals, read after the thread is joined. */
	uint64_t		 delivered;
	uint64_t		 moved;
	uint64_t		 dropped;
	uint64_t		 errors;
};

/* Start the thread on BUS with level table LEVELS_MS[0..N) (N 0: the
 * default).  0, or -1 if the thread cannot start. */
int scheduler_start(struct scheduler *s, struct shmq_bus *bus,
    const uint32_t *levels_ms, uint32_t n);

/* Stop and join the thread (within POLL_MS); no-op if not started. */
void scheduler_stop(struct scheduler *s);

#endif
