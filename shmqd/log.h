/*
 * log.h - shmqd's log: one line per event to standard error (with a time
 * stamp) or to syslog (facility daemon), filtered by a level that SIGHUP
 * may change.  Thread-safe: each line is one write(2) or syslog(3) call.
 */
#ifndef SHMQD_LOG_H
#define SHMQD_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Levels are syslog's: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO,
 * LOG_DEBUG. */

/* Log to syslog (SYSLOG) or standard error from now on. */
void log_open(bool syslog_on);
void log_close(void);

/* Lines above LEVEL are dropped. */
void log_set_level(int level);
int log_get_level(void);

/* LEVEL from its name ("err", "error", "warning", "notice", "info",
 * "debug"), or -1. */
int log_level_parse(const char *name);
const char *log_level_name(int level);

void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
