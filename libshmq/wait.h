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
 * 0: forever) passes.  Returns 0 when the value changed, -1 on timeout.
 */
int shmq__ec_wait(struct ck_ec64 *ec, uint64_t old, uint64_t deadline_ns);

#endif
