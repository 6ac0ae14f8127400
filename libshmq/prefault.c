/*
 * prefault.c - the prefault thread (see prefault.h).
 *
 * It compares the log tail with how far it has prefaulted, and prefaults up
 * to PREFAULT_AHEAD bytes beyond the tail with madvise(MADV_POPULATE_WRITE),
 * which installs writable page-table entries without touching the data (it
 * is safe while producers write the same pages).  Page tables are per
 * process, so every process with producers runs its own; the page cache
 * behind them is shared.  Consumers do not start it: see consumer.c.  It
 * also makes the next segment when the tail comes within PREFAULT_AHEAD of
 * a segment's end, which producers would otherwise do themselves, and the
 * next index file of each queue this process writes to.
 *
 * Period: 1 ms while the tail moves.  Each look that finds the tail where
 * it was doubles the period, up to PREFAULT_IDLE_NS, so an idle producer
 * process wakes about ten times a second instead of a thousand; the first
 * look that sees the tail move goes back to 1 ms.  A burst that starts
 * while the thread sleeps runs into the PREFAULT_AHEAD bytes prefaulted
 * before it went idle (32 MiB: 100 ms at 320 MB/s), so it meets no fault
 * before the thread is back.  Stopping wakes it at once (shmq__word_wake).
 */
#include "config.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "commitlog.h"
#include "consumequeue.h"
#include "internal.h"
#include "prefault.h"
#include "wait.h"

#define PREFAULT_AHEAD		(32ull << 20)
#define PREFAULT_PERIOD_NS	1000000ull	/* while the tail moves */
#define PREFAULT_IDLE_NS	100000000ull	/* backoff ceiling */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Prefault [FROM, TO) of the log, making segments as needed.  0 or a code
 * (a full disk: producers will meet it too). */
static int
populate(struct shmq_bus *bus, uint64_t from, uint64_t to)
{
	const uint64_t S = bus->segment_bytes;
	uint64_t seg, end;
	char *base;
	int err;

	while (from < to) {
		seg = from / S;
		end = (seg + 1) * S < to ? (seg + 1) * S : to;
		if (seg * S + S > ck_pr_load_64(&bus->ctl->log_ready_end) &&
		    (err = shmq__log_prepare(bus, seg)) < 0)
			return err;
		base = shmq__log_seg(bus, seg, false, &err);
		if (base == NULL)
			return err;
		if (madvise(base + from % S, end - from, MADV_POPULATE_WRITE)
		    < 0) {
			uint64_t o;

			if (errno != EINVAL)
				return shmq__err_sys(errno, "prefault",
				    "commitlog");
			/* Older kernel: touch each page with an atomic add
			 * of zero, which never changes what is there. */
			for (o = from % S; o < end - seg * S; o += 4096)
				ck_pr_add_32((uint32_t *)(base + o), 0);
		}
		from = end;
	}
	return 0;
}

static void *
prefault_main(void *arg)
{
	struct shmq_bus *bus = arg;
	const uint64_t S = bus->segment_bytes;
	uint64_t tail, last = UINT64_MAX, period = PREFAULT_PERIOD_NS;
	uint64_t want, ahead, nhot, i;

	ahead = PREFAULT_AHEAD < S / 2 ? PREFAULT_AHEAD : S / 2;
	while (!ck_pr_load_int(&bus->prefault_stop)) {
		tail = ck_pr_load_64(&bus->ctl->log_tail);
		if (tail != last) {
			last = tail;
			period = PREFAULT_PERIOD_NS;
		} else if (period < PREFAULT_IDLE_NS) {
			period = period * 2 < PREFAULT_IDLE_NS ? period * 2 :
			    PREFAULT_IDLE_NS;
		}
		want = (tail + ahead + 4095) & ~(uint64_t)4095;
		if (bus->prefault_upto < tail)
			bus->prefault_upto = tail & ~(uint64_t)4095;
		if (bus->prefault_upto < want &&
		    populate(bus, bus->prefault_upto, want) == 0)
			bus->prefault_upto = want;
		nhot = ck_pr_load_64(&bus->nhot);
		ck_pr_fence_load();
		for (i = 0; i < nhot; i++) {
			struct shmq_cq *cq = shmq__maptab_get(&bus->hot, i);

			if (cq != NULL)
				shmq__cq_prepare_next(bus, cq);
		}
		shmq__word_wait(&bus->prefault_stop, 0, period);
	}
	return NULL;
}

int
shmq__prefault_start(struct shmq_bus *bus)
{
	int err = 0;

	pthread_mutex_lock(&bus->lock);
	if (!bus->prefault_on) {
		bus->prefault_stop = 0;
		err = pthread_create(&bus->prefault_thr, NULL, prefault_main,
		    bus);
		if (err == 0)
			bus->prefault_on = 1;
	}
	pthread_mutex_unlock(&bus->lock);
	return err == 0 ? 0 : SHMQ_ERR(-err, "prefault thread");
}

void
shmq__prefault_stop(struct shmq_bus *bus)
{
	if (!bus->prefault_on)
		return;
	ck_pr_store_int(&bus->prefault_stop, 1);
	shmq__word_wake(&bus->prefault_stop);
	pthread_join(bus->prefault_thr, NULL);
	bus->prefault_on = 0;
}

int
shmq_bus_prefault(struct shmq_bus *bus, uint64_t bytes)
{
	uint64_t tail;

	if (bus == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "prefault: no bus");
	tail = ck_pr_load_64(&bus->ctl->log_tail) & ~(uint64_t)4095;
	if (bytes > UINT64_MAX - tail - 4095)
		return SHMQ_ERR(SHMQ_EINVAL, "prefault: %llu bytes",
		    (unsigned long long)bytes);
	return populate(bus, tail, (tail + bytes + 4095) & ~(uint64_t)4095);
}
