/*
 * What a layer needs beyond what Node's fs can do: extended attributes (overlay's opaque
 * marker, file capabilities) and device nodes (whiteouts, /dev entries). One process per
 * layer, so an unpacked layer never costs a process per entry and needs no perl or
 * coreutils on the host.
 *
 *   berth-monitor layer-fixup ROOT
 *     stdin: records of NUL-terminated fields, each record answered with "ok\n" on stdout
 *       xattr PATH NAME VALUE-hex
 *       mknod PATH TYPE(c|b|p) MAJOR MINOR MODE(octal)
 *     PATH is relative to ROOT ("" is ROOT itself). Every directory on the way is opened
 *     with O_NOFOLLOW, and `.`, `..` and empty components are refused, so a record can
 *     never reach outside ROOT through a symlink. The first failure ends the process
 *     (exit 1) with the reason on stderr.
 *
 *   berth-monitor xattr-get NAME
 *     stdin: NUL-terminated paths; for each that has NAME (final symlinks not followed):
 *     "<path length> <value length>\n" PATH VALUE on stdout. Missing attributes and file
 *     systems without xattrs are skipped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layerfix.h"

static const char *fix_root;

static void __attribute__((noreturn, format(printf, 2, 3))) die(int e, const char *fmt, ...)
{
	va_list ap;
	fputs("berth-monitor: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (e) fprintf(stderr, ": %s", strerror(e));
	fputc('\n', stderr);
	exit(1);
}

/* Reads one NUL-terminated field; NULL at a clean end of input. */
static char *field(char **buf, size_t *cap, int required)
{
	ssize_t n = getdelim(buf, cap, '\0', stdin);
	if (n < 0) {
		if (ferror(stdin)) die(errno, "layer-fixup: reading stdin");
		if (required) die(0, "layer-fixup: input ends inside a record");
		return NULL;
	}
	if (n == 0 || (*buf)[n - 1] != '\0') die(0, "layer-fixup: input ends inside a record");
	return *buf;
}

/*
 * Opens the directory that holds PATH's last component, walking from `rootfd` one
 * component at a time without following symlinks. Returns the fd (the caller closes
 * it) and points *name at the last component; *name is "" for ROOT itself.
 */
static int open_parent(int rootfd, char *path, const char *shown, const char **name)
{
	int cur = dup(rootfd);
	if (cur < 0) die(errno, "layer-fixup: dup");
	if (path[0] == '\0') {
		*name = "";
		return cur;
	}
	/* the whole path first, so nothing is opened on the way to a refusal */
	for (const char *c = path; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			die(0, "layer-fixup: refusing path \"%s\" under %s: empty, \".\" or \"..\" component", shown, fix_root);
	}
	char *p = path;
	for (;;) {
		char *slash = strchr(p, '/');
		if (slash) *slash = '\0';
		if (!slash) {
			*name = p;
			return cur;
		}
		int next = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			int e = errno;
			if (e == ELOOP || e == ENOTDIR)
				die(0, "layer-fixup: refusing path \"%s\" under %s: \"%s\" is not a directory (a symlink?)", shown, fix_root, path);
			die(e, "layer-fixup: opening \"%s\" (for \"%s\") under %s", path, shown, fix_root);
		}
		close(cur);
		cur = next;
		*slash = '/';
		p = slash + 1;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static void do_xattr(int rootfd, char *path, const char *name, const char *hex)
{
	size_t hl = strlen(hex);
	if (hl % 2) die(0, "layer-fixup: xattr %s of \"%s\": odd-length hex value", name, path);
	unsigned char *val = malloc(hl / 2 + 1);
	if (!val) die(errno, "layer-fixup: malloc");
	for (size_t i = 0; i < hl / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) die(0, "layer-fixup: xattr %s of \"%s\": bad hex value", name, path);
		val[i] = (unsigned char)(hi << 4 | lo);
	}
	char *shown = strdup(path);
	if (!shown) die(errno, "layer-fixup: strdup");
	const char *last;
	int dfd = open_parent(rootfd, path, shown, &last);
	int r;
	if (last[0] == '\0') {
		r = fsetxattr(dfd, name, val, hl / 2, 0);
	} else {
		/* lsetxattr has no *at form: resolve the last component from its verified parent. */
		if (fchdir(dfd) < 0) die(errno, "layer-fixup: fchdir to the parent of \"%s\" under %s", shown, fix_root);
		r = lsetxattr(last, name, val, hl / 2, 0);
	}
	int e = errno;
	close(dfd);
	/* Like containerd: a file system without an attribute's namespace is not an error, but
	 * overlay's own markers must stick or the layer would mean something else. */
	if (r < 0 && !(e == EOPNOTSUPP && strncmp(name, "trusted.overlay.", 16) != 0))
		die(e, "layer-fixup: lsetxattr %s on \"%s\" under %s", name, shown, fix_root);
	free(shown);
	free(val);
}

static unsigned long number(const char *s, int base, const char *what, const char *path)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, base);
	if (errno || *s == '\0' || *end != '\0') die(0, "layer-fixup: mknod \"%s\": bad %s \"%s\"", path, what, s);
	return v;
}

static void do_mknod(int rootfd, char *path, const char *type, const char *maj, const char *min, const char *mode)
{
	mode_t fmt;
	if (!strcmp(type, "c")) fmt = S_IFCHR;
	else if (!strcmp(type, "b")) fmt = S_IFBLK;
	else if (!strcmp(type, "p")) fmt = S_IFIFO;
	else die(0, "layer-fixup: mknod \"%s\": unknown type \"%s\"", path, type);
	unsigned long ma = number(maj, 10, "major", path), mi = number(min, 10, "minor", path);
	unsigned long perm = number(mode, 8, "mode", path);
	if (perm > 07777 || ma > UINT_MAX || mi > UINT_MAX) die(0, "layer-fixup: mknod \"%s\": value out of range", path);
	char *shown = strdup(path);
	if (!shown) die(errno, "layer-fixup: strdup");
	const char *last;
	int dfd = open_parent(rootfd, path, shown, &last);
	if (last[0] == '\0') die(0, "layer-fixup: mknod: refusing to replace the root %s", fix_root);
	if (mknodat(dfd, last, fmt | (mode_t)perm, fmt == S_IFIFO ? 0 : makedev(ma, mi)) < 0)
		die(errno, "layer-fixup: mknod %s %s %lu %lu \"%s\" under %s", type, mode, ma, mi, shown, fix_root);
	close(dfd);
	free(shown);
}

static void ack(void)
{
	if (write(STDOUT_FILENO, "ok\n", 3) != 3) die(errno, "layer-fixup: writing the acknowledgement");
}

int layer_fixup(const char *root)
{
	fix_root = root;
	umask(0); /* modes are exactly what the layer says */
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) die(errno, "layer-fixup: opening the layer root %s", root);
	char *f[6] = { 0 };
	size_t cap[6] = { 0 };
	while (field(&f[0], &cap[0], 0)) {
		if (!strcmp(f[0], "xattr")) {
			for (int i = 1; i <= 3; i++) field(&f[i], &cap[i], 1);
			do_xattr(rootfd, f[1], f[2], f[3]);
		} else if (!strcmp(f[0], "mknod")) {
			for (int i = 1; i <= 5; i++) field(&f[i], &cap[i], 1);
			do_mknod(rootfd, f[1], f[2], f[3], f[4], f[5]);
		} else {
			die(0, "layer-fixup: unknown operation \"%s\"", f[0]);
		}
		ack();
	}
	for (int i = 0; i < 6; i++) free(f[i]);
	close(rootfd);
	return 0;
}

static void put(const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, stdout) != n) die(errno, "xattr-get: writing stdout");
}

int xattr_get(const char *name)
{
	char *path = NULL, *val = NULL;
	size_t cap = 0, vcap = 0;
	for (;;) {
		ssize_t n = getdelim(&path, &cap, '\0', stdin);
		if (n < 0) {
			if (ferror(stdin)) die(errno, "xattr-get: reading stdin");
			break;
		}
		if (path[n - 1] != '\0') die(0, "xattr-get: input ends inside a path");
		ssize_t len;
		for (;;) {
			len = lgetxattr(path, name, NULL, 0);
			if (len < 0) break;
			if ((size_t)len + 1 > vcap) {
				vcap = (size_t)len + 1;
				free(val);
				val = malloc(vcap);
				if (!val) die(errno, "xattr-get: malloc");
			}
			ssize_t got = lgetxattr(path, name, val, vcap);
			/* the value grew between the calls: ask again */
			if (got < 0 && errno == ERANGE) continue;
			len = got;
			break;
		}
		if (len < 0) {
			if (errno == ENODATA || errno == EOPNOTSUPP) continue;
			die(errno, "xattr-get: lgetxattr %s of %s", name, path);
		}
		char head[64];
		int hl = snprintf(head, sizeof head, "%zu %zd\n", strlen(path), len);
		put(head, (size_t)hl);
		put(path, strlen(path));
		put(val, (size_t)len);
	}
	if (fflush(stdout) != 0) die(errno, "xattr-get: writing stdout");
	free(path);
	free(val);
	return 0;
}
