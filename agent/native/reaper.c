/*
 * `docker run --init`: berth-monitor as the container's PID 1, what Docker's docker-init
 * (tini) is. The agent binds this binary read-only at /sbin/docker-init and runs
 * `/sbin/docker-init -- CMD ARGS…` (main.c dispatches on that name). It is linked
 * statically, so it runs in any image.
 *
 * It forks CMD in a process group of its own (the terminal's foreground group when stdin
 * is one), then waits for signals with all of them blocked: SIGCHLD reaps every child,
 * CMD's and the orphans the kernel hands to PID 1; any other signal is passed on to CMD
 * (a blocked signal reaches PID 1 even when it has no handler, so `docker stop`'s SIGTERM
 * is never dropped on the floor). When CMD ends it exits with CMD's status, 128+N when a
 * signal N killed it; the kernel then kills what is left in the namespace.
 */
#include "monitor.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

/* Faults and job-control stops are the process's own business, never forwarded. */
static const int own[] = { SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS, SIGTTIN, SIGTTOU };

int reaper_main(int argc, char **argv)
{
	int first = 1;
	if (first < argc && !strcmp(argv[first], "init")) first++;
	if (first < argc && !strcmp(argv[first], "--")) first++;
	if (first >= argc) {
		fprintf(stderr, "usage: docker-init -- COMMAND [ARG…]\n");
		return 2;
	}
	sigset_t wait_for, was;
	sigfillset(&wait_for);
	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) sigdelset(&wait_for, own[i]);
	if (sigprocmask(SIG_SETMASK, &wait_for, &was) < 0) die(1, errno, "docker-init: block signals");
	/* A background CMD that touches the terminal must not stop its init. */
	struct sigaction ign = { .sa_handler = SIG_IGN }, ttin, ttou;
	sigaction(SIGTTIN, &ign, &ttin);
	sigaction(SIGTTOU, &ign, &ttou);

	pid_t child = fork();
	if (child < 0) die(1, errno, "docker-init: fork");
	if (child == 0) {
		if (setpgid(0, 0) < 0) die(1, errno, "docker-init: setpgid");
		if (isatty(0) && tcsetpgrp(0, getpgrp()) < 0 && errno != ENOTTY && errno != ENXIO)
			die(1, errno, "docker-init: make the command the terminal's foreground group");
		sigaction(SIGTTIN, &ttin, NULL);
		sigaction(SIGTTOU, &ttou, NULL);
		sigprocmask(SIG_SETMASK, &was, NULL);
		exec_cmd(argv + first, environ, 127, 126);
	}
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&wait_for, &si);
		if (sig < 0) {
			if (errno == EINTR) continue;
			die(1, errno, "docker-init: wait for signals");
		}
		if (sig != SIGCHLD) {
			if (kill(child, sig) < 0 && errno != ESRCH) die(1, errno, "docker-init: pass signal %d on", sig);
			continue;
		}
		for (;;) {
			int status;
			pid_t w = waitpid(-1, &status, WNOHANG);
			if (w < 0 && errno == EINTR) continue;
			if (w <= 0) break;
			if (w == child) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
	}
}
