/*
 * testutil.c - see testutil.h.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <ck_pr.h>

#include "shmq/shmq.h"
#include "testutil.h"

static char home[4096];
static char bus[64];
static uint64_t rng_state;

const char *
tu_setup_store(void)
{
	const char *tmp = getenv("TMPDIR");
	static unsigned seq;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(home, sizeof(home), "%s/shmq-test.XXXXXX", tmp);
	if (mkdtemp(home) == NULL) {
		perror("mkdtemp");
		abort();
	}
	snprintf(bus, sizeof(bus), "t%d-%u", (int)getpid(), seq++);
	setenv("SHMQ_HOME", home, 1);
	setenv("SHMQ_BUS", bus, 1);
	return home;
}

/*
 * Open and close every bus under the store root, so that a control region
 * left by a process the test killed is removed by the last closer, as a
 * user's next open would: deleting the store alone would leave it in
 * /dev/shm for good.
 */
static void
close_leftover_buses(void)
{
	struct shmq_bus_opts o;
	struct shmq_bus *b;
	struct dirent *de;
	char conf[4096];
	DIR *d;

	if ((d = opendir(home)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(conf, sizeof(conf), "%s/%s/bus.conf", home,
		    de->d_name);
		if (access(conf, F_OK) != 0)
			continue;
		shmq_bus_opts_init(&o);
		o.home = home;
		o.create = 0;
		if (shmq_bus_open(&b, de->d_name, &o) == 0)
			shmq_bus_close(b);
	}
	closedir(d);
}

void
tu_cleanup_store(void)
{
	if (home[0] == '\0')
		return;
	close_leftover_buses();
	tu_sh("rm -rf '%s'", home);
}

void
tu_setup(void)
{
	tu_setup_store();
}

void
tu_teardown(void)
{
	tu_sh("rm -f /dev/shm/shmq.*.%s.* 2>/dev/null", tu_bus());
	tu_cleanup_store();
}

const char *
tu_bus(void)
{
	return bus;
}

const char *
tu_home(void)
{
	return home;
}

int
tu_wait(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

int
tu_sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st < 0)
		return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

int
tu_bus_open(struct shmq_bus **out, uint64_t segment_bytes, uint32_t cq_entries)
{
	struct shmq_bus_opts o;

	shmq_bus_opts_init(&o);
	o.segment_bytes = segment_bytes;
	o.cq_entries = cq_entries;
	return shmq_bus_open(out, NULL, &o);
}

struct shmq_bus *
tu_bus_open_default(void)
{
	struct shmq_bus *b = NULL;
	int rc = shmq_bus_open(&b, NULL, NULL);

	ck_assert_msg(rc == 0, "bus open: %s (%s)", shmq_err_name(rc),
	    shmq_errmsg());
	return b;
}

struct committed {
	const char	*topic;
	uint64_t	*per_queue;
	unsigned	 nq;
	uint64_t	 sum;
};

static int
committed_cb(void *arg, const struct shmq_group_info *gi)
{
	struct committed *c = arg;
	size_t i;
	int q;

	for (i = 0; i < gi->nqueues; i++) {
		if (strcmp(gi->queues[i].topic, c->topic) != 0)
			continue;
		c->sum += gi->queues[i].committed;
		q = gi->queues[i].queue;
		if (c->per_queue != NULL && q >= 0 && (unsigned)q < c->nq)
			c->per_queue[q] = gi->queues[i].committed;
	}
	return 0;
}

uint64_t
tu_group_committed(struct shmq_bus *b, const char *group,
    const char *topic, uint64_t *per_queue, unsigned nq)
{
	struct committed c = { topic, per_queue, nq, 0 };
	int rc;

	if (per_queue != NULL)
		memset(per_queue, 0, nq * sizeof(*per_queue));
	rc = shmq_group_foreach(b, group, committed_cb, &c);
	ck_assert_msg(rc == 0, "group %s: %s (%s)", group, shmq_err_name(rc),
	    shmq_errmsg());
	return c.sum;
}

const char *
tu_prog(const char *rel)
{
	static char buf[4096];
	const char *top = getenv("SHMQ_TOP_BUILDDIR");

	snprintf(buf, sizeof(buf), "%s/%s", top ? top : ".", rel);
	return buf;
}

uint64_t
tu_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double
tu_mult(void)
{
	const char *s = getenv("CK_TIMEOUT_MULTIPLIER");
	double m = s != NULL ? atof(s) : 1.0;

	return m >= 1.0 ? m : 1.0;
}

void
tu_seed(const char *name)
{
	const char *s = getenv("SHMQ_TEST_SEED");
	uint64_t seed = s != NULL ? strtoull(s, NULL, 0) :
	    tu_mono_ns() ^ ((uint64_t)getpid() << 32);

	fprintf(stderr, "%s: seed %llu (SHMQ_TEST_SEED to replay)\n", name,
	    (unsigned long long)seed);
	rng_state = seed;
}

uint64_t
tu_rand(void)
{
	rng_state = tu_mix64(rng_state);
	return rng_state;
}

void *
tu_shared_new(size_t bytes)
{
	void *p;

	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	memset(p, 0, bytes);
	return p;
}

void
tu_detail(const char *who, const char *fmt, ...)
{
	char path[4300];
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/detail-%s.txt", home, who);
	f = fopen(path, "a");
	if (f == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

void
tu_read_detail(const char *who, char *buf, size_t size)
{
	char path[4300];
	size_t n;
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/detail-%s.txt", home, who);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

void
tu_vappend(char *buf, size_t size, const char *fmt, va_list ap)
{
	size_t len = strlen(buf);

	vsnprintf(buf + len, size - len, fmt, ap);
	len = strlen(buf);
	if (len + 2 < size) {
		buf[len] = ';';
		buf[len + 1] = ' ';
		buf[len + 2] = '\0';
	}
}

void
tu_wait_children(struct tu_child *ch, unsigned n, double secs)
{
	uint64_t end = tu_mono_ns() + (uint64_t)(secs * tu_mult() * 1e9);
	unsigned i, left = n;
	int st;

	for (i = 0; i < n; i++)
		ch[i].code = -1;
	while (left > 0) {
		for (i = 0; i < n; i++) {
			if (ch[i].code != -1)
				continue;
			if (waitpid(ch[i].pid, &st, WNOHANG) == ch[i].pid) {
				ch[i].code = WIFEXITED(st) ? WEXITSTATUS(st) :
				    128 + WTERMSIG(st);
				left--;
			}
		}
		if (left == 0)
			break;
		if (tu_mono_ns() > end) {
			for (i = 0; i < n; i++) {
				if (ch[i].code != -1)
					continue;
				kill(ch[i].pid, SIGKILL);
				tu_wait(ch[i].pid);
				ch[i].code = TU_E_TIMEOUT;
			}
			break;
		}
		usleep(2000);
	}
}

int
tu_wait_deadline(pid_t pid, double secs)
{
	uint64_t end = tu_mono_ns() + (uint64_t)(secs * tu_mult() * 1e9);
	int st;

	for (;;) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
		if (tu_mono_ns() > end) {
			kill(pid, SIGKILL);
			tu_wait(pid);
			return TU_E_TIMEOUT;
		}
		usleep(2000);
	}
}

void
tu_wait_flag(const uint32_t *flag, double secs)
{
	uint64_t end = tu_mono_ns() + (uint64_t)(secs * tu_mult() * 1e9);

	while (!ck_pr_load_32(flag)) {
		ck_assert_msg(tu_mono_ns() < end, "timed out waiting");
		usleep(1000);
	}
}

int
tu_report(const struct tu_child *ch, unsigned n, int expect,
    const char *(*name)(int), char *msg, size_t size)
{
	char d[2048];
	size_t len;
	unsigned i;
	int bad = 0;

	msg[0] = '\0';
	for (i = 0; i < n; i++) {
		if (ch[i].code == expect)
			continue;
		bad++;
		tu_read_detail(ch[i].who, d, sizeof(d));
		len = strlen(msg);
		snprintf(msg + len, size - len, "[%s: exit %d (%s): %s] ",
		    ch[i].who, ch[i].code, name(ch[i].code), d);
	}
	return bad;
}

const char *
tu_exit_name(int code)
{
	switch (code) {
	case 0:		return "ok";
	case TU_E_TIMEOUT: return "did not finish in time (killed)";
	case 128 + SIGSEGV: return "SIGSEGV";
	case 128 + SIGBUS: return "SIGBUS";
	case 128 + SIGABRT: return "SIGABRT";
	case 128 + SIGKILL: return "SIGKILL";
	default:	return "unexpected exit";
	}
}

void
tu_check_children(struct tu_child *ch, unsigned n, double secs,
    const char *(*name)(int))
{
	char msg[2048];

	tu_wait_children(ch, n, secs);
	ck_assert_msg(tu_report(ch, n, 0, name, msg, sizeof(msg)) == 0, "%s",
	    msg);
}

int
tu_run(Suite *(*make)(void))
{
	SRunner *sr = srunner_create(make());
	int failed;

	/* Fork mode unless CK_FORK=no asks otherwise (to debug one test). */
	if (getenv("CK_FORK") == NULL)
		srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* cachestat(2), Linux 6.5; glibc has no wrapper yet. */
#ifndef __NR_cachestat
#define __NR_cachestat	451
#endif

struct tu_cachestat_range {
	uint64_t	off;
	uint64_t	len;
};

struct tu_cachestat {
	uint64_t	nr_cache;
	uint64_t	nr_dirty;
	uint64_t	nr_writeback;
	uint64_t	nr_evicted;
	uint64_t	nr_recently_evicted;
};

long
tu_unsynced(const char *path, uint64_t off, uint64_t len)
{
	struct tu_cachestat_range r = { off, len };
	struct tu_cachestat cs;
	long rc;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	rc = syscall(__NR_cachestat, fd, &r, &cs, 0);
	close(fd);
	if (rc != 0)
		return -1;
	return (long)(cs.nr_dirty + cs.nr_writeback);
}

int
tu_disk_store(const char *test)
{
	struct tu_cachestat_range r = { 0, 0 };
	struct tu_cachestat cs;
	struct statfs fs;
	int fd;

	if (statfs(tu_home(), &fs) == 0 && (fs.f_type == 0x01021994 ||
	    fs.f_type == 0x858458f6)) {
		fprintf(stderr, "%s: disk checks skipped (the store is on "
		    "tmpfs or ramfs: nothing to flush)\n", test);
		return 0;
	}
	fd = open(tu_home(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && syscall(__NR_cachestat, fd, &r, &cs, 0) < 0 &&
	    errno == ENOSYS) {
		close(fd);
		fprintf(stderr, "%s: disk checks skipped (no cachestat(2): "
		    "Linux < 6.5)\n", test);
		return 0;
	}
	if (fd >= 0)
		close(fd);
	return 1;
}
