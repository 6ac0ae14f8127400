/*
 * control.c - the control region: a POSIX shared-memory object with the
 * live state of a bus (see layout.h, struct shmq_ctl).
 *
 * Each process maps SHMQ_CTL_VA_BYTES of the object once.  The object
 * itself starts small and grows with ftruncate under the admin mutex; the
 * part of the mapping beyond its end is never touched (every offset read
 * from the region is checked against size_bytes), so growth needs no remap
 * and pointers into the region stay valid for the life of the bus handle.
 *
 * The admin mutex is process-shared and robust: a process that dies holding
 * it leaves EOWNERDEAD for the next locker, who marks it consistent.  Every
 * admin operation publishes its result last (a count or a ready flag with
 * release ordering), so a half-done operation is invisible and harmless.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"
#include "internal.h"
#include "layout.h"

int
shmq__maptab_set(struct shmq_maptab *t, uint64_t i, void *p)
{
	void **c;

	if (i >= SHMQ_MAPTAB_MAX)
		return SHMQ_ERR(SHMQ_ELIMIT, "mapping table index %llu",
		    (unsigned long long)i);
	c = t->chunk[i >> SHMQ_MAPTAB_BITS];
	if (c == NULL) {
		c = calloc(SHMQ_MAPTAB_SIZE, sizeof(*c));
		if (c == NULL)
			return SHMQ_ERR(SHMQ_ENOMEM, "mapping table");
		/* Release: the zeroed chunk before the pointer to it. */
		ck_pr_fence_store();
		ck_pr_store_ptr(&t->chunk[i >> SHMQ_MAPTAB_BITS], c);
	}
	/* Release: the mapping (made by our caller) before its pointer;
	 * pairs with the dependent load in shmq__maptab_get. */
	ck_pr_fence_store();
	ck_pr_store_ptr(&c[i & (SHMQ_MAPTAB_SIZE - 1)], p);
	return 0;
}

void
shmq__maptab_free(struct shmq_maptab *t, void (*fn)(void *, void *),
    void *arg)
{
	size_t i, j;

	for (i = 0; i < SHMQ_MAPTAB_SIZE; i++) {
		if (t->chunk[i] == NULL)
			continue;
		for (j = 0; j < SHMQ_MAPTAB_SIZE; j++)
			if (t->chunk[i][j] != NULL && fn != NULL)
				fn(arg, t->chunk[i][j]);
		free(t->chunk[i]);
		t->chunk[i] = NULL;
	}
}

int
shmq__admin_lock(struct shmq_bus *bus)
{
	int rc = pthread_mutex_lock(&bus->ctl->admin);

	if (rc == EOWNERDEAD) {
		/* The holder died mid-operation.  Admin operations publish
		 * last, so what it left half-done is unreachable: carry on. */
		pthread_mutex_consistent(&bus->ctl->admin);
		return 0;
	}
	if (rc != 0)
		return SHMQ_ERR(-rc, "bus \"%s\": admin lock", bus->name);
	return 0;
}

void
shmq__admin_unlock(struct shmq_bus *bus)
{
	pthread_mutex_unlock(&bus->ctl->admin);
}

uint64_t
shmq__ctl_alloc(struct shmq_bus *bus, uint64_t bytes, int *err)
{
	struct shmq_ctl *ctl = bus->ctl;
	uint64_t off, end, size;

	off = (ctl->alloc_off + SHMQ_CACHELINE - 1) &
	    ~(uint64_t)(SHMQ_CACHELINE - 1);
	end = off + ((bytes + SHMQ_CACHELINE - 1) &
	    ~(uint64_t)(SHMQ_CACHELINE - 1));
	if (end > SHMQ_CTL_VA_BYTES || end < off) {
		*err = SHMQ_ERR(SHMQ_ELIMIT, "bus \"%s\": control region full",
		    bus->name);
		return 0;
	}
	size = ctl->size_bytes;
	if (end > size) {
		uint64_t nsize = size * 2;

		while (nsize < end)
			nsize *= 2;
		if (nsize > SHMQ_CTL_VA_BYTES)
			nsize = SHMQ_CTL_VA_BYTES;
		/* The new pages of a tmpfs object read as zeros. */
		if (ftruncate(bus->shm_fd, (off_t)nsize) < 0) {
			*err = shmq__err_sys(errno, "grow control region",
			    bus->shm_name);
			return 0;
		}
		if ((errno = posix_fallocate(bus->shm_fd, (off_t)size,
		    (off_t)(nsize - size))) != 0 && errno != EOPNOTSUPP) {
			*err = shmq__err_sys(errno, "grow control region",
			    bus->shm_name);
			(void)ftruncate(bus->shm_fd, (off_t)size);
			return 0;
		}
		/* Release: the object is large enough before anyone is told
		 * that it is (readers check offsets against size_bytes). */
		ck_pr_fence_store();
		ck_pr_store_64(&ctl->size_bytes, nsize);
	}
	ctl->alloc_off = end;
	*err = 0;
	return off;
}

static int
map_object(struct shmq_bus *bus)
{
	void *p;

	p = mmap(NULL, SHMQ_CTL_VA_BYTES, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_NORESERVE, bus->shm_fd, 0);
	if (p == MAP_FAILED)
		return shmq__err_sys(errno, "mmap control region",
		    bus->shm_name);
	bus->ctl = p;
	return 0;
}

int
shmq__ctl_create(struct shmq_bus *bus)
{
	pthread_mutexattr_t ma;
	struct shmq_ctl *ctl;
	uint64_t off, epoch;
	struct stat st;
	int err, reuse;

	/* A region its last user could not remove (/dev/shm is sticky:
	 * only its creator or root may) is reused in place.  Nobody has the
	 * bus open (the caller holds "alive" exclusively), so what it holds
	 * is garbage; emptying it zeroes it. */
	reuse = shm_unlink(bus->shm_name) < 0 &&
	    (errno == EPERM || errno == EACCES);
	bus->shm_fd = shm_open(bus->shm_name, O_RDWR | O_CLOEXEC |
	    (reuse ? 0 : O_CREAT | O_EXCL), bus->perm.file_mode);
	if (bus->shm_fd < 0)
		return shmq__err_sys(errno, "create shared memory",
		    bus->shm_name);
	if (reuse && ftruncate(bus->shm_fd, 0) < 0) {
		err = shmq__err_sys(errno, "empty shared memory",
		    bus->shm_name);
		goto fail;
	}
	if (fstat(bus->shm_fd, &st) < 0) {
		err = shmq__err_sys(errno, "stat shared memory",
		    bus->shm_name);
		goto fail;
	}
	/* Another user's region can keep its mode and group if they are
	 * the bus's already (they are, if a shmq made it). */
	if ((st.st_uid == geteuid() || geteuid() == 0 ||
	    (st.st_mode & 07777) != bus->perm.file_mode ||
	    (bus->perm.gid != (gid_t)-1 && st.st_gid != bus->perm.gid)) &&
	    ((bus->perm.gid != (gid_t)-1 &&
	    fchown(bus->shm_fd, (uid_t)-1, bus->perm.gid) < 0) ||
	    fchmod(bus->shm_fd, bus->perm.file_mode) < 0)) {
		err = shmq__err_sys(errno, "chmod shared memory",
		    bus->shm_name);
		goto fail;
	}
	if (ftruncate(bus->shm_fd, SHMQ_CTL_INIT_BYTES) < 0) {
		err = shmq__err_sys(errno, "size shared memory",
		    bus->shm_name);
		goto fail;
	}
	if ((err = map_object(bus)) < 0)
		goto fail;
	ctl = bus->ctl;
	ctl->magic = SHMQ_CTL_MAGIC;
	ctl->layout_version = SHMQ_LAYOUT_VERSION;
	ctl->ctl_hdr_bytes = sizeof(*ctl);
	arc4random_buf(&epoch, sizeof(epoch));
	ctl->epoch = (uint32_t)epoch & ((1u << SHMQ_TOKEN_EPOCH_BITS) - 1);
	bus->epoch = ctl->epoch;
	ctl->store_id = bus->store_id;
	ctl->created_ns = shmq__real_ns();
	ctl->segment_bytes = bus->segment_bytes;
	ctl->cq_entries = bus->cq_entries;
	ctl->max_msg_bytes = bus->max_msg_bytes;
	ctl->default_queues = bus->default_queues;
	ctl->auto_create = (uint32_t)bus->auto_create;
	ctl->stall_ms = bus->stall_ms;
	ctl->size_bytes = SHMQ_CTL_INIT_BYTES;
	ctl->alloc_off = sizeof(*ctl);

	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&ctl->admin, &ma);
	pthread_mutexattr_destroy(&ma);
	ck_ec64_init(&ctl->doorbell, 0);
	ck_ec64_init(&ctl->flush_req, 0);
	ck_ec64_init(&ctl->flush_done, 0);

	if ((off = shmq__ctl_alloc(bus, SHMQ_TOPIC_CHUNKS * sizeof(uint64_t),
	    &err)) == 0)
		goto fail;
	ctl->topic_dir_off = off;
	if ((off = shmq__ctl_alloc(bus, SHMQ_CLIENT_CHUNKS * sizeof(uint64_t),
	    &err)) == 0)
		goto fail;
	ctl->client_dir_off = off;
	if ((off = shmq__ctl_alloc(bus, SHMQ_GROUP_CHUNKS * sizeof(uint64_t),
	    &err)) == 0)
		goto fail;
	ctl->group_dir_off = off;
	/* ready is published by the opener once recovery has filled in the
	 * topics and tails (shmq__ctl_publish in bus.c). */
	return 0;
fail:
	shmq__ctl_detach(bus, 1);
	return err;
}

int
shmq__ctl_attach(struct shmq_bus *bus)
{
	struct shmq_ctl *ctl;
	struct stat st;
	int err;

	bus->shm_fd = shm_open(bus->shm_name, O_RDWR | O_CLOEXEC, 0);
	if (bus->shm_fd < 0)
		return shmq__err_sys(errno, "open shared memory",
		    bus->shm_name);
	if (fstat(bus->shm_fd, &st) < 0 ||
	    (uint64_t)st.st_size < sizeof(struct shmq_ctl)) {
		err = SHMQ_ERR(SHMQ_ECORRUPT, "control region %s too small",
		    bus->shm_name);
		goto fail;
	}
	if ((err = map_object(bus)) < 0)
		goto fail;
	ctl = bus->ctl;
	if (ctl->magic != SHMQ_CTL_MAGIC ||
	    ck_pr_load_32(&ctl->ready) != 1) {
		err = SHMQ_ERR(SHMQ_ECORRUPT, "control region %s: bad header",
		    bus->shm_name);
		goto fail;
	}
	ck_pr_fence_acquire();
	if (ctl->layout_version != SHMQ_LAYOUT_VERSION ||
	    ctl->ctl_hdr_bytes != sizeof(*ctl)) {
		err = SHMQ_ERR(SHMQ_EVERSION,
		    "control region %s: layout %u, this library has %u",
		    bus->shm_name, ctl->layout_version, SHMQ_LAYOUT_VERSION);
		goto fail;
	}
	if (ctl->store_id != bus->store_id) {
		err = SHMQ_ERR(SHMQ_ECORRUPT,
		    "control region %s belongs to another store",
		    bus->shm_name);
		goto fail;
	}
	bus->epoch = ctl->epoch;
	return 0;
fail:
	shmq__ctl_detach(bus, 0);
	return err;
}

void
shmq__ctl_detach(struct shmq_bus *bus, int unlink_it)
{
	if (bus->ctl != NULL) {
		munmap(bus->ctl, SHMQ_CTL_VA_BYTES);
		bus->ctl = NULL;
	}
	if (bus->shm_fd >= 0) {
		close(bus->shm_fd);
		bus->shm_fd = -1;
	}
	if (unlink_it)
		shm_unlink(bus->shm_name);
}
