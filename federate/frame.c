/*
 * frame.c - the federation wire format (see frame.h and doc/federation.md).
 *
 * Everything here reads bytes that came from the network: each read goes
 * through struct fed_rbuf, which checks the remaining length first and
 * turns a short read into a flag, so a decoder can read its fields in a
 * row and look at the flag once at the end.
 */
#include "config.h"

#include <string.h>

#include "internal.h"

#include "frame.h"

const char *
fed_frame_strerror(int e)
{
	switch (e) {
	case FED_EMAGIC:	return "bad magic";
	case FED_EVERSION:	return "unsupported protocol version";
	case FED_ETYPE:		return "unknown frame type";
	case FED_EFLAGS:	return "reserved flag bits set";
	case FED_EOVERSIZE:	return "frame larger than the limit";
	case FED_ECRC:		return "CRC mismatch";
	case FED_EPAYLOAD:	return "malformed payload";
	case 0:			return "incomplete frame";
	default:		return e > 0 ? "frame" : "?";
	}
}

int
fed_frame_shmq_err(int e)
{
	switch (e) {
	case FED_EVERSION:	return SHMQ_EVERSION;
	case FED_EOVERSIZE:	return SHMQ_ETOOBIG;
	case FED_ECRC:		return SHMQ_ECORRUPT;
	default:		return SHMQ_EPROTO;
	}
}

const char *
fed_type_name(unsigned type)
{
	static const char *const names[] = {
		[FED_T_HELLO] = "HELLO",
		[FED_T_CHALLENGE] = "CHALLENGE",
		[FED_T_AUTH] = "AUTH",
		[FED_T_AUTH_OK] = "AUTH_OK",
		[FED_T_HEARTBEAT] = "HEARTBEAT",
		[FED_T_ROUTE_REGISTER] = "ROUTE_REGISTER",
		[FED_T_ROUTE_QUERY] = "ROUTE_QUERY",
		[FED_T_ROUTE_ANSWER] = "ROUTE_ANSWER",
		[FED_T_ERROR] = "ERROR",
		[FED_T_REPL_SUBSCRIBE] = "REPL_SUBSCRIBE",
		[FED_T_REPL_DATA] = "REPL_DATA",
		[FED_T_REPL_ACK] = "REPL_ACK",
		[FED_T_REPL_STATE] = "REPL_STATE",
		[FED_T_REPL_OFFSETS] = "REPL_OFFSETS",
		[FED_T_REPL_FORWARD] = "REPL_FORWARD",
		[FED_T_FWD_OPEN] = "FWD_OPEN",
		[FED_T_FWD_HELD] = "FWD_HELD",
		[FED_T_FWD_REJECT] = "FWD_REJECT",
	};

	if (type < sizeof(names) / sizeof(names[0]) && names[type] != NULL)
		return names[type];
	if (type >= FED_T_REPL_SUBSCRIBE && type <= FED_T_REPL_PROMOTE)
		return "REPL (reserved)";
	return "?";
}

bool
fed_type_valid(unsigned type)
{
	return (type >= FED_T_HELLO && type <= FED_T_ERROR) ||
	    (type >= FED_T_REPL_SUBSCRIBE && type <= FED_T_REPL_ACK) ||
	    type == FED_T_REPL_OFFSETS ||
	    type == FED_T_REPL_STATE || type == FED_T_REPL_FORWARD ||
	    (type >= FED_T_FWD_OPEN && type <= FED_T_FWD_REJECT);
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* CRC32C of header HDR (its crc field taken as 0) and PAYLOAD[0..LEN). */
static uint32_t
frame_crc(const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
	static const uint8_t zero[4];
	uint32_t c;

	c = shmq__crc32c(0xffffffffu, hdr, 12);
	c = shmq__crc32c(c, zero, 4);
	c = shmq__crc32c(c, hdr + 16, FED_HDR_BYTES - 16);
	return len > 0 ? shmq__crc32c(c, payload, len) : c;
}

int
fed_frame_decode(const uint8_t *buf, size_t len, uint32_t max,
    struct fed_frame *f)
{
	uint32_t plen;

	/* Each field as soon as it is there: garbage is cut early. */
	if (len >= 4 && be32(buf) != FED_MAGIC)
		return FED_EMAGIC;
	if (len >= 5 && buf[4] != FED_VERSION)
		return FED_EVERSION;
	if (len >= 6 && !fed_type_valid(buf[5]))
		return FED_ETYPE;
	if (len >= 8 && (buf[6] != 0 || buf[7] != 0))
		return FED_EFLAGS;
	if (len < 12)
		return 0;
	plen = be32(buf + 8);
	if (plen > max)
		return FED_EOVERSIZE;
	if (len < FED_HDR_BYTES || len - FED_HDR_BYTES < plen)
		return 0;
	if (frame_crc(buf, buf + FED_HDR_BYTES, plen) != be32(buf + 12))
		return FED_ECRC;
	f->type = buf[5];
	f->flags = 0;
	f->length = plen;
	f->seq = (uint64_t)be32(buf + 16) << 32 | be32(buf + 20);
	f->payload = buf + FED_HDR_BYTES;
	return (int)(FED_HDR_BYTES + plen);
}

void
fed_frame_header(uint8_t *hdr, unsigned type, uint64_t seq,
    const uint8_t *payload, uint32_t len)
{
	put_be32(hdr, FED_MAGIC);
	hdr[4] = FED_VERSION;
	hdr[5] = (uint8_t)type;
	hdr[6] = hdr[7] = 0;
	put_be32(hdr + 8, len);
	put_be32(hdr + 12, 0);
	put_be32(hdr + 16, (uint32_t)(seq >> 32));
	put_be32(hdr + 20, (uint32_t)seq);
	put_be32(hdr + 12, frame_crc(hdr, payload, len));
}

/* ------------------------------------------------------------------ */

void
fed_put_str8(struct fed_wbuf *w, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max || n > 255) {
		w->over = true;
		return;
	}
	fed_put_u8(w, (uint8_t)n);
	fed_put_bytes(w, s, n);
}

int
fed_list_open(struct fed_rbuf *r, const uint8_t *p, size_t len, uint32_t *n,
    size_t min)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->bad = false;
	*n = fed_get_u32(r);
	if (r->bad || *n == 0 || *n > (len - 4) / min)
		return FED_EPAYLOAD;
	return 0;
}

void
fed_get_str8(struct fed_rbuf *r, char *s, size_t max)
{
	size_t n = fed_get_u8(r);

	if (n > max) {
		r->bad = true;
		n = 0;
	}
	fed_get_bytes(r, s, n);
	s[r->bad ? 0 : n] = '\0';
	if (!r->bad && memchr(s, '\0', n) != NULL)
		r->bad = true;		/* a NUL inside the name */
}

/* The end of every decoder: all read, nothing left over. */
int
fed_rdone(const struct fed_rbuf *r)
{
	return r->bad || r->off != r->len ? FED_EPAYLOAD : 0;
}

int
fed_wdone(const struct fed_wbuf *w)
{
	return w->over ? FED_EOVERSIZE : 0;
}

bool
fed_topic_ok(const char *s)
{
	return strlen(s) <= FED_TOPIC_MAX && shmq__name_ok(s);
}

/* A host name: 1..63 printable bytes without spaces. */
static bool
host_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return false;
	return true;
}

/* ------------------------------------------------------------------ */

int
fed_hello_encode(struct fed_wbuf *w, const struct fed_hello *h)
{
	fed_put_u8(w, h->version_min);
	fed_put_u8(w, h->version_max);
	fed_put_u64(w, h->host_id);
	fed_put_bytes(w, h->nonce, FED_NONCE_BYTES);
	fed_put_str8(w, h->host, FED_HOST_MAX);
	fed_put_str8(w, h->listen, FED_ADDR_MAX);
	fed_put_u8(w, h->channel);
	return fed_wdone(w);
}

int
fed_hello_decode(const uint8_t *p, size_t len, struct fed_hello *h)
{
	struct fed_rbuf r = { p, len, 0, false };

	h->version_min = fed_get_u8(&r);
	h->version_max = fed_get_u8(&r);
	h->host_id = fed_get_u64(&r);
	fed_get_bytes(&r, h->nonce, FED_NONCE_BYTES);
	fed_get_str8(&r, h->host, FED_HOST_MAX);
	fed_get_str8(&r, h->listen, FED_ADDR_MAX);
	h->channel = fed_get_u8(&r);
	if (fed_rdone(&r) < 0 || h->version_min > h->version_max ||
	    h->channel > FED_CHAN_REPL ||
	    h->host_id == 0 || !host_ok(h->host) ||
	    (h->listen[0] != '\0' && !host_ok(h->listen)))
		return FED_EPAYLOAD;
	return 0;
}

int
fed_auth_encode(struct fed_wbuf *w, const struct fed_auth *a)
{
	fed_put_bytes(w, a->nonce, FED_NONCE_BYTES);
	fed_put_bytes(w, a->mac, FED_MAC_BYTES);
	return fed_wdone(w);
}

int
fed_auth_decode(const uint8_t *p, size_t len, struct fed_auth *a)
{
	struct fed_rbuf r = { p, len, 0, false };

	fed_get_bytes(&r, a->nonce, FED_NONCE_BYTES);
	fed_get_bytes(&r, a->mac, FED_MAC_BYTES);
	return fed_rdone(&r);
}

int
fed_heartbeat_encode(struct fed_wbuf *w, const struct fed_heartbeat *h)
{
	fed_put_u64(w, h->sent_ns);
	fed_put_u32(w, h->topics);
	fed_put_u32(w, h->links_up);
	return fed_wdone(w);
}

int
fed_heartbeat_decode(const uint8_t *p, size_t len, struct fed_heartbeat *h)
{
	struct fed_rbuf r = { p, len, 0, false };

	h->sent_ns = fed_get_u64(&r);
	h->topics = fed_get_u32(&r);
	h->links_up = fed_get_u32(&r);
	return fed_rdone(&r);
}

/* ------------------------------------------------------------------ */

#define ROUTE_REG_HDR	(8 + 8 + 4 + 4 + 4)

size_t
fed_route_reg_max_entries(size_t len)
{
	return len < ROUTE_REG_HDR ? 0 :
	    (len - ROUTE_REG_HDR) / FED_ROUTE_ENTRY_MIN;
}

/* Route flags and epoch on the wire: EPOCH set exactly when the epoch
 * is above 1, so that each (flags, epoch) has one encoding. */
static void
route_flags_put(struct fed_wbuf *w, uint8_t flags, uint64_t epoch)
{
	fed_put_u8(w, (uint8_t)((flags & ~FED_ROUTE_EPOCH) |
	    (epoch > 1 ? FED_ROUTE_EPOCH : 0)));
}

static void
route_epoch_put(struct fed_wbuf *w, uint64_t epoch)
{
	if (epoch > 1)
		fed_put_u64(w, epoch);
}

/* The epoch after flags F (1 if F has no EPOCH bit); false if F has
 * unknown bits, HOME with FENCED, or an epoch of 0 or 1 written out. */
static bool
route_epoch_get(struct fed_rbuf *r, uint8_t f, uint64_t *epoch)
{
	*epoch = 1;
	if ((f & ~FED_ROUTE_FLAGS) != 0 ||
	    (f & (FED_ROUTE_HOME | FED_ROUTE_FENCED)) ==
	    (FED_ROUTE_HOME | FED_ROUTE_FENCED))
		return false;
	if ((f & FED_ROUTE_EPOCH) == 0)
		return true;
	*epoch = fed_get_u64(r);
	return *epoch > 1;
}

static void
route_entry_put(struct fed_wbuf *w, const struct fed_route_entry *e)
{
	route_flags_put(w, e->flags, e->epoch);
	fed_put_u32(w, e->queues);
	route_epoch_put(w, e->epoch);
	fed_put_str8(w, e->topic, FED_TOPIC_MAX);
}

int
fed_route_reg_encode(struct fed_wbuf *w, const struct fed_route_reg *r)
{
	size_t n_at, end;
	uint32_t i;

	fed_put_u64(w, r->host_id);
	fed_put_u64(w, r->gen);
	fed_put_u32(w, r->total);
	fed_put_u32(w, r->first);
	n_at = w->len;
	fed_put_u32(w, 0);		/* the count, patched below */
	if (w->over)
		return FED_EOVERSIZE;
	for (i = 0; i < r->n; i++) {
		end = w->len;
		route_entry_put(w, &r->e[i]);
		if (w->over) {
			/* Not this one: the part ends before it. */
			w->over = false;
			w->len = end;
			break;
		}
	}
	if (i == 0 && r->n > 0)
		return FED_EOVERSIZE;
	w->p[n_at] = (uint8_t)(i >> 24);
	w->p[n_at + 1] = (uint8_t)(i >> 16);
	w->p[n_at + 2] = (uint8_t)(i >> 8);
	w->p[n_at + 3] = (uint8_t)i;
	return (int)i;
}

int
fed_route_reg_decode(const uint8_t *p, size_t len, struct fed_route_reg *r,
    struct fed_route_entry *e, size_t max)
{
	struct fed_rbuf rb = { p, len, 0, false };
	uint32_t i;

	r->host_id = fed_get_u64(&rb);
	r->gen = fed_get_u64(&rb);
	r->total = fed_get_u32(&rb);
	r->first = fed_get_u32(&rb);
	r->n = fed_get_u32(&rb);
	r->e = e;
	/* Counts first, against the bytes there, before any entry. */
	if (rb.bad || r->host_id == 0 || r->n > max ||
	    r->n > fed_route_reg_max_entries(len) ||
	    r->first > r->total || r->total - r->first < r->n)
		return FED_EPAYLOAD;
	for (i = 0; i < r->n; i++) {
		e[i].flags = fed_get_u8(&rb);
		e[i].queues = fed_get_u32(&rb);
		if (!route_epoch_get(&rb, e[i].flags, &e[i].epoch))
			return FED_EPAYLOAD;
		fed_get_str8(&rb, e[i].topic, FED_TOPIC_MAX);
		if (rb.bad || !fed_topic_ok(e[i].topic) || e[i].queues == 0)
			return FED_EPAYLOAD;
	}
	return fed_rdone(&rb);
}

int
fed_route_query_encode(struct fed_wbuf *w, const struct fed_route_query *q)
{
	fed_put_u32(w, q->id);
	fed_put_str8(w, q->topic, FED_TOPIC_MAX);
	return fed_wdone(w);
}

int
fed_route_query_decode(const uint8_t *p, size_t len, struct fed_route_query *q)
{
	struct fed_rbuf r = { p, len, 0, false };

	q->id = fed_get_u32(&r);
	fed_get_str8(&r, q->topic, FED_TOPIC_MAX);
	if (fed_rdone(&r) < 0 || !fed_topic_ok(q->topic))
		return FED_EPAYLOAD;
	return 0;
}

int
fed_route_answer_encode(struct fed_wbuf *w, const struct fed_route_answer *a)
{
	uint32_t i;

	if (a->n > FED_ANSWER_MAX)
		return FED_EOVERSIZE;
	fed_put_u32(w, a->id);
	fed_put_str8(w, a->topic, FED_TOPIC_MAX);
	fed_put_u32(w, a->n);
	for (i = 0; i < a->n; i++) {
		fed_put_u64(w, a->h[i].host_id);
		fed_put_u32(w, a->h[i].queues);
		route_flags_put(w, a->h[i].flags, a->h[i].epoch);
		route_epoch_put(w, a->h[i].epoch);
		fed_put_str8(w, a->h[i].host, FED_HOST_MAX);
	}
	return fed_wdone(w);
}

int
fed_route_answer_decode(const uint8_t *p, size_t len,
    struct fed_route_answer *a)
{
	struct fed_rbuf r = { p, len, 0, false };
	uint32_t i;

	a->id = fed_get_u32(&r);
	fed_get_str8(&r, a->topic, FED_TOPIC_MAX);
	a->n = fed_get_u32(&r);
	if (r.bad || a->n > FED_ANSWER_MAX || !fed_topic_ok(a->topic))
		return FED_EPAYLOAD;
	for (i = 0; i < a->n; i++) {
		a->h[i].host_id = fed_get_u64(&r);
		a->h[i].queues = fed_get_u32(&r);
		a->h[i].flags = fed_get_u8(&r);
		if (!route_epoch_get(&r, a->h[i].flags, &a->h[i].epoch))
			return FED_EPAYLOAD;
		fed_get_str8(&r, a->h[i].host, FED_HOST_MAX);
		if (r.bad || a->h[i].host_id == 0 || !host_ok(a->h[i].host))
			return FED_EPAYLOAD;
	}
	return fed_rdone(&r);
}

int
fed_error_encode(struct fed_wbuf *w, const struct fed_error *e)
{
	fed_put_u32(w, (uint32_t)e->code);
	fed_put_str8(w, e->msg, FED_ERRMSG_MAX);
	return fed_wdone(w);
}

int
fed_error_decode(const uint8_t *p, size_t len, struct fed_error *e)
{
	struct fed_rbuf r = { p, len, 0, false };
	unsigned char *c;

	e->code = (int32_t)fed_get_u32(&r);
	fed_get_str8(&r, e->msg, FED_ERRMSG_MAX);
	if (fed_rdone(&r) < 0)
		return FED_EPAYLOAD;
	/* It goes to a log: nothing but printable ASCII. */
	for (c = (unsigned char *)e->msg; *c != '\0'; c++)
		if (*c < ' ' || *c >= 0x7f)
			*c = '?';
	return 0;
}
