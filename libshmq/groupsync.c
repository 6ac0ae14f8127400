/*
 * groupsync.c - consumer-group offsets between a home and its mirrors
 * (see groupsync.h): the home's lock-free reader, the mirror's forward-only
 * apply.
 *
 * The apply runs under the admin mutex, as shmq_group_reset does, and
 * signals members the same way: each moved queue's committed word gets a
 * new value with one more reset (shmq__commit_reset) by CAS, so a member's
 * commit from the word it saw before fails and it reloads; then the
 * group's resets and generation move (release) and its sleepers wake.  A
 * member's commit that lands between our load and our CAS makes the CAS
 * fail: we load again and move only if its offset is still behind.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "allocate.h"
#include "group.h"
#include "groupsync.h"
#include "internal.h"
#include "offsets.h"
#include "topic.h"

/* Is the fixed-size string S NUL-terminated? */
static bool
terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* A group whose offsets travel: a user group, well formed. */
static bool
group_carried(const struct shmq_group_ctl *g)
{
	return terminated(g->name, sizeof(g->name)) && g->name[0] != '%' &&
	    shmq__name_ok(g->name) &&
	    (g->model == SHMQ_GROUP_CLUSTERING ||
	    g->model == SHMQ_GROUP_BROADCASTING);
}

/* Call CB for the offsets of set O (topic T, queues below NQ). */
static int
oset_each(struct shmq_bus *bus, const struct shmq_group_ctl *g,
    const struct shmq_group_oset *o, uint32_t nq,
    int (*cb)(void *, const struct shmq_goff *), void *arg)
{
	struct shmq_group_queue *gq;
	struct shmq_goff x;
	uint32_t q, first = o->first_queue, queues = o->queues;
	int rc;

	/* Clustering sets have no instance, broadcasting ones a name. */
	if (!terminated(o->instance, sizeof(o->instance)) ||
	    (g->model == SHMQ_GROUP_CLUSTERING) != (o->instance[0] == '\0') ||
	    (o->instance[0] != '\0' && !shmq__name_ok(o->instance)) ||
	    (gq = shmq__oset_queues(bus, o)) == NULL)
		return 0;
	x.group = g->name;
	x.instance = o->instance;
	x.model = g->model;
	for (q = 0; q < queues && first < nq && q < nq - first; q++) {
		x.queue = first + q;
		x.committed = shmq__commit_off(ck_pr_load_64(&gq[q].committed));
		if ((rc = cb(arg, &x)) != 0)
			return rc;
	}
	return 0;
}

int
shmq__goff_foreach(struct shmq_bus *bus, struct shmq_topic *t, uint32_t nq,
    int (*cb)(void *arg, const struct shmq_goff *o), void *arg)
{
	struct shmq_group_osets *oa;
	struct shmq_group_ctl *g;
	uint32_t id, n, i, no;
	int rc;

	if (nq > t->queues)
		nq = t->queues;
	n = ck_pr_load_32(&bus->ctl->ngroups);
	/* Pairs with the release of ngroups (shmq__group_get_locked). */
	ck_pr_fence_load();
	for (id = 0; id < n; id++) {
		g = shmq__group_ctl(bus, id);
		if (g == NULL || ck_pr_load_32(&g->ready) != 1)
			continue;
		/* The block before ready (release in group.c). */
		ck_pr_fence_load();
		if (!group_carried(g) || (oa = shmq__group_osets(bus, g)) ==
		    NULL)
			continue;
		no = ck_pr_load_32(&oa->n);
		/* The sets before their count (release in offsets.c). */
		ck_pr_fence_load();
		if (no > oa->cap)
			no = oa->cap;
		for (i = 0; i < no; i++)
			if (oa->o[i].topic_id == t->id && (rc = oset_each(bus,
			    g, &oa->o[i], nq, cb, arg)) != 0)
				return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The mirror's apply                                                  */
/* ------------------------------------------------------------------ */

/* Remember group G to be saved at the end. */
static int
save_later(struct shmq_goff_apply *a, const struct shmq_group_ctl *g)
{
	uint32_t *ns;

	/* Offsets come group by group: a repeat is the last one. */
	if (a->nsave > 0 && a->save[a->nsave - 1] == g->id)
		return 0;
	if (a->nsave == a->capsave) {
		ns = reallocarray(a->save, a->capsave * 2 + 8, sizeof(*ns));
		if (ns == NULL)
			return SHMQ_ERR(SHMQ_ENOMEM, "group offsets");
		a->save = ns;
		a->capsave = a->capsave * 2 + 8;
	}
	a->save[a->nsave++] = g->id;
	return 0;
}

/* Done with the current group: tell its members if anything moved (the
 * order of shmq_group_reset). */
static void
group_done(struct shmq_goff_apply *a)
{
	struct shmq_group_ctl *g = a->g;

	if (g == NULL || !a->g_moved)
		return;
	/* The committed words, then resets, then the generation (release
	 * in shmq__group_bump): a member that sees it reloads them. */
	ck_pr_fence_store();
	ck_pr_store_64(&g->resets, g->resets + 1);
	shmq__group_bump(a->bus, g);
	a->g_moved = false;
}

int
shmq__goff_apply_begin(struct shmq_goff_apply *a, struct shmq_bus *bus,
    struct shmq_topic *t)
{
	memset(a, 0, offsetof(struct shmq_goff_apply, gqs));
	a->save = NULL;
	a->nsave = a->capsave = 0;
	a->moved = a->kept = a->dropped = 0;
	a->bus = bus;
	a->t = t;
	if ((ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_MIRROR) == 0)
		return SHMQ_ERR(SHMQ_EINVAL, "topic \"%s\" is not a mirror",
		    t->name);
	shmq__topic_view_refresh(bus, t);
	return shmq__admin_lock(bus);
}

/* Find or make the group and offset set of O into A.  1: use them; 0:
 * O is dropped (another model); or a code. */
static int
find_set(struct shmq_goff_apply *a, const struct shmq_goff *o)
{
	struct shmq_bus *bus = a->bus;
	struct shmq_group_osets *oa;
	uint32_t before, sets;
	int err;

	if (a->g == NULL || strcmp(a->g->name, o->group) != 0) {
		group_done(a);
		a->g = NULL;
		a->have_set = false;
		before = ck_pr_load_32(&bus->ctl->ngroups);
		if ((err = shmq__group_get_locked(bus, o->group, o->model,
		    SHMQ_ALLOC_AVERAGELY, &a->g)) < 0)
			return err;
		if (ck_pr_load_32(&bus->ctl->ngroups) != before &&
		    (err = save_later(a, a->g)) < 0)
			return err;
	}
	/* A local group of that name with the other model is not the
	 * home's group: left alone. */
	if (a->g->model != o->model)
		return 0;
	if (a->have_set && strcmp(a->instance, o->instance) == 0)
		return 1;
	oa = shmq__group_osets(bus, a->g);
	sets = oa != NULL ? oa->n : 0;
	/* A set made now starts at each queue's first message: any
	 * offset the home sends then moves it forward. */
	if ((err = shmq__oset_get_locked(bus, a->g, o->instance, a->t,
	    a->t->queues, SHMQ_SEEK_FIRST, 0, a->gqs)) < 0)
		return err;
	oa = shmq__group_osets(bus, a->g);
	if (oa != NULL && oa->n != sets && (err = save_later(a, a->g)) < 0)
		return err;
	strlcpy(a->instance, o->instance, sizeof(a->instance));
	a->have_set = true;
	return 1;
}

int
shmq__goff_apply(struct shmq_goff_apply *a, const struct shmq_goff *o)
{
	struct shmq_group_queue *gq;
	uint64_t w;
	int rc;

	if (!shmq__name_ok(o->group))
		return SHMQ_ERR(SHMQ_ENAME, "group offsets: group name");
	if (o->model != SHMQ_GROUP_CLUSTERING &&
	    o->model != SHMQ_GROUP_BROADCASTING)
		return SHMQ_ERR(SHMQ_EINVAL, "group \"%s\": model %u",
		    o->group, o->model);
	if (o->model == SHMQ_GROUP_CLUSTERING ? o->instance[0] != '\0' :
	    !shmq__name_ok(o->instance))
		return SHMQ_ERR(SHMQ_ENAME, "group \"%s\": instance name "
		    "(none for clustering, a name for broadcasting)",
		    o->group);
	if (o->committed > SHMQ_COMMIT_OFF_MASK)
		return SHMQ_ERR(SHMQ_EINVAL, "group \"%s\": offset %llu",
		    o->group, (unsigned long long)o->committed);
	if (o->group[0] == '%' || o->queue >= a->t->queues) {
		a->dropped++;
		return 0;
	}
	if ((rc = find_set(a, o)) <= 0) {
		if (rc == 0)
			a->dropped++;
		return rc;
	}
	gq = a->gqs[o->queue];
	/* Forward only; a member's commit may race us (see the top). */
	do {
		w = ck_pr_load_64(&gq->committed);
		if (shmq__commit_off(w) >= o->committed) {
			a->kept++;
			return 0;
		}
	} while (!ck_pr_cas_64(&gq->committed, w,
	    shmq__commit_reset(w, o->committed)));
	a->moved++;
	if (!a->g_moved && (rc = save_later(a, a->g)) < 0)
		return rc;
	a->g_moved = true;
	return 0;
}

int
shmq__goff_apply_end(struct shmq_goff_apply *a)
{
	struct shmq_group_ctl *g;
	size_t i;
	int err, rc = 0;

	group_done(a);
	shmq__admin_unlock(a->bus);
	for (i = 0; i < a->nsave; i++) {
		g = shmq__group_ctl(a->bus, a->save[i]);
		if (g != NULL && (err = shmq__offsets_save(a->bus, g, false,
		    false)) < 0 && rc == 0)
			rc = err;
	}
	free(a->save);
	a->save = NULL;
	a->nsave = a->capsave = 0;
	a->g = NULL;
	return rc;
}
