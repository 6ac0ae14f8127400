/*
 * check_topicadmin.c - changing and deleting topics while processes use
 * them: growing the queue count under a live producer and a live consumer
 * group, permissions, deletion (live, then recreated, then across a
 * crash, against late producers, and what a crash leaves in the trash),
 * persistence across reopen and recovery, bad input, and the shmq-admin
 * and shmq-send faces of it.
 *
 * Every process opens the bus itself (the library's handles are per
 * process); children report through shared pages and their exit codes.
 *
 * The races of a deletion with late producers (topicadmin.c) are made
 * with the library's internals: a child that passed a send's check goes
 * on with the rest of a send (log reservation, record) once the deletion
 * is flagged, and an old view of a deleted topic asks for a new index
 * file once a new topic of the name exists.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ck_pr.h>
#include <shmq/shmq.h>

#include "bus.h"
#include "commitlog.h"
#include "consumequeue.h"
#include "msg.h"
#include "retention.h"
#include "topic.h"
#include "testutil.h"
#include "tooltest.h"

#define SEG	(1u << 20)
#define CQE	1024u
#define NGROW	6000u		/* messages of the growth test */
#define MAXQ	8

static struct shmq_bus *
bus_open(void)
{
	struct shmq_bus *bus;

	ck_assert_int_eq(tu_bus_open(&bus, SEG, CQE), 0);
	return bus;
}

static int
send_seq(struct shmq_producer *p, const char *topic, uint64_t seq,
    struct shmq_send_result *res)
{
	struct shmq_msg m;

	shmq_msg_init(&m);
	m.topic = topic;
	m.body = &seq;
	m.body_len = sizeof(seq);
	return shmq_producer_send(p, &m, res);
}

static void
wait_flag_child(const uint32_t *flag, double secs)
{
	uint64_t end = tu_mono_ns() + (uint64_t)(secs * tu_mult() * 1e9);

	while (ck_pr_load_32((uint32_t *)(uintptr_t)flag) == 0 &&
	    tu_mono_ns() < end)
		usleep(1000);
}

/* ------------------------------------------------------------------ */
/* Growing under load                                                  */
/* ------------------------------------------------------------------ */

struct grow {
	uint32_t	half;		/* producer: a third is sent */
	uint32_t	grown;		/* parent: the topic has 4 queues */
	uint32_t	total;		/* messages consumed, all members */
	uint32_t	dups;
	uint64_t	sent_q[MAXQ];
	uint64_t	recv_q[MAXQ];
	uint32_t	seen[NGROW];
};

#define GT	"grow.t"
#define GG	"grow.g"

static int
grow_producer(struct grow *g)
{
	struct shmq_send_result res;
	struct shmq_producer *p;
	struct shmq_bus *bus;
	uint32_t i;
	int err;

	if (tu_bus_open(&bus, SEG, CQE) < 0 ||
	    shmq_producer_open(&p, bus, NULL) < 0)
		return 3;
	for (i = 0; i < NGROW; i++) {
		if ((err = send_seq(p, GT, i, &res)) < 0) {
			tu_detail("producer", "send %u: %s", i, shmq_errmsg());
			return 4;
		}
		if (res.queue < 0 || res.queue >= MAXQ)
			return 5;
		ck_pr_inc_64(&g->sent_q[res.queue]);
		if (i == NGROW / 3) {
			ck_pr_store_32(&g->half, 1);
			wait_flag_child(&g->grown, 10);
		}
		if (i % 64 == 0)
			usleep(200);	/* spread over the rebalance */
	}
	shmq_producer_close(p);
	shmq_bus_close(bus);
	return 0;
}

static int
grow_consumer(struct grow *g)
{
	struct shmq_group_opts go;
	struct shmq_msgview v[64];
	struct shmq_consumer *c;
	struct shmq_bus *bus;
	uint64_t seq, end = tu_mono_ns() + (uint64_t)(20e9 * tu_mult());
	int n, i;

	if (tu_bus_open(&bus, SEG, CQE) < 0)
		return 3;
	shmq_group_opts_init(&go);
	go.start = SHMQ_SEEK_FIRST;
	if (shmq_consumer_open_group(&c, bus, GG, &go) < 0 ||
	    shmq_consumer_subscribe(c, GT, NULL) < 0) {
		tu_detail("consumer", "join: %s", shmq_errmsg());
		return 4;
	}
	while (ck_pr_load_32(&g->total) < NGROW && tu_mono_ns() < end) {
		if ((n = shmq_consumer_poll(c, v, 64, 50)) < 0) {
			tu_detail("consumer", "poll: %s", shmq_errmsg());
			return 5;
		}
		for (i = 0; i < n; i++) {
			if (v[i].body_len != sizeof(seq))
				return 6;
			memcpy(&seq, v[i].body, sizeof(seq));
			if (seq >= NGROW || v[i].queue < 0 ||
			    v[i].queue >= MAXQ)
				return 6;
			if (ck_pr_faa_32(&g->seen[seq], 1) != 0)
				ck_pr_inc_32(&g->dups);
			ck_pr_inc_64(&g->recv_q[v[i].queue]);
			ck_pr_inc_32(&g->total);
		}
	}
	shmq_consumer_close(c);
	shmq_bus_close(bus);
	return ck_pr_load_32(&g->total) >= NGROW ? 0 : 7;
}

START_TEST(test_grow_live)
{
	struct grow *g = tu_shared_new(sizeof(*g));
	struct shmq_bus *bus = bus_open();
	struct shmq_topic_conf tc;
	struct tu_child ch[3];
	uint64_t per[4];
	uint32_t i, lost = 0, dup = 0;

	ck_assert_int_eq(shmq_topic_create(bus, GT, 2), 0);
	TU_SPAWN(&ch[0], "consumer", grow_consumer(g));
	TU_SPAWN(&ch[1], "consumer", grow_consumer(g));
	usleep(100000);		/* both joined: the group's offsets exist */
	TU_SPAWN(&ch[2], "producer", grow_producer(g));
	tu_wait_flag(&g->half, 10);
	memset(&tc, 0, sizeof(tc));
	tc.queues = 4;
	ck_assert_int_eq(shmq_topic_update(bus, GT, &tc,
	    SHMQ_TOPIC_SET_QUEUES), 0);
	ck_pr_store_32(&g->grown, 1);
	tu_check_children(ch, 3, 30, tu_exit_name);

	for (i = 0; i < NGROW; i++) {
		lost += g->seen[i] == 0;
		dup += g->seen[i] > 1;
	}
	ck_assert_msg(lost == 0 && dup == 0 && g->dups == 0,
	    "%u lost, %u duplicated", lost, dup);
	/* The producer used the new queues, and the group consumed them. */
	ck_assert_msg(g->sent_q[2] > 0 && g->sent_q[3] > 0,
	    "sent to queues 2, 3: %llu, %llu",
	    (unsigned long long)g->sent_q[2], (unsigned long long)g->sent_q[3]);
	ck_assert_uint_eq(g->recv_q[2], g->sent_q[2]);
	ck_assert_uint_eq(g->recv_q[3], g->sent_q[3]);
	ck_assert_int_eq(shmq_topic_queues(bus, GT), 4);
	ck_assert_int_eq(shmq_topic_conf_get(bus, GT, &tc), 0);
	ck_assert_uint_eq(tc.queues, 4);
	/* The group's committed offsets cover every queue, new ones too. */
	ck_assert_uint_eq(tu_group_committed(bus, GG, GT, per, 4), NGROW);
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(per[i], g->sent_q[i]);
	shmq_bus_close(bus);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Permissions                                                         */
/* ------------------------------------------------------------------ */

struct live {
	uint32_t	ready;		/* children: started */
	uint32_t	changed;	/* parent: the change is made */
	uint64_t	sent;
	uint64_t	after;		/* consumer: messages after the change */
	int32_t		err;		/* producer: the error that stopped it */
};

#define PT	"perm.t"
#define DT	"del.t"

/* Send until a send fails; record the error.  0 if it is WANT. */
static int
live_producer(struct live *l, const char *topic, int want)
{
	struct shmq_producer *p;
	struct shmq_bus *bus;
	uint64_t i, end = tu_mono_ns() + (uint64_t)(10e9 * tu_mult());
	int err = 0;

	if (tu_bus_open(&bus, SEG, CQE) < 0 ||
	    shmq_producer_open(&p, bus, NULL) < 0)
		return 3;
	for (i = 0; tu_mono_ns() < end; i++) {
		if ((err = send_seq(p, topic, i, NULL)) < 0)
			break;
		ck_pr_store_64(&l->sent, i + 1);
		if (i % 16 == 0)
			usleep(100);
	}
	ck_pr_store_32((uint32_t *)&l->err, (uint32_t)err);
	if (err != want)
		tu_detail("producer", "stopped with %s: %s",
		    shmq_err_name(err), shmq_errmsg());
	/* The handle still works for other topics. */
	if (send_seq(p, "other.t", 0, NULL) < 0)
		return 5;
	shmq_producer_close(p);
	shmq_bus_close(bus);
	return err == want ? 0 : 4;
}

/* Follow every queue of TOPIC; after the change, count what still comes
 * (once caught up with what was sent before it). */
static int
live_consumer(struct live *l, const char *topic)
{
	struct shmq_msgview v[64];
	struct shmq_consumer *c;
	struct shmq_bus *bus;
	uint64_t end;
	int n;

	if (tu_bus_open(&bus, SEG, CQE) < 0 ||
	    shmq_consumer_open(&c, bus) < 0 ||
	    shmq_consumer_assign(c, topic, SHMQ_QUEUE_ANY, NULL) < 0 ||
	    shmq_consumer_seek(c, topic, SHMQ_QUEUE_ANY, SHMQ_SEEK_FIRST,
	    0) < 0)
		return 3;
	ck_pr_store_32(&l->ready, 1);
	while (ck_pr_load_32(&l->changed) == 0)
		if (shmq_consumer_poll(c, v, 64, 10) < 0)
			return 4;
	/* Whatever was committed before the change may still come: the
	 * change cuts off what comes after a short drain. */
	usleep(100000);
	while ((n = shmq_consumer_poll(c, v, 64, 0)) > 0)
		;
	end = tu_mono_ns() + 300000000ull;
	while (tu_mono_ns() < end) {
		if ((n = shmq_consumer_poll(c, v, 64, 50)) < 0) {
			tu_detail("consumer", "poll: %s", shmq_errmsg());
			return 5;
		}
		l->after += (uint64_t)n;
	}
	shmq_consumer_close(c);
	shmq_bus_close(bus);
	return l->after == 0 ? 0 : 6;
}

START_TEST(test_perm_live)
{
	struct live *l = tu_shared_new(sizeof(*l));
	struct shmq_bus *bus = bus_open();
	struct shmq_topic_conf tc;
	struct shmq_consumer *c;
	struct shmq_producer *p;
	struct shmq_msgview v[4];
	struct tu_child ch;
	uint64_t pos = 0;

	ck_assert_int_eq(shmq_topic_create(bus, PT, 2), 0);
	ck_assert_int_eq(shmq_topic_conf_get(bus, PT, &tc), 0);
	ck_assert_uint_eq(tc.perm, SHMQ_PERM_RW);
	ck_assert_uint_eq(tc.retention_ms, 0);
	TU_SPAWN(&ch, "producer", live_producer(l, PT, SHMQ_ETOPICPERM));
	while (ck_pr_load_64(&l->sent) < 500)
		usleep(1000);
	memset(&tc, 0, sizeof(tc));
	tc.perm = SHMQ_PERM_READ;
	ck_assert_int_eq(shmq_topic_update(bus, PT, &tc, SHMQ_TOPIC_SET_PERM),
	    0);
	tu_check_children(&ch, 1, 20, tu_exit_name);
	ck_assert_int_eq(l->err, SHMQ_ETOPICPERM);

	/* shmq-send: exit 1, the topic and the cause named. */
	ck_assert_int_eq(tt_run_in("x\n", "%s -t " PT,
	    tu_prog("utils/shmq-send")), 1);
	ck_assert_contains(tt_err, "\"" PT "\"");
	ck_assert_contains(tt_err, "permissions do not allow sends");

	/* No read permission: a consumer gets nothing, and its position
	 * stays; with read given back it gets what is there. */
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, PT, 0, NULL), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, PT, 0, SHMQ_SEEK_FIRST, 0), 0);
	tc.perm = SHMQ_PERM_WRITE;
	ck_assert_int_eq(shmq_topic_update(bus, PT, &tc, SHMQ_TOPIC_SET_PERM),
	    0);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 4, 50), 0);
	ck_assert_int_eq(shmq_consumer_position(c, PT, 0, &pos), 0);
	ck_assert_uint_eq(pos, 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(send_seq(p, PT, 1, NULL), 0);	/* w: allowed */
	tc.perm = SHMQ_PERM_RW;
	ck_assert_int_eq(shmq_topic_update(bus, PT, &tc, SHMQ_TOPIC_SET_PERM),
	    0);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 4, 1000), 4);
	/* perm none: both refused. */
	tc.perm = 0;
	ck_assert_int_eq(shmq_topic_update(bus, PT, &tc, SHMQ_TOPIC_SET_PERM),
	    0);
	ck_assert_int_eq(send_seq(p, PT, 2, NULL), SHMQ_ETOPICPERM);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 4, 10), 0);
	shmq_producer_close(p);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Deletion                                                            */
/* ------------------------------------------------------------------ */

START_TEST(test_delete_live)
{
	struct live *l = tu_shared_new(sizeof(*l));
	struct shmq_bus *bus = bus_open();
	struct tu_child ch[2];
	char path[4096];
	struct stat st;

	ck_assert_int_eq(shmq_topic_create(bus, DT, 2), 0);
	TU_SPAWN(&ch[0], "consumer", live_consumer(l, DT));
	tu_wait_flag(&l->ready, 10);
	TU_SPAWN(&ch[1], "producer", live_producer(l, DT, SHMQ_ENOTOPIC));
	while (ck_pr_load_64(&l->sent) < 1000)
		usleep(1000);
	ck_assert_int_eq(shmq_topic_delete(bus, DT, 0), 0);
	ck_pr_store_32(&l->changed, 1);
	tu_check_children(ch, 2, 20, tu_exit_name);
	ck_assert_int_eq(l->err, SHMQ_ENOTOPIC);

	ck_assert_int_eq(shmq_topic_queues(bus, DT), SHMQ_ENOTOPIC);
	ck_assert_int_eq(shmq_topic_delete(bus, DT, 0), SHMQ_ENOTOPIC);
	snprintf(path, sizeof(path), "%s/consumequeue/" DT,
	    shmq_bus_path(bus));
	ck_assert_int_eq(stat(path, &st), -1);
	shmq_bus_close(bus);
}
END_TEST

#define RT	"recreate.t"
#define RG	"recreate.g"

START_TEST(test_delete_recreate)
{
	struct shmq_bus *bus = bus_open();
	struct shmq_send_result res;
	struct shmq_group_opts go;
	struct shmq_consumer *c;
	struct shmq_producer *p;
	struct shmq_msgview v[16];
	char path[4096], *offs;
	uint64_t seq;
	int i, n, got = 0;

	ck_assert_int_eq(shmq_topic_create(bus, RT, 2), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(send_seq(p, RT, (uint64_t)i, NULL), 0);
	shmq_group_opts_init(&go);
	go.start = SHMQ_SEEK_FIRST;
	ck_assert_int_eq(shmq_consumer_open_group(&c, bus, RG, &go), 0);
	ck_assert_int_eq(shmq_consumer_subscribe(c, RT, NULL), 0);
	while (got < 10 && (n = shmq_consumer_poll(c, v, 16, 1000)) > 0)
		got += n;
	ck_assert_int_eq(got, 10);
	shmq_consumer_close(c);
	snprintf(path, sizeof(path), "%s/groups/" RG "/offsets",
	    shmq_bus_path(bus));
	offs = tt_slurp(path);
	ck_assert_contains(offs, "o " RT " ");
	free(offs);

	ck_assert_int_eq(shmq_topic_delete(bus, RT, 0), 0);
	/* This producer's cached topic is gone: its next send says so. */
	ck_assert_int_eq(send_seq(p, RT, 99, NULL), SHMQ_ENOTOPIC);
	ck_assert_contains(shmq_errmsg(), "deleted");
	offs = tt_slurp(path);
	ck_assert_msg(strstr(offs, " " RT " ") == NULL, "offsets kept: %s",
	    offs);
	free(offs);

	/* A new topic of the name: empty, offsets from 0. */
	ck_assert_int_eq(shmq_topic_create(bus, RT, 1), 0);
	ck_assert_int_eq(send_seq(p, RT, 1000, &res), 0);
	ck_assert_int_eq(res.queue, 0);
	ck_assert_uint_eq(res.queue_off, 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, RT, SHMQ_QUEUE_ANY, NULL), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, RT, SHMQ_QUEUE_ANY,
	    SHMQ_SEEK_FIRST, 0), 0);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 16, 1000), 1);
	memcpy(&seq, v[0].body, sizeof(seq));
	ck_assert_uint_eq(seq, 1000);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 16, 50), 0);
	shmq_consumer_close(c);
	shmq_producer_close(p);
	shmq_bus_close(bus);
}
END_TEST

#define CT	"crash.t"

/* Send to CT, delete it, send elsewhere, die without closing. */
/* Child's start: open the bus, make TOPIC with QUEUES queues and send
 * it N messages (0 to N - 1) with *P.  0, or an exit code. */
static int
open_fill(struct shmq_bus **bus, struct shmq_producer **p, const char *topic,
    unsigned queues, uint64_t n)
{
	uint64_t i;

	if (tu_bus_open(bus, SEG, CQE) < 0 ||
	    shmq_topic_create(*bus, topic, queues) < 0 ||
	    shmq_producer_open(p, *bus, NULL) < 0)
		return 3;
	for (i = 0; i < n; i++)
		if (send_seq(*p, topic, i, NULL) < 0)
			return 4;
	return 0;
}

static int
crash_child(void)
{
	struct shmq_producer *p;
	struct shmq_bus *bus;
	uint64_t i;
	int err;

	if ((err = open_fill(&bus, &p, CT, 3, 300)) != 0)
		return err;
	if (shmq_topic_delete(bus, CT, 0) < 0)
		return 5;
	for (i = 0; i < 5; i++)
		if (send_seq(p, "after.t", i, NULL) < 0)
			return 6;
	raise(SIGKILL);
	return 7;
}

START_TEST(test_delete_crash)
{
	struct shmq_bus *bus;
	struct tu_child ch;
	int code;

	TU_SPAWN(&ch, "child", crash_child());
	code = tu_wait_deadline(ch.pid, 20);
	ck_assert_int_eq(code, 128 + SIGKILL);
	/* Nobody has the bus open: this rebuilds it from the store, after
	 * an unclean stop (no checkpoint: the whole log is scanned). */
	bus = bus_open();
	ck_assert_int_eq(shmq_topic_queues(bus, CT), SHMQ_ENOTOPIC);
	ck_assert_int_eq(shmq_topic_queues(bus, "after.t"), 4);
	shmq_bus_close(bus);
	/* And again (a clean close in between). */
	bus = bus_open();
	ck_assert_int_eq(shmq_topic_queues(bus, CT), SHMQ_ENOTOPIC);
	shmq_bus_close(bus);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Deletion races                                                      */
/* ------------------------------------------------------------------ */

#define LT	"late.t"
#define LTOLD	10		/* messages of the first topic */
#define LTNEW	3		/* of the second */
#define LTLATE	999		/* the late send's */

struct late {
	uint32_t	ready;		/* owner: LT made and filled */
	uint32_t	checked;	/* late: its send passed the check */
	uint32_t	stored;		/* late: its record is in the log */
	uint32_t	done;		/* owner: deleted, made anew, filled */
};

/* Child: make LT, fill it, delete it once the late child has checked,
 * make it anew, fill that, and wait to be killed (a crash: no
 * checkpoint, so the next open scans the whole log). */
static int
owner_child(struct late *l)
{
	struct shmq_producer *p;
	struct shmq_bus *bus;
	uint64_t i;
	int err;

	if ((err = open_fill(&bus, &p, LT, 1, LTOLD)) != 0)
		return err;
	ck_pr_store_32(&l->ready, 1);
	wait_flag_child(&l->checked, 10);
	if (shmq_topic_delete(bus, LT, 0) < 0) {
		tu_detail("owner", "delete: %s", shmq_errmsg());
		return 5;
	}
	/* A new producer: this one's cached view is of the deleted topic
	 * (its next send would fail once, see test_delete_recreate). */
	shmq_producer_close(p);
	if (shmq_topic_create(bus, LT, 1) < 0 ||
	    shmq_producer_open(&p, bus, NULL) < 0)
		return 6;
	for (i = 0; i < LTNEW; i++)
		if (send_seq(p, LT, 100 + i, NULL) < 0)
			return 7;
	ck_pr_store_32(&l->done, 1);
	for (;;)
		pause();
}

/*
 * Child: a producer of LT whose send passed its check (the topic was
 * writable) and was then descheduled until the deletion was flagged; it
 * goes on as producer.c's store() does: the log reservation and the
 * record, for queue 0 at its tail.  (It dies before committing the index
 * entry: recovery is what would index the record.)
 */
static int
late_child(struct late *l)
{
	struct shmq_rec_meta meta;
	struct shmq_topic *t;
	struct shmq_bus *bus;
	struct shmq_rec *rec;
	struct shmq_enc enc;
	struct shmq_msg m;
	uint64_t seq = LTLATE, loff, end;

	wait_flag_child(&l->ready, 10);
	if (tu_bus_open(&bus, SEG, CQE) < 0 ||
	    (t = shmq__topic_find(bus, LT)) == NULL ||
	    shmq__topic_writable(bus, t) != 0)
		return 3;
	ck_pr_store_32(&l->checked, 1);
	end = tu_mono_ns() + (uint64_t)(10e9 * tu_mult());
	while ((ck_pr_load_32(&t->tc->flags) & SHMQ_TOPIC_F_DELETED) == 0)
		if (tu_mono_ns() > end)
			return 4;
	shmq_msg_init(&m);
	m.topic = LT;
	m.body = &seq;
	m.body_len = sizeof(seq);
	if (shmq__msg_measure(&m, t->name_len, bus->max_msg_bytes, &enc) < 0 ||
	    shmq__log_reserve(bus, enc.size, &loff, &rec) < 0)
		return 5;
	memset(&meta, 0, sizeof(meta));
	meta.log_off = loff;
	meta.queue_off = shmq__cq_tail(&t->cq[0]);
	meta.born_ns = meta.store_ns = shmq__real_ns();
	shmq__msg_write(rec, &m, t->name, &enc, &meta);
	ck_pr_fence_store();
	ck_pr_store_32(&rec->size, enc.size);
	ck_pr_store_32(&l->stored, 1);
	for (;;)
		pause();
}

/*
 * A send that passed its check just before the deletion stores its record
 * within the deletion's grace: the tombstone goes above it, so recovery
 * neither brings the deleted topic back nor puts the record into the new
 * topic of the name.  Fails if the only tombstone is the one written
 * before the flag: the late record lands above it.
 */
START_TEST(test_delete_late_send)
{
	struct late *l = tu_shared_new(sizeof(*l));
	struct shmq_consumer *c;
	struct shmq_msgview v[16];
	struct shmq_bus *bus;
	struct tu_child ch[2];
	char detail[512];
	uint64_t seq, end;
	int n, got = 0, i, code;

	/* Long enough for a late child on a loaded machine. */
	setenv("SHMQ_DELETE_GRACE_MS", "2000", 0);
	TU_SPAWN(&ch[0], "owner", owner_child(l));
	TU_SPAWN(&ch[1], "late", late_child(l));
	unsetenv("SHMQ_DELETE_GRACE_MS");
	end = tu_mono_ns() + (uint64_t)(20e9 * tu_mult());
	while ((ck_pr_load_32(&l->done) == 0 ||
	    ck_pr_load_32(&l->stored) == 0) && tu_mono_ns() < end)
		usleep(1000);
	/* Both die where they are (a crash: the next open recovers). */
	for (i = 0; i < 2; i++)
		kill(ch[i].pid, SIGKILL);
	for (i = 0; i < 2; i++) {
		code = tu_wait_deadline(ch[i].pid, 10);
		tu_read_detail(ch[i].who, detail, sizeof(detail));
		ck_assert_msg(code == 128 + SIGKILL, "%s: exit %d (%s) %s",
		    ch[i].who, code, tu_exit_name(code), detail);
	}
	ck_assert_msg(l->done && l->stored, "owner done %u, late stored %u",
	    l->done, l->stored);

	bus = bus_open();
	ck_assert_int_eq(shmq_topic_queues(bus, LT), 1);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, LT, 0, NULL), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, LT, 0, SHMQ_SEEK_FIRST, 0), 0);
	while ((n = shmq_consumer_poll(c, v, 16, 300)) > 0)
		for (i = 0; i < n; i++) {
			memcpy(&seq, v[i].body, sizeof(seq));
			ck_assert_msg(seq >= 100 && seq < 100 + LTNEW,
			    "message %llu (queue offset %llu) in the new "
			    "topic", (unsigned long long)seq,
			    (unsigned long long)v[i].queue_off);
			got++;
		}
	ck_assert_int_ge(n, 0);
	ck_assert_int_eq(got, LTNEW);
	shmq_consumer_close(c);
	shmq_bus_close(bus);
	munmap(l, sizeof(*l));
}
END_TEST

#define FT	"file.t"

/*
 * A producer's view of a deleted topic makes no new index file, not even
 * once a new topic of the name exists (whose directory has the path): it
 * would write the old topic's entries into the new topic's index.
 */
START_TEST(test_delete_late_file)
{
	struct shmq_bus *bus = bus_open();
	struct shmq_producer *p;
	struct shmq_topic *old;
	struct shmq_cq_entry *e;
	char path[4096];
	struct stat st;
	uint64_t idx, next;
	int err;

	ck_assert_int_eq(shmq_topic_create(bus, FT, 1), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(send_seq(p, FT, 1, NULL), 0);
	old = shmq__topic_find(bus, FT);
	ck_assert_ptr_nonnull(old);
	next = shmq__cq_file_start(bus, shmq__cq_locate(bus,
	    shmq__cq_tail(&old->cq[0]), &idx) + 1);
	ck_assert_int_eq(shmq_topic_delete(bus, FT, 0), 0);
	shmq_producer_close(p);
	ck_assert_int_eq(shmq_topic_create(bus, FT, 1), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(send_seq(p, FT, 2, NULL), 0);

	e = shmq__cq_entry(bus, old, &old->cq[0], next, true, &err);
	ck_assert_msg(e == NULL, "an index file made for a deleted topic");
	ck_assert_int_eq(err, SHMQ_ENOTOPIC);
	snprintf(path, sizeof(path), "%s/consumequeue/" FT "/0/%020llu",
	    shmq_bus_path(bus), (unsigned long long)next);
	ck_assert_msg(stat(path, &st) < 0, "%s was made", path);
	/* What the prefault thread does for a queue it writes: nothing. */
	shmq__cq_prepare_next(bus, &old->cq[0]);
	ck_assert_msg(stat(path, &st) < 0, "%s was made", path);
	shmq_producer_close(p);
	shmq_bus_close(bus);
}
END_TEST

/* Is the store's trash empty (or absent)? */
static bool
trash_empty(struct shmq_bus *bus)
{
	return tu_sh("test -z \"$(ls -A '%s/%s' 2>/dev/null)\"",
	    shmq_bus_path(bus), SHMQ_TRASH_DIR) == 0;
}

/* Leave what a crash while emptying the trash leaves: DIR in it, with a
 * queue directory and an index file. */
static void
trash_leftover(struct shmq_bus *bus, const char *dir)
{
	ck_assert_int_eq(tu_sh("mkdir -p '%s/%s/%s/0' && "
	    "head -c 32768 /dev/zero > '%s/%s/%s/0/%020d'", shmq_bus_path(bus),
	    SHMQ_TRASH_DIR, dir, shmq_bus_path(bus), SHMQ_TRASH_DIR, dir, 0),
	    0);
	ck_assert(!trash_empty(bus));
}

#define TT	"trash.t"

/*
 * What a deletion that crashed while emptying the trash left there goes
 * at the next rebuild of the bus, at the next retention pass, and at the
 * next deletion, which a leftover of an earlier topic with the same id
 * (ids start again at a rebuild) does not block.
 */
START_TEST(test_delete_trash)
{
	struct shmq_bus *bus = bus_open();
	struct shmq__retain_conf rc;
	struct shmq__retain_result rr;
	struct shmq_topic *t;
	char dir[256];

	trash_leftover(bus, "gone.3");
	shmq_bus_close(bus);
	bus = bus_open();		/* nobody else: a rebuild */
	ck_assert_msg(trash_empty(bus), "leftover kept at a rebuild");

	trash_leftover(bus, "gone.4");
	memset(&rc, 0, sizeof(rc));
	rc.retention_ms = 3600 * 1000;
	ck_assert_int_eq(shmq__retain_pass(bus, &rc, shmq__real_ns(), &rr),
	    0);
	ck_assert_msg(trash_empty(bus), "leftover kept by a retention pass");

	ck_assert_int_eq(shmq_topic_create(bus, TT, 2), 0);
	ck_assert_ptr_nonnull(t = shmq__topic_find(bus, TT));
	snprintf(dir, sizeof(dir), TT ".%u", t->id);
	trash_leftover(bus, dir);
	ck_assert_msg(shmq_topic_delete(bus, TT, 0) == 0, "delete: %s",
	    shmq_errmsg());
	ck_assert_int_eq(shmq_topic_queues(bus, TT), SHMQ_ENOTOPIC);
	ck_assert_msg(trash_empty(bus), "leftover kept by a deletion");
	shmq_bus_close(bus);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Persistence and bad input                                           */
/* ------------------------------------------------------------------ */

#define ST	"persist.t"

static void
conf_is(struct shmq_bus *bus, unsigned queues, unsigned perm,
    uint64_t retention_ms)
{
	struct shmq_topic_conf tc;

	ck_assert_int_eq(shmq_topic_conf_get(bus, ST, &tc), 0);
	ck_assert_uint_eq(tc.queues, queues);
	ck_assert_uint_eq(tc.perm, perm);
	ck_assert_uint_eq(tc.retention_ms, retention_ms);
}

static int
update_and_die(void)
{
	struct shmq_topic_conf tc = { 6, SHMQ_PERM_WRITE, 0 };
	struct shmq_bus *bus;

	if (tu_bus_open(&bus, SEG, CQE) < 0 ||
	    shmq_topic_update(bus, ST, &tc, SHMQ_TOPIC_SET_QUEUES |
	    SHMQ_TOPIC_SET_PERM | SHMQ_TOPIC_SET_RETENTION) < 0)
		return 3;
	raise(SIGKILL);
	return 4;
}

START_TEST(test_persist)
{
	struct shmq_topic_conf tc = { 3, SHMQ_PERM_READ, 5000 };
	struct shmq_bus *bus = bus_open();
	struct tu_child ch;

	ck_assert_int_eq(shmq_topic_create(bus, ST, 2), 0);
	ck_assert_int_eq(shmq_topic_update(bus, ST, &tc,
	    SHMQ_TOPIC_SET_QUEUES | SHMQ_TOPIC_SET_PERM |
	    SHMQ_TOPIC_SET_RETENTION), 0);
	conf_is(bus, 3, SHMQ_PERM_READ, 5000);
	/* Only what the mask names changes. */
	tc.queues = 1;
	tc.perm = 0;
	tc.retention_ms = 7000;
	ck_assert_int_eq(shmq_topic_update(bus, ST, &tc,
	    SHMQ_TOPIC_SET_RETENTION), 0);
	conf_is(bus, 3, SHMQ_PERM_READ, 7000);
	shmq_bus_close(bus);

	bus = bus_open();	/* rebuilt from the store */
	conf_is(bus, 3, SHMQ_PERM_READ, 7000);
	shmq_bus_close(bus);

	TU_SPAWN(&ch, "child", update_and_die());
	ck_assert_int_eq(tu_wait_deadline(ch.pid, 20), 128 + SIGKILL);
	bus = bus_open();	/* recovery after an unclean stop */
	conf_is(bus, 6, SHMQ_PERM_WRITE, 0);
	shmq_bus_close(bus);
}
END_TEST

START_TEST(test_bad_input)
{
	struct shmq_topic_conf tc = { 4, SHMQ_PERM_RW, 0 };
	struct shmq_bus *bus = bus_open();

	ck_assert_int_eq(shmq_topic_create(bus, ST, 4), 0);
	/* Shrinking: refused, the reason given, nothing changed. */
	tc.queues = 2;
	ck_assert_int_eq(shmq_topic_update(bus, ST, &tc,
	    SHMQ_TOPIC_SET_QUEUES), SHMQ_EINVAL);
	ck_assert_contains(shmq_errmsg(), "offsets are forever");
	ck_assert_int_eq(shmq_topic_queues(bus, ST), 4);
	tc.queues = 0;
	ck_assert_int_eq(shmq_topic_update(bus, ST, &tc,
	    SHMQ_TOPIC_SET_QUEUES), SHMQ_EINVAL);
	tc.queues = 1025;
	ck_assert_int_eq(shmq_topic_update(bus, ST, &tc,
	    SHMQ_TOPIC_SET_QUEUES), SHMQ_EINVAL);
	tc.queues = 4;		/* the same count: nothing to do */
	ck_assert_int_eq(shmq_topic_update(bus, ST, &tc,
	    SHMQ_TOPIC_SET_QUEUES), 0);
	tc.perm = 1;
	ck_assert_int_eq(shmq_topic_update(bus, ST, &tc, SHMQ_TOPIC_SET_PERM),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_topic_update(bus, ST, &tc, 0x80), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_topic_update(bus, ST, NULL, SHMQ_TOPIC_SET_PERM),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq_topic_update(bus, "no.such", &tc, 0),
	    SHMQ_ENOTOPIC);
	ck_assert_int_eq(shmq_topic_update(bus, "a b", &tc, 0), SHMQ_ENAME);
	ck_assert_int_eq(shmq_topic_update(NULL, ST, &tc, 0), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_topic_conf_get(bus, ST, NULL), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_topic_conf_get(bus, "no.such", &tc),
	    SHMQ_ENOTOPIC);
	ck_assert_int_eq(shmq_topic_delete(bus, "no.such", 0), SHMQ_ENOTOPIC);
	ck_assert_int_eq(shmq_topic_delete(bus, "", 0), SHMQ_ENAME);
	ck_assert_int_eq(shmq_topic_delete(bus, ST, 0x10), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_topic_delete(NULL, ST, 0), SHMQ_EINVAL);
	ck_assert_int_eq(shmq_topic_queues(bus, ST), 4);
	shmq_bus_close(bus);
}
END_TEST

START_TEST(test_system_topic)
{
	struct shmq_bus *bus = bus_open();
	struct shmq_producer *p;
	struct shmq_msg m;
	uint64_t seq = 1;

	/* A delayed message makes the bus's delay topic. */
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	shmq_msg_init(&m);
	m.topic = "sys.t";
	m.body = &seq;
	m.body_len = sizeof(seq);
	m.delay_level = 1;
	ck_assert_int_eq(shmq_producer_send(p, &m, NULL), 0);
	shmq_producer_close(p);
	ck_assert_int_eq(tt_run("%s topic list --json",
	    tu_prog("utils/shmq-admin")), 0);
	ck_assert_contains(tt_out, "\"name\":\"%");
	ck_assert_int_eq(tt_run("%s topic delete '%%SCHEDULE%%'",
	    tu_prog("utils/shmq-admin")), 1);
	ck_assert_contains(tt_err, "system topic");
	ck_assert_contains(tt_err, "force");
	shmq_bus_close(bus);
}
END_TEST

/* ------------------------------------------------------------------ */
/* shmq-admin                                                          */
/* ------------------------------------------------------------------ */

START_TEST(test_admin_tool)
{
	const char *a = tu_prog("utils/shmq-admin");
	char adm[4096];

	snprintf(adm, sizeof(adm), "%s", a);
	ck_assert_int_eq(tt_run("%s --help", adm), 0);
	ck_assert_contains(tt_out, "topic update NAME");
	ck_assert_contains(tt_out, "topic delete NAME [--force]");
	ck_assert_int_eq(tt_run("%s topic create adm.t -q 2", adm), 0);
	ck_assert_int_eq(tt_run("%s topic update adm.t -q 5 --perm r "
	    "--retention 12h", adm), 0);
	ck_assert_int_eq(tt_run("%s topic list", adm), 0);
	ck_assert_contains(tt_out, "PERM");
	ck_assert_msg(strstr(tt_out, "adm.t") != NULL &&
	    strstr(tt_out, "     5") != NULL && strstr(tt_out, " r ") != NULL &&
	    strstr(tt_out, "12h") != NULL, "list: %s", tt_out);
	ck_assert_int_eq(tt_run("%s topic list --json", adm), 0);
	ck_assert_msg(tt_json_valid(tt_out), "bad JSON: %s", tt_out);
	ck_assert_contains(tt_out, "\"name\":\"adm.t\",\"queues\":5,");
	ck_assert_contains(tt_out, "\"perm\":\"r\",\"retention_ms\":43200000");
	ck_assert_int_eq(tt_run("%s topic update adm.t --retention default "
	    "--perm rw", adm), 0);
	ck_assert_int_eq(tt_run("%s topic list --json", adm), 0);
	ck_assert_contains(tt_out, "\"perm\":\"rw\",\"retention_ms\":0");
	/* Errors: named thing and cause; usage errors exit 2. */
	ck_assert_int_eq(tt_run("%s topic update adm.t -q 3", adm), 1);
	ck_assert_contains(tt_err, "topic \"adm.t\": cannot shrink from 5 "
	    "to 3 queues");
	ck_assert_int_eq(tt_run("%s topic update adm.t", adm), 2);
	ck_assert_int_eq(tt_run("%s topic update adm.t --perm x", adm), 2);
	ck_assert_contains(tt_err, "--perm \"x\"");
	ck_assert_int_eq(tt_run("%s topic update adm.t --retention 5", adm),
	    0);		/* seconds, as --to's durations */
	ck_assert_int_eq(tt_run("%s topic update adm.t --retention soon",
	    adm), 2);
	ck_assert_int_eq(tt_run("%s topic update no.such --perm r", adm), 1);
	ck_assert_contains(tt_err, "topic \"no.such\"");
	ck_assert_contains(tt_err, "no such topic");
	ck_assert_int_eq(tt_run("%s topic delete adm.t --json", adm), 2);
	ck_assert_int_eq(tt_run("%s topic list --force", adm), 2);
	ck_assert_int_eq(tt_run("%s topic delete adm.t", adm), 0);
	ck_assert_contains(tt_err, "deleted");
	ck_assert_int_eq(tt_run("%s topic list", adm), 0);
	ck_assert_int_eq(tt_count_lines(tt_out), 1);
	ck_assert_int_eq(tt_run("%s topic delete adm.t", adm), 1);
	ck_assert_contains(tt_err, "no such topic");
}
END_TEST

static Suite *
topicadmin_suite(void)
{
	Suite *s = suite_create("topicadmin");
	TCase *tc;

	tc = tcase_create("grow");
	tcase_add_checked_fixture(tc, tt_setup, tt_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_grow_live);
	suite_add_tcase(s, tc);

	tc = tcase_create("perm");
	tcase_add_checked_fixture(tc, tt_setup, tt_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_perm_live);
	suite_add_tcase(s, tc);

	tc = tcase_create("delete");
	tcase_add_checked_fixture(tc, tt_setup, tt_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_delete_live);
	tcase_add_test(tc, test_delete_recreate);
	tcase_add_test(tc, test_delete_crash);
	tcase_add_test(tc, test_delete_late_send);
	tcase_add_test(tc, test_delete_late_file);
	tcase_add_test(tc, test_delete_trash);
	tcase_add_test(tc, test_system_topic);
	suite_add_tcase(s, tc);

	tc = tcase_create("settings");
	tcase_add_checked_fixture(tc, tt_setup, tt_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_persist);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_admin_tool);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(topicadmin_suite);
}
