/*
 * repl.h - topic replication (doc/federation.md, "Replication"): shmqd's
 * threads that serve its topics to mirrors (replhome.c) and keep its
 * mirrors of other hosts' topics (replmirror.c), and the table of both
 * (repl.c) for the link's figures and shutdown.
 *
 * Each mirror (`mirror = TOPIC@HOST:PORT`) has a thread that dials the
 * home with a channel of its own (chan.h; HELLO channel FED_CHAN_REPL),
 * subscribes from the next offset of each of its queues, stores what
 * comes at the home's offsets (mirror.h) and acknowledges it.  The home's
 * link thread authenticates the channel and hands it to a thread that
 * reads the topic with a pull consumer and streams it, and relays the
 * acknowledgements to sync senders (replsync.h).
 *
 * Resuming: a mirror asks for what it does not hold, so a link that drops
 * or a peer that restarts costs neither loss nor duplicates; a mirror's
 * writes are single-writer and idempotent by offset (mirror.h).
 */
#ifndef FED_REPL_H
#define FED_REPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "chan.h"
#include "layout.h"
#include "link.h"
#include "replframe.h"

struct shmq_bus;
struct shmq_topic;

/* Sync-replication slot table: which mirror host counts in which slot
 * of a topic's queue_ctl.repl_acked. */
struct repl_slots {
	char		 topic[FED_TOPIC_MAX + 1];
	uint64_t	 host[SHMQ_REPL_SLOTS];
};

/* One channel served to a mirror (replhome.c). */
struct repl_home {
	struct fed_repl		*r;
	struct fed_chan		*ch;
	struct shmq_topic	*t;
	char			 topic[FED_TOPIC_MAX + 1];
	uint64_t		 host_id;	/* the mirror's */
	char			 host[FED_HOST_MAX + 1];
	int			 slot;		/* -1: not counted for sync */
	uint32_t		 queues;	/* acked[] entries */
	uint64_t		*acked;		/* the mirror's next, per queue */
	uint64_t		 msgs;		/* sent */
	uint64_t		 bytes;
	int			 stop;		/* set: end (word for waits) */
	bool			 done;		/* the thread is over */
	bool			 fwd_in;	/* serving its host's outbox
						   (fwdin.c; under r->lock) */
	pthread_t		 th;
	struct repl_home	*next;
};

/* One configured mirror (replmirror.c). */
struct repl_mirror {
	struct fed_repl		*r;
	struct fed_mirror	 m;
	struct fed_chan		*ch;		/* under r->lock */
	struct shmq_topic	*t;
	uint64_t		 home_id;	/* once authenticated */
	char			 home[FED_HOST_MAX + 1];
	bool			 up;		/* subscribed */
	uint32_t		 queues;
	uint64_t		 home_tail[FED_REPL_QUEUES_MAX];
	uint64_t		 next[FED_REPL_QUEUES_MAX];
	uint64_t		 home_min[FED_REPL_QUEUES_MAX];
	uint64_t		 msgs;		/* stored */
	uint64_t		 bytes;
	char			 last_error[96];
	pthread_t		 th;
	bool			 started;
};

struct fed_repl {
	struct shmq_bus		*bus;
	const struct fed_conf	*c;		/* the federation's */
	const struct fed_secret	*secret;
	struct fed_tls		*tls;		/* the federation's, or NULL */
	struct fed_hello	 me;		/* channel FED_CHAN_REPL */
	uint32_t		 max_frame;	/* DATA frames' limit */
	pthread_mutex_t		 lock;
	int			 stopping;	/* word: sleepers wake on it */
	struct repl_home	*homes;
	struct repl_mirror	*mirrors;
	unsigned		 nmirrors;
	struct repl_slots	*slots;
	size_t			 nslots;
	struct fed_fwd		*fwd;		/* the outbox's forwarder */
};

#define rlog(r, lvl, ...) do {						\
	if ((r)->c->log != NULL)					\
		(r)->c->log((lvl), __VA_ARGS__);			\
} while (0)

/*
 * Start the mirrors of C (C, SECRET, TLS and ME must outlive the table:
 * they are the federation's; TLS NULL: plain TCP).  0 and *out, or
 * SHMQ_ENOMEM.
 */
int fed_repl_start(struct fed_repl **out, struct shmq_bus *bus,
    const struct fed_conf *c, const struct fed_secret *secret,
    struct fed_tls *tls, const struct fed_hello *me);

/* Stop every thread, close every channel, free.  NULL: no-op. */
void fed_repl_stop(struct fed_repl *r);

/*
 * The link thread authenticated a replication channel on FD (and TLS
 * session TLS, or NULL) from PEER: serve it on a thread of its own.
 * WPEND/RPEND as fed_chan_adopt; SEQ_OUT, the frames the link thread sent
 * on it.  Takes FD and TLS.
 */
void fed_repl_accept(struct fed_repl *r, int fd, struct fed_tls_sess *tls,
    const uint8_t *wpend, size_t wn, const uint8_t *rpend, size_t rn,
    const struct fed_hello *peer, uint64_t seq_out);

/* What HOST_ID's replication with this host is behind, both ways: its
 * mirrors of our topics, and our mirrors of its. */
void fed_repl_behind(struct fed_repl *r, uint64_t host_id, uint64_t *msgs,
    uint64_t *bytes);

/* replhome.c: the thread of a served channel (ARG: struct repl_home). */
void *fed_repl_home_run(void *arg);

/* replmirror.c: the thread of a mirror (ARG: struct repl_mirror). */
void *fed_repl_mirror_run(void *arg);

/* repl.c: the slot of HOST_ID for TOPIC (given one if free), or -1. */
int fed_repl_slot(struct fed_repl *r, const char *topic, uint64_t host_id);

/* Sleep up to MS unless the table stops.  True if it stops. */
bool fed_repl_nap(struct fed_repl *r, uint32_t ms);

#endif
