/*
 * topicadmin.c - changing and deleting topics: shmq_topic_update (grow the
 * queues, permissions, retention), shmq_topic_delete, and the tombstones
 * that keep recovery from bringing a deleted topic back.
 *
 * Every change holds the admin mutex, writes the store first (so that a
 * crash leaves the store saying at least what processes may have acted
 * on), then the control region, then adds SHMQ_TOPIC_F_CHANGE to the
 * topic's flags word (release): producers compare that word with their
 * view's at every send (topic.h, shmq__topic_writable) and catch up on
 * the slow path; consumer groups are told by a generation bump.
 *
 * Growing queues.  Producers write their queues' control blocks without
 * a lock (tail hint, holes, min_off), so a copy of the live array would
 * lose their updates.  The blocks never move instead: the added queues get
 * a new array, and a directory of SHMQ_MAX_QUEUES offsets (8 KiB, made at
 * the first growth, at tc->qdir_off) names every queue's block, old and
 * new.  A slot of the directory is written once, before the count that
 * makes it reachable (release), so readers need no lock.  The directory
 * is fixed-size because the queue count is bounded: it never moves
 * either.  Group offsets take the same approach (offsets.c: a set of its
 * own for the added queues).
 *
 * Deleting.  The topic keeps its id and blocks (ids are never reused, so
 * views held by live processes stay valid) and gets SHMQ_TOPIC_F_DELETED:
 * the name hash skips it, producers get SHMQ_ENOTOPIC, consumers nothing.
 * Its index directory is renamed out of consumequeue/ into the trash
 * (atomic: recovery never finds half of it; retention.h) and removed
 * there.  Its records stay in the commitlog until retention reclaims
 * them; a tombstone, one line "<name> <log offset> <time>" in the store's
 * "tombstones" file (fsynced before the index goes), tells recovery to
 * skip the records of that name below that offset, all written before
 * the deletion.  A line is dropped once the log no longer holds anything
 * below its offset.
 *
 * Late producers.  A send checks the flags word once, before it claims an
 * index entry and reserves log space (producer.c), so a send that passed
 * the check just before the flag can still store its record after it.
 * Three consequences, and what is done about each:
 *  - its record lies above the tombstone written before the flag, so
 *    recovery would index it (bringing the topic back, or into a new topic
 *    of the name).  The deletion therefore holds the admin lock (no new
 *    topic of the name meanwhile) for a grace period after the flag
 *    (SHMQ_DELETE_GRACE_NS) and then writes the tombstone again at the
 *    log tail: every record reserved within the grace is below it.  The
 *    cost: a deletion takes that long, and admin changes (group joins and
 *    rebalances, offset saves, topic creation) wait for it meanwhile.
 *    Still open: a send descheduled for longer than the grace between its
 *    check and its log reservation stores a record above the tombstone,
 *    which a recovery that scans it (a crash before the next checkpoint)
 *    indexes.  Closing that needs the send to load the flags again after
 *    its reservation and abort its record if deleted (Dekker with the
 *    flag's CAS and the tail load here; the word shares the line the
 *    send's wake-up writes anyway): a change to producer.c, not made here;
 *  - it may need a new index file, whose path is the name's: a new topic
 *    of the name would have it made in its directory and written by the
 *    old topic's producer.  A deleted topic's view maps no new file
 *    (consumequeue.c: checked before making the file and again once it is
 *    mapped, which the new directory's creation after the flag orders);
 *  - a crash while the trash is emptied leaves files there: the next
 *    deletion, retention pass or rebuild of the bus removes them, and
 *    each deletion renames to a name of its own (name, id and time), so a
 *    leftover of an earlier topic with the same id never blocks it.
 * A crash between the first tombstone and the rename leaves the topic in
 * consumequeue/ (the deletion did not return): recovery brings it back
 * with its index, minus records below the tombstone that the index lacked
 * (an entry its producer died before committing).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "group.h"
#include "internal.h"
#include "offsets.h"
#include "region.h"
#include "retention.h"
#include "topic.h"
#include "wait.h"

struct shmq_tomb {
	char		 name[SHMQ_NAME_MAX + 1];
	uint64_t	 log_off;	/* records below: the deleted topic's */
	uint64_t	 deleted_ns;
};

struct shmq_tombs {
	struct shmq_tomb	*v;
	size_t			 n;
};

/* ------------------------------------------------------------------ */
/* Tombstones                                                          */
/* ------------------------------------------------------------------ */

static void
tombs_path(const struct shmq_bus *bus, char *buf, size_t len)
{
	snprintf(buf, len, "%s/tombstones", bus->path);
}

/*
 * Read the tombstones file into *TS (one entry per name: the highest
 * offset).  Lines that do not parse are skipped.  0, or a code.
 */
static int
tombs_read(const struct shmq_bus *bus, struct shmq_tombs *ts)
{
	char path[PATH_MAX], line[256], name[SHMQ_NAME_MAX + 1];
	unsigned long long off, ns;
	struct shmq_tomb *nv;
	size_t i;
	FILE *f;

	ts->v = NULL;
	ts->n = 0;
	tombs_path(bus, path, sizeof(path));
	if ((f = fopen(path, "re")) == NULL)
		return errno == ENOENT ? 0 : shmq__err_sys(errno, "open",
		    path);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%127s %llu %llu", name, &off, &ns) != 3 ||
		    !shmq__name_ok(name))
			continue;
		for (i = 0; i < ts->n; i++)
			if (strcmp(ts->v[i].name, name) == 0)
				break;
		if (i < ts->n) {
			if (off > ts->v[i].log_off) {
				ts->v[i].log_off = off;
				ts->v[i].deleted_ns = ns;
			}
			continue;
		}
		if ((nv = reallocarray(ts->v, ts->n + 1, sizeof(*nv))) ==
		    NULL) {
			fclose(f);
			free(ts->v);
			ts->v = NULL;
			ts->n = 0;
			return SHMQ_ERR(SHMQ_ENOMEM, "tombstones");
		}
		ts->v = nv;
		strlcpy(ts->v[ts->n].name, name, sizeof(ts->v[0].name));
		ts->v[ts->n].log_off = off;
		ts->v[ts->n].deleted_ns = ns;
		ts->n++;
	}
	fclose(f);
	return 0;
}

/*
 * Record that NAME was deleted with the log at LOG_OFF: rewrite the file
 * (synced), without the lines the log no longer needs.  Admin lock held.
 */
static int
tomb_add(struct shmq_bus *bus, const char *name, uint64_t log_off)
{
	const uint64_t min = ck_pr_load_64(&bus->ctl->log_min_off);
	char path[PATH_MAX];
	struct shmq_tombs ts;
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f;
	int err;

	if ((err = tombs_read(bus, &ts)) < 0)
		return err;
	if ((f = open_memstream(&buf, &len)) == NULL) {
		free(ts.v);
		return SHMQ_ERR(SHMQ_ENOMEM, "tombstones");
	}
	fprintf(f, "# shmq deleted topics: name, log offset, time (ns)\n");
	for (i = 0; i < ts.n; i++)
		if (strcmp(ts.v[i].name, name) != 0 && ts.v[i].log_off > min)
			fprintf(f, "%s %" PRIu64 " %" PRIu64 "\n",
			    ts.v[i].name, ts.v[i].log_off,
			    ts.v[i].deleted_ns);
	fprintf(f, "%s %" PRIu64 " %" PRIu64 "\n", name, log_off,
	    shmq__real_ns());
	free(ts.v);
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		return SHMQ_ERR(SHMQ_ENOMEM, "tombstones");
	}
	tombs_path(bus, path, sizeof(path));
	err = shmq__file_replace(path, buf, len, &bus->perm, true);
	free(buf);
	return err;
}

bool
shmq__tombstone_hides(struct shmq_bus *bus, const char *name,
    uint64_t log_off)
{
	size_t i;

	if (bus->tombs == NULL) {
		if ((bus->tombs = calloc(1, sizeof(*bus->tombs))) == NULL)
			return false;
		/* Unreadable: nothing is hidden (the topic may come back;
		 * nothing is lost). */
		(void)tombs_read(bus, bus->tombs);
	}
	for (i = 0; i < bus->tombs->n; i++)
		if (strcmp(bus->tombs->v[i].name, name) == 0)
			return log_off < bus->tombs->v[i].log_off;
	return false;
}

void
shmq__tombstones_free(struct shmq_bus *bus)
{
	if (bus->tombs == NULL)
		return;
	free(bus->tombs->v);
	free(bus->tombs);
	bus->tombs = NULL;
}

/* ------------------------------------------------------------------ */
/* Settings                                                            */
/* ------------------------------------------------------------------ */

static unsigned
flags_perm(uint32_t f)
{
	return ((f & SHMQ_TOPIC_F_NOWRITE) ? 0 : SHMQ_PERM_WRITE) |
	    ((f & SHMQ_TOPIC_F_NOREAD) ? 0 : SHMQ_PERM_READ);
}

/* Set the bits SET and clear CLEAR of the flags, and count a change. */
void
shmq__topic_flags_change(struct shmq_topic_ctl *tc, uint32_t set,
    uint32_t clear)
{
	uint32_t f, nf;

	/* The control region's new state before the word that tells
	 * producers to look (topic.h, shmq__topic_writable). */
	ck_pr_fence_store();
	do {
		f = ck_pr_load_32(&tc->flags);
		nf = ((f & ~clear) | set) + SHMQ_TOPIC_F_CHANGE;
	} while (!ck_pr_cas_32(&tc->flags, f, nf));
}

/* Bump the generation of every group with offsets for topic ID, so that
 * its members look at the topic again.  Admin lock held. */
static void
groups_bump(struct shmq_bus *bus, uint32_t id)
{
	uint32_t gid, ng = ck_pr_load_32(&bus->ctl->ngroups), i, n;
	struct shmq_group_osets *a;
	struct shmq_group_ctl *g;

	for (gid = 0; gid < ng; gid++) {
		if ((g = shmq__group_ctl(bus, gid)) == NULL ||
		    ck_pr_load_32(&g->ready) != 1 ||
		    (a = shmq__group_osets(bus, g)) == NULL)
			continue;
		n = ck_pr_load_32(&a->n);
		for (i = 0; i < n && i < a->cap; i++)
			if (a->o[i].topic_id == id)
				break;
		if (i < n && i < a->cap)
			shmq__group_bump(bus, g);
	}
}

/* The live topic NAME's view, or SHMQ_ENAME / SHMQ_ENOTOPIC. */
static int
lookup(struct shmq_bus *bus, const char *name, struct shmq_topic **out)
{
	if (bus == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "no bus");
	if (!shmq__name_ok(name))
		return SHMQ_ERR(SHMQ_ENAME, "topic \"%s\"",
		    name != NULL ? name : "(null)");
	if ((*out = shmq__topic_find(bus, name)) == NULL)
		return SHMQ_ERR(SHMQ_ENOTOPIC, "topic \"%s\" on bus \"%s\"",
		    name, bus->name);
	return 0;
}

/*
 * Take the admin lock if T is still there (a deletion may have come
 * between the lookup and the lock).  0 with the lock, or a code without.
 */
static int
lock_live(struct shmq_bus *bus, struct shmq_topic *t)
{
	int err;

	if ((err = shmq__admin_lock(bus)) < 0)
		return err;
	if (ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_DELETED) {
		shmq__admin_unlock(bus);
		return SHMQ_ERR(SHMQ_ENOTOPIC, "topic \"%s\" on bus \"%s\": "
		    "deleted", t->name, bus->name);
	}
	return 0;
}

int
shmq_topic_conf_get(struct shmq_bus *bus, const char *topic,
    struct shmq_topic_conf *out)
{
	struct shmq_topic *t;
	int err;

	if (out == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "topic conf: no output");
	if ((err = lookup(bus, topic, &t)) < 0)
		return err;
	out->queues = ck_pr_load_32(&t->tc->queues);
	out->perm = flags_perm(ck_pr_load_32(&t->tc->flags));
	out->retention_ms = ck_pr_load_64(&t->tc->retention_ms);
	return 0;
}

/*
 * Give the topic at TC (named NAME) N queues, N above its count: blocks
 * for the added queues, the directory, the queue directories and meta in
 * the store, then the count (release).  Admin lock held.
 */
static int
grow_locked(struct shmq_bus *bus, struct shmq_topic_ctl *tc,
    const char *name, uint32_t n, uint32_t flags, uint64_t retention_ms)
{
	const uint32_t old = tc->queues;
	const uint64_t QC = sizeof(struct shmq_queue_ctl);
	uint64_t qoff, doff = tc->qdir_off, *dir;
	char path[PATH_MAX];
	uint32_t q;
	int err;

	/* Control region first, unpublished: a failure changes nothing. */
	if ((qoff = shmq__ctl_alloc(bus, (uint64_t)(n - old) * QC,
	    &err)) == 0)
		return err;
	if (doff == 0 && (doff = shmq__ctl_alloc(bus, SHMQ_MAX_QUEUES *
	    sizeof(uint64_t), &err)) == 0)
		return err;
	if ((dir = shmq__ctl_ptr(bus, doff, SHMQ_MAX_QUEUES *
	    sizeof(uint64_t))) == NULL)
		return SHMQ_ERR(SHMQ_ECORRUPT, "topic \"%s\": queue "
		    "directory", name);
	/* The store next: directories, then meta (synced), so that a crash
	 * from here on recovers the new count (recover.c reads meta, or
	 * counts the directories) and indexes what was sent to them. */
	for (q = old; q < n; q++)
		if ((err = shmq__queue_dir(bus, name, q, path,
		    sizeof(path))) < 0 ||
		    (err = shmq__mkdir_p(path, &bus->perm)) < 0)
			return err;
	if ((err = shmq__topic_meta_write(bus, name, n, flags, retention_ms,
	    true)) < 0)
		return err;
	/* Publish: slots, then the directory, then the count (release
	 * each; readers: shmq__topic_queue_ctl, view_grow in topic.c). */
	if (tc->qdir_off == 0)
		for (q = 0; q < old; q++)
			dir[q] = tc->queue_off + (uint64_t)q * QC;
	for (q = old; q < n; q++)
		dir[q] = qoff + (uint64_t)(q - old) * QC;
	ck_pr_fence_store();
	ck_pr_store_64(&tc->qdir_off, doff);
	ck_pr_fence_store();
	ck_pr_store_32(&tc->queues, n);
	return 0;
}

static int
perm_flags(unsigned perm, uint32_t *f)
{
	if ((perm & ~SHMQ_PERM_RW) != 0)
		return -1;
	*f = ((perm & SHMQ_PERM_WRITE) ? 0 : SHMQ_TOPIC_F_NOWRITE) |
	    ((perm & SHMQ_PERM_READ) ? 0 : SHMQ_TOPIC_F_NOREAD);
	return 0;
}

int
shmq_topic_update(struct shmq_bus *bus, const char *topic,
    const struct shmq_topic_conf *conf, unsigned mask)
{
	const uint32_t PERM = SHMQ_TOPIC_F_NOWRITE | SHMQ_TOPIC_F_NOREAD;
	struct shmq_topic_ctl *tc;
	struct shmq_topic *t;
	uint32_t pf = 0, flags, cur;
	uint64_t retention;
	int err;

	if (conf == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "topic \"%s\": no settings",
		    topic != NULL ? topic : "(null)");
	if ((mask & ~(SHMQ_TOPIC_SET_QUEUES | SHMQ_TOPIC_SET_PERM |
	    SHMQ_TOPIC_SET_RETENTION)) != 0)
		return SHMQ_ERR(SHMQ_EINVAL, "topic \"%s\": update mask %#x",
		    topic != NULL ? topic : "(null)", mask);
	if ((err = lookup(bus, topic, &t)) < 0)
		return err;
	if ((mask & SHMQ_TOPIC_SET_QUEUES) && (conf->queues == 0 ||
	    conf->queues > SHMQ_MAX_QUEUES))
		return SHMQ_ERR(SHMQ_EINVAL, "topic \"%s\": %u queues (1 to "
		    "%d)", topic, conf->queues, SHMQ_MAX_QUEUES);
	if ((mask & SHMQ_TOPIC_SET_PERM) && perm_flags(conf->perm, &pf) < 0)
		return SHMQ_ERR(SHMQ_EINVAL, "topic \"%s\": permission %u "
		    "(2 write, 4 read, 6 both, 0 none)", topic, conf->perm);
	if ((err = lock_live(bus, t)) < 0)
		return err;
	tc = t->tc;
	if ((mask & SHMQ_TOPIC_SET_QUEUES) && conf->queues < tc->queues) {
		err = SHMQ_ERR(SHMQ_EINVAL, "topic \"%s\": cannot shrink from "
		    "%u to %u queues (offsets are forever: a queue's messages "
		    "and its consumers' offsets never go away)", topic,
		    tc->queues, conf->queues);
		goto out;
	}
	cur = ck_pr_load_32(&tc->flags) & PERM;
	flags = (mask & SHMQ_TOPIC_SET_PERM) ? pf : cur;
	/* A mirror stays one (mirror.c): only replication writes it.  A
	 * fenced copy stays read-only (promote.h): another host is home. */
	if (ck_pr_load_32(&tc->flags) & SHMQ_TOPIC_F_MIRROR) {
		if ((flags & SHMQ_TOPIC_F_NOWRITE) == 0) {
			err = SHMQ_ERR(SHMQ_ETOPICPERM, "topic \"%s\": a "
			    "mirror cannot be made writable (promote it "
			    "instead)", topic);
			goto out;
		}
		flags |= SHMQ_TOPIC_F_MIRROR;
	} else if ((ck_pr_load_32(&tc->flags) & SHMQ_TOPIC_F_FENCED) &&
	    (flags & SHMQ_TOPIC_F_NOWRITE) == 0) {
		err = SHMQ_ERR(SHMQ_ETOPICPERM, "topic \"%s\": fenced (another "
		    "host was promoted to its home): it cannot be made "
		    "writable", topic);
		goto out;
	}
	retention = (mask & SHMQ_TOPIC_SET_RETENTION) ? conf->retention_ms :
	    ck_pr_load_64(&tc->retention_ms);
	if ((mask & SHMQ_TOPIC_SET_QUEUES) && conf->queues > tc->queues)
		err = grow_locked(bus, tc, t->name, conf->queues, flags,
		    retention);
	else
		err = shmq__topic_meta_write(bus, t->name, tc->queues, flags,
		    retention, true);
	if (err < 0)
		goto out;
	ck_pr_store_64(&tc->retention_ms, retention);
	shmq__topic_flags_change(tc, flags, PERM & ~flags);
	/* Sleepers on the topic look again (a read permission given back
	 * leaves them something to read at once). */
	ck_ec64_inc(&tc->ec, &shmq__ec_mp);
	if (mask & SHMQ_TOPIC_SET_QUEUES)
		groups_bump(bus, t->id);
out:
	shmq__admin_unlock(bus);
	return err;
}

/* ------------------------------------------------------------------ */
/* Deleting                                                            */
/* ------------------------------------------------------------------ */

/*
 * The grace after the deletion flag (see the top): sends that passed their
 * check before it reserve their log space within it, unless descheduled
 * that long.  SHMQ_DELETE_GRACE_MS from the environment, else this.
 */
#define SHMQ_DELETE_GRACE_NS	(50ull * 1000000)

/* Sleep until CLOCK_MONOTONIC reaches DEADLINE_NS. */
static void
sleep_until(uint64_t deadline_ns)
{
	struct timespec ts;
	uint64_t now;

	while ((now = shmq__mono_ns()) < deadline_ns) {
		ts.tv_sec = (time_t)((deadline_ns - now) / 1000000000ull);
		ts.tv_nsec = (long)((deadline_ns - now) % 1000000000ull);
		(void)nanosleep(&ts, NULL);
	}
}

int
shmq_topic_delete(struct shmq_bus *bus, const char *topic, unsigned flags)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct shmq_topic_ctl *tc;
	struct shmq_topic *t;
	int err;

	if ((flags & ~SHMQ_TOPIC_FORCE) != 0)
		return SHMQ_ERR(SHMQ_EINVAL, "topic \"%s\": delete flags %#x",
		    topic != NULL ? topic : "(null)", flags);
	if ((err = lookup(bus, topic, &t)) < 0)
		return err;
	if (topic[0] == '%' && !(flags & SHMQ_TOPIC_FORCE))
		return SHMQ_ERR(SHMQ_EINVAL, "topic \"%s\" is a system topic "
		    "(retry, dead-letter or delay): delete it with the force "
		    "flag", topic);
	if ((err = lock_live(bus, t)) < 0)
		return err;
	tc = t->tc;
	/* Tombstone first: from here on recovery skips what was written.
	 * Then the index leaves consumequeue/ in one rename (recovery makes
	 * topics from what is there) to a name no earlier deletion used,
	 * then the control region. */
	if ((err = tomb_add(bus, t->name, ck_pr_load_64(
	    &bus->ctl->log_tail))) < 0)
		goto out;
	snprintf(to, sizeof(to), "%s/%s", bus->path, SHMQ_TRASH_DIR);
	if ((err = shmq__mkdir_p(to, &bus->perm)) < 0)
		goto out;
	snprintf(from, sizeof(from), "%s/consumequeue/%s", bus->path,
	    t->name);
	snprintf(to, sizeof(to), "%s/%s/%s.%u.%" PRIx64, bus->path,
	    SHMQ_TRASH_DIR, t->name, t->id, shmq__real_ns());
	if (rename(from, to) < 0 && errno != ENOENT) {
		err = shmq__err_sys(errno, "rename", from);
		goto out;
	}
	/* A full barrier (CAS): the flag, then the tail loaded below. */
	shmq__topic_flags_change(tc, SHMQ_TOPIC_F_DELETED, 0);
	ck_ec64_inc(&tc->ec, &shmq__ec_mp);
	ck_ec64_inc(&bus->ctl->doorbell, &shmq__ec_mp);
	/* Late sends (see the top): let them reserve, then put the
	 * tombstone above what they wrote.  Failing that, the first one
	 * stands: the deletion is done all the same. */
	sleep_until(shmq__mono_ns() + shmq__grace_env_ns(
	    "SHMQ_DELETE_GRACE_MS", SHMQ_DELETE_GRACE_NS));
	(void)tomb_add(bus, t->name, ck_pr_load_64(&bus->ctl->log_tail));
	shmq__retain_trash(bus);
	groups_bump(bus, t->id);
out:
	shmq__admin_unlock(bus);
	if (err < 0)
		return err;
	/* Groups forget it: their files are written again without it. */
	shmq__offsets_save_all(bus);
	return 0;
}
