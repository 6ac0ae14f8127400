/*
 * bus.h - the process-local side of an open bus: the mappings this process
 * has made (commitlog segments, index files, the control region), its
 * cached views of topics, and the parameters read from bus.conf.
 *
 * Nothing here is shared between processes.  Tables of mappings grow
 * lazily under bus->lock and are read without it: a slot, once set, never
 * changes while the bus is open (release on store, acquire on load).
 */
#ifndef SHMQ_BUS_H
#define SHMQ_BUS_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "internal.h"
#include "layout.h"
#include "region.h"

/* A two-level table of pointers, 1024 x 1024, filled lazily. */
#define SHMQ_MAPTAB_BITS	10
#define SHMQ_MAPTAB_SIZE	(1u << SHMQ_MAPTAB_BITS)
#define SHMQ_MAPTAB_MAX		(SHMQ_MAPTAB_SIZE * SHMQ_MAPTAB_SIZE)

struct shmq_maptab {
	void	**chunk[SHMQ_MAPTAB_SIZE];
};

static inline void *
shmq__maptab_get(const struct shmq_maptab *t, uint64_t i)
{
	void **c;

	if (unlikely(i >= SHMQ_MAPTAB_MAX))
		return NULL;
	c = ck_pr_load_ptr(&t->chunk[i >> SHMQ_MAPTAB_BITS]);
	if (c == NULL)
		return NULL;
	/* Pairs with the release in shmq__maptab_set: the mapping behind
	 * the pointer is complete before the pointer is seen. */
	ck_pr_fence_load_depends();
	return ck_pr_load_ptr(&c[i & (SHMQ_MAPTAB_SIZE - 1)]);
}

/* Set slot I (caller holds bus->lock).  0, or SHMQ_ENOMEM / SHMQ_ELIMIT. */
int shmq__maptab_set(struct shmq_maptab *t, uint64_t i, void *p);

/* Call FN on every non-NULL slot, then free the table's chunks. */
void shmq__maptab_free(struct shmq_maptab *t, void (*fn)(void *, void *),
    void *arg);

/* Process-local view of one queue's index. */
struct shmq_cq {
	struct shmq_queue_ctl	*qc;
	struct shmq_maptab	 files;	/* struct shmq_cq_entry * per file */
	uint32_t		 queue;
	int			 hot;	/* in bus->hot */
	int			 mapped; /* in bus->mapped */
	const struct shmq_topic	*topic;
	/* Reclaimed index files (retention.c, under bus->lock). */
	uint64_t		 rel_pend;	/* min_off when last noted */
	uint64_t		 rel_file;	/* files below are blanked */
};

/* Process-local view of a topic. */
struct shmq_topic {
	struct shmq_topic_ctl	*tc;
	uint32_t		 id;
	uint32_t		 queues;
	size_t			 name_len;
	char			 name[SHMQ_NAME_MAX + 1];
	struct shmq_cq		*cq;	/* [queues] */
	/* A grown topic's view grows in place (topic.c, view_grow): cq is
	 * replaced by a longer array (release, before queues), and the old
	 * ones, which subs may still point into, stay until the bus closes. */
	struct shmq_cq_old	*old;
	/* The topic's flags word when this process last found it writable
	 * and this view current (producer.c compares it at every send). */
	uint32_t		 ok_flags;
};

struct shmq_bus {
	char			 name[SHMQ_NAME_MAX + 1];
	char			 path[PATH_MAX];
	char			 shm_name[256];
	struct shmq_perm	 perm;
	int			 lock_fd;	/* flock: open and close */
	int			 alive_fd;	/* flock: held shared */
	int			 shm_fd;
	struct shmq_ctl		*ctl;
	uint32_t		 epoch;

	/* Parameters from bus.conf (trusted copy, not read from shm). */
	uint64_t		 segment_bytes;
	uint32_t		 cq_entries;
	uint32_t		 max_msg_bytes;
	uint32_t		 default_queues;
	int			 auto_create;
	uint32_t		 stall_ms;
	uint64_t		 store_id;

	pthread_mutex_t		 lock;		/* slow paths only */
	struct shmq_maptab	 segs;		/* commitlog segment bases */
	struct shmq_maptab	 topics;	/* struct shmq_topic * by id */
	struct shmq_tombs	*tombs;		/* recovery only: deleted
						   topics (topicadmin.c) */

	/* Prefault thread: keeps the pages ahead of the log tail mapped
	 * writable in this process (started by the first producer). */
	pthread_t		 prefault_thr;
	int			 prefault_on;
	int			 prefault_stop;
	uint64_t		 prefault_upto;

	/* Queues this process writes to (struct shmq_cq *), whose next
	 * index file the prefault thread makes ahead of need. */
	struct shmq_maptab	 hot;
	uint64_t		 nhot;

	/* Every queue view that has mapped an index file (struct shmq_cq *;
	 * under bus->lock), whichever array of a grown topic's view it is
	 * in: retention.c drops their reclaimed files. */
	struct shmq_maptab	 mapped;
	uint64_t		 nmapped;

	/* Reclaimed files this process still maps (retention.c): noted at
	 * rel_since, blanked a grace period later. */
	uint64_t		 rel_gen;	/* ctl counters when noted */
	uint64_t		 rel_since;	/* CLOCK_MONOTONIC ns, 0: none */
	uint64_t		 rel_seg_pend;	/* segments below: reclaimed */
	uint64_t		 rel_seg_done;	/* segments below: blanked */
	uint64_t		 rel_grace_ns;	/* SHMQ_RELEASE_GRACE_MS */
};

/* Lock and unlock the control region's admin mutex (robust). */
int shmq__admin_lock(struct shmq_bus *bus);
void shmq__admin_unlock(struct shmq_bus *bus);

/* Allocate BYTES (64-aligned, zeroed) in the control region, growing it.
 * Caller holds the admin lock.  Returns the offset, or 0 with *err set. */
uint64_t shmq__ctl_alloc(struct shmq_bus *bus, uint64_t bytes, int *err);

/* Pointer to OFF in the control region if [OFF, OFF+LEN) lies inside it. */
static inline void *
shmq__ctl_ptr(const struct shmq_bus *bus, uint64_t off, uint64_t len)
{
	uint64_t size = ck_pr_load_64(&bus->ctl->size_bytes);

	if (size > SHMQ_CTL_VA_BYTES)
		size = SHMQ_CTL_VA_BYTES;
	if (off == 0 || off > size || len > size - off)
		return NULL;
	return (char *)bus->ctl + off;
}

/*
 * Write to disk what a checkpoint at TO vouches for, given the one at FROM
 * (bus.c, store_sync).  0 or a code.
 */
int shmq__store_sync(struct shmq_bus *bus, uint64_t from, uint64_t to);

/* Create a fresh control region (any old one is unlinked first). */
int shmq__ctl_create(struct shmq_bus *bus);
/* Attach the existing control region and check its header. */
int shmq__ctl_attach(struct shmq_bus *bus);
/* Unmap (and with UNLINK remove) the control region. */
void shmq__ctl_detach(struct shmq_bus *bus, int unlink_it);

#endif
