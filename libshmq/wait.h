/*
 * wait.h - the operating-system half of ck_ec: futex wait and wake on
 * shared (non-private) futexes, CLOCK_MONOTONIC deadlines.  Only this file
 * knows about futexes.
 */
#ifndef SHMQ_WAIT_H
#define SHMQ_WAIT_H

#include <ck_ec.h>

/* Multi-producer mode: any process may increment. */
extern const struct ck_ec_mode shmq__ec_mp;

/*
 * Sleep until EC's value differs from OLD or DEADLINE_NS (CLOCK_MONOTONIC,
 * 0: none) passes.  A deadline ends the sleep at that time (within the
 * kernel's timer slack), not at some later step of a backoff schedule;
 * without one the thread sleeps until woken.  Returns 0 when the value
 * changed, -1 on timeout.  Callers that must notice a wake that never
 * comes (its sender died) pass a deadline.
 */
int shmq__ec_wait(struct ck_ec64 *ec, uint64_t old, uint64_t deadline_ns);

/*
 * Process-local sleep: while *WORD == EXPECTED, for at most TIMEOUT_NS.
 * May return early (a signal, a spurious wake).  For helper threads that
 * must stop promptly (shmq__word_wake after changing *WORD).
 */
void shmq__word_wait(int *word, int expected, uint64_t timeout_ns);

/* Wake every thread in shmq__word_wait on WORD. */
void shmq__word_wake(int *word);

/*
 * Doorbell leases (consumer.c, producer.c): CLOCK_REALTIME ns in units of
 * 2^30 ns (about 1.07 s), as kept in topic_ctl.bus_waiters.
 */
static inline uint32_t
shmq__lease_units(uint64_t real_ns)
{
	return (uint32_t)(real_ns >> 30);
}

#endif
