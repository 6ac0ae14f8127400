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

#endif
