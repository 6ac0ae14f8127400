/*
 * consumequeue.h - one queue's index: fixed-size files of 32-byte entries,
 * entry n being the message at queue offset n.  These files are the rings
 * that consumers follow; the commit protocol on an entry's state word is in
 * layout.h.
 */
#ifndef SHMQ_CONSUMEQUEUE_H
#define SHMQ_CONSUMEQUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"

/* Entries in a queue's first index file (layout.h). */
static inline uint64_t
shmq__cq_first(const struct shmq_bus *bus)
{
	return bus->cq_entries < SHMQ_CQ_FIRST ? bus->cq_entries :
	    SHMQ_CQ_FIRST;
}

/*
 * Index file of queue offset OFF, and OFF's entry in it in *idx.  Files
 * 0..G-1 (G = log2(cq_entries / first)) grow from `first` entries by
 * doubling and together hold cq_entries - first; the rest hold cq_entries.
 */
static inline uint64_t
shmq__cq_locate(const struct shmq_bus *bus, uint64_t off, uint64_t *idx)
{
	const uint64_t n = bus->cq_entries, f = shmq__cq_first(bus);
	const unsigned fs = (unsigned)__builtin_ctzll(f);
	const unsigned ns = (unsigned)__builtin_ctzll(n);
	unsigned file;

	if (likely(off >= n - f)) {
		*idx = (off - (n - f)) & (n - 1);
		return (ns - fs) + ((off - (n - f)) >> ns);
	}
	file = 63u - (unsigned)__builtin_clzll((off >> fs) + 1);
	*idx = off - ((((uint64_t)1 << file) - 1) << fs);
	return file;
}

/* First queue offset of index file FILE. */
static inline uint64_t
shmq__cq_file_start(const struct shmq_bus *bus, uint64_t file)
{
	const uint64_t n = bus->cq_entries, f = shmq__cq_first(bus);
	const unsigned fs = (unsigned)__builtin_ctzll(f);
	const unsigned grow = (unsigned)__builtin_ctzll(n) - fs;

	if (file < grow)
		return (((uint64_t)1 << file) - 1) << fs;
	return (n - f) + (file - grow) * n;
}

/* Entries in index file FILE. */
static inline uint64_t
shmq__cq_file_entries(const struct shmq_bus *bus, uint64_t file)
{
	const uint64_t f = shmq__cq_first(bus);
	const unsigned grow = (unsigned)__builtin_ctzll(bus->cq_entries) -
	    (unsigned)__builtin_ctzll(f);

	return file < grow ? f << file : bus->cq_entries;
}

/* Slow path of shmq__cq_entry: map (with CREATE, make) the file. */
struct shmq_cq_entry *shmq__cq_entry_slow(struct shmq_bus *bus,
    const struct shmq_topic *t, struct shmq_cq *cq, uint64_t off,
    bool create, int *err);

/*
 * Entry OFF of queue CQ of topic T.  NULL when its file does not exist yet
 * (*err 0) or cannot be made (*err < 0).
 */
static inline struct shmq_cq_entry *
shmq__cq_entry(struct shmq_bus *bus, const struct shmq_topic *t,
    struct shmq_cq *cq, uint64_t off, bool create, int *err)
{
	struct shmq_cq_entry *base;
	uint64_t idx;

	base = shmq__maptab_get(&cq->files, shmq__cq_locate(bus, off, &idx));
	if (likely(base != NULL)) {
		*err = 0;
		return &base[idx];
	}
	return shmq__cq_entry_slow(bus, t, cq, off, create, err);
}

/*
 * Claim the next entry of CQ with state CLAIM.  Returns 0 with its offset
 * and pointer, or SHMQ_ENOSPC / a code when a new index file cannot be made
 * (nothing claimed then).
 */
int shmq__cq_claim(struct shmq_bus *bus, const struct shmq_topic *t,
    struct shmq_cq *cq, uint64_t claim, uint64_t *off,
    struct shmq_cq_entry **e);

/*
 * Fill a claimed entry and commit it.  Returns true, or false if a reader
 * turned it into a hole first (the caller must send again).
 */
static inline bool
shmq__cq_commit(struct shmq_cq_entry *e, uint64_t claim, uint64_t log_off,
    uint32_t size, uint32_t tag_hash, uint64_t store_ns)
{
	e->log_off = log_off;
	e->size = size;
	e->tag_hash = tag_hash;
	e->store_ns = store_ns;
	/* The CAS is a full barrier (lock cmpxchg): the fields above are
	 * visible before the state says committed; pairs with the acquire
	 * in readers (shmq__cq_state). */
	ck_pr_fence_store_atomic();
	return ck_pr_cas_64(&e->state, claim, SHMQ_CQ_COMMITTED);
}

/* Acquire-load of an entry's state. */
static inline uint64_t
shmq__cq_state(const struct shmq_cq_entry *e)
{
	uint64_t s = ck_pr_load_64((uint64_t *)(uintptr_t)&e->state);

	/* Pairs with the CAS in shmq__cq_commit. */
	ck_pr_fence_acquire();
	return s;
}

/*
 * Turn entry E of CQ (seen in claimed state STATE) into a hole; counts it.
 * Returns true if this call did it.
 */
bool shmq__cq_make_hole(struct shmq_bus *bus, struct shmq_cq *cq,
    struct shmq_cq_entry *e, uint64_t state);

/* The queue's tail hint: every entry below it has been claimed. */
static inline uint64_t
shmq__cq_tail(const struct shmq_cq *cq)
{
	return ck_pr_load_64((uint64_t *)(uintptr_t)&cq->qc->tail);
}

/*
 * First offset of CQ whose entry was stored at or after NS (CLOCK_REALTIME
 * ns), or the tail if none.  Binary search over committed entries.
 */
uint64_t shmq__cq_seek_time(struct shmq_bus *bus, const struct shmq_topic *t,
    struct shmq_cq *cq, uint64_t ns);

/* Make the index file after the one the tail is in, if the tail is past
 * its middle (prefault thread). */
void shmq__cq_prepare_next(struct shmq_bus *bus, struct shmq_cq *cq);

/* Unmap every index file of CQ this process mapped (topic teardown). */
void shmq__cq_unmap_all(struct shmq_bus *bus, struct shmq_cq *cq);

/* Path of index file FILE of queue Q of TOPIC. */
int shmq__cq_file_path(const struct shmq_bus *bus, const char *topic,
    uint32_t q, uint64_t file, char *buf, size_t len);

/*
 * Write to disk (msync MS_SYNC) the index files of CQ that hold entries of
 * records at or after the commitlog offset LOG_FROM, newest file first.
 * LOG_FROM must be the last checkpoint: nothing ran when it was written,
 * so the queue's entries for records below it all precede those for
 * records after it, and the walk stops at the first file whose first
 * committed entry is below it.  Returns 1 if the queue had such entries
 * (files synced, unless DRY: then only that is said), 0 if not (nothing
 * done), or a code with detail.  The caller is alone on the bus.
 */
int shmq__cq_sync(struct shmq_bus *bus, const struct shmq_topic *t,
    struct shmq_cq *cq, uint64_t log_from, bool dry);

#endif
