/*
 * fedinfo.c - the reader side of shmqd's federation table (layout.h,
 * "Federation status file"): shmq_fed_info, shmq_link_foreach,
 * shmq_route_foreach, shmq_route_lookup.
 *
 * Why a file and not the control region: the table is shmqd's alone, it
 * changes a few times a second at most, its size follows the number of
 * topics on every peer, and a rename makes each version whole for any
 * reader without a lock or a sequence counter in shared memory.  Readers
 * are tools and clients asking "where does this topic live", not hot paths.
 *
 * The file is untrusted input: its size is bounded, the header's record
 * sizes must be this library's, the counts must fit the size read, the CRC
 * must match, and every string is copied with its bound.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"
#include "layout.h"
#include "internal.h"

/* A table read whole: header, links, routes. */
struct fedtab {
	uint8_t				*buf;
	const struct shmq_fed_hdr	*h;
	const struct shmq_fed_link	*l;
	const struct shmq_fed_route	*r;
};

/* Copy a fixed-size field that may lack its NUL. */
static void
strfield(char *dst, size_t dlen, const char *src, size_t slen)
{
	size_t n = strnlen(src, slen);

	if (n >= dlen)
		n = dlen - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int
fedtab_read(struct shmq_bus *bus, struct fedtab *t)
{
	struct shmq_fed_hdr h;
	char path[PATH_MAX + 16];
	struct stat st;
	uint64_t need;
	uint32_t crc;
	ssize_t n;
	size_t got = 0;
	int fd;

	memset(t, 0, sizeof(*t));
	snprintf(path, sizeof(path), "%s/%s", bus->path, SHMQ_FED_FILE);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return SHMQ_ERR(SHMQ_ENOENT, "bus \"%s\": no federation "
			    "table (%s): no shmqd with federation", bus->name,
			    path);
		return shmq__err_sys(errno, "open", path);
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return shmq__err_sys(errno, "fstat", path);
	}
	if (st.st_size < (off_t)sizeof(h) || st.st_size > SHMQ_FED_FILE_MAX) {
		close(fd);
		return SHMQ_ERR(SHMQ_ECORRUPT, "%s: size %lld out of bounds",
		    path, (long long)st.st_size);
	}
	if ((t->buf = malloc((size_t)st.st_size)) == NULL) {
		close(fd);
		return SHMQ_ERR(SHMQ_ENOMEM, "%s: %lld bytes", path,
		    (long long)st.st_size);
	}
	/* A renamed-in file never changes: read it to its end. */
	while (got < (size_t)st.st_size) {
		n = read(fd, t->buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	memcpy(&h, t->buf, sizeof(h));
	if (h.magic != SHMQ_FED_MAGIC)
		goto corrupt;
	if (h.version != SHMQ_FED_VERSION || h.hdr_bytes != sizeof(h) ||
	    h.link_bytes != sizeof(struct shmq_fed_link) ||
	    h.route_bytes != sizeof(struct shmq_fed_route)) {
		free(t->buf);
		t->buf = NULL;
		return SHMQ_ERR(SHMQ_EVERSION, "%s: version %u (this library "
		    "reads %u)", path, h.version, SHMQ_FED_VERSION);
	}
	need = sizeof(h) + (uint64_t)h.nlinks * sizeof(struct shmq_fed_link) +
	    (uint64_t)h.nroutes * sizeof(struct shmq_fed_route);
	if (need != got)
		goto corrupt;
	crc = h.crc;
	((struct shmq_fed_hdr *)t->buf)->crc = 0;
	if (shmq__crc32c(0xffffffffu, t->buf, got) != crc)
		goto corrupt;
	t->h = (const struct shmq_fed_hdr *)t->buf;
	t->l = (const struct shmq_fed_link *)(t->buf + sizeof(h));
	t->r = (const struct shmq_fed_route *)(t->l + h.nlinks);
	return 0;
corrupt:
	free(t->buf);
	t->buf = NULL;
	return SHMQ_ERR(SHMQ_ECORRUPT, "%s: not a whole federation table "
	    "(magic, size or CRC)", path);
}

static void
fed_info_fill(struct shmq_bus *bus, const struct fedtab *t,
    struct shmq_fed_info *fi)
{
	struct shmq_ctl *ctl = bus->ctl;
	int pid = t->h->pid;

	memset(fi, 0, sizeof(*fi));
	strfield(fi->host, sizeof(fi->host), t->h->host, sizeof(t->h->host));
	strfield(fi->listen, sizeof(fi->listen), t->h->listen,
	    sizeof(t->h->listen));
	fi->host_id = t->h->host_id;
	fi->pid = pid;
	fi->written_ns = t->h->written_ns;
	fi->links = t->h->nlinks;
	fi->routes = t->h->nroutes;
	fi->rejected = t->h->rejected;
	fi->auth_failures = t->h->auth_failures;
	/* Alive: the bus's daemon, with the start time it stored. */
	fi->daemon_alive = pid > 0 &&
	    pid == ck_pr_load_int((int *)&ctl->daemon_pid) &&
	    shmq__proc_start(pid) == ck_pr_load_64(&ctl->daemon_start_ticks);
}

int
shmq_fed_info(struct shmq_bus *bus, struct shmq_fed_info *info)
{
	struct fedtab t;
	int r;

	if (bus == NULL || info == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "shmq_fed_info: NULL argument");
	if ((r = fedtab_read(bus, &t)) < 0)
		return r;
	fed_info_fill(bus, &t, info);
	free(t.buf);
	return 0;
}

const char *
shmq_link_state_name(unsigned state)
{
	static const char *const names[] = {
		"idle", "connecting", "authenticating", "up", "backoff"
	};

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

int
shmq_link_foreach(struct shmq_bus *bus,
    int (*cb)(void *arg, const struct shmq_link_info *info), void *arg)
{
	struct shmq_link_info li;
	struct fedtab t;
	uint32_t i;
	int r;

	if (bus == NULL || cb == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "shmq_link_foreach: NULL argument");
	if ((r = fedtab_read(bus, &t)) < 0)
		return r;
	for (i = 0; i < t.h->nlinks && r == 0; i++) {
		const struct shmq_fed_link *l = &t.l[i];

		memset(&li, 0, sizeof(li));
		strfield(li.host, sizeof(li.host), l->host, sizeof(l->host));
		strfield(li.addr, sizeof(li.addr), l->addr, sizeof(l->addr));
		strfield(li.last_error, sizeof(li.last_error), l->last_error,
		    sizeof(l->last_error));
		li.host_id = l->host_id;
		li.state = l->state;
		li.configured = (l->flags & SHMQ_FED_LINK_CONFIGURED) != 0;
		li.inbound = (l->flags & SHMQ_FED_LINK_INBOUND) != 0;
		li.tls = (l->flags & SHMQ_FED_LINK_TLS) != 0;
		li.bytes_in = l->bytes_in;
		li.bytes_out = l->bytes_out;
		li.frames_in = l->frames_in;
		li.frames_out = l->frames_out;
		li.last_heartbeat_ns = l->last_heartbeat_ns;
		li.up_since_ns = l->up_since_ns;
		li.reconnects = l->reconnects;
		li.auth_failures = l->auth_failures;
		li.rejected = l->rejected;
		li.behind_bytes = l->behind_bytes;
		li.behind_msgs = l->behind_msgs;
		li.routes = l->routes;
		r = cb(arg, &li);
	}
	free(t.buf);
	return r;
}

static void
route_fill(const struct shmq_fed_route *s, struct shmq_route_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	strfield(ri->topic, sizeof(ri->topic), s->topic, sizeof(s->topic));
	strfield(ri->host, sizeof(ri->host), s->host, sizeof(s->host));
	ri->host_id = s->host_id;
	ri->queues = s->queues;
	ri->home = (s->flags & SHMQ_FED_ROUTE_HOME) != 0;
	ri->local = (s->flags & SHMQ_FED_ROUTE_LOCAL) != 0;
	ri->updated_ns = s->updated_ns;
	ri->epoch = s->epoch > 0 ? s->epoch : 1;
	ri->fenced = (s->flags & SHMQ_FED_ROUTE_FENCED) != 0;
}

/* Compare TOPIC with a route's bounded topic field. */
static bool
route_is(const struct shmq_fed_route *s, const char *topic)
{
	size_t n = strlen(topic);

	return n < sizeof(s->topic) && strncmp(s->topic, topic, n) == 0 &&
	    s->topic[n] == '\0';
}

int
shmq_route_foreach(struct shmq_bus *bus, const char *topic,
    int (*cb)(void *arg, const struct shmq_route_info *info), void *arg)
{
	struct shmq_route_info ri;
	struct fedtab t;
	uint32_t i;
	int r;

	if (bus == NULL || cb == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "shmq_route_foreach: NULL "
		    "argument");
	if (topic != NULL && shmq_name_check(topic) < 0)
		return SHMQ_ENAME;
	if ((r = fedtab_read(bus, &t)) < 0)
		return r;
	for (i = 0; i < t.h->nroutes && r == 0; i++) {
		if (topic != NULL && !route_is(&t.r[i], topic))
			continue;
		route_fill(&t.r[i], &ri);
		r = cb(arg, &ri);
	}
	free(t.buf);
	return r;
}

int
shmq_route_lookup(struct shmq_bus *bus, const char *topic,
    struct shmq_route_info *out, size_t max)
{
	struct fedtab t;
	uint32_t i;
	size_t n = 0;
	int r, pass;

	if (bus == NULL || topic == NULL || (out == NULL && max > 0))
		return SHMQ_ERR(SHMQ_EINVAL, "shmq_route_lookup: NULL "
		    "argument");
	if (shmq_name_check(topic) < 0)
		return SHMQ_ENAME;
	if ((r = fedtab_read(bus, &t)) < 0)
		return r;
	/* The home first, then the others. */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < t.h->nroutes; i++) {
			const struct shmq_fed_route *s = &t.r[i];
			bool home = (s->flags & SHMQ_FED_ROUTE_HOME) != 0;

			if (home != (pass == 0) || !route_is(s, topic))
				continue;
			if (n < max)
				route_fill(s, &out[n]);
			n++;
		}
	free(t.buf);
	return n > (size_t)0x7fffffff ? 0x7fffffff : (int)n;
}
