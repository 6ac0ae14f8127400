/*
 * check_consumequeue.c - one queue's index on a real store with 128-entry
 * index files (4 KiB, so that a few hundred messages cross several files):
 * offsets dense from 0 whose entries point at the record that names the
 * same queue and offset, the files and their names, the next file made
 * ahead of need, a full disk that claims nothing, claims from several
 * threads and processes that take every offset exactly once, holes (made
 * by hand, and by a consumer that finds the claimer dead), the binary
 * search by store time, and the index surviving a close and reopen.
 *
 * Tests that do not open a producer or consumer have no prefault thread,
 * so nothing makes index files behind their back; those that do allow for
 * the one file it may make ahead.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "bus.h"
#include "client.h"
#include "commitlog.h"
#include "consumequeue.h"
#include "internal.h"
#include "layout.h"
#include "topic.h"
#include "testutil.h"

#define SEG		(1ull << 20)

/*
 * Entries per index file.  Not the smallest the bus allows (64): a 2 KiB
 * index file is smaller than a page, and on ext4 stores made through
 * MAP_SHARED by several processes into such a file (made with
 * posix_fallocate) were seen to be lost, which t_claim_procs catches in
 * a few runs out of a hundred.  One page per file keeps this suite about
 * the index.
 */
#define CQE		128u
#define FILE_BYTES	(CQE * sizeof(struct shmq_cq_entry))

static struct shmq_bus *bus;

static void
setup(void)
{
	tu_setup_store();
	ck_assert_int_eq(tu_bus_open(&bus, SEG, CQE), 0);
	ck_assert_uint_eq(bus->cq_entries, CQE);
}

static void
teardown(void)
{
	shmq_bus_close(bus);
	bus = NULL;
	tu_cleanup_store();
}

/* Create TOPIC with QUEUES queues and return this process's view of it. */
static struct shmq_topic *
mktopic(const char *name, unsigned queues)
{
	struct shmq_topic *t;

	ck_assert_int_eq(shmq_topic_create(bus, name, queues), 0);
	ck_assert_int_eq(shmq__topic_get(bus, name, false, 0, &t), 0);
	ck_assert_uint_eq(t->queues, queues);
	return t;
}

static struct shmq_topic *
gettopic(const char *name)
{
	struct shmq_topic *t;

	ck_assert_int_eq(shmq__topic_get(bus, name, false, 0, &t), 0);
	return t;
}

/* Entry OFF of queue Q as a reader finds it (NULL past the tail). */
static struct shmq_cq_entry *
entry(struct shmq_topic *t, uint32_t q, uint64_t off)
{
	int err;

	return shmq__cq_entry(bus, t, &t->cq[q], off, false, &err);
}

/* The body and tag of message I, so that any entry can be checked. */
static void
msg_text(unsigned i, char *body, size_t len, char *tag, size_t tlen)
{
	snprintf(body, len, "body-%u", i);
	snprintf(tag, tlen, "tag%u", i % 3);
}

static void
send_i(struct shmq_producer *p, const char *topic, int q, unsigned i,
    struct shmq_send_result *res)
{
	char body[32], tag[8];
	struct shmq_msg m;

	msg_text(i, body, sizeof(body), tag, sizeof(tag));
	shmq_msg_init(&m);
	m.topic = topic;
	m.body = body;
	m.body_len = strlen(body);
	m.tags = tag;
	m.queue = q;
	ck_assert_int_eq(shmq_producer_send(p, &m, res), 0);
}

/*
 * Check entry OFF of queue Q against message I sent as RES: committed, at
 * the record's offset and size, the record saying this topic, queue and
 * offset, and the entry's tag hash and store time matching the record.
 * Returns the number of problems (printed), so callers assert once.
 */
static int
check_entry(struct shmq_topic *t, uint32_t q, uint64_t off, unsigned i,
    const struct shmq_send_result *res)
{
	const struct shmq_cq_entry *e = entry(t, q, off);
	const struct shmq_rec *r;
	const char *p;
	char body[32], tag[8];
	int err;

	if (e == NULL) {
		fprintf(stderr, "q%u/%llu: no entry\n", q,
		    (unsigned long long)off);
		return 1;
	}
	if (shmq__cq_state(e) != SHMQ_CQ_COMMITTED) {
		fprintf(stderr, "q%u/%llu: state %llx\n", q,
		    (unsigned long long)off, (unsigned long long)e->state);
		return 1;
	}
	if (res != NULL && e->log_off != res->log_off) {
		fprintf(stderr, "q%u/%llu: log_off %llu, sent at %llu\n", q,
		    (unsigned long long)off, (unsigned long long)e->log_off,
		    (unsigned long long)res->log_off);
		return 1;
	}
	r = shmq__log_record(bus, e->log_off, e->size, true, &err);
	if (r == NULL) {
		fprintf(stderr, "q%u/%llu: record: %s\n", q,
		    (unsigned long long)off, shmq_errmsg());
		return 1;
	}
	msg_text(i, body, sizeof(body), tag, sizeof(tag));
	p = (const char *)(r + 1);
	if (r->queue_off != off || r->queue != q || r->size != e->size ||
	    r->log_off != e->log_off || r->store_ns != e->store_ns ||
	    r->topic_len != t->name_len ||
	    memcmp(p, t->name, t->name_len) != 0 ||
	    e->tag_hash != shmq__tag_hash(tag, strlen(tag)) ||
	    r->tags_len != strlen(tag) ||
	    memcmp(p + r->topic_len, tag, r->tags_len) != 0 ||
	    r->body_len != strlen(body) ||
	    memcmp(p + r->topic_len + r->tags_len + r->keys_len +
	    r->props_len, body, r->body_len) != 0) {
		fprintf(stderr, "q%u/%llu: record says queue %u offset %llu "
		    "size %u/%u\n", q, (unsigned long long)off, r->queue,
		    (unsigned long long)r->queue_off, r->size, e->size);
		return 1;
	}
	return 0;
}

static bool
exists(const char *path, off_t *size)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return false;
	if (size != NULL)
		*size = st.st_size;
	return true;
}

/* Does index file FILE of queue Q of topic T exist (and how big)? */
static bool
file_exists(const char *topic, uint32_t q, uint64_t file, off_t *size)
{
	char path[4096];

	ck_assert_int_eq(shmq__cq_file_path(bus, topic, q, file, path,
	    sizeof(path)), 0);
	return exists(path, size);
}

/* ------------------------------------------------------------------ */
/* Dense offsets                                                       */
/* ------------------------------------------------------------------ */

#define NDENSE	150

START_TEST(t_dense_offsets)
{
	static struct shmq_send_result res[NDENSE];
	struct shmq_producer *p;
	struct shmq_topic *t;
	unsigned i, q;
	int bad = 0;

	/* Three queues sent to in turn: each queue's offsets are its own,
	 * dense from 0, whatever the others do. */
	t = mktopic("dense", 3);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < NDENSE; i++) {
		send_i(p, "dense", (int)(i % 3), i, &res[i]);
		if (res[i].queue != (int)(i % 3) ||
		    res[i].queue_off != i / 3)
			bad++;
	}
	ck_assert_int_eq(bad, 0);
	for (q = 0; q < 3; q++)
		ck_assert_uint_eq(shmq__cq_tail(&t->cq[q]), NDENSE / 3);
	for (i = 0; i < NDENSE; i++)
		bad += check_entry(t, i % 3, i / 3, i, &res[i]);
	ck_assert_int_eq(bad, 0);
	/* Nothing beyond the tail. */
	for (q = 0; q < 3; q++) {
		const struct shmq_cq_entry *e = entry(t, q, NDENSE / 3);

		ck_assert(e == NULL || shmq__cq_state(e) == SHMQ_CQ_EMPTY);
	}
	ck_assert_uint_eq(ck_pr_load_64(&t->cq[0].qc->holes), 0);
	shmq_producer_close(p);
}
END_TEST

START_TEST(t_dense_consumed)
{
	struct shmq_send_result res[40];
	struct shmq_msgview v[64];
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_topic *t;
	char body[32], tag[8];
	unsigned i;
	int n, bad = 0;

	/* What a consumer gets at offset n is what entry n points at. */
	t = mktopic("dc", 1);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "dc", 0, "*"), 0);
	for (i = 0; i < 40; i++)
		send_i(p, "dc", SHMQ_QUEUE_ANY, i, &res[i]);
	ck_assert_int_eq(shmq_consumer_seek(c, "dc", 0, SHMQ_SEEK_FIRST, 0),
	    0);
	n = shmq_consumer_poll(c, v, 64, 100);
	ck_assert_int_eq(n, 40);
	for (i = 0; i < 40; i++) {
		const struct shmq_cq_entry *e = entry(t, 0, i);

		msg_text(i, body, sizeof(body), tag, sizeof(tag));
		if (v[i].queue_off != i || v[i].queue != 0 ||
		    v[i].log_off != res[i].log_off ||
		    v[i].log_off != e->log_off ||
		    v[i].store_ns != e->store_ns ||
		    strcmp(v[i].msg_id, res[i].msg_id) != 0 ||
		    v[i].body_len != strlen(body) ||
		    memcmp(v[i].body, body, v[i].body_len) != 0)
			bad++;
	}
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 64, 0), 0);
	shmq_consumer_close(c);
	shmq_producer_close(p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Index files                                                         */
/* ------------------------------------------------------------------ */

static bool
is_file_name(const char *s)
{
	size_t i;

	for (i = 0; i < 20; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return s[20] == '\0';
}

#define NROLL	(3 * CQE + 10)

START_TEST(t_file_rollover)
{
	static struct shmq_send_result res[NROLL];
	static const uint64_t edges[] = { CQE, 2 * CQE, 3 * CQE };
	struct shmq_cq_entry disk;
	struct shmq_producer *p;
	struct shmq_topic *t;
	struct dirent *de;
	char dir[4096], path[4096], want[4096];
	uint64_t first, files = 0;
	off_t size;
	unsigned i, k;
	DIR *d;
	int fd, bad = 0;

	t = mktopic("roll", 1);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < NROLL; i++) {
		send_i(p, "roll", 0, i, &res[i]);
		if (res[i].queue_off != i)
			bad++;
	}
	ck_assert_int_eq(bad, 0);
	ck_assert_uint_eq(shmq__cq_tail(&t->cq[0]), NROLL);

	/* consumequeue/roll/0/ holds files named by their first entry in
	 * 20 digits, each exactly one file of entries: four of them, and
	 * perhaps a fifth made ahead by the prefault thread. */
	snprintf(dir, sizeof(dir), "%s/%s/consumequeue/roll/0", tu_home(),
	    tu_bus());
	ck_assert_ptr_nonnull(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (!is_file_name(de->d_name)) {
			fprintf(stderr, "odd file %s\n", de->d_name);
			bad++;
			continue;
		}
		first = strtoull(de->d_name, NULL, 10);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (first % CQE != 0 || first > 4 * CQE ||
		    !exists(path, &size) || (uint64_t)size != FILE_BYTES) {
			fprintf(stderr, "file %s\n", de->d_name);
			bad++;
		}
		files++;
	}
	closedir(d);
	ck_assert_int_eq(bad, 0);
	ck_assert_uint_ge(files, 4);
	ck_assert_uint_le(files, 5);
	for (k = 0; k < 4; k++) {
		snprintf(want, sizeof(want), "%s/%020llu", dir,
		    (unsigned long long)(k * CQE));
		ck_assert_int_eq(shmq__cq_file_path(bus, "roll", 0, k, path,
		    sizeof(path)), 0);
		ck_assert_str_eq(path, want);
		ck_assert(exists(path, NULL));
	}
	/* Too small a buffer is an error, not a truncated path. */
	ck_assert_int_eq(shmq__cq_file_path(bus, "roll", 0, 1, path, 20),
	    SHMQ_EINVAL);

	/* Every entry is right, and around each boundary the entry a
	 * reader maps is the one on disk at (n % CQE) * 32 in file n / CQE. */
	for (i = 0; i < NROLL; i++)
		bad += check_entry(t, 0, i, i, &res[i]);
	ck_assert_int_eq(bad, 0);
	for (k = 0; k < sizeof(edges) / sizeof(edges[0]); k++) {
		for (first = edges[k] - 3; first < edges[k] + 3; first++) {
			ck_assert_int_eq(shmq__cq_file_path(bus, "roll", 0,
			    first / CQE, path, sizeof(path)), 0);
			ck_assert_int_ge(fd = open(path, O_RDONLY), 0);
			ck_assert_int_eq(pread(fd, &disk, sizeof(disk),
			    (off_t)(first % CQE * sizeof(disk))),
			    (ssize_t)sizeof(disk));
			close(fd);
			if (memcmp(&disk, entry(t, 0, first),
			    sizeof(disk)) != 0 ||
			    disk.log_off != res[first].log_off ||
			    disk.state != SHMQ_CQ_COMMITTED)
				bad++;
		}
	}
	ck_assert_int_eq(bad, 0);
	shmq_producer_close(p);
}
END_TEST

/* Claim the next entry of queue 0 of T with CLAIM; its offset. */
static uint64_t
claim(struct shmq_topic *t, uint64_t state, struct shmq_cq_entry **ep)
{
	struct shmq_cq_entry *e;
	uint64_t off;

	ck_assert_int_eq(shmq__cq_claim(bus, t, &t->cq[0], state, &off, &e),
	    0);
	ck_assert_uint_eq(e->state, state);
	if (ep != NULL)
		*ep = e;
	return off;
}

START_TEST(t_file_ahead)
{
	uint64_t c = shmq_claim_state(bus->epoch, 1, 7), off;
	struct shmq_topic *t;
	off_t size;
	int early = 0;

	/* No producer, so no prefault thread: the claimer makes the next
	 * file itself when it claims the middle entry of a file, so that
	 * the claim that crosses into it does not wait for the disk. */
	ck_assert(!bus->prefault_on);
	t = mktopic("ahead", 1);
	ck_assert(!file_exists("ahead", 0, 0, NULL));
	ck_assert_uint_eq(claim(t, c, NULL), 0);
	ck_assert(file_exists("ahead", 0, 0, &size));
	ck_assert_uint_eq((uint64_t)size, FILE_BYTES);
	ck_assert_int_eq(t->cq[0].hot, 1);
	for (off = 1; off < CQE / 2 - 1; off++) {
		ck_assert_uint_eq(claim(t, c, NULL), off);
		if (file_exists("ahead", 0, 1, NULL))
			early++;
	}
	ck_assert_int_eq(early, 0);
	/* Tail CQE / 2 - 1, below the middle: the prefault thread's hook
	 * does nothing yet. */
	shmq__cq_prepare_next(bus, &t->cq[0]);
	ck_assert(!file_exists("ahead", 0, 1, NULL));
	ck_assert_uint_eq(claim(t, c, NULL), CQE / 2 - 1);
	ck_assert(!file_exists("ahead", 0, 1, NULL));
	ck_assert_uint_eq(claim(t, c, NULL), CQE / 2);
	ck_assert(file_exists("ahead", 0, 1, &size));
	ck_assert_uint_eq((uint64_t)size, FILE_BYTES);
	/* Tail CQE / 2 + 1: the hook makes the file of that offset plus
	 * CQE, which is file 1, not file 2. */
	shmq__cq_prepare_next(bus, &t->cq[0]);
	ck_assert(!file_exists("ahead", 0, 2, NULL));
	/* Up to the middle of file 1, not including it: no file 2 yet. */
	for (off = CQE / 2 + 1; off < CQE + CQE / 2; off++)
		ck_assert_uint_eq(claim(t, c, NULL), off);
	ck_assert(!file_exists("ahead", 0, 2, NULL));
	/* Tail at the middle of file 1: the hook makes file 2 (the
	 * prefault thread's way), and nothing further. */
	shmq__cq_prepare_next(bus, &t->cq[0]);
	ck_assert(file_exists("ahead", 0, 2, &size));
	ck_assert_uint_eq((uint64_t)size, FILE_BYTES);
	ck_assert(!file_exists("ahead", 0, 3, NULL));
	/* The claimer then finds it made. */
	ck_assert_uint_eq(claim(t, c, NULL), CQE + CQE / 2);
	ck_assert(!file_exists("ahead", 0, 3, NULL));
	ck_assert_uint_eq(shmq__cq_tail(&t->cq[0]), CQE + CQE / 2 + 1);
}
END_TEST

START_TEST(t_file_enospc)
{
	uint64_t c = shmq_claim_state(bus->epoch, 1, 7), off, tail;
	struct shmq_cq_entry *e = NULL;
	struct rlimit rl, old;
	struct shmq_topic *t;
	off_t size = -1;
	int err, bad = 0;
	bool made;

	t = mktopic("full", 1);
	/* Up to just before the claim that makes file 2 ahead. */
	for (off = 0; off < CQE + CQE / 2; off++)
		ck_assert_uint_eq(claim(t, c, NULL), off);
	ck_assert(file_exists("full", 0, 1, NULL));
	ck_assert(!file_exists("full", 0, 2, NULL));

	/* No file may grow past half an index file from here. */
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	rl = old;
	rl.rlim_cur = FILE_BYTES / 2;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	/* The rest of file 1 still claims: making file 2 ahead fails
	 * quietly, as it is only ahead of need. */
	for (; off < 2 * CQE; off++) {
		uint64_t got;

		if (shmq__cq_claim(bus, t, &t->cq[0], c, &got, &e) != 0 ||
		    got != off)
			bad++;
	}
	/* The claim that needs file 2 fails and claims nothing. */
	err = shmq__cq_claim(bus, t, &t->cq[0], c, &off, &e);
	tail = shmq__cq_tail(&t->cq[0]);
	made = file_exists("full", 0, 2, &size);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);

	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(err, SHMQ_ENOSPC);
	ck_assert_msg(strstr(shmq_errmsg(), "\"full\"") != NULL,
	    "message: %s", shmq_errmsg());
	ck_assert_uint_eq(tail, 2 * CQE);
	/* No half-made file that looks whole. */
	ck_assert(!made || size == 0);

	/* Space again: the queue goes on at the same offset. */
	ck_assert_uint_eq(claim(t, c, &e), 2 * CQE);
	ck_assert(file_exists("full", 0, 2, &size));
	ck_assert_uint_eq((uint64_t)size, FILE_BYTES);
	ck_assert_uint_eq(shmq__cq_tail(&t->cq[0]), 2 * CQE + 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Concurrent claims                                                   */
/* ------------------------------------------------------------------ */

#define NTHR		4
#define PER_THR		5000

struct claimer {
	pthread_t		 thr;
	pthread_barrier_t	*go;
	struct shmq_topic	*t;
	uint64_t		 state;
	uint64_t		*off;		/* [PER_THR] */
	int			 err;
};

static void *
claimer_main(void *arg)
{
	struct claimer *c = arg;
	struct shmq_cq_entry *e;
	int i, err;

	pthread_barrier_wait(c->go);
	for (i = 0; i < PER_THR; i++) {
		if ((err = shmq__cq_claim(bus, c->t, &c->t->cq[0], c->state,
		    &c->off[i], &e)) != 0) {
			c->err = err;
			break;
		}
		if (e != entry(c->t, 0, c->off[i]))
			c->err = -1;
	}
	return NULL;
}

START_TEST(t_claim_threads)
{
	static struct claimer cl[NTHR];
	const uint64_t total = NTHR * PER_THR;
	pthread_barrier_t go;
	struct shmq_topic *t;
	uint8_t *seen;
	uint64_t off;
	int i, j, bad = 0;

	t = mktopic("thr", 1);
	ck_assert_int_eq(pthread_barrier_init(&go, NULL, NTHR), 0);
	for (i = 0; i < NTHR; i++) {
		cl[i].go = &go;
		cl[i].t = t;
		cl[i].state = shmq_claim_state(bus->epoch, 1, 100 + i);
		ck_assert_ptr_nonnull(cl[i].off = calloc(PER_THR,
		    sizeof(uint64_t)));
		ck_assert_int_eq(pthread_create(&cl[i].thr, NULL,
		    claimer_main, &cl[i]), 0);
	}
	for (i = 0; i < NTHR; i++) {
		ck_assert_int_eq(pthread_join(cl[i].thr, NULL), 0);
		ck_assert_int_eq(cl[i].err, 0);
	}
	pthread_barrier_destroy(&go);

	/* Every offset below the total claimed once, by the thread whose
	 * claim the entry holds; each thread's offsets in claim order. */
	ck_assert_ptr_nonnull(seen = calloc(total, 1));
	for (i = 0; i < NTHR; i++) {
		for (j = 0; j < PER_THR; j++) {
			off = cl[i].off[j];
			if (off >= total ||
			    (j > 0 && off <= cl[i].off[j - 1])) {
				bad++;
				continue;
			}
			seen[off]++;
			if (entry(t, 0, off)->state != cl[i].state)
				bad++;
		}
	}
	for (off = 0; off < total; off++)
		if (seen[off] != 1)
			bad++;
	ck_assert_int_eq(bad, 0);
	ck_assert_uint_eq(shmq__cq_tail(&t->cq[0]), total);
	/* Each committed by its owner, with the owner's claim. */
	for (i = 0; i < NTHR; i++)
		for (j = 0; j < PER_THR; j++)
			if (!shmq__cq_commit(entry(t, 0, cl[i].off[j]),
			    cl[i].state, (uint64_t)i, 0, 0, 0))
				bad++;
	ck_assert_int_eq(bad, 0);
	/* A second commit, or one with another's claim, fails. */
	ck_assert(!shmq__cq_commit(entry(t, 0, cl[0].off[0]), cl[0].state,
	    0, 0, 0, 0));
	free(seen);
	for (i = 0; i < NTHR; i++)
		free(cl[i].off);
}
END_TEST

#define NPROC		4
#define PER_PROC	3000

/* Child K: open the bus itself, wait for the start, claim and commit
 * PER_PROC entries with log_off = (K + 1) << 32 | i.  Exit code: 0, or
 * what failed. */
static int
claimer_proc(int k, int go)
{
	struct shmq_cq_entry *e;
	struct shmq_topic *t;
	struct shmq_bus *b;
	uint64_t state, off, last = 0;
	char ch;
	int i;

	if (tu_bus_open(&b, SEG, CQE) != 0)
		return 2;
	if (shmq__topic_get(b, "proc", false, 0, &t) != 0)
		return 3;
	state = shmq_claim_state(b->epoch, 1, 200 + (uint32_t)k);
	if (read(go, &ch, 1) != 0)
		return 4;
	for (i = 0; i < PER_PROC; i++) {
		if (shmq__cq_claim(b, t, &t->cq[0], state, &off, &e) != 0)
			return 5;
		if (i > 0 && off <= last)
			return 6;
		last = off;
		if (!shmq__cq_commit(e, state, ((uint64_t)(k + 1) << 32) |
		    (uint32_t)i, (uint32_t)k + 1, 0, (uint64_t)i))
			return 7;
	}
	shmq_bus_close(b);
	return 0;
}

START_TEST(t_claim_procs)
{
	const uint64_t total = NPROC * PER_PROC;
	uint64_t next[NPROC] = { 0 }, off, k, i;
	const struct shmq_cq_entry *e;
	struct shmq_topic *t;
	pid_t pid[NPROC];
	int go[2], n, bad = 0;

	t = mktopic("proc", 1);
	ck_assert_int_eq(pipe(go), 0);
	for (n = 0; n < NPROC; n++) {
		pid[n] = fork();
		ck_assert_int_ge(pid[n], 0);
		if (pid[n] == 0) {
			close(go[1]);
			_exit(claimer_proc(n, go[0]));
		}
	}
	close(go[0]);
	/* Give them time to attach, then start them together. */
	usleep(100 * 1000);
	close(go[1]);
	for (n = 0; n < NPROC; n++)
		ck_assert_int_eq(tu_wait(pid[n]), 0);

	/* Read back in this process (mapping the files the children
	 * made): every entry committed, and walking the offsets in order
	 * meets each child's commits in its own order, each exactly once. */
	ck_assert_uint_eq(shmq__cq_tail(&t->cq[0]), total);
	for (off = 0; off < total; off++) {
		e = entry(t, 0, off);
		if (e == NULL || shmq__cq_state(e) != SHMQ_CQ_COMMITTED) {
			bad++;
			continue;
		}
		k = (e->log_off >> 32) - 1;
		i = e->log_off & 0xffffffffu;
		if (k >= NPROC || e->size != k + 1 || e->store_ns != i ||
		    next[k] != i) {
			bad++;
			continue;
		}
		next[k]++;
	}
	ck_assert_int_eq(bad, 0);
	for (n = 0; n < NPROC; n++)
		ck_assert_uint_eq(next[n], PER_PROC);
	ck_assert(entry(t, 0, total) == NULL ||
	    entry(t, 0, total)->state == SHMQ_CQ_EMPTY);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Holes                                                               */
/* ------------------------------------------------------------------ */

START_TEST(t_hole_by_hand)
{
	struct shmq_send_result a, b, c3;
	struct shmq_client_slot *slot;
	struct shmq_msgview v[8];
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_bus_info bi;
	struct shmq_cq_entry *e;
	struct shmq_topic *t;
	uint64_t state, off;
	uint32_t idx;

	t = mktopic("hole", 1);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "hole", 0, "*"), 0);

	/* A claim owned by a live client (this process): no consumer may
	 * skip it on its own. */
	ck_assert_int_eq(shmq__client_register(bus, SHMQ_ROLE_PRODUCER,
	    "slow", &idx, &slot), 0);
	state = shmq__client_claim(bus, idx);
	ck_assert_uint_eq(state & 3, SHMQ_CQ_CLAIMED_TAG);
	send_i(p, "hole", 0, 0, &a);
	ck_assert_int_eq(shmq__cq_claim(bus, t, &t->cq[0], state, &off, &e),
	    0);
	ck_assert_uint_eq(off, 1);
	send_i(p, "hole", 0, 2, &b);
	ck_assert_uint_eq(b.queue_off, 2);

	ck_assert_int_eq(shmq_consumer_seek(c, "hole", 0, SHMQ_SEEK_FIRST, 0),
	    0);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 8, 0), 1);
	ck_assert_uint_eq(v[0].queue_off, 0);
	/* Longer than the stall time: the owner is alive, so it waits. */
	ck_assert_int_eq(shmq_consumer_poll(c, v, 8, 3 * (int)bus->stall_ms),
	    0);
	ck_assert_uint_eq(e->state, state);
	ck_assert_uint_eq(ck_pr_load_64(&t->cq[0].qc->holes), 0);
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->holes), 0);

	/* Make it a hole: counted once, in the queue and the bus. */
	ck_assert(shmq__cq_make_hole(bus, &t->cq[0], e, state));
	ck_assert_uint_eq(shmq__cq_state(e), SHMQ_CQ_HOLE);
	ck_assert_uint_eq(ck_pr_load_64(&t->cq[0].qc->holes), 1);
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->holes), 1);
	ck_assert(!shmq__cq_make_hole(bus, &t->cq[0], e, state));
	ck_assert_uint_eq(ck_pr_load_64(&t->cq[0].qc->holes), 1);
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->holes), 1);
	/* The slow writer learns it: its commit fails, the hole stays. */
	ck_assert(!shmq__cq_commit(e, state, a.log_off, 8, 0, 1));
	ck_assert_uint_eq(shmq__cq_state(e), SHMQ_CQ_HOLE);
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	ck_assert_uint_eq(bi.holes, 1);

	/* The consumer steps over it to offset 2, then goes on. */
	ck_assert_int_eq(shmq_consumer_poll(c, v, 8, 0), 1);
	ck_assert_uint_eq(v[0].queue_off, 2);
	ck_assert_uint_eq(v[0].log_off, b.log_off);
	send_i(p, "hole", 0, 3, &c3);
	ck_assert_uint_eq(c3.queue_off, 3);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 8, 100), 1);
	ck_assert_uint_eq(v[0].queue_off, 3);
	/* A hole is never claimed again. */
	ck_assert_uint_eq(shmq__cq_tail(&t->cq[0]), 4);

	shmq__client_release(bus, idx);
	shmq_consumer_close(c);
	shmq_producer_close(p);
}
END_TEST

START_TEST(t_hole_dead_claimer)
{
	struct shmq_send_result a, b;
	struct shmq_msgview v[8];
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_topic *t;
	uint64_t start;
	pid_t pid;
	int fds[2], n;
	char ch;

	t = mktopic("dead", 1);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "dead", 0, "*"), 0);
	send_i(p, "dead", 0, 0, &a);

	/* A child claims offset 1 as a registered producer and dies
	 * before committing. */
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct shmq_client_slot *slot;
		struct shmq_cq_entry *e;
		struct shmq_topic *ct;
		struct shmq_bus *cb;
		uint64_t off;
		uint32_t idx;

		close(fds[0]);
		if (tu_bus_open(&cb, SEG, CQE) != 0 ||
		    shmq__topic_get(cb, "dead", false, 0, &ct) != 0 ||
		    shmq__client_register(cb, SHMQ_ROLE_PRODUCER, "dies",
		    &idx, &slot) != 0 ||
		    shmq__cq_claim(cb, ct, &ct->cq[0],
		    shmq__client_claim(cb, idx), &off, &e) != 0 || off != 1)
			_exit(1);
		(void)write(fds[1], "x", 1);
		_exit(0);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &ch, 1), 1);
	close(fds[0]);
	/* Reap it so that the check does not race with a zombie. */
	ck_assert_int_eq(tu_wait(pid), 0);
	ck_assert_uint_eq(entry(t, 0, 1)->state & 3, SHMQ_CQ_CLAIMED_TAG);
	send_i(p, "dead", 0, 2, &b);
	ck_assert_uint_eq(b.queue_off, 2);

	ck_assert_int_eq(shmq_consumer_seek(c, "dead", 0, SHMQ_SEEK_FIRST, 0),
	    0);
	ck_assert_int_eq(shmq_consumer_poll(c, v, 8, 0), 1);
	ck_assert_uint_eq(v[0].queue_off, 0);
	/* After the stall time the consumer finds the owner dead, makes
	 * the entry a hole, and delivers offset 2. */
	start = tu_mono_ns();
	n = shmq_consumer_poll(c, v, 8, 2000);
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(v[0].queue_off, 2);
	ck_assert_uint_eq(v[0].log_off, b.log_off);
	ck_assert_uint_lt(tu_mono_ns() - start, 1000000000ull);
	ck_assert_uint_eq(shmq__cq_state(entry(t, 0, 1)), SHMQ_CQ_HOLE);
	ck_assert_uint_eq(ck_pr_load_64(&t->cq[0].qc->holes), 1);
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->holes), 1);
	shmq_consumer_close(c);
	shmq_producer_close(p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Seek by time                                                        */
/* ------------------------------------------------------------------ */

#define NSEEK	(3 * CQE + 10)
#define NS(i)	(1000ull * ((i) + 1))	/* store time of entry i */

START_TEST(t_seek_time)
{
	uint64_t c = shmq_claim_state(bus->epoch, 1, 7), i;
	struct shmq_cq_entry *e;
	struct shmq_topic *t;
	struct shmq_cq *cq;
	int bad = 0;

	/* Store times 1000, 2000, ... over four files. */
	t = mktopic("seek", 1);
	cq = &t->cq[0];
	for (i = 0; i < NSEEK; i++) {
		ck_assert_uint_eq(claim(t, c, &e), i);
		ck_assert(shmq__cq_commit(e, c, 0, 0, 0, NS(i)));
	}
	ck_assert_uint_eq(shmq__cq_seek_time(bus, t, cq, 0), 0);
	ck_assert_uint_eq(shmq__cq_seek_time(bus, t, cq, NS(0) - 1), 0);
	ck_assert_uint_eq(shmq__cq_seek_time(bus, t, cq, NS(0)), 0);
	ck_assert_uint_eq(shmq__cq_seek_time(bus, t, cq, NS(0) + 1), 1);
	ck_assert_uint_eq(shmq__cq_seek_time(bus, t, cq, NS(CQE)), CQE);
	ck_assert_uint_eq(shmq__cq_seek_time(bus, t, cq, NS(NSEEK - 1)),
	    NSEEK - 1);
	ck_assert_uint_eq(shmq__cq_seek_time(bus, t, cq, NS(NSEEK - 1) + 1),
	    NSEEK);
	ck_assert_uint_eq(shmq__cq_seek_time(bus, t, cq, UINT64_MAX), NSEEK);
	/* Every entry exactly, and every point between two. */
	for (i = 0; i < NSEEK; i++) {
		if (shmq__cq_seek_time(bus, t, cq, NS(i)) != i ||
		    shmq__cq_seek_time(bus, t, cq, NS(i) - 500) != i ||
		    shmq__cq_seek_time(bus, t, cq, NS(i) + 500) != i + 1)
			bad++;
	}
	ck_assert_int_eq(bad, 0);
	/* An empty queue: the tail, 0. */
	t = mktopic("seek0", 1);
	ck_assert_uint_eq(shmq__cq_seek_time(bus, t, &t->cq[0], NS(5)), 0);
}
END_TEST

START_TEST(t_seek_time_holes)
{
	uint64_t c = shmq_claim_state(bus->epoch, 1, 7), i, r, want, k;
	struct shmq_cq_entry *e;
	struct shmq_topic *t;
	struct shmq_cq *cq;
	bool committed[NSEEK];
	int bad = 0;

	/* Holes (CQE - 4 .. CQE + 15, a run across the first file
	 * boundary), entries still claimed (2 CQE + 4 and the one after)
	 * and a hole at the very end: the search
	 * skips what is not committed.  The answer may be an uncommitted
	 * offset just before the first match (a reader skips those), but
	 * never past a match and never before an older committed entry. */
	t = mktopic("seekh", 1);
	cq = &t->cq[0];
	for (i = 0; i < NSEEK; i++) {
		ck_assert_uint_eq(claim(t, c, &e), i);
		committed[i] = !((i >= CQE - 4 && i < CQE + 16) ||
		    i == 2 * CQE + 4 || i == 2 * CQE + 5 || i == NSEEK - 1);
		if (committed[i])
			ck_assert(shmq__cq_commit(e, c, 0, 0, 0, NS(i)));
		else if (i < 2 * CQE || i == NSEEK - 1)
			ck_assert(shmq__cq_make_hole(bus, cq, e, c));
	}
	for (k = 0; k <= 2 * NSEEK + 1; k++) {
		uint64_t ns = 500 * k;

		for (want = 0; want < NSEEK; want++)
			if (committed[want] && NS(want) >= ns)
				break;
		r = shmq__cq_seek_time(bus, t, cq, ns);
		if (r > want) {
			bad++;
			continue;
		}
		for (i = r; i < want; i++)
			if (committed[i])
				break;
		if (i != want) {
			fprintf(stderr, "seek %llu: %llu, first match %llu\n",
			    (unsigned long long)ns, (unsigned long long)r,
			    (unsigned long long)want);
			bad++;
		}
	}
	ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(t_seek_time_consumer)
{
	struct shmq_send_result res[10];
	struct shmq_msgview v[16];
	struct shmq_producer *p;
	struct shmq_consumer *c;
	uint64_t pos, mid_ms;
	unsigned i;
	int n;

	/* The public seek takes milliseconds: a gap of a few of them
	 * between two bursts is found exactly. */
	(void)mktopic("seekc", 1);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "seekc", 0, "*"), 0);
	for (i = 0; i < 5; i++)
		send_i(p, "seekc", 0, i, &res[i]);
	usleep(3000);
	mid_ms = shmq_now_ns() / 1000000 + 1;
	while (shmq_now_ns() < mid_ms * 1000000 + 1000000)
		usleep(1000);
	for (i = 5; i < 10; i++)
		send_i(p, "seekc", 0, i, &res[i]);

	ck_assert_int_eq(shmq_consumer_seek(c, "seekc", 0, SHMQ_SEEK_TIME,
	    mid_ms), 0);
	ck_assert_int_eq(shmq_consumer_position(c, "seekc", 0, &pos), 0);
	ck_assert_uint_eq(pos, 5);
	n = shmq_consumer_poll(c, v, 16, 100);
	ck_assert_int_eq(n, 5);
	ck_assert_uint_eq(v[0].queue_off, 5);
	ck_assert_uint_eq(v[0].log_off, res[5].log_off);
	ck_assert_uint_ge(v[0].store_ns, mid_ms * 1000000);

	ck_assert_int_eq(shmq_consumer_seek(c, "seekc", 0, SHMQ_SEEK_TIME, 0),
	    0);
	ck_assert_int_eq(shmq_consumer_position(c, "seekc", 0, &pos), 0);
	ck_assert_uint_eq(pos, 0);
	ck_assert_int_eq(shmq_consumer_seek(c, "seekc", 0, SHMQ_SEEK_TIME,
	    shmq_now_ns() / 1000000 + 60000), 0);
	ck_assert_int_eq(shmq_consumer_position(c, "seekc", 0, &pos), 0);
	ck_assert_uint_eq(pos, 10);
	shmq_consumer_close(c);
	shmq_producer_close(p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Persistence                                                         */
/* ------------------------------------------------------------------ */

#define NPERSIST	(2 * CQE + 22)

static void
reopen(void)
{
	shmq_bus_close(bus);
	bus = NULL;
	ck_assert_int_eq(tu_bus_open(&bus, SEG, CQE), 0);
}

START_TEST(t_persist_reopen)
{
	static struct shmq_cq_entry saved[NPERSIST];
	static struct shmq_send_result res[NPERSIST];
	struct shmq_msgview v[NPERSIST];
	struct shmq_send_result more;
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_topic *t;
	char body[32], tag[8];
	unsigned i, got = 0;
	int n, bad = 0;

	t = mktopic("keep", 2);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = 0; i < NPERSIST; i++) {
		send_i(p, "keep", 1, i, &res[i]);
		saved[i] = *entry(t, 1, i);
	}
	shmq_producer_close(p);

	/* The last closer unlinks the control region: the reopen rebuilds
	 * it from the store, and the index must be what it was. */
	reopen();
	t = gettopic("keep");
	ck_assert_uint_eq(t->queues, 2);
	ck_assert_uint_eq(shmq__cq_tail(&t->cq[1]), NPERSIST);
	ck_assert_uint_eq(shmq__cq_tail(&t->cq[0]), 0);
	ck_assert_uint_eq(ck_pr_load_64(&t->cq[1].qc->min_off), 0);
	for (i = 0; i < NPERSIST; i++) {
		const struct shmq_cq_entry *e = entry(t, 1, i);

		if (e == NULL || memcmp(e, &saved[i], sizeof(*e)) != 0)
			bad++;
		else
			bad += check_entry(t, 1, i, i, &res[i]);
	}
	ck_assert_int_eq(bad, 0);
	ck_assert_uint_eq(ck_pr_load_64(&t->cq[1].qc->holes), 0);

	/* Consumable from offset 0, across the files. */
	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "keep", 1, "*"), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, "keep", 1, SHMQ_SEEK_FIRST, 0),
	    0);
	while (got < NPERSIST &&
	    (n = shmq_consumer_poll(c, v + got, NPERSIST - got, 100)) > 0)
		got += (unsigned)n;
	ck_assert_uint_eq(got, NPERSIST);
	for (i = 0; i < NPERSIST; i++) {
		msg_text(i, body, sizeof(body), tag, sizeof(tag));
		if (v[i].queue_off != i || v[i].log_off != res[i].log_off ||
		    v[i].body_len != strlen(body) ||
		    memcmp(v[i].body, body, v[i].body_len) != 0)
			bad++;
	}
	ck_assert_int_eq(bad, 0);
	shmq_consumer_close(c);

	/* And the queue goes on where it was. */
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	send_i(p, "keep", 1, NPERSIST, &more);
	ck_assert_uint_eq(more.queue_off, NPERSIST);
	ck_assert_uint_gt(more.log_off, res[NPERSIST - 1].log_off);
	ck_assert_int_eq(check_entry(t, 1, NPERSIST, NPERSIST, &more), 0);
	shmq_producer_close(p);
}
END_TEST

START_TEST(t_persist_holes)
{
	struct shmq_send_result res[6], more;
	struct shmq_client_slot *slot;
	struct shmq_msgview v[8];
	struct shmq_producer *p;
	struct shmq_consumer *c;
	struct shmq_cq_entry *e;
	struct shmq_topic *t;
	uint64_t state, off;
	uint32_t idx;
	int n;

	/* 0 sent, 1 hole, 2 sent, 3 claimed and never committed, 4 sent,
	 * 5 claimed at the very end. */
	t = mktopic("ph", 1);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	ck_assert_int_eq(shmq__client_register(bus, SHMQ_ROLE_PRODUCER,
	    "gone", &idx, &slot), 0);
	state = shmq__client_claim(bus, idx);
	send_i(p, "ph", 0, 0, &res[0]);
	ck_assert_uint_eq(claim(t, state, &e), 1);
	ck_assert(shmq__cq_make_hole(bus, &t->cq[0], e, state));
	send_i(p, "ph", 0, 2, &res[2]);
	ck_assert_uint_eq(claim(t, state, NULL), 3);
	send_i(p, "ph", 0, 4, &res[4]);
	ck_assert_uint_eq(claim(t, state, NULL), 5);
	shmq_producer_close(p);
	shmq__client_release(bus, idx);

	/* After the rebuild no claim survives: both become holes, which
	 * no reader waits for, and the next send takes offset 6. */
	reopen();
	t = gettopic("ph");
	ck_assert_uint_eq(shmq__cq_tail(&t->cq[0]), 6);
	ck_assert_int_eq(check_entry(t, 0, 0, 0, &res[0]), 0);
	ck_assert_uint_eq(shmq__cq_state(entry(t, 0, 1)), SHMQ_CQ_HOLE);
	ck_assert_int_eq(check_entry(t, 0, 2, 2, &res[2]), 0);
	ck_assert_uint_eq(shmq__cq_state(entry(t, 0, 3)), SHMQ_CQ_HOLE);
	ck_assert_int_eq(check_entry(t, 0, 4, 4, &res[4]), 0);
	ck_assert_uint_eq(shmq__cq_state(entry(t, 0, 5)), SHMQ_CQ_HOLE);

	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	ck_assert_int_eq(shmq_consumer_assign(c, "ph", 0, "*"), 0);
	ck_assert_int_eq(shmq_consumer_seek(c, "ph", 0, SHMQ_SEEK_FIRST, 0),
	    0);
	n = shmq_consumer_poll(c, v, 8, 0);
	ck_assert_int_eq(n, 3);
	ck_assert_uint_eq(v[0].queue_off, 0);
	ck_assert_uint_eq(v[1].queue_off, 2);
	ck_assert_uint_eq(v[2].queue_off, 4);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	send_i(p, "ph", 0, 6, &more);
	ck_assert_uint_eq(more.queue_off, 6);
	/* Not after a stall: nothing is left claimed. */
	ck_assert_int_eq(shmq_consumer_poll(c, v, 8, 0), 1);
	ck_assert_uint_eq(v[0].queue_off, 6);
	ck_assert_int_eq(shmq_consumer_position(c, "ph", 0, &off), 0);
	ck_assert_uint_eq(off, 7);
	shmq_consumer_close(c);
	shmq_producer_close(p);
}
END_TEST

/*
 * Index file geometry: every offset falls in exactly one file, files tile
 * the queue without gap or overlap, the first holds 1024 entries (or all
 * of cq_entries if smaller) and each next one doubles up to cq_entries.
 */
START_TEST(t_geometry)
{
	static const uint32_t sizes[] = { 128, 1024, 2048, 4096, 262144 };
	struct shmq_bus b;
	uint64_t off, idx, file, prev_file, start, n, k;
	size_t i;
	int bad = 0;

	memset(&b, 0, sizeof(b));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		b.cq_entries = sizes[i];
		n = sizes[i];
		ck_assert_uint_eq(shmq__cq_file_entries(&b, 0),
		    n < SHMQ_CQ_FIRST ? n : SHMQ_CQ_FIRST);
		ck_assert_uint_eq(shmq__cq_file_start(&b, 0), 0);
		for (file = 0; file < 40; file++) {
			k = shmq__cq_file_entries(&b, file);
			if (shmq__cq_file_start(&b, file + 1) !=
			    shmq__cq_file_start(&b, file) + k)
				bad++;
			if (file > 0 && k != n &&
			    k != 2 * shmq__cq_file_entries(&b, file - 1))
				bad++;
			if (k > n || (k & (k - 1)) != 0)
				bad++;
		}
		/* Every offset of the first files, then samples far out. */
		prev_file = 0;
		for (off = 0; off < 4 * n + 5000; off++) {
			file = shmq__cq_locate(&b, off, &idx);
			start = shmq__cq_file_start(&b, file);
			if (start + idx != off ||
			    idx >= shmq__cq_file_entries(&b, file) ||
			    file < prev_file || file > prev_file + 1)
				bad++;
			prev_file = file;
		}
		for (k = 0; k < 64; k++) {
			off = (UINT64_C(0x9e3779b97f4a7c15) * (k + 1)) >> 20;
			file = shmq__cq_locate(&b, off, &idx);
			if (shmq__cq_file_start(&b, file) + idx != off ||
			    idx >= shmq__cq_file_entries(&b, file))
				bad++;
		}
	}
	ck_assert_int_eq(bad, 0);
	/* The default: 1024, 2048, ..., 131072 entries, then 262144. */
	b.cq_entries = 262144;
	ck_assert_uint_eq(shmq__cq_file_start(&b, 1), 1024);
	ck_assert_uint_eq(shmq__cq_file_start(&b, 2), 3072);
	ck_assert_uint_eq(shmq__cq_file_entries(&b, 7), 131072);
	ck_assert_uint_eq(shmq__cq_file_start(&b, 8), 262144 - 1024);
	ck_assert_uint_eq(shmq__cq_file_entries(&b, 8), 262144);
	ck_assert_uint_eq(shmq__cq_file_start(&b, 9), 2 * 262144 - 1024);
}
END_TEST

/* With the default geometry the files on disk are 32, 64, 128 KiB... */
START_TEST(t_geometry_files)
{
	struct shmq_bus *bb;
	struct shmq_producer *p;
	struct shmq_send_result r;
	struct shmq_msg m;
	struct stat st;
	char path[4096];
	uint64_t file;
	int i;

	ck_assert_int_eq(shmq_bus_open(&bb, "geo", NULL), 0);
	ck_assert_int_eq(shmq_topic_create(bb, "g", 1), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bb, NULL), 0);
	shmq_msg_init(&m);
	m.topic = "g";
	m.body = "x";
	m.body_len = 1;
	for (i = 0; i < 5000; i++) {
		ck_assert_int_eq(shmq_producer_send(p, &m, &r), 0);
		ck_assert_uint_eq(r.queue_off, (uint64_t)i);
	}
	for (file = 0; file < 3; file++) {
		ck_assert_int_eq(shmq__cq_file_path(bb, "g", 0, file, path,
		    sizeof(path)), 0);
		ck_assert_msg(stat(path, &st) == 0, "%s missing", path);
		ck_assert_int_eq(st.st_size, (off_t)(32768u << file));
	}
	ck_assert(strstr(path, "/00000000000000003072") != NULL);
	shmq_producer_close(p);
	shmq_bus_close(bb);
	/* Reopened from the store: the tail is found in the third file. */
	ck_assert_int_eq(shmq_bus_open(&bb, "geo", NULL), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bb, NULL), 0);
	ck_assert_int_eq(shmq_producer_send(p, &m, &r), 0);
	ck_assert_uint_eq(r.queue_off, 5000);
	shmq_producer_close(p);
	shmq_bus_close(bb);
}
END_TEST

static Suite *
consumequeue_suite(void)
{
	Suite *s = suite_create("consumequeue");
	TCase *tc;

	tc = tcase_create("dense");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_dense_offsets);
	tcase_add_test(tc, t_dense_consumed);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_file_rollover);
	tcase_add_test(tc, t_file_ahead);
	tcase_add_test(tc, t_file_enospc);
	tcase_add_test(tc, t_geometry);
	tcase_add_test(tc, t_geometry_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("claim");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_claim_threads);
	tcase_add_test(tc, t_claim_procs);
	suite_add_tcase(s, tc);

	tc = tcase_create("hole");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_hole_by_hand);
	tcase_add_test(tc, t_hole_dead_claimer);
	suite_add_tcase(s, tc);

	tc = tcase_create("seek");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_seek_time);
	tcase_add_test(tc, t_seek_time_holes);
	tcase_add_test(tc, t_seek_time_consumer);
	suite_add_tcase(s, tc);

	tc = tcase_create("persist");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_persist_reopen);
	tcase_add_test(tc, t_persist_holes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(consumequeue_suite);
}
