/*
 * info.c - introspection for shmq-stat: the bus, its queues, clients and
 * consumer groups (with their retry and dead-letter counts).  Reads the
 * control region without locks, but for a group's members and offset sets
 * (a snapshot under the admin lock); every figure is a snapshot.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client.h"
#include "allocate.h"
#include "commitlog.h"
#include "consumequeue.h"
#include "group.h"
#include "msg.h"
#include "offsets.h"
#include "promote.h"
#include "region.h"
#include "internal.h"
#include "retry.h"
#include "topic.h"

static __thread uint64_t du_bytes;

static int
du_cb(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)path;
	(void)type;
	(void)f;
	du_bytes += (uint64_t)st->st_blocks * 512;
	return 0;
}

/* 1 s: a daemon beats every SHMQ_SYNC_BEAT_NS (50 ms) while it serves. */
#define DAEMON_BEAT_STALE_NS	(1000ull * 1000 * 1000)

/*
 * shmqd's status (layout.h).  The pid is believed only while it runs with
 * the start time the daemon stored, so a SIGKILLed daemon reads as none
 * (the fields stay behind it) and a reused pid is not taken for it.
 */
static void
daemon_info(struct shmq_ctl *ctl, struct shmq_bus_info *info)
{
	uint64_t beat, now;
	int pid;

	info->sync_rounds = ck_pr_load_64(&ctl->flush_rounds);
	info->sync_acks = ck_pr_load_64(&ctl->flush_acks);
	info->sync_self = ck_pr_load_64(&ctl->flush_self);
	info->sync_timeouts = ck_pr_load_64(&ctl->flush_timeouts);
	info->sync_flushed_off = ck_pr_load_64(&ctl->flushed_off);
	info->reclaimed_segments = ck_pr_load_64(&ctl->retain_segs);
	info->reclaimed_bytes = ck_pr_load_64(&ctl->retain_bytes);
	info->reclaimed_entries = ck_pr_load_64(&ctl->retain_entries);
	info->reclaimed_unconsumed = ck_pr_load_64(&ctl->retain_unconsumed);
	info->refused_sends = ck_pr_load_64(&ctl->retain_refused);
	info->writes_refused = ck_pr_load_32(&ctl->write_refused) != 0;
	info->retain_last_ns = ck_pr_load_64(&ctl->retain_last_ns);
	info->retain_store_bytes = ck_pr_load_64(&ctl->retain_store_bytes);
	info->retain_disk_free = ck_pr_load_64(&ctl->retain_disk_free);

	pid = ck_pr_load_int((int *)&ctl->daemon_pid);
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH) ||
	    shmq__proc_start(pid) !=
	    ck_pr_load_64(&ctl->daemon_start_ticks))
		return;
	/* Pairs with the store fence before shmqd stores its pid. */
	ck_pr_fence_load();
	info->daemon_pid = pid;
	beat = ck_pr_load_64(&ctl->flush_server_ns);
	now = shmq__mono_ns();
	info->daemon_beat_age_ns = beat != 0 && now > beat ? now - beat : 0;
	info->daemon_serving = beat != 0 &&
	    info->daemon_beat_age_ns < DAEMON_BEAT_STALE_NS;
	info->daemon_flush_ms = ck_pr_load_32(&ctl->daemon_flush_ms);
	info->daemon_reap_ms = ck_pr_load_32(&ctl->daemon_reap_ms);
	info->daemon_started_ns = ck_pr_load_64(&ctl->daemon_started_ns);
	info->daemon_flushes = ck_pr_load_64(&ctl->daemon_flushes);
	info->daemon_flush_bytes = ck_pr_load_64(&ctl->daemon_flush_bytes);
	info->daemon_flush_last_ns = ck_pr_load_64(&ctl->daemon_flush_last_ns);
	info->daemon_flush_last_dur_ns =
	    ck_pr_load_64(&ctl->daemon_flush_last_dur_ns);
	info->daemon_flush_last_bytes =
	    ck_pr_load_64(&ctl->daemon_flush_last_bytes);
	info->daemon_reap_passes = ck_pr_load_64(&ctl->daemon_reap_passes);
	info->daemon_reaped_clients =
	    ck_pr_load_64(&ctl->daemon_reaped_clients);
	info->daemon_reaped_holes = ck_pr_load_64(&ctl->daemon_reaped_holes);
	info->daemon_reaped_members =
	    ck_pr_load_64(&ctl->daemon_reaped_members);
	info->daemon_delay_delivered =
	    ck_pr_load_64(&ctl->daemon_delay_delivered);
	info->daemon_delay_errors = ck_pr_load_64(&ctl->daemon_delay_errors);
	info->daemon_txn_pending = ck_pr_load_64(&ctl->daemon_txn_pending);
	info->daemon_txn_checks = ck_pr_load_64(&ctl->daemon_txn_checks);
	info->daemon_txn_resolved = ck_pr_load_64(&ctl->daemon_txn_resolved);
	info->daemon_txn_discarded =
	    ck_pr_load_64(&ctl->daemon_txn_discarded);
}

int
shmq_bus_info(struct shmq_bus *bus, struct shmq_bus_info *info)
{
	struct shmq_ctl *ctl;
	char dir[PATH_MAX];
	struct dirent *de;
	uint32_t i, n;
	DIR *d;

	if (bus == NULL || info == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "bus info: bad arguments");
	ctl = bus->ctl;
	memset(info, 0, sizeof(*info));
	strlcpy(info->name, bus->name, sizeof(info->name));
	strlcpy(info->path, bus->path, sizeof(info->path));
	strlcpy(info->shm_name, bus->shm_name, sizeof(info->shm_name));
	info->store_id = bus->store_id;
	info->segment_bytes = bus->segment_bytes;
	info->cq_entries = bus->cq_entries;
	info->max_msg_bytes = bus->max_msg_bytes;
	info->default_queues = bus->default_queues;
	info->auto_create = bus->auto_create;
	info->stall_ms = bus->stall_ms;
	info->log_min_off = ck_pr_load_64(&ctl->log_min_off);
	info->log_tail_off = ck_pr_load_64(&ctl->log_tail);
	info->ctl_bytes = ck_pr_load_64(&ctl->size_bytes);
	info->topics = ck_pr_load_32(&ctl->ntopics);
	info->holes = ck_pr_load_64(&ctl->holes);
	info->recoveries = ck_pr_load_64(&ctl->recoveries);
	daemon_info(ctl, info);
	n = ck_pr_load_32(&ctl->nclients);
	for (i = 0; i < n; i++) {
		struct shmq_client_slot *s = shmq__client_slot(bus, i);

		if (s != NULL && ck_pr_load_32(&s->role) != SHMQ_ROLE_FREE &&
		    shmq__client_alive(s))
			info->clients_live++;
	}
	snprintf(dir, sizeof(dir), "%s/commitlog", bus->path);
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strlen(de->d_name) == 20)
				info->segments++;
		closedir(d);
	}
	du_bytes = 0;
	(void)nftw(bus->path, du_cb, 16, FTW_PHYS);
	info->store_bytes = du_bytes;
	return 0;
}

/* Store time of the newest committed entry below the tail (a short look
 * back from the tail). */
static uint64_t
last_store(struct shmq_bus *bus, struct shmq_topic *t, struct shmq_cq *cq,
    uint64_t min, uint64_t tail)
{
	struct shmq_cq_entry *e;
	uint64_t off;
	int err, k;

	for (off = tail, k = 0; off > min && k < 64; off--, k++) {
		e = shmq__cq_entry(bus, t, cq, off - 1, false, &err);
		if (e == NULL)
			break;
		if (shmq__cq_state(e) == SHMQ_CQ_COMMITTED)
			return ck_pr_load_64(&e->store_ns);
	}
	return 0;
}

int
shmq_queue_foreach(struct shmq_bus *bus, const char *topic,
    int (*cb)(void *arg, const struct shmq_queue_info *info), void *arg)
{
	struct shmq_queue_info qi;
	struct shmq_topic *t;
	uint32_t id, n, q;
	int rc, err;

	if (bus == NULL || cb == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "queue foreach: bad arguments");
	if (topic != NULL) {
		if ((err = shmq__topic_get(bus, topic, false, 0, &t)) < 0)
			return err;
		id = t->id;
		n = id + 1;
	} else {
		id = 0;
		n = ck_pr_load_32(&bus->ctl->ntopics);
	}
	for (; id < n; id++) {
		if ((t = shmq__topic_by_id(bus, id)) == NULL ||
		    (ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_DELETED))
			continue;
		for (q = 0; q < t->queues; q++) {
			struct shmq_cq *cq = &t->cq[q];

			memset(&qi, 0, sizeof(qi));
			strlcpy(qi.topic, t->name, sizeof(qi.topic));
			qi.queue = (int)q;
			qi.queues = (int)t->queues;
			qi.mirror = (ck_pr_load_32(&t->tc->flags) &
			    SHMQ_TOPIC_F_MIRROR) != 0;
			qi.epoch = shmq__topic_epoch(t->tc);
			qi.fenced = (ck_pr_load_32(&t->tc->flags) &
			    SHMQ_TOPIC_F_FENCED) != 0;
			qi.min_off = ck_pr_load_64(&cq->qc->min_off);
			qi.max_off = shmq__cq_tail(cq);
			qi.messages = qi.max_off - qi.min_off;
			qi.last_store_ns = last_store(bus, t, cq, qi.min_off,
			    qi.max_off);
			if ((rc = cb(arg, &qi)) != 0)
				return rc;
		}
	}
	return 0;
}

int
shmq_client_foreach(struct shmq_bus *bus,
    int (*cb)(void *arg, const struct shmq_client_info *info), void *arg)
{
	static const char *roles[] = { "free", "producer", "consumer",
	    "admin" };
	struct shmq_client_info ci;
	uint32_t i, n, role;
	int rc;

	if (bus == NULL || cb == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "client foreach: bad arguments");
	n = ck_pr_load_32(&bus->ctl->nclients);
	for (i = 0; i < n; i++) {
		struct shmq_client_slot *s = shmq__client_slot(bus, i);

		if (s == NULL)
			continue;
		role = ck_pr_load_32(&s->role);
		if (role == SHMQ_ROLE_FREE || role > SHMQ_ROLE_ADMIN)
			continue;
		memset(&ci, 0, sizeof(ci));
		ci.id = i;
		ci.pid = s->pid;
		ci.alive = shmq__client_alive(s);
		strlcpy(ci.role, roles[role], sizeof(ci.role));
		memcpy(ci.name, s->name, sizeof(ci.name) - 1);
		ci.started_ns = s->started_ns;
		ci.heartbeat_ns = s->heartbeat_ns;
		ci.sent = s->sent;
		ci.received = s->received;
		if ((rc = cb(arg, &ci)) != 0)
			return rc;
	}
	return 0;
}

/*
 * Log offset of the dead letter that the record of entry E names if it is
 * a resend marker of this store, else UINT64_MAX.  The tag hash sorts out
 * all but the markers (and collisions) without reading a record.
 */
static uint64_t
marker_target(struct shmq_bus *bus, const struct shmq_cq_entry *e,
    uint32_t mhash)
{
	const struct shmq_rec *r;
	const char *tags, *v;
	char id[SHMQ_MSGID_LEN + 1];
	uint64_t sid, off;
	size_t vl;
	int err;

	if (ck_pr_load_32(&e->tag_hash) != mhash)
		return UINT64_MAX;
	r = shmq__log_record(bus, ck_pr_load_64(&e->log_off),
	    ck_pr_load_32(&e->size), false, &err);
	if (r == NULL)
		return UINT64_MAX;
	tags = (const char *)(r + 1) + r->topic_len;
	if (r->tags_len != strlen(SHMQ_DLQ_RESENT_TAG) ||
	    memcmp(tags, SHMQ_DLQ_RESENT_TAG, r->tags_len) != 0)
		return UINT64_MAX;
	v = shmq__prop_find(tags + r->tags_len + r->keys_len, r->props_len,
	    SHMQ_PROP_RESENT_ID, &vl);
	if (v == NULL || vl != SHMQ_MSGID_LEN)
		return UINT64_MAX;
	memcpy(id, v, vl);
	id[vl] = '\0';
	if (shmq__msg_id_parse(id, &sid, &off) < 0 || sid != bus->store_id)
		return UINT64_MAX;
	return off;
}

/*
 * Dead letters of DLQ topic T: committed entries from min_off on that are
 * not markers (*dead), and how many of them a marker names (*resent).  Two
 * passes over the index; the markers' targets are sorted for the second.
 */
static int
dlq_counts(struct shmq_bus *bus, struct shmq_topic *t, uint64_t *dead,
    uint64_t *resent)
{
	struct shmq_cq_entry *e;
	uint64_t *tg = NULL, *ntg, min, max, off, lo;
	size_t n = 0, cap = 0;
	uint32_t q, mhash = shmq__tag_hash(SHMQ_DLQ_RESENT_TAG,
	    strlen(SHMQ_DLQ_RESENT_TAG));
	int err, pass;

	*dead = *resent = 0;
	for (pass = 0; pass < 2; pass++) {
		for (q = 0; q < t->queues; q++) {
			min = ck_pr_load_64(&t->cq[q].qc->min_off);
			max = shmq__cq_tail(&t->cq[q]);
			for (off = min; off < max; off++) {
				e = shmq__cq_entry(bus, t, &t->cq[q], off,
				    false, &err);
				if (e == NULL || shmq__cq_state(e) !=
				    SHMQ_CQ_COMMITTED)
					continue;
				lo = marker_target(bus, e, mhash);
				if (pass == 0) {
					if (lo == UINT64_MAX)
						continue;
					if (n == cap) {
						cap = cap == 0 ? 64 : cap * 2;
						ntg = reallocarray(tg, cap,
						    sizeof(*tg));
						if (ntg == NULL) {
							free(tg);
							return SHMQ_ERR(
							    SHMQ_ENOMEM,
							    "dead letters");
						}
						tg = ntg;
					}
					tg[n++] = lo;
					continue;
				}
				if (lo != UINT64_MAX)
					continue;
				(*dead)++;
				lo = ck_pr_load_64(&e->log_off);
				if (n > 0 && bsearch(&lo, tg, n, sizeof(*tg),
				    shmq__cmp_u64) != NULL)
					(*resent)++;
			}
		}
		if (pass == 0 && n > 1)
			qsort(tg, n, sizeof(*tg), shmq__cmp_u64);
	}
	free(tg);
	return 0;
}

/*
 * Retry and dead-letter counts of group GI (whose queues[] are filled).
 * The retry topic's offsets are the group's like any topic's; before a
 * member has subscribed to it, all its messages are pending.
 */
static int
retry_counts(struct shmq_bus *bus, struct shmq_group_info *gi,
    const struct shmq_group_queue_info *qi, size_t nq)
{
	char name[SHMQ_NAME_MAX + 16];
	struct shmq_topic *t;
	size_t i;
	uint32_t q;
	int seen = 0;

	if ((size_t)snprintf(name, sizeof(name), "%s%s", SHMQ_RETRY_PREFIX,
	    gi->name) < sizeof(name) &&
	    (t = shmq__topic_find(bus, name)) != NULL) {
		gi->has_retry = 1;
		for (i = 0; i < nq; i++)
			if (strcmp(qi[i].topic, name) == 0) {
				gi->retry_pending += qi[i].lag;
				seen = 1;
			}
		for (q = 0; !seen && q < t->queues; q++)
			gi->retry_pending += shmq__cq_tail(&t->cq[q]) -
			    ck_pr_load_64(&t->cq[q].qc->min_off);
	}
	if ((size_t)snprintf(name, sizeof(name), "%s%s", SHMQ_DLQ_PREFIX,
	    gi->name) < sizeof(name) &&
	    (t = shmq__topic_find(bus, name)) != NULL) {
		gi->has_dlq = 1;
		return dlq_counts(bus, t, &gi->dlq_messages, &gi->dlq_resent);
	}
	return 0;
}

/* Snapshot group G (under the admin lock), then call CB without it. */
static int
group_info(struct shmq_bus *bus, struct shmq_group_ctl *g,
    int (*cb)(void *arg, const struct shmq_group_info *info), void *arg)
{
	struct shmq_group_member_info *mi = NULL;
	struct shmq_group_queue_info *qi = NULL;
	struct shmq_group_members *ma;
	struct shmq_group_osets *oa;
	struct shmq_group_info gi;
	uint64_t *tok = NULL, now = shmq__coarse_ms(), beat, owner;
	uint32_t nm = 0, no = 0, i, j, q, nq = 0;
	int rc;

	memset(&gi, 0, sizeof(gi));
	if ((rc = shmq__admin_lock(bus)) < 0)
		return rc;
	if ((ma = shmq__group_members(bus, g)) != NULL)
		nm = ma->n < ma->cap ? ma->n : ma->cap;
	if ((oa = shmq__group_osets(bus, g)) != NULL)
		no = oa->n < oa->cap ? oa->n : oa->cap;
	for (i = 0; i < no; i++)
		nq += oa->o[i].queues <= SHMQ_MAX_QUEUES ? oa->o[i].queues : 0;
	mi = calloc(nm + 1, sizeof(*mi));
	tok = calloc(nm + 1, sizeof(*tok));
	qi = calloc(nq + 1, sizeof(*qi));
	if (mi == NULL || tok == NULL || qi == NULL) {
		shmq__admin_unlock(bus);
		rc = SHMQ_ERR(SHMQ_ENOMEM, "group info");
		goto out;
	}
	for (i = 0; i < nm; i++) {
		const struct shmq_group_member *m = &ma->m[i];
		struct shmq_client_slot *s = shmq__client_slot(bus, m->slot);

		mi[i].client_id = m->slot;
		mi[i].pid = m->pid;
		memcpy(mi[i].instance, m->instance, sizeof(mi[i].instance) - 1);
		mi[i].joined_ns = m->joined_ns;
		beat = s != NULL ? ck_pr_load_64(&s->beat_ms) : 0;
		mi[i].heartbeat_age_ms = now > beat ? now - beat : 0;
		tok[i] = m->token;
	}
	nq = 0;
	for (i = 0; i < no; i++) {
		const struct shmq_group_oset *o = &oa->o[i];
		struct shmq_topic *t = shmq__topic_by_id(bus, o->topic_id);
		struct shmq_group_queue *gq = shmq__oset_queues(bus, o);

		if (t == NULL || gq == NULL || o->first_queue >= t->queues)
			continue;
		/* A grown topic's added queues have sets of their own. */
		for (q = 0; q < o->queues && q < t->queues - o->first_queue;
		    q++) {
			struct shmq_group_queue_info *x = &qi[nq++];
			const uint32_t tq = o->first_queue + q;

			strlcpy(x->topic, t->name, sizeof(x->topic));
			memcpy(x->instance, o->instance,
			    sizeof(x->instance) - 1);
			x->queue = (int)tq;
			x->committed = shmq__commit_off(
			    ck_pr_load_64(&gq[q].committed));
			x->min_off = ck_pr_load_64(&t->cq[tq].qc->min_off);
			x->max_off = shmq__cq_tail(&t->cq[tq]);
			x->lag = x->max_off > x->committed ?
			    x->max_off - x->committed : 0;
			owner = ck_pr_load_64(&gq[q].owner);
			for (j = 0; owner != 0 && j < nm; j++) {
				if (tok[j] != owner)
					continue;
				x->owner_pid = mi[j].pid;
				x->owner_client = mi[j].client_id;
				mi[j].queues++;
			}
			/* Broadcasting: a member follows its instance's. */
			for (j = 0; o->instance[0] != '\0' && j < nm; j++)
				if (strcmp(mi[j].instance, x->instance) == 0)
					mi[j].queues++;
		}
	}
	strlcpy(gi.name, g->name, sizeof(gi.name));
	strlcpy(gi.model, g->model == SHMQ_GROUP_BROADCASTING ?
	    "broadcasting" : "clustering", sizeof(gi.model));
	strlcpy(gi.strategy, shmq__alloc_strategy_name(
	    (enum shmq__alloc_strategy)g->strategy), sizeof(gi.strategy));
	gi.generation = ck_pr_load_64(&g->generation);
	gi.resets = ck_pr_load_64(&g->resets);
	shmq__admin_unlock(bus);
	/* Liveness reads /proc: outside the lock. */
	for (i = 0; i < nm; i++)
		mi[i].alive = !shmq__claim_owner_dead(bus, tok[i]);
	gi.nmembers = nm;
	gi.members = mi;
	gi.nqueues = nq;
	gi.queues = qi;
	if ((rc = retry_counts(bus, &gi, qi, nq)) < 0)
		goto out;
	rc = cb(arg, &gi);
out:
	free(mi);
	free(tok);
	free(qi);
	return rc;
}

int
shmq_group_foreach(struct shmq_bus *bus, const char *group,
    int (*cb)(void *arg, const struct shmq_group_info *info), void *arg)
{
	struct shmq_group_ctl *g;
	uint32_t id, n;
	int rc, found = 0;

	if (bus == NULL || cb == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "group foreach: bad arguments");
	if (group != NULL && !shmq__name_ok(group))
		return SHMQ_ERR(SHMQ_ENAME, "group \"%s\"", group);
	n = ck_pr_load_32(&bus->ctl->ngroups);
	ck_pr_fence_load();
	for (id = 0; id < n; id++) {
		g = shmq__group_ctl(bus, id);
		if (g == NULL || ck_pr_load_32(&g->ready) != 1 ||
		    memchr(g->name, '\0', sizeof(g->name)) == NULL)
			continue;
		ck_pr_fence_load();
		if (group != NULL && strcmp(g->name, group) != 0)
			continue;
		found = 1;
		if ((rc = group_info(bus, g, cb, arg)) != 0)
			return rc;
	}
	if (group != NULL && !found)
		return SHMQ_ERR(SHMQ_ENOGROUP, "group \"%s\" on bus \"%s\"",
		    group, bus->name);
	return 0;
}
