/*
 * cli.c - helpers shared by the shmq tools; see cli.h.
 *
 * Nothing here keeps state between calls except the program name (set once
 * by cli_init), the static buffer of cli_home_dir() and the flag set by the
 * signal handler of cli_catch_signals().
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libutil.h>

#include "cli.h"

static const char *progname = "shmq";
static volatile sig_atomic_t interrupted;

void
cli_init(struct cli *c, const char *prog, void (*usage)(FILE *))
{
	struct sigaction sa;
	const char *env;

	progname = prog;
	setprogname(prog);
	memset(c, 0, sizeof(*c));
	c->prog = prog;
	c->usage = usage;
	env = getenv("SHMQ_BUS");
	if (env != NULL && *env != '\0')
		c->bus = env;

	/*
	 * A reader that goes away (shmq-recv | head) must not kill us by
	 * SIGPIPE in the middle of a poll: we see EPIPE on the write instead
	 * and close the bus properly.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
}

int
cli_common_opt(struct cli *c, int ch, const char *arg)
{
	switch (ch) {
	case 'b':
		c->bus = arg;
		return 1;
	case CLI_OPT_HOME:
		c->home = arg;
		return 1;
	case CLI_OPT_UNIX_GROUP:
		c->unix_group = arg;
		return 1;
	case 'h':
		c->usage(stdout);
		exit(fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL);
	case CLI_OPT_VERSION:
		printf("%s (shmq) %s\n", c->prog, shmq_version());
		exit(fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL);
	case '?':
	case ':':
		/* getopt_long already said which option was wrong. */
		fprintf(stderr, "Try '%s --help' for more information.\n",
		    c->prog);
		exit(CLI_EXIT_USAGE);
	default:
		return 0;
	}
}

int
cli_getopt(struct cli *c, int argc, char **argv, const char *shortopts,
    const struct option *longopts)
{
	int ch;

	while ((ch = getopt_long(argc, argv, shortopts, longopts,
	    NULL)) != -1) {
		if (!cli_common_opt(c, ch, optarg))
			return ch;
	}
	if (optind < argc)
		exit(cli_usage_error(c, "unexpected argument \"%s\"",
		    argv[optind]));
	return -1;
}

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

void
cli_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int
cli_interrupted(void)
{
	return interrupted;
}

int
cli_usage_error(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", c->prog);
	return CLI_EXIT_USAGE;
}

void
cli_bus_opts(const struct cli *c, struct shmq_bus_opts *o)
{
	shmq_bus_opts_init(o);
	if (c->home != NULL)
		o->home = c->home;
	if (c->unix_group != NULL)
		o->unix_group = c->unix_group;
}

const char *
cli_bus_name(const struct cli *c)
{
	const char *env;

	if (c->bus != NULL)
		return c->bus;
	env = getenv("SHMQ_BUS");
	if (env != NULL && *env != '\0')
		return env;
	return "default";
}

const char *
cli_home_dir(const struct cli *c)
{
	static char buf[PATH_MAX];
	const char *env;
	struct passwd *pw;

	if (c->home != NULL)
		return c->home;
	env = getenv("SHMQ_HOME");
	if (env != NULL && *env != '\0')
		return env;
	env = getenv("XDG_DATA_HOME");
	if (env != NULL && *env != '\0') {
		snprintf(buf, sizeof(buf), "%s/shmq", env);
		return buf;
	}
	env = getenv("HOME");
	if (env == NULL || *env == '\0') {
		pw = getpwuid(getuid());
		env = pw != NULL ? pw->pw_dir : "";
	}
	snprintf(buf, sizeof(buf), "%s/.local/share/shmq", env);
	return buf;
}

int
cli_bus_open(const struct cli *c, struct shmq_bus **out, int create)
{
	struct shmq_bus_opts o;
	const char *name = cli_bus_name(c);
	int rc;

	cli_bus_opts(c, &o);
	o.create = create;
	rc = shmq_bus_open(out, c->bus, &o);
	if (rc == 0)
		return 0;
	*out = NULL;
	if ((rc == SHMQ_ENOENT || rc == -ENOENT) && !o.create) {
		cli_warnx("bus \"%s\": no such bus (looked in %s)", name,
		    o.home != NULL ? o.home : cli_home_dir(c));
		return CLI_EXIT_FAIL;
	}
	return cli_err(rc, "bus \"%s\"", name);
}

int
cli_topic_create(struct shmq_bus *bus, const char *topic, unsigned queues)
{
	int rc;

	rc = shmq_topic_create(bus, topic, queues);
	if (rc < 0 && rc != SHMQ_EEXIST)
		return cli_err(rc, "topic \"%s\"", topic);
	return 0;
}

void
cli_warnx(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_err(int err, const char *thing_fmt, ...)
{
	char thing[512];
	const char *detail = shmq_errmsg();
	va_list ap;

	va_start(ap, thing_fmt);
	vsnprintf(thing, sizeof(thing), thing_fmt, ap);
	va_end(ap);

	/*
	 * The library's detail names the thing it failed on ('topic "x":
	 * ...'); add ours in front only when it says something else, so
	 * that the message names the thing once.
	 */
	if (detail == NULL || *detail == '\0')
		cli_warnx("%s: %s", thing, shmq_strerror(err));
	else if (strstr(detail, thing) != NULL)
		cli_warnx("%s", detail);
	else
		cli_warnx("%s: %s", thing, detail);
	return CLI_EXIT_FAIL;
}

int
cli_syserr(const char *thing_fmt, ...)
{
	char thing[512];
	int saved = errno;
	va_list ap;

	va_start(ap, thing_fmt);
	vsnprintf(thing, sizeof(thing), thing_fmt, ap);
	va_end(ap);
	cli_warnx("%s: %s", thing, strerror(saved));
	errno = saved;
	return CLI_EXIT_FAIL;
}

int
cli_check_name(const char *kind, const char *name)
{
	int rc;

	rc = shmq_name_check(name);
	if (rc == 0)
		return 0;
	/* The library's detail says 'name "x"'; we know what kind it is. */
	cli_warnx("%s \"%s\": %s", kind, name, shmq_strerror(rc));
	return CLI_EXIT_FAIL;
}

int
cli_parse_ll(const char *opt, const char *arg, long long min, long long max,
    long long *out)
{
	const char *errstr = NULL;
	long long v;

	v = strtonum(arg, min, max, &errstr);
	if (errstr != NULL) {
		cli_warnx("%s \"%s\": %s (a number from %lld to %lld)", opt,
		    arg, errstr, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int
cli_parse_size(const char *opt, const char *arg, uint64_t min, uint64_t max,
    uint64_t *out)
{
	uint64_t v;

	/* expand_number() accepts a leading '-' and wraps: refuse it. */
	if (arg[0] == '-' || expand_number(arg, &v) != 0) {
		cli_warnx("%s \"%s\": invalid size (a number with an optional "
		    "k, m, g or t suffix)", opt, arg);
		return -1;
	}
	if (v < min || v > max) {
		cli_warnx("%s \"%s\": out of range (%llu to %llu)", opt, arg,
		    (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Read exactly N digits at *P into *OUT and advance; -1 if not digits. */
static int
digits(const char **p, int n, int *out)
{
	int v = 0;

	while (n-- > 0) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return 0;
}

static int
parse_iso8601(const char *s, uint64_t *out)
{
	struct tm tm;
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, tzh, tzm = 0;
	int utc = 0, tzoff = 0, n;
	time_t t;

	if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 ||
	    *p++ != '-' || digits(&p, 2, &d) < 0)
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) < 0 || *p++ != ':' ||
		    digits(&p, 2, &mi) < 0)
			return -1;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &sec) < 0)
				return -1;
			if (*p == '.' || *p == ',') {
				/* Milliseconds; finer digits are dropped. */
				p++;
				if (!isdigit((unsigned char)*p))
					return -1;
				for (n = 0; isdigit((unsigned char)*p); p++,
				    n++)
					if (n < 3)
						ms = ms * 10 + (*p - '0');
				for (; n < 3; n++)
					ms *= 10;
			}
		}
	}
	if (*p == 'Z' || *p == 'z') {
		utc = 1;
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1;

		if (digits(&p, 2, &tzh) < 0)
			return -1;
		if (*p == ':')
			p++;
		if (isdigit((unsigned char)*p) && digits(&p, 2, &tzm) < 0)
			return -1;
		if (tzh > 23 || tzm > 59)
			return -1;
		utc = 1;
		tzoff = sign * (tzh * 3600 + tzm * 60);
	}
	if (*p != '\0')
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60 || y < 1970)
		return -1;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if (utc) {
		t = timegm(&tm);
		t -= tzoff;
	} else {
		tm.tm_isdst = -1;
		t = mktime(&tm);
	}
	if (t == (time_t)-1 || t < 0)
		return -1;
	*out = (uint64_t)t * 1000 + (uint64_t)ms;
	return 0;
}

int
cli_parse_duration_ms(const char *s, uint64_t max_ms, uint64_t *out)
{
	const char *end;

	if (s[0] != '\0' && s[strspn(s, "0123456789")] == '\0') {
		if (strlen(s) > 15 || strtoull(s, NULL, 10) > max_ms / 1000)
			return -1;
		*out = strtoull(s, NULL, 10) * 1000;
		return 0;
	}
	if (shmq_duration_parse(s, max_ms, out, &end) < 0 || *end != '\0')
		return -1;
	return 0;
}

int
cli_parse_time_ms(const char *s, uint64_t now_ms, uint64_t *out)
{
	const char *errstr = NULL;
	unsigned long long v;
	uint64_t ago;

	if (s[0] == '@') {
		v = (unsigned long long)strtonum(s + 1, 0, LLONG_MAX, &errstr);
		if (errstr != NULL)
			return -1;
		*out = v;
		return 0;
	}
	if (s[0] == '-') {
		if (cli_parse_duration_ms(s + 1, now_ms, &ago) < 0)
			return -1;
		*out = now_ms - ago;
		return 0;
	}
	return parse_iso8601(s, out);
}

void
cli_format_time_ms(char *buf, size_t len, uint64_t ms)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);
	char tmp[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "@%llu", (unsigned long long)ms);
		return;
	}
	snprintf(buf, len, "%s.%03uZ", tmp, (unsigned)(ms % 1000));
}

void
cli_humanize(char *buf, size_t len, uint64_t bytes)
{
	/*
	 * At most four characters ("4.0M", "256M", "512B"): the width
	 * decides the scale, so a larger buffer would mean "4096K".
	 */
	char tmp[5];

	if (bytes > INT64_MAX ||
	    humanize_number(tmp, sizeof(tmp), (int64_t)bytes, "",
	    HN_AUTOSCALE, HN_B | HN_NOSPACE | HN_DECIMAL) < 0)
		snprintf(buf, len, "%lluB", (unsigned long long)bytes);
	else
		strlcpy(buf, tmp, len);
}

/*
 * Length of the valid UTF-8 sequence at P (at most N bytes), or 0 if the
 * bytes there are not one (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF).
 */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		if (n < 2 || (p[1] & 0xc0) != 0x80)
			return 0;
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && p[1] < 0xa0)		/* overlong */
			return 0;
		if (c == 0xed && p[1] >= 0xa0)		/* surrogate */
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 ||
		    (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && p[1] < 0x90)		/* overlong */
			return 0;
		if (c == 0xf4 && p[1] >= 0x90)		/* > U+10FFFF */
			return 0;
		return 4;
	}
	return 0;
}

int
cli_utf8_valid(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i = 0, k;

	while (i < n) {
		k = utf8_seq(s + i, n - i);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

void
cli_json_str(FILE *f, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i = 0, k;

	fputc('"', f);
	while (i < n) {
		unsigned char c = s[i];

		switch (c) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				fprintf(f, "\\u%04x", c);
				break;
			}
			if (c < 0x80) {
				fputc(c, f);
				break;
			}
			k = utf8_seq(s + i, n - i);
			if (k == 0) {
				fputs("\\ufffd", f);
				break;
			}
			fwrite(s + i, 1, k, f);
			i += k;
			continue;
		}
		i++;
	}
	fputc('"', f);
}

void
cli_json_cstr(FILE *f, const char *s)
{
	if (s == NULL)
		fputs("null", f);
	else
		cli_json_str(f, s, strlen(s));
}

void
cli_json_b64(FILE *f, const void *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = p;
	char out[4];
	size_t i;
	uint32_t v;

	fputc('"', f);
	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		out[0] = tab[v >> 18 & 63];
		out[1] = tab[v >> 12 & 63];
		out[2] = tab[v >> 6 & 63];
		out[3] = tab[v & 63];
		fwrite(out, 1, 4, f);
	}
	if (n - i == 1) {
		v = (uint32_t)s[i] << 16;
		out[0] = tab[v >> 18 & 63];
		out[1] = tab[v >> 12 & 63];
		out[2] = out[3] = '=';
		fwrite(out, 1, 4, f);
	} else if (n - i == 2) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		out[0] = tab[v >> 18 & 63];
		out[1] = tab[v >> 12 & 63];
		out[2] = tab[v >> 6 & 63];
		out[3] = '=';
		fwrite(out, 1, 4, f);
	}
	fputc('"', f);
}

int
cli_flush(FILE *f, const char *what)
{
	if (fflush(f) == 0 && !ferror(f))
		return 0;
	if (errno == 0)
		errno = EIO;
	if (errno != EPIPE)
		cli_syserr("%s", what);
	return -1;
}

/* Print the encoded properties "name\1value\2..." as a JSON object. */
static void
print_props(FILE *f, const char *p, size_t n)
{
	const char *end = p + n, *sep, *rec_end;
	int first = 1;

	fputc('{', f);
	while (p < end) {
		rec_end = memchr(p, '\2', (size_t)(end - p));
		if (rec_end == NULL)
			rec_end = end;
		sep = memchr(p, '\1', (size_t)(rec_end - p));
		if (sep != NULL) {
			if (!first)
				fputc(',', f);
			first = 0;
			cli_json_str(f, p, (size_t)(sep - p));
			fputc(':', f);
			cli_json_str(f, sep + 1, (size_t)(rec_end - sep - 1));
		}
		p = rec_end + 1;
	}
	fputc('}', f);
}

void
cli_json_msg(FILE *f, const struct shmq_msgview *v)
{
	fputs("{\"topic\":", f);
	cli_json_str(f, v->topic, v->topic_len);
	fprintf(f, ",\"queue\":%d,\"queue_off\":%llu,\"log_off\":%llu,"
	    "\"msg_id\":\"%s\",\"store_ms\":%llu,\"born_ms\":%llu,"
	    "\"reconsume\":%u,\"tags\":",
	    v->queue, (unsigned long long)v->queue_off,
	    (unsigned long long)v->log_off, v->msg_id,
	    (unsigned long long)(v->store_ns / 1000000),
	    (unsigned long long)(v->born_ns / 1000000),
	    (unsigned)v->reconsume);
	if (v->tags_len > 0)
		cli_json_str(f, v->tags, v->tags_len);
	else
		fputs("null", f);
	fputs(",\"keys\":", f);
	if (v->keys_len > 0)
		cli_json_str(f, v->keys, v->keys_len);
	else
		fputs("null", f);
	fputs(",\"props\":", f);
	print_props(f, v->props, v->props_len);
	if (cli_utf8_valid(v->body, v->body_len)) {
		fputs(",\"body\":", f);
		cli_json_str(f, v->body, v->body_len);
	} else {
		fputs(",\"body_b64\":", f);
		cli_json_b64(f, v->body, v->body_len);
	}
	fputs("}\n", f);
}

const char *
cli_perm_name(unsigned perm)
{
	static const char *const names[] = { "none", "w", "r", "rw" };

	return names[((perm & SHMQ_PERM_READ) ? 2 : 0) |
	    ((perm & SHMQ_PERM_WRITE) ? 1 : 0)];
}
