/*
 * tls.c - TLS for federation connections, over OpenSSL's libssl (see
 * tls.h).
 *
 * Settings.  TLS 1.2 at least (1.3 preferred by both sides), with forward
 * secrecy and AEAD ciphers only under 1.2; no renegotiation, compression,
 * session tickets or session cache (links are few and long-lived, and a
 * resumed session would skip the certificate check this exists for).
 * Both sides verify the other's certificate against tls_ca, and a side
 * without one is refused (SSL_VERIFY_FAIL_IF_NO_PEER_CERT).
 *
 * Plain peers.  Before its first TLS step an accepting side peeks at the
 * first byte: a TLS handshake record starts with 0x16, a federation frame
 * with the 'S' of its magic.  So a listener with TLS on can tell a peer
 * with TLS off (fed_tls_plain) and answer it with a plain ERROR frame it
 * understands, instead of a TLS alert it would misread as a bad frame.
 *
 * Writes.  SSL_MODE_ENABLE_PARTIAL_WRITE lets a write return what went out
 * as sendmsg does; SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets the caller
 * retry after EAGAIN from a buffer that moved (the link's write buffer is
 * compacted and grown between tries: its first bytes stay the same, which
 * is all a retry needs).  A frame of two pieces (header and payload) is
 * copied into one record when small, so an ACK is one record, not two.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "internal.h"

#include "auth.h"
#include "frame.h"
#include "link.h"
#include "tls.h"

#define KEY_FILE_MAX	(64 * 1024)	/* a PEM key is a few KiB */
#define COALESCE_MAX	16384		/* one TLS record's plaintext */
#define TLS12_CIPHERS	"ECDHE+AESGCM:ECDHE+CHACHA20"

struct fed_tls {
	SSL_CTX		*ctx;
};

struct fed_tls_sess {
	SSL		*ssl;
	int		 fd;
	bool		 dialer;
	bool		 peeked;	/* the first byte was looked at */
	bool		 plain;		/* ... and it was a plain frame's */
	short		 want_r;	/* what the last read waits for */
	short		 want_w;	/* ... and the last write */
	pthread_mutex_t	 lock;		/* around each OpenSSL call */
	char		 why[160];
};

/* OpenSSL's queued error for the log: "file: reason" style text. */
static void
ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "unknown TLS error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

/* Read PATH (a private file: tls_key) and use it as CTX's key. */
static int
load_key(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	char *buf, why[160];
	EVP_PKEY *k = NULL;
	BIO *b = NULL;
	ssize_t n;
	int fd, rc = SHMQ_EINVAL;

	if ((fd = fed_private_open(path, "tls_key", err, errlen)) < 0)
		return fd;
	if ((buf = malloc(KEY_FILE_MAX)) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return SHMQ_ENOMEM;
	}
	n = read(fd, buf, KEY_FILE_MAX);
	close(fd);
	if (n < 0 || n == KEY_FILE_MAX) {
		snprintf(err, errlen, "tls_key %s: %s", path, n < 0 ?
		    strerror(errno) : "larger than 64 KiB");
		goto out;
	}
	if ((b = BIO_new_mem_buf(buf, (int)n)) == NULL ||
	    (k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL) {
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "tls_key %s: not a usable PEM key "
		    "(%s)", path, why);
		goto out;
	}
	/* use_PrivateKey compares it with the certificate already. */
	if (SSL_CTX_use_PrivateKey(ctx, k) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "tls_key %s: not the key of tls_cert "
		    "(%s)", path, why);
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(k);
	BIO_free(b);
	explicit_bzero(buf, KEY_FILE_MAX);
	free(buf);
	return rc;
}

/* PATH can be opened (so that a missing file is named as such, not as an
 * OpenSSL parse error).  0, or a code with ERR naming KEY. */
static int
readable(const char *key, const char *path, char *err, size_t errlen)
{
	if (access(path, R_OK) == 0)
		return 0;
	snprintf(err, errlen, "%s %s: %s", key, path, strerror(errno));
	return errno == EACCES ? SHMQ_EACCES : SHMQ_ENOENT;
}

int
fed_tls_new(struct fed_tls **out, const struct fed_conf *c, char *err,
    size_t errlen)
{
	struct fed_tls *t;
	char why[160];
	int rc;

	*out = NULL;
	if (!c->tls)
		return 0;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->ctx = SSL_CTX_new(TLS_method())) == NULL) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return SHMQ_ENOMEM;
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(t->ctx, 0);
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	rc = SHMQ_EINVAL;
	if (SSL_CTX_set_cipher_list(t->ctx, TLS12_CIPHERS) != 1) {
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "TLS 1.2 ciphers: %s", why);
		goto fail;
	}
	if ((rc = readable("tls_cert", c->tls_cert, err, errlen)) < 0)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(t->ctx, c->tls_cert) != 1) {
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "tls_cert %s: not a usable PEM "
		    "certificate (%s)", c->tls_cert, why);
		rc = SHMQ_EINVAL;
		goto fail;
	}
	if ((rc = load_key(t->ctx, c->tls_key, err, errlen)) < 0)
		goto fail;
	if ((rc = readable("tls_ca", c->tls_ca, err, errlen)) < 0)
		goto fail;
	if (SSL_CTX_load_verify_locations(t->ctx, c->tls_ca, NULL) != 1) {
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "tls_ca %s: no usable PEM certificate "
		    "(%s)", c->tls_ca, why);
		rc = SHMQ_EINVAL;
		goto fail;
	}
	*out = t;
	return 0;
fail:
	ERR_clear_error();
	fed_tls_free(t);
	return rc;
}

void
fed_tls_free(struct fed_tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

int
fed_tls_sess_new(struct fed_tls_sess **out, struct fed_tls *t, int fd,
    bool dialer)
{
	struct fed_tls_sess *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return SHMQ_ENOMEM;
	/* SSL_set_fd's socket BIO does not close FD when freed. */
	if ((s->ssl = SSL_new(t->ctx)) == NULL || SSL_set_fd(s->ssl,
	    fd) != 1) {
		ERR_clear_error();
		SSL_free(s->ssl);
		free(s);
		return SHMQ_ENOMEM;
	}
	if (dialer)
		SSL_set_connect_state(s->ssl);
	else
		SSL_set_accept_state(s->ssl);
	s->fd = fd;
	s->dialer = dialer;
	s->want_r = POLLIN;
	s->want_w = POLLOUT;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void
fed_tls_sess_free(struct fed_tls_sess *s)
{
	if (s == NULL)
		return;
	SSL_free(s->ssl);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

bool
fed_tls_plain(const struct fed_tls_sess *s)
{
	return s != NULL && s->plain;
}

const char *
fed_tls_why(const struct fed_tls_sess *s)
{
	return s != NULL ? s->why : "";
}

short
fed_tls_events(const struct fed_tls_sess *s, bool reading)
{
	if (s == NULL)
		return reading ? POLLIN : POLLOUT;
	return reading ? s->want_r : s->want_w;
}

bool
fed_tls_pending(struct fed_tls_sess *s)
{
	bool p;

	if (s == NULL)
		return false;
	pthread_mutex_lock(&s->lock);
	/* Decrypted bytes only: part of a record waits for the socket,
	 * which poll does see. */
	p = SSL_pending(s->ssl) > 0;
	pthread_mutex_unlock(&s->lock);
	return p;
}

const char *
fed_tls_desc(struct fed_tls_sess *s, char *buf, size_t len)
{
	if (s == NULL)
		snprintf(buf, len, "plain TCP");
	else
		snprintf(buf, len, "%s %s", SSL_get_version(s->ssl),
		    SSL_get_cipher_name(s->ssl));
	return buf;
}

/*
 * Whether reason R (of an alert received, or of our own check) means a
 * certificate was refused: the peer's by us, or ours by the peer.
 */
static bool
cert_refused(int r)
{
	switch (r) {
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
	case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
		return true;
	}
	return false;
}

/*
 * After OpenSSL call RET failed on S (lock held): -1 with errno EAGAIN
 * and *WANT set, 0 at a clean end, or -1 with errno (EACCES, EPROTO,
 * ECONNRESET, the socket's) and S->why.
 */
static int
failed(struct fed_tls_sess *s, int ret, short *want)
{
	int e = SSL_get_error(s->ssl, ret), saved = errno;
	unsigned long q;
	long v;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*want = POLLIN;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*want = POLLOUT;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(s->why, sizeof(s->why), "TLS closed by the peer");
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (saved == 0 || ret == 0) {
			/* OpenSSL 1.1: EOF without close_notify. */
			snprintf(s->why, sizeof(s->why), "closed by the peer");
			errno = ECONNRESET;
		} else {
			snprintf(s->why, sizeof(s->why), "%s",
			    strerror(saved));
			errno = saved;
		}
		return -1;
	}
	q = ERR_peek_last_error();
	v = SSL_get_verify_result(s->ssl);
	if (ERR_GET_REASON(q) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		ERR_clear_error();
		snprintf(s->why, sizeof(s->why), "closed by the peer");
		errno = ECONNRESET;
		return -1;
	}
	if (v != X509_V_OK) {
		ERR_clear_error();
		snprintf(s->why, sizeof(s->why), "the peer's certificate is "
		    "refused: %s", X509_verify_cert_error_string(v));
		errno = EACCES;
		return -1;
	}
	errno = cert_refused(ERR_GET_REASON(q)) ? EACCES : EPROTO;
	ssl_reason(s->why, sizeof(s->why));
	return -1;
}

/* Look at the first byte an accepted peer sent.  1 (TLS), 0 (nothing
 * yet), or a code with WHY. */
static int
peek_first(struct fed_tls_sess *s, char *why, size_t len)
{
	uint8_t b;
	ssize_t n;

	n = recv(s->fd, &b, 1, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR)) {
		s->want_r = POLLIN;
		return 0;
	}
	if (n <= 0) {
		snprintf(why, len, "%s before the TLS handshake", n == 0 ?
		    "closed by the peer" : strerror(errno));
		return n == 0 ? -ECONNRESET : -errno;
	}
	s->peeked = true;
	if (b == 0x16)		/* TLS record: handshake */
		return 1;
	s->plain = b == (uint8_t)(FED_MAGIC >> 24);
	snprintf(why, len, "%s (tls is on here)", s->plain ? "plain "
	    "federation frames, not TLS: the peer has tls off" :
	    "not a TLS handshake");
	snprintf(s->why, sizeof(s->why), "%s", why);
	return SHMQ_EPROTO;
}

int
fed_tls_handshake(struct fed_tls_sess *s, char *why, size_t len)
{
	int rc;

	if (!s->dialer && !s->peeked && (rc = peek_first(s, why, len)) <= 0)
		return rc;
	pthread_mutex_lock(&s->lock);
	ERR_clear_error();
	rc = SSL_do_handshake(s->ssl);
	if (rc == 1) {
		pthread_mutex_unlock(&s->lock);
		return 1;
	}
	rc = failed(s, rc, &s->want_r);
	pthread_mutex_unlock(&s->lock);
	if (rc < 0 && errno == EAGAIN)
		return 0;
	snprintf(why, len, "TLS handshake: %s", s->why);
	if (rc == 0 || errno == ECONNRESET)
		return -ECONNRESET;
	return errno == EACCES ? SHMQ_EAUTH : errno == EPROTO ? SHMQ_EPROTO :
	    -errno;
}

ssize_t
fed_tls_read(int fd, struct fed_tls_sess *s, void *buf, size_t len)
{
	int n;

	if (s == NULL)
		return recv(fd, buf, len, 0);
	if (len > INT32_MAX)
		len = INT32_MAX;
	pthread_mutex_lock(&s->lock);
	ERR_clear_error();
	n = SSL_read(s->ssl, buf, (int)len);
	if (n <= 0)
		n = failed(s, n, &s->want_r);
	pthread_mutex_unlock(&s->lock);
	return n;
}

ssize_t
fed_tls_writev(int fd, struct fed_tls_sess *s, const struct iovec *iov,
    int n)
{
	uint8_t one[COALESCE_MAX];
	struct msghdr mh;
	const void *p;
	size_t len = 0;
	int i, w;

	if (s == NULL) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = (struct iovec *)(uintptr_t)iov;
		mh.msg_iovlen = (size_t)n;
		return sendmsg(fd, &mh, MSG_NOSIGNAL);
	}
	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	if (n == 1 || len > sizeof(one)) {
		/* Big: the first piece now, the caller goes on with the
		 * rest (a header's record, then the payload's). */
		p = iov[0].iov_base;
		len = iov[0].iov_len;
	} else {
		for (len = 0, i = 0; i < n; i++) {
			memcpy(one + len, iov[i].iov_base, iov[i].iov_len);
			len += iov[i].iov_len;
		}
		p = one;
	}
	if (len > INT32_MAX)
		len = INT32_MAX;
	if (len == 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	ERR_clear_error();
	w = SSL_write(s->ssl, p, (int)len);
	if (w <= 0) {
		w = failed(s, w, &s->want_w);
		if (w == 0) {
			errno = EPIPE;
			w = -1;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return w;
}

ssize_t
fed_tls_write(int fd, struct fed_tls_sess *s, const void *buf, size_t len)
{
	struct iovec iov = { (void *)(uintptr_t)buf, len };

	return fed_tls_writev(fd, s, &iov, 1);
}
