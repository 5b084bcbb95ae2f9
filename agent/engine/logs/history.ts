// Pages of a log's history, by seq or by time, across all its rotated files. Every way in is
// a seek: "before N" reads back from N, "after N" on from N, and a time is found by binary
// search (first over the files by their first line, then over byte offsets in one file),
// so opening a page costs the same in a log of a thousand lines or of a billion.
import type { FileHandle } from 'node:fs/promises';
import type { LogEntry } from '../types';
import { decodeLine } from './json-file';
import { closeAll, fileAt, LineReader, logEnd, openFiles, timeToSeconds, type LogFile } from './index';
import { LOG_PAGE_DEFAULT } from '../../../protocol/log-limits';
import type { LogFilter, LogPage } from '../../../protocol/logs';

const NL = 10;
const BACK_CHUNK = 64 << 10;
/** Below this many bytes a time search reads on instead of halving again. */
const SCAN_SPAN = 64 << 10;

export interface PageRequest extends LogFilter {
  before?: number;
  after?: number;
  around?: number;
  at?: number;
  limit?: number;
}

/** A log's files open for one read, and where the log ended when it was opened. */
export interface OpenLog {
  files: LogFile[];
  /** Where the kept history starts (the oldest kept file's start). */
  start: number;
  end: number;
}

export async function openLogForRead(path: string): Promise<OpenLog> {
  // The end first, so each file holds at least up to it.
  const end0 = logEnd(path);
  const files = await openFiles(path);
  const last = files[files.length - 1];
  const end = last ? Math.min(end0, last.start + last.size) : 0;
  return { files, start: files.length ? files[0].start : 0, end };
}

/**
 * The complete lines of one file that end at or before `endPos` (a position in the file),
 * newest first, a chunk at a time. Bytes after the last newline before `endPos` (a line
 * still being written) are left out.
 */
export async function* linesBackward(f: LogFile, endPos: number): AsyncGenerator<LogEntry[]> {
  const buf = Buffer.allocUnsafe(BACK_CHUNK);
  // Bytes from `hi` on that belong to a line whose start is not read yet.
  let rest: Buffer = Buffer.alloc(0);
  let trimmed = false;
  let hi = Math.min(endPos, f.size);
  while (hi > 0) {
    const lo = Math.max(0, hi - BACK_CHUNK);
    const { bytesRead } = await f.fh.read(buf, 0, hi - lo, lo);
    if (bytesRead < hi - lo) throw new Error('the log shrank while it was read');
    let data = rest.length ? Buffer.concat([buf.subarray(0, hi - lo), rest]) : buf.subarray(0, hi - lo);
    if (!trimmed) {
      const nl = data.lastIndexOf(NL);
      if (nl < 0) {
        rest = Buffer.from(data);
        hi = lo;
        continue;
      }
      data = data.subarray(0, nl + 1);
      trimmed = true;
    }
    const out: LogEntry[] = [];
    // data[0, right) ends with a newline; its last line is data[nl + 1, right - 1).
    let right = data.length;
    for (;;) {
      const nl = right >= 2 ? data.lastIndexOf(NL, right - 2) : -1;
      if (nl < 0) break;
      const d = decodeLine(data, nl + 1, right - 1);
      if (d) out.push({ seq: f.start + lo + right, stream: d.stream, time: d.time, line: d.line });
      right = nl + 1;
    }
    rest = Buffer.from(data.subarray(0, right));
    hi = lo;
    if (lo === 0 && right > 0) {
      // The file's first line.
      const d = decodeLine(data, 0, right - 1);
      if (d) out.push({ seq: f.start + right, stream: d.stream, time: d.time, line: d.line });
      rest = Buffer.alloc(0);
    }
    if (out.length) yield out;
  }
}

/** Lines ending before `pos` (a position in the whole log), newest first, across files. */
async function* backwardFrom(log: OpenLog, pos: number): AsyncGenerator<LogEntry[]> {
  for (let i = log.files.length - 1; i >= 0; i--) {
    const f = log.files[i];
    if (f.start >= pos) continue;
    yield* linesBackward(f, Math.min(pos - f.start, log.end - f.start));
  }
}

/** Lines starting at or after `pos` (a line start in the whole log), oldest first, to the log's end as opened. */
async function* forwardFrom(log: OpenLog, pos: number): AsyncGenerator<LogEntry[]> {
  for (let i = Math.max(0, fileAt(log.files, pos)); i < log.files.length; i++) {
    const f = log.files[i];
    if (f.start >= log.end) break;
    yield* new LineReader(f.start, Math.max(0, pos - f.start), log.end - f.start).batches(f.fh);
  }
}

/** The line that starts at or after `pos` in one file: its start and its time, or undefined past the last. */
async function lineFrom(fh: FileHandle, pos: number, size: number): Promise<{ start: number; t: number } | undefined> {
  const buf = Buffer.allocUnsafe(BACK_CHUNK);
  let start = pos;
  if (pos > 0) {
    // The line `pos` falls in ends at the first newline at or after pos - 1.
    for (let at = pos - 1; ; at += buf.length) {
      if (at >= size) return undefined;
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - at), at);
      if (!bytesRead) return undefined;
      const nl = buf.subarray(0, bytesRead).indexOf(NL);
      if (nl >= 0) {
        start = at + nl + 1;
        break;
      }
    }
  }
  // Whole lines from `start` until one decodes (a damaged line has no time to compare).
  let pieces: Buffer[] = [];
  for (let at = start, lineStart = start; at < size; ) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - at), at);
    if (!bytesRead) return undefined;
    let from = 0;
    const chunk = buf.subarray(0, bytesRead);
    for (let nl = chunk.indexOf(NL); nl >= 0; nl = chunk.indexOf(NL, from)) {
      const line = pieces.length ? Buffer.concat([...pieces, chunk.subarray(from, nl)]) : chunk.subarray(from, nl);
      pieces = [];
      const d = decodeLine(line, 0, line.length);
      if (d) return { start: lineStart, t: timeToSeconds(d.time) };
      lineStart = at + nl + 1;
      from = nl + 1;
    }
    pieces.push(Buffer.from(chunk.subarray(from)));
    at += bytesRead;
  }
  return undefined;
}

/**
 * Where the first line at or after time `t` starts, in the whole log (the log's end when
 * there is none): the lines after that position are the ones from `t` on. Lines are in time
 * order (each is stamped as the monitor reads it), which is what makes the halving right.
 */
export async function seekTime(log: OpenLog, t: number): Promise<number> {
  const { files } = log;
  // The last file whose first line is before t: the first line at or after t is in it or starts the next.
  let lo = 0;
  let hi = files.length - 1;
  let fi = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const first = await lineFrom(files[mid].fh, 0, Math.min(files[mid].size, log.end - files[mid].start));
    if (first && first.t < t) {
      fi = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (fi < 0) return log.start;
  const f = files[fi];
  const size = Math.min(f.size, log.end - f.start);
  // In the file: the line at `a` (a line start) is before t; the first line at or after `b` is not (or there is none).
  let a = 0;
  let b = size;
  while (b - a > SCAN_SPAN) {
    const mid = a + Math.floor((b - a) / 2);
    const l = await lineFrom(f.fh, mid, size);
    if (!l || l.start >= b || l.t >= t) b = mid;
    else a = l.start;
  }
  // Read on from `a` to the first line at or after t.
  let prev = a;
  for await (const batch of new LineReader(f.start, a, size).batches(f.fh)) {
    for (const e of batch) {
      if (timeToSeconds(e.time) >= t) return f.start + prev;
      prev = e.seq - f.start;
    }
  }
  return f.start + size;
}

function filterOf(req: LogFilter): (e: LogEntry) => boolean {
  const wantOut = req.stdout ?? true;
  const wantErr = req.stderr ?? true;
  return (e) => {
    if (e.stream === 'stdout' ? !wantOut : !wantErr) return false;
    if (req.since !== undefined || req.until !== undefined) {
      const t = timeToSeconds(e.time);
      if (req.since !== undefined && t < req.since) return false;
      if (req.until !== undefined && t >= req.until) return false;
    }
    return true;
  };
}

/** Up to `n` passing lines before `pos`, oldest first, and whether there are more before them. */
async function pageBack(log: OpenLog, pos: number, n: number, pass: (e: LogEntry) => boolean, floor: number): Promise<{ entries: LogEntry[]; more: boolean }> {
  const out: LogEntry[] = [];
  if (n <= 0) return { entries: out, more: pos > floor };
  outer: for await (const batch of backwardFrom(log, pos)) {
    for (const e of batch) {
      if (e.seq > pos) continue;
      // Lines before the range's start: nothing more to find.
      if (e.seq <= floor) break outer;
      if (!pass(e)) continue;
      if (out.length === n) return { entries: out.reverse(), more: true };
      out.push(e);
    }
  }
  return { entries: out.reverse(), more: false };
}

/** Up to `n` passing lines after `pos` (lines with seq > pos), oldest first, and whether there are more after them. */
async function pageForward(log: OpenLog, pos: number, n: number, pass: (e: LogEntry) => boolean, ceiling: number): Promise<{ entries: LogEntry[]; more: boolean }> {
  const out: LogEntry[] = [];
  // `pos` may be a seq (a line's end: the next line starts there) or any position inside a line.
  const start = await lineStartAtOrAfter(log, pos);
  for await (const batch of forwardFrom(log, start)) {
    for (const e of batch) {
      if (e.seq <= pos) continue;
      // Past the range's end (a line that starts at or after `ceiling` is at or after until).
      if (e.seq > ceiling) return { entries: out, more: false };
      if (!pass(e)) continue;
      if (out.length === n) return { entries: out, more: true };
      out.push(e);
    }
  }
  return { entries: out, more: false };
}

/** The start of the first line that ends after `pos`. */
async function lineStartAtOrAfter(log: OpenLog, pos: number): Promise<number> {
  if (pos <= log.start) return log.start;
  const i = fileAt(log.files, pos);
  if (i < 0) return log.start;
  const f = log.files[i];
  const rel = pos - f.start;
  if (rel === 0) return pos;
  // Back to the line start at or before `pos`; a line ending exactly at pos is left out by the caller.
  const buf = Buffer.allocUnsafe(BACK_CHUNK);
  for (let hi = rel; hi > 0; ) {
    const lo = Math.max(0, hi - BACK_CHUNK);
    const { bytesRead } = await f.fh.read(buf, 0, hi - lo, lo);
    const nl = buf.subarray(0, bytesRead).lastIndexOf(NL);
    if (nl >= 0) return f.start + lo + nl + 1;
    hi = lo;
  }
  return f.start;
}

/** One page of the log at `path` (see protocol/logs.ts LogPageRequest for what each way in means). */
export async function readPage(path: string, req: PageRequest): Promise<Omit<LogPage, 'containerId' | 'name'>> {
  const limit = req.limit ?? LOG_PAGE_DEFAULT;
  const log = await openLogForRead(path);
  try {
    const pass = filterOf(req);
    // The range as positions: lines after `floor` and ending at most at `ceiling`.
    const floor = req.since !== undefined ? await seekTime(log, req.since) : log.start;
    const ceiling = req.until !== undefined ? await seekTime(log, req.until) : log.end;
    const base = { startSeq: log.start, endSeq: log.end };
    if (req.after !== undefined || req.at !== undefined) {
      const from = req.at !== undefined ? Math.max(floor, await seekTime(log, req.at)) : Math.max(floor, req.after!);
      const { entries, more } = await pageForward(log, from, limit, pass, ceiling);
      return { ...base, entries, hasAfter: more, hasBefore: from > floor };
    }
    if (req.around !== undefined) {
      const at = Math.min(Math.max(req.around, floor), ceiling);
      // The line with seq `around` and what comes before it, then the rest after it.
      const back = await pageBack(log, at, Math.ceil(limit / 2), pass, floor);
      const fwd = await pageForward(log, at, limit - back.entries.length, pass, ceiling);
      return { ...base, entries: [...back.entries, ...fwd.entries], hasBefore: back.more, hasAfter: fwd.more };
    }
    const to = req.before !== undefined ? Math.min(ceiling, req.before - 1) : ceiling;
    const { entries, more } = await pageBack(log, to, limit, pass, floor);
    return { ...base, entries, hasBefore: more, hasAfter: to < ceiling || (req.until !== undefined ? false : to < log.end) };
  } finally {
    await closeAll(log.files);
  }
}
