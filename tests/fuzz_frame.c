/*
 * fuzz_frame.c - libFuzzer target for the federation wire format: the
 * input is a byte stream as a peer would send it.  It is decoded frame
 * after frame under the limit an authenticated link uses and the smaller
 * one before authentication, every frame's payload goes to its typed
 * decoder (and to every decoder, whatever its type), and the frames go
 * through a listener's handshake, as link.c would take them.  Nothing may
 * read out of bounds (AddressSanitizer) or misbehave (UBSan); a decoder
 * that accepts a payload must re-encode it to something it accepts again.
 *
 * Build: make fuzz.  Run: tests/fuzz_frame tests/fuzz/frame
 * -max_total_time=60.  With FUZZ_FRAME_SEEDS=DIR set, the program writes
 * the seed corpus (a few valid frames) into DIR instead.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmq/shmq.h>

#include "auth.h"
#include "frame.h"
#include "fwdframe.h"
#include "replframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct fed_route_entry entries[FED_PAYLOAD_DEF / FED_ROUTE_ENTRY_MIN];
static struct fed_repl_sub rsub;
static struct fed_repl_state rstate;
static struct fed_repl_ack rack;

/* The replication payloads (replframe.h): what decodes encodes back. */
static void
repl_payloads(const uint8_t *p, size_t n, int type, struct fed_wbuf *w)
{
	struct fed_repl_rec rec;
	struct fed_repl_goff goff;
	struct fed_rbuf rb;
	uint32_t k, i;

	if ((type < 0 || type == FED_T_REPL_SUBSCRIBE) &&
	    fed_repl_sub_decode(p, n, &rsub) == 0) {
		w->len = 0;
		if (fed_repl_sub_encode(w, &rsub) != 0 || w->len != n)
			abort();
	}
	if ((type < 0 || type == FED_T_REPL_STATE) &&
	    fed_repl_state_decode(p, n, &rstate) == 0) {
		w->len = 0;
		if (fed_repl_state_encode(w, &rstate) != 0 || w->len != n)
			abort();
	}
	if ((type < 0 || type == FED_T_REPL_ACK) &&
	    fed_repl_ack_decode(p, n, &rack) == 0) {
		w->len = 0;
		if (fed_repl_ack_encode(w, &rack) != 0 || w->len != n)
			abort();
	}
	if ((type < 0 || type == FED_T_REPL_DATA) &&
	    fed_repl_data_open(&rb, p, n, &k) == 0) {
		fed_repl_data_begin(w);
		for (i = 0; i < k; i++) {
			if (fed_repl_data_next(&rb, &rec) < 0)
				return;
			if (fed_repl_data_add(w, &rec) != 0)
				abort();
		}
		if (fed_rdone(&rb) == 0 && (w->len != n ||
		    memcmp(w->p, p, n) != 0))
			abort();
	}
	if ((type < 0 || type == FED_T_REPL_OFFSETS) &&
	    fed_repl_offsets_open(&rb, p, n, &k) == 0) {
		fed_repl_offsets_begin(w);
		for (i = 0; i < k; i++) {
			if (fed_repl_offsets_next(&rb, &goff) < 0)
				return;
			if (fed_repl_offsets_add(w, &goff) != 0)
				abort();
		}
		if (fed_rdone(&rb) == 0 && (fed_repl_offsets_end(w) != 0 ||
		    w->len != n || memcmp(w->p, p, n) != 0))
			abort();
	}
}

/* Remote send's payloads (fwdframe.h): what decodes encodes back to the
 * same bytes. */
static void
fwd_payloads(const uint8_t *p, size_t n, int type, struct fed_wbuf *w)
{
	struct fed_fwd_open o;
	struct fed_fwd_reject j;
	struct fed_fwd_rec rec;
	struct fed_rbuf rb;
	uint32_t k, i;

	if (n > w->cap)		/* a whole input, not one frame's payload */
		return;
	if ((type < 0 || type == FED_T_FWD_OPEN) &&
	    fed_fwd_open_decode(p, n, &o) == 0) {
		w->len = 0;
		if (fed_fwd_open_encode(w, &o) != 0 || w->len != n ||
		    memcmp(w->p, p, n) != 0)
			abort();
	}
	if ((type < 0 || type == FED_T_FWD_HELD) &&
	    fed_fwd_held_decode(p, n, &rack) == 0) {
		w->len = 0;
		if (fed_fwd_held_encode(w, &rack) != 0 || w->len != n ||
		    memcmp(w->p, p, n) != 0)
			abort();
	}
	if ((type < 0 || type == FED_T_FWD_REJECT) &&
	    fed_fwd_reject_decode(p, n, &j) == 0) {
		w->len = 0;
		if (fed_fwd_reject_encode(w, &j) != 0 || w->len != n ||
		    memcmp(w->p, p, n) != 0)
			abort();
	}
	if ((type < 0 || type == FED_T_REPL_FORWARD) &&
	    fed_fwd_data_open(&rb, p, n, &k) == 0) {
		fed_fwd_data_begin(w);
		for (i = 0; i < k; i++) {
			if (fed_fwd_data_next(&rb, &rec) < 0)
				return;
			if (fed_fwd_data_add(w, &rec) != 0)
				abort();
		}
		if (fed_rdone(&rb) == 0 && (w->len != n ||
		    memcmp(w->p, p, n) != 0))
			abort();
	}
}
static struct fed_route_answer answer;
static uint8_t out[FED_PAYLOAD_DEF];

static void
payloads(const uint8_t *p, size_t n, int type)
{
	struct fed_hello h;
	struct fed_auth a;
	struct fed_heartbeat hb;
	struct fed_route_reg r;
	struct fed_route_query q;
	struct fed_error e;
	struct fed_wbuf w = { out, 0, sizeof(out), false };
	size_t max = sizeof(entries) / sizeof(entries[0]);

	if ((type < 0 || type == FED_T_HELLO || type == FED_T_CHALLENGE) &&
	    fed_hello_decode(p, n, &h) == 0) {
		if (fed_hello_encode(&w, &h) != 0 ||
		    fed_hello_decode(w.p, w.len, &h) != 0)
			abort();
	}
	if ((type < 0 || type == FED_T_AUTH || type == FED_T_AUTH_OK))
		(void)fed_auth_decode(p, n, &a);
	if (type < 0 || type == FED_T_HEARTBEAT)
		(void)fed_heartbeat_decode(p, n, &hb);
	if ((type < 0 || type == FED_T_ROUTE_REGISTER) &&
	    fed_route_reg_decode(p, n, &r, entries, max) == 0) {
		w.len = 0;
		if (r.n > 0 && (fed_route_reg_encode(&w, &r) != (int)r.n ||
		    fed_route_reg_decode(w.p, w.len, &r, entries, max) != 0))
			abort();
	}
	if (type < 0 || type == FED_T_ROUTE_QUERY)
		(void)fed_route_query_decode(p, n, &q);
	repl_payloads(p, n, type, &w);
	fwd_payloads(p, n, type, &w);
	if ((type < 0 || type == FED_T_ROUTE_ANSWER) &&
	    fed_route_answer_decode(p, n, &answer) == 0) {
		w.len = 0;
		if (fed_route_answer_encode(&w, &answer) != 0)
			abort();
	}
	if (type < 0 || type == FED_T_ERROR)
		(void)fed_error_decode(p, n, &e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fed_secret secret = { "fuzzing-secret-0123", 19 };
	struct fed_hello me;
	struct fed_hs hs;
	struct fed_frame f;
	struct fed_wbuf w = { out, 0, sizeof(out), false };
	uint32_t limits[2] = { FED_PAYLOAD_DEF, 1024 };
	unsigned type;
	size_t off;
	int i, n;

	payloads(data, size, -1);
	memset(&me, 0, sizeof(me));
	me.host_id = 7;
	strcpy(me.host, "fuzz");
	for (i = 0; i < 2; i++) {
		if (i == 1 && fed_hs_start(&hs, false, &me, &secret, &w,
		    &type) < 0)
			return 0;
		for (off = 0; off < size; off += (size_t)n) {
			n = fed_frame_decode(data + off, size - off,
			    limits[i], &f);
			if (n <= 0)
				break;
			if ((size_t)n > size - off || f.length > limits[i] ||
			    f.payload + f.length > data + size)
				abort();
			payloads(f.payload, f.length, f.type);
			if (i == 1) {
				w.len = 0;
				if (fed_hs_input(&hs, &f, &w, &type) != 0)
					break;
			}
		}
	}
	return 0;
}

/* FUZZ_FRAME_SEEDS=DIR: write the seed corpus and exit. */
static void
seed(const char *dir, const char *name, unsigned type,
    const struct fed_wbuf *w)
{
	uint8_t hdr[FED_HDR_BYTES];
	char path[4096];
	FILE *fp;

	fed_frame_header(hdr, type, 1, w->p, (uint32_t)w->len);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "wb")) == NULL) {
		perror(path);
		exit(1);
	}
	fwrite(hdr, 1, sizeof(hdr), fp);
	fwrite(w->p, 1, w->len, fp);
	fclose(fp);
}

/* Remote send's: FWD_OPEN, FWD_HELD, a REPL_FORWARD of two records (a
 * queue choice with properties, a shard hash), FWD_REJECT. */
static void
fwd_seeds(const char *dir, struct fed_wbuf *w)
{
	static const char props[] = "FWD_TOPIC\1orders\2user\1x\2";
	struct fed_fwd_open o = { 0x5eed0001, 8 };
	struct fed_fwd_reject j = { 3, 41, SHMQ_ENOTOPIC, "no topic \"gone\"" };
	struct fed_fwd_rec r;

	w->len = 0;
	fed_fwd_open_encode(w, &o);
	seed(dir, "fwd-open", FED_T_FWD_OPEN, w);
	rack.n = 2;
	rack.queue[0] = 0;
	rack.next[0] = 17;
	rack.queue[1] = 5;
	rack.next[1] = 3;
	w->len = 0;
	fed_fwd_held_encode(w, &rack);
	seed(dir, "fwd-held", FED_T_FWD_HELD, w);
	memset(&r, 0, sizeof(r));
	r.oq = 3;
	r.ooff = 40;
	r.born_ns = 1700000000000000000ull;
	r.queue = 2;
	r.topic = (const uint8_t *)"orders";
	r.topic_len = 6;
	r.id = (const uint8_t *)"0A0B0C0D0E0F1011";
	r.id_len = 16;
	r.tags = (const uint8_t *)"new";
	r.tags_len = 3;
	r.keys = (const uint8_t *)"o-1";
	r.keys_len = 3;
	r.props = (const uint8_t *)props;
	r.props_len = sizeof(props) - 1;
	r.body = (const uint8_t *)"hello";
	r.body_len = 5;
	fed_fwd_data_begin(w);
	fed_fwd_data_add(w, &r);
	r.ooff = 41;
	r.queue = -1;
	r.has_shard = 1;
	r.shard = 0x123456789abcdefull;
	r.props_len = 0;
	fed_fwd_data_add(w, &r);
	seed(dir, "fwd-forward", FED_T_REPL_FORWARD, w);
	w->len = 0;
	fed_fwd_reject_encode(w, &j);
	seed(dir, "fwd-reject", FED_T_FWD_REJECT, w);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_FRAME_SEEDS");
	struct fed_wbuf w = { out, 0, sizeof(out), false };
	struct fed_hello h;
	struct fed_auth a;
	struct fed_heartbeat hb = { 1700000000000000000ull, 3, 1 };
	struct fed_route_entry e[2];
	struct fed_route_reg r;
	struct fed_route_query q = { 1, "orders" };
	struct fed_error er = { SHMQ_EAUTH, "authentication failed" };
	struct fed_repl_goff go[2] = {
		{ "billing", FED_GROUP_CLUSTERING, "", 1, 4242 },
		{ "audit", FED_GROUP_BROADCASTING, "node-1", 0, 17 },
	};

	(void)argc;
	(void)argv;
	if (dir == NULL)
		return 0;
	memset(&h, 0, sizeof(h));
	h.version_min = h.version_max = FED_VERSION;
	h.host_id = 0x1234;
	strcpy(h.host, "alpha");
	strcpy(h.listen, "127.0.0.1:9876");
	fed_hello_encode(&w, &h);
	seed(dir, "hello", FED_T_HELLO, &w);
	memset(h.nonce, 0xab, sizeof(h.nonce));
	w.len = 0;
	fed_hello_encode(&w, &h);
	seed(dir, "challenge", FED_T_CHALLENGE, &w);
	memset(&a, 0x5c, sizeof(a));
	w.len = 0;
	fed_auth_encode(&w, &a);
	seed(dir, "auth", FED_T_AUTH, &w);
	w.len = 0;
	fed_heartbeat_encode(&w, &hb);
	seed(dir, "heartbeat", FED_T_HEARTBEAT, &w);
	memset(e, 0, sizeof(e));
	strcpy(e[0].topic, "orders");
	e[0].queues = 4;
	e[0].flags = FED_ROUTE_HOME;
	strcpy(e[1].topic, "fills");
	e[1].queues = 1;
	r = (struct fed_route_reg){ 0x1234, 1, 2, 0, 2, e };
	w.len = 0;
	fed_route_reg_encode(&w, &r);
	seed(dir, "register", FED_T_ROUTE_REGISTER, &w);
	/* A promoted home (epoch 2) and a fenced copy (promotion). */
	e[0].epoch = 2;
	e[1].flags = FED_ROUTE_FENCED;
	w.len = 0;
	fed_route_reg_encode(&w, &r);
	seed(dir, "register_epoch", FED_T_ROUTE_REGISTER, &w);
	w.len = 0;
	fed_route_query_encode(&w, &q);
	seed(dir, "query", FED_T_ROUTE_QUERY, &w);
	w.len = 0;
	fed_error_encode(&w, &er);
	seed(dir, "error", FED_T_ERROR, &w);
	fed_repl_offsets_begin(&w);
	fed_repl_offsets_add(&w, &go[0]);
	fed_repl_offsets_add(&w, &go[1]);
	seed(dir, "offsets", FED_T_REPL_OFFSETS, &w);
	fwd_seeds(dir, &w);
	exit(0);
}
