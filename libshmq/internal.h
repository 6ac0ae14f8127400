/*
 * internal.h - what the files of libshmq share: the shmq__ prototypes that
 * cross files, the error-detail macros, hashing, clocks and small helpers.
 *
 * Error handling: a function that fails returns a negative SHMQ_E* (or
 * -errno) and sets the thread's detail message with SHMQ_ERR(), which keeps
 * the first cause: callers up the stack add context only with
 * SHMQ_ERR_PREFIX().
 */
#ifndef SHMQ_INTERNAL_H
#define SHMQ_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <ck_cc.h>
#include <ck_pr.h>

#include "shmq/shmq.h"

#define SHMQ_HIDDEN __attribute__((visibility("hidden")))

#define likely(x)	CK_CC_LIKELY(x)
#define unlikely(x)	CK_CC_UNLIKELY(x)

/* Set the thread's error detail (printf format) and evaluate to ERR. */
SHMQ_HIDDEN int shmq__err(int err, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define SHMQ_ERR(err, ...) shmq__err((err), __FILE__, __LINE__, __VA_ARGS__)

/* Put context in front of the current detail: 'bus "x": <detail>'. */
SHMQ_HIDDEN void shmq__err_prefix(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
#define SHMQ_ERR_PREFIX(...) shmq__err_prefix(__VA_ARGS__)

/* Map an errno from a system call on PATH to a shmq code with detail. */
SHMQ_HIDDEN int shmq__err_sys(int errnum, const char *what, const char *path);

/*
 * 64-bit FNV-1a with a final mix: names, shard keys, key-index keys.  In
 * pieces: h = SHMQ_HASH64_INIT, h = shmq__hash64_add(h, ...) per piece,
 * then shmq__hash64_end(h).  The values are stored on disk (key index)
 * and decide queue choice: never change them.
 */
#define SHMQ_HASH64_INIT	0xcbf29ce484222325ull

static inline uint64_t
shmq__hash64_add(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	while (n-- > 0) {
		h ^= *s++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static inline uint64_t
shmq__hash64_end(uint64_t h)
{
	/* Final mix so that the low bits used for queue choice are good. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static inline uint64_t
shmq__hash64(const void *p, size_t n)
{
	return shmq__hash64_end(shmq__hash64_add(SHMQ_HASH64_INIT, p, n));
}

/* Tag hash stored in index entries; 0 means "no tag". */
static inline uint32_t
shmq__tag_hash(const char *tag, size_t n)
{
	uint32_t h;

	if (n == 0)
		return 0;
	h = (uint32_t)shmq__hash64(tag, n);
	return h == 0 ? 1 : h;
}

static inline uint64_t
shmq__mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
shmq__real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
shmq__align8(uint64_t v)
{
	return (v + 7) & ~(uint64_t)7;
}

/* CRC32C (isa-l), seeded so that an all-zero buffer does not give 0. */
SHMQ_HIDDEN uint32_t shmq__crc32c(uint32_t crc, const void *p, size_t n);

/* Name rule: 1..127 of [A-Za-z0-9._%-], not "." or "..". */
SHMQ_HIDDEN bool shmq__name_ok(const char *name);

/* Is NAME[0..LEN) (not NUL-terminated) one of LIST[0..N)?  For the
 * property names the bus sets itself, left out when a message is copied. */
SHMQ_HIDDEN bool shmq__name_in(const char *name, size_t len,
    const char *const *list, size_t n);

#define SHMQ_NAME_MAX	127

/* Process start time (clock ticks since boot) of PID, or 0 if gone. */
SHMQ_HIDDEN uint64_t shmq__proc_start(int pid);

#endif /* SHMQ_INTERNAL_H */
