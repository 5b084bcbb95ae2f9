/*
 * Descriptors: none that the agent inherited from whoever started it reaches a container
 * (cloexec_inherited, as runc closes them), and pseudo-terminals, made inside the
 * container as runc's console socket does: the pty
 * comes from the container's own devpts instance (mounted newinstance by the plan), so
 * `tty` prints /dev/pts/0 and the container sees no host terminals. The init opens it
 * after pivot_root and hands the master to the monitor over a socketpair (SCM_RIGHTS);
 * `exec -t` opens one after joining the container's namespaces.
 *
 * The master is opened as /dev/pts/ptmx and checked to be devpts's ptmx (a container
 * that replaced /dev/ptmx or its pts directory gets no say), and the slave comes from
 * TIOCGPTPEER, so no path is looked up for it.
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <dirent.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#ifndef DEVPTS_SUPER_MAGIC
#define DEVPTS_SUPER_MAGIC 0x1cd1
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

void cloexec_inherited(int code)
{
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
	/* Before Linux 5.11: one by one. */
	DIR *d = opendir("/proc/self/fd");
	if (!d) die(code, errno, "berth-monitor: list /proc/self/fd");
	struct dirent *e;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		if (fd < 3 || fd == dirfd(d)) continue;
		int fl = fcntl(fd, F_GETFD);
		if (fl >= 0 && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) die(code, errno, "berth-monitor: close-on-exec fd %d", fd);
	}
	closedir(d);
}

int pty_open(int code, unsigned short rows, unsigned short cols, int *slave)
{
	struct stat st;
	struct statfs sf;
	int m = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW);
	if (m < 0) die(code, errno, "berth-monitor: open /dev/pts/ptmx for a TTY");
	if (fstat(m, &st) < 0 || fstatfs(m, &sf) < 0) die(code, errno, "berth-monitor: stat /dev/pts/ptmx");
	if (sf.f_type != DEVPTS_SUPER_MAGIC || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2)
		die(code, 0, "berth-monitor: /dev/pts/ptmx is not the container's devpts ptmx");
	int unlock = 0;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0) die(code, errno, "berth-monitor: unlock the TTY");
	pty_resize(m, rows, cols);
	*slave = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0) die(code, errno, "berth-monitor: open the TTY's slave");
	return m;
}

int pty_resize(int master, unsigned short rows, unsigned short cols)
{
	if (!rows || !cols) return 0; /* Docker's "size not known": keep the kernel's */
	struct winsize ws = { .ws_row = rows, .ws_col = cols };
	return ioctl(master, TIOCSWINSZ, &ws);
}

void pty_make_controlling(int code, int slave)
{
	if (setsid() < 0) die(code, errno, "berth-monitor: setsid for the TTY");
	if (ioctl(slave, TIOCSCTTY, 0) < 0) die(code, errno, "berth-monitor: make the TTY the controlling terminal");
	for (int fd = 0; fd < 3; fd++)
		if (dup2(slave, fd) < 0) die(code, errno, "berth-monitor: TTY onto fd %d", fd);
	if (slave > 2) close(slave);
}

int send_fd(int sock, int fd)
{
	char byte = 'm';
	struct iovec iov = { &byte, 1 };
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } cm;
	memset(&cm, 0, sizeof cm);
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b, .msg_controllen = sizeof cm.b };
	struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &fd, sizeof fd);
	for (;;) {
		ssize_t r = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (r == 1) return 0;
		if (r < 0 && errno == EINTR) continue;
		return -1;
	}
}

int recv_fd(int sock)
{
	char byte;
	struct iovec iov = { &byte, 1 };
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } cm;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b, .msg_controllen = sizeof cm.b };
	ssize_t r;
	while ((r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {}
	if (r <= 0) return -1;
	int fd = -1;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h))
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS && fd < 0) memcpy(&fd, CMSG_DATA(h), sizeof fd);
	if (fd < 0) errno = EBADMSG;
	return fd;
}
