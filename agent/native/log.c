/*
 * The container's log in Docker's json-file format, one line per write:
 *   {"log":"<text>","stream":"stdout|stderr","time":"<RFC 3339, ns>"}
 * Valid UTF-8 passes through, anything else becomes U+FFFD (as Go's encoder does); a
 * line longer than 16 KiB is split into 16 KiB pieces, as Docker's json-file does.
 *
 * Rotation (log_max_size=, log_max_file=) as Docker's json-file does it: before a line is
 * written, a file that has reached max-size is rotated: LOG becomes LOG.1, LOG.1 LOG.2 …,
 * and the oldest beyond max-file goes (with max-file 1 the file is simply replaced). A
 * line never spans two files. Readers count a line's seq as its end in the container's
 * whole log, so each kept file's start in it is recorded in LOG.index: one line
 * "<inode> <start>" per kept file, oldest first, replaced by rename. The inode names the
 * file whatever name it has at the moment. Order of a rotation, so that a reader that
 * opens files and then reads the index always finds the files it holds (but perhaps the
 * oldest, which it then treats as gone): the new file is made as LOG.next, the index that
 * lists it is renamed in, the old files shift, LOG.1 is linked to LOG (so LOG never goes
 * missing) and LOG.next is renamed over LOG. Nothing is written to the old file after
 * that, so a follower that sees LOG name another inode can read its file to the end and
 * move on.
 *
 * A line that cannot be written (a full disk) is not half written: the file is cut back
 * to where it was, so every line in it stays whole. It is counted in the state dir's
 * `log-dropped`: "<seq> <count>\n" per place in the log where lines are missing (seq: the
 * log's end when they were dropped, so they belong after the line with that seq; 0: at
 * the start), oldest first, at most DROP_PLACES of them (the oldest places merge into the
 * second oldest when more come). The file is made at log_open at its full size and then
 * only overwritten, so that keeping the count takes no space the disk no longer has.
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int log_fd = -1;
static const char *log_path;
/* Where the current file starts in the whole log, and its size (kept here, not asked of
 * the kernel each line). */
static unsigned long long log_start, log_size;
struct kept { unsigned long long ino, start; };
static struct kept *kept; /* oldest first; the last is the current file */
static int nkept;

#define DROP_FILE "log-dropped"
#define DROP_SIZE 2048
#define DROP_PLACES 64
static int drop_fd = -1;
static struct { unsigned long long seq, count; } drops[DROP_PLACES];
static int ndrops;

/* A failed rotation loses nothing (the current file grows on), but says why in the state dir. */
static void rotate_failed(const char *what, const char *path)
{
	char msg[PATH_MAX + 256];
	snprintf(msg, sizeof msg, "berth-monitor: log rotation: %s %s: %s\n", what, path, strerror(errno));
	if (write_atomic("log-error", msg) < 0) { /* nowhere else to say it */ }
}

static int write_index(void)
{
	char path[PATH_MAX], tmp[PATH_MAX], line[64];
	snprintf(path, sizeof path, "%s.index", log_path);
	snprintf(tmp, sizeof tmp, "%s.index.tmp", log_path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) { rotate_failed("create", tmp); return -1; }
	for (int i = 0; i < nkept; i++) {
		int k = snprintf(line, sizeof line, "%llu %llu\n", kept[i].ino, kept[i].start);
		if (write_all(fd, line, (size_t)k) < 0) { rotate_failed("write", tmp); close(fd); return -1; }
	}
	if (close(fd) < 0) { rotate_failed("close", tmp); return -1; }
	if (rename(tmp, path) < 0) { rotate_failed("rename to", path); return -1; }
	return 0;
}

static void keep(unsigned long long ino, unsigned long long start)
{
	kept = xrealloc(kept, sizeof *kept * (size_t)(nkept + 1));
	kept[nkept].ino = ino;
	kept[nkept++].start = start;
}

/* The kept files as the index lists them, when the current file is among them (a start
 * after a stop); otherwise the current file starts after the last file the index knows. */
static void load_index(unsigned long long ino)
{
	char path[PATH_MAX], name[PATH_MAX];
	snprintf(path, sizeof path, "%s.index", log_path);
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno != ENOENT) die(128, errno, "berth-monitor: open %s", path);
		keep(ino, 0);
		return;
	}
	unsigned long long i, s, end = 0;
	int found = 0;
	while (fscanf(f, "%llu %llu\n", &i, &s) == 2) {
		keep(i, s);
		if (i == ino) { found = 1; break; }
	}
	fclose(f);
	if (found) return;
	/* Not listed (a monitor died mid-rotation, or the index was damaged): seqs must still
	 * only grow, so the current file starts past everything the index knows of. */
	for (int j = 0; j < nkept; j++)
		if (kept[j].start > end) end = kept[j].start;
	for (int k = 1; k < cf.log_max_file; k++) {
		struct stat st;
		snprintf(name, sizeof name, "%s.%d", log_path, k);
		if (stat(name, &st) < 0) continue;
		for (int j = 0; j < nkept; j++)
			if (kept[j].ino == (unsigned long long)st.st_ino && kept[j].start + (unsigned long long)st.st_size > end)
				end = kept[j].start + (unsigned long long)st.st_size;
	}
	nkept = 0;
	keep(ino, end);
}

/* The count file at its full size, blank: what a failed write updates in place later. */
static void drops_open(void)
{
	char blank[DROP_SIZE];
	memset(blank, '\n', sizeof blank);
	drop_fd = open(DROP_FILE, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (drop_fd < 0) die(128, errno, "berth-monitor: create %s", DROP_FILE);
	if (write_all(drop_fd, blank, sizeof blank) < 0) die(128, errno, "berth-monitor: write %s", DROP_FILE);
}

static void drops_record(unsigned long long seq)
{
	char buf[DROP_SIZE];
	size_t o = 0;
	if (ndrops && drops[ndrops - 1].seq == seq) drops[ndrops - 1].count++;
	else {
		if (ndrops == DROP_PLACES) {
			drops[1].count += drops[0].count;
			drops[1].seq = drops[0].seq;
			memmove(drops, drops + 1, sizeof drops[0] * (DROP_PLACES - 1));
			ndrops--;
		}
		drops[ndrops].seq = seq;
		drops[ndrops++].count = 1;
	}
	memset(buf, '\n', sizeof buf);
	for (int i = 0; i < ndrops; i++) o += (size_t)snprintf(buf + o, sizeof buf - o, "%llu %llu\n", drops[i].seq, drops[i].count);
	/* In place, one write: the agent reads either the old counts or the new ones. */
	if (drop_fd >= 0 && pwrite(drop_fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) {
		char msg[256];
		snprintf(msg, sizeof msg, "berth-monitor: update %s: %s\n", DROP_FILE, strerror(errno));
		if (write_atomic("log-error", msg) < 0) { /* nowhere else to say it */ }
	}
}

void log_open(const char *path)
{
	struct stat st;
	log_path = path;
	drops_open();
	log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (log_fd < 0 || fstat(log_fd, &st) < 0) die(128, errno, "berth-monitor: open log %s", path);
	log_size = (unsigned long long)st.st_size;
	if (cf.log_max_size <= 0) return;
	load_index((unsigned long long)st.st_ino);
	log_start = kept[nkept - 1].start;
	if (write_index() < 0) die(128, errno, "berth-monitor: write %s.index", path);
}

static void rotate(void)
{
	char next[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	struct stat st;
	snprintf(next, sizeof next, "%s.next", log_path);
	if (unlink(next) < 0 && errno != ENOENT) { rotate_failed("remove", next); return; }
	int fd = open(next, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0) { rotate_failed("create", next); return; }
	if (fstat(fd, &st) < 0) { rotate_failed("stat", next); close(fd); unlink(next); return; }
	struct kept *old = kept;
	int nold = nkept;
	/* The new index: the newest max-file - 1 files and the new one. */
	int drop = nkept - (cf.log_max_file - 1);
	if (drop < 0) drop = 0;
	kept = NULL;
	nkept = 0;
	for (int i = drop; i < nold; i++) keep(old[i].ino, old[i].start);
	keep((unsigned long long)st.st_ino, log_start + log_size);
	if (write_index() < 0) {
		free(kept);
		kept = old;
		nkept = nold;
		close(fd);
		unlink(next);
		return;
	}
	free(old);
	if (cf.log_max_file >= 2) {
		snprintf(to, sizeof to, "%s.%d", log_path, cf.log_max_file - 1);
		if (unlink(to) < 0 && errno != ENOENT) rotate_failed("remove", to);
		/* Only names that can exist: X.1 … X.(files kept - 1). */
		int top = nold < cf.log_max_file - 1 ? nold : cf.log_max_file - 1;
		for (int i = top; i >= 2; i--) {
			snprintf(from, sizeof from, "%s.%d", log_path, i - 1);
			snprintf(to, sizeof to, "%s.%d", log_path, i);
			if (rename(from, to) < 0 && errno != ENOENT) rotate_failed("rename", from);
		}
		snprintf(to, sizeof to, "%s.1", log_path);
		if (link(log_path, to) < 0) rotate_failed("link to", to);
	}
	if (rename(next, log_path) < 0) {
		/* Lines in a file no name leads to would be lost to readers: the old file goes on
		 * (the files kept are the old ones now, the oldest dropped; LOG.1 is LOG again). */
		rotate_failed("rename to", log_path);
		nkept--;
		if (write_index() < 0) { /* it still lists the new file, which is never written */ }
		close(fd);
		unlink(next);
		return;
	}
	close(log_fd);
	log_fd = fd;
	log_start += log_size;
	log_size = 0;
}

static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF) len = 2;
	else if (c >= 0xE0 && c <= 0xEF) { len = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
	else if (c >= 0xF0 && c <= 0xF4) { len = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
	else return 0;
	if (n < len || p[1] < lo || p[1] > hi) return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xBF) return 0;
	return len;
}

void log_line(const char *stream, const char *data, size_t n)
{
	static char out[LOG_LINE_MAX * 6 + 256];
	char ts[64];
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)data;
	if (log_fd < 0) return;
	if (cf.log_max_size > 0 && log_size >= (unsigned long long)cf.log_max_size) rotate();
	if (n > LOG_LINE_MAX) n = LOG_LINE_MAX;
	o += (size_t)sprintf(out, "{\"log\":\"");
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c >= 0x80) {
			size_t l = utf8_len(p + i, n - i);
			if (l) { memcpy(out + o, p + i, l); o += l; i += l; }
			else { memcpy(out + o, "\\ufffd", 6); o += 6; i++; }
			continue;
		}
		switch (c) {
		case '"': out[o++] = '\\'; out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; out[o++] = '\\'; break;
		case '\n': out[o++] = '\\'; out[o++] = 'n'; break;
		case '\r': out[o++] = '\\'; out[o++] = 'r'; break;
		case '\t': out[o++] = '\\'; out[o++] = 't'; break;
		default:
			if (c < 0x20 || c == 0x7f) o += (size_t)sprintf(out + o, "\\u%04x", c);
			else out[o++] = (char)c;
		}
		i++;
	}
	now_rfc3339(ts, sizeof ts);
	o += (size_t)sprintf(out + o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream, ts);
	/* One write per line under O_APPEND keeps lines whole even if a reader races us. */
	if (write_all(log_fd, out, o) == 0) {
		log_size += o;
		return;
	}
	/* A full disk: the part that landed goes again, so the next line does not run on from
	 * half of this one; the line is counted as dropped. */
	if (ftruncate(log_fd, (off_t)log_size) < 0) {
		struct stat st;
		if (fstat(log_fd, &st) == 0) log_size = (unsigned long long)st.st_size;
	}
	drops_record(log_start + log_size);
}

void log_feed(struct stream *s, const char *p, size_t n)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) + 1 : n;
		if (s->len + take > LOG_LINE_MAX) take = LOG_LINE_MAX - s->len;
		memcpy(s->buf + s->len, p, take);
		s->len += take;
		p += take;
		n -= take;
		if (s->buf[s->len - 1] == '\n' || s->len == LOG_LINE_MAX) {
			log_line(s->name, s->buf, s->len);
			s->len = 0;
		}
	}
}

void log_flush(struct stream *s)
{
	if (s->len) log_line(s->name, s->buf, s->len);
	s->len = 0;
}
