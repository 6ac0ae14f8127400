/*
 * benchrepl.h - shmq-bench --repl: topic replication between two shmqd on
 * this host (doc/federation.md, "Replication"), measured end to end.
 *
 * shmq-bench.c parses the options and chooses the CPUs; benchrepl.c does
 * the rest on its own: two stores, a secret, two loopback ports, the home's
 * and the mirror's shmqd, the measurements, the report, and the cleanup.
 */
#ifndef SHMQ_BENCHREPL_H
#define SHMQ_BENCHREPL_H

#include <stdint.h>

struct repl_opts {
	const char	*bus;		/* the buses are BUS-home, BUS-mirror */
	const char	*topic;		/* replicated topic, 1 queue */
	const char	*home;		/* parent of the stores; NULL: a new
					   directory, removed afterwards */
	uint64_t	 size;		/* body bytes */
	uint64_t	 samples;	/* per latency row and sync phase */
	uint64_t	 gap_us;	/* pause before each latency send */
	double		 tput_secs;	/* throughput: send this long ... */
	uint64_t	 tput_max;	/* ... or this many messages */
	uint64_t	 backlog;	/* catch-up: messages sent meanwhile */
	const char	*conf;		/* config file for both shmqd, or NULL */
	int		 pin;		/* pin producer and consumer */
	int		 cpu[2];	/* producer's, consumer's */
	int		 json;
	int		 quick;
	int		 keep;		/* keep the stores and logs */
	const char	*const *notes;	/* warnings so far (CPU choice) */
	int		 nnotes;
};

/*
 * Run the replication benchmark with *O and print its report (text, or one
 * JSON document with o->json).  Forks the two shmqd and every measuring
 * process; opens no bus itself.  Returns shmq-bench's exit status: 0 when
 * every part was measured, 1 when one failed or the run was interrupted.
 */
int	bench_repl(const struct repl_opts *o);

#endif /* SHMQ_BENCHREPL_H */
