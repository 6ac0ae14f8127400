/*
 * reclaimer.c - shmqd's retention thread (see reclaimer.h).
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include <shmq/shmq.h>

#include "bus.h"
#include "internal.h"

#include "log.h"
#include "nap.h"
#include "reclaimer.h"

static void
report(struct reclaimer *r, const struct shmq__retain_result *res,
    uint32_t warn_pct)
{
	if (res->segs > 0)
		log_notice("retention: %llu segment(s) reclaimed (%llu MiB), "
		    "%llu index entries dropped, %llu of them not yet "
		    "consumed by some group; store now %llu MiB",
		    (unsigned long long)res->segs,
		    (unsigned long long)(res->bytes >> 20),
		    (unsigned long long)res->entries,
		    (unsigned long long)res->unconsumed,
		    (unsigned long long)(res->store_bytes >> 20));
	else if (res->entries > 0)
		log_info("retention: %llu index entries past their topic's "
		    "retention dropped", (unsigned long long)res->entries);
	if (res->held > 0)
		log_warn("retention: %llu segment(s) due kept: topic \"%s\" "
		    "has messages a consumer group has not consumed "
		    "(protect_unconsumed)", (unsigned long long)res->held,
		    res->held_by);
	if (res->refused != r->refused)
		log_warn(res->refused ? "retention: the store is above its "
		    "hard ceiling (%llu MiB, disk %u%% used): writes are "
		    "refused" : "retention: space is free again (%llu MiB, "
		    "disk %u%% used): writes are accepted",
		    (unsigned long long)(res->store_bytes >> 20),
		    res->disk_used_pct);
	r->refused = res->refused;
	if (warn_pct != 0 && res->disk_used_pct > warn_pct && !r->warned)
		log_warn("retention: the store's file system is %u%% used "
		    "(warning above %u%%)", res->disk_used_pct, warn_pct);
	r->warned = warn_pct != 0 && res->disk_used_pct > warn_pct;
}

static void *
reclaimer_main(void *arg)
{
	struct reclaimer *r = arg;
	struct shmq__retain_result res;
	struct shmq__retain_conf c;
	uint64_t next = 0, now, wait;
	uint32_t warn, ms;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		c = r->conf;
		warn = r->warn_pct;
		ms = r->interval_ms;
		if (r->kick)
			next = 0;
		r->kick = false;
		pthread_mutex_unlock(&r->lock);
		now = shmq__mono_ns() / 1000000;
		if (ms != 0 && now >= next) {
			if (shmq__retain_pass(r->bus, &c, shmq__real_ns(),
			    &res) < 0)
				log_err("retention: %s", shmq_errmsg());
			else
				report(r, &res, warn);
			r->passes++;
			next = now + ms;
		}
		/* The daemon maps every segment (flush, index): let go of
		 * the reclaimed ones too, so look at least every 5 s. */
		shmq__retain_release(r->bus);
		wait = ms != 0 && next - now < 5000 ? next - now : 5000;
		pthread_mutex_lock(&r->lock);
		(void)shmqd_nap(&r->cond, &r->lock, &r->stop, (uint32_t)wait);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int
reclaimer_start(struct reclaimer *r, struct shmq_bus *bus,
    const struct shmq__retain_conf *c, uint32_t interval_ms,
    uint32_t warn_pct)
{
	pthread_condattr_t ca;

	memset(r, 0, sizeof(*r));
	r->bus = bus;
	r->conf = *c;
	r->interval_ms = interval_ms;
	r->warn_pct = warn_pct;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&r->th, NULL, reclaimer_main, r) != 0) {
		log_err("retention: cannot start its thread");
		return -1;
	}
	r->running = true;
	return 0;
}

void
reclaimer_reload(struct reclaimer *r, const struct shmq__retain_conf *c,
    uint32_t interval_ms, uint32_t warn_pct)
{
	if (!r->running)
		return;
	pthread_mutex_lock(&r->lock);
	r->conf = *c;
	r->interval_ms = interval_ms;
	r->warn_pct = warn_pct;
	r->kick = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

void
reclaimer_stop(struct reclaimer *r)
{
	if (!r->running)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->th, NULL);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	r->running = false;
}
