/*
 * benchutil.h - what shmq-bench's modes share (shmq-bench.c, benchrepl.c):
 * the clock, futex words between processes, shared memory for samples,
 * sorting samples, removing a temporary store.
 */
#ifndef SHMQ_BENCHUTIL_H
#define SHMQ_BENCHUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in ns (inline: timed loops call it). */
static inline uint64_t
bench_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Sleep while *W == VAL, up to TO (NULL: until woken).  The word may be
 * shared between processes (not FUTEX_PRIVATE).  As futex(2). */
int bench_futex_wait(uint32_t *w, uint32_t val, const struct timespec *to);

/* Wake one sleeper on W.  As futex(2). */
int bench_futex_wake(uint32_t *w);

/* LEN bytes of memory shared with children forked later, zeroed and
 * faulted in now (not in a timed loop), or NULL. */
void *bench_shared_alloc(size_t len);

/* qsort comparator of int64_t. */
int bench_cmp_i64(const void *a, const void *b);

/* Remove the tree at PATH; failures are warned about, not fatal. */
void bench_rm_tree(const char *path);

#endif
