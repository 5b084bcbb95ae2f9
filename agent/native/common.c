/*
 * Failure reporting and the state files. Every failure goes through die(), which names
 * the step and the syscall error; where it goes depends on who failed (report_as):
 *   AS_MONITOR  `error` (the start error the agent shows), the container's log, `exit`
 *   AS_INIT     the error pipe to the monitor (which writes `error`) and the init's stderr
 *               (the container's log)
 *   AS_CLI      stderr (exec, mount helpers)
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum report report_as = AS_CLI;
int init_errfd = -1;
void (*die_cleanup)(void);

void die(int code, int e, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(msg, sizeof msg - 200, fmt, ap);
	va_end(ap);
	if (k < 0) k = 0;
	if ((size_t)k > sizeof msg - 200) k = (int)sizeof msg - 200;
	if (e) snprintf(msg + k, sizeof msg - (size_t)k, ": %s\n", strerror(e));
	else snprintf(msg + k, sizeof msg - (size_t)k, "\n");
	switch (report_as) {
	case AS_INIT:
		if (write_all(init_errfd, msg, strlen(msg)) < 0) { /* the line below still tells */ }
		if (write_all(2, msg, strlen(msg)) < 0) { /* nothing left to tell */ }
		_exit(code);
	case AS_CLI:
		fputs(msg, stderr);
		exit(code);
	case AS_MONITOR:
		break;
	}
	if (die_cleanup) die_cleanup();
	if (write_atomic("error", msg) < 0) { /* write_atomic logged why */ }
	log_line("stderr", msg, strlen(msg));
	write_exit(code);
	unlink(CONTROL_SOCKET);
	exit(1);
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q) die(128, errno, "berth-monitor: realloc %zu bytes", n);
	return q;
}

void strv_push(struct strv *s, char *v)
{
	s->v = xrealloc(s->v, sizeof(char *) * (size_t)(s->n + 2));
	s->v[s->n++] = v;
	s->v[s->n] = NULL;
}

void now_rfc3339(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t k = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + k, len - k, ".%09ldZ", ts.tv_nsec);
}

int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EINTR) continue;
		if (r < 0) return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/*
 * The agent's own way of writing files (agent/engine/atomic-write.ts): a temp file, fsync,
 * rename, fsync the directory, so the agent never reads half a file and what it read
 * survives a crash. On failure the old NAME stays, errno is kept for the caller's message,
 * and the failed step goes to the container's log.
 */
int write_atomic(const char *name, const char *data)
{
	return write_state(name, data, 1);
}

/*
 * Without `durable`, only the rename: for files that describe live processes (monitor.pid,
 * pid, execed), which a crash of the machine takes with it. The agent after a reboot finds
 * the monitor gone whether the file reached the disk or not, so an fsync there only
 * delays every start (2-5 ms here).
 */
int write_state(const char *name, const char *data, int durable)
{
	char tmp[256];
	const char *step = "create";
	int fd, dfd = -1, e, renamed = 0;
	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) goto failed;
	step = "write";
	if (write_all(fd, data, strlen(data)) < 0) goto failed;
	step = "fsync";
	if (durable && fsync(fd) < 0) goto failed;
	step = "close";
	e = close(fd);
	fd = -1;
	if (e < 0) goto failed;
	step = "rename";
	if (rename(tmp, name) < 0) goto failed;
	renamed = 1;
	if (!durable) return 0;
	step = "fsync the state directory after renaming";
	dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) goto failed;
	close(dfd);
	return 0;
failed:
	e = errno;
	if (fd >= 0) close(fd);
	if (dfd >= 0) close(dfd);
	if (!renamed) unlink(tmp);
	{
		char msg[512];
		snprintf(msg, sizeof msg, "berth-monitor: write %s (%s): %s\n", name, step, strerror(e));
		log_line("stderr", msg, strlen(msg));
	}
	errno = e;
	return -1;
}

#define EXIT_RESERVE "exit.reserve"
#define EXIT_MAX 128

/*
 * The exit file's space, taken when the monitor starts: a container that ends while its
 * disk is full still leaves its exit code, written into this file (which takes no new
 * space) and renamed to "exit". Best effort: without it the exit is written as usual.
 */
void exit_reserve(void)
{
	char blank[EXIT_MAX];
	memset(blank, '\n', sizeof blank);
	int fd = open(EXIT_RESERVE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) return;
	if (write_all(fd, blank, sizeof blank) < 0 || fsync(fd) < 0) {
		close(fd);
		unlink(EXIT_RESERVE);
		return;
	}
	close(fd);
}

static int write_exit_reserved(const char *buf)
{
	size_t n = strlen(buf);
	int fd = open(EXIT_RESERVE, O_WRONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	int ok = pwrite(fd, buf, n, 0) == (ssize_t)n && ftruncate(fd, (off_t)n) == 0 && fsync(fd) == 0;
	int e = errno;
	close(fd);
	if (!ok || rename(EXIT_RESERVE, "exit") < 0) {
		if (ok) e = errno;
		errno = e;
		return -1;
	}
	int dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0) { /* renamed: the agent reads it; only a machine crash could undo it */ }
		close(dfd);
	}
	return 0;
}

/* "<code>\n<RFC 3339 time>\n"; 128+N when killed by signal N. */
void write_exit(int code)
{
	char buf[EXIT_MAX], ts[64];
	now_rfc3339(ts, sizeof ts);
	snprintf(buf, sizeof buf, "%d\n%s\n", code, ts);
	if (write_atomic("exit", buf) == 0) {
		unlink(EXIT_RESERVE);
		return;
	}
	int e = errno;
	if (write_exit_reserved(buf) == 0) return;
	/* The agent will see a vanished monitor; the log at least says why. */
	char msg[256];
	snprintf(msg, sizeof msg, "berth-monitor: write exit code %d: %s\n", code, strerror(e));
	log_line("stderr", msg, strlen(msg));
}
