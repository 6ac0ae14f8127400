/*
 * fedconf.c - the federation's settings (struct fed_conf, link.h): the
 * defaults, the config file's keys and command-line overrides, which shmqd's
 * conf.c hands over here so that the keys live beside what they set.
 *
 *	host = alpha			# default: gethostname()
 *	host_id = 12345			# default: a hash of host
 *	listen = 127.0.0.1:9876		# or none (dial only)
 *	peer = 10.0.0.2:9876		# repeatable
 *	mirror = orders@10.0.0.2:9876	# repeatable: keep a mirror of the
 *					# topic whose home listens there
 *	secret_file = /etc/shmq/secret	# mode 600, >= 16 bytes
 *	route_register_ms = 30000
 *	route_expire_ms = 120000
 *	heartbeat_ms = 5000		# a link dies after 3 silent periods
 *	handshake_ms = 5000		# connect + handshake deadline
 *	reconnect_min_ms = 100
 *	reconnect_max_ms = 30000
 *	max_frame_bytes = 1048576
 *	tls = off			# on: TLS under every connection
 *	tls_cert = /etc/shmq/host.pem	# this host's certificate (chain)
 *	tls_key = /etc/shmq/host.key	# its key, mode 600
 *	tls_ca = /etc/shmq/ca.pem	# peers' certificates chain to it
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "auth.h"
#include "link.h"
#include "tls.h"


void
fed_conf_defaults(struct fed_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->register_ms = FED_REGISTER_MS_DEF;
	c->expire_ms = FED_EXPIRE_MS_DEF;
	c->heartbeat_ms = FED_HEARTBEAT_MS_DEF;
	c->handshake_ms = FED_HANDSHAKE_MS_DEF;
	c->backoff_min_ms = FED_BACKOFF_MIN_MS_DEF;
	c->backoff_max_ms = FED_BACKOFF_MAX_MS_DEF;
	c->max_frame = FED_PAYLOAD_DEF;
}

void
fed_conf_fini(struct fed_conf *c)
{
	free(c->peers);
	c->peers = NULL;
	c->npeers = 0;
	free(c->mirrors);
	c->mirrors = NULL;
	c->nmirrors = 0;
}

/* Split "HOST:PORT" or "[V6]:PORT" into HOST[len] and PORT[8]. */
int
fed_addr_split(const char *addr, char *host, size_t len, char *port,
    const char **errstr)
{
	const char *colon, *h = addr;
	size_t hl;
	long long p;

	if (strlen(addr) > FED_ADDR_MAX) {
		*errstr = "too long";
		return -1;
	}
	if (*addr == '[') {
		const char *rb = strchr(addr, ']');

		if (rb == NULL || rb[1] != ':') {
			*errstr = "expected [ADDRESS]:PORT";
			return -1;
		}
		h = addr + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL) {
			*errstr = "expected HOST:PORT";
			return -1;
		}
		hl = (size_t)(colon - addr);
	}
	if (hl == 0 || hl >= len) {
		*errstr = "no host";
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	p = strtonum(colon + 1, 1, 65535, errstr);
	if (*errstr != NULL) {
		*errstr = "port: 1 to 65535";
		return -1;
	}
	snprintf(port, 8, "%lld", p);
	return 0;
}

int
fed_addr_check(const char *addr, const char **errstr)
{
	char host[FED_ADDR_MAX + 1], port[8];

	*errstr = NULL;
	return fed_addr_split(addr, host, sizeof(host), port, errstr);
}

int
fed_conf_add_peer(struct fed_conf *c, const char *addr, const char **errstr)
{
	char (*np)[FED_ADDR_MAX + 1];

	if (fed_addr_check(addr, errstr) < 0)
		return -1;
	np = reallocarray(c->peers, c->npeers + 1, sizeof(*np));
	if (np == NULL) {
		*errstr = "out of memory";
		return -1;
	}
	c->peers = np;
	strlcpy(c->peers[c->npeers++], addr, sizeof(*np));
	return 0;
}

int
fed_conf_add_mirror(struct fed_conf *c, const char *v, const char **errstr)
{
	struct fed_mirror m, *nm;
	const char *at = strchr(v, '@');
	size_t i;

	memset(&m, 0, sizeof(m));
	if (at == NULL || at == v || (size_t)(at - v) > FED_TOPIC_MAX) {
		*errstr = "expected TOPIC@HOST:PORT";
		return -1;
	}
	memcpy(m.topic, v, (size_t)(at - v));
	if (!fed_topic_ok(m.topic) || m.topic[0] == '%') {
		*errstr = "not a topic name (letters, digits, . _ -; the "
		    "bus's own '%' topics are not replicated)";
		return -1;
	}
	if (fed_addr_check(at + 1, errstr) < 0)
		return -1;
	strlcpy(m.addr, at + 1, sizeof(m.addr));
	for (i = 0; i < c->nmirrors; i++)
		if (strcmp(c->mirrors[i].topic, m.topic) == 0) {
			*errstr = "that topic is mirrored twice";
			return -1;
		}
	if ((nm = reallocarray(c->mirrors, c->nmirrors + 1,
	    sizeof(*nm))) == NULL) {
		*errstr = "out of memory";
		return -1;
	}
	c->mirrors = nm;
	c->mirrors[c->nmirrors++] = m;
	return 0;
}

/* DST's N elements of SIZE become a copy of SRC's.  0 or -1. */
static int
copy_list(void *dstp, unsigned *dstn, const void *src, unsigned n,
    size_t size)
{
	void *np = NULL;

	if (n > 0) {
		if ((np = reallocarray(NULL, n, size)) == NULL)
			return -1;
		memcpy(np, src, n * size);
	}
	free(*(void **)dstp);
	*(void **)dstp = np;
	*dstn = n;
	return 0;
}

int
fed_conf_copy_peers(struct fed_conf *dst, const struct fed_conf *src)
{
	if (copy_list(&dst->peers, &dst->npeers, src->peers, src->npeers,
	    sizeof(*src->peers)) < 0 || copy_list(&dst->mirrors,
	    &dst->nmirrors, src->mirrors, src->nmirrors,
	    sizeof(*src->mirrors)) < 0)
		return -1;
	return 0;
}

/* The millisecond keys: name, field, bit, smallest value. */
static const struct ms_key {
	const char	*key;
	size_t		 off;
	unsigned	 bit;
	uint32_t	 min;
} ms_keys[] = {
	{ "route_register_ms", offsetof(struct fed_conf, register_ms),
	    FED_SET_REGISTER, 10 },
	{ "route_expire_ms", offsetof(struct fed_conf, expire_ms),
	    FED_SET_EXPIRE, 10 },
	{ "heartbeat_ms", offsetof(struct fed_conf, heartbeat_ms),
	    FED_SET_HEARTBEAT, 10 },
	{ "handshake_ms", offsetof(struct fed_conf, handshake_ms),
	    FED_SET_HANDSHAKE, 10 },
	{ "reconnect_min_ms", offsetof(struct fed_conf, backoff_min_ms),
	    FED_SET_BACKOFF_MIN, 1 },
	{ "reconnect_max_ms", offsetof(struct fed_conf, backoff_max_ms),
	    FED_SET_BACKOFF_MAX, 1 },
};

/* The TLS file keys: name, field, bit. */
static const struct path_key {
	const char	*key;
	size_t		 off;
	unsigned	 bit;
} tls_paths[] = {
	{ "tls_cert", offsetof(struct fed_conf, tls_cert), FED_SET_TLS_CERT },
	{ "tls_key", offsetof(struct fed_conf, tls_key), FED_SET_TLS_KEY },
	{ "tls_ca", offsetof(struct fed_conf, tls_ca), FED_SET_TLS_CA },
};

/* The TLS keys, as fed_conf_key. */
static int
tls_key(struct fed_conf *c, const char *key, const char *v, char *err,
    size_t errlen)
{
	size_t i;

	if (strcmp(key, "tls") == 0) {
		if (strcmp(v, "on") == 0 || strcmp(v, "yes") == 0)
			c->tls = true;
		else if (strcmp(v, "off") == 0 || strcmp(v, "no") == 0)
			c->tls = false;
		else {
			snprintf(err, errlen, "tls: \"%s\": on or off", v);
			return 0;
		}
		c->set |= FED_SET_TLS;
		c->enabled = true;
		return 1;
	}
	for (i = 0; i < sizeof(tls_paths) / sizeof(tls_paths[0]); i++) {
		if (strcmp(key, tls_paths[i].key) != 0)
			continue;
		if (*v == '\0' || strlcpy((char *)c + tls_paths[i].off, v,
		    PATH_MAX) >= PATH_MAX) {
			snprintf(err, errlen, "%s: empty or too long", key);
			return 0;
		}
		c->set |= tls_paths[i].bit;
		c->enabled = true;
		return 1;
	}
	return -1;
}

int
fed_conf_key(struct fed_conf *c, const char *key, const char *v, char *err,
    size_t errlen)
{
	const char *errstr = NULL;
	long long n;
	size_t i;

	for (i = 0; i < sizeof(ms_keys) / sizeof(ms_keys[0]); i++) {
		if (strcmp(key, ms_keys[i].key) != 0)
			continue;
		n = strtonum(v, ms_keys[i].min, 86400000, &errstr);
		if (errstr != NULL) {
			snprintf(err, errlen, "%s: \"%s\": %s (milliseconds, "
			    "%u to 86400000)", key, v, errstr, ms_keys[i].min);
			return 0;
		}
		*(uint32_t *)(void *)((char *)c + ms_keys[i].off) = (uint32_t)n;
		c->set |= ms_keys[i].bit;
		c->enabled = true;
		return 1;
	}
	if (strcmp(key, "host") == 0) {
		const char *p;

		for (p = v; *p != '\0'; p++)
			if (*p <= ' ' || *p >= 0x7f)
				break;
		if (*v == '\0' || *p != '\0' ||
		    strlcpy(c->host, v, sizeof(c->host)) >= sizeof(c->host)) {
			snprintf(err, errlen, "host: \"%s\": 1 to %d printable "
			    "characters, no spaces", v, FED_HOST_MAX);
			return 0;
		}
		c->set |= FED_SET_HOST;
		c->enabled = true;
		return 1;
	}
	if (strcmp(key, "host_id") == 0) {
		char *end;
		unsigned long long id = strtoull(v, &end, 0);

		if (*v == '\0' || *end != '\0' || id == 0) {
			snprintf(err, errlen, "host_id: \"%s\": a number "
			    "above 0", v);
			return 0;
		}
		c->host_id = id;
		c->set |= FED_SET_HOST_ID;
		c->enabled = true;
		return 1;
	}
	if (strcmp(key, "listen") == 0) {
		if (strcmp(v, "none") != 0 &&
		    fed_addr_check(v, &errstr) < 0) {
			snprintf(err, errlen, "listen: \"%s\": %s (or none)",
			    v, errstr);
			return 0;
		}
		strlcpy(c->listen, v, sizeof(c->listen));
		c->set |= FED_SET_LISTEN;
		c->enabled = true;
		return 1;
	}
	if (strcmp(key, "peer") == 0) {
		if (fed_conf_add_peer(c, v, &errstr) < 0) {
			snprintf(err, errlen, "peer: \"%s\": %s", v, errstr);
			return 0;
		}
		c->set |= FED_SET_PEERS;
		c->enabled = true;
		return 1;
	}
	if (strcmp(key, "mirror") == 0) {
		if (fed_conf_add_mirror(c, v, &errstr) < 0) {
			snprintf(err, errlen, "mirror: \"%s\": %s", v, errstr);
			return 0;
		}
		c->set |= FED_SET_MIRRORS;
		c->enabled = true;
		return 1;
	}
	if (strcmp(key, "secret_file") == 0) {
		if (*v == '\0' || strlcpy(c->secret_file, v,
		    sizeof(c->secret_file)) >= sizeof(c->secret_file)) {
			snprintf(err, errlen, "secret_file: empty or too long");
			return 0;
		}
		c->set |= FED_SET_SECRET;
		c->enabled = true;
		return 1;
	}
	if (strcmp(key, "max_frame_bytes") == 0) {
		n = strtonum(v, FED_PAYLOAD_MIN, FED_PAYLOAD_MAX, &errstr);
		if (errstr != NULL) {
			snprintf(err, errlen, "max_frame_bytes: \"%s\": %s "
			    "(%d to %d)", v, errstr, FED_PAYLOAD_MIN,
			    FED_PAYLOAD_MAX);
			return 0;
		}
		c->max_frame = (uint32_t)n;
		c->set |= FED_SET_MAX_FRAME;
		c->enabled = true;
		return 1;
	}
	return tls_key(c, key, v, err, errlen);
}

/* With TLS on: its three files given, and usable (a context is built
 * from them and dropped, so that shmqd refuses to start with the cause
 * rather than fail every link). */
static int
tls_check(const struct fed_conf *c, char *err, size_t errlen)
{
	struct fed_tls *t;
	size_t i;

	if (!c->tls)
		return 0;
	for (i = 0; i < sizeof(tls_paths) / sizeof(tls_paths[0]); i++)
		if (((const char *)c + tls_paths[i].off)[0] == '\0') {
			snprintf(err, errlen, "tls = on needs %s",
			    tls_paths[i].key);
			return -1;
		}
	if (fed_tls_new(&t, c, err, errlen) < 0)
		return -1;
	fed_tls_free(t);
	return 0;
}

int
fed_conf_check(const struct fed_conf *c, char *err, size_t errlen)
{
	if (!c->enabled)
		return 0;
	if (c->backoff_min_ms > c->backoff_max_ms) {
		snprintf(err, errlen, "reconnect_min_ms (%u) above "
		    "reconnect_max_ms (%u)", c->backoff_min_ms,
		    c->backoff_max_ms);
		return -1;
	}
	if (c->secret_file[0] == '\0') {
		snprintf(err, errlen, "federation keys given but no "
		    "secret_file (a file of at least %d bytes, mode 600)",
		    FED_SECRET_MIN);
		return -1;
	}
	return tls_check(c, err, errlen);
}

int
fed_conf_override(struct fed_conf *dst, const struct fed_conf *src)
{
	size_t i;

	for (i = 0; i < sizeof(ms_keys) / sizeof(ms_keys[0]); i++)
		if (src->set & ms_keys[i].bit)
			memcpy((char *)dst + ms_keys[i].off,
			    (const char *)src + ms_keys[i].off,
			    sizeof(uint32_t));
	if (src->set & FED_SET_HOST)
		memcpy(dst->host, src->host, sizeof(dst->host));
	if (src->set & FED_SET_HOST_ID)
		dst->host_id = src->host_id;
	if (src->set & FED_SET_LISTEN)
		memcpy(dst->listen, src->listen, sizeof(dst->listen));
	if (src->set & FED_SET_SECRET)
		memcpy(dst->secret_file, src->secret_file,
		    sizeof(dst->secret_file));
	if (src->set & FED_SET_MAX_FRAME)
		dst->max_frame = src->max_frame;
	if (src->set & FED_SET_TLS)
		dst->tls = src->tls;
	for (i = 0; i < sizeof(tls_paths) / sizeof(tls_paths[0]); i++)
		if (src->set & tls_paths[i].bit)
			memcpy((char *)dst + tls_paths[i].off,
			    (const char *)src + tls_paths[i].off, PATH_MAX);
	/* Peers and mirrors on the command line replace the file's. */
	if ((src->set & FED_SET_PEERS) && copy_list(&dst->peers,
	    &dst->npeers, src->peers, src->npeers, sizeof(*src->peers)) < 0)
		return -1;
	if ((src->set & FED_SET_MIRRORS) && copy_list(&dst->mirrors,
	    &dst->nmirrors, src->mirrors, src->nmirrors,
	    sizeof(*src->mirrors)) < 0)
		return -1;
	dst->set |= src->set;
	dst->enabled = dst->enabled || src->enabled;
	return 0;
}
