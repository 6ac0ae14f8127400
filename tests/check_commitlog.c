/*
 * check_commitlog.c - the commitlog on a real store with 1 MiB segments:
 * reservation (alignment, never spanning a segment, padding at a segment's
 * end, the next record at the next segment's start), segment files, the
 * checks of shmq__log_record (bounds, size, magic, own offset, CRC), a
 * full disk (RLIMIT_FSIZE) that reserves nothing, and reservations from
 * several processes at once that tile the log exactly.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "bus.h"
#include "commitlog.h"
#include "internal.h"
#include "layout.h"
#include "testutil.h"

#define SEG		(1ull << 20)
#define CQE		128u		/* entries per index file */
#define TEST_MAGIC	0x54534554u	/* "TEST": a record made here */

static struct shmq_bus *bus;

static void
setup(void)
{
	tu_setup_store();
	ck_assert_int_eq(tu_bus_open(&bus, SEG, CQE), 0);
	ck_assert_uint_eq(bus->segment_bytes, SEG);
}

static void
teardown(void)
{
	shmq_bus_close(bus);
	bus = NULL;
	tu_cleanup_store();
}

/* Fill a reserved range as a writer would: header, payload, size last. */
static void
put(struct shmq_rec *r, uint64_t off, uint32_t len, uint32_t fill)
{
	uint32_t *w = (uint32_t *)(r + 1);
	size_t i;

	/* A record holds at least its header. */
	ck_assert_uint_ge(len, sizeof(*r));
	r->magic = TEST_MAGIC;
	r->flags = fill;
	r->log_off = off;
	for (i = 0; i < (len - sizeof(*r)) / 4; i++)
		w[i] = fill;
	ck_pr_fence_store();
	ck_pr_store_32(&r->size, len);
}

static const struct shmq_rec *
at(uint64_t off)
{
	int err;
	char *base = shmq__log_seg(bus, off / SEG, false, &err);

	ck_assert_ptr_nonnull(base);
	return (const struct shmq_rec *)(base + off % SEG);
}

/*
 * Walk the log from 0 to the tail record by record.  Every byte must
 * belong to one record (TEST_MAGIC, at its own offset, payload all FILL)
 * or to one padding record that ends its segment.  Counts records per
 * fill value in COUNT[fill % NCOUNT] if COUNT is not NULL.  Returns the
 * number of problems found (0), so that the caller asserts once.
 */
#define NCOUNT	64
static int
walk(uint64_t tail, uint64_t *nrec, uint64_t *npad, uint64_t *count)
{
	uint64_t off = 0;
	int bad = 0;

	*nrec = *npad = 0;
	while (off < tail && bad < 10) {
		const struct shmq_rec *r = at(off);
		uint32_t size = ck_pr_load_32((uint32_t *)(uintptr_t)&r->size);
		uint64_t in_seg = off % SEG;

		if (size == 0 || size % 8 != 0 || in_seg + size > SEG) {
			fprintf(stderr, "walk: bad size %u at %llu\n", size,
			    (unsigned long long)off);
			return bad + 1;
		}
		if (r->magic == SHMQ_PAD_MAGIC) {
			if (in_seg + size != SEG) {
				fprintf(stderr, "walk: padding at %llu does "
				    "not end its segment\n",
				    (unsigned long long)off);
				bad++;
			}
			(*npad)++;
		} else if (r->magic == TEST_MAGIC) {
			const uint32_t *w = (const uint32_t *)(r + 1);
			size_t i;

			if (r->log_off != off) {
				fprintf(stderr, "walk: record at %llu says "
				    "%llu\n", (unsigned long long)off,
				    (unsigned long long)r->log_off);
				bad++;
			}
			for (i = 0; i < (size - sizeof(*r)) / 4; i++)
				if (w[i] != r->flags)
					break;
			if (i != (size - sizeof(*r)) / 4) {
				fprintf(stderr, "walk: record at %llu (fill "
				    "%u) overwritten at word %zu\n",
				    (unsigned long long)off, r->flags, i);
				bad++;
			}
			if (count != NULL)
				count[r->flags % NCOUNT]++;
			(*nrec)++;
		} else {
			fprintf(stderr, "walk: magic %08x at %llu\n",
			    r->magic, (unsigned long long)off);
			return bad + 1;
		}
		off += size;
	}
	if (off != tail) {
		fprintf(stderr, "walk: ended at %llu, tail %llu\n",
		    (unsigned long long)off, (unsigned long long)tail);
		bad++;
	}
	return bad;
}

/* ------------------------------------------------------------------ */
/* Reservation in one process                                          */
/* ------------------------------------------------------------------ */

START_TEST(t_reserve_aligned)
{
	uint64_t off, end = 0, nrec, npad;
	struct shmq_rec *r;
	int i, bad = 0, pads = 0;

	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->log_tail), 0);
	srandom(1);
	for (i = 0; i < 3000; i++) {
		uint32_t len;

		/* Mostly small, sometimes up to half a segment. */
		if (i % 100 == 99)
			len = (uint32_t)(SEG / 2);
		else if (i % 10 == 9)
			len = 80 + 8 * (uint32_t)(random() % 16384);
		else
			len = 80 + 8 * (uint32_t)(random() % 64);
		if (shmq__log_reserve(bus, len, &off, &r) != 0) {
			bad++;
			break;
		}
		if (off % 8 != 0 || off / SEG != (off + len - 1) / SEG ||
		    (char *)r != (char *)at(off))
			bad++;
		if (off != end) {
			/* Only to cross into the next segment, which then
			 * starts with this record; the rest of the old one
			 * is one padding record. */
			const struct shmq_rec *p = at(end);

			pads++;
			if (off % SEG != 0 || off != (end / SEG + 1) * SEG ||
			    end + len <= off ||
			    p->magic != SHMQ_PAD_MAGIC ||
			    p->size != off - end)
				bad++;
		}
		put(r, off, len, (uint32_t)i);
		end = off + len;
		if (ck_pr_load_64(&bus->ctl->log_tail) != end)
			bad++;
	}
	ck_assert_int_eq(bad, 0);
	ck_assert_int_gt(pads, 5);
	ck_assert_int_eq(walk(end, &nrec, &npad, NULL), 0);
	ck_assert_uint_eq(nrec, 3000);
	ck_assert_uint_eq(npad, (uint64_t)pads);
	/* Segments the tail reached exist. */
	ck_assert_uint_ge(ck_pr_load_64(&bus->ctl->log_ready_end),
	    (end / SEG + 1) * SEG);
}
END_TEST

START_TEST(t_reserve_padding)
{
	uint64_t off;
	struct shmq_rec *r;
	const struct shmq_rec *p;

	/* Fill segment 0 to 64 bytes short of its end. */
	ck_assert_int_eq(shmq__log_reserve(bus, SEG / 2, &off, &r), 0);
	ck_assert_uint_eq(off, 0);
	put(r, off, SEG / 2, 1);
	ck_assert_int_eq(shmq__log_reserve(bus, SEG / 2 - 64, &off, &r), 0);
	ck_assert_uint_eq(off, SEG / 2);
	put(r, off, SEG / 2 - 64, 2);
	/* 128 bytes do not fit: 64 bytes of padding, then segment 1. */
	ck_assert_int_eq(shmq__log_reserve(bus, 128, &off, &r), 0);
	ck_assert_uint_eq(off, SEG);
	put(r, off, 128, 3);
	p = at(SEG - 64);
	ck_assert_uint_eq(p->magic, SHMQ_PAD_MAGIC);
	ck_assert_uint_eq(p->size, 64);
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->log_tail), SEG + 128);

	/* An exact fit takes the segment's last bytes, no padding. */
	ck_assert_int_eq(shmq__log_reserve(bus, SEG / 2, &off, &r), 0);
	put(r, off, SEG / 2, 4);
	ck_assert_int_eq(shmq__log_reserve(bus, SEG / 2 - 128 - 96, &off, &r),
	    0);
	put(r, off, SEG / 2 - 128 - 96, 5);
	ck_assert_uint_eq(off + SEG / 2 - 128 - 96, 2 * SEG - 96);
	ck_assert_int_eq(shmq__log_reserve(bus, 96, &off, &r), 0);
	ck_assert_uint_eq(off, 2 * SEG - 96);
	put(r, off, 96, 6);
	ck_assert_int_eq(shmq__log_reserve(bus, 80, &off, &r), 0);
	ck_assert_uint_eq(off, 2 * SEG);
	put(r, off, 80, 7);

	/* The shortest padding: 8 bytes. */
	ck_assert_int_eq(shmq__log_reserve(bus, SEG / 2, &off, &r), 0);
	put(r, off, SEG / 2, 8);
	ck_assert_int_eq(shmq__log_reserve(bus, SEG / 2 - 80 - 8, &off, &r),
	    0);
	put(r, off, SEG / 2 - 80 - 8, 9);
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->log_tail), 3 * SEG - 8);
	ck_assert_int_eq(shmq__log_reserve(bus, 16 + sizeof(*r), &off, &r),
	    0);
	ck_assert_uint_eq(off, 3 * SEG);
	put(r, off, 16 + sizeof(*r), 10);
	p = at(3 * SEG - 8);
	ck_assert_uint_eq(p->magic, SHMQ_PAD_MAGIC);
	ck_assert_uint_eq(p->size, 8);
}
END_TEST

static int
is_seg_name(const char *s)
{
	size_t i;

	for (i = 0; i < 20; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return s[20] == '\0';
}

START_TEST(t_segment_files)
{
	char dir[4096], path[4096], want[32];
	uint64_t off, seg, nseg = 0;
	struct shmq_rec *r;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int i, bad = 0;

	/* Reach into segment 3. */
	for (i = 0; i < 7; i++) {
		ck_assert_int_eq(shmq__log_reserve(bus, SEG / 2, &off, &r), 0);
		put(r, off, SEG / 2, (uint32_t)i);
	}
	ck_assert_uint_eq(off, 3 * SEG);
	snprintf(dir, sizeof(dir), "%s/%s/commitlog", tu_home(), tu_bus());
	ck_assert_ptr_nonnull(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		/* 20-digit names, each the offset of a segment start, each
		 * a whole segment long. */
		if (!is_seg_name(de->d_name)) {
			fprintf(stderr, "odd file %s\n", de->d_name);
			bad++;
			continue;
		}
		off = strtoull(de->d_name, NULL, 10);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (off % SEG != 0 || stat(path, &st) != 0 ||
		    (uint64_t)st.st_size != SEG)
			bad++;
		nseg++;
	}
	closedir(d);
	ck_assert_int_eq(bad, 0);
	/* Segments 0 to 3, and perhaps the next one made ahead. */
	ck_assert_uint_ge(nseg, 4);
	ck_assert_uint_le(nseg, 5);
	for (seg = 0; seg < 4; seg++) {
		snprintf(want, sizeof(want), "%020llu",
		    (unsigned long long)(seg * SEG));
		snprintf(path, sizeof(path), "%s/%s", dir, want);
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_int_eq(shmq__log_seg_path(bus, seg * SEG, want,
		    sizeof(want)) < 0, 1);	/* too short a buffer */
		ck_assert_int_eq(shmq__log_seg_path(bus, seg * SEG, dir + 2048,
		    2048), 0);
		ck_assert_str_eq(dir + 2048, path);
	}
	/* Nothing beyond what was made ahead. */
	snprintf(path, sizeof(path), "%s/%020llu", dir,
	    (unsigned long long)(5 * SEG));
	ck_assert_int_ne(stat(path, &st), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Record checks                                                       */
/* ------------------------------------------------------------------ */

struct sent {
	struct shmq_producer	*p;
	uint64_t		 off;
	uint32_t		 size;
	struct shmq_rec		*r;
};

static void
send_one(struct sent *s, size_t body_len)
{
	static char body[4096];
	struct shmq_send_result res;
	struct shmq_msg m;

	memset(body, 'b', sizeof(body));
	shmq_msg_init(&m);
	m.topic = "t";
	m.tags = "tag";
	m.body = body;
	m.body_len = body_len;
	if (s->p == NULL)
		ck_assert_int_eq(shmq_producer_open(&s->p, bus, NULL), 0);
	ck_assert_int_eq(shmq_producer_send(s->p, &m, &res), 0);
	s->off = res.log_off;
	s->r = (struct shmq_rec *)(uintptr_t)at(s->off);
	s->size = s->r->size;
	ck_assert_uint_eq(s->size, shmq__align8(sizeof(struct shmq_rec) +
	    1 + 3 + body_len));
}

static void
expect_corrupt(uint64_t off, uint32_t size, bool crc, const char *what)
{
	int err = 12345;

	ck_assert_msg(shmq__log_record(bus, off, size, crc, &err) == NULL,
	    "%s: accepted", what);
	ck_assert_msg(err == SHMQ_ECORRUPT, "%s: err %d", what, err);
}

START_TEST(t_record_ok)
{
	struct sent a = { 0 }, b;
	const struct shmq_rec *r;
	int err = 1;

	send_one(&a, 100);
	b = a;
	send_one(&b, 3000);
	r = shmq__log_record(bus, a.off, a.size, true, &err);
	ck_assert_ptr_eq(r, a.r);
	ck_assert_int_eq(err, 0);
	err = 1;
	ck_assert_ptr_eq(shmq__log_record(bus, b.off, b.size, true, &err),
	    b.r);
	ck_assert_int_eq(err, 0);
	ck_assert_uint_eq(b.off, a.off + a.size);
	shmq_producer_close(a.p);
}
END_TEST

START_TEST(t_record_bounds)
{
	struct sent s = { 0 };
	uint64_t tail;
	int err;

	send_one(&s, 100);
	tail = ck_pr_load_64(&bus->ctl->log_tail);
	ck_assert_uint_eq(s.off + s.size, tail);
	expect_corrupt(s.off + 4, s.size, false, "misaligned offset");
	expect_corrupt(s.off, s.size + 4, false, "misaligned size");
	expect_corrupt(s.off, 64, false, "shorter than a header");
	expect_corrupt(s.off, 0, false, "size 0");
	expect_corrupt(s.off, s.size + 8, false, "past the tail");
	expect_corrupt(tail, s.size, false, "at the tail");
	expect_corrupt(SEG * 100, s.size, false, "far beyond the tail");
	expect_corrupt(UINT64_MAX - 7, s.size, false, "wrapping offset");
	expect_corrupt(s.off, bus->max_msg_bytes + 8192, false, "huge size");
	expect_corrupt(SEG - 8, 88, false, "across a segment end");
	/* Below the first byte still stored: reclaimed, not corrupt. */
	ck_pr_store_64(&bus->ctl->log_min_off, s.off + 8);
	ck_assert_ptr_null(shmq__log_record(bus, s.off, s.size, false, &err));
	ck_assert_int_eq(err, SHMQ_ERECLAIMED);
	ck_pr_store_64(&bus->ctl->log_min_off, 0);
	shmq_producer_close(s.p);
}
END_TEST

START_TEST(t_record_header)
{
	struct sent a = { 0 }, b;
	uint32_t save;
	uint64_t save64;
	int err;

	send_one(&a, 100);
	b = a;
	send_one(&b, 200);
	/* Size mismatch with the index. */
	expect_corrupt(a.off, a.size + 8, false, "size larger than record");
	expect_corrupt(a.off, a.size - 8, false, "size smaller than record");
	expect_corrupt(a.off + 8, a.size, false, "inside a record");
	expect_corrupt(b.off, a.size, false, "other record's size");
	/* Magic. */
	save = a.r->magic;
	a.r->magic = SHMQ_ABORT_MAGIC;
	expect_corrupt(a.off, a.size, false, "aborted record");
	a.r->magic = SHMQ_PAD_MAGIC;
	expect_corrupt(a.off, a.size, true, "padding");
	a.r->magic = 0xdeadbeefu;
	expect_corrupt(a.off, a.size, false, "garbage magic");
	a.r->magic = save;
	/* Its own offset. */
	save64 = a.r->log_off;
	a.r->log_off = b.off;
	expect_corrupt(a.off, a.size, false, "wrong own offset");
	a.r->log_off = save64;
	/* A length that disagrees with the size. */
	a.r->body_len += 8;
	expect_corrupt(a.off, a.size, false, "body_len");
	a.r->body_len -= 8;
	ck_assert_ptr_nonnull(shmq__log_record(bus, a.off, a.size, true,
	    &err));
	ck_assert_ptr_nonnull(shmq__log_record(bus, b.off, b.size, true,
	    &err));
	shmq_producer_close(a.p);
}
END_TEST

START_TEST(t_record_crc)
{
	struct sent s = { 0 };
	unsigned char *body;
	const struct shmq_rec *r;
	int err;

	/* A body with padding after it: 80 + 1 + 3 + 101 = 185 -> 192. */
	send_one(&s, 101);
	ck_assert_uint_eq(s.size, 192);
	body = (unsigned char *)(s.r + 1) + 1 + 3;
	ck_assert_int_eq(body[50], 'b');

	body[50] ^= 0x20;
	expect_corrupt(s.off, s.size, true, "flipped body byte");
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "CRC"));
	err = 1;
	r = shmq__log_record(bus, s.off, s.size, false, &err);
	ck_assert_ptr_eq(r, s.r);
	ck_assert_int_eq(err, 0);
	body[50] ^= 0x20;
	ck_assert_ptr_nonnull(shmq__log_record(bus, s.off, s.size, true,
	    &err));

	/* The padding is covered. */
	body[101 + 2] = 1;
	expect_corrupt(s.off, s.size, true, "padding byte");
	body[101 + 2] = 0;
	/* So are the header fields a reader uses. */
	s.r->queue_off ^= 1;
	expect_corrupt(s.off, s.size, true, "queue_off");
	ck_assert_ptr_nonnull(shmq__log_record(bus, s.off, s.size, false,
	    &err));
	s.r->queue_off ^= 1;
	s.r->flags ^= 1;
	expect_corrupt(s.off, s.size, true, "flags");
	s.r->flags ^= 1;
	/* And the stored CRC itself. */
	s.r->crc ^= 0x80000000u;
	expect_corrupt(s.off, s.size, true, "crc field");
	s.r->crc ^= 0x80000000u;
	ck_assert_ptr_nonnull(shmq__log_record(bus, s.off, s.size, true,
	    &err));
	ck_assert_int_eq(err, 0);
	shmq_producer_close(s.p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Full disk                                                           */
/* ------------------------------------------------------------------ */

START_TEST(t_reserve_enospc)
{
	struct rlimit rl, old;
	uint64_t off, tail;
	struct shmq_rec *r;
	int err, i;

	/* Use most of segment 0. */
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(shmq__log_reserve(bus, SEG / 4, &off, &r), 0);
		put(r, off, SEG / 4, (uint32_t)i);
	}
	/* The next segment may already exist (made at half full): take it,
	 * and stop files from growing past 2 segments. */
	ck_assert_int_eq(shmq__log_reserve(bus, SEG / 2, &off, &r), 0);
	ck_assert_uint_eq(off, SEG);
	put(r, off, SEG / 2, 3);
	ck_assert_int_eq(shmq__log_reserve(bus, SEG / 2 - 64, &off, &r), 0);
	put(r, off, SEG / 2 - 64, 4);
	tail = ck_pr_load_64(&bus->ctl->log_tail);
	ck_assert_uint_eq(tail, 2 * SEG - 64);

	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	rl = old;
	rl.rlim_cur = SEG / 2;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	if (ck_pr_load_64(&bus->ctl->log_ready_end) > 2 * SEG) {
		/* Made ahead already: nothing to test here. */
		setrlimit(RLIMIT_FSIZE, &old);
		return;
	}
	err = shmq__log_reserve(bus, 128, &off, &r);
	ck_assert_int_eq(err, SHMQ_ENOSPC);
	/* Nothing reserved, no padding written, nothing half made. */
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->log_tail), tail);
	ck_assert_uint_eq(ck_pr_load_64(&bus->ctl->log_ready_end), 2 * SEG);
	ck_assert_uint_eq(at(tail)->size, 0);
	{
		char path[4096];
		struct stat st;

		ck_assert_int_eq(shmq__log_seg_path(bus, 2 * SEG, path,
		    sizeof(path)), 0);
		ck_assert(stat(path, &st) != 0 || st.st_size == 0);
	}
	/* A record that still fits is fine. */
	ck_assert_int_eq(shmq__log_reserve(bus, 64, &off, &r), 0);
	ck_assert_uint_eq(off, tail);
	put(r, off, 64, 5);
	/* Space again: the log goes on. */
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_int_eq(shmq__log_reserve(bus, 128, &off, &r), 0);
	ck_assert_uint_eq(off, 2 * SEG);
	put(r, off, 128, 6);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Several processes                                                   */
/* ------------------------------------------------------------------ */

#define NPROC		4
#define PER_PROC	3000

/* Child: open the bus itself, wait for the start, reserve PER_PROC
 * records of assorted sizes, filling each with FILL.  Exit code: 0, or
 * what failed. */
static int
reserver(int fill, int go)
{
	struct shmq_bus *b;
	struct shmq_rec *r;
	uint64_t off;
	char ch;
	int i;

	if (tu_bus_open(&b, SEG, CQE) != 0)
		return 2;
	if (read(go, &ch, 1) != 0)
		return 3;
	srandom((unsigned)fill);
	for (i = 0; i < PER_PROC; i++) {
		uint32_t len = 80 + 8 * (uint32_t)(random() % 128);
		uint32_t *w;
		size_t j;

		if (i % 200 == 199)
			len = 80 + 8 * 20000;
		if (shmq__log_reserve(b, len, &off, &r) != 0)
			return 4;
		if (off % 8 != 0 || off / SEG != (off + len - 1) / SEG)
			return 5;
		r->magic = TEST_MAGIC;
		r->flags = (uint32_t)fill;
		r->log_off = off;
		w = (uint32_t *)(r + 1);
		for (j = 0; j < (len - sizeof(*r)) / 4; j++)
			w[j] = (uint32_t)fill;
		ck_pr_fence_store();
		ck_pr_store_32(&r->size, len);
	}
	shmq_bus_close(b);
	return 0;
}

START_TEST(t_reserve_concurrent)
{
	uint64_t count[NCOUNT] = { 0 }, nrec, npad, tail;
	pid_t pid[NPROC];
	int go[2], i;

	ck_assert_int_eq(pipe(go), 0);
	for (i = 0; i < NPROC; i++) {
		pid[i] = fork();
		ck_assert_int_ge(pid[i], 0);
		if (pid[i] == 0) {
			close(go[1]);
			_exit(reserver(i + 1, go[0]));
		}
	}
	close(go[0]);
	/* Give them time to attach, then start them together. */
	usleep(100 * 1000);
	close(go[1]);
	for (i = 0; i < NPROC; i++)
		ck_assert_int_eq(tu_wait(pid[i]), 0);

	tail = ck_pr_load_64(&bus->ctl->log_tail);
	ck_assert_uint_gt(tail, 4 * SEG);
	ck_assert_int_eq(walk(tail, &nrec, &npad, count), 0);
	ck_assert_uint_eq(nrec, NPROC * PER_PROC);
	ck_assert_uint_ge(npad, 1);
	for (i = 0; i < NPROC; i++)
		ck_assert_uint_eq(count[i + 1], PER_PROC);
}
END_TEST

static Suite *
commitlog_suite(void)
{
	Suite *s = suite_create("commitlog");
	TCase *tc;

	tc = tcase_create("reserve");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_reserve_aligned);
	tcase_add_test(tc, t_reserve_padding);
	tcase_add_test(tc, t_segment_files);
	tcase_add_test(tc, t_reserve_enospc);
	suite_add_tcase(s, tc);

	tc = tcase_create("record");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_record_ok);
	tcase_add_test(tc, t_record_bounds);
	tcase_add_test(tc, t_record_header);
	tcase_add_test(tc, t_record_crc);
	suite_add_tcase(s, tc);

	tc = tcase_create("concurrent");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_reserve_concurrent);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(commitlog_suite);
}
