/*
 * tagexpr.c - tag expressions (see tagexpr.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "layout.h"
#include "tagexpr.h"

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool
is_tag_char(char c)
{
	return c != '\0' && c != '|' && !is_space(c);
}

void
shmq__tagexpr_free(struct shmq_tagexpr *x)
{
	uint32_t i;

	if (x == NULL)
		return;
	for (i = 0; i < x->n; i++)
		free(x->tag[i]);
	free(x->tag);
	free(x->hash);
	free(x->len);
	free(x);
}

static int
add_tag(struct shmq_tagexpr *x, const char *s, size_t n)
{
	uint32_t i;
	void *p;

	for (i = 0; i < x->n; i++)
		if (x->len[i] == n && memcmp(x->tag[i], s, n) == 0)
			return 0;
	if ((p = reallocarray(x->tag, x->n + 1, sizeof(*x->tag))) == NULL)
		return SHMQ_ENOMEM;
	x->tag = p;
	if ((p = reallocarray(x->hash, x->n + 1, sizeof(*x->hash))) == NULL)
		return SHMQ_ENOMEM;
	x->hash = p;
	if ((p = reallocarray(x->len, x->n + 1, sizeof(*x->len))) == NULL)
		return SHMQ_ENOMEM;
	x->len = p;
	if ((x->tag[x->n] = strndup(s, n)) == NULL)
		return SHMQ_ENOMEM;
	x->hash[x->n] = shmq__tag_hash(s, n);
	x->len[x->n] = n;
	x->n++;
	return 0;
}

int
shmq__tagexpr_parse(const char *expr, struct shmq_tagexpr **out)
{
	struct shmq_tagexpr *x;
	const char *p = expr, *s;
	int err;

	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "tag expression");
	if (expr == NULL) {
		x->all = true;
		goto done;
	}
	while (is_space(*p))
		p++;
	if (*p == '\0' || (*p == '*' && ({
	    const char *q = p + 1;
	    while (is_space(*q))
		    q++;
	    *q == '\0'; }))) {
		x->all = true;
		goto done;
	}
	for (;;) {
		while (is_space(*p))
			p++;
		s = p;
		while (is_tag_char(*p) && *p != '*')
			p++;
		if (p == s || *p == '*') {
			err = SHMQ_ERR(SHMQ_EBADEXPR, "tag expression \"%s\": "
			    "expected a tag at position %td", expr,
			    (ptrdiff_t)(p - expr));
			goto fail;
		}
		if (p - s > SHMQ_TAGS_MAX) {
			err = SHMQ_ERR(SHMQ_EBADEXPR, "tag expression \"%s\": "
			    "tag too long at position %td", expr,
			    (ptrdiff_t)(s - expr));
			goto fail;
		}
		if ((err = add_tag(x, s, (size_t)(p - s))) < 0) {
			err = SHMQ_ERR(err, "tag expression");
			goto fail;
		}
		while (is_space(*p))
			p++;
		if (*p == '\0')
			break;
		if (p[0] != '|' || p[1] != '|') {
			err = SHMQ_ERR(SHMQ_EBADEXPR, "tag expression \"%s\": "
			    "expected \"||\" at position %td", expr,
			    (ptrdiff_t)(p - expr));
			goto fail;
		}
		p += 2;
	}
done:
	*out = x;
	return 0;
fail:
	shmq__tagexpr_free(x);
	return err;
}

bool
shmq__tagexpr_match(const struct shmq_tagexpr *x, const char *tag, size_t len)
{
	uint32_t i;

	if (x == NULL || x->all)
		return true;
	for (i = 0; i < x->n; i++)
		if (x->len[i] == len && memcmp(x->tag[i], tag, len) == 0)
			return true;
	return false;
}
