/*
 * msg.h - the encoding of a message into a commitlog record, the views that
 * consumers get of one, and message ids.
 */
#ifndef SHMQ_MSG_H
#define SHMQ_MSG_H

#include <stdint.h>

#include "layout.h"
#include "shmq/shmq.h"

/* Lengths of an encoded message. */
struct shmq_enc {
	uint32_t	size;		/* whole record, multiple of 8 */
	uint32_t	topic_len;
	uint32_t	tags_len;
	uint32_t	keys_len;
	uint32_t	props_len;
	uint32_t	body_len;
};

/*
 * Measure M for topic TOPIC_LEN bytes long and check its limits: record at
 * most MAX bytes, tag at most 255 bytes, keys at most 65535, property names
 * and values free of \1 and \2.  0, SHMQ_ETOOBIG or SHMQ_EINVAL.
 */
int shmq__msg_measure(const struct shmq_msg *m, size_t topic_len,
    uint32_t max, struct shmq_enc *enc);

/* Header fields a producer fills in. */
struct shmq_rec_meta {
	uint64_t	log_off;
	uint64_t	queue_off;
	uint64_t	born_ns;
	uint64_t	store_ns;
	uint64_t	producer_id;
	uint32_t	queue;
	uint32_t	reconsume;
};

/*
 * Write message M as record R (every field but size), including its CRC.
 * The caller publishes it by storing enc->size into r->size (release).
 */
void shmq__msg_write(struct shmq_rec *r, const struct shmq_msg *m,
    const char *topic, const struct shmq_enc *enc,
    const struct shmq_rec_meta *meta);

/*
 * A message as another store holds it (replication, mirror.c): encoded
 * properties ("name\1value\2"...) and the id it has there.  Lengths are
 * the caller's to check (SHMQ_TAGS_MAX, SHMQ_KEYS_MAX, the bus's largest
 * record).
 */
struct shmq_raw {
	const char	*tags;
	const char	*keys;
	const char	*props;
	const void	*body;
	uint8_t		 tags_len;
	uint16_t	 keys_len;
	uint32_t	 props_len;
	uint32_t	 body_len;
	uint64_t	 origin_store;
	uint64_t	 origin_off;
};

/* Record size of M in a topic named TOPIC_LEN bytes, origin included. */
uint32_t shmq__msg_raw_size(const struct shmq_raw *m, size_t topic_len);

/* Write M as record R of SIZE (shmq__msg_raw_size) with the origin flag;
 * as shmq__msg_write. */
void shmq__msg_write_raw(struct shmq_rec *r, const struct shmq_raw *m,
    const char *topic, uint32_t size, const struct shmq_rec_meta *meta);

/* Fill view V from checked record R. */
void shmq__msg_view(const struct shmq_rec *r, uint64_t store_id,
    struct shmq_msgview *v);

/* The id of checked record R of the store STORE_ID: its own, or for a
 * mirror's copy the one it has at its home (SHMQ_REC_F_ORIGIN). */
void shmq__rec_id(const struct shmq_rec *r, uint64_t store_id,
    char out[SHMQ_MSGID_LEN + 1]);

/*
 * The id of the message V shows, as numbers (as shmq__rec_id, without the
 * text): V must come from a record of the store STORE_ID read in place (a
 * poll or a query), whose header lies before its topic.
 */
void shmq__view_origin(const struct shmq_msgview *v, uint64_t store_id,
    uint64_t *origin_store, uint64_t *origin_off);

/* Message id: 16 hex digits of the store id, 16 of the log offset. */
void shmq__msg_id(uint64_t store_id, uint64_t off,
    char out[SHMQ_MSGID_LEN + 1]);

/* Parse a message id.  0 or SHMQ_EINVAL. */
int shmq__msg_id_parse(const char *id, uint64_t *store_id, uint64_t *off);

#endif
