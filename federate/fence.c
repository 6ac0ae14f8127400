/*
 * fence.c - fencing a superseded home copy (see fence.h).
 */
#include "config.h"

#include <syslog.h>

#include "internal.h"
#include "promote.h"
#include "topic.h"

#include "fence.h"

size_t
fed_fence_check(struct shmq_bus *bus, const char *host,
    const struct fed_route_entry *e, size_t n,
    void (*log)(int level, const char *fmt, ...))
{
	struct shmq_topic *t;
	size_t i, fenced = 0;
	int rc;

	for (i = 0; i < n; i++) {
		/* Only a promoted home says an epoch above 1: the common
		 * registration costs one test per entry. */
		if ((e[i].flags & FED_ROUTE_HOME) == 0 || e[i].epoch <= 1 ||
		    (t = shmq__topic_find(bus, e[i].topic)) == NULL)
			continue;
		rc = shmq__home_fence(bus, t, host, e[i].epoch);
		if (rc == 1) {
			fenced++;
			if (log != NULL)
				log(LOG_WARNING, "topic %s: host %s is its "
				    "home at epoch %llu (promoted), above this "
				    "host's %llu: this copy is fenced (sends "
				    "refused, reads go on)", e[i].topic, host,
				    (unsigned long long)e[i].epoch,
				    (unsigned long long)shmq__topic_epoch(
				    t->tc));
		} else if (rc < 0 && log != NULL)
			log(LOG_ERR, "topic %s: host %s is its home at epoch "
			    "%llu, but this copy could not be fenced: %s",
			    e[i].topic, host, (unsigned long long)e[i].epoch,
			    shmq_errmsg());
	}
	return fenced;
}
