/*
 * Who the container's process is and what it may do: the user and group from the image's
 * /etc/passwd and /etc/group (read after pivot_root, so they are the container's), the
 * supplementary groups (the user's memberships and --group-add), the capability sets, rlimits, no_new_privs, the seccomp filter's place in the sequence
 * (seccomp.c builds it), sysctls, and the OOM score. Runs in the init (and in exec's
 * child) after the mounts and before execve, in runc's order:
 *
 *   sysctls (during rootfs_setup, before /proc/sys goes read-only)
 *   harden_early: rlimits, no_new_privs, seccomp if no_new_privs is off (root still has
 *                 CAP_SYS_ADMIN, which loading a filter without no_new_privs takes)
 *   drop_bounding_caps, switch_user, set_caps
 *   harden_late:  seccomp under no_new_privs, as late as can be, so the fewest calls of
 *                 ours run under the container's filter
 */
#include "monitor.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int is_number(const char *s)
{
	if (!*s) return 0;
	for (; *s; s++) if (!isdigit((unsigned char)*s)) return 0;
	return 1;
}

/* A colon file of the container, line by line: passwd (name:x:uid:gid:gecos:home:shell)
 * or group (name:x:gid:member,member…). Lines have no length limit (big groups). */
struct colon_file { FILE *f; char *line; size_t cap; char *fields[7]; int n; };

static int colon_open(struct colon_file *c, const char *path)
{
	*c = (struct colon_file){ 0 };
	c->f = fopen(path, "re");
	return c->f != NULL;
}

static int colon_next(struct colon_file *c)
{
	ssize_t len;
	while ((len = getline(&c->line, &c->cap, c->f)) >= 0) {
		c->line[strcspn(c->line, "\n")] = 0;
		if (!*c->line) continue;
		c->n = 0;
		for (int i = 0; i < 7; i++) c->fields[i] = "";
		for (char *p = c->line; c->n < 7; c->n++) {
			c->fields[c->n] = p;
			char *colon = strchr(p, ':');
			if (!colon) { c->n++; break; }
			*colon = 0;
			p = colon + 1;
		}
		if (c->n >= 3) return 1;
	}
	return 0;
}

static void colon_close(struct colon_file *c)
{
	if (c->f) fclose(c->f);
	free(c->line);
}

/* Finds `key` (a name, or a number when byid) in field 0 or 2; copies the fields it needs. */
static int lookup(const char *file, const char *key, int byid, char *out[7], char *store, size_t len)
{
	struct colon_file c;
	int found = 0;
	if (!colon_open(&c, file)) return 0;
	while (!found && colon_next(&c)) {
		if (strcmp(byid ? c.fields[2] : c.fields[0], key)) continue;
		size_t at = 0;
		for (int i = 0; i < 7; i++) {
			int k = snprintf(store + at, len - at, "%s", c.fields[i]);
			out[i] = store + at;
			at += (size_t)k < len - at ? (size_t)k + 1 : len - at - 1;
		}
		found = 1;
	}
	colon_close(&c);
	return found;
}

static int fail_code = 128;

static unsigned long id_of(const char *s) { return strtoul(s, NULL, 10); }

/* Adds gid to the list unless it is there already (setgroups would keep duplicates). */
static void add_gid(gid_t **list, int *n, gid_t gid)
{
	for (int i = 0; i < *n; i++) if ((*list)[i] == gid) return;
	*list = xrealloc(*list, sizeof **list * (size_t)(*n + 1));
	(*list)[(*n)++] = gid;
}

/* The groups whose member list names `user` (Docker's supplementary groups). */
static void member_groups(const char *user, gid_t **list, int *n)
{
	struct colon_file c;
	if (!colon_open(&c, "/etc/group")) return;
	while (colon_next(&c)) {
		if (c.n < 4 || !is_number(c.fields[2])) continue;
		for (char *m = c.fields[3], *end; *m; m = end + (*end != 0)) {
			end = strchrnul(m, ',');
			if ((size_t)(end - m) == strlen(user) && !strncmp(m, user, (size_t)(end - m))) {
				add_gid(list, n, (gid_t)id_of(c.fields[2]));
				break;
			}
		}
	}
	colon_close(&c);
}

/* A group by name or number; a number needs no entry, a name does. */
static gid_t group_id(const char *name)
{
	char store[4096], *f[7];
	if (lookup("/etc/group", name, 0, f, store, sizeof store) && is_number(f[2])) return (gid_t)id_of(f[2]);
	if (is_number(name)) {
		if (lookup("/etc/group", name, 1, f, store, sizeof store)) return (gid_t)id_of(f[2]);
		return (gid_t)id_of(name);
	}
	die(fail_code, 0, "berth-monitor: unable to find group %s: no matching entries in group file", name);
}

/*
 * The process's stdio become the user's, as runc's fixStdioPermissions does, so that
 * reopening them (/dev/stdout, /proc/self/fd/1, the TTY) works for a user other than
 * root: pipes and the TTY were made by root. /dev/null stays as it is.
 */
static void own_stdio(uid_t uid)
{
	for (int fd = 0; fd < 3; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0) die(fail_code, errno, "berth-monitor: stat fd %d", fd);
		if (st.st_uid == uid || (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3))) continue;
		/* EPERM/EROFS/EINVAL: a file the agent handed over that cannot change owner (runc goes on too). */
		if (fchown(fd, uid, (gid_t)-1) < 0 && errno != EPERM && errno != EROFS && errno != EINVAL)
			die(fail_code, errno, "berth-monitor: give fd %d to uid %u", fd, (unsigned)uid);
	}
}

/* Root keeps only cf.caps; any other user gets none, and no setuid binary can exceed the bounding set. */
void drop_bounding_caps(void)
{
	for (int c = 0; c < 64; c++) {
		if (cf.caps & (1ULL << c)) continue;
		/* EINVAL: past the last capability this kernel knows. */
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			die(128, errno, "berth-monitor: drop capability %d from the bounding set", c);
	}
}

void set_caps(uid_t uid)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	unsigned long long keep = uid == 0 ? cf.caps : 0;
	memset(d, 0, sizeof d);
	/* No inheritable set, as Docker since 20.10 (CVE-2022-24769): a file's inheritable
	 * capabilities must not lift a non-root program above what it was given. */
	d[0].effective = d[0].permitted = (__u32)keep;
	d[1].effective = d[1].permitted = (__u32)(keep >> 32);
	if (syscall(SYS_capset, &h, d) < 0) die(128, errno, "berth-monitor: capset");
}

/*
 * Docker's rules (moby/sys/user GetExecUser, moby's getUser): "name" or "uid" from
 * /etc/passwd (a uid without an entry is allowed, with gid 0), ":group" by name or gid;
 * the groups are the primary one, then, only when no group was given, every group that
 * lists the user as a member, then group_add= (--group-add) entries.
 */
uid_t switch_user(struct strv *env, int code)
{
	char spec[256], store[4096], *f[7], name[256] = "";
	uid_t uid = 0;
	gid_t gid = 0;
	const char *home = "/";
	static char homebuf[1024];
	fail_code = code;
	snprintf(spec, sizeof spec, "%s", cf.user ? cf.user : "");
	char *grp = strchr(spec, ':');
	if (grp) *grp++ = 0;
	if (!*spec) strcpy(spec, "0"); /* root, but still with its passwd entry's home */
	int num = is_number(spec);
	if (lookup("/etc/passwd", spec, num, f, store, sizeof store)) {
		uid = (uid_t)id_of(f[2]);
		gid = (gid_t)id_of(f[3]);
		snprintf(name, sizeof name, "%s", f[0]);
		if (*f[5]) { snprintf(homebuf, sizeof homebuf, "%s", f[5]); home = homebuf; }
	} else if (num) {
		uid = (uid_t)id_of(spec);
	} else {
		die(code, 0, "berth-monitor: unable to find user %s: no matching entries in passwd file", spec);
	}
	if (grp && *grp) gid = group_id(grp);
	gid_t *groups = NULL;
	int ngroups = 0;
	add_gid(&groups, &ngroups, gid);
	if (!(grp && *grp) && *name) member_groups(name, &groups, &ngroups);
	for (int i = 0; i < cf.group_add.n; i++) add_gid(&groups, &ngroups, group_id(cf.group_add.v[i]));

	int has_home = 0;
	for (int i = 0; i < env->n; i++) if (strncmp(env->v[i], "HOME=", 5) == 0) has_home = 1;
	if (!has_home) {
		static char hb[1100];
		snprintf(hb, sizeof hb, "HOME=%s", home);
		strv_push(env, hb);
	}
	own_stdio(uid);
	if (setgroups((size_t)ngroups, groups) < 0) die(code, errno, "berth-monitor: setgroups");
	free(groups);
	if (setgid(gid) < 0) die(code, errno, "berth-monitor: setgid %u", (unsigned)gid);
	if (setuid(uid) < 0) die(code, errno, "berth-monitor: setuid %u", (unsigned)uid);
	return uid;
}

void set_oom_score_adj(int value, int code)
{
	char buf[16];
	int n = snprintf(buf, sizeof buf, "%d", value);
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write_all(fd, buf, (size_t)n) < 0) die(code, errno, "berth-monitor: set oom_score_adj to %d", value);
	close(fd);
}

/* ---- rlimits ---- */

static const struct { const char *name; int resource; } rlimit_names[] = {
	{ "as", RLIMIT_AS }, { "core", RLIMIT_CORE }, { "cpu", RLIMIT_CPU }, { "data", RLIMIT_DATA },
	{ "fsize", RLIMIT_FSIZE }, { "locks", RLIMIT_LOCKS }, { "memlock", RLIMIT_MEMLOCK },
	{ "msgqueue", RLIMIT_MSGQUEUE }, { "nice", RLIMIT_NICE }, { "nofile", RLIMIT_NOFILE },
	{ "nproc", RLIMIT_NPROC }, { "rss", RLIMIT_RSS }, { "rtprio", RLIMIT_RTPRIO },
	{ "rttime", RLIMIT_RTTIME }, { "sigpending", RLIMIT_SIGPENDING }, { "stack", RLIMIT_STACK },
};

struct rl { const char *spec; int resource; struct rlimit lim; };
static struct rl *rls;

static rlim_t rl_value(const char *spec, const char *s)
{
	char *end;
	if (!strcmp(s, "unlimited")) return RLIM_INFINITY;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || !*s || *end || *s == '-' || *s == '+' || n >= (unsigned long long)RLIM_INFINITY)
		die(128, 0, "berth-monitor: rlimit=%.200s: not NAME:SOFT:HARD with numbers or \"unlimited\"", spec);
	return (rlim_t)n;
}

static int sysctl_key_ok(const char *k)
{
	if (!*k || *k == '.' || strstr(k, "..") || k[strlen(k) - 1] == '.') return 0;
	for (; *k; k++)
		if (!isalnum((unsigned char)*k) && !strchr("._-", *k)) return 0;
	return 1;
}

void security_check(void)
{
	rls = xrealloc(NULL, sizeof *rls * (size_t)(cf.rlimits.n + 1));
	for (int i = 0; i < cf.rlimits.n; i++) {
		char buf[128], *soft, *hard;
		const char *spec = cf.rlimits.v[i];
		if (strlen(spec) >= sizeof buf) die(128, 0, "berth-monitor: rlimit=%.200s: too long", spec);
		strcpy(buf, spec);
		soft = strchr(buf, ':');
		hard = soft ? strchr(soft + 1, ':') : NULL;
		if (!soft || !hard || strchr(hard + 1, ':')) die(128, 0, "berth-monitor: rlimit=%.200s: not NAME:SOFT:HARD", spec);
		*soft++ = 0;
		*hard++ = 0;
		size_t j;
		for (j = 0; j < sizeof rlimit_names / sizeof rlimit_names[0]; j++)
			if (!strcmp(rlimit_names[j].name, buf)) break;
		if (j == sizeof rlimit_names / sizeof rlimit_names[0]) die(128, 0, "berth-monitor: rlimit=%.200s: unknown resource \"%s\"", spec, buf);
		for (int k = 0; k < i; k++)
			if (rls[k].resource == rlimit_names[j].resource) die(128, 0, "berth-monitor: rlimit=%.200s: %s given twice", spec, buf);
		rls[i] = (struct rl){ spec, rlimit_names[j].resource, { rl_value(spec, soft), rl_value(spec, hard) } };
		if (rls[i].lim.rlim_cur > rls[i].lim.rlim_max) die(128, 0, "berth-monitor: rlimit=%.200s: the soft limit is above the hard one", spec);
	}
	for (int i = 0; i < cf.sysctls.n; i++) {
		char key[256];
		const char *eq = strchr(cf.sysctls.v[i], '=');
		size_t n = eq ? (size_t)(eq - cf.sysctls.v[i]) : 0;
		if (!eq || n >= sizeof key) die(128, 0, "berth-monitor: sysctl=%.200s: not KEY=VALUE", cf.sysctls.v[i]);
		memcpy(key, cf.sysctls.v[i], n);
		key[n] = 0;
		if (!sysctl_key_ok(key)) die(128, 0, "berth-monitor: sysctl=%.200s: not a sysctl name", cf.sysctls.v[i]);
	}
}

void write_sysctls(void)
{
	for (int i = 0; i < cf.sysctls.n; i++) {
		char path[300];
		const char *kv = cf.sysctls.v[i], *eq = strchr(kv, '=');
		int n = snprintf(path, sizeof path, "proc/sys/%.*s", (int)(eq - kv), kv);
		for (char *p = path + 9; p < path + n; p++) if (*p == '.') *p = '/';
		int fd = rootfs_open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write_all(fd, eq + 1, strlen(eq + 1)) < 0)
			die(128, errno, "berth-monitor: set sysctl %.*s to \"%s\"", (int)(eq - kv), kv, eq + 1);
		close(fd);
	}
}

/* ---- the sequence before execve ---- */

void harden_early(int code)
{
	for (int i = 0; i < cf.rlimits.n; i++)
		if (setrlimit(rls[i].resource, &rls[i].lim) < 0) die(code, errno, "berth-monitor: set rlimit %s", rls[i].spec);
	if (cf.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die(code, errno, "berth-monitor: set no_new_privs");
	if (!cf.no_new_privs) {
		int e = seccomp_install();
		if (e) die(code, e, "berth-monitor: load the seccomp filter");
	}
}

void harden_late(int code)
{
	if (cf.no_new_privs) {
		int e = seccomp_install();
		if (e) die(code, e, "berth-monitor: load the seccomp filter");
	}
}

/* ---- the host's PID namespace ---- */

void kill_leftovers(void)
{
	if (cf.newpid) return;
	for (int round = 0; round < 100; round++) {
		int found = 0;
		for (int i = 0; i < cf.cgroups.n; i++) {
			char path[4096], line[32];
			snprintf(path, sizeof path, "%s/cgroup.procs", cf.cgroups.v[i]);
			FILE *f = fopen(path, "re");
			if (!f) continue; /* a group that is gone holds nobody */
			while (fgets(line, sizeof line, f)) {
				pid_t pid = (pid_t)strtol(line, NULL, 10);
				if (pid <= 0) continue;
				found++;
				if (kill(pid, SIGKILL) < 0 && errno != ESRCH) {
					char msg[160];
					snprintf(msg, sizeof msg, "berth-monitor: kill the container's process %d: %s\n", (int)pid, strerror(errno));
					log_line("stderr", msg, strlen(msg));
				}
			}
			fclose(f);
		}
		if (!found) return;
		usleep(10000); /* the killed leave their groups once reaped by their parents */
	}
}
