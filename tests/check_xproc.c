/*
 * check_xproc.c - many producer and many consumer processes on one topic.
 *
 * Producers (processes, some with several threads sharing one producer
 * handle) send self-describing messages: a header {magic, logical producer,
 * seq, len, checksum} and a payload generated from (producer, seq), so a
 * reader can prove a body intact without keeping a copy.  Independent
 * consumers each read every queue of the topic from SHMQ_SEEK_FIRST and
 * check, per message: the body is intact, the producer and seq are in
 * range, it was not seen before, it is in the queue it was sent to (or, with
 * sharding keys, in the one queue its key maps to), the producer's seqs grow
 * within the queue, and the queue offsets are dense; at the end, that
 * nothing is missing.  Producers check their send results too.
 *
 * Children report only through _exit() codes (the E_* below) and append a
 * human-readable line to detail-<who>.txt in the store root; the parent
 * waits, then asserts once with those details in the message.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <check.h>

#include "shmq/shmq.h"
#include "body.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* Exit codes of children (E_OK to E_QUEUE: body.h)                    */
/* ------------------------------------------------------------------ */

enum {
	E_SHARD = E_BODY_NEXT,	/* one sharding key in two queues */
	E_TAG,		/* tag wrong, or excluded by the consumer's expression */
	E_LOSS,		/* messages missing at the end */
	E_PRODID,	/* one logical producer, several producer_id values */
	E_STATS,	/* introspection disagrees with what was sent */
	E_THREAD,	/* pthread_create failed */
};

static const char *
ecode_name(int code)
{
	switch (code) {
	case E_OFFSET:	return "queue offsets not dense";
	case E_SHARD:	return "sharding key in two queues";
	case E_TAG:	return "tag filter wrong";
	case E_LOSS:	return "messages lost";
	case E_PRODID:	return "producer_id inconsistent";
	case E_STATS:	return "introspection mismatch";
	case E_THREAD:	return "thread creation failed";
	default:	return body_exit_name(code);
	}
}

/* ------------------------------------------------------------------ */
/* Test parameters and shared state                                    */
/* ------------------------------------------------------------------ */

#define TOPIC		"xp.topic"
#define MAX_CONS	4
#define MAX_IDS		64
#define NSHARDS		7	/* sharding keys per logical producer */

struct xcfg {
	unsigned	 nqueues;
	unsigned	 nprocs;	/* producer processes */
	unsigned	 nthreads;	/* sender threads per process */
	uint64_t	 per;		/* messages per logical producer */
	unsigned	 min_len;	/* body sizes (>= BODY_HDR) */
	unsigned	 max_len;
	unsigned	 big_every;	/* every Nth message is big (0: none) */
	unsigned	 big_max;
	int		 use_shard;	/* queue by sharding key */
	unsigned	 ncons;
	int		 timeout_ms[MAX_CONS];	/* poll timeout per consumer */
	const char	*expr[MAX_CONS];	/* NULL: all; else "t0 || t2" */
	uint64_t	 segment_bytes;	/* 0: default */
	uint32_t	 cq_entries;	/* 0: default */
	uint32_t	 max_msg_bytes;	/* 0: default */
	double		 deadline_s;	/* for all children */
};

/* One anonymous MAP_SHARED page, mapped before fork. */
struct xshared {
	uint32_t	ready;		/* children that opened their handles */
	uint32_t	go;		/* set by the parent once all are ready */
	uint64_t	segments;	/* bus_info().segments, from a checker */
	uint64_t	holes;
	uint64_t	received[MAX_CONS];
};

static void
opts_from(struct shmq_bus_opts *o, const struct xcfg *cfg)
{
	shmq_bus_opts_init(o);
	if (cfg->segment_bytes != 0)
		o->segment_bytes = cfg->segment_bytes;
	if (cfg->cq_entries != 0)
		o->cq_entries = cfg->cq_entries;
	if (cfg->max_msg_bytes != 0)
		o->max_msg_bytes = cfg->max_msg_bytes;
	o->default_queues = cfg->nqueues;
}

static size_t
body_len_for(const struct xcfg *cfg, uint32_t id, uint64_t seq)
{
	uint64_t r = tu_mix64(((uint64_t)id << 48) ^ seq ^ 0x5a5a5a5aull);

	if (cfg->big_every != 0 && seq % cfg->big_every == cfg->big_every - 1)
		return cfg->big_max / 2 + r % (cfg->big_max / 2 + 1);
	return cfg->min_len + r % (cfg->max_len - cfg->min_len + 1);
}

static unsigned
queue_for(const struct xcfg *cfg, uint32_t id, uint64_t seq)
{
	return (unsigned)((seq + id) % cfg->nqueues);
}

static void
wait_go(struct xshared *sh)
{
	__atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE) == 0)
		usleep(200);
}

/* ------------------------------------------------------------------ */
/* Producers                                                           */
/* ------------------------------------------------------------------ */

struct sender {
	const struct xcfg	*cfg;
	struct shmq_producer	*p;
	uint32_t		 id;
	int			 rc;
	char			 who[32];
};

static void *
sender_run(void *arg)
{
	struct sender *s = arg;
	const struct xcfg *cfg = s->cfg;
	struct shmq_send_result res;
	struct shmq_msg m;
	uint64_t last_off[64], seq;
	int have_off[64], keyq[NSHARDS];
	char tag[8], key[32];
	unsigned char *buf;
	unsigned q;
	size_t len;
	int rc, k;

	buf = malloc(cfg->big_max > cfg->max_len ? cfg->big_max :
	    cfg->max_len);
	if (buf == NULL) {
		s->rc = E_SETUP;
		return NULL;
	}
	memset(have_off, 0, sizeof(have_off));
	for (k = 0; k < NSHARDS; k++)
		keyq[k] = -1;
	s->rc = E_OK;
	for (seq = 0; seq < cfg->per; seq++) {
		len = body_len_for(cfg, s->id, seq);
		body_fill(buf, len, s->id, seq, tu_mono_ns());
		shmq_msg_init(&m);
		m.topic = TOPIC;
		m.body = buf;
		m.body_len = len;
		snprintf(tag, sizeof(tag), "t%u", (unsigned)(seq % 3));
		m.tags = tag;
		if (cfg->use_shard) {
			snprintf(key, sizeof(key), "k%u-%u", (unsigned)s->id,
			    (unsigned)(seq % NSHARDS));
			m.shard_key = key;
			m.shard_key_len = strlen(key);
		} else
			m.queue = (int)queue_for(cfg, s->id, seq);
		rc = shmq_producer_send(s->p, &m, &res);
		if (rc != 0) {
			tu_detail(s->who, "id %u seq %llu: send: %s (%s)",
			    s->id, (unsigned long long)seq, shmq_err_name(rc),
			    shmq_errmsg());
			s->rc = E_SEND;
			break;
		}
		if (res.queue < 0 || (unsigned)res.queue >= cfg->nqueues) {
			tu_detail(s->who, "id %u seq %llu: result queue %d",
			    s->id, (unsigned long long)seq, res.queue);
			s->rc = E_SENDRES;
			break;
		}
		q = (unsigned)res.queue;
		if (!cfg->use_shard && q != queue_for(cfg, s->id, seq)) {
			tu_detail(s->who, "id %u seq %llu: sent to queue %u, "
			    "result says %u", s->id, (unsigned long long)seq,
			    queue_for(cfg, s->id, seq), q);
			s->rc = E_SENDRES;
			break;
		}
		if (cfg->use_shard) {
			k = (int)(seq % NSHARDS);
			if (keyq[k] == -1)
				keyq[k] = (int)q;
			else if (keyq[k] != (int)q) {
				tu_detail(s->who, "key %s: queue %d then %u",
				    key, keyq[k], q);
				s->rc = E_SENDRES;
				break;
			}
		}
		if (have_off[q] && res.queue_off <= last_off[q]) {
			tu_detail(s->who, "id %u seq %llu queue %u: queue_off "
			    "%llu after %llu", s->id, (unsigned long long)seq,
			    q, (unsigned long long)res.queue_off,
			    (unsigned long long)last_off[q]);
			s->rc = E_SENDRES;
			break;
		}
		have_off[q] = 1;
		last_off[q] = res.queue_off;
	}
	free(buf);
	return NULL;
}

static int
producer_proc(const struct xcfg *cfg, struct xshared *sh, unsigned proc)
{
	struct sender snd[16];
	pthread_t th[16];
	struct shmq_bus_opts o;
	struct shmq_producer *p;
	struct shmq_bus *bus;
	char who[32];
	unsigned t;
	int rc, code = E_OK;

	snprintf(who, sizeof(who), "producer%u", proc);
	opts_from(&o, cfg);
	if ((rc = shmq_bus_open(&bus, NULL, &o)) != 0) {
		tu_detail(who, "bus_open: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	if ((rc = shmq_producer_open(&p, bus, "xproc")) != 0) {
		tu_detail(who, "producer_open: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	wait_go(sh);
	for (t = 0; t < cfg->nthreads; t++) {
		snd[t].cfg = cfg;
		snd[t].p = p;
		snd[t].id = proc * cfg->nthreads + t;
		snd[t].rc = E_OK;
		snprintf(snd[t].who, sizeof(snd[t].who), "producer%u.%u",
		    proc, t);
	}
	if (cfg->nthreads == 1)
		sender_run(&snd[0]);
	else {
		for (t = 0; t < cfg->nthreads; t++) {
			if (pthread_create(&th[t], NULL, sender_run,
			    &snd[t]) != 0) {
				tu_detail(who, "pthread_create failed");
				_exit(E_THREAD);
			}
		}
		for (t = 0; t < cfg->nthreads; t++)
			pthread_join(th[t], NULL);
	}
	for (t = 0; t < cfg->nthreads; t++) {
		if (snd[t].rc != E_OK) {
			char d[1024];

			tu_read_detail(snd[t].who, d, sizeof(d));
			tu_detail(who, "%s", d);
			if (code == E_OK)
				code = snd[t].rc;
		}
	}
	shmq_producer_close(p);
	shmq_bus_close(bus);
	return code;
}

/* ------------------------------------------------------------------ */
/* Consumers                                                           */
/* ------------------------------------------------------------------ */

/* Does the consumer's expression let tag "t<seq % 3>" through? */
static int
wanted(const char *expr, uint64_t seq)
{
	if (expr == NULL || strcmp(expr, "*") == 0)
		return 1;
	/* The only filter used below: "t0 || t2". */
	return seq % 3 != 1;
}

static int
consumer_proc(const struct xcfg *cfg, struct xshared *sh, unsigned idx)
{
	struct shmq_msgview v[64];
	struct shmq_bus_opts o;
	struct shmq_consumer *c;
	struct shmq_bus *bus;
	struct body_hdr h;
	const char *expr = cfg->expr[idx];
	unsigned nids = cfg->nprocs * cfg->nthreads, q;
	uint64_t total = 0, got = 0, next_off[64], id_pid[MAX_IDS];
	uint64_t last_progress, idle_ns, id, seq, missing;
	int64_t (*last)[64];
	int (*keyq)[NSHARDS];
	uint8_t *seen;
	char who[32];
	int rc, n, i, timeout = cfg->timeout_ms[idx];
	char tag[8];

	snprintf(who, sizeof(who), "consumer%u", idx);
	seen = calloc((size_t)nids * cfg->per, 1);
	last = calloc(nids, sizeof(*last));
	keyq = calloc(nids, sizeof(*keyq));
	if (seen == NULL || last == NULL || keyq == NULL)
		return E_SETUP;
	for (id = 0; id < nids; id++) {
		for (q = 0; q < 64; q++)
			last[id][q] = -1;
		for (i = 0; i < NSHARDS; i++)
			keyq[id][i] = -1;
		id_pid[id] = UINT64_MAX;
		for (seq = 0; seq < cfg->per; seq++)
			total += wanted(expr, seq);
	}
	memset(next_off, 0, sizeof(next_off));

	opts_from(&o, cfg);
	if ((rc = shmq_bus_open(&bus, NULL, &o)) != 0 ||
	    (rc = shmq_consumer_open(&c, bus)) != 0 ||
	    (rc = shmq_consumer_assign(c, TOPIC, SHMQ_QUEUE_ANY,
	    expr)) != 0 ||
	    (rc = shmq_consumer_seek(c, TOPIC, SHMQ_QUEUE_ANY,
	    SHMQ_SEEK_FIRST, 0)) != 0) {
		tu_detail(who, "setup: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	wait_go(sh);

	/* Give up when nothing arrives for this long: messages are lost. */
	idle_ns = (uint64_t)(20e9 * tu_mult());
	last_progress = tu_mono_ns();
	while (got < total) {
		n = shmq_consumer_poll(c, v, 64, timeout);
		if (n < 0) {
			tu_detail(who, "poll: %s (%s) after %llu messages",
			    shmq_err_name(n), shmq_errmsg(),
			    (unsigned long long)got);
			return E_POLL;
		}
		if (n == 0) {
			if (tu_mono_ns() - last_progress > idle_ns)
				break;
			continue;
		}
		last_progress = tu_mono_ns();
		for (i = 0; i < n; i++) {
			const struct shmq_msgview *m = &v[i];

			if (body_check(m->body, m->body_len, &h) != 0) {
				tu_detail(who, "torn body: queue %d off %llu "
				    "len %zu", m->queue,
				    (unsigned long long)m->queue_off,
				    m->body_len);
				return E_TORN;
			}
			if (h.prod >= nids || h.seq >= cfg->per ||
			    m->queue < 0 ||
			    (unsigned)m->queue >= cfg->nqueues) {
				tu_detail(who, "out of range: prod %u seq %llu "
				    "queue %d", h.prod,
				    (unsigned long long)h.seq, m->queue);
				return E_BADID;
			}
			if (m->topic_len != strlen(TOPIC) ||
			    memcmp(m->topic, TOPIC, m->topic_len) != 0) {
				tu_detail(who, "topic '%.*s'",
				    (int)m->topic_len, m->topic);
				return E_BADID;
			}
			id = h.prod;
			seq = h.seq;
			q = (unsigned)m->queue;
			if (seen[id * cfg->per + seq]) {
				tu_detail(who, "duplicate prod %llu seq %llu "
				    "(queue %u off %llu)",
				    (unsigned long long)id,
				    (unsigned long long)seq, q,
				    (unsigned long long)m->queue_off);
				return E_DUP;
			}
			seen[id * cfg->per + seq] = 1;
			if ((int64_t)seq <= last[id][q]) {
				tu_detail(who, "order: prod %llu queue %u: seq "
				    "%llu after %lld", (unsigned long long)id,
				    q, (unsigned long long)seq,
				    (long long)last[id][q]);
				return E_ORDER;
			}
			last[id][q] = (int64_t)seq;
			if (expr == NULL) {
				if (m->queue_off != next_off[q]) {
					tu_detail(who, "queue %u: offset %llu, "
					    "expected %llu", q,
					    (unsigned long long)m->queue_off,
					    (unsigned long long)next_off[q]);
					return E_OFFSET;
				}
				next_off[q]++;
			} else if (m->queue_off < next_off[q]) {
				tu_detail(who, "queue %u: offset %llu after "
				    "%llu", q, (unsigned long long)m->queue_off,
				    (unsigned long long)next_off[q]);
				return E_OFFSET;
			} else
				next_off[q] = m->queue_off + 1;
			if (cfg->use_shard) {
				int k = (int)(seq % NSHARDS);

				if (keyq[id][k] == -1)
					keyq[id][k] = (int)q;
				else if (keyq[id][k] != (int)q) {
					tu_detail(who, "prod %llu key %d in "
					    "queues %d and %u",
					    (unsigned long long)id, k,
					    keyq[id][k], q);
					return E_SHARD;
				}
			} else if (q != queue_for(cfg, (uint32_t)id, seq)) {
				tu_detail(who, "prod %llu seq %llu in queue "
				    "%u, sent to %u", (unsigned long long)id,
				    (unsigned long long)seq, q,
				    queue_for(cfg, (uint32_t)id, seq));
				return E_QUEUE;
			}
			snprintf(tag, sizeof(tag), "t%u",
			    (unsigned)(seq % 3));
			if (!wanted(expr, seq) || m->tags_len != strlen(tag) ||
			    memcmp(m->tags, tag, m->tags_len) != 0) {
				tu_detail(who, "prod %llu seq %llu: tag "
				    "'%.*s', sent '%s', expression '%s'",
				    (unsigned long long)id,
				    (unsigned long long)seq, (int)m->tags_len,
				    m->tags, tag, expr ? expr : "(null)");
				return E_TAG;
			}
			if (id_pid[id] == UINT64_MAX)
				id_pid[id] = m->producer_id;
			else if (id_pid[id] != m->producer_id) {
				tu_detail(who, "prod %llu: producer_id %llu "
				    "then %llu", (unsigned long long)id,
				    (unsigned long long)id_pid[id],
				    (unsigned long long)m->producer_id);
				return E_PRODID;
			}
			got++;
		}
	}
	__atomic_store_n(&sh->received[idx], got, __ATOMIC_RELEASE);
	missing = 0;
	for (id = 0; id < nids; id++)
		for (seq = 0; seq < cfg->per; seq++)
			if (wanted(expr, seq) && !seen[id * cfg->per + seq]) {
				if (missing++ < 5)
					tu_detail(who, "missing prod %llu seq "
					    "%llu (queue %u)",
					    (unsigned long long)id,
					    (unsigned long long)seq,
					    queue_for(cfg, (uint32_t)id,
					    seq));
			}
	if (missing != 0 || got != total) {
		tu_detail(who, "%llu of %llu messages, %llu missing",
		    (unsigned long long)got, (unsigned long long)total,
		    (unsigned long long)missing);
		return E_LOSS;
	}
	/* Nothing may follow: every message was accounted for above. */
	n = shmq_consumer_poll(c, v, 64, 50);
	if (n != 0) {
		tu_detail(who, "poll after the last message returned %d", n);
		return n < 0 ? E_POLL : E_DUP;
	}
	shmq_consumer_close(c);
	shmq_bus_close(bus);
	free(seen);
	free(last);
	free(keyq);
	return E_OK;
}

/* ------------------------------------------------------------------ */
/* Setup and after-the-fact checks, each in a child                    */
/* ------------------------------------------------------------------ */

static int
setup_proc(const struct xcfg *cfg)
{
	struct shmq_bus_opts o;
	struct shmq_bus *bus;
	int rc;

	opts_from(&o, cfg);
	if ((rc = shmq_bus_open(&bus, NULL, &o)) != 0) {
		tu_detail("setup", "bus_open: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	if ((rc = shmq_topic_create(bus, TOPIC, cfg->nqueues)) != 0) {
		tu_detail("setup", "topic_create: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	shmq_bus_close(bus);
	return E_OK;
}

struct qsum {
	uint64_t	max_sum;
	uint64_t	min_nonzero;
	unsigned	n;
};

static int
qsum_cb(void *arg, const struct shmq_queue_info *qi)
{
	struct qsum *s = arg;

	s->max_sum += qi->max_off;
	if (qi->min_off != 0)
		s->min_nonzero++;
	s->n++;
	return 0;
}

/* After all children: the queues hold exactly what was sent, no holes. */
static int
stats_proc(const struct xcfg *cfg, struct xshared *sh)
{
	struct shmq_bus_info bi;
	struct shmq_bus_opts o;
	struct shmq_bus *bus;
	struct qsum s = { 0, 0, 0 };
	uint64_t total = (uint64_t)cfg->nprocs * cfg->nthreads * cfg->per;
	int rc;

	opts_from(&o, cfg);
	if ((rc = shmq_bus_open(&bus, NULL, &o)) != 0) {
		tu_detail("stats", "bus_open: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_SETUP;
	}
	if ((rc = shmq_queue_foreach(bus, TOPIC, qsum_cb, &s)) != 0 ||
	    (rc = shmq_bus_info(bus, &bi)) != 0) {
		tu_detail("stats", "foreach/info: %s (%s)", shmq_err_name(rc),
		    shmq_errmsg());
		return E_STATS;
	}
	sh->segments = bi.segments;
	sh->holes = bi.holes;
	shmq_bus_close(bus);
	if (s.n != cfg->nqueues || s.max_sum != total || s.min_nonzero != 0) {
		tu_detail("stats", "queues %u (want %u), sum of max_off %llu "
		    "(want %llu), queues with min_off > 0: %llu", s.n,
		    cfg->nqueues, (unsigned long long)s.max_sum,
		    (unsigned long long)total,
		    (unsigned long long)s.min_nonzero);
		return E_STATS;
	}
	return E_OK;
}

/* ------------------------------------------------------------------ */
/* The parent                                                          */
/* ------------------------------------------------------------------ */

/* The failed children of CH[0..N) and their details in MSG; how many. */
static int
report(const struct tu_child *ch, unsigned n, char *msg, size_t size)
{
	return tu_report(ch, n, E_OK, ecode_name, msg, size);
}

static pid_t
spawn_setup(const struct xcfg *cfg)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(setup_proc(cfg));
	return pid;
}

static void
run_xproc(const struct xcfg *cfg, struct xshared *out)
{
	struct tu_child ch[32];
	struct xshared *sh;
	char msg[8192], name[32];
	unsigned i, n = 0, nkids;
	uint64_t t0;
	pid_t pid;
	int code;

	ck_assert_uint_le(cfg->nprocs * cfg->nthreads, MAX_IDS);
	ck_assert_uint_le(cfg->ncons, MAX_CONS);
	sh = tu_shared_new(4096);

	pid = spawn_setup(cfg);
	ck_assert_int_gt(pid, 0);
	code = tu_wait(pid);
	if (code != 0) {
		tu_read_detail("setup", msg, sizeof(msg));
		ck_abort_msg("setup child: exit %d: %s", code, msg);
	}

	t0 = tu_mono_ns();
	for (i = 0; i < cfg->ncons; i++) {
		snprintf(name, sizeof(name), "consumer%u", i);
		TU_SPAWN(&ch[n], name, consumer_proc(cfg, sh, i));
		n++;
	}
	for (i = 0; i < cfg->nprocs; i++) {
		snprintf(name, sizeof(name), "producer%u", i);
		TU_SPAWN(&ch[n], name, producer_proc(cfg, sh, i));
		n++;
	}
	nkids = n;
	/* Start everyone at once; a child that failed to open never
	 * becomes ready, so stop waiting after a while. */
	for (i = 0; i < 20000 &&
	    __atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE) < nkids; i++)
		usleep(1000);
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
	tu_wait_children(ch, nkids, cfg->deadline_s);
	fprintf(stderr, "xproc: %u producers x %u threads x %llu msgs, "
	    "%u consumers: %.2f s\n", cfg->nprocs, cfg->nthreads,
	    (unsigned long long)cfg->per, cfg->ncons,
	    (double)(tu_mono_ns() - t0) / 1e9);
	if (report(ch, nkids, msg, sizeof(msg)) != 0)
		ck_abort_msg("%s", msg);

	TU_SPAWN(&ch[0], "stats", stats_proc(cfg, sh));
	tu_wait_children(ch, 1, 30);
	if (report(ch, 1, msg, sizeof(msg)) != 0)
		ck_abort_msg("%s", msg);
	/* Nobody died, so nothing may have been skipped. */
	ck_assert_msg(sh->holes == 0, "%llu holes without any dead writer",
	    (unsigned long long)sh->holes);
	if (out != NULL)
		*out = *sh;
	munmap(sh, 4096);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

/*
 * Three producer processes and two consumers (one busy-polling, one
 * sleeping in poll with no timeout) exchange 1,020,000 messages through a
 * topic of four queues with explicit queue choice.
 */
START_TEST(test_million)
{
	struct xcfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.nqueues = 4;
	cfg.nprocs = 3;
	cfg.nthreads = 1;
	cfg.per = 340000;
	cfg.min_len = BODY_HDR;
	cfg.max_len = 200;
	cfg.ncons = 2;
	cfg.timeout_ms[0] = 0;		/* busy poll */
	cfg.timeout_ms[1] = -1;		/* sleep until a publish */
	cfg.deadline_s = 150;
	run_xproc(&cfg, NULL);
}
END_TEST

/*
 * Producer handles shared by several threads; queues chosen by sharding
 * keys.  Three consumers: sleeping with a long timeout, busy, and one with
 * a tag expression that must see exactly the matching messages.
 */
START_TEST(test_threads_shard)
{
	struct xcfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.nqueues = 4;
	cfg.nprocs = 2;
	cfg.nthreads = 3;
	cfg.per = 40000;
	cfg.min_len = BODY_HDR;
	cfg.max_len = 300;
	cfg.use_shard = 1;
	cfg.ncons = 3;
	cfg.timeout_ms[0] = 1000;
	cfg.timeout_ms[1] = 0;
	cfg.timeout_ms[2] = 5;
	cfg.expr[2] = "t0 || t2";
	cfg.deadline_s = 100;
	run_xproc(&cfg, NULL);
}
END_TEST

/*
 * 1 MiB segments and 1024-entry index files, bodies up to 48 KiB: segment
 * and index-file rolls happen many times while producers race.
 */
START_TEST(test_tiny_segments)
{
	struct xcfg cfg;
	struct xshared sh;

	memset(&cfg, 0, sizeof(cfg));
	cfg.nqueues = 4;
	cfg.nprocs = 3;
	cfg.nthreads = 1;
	cfg.per = 12000;
	cfg.min_len = BODY_HDR;
	cfg.max_len = 600;
	cfg.big_every = 16;
	cfg.big_max = 48 * 1024;
	cfg.ncons = 2;
	cfg.timeout_ms[0] = 0;
	cfg.timeout_ms[1] = 100;
	cfg.segment_bytes = 1 << 20;
	cfg.cq_entries = 1024;
	cfg.max_msg_bytes = 64 * 1024;
	cfg.deadline_s = 100;
	run_xproc(&cfg, &sh);
	/* About 70 MB through 1 MiB segments: the test must have rolled. */
	ck_assert_msg(sh.segments >= 20, "only %llu segments: no rolls tested",
	    (unsigned long long)sh.segments);
}
END_TEST

/*
 * As above with two threads per producer process, so that two threads of
 * one process race for the same segment roll.
 */
START_TEST(test_tiny_segments_threads)
{
	struct xcfg cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.nqueues = 3;
	cfg.nprocs = 2;
	cfg.nthreads = 2;
	cfg.per = 8000;
	cfg.min_len = 100;
	cfg.max_len = 4000;
	cfg.big_every = 8;
	cfg.big_max = 40 * 1024;
	cfg.ncons = 2;
	cfg.timeout_ms[0] = -1;
	cfg.timeout_ms[1] = 0;
	cfg.segment_bytes = 1 << 20;
	cfg.cq_entries = 1024;
	cfg.max_msg_bytes = 64 * 1024;
	cfg.deadline_s = 100;
	run_xproc(&cfg, NULL);
}
END_TEST

static Suite *
xproc_suite(void)
{
	Suite *s = suite_create("xproc");
	TCase *tc;

	tc = tcase_create("million");
	tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_million);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_threads_shard);
	suite_add_tcase(s, tc);

	tc = tcase_create("rolls");
	tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_tiny_segments);
	tcase_add_test(tc, test_tiny_segments_threads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(xproc_suite);
}
