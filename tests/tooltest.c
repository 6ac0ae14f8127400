/*
 * tooltest.c - see tooltest.h.
 */
#include "config.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "tooltest.h"

char *tt_out, *tt_err;
static char out_path[4200], err_path[4200];

void
tt_setup(void)
{
	tu_setup();
	snprintf(out_path, sizeof(out_path), "%s/out", tu_home());
	snprintf(err_path, sizeof(err_path), "%s/err", tu_home());
}

void
tt_teardown(void)
{
	free(tt_out);
	free(tt_err);
	tt_out = tt_err = NULL;
	tu_teardown();
}

const char *
tt_out_path(void)
{
	return out_path;
}

const char *
tt_err_path(void)
{
	return err_path;
}

char *
tt_slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	if (f == NULL)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Run CMD with standard input from IN (a path, quoted) and capture. */
static int
run_from(const char *cmd, const char *in)
{
	int st;

	st = tu_sh("%s >'%s' 2>'%s' <'%s'", cmd, out_path, err_path, in);
	free(tt_out);
	free(tt_err);
	tt_out = tt_slurp(out_path);
	tt_err = tt_slurp(err_path);
	return st;
}

int
tt_run(const char *fmt, ...)
{
	char cmd[6000];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return run_from(cmd, "/dev/null");
}

/* Write S to the file NAME in the store and return its path (static). */
static const char *
store_file(const char *name, const char *s)
{
	static char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tu_home(), name);
	f = fopen(path, "we");
	ck_assert_ptr_nonnull(f);
	fputs(s, f);
	fclose(f);
	return path;
}

int
tt_run_in(const char *input, const char *fmt, ...)
{
	const char *in = store_file("stdin", input);
	char cmd[6000];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return run_from(cmd, in);
}

int
tt_count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return n;
}

const char *
tt_line(const char *s, int i)
{
	static char buf[8192];
	const char *e;

	while (i-- > 0 && s != NULL) {
		s = strchr(s, '\n');
		if (s != NULL)
			s++;
	}
	if (s == NULL)
		return "";
	e = strchr(s, '\n');
	if (e == NULL)
		e = s + strlen(s);
	snprintf(buf, sizeof(buf), "%.*s", (int)(e - s), s);
	return buf;
}

int
tt_json_valid(const char *s)
{
	const char *path = store_file("json", s);
	int st;

	/*
	 * -s reads every document into one array, so that no document (jq
	 * accepts empty input) and two documents fail like a syntax error
	 * does (exit 2 or more); -e turns the test's false into exit 1.  The
	 * documents themselves are never the result, so null or false
	 * cannot pass for a failure.
	 */
	st = tu_sh("jq -e -s 'length == 1' <'%s' >/dev/null", path);
	ck_assert_msg(st != 126 && st != 127,
	    "jq cannot be run (exit %d); ./bootstrap installs it", st);
	return st == 0;
}

static char shmqd_log[4200];

const char *
tt_shmqd_log(void)
{
	return shmqd_log;
}

pid_t
tt_shmqd_start(const char *args)
{
	snprintf(shmqd_log, sizeof(shmqd_log), "%s/shmqd.log", tu_home());
	return tt_shmqd_start_log(args, shmqd_log);
}

pid_t
tt_shmqd_start_log(const char *args, const char *log)
{
	char cmd[8800];

	snprintf(cmd, sizeof(cmd), "exec %s -f --log-level debug %s "
	    ">>%s 2>&1", tu_prog("shmqd/shmqd"), args, log);
	return tt_spawn(cmd);
}

pid_t
tt_spawn(const char *cmd)
{
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

bool
tt_shmqd_log_has(const char *needle, int n)
{
	return tt_log_has(shmqd_log, needle, n, 5);
}

bool
tt_log_has(const char *log, const char *needle, int n, double secs)
{
	uint64_t t0 = tu_mono_ns();
	char *s, *p;
	int k;

	do {
		s = tt_slurp(log);
		for (k = 0, p = s; (p = strstr(p, needle)) != NULL; p++)
			k++;
		free(s);
		if (k >= n)
			return true;
		usleep(10000);
	} while (tu_mono_ns() - t0 < (uint64_t)(secs * 1e9 * tu_mult()));
	return false;
}

int
tt_shmqd_stop(pid_t pid)
{
	kill(pid, SIGTERM);
	return tu_wait_deadline(pid, 10);
}
