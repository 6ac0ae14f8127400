/*
 * allocate.h - queue allocation strategies for consumer groups: which of a
 * topic's queues one member of a clustering group owns.
 *
 * Pure functions: no I/O, no shared memory, no allocation, no locks, so any
 * thread may call them at any time.  Every member of a group computes its
 * own share from the same inputs (the sorted live member ids and the sorted
 * queue ids) and the shares partition the queues: each queue is owned by
 * exactly one member, as in RocketMQ's client-side rebalance (the
 * reference's section 5.4).  That only holds if every member computes the
 * same function, so the results below are a contract between processes, and
 * between versions of shmq sharing one bus: changing a formula or a hash
 * here reassigns queues under running groups.  check_allocate pins them.
 *
 * Members are ids such as "pid@host" compared bytewise (strcmp), which is
 * the order of Java's String.compareTo for ASCII ids, so a group sees the
 * assignments a RocketMQ user would.  The caller sorts (shmq__allocate_sort
 * does it in place); we only check, because sorting a copy would mean
 * allocating, and a list that is not strictly ascending (out of order or
 * with a duplicate id) is a bug in the caller: two members with one id would
 * get the same queues (RocketMQ issue #1589) and consume them twice.
 */
#ifndef SHMQ_ALLOCATE_H
#define SHMQ_ALLOCATE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The values are stable (0, 1, 2) so that a group can keep its strategy in
 * shared memory, where every member reads the same one.
 */
enum shmq__alloc_strategy {
	/* RocketMQ AllocateMessageQueueAveragely, the default: contiguous
	 * blocks of queues, and the first (queues % members) members get one
	 * more.  8 queues, 3 members: {0,1,2} {3,4,5} {6,7}. */
	SHMQ_ALLOC_AVERAGELY = 0,
	/* RocketMQ AllocateMessageQueueAveragelyByCircle: round-robin.
	 * 8 queues, 3 members: {0,3,6} {1,4,7} {2,5}. */
	SHMQ_ALLOC_CIRCLE = 1,
	/* RocketMQ AllocateMessageQueueConsistentHash: a hash ring with
	 * SHMQ_ALLOC_VNODES virtual nodes per member; a queue belongs to the
	 * first virtual node at or after its own position.  When a member
	 * leaves, only its queues move; when one joins, queues move only to
	 * it.  Same idea as RocketMQ, not the same assignments (RocketMQ hashes
	 * with MD5 and its MessageQueue.toString()). */
	SHMQ_ALLOC_CONSISTENT_HASH = 2,
};

#define SHMQ_ALLOC_NSTRATEGIES	3
#define SHMQ_ALLOC_VNODES	10	/* RocketMQ's virtualNodeCnt */
#define SHMQ_ALLOC_VNODES_MAX	1024

/*
 * The queues of QUEUES (N_QUEUES ids, strictly ascending) that member SELF
 * owns under STRATEGY, given the live members MEMBERS (N_MEMBERS non-empty
 * ids, strictly ascending by strcmp).  TOPIC (NULL means "") names the
 * topic: only the consistent hash uses it, so that queue 0 of every topic
 * does not land on the same member.
 *
 * Writes the owned ids, in ascending order, to OUT, which has room for
 * N_QUEUES ids (OUT may be QUEUES itself: the result is then filtered in
 * place; any other overlap is undefined).  Returns how many, 0 to N_QUEUES.
 *
 * SELF not among MEMBERS (an empty list included) returns 0 and leaves OUT
 * alone, as RocketMQ does: a member that the group no longer counts (it was
 * declared dead, or has not joined yet) must own nothing, and a caller that
 * treats a negative return as "keep what I had" would otherwise consume
 * queues that a live member was just given.
 *
 * SHMQ_EINVAL, with detail, for: an unknown STRATEGY; NULL or empty SELF;
 * a NULL list with a non-zero count; a NULL or empty member id; members or
 * queues not strictly ascending; N_QUEUES above INT_MAX.  OUT is not
 * touched then.
 *
 * Cost: averagely and circle O(N_MEMBERS + N_QUEUES) (the ascending checks);
 * consistent hash O(N_QUEUES * N_MEMBERS * (id length + SHMQ_ALLOC_VNODES))
 * at worst, 0.2 ms for 1024 queues and 100 members (a queue that is not
 * ours is dropped at the first nearer node).
 */
int shmq__allocate(enum shmq__alloc_strategy strategy, const char *topic,
    const char *const *members, size_t n_members, const char *self,
    const uint32_t *queues, size_t n_queues, uint32_t *out);

/*
 * shmq__allocate with SHMQ_ALLOC_CONSISTENT_HASH and VNODES virtual nodes
 * per member (1 to SHMQ_ALLOC_VNODES_MAX; else SHMQ_EINVAL).  Every member
 * of a group must use the same VNODES.
 */
int shmq__allocate_hash(const char *topic, const char *const *members,
    size_t n_members, const char *self, const uint32_t *queues,
    size_t n_queues, unsigned int vnodes, uint32_t *out);

/*
 * Sort N_MEMBERS ids in place into the order shmq__allocate wants.  Does not
 * remove duplicates (shmq__allocate refuses them).
 */
void shmq__allocate_sort(const char **members, size_t n_members);

/*
 * Strategy names for configuration and the command line: "averagely",
 * "circle" and "consistent-hash", in any case.  0 and *OUT, or SHMQ_EINVAL
 * (detail lists the names) leaving *OUT alone.
 */
int shmq__alloc_strategy_parse(const char *name,
    enum shmq__alloc_strategy *out);

/* The name of S as parse accepts it, or "unknown".  Never NULL. */
const char *shmq__alloc_strategy_name(enum shmq__alloc_strategy s);

#endif /* SHMQ_ALLOCATE_H */
