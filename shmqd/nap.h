/*
 * nap.h - the sleep every shmqd thread takes between passes: until a time
 * or a broadcast on its condition variable (a stop, a reload).
 */
#ifndef SHMQD_NAP_H
#define SHMQD_NAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/*
 * Wait on COND (made with CLOCK_MONOTONIC; LOCK held) for MS at most,
 * unless *STOP already says stop.  Returns *STOP.
 */
static inline bool
shmqd_nap(pthread_cond_t *cond, pthread_mutex_t *lock, const bool *stop,
    uint32_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if (!*stop)
		pthread_cond_timedwait(cond, lock, &ts);
	return *stop;
}

#endif
