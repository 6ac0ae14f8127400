/*
 * auth.c - the shared secret and the link handshake (see auth.h).
 *
 * HMAC-SHA256 and the constant-time compare are OpenSSL's (libcrypto):
 * well kept, in Debian, and what the optional TLS will use anyway.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "internal.h"

#include "auth.h"

int
fed_private_open(const char *path, const char *what, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path,
		    strerror(errno));
		return errno == EACCES ? SHMQ_EACCES : SHMQ_ENOENT;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s %s: not a regular file", what, path);
		return SHMQ_EINVAL;
	}
	/* Checked on the open file, so a swap after the check is moot. */
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		close(fd);
		snprintf(err, errlen, "%s %s: mode %03o lets the group or "
		    "others in (chmod 600 it)", what, path,
		    (unsigned)(st.st_mode & 0777));
		return SHMQ_EACCES;
	}
	return fd;
}

int
fed_secret_load(struct fed_secret *s, const char *path, char *err,
    size_t errlen)
{
	ssize_t n;
	int fd;

	memset(s, 0, sizeof(*s));
	if ((fd = fed_private_open(path, "secret file", err, errlen)) < 0)
		return fd;
	n = read(fd, s->key, sizeof(s->key));
	if (n == (ssize_t)sizeof(s->key)) {
		char c;

		if (read(fd, &c, 1) == 1)
			n = -2;
	}
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "secret file %s: %s", path,
		    n == -2 ? "longer than 4096 bytes" : strerror(errno));
		memset(s->key, 0, sizeof(s->key));
		return SHMQ_EINVAL;
	}
	while (n > 0 && (s->key[n - 1] == '\n' || s->key[n - 1] == '\r' ||
	    s->key[n - 1] == ' ' || s->key[n - 1] == '\t'))
		n--;
	if (n < FED_SECRET_MIN) {
		snprintf(err, errlen, "secret file %s: %zd bytes, at least "
		    "%d needed", path, n, FED_SECRET_MIN);
		memset(s->key, 0, sizeof(s->key));
		return SHMQ_EINVAL;
	}
	s->len = (size_t)n;
	return 0;
}

int
fed_nonce(uint8_t n[FED_NONCE_BYTES])
{
	size_t got = 0;
	ssize_t r;

	while (got < FED_NONCE_BYTES) {
		r = getrandom(n + got, FED_NONCE_BYTES - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	return 0;
}

static void
be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* The proof of the DIALER (or listener) side: see auth.h. */
static void
proof(const struct fed_secret *s, bool dialer, const uint8_t *n_prover,
    const uint8_t *n_verifier, uint64_t id_prover, uint64_t id_verifier,
    uint8_t mac[FED_MAC_BYTES])
{
	static const char ld[] = "shmq-fed dialer", ll[] = "shmq-fed listener";
	uint8_t msg[sizeof(ll) + 2 * FED_NONCE_BYTES + 16 + 1];
	unsigned int maclen = FED_MAC_BYTES;
	size_t n = 0;

	memcpy(msg, dialer ? ld : ll, dialer ? sizeof(ld) : sizeof(ll));
	n = dialer ? sizeof(ld) : sizeof(ll);
	memcpy(msg + n, n_prover, FED_NONCE_BYTES);
	n += FED_NONCE_BYTES;
	memcpy(msg + n, n_verifier, FED_NONCE_BYTES);
	n += FED_NONCE_BYTES;
	be64(msg + n, id_prover);
	be64(msg + n + 8, id_verifier);
	n += 16;
	msg[n++] = FED_VERSION;
	if (HMAC(EVP_sha256(), s->key, (int)s->len, msg, n, mac,
	    &maclen) == NULL || maclen != FED_MAC_BYTES)
		memset(mac, 0, FED_MAC_BYTES);	/* matches no real proof */
}

static bool
proof_ok(const struct fed_secret *s, bool dialer, const uint8_t *n_prover,
    const uint8_t *n_verifier, uint64_t id_prover, uint64_t id_verifier,
    const uint8_t *mac)
{
	uint8_t want[FED_MAC_BYTES];
	static const uint8_t zero[FED_MAC_BYTES];
	bool ok;

	proof(s, dialer, n_prover, n_verifier, id_prover, id_verifier, want);
	ok = CRYPTO_memcmp(want, mac, FED_MAC_BYTES) == 0 &&
	    CRYPTO_memcmp(want, zero, FED_MAC_BYTES) != 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

static int
fail(struct fed_hs *hs, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct fed_hs *hs, int code, const char *fmt, ...)
{
	va_list ap;

	hs->step = FED_HS_FAILED;
	va_start(ap, fmt);
	vsnprintf(hs->why, sizeof(hs->why), fmt, ap);
	va_end(ap);
	return code;
}

int
fed_hs_start(struct fed_hs *hs, bool dialer, const struct fed_hello *me,
    const struct fed_secret *secret, struct fed_wbuf *out, unsigned *type)
{
	int r;

	memset(hs, 0, sizeof(*hs));
	hs->dialer = dialer;
	hs->secret = secret;
	hs->me = *me;
	hs->me.version_min = hs->me.version_max = FED_VERSION;
	memset(hs->me.nonce, 0, FED_NONCE_BYTES);
	*type = 0;
	if ((r = fed_nonce(hs->n_mine)) < 0)
		return fail(hs, r, "getrandom: %s", strerror(-r));
	if (!dialer) {
		hs->step = FED_HS_WAIT_HELLO;
		return 0;
	}
	hs->step = FED_HS_WAIT_CHALLENGE;
	*type = FED_T_HELLO;
	return fed_hello_encode(out, &hs->me) < 0 ? SHMQ_EINVAL : 0;
}

/* The peer's HELLO or CHALLENGE: who it is, and that we can talk. */
static int
take_hello(struct fed_hs *hs, const struct fed_frame *f)
{
	if (fed_hello_decode(f->payload, f->length, &hs->peer) < 0)
		return fail(hs, SHMQ_EPROTO, "malformed %s",
		    fed_type_name(f->type));
	if (hs->peer.version_min > FED_VERSION ||
	    hs->peer.version_max < FED_VERSION)
		return fail(hs, SHMQ_EVERSION, "no common protocol version "
		    "with %s", hs->peer.host);
	if (hs->peer.host_id == hs->me.host_id)
		return fail(hs, SHMQ_EINVAL, "peer %s has this host's id "
		    "(a link to itself, or two hosts with one name)",
		    hs->peer.host);
	return 0;
}

int
fed_hs_input(struct fed_hs *hs, const struct fed_frame *f,
    struct fed_wbuf *out, unsigned *type)
{
	struct fed_auth a;
	struct fed_hello ch;
	int r;

	*type = 0;
	if (hs->step == FED_HS_FAILED || hs->step == FED_HS_DONE)
		return fail(hs, SHMQ_EPROTO, "%s after the handshake ended",
		    fed_type_name(f->type));
	if (f->type == FED_T_ERROR) {
		struct fed_error e;
		char buf[FED_ERRMSG_MAX + 32];

		if (fed_error_decode(f->payload, f->length, &e) < 0)
			return fail(hs, SHMQ_EPROTO, "malformed %s", "ERROR");
		snprintf(buf, sizeof(buf), "peer refused: %s (%s)", e.msg,
		    shmq_err_name(e.code));
		r = e.code == SHMQ_EAUTH ? SHMQ_EAUTH : SHMQ_EPROTO;
		return fail(hs, r, "%s", buf);
	}
	switch (hs->step) {
	case FED_HS_WAIT_HELLO:
		if (f->type != FED_T_HELLO)
			break;
		if ((r = take_hello(hs, f)) < 0)
			return r;
		ch = hs->me;
		memcpy(ch.nonce, hs->n_mine, FED_NONCE_BYTES);
		hs->step = FED_HS_WAIT_AUTH;
		*type = FED_T_CHALLENGE;
		return fed_hello_encode(out, &ch) < 0 ? SHMQ_EINVAL : 0;
	case FED_HS_WAIT_CHALLENGE:
		if (f->type != FED_T_CHALLENGE)
			break;
		if ((r = take_hello(hs, f)) < 0)
			return r;
		memcpy(hs->n_peer, hs->peer.nonce, FED_NONCE_BYTES);
		memcpy(a.nonce, hs->n_mine, FED_NONCE_BYTES);
		proof(hs->secret, true, hs->n_mine, hs->n_peer,
		    hs->me.host_id, hs->peer.host_id, a.mac);
		hs->step = FED_HS_WAIT_AUTH_OK;
		*type = FED_T_AUTH;
		return fed_auth_encode(out, &a) < 0 ? SHMQ_EINVAL : 0;
	case FED_HS_WAIT_AUTH:
		if (f->type != FED_T_AUTH)
			break;
		if (fed_auth_decode(f->payload, f->length, &a) < 0)
			return fail(hs, SHMQ_EPROTO, "malformed %s", "AUTH");
		memcpy(hs->n_peer, a.nonce, FED_NONCE_BYTES);
		if (!proof_ok(hs->secret, true, hs->n_peer, hs->n_mine,
		    hs->peer.host_id, hs->me.host_id, a.mac)) {
			struct fed_error e = { SHMQ_EAUTH,
			    "authentication failed" };

			*type = FED_T_ERROR;
			(void)fed_error_encode(out, &e);
			return fail(hs, SHMQ_EAUTH, "%s: wrong proof (another "
			    "secret?)", hs->peer.host);
		}
		memset(a.nonce, 0, FED_NONCE_BYTES);
		proof(hs->secret, false, hs->n_mine, hs->n_peer,
		    hs->me.host_id, hs->peer.host_id, a.mac);
		hs->step = FED_HS_DONE;
		*type = FED_T_AUTH_OK;
		return fed_auth_encode(out, &a) < 0 ? SHMQ_EINVAL : 1;
	case FED_HS_WAIT_AUTH_OK:
		if (f->type != FED_T_AUTH_OK)
			break;
		if (fed_auth_decode(f->payload, f->length, &a) < 0)
			return fail(hs, SHMQ_EPROTO, "malformed %s", "AUTH_OK");
		if (!proof_ok(hs->secret, false, hs->n_peer, hs->n_mine,
		    hs->peer.host_id, hs->me.host_id, a.mac))
			return fail(hs, SHMQ_EAUTH, "%s: wrong proof in "
			    "AUTH_OK (another secret?)", hs->peer.host);
		hs->step = FED_HS_DONE;
		return 1;
	}
	return fail(hs, SHMQ_EPROTO, "%s frame before authentication",
	    fed_type_name(f->type));
}
