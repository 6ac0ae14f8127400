/*
 * benchrepl.c - shmq-bench --repl: what replicating a topic to a mirror
 * costs, between two shmqd on this host (doc/federation.md, "Replication").
 *
 * Setup, all of it the benchmark's own: a directory with two stores (the
 * home's and the mirror's), a secret file, two loopback ports nobody
 * listens on, the home's shmqd, then the mirror's with --mirror TOPIC;
 * the run starts once the mirror topic exists on the mirror's bus (it is
 * made on the first REPL_STATE, so it exists once subscribed).  At the end
 * both shmqd get a SIGTERM and the directory goes (unless --keep or --home).
 *
 * The parts, each after the mirror holds what the home holds:
 *  - End-to-end latency.  A producer process on the home's bus sends one
 *    message at a time; a consumer process on the mirror's bus, waiting in
 *    shmq_consumer_poll(), takes the time it receives it minus its born_ns
 *    and acknowledges on a futex word; the producer sleeps --gap after the
 *    acknowledgement and sends the next.  Both times are CLOCK_REALTIME of
 *    this one host (born_ns is the producer's), so no clock skew enters.
 *    The same with the consumer on the home's bus is the floor: the local
 *    path that replication adds to.
 *  - Sync replication.  One producer, sends paced by --gap, each timed
 *    around shmq_producer_send(): first with k = 0 (async, the floor), then
 *    with shmq_producer_set_repl(p, 1, 5000).
 *  - Throughput.  The producer sends as fast as it can for --tput-time
 *    seconds (or --tput-count messages); a monitor process reads both
 *    queues' tails every millisecond (shmq_queue_foreach): the home's send
 *    rate, the mirror's rate while the home sends and until it holds the
 *    last message, that last lag, and the most it was behind.
 *  - Catch-up.  The mirror's shmqd is stopped (SIGTERM), --repl-backlog
 *    messages are sent on the home, the mirror's shmqd is started again;
 *    the monitor times the first message and the last one the mirror holds.
 *
 * Processes: the parent forks and waits, and never opens a bus (a fork
 * after libshmq started its threads would copy a bus without them).  The
 * producer and the consumer are pinned as in the other modes; the two
 * shmqd and the monitor are not, and compete with them: on a machine of two
 * CPUs the figures include that, and the report gives each shmqd's CPU use.
 * Children report through an anonymous shared mapping made before the
 * forks, and stop when its abort word is set.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include <linux/magic.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ck_pr.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmq/shmq.h>

#include "benchrepl.h"
#include "benchutil.h"
#include "cli.h"

#define PROG		"shmq-bench"

#define D_HOME		0		/* daemons, buses, latency rows */
#define D_MIRROR	1

#define SYNC_TIMEOUT_MS	5000		/* shmq_producer_set_repl's */
#define WARM_MAX	100		/* uncounted first sends of a row */
#define MONITOR_NS	1000000ull	/* monitor's period */
#define PARENT_NAP_US	5000		/* parent's, while it waits */
#define START_SECS	15		/* a shmqd up, a mirror subscribed */
#define SETTLE_SECS	60		/* the mirror catches up between parts */
#define STOP_SECS	10		/* SIGTERM to exit, then SIGKILL */
#define MIN_RATE	10000		/* msg/s below which a part is stuck */

/*
 * The shared block.  Each part resets what it uses; the monitor and the
 * producer of a part write disjoint words.
 */
struct rsh {
	uint32_t	abort;		/* anyone: the part stops */
	uint32_t	ready;		/* the consumer or monitor is set up */
	uint32_t	ack;		/* latency: messages received (futex) */
	uint32_t	done;		/* the producer sent its last */
	uint64_t	t_first;	/* producer: first timed send, mono ns */
	uint64_t	t_last;		/* producer: after its last send */
	uint64_t	sent;		/* producer: timed messages */
	uint64_t	timeouts[2];	/* sync: SHMQ_ETIMEDOUT per phase */
	uint64_t	t_restart;	/* parent: the mirror's shmqd started */
	uint64_t	t_moved;	/* monitor: the mirror's first message */
	uint64_t	t_held;		/* monitor: it holds the last one */
	uint64_t	base;		/* monitor: mirror's tail at the start */
	uint64_t	target;		/* monitor: home's tail at the end */
	uint64_t	at_done;	/* monitor: mirror's tail then */
	uint64_t	max_behind;	/* monitor: home's tail - mirror's */
};

/* One shmqd. */
struct daemon {
	const char	*role;		/* "home", "mirror" */
	char		 host[32];
	char		 bus[128];
	char		 store[PATH_MAX];
	char		 log[PATH_MAX];
	int		 port;
	pid_t		 pid;		/* 0: not running */
	uint64_t	 cpu_ticks;	/* at the start of a part */
};

struct rlat {
	int		 state;		/* 0 not run, 1 measured, -1 failed */
	uint64_t	 n;
	double		 min, p50, p90, p99, p999, max, mean;	/* ns */
	uint64_t	 timeouts;	/* sync rows */
	double		 cpu[2];	/* each shmqd's CPU / wall time */
};

struct rtput {
	int		 state;
	uint64_t	 msgs;
	double		 send_s;	/* first to last send */
	double		 held_s;	/* first send to the mirror holding all
					   (catch-up: restart to all) */
	double		 first_s;	/* catch-up: restart to the first */
	double		 during;	/* throughput: mirror's msg/s while the
					   home sent */
	uint64_t	 max_behind;
	double		 cpu[2];
};

struct rb {
	const struct repl_opts *o;
	struct rsh	*sh;
	int64_t		*samp;		/* 2 * o->samples, shared */
	uint64_t	 warm;
	char		 root[PATH_MAX];
	int		 root_tmp;	/* made here: remove it */
	char		 secret[PATH_MAX];
	char		 shmqd[PATH_MAX];
	const char	*store_kind;
	struct daemon	 d[2];
	const char	*what;		/* the current part, for messages */
	int		 lat_from;	/* latency consumer's bus */
	int		 burst_timed;	/* the burst is the throughput's */
	int		 my_cpu;	/* in a child: -1 unpinned */
	uint64_t	 t_part;	/* parent: start of the part, mono */
	double		 load[2];	/* load average, start and end */
	long		 ncpu;
	struct rlat	 lat[2];	/* [D_HOME] floor, [D_MIRROR] */
	struct rlat	 sync[2];	/* k = 0, k = 1 */
	struct rtput	 tput;
	struct rtput	 catchup;
	double		 stop_s;	/* catch-up: the mirror's SIGTERM */
	int		 failures;
	char		 notes[12][512];
	int		 nnotes;
};

static volatile sig_atomic_t r_stop;	/* ^C or SIGTERM */
static struct rsh *r_sh;		/* for the signal handler */

/* ------------------------------------------------------------------ */
/* Small things                                                        */
/* ------------------------------------------------------------------ */

static void	note(struct rb *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	kid_fail(struct rb *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
nap_us(uint64_t us)
{
	struct timespec ts = { (time_t)(us / 1000000),
	    (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !r_stop)
		;
}

/* A warning for the report (and stderr at once, with --json). */
static void
note(struct rb *b, const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (b->o->json)
		cli_warnx("warning: %s", buf);
	if (b->nnotes < (int)(sizeof b->notes / sizeof b->notes[0]))
		strlcpy(b->notes[b->nnotes++], buf, sizeof b->notes[0]);
}

static const char *
why(int rc)
{
	const char *m = shmq_errmsg();

	return m != NULL && m[0] != '\0' ? m : shmq_strerror(rc);
}

static int
aborted(void)
{
	return ck_pr_load_32(&r_sh->abort) != 0;
}

static void
on_signal(int sig)
{
	(void)sig;
	r_stop = 1;
	if (r_sh != NULL)
		ck_pr_store_32(&r_sh->abort, 1);
}

/* The first number of /proc/loadavg, or -1. */
static double
loadavg(void)
{
	FILE *f;
	double v = -1;

	if ((f = fopen("/proc/loadavg", "r")) != NULL) {
		if (fscanf(f, "%lf", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* User + system CPU time of process PID so far, in clock ticks (0 when
 * it cannot be read: the share is then reported as 0). */
static uint64_t
proc_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if (pid <= 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold anything: fields follow its last ')'.
	 * Then state, ppid, pgrp, session, tty, tpgid, flags, 4 fault
	 * counts, utime, stime. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu", &ut, &st) != 2)
		return 0;
	return ut + st;
}

/* Start a part: the CPU time of each running shmqd, and the clock. */
static void
cpu_mark(struct rb *b)
{
	int i;

	for (i = 0; i < 2; i++)
		b->d[i].cpu_ticks = proc_ticks(b->d[i].pid);
	b->t_part = bench_mono_ns();
}

/* Each shmqd's CPU time since cpu_mark() over the wall time, in CPU[2].
 * A shmqd started since counts from its start. */
static void
cpu_shares(struct rb *b, double *cpu)
{
	double hz = (double)sysconf(_SC_CLK_TCK);
	double wall = (double)(bench_mono_ns() - b->t_part) / 1e9;
	uint64_t now;
	int i;

	for (i = 0; i < 2; i++) {
		now = proc_ticks(b->d[i].pid);
		cpu[i] = 0;
		if (hz > 0 && wall > 0 && now >= b->d[i].cpu_ticks)
			cpu[i] = (double)(now - b->d[i].cpu_ticks) / hz / wall;
	}
}

/* ------------------------------------------------------------------ */
/* Children                                                            */
/* ------------------------------------------------------------------ */

/*
 * A child's error: printed unless the part is already aborted (then an
 * earlier failure was printed and this is its consequence); aborts the
 * part so that the other children stop.  Returns the exit status.
 */
static int
kid_fail(struct rb *b, const char *fmt, ...)
{
	va_list ap;

	if (!ck_pr_fas_32(&b->sh->abort, 1)) {
		va_start(ap, fmt);
		fprintf(stderr, "%s: %s: ", PROG, b->what);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	return CLI_EXIT_FAIL;
}

/* Open the home's or the mirror's bus (WHICH), making it if CREATE. */
static int
kid_open(struct rb *b, int which, int create, struct shmq_bus **bus)
{
	struct shmq_bus_opts o;
	int rc;

	shmq_bus_opts_init(&o);
	o.home = b->d[which].store;
	o.create = create;
	if ((rc = shmq_bus_open(bus, b->d[which].bus, &o)) < 0)
		return kid_fail(b, "%s bus \"%s\" in %s: %s", b->d[which].role,
		    b->d[which].bus, b->d[which].store, why(rc));
	return 0;
}

/*
 * Pin the calling thread once its bus is open: libshmq's helper threads,
 * started meanwhile, keep the process's affinity, as in an application
 * that pins only its hot thread.
 */
static int
kid_pin(struct rb *b)
{
	cpu_set_t set;

	if (b->my_cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(b->my_cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) == -1)
		return kid_fail(b, "pin to CPU %d: %s", b->my_cpu,
		    strerror(errno));
	return 0;
}

/* Wait until the part's consumer or monitor is set up. */
static int
kid_wait_ready(struct rb *b)
{
	while (ck_pr_load_32(&b->sh->ready) == 0) {
		if (aborted())
			return CLI_EXIT_FAIL;
		nap_us(100);
	}
	/* Acquire: pairs with the release before the ready flag. */
	ck_pr_fence_load();
	return 0;
}

static void
kid_set_ready(struct rb *b)
{
	/* Release: what was set up before the flag that announces it. */
	ck_pr_fence_store();
	ck_pr_store_32(&b->sh->ready, 1);
}

/* Queue 0 of the topic, as shmq_queue_foreach() gives it. */
struct qtail {
	uint64_t	tail;
	int		mirror;
	int		found;
};

static int
qtail_cb(void *arg, const struct shmq_queue_info *qi)
{
	struct qtail *q = arg;

	if (qi->queue == 0) {
		q->tail = qi->max_off;
		q->mirror = qi->mirror;
		q->found = 1;
	}
	return 0;
}

/* Queue 0's tail of the topic on BUS: 0, SHMQ_ENOTOPIC, or a code. */
static int
qtail(struct rb *b, struct shmq_bus *bus, struct qtail *q)
{
	int rc;

	memset(q, 0, sizeof *q);
	rc = shmq_queue_foreach(bus, b->o->topic, qtail_cb, q);
	if (rc < 0 && rc != SHMQ_ENOTOPIC)
		return rc;
	return q->found ? 0 : SHMQ_ENOTOPIC;
}

/* Both tails; an error aborts the part. */
static int
tails(struct rb *b, struct shmq_bus **bus, uint64_t *home, uint64_t *mirror)
{
	struct qtail q;
	int i, rc;

	for (i = 0; i < 2; i++) {
		if ((rc = qtail(b, bus[i], &q)) < 0)
			return kid_fail(b, "topic \"%s\" on the %s: %s",
			    b->o->topic, b->d[i].role, why(rc));
		*(i == D_HOME ? home : mirror) = q.tail;
	}
	return 0;
}

static int
open_both(struct rb *b, struct shmq_bus **bus)
{
	bus[0] = bus[1] = NULL;
	return kid_open(b, D_HOME, 0, &bus[D_HOME]) != 0 ||
	    kid_open(b, D_MIRROR, 0, &bus[D_MIRROR]) != 0 ? CLI_EXIT_FAIL : 0;
}

static void
close_both(struct shmq_bus **bus)
{
	shmq_bus_close(bus[D_MIRROR]);
	shmq_bus_close(bus[D_HOME]);
}

/*
 * The stores, before either shmqd: the home's bus with the topic (one
 * queue), and the mirror's bus, empty (its shmqd makes the mirror).
 */
static int
kid_setup(struct rb *b)
{
	struct shmq_bus *bus;
	int rc;

	if ((rc = kid_open(b, D_HOME, 1, &bus)) != 0)
		return rc;
	rc = shmq_topic_create(bus, b->o->topic, 1);
	if (rc == SHMQ_EEXIST && (rc = shmq_topic_queues(bus,
	    b->o->topic)) != 1) {
		shmq_bus_close(bus);
		return kid_fail(b, "topic \"%s\" in %s: %s", b->o->topic,
		    b->d[D_HOME].store, rc < 0 ? why(rc) : "it has more than "
		    "one queue: choose another with -t");
	}
	shmq_bus_close(bus);
	if (rc < 0 && rc != SHMQ_EEXIST)
		return kid_fail(b, "topic \"%s\": %s", b->o->topic, why(rc));
	if ((rc = kid_open(b, D_MIRROR, 1, &bus)) != 0)
		return rc;
	shmq_bus_close(bus);
	return 0;
}

/* Until the mirror's shmqd has subscribed: the mirror topic exists. */
static int
kid_wait_mirror(struct rb *b)
{
	struct shmq_bus *bus;
	struct qtail q;
	int rc;

	if ((rc = kid_open(b, D_MIRROR, 0, &bus)) != 0)
		return rc;
	while ((rc = qtail(b, bus, &q)) == SHMQ_ENOTOPIC ||
	    (rc == 0 && !q.mirror)) {
		if (aborted())
			break;
		nap_us(2000);
	}
	shmq_bus_close(bus);
	if (rc < 0 && rc != SHMQ_ENOTOPIC)
		return kid_fail(b, "topic \"%s\" on the mirror: %s",
		    b->o->topic, why(rc));
	return aborted() ? CLI_EXIT_FAIL : 0;
}

/* Until the mirror holds what the home holds. */
static int
kid_settle(struct rb *b)
{
	struct shmq_bus *bus[2];
	uint64_t h = 0, m = 0;
	int rc = 0;

	if (open_both(b, bus) != 0) {
		close_both(bus);
		return CLI_EXIT_FAIL;
	}
	while (!aborted() && (rc = tails(b, bus, &h, &m)) == 0 && m < h)
		nap_us(1000);
	close_both(bus);
	return rc != 0 || aborted() ? CLI_EXIT_FAIL : 0;
}

/* A producer on the home's bus whose *M sends BUF. */
static int
kid_producer(struct rb *b, struct shmq_bus **bus, struct shmq_producer **p,
    struct shmq_msg *m, char **buf)
{
	int rc;

	*p = NULL;
	*buf = NULL;
	if ((rc = kid_open(b, D_HOME, 0, bus)) != 0)
		return rc;
	if ((rc = shmq_producer_open(p, *bus, "shmq-bench")) < 0)
		return kid_fail(b, "producer: open: %s", why(rc));
	if ((*buf = calloc(1, b->o->size)) == NULL)
		return kid_fail(b, "%s", strerror(errno));
	memset(*buf + 8, 'r', b->o->size - 8);
	shmq_msg_init(m);
	m->topic = b->o->topic;
	m->queue = 0;
	m->body = *buf;
	m->body_len = b->o->size;
	return kid_pin(b);
}

static void
kid_producer_close(struct shmq_bus *bus, struct shmq_producer *p, char *buf)
{
	shmq_producer_close(p);
	shmq_bus_close(bus);
	free(buf);
}

/* The message number at the start of every body. */
static inline void
seq_put(char *buf, uint64_t seq)
{
	memcpy(buf, &seq, sizeof seq);
}

/* ---- latency ------------------------------------------------------- */

/*
 * The latency producer: one message in flight; after each acknowledgement
 * it sleeps --gap (the consumer, and the shmqd threads between, really go
 * to sleep), then sends the next.
 */
static int
kid_lat_producer(struct rb *b)
{
	const struct timespec poll_to = { 0, 100000000L };
	struct shmq_bus *bus;
	struct shmq_producer *p;
	struct shmq_msg m;
	uint64_t i, total = b->warm + b->o->samples;
	uint32_t a;
	char *buf;
	int rc;

	if ((rc = kid_producer(b, &bus, &p, &m, &buf)) != 0 ||
	    (rc = kid_wait_ready(b)) != 0)
		goto out;
	for (i = 0; i < total; i++) {
		if (b->o->gap_us > 0)
			nap_us(b->o->gap_us);
		seq_put(buf, i);
		if ((rc = shmq_producer_send_oneway(p, &m)) < 0) {
			rc = kid_fail(b, "producer: send: %s", why(rc));
			goto out;
		}
		while ((a = ck_pr_load_32(&b->sh->ack)) != (uint32_t)(i + 1)) {
			(void)bench_futex_wait(&b->sh->ack, a, &poll_to);
			if (aborted()) {
				rc = CLI_EXIT_FAIL;
				goto out;
			}
		}
	}
	rc = 0;
out:
	kid_producer_close(bus, p, buf);
	return rc;
}

/* The latency consumer, on b->lat_from's bus. */
static int
kid_lat_consumer(struct rb *b)
{
	struct shmq_bus *bus = NULL;
	struct shmq_consumer *c = NULL;
	struct shmq_msgview v;
	uint64_t i, total = b->warm + b->o->samples, now, seq;
	char *buf = NULL;
	int rc, n;

	if ((rc = kid_open(b, b->lat_from, 0, &bus)) != 0)
		goto out;
	if ((buf = malloc(b->o->size)) == NULL) {
		rc = kid_fail(b, "%s", strerror(errno));
		goto out;
	}
	if ((rc = shmq_consumer_open(&c, bus)) < 0 ||
	    (rc = shmq_consumer_assign(c, b->o->topic, 0, NULL)) < 0 ||
	    (rc = shmq_consumer_seek(c, b->o->topic, 0, SHMQ_SEEK_LAST,
	    0)) < 0) {
		rc = kid_fail(b, "consumer: topic \"%s\": %s", b->o->topic,
		    why(rc));
		goto out;
	}
	if ((rc = kid_pin(b)) != 0)
		goto out;
	kid_set_ready(b);
	for (i = 0; i < total; i++) {
		while ((n = shmq_consumer_poll(c, &v, 1, 100)) == 0)
			if (aborted()) {
				rc = CLI_EXIT_FAIL;
				goto out;
			}
		now = shmq_now_ns();
		if (n < 0) {
			rc = kid_fail(b, "consumer: poll: %s", why(n));
			goto out;
		}
		if (v.body_len != b->o->size) {
			rc = kid_fail(b, "consumer: message at offset %" PRIu64
			    ": %zu bytes, sent %" PRIu64, v.queue_off,
			    v.body_len, b->o->size);
			goto out;
		}
		/* Copied out, as a real consumer reads it. */
		memcpy(buf, v.body, b->o->size);
		memcpy(&seq, buf, sizeof seq);
		if (seq != i) {
			rc = kid_fail(b, "consumer: message %" PRIu64 " arrived "
			    "as number %" PRIu64 " (lost, repeated or "
			    "reordered)", seq, i);
			goto out;
		}
		if (i >= b->warm)
			b->samp[i - b->warm] = (int64_t)(now - v.born_ns);
		ck_pr_store_32(&b->sh->ack, (uint32_t)(i + 1));
		(void)bench_futex_wake(&b->sh->ack);
	}
	rc = 0;
out:
	shmq_consumer_close(c);
	shmq_bus_close(bus);
	free(buf);
	return rc;
}

/* ---- sync replication ---------------------------------------------- */

/*
 * Sends paced by --gap, each timed around shmq_producer_send(): phase 0
 * with k = 0, phase 1 with k = 1.  Samples of phase k at samp[k * n].
 */
static int
kid_sync_producer(struct rb *b)
{
	struct shmq_bus *bus;
	struct shmq_producer *p;
	struct shmq_msg m;
	uint64_t i, n = b->o->samples, total = b->warm + n, t0, t1;
	unsigned k;
	char *buf;
	int rc;

	if ((rc = kid_producer(b, &bus, &p, &m, &buf)) != 0)
		goto out;
	for (k = 0; k < 2; k++) {
		if ((rc = shmq_producer_set_repl(p, k, SYNC_TIMEOUT_MS)) < 0) {
			rc = kid_fail(b, "set_repl(%u): %s", k, why(rc));
			goto out;
		}
		for (i = 0; i < total; i++) {
			if (b->o->gap_us > 0)
				nap_us(b->o->gap_us);
			if (aborted()) {
				rc = CLI_EXIT_FAIL;
				goto out;
			}
			seq_put(buf, i);
			t0 = bench_mono_ns();
			rc = shmq_producer_send(p, &m, NULL);
			t1 = bench_mono_ns();
			if (rc == SHMQ_ETIMEDOUT)
				ck_pr_inc_64(&b->sh->timeouts[k]);
			else if (rc < 0) {
				rc = kid_fail(b, "send (k = %u): %s", k,
				    why(rc));
				goto out;
			}
			if (i >= b->warm)
				b->samp[k * n + i - b->warm] =
				    (int64_t)(t1 - t0);
		}
	}
	rc = 0;
out:
	kid_producer_close(bus, p, buf);
	return rc;
}

/* ---- throughput and catch-up --------------------------------------- */

/*
 * Send as fast as possible: b->o->tput_max messages, or for
 * b->o->tput_secs in the throughput part; b->o->backlog in the catch-up
 * (no time limit).  The clock is read every 256 sends.
 */
static int
kid_burst_producer(struct rb *b)
{
	struct shmq_bus *bus;
	struct shmq_producer *p;
	struct shmq_msg m;
	int timed = b->burst_timed;
	uint64_t i, max = timed ? b->o->tput_max : b->o->backlog, end;
	char *buf;
	int rc;

	if ((rc = kid_producer(b, &bus, &p, &m, &buf)) != 0 ||
	    (rc = kid_wait_ready(b)) != 0)
		goto out;
	b->sh->t_first = bench_mono_ns();
	end = b->sh->t_first + (uint64_t)(b->o->tput_secs * 1e9);
	for (i = 0; i < max; i++) {
		if ((i & 255) == 0 && i > 0) {
			if (timed && bench_mono_ns() > end)
				break;
			if (aborted()) {
				rc = CLI_EXIT_FAIL;
				goto out;
			}
		}
		seq_put(buf, i);
		if ((rc = shmq_producer_send_oneway(p, &m)) < 0) {
			rc = kid_fail(b, "producer: send: %s", why(rc));
			goto out;
		}
	}
	b->sh->t_last = bench_mono_ns();
	b->sh->sent = i;
	/* Release: the figures before the flag the monitor reads. */
	ck_pr_fence_store();
	ck_pr_store_32(&b->sh->done, 1);
	rc = 0;
out:
	kid_producer_close(bus, p, buf);
	return rc;
}

/*
 * The monitor of a burst: every millisecond both tails.  When the producer
 * is done, the home's tail is the target and the mirror's tail then is what
 * it stored while the home sent; then the time it holds the target.  In the
 * catch-up the mirror's shmqd is down meanwhile: its tail moves only after
 * the restart, and the first move is timed too.
 */
static int
kid_monitor(struct rb *b)
{
	struct rsh *sh = b->sh;
	struct shmq_bus *bus[2];
	uint64_t h = 0, m = 0;
	int rc = CLI_EXIT_FAIL, done = 0;

	if (open_both(b, bus) != 0 || tails(b, bus, &h, &m) != 0)
		goto out;
	sh->base = m;
	kid_set_ready(b);
	while (!aborted()) {
		if (tails(b, bus, &h, &m) != 0)
			goto out;
		if (h > m && h - m > sh->max_behind)
			sh->max_behind = h - m;
		if (sh->t_moved == 0 && m > sh->base)
			sh->t_moved = bench_mono_ns();
		if (!done && ck_pr_load_32(&sh->done)) {
			/* Acquire: pairs with the producer's release. */
			ck_pr_fence_load();
			if (tails(b, bus, &h, &m) != 0)
				goto out;
			sh->target = h;
			sh->at_done = m;
			done = 1;
		}
		if (done && m >= sh->target) {
			sh->t_held = bench_mono_ns();
			rc = 0;
			break;
		}
		nap_us(MONITOR_NS / 1000);
	}
out:
	close_both(bus);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The daemons                                                         */
/* ------------------------------------------------------------------ */

/* Print the end of LOG to stderr: why a shmqd failed. */
static void
log_tail(const char *log)
{
	char buf[2048];
	ssize_t n;
	off_t size;
	int fd;

	if ((fd = open(log, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)sizeof buf - 1)
		lseek(fd, size - (off_t)sizeof buf + 1, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	if ((n = read(fd, buf, sizeof buf - 1)) > 0) {
		buf[n] = '\0';
		fprintf(stderr, "%s: the end of %s:\n%s%s", PROG, log, buf,
		    buf[n - 1] == '\n' ? "" : "\n");
	}
	close(fd);
}

/* The executable at DIR/REL, into OUT: 0, or -1 if there is none. */
static int
exe_at(char *out, const char *dir, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	if (snprintf(p, sizeof p, "%s/%s", dir, rel) >= (int)sizeof p ||
	    stat(p, &st) == -1 || !S_ISREG(st.st_mode) ||
	    access(p, X_OK) == -1 || realpath(p, out) == NULL)
		return -1;
	return 0;
}

/*
 * Find shmqd: $SHMQD, else beside this program (an installed bin/ and
 * sbin/, or the build tree, where libtool runs us from utils/.libs), else
 * on $PATH.  $SHMQD comes first so that it can override what is found.
 */
static int
find_shmqd(struct rb *b)
{
	static const char *const rel[] = { "shmqd", "../sbin/shmqd",
	    "../shmqd/shmqd", "../../shmqd/shmqd" };
	const char *env = getenv("SHMQD"), *path;
	char exe[PATH_MAX], dir[PATH_MAX], *slash, *save = NULL, *tok;
	ssize_t n;
	size_t i;

	if (env != NULL && env[0] != '\0') {
		if (access(env, X_OK) == -1 ||
		    realpath(env, b->shmqd) == NULL) {
			cli_warnx("$SHMQD (%s): %s", env, strerror(errno));
			return -1;
		}
		return 0;
	}
	if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL)
			*slash = '\0';
		for (i = 0; i < sizeof rel / sizeof rel[0]; i++)
			if (exe_at(b->shmqd, exe, rel[i]) == 0)
				return 0;
	}
	if ((path = getenv("PATH")) != NULL &&
	    strlcpy(dir, path, sizeof dir) < sizeof dir)
		for (tok = strtok_r(dir, ":", &save); tok != NULL;
		    tok = strtok_r(NULL, ":", &save))
			if (tok[0] != '\0' && exe_at(b->shmqd, tok,
			    "shmqd") == 0)
				return 0;
	cli_warnx("cannot find shmqd (beside %s, in the build tree, $SHMQD "
	    "or $PATH)", PROG);
	return -1;
}

/*
 * Start shmqd WHICH: in a process group of its own (a ^C at the terminal
 * is for shmq-bench, which then stops it cleanly), killed with SIGTERM if
 * shmq-bench dies, its output appended to its log.
 */
static int
daemon_start(struct rb *b, int which)
{
	struct daemon *d = &b->d[which];
	char listen[32], mirror[PATH_MAX], *argv[20];
	pid_t parent = getpid();
	int argc = 0, fd;

	snprintf(listen, sizeof listen, "127.0.0.1:%d", d->port);
	snprintf(mirror, sizeof mirror, "%s@127.0.0.1:%d", b->o->topic,
	    b->d[D_HOME].port);
	argv[argc++] = b->shmqd;
	argv[argc++] = "-f";
	argv[argc++] = "-b";
	argv[argc++] = d->bus;
	argv[argc++] = "--home";
	argv[argc++] = d->store;
	argv[argc++] = "--host";
	argv[argc++] = d->host;
	argv[argc++] = "--listen";
	argv[argc++] = listen;
	argv[argc++] = "--secret-file";
	argv[argc++] = b->secret;
	/* Settings of the user's (TLS): the options above win. */
	if (b->o->conf != NULL) {
		argv[argc++] = "-c";
		argv[argc++] = (char *)(uintptr_t)b->o->conf;
	}
	if (which == D_MIRROR) {
		argv[argc++] = "--mirror";
		argv[argc++] = mirror;
	}
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	if ((d->pid = fork()) == -1) {
		d->pid = 0;
		cli_warnx("fork: %s", strerror(errno));
		return -1;
	}
	if (d->pid > 0)
		return 0;
	setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		_exit(127);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	if ((fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600)) >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		dup2(fd, STDIN_FILENO);
	execv(b->shmqd, argv);
	fprintf(stderr, "%s: exec %s: %s\n", PROG, b->shmqd, strerror(errno));
	_exit(127);
}

/*
 * Whether shmqd WHICH, meant to be running, has exited: then it is said
 * with the end of its log, and forgotten.
 */
static int
daemon_died(struct rb *b, int which)
{
	struct daemon *d = &b->d[which];
	int st;

	if (d->pid <= 0 || waitpid(d->pid, &st, WNOHANG) != d->pid)
		return 0;
	d->pid = 0;
	if (WIFSIGNALED(st))
		cli_warnx("%s: the %s's shmqd was killed by signal %d",
		    b->what, d->role, WTERMSIG(st));
	else
		cli_warnx("%s: the %s's shmqd exited with status %d", b->what,
		    d->role, WEXITSTATUS(st));
	log_tail(d->log);
	return 1;
}

/* Until the home's shmqd accepts connections on its port. */
static int
daemon_listening(struct rb *b, int which)
{
	struct daemon *d = &b->d[which];
	struct sockaddr_in a;
	uint64_t end = bench_mono_ns() + START_SECS * 1000000000ull;
	int fd, ok;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)d->port);
	for (;;) {
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
		    -1) {
			cli_warnx("socket: %s", strerror(errno));
			return -1;
		}
		ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
		close(fd);
		if (ok)
			return 0;
		if (daemon_died(b, which) || r_stop)
			return -1;
		if (bench_mono_ns() > end) {
			cli_warnx("the %s's shmqd does not listen on "
			    "127.0.0.1:%d after %d s", d->role, d->port,
			    START_SECS);
			log_tail(d->log);
			return -1;
		}
		nap_us(2000);
	}
}

/* SIGTERM shmqd WHICH and reap it; -1 if it did not exit with 0. */
static int
daemon_stop(struct rb *b, int which)
{
	struct daemon *d = &b->d[which];
	uint64_t end = bench_mono_ns() + STOP_SECS * 1000000000ull;
	pid_t p;
	int st = 0;

	if (d->pid <= 0)
		return 0;
	kill(d->pid, SIGTERM);
	while ((p = waitpid(d->pid, &st, WNOHANG)) == 0) {
		if (bench_mono_ns() > end) {
			cli_warnx("the %s's shmqd did not stop within %d s of "
			    "a SIGTERM: killing it", d->role, STOP_SECS);
			kill(d->pid, SIGKILL);
			while (waitpid(d->pid, &st, 0) == -1 && errno == EINTR)
				;
			d->pid = 0;
			return -1;
		}
		nap_us(1000);
	}
	d->pid = 0;
	if (p == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		cli_warnx("the %s's shmqd stopped with %s %d", d->role,
		    p != -1 && WIFSIGNALED(st) ? "signal" : "status",
		    p != -1 && WIFSIGNALED(st) ? WTERMSIG(st) :
		    WEXITSTATUS(st));
		log_tail(d->log);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Running a part                                                      */
/* ------------------------------------------------------------------ */

struct kid {
	int		(*fn)(struct rb *);
	int		 cpu;		/* -1: not pinned */
	pid_t		 pid;
};

/*
 * Fork a child per KIDS[0..N) and wait for them all, at most SECS: then
 * abort the part and, 3 s later, kill them.  TICK, if not NULL, runs
 * between looks (the catch-up's restart).  A shmqd that dies meanwhile
 * aborts the part.  Returns 0 if every child exited with 0.
 */
static int
run_kids(struct rb *b, struct kid *k, int n, unsigned secs,
    void (*tick)(struct rb *))
{
	uint64_t end = bench_mono_ns() + (uint64_t)secs * 1000000000ull;
	int i, st, live = 0, bad = 0, late = 0;

	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < n; i++) {
		if ((k[i].pid = fork()) == -1) {
			cli_warnx("%s: fork: %s", b->what, strerror(errno));
			ck_pr_store_32(&b->sh->abort, 1);
			bad = 1;
			break;
		}
		if (k[i].pid == 0) {
			signal(SIGINT, SIG_IGN);
			signal(SIGTERM, SIG_DFL);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			b->my_cpu = b->o->pin ? k[i].cpu : -1;
			_exit(k[i].fn(b));
		}
		live++;
	}
	for (; i < n; i++)
		k[i].pid = 0;
	while (live > 0) {
		for (i = 0; i < n; i++) {
			if (k[i].pid <= 0 ||
			    waitpid(k[i].pid, &st, WNOHANG) != k[i].pid)
				continue;
			k[i].pid = 0;
			live--;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				if (WIFSIGNALED(st) && !late)
					cli_warnx("%s: a child was killed by "
					    "signal %d", b->what,
					    WTERMSIG(st));
				bad = 1;
				ck_pr_store_32(&b->sh->abort, 1);
			}
		}
		if (tick != NULL && !aborted())
			tick(b);
		if ((daemon_died(b, D_HOME) || daemon_died(b, D_MIRROR)) &&
		    !aborted()) {
			bad = 1;
			ck_pr_store_32(&b->sh->abort, 1);
		}
		if (bench_mono_ns() > end && live > 0) {
			if (late) {
				for (i = 0; i < n; i++)
					if (k[i].pid > 0)
						kill(k[i].pid, SIGKILL);
			} else
				cli_warnx("%s: not done after %u s: stopping "
				    "it", b->what, secs);
			late = 1;
			bad = 1;
			ck_pr_store_32(&b->sh->abort, 1);
			end = bench_mono_ns() + 3000000000ull;
		}
		if (live > 0)
			nap_us(PARENT_NAP_US);
	}
	return bad || r_stop ? -1 : 0;
}

/* Clear the shared block for a part named WHAT. */
static void
part_start(struct rb *b, const char *what)
{
	memset(b->sh, 0, sizeof *b->sh);
	b->what = what;
	if (!b->o->json && isatty(STDERR_FILENO)) {
		fprintf(stderr, "\r\033[K%s: replication: %s ...", PROG, what);
		fflush(stderr);
	}
}

/* One child F, unpinned, at most SECS. */
static int
run_one(struct rb *b, int (*f)(struct rb *), unsigned secs)
{
	struct kid k = { f, -1, 0 };

	return run_kids(b, &k, 1, secs, NULL);
}

/* Before a part: until the mirror holds what the home holds. */
static int
settle(struct rb *b, const char *what)
{
	part_start(b, what);
	if (b->d[D_HOME].pid == 0 || b->d[D_MIRROR].pid == 0) {
		cli_warnx("%s: not run: the %s's shmqd is gone", what,
		    b->d[D_HOME].pid == 0 ? "home" : "mirror");
		return -1;
	}
	if (run_one(b, kid_settle, SETTLE_SECS) != 0) {
		if (!r_stop)
			cli_warnx("%s: the mirror did not catch up with the "
			    "home within %d s", what, SETTLE_SECS);
		return -1;
	}
	return 0;
}

static void
failed(struct rb *b, int *state)
{
	*state = -1;
	b->failures++;
}

/* Sort S[0..N) and fill *L: min, nearest-rank percentiles, max, mean. */
static void
summary(struct rlat *l, int64_t *s, uint64_t n)
{
	static const uint64_t q[4] = { 5000, 9000, 9900, 9990 };
	double *out[4] = { &l->p50, &l->p90, &l->p99, &l->p999 };
	double sum = 0;
	uint64_t i, r;

	qsort(s, n, sizeof s[0], bench_cmp_i64);
	for (i = 0; i < n; i++)
		sum += (double)s[i];
	for (i = 0; i < 4; i++) {
		r = (n * q[i] + 9999) / 10000;
		*out[i] = (double)s[(r < 1 ? 1 : r > n ? n : r) - 1];
	}
	l->n = n;
	l->min = (double)s[0];
	l->max = (double)s[n - 1];
	l->mean = sum / (double)n;
	l->state = 1;
}

/* ---- the parts ----------------------------------------------------- */

static void
part_latency(struct rb *b, int from)
{
	struct rlat *l = &b->lat[from];
	struct kid k[2] = {
		{ kid_lat_consumer, 0, 0 },
		{ kid_lat_producer, 0, 0 }
	};
	unsigned secs = 30 + (unsigned)((b->warm + b->o->samples) *
	    (b->o->gap_us + 5000) / 1000000);

	k[0].cpu = b->o->cpu[1];
	k[1].cpu = b->o->cpu[0];
	if (settle(b, from == D_HOME ? "latency, home consumer" :
	    "latency, mirror consumer") != 0) {
		failed(b, &l->state);
		return;
	}
	b->lat_from = from;
	cpu_mark(b);
	if (run_kids(b, k, 2, secs, NULL) != 0) {
		failed(b, &l->state);
		return;
	}
	cpu_shares(b, l->cpu);
	summary(l, b->samp, b->o->samples);
}

static void
part_sync(struct rb *b)
{
	struct kid k = { kid_sync_producer, 0, 0 };
	unsigned secs = 30 + (unsigned)(2 * (b->warm + b->o->samples) *
	    (b->o->gap_us + 5000) / 1000000);
	int i;

	k.cpu = b->o->cpu[0];
	if (settle(b, "sync replication") != 0) {
		failed(b, &b->sync[0].state);
		failed(b, &b->sync[1].state);
		return;
	}
	cpu_mark(b);
	if (run_kids(b, &k, 1, secs, NULL) != 0) {
		failed(b, &b->sync[0].state);
		failed(b, &b->sync[1].state);
		return;
	}
	for (i = 0; i < 2; i++) {
		/* One share for both phases: they ran back to back. */
		cpu_shares(b, b->sync[i].cpu);
		summary(&b->sync[i], b->samp + (uint64_t)i * b->o->samples,
		    b->o->samples);
		b->sync[i].timeouts = b->sh->timeouts[i];
	}
}

/* The catch-up's tick: once the backlog is sent, start the mirror's
 * shmqd again (the monitor times from here). */
static void
catchup_tick(struct rb *b)
{
	if (b->d[D_MIRROR].pid != 0 || !ck_pr_load_32(&b->sh->done))
		return;
	ck_pr_store_64(&b->sh->t_restart, bench_mono_ns());
	if (daemon_start(b, D_MIRROR) != 0)
		ck_pr_store_32(&b->sh->abort, 1);
	/* Both shmqd's CPU from here: the mirror's counts from its start. */
	cpu_mark(b);
}

/*
 * Throughput (CATCHUP 0): a timed burst with both shmqd up.  Catch-up:
 * the mirror's shmqd stopped, the backlog sent, the shmqd started again;
 * its figures count from that start.
 */
static void
part_burst(struct rb *b, int catchup)
{
	struct rtput *t = catchup ? &b->catchup : &b->tput;
	struct rsh *sh = b->sh;
	struct kid k[2] = {
		{ kid_monitor, -1, 0 },
		{ kid_burst_producer, 0, 0 }
	};
	unsigned secs = catchup ? 60 + 2 * (unsigned)(b->o->backlog /
	    MIN_RATE) : 60 + (unsigned)b->o->tput_secs +
	    (unsigned)(b->o->tput_max / MIN_RATE);
	uint64_t t0, from;
	int rc;

	k[1].cpu = b->o->cpu[0];
	if (settle(b, catchup ? "catch-up" : "throughput") != 0) {
		failed(b, &t->state);
		return;
	}
	if (catchup) {
		t0 = bench_mono_ns();
		if (daemon_stop(b, D_MIRROR) != 0) {
			failed(b, &t->state);
			return;
		}
		b->stop_s = (double)(bench_mono_ns() - t0) / 1e9;
	}
	b->burst_timed = !catchup;
	cpu_mark(b);
	rc = run_kids(b, k, 2, secs, catchup ? catchup_tick : NULL);
	from = catchup ? sh->t_restart : sh->t_first;
	if (rc != 0 || sh->sent == 0 || sh->t_last <= sh->t_first ||
	    from == 0 || sh->t_held < from || sh->t_moved < from) {
		failed(b, &t->state);
		return;
	}
	cpu_shares(b, t->cpu);
	t->msgs = sh->sent;
	t->send_s = (double)(sh->t_last - sh->t_first) / 1e9;
	t->held_s = (double)(sh->t_held - from) / 1e9;
	t->first_s = (double)(sh->t_moved - from) / 1e9;
	t->during = (double)(sh->at_done - sh->base) / t->send_s;
	t->max_behind = sh->max_behind;
	t->state = 1;
}

/* ------------------------------------------------------------------ */
/* Setup and cleanup                                                   */
/* ------------------------------------------------------------------ */

/* N loopback ports nobody listens on (bound together, so distinct). */
static int
free_ports(int *port, int n)
{
	struct sockaddr_in a;
	socklen_t len;
	int fd[2] = { -1, -1 }, i, rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof a;
		if ((fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
		    0)) == -1 || bind(fd[i], (struct sockaddr *)&a,
		    sizeof a) == -1 || getsockname(fd[i],
		    (struct sockaddr *)&a, &len) == -1) {
			cli_warnx("a loopback port: %s", strerror(errno));
			rc = -1;
		} else
			port[i] = ntohs(a.sin_port);
	}
	for (i = 0; i < n; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return rc;
}

/* 32 random bytes in hex, mode 600: the links' shared secret. */
static int
write_secret(struct rb *b)
{
	unsigned char r[32];
	char hex[2 * sizeof r + 2];
	size_t i;
	int fd, ok;

	snprintf(b->secret, sizeof b->secret, "%s/secret", b->root);
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
		cli_warnx("getrandom: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < sizeof r; i++)
		snprintf(hex + 2 * i, 3, "%02x", r[i]);
	hex[2 * sizeof r] = '\n';
	hex[2 * sizeof r + 1] = '\0';
	if ((fd = open(b->secret, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		cli_warnx("%s: %s", b->secret, strerror(errno));
		return -1;
	}
	ok = fchmod(fd, 0600) == 0 &&
	    write(fd, hex, strlen(hex)) == (ssize_t)strlen(hex);
	if (close(fd) == -1 || !ok) {
		cli_warnx("%s: %s", b->secret, strerror(errno));
		return -1;
	}
	return 0;
}

/* The directory of both stores, their names and the logs. */
static int
root_setup(struct rb *b)
{
	static const char *const role[2] = { "home", "mirror" };
	struct statfs fs;
	const char *base = "/var/tmp";
	int i;

	if (b->o->home != NULL) {
		if (strlcpy(b->root, b->o->home, sizeof b->root) >=
		    sizeof b->root - 32) {
			cli_warnx("--home: path too long");
			return -1;
		}
		if (mkdir(b->root, 0700) == -1 && errno != EEXIST) {
			cli_warnx("%s: %s", b->root, strerror(errno));
			return -1;
		}
	} else {
		if (access(base, W_OK | X_OK) == -1 &&
		    (base = getenv("TMPDIR")) == NULL)
			base = "/tmp";
		snprintf(b->root, sizeof b->root, "%s/%s-repl.XXXXXX", base,
		    PROG);
		if (mkdtemp(b->root) == NULL) {
			cli_warnx("%s: %s", b->root, strerror(errno));
			return -1;
		}
		b->root_tmp = 1;
	}
	b->store_kind = "disk";
	if (statfs(b->root, &fs) == 0 &&
	    (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC))
		b->store_kind = "tmpfs";
	for (i = 0; i < 2; i++) {
		struct daemon *d = &b->d[i];

		d->role = role[i];
		snprintf(d->host, sizeof d->host, "bench-%s", role[i]);
		snprintf(d->bus, sizeof d->bus, "%s-%s", b->o->bus, role[i]);
		snprintf(d->store, sizeof d->store, "%s/%s", b->root, role[i]);
		snprintf(d->log, sizeof d->log, "%s/%s.log", b->root, role[i]);
		if (shmq_name_check(d->bus) != 0) {
			cli_warnx("bus \"%s\": %s", d->bus,
			    shmq_strerror(SHMQ_ENAME));
			return -1;
		}
		if (mkdir(d->store, 0700) == -1 && errno != EEXIST) {
			cli_warnx("%s: %s", d->store, strerror(errno));
			return -1;
		}
	}
	return write_secret(b);
}

static void
root_cleanup(struct rb *b)
{
	if (b->root[0] == '\0')
		return;
	if (!b->root_tmp || b->o->keep) {
		if (!b->o->json)
			cli_warnx("the stores and the shmqd logs are in %s",
			    b->root);
		return;
	}
	bench_rm_tree(b->root);
}

/* The stores, then the home's shmqd, then the mirror's, subscribed. */
static int
start_all(struct rb *b)
{
	int port[2];

	if (find_shmqd(b) != 0 || root_setup(b) != 0 ||
	    free_ports(port, 2) != 0)
		return -1;
	b->d[D_HOME].port = port[0];
	b->d[D_MIRROR].port = port[1];
	part_start(b, "setup");
	if (run_one(b, kid_setup, START_SECS) != 0)
		return -1;
	b->what = "starting the home's shmqd";
	if (daemon_start(b, D_HOME) != 0 || daemon_listening(b, D_HOME) != 0)
		return -1;
	b->what = "starting the mirror's shmqd";
	if (daemon_start(b, D_MIRROR) != 0)
		return -1;
	part_start(b, "waiting for the mirror");
	if (run_one(b, kid_wait_mirror, START_SECS) != 0) {
		if (!r_stop) {
			cli_warnx("the mirror of \"%s\" did not appear on bus "
			    "\"%s\" within %d s", b->o->topic,
			    b->d[D_MIRROR].bus, START_SECS);
			log_tail(b->d[D_MIRROR].log);
		}
		return -1;
	}
	return 0;
}

static void
stop_all(struct rb *b)
{
	int i;

	for (i = D_MIRROR; i >= D_HOME; i--)
		if (daemon_stop(b, i) != 0)
			b->failures++;
}

/* ------------------------------------------------------------------ */
/* Report                                                              */
/* ------------------------------------------------------------------ */

/* NS as microseconds, or milliseconds from 10 ms. */
static void
us_str(char *buf, size_t len, double ns)
{
	if (ns < 1e7)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else
		snprintf(buf, len, "%.1f ms", ns / 1e6);
}

static void
lat_line(const char *label, const struct rlat *l, int timeouts)
{
	char s[5][24];

	if (l->state != 1) {
		printf("%-24s %10s\n", label, l->state == 0 ? "not run" :
		    "failed");
		return;
	}
	us_str(s[0], sizeof s[0], l->p50);
	us_str(s[1], sizeof s[1], l->p90);
	us_str(s[2], sizeof s[2], l->p99);
	us_str(s[3], sizeof s[3], l->p999);
	us_str(s[4], sizeof s[4], l->max);
	printf("%-24s %10s %10s %10s %10s %10s %5.0f %5.0f", label, s[0],
	    s[1], s[2], s[3], s[4], 100 * l->cpu[D_HOME],
	    100 * l->cpu[D_MIRROR]);
	if (timeouts)
		printf(" %8" PRIu64, l->timeouts);
	printf("\n");
}

static void
rate_line(const char *label, double msgs, double secs, uint64_t size)
{
	if (secs <= 0) {
		printf("%-30s %12s\n", label, "-");
		return;
	}
	printf("%-30s %12.0f %9.1f %10.0f %9.3f\n", label, msgs / secs,
	    msgs * (double)size / secs / 1e6, msgs, secs);
}

static void
print_text(struct rb *b)
{
	const struct repl_opts *o = b->o;
	const struct rtput *t = &b->tput, *c = &b->catchup;
	int i;

	printf("%s %s (libshmq %s): replication, %" PRIu64 "-byte messages, "
	    "topic \"%s\" (1 queue)\n", PROG, SHMQ_VERSION_STRING,
	    shmq_version(), o->size, o->topic);
	printf("home: bus \"%s\", shmqd on 127.0.0.1:%d; mirror: bus \"%s\", "
	    "shmqd on 127.0.0.1:%d\n", b->d[D_HOME].bus, b->d[D_HOME].port,
	    b->d[D_MIRROR].bus, b->d[D_MIRROR].port);
	printf("shmqd: %s; stores: %s (%s, async flush)\n", b->shmqd, b->root,
	    b->store_kind);
	if (o->pin)
		printf("producer on CPU %d, consumer on CPU %d; ", o->cpu[0],
		    o->cpu[1]);
	else
		printf("not pinned; ");
	printf("the shmqd and the monitor unpinned; %ld CPUs online, load "
	    "average %.2f at the start, %.2f at the end\n", b->ncpu,
	    b->load[0], b->load[1]);

	printf("\n%-24s %10s %10s %10s %10s %10s %5s %5s\n",
	    "end-to-end latency", "p50", "p90", "p99", "p99.9", "max",
	    "home%", "mirr%");
	lat_line("home consumer (floor)", &b->lat[D_HOME], 0);
	lat_line("mirror consumer", &b->lat[D_MIRROR], 0);
	printf("(%" PRIu64 " samples each: receive time minus the message's "
	    "born_ns, both CLOCK_REALTIME of this host; one message in "
	    "flight, --gap %" PRIu64 " us after each receive; the consumer "
	    "waits in shmq_consumer_poll; home%%, mirr%%: each shmqd's CPU "
	    "time over the row's)\n", o->samples, o->gap_us);

	printf("\n%-24s %10s %10s %10s %10s %10s %5s %5s %8s\n",
	    "sync replication send", "p50", "p90", "p99", "p99.9", "max",
	    "home%", "mirr%", "timeouts");
	lat_line("k = 0 (async, floor)", &b->sync[0], 1);
	lat_line("k = 1", &b->sync[1], 1);
	printf("(%" PRIu64 " sends each, --gap %" PRIu64 " us apart, timed "
	    "around shmq_producer_send; k = 1: shmq_producer_set_repl(p, 1, "
	    "%d); both phases share the CPU figures)\n", o->samples,
	    o->gap_us, SYNC_TIMEOUT_MS);

	printf("\n%-30s %12s %9s %10s %9s\n", "throughput", "msg/s", "MB/s",
	    "messages", "seconds");
	if (t->state != 1)
		printf("%-30s %12s\n", "", t->state == 0 ? "not run" :
		    "failed");
	else {
		rate_line("home sends", (double)t->msgs, t->send_s, o->size);
		rate_line("mirror, while home sends", t->during * t->send_s,
		    t->send_s, o->size);
		rate_line("mirror: 1st send to all held", (double)t->msgs,
		    t->held_s, o->size);
		printf("(the mirror held the last message %.1f ms after the "
		    "last send, and was at most %" PRIu64 " messages behind; "
		    "home shmqd %.0f%% CPU, mirror shmqd %.0f%%; MB of "
		    "bodies)\n", (t->held_s - t->send_s) * 1e3,
		    t->max_behind, 100 * t->cpu[D_HOME],
		    100 * t->cpu[D_MIRROR]);
	}

	printf("\n%-30s %12s %9s %10s %9s\n", "catch-up", "msg/s", "MB/s",
	    "messages", "seconds");
	if (c->state != 1)
		printf("%-30s %12s\n", "", c->state == 0 ? "not run" :
		    "failed");
	else {
		rate_line("home sends, mirror down", (double)c->msgs,
		    c->send_s, o->size);
		rate_line("mirror: restart to all held", (double)c->msgs,
		    c->held_s, o->size);
		rate_line("mirror: 1st to all held", (double)c->msgs,
		    c->held_s - c->first_s, o->size);
		printf("(the mirror's shmqd stopped %.1f ms after its SIGTERM; "
		    "restarted, it stored the first message after %.1f ms; "
		    "from the restart, home shmqd %.0f%% CPU, mirror shmqd "
		    "%.0f%%)\n",
		    b->stop_s * 1e3, c->first_s * 1e3, 100 * c->cpu[D_HOME],
		    100 * c->cpu[D_MIRROR]);
	}
	for (i = 0; i < b->nnotes; i++)
		printf("%swarning: %s\n", i == 0 ? "\n" : "", b->notes[i]);
}

static void
json_lat(const struct rlat *l, int sync)
{
	if (l->state != 1) {
		printf(l->state == 0 ? "null" : "{\"error\":true}");
		return;
	}
	printf("{\"samples\":%" PRIu64 ",\"min_ns\":%.0f,\"p50_ns\":%.0f,"
	    "\"p90_ns\":%.0f,\"p99_ns\":%.0f,\"p999_ns\":%.0f,\"max_ns\":%.0f,"
	    "\"mean_ns\":%.1f,\"home_shmqd_cpu\":%.4f,"
	    "\"mirror_shmqd_cpu\":%.4f", l->n, l->min, l->p50, l->p90, l->p99,
	    l->p999, l->max, l->mean, l->cpu[D_HOME], l->cpu[D_MIRROR]);
	if (sync)
		printf(",\"timeouts\":%" PRIu64, l->timeouts);
	printf("}");
}

/* MSGS over SECS as ,"KEY_msg_per_s":..,"KEY_mb_per_s":.. */
static void
json_rate(const char *key, double msgs, double secs, uint64_t size)
{
	double r = secs > 0 ? msgs / secs : 0;

	printf(",\"%s_msg_per_s\":%.1f,\"%s_mb_per_s\":%.3f", key, r, key,
	    r * (double)size / 1e6);
}

static void
print_json(struct rb *b)
{
	const struct repl_opts *o = b->o;
	const struct rtput *t = &b->tput, *c = &b->catchup;
	int i;

	printf("{\"tool\":\"%s\",\"version\":\"%s\",\"libshmq\":", PROG,
	    SHMQ_VERSION_STRING);
	cli_json_cstr(stdout, shmq_version());
	printf(",\"mode\":\"repl\",\"config\":{\"size\":%" PRIu64
	    ",\"samples\":%" PRIu64 ",\"gap_us\":%" PRIu64
	    ",\"tput_max_messages\":%" PRIu64 ",\"tput_max_seconds\":%.3f,"
	    "\"backlog\":%" PRIu64 ",\"sync_timeout_ms\":%d,\"pinned\":%s,"
	    "\"producer_cpu\":%d,\"consumer_cpu\":%d,"
	    "\"clock\":\"realtime\",\"quick\":%s,\"cpus_online\":%ld,"
	    "\"loadavg_start\":%.2f,\"loadavg_end\":%.2f", o->size,
	    o->samples, o->gap_us, o->tput_max, o->tput_secs, o->backlog,
	    SYNC_TIMEOUT_MS, o->pin ? "true" : "false", o->pin ? o->cpu[0] :
	    -1, o->pin ? o->cpu[1] : -1, o->quick ? "true" : "false", b->ncpu,
	    b->load[0], b->load[1]);
	printf(",\"topic\":");
	cli_json_cstr(stdout, o->topic);
	printf(",\"shmqd_conf\":");
	if (o->conf != NULL)
		cli_json_cstr(stdout, o->conf);
	else
		printf("null");
	printf(",\"home_bus\":");
	cli_json_cstr(stdout, b->d[D_HOME].bus);
	printf(",\"mirror_bus\":");
	cli_json_cstr(stdout, b->d[D_MIRROR].bus);
	printf(",\"store\":");
	cli_json_cstr(stdout, b->root[0] != '\0' ? b->root : NULL);
	printf(",\"store_kind\":");
	cli_json_cstr(stdout, b->store_kind);
	printf(",\"shmqd\":");
	cli_json_cstr(stdout, b->shmqd[0] != '\0' ? b->shmqd : NULL);
	printf("},\"latency\":{\"home\":");
	json_lat(&b->lat[D_HOME], 0);
	printf(",\"mirror\":");
	json_lat(&b->lat[D_MIRROR], 0);
	printf("},\"sync\":{\"k0\":");
	json_lat(&b->sync[0], 1);
	printf(",\"k1\":");
	json_lat(&b->sync[1], 1);
	printf("},\"throughput\":");
	if (t->state != 1)
		printf(t->state == 0 ? "null" : "{\"error\":true}");
	else {
		printf("{\"messages\":%" PRIu64 ",\"send_seconds\":%.6f,"
		    "\"held_seconds\":%.6f,\"lag_ms\":%.3f,"
		    "\"max_behind_msgs\":%" PRIu64, t->msgs, t->send_s,
		    t->held_s, (t->held_s - t->send_s) * 1e3, t->max_behind);
		json_rate("send", (double)t->msgs, t->send_s, o->size);
		json_rate("during", t->during * t->send_s, t->send_s,
		    o->size);
		json_rate("repl", (double)t->msgs, t->held_s, o->size);
		printf(",\"home_shmqd_cpu\":%.4f,\"mirror_shmqd_cpu\":%.4f}",
		    t->cpu[D_HOME], t->cpu[D_MIRROR]);
	}
	printf(",\"catchup\":");
	if (c->state != 1)
		printf(c->state == 0 ? "null" : "{\"error\":true}");
	else {
		printf("{\"messages\":%" PRIu64 ",\"send_seconds\":%.6f,"
		    "\"stop_ms\":%.3f,\"first_ms\":%.3f,\"held_seconds\":%.6f",
		    c->msgs, c->send_s, b->stop_s * 1e3, c->first_s * 1e3,
		    c->held_s);
		json_rate("send", (double)c->msgs, c->send_s, o->size);
		json_rate("repl", (double)c->msgs, c->held_s, o->size);
		json_rate("stream", (double)c->msgs, c->held_s - c->first_s,
		    o->size);
		printf(",\"home_shmqd_cpu\":%.4f,\"mirror_shmqd_cpu\":%.4f}",
		    c->cpu[D_HOME], c->cpu[D_MIRROR]);
	}
	printf(",\"warnings\":[");
	for (i = 0; i < b->nnotes; i++) {
		if (i > 0)
			putchar(',');
		cli_json_cstr(stdout, b->notes[i]);
	}
	printf("],\"ok\":%s}\n", b->failures == 0 ? "true" : "false");
}

/* ------------------------------------------------------------------ */
/* The whole                                                           */
/* ------------------------------------------------------------------ */

/* Warnings about the conditions: what the figures carry. */
static void
check_conditions(struct rb *b)
{
	const struct repl_opts *o = b->o;

	if (b->ncpu > 0 && b->ncpu < 4)
		note(b, "%ld CPUs: the two shmqd (each with a thread per "
		    "replication channel and its ACKs) and the monitor share "
		    "them with the pinned producer and consumer, so every "
		    "figure includes that contention", b->ncpu);
	if (b->load[0] > 0.5 * (double)b->ncpu)
		note(b, "load average %.2f on %ld CPUs at the start: other "
		    "processes took CPU time during the run, and the figures "
		    "carry their noise", b->load[0], b->ncpu);
	if (o->quick)
		note(b, "--quick: few samples; p99.9 and max are a handful "
		    "of messages");
}

int
bench_repl(const struct repl_opts *o)
{
	static struct rb rb;
	struct rb *b = &rb;
	struct sigaction sa;
	struct cli cli;
	int i;

	cli_init(&cli, PROG, NULL);
	b->o = o;
	b->my_cpu = -1;
	b->what = "setup";
	b->warm = o->samples / 10 < WARM_MAX ? o->samples / 10 : WARM_MAX;
	b->ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	for (i = 0; i < o->nnotes; i++)
		note(b, "%s", o->notes[i]);
	if ((b->sh = bench_shared_alloc(sizeof *b->sh)) == NULL ||
	    (b->samp = bench_shared_alloc(2 * o->samples * sizeof b->samp[0])) ==
	    NULL) {
		cli_warnx("shared memory: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	r_sh = b->sh;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	b->load[0] = loadavg();
	if (start_all(b) != 0) {
		b->failures++;
		stop_all(b);
		root_cleanup(b);
		if (!o->json && isatty(STDERR_FILENO))
			fprintf(stderr, "\r\033[K");
		if (r_stop)
			cli_warnx("interrupted");
		return CLI_EXIT_FAIL;
	}
	part_latency(b, D_HOME);
	if (!r_stop)
		part_latency(b, D_MIRROR);
	if (!r_stop)
		part_sync(b);
	if (!r_stop)
		part_burst(b, 0);
	if (!r_stop)
		part_burst(b, 1);
	b->load[1] = loadavg();
	if (!o->json && isatty(STDERR_FILENO))
		fprintf(stderr, "\r\033[K");
	stop_all(b);
	root_cleanup(b);
	if (r_stop) {
		cli_warnx("interrupted");
		return CLI_EXIT_FAIL;
	}
	check_conditions(b);
	if (o->json)
		print_json(b);
	else
		print_text(b);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		cli_warnx("stdout: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	return b->failures > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
