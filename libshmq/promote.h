/*
 * promote.h - a topic's home epoch, promotion of a mirror to home, and
 * fencing of a superseded home (doc/federation.md, "Promotion").
 *
 * Every topic has a home epoch: 1 (stored as 0 or 1) until a mirror of it
 * is promoted; a mirror keeps its home's (learned from REPL_STATE); a
 * promotion gives home epoch + 1.  Hosts register it with their routes,
 * and the host that says HOME at the highest epoch is the home: an old home
 * that hears of a higher one fences its copy (SHMQ_TOPIC_F_FENCED with
 * NOWRITE: sends refused, reads go on).
 *
 * Store: consumequeue/<topic>/home, written whole (temp file, rename,
 * synced) by whoever changes it under the admin lock:
 *
 *	epoch=N
 *	fenced=HOST EPOCH	(once fenced: the host promoted, its epoch)
 *
 * It lives in the topic's directory, so a deleted topic's goes with it.
 * Recovery reads it after the meta file (shmq__home_load).  The epoch is
 * also in the topic's control block (home_epoch), for readers.
 */
#ifndef SHMQ_PROMOTE_H
#define SHMQ_PROMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "layout.h"

/* The home epoch of the topic at TC (at least 1). */
static inline uint64_t
shmq__topic_epoch(const struct shmq_topic_ctl *tc)
{
	uint64_t e = ck_pr_load_64((uint64_t *)(uintptr_t)&tc->home_epoch);

	return e > 0 ? e : 1;
}

/*
 * Recovery: read topic NAME's home file in its directory DIR into its
 * control block (not yet published: plain stores).  A missing or bad
 * file leaves epoch 1, not fenced.
 */
void shmq__home_load(struct shmq_bus *bus, const char *dir,
    const char *name);

/*
 * Mirror T's home says its epoch is EPOCH: keep it if higher than T's
 * (persisted first).  0, or a store error.  Takes the admin lock.
 */
int shmq__home_epoch_learn(struct shmq_bus *bus, struct shmq_topic *t,
    uint64_t epoch);

/*
 * Mirror T's home told its queue tails TAIL[0..N) in a REPL_STATE now:
 * note them for shmq_topic_promote's "behind" figure (control region
 * only).
 */
void shmq__home_state_note(struct shmq_bus *bus, struct shmq_topic *t,
    const uint64_t *tail, uint32_t n);

/*
 * HOST registered itself as home of T at EPOCH.  If T is a home here (not
 * a mirror, not fenced) at a lower epoch, fence it: home file first, then
 * the flags.  Returns 1 if fenced now, 0 if nothing to do, or an error.
 * Takes the admin lock; syncs the file.
 */
int shmq__home_fence(struct shmq_bus *bus, struct shmq_topic *t,
    const char *host, uint64_t epoch);

/* Is T a topic this host was promoted to home of (not a mirror, epoch
 * above 1)?  shmqd then leaves a `mirror =` line of it alone. */
bool shmq__home_promoted(const struct shmq_topic *t);

/* SHMQ_ETOPICPERM, with a message naming the host and epoch that fenced
 * T (read from its home file: the send path's slow path only). */
int shmq__home_fenced_err(struct shmq_bus *bus, const struct shmq_topic *t);

#endif
