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

#include "federate/link.h"

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
/* The transaction checker's. */
#define CONF_TXN_TIMEOUT	0x200000
#define CONF_TXN_INTERVAL	0x400000
#define CONF_TXN_MAX		0x800000
#define SHMQD_TXN_MAX_MAX	10000	/* txn_check_max */
/* Retention's (a range of their own). */
#define CONF_RETENTION	0x10000
#define CONF_STORE_MAX	0x20000
#define CONF_STORE_HARD	0x40000
#define CONF_PROTECT	0x80000
#define CONF_RETAIN_MS	0x100000

#define SHMQD_RETENTION_DEF	(72ull * 3600 * 1000)	/* fileReservedTime */
#define SHMQD_RETENTION_MAX	(3650ull * 86400 * 1000)
#define SHMQD_RETAIN_MS_DEF	10000	/* cleanResourceInterval */

struct shmqd_conf {
	/* Fixed at start. */
	char		bus[128];	/* "" : $SHMQ_BUS, else "default" */
	char		home[PATH_MAX];	/* "" : $SHMQ_HOME or its default */
	char		pidfile[PATH_MAX]; /* "" : <store>/shmqd.pid */
	bool		syslog_on;	/* log=syslog */
	bool		log_given;	/* log= set in file or command line */
	uint32_t	delay_ms[18];	/* delay_levels (scheduler.c) */
	uint32_t	ndelay;		/* 0: RocketMQ's table */
	uint32_t	txn_timeout_ms;	/* txn_timeout_ms (txnchecker.c) */
	uint32_t	txn_interval_ms; /* txn_check_interval_ms */
	uint32_t	txn_max;	/* txn_check_max */
	struct fed_conf	fed;		/* federation keys (federate/fedconf.c);
					   fed.set: the command line's */
	/* Reloadable. */
	int		level;		/* syslog level */
	uint32_t	flush_ms;	/* 0: no periodic flush */
	uint32_t	reap_ms;	/* 0: no reaper */
	/* Retention (reclaimer.c; ceilings in bytes and percent). */
	uint64_t	retention_ms;	/* retention = 72h */
	uint32_t	retain_ms;	/* retention_check_interval_ms, 0: off */
	uint64_t	store_max_bytes; /* store_max = 0 (none) */
	uint64_t	store_hard_bytes; /* store_hard = 0 (none) */
	uint32_t	disk_warn_pct;	/* disk_warn_ratio = 75 */
	uint32_t	disk_reclaim_pct; /* disk_reclaim_ratio = 85 */
	uint32_t	disk_refuse_pct; /* disk_refuse_ratio = 90 */
	bool		protect_unconsumed; /* protect_unconsumed = no */
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

/* Retention's keys (also the command line's): 1 taken, 0 bad value
 * (message in ERR), -1 not one of them. */
int conf_retain_key(struct shmqd_conf *c, const char *key, const char *v,
    char *err, size_t errlen);

/* Parse a byte count with an optional k, m, g, t suffix (powers of 1024):
 * 0, or -1 with ERRSTR set. */
int conf_size(const char *s, uint64_t *out, const char **errstr);

/* The transaction checker's keys (also the command line's): 1 taken, 0
 * bad value (message in ERR), -1 not one of them. */
int conf_txn_key(struct shmqd_conf *c, const char *key, const char *v,
    char *err, size_t errlen);

/* Parse a millisecond count 0..SHMQD_MS_MAX: 0, or -1 with ERRSTR set. */
int conf_ms(const char *s, uint32_t *out, const char **errstr);

#endif
