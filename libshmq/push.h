/*
 * push.h - the push consumer's process-local state (push.c): a group
 * member's pull consumer driven by one poller thread, a pool of listener
 * threads, and per held queue a ring of the messages between the queue's
 * lowest unfinished offset and the newest one polled.  Nothing here lives
 * in shared memory.
 *
 * Who writes what.  The poller alone uses the pull consumer (poll, seek,
 * commit) and fills rings at their tail; listener threads take slots to
 * run and finish them; both do so under push->mu, which also guards the
 * runnable list and the counters.  A slot holds where the message is
 * (commitlog offset and size), not a copy of it: a listener thread re-reads
 * the record through shmq__log_record, which needs no lock and maps the
 * segment if this process has not yet.  Records stay where they are until
 * retention reclaims their segment (not done in this version; when it is,
 * it must spare segments that hold a member's committed offsets).
 */
#ifndef SHMQ_PUSH_H
#define SHMQ_PUSH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "shmq/shmq.h"
#include "internal.h"

/* Messages per poll (RocketMQ's pullBatchSize). */
#define SHMQ_PUSH_PULL_BATCH	32
/* Poller's pause when every queue it met was full (RocketMQ: 50 ms). */
#define SHMQ_PUSH_FLOW_PAUSE_MS	50
/* Poll timeout while messages are unfinished (commits follow within). */
#define SHMQ_PUSH_BUSY_POLL_MS	5
/* Poll timeout when idle: how soon a stop is seen. */
#define SHMQ_PUSH_IDLE_POLL_MS	50
/* Orderly: longest wait for a queue's callbacks before letting it go. */
#define SHMQ_PUSH_DRAIN_MAX_MS	60000
#define SHMQ_PUSH_MAX_THREADS	256
#define SHMQ_PUSH_MAX_INFLIGHT	65536

/* Slot states. */
enum {
	PS_FREE = 0,
	PS_READY,		/* polled, waiting for a thread */
	PS_RUN,			/* in a listener call */
	PS_WAIT,		/* LATER (concurrent): due again at due_ns */
	PS_RETRY,		/* LATER: to the retry topic (poller) */
	PS_DONE			/* finished, behind an unfinished one */
};

struct shmq_pslot {
	uint64_t		 queue_off;
	uint64_t		 log_off;
	uint64_t		 due_ns;	/* PS_WAIT: mono ns */
	uint32_t		 size;		/* record bytes */
	uint32_t		 reconsume;	/* attempts here, on top of the
						   record's own count */
	uint16_t		 state;
	uint8_t			 bad;		/* unreadable at the last try */
	uint8_t			 local;		/* LATER kept here (no retry
						   topic, or its send failed) */
};

struct shmq_ptopic;

/* A queue of a subscribed topic.  Ring indices only grow; slot i is
 * ring[i & mask].  [head, tail) is unfinished (or done behind an
 * unfinished head); tail - head <= max_inflight. */
struct shmq_pq {
	struct shmq_ptopic	*pt;
	uint32_t		 queue;
	struct shmq_pslot	*ring;		/* NULL until first used */
	uint32_t		*redo;		/* concurrent: due again */
	uint32_t		 nredo;
	uint32_t		 nwait;		/* PS_WAIT slots */
	uint32_t		 nretry;	/* PS_RETRY slots */
	uint64_t		 head;
	uint64_t		 tail;
	uint64_t		 disp;		/* concurrent: next never
						   dispatched */
	uint64_t		 epoch;		/* moves when the queue is
						   dropped: late answers
						   are ignored */
	uint32_t		 running;	/* listener calls, this epoch */
	bool			 busy;		/* orderly: a call runs */
	bool			 linked;	/* in the runnable list */
	bool			 draining;	/* no new calls */
	uint64_t		 suspend_ns;	/* orderly LATER: until */
	uint64_t		 full_round;	/* poller round it was full */
	struct shmq_pq		*next;		/* runnable list */
};

struct shmq_ptopic {
	struct shmq_topic	*t;
	uint32_t		 nq;
	struct shmq_pq		*pq;		/* [nq] */
};

struct shmq_pworker {
	struct shmq_push	*p;
	pthread_t		 thr;
	bool			 started;
	struct shmq_pq		*q;
	uint64_t		 epoch;
	uint32_t		*idx;		/* [batch] ring positions */
	struct shmq_pslot	*copy;		/* [batch] */
	struct shmq_msgview	*views;		/* [batch] */
};

struct shmq_push {
	struct shmq_bus		*bus;
	struct shmq_consumer	*c;		/* NULL once stopped */
	struct shmq_push_opts	 o;
	uint32_t		 max_reconsume;	/* UINT32_MAX: unlimited */
	uint64_t		 mask;		/* ring size - 1 */
	shmq_listener_cb	 cb;
	void			*arg;
	struct shmq_ptopic	**topics;	/* subscribed, [ntopics] */
	size_t			 ntopics;

	pthread_mutex_t		 mu;
	pthread_cond_t		 work_cv;	/* runnable queue, or stop */
	pthread_cond_t		 done_cv;	/* an answer (poller waits) */
	struct shmq_pq		*run_head;
	struct shmq_pq		*run_tail;
	bool			 started;
	bool			 stopping;
	bool			 stopped;
	bool			 waiting;	/* poller in done_cv */
	uint64_t		 next_due_ns;	/* earliest retry/suspension */
	uint64_t		 nretry;	/* PS_RETRY slots, all queues */
	uint64_t		 round;
	struct shmq_push_stats	 st;

	pthread_t		 poller;
	bool			 poller_started;
	struct shmq_pworker	*w;		/* [threads] */
	struct shmq_msgview	 views[SHMQ_PUSH_PULL_BATCH];
};

#endif
