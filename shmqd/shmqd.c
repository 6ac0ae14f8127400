/*
 * shmqd.c - the bus daemon: options and config, one instance per bus (a
 * pidfile in the store, flock()ed through libbsd), foreground or
 * background, signals, and two worker threads: the flusher (flush.c in
 * libshmq: log and index to disk, then a checkpoint) and the reaper
 * (reaper.c).  While shmqd runs it holds the bus open, so the control
 * region stays in place between clients.
 *
 * Threads.  SIGHUP, SIGTERM and SIGINT are blocked in every thread; the
 * main thread takes them with sigwaitinfo().  Workers sleep on a condition
 * variable with their interval as the deadline, so a stop or a reload
 * reaches them at once.
 *
 * Stop.  The workers finish their pass and exit; a final flush writes a
 * checkpoint up to the safe point; then shmq_bus_close(), which, when
 * shmqd is the last process on the bus, syncs the rest and writes the
 * clean checkpoint at the log tail.
 *
 * Exit codes: 0 stopped cleanly, 1 failed (bus, pidfile, another
 * instance), 2 bad usage or bad config.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libutil.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <shmq/shmq.h>

#include "bus.h"
#include "delay.h"
#include "flush.h"
#include "indexer.h"
#include "internal.h"

#include "conf.h"
#include "log.h"
#include "nap.h"
#include "reaper.h"
#include "reclaimer.h"
#include "scheduler.h"
#include "txnchecker.h"

#include "federate/link.h"

struct daemon {
	struct shmq_bus		*bus;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	bool			 stop;
	uint32_t		 flush_ms;	/* under lock */
	uint32_t		 reap_ms;
	struct shmq_flusher	 fl;		/* flusher thread's */
	struct reaper		 rp;		/* reaper thread's */
	struct scheduler	 sc;		/* delayed messages */
	struct txnchecker	 tx;		/* transaction checker */
	struct indexer		 ix;		/* key index */
	struct reclaimer	 rc;		/* retention */
	struct fed		*fed;		/* federation (federate/) */
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: shmqd [-f] [-b BUS] [--home DIR] [-c FILE] [--log stderr|syslog]\n"
"             [--log-level LEVEL] [--flush-interval MS] [--reap-interval MS]\n"
"             [--pidfile FILE] [--delay-levels \"1s 5s ... 2h\"]\n"
"The daemon of one shmq bus: periodic flush and checkpoints, reaping of dead\n"
"clients.  See shmqd(8).\n"
"  -b, --bus BUS          bus name (default $SHMQ_BUS, else \"default\")\n"
"      --home DIR         store root (default $SHMQ_HOME or its default)\n"
"  -c, --config FILE      INI config file ([shmqd] keys; see shmqd(8))\n"
"  -f, --foreground       stay in the foreground (logs to stderr)\n"
"      --log WHERE        stderr or syslog (background default: syslog)\n"
"      --log-level LEVEL  error, warning, notice, info (default), debug\n"
"      --flush-interval MS  async flush period (default 500; 0: none)\n"
"      --reap-interval MS   reaper period (default 100; 0: none)\n"
"      --pidfile FILE     default <store>/shmqd.pid\n"
"      --delay-levels L   delay level table (default RocketMQ's 18 levels)\n"
"      --txn-timeout MS   first check-back of a transaction (default 6000)\n"
"      --txn-check-interval MS  between check-backs (default 30000)\n"
"      --txn-check-max N  check-backs before giving up (default 15)\n"
"      --retention DUR    keep messages this long (default 72h)\n"
"      --store-max SIZE   reclaim the oldest beyond this size (default: none)\n"
"      --store-hard SIZE  refuse writes beyond this size (default: none)\n"
"      --protect-unconsumed  never reclaim what a group has not consumed\n"
"      --retention-interval MS  retention pass period (default 10000)\n"
"      --host NAME        this host's name for its peers (federation)\n"
"      --listen ADDR:PORT federation listener (default 127.0.0.1:9876)\n"
"      --peer HOST:PORT   dial this peer (repeatable; replaces the file's)\n"
"      --mirror TOPIC@HOST:PORT\n"
"                         keep a mirror of TOPIC, whose home's shmqd\n"
"                         listens at HOST:PORT (repeatable; replaces the\n"
"                         file's)\n"
"      --secret-file FILE the shared secret of the links (mode 600)\n"
"  -h, --help, -V, --version\n");
}

static void __attribute__((noreturn))
bad(const char *fmt, ...)
{
	va_list ap;

	fputs("shmqd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (shmqd --help)\n", stderr);
	exit(2);
}

/* Retention's options, K in the order of their O_ codes: the config
 * file's keys, parsed by the same code. */
static void
retain_arg(struct shmqd_conf *cl, int k, const char *v)
{
	static const struct {
		const char	*opt, *key;
		unsigned	 bit;
	} o[] = {
		{ "retention", "retention", CONF_RETENTION },
		{ "store-max", "store_max", CONF_STORE_MAX },
		{ "store-hard", "store_hard", CONF_STORE_HARD },
		{ "protect-unconsumed", "protect_unconsumed", CONF_PROTECT },
		{ "retention-interval", "retention_check_interval_ms",
		    CONF_RETAIN_MS },
	};
	char err[256];

	if (conf_retain_key(cl, o[k].key, v != NULL ? v : "yes", err,
	    sizeof(err)) != 1)
		bad("--%s: %s", o[k].opt, err);
	cl->set |= o[k].bit;
}

static void
parse_args(int argc, char **argv, struct shmqd_conf *cl, const char **cfg,
    bool *fg)
{
	enum { O_HOME = 256, O_LOG, O_LEVEL, O_FLUSH, O_REAP, O_PIDFILE,
	    O_DELAY, O_RETENTION = 0x1000, O_STORE_MAX, O_STORE_HARD,
	    O_PROTECT, O_RETAIN_MS, O_TXN_TIMEOUT = 0x2000, O_TXN_INTERVAL,
	    O_TXN_MAX, O_FED_HOST = 0x3000, O_FED_LISTEN, O_FED_PEER,
	    O_FED_SECRET, O_FED_MIRROR };
	static const struct option lopts[] = {
		{ "bus", required_argument, NULL, 'b' },
		{ "home", required_argument, NULL, O_HOME },
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log", required_argument, NULL, O_LOG },
		{ "log-level", required_argument, NULL, O_LEVEL },
		{ "flush-interval", required_argument, NULL, O_FLUSH },
		{ "reap-interval", required_argument, NULL, O_REAP },
		{ "pidfile", required_argument, NULL, O_PIDFILE },
		{ "delay-levels", required_argument, NULL, O_DELAY },
		{ "txn-timeout", required_argument, NULL, O_TXN_TIMEOUT },
		{ "txn-check-interval", required_argument, NULL,
		    O_TXN_INTERVAL },
		{ "txn-check-max", required_argument, NULL, O_TXN_MAX },
		{ "retention", required_argument, NULL, O_RETENTION },
		{ "store-max", required_argument, NULL, O_STORE_MAX },
		{ "store-hard", required_argument, NULL, O_STORE_HARD },
		{ "protect-unconsumed", no_argument, NULL, O_PROTECT },
		{ "retention-interval", required_argument, NULL, O_RETAIN_MS },
		{ "host", required_argument, NULL, O_FED_HOST },
		{ "listen", required_argument, NULL, O_FED_LISTEN },
		{ "peer", required_argument, NULL, O_FED_PEER },
		{ "secret-file", required_argument, NULL, O_FED_SECRET },
		{ "mirror", required_argument, NULL, O_FED_MIRROR },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *errstr;
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":b:c:fhV", lopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			if (shmq_name_check(optarg) < 0 ||
			    strlcpy(cl->bus, optarg, sizeof(cl->bus)) >=
			    sizeof(cl->bus))
				bad("bus \"%s\": invalid name", optarg);
			cl->set |= CONF_BUS;
			break;
		case O_HOME:
			if (strlcpy(cl->home, optarg, sizeof(cl->home)) >=
			    sizeof(cl->home))
				bad("--home: too long");
			cl->set |= CONF_HOME;
			break;
		case 'c':
			*cfg = optarg;
			break;
		case 'f':
			*fg = true;
			break;
		case O_LOG:
			if (strcmp(optarg, "stderr") != 0 &&
			    strcmp(optarg, "syslog") != 0)
				bad("--log \"%s\": stderr or syslog", optarg);
			cl->syslog_on = strcmp(optarg, "syslog") == 0;
			cl->set |= CONF_LOG;
			break;
		case O_LEVEL:
			if ((cl->level = log_level_parse(optarg)) < 0)
				bad("--log-level \"%s\": error, warning, "
				    "notice, info or debug", optarg);
			cl->set |= CONF_LEVEL;
			break;
		case O_FLUSH:
		case O_REAP:
			if (conf_ms(optarg, ch == O_FLUSH ? &cl->flush_ms :
			    &cl->reap_ms, &errstr) < 0)
				bad("--%s-interval \"%s\": %s (milliseconds, "
				    "0 to %d)", ch == O_FLUSH ? "flush" :
				    "reap", optarg, errstr, SHMQD_MS_MAX);
			cl->set |= ch == O_FLUSH ? CONF_FLUSH : CONF_REAP;
			break;
		case O_PIDFILE:
			if (strlcpy(cl->pidfile, optarg, sizeof(cl->pidfile))
			    >= sizeof(cl->pidfile))
				bad("--pidfile: too long");
			cl->set |= CONF_PIDFILE;
			break;
		case O_DELAY: {
			char why[128];
			int n = shmq__delay_levels_parse(optarg, cl->delay_ms,
			    why, sizeof(why));

			if (n < 0)
				bad("--delay-levels \"%s\": %s", optarg, why);
			cl->ndelay = (uint32_t)n;
			cl->set |= CONF_DELAY;
			break;
		}
		case O_TXN_TIMEOUT:
		case O_TXN_INTERVAL:
		case O_TXN_MAX: {
			static const char *const key[] = { "txn_timeout_ms",
			    "txn_check_interval_ms", "txn_check_max" };
			char why[256];

			if (conf_txn_key(cl, key[ch - O_TXN_TIMEOUT], optarg, why,
			    sizeof(why)) != 1)
				bad("--%s", why);
			cl->set |= CONF_TXN_TIMEOUT << (ch - O_TXN_TIMEOUT);
			break;
		}
		case O_RETENTION:
		case O_STORE_MAX:
		case O_STORE_HARD:
		case O_PROTECT:
		case O_RETAIN_MS:
			retain_arg(cl, ch - O_RETENTION, optarg);
			break;
		case O_FED_HOST:
		case O_FED_LISTEN:
		case O_FED_PEER:
		case O_FED_SECRET:
		case O_FED_MIRROR: {
			/* The config file's keys, by the same code. */
			static const char *const key[] = { "host", "listen",
			    "peer", "secret_file", "mirror" };
			char why[256];

			if (fed_conf_key(&cl->fed, key[ch - O_FED_HOST], optarg,
			    why, sizeof(why)) != 1)
				bad("--%s", why);
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("shmqd %s\n", PACKAGE_VERSION);
			exit(0);
		case ':':
			bad("option %s needs an argument", argv[optind - 1]);
		default:
			if (optopt != 0)
				bad("unknown option -%c", optopt);
			bad("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad("unexpected argument \"%s\"", argv[optind]);
}

/* Read the config file (if any) and apply the command line over it. */
static int
load(struct shmqd_conf *c, const struct shmqd_conf *cl, const char *cfg,
    char *err, size_t errlen)
{
	conf_defaults(c);
	if (cfg != NULL && conf_load(c, cfg, err, errlen) < 0)
		return -1;
	conf_override(c, cl);
	return 0;
}

/* Sleep until MS from now or a stop; true if stopping.  Lock held. */
static bool
nap(struct daemon *d, uint32_t ms)
{
	return shmqd_nap(&d->cond, &d->lock, &d->stop, ms);
}

/*
 * Status in the control region (layout.h, "shmqd's status"), for
 * shmq_bus_info: the identity once at start, the flusher's figures after
 * each flush, the reaper's after each pass.  Each field has one writer.
 */
static void
status_start(struct daemon *d)
{
	struct shmq_ctl *ctl = d->bus->ctl;

	ck_pr_store_64(&ctl->daemon_flushes, 0);
	ck_pr_store_64(&ctl->daemon_flush_bytes, 0);
	ck_pr_store_64(&ctl->daemon_flush_last_ns, 0);
	ck_pr_store_64(&ctl->daemon_flush_last_dur_ns, 0);
	ck_pr_store_64(&ctl->daemon_flush_last_bytes, 0);
	ck_pr_store_64(&ctl->daemon_reap_passes, 0);
	ck_pr_store_64(&ctl->daemon_reaped_clients, 0);
	ck_pr_store_64(&ctl->daemon_reaped_holes, 0);
	ck_pr_store_64(&ctl->daemon_reaped_members, 0);
	ck_pr_store_64(&ctl->daemon_delay_delivered, 0);
	ck_pr_store_64(&ctl->daemon_delay_errors, 0);
	ck_pr_store_32(&ctl->daemon_flush_ms, d->flush_ms);
	ck_pr_store_32(&ctl->daemon_reap_ms, d->reap_ms);
	ck_pr_store_64(&ctl->daemon_started_ns, shmq__real_ns());
	ck_pr_store_64(&ctl->daemon_start_ticks, shmq__proc_start(getpid()));
	/* The pid last: a reader that sees it sees the rest (x86 TSO; the
	 * reader checks the start time against /proc anyway). */
	ck_pr_fence_store();
	ck_pr_store_int((int *)&ctl->daemon_pid, (int)getpid());
}

static void
status_flush(struct daemon *d)
{
	struct shmq_ctl *ctl = d->bus->ctl;
	struct shmq_flusher *f = &d->fl;

	ck_pr_store_64(&ctl->daemon_flushes, f->flushes);
	ck_pr_store_64(&ctl->daemon_flush_bytes, f->bytes);
	ck_pr_store_64(&ctl->daemon_flush_last_ns, f->last_ns);
	ck_pr_store_64(&ctl->daemon_flush_last_dur_ns, f->last_dur_ns);
	ck_pr_store_64(&ctl->daemon_flush_last_bytes, f->last_bytes);
}

static void
status_reap(struct daemon *d)
{
	struct shmq_ctl *ctl = d->bus->ctl;
	struct reaper *r = &d->rp;

	ck_pr_store_64(&ctl->daemon_reap_passes, r->passes);
	ck_pr_store_64(&ctl->daemon_reaped_clients, r->clients);
	ck_pr_store_64(&ctl->daemon_reaped_holes, r->holes);
	ck_pr_store_64(&ctl->daemon_reaped_members, r->members);
}

static void
flush_report(struct daemon *d, int r)
{
	struct shmq_flusher *f = &d->fl;

	if (r < 0)
		log_err("flush: %s", shmq_errmsg());
	else if (r > 0)
		log_debug("flush: checkpoint at %llu (%llu bytes in %.3f ms, "
		    "%llu bytes not yet safe)",
		    (unsigned long long)f->ckpt_off,
		    (unsigned long long)f->last_bytes,
		    (double)f->last_dur_ns / 1e6,
		    (unsigned long long)f->lag_bytes);
}

/*
 * The flusher: every flush_ms the periodic flush and checkpoint, and in
 * between it serves sync senders at once (group commit, flush.c): it
 * sleeps on the bus's flush_req event count rather than on d->cond, so it
 * sees a stop or a reload within one beat (SHMQ_SYNC_BEAT_NS), not at
 * once.  On the way out it says it no longer serves, so senders sync
 * themselves instead of waiting out the grace.
 */
static void *
flusher(void *arg)
{
	struct daemon *d = arg;
	struct shmq_ctl *ctl = d->bus->ctl;
	uint64_t next = 0, now, until;
	uint32_t ms;
	bool stop;
	int r;

	for (;;) {
		pthread_mutex_lock(&d->lock);
		stop = d->stop;
		ms = d->flush_ms;
		pthread_mutex_unlock(&d->lock);
		if (stop)
			break;
		now = shmq__mono_ns();
		if (now >= next) {
			if (ms != 0) {
				r = shmq__flush(d->bus, &d->fl);
				flush_report(d, r);
				status_flush(d);
			}
			next = now + (uint64_t)(ms == 0 ? 1000 : ms) * 1000000;
		}
		until = now + SHMQ_SYNC_BEAT_NS;
		if ((r = shmq__flush_serve(d->bus, &d->fl,
		    until < next ? until : next)) < 0) {
			log_err("sync flush: %s", shmq_errmsg());
			pthread_mutex_lock(&d->lock);
			(void)nap(d, 100);
			pthread_mutex_unlock(&d->lock);
		}
	}
	shmq__flush_serve_stop(d->bus);
	log_notice("sync flush: %llu group commits for %llu sync sends "
	    "(%llu synced by their sender, %llu timed out)",
	    (unsigned long long)d->fl.rounds,
	    (unsigned long long)ck_pr_load_64(&ctl->flush_acks),
	    (unsigned long long)ck_pr_load_64(&ctl->flush_self),
	    (unsigned long long)ck_pr_load_64(&ctl->flush_timeouts));
	return NULL;
}

static void *
reaper(void *arg)
{
	struct daemon *d = arg;
	uint32_t ms;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		ms = d->reap_ms;
		if (nap(d, ms == 0 ? 1000 : ms))
			break;
		if (d->reap_ms == 0)
			continue;
		pthread_mutex_unlock(&d->lock);
		(void)reaper_pass(&d->rp);
		status_reap(d);
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* The retention pass's settings from shmqd's. */
static void
retain_conf(const struct shmqd_conf *c, struct shmq__retain_conf *rc)
{
	memset(rc, 0, sizeof(*rc));
	rc->retention_ms = c->retention_ms;
	rc->store_max_bytes = c->store_max_bytes;
	rc->store_hard_bytes = c->store_hard_bytes;
	rc->disk_reclaim_pct = c->disk_reclaim_pct;
	rc->disk_refuse_pct = c->disk_refuse_pct;
	rc->protect_unconsumed = c->protect_unconsumed;
}

/* SIGHUP: read the file again; apply what can change, say what cannot. */
static void
reload(struct daemon *d, struct shmqd_conf *cur, const struct shmqd_conf *cl,
    const char *cfg)
{
	struct shmq__retain_conf rc;
	struct shmqd_conf n;
	char err[512];

	if (load(&n, cl, cfg, err, sizeof(err)) < 0) {
		log_err("reload: %s; keeping the running settings", err);
		return;
	}
	if (strcmp(n.bus, cur->bus) != 0 || strcmp(n.home, cur->home) != 0 ||
	    strcmp(n.pidfile, cur->pidfile) != 0 ||
	    (n.log_given && n.syslog_on != cur->syslog_on))
		log_warn("reload: bus, home, pidfile and log target are "
		    "fixed at start; restart shmqd to change them");
	pthread_mutex_lock(&d->lock);
	d->flush_ms = n.flush_ms;
	d->reap_ms = n.reap_ms;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	ck_pr_store_32(&d->bus->ctl->daemon_flush_ms, n.flush_ms);
	ck_pr_store_32(&d->bus->ctl->daemon_reap_ms, n.reap_ms);
	retain_conf(&n, &rc);
	reclaimer_reload(&d->rc, &rc, n.retain_ms, n.disk_warn_pct);
	log_set_level(n.level);
	log_notice("reload: flush interval %u ms, reap interval %u ms, log "
	    "level %s", n.flush_ms, n.reap_ms, log_level_name(n.level));
	cur->flush_ms = n.flush_ms;
	cur->reap_ms = n.reap_ms;
	cur->level = n.level;
}

static void
detach(void)
{
	pid_t pid;
	int fd;

	fflush(NULL);
	if ((pid = fork()) < 0) {
		fprintf(stderr, "shmqd: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid > 0)
		_exit(0);	/* the bus stays open in the child */
	(void)setsid();
	if (chdir("/") < 0) {
		/* cannot happen; keep the working directory */
	}
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
		(void)dup2(fd, STDIN_FILENO);
		(void)dup2(fd, STDOUT_FILENO);
		(void)dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

int
main(int argc, char **argv)
{
	struct shmqd_conf cl, c;
	struct shmq__retain_conf rc;
	struct daemon d;
	struct pidfh *pfh;
	pthread_t tf, tr;
	sigset_t set;
	siginfo_t si;
	const char *cfg = NULL;
	char path[PATH_MAX], err[512];
	bool fg = false, run = true, fed_failed = false;
	pid_t other = 0;
	int e, sig;

	conf_defaults(&cl);
	parse_args(argc, argv, &cl, &cfg, &fg);
	if (load(&c, &cl, cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "shmqd: %s\n", err);
		fed_conf_fini(&cl.fed);
		return 2;
	}
	if (fed_conf_check(&c.fed, err, sizeof(err)) < 0) {
		fprintf(stderr, "shmqd: federation: %s\n", err);
		fed_conf_fini(&c.fed);
		fed_conf_fini(&cl.fed);
		return 2;
	}
	if (c.bus[0] != '\0' && shmq_name_check(c.bus) < 0) {
		fprintf(stderr, "shmqd: bus \"%s\": invalid name\n", c.bus);
		fed_conf_fini(&c.fed);
		fed_conf_fini(&cl.fed);
		return 2;
	}
	if (c.home[0] != '\0' && setenv("SHMQ_HOME", c.home, 1) < 0) {
		fprintf(stderr, "shmqd: SHMQ_HOME: %s\n", strerror(errno));
		return 1;
	}
	if (!c.log_given)
		c.syslog_on = !fg;
	log_set_level(c.level);

	memset(&d, 0, sizeof(d));
	if ((e = shmq_bus_open(&d.bus, c.bus[0] ? c.bus : NULL, NULL)) < 0) {
		fprintf(stderr, "shmqd: %s\n", shmq_errmsg());
		return 1;
	}
	if (c.pidfile[0] == '\0')
		snprintf(c.pidfile, sizeof(c.pidfile), "%s/shmqd.pid",
		    shmq_bus_path(d.bus));
	strlcpy(path, c.pidfile, sizeof(path));
	if ((pfh = pidfile_open(path, 0644, &other)) == NULL) {
		e = errno;
		shmq_bus_close(d.bus);
		if (e == EEXIST)
			fprintf(stderr, "shmqd: bus \"%s\" already has a daemon: "
			    "pid %ld (pidfile %s)\n", c.bus[0] ? c.bus :
			    getenv("SHMQ_BUS") ? getenv("SHMQ_BUS") :
			    "default", (long)other, path);
		else
			fprintf(stderr, "shmqd: pidfile %s: %s\n", path,
			    strerror(e));
		return 1;
	}
	if (!fg)
		detach();
	if (pidfile_write(pfh) < 0)
		fprintf(stderr, "shmqd: pidfile %s: %s\n", path,
		    strerror(errno));
	log_open(c.syslog_on);

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	pthread_mutex_init(&d.lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&d.cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	d.flush_ms = c.flush_ms;
	d.reap_ms = c.reap_ms;
	shmq__flush_init(d.bus, &d.fl);
	reaper_init(&d.rp, d.bus);
	status_start(&d);
	if (pthread_create(&tf, NULL, flusher, &d) != 0 ||
	    pthread_create(&tr, NULL, reaper, &d) != 0) {
		log_err("cannot start threads");
		pidfile_remove(pfh);
		shmq_bus_close(d.bus);
		return 1;
	}
	if (scheduler_start(&d.sc, d.bus, c.delay_ms, c.ndelay) < 0)
		log_err("cannot start the delay scheduler: delayed messages "
		    "wait until a restart");
	if (txnchecker_start(&d.tx, d.bus, c.txn_timeout_ms,
	    c.txn_interval_ms, c.txn_max) < 0)
		log_err("cannot start the transaction checker: undecided "
		    "transactions wait until a restart");
	if (indexer_start(&d.ix, d.bus) < 0)
		log_err("cannot start the key indexer: messages are indexed "
		    "by key after a restart");
	retain_conf(&c, &rc);
	if (reclaimer_start(&d.rc, d.bus, &rc, c.retain_ms,
	    c.disk_warn_pct) < 0)
		log_err("cannot start retention: nothing is reclaimed");
	/* Links are the host's face to others: a bad secret file or a
	 * listener that cannot bind stops shmqd rather than run without. */
	c.fed.log = log_msg;
	memcpy(c.fed.delay_ms, c.delay_ms, sizeof(c.fed.delay_ms));
	c.fed.ndelay = c.ndelay;
	if (fed_start(&d.fed, d.bus, &c.fed, err, sizeof(err)) < 0) {
		log_err("federation: %s: stopping", err);
		run = false;
		fed_failed = true;
	}
	log_notice("started: bus \"%s\" store %s, flush every %u ms, reap "
	    "every %u ms, checkpoint at %llu", shmq_bus_name(d.bus),
	    shmq_bus_path(d.bus), c.flush_ms, c.reap_ms,
	    (unsigned long long)d.fl.ckpt_off);

	while (run) {
		if ((sig = sigwaitinfo(&set, &si)) < 0)
			continue;
		switch (sig) {
		case SIGHUP:
			reload(&d, &c, &cl, cfg);
			break;
		default:
			log_notice("%s: stopping", strsignal(sig));
			run = false;
		}
	}

	pthread_mutex_lock(&d.lock);
	d.stop = true;
	pthread_cond_broadcast(&d.cond);
	pthread_mutex_unlock(&d.lock);
	pthread_join(tf, NULL);
	pthread_join(tr, NULL);
	fed_stop(d.fed);
	reclaimer_stop(&d.rc);
	scheduler_stop(&d.sc);
	txnchecker_stop(&d.tx);
	if (d.tx.checks + d.tx.resolved + d.tx.discarded + d.tx.errors > 0)
		log_notice("transaction checker: %llu decisions seen, %llu "
		    "check-backs sent, %llu transactions given up, %llu "
		    "malformed passed over, %llu errors",
		    (unsigned long long)d.tx.resolved,
		    (unsigned long long)d.tx.checks,
		    (unsigned long long)d.tx.discarded,
		    (unsigned long long)d.tx.dropped,
		    (unsigned long long)d.tx.errors);
	if (d.sc.delivered + d.sc.moved + d.sc.dropped + d.sc.errors > 0)
		log_notice("scheduler: %llu delayed messages delivered, %llu "
		    "moved, %llu malformed dropped, %llu errors",
		    (unsigned long long)d.sc.delivered,
		    (unsigned long long)d.sc.moved,
		    (unsigned long long)d.sc.dropped,
		    (unsigned long long)d.sc.errors);
	e = shmq__flush(d.bus, &d.fl);
	flush_report(&d, e);
	status_flush(&d);
	/* After the last flush: its last pass indexes up to it. */
	indexer_stop(&d.ix);
	log_notice("indexer: %llu records, %llu keys indexed, %llu files "
	    "made, %llu errors", (unsigned long long)d.ix.records,
	    (unsigned long long)d.ix.keys, (unsigned long long)d.ix.files,
	    (unsigned long long)d.ix.errors);
	/* Stopped: no daemon (the figures stay for a post-mortem). */
	ck_pr_store_int((int *)&d.bus->ctl->daemon_pid, 0);
	log_notice("stopped: checkpoint at %llu; %llu flushes, %llu bytes, "
	    "last %.3f ms; reaped %llu clients, %llu holes, %llu members",
	    (unsigned long long)d.fl.ckpt_off,
	    (unsigned long long)d.fl.flushes,
	    (unsigned long long)d.fl.bytes, (double)d.fl.last_dur_ns / 1e6,
	    (unsigned long long)d.rp.clients, (unsigned long long)d.rp.holes,
	    (unsigned long long)d.rp.members);
	reaper_fini(&d.rp);
	/* The last closer syncs the rest and writes the clean checkpoint. */
	shmq_bus_close(d.bus);
	pidfile_remove(pfh);
	log_close();
	fed_conf_fini(&c.fed);
	fed_conf_fini(&cl.fed);
	return e < 0 || fed_failed ? 1 : 0;
}
