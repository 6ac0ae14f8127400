/*
 * consumequeue.c - a queue's index files and the claim/commit/hole protocol
 * on their entries (see consumequeue.h and layout.h).
 *
 * Claiming: a producer reads the tail hint t, and CASes entry t's state from
 * EMPTY to its claim; an entry that is not empty was claimed by someone who
 * has not yet moved the hint, so the producer moves it for them and tries
 * t + 1.  Nobody ever waits for anybody, and the owner of every claimed
 * entry is written in the entry itself by the CAS that claims it, so a
 * reader that waits too long on it can check that owner.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "client.h"
#include "consumequeue.h"
#include "internal.h"
#include "region.h"
#include "wait.h"

int
shmq__cq_file_path(const struct shmq_bus *bus, const char *topic, uint32_t q,
    uint64_t file, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/consumequeue/%s/%u/%020llu",
	    bus->path, topic, q,
	    (unsigned long long)shmq__cq_file_start(bus, file)) >= len)
		return SHMQ_ERR(SHMQ_EINVAL, "path too long");
	return 0;
}

void
shmq__cq_unmap_all(struct shmq_bus *bus, struct shmq_cq *cq)
{
	uint64_t file;
	void *base;

	/* Files are of different sizes, so this walks the table itself
	 * instead of handing each base to a callback. */
	for (file = 0; file < SHMQ_MAPTAB_MAX; file++) {
		if (cq->files.chunk[file / SHMQ_MAPTAB_SIZE] == NULL) {
			file += SHMQ_MAPTAB_SIZE - 1 - file % SHMQ_MAPTAB_SIZE;
			continue;
		}
		if ((base = shmq__maptab_get(&cq->files, file)) != NULL)
			shmq__file_unmap(base, shmq__cq_file_entries(bus,
			    file) * sizeof(struct shmq_cq_entry));
	}
	shmq__maptab_free(&cq->files, NULL, NULL);
}

/* Remember that this process writes to CQ (bus->lock held). */
static void
hot_add(struct shmq_bus *bus, struct shmq_cq *cq)
{
	if (shmq__maptab_set(&bus->hot, bus->nhot, cq) < 0)
		return;		/* only an optimisation */
	/* Release: the slot before the count the prefault thread reads. */
	ck_pr_fence_store();
	ck_pr_store_64(&bus->nhot, bus->nhot + 1);
	cq->hot = 1;
}

void
shmq__cq_prepare_next(struct shmq_bus *bus, struct shmq_cq *cq)
{
	const struct shmq_topic *t = cq->topic;
	uint64_t idx, file = shmq__cq_locate(bus, shmq__cq_tail(cq), &idx);
	int err;

	if (ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_DELETED)
		return;		/* it makes no file (below) */
	if (idx >= shmq__cq_file_entries(bus, file) / 2)
		(void)shmq__cq_entry(bus, t, cq, shmq__cq_file_start(bus,
		    file + 1), true, &err);
}

/* 0, or SHMQ_ENOTOPIC if T has been deleted. */
static int
not_deleted(const struct shmq_bus *bus, const struct shmq_topic *t)
{
	if ((ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_DELETED) == 0)
		return 0;
	return SHMQ_ERR(SHMQ_ENOTOPIC, "topic \"%s\" on bus \"%s\": "
	    "deleted", t->name, bus->name);
}

struct shmq_cq_entry *
shmq__cq_entry_slow(struct shmq_bus *bus, const struct shmq_topic *t,
    struct shmq_cq *cq, uint64_t off, bool create, int *err)
{
	uint64_t idx, file = shmq__cq_locate(bus, off, &idx);
	uint64_t bytes = shmq__cq_file_entries(bus, file) *
	    sizeof(struct shmq_cq_entry);
	struct shmq_cq_entry *base;
	char path[PATH_MAX];
	void *p;

	*err = 0;
	if (file >= SHMQ_MAPTAB_MAX) {
		*err = SHMQ_ERR(SHMQ_ECORRUPT, "topic \"%s\" queue %u: offset "
		    "%llu out of range", t->name, cq->queue,
		    (unsigned long long)off);
		return NULL;
	}
	/* A reader never maps a file the producers have not reached: it
	 * may not exist yet, or be in the middle of being made. */
	if (!create && off >= shmq__cq_tail(cq))
		return NULL;
	/* Below the first entry kept, the file is gone for good: never
	 * make it again. */
	if (off < ck_pr_load_64(&cq->qc->min_off)) {
		*err = SHMQ_ERR(SHMQ_ERECLAIMED, "topic \"%s\" queue %u: "
		    "offset %llu reclaimed", t->name, cq->queue,
		    (unsigned long long)off);
		return NULL;
	}
	if ((*err = shmq__cq_file_path(bus, t->name, cq->queue, file, path,
	    sizeof(path))) < 0)
		return NULL;
	pthread_mutex_lock(&bus->lock);
	base = shmq__maptab_get(&cq->files, file);
	if (base != NULL)
		goto out;
	/* A deleted topic maps no new file: its directory is in the trash,
	 * and the path may be a new topic's of the name, whose index a late
	 * producer of the old one must not write (topicadmin.c). */
	if ((*err = not_deleted(bus, t)) < 0)
		goto out;
	/* Readers create too: the claimer may have died between claiming
	 * the first entry of a file and making it (it makes the file first,
	 * so this only happens for a file it was making). */
	/* Prefault the whole file: 32-byte entries would otherwise cost a
	 * page fault every 128 messages on the send path. */
	*err = shmq__file_map(path, bytes, true, true, &bus->perm, &p);
	if (*err < 0) {
		SHMQ_ERR_PREFIX("topic \"%s\" queue %u", t->name, cq->queue);
		goto out;
	}
	/* Again: the deletion may have come since.  A new topic of the name
	 * makes its directories after the flag is set, so if the file just
	 * made or opened is in one, the flag is seen now. */
	if ((*err = not_deleted(bus, t)) < 0) {
		shmq__file_unmap(p, bytes);
		goto out;
	}
	if ((*err = shmq__maptab_set(&cq->files, file, p)) < 0) {
		shmq__file_unmap(p, bytes);
		goto out;
	}
	base = p;
	/* Retention drops this view's reclaimed files (retention.c); a
	 * failure is retried at the next file. */
	if (!cq->mapped && shmq__maptab_set(&bus->mapped, bus->nmapped,
	    cq) == 0) {
		bus->nmapped++;
		cq->mapped = 1;
	}
	if (create && !cq->hot)
		hot_add(bus, cq);
out:
	pthread_mutex_unlock(&bus->lock);
	return base != NULL ? &base[idx] : NULL;
}

int
shmq__cq_claim(struct shmq_bus *bus, const struct shmq_topic *t,
    struct shmq_cq *cq, uint64_t claim, uint64_t *offp,
    struct shmq_cq_entry **ep)
{
	struct shmq_queue_ctl *qc = cq->qc;
	struct shmq_cq_entry *e;
	uint64_t off;
	int err;

	for (;;) {
		off = ck_pr_load_64(&qc->tail);
		e = shmq__cq_entry(bus, t, cq, off, true, &err);
		if (unlikely(e == NULL))
			return err < 0 ? err : SHMQ_ERR(SHMQ_ECORRUPT,
			    "topic \"%s\" queue %u: no index file", t->name,
			    cq->queue);
		if (ck_pr_load_64(&e->state) == SHMQ_CQ_EMPTY &&
		    ck_pr_cas_64(&e->state, SHMQ_CQ_EMPTY, claim))
			break;
		/* Taken by someone who has not moved the hint yet. */
		ck_pr_cas_64(&qc->tail, off, off + 1);
	}
	ck_pr_cas_64(&qc->tail, off, off + 1);
	/* Without a prefault thread, make the next index file while this one
	 * is half used, so the claim that crosses into it finds it ready. */
	if (unlikely(!bus->prefault_on)) {
		uint64_t idx, file = shmq__cq_locate(bus, off, &idx);

		if (idx == shmq__cq_file_entries(bus, file) / 2)
			(void)shmq__cq_entry(bus, t, cq,
			    shmq__cq_file_start(bus, file + 1), true, &err);
	}
	*offp = off;
	*ep = e;
	return 0;
}

bool
shmq__cq_make_hole(struct shmq_bus *bus, struct shmq_cq *cq,
    struct shmq_cq_entry *e, uint64_t state)
{
	if (!ck_pr_cas_64(&e->state, state, SHMQ_CQ_HOLE))
		return false;
	ck_pr_inc_64(&cq->qc->holes);
	ck_pr_inc_64(&bus->ctl->holes);
	/* Readers caught up look at the entries only when the topic's
	 * count moves (consumer.c): a hole is news too. */
	ck_ec64_inc(&cq->topic->tc->ec, &shmq__ec_mp);
	return true;
}

/* Store time of the first committed entry at or after OFF (within a short
 * distance), and its offset in *at; UINT64_MAX if there is none. */
static uint64_t
probe_time(struct shmq_bus *bus, const struct shmq_topic *t,
    struct shmq_cq *cq, uint64_t off, uint64_t end, uint64_t *at)
{
	struct shmq_cq_entry *e;
	int err;

	for (; off < end; off++) {
		e = shmq__cq_entry(bus, t, cq, off, false, &err);
		if (e == NULL)
			break;
		if (shmq__cq_state(e) == SHMQ_CQ_COMMITTED) {
			*at = off;
			return ck_pr_load_64(&e->store_ns);
		}
	}
	*at = end;
	return UINT64_MAX;
}

uint64_t
shmq__cq_seek_time(struct shmq_bus *bus, const struct shmq_topic *t,
    struct shmq_cq *cq, uint64_t ns)
{
	uint64_t lo = ck_pr_load_64(&cq->qc->min_off);
	uint64_t hi = shmq__cq_tail(cq), mid, at;

	/* Invariant: every committed entry below lo is older than ns; the
	 * first entry at or after hi (or hi itself) is not.  Store times of
	 * concurrent producers may be out of order by a few microseconds;
	 * the answer is exact for times further apart than that. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (probe_time(bus, t, cq, mid, hi, &at) < ns)
			lo = at + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The first (FORWARD) or last committed entry of CQ in [LO, HI), or NULL. */
static struct shmq_cq_entry *
committed_edge(struct shmq_bus *bus, const struct shmq_topic *t,
    struct shmq_cq *cq, uint64_t lo, uint64_t hi, bool forward)
{
	struct shmq_cq_entry *e;
	uint64_t i;
	int err;

	if (lo >= hi)
		return NULL;
	for (i = 0; i < hi - lo; i++) {
		e = shmq__cq_entry(bus, t, cq, forward ? lo + i : hi - 1 - i,
		    false, &err);
		if (e == NULL)
			return NULL;
		if (shmq__cq_state(e) == SHMQ_CQ_COMMITTED)
			return e;
	}
	return NULL;
}

int
shmq__cq_sync(struct shmq_bus *bus, const struct shmq_topic *t,
    struct shmq_cq *cq, uint64_t log_from, bool dry)
{
	const uint64_t tail = shmq__cq_tail(cq);
	const uint64_t min = ck_pr_load_64(&cq->qc->min_off);
	struct shmq_cq_entry *e, *base;
	uint64_t idx, file, start, first, end;
	char path[PATH_MAX];
	int err;

	/* The newest committed entry (holes and dead claims may sit above
	 * it) tells whether the queue took anything since the checkpoint. */
	e = committed_edge(bus, t, cq, min, tail, false);
	if (e == NULL || ck_pr_load_64(&e->log_off) < log_from)
		return 0;
	if (dry)
		return 1;
	for (file = shmq__cq_locate(bus, tail - 1, &idx); ; file--) {
		start = shmq__cq_file_start(bus, file);
		end = start + shmq__cq_file_entries(bus, file);
		first = start < min ? min : start;
		if ((e = shmq__cq_entry(bus, t, cq, first, false, &err)) ==
		    NULL)
			return err < 0 ? err : SHMQ_ERR(SHMQ_ECORRUPT, "topic "
			    "\"%s\" queue %u: no index file for offset %llu",
			    t->name, cq->queue, (unsigned long long)first);
		base = e - (first - start);
		if (msync(base, shmq__cq_file_entries(bus, file) *
		    sizeof(*base), MS_SYNC) < 0) {
			(void)shmq__cq_file_path(bus, t->name, cq->queue, file,
			    path, sizeof(path));
			return shmq__err_sys(errno, "sync", path);
		}
		if (first <= min)
			break;
		e = committed_edge(bus, t, cq, first, end < tail ? end : tail,
		    true);
		if (e != NULL && ck_pr_load_64(&e->log_off) < log_from)
			break;
	}
	return 1;
}
