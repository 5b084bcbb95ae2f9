/*
 * execve with Docker's rules (PATH search, 126 for "cannot run", 127 for "not found"),
 * and `berth-monitor exec STATEDIR CONF`: a command inside a running container.
 *
 * exec asks the container's monitor for the init's pidfd over the control socket (a pid
 * could name another process by now; a pidfd cannot), joins the container's cgroups
 * (cgroup= entries) and then all its namespaces at once with setns(pidfd, …), forks (a pid
 * namespace applies to children only) and passes the command's exit status through. It is
 * the agent's child: its stdio are the agent's pipes. "container is not running" (exit
 * 126) when the monitor is gone or the init has exited. Phase 2 (exec API objects, -t,
 * resize) builds on this: a pty would be made here and its master handed to the agent.
 */
#include "monitor.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int exec_main(const char *statedir, const char *conf)
{
	char reply[256];
	int pidfd = -1;
	report_as = AS_CLI;
	read_conf(conf, CONF_EXEC);
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
	/* Signals for the exec'd process come to us (the agent knows only our pid): pass them on. */
	static const int fwd[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	sigset_t set, none;
	sigemptyset(&set);
	sigemptyset(&none);
	for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++) sigaddset(&set, fwd[i]);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	pid_t child = fork();
	if (child < 0) die(126, errno, "berth-monitor: fork");
	if (child == 0) {
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		const char *cwd = cf.cwd && *cf.cwd ? cf.cwd : "/";
		harden_early(126);
		drop_bounding_caps();
		uid_t uid = switch_user(&cf.env);
		set_caps(uid);
		if (chdir(cwd) < 0) die(126, errno, "berth-monitor: chdir to cwd (\"%s\")", cwd);
		if (cf.argv.n == 0) die(126, 0, "berth-monitor: no command specified");
		harden_late(126);
		exec_cmd(cf.argv.v, cf.env.v ? cf.env.v : (char *[]){ NULL }, 127, 126);
	}
	for (;;) {
		int status;
		pid_t w = waitpid(child, &status, WNOHANG);
		if (w == child) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (w < 0 && errno != EINTR) die(126, errno, "berth-monitor: waitpid");
		int sig = sigwaitinfo(&set, NULL);
		if (sig > 0 && sig != SIGCHLD) kill(child, sig);
	}
}
