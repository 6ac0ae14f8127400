/*
 * tooltest.h - running the command-line tools in tests: a command through
 * /bin/sh with stdout and stderr captured to files in the test's store, and
 * helpers on the output.
 *
 * tt_setup() makes the test's store (tu_setup_store) and names the capture
 * files in it; each tt_run() or tt_run_in() then replaces tt_out and tt_err
 * with what its command wrote, and tt_teardown() frees them and removes the
 * store.  Only one test runs in a process (Check's fork mode), so the state
 * is plain globals.
 *
 * JSON output is checked with jq(1), which ./bootstrap installs, so that
 * "parses" means what it means to the programs users feed it to.
 */
#ifndef SHMQ_TOOLTEST_H
#define SHMQ_TOOLTEST_H

#include <string.h>

#include <check.h>
#include <stdbool.h>
#include <sys/types.h>

/* Standard output and error of the last tt_run(), NUL-terminated. */
extern char *tt_out;
extern char *tt_err;

/* Checked fixture: tu_setup() and the capture files' names. */
void tt_setup(void);

/* Checked fixture: free tt_out and tt_err, then tu_teardown(). */
void tt_teardown(void);

/* The files that tt_run() sends standard output and error to. */
const char *tt_out_path(void);
const char *tt_err_path(void);

/*
 * Run the command FMT (printf format) through /bin/sh with standard input
 * from /dev/null, standard output and error into tt_out and tt_err; return
 * its exit status (as tu_sh).
 */
int tt_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* As tt_run(), with INPUT on standard input. */
int tt_run_in(const char *input, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The contents of PATH as a string ("" if it cannot be opened); free it. */
char *tt_slurp(const char *path);

/* The number of newlines in S. */
int tt_count_lines(const char *s);

/* Line I (from 0) of S without its newline, in a static buffer. */
const char *tt_line(const char *s, int i);

/*
 * 1 if S is exactly one JSON document (white space around it allowed) as
 * jq parses it, else 0.  Fails the test if jq cannot be run.
 */
int tt_json_valid(const char *s);

/*
 * Start the built shmqd in the foreground (-f --log-level debug) with ARGS
 * (shell words), its output appended to the test's log (tt_shmqd_log());
 * returns its pid.
 */
pid_t tt_shmqd_start(const char *args);

/* The log file of tt_shmqd_start. */
const char *tt_shmqd_log(void);

/* Wait until the log holds NEEDLE at least N times; false after 5 s (times
 * CK_TIMEOUT_MULTIPLIER). */
bool tt_shmqd_log_has(const char *needle, int n);

/* SIGTERM shmqd PID and wait for it (10 s); its exit status (as tu_wait). */
int tt_shmqd_stop(pid_t pid);

/*
 * As tt_shmqd_start, with the output appended to LOG instead (several
 * daemons in one test, one log each).
 */
pid_t tt_shmqd_start_log(const char *args, const char *log);

/* Run CMD through /bin/sh -c in a child, not waited for; its pid. */
pid_t tt_spawn(const char *cmd);

/* As tt_shmqd_log_has, on the file LOG; SECS (scaled) instead of 5 s. */
bool tt_log_has(const char *log, const char *needle, int n, double secs);

#define ck_assert_contains(hay, needle)					\
	ck_assert_msg(strstr((hay), (needle)) != NULL,			\
	    "expected \"%s\" in:\n%s", (needle), (hay))
#define ck_assert_lacks(hay, needle)					\
	ck_assert_msg(strstr((hay), (needle)) == NULL,			\
	    "did not expect \"%s\" in:\n%s", (needle), (hay))

#endif
