/*
 * sqlfilter.c - SQL92 property filters (see sqlfilter.h for the language).
 *
 * A recursive-descent parser emits postfix code for a small stack machine;
 * match() runs it with a fixed array on the C stack as the value stack.
 * The parser knows the static kind of every operand (number, string,
 * boolean, NULL or property), which lets it reject at parse time what
 * RocketMQ rejects when it builds its expression tree (a string with ">",
 * NULL with "=", IN after a constant) and keeps run-time checks to the one
 * case that needs them: what a property's text converts to.
 *
 * AND and OR short-circuit with a jump over their right operand, leaving
 * the left value on the stack, so the jumped-to code sees the same stack
 * depth on both paths.  The parser tracks the depth of every instruction
 * it emits; the nesting limit keeps it under SQLF_STACK_MAX.
 *
 * Program layout, one allocation, no pointers:
 *
 *	struct shmq_sqlfilter	header
 *	struct insn[ninsn]	code
 *	char[]			names and decoded string literals,
 *				by offset from the start of the header
 */
#include "config.h"

#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "sqlfilter.h"

/*
 * Value stack size.  Each level of nesting holds at most two pending values
 * (the subject and low bound of a BETWEEN whose high bound is in
 * parentheses), plus the innermost comparison's two.
 */
#define SQLF_STACK_MAX	(2 * (SHMQ_SQLFILTER_DEPTH_MAX + 1) + 2)

/* Longest property text read as a number; longer is not a number. */
#define SQLF_NUM_MAX	64

enum op {
	OP_NULL,	/* push NULL */
	OP_BOOL,	/* push u.l != 0 */
	OP_LONG,	/* push u.l */
	OP_DOUBLE,	/* push u.d */
	OP_STR,		/* push string literal (u.off, n) */
	OP_PROP,	/* push property named (u.off, n), or NULL if absent */
	OP_NEG,		/* top = -top, as a number */
	OP_CMP,		/* pop b, a; push a <arg> b */
	OP_BETWEEN,	/* pop hi, lo, v; push lo <= v <= hi (arg: NOT) */
	OP_IN,		/* top = top in the n OP_ITEMs next (arg: NOT) */
	OP_ITEM,	/* an IN list string (u.off, n); never executed */
	OP_CONTAINS,	/* top = top contains (u.off, n) (arg: NOT) */
	OP_STARTS,	/* top = top starts with (u.off, n) (arg: NOT) */
	OP_ENDS,	/* top = top ends with (u.off, n) (arg: NOT) */
	OP_ISNULL,	/* top = top IS NULL (arg: NOT) */
	OP_NOT,		/* top = NOT top */
	OP_JF,		/* top = truth(top); if false, jump to n */
	OP_JT,		/* top = truth(top); if true, jump to n */
	OP_AND,		/* pop b, a; push a AND b */
	OP_OR,		/* pop b, a; push a OR b */
};

/* Comparison operators, the arg of OP_CMP. */
enum cmp { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

struct insn {
	uint8_t		 op;
	uint8_t		 arg;	/* enum cmp, or the NOT flag */
	uint16_t	 pad;
	uint32_t	 n;	/* string bytes, item count, jump target */
	union {
		int64_t	 l;
		double	 d;
		uint64_t off;	/* string, from the program's start */
	} u;
};
_Static_assert(sizeof(struct insn) == 16, "insn is 16 bytes");

struct shmq_sqlfilter {
	uint32_t	 size_bytes;	/* the whole allocation */
	uint32_t	 ninsn;
	uint32_t	 stack_max;	/* deepest value stack of the code */
	uint32_t	 pad;
	struct insn	 insn[];
};

/* ------------------------------------------------------------------ */
/* Values and conversions (shared by the parser and the evaluator)     */
/* ------------------------------------------------------------------ */

enum vtype { V_NULL, V_BOOL, V_LONG, V_DOUBLE, V_STR, V_PROP };

/* A value on the stack; strings are borrowed (program or message). */
struct val {
	enum vtype	 t;
	union {
		bool	 b;
		int64_t	 l;
		double	 d;
		struct {
			const char	*p;
			size_t		 n;
		} s;
	} u;
};

/* Three-valued truth. */
enum tri { TRI_FALSE, TRI_TRUE, TRI_UNKNOWN };

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale_obj;

static void
c_locale_init(void)
{
	c_locale_obj = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/*
 * strtod() in the "C" locale: a program that called setlocale() must not
 * turn "1.5" into 1.  If newlocale() failed, fall back to the process's
 * locale rather than fail a match.  S is NUL-terminated.
 */
static double
c_strtod(const char *s, char **end)
{
	pthread_once(&c_locale_once, c_locale_init);
	if (c_locale_obj != (locale_t)0)
		return strtod_l(s, end, c_locale_obj);
	return strtod(s, end);
}

/*
 * Read property text S (N bytes) as a number: [+-]digits[.digits][e[+-]
 * digits], or with the digits before or after the point omitted (not
 * both).  Integers that fit are longs, the rest doubles.  Returns false
 * if S is not a number.  Bounded and allocation-free: the digits are
 * copied to a stack buffer for strtod.
 */
static bool
str_number(const char *s, size_t n, struct val *v)
{
	char buf[SQLF_NUM_MAX + 1];
	size_t i = 0, digits = 0;
	uint64_t m = 0;
	bool neg = false, integer = true, overflow = false;
	unsigned d;

	if (n == 0 || n > SQLF_NUM_MAX)
		return false;
	if (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-';
		i++;
	}
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		d = (unsigned)(s[i] - '0');
		if (m > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			m = m * 10 + d;
	}
	if (i < n && s[i] == '.') {
		integer = false;
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	}
	if (digits == 0)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		integer = false;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i == n || s[i] < '0' || s[i] > '9')
			return false;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i != n)
		return false;
	if (integer && !overflow) {
		if (!neg && m <= (uint64_t)INT64_MAX) {
			v->t = V_LONG;
			v->u.l = (int64_t)m;
			return true;
		}
		if (neg && m <= (uint64_t)INT64_MAX + 1) {
			v->t = V_LONG;
			v->u.l = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN :
			    -(int64_t)m;
			return true;
		}
	}
	/* Too big for a long, or not an integer: a double, as Java's
	 * Double.valueOf() would give (infinities included). */
	memcpy(buf, s, n);
	buf[n] = '\0';
	v->t = V_DOUBLE;
	v->u.d = c_strtod(buf, NULL);
	return true;
}

/* V as a number (V_LONG or V_DOUBLE) in *out; false if it is not one. */
static bool
as_number(const struct val *v, struct val *out)
{
	switch (v->t) {
	case V_LONG:
	case V_DOUBLE:
		*out = *v;
		return true;
	case V_PROP:
		return str_number(v->u.s.p, v->u.s.n, out);
	default:
		return false;
	}
}

/* V as a truth value: booleans, and properties spelling true or false. */
static enum tri
truth(const struct val *v)
{
	switch (v->t) {
	case V_BOOL:
		return v->u.b ? TRI_TRUE : TRI_FALSE;
	case V_PROP:
		if (v->u.s.n == 4 && strncasecmp(v->u.s.p, "true", 4) == 0)
			return TRI_TRUE;
		if (v->u.s.n == 5 && strncasecmp(v->u.s.p, "false", 5) == 0)
			return TRI_FALSE;
		return TRI_UNKNOWN;
	default:
		return TRI_UNKNOWN;
	}
}

/* Store a truth value: unknown is NULL, as RocketMQ's null Boolean. */
static void
set_tri(struct val *v, enum tri t)
{
	if (t == TRI_UNKNOWN)
		v->t = V_NULL;
	else {
		v->t = V_BOOL;
		v->u.b = t == TRI_TRUE;
	}
}

static enum tri
tri_not(enum tri a)
{
	return a == TRI_UNKNOWN ? a : a == TRI_TRUE ? TRI_FALSE : TRI_TRUE;
}

static enum tri
tri_and(enum tri a, enum tri b)
{
	if (a == TRI_FALSE || b == TRI_FALSE)
		return TRI_FALSE;
	if (a == TRI_UNKNOWN || b == TRI_UNKNOWN)
		return TRI_UNKNOWN;
	return TRI_TRUE;
}

static enum tri
tri_or(enum tri a, enum tri b)
{
	if (a == TRI_TRUE || b == TRI_TRUE)
		return TRI_TRUE;
	if (a == TRI_UNKNOWN || b == TRI_UNKNOWN)
		return TRI_UNKNOWN;
	return TRI_FALSE;
}

/* -1, 0 or 1 for numbers A and B: exact for two longs, else as doubles. */
static int
num_order(const struct val *a, const struct val *b)
{
	double x, y;

	if (a->t == V_LONG && b->t == V_LONG)
		return (a->u.l > b->u.l) - (a->u.l < b->u.l);
	x = a->t == V_LONG ? (double)a->u.l : a->u.d;
	y = b->t == V_LONG ? (double)b->u.l : b->u.d;
	return (x > y) - (x < y);
}

/* A = B, by the type of the more specific side (see sqlfilter.h). */
static enum tri
equal(const struct val *a, const struct val *b)
{
	struct val x, y;
	enum tri p, q;

	if (a->t == V_LONG || a->t == V_DOUBLE ||
	    b->t == V_LONG || b->t == V_DOUBLE) {
		if (!as_number(a, &x) || !as_number(b, &y))
			return TRI_UNKNOWN;
		return num_order(&x, &y) == 0 ? TRI_TRUE : TRI_FALSE;
	}
	if (a->t == V_BOOL || b->t == V_BOOL) {
		p = truth(a);
		q = truth(b);
		if (p == TRI_UNKNOWN || q == TRI_UNKNOWN)
			return TRI_UNKNOWN;
		return p == q ? TRI_TRUE : TRI_FALSE;
	}
	/* Both strings (literals or properties). */
	if (a->u.s.n != b->u.s.n)
		return TRI_FALSE;
	return memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0 ? TRI_TRUE :
	    TRI_FALSE;
}

/* A OP B: unknown if either is NULL or they do not convert. */
static enum tri
compare(enum cmp op, const struct val *a, const struct val *b)
{
	struct val x, y;
	int o;

	if (a->t == V_NULL || b->t == V_NULL)
		return TRI_UNKNOWN;
	if (op == CMP_EQ)
		return equal(a, b);
	if (op == CMP_NE)
		return tri_not(equal(a, b));
	if (!as_number(a, &x) || !as_number(b, &y))
		return TRI_UNKNOWN;
	o = num_order(&x, &y);
	switch (op) {
	case CMP_LT:
		return o < 0 ? TRI_TRUE : TRI_FALSE;
	case CMP_LE:
		return o <= 0 ? TRI_TRUE : TRI_FALSE;
	case CMP_GT:
		return o > 0 ? TRI_TRUE : TRI_FALSE;
	default:
		return o >= 0 ? TRI_TRUE : TRI_FALSE;
	}
}

/* Strings: literals and properties (a property is always text). */
static bool
is_string(const struct val *v)
{
	return v->t == V_STR || v->t == V_PROP;
}

/* ------------------------------------------------------------------ */
/* Evaluation                                                          */
/* ------------------------------------------------------------------ */

/*
 * Run F's code.  The parser guarantees the code is well formed: stack
 * depth within stack_max, jumps forward and in range, IN followed by its
 * items.  No allocation here or in anything it calls.
 */
bool
shmq__sqlfilter_match(const struct shmq_sqlfilter *f,
    shmq__sqlfilter_lookup_cb lookup, void *arg)
{
	struct val st[SQLF_STACK_MAX], *top = NULL;
	const struct insn *in;
	const char *base, *s, *p;
	size_t n, vn;
	uint32_t pc, sp = 0, i;
	enum tri t;
	bool hit;

	if (f == NULL)
		return true;
	base = (const char *)f;
	for (pc = 0; pc < f->ninsn; pc++) {
		in = &f->insn[pc];
		switch ((enum op)in->op) {
		case OP_NULL:
			st[sp++].t = V_NULL;
			break;
		case OP_BOOL:
			st[sp].t = V_BOOL;
			st[sp++].u.b = in->u.l != 0;
			break;
		case OP_LONG:
			st[sp].t = V_LONG;
			st[sp++].u.l = in->u.l;
			break;
		case OP_DOUBLE:
			st[sp].t = V_DOUBLE;
			st[sp++].u.d = in->u.d;
			break;
		case OP_STR:
			st[sp].t = V_STR;
			st[sp].u.s.p = base + in->u.off;
			st[sp++].u.s.n = in->n;
			break;
		case OP_PROP:
			if (lookup != NULL && lookup(arg, base + in->u.off,
			    in->n, &p, &vn)) {
				st[sp].t = V_PROP;
				st[sp].u.s.p = p;
				st[sp].u.s.n = vn;
			} else
				st[sp].t = V_NULL;
			sp++;
			break;
		case OP_NEG:
			top = &st[sp - 1];
			if (!as_number(top, top))
				top->t = V_NULL;
			else if (top->t == V_DOUBLE)
				top->u.d = -top->u.d;
			else if (top->u.l == INT64_MIN) {
				top->t = V_DOUBLE;
				top->u.d = -(double)INT64_MIN;
			} else
				top->u.l = -top->u.l;
			break;
		case OP_CMP:
			sp--;
			top = &st[sp - 1];
			set_tri(top, compare((enum cmp)in->arg, top, &st[sp]));
			break;
		case OP_BETWEEN:
			sp -= 2;
			top = &st[sp - 1];
			/* RocketMQ's expansion: v >= lo AND v <= hi, and
			 * v < lo OR v > hi for NOT BETWEEN. */
			if (in->arg)
				t = tri_or(compare(CMP_LT, top, &st[sp]),
				    compare(CMP_GT, top, &st[sp + 1]));
			else
				t = tri_and(compare(CMP_GE, top, &st[sp]),
				    compare(CMP_LE, top, &st[sp + 1]));
			set_tri(top, t);
			break;
		case OP_IN:
			top = &st[sp - 1];
			if (!is_string(top)) {
				top->t = V_NULL;
				pc += in->n;
				break;
			}
			hit = false;
			for (i = 1; i <= in->n && !hit; i++) {
				const struct insn *it = &f->insn[pc + i];

				hit = it->n == top->u.s.n && memcmp(base +
				    it->u.off, top->u.s.p, it->n) == 0;
			}
			set_tri(top, hit != (in->arg != 0) ? TRI_TRUE :
			    TRI_FALSE);
			pc += in->n;
			break;
		case OP_ITEM:
			break;
		case OP_CONTAINS:
		case OP_STARTS:
		case OP_ENDS:
			top = &st[sp - 1];
			if (!is_string(top)) {
				top->t = V_NULL;
				break;
			}
			s = base + in->u.off;
			n = in->n;
			p = top->u.s.p;
			vn = top->u.s.n;
			if (n > vn)
				hit = false;
			else if (in->op == OP_STARTS)
				hit = memcmp(p, s, n) == 0;
			else if (in->op == OP_ENDS)
				hit = memcmp(p + vn - n, s, n) == 0;
			else
				hit = n == 0 || memmem(p, vn, s, n) != NULL;
			set_tri(top, hit != (in->arg != 0) ? TRI_TRUE :
			    TRI_FALSE);
			break;
		case OP_ISNULL:
			top = &st[sp - 1];
			hit = top->t == V_NULL;
			set_tri(top, hit != (in->arg != 0) ? TRI_TRUE :
			    TRI_FALSE);
			break;
		case OP_NOT:
			top = &st[sp - 1];
			set_tri(top, tri_not(truth(top)));
			break;
		case OP_JF:
		case OP_JT:
			top = &st[sp - 1];
			t = truth(top);
			set_tri(top, t);
			if (t == (in->op == OP_JT ? TRI_TRUE : TRI_FALSE))
				pc = in->n - 1;
			break;
		case OP_AND:
			sp--;
			top = &st[sp - 1];
			set_tri(top, tri_and(truth(top), truth(&st[sp])));
			break;
		case OP_OR:
			sp--;
			top = &st[sp - 1];
			set_tri(top, tri_or(truth(top), truth(&st[sp])));
			break;
		}
	}
	return sp == 1 && truth(&st[0]) == TRI_TRUE;
}

/* A record's properties and tag, for props_lookup(). */
struct propbuf {
	const char	*props;
	size_t		 props_len;
	const char	*tags;
	size_t		 tags_len;
};

/*
 * Look NAME up in "name\1value\2..." (see msg.c), or answer TAGS from the
 * tag.  Stops at the first malformed entry: what precedes it is still
 * found.
 */
static bool
props_lookup(void *arg, const char *name, size_t nl, const char **val,
    size_t *vl)
{
	const struct propbuf *pb = arg;
	const char *p, *end, *sep, *stop;

	if (nl == 4 && memcmp(name, "TAGS", 4) == 0) {
		if (pb->tags == NULL || pb->tags_len == 0)
			return false;
		*val = pb->tags;
		*vl = pb->tags_len;
		return true;
	}
	if (pb->props == NULL)
		return false;
	p = pb->props;
	end = p + pb->props_len;
	while (p < end) {
		if ((sep = memchr(p, '\1', (size_t)(end - p))) == NULL)
			return false;
		stop = memchr(sep + 1, '\2', (size_t)(end - sep - 1));
		if (stop == NULL)
			return false;
		if ((size_t)(sep - p) == nl && memcmp(p, name, nl) == 0) {
			*val = sep + 1;
			*vl = (size_t)(stop - sep - 1);
			return true;
		}
		p = stop + 1;
	}
	return false;
}

bool
shmq__sqlfilter_match_props(const struct shmq_sqlfilter *f,
    const char *props, size_t props_len, const char *tags, size_t tags_len)
{
	struct propbuf pb = { props, props_len, tags, tags_len };

	return shmq__sqlfilter_match(f, props_lookup, &pb);
}

size_t
shmq__sqlfilter_size(const struct shmq_sqlfilter *f)
{
	return f == NULL ? 0 : f->size_bytes;
}

void
shmq__sqlfilter_free(struct shmq_sqlfilter *f)
{
	free(f);
}

/* ------------------------------------------------------------------ */
/* Tokens                                                              */
/* ------------------------------------------------------------------ */

enum tok {
	T_END, T_IDENT, T_STR, T_INT, T_FLOAT,
	T_LP, T_RP, T_COMMA, T_PLUS, T_MINUS,
	T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE,
	/* Keywords, in the order of keywords[]. */
	T_NOT, T_AND, T_OR, T_BETWEEN, T_IN, T_IS, T_TRUE, T_FALSE, T_NULL,
	T_CONTAINS, T_STARTSWITH, T_ENDSWITH
};

static const char *const keywords[] = {
	"NOT", "AND", "OR", "BETWEEN", "IN", "IS", "TRUE", "FALSE", "NULL",
	"CONTAINS", "STARTSWITH", "ENDSWITH"
};

/* What an operand is known to be before any message is seen. */
enum kind { K_NULL, K_BOOL, K_NUM, K_STR, K_PROP };

static const char *const kind_names[] = {
	"NULL", "a condition", "a number", "a string", "a property"
};

struct parser {
	const char	*src;
	size_t		 len;
	size_t		 pos;		/* scanner position */
	enum tok	 tok;		/* current token */
	size_t		 tpos;		/* its offset in src */
	size_t		 tlen;		/* its length in src */
	int		 depth;

	struct insn	*code;
	uint32_t	 ncode;
	uint32_t	 capcode;
	uint32_t	 sp;		/* stack depth after code so far */
	uint32_t	 spmax;
	char		*pool;		/* strings, <= len bytes */
	size_t		 npool;
};

/*
 * Fail with SHMQ_EBADEXPR: 'sql filter "EXPR": WHAT at position POS'.
 * Long expressions are shown as an excerpt around POS so that the detail
 * (1 KiB) keeps the position.
 */
static int perr(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
perr(struct parser *p, size_t pos, const char *fmt, ...)
{
	char what[256];
	size_t from = 0, n = p->len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (n > 160) {
		from = pos > 60 ? pos - 60 : 0;
		n = p->len - from > 120 ? 120 : p->len - from;
	}
	return SHMQ_ERR(SHMQ_EBADEXPR, "sql filter \"%s%.*s%s\": %s at "
	    "position %zu", from > 0 ? "..." : "", (int)n, p->src + from,
	    from + n < p->len ? "..." : "", what, pos);
}

/* Fail with "expected EXPECTED, found \"<current token>\"". */
static int
found(struct parser *p, const char *expected)
{
	if (p->tok == T_END)
		return perr(p, p->tpos, "expected %s", expected);
	return perr(p, p->tpos, "expected %s, found \"%.*s\"", expected,
	    (int)(p->tlen > 24 ? 24 : p->tlen), p->src + p->tpos);
}

/* Property names: RocketMQ's ID, plus '.' after the first character. */
static bool
is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	    c == '$';
}

static bool
is_ident_char(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9') || c == '.';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Skip white space and comments.  0 or an error (unclosed comment). */
static int
skip_space(struct parser *p)
{
	const char *s = p->src;
	const char *end;

	for (;;) {
		switch (s[p->pos]) {
		case ' ': case '\t': case '\n': case '\r': case '\f':
			p->pos++;
			continue;
		case '-':
			if (s[p->pos + 1] != '-')
				return 0;
			while (s[p->pos] != '\0' && s[p->pos] != '\n' &&
			    s[p->pos] != '\r')
				p->pos++;
			continue;
		case '/':
			if (s[p->pos + 1] != '*')
				return 0;
			end = strstr(s + p->pos + 2, "*/");
			if (end == NULL)
				return perr(p, p->pos, "unterminated comment");
			p->pos = (size_t)(end - s) + 2;
			continue;
		default:
			return 0;
		}
	}
}

/* Scan a number at p->pos: RocketMQ's DECIMAL and FLOATING_POINT. */
static void
scan_number(struct parser *p)
{
	const char *s = p->src;
	size_t i = p->pos;
	bool flt = false;

	while (is_digit(s[i]))
		i++;
	if (s[i] == '.') {
		flt = true;
		for (i++; is_digit(s[i]); i++)
			;
	}
	if ((s[i] == 'e' || s[i] == 'E') && (is_digit(s[i + 1]) ||
	    ((s[i + 1] == '+' || s[i + 1] == '-') && is_digit(s[i + 2])))) {
		flt = true;
		for (i += 2; is_digit(s[i]); i++)
			;
	}
	if (!flt && (s[i] == 'l' || s[i] == 'L'))
		i++;
	p->tok = flt ? T_FLOAT : T_INT;
	p->pos = i;
}

/* Advance to the next token.  0 or an error. */
static int
next(struct parser *p)
{
	const char *s = p->src;
	size_t i, k;
	int err;

	if ((err = skip_space(p)) < 0)
		return err;
	p->tpos = i = p->pos;
	switch (s[i]) {
	case '\0':
		p->tok = T_END;
		break;
	case '(': p->tok = T_LP; p->pos++; break;
	case ')': p->tok = T_RP; p->pos++; break;
	case ',': p->tok = T_COMMA; p->pos++; break;
	case '+': p->tok = T_PLUS; p->pos++; break;
	case '-': p->tok = T_MINUS; p->pos++; break;
	case '=':
		if (s[i + 1] == '=')
			return perr(p, i, "\"==\" is not SQL92, use \"=\"");
		p->tok = T_EQ;
		p->pos++;
		break;
	case '!':
		if (s[i + 1] == '=')
			return perr(p, i, "\"!=\" is not SQL92, use \"<>\"");
		return perr(p, i, "unexpected character '!'");
	case '<':
		p->tok = s[i + 1] == '=' ? T_LE : s[i + 1] == '>' ? T_NE :
		    T_LT;
		p->pos += p->tok == T_LT ? 1 : 2;
		break;
	case '>':
		p->tok = s[i + 1] == '=' ? T_GE : T_GT;
		p->pos += p->tok == T_GT ? 1 : 2;
		break;
	case '\'':
		/* '' inside a string is one quote. */
		for (i++;; i++) {
			if (s[i] == '\0')
				return perr(p, p->tpos, "unterminated string");
			if (s[i] == '\'') {
				if (s[i + 1] != '\'')
					break;
				i++;
			}
		}
		p->tok = T_STR;
		p->pos = i + 1;
		break;
	default:
		if (is_digit(s[i]) || (s[i] == '.' && is_digit(s[i + 1]))) {
			scan_number(p);
			break;
		}
		if (!is_ident_start(s[i])) {
			if (isprint((unsigned char)s[i]))
				return perr(p, i, "unexpected character '%c'",
				    s[i]);
			return perr(p, i, "unexpected byte 0x%02x",
			    (unsigned char)s[i]);
		}
		while (is_ident_char(s[i]))
			i++;
		p->tok = T_IDENT;
		p->pos = i;
		for (k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++)
			if (strlen(keywords[k]) == i - p->tpos &&
			    strncasecmp(keywords[k], s + p->tpos,
			    i - p->tpos) == 0) {
				p->tok = (enum tok)(T_NOT + k);
				break;
			}
		break;
	}
	p->tlen = p->pos - p->tpos;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Code generation                                                     */
/* ------------------------------------------------------------------ */

/* How many values OP adds to the stack (negative: removes). */
static int
op_effect(enum op op)
{
	switch (op) {
	case OP_NULL: case OP_BOOL: case OP_LONG: case OP_DOUBLE:
	case OP_STR: case OP_PROP:
		return 1;
	case OP_CMP: case OP_AND: case OP_OR:
		return -1;
	case OP_BETWEEN:
		return -2;
	default:
		return 0;
	}
}

/* Append an instruction; its index in *at if AT is not NULL. */
static int
emit(struct parser *p, enum op op, int arg, const struct insn *proto,
    uint32_t *at)
{
	struct insn *in;
	void *np;
	uint32_t cap;

	if (p->ncode == p->capcode) {
		cap = p->capcode == 0 ? 32 : p->capcode * 2;
		if ((np = reallocarray(p->code, cap, sizeof(*p->code))) ==
		    NULL)
			return SHMQ_ERR(SHMQ_ENOMEM, "sql filter");
		p->code = np;
		p->capcode = cap;
	}
	in = &p->code[p->ncode];
	if (proto != NULL)
		*in = *proto;
	else
		memset(in, 0, sizeof(*in));
	in->op = (uint8_t)op;
	in->arg = (uint8_t)arg;
	if (at != NULL)
		*at = p->ncode;
	p->ncode++;
	p->sp = (uint32_t)((int)p->sp + op_effect(op));
	if (p->sp > p->spmax)
		p->spmax = p->sp;
	/* The nesting limit should make this impossible; if it did not,
	 * match() would overrun its stack, so refuse. */
	if (p->spmax > SQLF_STACK_MAX)
		return perr(p, p->tpos, "expression too complex");
	return 0;
}

/*
 * Emit OP with the string SRC (N bytes) copied into the pool; with
 * UNQUOTE, "''" becomes "'".  The pool cannot overflow: every byte in it
 * comes from a distinct byte of the expression.
 */
static int
emit_str(struct parser *p, enum op op, int arg, const char *src, size_t n,
    bool unquote)
{
	struct insn in;
	size_t i, start = p->npool;

	for (i = 0; i < n; i++) {
		p->pool[p->npool++] = src[i];
		if (unquote && src[i] == '\'')
			i++;
	}
	memset(&in, 0, sizeof(in));
	in.n = (uint32_t)(p->npool - start);
	in.u.off = start;	/* made absolute in finish() */
	return emit(p, op, arg, &in, NULL);
}

/* Emit the current T_STR token's text as OP. */
static int
emit_strtok(struct parser *p, enum op op, int arg)
{
	return emit_str(p, op, arg, p->src + p->tpos + 1, p->tlen - 2, true);
}

/* ------------------------------------------------------------------ */
/* Parser                                                              */
/* ------------------------------------------------------------------ */

static int parse_or(struct parser *, size_t *);

/* Consume token T, or fail with "expected WHAT". */
static int
expect(struct parser *p, enum tok t, const char *what)
{
	if (p->tok != t)
		return found(p, what);
	return next(p);
}

/* One level deeper ("(", NOT, a sign); the caller decrements depth. */
static int
enter(struct parser *p)
{
	if (++p->depth > SHMQ_SQLFILTER_DEPTH_MAX)
		return perr(p, p->tpos, "nested too deeply (more than %d "
		    "levels)", SHMQ_SQLFILTER_DEPTH_MAX);
	return 0;
}

/* Operands of AND, OR, NOT and the whole filter must be conditions. */
static int
check_cond(struct parser *p, int k, size_t at)
{
	if (k == K_NUM || k == K_STR)
		return perr(p, at, "expected a condition, found %s",
		    kind_names[k]);
	return 0;
}

/* Operands of <, <=, >, >=, BETWEEN and unary signs must be numbers. */
static int
check_num(struct parser *p, int k, size_t at, const char *op)
{
	if (k != K_NUM && k != K_PROP)
		return perr(p, at, "%s cannot be used with \"%s\", only "
		    "numbers", kind_names[k], op);
	return 0;
}

/*
 * The number a just-emitted constant operand (code from FROM on) stands
 * for, so that the parser can fold signs and check BETWEEN bounds.
 */
static bool
const_num(struct parser *p, uint32_t from, struct val *v)
{
	const struct insn *in = &p->code[from];

	if (p->ncode != from + 1)
		return false;
	if (in->op == OP_LONG) {
		v->t = V_LONG;
		v->u.l = in->u.l;
		return true;
	}
	if (in->op == OP_DOUBLE) {
		v->t = V_DOUBLE;
		v->u.d = in->u.d;
		return true;
	}
	return false;
}

/*
 * The current T_INT token as a long, negated if NEG (so that
 * -9223372036854775808 is representable), then advance.
 */
static int
parse_int(struct parser *p, bool neg)
{
	struct insn in;
	const char *s = p->src + p->tpos;
	size_t i, n = p->tlen;
	uint64_t m = 0, lim;
	unsigned d;
	int err;

	if (s[n - 1] == 'l' || s[n - 1] == 'L')
		n--;
	if (n > 1 && s[0] == '0')
		return perr(p, p->tpos, "leading zero in a number (octal is "
		    "not supported)");
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (i = 0; i < n; i++) {
		d = (unsigned)(s[i] - '0');
		if (m > (lim - d) / 10)
			return perr(p, p->tpos, "integer out of range");
		m = m * 10 + d;
	}
	memset(&in, 0, sizeof(in));
	if (!neg)
		in.u.l = (int64_t)m;
	else
		in.u.l = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN :
		    -(int64_t)m;
	if ((err = emit(p, OP_LONG, 0, &in, NULL)) < 0)
		return err;
	return next(p);
}

/* The current T_FLOAT token as a double, negated if NEG; advance. */
static int
parse_float(struct parser *p, bool neg)
{
	struct insn in;
	char *text;
	double d;
	int err;

	if ((text = strndup(p->src + p->tpos, p->tlen)) == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "sql filter");
	d = c_strtod(text, NULL);
	free(text);
	if (isinf(d))
		return perr(p, p->tpos, "number out of range");
	memset(&in, 0, sizeof(in));
	in.u.d = neg ? -d : d;
	if ((err = emit(p, OP_DOUBLE, 0, &in, NULL)) < 0)
		return err;
	return next(p);
}

/* primary := literal | property | ( expr ).  Returns its kind. */
static int
parse_primary(struct parser *p, size_t *at)
{
	struct insn in;
	int err, k;
	size_t a2;

	*at = p->tpos;
	memset(&in, 0, sizeof(in));
	switch (p->tok) {
	case T_INT:
		return (err = parse_int(p, false)) < 0 ? err : K_NUM;
	case T_FLOAT:
		return (err = parse_float(p, false)) < 0 ? err : K_NUM;
	case T_STR:
		k = K_STR;
		err = emit_strtok(p, OP_STR, 0);
		break;
	case T_TRUE:
	case T_FALSE:
		k = K_BOOL;
		in.u.l = p->tok == T_TRUE;
		err = emit(p, OP_BOOL, 0, &in, NULL);
		break;
	case T_NULL:
		k = K_NULL;
		err = emit(p, OP_NULL, 0, NULL, NULL);
		break;
	case T_IDENT:
		k = K_PROP;
		err = emit_str(p, OP_PROP, 0, p->src + p->tpos, p->tlen,
		    false);
		break;
	case T_LP:
		if ((err = enter(p)) < 0 || (err = next(p)) < 0)
			return err;
		if ((k = parse_or(p, &a2)) < 0)
			return k;
		if ((err = expect(p, T_RP, "\")\"")) < 0)
			return err;
		p->depth--;
		return k;
	default:
		return found(p, "a value");
	}
	if (err < 0)
		return err;
	return (err = next(p)) < 0 ? err : k;
}

/* operand := - operand | + operand | primary */
static int
parse_operand(struct parser *p, size_t *at)
{
	struct val v;
	bool neg;
	uint32_t from;
	size_t a2;
	int err, k;

	if (p->tok != T_MINUS && p->tok != T_PLUS)
		return parse_primary(p, at);
	*at = p->tpos;
	neg = p->tok == T_MINUS;
	if ((err = enter(p)) < 0 || (err = next(p)) < 0)
		return err;
	/* Fold a sign into the literal it precedes. */
	if (p->tok == T_INT || p->tok == T_FLOAT) {
		err = p->tok == T_INT ? parse_int(p, neg) :
		    parse_float(p, neg);
		if (err < 0)
			return err;
		p->depth--;
		return K_NUM;
	}
	from = p->ncode;
	if ((k = parse_operand(p, &a2)) < 0)
		return k;
	if ((err = check_num(p, k, a2, neg ? "-" : "+")) < 0)
		return err;
	p->depth--;
	if (!neg)
		return k;
	if (const_num(p, from, &v)) {
		/* - -5 and the like. */
		if (v.t == V_DOUBLE)
			p->code[from].u.d = -v.u.d;
		else if (v.u.l == INT64_MIN)
			return perr(p, *at, "integer out of range");
		else
			p->code[from].u.l = -v.u.l;
		return K_NUM;
	}
	if ((err = emit(p, OP_NEG, 0, NULL, NULL)) < 0)
		return err;
	return K_NUM;
}

/* Operands of = and <>: not NULL, and of one kind unless a property. */
static int
check_eq(struct parser *p, int k1, size_t at1, int k2, size_t at2,
    const char *op)
{
	if (k1 == K_NULL || k2 == K_NULL)
		return perr(p, k1 == K_NULL ? at1 : at2, "NULL cannot be "
		    "compared with \"%s\", use IS NULL", op);
	if (k1 != K_PROP && k2 != K_PROP && k1 != k2)
		return perr(p, at2, "cannot compare %s with %s",
		    kind_names[k1], kind_names[k2]);
	return 0;
}

/* BETWEEN lo AND hi, with the subject already parsed (kind K at AT). */
static int
parse_between(struct parser *p, int k, size_t at, bool not)
{
	struct val lo = { .t = V_NULL }, hi = { .t = V_NULL };
	uint32_t from_lo, from_hi;
	size_t alo, ahi;
	int err, klo, khi;
	bool clo, chi;

	if ((err = check_num(p, k, at, "BETWEEN")) < 0 ||
	    (err = next(p)) < 0)
		return err;
	from_lo = p->ncode;
	if ((klo = parse_operand(p, &alo)) < 0)
		return klo;
	if ((err = check_num(p, klo, alo, "BETWEEN")) < 0)
		return err;
	clo = const_num(p, from_lo, &lo);
	if ((err = expect(p, T_AND, "AND")) < 0)
		return err;
	from_hi = p->ncode;
	if ((khi = parse_operand(p, &ahi)) < 0)
		return khi;
	if ((err = check_num(p, khi, ahi, "BETWEEN")) < 0)
		return err;
	chi = const_num(p, from_hi, &hi);
	/* As RocketMQ: constant bounds of BETWEEN (not NOT BETWEEN) must be
	 * in order, since reversed ones can never match. */
	if (!not && clo && chi && num_order(&lo, &hi) > 0)
		return perr(p, alo, "BETWEEN bounds in the wrong order (low "
		    "above high)");
	return emit(p, OP_BETWEEN, not, NULL, NULL);
}

/* IN ( 'a' [, 'b' ...] ), the subject already parsed. */
static int
parse_in(struct parser *p, int k, size_t at, bool not)
{
	uint32_t in_at, nitems = 0;
	int err;

	if (k != K_PROP)
		return perr(p, at, "IN needs a property on its left, found %s",
		    kind_names[k]);
	if ((err = next(p)) < 0 || (err = expect(p, T_LP, "\"(\"")) < 0)
		return err;
	if ((err = emit(p, OP_IN, not, NULL, &in_at)) < 0)
		return err;
	for (;;) {
		if (p->tok != T_STR)
			return found(p, "a string");
		if ((err = emit_strtok(p, OP_ITEM, 0)) < 0 ||
		    (err = next(p)) < 0)
			return err;
		nitems++;
		if (p->tok == T_RP)
			break;
		if ((err = expect(p, T_COMMA, "\",\" or \")\"")) < 0)
			return err;
	}
	p->code[in_at].n = nitems;
	return next(p);
}

/* CONTAINS / STARTSWITH / ENDSWITH 'str', the subject already parsed. */
static int
parse_strop(struct parser *p, int k, size_t at, bool not)
{
	enum op op;
	const char *name;
	int err;

	op = p->tok == T_CONTAINS ? OP_CONTAINS : p->tok == T_STARTSWITH ?
	    OP_STARTS : OP_ENDS;
	name = keywords[p->tok - T_NOT];
	if (k != K_PROP)
		return perr(p, at, "%s needs a property on its left, found %s",
		    name, kind_names[k]);
	if ((err = next(p)) < 0)
		return err;
	if (p->tok != T_STR)
		return found(p, "a string");
	if ((err = emit_strtok(p, op, not)) < 0)
		return err;
	return next(p);
}

/*
 * pred := operand [ cmp operand | [NOT] BETWEEN .. | [NOT] IN (..)
 *                 | [NOT] CONTAINS|STARTSWITH|ENDSWITH 'str'
 *                 | IS [NOT] NULL ]
 */
static int
parse_pred(struct parser *p, size_t *at)
{
	static const char *const cmp_names[] = {
		"=", "<>", "<", "<=", ">", ">="
	};
	enum cmp op;
	size_t a2;
	int err, k, k2;
	bool not = false;

	if ((k = parse_operand(p, at)) < 0)
		return k;
	switch (p->tok) {
	case T_EQ: case T_NE: case T_LT: case T_LE: case T_GT: case T_GE:
		op = (enum cmp)(p->tok - T_EQ);
		if (op >= CMP_LT &&
		    (err = check_num(p, k, *at, cmp_names[op])) < 0)
			return err;
		if ((err = next(p)) < 0)
			return err;
		if ((k2 = parse_operand(p, &a2)) < 0)
			return k2;
		if (op >= CMP_LT)
			err = check_num(p, k2, a2, cmp_names[op]);
		else
			err = check_eq(p, k, *at, k2, a2, cmp_names[op]);
		if (err < 0)
			return err;
		if ((err = emit(p, OP_CMP, (int)op, NULL, NULL)) < 0)
			return err;
		return K_BOOL;
	case T_IS:
		if ((err = next(p)) < 0)
			return err;
		if (p->tok == T_NOT) {
			not = true;
			if ((err = next(p)) < 0)
				return err;
		}
		if ((err = expect(p, T_NULL, "NULL")) < 0 ||
		    (err = emit(p, OP_ISNULL, not, NULL, NULL)) < 0)
			return err;
		return K_BOOL;
	case T_NOT:
		not = true;
		if ((err = next(p)) < 0)
			return err;
		if (p->tok != T_BETWEEN && p->tok != T_IN &&
		    p->tok != T_CONTAINS && p->tok != T_STARTSWITH &&
		    p->tok != T_ENDSWITH)
			return found(p, "BETWEEN, IN, CONTAINS, STARTSWITH or "
			    "ENDSWITH after NOT");
		break;
	case T_BETWEEN: case T_IN:
	case T_CONTAINS: case T_STARTSWITH: case T_ENDSWITH:
		break;
	default:
		return k;
	}
	if (p->tok == T_BETWEEN)
		err = parse_between(p, k, *at, not);
	else if (p->tok == T_IN)
		err = parse_in(p, k, *at, not);
	else
		err = parse_strop(p, k, *at, not);
	return err < 0 ? err : K_BOOL;
}

/* not := NOT not | pred */
static int
parse_not(struct parser *p, size_t *at)
{
	size_t a2;
	int err, k;

	if (p->tok != T_NOT)
		return parse_pred(p, at);
	*at = p->tpos;
	if ((err = enter(p)) < 0 || (err = next(p)) < 0)
		return err;
	if ((k = parse_not(p, &a2)) < 0)
		return k;
	if ((err = check_cond(p, k, a2)) < 0 ||
	    (err = emit(p, OP_NOT, 0, NULL, NULL)) < 0)
		return err;
	p->depth--;
	return K_BOOL;
}

/*
 * and := not { AND not }, or := and { OR and }: left-associative, each
 * operator a jump over its right operand (short circuit) and a combine.
 */
static int
parse_and(struct parser *p, size_t *at)
{
	uint32_t j;
	size_t a2;
	int err, k, k2;

	if ((k = parse_not(p, at)) < 0)
		return k;
	while (p->tok == T_AND) {
		if ((err = check_cond(p, k, *at)) < 0 ||
		    (err = emit(p, OP_JF, 0, NULL, &j)) < 0 ||
		    (err = next(p)) < 0)
			return err;
		if ((k2 = parse_not(p, &a2)) < 0)
			return k2;
		if ((err = check_cond(p, k2, a2)) < 0 ||
		    (err = emit(p, OP_AND, 0, NULL, NULL)) < 0)
			return err;
		p->code[j].n = p->ncode;
		k = K_BOOL;
	}
	return k;
}

static int
parse_or(struct parser *p, size_t *at)
{
	uint32_t j;
	size_t a2;
	int err, k, k2;

	if ((k = parse_and(p, at)) < 0)
		return k;
	while (p->tok == T_OR) {
		if ((err = check_cond(p, k, *at)) < 0 ||
		    (err = emit(p, OP_JT, 0, NULL, &j)) < 0 ||
		    (err = next(p)) < 0)
			return err;
		if ((k2 = parse_and(p, &a2)) < 0)
			return k2;
		if ((err = check_cond(p, k2, a2)) < 0 ||
		    (err = emit(p, OP_OR, 0, NULL, NULL)) < 0)
			return err;
		p->code[j].n = p->ncode;
		k = K_BOOL;
	}
	return k;
}

/* Copy code and pool into one block; string offsets become absolute. */
static int
finish(struct parser *p, struct shmq_sqlfilter **out)
{
	struct shmq_sqlfilter *f;
	size_t code_bytes, total;
	uint32_t i;

	code_bytes = (size_t)p->ncode * sizeof(struct insn);
	total = sizeof(*f) + code_bytes + p->npool;
	if ((f = malloc(total)) == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "sql filter");
	f->size_bytes = (uint32_t)total;
	f->ninsn = p->ncode;
	f->stack_max = p->spmax;
	f->pad = 0;
	memcpy(f->insn, p->code, code_bytes);
	if (p->npool > 0)
		memcpy((char *)f + sizeof(*f) + code_bytes, p->pool,
		    p->npool);
	for (i = 0; i < f->ninsn; i++) {
		switch (f->insn[i].op) {
		case OP_STR: case OP_PROP: case OP_ITEM:
		case OP_CONTAINS: case OP_STARTS: case OP_ENDS:
			f->insn[i].u.off += sizeof(*f) + code_bytes;
			break;
		}
	}
	*out = f;
	return 0;
}

int
shmq__sqlfilter_parse(const char *expr, struct shmq_sqlfilter **out)
{
	struct parser p;
	size_t at;
	int err, k;

	if (out != NULL)
		*out = NULL;
	if (expr == NULL || out == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "sql filter: %s is NULL",
		    expr == NULL ? "expression" : "out");
	memset(&p, 0, sizeof(p));
	p.src = expr;
	p.len = strnlen(expr, SHMQ_SQLFILTER_LEN_MAX + 1);
	if (p.len > SHMQ_SQLFILTER_LEN_MAX)
		return perr(&p, SHMQ_SQLFILTER_LEN_MAX, "expression longer "
		    "than %d bytes", SHMQ_SQLFILTER_LEN_MAX);
	if ((p.pool = malloc(p.len + 1)) == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "sql filter");
	if ((err = next(&p)) < 0)
		goto done;
	if ((k = parse_or(&p, &at)) < 0) {
		err = k;
		goto done;
	}
	if (p.tok != T_END) {
		err = found(&p, "AND, OR or the end");
		goto done;
	}
	if ((err = check_cond(&p, k, at)) < 0)
		goto done;
	err = finish(&p, out);
done:
	free(p.code);
	free(p.pool);
	return err;
}
