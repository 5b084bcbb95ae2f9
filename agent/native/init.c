/*
 * The container's init between clone and execve. It waits for the agent's go (the
 * monitor writes one byte on the sync pipe when the control socket says "start"), then:
 * OOM score, cgroup namespace (only now is it inside its cgroups), hostname, loopback,
 * the mount plan and pivot_root (rootfs.c), with tty=1 a TTY made in the container's
 * devpts (its master goes back to the monitor, its slave becomes the controlling
 * terminal on fds 0-2 and is bound on /dev/console, as runc does), the working dir,
 * capabilities and user (security.c), a parent-death signal (a dead monitor takes its container with it, so no
 * container runs that nobody watches or can stop), execve (exec.c). Any failure reaches
 * the monitor through the error pipe and becomes the start error.
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct init_pipes ip;

static void loopback_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) die(128, errno, "berth-monitor: socket for lo");
	memset(&ifr, 0, sizeof ifr);
	strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die(128, errno, "berth-monitor: SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die(128, errno, "berth-monitor: SIOCSIFFLAGS lo");
	close(s);
}

/* Inside the new root (after pivot_root), so a symlink on the way stays in it. */
static void mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/') continue;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST) die(128, errno, "berth-monitor: mkdir %s", buf);
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST) die(128, errno, "berth-monitor: mkdir %s", buf);
}

/* After pivot_root: the TTY, its master to the monitor, its slave on 0-2 and /dev/console. */
static void make_tty(void)
{
	int slave, master = pty_open(128, cf.tty_rows, cf.tty_cols, &slave);
	char src[64];
	int fd = open("/dev/console", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) die(128, errno, "berth-monitor: create /dev/console");
	close(fd);
	snprintf(src, sizeof src, "/proc/self/fd/%d", slave);
	if (mount(src, "/dev/console", NULL, MS_BIND, NULL) < 0) die(128, errno, "berth-monitor: bind the TTY on /dev/console");
	if (send_fd(ip.console[1], master) < 0) die(128, errno, "berth-monitor: send the TTY to the monitor");
	close(master);
	close(ip.console[1]);
	pty_make_controlling(128, slave);
}

int init_main(void *arg)
{
	(void)arg;
	char go;
	report_as = AS_INIT;
	init_errfd = ip.errmsg[1];
	if (dup2(ip.in[0] >= 0 ? ip.in[0] : ip.devnull, 0) < 0 || dup2(ip.out[1], 1) < 0 || dup2(ip.err[1], 2) < 0) _exit(128);
	close(ip.out[0]); close(ip.err[0]); close(ip.out[1]); close(ip.err[1]);
	close(ip.errmsg[0]); close(ip.sync[1]);
	if (ip.in[0] >= 0) { close(ip.in[0]); close(ip.in[1]); }
	if (ip.console[0] >= 0) close(ip.console[0]);
	if (read(ip.sync[0], &go, 1) != 1) _exit(128); /* the monitor gave up on the agent */
	/* Ignored signals stay ignored across execve, and the mask is inherited: give the init the defaults. */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	set_oom_score_adj(cf.oom_score_adj, 128);
	if (unshare(CLONE_NEWCGROUP) < 0 && errno != EINVAL) die(128, errno, "berth-monitor: unshare cgroup namespace");
	if (cf.hostname && sethostname(cf.hostname, strlen(cf.hostname)) < 0)
		die(128, errno, "berth-monitor: sethostname %s", cf.hostname);
	if (cf.newnet) loopback_up();

	mode_t umask_was = umask(0); /* the plan's modes are exactly what it says */
	rootfs_setup();
	if (cf.tty) make_tty();
	const char *cwd = cf.cwd && *cf.cwd ? cf.cwd : "/";
	mkdir_p(cwd, 0755); /* Docker creates a missing WorkingDir */
	umask(umask_was);

	harden_early(128);
	drop_bounding_caps();
	uid_t uid = switch_user(&cf.env, 128);
	set_caps(uid);
	if (chdir(cwd) < 0) die(128, errno, "berth-monitor: chdir to cwd (\"%s\")", cwd);
	if (cf.argv.n == 0) die(128, 0, "berth-monitor: no command specified");
	/* Last before execve: a change of credentials clears the parent-death signal. The
	 * monitor holds the sync pipe's write end for its life, so a hang-up there means it
	 * died before the signal was armed. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) die(128, errno, "berth-monitor: set the parent-death signal");
	struct pollfd pf = { ip.sync[0], POLLIN, 0 };
	if (poll(&pf, 1, 0) > 0 && (pf.revents & POLLHUP)) _exit(128);
	close(ip.sync[0]);
	harden_late(128);
	exec_cmd(cf.argv.v, cf.env.v ? cf.env.v : (char *[]){ NULL }, 127, 126);
}
