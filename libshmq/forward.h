/*
 * forward.h - remote send, the producer's side: a send to a topic whose
 * home is another host is stored in this bus's outbox, SHMQ_OUTBOX_TOPIC,
 * and shmqd forwards it (federate/forward.c; doc/federation.md, "Remote
 * send").
 *
 * Which topics: a local mirror (SHMQ_TOPIC_F_MIRROR), or a topic this bus
 * does not have whose home, by the routes shmqd publishes, is another
 * host.  A producer decides at its first send to a topic (one read of the
 * federation file) and keeps the answer: later sends to it cost a name
 * compare and one store, like any send.  A mirror's answer is checked at
 * each send against its flags (a promoted mirror takes writes again).
 *
 * An outbox record is the message as given, in SHMQ_OUTBOX_TOPIC, with
 * properties first naming the target: SHMQ_PROP_FWD_TOPIC, and the
 * caller's queue (SHMQ_PROP_REAL_QID) or the hash of its sharding key
 * (SHMQ_PROP_FWD_SHARD; the home takes it modulo its queue count, as a
 * local send would).  Its outbox queue is a hash of the target topic and
 * that choice: what must stay in order stays in one queue, and the
 * forwarder keeps each queue's order.  A delayed message adds its delay
 * (SHMQ_PROP_FWD_DELAY or SHMQ_PROP_FWD_AT_MS): it waits at the home,
 * whose scheduler delivers it.
 */
#ifndef SHMQ_FORWARD_H
#define SHMQ_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "shmq/shmq.h"
#include "internal.h"

struct shmq_bus;
struct shmq_topic;

/* SHMQ_OUTBOX_TOPIC, SHMQ_FORWARD_GROUP, SHMQ_FORWARD_DLQ: shmq.h. */
#define SHMQ_OUTBOX_QUEUES	8

/* System properties of outbox records (and of dead letters). */
#define SHMQ_PROP_FWD_TOPIC	"FWD_TOPIC"
#define SHMQ_PROP_FWD_SHARD	"FWD_SHARD"	/* decimal 64-bit key hash */
#define SHMQ_PROP_FWD_ERROR	"FWD_ERROR"	/* dead letters: why refused */
#define SHMQ_PROP_FWD_MSG_ID	"FWD_MSG_ID"	/* at the home: the outbox id */
/* A delayed message: its level, or its time (ms since the epoch); the
 * home stores it as delayed, due at the sender's born time plus the
 * level's delay by the home's table, or at that time. */
#define SHMQ_PROP_FWD_DELAY	"FWD_DELAY"
#define SHMQ_PROP_FWD_AT_MS	"FWD_DELIVER_MS"

/* One topic a producer forwards to; never freed before the producer. */
struct shmq_fwd {
	char			 name[SHMQ_NAME_MAX + 1];
	uint64_t		 name_hash;
	struct shmq_fwd		*next;
};

/*
 * producer.c, slow path (topic NAME is not the producer's last): is NAME
 * forwarded?  LOCAL is shmq__topic_find(NAME), which the caller looked up
 * already (NULL: no local topic).  LIST is the producer's; a new answer is
 * prepended to it.  Returns 1 and *out (forward), 0 (a local send), or
 * SHMQ_ENOMEM.
 */
int shmq__fwd_find(struct shmq_bus *bus, struct shmq_fwd **list,
    const char *name, struct shmq_topic *local, struct shmq_fwd **out);

/* Free a producer's list. */
void shmq__fwd_free(struct shmq_fwd *list);

/*
 * Store M for F's topic in the outbox with producer P (its sync flush
 * applies), delayed or not.  0 and *RES naming the outbox record, or a
 * code.
 */
int shmq__fwd_send(struct shmq_producer *p, struct shmq_bus *bus,
    const struct shmq_fwd *f, const struct shmq_msg *m,
    struct shmq_send_result *res);

/* The outbox queue of a message for NAME_HASH with queue Q (-1: none)
 * or shard hash SHARD (HAS_SHARD). */
uint32_t shmq__fwd_queue(uint64_t name_hash, int q, bool has_shard,
    uint64_t shard);

/* The decimal property NAME of the encoded list PROPS[0..PROPS_LEN)
 * (untrusted), in *OUT; false if absent or not a number that fits. */
bool shmq__fwd_prop_u64(const char *props, size_t props_len,
    const char *name, uint64_t *out);

/* A message's parts as stored or sent: not NUL-terminated. */
struct shmq_fwd_raw {
	const char	*tags;
	size_t		 tags_len;
	const char	*keys;
	size_t		 keys_len;
	const char	*props;		/* encoded "name\1value\2..." */
	size_t		 props_len;
	const void	*body;
	size_t		 body_len;
};

/* Reused memory for shmq__fwd_unpack. */
struct shmq_fwd_buf {
	struct shmq_prop	*props;
	size_t			 nprops_cap;
	char			*buf;
	size_t			 buf_cap;
};

/*
 * Fill *M (shmq_msg_init first) with R's tags, keys, body and properties,
 * less this file's system ones, as NUL-terminated copies in B, with EXTRA
 * free property slots after M->nprops for the caller.  0, SHMQ_EINVAL (a
 * malformed list, or a NUL byte inside a string: untrusted input), or
 * SHMQ_ENOMEM.  M is valid until B is used again.
 */
int shmq__fwd_unpack(struct shmq_fwd_buf *b, const struct shmq_fwd_raw *r,
    size_t extra, struct shmq_msg *m);
void shmq__fwd_buf_free(struct shmq_fwd_buf *b);

/* producer.c: as shmq__producer_send_to, with the born time BORN_NS (0:
 * now), for a forwarded message stored at its home (federate/fwdin.c). */
int shmq__producer_send_born(struct shmq_producer *p, struct shmq_topic *t,
    uint32_t q, const struct shmq_msg *m, uint32_t reconsume,
    uint64_t born_ns, struct shmq_send_result *res);

#endif
