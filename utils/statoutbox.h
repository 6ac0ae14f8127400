/*
 * statoutbox.h - shmq-stat's outbox line: remote send's backlog on this
 * host (doc/federation.md, "Remote send"), from what any process can read
 * in the store: the outbox's queues, the forwarder's committed offsets
 * (group SHMQ_FORWARD_GROUP) and the dead letters of the refused
 * (SHMQ_FORWARD_DLQ).  Nothing depends on shmqd running.
 */
#ifndef SHMQ_STATOUTBOX_H
#define SHMQ_STATOUTBOX_H

struct shmq_bus;

/*
 * Print BUS's outbox line into *TEXT ("" when the bus has no outbox) and
 * its JSON value into *JSON ("null" then), both malloc'd (freed first if
 * not NULL).  Returns 0, or CLI_EXIT_FAIL with the error printed.
 */
int statoutbox_take(struct shmq_bus *bus, char **text, char **json);

#endif
