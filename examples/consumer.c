/*
 * consumer.c - read a topic with the public shmq API and print what comes.
 *
 *	consumer [-b BUS] [-t TOPIC] [-n COUNT] [--queue Q] [--from first|last]
 *
 * A pull consumer is assigned every queue of TOPIC (or only queue Q),
 * starts at the oldest stored message (--from first, the default here) or
 * at the end (--from last: only new messages), and polls.  Each message is
 * printed with its queue, offset, tag and key.  It stops after COUNT
 * messages (0: never; the default is 10), or after 10 seconds without one.
 *
 * A plain pull consumer keeps no group offset: two of them on one topic
 * each see every message.  The topic is created (4 queues) if missing, so
 * the consumer can start before the producers.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmq/shmq.h>

#define IDLE_MS	10000	/* give up after this long without a message */

static void
usage(void)
{
	fprintf(stderr, "usage: consumer [-b BUS] [-t TOPIC] [-n COUNT] "
	    "[--queue Q] [--from first|last]\n");
	exit(2);
}

static void
fail(const char *what, int err)
{
	fprintf(stderr, "consumer: %s: %s (%s)\n", what,
	    *shmq_errmsg() != '\0' ? shmq_errmsg() : shmq_strerror(err),
	    shmq_err_name(err));
	exit(1);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "queue",	required_argument,	NULL,	'q' },
		{ "from",	required_argument,	NULL,	'f' },
		{ NULL,		0,			NULL,	0 }
	};
	const char *bus_name = NULL, *topic = "demo";
	enum shmq_whence from = SHMQ_SEEK_FIRST;
	long count = 10, got = 0;
	int queue = SHMQ_QUEUE_ANY;
	struct shmq_bus *bus;
	struct shmq_consumer *cons;
	struct shmq_msgview views[32];
	size_t max;
	int ch, i, n, rc;

	while ((ch = getopt_long(argc, argv, "b:t:n:h", longopts,
	    NULL)) != -1) {
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
		case 'q':
			queue = (int)strtol(optarg, NULL, 10);
			break;
		case 'f':
			if (strcmp(optarg, "first") == 0)
				from = SHMQ_SEEK_FIRST;
			else if (strcmp(optarg, "last") == 0)
				from = SHMQ_SEEK_LAST;
			else
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind < argc || count < 0)
		usage();

	rc = shmq_bus_open(&bus, bus_name, NULL);
	if (rc < 0)
		fail("open bus", rc);

	/* Make sure the topic exists, so that we can start first. */
	rc = shmq_topic_create(bus, topic, 4);
	if (rc < 0 && rc != SHMQ_EEXIST)
		fail("create topic", rc);

	rc = shmq_consumer_open(&cons, bus);
	if (rc < 0)
		fail("open consumer", rc);

	/* Follow the queue(s), all tags ("*"); then choose where to start
	 * (a new assignment starts at the end). */
	rc = shmq_consumer_assign(cons, topic, queue, "*");
	if (rc < 0)
		fail("assign", rc);
	rc = shmq_consumer_seek(cons, topic, queue, from, 0);
	if (rc < 0)
		fail("seek", rc);

	while (count == 0 || got < count) {
		max = sizeof(views) / sizeof(views[0]);
		if (count > 0 && (size_t)(count - got) < max)
			max = (size_t)(count - got);

		/* Waits up to IDLE_MS for the first message, sleeping on a
		 * futex (no CPU) once a short spin finds nothing. */
		n = shmq_consumer_poll(cons, views, max, IDLE_MS);
		if (n < 0)
			fail("poll", n);
		if (n == 0) {
			fprintf(stderr, "consumer: nothing for %d s, "
			    "stopping\n", IDLE_MS / 1000);
			break;
		}

		/* The views point into the shared commitlog (zero copy):
		 * use them before the next poll.  Strings are not
		 * NUL-terminated, hence the %.*s, and may be NULL when
		 * empty. */
		for (i = 0; i < n; i++) {
			const struct shmq_msgview *v = &views[i];

			printf("queue %d offset %llu tag %.*s key %.*s: %.*s\n",
			    v->queue, (unsigned long long)v->queue_off,
			    (int)v->tags_len, v->tags_len > 0 ? v->tags : "",
			    (int)v->keys_len, v->keys_len > 0 ? v->keys : "",
			    (int)v->body_len, (const char *)v->body);
		}
		got += n;
	}
	printf("consumer: received %ld message%s from %s\n", got,
	    got == 1 ? "" : "s", topic);

	shmq_consumer_close(cons);
	shmq_bus_close(bus);
	return got == count || count == 0 ? 0 : 1;
}
