/*
 * keyindex.h - the persistent key index: file format shared by shmqd's
 * indexer (writer) and shmq_query_key (readers).
 *
 * As RocketMQ's IndexFile: <store>/index/<first log offset, 20 digits>,
 * each a fixed-size file of a header page, a hash-slot array and an entry
 * array.  Entry 0 is unused so that 0 means "none"; a slot holds the latest
 * entry of its bucket and each entry the previous one (prev < own number),
 * so chains run newest to oldest.  Keys are hashed with their topic
 * (shmq__kidx_hash).  The geometry is in the header; a new file is made
 * when one is full, named by the log offset of the first record it holds.
 *
 * One writer (shmqd); readers map the files read-only while it writes:
 * the entry is written before the slot that points at it (release; the
 * reader's acquire load of the slot pairs with it).  end_off, the log
 * offset below which every record is indexed, is stored only after the
 * entries and slots were synced.  Nothing read from a file is trusted:
 * every slot and link is bounds-checked, chains must go strictly down, and
 * every candidate record is read and checked by the caller.
 */
#ifndef SHMQ_KEYINDEX_H
#define SHMQ_KEYINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"

#define SHMQ_KIDX_MAGIC		0x58444b53u	/* "SKDX" */
#define SHMQ_KIDX_VERSION	1u
#define SHMQ_KIDX_HDR_BYTES	4096u		/* own page: synced last */
#define SHMQ_KIDX_SLOTS		65536u
#define SHMQ_KIDX_ENTRIES	262144u
#define SHMQ_KIDX_ENTRIES_MAX	(1u << 28)

struct shmq_kidx_hdr {
	uint32_t	magic;
	uint32_t	version;
	uint32_t	slots;		/* hash slots */
	uint32_t	entries;	/* entry capacity, entry 0 included */
	uint32_t	count;		/* entries used, >= 1 (ck_pr) */
	uint32_t	reserved;
	uint64_t	first_off;	/* log offset the file starts at */
	uint64_t	end_off;	/* records below are indexed (ck_pr) */
	uint64_t	created_ns;
};
_Static_assert(sizeof(struct shmq_kidx_hdr) == 48, "index header");

struct shmq_kidx_entry {
	uint32_t	hash;		/* shmq__kidx_hash; never 0 */
	uint32_t	prev;		/* earlier entry of the bucket; 0: end */
	uint64_t	log_off;	/* the record's commitlog offset */
};
_Static_assert(sizeof(struct shmq_kidx_entry) == 16, "index entry");

/* One mapped index file. */
struct shmq_kidx {
	char			*base;
	uint64_t		 bytes;
	uint64_t		 name;		/* from the file name */
	struct shmq_kidx_hdr	*h;
	uint32_t		*slot;
	struct shmq_kidx_entry	*ent;
	uint32_t		 slots;
	uint32_t		 entries;
};

/*
 * The "topic" under which a mirror's records are indexed by the id they
 * have at their home (the 32-digit message id as the key): no topic has
 * this name ('%' names are the bus's own, and this one is never made).
 */
#define SHMQ_KIDX_ORIGIN	"%ORIGIN_ID"

/* Hash of KEY in TOPIC (never 0). */
uint32_t shmq__kidx_hash(const char *topic, size_t tlen, const char *key,
    size_t klen);

/* Bytes of a file of SLOTS slots and ENTRIES entries. */
uint64_t shmq__kidx_bytes(uint32_t slots, uint32_t entries);

/* Names of the index files of BUS, sorted up: 0 and *names (free it), or a
 * code.  No directory: 0 files. */
int shmq__kidx_list(struct shmq_bus *bus, uint64_t **names, size_t *n);

/* Map file NAME (read-only unless WRITE) and check its header against its
 * size: 0, SHMQ_ECORRUPT, or another code; detail set. */
int shmq__kidx_map(struct shmq_bus *bus, uint64_t name, bool write,
    struct shmq_kidx *k);

/* Make file NAME (replacing any) with the given geometry, empty. */
int shmq__kidx_create(struct shmq_bus *bus, uint64_t name, uint32_t slots,
    uint32_t entries, struct shmq_kidx *k);

void shmq__kidx_unmap(struct shmq_kidx *k);

/* Add (HASH, LOG_OFF): 0, or 1 if the file is full (nothing added). */
int shmq__kidx_add(struct shmq_kidx *k, uint32_t hash, uint64_t log_off);

/* Sync entries and slots, then store END_OFF and sync the header. */
int shmq__kidx_commit(struct shmq_kidx *k, uint64_t end_off);

/* Does the space-separated list KEYS contain KEY? */
bool shmq__kidx_has_key(const char *keys, size_t len, const char *key,
    size_t klen);

#endif
