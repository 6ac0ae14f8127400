/*
 * delay.h - delayed messages (RocketMQ's delay levels and timer messages):
 * the send side, used by producer.c, and the scheduler that shmqd runs.
 *
 * A delayed send stores the message in the reserved topic SHMQ_DELAY_TOPIC
 * ("%SCHEDULE%", RocketMQ's SCHEDULE_TOPIC_XXXX), in its inbox queue, with
 * its real topic and queue in properties.  The scheduler is a member of
 * the clustering group "%SCHEDULE%" whose retry topic is this topic, so
 * the retry machinery (retry.h) does the waiting: every queue but the
 * inbox is held at its head until that head's RETRY_DUE_MS, asleep in
 * shmq_consumer_poll.  That needs the due times in each queue to come in
 * store order, hence the queues:
 *
 *   0 .. 17	level L in queue L - 1: due at inbox store time + the
 *		level's delay (one delay per queue: store order is due
 *		order)
 *   18		the inbox: producers write here, never held
 *   19 .. 50	hop queue j: due 2^j ms after the scheduler wrote it
 *
 * A timer message (deliver_at_ms) goes from the inbox through hop queues:
 * with R ms left, the largest 2^j <= R, again and again until due, so a
 * delay of R takes at most about log2(R) + 1 hops and each hop is due no
 * later than the delivery time.  Only the scheduler writes queues 0..17
 * and 19..50, so each one's due times rise with its offsets.
 *
 * When a record is due, the scheduler sends a copy to its real topic,
 * then commits the record: at least once; a crash between the two
 * delivers it again after the restart (the copy carries the first id in
 * ORIGIN_MESSAGE_ID to find such duplicates).
 */
#ifndef SHMQ_DELAY_H
#define SHMQ_DELAY_H

#include <stddef.h>
#include <stdint.h>

#include "shmq/shmq.h"

struct shmq_bus;

#define SHMQ_DELAY_Q_INBOX	SHMQ_DELAY_LEVELS_MAX
#define SHMQ_DELAY_Q_HOP0	(SHMQ_DELAY_Q_INBOX + 1)
#define SHMQ_DELAY_HOPS		32	/* hop queues: 1 ms .. 2^31 ms */
#define SHMQ_DELAY_QUEUES	(SHMQ_DELAY_Q_HOP0 + SHMQ_DELAY_HOPS)
#define SHMQ_DELAY_GROUP	"%SCHEDULE%"

/* System properties of records in the delay topic. */
#define SHMQ_PROP_REAL_TOPIC	"REAL_TOPIC"
#define SHMQ_PROP_REAL_QID	"REAL_QID"
#define SHMQ_PROP_DELAY		"DELAY"

/*
 * producer.c: send M (delay_level or deliver_at_ms set) through the delay
 * topic, or straight to its topic if deliver_at_ms is not in the future.
 * Returns 0 and *RES (the id is the one the delivered copy carries in
 * ORIGIN_MESSAGE_ID), or a negative SHMQ_E* with detail.
 */
int shmq__delay_send(struct shmq_producer *p, struct shmq_bus *bus,
    const struct shmq_msg *m, struct shmq_send_result *res);

/*
 * The checks of a delayed M that need no topic (delay_level and
 * deliver_at_ms: at most one, in range, at most SHMQ_DELAY_MAX_MS after
 * NOW_MS): 0 or SHMQ_EINVAL with detail.
 */
int shmq__delay_check(const struct shmq_msg *m, uint64_t now_ms);

/* Level LEVEL's delay (1..SHMQ_DELAY_LEVELS_MAX) by the table
 * LEVELS_MS[0..N): levels past N take the last; N 0: the default table. */
uint64_t shmq__delay_level_ms(const uint32_t *levels_ms, uint32_t n,
    uint64_t level);

/*
 * Parse a delay level table, RocketMQ's syntax: "1s 5s 10s ... 2h", each a
 * number with unit ms, s, m, h or d, 1 to SHMQ_DELAY_LEVELS_MAX of them.
 * Returns the count, or -1 with a reason in ERR.
 */
int shmq__delay_levels_parse(const char *s,
    uint32_t levels_ms[SHMQ_DELAY_LEVELS_MAX], char *err, size_t errlen);

/* RocketMQ's default table. */
extern const uint32_t shmq__delay_levels_def[SHMQ_DELAY_LEVELS_MAX];

/* The scheduler (one per bus: shmqd's). */
struct shmq_delay;

struct shmq_delay_stats {
	uint64_t	delivered;	/* copies sent to their topic */
	uint64_t	moved;		/* inbox to level queue, and hops */
	uint64_t	dropped;	/* malformed records, topic gone */
};

/*
 * Open the scheduler on BUS with the level table LEVELS_MS[0..N) (N 0:
 * the default; levels past N use the last).  Returns 0, SHMQ_ENOTOPIC
 * while no delayed message was ever sent (nothing to do: try again
 * later), or another negative SHMQ_E*.
 */
int shmq__delay_open(struct shmq_delay **out, struct shmq_bus *bus,
    const uint32_t *levels_ms, uint32_t n);

/*
 * Wait up to TIMEOUT_MS for due records and act on them.  Returns how many
 * it acted on, or a negative SHMQ_E* (then close and open again: the
 * records not committed come back).
 */
int shmq__delay_run(struct shmq_delay *d, int timeout_ms);

void shmq__delay_stats(const struct shmq_delay *d,
    struct shmq_delay_stats *st);
void shmq__delay_close(struct shmq_delay *d);

#endif
