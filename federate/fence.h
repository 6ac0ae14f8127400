/*
 * fence.h - the old home's side of a promotion (doc/federation.md,
 * "Promotion"): when a peer registers itself as HOME of a topic at a
 * higher epoch than this host's home copy, fence the copy (promote.h):
 * local sends fail with SHMQ_ETOPICPERM naming the new home, persistently;
 * the next local registration says FENCED instead of HOME; replication of
 * it to mirrors stops (replhome.c).
 *
 * Run by the federation thread on each whole registration it takes.
 */
#ifndef FED_FENCE_H
#define FED_FENCE_H

#include <stddef.h>

#include "frame.h"

struct shmq_bus;

/*
 * HOST registered E[0..N): fence each local home topic it claims at a
 * higher epoch, logging each with LOG (may be NULL).  Returns how many
 * were fenced now.
 */
size_t fed_fence_check(struct shmq_bus *bus, const char *host,
    const struct fed_route_entry *e, size_t n,
    void (*log)(int level, const char *fmt, ...));

#endif
