/*
 * fwdframe.c - remote send payloads (see fwdframe.h): encoders that stop
 * at the buffer's capacity, decoders that check every length.
 */
#include "config.h"

#include <string.h>

#include "fwdframe.h"

int
fed_fwd_open_encode(struct fed_wbuf *w, const struct fed_fwd_open *o)
{
	fed_put_u64(w, o->store_id);
	fed_put_u32(w, o->queues);
	return fed_wdone(w);
}

int
fed_fwd_open_decode(const uint8_t *p, size_t len, struct fed_fwd_open *o)
{
	struct fed_rbuf r = { p, len, 0, false };

	o->store_id = fed_get_u64(&r);
	o->queues = fed_get_u32(&r);
	if (r.bad || o->queues == 0 || o->queues > FED_REPL_QUEUES_MAX)
		return FED_EPAYLOAD;
	return fed_rdone(&r);
}

int
fed_fwd_held_encode(struct fed_wbuf *w, const struct fed_repl_ack *a)
{
	uint32_t i;

	if (a->n > FED_REPL_QUEUES_MAX)
		return FED_EOVERSIZE;
	fed_put_u32(w, a->n);
	for (i = 0; i < a->n; i++) {
		fed_put_u16(w, a->queue[i]);
		fed_put_u64(w, a->next[i]);
	}
	return fed_wdone(w);
}

int
fed_fwd_held_decode(const uint8_t *p, size_t len, struct fed_repl_ack *a)
{
	/* REPL_ACK's decoder, once N is known not to be 0. */
	if (len == 4 && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0) {
		a->n = 0;
		return 0;
	}
	return fed_repl_ack_decode(p, len, a);
}

void
fed_fwd_data_begin(struct fed_wbuf *w)
{
	fed_repl_data_begin(w);
}

int
fed_fwd_data_add(struct fed_wbuf *w, const struct fed_fwd_rec *r)
{
	size_t need = FED_FWD_REC_FIXED + (size_t)r->topic_len + r->id_len +
	    r->tags_len + r->keys_len + r->props_len + r->body_len;

	if (w->over || w->len < 4 || need > w->cap - w->len)
		return FED_EOVERSIZE;
	fed_put_u16(w, r->oq);
	fed_put_u64(w, r->ooff);
	fed_put_u64(w, r->born_ns);
	fed_put_u32(w, (uint32_t)r->queue);
	fed_put_u8(w, r->has_shard);
	fed_put_u64(w, r->shard);
	fed_put_u8(w, r->topic_len);
	fed_put_bytes(w, r->topic, r->topic_len);
	fed_put_u8(w, r->id_len);
	fed_put_bytes(w, r->id, r->id_len);
	fed_put_u8(w, r->tags_len);
	fed_put_bytes(w, r->tags, r->tags_len);
	fed_put_u16(w, r->keys_len);
	fed_put_bytes(w, r->keys, r->keys_len);
	fed_put_u32(w, r->props_len);
	fed_put_bytes(w, r->props, r->props_len);
	fed_put_u32(w, r->body_len);
	fed_put_bytes(w, r->body, r->body_len);
	fed_count_inc(w);
	return fed_wdone(w);
}

int
fed_fwd_data_open(struct fed_rbuf *r, const uint8_t *p, size_t len,
    uint32_t *n)
{
	return fed_list_open(r, p, len, n, FED_FWD_REC_FIXED);
}

int
fed_fwd_data_next(struct fed_rbuf *r, struct fed_fwd_rec *o)
{
	o->oq = fed_get_u16(r);
	o->ooff = fed_get_u64(r);
	o->born_ns = fed_get_u64(r);
	o->queue = (int32_t)fed_get_u32(r);
	o->has_shard = fed_get_u8(r);
	o->shard = fed_get_u64(r);
	o->topic_len = fed_get_u8(r);
	o->topic = fed_get_span(r, o->topic_len);
	o->id_len = fed_get_u8(r);
	o->id = fed_get_span(r, o->id_len);
	o->tags_len = fed_get_u8(r);
	o->tags = fed_get_span(r, o->tags_len);
	o->keys_len = fed_get_u16(r);
	o->keys = fed_get_span(r, o->keys_len);
	o->props_len = fed_get_u32(r);
	o->props = fed_get_span(r, o->props_len);
	o->body_len = fed_get_u32(r);
	o->body = fed_get_span(r, o->body_len);
	if (r->bad || o->oq >= FED_REPL_QUEUES_MAX || o->queue < -1 ||
	    o->has_shard > 1 || o->topic_len == 0 ||
	    o->topic_len > FED_TOPIC_MAX || o->id_len > FED_FWD_ID_MAX ||
	    memchr(o->topic, '\0', o->topic_len) != NULL)
		return FED_EPAYLOAD;
	return 0;
}

int
fed_fwd_reject_encode(struct fed_wbuf *w, const struct fed_fwd_reject *j)
{
	fed_put_u16(w, j->oq);
	fed_put_u64(w, j->ooff);
	fed_put_u32(w, (uint32_t)j->code);
	fed_put_str8(w, j->msg, FED_ERRMSG_MAX);
	return fed_wdone(w);
}

int
fed_fwd_reject_decode(const uint8_t *p, size_t len, struct fed_fwd_reject *j)
{
	struct fed_rbuf r = { p, len, 0, false };

	j->oq = fed_get_u16(&r);
	j->ooff = fed_get_u64(&r);
	j->code = (int32_t)fed_get_u32(&r);
	fed_get_str8(&r, j->msg, FED_ERRMSG_MAX);
	if (r.bad || j->oq >= FED_REPL_QUEUES_MAX || j->code >= 0)
		return FED_EPAYLOAD;
	return fed_rdone(&r);
}
