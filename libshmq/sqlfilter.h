/*
 * sqlfilter.h - RocketMQ's SQL92 message filter (MessageSelector.bySql):
 * a condition on a message's properties, parsed once into a small program
 * and then evaluated for each message without allocating.
 *
 * Grammar, loosest binding first (keywords in any case, property names
 * case-sensitive):
 *
 *	expr	:= expr OR expr | expr AND expr | NOT expr
 *		 | operand
 *		 | operand ( = | <> | < | <= | > | >= ) operand
 *		 | operand [NOT] BETWEEN operand AND operand
 *		 | property [NOT] IN ( 'str' [, 'str' ...] )
 *		 | property [NOT] ( CONTAINS | STARTSWITH | ENDSWITH ) 'str'
 *		 | operand IS [NOT] NULL
 *	operand	:= - operand | + operand | ( expr )
 *		 | 123 | 123L | 1.5 | .5 | 5. | 1e10 | 'it''s' | TRUE | FALSE
 *		 | NULL | property
 *	property := [A-Za-z_$][A-Za-z0-9_$.]*, not a keyword; TAGS is the tag
 *
 * with "-- comment" and block comments skipped, as RocketMQ does.  "!="
 * and "==" are not SQL92 and RocketMQ rejects them; so do we, saying what
 * to write instead.
 *
 * Values.  Properties are strings on the record.  A property compared with
 * a number is read as one (an optional sign, digits, an optional fraction
 * and exponent); with TRUE or FALSE it must spell "true" or "false" in any
 * case; with a string or another property it is compared byte for byte by
 * = and <>.  <, <=, >, >= and BETWEEN compare numbers only (a string
 * literal there is a parse error, as in RocketMQ); two properties are both
 * read as numbers.  Integers compare exactly as 64-bit longs, and with a
 * double as doubles (Java's promotion).
 *
 * Three-valued logic, as RocketMQ (and SQL): a missing property is NULL; a
 * comparison with NULL, or between values that do not convert (a property
 * "abc" compared with 5), is unknown; NOT unknown is unknown; unknown AND
 * false is false, unknown OR true is true; a message matches only if the
 * whole condition is true.  IS [NOT] NULL is never unknown.
 *
 * Where we differ from RocketMQ, on purpose:
 *  - NOT binds looser than comparisons (SQL92): "NOT a = 1" is
 *    "NOT (a = 1)".  RocketMQ's JavaCC grammar reads "(NOT a) = 1", which
 *    then fails at run time, so no working filter changes meaning.
 *  - A value that does not convert makes its comparison unknown.  RocketMQ
 *    throws, and the broker drops the message whatever the rest of the
 *    condition says; we still match "a > 5 OR b = 'x'" when b is 'x'.
 *  - A property "1.5" compared with the integer 1 is read as 1.5; RocketMQ
 *    calls Long.valueOf("1.5") and throws.
 *  - A bare property as a condition is its "true"/"false" value (RocketMQ:
 *    always false, since properties are strings); "-prop" negates its
 *    number (RocketMQ: always NULL).
 *  - "0.0" and other doubles below Double.MIN_VALUE are valid literals
 *    (RocketMQ rejects them by a bug); -9223372036854775808 is valid.
 *  - Property names may contain '.', as shmq property names may.
 *  - Only one comparison per operand: "a = 1 = TRUE" needs parentheses.
 *
 * Limits for untrusted input: SHMQ_SQLFILTER_LEN_MAX bytes of text and
 * SHMQ_SQLFILTER_DEPTH_MAX levels of parentheses, NOT and unary signs, so
 * that neither the parser's recursion nor the evaluation stack can grow
 * without bound.
 *
 * The program is one allocation with no pointers in it (strings are
 * offsets from its start), so it may be copied as shmq__sqlfilter_size()
 * bytes.  A filter is immutable once parsed: any number of threads may
 * match with it at once.
 */
#ifndef SHMQ_SQLFILTER_H
#define SHMQ_SQLFILTER_H

#include <stdbool.h>
#include <stddef.h>

#define SHMQ_SQLFILTER_LEN_MAX		8192
#define SHMQ_SQLFILTER_DEPTH_MAX	64

struct shmq_sqlfilter;

/*
 * Find property NAME (NAME_LEN bytes, not NUL-terminated) of the message
 * ARG describes: true with *value and *value_len set (borrowed, need not be
 * NUL-terminated, valid until the match returns), or false if absent.
 * Must not fail otherwise; called zero or more times per match.
 */
typedef bool (*shmq__sqlfilter_lookup_cb)(void *arg, const char *name,
    size_t name_len, const char **value, size_t *value_len);

/*
 * Parse EXPR (a NUL-terminated string) into *out.  Returns 0; SHMQ_EBADEXPR
 * with a detail naming what was expected and its 0-based byte position,
 * e.g. 'sql filter "a > ": expected a value at position 4'; SHMQ_EINVAL if
 * EXPR or OUT is NULL; SHMQ_ENOMEM.  Free with shmq__sqlfilter_free().
 */
int shmq__sqlfilter_parse(const char *expr, struct shmq_sqlfilter **out);

/* Free a filter.  NULL is a no-op. */
void shmq__sqlfilter_free(struct shmq_sqlfilter *f);

/* Bytes of F's single, position-independent allocation. */
size_t shmq__sqlfilter_size(const struct shmq_sqlfilter *f);

/*
 * Does the message whose properties LOOKUP finds (with ARG) satisfy F?
 * A NULL filter matches every message.  Never allocates, never blocks,
 * uses a bounded amount of stack (a few KiB), never fails.
 */
bool shmq__sqlfilter_match(const struct shmq_sqlfilter *f,
    shmq__sqlfilter_lookup_cb lookup, void *arg);

/*
 * shmq__sqlfilter_match() over a record's properties, encoded as
 * "name\1value\2name\1value\2..." (PROPS_LEN bytes, may be NULL if 0), and
 * its tag (TAGS_LEN bytes; NULL or 0 for none), which the filter sees as
 * property TAGS as in RocketMQ: a user property of that name is not
 * visible.  A malformed tail of PROPS is ignored.  Never allocates.
 */
bool shmq__sqlfilter_match_props(const struct shmq_sqlfilter *f,
    const char *props, size_t props_len, const char *tags, size_t tags_len);

#endif
