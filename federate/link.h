/*
 * link.h - shmqd's federation thread: peer links and the route table
 * (doc/federation.md).
 *
 * One thread runs everything with non-blocking sockets and poll(2): it
 * listens (loopback by default), dials each configured peer, runs the
 * handshake (auth.h) under a deadline, then heartbeats and route
 * registrations (route.h), and publishes its links and routes in the
 * store for shmq_link_foreach / shmq_route_lookup (layout.h, "Federation
 * status file").
 *
 * Links.  One per peer host.  A configured peer (`peer = HOST:PORT`) is
 * dialed, and dialed again after a failure with exponential backoff and
 * jitter (reconnect_min_ms doubling up to reconnect_max_ms, each wait
 * drawn from [b/2, b]); a peer that dials us gets a link too.  When both
 * sides dial, both keep the connection dialed by the lower host id and
 * close the other, so a pair ends with one connection.  A link is dropped
 * (and dialed again) after 3 heartbeat periods without a frame.
 *
 * States: connecting -> authenticating -> up; backoff between attempts;
 * idle for a link only the peer dials, while it is down.
 */
#ifndef FED_LINK_H
#define FED_LINK_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "frame.h"

struct shmq_bus;

#define FED_PORT_DEF		9876
#define FED_REGISTER_MS_DEF	30000	/* RocketMQ: brokers register every 30 s */
#define FED_EXPIRE_MS_DEF	120000	/* and are dropped after 120 s */
#define FED_HEARTBEAT_MS_DEF	5000
#define FED_HANDSHAKE_MS_DEF	5000
#define FED_BACKOFF_MIN_MS_DEF	100
#define FED_BACKOFF_MAX_MS_DEF	30000
#define FED_PENDING_MAX		64	/* unauthenticated inbound at once */

/* A topic this bus mirrors, and where its home listens. */
struct fed_mirror {
	char		 topic[FED_TOPIC_MAX + 1];
	char		 addr[FED_ADDR_MAX + 1];
};

struct fed_conf {
	bool		 enabled;	/* any federation key given */
	char		 host[FED_HOST_MAX + 1];   /* "": gethostname() */
	uint64_t	 host_id;	/* 0: from the name */
	char		 listen[FED_ADDR_MAX + 1]; /* "": 127.0.0.1:9876;
						      "none": no listener */
	char		 (*peers)[FED_ADDR_MAX + 1]; /* malloc'd */
	unsigned	 npeers;
	struct fed_mirror *mirrors;	/* malloc'd */
	unsigned	 nmirrors;
	char		 secret_file[PATH_MAX];
	uint32_t	 register_ms;
	uint32_t	 expire_ms;
	uint32_t	 heartbeat_ms;
	uint32_t	 handshake_ms;
	uint32_t	 backoff_min_ms;
	uint32_t	 backoff_max_ms;
	uint32_t	 max_frame;	/* payload bytes */
	unsigned	 set;		/* FED_SET_*: what was given */
	/* Where to log (shmqd's log_msg); syslog levels. */
	void		(*log)(int level, const char *fmt, ...)
			    __attribute__((format(printf, 2, 3)));
	/* TLS under every connection (tls.h): off by default. */
	bool		 tls;
	char		 tls_cert[PATH_MAX];	/* this host's chain, PEM */
	char		 tls_key[PATH_MAX];	/* its key, PEM, mode 600 */
	char		 tls_ca[PATH_MAX];	/* peers' certificates chain
						   to these, PEM */
	/* shmqd's delay levels (ms; ndelay 0: the default table): a
	 * forwarded delayed message's level is the home's (fwdin.c). */
	uint32_t	 delay_ms[18];
	uint32_t	 ndelay;
};

/* Bits of fed_conf.set. */
#define FED_SET_HOST		0x0001
#define FED_SET_HOST_ID		0x0002
#define FED_SET_LISTEN		0x0004
#define FED_SET_PEERS		0x0008
#define FED_SET_SECRET		0x0010
#define FED_SET_REGISTER	0x0020
#define FED_SET_EXPIRE		0x0040
#define FED_SET_HEARTBEAT	0x0080
#define FED_SET_HANDSHAKE	0x0100
#define FED_SET_BACKOFF_MIN	0x0200
#define FED_SET_BACKOFF_MAX	0x0400
#define FED_SET_MAX_FRAME	0x0800
#define FED_SET_MIRRORS		0x1000
/* TLS's keys (high bits: the low ones are for keys to come). */
#define FED_SET_TLS		0x01000000
#define FED_SET_TLS_CERT	0x02000000
#define FED_SET_TLS_KEY		0x04000000
#define FED_SET_TLS_CA		0x08000000

/* The defaults above (federation off). */
void fed_conf_defaults(struct fed_conf *c);

/*
 * Take config key KEY = V (fedconf.c lists them; the command line's
 * overrides use the same names).  Any of them turns federation on.
 * Returns 1 (taken), 0 (bad value: message in ERR), -1 (not a federation
 * key).
 */
int fed_conf_key(struct fed_conf *c, const char *key, const char *v,
    char *err, size_t errlen);

/* After all keys: 0, or -1 with ERR (no secret file, min above max). */
int fed_conf_check(const struct fed_conf *c, char *err, size_t errlen);

/* Apply over DST what SRC's keys set (SRC->set); SRC's peers replace
 * DST's.  0, or -1 (no memory). */
int fed_conf_override(struct fed_conf *dst, const struct fed_conf *src);

/* Split "HOST:PORT" or "[V6]:PORT" into HOST[LEN] and PORT[8].  0 or -1
 * with *ERRSTR. */
int fed_addr_split(const char *addr, char *host, size_t len, char *port,
    const char **errstr);

/* Free what fed_conf_add_peer allocated. */
void fed_conf_fini(struct fed_conf *c);

/* Append a peer "HOST:PORT".  0, or -1 with *ERRSTR (bad form, no
 * memory). */
int fed_conf_add_peer(struct fed_conf *c, const char *addr,
    const char **errstr);

/* Check "HOST:PORT" (numeric port 1..65535, host 1..FED_ADDR_MAX).  0 or
 * -1 with *ERRSTR. */
int fed_addr_check(const char *addr, const char **errstr);

/* Copy SRC's peers and mirrors into DST (replacing DST's).  0 or -1 (no
 * memory). */
int fed_conf_copy_peers(struct fed_conf *dst, const struct fed_conf *src);

/* Append a mirror "TOPIC@HOST:PORT".  0, or -1 with *ERRSTR. */
int fed_conf_add_mirror(struct fed_conf *c, const char *v,
    const char **errstr);

struct fed;

/*
 * Start the federation thread for BUS with C (copied).  Reads the secret
 * file, binds the listener (so a port in use fails here, not later).
 * Returns 0 and *out, or a negative code with a message in ERR.  A
 * disabled C starts nothing (*out NULL, 0).
 */
int fed_start(struct fed **out, struct shmq_bus *bus, const struct fed_conf *c,
    char *err, size_t errlen);

/* Stop the thread, close every link, remove the status file.  NULL: no-op. */
void fed_stop(struct fed *f);

#endif
