/*
 * topic.h - topics: the table in the control region (name hash, topic and
 * queue control blocks), their directories in the store, and this process's
 * cached views of them.
 */
#ifndef SHMQ_TOPIC_H
#define SHMQ_TOPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"

/*
 * Find topic NAME; with CREATE, create it with QUEUES queues (0: the bus
 * default) if missing.  Returns 0 and *out (valid while the bus is open),
 * SHMQ_ENAME, SHMQ_ENOTOPIC, or a creation error.  Lock-free when the topic
 * exists and this process has seen it before.  Names that start with '%' are
 * found but never created here (SHMQ_ENAME): see shmq__topic_get_reserved.
 */
int shmq__topic_get(struct shmq_bus *bus, const char *name, bool create,
    unsigned queues, struct shmq_topic **out);

/* As shmq__topic_get with CREATE, for the bus's own topics, whose names
 * start with '%' (which shmq__topic_get does not create). */
int shmq__topic_get_reserved(struct shmq_bus *bus, const char *name,
    unsigned queues, struct shmq_topic **out);

/* Topic NAME if it exists, else NULL; sets no error detail. */
struct shmq_topic *shmq__topic_find(struct shmq_bus *bus, const char *name);

/* The process-local view of topic ID (making it if needed), or NULL. */
struct shmq_topic *shmq__topic_by_id(struct shmq_bus *bus, uint32_t id);

/*
 * Recovery: put topic NAME with QUEUES queues into a control region that is
 * not yet published (no disk writes).  Returns 0 or a code.
 */
int shmq__topic_install(struct shmq_bus *bus, const char *name,
    unsigned queues);

/* Directory of queue Q of TOPIC in the store, into BUF. */
int shmq__queue_dir(const struct shmq_bus *bus, const char *topic,
    uint32_t q, char *buf, size_t len);

/* Free this process's topic views (bus close). */
void shmq__topics_free(struct shmq_bus *bus);

#endif
