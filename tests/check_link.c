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
#include "fedtest.h"

#include "auth.h"
#include "frame.h"

START_TEST(test_two_buses)
{
	struct ft_host a, b;
	struct ft_host *pa[] = { &a, NULL };
	struct shmq_route_info ri[4];
	struct shmq_bus *bus;

	ft_host_init(&a, "alpha", false, NULL);
	ft_host_init(&b, "beta", false, pa);
	ft_host_start(&a);
	ft_host_start(&b);
	ft_topic_create(&a, "orders", 4);
	ft_topic_create(&b, "fills", 2);
	ft_wait_jq(&a, FT_LINK_UP("beta"), 5, "link to beta up");
	ft_wait_jq(&b, FT_LINK_UP("alpha"), 5, "link to alpha up");
	ft_wait_jq(&b, FT_ROUTE("orders", "alpha"), 5,
	    "orders on beta's table");
	ft_wait_jq(&a, FT_ROUTE("fills", "beta"), 5, "fills on alpha's table");
	/* The local route is marked local and home; the remote one home. */
	ck_assert_int_eq(ft_stat_jq(&b, ".federation.routes | any(.topic == "
	    "\"orders\" and .home and (.local | not) and .queues == 4)"), 0);
	ck_assert_int_eq(ft_stat_jq(&b, ".federation.routes | any(.topic == "
	    "\"fills\" and .local and .home)"), 0);
	/* One connection per pair: beta dialed, alpha accepted. */
	ck_assert_int_eq(ft_stat_jq(&a, ".federation.links | length == 1 and "
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

	ft_host_stop(&b);
	ft_host_stop(&a);
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
	struct ft_host a, b, c;
	struct ft_host *pa[] = { &a, NULL }, *pab[] = { &a, &b, NULL };

	ft_host_init(&a, "alpha", false, NULL);
	ft_host_init(&b, "beta", false, pa);
	ft_host_init(&c, "gamma", false, pab);
	ft_host_start(&a);
	ft_host_start(&b);
	ft_host_start(&c);
	ft_topic_create(&a, "orders", 2);
	ft_topic_create(&b, "quotes", 1);
	ft_wait_jq(&b, FT_ROUTE("orders", "alpha"), 5, "orders on beta");
	ft_wait_jq(&c, FT_ROUTE("orders", "alpha"), 5, "orders on gamma");
	ft_wait_jq(&c, FT_ROUTE("quotes", "beta"), 5, "quotes on gamma");
	ft_wait_jq(&a, FT_ROUTE("quotes", "beta"), 5, "quotes on alpha");

	kill(b.pid, SIGKILL);
	ck_assert_int_eq(tu_wait(b.pid), 128 + SIGKILL);
	b.pid = 0;
	/* The link drops at once (closed), the routes after expiry. */
	ft_wait_jq(&c, ".federation.links | any(.host == \"beta\" and .state "
	    "!= \"up\")", 3, "link to beta down");
	ck_assert_int_eq(ft_stat_jq(&c, FT_ROUTE("quotes", "beta")), 0);
	ft_wait_jq(&c, "(" FT_ROUTE("quotes", "beta") ") | not", 5,
	    "beta's routes expired");
	ft_wait_jq(&a, "(" FT_ROUTE("quotes", "beta") ") | not", 5,
	    "beta's routes expired");
	ck_assert(tt_log_has(a.log, "routes of beta expired", 1, 1));
	/* Alpha's own routes stay on gamma meanwhile. */
	ck_assert_int_eq(ft_stat_jq(&c, FT_ROUTE("orders", "alpha")), 0);

	/* Back: gamma's backoff dials it again; the routes return. */
	ft_host_start(&b);
	ft_wait_jq(&c, FT_LINK_UP("beta"), 5, "link to beta up again");
	ft_wait_jq(&c, FT_ROUTE("quotes", "beta"), 5, "beta's routes back");
	ft_wait_jq(&a, FT_ROUTE("quotes", "beta"), 5, "beta's routes back");
	ck_assert_int_eq(ft_stat_jq(&c, ".federation.links | any(.host == "
	    "\"beta\" and .reconnects >= 1)"), 0);
	ft_host_stop(&c);
	ft_host_stop(&b);
	ft_host_stop(&a);
}
END_TEST

START_TEST(test_wrong_secret)
{
	struct ft_host a, b;
	struct ft_host *pa[] = { &a, NULL };

	ft_host_init(&a, "alpha", false, NULL);
	ft_host_init(&b, "beta", true, pa);
	ft_host_start(&a);
	ft_topic_create(&b, "fills", 1);
	ft_host_start(&b);
	ck_assert_msg(tt_log_has(a.log, "authentication failed", 2, 5),
	    "%s", tt_slurp(a.log));
	ck_assert(tt_log_has(a.log, "connection from 127.0.0.1:", 1, 1));
	ft_wait_jq(&a, ".federation.auth_failures >= 2", 3, "auth failures");
	ft_wait_jq(&b, ".federation.links | (.[0].auth_failures >= 1) and "
	    "(.[0].state != \"up\")", 3, "beta's link refused");
	/* Nothing of beta's reached alpha: no link, no route. */
	ck_assert_int_eq(ft_stat_jq(&a, ".federation.links | length == 0"), 0);
	ck_assert_int_eq(ft_stat_jq(&a,
	    "(" FT_ROUTE("fills", "beta") ") | not"), 0);
	ck_assert(!tt_log_has(a.log, "link beta", 1, 0.2));
	ft_host_stop(&b);
	ft_host_stop(&a);
}
END_TEST

static size_t
frame(uint8_t *out, unsigned type, const struct fed_wbuf *w)
{
	fed_frame_header(out, type, 0, w->p, (uint32_t)w->len);
	memcpy(out + FED_HDR_BYTES, w->p, w->len);
	return FED_HDR_BYTES + w->len;
}

START_TEST(test_preauth_garbage)
{
	struct ft_host a;
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

	ft_host_init(&a, "alpha", false, NULL);
	ft_host_start(&a);

	/* Not our protocol at all: cut after its first bytes. */
	fd = ft_dial(&a);
	ck_assert_int_eq(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	ck_assert_msg(ft_closed_by_peer(fd, 3), "garbage was not cut");
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
	fd = ft_dial(&a);
	ck_assert_int_eq(write(fd, out, n), (ssize_t)n);
	ck_assert(ft_closed_by_peer(fd, 3));
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
	fd = ft_dial(&a);
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
	ck_assert(ft_closed_by_peer(fd, 3));
	close(fd);
	ck_assert(tt_log_has(a.log, "authentication failed", 1, 2));
	ft_wait_jq(&a, ".federation.auth_failures == 1 and "
	    ".federation.rejected >= 2", 3, "counters");
	ck_assert_int_eq(ft_stat_jq(&a, "(.federation.routes | any(.topic == "
	    "\"evil\")) | not"), 0);
	ck_assert_int_eq(ft_stat_jq(&a, ".federation.links | length == 0"), 0);

	/* A frame announcing more than the limit: cut at its header. */
	fd = ft_dial(&a);
	fed_frame_header(out, FED_T_HELLO, 0, pb, 0);
	out[8] = 0x10;		/* 256 MiB */
	ck_assert_int_eq(write(fd, out, 12), 12);
	ck_assert(ft_closed_by_peer(fd, 3));
	close(fd);
	ck_assert(tt_log_has(a.log, "frame larger than the limit before "
	    "authentication", 1, 2));
	ft_host_stop(&a);
}
END_TEST

/* Bad settings stop shmqd at start, with the cause. */
START_TEST(test_bad_config)
{
	struct ft_host a;
	int st;

	ft_host_init(&a, "alpha", false, NULL);
	ck_assert_int_eq(chmod(ft_secret_path(false), 0644), 0);
	st = tu_wait_deadline(ft_host_spawn(&a, ""), 10);
	ck_assert_int_eq(st, 1);
	ck_assert(tt_log_has(a.log, "chmod 600", 1, 1));
	ck_assert_int_eq(chmod(ft_secret_path(false), 0600), 0);
	st = tt_run("%s -f -b %s --home %s --peer nowhere --secret-file %s",
	    tu_prog("shmqd/shmqd"), a.bus, a.home, ft_secret_path(false));
	ck_assert_int_eq(st, 2);
	ck_assert_contains(tt_err, "peer");
	st = tt_run("%s -f -b %s --home %s --peer 127.0.0.1:1",
	    tu_prog("shmqd/shmqd"), a.bus, a.home);
	ck_assert_int_eq(st, 2);
	ck_assert_contains(tt_err, "secret_file");
}
END_TEST

START_TEST(test_netns)
{
	struct ft_host a, b;
	struct ft_host *pa[] = { &a, NULL };
	struct ft_netns n;

	if (!ft_netns_make(&n, "test_netns"))
		return;
	/* On the veth addresses, each in its namespace. */
	ft_host_init(&a, "alpha", false, NULL);
	ft_netns_place(&n, 0, &a);
	ft_host_init(&b, "beta", false, pa);
	ft_netns_place(&n, 1, &b);
	ft_host_start(&a);
	ft_host_start(&b);
	ft_topic_create(&a, "orders", 1);
	ft_wait_jq(&b, FT_ROUTE("orders", "alpha"), 5, "orders over the veth");
	/* Cut: no frame for 3 heartbeats drops the link. */
	ft_netns_link(&n, 0, false);
	ft_wait_jq(&b, ".federation.links | any(.state != \"up\")", 5,
	    "link down after the cut");
	ft_netns_link(&n, 0, true);
	ft_wait_jq(&b, FT_LINK_UP("alpha"), 8, "link back after the repair");
	ft_wait_jq(&b, ".federation.links | any(.reconnects >= 1)", 2,
	    "a reconnect counted");
	ck_assert(tt_log_has(b.log, "down: no heartbeat", 1, 1));
	ft_host_stop(&b);
	ft_host_stop(&a);
	ft_netns_del(&n);
}
END_TEST

static Suite *
link_suite(void)
{
	Suite *s = suite_create("link");
	TCase *tc = tcase_create("loopback");

	tcase_add_checked_fixture(tc, tt_setup, ft_teardown);
	tcase_set_timeout(tc, 40);
	tcase_add_test(tc, test_two_buses);
	tcase_add_test(tc, test_three_buses_kill);
	tcase_add_test(tc, test_wrong_secret);
	tcase_add_test(tc, test_preauth_garbage);
	tcase_add_test(tc, test_bad_config);
	suite_add_tcase(s, tc);
	tc = tcase_create("netns");
	tcase_add_checked_fixture(tc, tt_setup, ft_teardown);
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
