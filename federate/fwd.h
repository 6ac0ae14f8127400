/*
 * fwd.h - remote send, shmqd's side (doc/federation.md, "Remote
 * send"): the forwarder that empties this bus's outbox to the topics'
 * homes (fwdout.c), and the home's side of a forwarding channel
 * (fwdin.c).  The producer's side is libshmq/forward.h.
 *
 * The forwarder is one thread of the replication table.  It reads the
 * outbox as consumer group SHMQ_FORWARD_GROUP and commits an outbox
 * offset only once the home has answered for every record before it
 * (stored, or refused: then the record goes to SHMQ_FORWARD_DLQ).  It
 * finds a record's home by the routes, the home's address by the links,
 * and keeps one channel per home.  Per outbox queue it goes in offset
 * order: a record whose home is unknown or unreachable waits, with the
 * records behind it in its queue, while the other queues go on.
 *
 * At-least-once, without duplicates in the common failures: the home
 * keeps, per sender and outbox queue, the next offset it does not hold
 * (layout.h, "Remote send"), says it when a channel opens, and skips what
 * it holds, so a sender that restarts or reconnects sends again without
 * duplicating.  A duplicate remains possible only when the home's shmqd
 * dies after storing a batch and before writing that file (the batch is
 * sent again), or its machine loses the file's last write.
 */
#ifndef FED_FWD_H
#define FED_FWD_H

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"

struct fed_repl;
struct fed_fwd;
struct repl_home;

/* Start the forwarder of R's bus.  0 and *out, or SHMQ_ENOMEM. */
int fed_fwd_start(struct fed_fwd **out, struct fed_repl *r);

/* Stop it (R is stopping: its word wakes the thread) and free.  NULL:
 * no-op. */
void fed_fwd_stop(struct fed_fwd *f);

/* The outbox records waiting for HOST_ID (its topics' messages not yet
 * answered for), and their bytes; zero if F is NULL. */
void fed_fwd_behind(struct fed_fwd *f, uint64_t host_id, uint64_t *msgs,
    uint64_t *bytes);

struct shmq_bus;
struct shmq_producer;
struct shmq_fwd_buf;
struct fed_fwd_rec;
struct fed_conf;

/*
 * fwdin.c: store REC in its topic on BUS with P (B: reused memory, RR:
 * the round-robin counter for records without a queue choice); a delayed
 * record as a delayed message, its level by C's table.  0, or a code with
 * detail; fed_fwd_for_good says whether sending it again could ever
 * succeed.
 */
int fed_fwd_store(struct shmq_bus *bus, struct shmq_producer *p,
    struct shmq_fwd_buf *b, uint32_t *rr, const struct fed_fwd_rec *rec,
    const struct fed_conf *c);
bool fed_fwd_for_good(int code);

/* fwdin.c: serve H's channel, opened by OPEN (a FWD_OPEN frame), as the
 * home of forwarded records.  Returns why it ended, for the log. */
const char *fed_fwdin_run(struct repl_home *h, const struct fed_frame *open);

#endif
