/*
 * offsets.c - committed offsets of consumer groups (see offsets.h).
 *
 * In the control region: per group, an array of offset sets (moved to a
 * bigger copy when full, under the admin mutex), each pointing at its
 * struct shmq_group_queue array, allocated once.  Members write committed
 * offsets there without any lock, with a CAS from what they last saw
 * (group.h, shmq__group_commit_moved), so that a reset (which stores under
 * the admin mutex, then bumps the group's resets and generation) or a
 * takeover in between is never overwritten unnoticed.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocate.h"
#include "consumequeue.h"
#include "group.h"
#include "internal.h"
#include "offsets.h"
#include "region.h"
#include "topic.h"

#define OSETS_INIT	8

/* The offset-set array and its count, both checked; NULL if corrupt. */
static struct shmq_group_osets *
osets_get(struct shmq_bus *bus, const struct shmq_group_ctl *g, uint32_t *np)
{
	struct shmq_group_osets *a;
	uint64_t off;
	uint32_t cap, n;

	off = ck_pr_load_64((uint64_t *)(uintptr_t)&g->osets_off);
	/* Pairs with the release in oset_add. */
	ck_pr_fence_load();
	a = shmq__ctl_ptr(bus, off, sizeof(*a));
	if (a == NULL)
		return NULL;
	cap = ck_pr_load_32(&a->cap);
	if (cap > SHMQ_GROUP_MAX_OSETS || shmq__ctl_ptr(bus, off,
	    sizeof(*a) + (uint64_t)cap * sizeof(a->o[0])) == NULL)
		return NULL;
	n = ck_pr_load_32(&a->n);
	ck_pr_fence_load();
	*np = n < cap ? n : cap;
	return a;
}

struct shmq_group_osets *
shmq__group_osets(struct shmq_bus *bus, const struct shmq_group_ctl *g)
{
	uint32_t n;

	return osets_get(bus, g, &n);
}

struct shmq_group_queue *
shmq__oset_queues(struct shmq_bus *bus, const struct shmq_group_oset *o)
{
	uint32_t queues = ck_pr_load_32((uint32_t *)(uintptr_t)&o->queues);

	if (queues == 0 || queues > SHMQ_MAX_QUEUES)
		return NULL;
	return shmq__ctl_ptr(bus, ck_pr_load_64((uint64_t *)(uintptr_t)
	    &o->queue_off), (uint64_t)queues * sizeof(struct shmq_group_queue));
}

/* Is the fixed-size string S a NUL-terminated valid name (or "")? */
static bool
field_ok(const char *s, size_t size, bool empty_ok)
{
	if (memchr(s, '\0', size) == NULL)
		return false;
	return (empty_ok && s[0] == '\0') || shmq__name_ok(s);
}

/* Where queue Q of T starts for a new offset set. */
static uint64_t
initial(struct shmq_bus *bus, struct shmq_topic *t, uint32_t q, int whence,
    uint64_t time_ms)
{
	struct shmq_cq *cq = &t->cq[q];

	switch (whence) {
	case SHMQ_SEEK_FIRST:
		return ck_pr_load_64(&cq->qc->min_off);
	case SHMQ_SEEK_TIME:
		return shmq__cq_seek_time(bus, t, cq, time_ms * 1000000ull);
	default:
		return shmq__cq_tail(cq);
	}
}

int
shmq__oset_get_locked(struct shmq_bus *bus, struct shmq_group_ctl *g,
    const char *instance, struct shmq_topic *t, uint32_t nq, int whence,
    uint64_t time_ms, struct shmq_group_queue **out)
{
	struct shmq_group_osets *a, *na;
	struct shmq_group_queue *gq;
	struct shmq_group_oset *o;
	uint64_t off, qoff;
	uint32_t n, i, q, cap, covered = 0, first, k;
	int err;

	if ((a = osets_get(bus, g, &n)) == NULL)
		return SHMQ_ERR(SHMQ_ECORRUPT, "offset table");
	/* A grown topic has several sets, made in order, each covering
	 * the queues after the one before (topicadmin.c). */
	for (i = 0; i < n; i++) {
		o = &a->o[i];
		if (o->topic_id != t->id || strncmp(o->instance, instance,
		    sizeof(o->instance)) != 0)
			continue;
		first = o->first_queue;
		if (first != covered || (gq = shmq__oset_queues(bus, o)) ==
		    NULL || o->queues > SHMQ_MAX_QUEUES - first)
			return SHMQ_ERR(SHMQ_ECORRUPT, "offsets of topic "
			    "\"%s\"", t->name);
		for (k = 0; k < o->queues && first + k < nq; k++)
			out[first + k] = &gq[k];
		covered = first + o->queues;
	}
	if (covered >= nq)
		return 0;
	/* Queues added to a topic the group already had: from their
	 * first message (they are new to everyone). */
	if (covered > 0)
		whence = SHMQ_SEEK_FIRST;
	cap = a->cap;
	if (n >= cap) {
		if (cap >= SHMQ_GROUP_MAX_OSETS)
			return SHMQ_ERR(SHMQ_ELIMIT, "%u offset sets", n);
		off = shmq__ctl_alloc(bus, sizeof(*na) + (uint64_t)cap * 2 *
		    sizeof(na->o[0]), &err);
		if (off == 0)
			return err;
		na = shmq__ctl_ptr(bus, off, sizeof(*na));
		na->cap = cap * 2;
		memcpy(na->o, a->o, (size_t)n * sizeof(na->o[0]));
		na->n = n;
		/* Release: the copy before its offset (osets_get). */
		ck_pr_fence_store();
		ck_pr_store_64(&g->osets_off, off);
		a = na;
	}
	qoff = shmq__ctl_alloc(bus, (uint64_t)(nq - covered) * sizeof(*gq),
	    &err);
	if (qoff == 0)
		return err;
	gq = shmq__ctl_ptr(bus, qoff, (uint64_t)(nq - covered) * sizeof(*gq));
	for (q = covered; q < nq; q++) {
		gq[q - covered].committed = initial(bus, t, q, whence,
		    time_ms);
		out[q] = &gq[q - covered];
	}
	o = &a->o[n];
	memset(o, 0, sizeof(*o));
	strlcpy(o->instance, instance, sizeof(o->instance));
	o->topic_id = t->id;
	o->first_queue = covered;
	o->queues = nq - covered;
	o->queue_off = qoff;
	o->created_ns = shmq__real_ns();
	/* Release: the set and its queues before the count. */
	ck_pr_fence_store();
	ck_pr_store_32(&a->n, n + 1);
	return 0;
}

/* Commit OFF for sub S.  0, SHMQ_ENOQUEUE or SHMQ_EBUSY. */
static int
commit_one(struct shmq_consumer *c, struct sub *s, uint64_t off)
{
	struct shmq_cgroup *cg = c->grp;

	if (cg->model == SHMQ_GROUP_CLUSTERING &&
	    ck_pr_load_64(&s->gq->owner) != cg->token)
		return SHMQ_ERR(SHMQ_ENOQUEUE, "topic \"%s\" queue %u: taken "
		    "over by another member", s->t->name, s->cq->queue);
	if (s->committed == SHMQ_COMMIT_CONFLICT)
		return SHMQ_ERR(SHMQ_EBUSY, "topic \"%s\" queue %u: offset "
		    "changed by a reset or a takeover", s->t->name,
		    s->cq->queue);
	if (shmq__commit_off(s->committed) == off)
		return 0;
	if (ck_pr_cas_64(&s->gq->committed, s->committed,
	    shmq__commit_with(s->committed, off))) {
		s->committed = shmq__commit_with(s->committed, off);
		return 0;
	}
	s->committed = SHMQ_COMMIT_CONFLICT;
	cg->need_slow = true;
	return SHMQ_ERR(SHMQ_EBUSY, "topic \"%s\" queue %u: offset changed "
	    "by a reset or a takeover", s->t->name, s->cq->queue);
}

int
shmq_consumer_commit(struct shmq_consumer *c, const char *topic, int queue,
    uint64_t offset)
{
	struct shmq_topic *t = NULL;
	size_t i;
	int err, rc = 0, found = 0;

	if (c == NULL || c->grp == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "commit: not a group consumer");
	if (topic == NULL && (queue != SHMQ_QUEUE_ANY ||
	    offset != SHMQ_OFFSET_CURRENT))
		return SHMQ_ERR(SHMQ_EINVAL, "commit: every queue takes "
		    "SHMQ_QUEUE_ANY and SHMQ_OFFSET_CURRENT");
	if (queue == SHMQ_QUEUE_ANY && offset != SHMQ_OFFSET_CURRENT)
		return SHMQ_ERR(SHMQ_EINVAL, "commit: an offset needs a queue");
	if (queue < 0 && queue != SHMQ_QUEUE_ANY)
		return SHMQ_ERR(SHMQ_EINVAL, "commit: queue %d", queue);
	if (topic != NULL &&
	    (err = shmq__topic_get(c->bus, topic, false, 0, &t)) < 0)
		return err;
	for (i = 0; i < c->nsubs; i++) {
		struct sub *s = &c->subs[i];

		if (t != NULL && s->t != t)
			continue;
		if (queue != SHMQ_QUEUE_ANY && s->cq->queue != (uint32_t)queue)
			continue;
		found = 1;
		err = commit_one(c, s, offset == SHMQ_OFFSET_CURRENT ? s->pos :
		    offset);
		if (err < 0 && rc == 0)
			rc = err;
	}
	if (!found && topic != NULL)
		return SHMQ_ERR(SHMQ_ENOQUEUE, "commit: topic \"%s\" queue %d "
		    "is not held by this member", topic, queue);
	return rc;
}

int
shmq_group_reset(struct shmq_bus *bus, const char *group, const char *topic,
    uint64_t time_ms)
{
	struct shmq_group_queue *gq, *gqs[SHMQ_MAX_QUEUES];
	struct shmq_group_osets *a;
	struct shmq_group_ctl *g;
	struct shmq_topic *t = NULL, *ot;
	uint32_t n, i, q, first;
	int err, matched = 0;

	if (bus == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "group reset: no bus");
	if (!shmq__name_ok(group))
		return SHMQ_ERR(SHMQ_ENAME, "group \"%s\"",
		    group != NULL ? group : "(null)");
	if (topic != NULL &&
	    (err = shmq__topic_get(bus, topic, false, 0, &t)) < 0)
		return err;
	if ((err = shmq__group_find(bus, group, &g)) < 0)
		return err;
	if ((err = shmq__admin_lock(bus)) < 0)
		return err;
	if ((a = osets_get(bus, g, &n)) == NULL) {
		shmq__admin_unlock(bus);
		return SHMQ_ERR(SHMQ_ECORRUPT, "group \"%s\": offset table",
		    group);
	}
	for (i = 0; i < n; i++) {
		if (t != NULL && a->o[i].topic_id != t->id)
			continue;
		if ((ot = shmq__topic_by_id(bus, a->o[i].topic_id)) == NULL ||
		    (gq = shmq__oset_queues(bus, &a->o[i])) == NULL)
			continue;
		first = a->o[i].first_queue;
		for (q = 0; q < a->o[i].queues && first < ot->queues &&
		    q < ot->queues - first; q++)
			ck_pr_store_64(&gq[q].committed, shmq__commit_reset(
			    ck_pr_load_64(&gq[q].committed),
			    shmq__cq_seek_time(bus, ot, &ot->cq[first + q],
			    time_ms * 1000000ull)));
		matched++;
	}
	if (t != NULL && matched == 0 && g->model == SHMQ_GROUP_CLUSTERING)
		err = shmq__oset_get_locked(bus, g, "", t, t->queues,
		    SHMQ_SEEK_TIME, time_ms, gqs);
	/* The offsets, then resets, then the generation (release in
	 * shmq__group_bump): a member that sees the generation reloads. */
	ck_pr_fence_store();
	ck_pr_store_64(&g->resets, g->resets + 1);
	shmq__group_bump(bus, g);
	shmq__admin_unlock(bus);
	if (err < 0)
		return err;
	return shmq__offsets_save(bus, g, true, true);
}

/* ------------------------------------------------------------------ */
/* The copy in the store                                               */
/* ------------------------------------------------------------------ */

int
shmq__offsets_save(struct shmq_bus *bus, struct shmq_group_ctl *g, bool sync,
    bool force)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct shmq_group_osets *a;
	struct shmq_group_queue *gq;
	struct shmq_topic *t;
	char *buf = NULL;
	size_t len = 0;
	uint64_t h;
	uint32_t n, i, q;
	FILE *f;
	int err;

	if (!field_ok(g->name, sizeof(g->name), false))
		return SHMQ_ERR(SHMQ_ECORRUPT, "group name");
	if ((size_t)snprintf(dir, sizeof(dir), "%s/groups/%s", bus->path,
	    g->name) >= sizeof(dir) || (size_t)snprintf(path, sizeof(path),
	    "%s/offsets", dir) >= sizeof(path))
		return SHMQ_ERR(SHMQ_EINVAL, "path too long");
	if ((f = open_memstream(&buf, &len)) == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "group \"%s\": offsets", g->name);
	if ((err = shmq__admin_lock(bus)) < 0) {
		fclose(f);
		free(buf);
		return err;
	}
	fprintf(f, "# shmq consumer group offsets\nmodel=%s\nstrategy=%s\n",
	    g->model == SHMQ_GROUP_BROADCASTING ? "broadcasting" :
	    "clustering", shmq__alloc_strategy_name(
	    (enum shmq__alloc_strategy)g->strategy));
	if ((a = osets_get(bus, g, &n)) != NULL) {
		for (i = 0; i < n; i++) {
			const struct shmq_group_oset *o = &a->o[i];

			/* A deleted topic's offsets are forgotten. */
			if (!field_ok(o->instance, sizeof(o->instance), true) ||
			    (t = shmq__topic_by_id(bus, o->topic_id)) == NULL ||
			    (ck_pr_load_32(&t->tc->flags) &
			    SHMQ_TOPIC_F_DELETED) != 0 ||
			    (gq = shmq__oset_queues(bus, o)) == NULL)
				continue;
			for (q = 0; q < o->queues && o->first_queue <
			    t->queues && q < t->queues - o->first_queue; q++)
				fprintf(f, "o %s %s %u %llu\n", t->name,
				    o->instance[0] != '\0' ? o->instance : "*",
				    o->first_queue + q,
				    (unsigned long long)shmq__commit_off(
				    ck_pr_load_64(&gq[q].committed)));
		}
	}
	if (fclose(f) != 0 || buf == NULL) {
		shmq__admin_unlock(bus);
		free(buf);
		return SHMQ_ERR(SHMQ_ENOMEM, "group \"%s\": offsets", g->name);
	}
	/* The low bit says whether the last write was synced: an unsynced
	 * copy of the same content does not spare a synced save. */
	h = shmq__hash64(buf, len) & ~1ull;
	err = 0;
	if (force || (g->saved_hash & ~1ull) != h ||
	    (sync && (g->saved_hash & 1) == 0)) {
		if ((err = shmq__mkdir_p(dir, &bus->perm)) == 0 &&
		    (err = shmq__file_replace(path, buf, len, &bus->perm,
		    sync)) == 0)
			g->saved_hash = h | (sync ? 1 : 0);
	}
	shmq__admin_unlock(bus);
	free(buf);
	if (err < 0)
		SHMQ_ERR_PREFIX("group \"%s\": save offsets", g->name);
	return err;
}

void
shmq__offsets_save_all(struct shmq_bus *bus)
{
	struct shmq_group_ctl *g;
	uint32_t id, n = ck_pr_load_32(&bus->ctl->ngroups);

	for (id = 0; id < n; id++)
		if ((g = shmq__group_ctl(bus, id)) != NULL &&
		    ck_pr_load_32(&g->ready) == 1)
			(void)shmq__offsets_save(bus, g, true, true);
}

/* Load one group's file (recovery: alone on the bus). */
static int
load_group(struct shmq_bus *bus, const char *name, const char *path)
{
	char line[512], topic[128], inst[128], word[64];
	enum shmq__alloc_strategy strat = SHMQ_ALLOC_AVERAGELY;
	struct shmq_group_ctl *g = NULL;
	struct shmq_group_queue *gqs[SHMQ_MAX_QUEUES];
	struct shmq_topic *t;
	uint32_t model = SHMQ_GROUP_CLUSTERING;
	unsigned long long off;
	unsigned q;
	bool skip = false;
	FILE *f;
	int err = 0;

	if ((f = fopen(path, "re")) == NULL)
		return errno == ENOENT ? 0 : shmq__err_sys(errno, "open", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		bool whole = strchr(line, '\n') != NULL || feof(f);

		/* The rest of an overlong line is skipped with it. */
		if (skip || !whole) {
			skip = !whole;
			continue;
		}
		if (sscanf(line, "model=%63s", word) == 1) {
			model = strcmp(word, "broadcasting") == 0 ?
			    SHMQ_GROUP_BROADCASTING : SHMQ_GROUP_CLUSTERING;
			continue;
		}
		if (sscanf(line, "strategy=%63s", word) == 1) {
			(void)shmq__alloc_strategy_parse(word, &strat);
			continue;
		}
		if (sscanf(line, "o %127s %127s %u %llu", topic, inst, &q,
		    &off) != 4)
			continue;
		if (g == NULL && (err = shmq__group_get_locked(bus, name, model,
		    (uint32_t)strat, &g)) < 0)
			break;
		if (strcmp(inst, "*") == 0)
			inst[0] = '\0';
		else if (!shmq__name_ok(inst))
			continue;
		if (shmq__topic_get(bus, topic, false, 0, &t) < 0 ||
		    q >= t->queues)
			continue;
		if ((err = shmq__oset_get_locked(bus, g, inst, t, t->queues,
		    SHMQ_SEEK_LAST, 0, gqs)) < 0)
			break;
		/* Never beyond the recovered tail (a torn log was cut),
		 * except in a mirror, whose group offsets may be the home's
		 * ahead of the messages (groupsync.h). */
		if (off > shmq__cq_tail(&t->cq[q]) &&
		    (t->tc->flags & SHMQ_TOPIC_F_MIRROR) == 0)
			off = shmq__cq_tail(&t->cq[q]);
		gqs[q]->committed = off;
	}
	fclose(f);
	if (err == 0 && g == NULL)
		err = shmq__group_get_locked(bus, name, model, (uint32_t)strat,
		    &g);
	if (err == 0)
		g->saved_hash = 0;
	return err;
}

int
shmq__offsets_load(struct shmq_bus *bus)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int err = 0;

	snprintf(dir, sizeof(dir), "%s/groups", bus->path);
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : shmq__err_sys(errno,
		    "open directory", dir);
	while ((de = readdir(d)) != NULL) {
		if (!shmq__name_ok(de->d_name))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s/offsets", dir,
		    de->d_name) >= sizeof(path))
			continue;
		if ((err = load_group(bus, de->d_name, path)) < 0) {
			SHMQ_ERR_PREFIX("group \"%s\"", de->d_name);
			break;
		}
	}
	closedir(d);
	return err;
}
