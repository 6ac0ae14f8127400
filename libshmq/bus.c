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
 *
 * Sharing.  A bus is owner-only or shared with one Unix group, chosen at
 * creation and kept in bus.conf ("group=" and "gid="), so that whoever
 * opens it later, with or without a group option, makes files the others
 * can use: dirs 2770 and files 0660 in that group, whatever its umask.  The
 * control region is named after the uid of the store's owner, not the
 * opener's, so that every user of one store finds the same region.
 *
 * The checkpoint.  Recovery trusts it and never scans the log below it,
 * so the last closer first writes to disk everything it vouches for (the
 * log since the previous checkpoint, the index entries of those records,
 * the names of files made since) and only then writes it (store_sync).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"
#include "commitlog.h"
#include "consumequeue.h"
#include "internal.h"
#include "offsets.h"
#include "prefault.h"
#include "recover.h"
#include "region.h"
#include "retention.h"
#include "topic.h"

#define DEF_SEGMENT_BYTES	(256ull << 20)
#define DEF_CQ_ENTRIES		(256u << 10)
#define DEF_MAX_MSG_BYTES	(4u << 20)
#define DEF_QUEUES		4
#define DEF_STALL_MS		20

/*
 * Past this many queues written since the last checkpoint, one syncfs() of
 * the store's file system is cheaper than a sync of each queue's index
 * files and directories (three syncs, each a journal commit: 10k topics
 * took 5 s on ext4 one by one, 0.6 s with syncfs).
 */
#define SYNC_QUEUES_MAX		64

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

/* Store permissions: owner-only (GID -1) or shared with group GID. */
static void
perm_set(struct shmq_perm *p, gid_t gid)
{
	p->gid = gid;
	p->file_mode = gid == (gid_t)-1 ? 0600 : 0660;
	p->dir_mode = gid == (gid_t)-1 ? 0700 : 02770;
}

/*
 * Look a group up by NAME, or by GID when NAME is NULL: its gid in *GIDP
 * and its name in BUF (both optional).  0, or -1 if there is none.
 */
static int
group_lookup(const char *name, gid_t gid, gid_t *gidp, char *buf, size_t len)
{
	struct group gr, *res = NULL;
	char *tmp = NULL, *nt;
	size_t sz = 1024;
	int rc;

	for (;;) {
		if ((nt = realloc(tmp, sz)) == NULL) {
			rc = ENOMEM;
			break;
		}
		tmp = nt;
		rc = name != NULL ? getgrnam_r(name, &gr, tmp, sz, &res) :
		    getgrgid_r(gid, &gr, tmp, sz, &res);
		if (rc != ERANGE || sz >= (1u << 20))
			break;
		sz *= 2;
	}
	if (rc == 0 && res != NULL) {
		if (gidp != NULL)
			*gidp = res->gr_gid;
		if (buf != NULL)
			strlcpy(buf, res->gr_name, len);
	}
	free(tmp);
	return rc == 0 && res != NULL ? 0 : -1;
}

/* The name of group GID for messages ("gid N" if it has none). */
static const char *
group_name(gid_t gid, char *buf, size_t len)
{
	if (group_lookup(NULL, gid, NULL, buf, len) < 0)
		snprintf(buf, len, "gid %u", (unsigned)gid);
	return buf;
}

/* 1 if this process has GID among its groups. */
static int
in_group(gid_t gid)
{
	gid_t *v;
	int i, n, in = getegid() == gid;

	if (in || (n = getgroups(0, NULL)) <= 0 ||
	    (v = calloc((size_t)n, sizeof(*v))) == NULL)
		return in;
	n = getgroups(n, v);
	for (i = 0; i < n && !in; i++)
		in = v[i] == gid;
	free(v);
	return in;
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
	/* At least a page (128 entries): index files smaller than a page,
	 * written through shared mappings by several processes, were seen
	 * to lose committed entries on ext4 (check_consumequeue). */
	if (cqe < 128 || (cqe & (cqe - 1)) != 0 || cqe > (1u << 26))
		return SHMQ_ERR(SHMQ_EINVAL, "%s: %u index entries per file "
		    "(a power of two from 128)", path, cqe);
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
	char path[PATH_MAX], buf[2048], gname[256];
	uint64_t id;
	int n, m, err;

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
	/* The group is the store's, not the opener's: every later open
	 * applies it (read_conf). */
	if (bus->perm.gid != (gid_t)-1 && n > 0 && (size_t)n < sizeof(buf)) {
		/* "group" is for people; "gid" is what is read back. */
		if (group_lookup(NULL, bus->perm.gid, NULL, gname,
		    sizeof(gname)) == 0)
			m = snprintf(buf + n, sizeof(buf) - (size_t)n,
			    "group=%s\ngid=%u\n", gname,
			    (unsigned)bus->perm.gid);
		else
			m = snprintf(buf + n, sizeof(buf) - (size_t)n,
			    "gid=%u\n", (unsigned)bus->perm.gid);
		n = m < 0 ? m : n + m;
	}
	if (n < 0 || (size_t)n >= sizeof(buf))
		return SHMQ_ERR(SHMQ_EINVAL, "bus \"%s\": bus.conf too long",
		    bus->name);
	snprintf(path, sizeof(path), "%s/bus.conf", bus->path);
	return shmq__file_replace(path, buf, (size_t)n, &bus->perm, true);
}

/*
 * Read bus.conf: the parameters into BUS, and the store's group into
 * bus->perm ("gid=", or for stores made before it was written, the store
 * directory's group if the directory is open to its group).
 */
static int
read_conf(struct shmq_bus *bus)
{
	char path[PATH_MAX], buf[2048], *line, *save, *eq;
	unsigned long long v;
	gid_t gid = (gid_t)-1;
	struct stat st;
	ssize_t n;
	int seen = 0, has_gid = 0;

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
		else if (strcmp(line, "gid") == 0 && v < UINT32_MAX)
			gid = (gid_t)v, has_gid = 1;
	}
	if (seen != 31 || bus->store_id == 0)
		return SHMQ_ERR(SHMQ_ECORRUPT, "%s: missing parameters", path);
	if (!has_gid) {
		if (stat(bus->path, &st) < 0)
			return shmq__err_sys(errno, "stat", bus->path);
		if ((st.st_mode & 070) != 0)
			gid = st.st_gid;
	}
	perm_set(&bus->perm, gid);
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
	*fd = shmq__file_open(path, &bus->perm);
	return *fd < 0 ? *fd : 0;
}

/*
 * The bus was opened with group WANT (-1: none, nothing to check; NAME as
 * given): it must be the store's, which was fixed at creation.
 */
static int
check_group(struct shmq_bus *bus, gid_t want, const char *name)
{
	char have[256];

	if (want == (gid_t)-1 || want == bus->perm.gid)
		return 0;
	if (bus->perm.gid == (gid_t)-1)
		return SHMQ_ERR(SHMQ_EINVAL, "bus \"%s\" is owner-only (fixed "
		    "when it was created): it cannot be shared with group "
		    "\"%s\"", bus->name, name);
	return SHMQ_ERR(SHMQ_EINVAL, "bus \"%s\" is shared with group \"%s\" "
	    "(fixed when it was created), not with group \"%s\"", bus->name,
	    group_name(bus->perm.gid, have, sizeof(have)), name);
}

/*
 * After a permission error on the store: say who may open the bus, so
 * that the user knows what to ask for.  Returns ERR.
 */
static int
denied(const struct shmq_bus *bus, int err)
{
	char msg[768], g[256];
	struct stat st;
	char *p;

	strlcpy(msg, shmq_errmsg(), sizeof(msg));
	/* errors.c's generic hint; we know better here. */
	if ((p = strstr(msg, " (the bus is owner-only")) != NULL)
		*p = '\0';
	if (stat(bus->path, &st) < 0)
		return SHMQ_ERR(err, "%s (uid %u cannot reach the store %s)",
		    msg, (unsigned)geteuid(), bus->path);
	if ((st.st_mode & 070) == 0)
		return SHMQ_ERR(err, "%s (the bus is owner-only: only uid %u "
		    "may open it)", msg, (unsigned)st.st_uid);
	group_name(st.st_gid, g, sizeof(g));
	if (in_group(st.st_gid))
		return SHMQ_ERR(err, "%s (the bus is shared with group \"%s\", "
		    "which this process is in: a file of the store lacks group "
		    "access; made by an older shmq or changed by hand?)", msg,
		    g);
	return SHMQ_ERR(err, "%s (the bus is shared with group \"%s\" only, "
	    "and uid %u is not in it)", msg, g, (unsigned)geteuid());
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
	shmq__maptab_free(&bus->mapped, NULL, NULL);
	free(bus);
}

/* Rebuild the control region from the store (nobody else is open). */
static int
rebuild(struct shmq_bus *bus)
{
	int err;

	if ((err = shmq__ctl_create(bus)) < 0) {
		char path[PATH_MAX];
		struct stat st;

		/* A region left by its last user, who could not remove it:
		 * /dev/shm is sticky, so only its creator (or root) can. */
		snprintf(path, sizeof(path), "/dev/shm%s", bus->shm_name);
		if (err == -EEXIST && stat(path, &st) == 0 &&
		    st.st_uid != geteuid())
			err = SHMQ_ERR(SHMQ_EACCES, "control region %s: left "
			    "behind by uid %u, and only uid %u or root may "
			    "remove it (rm %s) before uid %u can open the bus",
			    bus->shm_name, (unsigned)st.st_uid,
			    (unsigned)st.st_uid, path, (unsigned)geteuid());
		return err;
	}
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
	gid_t want = (gid_t)-1;
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
	/* A new store gets the group asked for; an existing one keeps its
	 * own (read_conf), which that must then match (check_group). */
	if (opts->unix_group != NULL && *opts->unix_group != '\0') {
		const char *errstr;

		if (group_lookup(opts->unix_group, 0, &want, NULL, 0) < 0) {
			want = (gid_t)strtonum(opts->unix_group, 0, UINT32_MAX - 1,
			    &errstr);
			if (errstr != NULL) {
				err = SHMQ_ERR(SHMQ_EINVAL, "bus \"%s\": no "
				    "Unix group \"%s\"", name, opts->unix_group);
				goto fail;
			}
		}
	}
	perm_set(&bus->perm, want);

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
	} else if ((err = read_conf(bus)) < 0) {
		/* bus.conf is written once, by rename: safe to read before
		 * the lock, for the group the lock files must have. */
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
	if ((err = read_conf(bus)) < 0 ||
	    (err = check_group(bus, want, opts->unix_group)) < 0)
		goto fail;

	/* The control region's name: the store's owner (not the opener:
	 * every user of a shared store must find the same region), bus and
	 * store, so that two stores with buses of one name never share it. */
	if (stat(bus->path, &st) < 0) {
		err = shmq__err_sys(errno, "stat", bus->path);
		goto fail;
	}
	if (realpath(bus->path, real) == NULL)
		strlcpy(real, bus->path, sizeof(real));
	n = snprintf(bus->shm_name, sizeof(bus->shm_name),
	    "/shmq.%u.%s.%08llx", (unsigned)st.st_uid, name,
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
	/* Nothing below is mapped yet: no reclaimed segment to blank. */
	bus->rel_seg_done = bus->rel_seg_pend =
	    ck_pr_load_64(&bus->ctl->log_min_off) / bus->segment_bytes;
	bus->rel_grace_ns = shmq__retain_grace_ns();
	*out = bus;
	return 0;
fail:
	if (err == SHMQ_EACCES)
		err = denied(bus, err);
	if (err != SHMQ_ENAME && strstr(shmq_errmsg(), name) == NULL)
		SHMQ_ERR_PREFIX("bus \"%s\"", name);
	bus_free(bus, 0);
	return err;
}

/* The log offset of the last checkpoint written, or 0 if none is valid. */
static uint64_t
last_checkpoint(const struct shmq_bus *bus)
{
	struct shmq_checkpoint ck;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/checkpoint", bus->path);
	if (shmq__file_read(path, &ck, sizeof(ck)) != sizeof(ck) ||
	    ck.magic != SHMQ_CKPT_MAGIC ||
	    shmq__crc32c(0xffffffffu, &ck, offsetof(struct shmq_checkpoint,
	    crc)) != ck.crc)
		return 0;
	return ck.log_indexed_off;
}

/*
 * Put on disk everything a checkpoint at TO vouches for, before it is
 * written.  Recovery starts its scan at the checkpoint: a record below it
 * is never checked again and its index entry never rebuilt.  So, after a
 * machine crash, a checkpoint that reached the disk before the pages it
 * covers would leave torn records and lost entries below it, for good.
 * What changed since the previous checkpoint FROM (the log in [FROM, TO),
 * the index files of queues that took records since, and the directories
 * that name files made since) is written and waited for here; the
 * checkpoint itself is then written with fdatasync and renamed into
 * place.  Caller alone on the bus (the last closer), or shmqd's flush
 * (flush.c), which only passes a TO below which every record is indexed.
 */
int
shmq__store_sync(struct shmq_bus *bus, uint64_t from, uint64_t to)
{
	char path[PATH_MAX];
	struct shmq_topic *t;
	uint32_t id, q, ntopics, nq = 0;
	int err, fd, pass, touched;

	if (from > to)
		from = 0;	/* not this log's: sync all of it */
	if ((err = shmq__log_sync(bus, from, to)) < 0)
		return err;
	snprintf(path, sizeof(path), "%s/commitlog", bus->path);
	if (from < to && (err = shmq__dir_sync(path)) < 0)
		return err;
	/* Pass 0 counts the queues written since FROM; pass 1 syncs them
	 * one by one, unless syncfs() does it all at once. */
	ntopics = ck_pr_load_32(&bus->ctl->ntopics);
	for (pass = 0; pass < 2; pass++) {
		for (id = 0; id < ntopics; id++) {
			/* NULL: its creator died before publishing it;
			 * nothing was ever indexed in it. */
			if ((t = shmq__topic_by_id(bus, id)) == NULL)
				continue;
			touched = 0;
			for (q = 0; q < t->queues; q++) {
				if ((err = shmq__cq_sync(bus, t, &t->cq[q],
				    from, pass == 0)) <= 0) {
					if (err < 0)
						return err;
					continue;
				}
				touched = 1;
				if (pass == 0) {
					nq++;
					continue;
				}
				if ((err = shmq__queue_dir(bus, t->name, q,
				    path, sizeof(path))) < 0 ||
				    (err = shmq__dir_sync(path)) < 0)
					return err;
			}
			snprintf(path, sizeof(path), "%s/consumequeue/%s",
			    bus->path, t->name);
			if (pass == 1 && touched &&
			    (err = shmq__dir_sync(path)) < 0)
				return err;
		}
		if (nq == 0)
			return 0;
		if (pass == 0 && nq > SYNC_QUEUES_MAX) {
			if ((fd = open(bus->path, O_RDONLY | O_DIRECTORY |
			    O_CLOEXEC)) < 0)
				return shmq__err_sys(errno, "open", bus->path);
			err = syncfs(fd) < 0 ? shmq__err_sys(errno, "sync",
			    bus->path) : 0;
			close(fd);
			return err;
		}
	}
	snprintf(path, sizeof(path), "%s/consumequeue", bus->path);
	return shmq__dir_sync(path);
}

void
shmq_bus_close(struct shmq_bus *bus)
{
	uint64_t tail;
	int last;

	if (bus == NULL)
		return;
	(void)xflock(bus->lock_fd, LOCK_EX);
	/* A failed upgrade drops our shared lock too; we are leaving. */
	last = flock(bus->alive_fd, LOCK_EX | LOCK_NB) == 0;
	if (last && bus->ctl != NULL) {
		/* Data first, then the checkpoint that vouches for it.  If
		 * the data cannot be written, keep the older checkpoint: the
		 * next recovery scans further, which is always safe.  The
		 * prefault thread stops first: it would dirty the tail's
		 * page again (harmless, but not what was asked). */
		shmq__prefault_stop(bus);
		shmq__offsets_save_all(bus);
		tail = ck_pr_load_64(&bus->ctl->log_tail);
		if (shmq__store_sync(bus, last_checkpoint(bus), tail) == 0)
			(void)shmq__checkpoint_write(bus, tail, 1);
	}
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
