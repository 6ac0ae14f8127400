/*
 * duration.c - "72h", "1500ms": the one duration syntax of config files,
 * delay level tables and tools (see internal.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int
shmq__duration_parse(const char *s, uint64_t max_ms, uint64_t *ms,
    const char **endp, const char **why)
{
	unsigned long long v, mul;
	char *end;

	if (!isdigit((unsigned char)*s)) {
		*why = "not a number";
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (strncmp(end, "ms", 2) == 0) {
		mul = 1;
		end += 2;
	} else if (*end == 's' || *end == 'm' || *end == 'h' || *end == 'd') {
		mul = *end == 's' ? 1000 : *end == 'm' ? 60000 :
		    *end == 'h' ? 3600000 : 86400000;
		end++;
	} else {
		*why = "no unit (ms, s, m, h or d)";
		return -1;
	}
	if (errno == ERANGE || v > max_ms / mul) {
		*why = "too long";
		return -1;
	}
	*ms = v * mul;
	*endp = end;
	return 0;
}
