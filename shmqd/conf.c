/*
 * conf.c - shmqd's settings (see conf.h).
 *
 * The file is INI: keys at the top or in a [shmqd] section; unknown
 * sections and keys are errors, so a typo is not silently ignored.
 *
 *	bus = orders
 *	home = /var/lib/shmq
 *	pidfile = /run/shmqd-orders.pid
 *	log = syslog			# or stderr
 *	log_level = info		# error warning notice info debug
 *	flush_interval_ms = 500		# 0: no periodic flush
 *	reap_interval_ms = 100		# 0: no reaper
 *	delay_levels = 1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h
 *	txn_timeout_ms = 6000		# first check-back of a transaction
 *	txn_check_interval_ms = 30000	# between check-backs
 *	txn_check_max = 15		# check-backs before giving up
 *	retention = 72h			# and the other retention keys: shmqd(8)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>
#include <libutil.h>

#include "delay.h"
#include "internal.h"

#include "conf.h"
#include "log.h"

void
conf_defaults(struct shmqd_conf *c)
{
	memset(c, 0, sizeof(*c));
	fed_conf_defaults(&c->fed);
	c->level = LOG_INFO;
	c->flush_ms = SHMQD_FLUSH_MS_DEF;
	c->reap_ms = SHMQD_REAP_MS_DEF;
	c->txn_timeout_ms = SHMQ_TXN_TIMEOUT_DEFAULT_MS;
	c->txn_interval_ms = SHMQ_TXN_INTERVAL_DEFAULT_MS;
	c->txn_max = SHMQ_TXN_CHECK_MAX_DEFAULT;
	c->retention_ms = SHMQD_RETENTION_DEF;
	c->retain_ms = SHMQD_RETAIN_MS_DEF;
	c->disk_warn_pct = 75;		/* RocketMQ's diskMaxUsedSpaceRatio */
	c->disk_reclaim_pct = 85;	/* diskSpaceCleanForciblyRatio */
	c->disk_refuse_pct = 90;	/* diskSpaceWarningLevelRatio */
}

int
conf_size(const char *s, uint64_t *out, const char **errstr)
{
	if (expand_number(s, out) < 0) {
		*errstr = "not a size (bytes, or with k, m, g, t)";
		return -1;
	}
	return 0;
}

int
conf_retain_key(struct shmqd_conf *c, const char *key, const char *v, char *err,
    size_t errlen)
{
	const char *errstr = NULL, *end = "";
	uint32_t *pct = NULL;
	long long n;

	if (strcmp(key, "retention") == 0) {
		if (shmq_duration_parse(v, SHMQD_RETENTION_MAX,
		    &c->retention_ms, &end) < 0 || *end != '\0') {
			snprintf(err, errlen, "retention: \"%s\": %s (a "
			    "duration such as 72h or 30d)", v, *end != '\0' ?
			    "trailing characters" : shmq_errmsg());
			return 0;
		}
		return 1;
	}
	if (strcmp(key, "retention_check_interval_ms") == 0) {
		if (conf_ms(v, &c->retain_ms, &errstr) < 0) {
			snprintf(err, errlen, "%s: \"%s\": %s (milliseconds, "
			    "0 to %d)", key, v, errstr, SHMQD_MS_MAX);
			return 0;
		}
		return 1;
	}
	if (strcmp(key, "store_max") == 0 || strcmp(key, "store_hard") == 0) {
		if (conf_size(v, strcmp(key, "store_max") == 0 ?
		    &c->store_max_bytes : &c->store_hard_bytes, &errstr) < 0) {
			snprintf(err, errlen, "%s: \"%s\": %s", key, v, errstr);
			return 0;
		}
		return 1;
	}
	if (strcmp(key, "disk_warn_ratio") == 0)
		pct = &c->disk_warn_pct;
	else if (strcmp(key, "disk_reclaim_ratio") == 0)
		pct = &c->disk_reclaim_pct;
	else if (strcmp(key, "disk_refuse_ratio") == 0)
		pct = &c->disk_refuse_pct;
	if (pct != NULL) {
		n = strtonum(v, 0, 100, &errstr);
		if (errstr != NULL) {
			snprintf(err, errlen, "%s: \"%s\": %s (percent of the "
			    "file system, 0 to 100; 0: never)", key, v, errstr);
			return 0;
		}
		*pct = (uint32_t)n;
		return 1;
	}
	if (strcmp(key, "protect_unconsumed") == 0) {
		if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
		    strcmp(v, "1") == 0)
			c->protect_unconsumed = true;
		else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
		    strcmp(v, "0") == 0)
			c->protect_unconsumed = false;
		else {
			snprintf(err, errlen, "%s: \"%s\": yes or no", key, v);
			return 0;
		}
		return 1;
	}
	return -1;
}

int
conf_txn_key(struct shmqd_conf *c, const char *key, const char *v, char *err,
    size_t errlen)
{
	const char *errstr;
	long long n;

	if (strcmp(key, "txn_timeout_ms") == 0 ||
	    strcmp(key, "txn_check_interval_ms") == 0) {
		if (conf_ms(v, key[4] == 't' ? &c->txn_timeout_ms :
		    &c->txn_interval_ms, &errstr) < 0) {
			snprintf(err, errlen, "%s: \"%s\": %s (milliseconds, "
			    "0 to %d)", key, v, errstr, SHMQD_MS_MAX);
			return 0;
		}
		return 1;
	}
	if (strcmp(key, "txn_check_max") == 0) {
		n = strtonum(v, 0, SHMQD_TXN_MAX_MAX, &errstr);
		if (errstr != NULL) {
			snprintf(err, errlen, "%s: \"%s\": %s (0 to %d)", key, v,
			    errstr, SHMQD_TXN_MAX_MAX);
			return 0;
		}
		c->txn_max = (uint32_t)n;
		return 1;
	}
	return -1;
}

int
conf_ms(const char *s, uint32_t *out, const char **errstr)
{
	long long v = strtonum(s, 0, SHMQD_MS_MAX, errstr);

	if (*errstr != NULL)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

struct load {
	struct shmqd_conf	*c;
	char			 err[256];
};

static int
copy(char *dst, size_t len, const char *v, struct load *l, const char *key)
{
	if (strlcpy(dst, v, len) >= len) {
		snprintf(l->err, sizeof(l->err), "%s: too long", key);
		return 0;
	}
	return 1;
}

/* inih handler: 1 to go on, 0 for an error on this line. */
static int
handler(void *arg, const char *section, const char *key, const char *v)
{
	struct load *l = arg;
	struct shmqd_conf *c = l->c;
	const char *errstr;
	int r;

	if (section[0] != '\0' && strcmp(section, "shmqd") != 0) {
		snprintf(l->err, sizeof(l->err), "unknown section [%s] "
		    "(only [shmqd])", section);
		return 0;
	}
	if (strcmp(key, "bus") == 0)
		return copy(c->bus, sizeof(c->bus), v, l, key);
	if (strcmp(key, "home") == 0)
		return copy(c->home, sizeof(c->home), v, l, key);
	if (strcmp(key, "pidfile") == 0)
		return copy(c->pidfile, sizeof(c->pidfile), v, l, key);
	if (strcmp(key, "log") == 0) {
		if (strcmp(v, "syslog") != 0 && strcmp(v, "stderr") != 0) {
			snprintf(l->err, sizeof(l->err), "log: \"%s\": "
			    "stderr or syslog", v);
			return 0;
		}
		c->syslog_on = strcmp(v, "syslog") == 0;
		c->log_given = true;
		return 1;
	}
	if (strcmp(key, "log_level") == 0) {
		if ((c->level = log_level_parse(v)) < 0) {
			snprintf(l->err, sizeof(l->err), "log_level: \"%s\": "
			    "error, warning, notice, info or debug", v);
			return 0;
		}
		return 1;
	}
	if (strcmp(key, "flush_interval_ms") == 0 ||
	    strcmp(key, "reap_interval_ms") == 0) {
		uint32_t *p = key[0] == 'f' ? &c->flush_ms : &c->reap_ms;

		if (conf_ms(v, p, &errstr) < 0) {
			snprintf(l->err, sizeof(l->err), "%s: \"%s\": %s "
			    "(milliseconds, 0 to %d)", key, v, errstr,
			    SHMQD_MS_MAX);
			return 0;
		}
		return 1;
	}
	if ((r = conf_txn_key(c, key, v, l->err, sizeof(l->err))) >= 0)
		return r;
	if ((r = fed_conf_key(&c->fed, key, v, l->err, sizeof(l->err))) >= 0)
		return r;
	if (strcmp(key, "delay_levels") == 0) {
		char why[128];
		int n = shmq__delay_levels_parse(v, c->delay_ms, why,
		    sizeof(why));

		if (n < 0) {
			snprintf(l->err, sizeof(l->err), "delay_levels: "
			    "\"%s\": %s", v, why);
			return 0;
		}
		c->ndelay = (uint32_t)n;
		return 1;
	}
	if ((r = conf_retain_key(c, key, v, l->err, sizeof(l->err))) >= 0)
		return r;
	snprintf(l->err, sizeof(l->err), "unknown key \"%s\"", key);
	return 0;
}

int
conf_load(struct shmqd_conf *c, const char *path, char *err, size_t errlen)
{
	struct load l = { .c = c };
	int r;

	r = ini_parse(path, handler, &l);
	if (r == 0)
		return 0;
	if (r == -1)
		snprintf(err, errlen, "%s: cannot open", path);
	else if (r == -2)
		snprintf(err, errlen, "%s: out of memory", path);
	else if (l.err[0] != '\0')
		snprintf(err, errlen, "%s:%d: %s", path, r, l.err);
	else
		snprintf(err, errlen, "%s:%d: syntax error (expected "
		    "[section] or key = value)", path, r);
	return -1;
}

void
conf_override(struct shmqd_conf *dst, const struct shmqd_conf *src)
{
	if (src->set & CONF_BUS)
		memcpy(dst->bus, src->bus, sizeof(dst->bus));
	if (src->set & CONF_HOME)
		memcpy(dst->home, src->home, sizeof(dst->home));
	if (src->set & CONF_PIDFILE)
		memcpy(dst->pidfile, src->pidfile, sizeof(dst->pidfile));
	if (src->set & CONF_LOG) {
		dst->syslog_on = src->syslog_on;
		dst->log_given = true;
	}
	if (src->set & CONF_LEVEL)
		dst->level = src->level;
	if (src->set & CONF_FLUSH)
		dst->flush_ms = src->flush_ms;
	if (src->set & CONF_REAP)
		dst->reap_ms = src->reap_ms;
	if (src->set & CONF_RETENTION)
		dst->retention_ms = src->retention_ms;
	if (src->set & CONF_STORE_MAX)
		dst->store_max_bytes = src->store_max_bytes;
	if (src->set & CONF_STORE_HARD)
		dst->store_hard_bytes = src->store_hard_bytes;
	if (src->set & CONF_PROTECT)
		dst->protect_unconsumed = src->protect_unconsumed;
	if (src->set & CONF_RETAIN_MS)
		dst->retain_ms = src->retain_ms;
	if (src->set & CONF_TXN_TIMEOUT)
		dst->txn_timeout_ms = src->txn_timeout_ms;
	if (src->set & CONF_TXN_INTERVAL)
		dst->txn_interval_ms = src->txn_interval_ms;
	if (src->set & CONF_TXN_MAX)
		dst->txn_max = src->txn_max;
	if (src->set & CONF_DELAY) {
		memcpy(dst->delay_ms, src->delay_ms, sizeof(dst->delay_ms));
		dst->ndelay = src->ndelay;
	}
	/* Federation: its own bits; only no memory can fail it (the
	 * command line's peers are then lost, and the log says so). */
	if (fed_conf_override(&dst->fed, &src->fed) < 0)
		log_err("federation: out of memory for the peers");
	dst->set = src->set;
}
