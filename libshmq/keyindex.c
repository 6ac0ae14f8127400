/*
 * keyindex.c - index file format and access (see keyindex.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ck_pr.h>

#include "internal.h"
#include "keyindex.h"
#include "region.h"

uint32_t
shmq__kidx_hash(const char *topic, size_t tlen, const char *key, size_t klen)
{
	uint64_t h = SHMQ_HASH64_INIT;
	uint32_t v;

	/* Over topic, '#', key (RocketMQ's topic#key). */
	h = shmq__hash64_add(h, topic, tlen);
	h = shmq__hash64_add(h, "#", 1);
	h = shmq__hash64_add(h, key, klen);
	v = (uint32_t)shmq__hash64_end(h);
	return v == 0 ? 1 : v;
}

uint64_t
shmq__kidx_bytes(uint32_t slots, uint32_t entries)
{
	return SHMQ_KIDX_HDR_BYTES + (uint64_t)slots * 4 +
	    (uint64_t)entries * sizeof(struct shmq_kidx_entry);
}

static void
dir_path(struct shmq_bus *bus, char *buf, size_t n)
{
	snprintf(buf, n, "%s/index", bus->path);
}

static void
file_path(struct shmq_bus *bus, uint64_t name, char *buf, size_t n)
{
	snprintf(buf, n, "%s/index/%020llu", bus->path,
	    (unsigned long long)name);
}

int
shmq__kidx_list(struct shmq_bus *bus, uint64_t **names, size_t *n)
{
	char dir[PATH_MAX];

	dir_path(bus, dir, sizeof(dir));
	return shmq__list_numbered(dir, names, n);
}

static void
setup(struct shmq_kidx *k, void *base, uint64_t bytes, uint64_t name)
{
	k->base = base;
	k->bytes = bytes;
	k->name = name;
	k->h = base;
	k->slots = k->h->slots;
	k->entries = k->h->entries;
	k->slot = (uint32_t *)(void *)(k->base + SHMQ_KIDX_HDR_BYTES);
	k->ent = (struct shmq_kidx_entry *)(void *)(k->base +
	    SHMQ_KIDX_HDR_BYTES + (uint64_t)k->slots * 4);
}

int
shmq__kidx_map(struct shmq_bus *bus, uint64_t name, bool write,
    struct shmq_kidx *k)
{
	const struct shmq_kidx_hdr *h;
	char path[PATH_MAX];
	struct stat st;
	void *base;
	int fd, e;

	memset(k, 0, sizeof(*k));
	file_path(bus, name, path, sizeof(path));
	if ((fd = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC)) < 0)
		return shmq__err_sys(errno, "open", path);
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		return shmq__err_sys(e, "stat", path);
	}
	if ((uint64_t)st.st_size < SHMQ_KIDX_HDR_BYTES) {
		close(fd);
		return SHMQ_ERR(SHMQ_ECORRUPT, "key index %s: %lld bytes",
		    path, (long long)st.st_size);
	}
	base = mmap(NULL, (size_t)st.st_size, PROT_READ |
	    (write ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
	e = errno;
	close(fd);
	if (base == MAP_FAILED)
		return shmq__err_sys(e, "map", path);
	h = base;
	if (h->magic != SHMQ_KIDX_MAGIC || h->version != SHMQ_KIDX_VERSION ||
	    h->slots == 0 || h->entries < 2 ||
	    h->entries > SHMQ_KIDX_ENTRIES_MAX || h->slots > (1u << 26) ||
	    shmq__kidx_bytes(h->slots, h->entries) != (uint64_t)st.st_size ||
	    h->first_off != name || h->end_off < h->first_off) {
		munmap(base, (size_t)st.st_size);
		return SHMQ_ERR(SHMQ_ECORRUPT, "key index %s: bad header",
		    path);
	}
	setup(k, base, (uint64_t)st.st_size, name);
	return 0;
}

int
shmq__kidx_create(struct shmq_bus *bus, uint64_t name, uint32_t slots,
    uint32_t entries, struct shmq_kidx *k)
{
	const uint64_t bytes = shmq__kidx_bytes(slots, entries);
	char path[PATH_MAX], dir[PATH_MAX];
	struct shmq_kidx_hdr *h;
	void *base;
	int err;

	memset(k, 0, sizeof(*k));
	dir_path(bus, dir, sizeof(dir));
	if ((err = shmq__mkdir_p(dir, &bus->perm)) < 0)
		return err;
	file_path(bus, name, path, sizeof(path));
	(void)unlink(path);	/* a bad one: made again */
	if ((err = shmq__file_map(path, bytes, true, false, &bus->perm,
	    &base)) < 0)
		return err;
	h = base;
	memset(base, 0, SHMQ_KIDX_HDR_BYTES);
	h->version = SHMQ_KIDX_VERSION;
	h->slots = slots;
	h->entries = entries;
	h->count = 1;
	h->first_off = name;
	h->end_off = name;
	h->created_ns = shmq__real_ns();
	/* Magic last: a reader checks it first. */
	ck_pr_fence_store();
	h->magic = SHMQ_KIDX_MAGIC;
	if (msync(base, SHMQ_KIDX_HDR_BYTES, MS_SYNC) < 0 ||
	    (err = shmq__dir_sync(dir)) < 0) {
		err = shmq__err_sys(errno, "sync", path);
		shmq__file_unmap(base, bytes);
		return err;
	}
	setup(k, base, bytes, name);
	return 0;
}

void
shmq__kidx_unmap(struct shmq_kidx *k)
{
	if (k->base != NULL)
		munmap(k->base, (size_t)k->bytes);
	memset(k, 0, sizeof(*k));
}

int
shmq__kidx_add(struct shmq_kidx *k, uint32_t hash, uint64_t log_off)
{
	uint32_t n = k->h->count, s = hash % k->slots, head;
	struct shmq_kidx_entry *e;

	if (n < 1 || n >= k->entries)
		return 1;
	head = k->slot[s];
	e = &k->ent[n];
	e->hash = hash;
	e->prev = head < n ? head : 0;
	e->log_off = log_off;
	/* The entry before the slot that points at it; pairs with the
	 * reader's acquire after loading the slot (query.c). */
	ck_pr_fence_store();
	ck_pr_store_32(&k->slot[s], n);
	ck_pr_store_32(&k->h->count, n + 1);
	return 0;
}

int
shmq__kidx_commit(struct shmq_kidx *k, uint64_t end_off)
{
	char *data = k->base + SHMQ_KIDX_HDR_BYTES;

	/* Entries and slots on disk before the end that vouches for them. */
	if (msync(data, (size_t)(k->bytes - SHMQ_KIDX_HDR_BYTES),
	    MS_SYNC) < 0)
		return shmq__err_sys(errno, "sync", "key index");
	ck_pr_store_64(&k->h->end_off, end_off);
	if (msync(k->base, SHMQ_KIDX_HDR_BYTES, MS_SYNC) < 0)
		return shmq__err_sys(errno, "sync", "key index header");
	return 0;
}

bool
shmq__kidx_has_key(const char *keys, size_t len, const char *key,
    size_t klen)
{
	size_t i = 0, j;

	while (i < len) {
		while (i < len && keys[i] == ' ')
			i++;
		for (j = i; j < len && keys[j] != ' '; j++)
			;
		if (j > i && j - i == klen && memcmp(keys + i, key, klen) == 0)
			return true;
		i = j;
	}
	return false;
}
