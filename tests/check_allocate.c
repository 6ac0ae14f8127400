/*
 * check_allocate.c - queue allocation strategies: RocketMQ's examples by
 * hand, a line-by-line transliteration of its Java for every small shape,
 * the partition property (each queue owned by exactly one member) for many
 * random groups, consistent-hash stability when a member leaves or joins,
 * pinned assignments (the formulas are a contract between processes), and
 * the refusals.
 *
 * Random shapes come from a fixed-seed xorshift generator, not rand(), so
 * that every libc runs the same cases.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "allocate.h"
#include "testutil.h"

#define MAXM	24
#define MAXQ	1024
#define IDLEN	32

/*
 * ck_assert writes its location down a pipe to the runner on every call,
 * success included; the property loops below make millions of checks, so
 * they report only failures.
 */
#define CHECK(cond, ...) do {						\
	if (!(cond))							\
		ck_abort_msg(__VA_ARGS__);				\
} while (0)

static const enum shmq__alloc_strategy all_strategies[] = {
	SHMQ_ALLOC_AVERAGELY, SHMQ_ALLOC_CIRCLE, SHMQ_ALLOC_CONSISTENT_HASH,
};
#define NSTRAT	(sizeof(all_strategies) / sizeof(all_strategies[0]))

static uint64_t rng_state;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

/* A group of N members with ids like "4711@host-3", sorted. */
struct group {
	char		 buf[MAXM][IDLEN];
	const char	*id[MAXM];
	size_t		 n;
};

static void
group_random(struct group *g, size_t n)
{
	size_t i;

	CHECK(n <= MAXM, "%zu members", n);
	for (;;) {
		for (i = 0; i < n; i++) {
			snprintf(g->buf[i], IDLEN, "%u@host-%u",
			    rng() % 100000, rng() % 8);
			g->id[i] = g->buf[i];
		}
		g->n = n;
		shmq__allocate_sort(g->id, n);
		/* Retry the rare draw with a duplicate id. */
		for (i = 1; i < n; i++)
			if (strcmp(g->id[i - 1], g->id[i]) == 0)
				break;
		if (i >= n)
			return;
	}
}

/* N queue ids, strictly ascending; dense 0..N-1 if DENSE, else with gaps. */
static void
queues_make(uint32_t *q, size_t n, bool dense)
{
	uint32_t v = dense ? 0 : rng() % 4;
	size_t i;

	for (i = 0; i < n; i++) {
		q[i] = v;
		v += dense ? 1 : 1 + rng() % 3;
	}
}

static int
alloc_ok(enum shmq__alloc_strategy s, const char *topic,
    const char *const *members, size_t nm, const char *self,
    const uint32_t *queues, size_t nq, uint32_t *out)
{
	int n;

	n = shmq__allocate(s, topic, members, nm, self, queues, nq, out);
	CHECK(n >= 0, "%s: %d %s", shmq__alloc_strategy_name(s), n,
	    shmq_errmsg());
	CHECK((size_t)n <= nq, "%s: %d of %zu queues",
	    shmq__alloc_strategy_name(s), n, nq);
	return n;
}

/* Member ids "c0", "c1", ... (sorted as long as N <= 10). */
static const char *const cids[] = {
	"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9",
};

/*
 * The queues member INDEX of N gets from 0..NQ-1 under S must be exactly
 * WANT (ascending, terminated by -1).
 */
static void
assert_share(enum shmq__alloc_strategy s, size_t n, size_t index,
    uint32_t nq, const int *want)
{
	uint32_t q[64], out[64];
	int got, i;

	queues_make(q, nq, true);
	got = alloc_ok(s, "TopicTest", cids, n, cids[index], q, nq, out);
	for (i = 0; want[i] >= 0; i++) {
		CHECK(i < got, "%s %u queues/%zu members: member %zu "
		    "got %d queues, want more", shmq__alloc_strategy_name(s),
		    nq, n, index, got);
		CHECK(out[i] == (uint32_t)want[i], "%s %u queues/%zu "
		    "members: member %zu share[%d] = %u, want %d",
		    shmq__alloc_strategy_name(s), nq, n, index, i, out[i],
		    want[i]);
	}
	CHECK(got == i, "%s %u queues/%zu members: member %zu got %d "
	    "queues, want %d", shmq__alloc_strategy_name(s), nq, n, index,
	    got, i);
}

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

START_TEST(t_names)
{
	enum shmq__alloc_strategy s = SHMQ_ALLOC_CIRCLE;
	size_t i;

	for (i = 0; i < NSTRAT; i++) {
		s = (enum shmq__alloc_strategy)-1;
		ck_assert_int_eq(shmq__alloc_strategy_parse(
		    shmq__alloc_strategy_name(all_strategies[i]), &s), 0);
		ck_assert_int_eq(s, all_strategies[i]);
	}
	ck_assert_str_eq(shmq__alloc_strategy_name(SHMQ_ALLOC_AVERAGELY),
	    "averagely");
	ck_assert_str_eq(shmq__alloc_strategy_name(SHMQ_ALLOC_CIRCLE),
	    "circle");
	ck_assert_str_eq(shmq__alloc_strategy_name(SHMQ_ALLOC_CONSISTENT_HASH),
	    "consistent-hash");
	/* Values are stored in shared memory: they must not move. */
	ck_assert_int_eq(SHMQ_ALLOC_AVERAGELY, 0);
	ck_assert_int_eq(SHMQ_ALLOC_CIRCLE, 1);
	ck_assert_int_eq(SHMQ_ALLOC_CONSISTENT_HASH, 2);
	ck_assert_str_eq(shmq__alloc_strategy_name(
	    (enum shmq__alloc_strategy)3), "unknown");
	ck_assert_str_eq(shmq__alloc_strategy_name(
	    (enum shmq__alloc_strategy)-1), "unknown");

	ck_assert_int_eq(shmq__alloc_strategy_parse("Consistent-Hash", &s), 0);
	ck_assert_int_eq(s, SHMQ_ALLOC_CONSISTENT_HASH);
	ck_assert_int_eq(shmq__alloc_strategy_parse("AVERAGELY", &s), 0);
	ck_assert_int_eq(s, SHMQ_ALLOC_AVERAGELY);

	s = SHMQ_ALLOC_CIRCLE;
	ck_assert_int_eq(shmq__alloc_strategy_parse("roundrobin", &s),
	    SHMQ_EINVAL);
	ck_assert_int_eq(s, SHMQ_ALLOC_CIRCLE);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "roundrobin"));
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "consistent-hash"));
	ck_assert_int_eq(shmq__alloc_strategy_parse("", &s), SHMQ_EINVAL);
	ck_assert_int_eq(shmq__alloc_strategy_parse("averagely ", &s),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq__alloc_strategy_parse(NULL, &s), SHMQ_EINVAL);
	ck_assert_int_eq(shmq__alloc_strategy_parse("circle", NULL),
	    SHMQ_EINVAL);
	ck_assert_int_eq(s, SHMQ_ALLOC_CIRCLE);
}
END_TEST

/* ------------------------------------------------------------------ */
/* RocketMQ's formulas                                                 */
/* ------------------------------------------------------------------ */

START_TEST(t_averagely_examples)
{
	const enum shmq__alloc_strategy A = SHMQ_ALLOC_AVERAGELY;

	/* 8 queues, 3 members: 3, 3, 2 in contiguous blocks. */
	assert_share(A, 3, 0, 8, (const int[]){ 0, 1, 2, -1 });
	assert_share(A, 3, 1, 8, (const int[]){ 3, 4, 5, -1 });
	assert_share(A, 3, 2, 8, (const int[]){ 6, 7, -1 });
	/* More members than queues: the last ones idle. */
	assert_share(A, 3, 0, 2, (const int[]){ 0, -1 });
	assert_share(A, 3, 1, 2, (const int[]){ 1, -1 });
	assert_share(A, 3, 2, 2, (const int[]){ -1 });
	assert_share(A, 3, 0, 1, (const int[]){ 0, -1 });
	assert_share(A, 3, 2, 1, (const int[]){ -1 });
	/* As many: one each. */
	assert_share(A, 4, 0, 4, (const int[]){ 0, -1 });
	assert_share(A, 4, 3, 4, (const int[]){ 3, -1 });
	/* 16 queues, 5 members: 4, 3, 3, 3, 3. */
	assert_share(A, 5, 0, 16, (const int[]){ 0, 1, 2, 3, -1 });
	assert_share(A, 5, 1, 16, (const int[]){ 4, 5, 6, -1 });
	assert_share(A, 5, 4, 16, (const int[]){ 13, 14, 15, -1 });
	/* 10 queues, 4 members: 3, 3, 2, 2. */
	assert_share(A, 4, 1, 10, (const int[]){ 3, 4, 5, -1 });
	assert_share(A, 4, 2, 10, (const int[]){ 6, 7, -1 });
	assert_share(A, 4, 3, 10, (const int[]){ 8, 9, -1 });
	/* Divides evenly. */
	assert_share(A, 2, 1, 8, (const int[]){ 4, 5, 6, 7, -1 });
	/* One member: everything; no queues: nothing. */
	assert_share(A, 1, 0, 5, (const int[]){ 0, 1, 2, 3, 4, -1 });
	assert_share(A, 3, 0, 0, (const int[]){ -1 });
}
END_TEST

START_TEST(t_circle_examples)
{
	const enum shmq__alloc_strategy C = SHMQ_ALLOC_CIRCLE;

	assert_share(C, 3, 0, 8, (const int[]){ 0, 3, 6, -1 });
	assert_share(C, 3, 1, 8, (const int[]){ 1, 4, 7, -1 });
	assert_share(C, 3, 2, 8, (const int[]){ 2, 5, -1 });
	assert_share(C, 3, 0, 2, (const int[]){ 0, -1 });
	assert_share(C, 3, 1, 2, (const int[]){ 1, -1 });
	assert_share(C, 3, 2, 2, (const int[]){ -1 });
	assert_share(C, 5, 0, 16, (const int[]){ 0, 5, 10, 15, -1 });
	assert_share(C, 5, 4, 16, (const int[]){ 4, 9, 14, -1 });
	assert_share(C, 1, 0, 3, (const int[]){ 0, 1, 2, -1 });
	assert_share(C, 2, 1, 0, (const int[]){ -1 });
}
END_TEST

/*
 * AllocateMessageQueueAveragely.allocate, transliterated from the Java with
 * its int arithmetic and its "% mqAll.size()".  Returns the count written
 * to OUT.
 */
static int
java_averagely(int index, int ncid, const uint32_t *mq, int nmq,
    uint32_t *out)
{
	int mod = nmq % ncid;
	int averageSize = nmq <= ncid ? 1 : (mod > 0 && index < mod ?
	    nmq / ncid + 1 : nmq / ncid);
	int startIndex = (mod > 0 && index < mod) ? index * averageSize :
	    index * averageSize + mod;
	int range = averageSize < nmq - startIndex ? averageSize :
	    nmq - startIndex;
	int i;

	for (i = 0; i < range; i++)
		out[i] = mq[(startIndex + i) % nmq];
	return range < 0 ? 0 : range;
}

/* AllocateMessageQueueAveragelyByCircle.allocate, transliterated. */
static int
java_circle(int index, int ncid, const uint32_t *mq, int nmq, uint32_t *out)
{
	int i, n = 0;

	for (i = index; i < nmq; i++)
		if (i % ncid == index)
			out[n++] = mq[i];
	return n;
}

START_TEST(t_matches_java)
{
	uint32_t q[64], out[64], want[64];
	struct group g;
	size_t nm, nq, m;
	int n, nw;

	rng_state = 0x5eed0001;
	for (nm = 1; nm <= 20; nm++) {
		group_random(&g, nm);
		for (nq = 0; nq <= 64; nq++) {
			queues_make(q, nq, nq % 2 == 0);
			for (m = 0; m < nm; m++) {
				n = alloc_ok(SHMQ_ALLOC_AVERAGELY, NULL, g.id,
				    nm, g.id[m], q, nq, out);
				nw = java_averagely((int)m, (int)nm, q,
				    (int)nq, want);
				CHECK(n == nw && memcmp(out, want,
				    (size_t)n * sizeof(*out)) == 0,
				    "averagely %zu/%zu member %zu differs "
				    "from RocketMQ", nq, nm, m);
				n = alloc_ok(SHMQ_ALLOC_CIRCLE, NULL, g.id,
				    nm, g.id[m], q, nq, out);
				nw = java_circle((int)m, (int)nm, q, (int)nq,
				    want);
				CHECK(n == nw && memcmp(out, want,
				    (size_t)n * sizeof(*out)) == 0,
				    "circle %zu/%zu member %zu differs "
				    "from RocketMQ", nq, nm, m);
			}
		}
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Partition                                                           */
/* ------------------------------------------------------------------ */

/* Position of queue id V in Q (N ids, ascending), or -1. */
static int
find_queue(const uint32_t *q, size_t n, uint32_t v)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (q[mid] == v)
			return (int)mid;
		if (q[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/*
 * Allocate for every member of G and record in OWNER[i] the member that
 * owns Q[i].  Fails the test unless the shares partition Q: every id in a
 * share is one of Q, shares are ascending, and no queue has two owners or
 * none.  VNODES 0 means shmq__allocate with S.
 */
static void
owners(enum shmq__alloc_strategy s, unsigned int vnodes, const char *topic,
    const char *const *members, size_t nm, const uint32_t *q, size_t nq,
    int *owner)
{
	uint32_t out[MAXQ];
	size_t m, i;
	int n, k, p;

	for (i = 0; i < nq; i++)
		owner[i] = -1;
	for (m = 0; m < nm; m++) {
		if (vnodes == 0)
			n = alloc_ok(s, topic, members, nm, members[m], q, nq,
			    out);
		else
			n = shmq__allocate_hash(topic, members, nm,
			    members[m], q, nq, vnodes, out);
		CHECK(n >= 0, "%d %s", n, shmq_errmsg());
		for (k = 0; k < n; k++) {
			p = find_queue(q, nq, out[k]);
			CHECK(p >= 0, "%s: member %zu got queue %u, "
			    "not in the list", shmq__alloc_strategy_name(s),
			    m, out[k]);
			CHECK(k == 0 || out[k - 1] < out[k],
			    "%s: share not ascending",
			    shmq__alloc_strategy_name(s));
			CHECK(owner[p] < 0, "%s %zu/%zu: queue %u "
			    "owned by members %d and %zu",
			    shmq__alloc_strategy_name(s), nq, nm, out[k],
			    owner[p], m);
			owner[p] = (int)m;
		}
	}
	for (i = 0; i < nq; i++)
		CHECK(owner[i] >= 0, "%s %zu/%zu: queue %u has no "
		    "owner", shmq__alloc_strategy_name(s), nq, nm, q[i]);
}

START_TEST(t_partition)
{
	uint32_t q[64];
	int owner[64], size[MAXM];
	struct group g;
	size_t si, nm, nq, i, m;
	int lo, hi;

	rng_state = 0x5eed0002;
	for (si = 0; si < NSTRAT; si++) {
		enum shmq__alloc_strategy s = all_strategies[si];

		for (nm = 1; nm <= 20; nm++) {
			for (nq = 0; nq <= 64; nq++) {
				group_random(&g, nm);
				queues_make(q, nq, rng() % 2 == 0);
				owners(s, 0, "t", g.id, nm, q, nq, owner);
				if (s == SHMQ_ALLOC_CONSISTENT_HASH)
					continue;
				/* Averagely and circle also balance: shares
				 * differ by at most one, larger first. */
				memset(size, 0, sizeof(size));
				for (i = 0; i < nq; i++)
					size[owner[i]]++;
				lo = hi = size[0];
				for (m = 1; m < nm; m++) {
					CHECK(size[m] <= size[m - 1],
					    "%s %zu/%zu: member %zu has more "
					    "than the one before",
					    shmq__alloc_strategy_name(s), nq,
					    nm, m);
					lo = size[m] < lo ? size[m] : lo;
					hi = size[m] > hi ? size[m] : hi;
				}
				CHECK(hi - lo <= 1, "%s %zu/%zu: shares "
				    "%d to %d", shmq__alloc_strategy_name(s),
				    nq, nm, lo, hi);
				/* Averagely: contiguous, in member order. */
				for (i = 1; s == SHMQ_ALLOC_AVERAGELY &&
				    i < nq; i++)
					CHECK(owner[i - 1] <= owner[i],
					    "averagely %zu/%zu: not "
					    "contiguous at %zu", nq, nm, i);
			}
		}
	}
}
END_TEST

START_TEST(t_partition_large)
{
	static uint32_t q[MAXQ];
	static int owner[MAXQ];
	struct group g;
	size_t si;

	/* A topic at SHMQ_MAX_QUEUES with a crowd of members. */
	rng_state = 0x5eed0003;
	queues_make(q, MAXQ, true);
	group_random(&g, MAXM);
	for (si = 0; si < NSTRAT; si++)
		owners(all_strategies[si], 0, "big", g.id, MAXM, q, MAXQ,
		    owner);
	owners(SHMQ_ALLOC_CONSISTENT_HASH, 1, "big", g.id, MAXM, q, MAXQ,
	    owner);
	owners(SHMQ_ALLOC_CONSISTENT_HASH, 100, "big", g.id, MAXM, q, MAXQ,
	    owner);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Consistent hash                                                     */
/* ------------------------------------------------------------------ */

/*
 * How many queues not owned by member R of G change owner when R leaves
 * (the owner in the smaller list is mapped back to its index in G).  Read
 * backwards, the same count is what moves between others when R joins.
 */
static int
moved_on_leave(enum shmq__alloc_strategy s, unsigned int vnodes,
    const char *topic, const struct group *g, size_t r, const uint32_t *q,
    size_t nq)
{
	const char *less[MAXM];
	int before[64], after[64];
	size_t i, n = 0;
	int moved = 0;

	owners(s, vnodes, topic, g->id, g->n, q, nq, before);
	for (i = 0; i < g->n; i++)
		if (i != r)
			less[n++] = g->id[i];
	owners(s, vnodes, topic, less, n, q, nq, after);
	for (i = 0; i < nq; i++) {
		/* Indexes past R shift down by one in LESS. */
		int a = after[i] >= (int)r ? after[i] + 1 : after[i];

		if (before[i] != (int)r && before[i] != a)
			moved++;
	}
	return moved;
}

START_TEST(t_hash_stable)
{
	static const char *const topics[] = { "t", "orders", "" };
	static const unsigned int vn[] = { 0, 1, 3, 40 };
	uint32_t q[64];
	struct group g;
	size_t nm, nq, r, ti, vi;

	rng_state = 0x5eed0004;
	for (vi = 0; vi < sizeof(vn) / sizeof(vn[0]); vi++)
	for (ti = 0; ti < sizeof(topics) / sizeof(topics[0]); ti++)
	for (nm = 2; nm <= 12; nm++) {
		for (nq = 0; nq <= 64; nq += 1 + rng() % 7) {
			group_random(&g, nm);
			queues_make(q, nq, rng() % 2 == 0);
			for (r = 0; r < nm; r++)
				CHECK(moved_on_leave(
				    SHMQ_ALLOC_CONSISTENT_HASH, vn[vi],
				    topics[ti], &g, r, q, nq) == 0,
				    "%zu/%zu vnodes %u: member %zu leaving "
				    "moved others' queues", nq, nm, vn[vi], r);
		}
	}
}
END_TEST

START_TEST(t_averagely_not_stable)
{
	uint32_t q[8];
	struct group g;

	/* The property above is real: averagely does not have it (8 queues,
	 * 3 members; the first leaving shifts every block). */
	rng_state = 0x5eed0005;
	group_random(&g, 3);
	queues_make(q, 8, true);
	ck_assert_int_gt(moved_on_leave(SHMQ_ALLOC_AVERAGELY, 0, "t", &g, 0,
	    q, 8), 0);
	ck_assert_int_gt(moved_on_leave(SHMQ_ALLOC_CIRCLE, 0, "t", &g, 0,
	    q, 8), 0);
}
END_TEST

START_TEST(t_hash_deterministic)
{
	char copy[MAXM][IDLEN];
	const char *ids[MAXM];
	uint32_t q[64], a[64], b[64];
	struct group g;
	size_t m;
	int na, nb;

	rng_state = 0x5eed0006;
	group_random(&g, 7);
	queues_make(q, 64, true);
	/* Same strings at other addresses: only the bytes count. */
	for (m = 0; m < g.n; m++) {
		snprintf(copy[m], IDLEN, "%s", g.id[m]);
		ids[m] = copy[m];
	}
	for (m = 0; m < g.n; m++) {
		na = alloc_ok(SHMQ_ALLOC_CONSISTENT_HASH, "t", g.id, g.n,
		    g.id[m], q, 64, a);
		nb = alloc_ok(SHMQ_ALLOC_CONSISTENT_HASH, "t", ids, g.n,
		    copy[m], q, 64, b);
		ck_assert_int_eq(na, nb);
		ck_assert(memcmp(a, b, (size_t)na * sizeof(*a)) == 0);
		nb = shmq__allocate_hash("t", g.id, g.n, g.id[m], q, 64,
		    SHMQ_ALLOC_VNODES, b);
		ck_assert_int_eq(na, nb);
		ck_assert(memcmp(a, b, (size_t)na * sizeof(*a)) == 0);
	}
}
END_TEST

START_TEST(t_hash_topic)
{
	static const char *const m3[] = { "a@1", "b@2", "c@3" };
	int o1[64], o2[64], i, differ = 0;
	uint32_t q[64];

	/* The topic is part of a queue's position, so queue i of two topics
	 * need not share an owner. */
	queues_make(q, 64, true);
	owners(SHMQ_ALLOC_CONSISTENT_HASH, 0, "orders", m3, 3, q, 64, o1);
	owners(SHMQ_ALLOC_CONSISTENT_HASH, 0, "payments", m3, 3, q, 64, o2);
	for (i = 0; i < 64; i++)
		differ += o1[i] != o2[i];
	ck_assert_int_gt(differ, 0);
	/* NULL is the empty topic. */
	owners(SHMQ_ALLOC_CONSISTENT_HASH, 0, NULL, m3, 3, q, 64, o1);
	owners(SHMQ_ALLOC_CONSISTENT_HASH, 0, "", m3, 3, q, 64, o2);
	ck_assert(memcmp(o1, o2, sizeof(o1)) == 0);
}
END_TEST

START_TEST(t_hash_balance)
{
	static const char *const m4[] = { "1001@a", "1002@a", "1003@b",
	    "1004@b" };
	static uint32_t q[MAXQ];
	static int owner[MAXQ];
	int size[4] = { 0 }, i;

	/* Ten virtual nodes give a rough balance, not an exact one (RocketMQ
	 * alike): each of 4 members holds 10% to 45% of 1024 queues. */
	queues_make(q, MAXQ, true);
	owners(SHMQ_ALLOC_CONSISTENT_HASH, 0, "t", m4, 4, q, MAXQ, owner);
	for (i = 0; i < MAXQ; i++)
		size[owner[i]]++;
	for (i = 0; i < 4; i++)
		CHECK(size[i] >= MAXQ / 10 && size[i] <= MAXQ * 45 / 100,
		    "member %d owns %d of %d queues", i, size[i], MAXQ);
}
END_TEST

START_TEST(t_hash_pinned)
{
	static const char *const m3[] = { "1234@host-a", "2345@host-b",
	    "3456@host-c" };
	static const int want[16] = {
	    0, 1, 2, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 2, 0, 0,
	};
	uint32_t q[16];
	int owner[16], i;

	/*
	 * Members of one group may run different builds of shmq: the ring
	 * positions (shmq__hash64, the mixing, the tie rule) are a protocol.
	 * If this fails, the assignments changed for every running group.
	 */
	queues_make(q, 16, true);
	owners(SHMQ_ALLOC_CONSISTENT_HASH, 0, "TopicTest", m3, 3, q, 16,
	    owner);
	for (i = 0; i < 16; i++)
		CHECK(owner[i] == want[i], "queue %d: member %d, "
		    "pinned %d", i, owner[i], want[i]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Membership and refusals                                             */
/* ------------------------------------------------------------------ */

START_TEST(t_not_member)
{
	static const char *const m3[] = { "a", "b", "c" };
	uint32_t q[8], out[8];
	size_t si, i;

	queues_make(q, 8, true);
	for (si = 0; si < NSTRAT; si++) {
		enum shmq__alloc_strategy s = all_strategies[si];

		/* Not in the list (before, between, after, a prefix): owns
		 * nothing, and OUT is left alone. */
		for (i = 0; i < 8; i++)
			out[i] = 0xdead;
		ck_assert_int_eq(shmq__allocate(s, "t", m3, 3, "0", q, 8, out),
		    0);
		ck_assert_int_eq(shmq__allocate(s, "t", m3, 3, "bb", q, 8,
		    out), 0);
		ck_assert_int_eq(shmq__allocate(s, "t", m3, 3, "d", q, 8, out),
		    0);
		ck_assert_int_eq(shmq__allocate(s, "t", m3, 3, "c ", q, 8,
		    out), 0);
		/* An empty group. */
		ck_assert_int_eq(shmq__allocate(s, "t", NULL, 0, "a", q, 8,
		    out), 0);
		ck_assert_int_eq(shmq__allocate(s, "t", m3, 0, "a", q, 8, out),
		    0);
		for (i = 0; i < 8; i++)
			ck_assert_uint_eq(out[i], 0xdead);
		/* No queues: nothing, with NULL lists allowed. */
		ck_assert_int_eq(shmq__allocate(s, "t", m3, 3, "a", NULL, 0,
		    NULL), 0);
	}
}
END_TEST

START_TEST(t_in_place)
{
	uint32_t q[40], want[40], buf[40];
	struct group g;
	size_t si, m;
	int n, nw;

	/* OUT == QUEUES filters in place, same answer as a separate OUT. */
	rng_state = 0x5eed0007;
	group_random(&g, 6);
	queues_make(q, 40, false);
	for (si = 0; si < NSTRAT; si++) {
		for (m = 0; m < g.n; m++) {
			nw = alloc_ok(all_strategies[si], "t", g.id, g.n,
			    g.id[m], q, 40, want);
			memcpy(buf, q, sizeof(buf));
			n = alloc_ok(all_strategies[si], "t", g.id, g.n,
			    g.id[m], buf, 40, buf);
			ck_assert_int_eq(n, nw);
			ck_assert(memcmp(buf, want, (size_t)n *
			    sizeof(*buf)) == 0);
		}
	}
}
END_TEST

START_TEST(t_sort)
{
	const char *ids[] = { "9@z", "10@a", "1@b", "10@", "A", "a", "" };
	const char *want[] = { "", "10@", "10@a", "1@b", "9@z", "A", "a" };
	size_t i;

	/* strcmp order, which for ASCII ids is Java's String.compareTo. */
	shmq__allocate_sort(ids, 7);
	for (i = 0; i < 7; i++)
		ck_assert_str_eq(ids[i], want[i]);
	shmq__allocate_sort(NULL, 0);
	shmq__allocate_sort(ids, 1);
	ck_assert_str_eq(ids[0], "");
}
END_TEST

/* Every strategy refuses the call with SHMQ_EINVAL and leaves OUT alone. */
static void
refused(const char *why, const char *const *members, size_t nm,
    const char *self, const uint32_t *q, size_t nq, uint32_t *out)
{
	uint32_t before = out != NULL ? out[0] : 0;
	size_t si;
	int err;

	for (si = 0; si < NSTRAT; si++) {
		err = shmq__allocate(all_strategies[si], "t", members, nm, self,
		    q, nq, out);
		CHECK(err == SHMQ_EINVAL, "%s, %s: %d, want SHMQ_EINVAL",
		    why, shmq__alloc_strategy_name(all_strategies[si]), err);
		CHECK(strstr(shmq_errmsg(), "allocate") != NULL,
		    "%s: detail \"%s\"", why, shmq_errmsg());
		if (out != NULL)
			ck_assert_uint_eq(out[0], before);
	}
}

START_TEST(t_errors)
{
	static const char *const ok[] = { "a", "b", "c" };
	static const char *const unsorted[] = { "a", "c", "b" };
	static const char *const dup[] = { "a", "b", "b" };
	static const char *const hole[] = { "a", NULL, "c" };
	static const char *const empty[] = { "", "a", "b" };
	static const uint32_t q_unsorted[] = { 0, 2, 1 };
	static const uint32_t q_dup[] = { 0, 1, 1 };
	uint32_t q[4] = { 0, 1, 2, 3 }, out[4] = { 77, 77, 77, 77 };

	refused("NULL self", ok, 3, NULL, q, 4, out);
	refused("empty self", ok, 3, "", q, 4, out);
	refused("NULL members", NULL, 3, "a", q, 4, out);
	refused("NULL member id", hole, 3, "a", q, 4, out);
	refused("empty member id", empty, 3, "a", q, 4, out);
	refused("members not sorted", unsorted, 3, "a", q, 4, out);
	refused("duplicate member", dup, 3, "a", q, 4, out);
	refused("NULL queues", ok, 3, "a", NULL, 4, out);
	refused("NULL out", ok, 3, "a", q, 4, NULL);
	refused("queues not sorted", ok, 3, "a", q_unsorted, 3, out);
	refused("duplicate queue", ok, 3, "a", q_dup, 3, out);
	/* The count would not fit the int result; nothing is read. */
	refused("too many queues", ok, 3, "a", q, (size_t)INT_MAX + 1, out);
	/* A bad list is refused even when SELF is not in it. */
	refused("unsorted, not a member", unsorted, 3, "zz", q, 4, out);

	ck_assert_int_eq(shmq__allocate((enum shmq__alloc_strategy)3, "t", ok,
	    3, "a", q, 4, out), SHMQ_EINVAL);
	ck_assert_int_eq(shmq__allocate((enum shmq__alloc_strategy)-1, "t",
	    ok, 3, "a", q, 4, out), SHMQ_EINVAL);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "strategy"));
	ck_assert_int_eq(shmq__allocate_hash("t", ok, 3, "a", q, 4, 0, out),
	    SHMQ_EINVAL);
	ck_assert_int_eq(shmq__allocate_hash("t", ok, 3, "a", q, 4,
	    SHMQ_ALLOC_VNODES_MAX + 1, out), SHMQ_EINVAL);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "virtual nodes"));
	ck_assert_int_ge(shmq__allocate_hash("t", ok, 3, "a", q, 4,
	    SHMQ_ALLOC_VNODES_MAX, out), 0);
	/* Nothing above wrote OUT until the last call. */
}
END_TEST

static Suite *
allocate_suite(void)
{
	Suite *s = suite_create("allocate");
	TCase *tc;

	tc = tcase_create("names");
	tcase_add_test(tc, t_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("rocketmq");
	tcase_add_test(tc, t_averagely_examples);
	tcase_add_test(tc, t_circle_examples);
	tcase_add_test(tc, t_matches_java);
	suite_add_tcase(s, tc);

	tc = tcase_create("partition");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_partition);
	tcase_add_test(tc, t_partition_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("consistent-hash");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_hash_stable);
	tcase_add_test(tc, t_averagely_not_stable);
	tcase_add_test(tc, t_hash_deterministic);
	tcase_add_test(tc, t_hash_topic);
	tcase_add_test(tc, t_hash_balance);
	tcase_add_test(tc, t_hash_pinned);
	suite_add_tcase(s, tc);

	tc = tcase_create("membership");
	tcase_add_test(tc, t_not_member);
	tcase_add_test(tc, t_in_place);
	tcase_add_test(tc, t_sort);
	tcase_add_test(tc, t_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(allocate_suite);
}
