/*
 * reclaimer.h - shmqd's retention thread: every interval, one retention
 * pass (libshmq/retention.h): segments past the retention time or beyond
 * the soft ceilings reclaimed, writes refused above the hard ones and
 * accepted again once space is free.  It logs what it reclaimed, a warning
 * when the file system passes disk_warn_pct, and each change of the
 * refusal.
 */
#ifndef SHMQD_RECLAIMER_H
#define SHMQD_RECLAIMER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "retention.h"

struct shmq_bus;

struct reclaimer {
	struct shmq_bus		*bus;
	pthread_t		 th;
	bool			 running;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	bool			 stop;		/* under lock */
	bool			 kick;		/* under lock: pass now */
	struct shmq__retain_conf conf;		/* under lock */
	uint32_t		 interval_ms;	/* under lock */
	uint32_t		 warn_pct;	/* under lock */
	/* The thread's. */
	bool			 refused;
	bool			 warned;
	uint64_t		 passes;
};

/* Start the thread.  0, or -1 if it cannot start. */
int reclaimer_start(struct reclaimer *r, struct shmq_bus *bus,
    const struct shmq__retain_conf *c, uint32_t interval_ms,
    uint32_t warn_pct);

/* New settings (SIGHUP), applied from the next pass, which runs now. */
void reclaimer_reload(struct reclaimer *r, const struct shmq__retain_conf *c,
    uint32_t interval_ms, uint32_t warn_pct);

/* Stop and join the thread; no-op if not started. */
void reclaimer_stop(struct reclaimer *r);

#endif
