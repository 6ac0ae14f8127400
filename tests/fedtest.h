/*
 * fedtest.h - several hosts of a federation in one test: each host is a
 * bus with its own store, config file, log, port and shmqd, on loopback or
 * (as root) in a network namespace of its own joined to another by a veth
 * pair.  For check_link and check_repl.
 *
 * A host's config has the federation keys with short periods (heartbeat
 * 200 ms, reconnect backoff 50..400 ms, routes every 200 ms, expiry 1.5 s)
 * so that links come and go in well under a second; a test appends its own
 * keys (ft_host_conf).  Every shmqd started here dies with the test process
 * (PR_SET_PDEATHSIG), so a failed assertion, which ends the test at once,
 * leaves no daemon behind.
 *
 * Built on testutil.h (the store root, tu_mult) and tooltest.h (tt_run,
 * tt_log_has).
 */
#ifndef SHMQ_FEDTEST_H
#define SHMQ_FEDTEST_H

#include <stdbool.h>
#include <sys/types.h>

struct shmq_bus;

/* One bus with its daemon. */
struct ft_host {
	char	name[16];	/* host name, and the bus's suffix */
	char	home[4200];	/* store root of this host */
	char	bus[64];
	char	conf[4200];
	char	log[4200];
	char	ns[32];		/* network namespace, "" for none */
	char	addr[16];	/* its listen address: 127.0.0.1 or veth */
	int	port;
	int	starts;		/* shmqd started so far */
	pid_t	pid;		/* running shmqd, 0: none */
};

/*
 * Checked fixture teardown: remove what the hosts' buses left in /dev/shm
 * (their names are this test's bus name and a suffix, which tu_teardown's
 * pattern does not cover), then tt_teardown().
 */
void ft_teardown(void);

/* A port nobody listens on now (the kernel's choice, then released). */
int ft_free_port(void);

/* Write S to PATH and chmod it to MODE. */
void ft_write_file(const char *path, const char *s, mode_t mode);

/* The secret files in the store root: the shared one, or another. */
const char *ft_secret_path(bool wrong);

/*
 * Set up host H named NAME (mkdir its store, write its config: listen on
 * 127.0.0.1 and a free port, the shared secret or a wrong one, a peer line
 * for each of PEERS, NULL-ended or NULL).  Does not start it.
 */
void ft_host_init(struct ft_host *h, const char *name, bool wrong_secret,
    struct ft_host *const *peers);

/* Append a line (FMT, printf-style, without the newline) to H's config. */
void ft_host_conf(struct ft_host *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Start H's shmqd (in H->ns if set) with its config and wait until its log
 * says its federation started (once more than before); fail the test with
 * the log if it does not within 5 s (scaled).
 */
void ft_host_start(struct ft_host *h);

/*
 * Start H's shmqd as ft_host_start without waiting for anything, with
 * ARGS (shell words) after its config's -c; its pid.  For shmqd that is
 * expected to refuse to start.
 */
pid_t ft_host_spawn(struct ft_host *h, const char *args);

/* SIGTERM H's shmqd and check that it exits 0 (none running: no-op). */
void ft_host_stop(struct ft_host *h);

/* SIGKILL H's shmqd and reap it. */
void ft_host_kill(struct ft_host *h);

/*
 * The last BYTES of H's log, for failure messages (free it).  Check drops
 * a failure message of 4 KiB or more (the test then just "exits early"),
 * so keep what goes into one well below that.
 */
char *ft_log_tail(const struct ft_host *h, size_t bytes);

/* A TCP connection to H's listener (loopback); fails the test if it
 * cannot. */
int ft_dial(const struct ft_host *h);

/* True if the peer closes FD within SECS, scaled (what comes first is
 * read and dropped). */
bool ft_closed_by_peer(int fd, double secs);

/* Open H's bus (its store root, defaults); fail the test if it cannot. */
struct shmq_bus *ft_bus_open(const struct ft_host *h);

/* Create TOPIC with QUEUES queues on H with shmq-admin. */
void ft_topic_create(struct ft_host *h, const char *topic, int queues);

/* Run jq filter Q (true/false) on H's shmq-stat --json: its exit status. */
int ft_stat_jq(struct ft_host *h, const char *q);

/* Wait until Q holds on H's stat (SECS scaled); fail with WHY. */
void ft_wait_jq(struct ft_host *h, const char *q, double secs,
    const char *why);

/*
 * Two network namespaces joined by a veth pair, 10.231.0.1/24 in the
 * first, .2 in the second (names unique to this process).
 */
struct ft_netns {
	char	ns[2][32];
	char	veth[2][16];
	char	addr[2][16];
	pid_t	guard;		/* removes them if the test dies first */
};

/*
 * Make them, or return false (after saying why on stderr, prefixed with
 * TEST) when this is not root, ip(8) has no netns, or they cannot be made.
 */
bool ft_netns_make(struct ft_netns *n, const char *test);

/* Put H in namespace I of N: listen on its address there (before start). */
void ft_netns_place(struct ft_netns *n, int i, struct ft_host *h);

/* Set the veth end of namespace I down (cut) or up; fail if ip fails. */
void ft_netns_link(struct ft_netns *n, int i, bool up);

/* Remove the namespaces (and with them the veth pair); N may be half made. */
void ft_netns_del(struct ft_netns *n);

/* jq filters on shmq-stat --json: a route of TOPIC on HOST; a link up. */
#define FT_ROUTE(topic, host) \
	".federation.routes | any(.topic == \"" topic "\" and .host == \"" \
	host "\")"
#define FT_LINK_UP(host) \
	".federation.links | any(.host == \"" host "\" and .state == \"up\")"

#endif
