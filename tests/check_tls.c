/*
 * check_tls.c - TLS under federation links and replication channels
 * (doc/federation.md, "TLS"), between real shmqd processes on loopback
 * (fedtest.h), with certificates made at test time by openssl(1): a CA
 * that signs alpha's, beta's, gamma's and delta's, and another CA that
 * signs mallory's.
 *
 *  - Two TLS hosts link and register routes; shmq-stat says TLS.
 *  - A topic is mirrored over TLS through a TCP relay of this test that
 *    forwards every byte and scans them: the mirror matches the home
 *    (offsets, ids, bodies), every connection the relay saw began with a
 *    TLS record, and the bodies' marker string never crossed the wire.
 *    The same run with TLS off finds the marker (the scan works).
 *  - A host whose certificate another CA signed is refused both ways.
 *  - A TLS host and a plain host do not link, either dialing: both log
 *    why and count it.
 *  - Plain bytes, a plain HELLO, a stalled and a garbled TLS handshake at
 *    a TLS listener are cut (a plain HELLO gets a plain ERROR first);
 *    shmqd goes on and still links.
 *  - Bad TLS settings stop shmqd at start with exit 2, naming the key and
 *    the file.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

#include "frame.h"

#define MARKER		"TLS-CANARY-never-on-the-wire-5f1d9c0e"

/* ------------------------------------------------------------------ */
/* Certificates and hosts                                              */
/* ------------------------------------------------------------------ */

static char certs[4200];

/* The CAs and the hosts' certificates, in <home>/tls. */
static void
certs_make(void)
{
	snprintf(certs, sizeof(certs), "%s/tls", tu_home());
	ck_assert_msg(tu_sh("set -e; mkdir -p %s; cd %s; exec >log 2>&1; "
	    "ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'; "
	    "for ca in ca1 ca2; do openssl req -x509 $ec -keyout $ca.key "
	    "-out $ca.pem -days 2 -subj /CN=shmq-test-$ca; done; "
	    "mk() { openssl req $ec -keyout $1.key -out $1.csr -subj /CN=$1; "
	    "openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key "
	    "-CAcreateserial -out $1.pem -days 2; }; "
	    "mk alpha ca1; mk beta ca1; mk gamma ca1; mk delta ca1; "
	    "mk mallory ca2; chmod 600 *.key", certs, certs) == 0,
	    "openssl failed: see %s/log", certs);
}

/* TLS on for H, with the certificate and key of CERT, trusting CA. */
static void
tls_on(struct ft_host *h, const char *cert, const char *ca)
{
	ft_host_conf(h, "tls = on");
	ft_host_conf(h, "tls_cert = %s/%s.pem", certs, cert);
	ft_host_conf(h, "tls_key = %s/%s.key", certs, cert);
	ft_host_conf(h, "tls_ca = %s/%s.pem", certs, ca);
}

static void
setup(void)
{
	tt_setup();
	certs_make();
}

/* ------------------------------------------------------------------ */
/* A relay that scans what it forwards                                 */
/* ------------------------------------------------------------------ */

struct relay_stats {
	uint64_t	 conns;		/* accepted */
	uint64_t	 tls_conns;	/* ... whose first byte was a TLS record's */
	uint64_t	 bytes;		/* forwarded, both ways */
	uint64_t	 hits;		/* MARKER seen */
};

struct relay {
	int			 port;
	pid_t			 pid;
	struct relay_stats	*st;
};

#define RELAY_PAIRS	16

/* One direction of a relayed connection. */
struct dir {
	int		 from, to;
	bool		 first;		/* no byte yet */
	char		 tail[sizeof(MARKER)];	/* the last bytes, for a
						   marker across reads */
	size_t		 tlen;
};

/* The parent reads the figures while the relay runs. */
#define relay_add(st, f, n)	__atomic_fetch_add((f), (n), __ATOMIC_RELAXED)

/* Forward what FROM has to TO, scanning it.  False when it closed. */
static bool
relay_pass(struct relay_stats *st, struct dir *d, bool client)
{
	char buf[65536 + sizeof(MARKER)], *p;
	size_t ml = sizeof(MARKER) - 1, have;
	ssize_t n, w;

	memcpy(buf, d->tail, d->tlen);
	n = read(d->from, buf + d->tlen, 65536);
	if (n <= 0)
		return false;
	if (client && d->first && (uint8_t)buf[d->tlen] == 0x16)
		relay_add(st, &st->tls_conns, 1);
	d->first = false;
	for (p = buf + d->tlen, have = (size_t)n; have > 0; ) {
		if ((w = write(d->to, p, have)) <= 0)
			return false;
		p += w;
		have -= (size_t)w;
	}
	relay_add(st, &st->bytes, (uint64_t)n);
	have = d->tlen + (size_t)n;
	for (p = buf; (p = memmem(p, have - (size_t)(p - buf), MARKER,
	    ml)) != NULL; p++)
		relay_add(st, &st->hits, 1);
	d->tlen = have < ml - 1 ? have : ml - 1;
	memcpy(d->tail, buf + have - d->tlen, d->tlen);
	return true;
}

static int
connect_port(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

static void __attribute__((noreturn))
relay_run(int lfd, int target, struct relay_stats *st)
{
	struct dir d[RELAY_PAIRS * 2];
	struct pollfd pfd[RELAY_PAIRS * 2 + 1];
	int n = 0, i, fd, up;

	for (;;) {
		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		for (i = 0; i < n; i++) {
			pfd[i + 1].fd = d[i].from;
			pfd[i + 1].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)n + 1, -1) < 0)
			continue;
		if ((pfd[0].revents & POLLIN) && n < RELAY_PAIRS * 2 &&
		    (fd = accept(lfd, NULL, NULL)) >= 0) {
			if ((up = connect_port(target)) < 0)
				close(fd);
			else {
				relay_add(st, &st->conns, 1);
				d[n] = (struct dir){ fd, up, true, "", 0 };
				d[n + 1] = (struct dir){ up, fd, true, "", 0 };
				n += 2;
			}
		}
		for (i = 0; i < n; i++) {
			if (pfd[i + 1].revents == 0 ||
			    relay_pass(st, &d[i], i % 2 == 0))
				continue;
			/* Closed: both directions of the pair go. */
			i -= i % 2;
			close(d[i].from);
			close(d[i].to);
			memmove(&d[i], &d[i + 2], (size_t)(n - i - 2) *
			    sizeof(d[0]));
			memmove(&pfd[i + 1], &pfd[i + 3], (size_t)(n - i - 2) *
			    sizeof(pfd[0]));
			n -= 2;
			i--;
		}
	}
}

/* A relay to 127.0.0.1:TARGET on a port of its own, in a child process. */
static void
relay_start(struct relay *r, int target)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	r->st = tu_shared_new(sizeof(*r->st));
	ck_assert_int_ge(lfd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(lfd, 16), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &l), 0);
	r->port = ntohs(a.sin_port);
	r->pid = fork();
	ck_assert_int_ge(r->pid, 0);
	if (r->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		relay_run(lfd, target, r->st);
	}
	close(lfd);
}

static void
relay_stop(struct relay *r)
{
	kill(r->pid, SIGKILL);
	tu_wait(r->pid);
	munmap(r->st, sizeof(*r->st));
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

#define NQ	2

/* Send messages FIRST..FIRST+N with MARKER in their bodies to TOPIC on
 * BUS, message i to queue i % NQ. */
static void
send_marked(struct shmq_bus *bus, const char *topic, unsigned first,
    unsigned n)
{
	struct shmq_producer *p;
	struct shmq_msg m;
	char body[1500];
	unsigned i;
	int rc;

	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (i = first; i < first + n; i++) {
		/* Sizes vary so that frames and records do too. */
		snprintf(body, sizeof(body), "%u %s %0*u", i, MARKER,
		    (int)(i * 37 % 1400), i);
		shmq_msg_init(&m);
		m.topic = topic;
		m.body = body;
		m.body_len = strlen(body);
		m.queue = (int)(i % NQ);
		m.keys = "k1 k2";
		m.tags = "tagA";
		rc = shmq_producer_send(p, &m, NULL);
		ck_assert_msg(rc == 0, "send: %s", shmq_err_name(rc));
	}
	shmq_producer_close(p);
}

/* Messages of queue Q of TOPIC on BUS, from the first, up to MAX, waiting
 * (SECS scaled) for WANT of them. */
struct got {
	uint64_t	 off;
	char		 id[SHMQ_MSGID_LEN + 1];
	char		*body;
	size_t		 len;
};

static unsigned
read_queue(struct shmq_bus *bus, const char *topic, int q, struct got *g,
    unsigned want, double secs)
{
	struct shmq_consumer *c;
	struct shmq_msgview v[64];
	uint64_t t0 = tu_mono_ns();
	unsigned n = 0;
	int k, i;

	ck_assert_int_eq(shmq_consumer_open(&c, bus), 0);
	/* A mirror topic is made by its first REPL_STATE. */
	while (shmq_consumer_assign(c, topic, q, "*") != 0) {
		ck_assert_msg(tu_mono_ns() - t0 < (uint64_t)(secs * 1e9 *
		    tu_mult()), "topic %s never came", topic);
		usleep(20000);
	}
	ck_assert_int_eq(shmq_consumer_seek(c, topic, q, SHMQ_SEEK_FIRST, 0),
	    0);
	while (n < want) {
		k = shmq_consumer_poll(c, v, 64, 0);
		ck_assert_int_ge(k, 0);
		for (i = 0; i < k && n < want; i++, n++) {
			g[n].off = v[i].queue_off;
			memcpy(g[n].id, v[i].msg_id, sizeof(g[n].id));
			g[n].body = malloc(v[i].body_len);
			ck_assert_ptr_nonnull(g[n].body);
			memcpy(g[n].body, v[i].body, v[i].body_len);
			g[n].len = v[i].body_len;
		}
		if (k == 0) {
			if (tu_mono_ns() - t0 > (uint64_t)(secs * 1e9 *
			    tu_mult()))
				break;
			usleep(5000);
		}
	}
	shmq_consumer_close(c);
	return n;
}

/* The mirror's TOPIC on M holds the home's N messages on H, the same. */
static void
same_topic(struct shmq_bus *h, struct shmq_bus *m, const char *topic,
    unsigned n)
{
	struct got *gh = calloc(n, sizeof(*gh)), *gm = calloc(n, sizeof(*gm));
	unsigned want, nh, nm, i;
	int q;

	ck_assert(gh != NULL && gm != NULL);
	for (q = 0; q < NQ; q++) {
		want = n / NQ + ((unsigned)q < n % NQ);
		nh = read_queue(h, topic, q, gh, want, 5);
		ck_assert_uint_eq(nh, want);
		nm = read_queue(m, topic, q, gm, want, 10);
		ck_assert_msg(nm == want, "queue %d: the mirror holds %u of "
		    "%u", q, nm, want);
		for (i = 0; i < want; i++) {
			ck_assert_uint_eq(gh[i].off, gm[i].off);
			ck_assert_str_eq(gh[i].id, gm[i].id);
			ck_assert(gh[i].len == gm[i].len && memcmp(gh[i].body,
			    gm[i].body, gh[i].len) == 0);
			ck_assert(memmem(gm[i].body, gm[i].len, MARKER,
			    sizeof(MARKER) - 1) != NULL);
			free(gh[i].body);
			free(gm[i].body);
		}
	}
	free(gh);
	free(gm);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

START_TEST(test_link_routes)
{
	struct ft_host a, b;
	struct ft_host *pa[] = { &a, NULL };

	ft_host_init(&a, "alpha", false, NULL);
	tls_on(&a, "alpha", "ca1");
	ft_host_init(&b, "beta", false, pa);
	tls_on(&b, "beta", "ca1");
	ft_host_start(&a);
	ft_host_start(&b);
	ft_topic_create(&a, "orders", 2);
	ft_topic_create(&b, "fills", 1);
	ft_wait_jq(&b, FT_ROUTE("orders", "alpha"), 5, "orders on beta");
	ft_wait_jq(&a, FT_ROUTE("fills", "beta"), 5, "fills on alpha");
	ft_wait_jq(&a, ".federation.links | any(.host == \"beta\" and "
	    ".state == \"up\" and .tls)", 2, "alpha's link up, TLS");
	ft_wait_jq(&b, ".federation.links | any(.host == \"alpha\" and "
	    ".state == \"up\" and .tls)", 2, "beta's link up, TLS");
	ck_assert(tt_log_has(a.log, "up, accepted, TLSv1.3", 1, 1));
	ck_assert(tt_log_has(b.log, "up, dialed, TLSv1.3", 1, 1));
	ck_assert_int_eq(tt_run("%s -b %s --home %s",
	    tu_prog("utils/shmq-stat"), b.bus, b.home), 0);
	ck_assert_contains(tt_out, "dial+tls");
	ft_host_stop(&b);
	ft_host_stop(&a);
}
END_TEST

/*
 * Home alpha, mirror beta reaching alpha (link and channel) through the
 * relay; TLS on both or neither.  Returns what the relay saw.
 */
static struct relay_stats
mirror_through_relay(bool tls, const char *home, const char *mirror,
    unsigned n)
{
	struct ft_host a, b;
	struct relay r;
	struct relay_stats st;
	struct shmq_bus *ha, *hb;

	ft_host_init(&a, home, false, NULL);
	ft_host_init(&b, mirror, false, NULL);
	if (tls) {
		tls_on(&a, home, "ca1");
		tls_on(&b, mirror, "ca1");
	}
	relay_start(&r, a.port);
	ft_host_conf(&b, "peer = 127.0.0.1:%d", r.port);
	ft_host_conf(&b, "mirror = orders@127.0.0.1:%d", r.port);
	ft_host_start(&a);
	ft_topic_create(&a, "orders", NQ);
	ft_host_start(&b);
	/* Processes first, then buses (no fork with a bus open). */
	ha = ft_bus_open(&a);
	hb = ft_bus_open(&b);
	send_marked(ha, "orders", 0, n / 2);
	ft_wait_jq(&b, ".federation.links | any(.state == \"up\")", 5,
	    "link up through the relay");
	send_marked(ha, "orders", n / 2, n - n / 2);
	same_topic(ha, hb, "orders", n);
	ck_assert_int_eq(ft_stat_jq(&b, tls ? ".federation.links | all(.tls)" :
	    ".federation.links | all(.tls | not)"), 0);
	shmq_bus_close(hb);
	shmq_bus_close(ha);
	ft_host_stop(&b);
	ft_host_stop(&a);
	memcpy(&st, r.st, sizeof(st));
	relay_stop(&r);
	return st;
}

START_TEST(test_repl_encrypted)
{
	struct relay_stats st;
	unsigned n = 600;

	st = mirror_through_relay(true, "alpha", "beta", n);
	/* The link and one channel at least, all TLS from their first byte,
	 * and more bytes than the bodies: they did cross the relay. */
	ck_assert_uint_ge(st.conns, 2);
	ck_assert_uint_eq(st.tls_conns, st.conns);
	ck_assert_uint_gt(st.bytes, (uint64_t)n * sizeof(MARKER));
	ck_assert_msg(st.hits == 0, "the marker crossed the wire %llu times",
	    (unsigned long long)st.hits);

	/* The same without TLS: the scan does find it. */
	st = mirror_through_relay(false, "gamma", "delta", 50);
	ck_assert_uint_ge(st.conns, 2);
	ck_assert_uint_eq(st.tls_conns, 0);
	ck_assert_uint_ge(st.hits, 50);
}
END_TEST

START_TEST(test_wrong_ca)
{
	struct ft_host a, m;
	struct ft_host *pa[] = { &a, NULL };

	/* Mallory's certificate is ca2's; it trusts ca1, as alpha does. */
	ft_host_init(&a, "alpha", false, NULL);
	tls_on(&a, "alpha", "ca1");
	ft_host_init(&m, "mallory", false, pa);
	tls_on(&m, "mallory", "ca1");
	ft_topic_create(&m, "evil", 1);
	ft_host_start(&a);
	ft_host_start(&m);
	ck_assert_msg(tt_log_has(a.log, "certificate is refused", 2, 5),
	    "%s", ft_log_tail(&a, 2000));
	ck_assert_msg(tt_log_has(m.log, "TLS: ", 2, 5), "%s",
	    ft_log_tail(&m, 2000));
	ft_wait_jq(&a, ".federation.auth_failures >= 2", 3,
	    "alpha counts auth failures");
	ft_wait_jq(&m, ".federation.links | .[0].auth_failures >= 1 and "
	    ".[0].state != \"up\"", 3, "mallory's link refused");
	ck_assert_int_eq(ft_stat_jq(&a, ".federation.links | length == 0"), 0);
	ck_assert_int_eq(ft_stat_jq(&a, "(" FT_ROUTE("evil", "mallory")
	    ") | not"), 0);
	ft_host_stop(&m);

	/* A host that trusts ca2 only refuses alpha's certificate, and
	 * alpha learns it (TLS 1.3: after its own handshake step). */
	ft_host_init(&m, "mallory2", false, pa);
	tls_on(&m, "mallory", "ca2");
	ft_host_start(&m);
	ck_assert_msg(tt_log_has(m.log, "certificate is refused", 1, 5),
	    "%s", ft_log_tail(&m, 2000));
	ft_wait_jq(&m, ".federation.links | .[0].auth_failures >= 1 and "
	    ".[0].state != \"up\"", 3, "mallory2's link refused");
	ck_assert_int_eq(ft_stat_jq(&a, ".federation.links | length == 0"), 0);
	ft_host_stop(&m);
	ft_host_stop(&a);
}
END_TEST

START_TEST(test_mixed)
{
	struct ft_host a, b, c, d;
	struct ft_host *pa[] = { &a, NULL }, *pc[] = { &c, NULL };

	/* A plain host dials a TLS host. */
	ft_host_init(&a, "alpha", false, NULL);
	tls_on(&a, "alpha", "ca1");
	ft_host_init(&b, "beta", false, pa);
	ft_host_start(&a);
	ft_host_start(&b);
	ck_assert_msg(tt_log_has(a.log, "the peer has tls off", 2, 5), "%s",
	    ft_log_tail(&a, 2000));
	ck_assert_msg(tt_log_has(b.log, "this host has tls on", 2, 5), "%s",
	    ft_log_tail(&b, 2000));
	ft_wait_jq(&a, ".federation.rejected >= 2", 3, "alpha counts them");
	ft_wait_jq(&b, ".federation.links | .[0].rejected >= 2 and "
	    ".[0].state != \"up\"", 3, "beta's link refused");

	/* A TLS host dials a plain host. */
	ft_host_init(&c, "gamma", false, NULL);
	ft_host_init(&d, "delta", false, pc);
	tls_on(&d, "delta", "ca1");
	ft_host_start(&c);
	ft_host_start(&d);
	ck_assert_msg(tt_log_has(c.log, "the peer has tls on, this host off",
	    2, 5), "%s", ft_log_tail(&c, 2000));
	ck_assert_msg(tt_log_has(d.log, "is tls off there?", 2, 5), "%s",
	    ft_log_tail(&d, 2000));
	ft_wait_jq(&c, ".federation.rejected >= 2", 3, "gamma counts them");
	ft_wait_jq(&d, ".federation.links | .[0].rejected >= 2 and "
	    ".[0].state != \"up\"", 3, "delta's link refused");
	ck_assert_int_eq(ft_stat_jq(&a, ".federation.links | length == 0"), 0);
	ck_assert_int_eq(ft_stat_jq(&c, ".federation.links | length == 0"), 0);
	ft_host_stop(&d);
	ft_host_stop(&c);
	ft_host_stop(&b);
	ft_host_stop(&a);
}
END_TEST

START_TEST(test_plain_bytes)
{
	struct ft_host a, b;
	struct ft_host *pa[] = { &a, NULL };
	uint8_t pb[1024], out[2048], in[4096];
	struct fed_wbuf w = { pb, 0, sizeof(pb), false };
	struct fed_hello me;
	struct fed_frame f;
	struct fed_error e;
	size_t got = 0;
	ssize_t k;
	int fd, i;

	ft_host_init(&a, "alpha", false, NULL);
	tls_on(&a, "alpha", "ca1");
	ft_host_start(&a);

	/* Not TLS at all. */
	fd = ft_dial(&a);
	ck_assert_int_eq(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	ck_assert_msg(ft_closed_by_peer(fd, 3), "plain bytes were not cut");
	close(fd);
	ck_assert(tt_log_has(a.log, "not a TLS handshake (tls is on here)", 1,
	    2));

	/* A plain HELLO: a plain ERROR comes back, then the end. */
	memset(&me, 0, sizeof(me));
	me.version_min = me.version_max = FED_VERSION;
	me.host_id = 99;
	strcpy(me.host, "plainpeer");
	ck_assert_int_eq(fed_hello_encode(&w, &me), 0);
	fed_frame_header(out, FED_T_HELLO, 0, w.p, (uint32_t)w.len);
	memcpy(out + FED_HDR_BYTES, w.p, w.len);
	fd = ft_dial(&a);
	ck_assert_int_eq(write(fd, out, FED_HDR_BYTES + w.len),
	    (ssize_t)(FED_HDR_BYTES + w.len));
	while (fed_frame_decode(in, got, 4096, &f) == 0) {
		k = read(fd, in + got, sizeof(in) - got);
		ck_assert_int_gt(k, 0);
		got += (size_t)k;
	}
	ck_assert_int_gt(fed_frame_decode(in, got, 4096, &f), 0);
	ck_assert_int_eq(f.type, FED_T_ERROR);
	ck_assert_int_eq(fed_error_decode(f.payload, f.length, &e), 0);
	ck_assert_int_eq(e.code, SHMQ_EPROTO);
	ck_assert_contains(e.msg, "tls = on");
	ck_assert(ft_closed_by_peer(fd, 3));
	close(fd);

	/* A TLS record header, then silence: cut at the deadline. */
	fd = ft_dial(&a);
	ck_assert_int_eq(write(fd, "\x16\x03\x01\x02\x00\x01\x00", 7), 7);
	ck_assert_msg(ft_closed_by_peer(fd, 5), "a stalled handshake stayed");
	close(fd);
	ck_assert(tt_log_has(a.log, "TLS handshake not done in", 1, 1));

	/* A TLS record header and garbage. */
	memset(out, 0xa5, sizeof(out));
	memcpy(out, "\x16\x03\x01\x07\xf0", 5);
	fd = ft_dial(&a);
	ck_assert_int_eq(write(fd, out, sizeof(out)), (ssize_t)sizeof(out));
	ck_assert_msg(ft_closed_by_peer(fd, 3), "garbled TLS was not cut");
	close(fd);

	/* Many at once, each a few bytes, closed by us mid-way. */
	for (i = 0; i < 20; i++) {
		fd = ft_dial(&a);
		ck_assert_int_eq(write(fd, "\x16\x03", 2), 2);
		close(fd);
	}
	ft_wait_jq(&a, ".federation.rejected >= 4", 3, "rejections counted");
	ck_assert_int_eq(ft_stat_jq(&a, ".federation.links | length == 0"), 0);

	/* Still serving: a TLS peer links. */
	ft_host_init(&b, "beta", false, pa);
	tls_on(&b, "beta", "ca1");
	ft_host_start(&b);
	ft_wait_jq(&a, FT_LINK_UP("beta"), 5, "beta links after all that");
	ft_host_stop(&b);
	ft_host_stop(&a);
}
END_TEST

/* Start H expecting exit 2 and a log line with A and B. */
static void
refused(struct ft_host *h, const char *a, const char *b)
{
	int st;

	st = tu_wait_deadline(ft_host_spawn(h, ""), 10);
	ck_assert_msg(st == 2, "exit %d; log:\n%s", st, ft_log_tail(h, 1500));
	ck_assert_msg(tt_log_has(h->log, a, 1, 0.1) && tt_log_has(h->log, b,
	    1, 0.1), "no \"%s\" and \"%s\" in:\n%s", a, b,
	    ft_log_tail(h, 1500));
	ck_assert_int_eq(truncate(h->log, 0), 0);
}

START_TEST(test_bad_config)
{
	struct ft_host a;
	char base[4300], path[4400];

	ft_host_init(&a, "alpha", false, NULL);
	snprintf(base, sizeof(base), "%s", a.conf);
	ck_assert_int_eq(tu_sh("cp %s %s.base", a.conf, a.conf), 0);
#define RESET() ck_assert_int_eq(tu_sh("cp %s.base %s", base, base), 0)

	ft_host_conf(&a, "tls = on");
	refused(&a, "tls = on needs tls_cert", "federation");
	RESET();
	ft_host_conf(&a, "tls = maybe");
	refused(&a, "tls: \"maybe\"", "on or off");

	/* The key readable by others. */
	RESET();
	tls_on(&a, "alpha", "ca1");
	snprintf(path, sizeof(path), "%s/alpha.key", certs);
	ck_assert_int_eq(chmod(path, 0644), 0);
	refused(&a, "tls_key", "chmod 600");
	ck_assert_int_eq(chmod(path, 0600), 0);

	/* Missing files. */
	RESET();
	ft_host_conf(&a, "tls = on");
	ft_host_conf(&a, "tls_cert = %s/alpha.pem", certs);
	ft_host_conf(&a, "tls_key = %s/alpha.key", certs);
	ft_host_conf(&a, "tls_ca = %s/nothere.pem", certs);
	refused(&a, "tls_ca", "nothere.pem: No such file");

	/* Not a certificate; a key of another certificate. */
	RESET();
	ft_host_conf(&a, "tls = on");
	ft_host_conf(&a, "tls_cert = %s", a.conf);
	ft_host_conf(&a, "tls_key = %s/alpha.key", certs);
	ft_host_conf(&a, "tls_ca = %s/ca1.pem", certs);
	refused(&a, "tls_cert", "not a usable PEM certificate");
	RESET();
	ft_host_conf(&a, "tls = on");
	ft_host_conf(&a, "tls_cert = %s/alpha.pem", certs);
	ft_host_conf(&a, "tls_key = %s/beta.key", certs);
	ft_host_conf(&a, "tls_ca = %s/ca1.pem", certs);
	refused(&a, "beta.key", "not the key of tls_cert");
	RESET();
	ft_host_conf(&a, "tls = on");
	ft_host_conf(&a, "tls_cert = %s/alpha.pem", certs);
	ft_host_conf(&a, "tls_key = %s/alpha.key", certs);
	ft_host_conf(&a, "tls_ca = %s/alpha.key", certs);
	refused(&a, "tls_ca", "no usable PEM certificate");
#undef RESET
}
END_TEST

static Suite *
tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("tls");

	tcase_add_checked_fixture(tc, setup, ft_teardown);
	tcase_set_timeout(tc, 40);
	tcase_add_test(tc, test_link_routes);
	tcase_add_test(tc, test_repl_encrypted);
	tcase_add_test(tc, test_wrong_ca);
	tcase_add_test(tc, test_mixed);
	tcase_add_test(tc, test_plain_bytes);
	tcase_add_test(tc, test_bad_config);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(tls_suite);
}
