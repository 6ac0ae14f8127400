/*
 * replframe.c - replication payloads (see replframe.h): encoders that
 * stop at the buffer's capacity, decoders that check every length.
 */
#include "config.h"

#include <string.h>

#include "replframe.h"

int
fed_repl_sub_encode(struct fed_wbuf *w, const struct fed_repl_sub *s)
{
	uint32_t i;

	if (s->n > FED_REPL_QUEUES_MAX)
		return FED_EOVERSIZE;
	fed_put_str8(w, s->topic, FED_TOPIC_MAX);
	fed_put_u32(w, s->n);
	for (i = 0; i < s->n; i++)
		fed_put_u64(w, s->next[i]);
	return fed_wdone(w);
}

int
fed_repl_sub_decode(const uint8_t *p, size_t len, struct fed_repl_sub *s)
{
	struct fed_rbuf r = { p, len, 0, false };
	uint32_t i;

	fed_get_str8(&r, s->topic, FED_TOPIC_MAX);
	s->n = fed_get_u32(&r);
	if (r.bad || s->n > FED_REPL_QUEUES_MAX || !fed_topic_ok(s->topic))
		return FED_EPAYLOAD;
	for (i = 0; i < s->n; i++)
		s->next[i] = fed_get_u64(&r);
	return fed_rdone(&r);
}

int
fed_repl_state_encode(struct fed_wbuf *w, const struct fed_repl_state *s)
{
	uint32_t i;

	if (s->n == 0 || s->n > FED_REPL_QUEUES_MAX)
		return FED_EOVERSIZE;
	fed_put_u64(w, s->store_id);
	fed_put_u32(w, s->n);
	for (i = 0; i < s->n; i++) {
		fed_put_u64(w, s->min[i]);
		fed_put_u64(w, s->tail[i]);
	}
	fed_put_u64(w, s->epoch > 0 ? s->epoch : 1);
	return fed_wdone(w);
}

int
fed_repl_state_decode(const uint8_t *p, size_t len, struct fed_repl_state *s)
{
	struct fed_rbuf r = { p, len, 0, false };
	uint32_t i;

	s->store_id = fed_get_u64(&r);
	s->n = fed_get_u32(&r);
	if (r.bad || s->n == 0 || s->n > FED_REPL_QUEUES_MAX)
		return FED_EPAYLOAD;
	for (i = 0; i < s->n; i++) {
		s->min[i] = fed_get_u64(&r);
		s->tail[i] = fed_get_u64(&r);
		if (s->min[i] > s->tail[i])
			return FED_EPAYLOAD;
	}
	s->epoch = fed_get_u64(&r);
	if (s->epoch == 0)
		return FED_EPAYLOAD;
	return fed_rdone(&r);
}

/* The count goes first; it is written by fed_repl_data_end. */
void
fed_repl_data_begin(struct fed_wbuf *w)
{
	w->len = 0;
	w->over = false;
	fed_put_u32(w, 0);
}

int
fed_repl_data_add(struct fed_wbuf *w, const struct fed_repl_rec *r)
{
	size_t need = FED_REPL_REC_FIXED + (size_t)r->tags_len + r->keys_len +
	    r->props_len + r->body_len;

	if (w->over || w->len < 4 || need > w->cap - w->len)
		return FED_EOVERSIZE;
	fed_put_u16(w, r->queue);
	fed_put_u64(w, r->queue_off);
	fed_put_u64(w, r->origin_store);
	fed_put_u64(w, r->origin_off);
	fed_put_u64(w, r->born_ns);
	fed_put_u64(w, r->store_ns);
	fed_put_u64(w, r->producer_id);
	fed_put_u32(w, r->reconsume);
	fed_put_u8(w, r->tags_len);
	fed_put_bytes(w, r->tags, r->tags_len);
	fed_put_u16(w, r->keys_len);
	fed_put_bytes(w, r->keys, r->keys_len);
	fed_put_u32(w, r->props_len);
	fed_put_bytes(w, r->props, r->props_len);
	fed_put_u32(w, r->body_len);
	fed_put_bytes(w, r->body, r->body_len);
	fed_count_inc(w);
	return 0;
}

int
fed_repl_data_end(struct fed_wbuf *w)
{
	return fed_wdone(w);
}

int
fed_repl_data_open(struct fed_rbuf *r, const uint8_t *p, size_t len,
    uint32_t *n)
{
	return fed_list_open(r, p, len, n, FED_REPL_REC_FIXED);
}

int
fed_repl_data_next(struct fed_rbuf *r, struct fed_repl_rec *o)
{
	o->queue = fed_get_u16(r);
	o->queue_off = fed_get_u64(r);
	o->origin_store = fed_get_u64(r);
	o->origin_off = fed_get_u64(r);
	o->born_ns = fed_get_u64(r);
	o->store_ns = fed_get_u64(r);
	o->producer_id = fed_get_u64(r);
	o->reconsume = fed_get_u32(r);
	o->tags_len = fed_get_u8(r);
	o->tags = fed_get_span(r, o->tags_len);
	o->keys_len = fed_get_u16(r);
	o->keys = fed_get_span(r, o->keys_len);
	o->props_len = fed_get_u32(r);
	o->props = fed_get_span(r, o->props_len);
	o->body_len = fed_get_u32(r);
	o->body = fed_get_span(r, o->body_len);
	if (r->bad || o->queue >= FED_REPL_QUEUES_MAX)
		return FED_EPAYLOAD;
	return 0;
}

int
fed_repl_ack_encode(struct fed_wbuf *w, const struct fed_repl_ack *a)
{
	uint32_t i;

	if (a->n == 0 || a->n > FED_REPL_QUEUES_MAX)
		return FED_EOVERSIZE;
	fed_put_u32(w, a->n);
	for (i = 0; i < a->n; i++) {
		fed_put_u16(w, a->queue[i]);
		fed_put_u64(w, a->next[i]);
	}
	return fed_wdone(w);
}

int
fed_repl_ack_decode(const uint8_t *p, size_t len, struct fed_repl_ack *a)
{
	struct fed_rbuf r = { p, len, 0, false };
	uint32_t i;

	a->n = fed_get_u32(&r);
	if (r.bad || a->n == 0 || a->n > FED_REPL_QUEUES_MAX)
		return FED_EPAYLOAD;
	for (i = 0; i < a->n; i++) {
		a->queue[i] = fed_get_u16(&r);
		a->next[i] = fed_get_u64(&r);
		if (a->queue[i] >= FED_REPL_QUEUES_MAX)
			return FED_EPAYLOAD;
	}
	return fed_rdone(&r);
}

void
fed_repl_offsets_begin(struct fed_wbuf *w)
{
	fed_repl_data_begin(w);
}

int
fed_repl_offsets_add(struct fed_wbuf *w, const struct fed_repl_goff *g)
{
	size_t gl = strnlen(g->group, sizeof(g->group));
	size_t il = strnlen(g->instance, sizeof(g->instance));

	if (gl > FED_TOPIC_MAX || il > FED_TOPIC_MAX || w->over ||
	    w->len < 4 || FED_REPL_GOFF_MIN - 1 + gl + il > w->cap - w->len)
		return FED_EOVERSIZE;
	fed_put_str8(w, g->group, FED_TOPIC_MAX);
	fed_put_u8(w, g->model);
	fed_put_str8(w, g->instance, FED_TOPIC_MAX);
	fed_put_u16(w, g->queue);
	fed_put_u64(w, g->committed);
	fed_count_inc(w);
	return 0;
}

int
fed_repl_offsets_end(struct fed_wbuf *w)
{
	return fed_wdone(w);
}

int
fed_repl_offsets_open(struct fed_rbuf *r, const uint8_t *p, size_t len,
    uint32_t *n)
{
	return fed_list_open(r, p, len, n, FED_REPL_GOFF_MIN);
}

int
fed_repl_offsets_next(struct fed_rbuf *r, struct fed_repl_goff *o)
{
	fed_get_str8(r, o->group, FED_TOPIC_MAX);
	o->model = fed_get_u8(r);
	fed_get_str8(r, o->instance, FED_TOPIC_MAX);
	o->queue = fed_get_u16(r);
	o->committed = fed_get_u64(r);
	if (r->bad || !fed_topic_ok(o->group) ||
	    o->queue >= FED_REPL_QUEUES_MAX || o->committed > FED_REPL_OFF_MAX)
		return FED_EPAYLOAD;
	/* Clustering offsets are the group's; broadcasting ones an
	 * instance's. */
	if (o->model == FED_GROUP_CLUSTERING ? o->instance[0] != '\0' :
	    o->model != FED_GROUP_BROADCASTING || !fed_topic_ok(o->instance))
		return FED_EPAYLOAD;
	return 0;
}
