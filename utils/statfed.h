/*
 * statfed.h - shmq-stat's federation sections: this host, its LINKS and its
 * ROUTES (from shmq_fed_info, shmq_link_foreach, shmq_route_foreach),
 * printed into memory once per sample so that text and JSON come from one
 * reading of the table.
 */
#ifndef SHMQ_STATFED_H
#define SHMQ_STATFED_H

#include <stddef.h>

struct shmq_bus;

/*
 * Print BUS's federation sections into *TEXT and its JSON value into
 * *JSON ("null" when the bus has no federation table), both malloc'd
 * (freed first if not NULL).  TOPIC (may be NULL) limits the routes.
 * Returns 0, or CLI_EXIT_FAIL with the error printed.
 */
int statfed_take(struct shmq_bus *bus, const char *topic, char **text,
    char **json);

#endif
