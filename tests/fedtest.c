/*
 * fedtest.c - see fedtest.h.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <check.h>

#include <shmq/shmq.h>

#include "fedtest.h"
#include "testutil.h"
#include "tooltest.h"

/*
 * Run CMD through /bin/sh in a child that the kernel sends SIG when this
 * process ends: a test that fails stops at once, without its teardown.
 * Check kills the test's process group when the test ends; with OWN_PGRP
 * the child has a group of its own, to outlive that and clean up.
 */
static pid_t
spawn_tied(const char *cmd, int sig, bool own_pgrp)
{
	pid_t parent = getpid(), pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if ((own_pgrp && setpgid(0, 0) != 0) ||
		    prctl(PR_SET_PDEATHSIG, sig) != 0 ||
		    getppid() != parent)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* The shell that cleans /dev/shm if the test dies (ft_host_init). */
static pid_t shm_guard;

void
ft_teardown(void)
{
	if (shm_guard > 0) {
		kill(shm_guard, SIGKILL);
		tu_wait(shm_guard);
		shm_guard = 0;
	}
	tu_sh("rm -f /dev/shm/shmq.*.%s-*.* 2>/dev/null", tu_bus());
	tt_teardown();
}

int
ft_free_port(void)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

void
ft_write_file(const char *path, const char *s, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(s, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

const char *
ft_secret_path(bool wrong)
{
	static char p[2][4200];
	int i = wrong;

	if (p[i][0] == '\0' || access(p[i], R_OK) != 0) {
		snprintf(p[i], sizeof(p[i]), "%s/secret%d", tu_home(), i);
		ft_write_file(p[i], wrong ? "not-the-shared-secret-at-all\n" :
		    "the-shared-secret-of-this-test\n", 0600);
	}
	return p[i];
}

void
ft_host_init(struct ft_host *h, const char *name, bool wrong_secret,
    struct ft_host *const *peers)
{
	char buf[4096], *p = buf;
	int i;

	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->home, sizeof(h->home), "%s/%s", tu_home(), name);
	ck_assert_int_eq(mkdir(h->home, 0700), 0);
	snprintf(h->bus, sizeof(h->bus), "%s-%s", tu_bus(), name);
	snprintf(h->conf, sizeof(h->conf), "%s/%s.conf", tu_home(), name);
	snprintf(h->log, sizeof(h->log), "%s/%s.log", tu_home(), name);
	snprintf(h->addr, sizeof(h->addr), "127.0.0.1");
	h->port = ft_free_port();
	p += snprintf(p, sizeof(buf), "bus = %s\nhome = %s\nhost = %s\n"
	    "listen = %s:%d\nsecret_file = %s\n"
	    "route_register_ms = 200\nroute_expire_ms = 1500\n"
	    "heartbeat_ms = 200\nreconnect_min_ms = 50\n"
	    "reconnect_max_ms = 400\nhandshake_ms = 2000\n", h->bus, h->home,
	    name, h->addr, h->port, ft_secret_path(wrong_secret));
	for (i = 0; peers != NULL && peers[i] != NULL; i++)
		p += snprintf(p, sizeof(buf) - (size_t)(p - buf),
		    "peer = %s:%d\n", peers[i]->addr, peers[i]->port);
	ft_write_file(h->conf, buf, 0600);
	/* A failed assertion ends the test without ft_teardown: a shell
	 * tied to this process then removes the buses' control regions
	 * (the store stays, to be looked at). */
	if (shm_guard == 0) {
		snprintf(buf, sizeof(buf), "trap 'rm -f "
		    "/dev/shm/shmq.*.%s-*.*; exit 0' TERM; "
		    "while :; do sleep 1; done", tu_bus());
		shm_guard = spawn_tied(buf, SIGTERM, true);
	}
}

void
ft_host_conf(struct ft_host *h, const char *fmt, ...)
{
	FILE *f = fopen(h->conf, "a");
	va_list ap;

	ck_assert_ptr_nonnull(f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

pid_t
ft_host_spawn(struct ft_host *h, const char *args)
{
	char cmd[13000], ns[64] = "";

	/* ip netns exec execs shmqd in place: the pid is the daemon's. */
	if (h->ns[0] != '\0')
		snprintf(ns, sizeof(ns), "ip netns exec %s ", h->ns);
	snprintf(cmd, sizeof(cmd), "exec %s%s -f --log-level debug -c %s %s "
	    ">>%s 2>&1", ns, tu_prog("shmqd/shmqd"), h->conf, args, h->log);
	return spawn_tied(cmd, SIGKILL, false);
}

char *
ft_log_tail(const struct ft_host *h, size_t bytes)
{
	char *s = tt_slurp(h->log);
	size_t n = strlen(s);

	if (n > bytes)
		memmove(s, s + n - bytes, bytes + 1);
	return s;
}

void
ft_host_start(struct ft_host *h)
{
	ck_assert_int_eq(h->pid, 0);
	h->pid = ft_host_spawn(h, "");
	h->starts++;
	if (!tt_log_has(h->log, "federation: host", h->starts, 5))
		ck_abort_msg("%s did not start its federation (start %d); its "
		    "log ends:\n%s", h->name, h->starts,
		    ft_log_tail(h, 2500));
}

void
ft_host_stop(struct ft_host *h)
{
	if (h->pid > 0)
		ck_assert_int_eq(tt_shmqd_stop(h->pid), 0);
	h->pid = 0;
}

void
ft_host_kill(struct ft_host *h)
{
	ck_assert_int_gt(h->pid, 0);
	kill(h->pid, SIGKILL);
	ck_assert_int_eq(tu_wait(h->pid), 128 + SIGKILL);
	h->pid = 0;
}

struct shmq_bus *
ft_bus_open(const struct ft_host *h)
{
	struct shmq_bus_opts o;
	struct shmq_bus *bus;
	int rc;

	shmq_bus_opts_init(&o);
	o.home = h->home;
	rc = shmq_bus_open(&bus, h->bus, &o);
	ck_assert_msg(rc == 0, "open bus %s of %s: %s (%s)", h->bus, h->name,
	    shmq_err_name(rc), shmq_errmsg());
	return bus;
}

void
ft_topic_create(struct ft_host *h, const char *topic, int queues)
{
	ck_assert_msg(tt_run("%s -b %s --home %s topic create %s -q %d",
	    tu_prog("utils/shmq-admin"), h->bus, h->home, topic, queues) == 0,
	    "create %s on %s: %s", topic, h->name, tt_err);
}

int
ft_stat_jq(struct ft_host *h, const char *q)
{
	/* In braces: tt_run's redirections must not reach jq's input. */
	return tt_run("{ %s -b %s --home %s --json | jq -e '%s' >/dev/null; }",
	    tu_prog("utils/shmq-stat"), h->bus, h->home, q);
}

void
ft_wait_jq(struct ft_host *h, const char *q, double secs, const char *why)
{
	uint64_t t0 = tu_mono_ns();

	while (ft_stat_jq(h, q) != 0) {
		if (tu_mono_ns() - t0 > (uint64_t)(secs * 1e9 * tu_mult())) {
			tt_run("{ %s -b %s --home %s --json | jq -c "
			    ".federation; }", tu_prog("utils/shmq-stat"),
			    h->bus, h->home);
			ck_abort_msg("%s: %s (jq %s) not seen in %.1f s; "
			    "federation: %.1500s\nlog ends:\n%s", h->name, why,
			    q, secs, tt_out, ft_log_tail(h, 1200));
		}
		usleep(50000);
	}
}

bool
ft_netns_make(struct ft_netns *n, const char *test)
{
	int pid = (int)getpid(), i;
	char cmd[512];

	if (geteuid() != 0 || tu_sh("ip netns list >/dev/null 2>&1") != 0) {
		fprintf(stderr, "%s: skipped (needs root and ip netns)\n",
		    test);
		return false;
	}
	for (i = 0; i < 2; i++) {
		snprintf(n->ns[i], sizeof(n->ns[i]), "shmqt%d%c", pid,
		    'a' + i);
		snprintf(n->veth[i], sizeof(n->veth[i]), "vq%d%c",
		    pid % 1000000, 'a' + i);
		snprintf(n->addr[i], sizeof(n->addr[i]), "10.231.0.%d", i + 1);
	}
	if (tu_sh("NA=%s NB=%s VA=%s VB=%s; set -e; exec >/dev/null 2>&1; "
	    "ip netns add $NA; ip netns add $NB; "
	    "ip link add $VA type veth peer name $VB; "
	    "ip link set $VA netns $NA; ip link set $VB netns $NB; "
	    "ip -n $NA addr add %s/24 dev $VA; "
	    "ip -n $NB addr add %s/24 dev $VB; "
	    "ip -n $NA link set $VA up; ip -n $NB link set $VB up; "
	    "ip -n $NA link set lo up; ip -n $NB link set lo up",
	    n->ns[0], n->ns[1], n->veth[0], n->veth[1], n->addr[0],
	    n->addr[1]) != 0) {
		fprintf(stderr, "%s: skipped (cannot make namespaces and a "
		    "veth pair)\n", test);
		n->guard = 0;
		ft_netns_del(n);
		return false;
	}
	/* Should the test end before ft_netns_del (a failed assertion ends
	 * it at once), a shell tied to this process removes them. */
	snprintf(cmd, sizeof(cmd), "trap 'ip netns del %s; ip netns del %s; "
	    "exit 0' TERM; while :; do sleep 1; done", n->ns[0], n->ns[1]);
	n->guard = spawn_tied(cmd, SIGTERM, true);
	return true;
}

void
ft_netns_place(struct ft_netns *n, int i, struct ft_host *h)
{
	snprintf(h->ns, sizeof(h->ns), "%s", n->ns[i]);
	snprintf(h->addr, sizeof(h->addr), "%s", n->addr[i]);
	ck_assert_int_eq(tu_sh("sed -i 's/^listen = .*/listen = %s:%d/' %s",
	    h->addr, h->port, h->conf), 0);
}

void
ft_netns_link(struct ft_netns *n, int i, bool up)
{
	ck_assert_int_eq(tu_sh("ip -n %s link set %s %s", n->ns[i],
	    n->veth[i], up ? "up" : "down"), 0);
}

void
ft_netns_del(struct ft_netns *n)
{
	if (n->guard > 0) {
		kill(n->guard, SIGKILL);
		tu_wait(n->guard);
		n->guard = 0;
	}
	tu_sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null",
	    n->ns[0], n->ns[1]);
}

int
ft_dial(const struct ft_host *h)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)h->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

bool
ft_closed_by_peer(int fd, double secs)
{
	uint64_t t0 = tu_mono_ns();
	struct pollfd p = { fd, POLLIN, 0 };
	char buf[4096];
	ssize_t n;

	while (tu_mono_ns() - t0 < (uint64_t)(secs * 1e9 * tu_mult())) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
	}
	return false;
}
