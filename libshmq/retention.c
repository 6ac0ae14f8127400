/*
 * retention.c - reclaiming old segments, and the write refusal above the
 * hard disk ceiling (see retention.h).
 *
 * A pass, in an order that a crash at any point leaves recoverable:
 *  1. decide how many of the oldest segments go: those whose newest record
 *     is older than the longest retention of any topic, or as many as bring
 *     the store under its soft ceilings, never the segment the tail is in,
 *     and (protected groups) never one holding a message a group has not
 *     consumed yet;
 *  2. raise log_min_off (readers stop trusting anything below);
 *  3. raise every queue's min_off past the entries that point below it (or,
 *     for a topic with a shorter retention, that are older than it) and
 *     unlink the index files wholly below;
 *  4. unlink the segments, then the key index files wholly below;
 *  5. measure the store and its file system and set write_refused.
 * Before all that, it empties the trash of deleted topics' index
 * directories (what a deletion that crashed left there).
 * Recovery rebuilds log_min_off from the oldest segment left and min_off
 * from the oldest index file left; entries that still point below are
 * skipped by readers as reclaimed, and the next pass drops them.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "commitlog.h"
#include "consumequeue.h"
#include "group.h"
#include "internal.h"
#include "offsets.h"
#include "retention.h"
#include "topic.h"

/* The lowest committed offset any group has on one queue. */
struct qmin {
	uint64_t	key;		/* topic id << 11 | queue */
	uint64_t	committed;
};

#define QKEY(tid, q)	(((uint64_t)(tid) << 11) | (q))
_Static_assert(SHMQ_MAX_QUEUES <= (1u << 11), "queue fits the key");

static int
qmin_cmp(const void *a, const void *b)
{
	const struct qmin *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

/*
 * Every (topic, queue) some group has offsets on, with the lowest committed
 * offset, sorted by key in *out (free it).  0 or SHMQ_ENOMEM.
 */
static int
group_minima(struct shmq_bus *bus, struct qmin **out, size_t *nout)
{
	struct qmin *v = NULL, *nv;
	size_t n = 0, cap = 0, i, k;
	uint32_t gid, ng = ck_pr_load_32(&bus->ctl->ngroups), q, no;

	for (gid = 0; gid < ng; gid++) {
		struct shmq_group_ctl *g = shmq__group_ctl(bus, gid);
		struct shmq_group_osets *oa;

		if (g == NULL || ck_pr_load_32(&g->ready) != 1)
			continue;
		ck_pr_fence_load();
		if ((oa = shmq__group_osets(bus, g)) == NULL)
			continue;
		no = ck_pr_load_32(&oa->n);
		if (no > oa->cap)
			no = oa->cap;
		for (i = 0; i < no; i++) {
			const struct shmq_group_oset *o = &oa->o[i];
			struct shmq_group_queue *gq = shmq__oset_queues(bus, o);

			if (gq == NULL || o->queues > SHMQ_MAX_QUEUES ||
			    o->first_queue > SHMQ_MAX_QUEUES - o->queues)
				continue;
			for (q = 0; q < o->queues; q++) {
				if (n == cap) {
					cap = cap ? cap * 2 : 64;
					if ((nv = realloc(v, cap * sizeof(*v))) ==
					    NULL) {
						free(v);
						return SHMQ_ERR(SHMQ_ENOMEM,
						    "retention: group offsets");
					}
					v = nv;
				}
				v[n].key = QKEY(o->topic_id,
				    o->first_queue + q);
				v[n++].committed = shmq__commit_off(
				    ck_pr_load_64(&gq[q].committed));
			}
		}
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), qmin_cmp);
	/* One element per key, with the lowest offset. */
	for (i = 0, k = 0; i < n; i++) {
		if (k > 0 && v[k - 1].key == v[i].key) {
			if (v[i].committed < v[k - 1].committed)
				v[k - 1].committed = v[i].committed;
			continue;
		}
		v[k++] = v[i];
	}
	*out = v;
	*nout = k;
	return 0;
}

/* The lowest committed offset of any group on queue Q of T, if any. */
static bool
qmin_find(const struct qmin *v, size_t n, uint32_t tid, uint32_t q,
    uint64_t *committed)
{
	struct qmin key = { .key = QKEY(tid, q) };
	const struct qmin *hit;

	hit = n > 0 ? bsearch(&key, v, n, sizeof(*v), qmin_cmp) : NULL;
	if (hit == NULL)
		return false;
	*committed = hit->committed;
	return true;
}

/*
 * Log offset of the first committed entry of CQ at or after OFF, looking
 * at most a short way (entries beyond are being written at the tail, far
 * from any segment a pass could take); UINT64_MAX if none.
 */
static uint64_t
first_log_off(struct shmq_bus *bus, struct shmq_topic *t, struct shmq_cq *cq,
    uint64_t off, uint64_t tail)
{
	struct shmq_cq_entry *e;
	uint64_t i;
	int err;

	for (i = 0; i < 4096 && off + i < tail; i++) {
		e = shmq__cq_entry(bus, t, cq, off + i, false, &err);
		if (e == NULL)
			break;
		if (shmq__cq_state(e) == SHMQ_CQ_COMMITTED)
			return ck_pr_load_64(&e->log_off);
	}
	return UINT64_MAX;
}

/*
 * Log offset below which no group (with ALL; else no group of a bus topic,
 * whose consumers are the bus's own machinery: delays, retries) has
 * anything left to consume; UINT64_MAX if nothing binds.  *who: the topic.
 */
static uint64_t
protected_off(struct shmq_bus *bus, const struct qmin *v, size_t n, bool all,
    char *who, size_t wlen)
{
	uint64_t best = UINT64_MAX, lo, tail, off;
	struct shmq_topic *t;
	struct shmq_cq *cq;
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t tid = (uint32_t)(v[i].key >> 11);
		uint32_t q = (uint32_t)(v[i].key & 2047);

		if ((t = shmq__topic_by_id(bus, tid)) == NULL ||
		    q >= t->queues || (!all && t->name[0] != '%') ||
		    (ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_DELETED))
			continue;
		cq = &t->cq[q];
		lo = ck_pr_load_64(&cq->qc->min_off);
		if (v[i].committed > lo)
			lo = v[i].committed;
		tail = shmq__cq_tail(cq);
		if (lo >= tail)
			continue;
		off = first_log_off(bus, t, cq, lo, tail);
		if (off < best) {
			best = off;
			strlcpy(who, t->name, wlen);
		}
	}
	return best;
}

/*
 * Store time of the newest record of the segment that ends at END: the
 * first record of the next one is no older, so this errs on keeping.
 * UINT64_MAX when that record is not readable yet.
 */
static uint64_t
seg_newest_ns(struct shmq_bus *bus, uint64_t end, uint64_t tail)
{
	const struct shmq_rec *r;
	char *base;
	int err;

	if (end + sizeof(*r) > tail)
		return UINT64_MAX;
	if ((base = shmq__log_seg(bus, end / bus->segment_bytes, false,
	    &err)) == NULL)
		return UINT64_MAX;
	r = (const struct shmq_rec *)base;
	if (ck_pr_load_32((uint32_t *)(uintptr_t)&r->size) < sizeof(*r))
		return UINT64_MAX;
	ck_pr_fence_acquire();
	if ((r->magic != SHMQ_REC_MAGIC && r->magic != SHMQ_ABORT_MAGIC) ||
	    r->log_off != end)
		return UINT64_MAX;
	return r->store_ns;
}

/*
 * Raise CQ's min_off past the entries that point below LOG_MIN or were
 * stored before NOT_BEFORE_NS, and unlink its index files wholly below.
 * Returns how many entries it passed.  *old: min_off before.
 */
static uint64_t
advance_queue(struct shmq_bus *bus, struct shmq_topic *t, struct shmq_cq *cq,
    uint64_t log_min, uint64_t not_before_ns, uint64_t *old)
{
	const uint64_t min = ck_pr_load_64(&cq->qc->min_off);
	const uint64_t tail = shmq__cq_tail(cq);
	struct shmq_cq_entry *e;
	uint64_t off, st, f, fend, idx;
	char path[PATH_MAX];
	int err;

	*old = min;
	for (off = min; off < tail; off++) {
		e = shmq__cq_entry(bus, t, cq, off, false, &err);
		if (e == NULL)
			break;
		st = shmq__cq_state(e);
		if (st == SHMQ_CQ_HOLE)
			continue;
		if (st != SHMQ_CQ_COMMITTED ||
		    (ck_pr_load_64(&e->log_off) >= log_min &&
		    ck_pr_load_64(&e->store_ns) >= not_before_ns))
			break;
	}
	if (off == min)
		return 0;
	/* Release: readers that see the new min find the log's too. */
	ck_pr_fence_store();
	ck_pr_store_64(&cq->qc->min_off, off);
	fend = shmq__cq_locate(bus, off, &idx);
	for (f = shmq__cq_locate(bus, min, &idx); f < fend; f++)
		if (shmq__cq_file_path(bus, t->name, cq->queue, f, path,
		    sizeof(path)) == 0)
			(void)unlink(path);
	return off - min;
}

/* Key index files wholly below LOG_MIN (the next one starts below it). */
static void
drop_key_index(struct shmq_bus *bus, uint64_t log_min)
{
	char dir[PATH_MAX], path[PATH_MAX];
	uint64_t *files;
	size_t n, i;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/index", bus->path) >=
	    sizeof(dir) || shmq__list_numbered(dir, &files, &n) < 0)
		return;
	for (i = 0; i + 1 < n && files[i + 1] <= log_min; i++)
		if ((size_t)snprintf(path, sizeof(path), "%s/%020llu", dir,
		    (unsigned long long)files[i]) < sizeof(path))
			(void)unlink(path);
	free(files);
}

static __thread uint64_t walk_bytes;

static int
walk_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)path;
	(void)f;
	if (flag == FTW_F && S_ISREG(st->st_mode))
		walk_bytes += (uint64_t)st->st_blocks * 512;
	return 0;
}

/* Bytes the store's files take on disk. */
static uint64_t
store_bytes(const struct shmq_bus *bus)
{
	walk_bytes = 0;
	(void)nftw(bus->path, walk_one, 16, FTW_PHYS | FTW_MOUNT);
	return walk_bytes;
}

/* The file system's use in percent (as df counts it) and free bytes. */
static int
disk_use(const struct shmq_bus *bus, uint32_t *pct, uint64_t *free_bytes)
{
	struct statvfs sv;

	if (statvfs(bus->path, &sv) < 0)
		return shmq__err_sys(errno, "statvfs", bus->path);
	*free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	*pct = sv.f_blocks == 0 ? 0 : (uint32_t)((sv.f_blocks - sv.f_bfree) *
	    100 / sv.f_blocks);
	return 0;
}

/* Bytes over a percentage of the file system, 0 if under. */
static uint64_t
disk_over(const struct shmq_bus *bus, uint32_t pct)
{
	struct statvfs sv;
	uint64_t used, lim;

	if (pct == 0 || statvfs(bus->path, &sv) < 0 || sv.f_blocks == 0)
		return 0;
	used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
	lim = (uint64_t)sv.f_blocks * sv.f_frsize / 100 * pct;
	return used > lim ? used - lim : 0;
}

/* The longest retention of any topic, in ns. */
static uint64_t
longest_retention_ns(struct shmq_bus *bus, uint64_t def_ms)
{
	uint32_t id, n = ck_pr_load_32(&bus->ctl->ntopics);
	uint64_t ms = def_ms, tms;
	struct shmq_topic *t;

	for (id = 0; id < n; id++) {
		if ((t = shmq__topic_by_id(bus, id)) == NULL ||
		    (ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_DELETED))
			continue;
		tms = ck_pr_load_64(&t->tc->retention_ms);
		if (tms > ms)
			ms = tms;
	}
	return ms > UINT64_MAX / 1000000 ? UINT64_MAX : ms * 1000000;
}

/*
 * Step 3 for every queue of every topic: entries below LOG_MIN, and those
 * older than a topic's own retention where it is shorter than the bus's.
 */
static void
advance_all(struct shmq_bus *bus, const struct shmq__retain_conf *c,
    uint64_t now_ns, uint64_t log_min, const struct qmin *v, size_t nv,
    struct shmq__retain_result *r)
{
	uint32_t id, n = ck_pr_load_32(&bus->ctl->ntopics), q;
	uint64_t tms, not_before, passed, old, committed;
	struct shmq_topic *t;

	for (id = 0; id < n; id++) {
		/* A deleted topic's files are gone (or belong to a new
		 * topic of the same name): leave it alone. */
		if ((t = shmq__topic_by_id(bus, id)) == NULL ||
		    (ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_DELETED))
			continue;
		tms = ck_pr_load_64(&t->tc->retention_ms);
		not_before = 0;
		if (tms != 0 && tms < c->retention_ms && now_ns / 1000000 > tms)
			not_before = now_ns - tms * 1000000;
		for (q = 0; q < t->queues; q++) {
			passed = advance_queue(bus, t, &t->cq[q], log_min,
			    not_before, &old);
			if (passed == 0)
				continue;
			r->entries += passed;
			if (qmin_find(v, nv, t->id, q, &committed) &&
			    committed < old + passed)
				r->unconsumed += old + passed -
				    (committed > old ? committed : old);
		}
	}
}

int
shmq__retain_pass(struct shmq_bus *bus, const struct shmq__retain_conf *c,
    uint64_t now_ns, struct shmq__retain_result *r)
{
	struct shmq_ctl *ctl = bus->ctl;
	const uint64_t S = bus->segment_bytes;
	char dir[PATH_MAX], path[PATH_MAX];
	uint64_t *segs = NULL, tail, first, retain_ns, prot, need, sb, min;
	uint64_t due_time = 0, due_space = 0, take, k, cur;
	struct qmin *v = NULL;
	size_t n = 0, nv = 0, i;
	int err;

	memset(r, 0, sizeof(*r));
	if ((size_t)snprintf(dir, sizeof(dir), "%s/commitlog", bus->path) >=
	    sizeof(dir))
		return SHMQ_ERR(SHMQ_EINVAL, "path too long");
	/* 0. What a deletion that crashed left in the trash (before the
	 * store is measured). */
	shmq__retain_trash(bus);
	if ((err = shmq__list_numbered(dir, &segs, &n)) < 0 ||
	    (err = group_minima(bus, &v, &nv)) < 0)
		goto out;
	tail = ck_pr_load_64(&ctl->log_tail);
	min = ck_pr_load_64(&ctl->log_min_off);
	/* Segments are contiguous from the oldest file (recover.c). */
	first = n > 0 ? segs[0] : min;
	if (first % S != 0)
		first = min;

	/* 1. How many of the oldest go. */
	retain_ns = longest_retention_ns(bus, c->retention_ms);
	for (k = first; k + S <= tail - tail % S; k += S) {
		uint64_t newest = seg_newest_ns(bus, k + S, tail);

		if (k + S > min && (newest == UINT64_MAX ||
		    now_ns < newest || now_ns - newest <= retain_ns))
			break;
		due_time++;
	}
	sb = store_bytes(bus);
	need = 0;
	if (c->store_max_bytes != 0 && sb > c->store_max_bytes)
		need = sb - c->store_max_bytes;
	if ((k = disk_over(bus, c->disk_reclaim_pct)) > need)
		need = k;
	due_space = (need + S - 1) / S;
	take = due_time > due_space ? due_time : due_space;
	if (first + take * S > tail - tail % S)
		take = (tail - tail % S - first) / S;
	prot = protected_off(bus, v, nv, c->protect_unconsumed, r->held_by,
	    sizeof(r->held_by));
	while (take > 0 && first + take * S > prot &&
	    first + take * S > min) {
		take--;
		r->held++;
	}

	/* 2. Readers stop trusting what goes. */
	cur = min;
	while (first + take * S > cur &&
	    !ck_pr_cas_64_value(&ctl->log_min_off, cur, first + take * S,
	    &cur))
		;
	ck_pr_fence_store();

	/* 3. The index. */
	advance_all(bus, c, now_ns, ck_pr_load_64(&ctl->log_min_off), v, nv,
	    r);

	/* 4. The files. */
	for (i = 0; i < n; i++) {
		if (segs[i] + S > ck_pr_load_64(&ctl->log_min_off))
			break;
		if ((err = shmq__log_seg_path(bus, segs[i], path,
		    sizeof(path))) < 0)
			goto out;
		if (unlink(path) < 0 && errno != ENOENT) {
			err = shmq__err_sys(errno, "unlink", path);
			goto out;
		}
		r->segs++;
		r->bytes += S;
	}
	if (r->segs > 0) {
		(void)shmq__dir_sync(dir);
		drop_key_index(bus, ck_pr_load_64(&ctl->log_min_off));
	}

	/* 5. What is left, and whether it may grow (walked again only if
	 * files went). */
	r->store_bytes = r->segs > 0 || r->entries > 0 ? store_bytes(bus) : sb;
	if ((err = disk_use(bus, &r->disk_used_pct, &r->disk_free)) < 0)
		goto out;
	r->refused = (c->store_hard_bytes != 0 &&
	    r->store_bytes > c->store_hard_bytes) ||
	    (c->disk_refuse_pct != 0 && r->disk_used_pct > c->disk_refuse_pct);
	ck_pr_store_32(&ctl->write_refused, r->refused ? 1 : 0);
	err = 0;
out:
	ck_pr_add_64(&ctl->retain_segs, r->segs);
	ck_pr_add_64(&ctl->retain_bytes, r->bytes);
	ck_pr_add_64(&ctl->retain_entries, r->entries);
	ck_pr_add_64(&ctl->retain_unconsumed, r->unconsumed);
	ck_pr_store_64(&ctl->retain_last_ns, now_ns);
	ck_pr_store_64(&ctl->retain_store_bytes, r->store_bytes);
	ck_pr_store_64(&ctl->retain_disk_free, r->disk_free);
	free(segs);
	free(v);
	return err;
}

/* ------------------------------------------------------------------ */
/* Dropping this process's mappings of reclaimed files                */
/* ------------------------------------------------------------------ */

/* Replace the mapping at BASE by empty memory of the same size. */
static void
blank(void *base, uint64_t bytes)
{
	(void)mmap(base, bytes, PROT_READ | PROT_WRITE,
	    MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
}

/*
 * First queue offset of CQ whose index file is still in the store: its
 * min_off, or, for a deleted topic (its directory went to the trash,
 * topicadmin.c), past every file a view can have mapped: readers map up
 * to the tail's file, writers one beyond.
 */
static uint64_t
files_gone_below(struct shmq_bus *bus, const struct shmq_cq *cq)
{
	uint64_t idx;

	if (ck_pr_load_32(&cq->topic->tc->flags) & SHMQ_TOPIC_F_DELETED)
		return shmq__cq_file_start(bus, shmq__cq_locate(bus,
		    shmq__cq_tail(cq), &idx) + 2);
	return ck_pr_load_64(&cq->qc->min_off);
}

/*
 * With DROP, blank what was noted; else note what is reclaimed now.  The
 * index files are those of every queue view this process has mapped
 * (bus->mapped), not only the queues of each topic's current view: a
 * grown topic's view keeps its old arrays for the subs that point into
 * them, each array maps its files on its own, and the view itself may lag
 * the topic.  Bus->lock held.
 */
static void
sweep(struct shmq_bus *bus, bool drop)
{
	const uint64_t S = bus->segment_bytes;
	uint64_t i, f, fend, idx;
	struct shmq_cq *cq;
	void *base;

	if (drop) {
		for (; bus->rel_seg_done < bus->rel_seg_pend;
		    bus->rel_seg_done++)
			if ((base = shmq__maptab_get(&bus->segs,
			    bus->rel_seg_done)) != NULL)
				blank(base, S);
	} else
		bus->rel_seg_pend = ck_pr_load_64(&bus->ctl->log_min_off) / S;
	for (i = 0; i < bus->nmapped; i++) {
		if ((cq = shmq__maptab_get(&bus->mapped, i)) == NULL)
			continue;
		if (!drop) {
			cq->rel_pend = files_gone_below(bus, cq);
			continue;
		}
		/* Untrusted offsets: no file lies past the table. */
		fend = shmq__cq_locate(bus, cq->rel_pend, &idx);
		if (fend > SHMQ_MAPTAB_MAX)
			fend = SHMQ_MAPTAB_MAX;
		for (f = cq->rel_file; f < fend; f++)
			if ((base = shmq__maptab_get(&cq->files, f)) != NULL)
				blank(base, shmq__cq_file_entries(bus, f) *
				    sizeof(struct shmq_cq_entry));
		if (fend > cq->rel_file)
			cq->rel_file = fend;
	}
}

uint64_t
shmq__grace_env_ns(const char *var, uint64_t def_ns)
{
	const char *v = getenv(var), *errstr;
	long long ms;

	if (v == NULL)
		return def_ns;
	ms = strtonum(v, 0, 3600000, &errstr);
	return errstr != NULL ? def_ns : (uint64_t)ms * 1000000;
}

uint64_t
shmq__retain_grace_ns(void)
{
	return shmq__grace_env_ns("SHMQ_RELEASE_GRACE_MS",
	    SHMQ_RELEASE_GRACE_NS);
}

/* ------------------------------------------------------------------ */
/* The trash: index directories of deleted topics                     */
/* ------------------------------------------------------------------ */

/* Remove PATH unless it is the trash itself: a deletion makes it, then
 * renames into it, and must not find it gone in between. */
static int
trash_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)type;
	if (f->level > 0)
		(void)remove(path);	/* what is left goes next time */
	return 0;
}

void
shmq__retain_trash(struct shmq_bus *bus)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", bus->path,
	    SHMQ_TRASH_DIR) >= sizeof(path))
		return;
	(void)nftw(path, trash_one, 16, FTW_DEPTH | FTW_PHYS);
}

void
shmq__retain_release(struct shmq_bus *bus)
{
	struct shmq_ctl *ctl = bus->ctl;
	uint64_t gen, now;

	gen = ck_pr_load_64(&ctl->retain_segs) +
	    ck_pr_load_64(&ctl->retain_entries);
	if (gen == ck_pr_load_64(&bus->rel_gen) &&
	    ck_pr_load_64(&bus->rel_since) == 0)
		return;
	now = shmq__mono_ns();
	pthread_mutex_lock(&bus->lock);
	if (bus->rel_since != 0 &&
	    now - bus->rel_since >= bus->rel_grace_ns) {
		sweep(bus, true);
		ck_pr_store_64(&bus->rel_since, 0);
	}
	if (bus->rel_since == 0 && gen != bus->rel_gen) {
		ck_pr_store_64(&bus->rel_gen, gen);
		ck_pr_store_64(&bus->rel_since, now);
		sweep(bus, false);
	}
	pthread_mutex_unlock(&bus->lock);
}
