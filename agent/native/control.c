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
 *   resize <rows> <cols>  TIOCSWINSZ on the container's TTY (kept for it until the init
 *                    has made it) → ok | error the container has no TTY
 *                    | error container is not running
 *   stdin            → ok, and from then on the connection carries the container's stdin
 *                    as frames: a 4-byte big-endian length and that many bytes; length 0
 *                    is the attached client's EOF (the stdin pipe is closed, as Docker's
 *                    StdinOnce does; a TTY's stdin is never closed). A connection that
 *                    ends without it detaches and leaves stdin open. One stdin connection
 *                    at a time (the agent merges its clients' input into it)
 *                    | error stdin is not open | error stdin is already attached
 *                    | error stdin is closed
 *                    Bytes are read only as fast as the pipe (or TTY) takes them, so a
 *                    slow reader in the container holds the sender back, never a buffer.
 *   attach           → ok, and from then on the connection carries everything the
 *                    container prints as Docker's multiplexed frames: 1 byte stream
 *                    (1 stdout, 2 stderr; a TTY is all stdout), 3 zero bytes, a 4-byte
 *                    big-endian length, the data. The log gets the same bytes first.
 *                    While a client has not taken a frame, the monitor reads no more
 *                    output (the container blocks on a full pipe, as Docker's attach
 *                    does); at exit it is closed once it has everything.
 *   anything else    → error unknown request "<verb>"
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define REQUEST_MAX 256
#define STDIN_BUF 65536
#define FRAME_HDR 8

enum mode { M_REQUEST, M_STDIN, M_ATTACH };
static int lfd = -1;
static struct client {
	int fd;
	enum mode mode;
	size_t len;
	char buf[REQUEST_MAX];
	/* attach: output not yet taken by the client */
	char *out;
	size_t out_len, out_off;
	/* stdin: bytes received, not yet passed on; the frame being read */
	char *in;
	size_t in_len, in_off;
	unsigned char hdr[4];
	int hdr_len;
	size_t left;
} clients[CONTROL_MAX_CLIENTS];

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

static int stdin_waiting(const struct client *c) { return c->mode == M_STDIN && c->in_off < c->in_len; }

int control_fds(int *fds, int max)
{
	int n = 0;
	if (lfd >= 0 && n < max) fds[n++] = lfd;
	/* A stdin connection with input its target has not taken is not polled: it is not
	 * read meanwhile, and its hang-up waits until that input is through. */
	for (int i = 0; i < CONTROL_MAX_CLIENTS && n < max; i++)
		if (clients[i].fd >= 0 && !stdin_waiting(&clients[i])) fds[n++] = clients[i].fd;
	return n;
}

static struct client *client_of(int fd)
{
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (clients[i].fd == fd) return &clients[i];
	return NULL;
}

short control_events(int fd)
{
	struct client *c = fd == lfd ? NULL : client_of(fd);
	if (c && c->mode == M_ATTACH && c->out_off < c->out_len) return POLLIN | POLLOUT;
	return POLLIN;
}

static void drop(struct client *c)
{
	close(c->fd);
	free(c->out);
	free(c->in);
	*c = (struct client){ .fd = -1 };
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

static struct client *stdin_client(void)
{
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].mode == M_STDIN) return &clients[i];
	return NULL;
}

/* Passes the stdin connection's frames on, as far as the target takes them. */
static void stdin_pump(struct client *c)
{
	while (c->in_off < c->in_len) {
		if (!c->left) {
			while (c->hdr_len < 4 && c->in_off < c->in_len) c->hdr[c->hdr_len++] = (unsigned char)c->in[c->in_off++];
			if (c->hdr_len < 4) break;
			c->hdr_len = 0;
			c->left = (size_t)c->hdr[0] << 24 | (size_t)c->hdr[1] << 16 | (size_t)c->hdr[2] << 8 | c->hdr[3];
			if (!c->left) container_close_stdin();
			continue;
		}
		int target = container_stdin_fd();
		if (target == -2) return; /* the TTY is not there yet: the input waits for it */
		size_t n = c->in_len - c->in_off < c->left ? c->in_len - c->in_off : c->left;
		ssize_t w = target < 0 ? (ssize_t)n : write(target, c->in + c->in_off, n);
		if (w < 0) {
			if (errno == EAGAIN) return;
			if (errno == EINTR) continue;
			/* EPIPE, EIO: nobody reads the container's stdin any more; what comes is dropped. */
			w = (ssize_t)n;
		}
		c->in_off += (size_t)w;
		c->left -= (size_t)w;
	}
	if (c->in_off == c->in_len) c->in_off = c->in_len = 0;
}

int control_stdin_pending(void)
{
	struct client *c = stdin_client();
	return c && stdin_waiting(c);
}

void control_stdin_writable(void)
{
	struct client *c = stdin_client();
	if (c) stdin_pump(c);
}

/* Sends what the attached client has not taken yet; 0 once nothing is left. */
static int attach_flush(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR) continue;
		if (w < 0 && errno == EAGAIN) return 1;
		if (w < 0) { drop(c); return 0; }
		c->out_off += (size_t)w;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

void control_output(int stream, const char *data, size_t n)
{
	unsigned char hdr[FRAME_HDR] = { (unsigned char)stream, 0, 0, 0, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n };
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct client *c = &clients[i];
		if (c->fd < 0 || c->mode != M_ATTACH) continue;
		size_t sent = 0;
		if (c->out_off == c->out_len) {
			struct iovec iov[2] = { { hdr, FRAME_HDR }, { (void *)data, n } };
			struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
			ssize_t w;
			while ((w = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR) {}
			if (w < 0 && errno != EAGAIN) { drop(c); continue; }
			sent = w < 0 ? 0 : (size_t)w;
			if (sent == FRAME_HDR + n) continue;
		}
		/* The rest waits for the client; the loop reads nothing more until it is taken. */
		size_t hdr_left = sent < FRAME_HDR ? FRAME_HDR - sent : 0;
		size_t data_sent = sent > FRAME_HDR ? sent - FRAME_HDR : 0;
		c->out = xrealloc(c->out, c->out_len + hdr_left + n - data_sent);
		memcpy(c->out + c->out_len, hdr + FRAME_HDR - hdr_left, hdr_left);
		memcpy(c->out + c->out_len + hdr_left, data + data_sent, n - data_sent);
		c->out_len += hdr_left + n - data_sent;
	}
}

int control_output_pending(void)
{
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].mode == M_ATTACH && clients[i].out_off < clients[i].out_len) return 1;
	return 0;
}

static int parse_u16(const char *s, unsigned short *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || *s == '+' || v > 0xffff) return -1;
	*out = (unsigned short)v;
	return 0;
}

/* Switches the connection to stdin or attach, keeping what it sent after the request line. */
static void become(struct client *c, enum mode m, size_t used)
{
	c->mode = m;
	if (m == M_STDIN) {
		c->in = xrealloc(NULL, STDIN_BUF);
		c->in_len = c->len - used;
		memcpy(c->in, c->buf + used, c->in_len);
	}
	c->len = used; /* the caller drops the request line and nothing else remains */
}

static void handle(struct client *c, char *line, size_t used)
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
	if (!strcmp(line, "resize")) {
		unsigned short rows, cols;
		char *sp = arg ? strchr(arg, ' ') : NULL;
		if (sp) *sp++ = 0;
		if (!sp || parse_u16(arg, &rows) < 0 || parse_u16(sp, &cols) < 0) { reply(c, -1, "error resize: want <rows> <cols>"); return; }
		int e = container_resize(rows, cols);
		if (e == ENOTTY) reply(c, -1, "error the container has no TTY");
		else if (e == ESRCH) reply(c, -1, "error container is not running");
		else if (e) reply(c, -1, "error resize: %s", strerror(e));
		else reply(c, -1, "ok");
		return;
	}
	if (strcmp(line, "pidfd") && strcmp(line, "start") && strcmp(line, "state") && strcmp(line, "stdin") && strcmp(line, "attach")) {
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
	} else if (!strcmp(line, "stdin")) {
		int t = container_stdin_fd();
		if (!cf.open_stdin) reply(c, -1, "error stdin is not open");
		else if (stdin_client()) reply(c, -1, "error stdin is already attached");
		else if (t == -1) reply(c, -1, "error stdin is closed");
		else {
			reply(c, -1, "ok");
			if (c->fd >= 0) become(c, M_STDIN, used);
		}
	} else if (!strcmp(line, "attach")) {
		reply(c, -1, "ok");
		if (c->fd >= 0) become(c, M_ATTACH, used);
	} else {
		char st[64];
		container_state(st, sizeof st);
		reply(c, -1, "ok %s", st);
	}
}

static void accept_client(void)
{
	int s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (s < 0) return; /* EAGAIN, or a client that left already */
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (clients[i].fd < 0) { clients[i] = (struct client){ .fd = s }; return; }
	const char busy[] = "error too many control connections\n";
	if (send(s, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) { /* closing says enough */ }
	close(s);
}

void control_ready(int fd, short revents)
{
	if (fd == lfd) { accept_client(); return; }
	struct client *c = client_of(fd);
	if (!c) return;
	if (c->mode == M_ATTACH) {
		if ((revents & POLLOUT) && !attach_flush(c) && c->fd < 0) return;
		if (!(revents & (POLLIN | POLLHUP | POLLERR))) return;
		char junk[256];
		ssize_t r = recv(fd, junk, sizeof junk, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
		if (r <= 0) drop(c); /* the client left; what it sends otherwise means nothing */
		return;
	}
	if (c->mode == M_STDIN) {
		ssize_t r = recv(fd, c->in, STDIN_BUF, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
		if (r <= 0) { drop(c); return; } /* detached without EOF: stdin stays open */
		c->in_off = 0;
		c->in_len = (size_t)r;
		stdin_pump(c);
		return;
	}
	ssize_t r = recv(fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
	if (r <= 0) { drop(c); return; }
	c->len += (size_t)r;
	char *nl;
	while (c->fd >= 0 && c->mode == M_REQUEST && (nl = memchr(c->buf, '\n', c->len))) {
		*nl = 0;
		size_t used = (size_t)(nl - c->buf) + 1;
		handle(c, c->buf, used);
		if (c->fd < 0) return;
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
	}
	if (c->fd >= 0 && c->mode == M_STDIN) stdin_pump(c);
	if (c->fd >= 0 && c->mode == M_REQUEST && c->len == sizeof c->buf) {
		reply(c, -1, "error request too long");
		if (c->fd >= 0) drop(c);
	}
}

/* At exit: every attached client gets what it has not taken yet, then all go. */
void control_close_all(void)
{
	for (;;) {
		struct pollfd pf[CONTROL_MAX_CLIENTS];
		struct client *who[CONTROL_MAX_CLIENTS];
		int n = 0;
		for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
			if (clients[i].fd >= 0 && clients[i].mode == M_ATTACH && clients[i].out_off < clients[i].out_len) {
				who[n] = &clients[i];
				pf[n++] = (struct pollfd){ clients[i].fd, POLLOUT, 0 };
			}
		if (!n) break;
		if (poll(pf, (nfds_t)n, -1) < 0 && errno != EINTR) break;
		for (int i = 0; i < n; i++)
			if (pf[i].revents & (POLLERR | POLLHUP | POLLNVAL)) drop(who[i]);
			else if (pf[i].revents & POLLOUT) attach_flush(who[i]);
	}
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
