// Reads the monitor's Docker json-file log, across its rotated files. A line's seq is the
// byte position just past its newline in the whole log (see LogEntry.seq): once the log
// rotates, each file's start is in LOG.index (see agent/native/log.c), so every way in is a
// seek: a tail is found by reading back from the end (through as many files as its lines
// take), a resume after seq N starts at N in the file that holds it, and neither depends on
// the size of the log.
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { open, readdir, readFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ContainerStatus, LogEntry, LogOptions } from '../types';
import { decodeLine } from './json-file';

export interface LogSource {
  path: string;
  /** undefined once the container is gone. */
  status(): ContainerStatus | undefined;
  /** Calls `listener` whenever the container's state changes (it exited, say); returns the unsubscribe. */
  onChange?(listener: () => void): () => void;
}

const POLL_MS = 250;
const CHUNK = 256 << 10;
const BACK_CHUNK = 64 << 10;
const NL = 10;

/** RFC 3339 with up to nanoseconds → unix seconds, keeping the sub-millisecond digits. */
export function timeToSeconds(t: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return Date.parse(t) / 1000;
  const whole = Date.parse(m[1] + m[3]) / 1000;
  return whole + (m[2] ? Number('0.' + m[2]) : 0);
}

/** One file of the log, open, with where it starts in the whole log. */
export interface LogFile {
  fh: FileHandle;
  ino: number;
  start: number;
  /** Its size when opened: final for every file but the newest. */
  size: number;
}

/** LOG.index (see agent/native/log.c): inode → start of each kept file; undefined for a log never rotated. */
function parseIndex(text: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) m.set(Number(line.slice(0, sp)), Number(line.slice(sp + 1)));
  }
  return m;
}

function readIndexSync(path: string): Map<number, number> | undefined {
  try {
    return parseIndex(readFileSync(path + '.index', 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function readIndex(path: string): Promise<Map<number, number> | undefined> {
  try {
    return parseIndex(await readFile(path + '.index', 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Where the log ends now, counted over all its files. */
export function logEnd(path: string): number {
  // LOG's inode is in the index except for a moment of a rotation with max-file 1 (the index
  // that names LOG's successor is in place before LOG is).
  for (let attempt = 0; attempt < 5; attempt++) {
    let st;
    try {
      st = statSync(path);
    } catch {
      return 0;
    }
    const index = readIndexSync(path);
    if (!index) return st.size;
    const start = index.get(st.ino);
    if (start !== undefined) return start + st.size;
  }
  return Number.MAX_SAFE_INTEGER;
}

async function openLog(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function closeAll(files: LogFile[]): Promise<void> {
  await Promise.all(files.map((f) => f.fh.close().catch(() => {})));
}

/**
 * The log's files, oldest first, each open and placed by the index: LOG and its rotated
 * LOG.1, LOG.2 …, opened first and placed after (the monitor lists a file before any name
 * leads to it, and an open file's inode cannot be reused). A file the index no longer lists
 * is being rotated away and is left out. The names shift while a rotation runs, so a
 * listing can miss a file the index lists: then they are all opened again.
 */
export async function openFiles(path: string): Promise<LogFile[]> {
  const dir = dirname(path);
  const base = basename(path);
  const rotated = (n: string) => n.startsWith(base + '.') && /^\d+$/.test(n.slice(base.length + 1));
  let files: LogFile[] = [];
  for (let attempt = 0; ; attempt++) {
    let names: string[] = [];
    try {
      names = (await readdir(dir)).filter(rotated).sort((a, b) => Number(a.slice(base.length + 1)) - Number(b.slice(base.length + 1)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const opened = new Map<number, { fh: FileHandle; size: number; current: boolean }>();
    for (const name of [base, ...names]) {
      const fh = await openLog(join(dir, name));
      if (!fh) continue;
      const st = await fh.stat();
      if (opened.has(st.ino)) await fh.close();
      else opened.set(st.ino, { fh, size: st.size, current: name === base });
    }
    const index = await readIndex(path);
    files = [];
    for (const [ino, f] of opened) {
      // Never rotated: LOG is the whole log.
      const start = index ? index.get(ino) : f.current ? 0 : undefined;
      if (start === undefined) await f.fh.close();
      else files.push({ fh: f.fh, ino, start, size: f.size });
    }
    files.sort((a, b) => a.start - b.start);
    // A file the index lists, older than the newest opened, that was not opened: the listing
    // raced a rotation's renames. (Starts need not meet ends: a monitor that died mid-rotation
    // leaves its successor starting further on, and that is no missing file.)
    const have = new Set(files.map((f) => f.start));
    const newest = files.length ? files[files.length - 1].start : -1;
    const holes = index ? [...index.values()].filter((st) => st < newest && !have.has(st)) : [];
    if (!holes.length || attempt >= 4) {
      // Still missing one: what is left is what follows it, so no line is skipped in between.
      const after = holes.length ? Math.max(...holes) : -1;
      await closeAll(files.filter((f) => f.start < after));
      return files.filter((f) => f.start >= after);
    }
    await closeAll(files);
  }
}

/**
 * Counting back from `end` in one file: where the `n`th last complete line that decodes
 * starts, and how many such lines there are back to there (fewer than n when the file has
 * fewer: then the position is 0). With n = 0, where the line that `end` falls in starts,
 * so a reader starting there sees that line whole once its writer finishes it.
 */
async function lineStartBack(fh: FileHandle, end: number, n: number): Promise<{ pos: number; found: number }> {
  const buf = Buffer.allocUnsafe(BACK_CHUNK);
  // False while still inside the unfinished last line (bytes after the last newline before `end`).
  let inLine = false;
  // Pieces of the line being assembled that were read in later chunks (right of `hi`).
  let carry: Buffer[] = [];
  let found = 0;
  for (let hi = end; hi > 0; ) {
    const lo = Math.max(0, hi - BACK_CHUNK);
    const { bytesRead } = await fh.read(buf, 0, hi - lo, lo);
    if (bytesRead < hi - lo) throw new Error('the log shrank while it was read');
    let right = hi - lo;
    for (;;) {
      const nl = right > 0 ? buf.lastIndexOf(NL, right - 1) : -1;
      if (nl < 0) break;
      if (inLine) {
        // buf[nl + 1, right) + carry is one whole line, without its newline.
        const whole = carry.length ? Buffer.concat([buf.subarray(nl + 1, right), ...carry]) : buf.subarray(nl + 1, right);
        if (decodeLine(whole, 0, whole.length) && ++found >= n) return { pos: lo + nl + 1, found };
      } else if (n === 0) return { pos: lo + nl + 1, found };
      inLine = true;
      carry = [];
      right = nl;
    }
    if (inLine && right > 0) carry.unshift(Buffer.from(buf.subarray(0, right)));
    hi = lo;
  }
  // The file's first line counts too (a tail may go on into the file before this one).
  if (inLine && carry.length) {
    const first = Buffer.concat(carry);
    if (decodeLine(first, 0, first.length)) found++;
  }
  return { pos: 0, found };
}

/** Complete lines of one file from `pos` on (and not past `limit`), a chunk at a time. */
export class LineReader {
  private partial = Buffer.alloc(0);
  constructor(
    /** Where the file starts in the whole log: seqs count from there. */
    private readonly base: number,
    /** Position in the file of the first byte not yet split into lines. */
    private pos: number,
    private readonly limit: number,
  ) {}

  /** Where the next line starts, in the whole log. */
  get at(): number {
    return this.base + this.pos;
  }

  async *batches(fh: FileHandle): AsyncGenerator<LogEntry[]> {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const at = this.pos + this.partial.length;
      const want = Math.min(CHUNK, this.limit - at);
      if (want <= 0) return;
      const { bytesRead } = await fh.read(buf, 0, want, at);
      if (!bytesRead) return;
      const data = this.partial.length ? Buffer.concat([this.partial, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      const out: LogEntry[] = [];
      let from = 0;
      for (let nl = data.indexOf(NL); nl >= 0; nl = data.indexOf(NL, from)) {
        // A damaged line is skipped; the next one's seq does not depend on it.
        const d = decodeLine(data, from, nl);
        if (d) out.push({ seq: this.base + this.pos + nl + 1, stream: d.stream, time: d.time, line: d.line });
        from = nl + 1;
      }
      this.pos += from;
      // Copied: `buf` is reused by the next read.
      this.partial = from < data.length ? Buffer.from(data.subarray(from)) : Buffer.alloc(0);
      if (out.length) yield out;
      if (bytesRead < want) return;
    }
  }
}

/** The file `pos` falls in (the last that starts at or before it), or -1 before the first. */
export function fileAt(files: LogFile[], pos: number): number {
  let i = files.length - 1;
  while (i >= 0 && files[i].start > pos) i--;
  return i;
}

/** Where the last `n` lines before `end` start, counted back across files. */
async function tailStart(files: LogFile[], end: number, n: number): Promise<number> {
  let need = n;
  for (let i = fileAt(files, end); i >= 0; i--) {
    const f = files[i];
    // `end` was taken before the files were opened, so it is within what each file had then.
    const { pos, found } = await lineStartBack(f.fh, Math.min(end - f.start, f.size), need);
    if (found >= need) return f.start + pos;
    need -= found;
  }
  return files.length ? files[0].start : 0;
}

/**
 * The container's log lines as `opts` asks, in the batches they were read in (one read of a
 * file each, never empty), for callers that write them out in bulk. The log's end as it is
 * when this is called (not when the first batch is asked for) is where `tail` counts back
 * from and where a reading without `follow` stops, so a caller that sets up a read and then
 * waits (an attach waiting for its container to start) misses nothing written in between.
 */
export function readLogBatches(src: LogSource, opts: LogOptions = {}): AsyncIterable<LogEntry[]> {
  return read(src, opts, logEnd(src.path));
}

/** readLogBatches one line at a time. */
export function readLogs(src: LogSource, opts: LogOptions = {}): AsyncIterable<LogEntry> {
  const batches = readLogBatches(src, opts);
  return (async function* () {
    for await (const batch of batches) yield* batch;
  })();
}

async function* read(src: LogSource, opts: LogOptions, end: number): AsyncGenerator<LogEntry[]> {
  const wantOut = opts.stdout ?? true;
  const wantErr = opts.stderr ?? true;
  const after = opts.afterSeq !== undefined && opts.afterSeq > 0 ? opts.afterSeq : 0;
  const pass = (e: LogEntry) => {
    if (e.seq <= after) return false;
    if (e.stream === 'stdout' ? !wantOut : !wantErr) return false;
    if (opts.since !== undefined || opts.until !== undefined) {
      const t = timeToSeconds(e.time);
      if (opts.since !== undefined && t < opts.since) return false;
      if (opts.until !== undefined && t >= opts.until) return false;
    }
    return true;
  };
  async function* passing(batches: AsyncIterable<LogEntry[]>): AsyncGenerator<LogEntry[]> {
    for await (const batch of batches) {
      const ok = batch.filter(pass);
      if (ok.length) yield ok;
    }
  }
  if (opts.signal?.aborted) return;

  // Watch before the first read so nothing appended in between goes unnoticed. The directory
  // is watched, not the file: after a rotation the lines go to a new file under the same name.
  // A poke that comes while the follower is reading (not waiting) is remembered, not lost.
  let wake: (() => void) | undefined;
  let poked = false;
  const poke = () => {
    poked = true;
    wake?.();
  };
  const base = basename(src.path);
  let fsw: FSWatcher | undefined;
  const watchDir = () => {
    try {
      fsw = watch(dirname(src.path), (_ev, name) => {
        if (!name || name === base || name.startsWith(base + '.')) poke();
      });
      fsw.on('error', () => {});
    } catch {
      // Not there yet: the next wake-up tries again, and the poll still finds new lines.
    }
  };
  let offChange: (() => void) | undefined;
  if (opts.follow) {
    watchDir();
    opts.signal?.addEventListener('abort', poke);
    // An exit wakes the follower at once, so it ends as soon as the last line is read.
    offChange = src.onChange?.(poke);
  }
  // The files from the one being read on; each is closed once read past.
  let files: LogFile[] = [];
  try {
    files = await openFiles(src.path);
    let start = files.length ? files[0].start : 0;
    // A seq that is not a line's end (the caller made it up) still means "the lines ending after it".
    if (after && files.length) {
      const at = Math.min(after, end);
      const i = fileAt(files, at);
      if (i >= 0) start = Math.max(start, files[i].start + (await lineStartBack(files[i].fh, Math.min(at - files[i].start, files[i].size), 0)).pos);
    }
    const tail = opts.tail !== undefined && opts.tail >= 0 ? opts.tail : undefined;
    if (tail !== undefined) start = Math.max(start, await tailStart(files, end, tail));
    const first = Math.max(0, fileAt(files, start));
    await closeAll(files.slice(0, first));
    files = files.slice(first);

    if (!opts.follow) {
      for (const f of files) {
        if (f.start >= end) break;
        yield* passing(new LineReader(f.start, Math.max(0, start - f.start), end - f.start).batches(f.fh));
      }
      return;
    }

    let reader = files.length ? new LineReader(files[0].start, Math.max(0, start - files[0].start), Infinity) : undefined;
    // Where reading goes on when the files held were read to their end.
    let next = start;
    for (;;) {
      if (opts.signal?.aborted) return;
      if (opts.until !== undefined && Date.now() / 1000 >= opts.until) return;
      poked = false;
      // Status first, then read: a container that stopped has written its last line already.
      const st = src.status();
      const done = st === undefined || !(st === 'running' || st === 'created' || st === 'restarting' || st === 'paused');
      if (!fsw) watchDir();
      for (;;) {
        if (!reader) {
          files = await openFiles(src.path);
          // Files that end at or before `next` were read (a gap past it: lines rotated away unread).
          const keep = files.filter((f, i) => f.start + f.size > next || i === files.length - 1);
          await closeAll(files.filter((f) => !keep.includes(f)));
          files = keep;
          if (!files.length) break;
          reader = new LineReader(files[0].start, Math.max(0, next - files[0].start), Infinity);
        }
        yield* passing(reader.batches(files[0].fh));
        if (files.length > 1) {
          // An older file, read to its end: on to the next.
          await files[0].fh.close();
          files.shift();
          reader = new LineReader(files[0].start, 0, Infinity);
          continue;
        }
        // The newest file held: is it still the one the monitor writes?
        let ino: number | undefined;
        try {
          ino = statSync(src.path).ino;
        } catch {
          ino = undefined;
        }
        if (ino === undefined || ino === files[0].ino) break;
        // Rotated: nothing more goes into it, so what is left of it is read, then its successors.
        yield* passing(reader.batches(files[0].fh));
        next = reader.at;
        await closeAll(files);
        files = [];
        reader = undefined;
      }
      if (done) return;
      await new Promise<void>((resolve) => {
        if (poked) return resolve();
        const timer = setTimeout(() => {
          wake = undefined;
          resolve();
        }, POLL_MS);
        wake = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        };
      });
    }
  } finally {
    fsw?.close();
    offChange?.();
    opts.signal?.removeEventListener('abort', poke);
    await closeAll(files);
  }
}
