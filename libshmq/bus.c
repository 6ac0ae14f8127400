/*
 * bus.c - opening and closing a bus: the store directory, bus.conf, the
 * lock files, and the choice between attaching the live control region and
 * rebuilding it from the store.
 *
 * Two flock()ed files decide that choice without any state that could go
 * stale.  "lock" is held exclusively for the short time a process opens or
 * closes the bus.  "alive" is held shared by every process that has the bus
 * open.  An opener that holding "lock" can take "alive" exclusively knows
 * nobody else has the bus open (the kernel drops the locks of a dead
 * process), so it rebuilds the control region from the store; otherwise it
 * attaches the one that is there.  The last process to close writes a
 * checkpoint and unlinks the control region.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"
#include "commitlog.h"
#include "internal.h"
#include "prefault.h"
#include "recover.h"
#include "region.h"
#include "topic.h"

#define DEF_SEGMENT_BYTES	(256ull << 20)
#define DEF_CQ_ENTRIES		(256u << 10)
#define DEF_MAX_MSG_BYTES	(4u << 20)
#define DEF_QUEUES		4
#define DEF_STALL_MS		20

void
shmq_bus_opts_init(struct shmq_bus_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->segment_bytes = DEF_SEGMENT_BYTES;
	o->cq_entries = DEF_CQ_ENTRIES;
	o->max_msg_bytes = DEF_MAX_MSG_BYTES;
	o->default_queues = DEF_QUEUES;
	o->auto_create = 1;
	o->create = 1;
	o->stall_ms = DEF_STALL_MS;
}

static int
resolve_home(const struct shmq_bus_opts *o, char *buf, size_t len)
{
	const char *h = o->home, *x;
	struct passwd *pw;
	int n;

	if (h == NULL || *h == '\0')
		h = getenv("SHMQ_HOME");
	if (h != NULL && *h != '\0')
		n = snprintf(buf, len, "%s", h);
	else if ((x = getenv("XDG_DATA_HOME")) != NULL && *x == '/')
		n = snprintf(buf, len, "%s/shmq", x);
	else {
		x = getenv("HOME");
		if ((x == NULL || *x == '\0') &&
		    (pw = getpwuid(getuid())) != NULL)
			x = pw->pw_dir;
		if (x == NULL || *x == '\0')
			return SHMQ_ERR(SHMQ_EINVAL, "no SHMQ_HOME and no home "
			    "directory to put the store in");
		n = snprintf(buf, len, "%s/.local/share/shmq", x);
	}
	if (n < 0 || (size_t)n >= len)
		return SHMQ_ERR(SHMQ_EINVAL, "store path too long");
	return 0;
}

static int
check_params(const char *path, uint64_t seg, uint32_t cqe, uint32_t maxmsg,
    uint32_t queues)
{
	if (seg < (1u << 20) || seg % 4096 != 0 || seg > (1ull << 40))
		return SHMQ_ERR(SHMQ_EINVAL, "%s: segment size %llu (1 MiB to "
		    "1 TiB, a multiple of 4096)", path,
		    (unsigned long long)seg);
	if (cqe < 64 || (cqe & (cqe - 1)) != 0 || cqe > (1u << 26))
		return SHMQ_ERR(SHMQ_EINVAL, "%s: %u index entries per file "
		    "(a power of two from 64)", path, cqe);
	if (maxmsg < 256 || maxmsg > seg / 4)
		return SHMQ_ERR(SHMQ_EINVAL, "%s: max message %u bytes (256 "
		    "to a quarter of the segment size)", path, maxmsg);
	if (queues < 1 || queues > SHMQ_MAX_QUEUES)
		return SHMQ_ERR(SHMQ_EINVAL, "%s: %u default queues", path,
		    queues);
	return 0;
}

static int
write_conf(struct shmq_bus *bus, const struct shmq_bus_opts *o)
{
	char path[PATH_MAX], buf[512];
	uint64_t id;
	int n, err;

	uint32_t maxmsg = o->max_msg_bytes;

	/* A small segment lowers the message limit rather than failing. */
	if (o->segment_bytes >= (1u << 20) && maxmsg > o->segment_bytes / 4)
		maxmsg = (uint32_t)(o->segment_bytes / 4);
	if ((err = check_params(bus->name, o->segment_bytes, o->cq_entries,
	    maxmsg, o->default_queues)) < 0)
		return err;
	do
		arc4random_buf(&id, sizeof(id));
	while (id == 0);
	n = snprintf(buf, sizeof(buf),
	    "# shmq bus \"%s\": creation parameters; do not edit\n"
	    "store_id=%016llx\nsegment_bytes=%llu\ncq_entries=%u\n"
	    "max_msg_bytes=%u\ndefault_queues=%u\nauto_create=%d\n"
	    "stall_ms=%u\ncreated_ns=%llu\n", bus->name,
	    (unsigned long long)id, (unsigned long long)o->segment_bytes,
	    o->cq_entries, maxmsg, o->default_queues,
	    o->auto_create ? 1 : 0, o->stall_ms ? o->stall_ms : DEF_STALL_MS,
	    (unsigned long long)shmq__real_ns());
	snprintf(path, sizeof(path), "%s/bus.conf", bus->path);
	return shmq__file_replace(path, buf, (size_t)n, &bus->perm, true);
}

static int
read_conf(struct shmq_bus *bus)
{
	char path[PATH_MAX], buf[1024], *line, *save, *eq;
	unsigned long long v;
	ssize_t n;
	int seen = 0;

	snprintf(path, sizeof(path), "%s/bus.conf", bus->path);
	n = shmq__file_read(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (*line == '#' || (eq = strchr(line, '=')) == NULL)
			continue;
		*eq++ = '\0';
		v = strtoull(eq, NULL, strcmp(line, "store_id") == 0 ? 16 : 10);
		if (strcmp(line, "store_id") == 0)
			bus->store_id = v, seen |= 1;
		else if (strcmp(line, "segment_bytes") == 0)
			bus->segment_bytes = v, seen |= 2;
		else if (strcmp(line, "cq_entries") == 0)
			bus->cq_entries = (uint32_t)v, seen |= 4;
		else if (strcmp(line, "max_msg_bytes") == 0)
			bus->max_msg_bytes = (uint32_t)v, seen |= 8;
		else if (strcmp(line, "default_queues") == 0)
			bus->default_queues = (uint32_t)v, seen |= 16;
		else if (strcmp(line, "auto_create") == 0)
			bus->auto_create = v != 0;
		else if (strcmp(line, "stall_ms") == 0)
			bus->stall_ms = (uint32_t)v;
	}
	if (seen != 31 || bus->store_id == 0)
		return SHMQ_ERR(SHMQ_ECORRUPT, "%s: missing parameters", path);
	if (bus->stall_ms == 0)
		bus->stall_ms = DEF_STALL_MS;
	return check_params(path, bus->segment_bytes, bus->cq_entries,
	    bus->max_msg_bytes, bus->default_queues);
}

static int
open_lockfile(struct shmq_bus *bus, const char *name, int *fd)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", bus->path, name);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, bus->perm.file_mode);
	if (*fd < 0)
		return shmq__err_sys(errno, "open", path);
	return 0;
}

static int
xflock(int fd, int op)
{
	while (flock(fd, op) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static void
bus_free(struct shmq_bus *bus, int unlink_ctl)
{
	shmq__prefault_stop(bus);
	shmq__topics_free(bus);
	shmq__maptab_free(&bus->segs, shmq__log_unmap_seg, bus);
	shmq__ctl_detach(bus, unlink_ctl);
	if (bus->alive_fd >= 0)
		close(bus->alive_fd);
	if (bus->lock_fd >= 0)
		close(bus->lock_fd);
	pthread_mutex_destroy(&bus->lock);
	shmq__maptab_free(&bus->hot, NULL, NULL);
	free(bus);
}

/* Rebuild the control region from the store (nobody else is open). */
static int
rebuild(struct shmq_bus *bus)
{
	int err;

	if ((err = shmq__ctl_create(bus)) < 0)
		return err;
	if ((err = shmq__recover(bus)) < 0) {
		SHMQ_ERR_PREFIX("bus \"%s\": recovery", bus->name);
		shmq__topics_free(bus);
		shmq__maptab_free(&bus->segs, shmq__log_unmap_seg, bus);
		shmq__ctl_detach(bus, 1);
		return err;
	}
	bus->ctl->recoveries++;
	/* Release: everything recovery wrote before the region is ready;
	 * pairs with the acquire in shmq__ctl_attach. */
	ck_pr_fence_store();
	ck_pr_store_32(&bus->ctl->ready, 1);
	return 0;
}

int
shmq_bus_open(struct shmq_bus **out, const char *name,
    const struct shmq_bus_opts *opts)
{
	struct shmq_bus_opts def;
	struct shmq_bus *bus;
	char home[PATH_MAX], real[PATH_MAX], conf[PATH_MAX];
	struct stat st;
	int err, n;

	if (out == NULL)
		return SHMQ_ERR(SHMQ_EINVAL, "no output handle");
	*out = NULL;
	if (opts == NULL) {
		shmq_bus_opts_init(&def);
		opts = &def;
	}
	if (name == NULL || *name == '\0')
		name = getenv("SHMQ_BUS");
	if (name == NULL || *name == '\0')
		name = "default";
	if (!shmq__name_ok(name))
		return SHMQ_ERR(SHMQ_ENAME, "bus \"%s\"", name);
	if ((err = resolve_home(opts, home, sizeof(home))) < 0)
		return err;

	bus = calloc(1, sizeof(*bus));
	if (bus == NULL)
		return SHMQ_ERR(SHMQ_ENOMEM, "bus \"%s\"", name);
	bus->lock_fd = bus->alive_fd = bus->shm_fd = -1;
	pthread_mutex_init(&bus->lock, NULL);
	strlcpy(bus->name, name, sizeof(bus->name));
	/* Leave room below the store for the longest file path in it. */
	if ((size_t)snprintf(bus->path, sizeof(bus->path), "%s/%s", home,
	    name) >= sizeof(bus->path) - 2 * SHMQ_NAME_MAX - 64) {
		err = SHMQ_ERR(SHMQ_EINVAL, "store path too long");
		goto fail;
	}
	bus->perm.gid = (gid_t)-1;
	bus->perm.file_mode = 0600;
	bus->perm.dir_mode = 0700;
	if (opts->group != NULL && *opts->group != '\0') {
		struct group *gr = getgrnam(opts->group);

		if (gr == NULL) {
			err = SHMQ_ERR(SHMQ_EINVAL, "bus \"%s\": no Unix group "
			    "\"%s\"", name, opts->group);
			goto fail;
		}
		bus->perm.gid = gr->gr_gid;
		bus->perm.file_mode = 0660;
		bus->perm.dir_mode = 02770;
	}

	snprintf(conf, sizeof(conf), "%s/bus.conf", bus->path);
	if (stat(conf, &st) < 0) {
		if (errno != ENOENT) {
			err = shmq__err_sys(errno, "stat", conf);
			goto fail;
		}
		if (!opts->create) {
			err = SHMQ_ERR(SHMQ_ENOENT, "bus \"%s\": no such bus "
			    "(looked in %s)", name, bus->path);
			goto fail;
		}
		if ((err = shmq__mkdir_p(bus->path, &bus->perm)) < 0)
			goto fail;
	}
	if ((err = open_lockfile(bus, "lock", &bus->lock_fd)) < 0 ||
	    (err = open_lockfile(bus, "alive", &bus->alive_fd)) < 0)
		goto fail;
	if ((err = xflock(bus->lock_fd, LOCK_EX)) < 0) {
		err = SHMQ_ERR(err, "bus \"%s\": lock", name);
		goto fail;
	}
	/* Creation, under the lock so that two creators agree. */
	if (stat(conf, &st) < 0) {
		char sub[PATH_MAX];

		snprintf(sub, sizeof(sub), "%s/commitlog", bus->path);
		if ((err = shmq__mkdir_p(sub, &bus->perm)) < 0)
			goto fail;
		snprintf(sub, sizeof(sub), "%s/consumequeue", bus->path);
		if ((err = shmq__mkdir_p(sub, &bus->perm)) < 0 ||
		    (err = write_conf(bus, opts)) < 0)
			goto fail;
	}
	if ((err = read_conf(bus)) < 0)
		goto fail;

	/* The control region's name: user, bus and store, so that two
	 * stores with buses of one name never share it. */
	if (realpath(bus->path, real) == NULL)
		strlcpy(real, bus->path, sizeof(real));
	n = snprintf(bus->shm_name, sizeof(bus->shm_name),
	    "/shmq.%u.%s.%08llx", (unsigned)getuid(), name,
	    (unsigned long long)(shmq__hash64(real, strlen(real)) &
	    0xffffffffull));
	if (n < 0 || (size_t)n >= sizeof(bus->shm_name)) {
		err = SHMQ_ERR(SHMQ_EINVAL, "bus name too long");
		goto fail;
	}

	if (flock(bus->alive_fd, LOCK_EX | LOCK_NB) == 0) {
		err = rebuild(bus);
		if (err == 0)
			err = xflock(bus->alive_fd, LOCK_SH);
	} else if (errno == EWOULDBLOCK) {
		if ((err = xflock(bus->alive_fd, LOCK_SH)) == 0)
			err = shmq__ctl_attach(bus);
	} else {
		err = SHMQ_ERR(-errno, "bus \"%s\": lock", name);
	}
	if (err < 0)
		goto fail;
	flock(bus->lock_fd, LOCK_UN);
	*out = bus;
	return 0;
fail:
	if (err != SHMQ_ENAME && strstr(shmq_errmsg(), name) == NULL)
		SHMQ_ERR_PREFIX("bus \"%s\"", name);
	bus_free(bus, 0);
	return err;
}

void
shmq_bus_close(struct shmq_bus *bus)
{
	int last;

	if (bus == NULL)
		return;
	(void)xflock(bus->lock_fd, LOCK_EX);
	/* A failed upgrade drops our shared lock too; we are leaving. */
	last = flock(bus->alive_fd, LOCK_EX | LOCK_NB) == 0;
	if (last && bus->ctl != NULL)
		(void)shmq__checkpoint_write(bus,
		    ck_pr_load_64(&bus->ctl->log_tail), 1);
	bus_free(bus, last);
}

const char *
shmq_bus_name(const struct shmq_bus *bus)
{
	return bus->name;
}

const char *
shmq_bus_path(const struct shmq_bus *bus)
{
	return bus->path;
}
