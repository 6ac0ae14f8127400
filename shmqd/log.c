/*
 * log.c - shmqd's log (see log.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ck_pr.h>

#include "log.h"

static bool use_syslog;
static int max_level = LOG_INFO;

static const char *const names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "error", [LOG_WARNING] = "warning",
	[LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void
log_open(bool syslog_on)
{
	use_syslog = syslog_on;
	if (use_syslog)
		openlog("shmqd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_close(void)
{
	if (use_syslog)
		closelog();
	use_syslog = false;
}

void
log_set_level(int level)
{
	ck_pr_store_int(&max_level, level);
}

int
log_get_level(void)
{
	return ck_pr_load_int(&max_level);
}

int
log_level_parse(const char *name)
{
	int i;

	if (strcasecmp(name, "err") == 0)
		return LOG_ERR;
	for (i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (strcasecmp(name, names[i]) == 0)
			return i;
	return -1;
}

const char *
log_level_name(int level)
{
	return level >= 0 && level <= LOG_DEBUG ? names[level] : "?";
}

void
log_msg(int level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;

	if (level > ck_pr_load_int(&max_level))
		return;
	va_start(ap, fmt);
	if (use_syslog) {
		vsyslog(level, fmt, ap);
		va_end(ap);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ld shmqd[%ld] %s: ",
	    ts.tv_nsec / 1000000, (long)getpid(), log_level_name(level));
	if (n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	n = strlen(line);
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}
