// Reads the monitor's Docker json-file log. A line's seq is the byte position just past its
// newline (see LogEntry.seq), so every way in is a seek: a tail is found by reading back from
// the end, a resume after seq N starts reading at byte N, and neither depends on the size
// of the log.
import { statSync, watch, type FSWatcher } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
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

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

async function openLog(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Counting back from `end`: where the `n`th last complete line that decodes starts (0 when
 * there are fewer). With n = 0, where the line that `end` falls in starts, so a reader
 * starting there sees that line whole once its writer finishes it.
 */
async function lineStartBack(fh: FileHandle, end: number, n: number): Promise<number> {
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
        if (decodeLine(whole, 0, whole.length) && ++found >= n) return lo + nl + 1;
      } else if (n === 0) return lo + nl + 1;
      inLine = true;
      carry = [];
      right = nl;
    }
    if (inLine && right > 0) carry.unshift(Buffer.from(buf.subarray(0, right)));
    hi = lo;
  }
  // Fewer than n lines, or the nth is the file's first: either way the read starts at 0.
  return 0;
}

/** Complete lines from `pos` on (and not past `limit`), a chunk at a time. */
class LineReader {
  private partial = Buffer.alloc(0);
  constructor(
    /** Absolute position of the first byte not yet split into lines. */
    private pos: number,
    private readonly limit: number,
  ) {}

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
        if (d) out.push({ seq: this.pos + nl + 1, stream: d.stream, time: d.time, line: d.line });
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

/**
 * The container's log lines as `opts` asks, in the batches they were read in (one read of the
 * file each, never empty), for callers that write them out in bulk. The log's end as it is
 * when this is called (not when the first batch is asked for) is where `tail` counts back
 * from and where a reading without `follow` stops, so a caller that sets up a read and then
 * waits (an attach waiting for its container to start) misses nothing written in between.
 */
export function readLogBatches(src: LogSource, opts: LogOptions = {}): AsyncIterable<LogEntry[]> {
  return read(src, opts, sizeOf(src.path));
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

  // Watch before the first read so nothing appended in between goes unnoticed.
  // A poke that comes while the follower is reading (not waiting) is remembered, not lost.
  let wake: (() => void) | undefined;
  let poked = false;
  const poke = () => {
    poked = true;
    wake?.();
  };
  let fsw: FSWatcher | undefined;
  const watchFile = () => {
    try {
      fsw = watch(src.path, poke);
      fsw.on('error', () => {});
    } catch {
      // Not there yet: the next wake-up tries again, and the poll still finds new lines.
    }
  };
  let offChange: (() => void) | undefined;
  if (opts.follow) {
    watchFile();
    opts.signal?.addEventListener('abort', poke);
    // An exit wakes the follower at once, so it ends as soon as the last line is read.
    offChange = src.onChange?.(poke);
  }
  let fh: FileHandle | undefined;
  try {
    fh = await openLog(src.path);
    let start = 0;
    if (fh) {
      // A seq that is not a line's end (the caller made it up) still means "the lines ending after it".
      if (after) start = await lineStartBack(fh, Math.min(after, end), 0);
      const tail = opts.tail !== undefined && opts.tail >= 0 ? opts.tail : undefined;
      if (tail !== undefined) start = Math.max(start, await lineStartBack(fh, end, tail));
    }
    const reader = new LineReader(start, opts.follow ? Infinity : end);
    if (!opts.follow) {
      if (fh) yield* passing(reader.batches(fh));
      return;
    }
    for (;;) {
      if (opts.signal?.aborted) return;
      if (opts.until !== undefined && Date.now() / 1000 >= opts.until) return;
      poked = false;
      // Status first, then read: a container that stopped has written its last line already.
      const st = src.status();
      const done = st === undefined || !(st === 'running' || st === 'created' || st === 'restarting' || st === 'paused');
      fh ??= await openLog(src.path);
      if (fh) {
        if (!fsw) watchFile();
        yield* passing(reader.batches(fh));
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
    await fh?.close();
  }
}
