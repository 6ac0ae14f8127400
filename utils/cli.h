/*
 * cli.h - what the shmq command-line tools share: the common options
 * (-b BUS, --home DIR, --unix-group GROUP, --help, --version), exit codes,
 * error messages in the form "prog: thing: cause", number, size and time
 * parsing, JSON output and human-readable sizes.
 *
 * Every tool follows the same rules (DESIGN.md, "Tools"):
 *  - exit 0 when done, 1 when something failed, 2 on bad usage;
 *  - an error names the thing and the cause, e.g.
 *    'shmq-send: topic "x y": invalid name (letters, digits, ...)';
 *  - data goes to stdout, diagnostics and summaries to stderr;
 *  - --json prints one JSON document, or one object per line for streams.
 *
 * The helpers here print and return; none of them exits except
 * cli_common_opt() and cli_getopt() for --help, --version and bad usage.
 */
#ifndef SHMQ_CLI_H
#define SHMQ_CLI_H

#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <shmq/shmq.h>

#define CLI_EXIT_OK	0	/* done */
#define CLI_EXIT_FAIL	1	/* the bus said no, or a system call failed */
#define CLI_EXIT_USAGE	2	/* bad command line */

/*
 * Long-only options get values above any character, so that they never
 * collide with a short option.  Tools number their own from CLI_OPT_TOOL.
 */
enum {
	CLI_OPT_HOME = 0x100,
	CLI_OPT_VERSION,
	CLI_OPT_UNIX_GROUP,
	CLI_OPT_TOOL = 0x200
};

/* Short options every tool accepts; put first in the tool's optstring. */
#define CLI_SHORTOPTS	"b:h"

/* Long options every tool accepts; put first in the tool's table. */
#define CLI_LONGOPTS							\
	{ "bus",	required_argument,	NULL,	'b' },		\
	{ "home",	required_argument,	NULL,	CLI_OPT_HOME },	\
	{ "unix-group", required_argument,	NULL,	CLI_OPT_UNIX_GROUP }, \
	{ "help",	no_argument,		NULL,	'h' },		\
	{ "version",	no_argument,		NULL,	CLI_OPT_VERSION }

/* Usage lines for the common options, to print in each tool's --help. */
#define CLI_USAGE_COMMON						\
	"  -b, --bus BUS       bus name (default: $SHMQ_BUS, else \"default\")\n" \
	"      --home DIR      store root (default: $SHMQ_HOME, else\n"	\
	"                      $XDG_DATA_HOME/shmq, else ~/.local/share/shmq)\n" \
	"      --unix-group G  share a bus this makes with Unix group G\n" \
	"                      (a bus keeps the group it was made with)\n" \
	"  -h, --help          print this help and exit\n"		\
	"      --version       print the version and exit\n"

struct cli {
	const char	*prog;		/* "shmq-send": fixed, not argv[0] */
	const char	*bus;		/* -b, else $SHMQ_BUS, else NULL */
	const char	*home;		/* --home, else NULL: the library's
					   default ($SHMQ_HOME, ...) */
	const char	*unix_group;	/* --unix-group, else NULL: owner-only for
					   a new bus, the bus's own otherwise */
	void		(*usage)(FILE *);	/* prints the tool's help */
};

/*
 * Set the program name (used in every message, and by getprogname()),
 * ignore SIGPIPE (tools see EPIPE on write and close the bus cleanly) and
 * fill the defaults of *c.
 */
void	cli_init(struct cli *c, const char *prog, void (*usage)(FILE *));

/*
 * Handle option CH with argument ARG if it is a common one: returns 1 when
 * handled, 0 when the tool must handle it.  --help prints the usage to
 * stdout and exits 0, --version exits 0, an unknown option or a missing
 * argument ('?' or ':') prints a hint and exits 2.
 */
int	cli_common_opt(struct cli *c, int ch, const char *arg);

/*
 * getopt_long() that handles the common options itself (cli_common_opt())
 * and returns the tool's own, or -1 once every option is read.  Exits 2
 * with a hint on an argument that is not an option (no tool takes any).
 */
int	cli_getopt(struct cli *c, int argc, char **argv,
	    const char *shortopts, const struct option *longopts);

/*
 * From now on SIGINT and SIGTERM set the flag cli_interrupted() returns,
 * and interrupt a blocking call (EINTR, no SA_RESTART), so that the tool
 * stops where it chooses and closes the bus.
 */
void	cli_catch_signals(void);
int	cli_interrupted(void);

/* "Try 'prog --help'" on stderr and return CLI_EXIT_USAGE. */
int	cli_usage_error(const struct cli *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * Open options filled from *c (home, group) and the library's defaults.
 * The bus name to pass to shmq_bus_open() is c->bus.
 */
void	cli_bus_opts(const struct cli *c, struct shmq_bus_opts *o);

/* The bus name that will be opened: c->bus, $SHMQ_BUS, or "default". */
const char *cli_bus_name(const struct cli *c);

/*
 * The store root that will be used, as the library computes it: --home,
 * $SHMQ_HOME, $XDG_DATA_HOME/shmq, ~/.local/share/shmq.  Static storage.
 */
const char *cli_home_dir(const struct cli *c);

/*
 * Open the bus for a tool with the options of cli_bus_opts(), creating it
 * when missing if CREATE, and print a clear error on failure (a missing bus
 * when !create: 'bus "x": no such bus (looked in DIR)').  Returns 0 and *out,
 * or CLI_EXIT_FAIL.
 */
int	cli_bus_open(const struct cli *c, struct shmq_bus **out, int create);

/*
 * Create TOPIC with QUEUES queues unless it exists.  Returns 0, or
 * CLI_EXIT_FAIL with the error printed.
 */
int	cli_topic_create(struct shmq_bus *bus, const char *topic,
	    unsigned queues);

/*
 * Print "prog: msg" to stderr.  For cli_err(), the cause is ERR: the message
 * is "prog: THING: cause", where cause is shmq_errmsg() when the library
 * left a detail (and THING is left out if the detail already names it), else
 * shmq_strerror(ERR).  cli_err() returns CLI_EXIT_FAIL.
 */
void	cli_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int	cli_err(int err, const char *thing_fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* "prog: THING: strerror(errno)"; returns CLI_EXIT_FAIL. */
int	cli_syserr(const char *thing_fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/*
 * Check NAME (a topic, a group) with the library's rule; on failure print
 * 'KIND "NAME": invalid name (letters, digits, ...)' and return
 * CLI_EXIT_FAIL, else 0.
 */
int	cli_check_name(const char *kind, const char *name);

/*
 * Parse an integer in [MIN, MAX] (strtonum); on error print
 * 'prog: OPT "ARG": invalid number: too large' and return -1.
 */
int	cli_parse_ll(const char *opt, const char *arg, long long min,
	    long long max, long long *out);
/* Same with a size suffix k, m, g, t (powers of 1024; expand_number). */
int	cli_parse_size(const char *opt, const char *arg, uint64_t min,
	    uint64_t max, uint64_t *out);

/*
 * Parse a whole duration to ms: shmq_duration_parse's syntax (30s, 5m,
 * 2h, 1d, 500ms), or bare digits as seconds; at most MAX_MS.  Returns 0,
 * or -1 without printing.
 */
int	cli_parse_duration_ms(const char *s, uint64_t max_ms, uint64_t *out);

/*
 * Parse a point in time to ms since the epoch: "@MS" (ms since the epoch),
 * ISO 8601 "YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm|-hh:mm]" (a date alone means
 * midnight; no zone means local time; ' ' may replace 'T'), or "-DURATION"
 * (that long ago: 30s, 5m, 2h, 1d, 500ms).  NOW_MS is the current time.
 * Returns 0, or -1 without printing.
 */
int	cli_parse_time_ms(const char *s, uint64_t now_ms, uint64_t *out);

/* Format ms since the epoch as "2026-11-21T10:00:00.123Z" (UTC). */
void	cli_format_time_ms(char *buf, size_t len, uint64_t ms);

/* Human-readable byte count: "4.0M", "256M", "12K", "512B". */
void	cli_humanize(char *buf, size_t len, uint64_t bytes);

/* 1 if P[0..N) is valid UTF-8 (no overlongs, no surrogates), else 0. */
int	cli_utf8_valid(const void *p, size_t n);

/*
 * Write P[0..N) to F as a quoted JSON string, escaping what must be
 * escaped; bytes that are not valid UTF-8 become U+FFFD.
 */
void	cli_json_str(FILE *f, const void *p, size_t n);
/* Same for a NUL-terminated string (NULL gives null). */
void	cli_json_cstr(FILE *f, const char *s);
/* Write P[0..N) to F as a quoted base64 string (RFC 4648, padded). */
void	cli_json_b64(FILE *f, const void *p, size_t n);

/*
 * Write message V to F as one JSON object and a newline: topic, queue,
 * queue_off, log_off, msg_id, store_ms, born_ms, reconsume, tags, keys
 * (null when empty), props (an object), and body (a string) or body_b64
 * (base64, when the body is not valid UTF-8).  shmq-recv --json and
 * shmq-admin query --json.
 */
void	cli_json_msg(FILE *f, const struct shmq_msgview *v);

/* A topic's SHMQ_PERM_* bits as shmq-admin --perm takes them: "rw", "r",
 * "w" or "none". */
const char *cli_perm_name(unsigned perm);

/*
 * Flush F (stdout, named WHAT in messages) and check it for errors: returns
 * 0, or -1 with errno set.  EPIPE (the reader went away) is not printed:
 * the caller decides whether that is a failure; other errors are printed.
 */
int	cli_flush(FILE *f, const char *what);

#endif /* SHMQ_CLI_H */
