/*
 * check_errors.c - errors.c and the helpers that live there: the code
 * table (strerror, names), the thread-local detail message, the name rule,
 * CRC32C (both the short SSE4.2 path and the isa-l path, against known
 * vectors, a bitwise reference and crc32_iscsi itself) and process start
 * times (alive, reaped, zombie, stopped, odd command names).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <isa-l/crc.h>

#include "internal.h"
#include "testutil.h"

/* ------------------------------------------------------------------ */
/* Codes                                                               */
/* ------------------------------------------------------------------ */

struct code {
	int		 val;
	const char	*name;
	const char	*str;
};

static const struct code codes[] = {
#define X(name, val, s) { val, "SHMQ_" #name, s },
	SHMQ_ERRNO_MAP(X)
#undef X
};
#define NCODES	(sizeof(codes) / sizeof(codes[0]))

START_TEST(t_every_code)
{
	size_t i, j;

	ck_assert_uint_eq(NCODES, 22);
	for (i = 0; i < NCODES; i++) {
		ck_assert_str_eq(shmq_strerror(codes[i].val), codes[i].str);
		ck_assert_str_eq(shmq_err_name(codes[i].val), codes[i].name);
		/* Outside the errno range, and distinct. */
		ck_assert_int_lt(codes[i].val, -4000);
		for (j = 0; j < i; j++)
			ck_assert_int_ne(codes[i].val, codes[j].val);
	}
	/* The enum and the table agree. */
	ck_assert_int_eq(SHMQ_EINVAL, -4001);
	ck_assert_int_eq(SHMQ_EBUSY, -4016);
	ck_assert_int_eq(SHMQ_ENOGROUP, -4017);
	ck_assert_int_eq(SHMQ_EAUTH, -4022);
	ck_assert_str_eq(shmq_err_name(SHMQ_ETOOBIG), "SHMQ_ETOOBIG");
	ck_assert_str_eq(shmq_strerror(SHMQ_ETOOBIG), "message too large");
}
END_TEST

START_TEST(t_errno_codes)
{
	static const struct {
		int		 e;
		const char	*name;
	} sys[] = {
		{ ENOENT, "ENOENT" }, { EACCES, "EACCES" }, { EINVAL, "EINVAL" },
		{ ENOSPC, "ENOSPC" }, { EAGAIN, "EAGAIN" }, { EINTR, "EINTR" },
		{ EBADF, "EBADF" }, { ENOMEM, "ENOMEM" }, { EEXIST, "EEXIST" },
		{ ETIMEDOUT, "ETIMEDOUT" }, { EPERM, "EPERM" },
	};
	size_t i;

	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		ck_assert_str_eq(shmq_strerror(-sys[i].e), strerror(sys[i].e));
		ck_assert_str_eq(shmq_err_name(-sys[i].e), sys[i].name);
	}
	/* -ENOENT and SHMQ_ENOENT are different codes. */
	ck_assert_str_ne(shmq_err_name(-ENOENT), shmq_err_name(SHMQ_ENOENT));
	ck_assert_str_eq(shmq_err_name(SHMQ_ENOENT), "SHMQ_ENOENT");
}
END_TEST

START_TEST(t_success_and_unknown)
{
	ck_assert_str_eq(shmq_strerror(0), "success");
	ck_assert_str_eq(shmq_err_name(0), "SHMQ_OK");
	ck_assert_str_eq(shmq_strerror(5), "success");
	ck_assert_str_eq(shmq_err_name(5), "SHMQ_OK");
	/* Never NULL, even for codes nobody defined. */
	ck_assert_ptr_nonnull(shmq_strerror(-3999));
	ck_assert_str_eq(shmq_err_name(-3999), "EUNKNOWN");
	ck_assert_ptr_nonnull(shmq_strerror(-4000));
	ck_assert_ptr_nonnull(shmq_strerror(-4023));
	ck_assert_str_eq(shmq_err_name(-4023), "EUNKNOWN");
	ck_assert_ptr_nonnull(shmq_strerror(INT_MIN + 1));
	ck_assert_ptr_nonnull(shmq_err_name(INT_MIN + 1));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Detail message                                                      */
/* ------------------------------------------------------------------ */

START_TEST(t_errmsg_names_thing)
{
	struct shmq_bus *bus;

	ck_assert_int_eq(shmq_name_check("ok.name"), 0);
	ck_assert_int_eq(shmq_name_check("a b"), SHMQ_ENAME);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "a b"));
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(),
	    shmq_strerror(SHMQ_ENAME)));
	ck_assert_int_eq(shmq_name_check(NULL), SHMQ_ENAME);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "(null)"));
	ck_assert_int_eq(shmq_name_check(""), SHMQ_ENAME);

	/* A later failure replaces the message. */
	ck_assert_int_eq(shmq_name_check("x/y"), SHMQ_ENAME);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "x/y"));
	ck_assert_ptr_null(strstr(shmq_errmsg(), "a b"));

	/* Through the public API: the bus name is in the message. */
	tu_setup_store();
	ck_assert_int_eq(shmq_bus_open(&bus, "bad:bus", NULL), SHMQ_ENAME);
	ck_assert_ptr_null(bus);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "bad:bus"));
	tu_cleanup_store();
}
END_TEST

START_TEST(t_errmsg_long)
{
	char name[3000];
	size_t len;

	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	ck_assert_int_eq(shmq_name_check(name), SHMQ_ENAME);
	len = strlen(shmq_errmsg());
	ck_assert_uint_gt(len, 100);
	ck_assert_uint_lt(len, 1024);
	/* A prefix on a full message keeps it terminated. */
	SHMQ_ERR_PREFIX("context");
	ck_assert_uint_lt(strlen(shmq_errmsg()), 1024);
}
END_TEST

START_TEST(t_errmsg_prefix)
{
	int err;

	err = SHMQ_ERR(SHMQ_ENOQUEUE, "queue %d", 7);
	ck_assert_int_eq(err, SHMQ_ENOQUEUE);
	ck_assert_str_eq(shmq_errmsg(), "queue 7: no such queue");
	SHMQ_ERR_PREFIX("topic \"%s\"", "t");
	ck_assert_str_eq(shmq_errmsg(), "topic \"t\": queue 7: no such queue");
}
END_TEST

START_TEST(t_err_sys)
{
	static const struct {
		int	 e;
		int	 code;
	} map[] = {
		{ EACCES, SHMQ_EACCES }, { EPERM, SHMQ_EACCES },
		{ ENOSPC, SHMQ_ENOSPC }, { EDQUOT, SHMQ_ENOSPC },
		{ EFBIG, SHMQ_ENOSPC }, { ENOMEM, SHMQ_ENOMEM },
		{ ENOENT, -ENOENT }, { EIO, -EIO },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		ck_assert_int_eq(shmq__err_sys(map[i].e, "open", "/some/path"),
		    map[i].code);
		ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "/some/path"));
		ck_assert_ptr_nonnull(strstr(shmq_errmsg(),
		    strerror(map[i].e)));
	}
}
END_TEST

static void *
thread_fail(void *arg)
{
	char *out = arg;

	/* A new thread starts with no message. */
	snprintf(out, 64, "%s", shmq_errmsg());
	(void)shmq_name_check("thread name");
	return NULL;
}

START_TEST(t_errmsg_thread_local)
{
	pthread_t th;
	char seen[64] = "unset";

	ck_assert_int_eq(shmq_name_check("main name"), SHMQ_ENAME);
	ck_assert_int_eq(pthread_create(&th, NULL, thread_fail, seen), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_str_eq(seen, "");
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "main name"));
	ck_assert_ptr_null(strstr(shmq_errmsg(), "thread name"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

START_TEST(t_name_rule)
{
	char buf[256];
	int c, bad = 0;

	ck_assert(shmq__name_ok("a"));
	ck_assert(shmq__name_ok("Orders.v2_eu-west%1"));
	ck_assert(shmq__name_ok("..."));
	ck_assert(shmq__name_ok(".hidden"));
	ck_assert(shmq__name_ok("a."));
	ck_assert(shmq__name_ok("-"));
	ck_assert(shmq__name_ok("%"));
	ck_assert(!shmq__name_ok(NULL));
	ck_assert(!shmq__name_ok(""));
	ck_assert(!shmq__name_ok("."));
	ck_assert(!shmq__name_ok(".."));
	ck_assert(!shmq__name_ok("a b"));
	ck_assert(!shmq__name_ok("a/b"));
	ck_assert(!shmq__name_ok("/"));
	ck_assert(!shmq__name_ok("a\tb"));
	ck_assert(!shmq__name_ok("caf\xc3\xa9"));

	/* Every single byte: accepted iff in [A-Za-z0-9_%-] (and '.' alone
	 * is the one special case). */
	for (c = 1; c < 256; c++) {
		int want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '%' || c == '-';

		buf[0] = (char)c;
		buf[1] = '\0';
		if (shmq__name_ok(buf) != want)
			bad++;
		/* In the middle of a name too; '.' is fine there. */
		buf[0] = 'a';
		buf[1] = (char)c;
		buf[2] = 'b';
		buf[3] = '\0';
		if (shmq__name_ok(buf) != (want || c == '.'))
			bad++;
	}
	ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(t_name_length)
{
	char buf[SHMQ_NAME_MAX + 8];

	memset(buf, 'n', sizeof(buf));
	buf[SHMQ_NAME_MAX] = '\0';
	ck_assert_uint_eq(strlen(buf), 127);
	ck_assert(shmq__name_ok(buf));
	ck_assert_int_eq(shmq_name_check(buf), 0);
	buf[SHMQ_NAME_MAX] = 'n';
	buf[SHMQ_NAME_MAX + 1] = '\0';
	ck_assert_uint_eq(strlen(buf), 128);
	ck_assert(!shmq__name_ok(buf));
	ck_assert_int_eq(shmq_name_check(buf), SHMQ_ENAME);
	buf[SHMQ_NAME_MAX + 6] = '\0';
	buf[SHMQ_NAME_MAX + 1] = 'n';
	ck_assert(!shmq__name_ok(buf));
	/* 127 dots is a name, not "." or "..". */
	memset(buf, '.', SHMQ_NAME_MAX);
	buf[SHMQ_NAME_MAX] = '\0';
	ck_assert(shmq__name_ok(buf));
}
END_TEST

/* ------------------------------------------------------------------ */
/* CRC32C                                                              */
/* ------------------------------------------------------------------ */

/* Bitwise reflected CRC32C (Castagnoli, 0x82F63B78), no pre/post
 * inversion: the same convention as crc32_iscsi and shmq__crc32c. */
static uint32_t
ref_crc(uint32_t crc, const unsigned char *p, size_t n)
{
	int k;

	while (n-- > 0) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return crc;
}

/* The standard CRC-32C: init 0xffffffff, final xor 0xffffffff. */
static uint32_t
std_crc32c(const void *p, size_t n)
{
	return ~shmq__crc32c(0xffffffffu, p, n);
}

START_TEST(t_crc_vectors)
{
	unsigned char b[48];
	int i;

	/* Check value of CRC-32C. */
	ck_assert_uint_eq(std_crc32c("123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(std_crc32c("", 0), 0);
	ck_assert_uint_eq(shmq__crc32c(0xffffffffu, "", 0), 0xffffffffu);
	ck_assert_uint_eq(shmq__crc32c(0x12345678u, NULL, 0), 0x12345678u);
	/* RFC 3720 B.4. */
	memset(b, 0, 32);
	ck_assert_uint_eq(std_crc32c(b, 32), 0x8a9136aau);
	memset(b, 0xff, 32);
	ck_assert_uint_eq(std_crc32c(b, 32), 0x62a8ab43u);
	for (i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	ck_assert_uint_eq(std_crc32c(b, 32), 0x46dd794eu);
	for (i = 0; i < 32; i++)
		b[i] = (unsigned char)(31 - i);
	ck_assert_uint_eq(std_crc32c(b, 32), 0x113fdb5cu);
	/* The seed the library uses makes zeros give a non-zero CRC. */
	memset(b, 0, sizeof(b));
	ck_assert_uint_ne(shmq__crc32c(0xffffffffu, b, sizeof(b)), 0);
	/* And the raw convention equals isa-l's. */
	ck_assert_uint_eq(shmq__crc32c(0xffffffffu, "123456789", 9),
	    crc32_iscsi((unsigned char *)"123456789", 9, 0xffffffffu));
}
END_TEST

#define CRC_MAX	2000
#define CRC_BUF	(CRC_MAX + 16)

static void
fill_random(unsigned char *b, size_t n, unsigned seed)
{
	size_t i;

	srandom(seed);
	for (i = 0; i < n; i++)
		b[i] = (unsigned char)random();
}

START_TEST(t_crc_paths_agree)
{
	static const uint32_t seeds[] = { 0xffffffffu, 0, 0xdeadbeefu };
	unsigned char *b = malloc(CRC_BUF);
	size_t n, a;
	unsigned s;
	int bad_isal = 0, bad_ref = 0;

	ck_assert_ptr_nonnull(b);
	fill_random(b, CRC_BUF, 42);
	/* Every length around and across the 512-byte switch, at every
	 * alignment of the start, with several seeds. */
	for (s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++)
		for (n = 0; n <= CRC_MAX; n++)
			for (a = 0; a < 8; a++) {
				uint32_t got = shmq__crc32c(seeds[s], b + a,
				    n);

				if (got != crc32_iscsi(b + a, (int)n,
				    seeds[s]))
					bad_isal++;
				if (s == 0 && a == 3 &&
				    got != ref_crc(seeds[s], b + a, n))
					bad_ref++;
			}
	ck_assert_int_eq(bad_isal, 0);
	ck_assert_int_eq(bad_ref, 0);
	free(b);
}
END_TEST

START_TEST(t_crc_chaining)
{
	unsigned char *b = malloc(CRC_BUF);
	size_t n, k;
	int bad = 0;

	ck_assert_ptr_nonnull(b);
	fill_random(b, CRC_BUF, 7);
	/* CRC of a whole equals the CRC of its parts chained, whichever
	 * path each part takes (short parts: SSE4.2, long: isa-l). */
	for (n = 0; n <= CRC_MAX; n += 37) {
		uint32_t whole = shmq__crc32c(0xffffffffu, b, n);

		for (k = 0; k <= n; k += 13) {
			uint32_t c = shmq__crc32c(0xffffffffu, b, k);

			if (shmq__crc32c(c, b + k, n - k) != whole)
				bad++;
		}
		if (n >= 513) {
			uint32_t c = shmq__crc32c(0xffffffffu, b, 512);

			if (shmq__crc32c(c, b + 512, n - 512) != whole)
				bad++;
		}
	}
	ck_assert_int_eq(bad, 0);
	/* One flipped bit anywhere changes the CRC (CRCs catch every
	 * single-bit error). */
	bad = 0;
	for (n = 0; n < 1500; n++) {
		uint32_t c0 = shmq__crc32c(0xffffffffu, b, 1500);

		b[n] ^= 0x10;
		if (shmq__crc32c(0xffffffffu, b, 1500) == c0)
			bad++;
		b[n] ^= 0x10;
	}
	ck_assert_int_eq(bad, 0);
	free(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Process start times                                                 */
/* ------------------------------------------------------------------ */

/* Field 22 of /proc/PID/stat, parsed independently. */
static unsigned long long
stat_start(int pid)
{
	char path[64], buf[2048], *p;
	unsigned long long v = 0;
	size_t n;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	p += 2;				/* field 3, the state */
	for (i = 3; i < 22; i++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return 0;
		p++;
	}
	sscanf(p, "%llu", &v);
	return v;
}

START_TEST(t_proc_start_self)
{
	uint64_t a, b;

	a = shmq__proc_start(getpid());
	b = shmq__proc_start(getpid());
	ck_assert_uint_ne(a, 0);
	ck_assert_uint_eq(a, b);
	ck_assert_uint_eq(a, stat_start(getpid()));
	/* Nothing to find. */
	ck_assert_uint_eq(shmq__proc_start(0), 0);
	ck_assert_uint_eq(shmq__proc_start(-1), 0);
	ck_assert_uint_eq(shmq__proc_start(INT_MAX), 0);
}
END_TEST

START_TEST(t_proc_start_reaped)
{
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(tu_wait(pid), 0);
	ck_assert_uint_eq(shmq__proc_start(pid), 0);
}
END_TEST

START_TEST(t_proc_start_zombie)
{
	siginfo_t si;
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(3);
	/* Wait until it is a zombie, without reaping it. */
	memset(&si, 0, sizeof(si));
	ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT),
	    0);
	ck_assert_int_eq(si.si_pid, pid);
	ck_assert_int_eq(kill(pid, 0), 0);	/* the pid still exists */
	ck_assert_uint_eq(shmq__proc_start(pid), 0);
	ck_assert_int_eq(tu_wait(pid), 3);
	ck_assert_uint_eq(shmq__proc_start(pid), 0);
}
END_TEST

START_TEST(t_proc_start_live_child)
{
	int up[2], down[2];
	uint64_t before = 0, now;
	char ch;
	pid_t pid;

	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		uint64_t st = shmq__proc_start(getpid());

		close(up[0]);
		close(down[1]);
		/* A command name that tries to fool a parser. */
		prctl(PR_SET_NAME, "a) R 1 (b) Z ", 0, 0, 0);
		if (write(up[1], &st, sizeof(st)) != sizeof(st))
			_exit(1);
		(void)read(down[0], &ch, 1);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	ck_assert_int_eq(read(up[0], &before, sizeof(before)),
	    (ssize_t)sizeof(before));
	ck_assert_uint_ne(before, 0);
	now = shmq__proc_start(pid);
	ck_assert_uint_eq(now, before);
	ck_assert_uint_eq(now, stat_start(pid));
	/* A stopped process is still alive. */
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	{
		siginfo_t si;

		ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si,
		    WSTOPPED | WNOWAIT), 0);
	}
	ck_assert_uint_eq(shmq__proc_start(pid), before);
	ck_assert_int_eq(kill(pid, SIGCONT), 0);
	close(down[1]);
	ck_assert_int_eq(tu_wait(pid), 0);
	ck_assert_uint_eq(shmq__proc_start(pid), 0);
}
END_TEST

static Suite *
errors_suite(void)
{
	Suite *s = suite_create("errors");
	TCase *tc;

	tc = tcase_create("codes");
	tcase_add_test(tc, t_every_code);
	tcase_add_test(tc, t_errno_codes);
	tcase_add_test(tc, t_success_and_unknown);
	suite_add_tcase(s, tc);

	tc = tcase_create("errmsg");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, t_errmsg_names_thing);
	tcase_add_test(tc, t_errmsg_long);
	tcase_add_test(tc, t_errmsg_prefix);
	tcase_add_test(tc, t_err_sys);
	tcase_add_test(tc, t_errmsg_thread_local);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, t_name_rule);
	tcase_add_test(tc, t_name_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("crc32c");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, t_crc_vectors);
	tcase_add_test(tc, t_crc_paths_agree);
	tcase_add_test(tc, t_crc_chaining);
	suite_add_tcase(s, tc);

	tc = tcase_create("proc_start");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, t_proc_start_self);
	tcase_add_test(tc, t_proc_start_reaped);
	tcase_add_test(tc, t_proc_start_zombie);
	tcase_add_test(tc, t_proc_start_live_child);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(errors_suite);
}
