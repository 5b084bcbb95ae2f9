/*
 * berth-monitor: one per container. It detaches from the agent so agent restarts
 * never touch running containers, clones the container's init into new namespaces,
 * owns its stdout/stderr (Docker json-file lines) and records pid, errors and exit.
 *
 *   berth-monitor run STATEDIR              config in STATEDIR/monitor.conf
 *   berth-monitor mount-overlay TARGET DATA host-side overlay mount (build, commit, cp)
 *   berth-monitor umount TARGET             lazy unmount
 *   berth-monitor layer-fixup ROOT          xattrs and device nodes of a layer (layerfix.c)
 *   berth-monitor xattr-get NAME            one xattr of many paths (layerfix.c)
 *   berth-monitor exec PID CONF             run a command in the namespaces and cgroups of the
 *                                           container whose init is PID; stdio and exit code pass
 *                                           through (the agent's child, unlike `run`)
 *
 * monitor.conf is a list of NUL-terminated "key=value" entries; env, arg and cgroup
 * repeat. Files written to STATEDIR (each atomically, by rename):
 *   monitor.pid  this process        pid     container init's host pid
 *   execed       execve succeeded    error   why it did not
 *   exit         "<code>\n<RFC 3339 time>\n"; 128+N when killed by signal N
 * The agent sends SIGUSR1 once it has read `pid` and wired the container up; only
 * then does the init continue (cgroup namespace, mounts, pivot_root, execve).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "layerfix.h"

#define LOG_LINE_MAX 16384 /* Docker's json-file splits longer lines at 16 KiB */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define START_TIMEOUT_SEC 60

struct strv { char **v; int n; };

struct conf {
	char *rootfs, *overlay, *hostname, *user, *cwd, *log;
	char *etc_hostname, *etc_hosts, *etc_resolv;
	int newnet;
	unsigned long long caps; /* kept capabilities (bounding set; root's effective set) */
	struct strv env, argv, cgroups;
};

static struct conf cf;
static int log_fd = -1;
static int in_exec; /* exec mode reports to stderr, not to state files */
static int fd_devnull, p_out[2], p_err[2], p_errmsg[2], p_sync[2];

static void push(struct strv *s, char *v)
{
	char **n = realloc(s->v, sizeof(char *) * (s->n + 2));
	if (!n) { perror("realloc"); exit(1); }
	s->v = n;
	s->v[s->n++] = v;
	s->v[s->n] = NULL;
}

static void now_rfc3339(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t k = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + k, len - k, ".%09ldZ", ts.tv_nsec);
}

/* Valid UTF-8 passes through; anything else becomes U+FFFD, as Go's encoder does. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF) len = 2;
	else if (c >= 0xE0 && c <= 0xEF) { len = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
	else if (c >= 0xF0 && c <= 0xF4) { len = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
	else return 0;
	if (n < len || p[1] < lo || p[1] > hi) return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xBF) return 0;
	return len;
}

static void log_line(const char *stream, const char *data, size_t n)
{
	static char out[LOG_LINE_MAX * 6 + 256];
	char ts[64];
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)data;
	if (log_fd < 0) return;
	o += (size_t)sprintf(out, "{\"log\":\"");
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c >= 0x80) {
			size_t l = utf8_len(p + i, n - i);
			if (l) { memcpy(out + o, p + i, l); o += l; i += l; }
			else { memcpy(out + o, "\\ufffd", 6); o += 6; i++; }
			continue;
		}
		switch (c) {
		case '"': out[o++] = '\\'; out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; out[o++] = '\\'; break;
		case '\n': out[o++] = '\\'; out[o++] = 'n'; break;
		case '\r': out[o++] = '\\'; out[o++] = 'r'; break;
		case '\t': out[o++] = '\\'; out[o++] = 't'; break;
		default:
			if (c < 0x20 || c == 0x7f) o += (size_t)sprintf(out + o, "\\u%04x", c);
			else out[o++] = (char)c;
		}
		i++;
	}
	now_rfc3339(ts, sizeof ts);
	o += (size_t)sprintf(out + o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream, ts);
	/* One write per line under O_APPEND keeps lines whole even if a reader races us. */
	for (size_t w = 0; w < o;) {
		ssize_t r = write(log_fd, out + w, o - w);
		if (r < 0) { if (errno == EINTR) continue; return; }
		w += (size_t)r;
	}
}

/*
 * Replaces NAME in the state dir (the cwd) the way the agent writes its own files
 * (agent/engine/atomic-write.ts): a temp file, fsync, rename, fsync the directory, so the
 * agent never reads half a file and what it read survives a crash. On failure: -1 with
 * errno kept for the caller's message, and the failed step in the container's log.
 */
static int write_atomic(const char *name, const char *data)
{
	char tmp[256];
	const char *step = "create";
	size_t n = strlen(data), off = 0;
	int fd, dfd = -1, e, renamed = 0;
	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) goto failed;
	step = "write";
	while (off < n) {
		ssize_t r = write(fd, data + off, n - off);
		if (r < 0 && errno == EINTR) continue;
		if (r < 0) goto failed;
		off += (size_t)r;
	}
	step = "fsync";
	if (fsync(fd) < 0) goto failed;
	step = "close";
	e = close(fd);
	fd = -1;
	if (e < 0) goto failed;
	step = "rename";
	if (rename(tmp, name) < 0) goto failed;
	renamed = 1;
	step = "fsync the state directory after renaming";
	dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) goto failed;
	close(dfd);
	return 0;
failed:
	e = errno;
	if (fd >= 0) close(fd);
	if (dfd >= 0) close(dfd);
	if (!renamed) unlink(tmp); /* the old NAME, if any, stays as it was */
	{
		char msg[512];
		snprintf(msg, sizeof msg, "berth-monitor: write %s (%s): %s\n", name, step, strerror(e));
		log_line("stderr", msg, strlen(msg));
	}
	errno = e;
	return -1;
}

static void write_exit(int code)
{
	char buf[128], ts[64];
	now_rfc3339(ts, sizeof ts);
	snprintf(buf, sizeof buf, "%d\n%s\n", code, ts);
	if (write_atomic("exit", buf) < 0) {
		/* The agent will see a vanished monitor; the log at least says why. */
		char msg[256];
		snprintf(msg, sizeof msg, "berth-monitor: write exit code %d: %s\n", code, strerror(errno));
		log_line("stderr", msg, strlen(msg));
	}
}

/* A failure of the monitor itself: the agent and the log both learn why. */
/* "<formatted>: <strerror(e)>\n" (or just "\n" when e is 0), cut to fit msg. */
static void vformat(char *msg, size_t len, int e, const char *fmt, va_list ap)
{
	int k = vsnprintf(msg, len - 2, fmt, ap);
	if (k < 0) k = 0;
	if ((size_t)k > len - 200) k = (int)len - 200;
	if (e) snprintf(msg + k, len - (size_t)k, ": %s\n", strerror(e));
	else snprintf(msg + k, len - (size_t)k, "\n");
}

static void __attribute__((noreturn, format(printf, 2, 3))) fail(int code, const char *fmt, ...)
{
	char msg[1024];
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	vformat(msg, sizeof msg, e, fmt, ap);
	va_end(ap);
	if (in_exec) {
		fputs(msg, stderr);
		exit(code);
	}
	write_atomic("error", msg);
	log_line("stderr", msg, strlen(msg));
	write_exit(code);
	exit(1);
}

/* ---- in the container's init, before execve ---- */

static void __attribute__((noreturn, format(printf, 3, 4))) cfail(int code, int e, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vformat(msg, sizeof msg, e, fmt, ap);
	va_end(ap);
	if (write(p_errmsg[1], msg, strlen(msg)) < 0) { /* the log line below still tells */ }
	if (write(2, msg, strlen(msg)) < 0) { /* nothing left to tell */ }
	_exit(code);
}

static void xmount(const char *src, const char *dst, const char *type, unsigned long fl, const char *data)
{
	if (mount(src, dst, type, fl, data) < 0)
		cfail(128, errno, "berth-monitor: mount %s on %s (%s)", src ? src : "none", dst, type ? type : "bind");
}

static void mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/') continue;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST) cfail(128, errno, "berth-monitor: mkdir %s", buf);
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST) cfail(128, errno, "berth-monitor: mkdir %s", buf);
}

static void setup_dev(void)
{
	static const struct { const char *name; unsigned maj, min; } devs[] = {
		{ "dev/null", 1, 3 }, { "dev/zero", 1, 5 }, { "dev/full", 1, 7 },
		{ "dev/random", 1, 8 }, { "dev/urandom", 1, 9 }, { "dev/tty", 5, 0 },
	};
	static const struct { const char *target, *name; } links[] = {
		{ "/proc/self/fd", "dev/fd" }, { "/proc/self/fd/0", "dev/stdin" },
		{ "/proc/self/fd/1", "dev/stdout" }, { "/proc/self/fd/2", "dev/stderr" },
		{ "pts/ptmx", "dev/ptmx" },
	};
	mkdir_p("dev", 0755);
	xmount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
	for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
		if (mknod(devs[i].name, S_IFCHR | 0666, makedev(devs[i].maj, devs[i].min)) < 0)
			cfail(128, errno, "berth-monitor: mknod /%s", devs[i].name);
		chmod(devs[i].name, 0666); /* mknod obeys the umask */
	}
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		if (symlink(links[i].target, links[i].name) < 0)
			cfail(128, errno, "berth-monitor: symlink /%s", links[i].name);
	mkdir_p("dev/pts", 0755);
	xmount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
	mkdir_p("dev/shm", 01777);
	xmount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
	mkdir_p("dev/mqueue", 0755);
	if (mount("mqueue", "dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) { /* optional */ }
}

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

/*
 * The agent's hostname, hosts and resolv.conf go over the image's files. Before pivot_root
 * an image's absolute (or climbing) /etc symlink names a host path, and preparing the
 * target there would create or unlink host files; so each source is cloned as a detached
 * mount first and attached after pivot_root, where every link resolves inside the root.
 */
static int clone_source(const char *src)
{
	if (!src || !*src) return -1;
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | O_CLOEXEC);
	if (fd < 0 && errno != ENOSYS) cfail(128, errno, "berth-monitor: open_tree %s", src);
	return fd; /* -1 with ENOSYS: a kernel before 5.2 */
}

/* A regular file at `dst` to mount over, never following a final symlink. */
static void bind_target(const char *dst)
{
	struct stat st;
	mkdir_p("etc", 0755);
	if (lstat(dst, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode) ? rmdir(dst) : unlink(dst)) cfail(128, errno, "berth-monitor: replace /%s", dst);
	}
	int fd = open(dst, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) cfail(128, errno, "berth-monitor: create /%s", dst);
	close(fd);
}

/* Without open_tree: bind before pivot_root, which is safe only when /etc is a real directory. */
static void bind_file_before_pivot(const char *src, const char *dst)
{
	struct stat st;
	if (lstat("etc", &st) == 0 && !S_ISDIR(st.st_mode))
		cfail(128, 0, "berth-monitor: the image's /etc is not a directory, and this kernel (before 5.2) cannot bind /%s into it safely", dst);
	bind_target(dst);
	xmount(src, dst, NULL, MS_BIND, NULL);
}

static void attach_file(int tree, const char *src, const char *dst)
{
	bind_target(dst);
	if (syscall(SYS_move_mount, tree, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		cfail(128, errno, "berth-monitor: mount %s on /%s", src, dst);
	close(tree);
}

static void loopback_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) cfail(128, errno, "berth-monitor: socket for lo");
	memset(&ifr, 0, sizeof ifr);
	strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) cfail(128, errno, "berth-monitor: SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) cfail(128, errno, "berth-monitor: SIOCSIFFLAGS lo");
	close(s);
}

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

/* Docker's masked and read-only parts of /proc and /sys: host-wide knobs and kernel memory. */
static void protect_proc(void)
{
	static const char *readonly[] = { "proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger" };
	static const char *masked[] = {
		"proc/asound", "proc/acpi", "proc/kcore", "proc/keys", "proc/latency_stats", "proc/timer_list",
		"proc/timer_stats", "proc/sched_debug", "proc/scsi", "sys/firmware",
	};
	struct stat st;
	for (size_t i = 0; i < sizeof readonly / sizeof readonly[0]; i++) {
		if (stat(readonly[i], &st) < 0) continue;
		xmount(readonly[i], readonly[i], NULL, MS_BIND | MS_REC, NULL);
		xmount(NULL, readonly[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	}
	for (size_t i = 0; i < sizeof masked / sizeof masked[0]; i++) {
		if (stat(masked[i], &st) < 0) continue;
		if (S_ISDIR(st.st_mode)) xmount("tmpfs", masked[i], "tmpfs", MS_RDONLY, "size=0");
		else xmount("dev/null", masked[i], NULL, MS_BIND, NULL);
	}
}

/* Root keeps only cf.caps; any other user gets none, and no setuid binary can exceed the bounding set. */
static void drop_bounding_caps(void)
{
	for (int c = 0; c < 64; c++) {
		if (cf.caps & (1ULL << c)) continue;
		/* EINVAL: past the last capability this kernel knows. */
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			cfail(128, errno, "berth-monitor: drop capability %d from the bounding set", c);
	}
}

static void set_caps(uid_t uid)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	unsigned long long keep = uid == 0 ? cf.caps : 0;
	memset(d, 0, sizeof d);
	d[0].effective = d[0].permitted = d[0].inheritable = (__u32)keep;
	d[1].effective = d[1].permitted = d[1].inheritable = (__u32)(keep >> 32);
	if (syscall(SYS_capset, &h, d) < 0) cfail(128, errno, "berth-monitor: capset");
}

static uid_t switch_user(struct strv *env)
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
	{
		int num = is_number(spec);
		if (lookup("/etc/passwd", spec, num, f, line, sizeof line)) {
			uid = (uid_t)strtoul(f[2], NULL, 10);
			gid = (gid_t)strtoul(f[3], NULL, 10);
			if (*f[5]) { snprintf(homebuf, sizeof homebuf, "%s", f[5]); home = homebuf; }
		} else if (num) {
			uid = (uid_t)strtoul(spec, NULL, 10);
		} else {
			cfail(128, 0, "berth-monitor: unable to find user %s: no matching entries in passwd file", spec);
		}
	}
	if (grp && *grp) {
		if (is_number(grp)) gid = (gid_t)strtoul(grp, NULL, 10);
		else if (lookup("/etc/group", grp, 0, f, line, sizeof line)) gid = (gid_t)strtoul(f[2], NULL, 10);
		else cfail(128, 0, "berth-monitor: unable to find group %s: no matching entries in group file", grp);
	}
	int has_home = 0;
	for (int i = 0; i < env->n; i++) if (strncmp(env->v[i], "HOME=", 5) == 0) has_home = 1;
	if (!has_home) {
		static char hb[1100];
		snprintf(hb, sizeof hb, "HOME=%s", home);
		push(env, hb);
	}
	if (setgroups(0, NULL) < 0) cfail(128, errno, "berth-monitor: setgroups");
	if (setgid(gid) < 0) cfail(128, errno, "berth-monitor: setgid %u", (unsigned)gid);
	if (setuid(uid) < 0) cfail(128, errno, "berth-monitor: setuid %u", (unsigned)uid);
	return uid;
}

static void exec_cmd(char **argv, char **envp)
{
	const char *path = DEFAULT_PATH;
	char buf[4096];
	int eacces = 0, other = 0;
	for (char **e = envp; *e; e++) if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, envp);
		int e = errno;
		if (e == ENOENT || e == ENOTDIR) cfail(127, e, "exec: \"%s\": stat %s", argv[0], argv[0]);
		cfail(126, e, "exec: \"%s\"", argv[0]);
	}
	for (const char *p = path;; ) {
		const char *c = strchrnul(p, ':');
		int dl = (int)(c - p);
		if (dl) snprintf(buf, sizeof buf, "%.*s/%s", dl, p, argv[0]);
		else snprintf(buf, sizeof buf, "./%s", argv[0]); /* an empty PATH entry means the cwd */
		execve(buf, argv, envp);
		if (errno == EACCES) eacces = errno;
		else if (errno != ENOENT && errno != ENOTDIR) other = errno;
		if (!*c) break;
		p = c + 1;
	}
	if (eacces) cfail(126, eacces, "exec: \"%s\"", argv[0]);
	if (other) cfail(126, other, "exec: \"%s\"", argv[0]);
	cfail(127, 0, "exec: \"%s\": executable file not found in $PATH", argv[0]);
}

static int child_main(void *arg)
{
	(void)arg;
	char go;
	if (dup2(fd_devnull, 0) < 0 || dup2(p_out[1], 1) < 0 || dup2(p_err[1], 2) < 0) _exit(128);
	close(p_out[0]); close(p_err[0]); close(p_out[1]); close(p_err[1]);
	close(p_errmsg[0]); close(p_sync[1]);
	if (read(p_sync[0], &go, 1) != 1) _exit(128); /* the monitor gave up on the agent */
	close(p_sync[0]);
	/* Ignored signals stay ignored across execve: give the init the defaults. */
	signal(SIGUSR1, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* Only now is the init inside its cgroups, so its cgroup namespace roots there. */
	if (unshare(CLONE_NEWCGROUP) < 0 && errno != EINVAL) cfail(128, errno, "berth-monitor: unshare cgroup namespace");
	if (cf.hostname && sethostname(cf.hostname, strlen(cf.hostname)) < 0)
		cfail(128, errno, "berth-monitor: sethostname %s", cf.hostname);
	if (cf.newnet) loopback_up();

	xmount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	/* nodev: device nodes work only in the container's own /dev. */
	if (cf.overlay) xmount("overlay", cf.rootfs, "overlay", MS_NODEV, cf.overlay);
	else xmount(cf.rootfs, cf.rootfs, NULL, MS_BIND | MS_REC, NULL); /* pivot_root wants a mount point */
	if (chdir(cf.rootfs) < 0) cfail(128, errno, "berth-monitor: chdir %s", cf.rootfs);

	mkdir_p("proc", 0555);
	xmount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	setup_dev();
	mkdir_p("sys", 0555);
	xmount("sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	protect_proc();
	const char *etc_src[3] = { cf.etc_hostname, cf.etc_hosts, cf.etc_resolv };
	static const char *etc_dst[3] = { "etc/hostname", "etc/hosts", "etc/resolv.conf" };
	int etc_tree[3];
	for (int i = 0; i < 3; i++) {
		etc_tree[i] = clone_source(etc_src[i]);
		if (etc_tree[i] < 0 && etc_src[i] && *etc_src[i]) bind_file_before_pivot(etc_src[i], etc_dst[i]);
	}

	/* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the container's. */
	if (syscall(SYS_pivot_root, ".", ".") < 0) cfail(128, errno, "berth-monitor: pivot_root %s", cf.rootfs);
	if (umount2(".", MNT_DETACH) < 0) cfail(128, errno, "berth-monitor: detach old root");
	if (chdir("/") < 0) cfail(128, errno, "berth-monitor: chdir /");
	for (int i = 0; i < 3; i++)
		if (etc_tree[i] >= 0) attach_file(etc_tree[i], etc_src[i], etc_dst[i]);

	const char *cwd = cf.cwd && *cf.cwd ? cf.cwd : "/";
	mkdir_p(cwd, 0755); /* Docker creates a missing WorkingDir */
	drop_bounding_caps();
	uid_t uid = switch_user(&cf.env);
	set_caps(uid);
	if (chdir(cwd) < 0) cfail(128, errno, "berth-monitor: chdir to cwd (\"%s\")", cwd);
	if (cf.argv.n == 0) cfail(128, 0, "berth-monitor: no command specified");
	exec_cmd(cf.argv.v, cf.env.v ? cf.env.v : (char *[]){ NULL });
	return 127;
}

/* ---- the monitor ---- */

static void read_conf(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) fail(128, "berth-monitor: open %s", path);
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf) fail(128, "berth-monitor: malloc");
	ssize_t got = 0;
	while (got < st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)(st.st_size - got));
		if (r <= 0) fail(128, "berth-monitor: read %s", path);
		got += r;
	}
	buf[got] = 0;
	close(fd);
	cf.newnet = 1;
	cf.caps = 0xa80425fbULL; /* Docker's default set, unless the agent says otherwise */
	for (char *p = buf, *next; p < buf + got; p = next) {
		next = p + strlen(p) + 1;
		char *v = strchr(p, '=');
		/* A key this monitor does not know is a setting it would not apply: refuse, never skip. */
		if (!v) { errno = 0; fail(128, "berth-monitor: %s: entry \"%.200s\" is not key=value", path, p); }
		*v++ = 0;
		if (!strcmp(p, "rootfs")) cf.rootfs = v;
		else if (!strcmp(p, "overlay")) cf.overlay = v;
		else if (!strcmp(p, "hostname")) cf.hostname = v;
		else if (!strcmp(p, "user")) cf.user = v;
		else if (!strcmp(p, "cwd")) cf.cwd = v;
		else if (!strcmp(p, "log")) cf.log = v;
		else if (!strcmp(p, "etc_hostname")) cf.etc_hostname = v;
		else if (!strcmp(p, "etc_hosts")) cf.etc_hosts = v;
		else if (!strcmp(p, "etc_resolv")) cf.etc_resolv = v;
		else if (!strcmp(p, "netns")) {
			if (strcmp(v, "new") && strcmp(v, "host")) { errno = 0; fail(128, "berth-monitor: %s: netns=%.200s: not \"new\" or \"host\"", path, v); }
			cf.newnet = strcmp(v, "host") != 0;
		} else if (!strcmp(p, "caps")) {
			char *end;
			errno = 0;
			cf.caps = strtoull(v, &end, 16);
			if (errno || !*v || *end) {
				if (!errno) errno = EINVAL;
				fail(128, "berth-monitor: %s: caps=%.200s: not a hex capability mask", path, v);
			}
		} else if (!strcmp(p, "env")) push(&cf.env, v);
		else if (!strcmp(p, "arg")) push(&cf.argv, v);
		else if (!strcmp(p, "cgroup")) push(&cf.cgroups, v);
		else { errno = 0; fail(128, "berth-monitor: %s: unknown configuration key \"%.200s\"", path, p); }
	}
	if (!cf.rootfs && !in_exec) { errno = EINVAL; fail(128, "berth-monitor: %s has no rootfs", path); }
}

struct stream { int fd; const char *name; char buf[LOG_LINE_MAX]; size_t len; };

static void feed(struct stream *s, const char *p, size_t n)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) + 1 : n;
		if (s->len + take > LOG_LINE_MAX) take = LOG_LINE_MAX - s->len;
		memcpy(s->buf + s->len, p, take);
		s->len += take;
		p += take;
		n -= take;
		if (s->buf[s->len - 1] == '\n' || s->len == LOG_LINE_MAX) {
			log_line(s->name, s->buf, s->len);
			s->len = 0;
		}
	}
}

static int run(const char *statedir)
{
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	/* Blocked before monitor.pid exists, so the agent's signal can never be lost. */
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (chdir(statedir) < 0) { perror(statedir); return 1; }
	read_conf("monitor.conf");
	if (cf.log) {
		log_fd = open(cf.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (log_fd < 0) fail(128, "berth-monitor: open log %s", cf.log);
	}

	pid_t p = fork();
	if (p < 0) fail(128, "berth-monitor: fork");
	if (p > 0) _exit(0); /* the agent reaps this one; the monitor lives on, re-parented */
	if (setsid() < 0) fail(128, "berth-monitor: setsid");

	fd_devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd_devnull < 0) fail(128, "berth-monitor: open /dev/null");
	for (int fd = 0; fd < 3; fd++)
		if (dup3(fd_devnull, fd, 0) < 0) fail(128, "berth-monitor: detach fd %d from the agent", fd);
	char buf[65536];
	snprintf(buf, sizeof buf, "%d\n", getpid());
	if (write_atomic("monitor.pid", buf) < 0) fail(128, "berth-monitor: write monitor.pid");

	if (pipe2(p_out, O_CLOEXEC) < 0 || pipe2(p_err, O_CLOEXEC) < 0 ||
	    pipe2(p_errmsg, O_CLOEXEC) < 0 || pipe2(p_sync, O_CLOEXEC) < 0)
		fail(128, "berth-monitor: pipe");

	int flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD;
	if (cf.newnet) flags |= CLONE_NEWNET;
	size_t stack_size = 1 << 20;
	char *stack = malloc(stack_size);
	if (!stack) fail(128, "berth-monitor: malloc stack");
	pid_t child = clone(child_main, stack + stack_size, flags, NULL);
	if (child < 0) fail(128, "berth-monitor: clone");
	close(p_out[1]); close(p_err[1]); close(p_errmsg[1]); close(p_sync[0]);

	for (int i = 0; i < cf.cgroups.n; i++) {
		char path[4096], pidbuf[32];
		snprintf(path, sizeof path, "%s/cgroup.procs", cf.cgroups.v[i]);
		snprintf(pidbuf, sizeof pidbuf, "%d", child);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, pidbuf, strlen(pidbuf)) < 0) {
			kill(child, SIGKILL);
			fail(128, "berth-monitor: join cgroup %s", cf.cgroups.v[i]);
		}
		close(fd);
	}
	snprintf(buf, sizeof buf, "%d\n", child);
	if (write_atomic("pid", buf) < 0) { kill(child, SIGKILL); fail(128, "berth-monitor: write pid"); }

	/* Wait for the agent's go, or for the init to be killed first (the agent gave up on it). */
	struct timespec wait_go = { START_TIMEOUT_SEC, 0 };
	sigset_t go_or_death = usr1;
	sigaddset(&go_or_death, SIGCHLD);
	sigprocmask(SIG_BLOCK, &go_or_death, NULL);
	for (;;) {
		int sig = sigtimedwait(&go_or_death, NULL, &wait_go);
		if (sig == SIGUSR1) break;
		if (sig < 0 && errno == EINTR) continue;
		if (sig == SIGCHLD && waitpid(child, NULL, WNOHANG) == 0) continue;
		if (sig < 0) {
			kill(child, SIGKILL);
			waitpid(child, NULL, 0);
			errno = ETIMEDOUT;
			fail(128, "berth-monitor: the agent never released the container");
		}
		errno = ECANCELED;
		fail(128, "berth-monitor: the container init was killed before it started");
	}
	if (write(p_sync[1], "g", 1) != 1) fail(128, "berth-monitor: release init");
	close(p_sync[1]);

	struct stream out = { .fd = p_out[0], .name = "stdout" }, err = { .fd = p_err[0], .name = "stderr" };
	static struct stream *streams[2];
	streams[0] = &out;
	streams[1] = &err;
	char errmsg[2048];
	size_t errlen = 0;
	int errmsg_fd = p_errmsg[0];
	while (out.fd >= 0 || err.fd >= 0 || errmsg_fd >= 0) {
		struct pollfd pf[3] = { { out.fd, POLLIN, 0 }, { err.fd, POLLIN, 0 }, { errmsg_fd, POLLIN, 0 } };
		if (poll(pf, 3, -1) < 0) {
			if (errno == EINTR) continue;
			fail(128, "berth-monitor: poll");
		}
		for (int i = 0; i < 2; i++) {
			struct stream *s = streams[i];
			if (s->fd < 0 || !pf[i].revents) continue;
			ssize_t r = read(s->fd, buf, sizeof buf);
			if (r > 0) { feed(s, buf, (size_t)r); continue; }
			if (r < 0 && errno == EINTR) continue;
			if (s->len) { log_line(s->name, s->buf, s->len); s->len = 0; }
			close(s->fd);
			s->fd = -1;
		}
		if (errmsg_fd >= 0 && pf[2].revents) {
			ssize_t r = read(errmsg_fd, errmsg + errlen, sizeof errmsg - 1 - errlen);
			if (r > 0) { errlen += (size_t)r; continue; }
			if (r < 0 && errno == EINTR) continue;
			close(errmsg_fd);
			errmsg_fd = -1;
			errmsg[errlen] = 0;
			/* A closed-on-exec pipe with nothing in it means execve succeeded. */
			if (write_atomic(errlen ? "error" : "execed", errmsg) < 0) {
				char msg[256];
				snprintf(msg, sizeof msg, "berth-monitor: write start outcome: %s\n", strerror(errno));
				log_line("stderr", msg, strlen(msg));
			}
		}
	}

	int status;
	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR) fail(128, "berth-monitor: waitpid %d", child);
	}
	write_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}

/* Like nsenter: join the init's namespaces and cgroups, fork (the pid namespace applies to
 * children only), and pass the command's exit status through. */
static int exec_in(const char *pidstr, const char *conf)
{
	static const char *kinds[] = { "ipc", "uts", "net", "pid", "cgroup", "mnt" };
	int fds[6];
	char path[4096];
	in_exec = 1;
	p_errmsg[1] = -1;
	read_conf(conf);
	for (int i = 0; i < 6; i++) {
		snprintf(path, sizeof path, "/proc/%s/ns/%s", pidstr, kinds[i]);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) fail(126, "berth-monitor: open %s", path);
	}
	for (int i = 0; i < cf.cgroups.n; i++) {
		char pidbuf[32];
		snprintf(path, sizeof path, "%s/cgroup.procs", cf.cgroups.v[i]);
		snprintf(pidbuf, sizeof pidbuf, "%d", getpid());
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, pidbuf, strlen(pidbuf)) < 0) fail(126, "berth-monitor: join cgroup %s", cf.cgroups.v[i]);
		close(fd);
	}
	for (int i = 0; i < 6; i++) {
		/* Sharing the host's network namespace makes joining it a no-op, which is fine. */
		if (setns(fds[i], 0) < 0) fail(126, "berth-monitor: setns %s", kinds[i]);
		close(fds[i]);
	}
	pid_t child = fork();
	if (child < 0) fail(126, "berth-monitor: fork");
	if (child == 0) {
		signal(SIGPIPE, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		const char *cwd = cf.cwd && *cf.cwd ? cf.cwd : "/";
		drop_bounding_caps();
		uid_t uid = switch_user(&cf.env);
		set_caps(uid);
		if (chdir(cwd) < 0) cfail(126, errno, "berth-monitor: chdir to cwd (\"%s\")", cwd);
		if (cf.argv.n == 0) cfail(126, 0, "berth-monitor: no command specified");
		exec_cmd(cf.argv.v, cf.env.v ? cf.env.v : (char *[]){ NULL });
	}
	/* Signals for the exec'd process come to us (the agent knows only our pid): pass them on. */
	static const int fwd[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++) sigaddset(&set, fwd[i]);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		int status;
		pid_t w = waitpid(child, &status, WNOHANG);
		if (w == child) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (w < 0 && errno != EINTR) fail(126, "berth-monitor: waitpid");
		int sig = sigwaitinfo(&set, NULL);
		if (sig > 0 && sig != SIGCHLD) kill(child, sig);
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "run")) return run(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "exec")) return exec_in(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "mount-overlay")) {
		if (mount("overlay", argv[2], "overlay", 0, argv[3]) < 0) {
			fprintf(stderr, "berth-monitor: mount overlay on %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "layer-fixup")) return layer_fixup(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "xattr-get")) return xattr_get(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "umount")) {
		if (umount2(argv[2], MNT_DETACH) < 0) {
			fprintf(stderr, "berth-monitor: umount %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		return 0;
	}
	fprintf(stderr, "usage: berth-monitor run STATEDIR | exec PID CONF | mount-overlay TARGET DATA | umount TARGET | layer-fixup ROOT | xattr-get NAME\n");
	return 2;
}
