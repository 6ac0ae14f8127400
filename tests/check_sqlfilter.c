/*
 * check_sqlfilter.c - SQL92 property filters: a table of expressions and
 * messages with the answer each must give (every operator, precedence,
 * three-valued logic, numbers, strings, booleans, TAGS, comments, case), a
 * table of malformed expressions with the position the error must name,
 * the nesting and length limits, the on-record property encoding, copying
 * a compiled program, and a million evaluations as a speed and leak check
 * (run it under ASan: match() must not allocate).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "sqlfilter.h"
#include "testutil.h"

/* One encoded property, as msg.c writes it. */
#define P(name, value)	name "\001" value "\002"

static struct shmq_sqlfilter *
parse_ok(const char *expr)
{
	struct shmq_sqlfilter *f = NULL;
	int err;

	err = shmq__sqlfilter_parse(expr, &f);
	ck_assert_msg(err == 0, "parse \"%.80s\": %d %s", expr, err,
	    shmq_errmsg());
	ck_assert_ptr_nonnull(f);
	return f;
}

/* EXPR must fail with SHMQ_EBADEXPR naming position POS. */
static void
parse_bad(const char *expr, size_t pos)
{
	struct shmq_sqlfilter *f = (struct shmq_sqlfilter *)&f;
	char want[64];
	int err;

	err = shmq__sqlfilter_parse(expr, &f);
	ck_assert_msg(err == SHMQ_EBADEXPR, "\"%.80s\" parsed (%d)", expr,
	    err);
	ck_assert_msg(f == NULL, "\"%.80s\": *out not cleared", expr);
	/* ": invalid expression" follows, so "position 4" cannot match
	 * "position 40". */
	snprintf(want, sizeof(want), " at position %zu: ", pos);
	ck_assert_msg(strstr(shmq_errmsg(), want) != NULL,
	    "\"%.80s\": want position %zu, got: %s", expr, pos, shmq_errmsg());
	ck_assert_msg(strncmp(shmq_errmsg(), "sql filter \"", 12) == 0,
	    "\"%.80s\": %s", expr, shmq_errmsg());
}

/* Printable form of encoded properties, for failure messages. */
static const char *
show_props(const char *props)
{
	static char buf[256];
	size_t i;

	if (props == NULL)
		return "(none)";
	for (i = 0; i < sizeof(buf) - 1 && props[i] != '\0'; i++)
		buf[i] = props[i] == '\1' ? '=' : props[i] == '\2' ? ';' :
		    props[i];
	buf[i] = '\0';
	return buf;
}

struct mcase {
	const char	*expr;
	const char	*props;		/* encoded, or NULL */
	const char	*tags;		/* NULL: no tag */
	bool		 want;
};

static void
run_cases(const struct mcase *c, size_t n)
{
	struct shmq_sqlfilter *f;
	size_t i;
	bool got;

	for (i = 0; i < n; i++) {
		f = parse_ok(c[i].expr);
		got = shmq__sqlfilter_match_props(f, c[i].props,
		    c[i].props ? strlen(c[i].props) : 0, c[i].tags,
		    c[i].tags ? strlen(c[i].tags) : 0);
		ck_assert_msg(got == c[i].want, "case %zu: \"%s\" on {%s} "
		    "tag %s: got %d, want %d", i, c[i].expr,
		    show_props(c[i].props), c[i].tags ? c[i].tags : "(none)",
		    got, c[i].want);
		shmq__sqlfilter_free(f);
	}
}

#define RUN(tab)	run_cases((tab), sizeof(tab) / sizeof((tab)[0]))

/* ------------------------------------------------------------------ */
/* Matching                                                            */
/* ------------------------------------------------------------------ */

START_TEST(t_numbers)
{
	static const struct mcase c[] = {
		{ "a = 5", P("a", "5"), NULL, true },
		{ "a = 5", P("a", "6"), NULL, false },
		{ "a = 5", P("a", "5.0"), NULL, true },	/* numeric */
		{ "a = 5", P("a", "05"), NULL, true },
		{ "a = 5", P("a", "+5"), NULL, true },
		{ "a = 5", P("a", "5."), NULL, true },
		{ "a = 5", P("a", " 5"), NULL, false },	/* no blanks */
		{ "a = 5", P("a", "abc"), NULL, false },	/* mismatch */
		{ "a = 5", P("a", ""), NULL, false },
		{ "a = 5", P("b", "5"), NULL, false },	/* missing */
		{ "a = 5", NULL, NULL, false },
		{ "a = 5L", P("a", "5"), NULL, true },
		{ "a = 5l", P("a", "5"), NULL, true },
		{ "a <> 5", P("a", "6"), NULL, true },
		{ "a <> 5", P("a", "5"), NULL, false },
		{ "a <> 5", NULL, NULL, false },		/* NULL <> 5 */
		{ "a <> 5", P("a", "abc"), NULL, false },
		{ "a > 5", P("a", "6"), NULL, true },
		{ "a > 5", P("a", "5"), NULL, false },
		{ "a > 5", P("a", "5.5"), NULL, true },
		{ "a > 5", P("a", "-1"), NULL, false },
		{ "a > 5", P("a", "1e1"), NULL, true },
		{ "a > 5", P("a", "1E+1"), NULL, true },
		{ "a > 5", P("a", "1e"), NULL, false },
		{ "a > 5", P("a", "0x10"), NULL, false },
		{ "a > 5", P("a", "NaN"), NULL, false },
		{ "a > 5", P("a", "inf"), NULL, false },
		{ "a > 5", P("a", "."), NULL, false },
		{ "a > 5", P("a", "-"), NULL, false },
		{ "a >= 5", P("a", "5"), NULL, true },
		{ "a >= 5", P("a", "4.999"), NULL, false },
		{ "a < 5", P("a", "4"), NULL, true },
		{ "a < 5", P("a", "5"), NULL, false },
		{ "a <= 5", P("a", "5"), NULL, true },
		{ "a <= 5", P("a", "5.001"), NULL, false },
		{ "a > -5", P("a", "-4"), NULL, true },
		{ "a > -5", P("a", "-6"), NULL, false },
		{ "a > - 5", P("a", "-4"), NULL, true },
		{ "a = - -5", P("a", "5"), NULL, true },
		{ "a = +5", P("a", "5"), NULL, true },
		{ "a = -(5)", P("a", "-5"), NULL, true },
		{ "-a = 5", P("a", "-5"), NULL, true },
		{ "-a = 5", P("a", "x"), NULL, false },
		{ "-a > 0", P("a", "-9223372036854775808"), NULL, true },
		{ "a > 1.5", P("a", "2"), NULL, true },
		{ "a > 1.5", P("a", "1.5"), NULL, false },
		{ "a = 1.5", P("a", "1.50"), NULL, true },
		{ "a = 1.0", P("a", "1"), NULL, true },
		{ "a > 2.5e3", P("a", "2501"), NULL, true },
		{ "a > 2.5E3", P("a", "2499"), NULL, false },
		{ "a < .5", P("a", "0.25"), NULL, true },
		{ "a < .5", P("a", ".75"), NULL, false },
		{ "a = 5.", P("a", "5"), NULL, true },
		{ "a = 1e2", P("a", "100"), NULL, true },
		{ "a = 0", P("a", "-0"), NULL, true },
		{ "a = 0.0", P("a", "0"), NULL, true },
		{ "a = -1.5", P("a", "-1.5"), NULL, true },
		/* Longs compare exactly, not as doubles. */
		{ "a > 9223372036854775806", P("a", "9223372036854775807"),
		    NULL, true },
		{ "a = 9223372036854775806", P("a", "9223372036854775807"),
		    NULL, false },
		{ "a = -9223372036854775808", P("a", "-9223372036854775808"),
		    NULL, true },
		/* Too big for a long: a double. */
		{ "a > 9223372036854775807", P("a", "99999999999999999999"),
		    NULL, true },
		/* Longer than any number we read: not a number. */
		{ "a > 5", P("a",
		    "1000000000000000000000000000000000000000000000000000000000"
		    "0000000000000000"), NULL, false },
		/* Two properties are both read as numbers: 10 > 9, though
		 * "10" < "9" as text. */
		{ "a > b", P("a", "10") P("b", "9"), NULL, true },
		{ "a < b", P("a", "10") P("b", "9"), NULL, false },
		{ "a > b", P("a", "10") P("b", "x"), NULL, false },
		{ "a > b", P("a", "10"), NULL, false },
		{ "a BETWEEN lo AND hi", P("a", "5") P("lo", "1") P("hi", "10"),
		    NULL, true },
	};

	RUN(c);
}
END_TEST

START_TEST(t_strings)
{
	static const struct mcase c[] = {
		{ "b = 'hello'", P("b", "hello"), NULL, true },
		{ "b = 'hello'", P("b", "Hello"), NULL, false },
		{ "b = 'hello'", P("b", "hello "), NULL, false },
		{ "b = 'hello'", P("b", "hell"), NULL, false },
		{ "b = 'hello'", NULL, NULL, false },
		{ "'hello' = b", P("b", "hello"), NULL, true },
		{ "b <> 'hello'", P("b", "x"), NULL, true },
		{ "b <> 'hello'", P("b", "hello"), NULL, false },
		{ "b <> 'hello'", NULL, NULL, false },
		{ "b = 'it''s'", P("b", "it's"), NULL, true },
		{ "b = 'it''s'", P("b", "it''s"), NULL, false },
		{ "b = ''''", P("b", "'"), NULL, true },
		{ "b = ''", P("b", ""), NULL, true },
		{ "b = ''", NULL, NULL, false },
		{ "b = 'a b  c'", P("b", "a b  c"), NULL, true },
		{ "b = 'AND OR NOT'", P("b", "AND OR NOT"), NULL, true },
		{ "b = '-- not a comment'", P("b", "-- not a comment"), NULL,
		    true },
		{ "b = 'caf\xc3\xa9'", P("b", "caf\xc3\xa9"), NULL, true },
		/* A string literal compares as text, a number as a number. */
		{ "b = '5'", P("b", "5"), NULL, true },
		{ "b = '5'", P("b", "5.0"), NULL, false },
		{ "b = 5", P("b", "5.0"), NULL, true },
		/* Property to property: text. */
		{ "a = b", P("a", "x") P("b", "x"), NULL, true },
		{ "a = b", P("a", "5") P("b", "5.0"), NULL, false },
		{ "a <> b", P("a", "x") P("b", "y"), NULL, true },
		{ "a = b", P("a", "x"), NULL, false },
	};

	RUN(c);
}
END_TEST

START_TEST(t_booleans)
{
	static const struct mcase c[] = {
		{ "TRUE", NULL, NULL, true },
		{ "FALSE", NULL, NULL, false },
		{ "NULL", NULL, NULL, false },
		{ "NOT FALSE", NULL, NULL, true },
		{ "NOT TRUE", NULL, NULL, false },
		{ "NOT NULL", NULL, NULL, false },	/* unknown */
		{ "(TRUE)", NULL, NULL, true },
		{ "TRUE = TRUE", NULL, NULL, true },
		{ "TRUE <> FALSE", NULL, NULL, true },
		{ "flag = TRUE", P("flag", "true"), NULL, true },
		{ "flag = TRUE", P("flag", "TRUE"), NULL, true },
		{ "flag = TRUE", P("flag", "True"), NULL, true },
		{ "flag = TRUE", P("flag", "false"), NULL, false },
		{ "flag = TRUE", P("flag", "yes"), NULL, false },
		{ "flag = TRUE", P("flag", "1"), NULL, false },
		{ "flag = FALSE", P("flag", "false"), NULL, true },
		{ "flag = FALSE", P("flag", "no"), NULL, false },
		{ "NOT flag = FALSE", P("flag", "no"), NULL, false },
		{ "flag <> TRUE", P("flag", "false"), NULL, true },
		{ "flag = FALSE", NULL, NULL, false },
		/* A bare property is its true/false spelling. */
		{ "flag", P("flag", "true"), NULL, true },
		{ "flag", P("flag", "false"), NULL, false },
		{ "flag", P("flag", "1"), NULL, false },
		{ "flag", NULL, NULL, false },
		{ "NOT flag", P("flag", "false"), NULL, true },
		{ "NOT flag", P("flag", "xyz"), NULL, false },
		{ "NOT flag", NULL, NULL, false },
		{ "flag AND TRUE", P("flag", "true"), NULL, true },
		{ "(a = 1) = TRUE", P("a", "1"), NULL, true },
		{ "(a = 1) = FALSE", P("a", "2"), NULL, true },
		{ "(a = 1) = FALSE", NULL, NULL, false },
		{ "a = (b = 1)", P("a", "true") P("b", "1"), NULL, true },
	};

	RUN(c);
}
END_TEST

START_TEST(t_between)
{
	static const struct mcase c[] = {
		{ "a BETWEEN 1 AND 5", P("a", "1"), NULL, true },
		{ "a BETWEEN 1 AND 5", P("a", "5"), NULL, true },
		{ "a BETWEEN 1 AND 5", P("a", "3"), NULL, true },
		{ "a BETWEEN 1 AND 5", P("a", "2.5"), NULL, true },
		{ "a BETWEEN 1 AND 5", P("a", "0"), NULL, false },
		{ "a BETWEEN 1 AND 5", P("a", "6"), NULL, false },
		{ "a BETWEEN 1 AND 5", P("a", "5.01"), NULL, false },
		{ "a BETWEEN 1 AND 5", P("a", "abc"), NULL, false },
		{ "a BETWEEN 1 AND 5", NULL, NULL, false },
		{ "a BETWEEN 1 AND 1", P("a", "1"), NULL, true },
		{ "a BETWEEN -5 AND -1", P("a", "-3"), NULL, true },
		{ "a BETWEEN -5 AND -1", P("a", "3"), NULL, false },
		{ "a BETWEEN 0.5 AND 1.5", P("a", "1"), NULL, true },
		{ "a NOT BETWEEN 1 AND 5", P("a", "0"), NULL, true },
		{ "a NOT BETWEEN 1 AND 5", P("a", "3"), NULL, false },
		{ "a NOT BETWEEN 1 AND 5", P("a", "6"), NULL, true },
		{ "a NOT BETWEEN 1 AND 5", NULL, NULL, false },
		{ "a NOT BETWEEN 1 AND 5", P("a", "x"), NULL, false },
		/* As RocketMQ: NOT BETWEEN accepts reversed bounds (and then
		 * matches every number). */
		{ "a NOT BETWEEN 5 AND 1", P("a", "3"), NULL, true },
		/* The AND of BETWEEN is not a logical AND. */
		{ "a BETWEEN 1 AND 5 AND b = 'x'", P("a", "3") P("b", "x"),
		    NULL, true },
		{ "a BETWEEN 1 AND 5 AND b = 'x'", P("a", "3") P("b", "y"),
		    NULL, false },
		{ "a BETWEEN 1 AND 5 OR b = 'x'", P("a", "9") P("b", "x"),
		    NULL, true },
		{ "NOT a BETWEEN 1 AND 5", P("a", "9"), NULL, true },
	};

	RUN(c);
}
END_TEST

START_TEST(t_in)
{
	static const struct mcase c[] = {
		{ "b IN ('x')", P("b", "x"), NULL, true },
		{ "b IN ('x')", P("b", "y"), NULL, false },
		{ "b IN ('x', 'y', 'z')", P("b", "z"), NULL, true },
		{ "b IN ('x','y','z')", P("b", "xy"), NULL, false },
		{ "b IN ('x', 'y')", NULL, NULL, false },
		{ "b IN ('it''s', 'y')", P("b", "it's"), NULL, true },
		{ "b IN ('5')", P("b", "5"), NULL, true },
		{ "b IN ('5')", P("b", "5.0"), NULL, false },
		{ "b IN ('')", P("b", ""), NULL, true },
		{ "b NOT IN ('x', 'y')", P("b", "z"), NULL, true },
		{ "b NOT IN ('x', 'y')", P("b", "x"), NULL, false },
		{ "b NOT IN ('x', 'y')", NULL, NULL, false },
		{ "NOT b IN ('x')", P("b", "y"), NULL, true },
		{ "TAGS IN ('TagA', 'TagB')", NULL, "TagA", true },
		{ "TAGS IN ('TagA', 'TagB')", NULL, "TagC", false },
		{ "TAGS IN ('TagA', 'TagB')", NULL, NULL, false },
		{ "TAGS NOT IN ('TagA')", NULL, "TagB", true },
		{ "(b) IN ('x')", P("b", "x"), NULL, true },
	};

	RUN(c);
}
END_TEST

START_TEST(t_null_and_strops)
{
	static const struct mcase c[] = {
		{ "a IS NULL", NULL, NULL, true },
		{ "a IS NULL", P("b", "1"), NULL, true },
		{ "a IS NULL", P("a", "1"), NULL, false },
		{ "a IS NULL", P("a", ""), NULL, false }, /* empty: set */
		{ "a IS NOT NULL", P("a", ""), NULL, true },
		{ "a IS NOT NULL", NULL, NULL, false },
		{ "NOT a IS NULL", P("a", "1"), NULL, true },
		{ "a IS NULL OR a = 1", NULL, NULL, true },
		{ "a IS NULL OR a = 1", P("a", "1"), NULL, true },
		{ "a IS NULL OR a = 1", P("a", "2"), NULL, false },
		{ "TAGS IS NULL", NULL, NULL, true },
		{ "TAGS IS NOT NULL", NULL, "t", true },
		/* A comparison that is unknown IS NULL. */
		{ "(a = 1) IS NULL", NULL, NULL, true },
		{ "(a = 1) IS NOT NULL", P("a", "2"), NULL, true },
		{ "b CONTAINS 'ell'", P("b", "hello"), NULL, true },
		{ "b CONTAINS 'elo'", P("b", "hello"), NULL, false },
		{ "b CONTAINS ''", P("b", "hello"), NULL, true },
		{ "b CONTAINS 'hello!'", P("b", "hello"), NULL, false },
		{ "b CONTAINS 'x'", NULL, NULL, false },
		{ "b NOT CONTAINS 'ell'", P("b", "hello"), NULL, false },
		{ "b NOT CONTAINS 'xyz'", P("b", "hello"), NULL, true },
		{ "b NOT CONTAINS 'xyz'", NULL, NULL, false },
		{ "b STARTSWITH 'he'", P("b", "hello"), NULL, true },
		{ "b STARTSWITH 'lo'", P("b", "hello"), NULL, false },
		{ "b STARTSWITH 'hello'", P("b", "hello"), NULL, true },
		{ "b NOT STARTSWITH 'he'", P("b", "hello"), NULL, false },
		{ "b ENDSWITH 'lo'", P("b", "hello"), NULL, true },
		{ "b ENDSWITH 'he'", P("b", "hello"), NULL, false },
		{ "b ENDSWITH 'xhello'", P("b", "hello"), NULL, false },
		{ "b NOT ENDSWITH 'he'", P("b", "hello"), NULL, true },
		{ "b CONTAINS 'it''s'", P("b", "so it's"), NULL, true },
	};

	RUN(c);
}
END_TEST

START_TEST(t_logic)
{
	static const struct mcase c[] = {
		{ "a = 1 AND b = 2", P("a", "1") P("b", "2"), NULL, true },
		{ "a = 1 AND b = 2", P("a", "1") P("b", "3"), NULL, false },
		{ "a = 1 AND b = 2", P("a", "0") P("b", "2"), NULL, false },
		{ "a = 1 OR b = 2", P("a", "1") P("b", "3"), NULL, true },
		{ "a = 1 OR b = 2", P("a", "0") P("b", "2"), NULL, true },
		{ "a = 1 OR b = 2", P("a", "0") P("b", "3"), NULL, false },
		/* AND binds tighter than OR. */
		{ "a = 1 OR b = 2 AND c = 3", P("a", "1") P("b", "0")
		    P("c", "0"), NULL, true },
		{ "b = 2 AND c = 3 OR a = 1", P("a", "1") P("b", "0")
		    P("c", "0"), NULL, true },
		{ "(a = 1 OR b = 2) AND c = 3", P("a", "1") P("b", "0")
		    P("c", "0"), NULL, false },
		/* NOT binds tighter than AND, looser than "=". */
		{ "NOT a = 1 AND b = 2", P("a", "2") P("b", "3"), NULL, false },
		{ "NOT (a = 1 AND b = 2)", P("a", "2") P("b", "3"), NULL,
		    true },
		{ "NOT a = 1 OR b = 2", P("a", "1") P("b", "2"), NULL, true },
		{ "NOT (a = 1 OR b = 2)", P("a", "1") P("b", "2"), NULL,
		    false },
		{ "NOT (a = 1 OR b = 2)", P("a", "3") P("b", "3"), NULL, true },
		{ "NOT NOT a = 1", P("a", "1"), NULL, true },
		{ "NOT NOT NOT a = 1", P("a", "1"), NULL, false },
		{ "((a = 1))", P("a", "1"), NULL, true },
		{ "a = 1 AND b = 2 AND c = 3", P("a", "1") P("b", "2")
		    P("c", "3"), NULL, true },
		{ "a = 1 AND b = 2 AND c = 3", P("a", "1") P("b", "2")
		    P("c", "4"), NULL, false },
		{ "a = 1 OR b = 2 OR c = 3", P("c", "3"), NULL, true },
		/* Three-valued logic around a missing a. */
		{ "a = 1 OR b = 2", P("b", "2"), NULL, true },
		{ "a = 1 AND b = 2", P("b", "2"), NULL, false },
		{ "NOT (a = 1)", P("b", "2"), NULL, false },
		{ "NOT (a = 1 AND b = 2)", P("b", "3"), NULL, true },
		{ "NOT (a = 1 AND b = 2)", P("b", "2"), NULL, false },
		{ "NOT (a = 1 OR b = 2)", P("b", "3"), NULL, false },
		{ "NOT (a <> 1)", NULL, NULL, false },
		/* A mismatch is unknown, not an abort (see sqlfilter.h). */
		{ "a > 5 OR b = 'x'", P("a", "abc") P("b", "x"), NULL, true },
		{ "NOT (a > 5)", P("a", "abc"), NULL, false },
		{ "a > 5 AND b = 'x'", P("a", "abc") P("b", "x"), NULL, false },
	};

	RUN(c);
}
END_TEST

START_TEST(t_lexical)
{
	static const struct mcase c[] = {
		/* Keywords in any case; property names exactly. */
		{ "a between 1 and 5", P("a", "3"), NULL, true },
		{ "a Between 1 aNd 5", P("a", "3"), NULL, true },
		{ "b in ('x')", P("b", "x"), NULL, true },
		{ "b not in ('x')", P("b", "y"), NULL, true },
		{ "a is null", NULL, NULL, true },
		{ "a Is Not Null", P("a", "1"), NULL, true },
		{ "true", NULL, NULL, true },
		{ "not false", NULL, NULL, true },
		{ "flag = true", P("flag", "true"), NULL, true },
		{ "a = 1 or b = 2", P("b", "2"), NULL, true },
		{ "b contains 'e'", P("b", "hello"), NULL, true },
		{ "b startsWith 'h'", P("b", "hello"), NULL, true },
		{ "b endswith 'o'", P("b", "hello"), NULL, true },
		{ "A = 1", P("a", "1"), NULL, false },
		{ "Tags = 't'", NULL, "t", false },
		{ "TAGS = 't'", NULL, "t", true },
		/* Property name characters. */
		{ "order.id = 'x'", P("order.id", "x"), NULL, true },
		{ "$x = 1", P("$x", "1"), NULL, true },
		{ "_y = 2", P("_y", "2"), NULL, true },
		{ "a1_b.c$ = 3", P("a1_b.c$", "3"), NULL, true },
		{ "nothing = 1", P("not", "1"), NULL, false },
		{ "android = 1", P("android", "1"), NULL, true },
		{ "ORDER = 1", P("ORDER", "1"), NULL, true },
		/* White space and comments, as RocketMQ. */
		{ "\ta\n=\r\f1 ", P("a", "1"), NULL, true },
		{ "a=1", P("a", "1"), NULL, true },
		{ "a=1AND b=2", P("a", "1") P("b", "2"), NULL, true },
		{ "a>=1", P("a", "1"), NULL, true },
		{ "a<>1", P("a", "2"), NULL, true },
		{ "a = 1 -- the rest is a comment", P("a", "1"), NULL, true },
		{ "a = 1 -- OR TRUE\n AND b = 2", P("a", "1"), NULL, false },
		{ "/* c */ a = /* one */ 1", P("a", "1"), NULL, true },
		{ "a = 1 /* ** / */", P("a", "1"), NULL, true },
	};

	RUN(c);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

START_TEST(t_errors)
{
	static const struct {
		const char	*expr;
		size_t		 pos;
	} c[] = {
		{ "a > ", 4 },
		{ "", 0 },
		{ "   ", 3 },
		{ "a >", 3 },
		{ "a = 1 AND", 9 },
		{ "a = 1 OR OR b = 2", 9 },
		{ "AND a = 1", 0 },
		{ "(a = 1", 6 },
		{ "a = 1)", 5 },
		{ "()", 1 },
		{ "a = 'abc", 4 },
		{ "a = 'abc''", 4 },
		{ "a != 1", 2 },
		{ "a == 1", 2 },
		{ "a ! 1", 2 },
		{ "a = 1 b = 2", 6 },
		{ "a = 1 = 2", 6 },
		{ "a BETWEEN 1 5", 12 },
		{ "a BETWEEN 1 AND", 15 },
		{ "a BETWEEN 5 AND 1", 10 },
		{ "a BETWEEN 5.5 AND -(1)", 10 },
		{ "a BETWEEN 'a' AND 'b'", 10 },
		{ "a BETWEEN 1 AND TRUE", 16 },
		{ "'x' BETWEEN 1 AND 2", 0 },
		{ "a IN 'x'", 5 },
		{ "a IN", 4 },
		{ "a IN ()", 6 },
		{ "a IN ('x' 'y')", 10 },
		{ "a IN ('x',)", 10 },
		{ "a IN (1, 2)", 6 },
		{ "'x' IN ('x')", 0 },
		{ "a IS 1", 5 },
		{ "a IS NOT", 8 },
		{ "a IS", 4 },
		{ "a NOT 5", 6 },
		{ "a NOT", 5 },
		{ "a > 'x'", 4 },
		{ "'x' < a", 0 },
		{ "a > TRUE", 4 },
		{ "a > NULL", 4 },
		{ "a >= (b = 1)", 5 },
		{ "a = NULL", 4 },
		{ "NULL = a", 0 },
		{ "a <> NULL", 5 },
		{ "'x' = 1", 6 },
		{ "TRUE = 1", 7 },
		{ "1 = 'x'", 4 },
		{ "5", 0 },
		{ "'x'", 0 },
		{ "-a", 0 },
		{ "a = 1 AND 5", 10 },
		{ "5 OR a = 1", 0 },
		{ "NOT 5", 4 },
		{ "NOT", 3 },
		{ "a # 1", 2 },
		{ "a = 1 ;", 6 },
		{ "a = \x01", 4 },
		{ "a = 1 /* x", 6 },
		{ "a = 012", 4 },
		{ "a = 00", 4 },
		{ "a = 9223372036854775808", 4 },
		{ "a = -9223372036854775809", 5 },
		{ "a = - -9223372036854775808", 4 },
		{ "a = 1e999", 4 },
		{ "a = -1e999", 5 },
		{ "a = -'x'", 5 },
		{ "a = -TRUE", 5 },
		{ "a = 5abc", 5 },
		{ "a = 1.5L", 7 },
		{ "a CONTAINS 5", 11 },
		{ "a CONTAINS", 10 },
		{ "5 CONTAINS 'x'", 0 },
		{ "a STARTSWITH b", 13 },
		{ "a = NOT b", 4 },
		{ "NOT = 1", 4 },
		{ "a = 1 AND AND", 10 },
		{ "a = 1 OR (b = 2", 15 },
		{ "a.b..c = 'x' AND", 16 },
		{ "IN = 1", 0 },
		{ "TRUE = 'x'", 7 },
		{ "a = 1 -- ok\n AND", 16 },
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		parse_bad(c[i].expr, c[i].pos);
}
END_TEST

START_TEST(t_error_text)
{
	struct shmq_sqlfilter *f = NULL;

	ck_assert_int_eq(shmq__sqlfilter_parse("a > ", &f), SHMQ_EBADEXPR);
	ck_assert_str_eq(shmq_errmsg(), "sql filter \"a > \": expected a value "
	    "at position 4: invalid expression");
	ck_assert_int_eq(shmq__sqlfilter_parse("a != 1", &f), SHMQ_EBADEXPR);
	ck_assert_str_eq(shmq_errmsg(), "sql filter \"a != 1\": \"!=\" is not "
	    "SQL92, use \"<>\" at position 2: invalid expression");
	ck_assert_int_eq(shmq__sqlfilter_parse("a = 1 b", &f), SHMQ_EBADEXPR);
	ck_assert_str_eq(shmq_errmsg(), "sql filter \"a = 1 b\": expected AND, "
	    "OR or the end, found \"b\" at position 6: invalid expression");
	ck_assert_int_eq(shmq__sqlfilter_parse("a > 'x'", &f), SHMQ_EBADEXPR);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "a string cannot be used "
	    "with \">\""));
	ck_assert_int_eq(shmq__sqlfilter_parse("a = NULL", &f),
	    SHMQ_EBADEXPR);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "use IS NULL"));
	/* NULL arguments. */
	ck_assert_int_eq(shmq__sqlfilter_parse(NULL, &f), SHMQ_EINVAL);
	ck_assert_int_eq(shmq__sqlfilter_parse("TRUE", NULL), SHMQ_EINVAL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

/* PRE repeated N times, then MID, then POST repeated N times. */
static char *
nest(const char *pre, int n, const char *mid, const char *post)
{
	size_t len = (strlen(pre) + strlen(post)) * (size_t)n + strlen(mid);
	char *s = malloc(len + 1), *q = s;
	int i;

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < n; i++)
		q = stpcpy(q, pre);
	q = stpcpy(q, mid);
	for (i = 0; i < n; i++)
		q = stpcpy(q, post);
	return s;
}

START_TEST(t_depth)
{
	struct shmq_sqlfilter *f;
	char *s;
	int d = SHMQ_SQLFILTER_DEPTH_MAX;

	/* Parentheses: the limit parses, one more names the extra "(". */
	s = nest("(", d, "a = 1", ")");
	f = parse_ok(s);
	ck_assert(shmq__sqlfilter_match_props(f, P("a", "1"), 4, NULL, 0));
	ck_assert(!shmq__sqlfilter_match_props(f, P("a", "2"), 4, NULL, 0));
	shmq__sqlfilter_free(f);
	free(s);
	s = nest("(", d + 1, "a = 1", ")");
	parse_bad(s, (size_t)d);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "nested too deeply"));
	free(s);

	/* NOT chains. */
	s = nest("NOT ", d, "a = 1", "");
	f = parse_ok(s);
	ck_assert(shmq__sqlfilter_match_props(f, P("a", "1"), 4, NULL, 0) ==
	    (d % 2 == 0));
	shmq__sqlfilter_free(f);
	free(s);
	s = nest("NOT ", d + 1, "a = 1", "");
	parse_bad(s, (size_t)d * 4);
	free(s);

	/* Signs ("--" would be a comment); an even number cancel out. */
	s = nest("- ", d, "b > 0", "");
	f = parse_ok(s);
	ck_assert(shmq__sqlfilter_match_props(f, P("b", "5"), 4, NULL, 0) ==
	    (d % 2 == 0));
	shmq__sqlfilter_free(f);
	free(s);
	s = nest("- ", d + 1, "5 > 0", "");
	parse_bad(s, (size_t)d * 2);
	free(s);

	/* The deepest stack the grammar allows at the limit: each level
	 * keeps a pending OR operand and a pending "=" operand. */
	s = nest("x OR y = (", d, "a = 1", ")");
	f = parse_ok(s);
	ck_assert(!shmq__sqlfilter_match_props(f, P("a", "1"), 4, NULL, 0));
	ck_assert(shmq__sqlfilter_match_props(f, P("x", "true"), 7, NULL,
	    0));
	shmq__sqlfilter_free(f);
	free(s);
	s = nest("y = (", d, "a = 1", ")");
	f = parse_ok(s);
	/* y = (y = (... (a = 1))): every y "true" and a = 1. */
	ck_assert(shmq__sqlfilter_match_props(f, P("y", "true") P("a", "1"),
	    11, NULL, 0));
	ck_assert(!shmq__sqlfilter_match_props(f, P("y", "true") P("a", "2"),
	    11, NULL, 0));
	shmq__sqlfilter_free(f);
	free(s);
}
END_TEST

START_TEST(t_length)
{
	struct shmq_sqlfilter *f;
	size_t max = SHMQ_SQLFILTER_LEN_MAX, n, i;
	char *s;

	s = malloc(max + 2);
	ck_assert_ptr_nonnull(s);
	/* Exactly the limit parses: "a = 1" and spaces. */
	memset(s, ' ', max);
	memcpy(s, "a = 1", 5);
	s[max] = '\0';
	f = parse_ok(s);
	shmq__sqlfilter_free(f);
	/* One more byte does not, and the error says where and why. */
	s[max] = ' ';
	s[max + 1] = '\0';
	parse_bad(s, max);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "longer than 8192"));
	/* A mistake deep in a long expression keeps its position in the
	 * 1 KiB detail: the text is cut around it. */
	memset(s, ' ', 5000);
	memcpy(s + 5000, "a >", 4);
	parse_bad(s, 5003);
	ck_assert(strlen(shmq_errmsg()) < 400);
	/* A long IN list up to the limit: the last item still matches. */
	n = (size_t)sprintf(s, "b IN ('v0'");
	for (i = 1; n + 16 < max; i++)
		n += (size_t)sprintf(s + n, ", 'v%zu'", i);
	sprintf(s + n, ")");
	f = parse_ok(s);
	{
		char props[32];

		n = (size_t)snprintf(props, sizeof(props), "b\001v%zu\002",
		    i - 1);
		ck_assert(shmq__sqlfilter_match_props(f, props, n, NULL, 0));
		n = (size_t)snprintf(props, sizeof(props), "b\001v%zu\002", i);
		ck_assert(!shmq__sqlfilter_match_props(f, props, n, NULL, 0));
	}
	shmq__sqlfilter_free(f);
	free(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Lookup, encoding, program                                           */
/* ------------------------------------------------------------------ */

struct kv {
	const char	*name;
	const char	*value;
	size_t		 value_len;
};

struct kvset {
	const struct kv	*kv;
	size_t		 n;
	int		 calls;
};

static bool
kv_lookup(void *arg, const char *name, size_t nl, const char **v, size_t *vl)
{
	struct kvset *s = arg;
	size_t i;

	s->calls++;
	for (i = 0; i < s->n; i++)
		if (strlen(s->kv[i].name) == nl &&
		    memcmp(s->kv[i].name, name, nl) == 0) {
			*v = s->kv[i].value;
			*vl = s->kv[i].value_len;
			return true;
		}
	return false;
}

START_TEST(t_lookup)
{
	/* Values are length-delimited: a NUL inside one is data. */
	static const struct kv kv[] = {
		{ "name", "x\0y", 3 },
		{ "n", "42trailing", 2 },
	};
	struct kvset set = { kv, 2, 0 };
	struct shmq_sqlfilter *f;

	f = parse_ok("name = 'x' OR n = 42");
	ck_assert(shmq__sqlfilter_match(f, kv_lookup, &set));
	shmq__sqlfilter_free(f);
	/* OR and AND short-circuit: the right side is not looked up. */
	set.calls = 0;
	f = parse_ok("n = 42 OR name = 'x'");
	ck_assert(shmq__sqlfilter_match(f, kv_lookup, &set));
	ck_assert_int_eq(set.calls, 1);
	shmq__sqlfilter_free(f);
	set.calls = 0;
	f = parse_ok("n = 41 AND name = 'x'");
	ck_assert(!shmq__sqlfilter_match(f, kv_lookup, &set));
	ck_assert_int_eq(set.calls, 1);
	shmq__sqlfilter_free(f);
	f = parse_ok("name STARTSWITH 'x' AND name ENDSWITH 'y'");
	ck_assert(shmq__sqlfilter_match(f, kv_lookup, &set));
	/* No lookup at all: every property is missing. */
	ck_assert(!shmq__sqlfilter_match(f, NULL, NULL));
	shmq__sqlfilter_free(f);
	f = parse_ok("name IS NULL");
	ck_assert(shmq__sqlfilter_match(f, NULL, NULL));
	shmq__sqlfilter_free(f);
	/* A NULL filter matches everything. */
	ck_assert(shmq__sqlfilter_match(NULL, NULL, NULL));
	ck_assert(shmq__sqlfilter_match_props(NULL, NULL, 0, NULL, 0));
	shmq__sqlfilter_free(NULL);
	ck_assert_uint_eq(shmq__sqlfilter_size(NULL), 0);
}
END_TEST

START_TEST(t_props_encoding)
{
	static const char props[] = P("a", "1") P("TAGS", "user")
	    P("a", "2") P("empty", "") P("b", "unterminated");
	struct shmq_sqlfilter *f;
	size_t n = strlen(props);

	/* The first of two properties with one name wins. */
	f = parse_ok("a = 1");
	ck_assert(shmq__sqlfilter_match_props(f, props, n, NULL, 0));
	shmq__sqlfilter_free(f);
	/* TAGS is the tag, never a user property. */
	f = parse_ok("TAGS = 'user'");
	ck_assert(!shmq__sqlfilter_match_props(f, props, n, NULL, 0));
	ck_assert(!shmq__sqlfilter_match_props(f, props, n, "t", 1));
	ck_assert(shmq__sqlfilter_match_props(f, props, n, "user", 4));
	shmq__sqlfilter_free(f);
	f = parse_ok("empty = ''");
	ck_assert(shmq__sqlfilter_match_props(f, props, n, NULL, 0));
	shmq__sqlfilter_free(f);
	/* A malformed tail hides only itself. */
	f = parse_ok("b IS NULL AND a IS NOT NULL");
	ck_assert(shmq__sqlfilter_match_props(f, props, n - 1, NULL, 0));
	ck_assert(shmq__sqlfilter_match_props(f, props, n - 5, NULL, 0));
	shmq__sqlfilter_free(f);
	f = parse_ok("a IS NOT NULL");
	ck_assert(!shmq__sqlfilter_match_props(f, "a\001" "1", 3, NULL, 0));
	ck_assert(!shmq__sqlfilter_match_props(f, "a", 1, NULL, 0));
	ck_assert(!shmq__sqlfilter_match_props(f, NULL, 0, NULL, 0));
	/* props_len bounds the scan: "a" lies beyond it. */
	ck_assert(!shmq__sqlfilter_match_props(f, P("x", "1") P("a", "1"),
	    4, NULL, 0));
	shmq__sqlfilter_free(f);
}
END_TEST

START_TEST(t_copy)
{
	static const char props[] = P("name", "it's") P("n", "2")
	    P("s", "hello");
	struct shmq_sqlfilter *f;
	void *copy;
	size_t n;

	f = parse_ok("TAGS IN ('x', 'y') AND name = 'it''s' AND n > 1.5 AND "
	    "s CONTAINS 'ell'");
	n = shmq__sqlfilter_size(f);
	ck_assert_uint_gt(n, 0);
	copy = malloc(n);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, f, n);
	/* Poison and free the original: the copy refers to nothing in it. */
	memset(f, 0xa5, n);
	shmq__sqlfilter_free(f);
	f = copy;
	ck_assert(shmq__sqlfilter_match_props(f, props, sizeof(props) - 1,
	    "y", 1));
	ck_assert(!shmq__sqlfilter_match_props(f, props, sizeof(props) - 1,
	    "z", 1));
	ck_assert(!shmq__sqlfilter_match_props(f, props, sizeof(props) - 2,
	    "y", 1));
	free(copy);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Speed and threads                                                   */
/* ------------------------------------------------------------------ */

#define EVALS	1000000

static const char perf_expr[] =
    "TAGS IN ('TagA', 'TagB') AND (price BETWEEN 10 AND 100.5 OR "
    "vip = TRUE) AND region <> 'eu' AND id IS NOT NULL";
static const char perf_props[] =
    P("id", "12345") P("region", "us") P("price", "42.25") P("vip", "false")
    P("trace", "abcdef0123456789");

/*
 * A million evaluations: under ASan any allocation in match() would show
 * as a leak or slow the loop; here it also shows the cost per message.
 */
START_TEST(t_million)
{
	struct shmq_sqlfilter *f;
	size_t n = strlen(perf_props);
	uint64_t t0, ns;
	long hits = 0;
	int i;

	f = parse_ok(perf_expr);
	t0 = tu_mono_ns();
	for (i = 0; i < EVALS; i++)
		hits += shmq__sqlfilter_match_props(f, perf_props,
		    n - (size_t)(i & 1) * 2, i & 2 ? "TagA" : "TagC", 4);
	ns = tu_mono_ns() - t0;
	/* i & 2: TagA matches; odd i cut the last property, not a used
	 * one. */
	ck_assert_int_eq(hits, EVALS / 2);
	fprintf(stderr, "sqlfilter: %d evaluations in %.3f s (%.0f ns "
	    "each)\n", EVALS, (double)ns / 1e9, (double)ns / EVALS);
	shmq__sqlfilter_free(f);
}
END_TEST

struct thr {
	const struct shmq_sqlfilter	*f;
	long				 hits;
};

static void *
thr_run(void *arg)
{
	struct thr *t = arg;
	int i;

	for (i = 0; i < EVALS / 10; i++)
		t->hits += shmq__sqlfilter_match_props(t->f, perf_props,
		    strlen(perf_props), i & 1 ? "TagB" : "TagZ", 4);
	return NULL;
}

/* One filter, four threads at once: it is read-only after parsing. */
START_TEST(t_threads)
{
	struct shmq_sqlfilter *f;
	pthread_t tid[4];
	struct thr t[4];
	int i;

	f = parse_ok(perf_expr);
	for (i = 0; i < 4; i++) {
		t[i].f = f;
		t[i].hits = 0;
		ck_assert_int_eq(pthread_create(&tid[i], NULL, thr_run, &t[i]),
		    0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		ck_assert_int_eq(t[i].hits, EVALS / 20);
	}
	shmq__sqlfilter_free(f);
}
END_TEST

static Suite *
sqlfilter_suite(void)
{
	Suite *s = suite_create("sqlfilter");
	TCase *tc;

	tc = tcase_create("match");
	tcase_add_test(tc, t_numbers);
	tcase_add_test(tc, t_strings);
	tcase_add_test(tc, t_booleans);
	tcase_add_test(tc, t_between);
	tcase_add_test(tc, t_in);
	tcase_add_test(tc, t_null_and_strops);
	tcase_add_test(tc, t_logic);
	tcase_add_test(tc, t_lexical);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, t_errors);
	tcase_add_test(tc, t_error_text);
	tcase_add_test(tc, t_depth);
	tcase_add_test(tc, t_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("program");
	tcase_add_test(tc, t_lookup);
	tcase_add_test(tc, t_props_encoding);
	tcase_add_test(tc, t_copy);
	suite_add_tcase(s, tc);

	tc = tcase_create("speed");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_million);
	tcase_add_test(tc, t_threads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(sqlfilter_suite);
}
