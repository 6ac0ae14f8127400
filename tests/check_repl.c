/*
 * check_repl.c - replication of a topic from its home bus to mirrors on
 * other buses, each bus with its own store, port and real shmqd (fedtest.h),
 * as doc/federation.md specifies it:
 *
 *	mirror = TOPIC@HOST:PORT	(mirror host's config; --mirror)
 *
 * The one property every test ends with: the mirror is IDENTICAL to the
 * home.  Both buses are read by this process with pull consumers from the
 * first offset, queue by queue, side by side: the same queue offsets (so
 * the same holes), and for each message the same msg_id (the home's id
 * string), born_ns, store_ns, tags, keys, properties and body
 * (same_topic).  The bodies are body.h's, so the mirror's are also checked
 * whole and counted per (producer, seq): every acknowledged send is there
 * once, nothing else is (struct seen).
 *
 * Around it: a mirror topic is read-only for local producers
 * (SHMQ_ETOPICPERM), follows its home's queue count as it grows, and takes
 * a message larger than a frame; the mirror's shmqd and the home's are
 * SIGKILLed and restarted mid-stream; a million small messages go home to
 * mirror while the link is cut (as root: link down on a veth pair between
 * two network namespaces; otherwise the home's shmqd SIGSTOPped) and the
 * mirror's shmqd is SIGKILLed, with the catch-up time printed; holes left
 * by producers killed between claim and commit appear at the same offsets
 * on the mirror; sync replication (shmq_producer_set_repl) never acknowledges a
 * message a mirror does not hold, and times out when the mirrors cannot
 * hold it; bad mirror settings stop shmqd (exit 2) while a missing home
 * topic does not, and a local topic of the name is left alone; shmq-stat's
 * behind figures.
 *
 * One test case per behaviour (CK_RUN_CASE=basic, restart, holes, sync,
 * config, stat, query, million runs one).  SHMQ_TEST_REPL_N sets the million
 * test's message count (for slow sanitizer builds).  The kill schedules
 * are random: the seed is printed, SHMQ_TEST_SEED replays it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include <shmq/shmq.h>

#include "body.h"
#include "fedtest.h"
#include "testutil.h"
#include "tooltest.h"

/* For a hole made on purpose: a claim whose owner dies (test_holes). */
#include "client.h"
#include "consumequeue.h"
#include "layout.h"
#include "topic.h"

#define MAXQ		16	/* queues of any topic here */
#define NPROD_MAX	64	/* logical producers of one test */

/* ------------------------------------------------------------------ */
/* Hosts                                                               */
/* ------------------------------------------------------------------ */

/* Make M a mirror of TOPIC whose home is HOME. */
static void
mirror_of(struct ft_host *m, const char *topic, const struct ft_host *home)
{
	ft_host_conf(m, "mirror = %s@%s:%d", topic, home->addr, home->port);
}

/*
 * Start a home A ("alpha") with TOPIC of QUEUES queues, and B ("beta"), a
 * mirror of it; in NS's two namespaces if not NULL; with a link to A
 * (peer) if PEERED, else only the replication's own connection.
 */
static void
pair_start(struct ft_host *a, struct ft_host *b, const char *topic,
    int queues, struct ft_netns *ns, bool peered)
{
	struct ft_host *pa[] = { a, NULL };

	ft_host_init(a, "alpha", false, NULL);
	if (ns != NULL)
		ft_netns_place(ns, 0, a);
	ft_host_init(b, "beta", false, peered ? pa : NULL);
	if (ns != NULL)
		ft_netns_place(ns, 1, b);
	mirror_of(b, topic, a);
	ft_host_start(a);
	ft_topic_create(a, topic, queues);
	ft_host_start(b);
}

/*
 * Does a line of LOG hold A, and B or (if not NULL) C?  Waits up to SECS
 * (scaled).
 */
static bool
log_line_has(const char *log, const char *a, const char *b, const char *c,
    double secs)
{
	uint64_t t0 = tu_mono_ns();
	char *s, *line, *save;
	bool found;

	do {
		s = tt_slurp(log);
		found = false;
		for (line = strtok_r(s, "\n", &save); line != NULL && !found;
		    line = strtok_r(NULL, "\n", &save))
			found = strstr(line, a) != NULL &&
			    (strstr(line, b) != NULL ||
			    (c != NULL && strstr(line, c) != NULL));
		free(s);
		if (found)
			return true;
		usleep(20000);
	} while (tu_mono_ns() - t0 < (uint64_t)(secs * 1e9 * tu_mult()));
	return false;
}

/* Has child PID ended?  (Not reaped: its status stays for tu_wait.) */
static bool
exited(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) !=
	    0 || si.si_pid != 0;
}

/* Is H's shmqd still running? */
static bool
host_alive(const struct ft_host *h)
{
	return h->pid > 0 && !exited(h->pid);
}

/* Are all threads of PID stopped (state T in /proc)? */
static bool
all_stopped(pid_t pid)
{
	char path[64], buf[512], *p;
	struct dirent *de;
	bool all = true;
	DIR *d;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return false;
	while (all && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat",
		    (int)pid, de->d_name);
		if ((f = fopen(path, "re")) == NULL)
			continue;	/* a thread that just ended */
		/* "tid (comm) S ...": the state after the last ')'. */
		if (fgets(buf, sizeof(buf), f) == NULL ||
		    (p = strrchr(buf, ')')) == NULL || p[1] != ' ' ||
		    p[2] != 'T')
			all = false;
		fclose(f);
	}
	closedir(d);
	return all;
}

/* Send SIG to H's shmqd; for SIGSTOP, return once every thread stopped
 * (kill() only queues it: a thread may run on for a moment). */
static void
host_signal(const struct ft_host *h, int sig)
{
	uint64_t t0 = tu_mono_ns();

	ck_assert_int_gt(h->pid, 0);
	ck_assert_int_eq(kill(h->pid, sig), 0);
	while (sig == SIGSTOP && !all_stopped(h->pid)) {
		ck_assert_msg(tu_mono_ns() - t0 < (uint64_t)(5e9 * tu_mult()),
		    "%s's shmqd did not stop", h->name);
		usleep(1000);
	}
}

/* ------------------------------------------------------------------ */
/* Queue tails                                                         */
/* ------------------------------------------------------------------ */

struct tails {
	unsigned	nq;
	int		mirror;		/* queue_info's: 1 on a mirror */
	uint64_t	min[MAXQ];
	uint64_t	max[MAXQ];
};

static int
tails_cb(void *arg, const struct shmq_queue_info *qi)
{
	struct tails *t = arg;

	if (qi->queue < 0 || qi->queue >= MAXQ)
		return SHMQ_ELIMIT;
	t->mirror = qi->mirror;
	t->min[qi->queue] = qi->min_off;
	t->max[qi->queue] = qi->max_off;
	if ((unsigned)qi->queue + 1 > t->nq)
		t->nq = (unsigned)qi->queue + 1;
	return 0;
}

/* TOPIC's queue offset ranges on BUS: 0, or SHMQ_ENOTOPIC (nq 0). */
static int
tails_get(struct shmq_bus *bus, const char *topic, struct tails *t)
{
	memset(t, 0, sizeof(*t));
	return shmq_queue_foreach(bus, topic, tails_cb, t);
}

static bool
tails_eq(const struct tails *a, const struct tails *b)
{
	unsigned q;

	if (a->nq != b->nq)
		return false;
	for (q = 0; q < a->nq; q++)
		if (a->min[q] != b->min[q] || a->max[q] != b->max[q])
			return false;
	return true;
}

/* Offsets stored over all queues (holes included). */
static uint64_t
tails_total(const struct tails *t)
{
	uint64_t n = 0;
	unsigned q;

	for (q = 0; q < t->nq; q++)
		n += t->max[q] - t->min[q];
	return n;
}

/* "q0 [min, max) q1 ..." in a static buffer (one of two, for two). */
static const char *
tails_str(const struct tails *t)
{
	static char buf[2][MAXQ * 48];
	static int k;
	char *b = buf[k ^= 1], *p = b;
	unsigned q;

	*p = '\0';
	if (t->nq == 0)
		snprintf(b, sizeof(buf[0]), "(no topic)");
	for (q = 0; q < t->nq; q++)
		p += snprintf(p, sizeof(buf[0]) - (size_t)(p - b),
		    "q%u [%llu, %llu) ", q, (unsigned long long)t->min[q],
		    (unsigned long long)t->max[q]);
	return b;
}

/*
 * Wait until MIRROR (the bus of host MH) has TOPIC with HOME's queues and
 * offset ranges; fail after SECS (scaled) with both and MH's log.  Returns
 * the seconds it took.
 */
static double
wait_caught_up(struct shmq_bus *home, struct shmq_bus *mirror,
    const struct ft_host *mh, const char *topic, double secs)
{
	struct tails th, tm;
	uint64_t t0 = tu_mono_ns();
	int rc;

	for (;;) {
		rc = tails_get(home, topic, &th);
		ck_assert_msg(rc == 0, "home's %s: %s", topic,
		    shmq_err_name(rc));
		rc = tails_get(mirror, topic, &tm);
		if (rc == 0 && tails_eq(&th, &tm))
			return (double)(tu_mono_ns() - t0) / 1e9;
		ck_assert_msg(rc == 0 || rc == SHMQ_ENOTOPIC, "mirror's %s: "
		    "%s", topic, shmq_err_name(rc));
		if (tu_mono_ns() - t0 > (uint64_t)(secs * 1e9 * tu_mult()))
			ck_abort_msg("%s: mirror of %s not caught up in %.0f s:"
			    "\nhome   %s\nmirror %s\nits log ends:\n%s",
			    mh->name, topic, secs, tails_str(&th),
			    tails_str(&tm), ft_log_tail(mh, 1500));
		usleep(2000);
	}
}

/* ------------------------------------------------------------------ */
/* Bodies seen                                                         */
/* ------------------------------------------------------------------ */

/* Which (producer, seq) bodies a reader saw, and what was wrong. */
struct seen {
	unsigned	 nprod;
	uint64_t	 cap;		/* seqs per producer */
	uint8_t		*bits;
	uint64_t	 n;
	uint64_t	 dups;
	uint64_t	 bad;		/* torn, or out of range */
	char		 first[256];	/* the first problem */
};

static void
seen_init(struct seen *s, unsigned nprod, uint64_t cap)
{
	memset(s, 0, sizeof(*s));
	s->nprod = nprod;
	s->cap = cap;
	s->bits = calloc((size_t)(nprod * cap / 8 + 1), 1);
	ck_assert_ptr_nonnull(s->bits);
}

static void
seen_fini(struct seen *s)
{
	free(s->bits);
	s->bits = NULL;
}

static void
seen_add(struct seen *s, const struct shmq_msgview *v)
{
	struct body_hdr h;
	uint64_t i;

	if (body_check(v->body, v->body_len, &h) != 0 || h.prod >= s->nprod ||
	    h.seq >= s->cap) {
		if (s->bad++ == 0)
			snprintf(s->first, sizeof(s->first), "queue %d offset "
			    "%llu: a body that does not check or is out of "
			    "range (%zu bytes)", v->queue,
			    (unsigned long long)v->queue_off, v->body_len);
		return;
	}
	i = h.prod * s->cap + h.seq;
	if (s->bits[i / 8] & (1u << (i % 8))) {
		if (s->dups++ == 0)
			snprintf(s->first, sizeof(s->first), "queue %d offset "
			    "%llu: producer %u seq %llu seen twice", v->queue,
			    (unsigned long long)v->queue_off, h.prod,
			    (unsigned long long)h.seq);
		return;
	}
	s->bits[i / 8] |= (uint8_t)(1u << (i % 8));
	s->n++;
}

/*
 * Every seq of producer p below ACKED[p] was seen, none at or above
 * ACKED[p] + SLACK (a producer killed after storing a message and before
 * counting it may have stored one more), no duplicate, nothing bad.
 */
static void
seen_check(const struct seen *s, const char *where, const uint64_t *acked,
    unsigned slack)
{
	uint64_t seq, i;
	unsigned p;
	bool has;

	ck_assert_msg(s->bad == 0 && s->dups == 0, "%s: %llu bad bodies, "
	    "%llu duplicates; first: %s", where, (unsigned long long)s->bad,
	    (unsigned long long)s->dups, s->first);
	for (p = 0; p < s->nprod; p++) {
		for (seq = 0; seq < s->cap; seq++) {
			i = p * s->cap + seq;
			has = (s->bits[i / 8] & (1u << (i % 8))) != 0;
			if (seq < acked[p] && !has)
				ck_abort_msg("%s: producer %u seq %llu missing "
				    "(%llu acknowledged)", where, p,
				    (unsigned long long)seq,
				    (unsigned long long)acked[p]);
			if (seq >= acked[p] + slack && has)
				ck_abort_msg("%s: producer %u seq %llu there, "
				    "but never acknowledged (%llu were)",
				    where, p, (unsigned long long)seq,
				    (unsigned long long)acked[p]);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Home and mirror side by side                                        */
/* ------------------------------------------------------------------ */

#define CMP_BATCH	256

/* One bus's reader of one queue, and the views of its last poll. */
struct side {
	const char		*who;
	struct shmq_consumer	*c;
	struct shmq_msgview	 v[CMP_BATCH];
	int			 n, i;
};

static void
side_open(struct side *s, const char *who, struct shmq_bus *bus,
    const char *topic, int q)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->who = who;
	ck_assert_int_eq(shmq_consumer_open(&s->c, bus), 0);
	rc = shmq_consumer_assign(s->c, topic, q, "*");
	ck_assert_msg(rc == 0, "%s: assign %s queue %d: %s (%s)", who, topic,
	    q, shmq_err_name(rc), shmq_errmsg());
	ck_assert_int_eq(shmq_consumer_seek(s->c, topic, q, SHMQ_SEEK_FIRST,
	    0), 0);
}

/*
 * The next message of S below TAIL, or NULL once its position reached
 * TAIL.  An entry a dead producer claimed is skipped by a reader only
 * after a stall: poll again until then.
 */
static const struct shmq_msgview *
side_next(struct side *s, const char *topic, int q, uint64_t tail)
{
	uint64_t t0 = tu_mono_ns(), pos;

	if (s->i < s->n)
		return &s->v[s->i++];
	for (;;) {
		s->n = shmq_consumer_poll(s->c, s->v, CMP_BATCH, 0);
		ck_assert_msg(s->n >= 0, "%s: poll %s queue %d: %s (%s)",
		    s->who, topic, q, shmq_err_name(s->n), shmq_errmsg());
		if (s->n > 0) {
			s->i = 1;
			return &s->v[0];
		}
		ck_assert_int_eq(shmq_consumer_position(s->c, topic, q, &pos),
		    0);
		if (pos >= tail)
			return NULL;
		if (tu_mono_ns() - t0 > (uint64_t)(5e9 * tu_mult()))
			ck_abort_msg("%s: %s queue %d: reader stuck at offset "
			    "%llu below the tail %llu", s->who, topic, q,
			    (unsigned long long)pos,
			    (unsigned long long)tail);
		usleep(1000);
	}
}

static bool
same_bytes(const void *a, size_t al, const void *b, size_t bl)
{
	return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

/* Fail unless mirror message M is home message H. */
static void
same_msg(const struct shmq_msgview *h, const struct shmq_msgview *m)
{
	const char *what = NULL;

	if (h->queue_off != m->queue_off)
		what = "queue offset (a hole or a message too many or missing)";
	else if (h->queue != m->queue)
		what = "queue";
	else if (strcmp(h->msg_id, m->msg_id) != 0)
		what = "msg_id";
	else if (h->born_ns != m->born_ns)
		what = "born_ns";
	else if (h->store_ns != m->store_ns)
		what = "store_ns";
	else if (!same_bytes(h->topic, h->topic_len, m->topic, m->topic_len))
		what = "topic";
	else if (!same_bytes(h->tags, h->tags_len, m->tags, m->tags_len))
		what = "tags";
	else if (!same_bytes(h->keys, h->keys_len, m->keys, m->keys_len))
		what = "keys";
	else if (!same_bytes(h->props, h->props_len, m->props, m->props_len))
		what = "properties";
	else if (!same_bytes(h->body, h->body_len, m->body, m->body_len))
		what = "body";
	if (what == NULL)
		return;
	ck_abort_msg("queue %d: the mirror differs in its %s: home offset "
	    "%llu id %s born %llu stored %llu tags \"%.*s\" keys \"%.*s\" "
	    "%zu property bytes, %zu body bytes; mirror offset %llu id %s "
	    "born %llu stored %llu tags \"%.*s\" keys \"%.*s\" %zu property "
	    "bytes, %zu body bytes", h->queue, what,
	    (unsigned long long)h->queue_off, h->msg_id,
	    (unsigned long long)h->born_ns, (unsigned long long)h->store_ns,
	    (int)h->tags_len, h->tags != NULL ? h->tags : "",
	    (int)h->keys_len, h->keys != NULL ? h->keys : "", h->props_len,
	    h->body_len, (unsigned long long)m->queue_off, m->msg_id,
	    (unsigned long long)m->born_ns, (unsigned long long)m->store_ns,
	    (int)m->tags_len, m->tags != NULL ? m->tags : "",
	    (int)m->keys_len, m->keys != NULL ? m->keys : "", m->props_len,
	    m->body_len);
}

/* What same_topic read. */
struct cmp {
	uint64_t	msgs;
	uint64_t	holes;		/* offsets in range without a message */
	uint64_t	bytes;		/* body bytes */
};

/*
 * Fail unless TOPIC on MIRROR is identical to TOPIC on HOME (both quiet:
 * nothing is being sent or replicated), reading both whole; add the
 * mirror's bodies to SEEN (if not NULL); what was read into *OUT.
 */
static void
same_topic(struct shmq_bus *home, struct shmq_bus *mirror,
    const char *topic, struct seen *seen, struct cmp *out)
{
	const struct shmq_msgview *h, *m;
	struct side *sh, *sm;
	struct tails th, tm;
	uint64_t prev;
	unsigned q;

	memset(out, 0, sizeof(*out));
	ck_assert_int_eq(tails_get(home, topic, &th), 0);
	ck_assert_msg(tails_get(mirror, topic, &tm) == 0 && tails_eq(&th, &tm),
	    "%s: offset ranges differ:\nhome   %s\nmirror %s", topic,
	    tails_str(&th), tails_str(&tm));
	sh = malloc(sizeof(*sh));
	sm = malloc(sizeof(*sm));
	ck_assert(sh != NULL && sm != NULL);
	for (q = 0; q < th.nq; q++) {
		side_open(sh, "home", home, topic, (int)q);
		side_open(sm, "mirror", mirror, topic, (int)q);
		prev = th.min[q];
		for (;;) {
			h = side_next(sh, topic, (int)q, th.max[q]);
			m = side_next(sm, topic, (int)q, th.max[q]);
			if (h == NULL || m == NULL)
				break;
			same_msg(h, m);
			out->holes += h->queue_off - prev;
			prev = h->queue_off + 1;
			out->msgs++;
			out->bytes += m->body_len;
			if (seen != NULL)
				seen_add(seen, m);
		}
		if (h != NULL || m != NULL)
			ck_abort_msg("%s queue %u: the %s has a message at "
			    "offset %llu, the %s none", topic, q, h != NULL ?
			    "home" : "mirror", (unsigned long long)(h != NULL ?
			    h : m)->queue_off, h != NULL ? "mirror" : "home");
		out->holes += th.max[q] - prev;
		shmq_consumer_close(sh->c);
		shmq_consumer_close(sm->c);
	}
	free(sh);
	free(sm);
}

/* The offset of the first message of TOPIC queue Q at or after OFF. */
static uint64_t
first_at(struct shmq_bus *bus, const char *topic, int q, uint64_t off)
{
	struct shmq_consumer *c;
	struct shmq_msgview v;
	uint64_t r = UINT64_MAX;

	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, topic, q, "*"), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, topic, q, SHMQ_SEEK_OFFSET,
	    off), 0);
	if (shmq_consumer_poll(c, &v, 1, 1000) == 1)
		r = v.queue_off;
	shmq_consumer_close(c);
	return r;
}

/* ------------------------------------------------------------------ */
/* Messages and producers                                              */
/* ------------------------------------------------------------------ */

/* Storage for the strings of one rich message. */
struct rich {
	char			tags[16];
	char			keys[64];
	char			pv[2][32];
	struct shmq_prop	props[3];
};

/*
 * Message SEQ of producer PROD to TOPIC: a body_fill body of LEN bytes in
 * BUF and, varying with SEQ, none or some of a tag, keys and properties.
 */
static void
msg_make(struct shmq_msg *m, struct rich *r, void *buf, size_t len,
    const char *topic, uint32_t prod, uint64_t seq, bool rich)
{
	shmq_msg_init(m);
	m->topic = topic;
	body_fill(buf, len, prod, seq, tu_mono_ns());
	m->body = buf;
	m->body_len = len;
	if (!rich || seq % 5 == 0)
		return;
	snprintf(r->tags, sizeof(r->tags), "tag%llu",
	    (unsigned long long)(seq % 7));
	m->tags = r->tags;
	if (seq % 5 == 1)
		return;
	snprintf(r->keys, sizeof(r->keys), "k%u-%llu g%llu", prod,
	    (unsigned long long)seq, (unsigned long long)(seq % 13));
	m->keys = r->keys;
	if (seq % 5 == 2)
		return;
	snprintf(r->pv[0], sizeof(r->pv[0]), "%llu", (unsigned long long)seq);
	snprintf(r->pv[1], sizeof(r->pv[1]), "caf\xc3\xa9 %u", prod);
	r->props[0] = (struct shmq_prop){ "seq", r->pv[0] };
	r->props[1] = (struct shmq_prop){ "who", r->pv[1] };
	r->props[2] = (struct shmq_prop){ "empty", "" };
	m->props = r->props;
	m->nprops = seq % 5 == 3 ? 1 : 3;
}

/* A page shared with the producer children. */
struct stream {
	uint64_t	acked[NPROD_MAX];	/* sends that returned 0 */
	uint64_t	gate;		/* producers send seqs below this */
};

/* One producer child. */
struct prod_cfg {
	const struct ft_host	*h;
	const char		*topic;
	uint32_t		 prod;
	uint64_t		 n;	/* messages: seqs [0, n) */
	size_t			 len;	/* body bytes: fixed, or */
	size_t			 maxlen; /* if not 0: in [BODY_HDR, maxlen] */
	bool			 rich;
};

/* Open H's bus in a child: E_OK, or E_SETUP with a detail for WHO. */
static int
child_bus(const struct ft_host *h, const char *who, struct shmq_bus **bus)
{
	struct shmq_bus_opts o;
	int rc;

	/* Die with the test: a failed assertion ends it at once. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	shmq_bus_opts_init(&o);
	o.home = h->home;
	o.create = 0;
	if ((rc = shmq_bus_open(bus, h->bus, &o)) != 0) {
		tu_detail(who, "open %s: %s (%s)", h->bus, shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	return E_OK;
}

/* Send PC's messages as the gate allows, counting acknowledged ones. */
static int
producer_proc(struct stream *s, const struct prod_cfg *pc, const char *who)
{
	struct shmq_producer *p;
	struct shmq_bus *bus;
	struct shmq_msg m;
	struct rich r;
	unsigned char *buf;
	uint64_t seq;
	size_t len;
	int rc;

	if ((rc = child_bus(pc->h, who, &bus)) != E_OK)
		return rc;
	buf = malloc(pc->maxlen > pc->len ? pc->maxlen : pc->len);
	if (buf == NULL || (rc = shmq_producer_open(&p, bus, who)) != 0) {
		tu_detail(who, "producer open: %s", shmq_err_name(rc));
		return E_SETUP;
	}
	for (seq = 0; seq < pc->n; seq++) {
		while (seq >= __atomic_load_n(&s->gate, __ATOMIC_ACQUIRE))
			usleep(200);
		len = pc->maxlen != 0 ? body_pick_len(pc->prod, seq,
		    pc->maxlen) : pc->len;
		msg_make(&m, &r, buf, len, pc->topic, pc->prod, seq,
		    pc->rich);
		if ((rc = shmq_producer_send(p, &m, NULL)) != 0) {
			tu_detail(who, "send seq %llu: %s (%s)",
			    (unsigned long long)seq, shmq_err_name(rc),
			    shmq_errmsg());
			return E_SEND;
		}
		__atomic_store_n(&s->acked[pc->prod], seq + 1,
		    __ATOMIC_RELEASE);
	}
	shmq_producer_close(p);
	shmq_bus_close(bus);
	free(buf);
	return E_OK;
}

/* Start producers FIRST..FIRST+N-1 of PC (its prod is the first) in CH. */
static void
producers_start(struct stream *s, struct tu_child *ch, unsigned n,
    const struct prod_cfg *pc)
{
	struct prod_cfg c = *pc;
	char who[32];
	unsigned i;

	for (i = 0; i < n; i++) {
		c.prod = pc->prod + i;
		snprintf(who, sizeof(who), "producer%u", c.prod);
		TU_SPAWN(&ch[i], who, producer_proc(s, &c, who));
	}
}

/* Wait until producers FIRST..FIRST+N-1 acknowledged SEQS each. */
static void
acked_wait(struct stream *s, unsigned first, unsigned n, uint64_t seqs,
    struct tu_child *ch)
{
	uint64_t t0 = tu_mono_ns();
	char msg[2500];
	unsigned i;

	for (i = first; i < first + n; i++) {
		while (__atomic_load_n(&s->acked[i], __ATOMIC_ACQUIRE) <
		    seqs) {
			if (tu_mono_ns() - t0 > (uint64_t)(60e9 * tu_mult()) ||
			    exited(ch[i - first].pid)) {
				tu_wait_children(ch, n, 1);
				tu_report(ch, n, E_OK, body_exit_name, msg,
				    sizeof(msg));
				ck_abort_msg("producer %u stopped at %llu of "
				    "%llu: %s", i, (unsigned long long)
				    s->acked[i], (unsigned long long)seqs, msg);
			}
			usleep(500);
		}
	}
}

static unsigned
rand_between(unsigned lo, unsigned hi)
{
	return lo + (unsigned)(tu_rand() % (hi - lo + 1));
}

static void
setup(void)
{
	tt_setup();
	tu_seed("repl");
}

/* ------------------------------------------------------------------ */
/* 1. basic                                                            */
/* ------------------------------------------------------------------ */

#define BASIC_N		20000
#define BASIC_MORE	500
#define HUGE_BYTES	(1536u << 10)	/* more than a frame (1 MiB) */

/*
 * Send producer 0's seqs [FROM, TO) of TOPIC from this process, bodies up
 * to MAXLEN bytes (64 KiB for every thousandth, HUGE_BYTES for seq
 * BASIC_N / 2); the bytes of the bodies sent.
 */
static uint64_t
send_range(struct shmq_producer *p, const char *topic, uint64_t from,
    uint64_t to, size_t maxlen)
{
	static unsigned char buf[HUGE_BYTES];
	struct shmq_msg m;
	struct rich r;
	uint64_t seq, bytes = 0;
	size_t len;
	int rc;

	for (seq = from; seq < to; seq++) {
		len = body_pick_len(0, seq, seq % 1000 == 999 ? 65536 :
		    maxlen);
		if (seq == BASIC_N / 2)
			len = HUGE_BYTES;
		msg_make(&m, &r, buf, len, topic, 0, seq, true);
		rc = shmq_producer_send(p, &m, NULL);
		if (rc != 0)
			ck_abort_msg("send seq %llu to %s: %s (%s)",
			    (unsigned long long)seq, topic, shmq_err_name(rc),
			    shmq_errmsg());
		bytes += len;
	}
	return bytes;
}

START_TEST(test_basic)
{
	struct ft_host a, b;
	struct shmq_bus *ba, *bb;
	struct shmq_producer *p, *pb;
	struct shmq_send_result res;
	struct shmq_msg m;
	struct seen seen;
	struct tails t;
	struct cmp cmp;
	uint64_t acked;
	unsigned char body[64];
	double dt;
	int rc;

	pair_start(&a, &b, "orders", 4, NULL, false);
	ba = ft_bus_open(&a);
	bb = ft_bus_open(&b);
	ck_assert_int_eq(shmq_producer_open(&p, ba, "basic"), 0);
	send_range(p, "orders", 0, BASIC_N, 4096);
	dt = wait_caught_up(ba, bb, &b, "orders", 20);
	ck_assert_int_eq(shmq_topic_queues(bb, "orders"), 4);
	ck_assert_int_eq(tails_get(ba, "orders", &t), 0);
	ck_assert_int_eq(t.mirror, 0);
	ck_assert_int_eq(tails_get(bb, "orders", &t), 0);
	ck_assert_int_eq(t.mirror, 1);
	seen_init(&seen, 1, BASIC_N + BASIC_MORE);
	same_topic(ba, bb, "orders", &seen, &cmp);
	acked = BASIC_N;
	seen_check(&seen, "mirror", &acked, 0);
	ck_assert_uint_eq(cmp.holes, 0);
	fprintf(stderr, "basic: %llu messages, %.1f MB of bodies: the mirror "
	    "caught up %.2f s after the last send\n",
	    (unsigned long long)cmp.msgs, (double)cmp.bytes / 1e6, dt);

	/* A local send to the mirror topic is a remote send (check_forward):
	 * stored in the outbox (beta has no link to alpha here: it stays
	 * there), never in the mirror. */
	ck_assert_int_eq(shmq_producer_open(&pb, bb, "local"), 0);
	body_fill(body, sizeof(body), 9, 0, 0);
	shmq_msg_init(&m);
	m.topic = "orders";
	m.body = body;
	m.body_len = sizeof(body);
	rc = shmq_producer_send(pb, &m, &res);
	ck_assert_msg(rc == 0, "a local send to the mirror topic: %s (%s), "
	    "expected a forwarded send", shmq_err_name(rc), shmq_errmsg());
	ck_assert_int_eq(shmq_producer_send_oneway(pb, &m), 0);
	ck_assert_int_eq(shmq_producer_send_batch(pb, &m, 1, NULL), 1);
	m.queue = 2;
	ck_assert_int_eq(shmq_producer_send(pb, &m, &res), 0);
	shmq_producer_close(pb);

	/* Sends on the home after it: they arrive too, and nothing else,
	 * also in queues the home's topic gained meanwhile. */
	ck_assert_msg(tt_run("%s -b %s --home %s topic update orders -q 6",
	    tu_prog("utils/shmq-admin"), a.bus, a.home) == 0, "%s", tt_err);
	send_range(p, "orders", BASIC_N, BASIC_N + BASIC_MORE, 4096);
	wait_caught_up(ba, bb, &b, "orders", 10);
	ck_assert_int_eq(shmq_topic_queues(bb, "orders"), 6);
	seen_fini(&seen);
	seen_init(&seen, 1, BASIC_N + BASIC_MORE);
	same_topic(ba, bb, "orders", &seen, &cmp);
	acked = BASIC_N + BASIC_MORE;
	seen_check(&seen, "mirror", &acked, 0);
	seen_fini(&seen);
	shmq_producer_close(p);
	shmq_bus_close(bb);
	shmq_bus_close(ba);
	ft_host_stop(&b);
	ft_host_stop(&a);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 2. restarts                                                         */
/* ------------------------------------------------------------------ */

#define RS_NPROD	2
#define RS_N		40000	/* per producer and phase */

/*
 * Producers stream to the home while one host's shmqd (VICTIM) is
 * SIGKILLed twice: once mid-stream, once soon after its restart (a mirror
 * catching up, or a home serving a catch-up).  Producers FIRST.. of S.
 */
static void
stream_with_kills(struct stream *s, unsigned first, struct ft_host *home,
    struct ft_host *victim)
{
	struct tu_child ch[RS_NPROD];
	struct prod_cfg pc;
	char msg[2500];
	unsigned d;

	memset(&pc, 0, sizeof(pc));
	pc.h = home;
	pc.topic = "orders";
	pc.prod = first;
	pc.n = RS_N;
	pc.maxlen = 600;
	pc.rich = true;
	__atomic_store_n(&s->gate, RS_N / 5, __ATOMIC_RELEASE);
	producers_start(s, ch, RS_NPROD, &pc);
	acked_wait(s, first, RS_NPROD, RS_N / 5, ch);

	/* Mid-stream. */
	__atomic_store_n(&s->gate, 3 * RS_N / 5, __ATOMIC_RELEASE);
	d = rand_between(2, 40);
	usleep(d * 1000);
	ft_host_kill(victim);
	acked_wait(s, first, RS_NPROD, 3 * RS_N / 5, ch);
	/* Back, with a backlog; killed again while on it. */
	ft_host_start(victim);
	__atomic_store_n(&s->gate, 4 * RS_N / 5, __ATOMIC_RELEASE);
	usleep(rand_between(20, 150) * 1000);
	ft_host_kill(victim);
	usleep(rand_between(0, 200) * 1000);
	ft_host_start(victim);
	__atomic_store_n(&s->gate, RS_N, __ATOMIC_RELEASE);
	tu_wait_children(ch, RS_NPROD, 60);
	if (tu_report(ch, RS_NPROD, E_OK, body_exit_name, msg,
	    sizeof(msg)) != 0)
		ck_abort_msg("%s", msg);
}

START_TEST(test_restart)
{
	struct ft_host a, b;
	struct shmq_bus *ba, *bb;
	struct stream *s;
	struct seen seen;
	struct cmp cmp;
	double dt;

	s = tu_shared_new(sizeof(*s));
	pair_start(&a, &b, "orders", 4, NULL, false);
	ba = ft_bus_open(&a);

	/* The mirror's shmqd killed; this process keeps off its bus, so
	 * that each restart finds it as the crash left it. */
	stream_with_kills(s, 0, &a, &b);
	bb = ft_bus_open(&b);
	dt = wait_caught_up(ba, bb, &b, "orders", 20);
	seen_init(&seen, 2 * RS_NPROD, RS_N);
	same_topic(ba, bb, "orders", &seen, &cmp);
	seen_check(&seen, "mirror", s->acked, 0);
	ck_assert_uint_eq(cmp.holes, 0);
	fprintf(stderr, "restart: mirror killed twice: %llu messages "
	    "identical, caught up %.2f s after the last send\n",
	    (unsigned long long)cmp.msgs, dt);
	shmq_bus_close(bb);

	/* The home's shmqd killed; its producers go on without it. */
	stream_with_kills(s, RS_NPROD, &a, &a);
	bb = ft_bus_open(&b);
	dt = wait_caught_up(ba, bb, &b, "orders", 20);
	seen_fini(&seen);
	seen_init(&seen, 2 * RS_NPROD, RS_N);
	same_topic(ba, bb, "orders", &seen, &cmp);
	seen_check(&seen, "mirror", s->acked, 0);
	ck_assert_uint_eq(cmp.msgs, 2 * RS_NPROD * RS_N);
	ck_assert_uint_eq(cmp.holes, 0);
	fprintf(stderr, "restart: home killed twice: %llu messages identical, "
	    "caught up %.2f s after the last send\n",
	    (unsigned long long)cmp.msgs, dt);
	seen_fini(&seen);
	shmq_bus_close(bb);
	shmq_bus_close(ba);
	ft_host_stop(&b);
	ft_host_stop(&a);
	munmap(s, sizeof(*s));
}
END_TEST

/* ------------------------------------------------------------------ */
/* 3. a million messages through an outage                             */
/* ------------------------------------------------------------------ */

#define OUT_NPROD	2
#define OUT_BODY	100

static uint64_t
outage_n(void)
{
	const char *e = getenv("SHMQ_TEST_REPL_N");
	uint64_t n = 1000000;

	if (e != NULL && *e != '\0')
		n = strtoull(e, NULL, 10);
	if (n < 1000)
		n = 1000;
	return n - n % (10 * OUT_NPROD);
}

/*
 * N small messages home (A) to mirror (B) while the link is cut (NS not
 * NULL: A's veth down for 1.5 s; else A's shmqd SIGSTOPped for 2.5 s) and
 * B's shmqd is SIGKILLed, restarted only once the stream is over.
 */
static void
outage(struct ft_netns *ns, const char *name)
{
	struct tu_child ch[OUT_NPROD];
	struct ft_host a, b;
	struct shmq_bus *ba, *bb;
	struct prod_cfg pc;
	struct stream *s;
	struct tails t;
	struct seen seen;
	struct cmp cmp;
	uint64_t n = outage_n(), per = n / OUT_NPROD, t0, t_end, held;
	double dt_restart, cut_s;
	char msg[2500];

	s = tu_shared_new(sizeof(*s));
	pair_start(&a, &b, "stream", 4, ns, false);
	ba = ft_bus_open(&a);

	memset(&pc, 0, sizeof(pc));
	pc.h = &a;
	pc.topic = "stream";
	pc.n = per;
	pc.len = OUT_BODY;
	t0 = tu_mono_ns();
	__atomic_store_n(&s->gate, per / 10, __ATOMIC_RELEASE);
	producers_start(s, ch, OUT_NPROD, &pc);
	acked_wait(s, 0, OUT_NPROD, per / 10, ch);
	bb = ft_bus_open(&b);
	wait_caught_up(ba, bb, &b, "stream", 30);
	shmq_bus_close(bb);

	/* The cut, with the stream going on. */
	if (ns != NULL)
		ft_netns_link(ns, 0, false);
	else
		host_signal(&a, SIGSTOP);
	__atomic_store_n(&s->gate, 4 * per / 10, __ATOMIC_RELEASE);
	cut_s = ns != NULL ? 1.5 : 2.5;
	usleep((useconds_t)(cut_s * 1e6 / 2));
	acked_wait(s, 0, OUT_NPROD, 4 * per / 10, ch);
	if (ns == NULL) {
		/* The mirror dies while its home does not answer, and its
		 * new shmqd dials a home that still does not. */
		ft_host_kill(&b);
		ft_host_start(&b);
	}
	usleep((useconds_t)(cut_s * 1e6 / 2));
	if (ns != NULL)
		ft_netns_link(ns, 0, true);
	else
		host_signal(&a, SIGCONT);

	/* The mirror's shmqd killed mid-stream; back after the stream. */
	__atomic_store_n(&s->gate, per, __ATOMIC_RELEASE);
	usleep(rand_between(5, 50) * 1000);
	bb = ft_bus_open(&b);
	ck_assert_int_eq(tails_get(bb, "stream", &t), 0);
	held = tails_total(&t);
	shmq_bus_close(bb);
	ft_host_kill(&b);
	tu_wait_children(ch, OUT_NPROD, 120);
	if (tu_report(ch, OUT_NPROD, E_OK, body_exit_name, msg,
	    sizeof(msg)) != 0)
		ck_abort_msg("%s", msg);
	t_end = tu_mono_ns();
	ft_host_start(&b);
	bb = ft_bus_open(&b);
	wait_caught_up(ba, bb, &b, "stream", 120);
	dt_restart = (double)(tu_mono_ns() - t_end) / 1e9;
	seen_init(&seen, OUT_NPROD, per);
	same_topic(ba, bb, "stream", &seen, &cmp);
	seen_check(&seen, "mirror", s->acked, 0);
	ck_assert_uint_eq(cmp.msgs, n);
	ck_assert_uint_eq(cmp.holes, 0);
	fprintf(stderr, "%s: %llu messages of %d B, cut %.1f s (%s), mirror "
	    "killed holding %llu: caught up %.2f s after its restart (%.0f "
	    "msg/s for the %llu behind; shmqd start included), stream "
	    "%.2f s, identical\n", name,
	    (unsigned long long)n, OUT_BODY, cut_s, ns != NULL ? "veth down" :
	    "home SIGSTOPped, mirror killed and restarted meanwhile",
	    (unsigned long long)held, dt_restart, (double)(n - held) /
	    (dt_restart > 0 ? dt_restart : 1e-9), (unsigned long long)(n -
	    held), (double)(t_end - t0) / 1e9);
	seen_fini(&seen);
	shmq_bus_close(bb);
	shmq_bus_close(ba);
	ft_host_stop(&b);
	ft_host_stop(&a);
	munmap(s, sizeof(*s));
}

START_TEST(test_million)
{
	outage(NULL, "million");
}
END_TEST

START_TEST(test_million_netns)
{
	struct ft_netns n;

	if (!ft_netns_make(&n, "million_netns"))
		return;
	outage(&n, "million_netns");
	ft_netns_del(&n);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 4. holes                                                            */
/* ------------------------------------------------------------------ */

#define HOLE_NKILL	16

/*
 * A child that claims the next index entry of queue Q of TOPIC on H as a
 * registered producer and dies before committing it: a hole at that
 * offset, which it writes to FD first.
 */
static int
claim_and_die(const struct ft_host *h, const char *topic, int q, int fd)
{
	struct shmq_client_slot *slot;
	struct shmq_cq_entry *e;
	struct shmq_topic *t;
	struct shmq_bus *bus;
	uint64_t off;
	uint32_t idx;

	if (child_bus(h, "claimer", &bus) != E_OK ||
	    shmq__topic_get(bus, topic, false, 0, &t) != 0 ||
	    shmq__client_register(bus, SHMQ_ROLE_PRODUCER, "dies", &idx,
	    &slot) != 0 || shmq__cq_claim(bus, t, &t->cq[q],
	    shmq__client_claim(bus, idx), &off, &e) != 0)
		return E_SETUP;
	if (write(fd, &off, sizeof(off)) != sizeof(off))
		return E_SETUP;
	return E_OK;
}

/* Make a hole in queue Q of TOPIC on H (claim_and_die): its offset. */
static uint64_t
make_hole(const struct ft_host *h, const char *topic, int q)
{
	struct tu_child ch;
	uint64_t off;
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	TU_SPAWN(&ch, "claimer", claim_and_die(h, topic, q, fds[1]));
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &off, sizeof(off)), sizeof(off));
	close(fds[0]);
	ck_assert_int_eq(tu_wait(ch.pid), 0);
	return off;
}

START_TEST(test_holes)
{
	struct tu_child killers[HOLE_NKILL];
	struct shmq_producer *p;
	struct shmq_bus *ba, *bb;
	struct shmq_bus_info bi;
	struct ft_host a, b;
	struct prod_cfg pc;
	struct stream *s;
	struct seen seen;
	struct tails t;
	struct cmp cmp;
	uint64_t hole, t0;
	unsigned char buf[128];
	struct shmq_msg m;
	struct rich r;
	unsigned i, q;

	s = tu_shared_new(sizeof(*s));
	pair_start(&a, &b, "holes", 2, NULL, false);
	ba = ft_bus_open(&a);
	bb = ft_bus_open(&b);
	ck_assert_int_eq(shmq_producer_open(&p, ba, "holes"), 0);

	/* Queue 1 starts with a hole; queue 0 has one after 5 messages
	 * (the producer takes the queues in turn). */
	ck_assert_uint_eq(make_hole(&a, "holes", 1), 0);
	send_range(p, "holes", 0, 10, 300);
	hole = make_hole(&a, "holes", 0);
	ck_assert_uint_eq(hole, 5);
	send_range(p, "holes", 10, 40, 300);

	/* Producers killed at random while they send: most die between
	 * claims and commits somewhere. */
	memset(&pc, 0, sizeof(pc));
	pc.h = &a;
	pc.topic = "holes";
	pc.n = 1u << 20;
	pc.maxlen = 400;
	pc.rich = true;
	__atomic_store_n(&s->gate, UINT64_MAX, __ATOMIC_RELEASE);
	for (i = 0; i < HOLE_NKILL; i++) {
		pc.prod = 1 + i;
		producers_start(s, &killers[i], 1, &pc);
		t0 = tu_mono_ns();
		while (__atomic_load_n(&s->acked[pc.prod], __ATOMIC_ACQUIRE) ==
		    0 && tu_mono_ns() - t0 < (uint64_t)(5e9 * tu_mult()) &&
		    !exited(killers[i].pid))
			usleep(100);
		usleep(rand_between(100, 3000));
		kill(killers[i].pid, SIGKILL);
		ck_assert_int_eq(tu_wait(killers[i].pid), 128 + SIGKILL);
	}
	/* A message after every hole of every queue: none at a tail
	 * (a tail hole is not a hole until something follows it). */
	for (q = 0; q < 2; q++) {
		msg_make(&m, &r, buf, sizeof(buf), "holes", 0, 40 + q, true);
		m.queue = (int)q;
		ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	}

	wait_caught_up(ba, bb, &b, "holes", 20);
	seen_init(&seen, 1 + HOLE_NKILL, 1u << 20);
	same_topic(ba, bb, "holes", &seen, &cmp);
	s->acked[0] = 42;
	seen_check(&seen, "mirror", s->acked, 1);
	ck_assert_int_eq(shmq_bus_info(ba, &bi), 0);
	ck_assert_msg(cmp.holes >= 1 && bi.holes >= 1, "%llu holes read, "
	    "%llu counted by the home", (unsigned long long)cmp.holes,
	    (unsigned long long)bi.holes);
	/* The ones made on purpose, on both. */
	ck_assert_uint_eq(first_at(ba, "holes", 1, 0), 1);
	ck_assert_uint_eq(first_at(bb, "holes", 1, 0), 1);
	ck_assert_uint_eq(first_at(ba, "holes", 0, hole), hole + 1);
	ck_assert_uint_eq(first_at(bb, "holes", 0, hole), hole + 1);
	ck_assert_uint_eq(first_at(bb, "holes", 0, hole - 1), hole - 1);
	ck_assert_int_eq(tails_get(ba, "holes", &t), 0);
	fprintf(stderr, "holes: %llu messages, %llu holes (home counts %llu) "
	    "at the same offsets on the mirror; queues %s\n",
	    (unsigned long long)cmp.msgs, (unsigned long long)cmp.holes,
	    (unsigned long long)bi.holes, tails_str(&t));
	seen_fini(&seen);
	shmq_producer_close(p);
	shmq_bus_close(bb);
	shmq_bus_close(ba);
	ft_host_stop(&b);
	ft_host_stop(&a);
	munmap(s, sizeof(*s));
}
END_TEST

/* ------------------------------------------------------------------ */
/* 5. sync replication                                                 */
/* ------------------------------------------------------------------ */

#define SYNC_Q		2

/* Readers of each queue of "sync" on one mirror, to look up one offset. */
struct probe {
	struct shmq_bus		*bus;
	struct shmq_consumer	*c[SYNC_Q];
};

/* Readers of mirror H, once it caught up with HOME (it has the topic). */
static void
probe_open(struct probe *pr, const struct ft_host *h, struct shmq_bus *home)
{
	int q;

	pr->bus = ft_bus_open(h);
	wait_caught_up(home, pr->bus, h, "sync", 10);
	for (q = 0; q < SYNC_Q; q++) {
		ck_assert_int_eq(shmq_consumer_open(&pr->c[q], pr->bus), 0);
		ck_assert_int_eq(shmq_consumer_assign(pr->c[q], "sync", q,
		    "*"), 0);
	}
}

static void
probe_close(struct probe *pr)
{
	int q;

	for (q = 0; q < SYNC_Q; q++)
		shmq_consumer_close(pr->c[q]);
	shmq_bus_close(pr->bus);
}

/* Does the mirror hold R's message right now (no waiting)? */
static bool
probe_has(struct probe *pr, const struct shmq_send_result *r)
{
	struct shmq_msgview v;
	struct shmq_consumer *c;

	ck_assert_msg(r->queue >= 0 && r->queue < SYNC_Q, "a send result "
	    "with queue %d", r->queue);
	c = pr->c[r->queue];
	ck_assert_int_eq(shmq_consumer_seek(c, "sync", r->queue,
	    SHMQ_SEEK_OFFSET, r->queue_off), 0);
	return shmq_consumer_poll(c, &v, 1, 0) == 1 &&
	    v.queue_off == r->queue_off && strcmp(v.msg_id, r->msg_id) == 0;
}

/* Wait up to SECS (scaled) for the mirror to hold R's message. */
static bool
probe_wait(struct probe *pr, const struct shmq_send_result *r, double secs)
{
	uint64_t t0 = tu_mono_ns();

	while (!probe_has(pr, r))
		if (tu_mono_ns() - t0 > (uint64_t)(secs * 1e9 * tu_mult()))
			return false;
		else
			usleep(2000);
	return true;
}

/* One send of the sync test, and how long it took (ns). */
static int
sync_send(struct shmq_producer *p, uint64_t seq,
    struct shmq_send_result *r, uint64_t *ns)
{
	unsigned char buf[256];
	struct shmq_msg m;
	struct rich ri;
	uint64_t t0;
	int rc;

	msg_make(&m, &ri, buf, body_pick_len(0, seq, sizeof(buf)), "sync", 0,
	    seq, true);
	memset(r, 0xff, sizeof(*r));
	t0 = tu_mono_ns();
	rc = shmq_producer_send(p, &m, r);
	*ns = tu_mono_ns() - t0;
	return rc;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#define SYNC_N		300

/*
 * SYNC_N sends with K; each acknowledged one is held at once by at least
 * K of the mirrors PR[0..NM) (all of them when K == NM).  Prints the
 * send latencies.  Continues *SEQ.
 */
static void
sync_round(struct shmq_producer *p, unsigned k, struct probe *pr,
    unsigned nm, uint64_t *seq)
{
	struct shmq_send_result r;
	uint64_t lat[SYNC_N];
	unsigned i, j, held;
	int rc;

	ck_assert_int_eq(shmq_producer_set_repl(p, k, 5000), 0);
	for (i = 0; i < SYNC_N; i++) {
		rc = sync_send(p, (*seq)++, &r, &lat[i]);
		ck_assert_msg(rc == 0, "k=%u send %u: %s (%s)", k, i,
		    shmq_err_name(rc), shmq_errmsg());
		for (held = 0, j = 0; j < nm; j++)
			held += probe_has(&pr[j], &r);
		if (held < k)
			ck_abort_msg("k=%u: send %u returned 0 for queue %d "
			    "offset %llu (id %s), held by %u mirrors only",
			    k, i, r.queue, (unsigned long long)r.queue_off,
			    r.msg_id, held);
	}
	qsort(lat, SYNC_N, sizeof(lat[0]), cmp_u64);
	fprintf(stderr, "sync: k=%u, %u sends of <= 256 B: latency p50 %.1f "
	    "us, p99 %.1f us, max %.1f us\n", k, SYNC_N,
	    (double)lat[SYNC_N / 2] / 1e3, (double)lat[SYNC_N * 99 / 100] /
	    1e3, (double)lat[SYNC_N - 1] / 1e3);
}

/*
 * A send with K that must time out after TIMEOUT_MS: SHMQ_ETIMEDOUT in
 * about that time, the message stored on the home all the same.
 */
static void
sync_timeout(struct shmq_producer *p, struct shmq_bus *home, unsigned k,
    uint32_t timeout_ms, uint64_t *seq, struct shmq_send_result *r)
{
	uint64_t ns;
	int rc;

	ck_assert_int_eq(shmq_producer_set_repl(p, k, timeout_ms), 0);
	rc = sync_send(p, (*seq)++, r, &ns);
	ck_assert_msg(rc == SHMQ_ETIMEDOUT, "k=%u with too few mirrors: %s "
	    "(%s) after %.3f s, expected SHMQ_ETIMEDOUT", k,
	    shmq_err_name(rc), shmq_errmsg(), (double)ns / 1e9);
	ck_assert_msg(r->queue >= 0 && r->queue < SYNC_Q, "*res not filled "
	    "by a send that timed out (queue %d)", r->queue);
	ck_assert_msg(ns >= (uint64_t)timeout_ms * 900000 && ns <
	    (uint64_t)timeout_ms * 1000000 + (uint64_t)(3e9 * tu_mult()),
	    "k=%u: timed out after %.3f s, timeout %u ms", k, (double)ns /
	    1e9, timeout_ms);
	ck_assert_uint_eq(first_at(home, "sync", r->queue, r->queue_off),
	    r->queue_off);
}

START_TEST(test_sync)
{
	struct ft_host a, b, c;
	struct shmq_bus *ba;
	struct shmq_producer *p;
	struct shmq_send_result r1, r2;
	struct probe pr[2];
	struct cmp cmp;
	uint64_t seq = 0, ns;

	pair_start(&a, &b, "sync", SYNC_Q, NULL, false);
	ft_host_init(&c, "gamma", false, NULL);
	mirror_of(&c, "sync", &a);
	ft_host_start(&c);
	ba = ft_bus_open(&a);
	ck_assert_int_eq(shmq_producer_open(&p, ba, "sync"), 0);
	ck_assert_int_eq(shmq_producer_set_repl(p, 0, 0), 0);
	ck_assert_int_eq(sync_send(p, seq++, &r1, &ns), 0);
	probe_open(&pr[0], &b, ba);
	probe_open(&pr[1], &c, ba);

	sync_round(p, 0, pr, 2, &seq);
	sync_round(p, 1, pr, 2, &seq);
	sync_round(p, 2, pr, 2, &seq);
	/* More mirrors asked for than exist. */
	sync_timeout(p, ba, 3, 300, &seq, &r1);

	/* One mirror stopped: k=2 cannot be met, k=1 can. */
	host_signal(&c, SIGSTOP);
	sync_timeout(p, ba, 2, 500, &seq, &r1);
	ck_assert(probe_wait(&pr[0], &r1, 5));
	ck_assert_int_eq(shmq_producer_set_repl(p, 1, 5000), 0);
	ck_assert_int_eq(sync_send(p, seq++, &r2, &ns), 0);
	ck_assert(probe_has(&pr[0], &r2));
	host_signal(&c, SIGCONT);
	ck_assert_msg(probe_wait(&pr[1], &r1, 10), "the message that timed "
	    "out never reached the stopped mirror once it went on");
	ck_assert(probe_wait(&pr[1], &r2, 10));

	/* The other one killed, this one stopped: k=1 cannot be met. */
	ft_host_kill(&b);
	host_signal(&c, SIGSTOP);
	sync_timeout(p, ba, 1, 500, &seq, &r1);
	/* Async sends do not wait for anyone. */
	ck_assert_int_eq(shmq_producer_set_repl(p, 0, 0), 0);
	ck_assert_int_eq(sync_send(p, seq++, &r2, &ns), 0);
	ck_assert_msg(ns < (uint64_t)(2e8 * tu_mult()), "an async send took "
	    "%.3f s", (double)ns / 1e9);
	ft_host_start(&b);
	host_signal(&c, SIGCONT);
	ck_assert_msg(probe_wait(&pr[0], &r1, 10), "the message that timed "
	    "out never reached the mirror after its restart");
	ck_assert(probe_wait(&pr[1], &r1, 10));
	wait_caught_up(ba, pr[0].bus, &b, "sync", 10);
	wait_caught_up(ba, pr[1].bus, &c, "sync", 10);
	same_topic(ba, pr[0].bus, "sync", NULL, &cmp);
	same_topic(ba, pr[1].bus, "sync", NULL, &cmp);
	ck_assert_uint_eq(cmp.msgs, seq);

	probe_close(&pr[0]);
	probe_close(&pr[1]);
	shmq_producer_close(p);
	shmq_bus_close(ba);
	ft_host_stop(&c);
	ft_host_stop(&b);
	ft_host_stop(&a);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 6. settings                                                         */
/* ------------------------------------------------------------------ */

/*
 * shmqd with H's config plus LINE (NULL: none) and ARGS: its exit status
 * (TU_E_TIMEOUT if it ran on for 10 s); its log in *LOG (free it).
 */
static int
run_with(struct ft_host *h, const char *base, const char *line,
    const char *args, char **log)
{
	char conf[8192];
	int st;

	snprintf(conf, sizeof(conf), "%s%s%s", base, line != NULL ? line : "",
	    line != NULL ? "\n" : "");
	ft_write_file(h->conf, conf, 0600);
	ft_write_file(h->log, "", 0600);
	st = tu_wait_deadline(ft_host_spawn(h, args), 10);
	*log = tt_slurp(h->log);
	return st;
}

START_TEST(test_bad_config)
{
	static const char *const bad[] = {
		"mirror = nonsense",
		"mirror = orders@127.0.0.1:0",
		"mirror = orders@127.0.0.1:65536",
		"mirror = orders@",
		"mirror = @127.0.0.1:9876",
		"mirror = bad*name@127.0.0.1:9876",
		"mirror = orders@127.0.0.1",
	};
	struct ft_host a;
	char *base, *log, line[128];
	unsigned i;
	int st;

	ft_host_init(&a, "alpha", false, NULL);
	base = tt_slurp(a.conf);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		st = run_with(&a, base, bad[i], "", &log);
		ck_assert_msg(st == 2 && strstr(log, "mirror") != NULL,
		    "\"%s\": exit %d, expected 2 naming the key; log:\n%.2500s",
		    bad[i], st, log);
		free(log);
	}
	st = run_with(&a, base, NULL, "--mirror nonsense", &log);
	ck_assert_msg(st == 2 && strstr(log, "mirror") != NULL, "--mirror "
	    "nonsense: exit %d, expected 2 naming the key; log:\n%.2500s", st,
	    log);
	free(log);

	/* The same keys well written: shmqd runs (its home need not be up). */
	snprintf(line, sizeof(line), "mirror = orders@127.0.0.1:%d\n"
	    "mirror = fills@127.0.0.1:%d", ft_free_port(), ft_free_port());
	ft_write_file(a.log, "", 0600);
	ft_write_file(a.conf, base, 0600);
	ft_host_conf(&a, "%s", line);
	ft_host_start(&a);
	usleep(500000);
	ck_assert_msg(host_alive(&a), "shmqd with good mirror lines exited; "
	    "log ends:\n%s", ft_log_tail(&a, 2500));
	ft_host_stop(&a);
	free(base);
}
END_TEST

/*
 * A mirror whose home lacks the topic logs it and keeps trying: it
 * replicates the topic once the home has it.  A local topic of the name
 * is not a mirror's to take: shmqd logs it and leaves it alone.
 */
START_TEST(test_missing_and_local)
{
	struct ft_host a, b;
	struct shmq_bus *ba, *bb;
	struct shmq_producer *p, *pb;
	struct tails t;
	struct cmp cmp;

	ft_host_init(&a, "alpha", false, NULL);
	ft_host_init(&b, "beta", false, NULL);
	mirror_of(&b, "ghost", &a);
	mirror_of(&b, "fills", &a);
	mirror_of(&b, "orders", &a);
	ft_host_start(&a);
	ft_topic_create(&a, "fills", 2);
	ft_topic_create(&a, "orders", 2);
	/* Beta's own "orders", made before its shmqd starts. */
	ft_topic_create(&b, "orders", 1);
	bb = ft_bus_open(&b);
	ck_assert_int_eq(shmq_producer_open(&pb, bb, "local"), 0);
	send_range(pb, "orders", 0, 3, 200);
	ft_host_start(&b);
	ba = ft_bus_open(&a);
	ck_assert_int_eq(shmq_producer_open(&p, ba, "home"), 0);
	send_range(p, "fills", 0, 50, 300);
	send_range(p, "orders", 0, 50, 300);
	wait_caught_up(ba, bb, &b, "fills", 10);

	/* An error or a warning naming each (the level is shmqd's). */
	ck_assert_msg(log_line_has(b.log, "ghost", "error: ", "warning: ", 5),
	    "nothing about the missing topic in the log:\n%s",
	    ft_log_tail(&b, 2000));
	ck_assert_msg(log_line_has(b.log, "\"orders\"", "error: ", "warning: ",
	    5), "no error naming the local topic in the log:\n%s",
	    ft_log_tail(&b, 2000));
	usleep(1500000);
	ck_assert_msg(host_alive(&b), "the mirror's shmqd exited:\n%s",
	    ft_log_tail(&b, 2000));
	/* The local topic: its queue, its three messages, still writable. */
	ck_assert_int_eq(tails_get(bb, "orders", &t), 0);
	ck_assert_uint_eq(t.nq, 1);
	ck_assert_int_eq(t.mirror, 0);
	ck_assert_uint_eq(t.max[0], 3);
	send_range(pb, "orders", 3, 4, 200);
	ck_assert_int_eq(tails_get(bb, "orders", &t), 0);
	ck_assert_uint_eq(t.max[0], 4);
	ck_assert_int_eq(shmq_topic_queues(bb, "ghost"), SHMQ_ENOTOPIC);

	/* The missing topic appears on the home: it comes. */
	ft_topic_create(&a, "ghost", 3);
	send_range(p, "ghost", 0, 30, 300);
	wait_caught_up(ba, bb, &b, "ghost", 15);
	same_topic(ba, bb, "ghost", NULL, &cmp);
	ck_assert_uint_eq(cmp.msgs, 30);
	same_topic(ba, bb, "fills", NULL, &cmp);
	ck_assert_uint_eq(cmp.msgs, 50);

	shmq_producer_close(pb);
	shmq_producer_close(p);
	shmq_bus_close(bb);
	shmq_bus_close(ba);
	ft_host_stop(&b);
	ft_host_stop(&a);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 7. shmq-stat                                                        */
/* ------------------------------------------------------------------ */

#define CAUGHT_UP ".federation.links | length > 0 and all(.[]; " \
	".behind_msgs == 0 and .behind_bytes == 0)"
#define BEHIND_MSGS "[.federation.links[].behind_msgs] | add == 5000"
#define BEHIND_BYTES "[.federation.links[].behind_bytes] | add > 0"

START_TEST(test_stat)
{
	struct ft_host a, b;
	struct shmq_producer *p;
	struct shmq_bus *ba, *bb;

	pair_start(&a, &b, "orders", 2, NULL, true);
	ba = ft_bus_open(&a);
	bb = ft_bus_open(&b);
	ck_assert_int_eq(shmq_producer_open(&p, ba, "stat"), 0);
	send_range(p, "orders", 0, 1000, 300);
	wait_caught_up(ba, bb, &b, "orders", 10);
	ft_wait_jq(&a, CAUGHT_UP, 5, "nothing behind on the home");
	ft_wait_jq(&b, CAUGHT_UP, 5, "nothing behind on the mirror");

	/* The mirror stopped, 5000 messages sent: that many behind (it
	 * had caught up), and some bytes. */
	host_signal(&b, SIGSTOP);
	send_range(p, "orders", 1000, 6000, 300);
	ft_wait_jq(&a, BEHIND_MSGS, 5, "5000 messages behind, the mirror "
	    "stopped");
	ft_wait_jq(&a, BEHIND_BYTES, 2, "bytes behind, the mirror stopped");
	/* Still so once the home has given the silent mirror's connections
	 * up (3 heartbeats): it is no less behind. */
	usleep(1500000);
	ft_wait_jq(&a, BEHIND_MSGS, 0.5, "5000 messages behind, the mirror "
	    "stopped for longer than 3 heartbeats");
	tt_run("{ %s -b %s --home %s --json | jq -c '[.federation.links[] | "
	    "{host, behind_msgs, behind_bytes}]'; }",
	    tu_prog("utils/shmq-stat"), a.bus, a.home);
	fprintf(stderr, "stat: 5000 messages sent to a stopped mirror: home "
	    "shows %s", tt_out);
	host_signal(&b, SIGCONT);
	wait_caught_up(ba, bb, &b, "orders", 10);
	ft_wait_jq(&a, CAUGHT_UP, 5, "nothing behind on the home again");
	ft_wait_jq(&b, CAUGHT_UP, 5, "nothing behind on the mirror again");

	shmq_producer_close(p);
	shmq_bus_close(bb);
	shmq_bus_close(ba);
	ft_host_stop(&b);
	ft_host_stop(&a);
}
END_TEST

/*
 * Query by id on a mirror: a mirrored message keeps its home id, and the
 * mirror's shmqd indexes it by that id, so shmq_query_id with the id the
 * send returned at the home finds the mirror's copy (same queue, offset,
 * keys, body); on a mirror of that mirror too (the home id passes on).  An id of the home's store that the mirror does not hold is
 * SHMQ_ENOENT, and so is an id of a third store.
 */
#define QID_N	300

START_TEST(test_query_id)
{
	static struct shmq_send_result res[QID_N];
	static unsigned char buf[512];
	struct ft_host a, b, c;
	struct shmq_bus *ba, *bb, *bc;
	struct shmq_producer *p;
	struct shmq_msgview v;
	struct shmq_msg m;
	struct body_hdr h;
	struct rich r;
	uint64_t t0, sid, off;
	char id[SHMQ_MSGID_LEN + 1];
	unsigned i, found;
	int rc;

	pair_start(&a, &b, "orders", 4, NULL, false);
	/* Gamma mirrors the mirror: the home's ids pass on. */
	ft_host_init(&c, "gamma", false, NULL);
	mirror_of(&c, "orders", &b);
	ft_host_start(&c);
	ba = ft_bus_open(&a);
	bb = ft_bus_open(&b);
	bc = ft_bus_open(&c);
	ck_assert_int_eq(shmq_producer_open(&p, ba, "qid"), 0);
	for (i = 0; i < QID_N; i++) {
		msg_make(&m, &r, buf, body_pick_len(0, i, sizeof(buf)),
		    "orders", 0, i, true);
		ck_assert_int_eq(shmq_producer_send(p, &m, &res[i]), 0);
	}
	wait_caught_up(ba, bb, &b, "orders", 20);
	wait_caught_up(ba, bc, &c, "orders", 20);
	/* Every one on both, once shmqd indexed it (it indexes what is
	 * flushed). */
	t0 = tu_mono_ns();
	for (i = found = 0; i < 2 * QID_N; i++) {
		struct shmq_bus *on = i < QID_N ? bb : bc;
		const struct shmq_send_result *sr = &res[i % QID_N];

		while ((rc = shmq_query_id(on, sr->msg_id, &v)) ==
		    SHMQ_ENOENT && tu_mono_ns() - t0 <
		    (uint64_t)(10e9 * tu_mult()))
			usleep(20000);
		ck_assert_msg(rc == 0, "%s: query %s: %s (%s)", i < QID_N ?
		    "mirror" : "mirror of the mirror", sr->msg_id,
		    shmq_err_name(rc), shmq_errmsg());
		ck_assert_str_eq(v.msg_id, sr->msg_id);
		ck_assert_int_eq(v.queue, sr->queue);
		ck_assert_uint_eq(v.queue_off, sr->queue_off);
		ck_assert_int_eq(body_check(v.body, v.body_len, &h), 0);
		ck_assert_uint_eq(h.seq, i % QID_N);
		found++;
	}
	ck_assert_uint_eq(found, 2 * QID_N);
	/* The home answers its own ids as before. */
	ck_assert_int_eq(shmq_query_id(ba, res[7].msg_id, &v), 0);
	ck_assert_uint_eq(v.log_off, res[7].log_off);
	/* Ids the mirror does not hold: not found, said why. */
	ck_assert_int_eq(sscanf(res[QID_N - 1].msg_id, "%16llX%16llX",
	    (unsigned long long *)&sid, (unsigned long long *)&off), 2);
	snprintf(id, sizeof(id), "%016llX%016llX", (unsigned long long)sid,
	    (unsigned long long)(off + 8));
	rc = shmq_query_id(bb, id, &v);
	ck_assert_msg(rc == SHMQ_ENOENT, "a home id not held: %s",
	    shmq_err_name(rc));
	ck_assert_msg(strstr(shmq_errmsg(), "another store") != NULL, "%s",
	    shmq_errmsg());
	snprintf(id, sizeof(id), "%016llX%016llX",
	    (unsigned long long)(sid ^ 0x5a5a5a5a5a5a5a5aULL),
	    (unsigned long long)off);
	ck_assert_int_eq(shmq_query_id(bb, id, &v), SHMQ_ENOENT);

	shmq_producer_close(p);
	shmq_bus_close(bc);
	shmq_bus_close(bb);
	shmq_bus_close(ba);
	ft_host_stop(&c);
	ft_host_stop(&b);
	ft_host_stop(&a);
}
END_TEST

/* A test case of TESTS (NULL-ended) with TIMEOUT seconds each. */
static void
add_case(Suite *s, const char *name, double timeout,
    const TTest *const *tests)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, ft_teardown);
	tcase_set_timeout(tc, timeout);
	for (; *tests != NULL; tests++)
		tcase_add_test(tc, *tests);
	suite_add_tcase(s, tc);
}

/* One case per behaviour: CK_RUN_CASE=NAME runs one. */
static Suite *
repl_suite(void)
{
	const TTest *const basic[] = { test_basic, NULL };
	const TTest *const restart[] = { test_restart, NULL };
	const TTest *const holes[] = { test_holes, NULL };
	const TTest *const sync[] = { test_sync, NULL };
	const TTest *const config[] = { test_bad_config,
		test_missing_and_local, NULL };
	const TTest *const stat[] = { test_stat, NULL };
	const TTest *const query[] = { test_query_id, NULL };
	const TTest *const million[] = { test_million,
		test_million_netns, NULL };
	Suite *s = suite_create("repl");

	add_case(s, "basic", 60, basic);
	add_case(s, "restart", 60, restart);
	add_case(s, "holes", 60, holes);
	add_case(s, "sync", 60, sync);
	add_case(s, "config", 60, config);
	add_case(s, "stat", 60, stat);
	add_case(s, "query", 60, query);
	add_case(s, "million", 240, million);
	return s;
}

int
main(void)
{
	return tu_run(repl_suite);
}
