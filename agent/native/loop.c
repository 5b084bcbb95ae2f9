/*
 * berth-monitor run STATEDIR: one per container, the parent of its init for the init's
 * whole life. Files it writes to STATEDIR (each atomically, by rename):
 *   monitor.pid  this process          pid     the container init's host pid
 *   execed       execve succeeded      error   why it did not (or why the monitor failed)
 *   exit         "<code>\n<RFC 3339 time>\n"; 128+N when killed by signal N
 *   control.sock the control socket (control.c), there while the monitor lives
 *
 * It detaches from the agent (fork, setsid, stdio to /dev/null) so agent restarts never
 * touch running containers; moves itself into its own cgroups (monitor_cgroup=, one per
 * hierarchy, so killing the agent's cgroup leaves it alone) and out of the OOM killer's
 * reach (monitor_oom_score_adj=, -1000 from an agent allowed to lower it); clones the init into new pid/mnt/uts/ipc(/net) namespaces
 * with a pidfd; puts the init into the container's cgroups and writes `pid`. Then one
 * event loop: the init's stdout/stderr (or, with tty=1, the TTY's master, which the init
 * sends back over a socketpair once it has made the TTY in the container's devpts) into
 * the log and to attached clients, the stdin pipe (stdin=open) fed from the control
 * socket, its start outcome, SIGCHLD (through a signalfd), and the control socket. The
 * init waits until "start" arrives on the socket (the agent has wired its network), at
 * most START_TIMEOUT_SEC.
 *
 * The init is reaped in the same loop that serves "kill", so once it is reaped no signal
 * is sent for it, and before that its pid cannot be reused (signals go by pidfd anyway).
 * `exit` is written once the output is drained and the init reaped; then it exits.
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define START_TIMEOUT_SEC 60

static pid_t child = -1;
static int child_pidfd = -1;
static enum { C_CREATED, C_RUNNING, C_EXITED } cstate = C_CREATED;
static int exit_code;
/* Output reaches attached clients only once execve succeeded: before, all the init can
 * print is its own start error, which goes to the log and to the start's answer instead. */
static int execed_ok;
/* The TTY's master once the init has sent it (-1 before and after); a size asked for
 * before that is applied when it comes. */
static int master = -1, master_gone;
static unsigned short want_rows, want_cols;

int container_kill(int sig)
{
	if (cstate == C_EXITED) return ESRCH;
	if (syscall(SYS_pidfd_send_signal, child_pidfd, sig, NULL, 0) < 0) return errno;
	return 0;
}

int container_pidfd(pid_t *pid)
{
	if (cstate == C_EXITED) return -1;
	*pid = child;
	return child_pidfd;
}

int container_release(void)
{
	if (cstate != C_CREATED) return cstate == C_RUNNING ? EALREADY : ESRCH;
	/* The write end stays open for the monitor's life: the init sees a hang-up if we die. */
	if (write_all(ip.sync[1], "g", 1) < 0) return errno;
	cstate = C_RUNNING;
	return 0;
}

int container_resize(unsigned short rows, unsigned short cols)
{
	if (!cf.tty) return ENOTTY;
	if (cstate == C_EXITED || master_gone) return ESRCH;
	if (master < 0) {
		want_rows = rows;
		want_cols = cols;
		return 0;
	}
	return pty_resize(master, rows, cols) < 0 ? errno : 0;
}

int container_stdin_fd(void)
{
	if (cf.tty) return master >= 0 ? master : master_gone ? -1 : -2;
	return ip.in[1];
}

void container_close_stdin(void)
{
	/* Docker leaves a TTY's stdin open whatever its client does. */
	if (cf.tty || ip.in[1] < 0) return;
	close(ip.in[1]);
	ip.in[1] = -1;
}

void container_state(char *buf, size_t len)
{
	if (cstate == C_EXITED) snprintf(buf, len, "exited %d", exit_code);
	else snprintf(buf, len, "%s %d", cstate == C_CREATED ? "created" : "running", (int)child);
}

/* die_cleanup: a monitor that fails takes its half-started init with it. */
static void kill_child(void)
{
	if (cstate == C_EXITED || child_pidfd < 0) return;
	syscall(SYS_pidfd_send_signal, child_pidfd, SIGKILL, NULL, 0);
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {}
	cstate = C_EXITED;
}

static void join_cgroups(const struct strv *dirs, pid_t pid, const char *whose)
{
	char path[4096], buf[32];
	int n = snprintf(buf, sizeof buf, "%d", (int)pid);
	for (int i = 0; i < dirs->n; i++) {
		snprintf(path, sizeof path, "%s/cgroup.procs", dirs->v[i]);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write_all(fd, buf, (size_t)n) < 0) die(128, errno, "berth-monitor: move %s into cgroup %s", whose, dirs->v[i]);
		close(fd);
	}
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* SIGCHLD: reap the init if it is done (it is our only child). */
static void reap(int sfd)
{
	struct signalfd_siginfo si;
	while (read(sfd, &si, sizeof si) == sizeof si) {}
	int status;
	pid_t w = waitpid(child, &status, WNOHANG);
	if (w != child) return;
	int was = cstate;
	cstate = C_EXITED;
	exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	close(child_pidfd);
	child_pidfd = -1;
	kill_leftovers();
	if (was == C_CREATED) die(128, ECANCELED, "berth-monitor: the container init was killed before it started");
}

/* The init's error pipe closed: empty means execve succeeded (the pipe is close-on-exec). */
static void start_outcome(char *msg, size_t len)
{
	msg[len] = 0;
	execed_ok = !len;
	if (write_state(len ? "error" : "execed", msg, len > 0) < 0) {
		char line[256];
		snprintf(line, sizeof line, "berth-monitor: write start outcome: %s\n", strerror(errno));
		log_line("stderr", line, strlen(line));
	}
}

/* One read from an output of the container: the log first, then attached clients. */
static int pump(int fd, struct stream *log, int stream, char *buf, size_t size)
{
	ssize_t r = read(fd, buf, size);
	if (r > 0) {
		log_feed(log, buf, (size_t)r);
		if (execed_ok) control_output(stream, buf, (size_t)r);
		return 1;
	}
	if (r < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
	/* 0 is a pipe's end; EIO is the TTY's master once no process holds the slave. */
	log_flush(log);
	return 0;
}

/* Static rather than on the stack: only the pages a container's output really reaches
 * are ever touched, which is most of an idle monitor's memory. */
static char buf[65536];
static struct stream out = { .name = "stdout" }, err = { .name = "stderr" }, tty = { .fd = -1, .name = "stdout" };

int run_main(const char *statedir)
{
	report_as = AS_MONITOR;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (chdir(statedir) < 0) { perror(statedir); return 1; }
	cloexec_inherited(1);
	read_conf("monitor.conf", CONF_RUN);
	exit_reserve();
	if (cf.log) log_open(cf.log);

	pid_t p = fork();
	if (p < 0) die(128, errno, "berth-monitor: fork");
	if (p > 0) _exit(0); /* the agent reaps this one; the monitor lives on, re-parented */
	if (setsid() < 0) die(128, errno, "berth-monitor: setsid");
	join_cgroups(&cf.monitor_cgroups, getpid(), "the monitor");
	if (cf.has_monitor_oom) set_oom_score_adj(cf.monitor_oom_score_adj, 128);

	ip.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (ip.devnull < 0) die(128, errno, "berth-monitor: open /dev/null");
	for (int fd = 0; fd < 3; fd++)
		if (dup3(ip.devnull, fd, 0) < 0) die(128, errno, "berth-monitor: detach fd %d from the agent", fd);
	snprintf(buf, sizeof buf, "%d\n", getpid());
	if (write_state("monitor.pid", buf, 0) < 0) die(128, errno, "berth-monitor: write monitor.pid");

	ip.in[0] = ip.in[1] = ip.console[0] = ip.console[1] = -1;
	if (pipe2(ip.out, O_CLOEXEC) < 0 || pipe2(ip.err, O_CLOEXEC) < 0 ||
	    pipe2(ip.errmsg, O_CLOEXEC) < 0 || pipe2(ip.sync, O_CLOEXEC) < 0)
		die(128, errno, "berth-monitor: pipe");
	if (cf.open_stdin && !cf.tty && pipe2(ip.in, O_CLOEXEC) < 0) die(128, errno, "berth-monitor: stdin pipe");
	if (cf.tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ip.console) < 0) die(128, errno, "berth-monitor: TTY socketpair");
	control_listen();
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) die(128, errno, "berth-monitor: signalfd");

	int flags = CLONE_NEWNS | CLONE_PIDFD | SIGCHLD;
	if (cf.newnet) flags |= CLONE_NEWNET;
	if (cf.newpid) flags |= CLONE_NEWPID;
	if (cf.newipc) flags |= CLONE_NEWIPC;
	if (cf.newuts) flags |= CLONE_NEWUTS;
	size_t stack_size = 1 << 20;
	char *stack = malloc(stack_size);
	if (!stack) die(128, errno, "berth-monitor: malloc stack");
	child = clone(init_main, stack + stack_size, flags, NULL, &child_pidfd);
	if (child < 0) die(128, errno, "berth-monitor: clone");
	die_cleanup = kill_child;
	free(stack);
	close(ip.out[1]); close(ip.err[1]); close(ip.errmsg[1]); close(ip.sync[0]);
	if (ip.in[0] >= 0) {
		close(ip.in[0]);
		/* Written only as poll allows: a container that does not read holds its writer back. */
		if (fcntl(ip.in[1], F_SETFL, O_NONBLOCK) < 0) die(128, errno, "berth-monitor: stdin pipe O_NONBLOCK");
	}
	if (ip.console[1] >= 0) close(ip.console[1]);
	join_cgroups(&cf.cgroups, child, "the container init");
	snprintf(buf, sizeof buf, "%d\n", child);
	if (write_state("pid", buf, 0) < 0) die(128, errno, "berth-monitor: write pid");

	out.fd = ip.out[0];
	err.fd = ip.err[0];
	char errmsg[2048];
	size_t errlen = 0;
	int errmsg_fd = ip.errmsg[0], console = ip.console[0];
	long long deadline = now_ms() + START_TIMEOUT_SEC * 1000LL;
	enum { P_SIG, P_OUT, P_ERR, P_ERRMSG, P_CONSOLE, P_MASTER, P_STDIN, P_CTL };
	while (out.fd >= 0 || err.fd >= 0 || errmsg_fd >= 0 || console >= 0 || master >= 0 || cstate != C_EXITED) {
		struct pollfd pf[P_CTL + 1 + CONTROL_MAX_CLIENTS];
		int ctl[1 + CONTROL_MAX_CLIENTS];
		/* While an attached client has output to take, no more is read (Docker's attach blocks
		 * the same way); nor before the start outcome is known, so nothing is sent for a failed start. */
		short in = control_output_pending() || errmsg_fd >= 0 ? 0 : POLLIN;
		int stdin_fd = control_stdin_pending() ? container_stdin_fd() : -1;
		pf[P_SIG] = (struct pollfd){ sfd, POLLIN, 0 };
		pf[P_OUT] = (struct pollfd){ in ? out.fd : -1, in, 0 };
		pf[P_ERR] = (struct pollfd){ in ? err.fd : -1, in, 0 };
		pf[P_ERRMSG] = (struct pollfd){ errmsg_fd, POLLIN, 0 };
		pf[P_CONSOLE] = (struct pollfd){ console, POLLIN, 0 };
		pf[P_MASTER] = (struct pollfd){ in ? master : -1, in, 0 };
		pf[P_STDIN] = (struct pollfd){ stdin_fd, POLLOUT, 0 };
		int nctl = control_fds(ctl, 1 + CONTROL_MAX_CLIENTS);
		for (int i = 0; i < nctl; i++) pf[P_CTL + i] = (struct pollfd){ ctl[i], control_events(ctl[i]), 0 };
		int timeout = -1;
		if (cstate == C_CREATED) {
			long long left = deadline - now_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		int n = poll(pf, (nfds_t)(P_CTL + nctl), timeout);
		if (n < 0) {
			if (errno == EINTR) continue;
			die(128, errno, "berth-monitor: poll");
		}
		if (n == 0 && cstate == C_CREATED) die(128, ETIMEDOUT, "berth-monitor: the agent never released the container");
		if (pf[P_SIG].revents) reap(sfd);
		if (pf[P_OUT].revents && !pump(out.fd, &out, 1, buf, sizeof buf)) { close(out.fd); out.fd = -1; }
		if (pf[P_ERR].revents && !pump(err.fd, &err, 2, buf, sizeof buf)) { close(err.fd); err.fd = -1; }
		if (pf[P_MASTER].revents && !pump(master, &tty, 1, buf, sizeof buf)) {
			close(master);
			master = -1;
			master_gone = 1;
		}
		if (pf[P_CONSOLE].revents) {
			int m = recv_fd(console);
			/* Nothing came: the init failed before it made the TTY (its error says why). */
			if (m >= 0) {
				if (fcntl(m, F_SETFL, O_NONBLOCK) < 0) die(128, errno, "berth-monitor: TTY master O_NONBLOCK");
				if (want_rows && pty_resize(m, want_rows, want_cols) < 0) die(128, errno, "berth-monitor: TTY window size");
				master = m;
				control_stdin_writable(); /* input typed before the TTY existed */
			} else master_gone = 1;
			close(console);
			console = -1;
		}
		if (pf[P_STDIN].revents) control_stdin_writable();
		if (errmsg_fd >= 0 && pf[P_ERRMSG].revents) {
			ssize_t r = read(errmsg_fd, errmsg + errlen, sizeof errmsg - 1 - errlen);
			if (r > 0) errlen += (size_t)r;
			else if (r == 0 || errno != EINTR) {
				close(errmsg_fd);
				errmsg_fd = -1;
				start_outcome(errmsg, errlen);
			}
		}
		for (int i = 0; i < nctl; i++)
			if (pf[P_CTL + i].revents) control_ready(pf[P_CTL + i].fd, pf[P_CTL + i].revents);
	}
	/* exit first: a client that finds the socket gone must find the exit code too. */
	write_exit(exit_code);
	control_close_all();
	return 0;
}
