/*
 * frame.h - the federation wire format (doc/federation.md is the reference
 * for every field): framing, the incremental decoder, and the typed
 * payloads.
 *
 * A frame is a 24-byte header and a payload, all integers big-endian:
 *
 *	 0  magic    u32  "SHQF"
 *	 4  version  u8   FED_VERSION; any other is refused
 *	 5  type     u8   enum fed_type
 *	 6  flags    u16  0 in version 1 (reserved bits must be zero)
 *	 8  length   u32  payload bytes, <= the receiver's limit
 *	12  crc      u32  CRC32C of the header (this field as 0) and payload
 *	16  seq      u64  sender's frame count on this connection, from 0
 *
 * The decoder checks each header field as soon as its bytes are there, so
 * garbage is refused after at most 4 bytes and an oversized length after
 * 12, before any payload is waited for or buffered.  It never allocates.
 *
 * Payloads are fixed fields followed by length-prefixed strings and lists;
 * each decoder checks every length against what is left, and refuses
 * trailing bytes, so one frame has exactly one meaning.
 */
#ifndef FED_FRAME_H
#define FED_FRAME_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FED_MAGIC		0x53485146u	/* "SHQF" */
#define FED_VERSION		1
#define FED_HDR_BYTES		24
#define FED_PAYLOAD_DEF		(1024 * 1024)	/* default limit */
#define FED_PAYLOAD_MIN		4096		/* smallest allowed limit */
#define FED_PAYLOAD_MAX		(64 * 1024 * 1024)
#define FED_NONCE_BYTES		32
#define FED_MAC_BYTES		32		/* HMAC-SHA256 */
#define FED_HOST_MAX		63		/* host name bytes */
#define FED_ADDR_MAX		63		/* "host:port" bytes */
#define FED_TOPIC_MAX		127		/* as SHMQ_NAME_MAX */
#define FED_ERRMSG_MAX		255
#define FED_PREAUTH_MAX		1024		/* payload limit before auth */

enum fed_type {
	FED_T_HELLO		= 1,	/* dialer: who I am */
	FED_T_CHALLENGE		= 2,	/* listener: who I am, my nonce */
	FED_T_AUTH		= 3,	/* dialer: my nonce, my proof */
	FED_T_AUTH_OK		= 4,	/* listener: my proof */
	FED_T_HEARTBEAT		= 5,
	FED_T_ROUTE_REGISTER	= 6,	/* (part of) a host's topic list */
	FED_T_ROUTE_QUERY	= 7,
	FED_T_ROUTE_ANSWER	= 8,
	FED_T_ERROR		= 9,	/* then the sender closes */
	/* Replication channels (replframe.h). */
	FED_T_REPL_SUBSCRIBE	= 32,	/* mirror: a topic, from offsets */
	FED_T_REPL_DATA		= 33,	/* home: messages */
	FED_T_REPL_ACK		= 34,	/* mirror: what it holds */
	FED_T_REPL_OFFSETS	= 35,	/* home: consumer-group offsets */
	/* Reserved (later versions); refused. */
	FED_T_REPL_FORWARD	= 36,
	FED_T_REPL_PROMOTE	= 37,
	FED_T_REPL_STATE	= 38,	/* home: queue count, bounds */
	/* Remote send (fwdframe.h); FED_T_REPL_FORWARD carries its records. */
	FED_T_FWD_OPEN		= 41,	/* sender: its outbox */
	FED_T_FWD_HELD		= 42,	/* home: what it holds from it */
	FED_T_FWD_REJECT	= 43	/* home: a record refused for good */
};

/* Decoder results: > 0 a frame of that many bytes, 0 need more. */
enum fed_frame_err {
	FED_EMAGIC	= -1,
	FED_EVERSION	= -2,
	FED_ETYPE	= -3,	/* unknown or reserved type */
	FED_EFLAGS	= -4,	/* reserved flag bits set */
	FED_EOVERSIZE	= -5,	/* length above the limit */
	FED_ECRC	= -6,
	FED_EPAYLOAD	= -7	/* payload malformed for its type */
};

/* A short name for a decoder result ("bad magic", "CRC mismatch"). */
const char *fed_frame_strerror(int e);

/* The SHMQ_E* code for a decoder result (SHMQ_EPROTO, SHMQ_EVERSION,
 * SHMQ_ETOOBIG, SHMQ_ECORRUPT). */
int fed_frame_shmq_err(int e);

/* The name of a frame type ("HELLO"), or "?" */
const char *fed_type_name(unsigned type);

/* True for the types version 1 sends and accepts. */
bool fed_type_valid(unsigned type);

struct fed_frame {
	uint8_t		 type;
	uint16_t	 flags;
	uint32_t	 length;
	uint64_t	 seq;
	const uint8_t	*payload;	/* into the decoded buffer */
};

/*
 * Decode the frame at the start of BUF[0..LEN) with payload limit MAX.
 * Returns the frame's total size (> 0) and *F (its payload points into
 * BUF), 0 if more bytes are needed (none of the bytes there is wrong yet),
 * or a negative enum fed_frame_err.  Reads nothing outside BUF[0..LEN).
 */
int fed_frame_decode(const uint8_t *buf, size_t len, uint32_t max,
    struct fed_frame *f);

/*
 * Write the header of a frame of TYPE with SEQ and payload PAYLOAD[0..LEN)
 * into HDR[FED_HDR_BYTES] (the payload is not copied: send both).
 */
void fed_frame_header(uint8_t *hdr, unsigned type, uint64_t seq,
    const uint8_t *payload, uint32_t len);

/* ------------------------------------------------------------------ */
/* Payload writer and reader                                           */
/* ------------------------------------------------------------------ */

/* A bounded output buffer; any write past CAP sets OVER and stops. */
struct fed_wbuf {
	uint8_t		*p;
	size_t		 len;
	size_t		 cap;
	bool		 over;
};

/*
 * The writers and readers are inline: a DATA frame encodes a dozen fields
 * per message, and calls out of line were a quarter of the replication
 * thread's time.  Fields are big-endian.
 */
static inline void
fed_put_bytes(struct fed_wbuf *w, const void *p, size_t n)
{
	if (w->over || w->cap - w->len < n) {
		w->over = true;
		return;
	}
	if (n > 0)
		memcpy(w->p + w->len, p, n);
	w->len += n;
}

static inline void
fed_put_u8(struct fed_wbuf *w, uint8_t v)
{
	fed_put_bytes(w, &v, 1);
}

static inline void
fed_put_u16(struct fed_wbuf *w, uint16_t v)
{
	v = htobe16(v);
	fed_put_bytes(w, &v, 2);
}

static inline void
fed_put_u32(struct fed_wbuf *w, uint32_t v)
{
	v = htobe32(v);
	fed_put_bytes(w, &v, 4);
}

static inline void
fed_put_u64(struct fed_wbuf *w, uint64_t v)
{
	v = htobe64(v);
	fed_put_bytes(w, &v, 8);
}

/* A string of at most MAX (<= 255) bytes with a u8 length (longer: OVER). */
void fed_put_str8(struct fed_wbuf *w, const char *s, size_t max);

/* One more in the u32 count that opens W's payload (a list whose length
 * is known only at its end: DATA, OFFSETS, FORWARD). */
static inline void
fed_count_inc(struct fed_wbuf *w)
{
	uint32_t n;

	memcpy(&n, w->p, sizeof(n));
	n = htobe32(be32toh(n) + 1);
	memcpy(w->p, &n, sizeof(n));
}

/* A bounded input; any read past LEN sets BAD and yields zeros. */
struct fed_rbuf {
	const uint8_t	*p;
	size_t		 len;
	size_t		 off;
	bool		 bad;
};

static inline void
fed_get_bytes(struct fed_rbuf *r, void *p, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		memset(p, 0, n);
		return;
	}
	memcpy(p, r->p + r->off, n);
	r->off += n;
}

static inline uint8_t
fed_get_u8(struct fed_rbuf *r)
{
	uint8_t v;

	fed_get_bytes(r, &v, 1);
	return v;
}

static inline uint16_t
fed_get_u16(struct fed_rbuf *r)
{
	uint16_t v;

	fed_get_bytes(r, &v, 2);
	return be16toh(v);
}

static inline uint32_t
fed_get_u32(struct fed_rbuf *r)
{
	uint32_t v;

	fed_get_bytes(r, &v, 4);
	return be32toh(v);
}

static inline uint64_t
fed_get_u64(struct fed_rbuf *r)
{
	uint64_t v;

	fed_get_bytes(r, &v, 8);
	return be64toh(v);
}

/* N bytes of R in place (no copy), or NULL (R marked bad). */
static inline const uint8_t *
fed_get_span(struct fed_rbuf *r, size_t n)
{
	const uint8_t *p = r->p + r->off;

	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	r->off += n;
	return p;
}

/*
 * Open R over a list payload P[0..LEN): a u32 count *N (>= 1), then *N
 * records of at least MIN bytes each.  A count that cannot fit is refused
 * (FED_EPAYLOAD) before any record is read.  0 or FED_EPAYLOAD.
 */
int fed_list_open(struct fed_rbuf *r, const uint8_t *p, size_t len,
    uint32_t *n, size_t min);

/* A u8-length string of at most MAX bytes into S[MAX + 1]; a longer one,
 * or one with a NUL in it, sets BAD. */
void fed_get_str8(struct fed_rbuf *r, char *s, size_t max);

/* ------------------------------------------------------------------ */
/* Typed payloads: encode into W (0, or FED_EOVERSIZE when it does not   */
/* fit), decode from P[0..LEN) (0 or FED_EPAYLOAD).                      */
/* ------------------------------------------------------------------ */

/* HELLO (dialer) and CHALLENGE (listener): the same fields. */
struct fed_hello {
	uint8_t		 version_min;	/* versions the sender speaks */
	uint8_t		 version_max;
	uint64_t	 host_id;	/* never 0 */
	char		 host[FED_HOST_MAX + 1];
	char		 listen[FED_ADDR_MAX + 1]; /* where it listens, or "" */
	uint8_t		 nonce[FED_NONCE_BYTES];   /* CHALLENGE only: else 0 */
	uint8_t		 channel;	/* HELLO: FED_CHAN_*; CHALLENGE: 0 */
};

/* What a connection is for, said in its HELLO. */
#define FED_CHAN_LINK	0	/* the link: heartbeats, routes */
#define FED_CHAN_REPL	1	/* one topic's replication (replframe.h) */

int fed_hello_encode(struct fed_wbuf *w, const struct fed_hello *h);
int fed_hello_decode(const uint8_t *p, size_t len, struct fed_hello *h);

/* AUTH (dialer: its nonce and proof) and AUTH_OK (listener: proof only,
 * nonce all zero). */
struct fed_auth {
	uint8_t		 nonce[FED_NONCE_BYTES];
	uint8_t		 mac[FED_MAC_BYTES];
};

int fed_auth_encode(struct fed_wbuf *w, const struct fed_auth *a);
int fed_auth_decode(const uint8_t *p, size_t len, struct fed_auth *a);

struct fed_heartbeat {
	uint64_t	 sent_ns;	/* sender's CLOCK_REALTIME */
	uint32_t	 topics;	/* its local topics */
	uint32_t	 links_up;	/* its links up */
};

int fed_heartbeat_encode(struct fed_wbuf *w, const struct fed_heartbeat *h);
int fed_heartbeat_decode(const uint8_t *p, size_t len,
    struct fed_heartbeat *h);

#define FED_ROUTE_HOME	0x01	/* the sender is the topic's home */
#define FED_ROUTE_EPOCH	0x02	/* a home epoch (u64, > 1) follows the
				   queue count; without it the epoch is 1 */
#define FED_ROUTE_FENCED 0x04	/* the sender's copy is fenced: another
				   host was promoted to home (not with HOME) */
#define FED_ROUTE_FLAGS	0x07	/* the flags version 1 knows */

struct fed_route_entry {
	char		 topic[FED_TOPIC_MAX + 1];
	uint32_t	 queues;
	uint8_t		 flags;		/* FED_ROUTE_*; EPOCH is set by the
					   encoder from epoch */
	uint64_t	 epoch;		/* home epoch, >= 1 (promote.h) */
	bool		 stale;		/* not sent: HOME, but another host
					   is HOME at a higher epoch
					   (route.c, fed_routes_mark) */
};

/* Smallest encoded entry: flags, queues, a 1-byte name with its length. */
#define FED_ROUTE_ENTRY_MIN	(1 + 4 + 1 + 1)

/*
 * ROUTE_REGISTER: topics [first, first + n) of the TOTAL the host has in
 * registration GEN; a list too long for one frame comes in parts with the
 * same GEN, in order.  The receiver replaces the host's routes when the
 * last part (first + n == total) arrives.
 */
struct fed_route_reg {
	uint64_t	 host_id;
	uint64_t	 gen;
	uint32_t	 total;
	uint32_t	 first;
	uint32_t	 n;
	const struct fed_route_entry *e;	/* encode: the N entries */
};

/* Encode as many of R->e[0..R->n) as fit in W's capacity; returns the
 * number encoded (>= 1), or FED_EOVERSIZE if not even one fits. */
int fed_route_reg_encode(struct fed_wbuf *w, const struct fed_route_reg *r);

/*
 * Decode the header into *R and the entries into E[0..max) (R->e = E);
 * FED_EPAYLOAD if more than MAX entries, a length out of bounds, a bad
 * name, unknown flags, first + n > total, or trailing bytes.
 */
int fed_route_reg_decode(const uint8_t *p, size_t len, struct fed_route_reg *r,
    struct fed_route_entry *e, size_t max);

/* The most entries a payload of LEN bytes can hold. */
size_t fed_route_reg_max_entries(size_t len);

struct fed_route_query {
	uint32_t	 id;		/* echoed in the answer */
	char		 topic[FED_TOPIC_MAX + 1];
};

int fed_route_query_encode(struct fed_wbuf *w, const struct fed_route_query *q);
int fed_route_query_decode(const uint8_t *p, size_t len,
    struct fed_route_query *q);

struct fed_route_host {
	uint64_t	 host_id;
	char		 host[FED_HOST_MAX + 1];
	uint32_t	 queues;
	uint8_t		 flags;		/* FED_ROUTE_*, as in a registration */
	uint64_t	 epoch;		/* >= 1 */
};

#define FED_ANSWER_MAX	64		/* hosts in one answer */

struct fed_route_answer {
	uint32_t	 id;
	char		 topic[FED_TOPIC_MAX + 1];
	uint32_t	 n;		/* <= FED_ANSWER_MAX */
	struct fed_route_host h[FED_ANSWER_MAX];
};

int fed_route_answer_encode(struct fed_wbuf *w,
    const struct fed_route_answer *a);
int fed_route_answer_decode(const uint8_t *p, size_t len,
    struct fed_route_answer *a);

struct fed_error {
	int32_t		 code;		/* SHMQ_E* */
	char		 msg[FED_ERRMSG_MAX + 1];
};

int fed_error_encode(struct fed_wbuf *w, const struct fed_error *e);
int fed_error_decode(const uint8_t *p, size_t len, struct fed_error *e);

/* Payload reader's and writer's end: 0, or FED_EPAYLOAD (a read past the
 * end, or trailing bytes) / FED_EOVERSIZE (a write past the capacity). */
int fed_rdone(const struct fed_rbuf *r);
int fed_wdone(const struct fed_wbuf *w);

/* True if S (NUL-terminated) is a topic name as the bus allows. */
bool fed_topic_ok(const char *s);

#endif
