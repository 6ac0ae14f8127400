/*
 * check_frame.c - the federation wire format and handshake, in memory:
 * round trips of every frame type, the incremental decoder on every
 * malformed input the brief names (truncated, oversized before the payload
 * arrives, bad CRC, version, type, flags, lengths inside payloads out of
 * bounds), registrations in parts, the mutual HMAC handshake (right and
 * wrong secret, replay, frames out of turn), and the secret file's checks.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>

#include <shmq/shmq.h>

#include "testutil.h"

#include "auth.h"
#include "frame.h"
#include "fwdframe.h"
#include "replframe.h"
#include "route.h"

#define MAXP	FED_PAYLOAD_DEF

/* A whole frame of TYPE around payload P[0..N) into OUT; its size. */
static size_t
mkframe(uint8_t *out, unsigned type, uint64_t seq, const uint8_t *p, size_t n)
{
	fed_frame_header(out, type, seq, p, (uint32_t)n);
	memcpy(out + FED_HDR_BYTES, p, n);
	return FED_HDR_BYTES + n;
}

static struct fed_hello
hello(const char *host, uint64_t id)
{
	struct fed_hello h;

	memset(&h, 0, sizeof(h));
	h.version_min = h.version_max = FED_VERSION;
	h.host_id = id;
	snprintf(h.host, sizeof(h.host), "%s", host);
	snprintf(h.listen, sizeof(h.listen), "127.0.0.1:%u",
	    (unsigned)(9000 + id % 1000));
	return h;
}

START_TEST(test_roundtrip)
{
	uint8_t pb[4096], fb[4096 + FED_HDR_BYTES];
	struct fed_wbuf w = { pb, 0, sizeof(pb), false };
	struct fed_hello h = hello("alpha", 42), h2;
	struct fed_auth a, a2;
	struct fed_heartbeat hb = { 123456789ull, 7, 2 }, hb2;
	struct fed_route_query q = { 99, "orders" }, q2;
	struct fed_error e = { SHMQ_EAUTH, "no" }, e2;
	struct fed_route_answer *an = calloc(2, sizeof(*an));
	struct fed_frame f;
	size_t n;
	int i;

	ck_assert_ptr_nonnull(an);
	for (i = 0; i < FED_NONCE_BYTES; i++)
		h.nonce[i] = a.nonce[i] = (uint8_t)i;
	for (i = 0; i < FED_MAC_BYTES; i++)
		a.mac[i] = (uint8_t)(255 - i);

	ck_assert_int_eq(fed_hello_encode(&w, &h), 0);
	n = mkframe(fb, FED_T_CHALLENGE, 5, pb, w.len);
	ck_assert_int_eq(fed_frame_decode(fb, n, MAXP, &f), (int)n);
	ck_assert_int_eq(f.type, FED_T_CHALLENGE);
	ck_assert_uint_eq(f.seq, 5);
	ck_assert_int_eq(fed_hello_decode(f.payload, f.length, &h2), 0);
	ck_assert_uint_eq(h2.host_id, 42);
	ck_assert_str_eq(h2.host, "alpha");
	ck_assert_str_eq(h2.listen, h.listen);
	ck_assert_mem_eq(h2.nonce, h.nonce, FED_NONCE_BYTES);

	w.len = 0;
	ck_assert_int_eq(fed_auth_encode(&w, &a), 0);
	ck_assert_int_eq(fed_auth_decode(pb, w.len, &a2), 0);
	ck_assert_mem_eq(&a, &a2, sizeof(a));

	w.len = 0;
	ck_assert_int_eq(fed_heartbeat_encode(&w, &hb), 0);
	ck_assert_int_eq(fed_heartbeat_decode(pb, w.len, &hb2), 0);
	ck_assert_uint_eq(hb2.sent_ns, hb.sent_ns);
	ck_assert_uint_eq(hb2.topics, 7);
	ck_assert_uint_eq(hb2.links_up, 2);

	w.len = 0;
	ck_assert_int_eq(fed_route_query_encode(&w, &q), 0);
	ck_assert_int_eq(fed_route_query_decode(pb, w.len, &q2), 0);
	ck_assert_uint_eq(q2.id, 99);
	ck_assert_str_eq(q2.topic, "orders");

	an[0].id = 7;
	strcpy(an[0].topic, "orders");
	an[0].n = 2;
	an[0].h[0].host_id = 1;
	strcpy(an[0].h[0].host, "a");
	an[0].h[0].queues = 4;
	an[0].h[0].flags = FED_ROUTE_HOME;
	an[0].h[1].host_id = 2;
	strcpy(an[0].h[1].host, "b");
	an[0].h[1].queues = 8;
	w.len = 0;
	ck_assert_int_eq(fed_route_answer_encode(&w, &an[0]), 0);
	ck_assert_int_eq(fed_route_answer_decode(pb, w.len, &an[1]), 0);
	ck_assert_uint_eq(an[1].n, 2);
	ck_assert_str_eq(an[1].h[1].host, "b");
	ck_assert_uint_eq(an[1].h[1].queues, 8);
	ck_assert_uint_eq(an[1].h[0].flags, FED_ROUTE_HOME);

	w.len = 0;
	ck_assert_int_eq(fed_error_encode(&w, &e), 0);
	ck_assert_int_eq(fed_error_decode(pb, w.len, &e2), 0);
	ck_assert_int_eq(e2.code, SHMQ_EAUTH);
	ck_assert_str_eq(e2.msg, "no");

	/* An empty payload is a frame too. */
	n = mkframe(fb, FED_T_HEARTBEAT, 0, pb, 0);
	ck_assert_int_eq(fed_frame_decode(fb, n, MAXP, &f), FED_HDR_BYTES);
	ck_assert_int_eq(fed_heartbeat_decode(f.payload, f.length, &hb2),
	    FED_EPAYLOAD);
	free(an);
}
END_TEST

/* Every prefix of a frame is "need more"; the whole is the frame. */
START_TEST(test_incremental)
{
	uint8_t pb[256], fb[512];
	struct fed_wbuf w = { pb, 0, sizeof(pb), false };
	struct fed_heartbeat hb = { 1, 2, 3 };
	struct fed_frame f;
	size_t n, k;

	ck_assert_int_eq(fed_heartbeat_encode(&w, &hb), 0);
	n = mkframe(fb, FED_T_HEARTBEAT, 1, pb, w.len);
	/* Two frames back to back: the first is decoded alone. */
	n += mkframe(fb + n, FED_T_HEARTBEAT, 2, pb, w.len);
	for (k = 0; k < n / 2; k++)
		ck_assert_int_eq(fed_frame_decode(fb, k, MAXP, &f), 0);
	ck_assert_int_eq(fed_frame_decode(fb, n / 2, MAXP, &f), (int)(n / 2));
	ck_assert_int_eq(fed_frame_decode(fb, n, MAXP, &f), (int)(n / 2));
	ck_assert_uint_eq(f.seq, 1);
	ck_assert_int_eq(fed_frame_decode(fb + n / 2, n / 2, MAXP, &f),
	    (int)(n / 2));
	ck_assert_uint_eq(f.seq, 2);
}
END_TEST

START_TEST(test_malformed_header)
{
	uint8_t pb[64] = { 0 }, fb[128], bad[128];
	struct fed_frame f;
	size_t n;

	n = mkframe(fb, FED_T_HEARTBEAT, 0, pb, 16);

	/* Magic: refused after 4 bytes. */
	memcpy(bad, fb, n);
	bad[0] ^= 0x20;
	ck_assert_int_eq(fed_frame_decode(bad, 4, MAXP, &f), FED_EMAGIC);
	ck_assert_int_eq(fed_frame_decode(bad, 3, MAXP, &f), 0);
	ck_assert_int_eq(fed_frame_decode((const uint8_t *)"GET / HTTP/1.0",
	    14, MAXP, &f), FED_EMAGIC);

	/* Version: after 5. */
	memcpy(bad, fb, n);
	bad[4] = FED_VERSION + 1;
	ck_assert_int_eq(fed_frame_decode(bad, 5, MAXP, &f), FED_EVERSION);
	bad[4] = 0;
	ck_assert_int_eq(fed_frame_decode(bad, n, MAXP, &f), FED_EVERSION);

	/* Type: unknown, and the reserved replication numbers. */
	memcpy(bad, fb, n);
	bad[5] = 0;
	ck_assert_int_eq(fed_frame_decode(bad, 6, MAXP, &f), FED_ETYPE);
	bad[5] = 200;
	ck_assert_int_eq(fed_frame_decode(bad, n, MAXP, &f), FED_ETYPE);
	bad[5] = FED_T_REPL_SUBSCRIBE - 1;	/* between the link's and
						   replication's */
	ck_assert_int_eq(fed_frame_decode(bad, n, MAXP, &f), FED_ETYPE);

	/* Reserved flags. */
	memcpy(bad, fb, n);
	bad[7] = 1;
	ck_assert_int_eq(fed_frame_decode(bad, 8, MAXP, &f), FED_EFLAGS);

	/* Oversize: known from the 12 header bytes, no payload needed. */
	memcpy(bad, fb, n);
	bad[8] = 0x7f;
	ck_assert_int_eq(fed_frame_decode(bad, 12, MAXP, &f), FED_EOVERSIZE);
	ck_assert_int_eq(fed_frame_decode(bad, 11, MAXP, &f), 0);
	/* The limit is the receiver's: 16 bytes against a limit of 15. */
	ck_assert_int_eq(fed_frame_decode(fb, 12, 15, &f), FED_EOVERSIZE);
	ck_assert_int_eq(fed_frame_decode(fb, n, 16, &f), (int)n);

	/* CRC: payload, length-neutral header field (seq), crc field. */
	memcpy(bad, fb, n);
	bad[FED_HDR_BYTES + 3] ^= 1;
	ck_assert_int_eq(fed_frame_decode(bad, n, MAXP, &f), FED_ECRC);
	memcpy(bad, fb, n);
	bad[23] ^= 0x80;
	ck_assert_int_eq(fed_frame_decode(bad, n, MAXP, &f), FED_ECRC);
	memcpy(bad, fb, n);
	bad[12] ^= 1;
	ck_assert_int_eq(fed_frame_decode(bad, n, MAXP, &f), FED_ECRC);
	/* A shorter length with the rest there: CRC, not a frame. */
	memcpy(bad, fb, n);
	bad[11] = 15;
	ck_assert_int_eq(fed_frame_decode(bad, n, MAXP, &f), FED_ECRC);

	ck_assert_int_eq(fed_frame_shmq_err(FED_ECRC), SHMQ_ECORRUPT);
	ck_assert_int_eq(fed_frame_shmq_err(FED_EOVERSIZE), SHMQ_ETOOBIG);
	ck_assert_int_eq(fed_frame_shmq_err(FED_EVERSION), SHMQ_EVERSION);
	ck_assert_int_eq(fed_frame_shmq_err(FED_EMAGIC), SHMQ_EPROTO);
}
END_TEST

/* Lengths inside payloads that point past the end, and other lies. */
START_TEST(test_malformed_payload)
{
	uint8_t pb[1024];
	struct fed_wbuf w = { pb, 0, sizeof(pb), false };
	struct fed_hello h = hello("alpha", 42), h2;
	struct fed_route_entry e[4], out[4];
	struct fed_route_reg r = { 42, 1, 2, 0, 2, e }, r2;
	struct fed_route_query q2;
	struct fed_error e2;
	size_t n, k;

	ck_assert_int_eq(fed_hello_encode(&w, &h), 0);
	n = w.len;
	/* Every truncation of a valid payload is refused. */
	for (k = 0; k < n; k++)
		ck_assert_int_eq(fed_hello_decode(pb, k, &h2), FED_EPAYLOAD);
	/* Trailing bytes too. */
	ck_assert_int_eq(fed_hello_decode(pb, n + 1, &h2), FED_EPAYLOAD);
	/* The host name's length byte pointing past the end. */
	pb[2 + 8 + FED_NONCE_BYTES] = 200;
	ck_assert_int_eq(fed_hello_decode(pb, n, &h2), FED_EPAYLOAD);
	pb[2 + 8 + FED_NONCE_BYTES] = 5;
	ck_assert_int_eq(fed_hello_decode(pb, n, &h2), 0);
	/* A NUL inside the name; host id 0; versions reversed. */
	pb[2 + 8 + FED_NONCE_BYTES + 2] = '\0';
	ck_assert_int_eq(fed_hello_decode(pb, n, &h2), FED_EPAYLOAD);
	h.host_id = 0;
	w.len = 0;
	ck_assert_int_eq(fed_hello_encode(&w, &h), 0);
	ck_assert_int_eq(fed_hello_decode(pb, w.len, &h2), FED_EPAYLOAD);
	h.host_id = 42;
	h.version_min = 3;
	w.len = 0;
	ck_assert_int_eq(fed_hello_encode(&w, &h), 0);
	ck_assert_int_eq(fed_hello_decode(pb, w.len, &h2), FED_EPAYLOAD);

	/* Route registration. */
	memset(e, 0, sizeof(e));
	strcpy(e[0].topic, "orders");
	e[0].queues = 4;
	e[0].flags = FED_ROUTE_HOME;
	strcpy(e[1].topic, "fills");
	e[1].queues = 1;
	w.len = 0;
	ck_assert_int_eq(fed_route_reg_encode(&w, &r), 2);
	n = w.len;
	ck_assert_int_eq(fed_route_reg_decode(pb, n, &r2, out, 4), 0);
	ck_assert_uint_eq(r2.n, 2);
	ck_assert_str_eq(out[1].topic, "fills");
	for (k = 0; k < n; k++)
		ck_assert_int_eq(fed_route_reg_decode(pb, k, &r2, out, 4),
		    FED_EPAYLOAD);
	/* More entries than the caller's array. */
	ck_assert_int_eq(fed_route_reg_decode(pb, n, &r2, out, 1),
	    FED_EPAYLOAD);
	/* A count far beyond the bytes: refused before any entry. */
	pb[24] = 0x7f;
	ck_assert_int_eq(fed_route_reg_decode(pb, n, &r2, out, 4),
	    FED_EPAYLOAD);
	pb[24] = 0;
	/* first + n beyond total. */
	pb[19] = 1;		/* total 1 */
	ck_assert_int_eq(fed_route_reg_decode(pb, n, &r2, out, 4),
	    FED_EPAYLOAD);
	pb[19] = 2;
	/* Unknown route flags; an invalid topic name; zero queues. */
	pb[28] = 0x80;
	ck_assert_int_eq(fed_route_reg_decode(pb, n, &r2, out, 4),
	    FED_EPAYLOAD);
	pb[28] = FED_ROUTE_HOME;
	pb[28 + 1 + 4 + 1] = ' ';
	ck_assert_int_eq(fed_route_reg_decode(pb, n, &r2, out, 4),
	    FED_EPAYLOAD);
	pb[28 + 1 + 4 + 1] = 'o';
	pb[28 + 4] = 0;
	ck_assert_int_eq(fed_route_reg_decode(pb, n, &r2, out, 4),
	    FED_EPAYLOAD);
	pb[28 + 4] = 4;
	ck_assert_int_eq(fed_route_reg_decode(pb, n, &r2, out, 4), 0);

	/* Query, error. */
	ck_assert_int_eq(fed_route_query_decode((const uint8_t *)
	    "\0\0\0\1\7orders", 11, &q2), FED_EPAYLOAD);
	ck_assert_int_eq(fed_route_query_decode((const uint8_t *)
	    "\0\0\0\1\6orders", 11, &q2), 0);
	ck_assert_int_eq(fed_error_decode((const uint8_t *)
	    "\377\377\360\0\3a\nb", 8, &e2), 0);
	ck_assert_str_eq(e2.msg, "a?b");	/* no control characters */
	ck_assert_int_eq(fed_error_decode((const uint8_t *)
	    "\377\377\360\0\4ab", 7, &e2), FED_EPAYLOAD);
}
END_TEST

/* A registration longer than a frame goes in parts and comes back whole. */
START_TEST(test_register_parts)
{
	enum { N = 300 };
	struct fed_route_entry *e = calloc(N, sizeof(*e)), *out;
	uint8_t pb[1024];
	struct fed_routes rt;
	struct fed_route_reg r, r2;
	const struct fed_host_routes *h;
	size_t done = 0, parts = 0, max;
	int i, n, rc = 0;

	ck_assert_ptr_nonnull(e);
	for (i = 0; i < N; i++) {
		snprintf(e[i].topic, sizeof(e[i].topic), "topic-%04d", i);
		e[i].queues = (uint32_t)(i % 8 + 1);
		e[i].flags = FED_ROUTE_HOME;
	}
	max = fed_route_reg_max_entries(sizeof(pb));
	out = calloc(max, sizeof(*out));
	ck_assert_ptr_nonnull(out);
	fed_routes_init(&rt);
	while (done < N) {
		struct fed_wbuf w = { pb, 0, sizeof(pb), false };

		r.host_id = 77;
		r.gen = 3;
		r.total = N;
		r.first = (uint32_t)done;
		r.n = (uint32_t)(N - done);
		r.e = e + done;
		n = fed_route_reg_encode(&w, &r);
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(fed_route_reg_decode(pb, w.len, &r2, out,
		    max), 0);
		rc = fed_routes_register(&rt, 77, "beta", &r2, 1000);
		done += (size_t)n;
		parts++;
		ck_assert_int_eq(rc, done < N ? 0 : 1);
		/* Not visible before the last part. */
		h = fed_routes_host(&rt, 77);
		ck_assert_uint_eq(h->n, done < N ? 0 : N);
	}
	ck_assert_uint_ge(parts, 4);
	h = fed_routes_host(&rt, 77);
	ck_assert_str_eq(h->e[N - 1].topic, "topic-0299");
	ck_assert_uint_eq(h->e[N - 1].queues, 299 % 8 + 1);

	/* A part out of order is refused and the old routes stay. */
	r2.gen = 4;
	r2.first = 5;
	ck_assert_int_eq(fed_routes_register(&rt, 77, "beta", &r2, 2000),
	    SHMQ_EPROTO);
	ck_assert_uint_eq(fed_routes_host(&rt, 77)->n, N);

	/* Expiry: not before, then gone. */
	ck_assert_uint_eq(fed_routes_expire(&rt, 1000 + 499, 500, NULL, NULL),
	    0);
	ck_assert_uint_eq(fed_routes_expire(&rt, 1000 + 500, 500, NULL, NULL),
	    1);
	ck_assert_ptr_null(fed_routes_host(&rt, 77));
	fed_routes_fini(&rt);
	free(out);
	free(e);
}
END_TEST

/* Carry frame TYPE/W from one handshake to the other; the result. */
static int
deliver(struct fed_hs *to, unsigned type, struct fed_wbuf *w,
    struct fed_wbuf *out, unsigned *otype)
{
	uint8_t fb[2048];
	struct fed_frame f;
	size_t n = mkframe(fb, type, 0, w->p, w->len);

	ck_assert_int_eq(fed_frame_decode(fb, n, FED_PAYLOAD_MIN, &f), (int)n);
	out->len = 0;
	return fed_hs_input(to, &f, out, otype);
}

static void
secret(struct fed_secret *s, const char *k)
{
	memset(s, 0, sizeof(*s));
	s->len = strlen(k);
	memcpy(s->key, k, s->len);
}

START_TEST(test_handshake)
{
	uint8_t b1[1024], b2[1024];
	struct fed_wbuf w1 = { b1, 0, sizeof(b1), false };
	struct fed_wbuf w2 = { b2, 0, sizeof(b2), false };
	struct fed_hello ha = hello("alpha", 1), hb = hello("beta", 2);
	struct fed_secret s1, s2;
	struct fed_hs d, l;
	unsigned t1, t2;

	secret(&s1, "correct horse battery staple");
	secret(&s2, "correct horse battery stapler");

	/* Same secret: both sides end authenticated, each knowing the other. */
	ck_assert_int_eq(fed_hs_start(&d, true, &ha, &s1, &w1, &t1), 0);
	ck_assert_int_eq(t1, FED_T_HELLO);
	ck_assert_int_eq(fed_hs_start(&l, false, &hb, &s1, &w2, &t2), 0);
	ck_assert_int_eq(t2, 0);
	ck_assert_int_eq(deliver(&l, t1, &w1, &w2, &t2), 0);
	ck_assert_int_eq(t2, FED_T_CHALLENGE);
	ck_assert_int_eq(deliver(&d, t2, &w2, &w1, &t1), 0);
	ck_assert_int_eq(t1, FED_T_AUTH);
	ck_assert_int_eq(deliver(&l, t1, &w1, &w2, &t2), 1);
	ck_assert_int_eq(t2, FED_T_AUTH_OK);
	ck_assert_int_eq(deliver(&d, t2, &w2, &w1, &t1), 1);
	ck_assert_uint_eq(d.peer.host_id, 2);
	ck_assert_str_eq(l.peer.host, "alpha");
	/* Nothing more is accepted by a finished handshake. */
	ck_assert_int_eq(deliver(&d, t2, &w2, &w1, &t1), SHMQ_EPROTO);

	/* Wrong secret: the listener refuses with ERROR, the dialer sees
	 * SHMQ_EAUTH from it. */
	ck_assert_int_eq(fed_hs_start(&d, true, &ha, &s2, &w1, &t1), 0);
	ck_assert_int_eq(fed_hs_start(&l, false, &hb, &s1, &w2, &t2), 0);
	ck_assert_int_eq(deliver(&l, t1, &w1, &w2, &t2), 0);
	ck_assert_int_eq(deliver(&d, t2, &w2, &w1, &t1), 0);
	ck_assert_int_eq(deliver(&l, t1, &w1, &w2, &t2), SHMQ_EAUTH);
	ck_assert_int_eq(t2, FED_T_ERROR);
	ck_assert_int_eq(deliver(&d, t2, &w2, &w1, &t1), SHMQ_EAUTH);
	/* And the listener takes nothing after. */
	ck_assert_int_eq(deliver(&l, FED_T_AUTH, &w1, &w2, &t2), SHMQ_EPROTO);

	/* A listener with the wrong secret is caught by the dialer. */
	ck_assert_int_eq(fed_hs_start(&d, true, &ha, &s1, &w1, &t1), 0);
	ck_assert_int_eq(fed_hs_start(&l, false, &hb, &s2, &w2, &t2), 0);
	ck_assert_int_eq(deliver(&l, t1, &w1, &w2, &t2), 0);
	ck_assert_int_eq(deliver(&d, t2, &w2, &w1, &t1), 0);
	/* Forge the listener's acceptance: its proof is still wrong. */
	{
		struct fed_auth a;
		struct fed_wbuf wa = { b2, 0, sizeof(b2), false };

		memset(&a, 0x5a, sizeof(a));
		ck_assert_int_eq(fed_auth_encode(&wa, &a), 0);
		ck_assert_int_eq(deliver(&d, FED_T_AUTH_OK, &wa, &w1, &t1),
		    SHMQ_EAUTH);
	}
}
END_TEST

/* Frames out of turn, a replayed proof, a link to oneself. */
START_TEST(test_handshake_abuse)
{
	uint8_t b1[1024], b2[1024], saved[1024];
	struct fed_wbuf w1 = { b1, 0, sizeof(b1), false };
	struct fed_wbuf w2 = { b2, 0, sizeof(b2), false };
	struct fed_wbuf ws = { saved, 0, sizeof(saved), false };
	struct fed_hello ha = hello("alpha", 1), hb = hello("beta", 2);
	struct fed_heartbeat hbt = { 1, 1, 1 };
	struct fed_secret s;
	struct fed_hs d, l;
	unsigned t1, t2;

	secret(&s, "0123456789abcdef0123");

	/* A heartbeat (or anything) before HELLO. */
	ck_assert_int_eq(fed_hs_start(&l, false, &hb, &s, &w2, &t2), 0);
	ck_assert_int_eq(fed_heartbeat_encode(&w1, &hbt), 0);
	ck_assert_int_eq(deliver(&l, FED_T_HEARTBEAT, &w1, &w2, &t2),
	    SHMQ_EPROTO);
	ck_assert_int_eq(t2, 0);

	/* AUTH before HELLO. */
	ck_assert_int_eq(fed_hs_start(&l, false, &hb, &s, &w2, &t2), 0);
	memset(b1, 0, 64);
	w1.len = 64;
	ck_assert_int_eq(deliver(&l, FED_T_AUTH, &w1, &w2, &t2), SHMQ_EPROTO);

	/* A proof replayed into a new session (new listener nonce). */
	w1.len = 0;
	ck_assert_int_eq(fed_hs_start(&d, true, &ha, &s, &w1, &t1), 0);
	ck_assert_int_eq(fed_hs_start(&l, false, &hb, &s, &w2, &t2), 0);
	ck_assert_int_eq(deliver(&l, t1, &w1, &w2, &t2), 0);
	ck_assert_int_eq(deliver(&d, t2, &w2, &w1, &t1), 0);
	memcpy(saved, b1, w1.len);
	ws.len = w1.len;
	ck_assert_int_eq(deliver(&l, t1, &w1, &w2, &t2), 1);
	ck_assert_int_eq(fed_hs_start(&l, false, &hb, &s, &w2, &t2), 0);
	w1.len = 0;
	ck_assert_int_eq(fed_hello_encode(&w1, &ha), 0);
	ck_assert_int_eq(deliver(&l, FED_T_HELLO, &w1, &w2, &t2), 0);
	ck_assert_int_eq(deliver(&l, FED_T_AUTH, &ws, &w2, &t2), SHMQ_EAUTH);

	/* The dialer's own id coming back: a link to itself. */
	w1.len = 0;
	ck_assert_int_eq(fed_hs_start(&d, true, &ha, &s, &w1, &t1), 0);
	ck_assert_int_eq(fed_hs_start(&l, false, &ha, &s, &w2, &t2), 0);
	ck_assert_int_eq(deliver(&l, t1, &w1, &w2, &t2), SHMQ_EINVAL);
}
END_TEST

START_TEST(test_secret_file)
{
	struct fed_secret s;
	char path[4200], err[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/secret", tu_home());
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("a-long-enough-shared-secret\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(fed_secret_load(&s, path, err, sizeof(err)),
	    SHMQ_EACCES);
	ck_assert_msg(strstr(err, "chmod 600") != NULL, "%s", err);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(fed_secret_load(&s, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(s.len, strlen("a-long-enough-shared-secret"));

	f = fopen(path, "w");
	fputs("short\n", f);
	fclose(f);
	ck_assert_int_eq(fed_secret_load(&s, path, err, sizeof(err)),
	    SHMQ_EINVAL);
	snprintf(path, sizeof(path), "%s/nope", tu_home());
	ck_assert_int_eq(fed_secret_load(&s, path, err, sizeof(err)),
	    SHMQ_ENOENT);
}
END_TEST

/* Replication payloads: round trips, and every truncation refused. */
START_TEST(test_repl_payloads)
{
	static struct fed_repl_sub sub, sub2;
	static struct fed_repl_state st, st2;
	static struct fed_repl_ack ack, ack2;
	static uint8_t buf[65536];
	struct fed_wbuf w = { buf, 0, sizeof(buf), false };
	struct fed_repl_rec r, r2;
	struct fed_rbuf rb;
	size_t n, k;
	uint32_t cnt;

	memset(&sub, 0, sizeof(sub));
	strcpy(sub.topic, "orders");
	sub.n = 3;
	sub.next[0] = 1;
	sub.next[2] = UINT64_MAX;
	ck_assert_int_eq(fed_repl_sub_encode(&w, &sub), 0);
	n = w.len;
	ck_assert_int_eq(fed_repl_sub_decode(buf, n, &sub2), 0);
	ck_assert_str_eq(sub2.topic, "orders");
	ck_assert_uint_eq(sub2.n, 3);
	ck_assert(sub2.next[2] == UINT64_MAX);
	for (k = 0; k < n; k++)
		ck_assert_int_eq(fed_repl_sub_decode(buf, k, &sub2),
		    FED_EPAYLOAD);
	ck_assert_int_eq(fed_repl_sub_decode(buf, n + 1, &sub2), FED_EPAYLOAD);
	buf[1 + 6 + 3] = 0x10;	/* n = 0x10000003: above 1024 */
	ck_assert_int_eq(fed_repl_sub_decode(buf, n, &sub2), FED_EPAYLOAD);

	w.len = 0;
	memset(&st, 0, sizeof(st));
	st.store_id = 9;
	st.n = 2;
	st.min[1] = 5;
	st.tail[1] = 7;
	st.epoch = 3;
	ck_assert_int_eq(fed_repl_state_encode(&w, &st), 0);
	n = w.len;
	ck_assert_int_eq(fed_repl_state_decode(buf, n, &st2), 0);
	ck_assert(st2.store_id == 9 && st2.n == 2 && st2.tail[1] == 7);
	ck_assert(st2.epoch == 3);
	for (k = 0; k < n; k++)
		ck_assert_int_eq(fed_repl_state_decode(buf, k, &st2),
		    FED_EPAYLOAD);
	buf[n - 1] = 0;		/* epoch 0: there is none */
	ck_assert_int_eq(fed_repl_state_decode(buf, n, &st2), FED_EPAYLOAD);
	buf[n - 1] = 3;
	buf[n - 9] = 4;		/* tail 4 below min 5 */
	ck_assert_int_eq(fed_repl_state_decode(buf, n, &st2), FED_EPAYLOAD);

	w.len = 0;
	ack.n = 1;
	ack.queue[0] = 3;
	ack.next[0] = 42;
	ck_assert_int_eq(fed_repl_ack_encode(&w, &ack), 0);
	n = w.len;
	ck_assert_int_eq(fed_repl_ack_decode(buf, n, &ack2), 0);
	ck_assert(ack2.queue[0] == 3 && ack2.next[0] == 42);
	buf[4] = 0x04;		/* queue 1027 */
	ck_assert_int_eq(fed_repl_ack_decode(buf, n, &ack2), FED_EPAYLOAD);

	memset(&r, 0, sizeof(r));
	r.queue = 1;
	r.queue_off = 77;
	r.origin_store = 0xabc;
	r.origin_off = 0x100;
	r.tags = (const uint8_t *)"T";
	r.tags_len = 1;
	r.keys = (const uint8_t *)"k1 k2";
	r.keys_len = 5;
	r.props = (const uint8_t *)"a\1b\2";
	r.props_len = 4;
	r.body = (const uint8_t *)"hello";
	r.body_len = 5;
	fed_repl_data_begin(&w);
	ck_assert_int_eq(fed_repl_data_add(&w, &r), 0);
	ck_assert_int_eq(fed_repl_data_add(&w, &r), 0);
	ck_assert_int_eq(fed_repl_data_end(&w), 0);
	n = w.len;
	ck_assert_int_eq(fed_repl_data_open(&rb, buf, n, &cnt), 0);
	ck_assert_uint_eq(cnt, 2);
	ck_assert_int_eq(fed_repl_data_next(&rb, &r2), 0);
	ck_assert(r2.queue == 1 && r2.queue_off == 77 &&
	    r2.origin_store == 0xabc && r2.body_len == 5 &&
	    memcmp(r2.body, "hello", 5) == 0 && r2.keys_len == 5);
	ck_assert_int_eq(fed_repl_data_next(&rb, &r2), 0);
	ck_assert_int_eq(fed_rdone(&rb), 0);
	/* Cut anywhere: some read runs past the end. */
	for (k = 4; k < n; k++) {
		int bad = 0;

		if (fed_repl_data_open(&rb, buf, k, &cnt) < 0)
			continue;
		while (cnt-- > 0 && !bad)
			bad = fed_repl_data_next(&rb, &r2) < 0;
		ck_assert(bad || fed_rdone(&rb) < 0);
	}
	/* A count that cannot fit is refused before reading. */
	buf[0] = 0x7f;
	ck_assert_int_eq(fed_repl_data_open(&rb, buf, n, &cnt), FED_EPAYLOAD);
	/* A record that does not fit the buffer leaves it unchanged. */
	w = (struct fed_wbuf){ buf, 0, 40, false };
	fed_repl_data_begin(&w);
	ck_assert_int_eq(fed_repl_data_add(&w, &r), FED_EOVERSIZE);
	ck_assert_uint_eq(w.len, 4);
}
END_TEST

/* Remote send's payloads: round trips, and every truncation refused. */
START_TEST(test_fwd_payloads)
{
	uint8_t buf[1024];
	struct fed_wbuf w = { buf, 0, sizeof(buf), false };
	struct fed_fwd_open o = { 0x1234, 8 }, o2;
	struct fed_fwd_reject j = { 3, 77, SHMQ_ENOTOPIC, "no topic" }, j2;
	struct fed_repl_ack a, a2;
	struct fed_fwd_rec r, r2;
	struct fed_rbuf rb;
	uint32_t n;
	size_t len, cut;

	ck_assert_int_eq(fed_fwd_open_encode(&w, &o), 0);
	ck_assert_int_eq(fed_fwd_open_decode(buf, w.len, &o2), 0);
	ck_assert(o2.store_id == 0x1234 && o2.queues == 8);
	for (cut = 0; cut < w.len; cut++)
		ck_assert_int_eq(fed_fwd_open_decode(buf, cut, &o2),
		    FED_EPAYLOAD);

	a.n = 0;
	w.len = 0;
	ck_assert_int_eq(fed_fwd_held_encode(&w, &a), 0);
	ck_assert_int_eq(fed_fwd_held_decode(buf, w.len, &a2), 0);
	ck_assert_uint_eq(a2.n, 0);
	a.n = 1;
	a.queue[0] = 5;
	a.next[0] = 99;
	w.len = 0;
	ck_assert_int_eq(fed_fwd_held_encode(&w, &a), 0);
	ck_assert_int_eq(fed_fwd_held_decode(buf, w.len, &a2), 0);
	ck_assert(a2.n == 1 && a2.queue[0] == 5 && a2.next[0] == 99);

	w.len = 0;
	ck_assert_int_eq(fed_fwd_reject_encode(&w, &j), 0);
	ck_assert_int_eq(fed_fwd_reject_decode(buf, w.len, &j2), 0);
	ck_assert(j2.oq == 3 && j2.ooff == 77 && j2.code == SHMQ_ENOTOPIC &&
	    strcmp(j2.msg, "no topic") == 0);
	for (cut = 0; cut < w.len; cut++)
		ck_assert_int_eq(fed_fwd_reject_decode(buf, cut, &j2),
		    FED_EPAYLOAD);

	memset(&r, 0, sizeof(r));
	r.oq = 2;
	r.ooff = 41;
	r.born_ns = 7;
	r.queue = -1;
	r.has_shard = 1;
	r.shard = 0xdeadbeef;
	r.topic = (const uint8_t *)"orders";
	r.topic_len = 6;
	r.id = (const uint8_t *)"0123456789ABCDEF0123456789ABCDEF";
	r.id_len = 32;
	r.tags = (const uint8_t *)"t";
	r.tags_len = 1;
	r.props = (const uint8_t *)"a\1b\2";
	r.props_len = 4;
	r.body = (const uint8_t *)"body";
	r.body_len = 4;
	fed_fwd_data_begin(&w);
	ck_assert_int_eq(fed_fwd_data_add(&w, &r), 0);
	len = w.len;
	ck_assert_int_eq(fed_fwd_data_open(&rb, buf, len, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(fed_fwd_data_next(&rb, &r2), 0);
	ck_assert_int_eq(fed_rdone(&rb), 0);
	ck_assert(r2.oq == 2 && r2.ooff == 41 && r2.queue == -1 &&
	    r2.has_shard == 1 && r2.shard == 0xdeadbeef &&
	    r2.topic_len == 6 && memcmp(r2.topic, "orders", 6) == 0 &&
	    r2.id_len == 32 && r2.body_len == 4 &&
	    memcmp(r2.body, "body", 4) == 0 && r2.props_len == 4);
	for (cut = 0; cut < len; cut++) {
		if (fed_fwd_data_open(&rb, buf, cut, &n) < 0)
			continue;
		ck_assert(fed_fwd_data_next(&rb, &r2) < 0 ||
		    fed_rdone(&rb) < 0);
	}
	/* A record that does not fit leaves the frame as it was. */
	w.cap = len + 10;
	ck_assert_int_eq(fed_fwd_data_add(&w, &r), FED_EOVERSIZE);
	ck_assert_uint_eq(w.len, len);
	w.cap = sizeof(buf);
	/* A topic with a NUL, an empty topic: refused. */
	r.topic = (const uint8_t *)"or\0ers";
	fed_fwd_data_begin(&w);
	ck_assert_int_eq(fed_fwd_data_add(&w, &r), 0);
	ck_assert_int_eq(fed_fwd_data_open(&rb, buf, w.len, &n), 0);
	ck_assert_int_eq(fed_fwd_data_next(&rb, &r2), FED_EPAYLOAD);
}
END_TEST

/*
 * Route epochs (promotion): a HOME entry of a promoted topic carries its
 * epoch (flag EPOCH, u64 > 1), a fenced copy says FENCED; each has one
 * encoding; and of two HOME claims the higher epoch's is the home in
 * answers, the other fenced.
 */
START_TEST(test_route_epochs)
{
	struct fed_route_entry e[3], out[3];
	struct fed_route_reg r = { 5, 1, 3, 0, 3, e }, r2;
	static struct fed_route_answer an[2];
	uint8_t pb[512];
	struct fed_wbuf w = { pb, 0, sizeof(pb), false };
	struct fed_routes rt;
	size_t n, k, at;

	memset(e, 0, sizeof(e));
	strcpy(e[0].topic, "orders");
	e[0].queues = 2;
	e[0].flags = FED_ROUTE_HOME;
	e[0].epoch = 2;
	strcpy(e[1].topic, "fills");
	e[1].queues = 1;
	e[1].epoch = 1;			/* a mirror, never promoted */
	strcpy(e[2].topic, "quotes");
	e[2].queues = 3;
	e[2].flags = FED_ROUTE_FENCED;
	e[2].epoch = 1;
	ck_assert_int_eq(fed_route_reg_encode(&w, &r), 3);
	n = w.len;
	/* 8 more bytes than without epochs: the one epoch above 1. */
	ck_assert_uint_eq(n, 28 + 3 * 6 + 6 + 5 + 6 + 8);
	ck_assert_int_eq(fed_route_reg_decode(pb, n, &r2, out, 3), 0);
	ck_assert(out[0].epoch == 2 && out[1].epoch == 1 &&
	    out[2].epoch == 1);
	ck_assert_uint_eq(out[0].flags, FED_ROUTE_HOME | FED_ROUTE_EPOCH);
	ck_assert_uint_eq(out[1].flags, 0);
	ck_assert_uint_eq(out[2].flags, FED_ROUTE_FENCED);
	for (k = 0; k < n; k++)
		ck_assert_int_eq(fed_route_reg_decode(pb, k, &r2, out, 3),
		    FED_EPAYLOAD);
	/* An epoch of 1 written out: a second encoding, refused. */
	at = 28 + 1 + 4;
	pb[at + 7] = 1;
	ck_assert_int_eq(fed_route_reg_decode(pb, n, &r2, out, 3),
	    FED_EPAYLOAD);
	pb[at + 7] = 0;
	ck_assert_int_eq(fed_route_reg_decode(pb, n, &r2, out, 3),
	    FED_EPAYLOAD);
	pb[at + 7] = 2;
	/* HOME and FENCED at once: refused. */
	pb[28] |= FED_ROUTE_FENCED;
	ck_assert_int_eq(fed_route_reg_decode(pb, n, &r2, out, 3),
	    FED_EPAYLOAD);
	pb[28] &= (uint8_t)~FED_ROUTE_FENCED;
	ck_assert_int_eq(fed_route_reg_decode(pb, n, &r2, out, 3), 0);

	/* Two hosts say HOME of "orders": 7 at epoch 2 (above), this host
	 * at epoch 1.  The answer names 7 first; this host comes after,
	 * fenced; "fills" of 7 stays a mirror. */
	fed_routes_init(&rt);
	rt.local = calloc(1, sizeof(*rt.local));
	ck_assert_ptr_nonnull(rt.local);
	strcpy(rt.local[0].topic, "orders");
	rt.local[0].queues = 2;
	rt.local[0].flags = FED_ROUTE_HOME;
	rt.local[0].epoch = 1;
	rt.nlocal = 1;
	r.host_id = 7;
	r.n = r.total = 2;
	ck_assert_int_eq(fed_routes_register(&rt, 7, "beta", &r, 1), 1);
	fed_routes_answer(&rt, 1, "alpha", "orders", &an[0]);
	ck_assert_uint_eq(an[0].n, 2);
	ck_assert_str_eq(an[0].h[0].host, "alpha");	/* not marked yet */
	fed_routes_mark(&rt);
	fed_routes_answer(&rt, 1, "alpha", "orders", &an[0]);
	ck_assert_uint_eq(an[0].n, 2);
	ck_assert_str_eq(an[0].h[0].host, "beta");
	ck_assert(an[0].h[0].epoch == 2);
	ck_assert(an[0].h[0].flags & FED_ROUTE_HOME);
	ck_assert_str_eq(an[0].h[1].host, "alpha");
	ck_assert_uint_eq(an[0].h[1].flags, FED_ROUTE_FENCED);
	/* The answer keeps both on the wire. */
	w.len = 0;
	ck_assert_int_eq(fed_route_answer_encode(&w, &an[0]), 0);
	ck_assert_int_eq(fed_route_answer_decode(pb, w.len, &an[1]), 0);
	ck_assert(an[1].h[0].epoch == 2 && an[1].h[1].epoch == 1);
	ck_assert_uint_eq(an[1].h[1].flags, FED_ROUTE_FENCED);
	fed_routes_answer(&rt, 1, "alpha", "fills", &an[0]);
	ck_assert_uint_eq(an[0].n, 1);
	ck_assert_uint_eq(an[0].h[0].flags, 0);
	fed_routes_fini(&rt);
}
END_TEST

/* Encode G alone into W (a fresh frame); its length. */
static size_t
goff_frame(struct fed_wbuf *w, const struct fed_repl_goff *g)
{
	w->len = 0;
	fed_repl_offsets_begin(w);
	ck_assert_int_eq(fed_repl_offsets_add(w, g), 0);
	ck_assert_int_eq(fed_repl_offsets_end(w), 0);
	return w->len;
}

/* Does the OFFSETS payload P[0..N) decode whole? */
static bool
goff_decodes(const uint8_t *p, size_t n)
{
	struct fed_repl_goff g;
	struct fed_rbuf rb;
	uint32_t cnt, i;

	if (fed_repl_offsets_open(&rb, p, n, &cnt) < 0)
		return false;
	for (i = 0; i < cnt; i++)
		if (fed_repl_offsets_next(&rb, &g) < 0)
			return false;
	return fed_rdone(&rb) == 0;
}

/* REPL_OFFSETS: round trip, every truncation, every field's bound, and
 * a list split over frames. */
START_TEST(test_repl_offsets)
{
	static uint8_t buf[4096];
	struct fed_wbuf w = { buf, 0, sizeof(buf), false };
	struct fed_repl_goff g[3], x, bad;
	struct fed_rbuf rb;
	uint32_t cnt, i, total;
	size_t n, k;

	ck_assert_int_eq(fed_type_valid(FED_T_REPL_OFFSETS), true);
	ck_assert_str_eq(fed_type_name(FED_T_REPL_OFFSETS), "REPL_OFFSETS");
	memset(g, 0, sizeof(g));
	strcpy(g[0].group, "billing");
	g[0].model = FED_GROUP_CLUSTERING;
	g[0].queue = 3;
	g[0].committed = 1234;
	strcpy(g[1].group, "audit-1.x_y");
	g[1].model = FED_GROUP_BROADCASTING;
	strcpy(g[1].instance, "node-7");
	g[1].queue = FED_REPL_QUEUES_MAX - 1;
	g[1].committed = FED_REPL_OFF_MAX;
	memset(g[2].group, 'g', FED_TOPIC_MAX);
	g[2].model = FED_GROUP_BROADCASTING;
	memset(g[2].instance, 'i', FED_TOPIC_MAX);
	fed_repl_offsets_begin(&w);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(fed_repl_offsets_add(&w, &g[i]), 0);
	ck_assert_int_eq(fed_repl_offsets_end(&w), 0);
	n = w.len;
	ck_assert_uint_eq(n, 4 + 3 * (FED_REPL_GOFF_MIN - 1) + 7 + 11 + 6 +
	    2 * FED_TOPIC_MAX);
	ck_assert_int_eq(fed_repl_offsets_open(&rb, buf, n, &cnt), 0);
	ck_assert_uint_eq(cnt, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(fed_repl_offsets_next(&rb, &x), 0);
		ck_assert_str_eq(x.group, g[i].group);
		ck_assert_str_eq(x.instance, g[i].instance);
		ck_assert_uint_eq(x.model, g[i].model);
		ck_assert_uint_eq(x.queue, g[i].queue);
		ck_assert(x.committed == g[i].committed);
	}
	ck_assert_int_eq(fed_rdone(&rb), 0);
	/* Cut anywhere, or one byte too many: refused. */
	for (k = 0; k < n; k++)
		ck_assert_msg(!goff_decodes(buf, k), "cut at %zu decodes", k);
	buf[n] = 0;
	ck_assert(!goff_decodes(buf, n + 1));
	/* A count that cannot fit is refused before any record is read;
	 * so is 0. */
	buf[0] = 0x7f;
	ck_assert_int_eq(fed_repl_offsets_open(&rb, buf, n, &cnt),
	    FED_EPAYLOAD);
	buf[0] = 0;
	buf[3] = 0;
	ck_assert_int_eq(fed_repl_offsets_open(&rb, buf, n, &cnt),
	    FED_EPAYLOAD);

	/* Each field out of bounds, in a frame of its own. */
	ck_assert(goff_decodes(buf, goff_frame(&w, &g[0])));
	bad = g[0];
	strcpy(bad.group, "a b");		/* not a name */
	ck_assert(!goff_decodes(buf, goff_frame(&w, &bad)));
	bad.group[0] = '\0';			/* empty */
	ck_assert(!goff_decodes(buf, goff_frame(&w, &bad)));
	bad = g[0];
	strcpy(bad.instance, "x");		/* clustering with instance */
	ck_assert(!goff_decodes(buf, goff_frame(&w, &bad)));
	bad = g[1];
	bad.instance[0] = '\0';		/* broadcasting without */
	ck_assert(!goff_decodes(buf, goff_frame(&w, &bad)));
	strcpy(bad.instance, "n/1");
	ck_assert(!goff_decodes(buf, goff_frame(&w, &bad)));
	bad = g[0];
	bad.model = 2;
	ck_assert(!goff_decodes(buf, goff_frame(&w, &bad)));
	bad = g[0];
	bad.queue = FED_REPL_QUEUES_MAX;
	ck_assert(!goff_decodes(buf, goff_frame(&w, &bad)));
	bad = g[0];
	bad.committed = FED_REPL_OFF_MAX + 1;
	ck_assert(!goff_decodes(buf, goff_frame(&w, &bad)));
	/* A NUL inside the group name (the wire's bytes). */
	n = goff_frame(&w, &g[0]);
	buf[4 + 1 + 2] = '\0';
	ck_assert(!goff_decodes(buf, n));
	/* A group name longer than 127: not encoded. */
	bad = g[0];
	memset(bad.group, 'g', sizeof(bad.group));
	w.len = 0;
	fed_repl_offsets_begin(&w);
	ck_assert_int_eq(fed_repl_offsets_add(&w, &bad), FED_EOVERSIZE);
	ck_assert_uint_eq(w.len, 4);

	/* A list longer than a frame: the writer stops at the capacity
	 * with the buffer unchanged, and each part decodes on its own. */
	w = (struct fed_wbuf){ buf, 0, 4 + 2 * (FED_REPL_GOFF_MIN - 1 + 7) +
	    5, false };
	fed_repl_offsets_begin(&w);
	for (i = 0, total = 0; i < 5; i++) {
		g[0].queue = (uint16_t)i;
		if (fed_repl_offsets_add(&w, &g[0]) == FED_EOVERSIZE) {
			ck_assert_uint_eq(w.len, 4 + 2 * (FED_REPL_GOFF_MIN -
			    1 + 7));
			ck_assert_int_eq(fed_repl_offsets_open(&rb, buf, w.len,
			    &cnt), 0);
			ck_assert_uint_eq(cnt, 2);
			total += cnt;
			ck_assert(goff_decodes(buf, w.len));
			fed_repl_offsets_begin(&w);
			ck_assert_int_eq(fed_repl_offsets_add(&w, &g[0]), 0);
		}
	}
	ck_assert_int_eq(fed_repl_offsets_open(&rb, buf, w.len, &cnt), 0);
	ck_assert_int_eq(fed_repl_offsets_next(&rb, &x), 0);
	ck_assert_uint_eq(x.queue, 4);
	ck_assert_uint_eq(total + cnt, 5);
}
END_TEST

static Suite *
frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_incremental);
	tcase_add_test(tc, test_malformed_header);
	tcase_add_test(tc, test_malformed_payload);
	tcase_add_test(tc, test_register_parts);
	tcase_add_test(tc, test_repl_payloads);
	tcase_add_test(tc, test_fwd_payloads);
	tcase_add_test(tc, test_route_epochs);
	tcase_add_test(tc, test_repl_offsets);
	suite_add_tcase(s, tc);
	tc = tcase_create("auth");
	tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
	tcase_add_test(tc, test_handshake);
	tcase_add_test(tc, test_handshake_abuse);
	tcase_add_test(tc, test_secret_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(frame_suite);
}
