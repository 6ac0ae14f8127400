/*
 * duration.c - "72h", "1500ms": the one duration syntax of config files,
 * delay level tables and tools (see shmq.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int
shmq_duration_parse(const char *s, uint64_t max_ms, uint64_t *ms,
    const char **endp)
{
	unsigned long long v, mul;
	char *end;

	if (s == NULL || ms == NULL || endp == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "duration: bad arguments");
	if (!isdigit((unsigned char)*s))
		return SHMQ_ERR(SHMQ_EINVAL, "not a number");
	errno = 0;
	v = strtoull(s, &end, 10);
	if (strncmp(end, "ms", 2) == 0) {
		mul = 1;
		end += 2;
	} else if (*end == 's' || *end == 'm' || *end == 'h' || *end == 'd') {
		mul = *end == 's' ? 1000 : *end == 'm' ? 60000 :
		    *end == 'h' ? 3600000 : 86400000;
		end++;
	} else
		return SHMQ_ERR(SHMQ_EINVAL, "no unit (ms, s, m, h or d)");
	if (errno == ERANGE || v > max_ms / mul)
		return SHMQ_ERR(SHMQ_EINVAL, "too long");
	*ms = v * mul;
	*endp = end;
	return 0;
}
