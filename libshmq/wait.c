/*
 * wait.c - ck_ec operations over shared futexes (see wait.h).
 *
 * The futexes are not FUTEX_PRIVATE: waiter and waker are in different
 * processes, and a private futex in a MAP_SHARED page never wakes across
 * processes.  The 64-bit event count is waited on through its low 32 bits,
 * which hold the waiter flag and the low bits of the count.
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
	 * spin of its own, and a long first sleep (a wake interrupts it). */
	.busy_loop_iter = 16,
	.initial_wait_ns = 100 * 1000 * 1000,
	.wait_scale_factor = 2,
	.wait_shift_count = 0,
};

const struct ck_ec_mode shmq__ec_mp = {
	.ops = &ec_ops,
	.single_producer = false,
};

int
shmq__ec_wait(struct ck_ec64 *ec, uint64_t old, uint64_t deadline_ns)
{
	struct timespec dl;

	if (deadline_ns == 0)
		return ck_ec64_wait(ec, &shmq__ec_mp, old, NULL);
	dl.tv_sec = (time_t)(deadline_ns / 1000000000ull);
	dl.tv_nsec = (long)(deadline_ns % 1000000000ull);
	return ck_ec64_wait(ec, &shmq__ec_mp, old, &dl);
}
