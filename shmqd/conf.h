/*
 * conf.h - shmqd's settings: defaults, then the config file (INI, parsed
 * with libinih), then the command line, which wins.  On SIGHUP the file is
 * read again and the command line applied over it again; only the settings
 * marked "reloadable" take effect then (the others are fixed at start:
 * shmqd says so in its log when they differ).
 *
 * (Named conf.h, not config.h, which is autoconf's.)
 */
#ifndef SHMQD_CONF_H
#define SHMQD_CONF_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#define SHMQD_FLUSH_MS_DEF	500	/* RocketMQ flushIntervalCommitLog */
#define SHMQD_REAP_MS_DEF	100
#define SHMQD_MS_MAX		3600000

/* Bits of struct shmqd_conf's `set`: what the command line gave. */
#define CONF_BUS	0x01
#define CONF_HOME	0x02
#define CONF_LOG	0x04
#define CONF_LEVEL	0x08
#define CONF_FLUSH	0x10
#define CONF_REAP	0x20
#define CONF_PIDFILE	0x40
#define CONF_DELAY	0x80

struct shmqd_conf {
	/* Fixed at start. */
	char		bus[128];	/* "" : $SHMQ_BUS, else "default" */
	char		home[PATH_MAX];	/* "" : $SHMQ_HOME or its default */
	char		pidfile[PATH_MAX]; /* "" : <store>/shmqd.pid */
	bool		syslog_on;	/* log=syslog */
	bool		log_given;	/* log= set in file or command line */
	uint32_t	delay_ms[18];	/* delay_levels (scheduler.c) */
	uint32_t	ndelay;		/* 0: RocketMQ's table */
	/* Reloadable. */
	int		level;		/* syslog level */
	uint32_t	flush_ms;	/* 0: no periodic flush */
	uint32_t	reap_ms;	/* 0: no reaper */
	unsigned	set;		/* CONF_* */
};

void conf_defaults(struct shmqd_conf *c);

/*
 * Read PATH into C (over what C holds).  Returns 0, or -1 with a message
 * naming the file, the line and the cause in ERR.
 */
int conf_load(struct shmqd_conf *c, const char *path, char *err,
    size_t errlen);

/* Copy into DST the fields of SRC that the command line set (SRC->set). */
void conf_override(struct shmqd_conf *dst, const struct shmqd_conf *src);

/* Parse a millisecond count 0..SHMQD_MS_MAX: 0, or -1 with ERRSTR set. */
int conf_ms(const char *s, uint32_t *out, const char **errstr);

#endif
