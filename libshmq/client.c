/*
 * client.c - the client table (see client.h).
 *
 * Slots live in chunks of SHMQ_CLIENT_CHUNK, found through the directory at
 * ctl->client_dir_off.  Registration and release run under the admin mutex;
 * liveness checks run without it (they read pid and start time, which an
 * owner writes before it publishes its role).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "internal.h"

struct shmq_client_slot *
shmq__client_slot(struct shmq_bus *bus, uint32_t idx)
{
	uint64_t *dir, coff;
	struct shmq_client_slot *chunk;

	if (idx >= ck_pr_load_32(&bus->ctl->nclients) ||
	    idx >= SHMQ_CLIENT_CHUNK * SHMQ_CLIENT_CHUNKS)
		return NULL;
	dir = shmq__ctl_ptr(bus, bus->ctl->client_dir_off,
	    SHMQ_CLIENT_CHUNKS * sizeof(uint64_t));
	if (dir == NULL)
		return NULL;
	coff = ck_pr_load_64(&dir[idx / SHMQ_CLIENT_CHUNK]);
	chunk = shmq__ctl_ptr(bus, coff,
	    SHMQ_CLIENT_CHUNK * sizeof(struct shmq_client_slot));
	if (chunk == NULL)
		return NULL;
	return &chunk[idx % SHMQ_CLIENT_CHUNK];
}

bool
shmq__client_alive(const struct shmq_client_slot *s)
{
	int pid = ck_pr_load_int((const int *)&s->pid);
	uint64_t start = ck_pr_load_64((uint64_t *)(uintptr_t)&s->start_ticks);

	if (pid <= 0)
		return false;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	return shmq__proc_start(pid) == start;
}

int
shmq__client_register(struct shmq_bus *bus, uint32_t role, const char *name,
    uint32_t *idx, struct shmq_client_slot **slotp)
{
	struct shmq_ctl *ctl = bus->ctl;
	struct shmq_client_slot *s = NULL;
	uint64_t *dir;
	uint32_t i, n;
	int err;

	if ((err = shmq__admin_lock(bus)) < 0)
		return err;
	n = ctl->nclients;
	for (i = 0; i < n; i++) {
		s = shmq__client_slot(bus, i);
		if (s == NULL)
			continue;
		if (s->role == SHMQ_ROLE_FREE || !shmq__client_alive(s))
			break;
	}
	if (i == n) {
		if (n >= SHMQ_CLIENT_CHUNK * SHMQ_CLIENT_CHUNKS) {
			err = SHMQ_ERR(SHMQ_ELIMIT, "bus \"%s\": %u clients",
			    bus->name, n);
			goto out;
		}
		if (n % SHMQ_CLIENT_CHUNK == 0) {
			uint64_t off = shmq__ctl_alloc(bus, SHMQ_CLIENT_CHUNK *
			    sizeof(struct shmq_client_slot), &err);

			if (off == 0)
				goto out;
			dir = shmq__ctl_ptr(bus, ctl->client_dir_off,
			    SHMQ_CLIENT_CHUNKS * sizeof(uint64_t));
			ck_pr_store_64(&dir[n / SHMQ_CLIENT_CHUNK], off);
		}
		ck_pr_fence_store();
		ck_pr_store_32(&ctl->nclients, n + 1);
		s = shmq__client_slot(bus, n);
		i = n;
	}
	/* Fill in the owner, then publish the role (release): a reader that
	 * sees the role sees the pid and start time it goes with. */
	ck_pr_store_32(&s->role, SHMQ_ROLE_FREE);
	ck_pr_store_32(&s->gen, s->gen + 1);
	s->pid = (int32_t)getpid();
	s->start_ticks = shmq__proc_start(getpid());
	s->started_ns = shmq__real_ns();
	s->heartbeat_ns = s->started_ns;
	s->sent = 0;
	s->received = 0;
	strlcpy(s->name, name != NULL ? name : "", sizeof(s->name));
	ck_pr_fence_store();
	ck_pr_store_32(&s->role, role);
	*idx = i;
	*slotp = s;
	err = 0;
out:
	shmq__admin_unlock(bus);
	return err;
}

void
shmq__client_release(struct shmq_bus *bus, uint32_t idx)
{
	struct shmq_client_slot *s = shmq__client_slot(bus, idx);

	if (s == NULL || shmq__admin_lock(bus) < 0)
		return;
	ck_pr_store_32(&s->role, SHMQ_ROLE_FREE);
	shmq__admin_unlock(bus);
}

uint64_t
shmq__client_claim(struct shmq_bus *bus, uint32_t idx)
{
	struct shmq_client_slot *s = shmq__client_slot(bus, idx);

	return shmq_claim_state(bus->epoch, s != NULL ? s->gen : 0, idx);
}

bool
shmq__claim_owner_dead(struct shmq_bus *bus, uint64_t state)
{
	uint64_t tok = state >> 2;
	uint32_t slot, gen;
	struct shmq_client_slot *s;

	if (shmq__claim_stale(bus, state))
		return true;
	slot = (uint32_t)(tok & (SHMQ_MAX_CLIENTS - 1));
	gen = (uint32_t)((tok >> SHMQ_TOKEN_SLOT_BITS) &
	    ((1u << SHMQ_TOKEN_GEN_BITS) - 1));
	s = shmq__client_slot(bus, slot);
	if (s == NULL)
		return true;
	if ((ck_pr_load_32(&s->gen) & ((1u << SHMQ_TOKEN_GEN_BITS) - 1)) !=
	    gen || ck_pr_load_32(&s->role) == SHMQ_ROLE_FREE)
		return true;
	return !shmq__client_alive(s);
}
