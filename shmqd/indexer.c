/*
 * indexer.c - shmqd's key index thread (see indexer.h).
 *
 * The thread owns the newest index file's writable mapping; nothing else
 * writes the index.  Each pass walks [end, flushed_off) record by record
 * (as the flush's walk does; what lies below flushed_off is final, so a
 * gap found there is passed at once, looking for the next record at its
 * own offset with a good CRC, as recovery does), adds (topic#key, offset)
 * for each distinct key, and then commits: entries synced, then end_off.
 * A crash between the two re-indexes the records of the last pass on the
 * next start; the query drops duplicate offsets.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ck_pr.h>

#include "bus.h"
#include "commitlog.h"
#include "internal.h"
#include "keyindex.h"
#include "layout.h"
#include "msg.h"

#include "indexer.h"
#include "log.h"

#define PASS_MS		50	/* between passes */
#define RETRY_MS	1000	/* after an error */

static void
pause_ms(struct indexer *x, uint32_t ms)
{
	struct timespec ts = { 0, 10 * 1000000L };
	uint32_t slept;

	for (slept = 0; slept < ms && !ck_pr_load_8(&x->stop); slept += 10)
		nanosleep(&ts, NULL);
}

/* Entries per new file: SHMQ_KIDX_ENTRIES, or SHMQ_KEYINDEX_ENTRIES from
 * the environment (tests: small files that fill). */
static uint32_t
geometry(uint32_t *slots)
{
	const char *s = getenv("SHMQ_KEYINDEX_ENTRIES");
	unsigned long v;
	char *end;

	*slots = SHMQ_KIDX_SLOTS;
	if (s != NULL) {
		v = strtoul(s, &end, 10);
		if (*end == '\0' && v >= 16 && v <= SHMQ_KIDX_ENTRIES_MAX) {
			*slots = v < SHMQ_KIDX_SLOTS ? (uint32_t)v :
			    SHMQ_KIDX_SLOTS;
			return (uint32_t)v;
		}
	}
	return SHMQ_KIDX_ENTRIES;
}

/* Open the newest file, or make one: 0 and *K, or a code. */
static int
open_newest(struct indexer *x, struct shmq_kidx *k)
{
	uint64_t *names, start;
	uint32_t slots, entries;
	size_t n;
	int err;

	if ((err = shmq__kidx_list(x->bus, &names, &n)) < 0)
		return err;
	start = ck_pr_load_64(&x->bus->ctl->log_min_off);
	while (n > 0) {
		err = shmq__kidx_map(x->bus, names[n - 1], true, k);
		if (err == 0 && k->h->count >= 1 &&
		    k->h->count <= k->entries) {
			free(names);
			return 0;
		}
		if (err == 0)
			shmq__kidx_unmap(k);
		log_warn("indexer: key index file %020llu is damaged; "
		    "indexing again from before it",
		    (unsigned long long)names[n - 1]);
		/* Made again below from an earlier end, or at it. */
		start = names[n - 1];
		n--;
		if (n > 0 && shmq__kidx_map(x->bus, names[n - 1], false,
		    k) == 0) {
			start = k->h->end_off;
			shmq__kidx_unmap(k);
		}
		break;
	}
	free(names);
	entries = geometry(&slots);
	if ((err = shmq__kidx_create(x->bus, start, slots, entries, k)) < 0)
		return err;
	x->files++;
	return 0;
}

/*
 * Add HASH for the record at OFF to *K; when K is full, close it at END
 * (every record below is in it) and go on in a new one.  0, 1 if the
 * record alone fills a whole file (not added), or a code.
 */
static int
add_hash(struct indexer *x, struct shmq_kidx *k, uint32_t hash, uint64_t off,
    uint64_t end)
{
	uint32_t slots, entries;
	int err;

	while (shmq__kidx_add(k, hash, off) != 0) {
		if (k->name == end) {
			x->errors++;
			return 1;
		}
		if ((err = shmq__kidx_commit(k, end)) < 0)
			return err;
		shmq__kidx_unmap(k);
		entries = geometry(&slots);
		if ((err = shmq__kidx_create(x->bus, end, slots, entries,
		    k)) < 0)
			return err;
		x->files++;
	}
	return 0;
}

/*
 * Index the keys of record R at OFF into *K, and for a mirror's copy its
 * id at its home (SHMQ_KIDX_ORIGIN: shmq_query_id finds it by that id).
 */
static int
add_record(struct indexer *x, struct shmq_kidx *k, const struct shmq_rec *r,
    uint64_t off, uint64_t end)
{
	const char *topic = (const char *)(r + 1);
	const char *keys = topic + r->topic_len + r->tags_len;
	size_t len = r->keys_len, i = 0, j, p, q;
	char id[SHMQ_MSGID_LEN + 1];
	bool dup;
	int err;

	while (i < len) {
		while (i < len && keys[i] == ' ')
			i++;
		for (j = i; j < len && keys[j] != ' '; j++)
			;
		if (j == i)
			break;
		/* A key listed twice in one message is indexed once. */
		dup = false;
		for (p = 0; p < i && !dup; p = q + 1) {
			while (p < i && keys[p] == ' ')
				p++;
			for (q = p; q < i && keys[q] != ' '; q++)
				;
			dup = q > p && q - p == j - i &&
			    memcmp(keys + p, keys + i, j - i) == 0;
		}
		if (!dup) {
			/* A record that fills a whole file: its other keys
			 * go unindexed. */
			if ((err = add_hash(x, k, shmq__kidx_hash(topic,
			    r->topic_len, keys + i, j - i), off, end)) < 0)
				return err;
			if (err == 1)
				break;
			x->keys++;
		}
		i = j;
	}
	if ((r->flags & SHMQ_REC_F_ORIGIN) != 0) {
		shmq__rec_id(r, 0, id);
		if ((err = add_hash(x, k, shmq__kidx_hash(SHMQ_KIDX_ORIGIN,
		    strlen(SHMQ_KIDX_ORIGIN), id, SHMQ_MSGID_LEN), off,
		    end)) < 0)
			return err;
	}
	x->records++;
	return 0;
}

/* One pass: 0 or a code. */
static int
pass(struct indexer *x, struct shmq_kidx *k)
{
	struct shmq_bus *bus = x->bus;
	const uint64_t S = bus->segment_bytes;
	uint64_t pos, to, seg0, in, p, start;
	const struct shmq_rec *r, *c;
	const char *base;
	uint32_t size, magic;
	int err;

	to = ck_pr_load_64(&bus->ctl->flushed_off);
	/* Pairs with the flusher's publish: the records below TO are read
	 * after it. */
	ck_pr_fence_acquire();
	if (to > ck_pr_load_64(&bus->ctl->log_tail))
		to = ck_pr_load_64(&bus->ctl->log_tail);	/* untrusted */
	pos = start = k->h->end_off;
	if (pos < ck_pr_load_64(&bus->ctl->log_min_off))
		pos = ck_pr_load_64(&bus->ctl->log_min_off);
	if (pos >= to)
		return 0;
	while (pos < to) {
		seg0 = pos - pos % S;
		in = pos - seg0;
		if (in + sizeof(*r) > S) {
			pos = seg0 + S;
			continue;
		}
		if ((base = shmq__log_seg(bus, seg0 / S, false, &err)) == NULL)
			return err;
		r = (const struct shmq_rec *)(const void *)(base + in);
		size = ck_pr_load_32((uint32_t *)(uintptr_t)&r->size);
		magic = ck_pr_load_32((uint32_t *)(uintptr_t)&r->magic);
		if (size >= 8 && (size & 7) == 0 && in + size <= S &&
		    magic == SHMQ_PAD_MAGIC) {
			pos = seg0 + S;
			continue;
		}
		if (size >= sizeof(*r) && (size & 7) == 0 && in + size <= S &&
		    r->log_off == pos && (magic == SHMQ_ABORT_MAGIC ||
		    magic == SHMQ_REC_MAGIC)) {
			if (magic == SHMQ_REC_MAGIC && (r->keys_len > 0 ||
			    (r->flags & SHMQ_REC_F_ORIGIN) != 0) &&
			    shmq__log_record(bus, pos, size, true, &err) !=
			    NULL && (err = add_record(x, k, r, pos, pos)) < 0)
				return err;
			pos += size;
			continue;
		}
		/* A gap left by a dead writer (final below TO): the next
		 * record at its own offset, or the next segment. */
		for (p = in + 8; p + sizeof(*r) <= S && seg0 + p < to; p += 8) {
			c = (const struct shmq_rec *)(const void *)(base + p);
			if (c->log_off == seg0 + p && c->size >= sizeof(*c) &&
			    shmq__log_record(bus, seg0 + p, c->size, true,
			    &err) != NULL)
				break;
		}
		pos = p + sizeof(*r) <= S && seg0 + p < to ? seg0 + p :
		    seg0 + S;
	}
	if (pos > to)
		pos = to;
	return shmq__kidx_commit(k, pos);
}

static void *
run(void *arg)
{
	struct indexer *x = arg;
	struct shmq_kidx k;
	bool open = false, last = false;
	int r;

	memset(&k, 0, sizeof(k));
	for (;;) {
		if (ck_pr_load_8(&x->stop))
			last = true;	/* one more pass after the stop */
		if (!open) {
			if ((r = open_newest(x, &k)) < 0) {
				log_err("indexer: %s", shmq_errmsg());
				x->errors++;
				if (last)
					break;
				pause_ms(x, RETRY_MS);
				continue;
			}
			open = true;
			log_info("indexer: key index at %llu",
			    (unsigned long long)k.h->end_off);
		}
		if ((r = pass(x, &k)) < 0) {
			log_err("indexer: %s", shmq_errmsg());
			x->errors++;
			shmq__kidx_unmap(&k);
			open = false;
			if (last)
				break;
			pause_ms(x, RETRY_MS);
			continue;
		}
		if (last)
			break;
		pause_ms(x, PASS_MS);
	}
	if (open)
		shmq__kidx_unmap(&k);
	return NULL;
}

int
indexer_start(struct indexer *x, struct shmq_bus *bus)
{
	memset(x, 0, sizeof(*x));
	x->bus = bus;
	if (pthread_create(&x->th, NULL, run, x) != 0)
		return -1;
	x->running = true;
	return 0;
}

void
indexer_stop(struct indexer *x)
{
	if (!x->running)
		return;
	ck_pr_store_8(&x->stop, 1);
	pthread_join(x->th, NULL);
	x->running = false;
}
