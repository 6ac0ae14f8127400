/*
 * scheduler.c - shmqd's delay scheduler thread (see scheduler.h).
 *
 * The thread owns its struct shmq_delay; the main thread touches only
 * `stop` (ck_pr) and, after the join, the totals.  An error closes the
 * scheduler and opens it again a second later: the records it had not
 * committed come back from the group's offsets (at least once).
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include <ck_pr.h>

#include "bus.h"
#include "delay.h"
#include "internal.h"

#include "log.h"
#include "scheduler.h"

#define POLL_MS		200	/* longest sleep in a poll: stop latency */
#define IDLE_MS		200	/* no delay topic yet: look again */
#define RETRY_MS	1000	/* after an error */

static void
pause_ms(struct scheduler *s, uint32_t ms)
{
	struct timespec ts = { 0, 20 * 1000000L };
	uint32_t slept;

	/* In slices, to see a stop soon. */
	for (slept = 0; slept < ms && !ck_pr_load_8(&s->stop);
	    slept += 20)
		nanosleep(&ts, NULL);
}

static void
totals(struct scheduler *s)
{
	struct shmq_delay_stats st;

	if (s->d == NULL)
		return;
	shmq__delay_stats(s->d, &st);
	s->delivered += st.delivered;
	s->moved += st.moved;
	s->dropped += st.dropped;
}

/* Publish the totals so far (layout.h, "shmqd's status"). */
static void
status(struct scheduler *s)
{
	struct shmq_delay_stats st = { 0, 0, 0 };

	if (s->d != NULL)
		shmq__delay_stats(s->d, &st);
	ck_pr_store_64(&s->bus->ctl->daemon_delay_delivered,
	    s->delivered + st.delivered);
	ck_pr_store_64(&s->bus->ctl->daemon_delay_errors, s->errors);
}

static void *
run(void *arg)
{
	struct scheduler *s = arg;
	int r;

	while (!ck_pr_load_8(&s->stop)) {
		if (s->d == NULL) {
			r = shmq__delay_open(&s->d, s->bus, s->levels_ms,
			    s->nlevels);
			if (r == SHMQ_ENOTOPIC) {
				pause_ms(s, IDLE_MS);
				continue;
			}
			if (r < 0) {
				log_err("scheduler: %s", shmq_errmsg());
				s->errors++;
				status(s);
				pause_ms(s, RETRY_MS);
				continue;
			}
			log_info("scheduler: delivering delayed messages of "
			    "topic %s", SHMQ_DELAY_TOPIC);
		}
		r = shmq__delay_run(s->d, POLL_MS);
		status(s);
		if (r < 0) {
			log_err("scheduler: %s; starting again from the "
			    "committed offsets", shmq_errmsg());
			s->errors++;
			totals(s);
			shmq__delay_close(s->d);
			s->d = NULL;
			status(s);
			pause_ms(s, RETRY_MS);
		}
	}
	totals(s);
	shmq__delay_close(s->d);
	s->d = NULL;
	return NULL;
}

int
scheduler_start(struct scheduler *s, struct shmq_bus *bus,
    const uint32_t *levels_ms, uint32_t n)
{
	memset(s, 0, sizeof(*s));
	s->bus = bus;
	if (n > SHMQ_DELAY_LEVELS_MAX)
		n = SHMQ_DELAY_LEVELS_MAX;
	if (n > 0)
		memcpy(s->levels_ms, levels_ms, n * sizeof(*levels_ms));
	s->nlevels = n;
	if (pthread_create(&s->th, NULL, run, s) != 0)
		return -1;
	s->running = true;
	return 0;
}

void
scheduler_stop(struct scheduler *s)
{
	if (!s->running)
		return;
	ck_pr_store_8(&s->stop, 1);
	pthread_join(s->th, NULL);
	s->running = false;
}
