/*
 * info.c - introspection for shmq-stat: the bus, its queues and clients.
 * Reads the control region without locks; every figure is a snapshot.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "client.h"
#include "consumequeue.h"
#include "internal.h"
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
		if ((t = shmq__topic_by_id(bus, id)) == NULL)
			continue;
		for (q = 0; q < t->queues; q++) {
			struct shmq_cq *cq = &t->cq[q];

			memset(&qi, 0, sizeof(qi));
			strlcpy(qi.topic, t->name, sizeof(qi.topic));
			qi.queue = (int)q;
			qi.queues = (int)t->queues;
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
