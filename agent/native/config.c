/*
 * The configuration the agent writes (agent/engine/containers/monitor.ts encodes it): a
 * list of NUL-terminated "key=value" entries. A key this monitor does not know, or one
 * the command does not use, is a setting it would not apply: refused, never skipped, and
 * named in the error. So are values it cannot read and scalar keys given twice.
 *
 * run and exec:
 *   user=NAME|UID[:GROUP|GID]   cwd=DIR   caps=HEX (bit n = capability n)
 *   env=K=V …   arg=ARG …   cgroup=DIR …  (cgroup dirs the process joins)
 *   oom_score_adj=N   the container's processes (-1000..1000; default 0)
 *   no_new_privs=1    PR_SET_NO_NEW_PRIVS before execve
 *   rlimit=NAME:SOFT:HARD …   NAME as prlimit(1) spells it (nofile, nproc, core …); a
 *               number or "unlimited" each (security.c)
 *   The seccomp filter (seccomp.c), none without seccomp=:
 *   seccomp=ACTION    the default action; ACTION is allow, log, trap, kill_thread,
 *               kill_process, errno:N or trace:N
 *   seccomp.cache=FILE  the compiled program, read if there, written if not (named by
 *               the agent after a hash of the rules and of this binary)
 *   seccomp.arch=NAME …   libseccomp's names (x86_64, x86, x32, aarch64, arm …)
 *   seccomp.flag=log|spec_allow|tsync …
 *   seccomp.rule=ACTION  then  seccomp.syscall=NAME …  seccomp.arg=INDEX:OP:VALUE[:VALUE2] …
 *               (OP: ne lt le eq ge gt masked_eq; several args on one index are ORed)
 *   group_add=NAME|GID …   supplementary groups besides the user's (--group-add)
 *   tty=0|1   a TTY made in the container's devpts on fds 0-2 (init: the monitor holds
 *             the master; exec: the helper relays it, see exec.c)
 *   tty_size=ROWSxCOLS   its first window size
 * exec only:
 *   attached=0|1   1: the command's output goes to the agent, and the command dies with the
 *             agent (no one is left to read it); 0 (default, a detached exec): it runs on
 * run only:
 *   rootfs=DIR   overlay=MOUNT-DATA (without it, rootfs is bound on itself)
 *   hostname=NAME   log=FILE (none: no log kept)   netns=new|host
 *   log_max_size=BYTES   rotate the log when a file reaches it (default: never)
 *   log_max_file=N   files kept, the current one included (default 1; needs log_max_size)
 *   stdin=open|null   open: the init's stdin is a pipe the control socket's `stdin` feeds
 *             (Docker's OpenStdin); null (default): /dev/null
 *   monitor_cgroup=DIR …   groups of the monitor itself (one per hierarchy)
 *   monitor_oom_score_adj=N   the monitor's own (the agent sends -1000 when it may lower it)
 *   The mount plan, carried out in this order (rootfs.c):
 *   mount=DEST  then its attributes, each once:  mount.type=TYPE (required; "bind" for
 *               a bind mount)  mount.source=SRC  mount.options=OPT,OPT… (OCI names)
 *   device=PATH then  device.type=c|b|p  device.major=N  device.minor=N (c, b)
 *               device.mode=OCTAL (permissions)  device.uid=N  device.gid=N
 *   symlink=PATH then  symlink.target=TARGET
 *   masked=PATH …     empty (a read-only tmpfs, or /dev/null over a file); missing: skipped
 *   readonly=PATH …   bound read-only (nosuid,nodev,noexec) on itself; missing: skipped
 *   sysctl=KEY=VALUE …   written to the container's /proc/sys/KEY (dots become slashes)
 *               after the plan's mounts, before masked and read-only paths (runc's order)
 *   rootfs_readonly=1 the rootfs itself read-only once the plan is carried out
 *   pidns=new|host  ipcns=new|host  utsns=new|host   (default new; hostname= needs utsns=new)
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct conf cf;

#define RUN (1u << CONF_RUN)
#define EXEC (1u << CONF_EXEC)

static const char *conf_path;

static void __attribute__((noreturn)) bad(const char *key, const char *v, const char *why)
{
	die(128, 0, "berth-monitor: %s: %s=%.200s: %s", conf_path, key, v, why);
}

static unsigned number(const char *key, const char *v, int base, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, base);
	if (errno || !*v || *end || *v == '-' || *v == '+' || n > max)
		bad(key, v, base == 8 ? "not an octal number in range" : "not a number in range");
	return (unsigned)n;
}

static void absolute(const char *key, const char *v)
{
	if (v[0] != '/') bad(key, v, "not an absolute path");
}

/* A plan entry's last component must be a name of its own (it is created in its parent). */
static void named(const char *key, const char *v)
{
	absolute(key, v);
	const char *last = strrchr(v, '/') + 1;
	if (!*last || !strcmp(last, ".") || !strcmp(last, "..")) bad(key, v, "does not end in a name");
}

static void once(char **field, const char *key, char *v)
{
	if (*field) bad(key, v, "given twice");
	*field = v;
}

static struct plan_mount *cur_mount(const char *key, const char *v)
{
	if (!cf.nmounts) bad(key, v, "no mount= entry before it");
	return &cf.mounts[cf.nmounts - 1];
}

static struct plan_device *cur_device(const char *key, const char *v, int bit)
{
	if (!cf.ndevices) bad(key, v, "no device= entry before it");
	struct plan_device *d = &cf.devices[cf.ndevices - 1];
	if (d->set & bit) bad(key, v, "given twice");
	d->set |= bit;
	return d;
}

enum { D_TYPE = 1, D_MAJOR = 2, D_MINOR = 4, D_MODE = 8, D_UID = 16, D_GID = 32 };

static int seen_netns, seen_caps, seen_oom, seen_moom, seen_nnp, seen_rofs, seen_pidns, seen_ipcns, seen_utsns, seen_max_size, seen_max_file;

/* "new" or "host", once: 1 for a namespace of the container's own. */
static int ns_mode(const char *k, const char *v, int *seen)
{
	if ((*seen)++) bad(k, v, "given twice");
	if (strcmp(v, "new") && strcmp(v, "host")) bad(k, v, "not \"new\" or \"host\"");
	return strcmp(v, "host") != 0;
}

static int flag_on(const char *k, const char *v, int *seen)
{
	if ((*seen)++) bad(k, v, "given twice");
	if (strcmp(v, "1")) bad(k, v, "not 1");
	return 1;
}

static struct seccomp_rule *cur_rule(const char *k, const char *v)
{
	if (!cf.seccomp) bad(k, v, "no seccomp= entry before it");
	if (!cf.nseccomp_rules) bad(k, v, "no seccomp.rule= entry before it");
	return &cf.seccomp_rules[cf.nseccomp_rules - 1];
}
static int seen_netns, seen_caps, seen_oom, seen_moom, seen_tty, seen_tty_size, seen_stdin, seen_attached;

static long long positive(const char *k, char *v, int *seen, long long max)
{
	char *end;
	if ((*seen)++) bad(k, v, "given twice");
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || !*v || *end || *v == '+' || n < 1 || n > max) bad(k, v, "not a positive number in range");
	return n;
}

static int score(const char *k, char *v, int *seen)
{
	char *end;
	if ((*seen)++) bad(k, v, "given twice");
	long n = strtol(v, &end, 10);
	if (!*v || *end || n < -1000 || n > 1000) bad(k, v, "not a number from -1000 to 1000");
	return (int)n;
}

static void set(const char *k, char *v, unsigned kind)
{
	/* Keys and where they are accepted: anything else is refused below. */
	static const struct { const char *name; unsigned where; } keys[] = {
		{ "user", RUN | EXEC }, { "cwd", RUN | EXEC }, { "caps", RUN | EXEC }, { "env", RUN | EXEC },
		{ "arg", RUN | EXEC }, { "cgroup", RUN | EXEC }, { "oom_score_adj", RUN | EXEC },
		{ "rootfs", RUN }, { "overlay", RUN }, { "hostname", RUN }, { "log", RUN }, { "netns", RUN },
		{ "monitor_cgroup", RUN }, { "monitor_oom_score_adj", RUN }, { "mount", RUN }, { "mount.type", RUN }, { "mount.source", RUN },
		{ "mount.options", RUN }, { "device", RUN }, { "device.type", RUN }, { "device.major", RUN },
		{ "device.minor", RUN }, { "device.mode", RUN }, { "device.uid", RUN }, { "device.gid", RUN },
		{ "symlink", RUN }, { "symlink.target", RUN }, { "masked", RUN }, { "readonly", RUN },
		{ "no_new_privs", RUN | EXEC }, { "rlimit", RUN | EXEC }, { "seccomp", RUN | EXEC },
		{ "seccomp.arch", RUN | EXEC }, { "seccomp.flag", RUN | EXEC }, { "seccomp.rule", RUN | EXEC },
		{ "seccomp.syscall", RUN | EXEC }, { "seccomp.arg", RUN | EXEC }, { "seccomp.cache", RUN | EXEC }, { "sysctl", RUN },
		{ "rootfs_readonly", RUN }, { "pidns", RUN }, { "ipcns", RUN }, { "utsns", RUN },
		{ "tty", RUN | EXEC }, { "tty_size", RUN | EXEC }, { "attached", EXEC }, { "group_add", RUN | EXEC }, { "stdin", RUN },
		{ "log_max_size", RUN }, { "log_max_file", RUN },
	};
	size_t i;
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (!strcmp(keys[i].name, k)) break;
	if (i == sizeof keys / sizeof keys[0])
		die(128, 0, "berth-monitor: %s: unknown configuration key \"%.200s\"", conf_path, k);
	if (!(keys[i].where & kind))
		die(128, 0, "berth-monitor: %s: key \"%s\" does not apply to %s", conf_path, k, kind == EXEC ? "exec" : "run");

	if (!strcmp(k, "user")) once(&cf.user, k, v);
	else if (!strcmp(k, "cwd")) once(&cf.cwd, k, v);
	else if (!strcmp(k, "rootfs")) once(&cf.rootfs, k, v);
	else if (!strcmp(k, "overlay")) once(&cf.overlay, k, v);
	else if (!strcmp(k, "hostname")) once(&cf.hostname, k, v);
	else if (!strcmp(k, "log")) once(&cf.log, k, v);
	else if (!strcmp(k, "env")) strv_push(&cf.env, v);
	else if (!strcmp(k, "arg")) strv_push(&cf.argv, v);
	else if (!strcmp(k, "cgroup")) { absolute(k, v); strv_push(&cf.cgroups, v); }
	else if (!strcmp(k, "monitor_cgroup")) { absolute(k, v); strv_push(&cf.monitor_cgroups, v); }
	else if (!strcmp(k, "masked")) { absolute(k, v); strv_push(&cf.masked, v); }
	else if (!strcmp(k, "group_add")) {
		if (!*v || strchr(v, ':') || strchr(v, '\n')) bad(k, v, "not a group name or id");
		strv_push(&cf.group_add, v);
	} else if (!strcmp(k, "tty")) {
		if (seen_tty++) bad(k, v, "given twice");
		if (strcmp(v, "0") && strcmp(v, "1")) bad(k, v, "not 0 or 1");
		cf.tty = v[0] == '1';
	} else if (!strcmp(k, "attached")) {
		if (seen_attached++) bad(k, v, "given twice");
		if (strcmp(v, "0") && strcmp(v, "1")) bad(k, v, "not 0 or 1");
		cf.attached = v[0] == '1';
	} else if (!strcmp(k, "tty_size")) {
		if (seen_tty_size++) bad(k, v, "given twice");
		char *x = strchr(v, 'x');
		if (!x) bad(k, v, "not ROWSxCOLS");
		*x = 0;
		cf.tty_rows = (unsigned short)number(k, v, 10, 0xffff);
		cf.tty_cols = (unsigned short)number(k, x + 1, 10, 0xffff);
		*x = 'x';
	} else if (!strcmp(k, "stdin")) {
		if (seen_stdin++) bad(k, v, "given twice");
		if (strcmp(v, "open") && strcmp(v, "null")) bad(k, v, "not \"open\" or \"null\"");
		cf.open_stdin = v[0] == 'o';
	}
	else if (!strcmp(k, "log_max_size")) cf.log_max_size = positive(k, v, &seen_max_size, LLONG_MAX);
	else if (!strcmp(k, "log_max_file")) cf.log_max_file = (int)positive(k, v, &seen_max_file, 1000000);
	else if (!strcmp(k, "readonly")) { absolute(k, v); strv_push(&cf.readonly, v); }
	else if (!strcmp(k, "no_new_privs")) cf.no_new_privs = flag_on(k, v, &seen_nnp);
	else if (!strcmp(k, "rootfs_readonly")) cf.readonly_rootfs = flag_on(k, v, &seen_rofs);
	else if (!strcmp(k, "pidns")) cf.newpid = ns_mode(k, v, &seen_pidns);
	else if (!strcmp(k, "ipcns")) cf.newipc = ns_mode(k, v, &seen_ipcns);
	else if (!strcmp(k, "utsns")) cf.newuts = ns_mode(k, v, &seen_utsns);
	else if (!strcmp(k, "rlimit")) strv_push(&cf.rlimits, v);
	else if (!strcmp(k, "sysctl")) strv_push(&cf.sysctls, v);
	else if (!strcmp(k, "seccomp")) {
		if (!*v) bad(k, v, "empty");
		once(&cf.seccomp, k, v);
	} else if (!strcmp(k, "seccomp.cache")) {
		if (!cf.seccomp) bad(k, v, "no seccomp= entry before it");
		absolute(k, v);
		once(&cf.seccomp_cache, k, v);
	} else if (!strcmp(k, "seccomp.arch") || !strcmp(k, "seccomp.flag")) {
		if (!cf.seccomp) bad(k, v, "no seccomp= entry before it");
		strv_push(k[8] == 'a' ? &cf.seccomp_arches : &cf.seccomp_flags, v);
	} else if (!strcmp(k, "seccomp.rule")) {
		if (!cf.seccomp) bad(k, v, "no seccomp= entry before it");
		cf.seccomp_rules = xrealloc(cf.seccomp_rules, sizeof *cf.seccomp_rules * (size_t)(cf.nseccomp_rules + 1));
		memset(&cf.seccomp_rules[cf.nseccomp_rules], 0, sizeof *cf.seccomp_rules);
		cf.seccomp_rules[cf.nseccomp_rules++].action = v;
	} else if (!strcmp(k, "seccomp.syscall")) {
		if (!*v) bad(k, v, "empty");
		strv_push(&cur_rule(k, v)->syscalls, v);
	} else if (!strcmp(k, "seccomp.arg")) strv_push(&cur_rule(k, v)->args, v);
	else if (!strcmp(k, "netns")) {
		if (seen_netns++) bad(k, v, "given twice");
		if (strcmp(v, "new") && strcmp(v, "host")) bad(k, v, "not \"new\" or \"host\"");
		cf.newnet = strcmp(v, "host") != 0;
	} else if (!strcmp(k, "caps")) {
		char *end;
		if (seen_caps++) bad(k, v, "given twice");
		errno = 0;
		cf.caps = strtoull(v, &end, 16);
		if (errno || !*v || *end)
			die(128, errno ? errno : EINVAL, "berth-monitor: %s: caps=%.200s: not a hex capability mask", conf_path, v);
	} else if (!strcmp(k, "oom_score_adj")) cf.oom_score_adj = score(k, v, &seen_oom);
	else if (!strcmp(k, "monitor_oom_score_adj")) { cf.monitor_oom_score_adj = score(k, v, &seen_moom); cf.has_monitor_oom = 1; }
	else if (!strcmp(k, "mount")) {
		absolute(k, v);
		cf.mounts = xrealloc(cf.mounts, sizeof *cf.mounts * (size_t)(cf.nmounts + 1));
		memset(&cf.mounts[cf.nmounts], 0, sizeof *cf.mounts);
		cf.mounts[cf.nmounts++].dest = v;
	} else if (!strcmp(k, "mount.type")) {
		if (!*v) bad(k, v, "empty");
		once(&cur_mount(k, v)->type, k, v);
	} else if (!strcmp(k, "mount.source")) once(&cur_mount(k, v)->source, k, v);
	else if (!strcmp(k, "mount.options")) once(&cur_mount(k, v)->options, k, v);
	else if (!strcmp(k, "device")) {
		named(k, v);
		cf.devices = xrealloc(cf.devices, sizeof *cf.devices * (size_t)(cf.ndevices + 1));
		memset(&cf.devices[cf.ndevices], 0, sizeof *cf.devices);
		cf.devices[cf.ndevices++].path = v;
	} else if (!strcmp(k, "device.type")) {
		if (strcmp(v, "c") && strcmp(v, "b") && strcmp(v, "p")) bad(k, v, "not c, b or p");
		cur_device(k, v, D_TYPE)->type = v[0];
	} else if (!strcmp(k, "device.major")) cur_device(k, v, D_MAJOR)->major = number(k, v, 10, 0xfff);
	else if (!strcmp(k, "device.minor")) cur_device(k, v, D_MINOR)->minor = number(k, v, 10, 0xfffff);
	else if (!strcmp(k, "device.mode")) cur_device(k, v, D_MODE)->mode = number(k, v, 8, 07777);
	else if (!strcmp(k, "device.uid")) cur_device(k, v, D_UID)->uid = number(k, v, 10, 0xfffffffe);
	else if (!strcmp(k, "device.gid")) cur_device(k, v, D_GID)->gid = number(k, v, 10, 0xfffffffe);
	else if (!strcmp(k, "symlink")) {
		named(k, v);
		cf.symlinks = xrealloc(cf.symlinks, sizeof *cf.symlinks * (size_t)(cf.nsymlinks + 1));
		memset(&cf.symlinks[cf.nsymlinks], 0, sizeof *cf.symlinks);
		cf.symlinks[cf.nsymlinks++].path = v;
	} else if (!strcmp(k, "symlink.target")) {
		if (!cf.nsymlinks) bad(k, v, "no symlink= entry before it");
		if (!*v) bad(k, v, "empty");
		once(&cf.symlinks[cf.nsymlinks - 1].target, k, v);
	}
}

/* Entries that started a record must have what the record needs. */
static void complete(void)
{
	for (int i = 0; i < cf.nmounts; i++)
		if (!cf.mounts[i].type) bad("mount", cf.mounts[i].dest, "has no mount.type");
	for (int i = 0; i < cf.ndevices; i++) {
		struct plan_device *d = &cf.devices[i];
		int need = D_TYPE | D_MODE | (d->type == 'p' ? 0 : D_MAJOR | D_MINOR);
		if ((d->set & need) != need) bad("device", d->path, "needs device.type, device.mode and (for c and b) device.major and device.minor");
		if (d->type == 'p' && (d->set & (D_MAJOR | D_MINOR))) bad("device", d->path, "a fifo (p) has no major or minor");
	}
	for (int i = 0; i < cf.nsymlinks; i++)
		if (!cf.symlinks[i].target) bad("symlink", cf.symlinks[i].path, "has no symlink.target");
	for (int i = 0; i < cf.nseccomp_rules; i++)
		if (!cf.seccomp_rules[i].syscalls.n) bad("seccomp.rule", cf.seccomp_rules[i].action, "has no seccomp.syscall");
	/* The host's UTS namespace is the host's: its name is not the container's to set. */
	if (!cf.newuts && cf.hostname) bad("hostname", cf.hostname, "given with utsns=host");
	if (seen_tty_size && !cf.tty) die(128, 0, "berth-monitor: %s: tty_size= without tty=1 would not apply", conf_path);
	if ((seen_max_size || seen_max_file) && !cf.log) die(128, 0, "berth-monitor: %s: log_max_size= or log_max_file= without log= would not apply", conf_path);
	if (seen_max_file && !seen_max_size) die(128, 0, "berth-monitor: %s: log_max_file= without log_max_size= would not apply", conf_path);
}

void read_conf(const char *path, enum conf_kind kind)
{
	struct stat st;
	conf_path = path;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) die(128, errno, "berth-monitor: open %s", path);
	char *buf = xrealloc(NULL, (size_t)st.st_size + 1);
	ssize_t got = 0;
	while (got < st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)(st.st_size - got));
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) die(128, r < 0 ? errno : EIO, "berth-monitor: read %s", path);
		got += r;
	}
	buf[got] = 0;
	close(fd);
	cf.newnet = cf.newpid = cf.newipc = cf.newuts = 1;
	cf.log_max_file = 1;
	cf.caps = 0xa80425fbULL; /* Docker's default set, unless the agent says otherwise */
	for (char *p = buf, *next; p < buf + got; p = next) {
		next = p + strlen(p) + 1;
		char *v = strchr(p, '=');
		if (!v) die(128, 0, "berth-monitor: %s: entry \"%.200s\" is not key=value", path, p);
		*v++ = 0;
		set(p, v, 1u << kind);
	}
	complete();
	security_check();
	seccomp_prepare();
	if (kind == CONF_RUN) {
		if (!cf.rootfs) die(128, EINVAL, "berth-monitor: %s has no rootfs", path);
		rootfs_check();
	}
}
