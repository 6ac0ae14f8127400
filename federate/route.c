/*
 * route.c - the route table (see route.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>


#include "internal.h"

#include "route.h"

void
fed_routes_init(struct fed_routes *rt)
{
	memset(rt, 0, sizeof(*rt));
}

static void
host_free(struct fed_host_routes *h)
{
	free(h->e);
	free(h->pend);
}

void
fed_routes_fini(struct fed_routes *rt)
{
	size_t i;

	for (i = 0; i < rt->nhosts; i++)
		host_free(&rt->hosts[i]);
	free(rt->hosts);
	free(rt->local);
	memset(rt, 0, sizeof(*rt));
}

struct collect {
	struct fed_route_entry	*e;
	size_t			 n;
	size_t			 cap;
	int			 err;
};

/* shmq_queue_foreach's callback: one entry per topic (queues come grouped
 * by topic), system topics left out. */
static int
collect_cb(void *arg, const struct shmq_queue_info *qi)
{
	struct collect *c = arg;
	struct fed_route_entry *ne;

	if (qi->topic[0] == '%' || !fed_topic_ok(qi->topic))
		return 0;
	if (c->n > 0 && strcmp(c->e[c->n - 1].topic, qi->topic) == 0)
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 64 : c->cap * 2;
		if ((ne = reallocarray(c->e, c->cap, sizeof(*ne))) == NULL) {
			c->err = SHMQ_ENOMEM;
			return 1;
		}
		c->e = ne;
	}
	memset(&c->e[c->n], 0, sizeof(c->e[c->n]));
	strlcpy(c->e[c->n].topic, qi->topic, sizeof(c->e[c->n].topic));
	c->e[c->n].queues = qi->queues > 0 ? (uint32_t)qi->queues : 1;
	/* A mirror is here, but its home is elsewhere; a fenced copy was
	 * superseded by a promoted one (promote.h). */
	c->e[c->n].flags = qi->fenced ? FED_ROUTE_FENCED : qi->mirror ? 0 :
	    FED_ROUTE_HOME;
	c->e[c->n].epoch = qi->epoch > 0 ? qi->epoch : 1;
	c->n++;
	return 0;
}

static uint64_t
list_hash(const struct fed_route_entry *e, size_t n)
{
	uint64_t h = SHMQ_HASH64_INIT;
	size_t i;

	for (i = 0; i < n; i++) {
		h = shmq__hash64_add(h, e[i].topic, strlen(e[i].topic) + 1);
		h = shmq__hash64_add(h, &e[i].queues, sizeof(e[i].queues));
		h = shmq__hash64_add(h, &e[i].flags, sizeof(e[i].flags));
		h = shmq__hash64_add(h, &e[i].epoch, sizeof(e[i].epoch));
	}
	return shmq__hash64_end(h);
}

int
fed_routes_local_refresh(struct fed_routes *rt, struct shmq_bus *bus)
{
	struct collect c = { NULL, 0, 0, 0 };
	uint64_t h;
	int r;

	r = shmq_queue_foreach(bus, NULL, collect_cb, &c);
	if (r < 0 || c.err < 0) {
		free(c.e);
		return r < 0 ? r : c.err;
	}
	h = list_hash(c.e, c.n);
	if (h == rt->local_hash && c.n == rt->nlocal && rt->gen != 0) {
		free(c.e);
		return 0;
	}
	free(rt->local);
	rt->local = c.e;
	rt->nlocal = c.n;
	rt->local_hash = h;
	rt->local_real_ns = shmq__real_ns();
	rt->gen++;
	return 1;
}

static struct fed_host_routes *
host_find(const struct fed_routes *rt, uint64_t id)
{
	size_t i;

	for (i = 0; i < rt->nhosts; i++)
		if (rt->hosts[i].host_id == id)
			return &rt->hosts[i];
	return NULL;
}

const struct fed_host_routes *
fed_routes_host(const struct fed_routes *rt, uint64_t host_id)
{
	return host_find(rt, host_id);
}

int
fed_routes_register(struct fed_routes *rt, uint64_t host_id,
    const char *host, const struct fed_route_reg *r, uint64_t now_mono_ns)
{
	struct fed_host_routes *h = host_find(rt, host_id), *nh;
	struct fed_route_entry *ne;

	/* A bound on what one peer can make us hold (1 Mi topics). */
	if (r->total > FED_ROUTES_HOST_MAX)
		return SHMQ_EPROTO;
	if (h == NULL) {
		nh = reallocarray(rt->hosts, rt->nhosts + 1, sizeof(*nh));
		if (nh == NULL)
			return SHMQ_ENOMEM;
		rt->hosts = nh;
		h = &rt->hosts[rt->nhosts++];
		memset(h, 0, sizeof(*h));
		h->host_id = host_id;
	}
	strlcpy(h->host, host, sizeof(h->host));
	/* A first part starts a registration; others must follow on. */
	if (r->first == 0) {
		free(h->pend);
		h->pend = NULL;
		h->pend_n = 0;
		h->pend_gen = r->gen;
		h->pend_total = r->total;
	} else if (r->gen != h->pend_gen || r->first != h->pend_n ||
	    r->total != h->pend_total) {
		free(h->pend);
		h->pend = NULL;
		h->pend_n = h->pend_total = 0;
		return SHMQ_EPROTO;
	}
	if (r->n > 0) {
		ne = reallocarray(h->pend, h->pend_n + r->n, sizeof(*ne));
		if (ne == NULL)
			return SHMQ_ENOMEM;
		memcpy(ne + h->pend_n, r->e, r->n * sizeof(*ne));
		h->pend = ne;
		h->pend_n += r->n;
	}
	if (h->pend_n < h->pend_total)
		return 0;
	free(h->e);
	h->e = h->pend;
	h->n = h->pend_n;
	h->pend = NULL;
	h->pend_n = h->pend_total = 0;
	h->updated_mono_ns = now_mono_ns;
	h->updated_real_ns = shmq__real_ns();
	return 1;
}

size_t
fed_routes_expire(struct fed_routes *rt, uint64_t now_mono_ns,
    uint64_t expire_ns, void (*log)(void *arg, const char *host, size_t n),
    void *arg)
{
	size_t i = 0, dropped = 0;

	while (i < rt->nhosts) {
		struct fed_host_routes *h = &rt->hosts[i];

		if (now_mono_ns - h->updated_mono_ns < expire_ns) {
			i++;
			continue;
		}
		if (log != NULL)
			log(arg, h->host, h->n);
		host_free(h);
		rt->hosts[i] = rt->hosts[--rt->nhosts];
		dropped++;
	}
	return dropped;
}

/* One HOME claim: a topic's name and the epoch claimed. */
struct claim {
	const char	*topic;
	uint64_t	 epoch;
};

static int
claim_cmp(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);

	/* Per topic, the highest epoch first. */
	if (c != 0)
		return c;
	return x->epoch < y->epoch ? 1 : x->epoch > y->epoch ? -1 : 0;
}

static int
claim_find(const void *key, const void *elem)
{
	return strcmp(key, ((const struct claim *)elem)->topic);
}

/* Mark E stale if a claim of CL[0..N) on its topic is higher. */
static void
mark_one(struct fed_route_entry *e, const struct claim *cl, size_t n)
{
	const struct claim *c;

	e->stale = false;
	if ((e->flags & FED_ROUTE_HOME) == 0 || n == 0 ||
	    (c = bsearch(e->topic, cl, n, sizeof(*cl), claim_find)) == NULL)
		return;
	/* bsearch may land on any claim of the topic: go to its first,
	 * the highest. */
	while (c > cl && strcmp(c[-1].topic, e->topic) == 0)
		c--;
	e->stale = c->epoch > e->epoch;
}

void
fed_routes_mark(struct fed_routes *rt)
{
	struct claim *cl;
	size_t n = rt->nlocal, k = 0, i, j;

	for (i = 0; i < rt->nhosts; i++)
		n += rt->hosts[i].n;
	/* Without memory nothing is marked stale: the old answer order. */
	if ((cl = reallocarray(NULL, n > 0 ? n : 1, sizeof(*cl))) == NULL)
		n = 0;
	for (j = 0; j < rt->nlocal && cl != NULL; j++)
		if (rt->local[j].flags & FED_ROUTE_HOME)
			cl[k++] = (struct claim){ rt->local[j].topic,
			    rt->local[j].epoch };
	for (i = 0; i < rt->nhosts && cl != NULL; i++)
		for (j = 0; j < rt->hosts[i].n; j++)
			if (rt->hosts[i].e[j].flags & FED_ROUTE_HOME)
				cl[k++] = (struct claim){
				    rt->hosts[i].e[j].topic,
				    rt->hosts[i].e[j].epoch };
	if (k > 1)
		qsort(cl, k, sizeof(*cl), claim_cmp);
	for (j = 0; j < rt->nlocal; j++)
		mark_one(&rt->local[j], cl, k);
	for (i = 0; i < rt->nhosts; i++)
		for (j = 0; j < rt->hosts[i].n; j++)
			mark_one(&rt->hosts[i].e[j], cl, k);
	free(cl);
}

uint8_t
fed_route_flags(const struct fed_route_entry *e)
{
	if (e->stale)
		return (uint8_t)((e->flags & ~FED_ROUTE_HOME) |
		    FED_ROUTE_FENCED);
	return e->flags;
}

static void
answer_add(struct fed_route_answer *a, uint64_t id, const char *host,
    const struct fed_route_entry *e)
{
	struct fed_route_host *rh;

	if (a->n >= FED_ANSWER_MAX)
		return;
	rh = &a->h[a->n++];
	rh->host_id = id;
	strlcpy(rh->host, host, sizeof(rh->host));
	rh->queues = e->queues;
	rh->flags = fed_route_flags(e);
	rh->epoch = e->epoch;
}

/* Is E a route of TOPIC, and in PASS (0: the home, 1: the others)? */
static bool
answer_pass(const struct fed_route_entry *e, const char *topic, int pass)
{
	return strcmp(e->topic, topic) == 0 &&
	    ((fed_route_flags(e) & FED_ROUTE_HOME) != 0) == (pass == 0);
}

void
fed_routes_answer(const struct fed_routes *rt, uint64_t self_id,
    const char *self, const char *topic, struct fed_route_answer *a)
{
	size_t i, j;
	int pass;

	a->n = 0;
	strlcpy(a->topic, topic, sizeof(a->topic));
	/* The home (the highest epoch's) first, then the others; this
	 * host first in each. */
	for (pass = 0; pass < 2; pass++) {
		for (j = 0; j < rt->nlocal; j++)
			if (answer_pass(&rt->local[j], topic, pass))
				answer_add(a, self_id, self, &rt->local[j]);
		for (i = 0; i < rt->nhosts; i++)
			for (j = 0; j < rt->hosts[i].n; j++)
				if (answer_pass(&rt->hosts[i].e[j], topic,
				    pass))
					answer_add(a, rt->hosts[i].host_id,
					    rt->hosts[i].host,
					    &rt->hosts[i].e[j]);
	}
}
