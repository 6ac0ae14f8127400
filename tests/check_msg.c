/*
 * check_msg.c - message encoding: the limits shmq__msg_measure enforces,
 * a write/view round trip of every field into a plain malloc'd buffer,
 * property lookup, the record CRC and what it covers, shmq__rec_sane, and
 * message ids.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>

#include "commitlog.h"
#include "internal.h"
#include "layout.h"
#include "msg.h"
#include "testutil.h"

#define SEG	(1ull << 20)

/* A record buffer: 8-aligned, filled with garbage so that the encoder has
 * to write every byte it claims (padding included). */
static struct shmq_rec *
rec_alloc(size_t size)
{
	void *p = NULL;

	ck_assert_int_eq(posix_memalign(&p, 8, size), 0);
	memset(p, 0xa5, size);
	return p;
}

/* Measure and write M as record at LOG_OFF; returns the record. */
static struct shmq_rec *
encode(const struct shmq_msg *m, const char *topic, uint64_t log_off,
    struct shmq_enc *enc)
{
	struct shmq_rec_meta meta = {
		.log_off = log_off,
		.queue_off = 77,
		.born_ns = 1111,
		.store_ns = 2222,
		.producer_id = 0x100000003ull,
		.queue = 5,
		.reconsume = 2,
	};
	struct shmq_rec *r;

	ck_assert_int_eq(shmq__msg_measure(m, strlen(topic), 1u << 20, enc),
	    0);
	r = rec_alloc(enc->size);
	shmq__msg_write(r, m, topic, enc, &meta);
	/* Publish as a producer would. */
	r->size = enc->size;
	return r;
}

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

static char *
str_of(size_t n, char c)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

START_TEST(t_measure_sizes)
{
	static const struct shmq_prop props[] = {
		{ "k", "v" }, { "name", "" },
	};
	struct shmq_msg m;
	struct shmq_enc e;
	uint64_t want;

	shmq_msg_init(&m);
	m.topic = "t";
	ck_assert_int_eq(shmq__msg_measure(&m, 1, 4096, &e), 0);
	ck_assert_uint_eq(e.size, shmq__align8(sizeof(struct shmq_rec) + 1));
	ck_assert_uint_eq(e.topic_len, 1);
	ck_assert_uint_eq(e.tags_len + e.keys_len + e.props_len + e.body_len,
	    0);

	m.tags = "TagA";
	m.keys = "k1 k2";
	m.props = props;
	m.nprops = 2;
	m.body = "hello";
	m.body_len = 5;
	ck_assert_int_eq(shmq__msg_measure(&m, 6, 4096, &e), 0);
	ck_assert_uint_eq(e.topic_len, 6);
	ck_assert_uint_eq(e.tags_len, 4);
	ck_assert_uint_eq(e.keys_len, 5);
	ck_assert_uint_eq(e.props_len, (1 + 1 + 2) + (4 + 0 + 2));
	ck_assert_uint_eq(e.body_len, 5);
	want = sizeof(struct shmq_rec) + 6 + 4 + 5 + 10 + 5;
	ck_assert_uint_eq(e.size, shmq__align8(want));
	ck_assert_uint_eq(e.size % 8, 0);
}
END_TEST

START_TEST(t_measure_tags_keys)
{
	struct shmq_msg m;
	struct shmq_enc e;
	char *s;

	shmq_msg_init(&m);
	m.topic = "t";
	s = str_of(SHMQ_TAGS_MAX, 'g');
	m.tags = s;
	ck_assert_int_eq(shmq__msg_measure(&m, 1, 1 << 20, &e), 0);
	ck_assert_uint_eq(e.tags_len, 255);
	free(s);
	s = str_of(SHMQ_TAGS_MAX + 1, 'g');
	m.tags = s;
	ck_assert_int_eq(shmq__msg_measure(&m, 1, 1 << 20, &e), SHMQ_EINVAL);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "256"));
	free(s);
	m.tags = NULL;

	s = str_of(SHMQ_KEYS_MAX, 'k');
	m.keys = s;
	ck_assert_int_eq(shmq__msg_measure(&m, 1, 1 << 20, &e), 0);
	ck_assert_uint_eq(e.keys_len, 65535);
	free(s);
	s = str_of(SHMQ_KEYS_MAX + 1, 'k');
	m.keys = s;
	ck_assert_int_eq(shmq__msg_measure(&m, 1, 1 << 20, &e), SHMQ_EINVAL);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "65536"));
	free(s);
}
END_TEST

START_TEST(t_measure_body)
{
	const uint32_t max = 1024;
	const size_t hdr = sizeof(struct shmq_rec) + 3;	/* topic "abc" */
	static char body[2048];
	struct shmq_msg m;
	struct shmq_enc e;
	size_t n;
	int bad = 0;

	shmq_msg_init(&m);
	m.topic = "abc";
	m.body = NULL;
	m.body_len = 1;
	ck_assert_int_eq(shmq__msg_measure(&m, 3, max, &e), SHMQ_EINVAL);
	m.body_len = 0;
	ck_assert_int_eq(shmq__msg_measure(&m, 3, max, &e), 0);

	/* Records up to exactly MAX bytes (after rounding) fit; one byte
	 * more is too big. */
	m.body = body;
	for (n = 0; n < sizeof(body); n++) {
		int want = shmq__align8(hdr + n) <= max ? 0 : SHMQ_ETOOBIG;

		m.body_len = n;
		if (shmq__msg_measure(&m, 3, max, &e) != want)
			bad++;
		else if (want == 0 && e.size != shmq__align8(hdr + n))
			bad++;
	}
	ck_assert_int_eq(bad, 0);
	m.body_len = max - hdr;
	ck_assert_int_eq(shmq__msg_measure(&m, 3, max, &e), 0);
	ck_assert_uint_eq(e.size, max);
	m.body_len = max - hdr + 1;
	ck_assert_int_eq(shmq__msg_measure(&m, 3, max, &e), SHMQ_ETOOBIG);
	/* Properties count against the limit too. */
	{
		struct shmq_prop p = { "p", NULL };
		char *v = str_of(max, 'v');

		p.value = v;
		m.body_len = 0;
		m.props = &p;
		m.nprops = 1;
		ck_assert_int_eq(shmq__msg_measure(&m, 3, max, &e),
		    SHMQ_ETOOBIG);
		free(v);
	}
	/* A body longer than 4 GiB cannot be encoded, whatever MAX says
	 * (the pointer is never read). */
	m.props = NULL;
	m.nprops = 0;
	m.body_len = (size_t)UINT32_MAX + 1;
	ck_assert_int_eq(shmq__msg_measure(&m, 3, UINT32_MAX, &e),
	    SHMQ_ETOOBIG);
}
END_TEST

START_TEST(t_measure_props)
{
	static const struct shmq_prop bad[][1] = {
		{ { "a\1b", "v" } }, { { "a\2b", "v" } }, { { "a", "v\1" } },
		{ { "a", "\2" } }, { { "", "v" } }, { { NULL, "v" } },
		{ { "a", NULL } },
	};
	static const struct shmq_prop good[] = {
		{ "a", "" }, { "b", "x y=z;\3\x7f" }, { "\xc3\xa9t\xc3\xa9", "u" },
	};
	struct shmq_msg m;
	struct shmq_enc e;
	size_t i;

	shmq_msg_init(&m);
	m.topic = "t";
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m.props = bad[i];
		m.nprops = 1;
		ck_assert_msg(shmq__msg_measure(&m, 1, 4096, &e) ==
		    SHMQ_EINVAL, "bad property %zu accepted", i);
	}
	/* A bad property after good ones is found too. */
	{
		struct shmq_prop p[3] = { { "a", "1" }, { "b", "2" },
		    { "c", "3\2" } };

		m.props = p;
		m.nprops = 3;
		ck_assert_int_eq(shmq__msg_measure(&m, 1, 4096, &e),
		    SHMQ_EINVAL);
		ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "property 2"));
	}
	m.props = NULL;
	m.nprops = 2;
	ck_assert_int_eq(shmq__msg_measure(&m, 1, 4096, &e), SHMQ_EINVAL);
	m.props = good;
	m.nprops = 3;
	ck_assert_int_eq(shmq__msg_measure(&m, 1, 4096, &e), 0);
	/* nprops 0 ignores props. */
	m.props = bad[0];
	m.nprops = 0;
	ck_assert_int_eq(shmq__msg_measure(&m, 1, 4096, &e), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Round trip                                                          */
/* ------------------------------------------------------------------ */

START_TEST(t_roundtrip_all_fields)
{
	static const struct shmq_prop props[] = {
		{ "color", "red" }, { "empty", "" }, { "c", "long value here" },
		{ "colo", "prefix" }, { "n2", "v2" },
	};
	static const char body[] = "the body\0with a NUL!";
	const uint64_t store_id = 0x0123456789abcdefull;
	struct shmq_msgview v;
	struct shmq_msg m;
	struct shmq_enc e;
	struct shmq_rec *r;
	const char *val, *pad;
	char id[SHMQ_MSGID_LEN + 1];
	size_t len, used, i;

	shmq_msg_init(&m);
	m.topic = "orders";
	m.tags = "TagA";
	m.keys = "k1 k2";
	m.props = props;
	m.nprops = 5;
	m.body = body;
	m.body_len = sizeof(body);
	r = encode(&m, "orders", 4096, &e);
	ck_assert_uint_eq(r->magic, SHMQ_REC_MAGIC);
	ck_assert_uint_eq(r->flags, 0);
	ck_assert_uint_eq(r->reserved0, 0);
	ck_assert_uint_eq(r->reserved1, 0);
	/* The encoder zeroes the padding (the CRC covers it). */
	used = sizeof(*r) + e.topic_len + e.tags_len + e.keys_len +
	    e.props_len + e.body_len;
	ck_assert_uint_gt(e.size, used);	/* this message has padding */
	pad = (const char *)r + used;
	for (i = 0; i < e.size - used; i++)
		ck_assert_int_eq(pad[i], 0);

	memset(&v, 0x5a, sizeof(v));
	shmq__msg_view(r, store_id, &v);
	ck_assert_uint_eq(v.topic_len, 6);
	ck_assert(memcmp(v.topic, "orders", 6) == 0);
	ck_assert_uint_eq(v.tags_len, 4);
	ck_assert(memcmp(v.tags, "TagA", 4) == 0);
	ck_assert_uint_eq(v.keys_len, 5);
	ck_assert(memcmp(v.keys, "k1 k2", 5) == 0);
	ck_assert_uint_eq(v.props_len, e.props_len);
	ck_assert(memcmp(v.props, "color\1red\2empty\1\2c\1long value here\2"
	    "colo\1prefix\2n2\1v2\2", v.props_len) == 0);
	ck_assert_uint_eq(v.body_len, sizeof(body));
	ck_assert(memcmp(v.body, body, sizeof(body)) == 0);
	ck_assert_int_eq(v.queue, 5);
	ck_assert_uint_eq(v.queue_off, 77);
	ck_assert_uint_eq(v.log_off, 4096);
	ck_assert_uint_eq(v.born_ns, 1111);
	ck_assert_uint_eq(v.store_ns, 2222);
	ck_assert_uint_eq(v.producer_id, 0x100000003ull);
	ck_assert_uint_eq(v.reconsume, 2);
	shmq__msg_id(store_id, 4096, id);
	ck_assert_str_eq(v.msg_id, id);
	/* The view points into the record. */
	ck_assert_ptr_eq(v.topic, (const char *)(r + 1));
	ck_assert_ptr_eq((const char *)v.body + v.body_len,
	    (const char *)r + used);

	/* Properties. */
	val = shmq_msgview_prop(&v, "color", &len);
	ck_assert_ptr_nonnull(val);
	ck_assert_uint_eq(len, 3);
	ck_assert(memcmp(val, "red", 3) == 0);
	val = shmq_msgview_prop(&v, "empty", &len);
	ck_assert_ptr_nonnull(val);
	ck_assert_uint_eq(len, 0);
	val = shmq_msgview_prop(&v, "c", &len);
	ck_assert_ptr_nonnull(val);
	ck_assert_uint_eq(len, 15);
	ck_assert(memcmp(val, "long value here", 15) == 0);
	val = shmq_msgview_prop(&v, "colo", &len);
	ck_assert_ptr_nonnull(val);
	ck_assert(len == 6 && memcmp(val, "prefix", 6) == 0);
	val = shmq_msgview_prop(&v, "n2", NULL);
	ck_assert_ptr_nonnull(val);
	ck_assert(memcmp(val, "v2", 2) == 0);
	/* Names, not prefixes or values, are matched. */
	ck_assert_ptr_null(shmq_msgview_prop(&v, "col", &len));
	ck_assert_ptr_null(shmq_msgview_prop(&v, "colors", &len));
	ck_assert_ptr_null(shmq_msgview_prop(&v, "red", &len));
	ck_assert_ptr_null(shmq_msgview_prop(&v, "", &len));
	ck_assert_ptr_null(shmq_msgview_prop(&v, "missing", &len));
	ck_assert_ptr_null(shmq_msgview_prop(&v, NULL, &len));
	ck_assert_ptr_null(shmq_msgview_prop(NULL, "color", &len));
	free(r);
}
END_TEST

START_TEST(t_roundtrip_minimal)
{
	struct shmq_msgview v;
	struct shmq_msg m;
	struct shmq_enc e;
	struct shmq_rec *r;
	size_t len;

	shmq_msg_init(&m);
	m.topic = "t";
	r = encode(&m, "t", 0, &e);
	ck_assert_uint_eq(e.size, 88);
	shmq__msg_view(r, 1, &v);
	ck_assert(v.topic_len == 1 && v.topic[0] == 't');
	ck_assert_uint_eq(v.tags_len, 0);
	ck_assert_uint_eq(v.keys_len, 0);
	ck_assert_uint_eq(v.props_len, 0);
	ck_assert_uint_eq(v.body_len, 0);
	ck_assert_ptr_null(shmq_msgview_prop(&v, "x", &len));
	ck_assert_str_eq(v.msg_id, "00000000000000010000000000000000");
	ck_assert(shmq__rec_sane(r, 0, e.size, SEG));
	free(r);
}
END_TEST

START_TEST(t_roundtrip_large)
{
	const size_t n = 300000;
	unsigned char *body = malloc(n);
	struct shmq_msgview v;
	struct shmq_msg m;
	struct shmq_enc e;
	struct shmq_rec *r;
	size_t i;

	ck_assert_ptr_nonnull(body);
	for (i = 0; i < n; i++)
		body[i] = (unsigned char)(i * 131 + 7);
	shmq_msg_init(&m);
	m.topic = "big";
	m.body = body;
	m.body_len = n;
	r = encode(&m, "big", 8 * 1000, &e);
	shmq__msg_view(r, 9, &v);
	ck_assert_uint_eq(v.body_len, n);
	ck_assert(memcmp(v.body, body, n) == 0);
	ck_assert_uint_eq(r->crc, shmq__rec_crc(r, e.size));
	ck_assert(shmq__rec_sane(r, 8000, e.size, SEG));
	free(r);
	free(body);
}
END_TEST

/* ------------------------------------------------------------------ */
/* CRC and sanity                                                      */
/* ------------------------------------------------------------------ */

static struct shmq_rec *
sample(struct shmq_enc *e, size_t body_len)
{
	static char body[4096];
	static const struct shmq_prop p[] = { { "a", "b" } };
	struct shmq_msg m;

	memset(body, 'B', sizeof(body));
	shmq_msg_init(&m);
	m.topic = "topic";
	m.tags = "tag";
	m.keys = "key";
	m.props = p;
	m.nprops = 1;
	m.body = body;
	m.body_len = body_len;
	return encode(&m, "topic", 64, e);
}

START_TEST(t_crc_stored)
{
	struct shmq_enc e;
	struct shmq_rec *r;
	unsigned char *b;
	uint32_t c;
	size_t i;
	int missed = 0;

	r = sample(&e, 100);
	c = r->crc;
	ck_assert_uint_eq(c, shmq__rec_crc(r, e.size));
	/* Computed independently: CRC32C (isa-l convention, seed ~0) of
	 * bytes [SHMQ_REC_CRC_START, size). */
	ck_assert_uint_eq(c, crc32_iscsi((unsigned char *)r +
	    SHMQ_REC_CRC_START, (int)(e.size - SHMQ_REC_CRC_START),
	    0xffffffffu));
	/* size, magic and the crc field itself are outside it; every
	 * other byte, padding included, is inside. */
	b = (unsigned char *)r;
	for (i = 0; i < e.size; i++) {
		b[i] ^= 0x01;
		if ((shmq__rec_crc(r, e.size) != c) !=
		    (i >= SHMQ_REC_CRC_START))
			missed++;
		b[i] ^= 0x01;
	}
	ck_assert_int_eq(missed, 0);
	free(r);
	/* Records long enough for the isa-l path too. */
	r = sample(&e, 4000);
	ck_assert_uint_gt(e.size, 1024);
	ck_assert_uint_eq(r->crc, shmq__rec_crc(r, e.size));
	ck_assert_uint_eq(r->crc, crc32_iscsi((unsigned char *)r +
	    SHMQ_REC_CRC_START, (int)(e.size - SHMQ_REC_CRC_START),
	    0xffffffffu));
	free(r);
}
END_TEST

START_TEST(t_rec_sane)
{
	struct shmq_enc e;
	struct shmq_rec *r;
	uint32_t save;

	/* Body chosen so the record has no padding: 80 + 5 + 3 + 3 + 4 +
	 * 97 = 192.  Any length one more, or eight less, changes the
	 * rounded size (a few bytes less still fits: the CRC is what
	 * catches that). */
	r = sample(&e, 97);
	ck_assert_uint_eq(sizeof(*r) + e.topic_len + e.tags_len + e.keys_len +
	    e.props_len + e.body_len, e.size);
	ck_assert(shmq__rec_sane(r, 64, e.size, SEG));

	/* Wrong own offset. */
	ck_assert(!shmq__rec_sane(r, 72, e.size, SEG));
	ck_assert(!shmq__rec_sane(r, 0, e.size, SEG));
	/* Wrong magic: padding, aborted, garbage. */
	r->magic = SHMQ_PAD_MAGIC;
	ck_assert(!shmq__rec_sane(r, 64, e.size, SEG));
	r->magic = SHMQ_ABORT_MAGIC;
	ck_assert(!shmq__rec_sane(r, 64, e.size, SEG));
	r->magic = 0;
	ck_assert(!shmq__rec_sane(r, 64, e.size, SEG));
	r->magic = SHMQ_REC_MAGIC;
	ck_assert(shmq__rec_sane(r, 64, e.size, SEG));
	/* Size that disagrees with the lengths. */
	ck_assert(!shmq__rec_sane(r, 64, e.size + 8, SEG));
	ck_assert(!shmq__rec_sane(r, 64, e.size - 8, SEG));
	ck_assert(!shmq__rec_sane(r, 64, 0, SEG));
	/* Each length field, one more or one less. */
#define BUMP(f, d) do {							\
	save = r->f;							\
	r->f += (d);							\
	ck_assert_msg(!shmq__rec_sane(r, 64, e.size, SEG),		\
	    #f " %+d accepted", (int)(d));				\
	r->f = save;							\
} while (0)
	BUMP(topic_len, 1);
	BUMP(tags_len, 1);
	BUMP(keys_len, 1);
	BUMP(props_len, 1);
	BUMP(body_len, 1);
	BUMP(body_len, -8);
	BUMP(body_len, 8);
#undef BUMP
	/* Lengths that would wrap a 32-bit sum. */
	save = r->body_len;
	r->body_len = UINT32_MAX - 200;
	ck_assert(!shmq__rec_sane(r, 64, e.size, SEG));
	r->body_len = save;
	r->props_len = UINT32_MAX;
	ck_assert(!shmq__rec_sane(r, 64, e.size, SEG));
	r->props_len = 4;
	/* Larger than a segment. */
	ck_assert(shmq__rec_sane(r, 64, e.size, e.size));
	ck_assert(!shmq__rec_sane(r, 64, e.size, e.size - 8));
	free(r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Message ids                                                         */
/* ------------------------------------------------------------------ */

START_TEST(t_msgid)
{
	static const uint64_t vals[][2] = {
		{ 0, 0 }, { 1, 8 }, { 0x0123456789abcdefull, 0xfedcba9876543210ull },
		{ UINT64_MAX, UINT64_MAX }, { 0xa, 0xb0 },
	};
	char id[SHMQ_MSGID_LEN + 1];
	uint64_t s, o;
	size_t i, j;

	shmq__msg_id(0x0123456789abcdefull, 0xfedcba9876543210ull, id);
	ck_assert_str_eq(id, "0123456789ABCDEFFEDCBA9876543210");
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		memset(id, 'z', sizeof(id));
		shmq__msg_id(vals[i][0], vals[i][1], id);
		ck_assert_uint_eq(strlen(id), SHMQ_MSGID_LEN);
		for (j = 0; j < SHMQ_MSGID_LEN; j++)
			ck_assert((id[j] >= '0' && id[j] <= '9') ||
			    (id[j] >= 'A' && id[j] <= 'F'));
		s = o = 42;
		ck_assert_int_eq(shmq__msg_id_parse(id, &s, &o), 0);
		ck_assert_uint_eq(s, vals[i][0]);
		ck_assert_uint_eq(o, vals[i][1]);
	}
}
END_TEST

START_TEST(t_msgid_bad)
{
	static const char *const bad[] = {
		"",
		"0123456789ABCDEFFEDCBA987654321",	/* 31 */
		"0123456789ABCDEFFEDCBA98765432100",	/* 33 */
		"0123456789ABCDEGFEDCBA9876543210",	/* G */
		"0123456789ABCDEFFEDCBA987654321 ",
		" 123456789ABCDEFFEDCBA9876543210",
		"0x23456789ABCDEFFEDCBA9876543210",
		"-123456789ABCDEFFEDCBA9876543210",
		"0123456789ABCDEF:EDCBA9876543210",
		"0123456789ABCDEFFEDCBA987654321\n",
		"+123456789ABCDEFFEDCBA9876543210",
	};
	uint64_t s, o;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(shmq__msg_id_parse(bad[i], &s, &o) ==
		    SHMQ_EINVAL, "\"%s\" accepted", bad[i]);
	}
	ck_assert_int_eq(shmq__msg_id_parse(NULL, &s, &o), SHMQ_EINVAL);
	ck_assert_int_eq(shmq__msg_id_parse("0123456789ABCDEG"
	    "FEDCBA9876543210", &s, &o), SHMQ_EINVAL);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "0123456789ABCDEG"));
	/* An embedded NUL makes it short. */
	ck_assert_int_eq(shmq__msg_id_parse("0123456789ABCDEF\0EDCBA98765432"
	    "10", &s, &o), SHMQ_EINVAL);
}
END_TEST

static Suite *
msg_suite(void)
{
	Suite *s = suite_create("msg");
	TCase *tc;

	tc = tcase_create("measure");
	tcase_add_test(tc, t_measure_sizes);
	tcase_add_test(tc, t_measure_tags_keys);
	tcase_add_test(tc, t_measure_body);
	tcase_add_test(tc, t_measure_props);
	suite_add_tcase(s, tc);

	tc = tcase_create("roundtrip");
	tcase_add_test(tc, t_roundtrip_all_fields);
	tcase_add_test(tc, t_roundtrip_minimal);
	tcase_add_test(tc, t_roundtrip_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("record");
	tcase_add_test(tc, t_crc_stored);
	tcase_add_test(tc, t_rec_sane);
	suite_add_tcase(s, tc);

	tc = tcase_create("msgid");
	tcase_add_test(tc, t_msgid);
	tcase_add_test(tc, t_msgid_bad);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(msg_suite);
}
