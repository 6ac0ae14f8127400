/*
 * route.h - the route table of the name-server role: which hosts have which
 * topics.
 *
 * As RocketMQ's name servers: every host registers its own topics with
 * each peer (ROUTE_REGISTER every route_register_ms, 30 s by default, and at
 * once when a link comes up or the local topic list changes); a peer's
 * routes are dropped route_expire_ms (120 s) after its last registration.
 * Registration is not transitive: a host knows the topics of the hosts it
 * has a link with.  Every local topic is "home here" for now (mirrors come
 * with replication); system topics ('%' names) stay local.
 *
 * Owned by the federation thread alone: no locks.
 */
#ifndef FED_ROUTE_H
#define FED_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

struct shmq_bus;

#define FED_ROUTES_HOST_MAX	(1u << 20)	/* topics one host may register */

/* The routes of one remote host. */
struct fed_host_routes {
	uint64_t		 host_id;
	char			 host[FED_HOST_MAX + 1];
	struct fed_route_entry	*e;
	size_t			 n;
	uint64_t		 updated_mono_ns; /* its last whole registration */
	uint64_t		 updated_real_ns;
	/* A registration in parts, until its last part. */
	uint64_t		 pend_gen;
	struct fed_route_entry	*pend;
	size_t			 pend_n;
	size_t			 pend_total;
};

struct fed_routes {
	struct fed_route_entry	*local;		/* this host's topics */
	size_t			 nlocal;
	uint64_t		 local_hash;	/* of the list, to see changes */
	uint64_t		 local_real_ns;	/* when it last changed */
	uint64_t		 gen;		/* registration generation */
	struct fed_host_routes	*hosts;
	size_t			 nhosts;
};

void fed_routes_init(struct fed_routes *rt);
void fed_routes_fini(struct fed_routes *rt);

/*
 * List BUS's topics again.  Returns 1 if the list changed (register it
 * with the peers), 0 if not, or a negative code (the old list stays).
 */
int fed_routes_local_refresh(struct fed_routes *rt, struct shmq_bus *bus);

/*
 * Apply part R of a registration from host HOST_ID (named HOST).  Returns 1
 * when the host's routes were replaced (last part), 0 when a part was kept
 * for later, or SHMQ_EPROTO (parts out of order: the pending ones are
 * dropped) / SHMQ_ENOMEM.
 */
int fed_routes_register(struct fed_routes *rt, uint64_t host_id,
    const char *host, const struct fed_route_reg *r, uint64_t now_mono_ns);

/* Drop the routes of hosts not registered for EXPIRE_NS; call LOG (may be
 * NULL) with each host's name.  Returns how many hosts were dropped. */
size_t fed_routes_expire(struct fed_routes *rt, uint64_t now_mono_ns,
    uint64_t expire_ns, void (*log)(void *arg, const char *host,
    size_t n), void *arg);

/* The routes of HOST_ID, or NULL. */
const struct fed_host_routes *fed_routes_host(const struct fed_routes *rt,
    uint64_t host_id);

/*
 * Mark stale every HOME route of a topic that another host registers as
 * HOME at a higher epoch (a promoted mirror's, doc/federation.md
 * "Promotion").  Call after the table changes (registration, local list,
 * expiry); sorts the claims, so O(n log n).
 */
void fed_routes_mark(struct fed_routes *rt);

/* E's flags as told to others: a stale HOME is FENCED instead. */
uint8_t fed_route_flags(const struct fed_route_entry *e);

/* Answer a ROUTE_QUERY for TOPIC: its home first (the highest epoch's),
 * then the others; this host (SELF_ID, SELF) first in each; at most
 * FED_ANSWER_MAX. */
void fed_routes_answer(const struct fed_routes *rt, uint64_t self_id,
    const char *self, const char *topic, struct fed_route_answer *a);

#endif
