/*
 * txnchecker.h - shmqd's transaction checker (RocketMQ's
 * TransactionalMessageCheckService): the thread that finds half messages
 * left undecided (libshmq/txn.h has the topics and keys), asks a live
 * producer of their group through "%TXCHECK%<group>", and gives them up
 * after the last check.
 *
 * It reads %HALF% as the only member of the consumer group
 * SHMQ_TXN_CHECKER_GROUP, whose committed offset (durable, saved by the
 * group machinery) is its progress: the lowest half message not yet
 * handled.  Decisions come from %HALFOP%, read from where the thread
 * started; a half message older than that is looked up in %HALFOP%
 * directly.  A half message still undecided txn_timeout_ms after it was
 * stored (or its CHECK_IMMUNITY_TIME_IN_SECONDS) is copied to the end of
 * %HALF% with TRANSACTION_CHECK_TIMES one higher, and a check request
 * (the same copy) goes to its group; the copy is asked again
 * txn_check_interval_ms after it was stored.  A copy due with
 * txn_check_max checks behind it is given up: moved to
 * %TRANS_CHECK_MAX% and logged.  A restart (even after SIGKILL) reads
 * again from the committed progress: a half message handled in the last
 * second before may be asked twice, which the producer's listener and
 * the decision lookup absorb.
 */
#ifndef SHMQD_TXNCHECKER_H
#define SHMQD_TXNCHECKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct shmq_bus;
struct txnck;

struct txnchecker {
	struct shmq_bus		*bus;
	uint32_t		 timeout_ms;	/* first check after */
	uint32_t		 interval_ms;	/* between checks */
	uint32_t		 max;		/* checks before giving up */
	pthread_t		 th;
	bool			 running;
	uint8_t			 stop;		/* ck_pr: set by txnchecker_stop */
	struct txnck		*k;		/* the thread's */
	/* Totals, read after the join. */
	uint64_t		 checks;	/* check requests sent */
	uint64_t		 discarded;	/* given up */
	uint64_t		 resolved;	/* decisions seen */
	uint64_t		 dropped;	/* malformed half messages */
	uint64_t		 errors;
};

/* Start the thread on BUS with these settings (0 for each: the
 * defaults); publishes its counters in the control region.  0 or -1. */
int txnchecker_start(struct txnchecker *t, struct shmq_bus *bus,
    uint32_t timeout_ms, uint32_t interval_ms, uint32_t max);

/* Stop and join (within about 100 ms); no-op if not started. */
void txnchecker_stop(struct txnchecker *t);

#endif
