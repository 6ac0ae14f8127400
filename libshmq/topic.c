/*
 * topic.c - topics (see topic.h).
 *
 * In the control region a topic is a struct shmq_topic_ctl in a chunk of
 * SHMQ_TOPIC_CHUNK, found by id through the directory at topic_dir_off, plus
 * an array of struct shmq_queue_ctl.  Names are found through an
 * open-addressing hash of ids; it is only ever added to, and when it fills
 * up a table twice the size is built beside it and published with release
 * ordering, so readers never lock: one that misses in an old table retries
 * under the admin lock.
 *
 * In the store a topic is consumequeue/<name>/ with one directory per queue
 * and a "meta" file, written after the queue directories exist.
 *
 * A topic's queue count only grows (topicadmin.c).  The control blocks of
 * the first queues are the array at queue_off; once grown, the directory
 * at qdir_off names every queue's block, and no block ever moves (producers
 * write them without a lock).  A deleted topic keeps its id and blocks
 * (ids are never reused, live views stay valid) but has SHMQ_TOPIC_F_DELETED
 * and is skipped by the name hash.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumequeue.h"
#include "internal.h"
#include "region.h"
#include "promote.h"
#include "topic.h"

struct shmq_topic_ctl *
shmq__topic_ctl(struct shmq_bus *bus, uint32_t id)
{
	uint64_t *dir, coff;
	struct shmq_topic_ctl *chunk;

	if (id >= SHMQ_MAX_TOPICS)
		return NULL;
	dir = shmq__ctl_ptr(bus, bus->ctl->topic_dir_off,
	    SHMQ_TOPIC_CHUNKS * sizeof(uint64_t));
	if (dir == NULL)
		return NULL;
	coff = ck_pr_load_64(&dir[id / SHMQ_TOPIC_CHUNK]);
	chunk = shmq__ctl_ptr(bus, coff,
	    SHMQ_TOPIC_CHUNK * sizeof(struct shmq_topic_ctl));
	if (chunk == NULL)
		return NULL;
	return &chunk[id % SHMQ_TOPIC_CHUNK];
}

static struct shmq_topic_hash *
topic_hash(struct shmq_bus *bus)
{
	uint64_t off = ck_pr_load_64(&bus->ctl->topic_hash_off);
	struct shmq_topic_hash *h;

	/* Pairs with the release in hash_insert/hash_grow. */
	ck_pr_fence_load();
	h = shmq__ctl_ptr(bus, off, sizeof(*h));
	if (h == NULL || h->cap == 0 || (h->cap & (h->cap - 1)) != 0 ||
	    shmq__ctl_ptr(bus, off, sizeof(*h) +
	    (uint64_t)h->cap * sizeof(uint32_t)) == NULL)
		return NULL;
	return h;
}

/* Lock-free lookup of NAME: the topic id, or -1. */
static int64_t
hash_find(struct shmq_bus *bus, const char *name, uint64_t hv)
{
	struct shmq_topic_hash *h = topic_hash(bus);
	uint32_t i, n, cap;

	if (h == NULL)
		return -1;
	cap = h->cap;
	for (n = 0, i = (uint32_t)hv & (cap - 1); n < cap;
	    n++, i = (i + 1) & (cap - 1)) {
		uint32_t v = ck_pr_load_32(&h->slot[i]);
		struct shmq_topic_ctl *tc;

		if (v == 0)
			return -1;
		tc = shmq__topic_ctl(bus, v - 1);
		if (tc == NULL || ck_pr_load_32(&tc->ready) != 1)
			continue;
		ck_pr_fence_load();
		if (tc->name_hash == hv && strncmp(tc->name, name,
		    sizeof(tc->name)) == 0 && (ck_pr_load_32(&tc->flags) &
		    SHMQ_TOPIC_F_DELETED) == 0)
			return v - 1;
	}
	return -1;
}

static void
hash_put(struct shmq_topic_hash *h, uint64_t hv, uint32_t id)
{
	uint32_t i = (uint32_t)hv & (h->cap - 1);

	while (h->slot[i] != 0)
		i = (i + 1) & (h->cap - 1);
	ck_pr_store_32(&h->slot[i], id + 1);
	h->used++;
}

/* Add ID to the name hash, growing it first if half full. Admin lock. */
static int
hash_insert(struct shmq_bus *bus, uint64_t hv, uint32_t id)
{
	struct shmq_topic_hash *h = topic_hash(bus), *nh;
	uint32_t cap, i;
	uint64_t off;
	int err;

	if (h != NULL && (h->used + 1) * 2 <= h->cap) {
		hash_put(h, hv, id);
		return 0;
	}
	cap = h != NULL ? h->cap * 2 : 1024;
	off = shmq__ctl_alloc(bus, sizeof(*nh) + (uint64_t)cap *
	    sizeof(uint32_t), &err);
	if (off == 0)
		return err;
	nh = shmq__ctl_ptr(bus, off, sizeof(*nh));
	nh->cap = cap;
	nh->used = 0;
	for (i = 0; i < bus->ctl->ntopics; i++) {
		struct shmq_topic_ctl *tc = shmq__topic_ctl(bus, i);

		if (tc != NULL && tc->ready == 1 &&
		    (tc->flags & SHMQ_TOPIC_F_DELETED) == 0)
			hash_put(nh, tc->name_hash, i);
	}
	hash_put(nh, hv, id);
	/* Release: the full table before readers can find it. */
	ck_pr_fence_store();
	ck_pr_store_64(&bus->ctl->topic_hash_off, off);
	return 0;
}

/* Make topic NAME in the control region. Admin lock held. */
static int
ctl_add(struct shmq_bus *bus, const char *name, uint64_t hv,
    unsigned queues, uint32_t *idp)
{
	struct shmq_ctl *ctl = bus->ctl;
	struct shmq_topic_ctl *tc;
	uint64_t *dir, qoff;
	uint32_t id = ctl->ntopics;
	int err;

	if (id >= SHMQ_MAX_TOPICS)
		return SHMQ_ERR(SHMQ_ELIMIT, "bus \"%s\": %u topics",
		    bus->name, id);
	dir = shmq__ctl_ptr(bus, ctl->topic_dir_off,
	    SHMQ_TOPIC_CHUNKS * sizeof(uint64_t));
	if (dir[id / SHMQ_TOPIC_CHUNK] == 0) {
		uint64_t off = shmq__ctl_alloc(bus, SHMQ_TOPIC_CHUNK *
		    sizeof(struct shmq_topic_ctl), &err);

		if (off == 0)
			return err;
		ck_pr_store_64(&dir[id / SHMQ_TOPIC_CHUNK], off);
	}
	qoff = shmq__ctl_alloc(bus, (uint64_t)queues *
	    sizeof(struct shmq_queue_ctl), &err);
	if (qoff == 0)
		return err;
	tc = shmq__topic_ctl(bus, id);
	memset(tc, 0, sizeof(*tc));
	strlcpy(tc->name, name, sizeof(tc->name));
	tc->name_hash = hv;
	tc->queue_off = qoff;
	tc->created_ns = shmq__real_ns();
	tc->id = id;
	tc->queues = queues;
	ck_ec64_init(&tc->ec, 0);
	/* Release: the block is complete before it is ready, and ready
	 * before the count and the hash make it reachable. */
	ck_pr_fence_store();
	ck_pr_store_32(&tc->ready, 1);
	ck_pr_fence_store();
	ck_pr_store_32(&ctl->ntopics, id + 1);
	if ((err = hash_insert(bus, hv, id)) < 0)
		return err;
	*idp = id;
	return 0;
}

int
shmq__queue_dir(const struct shmq_bus *bus, const char *topic, uint32_t q,
    char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/consumequeue/%s/%u", bus->path,
	    topic, q) >= len)
		return SHMQ_ERR(SHMQ_EINVAL, "path too long");
	return 0;
}

int
shmq__topic_meta_write(struct shmq_bus *bus, const char *name,
    unsigned queues, uint32_t flags, uint64_t retention_ms, bool sync)
{
	char path[PATH_MAX], meta[128];
	int n;

	if ((size_t)snprintf(path, sizeof(path), "%s/consumequeue/%s/meta",
	    bus->path, name) >= sizeof(path))
		return SHMQ_ERR(SHMQ_EINVAL, "path too long");
	/* "queues=" first: what older versions read.  The rest only when
	 * set, so that a plain topic's file stays as it always was. */
	n = snprintf(meta, sizeof(meta), "queues=%u\n", queues);
	if ((flags & (SHMQ_TOPIC_F_NOWRITE | SHMQ_TOPIC_F_NOREAD)) != 0)
		n += snprintf(meta + n, sizeof(meta) - (size_t)n, "perm=%u\n",
		    ((flags & SHMQ_TOPIC_F_NOWRITE) ? 0 : SHMQ_PERM_WRITE) |
		    ((flags & SHMQ_TOPIC_F_NOREAD) ? 0 : SHMQ_PERM_READ));
	if (retention_ms != 0)
		n += snprintf(meta + n, sizeof(meta) - (size_t)n,
		    "retention_ms=%llu\n", (unsigned long long)retention_ms);
	if (flags & SHMQ_TOPIC_F_MIRROR)
		n += snprintf(meta + n, sizeof(meta) - (size_t)n, "mirror=1\n");
	return shmq__file_replace(path, meta, (size_t)n, &bus->perm, sync);
}

int
shmq__topic_meta_read(const char *dir, unsigned *queues, uint32_t *flags,
    uint64_t *retention_ms)
{
	char path[PATH_MAX], buf[256], *line, *save;
	unsigned long long v;
	uint32_t mirror = 0;
	unsigned u;
	ssize_t n;

	*queues = 0;
	*flags = 0;
	*retention_ms = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/meta", dir) >=
	    sizeof(path))
		return -1;
	if ((n = shmq__file_read(path, buf, sizeof(buf) - 1)) <= 0)
		return -1;
	buf[n] = '\0';
	/* Unknown or bad lines are ignored: the defaults are safe. */
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "queues=%u", &u) == 1 && u >= 1 &&
		    u <= SHMQ_MAX_QUEUES)
			*queues = u;
		else if (sscanf(line, "perm=%u", &u) == 1 &&
		    (u & ~SHMQ_PERM_RW) == 0)
			*flags = ((u & SHMQ_PERM_WRITE) ? 0 :
			    SHMQ_TOPIC_F_NOWRITE) | ((u & SHMQ_PERM_READ) ? 0 :
			    SHMQ_TOPIC_F_NOREAD);
		else if (sscanf(line, "retention_ms=%llu", &v) == 1)
			*retention_ms = v;
		else if (strcmp(line, "mirror=1") == 0)
			mirror = SHMQ_TOPIC_F_MIRROR | SHMQ_TOPIC_F_NOWRITE;
	}
	/* A mirror is never writable by local producers, whatever a perm
	 * line says. */
	*flags |= mirror;
	return *queues > 0 ? 0 : -1;
}

/* Make the topic's directories and meta file in the store. */
static int
store_add(struct shmq_bus *bus, const char *name, unsigned queues)
{
	char path[PATH_MAX];
	unsigned q;
	int err;

	for (q = 0; q < queues; q++) {
		if ((err = shmq__queue_dir(bus, name, q, path,
		    sizeof(path))) < 0 ||
		    (err = shmq__mkdir_p(path, &bus->perm)) < 0)
			return err;
	}
	/* No fsync: recovery counts the queue directories when a machine
	 * crash loses the file, and a bus may make thousands of topics. */
	return shmq__topic_meta_write(bus, name, queues, 0, 0, false);
}

/* An array of cq views a grown view replaced (freed at bus close). */
struct shmq_cq_old {
	struct shmq_cq		*cq;
	uint32_t		 queues;
	struct shmq_cq_old	*next;
};

struct shmq_queue_ctl *
shmq__topic_queue_ctl(struct shmq_bus *bus, struct shmq_topic_ctl *tc,
    uint32_t q)
{
	uint64_t dir_off = ck_pr_load_64(&tc->qdir_off), *dir;

	/* Pairs with the release in topicadmin.c: the directory is full
	 * before its offset is seen. */
	ck_pr_fence_load();
	if (q >= SHMQ_MAX_QUEUES)
		return NULL;
	if (dir_off == 0)
		return shmq__ctl_ptr(bus, tc->queue_off + (uint64_t)q *
		    sizeof(struct shmq_queue_ctl),
		    sizeof(struct shmq_queue_ctl));
	dir = shmq__ctl_ptr(bus, dir_off, SHMQ_MAX_QUEUES * sizeof(*dir));
	if (dir == NULL)
		return NULL;
	return shmq__ctl_ptr(bus, ck_pr_load_64(&dir[q]),
	    sizeof(struct shmq_queue_ctl));
}

/* Views of queues [0, N) of T, or NULL (no memory, a bad block). */
static struct shmq_cq *
cq_views(struct shmq_bus *bus, struct shmq_topic *t, uint32_t n)
{
	struct shmq_cq *cq;
	uint32_t q;

	if ((cq = calloc(n, sizeof(*cq))) == NULL)
		return NULL;
	for (q = 0; q < n; q++) {
		if ((cq[q].qc = shmq__topic_queue_ctl(bus, t->tc, q)) ==
		    NULL) {
			free(cq);
			return NULL;
		}
		cq[q].queue = q;
		cq[q].topic = t;
	}
	return cq;
}

/*
 * Grow view T to its topic's queue count (bus->lock held).  The longer
 * array is published before the count, so a reader that loads the count
 * first, then the array, indexes an array at least that long; the old
 * array stays (subs and the prefault thread point into it).  Its queues'
 * index files are mapped again through the new array when used: a second
 * mapping of the same pages, for as long as the bus stays open.
 */
static void
view_grow(struct shmq_bus *bus, struct shmq_topic *t)
{
	uint32_t n = ck_pr_load_32(&t->tc->queues);
	struct shmq_cq_old *o;
	struct shmq_cq *cq;

	/* Pairs with the release of queues in topicadmin.c. */
	ck_pr_fence_load();
	if (n <= t->queues || n > SHMQ_MAX_QUEUES)
		return;
	if ((o = malloc(sizeof(*o))) == NULL)
		return;
	if ((cq = cq_views(bus, t, n)) == NULL) {
		free(o);
		return;		/* stays as it was: a smaller view */
	}
	o->cq = t->cq;
	o->queues = t->queues;
	o->next = t->old;
	t->old = o;
	ck_pr_store_ptr(&t->cq, cq);
	/* Release: the array before the count that lets readers index it. */
	ck_pr_fence_store();
	ck_pr_store_32(&t->queues, n);
}

void
shmq__topic_view_refresh(struct shmq_bus *bus, struct shmq_topic *t)
{
	if (ck_pr_load_32(&t->tc->queues) == t->queues)
		return;
	pthread_mutex_lock(&bus->lock);
	view_grow(bus, t);
	pthread_mutex_unlock(&bus->lock);
}

struct shmq_topic *
shmq__topic_by_id(struct shmq_bus *bus, uint32_t id)
{
	struct shmq_topic *t;
	struct shmq_topic_ctl *tc;

	t = shmq__maptab_get(&bus->topics, id);
	if (likely(t != NULL)) {
		if (unlikely(ck_pr_load_32(&t->tc->queues) != t->queues)) {
			pthread_mutex_lock(&bus->lock);
			view_grow(bus, t);
			pthread_mutex_unlock(&bus->lock);
		}
		return t;
	}
	if (id >= ck_pr_load_32(&bus->ctl->ntopics))
		return NULL;
	tc = shmq__topic_ctl(bus, id);
	if (tc == NULL || ck_pr_load_32(&tc->ready) != 1)
		return NULL;
	ck_pr_fence_load();
	if (tc->queues == 0 || tc->queues > SHMQ_MAX_QUEUES ||
	    !shmq__name_ok(tc->name))
		return NULL;

	pthread_mutex_lock(&bus->lock);
	t = shmq__maptab_get(&bus->topics, id);
	if (t != NULL)
		goto out;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto out;
	t->tc = tc;
	t->id = id;
	t->queues = ck_pr_load_32(&tc->queues);
	t->name_len = strlcpy(t->name, tc->name, sizeof(t->name));
	if (t->queues == 0 || t->queues > SHMQ_MAX_QUEUES ||
	    (t->cq = cq_views(bus, t, t->queues)) == NULL ||
	    shmq__maptab_set(&bus->topics, id, t) < 0) {
		free(t->cq);
		free(t);
		t = NULL;
	}
out:
	pthread_mutex_unlock(&bus->lock);
	return t;
}

int
shmq__topic_writable_slow(struct shmq_bus *bus, struct shmq_topic *t)
{
	uint32_t f = ck_pr_load_32(&t->tc->flags);

	if (f & SHMQ_TOPIC_F_DELETED)
		return SHMQ_ERR(SHMQ_ENOTOPIC, "topic \"%s\" on bus \"%s\": "
		    "deleted", t->name, bus->name);
	if (f & SHMQ_TOPIC_F_FENCED)
		return shmq__home_fenced_err(bus, t);
	if (f & SHMQ_TOPIC_F_MIRROR)
		return SHMQ_ERR(SHMQ_ETOPICPERM, "topic \"%s\": a mirror of "
		    "another host's topic (shmqd replicates it here): send "
		    "to its home, or promote this mirror (shmq-admin "
		    "promote)", t->name);
	if (f & SHMQ_TOPIC_F_NOWRITE)
		return SHMQ_ERR(SHMQ_ETOPICPERM, "topic \"%s\": its "
		    "permissions do not allow sends (perm %s)", t->name,
		    (f & SHMQ_TOPIC_F_NOREAD) ? "none" : "r");
	shmq__topic_view_refresh(bus, t);
	/* Current only if the view caught up (view_grow can fail on memory:
	 * the next send tries again). */
	if (ck_pr_load_32(&t->tc->queues) == t->queues)
		ck_pr_store_32(&t->ok_flags, f);
	return 0;
}

/*
 * Find or make topic NAME.  A name that starts with '%' is reserved for the
 * bus's own topics (%RETRY%<group>, %DLQ%<group>): only RESERVED_OK callers
 * (retry.c) make one; anyone may find one.
 */
static int
topic_get(struct shmq_bus *bus, const char *name, bool create,
    unsigned queues, bool reserved_ok, struct shmq_topic **out)
{
	uint64_t hv;
	int64_t id;
	uint32_t nid;
	int err;

	if (!shmq__name_ok(name))
		return SHMQ_ERR(SHMQ_ENAME, "topic \"%s\"",
		    name != NULL ? name : "(null)");
	hv = shmq__hash64(name, strlen(name));
	id = hash_find(bus, name, hv);
	if (likely(id >= 0))
		goto found;
	if (!create)
		return SHMQ_ERR(SHMQ_ENOTOPIC, "topic \"%s\" on bus \"%s\"",
		    name, bus->name);
	if (name[0] == '%' && !reserved_ok)
		return SHMQ_ERR(SHMQ_ENAME, "topic \"%s\": names that start "
		    "with '%%' are reserved for retry and dead-letter topics",
		    name);
	if (queues == 0)
		queues = bus->default_queues;
	if (queues > SHMQ_MAX_QUEUES)
		return SHMQ_ERR(SHMQ_EINVAL, "topic \"%s\": %u queues (1 to %d)",
		    name, queues, SHMQ_MAX_QUEUES);
	if ((err = shmq__admin_lock(bus)) < 0)
		return err;
	id = hash_find(bus, name, hv);
	if (id < 0) {
		if ((err = store_add(bus, name, queues)) < 0 ||
		    (err = ctl_add(bus, name, hv, queues, &nid)) < 0) {
			shmq__admin_unlock(bus);
			SHMQ_ERR_PREFIX("topic \"%s\"", name);
			return err;
		}
		id = nid;
	}
	shmq__admin_unlock(bus);
found:
	*out = shmq__topic_by_id(bus, (uint32_t)id);
	if (*out == NULL)
		return SHMQ_ERR(SHMQ_ECORRUPT, "topic \"%s\": bad control block",
		    name);
	return 0;
}

int
shmq__topic_get(struct shmq_bus *bus, const char *name, bool create,
    unsigned queues, struct shmq_topic **out)
{
	return topic_get(bus, name, create, queues, false, out);
}

int
shmq__topic_get_reserved(struct shmq_bus *bus, const char *name,
    unsigned queues, struct shmq_topic **out)
{
	return topic_get(bus, name, true, queues, true, out);
}

struct shmq_topic *
shmq__topic_find(struct shmq_bus *bus, const char *name)
{
	int64_t id;

	if (!shmq__name_ok(name))
		return NULL;
	id = hash_find(bus, name, shmq__hash64(name, strlen(name)));
	return id >= 0 ? shmq__topic_by_id(bus, (uint32_t)id) : NULL;
}

int
shmq__topic_install(struct shmq_bus *bus, const char *name, unsigned queues,
    uint32_t flags, uint64_t retention_ms)
{
	struct shmq_topic_ctl *tc;
	uint32_t id;
	int err;

	if (hash_find(bus, name, shmq__hash64(name, strlen(name))) >= 0)
		return SHMQ_EEXIST;
	if ((err = ctl_add(bus, name, shmq__hash64(name, strlen(name)),
	    queues, &id)) < 0)
		return err;
	/* Nobody else has the region yet: plain stores. */
	tc = shmq__topic_ctl(bus, id);
	tc->flags = flags & (SHMQ_TOPIC_F_NOWRITE | SHMQ_TOPIC_F_NOREAD |
	    SHMQ_TOPIC_F_MIRROR);
	tc->retention_ms = retention_ms;
	return 0;
}

static void
free_topic(void *arg, void *p)
{
	struct shmq_topic *t = p;
	struct shmq_bus *bus = arg;
	struct shmq_cq_old *o;
	uint32_t q;

	for (q = 0; q < t->queues; q++)
		shmq__cq_unmap_all(bus, &t->cq[q]);
	free(t->cq);
	while ((o = t->old) != NULL) {
		for (q = 0; q < o->queues; q++)
			shmq__cq_unmap_all(bus, &o->cq[q]);
		t->old = o->next;
		free(o->cq);
		free(o);
	}
	free(t);
}

void
shmq__topics_free(struct shmq_bus *bus)
{
	shmq__maptab_free(&bus->topics, free_topic, bus);
	shmq__tombstones_free(bus);
}

int
shmq_topic_create(struct shmq_bus *bus, const char *topic, unsigned queues)
{
	struct shmq_topic *t;
	uint64_t hv;
	int err;

	if (bus == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "no bus");
	if (!shmq__name_ok(topic))
		return SHMQ_ERR(SHMQ_ENAME, "topic \"%s\"",
		    topic != NULL ? topic : "(null)");
	if (topic[0] == '%')
		return SHMQ_ERR(SHMQ_ENAME, "topic \"%s\": names that start "
		    "with '%%' are reserved for retry and dead-letter topics",
		    topic);
	if (queues == 0 || queues > SHMQ_MAX_QUEUES)
		return SHMQ_ERR(SHMQ_EINVAL, "topic \"%s\": %u queues (1 to %d)",
		    topic, queues, SHMQ_MAX_QUEUES);
	hv = shmq__hash64(topic, strlen(topic));
	if (hash_find(bus, topic, hv) >= 0)
		return SHMQ_ERR(SHMQ_EEXIST, "topic \"%s\"", topic);
	err = shmq__topic_get(bus, topic, true, queues, &t);
	if (err < 0)
		return err;
	if (t->queues != queues)
		return SHMQ_ERR(SHMQ_EEXIST, "topic \"%s\" (with %u queues)",
		    topic, t->queues);
	return 0;
}

int
shmq_topic_queues(struct shmq_bus *bus, const char *topic)
{
	struct shmq_topic *t;
	int err;

	if (bus == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "no bus");
	if ((err = shmq__topic_get(bus, topic, false, 0, &t)) < 0)
		return err;
	return (int)t->queues;
}
