/*
 * body.h - verifiable message bodies for the multi-process suites
 * (check_xproc, check_crash, check_recovery).
 *
 * A body is a header {magic, producer, sequence, send time, length,
 * checksum} and a pseudo-random payload keyed by (producer, sequence).  A
 * consumer can prove a body intact without a copy of what was sent, and
 * so tell a torn body (half written), a mixed one (two messages' bytes) or
 * a phantom (bytes that were never a message) from a good one.
 *
 * The payload generator and the header layout are the same in every suite
 * and every process, so that any process can check any other's messages.
 *
 * Also here: the exit codes those suites' children share (testutil.h has
 * the pattern), with their names.
 */
#ifndef SHMQ_TEST_BODY_H
#define SHMQ_TEST_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

#define BODY_MAGIC	0x59444f42u	/* "BODY" */
#define BODY_HDR	32u		/* header bytes: the shortest body */

struct body_hdr {
	uint32_t	magic;
	uint32_t	prod;		/* logical producer */
	uint64_t	seq;		/* per logical producer, from 0 */
	uint64_t	t_ns;		/* sender's monotonic clock */
	uint32_t	len;		/* whole body */
	uint32_t	sum;		/* over the fields above, sum = 0 */
};
_Static_assert(sizeof(struct body_hdr) == BODY_HDR, "body header");

/* Write the body of (PROD, SEQ) sent at T_NS: LEN >= BODY_HDR bytes. */
void	body_fill(void *buf, size_t len, uint32_t prod, uint64_t seq,
	    uint64_t t_ns);

/*
 * Check the LEN bytes at BUF: 0 and the header in *H if they are an intact
 * body, -1 if not (BUF NULL, too short, or any byte wrong).
 */
int	body_check(const void *buf, size_t len, struct body_hdr *h);

/*
 * A body length in [BODY_HDR, MAX] for (PROD, SEQ): varied, and the same
 * in every run.
 */
size_t	body_pick_len(uint32_t prod, uint64_t seq, size_t max);

/*
 * Exit codes of children that send and check bodies.  A suite numbers its
 * own codes from E_BODY_NEXT, and its naming function ends with
 * body_exit_name().
 */
enum {
	E_OK = 0,
	E_SETUP = 10,	/* bus/producer/consumer open, assign, seek */
	E_SEND,		/* a send failed */
	E_SENDRES,	/* a send result is inconsistent */
	E_POLL,		/* poll returned an unexpected error */
	E_TORN,		/* a body or its header does not check */
	E_BADID,	/* producer id or seq out of range */
	E_DUP,		/* a message seen twice */
	E_ORDER,	/* a producer's seqs not increasing within a queue */
	E_OFFSET,	/* queue offsets going backwards, or not dense */
	E_QUEUE,	/* a message in a queue it was not sent to */
	E_BODY_NEXT,	/* the first of a suite's own codes */
	E_TIMEOUT = TU_E_TIMEOUT	/* child killed at its deadline */
};

/* The name of one of the codes above, else as tu_exit_name(). */
const char *body_exit_name(int code);

#endif
