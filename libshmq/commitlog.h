/*
 * commitlog.h - the commitlog: one append-only log for every topic of a
 * bus, in fixed-size segment files named by their first byte offset.
 *
 * The log tail (ctl->log_tail) only moves into segments that exist
 * (ctl->log_ready_end): the producer whose reservation would cross the end
 * of a segment first makes sure the next one is created and preallocated,
 * so a full disk fails the send cleanly instead of leaving the tail in a
 * segment that cannot be written.
 */
#ifndef SHMQ_COMMITLOG_H
#define SHMQ_COMMITLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"

/* Slow path of shmq__log_seg. */
char *shmq__log_seg_slow(struct shmq_bus *bus, uint64_t seg, bool create,
    int *err);

/* Base address of segment SEG in this process, mapping it if needed. */
static inline char *
shmq__log_seg(struct shmq_bus *bus, uint64_t seg, bool create, int *err)
{
	char *base = shmq__maptab_get(&bus->segs, seg);

	if (likely(base != NULL)) {
		*err = 0;
		return base;
	}
	return shmq__log_seg_slow(bus, seg, create, err);
}

/*
 * Reserve LEN bytes (a multiple of 8, at most segment_bytes / 2) at the log
 * tail.  Returns 0 and the record's offset and address, or SHMQ_ENOSPC (the
 * next segment could not be made; nothing reserved) or another code.
 */
int shmq__log_reserve(struct shmq_bus *bus, uint32_t len, uint64_t *off,
    struct shmq_rec **rec);

/* Make segment SEG (idempotent) and advance log_ready_end past it. */
int shmq__log_prepare(struct shmq_bus *bus, uint64_t seg);

/*
 * The record at OFF that an index entry says is SIZE bytes, checked: in
 * bounds, complete, a message record at its own offset, and (with CRC) not
 * corrupt.  Returns it, or NULL with *err (SHMQ_ECORRUPT, with detail).
 */
const struct shmq_rec *shmq__log_record(struct shmq_bus *bus, uint64_t off,
    uint32_t size, bool crc, int *err);

/* Check a record's header and payload lengths against SIZE; no CRC. */
bool shmq__rec_sane(const struct shmq_rec *r, uint64_t off, uint32_t size,
    uint64_t segment_bytes);

/* CRC32C of a record as stored in its crc field. */
uint32_t shmq__rec_crc(const struct shmq_rec *r, uint32_t size);

/* Path of the segment that starts at byte START. */
int shmq__log_seg_path(const struct shmq_bus *bus, uint64_t start, char *buf,
    size_t len);

/* Unmap one segment (maptab callback; ARG is the bus). */
void shmq__log_unmap_seg(void *arg, void *base);

/*
 * Write the log bytes [FROM, TO) to disk (msync MS_SYNC of the pages that
 * hold them, segment by segment, mapping segments this process has not
 * mapped) and wait for it.  Bytes below log_min_off are skipped; an empty
 * range is a no-op.  Returns 0, or a code with detail (a segment missing
 * or short: SHMQ_ENOENT / SHMQ_ECORRUPT; the disk failed: -EIO).  For the
 * checkpoint, which must reach the disk after what it vouches for.
 */
int shmq__log_sync(struct shmq_bus *bus, uint64_t from, uint64_t to);

#endif
