/*
 * shmq-bench.c - one-way latency and throughput of shmq between two
 * processes, beside the floors it is judged against, in the same run.
 *
 * Every row of the report is one experiment run over a different transport:
 * a producer process pinned to one CPU sends messages of --size bytes to a
 * consumer process pinned to another CPU.
 *
 *  - Latency.  One message in flight at a time.  The producer stamps the
 *    send time into the message body and sends; the consumer stamps the time
 *    at which it holds a copy of the message, records the difference, and
 *    acknowledges on a shared cache line of its own; the producer waits for
 *    that acknowledgement before the next send.  No sample ever includes
 *    queueing behind an earlier message (no coordinated omission).  For the
 *    rows whose consumer sleeps, the producer also waits --gap microseconds
 *    after each acknowledgement, so that the consumer really is asleep when
 *    the next message arrives.  Both processes read one clock: the TSC,
 *    calibrated against CLOCK_MONOTONIC (when the kernel itself trusts the
 *    TSC as its clocksource), or CLOCK_MONOTONIC.
 *  - Throughput.  After a warm-up that is not counted, the producer sends
 *    as fast as it can (--tput-count messages or --tput-time seconds, what
 *    comes first); throughput is the messages received divided by the time
 *    from the producer's first send to the consumer's last receive.  The
 *    consumer copies every message out, as a real consumer reads it.
 *
 * The rows:
 *  - cache line (floor): the producer writes a cache line in shared memory
 *    that the consumer spins on; its throughput is a minimal SPSC ring.  No
 *    shared-memory transport can beat it;
 *  - futex wake (floor): the producer writes a word and FUTEX_WAKEs the
 *    consumer sleeping in FUTEX_WAIT on it.  No sleeping consumer can beat
 *    it;
 *  - pipe and unix socket (SOCK_STREAM): what shmq replaces; a reader
 *    blocked in read(2);
 *  - shmq busy / shmq sleep: libshmq through its public API only, a consumer
 *    that polls without waiting and one that waits in shmq_consumer_poll().
 *
 * Processes.  The parent forks a keeper that holds the bus open for the
 * whole run (as an application or shmqd would, so that a measurement never
 * rebuilds the control region), then for every measurement a consumer and a
 * producer.  The parent never opens the bus.  Everything the children report
 * travels back through anonymous shared mappings made before the forks.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include <linux/magic.h>

#include <ck_pr.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libutil.h>
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

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define BENCH_TSC	1
#else
#define BENCH_TSC	0
#endif

#define PROG		"shmq-bench"

#define EXIT_OK		0
#define EXIT_FAIL	1
#define EXIT_USAGE	2

/*
 * Hot shared words sit alone in 128 bytes: a cache line and its neighbour,
 * which the adjacent-line prefetcher of many x86 cores pulls in as a pair.
 */
#define LINE_BYTES	128

#define HDR_BYTES	16		/* struct hdr at the start of a body */
#define SEQ_END		UINT64_MAX	/* end of a throughput run */
#define MIN_SIZE	HDR_BYTES
#define MAX_SIZE	(1024 * 1024)
#define TPUT_BYTES	(1ULL << 30)	/* default throughput volume */
#define TPUT_MAX_MSGS	5000000ULL
#define RING_BYTES	(1U << 20)	/* SPSC ring floor */
#define POLL_BATCH	64		/* views per poll, throughput */
#define STREAM_CHUNK	(256 * 1024)	/* read size, pipe/socket throughput */
#define TOPIC_DEFAULT	"shmq-bench"
#define BUS_DEFAULT	"shmq-bench"
#define GROUP		"shmq-bench"
#define GROUP_QUEUES	8		/* --group: queues of the topic */
#define GROUP_MAX	16		/* --group: members at most */
#define GROUP_TOPIC	"shmq-bench-group"

/* The start of every message body. */
struct hdr {
	uint64_t	seq;		/* 0, 1, ...; SEQ_END ends a run */
	uint64_t	stamp;		/* producer's clock at send (latency) */
};

enum transport {
	T_CACHELINE,
	T_FUTEX,
	T_PIPE,
	T_UNIX,
	T_SHMQ_BUSY,
	T_SHMQ_SLEEP,
	T_COUNT
};

/* One latency distribution, in ns. */
struct latency {
	int		 state;		/* 0 not run, 1 measured, -1 failed */
	uint64_t	 n;
	double		 min, p50, p90, p99, p999, max, mean;
	double		 csw;		/* consumer's voluntary context
					   switches per message */
	double		 cpu;		/* consumer's CPU time / wall time */
	double		 pcpu;		/* producer's */
	double		 helper[2];	/* helper threads' CPU / wall time:
					   [SIDE_CONS], [SIDE_PROD] */
	double		 rev_p50;	/* cache line: consumer-to-producer */
	double		 rev_min;	/* one-way, for the skew check */
};

struct throughput {
	int		 state;
	uint64_t	 msgs;
	double		 secs;
	double		 msg_s;
	double		 mb_s;		/* payload, 10^6 bytes per second */
	double		 csw;
	double		 cpu;
	double		 pcpu;
	double		 helper[2];
};

struct row {
	const char		*label;		/* latency table */
	const char		*tput_label;	/* throughput table */
	const char		*key;		/* JSON */
	int			 sleeps;	/* consumer sleeps: paced */
	int			 floor;
	int			 has_lat;
	int			 has_tput;
	int			 selected;
	struct latency		 lat;
	struct throughput	 tp;
};

static struct row rows[T_COUNT] = {
	[T_CACHELINE] =	 { "cache line (floor)", "spsc ring (floor)",
			   "cacheline", 0, 1, 1, 1, 0, { 0 }, { 0 } },
	[T_FUTEX] =	 { "futex wake (floor)", "futex wake (floor)",
			   "futex", 1, 1, 1, 0, 0, { 0 }, { 0 } },
	[T_PIPE] =	 { "pipe", "pipe",
			   "pipe", 1, 1, 1, 1, 0, { 0 }, { 0 } },
	[T_UNIX] =	 { "unix socket", "unix socket",
			   "unix", 1, 1, 1, 1, 0, { 0 }, { 0 } },
	[T_SHMQ_BUSY] =	 { "shmq busy", "shmq busy",
			   "shmq_busy", 0, 0, 1, 1, 0, { 0 }, { 0 } },
	[T_SHMQ_SLEEP] = { "shmq sleep", "shmq sleep",
			   "shmq_sleep", 1, 0, 1, 1, 0, { 0 }, { 0 } },
};

/*
 * The shared block, mapped MAP_SHARED before any fork.  Each group of words
 * that one side writes and the other spins on has its own LINE_BYTES.
 */
struct msg_line {		/* producer writes: cache-line/futex floors */
	_Alignas(LINE_BYTES) uint64_t seq;
	uint64_t	stamp;
	uint32_t	word;		/* futex word of the futex floor */
};

struct ack_line {		/* consumer writes, producer spins on it */
	_Alignas(LINE_BYTES) uint64_t seq;
	uint64_t	stamp;		/* consumer's stamp: reverse one-way */
};

struct idx_line {
	_Alignas(LINE_BYTES) uint64_t v;
};

struct ctl {			/* rarely written */
	_Alignas(LINE_BYTES) uint32_t abort;
	uint32_t	cons_ready;
	uint32_t	keeper_state;	/* 0 starting, 1 ready, -1 failed */
	uint32_t	pad;
	uint64_t	t_first;	/* producer: first timed send */
	uint64_t	t_last;		/* consumer: last timed receive */
	uint64_t	sent;		/* producer: timed messages sent */
	uint64_t	received;	/* consumer: timed messages received */
	/* The timed section of each side: [SIDE_CONS], [SIDE_PROD]. */
	uint64_t	csw[2];		/* voluntary context switches */
	uint64_t	cpu_ns[2];	/* user + system time */
	uint64_t	helper_ns[2];	/* of the other threads (libshmq's) */
	uint64_t	wall_ticks[2];
};

enum {
	SIDE_CONS,
	SIDE_PROD
};

struct shared {
	struct msg_line	msg;
	struct ack_line	ack;
	struct idx_line	head;		/* SPSC ring: producer's index */
	struct idx_line	tail;		/* SPSC ring: consumer's index */
	struct ctl	c;
};

struct opts {
	const char	*bus;
	const char	*topic;
	const char	*home;		/* --home, or NULL: a temporary one */
	int		 keep;
	int		 pretouch;	/* allocate the log's pages first */
	int		 json;
	int		 quick;
	int		 floors;
	int		 do_lat;
	int		 do_tput;
	int		 busy;
	int		 sleep;
	uint64_t	 size;
	uint64_t	 n_busy;	/* latency samples, busy consumers */
	uint64_t	 n_sleep;	/* latency samples, sleeping consumers */
	uint64_t	 n_tput;	/* throughput messages (at most) */
	double		 tput_secs;	/* throughput time (at most) */
	uint64_t	 gap_us;
	int		 cpu[2];	/* producer, consumer */
	int		 cpus_given;
	int		 clock;		/* -1 auto, CLK_TSC, CLK_MONO */
	int		 topic_given;
	/* Group mode (--group). */
	int		 group;		/* on */
	int		 ngroup;	/* throughput runs */
	int		 group_n[8];	/* their member counts */
	uint64_t	 takeover_runs;
	uint64_t	 group_rate;	/* takeover: producer's msg/s */
	uint64_t	 ack_count;	/* ack path: messages per run */
	/* Replication mode (--repl, benchrepl.c). */
	int		 repl;
	uint64_t	 repl_samples;	/* per latency row and sync phase */
	uint64_t	 repl_backlog;	/* catch-up messages */
	const char	*repl_conf;	/* both shmqd's -c (e.g. TLS), or NULL */
};

enum {
	CLK_MONO,
	CLK_TSC
};

struct ctx {
	struct opts	 o;
	struct shared	*sh;
	int64_t		*fwd;		/* latency samples, ticks */
	int64_t		*rev;		/* cache line: reverse direction */
	uint64_t	 nsamp;		/* capacity of fwd and rev */
	unsigned char	*ring;
	uint64_t	 ring_slots;	/* power of two */
	uint64_t	 slot_bytes;
	int		 pin;		/* pin the children */
	int		 my_cpu;	/* in a child: its CPU, or -1 */
	char		 home[PATH_MAX];
	int		 home_tmp;	/* we made it: remove it at the end */
	const char	*store_kind;	/* "disk", "tmpfs" */
	pid_t		 keeper;
	int		 keep_wfd;	/* keeper stays while this is open */
	int		 keeper_ok;
	int		 fd[2];		/* pipe/socket of the current run */
	/* The current measurement. */
	enum transport	 t;
	uint64_t	 n;		/* latency samples or throughput msgs */
	uint64_t	 warm;
	uint64_t	 gap_ticks;
	uint64_t	 tput_ticks;	/* throughput time cap */
	char		 what[64];	/* "shmq busy latency" */
	int		 failures;
	int		 warned_skew;
	char		 warnings[8][512];
	int		 nwarnings;
};

static int		clk = CLK_MONO;
static double		ns_per_tick = 1.0;
static int		g_yield;	/* one CPU: yield in spin loops */
static struct shared	*g_sh;		/* for the signal handlers */
static volatile sig_atomic_t g_alarm;
static volatile sig_atomic_t g_interrupted;
static int		g_progress;	/* progress lines on a tty */

/* ------------------------------------------------------------------ */
/* Messages, clock                                                     */
/* ------------------------------------------------------------------ */

static void	warnx_(const char *, ...) __attribute__((format(printf, 1, 2)));
static void	note(struct ctx *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	child_fail(struct ctx *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
warnx_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", PROG);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* A warning for the report (and stderr, with --json). */
static void
note(struct ctx *x, const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (x->o.json)
		warnx_("warning: %s", buf);
	if (x->nwarnings < (int)(sizeof x->warnings / sizeof x->warnings[0]))
		strlcpy(x->warnings[x->nwarnings++], buf,
		    sizeof x->warnings[0]);
}

/*
 * The one clock both processes stamp with.  A plain rdtsc: on the consumer
 * it follows the mispredicted exit of a spin loop (or a system call), so it
 * cannot run before the load that saw the message; on the producer the
 * stamp is stored in the message, so the send cannot start before it.
 */
static inline uint64_t
now_ticks(void)
{
#if BENCH_TSC
	if (clk == CLK_TSC)
		return __rdtsc();
#endif
	return bench_mono_ns();
}

static inline double
ticks_ns(double t)
{
	return t * ns_per_tick;
}

static inline uint64_t
ns_ticks(double ns)
{
	return (uint64_t)(ns / ns_per_tick);
}

/* 1 if WORD is a flag in /proc/cpuinfo, 0 if not or unknown. */
static int
cpu_flag(const char *word)
{
	FILE *f;
	char line[4096], *p, *tok;
	int found = 0;

	if ((f = fopen("/proc/cpuinfo", "r")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		if ((p = strchr(line, ':')) == NULL)
			break;
		for (tok = strtok(p + 1, " \t\n"); tok != NULL;
		    tok = strtok(NULL, " \t\n"))
			if (strcmp(tok, word) == 0)
				found = 1;
		break;
	}
	fclose(f);
	return found;
}

/*
 * Use the TSC when the kernel's own clocksource is the TSC (the kernel
 * stops trusting it if the CPUs' counters drift apart) and it ticks at a
 * constant rate through sleep states.
 */
static int
tsc_usable(void)
{
#if BENCH_TSC
	FILE *f;
	char cs[64] = "";

	f = fopen("/sys/devices/system/clocksource/clocksource0/"
	    "current_clocksource", "r");
	if (f == NULL)
		return 0;
	if (fgets(cs, sizeof cs, f) == NULL)
		cs[0] = '\0';
	fclose(f);
	cs[strcspn(cs, "\n")] = '\0';
	return strcmp(cs, "tsc") == 0 && cpu_flag("constant_tsc") &&
	    cpu_flag("nonstop_tsc");
#else
	return 0;
#endif
}

#if BENCH_TSC
/* A (CLOCK_MONOTONIC, TSC) pair read as close together as possible. */
static void
tsc_pair(uint64_t *ns, uint64_t *tsc)
{
	uint64_t a, b, m, best = UINT64_MAX;
	int i;

	for (i = 0; i < 16; i++) {
		a = __rdtsc();
		m = bench_mono_ns();
		b = __rdtsc();
		if (b - a < best) {
			best = b - a;
			*ns = m;
			*tsc = a + (b - a) / 2;
		}
	}
}
#endif

static void
clock_calibrate(unsigned ms)
{
#if BENCH_TSC
	uint64_t n0, t0, n1, t1;
	struct timespec ts = { 0, (long)ms * 1000000L };

	if (clk != CLK_TSC)
		return;
	tsc_pair(&n0, &t0);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	tsc_pair(&n1, &t1);
	ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
#else
	(void)ms;
#endif
}

/* ------------------------------------------------------------------ */
/* Spinning and waiting                                                */
/* ------------------------------------------------------------------ */

static inline int
aborted(void)
{
	return ck_pr_load_32(&g_sh->c.abort) != 0;
}

/*
 * Spin until *P == WANT.  RELAX adds a pause per turn; the spins that are
 * part of a measured one-way trip do not pause (a pause can hide a store
 * for tens of ns).  Returns -1 if the run is aborted meanwhile.
 */
static inline int
spin_eq(const uint64_t *p, uint64_t want, int relax)
{
	uint32_t k = 0;

	while (ck_pr_load_64(p) != want) {
		if (g_yield)
			sched_yield();
		else if (relax)
			ck_pr_stall();
		if (++k == (1U << 18)) {
			k = 0;
			if (aborted())
				return -1;
		}
	}
	/* Acquire: pairs with the release before the other side's store. */
	ck_pr_fence_load();
	return 0;
}

/* Spin until the time NOW_TICKS() reaches T. */
static inline void
spin_until(uint64_t t)
{
	while (now_ticks() < t)
		ck_pr_stall();
}

/* ------------------------------------------------------------------ */
/* Children                                                            */
/* ------------------------------------------------------------------ */

/*
 * A child's error: printed unless the run is already aborted (then the
 * first failure was printed and this one is a consequence), and the run is
 * aborted so that the other side stops.  Returns the exit code.
 */
static int
child_fail(struct ctx *x, const char *fmt, ...)
{
	va_list ap;

	if (!ck_pr_fas_32(&g_sh->c.abort, 1)) {
		va_start(ap, fmt);
		fprintf(stderr, "%s: %s: ", PROG, x->what);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	return EXIT_FAIL;
}

static const char *
shmq_why(int rc)
{
	const char *m = shmq_errmsg();

	return m != NULL && m[0] != '\0' ? m : shmq_strerror(rc);
}

static int
pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set);
}

/*
 * Pin the calling thread, once the transport is set up: threads that the
 * library started meanwhile (shmq's prefault thread) keep the process's
 * affinity, as in an application that pins only its hot thread.
 */
static int
child_pin(struct ctx *x)
{
	if (x->my_cpu >= 0 && pin_self(x->my_cpu) == -1)
		return child_fail(x, "pin to CPU %d: %s", x->my_cpu,
		    strerror(errno));
	return 0;
}

/* Runs first in every child. */
static void
child_init(struct ctx *x, int cpu)
{
	/* The parent handles ^C: it aborts the run, and the children stop
	   and close the bus cleanly. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (x->keep_wfd >= 0)
		close(x->keep_wfd);
	x->my_cpu = x->pin ? cpu : -1;
}

/*
 * A process's usage at the start of its timed section: of its main thread,
 * which the measurement runs in, and of the whole process, which adds the
 * library's helper threads.  CPU times come from the CPU-time clocks,
 * exact where getrusage() lags by up to a scheduler tick.
 */
struct usage {
	uint64_t	csw;		/* main thread's voluntary switches */
	uint64_t	thr_ns;
	uint64_t	proc_ns;
	uint64_t	t;
};

static uint64_t
cputime_ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) == -1)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t
thread_csw(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (uint64_t)ru.ru_nvcsw;
}

static void
usage_start(struct usage *u)
{
	u->csw = thread_csw();
	u->thr_ns = cputime_ns(CLOCK_THREAD_CPUTIME_ID);
	u->proc_ns = cputime_ns(CLOCK_PROCESS_CPUTIME_ID);
	u->t = now_ticks();
}

static uint64_t
tv_ns(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000000ULL +
	    (uint64_t)tv->tv_usec * 1000ULL;
}

static void
usage_end(const struct usage *u, int side)
{
	uint64_t t = now_ticks(), thr, all;

	thr = cputime_ns(CLOCK_THREAD_CPUTIME_ID) - u->thr_ns;
	all = cputime_ns(CLOCK_PROCESS_CPUTIME_ID) - u->proc_ns;
	g_sh->c.csw[side] = thread_csw() - u->csw;
	g_sh->c.cpu_ns[side] = thr;
	g_sh->c.helper_ns[side] = all > thr ? all - thr : 0;
	g_sh->c.wall_ticks[side] = t - u->t;
}

static void
cons_ready(void)
{
	/* Release: the consumer's setup is complete before the producer
	   starts. */
	ck_pr_fence_store();
	ck_pr_store_32(&g_sh->c.cons_ready, 1);
}

static int
wait_cons_ready(void)
{
	struct timespec ts = { 0, 50000 };

	while (ck_pr_load_32(&g_sh->c.cons_ready) == 0) {
		if (aborted())
			return -1;
		nanosleep(&ts, NULL);
	}
	ck_pr_fence_load();
	return 0;
}

/*
 * The two sides meet once set up: the consumer announces that it is
 * ready, the producer waits for that.  0 or EXIT_FAIL.
 */
static int
meet(int producer)
{
	if (!producer) {
		cons_ready();
		return 0;
	}
	return wait_cons_ready() == -1 ? EXIT_FAIL : 0;
}

/* Fill a body with a pattern (the header is written per message). */
static char *
body_alloc(struct ctx *x)
{
	char *b;
	uint64_t i;

	if ((b = aligned_alloc(64, (x->o.size + 63) & ~(uint64_t)63)) == NULL)
		return NULL;
	for (i = 0; i < x->o.size; i++)
		b[i] = (char)('a' + i % 26);
	return b;
}

static inline void
hdr_put(char *buf, uint64_t seq, uint64_t stamp)
{
	struct hdr h = { seq, stamp };

	memcpy(buf, &h, sizeof h);
}

static inline struct hdr
hdr_get(const char *buf)
{
	struct hdr h;

	memcpy(&h, buf, sizeof h);
	return h;
}

/* ---- the cache-line floor ---------------------------------------- */

/*
 * Latency: the producer stores the stamp, then the sequence number; the
 * consumer spins on the sequence number.  The acknowledgement carries the
 * consumer's own stamp, which gives the one-way time in the other
 * direction: if the two medians differ, the CPUs' clocks disagree.  The
 * two sides mirror each other: each posts on its own line and samples the
 * other's, the producer before its wait, the consumer after.
 */
static inline void
cl_post(uint64_t *seq, uint64_t *stamp, uint64_t v)
{
	ck_pr_store_64(stamp, now_ticks());
	/* Release: the stamp before the sequence number. */
	ck_pr_fence_store();
	ck_pr_store_64(seq, v);
}

static int
cl_lat_side(struct ctx *x, int producer)
{
	struct shared *sh = g_sh;
	uint64_t *out_seq = producer ? &sh->msg.seq : &sh->ack.seq;
	uint64_t *out_stamp = producer ? &sh->msg.stamp : &sh->ack.stamp;
	const uint64_t *in_seq = producer ? &sh->ack.seq : &sh->msg.seq;
	const uint64_t *in_stamp = producer ? &sh->ack.stamp : &sh->msg.stamp;
	int64_t *samp = producer ? x->rev : x->fwd;
	struct usage u;
	uint64_t i, total = x->warm + x->n, t;

	memset(&u, 0, sizeof u);
	if (child_pin(x) != 0 || meet(producer) != 0)
		return EXIT_FAIL;
	for (i = 0; i < total; i++) {
		if (i == x->warm)
			usage_start(&u);
		if (producer)
			cl_post(out_seq, out_stamp, i + 1);
		if (spin_eq(in_seq, i + 1, 0) == -1)
			return EXIT_FAIL;
		t = now_ticks();
		if (i >= x->warm)
			samp[i - x->warm] =
			    (int64_t)(t - ck_pr_load_64(in_stamp));
		if (!producer)
			cl_post(out_seq, out_stamp, i + 1);
	}
	usage_end(&u, producer ? SIDE_PROD : SIDE_CONS);
	return EXIT_OK;
}

/*
 * Throughput: a minimal single-producer single-consumer ring of fixed
 * slots.  The producer publishes every message; the consumer drains what it
 * sees and publishes its index once per batch.
 */

/* Throughput producers: the warm-up is consumed; start the clock. */
static int
tput_start(struct ctx *x, struct usage *u, uint64_t *end)
{
	if (spin_eq(&g_sh->ack.seq, x->warm, 1) == -1)
		return -1;
	usage_start(u);
	g_sh->c.t_first = now_ticks();
	*end = g_sh->c.t_first + x->tput_ticks;
	return 0;
}

/* Whether a timed run is over, checked every 256 messages. */
static inline int
tput_over(uint64_t i, uint64_t end)
{
	return (i & 255) == 0 && now_ticks() > end;
}

/* Wait for a free slot at HEAD; -1 if the run is aborted. */
static inline int
ring_room(struct ctx *x, uint64_t head, uint64_t *tail)
{
	while (head - *tail >= x->ring_slots) {
		*tail = ck_pr_load_64(&g_sh->tail.v);
		ck_pr_stall();
		if (aborted())
			return -1;
	}
	return 0;
}

/* Copy BUF, numbered SEQ, into the slot of HEAD and publish it. */
static inline void
ring_put(struct ctx *x, char *buf, uint64_t head, uint64_t seq)
{
	hdr_put(buf, seq, 0);
	memcpy(x->ring + (head & (x->ring_slots - 1)) * x->slot_bytes, buf,
	    x->o.size);
	/* Release: the slot before the index that publishes it. */
	ck_pr_fence_store();
	ck_pr_store_64(&g_sh->head.v, head + 1);
}

static int
ring_producer(struct ctx *x)
{
	struct usage u;
	uint64_t head = 0, tail = 0, total = x->warm + x->n, end = 0;
	char *buf;

	memset(&u, 0, sizeof u);
	if ((buf = body_alloc(x)) == NULL)
		return child_fail(x, "%s", strerror(errno));
	if (child_pin(x) != 0 || meet(1) != 0)
		return EXIT_FAIL;
	for (;;) {
		/* Warm-up done: wait until it is consumed, then time. */
		if (head == x->warm && tput_start(x, &u, &end) == -1)
			return EXIT_FAIL;
		if (head >= total || (head > x->warm && tput_over(head, end)))
			break;
		if (ring_room(x, head, &tail) == -1)
			return EXIT_FAIL;
		ring_put(x, buf, head, head);
		head++;
	}
	usage_end(&u, SIDE_PROD);
	g_sh->c.sent = head - x->warm;
	if (ring_room(x, head, &tail) == -1)
		return EXIT_FAIL;
	ring_put(x, buf, head, SEQ_END);
	free(buf);
	return EXIT_OK;
}

static int
ring_consumer(struct ctx *x)
{
	struct shared *sh = g_sh;
	struct usage u;
	uint64_t head = 0, tail = 0, mask = x->ring_slots - 1, k = 0;
	char *buf;
	struct hdr h;

	memset(&u, 0, sizeof u);
	if ((buf = body_alloc(x)) == NULL)
		return child_fail(x, "%s", strerror(errno));
	if (child_pin(x) != 0 || meet(0) != 0)
		return EXIT_FAIL;
	for (;;) {
		while (tail == head) {
			head = ck_pr_load_64(&sh->head.v);
			if (g_yield)
				sched_yield();
			if (++k == (1U << 20)) {
				k = 0;
				if (aborted())
					return EXIT_FAIL;
			}
		}
		/* Acquire: pairs with the producer's release of head. */
		ck_pr_fence_load();
		for (; tail < head; tail++) {
			memcpy(buf, x->ring + (tail & mask) * x->slot_bytes,
			    x->o.size);
			h = hdr_get(buf);
			if (h.seq == SEQ_END)
				goto done;
			if (h.seq != tail)
				return child_fail(x, "ring slot %" PRIu64
				    ": sequence %" PRIu64, tail, h.seq);
			if (tail + 1 == x->warm) {
				ck_pr_store_64(&sh->ack.seq, x->warm);
				usage_start(&u);
			}
		}
		sh->c.t_last = now_ticks();
		/* Release: done reading the slots before they are reused. */
		ck_pr_fence_load_store();
		ck_pr_store_64(&sh->tail.v, tail);
	}
done:
	usage_end(&u, SIDE_CONS);
	sh->c.received = tail - x->warm;
	free(buf);
	return EXIT_OK;
}

/* ---- the generic latency loop ------------------------------------- */

/*
 * One side of a transport inside a child.  Only the members of the current
 * transport are used.
 */
struct endpt {
	struct ctx		*x;
	char			*buf;
	int			 fd;
	uint32_t		 fword;		/* futex: last value seen */
	struct shmq_bus		*bus;
	struct shmq_producer	*prod;
	struct shmq_consumer	*cons;
	struct shmq_msg		 msg;
	struct shmq_msgview	 v[POLL_BATCH];
	int			 tmo;		/* poll timeout, ms */
};

static int
write_full(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, c, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly N bytes: 1, 0 at end of file, -1 on error. */
static int
read_full(int fd, void *p, size_t n)
{
	char *c = p;
	ssize_t r;

	while (n > 0) {
		if ((r = read(fd, c, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			return 0;
		c += r;
		n -= (size_t)r;
	}
	return 1;
}

/* Attach to the keeper's bus; WHO names the side.  0 or an exit code. */
static int
child_bus_open(struct ctx *x, struct shmq_bus **bus, const char *who)
{
	struct shmq_bus_opts o;
	int rc;

	shmq_bus_opts_init(&o);
	o.home = x->home;
	o.create = 0;
	if ((rc = shmq_bus_open(bus, x->o.bus, &o)) < 0)
		return child_fail(x, "%s: bus \"%s\": %s", who, x->o.bus,
		    shmq_why(rc));
	return 0;
}

/* A producer whose message M sends BUF to QUEUE.  0 or an exit code. */
static int
child_producer_open(struct ctx *x, struct shmq_bus *bus,
    struct shmq_producer **p, struct shmq_msg *m, char *buf, int queue)
{
	int rc;

	if ((rc = shmq_producer_open(p, bus, GROUP)) < 0)
		return child_fail(x, "producer: open: %s", shmq_why(rc));
	shmq_msg_init(m);
	m->topic = x->o.topic;
	m->queue = queue;
	m->body = buf;
	m->body_len = x->o.size;
	return 0;
}

static int
ep_open(struct endpt *e, struct ctx *x, int producer)
{
	int rc;

	memset(e, 0, sizeof *e);
	e->x = x;
	e->fd = -1;
	if ((e->buf = body_alloc(x)) == NULL)
		return child_fail(x, "%s", strerror(errno));
	switch (x->t) {
	case T_PIPE:
	case T_UNIX:
		e->fd = producer ? x->fd[1] : x->fd[0];
		close(producer ? x->fd[0] : x->fd[1]);
		break;
	case T_SHMQ_BUSY:
	case T_SHMQ_SLEEP:
		e->tmo = x->t == T_SHMQ_BUSY ? 0 : 1000;
		if ((rc = child_bus_open(x, &e->bus, producer ? "producer" :
		    "consumer")) != 0)
			return rc;
		if (producer) {
			if ((rc = child_producer_open(x, e->bus, &e->prod,
			    &e->msg, e->buf, 0)) != 0)
				return rc;
			break;
		}
		if ((rc = shmq_consumer_open(&e->cons, e->bus)) < 0)
			return child_fail(x, "consumer: open: %s",
			    shmq_why(rc));
		if ((rc = shmq_consumer_assign(e->cons, x->o.topic, 0,
		    NULL)) < 0)
			return child_fail(x, "consumer: topic \"%s\" queue 0: "
			    "%s", x->o.topic, shmq_why(rc));
		if ((rc = shmq_consumer_seek(e->cons, x->o.topic, 0,
		    SHMQ_SEEK_LAST, 0)) < 0)
			return child_fail(x, "consumer: seek to the end: %s",
			    shmq_why(rc));
		break;
	default:
		break;
	}
	return child_pin(x);
}

static void
ep_close(struct endpt *e)
{
	if (e->fd >= 0) {
		if (e->x->t == T_UNIX)
			shutdown(e->fd, SHUT_WR);
		close(e->fd);
		e->fd = -1;
	}
	shmq_producer_close(e->prod);
	shmq_consumer_close(e->cons);
	shmq_bus_close(e->bus);
	e->prod = NULL;
	e->cons = NULL;
	e->bus = NULL;
	free(e->buf);
	e->buf = NULL;
}

/* Send e->buf.  0 or an exit code. */
static inline int
ep_send(struct endpt *e)
{
	struct ctx *x = e->x;
	int rc;

	switch (x->t) {
	case T_FUTEX: {
		struct hdr h = hdr_get(e->buf);

		ck_pr_store_64(&g_sh->msg.stamp, h.stamp);
		ck_pr_store_64(&g_sh->msg.seq, h.seq);
		/* Release: the message before the word that announces it. */
		ck_pr_fence_store();
		ck_pr_store_32(&g_sh->msg.word, (uint32_t)h.seq + 1);
		if (bench_futex_wake(&g_sh->msg.word) == -1)
			return child_fail(x, "producer: futex wake: %s",
			    strerror(errno));
		return 0;
	}
	case T_PIPE:
	case T_UNIX:
		if (write_full(e->fd, e->buf, x->o.size) == -1)
			return child_fail(x, "producer: write: %s",
			    strerror(errno));
		return 0;
	case T_SHMQ_BUSY:
	case T_SHMQ_SLEEP:
		if ((rc = shmq_producer_send_oneway(e->prod, &e->msg)) < 0)
			return child_fail(x, "producer: send: %s",
			    shmq_why(rc));
		return 0;
	default:
		return child_fail(x, "no such transport");
	}
}

/*
 * Poll until at least one message arrives, at most MAX: the count, or 0
 * once the run failed.  A busy consumer looks for an abort every 4096
 * empty polls, a sleeping one after every timeout.
 */
static int
ep_poll(struct endpt *e, int max)
{
	uint32_t k = 0;
	int n;

	for (;;) {
		n = shmq_consumer_poll(e->cons, e->v, max, e->tmo);
		if (n > 0)
			return n;
		if (n < 0) {
			child_fail(e->x, "consumer: poll: %s", shmq_why(n));
			return 0;
		}
		if (e->tmo != 0 || ++k == 4096) {
			k = 0;
			if (aborted())
				return 0;
		}
		if (g_yield)
			sched_yield();
	}
}

/* Copy the body of view I into e->buf.  0 or an exit code. */
static inline int
ep_copy(struct endpt *e, int i)
{
	struct ctx *x = e->x;

	if (e->v[i].body_len != x->o.size)
		return child_fail(x, "consumer: message at offset %" PRIu64
		    ": %zu bytes, sent %" PRIu64, e->v[i].queue_off,
		    e->v[i].body_len, x->o.size);
	memcpy(e->buf, e->v[i].body, x->o.size);
	return 0;
}

/* Receive one message into e->buf.  0 or an exit code. */
static inline int
ep_recv(struct endpt *e)
{
	struct ctx *x = e->x;
	struct timespec to = { 0, 100000000L };
	uint32_t w;

	switch (x->t) {
	case T_FUTEX:
		while ((w = ck_pr_load_32(&g_sh->msg.word)) == e->fword) {
			if (bench_futex_wait(&g_sh->msg.word, e->fword, &to) == -1 &&
			    errno != EAGAIN && errno != EINTR &&
			    errno != ETIMEDOUT)
				return child_fail(x, "consumer: futex wait: "
				    "%s", strerror(errno));
			if (aborted())
				return EXIT_FAIL;
		}
		e->fword = w;
		/* Acquire: pairs with the producer's release of the word. */
		ck_pr_fence_load();
		hdr_put(e->buf, ck_pr_load_64(&g_sh->msg.seq),
		    ck_pr_load_64(&g_sh->msg.stamp));
		return 0;
	case T_PIPE:
	case T_UNIX:
		switch (read_full(e->fd, e->buf, x->o.size)) {
		case 1:
			return 0;
		case 0:
			if (aborted())
				return EXIT_FAIL;
			return child_fail(x, "consumer: read: unexpected end "
			    "of file");
		default:
			return child_fail(x, "consumer: read: %s",
			    strerror(errno));
		}
	case T_SHMQ_BUSY:
	case T_SHMQ_SLEEP:
		return ep_poll(e, 1) == 0 ? EXIT_FAIL : ep_copy(e, 0);
	default:
		return child_fail(x, "no such transport");
	}
}

/* A message's number against the one expected.  0 or an exit code. */
static inline int
seq_check(struct ctx *x, uint64_t seq, uint64_t want)
{
	if (seq == want)
		return 0;
	return child_fail(x, "consumer: message %" PRIu64 " arrived as "
	    "number %" PRIu64 " (lost, repeated or reordered)", seq, want);
}

/* --pretouch: allocate the log pages the run will fill, before timing. */
static int
pretouch(struct ctx *x, struct endpt *e, uint64_t total)
{
	/* A record: 80-byte header, topic, body, 8-aligned. */
	uint64_t rec = (80 + strlen(x->o.topic) + x->o.size + 7) &
	    ~(uint64_t)7;
	int rc;

	if (!x->o.pretouch || e->bus == NULL)
		return 0;
	if ((rc = shmq_bus_prefault(e->bus, (total + 1) * rec)) < 0)
		return child_fail(x, "producer: prefault: %s", shmq_why(rc));
	return 0;
}

/*
 * Open this side's end of the transport (the producer pretouches the log
 * for TOTAL messages), then meet the other side.  0 or an exit code.
 */
static int
ep_start(struct endpt *e, struct ctx *x, int producer, uint64_t total)
{
	int rc;

	if ((rc = ep_open(e, x, producer)) != 0)
		return rc;
	if (producer && (rc = pretouch(x, e, total)) != 0)
		return rc;
	return meet(producer);
}

static int
lat_producer(struct ctx *x)
{
	struct endpt e;
	struct usage u;
	uint64_t i, total = x->warm + x->n, t = 0;
	int rc;

	memset(&u, 0, sizeof u);
	if (x->t == T_CACHELINE)
		return cl_lat_side(x, 1);
	if ((rc = ep_start(&e, x, 1, total)) != 0)
		return rc;
	for (i = 0; i < total; i++) {
		if (i == x->warm)
			usage_start(&u);
		if (x->gap_ticks > 0)
			spin_until(t + x->gap_ticks);
		hdr_put(e.buf, i, now_ticks());
		if ((rc = ep_send(&e)) != 0)
			return rc;
		if (spin_eq(&g_sh->ack.seq, i + 1, 1) == -1)
			return EXIT_FAIL;
		t = now_ticks();
	}
	usage_end(&u, SIDE_PROD);
	ep_close(&e);
	return EXIT_OK;
}

static int
lat_consumer(struct ctx *x)
{
	struct endpt e;
	struct usage u;
	struct hdr h;
	uint64_t i, total = x->warm + x->n, t;
	int rc;

	memset(&u, 0, sizeof u);
	if (x->t == T_CACHELINE)
		return cl_lat_side(x, 0);
	if ((rc = ep_start(&e, x, 0, total)) != 0)
		return rc;
	for (i = 0; i < total; i++) {
		if (i == x->warm)
			usage_start(&u);
		if ((rc = ep_recv(&e)) != 0)
			return rc;
		t = now_ticks();
		h = hdr_get(e.buf);
		if ((rc = seq_check(x, h.seq, i)) != 0)
			return rc;
		if (i >= x->warm)
			x->fwd[i - x->warm] = (int64_t)(t - h.stamp);
		/* Release: the sample is written before the producer goes
		   on (and the parent reads it after both exit). */
		ck_pr_fence_store();
		ck_pr_store_64(&g_sh->ack.seq, i + 1);
	}
	usage_end(&u, SIDE_CONS);
	ep_close(&e);
	return EXIT_OK;
}

/* ---- the generic throughput loop ---------------------------------- */

static int
tput_producer(struct ctx *x)
{
	struct endpt e;
	struct usage u;
	uint64_t i, total = x->warm + x->n, end = 0;
	int rc;

	memset(&u, 0, sizeof u);
	if (x->t == T_CACHELINE)
		return ring_producer(x);
	if ((rc = ep_start(&e, x, 1, total)) != 0)
		return rc;
	for (i = 0; i < total; i++) {
		if (i == x->warm) {
			if (tput_start(x, &u, &end) == -1)
				return EXIT_FAIL;
		} else if (i > x->warm && tput_over(i, end))
			break;
		hdr_put(e.buf, i, 0);
		if ((rc = ep_send(&e)) != 0)
			return rc;
	}
	usage_end(&u, SIDE_PROD);
	g_sh->c.sent = i - x->warm;
	if (x->t == T_SHMQ_BUSY || x->t == T_SHMQ_SLEEP) {
		hdr_put(e.buf, SEQ_END, 0);
		if ((rc = ep_send(&e)) != 0)
			return rc;
	}
	/* Streams end with end of file (ep_close). */
	ep_close(&e);
	return EXIT_OK;
}

/* read(2), restarted: bytes, 0 at end of file, -1 once failed. */
static ssize_t
stream_read(struct ctx *x, int fd, char *buf, size_t n)
{
	ssize_t r;

	while ((r = read(fd, buf, n)) == -1 && errno == EINTR)
		;
	if (r == -1)
		child_fail(x, "consumer: read: %s", strerror(errno));
	return r;
}

/* Pipe or socket: read big chunks until end of file, count bytes. */
static int
stream_consumer(struct ctx *x, struct endpt *e)
{
	struct usage u;
	uint64_t warm_bytes = x->warm * x->o.size, got = 0;
	char *chunk;
	ssize_t r;
	size_t want;

	memset(&u, 0, sizeof u);
	if ((chunk = malloc(STREAM_CHUNK)) == NULL)
		return child_fail(x, "%s", strerror(errno));
	while (got < warm_bytes) {
		want = warm_bytes - got < STREAM_CHUNK ?
		    (size_t)(warm_bytes - got) : STREAM_CHUNK;
		if ((r = stream_read(x, e->fd, chunk, want)) <= 0)
			return r == -1 ? EXIT_FAIL : child_fail(x,
			    "consumer: read: unexpected end of file");
		got += (uint64_t)r;
	}
	usage_start(&u);
	ck_pr_store_64(&g_sh->ack.seq, x->warm);
	got = 0;
	while ((r = stream_read(x, e->fd, chunk, STREAM_CHUNK)) > 0) {
		g_sh->c.t_last = now_ticks();
		got += (uint64_t)r;
	}
	if (r == -1)
		return EXIT_FAIL;
	usage_end(&u, SIDE_CONS);
	if (got % x->o.size != 0)
		return child_fail(x, "consumer: %" PRIu64 " bytes: not a whole "
		    "number of messages", got);
	g_sh->c.received = got / x->o.size;
	free(chunk);
	return EXIT_OK;
}

static int
tput_consumer(struct ctx *x)
{
	struct endpt e;
	struct usage u;
	struct hdr h;
	uint64_t expect = 0;
	int n, i, rc;

	memset(&u, 0, sizeof u);
	if (x->t == T_CACHELINE)
		return ring_consumer(x);
	if ((rc = ep_start(&e, x, 0, 0)) != 0)
		return rc;
	if (x->t == T_PIPE || x->t == T_UNIX) {
		rc = stream_consumer(x, &e);
		ep_close(&e);
		return rc;
	}
	for (;;) {
		if ((n = ep_poll(&e, POLL_BATCH)) == 0)
			return EXIT_FAIL;
		for (i = 0; i < n; i++) {
			if ((rc = ep_copy(&e, i)) != 0)
				return rc;
			h = hdr_get(e.buf);
			if (h.seq == SEQ_END)
				goto done;
			if ((rc = seq_check(x, h.seq, expect)) != 0)
				return rc;
			if (++expect == x->warm) {
				usage_start(&u);
				ck_pr_store_64(&g_sh->ack.seq, x->warm);
			}
		}
		g_sh->c.t_last = now_ticks();
	}
done:
	usage_end(&u, SIDE_CONS);
	g_sh->c.received = expect - x->warm;
	ep_close(&e);
	return EXIT_OK;
}

/* ---- the keeper ---------------------------------------------------- */

/*
 * Opens (creating) the bus and the topic, then holds the bus open until the
 * parent closes the other end of RFD.
 */
static int
keeper_main(struct ctx *x, int rfd)
{
	struct shmq_bus_opts o;
	struct shmq_bus *bus;
	char c;
	int rc;

	shmq_bus_opts_init(&o);
	o.home = x->home;
	o.create = 1;
	if ((rc = shmq_bus_open(&bus, x->o.bus, &o)) < 0) {
		warnx_("bus \"%s\" in %s: %s", x->o.bus, x->home,
		    shmq_why(rc));
		bus = NULL;
		goto fail;
	}
	rc = shmq_topic_create(bus, x->o.topic, x->o.group ? GROUP_QUEUES : 1);
	if (rc == SHMQ_EEXIST && x->o.group &&
	    (rc = shmq_topic_queues(bus, x->o.topic)) != GROUP_QUEUES) {
		warnx_("topic \"%s\": %d queues, the group mode needs %d: "
		    "choose another with -t", x->o.topic, rc, GROUP_QUEUES);
		goto fail;
	}
	if (rc < 0 && rc != SHMQ_EEXIST) {
		warnx_("topic \"%s\": %s", x->o.topic, shmq_why(rc));
		goto fail;
	}
	ck_pr_store_32(&g_sh->c.keeper_state, 1);
	while (read(rfd, &c, 1) == -1 && errno == EINTR)
		;
	shmq_bus_close(bus);
	return EXIT_OK;
fail:
	ck_pr_store_32(&g_sh->c.keeper_state, (uint32_t)-1);
	shmq_bus_close(bus);
	return EXIT_FAIL;
}

/* ------------------------------------------------------------------ */
/* The parent                                                          */
/* ------------------------------------------------------------------ */

static void
on_alarm(int sig)
{
	(void)sig;
	g_alarm = 1;
}

static void
on_interrupt(int sig)
{
	(void)sig;
	g_interrupted = 1;
	if (g_sh != NULL)
		ck_pr_store_32(&g_sh->c.abort, 1);
}

static void
progress(const char *what)
{
	if (!g_progress)
		return;
	if (what == NULL)
		fprintf(stderr, "\r\033[K");
	else
		fprintf(stderr, "\r\033[K%s: %s ...", PROG, what);
	fflush(stderr);
}

/*
 * Wait for the N children in PIDS, at most DEADLINE seconds; then abort
 * the run and, after a grace period, kill them.  PIDS[PROD] is the
 * producer, the others are each a WHO ("consumer", "member").  A SIGKILL
 * of *SPARED, the takeover's victim, is what the run is about, not a
 * failure.  Returns 0 if every child exited with 0.
 */
static int
reap(struct ctx *x, pid_t *pids, int n, int prod, const char *who,
    const int32_t *spared, unsigned deadline)
{
	int live = n, i, st, bad = 0, killed = 0, timedout = 0;
	pid_t p;

	g_alarm = 0;
	alarm(deadline);
	while (live > 0) {
		if ((p = waitpid(-1, &st, 0)) == -1) {
			if (errno != EINTR)
				break;
			if (g_alarm && !killed) {
				if (!timedout) {
					timedout = 1;
					warnx_("%s: no progress after %u s: "
					    "stopping it", x->what, deadline);
					ck_pr_store_32(&g_sh->c.abort, 1);
					g_alarm = 0;
					alarm(3);
				} else {
					for (i = 0; i < n; i++)
						if (pids[i] > 0)
							kill(pids[i], SIGKILL);
					killed = 1;
				}
			}
			continue;
		}
		for (i = 0; i < n && pids[i] != p; i++)
			;
		if (i == n)
			continue;
		pids[i] = 0;
		live--;
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL &&
		    spared != NULL && p == *spared)
			continue;
		if (WIFSIGNALED(st)) {
			if (WTERMSIG(st) != SIGKILL || !killed)
				warnx_("%s: %s killed by signal %d", x->what,
				    i == prod ? "producer" : who,
				    WTERMSIG(st));
			bad = 1;
			ck_pr_store_32(&g_sh->c.abort, 1);
		} else if (WEXITSTATUS(st) != 0) {
			bad = 1;
			ck_pr_store_32(&g_sh->c.abort, 1);
		}
	}
	alarm(0);
	return bad || timedout || g_interrupted ? -1 : 0;
}

/* Clear what the timed sections of the last run reported. */
static void
ctl_reset_usage(struct ctl *c)
{
	memset(c->csw, 0, sizeof c->csw);
	memset(c->cpu_ns, 0, sizeof c->cpu_ns);
	memset(c->helper_ns, 0, sizeof c->helper_ns);
	memset(c->wall_ticks, 0, sizeof c->wall_ticks);
}

/* Run CONS and PROD in two children pinned to their CPUs. */
static int
run_pair(struct ctx *x, int (*prod)(struct ctx *), int (*cons)(struct ctx *),
    unsigned deadline)
{
	struct shared *sh = x->sh;
	pid_t pids[2];
	int i;

	memset(&sh->msg, 0, sizeof sh->msg);
	memset(&sh->ack, 0, sizeof sh->ack);
	sh->head.v = 0;
	sh->tail.v = 0;
	sh->c.abort = 0;
	sh->c.cons_ready = 0;
	sh->c.t_first = sh->c.t_last = 0;
	sh->c.sent = sh->c.received = 0;
	ctl_reset_usage(&sh->c);
	if (g_interrupted)
		return -1;
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < 2; i++) {
		if ((pids[i] = fork()) == -1) {
			warnx_("%s: fork: %s", x->what, strerror(errno));
			sh->c.abort = 1;
			if (i == 1) {
				pids[1] = 0;
				reap(x, pids, 1, 1, "consumer", NULL, 5);
			}
			return -1;
		}
		if (pids[i] == 0) {
			child_init(x, x->pin ? x->o.cpu[i == 0 ? 1 : 0] : -1);
			_exit(i == 0 ? cons(x) : prod(x));
		}
	}
	for (i = 0; i < 2; i++) {
		if (x->fd[i] >= 0)
			close(x->fd[i]);
		x->fd[i] = -1;
	}
	return reap(x, pids, 2, 1, "consumer", NULL, deadline);
}

/* The nearest-rank percentile Q/100000 of sorted S[0..N). */
static double
pct(const int64_t *s, uint64_t n, uint64_t q)
{
	uint64_t k = (n * q + 99999) / 100000;

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return ticks_ns((double)s[k - 1]);
}

/* NS[SIDE] (CPU time of one side's timed section) over its wall time. */
static double
share(const struct ctl *c, const uint64_t *ns, int side)
{
	if (c->wall_ticks[side] == 0)
		return 0;
	return (double)ns[side] / ticks_ns((double)c->wall_ticks[side]);
}

/* Both sides' CPU shares: main threads (CPU, PCPU), then helpers. */
static void
shares(const struct ctl *c, double *cpu, double *pcpu, double *helper)
{
	*cpu = share(c, c->cpu_ns, SIDE_CONS);
	*pcpu = share(c, c->cpu_ns, SIDE_PROD);
	helper[SIDE_CONS] = share(c, c->helper_ns, SIDE_CONS);
	helper[SIDE_PROD] = share(c, c->helper_ns, SIDE_PROD);
}

/* A measurement failed: mark its STATE and count it. */
static void
failed(struct ctx *x, int *state)
{
	*state = -1;
	x->failures++;
}

static void
lat_stats(struct ctx *x, struct latency *l)
{
	const struct ctl *c = &x->sh->c;
	double sum = 0;
	uint64_t i, n = x->n;

	qsort(x->fwd, n, sizeof x->fwd[0], bench_cmp_i64);
	for (i = 0; i < n; i++)
		sum += (double)x->fwd[i];
	l->n = n;
	l->min = ticks_ns((double)x->fwd[0]);
	l->p50 = pct(x->fwd, n, 50000);
	l->p90 = pct(x->fwd, n, 90000);
	l->p99 = pct(x->fwd, n, 99000);
	l->p999 = pct(x->fwd, n, 99900);
	l->max = ticks_ns((double)x->fwd[n - 1]);
	l->mean = ticks_ns(sum / (double)n);
	l->csw = (double)c->csw[SIDE_CONS] / (double)n;
	shares(c, &l->cpu, &l->pcpu, l->helper);
	if (x->t == T_CACHELINE) {
		qsort(x->rev, n, sizeof x->rev[0], bench_cmp_i64);
		l->rev_p50 = pct(x->rev, n, 50000);
		l->rev_min = ticks_ns((double)x->rev[0]);
	}
	l->state = 1;
}

static int
make_fds(struct ctx *x)
{
	x->fd[0] = x->fd[1] = -1;
	switch (x->t) {
	case T_PIPE:
		if (pipe2(x->fd, O_CLOEXEC) == -1) {
			warnx_("%s: pipe: %s", x->what, strerror(errno));
			return -1;
		}
		break;
	case T_UNIX:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
		    x->fd) == -1) {
			warnx_("%s: socketpair: %s", x->what,
			    strerror(errno));
			return -1;
		}
		break;
	default:
		break;
	}
	return 0;
}

static void
measure_latency(struct ctx *x, enum transport t)
{
	struct row *r = &rows[t];
	unsigned deadline;
	double per;

	x->t = t;
	x->n = r->sleeps ? x->o.n_sleep : x->o.n_busy;
	if (r->sleeps)
		x->warm = x->n / 50 > 20 ? x->n / 50 : 20;
	else
		x->warm = x->n / 10 > 1000 ? x->n / 10 : 1000;
	x->gap_ticks = r->sleeps ? ns_ticks((double)x->o.gap_us * 1000) : 0;
	snprintf(x->what, sizeof x->what, "%s latency", r->tput_label);
	if (t == T_CACHELINE)
		snprintf(x->what, sizeof x->what, "cache line latency");
	progress(x->what);
	/* Generous: 20 us per busy sample, gap + 2 ms per sleeping one. */
	per = r->sleeps ? (double)x->o.gap_us * 1e-6 + 2e-3 : 20e-6;
	deadline = 20 + (unsigned)(per * (double)(x->n + x->warm));
	if (make_fds(x) == -1 ||
	    run_pair(x, lat_producer, lat_consumer, deadline) == -1) {
		failed(x, &r->lat.state);
		return;
	}
	lat_stats(x, &r->lat);
}

static void
measure_throughput(struct ctx *x, enum transport t)
{
	struct row *r = &rows[t];
	const struct ctl *c = &x->sh->c;
	struct throughput *tp = &r->tp;
	unsigned deadline;

	x->t = t;
	x->n = x->o.n_tput;
	x->warm = x->n / 10;
	if (x->warm > (x->o.quick ? 1000 : 10000))
		x->warm = x->o.quick ? 1000 : 10000;
	if (x->warm < 1)
		x->warm = 1;
	x->gap_ticks = 0;
	x->tput_ticks = ns_ticks(x->o.tput_secs * 1e9);
	snprintf(x->what, sizeof x->what, "%s throughput", r->tput_label);
	progress(x->what);
	deadline = 30 + (unsigned)(x->o.tput_secs * 4);
	if (make_fds(x) == -1 ||
	    run_pair(x, tput_producer, tput_consumer, deadline) == -1) {
		failed(x, &tp->state);
		return;
	}
	if (c->received != c->sent) {
		warnx_("%s: %" PRIu64 " messages sent, %" PRIu64 " received",
		    x->what, c->sent, c->received);
		failed(x, &tp->state);
		return;
	}
	tp->msgs = c->received;
	tp->secs = ticks_ns((double)(c->t_last - c->t_first)) / 1e9;
	if (tp->secs <= 0 || tp->msgs == 0) {
		warnx_("%s: nothing measured", x->what);
		failed(x, &tp->state);
		return;
	}
	tp->msg_s = (double)tp->msgs / tp->secs;
	tp->mb_s = tp->msg_s * (double)x->o.size / 1e6;
	tp->csw = (double)c->csw[SIDE_CONS] / (double)tp->msgs;
	shares(c, &tp->cpu, &tp->pcpu, tp->helper);
	tp->state = 1;
}

/*
 * Each shmq row runs right after the floor it is compared with, so that
 * both see the same placement of the virtual CPUs.
 */
static const enum transport order_lat[T_COUNT] = {
	T_CACHELINE, T_SHMQ_BUSY, T_FUTEX, T_SHMQ_SLEEP, T_PIPE, T_UNIX
};
static const enum transport order_tput[T_COUNT] = {
	T_CACHELINE, T_SHMQ_BUSY, T_SHMQ_SLEEP, T_PIPE, T_UNIX, T_FUTEX
};

/* Measure the selected rows, latency or (TPUT) throughput, in ORDER. */
static void
measure_rows(struct ctx *x, const enum transport *order, int tput)
{
	struct row *r;
	int i;

	for (i = 0; i < T_COUNT && !g_interrupted; i++) {
		r = &rows[order[i]];
		if (!r->selected || !(tput ? r->has_tput : r->has_lat) ||
		    (tput ? r->tp.state : r->lat.state) != 0)
			continue;
		if (tput)
			measure_throughput(x, order[i]);
		else
			measure_latency(x, order[i]);
	}
}

/* ---- the store and the keeper ------------------------------------- */

static int
store_setup(struct ctx *x)
{
	struct statfs fs;
	const char *base = "/var/tmp";

	if (x->o.home != NULL) {
		if (strlcpy(x->home, x->o.home, sizeof x->home) >=
		    sizeof x->home) {
			warnx_("--home: path too long");
			return -1;
		}
		if (mkdir(x->home, 0700) == -1 && errno != EEXIST) {
			warnx_("%s: %s", x->home, strerror(errno));
			return -1;
		}
	} else {
		if (access(base, W_OK | X_OK) == -1 &&
		    (base = getenv("TMPDIR")) == NULL)
			base = "/tmp";
		snprintf(x->home, sizeof x->home, "%s/%s.XXXXXX", base, PROG);
		if (mkdtemp(x->home) == NULL) {
			warnx_("%s: %s", x->home, strerror(errno));
			return -1;
		}
		x->home_tmp = 1;
	}
	x->store_kind = "disk";
	if (statfs(x->home, &fs) == 0 &&
	    (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC))
		x->store_kind = "tmpfs";
	return 0;
}

static void
store_cleanup(struct ctx *x)
{
	if (!x->home_tmp)
		return;
	if (x->o.keep) {
		if (!x->o.json)
			warnx_("kept the store in %s", x->home);
		return;
	}
	bench_rm_tree(x->home);
}

static int
keeper_start(struct ctx *x)
{
	struct timespec ts = { 0, 1000000L };
	int p[2], st;
	uint32_t s;

	if (pipe2(p, O_CLOEXEC) == -1) {
		warnx_("pipe: %s", strerror(errno));
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	if ((x->keeper = fork()) == -1) {
		warnx_("fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (x->keeper == 0) {
		close(p[1]);
		x->keep_wfd = -1;
		child_init(x, -1);
		_exit(keeper_main(x, p[0]));
	}
	close(p[0]);
	x->keep_wfd = p[1];
	for (;;) {
		s = ck_pr_load_32(&x->sh->c.keeper_state);
		if (s == 1)
			break;
		if (s == (uint32_t)-1 || waitpid(x->keeper, &st, WNOHANG) ==
		    x->keeper || g_interrupted) {
			close(x->keep_wfd);
			x->keep_wfd = -1;
			waitpid(x->keeper, &st, 0);
			x->keeper = 0;
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	x->keeper_ok = 1;
	return 0;
}

static void
keeper_stop(struct ctx *x)
{
	int st;

	if (x->keep_wfd >= 0)
		close(x->keep_wfd);
	x->keep_wfd = -1;
	if (x->keeper > 0)
		while (waitpid(x->keeper, &st, 0) == -1 && errno == EINTR)
			;
	x->keeper = 0;
}

/* ---- noise --------------------------------------------------------- */

/*
 * Time of the two CPUs, from /proc/stat, in clock ticks: busy (anything
 * but idle and iowait) and stolen by the hypervisor.
 */
struct cpu_times {
	uint64_t	busy;
	uint64_t	steal;
	uint64_t	all;
	int		ok;
};

static void
cpu_times(struct ctx *x, struct cpu_times *ct)
{
	FILE *f;
	char line[512];
	unsigned long long v[10];
	int cpu, i, n;

	memset(ct, 0, sizeof *ct);
	if (!x->pin || (f = fopen("/proc/stat", "r")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		memset(v, 0, sizeof v);
		n = sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu "
		    "%llu", &cpu, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		    &v[6], &v[7]);
		if (n < 9 || (cpu != x->o.cpu[0] && cpu != x->o.cpu[1]))
			continue;
		/* user nice system idle iowait irq softirq steal */
		for (i = 0; i < 8; i++)
			ct->all += v[i];
		ct->busy += v[0] + v[1] + v[2] + v[5] + v[6];
		ct->steal += v[7];
		ct->ok++;
	}
	fclose(f);
}

static uint64_t
children_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_CHILDREN, &ru);
	return tv_ns(&ru.ru_utime) + tv_ns(&ru.ru_stime);
}

/*
 * Add "LABEL WHAT N%" to LIST if a side that spins got less than 90% of its
 * CPU: the producer always spins, a busy consumer too.  CPU and PCPU are
 * the consumer's and the producer's shares.
 */
static void
noise_item(char *list, size_t len, const struct row *r, const char *label,
    const char *what, double cpu, double pcpu)
{
	char item[64];

	if (pcpu >= 0.9 && (r->sleeps || cpu >= 0.9))
		return;
	snprintf(item, sizeof item, "%s%s %s %.0f%%", list[0] != '\0' ?
	    ", " : "", label, what, 100 * (pcpu < cpu || r->sleeps ? pcpu :
	    cpu));
	strlcat(list, item, len);
}

/*
 * A side that spins must own its CPU: when it got less, other processes
 * or the hypervisor took the CPU, and the figures carry their noise.
 */
static void
check_noise(struct ctx *x, const struct cpu_times *t0, uint64_t kids0)
{
	struct cpu_times t1;
	struct row *r;
	char list[384] = "";
	double hz = (double)sysconf(_SC_CLK_TCK), other, steal, all;
	int i;

	for (i = 0; i < T_COUNT; i++) {
		r = &rows[i];
		if (r->lat.state == 1)
			noise_item(list, sizeof list, r, r->label, "latency",
			    r->lat.cpu, r->lat.pcpu);
		if (r->tp.state == 1 && (i == T_CACHELINE ||
		    i == T_SHMQ_BUSY || i == T_SHMQ_SLEEP))
			noise_item(list, sizeof list, r, r->tput_label,
			    "throughput", r->tp.cpu, r->tp.pcpu);
	}
	r = &rows[T_SHMQ_SLEEP];
	if (r->lat.state == 1 && r->lat.csw < 0.5)
		note(x, "the shmq sleep consumer slept for only %.0f%% of the "
		    "messages: it spins longer than --gap (%" PRIu64 " us), so "
		    "that row measures spinning; raise --gap",
		    100 * r->lat.csw, x->o.gap_us);
	if (list[0] != '\0')
		note(x, "a spinning side got only part of its CPU (%s): other "
		    "processes or the hypervisor took it, so these figures "
		    "are noisy", list);
	cpu_times(x, &t1);
	if (t0->ok != 2 || t1.ok != 2 || t1.all <= t0->all || hz <= 0)
		return;
	all = (double)(t1.all - t0->all);
	steal = (double)(t1.steal - t0->steal) / all;
	other = ((double)(t1.busy - t0->busy) - (double)(children_cpu_ns() -
	    kids0) / 1e9 * hz) / all;
	if (steal > 0.02)
		note(x, "the hypervisor stole %.0f%% of CPUs %d and %d during "
		    "the run", 100 * steal, x->o.cpu[0], x->o.cpu[1]);
	if (other > 0.05)
		note(x, "other processes used about %.0f%% of CPUs %d and %d "
		    "during the run", 100 * other, x->o.cpu[0], x->o.cpu[1]);
}

/* ---- report -------------------------------------------------------- */

static void
fmt_ns(char *buf, size_t len, double ns)
{
	if (ns < 1000 && ns > -1000)
		snprintf(buf, len, "%.0f ns", ns);
	else if (ns < 100000)
		snprintf(buf, len, "%.2f us", ns / 1e3);
	else if (ns < 1e7)
		snprintf(buf, len, "%.0f us", ns / 1e3);
	else
		snprintf(buf, len, "%.1f ms", ns / 1e6);
}

static void
fmt_rate(char *buf, size_t len, double v)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.2fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
}

struct ratio {
	const char	*what;
	const char	*key;
	double		 value;		/* x, or ns, or msg/s, MB/s */
	const char	*unit;		/* "x", "ns", "msg/s", "MB/s" */
	const char	*target;	/* "<= 2x", or NULL */
	int		 ok;		/* target met */
};

/* The ratios without a target: A over B, msg/s (TPUT) or p50. */
static const struct {
	const char	*what;
	const char	*key;
	enum transport	 a, b;
	int		 tput;
} plain[] = {
	{ "shmq busy msg/s / spsc ring msg/s", "busy_tput_vs_ring",
	  T_SHMQ_BUSY, T_CACHELINE, 1 },
	{ "shmq sleep msg/s / shmq busy msg/s", "sleep_tput_vs_busy",
	  T_SHMQ_SLEEP, T_SHMQ_BUSY, 1 },
	{ "shmq busy p50 / pipe p50", "busy_p50_vs_pipe",
	  T_SHMQ_BUSY, T_PIPE, 0 },
	{ "shmq sleep p50 / pipe p50", "sleep_p50_vs_pipe",
	  T_SHMQ_SLEEP, T_PIPE, 0 },
	{ "shmq sleep p50 / unix socket p50", "sleep_p50_vs_unix",
	  T_SHMQ_SLEEP, T_UNIX, 0 },
	{ "shmq busy msg/s / pipe msg/s", "busy_tput_vs_pipe",
	  T_SHMQ_BUSY, T_PIPE, 1 },
	{ "shmq busy msg/s / unix socket msg/s", "busy_tput_vs_unix",
	  T_SHMQ_BUSY, T_UNIX, 1 },
};

static int
ratios(struct ctx *x, struct ratio *out, int max)
{
	struct row *cl = &rows[T_CACHELINE], *fx = &rows[T_FUTEX];
	struct row *sb = &rows[T_SHMQ_BUSY], *ss = &rows[T_SHMQ_SLEEP];
	const struct row *a, *b;
	int i, n = 0, is64 = x->o.size == 64, is4k = x->o.size == 4096;

#define ADD(w, k, v, u, tg, okv) do {					\
	if (n < max) {							\
		out[n].what = (w); out[n].key = (k);			\
		out[n].value = (v); out[n].unit = (u);			\
		out[n].target = (tg); out[n].ok = (okv);		\
		n++;							\
	}								\
} while (0)
	if (sb->lat.state == 1 && cl->lat.state == 1 && cl->lat.p50 > 0) {
		double r = sb->lat.p50 / cl->lat.p50;

		ADD("shmq busy p50 / cache line p50", "busy_p50_vs_cacheline",
		    r, "x", is64 ? "<= 2x" : NULL, r <= 2.0);
	}
	if (sb->lat.state == 1)
		ADD("shmq busy p99.9", "busy_p999_ns", sb->lat.p999, "ns",
		    is64 ? "< 5 us" : NULL, sb->lat.p999 < 5000);
	if (ss->lat.state == 1 && fx->lat.state == 1 && fx->lat.p50 > 0) {
		double r = ss->lat.p50 / fx->lat.p50;

		ADD("shmq sleep p50 / futex wake p50", "sleep_p50_vs_futex",
		    r, "x", is64 ? "<= 1.2x" : NULL, r <= 1.2);
	}
	if (sb->tp.state == 1) {
		if (is4k)
			ADD("shmq busy throughput", "busy_tput_mb_s",
			    sb->tp.mb_s, "MB/s", ">= 5000 MB/s",
			    sb->tp.mb_s >= 5000);
		else
			ADD("shmq busy throughput", "busy_tput_msg_s",
			    sb->tp.msg_s, "msg/s", is64 ? ">= 10M msg/s" :
			    NULL, sb->tp.msg_s >= 10e6);
	}
	for (i = 0; i < (int)(sizeof plain / sizeof plain[0]); i++) {
		a = &rows[plain[i].a];
		b = &rows[plain[i].b];
		if (plain[i].tput && a->tp.state == 1 && b->tp.state == 1)
			ADD(plain[i].what, plain[i].key,
			    a->tp.msg_s / b->tp.msg_s, "x", NULL, 1);
		else if (!plain[i].tput && a->lat.state == 1 &&
		    b->lat.state == 1)
			ADD(plain[i].what, plain[i].key,
			    a->lat.p50 / b->lat.p50, "x", NULL, 1);
	}
#undef ADD
	return n;
}

/* What libshmq's own threads cost, when it is worth a line. */
static void
helper_line(const struct row *r, int state, const double *h)
{
	if (!r->selected || state != 1 || h[SIDE_CONS] + h[SIDE_PROD] < 0.01)
		return;
	printf("(%s: libshmq's helper threads used %.0f%% of a CPU in the "
	    "producer, %.0f%% in the consumer)\n", r->label,
	    100 * h[SIDE_PROD], 100 * h[SIDE_CONS]);
}

static void
print_warnings(const struct ctx *x)
{
	int i;

	for (i = 0; i < x->nwarnings; i++)
		printf("%swarning: %s\n", i == 0 ? "\n" : "", x->warnings[i]);
}

static void
print_text(struct ctx *x)
{
	char b[8][32], rate[16];
	struct ratio rt[16];
	int i, n, any;
	struct row *r;

	printf("%s %s (libshmq %s): %" PRIu64 "-byte messages, ", PROG,
	    SHMQ_VERSION_STRING, shmq_version(), x->o.size);
	if (x->pin)
		printf("producer on CPU %d, consumer on CPU %d\n",
		    x->o.cpu[0], x->o.cpu[1]);
	else
		printf("not pinned\n");
	if (clk == CLK_TSC)
		printf("clock: tsc (%.2f MHz)", 1e3 / ns_per_tick);
	else
		printf("clock: CLOCK_MONOTONIC");
	if (x->keeper_ok || x->home[0] != '\0')
		printf("; store: %s (%s%s%s)", x->home, x->store_kind,
		    strcmp(x->store_kind, "disk") == 0 ? ", async flush" :
		    ", no disk I/O", x->o.pretouch ? ", log pretouched" : "");
	printf("\n");
	if (x->o.do_lat) {
		printf("\n%-20s %9s %9s %9s %9s %9s %7s %5s\n",
		    "one-way latency", "p50", "p90", "p99", "p99.9", "max",
		    "csw/msg", "cpu%");
		for (i = 0; i < T_COUNT; i++) {
			r = &rows[i];
			if (!r->selected || !r->has_lat)
				continue;
			if (r->lat.state != 1) {
				printf("%-20s %9s\n", r->label, "failed");
				continue;
			}
			fmt_ns(b[0], sizeof b[0], r->lat.p50);
			fmt_ns(b[1], sizeof b[1], r->lat.p90);
			fmt_ns(b[2], sizeof b[2], r->lat.p99);
			fmt_ns(b[3], sizeof b[3], r->lat.p999);
			fmt_ns(b[4], sizeof b[4], r->lat.max);
			printf("%-20s %9s %9s %9s %9s %9s %7.2f %5.0f\n",
			    r->label, b[0], b[1], b[2], b[3], b[4], r->lat.csw,
			    r->lat.cpu * 100);
		}
		printf("(%" PRIu64 " samples busy, %" PRIu64 " sleeping, one "
		    "message in flight; sleeping rows paced every %" PRIu64
		    " us)\n", x->o.n_busy, x->o.n_sleep, x->o.gap_us);
		for (i = T_SHMQ_BUSY; i <= T_SHMQ_SLEEP; i++)
			helper_line(&rows[i], rows[i].lat.state,
			    rows[i].lat.helper);
	}
	if (x->o.do_tput) {
		printf("\n%-20s %9s %9s %10s %8s %7s %5s\n", "throughput",
		    "msg/s", "MB/s", "messages", "seconds", "csw/msg", "cpu%");
		for (i = 0; i < T_COUNT; i++) {
			r = &rows[i];
			if (!r->selected || !r->has_tput)
				continue;
			if (r->tp.state != 1) {
				printf("%-20s %9s\n", r->tput_label, "failed");
				continue;
			}
			fmt_rate(b[0], sizeof b[0], r->tp.msg_s);
			printf("%-20s %9s %9.0f %10" PRIu64 " %8.3f %7.3f "
			    "%5.0f\n", r->tput_label, b[0], r->tp.mb_s,
			    r->tp.msgs, r->tp.secs, r->tp.csw, r->tp.cpu * 100);
		}
		for (i = T_SHMQ_BUSY; i <= T_SHMQ_SLEEP; i++)
			helper_line(&rows[i], rows[i].tp.state,
			    rows[i].tp.helper);
	}
	n = ratios(x, rt, 16);
	any = 0;
	for (i = 0; i < n; i++) {
		if (!any)
			printf("\nshmq against the others, same run (targets "
			    "from DESIGN.md: reported, not enforced)\n");
		any = 1;
		if (strcmp(rt[i].unit, "x") == 0)
			snprintf(b[0], sizeof b[0], "%.2fx", rt[i].value);
		else if (strcmp(rt[i].unit, "ns") == 0)
			fmt_ns(b[0], sizeof b[0], rt[i].value);
		else if (strcmp(rt[i].unit, "msg/s") == 0) {
			fmt_rate(rate, sizeof rate, rt[i].value);
			snprintf(b[0], sizeof b[0], "%s msg/s", rate);
		} else
			snprintf(b[0], sizeof b[0], "%.0f MB/s", rt[i].value);
		printf("  %-36s %13s", rt[i].what, b[0]);
		if (rt[i].target != NULL)
			printf("   target %-12s %s", rt[i].target,
			    rt[i].ok ? "ok" : "MISSED");
		printf("\n");
	}
	print_warnings(x);
}

static void
json_str(const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		printf("null");
		return;
	}
	putchar('"');
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* ,"KEY":"VAL" (or null). */
static void
json_kv(const char *key, const char *val)
{
	printf(",\"%s\":", key);
	json_str(val);
}

/* The document's opening, the same in both modes. */
static void
json_head(void)
{
	printf("{\"tool\":\"%s\",\"version\":\"%s\",\"libshmq\":", PROG,
	    SHMQ_VERSION_STRING);
	json_str(shmq_version());
}

/* The warnings and the verdict, and the document's end. */
static void
json_tail(const struct ctx *x)
{
	int i;

	printf(",\"warnings\":[");
	for (i = 0; i < x->nwarnings; i++) {
		if (i > 0)
			putchar(',');
		json_str(x->warnings[i]);
	}
	printf("],\"ok\":%s}\n", x->failures == 0 ? "true" : "false");
}

/*
 * A measurement's value: null if it was not asked for, an error object if
 * it failed.  Returns 1 if the caller prints the object.
 */
static int
json_result(int asked, int state)
{
	if (!asked)
		printf("null");
	else if (state != 1)
		printf("{\"error\":true}");
	return asked && state == 1;
}

static void
print_json(struct ctx *x)
{
	struct ratio rt[16];
	struct row *r;
	int i, n, first;

	json_head();
	printf(",\"config\":{\"size\":%" PRIu64 ",\"pinned\":%s,"
	    "\"producer_cpu\":%d,\"consumer_cpu\":%d,\"clock\":\"%s\","
	    "\"tsc_mhz\":%.3f,\"busy_samples\":%" PRIu64 ",\"sleep_samples\":%"
	    PRIu64 ",\"gap_us\":%" PRIu64 ",\"tput_max_messages\":%" PRIu64
	    ",\"tput_max_seconds\":%.3f,\"quick\":%s",
	    x->o.size, x->pin ? "true" : "false", x->pin ? x->o.cpu[0] : -1,
	    x->pin ? x->o.cpu[1] : -1, clk == CLK_TSC ? "tsc" : "monotonic",
	    clk == CLK_TSC ? 1e3 / ns_per_tick : 0.0, x->o.n_busy,
	    x->o.n_sleep, x->o.gap_us, x->o.n_tput, x->o.tput_secs,
	    x->o.quick ? "true" : "false");
	json_kv("bus", x->o.bus);
	json_kv("topic", x->o.topic);
	json_kv("store", x->home[0] != '\0' ? x->home : NULL);
	json_kv("store_kind", x->home[0] != '\0' ? x->store_kind : NULL);
	printf(",\"pretouch\":%s", x->o.pretouch ? "true" : "false");
	printf("},\"results\":[");
	first = 1;
	for (i = 0; i < T_COUNT; i++) {
		r = &rows[i];
		if (!r->selected)
			continue;
		printf("%s{\"transport\":\"%s\",\"floor\":%s,"
		    "\"consumer_sleeps\":%s,\"latency\":", first ? "" : ",",
		    r->key, r->floor ? "true" : "false",
		    r->sleeps ? "true" : "false");
		first = 0;
		if (json_result(r->has_lat && x->o.do_lat, r->lat.state))
			printf("{\"samples\":%" PRIu64 ",\"min_ns\":%.1f,"
			    "\"p50_ns\":%.1f,\"p90_ns\":%.1f,\"p99_ns\":%.1f,"
			    "\"p999_ns\":%.1f,\"max_ns\":%.1f,\"mean_ns\":%.1f,"
			    "\"consumer_csw_per_msg\":%.4f,"
			    "\"consumer_cpu\":%.4f,\"producer_cpu\":%.4f,"
			    "\"consumer_helper_cpu\":%.4f,"
			    "\"producer_helper_cpu\":%.4f}",
			    r->lat.n, r->lat.min, r->lat.p50, r->lat.p90,
			    r->lat.p99, r->lat.p999, r->lat.max, r->lat.mean,
			    r->lat.csw, r->lat.cpu, r->lat.pcpu,
			    r->lat.helper[SIDE_CONS], r->lat.helper[SIDE_PROD]);
		if (i == T_CACHELINE && r->lat.state == 1)
			printf(",\"reverse\":{\"min_ns\":%.1f,\"p50_ns\":%.1f}",
			    r->lat.rev_min, r->lat.rev_p50);
		printf(",\"throughput\":");
		if (json_result(r->has_tput && x->o.do_tput, r->tp.state))
			printf("{\"method\":\"%s\",\"messages\":%" PRIu64
			    ",\"seconds\":%.6f,\"msg_per_s\":%.1f,"
			    "\"mb_per_s\":%.2f,\"consumer_csw_per_msg\":%.6f,"
			    "\"consumer_cpu\":%.4f,\"producer_cpu\":%.4f,"
			    "\"consumer_helper_cpu\":%.4f,"
			    "\"producer_helper_cpu\":%.4f}",
			    i == T_CACHELINE ? "spsc_ring" : r->key,
			    r->tp.msgs, r->tp.secs, r->tp.msg_s, r->tp.mb_s,
			    r->tp.csw, r->tp.cpu, r->tp.pcpu,
			    r->tp.helper[SIDE_CONS], r->tp.helper[SIDE_PROD]);
		printf("}");
	}
	printf("],\"ratios\":[");
	n = ratios(x, rt, 16);
	for (i = 0; i < n; i++) {
		printf("%s{\"name\":\"%s\",\"value\":%.4f,\"unit\":\"%s\","
		    "\"target\":", i == 0 ? "" : ",", rt[i].key, rt[i].value,
		    rt[i].unit);
		json_str(rt[i].target);
		if (rt[i].target != NULL)
			printf(",\"met\":%s", rt[i].ok ? "true" : "false");
		printf("}");
	}
	printf("]");
	json_tail(x);
}

/* ---- options ------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: %s [options]\n"
"One-way latency and throughput of shmq between two processes, beside a\n"
"shared cache line, a futex wake, a pipe and a Unix socket, in one run.\n"
"\n"
"  -s, --size BYTES      message size, 16 to 1M (k, m suffixes; default 64)\n"
"      --mode MODE       latency, throughput or all (default)\n"
"      --consumer KIND   busy, sleep or both (default)\n"
"      --floors          measure the floors, pipe and socket (default)\n"
"      --no-floors       measure shmq only\n"
"      --cpus A,B        producer and consumer CPUs (default: the first\n"
"                        two of the affinity mask)\n"
"  -n, --count N         latency samples, busy consumers (default 200000)\n"
"      --sleep-count N   latency samples, sleeping consumers (default 10000)\n"
"      --gap USEC        pause before each message to a sleeping consumer\n"
"                        (default 200)\n"
"      --tput-count N    throughput: at most N messages (default 5000000,\n"
"                        fewer for big messages: 1 GiB in all)\n"
"      --tput-time SECS  throughput: at most SECS seconds per row (2)\n"
"      --quick           a short run (about 3 s): fewer samples\n"
"      --clock CLOCK     tsc or monotonic (default: tsc where the kernel\n"
"                        uses it)\n"
"  -b, --bus BUS         bus name (default \"%s\")\n"
"  -t, --topic TOPIC     topic (default \"%s\", 1 queue)\n"
"      --home DIR        store root (default: a new directory under\n"
"                        /var/tmp, removed afterwards)\n"
"      --keep            keep the temporary store\n"
"      --pretouch        allocate the commitlog pages each run will fill\n"
"                        before timing it (shmq_bus_prefault), to\n"
"                        see the bus apart from the kernel's page allocation\n"
"      --json            print one JSON document\n"
"\n"
"Group mode (instead of the rows above): one producer, N member processes\n"
"of one clustering group, a topic of %d queues (default \"%s\"):\n"
"      --group N,...     group throughput with N members, for each N (1 to\n"
"                        %d); then the takeover and ack path runs\n"
"      --takeover-runs N kill -9 runs (default 3; 0: none)\n"
"      --group-rate R    producer's steady rate in those runs, msg/s\n"
"                        (default 20000)\n"
"      --ack-count N     messages of each ack path run (default 1000000;\n"
"                        0: none)\n"
"\n"
"Replication mode (instead of the rows above): starts a home and a mirror\n"
"shmqd on loopback (shmqd found beside %s, in the build tree, in\n"
"$SHMQD or on $PATH) and measures end-to-end latency home producer to\n"
"mirror consumer, sync replication sends, throughput and catch-up:\n"
"      --repl            replication mode; -s, -n (samples, default 10000;\n"
"                        2000 with --quick), --gap, --cpus, --tput-count,\n"
"                        --tput-time, --quick, -b (BUS-home and\n"
"                        BUS-mirror), -t, --home (the stores' parent),\n"
"                        --keep and --json apply\n"
"      --repl-backlog N  catch-up: messages sent while the mirror's shmqd\n"
"                        is stopped (default 1000000; 200000 with --quick)\n"
"      --repl-conf FILE  a shmqd config file both shmqd read (-c) under the\n"
"                        benchmark's options: tls = on and its files, say\n"
"  -h, --help            print this help and exit\n"
"  -V, --version         print the version and exit\n",
	    PROG, BUS_DEFAULT, TOPIC_DEFAULT, GROUP_QUEUES, GROUP_TOPIC,
	    GROUP_MAX, PROG);
}

static int
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", PROG);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", PROG);
	va_end(ap);
	return EXIT_USAGE;
}

static int
parse_count(const char *opt, const char *arg, uint64_t min, uint64_t max,
    uint64_t *out)
{
	uint64_t v;

	if (expand_number(arg, &v) == -1)
		return usage_error("%s \"%s\": invalid number", opt, arg);
	if (v < min || v > max)
		return usage_error("%s \"%s\": out of range (%" PRIu64 " to %"
		    PRIu64 ")", opt, arg, min, max);
	*out = v;
	return 0;
}

static int
parse_cpus(struct opts *o, const char *arg)
{
	const char *errstr;
	char a[32], *comma;

	if (strlcpy(a, arg, sizeof a) >= sizeof a ||
	    (comma = strchr(a, ',')) == NULL)
		return usage_error("--cpus \"%s\": expected two CPU numbers, "
		    "e.g. 0,1", arg);
	*comma = '\0';
	o->cpu[0] = (int)strtonum(a, 0, CPU_SETSIZE - 1, &errstr);
	if (errstr == NULL)
		o->cpu[1] = (int)strtonum(comma + 1, 0, CPU_SETSIZE - 1,
		    &errstr);
	if (errstr != NULL)
		return usage_error("--cpus \"%s\": CPU number %s", arg,
		    errstr);
	if (o->cpu[0] == o->cpu[1])
		return usage_error("--cpus \"%s\": two different CPUs, please",
		    arg);
	o->cpus_given = 1;
	return 0;
}

enum {
	OPT_MODE = 0x100,
	OPT_CONSUMER,
	OPT_FLOORS,
	OPT_NO_FLOORS,
	OPT_CPUS,
	OPT_SLEEP_COUNT,
	OPT_GAP,
	OPT_TPUT_COUNT,
	OPT_TPUT_TIME,
	OPT_QUICK,
	OPT_CLOCK,
	OPT_HOME,
	OPT_KEEP,
	OPT_PRETOUCH,
	OPT_JSON,
	OPT_GROUP,
	OPT_TAKEOVER_RUNS,
	OPT_GROUP_RATE,
	OPT_ACK_COUNT,
	OPT_REPL,
	OPT_REPL_BACKLOG,
	OPT_REPL_CONF
};

static const struct option longopts[] = {
	{ "size",	required_argument,	NULL,	's' },
	{ "mode",	required_argument,	NULL,	OPT_MODE },
	{ "consumer",	required_argument,	NULL,	OPT_CONSUMER },
	{ "floors",	no_argument,		NULL,	OPT_FLOORS },
	{ "no-floors",	no_argument,		NULL,	OPT_NO_FLOORS },
	{ "cpus",	required_argument,	NULL,	OPT_CPUS },
	{ "count",	required_argument,	NULL,	'n' },
	{ "sleep-count", required_argument,	NULL,	OPT_SLEEP_COUNT },
	{ "gap",	required_argument,	NULL,	OPT_GAP },
	{ "tput-count",	required_argument,	NULL,	OPT_TPUT_COUNT },
	{ "tput-time",	required_argument,	NULL,	OPT_TPUT_TIME },
	{ "quick",	no_argument,		NULL,	OPT_QUICK },
	{ "clock",	required_argument,	NULL,	OPT_CLOCK },
	{ "bus",	required_argument,	NULL,	'b' },
	{ "topic",	required_argument,	NULL,	't' },
	{ "home",	required_argument,	NULL,	OPT_HOME },
	{ "keep",	no_argument,		NULL,	OPT_KEEP },
	{ "pretouch",	no_argument,		NULL,	OPT_PRETOUCH },
	{ "json",	no_argument,		NULL,	OPT_JSON },
	{ "group",	required_argument,	NULL,	OPT_GROUP },
	{ "takeover-runs", required_argument,	NULL,	OPT_TAKEOVER_RUNS },
	{ "group-rate",	required_argument,	NULL,	OPT_GROUP_RATE },
	{ "ack-count",	required_argument,	NULL,	OPT_ACK_COUNT },
	{ "repl",	no_argument,		NULL,	OPT_REPL },
	{ "repl-backlog", required_argument,	NULL,	OPT_REPL_BACKLOG },
	{ "repl-conf",	required_argument,	NULL,	OPT_REPL_CONF },
	{ "help",	no_argument,		NULL,	'h' },
	{ "version",	no_argument,		NULL,	'V' },
	{ NULL,		0,			NULL,	0 }
};

/* The options that take a count, and its range. */
static const struct {
	int		 ch;
	const char	*name;
	uint64_t	 min, max;
	int		 group_only;	/* 1: goes with --group, 2: --repl */
} counts[] = {
	{ 's',			"--size",	   MIN_SIZE, MAX_SIZE,	 0 },
	{ 'n',			"--count",	   100,	 100000000,	 0 },
	{ OPT_SLEEP_COUNT,	"--sleep-count",   100,	 10000000,	 0 },
	{ OPT_TPUT_COUNT,	"--tput-count",	   1000, 1000000000,	 0 },
	{ OPT_GAP,		"--gap",	   0,	 1000000,	 0 },
	{ OPT_TAKEOVER_RUNS,	"--takeover-runs", 0,	 32,		 1 },
	{ OPT_GROUP_RATE,	"--group-rate",	   1000, 1000000,	 1 },
	{ OPT_ACK_COUNT,	"--ack-count",	   0,	 100000000,	 1 },
	{ OPT_REPL_BACKLOG,	"--repl-backlog",  1000, 100000000,	 2 },
};

/* --group 1,2,4: member counts of the throughput runs. */
static int
parse_group(struct opts *o, const char *arg)
{
	const char *errstr;
	char a[128], *tok, *save = NULL;

	if (strlcpy(a, arg, sizeof a) >= sizeof a)
		return usage_error("--group \"%s\": too long", arg);
	o->ngroup = 0;
	for (tok = strtok_r(a, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (o->ngroup == (int)(sizeof o->group_n /
		    sizeof o->group_n[0]))
			return usage_error("--group \"%s\": %zu counts at "
			    "most", arg, sizeof o->group_n /
			    sizeof o->group_n[0]);
		o->group_n[o->ngroup++] = (int)strtonum(tok, 1, GROUP_MAX,
		    &errstr);
		if (errstr != NULL)
			return usage_error("--group \"%s\": member count "
			    "\"%s\" %s (1 to %d)", arg, tok, errstr,
			    GROUP_MAX);
	}
	if (o->ngroup == 0)
		return usage_error("--group \"%s\": expected member counts, "
		    "e.g. 1,2,4", arg);
	o->group = 1;
	return 0;
}

static int
parse_args(struct opts *o, int argc, char **argv)
{
	uint64_t v = 0, n_busy = 0, n_sleep = 0, n_tput = 0, ack = UINT64_MAX;
	uint64_t backlog = 0;
	int group_only = 0, nc = (int)(sizeof counts / sizeof counts[0]);
	double secs = 0;
	char *end;
	int ch, rc, i;

	memset(o, 0, sizeof *o);
	o->bus = BUS_DEFAULT;
	o->topic = TOPIC_DEFAULT;
	o->floors = 1;
	o->do_lat = o->do_tput = 1;
	o->busy = o->sleep = 1;
	o->size = 64;
	o->gap_us = 200;
	o->clock = -1;
	o->takeover_runs = UINT64_MAX;	/* not given */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":s:n:b:t:hV", longopts,
	    NULL)) != -1) {
		for (i = 0; i < nc && counts[i].ch != ch; i++)
			;
		if (i < nc) {
			if ((rc = parse_count(counts[i].name, optarg,
			    counts[i].min, counts[i].max, &v)) != 0)
				return rc;
			group_only |= counts[i].group_only;
		}
		switch (ch) {
		case 's':
			o->size = v;
			break;
		case 'n':
			n_busy = v;
			break;
		case OPT_SLEEP_COUNT:
			n_sleep = v;
			break;
		case OPT_TPUT_COUNT:
			n_tput = v;
			break;
		case OPT_GAP:
			o->gap_us = v;
			break;
		case OPT_TPUT_TIME:
			errno = 0;
			secs = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(secs >= 0.01 && secs <= 3600))
				return usage_error("--tput-time \"%s\": "
				    "expected seconds, 0.01 to 3600", optarg);
			break;
		case OPT_MODE:
			if (strcmp(optarg, "latency") == 0)
				o->do_tput = 0;
			else if (strcmp(optarg, "throughput") == 0)
				o->do_lat = 0;
			else if (strcmp(optarg, "all") != 0)
				return usage_error("--mode \"%s\": expected "
				    "latency, throughput or all", optarg);
			break;
		case OPT_CONSUMER:
			if (strcmp(optarg, "busy") == 0)
				o->sleep = 0;
			else if (strcmp(optarg, "sleep") == 0)
				o->busy = 0;
			else if (strcmp(optarg, "both") != 0)
				return usage_error("--consumer \"%s\": "
				    "expected busy, sleep or both", optarg);
			break;
		case OPT_FLOORS:
			o->floors = 1;
			break;
		case OPT_NO_FLOORS:
			o->floors = 0;
			break;
		case OPT_CPUS:
			if ((rc = parse_cpus(o, optarg)) != 0)
				return rc;
			break;
		case OPT_QUICK:
			o->quick = 1;
			break;
		case OPT_CLOCK:
			if (strcmp(optarg, "tsc") == 0)
				o->clock = CLK_TSC;
			else if (strcmp(optarg, "monotonic") == 0)
				o->clock = CLK_MONO;
			else
				return usage_error("--clock \"%s\": expected "
				    "tsc or monotonic", optarg);
			break;
		case 'b':
			if (shmq_name_check(optarg) != 0)
				return usage_error("bus \"%s\": %s", optarg,
				    shmq_strerror(SHMQ_ENAME));
			o->bus = optarg;
			break;
		case 't':
			if (shmq_name_check(optarg) != 0)
				return usage_error("topic \"%s\": %s", optarg,
				    shmq_strerror(SHMQ_ENAME));
			o->topic = optarg;
			o->topic_given = 1;
			break;
		case OPT_GROUP:
			if ((rc = parse_group(o, optarg)) != 0)
				return rc;
			break;
		case OPT_TAKEOVER_RUNS:
			o->takeover_runs = v;
			break;
		case OPT_GROUP_RATE:
			o->group_rate = v;
			break;
		case OPT_ACK_COUNT:
			if (v > 0 && v < 1000)
				return usage_error("--ack-count \"%s\": 0 or "
				    "at least 1000", optarg);
			ack = v;
			break;
		case OPT_REPL:
			o->repl = 1;
			break;
		case OPT_REPL_BACKLOG:
			backlog = v;
			break;
		case OPT_REPL_CONF:
			o->repl_conf = optarg;
			break;
		case OPT_HOME:
			o->home = optarg;
			break;
		case OPT_KEEP:
			o->keep = 1;
			break;
		case OPT_PRETOUCH:
			o->pretouch = 1;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		case 'V':
			printf("%s %s\n", PROG, SHMQ_VERSION_STRING);
			exit(EXIT_OK);
		case ':':
			return usage_error("option %s: needs an argument",
			    argv[optind - 1]);
		default:
			if (optopt != 0 && strncmp(argv[optind - 1], "--",
			    2) != 0)
				return usage_error("unknown option -%c",
				    optopt);
			return usage_error("unknown option %s",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument \"%s\"", argv[optind]);
	if ((group_only & 1) && !o->group)
		return usage_error("--takeover-runs, --group-rate and "
		    "--ack-count go with --group");
	if ((group_only & 2) && !o->repl)
		return usage_error("--repl-backlog goes with --repl");
	if (o->repl_conf != NULL && !o->repl)
		return usage_error("--repl-conf goes with --repl");
	if (o->repl && o->group)
		return usage_error("--repl and --group: one mode at a time");
	if (o->repl && n_busy > 1000000)
		return usage_error("--count with --repl: at most 1000000");
	o->repl_samples = n_busy ? n_busy : o->quick ? 2000 : 10000;
	o->repl_backlog = backlog ? backlog : o->quick ? 200000 : 1000000;
	if (o->group) {
		if (!o->topic_given)
			o->topic = GROUP_TOPIC;
		if (o->group_rate == 0)
			o->group_rate = 20000;
		if (o->takeover_runs == UINT64_MAX)
			o->takeover_runs = 3;
		o->ack_count = ack != UINT64_MAX ? ack : o->quick ? 200000 :
		    1000000;
	} else
		o->takeover_runs = 0;
	o->n_busy = n_busy ? n_busy : o->quick ? 20000 : 200000;
	o->n_sleep = n_sleep ? n_sleep : o->quick ? 1000 : 10000;
	if (n_tput == 0) {
		n_tput = TPUT_BYTES / o->size;
		if (o->quick)
			n_tput /= 10;
		if (n_tput > (o->quick ? TPUT_MAX_MSGS / 5 : TPUT_MAX_MSGS))
			n_tput = o->quick ? TPUT_MAX_MSGS / 5 : TPUT_MAX_MSGS;
		if (n_tput < 1000)
			n_tput = 1000;
	}
	o->n_tput = n_tput;
	o->tput_secs = secs > 0 ? secs : o->quick ? 0.25 : 2.0;
	return 0;
}

/* Choose and check the two CPUs. */
static void
cpus_setup(struct ctx *x)
{
	cpu_set_t set;
	int i, n = 0, first[2] = { -1, -1 };

	if (sched_getaffinity(0, sizeof set, &set) == -1) {
		note(x, "sched_getaffinity: %s: not pinning", strerror(errno));
		return;
	}
	for (i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set)) {
			if (n < 2)
				first[n] = i;
			n++;
		}
	if (x->o.cpus_given) {
		for (i = 0; i < 2; i++)
			if (!CPU_ISSET(x->o.cpu[i], &set)) {
				note(x, "CPU %d is not in this process's "
				    "affinity mask: not pinning", x->o.cpu[i]);
				g_yield = n < 2;
				return;
			}
		x->pin = 1;
		return;
	}
	if (n < 2) {
		note(x, "only one CPU available: producer and consumer share "
		    "it, not pinned; busy-polling figures measure the "
		    "scheduler");
		g_yield = 1;
		return;
	}
	x->o.cpu[0] = first[0];
	x->o.cpu[1] = first[1];
	x->pin = 1;
}

/* ------------------------------------------------------------------ */
/* Group mode                                                          */
/* ------------------------------------------------------------------ */

/*
 * --group: consumer groups instead of the transport rows.  One producer
 * process and N consumer processes in one clustering group on a topic of
 * GROUP_QUEUES queues; every measurement has a group of its own (a fresh
 * name, start position LAST), so that none inherits offsets.
 *
 *  - Throughput, for each N of the list: after the members have settled
 *    (every queue held, by N distinct members) and a warm-up that is not
 *    counted, the producer sends as fast as it can, round-robin over the
 *    queues; throughput is the messages sent divided by the time from the
 *    first timed send to the last receive of any member.  The members wait
 *    in shmq_consumer_poll (100 ms), auto-commit, and copy every message
 *    out.
 *  - Takeover: two members, a producer at a steady rate (--group-rate);
 *    after TAKEOVER_STEADY_MS the producer reads which queues member 0
 *    holds, arms the survivor, and kill -9s member 0.  For each of those
 *    queues the survivor stamps its first receive; the figure of a run is
 *    the largest stamp minus the time of the kill.  Both stamps are
 *    CLOCK_MONOTONIC.
 *  - Ack path: --ack-count messages are stored, then one member process
 *    reads them all with a group of each kind in turn (g_ack_member),
 *    without waiting, in batches of POLL_BATCH: no commit at all
 *    (auto-commit off), auto-commit (each poll commits what the previous
 *    one returned), and auto-commit off with shmq_consumer_commit() after
 *    every message.  The figure is the member's thread CPU time per
 *    message; the differences are the cost of committing.
 */
#define TAKEOVER_STEADY_MS 300
#define TAKEOVER_MAX_MS	5000

enum gkind {
	G_TPUT,
	G_TAKEOVER,
	G_ACK
};

enum gack {
	ACK_NONE,
	ACK_AUTO,
	ACK_EXPLICIT,
	ACK_COUNT
};

static const struct {
	const char	*label;
	const char	*key;
} gack_names[ACK_COUNT] = {
	[ACK_NONE] =	 { "no commit", "none" },
	[ACK_AUTO] =	 { "auto-commit per poll", "auto" },
	[ACK_EXPLICIT] = { "commit per message", "explicit" },
};

/* One member's line: it writes, the producer and the parent read. */
struct gmember {
	_Alignas(LINE_BYTES) uint64_t received;
	uint64_t	t_last;		/* ticks of the last receive */
	uint64_t	cpu_ns;		/* thread CPU time from the first
					   receive of the timed section */
	int32_t		pid;
	uint32_t	ready;		/* joined and subscribed */
	uint64_t	first_ns[GROUP_QUEUES]; /* takeover: first receive
					   from each queue once armed */
};

struct gshared {
	_Alignas(LINE_BYTES) uint32_t stop;	/* producer: members stop */
	uint32_t	armed;		/* takeover: stamp first receives */
	uint32_t	go;		/* ack: messages stored, drain */
	int32_t		victim;		/* takeover: pid killed */
	uint32_t	victim_queues;	/* its queues, a bit each */
	uint32_t	timed;		/* throughput: timed section began */
	uint64_t	t_kill;		/* CLOCK_MONOTONIC ns */
	uint64_t	t_first;	/* ticks: first timed send */
	uint64_t	t_end;		/* ticks: last timed send */
	uint64_t	warm;		/* messages sent before t_first */
	uint64_t	sent;		/* timed messages sent */
	uint64_t	target;		/* ack: messages to drain */
	uint64_t	start_ms;	/* ack: CLOCK_REALTIME ms before the
					   first of them was stored */
	uint64_t	ack_cpu_ns[ACK_COUNT];	/* ack: per pass */
	uint64_t	ack_wall_ns[ACK_COUNT];
	uint64_t	ack_msgs[ACK_COUNT];
	struct gmember	m[GROUP_MAX];
};

struct gtput {
	int		 state;		/* 0 not run, 1 measured, -1 failed */
	int		 consumers;
	int		 cpus;		/* CPUs the consumers share, 0: not
					   pinned */
	uint64_t	 msgs;
	uint64_t	 dups;
	double		 secs;
	double		 msg_s;
	double		 prod_msg_s;	/* the producer's own rate */
	double		 cons_cpu;	/* members' CPU time / wall time, sum */
};

struct gtake {
	int		 state;
	unsigned	 queues;	/* the victim's */
	double		 max_ms;
	double		 min_ms;
};

struct gackres {
	int		 state;
	uint64_t	 msgs;
	double		 cpu_ns;	/* per message */
	double		 wall_ns;
};

static struct {
	struct gshared	*gs;
	enum gkind	 kind;
	int		 n;		/* members of the current run */
	char		 name[64];	/* its group */
	int		 cpus[CPU_SETSIZE < 1024 ? CPU_SETSIZE : 1024];
	int		 ncpus;		/* consumers' CPUs */
	struct gtput	 tp[8];
	struct gtake	 to[32];
	struct gackres	 ack_res[ACK_COUNT];
	double		 rate_got;	/* takeover: producer's real rate */
} G;

static volatile uint64_t g_sink;	/* keeps the ack run's reads */

static uint64_t
g_received(int n)
{
	uint64_t s = 0;
	int i;

	for (i = 0; i < n; i++)
		s += ck_pr_load_64(&G.gs->m[i].received);
	return s;
}

static void
g_nap_us(long us)
{
	struct timespec ts = { 0, us * 1000L };

	nanosleep(&ts, NULL);
}

/* Whether the group has settled, from shmq_group_foreach. */
struct gsettle {
	struct ctx	*x;
	int		 ok;
	int		 victim;	/* pid whose queues to collect */
	uint32_t	 mask;
};

static int
g_settle_cb(void *arg, const struct shmq_group_info *gi)
{
	struct gsettle *st = arg;
	struct ctx *x = st->x;
	int owners[GROUP_QUEUES], nown = 0, held = 0, j, k, want;
	size_t i;

	st->ok = 0;
	st->mask = 0;
	if ((int)gi->nmembers != G.n)
		return 0;
	for (i = 0; i < gi->nqueues; i++) {
		const struct shmq_group_queue_info *q = &gi->queues[i];

		if (strcmp(q->topic, x->o.topic) != 0 || q->queue < 0 ||
		    q->queue >= GROUP_QUEUES || q->owner_pid == 0)
			continue;
		held++;
		if (q->owner_pid == st->victim)
			st->mask |= 1U << q->queue;
		for (j = 0; j < nown && owners[j] != q->owner_pid; j++)
			;
		if (j == nown)
			owners[nown++] = q->owner_pid;
	}
	/* Every owner must be one of this run's members. */
	for (j = 0; j < nown; j++) {
		for (k = 0; k < G.n && G.gs->m[k].pid != owners[j]; k++)
			;
		if (k == G.n)
			return 0;
	}
	want = G.n < GROUP_QUEUES ? G.n : GROUP_QUEUES;
	st->ok = held == GROUP_QUEUES && nown == want;
	return 0;
}

/* Wait until every queue is held by as many members as can hold one. */
static int
g_settle(struct ctx *x, struct shmq_bus *bus, int victim, uint32_t *mask)
{
	struct gsettle st = { x, 0, victim, 0 };
	uint64_t end = bench_mono_ns() + 10000000000ULL;
	int rc;

	for (;;) {
		if ((rc = shmq_group_foreach(bus, G.name, g_settle_cb,
		    &st)) < 0)
			return child_fail(x, "producer: group \"%s\": %s",
			    G.name, shmq_why(rc));
		if (st.ok)
			break;
		if (aborted())
			return EXIT_FAIL;
		if (bench_mono_ns() > end)
			return child_fail(x, "producer: group \"%s\": %d "
			    "members did not share the %d queues within 10 s",
			    G.name, G.n, GROUP_QUEUES);
		g_nap_us(1000);
	}
	if (mask != NULL)
		*mask = st.mask;
	return 0;
}

/* Wait until the members have received WANT messages in all. */
static int
g_wait_received(struct ctx *x, uint64_t want, unsigned secs)
{
	uint64_t end = bench_mono_ns() + (uint64_t)secs * 1000000000ULL;

	while (g_received(G.n) < want) {
		if (aborted())
			return EXIT_FAIL;
		if (bench_mono_ns() > end)
			return child_fail(x, "producer: %" PRIu64 " of %" PRIu64
			    " messages received after %u s", g_received(G.n),
			    want, secs);
		g_nap_us(200);
	}
	return 0;
}

/* WHO joins group NAME and subscribes to the topic.  0 or an exit code. */
static int
g_join(struct ctx *x, struct shmq_bus *bus, const char *who,
    const char *name, const struct shmq_group_opts *go,
    struct shmq_consumer **c)
{
	int rc;

	if ((rc = shmq_consumer_open_group(c, bus, name, go)) < 0)
		return child_fail(x, "%s: group \"%s\": %s", who, name,
		    shmq_why(rc));
	if ((rc = shmq_consumer_subscribe(*c, x->o.topic, NULL)) < 0)
		return child_fail(x, "%s: subscribe: %s", who, shmq_why(rc));
	return 0;
}

/*
 * The ack path's member: once the producer has stored the messages, it
 * reads them all with one group of each kind in turn, the same messages
 * each time (the groups start at the producer's time, SHMQ_SEEK_TIME): a
 * first group, not counted, maps the pages of the log and the index into
 * this process, so that no measured pass pays page faults the others do
 * not.  Each pass is timed from its group's first poll (the join) to its
 * last message.
 */
static int
g_ack_member(struct ctx *x, struct shmq_bus *bus, char *buf)
{
	struct gshared *gs = G.gs;
	struct gmember *me = &gs->m[0];
	struct shmq_group_opts go;
	struct shmq_consumer *c;
	struct shmq_msgview v[POLL_BATCH];
	struct usage u;
	struct hdr h;
	char name[80];
	uint64_t got, seqs = 0, idle;
	int pass, a, n, i, rc;

	ck_pr_store_32((uint32_t *)&me->pid, (uint32_t)getpid());
	ck_pr_fence_store();
	ck_pr_store_32(&me->ready, 1);
	if ((rc = child_pin(x)) != 0)
		return rc;
	while (ck_pr_load_32(&gs->go) == 0) {
		if (aborted())
			return EXIT_FAIL;
		g_nap_us(100);
	}
	/* Acquire: pairs with the producer's release of go. */
	ck_pr_fence_load();
	for (pass = -1; pass < ACK_COUNT; pass++) {
		a = pass < 0 ? ACK_NONE : pass;
		snprintf(name, sizeof name, "%s.%s", G.name, pass < 0 ?
		    "warm" : gack_names[a].key);
		shmq_group_opts_init(&go);
		go.auto_commit = a == ACK_AUTO;
		go.start = SHMQ_SEEK_TIME;
		go.start_time_ms = gs->start_ms;
		if ((rc = g_join(x, bus, "member", name, &go, &c)) != 0)
			return rc;
		memset(&u, 0, sizeof u);
		usage_start(&u);
		idle = 0;
		for (got = 0; got < gs->target; got += (uint64_t)n) {
			n = shmq_consumer_poll(c, v, POLL_BATCH, 0);
			if (n < 0)
				return child_fail(x, "member: poll: %s",
				    shmq_why(n));
			if (n == 0) {
				/* Everything was stored before go: only the
				   join can take a few polls. */
				if (idle == 0)
					idle = bench_mono_ns() + 2000000000ULL;
				else if (bench_mono_ns() > idle)
					return child_fail(x, "member: group "
					    "\"%s\": %" PRIu64 " of %" PRIu64
					    " messages", name, got,
					    gs->target);
				continue;
			}
			for (i = 0; i < n; i++) {
				/* The header only: the figure is the
				   commit's cost, not a copy's. */
				h = hdr_get(v[i].body);
				seqs += h.seq;
				if (a == ACK_EXPLICIT && (rc =
				    shmq_consumer_commit(c, x->o.topic,
				    v[i].queue, v[i].queue_off + 1)) < 0)
					return child_fail(x, "member: "
					    "commit: %s", shmq_why(rc));
			}
		}
		usage_end(&u, SIDE_CONS);
		if (pass >= 0) {
			gs->ack_cpu_ns[a] = g_sh->c.cpu_ns[SIDE_CONS];
			gs->ack_wall_ns[a] = (uint64_t)ticks_ns((double)
			    g_sh->c.wall_ticks[SIDE_CONS]);
			gs->ack_msgs[a] = got;
		}
		shmq_consumer_close(c);
	}
	g_sink = seqs;
	shmq_bus_close(bus);
	free(buf);
	return EXIT_OK;
}

static int
g_consumer(struct ctx *x, int k)
{
	struct gshared *gs = G.gs;
	struct gmember *me = &gs->m[k];
	struct shmq_group_opts go;
	struct shmq_bus *bus = NULL;
	struct shmq_consumer *c = NULL;
	struct shmq_msgview v[POLL_BATCH];
	uint64_t got = 0, t0;
	unsigned q;
	char *buf, who[32];
	int n, i, rc;

	if ((buf = body_alloc(x)) == NULL)
		return child_fail(x, "%s", strerror(errno));
	snprintf(who, sizeof who, "member %d", k);
	if ((rc = child_bus_open(x, &bus, who)) != 0)
		return rc;
	if (G.kind == G_ACK)
		return g_ack_member(x, bus, buf);
	shmq_group_opts_init(&go);
	if ((rc = g_join(x, bus, who, G.name, &go, &c)) != 0)
		return rc;
	if ((rc = child_pin(x)) != 0)
		return rc;
	/* Joins (the first member sets the group's offsets: LAST). */
	if ((n = shmq_consumer_poll(c, v, POLL_BATCH, 0)) < 0)
		return child_fail(x, "member %d: poll: %s", k, shmq_why(n));
	got = (uint64_t)n;
	ck_pr_store_64(&me->received, got);
	ck_pr_store_32((uint32_t *)&me->pid, (uint32_t)getpid());
	/* Release: pid before ready (the producer reads both). */
	ck_pr_fence_store();
	ck_pr_store_32(&me->ready, 1);
	t0 = 0;
	for (;;) {
		n = shmq_consumer_poll(c, v, POLL_BATCH, 100);
		if (n < 0)
			return child_fail(x, "member %d: poll: %s", k,
			    shmq_why(n));
		if (n == 0) {
			if (ck_pr_load_32(&gs->stop) != 0)
				break;
			if (aborted())
				return EXIT_FAIL;
			if (g_yield)
				sched_yield();
			continue;
		}
		for (i = 0; i < n; i++) {
			if (v[i].body_len != x->o.size)
				return child_fail(x, "member %d: message at "
				    "queue %d offset %" PRIu64 ": %zu bytes, "
				    "sent %" PRIu64, k, v[i].queue,
				    v[i].queue_off, v[i].body_len, x->o.size);
			memcpy(buf, v[i].body, x->o.size);
			q = (unsigned)v[i].queue;
			if (q < GROUP_QUEUES && me->first_ns[q] == 0 &&
			    ck_pr_load_32(&gs->armed) != 0)
				me->first_ns[q] = bench_mono_ns();
		}
		got += (uint64_t)n;
		ck_pr_store_64(&me->received, got);
		me->t_last = now_ticks();
		if (t0 == 0 && ck_pr_load_32(&gs->timed) != 0)
			t0 = cputime_ns(CLOCK_THREAD_CPUTIME_ID);
	}
	if (t0 != 0)
		me->cpu_ns = cputime_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
	shmq_consumer_close(c);
	shmq_bus_close(bus);
	free(buf);
	return EXIT_OK;
}

/* Send one message of the run; 0 or an exit code. */
static int
g_send(struct ctx *x, struct shmq_producer *p, struct shmq_msg *m,
    char *buf, uint64_t seq)
{
	int rc;

	hdr_put(buf, seq, 0);
	if ((rc = shmq_producer_send_oneway(p, m)) < 0)
		return child_fail(x, "producer: send: %s", shmq_why(rc));
	return 0;
}

/* Takeover: steady sends until the victim's queues are consumed again. */
static int
g_takeover(struct ctx *x, struct shmq_bus *bus, struct shmq_producer *p,
    struct shmq_msg *m, char *buf)
{
	struct gshared *gs = G.gs;
	struct timespec at;
	uint64_t seq = 0, t0, kill_at = 0, per_ms, i, end;
	uint32_t mask = 0, done;
	int rc, j, killed = 0;

	per_ms = x->o.group_rate / 1000 > 0 ? x->o.group_rate / 1000 : 1;
	clock_gettime(CLOCK_MONOTONIC, &at);
	t0 = bench_mono_ns();
	end = t0 + (TAKEOVER_STEADY_MS + TAKEOVER_MAX_MS) * 1000000ULL;
	for (;;) {
		for (i = 0; i < per_ms; i++)
			if ((rc = g_send(x, p, m, buf, seq++)) != 0)
				return rc;
		if (!killed && bench_mono_ns() - t0 >= TAKEOVER_STEADY_MS *
		    1000000ULL) {
			if ((rc = g_settle(x, bus, gs->m[0].pid, &mask)) != 0)
				return rc;
			if (mask == 0)
				return child_fail(x, "producer: member 0 "
				    "holds no queue");
			gs->victim = gs->m[0].pid;
			gs->victim_queues = mask;
			ck_pr_store_32(&gs->armed, 1);
			/* Armed before the kill: the survivor stamps every
			   first receive from then on. */
			ck_pr_fence_memory();
			kill_at = bench_mono_ns();
			gs->t_kill = kill_at;
			if (kill(gs->m[0].pid, SIGKILL) == -1)
				return child_fail(x, "producer: kill %d: %s",
				    (int)gs->m[0].pid, strerror(errno));
			killed = 1;
		}
		if (killed) {
			done = 0;
			for (j = 0; j < GROUP_QUEUES; j++) {
				if (!(mask & (1U << j)))
					continue;
				if (ck_pr_load_64(&gs->m[1].first_ns[j]) != 0)
					done |= 1U << j;
			}
			if (done == mask)
				break;
		}
		if (aborted())
			return EXIT_FAIL;
		if (bench_mono_ns() > end)
			return child_fail(x, "producer: the killed member's "
			    "queues were not consumed again within %d ms",
			    TAKEOVER_MAX_MS);
		at.tv_nsec += 1000000L;
		if (at.tv_nsec >= 1000000000L) {
			at.tv_sec++;
			at.tv_nsec -= 1000000000L;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at,
		    NULL) == EINTR)
			;
	}
	gs->sent = seq;
	gs->t_end = bench_mono_ns() - t0;	/* ns, for the real rate */
	return 0;
}

static int
g_producer(struct ctx *x)
{
	struct gshared *gs = G.gs;
	struct shmq_bus *bus = NULL;
	struct shmq_producer *p = NULL;
	struct shmq_msg m;
	struct usage u;
	uint64_t i, end, warm, endt;
	char *buf;
	int k, rc;

	memset(&u, 0, sizeof u);
	if ((buf = body_alloc(x)) == NULL)
		return child_fail(x, "%s", strerror(errno));
	if ((rc = child_bus_open(x, &bus, "producer")) != 0 ||
	    (rc = child_producer_open(x, bus, &p, &m, buf,
	    SHMQ_QUEUE_ANY)) != 0)
		return rc;
	if ((rc = child_pin(x)) != 0)
		return rc;
	endt = bench_mono_ns() + 20000000000ULL;
	for (k = 0; k < G.n; k++)
		while (ck_pr_load_32(&gs->m[k].ready) == 0) {
			if (aborted())
				return EXIT_FAIL;
			if (bench_mono_ns() > endt)
				return child_fail(x, "producer: member %d did "
				    "not join within 20 s", k);
			g_nap_us(500);
		}
	ck_pr_fence_load();
	if (G.kind != G_ACK && (rc = g_settle(x, bus, 0, NULL)) != 0)
		return rc;
	switch (G.kind) {
	case G_TPUT:
		warm = x->o.n_tput / 10;
		if (warm > 20000)
			warm = 20000;
		if (warm < 1000)
			warm = 1000;
		for (i = 0; i < warm; i++)
			if ((rc = g_send(x, p, &m, buf, i)) != 0)
				return rc;
		gs->warm = warm;
		if ((rc = g_wait_received(x, warm, 10)) != 0)
			return rc;
		usage_start(&u);
		gs->t_first = now_ticks();
		ck_pr_store_32(&gs->timed, 1);
		end = gs->t_first + x->tput_ticks;
		for (i = 0; i < x->o.n_tput; i++) {
			if (i > 0 && tput_over(i, end))
				break;
			if ((rc = g_send(x, p, &m, buf, warm + i)) != 0)
				return rc;
		}
		gs->t_end = now_ticks();
		usage_end(&u, SIDE_PROD);
		gs->sent = i;
		rc = g_wait_received(x, warm + i, 30 + (unsigned)(x->o.tput_secs
		    * 4));
		break;
	case G_TAKEOVER:
		rc = g_takeover(x, bus, p, &m, buf);
		break;
	case G_ACK:
		/* Messages stored before were stored at least 2 ms before
		   start_ms (the groups' start time). */
		g_nap_us(2000);
		gs->start_ms = shmq_now_ns() / 1000000;
		for (i = 0; i < gs->target; i++)
			if ((rc = g_send(x, p, &m, buf, i)) != 0)
				return rc;
		gs->sent = gs->target;
		/* Release: the messages are stored before go. */
		ck_pr_fence_store();
		ck_pr_store_32(&gs->go, 1);
		rc = 0;
		break;
	}
	ck_pr_store_32(&gs->stop, 1);
	shmq_producer_close(p);
	shmq_bus_close(bus);
	free(buf);
	return rc;
}

/* Run N members and a producer for one measurement. */
static int
g_run(struct ctx *x, enum gkind kind, int n)
{
	static int seq;
	pid_t pids[GROUP_MAX + 1];
	int i, cpu;

	memset(G.gs, 0, sizeof *G.gs);
	x->sh->c.abort = 0;
	ctl_reset_usage(&x->sh->c);
	G.kind = kind;
	G.n = n;
	G.gs->target = x->o.ack_count;
	snprintf(G.name, sizeof G.name, "shmq-bench.%d.%d", (int)getpid(),
	    ++seq);
	if (g_interrupted)
		return -1;
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i <= n; i++) {
		if ((pids[i] = fork()) == -1) {
			warnx_("%s: fork: %s", x->what, strerror(errno));
			x->sh->c.abort = 1;
			reap(x, pids, i, n, "member", NULL, 5);
			return -1;
		}
		if (pids[i] == 0) {
			cpu = i == n ? x->o.cpu[0] : G.ncpus > 0 ?
			    G.cpus[i % G.ncpus] : -1;
			child_init(x, cpu);
			if (!x->pin || cpu < 0)
				x->my_cpu = -1;
			_exit(i == n ? g_producer(x) : g_consumer(x, i));
		}
	}
	return reap(x, pids, n + 1, n, "member", kind == G_TAKEOVER ?
	    &G.gs->victim : NULL, kind == G_TPUT ? 60 +
	    (unsigned)(x->o.tput_secs * 4) : kind == G_ACK ? 120 : 30);
}

static void
g_throughput(struct ctx *x, int slot, int n)
{
	struct gtput *tp = &G.tp[slot];
	const struct gshared *gs = G.gs;
	uint64_t last = 0, got;
	double cpu = 0, wall;
	int i;

	tp->consumers = n;
	tp->cpus = x->pin ? (n < G.ncpus ? n : G.ncpus) : 0;
	x->tput_ticks = ns_ticks(x->o.tput_secs * 1e9);
	snprintf(x->what, sizeof x->what, "group throughput, %d member%s", n,
	    n == 1 ? "" : "s");
	progress(x->what);
	if (g_run(x, G_TPUT, n) == -1) {
		failed(x, &tp->state);
		return;
	}
	for (i = 0; i < n; i++) {
		if (gs->m[i].t_last > last)
			last = gs->m[i].t_last;
		cpu += (double)gs->m[i].cpu_ns;
	}
	got = g_received(n);
	tp->msgs = gs->sent;
	tp->dups = got > gs->warm + gs->sent ? got - gs->warm - gs->sent : 0;
	tp->secs = last > gs->t_first ?
	    ticks_ns((double)(last - gs->t_first)) / 1e9 : 0;
	if (tp->secs <= 0 || tp->msgs == 0) {
		warnx_("%s: nothing measured", x->what);
		failed(x, &tp->state);
		return;
	}
	tp->msg_s = (double)tp->msgs / tp->secs;
	wall = ticks_ns((double)(gs->t_end - gs->t_first));
	tp->prod_msg_s = wall > 0 ? (double)tp->msgs / (wall / 1e9) : 0;
	/* Members' CPU from their first poll of the timed section to their
	   exit (asleep after the last message) over the timed wall time. */
	tp->cons_cpu = cpu / (tp->secs * 1e9);
	tp->state = 1;
}

static void
g_takeover_run(struct ctx *x, int slot)
{
	struct gtake *to = &G.to[slot];
	const struct gshared *gs = G.gs;
	uint64_t f;
	double d;
	int j;

	snprintf(x->what, sizeof x->what, "group takeover, run %d", slot + 1);
	progress(x->what);
	if (g_run(x, G_TAKEOVER, 2) == -1) {
		failed(x, &to->state);
		return;
	}
	to->max_ms = 0;
	to->min_ms = 1e18;
	for (j = 0; j < GROUP_QUEUES; j++) {
		if (!(gs->victim_queues & (1U << j)))
			continue;
		f = gs->m[1].first_ns[j];
		d = f > gs->t_kill ? (double)(f - gs->t_kill) / 1e6 : 0;
		if (d > to->max_ms)
			to->max_ms = d;
		if (d < to->min_ms)
			to->min_ms = d;
		to->queues++;
	}
	if (gs->t_end > 0)
		G.rate_got = (double)gs->sent / ((double)gs->t_end / 1e9);
	if (to->queues > 0)
		to->state = 1;
	else
		failed(x, &to->state);
}

static void
g_ack_run(struct ctx *x)
{
	const struct gshared *gs = G.gs;
	struct gackres *r;
	int a, failed;

	snprintf(x->what, sizeof x->what, "ack path");
	progress(x->what);
	failed = g_run(x, G_ACK, 1) == -1;
	for (a = 0; a < ACK_COUNT; a++) {
		r = &G.ack_res[a];
		r->msgs = gs->ack_msgs[a];
		if (failed || r->msgs < x->o.ack_count ||
		    gs->ack_cpu_ns[a] == 0) {
			r->state = -1;
			continue;
		}
		r->cpu_ns = (double)gs->ack_cpu_ns[a] / (double)r->msgs;
		r->wall_ns = (double)gs->ack_wall_ns[a] / (double)r->msgs;
		r->state = 1;
	}
	if (failed)
		x->failures++;
}

static int
cmp_dbl(const void *a, const void *b)
{
	double u = *(const double *)a, v = *(const double *)b;

	return (u > v) - (u < v);
}

/* Median and worst of the takeover runs' figures; 0 runs measured: -1. */
static int
g_takeover_summary(struct ctx *x, double *median, double *worst)
{
	double v[32];
	int i, n = 0;

	for (i = 0; i < (int)x->o.takeover_runs; i++)
		if (G.to[i].state == 1)
			v[n++] = G.to[i].max_ms;
	if (n == 0)
		return -1;
	qsort(v, (size_t)n, sizeof v[0], cmp_dbl);
	*median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	*worst = v[n - 1];
	return 0;
}

static void
g_print_text(struct ctx *x)
{
	char b[4][32];
	double med, worst, base;
	int i;

	printf("%s %s (libshmq %s): group mode, %" PRIu64 "-byte messages, "
	    "topic \"%s\" (%d queues), one clustering group per "
	    "measurement (averagely)\n", PROG, SHMQ_VERSION_STRING,
	    shmq_version(), x->o.size, x->o.topic, GROUP_QUEUES);
	if (x->pin) {
		printf("producer on CPU %d, members on CPU", x->o.cpu[0]);
		for (i = 0; i < G.ncpus; i++)
			printf("%s%d", i == 0 ? " " : ",", G.cpus[i]);
		printf(" (round-robin)\n");
	} else
		printf("not pinned\n");
	printf("store: %s (%s%s)\n", x->home, x->store_kind,
	    strcmp(x->store_kind, "disk") == 0 ? ", async flush" :
	    ", no disk I/O");
	if (x->o.ngroup > 0) {
		printf("\n%-26s %9s %9s %8s %10s %6s %5s %5s\n",
		    "group throughput", "msg/s", "messages", "seconds",
		    "prod msg/s", "cpus", "cpu%", "dups");
		for (i = 0; i < x->o.ngroup; i++) {
			const struct gtput *tp = &G.tp[i];

			snprintf(b[1], sizeof b[1], "%d member%s",
			    tp->consumers, tp->consumers == 1 ? "" : "s");
			if (tp->state != 1) {
				printf("%-26s %9s\n", b[1], "failed");
				continue;
			}
			fmt_rate(b[0], sizeof b[0], tp->msg_s);
			fmt_rate(b[2], sizeof b[2], tp->prod_msg_s);
			printf("%-26s %9s %9" PRIu64 " %8.3f %10s %6d %5.0f "
			    "%5" PRIu64 "\n", b[1], b[0], tp->msgs, tp->secs,
			    b[2], tp->cpus, tp->cons_cpu * 100, tp->dups);
		}
		printf("(one producer at full speed; members wait in "
		    "shmq_consumer_poll, auto-commit, copy each message; "
		    "cpu%%: members' CPU time, all of them, over the timed "
		    "wall time)\n");
		for (i = 0; i < x->o.ngroup; i++)
			if (G.tp[i].state == 1 && G.tp[i].msg_s <
			    0.95 * G.tp[i].prod_msg_s)
				break;
		if (i == x->o.ngroup)
			printf("(every row kept up with the producer: the "
			    "producer's send rate is the limit)\n");
	}
	if (x->o.takeover_runs > 0) {
		printf("\ntakeover: kill -9 of 1 of 2 members, producer at %"
		    PRIu64 " msg/s (%.0f real), kill to the first message from "
		    "each of its queues at the survivor\n", x->o.group_rate,
		    G.rate_got);
		for (i = 0; i < (int)x->o.takeover_runs; i++) {
			const struct gtake *to = &G.to[i];

			if (to->state != 1) {
				printf("  run %d: failed\n", i + 1);
				continue;
			}
			printf("  run %d: %u queues, max %.1f ms (first "
			    "%.1f ms)\n", i + 1, to->queues, to->max_ms,
			    to->min_ms);
		}
		if (g_takeover_summary(x, &med, &worst) == 0)
			printf("  takeover (max over queues): median %.1f ms, "
			    "worst %.1f ms\n", med, worst);
	}
	if (x->o.ack_count > 0) {
		printf("\n%-26s %12s %12s %12s\n", "ack path (1 member)",
		    "cpu ns/msg", "wall ns/msg", "vs none");
		base = G.ack_res[ACK_NONE].state == 1 ?
		    G.ack_res[ACK_NONE].cpu_ns : -1;
		for (i = 0; i < ACK_COUNT; i++) {
			const struct gackres *r = &G.ack_res[i];

			if (r->state != 1) {
				printf("%-26s %12s\n", gack_names[i].label,
				    "failed");
				continue;
			}
			if (base >= 0 && i != ACK_NONE)
				snprintf(b[0], sizeof b[0], "%+.1f",
				    r->cpu_ns - base);
			else
				snprintf(b[0], sizeof b[0], "-");
			printf("%-26s %12.1f %12.1f %12s\n",
			    gack_names[i].label, r->cpu_ns, r->wall_ns, b[0]);
		}
		printf("(%" PRIu64 " messages stored first, then read by one "
		    "process with a group of each kind in turn, after an "
		    "uncounted one, in polls of %d without waiting; the "
		    "member's thread CPU time)\n", x->o.ack_count, POLL_BATCH);
	}
	print_warnings(x);
}

static void
g_print_json(struct ctx *x)
{
	double med, worst;
	int i;

	json_head();
	printf(",\"mode\":\"group\",\"config\":{\"size\":%" PRIu64
	    ",\"queues\":%d,\"pinned\":%s,\"producer_cpu\":%d,"
	    "\"member_cpus\":[", x->o.size, GROUP_QUEUES,
	    x->pin ? "true" : "false", x->pin ? x->o.cpu[0] : -1);
	for (i = 0; x->pin && i < G.ncpus; i++)
		printf("%s%d", i > 0 ? "," : "", G.cpus[i]);
	printf("],\"clock\":\"%s\",\"tput_max_messages\":%" PRIu64
	    ",\"tput_max_seconds\":%.3f,\"takeover_runs\":%" PRIu64
	    ",\"takeover_rate\":%" PRIu64 ",\"ack_messages\":%" PRIu64
	    ",\"poll_batch\":%d", clk == CLK_TSC ? "tsc" :
	    "monotonic", x->o.n_tput, x->o.tput_secs, x->o.takeover_runs,
	    x->o.group_rate, x->o.ack_count, POLL_BATCH);
	json_kv("bus", x->o.bus);
	json_kv("topic", x->o.topic);
	json_kv("store", x->home);
	json_kv("store_kind", x->store_kind);
	printf("},\"throughput\":[");
	for (i = 0; i < x->o.ngroup; i++) {
		const struct gtput *tp = &G.tp[i];

		printf("%s{\"members\":%d,", i > 0 ? "," : "", tp->consumers);
		if (tp->state != 1)
			printf("\"error\":true}");
		else
			printf("\"member_cpus\":%d,\"messages\":%" PRIu64
			    ",\"seconds\":%.6f,\"msg_per_s\":%.1f,"
			    "\"producer_msg_per_s\":%.1f,\"members_cpu\":%.4f,"
			    "\"duplicates\":%" PRIu64 "}", tp->cpus, tp->msgs,
			    tp->secs, tp->msg_s, tp->prod_msg_s, tp->cons_cpu,
			    tp->dups);
	}
	printf("],\"takeover\":");
	if (x->o.takeover_runs == 0)
		printf("null");
	else {
		printf("{\"members\":2,\"rate\":%" PRIu64 ",\"real_rate\":%.1f,"
		    "\"runs\":[", x->o.group_rate, G.rate_got);
		for (i = 0; i < (int)x->o.takeover_runs; i++) {
			const struct gtake *to = &G.to[i];

			if (to->state != 1)
				printf("%s{\"error\":true}", i > 0 ? "," : "");
			else
				printf("%s{\"queues\":%u,\"max_ms\":%.3f,"
				    "\"min_ms\":%.3f}", i > 0 ? "," : "",
				    to->queues, to->max_ms, to->min_ms);
		}
		printf("]");
		if (g_takeover_summary(x, &med, &worst) == 0)
			printf(",\"max_ms_median\":%.3f,\"max_ms_worst\":%.3f",
			    med, worst);
		printf("}");
	}
	printf(",\"ack\":");
	if (x->o.ack_count == 0)
		printf("null");
	else {
		printf("[");
		for (i = 0; i < ACK_COUNT; i++) {
			const struct gackres *r = &G.ack_res[i];

			printf("%s{\"commit\":\"%s\",", i > 0 ? "," : "",
			    gack_names[i].key);
			if (r->state != 1)
				printf("\"error\":true}");
			else
				printf("\"messages\":%" PRIu64
				    ",\"cpu_ns_per_msg\":%.2f,"
				    "\"wall_ns_per_msg\":%.2f}",
				    r->msgs, r->cpu_ns, r->wall_ns);
		}
		printf("]");
	}
	json_tail(x);
}

/* The members' CPUs: the consumer CPU, then the others but the
   producer's. */
static void
g_cpus(struct ctx *x)
{
	cpu_set_t set;
	int i, maxn = 0;

	G.ncpus = 0;
	if (!x->pin)
		return;
	G.cpus[G.ncpus++] = x->o.cpu[1];
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		for (i = 0; i < CPU_SETSIZE &&
		    G.ncpus < (int)(sizeof G.cpus / sizeof G.cpus[0]); i++)
			if (CPU_ISSET(i, &set) && i != x->o.cpu[0] &&
			    i != x->o.cpu[1])
				G.cpus[G.ncpus++] = i;
	for (i = 0; i < x->o.ngroup; i++)
		if (x->o.group_n[i] > maxn)
			maxn = x->o.group_n[i];
	if (maxn > G.ncpus)
		note(x, "%d CPU%s for the members (the producer has CPU %d): "
		    "the rows with more than %d member%s share %s, so they "
		    "measure the cost of sharing the queues among processes "
		    "on the same CPU%s, not scaling", G.ncpus,
		    G.ncpus == 1 ? "" : "s", x->o.cpu[0], G.ncpus,
		    G.ncpus == 1 ? "" : "s", G.ncpus == 1 ? "it" : "them",
		    G.ncpus == 1 ? "" : "s");
}

/* The replication mode (benchrepl.c) with these options; main()'s exit
   status. */
static int
repl_main(struct ctx *x)
{
	struct repl_opts ro;
	const char *notes[sizeof x->warnings / sizeof x->warnings[0]];
	int i;

	memset(&ro, 0, sizeof ro);
	ro.bus = x->o.bus;
	ro.topic = x->o.topic;
	ro.home = x->o.home;
	ro.size = x->o.size;
	ro.samples = x->o.repl_samples;
	ro.gap_us = x->o.gap_us;
	ro.tput_secs = x->o.tput_secs;
	ro.tput_max = x->o.n_tput;
	ro.backlog = x->o.repl_backlog;
	ro.conf = x->o.repl_conf;
	ro.pin = x->pin;
	ro.cpu[0] = x->o.cpu[0];
	ro.cpu[1] = x->o.cpu[1];
	ro.json = x->o.json;
	ro.quick = x->o.quick;
	ro.keep = x->o.keep;
	for (i = 0; i < x->nwarnings; i++)
		notes[i] = x->warnings[i];
	ro.notes = notes;
	ro.nnotes = x->nwarnings;
	return bench_repl(&ro);
}

/* The whole group mode; main()'s exit status. */
static int
group_main(struct ctx *x)
{
	int i;

	if ((G.gs = bench_shared_alloc(sizeof *G.gs)) == NULL) {
		warnx_("shared memory: %s", strerror(errno));
		return EXIT_FAIL;
	}
	g_cpus(x);
	if (store_setup(x) == -1 || keeper_start(x) == -1) {
		keeper_stop(x);
		if (x->home[0] != '\0')
			store_cleanup(x);
		return EXIT_FAIL;
	}
	for (i = 0; i < x->o.ngroup && !g_interrupted; i++)
		g_throughput(x, i, x->o.group_n[i]);
	for (i = 0; i < (int)x->o.takeover_runs && !g_interrupted; i++)
		g_takeover_run(x, i);
	if (x->o.ack_count > 0 && !g_interrupted)
		g_ack_run(x);
	progress(NULL);
	keeper_stop(x);
	store_cleanup(x);
	if (g_interrupted) {
		warnx_("interrupted");
		return EXIT_FAIL;
	}
	if (x->o.json)
		g_print_json(x);
	else
		g_print_text(x);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		warnx_("stdout: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return x->failures > 0 ? EXIT_FAIL : EXIT_OK;
}

int
main(int argc, char **argv)
{
	static struct ctx ctx;
	struct ctx *x = &ctx;
	struct sigaction sa;
	struct row *r;
	struct cpu_times ct0;
	int rc, i, want_shmq;
	uint64_t slots, kids0;

	if ((rc = parse_args(&x->o, argc, argv)) != 0)
		return rc;
	x->keep_wfd = -1;
	x->fd[0] = x->fd[1] = -1;
	g_progress = !x->o.json && isatty(STDERR_FILENO);

	for (i = 0; i < T_COUNT; i++) {
		r = &rows[i];
		r->selected = (r->floor ? x->o.floors : 1) &&
		    (i == T_PIPE || i == T_UNIX ||
		    (r->sleeps ? x->o.sleep : x->o.busy));
		if (r->selected && !((x->o.do_lat && r->has_lat) ||
		    (x->o.do_tput && r->has_tput)))
			r->selected = 0;
	}
	want_shmq = rows[T_SHMQ_BUSY].selected || rows[T_SHMQ_SLEEP].selected;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = on_interrupt;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (x->o.repl) {
		cpus_setup(x);
		return repl_main(x);
	}
	if (x->o.clock == CLK_TSC && !BENCH_TSC) {
		warnx_("--clock tsc: no TSC on this machine");
		return EXIT_USAGE;
	}
	clk = x->o.clock >= 0 ? x->o.clock :
	    tsc_usable() ? CLK_TSC : CLK_MONO;
	clock_calibrate(x->o.quick ? 50 : 200);
	cpus_setup(x);

	/* Shared memory, all of it faulted in before any fork. */
	x->nsamp = x->o.n_busy > x->o.n_sleep ? x->o.n_busy : x->o.n_sleep;
	x->slot_bytes = (x->o.size + 63) & ~(uint64_t)63;
	for (slots = 64; slots * x->slot_bytes < RING_BYTES; slots *= 2)
		;
	x->ring_slots = slots;
	if ((x->sh = bench_shared_alloc(sizeof *x->sh)) == NULL ||
	    (x->fwd = bench_shared_alloc(x->nsamp * sizeof x->fwd[0])) == NULL ||
	    (x->rev = bench_shared_alloc(x->nsamp * sizeof x->rev[0])) == NULL ||
	    (x->ring = bench_shared_alloc(x->ring_slots * x->slot_bytes)) == NULL) {
		warnx_("shared memory: %s", strerror(errno));
		return EXIT_FAIL;
	}
	g_sh = x->sh;
	if (x->o.group)
		return group_main(x);

	if (want_shmq) {
		if (store_setup(x) == -1 || keeper_start(x) == -1) {
			for (i = T_SHMQ_BUSY; i <= T_SHMQ_SLEEP; i++) {
				rows[i].lat.state = rows[i].tp.state = -1;
			}
			x->failures++;
		}
	}

	cpu_times(x, &ct0);
	kids0 = children_cpu_ns();
	if (x->o.do_lat)
		measure_rows(x, order_lat, 0);
	if (x->o.do_tput)
		measure_rows(x, order_tput, 1);
	progress(NULL);
	check_noise(x, &ct0, kids0);
	keeper_stop(x);
	if (x->home[0] != '\0')
		store_cleanup(x);
	if (g_interrupted) {
		warnx_("interrupted");
		return EXIT_FAIL;
	}

	/* The clocks of the two CPUs, seen from both directions. */
	r = &rows[T_CACHELINE];
	if (r->lat.state == 1 && clk == CLK_TSC) {
		double skew = (r->lat.p50 - r->lat.rev_p50) / 2;
		double rtt = (r->lat.p50 + r->lat.rev_p50) / 2;

		if (skew > 20 + rtt / 4 || -skew > 20 + rtt / 4)
			note(x, "the TSCs of CPUs %d and %d seem %.0f ns "
			    "apart (cache line one-way %.0f ns one way, %.0f "
			    "ns back): one-way figures are off by as much; "
			    "try --clock monotonic", x->o.cpu[0], x->o.cpu[1],
			    skew > 0 ? skew : -skew, r->lat.p50,
			    r->lat.rev_p50);
	}
	if (x->o.json)
		print_json(x);
	else
		print_text(x);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		warnx_("stdout: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return x->failures > 0 ? EXIT_FAIL : EXIT_OK;
}
