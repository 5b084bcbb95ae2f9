/*
 * The mount plan, carried out in the init's own mount namespace before pivot_root. The
 * agent decides what is mounted (agent/engine/containers/mount-plan.ts builds Docker's
 * default plan); this file only carries it out, generically, in this order:
 *
 *   1. the rootfs: overlay (overlay=) or rootfs= bound on itself, nodev
 *   2. mount= entries in order: a filesystem (fsopen, fsconfig per option, fsmount) or a
 *      bind (open_tree of a host path), attached with move_mount onto the destination
 *   3. device= nodes, 4. symlink= links, 5. sysctl= values (security.c; /proc/sys is still
 *      writable), 6. masked= paths, 7. readonly= paths, 8. the rootfs itself read-only
 *      (rootfs_readonly=), its mounts as they are
 *   9. pivot_root into the rootfs and detach the old root
 *
 * The namespace's mounts are made private first, so nothing the container mounts reaches
 * the host; when a bind asks for [r]slave propagation they are made slaves instead (as
 * runc's default), so that bind, cloned from the host's mount, keeps receiving the host's
 * mounts below it, while every other mount of the plan is still made private by its own
 * propagation option.
 *
 * Every destination is resolved inside the new root, never outside it: openat2 with
 * RESOLVE_IN_ROOT from a descriptor of the root, final symlinks followed by hand the same
 * way, missing directories (or, for a bind of a file, the file) created where the
 * resolution lands, and the mount attached to that descriptor (move_mount), so no path
 * is looked up again. An image whose /etc, /dev or a mount target is a symlink to a host
 * path gets that path inside its own root. proc and sysfs refuse any symlink on the way,
 * as runc does, so they cannot be steered onto one another or under a later mount.
 *
 * mount.options are OCI's: ro rw nosuid suid nodev dev noexec exec noatime relatime
 * strictatime nodiratime diratime nosymfollow symfollow (mount attributes), bind rbind,
 * [r]private [r]shared [r]slave [r]unbindable (propagation); anything else is a
 * filesystem option ("mode=755", "newinstance") handed to fsconfig, which refuses what the
 * filesystem does not know. A bind mount takes no filesystem options. Needs Linux 5.12
 * (mount_setattr), 5.6 (openat2), 5.2 (the rest of the new mount API).
 *
 * `berth-monitor mount-in ROOT DEST TYPE SOURCE OPTIONS` is one plan entry carried out
 * the same way in the caller's mount namespace, DEST resolved inside ROOT: the agent's
 * host-side mounts whose target lies in a tree a container can change (a `docker cp`
 * view of a container with volumes and binds, a volume's own mount).
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef MOUNT_ATTR_SIZE_VER0
struct mount_attr { unsigned long long attr_set, attr_clr, propagation, userns_fd; };
#endif
#ifndef FSCONFIG_SET_FLAG
#define FSCONFIG_SET_FLAG 0
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x1
#define MOUNT_ATTR_NOSUID 0x2
#define MOUNT_ATTR_NODEV 0x4
#define MOUNT_ATTR_NOEXEC 0x8
#define MOUNT_ATTR__ATIME 0x70
#define MOUNT_ATTR_RELATIME 0x0
#define MOUNT_ATTR_NOATIME 0x10
#define MOUNT_ATTR_STRICTATIME 0x20
#define MOUNT_ATTR_NODIRATIME 0x80
#define FSMOUNT_CLOEXEC 0x1
#define FSOPEN_CLOEXEC 0x1
#define MOVE_MOUNT_F_EMPTY_PATH 0x4
#define MOVE_MOUNT_T_EMPTY_PATH 0x40
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOUNT_ATTR_NOSYMFOLLOW
#define MOUNT_ATTR_NOSYMFOLLOW 0x00200000
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

#define ATIME_GIVEN 0x80000000u

static int clone_tree(int dfd, const char *path, unsigned flags)
{
	return (int)syscall(SYS_open_tree, dfd, path, flags | O_CLOEXEC);
}
static int attach(int tree, int dst)
{
	return (int)syscall(SYS_move_mount, tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}
static int setattr(int tree, int recursive, unsigned set, unsigned clr, unsigned long prop)
{
	struct mount_attr a = { .attr_set = set, .attr_clr = clr, .propagation = prop };
	return (int)syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a);
}

/* ---- the plan's options ---- */

static const struct option {
	const char *name;
	unsigned set, clr;
	unsigned long prop;
	int bind; /* 1 bind, 2 rbind */
} options[] = {
	{ "ro", MOUNT_ATTR_RDONLY, 0, 0, 0 }, { "rw", 0, MOUNT_ATTR_RDONLY, 0, 0 },
	{ "nosuid", MOUNT_ATTR_NOSUID, 0, 0, 0 }, { "suid", 0, MOUNT_ATTR_NOSUID, 0, 0 },
	{ "nodev", MOUNT_ATTR_NODEV, 0, 0, 0 }, { "dev", 0, MOUNT_ATTR_NODEV, 0, 0 },
	{ "noexec", MOUNT_ATTR_NOEXEC, 0, 0, 0 }, { "exec", 0, MOUNT_ATTR_NOEXEC, 0, 0 },
	{ "noatime", MOUNT_ATTR_NOATIME | ATIME_GIVEN, 0, 0, 0 },
	{ "relatime", MOUNT_ATTR_RELATIME | ATIME_GIVEN, 0, 0, 0 },
	{ "strictatime", MOUNT_ATTR_STRICTATIME | ATIME_GIVEN, 0, 0, 0 },
	{ "nodiratime", MOUNT_ATTR_NODIRATIME, 0, 0, 0 }, { "diratime", 0, MOUNT_ATTR_NODIRATIME, 0, 0 },
	{ "nosymfollow", MOUNT_ATTR_NOSYMFOLLOW, 0, 0, 0 }, { "symfollow", 0, MOUNT_ATTR_NOSYMFOLLOW, 0, 0 },
	{ "bind", 0, 0, 0, 1 }, { "rbind", 0, 0, 0, 2 },
	{ "private", 0, 0, MS_PRIVATE, 0 }, { "rprivate", 0, 0, MS_PRIVATE | MS_REC, 0 },
	{ "shared", 0, 0, MS_SHARED, 0 }, { "rshared", 0, 0, MS_SHARED | MS_REC, 0 },
	{ "slave", 0, 0, MS_SLAVE, 0 }, { "rslave", 0, 0, MS_SLAVE | MS_REC, 0 },
	{ "unbindable", 0, 0, MS_UNBINDABLE, 0 }, { "runbindable", 0, 0, MS_UNBINDABLE | MS_REC, 0 },
};

static void check_mount(struct plan_mount *m)
{
	unsigned atime = 0;
	int given_atime = 0;
	char *opts = m->options ? strdup(m->options) : NULL;
	if (m->options && !opts) die(128, errno, "berth-monitor: strdup");
	m->bind = !strcmp(m->type, "bind");
	for (char *o = opts ? strtok(opts, ",") : NULL; o; o = strtok(NULL, ",")) {
		size_t i;
		for (i = 0; i < sizeof options / sizeof options[0]; i++)
			if (!strcmp(options[i].name, o)) break;
		if (i == sizeof options / sizeof options[0]) {
			strv_push(&m->data, o);
			continue;
		}
		const struct option *op = &options[i];
		if (op->set & ATIME_GIVEN) { atime = op->set & ~ATIME_GIVEN; given_atime = 1; continue; }
		m->attr_set = (m->attr_set & ~op->clr) | op->set;
		m->attr_clr = (m->attr_clr & ~op->set) | op->clr;
		if (op->prop) m->propagation = op->prop;
		if (op->bind) { m->bind = 1; m->recursive = op->bind == 2; }
	}
	if (given_atime) { m->attr_set |= atime; m->attr_clr |= MOUNT_ATTR__ATIME; }
	if (m->bind) {
		if (!m->source || m->source[0] != '/')
			die(128, 0, "berth-monitor: mount=%s: a bind mount needs an absolute mount.source", m->dest);
		if (m->data.n)
			die(128, 0, "berth-monitor: mount=%s: option \"%s\" does not apply to a bind mount", m->dest, m->data.v[0]);
	}
}

void rootfs_check(void)
{
	for (int i = 0; i < cf.nmounts; i++) check_mount(&cf.mounts[i]);
}

/* ---- resolving inside the root ---- */

static int rootfd = -1;

int rootfs_open(const char *path, int flags)
{
	struct open_how how = { .flags = (unsigned)flags, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS };
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

static int open_in(const char *path, unsigned long long resolve)
{
	struct open_how how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve };
	return (int)syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof how);
}

/*
 * An O_PATH descriptor of PATH inside the root. A final symlink is followed (inside the
 * root) unless `nosym`, which refuses any symlink with ELOOP. With `create` ('d' a
 * directory, 'f' a file), what is missing is created where the resolution lands. -1 with
 * errno otherwise.
 */
static int resolve(const char *path, int create, int nosym)
{
	char cur[PATH_MAX], link[PATH_MAX];
	while (*path == '/') path++;
	snprintf(cur, sizeof cur, "%s", path);
	for (size_t n = strlen(cur); n && cur[n - 1] == '/'; n--) cur[n - 1] = 0;
	for (int hops = 0; hops < 40; hops++) {
		int fd = open_in(cur, nosym ? RESOLVE_NO_SYMLINKS : 0);
		if (fd >= 0) {
			struct stat st;
			if (fstat(fd, &st) < 0) { int e = errno; close(fd); errno = e; return -1; }
			if (!S_ISLNK(st.st_mode)) return fd;
			ssize_t n = nosym ? -1 : readlinkat(fd, "", link, sizeof link - 1);
			close(fd);
			if (nosym) { errno = ELOOP; return -1; }
			if (n < 0) return -1;
			link[n] = 0;
			/* The link's target replaces its name: relative to its directory, absolute to the root. */
			char *slash = strrchr(cur, '/');
			char next[PATH_MAX];
			int len = link[0] == '/' || !slash ? snprintf(next, sizeof next, "%s", link)
							   : snprintf(next, sizeof next, "%.*s/%s", (int)(slash - cur), cur, link);
			if (len >= (int)sizeof next) { errno = ENAMETOOLONG; return -1; }
			const char *p = next;
			while (*p == '/') p++;
			memmove(cur, p, strlen(p) + 1);
			continue;
		}
		if (errno != ENOENT || !create) return -1;
		/* Something on the way is missing: make the parent, then the last component. */
		char *slash = strrchr(cur, '/');
		const char *name = slash ? slash + 1 : cur;
		int pfd;
		if (slash) {
			*slash = 0;
			pfd = resolve(cur, 'd', nosym);
			*slash = '/';
		} else {
			pfd = dup(rootfd);
		}
		if (pfd < 0) return -1;
		int r = create == 'd' ? mkdirat(pfd, name, 0755) : mknodat(pfd, name, S_IFREG | 0644, 0);
		int e = errno;
		close(pfd);
		if (r < 0 && e != EEXIST) { errno = e; return -1; }
	}
	errno = ELOOP;
	return -1;
}

static void __attribute__((noreturn)) mount_failed(const char *what, const char *dest, int e, int fs)
{
	char kmsg[256] = "";
	/* An fs context holds the filesystem's own words for what it refused. */
	if (fs >= 0) {
		ssize_t n = read(fs, kmsg, sizeof kmsg - 1);
		kmsg[n > 0 ? n : 0] = 0;
		kmsg[strcspn(kmsg, "\n")] = 0;
	}
	if (e == ELOOP && !*kmsg)
		die(128, 0, "berth-monitor: %s on %s: the path is a symlink in the image or goes through one (refused)", what, dest);
	die(128, e, "berth-monitor: %s on %s%s%s%s", what, dest, *kmsg ? " (" : "", kmsg + (*kmsg && kmsg[1] == ' ' ? 2 : 0), *kmsg ? ")" : "");
}

static void do_mount(const struct plan_mount *m)
{
	char what[512];
	int fs = -1, tree, dst;
	int nosym = !strcmp(m->type, "proc") || !strcmp(m->type, "sysfs");
	int kind = 'd';
	struct stat st;
	if (m->bind) {
		snprintf(what, sizeof what, "bind %s", m->source);
		tree = clone_tree(AT_FDCWD, m->source, OPEN_TREE_CLONE | (m->recursive ? AT_RECURSIVE : 0));
		if (tree < 0) mount_failed(what, m->dest, errno, -1);
		if (fstat(tree, &st) < 0) mount_failed(what, m->dest, errno, -1);
		if (!S_ISDIR(st.st_mode)) kind = 'f';
		if ((m->attr_set || m->attr_clr) && setattr(tree, m->recursive, m->attr_set, m->attr_clr, 0) < 0)
			mount_failed(what, m->dest, errno, -1);
	} else {
		snprintf(what, sizeof what, "mount %s (%s)", m->source ? m->source : m->type, m->type);
		fs = (int)syscall(SYS_fsopen, m->type, FSOPEN_CLOEXEC);
		if (fs < 0) mount_failed(what, m->dest, errno, -1);
		if (m->source && syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", m->source, 0) < 0)
			mount_failed(what, m->dest, errno, fs);
		for (int i = 0; i < m->data.n; i++) {
			char opt[256], *eq;
			snprintf(opt, sizeof opt, "%s", m->data.v[i]);
			eq = strchr(opt, '=');
			if (eq) *eq++ = 0;
			if (syscall(SYS_fsconfig, fs, eq ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, opt, eq, 0) < 0) {
				int e = errno;
				snprintf(what + strlen(what), sizeof what - strlen(what), ", option %s", m->data.v[i]);
				mount_failed(what, m->dest, e, fs);
			}
		}
		if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) mount_failed(what, m->dest, errno, fs);
		tree = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, m->attr_set);
		if (tree < 0) mount_failed(what, m->dest, errno, fs);
		close(fs);
	}
	dst = resolve(m->dest, kind, nosym);
	if (dst < 0) mount_failed(what, m->dest, errno, -1);
	if (attach(tree, dst) < 0) mount_failed(what, m->dest, errno, -1);
	if (m->propagation && setattr(tree, m->propagation & MS_REC, 0, 0, m->propagation & ~(unsigned long)MS_REC) < 0)
		mount_failed(what, m->dest, errno, -1);
	close(dst);
	close(tree);
}

/* The directory a plan entry's last component goes in, and that component. */
static int parent_of(const char *path, const char **name, const char *what)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	*name = slash + 1;
	int fd = resolve(dir, 'd', 0);
	if (fd < 0) mount_failed(what, path, errno, -1);
	return fd;
}

static void make_device(const struct plan_device *d)
{
	const char *name;
	int pfd = parent_of(d->path, &name, "create device");
	mode_t type = d->type == 'c' ? S_IFCHR : d->type == 'b' ? S_IFBLK : S_IFIFO;
	if (mknodat(pfd, name, type | d->mode, type == S_IFIFO ? 0 : makedev(d->major, d->minor)) < 0)
		die(128, errno, "berth-monitor: mknod %s (%c %u:%u)", d->path, d->type, d->major, d->minor);
	if ((d->uid || d->gid) && fchownat(pfd, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
		die(128, errno, "berth-monitor: chown %s to %u:%u", d->path, d->uid, d->gid);
	close(pfd);
}

static void make_symlink(const struct plan_symlink *s)
{
	const char *name;
	int pfd = parent_of(s->path, &name, "create symlink");
	if (symlinkat(s->target, pfd, name) < 0) die(128, errno, "berth-monitor: symlink %s -> %s", s->path, s->target);
	close(pfd);
}

static void mask(const char *path)
{
	int fd = resolve(path, 0, 0), tree;
	struct stat st;
	if (fd < 0 && errno == ENOENT) return;
	if (fd < 0 || fstat(fd, &st) < 0) mount_failed("mask", path, errno, -1);
	if (S_ISDIR(st.st_mode)) {
		int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
		if (fs < 0 || syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) mount_failed("mask (tmpfs)", path, errno, fs);
		tree = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
		if (tree < 0) mount_failed("mask (tmpfs)", path, errno, fs);
		close(fs);
	} else {
		/* The container's own /dev/null, from the plan's devices. */
		int null = resolve("dev/null", 0, 0);
		if (null < 0) mount_failed("mask (with the container's /dev/null)", path, errno, -1);
		tree = clone_tree(null, "", OPEN_TREE_CLONE | AT_EMPTY_PATH);
		if (tree < 0) mount_failed("mask (with the container's /dev/null)", path, errno, -1);
		close(null);
	}
	if (attach(tree, fd) < 0) mount_failed("mask", path, errno, -1);
	close(tree);
	close(fd);
}

static void make_readonly(const char *path)
{
	int fd = resolve(path, 0, 0);
	if (fd < 0 && errno == ENOENT) return;
	if (fd < 0) mount_failed("read-only bind", path, errno, -1);
	int tree = clone_tree(fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH | AT_RECURSIVE);
	if (tree < 0) mount_failed("read-only bind", path, errno, -1);
	if (setattr(tree, 1, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, 0) < 0)
		mount_failed("read-only bind", path, errno, -1);
	if (attach(tree, fd) < 0) mount_failed("read-only bind", path, errno, -1);
	close(tree);
	close(fd);
}

void rootfs_setup(void)
{
	int slave = 0;
	for (int i = 0; i < cf.nmounts; i++)
		if (cf.mounts[i].propagation & MS_SLAVE) slave = 1;
	if (mount(NULL, "/", NULL, MS_REC | (slave ? MS_SLAVE : MS_PRIVATE), NULL) < 0)
		die(128, errno, "berth-monitor: make / %s", slave ? "a slave" : "private");
	/* nodev: device nodes work only in the container's own /dev. */
	if (cf.overlay) {
		if (mount("overlay", cf.rootfs, "overlay", MS_NODEV, cf.overlay) < 0)
			die(128, errno, "berth-monitor: mount overlay on %s", cf.rootfs);
	} else if (mount(cf.rootfs, cf.rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) { /* pivot_root wants a mount point */
		die(128, errno, "berth-monitor: bind %s on itself", cf.rootfs);
	}
	rootfd = open(cf.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) die(128, errno, "berth-monitor: open %s", cf.rootfs);

	for (int i = 0; i < cf.nmounts; i++) do_mount(&cf.mounts[i]);
	for (int i = 0; i < cf.ndevices; i++) make_device(&cf.devices[i]);
	for (int i = 0; i < cf.nsymlinks; i++) make_symlink(&cf.symlinks[i]);
	write_sysctls();
	for (int i = 0; i < cf.masked.n; i++) mask(cf.masked.v[i]);
	for (int i = 0; i < cf.readonly.n; i++) make_readonly(cf.readonly.v[i]);
	if (cf.readonly_rootfs) {
		/* Docker makes a missing working dir before the rootfs is read-only: so does this. */
		if (cf.cwd && *cf.cwd) {
			int fd = resolve(cf.cwd, 'd', 0);
			if (fd < 0) mount_failed("create the working dir", cf.cwd, errno, -1);
			close(fd);
		}
		/* Only the root's own mount: /dev, /proc, tmpfs and the like keep what the plan said. */
		if (setattr(rootfd, 0, MOUNT_ATTR_RDONLY, 0, 0) < 0) die(128, errno, "berth-monitor: make the rootfs %s read-only", cf.rootfs);
	}

	/* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the container's. */
	if (fchdir(rootfd) < 0) die(128, errno, "berth-monitor: chdir %s", cf.rootfs);
	if (syscall(SYS_pivot_root, ".", ".") < 0) die(128, errno, "berth-monitor: pivot_root %s", cf.rootfs);
	if (umount2(".", MNT_DETACH) < 0) die(128, errno, "berth-monitor: detach old root");
	if (chdir("/") < 0) die(128, errno, "berth-monitor: chdir /");
	close(rootfd);
}

int mount_in_main(char **argv)
{
	struct plan_mount m = { .dest = argv[1], .type = argv[2], .source = *argv[3] ? argv[3] : NULL, .options = *argv[4] ? argv[4] : NULL };
	report_as = AS_CLI;
	if (argv[0][0] != '/') die(2, 0, "berth-monitor: mount-in: root %s is not an absolute path", argv[0]);
	if (m.dest[0] != '/') die(2, 0, "berth-monitor: mount-in: destination %s is not an absolute path", m.dest);
	rootfd = open(argv[0], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) die(1, errno, "berth-monitor: mount-in: open %s", argv[0]);
	check_mount(&m);
	do_mount(&m);
	close(rootfd);
	return 0;
}
