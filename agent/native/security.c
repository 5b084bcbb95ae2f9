/*
 * Who the container's process is and what it may do: the user and group from the image's
 * /etc/passwd and /etc/group (read after pivot_root, so they are the container's), the
 * capability sets, and the OOM score. Runs in the init (and in exec's child) after the
 * mounts and before execve. Phase 2 adds here: supplementary groups, --group-add,
 * no_new_privs, seccomp, rlimits.
 */
#include "monitor.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int is_number(const char *s)
{
	if (!*s) return 0;
	for (; *s; s++) if (!isdigit((unsigned char)*s)) return 0;
	return 1;
}

/* Finds `key` (a name, or a number when byid) in a colon file of the container:
 * passwd (name:x:uid:gid:gecos:home:shell) or group (name:x:gid:members). */
static int lookup(const char *file, const char *key, int byid, char *fields[7], char *line, size_t len)
{
	FILE *f = fopen(file, "re");
	if (!f) return 0;
	while (fgets(line, (int)len, f)) {
		line[strcspn(line, "\n")] = 0;
		int n = 0;
		for (int i = 0; i < 7; i++) fields[i] = "";
		for (char *p = line; n < 7; n++) {
			fields[n] = p;
			char *c = strchr(p, ':');
			if (!c) { n++; break; }
			*c = 0;
			p = c + 1;
		}
		if (n >= 3 && strcmp(byid ? fields[2] : fields[0], key) == 0) { fclose(f); return 1; }
	}
	fclose(f);
	return 0;
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
	d[0].effective = d[0].permitted = d[0].inheritable = (__u32)keep;
	d[1].effective = d[1].permitted = d[1].inheritable = (__u32)(keep >> 32);
	if (syscall(SYS_capset, &h, d) < 0) die(128, errno, "berth-monitor: capset");
}

uid_t switch_user(struct strv *env)
{
	char spec[256], line[4096], *f[7];
	uid_t uid = 0;
	gid_t gid = 0;
	const char *home = "/";
	static char homebuf[1024];
	snprintf(spec, sizeof spec, "%s", cf.user ? cf.user : "");
	char *grp = strchr(spec, ':');
	if (grp) *grp++ = 0;
	if (!*spec) strcpy(spec, "0"); /* root, but still with its passwd entry's home */
	int num = is_number(spec);
	if (lookup("/etc/passwd", spec, num, f, line, sizeof line)) {
		uid = (uid_t)strtoul(f[2], NULL, 10);
		gid = (gid_t)strtoul(f[3], NULL, 10);
		if (*f[5]) { snprintf(homebuf, sizeof homebuf, "%s", f[5]); home = homebuf; }
	} else if (num) {
		uid = (uid_t)strtoul(spec, NULL, 10);
	} else {
		die(128, 0, "berth-monitor: unable to find user %s: no matching entries in passwd file", spec);
	}
	if (grp && *grp) {
		if (is_number(grp)) gid = (gid_t)strtoul(grp, NULL, 10);
		else if (lookup("/etc/group", grp, 0, f, line, sizeof line)) gid = (gid_t)strtoul(f[2], NULL, 10);
		else die(128, 0, "berth-monitor: unable to find group %s: no matching entries in group file", grp);
	}
	int has_home = 0;
	for (int i = 0; i < env->n; i++) if (strncmp(env->v[i], "HOME=", 5) == 0) has_home = 1;
	if (!has_home) {
		static char hb[1100];
		snprintf(hb, sizeof hb, "HOME=%s", home);
		strv_push(env, hb);
	}
	if (setgroups(0, NULL) < 0) die(128, errno, "berth-monitor: setgroups");
	if (setgid(gid) < 0) die(128, errno, "berth-monitor: setgid %u", (unsigned)gid);
	if (setuid(uid) < 0) die(128, errno, "berth-monitor: setuid %u", (unsigned)uid);
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
