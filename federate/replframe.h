/*
 * replframe.h - the payloads of a replication channel (doc/federation.md,
 * "Replication").  A channel is a connection of its own (HELLO channel
 * FED_CHAN_REPL), for one topic:
 *
 *	mirror                                   home
 *	REPL_SUBSCRIBE {topic, next[q]...}  ->
 *	              <- REPL_STATE {store id, [min, tail] per queue, epoch}
 *	                     <- REPL_DATA {records}   (as they are stored)
 *	REPL_ACK {queue, next}...           ->   (after storing each DATA)
 *	                     <- REPL_STATE  (every second: bounds, keepalive)
 *	                     <- REPL_OFFSETS (after STATE: group offsets, once
 *	                                      after subscribing, then when
 *	                                      they changed)
 *
 * The home answers a topic it does not have, or a second subscription,
 * with ERROR and closes.  Offsets are queue offsets; "next" is the first
 * offset the mirror does not hold.
 */
#ifndef FED_REPLFRAME_H
#define FED_REPLFRAME_H

#include <stdint.h>

#include "frame.h"

#define FED_REPL_QUEUES_MAX	1024	/* as SHMQ_MAX_QUEUES */

struct fed_repl_sub {
	char		 topic[FED_TOPIC_MAX + 1];
	uint32_t	 n;		/* queues the mirror has (0: new) */
	uint64_t	 next[FED_REPL_QUEUES_MAX];
};

int fed_repl_sub_encode(struct fed_wbuf *w, const struct fed_repl_sub *s);
int fed_repl_sub_decode(const uint8_t *p, size_t len, struct fed_repl_sub *s);

struct fed_repl_state {
	uint64_t	 store_id;	/* the home's */
	uint32_t	 n;		/* its queues, >= 1 */
	uint64_t	 min[FED_REPL_QUEUES_MAX];	/* first stored */
	uint64_t	 tail[FED_REPL_QUEUES_MAX];	/* next to write */
	uint64_t	 epoch;		/* the topic's home epoch there, >= 1
					   (promote.h), after the queues */
};

int fed_repl_state_encode(struct fed_wbuf *w,
    const struct fed_repl_state *s);
int fed_repl_state_decode(const uint8_t *p, size_t len,
    struct fed_repl_state *s);

/* One message of a DATA frame; pointers into the payload. */
struct fed_repl_rec {
	uint16_t	 queue;
	uint64_t	 queue_off;
	uint64_t	 origin_store;	/* its id at the home */
	uint64_t	 origin_off;
	uint64_t	 born_ns;
	uint64_t	 store_ns;
	uint64_t	 producer_id;
	uint32_t	 reconsume;
	uint8_t		 tags_len;
	uint16_t	 keys_len;
	uint32_t	 props_len;
	uint32_t	 body_len;
	const uint8_t	*tags;
	const uint8_t	*keys;
	const uint8_t	*props;
	const uint8_t	*body;
};

/* Fixed bytes of an encoded record (the lengths included). */
#define FED_REPL_REC_FIXED	(2 + 8 * 6 + 4 + 1 + 2 + 4 + 4)

/*
 * DATA: a count, then the records.  The writer: fed_repl_data_begin, then
 * fed_repl_data_add while it returns 0 (FED_EOVERSIZE: the record does not
 * fit, W unchanged), then fed_repl_data_end.  The reader: begin, then next
 * N times; each record is checked against what is left (queue below
 * FED_REPL_QUEUES_MAX, lengths), FED_EPAYLOAD otherwise, and end refuses
 * trailing bytes.
 */
void fed_repl_data_begin(struct fed_wbuf *w);
int fed_repl_data_add(struct fed_wbuf *w, const struct fed_repl_rec *r);
int fed_repl_data_end(struct fed_wbuf *w);
int fed_repl_data_open(struct fed_rbuf *r, const uint8_t *p, size_t len,
    uint32_t *n);
int fed_repl_data_next(struct fed_rbuf *r, struct fed_repl_rec *out);

struct fed_repl_ack {
	uint32_t	 n;
	uint16_t	 queue[FED_REPL_QUEUES_MAX];
	uint64_t	 next[FED_REPL_QUEUES_MAX];
};

int fed_repl_ack_encode(struct fed_wbuf *w, const struct fed_repl_ack *a);
int fed_repl_ack_decode(const uint8_t *p, size_t len, struct fed_repl_ack *a);

/*
 * OFFSETS: a count, then that many committed offsets of the home's
 * consumer groups on the channel's topic, one queue each (the same
 * count-first layout as DATA, with the same begin/add/end and open/next
 * calls).  A list too long for one frame goes in several: each offset
 * stands alone, so a frame is applied as it comes.  The reader checks each
 * record: GROUP a name (the bus's rule), MODEL clustering with an empty
 * INSTANCE or broadcasting with a named one, QUEUE below
 * FED_REPL_QUEUES_MAX, COMMITTED at most FED_REPL_OFF_MAX; FED_EPAYLOAD
 * otherwise.
 */
#define FED_GROUP_CLUSTERING	0	/* as SHMQ_GROUP_* (layout.h) */
#define FED_GROUP_BROADCASTING	1
#define FED_REPL_OFF_MAX	((UINT64_C(1) << 48) - 1) /* a committed
						   word's offset bits */

struct fed_repl_goff {
	char		 group[FED_TOPIC_MAX + 1];
	uint8_t		 model;		/* FED_GROUP_* */
	char		 instance[FED_TOPIC_MAX + 1];	/* "" clustering */
	uint16_t	 queue;
	uint64_t	 committed;	/* next offset to consume */
};

/* Smallest encoded offset: a 1-byte group, model, empty instance, queue,
 * committed (the lengths included). */
#define FED_REPL_GOFF_MIN	(1 + 1 + 1 + 1 + 2 + 8)

void fed_repl_offsets_begin(struct fed_wbuf *w);
int fed_repl_offsets_add(struct fed_wbuf *w, const struct fed_repl_goff *g);
int fed_repl_offsets_end(struct fed_wbuf *w);
int fed_repl_offsets_open(struct fed_rbuf *r, const uint8_t *p, size_t len,
    uint32_t *n);
int fed_repl_offsets_next(struct fed_rbuf *r, struct fed_repl_goff *out);

#endif
