/*
 * benchutil.c - helpers of shmq-bench's modes (see benchutil.h).
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "benchutil.h"
#include "cli.h"

int
bench_futex_wait(uint32_t *w, uint32_t val, const struct timespec *to)
{
	return (int)syscall(SYS_futex, w, FUTEX_WAIT, val, to, NULL, 0);
}

int
bench_futex_wake(uint32_t *w)
{
	return (int)syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

void *
bench_shared_alloc(size_t len)
{
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0, len);
	return p;
}

int
bench_cmp_i64(const void *a, const void *b)
{
	int64_t u = *(const int64_t *)a, v = *(const int64_t *)b;

	return (u > v) - (u < v);
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	if (remove(path) == -1)
		cli_warnx("remove %s: %s", path, strerror(errno));
	return 0;
}

void
bench_rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
