/*
 * The control socket: STATEDIR/control.sock, a unix stream socket, mode 0600 (and the
 * state dir is the agent's, 0700). The monitor serves it for its whole life; it goes when
 * the monitor exits, so a refused or missing socket means the monitor is gone. The path
 * can be longer than sun_path allows: clients connect through /proc/self/fd/N/control.sock
 * with N an open descriptor of the state dir.
 *
 * Messages are lines. A request is "<verb>[ <arg>…]\n" (at most 255 bytes); a connection
 * may send several, each answered by one line, in order: "ok[ <data>]\n" or
 * "error <message>\n".
 *
 *   start            release the init (the agent, once it has wired the container up)
 *                    → ok | error already started
 *   kill <signo>     signal the init through its pidfd, never once it has been reaped, so
 *                    no signal reaches a process that reused its pid
 *                    → ok | error container is not running | error kill: <strerror>
 *   pidfd            → "ok <host pid>" with the init's pidfd attached (SCM_RIGHTS)
 *                    | error container is not running          (used by `exec`)
 *   state            → "ok created <pid>" (not released yet) | "ok running <pid>"
 *                    | "ok exited <code>" (reaped; the exit file follows once the
 *                    container's output is drained)
 *   anything else    → error unknown request "<verb>"
 *
 * Reserved for phase 2 (answered "error unknown request" today), suggested shapes:
 *   resize <rows> <cols>      TIOCSWINSZ on the container's pty master → ok
 *   stdin                     → ok; from then on the connection's bytes are the init's
 *                             stdin and its EOF closes it (one stdin connection at a time)
 *   attach [stdout] [stderr]  → ok; from then on the connection carries output frames as
 *                             Docker's multiplexed stream: 1 byte stream (1 out, 2 err),
 *                             3 zero bytes, 4-byte big-endian length, the data
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define REQUEST_MAX 256

static int lfd = -1;
static struct client { int fd; size_t len; char buf[REQUEST_MAX]; } clients[CONTROL_MAX_CLIENTS];

int control_listen(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) clients[i].fd = -1;
	snprintf(a.sun_path, sizeof a.sun_path, "%s", CONTROL_SOCKET); /* relative: the cwd is the state dir */
	if (unlink(CONTROL_SOCKET) < 0 && errno != ENOENT) die(128, errno, "berth-monitor: remove an old %s", CONTROL_SOCKET);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0) die(128, errno, "berth-monitor: control socket");
	mode_t was = umask(0177);
	int r = bind(lfd, (struct sockaddr *)&a, sizeof a);
	umask(was);
	if (r < 0) die(128, errno, "berth-monitor: bind %s", CONTROL_SOCKET);
	if (listen(lfd, CONTROL_MAX_CLIENTS) < 0) die(128, errno, "berth-monitor: listen on %s", CONTROL_SOCKET);
	return lfd;
}

int control_fds(int *fds, int max)
{
	int n = 0;
	if (lfd >= 0 && n < max) fds[n++] = lfd;
	for (int i = 0; i < CONTROL_MAX_CLIENTS && n < max; i++)
		if (clients[i].fd >= 0) fds[n++] = clients[i].fd;
	return n;
}

static void drop(struct client *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Replies are small; a client that does not read them is dropped rather than waited for. */
static void reply(struct client *c, int fd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reply(struct client *c, int fd, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0) n = 0;
	if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
	line[n++] = '\n';
	struct iovec iov = { line, (size_t)n };
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } cm;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(&cm, 0, sizeof cm);
		msg.msg_control = cm.b;
		msg.msg_controllen = sizeof cm.b;
		struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &fd, sizeof fd);
	}
	if (sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != n) drop(c);
}

static void handle(struct client *c, char *line)
{
	char *arg = strchr(line, ' ');
	if (arg) *arg++ = 0;
	if (!strcmp(line, "kill")) {
		char *end;
		long sig = arg ? strtol(arg, &end, 10) : 0;
		if (!arg || !*arg || *end || sig < 1 || sig > 64) { reply(c, -1, "error kill: \"%s\" is not a signal number", arg ? arg : ""); return; }
		int e = container_kill((int)sig);
		if (e == ESRCH) reply(c, -1, "error container is not running");
		else if (e) reply(c, -1, "error kill: %s", strerror(e));
		else reply(c, -1, "ok");
		return;
	}
	if (strcmp(line, "pidfd") && strcmp(line, "start") && strcmp(line, "state")) {
		reply(c, -1, "error unknown request \"%.100s\"", line);
		return;
	}
	if (arg) { reply(c, -1, "error %s takes no argument", line); return; }
	if (!strcmp(line, "pidfd")) {
		pid_t pid;
		int fd = container_pidfd(&pid);
		if (fd < 0) reply(c, -1, "error container is not running");
		else reply(c, fd, "ok %d", (int)pid);
	} else if (!strcmp(line, "start")) {
		int e = container_release();
		if (e == EALREADY) reply(c, -1, "error already started");
		else if (e) reply(c, -1, "error start: %s", strerror(e));
		else reply(c, -1, "ok");
	} else {
		char st[64];
		container_state(st, sizeof st);
		reply(c, -1, "ok %s", st);
	}
}

void control_ready(int fd)
{
	if (fd == lfd) {
		int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (s < 0) return; /* EAGAIN, or a client that left already */
		for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
			if (clients[i].fd < 0) { clients[i].fd = s; return; }
		const char busy[] = "error too many control connections\n";
		if (send(s, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) { /* closing says enough */ }
		close(s);
		return;
	}
	struct client *c = NULL;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (clients[i].fd == fd) c = &clients[i];
	if (!c) return;
	ssize_t r = recv(fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
	if (r <= 0) { drop(c); return; }
	c->len += (size_t)r;
	char *nl;
	while (c->fd >= 0 && (nl = memchr(c->buf, '\n', c->len))) {
		*nl = 0;
		size_t used = (size_t)(nl - c->buf) + 1;
		handle(c, c->buf);
		if (c->fd < 0) return;
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
	}
	if (c->fd >= 0 && c->len == sizeof c->buf) {
		reply(c, -1, "error request too long");
		if (c->fd >= 0) drop(c);
	}
}

void control_close_all(void)
{
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (clients[i].fd >= 0) drop(&clients[i]);
	if (lfd >= 0) close(lfd);
	lfd = -1;
	unlink(CONTROL_SOCKET);
}

int control_call(const char *statedir, const char *req, char *reply_buf, size_t len, int *fd_out)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	*fd_out = -1;
	int dfd = open(statedir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) return -1;
	snprintf(a.sun_path, sizeof a.sun_path, "/proc/self/fd/%d/%s", dfd, CONTROL_SOCKET);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) { close(dfd); return -1; }
	int r = connect(s, (struct sockaddr *)&a, sizeof a);
	int e = errno;
	close(dfd);
	if (r < 0) { close(s); errno = e; return -1; }
	char line[REQUEST_MAX];
	int n = snprintf(line, sizeof line, "%s\n", req);
	if (write_all(s, line, (size_t)n) < 0) { e = errno; close(s); errno = e; return -1; }
	size_t got = 0;
	while (got < len - 1) {
		union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } cm;
		struct iovec iov = { reply_buf + got, len - 1 - got };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b, .msg_controllen = sizeof cm.b };
		ssize_t k = recvmsg(s, &msg, MSG_CMSG_CLOEXEC);
		if (k < 0 && errno == EINTR) continue;
		if (k <= 0) { e = k < 0 ? errno : ECONNRESET; close(s); errno = e; return -1; }
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h))
			if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS && *fd_out < 0) memcpy(fd_out, CMSG_DATA(h), sizeof(int));
		got += (size_t)k;
		if (memchr(reply_buf, '\n', got)) break;
	}
	close(s);
	reply_buf[got] = 0;
	reply_buf[strcspn(reply_buf, "\n")] = 0;
	return 0;
}
