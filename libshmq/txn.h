/*
 * txn.h - transactional messages (RocketMQ's half messages): what the
 * producer side (txn.c) and shmqd's checker (shmqd/txnchecker.c) share.
 *
 * Topics, all reserved (names start with '%'), one queue each unless said:
 *
 *   %HALF%		half messages (RMQ_SYS_TRANS_HALF_TOPIC).  Nobody
 *			subscribes to it: its records are invisible to
 *			consumers.  Written by producers (the first copy of
 *			a transaction) and by the checker (a copy per check).
 *   %HALFOP%		decisions (RMQ_SYS_TRANS_OP_HALF_TOPIC): one record
 *			per decision, its tag the transaction's key in
 *			decimal, so that a lookup compares the tag hash of
 *			index entries and reads only the records that match.
 *   %TXCHECK%<pgroup>	check requests for producer group pgroup
 *			(SHMQ_TXN_CHECK_QUEUES queues), consumed by the
 *			producers of the group that set a checker, as the
 *			members of the clustering group of the same name.
 *   %TRANS_CHECK_MAX%	transactions given up after the last check
 *			(TRANS_CHECK_MAX_TIME_TOPIC), for operators.
 *
 * A transaction's key is the %HALF% queue offset of its first half
 * message, and its id (what users see, __transactionId__) that record's
 * message id.  Every later copy (the checker's, a check request) carries
 * both in properties, with the real topic, the producer group and
 * TXN_OP_FROM: a %HALFOP% offset below which no record decides it, so a
 * lookup scans only the decisions made since.
 *
 * Decisions.  Commit stores the real message, then the decision record;
 * rollback the decision only.  Whoever decides first looks up the
 * decisions since TXN_OP_FROM and does nothing if there is one, so a
 * transaction decided twice (the producer late, the check-back answered
 * meanwhile) gives one copy.  Two windows remain where a commit is
 * delivered twice, both at least once with the same __transactionId__: a
 * decider killed between the real message and its decision record (the
 * transaction is checked back and committed again), and two deciders in
 * the same few microseconds.
 */
#ifndef SHMQ_TXN_H
#define SHMQ_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

struct shmq_bus;
struct shmq_topic;

#define SHMQ_TXN_CHECK_QUEUES	4

/* Internal decision of the checker: the transaction is given up. */
#define SHMQ_TXN_DISCARD	3

/* shmqd's checker: its consumer group on %HALF% (durable progress) and
 * the producer group of its copies. */
#define SHMQ_TXN_CHECKER_GROUP	"%TRANS_CHECKER%"
#define SHMQ_TXN_CHECKER_PGROUP	"TXN_CHECKER"

/* System properties of half messages, check requests and decisions. */
#define SHMQ_PROP_TXN_KEY	"TXN_KEY"	/* first half's queue offset */
#define SHMQ_PROP_TXN_OP_FROM	"TXN_OP_FROM"
#define SHMQ_PROP_TXN_HALF_ID	"TXN_HALF_ID"	/* requests: the half copy */
#define SHMQ_PROP_TXN_STATE	"TXN_STATE"	/* decisions */
#define SHMQ_PROP_TRAN_MSG	"TRAN_MSG"

/* What a half message (or a copy of one) says, checked. */
struct shmq_txn_half {
	char		real_topic[SHMQ_NAME_MAX + 1];
	char		pgroup[SHMQ_NAME_MAX + 1];
	char		txn_id[SHMQ_MSGID_LEN + 1];
	uint64_t	key;
	uint64_t	op_from;
	uint32_t	checks;		/* TRANSACTION_CHECK_TIMES */
	uint32_t	immunity_s;	/* CHECK_IMMUNITY_TIME_IN_SECONDS, 0 */
	int		real_qid;	/* -1: any */
};

/*
 * Read the facts of half record V (of %HALF% or %TXCHECK%...) into *H.
 * A first half has no TXN_KEY: its own queue offset and id are used.
 * Returns 0, or SHMQ_ECORRUPT with detail (a property missing or bad).
 */
int shmq__txn_half_parse(const struct shmq_msgview *v, struct shmq_txn_half *h);

/* Parse S[0..LEN), 1 to 19 decimal digits: true and *OUT. */
bool shmq__txn_dec(const char *s, size_t len, uint64_t *out);

/* Parse a decimal property of V (as shmq__txn_dec): true and *OUT. */
bool shmq__txn_prop_u64(const struct shmq_msgview *v, const char *name,
    uint64_t *out);

/*
 * A message made from a stored record: its tags, keys, body and
 * properties (the system ones of txn.h dropped unless KEEP), NUL-terminated
 * in memory of its own, then room for EXTRA more properties that the
 * caller appends to m.props[m.nprops++].
 */
struct shmq_txn_copy {
	struct shmq_msg		 m;
	struct shmq_prop	*props;
	char			*buf;
};

int shmq__txn_copy(struct shmq_txn_copy *c, const struct shmq_msgview *v,
    bool keep, size_t extra);
void shmq__txn_copy_free(struct shmq_txn_copy *c);

/* Append property NAME=VALUE to copy C (room made by shmq__txn_copy). */
static inline void
shmq__txn_copy_add(struct shmq_txn_copy *c, const char *name,
    const char *value)
{
	c->props[c->m.nprops].name = name;
	c->props[c->m.nprops++].value = value;
}

/*
 * Look for a decision of transaction KEY in %HALFOP% from offset FROM up
 * to the first entry never claimed.  Returns 1 and *STATE (SHMQ_TXN_*),
 * 0 if none, or a negative code.  With 0, *SAFE (if not NULL) is where a
 * later lookup may start: the first claim met that was not committed yet,
 * else the end.  Reads the index; a record only where a tag hash
 * matches.  No allocation.
 */
int shmq__txn_op_find(struct shmq_bus *bus, uint64_t key, uint64_t from,
    int *state, uint64_t *safe);

/* The %HALFOP% offset below which every entry has been claimed: 0 when the
 * topic does not exist yet. */
uint64_t shmq__txn_op_tail(struct shmq_bus *bus);

/*
 * Decide the transaction of half record V (a %HALF% record, or a check
 * request) with STATE: SHMQ_TXN_COMMIT (the real message, then the
 * decision), SHMQ_TXN_ROLLBACK (the decision), SHMQ_TXN_DISCARD (a copy
 * in %TRANS_CHECK_MAX%, then the decision).  Sends with P.  Fills *RES
 * with the real message's send result on a commit.  Returns 0 (decided
 * now), 1 (decided before: nothing written), or a negative code.
 */
int shmq__txn_end_view(struct shmq_producer *p, struct shmq_bus *bus,
    const struct shmq_msgview *v, int state, struct shmq_send_result *res);

/* "%TXCHECK%<group>" into BUF: 0, or SHMQ_ENAME if too long. */
int shmq__txn_check_topic(char *buf, size_t len, const char *group);

/*
 * producer.c: the bus and group of P, and its check-back listener slot
 * (txn.c; stopped by shmq_producer_close through shmq__txn_listener_stop).
 */
struct shmq_txn_listener;
struct shmq_bus *shmq__producer_bus(const struct shmq_producer *p);
const char *shmq__producer_group(const struct shmq_producer *p);
struct shmq_txn_listener **shmq__producer_txn(struct shmq_producer *p);
struct shmq_fwd **shmq__producer_fwd(struct shmq_producer *p);
void shmq__txn_listener_stop(struct shmq_txn_listener *l);

#endif
