/*
 * shmq.h - the public API of libshmq, a message bus for processes on one host.
 *
 * A bus is named and has a store (a directory holding the commitlog, one
 * consume-queue index per queue and the topic metadata) and a control region
 * (a POSIX shared-memory object with the live tails, event counts and the
 * client table).  Producers append records to the commitlog and publish an
 * entry in the queue's index; consumers follow the index and read records in
 * place, zero-copy.
 *
 * Conventions (see STYLE.md):
 *  - Every function that can fail returns int: >= 0 on success, a negative
 *    SHMQ_E* code on failure.  System errors are returned as -errno.
 *    shmq_strerror() names any code; shmq_errmsg() gives the thread's last
 *    detailed message (which file, which topic, why).
 *  - Handles are opaque and created through out-parameters.  The library never
 *    frees caller memory.
 *  - A bus handle belongs to the process that opened it: after fork(), the
 *    child opens its own.  Bus, producer and consumer handles may be used by
 *    several threads only where a comment says so.
 */
#ifndef SHMQ_H
#define SHMQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SHMQ_API __attribute__((visibility("default")))
#else
#define SHMQ_API
#endif

#define SHMQ_VERSION_STRING "0.1.0"

/*
 * Error codes.  System errors are -errno; the codes below lie outside the
 * errno range.  One table feeds the enum, shmq_strerror() and shmq_err_name().
 */
#define SHMQ_ERRNO_MAP(X)						\
	X(EINVAL,   -4001, "invalid argument")				\
	X(ENAME,    -4002, "invalid name (letters, digits, . _ - % only, 1 to 127 characters)") \
	X(ETOOBIG,  -4003, "message too large")				\
	X(ENOTOPIC, -4004, "no such topic")				\
	X(ENOQUEUE, -4005, "no such queue")				\
	X(EACCES,   -4006, "permission denied")				\
	X(ENOSPC,   -4007, "no space left in the store")			\
	X(ECORRUPT, -4008, "corrupt data in the store or control region") \
	X(EVERSION, -4009, "incompatible layout version")		\
	X(ETIMEDOUT,-4010, "timed out")					\
	X(ENOMEM,   -4011, "out of memory")				\
	X(EEXIST,   -4012, "already exists")				\
	X(EBADEXPR, -4013, "invalid expression")			\
	X(ELIMIT,   -4014, "limit reached")				\
	X(ENOENT,   -4015, "no such bus or message")			\
	X(EBUSY,    -4016, "busy")					\
	X(ENOGROUP, -4017, "no such consumer group")			\
	X(ERECLAIMED,-4018, "message reclaimed by retention")		\
	X(ETOPICPERM,-4019, "topic does not allow this (see its permissions)") \
	X(ENOTXN,   -4020, "no such transaction")			\
	X(EPROTO,   -4021, "malformed frame or protocol violation")	\
	X(EAUTH,    -4022, "peer authentication failed")

enum shmq_errno {
#define SHMQ_ERRNO_ENUM(name, val, s) SHMQ_##name = (val),
	SHMQ_ERRNO_MAP(SHMQ_ERRNO_ENUM)
#undef SHMQ_ERRNO_ENUM
	SHMQ_OK = 0
};

/* A static string for any return code (SHMQ_E* or -errno).  Never NULL. */
SHMQ_API const char *shmq_strerror(int err);
/* The symbolic name of a code, e.g. "SHMQ_ETOOBIG" or "ENOENT". Never NULL. */
SHMQ_API const char *shmq_err_name(int err);
/*
 * The detailed message of the last failing call in this thread, e.g.
 * 'topic "a b": invalid name'.  Valid until the thread's next failing call.
 * Empty string if none.
 */
SHMQ_API const char *shmq_errmsg(void);

/* ------------------------------------------------------------------ */
/* Bus                                                                 */
/* ------------------------------------------------------------------ */

struct shmq_bus;

/*
 * Options for opening or creating a bus.  Sizes apply when the store is
 * created; an existing store keeps its own (shmq-stat shows them).
 * Initialise with shmq_bus_opts_init() and change what you need.
 */
struct shmq_bus_opts {
	const char	*home;		/* store root; NULL: $SHMQ_HOME, else
					   $XDG_DATA_HOME/shmq, else
					   ~/.local/share/shmq */
	const char	*unix_group;	/* Unix group (name or number) to
					   share a new bus with: dirs 2770,
					   files 0660 in that group whatever
					   the umask; NULL: owner-only.  Kept
					   in bus.conf: every later open, with
					   or without a group, applies the
					   bus's own.  Opening an existing bus
					   with another group (or a group for
					   an owner-only bus) fails with
					   SHMQ_EINVAL: it cannot change */
	uint64_t	 segment_bytes;	/* commitlog segment size (default
					   256 MiB; >= 1 MiB, multiple of 4096) */
	uint32_t	 cq_entries;	/* entries of the largest index file
					   (default 262144; a power of two
					   from 128); a queue's first file has
					   1024, each next one twice as many */
	uint32_t	 max_msg_bytes;	/* largest record (default 4 MiB;
					   lowered to segment_bytes / 4) */
	uint32_t	 default_queues; /* queues of auto-created topics (4) */
	int		 auto_create;	/* create topics on first send (1) */
	int		 create;	/* create the bus if missing (1) */
	uint32_t	 stall_ms;	/* how long an unfinished reservation may
					   block readers before its owner's
					   liveness is checked (default 20) */
};

/* Fill *o with the defaults above.  Never fails. */
SHMQ_API void shmq_bus_opts_init(struct shmq_bus_opts *o);

/*
 * Open the bus NAME (NULL: $SHMQ_BUS, else "default"), creating the store and
 * control region when missing (opts->create).  When no other process has the
 * bus open, the control region is rebuilt from the store: tails are
 * recovered, a torn commitlog tail is truncated by CRC, and indexes that are
 * behind the commitlog are rebuilt.  opts may be NULL for the defaults.
 * Returns 0 and *out, or SHMQ_ENAME, SHMQ_EACCES (no access to the store or
 * control region), SHMQ_ENOENT (missing and !create), SHMQ_EVERSION,
 * SHMQ_ECORRUPT, -errno.  Blocks briefly while another process opens or
 * closes the same bus.  Thread-safe.
 */
SHMQ_API int shmq_bus_open(struct shmq_bus **out, const char *name,
    const struct shmq_bus_opts *opts);

/*
 * Close the bus.  Producers and consumers opened on it must be closed first.
 * The last process to close a bus writes a checkpoint and removes the
 * control region.  Never fails; NULL is a no-op.
 */
SHMQ_API void shmq_bus_close(struct shmq_bus *bus);

/*
 * Make the next BYTES of the commitlog beyond its tail allocated and mapped
 * writable in this process, making segments as needed, so that the sends
 * that fill them take no page fault.  Producers' helper thread keeps 32 MiB
 * ahead on its own; this is for a burst known in advance (a benchmark, a
 * start-of-day load).  Blocks while the kernel allocates the pages.
 * Returns 0, or SHMQ_ENOSPC / -errno (disk full: nothing lost, the sends
 * will report it too).  Thread-safe.
 */
SHMQ_API int shmq_bus_prefault(struct shmq_bus *bus, uint64_t bytes);

/* The bus's name and store directory (valid while the bus is open). */
SHMQ_API const char *shmq_bus_name(const struct shmq_bus *bus);
SHMQ_API const char *shmq_bus_path(const struct shmq_bus *bus);

/*
 * Create topic TOPIC with QUEUES queues (1..1024).  Returns 0, or
 * SHMQ_EEXIST if it exists (with any queue count), SHMQ_ENAME, SHMQ_EINVAL,
 * SHMQ_ENOSPC, -errno.  Thread-safe; safe against concurrent creators in
 * other processes.
 */
SHMQ_API int shmq_topic_create(struct shmq_bus *bus, const char *topic,
    unsigned queues);

/* Queue count of TOPIC, or SHMQ_ENOTOPIC / SHMQ_ENAME. Thread-safe. */
SHMQ_API int shmq_topic_queues(struct shmq_bus *bus, const char *topic);

/* Topic permissions, as RocketMQ's perm: 2 write, 4 read, 6 both. */
#define SHMQ_PERM_WRITE		2u
#define SHMQ_PERM_READ		4u
#define SHMQ_PERM_RW		(SHMQ_PERM_WRITE | SHMQ_PERM_READ)

/* A topic's settings (shmq_topic_conf_get, shmq_topic_update). */
struct shmq_topic_conf {
	unsigned	 queues;	/* 1..1024 */
	unsigned	 perm;		/* SHMQ_PERM_*: 0, 2, 4 or 6 */
	uint64_t	 retention_ms;	/* 0: the bus's retention time */
};

/* What shmq_topic_update changes (MASK bits). */
#define SHMQ_TOPIC_SET_QUEUES	 0x1u
#define SHMQ_TOPIC_SET_PERM	 0x2u
#define SHMQ_TOPIC_SET_RETENTION 0x4u

/* TOPIC's settings into *out.  0, SHMQ_ENAME, SHMQ_ENOTOPIC. Thread-safe. */
SHMQ_API int shmq_topic_conf_get(struct shmq_bus *bus, const char *topic,
    struct shmq_topic_conf *out);

/*
 * Change what MASK names of TOPIC's settings to CONF's, persisted in the
 * store (they survive a close, a reboot and a recovery), visible at once to
 * every process of the bus:
 *  - queues: grow only (offsets are forever, so a queue never goes away;
 *    fewer queues is SHMQ_EINVAL).  Round-robin producers use the new
 *    queues from their next send; consumer groups rebalance over them (the
 *    group starts the new queues at their first message).  Plain consumers
 *    and push consumers keep the queues they were given.
 *  - perm: without SHMQ_PERM_WRITE sends fail with SHMQ_ETOPICPERM;
 *    without SHMQ_PERM_READ consumers get nothing (poll returns 0 for the
 *    topic; their positions stay, so they go on when read is allowed).
 *  - retention_ms: the topic's own retention time (0: the bus's).
 * Returns 0, SHMQ_ENAME, SHMQ_ENOTOPIC, SHMQ_EINVAL (bad value, shrink),
 * SHMQ_ENOSPC, -errno, with detail.  Thread-safe, any process; blocks on
 * the bus's admin lock and writes a file.
 */
SHMQ_API int shmq_topic_update(struct shmq_bus *bus, const char *topic,
    const struct shmq_topic_conf *conf, unsigned mask);

/* shmq_topic_delete FLAGS: also delete a system topic ('%' names). */
#define SHMQ_TOPIC_FORCE	0x1u

/*
 * Delete TOPIC: lookups fail with SHMQ_ENOTOPIC from now on (a topic made
 * later with the name is new and empty, its offsets from 0); producers
 * that hold it get SHMQ_ENOTOPIC at their next send, consumers get nothing
 * more from it; its index is removed from the store and consumer groups
 * forget their offsets for it.  Its records stay in the commitlog until
 * retention reclaims their segments, but recovery never brings the topic
 * back from them (a tombstone in the store remembers the deletion).
 * Names that start with '%' (retry, dead-letter, delay topics) need
 * SHMQ_TOPIC_FORCE.  Returns 0, SHMQ_ENAME, SHMQ_ENOTOPIC, SHMQ_EINVAL,
 * -errno, with detail.  Thread-safe, any process; blocks on the admin lock
 * and writes files.  A send that races the deletion by microseconds may
 * still store its message (consumers do not see it).
 */
SHMQ_API int shmq_topic_delete(struct shmq_bus *bus, const char *topic,
    unsigned flags);

/* Check a topic name: 0 or SHMQ_ENAME. */
SHMQ_API int shmq_name_check(const char *name);

/*
 * One duration at S as every shmq tool and config file writes it: digits
 * and a unit, ms, s, m, h or d ("72h", "500ms").  Returns 0 with *MS and
 * *END (the first character after the unit; the caller decides what may
 * follow), or SHMQ_EINVAL with the reason in shmq_errmsg() (not a number,
 * no unit, more than MAX_MS).
 */
SHMQ_API int shmq_duration_parse(const char *s, uint64_t max_ms,
    uint64_t *ms, const char **end);

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

/* A user property; names and values are NUL-terminated UTF-8. */
struct shmq_prop {
	const char	*name;
	const char	*value;
};

#define SHMQ_QUEUE_ANY	(-1)

/*
 * A message to send.  Zero it, then set what you need.  Only topic is
 * required; body may be NULL when body_len is 0.
 */
struct shmq_msg {
	const char		*topic;
	const void		*body;
	size_t			 body_len;
	const char		*tags;		/* one tag, or NULL */
	const char		*keys;		/* space-separated keys, or NULL */
	const struct shmq_prop	*props;
	size_t			 nprops;
	const void		*shard_key;	/* same key, same queue: order */
	size_t			 shard_key_len;
	int			 queue;		/* explicit queue, or
						   SHMQ_QUEUE_ANY (set by
						   shmq_msg_init) */
	/*
	 * Delayed delivery (RocketMQ's delay levels and timer messages).
	 * At most one of the two may be set (else SHMQ_EINVAL).  A delayed
	 * message is stored at once in the reserved topic SHMQ_DELAY_TOPIC,
	 * its topic and queue (the explicit queue, or the one of its shard
	 * key, chosen now) in properties, and sent on to its topic when due
	 * by shmqd's scheduler: delayed messages need shmqd running to be
	 * delivered (without it they are kept, and delivered, late, when
	 * it starts).  Delivered at least once, never before due, in due
	 * order; a crash of shmqd may deliver one twice (same
	 * SHMQ_PROP_ORIGIN_MSG_ID, the id the send returned).  Not in
	 * batches (SHMQ_EINVAL).
	 */
	int			 delay_level;	/* 0: none; 1 to
						   SHMQ_DELAY_LEVELS_MAX: the
						   delay of that level in
						   shmqd's table (RocketMQ's
						   "1s 5s ... 2h" by default;
						   shmqd(8) delay_levels) from
						   the store time */
	uint64_t		 deliver_at_ms;	/* 0: none; else when to
						   deliver, CLOCK_REALTIME ms
						   since the epoch, to the
						   millisecond; at most
						   SHMQ_DELAY_MAX_MS ahead
						   (else SHMQ_EINVAL); now or
						   in the past: at once */
};

/* Zero *m and set queue to SHMQ_QUEUE_ANY (no delay). */
SHMQ_API void shmq_msg_init(struct shmq_msg *m);

/* Message ids are 32 upper-case hex digits: store id and commitlog offset. */
#define SHMQ_MSGID_LEN 32

struct shmq_send_result {
	char		 msg_id[SHMQ_MSGID_LEN + 1];
	int		 queue;
	uint64_t	 queue_off;	/* offset in the queue, dense from 0 */
	uint64_t	 log_off;	/* commitlog offset of the record */
};

/*
 * A received message: a zero-copy view into the mapped commitlog, valid until
 * the next shmq_consumer_poll() or shmq_consumer_close() on the consumer that
 * returned it.  Strings are not NUL-terminated: use the lengths.
 */
struct shmq_msgview {
	const char	*topic;
	size_t		 topic_len;
	int		 queue;
	uint64_t	 queue_off;
	uint64_t	 log_off;
	uint64_t	 born_ns;	/* producer's CLOCK_REALTIME at send */
	uint64_t	 store_ns;	/* CLOCK_REALTIME when stored */
	uint64_t	 producer_id;	/* client id of the producer */
	uint32_t	 reconsume;	/* delivery attempts before this one */
	const char	*tags;
	size_t		 tags_len;
	const char	*keys;
	size_t		 keys_len;
	const char	*props;		/* encoded "name\1value\2..." */
	size_t		 props_len;
	const void	*body;
	size_t		 body_len;
	char		 msg_id[SHMQ_MSGID_LEN + 1];
};

/*
 * Look up property NAME in a received message.  Returns a pointer to the
 * value (not NUL-terminated) and its length in *len, or NULL if absent.
 */
SHMQ_API const char *shmq_msgview_prop(const struct shmq_msgview *v,
    const char *name, size_t *len);

/* ------------------------------------------------------------------ */
/* Producer                                                            */
/* ------------------------------------------------------------------ */

struct shmq_producer;

/*
 * Open a producer on BUS, in producer group GROUP (NULL: "DEFAULT").
 * Registers a client slot (visible in shmq-stat).  Returns 0, SHMQ_ENAME,
 * SHMQ_ELIMIT, -errno.  A producer may be used by several threads at once.
 */
SHMQ_API int shmq_producer_open(struct shmq_producer **out,
    struct shmq_bus *bus, const char *group);

/* Close a producer.  NULL is a no-op.  Never fails. */
SHMQ_API void shmq_producer_close(struct shmq_producer *p);

/*
 * Send one message and return once it is stored (in the page cache of the
 * mapped commitlog: async flush) and visible to consumers.  Never blocks on
 * other processes: a dead producer's unfinished reservation is skipped, not
 * waited for.  Fills *res if res is not NULL.
 * Returns 0, or SHMQ_ENAME, SHMQ_ENOTOPIC (and the bus does not auto-create),
 * SHMQ_ENOQUEUE (explicit queue out of range), SHMQ_ETOOBIG, SHMQ_ENOSPC
 * (store full: nothing was stored), -errno.  No allocation, lock or syscall in
 * steady state.  In sync flush mode (shmq_producer_set_sync) it also waits
 * for the disk and may return SHMQ_ETIMEDOUT with the message stored.
 *
 * Remote send: a topic that is a local mirror, or that is not on this bus
 * and whose home is another host by the routes shmqd publishes (looked up
 * at this producer's first send to the topic), is not written here: the
 * message is stored in the bus's outbox ("%OUTBOX%") and shmqd forwards it
 * to the home, in order per topic and sharding key (or queue).  Then *res
 * names the outbox message (its id, outbox queue and offset), a success
 * means stored locally (durable under the producer's flush mode), and the
 * home's refusals (no such topic, too big...) land in "%DLQ%%FORWARD%"
 * instead of being returned (doc/federation.md, "Remote send").  A
 * delayed message to such a topic waits at its home (its scheduler, its
 * level table, due from the send's time).  A topic that is neither
 * writable nor a mirror still fails with SHMQ_ETOPICPERM.
 */
SHMQ_API int shmq_producer_send(struct shmq_producer *p,
    const struct shmq_msg *m, struct shmq_send_result *res);

/* Remote send's system topics and group (shmq-stat's outbox figures). */
#define SHMQ_OUTBOX_TOPIC	"%OUTBOX%"
#define SHMQ_FORWARD_GROUP	"%FORWARD%"	/* the forwarder's offsets */
#define SHMQ_FORWARD_DLQ	"%DLQ%%FORWARD%" /* refused by the home */

/* As shmq_producer_send without a result (fire and forget).  Same errors. */
SHMQ_API int shmq_producer_send_oneway(struct shmq_producer *p,
    const struct shmq_msg *m);

typedef void (*shmq_send_cb)(void *arg, int status,
    const struct shmq_send_result *res);

/*
 * Send and report the outcome to CB(ARG, status, res) exactly once, when the
 * message has reached the bus's durability point.  With the async flush of
 * this version that point is reached before shmq_producer_send_async()
 * returns, so CB runs in the calling thread.  Returns 0 when CB was or will
 * be called (status carries the send's result), or SHMQ_EINVAL (no CB).
 */
SHMQ_API int shmq_producer_send_async(struct shmq_producer *p,
    const struct shmq_msg *m, shmq_send_cb cb, void *arg);

/*
 * Send N messages of one topic to one queue (chosen from the first message as
 * by shmq_producer_send), in order.  Fills res[0..N-1] if res is not NULL.
 * Returns the number sent (N on success); on an error after k > 0 messages,
 * returns k; on an error before any, the negative code.  SHMQ_EINVAL if the
 * messages name different topics.
 */
SHMQ_API int shmq_producer_send_batch(struct shmq_producer *p,
    const struct shmq_msg *msgs, size_t n, struct shmq_send_result *res);

/* RocketMQ's syncFlushTimeout. */
#define SHMQ_SYNC_TIMEOUT_DEFAULT_MS	5000
/* Never sync in the sending thread: wait for shmqd's flusher only. */
#define SHMQ_SYNC_NO_SELF		0x1u

/*
 * Sync flush (RocketMQ's SYNC_FLUSH): with TIMEOUT_MS > 0, every later
 * send of P (send, oneway, async, each message of a batch) returns only
 * once the message's commitlog bytes are on disk, or SHMQ_ETIMEDOUT when
 * they are not known to be within TIMEOUT_MS.  A timeout does not mean
 * the message is lost: it is stored, visible to consumers, *res is filled
 * and it reaches the disk with the next flush; only the durability is
 * unconfirmed.  (A batch returns k, the messages confirmed, when message k
 * timed out: it too is stored.)  TIMEOUT_MS = 0 (the default) goes back
 * to async flush: sends return once the bytes are in the page cache.
 *
 * Who syncs: when shmqd runs, its flusher serves the request at once and
 * covers every sender waiting at that moment with one sync (group
 * commit).  When no shmqd has shown life for a short grace (250 ms), the
 * sender syncs its own record (and its index entry's page) itself, unless
 * FLAGS has SHMQ_SYNC_NO_SELF, in which case it waits for a daemon up to
 * TIMEOUT_MS.  Returns 0 or SHMQ_EINVAL (no producer, unknown flag).  Safe
 * to call while other threads send with P; they see it at their next send.
 */
SHMQ_API int shmq_producer_set_sync(struct shmq_producer *p,
    uint32_t timeout_ms, unsigned int flags);

/*
 * Sync replication (RocketMQ's SYNC_MASTER, Kafka's acks=all): with K > 0,
 * every later send of P returns only once K mirrors of the topic hold the
 * message in their stores (doc/federation.md, "Replication"), or
 * SHMQ_ETIMEDOUT after TIMEOUT_MS.  As with sync flush, a timeout does
 * not lose the message: it is stored here, *res is filled, and it reaches
 * the mirrors when they catch up.  Needs this host's shmqd (it relays the
 * mirrors' acknowledgements): without it every send times out.  K = 0
 * (the default) is async replication.  Combined with sync flush, the
 * flush comes first.  A send to a topic whose home is another host (it
 * would go through the outbox: remote send) fails with SHMQ_EINVAL while
 * K > 0, and stores nothing.  Returns 0 or SHMQ_EINVAL (no producer, K
 * above SHMQ_REPL_MAX, a zero timeout with K > 0).  Safe while other
 * threads send with P.
 */
#define SHMQ_REPL_MAX	4
SHMQ_API int shmq_producer_set_repl(struct shmq_producer *p, unsigned k,
    uint32_t timeout_ms);

/* ------------------------------------------------------------------ */
/* Pull consumer                                                       */
/* ------------------------------------------------------------------ */

struct shmq_consumer;

enum shmq_whence {
	SHMQ_SEEK_FIRST = 0,	/* the oldest message still stored */
	SHMQ_SEEK_LAST,		/* after the newest: only new messages */
	SHMQ_SEEK_OFFSET,	/* a queue offset (clamped to [min, max]) */
	SHMQ_SEEK_TIME		/* first message stored at or after a
				   CLOCK_REALTIME time in ms */
};

/*
 * Open a pull consumer on BUS.  Registers a client slot.  A consumer is used
 * by one thread at a time.  Returns 0, SHMQ_ELIMIT, -errno.
 */
SHMQ_API int shmq_consumer_open(struct shmq_consumer **out,
    struct shmq_bus *bus);

/* Close a consumer; views it returned become invalid.  NULL is a no-op. */
SHMQ_API void shmq_consumer_close(struct shmq_consumer *c);

/*
 * Assign queue QUEUE of TOPIC (SHMQ_QUEUE_ANY: all its queues) to the
 * consumer, with tag expression EXPR ("*", NULL, or "a || b || c").  A newly
 * assigned queue starts at SHMQ_SEEK_LAST; reassigning keeps the position and
 * replaces the expression.  Returns 0, SHMQ_ENOTOPIC, SHMQ_ENOQUEUE,
 * SHMQ_EBADEXPR (with the position in shmq_errmsg()), SHMQ_ENOMEM.
 */
SHMQ_API int shmq_consumer_assign(struct shmq_consumer *c, const char *topic,
    int queue, const char *expr);

/* Stop following QUEUE of TOPIC (or all its queues). 0 or SHMQ_ENOQUEUE. */
SHMQ_API int shmq_consumer_unassign(struct shmq_consumer *c,
    const char *topic, int queue);

/*
 * Move the position of QUEUE of TOPIC (SHMQ_QUEUE_ANY: every assigned queue
 * of TOPIC; topic NULL: every assigned queue).  VALUE is the offset for
 * SHMQ_SEEK_OFFSET and a time in ms since the epoch for SHMQ_SEEK_TIME.
 * Returns 0, SHMQ_ENOQUEUE (not assigned), SHMQ_EINVAL.
 */
SHMQ_API int shmq_consumer_seek(struct shmq_consumer *c, const char *topic,
    int queue, enum shmq_whence whence, uint64_t value);

/*
 * Next offset the consumer will read on QUEUE of TOPIC, or a negative code.
 * Stored in *off.
 */
SHMQ_API int shmq_consumer_position(struct shmq_consumer *c,
    const char *topic, int queue, uint64_t *off);

/*
 * Return up to MAX messages from the assigned queues, in order per queue.
 * Waits up to TIMEOUT_MS for the first one (0: do not wait; -1: forever):
 * spins briefly, then sleeps on a futex until a producer publishes.  Views
 * stay valid until the next poll or close.  Returns the number of messages
 * (0 on timeout), or a negative code (SHMQ_EINVAL if nothing is assigned).
 * Messages whose tag does not match the expression are skipped.  No
 * allocation, lock or syscall while messages are available.
 */
SHMQ_API int shmq_consumer_poll(struct shmq_consumer *c,
    struct shmq_msgview *out, size_t max, int timeout_ms);

/* ------------------------------------------------------------------ */
/* Consumer groups                                                     */
/* ------------------------------------------------------------------ */

/*
 * A consumer group is named (the topic name rule) and lives on the bus as
 * long as the store does: members join and leave, and the group's committed
 * offsets (the next offset to consume, per topic and queue) are kept in the
 * control region and saved in the store (groups/<group>/offsets): by a
 * member every second while they change, by a member that closes, and by
 * the last process to close the bus.  They survive every process exiting
 * and a reboot; a machine crash loses at most the last second of commits
 * (so messages are delivered again: at-least-once).
 *
 * CLUSTERING: the live members share the queues of each topic they
 * subscribe to; every member computes its share with the group's
 * allocation strategy over the sorted member ids.  A queue is consumed by
 * one member at a time: the new owner waits until the previous one has let
 * the queue go (it does in its next poll) unless that one is dead or no
 * longer a member, and starts at the queue's committed offset.  A member
 * whose process dies, or that does not poll for its heartbeat timeout, is
 * removed by the others within about 0.4 s (process death) or the timeout
 * (a hung process), with or without shmqd; its queues move to the others.
 * All members of a group must subscribe to the same topics (as in
 * RocketMQ): queues allocated to a member that does not subscribe to their
 * topic are not consumed.  A member that is removed while alive (it hung)
 * joins again at its next poll.
 *
 * BROADCASTING: every member gets every message of its topics.  Offsets
 * are kept per instance: a broadcasting member must name its instance, and
 * the same instance name resumes the same offsets after a restart.  Two
 * live members with one instance name get SHMQ_EEXIST.
 *
 * Start position.  When the group (clustering) or the instance
 * (broadcasting) subscribes to a topic for the first time, its offsets are
 * set from the opener's start position, once, and kept from then on:
 * SHMQ_SEEK_FIRST: the oldest message stored; SHMQ_SEEK_TIME: the first
 * message stored at or after start_time_ms; SHMQ_SEEK_LAST (default): the
 * queue's tail at that moment.  With LAST, the group gets exactly the
 * messages sent after its first subscription, even those sent while no
 * member was running, and never the history before it, however young the
 * topic (unlike RocketMQ, where a new group on a young topic replays it).
 * Later openers' start positions do not move existing offsets: use
 * shmq_group_reset for that.
 *
 * Commit.  With auto_commit (default), each poll commits what the previous
 * poll of the same consumer returned (at-least-once: a message is committed
 * only once the caller has come back for more), and close commits what was
 * returned.  Otherwise the caller commits with shmq_consumer_commit.  What
 * was returned but not committed when a member dies or loses a queue is
 * delivered again to the next owner.
 */

enum shmq_group_model {
	SHMQ_CLUSTERING = 0,
	SHMQ_BROADCASTING = 1
};

struct shmq_group_opts {
	int		 model;		/* SHMQ_CLUSTERING (default) or
					   SHMQ_BROADCASTING; all members of
					   a group must agree while any is
					   live (else SHMQ_EINVAL) */
	const char	*strategy;	/* clustering allocation: "averagely"
					   (NULL, default), "circle" or
					   "consistent-hash"; all live members
					   must agree (else SHMQ_EINVAL) */
	const char	*instance;	/* member name (the name rule):
					   required for BROADCASTING (the key
					   of its offsets); for CLUSTERING
					   optional, an id in the allocation
					   (default: one made from the client
					   slot).  Unique among live members
					   (else SHMQ_EEXIST) */
	int		 start;		/* SHMQ_SEEK_LAST (default),
					   SHMQ_SEEK_FIRST or SHMQ_SEEK_TIME */
	uint64_t	 start_time_ms;	/* for SHMQ_SEEK_TIME: CLOCK_REALTIME
					   ms since the epoch */
	int		 auto_commit;	/* 1 (default): see above */
	uint32_t	 heartbeat_timeout_ms; /* a member that does not poll
					   for this long is removed (3000;
					   >= 500) */
	const struct shmq_retry_opts *retry; /* retry schedule and maximum
					   (shmq_consumer_retry); NULL: the
					   defaults */
};

/* Fill *o with the defaults above.  Never fails. */
SHMQ_API void shmq_group_opts_init(struct shmq_group_opts *o);

/*
 * Open a pull consumer that joins consumer group GROUP on BUS (creating the
 * group if it does not exist).  opts may be NULL for the defaults.  Then
 * subscribe it to topics with shmq_consumer_subscribe; the group, not the
 * caller, chooses its queues (shmq_consumer_assign and _unassign return
 * SHMQ_EINVAL on it).  Returns 0 and *out, SHMQ_ENAME (group or instance),
 * SHMQ_EINVAL (bad options, no instance for broadcasting, or a model or
 * strategy other than the live members'), SHMQ_EEXIST (instance taken by a
 * live member), SHMQ_ELIMIT, -errno.  Leave with shmq_consumer_close.  A
 * consumer is used by one thread at a time.
 */
SHMQ_API int shmq_consumer_open_group(struct shmq_consumer **out,
    struct shmq_bus *bus, const char *group,
    const struct shmq_group_opts *opts);

/*
 * Subscribe a group consumer to TOPIC with tag expression EXPR (as
 * shmq_consumer_assign); again for the same topic replaces the expression.
 * Returns 0, SHMQ_EINVAL (not a group consumer), SHMQ_ENAME,
 * SHMQ_ENOTOPIC, SHMQ_EBADEXPR, SHMQ_ENOMEM, SHMQ_ELIMIT.
 */
SHMQ_API int shmq_consumer_subscribe(struct shmq_consumer *c,
    const char *topic, const char *expr);

/* shmq_consumer_commit: commit the consumer's current position. */
#define SHMQ_OFFSET_CURRENT	UINT64_MAX

/*
 * Commit OFFSET, the next offset to consume (the last processed queue_off
 * + 1), for QUEUE of TOPIC on a group consumer that holds the queue; or,
 * with OFFSET SHMQ_OFFSET_CURRENT, its current position (everything the
 * polls returned).  TOPIC NULL (queue SHMQ_QUEUE_ANY, offset
 * SHMQ_OFFSET_CURRENT): every queue it holds.  Returns 0, SHMQ_EINVAL,
 * SHMQ_ENOQUEUE (the queue is not, or no longer, this member's), SHMQ_EBUSY
 * (the offset was changed meanwhile by shmq_group_reset or by a member
 * that took the queue over: nothing committed; the next poll picks up the
 * change).  No syscall, lock or allocation.
 */
SHMQ_API int shmq_consumer_commit(struct shmq_consumer *c, const char *topic,
    int queue, uint64_t offset);

/*
 * Set the committed offsets of GROUP, for TOPIC (NULL: every topic it has
 * offsets for; for broadcasting, those of every instance) to the first
 * message stored at or after TIME_MS (CLOCK_REALTIME ms since the epoch; to
 * the millisecond), or to the queue's tail if there is none.  Live members
 * pick the new offsets up at their next poll (messages they returned before
 * may be returned again).  A clustering group with no offsets yet for TOPIC
 * gets them.  Returns 0, SHMQ_ENAME, SHMQ_ENOGROUP (no such group on the
 * bus), SHMQ_ENOTOPIC, -errno.  Thread-safe.
 */
SHMQ_API int shmq_group_reset(struct shmq_bus *bus, const char *group,
    const char *topic, uint64_t time_ms);

struct shmq_group_member_info {
	uint32_t	 client_id;	/* as in shmq_client_info */
	int		 pid;
	int		 alive;		/* process alive (pid + start time) */
	char		 instance[128];	/* "" if none */
	uint64_t	 joined_ns;
	uint64_t	 heartbeat_age_ms; /* since its last poll */
	uint32_t	 queues;	/* queues it holds now (clustering) or
					   follows (broadcasting) */
};

struct shmq_group_queue_info {
	char		 topic[128];
	char		 instance[128];	/* broadcasting: whose offset; else "" */
	int		 queue;
	int		 owner_pid;	/* clustering: holder's pid, 0: none */
	uint32_t	 owner_client;	/* its client id, if owner_pid != 0 */
	uint64_t	 committed;	/* next offset to consume */
	uint64_t	 min_off;	/* of the queue */
	uint64_t	 max_off;
	uint64_t	 lag;		/* max_off - committed (0 if above) */
};

struct shmq_group_info {
	char		 name[128];
	char		 model[16];	/* "clustering", "broadcasting" */
	char		 strategy[32];
	uint64_t	 generation;
	uint64_t	 resets;
	size_t		 nmembers;
	const struct shmq_group_member_info *members;
	size_t		 nqueues;
	const struct shmq_group_queue_info *queues;
	/*
	 * Retries and dead letters (clustering groups; 0 for others).  The
	 * queues of the retry topic are in queues[] too.
	 */
	int		 has_retry;	/* %RETRY%<group> exists */
	int		 has_dlq;	/* %DLQ%<group> exists */
	uint64_t	 retry_pending;	/* messages in %RETRY%<group> that the
					   group has not consumed yet, due or
					   not: the sum over its queues of
					   max_off - committed (max_off -
					   min_off where the group has no
					   offset yet) */
	uint64_t	 dlq_messages;	/* dead letters stored in %DLQ%<group>:
					   its committed entries from min_off
					   on, resend markers excluded */
	uint64_t	 dlq_resent;	/* of those, the ones a resend marker
					   names (shmq-admin dlq resend: tag
					   "%RESENT", property RESENT_ID) */
};

/*
 * Call CB(ARG, info) for every group of the bus (or GROUP only; then
 * SHMQ_ENOGROUP if there is none), in creation order.  The arrays in *info
 * are valid during the call only.  Stops early and returns CB's value if
 * it returns non-zero.  Returns 0 or a negative code.  Thread-safe.  The
 * dead-letter counts read the index of %DLQ%<group> (32 bytes a message)
 * and the records of its resend markers: a large DLQ makes this slower.
 */
SHMQ_API int shmq_group_foreach(struct shmq_bus *bus, const char *group,
    int (*cb)(void *arg, const struct shmq_group_info *info), void *arg);

/* ------------------------------------------------------------------ */
/* Push consumer                                                       */
/* ------------------------------------------------------------------ */

/*
 * A push consumer is a consumer group member (as shmq_consumer_open_group)
 * that runs a listener on a pool of threads of its own, as RocketMQ's
 * DefaultMQPushConsumer: one thread polls the member's queues and hands
 * the messages to the pool.  The listener gets a batch of messages (views,
 * valid during the call only) and answers SHMQ_CONSUME_SUCCESS or
 * SHMQ_CONSUME_LATER (any other value counts as LATER).
 *
 * Commit.  A queue's committed offset moves only up to its lowest message
 * whose listener has not yet answered SUCCESS (RocketMQ's ProcessQueue
 * rule), a few ms after the answer.  A member that dies, whatever the
 * cause (a listener that crashes the process included), thus loses
 * nothing: the member that takes its queues over gets every unfinished
 * message again (at-least-once; the group's auto_commit option is
 * ignored).
 *
 * CONCURRENT listener: the messages of one queue may be processed by
 * several threads at once, in any order.  LATER, in a clustering group:
 * the message is thrown back to the group's retry topic
 * (shmq_consumer_retry, level 0: the group's schedule, then its
 * dead-letter topic, counted in shmq_push_stats.gave_up).  In a
 * broadcasting group, or when that fails: it is delivered again by this
 * process after retry_delay_ms, with msgview.reconsume counting the
 * earlier attempts, up to max_reconsume times, then given up (gave_up).
 * Such a local retry pins the queue's committed offset, so a process that
 * dies meanwhile has it delivered again by the next owner, but it is not
 * durable otherwise (its attempt count starts again there).
 *
 * ORDERLY listener: a queue is processed by one thread at a time, in queue
 * order, and by one member at a time across processes: a member lets a
 * queue go to another only once its listener calls on that queue have
 * returned (it keeps its heartbeat meanwhile, for at most 60 s), and a
 * dead member's queues are taken over (clustering).  LATER suspends the
 * queue for suspend_ms, then delivers the same messages again (reconsume
 * counts), up to max_reconsume times (default unlimited).
 *
 * Flow control (RocketMQ's pullThresholdForQueue): at most max_inflight
 * messages of a queue are held between its lowest unfinished message and
 * the newest one polled; the poller stops reading a queue at that limit
 * and goes on with the others.
 *
 * Threads.  A push consumer runs threads + 1 threads.  RocketMQ's default
 * pool is 20 threads (consumeThreadMin); ours is 4, as the listener's work
 * shares the host with the producers and the other members: raise it for
 * listeners that block.
 */

struct shmq_push;

enum shmq_listener_kind {
	SHMQ_LISTENER_CONCURRENT = 0,
	SHMQ_LISTENER_ORDERLY = 1
};

enum shmq_consume_status {
	SHMQ_CONSUME_SUCCESS = 0,
	SHMQ_CONSUME_LATER = 1
};

/*
 * A listener: process MSGS[0..N-1] (N <= batch; one queue per call for an
 * orderly listener, in queue order).  The views are valid during the call
 * only.  Called on the push consumer's threads, several at once.
 */
typedef int (*shmq_listener_cb)(void *arg, const struct shmq_msgview *msgs,
    size_t n);

struct shmq_push_opts {
	int		 kind;		/* SHMQ_LISTENER_CONCURRENT (default)
					   or SHMQ_LISTENER_ORDERLY */
	unsigned	 threads;	/* listener threads (4; 1..256) */
	unsigned	 batch;		/* messages per call at most (1;
					   consumeMessageBatchMaxSize) */
	unsigned	 max_inflight;	/* per queue (1000; 1..65536;
					   pullThresholdForQueue) */
	uint32_t	 suspend_ms;	/* orderly LATER: pause of the queue
					   (1000; suspendCurrentQueueTimeMillis) */
	uint32_t	 retry_delay_ms; /* concurrent LATER kept in the
					   process: delay before the next
					   attempt (5000) */
	int		 max_reconsume;	/* attempts after the first before a
					   message retried in the process is
					   given up; -1 (default): 16
					   concurrent, unlimited orderly (the
					   retry topic has the group's own) */
};

/* Fill *o with the defaults above.  Never fails. */
SHMQ_API void shmq_push_opts_init(struct shmq_push_opts *o);

/*
 * Open a push consumer that joins GROUP on BUS with group options GOPTS
 * (as shmq_consumer_open_group; NULL: defaults) and push options POPTS
 * (NULL: defaults).  Subscribe with shmq_push_subscribe, then start.
 * Returns 0 and *out, SHMQ_EINVAL (bad options), or what
 * shmq_consumer_open_group returns.  The member polls (heartbeats) only
 * once started: start within the heartbeat timeout of subscribing, or it
 * is removed meanwhile and joins again when started.
 */
SHMQ_API int shmq_push_open(struct shmq_push **out, struct shmq_bus *bus,
    const char *group, const struct shmq_group_opts *gopts,
    const struct shmq_push_opts *popts);

/*
 * Subscribe to TOPIC with tag expression EXPR (as shmq_consumer_subscribe),
 * before shmq_push_start.  Returns 0, SHMQ_EBUSY (started), or what
 * shmq_consumer_subscribe returns.
 */
SHMQ_API int shmq_push_subscribe(struct shmq_push *pc, const char *topic,
    const char *expr);

/*
 * Start the poller and LISTENER's threads (LISTENER(ARG, msgs, n)).
 * Returns 0, SHMQ_EINVAL (no listener, no topic subscribed), SHMQ_EBUSY
 * (started before), -errno (threads could not be made).
 */
SHMQ_API int shmq_push_start(struct shmq_push *pc, shmq_listener_cb listener,
    void *arg);

/*
 * Stop: no new listener calls, wait for those running, commit, and leave
 * the group (messages polled but not yet handed to the listener go to the
 * queues' next owners).  Final: a stopped push consumer cannot start
 * again.  Blocks while listener calls run.  Returns 0, or SHMQ_EINVAL when
 * called from a listener (which would wait for itself).
 */
SHMQ_API int shmq_push_stop(struct shmq_push *pc);

/* Stop (if started) and free.  NULL is a no-op.  Not from a listener. */
SHMQ_API void shmq_push_close(struct shmq_push *pc);

struct shmq_push_stats {
	uint64_t	 delivered;	/* messages handed to the listener
					   (every attempt) */
	uint64_t	 succeeded;	/* answered SUCCESS */
	uint64_t	 later;		/* answered LATER */
	uint64_t	 gave_up;	/* beyond max_reconsume */
	uint64_t	 unreadable;	/* records that failed their checks */
	uint64_t	 flow_paused;	/* polls that met a full queue */
	uint64_t	 poll_errors;
	uint32_t	 max_inflight_seen; /* largest count held for a queue */
	uint32_t	 queues;	/* queues held now */
};

/* Fill *st (counters since open).  Thread-safe.  0 or SHMQ_EINVAL. */
SHMQ_API int shmq_push_stats(struct shmq_push *pc, struct shmq_push_stats *st);

/* ------------------------------------------------------------------ */
/* Property filters, retries and dead letters                          */
/* ------------------------------------------------------------------ */

/*
 * SQL92 property filters (RocketMQ's MessageSelector.bySql): a condition
 * on a message's properties, with its tag as property TAGS, e.g.
 * "region = 'eu' AND (price BETWEEN 10 AND 20 OR TAGS IN ('a', 'b'))".
 * Comparisons (= <> < <= > >=), [NOT] BETWEEN, [NOT] IN, IS [NOT] NULL,
 * AND, OR, NOT, and [NOT] CONTAINS / STARTSWITH / ENDSWITH; a missing
 * property is NULL and a message matches only if the condition is true.
 * Parsed once when subscribing; evaluated in the poll without allocation.
 * A message a filter rejects is passed over and counts as consumed (a
 * group's committed offset moves past it).
 */

/*
 * As shmq_consumer_subscribe, with SQL92 filter SQL instead of a tag
 * expression (NULL: every message).  Again for the same topic replaces the
 * topic's filter, tag expression or SQL.  Returns 0, SHMQ_EINVAL (not a
 * group consumer), SHMQ_ENAME, SHMQ_ENOTOPIC, SHMQ_EBADEXPR (with what was
 * expected and its 0-based position in shmq_errmsg(), e.g. 'sql filter
 * "a > ": expected a value at position 4'), SHMQ_ENOMEM, SHMQ_ELIMIT.
 */
SHMQ_API int shmq_consumer_subscribe_sql(struct shmq_consumer *c,
    const char *topic, const char *sql);

/* As shmq_consumer_assign, with SQL92 filter SQL (NULL: every message). */
SHMQ_API int shmq_consumer_assign_sql(struct shmq_consumer *c,
    const char *topic, int queue, const char *sql);

/*
 * Retries and dead letters (RocketMQ's %RETRY%<group> and %DLQ%<group>).
 *
 * A member of a clustering group throws a message it could not process
 * back with shmq_consumer_retry: a copy of it (tags, keys, properties and
 * body) is stored in the group's retry topic "%RETRY%<group>", to come
 * back after a delay to whichever member then holds its queue, with
 * shmq_msgview.reconsume one higher.  Its view shows the original topic;
 * its queue, offsets and msg_id are the retry topic's (commit and retry it
 * as any message), and properties ORIGIN_MESSAGE_ID (the first message's
 * id), RETRY_TOPIC (the original topic) and RETRY_DUE_MS (when it was due,
 * CLOCK_REALTIME ms) say where it came from.  A message thrown back after
 * max_reconsume retries (16 by default) goes to the dead-letter topic
 * "%DLQ%<group>" (one queue) instead, which nobody consumes on its own:
 * read it with a plain consumer or shmq-admin dlq, which can resend it.
 *
 * Delays are RocketMQ's delay levels, "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m
 * 8m 9m 10m 20m 30m 1h 2h" by default; retry N (1-based) uses level
 * first_level + N - 1 (3 by default: 10 s, 30 s, 1 m, ... 2 h: 16 retries
 * in about 4 h 46 min), the last level once past it.
 *
 * No daemon is needed.  The retry topic is a topic like any other, with
 * one queue per delay level (so that the due times in a queue come in
 * store order) and durable group offsets: once the first retry has made
 * it, every clustering member follows it on its own, from its first
 * message, and holds each queue at its head message until that is due,
 * asleep in shmq_consumer_poll (no busy loop) until then.  Retries survive
 * every process exiting and a reboot, and are delivered when any member
 * polls again.  Names starting with '%' are reserved for these topics:
 * shmq_topic_create and sends to a missing topic refuse to make one
 * (SHMQ_ENAME); existing ones can be read and sent to.  A group name
 * longer than 120 characters leaves no room for them (retries fail with
 * SHMQ_ENAME).
 */

#define SHMQ_DELAY_LEVELS_MAX	18

/* Properties of a retried or dead-lettered message. */
#define SHMQ_PROP_RETRY_TOPIC	"RETRY_TOPIC"
#define SHMQ_PROP_ORIGIN_MSG_ID	"ORIGIN_MESSAGE_ID"
#define SHMQ_PROP_RETRY_DUE_MS	"RETRY_DUE_MS"

/* The marker shmq-admin dlq resend appends to a dead-letter topic: an
 * empty message with this tag whose property names the resent id. */
#define SHMQ_DLQ_RESENT_TAG	"%RESENT"
#define SHMQ_PROP_RESENT_ID	"RESENT_ID"

/*
 * Delayed messages (struct shmq_msg delay_level, deliver_at_ms) wait in
 * this reserved topic.  A delivered message carries its first id in
 * SHMQ_PROP_ORIGIN_MSG_ID and its due time in SHMQ_PROP_DELIVER_MS.  The
 * longest delay of deliver_at_ms is 30 days; precision one millisecond
 * (lateness is the scheduler's wake-up, about a millisecond when idle).
 */
#define SHMQ_DELAY_TOPIC	"%SCHEDULE%"
#define SHMQ_DELAY_MAX_MS	(30ull * 86400 * 1000)
#define SHMQ_PROP_DELIVER_MS	"TIMER_DELIVER_MS"

struct shmq_retry_opts {
	uint32_t	 max_reconsume;	/* retries before the dead-letter
					   topic (16; 0: straight there) */
	const uint32_t	*delay_levels_ms; /* the delay of level 1, 2, ...;
					   NULL: RocketMQ's 18 levels */
	unsigned	 ndelay_levels;	/* 1 to SHMQ_DELAY_LEVELS_MAX, or 0
					   with NULL levels */
	unsigned	 first_level;	/* level of the first retry (3) */
};

/* Fill *o with the defaults above.  Never fails. */
SHMQ_API void shmq_retry_opts_init(struct shmq_retry_opts *o);

/*
 * Throw back message V, returned by the last poll of group consumer C, to
 * be delivered again after the delay of DELAY_LEVEL (1 to the group's
 * number of levels; 0: the next in the schedule; -1: to the dead-letter
 * topic at once).  The group's retry topic is made on the first retry.
 * Commit V as usual (auto-commit does): the copy is stored before this
 * returns.  Returns 0 (stored for a retry), 1 (stored in the dead-letter
 * topic), SHMQ_EINVAL (NULL, a plain or broadcasting consumer, a bad
 * level), SHMQ_ENOQUEUE (V is not a message this member returned from a
 * queue it still holds), SHMQ_ENAME (group name too long), SHMQ_ETOOBIG
 * (the copy with its added properties is too large), SHMQ_ENOSPC,
 * SHMQ_ENOMEM, -errno.  The first call registers a producer client slot
 * for the consumer.  Not for the per-message fast path: it allocates.
 */
SHMQ_API int shmq_consumer_retry(struct shmq_consumer *c,
    const struct shmq_msgview *v, int delay_level);

/* ------------------------------------------------------------------ */
/* Transactional messages                                              */
/* ------------------------------------------------------------------ */

/*
 * Transactional messages (RocketMQ's TransactionMQProducer).  A
 * transactional send stores the message as a "half" message in the
 * reserved topic SHMQ_HALF_TOPIC, invisible to consumers, runs the
 * caller's local transaction (EXEC), and ends the transaction with its
 * answer: COMMIT stores the message in its topic (same body, tags, keys
 * and properties, plus SHMQ_PROP_TXN_ID, the transaction's id), ROLLBACK
 * drops it, UNKNOWN leaves it undecided.  Each decision is recorded in
 * SHMQ_HALF_OP_TOPIC.  A transaction can also be decided later, from any
 * process, with shmq_txn_end (RocketMQ 5's Transaction.commit()).
 *
 * Check-back (needs shmqd).  shmqd's transaction checker finds the half
 * messages still undecided txn_timeout_ms (6 s, RocketMQ's
 * transactionTimeOut; or the message's own CHECK_IMMUNITY_TIME_IN_SECONDS
 * if longer) after they were stored, and asks a live producer of the
 * message's producer group: it writes a check request to
 * "%TXCHECK%<group>", which the producers of the group that set a
 * checker (shmq_producer_set_txn_checker) share as members of one
 * clustering consumer group, so a dead producer's requests go to a live
 * one, and requests wait (durable) while none runs.  The checker callback
 * answers as EXEC does and the library ends the transaction.  An
 * undecided transaction is asked again every txn_check_interval_ms (30 s,
 * RocketMQ 5's transactionCheckInterval), at most txn_check_max times
 * (15, transactionCheckMax); then it is given up: copied to
 * SHMQ_TXN_DISCARD_TOPIC for operators (one queue, consumed by nobody on
 * its own; read it with a plain consumer), logged, never committed.
 * Without shmqd, undecided transactions wait, and are checked when it
 * runs.  Half messages, decisions and the checker's progress are in the
 * store: transactions survive every process (shmqd included) being
 * killed, and a reboot.
 *
 * At least once.  A transaction decided twice gives one message: the
 * first decision wins, later ones do nothing (shmq_txn_end returns 1).
 * A commit may still be delivered twice, with the same SHMQ_PROP_TXN_ID,
 * if its decider is killed between storing the message and recording the
 * decision (it is checked back and committed again), or if two processes
 * decide it in the same few microseconds.  Not in batches, not delayed.
 */

#define SHMQ_HALF_TOPIC		"%HALF%"
#define SHMQ_HALF_OP_TOPIC	"%HALFOP%"
#define SHMQ_TXN_CHECK_PREFIX	"%TXCHECK%"
#define SHMQ_TXN_DISCARD_TOPIC	"%TRANS_CHECK_MAX%"
/* Committed messages: the transaction's id (the half message's id). */
#define SHMQ_PROP_TXN_ID	"__transactionId__"
/* Half messages and check requests: the producer group, checks so far. */
#define SHMQ_PROP_PGROUP	"PGROUP"
#define SHMQ_PROP_TXN_CHECKS	"TRANSACTION_CHECK_TIMES"
/* A user property of a transactional message: no check-back before this
 * many seconds (when longer than shmqd's txn_timeout_ms). */
#define SHMQ_PROP_TXN_IMMUNITY	"CHECK_IMMUNITY_TIME_IN_SECONDS"

/* shmqd's defaults (shmqd(8) txn_timeout_ms, _check_interval_ms, _max). */
#define SHMQ_TXN_TIMEOUT_DEFAULT_MS	6000
#define SHMQ_TXN_INTERVAL_DEFAULT_MS	30000
#define SHMQ_TXN_CHECK_MAX_DEFAULT	15

enum shmq_txn_state {
	SHMQ_TXN_COMMIT = 0,
	SHMQ_TXN_ROLLBACK = 1,
	SHMQ_TXN_UNKNOWN = 2	/* any other value counts as UNKNOWN */
};

/*
 * The local transaction: run it for message M (the one given to
 * shmq_producer_send_txn) whose half message has id TXN_ID, and return a
 * SHMQ_TXN_* state.  Runs in the sending thread.
 */
typedef int (*shmq_txn_exec_cb)(void *arg, const struct shmq_msg *m,
    const char *txn_id);

/*
 * The check-back: say what became of the transaction TXN_ID of message V
 * (its view shows the real topic; valid during the call only).  Returns a
 * SHMQ_TXN_* state.  Runs in the producer's check thread.
 */
typedef int (*shmq_txn_check_cb)(void *arg, const struct shmq_msgview *v,
    const char *txn_id);

struct shmq_txn_result {
	char		 txn_id[SHMQ_MSGID_LEN + 1];	/* "" if the half
					   message was not stored */
	int		 state;		/* what EXEC answered (SHMQ_TXN_*) */
	int		 decided_before; /* 1: someone decided it first (the
					   check-back): this answer did
					   nothing */
	struct shmq_send_result send;	/* the message in its topic, when
					   committed now */
};

/*
 * Send M as a transactional message with producer P: store its half
 * message (topic, queue, if explicit or from a shard key, and P's group
 * in its properties), call EXEC(ARG, M, txn_id), and end the transaction
 * with its answer.  Fills *RES if not NULL.  Returns 0 once the answer is
 * recorded (UNKNOWN: nothing to record; the check-back will ask), or
 * SHMQ_EINVAL (NULL producer, message or EXEC; a delayed message; a
 * topic whose home is another host, as shmq_producer_send forwards:
 * remote transactions are not supported),
 * SHMQ_ENAME (a reserved topic: names starting with '%'), or what
 * shmq_producer_send returns: then EXEC was not called.  If EXEC was
 * called but its answer could not be recorded, returns that error with
 * res->txn_id set: the transaction stays undecided and is checked back.
 * Allocates (not for the per-message fast path).  Thread-safe as
 * shmq_producer_send.
 */
SHMQ_API int shmq_producer_send_txn(struct shmq_producer *p,
    const struct shmq_msg *m, shmq_txn_exec_cb exec, void *arg,
    struct shmq_txn_result *res);

/*
 * Decide transaction TXN_ID (a shmq_txn_result.txn_id, or the id given to
 * a callback) with STATE, SHMQ_TXN_COMMIT or SHMQ_TXN_ROLLBACK, sending
 * with P (any producer of the bus).  Returns 0 (decided now), 1 (already
 * decided, or given up by shmqd: nothing done), SHMQ_EINVAL (NULL, another
 * state), SHMQ_ENOTXN (TXN_ID is malformed or names no half message of
 * this bus), or a send error.  Thread-safe.
 */
SHMQ_API int shmq_txn_end(struct shmq_producer *p, const char *txn_id,
    int state);

/*
 * Answer shmqd's check-backs for P's producer group with CHECK(ARG, v,
 * txn_id), in a thread of P's that joins the group's check consumers.
 * Requests stored while no producer of the group listened are answered
 * when one starts.  Stopped by shmq_producer_close (do not close P from
 * CHECK).  Returns 0, SHMQ_EINVAL (NULL), SHMQ_EBUSY (set before),
 * SHMQ_ENAME (group name too long for "%TXCHECK%<group>": at most 118
 * characters), or a consumer or thread error.
 */
SHMQ_API int shmq_producer_set_txn_checker(struct shmq_producer *p,
    shmq_txn_check_cb check, void *arg);

/* ------------------------------------------------------------------ */
/* Query (shmq-admin query)                                            */
/* ------------------------------------------------------------------ */

/*
 * Views returned by the queries below point into the mapped commitlog and
 * stay valid while BUS is open.  No retention exists yet; once it does, a
 * view will end when its segment is reclaimed.  Records are returned as
 * stored: a retried message shows its retry topic, not RETRY_TOPIC.  Both
 * queries are thread-safe, read the store without locks and never block;
 * the CRC of every record returned has been checked.
 */

/*
 * Look up the message with id MSG_ID (as returned by a send or in
 * shmq_msgview.msg_id) directly: the id holds the store id and the
 * record's commitlog offset, so this reads one record.  An id of another
 * store finds the copy a mirror holds of its home's message (federation:
 * a mirrored message keeps its home id), through the key index that shmqd
 * keeps: a copy is found once shmqd indexed it, shortly after it was
 * flushed.  Returns 0 and *out, SHMQ_EINVAL (NULL argument, malformed id),
 * SHMQ_ENOENT (an id of another store with no indexed copy here, an offset
 * beyond the log tail, or one where no committed message starts),
 * SHMQ_ERECLAIMED (retention removed it), SHMQ_ECORRUPT (the record there
 * fails its checks or CRC, or a key index file is damaged), -errno.
 * Detail in shmq_errmsg().
 */
SHMQ_API int shmq_query_id(struct shmq_bus *bus, const char *msg_id,
    struct shmq_msgview *out);

/*
 * Call CB(ARG, v) for every message of TOPIC (every queue, queue 0 first,
 * each in offset order) stored in [FROM_MS, TO_MS) (CLOCK_REALTIME ms, by
 * the store time of the queue's index entries).  A snapshot of what was
 * committed when each queue is reached: holes and claims not yet committed
 * are passed.  Stops early and returns CB's value if it returns non-zero.
 * Returns 0, SHMQ_EINVAL (NULL argument, FROM_MS > TO_MS), SHMQ_ENAME,
 * SHMQ_ENOTOPIC, SHMQ_ECORRUPT (after calling CB for every other message:
 * a record in the range failed its checks; detail names the first),
 * -errno.  V is as for shmq_query_id.
 */
SHMQ_API int shmq_query_time(struct shmq_bus *bus, const char *topic,
    uint64_t from_ms, uint64_t to_ms,
    int (*cb)(void *arg, const struct shmq_msgview *v), void *arg);

/*
 * Call CB(ARG, v) for the messages of TOPIC whose keys (space-separated,
 * shmq_msg.keys) include KEY, newest first, at most MAX of them (0: no
 * limit).  Found through the persistent key index that shmqd builds in
 * the background (<store>/index/): only messages shmqd has indexed are
 * found, a little after they were flushed; messages stored while shmqd
 * did not run are indexed when it next runs.  Without shmqd ever having
 * run, nothing is found.  Every candidate's record is read and checked as
 * by shmq_query_id, and its topic and keys compared (hash collisions are
 * filtered).  Stops early and returns CB's value if it returns non-zero.
 * Returns 0, SHMQ_EINVAL (NULL argument; KEY empty or with a space),
 * SHMQ_ENAME, SHMQ_ENOTOPIC, SHMQ_ECORRUPT (after calling CB for every
 * other message: an index file or a record it names is damaged), -errno.
 * Thread-safe; never blocks.  V is as for shmq_query_id.
 */
SHMQ_API int shmq_query_key(struct shmq_bus *bus, const char *topic,
    const char *key, size_t max,
    int (*cb)(void *arg, const struct shmq_msgview *v), void *arg);

/* ------------------------------------------------------------------ */
/* Introspection (shmq-stat)                                           */
/* ------------------------------------------------------------------ */

struct shmq_bus_info {
	char		 name[128];
	char		 path[4096];
	char		 shm_name[256];
	uint64_t	 store_id;
	uint64_t	 segment_bytes;
	uint32_t	 cq_entries;
	uint32_t	 max_msg_bytes;
	uint32_t	 default_queues;
	int		 auto_create;
	uint32_t	 stall_ms;
	uint64_t	 log_min_off;	/* first byte still stored */
	uint64_t	 log_tail_off;	/* next byte to be written */
	uint64_t	 segments;	/* commitlog segment files */
	uint64_t	 store_bytes;	/* disk usage of the store */
	uint64_t	 ctl_bytes;	/* control region size */
	uint32_t	 topics;
	uint32_t	 clients_live;
	uint64_t	 holes;		/* reservations skipped (dead writers) */
	uint64_t	 recoveries;	/* times rebuilt from the store */

	/*
	 * The daemon (shmqd), appended in layout 5.  daemon_pid is 0 when no
	 * shmqd runs for the bus: none was started, it stopped, or it died
	 * (its pid is gone or names another process).  The daemon_* figures
	 * are the running daemon's own, counted from its start; they are 0
	 * when daemon_pid is 0.
	 */
	int		 daemon_pid;
	uint32_t	 daemon_flush_ms;	/* async flush interval, 0: none */
	uint32_t	 daemon_reap_ms;	/* reaper interval, 0: none */
	int		 daemon_serving;	/* 1: beat within 1 s (sync senders
						   are served), 0: not */
	uint64_t	 daemon_started_ns;	/* CLOCK_REALTIME */
	uint64_t	 daemon_beat_age_ns;	/* since its last beat */
	uint64_t	 daemon_flushes;	/* checkpoints written */
	uint64_t	 daemon_flush_bytes;	/* log bytes they covered */
	uint64_t	 daemon_flush_last_ns;	/* CLOCK_REALTIME, 0: none yet */
	uint64_t	 daemon_flush_last_dur_ns;
	uint64_t	 daemon_flush_last_bytes;
	uint64_t	 daemon_reap_passes;
	uint64_t	 daemon_reaped_clients;	/* dead clients' slots freed */
	uint64_t	 daemon_reaped_holes;	/* dead reservations made holes */
	uint64_t	 daemon_reaped_members;	/* dead group members removed */
	uint64_t	 daemon_delay_delivered; /* delayed messages delivered */
	uint64_t	 daemon_delay_errors;	/* scheduler restarts */
	/* The transaction checker: undecided half messages it holds, check
	 * requests sent, decisions it saw, transactions given up. */
	uint64_t	 daemon_txn_pending;
	uint64_t	 daemon_txn_checks;
	uint64_t	 daemon_txn_resolved;
	uint64_t	 daemon_txn_discarded;
	/*
	 * Sync flush (shmq_producer_set_sync), since the control region was
	 * made, whether or not a daemon runs now: group commits (one sync
	 * each), sync sends the daemon acknowledged, sends that synced
	 * themselves (no daemon), sends that timed out, and the log offset
	 * below which every byte is on disk.
	 */
	uint64_t	 sync_rounds;
	uint64_t	 sync_acks;
	uint64_t	 sync_self;
	uint64_t	 sync_timeouts;
	uint64_t	 sync_flushed_off;
	/*
	 * Retention (shmqd's reclaimer), since the control region was made:
	 * segments and bytes reclaimed, index entries dropped (by segment or
	 * by a topic's shorter retention), of those how many some consumer
	 * group had not consumed yet, sends refused above the hard ceiling;
	 * whether writes are refused now, and the last pass (CLOCK_REALTIME
	 * ns, 0: none yet) with the store size and the free space it saw.
	 */
	uint64_t	 reclaimed_segments;
	uint64_t	 reclaimed_bytes;
	uint64_t	 reclaimed_entries;
	uint64_t	 reclaimed_unconsumed;
	uint64_t	 refused_sends;
	int		 writes_refused;
	uint64_t	 retain_last_ns;
	uint64_t	 retain_store_bytes;
	uint64_t	 retain_disk_free;
};

/* Fill *info.  Thread-safe.  0 or a negative code. */
SHMQ_API int shmq_bus_info(struct shmq_bus *bus, struct shmq_bus_info *info);

struct shmq_queue_info {
	char		 topic[128];
	int		 queue;
	int		 queues;	/* queue count of the topic */
	uint64_t	 min_off;	/* first offset still stored */
	uint64_t	 max_off;	/* next offset to be written */
	uint64_t	 messages;	/* max_off - min_off */
	uint64_t	 last_store_ns;	/* store time of the newest message */
	int		 mirror;	/* 1: a mirror of another host's topic
					   (doc/federation.md) */
	uint64_t	 epoch;		/* the topic's home epoch: 1 until a
					   mirror is promoted (a mirror's is
					   its home's) */
	int		 fenced;	/* 1: another host was promoted to home
					   of this topic: sends refused */
};

/*
 * Call CB(ARG, info) for every queue of every topic (or of TOPIC if not
 * NULL), in topic creation order.  Stops early and returns CB's value if it
 * returns non-zero.  Returns 0 or a negative code.
 */
SHMQ_API int shmq_queue_foreach(struct shmq_bus *bus, const char *topic,
    int (*cb)(void *arg, const struct shmq_queue_info *info), void *arg);

struct shmq_client_info {
	uint32_t	 id;
	int		 pid;
	int		 alive;
	char		 role[16];	/* "producer", "consumer" */
	char		 name[64];	/* producer group, or "" */
	uint64_t	 started_ns;
	uint64_t	 heartbeat_ns;
	uint64_t	 sent;		/* messages sent (producers) */
	uint64_t	 received;	/* messages returned (consumers) */
};

/* Call CB for every registered client slot.  As shmq_queue_foreach. */
SHMQ_API int shmq_client_foreach(struct shmq_bus *bus,
    int (*cb)(void *arg, const struct shmq_client_info *info), void *arg);

/* ------------------------------------------------------------------ */
/* Small utilities                                                     */
/* ------------------------------------------------------------------ */

/* CLOCK_REALTIME in nanoseconds (vDSO: no syscall). */
SHMQ_API uint64_t shmq_now_ns(void);

/* The library version, SHMQ_VERSION_STRING. */
SHMQ_API const char *shmq_version(void);

/* ------------------------------------------------------------------ */
/* Federation                                                          */
/* ------------------------------------------------------------------ */

/*
 * shmqd links hosts (doc/federation.md): it keeps authenticated links to
 * its peers and a route table, which says on which hosts each topic lives
 * (each shmqd registers its local topics with its peers).  A process asks
 * its local shmqd through the store: shmqd publishes its links and routes
 * in <store>/federation, and these calls read that file (one read, checked
 * like anything read from disk).  Without a running shmqd with federation
 * configured they return SHMQ_ENOENT.  A shmqd that died leaves its last
 * table behind: fed_info.daemon_alive says whether it still runs.
 */

/* Link states. */
#define SHMQ_LINK_IDLE		0	/* not dialed (inbound only, down) */
#define SHMQ_LINK_CONNECTING	1	/* TCP connect in progress */
#define SHMQ_LINK_AUTH		2	/* handshake in progress */
#define SHMQ_LINK_UP		3
#define SHMQ_LINK_BACKOFF	4	/* waiting to dial again */

/* "idle", "connecting", "authenticating", "up", "backoff", or "?". */
SHMQ_API const char *shmq_link_state_name(unsigned state);

struct shmq_fed_info {
	char		 host[64];	/* this host's name */
	uint64_t	 host_id;
	char		 listen[64];	/* where its shmqd listens */
	int		 pid;		/* the shmqd that wrote the table */
	int		 daemon_alive;	/* 1: it is the bus's running daemon */
	uint64_t	 written_ns;	/* CLOCK_REALTIME */
	uint32_t	 links;
	uint32_t	 routes;
	uint64_t	 rejected;	/* inbound connections cut before they
					   authenticated (garbage, out-of-turn
					   frames, handshake deadline) */
	uint64_t	 auth_failures;	/* inbound handshakes with a wrong proof */
};

struct shmq_link_info {
	char		 host[64];	/* peer's name, "" until it
					   authenticated once */
	char		 addr[64];	/* "host:port" */
	uint64_t	 host_id;	/* 0 until it authenticated once */
	unsigned	 state;		/* SHMQ_LINK_* */
	int		 configured;	/* 1: a peer of the config (dialed) */
	int		 inbound;	/* 1: the connection is the peer's */
	uint64_t	 bytes_in;	/* since shmqd started, all connections */
	uint64_t	 bytes_out;
	uint64_t	 frames_in;
	uint64_t	 frames_out;
	uint64_t	 last_heartbeat_ns; /* CLOCK_REALTIME of the last frame
					   received, 0: none */
	uint64_t	 up_since_ns;	/* 0 unless up */
	uint64_t	 reconnects;
	uint64_t	 auth_failures;	/* wrong proofs, either way */
	uint64_t	 rejected;	/* connections cut before auth */
	uint64_t	 behind_bytes;	/* replication with this host, both
					   ways: bytes (estimated at the mean
					   message size) and messages not yet
					   held by the mirror */
	uint64_t	 behind_msgs;
	uint64_t	 routes;	/* routes learned from this peer */
	char		 last_error[96];
	int		 tls;		/* 1: over TLS (when up, its
					   connection; when down, the next) */
};

struct shmq_route_info {
	char		 topic[128];
	char		 host[64];
	uint64_t	 host_id;
	uint32_t	 queues;
	int		 home;		/* the host is the topic's home */
	int		 local;		/* the host is this one */
	uint64_t	 updated_ns;	/* CLOCK_REALTIME of its registration */
	uint64_t	 epoch;		/* the topic's home epoch there */
	int		 fenced;	/* the host's copy is fenced, or it says
					   home at a lower epoch than another
					   host (stale): not the home */
};

/*
 * Fill *info from BUS's federation table.  Returns 0, SHMQ_ENOENT (no
 * table: no shmqd with federation), SHMQ_ECORRUPT or SHMQ_EVERSION (a
 * table this library cannot read), -errno.  Thread-safe.
 */
SHMQ_API int shmq_fed_info(struct shmq_bus *bus, struct shmq_fed_info *info);

/* Call CB(ARG, link) for every link.  Stops early and returns CB's value
 * if it returns non-zero.  Returns as shmq_fed_info.  Thread-safe. */
SHMQ_API int shmq_link_foreach(struct shmq_bus *bus,
    int (*cb)(void *arg, const struct shmq_link_info *info), void *arg);

/* Call CB(ARG, route) for every route (of TOPIC only, if not NULL), this
 * host's first.  As shmq_link_foreach. */
SHMQ_API int shmq_route_foreach(struct shmq_bus *bus, const char *topic,
    int (*cb)(void *arg, const struct shmq_route_info *info), void *arg);

/*
 * Where TOPIC lives: its routes (the home first, then mirrors) into
 * OUT[0..MAX).  Returns how many hosts have it (may exceed MAX: only MAX
 * are written), 0 if none known, SHMQ_ENAME, or as shmq_fed_info.  When
 * two hosts say they are home (a promoted mirror and an old home that has
 * not heard of it yet), the one with the higher epoch comes first and the
 * other is marked fenced.
 */
SHMQ_API int shmq_route_lookup(struct shmq_bus *bus, const char *topic,
    struct shmq_route_info *out, size_t max);

/* ------------------------------------------------------------------ */
/* Promotion (manual failover; doc/federation.md "Promotion")          */
/* ------------------------------------------------------------------ */

#define SHMQ_PROMOTE_FORCE	0x1	/* promote even when behind */

struct shmq_promote_info {
	uint64_t	 epoch;		/* the topic's home epoch now */
	uint64_t	 home_epoch;	/* the home's, as the mirror knew it */
	uint32_t	 queues;
	int		 state_known;	/* 1: the mirror heard its home's
					   REPL_STATE since its control
					   region was made */
	uint64_t	 state_age_ms;	/* how long ago (when known) */
	uint64_t	 behind_msgs;	/* offsets the home had at that STATE
					   and the mirror lacks: lost if
					   promoted (reused for new messages) */
};

/*
 * Make mirror TOPIC of this bus its home (manual failover): from now on
 * local producers write it, each queue continuing at the offset after the
 * last one mirrored, and its home epoch is the old home's plus one, which
 * shmqd registers with its peers so that the old home fences its copy
 * (sends there fail with SHMQ_ETOPICPERM) when it hears of it.  This
 * bus's shmqd stops replicating the topic.  Without SHMQ_PROMOTE_FORCE in
 * FLAGS, refuses with SHMQ_EBUSY if the mirror lacks offsets its home had
 * at its last REPL_STATE, or never heard one since the control region was
 * made (how far behind is then unknown).  Fills *INFO if not NULL (also on
 * SHMQ_EBUSY: how far behind).  Returns 0, SHMQ_ENOTOPIC, SHMQ_EEXIST (not
 * a mirror: this host is its home already), SHMQ_ETOPICPERM (a fenced
 * copy: another host is its home), SHMQ_EBUSY, SHMQ_EINVAL or a store
 * error, with detail.  Takes the bus's admin lock; writes and syncs the
 * topic's files.  Thread- and process-safe.
 */
SHMQ_API int shmq_topic_promote(struct shmq_bus *bus, const char *topic,
    unsigned flags, struct shmq_promote_info *info);

#ifdef __cplusplus
}
#endif

#endif /* SHMQ_H */
