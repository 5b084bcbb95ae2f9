// Reads the monitor's Docker json-file log. seq is the 1-based line number in the file, so
// a reader that saw seq N resumes with afterSeq N and misses nothing.
import { watch, type FSWatcher } from 'node:fs';
import { open } from 'node:fs/promises';
import type { ContainerStatus, LogEntry, LogOptions } from '../types';

export interface LogSource {
  path: string;
  /** undefined once the container is gone. */
  status(): ContainerStatus | undefined;
  /** Calls `listener` whenever the container's state changes (it exited, say); returns the unsubscribe. */
  onChange?(listener: () => void): () => void;
}

const POLL_MS = 250;
const CHUNK = 1 << 20;

/** RFC 3339 with up to nanoseconds → unix seconds, keeping the sub-millisecond digits. */
export function timeToSeconds(t: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return Date.parse(t) / 1000;
  const whole = Date.parse(m[1] + m[3]) / 1000;
  return whole + (m[2] ? Number('0.' + m[2]) : 0);
}

interface Raw {
  log: string;
  stream: string;
  time: string;
}

class LineReader {
  private offset = 0;
  private partial = Buffer.alloc(0);
  seq = 0;
  constructor(
    private path: string,
    /** Lines up to this seq are counted but not decoded. */
    private skipThrough = 0,
  ) {}

  /** Complete lines appended since the last call, a chunk at a time; nothing when the file is gone. */
  async *batches(): AsyncGenerator<LogEntry[]> {
    let fh;
    try {
      fh = await open(this.path, 'r');
    } catch {
      return;
    }
    try {
      const buf = Buffer.allocUnsafe(CHUNK);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, CHUNK, this.offset);
        if (!bytesRead) break;
        this.offset += bytesRead;
        let data = this.partial.length ? Buffer.concat([this.partial, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
        const out: LogEntry[] = [];
        let nl: number;
        while ((nl = data.indexOf(10)) >= 0) {
          const raw = data.subarray(0, nl);
          data = data.subarray(nl + 1);
          if (++this.seq <= this.skipThrough) continue;
          try {
            const r = JSON.parse(raw.toString('utf8')) as Raw;
            out.push({ seq: this.seq, stream: r.stream === 'stderr' ? 'stderr' : 'stdout', time: r.time, line: r.log });
          } catch {
            // A damaged line keeps its number so later seqs stay stable.
          }
        }
        this.partial = Buffer.from(data);
        if (out.length) yield out;
        if (bytesRead < CHUNK) break;
      }
    } finally {
      await fh.close();
    }
  }
}

export async function* readLogs(src: LogSource, opts: LogOptions = {}): AsyncGenerator<LogEntry> {
  const wantOut = opts.stdout ?? true;
  const wantErr = opts.stderr ?? true;
  const pass = (e: LogEntry) => {
    if (opts.afterSeq !== undefined && e.seq <= opts.afterSeq) return false;
    if (e.stream === 'stdout' ? !wantOut : !wantErr) return false;
    if (opts.since !== undefined || opts.until !== undefined) {
      const t = timeToSeconds(e.time);
      if (opts.since !== undefined && t < opts.since) return false;
      if (opts.until !== undefined && t >= opts.until) return false;
    }
    return true;
  };
  const reader = new LineReader(src.path, opts.afterSeq ?? 0);
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
  const onAbort = poke;
  let offChange: (() => void) | undefined;
  if (opts.follow) {
    try {
      fsw = watch(src.path, poke);
      fsw.on('error', () => {});
    } catch {
      // The poll still finds new lines.
    }
    opts.signal?.addEventListener('abort', onAbort);
    // An exit wakes the follower at once, so it ends as soon as the last line is read.
    offChange = src.onChange?.(poke);
  }
  try {
    const tail = opts.tail !== undefined && opts.tail >= 0 ? opts.tail : undefined;
    // With a tail only the last N are kept while reading, so a big log never sits in memory whole.
    let kept: LogEntry[] = [];
    for await (const batch of reader.batches()) {
      const ok = batch.filter(pass);
      if (tail === undefined) {
        for (const e of ok) yield e;
      } else if (tail > 0) {
        kept = kept.concat(ok);
        if (kept.length > tail * 2 + 1024) kept = kept.slice(-tail);
      }
    }
    if (tail) for (const e of kept.slice(-tail)) yield e;
    if (!opts.follow) return;

    for (;;) {
      if (opts.signal?.aborted) return;
      if (opts.until !== undefined && Date.now() / 1000 >= opts.until) return;
      poked = false;
      // Status first, then read: a container that stopped has written its last line already.
      const st = src.status();
      const done = st === undefined || !(st === 'running' || st === 'created' || st === 'restarting' || st === 'paused');
      for await (const batch of reader.batches()) for (const e of batch) if (pass(e)) yield e;
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
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
