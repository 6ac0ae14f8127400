/*
 * promote.c - home epochs, promotion and fencing (see promote.h).
 *
 * Promotion turns a mirror into a home in place: the entries the mirror
 * wrote stay where they are (the home's offsets), and local producers
 * claim from each queue's tail on (consumequeue.c: a claim skips every
 * entry that is not EMPTY), so the first local message of a queue takes
 * the offset after the last one mirrored: no entry is overwritten, no
 * offset is used twice and none is skipped.  The mirror's writer (shmqd's
 * replication thread) may be storing when promotion begins, and it writes
 * an entry's fields before its CAS from EMPTY: a producer that claimed
 * that entry meanwhile would have its fields overwritten.  So promotion
 * first stops the writer and waits until its put in progress is over
 * (writer_stop, and shmq__mirror_put's half), and only then clears the
 * mirror flag that lets producers claim; mirror.c refuses to store into a
 * topic that is no longer a mirror.
 *
 * Order of writes, so that a crash anywhere leaves something safe: the
 * home file (new epoch) first, then the meta file (mirror flag gone), then
 * the flags every process loads.  A crash between the two files leaves a
 * mirror whose epoch is already one up: promoting it again goes one
 * higher, which is harmless (epochs only need to grow).
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "mirror.h"
#include "promote.h"
#include "region.h"
#include "topic.h"

#define HOME_FILE	"home"
#define HOST_MAX	63		/* as a federation host name */

struct home {
	uint64_t	epoch;			/* 0: none written */
	char		fenced_host[HOST_MAX + 1]; /* "" unless fenced */
	uint64_t	fenced_epoch;
};

static int
home_path(const struct shmq_bus *bus, const char *name, char *buf,
    size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/consumequeue/%s/" HOME_FILE,
	    bus->path, name) >= len)
		return SHMQ_ERR(SHMQ_EINVAL, "topic \"%s\": path too long",
		    name);
	return 0;
}

/* Printable, no spaces, 1..HOST_MAX bytes: what a peer may call itself. */
static bool
host_ok(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (s[n] <= ' ' || s[n] >= 0x7f || n >= HOST_MAX)
			return false;
	return n > 0;
}

/* Parse PATH into *H; bad lines are ignored (the defaults are safe). */
static void
home_read(const char *path, struct home *h)
{
	char buf[256], host[HOST_MAX + 2], *line, *save;
	unsigned long long v, e;
	ssize_t n;

	memset(h, 0, sizeof(*h));
	if ((n = shmq__file_read(path, buf, sizeof(buf) - 1)) <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "epoch=%llu", &v) == 1)
			h->epoch = v;
		else if (sscanf(line, "fenced=%64s %llu", host, &e) == 2 &&
		    host_ok(host) && e > 1) {
			strlcpy(h->fenced_host, host, sizeof(h->fenced_host));
			h->fenced_epoch = e;
		}
	}
}

static int
home_write(struct shmq_bus *bus, const char *name, const struct home *h)
{
	char path[PATH_MAX], buf[256];
	int n, err;

	if ((err = home_path(bus, name, path, sizeof(path))) < 0)
		return err;
	n = snprintf(buf, sizeof(buf), "epoch=%llu\n",
	    (unsigned long long)h->epoch);
	if (h->fenced_host[0] != '\0')
		n += snprintf(buf + n, sizeof(buf) - (size_t)n,
		    "fenced=%s %llu\n", h->fenced_host,
		    (unsigned long long)h->fenced_epoch);
	return shmq__file_replace(path, buf, (size_t)n, &bus->perm, true);
}

void
shmq__home_load(struct shmq_bus *bus, const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct shmq_topic *t;
	struct home h;

	if ((size_t)snprintf(path, sizeof(path), "%s/" HOME_FILE, dir) >=
	    sizeof(path) || (t = shmq__topic_find(bus, name)) == NULL)
		return;
	home_read(path, &h);
	t->tc->home_epoch = h.epoch;
	if (h.fenced_host[0] != '\0' &&
	    (t->tc->flags & SHMQ_TOPIC_F_MIRROR) == 0)
		t->tc->flags |= SHMQ_TOPIC_F_FENCED | SHMQ_TOPIC_F_NOWRITE;
}

int
shmq__home_epoch_learn(struct shmq_bus *bus, struct shmq_topic *t,
    uint64_t epoch)
{
	struct home h;
	int err;

	if (epoch <= shmq__topic_epoch(t->tc))
		return 0;
	if ((err = shmq__admin_lock(bus)) < 0)
		return err;
	/* Promoted meanwhile: the epoch is ours now. */
	if ((ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_MIRROR) != 0 &&
	    epoch > shmq__topic_epoch(t->tc)) {
		memset(&h, 0, sizeof(h));
		h.epoch = epoch;
		if ((err = home_write(bus, t->name, &h)) == 0)
			ck_pr_store_64(&t->tc->home_epoch, epoch);
	}
	shmq__admin_unlock(bus);
	return err;
}

void
shmq__home_state_note(struct shmq_bus *bus, struct shmq_topic *t,
    const uint64_t *tail, uint32_t n)
{
	struct shmq_queue_ctl *qc;
	uint32_t q;

	for (q = 0; q < n && q < t->queues; q++)
		if ((qc = t->cq[q].qc) != NULL)
			ck_pr_store_64(&qc->repl_home_tail, tail[q]);
	/* The tails before the time that says they are there. */
	ck_pr_fence_store();
	ck_pr_store_32(&t->tc->repl_state_s,
	    (uint32_t)(shmq__real_ns() / 1000000000ull));
	(void)bus;
}

int
shmq__home_fence(struct shmq_bus *bus, struct shmq_topic *t,
    const char *host, uint64_t epoch)
{
	const uint32_t skip = SHMQ_TOPIC_F_MIRROR | SHMQ_TOPIC_F_FENCED |
	    SHMQ_TOPIC_F_DELETED;
	struct shmq_topic_ctl *tc = t->tc;
	struct home h;
	int err;

	if (!host_ok(host))
		return SHMQ_ERR(SHMQ_EINVAL, "topic \"%s\": fenced by a bad "
		    "host name", t->name);
	if ((ck_pr_load_32(&tc->flags) & skip) != 0 ||
	    epoch <= shmq__topic_epoch(tc))
		return 0;
	if ((err = shmq__admin_lock(bus)) < 0)
		return err;
	if ((ck_pr_load_32(&tc->flags) & skip) != 0 ||
	    epoch <= shmq__topic_epoch(tc)) {
		shmq__admin_unlock(bus);
		return 0;
	}
	memset(&h, 0, sizeof(h));
	h.epoch = shmq__topic_epoch(tc);
	strlcpy(h.fenced_host, host, sizeof(h.fenced_host));
	h.fenced_epoch = epoch;
	if ((err = home_write(bus, t->name, &h)) == 0)
		shmq__topic_flags_change(tc, SHMQ_TOPIC_F_FENCED |
		    SHMQ_TOPIC_F_NOWRITE, 0);
	shmq__admin_unlock(bus);
	return err < 0 ? err : 1;
}

bool
shmq__home_promoted(const struct shmq_topic *t)
{
	uint32_t f = ck_pr_load_32((uint32_t *)(uintptr_t)&t->tc->flags);

	return (f & (SHMQ_TOPIC_F_MIRROR | SHMQ_TOPIC_F_DELETED)) == 0 &&
	    shmq__topic_epoch(t->tc) > 1;
}

int
shmq__home_fenced_err(struct shmq_bus *bus, const struct shmq_topic *t)
{
	char path[PATH_MAX];
	struct home h;

	memset(&h, 0, sizeof(h));
	if (home_path(bus, t->name, path, sizeof(path)) == 0)
		home_read(path, &h);
	if (h.fenced_host[0] == '\0')
		return SHMQ_ERR(SHMQ_ETOPICPERM, "topic \"%s\" was promoted "
		    "on another host; this copy is fenced (its store does not "
		    "say which host: see shmq-stat's routes)", t->name);
	return SHMQ_ERR(SHMQ_ETOPICPERM, "topic \"%s\" was promoted on host "
	    "%s (epoch %llu); this copy is fenced: send to %s, or make this "
	    "host a mirror of it (doc/federation.md, \"Promotion\")", t->name,
	    h.fenced_host, (unsigned long long)h.fenced_epoch, h.fenced_host);
}

/* How far mirror T lacks what its home had at its last STATE. */
static void
behind(struct shmq_bus *bus, struct shmq_topic *t,
    struct shmq_promote_info *pi)
{
	uint32_t st = ck_pr_load_32(&t->tc->repl_state_s), q;
	uint64_t now_s = shmq__real_ns() / 1000000000ull, tail, next;

	/* Pairs with the fence in shmq__home_state_note. */
	ck_pr_fence_load();
	pi->state_known = st != 0;
	pi->state_age_ms = st != 0 && now_s > st ? (now_s - st) * 1000 : 0;
	pi->behind_msgs = 0;
	for (q = 0; q < t->queues; q++) {
		tail = ck_pr_load_64(&t->cq[q].qc->repl_home_tail);
		next = shmq__mirror_next(bus, t, q);
		if (tail > next)
			pi->behind_msgs += tail - next;
	}
}

/*
 * Stop a mirror's writer (shmqd's replication thread) before local
 * producers may claim: ask it to stop, then wait until a put it may have
 * begun is over (mirror.c, shmq__mirror_put: the other half of the
 * handshake).  A writer that is dead leaves its entry EMPTY or whole, both
 * safe to claim after: so after WRITER_WAIT_MS this goes on regardless.
 */
#define WRITER_WAIT_MS	1000

static void
writer_stop(struct shmq_topic_ctl *tc)
{
	const struct timespec nap = { 0, 50 * 1000 };
	uint64_t end = shmq__mono_ns() + WRITER_WAIT_MS * 1000000ull;

	ck_pr_store_32(&tc->mirror_stop, 1);
	ck_pr_fence_memory();
	while (ck_pr_load_32(&tc->mirror_busy) != 0 &&
	    shmq__mono_ns() < end)
		nanosleep(&nap, NULL);
	ck_pr_fence_acquire();
}

int
shmq_topic_promote(struct shmq_bus *bus, const char *topic, unsigned flags,
    struct shmq_promote_info *info)
{
	struct shmq_promote_info pi;
	struct shmq_topic_ctl *tc;
	struct shmq_topic *t;
	struct home h;
	uint32_t f;
	int err;

	memset(&pi, 0, sizeof(pi));
	if (info != NULL)
		memset(info, 0, sizeof(*info));
	if (bus == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "promote: no bus");
	if ((flags & ~SHMQ_PROMOTE_FORCE) != 0)
		return SHMQ_ERR(SHMQ_EINVAL, "promote: flags %#x", flags);
	if ((err = shmq__topic_get(bus, topic, false, 0, &t)) < 0)
		return err;
	tc = t->tc;
	shmq__topic_view_refresh(bus, t);
	if ((err = shmq__admin_lock(bus)) < 0)
		return err;
	f = ck_pr_load_32(&tc->flags);
	pi.home_epoch = shmq__topic_epoch(tc);
	pi.epoch = pi.home_epoch;
	pi.queues = t->queues;
	if (f & SHMQ_TOPIC_F_DELETED) {
		err = SHMQ_ERR(SHMQ_ENOTOPIC, "topic \"%s\": deleted", topic);
		goto out;
	}
	if (f & SHMQ_TOPIC_F_FENCED) {
		shmq__admin_unlock(bus);
		err = shmq__home_fenced_err(bus, t);
		SHMQ_ERR_PREFIX("cannot promote");
		return err;
	}
	if ((f & SHMQ_TOPIC_F_MIRROR) == 0) {
		err = SHMQ_ERR(SHMQ_EEXIST, "topic \"%s\" is not a mirror: this "
		    "host is its home already (epoch %llu)", topic,
		    (unsigned long long)pi.epoch);
		goto out;
	}
	behind(bus, t, &pi);
	if ((flags & SHMQ_PROMOTE_FORCE) == 0 && !pi.state_known) {
		err = SHMQ_ERR(SHMQ_EBUSY, "mirror \"%s\": no word from its "
		    "home since this bus's control region was made, so how far "
		    "behind it is is unknown (force it to promote anyway: "
		    "what the home had beyond the mirror is then lost here)",
		    topic);
		goto out;
	}
	if ((flags & SHMQ_PROMOTE_FORCE) == 0 && pi.behind_msgs > 0) {
		err = SHMQ_ERR(SHMQ_EBUSY, "mirror \"%s\": %llu messages behind "
		    "its home at the home's last state (%llu s ago): wait for "
		    "it to catch up, or force it (those messages are then "
		    "lost here, and their offsets get new messages)", topic,
		    (unsigned long long)pi.behind_msgs,
		    (unsigned long long)(pi.state_age_ms / 1000));
		goto out;
	}
	/* The mirror's writer stops first (writer_stop), then the home
	 * file, then meta, then the flags (file comment). */
	writer_stop(tc);
	memset(&h, 0, sizeof(h));
	h.epoch = pi.home_epoch + 1;
	if ((err = home_write(bus, t->name, &h)) < 0 ||
	    (err = shmq__topic_meta_write(bus, t->name,
	    ck_pr_load_32(&tc->queues), f & SHMQ_TOPIC_F_NOREAD,
	    ck_pr_load_64(&tc->retention_ms), true)) < 0) {
		ck_pr_store_32(&tc->mirror_stop, 0);	/* mirrors again */
		goto out;
	}
	ck_pr_store_64(&tc->home_epoch, h.epoch);
	shmq__topic_flags_change(tc, 0, SHMQ_TOPIC_F_MIRROR |
	    SHMQ_TOPIC_F_NOWRITE);
	/* The writer refuses by the flag from now on. */
	ck_pr_fence_memory();
	ck_pr_store_32(&tc->mirror_stop, 0);
	pi.epoch = h.epoch;
out:
	shmq__admin_unlock(bus);
	if (info != NULL)
		*info = pi;
	return err;
}
