/*
 * link.c - the federation thread (see link.h): sockets, the link state
 * machine, heartbeats, route registration, and the status file.
 *
 * Connections and links.  A connection (struct conn) is one TCP socket in
 * one of three states: connecting (ours, dialed), authenticating (the
 * handshake), up.  A link (struct link) is a peer host as shmq-stat shows
 * it: its address, its counters over all its connections, and its current
 * up connection and dial attempt, if any.  An inbound connection belongs to
 * no link until it has authenticated; then it is given to the link of that
 * host id, or of that listen address if configured, or to a new one.
 *
 * Buffers.  Each connection reads into a buffer that holds one frame at
 * most: until the handshake is done, only FED_PREAUTH_MAX bytes (the
 * handshake's frames are small), so an unauthenticated peer cannot make us
 * hold more; after, FED_HDR_BYTES + max_frame, grown only once a header
 * with a valid length is there.  Writes queue in a buffer bounded by
 * WBUF_MAX; a peer that does not read is cut.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "bus.h"
#include "internal.h"
#include "layout.h"
#include "region.h"

#include "auth.h"
#include "fence.h"
#include "frame.h"
#include "link.h"
#include "repl.h"
#include "route.h"
#include "tls.h"

#define RBUF_INIT	4096
#define WBUF_MAX	(16u * 1024 * 1024)
#define TICK_MS		50		/* longest poll: timers' grain */
#define PUBLISH_MS	200		/* status file at most this often */
#define LOCAL_MS	1000		/* local topic list looked at */
#define MS		1000000ull

/* C_TLS: the TLS handshake (tls.h), between connecting and C_AUTH. */
enum conn_state { C_CONNECTING, C_AUTH, C_UP, C_TLS };

struct link;

struct conn {
	int		 fd;
	bool		 outbound;
	int		 state;		/* enum conn_state */
	struct link	*link;		/* outbound: always; inbound: once up */
	char		 addr[FED_ADDR_MAX + 1]; /* the other end */
	struct fed_hs	 hs;
	uint8_t		*rbuf;
	size_t		 rlen;
	size_t		 rcap;
	uint8_t		*wbuf;
	size_t		 wlen;
	size_t		 wcap;
	bool		 closing;	/* flush what is queued, then close */
	uint64_t	 seq_out;
	uint64_t	 deadline_ns;	/* connect + handshake */
	uint64_t	 last_in_ns;	/* mono: last frame received */
	uint64_t	 last_hb_ns;	/* mono: last heartbeat sent */
	uint64_t	 last_reg_ns;	/* mono: last registration sent */
	uint64_t	 reg_gen;	/* generation last registered */
	/* Counted here until the connection has a link. */
	uint64_t	 bytes_in, bytes_out, frames_in, frames_out;
	struct conn	*next;
	struct fed_tls_sess *tls;	/* NULL: plain TCP */
};

struct link {
	char		 addr[FED_ADDR_MAX + 1];
	bool		 configured;
	uint64_t	 host_id;
	char		 host[FED_HOST_MAX + 1];
	struct conn	*up;
	struct conn	*dial;
	uint32_t	 backoff_ms;	/* the next wait's ceiling */
	uint64_t	 next_dial_ns;
	bool		 ever_up;
	uint64_t	 up_since_ns;	/* realtime */
	uint64_t	 last_frame_ns;	/* realtime */
	uint64_t	 bytes_in, bytes_out, frames_in, frames_out;
	uint64_t	 reconnects, auth_failures, rejected;
	char		 last_error[96];
};

struct fed {
	struct shmq_bus		*bus;
	struct fed_conf		 c;
	struct fed_secret	 secret;
	struct fed_hello	 me;
	int			 lfd;		/* listener, or -1 */
	int			 efd;		/* eventfd: stop */
	pthread_t		 th;
	struct conn		*conns;
	unsigned		 npending;	/* inbound, not yet up */
	struct link		**links;
	size_t			 nlinks;
	struct fed_routes	 rt;
	uint64_t		 rejected;	/* inbound, before auth */
	uint64_t		 auth_failures;
	uint64_t		 last_local_ns;
	uint64_t		 last_publish_ns;
	bool			 dirty;
	char			 status_path[PATH_MAX + 16];
	uint8_t			*pbuf;		/* payload scratch */
	size_t			 pcap;
	struct fed_repl		*repl;		/* replication (repl.h) */
	struct fed_tls		*tls;		/* NULL: TLS off */
};

static void tls_failed(struct fed *, struct conn *, int, const char *);

#define flog(f, lvl, ...) do {						\
	if ((f)->c.log != NULL)						\
		(f)->c.log((lvl), __VA_ARGS__);				\
} while (0)

/* ------------------------------------------------------------------ */
/* Links and connections                                               */
/* ------------------------------------------------------------------ */

static struct link *
link_new(struct fed *f, const char *addr, bool configured)
{
	struct link **nl, *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	nl = reallocarray(f->links, f->nlinks + 1, sizeof(*nl));
	if (nl == NULL) {
		free(l);
		return NULL;
	}
	f->links = nl;
	f->links[f->nlinks++] = l;
	strlcpy(l->addr, addr, sizeof(l->addr));
	l->configured = configured;
	l->backoff_ms = f->c.backoff_min_ms;
	f->dirty = true;
	return l;
}

static unsigned
link_state(const struct link *l)
{
	if (l->up != NULL)
		return SHMQ_LINK_UP;
	if (l->dial != NULL)
		return l->dial->state == C_CONNECTING ? SHMQ_LINK_CONNECTING :
		    SHMQ_LINK_AUTH;
	return l->configured ? SHMQ_LINK_BACKOFF : SHMQ_LINK_IDLE;
}

static void
link_error(struct link *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
link_error(struct link *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->last_error, sizeof(l->last_error), fmt, ap);
	va_end(ap);
}

/* Next dial of L after a failure: a wait in [b/2, b], then b doubles. */
static void
link_backoff(struct fed *f, struct link *l, uint64_t now)
{
	uint32_t b = l->backoff_ms, wait;

	wait = b / 2 + arc4random_uniform(b / 2 + 1);
	l->next_dial_ns = now + (uint64_t)wait * MS;
	l->backoff_ms = b >= f->c.backoff_max_ms / 2 ? f->c.backoff_max_ms :
	    b * 2;
}

/* The counters of C go to its link from now on. */
static void
conn_counts_to(struct conn *c, struct link *l)
{
	l->bytes_in += c->bytes_in;
	l->bytes_out += c->bytes_out;
	l->frames_in += c->frames_in;
	l->frames_out += c->frames_out;
	c->bytes_in = c->bytes_out = c->frames_in = c->frames_out = 0;
}

static void
conn_free(struct fed *f, struct conn *c)
{
	struct conn **pp;

	for (pp = &f->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	fed_tls_sess_free(c->tls);
	if (c->fd >= 0)
		close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	free(c);
}

/*
 * Close C.  WHY (may be NULL) is the reason, for the log and the link's
 * last error; FAILED says the attempt counts as a failure (backoff grows).
 */
static void
conn_close(struct fed *f, struct conn *c, const char *why, bool failed)
{
	struct link *l = c->link;
	uint64_t now = shmq__mono_ns();

	if (!c->outbound && c->state != C_UP)
		f->npending--;
	if (l != NULL) {
		conn_counts_to(c, l);
		if (why != NULL)
			link_error(l, "%s", why);
		if (l->up == c) {
			l->up = NULL;
			l->up_since_ns = 0;
			flog(f, LOG_WARNING, "link %s (%s): down: %s", l->host,
			    l->addr, why != NULL ? why : "closed");
			/* Down after being up: dial again soon. */
			l->backoff_ms = f->c.backoff_min_ms;
			if (l->configured && l->dial == NULL)
				link_backoff(f, l, now);
		} else if (l->dial == c) {
			l->dial = NULL;
			if (failed && l->up == NULL)
				flog(f, LOG_INFO, "link %s: %s; next attempt "
				    "in about %u ms", l->addr, why != NULL ?
				    why : "closed", l->backoff_ms);
			if (l->up == NULL)
				link_backoff(f, l, now);
		}
	}
	f->dirty = true;
	conn_free(f, c);
}

/* Queue frame TYPE with payload P[0..N) on C. */
static int
conn_send(struct conn *c, unsigned type, const uint8_t *p, size_t n)
{
	uint8_t *nb;
	size_t need = FED_HDR_BYTES + n, cap;

	if (c->wlen + need > WBUF_MAX)
		return SHMQ_ELIMIT;
	if (c->wlen + need > c->wcap) {
		for (cap = c->wcap == 0 ? 4096 : c->wcap;
		    cap < c->wlen + need; cap *= 2)
			;
		if ((nb = realloc(c->wbuf, cap)) == NULL)
			return SHMQ_ENOMEM;
		c->wbuf = nb;
		c->wcap = cap;
	}
	fed_frame_header(c->wbuf + c->wlen, type, c->seq_out++, p,
	    (uint32_t)n);
	if (n > 0)
		memcpy(c->wbuf + c->wlen + FED_HDR_BYTES, p, n);
	c->wlen += need;
	c->frames_out++;
	if (c->link != NULL) {
		c->link->frames_out++;
		c->frames_out--;
	}
	return 0;
}

/* A payload buffer of the configured frame size. */
static struct fed_wbuf
scratch(struct fed *f)
{
	struct fed_wbuf w = { f->pbuf, 0, f->pcap, false };

	return w;
}

static void
send_error(struct fed *f, struct conn *c, int code, const char *msg)
{
	struct fed_error e;
	struct fed_wbuf w = scratch(f);

	e.code = code;
	strlcpy(e.msg, msg, sizeof(e.msg));
	if (fed_error_encode(&w, &e) == 0)
		(void)conn_send(c, FED_T_ERROR, w.p, w.len);
}

static void
send_heartbeat(struct fed *f, struct conn *c, uint64_t now)
{
	struct fed_heartbeat hb;
	struct fed_wbuf w = scratch(f);
	size_t i;

	hb.sent_ns = shmq__real_ns();
	hb.topics = (uint32_t)f->rt.nlocal;
	hb.links_up = 0;
	for (i = 0; i < f->nlinks; i++)
		hb.links_up += f->links[i]->up != NULL;
	if (fed_heartbeat_encode(&w, &hb) == 0)
		(void)conn_send(c, FED_T_HEARTBEAT, w.p, w.len);
	c->last_hb_ns = now;
}

/* The local topics to C, in as many parts as the frame size needs. */
static void
send_register(struct fed *f, struct conn *c, uint64_t now)
{
	struct fed_route_reg r;
	size_t done = 0;
	int n;

	do {
		struct fed_wbuf w = scratch(f);

		r.host_id = f->me.host_id;
		r.gen = f->rt.gen;
		r.total = (uint32_t)f->rt.nlocal;
		r.first = (uint32_t)done;
		r.n = (uint32_t)(f->rt.nlocal - done);
		r.e = f->rt.local + done;
		if ((n = fed_route_reg_encode(&w, &r)) < 0)
			break;
		if (conn_send(c, FED_T_ROUTE_REGISTER, w.p, w.len) < 0)
			break;
		done += (size_t)n;
	} while (done < f->rt.nlocal);
	c->last_reg_ns = now;
	c->reg_gen = f->rt.gen;
}

/* The connection that stays when two link one pair: the one dialed by
 * the lower host id; between two of the same direction, the newer. */
static bool
conn_wins(const struct fed *f, const struct conn *a, const struct conn *b)
{
	uint64_t da = a->outbound ? f->me.host_id : a->hs.peer.host_id;
	uint64_t db = b->outbound ? f->me.host_id : b->hs.peer.host_id;

	return da != db ? da < db : true;
}

/*
 * C has authenticated: give it its link and bring the link up.  False if
 * C was closed (it lost to the pair's other connection).
 */
static bool
conn_up(struct fed *f, struct conn *c, uint64_t now)
{
	const struct fed_hello *p = &c->hs.peer;
	struct link *l = c->link;
	struct conn *old;
	char desc[96];
	size_t i;

	if (l == NULL) {
		for (i = 0; i < f->nlinks && l == NULL; i++)
			if (f->links[i]->host_id == p->host_id)
				l = f->links[i];
		for (i = 0; i < f->nlinks && l == NULL; i++)
			if (f->links[i]->configured &&
			    f->links[i]->host_id == 0 && p->listen[0] != '\0' &&
			    strcmp(f->links[i]->addr, p->listen) == 0)
				l = f->links[i];
		if (l == NULL && (l = link_new(f, p->listen[0] != '\0' ?
		    p->listen : c->addr, false)) == NULL) {
			conn_close(f, c, "out of memory", true);
			return false;
		}
		c->link = l;
		f->npending--;
	} else if (l->host_id != 0 && l->host_id != p->host_id) {
		flog(f, LOG_WARNING, "link %s: now host %s (id %016llx), was "
		    "%s", l->addr, p->host, (unsigned long long)p->host_id,
		    l->host);
	}
	conn_counts_to(c, l);
	if (l->dial == c)
		l->dial = NULL;
	l->host_id = p->host_id;
	strlcpy(l->host, p->host, sizeof(l->host));
	c->state = C_UP;
	c->last_in_ns = now;
	f->dirty = true;
	if ((old = l->up) != NULL) {
		if (conn_wins(f, old, c)) {
			flog(f, LOG_DEBUG, "link %s (%s): second connection "
			    "closed (one per pair)", l->host, c->addr);
			c->link = NULL;
			conn_counts_to(c, l);
			conn_free(f, c);
			return false;
		}
		flog(f, LOG_DEBUG, "link %s (%s): second connection kept, "
		    "the older one closed (one per pair)", l->host, c->addr);
		old->link = NULL;
		conn_counts_to(old, l);
		conn_free(f, old);
		l->up = c;
	} else {
		l->up = c;
		l->up_since_ns = shmq__real_ns();
		if (l->ever_up)
			l->reconnects++;
		l->ever_up = true;
		l->backoff_ms = f->c.backoff_min_ms;
		l->last_error[0] = '\0';
		flog(f, LOG_NOTICE, "link %s (%s): up, %s, %s", l->host,
		    c->addr, c->outbound ? "dialed" : "accepted",
		    fed_tls_desc(c->tls, desc, sizeof(desc)));
	}
	l->last_frame_ns = shmq__real_ns();
	send_heartbeat(f, c, now);
	send_register(f, c, now);
	return true;
}

/* ------------------------------------------------------------------ */
/* Frames                                                              */
/* ------------------------------------------------------------------ */

/* The table changed (HOST_ID's registration, if not 0): fence what a
 * promoted peer took over (fence.h), mark stale homes (route.h). */
static void
route_changes(struct fed *f, uint64_t host_id, const char *host)
{
	const struct fed_host_routes *hr;

	if (host_id != 0 && (hr = fed_routes_host(&f->rt, host_id)) != NULL &&
	    fed_fence_check(f->bus, host, hr->e, hr->n, f->c.log) > 0)
		f->last_local_ns = 0;	/* register FENCED at once */
	fed_routes_mark(&f->rt);
}

static int
take_register(struct fed *f, struct conn *c, const struct fed_frame *fr,
    uint64_t now)
{
	struct fed_route_entry *e;
	struct fed_route_reg r;
	size_t max = fed_route_reg_max_entries(fr->length);
	int rc;

	if ((e = reallocarray(NULL, max > 0 ? max : 1, sizeof(*e))) == NULL)
		return SHMQ_ENOMEM;
	rc = fed_route_reg_decode(fr->payload, fr->length, &r, e, max);
	if (rc < 0) {
		free(e);
		return SHMQ_EPROTO;
	}
	if (r.host_id != c->hs.peer.host_id) {
		free(e);
		return SHMQ_EPROTO;	/* only its own topics */
	}
	rc = fed_routes_register(&f->rt, r.host_id, c->hs.peer.host, &r, now);
	free(e);
	if (rc == 1) {
		route_changes(f, r.host_id, c->hs.peer.host);
		f->dirty = true;
		flog(f, LOG_DEBUG, "link %s: %u routes registered",
		    c->hs.peer.host, r.total);
	}
	return rc < 0 ? rc : 0;
}

static int
take_query(struct fed *f, struct conn *c, const struct fed_frame *fr)
{
	struct fed_route_query q;
	struct fed_route_answer *a;
	struct fed_wbuf w = scratch(f);
	int rc;

	if (fed_route_query_decode(fr->payload, fr->length, &q) < 0)
		return SHMQ_EPROTO;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return SHMQ_ENOMEM;
	a->id = q.id;
	fed_routes_answer(&f->rt, f->me.host_id, f->me.host, q.topic, a);
	rc = fed_route_answer_encode(&w, a);
	free(a);
	if (rc < 0)
		return SHMQ_ELIMIT;
	return conn_send(c, FED_T_ROUTE_ANSWER, w.p, w.len);
}

/* One frame on an up connection.  0, or a code to close it with. */
static int
take_frame(struct fed *f, struct conn *c, const struct fed_frame *fr,
    uint64_t now)
{
	struct fed_heartbeat hb;
	struct fed_error e;
	struct fed_route_answer *a;
	int rc = 0;

	switch (fr->type) {
	case FED_T_HEARTBEAT:
		if (fed_heartbeat_decode(fr->payload, fr->length, &hb) < 0)
			return SHMQ_EPROTO;
		return 0;
	case FED_T_ROUTE_REGISTER:
		return take_register(f, c, fr, now);
	case FED_T_ROUTE_QUERY:
		return take_query(f, c, fr);
	case FED_T_ROUTE_ANSWER:
		if ((a = malloc(sizeof(*a))) == NULL)
			return SHMQ_ENOMEM;
		rc = fed_route_answer_decode(fr->payload, fr->length, a);
		free(a);
		return rc < 0 ? SHMQ_EPROTO : 0;
	case FED_T_ERROR:
		if (fed_error_decode(fr->payload, fr->length, &e) < 0)
			return SHMQ_EPROTO;
		flog(f, LOG_WARNING, "link %s: peer error %s: %s",
		    c->hs.peer.host, shmq_err_name(e.code), e.msg);
		return e.code < 0 ? e.code : SHMQ_EPROTO;
	default:
		/* The handshake's frames, again: out of turn. */
		return SHMQ_EPROTO;
	}
}

/* A handshake frame on C.  0 to go on, or -1 when C was closed. */
static int
take_hs(struct fed *f, struct conn *c, const struct fed_frame *fr,
    uint64_t now)
{
	struct fed_wbuf w = scratch(f);
	unsigned type;
	char why[224];
	int rc;

	rc = fed_hs_input(&c->hs, fr, &w, &type);
	if (type != 0)
		(void)conn_send(c, type, w.p, w.len);
	/* A replication channel: not the link, a thread's (repl.h). */
	if (rc == 1 && !c->outbound && c->hs.peer.channel == FED_CHAN_REPL)
		return 1;
	if (rc == 1)
		return conn_up(f, c, now) ? 0 : -1;
	if (rc == 0)
		return 0;
	snprintf(why, sizeof(why), "%s: %s", shmq_err_name(rc), c->hs.why);
	if (rc == SHMQ_EAUTH) {
		if (c->link != NULL)
			c->link->auth_failures++;
		else
			f->auth_failures++;
		flog(f, LOG_ERR, "%s %s: authentication failed (%s): "
		    "connection closed", c->outbound ? "peer" :
		    "connection from", c->addr, c->hs.why);
	} else {
		if (c->link == NULL)
			f->rejected++;
		else
			c->link->rejected++;
		flog(f, LOG_WARNING, "%s %s: handshake failed: %s: "
		    "connection closed", c->outbound ? "peer" :
		    "connection from", c->addr, why);
	}
	if (type == FED_T_ERROR) {
		/* The refusal goes out first; nothing more is read. */
		c->closing = true;
		c->rlen = 0;
		if (c->link != NULL)
			link_error(c->link, "%s", why);
		return -1;
	}
	conn_close(f, c, why, true);
	return -1;
}

/*
 * C authenticated as a replication channel: give its socket, its TLS
 * session (with what TLS has read and not yet returned), what is left to
 * write and what was read past the handshake (from OFF) to a thread of
 * the replication table, and forget it here.
 */
static void
hand_over(struct fed *f, struct conn *c, size_t off)
{
	struct fed_tls_sess *tls = c->tls;
	int fd = c->fd;

	f->npending--;
	f->dirty = true;
	c->fd = -1;
	c->tls = NULL;
	fed_repl_accept(f->repl, fd, tls, c->wbuf, c->wlen, c->rbuf + off,
	    c->rlen - off, &c->hs.peer, c->seq_out);
	conn_free(f, c);
}

/*
 * Decode and take what C's buffer holds.  0, or -1 when C was closed (or
 * is closing).
 */
static int
conn_frames(struct fed *f, struct conn *c, uint64_t now)
{
	struct fed_frame fr;
	uint32_t max;
	size_t off = 0;
	char why[160];
	int n, rc;

	while (!c->closing) {
		/* The limit changes once the handshake is done. */
		max = c->state == C_UP ? f->c.max_frame : FED_PREAUTH_MAX;
		n = fed_frame_decode(c->rbuf + off, c->rlen - off, max, &fr);
		if (n == 0)
			break;
		if (n < 0) {
			snprintf(why, sizeof(why), "%s: %s%s%s",
			    shmq_err_name(fed_frame_shmq_err(n)),
			    fed_frame_strerror(n), c->state == C_UP ? "" :
			    " before authentication", c->state != C_UP &&
			    c->tls == NULL && c->rlen - off > 0 &&
			    c->rbuf[off] == 0x16 ? " (a TLS handshake: the "
			    "peer has tls on, this host off)" : "");
			flog(f, LOG_WARNING, "%s %s: %s: connection cut",
			    c->outbound ? "peer" : "connection from",
			    c->addr, why);
			if (c->state != C_UP) {
				if (c->link != NULL)
					c->link->rejected++;
				else
					f->rejected++;
			}
			if (c->state == C_UP)
				send_error(f, c, fed_frame_shmq_err(n),
				    fed_frame_strerror(n));
			conn_close(f, c, why, true);
			return -1;
		}
		off += (size_t)n;
		c->last_in_ns = now;
		if (c->link != NULL) {
			c->link->frames_in++;
			c->link->last_frame_ns = shmq__real_ns();
		} else
			c->frames_in++;
		if (c->state != C_UP) {
			if ((rc = take_hs(f, c, &fr, now)) < 0)
				return -1;
			if (rc == 1) {
				hand_over(f, c, off);
				return -1;
			}
			/* Taken (FR points into the buffer until now): the
			 * rest is decoded under the limit the handshake
			 * has left. */
			memmove(c->rbuf, c->rbuf + off, c->rlen - off);
			c->rlen -= off;
			off = 0;
			continue;
		}
		if ((rc = take_frame(f, c, &fr, now)) < 0) {
			snprintf(why, sizeof(why), "%s (%s frame)",
			    shmq_err_name(rc), fed_type_name(fr.type));
			flog(f, LOG_WARNING, "link %s: %s: connection cut",
			    c->hs.peer.host, why);
			if (rc == SHMQ_EPROTO)
				send_error(f, c, rc, "malformed frame");
			conn_close(f, c, why, true);
			return -1;
		}
	}
	if (off > 0) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	return c->closing ? -1 : 0;
}

/*
 * Make room in C's read buffer for the frame being read: RBUF_INIT to
 * start with, its whole size once its header is there (the decoder has
 * checked that length against the limit), never more than the limit.
 */
static int
rbuf_room(struct fed *f, struct conn *c)
{
	size_t want, limit;
	uint32_t plen;
	uint8_t *nb;

	limit = FED_HDR_BYTES + (c->state == C_UP ? f->c.max_frame :
	    FED_PREAUTH_MAX);
	want = RBUF_INIT < limit ? RBUF_INIT : limit;
	if (c->rcap > want)
		want = c->rcap;
	if (c->rlen >= 12) {
		plen = (uint32_t)c->rbuf[8] << 24 | (uint32_t)c->rbuf[9] << 16 |
		    (uint32_t)c->rbuf[10] << 8 | c->rbuf[11];
		if (FED_HDR_BYTES + (size_t)plen > want)
			want = FED_HDR_BYTES + (size_t)plen;
	}
	if (want > limit)
		want = limit;
	if (want <= c->rcap)
		return 0;
	if ((nb = realloc(c->rbuf, want)) == NULL)
		return SHMQ_ENOMEM;
	c->rbuf = nb;
	c->rcap = want;
	return 0;
}

static void
conn_read(struct fed *f, struct conn *c, uint64_t now)
{
	ssize_t n;

	for (;;) {
		if (rbuf_room(f, c) < 0) {
			conn_close(f, c, "out of memory", true);
			return;
		}
		if (c->rlen == c->rcap) {
			/* Full, and not a frame: cannot happen after the
			 * decoder's checks, but never spin on it. */
			conn_close(f, c, "frame does not fit", true);
			return;
		}
		n = fed_tls_read(c->fd, c->tls, c->rbuf + c->rlen,
		    c->rcap - c->rlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			char why[224];

			if (c->tls != NULL && c->state != C_UP) {
				/* TLS 1.3: a dialer learns that its
				 * certificate was refused here, after its
				 * own handshake step succeeded. */
				tls_failed(f, c, n == 0 || errno ==
				    ECONNRESET ? -ECONNRESET : errno ==
				    EACCES ? SHMQ_EAUTH : SHMQ_EPROTO,
				    fed_tls_why(c->tls));
				return;
			}
			snprintf(why, sizeof(why), "%s", n == 0 ?
			    "closed by the peer" : c->tls != NULL ?
			    fed_tls_why(c->tls) : strerror(errno));
			conn_close(f, c, why, c->state != C_UP);
			return;
		}
		c->rlen += (size_t)n;
		if (c->link != NULL)
			c->link->bytes_in += (uint64_t)n;
		else
			c->bytes_in += (uint64_t)n;
		f->dirty = true;
		if (conn_frames(f, c, now) < 0)
			return;
	}
}

/* Write what is queued.  0, or -1 when C was closed. */
static int
conn_flush(struct fed *f, struct conn *c)
{
	ssize_t n;

	while (c->wlen > 0) {
		n = fed_tls_write(c->fd, c->tls, c->wbuf, c->wlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0) {
			char why[96];

			snprintf(why, sizeof(why), "send: %s", c->tls != NULL ?
			    fed_tls_why(c->tls) : strerror(errno));
			conn_close(f, c, why, c->state != C_UP);
			return -1;
		}
		memmove(c->wbuf, c->wbuf + n, c->wlen - (size_t)n);
		c->wlen -= (size_t)n;
		if (c->link != NULL)
			c->link->bytes_out += (uint64_t)n;
		else
			c->bytes_out += (uint64_t)n;
	}
	if (c->closing) {
		conn_close(f, c, NULL, true);
		return -1;
	}
	return 0;
}

static int
set_sock(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static struct conn *
conn_new(struct fed *f, int fd, bool outbound, const char *addr)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->fd = fd;
	c->outbound = outbound;
	strlcpy(c->addr, addr, sizeof(c->addr));
	c->next = f->conns;
	f->conns = c;
	return c;
}

/* Begin our handshake (auth.h) on C, inside TLS if on.  False if C was
 * closed. */
static bool
hs_begin(struct fed *f, struct conn *c)
{
	struct fed_wbuf w = scratch(f);
	unsigned type;

	c->state = C_AUTH;
	if (fed_hs_start(&c->hs, c->outbound, &f->me, &f->secret, &w,
	    &type) < 0) {
		conn_close(f, c, c->hs.why, true);
		return false;
	}
	if (type != 0)
		(void)conn_send(c, type, w.p, w.len);
	f->dirty = true;
	return true;
}

/*
 * C's TLS failed (RC, WHY as fed_tls_handshake) before it authenticated:
 * log it, count it (a certificate refused is an authentication failure,
 * anything else a rejected connection), close it.  A peer that spoke plain
 * frames to our TLS gets a plain ERROR it can read and log first.
 */
static void
tls_failed(struct fed *f, struct conn *c, int rc, const char *why)
{
	char line[256];

	snprintf(line, sizeof(line), "%s%s", why, rc == -ECONNRESET &&
	    c->outbound ? " (is tls off there?)" : "");
	if (rc == SHMQ_EAUTH) {
		if (c->link != NULL)
			c->link->auth_failures++;
		else
			f->auth_failures++;
	} else if (c->link != NULL)
		c->link->rejected++;
	else
		f->rejected++;
	flog(f, rc == SHMQ_EAUTH ? LOG_ERR : LOG_WARNING, "%s %s: TLS: %s: "
	    "connection closed", c->outbound ? "peer" : "connection from",
	    c->addr, line);
	if (fed_tls_plain(c->tls)) {
		uint8_t sink[FED_HDR_BYTES + FED_PREAUTH_MAX];

		/* Its HELLO, unread, would make our close a reset that
		 * may beat the ERROR to the peer. */
		(void)recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
		fed_tls_sess_free(c->tls);
		c->tls = NULL;
		send_error(f, c, SHMQ_EPROTO, "this host has tls on: links "
		    "need tls = on on both sides");
		c->closing = true;
		c->rlen = 0;
		return;
	}
	conn_close(f, c, line, true);
}

/* One step of C's TLS handshake; our own handshake once it is done. */
static void
conn_tls_step(struct fed *f, struct conn *c, uint64_t now)
{
	char why[200], desc[96];
	int rc;

	if ((rc = fed_tls_handshake(c->tls, why, sizeof(why))) == 0)
		return;
	if (rc < 0) {
		tls_failed(f, c, rc, why);
		return;
	}
	flog(f, LOG_DEBUG, "%s %s: %s", c->outbound ? "peer" :
	    "connection from", c->addr, fed_tls_desc(c->tls, desc,
	    sizeof(desc)));
	/* A dialer's HELLO may have come with the end of the TLS
	 * handshake, already read by TLS: poll would not say so. */
	if (hs_begin(f, c) && !c->outbound)
		conn_read(f, c, now);
}

/* Begin the handshakes on C (connected): TLS's first when on, then ours,
 * both within handshake_ms. */
static void
conn_start_hs(struct fed *f, struct conn *c, uint64_t now)
{
	c->deadline_ns = now + (uint64_t)f->c.handshake_ms * MS;
	if (f->tls == NULL) {
		(void)hs_begin(f, c);
		return;
	}
	if (fed_tls_sess_new(&c->tls, f->tls, c->fd, c->outbound) < 0) {
		conn_close(f, c, "out of memory", true);
		return;
	}
	c->state = C_TLS;
	f->dirty = true;
	conn_tls_step(f, c, now);
}

static void
link_dial(struct fed *f, struct link *l, uint64_t now)
{
	struct addrinfo hints, *ai = NULL, *a;
	char host[FED_ADDR_MAX + 1], port[8];
	const char *errstr = NULL;
	struct conn *c;
	int fd = -1, rc;

	if (fed_addr_split(l->addr, host, sizeof(host), port, &errstr) < 0)
		return;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	/* Blocks on a DNS name; peers are best given as addresses. */
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		link_error(l, "%s: %s", host, gai_strerror(rc));
		link_backoff(f, l, now);
		f->dirty = true;
		return;
	}
	for (a = ai; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
		    a->ai_protocol);
		if (fd < 0)
			continue;
		if (set_sock(fd) < 0 || (connect(fd, a->ai_addr,
		    a->ai_addrlen) < 0 && errno != EINPROGRESS)) {
			link_error(l, "connect: %s", strerror(errno));
			close(fd);
			fd = -1;
			continue;
		}
		break;
	}
	freeaddrinfo(ai);
	if (fd < 0 || (c = conn_new(f, fd, true, l->addr)) == NULL) {
		if (fd >= 0)
			close(fd);
		link_backoff(f, l, now);
		f->dirty = true;
		return;
	}
	c->link = l;
	c->state = C_CONNECTING;
	c->deadline_ns = now + (uint64_t)f->c.handshake_ms * MS;
	l->dial = c;
	f->dirty = true;
}

/* A dialed connection is writable: connected, or failed. */
static void
conn_connected(struct fed *f, struct conn *c, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);
	char why[96];

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		snprintf(why, sizeof(why), "connect: %s", strerror(err));
		conn_close(f, c, why, true);
		return;
	}
	conn_start_hs(f, c, now);
}

static void
sockaddr_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, h, sizeof(h));
		snprintf(buf, len, "%s:%u", h, ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, h, sizeof(h));
		snprintf(buf, len, "[%s]:%u", h, ntohs(s->sin6_port));
	} else
		strlcpy(buf, "?", len);
}

static void
accept_all(struct fed *f, uint64_t now)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char name[FED_ADDR_MAX + 1];
	struct conn *c;
	int fd;

	for (;;) {
		sl = sizeof(ss);
		fd = accept4(f->lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		sockaddr_name(&ss, name, sizeof(name));
		if (f->npending >= FED_PENDING_MAX) {
			flog(f, LOG_WARNING, "connection from %s: %u "
			    "handshakes already pending: refused", name,
			    f->npending);
			f->rejected++;
			close(fd);
			continue;
		}
		(void)set_sock(fd);
		if ((c = conn_new(f, fd, false, name)) == NULL) {
			close(fd);
			continue;
		}
		f->npending++;
		flog(f, LOG_DEBUG, "connection from %s", name);
		conn_start_hs(f, c, now);
	}
}

/* ------------------------------------------------------------------ */
/* Status file                                                         */
/* ------------------------------------------------------------------ */

/* A route's SHMQ_FED_ROUTE_* for the status file. */
static uint32_t
route_status_flags(const struct fed_route_entry *e)
{
	uint8_t fl = fed_route_flags(e);

	return ((fl & FED_ROUTE_HOME) ? SHMQ_FED_ROUTE_HOME : 0) |
	    ((fl & FED_ROUTE_FENCED) ? SHMQ_FED_ROUTE_FENCED : 0);
}

static void
publish(struct fed *f, uint64_t now)
{
	struct shmq_fed_hdr *h;
	struct shmq_fed_link *fl;
	struct shmq_fed_route *fr;
	size_t nroutes = f->rt.nlocal, i, j, k, len;
	uint8_t *buf;

	for (i = 0; i < f->rt.nhosts; i++)
		nroutes += f->rt.hosts[i].n;
	len = sizeof(*h) + f->nlinks * sizeof(*fl) + nroutes * sizeof(*fr);
	if (len > SHMQ_FED_FILE_MAX || (buf = calloc(1, len)) == NULL) {
		flog(f, LOG_ERR, "federation table: %zu bytes: not written",
		    len);
		return;
	}
	h = (struct shmq_fed_hdr *)buf;
	h->magic = SHMQ_FED_MAGIC;
	h->version = SHMQ_FED_VERSION;
	h->hdr_bytes = sizeof(*h);
	h->link_bytes = sizeof(*fl);
	h->route_bytes = sizeof(*fr);
	h->nlinks = (uint32_t)f->nlinks;
	h->nroutes = (uint32_t)nroutes;
	h->host_id = f->me.host_id;
	h->written_ns = shmq__real_ns();
	h->pid = (int32_t)getpid();
	strlcpy(h->host, f->me.host, sizeof(h->host));
	strlcpy(h->listen, f->me.listen, sizeof(h->listen));
	h->rejected = f->rejected;
	h->auth_failures = f->auth_failures;
	fl = (struct shmq_fed_link *)(h + 1);
	for (i = 0; i < f->nlinks; i++, fl++) {
		const struct link *l = f->links[i];
		const struct fed_host_routes *hr = l->host_id != 0 ?
		    fed_routes_host(&f->rt, l->host_id) : NULL;

		strlcpy(fl->host, l->host, sizeof(fl->host));
		strlcpy(fl->addr, l->addr, sizeof(fl->addr));
		fl->host_id = l->host_id;
		fl->state = link_state(l);
		fl->flags = (l->configured ? SHMQ_FED_LINK_CONFIGURED : 0) |
		    (l->up != NULL && !l->up->outbound ?
		    SHMQ_FED_LINK_INBOUND : 0) |
		    /* Up: what its connection is; down: what the next
		     * will be. */
		    ((l->up != NULL ? l->up->tls != NULL : f->tls != NULL) ?
		    SHMQ_FED_LINK_TLS : 0);
		fl->bytes_in = l->bytes_in;
		fl->bytes_out = l->bytes_out;
		fl->frames_in = l->frames_in;
		fl->frames_out = l->frames_out;
		fl->last_heartbeat_ns = l->last_frame_ns;
		fl->up_since_ns = l->up_since_ns;
		fl->reconnects = l->reconnects;
		fl->auth_failures = l->auth_failures;
		fl->rejected = l->rejected;
		fl->routes = hr != NULL ? hr->n : 0;
		fed_repl_behind(f->repl, l->host_id, &fl->behind_msgs,
		    &fl->behind_bytes);
		strlcpy(fl->last_error, l->last_error, sizeof(fl->last_error));
	}
	fr = (struct shmq_fed_route *)fl;
	for (j = 0; j < f->rt.nlocal; j++, fr++) {
		strlcpy(fr->topic, f->rt.local[j].topic, sizeof(fr->topic));
		strlcpy(fr->host, f->me.host, sizeof(fr->host));
		fr->host_id = f->me.host_id;
		fr->queues = f->rt.local[j].queues;
		fr->flags = SHMQ_FED_ROUTE_LOCAL |
		    route_status_flags(&f->rt.local[j]);
		fr->epoch = f->rt.local[j].epoch;
		fr->updated_ns = f->rt.local_real_ns;
	}
	for (i = 0; i < f->rt.nhosts; i++) {
		const struct fed_host_routes *hr = &f->rt.hosts[i];

		for (k = 0; k < hr->n; k++, fr++) {
			strlcpy(fr->topic, hr->e[k].topic, sizeof(fr->topic));
			strlcpy(fr->host, hr->host, sizeof(fr->host));
			fr->host_id = hr->host_id;
			fr->queues = hr->e[k].queues;
			fr->flags = route_status_flags(&hr->e[k]);
			fr->epoch = hr->e[k].epoch;
			fr->updated_ns = hr->updated_real_ns;
		}
	}
	h->crc = shmq__crc32c(0xffffffffu, buf, len);
	if (shmq__file_replace(f->status_path, buf, len, &f->bus->perm,
	    false) < 0)
		flog(f, LOG_ERR, "federation table: %s", shmq_errmsg());
	free(buf);
	f->dirty = false;
	f->last_publish_ns = now;
}

/* ------------------------------------------------------------------ */
/* The thread                                                          */
/* ------------------------------------------------------------------ */

static void
expired(void *arg, const char *host, size_t n)
{
	struct fed *f = arg;

	flog(f, LOG_NOTICE, "routes of %s expired (%zu topics): no "
	    "registration for %u ms", host, n, f->c.expire_ms);
}

/* Timers: dials, deadlines, heartbeats, registrations, expiry. */
static void
timers(struct fed *f, uint64_t now)
{
	struct conn *c, *next;
	uint64_t hb = (uint64_t)f->c.heartbeat_ms * MS;
	uint64_t reg = (uint64_t)f->c.register_ms * MS;
	bool changed = false;
	size_t i;
	int rc;

	if (now - f->last_local_ns >= (uint64_t)LOCAL_MS * MS ||
	    f->last_local_ns == 0) {
		f->last_local_ns = now;
		rc = fed_routes_local_refresh(&f->rt, f->bus);
		if (rc < 0)
			flog(f, LOG_ERR, "local topics: %s", shmq_errmsg());
		changed = rc == 1;
		if (changed) {
			route_changes(f, 0, NULL);
			f->dirty = true;
		}
	}
	for (i = 0; i < f->nlinks; i++) {
		struct link *l = f->links[i];

		if (l->configured && l->up == NULL && l->dial == NULL &&
		    now >= l->next_dial_ns)
			link_dial(f, l, now);
	}
	for (c = f->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state != C_UP) {
			if (now >= c->deadline_ns) {
				if (!c->outbound)
					f->rejected++;
				flog(f, LOG_WARNING, "%s %s: %s not done in "
				    "%u ms: connection closed", c->outbound ?
				    "peer" : "connection from", c->addr,
				    c->state == C_CONNECTING ? "connect" :
				    c->state == C_TLS ? "TLS handshake" :
				    "handshake", f->c.handshake_ms);
				conn_close(f, c, c->state == C_CONNECTING ?
				    "connect timed out" :
				    "handshake timed out", true);
			}
			continue;
		}
		if (now - c->last_in_ns >= 3 * hb) {
			conn_close(f, c, "no heartbeat for 3 periods", false);
			continue;
		}
		if (now - c->last_hb_ns >= hb)
			send_heartbeat(f, c, now);
		if (changed || now - c->last_reg_ns >= reg)
			send_register(f, c, now);
	}
	if (fed_routes_expire(&f->rt, now, (uint64_t)f->c.expire_ms * MS,
	    expired, f) > 0) {
		route_changes(f, 0, NULL);
		f->dirty = true;
	}
	if ((f->dirty && now - f->last_publish_ns >= PUBLISH_MS * MS) ||
	    now - f->last_publish_ns >= 1000 * MS)
		publish(f, now);
}

static void *
run(void *arg)
{
	struct fed *f = arg;
	struct pollfd *pfd = NULL;
	struct conn **pc = NULL, *c, *next;
	size_t cap = 0, n, i, base;
	uint64_t now;

	for (;;) {
		now = shmq__mono_ns();
		timers(f, now);
		n = 2;
		for (c = f->conns; c != NULL; c = c->next)
			n++;
		if (n > cap) {
			void *np = reallocarray(pfd, n, sizeof(*pfd));
			void *nc = np != NULL ? reallocarray(pc, n,
			    sizeof(*pc)) : NULL;

			if (np != NULL)
				pfd = np;
			if (nc == NULL) {
				usleep(TICK_MS * 1000);
				continue;
			}
			pc = nc;
			cap = n;
		}
		pfd[0].fd = f->efd;
		pfd[0].events = POLLIN;
		pfd[1].fd = f->lfd;
		pfd[1].events = POLLIN;
		base = 2;
		for (c = f->conns, i = base; c != NULL; c = c->next, i++) {
			pc[i] = c;
			pfd[i].fd = c->fd;
			/* A TLS read may wait to write, and a write to
			 * read (tls.h); plain, these are POLLIN and
			 * POLLOUT. */
			pfd[i].events = c->state == C_CONNECTING ? POLLOUT :
			    c->state == C_TLS && c->tls != NULL ?
			    fed_tls_events(c->tls, true) :
			    (short)(fed_tls_events(c->tls, true) |
			    (c->wlen > 0 ? fed_tls_events(c->tls, false) :
			    0));
			pfd[i].revents = 0;
		}
		if (poll(pfd, n, TICK_MS) < 0 && errno != EINTR)
			usleep(TICK_MS * 1000);
		if (pfd[0].revents & POLLIN)
			break;
		now = shmq__mono_ns();
		if (f->lfd >= 0 && (pfd[1].revents & POLLIN))
			accept_all(f, now);
		/* A connection closed in a pass is freed at once: look
		 * each one up again before touching it. */
		for (i = base; i < n; i++) {
			short ev = pfd[i].revents;

			for (c = f->conns; c != NULL && c != pc[i];
			    c = c->next)
				;
			if (c == NULL || ev == 0)
				continue;
			if (c->state == C_CONNECTING) {
				conn_connected(f, c, now);
				continue;
			}
			if (c->state == C_TLS && c->tls != NULL) {
				conn_tls_step(f, c, now);
				continue;
			}
			if ((ev & (fed_tls_events(c->tls, true) | POLLHUP |
			    POLLERR)) && !c->closing) {
				conn_read(f, c, now);
				for (c = f->conns; c != NULL && c != pc[i];
				    c = c->next)
					;
				if (c == NULL)
					continue;
			}
			(void)conn_flush(f, c);
		}
		/* Frames queued by timers or answers go out now (a
		 * flush frees only the connection it closes). */
		for (c = f->conns; c != NULL; c = next) {
			next = c->next;
			if (c->wlen > 0 && c->state != C_CONNECTING)
				(void)conn_flush(f, c);
		}
	}
	free(pfd);
	free(pc);
	return NULL;
}

static int
listen_on(struct fed *f, const char *addr, char *err, size_t errlen)
{
	struct addrinfo hints, *ai = NULL, *a;
	char host[FED_ADDR_MAX + 1], port[8];
	const char *errstr = NULL;
	int fd = -1, one = 1, rc, e = 0;

	if (fed_addr_split(addr, host, sizeof(host), port, &errstr) < 0) {
		snprintf(err, errlen, "listen \"%s\": %s", addr, errstr);
		return SHMQ_EINVAL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "listen \"%s\": %s", addr,
		    gai_strerror(rc));
		return SHMQ_EINVAL;
	}
	for (a = ai; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, a->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
		    listen(fd, 64) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		snprintf(err, errlen, "listen \"%s\": %s", addr, strerror(e));
		return -e;
	}
	f->lfd = fd;
	return 0;
}

int
fed_start(struct fed **out, struct shmq_bus *bus, const struct fed_conf *c,
    char *err, size_t errlen)
{
	struct fed *f;
	const char *listen_addr;
	unsigned i;
	int rc;

	*out = NULL;
	if (!c->enabled)
		return 0;
	if (c->secret_file[0] == '\0') {
		snprintf(err, errlen, "federation needs secret_file (a file "
		    "of at least %d bytes, mode 600)", FED_SECRET_MIN);
		return SHMQ_EINVAL;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return SHMQ_ENOMEM;
	}
	f->bus = bus;
	f->c = *c;
	f->c.peers = NULL;
	f->c.npeers = 0;
	f->c.mirrors = NULL;
	f->c.nmirrors = 0;
	f->lfd = f->efd = -1;
	fed_routes_init(&f->rt);
	if (fed_conf_copy_peers(&f->c, c) < 0) {
		rc = SHMQ_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((rc = fed_secret_load(&f->secret, c->secret_file, err,
	    errlen)) < 0)
		goto fail;
	if ((rc = fed_tls_new(&f->tls, c, err, errlen)) < 0)
		goto fail;
	f->pcap = f->c.max_frame;
	if ((f->pbuf = malloc(f->pcap)) == NULL) {
		rc = SHMQ_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* Who we are. */
	if (c->host[0] != '\0')
		strlcpy(f->me.host, c->host, sizeof(f->me.host));
	else if (gethostname(f->me.host, sizeof(f->me.host)) < 0 ||
	    f->me.host[0] == '\0')
		strlcpy(f->me.host, "localhost", sizeof(f->me.host));
	f->me.host[FED_HOST_MAX] = '\0';
	f->me.host_id = c->host_id != 0 ? c->host_id :
	    shmq__hash64(f->me.host, strlen(f->me.host));
	if (f->me.host_id == 0)
		f->me.host_id = 1;
	listen_addr = c->listen;
	if (listen_addr[0] == '\0') {
		static char def[32];

		snprintf(def, sizeof(def), "127.0.0.1:%d", FED_PORT_DEF);
		listen_addr = def;
	}
	if (strcmp(listen_addr, "none") != 0) {
		if ((rc = listen_on(f, listen_addr, err, errlen)) < 0)
			goto fail;
		strlcpy(f->me.listen, listen_addr, sizeof(f->me.listen));
	}
	for (i = 0; i < f->c.npeers; i++)
		if (link_new(f, f->c.peers[i], true) == NULL) {
			rc = SHMQ_ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	/* A mirror's home is a peer too (routes, and the link's figures),
	 * unless it is one already. */
	for (i = 0; i < f->c.nmirrors; i++) {
		size_t k;

		for (k = 0; k < f->nlinks; k++)
			if (strcmp(f->links[k]->addr,
			    f->c.mirrors[i].addr) == 0)
				break;
		if (k == f->nlinks &&
		    link_new(f, f->c.mirrors[i].addr, true) == NULL) {
			rc = SHMQ_ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	snprintf(f->status_path, sizeof(f->status_path), "%s/%s",
	    shmq_bus_path(bus), SHMQ_FED_FILE);
	if ((f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	/* The table first: the link thread hands it channels. */
	if ((rc = fed_repl_start(&f->repl, bus, &f->c, &f->secret, f->tls,
	    &f->me)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (pthread_create(&f->th, NULL, run, f) != 0) {
		rc = SHMQ_ENOMEM;
		snprintf(err, errlen, "cannot start the federation thread");
		fed_repl_stop(f->repl);
		goto fail;
	}
	flog(f, LOG_NOTICE, "federation: host %s (id %016llx), %s%s, %u "
	    "peers, register every %u ms, expire after %u ms%s", f->me.host,
	    (unsigned long long)f->me.host_id, f->lfd >= 0 ? "listening on " :
	    "not listening", f->lfd >= 0 ? f->me.listen : "", f->c.npeers,
	    f->c.register_ms, f->c.expire_ms, f->tls != NULL ? ", TLS" : "");
	*out = f;
	return 0;
fail:
	if (f->lfd >= 0)
		close(f->lfd);
	if (f->efd >= 0)
		close(f->efd);
	for (i = 0; i < f->nlinks; i++)
		free(f->links[i]);
	free(f->links);
	free(f->pbuf);
	fed_tls_free(f->tls);
	fed_conf_fini(&f->c);
	explicit_bzero(&f->secret, sizeof(f->secret));
	free(f);
	return rc;
}

void
fed_stop(struct fed *f)
{
	uint64_t one = 1;
	size_t i;

	if (f == NULL)
		return;
	if (write(f->efd, &one, sizeof(one)) < 0) {
		/* cannot fail on a fresh eventfd */
	}
	pthread_join(f->th, NULL);
	/* No more channels come: stop those there are. */
	fed_repl_stop(f->repl);
	while (f->conns != NULL) {
		struct conn *c = f->conns;

		(void)conn_flush(f, c);
		if (f->conns == c)
			conn_free(f, c);
	}
	(void)unlink(f->status_path);
	if (f->lfd >= 0)
		close(f->lfd);
	close(f->efd);
	for (i = 0; i < f->nlinks; i++)
		free(f->links[i]);
	free(f->links);
	fed_routes_fini(&f->rt);
	free(f->pbuf);
	fed_tls_free(f->tls);
	fed_conf_fini(&f->c);
	explicit_bzero(&f->secret, sizeof(f->secret));
	free(f);
}
