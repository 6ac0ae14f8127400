/*
 * msg.c - message records (see msg.h).
 *
 * Payload order after the 80-byte header: topic, tags, keys, properties
 * ("name\1value\2" per property, as RocketMQ), body; zero padding up to a
 * multiple of 8.
 */
#include "config.h"

#include <string.h>

#include "commitlog.h"
#include "internal.h"
#include "msg.h"

int
shmq__msg_measure(const struct shmq_msg *m, size_t topic_len, uint32_t max,
    struct shmq_enc *enc)
{
	uint64_t props = 0, total;
	size_t i, tl, kl;

	tl = m->tags != NULL ? strlen(m->tags) : 0;
	kl = m->keys != NULL ? strlen(m->keys) : 0;
	if (tl > SHMQ_TAGS_MAX)
		return SHMQ_ERR(SHMQ_EINVAL, "tag of %zu bytes (at most %d)",
		    tl, SHMQ_TAGS_MAX);
	if (kl > SHMQ_KEYS_MAX)
		return SHMQ_ERR(SHMQ_EINVAL, "keys of %zu bytes (at most %d)",
		    kl, SHMQ_KEYS_MAX);
	if (m->body == NULL && m->body_len != 0)
		return SHMQ_ERR(SHMQ_EINVAL, "body is NULL, body_len %zu",
		    m->body_len);
	if (m->nprops > 0 && m->props == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "props is NULL, nprops %zu",
		    m->nprops);
	for (i = 0; i < m->nprops; i++) {
		const char *n = m->props[i].name, *v = m->props[i].value;

		if (n == NULL || *n == '\0' || v == NULL ||
		    strpbrk(n, "\1\2") != NULL || strpbrk(v, "\1\2") != NULL)
			return SHMQ_ERR(SHMQ_EINVAL, "property %zu: empty name, "
			    "NULL, or a \\1 or \\2 byte", i);
		props += strlen(n) + strlen(v) + 2;
	}
	total = sizeof(struct shmq_rec) + topic_len + tl + kl + props +
	    (uint64_t)m->body_len;
	if (props > UINT32_MAX || m->body_len > UINT32_MAX ||
	    shmq__align8(total) > max)
		return SHMQ_ERR(SHMQ_ETOOBIG, "message of %llu bytes (at most "
		    "%u with headers)", (unsigned long long)total, max);
	enc->size = (uint32_t)shmq__align8(total);
	enc->topic_len = (uint32_t)topic_len;
	enc->tags_len = (uint32_t)tl;
	enc->keys_len = (uint32_t)kl;
	enc->props_len = (uint32_t)props;
	enc->body_len = (uint32_t)m->body_len;
	return 0;
}

/* The fixed header of a record of FLAGS measured as ENC, at META. */
static inline void
rec_head(struct shmq_rec *r, uint32_t flags, const struct shmq_enc *enc,
    const struct shmq_rec_meta *meta)
{
	r->magic = SHMQ_REC_MAGIC;
	r->flags = flags;
	r->log_off = meta->log_off;
	r->queue_off = meta->queue_off;
	r->born_ns = meta->born_ns;
	r->store_ns = meta->store_ns;
	r->producer_id = meta->producer_id;
	r->body_len = enc->body_len;
	r->props_len = enc->props_len;
	r->keys_len = (uint16_t)enc->keys_len;
	r->queue = (uint16_t)meta->queue;
	r->topic_len = (uint8_t)enc->topic_len;
	r->tags_len = (uint8_t)enc->tags_len;
	r->reserved0 = 0;
	r->reconsume = meta->reconsume;
	r->reserved1 = 0;
}

void
shmq__msg_write(struct shmq_rec *r, const struct shmq_msg *m,
    const char *topic, const struct shmq_enc *enc,
    const struct shmq_rec_meta *meta)
{
	char *p = (char *)(r + 1), *end = (char *)r + enc->size;
	size_t i, n;

	rec_head(r, 0, enc, meta);
	memcpy(p, topic, enc->topic_len);
	p += enc->topic_len;
	if (enc->tags_len > 0)
		memcpy(p, m->tags, enc->tags_len);
	p += enc->tags_len;
	if (enc->keys_len > 0)
		memcpy(p, m->keys, enc->keys_len);
	p += enc->keys_len;
	for (i = 0; i < m->nprops; i++) {
		n = strlen(m->props[i].name);
		memcpy(p, m->props[i].name, n);
		p += n;
		*p++ = '\1';
		n = strlen(m->props[i].value);
		memcpy(p, m->props[i].value, n);
		p += n;
		*p++ = '\2';
	}
	if (enc->body_len > 0)
		memcpy(p, m->body, enc->body_len);
	p += enc->body_len;
	/* The padding is covered by the CRC: make it deterministic. */
	if (p < end)
		memset(p, 0, (size_t)(end - p));
	r->crc = shmq__rec_crc(r, enc->size);
}

/* The eight nibbles of X as eight upper-case hex digits, most significant
 * first, in one word: spread a nibble to a byte, add '0', and 7 more for
 * the bytes above 9 (no loop, no table: every view formats an id). */
static inline uint64_t
hex32(uint32_t x32)
{
	uint64_t x = x32, above9;

	x = (x | x << 16) & 0x0000ffff0000ffffull;
	x = (x | x << 8) & 0x00ff00ff00ff00ffull;
	x = (x | x << 4) & 0x0f0f0f0f0f0f0f0full;
	above9 = ((x + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull;
	return __builtin_bswap64(x + 0x3030303030303030ull + above9 * 7);
}

static void
hex64(uint64_t v, char *out)
{
	uint64_t hi = hex32((uint32_t)(v >> 32)), lo = hex32((uint32_t)v);

	memcpy(out, &hi, 8);
	memcpy(out + 8, &lo, 8);
}

void
shmq__msg_id(uint64_t store_id, uint64_t off, char out[SHMQ_MSGID_LEN + 1])
{
	hex64(store_id, out);
	hex64(off, out + 16);
	out[SHMQ_MSGID_LEN] = '\0';
}

static int
unhex64(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	int i;

	for (i = 0; i < 16; i++) {
		char c = s[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return -1;
		x = (x << 4) | (uint64_t)d;
	}
	*v = x;
	return 0;
}

int
shmq__msg_id_parse(const char *id, uint64_t *store_id, uint64_t *off)
{
	if (id == NULL || strlen(id) != SHMQ_MSGID_LEN ||
	    unhex64(id, store_id) < 0 || unhex64(id + 16, off) < 0)
		return SHMQ_ERR(SHMQ_EINVAL, "message id \"%s\"",
		    id != NULL ? id : "(null)");
	return 0;
}

void
shmq__msg_view(const struct shmq_rec *r, uint64_t store_id,
    struct shmq_msgview *v)
{
	const char *p = (const char *)(r + 1);

	v->topic = p;
	v->topic_len = r->topic_len;
	p += r->topic_len;
	v->tags = p;
	v->tags_len = r->tags_len;
	p += r->tags_len;
	v->keys = p;
	v->keys_len = r->keys_len;
	p += r->keys_len;
	v->props = p;
	v->props_len = r->props_len;
	p += r->props_len;
	v->body = p;
	v->body_len = r->body_len;
	v->queue = r->queue;
	v->queue_off = r->queue_off;
	v->log_off = r->log_off;
	v->born_ns = r->born_ns;
	v->store_ns = r->store_ns;
	v->producer_id = r->producer_id;
	v->reconsume = r->reconsume;
	shmq__rec_id(r, store_id, v->msg_id);
}

void
shmq__rec_id(const struct shmq_rec *r, uint64_t store_id,
    char out[SHMQ_MSGID_LEN + 1])
{
	uint64_t o[2];

	if (likely((r->flags & SHMQ_REC_F_ORIGIN) == 0)) {
		shmq__msg_id(store_id, r->log_off, out);
		return;
	}
	/* A mirror's copy: the id it has at its home, after the body.  The
	 * record was checked (shmq__rec_sane counts these bytes). */
	memcpy(o, (const char *)(r + 1) + r->topic_len + r->tags_len +
	    r->keys_len + r->props_len + r->body_len, sizeof(o));
	shmq__msg_id(o[0], o[1], out);
}

void
shmq__view_origin(const struct shmq_msgview *v, uint64_t store_id,
    uint64_t *origin_store, uint64_t *origin_off)
{
	const struct shmq_rec *r = (const struct shmq_rec *)(const void *)
	    v->topic - 1;
	uint64_t o[2];

	if (likely((r->flags & SHMQ_REC_F_ORIGIN) == 0)) {
		*origin_store = store_id;
		*origin_off = v->log_off;
		return;
	}
	/* As shmq__rec_id: the 16 bytes after the body (checked). */
	memcpy(o, (const char *)v->body + v->body_len, sizeof(o));
	*origin_store = o[0];
	*origin_off = o[1];
}

void
shmq__msg_write_raw(struct shmq_rec *r, const struct shmq_raw *m,
    const char *topic, uint32_t size, const struct shmq_rec_meta *meta)
{
	char *p = (char *)(r + 1), *end = (char *)r + size;
	uint64_t o[2] = { m->origin_store, m->origin_off };
	struct shmq_enc enc;

	enc.size = size;
	enc.topic_len = (uint32_t)strlen(topic);
	enc.tags_len = m->tags_len;
	enc.keys_len = m->keys_len;
	enc.props_len = m->props_len;
	enc.body_len = m->body_len;
	rec_head(r, SHMQ_REC_F_ORIGIN, &enc, meta);
	memcpy(p, topic, r->topic_len);
	p += r->topic_len;
	/* Empty parts may come as NULL (memcpy must not see those). */
	if (m->tags_len > 0)
		memcpy(p, m->tags, m->tags_len);
	p += m->tags_len;
	if (m->keys_len > 0)
		memcpy(p, m->keys, m->keys_len);
	p += m->keys_len;
	if (m->props_len > 0)
		memcpy(p, m->props, m->props_len);
	p += m->props_len;
	if (m->body_len > 0)
		memcpy(p, m->body, m->body_len);
	p += m->body_len;
	memcpy(p, o, sizeof(o));
	p += sizeof(o);
	if (p < end)
		memset(p, 0, (size_t)(end - p));
	r->crc = shmq__rec_crc(r, size);
}

uint32_t
shmq__msg_raw_size(const struct shmq_raw *m, size_t topic_len)
{
	return (uint32_t)shmq__align8(sizeof(struct shmq_rec) + topic_len +
	    m->tags_len + m->keys_len + (uint64_t)m->props_len +
	    m->body_len + SHMQ_REC_ORIGIN_BYTES);
}

const char *
shmq_msgview_prop(const struct shmq_msgview *v, const char *name, size_t *len)
{
	const char *p, *end, *sep, *stop;
	size_t nl;

	if (v == NULL || name == NULL)
		return NULL;
	nl = strlen(name);
	p = v->props;
	end = v->props + v->props_len;
	while (p < end) {
		sep = memchr(p, '\1', (size_t)(end - p));
		if (sep == NULL)
			return NULL;
		stop = memchr(sep + 1, '\2', (size_t)(end - sep - 1));
		if (stop == NULL)
			return NULL;
		if ((size_t)(sep - p) == nl && memcmp(p, name, nl) == 0) {
			if (len != NULL)
				*len = (size_t)(stop - sep - 1);
			return sep + 1;
		}
		p = stop + 1;
	}
	return NULL;
}

void
shmq_msg_init(struct shmq_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->queue = SHMQ_QUEUE_ANY;
}
