/*
 * check_perm.c - a bus shared with a Unix group, used by several users, and
 * the durability of what the last closer's checkpoint claims.
 *
 * Group sharing (needs root; skipped otherwise): the test runs as root and
 * plays the other users in forked children that drop to other uids, with
 * and without the bus's group among their supplementary groups.  Everything
 * runs under umask 077, so a file or directory that got its mode from
 * open()/mkdir() rather than from the bus shows up as 0600/0700.  The group
 * is "users" (any existing group would do; nothing is added to /etc/group).
 *
 * The group is a property of the store (bus.conf), so the group tests that
 * need no other user also run unprivileged with the caller's own group.
 *
 * Checkpoint (any user, a disk file system, Linux 6.5+ for cachestat(2)):
 * after the last close, no page of the log or of the index below the
 * checkpoint may still be dirty: the checkpoint claims they are on disk.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmq/shmq.h>

#include "bus.h"
#include "commitlog.h"
#include "consumequeue.h"
#include "layout.h"
#include "prefault.h"
#include "testutil.h"
#include "topic.h"

#define GROUP		"users"	/* the group the bus is shared with */
#define MEMBER1		65534	/* nobody: in GROUP for the test */
#define MEMBER2		65533	/* a second member, another uid */
#define OUTSIDER	65532	/* not in GROUP */

enum { E_OK = 0, E_SETUP = 10, E_OPEN, E_SEND, E_RECV, E_WRONG };

struct pshared {
	uint32_t	opened;		/* child 1 has the bus open */
	uint32_t	release;	/* child 1 may go on and close */
	char		msg[2048];
};

static struct pshared *sh;
static gid_t group_gid;
static char shm_last[4200];	/* /dev/shm path of the last open_bus region */

static void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tu_vappend(sh->msg, sizeof(sh->msg), fmt, ap);
	va_end(ap);
}

static void
setup(void)
{
	tu_setup_store();
	/* Other users must be able to reach the store under our root. */
	ck_assert_int_eq(chmod(tu_home(), 0711), 0);
	umask(077);
	sh = tu_shared_new(sizeof(*sh));
}

static void
teardown(void)
{
	tu_teardown();
	if (sh != NULL)
		munmap(sh, sizeof(*sh));
	sh = NULL;
}

/* Root only: the group, or skip (return 0) with a message. */
static int
need_root(const char *test)
{
	struct group *gr;

	if (geteuid() != 0) {
		fprintf(stderr, "%s: skipped (not root: cannot act as other "
		    "users; run as root to test group sharing)\n", test);
		return 0;
	}
	if ((gr = getgrnam(GROUP)) == NULL) {
		fprintf(stderr, "%s: skipped (no group \"%s\")\n", test,
		    GROUP);
		return 0;
	}
	group_gid = gr->gr_gid;
	return 1;
}

/* Fork a child that becomes UID (in GROUP if MEMBER) and runs FN. */
static pid_t
spawn_as(uid_t uid, int member, int (*fn)(void))
{
	gid_t groups[1];
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		return pid;
	/* Not the parent's bus descriptors: their flocks would outlive the
	 * parent's close and block ours. */
	closefrom(3);
	groups[0] = group_gid;
	if (setgroups(member ? 1 : 0, groups) != 0 ||
	    setgid((gid_t)uid) != 0 || setuid(uid) != 0) {
		say("cannot become uid %u: %s", (unsigned)uid,
		    strerror(errno));
		_exit(E_SETUP);
	}
	umask(077);
	_exit(fn());
}

/* Wait for a child spawned by spawn_as and assert that it succeeded. */
static void
child_ok(pid_t pid, const char *what)
{
	int code = tu_wait_deadline(pid, 30);

	ck_assert_msg(code == E_OK, "%s: exit %d: %s", what, code, sh->msg);
}

static int
open_bus(struct shmq_bus **bus, const char *group)
{
	struct shmq_bus_info bi;
	struct shmq_bus_opts o;
	int rc;

	shmq_bus_opts_init(&o);
	o.segment_bytes = 1 << 20;
	o.cq_entries = 1024;
	o.max_msg_bytes = 64 * 1024;
	o.unix_group = group;
	if ((rc = shmq_bus_open(bus, NULL, &o)) == 0 &&
	    shmq_bus_info(*bus, &bi) == 0)
		snprintf(shm_last, sizeof(shm_last), "/dev/shm%s", bi.shm_name);
	return rc;
}

static int
send_body(struct shmq_bus *bus, const char *topic, const char *body)
{
	struct shmq_producer *p;
	struct shmq_msg m;
	int rc;

	if ((rc = shmq_producer_open(&p, bus, NULL)) < 0)
		return rc;
	shmq_msg_init(&m);
	m.topic = topic;
	m.body = body;
	m.body_len = strlen(body);
	rc = shmq_producer_send(p, &m, NULL);
	shmq_producer_close(p);
	/* The tests fork children (spawn_as) while the bus is open: no
	 * thread of this process may run then, or a lock it holds (the
	 * allocator's, under ASan) stays held in the child forever.  The
	 * producer started the bus's prefault thread. */
	shmq__prefault_stop(bus);
	return rc;
}

/*
 * Read TOPIC from the start until every body in WANT (NULL-terminated) was
 * seen; 0, or -1 after a few seconds, with what was missing in sh->msg.
 */
static int
expect_bodies(struct shmq_bus *bus, const char *topic, const char **want)
{
	struct shmq_consumer *c;
	struct shmq_msgview v[16];
	uint64_t end = tu_mono_ns() + (uint64_t)(5e9 * tu_mult());
	unsigned seen = 0, all = 0;
	int i, j, n, rc;

	for (i = 0; want[i] != NULL; i++)
		all |= 1u << i;
	if ((rc = shmq_consumer_open(&c, bus)) < 0) {
		say("consumer: %s", shmq_errmsg());
		return -1;
	}
	if ((rc = shmq_consumer_assign(c, topic, SHMQ_QUEUE_ANY, "*")) < 0 ||
	    (rc = shmq_consumer_seek(c, topic, SHMQ_QUEUE_ANY,
	    SHMQ_SEEK_FIRST, 0)) < 0) {
		say("assign %s: %s", topic, shmq_errmsg());
		shmq_consumer_close(c);
		return -1;
	}
	while (seen != all && tu_mono_ns() < end) {
		n = shmq_consumer_poll(c, v, 16, 100);
		if (n < 0) {
			say("poll %s: %s", topic, shmq_errmsg());
			break;
		}
		for (j = 0; j < n; j++)
			for (i = 0; want[i] != NULL; i++)
				if (v[j].body_len == strlen(want[i]) &&
				    memcmp(v[j].body, want[i],
				    v[j].body_len) == 0)
					seen |= 1u << i;
	}
	shmq_consumer_close(c);
	for (i = 0; want[i] != NULL; i++)
		if ((seen & (1u << i)) == 0)
			say("uid %u: \"%s\" not received on %s",
			    (unsigned)geteuid(), want[i], topic);
	return seen == all ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Modes                                                               */
/* ------------------------------------------------------------------ */

static char mode_err[1024];
static gid_t mode_gid;
static int mode_shared;

static int
mode_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	mode_t want;

	if (mode_err[0] != '\0')
		return 0;
	if (flag == FTW_D)
		want = mode_shared ? 02770 : 0700;
	else if (flag == FTW_F)
		want = mode_shared ? 0660 : 0600;
	else {
		snprintf(mode_err, sizeof(mode_err), "%s: cannot stat", path);
		return 0;
	}
	if ((st->st_mode & 07777) != want)
		snprintf(mode_err, sizeof(mode_err), "%s: mode %04o, want "
		    "%04o", path, (unsigned)(st->st_mode & 07777),
		    (unsigned)want);
	else if (mode_shared && st->st_gid != mode_gid)
		snprintf(mode_err, sizeof(mode_err), "%s: group %u, want %u",
		    path, (unsigned)st->st_gid, (unsigned)mode_gid);
	return 0;
}

/* Every directory and file of the store has the bus's mode and group. */
static void
check_modes(int shared, gid_t gid)
{
	char path[4400];

	snprintf(path, sizeof(path), "%s/%s", tu_home(), tu_bus());
	mode_err[0] = '\0';
	mode_gid = gid;
	mode_shared = shared;
	ck_assert_int_eq(nftw(path, mode_cb, 16, FTW_PHYS), 0);
	ck_assert_msg(mode_err[0] == '\0', "%s", mode_err);
}

/* The control region of BUS: name from the store owner, group rw. */
static void
check_shm(struct shmq_bus *bus, uid_t owner)
{
	struct shmq_bus_info bi;
	char path[512], want[64];
	struct stat st;

	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	snprintf(want, sizeof(want), "/shmq.%u.%s.", (unsigned)owner,
	    tu_bus());
	ck_assert_msg(strncmp(bi.shm_name, want, strlen(want)) == 0,
	    "control region %s, want %s*", bi.shm_name, want);
	snprintf(path, sizeof(path), "/dev/shm%s", bi.shm_name);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg((st.st_mode & 0777) == 0660 && st.st_gid == group_gid,
	    "%s: mode %04o group %u", path, (unsigned)(st.st_mode & 07777),
	    (unsigned)st.st_gid);
}

/*
 * No control region of this test's store is left behind: the one the last
 * open_bus attached, by its exact name (a region of another store, left by
 * a test that failed, may have this bus's name: names are t<pid>-<n>, and
 * pids come round).
 */
static void
check_no_shm(void)
{
	ck_assert_msg(shm_last[0] != '\0', "no bus was opened");
	ck_assert_msg(access(shm_last, F_OK) != 0, "%s is still there",
	    shm_last);
}

/* ------------------------------------------------------------------ */
/* Children                                                            */
/* ------------------------------------------------------------------ */

/* Open the bus as this child's user: E_OK, or E_OPEN with the error said. */
static int
child_open(struct shmq_bus **bus, const char *group)
{
	int rc;

	if ((rc = open_bus(bus, group)) < 0) {
		say("open as uid %u: %s: %s", (unsigned)geteuid(),
		    shmq_err_name(rc), shmq_errmsg());
		return E_OPEN;
	}
	return E_OK;
}

/* Member 1 joins root's open bus: sends, reads, makes a topic. */
static int
member_join(void)
{
	static const char *want[] = { "root-1", "member-1", NULL };
	static const char *want2[] = { "member-t2", NULL };
	struct shmq_bus *bus;
	int rc;

	if ((rc = child_open(&bus, NULL)) != E_OK)
		return rc;
	if ((rc = send_body(bus, "t", "member-1")) < 0 ||
	    (rc = send_body(bus, "t2", "member-t2")) < 0) {
		say("send as uid %u: %s", (unsigned)geteuid(), shmq_errmsg());
		shmq_bus_close(bus);
		return E_SEND;
	}
	rc = expect_bodies(bus, "t", want) < 0 ||
	    expect_bodies(bus, "t2", want2) < 0 ? E_RECV : E_OK;
	shmq_bus_close(bus);
	return rc;
}

/*
 * Member 1, first to open after everyone closed: rebuilds the control
 * region, reads root's message, sends, then holds the bus open until told
 * to go on, reads member 2's message and closes last.
 */
static int
member_rebuild(void)
{
	static const char *want[] = { "root-1", "m1", NULL };
	static const char *want2[] = { "m2", NULL };
	struct shmq_bus *bus;
	uint64_t end;
	int rc;

	if ((rc = child_open(&bus, NULL)) != E_OK)
		return rc;
	if ((rc = send_body(bus, "t", "m1")) < 0 ||
	    (rc = send_body(bus, "t3", "m1-t3")) < 0) {
		say("send as uid %u: %s", (unsigned)geteuid(), shmq_errmsg());
		shmq_bus_close(bus);
		return E_SEND;
	}
	if (expect_bodies(bus, "t", want) < 0) {
		shmq_bus_close(bus);
		return E_RECV;
	}
	__atomic_store_n(&sh->opened, 1, __ATOMIC_RELEASE);
	end = tu_mono_ns() + (uint64_t)(30e9 * tu_mult());
	while (__atomic_load_n(&sh->release, __ATOMIC_ACQUIRE) == 0 &&
	    tu_mono_ns() < end)
		usleep(1000);
	rc = expect_bodies(bus, "t", want2) < 0 ? E_RECV : E_OK;
	shmq_bus_close(bus);
	return rc;
}

/* Member 2 (another uid) attaches the region member 1 made. */
static int
member_attach(void)
{
	static const char *want[] = { "root-1", "m1", "m2", NULL };
	struct shmq_bus *bus;
	int rc;

	if ((rc = child_open(&bus, GROUP)) != E_OK)
		return rc;
	if ((rc = send_body(bus, "t", "m2")) < 0) {
		say("send as uid %u: %s", (unsigned)geteuid(), shmq_errmsg());
		shmq_bus_close(bus);
		return E_SEND;
	}
	rc = expect_bodies(bus, "t", want) < 0 ? E_RECV : E_OK;
	shmq_bus_close(bus);
	return rc;
}

/* Member 1 opens, then holds the bus until told to close. */
static int
member_hold(void)
{
	struct shmq_bus *bus;
	uint64_t end;
	int rc;

	if ((rc = child_open(&bus, NULL)) != E_OK)
		return rc;
	__atomic_store_n(&sh->opened, 1, __ATOMIC_RELEASE);
	end = tu_mono_ns() + (uint64_t)(30e9 * tu_mult());
	while (__atomic_load_n(&sh->release, __ATOMIC_ACQUIRE) == 0 &&
	    tu_mono_ns() < end)
		usleep(1000);
	shmq_bus_close(bus);
	return E_OK;
}

/* Member 2 opens (rebuilds) and reads what root sent. */
static int
member_reads(void)
{
	static const char *want[] = { "root-1", NULL };
	struct shmq_bus *bus;
	int rc;

	if ((rc = child_open(&bus, NULL)) != E_OK)
		return rc;
	rc = expect_bodies(bus, "t", want) < 0 ? E_RECV : E_OK;
	shmq_bus_close(bus);
	return rc;
}

/* A user outside the group: SHMQ_EACCES and a message naming it. */
static int
outsider(void)
{
	struct shmq_bus *bus;
	int rc;

	rc = open_bus(&bus, NULL);
	if (rc != SHMQ_EACCES) {
		say("open as uid %u: %s (%s), want SHMQ_EACCES",
		    (unsigned)geteuid(), shmq_err_name(rc), shmq_errmsg());
		if (rc == 0)
			shmq_bus_close(bus);
		return E_WRONG;
	}
	if (strstr(shmq_errmsg(), "group \"" GROUP "\"") == NULL ||
	    strstr(shmq_errmsg(), tu_bus()) == NULL) {
		say("message does not name the bus and its group: %s",
		    shmq_errmsg());
		return E_WRONG;
	}
	return E_OK;
}

/* ------------------------------------------------------------------ */
/* Group sharing across users (root)                                   */
/* ------------------------------------------------------------------ */

/*
 * Root makes a bus shared with GROUP and keeps it open; a member of
 * another uid opens it, sends, receives and makes a topic; root reads what
 * the member sent and closes last.  Every file is 0660 and every directory
 * 2770, all in GROUP, whatever the umask.
 */
START_TEST(t_member_joins)
{
	static const char *want[] = { "member-1", NULL };
	static const char *want2[] = { "member-t2", NULL };
	struct shmq_bus *bus;
	pid_t pid;

	if (!need_root("member_joins"))
		return;
	ck_assert_msg(open_bus(&bus, GROUP) == 0, "%s", shmq_errmsg());
	ck_assert_int_eq(send_body(bus, "t", "root-1"), 0);
	check_modes(1, group_gid);
	check_shm(bus, 0);

	pid = spawn_as(MEMBER1, 1, member_join);
	child_ok(pid, "member");
	ck_assert_int_eq(expect_bodies(bus, "t", want), 0);
	ck_assert_int_eq(expect_bodies(bus, "t2", want2), 0);
	shmq_bus_close(bus);
	check_modes(1, group_gid);
	check_no_shm();
}
END_TEST

/*
 * After everyone closed, a member is the first to open: it rebuilds the
 * control region (recovery as a member, no group option) and a member of a
 * third uid attaches it (both must name it alike), root attaches too; the
 * first member closes last and writes the checkpoint.  Then root rebuilds
 * and reads everything, and the store is still all 0660/2770 in GROUP.
 */
START_TEST(t_member_rebuilds)
{
	static const char *want[] = { "root-1", "m1", "m2", NULL };
	static const char *want3[] = { "m1-t3", NULL };
	struct shmq_bus *bus;
	uint64_t end;
	pid_t p1, p2;

	if (!need_root("member_rebuilds"))
		return;
	ck_assert_msg(open_bus(&bus, GROUP) == 0, "%s", shmq_errmsg());
	ck_assert_int_eq(send_body(bus, "t", "root-1"), 0);
	shmq_bus_close(bus);
	check_no_shm();

	p1 = spawn_as(MEMBER1, 1, member_rebuild);
	end = tu_mono_ns() + (uint64_t)(30e9 * tu_mult());
	while (__atomic_load_n(&sh->opened, __ATOMIC_ACQUIRE) == 0 &&
	    tu_mono_ns() < end && waitpid(p1, NULL, WNOHANG) == 0)
		usleep(1000);
	ck_assert_msg(sh->opened == 1, "member 1 did not open: %s", sh->msg);

	p2 = spawn_as(MEMBER2, 1, member_attach);
	child_ok(p2, "member 2");

	/* Root attaches what member 1 made: named after the store's owner,
	 * whoever made it. */
	ck_assert_msg(open_bus(&bus, NULL) == 0, "%s", shmq_errmsg());
	check_shm(bus, 0);
	shmq_bus_close(bus);

	__atomic_store_n(&sh->release, 1, __ATOMIC_RELEASE);
	child_ok(p1, "member 1");
	check_no_shm();
	check_modes(1, group_gid);

	ck_assert_msg(open_bus(&bus, NULL) == 0, "%s", shmq_errmsg());
	ck_assert_int_eq(expect_bodies(bus, "t", want), 0);
	ck_assert_int_eq(expect_bodies(bus, "t3", want3), 0);
	shmq_bus_close(bus);
	check_modes(1, group_gid);
}
END_TEST

/*
 * Root makes the control region, a member of another uid closes last and
 * cannot remove it (/dev/shm is sticky: only its owner or root may).  The
 * next opener, a member of a third uid, reuses it in place (control.c) and
 * reads everything.
 */
START_TEST(t_stale_region)
{
	struct shmq_bus *bus;
	uint64_t end;
	pid_t p1;

	if (!need_root("stale_region"))
		return;
	ck_assert_msg(open_bus(&bus, GROUP) == 0, "%s", shmq_errmsg());
	ck_assert_int_eq(send_body(bus, "t", "root-1"), 0);
	p1 = spawn_as(MEMBER1, 1, member_hold);
	end = tu_mono_ns() + (uint64_t)(30e9 * tu_mult());
	while (__atomic_load_n(&sh->opened, __ATOMIC_ACQUIRE) == 0 &&
	    tu_mono_ns() < end && waitpid(p1, NULL, WNOHANG) == 0)
		usleep(1000);
	ck_assert_msg(sh->opened == 1, "member 1 did not open: %s", sh->msg);
	shmq_bus_close(bus);
	__atomic_store_n(&sh->release, 1, __ATOMIC_RELEASE);
	child_ok(p1, "member 1");

	/* The region root made is still there: member 2 reuses it. */
	child_ok(spawn_as(MEMBER2, 1, member_reads), "member 2");
	check_modes(1, group_gid);
}
END_TEST

/* A user outside the group gets SHMQ_EACCES naming the group, whether the
 * bus is open or not. */
START_TEST(t_outsider_denied)
{
	struct shmq_bus *bus;
	pid_t pid;

	if (!need_root("outsider_denied"))
		return;
	ck_assert_msg(open_bus(&bus, GROUP) == 0, "%s", shmq_errmsg());
	ck_assert_int_eq(send_body(bus, "t", "root-1"), 0);
	pid = spawn_as(OUTSIDER, 0, outsider);
	child_ok(pid, "outsider, bus open");
	shmq_bus_close(bus);
	pid = spawn_as(OUTSIDER, 0, outsider);
	child_ok(pid, "outsider, bus closed");
}
END_TEST

/* ------------------------------------------------------------------ */
/* The group is the store's (any user)                                 */
/* ------------------------------------------------------------------ */

/* The caller's own group: any user may share a bus with it. */
static const char *
own_group(gid_t *gid)
{
	struct group *gr = getgrgid(getegid());

	*gid = getegid();
	return gr != NULL ? gr->gr_name : NULL;
}

/*
 * A bus made with a group keeps it: opened again without the option, what
 * the opener makes (a topic, a checkpoint, lock files that were removed)
 * is still group-shared.
 */
START_TEST(t_group_saved)
{
	struct shmq_bus *bus;
	const char *g;
	char path[4400];
	gid_t gid;

	if ((g = own_group(&gid)) == NULL) {
		fprintf(stderr, "group_saved: skipped (no name for gid %u)\n",
		    (unsigned)gid);
		return;
	}
	ck_assert_msg(open_bus(&bus, g) == 0, "%s", shmq_errmsg());
	shmq_bus_close(bus);
	snprintf(path, sizeof(path), "%s/%s/bus.conf", tu_home(), tu_bus());
	ck_assert_int_eq(tu_sh("grep -qx 'group=%s' '%s'", g, path), 0);
	snprintf(path, sizeof(path), "%s/%s/lock", tu_home(), tu_bus());
	ck_assert_int_eq(unlink(path), 0);

	ck_assert_msg(open_bus(&bus, NULL) == 0, "%s", shmq_errmsg());
	ck_assert_int_eq(send_body(bus, "t", "x"), 0);
	shmq_bus_close(bus);
	check_modes(1, gid);
}
END_TEST

/*
 * The group is fixed at creation: opening with another group, or with a
 * group an owner-only bus does not have, is SHMQ_EINVAL naming both;
 * opening with the bus's own group is fine.
 */
START_TEST(t_group_mismatch)
{
	struct shmq_bus *bus;
	char other[128];
	const char *g;
	gid_t gid;
	int rc;

	if ((g = own_group(&gid)) == NULL) {
		fprintf(stderr, "group_mismatch: skipped (no name for gid "
		    "%u)\n", (unsigned)gid);
		return;
	}
	/* Owner-only bus, opened with a group. */
	ck_assert_msg(open_bus(&bus, NULL) == 0, "%s", shmq_errmsg());
	shmq_bus_close(bus);
	rc = open_bus(&bus, g);
	ck_assert_msg(rc == SHMQ_EINVAL, "%s: %s", shmq_err_name(rc),
	    shmq_errmsg());
	ck_assert_msg(strstr(shmq_errmsg(), "owner-only") != NULL &&
	    strstr(shmq_errmsg(), g) != NULL, "%s", shmq_errmsg());
	check_modes(0, 0);

	/* Shared bus, opened with its group, then with another one. */
	snprintf(other, sizeof(other), "%s-shared", tu_bus());
	setenv("SHMQ_BUS", other, 1);
	ck_assert_msg(open_bus(&bus, g) == 0, "%s", shmq_errmsg());
	shmq_bus_close(bus);
	ck_assert_msg(open_bus(&bus, g) == 0, "%s", shmq_errmsg());
	shmq_bus_close(bus);
	if (geteuid() == 0 && getgrnam(GROUP) != NULL && gid != 100) {
		rc = open_bus(&bus, GROUP);
		ck_assert_msg(rc == SHMQ_EINVAL, "%s: %s", shmq_err_name(rc),
		    shmq_errmsg());
		ck_assert_msg(strstr(shmq_errmsg(), g) != NULL &&
		    strstr(shmq_errmsg(), GROUP) != NULL, "%s",
		    shmq_errmsg());
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Checkpoint after sync (any user)                                    */
/* ------------------------------------------------------------------ */

static void
send_many(struct shmq_bus *bus, const char *topic, int n)
{
	char body[1000];
	int i;

	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	for (i = 0; i < n; i++)
		ck_assert_msg(send_body(bus, topic, body) == 0, "%s",
		    shmq_errmsg());
}

static uint64_t
read_ckpt(void)
{
	struct shmq_checkpoint ck;
	char path[4400];
	int fd;

	snprintf(path, sizeof(path), "%s/%s/checkpoint", tu_home(), tu_bus());
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, &ck, sizeof(ck)), sizeof(ck));
	close(fd);
	ck_assert_uint_eq(ck.magic, SHMQ_CKPT_MAGIC);
	return ck.log_indexed_off;
}

/*
 * The last close writes a checkpoint at the log tail only once the log
 * and the index entries below it are on disk: afterwards no page of the
 * segment below the tail, nor of the queue's index file, is still dirty.
 */
START_TEST(t_close_syncs)
{
	struct shmq_bus *bus;
	struct shmq_bus_info bi;
	char seg[4400], idx[4400];
	uint64_t tail;
	long n;

	if (!tu_disk_store("close_syncs"))
		return;
	ck_assert_msg(open_bus(&bus, NULL) == 0, "%s", shmq_errmsg());
	ck_assert_int_eq(shmq_topic_create(bus, "t", 1), 0);
	send_many(bus, "t", 300);
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	tail = bi.log_tail_off;
	snprintf(seg, sizeof(seg), "%s/%s/commitlog/%020d", tu_home(),
	    tu_bus(), 0);
	snprintf(idx, sizeof(idx), "%s/%s/consumequeue/t/0/%020d", tu_home(),
	    tu_bus(), 0);
	n = tu_unsynced(seg, 0, tail);
	if (n == 0) {
		fprintf(stderr, "close_syncs: skipped (the log was already "
		    "written back before close)\n");
		shmq_bus_close(bus);
		return;
	}
	ck_assert_int_gt(n, 0);
	shmq_bus_close(bus);

	ck_assert_uint_eq(read_ckpt(), tail);
	n = tu_unsynced(seg, 0, tail);
	ck_assert_msg(n == 0, "%ld log pages below the checkpoint not on "
	    "disk", n);
	n = tu_unsynced(idx, 0, 0);
	ck_assert_msg(n == 0, "%ld index pages not on disk", n);

	/* The next close syncs from the previous checkpoint on. */
	ck_assert_msg(open_bus(&bus, NULL) == 0, "%s", shmq_errmsg());
	send_many(bus, "t", 50);
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	ck_assert_uint_gt(bi.log_tail_off, tail);
	tail = bi.log_tail_off;
	shmq_bus_close(bus);
	ck_assert_uint_eq(read_ckpt(), tail);
	ck_assert_int_eq(tu_unsynced(seg, 0, tail), 0);
	ck_assert_int_eq(tu_unsynced(idx, 0, 0), 0);
}
END_TEST

/*
 * Past SYNC_QUEUES_MAX queues written since the last checkpoint, the last
 * close syncs the whole file system at once: the same guarantee.
 */
START_TEST(t_close_syncs_many)
{
	enum { NQ = 100 };
	struct shmq_producer *p;
	struct shmq_bus *bus;
	struct shmq_bus_info bi;
	struct shmq_msg m;
	char seg[4400], idx[4400];
	uint64_t tail;
	long n, dirty = 0;
	int q;

	if (!tu_disk_store("close_syncs_many"))
		return;
	ck_assert_msg(open_bus(&bus, NULL) == 0, "%s", shmq_errmsg());
	ck_assert_int_eq(shmq_topic_create(bus, "m", NQ), 0);
	ck_assert_int_eq(shmq_producer_open(&p, bus, NULL), 0);
	for (q = 0; q < NQ; q++) {
		shmq_msg_init(&m);
		m.topic = "m";
		m.body = "x";
		m.body_len = 1;
		m.queue = q;
		ck_assert_msg(shmq_producer_send(p, &m, NULL) == 0, "%s",
		    shmq_errmsg());
	}
	shmq_producer_close(p);
	ck_assert_int_eq(shmq_bus_info(bus, &bi), 0);
	tail = bi.log_tail_off;
	for (q = 0; q < NQ; q++) {
		snprintf(idx, sizeof(idx), "%s/%s/consumequeue/m/%d/%020d",
		    tu_home(), tu_bus(), q, 0);
		if ((n = tu_unsynced(idx, 0, 0)) > 0)
			dirty += n;
	}
	if (dirty == 0) {
		fprintf(stderr, "close_syncs_many: skipped (already written "
		    "back)\n");
		shmq_bus_close(bus);
		return;
	}
	shmq_bus_close(bus);
	ck_assert_uint_eq(read_ckpt(), tail);
	snprintf(seg, sizeof(seg), "%s/%s/commitlog/%020d", tu_home(),
	    tu_bus(), 0);
	ck_assert_int_eq(tu_unsynced(seg, 0, tail), 0);
	for (q = 0; q < NQ; q++) {
		snprintf(idx, sizeof(idx), "%s/%s/consumequeue/m/%d/%020d",
		    tu_home(), tu_bus(), q, 0);
		n = tu_unsynced(idx, 0, 0);
		ck_assert_msg(n == 0, "queue %d: %ld index pages not on disk",
		    q, n);
	}
}
END_TEST

/*
 * The sync helpers: shmq__log_sync(from, to) leaves no dirty page in the
 * range (and only needs the range), shmq__cq_sync leaves none in the index
 * files that hold entries for records at or after its bound and says
 * whether there were any.
 */
START_TEST(t_sync_helpers)
{
	struct shmq_bus *bus;
	struct shmq_topic *t;
	char seg[4400], idx[4400];
	uint64_t t1, t2;
	long n;

	if (!tu_disk_store("sync_helpers"))
		return;
	ck_assert_msg(open_bus(&bus, NULL) == 0, "%s", shmq_errmsg());
	ck_assert_int_eq(shmq_topic_create(bus, "t", 1), 0);
	snprintf(seg, sizeof(seg), "%s/%s/commitlog/%020d", tu_home(),
	    tu_bus(), 0);
	snprintf(idx, sizeof(idx), "%s/%s/consumequeue/t/0/%020d", tu_home(),
	    tu_bus(), 0);

	send_many(bus, "t", 100);
	t1 = ck_pr_load_64(&bus->ctl->log_tail);
	send_many(bus, "t", 100);
	t2 = ck_pr_load_64(&bus->ctl->log_tail);
	if (tu_unsynced(seg, 0, t2) == 0) {
		fprintf(stderr, "sync_helpers: skipped (already written "
		    "back)\n");
		shmq_bus_close(bus);
		return;
	}
	/* The prefault thread would dirty the tail's page again. */
	shmq__prefault_stop(bus);
	/* An empty range is a no-op. */
	ck_assert_int_eq(shmq__log_sync(bus, t2, t2), 0);
	ck_assert_int_eq(shmq__log_sync(bus, t2, t1), 0);

	/* [t1, t2) only: pages wholly below t1 may stay dirty. */
	ck_assert_int_eq(shmq__log_sync(bus, t1, t2), 0);
	n = tu_unsynced(seg, t1, t2 - t1);
	ck_assert_msg(n == 0, "%ld dirty pages in [%llu, %llu)", n,
	    (unsigned long long)t1, (unsigned long long)t2);
	ck_assert_int_eq(shmq__log_sync(bus, 0, t2), 0);
	ck_assert_int_eq(tu_unsynced(seg, 0, t2), 0);

	t = shmq__topic_by_id(bus, 0);
	ck_assert(t != NULL);
	/* Nothing in the queue points at or after t2: untouched. */
	ck_assert_int_eq(shmq__cq_sync(bus, t, &t->cq[0], t2, false), 0);
	ck_assert_int_gt(tu_unsynced(idx, 0, 0), 0);
	ck_assert_int_eq(shmq__cq_sync(bus, t, &t->cq[0], t1, true), 1);
	ck_assert_int_gt(tu_unsynced(idx, 0, 0), 0);
	ck_assert_int_eq(shmq__cq_sync(bus, t, &t->cq[0], t1, false), 1);
	ck_assert_int_eq(tu_unsynced(idx, 0, 0), 0);
	shmq_bus_close(bus);
}
END_TEST

static Suite *
perm_suite(void)
{
	Suite *s = suite_create("perm");
	TCase *tc;

	tc = tcase_create("group_users");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_member_joins);
	tcase_add_test(tc, t_member_rebuilds);
	tcase_add_test(tc, t_outsider_denied);
	tcase_add_test(tc, t_stale_region);
	suite_add_tcase(s, tc);

	tc = tcase_create("group_store");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_group_saved);
	tcase_add_test(tc, t_group_mismatch);
	suite_add_tcase(s, tc);

	tc = tcase_create("checkpoint");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_close_syncs);
	tcase_add_test(tc, t_close_syncs_many);
	tcase_add_test(tc, t_sync_helpers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(perm_suite);
}
