/*
 * wait.c - ck_ec operations over shared futexes (see wait.h).
 *
 * The futexes are not FUTEX_PRIVATE: waiter and waker are in different
 * processes, and a private futex in a MAP_SHARED page never wakes across
 * processes.  The 64-bit event count is waited on through its low 32 bits,
 * which hold the waiter flag and the low bits of the count.
 *
 * Deadlines.  ck_ec's slow path sleeps in the steps of an exponential
 * backoff (initial_wait_ns, times wait_scale_factor >> wait_shift_count,
 * until a second has passed, then the caller's deadline) and compares the
 * caller's deadline with the clock only between steps: a step is never cut
 * short at the deadline.  With a 100 ms first step, poll(1), poll(20) and
 * poll(99) all slept 100 ms, and poll(150) 200 ms.  The backoff is there
 * for ck_ec's single-producer mode, whose non-atomic increments may drop
 * the waiter flag; shmq only uses the multi-producer mode, where the flag
 * is set by CAS and cleared by the waker's atomic AND before its futex
 * wake, so a sleeper is never forgotten and waking it early buys nothing.
 * ec_pred, which ck_ec calls before every step with leave to change that
 * step's deadline, therefore makes every step end at the caller's deadline
 * (or a day away without one): one futex sleep per wait, ending on time.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "wait.h"

/* A wait without a deadline re-arms its futex this often: "forever". */
#define EC_FOREVER_SEC	86400

static int
ec_gettime(const struct ck_ec_ops *ops, struct timespec *out)
{
	(void)ops;
	return clock_gettime(CLOCK_MONOTONIC, out);
}

static void
ec_wait32(const struct ck_ec_wait_state *ws, const uint32_t *addr,
    uint32_t expected, const struct timespec *deadline)
{
	(void)ws;
	syscall(SYS_futex, addr, FUTEX_WAIT_BITSET, expected, deadline, NULL,
	    FUTEX_BITSET_MATCH_ANY);
}

static void
ec_wait64(const struct ck_ec_wait_state *ws, const uint64_t *addr,
    uint64_t expected, const struct timespec *deadline)
{
	/* Little endian: the low word holds the flag and low count bits. */
	ec_wait32(ws, (const uint32_t *)addr, (uint32_t)expected, deadline);
}

static void
ec_wake32(const struct ck_ec_ops *ops, const uint32_t *addr)
{
	(void)ops;
	syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void
ec_wake64(const struct ck_ec_ops *ops, const uint64_t *addr)
{
	ec_wake32(ops, (const uint32_t *)addr);
}

static const struct ck_ec_ops ec_ops = {
	.gettime = ec_gettime,
	.wait32 = ec_wait32,
	.wait64 = ec_wait64,
	.wake32 = ec_wake32,
	.wake64 = ec_wake64,
	/* The consumer spins before it gets here; ck_ec only needs a short
	 * spin of its own. */
	.busy_loop_iter = 16,
	/* Backoff steps: ec_pred replaces every step's deadline, so these
	 * only matter to a caller that bypasses shmq__ec_wait: then steps of
	 * 0.5 s and 1 s, and the deadline after that. */
	.initial_wait_ns = 500 * 1000 * 1000,
	.wait_scale_factor = 2,
	.wait_shift_count = 0,
};

const struct ck_ec_mode shmq__ec_mp = {
	.ops = &ec_ops,
	.single_producer = false,
};

/* Step deadline = the wait's deadline (ws->data; NULL: none).  See the
 * comment at the top. */
static int
ec_pred(const struct ck_ec_wait_state *ws, struct timespec *step)
{
	const struct timespec *dl = ws->data;

	if (dl != NULL) {
		*step = *dl;
	} else {
		step->tv_sec = ws->now.tv_sec + EC_FOREVER_SEC;
		step->tv_nsec = ws->now.tv_nsec;
	}
	return 0;
}

int
shmq__ec_wait(struct ck_ec64 *ec, uint64_t old, uint64_t deadline_ns)
{
	struct timespec dl;

	if (deadline_ns == 0)
		return ck_ec64_wait_pred(ec, &shmq__ec_mp, old, ec_pred, NULL,
		    NULL);
	dl.tv_sec = (time_t)(deadline_ns / 1000000000ull);
	dl.tv_nsec = (long)(deadline_ns % 1000000000ull);
	return ck_ec64_wait_pred(ec, &shmq__ec_mp, old, ec_pred, &dl, &dl);
}

void
shmq__word_wait(int *word, int expected, uint64_t timeout_ns)
{
	struct timespec rel;

	rel.tv_sec = (time_t)(timeout_ns / 1000000000ull);
	rel.tv_nsec = (long)(timeout_ns % 1000000000ull);
	/* Relative timeout (FUTEX_WAIT measures it on CLOCK_MONOTONIC). */
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, &rel, NULL, 0);
}

void
shmq__word_wake(int *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
