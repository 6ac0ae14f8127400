/*
 * body.c - verifiable message bodies; see body.h.
 */
#include "config.h"

#include <string.h>

#include "body.h"
#include "testutil.h"

static uint32_t
hdr_sum(const struct body_hdr *h)
{
	return (uint32_t)tu_mix64(h->magic ^ ((uint64_t)h->prod << 32) ^
	    tu_mix64(h->seq) ^ tu_mix64(h->t_ns + h->len));
}

void
body_fill(void *buf, size_t len, uint32_t prod, uint64_t seq, uint64_t t_ns)
{
	struct body_hdr h;
	unsigned char *p = buf;
	uint64_t key = tu_mix64(((uint64_t)prod << 40) ^ seq), w;
	size_t i, n;

	h.magic = BODY_MAGIC;
	h.prod = prod;
	h.seq = seq;
	h.t_ns = t_ns;
	h.len = (uint32_t)len;
	h.sum = 0;
	h.sum = hdr_sum(&h);
	memcpy(p, &h, sizeof(h));
	for (i = BODY_HDR; i < len; i += 8) {
		w = tu_mix64(key + i);
		n = len - i < 8 ? len - i : 8;
		memcpy(p + i, &w, n);
	}
}

int
body_check(const void *buf, size_t len, struct body_hdr *h)
{
	const unsigned char *p = buf;
	uint64_t key, w;
	uint32_t sum;
	size_t i, n;

	if (buf == NULL || len < BODY_HDR)
		return -1;
	memcpy(h, p, sizeof(*h));
	if (h->magic != BODY_MAGIC || h->len != len)
		return -1;
	sum = h->sum;
	h->sum = 0;
	if (hdr_sum(h) != sum)
		return -1;
	h->sum = sum;
	key = tu_mix64(((uint64_t)h->prod << 40) ^ h->seq);
	for (i = BODY_HDR; i < len; i += 8) {
		w = tu_mix64(key + i);
		n = len - i < 8 ? len - i : 8;
		if (memcmp(p + i, &w, n) != 0)
			return -1;
	}
	return 0;
}

size_t
body_pick_len(uint32_t prod, uint64_t seq, size_t max)
{
	return BODY_HDR + tu_mix64(((uint64_t)prod << 48) ^ seq) %
	    (max - BODY_HDR + 1);
}

const char *
body_exit_name(int code)
{
	switch (code) {
	case E_SETUP:	return "setup failed";
	case E_SEND:	return "send failed";
	case E_SENDRES:	return "bad send result";
	case E_POLL:	return "poll error";
	case E_TORN:	return "torn or corrupt body";
	case E_BADID:	return "producer/seq out of range";
	case E_DUP:	return "duplicate";
	case E_ORDER:	return "order broken within a queue";
	case E_OFFSET:	return "queue offsets wrong";
	case E_QUEUE:	return "message in the wrong queue";
	default:	return tu_exit_name(code);
	}
}
