/*
 * allocate.c - queue allocation strategies (see allocate.h).
 *
 * The averagely and circle formulas are RocketMQ's, kept in its own shape
 * (index, mod, averageSize, startIndex, range) so that a reader can check
 * them against AllocateMessageQueueAveragely.java line by line.
 *
 * The consistent hash needs no ring in memory.  RocketMQ builds a sorted
 * map of virtual nodes and takes the first at or after the queue's hash
 * (tailMap, wrapping to the first); the same node is the one with the
 * smallest clockwise distance (node - queue, modulo 2^64), which a loop over
 * the nodes finds without allocating or sorting.  Ties (two virtual nodes at
 * one position) go to the member that sorts first, a rule that does not
 * depend on which other members are present, so removing a member can only
 * move the queues that member owned.
 *
 * Positions on the ring: a member's id and the topic are hashed once with
 * shmq__hash64 (FNV-1a with a final mix, stable across hosts and builds),
 * and the virtual node index or queue id is folded in with the splitmix64
 * finaliser.  That avoids building "id-3" style strings, which would need a
 * buffer of unbounded size.
 */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "allocate.h"

#define GOLDEN64	0x9e3779b97f4a7c15ull

static const char *const strategy_names[SHMQ_ALLOC_NSTRATEGIES] = {
	[SHMQ_ALLOC_AVERAGELY] = "averagely",
	[SHMQ_ALLOC_CIRCLE] = "circle",
	[SHMQ_ALLOC_CONSISTENT_HASH] = "consistent-hash",
};

int
shmq__alloc_strategy_parse(const char *name, enum shmq__alloc_strategy *out)
{
	unsigned int i;

	if (name == NULL || out == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "allocation strategy: no name");
	for (i = 0; i < SHMQ_ALLOC_NSTRATEGIES; i++) {
		if (strcasecmp(name, strategy_names[i]) == 0) {
			*out = (enum shmq__alloc_strategy)i;
			return 0;
		}
	}
	return SHMQ_ERR(SHMQ_EINVAL, "allocation strategy \"%s\": unknown "
	    "(averagely, circle or consistent-hash)", name);
}

const char *
shmq__alloc_strategy_name(enum shmq__alloc_strategy s)
{
	/* Unsigned, so that a negative value read from shared memory is
	 * out of range too. */
	if ((unsigned int)s >= SHMQ_ALLOC_NSTRATEGIES)
		return "unknown";
	return strategy_names[s];
}

static int
member_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
shmq__allocate_sort(const char **members, size_t n_members)
{
	if (members != NULL && n_members > 1)
		qsort(members, n_members, sizeof(*members), member_cmp);
}

/*
 * Check everything before writing anything, so that a refused call leaves
 * OUT as it was.  Returns 0 or SHMQ_EINVAL with detail.
 */
static int
check_args(const char *const *members, size_t n_members, const char *self,
    const uint32_t *queues, size_t n_queues, const uint32_t *out)
{
	size_t i;

	/* The count is returned as an int. */
	if (n_queues > INT_MAX)
		return SHMQ_ERR(SHMQ_EINVAL, "allocate: %zu queues", n_queues);
	if (self == NULL || *self == '\0')
		return SHMQ_ERR(SHMQ_EINVAL, "allocate: no member id");
	if (members == NULL && n_members > 0)
		return SHMQ_ERR(SHMQ_EINVAL, "allocate: no member list");
	if ((queues == NULL || out == NULL) && n_queues > 0)
		return SHMQ_ERR(SHMQ_EINVAL, "allocate: no queue list");
	for (i = 0; i < n_members; i++) {
		if (members[i] == NULL || *members[i] == '\0')
			return SHMQ_ERR(SHMQ_EINVAL, "allocate: member %zu has "
			    "no id", i);
		if (i > 0 && strcmp(members[i - 1], members[i]) >= 0)
			return SHMQ_ERR(SHMQ_EINVAL, "allocate: members not "
			    "sorted or duplicated at %zu (\"%s\", \"%s\")",
			    i, members[i - 1], members[i]);
	}
	for (i = 1; i < n_queues; i++) {
		if (queues[i - 1] >= queues[i])
			return SHMQ_ERR(SHMQ_EINVAL, "allocate: queues not "
			    "sorted or duplicated at %zu (%u, %u)", i,
			    queues[i - 1], queues[i]);
	}
	return 0;
}

/* Index of SELF in the sorted MEMBERS, or -1. */
static ptrdiff_t
member_index(const char *const *members, size_t n_members, const char *self)
{
	size_t lo = 0, hi = n_members, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(self, members[mid]);
		if (c == 0)
			return (ptrdiff_t)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* RocketMQ AllocateMessageQueueAveragely.allocate, for member INDEX. */
static int
alloc_averagely(size_t index, size_t n_members, const uint32_t *queues,
    size_t n_queues, uint32_t *out)
{
	size_t mod, average, start, range, i;

	mod = n_queues % n_members;
	if (n_queues <= n_members)
		average = 1;
	else if (mod > 0 && index < mod)
		average = n_queues / n_members + 1;
	else
		average = n_queues / n_members;
	if (mod > 0 && index < mod)
		start = index * average;
	else
		start = index * average + mod;
	/* Members past the queues (more members than queues) start at or
	 * beyond the end: Java's min() goes negative, and the loop is empty. */
	if (start >= n_queues)
		return 0;
	range = average < n_queues - start ? average : n_queues - start;
	for (i = 0; i < range; i++)
		out[i] = queues[start + i];
	return (int)range;
}

/* RocketMQ AllocateMessageQueueAveragelyByCircle.allocate. */
static int
alloc_circle(size_t index, size_t n_members, const uint32_t *queues,
    size_t n_queues, uint32_t *out)
{
	size_t i, n = 0;

	for (i = index; i < n_queues; i += n_members)
		out[n++] = queues[i];
	return (int)n;
}

/* splitmix64's finaliser: a bijection with full avalanche. */
static inline uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t
str_hash(const char *s)
{
	return shmq__hash64(s, strlen(s));
}

/* Ring position of virtual node V of the member whose id hashes to HM. */
static inline uint64_t
vnode_pos(uint64_t hm, unsigned int v)
{
	return mix64(hm + (uint64_t)(v + 1) * GOLDEN64);
}

/* Ring position of queue Q of the topic whose name hashes to HT. */
static inline uint64_t
queue_pos(uint64_t ht, uint32_t q)
{
	return mix64(ht ^ ((uint64_t)q * GOLDEN64));
}

static int
alloc_hash(const char *topic, const char *const *members, size_t n_members,
    size_t self, const uint32_t *queues, size_t n_queues,
    unsigned int vnodes, uint32_t *out)
{
	uint64_t ht, hs, hm, qpos, best, d;
	size_t i, m, n = 0;
	unsigned int v;
	bool mine;

	ht = str_hash(topic != NULL ? topic : "");
	hs = str_hash(members[self]);
	for (i = 0; i < n_queues; i++) {
		qpos = queue_pos(ht, queues[i]);
		/* Our nearest node clockwise (unsigned wrap is the ring). */
		best = UINT64_MAX;
		for (v = 0; v < vnodes; v++) {
			d = vnode_pos(hs, v) - qpos;
			if (d < best)
				best = d;
		}
		/* Any other member nearer, or as near and sorting first,
		 * owns it; stop at the first. */
		mine = true;
		for (m = 0; m < n_members && mine; m++) {
			if (m == self)
				continue;
			hm = str_hash(members[m]);
			for (v = 0; v < vnodes; v++) {
				d = vnode_pos(hm, v) - qpos;
				if (d < best || (d == best && m < self)) {
					mine = false;
					break;
				}
			}
		}
		if (mine)
			out[n++] = queues[i];
	}
	return (int)n;
}

int
shmq__allocate_hash(const char *topic, const char *const *members,
    size_t n_members, const char *self, const uint32_t *queues,
    size_t n_queues, unsigned int vnodes, uint32_t *out)
{
	ptrdiff_t index;
	int err;

	if (vnodes < 1 || vnodes > SHMQ_ALLOC_VNODES_MAX)
		return SHMQ_ERR(SHMQ_EINVAL, "allocate: %u virtual nodes "
		    "(1 to %d)", vnodes, SHMQ_ALLOC_VNODES_MAX);
	err = check_args(members, n_members, self, queues, n_queues, out);
	if (err != 0)
		return err;
	if ((index = member_index(members, n_members, self)) < 0)
		return 0;
	return alloc_hash(topic, members, n_members, (size_t)index, queues,
	    n_queues, vnodes, out);
}

int
shmq__allocate(enum shmq__alloc_strategy strategy, const char *topic,
    const char *const *members, size_t n_members, const char *self,
    const uint32_t *queues, size_t n_queues, uint32_t *out)
{
	ptrdiff_t index;
	int err;

	switch (strategy) {
	case SHMQ_ALLOC_AVERAGELY:
	case SHMQ_ALLOC_CIRCLE:
		break;
	case SHMQ_ALLOC_CONSISTENT_HASH:
		return shmq__allocate_hash(topic, members, n_members, self,
		    queues, n_queues, SHMQ_ALLOC_VNODES, out);
	default:
		return SHMQ_ERR(SHMQ_EINVAL, "allocate: unknown strategy %d",
		    (int)strategy);
	}
	err = check_args(members, n_members, self, queues, n_queues, out);
	if (err != 0)
		return err;
	if ((index = member_index(members, n_members, self)) < 0)
		return 0;
	if (strategy == SHMQ_ALLOC_AVERAGELY)
		return alloc_averagely((size_t)index, n_members, queues,
		    n_queues, out);
	return alloc_circle((size_t)index, n_members, queues, n_queues, out);
}
