/*
 * testutil.h - helpers shared by the Check suites: a private store directory
 * and bus name per test, fork helpers, and a runner main().
 *
 * Every test gets its own SHMQ_HOME under $TMPDIR (or /tmp) and a unique bus
 * name, so suites can run in parallel (make -j check) without sharing a bus.
 *
 * Multi-process tests: children report through _exit() codes and append
 * human-readable lines to a detail file (tu_detail) in the store root; the
 * parent waits for them with a deadline (tu_wait_children) and asserts once
 * with each failed child's code, its name and its details (tu_report, or
 * both at once: tu_check_children).
 *
 * tooltest.h, built on this, runs the command-line tools.
 */
#ifndef SHMQ_TESTUTIL_H
#define SHMQ_TESTUTIL_H

#include <check.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/types.h>

struct shmq_bus;

/*
 * Exit code the parent gives a child that it killed at its deadline: above
 * any real exit status, so it cannot be mistaken for one.
 */
#define TU_E_TIMEOUT	1000

/*
 * Make a fresh store root, export it as SHMQ_HOME and a unique SHMQ_BUS, and
 * return the root (static storage, valid until the next call).  Call from a
 * checked fixture or at the top of a test.
 */
const char *tu_setup_store(void);

/* Remove the store root made by tu_setup_store (rm -rf).  Safe to repeat. */
void tu_cleanup_store(void);

/*
 * The usual checked fixture: tu_setup() makes the store (tu_setup_store);
 * tu_teardown() removes what is left of this test's bus in /dev/shm (a
 * process the test killed leaves its objects there) and then the store
 * (tu_cleanup_store).
 */
void tu_setup(void);
void tu_teardown(void);

/* The bus name chosen by tu_setup_store. */
const char *tu_bus(void);

/* The store root chosen by tu_setup_store. */
const char *tu_home(void);

/* Wait for PID and return its exit code, or 128+signal if it was killed. */
int tu_wait(pid_t pid);

/* Run CMD with /bin/sh -c and return its exit status (as tu_wait). */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Open this test's bus with SEGMENT_BYTES segments and CQ_ENTRIES-entry
 * index files, the rest default: a small store whose files roll often.
 * Returns as shmq_bus_open().
 */
int tu_bus_open(struct shmq_bus **out, uint64_t segment_bytes,
    uint32_t cq_entries);

/*
 * Open this test's bus with the default options; fail the test, naming the
 * error, if that fails.
 */
struct shmq_bus *tu_bus_open_default(void);

/*
 * The committed offsets of consumer group GROUP on TOPIC: per queue into
 * PER_QUEUE[0..NQ) (zeroed first; queues from NQ up are left out; NULL
 * for none), and their sum over all of TOPIC's queues as the return value.
 * Fails the test if the group cannot be read.
 */
uint64_t tu_group_committed(struct shmq_bus *bus, const char *group,
    const char *topic, uint64_t *per_queue, unsigned nq);

/* Path of a built program, e.g. tu_prog("utils/shmq-send"). Static buffer. */
const char *tu_prog(const char *rel);

/* Monotonic time in ns. */
uint64_t tu_mono_ns(void);

/* $CK_TIMEOUT_MULTIPLIER, at least 1: scales a test's own time limits. */
double tu_mult(void);

/* splitmix64's finalizer: a good 64-bit mix, for generated data. */
static inline uint64_t
tu_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * Seed tu_rand() from $SHMQ_TEST_SEED, else from the clock and pid, and
 * print "NAME: seed N (SHMQ_TEST_SEED to replay)" on stderr.
 */
void tu_seed(const char *name);

/* The next pseudo-random number (a fork's child continues the sequence). */
uint64_t tu_rand(void);

/*
 * A zero-filled MAP_SHARED anonymous mapping of BYTES, to map before fork
 * so that the parent and its children share it.  Asserts on failure; free
 * it with munmap().
 */
void *tu_shared_new(size_t bytes);

/* Append a line to detail-WHO.txt in the store root (for the parent). */
void tu_detail(const char *who, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Read detail-WHO.txt into BUF ("" if there is none). */
void tu_read_detail(const char *who, char *buf, size_t size);

/*
 * Append FMT and "; " to the string in BUF (a child's report in a shared
 * page, say), cutting it at SIZE.
 */
void tu_vappend(char *buf, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* A child process and, once waited for, how it ended. */
struct tu_child {
	pid_t	pid;
	int	code;		/* as tu_wait(), or TU_E_TIMEOUT */
	char	who[32];	/* its name, and its detail file's */
};

/* Fork a child named NAME that runs CALL and _exit()s with its value. */
#define TU_SPAWN(chp, name, call) do {					\
	snprintf((chp)->who, sizeof((chp)->who), "%s", (name));		\
	(chp)->pid = fork();						\
	if ((chp)->pid == 0)						\
		_exit(call);						\
	ck_assert_int_gt((chp)->pid, 0);				\
} while (0)

/*
 * Wait for the N children CH and set their codes; SIGKILL those still
 * running after SECS (scaled by tu_mult()) and give them TU_E_TIMEOUT.
 */
void tu_wait_children(struct tu_child *ch, unsigned n, double secs);

/* The same for one child PID: its exit code (as tu_wait) or TU_E_TIMEOUT. */
int tu_wait_deadline(pid_t pid, double secs);

/*
 * Wait until *FLAG (in a page shared with children) is nonzero; fail the
 * test after SECS (scaled by tu_mult()).
 */
void tu_wait_flag(const uint32_t *flag, double secs);

/*
 * Write "[who: exit N (name): details] " to MSG for each of the N children
 * CH whose code is not EXPECT, naming codes with NAME, and return how many
 * there were (0: MSG is "").
 */
int tu_report(const struct tu_child *ch, unsigned n, int expect,
    const char *(*name)(int), char *msg, size_t size);

/*
 * A name for the codes every suite shares: 0, TU_E_TIMEOUT and deaths by
 * the usual signals; "unexpected exit" for any other.  A suite's own
 * naming function ends with it.
 */
const char *tu_exit_name(int code);

/*
 * Wait for the N children CH as tu_wait_children() (SECS) and fail the test
 * unless every one exited 0, with tu_report()'s message (codes named by
 * NAME).
 */
void tu_check_children(struct tu_child *ch, unsigned n, double secs,
    const char *(*name)(int));

/*
 * Run the suite made by MAKE in fork mode (multi-process tests need it) and
 * return main()'s exit status.
 */
int tu_run(Suite *(*make)(void));

/*
 * Pages of PATH in [OFF, OFF+LEN) that are dirty or under writeback
 * (cachestat(2), Linux 6.5), or -1 if the kernel cannot tell.
 */
long tu_unsynced(const char *path, uint64_t off, uint64_t len);

/*
 * 1 if the test's store is on a file system with a page cache to flush and
 * the kernel has cachestat(2); else 0, after saying on stderr why TEST
 * skips its disk checks.
 */
int tu_disk_store(const char *test);

#endif
