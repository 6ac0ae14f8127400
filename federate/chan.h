/*
 * chan.h - a replication channel's connection: blocking I/O on one TCP
 * socket, framed (frame.h) and authenticated (auth.h) like a link, over
 * TLS when the links are (tls.h), for a thread of its own (replhome.c,
 * replmirror.c).  The link thread's poll loop serves many small frames; a
 * channel streams large ones, so it gets a thread and calls that block
 * with deadlines instead (the socket itself is non-blocking: a TLS record
 * half arrived must not hold a read past its deadline).
 */
#ifndef FED_CHAN_H
#define FED_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "frame.h"
#include "tls.h"

struct fed_chan {
	int		 fd;
	uint32_t	 max;		/* payload limit */
	uint8_t		*rbuf;
	size_t		 rlen;		/* bytes in rbuf */
	size_t		 roff;		/* consumed (the last frame's) */
	size_t		 rcap;
	uint64_t	 seq_out;
	struct fed_hello peer;
	uint64_t	 bytes_in;	/* written by the reading thread */
	uint64_t	 bytes_out;	/* by the writing thread */
	struct fed_tls_sess *tls;	/* NULL: plain TCP */
};

/*
 * Dial ADDR ("host:port"), over TLS with TLS unless NULL, authenticate as
 * ME (its channel says what for) with SECRET, all within TIMEOUT_MS.
 * Returns 0 and *out, or a code with a message in ERR (SHMQ_EAUTH: a
 * wrong secret, or a certificate refused).
 */
int fed_chan_dial(struct fed_chan **out, const char *addr,
    const struct fed_hello *me, const struct fed_secret *secret,
    struct fed_tls *tls, uint32_t max, uint32_t timeout_ms, char *err,
    size_t errlen);

/*
 * Take over FD and its TLS session TLS (NULL: plain), authenticated by the
 * link thread as PEER: WPEND[0..WN) is still to be written (the end of the
 * handshake), RPEND[0..RN) was read past it (TLS may hold more: the
 * session goes on where the link thread left it).  Returns 0 and *out, or
 * SHMQ_ENOMEM (FD closed, TLS freed).
 */
int fed_chan_adopt(struct fed_chan **out, int fd, struct fed_tls_sess *tls,
    const uint8_t *wpend, size_t wn, const uint8_t *rpend, size_t rn,
    const struct fed_hello *peer, uint32_t max);

/*
 * The next frame, waiting up to TIMEOUT_MS (-1: forever).  Returns 1 and
 * *F (its payload valid until the next read), 0 on timeout, or a code:
 * SHMQ_EPROTO (a bad frame: the channel is done), -ECONNRESET (closed),
 * -errno.
 */
int fed_chan_read(struct fed_chan *c, struct fed_frame *f, int timeout_ms);

/* Write frame TYPE with P[0..N), whole (a peer that reads nothing for the
 * send timeout ends it).  0 or -errno. */
int fed_chan_write(struct fed_chan *c, unsigned type, const uint8_t *p,
    size_t n);

/* Wake a thread blocked on C (both directions end); C stays valid. */
void fed_chan_shutdown(struct fed_chan *c);

/* Close and free.  NULL: no-op. */
void fed_chan_close(struct fed_chan *c);

#endif
