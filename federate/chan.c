/*
 * chan.c - blocking framed connections for replication (see chan.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

#include "chan.h"
#include "link.h"

#define SEND_TIMEOUT_S	30	/* a peer that reads nothing this long */

static int
chan_new(struct fed_chan **out, int fd, uint32_t max)
{
	struct fed_chan *c;
	int one = 1, fl;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return SHMQ_ENOMEM;
	c->fd = fd;
	c->max = max;
	c->rcap = FED_HDR_BYTES + 4096;
	if ((c->rbuf = malloc(c->rcap)) == NULL) {
		free(c);
		return SHMQ_ENOMEM;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Waits are poll's, with deadlines (chan.h). */
	if ((fl = fcntl(fd, F_GETFL)) >= 0)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	*out = c;
	return 0;
}

void
fed_chan_close(struct fed_chan *c)
{
	if (c == NULL)
		return;
	fed_tls_sess_free(c->tls);
	if (c->fd >= 0)
		close(c->fd);
	free(c->rbuf);
	free(c);
}

void
fed_chan_shutdown(struct fed_chan *c)
{
	if (c != NULL && c->fd >= 0)
		(void)shutdown(c->fd, SHUT_RDWR);
}

/*
 * Wait until C's socket has EVENTS or DEADLINE (mono ns; 0: none) passes.
 * 1 (ready, or an error poll reports: the next call sees it), 0 (the
 * deadline), -errno.
 */
static int
wait_for(struct fed_chan *c, short events, uint64_t deadline)
{
	struct pollfd pfd = { c->fd, events, 0 };
	uint64_t now;
	int wait, rc;

	if (deadline == 0)
		wait = -1;
	else if ((now = shmq__mono_ns()) >= deadline)
		return 0;
	else
		wait = (int)((deadline - now + 999999) / 1000000);
	if ((rc = poll(&pfd, 1, wait)) < 0)
		return errno == EINTR ? 1 : -errno;
	return rc > 0 ? 1 : deadline != 0 && shmq__mono_ns() >= deadline ?
	    0 : 1;
}

static int
write_all(struct fed_chan *c, struct iovec *iov, int n)
{
	uint64_t deadline = shmq__mono_ns() + SEND_TIMEOUT_S * 1000000000ull;
	ssize_t w;
	int rc;

	while (n > 0) {
		w = fed_tls_writev(c->fd, c->tls, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* A peer that reads nothing for the send timeout. */
			rc = wait_for(c, fed_tls_events(c->tls, false),
			    deadline);
			if (rc <= 0)
				return rc == 0 ? -ETIMEDOUT : rc;
			continue;
		}
		if (w < 0)
			return -errno;
		c->bytes_out += (uint64_t)w;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int
fed_chan_write(struct fed_chan *c, unsigned type, const uint8_t *p, size_t n)
{
	uint8_t hdr[FED_HDR_BYTES];
	struct iovec iov[2];

	fed_frame_header(hdr, type, c->seq_out++, p, (uint32_t)n);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)p;
	iov[1].iov_len = n;
	return write_all(c, iov, n > 0 ? 2 : 1);
}

int
fed_chan_read(struct fed_chan *c, struct fed_frame *f, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? 0 :
	    shmq__mono_ns() + (uint64_t)timeout_ms * 1000000;
	uint32_t plen;
	ssize_t n;
	int rc;

	/* Drop the frame the caller had. */
	if (c->roff > 0) {
		memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
		c->rlen -= c->roff;
		c->roff = 0;
	}
	for (;;) {
		rc = fed_frame_decode(c->rbuf, c->rlen, c->max, f);
		if (rc > 0) {
			c->roff = (size_t)rc;
			return 1;
		}
		if (rc < 0)
			return SHMQ_EPROTO;
		/* Room for the whole frame once its length is known (the
		 * decoder checked it against the limit). */
		if (c->rlen >= 12) {
			plen = (uint32_t)c->rbuf[8] << 24 |
			    (uint32_t)c->rbuf[9] << 16 |
			    (uint32_t)c->rbuf[10] << 8 | c->rbuf[11];
			if (FED_HDR_BYTES + (size_t)plen > c->rcap) {
				uint8_t *nb = realloc(c->rbuf,
				    FED_HDR_BYTES + (size_t)plen);

				if (nb == NULL)
					return SHMQ_ENOMEM;
				c->rbuf = nb;
				c->rcap = FED_HDR_BYTES + (size_t)plen;
			}
		}
		/* What TLS has read already, poll would not see. */
		if (!fed_tls_pending(c->tls) && (rc = wait_for(c,
		    fed_tls_events(c->tls, true), deadline)) <= 0)
			return rc;
		n = fed_tls_read(c->fd, c->tls, c->rbuf + c->rlen,
		    c->rcap - c->rlen);
		if (n < 0 && (errno == EINTR || errno == EAGAIN ||
		    errno == EWOULDBLOCK))
			continue;
		if (n < 0)
			return errno == EACCES ? SHMQ_EAUTH : -errno;
		if (n == 0)
			return -ECONNRESET;
		c->rlen += (size_t)n;
		c->bytes_in += (uint64_t)n;
	}
}

int
fed_chan_adopt(struct fed_chan **out, int fd, struct fed_tls_sess *tls,
    const uint8_t *wpend, size_t wn, const uint8_t *rpend, size_t rn,
    const struct fed_hello *peer, uint32_t max)
{
	struct fed_chan *c;
	struct iovec iov;
	int err;

	if ((err = chan_new(&c, fd, max)) < 0) {
		fed_tls_sess_free(tls);
		close(fd);
		return err;
	}
	c->tls = tls;
	c->peer = *peer;
	if (rn > c->rcap) {
		uint8_t *nb = realloc(c->rbuf, rn);

		if (nb == NULL) {
			fed_chan_close(c);
			return SHMQ_ENOMEM;
		}
		c->rbuf = nb;
		c->rcap = rn;
	}
	memcpy(c->rbuf, rpend, rn);
	c->rlen = rn;
	/* The listener's last handshake frame (the caller sets seq_out to
	 * go on from the link thread's numbers). */
	if (wn > 0) {
		iov.iov_base = (void *)(uintptr_t)wpend;
		iov.iov_len = wn;
		if ((err = write_all(c, &iov, 1)) < 0) {
			fed_chan_close(c);
			return err;
		}
	}
	*out = c;
	return 0;
}

/* Connect to ADDR within DEADLINE (mono ns).  An fd, or -errno / a code
 * with ERR. */
static int
connect_to(const char *addr, uint64_t deadline, char *err, size_t errlen)
{
	struct addrinfo hints, *ai = NULL, *a;
	char host[FED_ADDR_MAX + 1], port[8];
	const char *errstr = NULL;
	struct pollfd pfd;
	socklen_t sl;
	int fd = -1, rc, e = ECONNREFUSED, wait;
	uint64_t now;

	if (fed_addr_split(addr, host, sizeof(host), port, &errstr) < 0) {
		snprintf(err, errlen, "%s: %s", addr, errstr);
		return SHMQ_EINVAL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
		return SHMQ_EINVAL;
	}
	for (a = ai; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, a->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			now = shmq__mono_ns();
			wait = now >= deadline ? 0 :
			    (int)((deadline - now) / 1000000);
			pfd.fd = fd;
			pfd.events = POLLOUT;
			sl = sizeof(e);
			if (poll(&pfd, 1, wait) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) == 0 &&
			    e == 0)
				break;
			if (pfd.revents == 0)
				e = ETIMEDOUT;
		} else
			e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		snprintf(err, errlen, "connect %s: %s", addr, strerror(e));
		return -e;
	}
	return fd;
}

/* C's TLS handshake as the dialer, by DEADLINE.  0, or a code with ERR. */
static int
tls_dial(struct fed_chan *c, struct fed_tls *tls, const char *addr,
    uint64_t deadline, char *err, size_t errlen)
{
	char why[200];
	int rc;

	if ((rc = fed_tls_sess_new(&c->tls, tls, c->fd, true)) < 0) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	while ((rc = fed_tls_handshake(c->tls, why, sizeof(why))) == 0)
		if ((rc = wait_for(c, fed_tls_events(c->tls, true),
		    deadline)) <= 0) {
			snprintf(why, sizeof(why), "TLS handshake: no answer "
			    "in time");
			rc = rc == 0 ? SHMQ_ETIMEDOUT : rc;
			break;
		}
	if (rc == 1)
		return 0;
	snprintf(err, errlen, "%s: %s%s", addr, why, rc == -ECONNRESET ?
	    " (is tls off there?)" : "");
	return rc;
}

int
fed_chan_dial(struct fed_chan **out, const char *addr,
    const struct fed_hello *me, const struct fed_secret *secret,
    struct fed_tls *tls, uint32_t max, uint32_t timeout_ms, char *err,
    size_t errlen)
{
	uint64_t deadline = shmq__mono_ns() + (uint64_t)timeout_ms * 1000000;
	struct fed_chan *c;
	struct fed_frame fr;
	struct fed_hs hs;
	struct fed_wbuf w;
	uint8_t buf[FED_PREAUTH_MAX];
	unsigned type;
	uint64_t now;
	int fd, rc;

	if ((fd = connect_to(addr, deadline, err, errlen)) < 0)
		return fd;
	if ((rc = chan_new(&c, fd, FED_PREAUTH_MAX)) < 0) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	if (tls != NULL && (rc = tls_dial(c, tls, addr, deadline, err,
	    errlen)) < 0) {
		fed_chan_close(c);
		return rc;
	}
	w = (struct fed_wbuf){ buf, 0, sizeof(buf), false };
	if ((rc = fed_hs_start(&hs, true, me, secret, &w, &type)) < 0 ||
	    (rc = fed_chan_write(c, type, w.p, w.len)) < 0) {
		snprintf(err, errlen, "%s: handshake: %s", addr,
		    shmq_strerror(rc));
		fed_chan_close(c);
		return rc;
	}
	for (;;) {
		now = shmq__mono_ns();
		rc = now >= deadline ? 0 : fed_chan_read(c, &fr,
		    (int)((deadline - now + 999999) / 1000000));
		if (rc <= 0) {
			snprintf(err, errlen, "%s: handshake: %s", addr,
			    rc == 0 ? "no answer in time" : c->tls != NULL &&
			    rc != SHMQ_EPROTO ? fed_tls_why(c->tls) :
			    shmq_strerror(rc));
			fed_chan_close(c);
			return rc == 0 ? SHMQ_ETIMEDOUT : rc;
		}
		w = (struct fed_wbuf){ buf, 0, sizeof(buf), false };
		rc = fed_hs_input(&hs, &fr, &w, &type);
		if (type != 0)
			(void)fed_chan_write(c, type, w.p, w.len);
		if (rc == 1)
			break;
		if (rc < 0) {
			snprintf(err, errlen, "%s: %s", addr, hs.why);
			fed_chan_close(c);
			return rc;
		}
	}
	c->peer = hs.peer;
	c->max = max;
	*out = c;
	return 0;
}
