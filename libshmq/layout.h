/*
 * layout.h - every structure that lives in shared memory or on disk.  This
 * is the one file to review on any ABI change; bump SHMQ_LAYOUT_VERSION when
 * anything here changes.
 *
 * Rules: no pointers, only offsets from the region base and fixed-width
 * types; hot fields written by different parties sit on different cache
 * lines; every size is pinned by a _Static_assert.  Readers treat every value
 * as untrusted and bounds-check it before use.
 */
#ifndef SHMQ_LAYOUT_H
#define SHMQ_LAYOUT_H

#include <pthread.h>
#include <stdint.h>

#include <ck_ec.h>

#define SHMQ_LAYOUT_VERSION	9
#define SHMQ_CACHELINE		64

/* ------------------------------------------------------------------ */
/* Commitlog records                                                   */
/* ------------------------------------------------------------------ */

#define SHMQ_REC_MAGIC		0x51524d53u	/* "SMRQ": a message */
#define SHMQ_PAD_MAGIC		0x44415053u	/* "SPAD": end-of-segment fill */
#define SHMQ_ABORT_MAGIC	0x54424153u	/* "SABT": record whose index
						   entry was turned into a hole
						   before it committed */

/*
 * Record flags.  ORIGIN: a mirror's copy of a record of another store
 * (federate/, mirror.c); 16 bytes after the body hold the id the message
 * has at its home (store id, log offset, both uint64_t), which readers
 * give as its id, so that a message keeps its id on every host.
 */
#define SHMQ_REC_F_ORIGIN	0x1u
#define SHMQ_REC_ORIGIN_BYTES	16

/*
 * Record header, followed by topic, tags, keys, properties and body; the
 * whole rounded up to 8 bytes.  size, magic and crc sit outside the CRC,
 * which covers bytes [12, size): everything a reader uses.  A writer stores
 * size last with release ordering (pairs with the acquire load in
 * shmq__log_record_check and the recovery scan).
 */
struct shmq_rec {
	uint32_t	size;		/* total bytes, multiple of 8 */
	uint32_t	magic;
	uint32_t	crc;		/* CRC32C of bytes [12, size) */
	uint32_t	flags;
	uint64_t	log_off;	/* this record's own offset */
	uint64_t	queue_off;
	uint64_t	born_ns;
	uint64_t	store_ns;
	uint64_t	producer_id;
	uint32_t	body_len;
	uint32_t	props_len;
	uint16_t	keys_len;
	uint16_t	queue;
	uint8_t		topic_len;
	uint8_t		tags_len;
	uint16_t	reserved0;
	uint32_t	reconsume;
	uint32_t	reserved1;
};
_Static_assert(sizeof(struct shmq_rec) == 80, "record header is 80 bytes");

#define SHMQ_REC_CRC_START	12
#define SHMQ_TAGS_MAX		255
#define SHMQ_KEYS_MAX		65535

/* ------------------------------------------------------------------ */
/* Consume-queue entries                                               */
/* ------------------------------------------------------------------ */

/*
 * A queue's index is a run of files named by their first entry.  The first
 * holds SHMQ_CQ_FIRST entries (or cq_entries if that is smaller), each next
 * one twice its predecessor up to cq_entries, then all cq_entries: a quiet
 * queue costs 32 KiB, a busy one soon gets big files (few files to make
 * and map).  consumequeue.h computes the geometry.
 */
#define SHMQ_CQ_FIRST		1024u

#define SHMQ_CQ_EMPTY		0ull
#define SHMQ_CQ_HOLE		1ull
#define SHMQ_CQ_COMMITTED	2ull
#define SHMQ_CQ_CLAIMED_TAG	3ull	/* low two bits of a claimed state */

/*
 * One index entry; its position in the queue is the message's queue
 * offset.  state is the commit word: a producer CASes it from EMPTY to
 * CLAIMED(token), fills the other fields, then CASes CLAIMED(token) to
 * COMMITTED.  A reader that finds the owner dead CASes CLAIMED(token) to
 * HOLE.  Both transitions compare the same word, so a slow producer whose
 * entry became a hole learns it and sends again.
 */
struct shmq_cq_entry {
	uint64_t	state;
	uint64_t	log_off;
	uint32_t	size;
	uint32_t	tag_hash;
	uint64_t	store_ns;
};
_Static_assert(sizeof(struct shmq_cq_entry) == 32, "index entry is 32 bytes");

/*
 * Claim token: epoch (20 bits) | slot generation (20 bits) | slot (22 bits).
 * The epoch is random per control-region incarnation, so a claim left by a
 * process of an earlier incarnation is recognised as dead at once.
 */
#define SHMQ_TOKEN_SLOT_BITS	22
#define SHMQ_TOKEN_GEN_BITS	20
#define SHMQ_TOKEN_EPOCH_BITS	20
#define SHMQ_MAX_CLIENTS	(1u << SHMQ_TOKEN_SLOT_BITS)

static inline uint64_t
shmq_claim_state(uint32_t epoch, uint32_t gen, uint32_t slot)
{
	uint64_t tok;

	tok = ((uint64_t)(epoch & ((1u << SHMQ_TOKEN_EPOCH_BITS) - 1))
	    << (SHMQ_TOKEN_SLOT_BITS + SHMQ_TOKEN_GEN_BITS)) |
	    ((uint64_t)(gen & ((1u << SHMQ_TOKEN_GEN_BITS) - 1))
	    << SHMQ_TOKEN_SLOT_BITS) |
	    (slot & (SHMQ_MAX_CLIENTS - 1));
	return (tok << 2) | SHMQ_CQ_CLAIMED_TAG;
}

/* ------------------------------------------------------------------ */
/* Control region                                                      */
/* ------------------------------------------------------------------ */

#define SHMQ_CTL_MAGIC		0x314c54434d485351ull	/* "QSHMCTL1" */
#define SHMQ_CTL_VA_BYTES	(16ull << 30)	/* address space reserved */
#define SHMQ_CTL_INIT_BYTES	(1ull << 20)

#define SHMQ_TOPIC_CHUNK	256		/* topics per chunk */
#define SHMQ_TOPIC_CHUNKS	4096		/* => 1,048,576 topics */
#define SHMQ_MAX_TOPICS		(SHMQ_TOPIC_CHUNK * SHMQ_TOPIC_CHUNKS)
#define SHMQ_CLIENT_CHUNK	64
#define SHMQ_CLIENT_CHUNKS	4096		/* => 262,144 clients */
#define SHMQ_MAX_QUEUES		1024

struct shmq_ctl {
	/* Identity: written once by the creator, ready last. */
	uint64_t	magic;
	uint32_t	layout_version;
	uint32_t	ctl_hdr_bytes;	/* sizeof(struct shmq_ctl) */
	uint32_t	ready;		/* 1 once initialised (release) */
	uint32_t	epoch;
	uint64_t	store_id;
	uint64_t	created_ns;
	uint64_t	recoveries;

	/* Parameters (from bus.conf). */
	uint64_t	segment_bytes;
	uint32_t	cq_entries;
	uint32_t	max_msg_bytes;
	uint32_t	default_queues;
	uint32_t	auto_create;
	uint32_t	stall_ms;
	uint32_t	pad0;

	/* Allocation: bump allocator, under admin. */
	uint64_t	size_bytes;	/* current object size */
	uint64_t	alloc_off;	/* first free byte */

	/* Topics: directory of chunk offsets, and a name hash. */
	uint64_t	topic_dir_off;	/* uint64_t[SHMQ_TOPIC_CHUNKS] */
	uint64_t	topic_hash_off;	/* struct shmq_topic_hash (release) */
	uint32_t	ntopics;	/* published count (release) */
	uint32_t	nclients;	/* client slots allocated */
	uint64_t	client_dir_off;	/* uint64_t[SHMQ_CLIENT_CHUNKS] */

	/* Consumer groups: directory of chunk offsets, published count. */
	uint64_t	group_dir_off;	/* uint64_t[SHMQ_GROUP_CHUNKS] */
	uint32_t	ngroups;	/* published count (release) */
	uint32_t	pad6;
	uint8_t		pad1[SHMQ_CACHELINE * 3 - 144];

	/* Admin lock: robust, process-shared; rare operations only. */
	pthread_mutex_t	admin;
	uint8_t		pad2[SHMQ_CACHELINE - sizeof(pthread_mutex_t)];

	/* Commitlog tail: CAS by producers. */
	uint64_t	log_tail;
	uint64_t	log_ready_end;	/* end of the last segment created */
	uint32_t	write_refused;	/* nonzero: the store is above its hard
					   disk ceiling (retention.c); sends
					   fail with SHMQ_ENOSPC.  In this line
					   because every send loads it anyway */
	uint8_t		pad3[SHMQ_CACHELINE - 20];

	/* Read-mostly and statistics. */
	uint64_t	log_min_off;	/* first byte still stored */
	uint64_t	holes;		/* entries turned into holes */
	uint64_t	corrupt;	/* corrupt records met by readers */
	uint64_t	resends;	/* sends retried after a hole */
	uint8_t		pad4[SHMQ_CACHELINE - 32];

	/* Doorbell for consumers that follow several topics. */
	struct ck_ec64	doorbell;
	uint8_t		pad5[SHMQ_CACHELINE - sizeof(struct ck_ec64)];

	/*
	 * Sync flush with group commit (flush.c).  Senders in sync mode
	 * raise flush_want_off (CAS to the max) to the end of their record
	 * and bump flush_req; the server (shmqd's flusher) syncs, raises
	 * flushed_off (CAS to the max, release) and bumps flush_done.
	 * flushed_off only ever names a point below which every record was
	 * whole before the sync that covered it began.
	 */
	uint64_t	flush_want_off;	/* highest record end asked for */
	uint64_t	flushed_off;	/* log bytes below are on disk */
	uint64_t	flush_server_ns; /* server's CLOCK_MONOTONIC beat, 0:
					   no server since the region was
					   made */
	uint64_t	flush_dir_segs;	/* segments whose names are on disk */
	uint64_t	flush_rounds;	/* server syncs for sync senders */
	uint64_t	flush_acks;	/* sync sends the server acknowledged */
	uint64_t	flush_self;	/* sync sends that synced themselves */
	uint64_t	flush_timeouts;	/* sync sends that timed out */
	struct ck_ec64	flush_req;	/* server sleeps here */
	uint8_t		pad7[SHMQ_CACHELINE - sizeof(struct ck_ec64)];
	struct ck_ec64	flush_done;	/* sync senders sleep here */
	uint8_t		pad8[SHMQ_CACHELINE - sizeof(struct ck_ec64)];

	/*
	 * shmqd's status (shmqd.c, for shmq_bus_info): plain atomic stores
	 * by the daemon's threads, each field by one thread only, no
	 * ordering between fields (readers show a snapshot that may mix two
	 * passes).  daemon_pid and daemon_start_ticks name the process; a
	 * reader believes them only while that pid runs with that start
	 * time, so a SIGKILLed daemon's leftovers read as "no daemon".  The
	 * counters are the running daemon's own, from 0 at its start.
	 */
	int32_t		daemon_pid;	/* 0: none, or stopped cleanly */
	uint32_t	daemon_flush_ms; /* async flush interval, 0: none */
	uint64_t	daemon_start_ticks; /* /proc/<pid>/stat start time */
	uint64_t	daemon_started_ns; /* CLOCK_REALTIME */
	uint64_t	daemon_flush_last_ns; /* CLOCK_REALTIME end of the last
					   flush that wrote a checkpoint */
	uint64_t	daemon_flush_last_dur_ns;
	uint64_t	daemon_flush_last_bytes;
	uint64_t	daemon_flushes;	/* checkpoints written */
	uint64_t	daemon_flush_bytes; /* log bytes they covered */
	/* Reaper and delay scheduler (their own threads). */
	uint32_t	daemon_reap_ms;	/* reaper interval, 0: none */
	uint32_t	pad9;
	uint64_t	daemon_reap_passes;
	uint64_t	daemon_reaped_clients; /* dead clients' slots freed */
	uint64_t	daemon_reaped_holes; /* dead claims made holes */
	uint64_t	daemon_reaped_members; /* dead group members removed */
	uint64_t	daemon_delay_delivered; /* delayed messages delivered */
	uint64_t	daemon_delay_errors; /* scheduler restarts after errors */
	uint8_t		pad10[SHMQ_CACHELINE - 56];

	/*
	 * Retention (retention.c, run by shmqd's reclaimer; one writer at a
	 * time under the admin lock).  Totals since the region was made.
	 */
	uint64_t	retain_segs;	/* commitlog segments reclaimed */
	uint64_t	retain_bytes;	/* their bytes */
	uint64_t	retain_entries;	/* index entries dropped with them */
	uint64_t	retain_unconsumed; /* of those, not yet consumed by some
					   group that had offsets there */
	uint64_t	retain_refused;	/* sends refused above the ceiling */
	uint64_t	retain_last_ns;	/* CLOCK_REALTIME of the last pass */
	uint64_t	retain_store_bytes; /* store size seen by the last pass */
	uint64_t	retain_disk_free; /* free bytes on its file system */

	/* Transaction checker (shmqd's own thread; txn.c). */
	uint64_t	daemon_txn_checks; /* check-back requests sent */
	uint64_t	daemon_txn_discarded; /* half messages given up after
					   the last check */
	uint64_t	daemon_txn_pending; /* undecided at the last pass */
	uint64_t	daemon_txn_resolved; /* decided (commit or rollback) */
	uint8_t		pad11[SHMQ_CACHELINE - 32];
};
_Static_assert(sizeof(pthread_mutex_t) <= SHMQ_CACHELINE, "mutex fits a line");
_Static_assert(sizeof(struct shmq_ctl) == 14 * SHMQ_CACHELINE,
    "control header layout");
_Static_assert(__builtin_offsetof(struct shmq_ctl, daemon_pid) ==
    10 * SHMQ_CACHELINE, "daemon status starts a line");

/*
 * Topic flags: permissions (as RocketMQ's perm) and deletion in the low
 * byte; above it a count of the topic's updates (topicadmin.c adds
 * SHMQ_TOPIC_F_CHANGE at each), so that one load tells a process whether
 * its cached view (queue count, permissions) is still current.
 */
#define SHMQ_TOPIC_F_NOWRITE	0x1u	/* sends refused (SHMQ_ETOPICPERM) */
#define SHMQ_TOPIC_F_NOREAD	0x2u	/* consumers get nothing new */
#define SHMQ_TOPIC_F_DELETED	0x4u	/* deleted: found by nobody */
#define SHMQ_TOPIC_F_MIRROR	0x8u	/* a mirror of another host's topic:
					   only shmqd's replication writes
					   (with NOWRITE for everyone else) */
#define SHMQ_TOPIC_F_FENCED	0x10u	/* this home was superseded: another
					   host was promoted to home at a
					   higher epoch (promote.c); with
					   NOWRITE.  Sends fail, reads go on */
#define SHMQ_TOPIC_F_MASK	0xffu
#define SHMQ_TOPIC_F_CHANGE	0x100u

struct shmq_topic_hash {
	uint32_t	cap;		/* power of two */
	uint32_t	used;
	uint32_t	slot[];		/* topic id + 1, or 0 */
};

#define SHMQ_REPL_SLOTS		4	/* mirrors a sync send can count
					   (SHMQ_REPL_MAX, shmq.h) */

struct shmq_queue_ctl {
	/* Producer side. */
	uint64_t	tail;		/* hint: next entry to claim */
	uint64_t	ready_end;	/* entries below have a file */
	uint8_t		pad0[SHMQ_CACHELINE - 16];
	/* Read-mostly. */
	uint64_t	min_off;	/* first entry still stored */
	uint64_t	holes;
	uint64_t	last_store_ns;
	/* Replication (home side): entries below repl_acked[i] are held by
	 * the mirror in slot i (federate/replhome.c); sync sends wait on
	 * them (producer.c).  0: no mirror in that slot yet. */
	uint64_t	repl_acked[SHMQ_REPL_SLOTS];
	/* Mirror side: the home's tail of this queue in its last
	 * REPL_STATE (promote.c: how far behind a promotion would be);
	 * written once a second by the mirror's thread. */
	uint64_t	repl_home_tail;
};
_Static_assert(sizeof(struct shmq_queue_ctl) == 2 * SHMQ_CACHELINE,
    "queue control block");

struct shmq_topic_ctl {
	char		name[128];	/* NUL-terminated */
	uint64_t	name_hash;
	uint64_t	queue_off;	/* struct shmq_queue_ctl[queues at
					   creation] */
	uint64_t	created_ns;
	uint32_t	id;
	uint32_t	queues;		/* grows only (release, after qdir) */
	uint32_t	repl_state_s;	/* mirror: CLOCK_REALTIME s of the last
					   REPL_STATE from the home, 0: none
					   since the region was made */
	uint32_t	ready;		/* 1 when complete (release) */
	uint64_t	retention_ms;	/* 0: the bus's retention time */
	uint64_t	qdir_off;	/* 0, or once grown uint64_t
					   [SHMQ_MAX_QUEUES]: each queue's
					   struct shmq_queue_ctl, which never
					   moves (topicadmin.c) */
	uint64_t	home_epoch;	/* generation of the topic's home
					   (promote.c): 0 or 1 until a mirror
					   is promoted; a mirror's is its
					   home's.  Kept in the store's
					   consumequeue/<topic>/home */
	/* Bumped after every publish on any queue of the topic. */
	struct ck_ec64	ec;
	uint32_t	bus_waiters;	/* doorbell lease: ring it while a
					   multi-topic sleeper holds one
					   (shmq__lease_units, consumer.c) */
	uint32_t	flags;		/* SHMQ_TOPIC_F_* (atomic; in this line
					   because every send and every poll
					   loads the event count anyway) */
	/* Bumped when a mirror acknowledges entries (repl_acked): sync
	 * senders sleep on it. */
	struct ck_ec64	repl_ec;
	/*
	 * Promotion's handshake with a mirror's writer (mirror.c,
	 * promote.c): the writer stores busy, then reads stop; promotion
	 * stores stop, then waits for busy to clear before local producers
	 * may claim, so no mirror write lands in an entry a producer took.
	 */
	uint32_t	mirror_busy;
	uint32_t	mirror_stop;
	uint8_t		pad1[SHMQ_CACHELINE - 24 - sizeof(struct ck_ec64)];
};
_Static_assert(sizeof(struct shmq_topic_ctl) == 4 * SHMQ_CACHELINE,
    "topic control block");

#define SHMQ_ROLE_FREE		0
#define SHMQ_ROLE_PRODUCER	1
#define SHMQ_ROLE_CONSUMER	2
#define SHMQ_ROLE_ADMIN		3

struct shmq_client_slot {
	uint32_t	role;		/* SHMQ_ROLE_*, FREE when unused */
	uint32_t	gen;		/* bumped at every (re)use */
	int32_t		pid;
	uint32_t	pad0;
	uint64_t	start_ticks;	/* /proc/<pid>/stat start time */
	uint64_t	started_ns;
	uint64_t	heartbeat_ns;
	char		name[64];
	uint64_t	sent;		/* approximate counters */
	uint64_t	received;
	uint64_t	beat_ms;	/* group members: CLOCK_MONOTONIC_COARSE
					   ms of the owner's last poll */
};
_Static_assert(sizeof(struct shmq_client_slot) == 2 * SHMQ_CACHELINE,
    "client slot");

/* ------------------------------------------------------------------ */
/* Consumer groups (group.c, offsets.c)                                */
/* ------------------------------------------------------------------ */

/*
 * A group is a struct shmq_group_ctl in a chunk of SHMQ_GROUP_CHUNK, found
 * by id through the directory at ctl->group_dir_off (as topics are).  Its
 * members and its offset sets are arrays that are replaced by larger copies
 * when full (the bump allocator never frees: the old copy stays mapped and
 * merely goes stale), so every array starts with its own capacity and
 * count: a lock-free reader bounds-checks against the header of the array
 * it actually loaded.  Members and offset sets change only under the admin
 * mutex.  What the members write without the lock lives elsewhere and
 * never moves: heartbeats in their client slots (beat_ms), owner words and
 * committed offsets in struct shmq_group_queue arrays (one per offset set,
 * allocated once).
 */
#define SHMQ_GROUP_CHUNK	64
#define SHMQ_GROUP_CHUNKS	4096		/* => 262,144 groups */
#define SHMQ_MAX_GROUPS		(SHMQ_GROUP_CHUNK * SHMQ_GROUP_CHUNKS)
#define SHMQ_GROUP_MAX_MEMBERS	(1u << 20)
#define SHMQ_GROUP_MAX_OSETS	(1u << 22)

#define SHMQ_GROUP_CLUSTERING	0
#define SHMQ_GROUP_BROADCASTING	1

struct shmq_group_ctl {
	char		name[128];	/* NUL-terminated */
	uint64_t	name_hash;
	uint64_t	created_ns;
	uint32_t	id;
	uint32_t	model;		/* SHMQ_GROUP_*: the members' */
	uint32_t	strategy;	/* enum shmq__alloc_strategy */
	uint32_t	ready;		/* 1 when complete (release) */
	uint64_t	members_off;	/* struct shmq_group_members (release) */
	uint64_t	osets_off;	/* struct shmq_group_osets (release) */
	uint8_t		pad0[SHMQ_CACHELINE * 3 - 176];
	/* Read by every member's poll (one load); written under admin. */
	uint64_t	generation;	/* +1 at every join, leave, death, reset */
	uint64_t	resets;		/* +1 at every shmq_group_reset */
	uint64_t	scan_due_ms;	/* next liveness scan (CAS claims it) */
	uint64_t	save_due_ms;	/* next periodic save (CAS claims it) */
	uint64_t	saved_hash;	/* of the offsets file last written */
	uint8_t		pad1[SHMQ_CACHELINE - 40];
};
_Static_assert(sizeof(struct shmq_group_ctl) == 4 * SHMQ_CACHELINE,
    "group control block");

/* One member: a consumer handle, named by its client slot's claim token. */
struct shmq_group_member {
	uint64_t	token;		/* shmq_claim_state(epoch, slot gen, slot) */
	uint32_t	slot;		/* client slot */
	int32_t		pid;
	uint64_t	joined_ns;	/* CLOCK_REALTIME */
	uint32_t	timeout_ms;	/* heartbeat timeout of this member */
	uint32_t	pad0;
	char		instance[128];	/* "" or the member's instance name */
	uint8_t		pad1[SHMQ_CACHELINE * 3 - 160];
};
_Static_assert(sizeof(struct shmq_group_member) == 3 * SHMQ_CACHELINE,
    "group member");

struct shmq_group_members {
	uint32_t	cap;
	uint32_t	n;		/* <= cap (release after a member) */
	uint8_t		pad[SHMQ_CACHELINE - 8];
	struct shmq_group_member m[];
};

/* Committed offset and owner of one queue for one offset set. */
struct shmq_group_queue {
	uint64_t	owner;		/* clustering: token of the member that
					   consumes the queue, 0: nobody */
	uint64_t	committed;	/* next offset to consume */
	uint8_t		pad[SHMQ_CACHELINE - 16];
};
_Static_assert(sizeof(struct shmq_group_queue) == SHMQ_CACHELINE,
    "group queue");

/*
 * The offsets of one topic for the group (clustering: instance "") or for
 * one instance of it (broadcasting).
 */
struct shmq_group_oset {
	char		instance[128];
	uint32_t	topic_id;
	uint32_t	queues;
	uint64_t	queue_off;	/* struct shmq_group_queue[queues] */
	uint64_t	created_ns;
	uint32_t	first_queue;	/* the set covers queues first_queue..
					   +queues-1: a grown topic's added
					   queues get a set of their own, so
					   no live array moves (offsets.c) */
	uint32_t	pad0;
	uint8_t		pad[SHMQ_CACHELINE - 32];
};
_Static_assert(sizeof(struct shmq_group_oset) == 3 * SHMQ_CACHELINE,
    "group offset set");

struct shmq_group_osets {
	uint32_t	cap;
	uint32_t	n;		/* <= cap (release after a set) */
	uint8_t		pad[SHMQ_CACHELINE - 8];
	struct shmq_group_oset o[];
};

/* ------------------------------------------------------------------ */
/* Checkpoint file                                                     */
/* ------------------------------------------------------------------ */

#define SHMQ_CKPT_MAGIC		0x54504b434d485351ull	/* "QSHMCKPT" */

struct shmq_checkpoint {
	uint64_t	magic;
	uint32_t	version;
	uint32_t	clean;		/* 1: written by the last closer */
	uint64_t	log_indexed_off; /* records below are all indexed */
	uint64_t	written_ns;
	uint32_t	pad;
	uint32_t	crc;		/* CRC32C of the bytes before */
};
_Static_assert(sizeof(struct shmq_checkpoint) == 40, "checkpoint");

/* ------------------------------------------------------------------ */
/* Federation status file                                              */
/* ------------------------------------------------------------------ */

/*
 * <store>/federation: what shmqd's federation thread knows, for
 * shmq_link_foreach, shmq_route_foreach and shmq_route_lookup (fedinfo.c).
 * shmqd rewrites it whole (temp file, rename) when it changes, at most a
 * few times a second, and removes it when it stops; readers take one
 * read() of it, check the header, the record sizes, the counts against the
 * file size, and the CRC, and never trust a string to be terminated.
 *
 * File: header, nlinks links, nroutes routes; host byte order (one host).
 */
#define SHMQ_FED_MAGIC		0x53545344454651ull	/* "QFEDSTS" */
#define SHMQ_FED_VERSION	1
#define SHMQ_FED_FILE		"federation"
#define SHMQ_FED_FILE_MAX	(64u * 1024 * 1024)	/* readers refuse more */

struct shmq_fed_hdr {
	uint64_t	magic;
	uint32_t	version;
	uint32_t	hdr_bytes;	/* sizeof each record: a fingerprint */
	uint32_t	link_bytes;
	uint32_t	route_bytes;
	uint32_t	nlinks;
	uint32_t	nroutes;
	uint64_t	host_id;	/* this host's */
	uint64_t	written_ns;	/* CLOCK_REALTIME */
	int32_t		pid;		/* the shmqd that wrote it */
	uint32_t	crc;		/* CRC32C of the file, this field 0 */
	char		host[64];	/* this host's name */
	char		listen[64];	/* where it listens */
	uint64_t	rejected;	/* inbound connections cut before auth */
	uint64_t	auth_failures;	/* inbound handshakes with a wrong proof */
};
_Static_assert(sizeof(struct shmq_fed_hdr) == 200, "federation header");

#define SHMQ_FED_LINK_CONFIGURED 0x01	/* a peer = line (dialed) */
#define SHMQ_FED_LINK_INBOUND	0x02	/* the up connection was accepted */
#define SHMQ_FED_LINK_TLS	0x04	/* over TLS (up: its connection;
					   down: the next one) */

struct shmq_fed_link {
	char		host[64];	/* peer's name, "" until it authenticated */
	char		addr[64];	/* configured, or the inbound address */
	uint64_t	host_id;	/* 0 until it authenticated */
	uint32_t	state;		/* SHMQ_LINK_* (shmq.h) */
	uint32_t	flags;		/* SHMQ_FED_LINK_* */
	uint64_t	bytes_in;
	uint64_t	bytes_out;
	uint64_t	frames_in;
	uint64_t	frames_out;
	uint64_t	last_heartbeat_ns; /* CLOCK_REALTIME of the last frame */
	uint64_t	up_since_ns;	/* 0 when not up */
	uint64_t	reconnects;	/* times up again after the first */
	uint64_t	auth_failures;	/* handshakes that failed the proof */
	uint64_t	rejected;	/* connections cut before auth */
	uint64_t	behind_bytes;	/* replication (repl.c) */
	uint64_t	behind_msgs;
	uint64_t	routes;		/* routes learned from it */
	char		last_error[96];
};
_Static_assert(sizeof(struct shmq_fed_link) == 336, "federation link");

#define SHMQ_FED_ROUTE_HOME	0x01	/* the host is the topic's home */
#define SHMQ_FED_ROUTE_LOCAL	0x02	/* the host is this one */
#define SHMQ_FED_ROUTE_FENCED	0x04	/* the host's copy is fenced, or it
					   says HOME at an epoch below
					   another host's HOME (stale) */

struct shmq_fed_route {
	char		topic[128];
	char		host[64];
	uint64_t	host_id;
	uint32_t	queues;
	uint32_t	flags;		/* SHMQ_FED_ROUTE_* */
	uint64_t	updated_ns;	/* CLOCK_REALTIME of its registration */
	uint64_t	epoch;		/* the topic's home epoch on that host
					   (1: never promoted) */
};
_Static_assert(sizeof(struct shmq_fed_route) == 224, "federation route");

/* ------------------------------------------------------------------ */
/* Remote send: what a home holds of a sender's outbox                 */
/* ------------------------------------------------------------------ */

/*
 * <store>/forward-in/<sender's host id, 16 hex digits>: per outbox queue
 * of that sender, the first outbox offset this home does not hold (stored
 * here or refused), so that a sender that sends again after a reconnect
 * or a restart gets no duplicate (federate/fwdin.c).  Rewritten whole
 * (temp file, rename) after each batch is stored; read by shmqd only, and
 * checked (magic, version, count against the size, CRC) before use.
 * Header, then QUEUES uint64_t; host byte order.
 */
#define SHMQ_FWDIN_MAGIC	0x4e4944574651ull	/* "QFWDIN" */
#define SHMQ_FWDIN_VERSION	1
#define SHMQ_FWDIN_DIR		"forward-in"

struct shmq_fwdin_hdr {
	uint64_t	magic;
	uint32_t	version;
	uint32_t	queues;		/* entries that follow */
	uint64_t	store_id;	/* the sender's outbox store */
	uint32_t	pad;
	uint32_t	crc;		/* CRC32C of the file, this field 0 */
};
_Static_assert(sizeof(struct shmq_fwdin_hdr) == 32, "forward-in header");

#endif /* SHMQ_LAYOUT_H */
