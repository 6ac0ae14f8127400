/*
 * region.h - the only place that creates, sizes and maps files: commitlog
 * segments, index files and the control region.  Files are preallocated
 * (fallocate) before anyone writes through a mapping, so a full disk is an
 * error at creation, never a SIGBUS in a store.
 */
#ifndef SHMQ_REGION_H
#define SHMQ_REGION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * How store files are created: mode and group (gid -1: the creator's).
 * Every file and directory the bus makes gets exactly these, whatever the
 * umask (fchmod/fchown after creation), and a file appears under its name
 * only once it has them: users of the bus's group never find one that is
 * still private to its creator.
 */
struct shmq_perm {
	mode_t	file_mode;
	mode_t	dir_mode;
	gid_t	gid;
};

/*
 * Map the file PATH of exactly BYTES bytes, read-write and shared.  With
 * CREATE, make it if missing (mode and group from PERM, preallocated before
 * it is linked under its name, so that a concurrent creator in another
 * process finds it whole); an existing file shorter than BYTES is extended
 * and preallocated.  POPULATE prefaults the pages.  Returns 0 and *addr, or
 * a shmq code with detail (SHMQ_ENOSPC, SHMQ_EACCES, SHMQ_ENOENT without
 * CREATE).
 */
int shmq__file_map(const char *path, uint64_t bytes, bool create,
    bool populate, const struct shmq_perm *perm, void **addr);

/* Unmap a mapping made by shmq__file_map. */
void shmq__file_unmap(void *addr, uint64_t bytes);

/* mkdir -p with PERM for every directory made.  0 or a shmq code. */
int shmq__mkdir_p(const char *path, const struct shmq_perm *perm);

/* Write BUF to PATH atomically (temp file, fsync if SYNC, rename). */
int shmq__file_replace(const char *path, const void *buf, size_t len,
    const struct shmq_perm *perm, bool sync);

/* Read at most LEN bytes of PATH into BUF; bytes read, or a code. */
ssize_t shmq__file_read(const char *path, void *buf, size_t len);

/*
 * Open PATH read-write, making it empty with PERM if missing (as
 * shmq__file_map does).  A file that exists, is ours and lacks PERM's mode
 * or group (made by an older version, or under another group) is given
 * them.  Returns an fd (close-on-exec), or a shmq code with detail.
 */
int shmq__file_open(const char *path, const struct shmq_perm *perm);

/* fsync the directory PATH, so that the names made in it last.  0 or a
 * shmq code with detail. */
int shmq__dir_sync(const char *path);

/* qsort comparison of two uint64_t. */
int shmq__cmp_u64(const void *a, const void *b);

/*
 * Names in DIR that are 20 decimal digits (segment, index and key-index
 * files), as numbers, sorted, in *out (free it) and their count in *n.
 * A missing DIR is empty.  0 or a code.
 */
int shmq__list_numbered(const char *dir, uint64_t **out, size_t *n);

#endif
