/*
 * The container's log in Docker's json-file format, one line per write:
 *   {"log":"<text>","stream":"stdout|stderr","time":"<RFC 3339, ns>"}
 * Valid UTF-8 passes through, anything else becomes U+FFFD (as Go's encoder does); a
 * line longer than 16 KiB is split into 16 KiB pieces, as Docker's json-file does.
 * Rotation (max-size, max-file) will live here too.
 */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int log_fd = -1;

void log_open(const char *path)
{
	log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (log_fd < 0) die(128, errno, "berth-monitor: open log %s", path);
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
	if (write_all(log_fd, out, o) < 0) { /* a full disk: nothing else to write it to */ }
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
