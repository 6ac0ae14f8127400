/*
 * region.c - file creation, preallocation and mapping (see region.h).
 *
 * Modes never come from the umask: a bus shared with a group is used by
 * processes of several users, each with its own umask, and a file that one
 * of them made 0600 would lock the others out.  So every file and directory
 * made here is fchmod()ed (and fchown()ed to the bus's group) explicitly,
 * and files get that before they have a name (create_file).
 */
#include "config.h"

#include <dirent.h>
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

/* Reserve every block of the first BYTES now, so that stores through a
 * mapping cannot fail later.  0 or an errno. */
static int
preallocate(int fd, uint64_t bytes)
{
	int err;

	err = posix_fallocate(fd, 0, (off_t)bytes);
	if (err == EOPNOTSUPP || err == EINVAL)
		err = ftruncate(fd, (off_t)bytes) < 0 ? errno : 0;
	return err;
}

/*
 * Make PATH, BYTES long (preallocated), with PERM's mode and group, and
 * return an fd open read-write on it.  The file is built unnamed
 * (O_TMPFILE), or under a temporary name where the file system or a
 * missing /proc does not allow that, and linked under PATH only when it is
 * complete: another process, of another user of the bus's group, that
 * opens PATH never finds it with the umask's mode, the creator's group or
 * a short length.  If another process linked PATH first, its file (as
 * complete) is opened instead.  Returns the fd, or a shmq code.
 */
static int
create_file(const char *path, uint64_t bytes, const struct shmq_perm *perm)
{
	const mode_t mode = perm != NULL ? perm->file_mode : 0600;
	char dir[PATH_MAX], tmp[PATH_MAX + 32], *slash;
	int fd, err, named;
	uint32_t r;

	if (strlcpy(dir, path, sizeof(dir)) >= sizeof(dir))
		return SHMQ_ERR(SHMQ_EINVAL, "path too long: %s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		strlcpy(dir, ".", sizeof(dir));
	else
		slash[slash == dir ? 1 : 0] = '\0';

	for (named = 0; named < 2; named++) {
		if (!named) {
			fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
			if (fd < 0 && (errno == EOPNOTSUPP ||
			    errno == EISDIR || errno == EINVAL))
				continue;	/* no O_TMPFILE here */
			if (fd < 0)
				return shmq__err_sys(errno, "create", path);
		} else {
			arc4random_buf(&r, sizeof(r));
			if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d.%08x",
			    path, (int)getpid(), (unsigned)r) >= sizeof(tmp))
				return SHMQ_ERR(SHMQ_EINVAL, "path too long: "
				    "%s", path);
			fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			    mode);
			if (fd < 0)
				return shmq__err_sys(errno, "create", tmp);
		}
		if ((err = apply_perm(fd, mode, perm)) < 0) {
			err = shmq__err_sys(-err, "chmod", path);
			goto fail;
		}
		if (bytes > 0 && (err = preallocate(fd, bytes)) != 0) {
			err = shmq__err_sys(err, "allocate", path);
			goto fail;
		}
		if (!named) {
			snprintf(tmp, sizeof(tmp), "/proc/self/fd/%d", fd);
			if (linkat(AT_FDCWD, tmp, AT_FDCWD, path,
			    AT_SYMLINK_FOLLOW) == 0)
				return fd;
			err = errno;
			close(fd);
			/* No /proc to name the file by: use a name. */
			if (err == ENOENT && access("/proc/self/fd", F_OK) < 0)
				continue;
		} else {
			err = link(tmp, path) == 0 ? 0 : errno;
			unlink(tmp);
			if (err == 0)
				return fd;
			close(fd);
		}
		if (err != EEXIST)
			return shmq__err_sys(err, "link", path);
		/* Another process made it first, whole: use theirs. */
		if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
			return shmq__err_sys(errno, "open", path);
		return fd;
	}
	return SHMQ_ERR(SHMQ_EINVAL, "create %s: no way to make a file",
	    path);
fail:
	if (named)
		unlink(tmp);
	close(fd);
	return err;
}

int
shmq__file_map(const char *path, uint64_t bytes, bool create, bool populate,
    const struct shmq_perm *perm, void **addr)
{
	struct stat st;
	void *p;
	int fd, err;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if ((fd = create_file(path, bytes, perm)) < 0)
			return fd;
	} else if (fd < 0) {
		return shmq__err_sys(errno, "open", path);
	}
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
		/* Cut short (a crash, or a file made by hand): extend it in
		 * place.  Its mode and group are left as they are. */
		if ((err = preallocate(fd, bytes)) != 0) {
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

int
shmq__file_open(const char *path, const struct shmq_perm *perm)
{
	struct stat st;
	int fd, err;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return create_file(path, 0, perm);
	if (fd < 0)
		return shmq__err_sys(errno, "open", path);
	if (perm != NULL && fstat(fd, &st) == 0 && st.st_uid == geteuid() &&
	    ((st.st_mode & 07777) != perm->file_mode ||
	    (perm->gid != (gid_t)-1 && st.st_gid != perm->gid)) &&
	    (err = apply_perm(fd, perm->file_mode, perm)) < 0) {
		close(fd);
		return shmq__err_sys(-err, "chmod", path);
	}
	return fd;
}

int
shmq__dir_sync(const char *path)
{
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return shmq__err_sys(errno, "open", path);
	/* EINVAL: a file system that has nothing to sync for directories. */
	if (fsync(fd) < 0 && errno != EINVAL)
		err = shmq__err_sys(errno, "sync", path);
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

int
shmq__cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
shmq__list_numbered(const char *dir, uint64_t **out, size_t *n)
{
	DIR *d;
	struct dirent *de;
	uint64_t *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	char *end;

	*out = NULL;
	*n = 0;
	d = opendir(dir);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		return shmq__err_sys(errno, "open directory", dir);
	}
	while ((de = readdir(d)) != NULL) {
		unsigned long long x;

		if (strlen(de->d_name) != 20)
			continue;
		errno = 0;
		x = strtoull(de->d_name, &end, 10);
		if (*end != '\0' || errno != 0)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			nv = reallocarray(v, cap, sizeof(*v));
			if (nv == NULL) {
				free(v);
				closedir(d);
				return SHMQ_ERR(SHMQ_ENOMEM, "listing %s", dir);
			}
			v = nv;
		}
		v[cnt++] = x;
	}
	closedir(d);
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), shmq__cmp_u64);
	*out = v;
	*n = cnt;
	return 0;
}
