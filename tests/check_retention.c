/*
 * check_retention.c - reclaiming the store (libshmq/retention.c, run by
 * shmqd's reclaimer).
 *
 * Passes are run directly (shmq__retain_pass with a clock set hours ahead)
 * and by a real shmqd.  Each test checks what must go and, as carefully,
 * what must stay: every message that a pass keeps is read back whole, in
 * order, by a plain consumer and by a group that had consumed part of the
 * topic; reclaimed ids answer SHMQ_ERECLAIMED, never SHMQ_ECORRUPT; the
 * counters say what was dropped and how much of it a group had not read.
 * Stores: 1 MiB segments, 1 KiB messages, so a segment holds ~950.
 *
 * Other processes: a consumer process that had every segment mapped lets
 * go of the reclaimed ones after its grace (SHMQ_RELEASE_GRACE_MS, short
 * here), which /proc/<pid>/maps shows, and so does a group member of the
 * index files it mapped through a view that has grown since, and of a
 * deleted topic's; a producer process meets the write refusal as
 * SHMQ_ENOSPC with a message, and writes again once it lifts.
 * As root: a store on a 48 MiB tmpfs (own mount namespace) filled up,
 * with shmqd running: sends fail cleanly, nothing acknowledged is lost,
 * and sends succeed again when space is freed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <shmq/shmq.h>

#include "bus.h"
#include "consumequeue.h"
#include "internal.h"
#include "prefault.h"
#include "region.h"
#include "retention.h"
#include "topic.h"
#include "testutil.h"
#include "tooltest.h"

#define TOPIC	"ret.topic"
#define NQ	2
#define SEG	(1u << 20)
#define BODY	1000
#define HOUR_NS	(3600ull * 1000000000ull)

struct sent {
	uint64_t	log_off;
	uint64_t	queue_off;
	int		queue;
	char		id[SHMQ_MSGID_LEN + 1];
};

static struct sent *sent;
static int nsent;

static struct shmq_bus *
bus_open(void)
{
	struct shmq_bus *bus;

	ck_assert_int_eq(tu_bus_open(&bus, SEG, 1024), 0);
	return bus;
}

/* Body of message I: its number, then a pattern of it. */
static void
body_of(int i, char *buf)
{
	int k;

	k = snprintf(buf, BODY, "m%08d ", i);
	for (; k < BODY; k++)
		buf[k] = (char)('a' + (i + k) % 26);
}

/* *M: a message of TOPIC with the text BODY. */
static void
msg_text(struct shmq_msg *m, const char *topic, const char *body)
{
	shmq_msg_init(m);
	m->topic = topic;
	m->body = body;
	m->body_len = strlen(body);
}

/* Send N more messages to TOPIC, recorded in sent[]. */
static void
send_n(struct shmq_bus *bus, int n)
{
	struct shmq_producer *p;
	struct shmq_send_result res;
	struct shmq_msg m;
	char body[BODY];
	int i, rc;

	(void)shmq_topic_create(bus, TOPIC, NQ);
	sent = realloc(sent, (size_t)(nsent + n) * sizeof(*sent));
	ck_assert_ptr_nonnull(sent);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < n; i++) {
		shmq_msg_init(&m);
		m.topic = TOPIC;
		body_of(nsent, body);
		m.body = body;
		m.body_len = BODY;
		rc = shmq_producer_send(p, &m, &res);
		ck_assert_msg(rc == 0, "send %d: %s", nsent, shmq_errmsg());
		sent[nsent].log_off = res.log_off;
		sent[nsent].queue_off = res.queue_off;
		sent[nsent].queue = res.queue;
		strlcpy(sent[nsent].id, res.msg_id, sizeof(sent[nsent].id));
		nsent++;
	}
	shmq_producer_close(p);
}

static int
num_of(const struct shmq_msgview *v)
{
	char buf[BODY];

	const char *b = v->body;

	ck_assert_uint_eq(v->body_len, BODY);
	ck_assert_int_eq(b[0], 'm');
	body_of(atoi(b + 1), buf);
	ck_assert_msg(memcmp(buf, b, BODY) == 0, "torn body");
	return atoi(b + 1);
}

/*
 * Read everything C gets until nothing comes for a while; every message
 * must be one of sent[] with log_off >= MIN, each once, each queue in
 * order.  Returns how many.
 */
static int
drain(struct shmq_consumer *c, uint64_t min, char *seen)
{
	struct shmq_msgview v[64];
	int64_t last[NQ] = { -1, -1 };
	int got = 0, r, i, k;

	for (;;) {
		r = shmq_consumer_poll(c, v, 64, 300);
		ck_assert_msg(r >= 0, "poll: %s", shmq_errmsg());
		if (r == 0)
			break;
		for (i = 0; i < r; i++) {
			k = num_of(&v[i]);
			ck_assert_int_lt(k, nsent);
			ck_assert_msg(sent[k].log_off >= min,
			    "message %d at %llu is below the log start %llu", k,
			    (unsigned long long)sent[k].log_off,
			    (unsigned long long)min);
			ck_assert_msg(!seen[k], "message %d twice", k);
			seen[k] = 1;
			ck_assert_int_gt((int64_t)v[i].queue_off,
			    last[v[i].queue]);
			last[v[i].queue] = (int64_t)v[i].queue_off;
			got++;
		}
	}
	return got;
}

/* How many of sent[] lie at or above MIN. */
static int
kept(uint64_t min)
{
	int i, n = 0;

	for (i = 0; i < nsent; i++)
		n += sent[i].log_off >= min;
	return n;
}

static void
conf_time(struct shmq__retain_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->retention_ms = 3600 * 1000;
}

/* Commitlog segment files in the store. */
static int
seg_files(void)
{
	char dir[PATH_MAX];
	uint64_t *v;
	size_t n;

	snprintf(dir, sizeof(dir), "%s/%s/commitlog", tu_home(), tu_bus());
	ck_assert_int_eq(shmq__list_numbered(dir, &v, &n), 0);
	free(v);
	return (int)n;
}

static void
reset_sent(void)
{
	free(sent);
	sent = NULL;
	nsent = 0;
}

/* A plain consumer of every queue of TOPIC, from the first message kept;
 * NULL if it cannot be made (children test for it). */
static struct shmq_consumer *
reader_try(struct shmq_bus *bus)
{
	struct shmq_consumer *c;

	if (shmq_consumer_open(&c, bus) != 0)
		return NULL;
	if (shmq_consumer_assign(c, TOPIC, SHMQ_QUEUE_ANY, NULL) != 0 ||
	    shmq_consumer_seek(c, TOPIC, SHMQ_QUEUE_ANY, SHMQ_SEEK_FIRST,
	    0) != 0) {
		shmq_consumer_close(c);
		return NULL;
	}
	return c;
}

static struct shmq_consumer *
reader_open(struct shmq_bus *bus)
{
	struct shmq_consumer *c = reader_try(bus);

	ck_assert_msg(c != NULL, "reader: %s", shmq_errmsg());
	return c;
}

/* A group consumer of TOPIC from the first message. */
static struct shmq_consumer *
group_open(struct shmq_bus *bus, const char *group)
{
	struct shmq_group_opts go;
	struct shmq_consumer *c;

	shmq_group_opts_init(&go);
	go.start = SHMQ_SEEK_FIRST;
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, group, &go), 0);
	ck_assert_int_eq(shmq_consumer_subscribe(c, TOPIC, NULL), 0);
	return c;
}

/* Consume and commit N messages of C. */
static void
consume_n(struct shmq_consumer *c, int n)
{
	struct shmq_msgview v[16];
	int got = 0, r;

	while (got < n) {
		r = shmq_consumer_poll(c, v, (size_t)(n - got < 16 ? n - got :
		    16), 1000);
		ck_assert_int_gt(r, 0);
		got += r;
	}
	ck_assert_int_eq(shmq_consumer_commit(c, NULL, SHMQ_QUEUE_ANY,
	    SHMQ_OFFSET_CURRENT), 0);
}

/*
 * Child: a reader in its own process, placed at the first message before
 * the pass (so below what the pass keeps), reads after it: it must skip
 * what went and get the rest, each once.  Exit 0, or a code.
 */
static void
early_reader(uint32_t *flag)
{
	struct shmq_bus *b;
	struct shmq_consumer *c;
	struct shmq_msgview v[64];
	char *seen = calloc((size_t)nsent, 1);
	int r, i, k, n = 0;
	uint64_t min;

	if (seen == NULL || tu_bus_open(&b, SEG, 1024) != 0 ||
	    (c = reader_try(b)) == NULL)
		_exit(3);
	ck_pr_store_32(&flag[0], 1);
	tu_wait_flag(&flag[1], 30);
	min = ck_pr_load_64(&b->ctl->log_min_off);
	while ((r = shmq_consumer_poll(c, v, 64, 300)) > 0)
		for (i = 0; i < r; i++, n++) {
			k = atoi((const char *)v[i].body + 1);
			if (k < 0 || k >= nsent || seen[k] ||
			    sent[k].log_off < min)
				_exit(4);
			seen[k] = 1;
		}
	if (r < 0)
		_exit(5);
	if (n != kept(min))
		_exit(6);
	_exit(0);
}

/* No index file of QUEUE lies wholly below its first entry kept. */
static void
no_file_below(struct shmq_bus *bus, int queue)
{
	struct shmq_topic *t;
	char dir[PATH_MAX];
	uint64_t *v, idx, min;
	size_t n;

	ck_assert_int_eq(shmq__topic_get(bus, TOPIC, false, 0, &t), 0);
	min = ck_pr_load_64(&t->cq[queue].qc->min_off);
	ck_assert_uint_gt(min, 0);
	snprintf(dir, sizeof(dir), "%s/%s/consumequeue/%s/%d", tu_home(),
	    tu_bus(), TOPIC, queue);
	ck_assert_int_eq(shmq__list_numbered(dir, &v, &n), 0);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_eq(v[0], shmq__cq_file_start(bus,
	    shmq__cq_locate(bus, min, &idx)));
	free(v);
}

/* ------------------------------------------------------------------ */

START_TEST(t_time)
{
	struct shmq_bus *bus = bus_open();
	struct shmq__retain_conf conf;
	struct shmq__retain_result r;
	struct shmq_consumer *g, *c;
	struct shmq_bus_info bi;
	struct shmq_msgview v;
	uint64_t min, committed[NQ], unconsumed = 0, below[NQ] = { 0, 0 };
	char *seen;
	uint32_t *flag = tu_shared_new(4096);
	pid_t pid;
	int i, q;

	send_n(bus, 5000);
	g = group_open(bus, "g");
	consume_n(g, 1500);
	shmq_consumer_close(g);
	tu_group_committed(bus, "g", TOPIC, committed, NQ);
	/* No thread of this process may hold a lock the child needs (its
	 * allocator's, under ASan) when it forks: stop the prefault thread
	 * the producer started. */
	shmq__prefault_stop(bus);
	if ((pid = fork()) == 0)
		early_reader(flag);
	tu_wait_flag(&flag[0], 10);

	/* Not expired yet: nothing goes. */
	conf_time(&conf);
	ck_assert_int_eq(shmq__retain_pass(bus, &conf, shmq__real_ns(), &r),
	    0);
	ck_assert_uint_eq(r.segs, 0);
	ck_assert_uint_eq(r.entries, 0);
	ck_assert(!r.refused);

	/* Two hours later: every segment but the tail's. */
	ck_assert_int_eq(shmq__retain_pass(bus, &conf, shmq__real_ns() +
	    2 * HOUR_NS, &r), 0);
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	min = bi.log_min_off;
	ck_assert_uint_eq(min, bi.log_tail_off - bi.log_tail_off % SEG);
	ck_assert_uint_ge(r.segs, 4);
	ck_assert_uint_eq(r.segs, min / SEG);
	ck_assert_uint_eq(r.bytes, r.segs * SEG);
	for (i = 0; i < nsent; i++)
		if (sent[i].log_off < min)
			below[sent[i].queue]++;
	for (q = 0; q < NQ; q++)
		if (committed[q] < below[q])
			unconsumed += below[q] - committed[q];
	ck_assert_uint_eq(r.entries, below[0] + below[1]);
	ck_assert_uint_eq(r.unconsumed, unconsumed);
	ck_assert_uint_eq(bi.reclaimed_segments, r.segs);
	ck_assert_uint_eq(bi.reclaimed_entries, r.entries);
	ck_assert_uint_eq(bi.reclaimed_unconsumed, unconsumed);
	ck_pr_store_32(&flag[1], 1);
	ck_assert_int_eq(tu_wait(pid), 0);
	no_file_below(bus, 0);
	no_file_below(bus, 1);
	munmap(flag, 4096);
	ck_assert_int_eq(seg_files(), (int)((bi.log_tail_off + SEG - 1) / SEG -
	    r.segs) + (tu_sh("test -e %s/%s/commitlog/%020llu", tu_home(),
	    tu_bus(), (unsigned long long)((bi.log_tail_off / SEG + 1) *
	    SEG)) == 0));

	/* A plain consumer from the first entry kept: exactly the rest. */
	seen = calloc((size_t)nsent, 1);
	c = reader_open(bus);
	ck_assert_int_eq(drain(c, min, seen), kept(min));
	shmq_consumer_close(c);
	/* The group, whose offsets point into what went: the same. */
	memset(seen, 0, (size_t)nsent);
	g = group_open(bus, "g");
	ck_assert_int_eq(drain(g, min, seen), kept(min));
	shmq_consumer_close(g);
	free(seen);

	/* By id: reclaimed, or whole. */
	ck_assert_int_eq(shmq_query_id(bus, sent[0].id, &v), SHMQ_ERECLAIMED);
	ck_assert_int_eq(shmq_query_id(bus, sent[nsent - 1].id, &v), 0);
	ck_assert_int_eq(num_of(&v), nsent - 1);
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->corrupt), 0);

	/* Again: nothing more. */
	ck_assert_int_eq(shmq__retain_pass(bus, &conf, shmq__real_ns() +
	    2 * HOUR_NS, &r), 0);
	ck_assert_uint_eq(r.segs + r.entries, 0);

	/* Reopened (rebuilt from the store): the same start. */
	shmq_bus_close(bus);
	bus = bus_open();
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	ck_assert_uint_eq(bi.log_min_off, min);
	seen = calloc((size_t)nsent, 1);
	c = reader_open(bus);
	ck_assert_int_eq(drain(c, min, seen), kept(min));
	shmq_consumer_close(c);
	free(seen);
	shmq_bus_close(bus);
	reset_sent();
}
END_TEST

/*
 * A crash between unlinking the segments and dropping the index entries
 * (here: the oldest segment removed while the bus is closed): readers
 * skip the entries that point into it as reclaimed, not corrupt, and the
 * next pass drops them.
 */
START_TEST(t_crash_between)
{
	struct shmq_bus *bus = bus_open();
	struct shmq__retain_conf conf;
	struct shmq__retain_result r;
	struct shmq_consumer *c;
	struct shmq_bus_info bi;
	char *seen;
	int n;

	send_n(bus, 3000);
	shmq_bus_close(bus);
	ck_assert_int_eq(tu_sh("rm %s/%s/commitlog/%020d", tu_home(),
	    tu_bus(), 0), 0);
	bus = bus_open();
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	ck_assert_uint_eq(bi.log_min_off, SEG);
	seen = calloc((size_t)nsent, 1);
	c = reader_open(bus);
	n = drain(c, SEG, seen);
	ck_assert_int_eq(n, kept(SEG));
	shmq_consumer_close(c);
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->corrupt), 0);
	conf_time(&conf);
	ck_assert_int_eq(shmq__retain_pass(bus, &conf, shmq__real_ns(), &r),
	    0);
	ck_assert_uint_eq(r.segs, 0);
	ck_assert_uint_eq(r.entries, (uint64_t)(nsent - kept(SEG)));
	free(seen);
	shmq_bus_close(bus);
	reset_sent();
}
END_TEST

/* Count process PID's mappings of deleted files whose path has WHAT
 * ("/commitlog/": segments; the store root: any of its files). */
static int
deleted_maps(pid_t pid, const char *what)
{
	char path[64], line[4096];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, what) != NULL &&
		    strstr(line, "(deleted)") != NULL)
			n++;
	fclose(f);
	return n;
}

/*
 * Wait a few s at most until process PID maps no deleted file whose path
 * has WHAT or WHAT2 (NULL: only WHAT).  The count at the start goes to
 * *BEFORE; returns the last one.
 */
static int
wait_unmapped(pid_t pid, const char *what, const char *what2, int *before)
{
	uint64_t t0 = tu_mono_ns();
	int n;

	*before = -1;
	do {
		n = deleted_maps(pid, what) +
		    (what2 != NULL ? deleted_maps(pid, what2) : 0);
		if (*before < 0)
			*before = n;
		if (n == 0)
			break;
		usleep(20000);
	} while (tu_mono_ns() - t0 < 5e9 * tu_mult());
	return n;
}

/*
 * Another process that read (and so mapped) every segment: once they are
 * reclaimed it holds them (and their disk space) only for its grace, then
 * lets go while it idles in a poll.
 */
START_TEST(t_release)
{
	struct shmq_bus *bus = bus_open();
	struct shmq__retain_conf conf;
	struct shmq__retain_result r;
	uint32_t *flag = tu_shared_new(4096);
	pid_t pid;
	int n, before;

	send_n(bus, 5000);
	/* The child would inherit this process's mappings: drop them. */
	shmq_bus_close(bus);
	setenv("SHMQ_RELEASE_GRACE_MS", "300", 1);
	if ((pid = fork()) == 0) {
		struct shmq_bus *b;
		struct shmq_consumer *c;
		struct shmq_msgview v[64];

		if (tu_bus_open(&b, SEG, 1024) != 0 ||
		    (c = reader_try(b)) == NULL)
			_exit(3);
		while (shmq_consumer_poll(c, v, 64, 0) > 0)
			;
		ck_pr_store_32(&flag[0], 1);
		/* Idle: poll until told to stop. */
		while (ck_pr_load_32(&flag[1]) == 0)
			(void)shmq_consumer_poll(c, v, 64, 100);
		_exit(0);
	}
	unsetenv("SHMQ_RELEASE_GRACE_MS");
	tu_wait_flag(&flag[0], 10);
	bus = bus_open();
	conf_time(&conf);
	ck_assert_int_eq(shmq__retain_pass(bus, &conf, shmq__real_ns() +
	    2 * HOUR_NS, &r), 0);
	ck_assert_uint_ge(r.segs, 4);
	/* Still mapped right after (the grace), gone within a few s. */
	n = wait_unmapped(pid, "/commitlog/", NULL, &before);
	ck_pr_store_32(&flag[1], 1);
	ck_assert_int_eq(tu_wait(pid), 0);
	ck_assert_msg(before >= 1, "the reader had no reclaimed segment "
	    "mapped (%d)", before);
	ck_assert_msg(n == 0, "the reader still maps %d deleted segments", n);
	munmap(flag, 4096);
	shmq_bus_close(bus);
	reset_sent();
}
END_TEST

/*
 * Child of t_release_grown: a group member that read TOPIC's two queues
 * and "gone"'s one (mapping their index files), then, once TOPIC has four
 * queues, saw its view grow (a new array; its subs keep the old one) and
 * said so; idles in poll until told to stop.
 */
static void
grown_reader(uint32_t *flag)
{
	struct shmq_bus *b;
	struct shmq_consumer *g, *c;
	struct shmq_topic *t;
	struct shmq_msgview v[64];
	int n = 0, r;

	if (tu_bus_open(&b, SEG, 1024) != 0)
		_exit(3);
	g = group_open(b, "grown");
	while ((r = shmq_consumer_poll(g, v, 64, 300)) > 0)
		n += r;
	if (r < 0 || n != nsent)
		_exit(4);
	if (shmq_consumer_open(&c, b) != 0 ||
	    shmq_consumer_assign(c, "gone", 0, NULL) != 0 ||
	    shmq_consumer_seek(c, "gone", 0, SHMQ_SEEK_FIRST, 0) != 0 ||
	    shmq_consumer_poll(c, v, 64, 1000) != 1)
		_exit(5);
	shmq_consumer_close(c);
	ck_pr_store_32(&flag[0], 1);
	/* The group acts on the new queue count at its next poll. */
	while ((t = shmq__topic_find(b, TOPIC)) == NULL || t->queues != 2 * NQ)
		if (shmq_consumer_poll(g, v, 64, 100) < 0)
			_exit(6);
	ck_pr_store_32(&flag[1], 1);
	while (ck_pr_load_32(&flag[2]) == 0)
		if (shmq_consumer_poll(g, v, 64, 100) < 0)
			_exit(7);
	_exit(0);
}

/*
 * As t_release, for index files: a process whose view of a topic grew
 * while it held queues of the old view (group subs point into the old
 * array) lets go of the reclaimed index files it mapped through that old
 * array, and of a deleted topic's, after its grace.  Fails if the sweep
 * walks only each topic's current view.
 */
START_TEST(t_release_grown)
{
	struct shmq_bus *bus = bus_open();
	struct shmq__retain_conf conf;
	struct shmq__retain_result r;
	struct shmq_topic_conf tcf;
	struct shmq_producer *p;
	struct shmq_msg m;
	uint32_t *flag = tu_shared_new(4096);
	pid_t pid;
	int n, before;

	send_n(bus, 5000);
	ck_assert_int_eq(shmq_topic_create(bus, "gone", 1), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	msg_text(&m, "gone", "x");
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	setenv("SHMQ_RELEASE_GRACE_MS", "300", 1);
	if ((pid = fork()) == 0)
		grown_reader(flag);
	unsetenv("SHMQ_RELEASE_GRACE_MS");
	tu_wait_flag(&flag[0], 20);
	bus = bus_open();
	memset(&tcf, 0, sizeof(tcf));
	tcf.queues = 2 * NQ;
	ck_assert_int_eq(shmq_topic_update(bus, TOPIC, &tcf,
	    SHMQ_TOPIC_SET_QUEUES), 0);
	ck_assert_int_eq(shmq_topic_delete(bus, "gone", 0), 0);
	tu_wait_flag(&flag[1], 20);
	conf_time(&conf);
	ck_assert_int_eq(shmq__retain_pass(bus, &conf, shmq__real_ns() +
	    2 * HOUR_NS, &r), 0);
	ck_assert_uint_ge(r.segs, 4);
	no_file_below(bus, 0);
	n = wait_unmapped(pid, "/consumequeue/", "/" SHMQ_TRASH_DIR "/",
	    &before);
	ck_pr_store_32(&flag[2], 1);
	ck_assert_int_eq(tu_wait_deadline(pid, 20), 0);
	ck_assert_msg(before >= 3, "the reader had %d reclaimed or deleted "
	    "index files mapped", before);
	ck_assert_msg(n == 0, "the reader still maps %d reclaimed or deleted "
	    "index files", n);
	munmap(flag, 4096);
	shmq_bus_close(bus);
	reset_sent();
}
END_TEST

/* Child: send until refused, then until accepted again; report. */
static void
refused_child(uint32_t *flag)
{
	struct shmq_bus *b;
	struct shmq_producer *p;
	struct shmq_msg m;
	int rc;

	if (tu_bus_open(&b, SEG, 1024) != 0 ||
	    shmq_producer_open(&p, b, NULL) != 0)
		_exit(3);
	msg_text(&m, TOPIC, "x");
	/* Told the ceiling is set: a send fails, cleanly. */
	tu_wait_flag(&flag[0], 10);
	rc = shmq_producer_send(p, &m, NULL);
	if (rc != SHMQ_ENOSPC || strstr(shmq_errmsg(), "ceiling") == NULL)
		_exit(4);
	ck_pr_store_32(&flag[1], 1);
	/* Lifted: it goes through. */
	tu_wait_flag(&flag[2], 10);
	if (shmq_producer_send(p, &m, NULL) != 0)
		_exit(5);
	shmq_producer_close(p);
	shmq_bus_close(b);
	_exit(0);
}

START_TEST(t_refuse)
{
	struct shmq_bus *bus = bus_open();
	struct shmq__retain_conf conf;
	struct shmq__retain_result r;
	struct shmq_bus_info bi;
	uint32_t *flag = tu_shared_new(4096);
	pid_t pid;
	int rc;

	/* Fork before this process has threads (send_n's producer starts
	 * the prefault thread): a child forked while another thread holds
	 * the allocator's lock can hang in malloc (seen under ASan). */
	if ((pid = fork()) == 0)
		refused_child(flag);
	send_n(bus, 500);
	conf_time(&conf);
	conf.store_hard_bytes = 4096;	/* surely above */
	ck_assert_int_eq(shmq__retain_pass(bus, &conf, shmq__real_ns(), &r),
	    0);
	ck_assert(r.refused);
	ck_assert_uint_gt(r.store_bytes, 4096);
	ck_assert_uint_eq(r.segs, 0);		/* nothing expired */
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	ck_assert_int_eq(bi.writes_refused, 1);
	ck_pr_store_32(&flag[0], 1);
	tu_wait_flag(&flag[1], 10);
	/* The tool says why, and exits 1. */
	rc = tt_run("%s -t %s -m hi", tu_prog("utils/shmq-send"), TOPIC);
	ck_assert_msg(rc == 1, "shmq-send: %d: %s %s", rc, tt_out, tt_err);
	ck_assert_msg(strstr(tt_err, "ceiling") != NULL, "%s", tt_err);
	conf.store_hard_bytes = 0;
	ck_assert_int_eq(shmq__retain_pass(bus, &conf, shmq__real_ns(), &r),
	    0);
	ck_assert(!r.refused);
	ck_pr_store_32(&flag[2], 1);
	ck_assert_int_eq(tu_wait(pid), 0);
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	ck_assert_int_eq(bi.writes_refused, 0);
	ck_assert_uint_ge(bi.refused_sends, 2);
	munmap(flag, 4096);
	shmq_bus_close(bus);
	reset_sent();
}
END_TEST

/* A group behind keeps what it has not read (protect_unconsumed). */
START_TEST(t_protect)
{
	struct shmq_bus *bus = bus_open();
	struct shmq__retain_conf conf;
	struct shmq__retain_result r;
	struct shmq_consumer *g;
	uint64_t later = shmq__real_ns() + 2 * HOUR_NS;

	send_n(bus, 4000);
	g = group_open(bus, "slow");
	consume_n(g, 10);
	conf_time(&conf);
	conf.protect_unconsumed = true;
	ck_assert_int_eq(shmq__retain_pass(bus, &conf, later, &r), 0);
	ck_assert_uint_eq(r.segs, 0);
	ck_assert_uint_ge(r.held, 3);
	ck_assert_str_eq(r.held_by, TOPIC);
	/* Half read: the segments below the group's position go. */
	consume_n(g, 2000);
	ck_assert_int_eq(shmq__retain_pass(bus, &conf, later, &r), 0);
	ck_assert_uint_ge(r.segs, 1);
	ck_assert_uint_eq(r.unconsumed, 0);
	ck_assert_uint_ge(r.held, 1);
	/* Unprotected: the rest go, and are counted unconsumed. */
	conf.protect_unconsumed = false;
	ck_assert_int_eq(shmq__retain_pass(bus, &conf, later, &r), 0);
	ck_assert_uint_ge(r.segs, 1);
	ck_assert_uint_gt(r.unconsumed, 0);
	shmq_consumer_close(g);
	shmq_bus_close(bus);
	reset_sent();
}
END_TEST

/* The soft ceiling takes the oldest, expired or not; never the tail's. */
START_TEST(t_soft_ceiling)
{
	struct shmq_bus *bus = bus_open();
	struct shmq__retain_conf conf;
	struct shmq__retain_result r;

	send_n(bus, 6000);
	conf_time(&conf);
	conf.store_max_bytes = 3 * SEG;
	ck_assert_int_eq(shmq__retain_pass(bus, &conf, shmq__real_ns(), &r),
	    0);
	ck_assert_uint_ge(r.segs, 2);
	ck_assert_uint_le(r.store_bytes, 3 * SEG + SEG / 2);
	conf.store_max_bytes = 1;
	ck_assert_int_eq(shmq__retain_pass(bus, &conf, shmq__real_ns(), &r),
	    0);
	ck_assert_int_eq(tu_sh("ls %s/%s/commitlog | grep -q .", tu_home(),
	    tu_bus()), 0);
	send_n(bus, 10);
	shmq_bus_close(bus);
	reset_sent();
}
END_TEST

/* A topic whose retention is shorter than the bus's loses its entries by
 * age while the shared segments stay for the others. */
START_TEST(t_topic_retention)
{
	struct shmq_bus *bus = bus_open();
	struct shmq__retain_conf conf;
	struct shmq__retain_result r;
	struct shmq_topic *t;
	struct shmq_consumer *c;
	struct shmq_msgview v[8];
	struct shmq_producer *p;
	struct shmq_msg m;

	ck_assert_int_eq(shmq_topic_create(bus, "short", 1), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	msg_text(&m, "short", "old");
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	send_n(bus, 20);
	/* Through the operator's tool, as a user would. */
	ck_assert_int_eq(tt_run("%s topic update short --retention 1s",
	    tu_prog("utils/shmq-admin")), 0);
	ck_assert_int_eq(shmq__topic_get(bus, "short", false, 0, &t), 0);
	ck_assert_uint_eq(ck_pr_load_64(&t->tc->retention_ms), 1000);
	conf_time(&conf);
	ck_assert_int_eq(shmq__retain_pass(bus, &conf, shmq__real_ns() +
	    5000000000ull, &r), 0);
	ck_assert_uint_eq(r.segs, 0);
	ck_assert_uint_eq(r.entries, 2);
	m.body = "new";
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "short", 0, NULL), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, "short", 0, SHMQ_SEEK_FIRST, 0),
	    0);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 8, 1000), 1);
	ck_assert_uint_eq(v[0].queue_off, 2);
	ck_assert(memcmp(v[0].body, "new", 3) == 0);
	shmq_consumer_close(c);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	reset_sent();
}
END_TEST

/* shmqd does it by itself, says so in its log and in shmq-stat. */
START_TEST(t_shmqd)
{
	struct shmq_bus *bus = bus_open();
	struct shmq_bus_info bi;
	pid_t d;
	uint64_t t0;

	send_n(bus, 3000);
	sleep(2);
	send_n(bus, 1000);
	d = tt_shmqd_start("--retention 1s --retention-interval 100");
	ck_assert(tt_shmqd_log_has("retention: ", 1));
	t0 = tu_mono_ns();
	do {
		ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
		if (bi.reclaimed_segments >= 2)
			break;
		usleep(50000);
	} while (tu_mono_ns() - t0 < 5e9 * tu_mult());
	ck_assert_uint_ge(bi.reclaimed_segments, 2);
	ck_assert_int_eq(tt_run("%s --json", tu_prog("utils/shmq-stat")), 0);
	ck_assert(tt_json_valid(tt_out));
	ck_assert_msg(strstr(tt_out, "\"retention\":{\"segments\":") != NULL,
	    "%s", tt_out);
	ck_assert_int_eq(tt_run("%s", tu_prog("utils/shmq-stat")), 0);
	ck_assert_msg(strstr(tt_out, "reclaimed:") != NULL, "%s", tt_out);
	ck_assert_int_eq(tt_shmqd_stop(d), 0);
	ck_assert_int_eq(tt_run("%s --retention 5x", tu_prog("shmqd/shmqd")),
	    2);
	ck_assert_msg(strstr(tt_err, "--retention") != NULL, "%s", tt_err);
	shmq_bus_close(bus);
	reset_sent();
}
END_TEST

/* ------------------------------------------------------------------ */
/* A real full disk (root: a small tmpfs in a mount namespace)         */
/* ------------------------------------------------------------------ */

static void
disk_full_child(const char *dir)
{
	struct shmq_bus *bus;
	struct shmq_producer *p;
	struct shmq_msg m;
	char body[BODY], path[PATH_MAX], conf[PATH_MAX];
	int acked = 0, i, rc = 0;
	pid_t d;
	uint64_t t0;

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=48m") < 0)
		_exit(77);
	setenv("SHMQ_HOME", dir, 1);
	snprintf(conf, sizeof(conf), "%s/shmqd-small.conf", tu_home());
	/* Refuse at 90 %, never reclaim by force: the test wants the
	 * refusal, not the forced reclaim. */
	if (tu_sh("printf 'disk_reclaim_ratio = 0\\ndisk_refuse_ratio = 90\\n"
	    "retention_check_interval_ms = 50\\n' > %s", conf) != 0)
		_exit(10);
	if (tu_bus_open(&bus, 4u << 20, 1024) != 0 ||
	    shmq_topic_create(bus, TOPIC, NQ) != 0 ||
	    shmq_producer_open(&p, bus, NULL) != 0)
		_exit(11);
	snprintf(path, sizeof(path), "%s/ballast", dir);
	if (tu_sh("fallocate -l 30m %s", path) != 0)
		_exit(12);
	usleep(300000);		/* shmqd's first passes */
	snprintf(path, sizeof(path), "-c %s", conf);
	d = tt_shmqd_start(path);
	snprintf(path, sizeof(path), "%s/ballast", dir);
	shmq_msg_init(&m);
	m.topic = TOPIC;
	m.body = body;
	m.body_len = BODY;
	/* Fill: until refused (or the file system says no). */
	for (i = 0; i < 100000; i++) {
		body_of(i, body);
		if ((rc = shmq_producer_send(p, &m, NULL)) != 0)
			break;
		acked++;
	}
	if (rc != SHMQ_ENOSPC || acked == 0)
		_exit(13);
	fprintf(stderr, "disk full after %d messages: %s\n", acked,
	    shmq_errmsg());
	/* Everything acknowledged is there, whole. */
	{
		struct shmq_consumer *c;
		struct shmq_msgview v[64];
		int n = 0, r, k;

		if ((c = reader_try(bus)) == NULL)
			_exit(14);
		while ((r = shmq_consumer_poll(c, v, 64, 200)) > 0)
			for (k = 0; k < r; k++, n++) {
				body_of(atoi((const char *)v[k].body + 1),
				    body);
				if (v[k].body_len != BODY ||
				    memcmp(body, v[k].body, BODY) != 0)
					_exit(15);
			}
		shmq_consumer_close(c);
		if (n != acked)
			_exit(16);
	}
	/* Freed: accepted again within a few passes. */
	unlink(path);
	t0 = tu_mono_ns();
	while ((rc = shmq_producer_send(p, &m, NULL)) != 0 &&
	    tu_mono_ns() - t0 < 5e9 * tu_mult())
		usleep(20000);
	if (rc != 0)
		_exit(17);
	for (i = 0; i < 1000; i++)
		if (shmq_producer_send(p, &m, NULL) != 0)
			_exit(18);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	if (tt_shmqd_stop(d) != 0)
		_exit(19);
	if (umount2(dir, MNT_DETACH) < 0)
		_exit(20);
	_exit(0);
}

START_TEST(t_disk_full)
{
	char dir[PATH_MAX];
	pid_t pid;
	int st;

	if (geteuid() != 0) {
		fprintf(stderr, "t_disk_full: not root, skipped\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/small", tu_home());
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	if ((pid = fork()) == 0)
		disk_full_child(dir);
	st = tu_wait_deadline(pid, 60);
	if (st == 77) {
		fprintf(stderr, "t_disk_full: no mount namespace, skipped\n");
		return;
	}
	ck_assert_msg(st == 0, "disk-full child: %s (%d)", tu_exit_name(st),
	    st);
	/* shmqd saw both (its log is outside the tmpfs). */
	ck_assert_int_eq(tu_sh("grep -q 'writes are refused' %s/shmqd.log",
	    tu_home()), 0);
	ck_assert_int_eq(tu_sh("grep -q 'writes are accepted' %s/shmqd.log",
	    tu_home()), 0);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("retention");
	TCase *tc = tcase_create("retention");

	tcase_add_checked_fixture(tc, tt_setup, tt_teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, t_time);
	tcase_add_test(tc, t_crash_between);
	tcase_add_test(tc, t_release);
	tcase_add_test(tc, t_release_grown);
	tcase_add_test(tc, t_refuse);
	tcase_add_test(tc, t_protect);
	tcase_add_test(tc, t_soft_ceiling);
	tcase_add_test(tc, t_topic_retention);
	tcase_add_test(tc, t_shmqd);
	tcase_add_test(tc, t_disk_full);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(suite);
}
