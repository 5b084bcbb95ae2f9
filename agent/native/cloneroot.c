/*
 * `berth-monitor clone-root STATEDIR TARGET`: a running container's root filesystem, seen
 * from the host, for `docker cp` (agent/engine/containers/archive.ts).
 *
 * The container's overlay is mounted inside its own mount namespace; mounting a second
 * overlay on the same upper dir would be two file systems writing one directory, which
 * overlayfs calls undefined. So this joins the container's mount namespace by the init's
 * pidfd (asked of its monitor over the control socket, as exec does: a pid could name
 * another process by now), clones the mount at "/" there (open_tree, not recursive: the
 * container's /proc, /sys, /dev and bind mounts stay behind, as they do for Docker's cp),
 * returns to the host's namespace and attaches the clone on TARGET. The clone is the same
 * overlay, so what the agent writes through it the container sees at once, and the
 * container's read-only root stays read-only.
 *
 * Exit 3 with "container is not running" when the monitor is gone or its init exited.
 */
#include "monitor.h"
#include "cloneroot.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

#define NOT_RUNNING 3

int clone_root_main(const char *statedir, const char *target)
{
	char reply[256];
	int pidfd = -1;
	report_as = AS_CLI;
	if (target[0] != '/') die(2, 0, "berth-monitor: clone-root: target %s is not an absolute path", target);
	if (control_call(statedir, "pidfd", reply, sizeof reply, &pidfd) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED) die(NOT_RUNNING, 0, "berth-monitor: container is not running (its monitor is gone)");
		die(1, errno, "berth-monitor: clone-root: ask the container's monitor for its init");
	}
	if (strncmp(reply, "ok ", 3) || pidfd < 0) {
		if (pidfd >= 0) close(pidfd);
		die(NOT_RUNNING, 0, "berth-monitor: %s", strncmp(reply, "error ", 6) ? reply : reply + 6);
	}
	int host = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (host < 0) die(1, errno, "berth-monitor: clone-root: open /proc/self/ns/mnt");
	if (setns(pidfd, CLONE_NEWNS) < 0) {
		if (errno == ESRCH) die(NOT_RUNNING, 0, "berth-monitor: container is not running");
		die(1, errno, "berth-monitor: clone-root: join the container's mount namespace");
	}
	close(pidfd);
	/* setns made "/" the namespace's root: the container's rootfs after its pivot_root. */
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0) die(1, errno, "berth-monitor: clone-root: clone the container's root mount");
	if (setns(host, CLONE_NEWNS) < 0) die(1, errno, "berth-monitor: clone-root: return to the host's mount namespace");
	close(host);
	if (syscall(SYS_move_mount, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		die(1, errno, "berth-monitor: clone-root: attach the container's root on %s", target);
	close(tree);
	return 0;
}
