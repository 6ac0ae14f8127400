/*
 * fwdframe.h - the payloads of remote send (doc/federation.md, "Remote
 * send").  A sender's shmqd forwards its outbox to a topic's home on a
 * channel of its own (HELLO channel FED_CHAN_REPL), opened with FWD_OPEN
 * instead of a subscription:
 *
 *	sender                                   home
 *	FWD_OPEN {store id, outbox queues}  ->
 *	                  <- FWD_HELD {outbox queue, next}...  (its resume)
 *	REPL_FORWARD {records}              ->
 *	                  <- FWD_REJECT {queue, offset, code, why}  (if any)
 *	                  <- REPL_ACK {outbox queue, next}...  (after storing)
 *
 * Offsets are the sender's outbox offsets; "next" is the first one the
 * home does not hold (stored or refused).  Both sides keep each outbox
 * queue's records in offset order.
 */
#ifndef FED_FWDFRAME_H
#define FED_FWDFRAME_H

#include <stdint.h>

#include "frame.h"
#include "replframe.h"

#define FED_FWD_ID_MAX		32	/* the outbox message id */

struct fed_fwd_open {
	uint64_t	 store_id;	/* the sender's outbox store */
	uint32_t	 queues;	/* its outbox queues, 1..QUEUES_MAX */
};

int fed_fwd_open_encode(struct fed_wbuf *w, const struct fed_fwd_open *o);
int fed_fwd_open_decode(const uint8_t *p, size_t len, struct fed_fwd_open *o);

/* FWD_HELD: REPL_ACK's payload, but N may be 0 (a new sender). */
int fed_fwd_held_encode(struct fed_wbuf *w, const struct fed_repl_ack *a);
int fed_fwd_held_decode(const uint8_t *p, size_t len, struct fed_repl_ack *a);

/* One record of a REPL_FORWARD frame; pointers into the payload. */
struct fed_fwd_rec {
	uint16_t	 oq;		/* outbox queue */
	uint64_t	 ooff;		/* outbox offset */
	uint64_t	 born_ns;
	int32_t		 queue;		/* the caller's queue, or -1 */
	uint8_t		 has_shard;	/* 1: SHARD is a sharding key's hash */
	uint64_t	 shard;
	uint8_t		 topic_len;	/* 1..FED_TOPIC_MAX */
	uint8_t		 id_len;	/* <= FED_FWD_ID_MAX */
	uint8_t		 tags_len;
	uint16_t	 keys_len;
	uint32_t	 props_len;
	uint32_t	 body_len;
	const uint8_t	*topic;
	const uint8_t	*id;
	const uint8_t	*tags;
	const uint8_t	*keys;
	const uint8_t	*props;
	const uint8_t	*body;
};

#define FED_FWD_REC_FIXED	(2 + 8 + 8 + 4 + 1 + 8 + 1 + 1 + 1 + 2 + 4 + 4)

/* As fed_repl_data_*: begin, add while 0, end; open, next N times (each
 * checked: queue below FED_REPL_QUEUES_MAX, queue >= -1, shard flag 0 or
 * 1, topic 1..FED_TOPIC_MAX bytes, id at most FED_FWD_ID_MAX, lengths
 * against what is left), fed_rdone at the end. */
void fed_fwd_data_begin(struct fed_wbuf *w);
int fed_fwd_data_add(struct fed_wbuf *w, const struct fed_fwd_rec *r);
int fed_fwd_data_open(struct fed_rbuf *r, const uint8_t *p, size_t len,
    uint32_t *n);
int fed_fwd_data_next(struct fed_rbuf *r, struct fed_fwd_rec *out);

struct fed_fwd_reject {
	uint16_t	 oq;
	uint64_t	 ooff;
	int32_t		 code;		/* SHMQ_E* */
	char		 msg[FED_ERRMSG_MAX + 1];
};

int fed_fwd_reject_encode(struct fed_wbuf *w, const struct fed_fwd_reject *j);
int fed_fwd_reject_decode(const uint8_t *p, size_t len,
    struct fed_fwd_reject *j);

#endif
