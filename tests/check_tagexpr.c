/*
 * check_tagexpr.c - tag expressions: what parses to "every message", tag
 * lists with whitespace and duplicates, syntax errors with their position
 * in shmq_errmsg(), and matching by hash then exactly, including two real
 * tags whose 32-bit hashes collide.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "layout.h"
#include "tagexpr.h"
#include "testutil.h"

static struct shmq_tagexpr *
parse_ok(const char *expr)
{
	struct shmq_tagexpr *x = NULL;
	int err;

	err = shmq__tagexpr_parse(expr, &x);
	ck_assert_msg(err == 0, "parse \"%s\": %d %s", expr ? expr : "(null)",
	    err, shmq_errmsg());
	ck_assert_ptr_nonnull(x);
	return x;
}

/* X holds exactly the tags in WANT (NULL-terminated), in that order. */
static void
assert_tags(const struct shmq_tagexpr *x, const char *const *want)
{
	uint32_t i;

	ck_assert(!x->all);
	for (i = 0; want[i] != NULL; i++) {
		size_t n = strlen(want[i]);

		ck_assert_uint_lt(i, x->n);
		ck_assert_uint_eq(x->len[i], n);
		ck_assert(memcmp(x->tag[i], want[i], n) == 0);
		ck_assert_uint_eq(x->hash[i], shmq__tag_hash(want[i], n));
	}
	ck_assert_uint_eq(x->n, i);
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

START_TEST(t_parse_all)
{
	static const char *const alls[] = {
		"*", "", "  *  ", " ", "\t*\n", "*\r\n", "\n\t  ",
	};
	struct shmq_tagexpr *x;
	size_t i;

	x = parse_ok(NULL);
	ck_assert(x->all);
	ck_assert_uint_eq(x->n, 0);
	shmq__tagexpr_free(x);
	for (i = 0; i < sizeof(alls) / sizeof(alls[0]); i++) {
		x = parse_ok(alls[i]);
		ck_assert_msg(x->all, "\"%s\" is every message", alls[i]);
		ck_assert_uint_eq(x->n, 0);
		/* Every tag, every hash, and no tag at all, match. */
		ck_assert(shmq__tagexpr_match_hash(x, 0));
		ck_assert(shmq__tagexpr_match_hash(x, 12345));
		ck_assert(shmq__tagexpr_match(x, "anything", 8));
		ck_assert(shmq__tagexpr_match(x, "", 0));
		shmq__tagexpr_free(x);
	}
	/* A NULL expression object also matches everything. */
	ck_assert(shmq__tagexpr_match_hash(NULL, 99));
	ck_assert(shmq__tagexpr_match(NULL, "x", 1));
	shmq__tagexpr_free(NULL);
}
END_TEST

START_TEST(t_parse_one)
{
	static const char *const a[] = { "a", NULL };
	static const char *const tagA[] = { "TagA", NULL };
	struct shmq_tagexpr *x;

	x = parse_ok("a");
	assert_tags(x, a);
	shmq__tagexpr_free(x);
	x = parse_ok("   TagA\t");
	assert_tags(x, tagA);
	shmq__tagexpr_free(x);
}
END_TEST

START_TEST(t_parse_list)
{
	static const char *const abc[] = { "a", "b", "c", NULL };
	static const char *const cab[] = { "c", "a", "b", NULL };
	static const char *const long3[] = { "order.created", "pay_done",
	    "x-1%", NULL };
	struct shmq_tagexpr *x;

	x = parse_ok("a || b || c");
	assert_tags(x, abc);
	shmq__tagexpr_free(x);
	x = parse_ok("a||b||c");
	assert_tags(x, abc);
	shmq__tagexpr_free(x);
	x = parse_ok("\t a\n||  b ||\r\nc   ");
	assert_tags(x, abc);
	shmq__tagexpr_free(x);
	x = parse_ok("c || a || b");
	assert_tags(x, cab);
	shmq__tagexpr_free(x);
	x = parse_ok("order.created || pay_done || x-1%");
	assert_tags(x, long3);
	shmq__tagexpr_free(x);
}
END_TEST

START_TEST(t_parse_duplicates)
{
	static const char *const ab[] = { "a", "b", NULL };
	static const char *const one[] = { "same", NULL };
	static const char *const pre[] = { "ab", "a", "abc", NULL };
	struct shmq_tagexpr *x;

	x = parse_ok("a || a || b || a || b");
	assert_tags(x, ab);
	shmq__tagexpr_free(x);
	x = parse_ok("same||same || same");
	assert_tags(x, one);
	shmq__tagexpr_free(x);
	/* Prefixes are different tags. */
	x = parse_ok("ab || a || abc || ab");
	assert_tags(x, pre);
	shmq__tagexpr_free(x);
}
END_TEST

START_TEST(t_parse_many)
{
	struct shmq_tagexpr *x;
	char *expr, *p;
	int i;

	expr = malloc(200 * 16);
	ck_assert_ptr_nonnull(expr);
	p = expr;
	for (i = 0; i < 200; i++)
		p += sprintf(p, "%st%d", i ? " || " : "", i % 150);
	x = parse_ok(expr);
	ck_assert_uint_eq(x->n, 150);
	ck_assert(shmq__tagexpr_match(x, "t149", 4));
	ck_assert(!shmq__tagexpr_match(x, "t150", 4));
	shmq__tagexpr_free(x);
	free(expr);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static void
parse_bad(const char *expr, int pos)
{
	struct shmq_tagexpr *x = (struct shmq_tagexpr *)&x;
	char want[64];
	int err;

	err = shmq__tagexpr_parse(expr, &x);
	ck_assert_msg(err == SHMQ_EBADEXPR, "\"%s\": %d, want SHMQ_EBADEXPR",
	    expr, err);
	/* *out is not touched on failure. */
	ck_assert_ptr_eq(x, (struct shmq_tagexpr *)&x);
	snprintf(want, sizeof(want), "position %d", pos);
	ck_assert_msg(strstr(shmq_errmsg(), want) != NULL,
	    "\"%s\": message \"%s\" lacks \"%s\"", expr, shmq_errmsg(), want);
	ck_assert_msg(strstr(shmq_errmsg(), expr) != NULL,
	    "\"%s\": message \"%s\" lacks the expression", expr,
	    shmq_errmsg());
}

START_TEST(t_parse_errors)
{
	parse_bad("a ||", 4);		/* a tag after || */
	parse_bad("a || ", 5);
	parse_bad("|| b", 0);
	parse_bad("a | b", 2);
	parse_bad("a || * ", 5);	/* * only on its own */
	parse_bad("a b", 2);
	parse_bad("||", 0);
	parse_bad("a || || b", 5);
	parse_bad("a ||| b", 4);
	parse_bad("* || a", 0);
	parse_bad("**", 0);
	parse_bad("a*", 1);
	parse_bad("a|", 1);
	parse_bad("  a  b", 5);
}
END_TEST

START_TEST(t_parse_tag_length)
{
	char expr[600];
	struct shmq_tagexpr *x;
	int err;

	/* Every tag a producer may send (up to SHMQ_TAGS_MAX bytes, see
	 * shmq__msg_measure) can be selected. */
	memset(expr, 't', SHMQ_TAGS_MAX);
	expr[SHMQ_TAGS_MAX] = '\0';
	x = NULL;
	err = shmq__tagexpr_parse(expr, &x);
	ck_assert_msg(err == 0, "a %d-byte tag: %s", SHMQ_TAGS_MAX,
	    shmq_errmsg());
	ck_assert_uint_eq(x->n, 1);
	ck_assert_uint_eq(x->len[0], SHMQ_TAGS_MAX);
	shmq__tagexpr_free(x);
	/* Longer than any tag can be is an error. */
	memset(expr, 't', 500);
	expr[500] = '\0';
	ck_assert_int_eq(shmq__tagexpr_parse(expr, &x), SHMQ_EBADEXPR);
	ck_assert_ptr_nonnull(strstr(shmq_errmsg(), "position 0"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Matching                                                            */
/* ------------------------------------------------------------------ */

static uint32_t
th(const char *s)
{
	return shmq__tag_hash(s, strlen(s));
}

START_TEST(t_match_hash)
{
	struct shmq_tagexpr *x = parse_ok("a || b");

	/* The strings used below have distinct hashes. */
	ck_assert_uint_ne(th("a"), th("c"));
	ck_assert_uint_ne(th("b"), th("c"));
	ck_assert(shmq__tagexpr_match_hash(x, th("a")));
	ck_assert(shmq__tagexpr_match_hash(x, th("b")));
	ck_assert(!shmq__tagexpr_match_hash(x, th("c")));
	/* A message without a tag (hash 0) never matches a tag list. */
	ck_assert_uint_eq(shmq__tag_hash("", 0), 0);
	ck_assert_uint_ne(th("a"), 0);
	ck_assert(!shmq__tagexpr_match_hash(x, 0));
	shmq__tagexpr_free(x);
}
END_TEST

START_TEST(t_match_exact)
{
	struct shmq_tagexpr *x = parse_ok("abc || d");
	const char *buf = "abcdef";

	ck_assert(shmq__tagexpr_match(x, "abc", 3));
	ck_assert(shmq__tagexpr_match(x, "d", 1));
	ck_assert(!shmq__tagexpr_match(x, "ab", 2));
	ck_assert(!shmq__tagexpr_match(x, "abcd", 4));
	ck_assert(!shmq__tagexpr_match(x, "ABC", 3));
	ck_assert(!shmq__tagexpr_match(x, "", 0));
	ck_assert(!shmq__tagexpr_match(x, "e", 1));
	/* Tags in a record are not NUL-terminated: lengths rule. */
	ck_assert(shmq__tagexpr_match(x, buf, 3));
	ck_assert(!shmq__tagexpr_match(x, buf, 4));
	ck_assert(shmq__tagexpr_match(x, buf + 3, 1));
	ck_assert(!shmq__tagexpr_match(x, buf + 3, 2));
	shmq__tagexpr_free(x);
}
END_TEST

struct hent {
	uint32_t	h;
	uint32_t	i;
};

static int
hent_cmp(const void *a, const void *b)
{
	const struct hent *x = a, *y = b;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

START_TEST(t_match_collision)
{
	/* 2^19 tags of 32-bit hashes collide with near certainty (birthday
	 * bound: about 32 expected pairs). */
	const uint32_t N = 1u << 19;
	struct hent *v = malloc(N * sizeof(*v));
	struct shmq_tagexpr *x;
	char a[32], b[32], expr[80];
	uint32_t i;

	ck_assert_ptr_nonnull(v);
	for (i = 0; i < N; i++) {
		snprintf(a, sizeof(a), "tag%u", i);
		v[i].h = th(a);
		v[i].i = i;
	}
	qsort(v, N, sizeof(*v), hent_cmp);
	for (i = 1; i < N; i++)
		if (v[i].h == v[i - 1].h)
			break;
	ck_assert_msg(i < N, "no collision among %u tags", N);
	snprintf(a, sizeof(a), "tag%u", v[i - 1].i);
	snprintf(b, sizeof(b), "tag%u", v[i].i);
	free(v);
	ck_assert_str_ne(a, b);
	ck_assert_uint_eq(th(a), th(b));

	snprintf(expr, sizeof(expr), "x || %s", a);
	x = parse_ok(expr);
	/* The hash cannot tell them apart; the exact match can. */
	ck_assert(shmq__tagexpr_match_hash(x, th(b)));
	ck_assert(shmq__tagexpr_match(x, a, strlen(a)));
	ck_assert(!shmq__tagexpr_match(x, b, strlen(b)));
	shmq__tagexpr_free(x);
	/* Both in one expression: both kept, both match. */
	snprintf(expr, sizeof(expr), "%s || %s", a, b);
	x = parse_ok(expr);
	ck_assert_uint_eq(x->n, 2);
	ck_assert(shmq__tagexpr_match(x, a, strlen(a)));
	ck_assert(shmq__tagexpr_match(x, b, strlen(b)));
	shmq__tagexpr_free(x);
}
END_TEST

static Suite *
tagexpr_suite(void)
{
	Suite *s = suite_create("tagexpr");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, t_parse_all);
	tcase_add_test(tc, t_parse_one);
	tcase_add_test(tc, t_parse_list);
	tcase_add_test(tc, t_parse_duplicates);
	tcase_add_test(tc, t_parse_many);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, t_parse_errors);
	tcase_add_test(tc, t_parse_tag_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("match");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, t_match_hash);
	tcase_add_test(tc, t_match_exact);
	tcase_add_test(tc, t_match_collision);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(tagexpr_suite);
}
