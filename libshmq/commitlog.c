/*
 * commitlog.c - segments, reservation and record checks (see commitlog.h).
 *
 * Reservation is one CAS on ctl->log_tail.  The producer that crosses a
 * segment end moves the tail straight to the start of the next segment plus
 * its own length, then writes a padding record over the rest of the old
 * segment: every byte of a segment below the tail belongs to exactly one
 * record, so a recovery scan can walk a segment record by record.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "commitlog.h"
#include "internal.h"
#include "layout.h"
#include "region.h"
#include "retention.h"

int
shmq__log_seg_path(const struct shmq_bus *bus, uint64_t start, char *buf,
    size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/commitlog/%020llu", bus->path,
	    (unsigned long long)start) >= len)
		return SHMQ_ERR(SHMQ_EINVAL, "path too long");
	return 0;
}

void
shmq__log_unmap_seg(void *arg, void *base)
{
	struct shmq_bus *bus = arg;

	shmq__file_unmap(base, bus->segment_bytes);
}

char *
shmq__log_seg_slow(struct shmq_bus *bus, uint64_t seg, bool create,
    int *err)
{
	char path[PATH_MAX];
	char *base;
	void *p;

	*err = 0;
	if (seg >= SHMQ_MAPTAB_MAX) {
		*err = SHMQ_ERR(SHMQ_ECORRUPT, "commitlog segment %llu out of "
		    "range", (unsigned long long)seg);
		return NULL;
	}
	if ((*err = shmq__log_seg_path(bus, seg * bus->segment_bytes, path,
	    sizeof(path))) < 0)
		return NULL;
	/* A new segment: a moment to let go of reclaimed ones. */
	shmq__retain_release(bus);
	pthread_mutex_lock(&bus->lock);
	base = shmq__maptab_get(&bus->segs, seg);
	if (base != NULL)
		goto out;
	*err = shmq__file_map(path, bus->segment_bytes, create, false,
	    &bus->perm, &p);
	if (*err < 0)
		goto out;
	if ((*err = shmq__maptab_set(&bus->segs, seg, p)) < 0) {
		shmq__file_unmap(p, bus->segment_bytes);
		goto out;
	}
	base = p;
out:
	pthread_mutex_unlock(&bus->lock);
	return base;
}

int
shmq__log_prepare(struct shmq_bus *bus, uint64_t seg)
{
	uint64_t end = (seg + 1) * bus->segment_bytes, cur;
	int err;

	if (shmq__log_seg(bus, seg, true, &err) == NULL)
		return err;
	/* Advance the ready end to cover SEG (never backwards). */
	cur = ck_pr_load_64(&bus->ctl->log_ready_end);
	while (cur < end &&
	    !ck_pr_cas_64_value(&bus->ctl->log_ready_end, cur, end, &cur))
		;
	return 0;
}

int
shmq__log_reserve(struct shmq_bus *bus, uint32_t len, uint64_t *offp,
    struct shmq_rec **recp)
{
	struct shmq_ctl *ctl = bus->ctl;
	const uint64_t S = bus->segment_bytes;
	uint64_t t, seg_end, off, next;
	struct shmq_rec *pad = NULL;
	char *base;
	int err;

	t = ck_pr_load_64(&ctl->log_tail);
	for (;;) {
		seg_end = (t / S + 1) * S;
		if (t + len <= seg_end) {
			if (unlikely(ck_pr_load_64(&ctl->log_ready_end) <
			    seg_end) &&
			    (err = shmq__log_prepare(bus, t / S)) < 0)
				return err;
			off = t;
			next = t + len;
		} else {
			/* Crossing: the next segment must exist before the
			 * tail may enter it. */
			if (ck_pr_load_64(&ctl->log_ready_end) < seg_end + S &&
			    (err = shmq__log_prepare(bus, seg_end / S)) < 0)
				return err;
			off = seg_end;
			next = seg_end + len;
		}
		if (ck_pr_cas_64_value(&ctl->log_tail, t, next, &t))
			break;
	}
	if (off != t) {
		/* We crossed: [t, seg_end) is ours to fill with padding. */
		base = shmq__log_seg(bus, t / S, false, &err);
		if (base != NULL) {
			pad = (struct shmq_rec *)(base + t % S);
			/* Only size and magic: a padding record may be as
			 * short as 8 bytes. */
			pad->magic = SHMQ_PAD_MAGIC;
			/* Release: magic before size (scan pairs it). */
			ck_pr_fence_store();
			ck_pr_store_32(&pad->size, (uint32_t)(seg_end - t));
		}
	}
	base = shmq__log_seg(bus, off / S, false, &err);
	if (unlikely(base == NULL))
		return err;
	/* Without a prefault thread, make the next segment when this one is
	 * half full, so that the crossing producer finds it ready. */
	if (unlikely(!bus->prefault_on && off % S < S / 2 &&
	    (off + len) % S >= S / 2 &&
	    (off + len) / S == off / S))
		(void)shmq__log_prepare(bus, off / S + 1);
	*offp = off;
	*recp = (struct shmq_rec *)(base + off % S);
	return 0;
}

uint32_t
shmq__rec_crc(const struct shmq_rec *r, uint32_t size)
{
	return shmq__crc32c(0xffffffffu, (const char *)r + SHMQ_REC_CRC_START,
	    size - SHMQ_REC_CRC_START);
}

bool
shmq__rec_sane(const struct shmq_rec *r, uint64_t off, uint32_t size,
    uint64_t segment_bytes)
{
	uint64_t need;

	if (r->log_off != off || r->magic != SHMQ_REC_MAGIC)
		return false;
	need = sizeof(*r) + (uint64_t)r->topic_len + r->tags_len +
	    r->keys_len + r->props_len + r->body_len;
	if (r->flags & SHMQ_REC_F_ORIGIN)
		need += SHMQ_REC_ORIGIN_BYTES;
	if (shmq__align8(need) != size || size > segment_bytes)
		return false;
	return true;
}

const struct shmq_rec *
shmq__log_record(struct shmq_bus *bus, uint64_t off, uint32_t size, bool crc,
    int *err)
{
	const uint64_t S = bus->segment_bytes;
	const struct shmq_rec *r;
	char *base;

	if (unlikely(off < ck_pr_load_64(&bus->ctl->log_min_off)))
		goto reclaimed;
	if (unlikely(size < sizeof(*r) || (off & 7) != 0 || (size & 7) != 0 ||
	    size > (uint64_t)bus->max_msg_bytes + 4096 ||
	    off % S + size > S ||
	    off + size > ck_pr_load_64(&bus->ctl->log_tail))) {
		*err = SHMQ_ERR(SHMQ_ECORRUPT, "index entry points outside "
		    "the commitlog (offset %llu, %u bytes)",
		    (unsigned long long)off, size);
		return NULL;
	}
	base = shmq__log_seg(bus, off / S, false, err);
	if (unlikely(base == NULL)) {
		/* Unlinked since the check above? */
		if (off < ck_pr_load_64(&bus->ctl->log_min_off))
			goto reclaimed;
		return NULL;
	}
	r = (const struct shmq_rec *)(base + off % S);
	if (unlikely(ck_pr_load_32((uint32_t *)(uintptr_t)&r->size) != size)) {
		*err = SHMQ_ERR(SHMQ_ECORRUPT, "record at %llu: size %u, index "
		    "says %u", (unsigned long long)off, r->size, size);
		return NULL;
	}
	/* Pairs with the release store of size by the writer. */
	ck_pr_fence_acquire();
	if (unlikely(!shmq__rec_sane(r, off, size, S))) {
		*err = SHMQ_ERR(SHMQ_ECORRUPT, "record at %llu: bad header",
		    (unsigned long long)off);
		return NULL;
	}
	if (crc && unlikely(shmq__rec_crc(r, size) != r->crc)) {
		*err = SHMQ_ERR(SHMQ_ECORRUPT, "record at %llu: CRC mismatch",
		    (unsigned long long)off);
		return NULL;
	}
	*err = 0;
	return r;
reclaimed:
	*err = SHMQ_ERR(SHMQ_ERECLAIMED, "commitlog offset %llu: reclaimed "
	    "(the log starts at %llu)", (unsigned long long)off,
	    (unsigned long long)ck_pr_load_64(&bus->ctl->log_min_off));
	return NULL;
}

int
shmq__log_sync(struct shmq_bus *bus, uint64_t from, uint64_t to)
{
	const uint64_t S = bus->segment_bytes;
	const uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t seg, lo, hi, min = ck_pr_load_64(&bus->ctl->log_min_off);
	char path[PATH_MAX], *base;
	int err;

	if (from < min)
		from = min;
	for (; from < to; from = (seg + 1) * S) {
		seg = from / S;
		lo = (from - seg * S) & ~(pg - 1);
		hi = to - seg * S < S ? to - seg * S : S;
		hi = (hi + pg - 1) & ~(pg - 1);
		if (hi > S)
			hi = S;		/* pages larger than 4 KiB */
		if ((base = shmq__log_seg(bus, seg, false, &err)) == NULL)
			return err;
		if (msync(base + lo, hi - lo, MS_SYNC) < 0) {
			(void)shmq__log_seg_path(bus, seg * S, path,
			    sizeof(path));
			return shmq__err_sys(errno, "sync", path);
		}
	}
	return 0;
}
