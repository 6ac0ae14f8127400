/*
 * query.c - finding stored messages without a consumer: by message id
 * (direct) and by store-time range over one topic.
 *
 * By id.  A message id is the store id and the record's commitlog offset
 * (msg.h), so a lookup reads one record header, takes the record's size
 * from it and checks the whole record as a consumer would
 * (shmq__log_record: bounds, header, own offset, CRC).  The id comes from a
 * user, so nothing in it is trusted: the offset is bounds-checked against
 * [log_min_off, log_tail) and the segment before the header is read, and
 * the size is the record's own, checked again by shmq__log_record.  An
 * offset where no committed message starts (padding, an aborted
 * reservation, one still being written, the middle of a record) is
 * SHMQ_ENOENT; a record that claims to be a message but fails its checks
 * is SHMQ_ECORRUPT.
 *
 * By time.  Each queue of the topic is searched for the first entry stored
 * at or after FROM (shmq__cq_seek_time, a binary search over the index),
 * then walked in offset order up to the first committed entry stored at or
 * after TO, or the tail read when the queue was reached.  Holes and claims
 * not yet committed are passed (a claim may commit after the walk: the
 * query is a snapshot).  Store times of concurrent producers on one queue
 * may be a few microseconds out of order, so an entry below FROM met on
 * the way is skipped rather than ending anything.
 *
 * By key.  shmqd's indexer (shmqd/indexer.c) keeps a persistent hash
 * index of topic#key -> log offset (keyindex.h).  The files are walked
 * newest first, each bucket's chain newest first; every candidate is read
 * as by id (bounds, header, CRC) and returned only if its topic and keys
 * really hold the key: hash collisions, entries of a damaged file and
 * offsets indexed twice (a crash before the index's end was stored) are
 * filtered.  Only what the indexer has reached is found.
 *
 * Readers only: nothing here writes to the control region or the store but
 * the shared count of corrupt records met.  Views point into the mapped
 * log and live as long as this process's mapping of the segment, which is
 * until the bus is closed (no retention yet).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commitlog.h"
#include "consumequeue.h"
#include "internal.h"
#include "keyindex.h"
#include "layout.h"
#include "msg.h"
#include "topic.h"

/*
 * The committed message at OFF, checked (the id path): 0 and *OUT,
 * SHMQ_ENOENT, SHMQ_ECORRUPT.  WHAT names the lookup in the detail.
 */
static int
read_at(struct shmq_bus *bus, uint64_t off, const char *what,
    struct shmq_msgview *out)
{
	const uint64_t S = bus->segment_bytes;
	const struct shmq_rec *r;
	uint64_t min, tail;
	uint32_t size, magic;
	char *base;
	int err;

	min = ck_pr_load_64(&bus->ctl->log_min_off);
	tail = ck_pr_load_64(&bus->ctl->log_tail);
	if (off < min)
		return SHMQ_ERR(SHMQ_ERECLAIMED, "%s: offset %llu was "
		    "reclaimed (the log starts at %llu)", what,
		    (unsigned long long)off, (unsigned long long)min);
	if (off >= tail || tail - off < sizeof(*r))
		return SHMQ_ERR(SHMQ_ENOENT, "%s: offset %llu is "
		    "beyond the log tail (%llu)", what,
		    (unsigned long long)off, (unsigned long long)tail);
	/* Records are 8-aligned and never cross a segment end. */
	if ((off & 7) != 0 || off % S + sizeof(*r) > S)
		return SHMQ_ERR(SHMQ_ENOENT, "%s: no message starts "
		    "at offset %llu", what, (unsigned long long)off);
	if ((base = shmq__log_seg(bus, off / S, false, &err)) == NULL) {
		SHMQ_ERR_PREFIX("%s", what);
		return err;
	}
	r = (const struct shmq_rec *)(base + off % S);
	size = ck_pr_load_32((uint32_t *)(uintptr_t)&r->size);
	/* Pairs with the release store of size by the writer (producer.c)
	 * or of the padding's size (commitlog.c): magic after size. */
	ck_pr_fence_acquire();
	magic = ck_pr_load_32((uint32_t *)(uintptr_t)&r->magic);
	if (size == 0)
		return SHMQ_ERR(SHMQ_ENOENT, "%s: the message at "
		    "offset %llu is not committed", what,
		    (unsigned long long)off);
	if (magic == SHMQ_ABORT_MAGIC)
		return SHMQ_ERR(SHMQ_ENOENT, "%s: the send at offset "
		    "%llu was abandoned before it committed", what,
		    (unsigned long long)off);
	if (magic != SHMQ_REC_MAGIC)
		return SHMQ_ERR(SHMQ_ENOENT, "%s: no message starts "
		    "at offset %llu", what, (unsigned long long)off);
	if ((r = shmq__log_record(bus, off, size, true, &err)) == NULL) {
		ck_pr_inc_64(&bus->ctl->corrupt);
		SHMQ_ERR_PREFIX("%s", what);
		return err;
	}
	shmq__msg_view(r, bus->store_id, out);
	return 0;
}

/* Offsets already returned by a key query (an offset indexed twice). */
struct seen {
	uint64_t	*v;
	size_t		 n, cap;
};

static int
seen_add(struct seen *s, uint64_t off)
{
	uint64_t *nv;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i] == off)
			return 1;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		if ((nv = reallocarray(s->v, s->cap, sizeof(*nv))) == NULL)
			return SHMQ_ERR(SHMQ_ENOMEM, "key query");
		s->v = nv;
	}
	s->v[s->n++] = off;
	return 0;
}

/* What a key query looks for: records of TOPIC that list KEY. */
struct want_key {
	const char	*topic;
	size_t		 tlen;
	const char	*key;
	size_t		 klen;
};

static bool
match_key(const struct shmq_msgview *v, const void *arg)
{
	const struct want_key *w = arg;

	return v->topic_len == w->tlen &&
	    memcmp(v->topic, w->topic, w->tlen) == 0 &&
	    shmq__kidx_has_key(v->keys, v->keys_len, w->key, w->klen);
}

/* A mirror's copy of the message whose id at its home is ARG. */
static bool
match_origin(const struct shmq_msgview *v, const void *arg)
{
	return strcmp(v->msg_id, arg) == 0;
}

/* Walk HASH's chain in file K, newest first: CB for each record MATCH
 * accepts, once per offset. */
static int
query_file(struct shmq_bus *bus, const struct shmq_kidx *k, uint32_t hash,
    bool (*match)(const struct shmq_msgview *v, const void *arg),
    const void *marg, size_t max, struct seen *seen,
    int (*cb)(void *arg, const struct shmq_msgview *v), void *arg,
    int *bad)
{
	const struct shmq_kidx_entry *e;
	struct shmq_msgview v;
	uint32_t i, prev;
	uint64_t off;
	int rc;

	i = ck_pr_load_32(&k->slot[hash % k->slots]);
	/* Pairs with the indexer's fence before its store of the slot:
	 * the entry is read after (keyindex.c). */
	ck_pr_fence_acquire();
	while (i != 0 && i < k->entries && (max == 0 || seen->n < max)) {
		e = &k->ent[i];
		prev = ck_pr_load_32(&e->prev);
		off = ck_pr_load_64(&e->log_off);
		rc = ck_pr_load_32(&e->hash) != hash ? SHMQ_ENOENT :
		    read_at(bus, off, "key index", &v);
		if (rc == SHMQ_ECORRUPT)
			*bad = rc;
		if (rc == 0 && match(&v, marg)) {
			if ((rc = seen_add(seen, off)) < 0)
				return rc;
			if (rc == 0 && (rc = cb(arg, &v)) != 0)
				return rc;
		}
		/* Chains go strictly down: a loop in a damaged file ends. */
		if (prev >= i)
			break;
		i = prev;
	}
	return 0;
}

/* Every index file, newest first, as query_file; *BAD set if one is
 * damaged (the others still answer). */
static int
query_index(struct shmq_bus *bus, uint32_t hash,
    bool (*match)(const struct shmq_msgview *v, const void *arg),
    const void *marg, size_t max, struct seen *seen,
    int (*cb)(void *arg, const struct shmq_msgview *v), void *arg,
    int *bad)
{
	struct shmq_kidx k;
	uint64_t *names;
	size_t n, i;
	int err, rc = 0;

	if ((err = shmq__kidx_list(bus, &names, &n)) < 0)
		return err;
	for (i = n; i > 0 && rc == 0 && (max == 0 || seen->n < max); i--) {
		if (shmq__kidx_map(bus, names[i - 1], false, &k) < 0) {
			*bad = SHMQ_ECORRUPT;
			continue;
		}
		rc = query_file(bus, &k, hash, match, marg, max, seen, cb, arg,
		    bad);
		shmq__kidx_unmap(&k);
	}
	free(names);
	return rc;
}

/* Keep the first record found. */
static int
keep_first(void *arg, const struct shmq_msgview *v)
{
	*(struct shmq_msgview *)arg = *v;
	return 1;
}

/*
 * A message id of another store: a mirror holds the copies of its home's
 * messages under their home ids, and shmqd's indexer indexes them by that
 * id (shmqd/indexer.c, SHMQ_KIDX_ORIGIN).
 */
static int
query_origin(struct shmq_bus *bus, const char *msg_id, uint64_t sid,
    uint64_t off, struct shmq_msgview *out)
{
	struct seen seen = { NULL, 0, 0 };
	char id[SHMQ_MSGID_LEN + 1];
	int rc, bad = 0;

	shmq__msg_id(sid, off, id);	/* as records give it */
	rc = query_index(bus, shmq__kidx_hash(SHMQ_KIDX_ORIGIN,
	    strlen(SHMQ_KIDX_ORIGIN), id, SHMQ_MSGID_LEN), match_origin, id,
	    1, &seen, keep_first, out, &bad);
	free(seen.v);
	if (rc == 1)
		return 0;
	if (rc < 0)
		return rc;
	return SHMQ_ERR(bad != 0 ? SHMQ_ECORRUPT : SHMQ_ENOENT,
	    "message id %s: from another store (store id %016llX; this "
	    "bus's is %016llX), and no mirrored copy of it is indexed here%s",
	    msg_id, (unsigned long long)sid,
	    (unsigned long long)bus->store_id, bad != 0 ? " (a key index "
	    "file is damaged)" : " (shmqd indexes a mirror's messages "
	    "shortly after they are flushed)");
}

int
shmq_query_id(struct shmq_bus *bus, const char *msg_id,
    struct shmq_msgview *out)
{
	char what[64];
	uint64_t sid, off;
	int err;

	if (bus == NULL || out == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "query: bad arguments");
	if ((err = shmq__msg_id_parse(msg_id, &sid, &off)) < 0)
		return err;
	if (sid != bus->store_id)
		return query_origin(bus, msg_id, sid, off, out);
	snprintf(what, sizeof(what), "message id %s", msg_id);
	return read_at(bus, off, what, out);
}

int
shmq_query_key(struct shmq_bus *bus, const char *topic, const char *key,
    size_t max, int (*cb)(void *arg, const struct shmq_msgview *v),
    void *arg)
{
	struct seen seen = { NULL, 0, 0 };
	struct want_key w;
	struct shmq_topic *t;
	int err, rc, bad = 0;

	if (bus == NULL || topic == NULL || key == NULL || cb == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "query: bad arguments");
	if (key[0] == '\0' || strchr(key, ' ') != NULL ||
	    strlen(key) > SHMQ_KEYS_MAX)
		return SHMQ_ERR(SHMQ_EINVAL, "query: key \"%s\": empty, too "
		    "long or with a space", key);
	if ((err = shmq__topic_get(bus, topic, false, 0, &t)) < 0)
		return err;
	w.topic = topic;
	w.tlen = strlen(topic);
	w.key = key;
	w.klen = strlen(key);
	rc = query_index(bus, shmq__kidx_hash(topic, w.tlen, key, w.klen),
	    match_key, &w, max, &seen, cb, arg, &bad);
	free(seen.v);
	if (rc != 0)
		return rc;
	if (bad != 0)
		return SHMQ_ERR(SHMQ_ECORRUPT, "key \"%s\" of topic \"%s\": "
		    "a key index file or a record it names is damaged (the "
		    "others were returned)", key, topic);
	return 0;
}

/* ms to ns, saturating: TO_MS may be "forever". */
static uint64_t
ms_to_ns(uint64_t ms)
{
	return ms > UINT64_MAX / 1000000 ? UINT64_MAX : ms * 1000000;
}

int
shmq_query_time(struct shmq_bus *bus, const char *topic, uint64_t from_ms,
    uint64_t to_ms, int (*cb)(void *arg, const struct shmq_msgview *v),
    void *arg)
{
	const uint64_t from = ms_to_ns(from_ms), to = ms_to_ns(to_ms);
	struct shmq_cq_entry *e;
	const struct shmq_rec *r;
	struct shmq_msgview v;
	struct shmq_topic *t;
	struct shmq_cq *cq;
	uint64_t off, tail, ns, bad_off = 0, bad_log = 0;
	uint32_t q, bad_q = 0, bad_size = 0;
	int err, rc, bad = 0;

	if (bus == NULL || topic == NULL || cb == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "query: bad arguments");
	if (from_ms > to_ms)
		return SHMQ_ERR(SHMQ_EINVAL, "query: the range ends (%llu ms) "
		    "before it starts (%llu ms)", (unsigned long long)to_ms,
		    (unsigned long long)from_ms);
	if ((err = shmq__topic_get(bus, topic, false, 0, &t)) < 0)
		return err;
	if (from == to)
		return 0;
	for (q = 0; q < t->queues; q++) {
		cq = &t->cq[q];
		tail = shmq__cq_tail(cq);
		for (off = shmq__cq_seek_time(bus, t, cq, from); off < tail;
		    off++) {
			e = shmq__cq_entry(bus, t, cq, off, false, &err);
			if (e == NULL && err == SHMQ_ERECLAIMED) {
				/* Retention moved the queue's start. */
				off = ck_pr_load_64(&cq->qc->min_off) - 1;
				continue;
			}
			if (e == NULL) {
				if (err < 0)
					return err;
				break;	/* index file not made yet */
			}
			if (shmq__cq_state(e) != SHMQ_CQ_COMMITTED)
				continue;
			ns = ck_pr_load_64(&e->store_ns);
			if (ns >= to)
				break;
			if (ns < from)
				continue;
			r = shmq__log_record(bus, ck_pr_load_64(&e->log_off),
			    ck_pr_load_32(&e->size), true, &err);
			if (r == NULL && err == SHMQ_ERECLAIMED)
				continue;	/* retention took it */
			if (r == NULL) {
				ck_pr_inc_64(&bus->ctl->corrupt);
				if (bad == 0) {
					bad = err;
					bad_q = q;
					bad_off = off;
					bad_log = ck_pr_load_64(&e->log_off);
					bad_size = ck_pr_load_32(&e->size);
				}
				continue;
			}
			shmq__msg_view(r, bus->store_id, &v);
			if ((rc = cb(arg, &v)) != 0)
				return rc;
		}
	}
	if (bad == 0)
		return 0;
	/* The callbacks may have replaced the detail: make it again. */
	if (shmq__log_record(bus, bad_log, bad_size, true, &err) != NULL)
		err = SHMQ_ERR(bad, "record at %llu",
		    (unsigned long long)bad_log);
	SHMQ_ERR_PREFIX("topic \"%s\" queue %u offset %llu", t->name, bad_q,
	    (unsigned long long)bad_off);
	return err;
}
