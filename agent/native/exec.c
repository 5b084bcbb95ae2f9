/*
 * execve with Docker's rules (PATH search, 126 for "cannot run", 127 for "not found"),
 * and `berth-monitor exec STATEDIR CONF`: a command inside a running container.
 *
 * exec asks the container's monitor for the init's pidfd over the control socket (a pid
 * could name another process by now; a pidfd cannot), joins the container's cgroups
 * (cgroup= entries) and then all its namespaces at once with setns(pidfd, …), forks (a pid
 * namespace applies to children only) and passes the command's exit status through. It is
 * the agent's child: its stdio are the agent's pipes. "container is not running" (exit
 * 126) when the monitor is gone or the init has exited.
 *
 * With tty=1 the helper makes a TTY in the container's devpts once it has joined the
 * mount namespace; the command gets the slave as its controlling terminal on fds 0-2,
 * and the helper relays: its stdin to the master, the master to its stdout, each only
 * as fast as the other side takes it. fd 3, when open, carries window sizes from the
 * agent, one "<rows> <cols>\n" line each. The helper's stdin ending closes nothing (a
 * TTY's input stays open, as in Docker). Once the command has exited, what it printed is
 * drained and the helper exits with its status.
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
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

void exec_cmd(char **argv, char **envp, int code_notfound, int code_other)
{
	const char *path = DEFAULT_PATH;
	char buf[4096];
	int eacces = 0, other = 0;
	for (char **e = envp; *e; e++) if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, envp);
		int e = errno;
		if (e == ENOENT || e == ENOTDIR) die(code_notfound, e, "exec: \"%s\": stat %s", argv[0], argv[0]);
		die(code_other, e, "exec: \"%s\"", argv[0]);
	}
	for (const char *p = path;;) {
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
	if (eacces) die(code_other, eacces, "exec: \"%s\"", argv[0]);
	if (other) die(code_other, other, "exec: \"%s\"", argv[0]);
	die(code_notfound, 0, "exec: \"%s\": executable file not found in $PATH", argv[0]);
}

static void join_cgroups(void)
{
	char path[4096], pid[32];
	snprintf(pid, sizeof pid, "%d", getpid());
	for (int i = 0; i < cf.cgroups.n; i++) {
		snprintf(path, sizeof path, "%s/cgroup.procs", cf.cgroups.v[i]);
		FILE *f = fopen(path, "we");
		if (!f || fputs(pid, f) < 0 || fclose(f) != 0) die(126, errno, "berth-monitor: join cgroup %s", cf.cgroups.v[i]);
	}
}

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static int status_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

/* One direction of the TTY relay: bytes read from `from`, not yet written to `to`. */
struct pipe_buf { int from, to; char buf[65536]; size_t len, off; };

/* Writes what it holds when `to` is ready, reads again once it is empty. */
static void relay_step(struct pipe_buf *b, short rev_from, short rev_to)
{
	if (b->len && (rev_to & (POLLOUT | POLLERR | POLLHUP))) {
		ssize_t w = write(b->to, b->buf + b->off, b->len - b->off);
		if (w > 0) b->off += (size_t)w;
		else if (w < 0 && errno != EAGAIN && errno != EINTR) b->off = b->len; /* the reader left: dropped */
		if (b->off == b->len) b->off = b->len = 0;
	}
	if (b->from >= 0 && !b->len && (rev_from & (POLLIN | POLLHUP | POLLERR))) {
		ssize_t r = read(b->from, b->buf, sizeof b->buf);
		if (r > 0) b->len = (size_t)r;
		else if (r == 0 || (errno != EAGAIN && errno != EINTR)) b->from = -1; /* EOF; EIO: no slave left */
	}
}

/* Applies each whole "<rows> <cols>" line; -1 once the channel has ended. */
static int resize_lines(int fd, char *buf, size_t *len, int master)
{
	ssize_t r = read(fd, buf + *len, 255 - *len);
	if (r < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
	if (r <= 0) return -1;
	*len += (size_t)r;
	char *nl;
	while ((nl = memchr(buf, '\n', *len))) {
		unsigned rows, cols;
		*nl = 0;
		if (sscanf(buf, "%u %u", &rows, &cols) == 2 && rows <= 0xffff && cols <= 0xffff)
			pty_resize(master, (unsigned short)rows, (unsigned short)cols); /* a failure changes nothing */
		size_t used = (size_t)(nl - buf) + 1;
		memmove(buf, buf + used, *len - used);
		*len -= used;
	}
	if (*len == 255) *len = 0; /* no line that long is a size */
	return 0;
}

/* The helper's side of exec -t: relays until the command has exited and its output is through. */
static int tty_relay(pid_t child, int master, int sfd, int resize_fd)
{
	static struct pipe_buf in, out;
	in = (struct pipe_buf){ .from = 0, .to = master };
	out = (struct pipe_buf){ .from = master, .to = 1 };
	int status = -1;
	char rbuf[256];
	size_t rlen = 0;
	if (fcntl(master, F_SETFL, O_NONBLOCK) < 0 || fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK) < 0)
		die(126, errno, "berth-monitor: O_NONBLOCK for the TTY relay");
	while (status < 0 && out.from >= 0) {
		struct pollfd pf[6] = {
			{ in.len ? -1 : in.from, POLLIN, 0 }, { in.len ? master : -1, POLLOUT, 0 },
			{ out.len ? -1 : out.from, POLLIN, 0 }, { out.len ? 1 : -1, POLLOUT, 0 },
			{ resize_fd, POLLIN, 0 }, { sfd, POLLIN, 0 },
		};
		if (poll(pf, 6, -1) < 0) {
			if (errno == EINTR) continue;
			die(126, errno, "berth-monitor: poll");
		}
		if (pf[5].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == sizeof si)
				if ((int)si.ssi_signo != SIGCHLD) kill(child, (int)si.ssi_signo);
			int st;
			if (waitpid(child, &st, WNOHANG) == child) status = st;
		}
		if (pf[4].revents && resize_lines(resize_fd, rbuf, &rlen, master) < 0) resize_fd = -1;
		relay_step(&in, pf[0].revents, pf[1].revents);
		relay_step(&out, pf[2].revents, pf[3].revents);
	}
	/* What the command printed before it exited is in the TTY (the kernel flushes its
	 * pending output before a read says there is none): take it all, then go. */
	int fl = fcntl(1, F_GETFL);
	if (fl < 0 || fcntl(1, F_SETFL, fl & ~O_NONBLOCK) < 0) die(126, errno, "berth-monitor: fd 1 blocking");
	for (;;) {
		if (out.len) {
			if (write_all(1, out.buf + out.off, out.len - out.off) < 0) break; /* the agent left */
			out.len = out.off = 0;
		}
		if (out.from < 0) break;
		ssize_t r = read(master, out.buf, sizeof out.buf);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) break; /* EAGAIN: nothing more now; EIO: no slave left */
		out.len = (size_t)r;
	}
	while (status < 0) {
		int st;
		pid_t w = waitpid(child, &st, 0);
		if (w == child) status = st;
		else if (w < 0 && errno != EINTR) die(126, errno, "berth-monitor: waitpid");
	}
	return status_code(status);
}

int exec_main(const char *statedir, const char *conf)
{
	char reply[256];
	int pidfd = -1;
	/* Before anything here opens a descriptor that could take the number. */
	int resize_fd = fcntl(3, F_GETFD) >= 0 ? 3 : -1;
	report_as = AS_CLI;
	cloexec_inherited(126);
	read_conf(conf, CONF_EXEC);
	/* An attached exec's output goes to the agent: once the agent is gone nobody reads it or
	 * learns its status, so it goes too (its command by the `alive` pipe and its own
	 * parent-death signal), as a terminal's shell is hung up on. */
	int alive[2] = { -1, -1 };
	if (cf.attached) {
		pid_t agent = getppid();
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) die(126, errno, "berth-monitor: set the parent-death signal");
		if (getppid() != agent) die(126, 0, "berth-monitor: the agent is gone");
		if (pipe2(alive, O_CLOEXEC) < 0) die(126, errno, "berth-monitor: make the helper's liveness pipe");
	}
	if (control_call(statedir, "pidfd", reply, sizeof reply, &pidfd) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED) die(126, 0, "berth-monitor: container is not running (its monitor is gone)");
		die(126, errno, "berth-monitor: ask the container's monitor for its init");
	}
	if (strncmp(reply, "ok ", 3) || pidfd < 0) {
		if (pidfd >= 0) close(pidfd);
		die(126, 0, "berth-monitor: %s", strncmp(reply, "error ", 6) ? reply : reply + 6);
	}
	set_oom_score_adj(cf.oom_score_adj, 126);
	join_cgroups();
	if (setns(pidfd, CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWCGROUP | CLONE_NEWNS) < 0) {
		if (errno == ESRCH) die(126, 0, "berth-monitor: container is not running");
		die(126, errno, "berth-monitor: join the container's namespaces");
	}
	close(pidfd);
	/* The resize channel is the helper's, not the command's. */
	if (resize_fd >= 0 && fcntl(resize_fd, F_SETFD, FD_CLOEXEC) < 0) die(126, errno, "berth-monitor: fd 3 close-on-exec");
	int master = -1, slave = -1;
	/* Made after joining the mount namespace: the container's own devpts. */
	if (cf.tty) master = pty_open(126, cf.tty_rows, cf.tty_cols, &slave);
	/* Signals for the exec'd process come to us (the agent knows only our pid): pass them on. */
	sigset_t set, none;
	sigemptyset(&set);
	sigemptyset(&none);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(&set, forwarded[i]);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	pid_t child = fork();
	if (child < 0) die(126, errno, "berth-monitor: fork");
	if (child == 0) {
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		if (cf.tty) {
			close(master);
			pty_make_controlling(126, slave);
		}
		const char *cwd = cf.cwd && *cf.cwd ? cf.cwd : "/";
		harden_early(126);
		drop_bounding_caps();
		uid_t uid = switch_user(&cf.env, 126);
		set_caps(uid);
		if (chdir(cwd) < 0) die(126, errno, "berth-monitor: chdir to cwd (\"%s\")", cwd);
		if (cf.argv.n == 0) die(126, 0, "berth-monitor: no command specified");
		if (cf.attached) {
			/* After the change of credentials, which clears it; the helper holds the pipe's
			 * write end for its life, so a hang-up means it died before this was armed. */
			close(alive[1]);
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) die(126, errno, "berth-monitor: set the parent-death signal");
			struct pollfd pf = { alive[0], POLLIN, 0 };
			if (poll(&pf, 1, 0) > 0 && (pf.revents & POLLHUP)) _exit(126);
		}
		harden_late(126);
		exec_cmd(cf.argv.v, cf.env.v ? cf.env.v : (char *[]){ NULL }, 127, 126);
	}
	if (alive[0] >= 0) close(alive[0]);
	if (cf.tty) {
		close(slave);
		int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
		if (sfd < 0) die(126, errno, "berth-monitor: signalfd");
		return tty_relay(child, master, sfd, resize_fd);
	}
	for (;;) {
		int status;
		pid_t w = waitpid(child, &status, WNOHANG);
		if (w == child) return status_code(status);
		if (w < 0 && errno != EINTR) die(126, errno, "berth-monitor: waitpid");
		int sig = sigwaitinfo(&set, NULL);
		if (sig > 0 && sig != SIGCHLD) kill(child, sig);
	}
}
