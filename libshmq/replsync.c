/*
 * replsync.c - sync replication's shared-memory half (see replsync.h).
 */
#include "config.h"

#include "internal.h"
#include "replsync.h"
#include "topic.h"
#include "wait.h"

_Static_assert(SHMQ_REPL_MAX == SHMQ_REPL_SLOTS, "shmq.h and layout.h agree");

/* How often a waiter looks without a wake (a shmqd killed mid-ack). */
#define LOOK_NS		(100 * 1000000ull)

static unsigned
held(struct shmq_queue_ctl *qc, uint64_t end)
{
	unsigned i, n = 0;

	for (i = 0; i < SHMQ_REPL_SLOTS; i++)
		n += ck_pr_load_64(&qc->repl_acked[i]) >= end;
	return n;
}

int
shmq__repl_wait(struct shmq_bus *bus, struct shmq_topic *t, uint32_t q,
    uint64_t end, unsigned k, uint32_t timeout_ms)
{
	struct shmq_queue_ctl *qc = t->cq[q].qc;
	uint64_t seq, now, deadline, wake;
	unsigned n;

	(void)bus;
	if (held(qc, end) >= k)
		return 0;
	deadline = shmq__mono_ns() + (uint64_t)timeout_ms * 1000000;
	for (;;) {
		seq = ck_ec64_value(&t->tc->repl_ec);
		/* The count before the marks: an ack after this load
		 * changes the count, and the wait returns at once. */
		ck_pr_fence_load();
		if ((n = held(qc, end)) >= k)
			return 0;
		now = shmq__mono_ns();
		if (now >= deadline)
			return SHMQ_ERR(SHMQ_ETIMEDOUT, "topic \"%s\" queue %u "
			    "offset %llu: held by %u of the %u mirrors asked "
			    "for after %u ms (it is stored here, and "
			    "replicates when they catch up)", t->name, q,
			    (unsigned long long)(end - 1), n, k, timeout_ms);
		wake = now + LOOK_NS;
		(void)shmq__ec_wait(&t->tc->repl_ec, seq,
		    wake < deadline ? wake : deadline);
	}
}

int
shmq__repl_ack(struct shmq_bus *bus, struct shmq_topic *t, uint32_t q,
    unsigned slot, uint64_t end, bool reset)
{
	struct shmq_queue_ctl *qc;
	uint64_t cur;

	(void)bus;
	if (slot >= SHMQ_REPL_SLOTS)
		return SHMQ_ERR(SHMQ_EINVAL, "replication slot %u", slot);
	if (q >= t->queues)
		return SHMQ_ERR(SHMQ_ENOQUEUE, "topic \"%s\": queue %u",
		    t->name, q);
	qc = t->cq[q].qc;
	if (reset)
		ck_pr_store_64(&qc->repl_acked[slot], end);
	else
		while ((cur = ck_pr_load_64(&qc->repl_acked[slot])) < end &&
		    !ck_pr_cas_64(&qc->repl_acked[slot], cur, end))
			;
	/* The mark before the count the waiters compare. */
	ck_pr_fence_store_atomic();
	ck_ec64_inc(&t->tc->repl_ec, &shmq__ec_mp);
	return 0;
}
