/*
 * `berth-monitor copy-up SRC DST [nodev]`: what Docker does when a volume is first used at
 * a path the image has content at: the directory SRC (inside the agent's own read-only view
 * of the image) is copied into the empty volume directory DST, with owners, modes, times,
 * xattrs, symlinks, hard links, fifos and device nodes ("nodev": a device node fails the
 * copy instead), and SRC's own owner, mode, times and xattrs go to DST itself. A DST that
 * already holds anything is left alone (prints "not empty"), as Docker leaves it.
 *
 * DST may be mounted in running containers at the same time (a shared volume), so nothing
 * on its side is ever looked up by path: every directory is made with mkdirat and opened
 * with O_NOFOLLOW relative to its parent's descriptor, files with O_CREAT|O_EXCL|O_NOFOLLOW,
 * and hard links are made from a descriptor of the first copy (linkat AT_EMPTY_PATH). A
 * container racing the copy can make it fail (EEXIST, ELOOP), never send it elsewhere.
 * trusted.overlay.* xattrs are not copied (they steer overlayfs); attributes a filesystem
 * does not support are skipped, as Docker skips them.
 */
#include "monitor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static int nodev;
static unsigned long copied;

/* Files with several links: the first copy's descriptor, by the source's inode. */
static struct linked { dev_t dev; ino_t ino; int fd; } *links;
static int nlinks;

static void __attribute__((noreturn)) fail(int e, const char *what, const char *rel)
{
	die(1, e, "berth-monitor: copy-up: %s %s", what, *rel ? rel : ".");
}

static void copy_xattrs(int src, int dst, const char *rel)
{
	char names[65536], value[65536];
	ssize_t n = flistxattr(src, names, sizeof names);
	if (n < 0) {
		if (errno == ENOTSUP) return;
		fail(errno, "list the xattrs of", rel);
	}
	for (char *name = names; name < names + n; name += strlen(name) + 1) {
		if (!strncmp(name, "trusted.overlay.", 16)) continue;
		ssize_t v = fgetxattr(src, name, value, sizeof value);
		if (v < 0) {
			if (errno == ENODATA || errno == ENOTSUP) continue;
			fail(errno, "read an xattr of", rel);
		}
		if (fsetxattr(dst, name, value, (size_t)v, 0) < 0 && errno != ENOTSUP && errno != EPERM)
			fail(errno, "write an xattr of", rel);
	}
}

/* Owner, then mode (a chown clears set-id bits), xattrs and times of an open copy. */
static void copy_attrs(int src, int dst, const struct stat *st, const char *rel)
{
	if (fchown(dst, st->st_uid, st->st_gid) < 0) fail(errno, "chown", rel);
	if (fchmod(dst, st->st_mode & 07777) < 0) fail(errno, "chmod", rel);
	copy_xattrs(src, dst, rel);
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	if (futimens(dst, ts) < 0) fail(errno, "set the times of", rel);
}

static void copy_data(int src, int dst, const char *rel)
{
	char buf[65536];
	for (;;) {
		ssize_t n = copy_file_range(src, NULL, dst, NULL, 1 << 30, 0);
		if (n == 0) return;
		if (n > 0) continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) fail(errno, "copy", rel);
		break;
	}
	for (;;) {
		ssize_t n = read(src, buf, sizeof buf);
		if (n == 0) return;
		if (n < 0) {
			if (errno == EINTR) continue;
			fail(errno, "read", rel);
		}
		if (write_all(dst, buf, (size_t)n) < 0) fail(errno, "write", rel);
	}
}

static int linked_copy(const struct stat *st)
{
	for (int i = 0; i < nlinks; i++)
		if (links[i].dev == st->st_dev && links[i].ino == st->st_ino) return links[i].fd;
	return -1;
}

static void copy_dir(int src, int dst, const char *rel);

static void copy_entry(int sdir, int ddir, const char *name, const char *rel)
{
	struct stat st;
	if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) fail(errno, "stat", rel);
	copied++;
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		int first = linked_copy(&st);
		if (first >= 0) {
			if (linkat(first, "", ddir, name, AT_EMPTY_PATH) < 0) fail(errno, "hard-link", rel);
			return;
		}
	}
	struct timespec ts[2] = { st.st_atim, st.st_mtim };
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR: {
		if (mkdirat(ddir, name, 0700) < 0) fail(errno, "mkdir", rel);
		int s = openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (s < 0) fail(errno, "open", rel);
		int d = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (d < 0) fail(errno, "open the copy of", rel);
		copy_dir(s, d, rel);
		copy_attrs(s, d, &st, rel);
		close(s);
		close(d);
		return;
	}
	case S_IFREG: {
		int s = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (s < 0) fail(errno, "open", rel);
		int d = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (d < 0) fail(errno, "create", rel);
		copy_data(s, d, rel);
		copy_attrs(s, d, &st, rel);
		close(s);
		if (st.st_nlink > 1) {
			int p = openat(ddir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			if (p < 0) fail(errno, "open the copy of", rel);
			links = xrealloc(links, sizeof *links * (size_t)(nlinks + 1));
			links[nlinks++] = (struct linked){ st.st_dev, st.st_ino, p };
		}
		close(d);
		return;
	}
	case S_IFLNK: {
		char target[PATH_MAX];
		ssize_t n = readlinkat(sdir, name, target, sizeof target - 1);
		if (n < 0) fail(errno, "read the link", rel);
		target[n] = 0;
		if (symlinkat(target, ddir, name) < 0) fail(errno, "symlink", rel);
		if (fchownat(ddir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0) fail(errno, "chown", rel);
		if (utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW) < 0) fail(errno, "set the times of", rel);
		return;
	}
	case S_IFCHR:
	case S_IFBLK:
		if (nodev) die(1, 0, "berth-monitor: copy-up: %s is a device node, which this host cannot confine in a container (refused)", rel);
		/* fallthrough */
	case S_IFIFO:
		if (mknodat(ddir, name, st.st_mode, st.st_rdev) < 0) fail(errno, "mknod", rel);
		if (fchownat(ddir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0) fail(errno, "chown", rel);
		/* mknodat is not followed by a chmod through a path: its mode came from the source, umask 0. */
		if (utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW) < 0) fail(errno, "set the times of", rel);
		return;
	default:
		copied--; /* sockets are not copied, as tar does not archive them */
		return;
	}
}

static void copy_dir(int src, int dst, const char *rel)
{
	int fd = dup(src);
	if (fd < 0) fail(errno, "dup", rel);
	DIR *d = fdopendir(fd);
	if (!d) fail(errno, "read", rel);
	struct dirent *e;
	while ((errno = 0, e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
		char sub[PATH_MAX];
		if (snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= (int)sizeof sub) fail(ENAMETOOLONG, "copy", rel);
		copy_entry(src, dst, e->d_name, sub);
	}
	if (errno) fail(errno, "read", rel);
	closedir(d);
}

int copy_up_main(int argc, char **argv)
{
	report_as = AS_CLI;
	if (argc == 3) {
		if (strcmp(argv[2], "nodev")) die(2, 0, "berth-monitor: copy-up: unknown flag %s", argv[2]);
		nodev = 1;
	}
	umask(0);
	int src = open(argv[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src < 0) die(1, errno, "berth-monitor: copy-up: open %s", argv[0]);
	int dst = open(argv[1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dst < 0) die(1, errno, "berth-monitor: copy-up: open %s", argv[1]);
	int probe = dup(dst);
	if (probe < 0) die(1, errno, "berth-monitor: copy-up: dup");
	DIR *d = fdopendir(probe);
	if (!d) die(1, errno, "berth-monitor: copy-up: read %s", argv[1]);
	struct dirent *e;
	int empty = 1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
	closedir(d);
	if (!empty) {
		printf("not empty\n");
		return 0;
	}
	struct stat st;
	if (fstat(src, &st) < 0) die(1, errno, "berth-monitor: copy-up: stat %s", argv[0]);
	copy_dir(src, dst, "");
	copy_attrs(src, dst, &st, "");
	for (int i = 0; i < nlinks; i++) close(links[i].fd);
	printf("copied %lu\n", copied);
	return 0;
}
