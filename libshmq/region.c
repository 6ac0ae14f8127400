/*
 * region.c - file creation, preallocation and mapping (see region.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "region.h"

static int
apply_perm(int fd, mode_t mode, const struct shmq_perm *perm)
{
	if (perm == NULL)
		return 0;
	if (perm->gid != (gid_t)-1 && fchown(fd, (uid_t)-1, perm->gid) < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		return -errno;
	return 0;
}

int
shmq__file_map(const char *path, uint64_t bytes, bool create, bool populate,
    const struct shmq_perm *perm, void **addr)
{
	struct stat st;
	void *p;
	int fd, err, flags = O_RDWR | O_CLOEXEC;

	if (create)
		flags |= O_CREAT;
	fd = open(path, flags, perm != NULL ? perm->file_mode : 0600);
	if (fd < 0)
		return shmq__err_sys(errno, "open", path);
	if (fstat(fd, &st) < 0) {
		err = shmq__err_sys(errno, "stat", path);
		goto fail;
	}
	if ((uint64_t)st.st_size < bytes) {
		if (!create) {
			err = SHMQ_ERR(SHMQ_ECORRUPT,
			    "%s: %lld bytes, expected %llu", path,
			    (long long)st.st_size, (unsigned long long)bytes);
			goto fail;
		}
		/* New (or cut short): own it, then reserve every block now
		 * so that stores through the mapping cannot fail later. */
		if (st.st_size == 0 && (err = apply_perm(fd,
		    perm != NULL ? perm->file_mode : 0600, perm)) < 0) {
			err = shmq__err_sys(-err, "chmod", path);
			goto fail;
		}
		err = posix_fallocate(fd, 0, (off_t)bytes);
		if (err == EOPNOTSUPP || err == EINVAL)
			err = ftruncate(fd, (off_t)bytes) < 0 ? errno : 0;
		if (err != 0) {
			/* Leave no half-made file that looks full-sized. */
			if (st.st_size == 0)
				(void)ftruncate(fd, 0);
			err = shmq__err_sys(err, "allocate", path);
			goto fail;
		}
	}
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	    MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
	if (p == MAP_FAILED) {
		err = shmq__err_sys(errno, "mmap", path);
		goto fail;
	}
	close(fd);
	*addr = p;
	return 0;
fail:
	close(fd);
	return err;
}

void
shmq__file_unmap(void *addr, uint64_t bytes)
{
	if (addr != NULL)
		munmap(addr, bytes);
}

int
shmq__mkdir_p(const char *path, const struct shmq_perm *perm)
{
	char buf[PATH_MAX];
	char *p;
	size_t n;

	n = strlcpy(buf, path, sizeof(buf));
	if (n >= sizeof(buf))
		return SHMQ_ERR(SHMQ_EINVAL, "path too long: %s", path);
	for (p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		{
			char save = *p;

			*p = '\0';
			if (mkdir(buf, perm->dir_mode) == 0) {
				/* Only the directories we make get our mode;
				 * parents that exist are the user's. */
				if (perm->gid != (gid_t)-1 &&
				    chown(buf, (uid_t)-1, perm->gid) < 0)
					return shmq__err_sys(errno, "chown",
					    buf);
				if (chmod(buf, perm->dir_mode) < 0)
					return shmq__err_sys(errno, "chmod",
					    buf);
			} else if (errno != EEXIST) {
				return shmq__err_sys(errno, "mkdir", buf);
			}
			*p = save;
		}
		if (*p == '\0')
			break;
	}
	return 0;
}

int
shmq__file_replace(const char *path, const void *buf, size_t len,
    const struct shmq_perm *perm, bool sync)
{
	char tmp[PATH_MAX];
	int fd, err;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path,
	    (int)getpid()) >= sizeof(tmp))
		return SHMQ_ERR(SHMQ_EINVAL, "path too long: %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    perm != NULL ? perm->file_mode : 0600);
	if (fd < 0)
		return shmq__err_sys(errno, "create", tmp);
	if ((err = apply_perm(fd, perm != NULL ? perm->file_mode : 0600,
	    perm)) < 0) {
		err = shmq__err_sys(-err, "chmod", tmp);
		goto fail;
	}
	if (write(fd, buf, len) != (ssize_t)len) {
		err = shmq__err_sys(errno ? errno : EIO, "write", tmp);
		goto fail;
	}
	if (sync && fdatasync(fd) < 0) {
		err = shmq__err_sys(errno, "sync", tmp);
		goto fail;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		err = shmq__err_sys(errno, "rename", path);
		unlink(tmp);
		return err;
	}
	return 0;
fail:
	close(fd);
	unlink(tmp);
	return err;
}

ssize_t
shmq__file_read(const char *path, void *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return SHMQ_ERR(SHMQ_ENOENT, "%s", path);
		return shmq__err_sys(errno, "open", path);
	}
	n = read(fd, buf, len);
	if (n < 0)
		n = shmq__err_sys(errno, "read", path);
	close(fd);
	return n;
}
