/*
 * tls.h - optional TLS under the federation's connections (doc/federation.md,
 * "TLS"): the links of the link thread (link.c, non-blocking, driven by
 * poll) and the replication channels (chan.c, a thread each).
 *
 * With `tls = on` every connection runs a TLS handshake (1.2 at least, 1.3
 * preferred, no renegotiation, no compression, no session resumption) right
 * after TCP connects, before the first federation frame; both sides present
 * a certificate that must chain to `tls_ca` (mutual TLS).  The HMAC
 * challenge-response (auth.h) then runs inside TLS unchanged: the secret
 * still proves membership of the federation, TLS adds confidentiality and
 * integrity to everything after.
 *
 * The same calls serve plain TCP: fed_tls_read and fed_tls_writev with a
 * NULL session are recv(2) and sendmsg(2), so link.c and chan.c have one
 * code path and TLS only adds the handshake step.  Every call is
 * non-blocking: "again" is -1 with errno EAGAIN, and fed_tls_events says
 * what to poll for before trying again (a TLS read may need to write, and
 * a write to read).
 *
 * Threads.  A session may be read by one thread while another writes it
 * (a replication channel's ACK reader and its DATA writer): each call takes
 * the session's mutex around the OpenSSL call, never around a wait.  The
 * socket BIO writes with write(2): the process must ignore SIGPIPE (shmqd
 * does).
 */
#ifndef FED_TLS_H
#define FED_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct fed_conf;
struct fed_tls;			/* a host's certificate, key and CA */
struct fed_tls_sess;		/* one connection's TLS */

/*
 * Build the TLS context of C (its tls_cert, tls_key, tls_ca), or *out NULL
 * when C has TLS off.  The key file must be a regular file that the group
 * and others cannot read (as secret_file).  Returns 0, or a code with a
 * message in ERR that names the key and the file: SHMQ_ENOENT (missing),
 * SHMQ_EACCES (mode), SHMQ_EINVAL (not a certificate or key, a key that is
 * not the certificate's), SHMQ_ENOMEM.
 */
int fed_tls_new(struct fed_tls **out, const struct fed_conf *c, char *err,
    size_t errlen);

/* Free T (sessions made from it first).  NULL: no-op. */
void fed_tls_free(struct fed_tls *t);

/*
 * A session of T on connected socket FD (non-blocking), as the side that
 * dialed (TLS client) or accepted.  FD stays the caller's: freeing the
 * session does not close it.  0 and *out, or SHMQ_ENOMEM.
 */
int fed_tls_sess_new(struct fed_tls_sess **out, struct fed_tls *t, int fd,
    bool dialer);

/* Free S.  NULL: no-op. */
void fed_tls_sess_free(struct fed_tls_sess *s);

/*
 * One step of S's handshake.  Returns 1 when done, 0 to poll for
 * fed_tls_events(s, true) and step again, or a code with the reason in
 * WHY: SHMQ_EAUTH (a certificate refused, by either side), SHMQ_EPROTO
 * (not TLS: fed_tls_plain says whether the peer sent plain federation
 * frames), -ECONNRESET (closed by the peer), -errno.
 */
int fed_tls_handshake(struct fed_tls_sess *s, char *why, size_t len);

/* True if S's peer spoke plain federation frames (a peer with TLS off). */
bool fed_tls_plain(const struct fed_tls_sess *s);

/*
 * Read up to LEN bytes from FD (through S, or plain when S is NULL).
 * Returns a count, 0 at the end (the peer closed), or -1 with errno:
 * EAGAIN (poll fed_tls_events(s, true)), EACCES (TLS: a certificate
 * refused), EPROTO (TLS: a protocol error), or the socket's.
 */
ssize_t fed_tls_read(int fd, struct fed_tls_sess *s, void *buf, size_t len);

/* Write from IOV[0..N) as sendmsg(2) would (part of it, maybe), through
 * S or plain.  A count, or -1 with errno as fed_tls_read (EAGAIN: poll
 * fed_tls_events(s, false)); EPIPE, never SIGPIPE, when plain. */
ssize_t fed_tls_writev(int fd, struct fed_tls_sess *s, const struct iovec *iov,
    int n);

/* fed_tls_writev of one buffer. */
ssize_t fed_tls_write(int fd, struct fed_tls_sess *s, const void *buf,
    size_t len);

/*
 * The poll events the last read (READING) or write of S waits for after
 * EAGAIN: POLLIN or POLLOUT.  Plain (S NULL): POLLIN for reads, POLLOUT
 * for writes.
 */
short fed_tls_events(const struct fed_tls_sess *s, bool reading);

/* True if S holds decrypted bytes not yet returned: read again before
 * polling (poll would not see them). */
bool fed_tls_pending(struct fed_tls_sess *s);

/* The last error of S, for logs ("" if none). */
const char *fed_tls_why(const struct fed_tls_sess *s);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384", for logs. */
const char *fed_tls_desc(struct fed_tls_sess *s, char *buf, size_t len);

#endif
