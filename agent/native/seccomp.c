/*
 * The container's seccomp filter. The agent decides it (agent/engine/containers/
 * seccomp-profile.ts resolves Docker's default profile, or the user's, against the
 * container's capabilities and this host's architecture and kernel) and sends plain rules;
 * this file only turns them into a filter with libseccomp, the way runc does:
 *
 *   - the default action is seccomp=, each seccomp.rule= applies its action to its
 *     seccomp.syscall= names when its seccomp.arg= conditions hold;
 *   - a name libseccomp does not know on any architecture is skipped (the syscall keeps the
 *     default action), as runc skips it: a profile may name syscalls newer than the library;
 *   - a rule whose action is the default action is skipped: it would change nothing;
 *   - several conditions on one argument become one rule each (the kernel ORs them), as in
 *     runc, since libseccomp takes only one comparison per argument and rule;
 *   - libseccomp's own no_new_privs is off: no_new_privs= decides that (security.c).
 *
 * The filter is built in the monitor (and in exec before it forks), so a bad rule fails the
 * start with its name before any container process exists; the init only loads it.
 *
 * Compiling the rules costs milliseconds (libseccomp builds the BPF program for each
 * architecture), every start. With seccomp.cache=PATH the compiled program is kept there:
 * the agent names the file after a hash of the rules and of this binary, so a file that
 * exists holds exactly this program, and a later start reads it instead of compiling.
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static scmp_filter_ctx filter;
/* The compiled program and the seccomp() flags it is loaded with. */
static struct sock_fprog prog;
static unsigned prog_flags;

static void __attribute__((noreturn)) bad(const char *key, const char *v, const char *why)
{
	die(128, 0, "berth-monitor: %s=%.200s: %s", key, v, why);
}

static unsigned long long number(const char *key, const char *whole, const char *s, unsigned long long max)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || !*s || *end || *s == '-' || *s == '+' || n > max) bad(key, whole, "not a number in range");
	return n;
}

static uint32_t action(const char *key, const char *v)
{
	if (!strcmp(v, "allow")) return SCMP_ACT_ALLOW;
	if (!strcmp(v, "log")) return SCMP_ACT_LOG;
	if (!strcmp(v, "trap")) return SCMP_ACT_TRAP;
	if (!strcmp(v, "kill_thread")) return SCMP_ACT_KILL_THREAD;
	if (!strcmp(v, "kill_process")) return SCMP_ACT_KILL_PROCESS;
	if (!strncmp(v, "errno:", 6)) return SCMP_ACT_ERRNO((uint32_t)number(key, v, v + 6, 4095));
	if (!strncmp(v, "trace:", 6)) return SCMP_ACT_TRACE((uint32_t)number(key, v, v + 6, 65535));
	bad(key, v, "not allow, log, trap, kill_thread, kill_process, errno:N or trace:N");
}

static const struct { const char *name; enum scmp_compare op; } ops[] = {
	{ "ne", SCMP_CMP_NE }, { "lt", SCMP_CMP_LT }, { "le", SCMP_CMP_LE }, { "eq", SCMP_CMP_EQ },
	{ "ge", SCMP_CMP_GE }, { "gt", SCMP_CMP_GT }, { "masked_eq", SCMP_CMP_MASKED_EQ },
};

/* INDEX:OP:VALUE[:VALUE2] */
static struct scmp_arg_cmp condition(const char *v)
{
	char buf[256], *f[4] = { 0 };
	int n = 0;
	if (strlen(v) >= sizeof buf) bad("seccomp.arg", v, "too long");
	strcpy(buf, v);
	for (char *p = buf; p && n < 4; n++) {
		f[n] = p;
		p = strchr(p, ':');
		if (p) *p++ = 0;
		else { n++; break; }
	}
	if (n < 3 || (n == 4 && strchr(f[3], ':'))) bad("seccomp.arg", v, "not INDEX:OP:VALUE[:VALUE2]");
	struct scmp_arg_cmp c = { 0 };
	c.arg = (unsigned)number("seccomp.arg", v, f[0], 5);
	size_t i;
	for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (!strcmp(ops[i].name, f[1])) break;
	if (i == sizeof ops / sizeof ops[0]) bad("seccomp.arg", v, "operator is not ne, lt, le, eq, ge, gt or masked_eq");
	c.op = ops[i].op;
	c.datum_a = number("seccomp.arg", v, f[2], UINT64_MAX);
	c.datum_b = n == 4 ? number("seccomp.arg", v, f[3], UINT64_MAX) : 0;
	return c;
}

static void add(const char *name, uint32_t act, unsigned n, const struct scmp_arg_cmp *c)
{
	if (!filter) return; /* checking only: the program comes from the cache */
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR) return; /* unknown to libseccomp: see the top of the file */
	int r = seccomp_rule_add_array(filter, act, nr, n, c);
	if (r < 0) die(128, -r, "berth-monitor: seccomp rule for %s", name);
}

/* The program in `fd` (from its start), if it is one: whole instructions, within the kernel's limit. */
static int read_prog(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % (off_t)sizeof(struct sock_filter) ||
	    st.st_size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -1;
	struct sock_filter *p = xrealloc(NULL, (size_t)st.st_size);
	if (pread(fd, p, (size_t)st.st_size, 0) != st.st_size) { free(p); return -1; }
	prog.filter = p;
	prog.len = (unsigned short)(st.st_size / (off_t)sizeof(struct sock_filter));
	return 0;
}

/* Best effort: without the file the next start compiles again, which is all a cache can cost. */
static void keep(const char *path)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof tmp) return;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) return;
	size_t n = prog.len * sizeof(struct sock_filter);
	int ok = write_all(fd, prog.filter, n) == 0 && fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, path) < 0) unlink(tmp);
}

void seccomp_prepare(void)
{
	if (!cf.seccomp) return;
	uint32_t def = action("seccomp", cf.seccomp);
	int cached = -1, r;
	if (cf.seccomp_cache) {
		int fd = open(cf.seccomp_cache, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			cached = read_prog(fd);
			close(fd);
		}
	}
	if (cached < 0) {
		filter = seccomp_init(def);
		if (!filter) die(128, ENOMEM, "berth-monitor: seccomp_init");
		r = seccomp_attr_set(filter, SCMP_FLTATR_CTL_NNP, 0);
		if (r < 0) die(128, -r, "berth-monitor: seccomp: leave no_new_privs alone");
		/* A binary search over syscall numbers instead of a list: the same filter, fewer
		 * instructions run per system call of the container. */
		r = seccomp_attr_set(filter, SCMP_FLTATR_CTL_OPTIMIZE, 2);
		if (r < 0) die(128, -r, "berth-monitor: seccomp: optimise the filter");
	}
	for (int i = 0; i < cf.seccomp_arches.n; i++) {
		const char *a = cf.seccomp_arches.v[i];
		uint32_t token = seccomp_arch_resolve_name(a);
		if (!token) bad("seccomp.arch", a, "an architecture libseccomp does not know");
		r = filter ? seccomp_arch_add(filter, token) : 0;
		if (r < 0 && r != -EEXIST) die(128, -r, "berth-monitor: seccomp.arch=%s", a);
	}
	for (int i = 0; i < cf.seccomp_flags.n; i++) {
		const char *f = cf.seccomp_flags.v[i];
		if (!strcmp(f, "log")) prog_flags |= SECCOMP_FILTER_FLAG_LOG;
		else if (!strcmp(f, "spec_allow")) prog_flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
		else if (!strcmp(f, "tsync")) prog_flags |= SECCOMP_FILTER_FLAG_TSYNC;
		else bad("seccomp.flag", f, "not log, spec_allow or tsync");
	}
	for (int i = 0; i < cf.nseccomp_rules; i++) {
		struct seccomp_rule *rule = &cf.seccomp_rules[i];
		uint32_t act = action("seccomp.rule", rule->action);
		struct scmp_arg_cmp conds[6 * 8];
		unsigned n = 0, per_arg[6] = { 0 };
		int split = 0;
		if ((size_t)rule->args.n > sizeof conds / sizeof conds[0]) bad("seccomp.rule", rule->action, "has too many seccomp.arg entries");
		for (int j = 0; j < rule->args.n; j++) {
			conds[n] = condition(rule->args.v[j]);
			if (++per_arg[conds[n].arg] > 1) split = 1;
			n++;
		}
		if (act == def) continue;
		for (int j = 0; j < rule->syscalls.n; j++) {
			if (!split) add(rule->syscalls.v[j], act, n, conds);
			else
				for (unsigned k = 0; k < n; k++) add(rule->syscalls.v[j], act, 1, &conds[k]);
		}
	}
	if (!filter) return;
	/* Compiled once here, through a memory file: the init then loads plain BPF. */
	int mfd = (int)syscall(SYS_memfd_create, "seccomp", MFD_CLOEXEC);
	if (mfd < 0) die(128, errno, "berth-monitor: memfd for the seccomp program");
	r = seccomp_export_bpf(filter, mfd);
	if (r < 0) die(128, -r, "berth-monitor: compile the seccomp filter");
	if (read_prog(mfd) < 0) die(128, EINVAL, "berth-monitor: the compiled seccomp filter is not a program the kernel takes");
	close(mfd);
	seccomp_release(filter);
	filter = NULL;
	/* The library's working set is a megabyte the monitor would otherwise keep for the container's life. */
	malloc_trim(0);
	if (cf.seccomp_cache) keep(cf.seccomp_cache);
}

int seccomp_install(void)
{
	if (!prog.filter) return 0;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, prog_flags, &prog) < 0) return errno;
	return 0;
}
