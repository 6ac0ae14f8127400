/*
 * tagexpr.h - tag expressions: "*" (or NULL, or empty) for every message,
 * or "a || b || c" for messages whose tag is one of those.  Parsed once
 * into a small set; matched first by hash (from the index entry, without
 * touching the record) and then exactly.
 */
#ifndef SHMQ_TAGEXPR_H
#define SHMQ_TAGEXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct shmq_tagexpr {
	bool		 all;
	uint32_t	 n;
	uint32_t	*hash;
	char		**tag;
	size_t		*len;
};

/* Parse EXPR.  0 and *out, SHMQ_EBADEXPR (detail has the position) or
 * SHMQ_ENOMEM. */
int shmq__tagexpr_parse(const char *expr, struct shmq_tagexpr **out);

void shmq__tagexpr_free(struct shmq_tagexpr *x);

/* Could a message with tag hash H match? */
static inline bool
shmq__tagexpr_match_hash(const struct shmq_tagexpr *x, uint32_t h)
{
	uint32_t i;

	if (x == NULL || x->all)
		return true;
	for (i = 0; i < x->n; i++)
		if (x->hash[i] == h)
			return true;
	return false;
}

/* Does tag TAG (LEN bytes) match exactly? */
bool shmq__tagexpr_match(const struct shmq_tagexpr *x, const char *tag,
    size_t len);

#endif
