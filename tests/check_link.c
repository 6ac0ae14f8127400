/*
 * check_link.c - federation links between real shmqd processes on
 * loopback, each bus with its own store and port: links come up, each
 * host's topics reach its peers' route tables (shmq-stat --json and
 * shmq_route_lookup), a SIGKILLed peer's routes expire and it comes back
 * after a restart, a peer with a wrong secret is refused, and a client
 * that sends garbage or frames out of turn before authenticating is cut
 * without any of its frames being taken.  As root with ip(8), two network
 * namespaces over a veth pair: the link is cut (link down) and returns.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <check.h>

#include <shmq/shmq.h>

#include "testutil.h"
#include "tooltest.h"

#include "auth.h"
#include "frame.h"

/* One bus with its daemon. */
struct host {
	char	name[16];
	char	home[4200];
	char	bus[64];
	char	conf[4200];
	char	log[4200];
	int	port;
	pid_t	pid;
};

/* A port nobody listens on now (the kernel's choice, then released). */
static int
free_port(void)
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

static void
write_file(const char *path, const char *s, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(s, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* The secret files: the shared one, and another. */
static const char *
secret_path(bool wrong)
{
	static char p[2][4200];
	int i = wrong;

	if (p[i][0] == '\0' || access(p[i], R_OK) != 0) {
		snprintf(p[i], sizeof(p[i]), "%s/secret%d", tu_home(), i);
		write_file(p[i], wrong ? "not-the-shared-secret-at-all\n" :
		    "the-shared-secret-of-this-test\n", 0600);
	}
	return p[i];
}

/* Set up host H named NAME with PEERS (other hosts, NULL-ended). */
static void
host_init(struct host *h, const char *name, bool wrong_secret,
    struct host *const *peers)
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
	h->port = free_port();
	p += snprintf(p, sizeof(buf), "bus = %s\nhome = %s\nhost = %s\n"
	    "listen = 127.0.0.1:%d\nsecret_file = %s\n"
	    "route_register_ms = 200\nroute_expire_ms = 1500\n"
	    "heartbeat_ms = 200\nreconnect_min_ms = 50\n"
	    "reconnect_max_ms = 400\nhandshake_ms = 2000\n", h->bus, h->home,
	    name, h->port, secret_path(wrong_secret));
	for (i = 0; peers != NULL && peers[i] != NULL; i++)
		p += snprintf(p, sizeof(buf) - (size_t)(p - buf),
		    "peer = 127.0.0.1:%d\n", peers[i]->port);
	write_file(h->conf, buf, 0600);
}

static void
host_start(struct host *h)
{
	char args[4300];

	snprintf(args, sizeof(args), "-c %s", h->conf);
	h->pid = tt_shmqd_start_log(args, h->log);
	ck_assert_msg(tt_log_has(h->log, "federation: host", 1, 5),
	    "%s did not start its federation: %s", h->name,
	    tt_slurp(h->log));
}

static void
host_stop(struct host *h)
{
	if (h->pid > 0)
		ck_assert_int_eq(tt_shmqd_stop(h->pid), 0);
	h->pid = 0;
}

static void
topic_create(struct host *h, const char *topic, int queues)
{
	ck_assert_msg(tt_run("%s -b %s --home %s topic create %s -q %d",
	    tu_prog("utils/shmq-admin"), h->bus, h->home, topic, queues) == 0,
	    "create %s on %s: %s", topic, h->name, tt_err);
}

/* Run jq filter Q (true/false) on H's shmq-stat --json: its exit status. */
static int
stat_jq(struct host *h, const char *q)
{
	/* In braces: tt_run's redirections must not reach jq's input. */
	return tt_run("{ %s -b %s --home %s --json | jq -e '%s' >/dev/null; }",
	    tu_prog("utils/shmq-stat"), h->bus, h->home, q);
}

/* Wait until Q holds on H's stat (SECS scaled); fail with WHY. */
static void
wait_jq(struct host *h, const char *q, double secs, const char *why)
{
	uint64_t t0 = tu_mono_ns();

	while (stat_jq(h, q) != 0) {
		if (tu_mono_ns() - t0 > (uint64_t)(secs * 1e9 * tu_mult())) {
			tt_run("%s -b %s --home %s --json",
			    tu_prog("utils/shmq-stat"), h->bus, h->home);
			ck_abort_msg("%s: %s (jq %s) not seen in %.0f s; "
			    "stat: %s\nlog:\n%s", h->name, why, q, secs,
			    tt_out, tt_slurp(h->log));
		}
		usleep(50000);
	}
}

#define ROUTE(topic, host) \
	".federation.routes | any(.topic == \"" topic "\" and .host == \"" \
	host "\")"
#define LINK_UP(host) \
	".federation.links | any(.host == \"" host "\" and .state == \"up\")"

START_TEST(test_two_buses)
{
	struct host a, b;
	struct host *pa[] = { &a, NULL };
	struct shmq_route_info ri[4];
	struct shmq_bus *bus;

	host_init(&a, "alpha", false, NULL);
	host_init(&b, "beta", false, pa);
	host_start(&a);
	host_start(&b);
	topic_create(&a, "orders", 4);
	topic_create(&b, "fills", 2);
	wait_jq(&a, LINK_UP("beta"), 5, "link to beta up");
	wait_jq(&b, LINK_UP("alpha"), 5, "link to alpha up");
	wait_jq(&b, ROUTE("orders", "alpha"), 5, "orders on beta's table");
	wait_jq(&a, ROUTE("fills", "beta"), 5, "fills on alpha's table");
	/* The local route is marked local and home; the remote one home. */
	ck_assert_int_eq(stat_jq(&b, ".federation.routes | any(.topic == "
	    "\"orders\" and .home and (.local | not) and .queues == 4)"), 0);
	ck_assert_int_eq(stat_jq(&b, ".federation.routes | any(.topic == "
	    "\"fills\" and .local and .home)"), 0);
	/* One connection per pair: beta dialed, alpha accepted. */
	ck_assert_int_eq(stat_jq(&a, ".federation.links | length == 1 and "
	    ".[0].inbound and (.[0].configured | not)"), 0);
	ck_assert_int_eq(tt_run("%s -b %s --home %s --json",
	    tu_prog("utils/shmq-stat"), b.bus, b.home), 0);
	ck_assert(tt_json_valid(tt_out));
	ck_assert_int_eq(tt_run("%s -b %s --home %s",
	    tu_prog("utils/shmq-stat"), b.bus, b.home), 0);
	ck_assert_contains(tt_out, "LINKS");
	ck_assert_contains(tt_out, "ROUTES");

	/* The library call: where does "orders" live, asked on beta. */
	setenv("SHMQ_HOME", b.home, 1);
	ck_assert_int_eq(shmq_bus_open(&bus, b.bus, NULL), 0);
	ck_assert_msg(shmq_route_lookup(bus, "orders", ri, 4) == 1,
	    "lookup on %s: %s", shmq_bus_path(bus), shmq_errmsg());
	ck_assert_str_eq(ri[0].host, "alpha");
	ck_assert_int_eq(ri[0].home, 1);
	ck_assert_int_eq(ri[0].local, 0);
	ck_assert_uint_eq(ri[0].queues, 4);
	ck_assert_int_eq(shmq_route_lookup(bus, "fills", ri, 4), 1);
	ck_assert_int_eq(ri[0].local, 1);
	ck_assert_int_eq(shmq_route_lookup(bus, "nowhere", ri, 4), 0);
	ck_assert_int_eq(shmq_route_lookup(bus, "bad name", ri, 4),
	    SHMQ_ENAME);
	shmq_bus_close(bus);

	host_stop(&b);
	host_stop(&a);
	/* A stopped shmqd takes its table away. */
	setenv("SHMQ_HOME", a.home, 1);
	ck_assert_int_eq(shmq_bus_open(&bus, a.bus, NULL), 0);
	ck_assert_int_eq(shmq_route_lookup(bus, "orders", ri, 4),
	    SHMQ_ENOENT);
	shmq_bus_close(bus);
}
END_TEST

/* Three hosts; one is SIGKILLed: its routes expire, then it returns. */
START_TEST(test_three_buses_kill)
{
	struct host a, b, c;
	struct host *pa[] = { &a, NULL }, *pab[] = { &a, &b, NULL };

	host_init(&a, "alpha", false, NULL);
	host_init(&b, "beta", false, pa);
	host_init(&c, "gamma", false, pab);
	host_start(&a);
	host_start(&b);
	host_start(&c);
	topic_create(&a, "orders", 2);
	topic_create(&b, "quotes", 1);
	wait_jq(&b, ROUTE("orders", "alpha"), 5, "orders on beta");
	wait_jq(&c, ROUTE("orders", "alpha"), 5, "orders on gamma");
	wait_jq(&c, ROUTE("quotes", "beta"), 5, "quotes on gamma");
	wait_jq(&a, ROUTE("quotes", "beta"), 5, "quotes on alpha");

	kill(b.pid, SIGKILL);
	ck_assert_int_eq(tu_wait(b.pid), 128 + SIGKILL);
	b.pid = 0;
	/* The link drops at once (closed), the routes after expiry. */
	wait_jq(&c, ".federation.links | any(.host == \"beta\" and .state "
	    "!= \"up\")", 3, "link to beta down");
	ck_assert_int_eq(stat_jq(&c, ROUTE("quotes", "beta")), 0);
	wait_jq(&c, "(" ROUTE("quotes", "beta") ") | not", 5,
	    "beta's routes expired");
	wait_jq(&a, "(" ROUTE("quotes", "beta") ") | not", 5,
	    "beta's routes expired");
	ck_assert(tt_log_has(a.log, "routes of beta expired", 1, 1));
	/* Alpha's own routes stay on gamma meanwhile. */
	ck_assert_int_eq(stat_jq(&c, ROUTE("orders", "alpha")), 0);

	/* Back: gamma's backoff dials it again; the routes return. */
	host_start(&b);
	wait_jq(&c, LINK_UP("beta"), 5, "link to beta up again");
	wait_jq(&c, ROUTE("quotes", "beta"), 5, "beta's routes back");
	wait_jq(&a, ROUTE("quotes", "beta"), 5, "beta's routes back");
	ck_assert_int_eq(stat_jq(&c, ".federation.links | any(.host == "
	    "\"beta\" and .reconnects >= 1)"), 0);
	host_stop(&c);
	host_stop(&b);
	host_stop(&a);
}
END_TEST

START_TEST(test_wrong_secret)
{
	struct host a, b;
	struct host *pa[] = { &a, NULL };

	host_init(&a, "alpha", false, NULL);
	host_init(&b, "beta", true, pa);
	host_start(&a);
	topic_create(&b, "fills", 1);
	host_start(&b);
	ck_assert_msg(tt_log_has(a.log, "authentication failed", 2, 5),
	    "%s", tt_slurp(a.log));
	ck_assert(tt_log_has(a.log, "connection from 127.0.0.1:", 1, 1));
	wait_jq(&a, ".federation.auth_failures >= 2", 3, "auth failures");
	wait_jq(&b, ".federation.links | (.[0].auth_failures >= 1) and "
	    "(.[0].state != \"up\")", 3, "beta's link refused");
	/* Nothing of beta's reached alpha: no link, no route. */
	ck_assert_int_eq(stat_jq(&a, ".federation.links | length == 0"), 0);
	ck_assert_int_eq(stat_jq(&a, "(" ROUTE("fills", "beta") ") | not"),
	    0);
	ck_assert(!tt_log_has(a.log, "link beta", 1, 0.2));
	host_stop(&b);
	host_stop(&a);
}
END_TEST

/* A TCP connection to HOST's listener; fails the test if it cannot. */
static int
dial(const struct host *h)
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

/* True if the peer closes FD within SECS (reads what comes first). */
static bool
closed_by_peer(int fd, double secs)
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

static size_t
frame(uint8_t *out, unsigned type, const struct fed_wbuf *w)
{
	fed_frame_header(out, type, 0, w->p, (uint32_t)w->len);
	memcpy(out + FED_HDR_BYTES, w->p, w->len);
	return FED_HDR_BYTES + w->len;
}

START_TEST(test_preauth_garbage)
{
	struct host a;
	uint8_t pb[1024], out[8192], in[4096];
	struct fed_wbuf w = { pb, 0, sizeof(pb), false };
	struct fed_hello me;
	struct fed_auth au;
	struct fed_route_entry e;
	struct fed_route_reg r;
	struct fed_frame f;
	size_t n, got = 0;
	ssize_t k;
	int fd;

	host_init(&a, "alpha", false, NULL);
	host_start(&a);

	/* Not our protocol at all: cut after its first bytes. */
	fd = dial(&a);
	ck_assert_int_eq(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	ck_assert_msg(closed_by_peer(fd, 3), "garbage was not cut");
	close(fd);
	ck_assert(tt_log_has(a.log, "bad magic before authentication", 1, 2));

	/* A route registration before any handshake: cut, not taken. */
	memset(&e, 0, sizeof(e));
	strcpy(e.topic, "evil");
	e.queues = 1;
	e.flags = FED_ROUTE_HOME;
	r = (struct fed_route_reg){ 99, 1, 1, 0, 1, &e };
	ck_assert_int_eq(fed_route_reg_encode(&w, &r), 1);
	n = frame(out, FED_T_ROUTE_REGISTER, &w);
	fd = dial(&a);
	ck_assert_int_eq(write(fd, out, n), (ssize_t)n);
	ck_assert(closed_by_peer(fd, 3));
	close(fd);
	ck_assert(tt_log_has(a.log, "ROUTE_REGISTER frame before "
	    "authentication", 1, 2));

	/* A handshake with a wrong proof, a registration right behind it in
	 * the same write: refused, and the registration never taken. */
	memset(&me, 0, sizeof(me));
	me.version_min = me.version_max = FED_VERSION;
	me.host_id = 99;
	strcpy(me.host, "mallory");
	w.len = 0;
	ck_assert_int_eq(fed_hello_encode(&w, &me), 0);
	n = frame(out, FED_T_HELLO, &w);
	fd = dial(&a);
	ck_assert_int_eq(write(fd, out, n), (ssize_t)n);
	/* The challenge. */
	while (got < FED_HDR_BYTES || fed_frame_decode(in, got, 4096, &f) == 0) {
		k = read(fd, in + got, sizeof(in) - got);
		ck_assert_int_gt(k, 0);
		got += (size_t)k;
	}
	ck_assert_int_gt(fed_frame_decode(in, got, 4096, &f), 0);
	ck_assert_int_eq(f.type, FED_T_CHALLENGE);
	memset(&au, 0x33, sizeof(au));
	w.len = 0;
	ck_assert_int_eq(fed_auth_encode(&w, &au), 0);
	n = frame(out, FED_T_AUTH, &w);
	w.len = 0;
	ck_assert_int_eq(fed_route_reg_encode(&w, &r), 1);
	n += frame(out + n, FED_T_ROUTE_REGISTER, &w);
	ck_assert_int_eq(write(fd, out, n), (ssize_t)n);
	ck_assert(closed_by_peer(fd, 3));
	close(fd);
	ck_assert(tt_log_has(a.log, "authentication failed", 1, 2));
	wait_jq(&a, ".federation.auth_failures == 1 and "
	    ".federation.rejected >= 2", 3, "counters");
	ck_assert_int_eq(stat_jq(&a, "(.federation.routes | any(.topic == "
	    "\"evil\")) | not"), 0);
	ck_assert_int_eq(stat_jq(&a, ".federation.links | length == 0"), 0);

	/* A frame announcing more than the limit: cut at its header. */
	fd = dial(&a);
	fed_frame_header(out, FED_T_HELLO, 0, pb, 0);
	out[8] = 0x10;		/* 256 MiB */
	ck_assert_int_eq(write(fd, out, 12), 12);
	ck_assert(closed_by_peer(fd, 3));
	close(fd);
	ck_assert(tt_log_has(a.log, "frame larger than the limit before "
	    "authentication", 1, 2));
	host_stop(&a);
}
END_TEST

/* Bad settings stop shmqd at start, with the cause. */
START_TEST(test_bad_config)
{
	struct host a;
	char args[4400];
	int st;

	host_init(&a, "alpha", false, NULL);
	ck_assert_int_eq(chmod(secret_path(false), 0644), 0);
	snprintf(args, sizeof(args), "-c %s", a.conf);
	st = tu_wait_deadline(tt_shmqd_start_log(args, a.log), 10);
	ck_assert_int_eq(st, 1);
	ck_assert(tt_log_has(a.log, "chmod 600", 1, 1));
	ck_assert_int_eq(chmod(secret_path(false), 0600), 0);
	st = tt_run("%s -f -b %s --home %s --peer nowhere --secret-file %s",
	    tu_prog("shmqd/shmqd"), a.bus, a.home, secret_path(false));
	ck_assert_int_eq(st, 2);
	ck_assert_contains(tt_err, "peer");
	st = tt_run("%s -f -b %s --home %s --peer 127.0.0.1:1",
	    tu_prog("shmqd/shmqd"), a.bus, a.home);
	ck_assert_int_eq(st, 2);
	ck_assert_contains(tt_err, "secret_file");
}
END_TEST

/* Start shmqd with CONF in network namespace NS, output to LOG. */
static pid_t
start_in_ns(const char *ns, const char *conf, const char *log)
{
	char cmd[9000];

	snprintf(cmd, sizeof(cmd), "exec ip netns exec %s %s -f --log-level "
	    "debug -c %s >>%s 2>&1", ns, tu_prog("shmqd/shmqd"), conf, log);
	return tt_spawn(cmd);
}

START_TEST(test_netns)
{
	char na[32], nb[32], va[16], vb[16];
	struct host a, b;
	struct host *pa[] = { &a, NULL };

	if (geteuid() != 0 || tu_sh("ip netns list >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_netns: skipped (needs root and ip "
		    "netns)\n");
		return;
	}
	snprintf(na, sizeof(na), "shmqt%da", (int)getpid());
	snprintf(nb, sizeof(nb), "shmqt%db", (int)getpid());
	snprintf(va, sizeof(va), "vq%da", (int)getpid() % 1000000);
	snprintf(vb, sizeof(vb), "vq%db", (int)getpid() % 1000000);
	if (tu_sh("NA=%s NB=%s VA=%s VB=%s; set -e; exec >/dev/null 2>&1; "
	    "ip netns add $NA; ip netns add $NB; "
	    "ip link add $VA type veth peer name $VB; "
	    "ip link set $VA netns $NA; ip link set $VB netns $NB; "
	    "ip -n $NA addr add 10.231.0.1/24 dev $VA; "
	    "ip -n $NB addr add 10.231.0.2/24 dev $VB; "
	    "ip -n $NA link set $VA up; ip -n $NB link set $VB up; "
	    "ip -n $NA link set lo up; ip -n $NB link set lo up",
	    na, nb, va, vb) != 0) {
		fprintf(stderr, "test_netns: skipped (cannot make namespaces "
		    "and a veth pair)\n");
		tu_sh("ip netns del %s; ip netns del %s", na, nb);
		return;
	}
	host_init(&a, "alpha", false, NULL);
	host_init(&b, "beta", false, pa);
	/* On the veth addresses, each in its namespace. */
	tu_sh("sed -i 's/^listen = .*/listen = 10.231.0.1:%d/' %s", a.port,
	    a.conf);
	tu_sh("sed -i 's/^listen = .*/listen = 10.231.0.2:%d/; "
	    "s/^peer = .*/peer = 10.231.0.1:%d/' %s", b.port, a.port, b.conf);
	a.pid = start_in_ns(na, a.conf, a.log);
	b.pid = start_in_ns(nb, b.conf, b.log);
	topic_create(&a, "orders", 1);
	wait_jq(&b, ROUTE("orders", "alpha"), 5, "orders over the veth");
	/* Cut: no frame for 3 heartbeats drops the link. */
	ck_assert_int_eq(tu_sh("ip -n %s link set %s down", na, va), 0);
	wait_jq(&b, ".federation.links | any(.state != \"up\")", 5,
	    "link down after the cut");
	ck_assert_int_eq(tu_sh("ip -n %s link set %s up", na, va), 0);
	wait_jq(&b, LINK_UP("alpha"), 8, "link back after the repair");
	wait_jq(&b, ".federation.links | any(.reconnects >= 1)", 2,
	    "a reconnect counted");
	ck_assert(tt_log_has(b.log, "down: no heartbeat", 1, 1));
	host_stop(&b);
	host_stop(&a);
	tu_sh("ip netns del %s; ip netns del %s", na, nb);
}
END_TEST

static Suite *
link_suite(void)
{
	Suite *s = suite_create("link");
	TCase *tc = tcase_create("loopback");

	tcase_add_checked_fixture(tc, tt_setup, tt_teardown);
	tcase_set_timeout(tc, 40);
	tcase_add_test(tc, test_two_buses);
	tcase_add_test(tc, test_three_buses_kill);
	tcase_add_test(tc, test_wrong_secret);
	tcase_add_test(tc, test_preauth_garbage);
	tcase_add_test(tc, test_bad_config);
	suite_add_tcase(s, tc);
	tc = tcase_create("netns");
	tcase_add_checked_fixture(tc, tt_setup, tt_teardown);
	tcase_set_timeout(tc, 40);
	tcase_add_test(tc, test_netns);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(link_suite);
}
