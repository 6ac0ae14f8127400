/*
 * producer.c - send COUNT messages to a topic with the public shmq API.
 *
 *	producer [-b BUS] [-t TOPIC] [-n COUNT] [-i ID]
 *
 * Each message has a body "producer ID message I", a tag ("even" or "odd",
 * so that a consumer can filter with "even") and a key "ID-I" (to find it
 * again by key).  Messages of one producer share a sharding key, so they go
 * to one queue and a consumer sees them in the order they were sent; two
 * producers with different ids usually land on different queues.
 *
 * The bus and the topic are created on first use with the default options
 * (4 queues per topic).  Build it against an installed libshmq with
 * examples/Makefile, or in the source tree with make.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmq/shmq.h>

static void
usage(void)
{
	fprintf(stderr,
	    "usage: producer [-b BUS] [-t TOPIC] [-n COUNT] [-i ID]\n");
	exit(2);
}

/* Print "producer: what: detail" and exit 1. */
static void
fail(const char *what, int err)
{
	/* shmq_errmsg() says which thing failed and why; the code says
	 * what kind of failure it was, for programs. */
	fprintf(stderr, "producer: %s: %s (%s)\n", what,
	    *shmq_errmsg() != '\0' ? shmq_errmsg() : shmq_strerror(err),
	    shmq_err_name(err));
	exit(1);
}

int
main(int argc, char **argv)
{
	const char *bus_name = NULL;	/* NULL: $SHMQ_BUS, else "default" */
	const char *topic = "demo";
	long count = 10, id = 1, i;
	struct shmq_bus *bus;
	struct shmq_producer *prod;
	struct shmq_msg msg;
	struct shmq_send_result res;
	struct shmq_prop prop;
	char body[128], key[64], shard[32], idbuf[32];
	int ch, rc;

	while ((ch = getopt(argc, argv, "b:t:n:i:h")) != -1) {
		switch (ch) {
		case 'b':
			bus_name = optarg;
			break;
		case 't':
			topic = optarg;
			break;
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		case 'i':
			id = strtol(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (optind < argc || count < 0)
		usage();

	/* Open (or create) the bus; NULL options mean the defaults. */
	rc = shmq_bus_open(&bus, bus_name, NULL);
	if (rc < 0)
		fail("open bus", rc);

	/* A producer registers in the bus's client table (see shmq-stat). */
	rc = shmq_producer_open(&prod, bus, "demo-producers");
	if (rc < 0)
		fail("open producer", rc);

	snprintf(shard, sizeof(shard), "producer-%ld", id);
	snprintf(idbuf, sizeof(idbuf), "%ld", id);
	prop.name = "producer";
	prop.value = idbuf;

	for (i = 0; i < count; i++) {
		snprintf(body, sizeof(body), "producer %ld message %ld", id, i);
		snprintf(key, sizeof(key), "%ld-%ld", id, i);

		/* Zero the message, then set what we need: only the topic is
		 * required.  The library copies everything during the send,
		 * so stack buffers are fine. */
		shmq_msg_init(&msg);
		msg.topic = topic;
		msg.body = body;
		msg.body_len = strlen(body);
		msg.tags = i % 2 == 0 ? "even" : "odd";
		msg.keys = key;
		msg.props = &prop;
		msg.nprops = 1;
		msg.shard_key = shard;
		msg.shard_key_len = strlen(shard);

		/* Returns once the message is stored and visible to every
		 * consumer; res says where it went. */
		rc = shmq_producer_send(prod, &msg, &res);
		if (rc < 0)
			fail("send", rc);
		if (i == 0 || i == count - 1)
			printf("producer %ld: sent %s to %s queue %d "
			    "offset %llu\n", id, res.msg_id, topic, res.queue,
			    (unsigned long long)res.queue_off);
	}
	printf("producer %ld: sent %ld message%s to %s\n", id, count,
	    count == 1 ? "" : "s", topic);

	/* Close in reverse order of opening. */
	shmq_producer_close(prod);
	shmq_bus_close(bus);
	return 0;
}
