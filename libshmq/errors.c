/*
 * errors.c - error codes, their names and strings, and the thread-local
 * detail message that says which thing failed and why.
 *
 * Also the few helpers every file needs and that belong to no module:
 * name checks, CRC32C, process start times, the clock and version.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>

#include "internal.h"

static __thread char errmsg[1024];

struct errent {
	int		 code;
	const char	*name;
	const char	*str;
};

static const struct errent errtab[] = {
#define SHMQ_ERRNO_ENT(name, val, s) { val, "SHMQ_" #name, s },
	SHMQ_ERRNO_MAP(SHMQ_ERRNO_ENT)
#undef SHMQ_ERRNO_ENT
};

const char *
shmq_strerror(int err)
{
	size_t i;

	if (err >= 0)
		return "success";
	for (i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
		if (errtab[i].code == err)
			return errtab[i].str;
	return strerror(-err);
}

const char *
shmq_err_name(int err)
{
	size_t i;
	const char *n;

	if (err >= 0)
		return "SHMQ_OK";
	for (i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
		if (errtab[i].code == err)
			return errtab[i].name;
	n = strerrorname_np(-err);
	return n != NULL ? n : "EUNKNOWN";
}

const char *
shmq_errmsg(void)
{
	return errmsg;
}

int
shmq__err(int err, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)file;
	(void)line;
	va_start(ap, fmt);
	n = vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(errmsg) - 2)
		snprintf(errmsg + n, sizeof(errmsg) - (size_t)n, ": %s",
		    shmq_strerror(err));
	return err;
}

void
shmq__err_prefix(const char *fmt, ...)
{
	char tmp[sizeof(errmsg)];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp) - 3)
		return;
	snprintf(tmp + n, sizeof(tmp) - (size_t)n, ": %s", errmsg);
	memcpy(errmsg, tmp, sizeof(errmsg));
}

int
shmq__err_sys(int errnum, const char *what, const char *path)
{
	int code;

	switch (errnum) {
	case EACCES:
	case EPERM:
		code = SHMQ_EACCES;
		break;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		code = SHMQ_ENOSPC;
		break;
	case ENOMEM:
		code = SHMQ_ENOMEM;
		break;
	default:
		code = -errnum;
		break;
	}
	snprintf(errmsg, sizeof(errmsg), "%s %s: %s", what, path,
	    strerror(errnum));
	if (code == SHMQ_EACCES)
		snprintf(errmsg + strlen(errmsg),
		    sizeof(errmsg) - strlen(errmsg),
		    " (the bus is owner-only unless opened with a group)");
	return code;
}

bool
shmq__name_ok(const char *name)
{
	size_t n = 0;
	const char *p;

	if (name == NULL)
		return false;
	for (p = name; *p != '\0'; p++, n++) {
		char ch = *p;

		if (n >= SHMQ_NAME_MAX)
			return false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    ch == '-' || ch == '%'))
			return false;
	}
	if (n == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	return true;
}

int
shmq_name_check(const char *name)
{
	if (!shmq__name_ok(name))
		return SHMQ_ERR(SHMQ_ENAME, "name \"%s\"",
		    name != NULL ? name : "(null)");
	return 0;
}

/*
 * Short buffers (most messages) go through the SSE4.2 crc32 instruction
 * directly: isa-l's folding code pays a setup cost that only large buffers
 * repay.  Both compute the same CRC32C.
 */
__attribute__((target("sse4.2"))) static uint32_t
crc32c_short(uint32_t crc, const unsigned char *p, size_t n)
{
	uint64_t c = crc, v;

	while (n >= 8) {
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		n -= 8;
	}
	while (n-- > 0)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}

uint32_t
shmq__crc32c(uint32_t crc, const void *p, size_t n)
{
	static int hw = -1;

	if (unlikely(hw < 0))
		hw = __builtin_cpu_supports("sse4.2");
	if (n <= 512 && hw)
		return crc32c_short(crc, p, n);
	return crc32_iscsi((unsigned char *)(uintptr_t)p, (int)n, crc);
}

uint64_t
shmq__proc_start(int pid)
{
	char path[64], buf[1024];
	FILE *f;
	size_t n;
	char *p;
	int field;
	unsigned long long start = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip past the
	 * last ')'; starttime is field 22, the 20th after it. */
	p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	p++;
	for (field = 3; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p, " %llu", &start) != 1)
		return 0;
	/* A zombie has not released its reservations either, but it will
	 * never finish them: report it as gone. */
	{
		char *st = strrchr(buf, ')');
		if (st != NULL && st[1] == ' ' && (st[2] == 'Z' ||
		    st[2] == 'X'))
			return 0;
	}
	return start == 0 ? 1 : start;
}

uint64_t
shmq_now_ns(void)
{
	return shmq__real_ns();
}

const char *
shmq_version(void)
{
	return SHMQ_VERSION_STRING;
}

bool
shmq__name_in(const char *name, size_t len, const char *const *list,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(list[i]) == len && memcmp(list[i], name, len) == 0)
			return true;
	return false;
}
