/*
 * offsets.h - committed offsets of consumer groups: the offset sets in the
 * control region (one per group and topic for clustering, one per
 * instance and topic for broadcasting), commits, resets to a time, and
 * their copy in the store, groups/<group>/offsets.
 *
 * The file is text, written whole and atomically (temporary file, then
 * rename: shmq__file_replace), one "o" line per queue:
 *
 *     # shmq consumer group offsets
 *     model=clustering
 *     strategy=averagely
 *     o <topic> <instance, or * for clustering> <queue> <committed>
 *
 * Writers hold the admin mutex, so two saves never interleave and the file
 * is never older than a save that finished before.  Recovery (a rebuild of
 * the control region) reads every groups/<group>/offsets back; lines it
 * cannot use (unknown topic, queue out of range, bad syntax) are skipped.
 */
#ifndef SHMQ_OFFSETS_H
#define SHMQ_OFFSETS_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "layout.h"

struct shmq_topic;

/* The group's offset-set array if it checks, else NULL. */
struct shmq_group_osets *shmq__group_osets(struct shmq_bus *bus,
    const struct shmq_group_ctl *g);

/* The queue array of offset set O if it checks, else NULL. */
struct shmq_group_queue *shmq__oset_queues(struct shmq_bus *bus,
    const struct shmq_group_oset *o);

/*
 * G's offsets for queues 0..NQ-1 (NQ <= T's view's count) of topic T and
 * INSTANCE ("" for clustering), each queue's in OUT[q]; made if missing
 * with every committed offset set by WHENCE (SHMQ_SEEK_FIRST, _LAST, _TIME
 * with TIME_MS), except that the queues a grown topic added to a set that
 * exists start at their first message.  Admin lock held.  0, or a code.
 */
int shmq__oset_get_locked(struct shmq_bus *bus, struct shmq_group_ctl *g,
    const char *instance, struct shmq_topic *t, uint32_t nq, int whence,
    uint64_t time_ms, struct shmq_group_queue **out);

/*
 * Write G's offsets to the store (SYNC: fdatasync before the rename)
 * unless they equal what was written last (FORCE: write anyway).  Takes
 * the admin lock.  0 or a code with detail.
 */
int shmq__offsets_save(struct shmq_bus *bus, struct shmq_group_ctl *g,
    bool sync, bool force);

/* Save every group (the last closer), synced.  Errors are dropped: the
 * offsets saved before stay, and a message is delivered again at worst. */
void shmq__offsets_save_all(struct shmq_bus *bus);

/* Recovery: load every groups/<group>/offsets into a new control region
 * (nobody else has the bus open).  0 or a code. */
int shmq__offsets_load(struct shmq_bus *bus);

#endif
