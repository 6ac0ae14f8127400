/*
 * testutil.h - helpers shared by the Check suites: a private store directory
 * and bus name per test, fork helpers, and a runner main().
 *
 * Every test gets its own SHMQ_HOME under $TMPDIR (or /tmp) and a unique bus
 * name, so suites can run in parallel (make -j check) without sharing a bus.
 */
#ifndef SHMQ_TESTUTIL_H
#define SHMQ_TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Make a fresh store root, export it as SHMQ_HOME and a unique SHMQ_BUS, and
 * return the root (static storage, valid until the next call).  Call from a
 * checked fixture or at the top of a test.
 */
const char *tu_setup_store(void);

/* Remove the store root made by tu_setup_store (rm -rf).  Safe to repeat. */
void tu_cleanup_store(void);

/* The bus name chosen by tu_setup_store. */
const char *tu_bus(void);

/* The store root chosen by tu_setup_store. */
const char *tu_home(void);

/* Wait for PID and return its exit code, or 128+signal if it was killed. */
int tu_wait(pid_t pid);

/* Run CMD with /bin/sh -c and return its exit status (as tu_wait). */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Path of a built program, e.g. tu_prog("utils/shmq-send"). Static buffer. */
const char *tu_prog(const char *rel);

/* Monotonic time in ns. */
uint64_t tu_mono_ns(void);

/*
 * Run the suite made by MAKE in fork mode (multi-process tests need it) and
 * return main()'s exit status.
 */
int tu_run(Suite *(*make)(void));

#endif
