/*
 * testutil.c - see testutil.h.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "testutil.h"

static char home[4096];
static char bus[64];

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

void
tu_cleanup_store(void)
{
	if (home[0] != '\0')
		tu_sh("rm -rf '%s'", home);
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
