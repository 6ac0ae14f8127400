/*
 * retry.h - retries and dead letters of consumer groups (RocketMQ's
 * %RETRY%<group> and %DLQ%<group>), without a daemon.
 *
 * A member throws a message back with shmq_consumer_retry: a copy goes to
 * the group's retry topic, in the queue of its delay level (queue L - 1
 * for level L), with its due time (CLOCK_REALTIME ms) in property
 * RETRY_DUE_MS, the original topic in RETRY_TOPIC and the first message's
 * id in ORIGIN_MESSAGE_ID, and the record's reconsume count one higher.
 * One queue per level keeps due times in each queue in store order (same
 * delay, later store), so a member holds a queue at its head message until
 * that is due and never looks past it.  The members of a clustering group
 * subscribe to the retry topic on their own (group.c), from its first
 * message, with durable offsets like any topic's: retries survive every
 * process exiting, and need no shmqd.  Past the group's maximum, the copy
 * goes to the dead-letter topic (one queue, never consumed on its own).
 */
#ifndef SHMQ_RETRY_H
#define SHMQ_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "shmq/shmq.h"

struct shmq_topic;

#define SHMQ_RETRY_PREFIX	"%RETRY%"
#define SHMQ_DLQ_PREFIX		"%DLQ%"

/* A group's retry settings, checked (from struct shmq_retry_opts). */
struct shmq_retry_cfg {
	uint32_t	max_reconsume;
	uint32_t	first_level;	/* 1-based */
	uint32_t	nlevels;
	uint32_t	levels_ms[SHMQ_DELAY_LEVELS_MAX];
};

/* Check O (NULL: the defaults) into *CFG for group GROUP.  0 or
 * SHMQ_EINVAL with detail. */
int shmq__retry_cfg(struct shmq_retry_cfg *cfg,
    const struct shmq_retry_opts *o, const char *group);

/* PREFIX followed by GROUP into BUF: 0, or SHMQ_ENAME if too long. */
int shmq__retry_topic_name(char *buf, size_t len, const char *prefix,
    const char *group);

/*
 * Is record R of a retry queue due?  True if so (or if it carries no due
 * time); otherwise lowers *DUE (CLOCK_MONOTONIC ns) to when it will be.
 * Reads the clock; no allocation.
 */
bool shmq__retry_due(const struct shmq_rec *r, uint64_t *due);

/* A view of a retry record shows its original topic (RETRY_TOPIC). */
void shmq__retry_view_topic(struct shmq_msgview *v);

/* Find property NAME in encoded properties P[0..LEN): the value and its
 * length, or NULL. */
const char *shmq__prop_find(const char *p, size_t len, const char *name,
    size_t *vlen);

/* producer.c: a producer without the prefault thread (for retries). */
int shmq__producer_open_quiet(struct shmq_producer **out,
    struct shmq_bus *bus, const char *group);

/* producer.c: send M to queue Q of T with reconsume count RECONSUME. */
int shmq__producer_send_to(struct shmq_producer *p, struct shmq_topic *t,
    uint32_t q, const struct shmq_msg *m, uint32_t reconsume,
    struct shmq_send_result *res);

#endif
