// The lines a log view holds, kept compact so a million of them fit a tab: numbers in
// typed arrays, the text as one string per line (ASCII text is one byte a character in
// V8). Lines come in at either end (the live tail at the back, older pages at the front),
// with room kept at both ends so either costs amortized O(1).
import { looksLikeContinuation, CONTINUATION_GAP_MS } from './log-lines';

export interface LogSource {
  /** The container's id (a removed container's kept log has one too). */
  containerId: string;
  /** Its name, as the prefix shows it. */
  name: string;
  hostId: string;
  hostName?: string;
}

export interface StoreLine {
  seq: number;
  stream: 'stdout' | 'stderr';
  time: string;
  line: string;
  /** The time in ms (and the nanoseconds past it) when already known: they win over `time`. */
  timeMs?: number;
  nanos?: number;
  /** Index of the line's source in `sources` (0 for a single container's log). */
  source?: number;
}

export const MAX_STORE_LINES = 2_000_000;

/** The nanoseconds of an RFC 3339 time past its millisecond ("…:05.123456789Z" → 456789). */
export function subMilliNanos(time: string): number {
  const m = /\.(\d+)/.exec(time);
  if (!m || m[1].length <= 3) return 0;
  return Number((m[1] + '000000000').slice(3, 9));
}

function grow<T extends Float64Array | Uint8Array | Uint16Array | Uint32Array>(a: T, cap: number, head: number, len: number, newHead: number): T {
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a.subarray(head, head + len), newHead);
  return b;
}

export class LogStore {
  private seqs = new Float64Array(1024);
  private times = new Float64Array(1024);
  private streams = new Uint8Array(1024);
  private srcs = new Uint16Array(1024);
  /** Nanoseconds past the millisecond, so a line's time is known exactly enough to name a range by it. */
  private nanos = new Uint32Array(1024);
  private texts: (string | undefined)[] = new Array(1024);
  private head = 512;
  private len = 0;
  /** Bumped on every change, so views know to look again. */
  version = 0;
  /** Lines dropped at either end because the store was full, for the view to say so. */
  dropped = 0;
  /** Bumped when lines change anywhere but at the end (older lines in front, a drop, a reset): a view lays out again. */
  epoch = 0;
  /** Bumped when lines are taken off the end (a merged view re-sorting its newest lines), with the length left. */
  cuts = 0;
  cutLen = 0;
  readonly sources: LogSource[] = [];

  constructor(readonly max = MAX_STORE_LINES) {}

  get length(): number {
    return this.len;
  }

  sourceIndex(src: LogSource): number {
    const i = this.sources.findIndex((s) => s.containerId === src.containerId && s.hostId === src.hostId);
    if (i >= 0) return i;
    this.sources.push(src);
    return this.sources.length - 1;
  }

  private ensure(front: number, back: number): void {
    const cap = this.seqs.length;
    if (this.head >= front && this.head + this.len + back <= cap) return;
    const need = this.len + front + back;
    const newCap = Math.max(1024, need * 2);
    const newHead = front + Math.floor((newCap - need) / 2);
    this.seqs = grow(this.seqs, newCap, this.head, this.len, newHead);
    this.times = grow(this.times, newCap, this.head, this.len, newHead);
    this.streams = grow(this.streams, newCap, this.head, this.len, newHead);
    this.srcs = grow(this.srcs, newCap, this.head, this.len, newHead);
    this.nanos = grow(this.nanos, newCap, this.head, this.len, newHead);
    const texts = new Array<string | undefined>(newCap);
    for (let i = 0; i < this.len; i++) texts[newHead + i] = this.texts[this.head + i];
    this.texts = texts;
    this.head = newHead;
  }

  private put(at: number, e: StoreLine): void {
    this.seqs[at] = e.seq;
    this.times[at] = e.timeMs ?? Date.parse(e.time);
    this.nanos[at] = e.nanos ?? subMilliNanos(e.time);
    this.streams[at] = e.stream === 'stderr' ? 1 : 0;
    this.srcs[at] = e.source ?? 0;
    this.texts[at] = e.line.endsWith('\n') ? e.line.slice(0, e.line.endsWith('\r\n') ? -2 : -1) : e.line;
  }

  /** Adds lines after the last one; the caller has dropped what it has seen. Returns how many went in. */
  append(lines: StoreLine[]): number {
    if (!lines.length) return 0;
    this.ensure(0, lines.length);
    for (let i = 0; i < lines.length; i++) this.put(this.head + this.len + i, lines[i]);
    this.len += lines.length;
    if (this.len > this.max) this.dropFront(this.len - this.max);
    this.version++;
    return lines.length;
  }

  /** Adds older lines (in their order) before the first one. */
  prepend(lines: StoreLine[]): number {
    if (!lines.length) return 0;
    this.ensure(lines.length, 0);
    this.head -= lines.length;
    for (let i = 0; i < lines.length; i++) this.put(this.head + i, lines[i]);
    this.len += lines.length;
    this.epoch++;
    if (this.len > this.max) this.dropBack(this.len - this.max);
    this.version++;
    return lines.length;
  }

  private dropFront(n: number): void {
    for (let i = 0; i < n; i++) this.texts[this.head + i] = undefined;
    this.head += n;
    this.len -= n;
    this.dropped += n;
    this.epoch++;
  }

  private dropBack(n: number): void {
    for (let i = 0; i < n; i++) this.texts[this.head + this.len - 1 - i] = undefined;
    this.len -= n;
    this.dropped += n;
    this.epoch++;
  }

  /** Takes the last `n` lines off and returns them (oldest first). */
  takeTail(n: number): StoreLine[] {
    n = Math.min(n, this.len);
    const from = this.len - n;
    const out: StoreLine[] = [];
    for (let i = from; i < this.len; i++) out.push({ seq: this.seq(i), stream: this.stream(i), time: '', timeMs: this.timeMs(i), nanos: this.nanos[this.head + i], line: this.text(i), source: this.source(i) });
    for (let i = from; i < this.len; i++) this.texts[this.head + i] = undefined;
    this.len = from;
    this.cuts++;
    this.cutLen = from;
    this.version++;
    return out;
  }

  /**
   * Adds lines of several sources in time order: lines newer than the last one are
   * appended, and when some are older (one host's link was slower) the newest lines held
   * are taken off and put back interleaved with them, so the store stays sorted by time.
   */
  insertByTime(lines: StoreLine[]): number {
    if (!lines.length) return 0;
    const time = (l: StoreLine) => (l.timeMs ??= Date.parse(l.time)) * 1e6 + (l.nanos ??= subMilliNanos(l.time));
    lines.sort((a, b) => time(a) - time(b));
    const first = time(lines[0]);
    let k = 0;
    while (k < this.len && this.timeMs(this.len - 1 - k) * 1e6 + this.nanos[this.head + this.len - 1 - k] > first) k++;
    if (k === 0) return this.append(lines);
    const merged = this.takeTail(k).concat(lines);
    merged.sort((a, b) => time(a) - time(b) || (a.source ?? 0) - (b.source ?? 0) || a.seq - b.seq);
    this.append(merged);
    return lines.length;
  }

  /** Every line held, oldest first, with its source: for re-sorting a merged view. */
  lines(): StoreLine[] {
    const out: StoreLine[] = new Array(this.len);
    for (let i = 0; i < this.len; i++) out[i] = { seq: this.seq(i), stream: this.stream(i), time: '', timeMs: this.timeMs(i), nanos: this.nanos[this.head + i], line: this.text(i), source: this.source(i) };
    return out;
  }

  /** Replaces every line, keeping the sources (a merged view re-sorted after a page came in). */
  replace(lines: StoreLine[]): void {
    const keep = this.sources.slice();
    this.clear();
    this.sources.push(...keep);
    this.append(lines);
  }

  clear(): void {
    this.texts = new Array(1024);
    this.seqs = new Float64Array(1024);
    this.times = new Float64Array(1024);
    this.streams = new Uint8Array(1024);
    this.srcs = new Uint16Array(1024);
    this.nanos = new Uint32Array(1024);
    this.head = 512;
    this.len = 0;
    this.dropped = 0;
    this.sources.length = 0;
    this.version++;
    this.epoch++;
  }

  seq(i: number): number {
    return this.seqs[this.head + i];
  }
  timeMs(i: number): number {
    return this.times[this.head + i];
  }
  /** The line's time in unix seconds, to a fraction of a microsecond (a double holds no more). */
  timeSec(i: number): number {
    return this.times[this.head + i] / 1000 + this.nanos[this.head + i] / 1e9;
  }
  stream(i: number): 'stdout' | 'stderr' {
    return this.streams[this.head + i] ? 'stderr' : 'stdout';
  }
  source(i: number): number {
    return this.srcs[this.head + i];
  }
  text(i: number): string {
    return this.texts[this.head + i] ?? '';
  }

  firstSeq(): number | null {
    return this.len ? this.seq(0) : null;
  }
  lastSeq(): number | null {
    return this.len ? this.seq(this.len - 1) : null;
  }

  /** The index of the line with this seq, or -1; the store is in seq order for a single log (binary search). */
  indexOfSeq(seq: number): number {
    let lo = 0;
    let hi = this.len - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.seq(mid);
      if (s === seq) return mid;
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    // A merged store is in time order, not seq order: look the slow way.
    if (this.sources.length > 1) for (let i = 0; i < this.len; i++) if (this.seq(i) === seq) return i;
    return -1;
  }

  /** The index of the line with this seq from this source (merged views), or -1. */
  indexOf(seq: number, source: number): number {
    if (this.sources.length <= 1) return this.indexOfSeq(seq);
    for (let i = 0; i < this.len; i++) if (this.srcs[this.head + i] === source && this.seqs[this.head + i] === seq) return i;
    return -1;
  }

  /** The first index whose time is at or after `ms` (the store is in time order), or length. */
  indexAtTime(ms: number): number {
    let lo = 0;
    let hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.timeMs(mid) < ms) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Whether line `i` continues the entry of the line before it (same stream and source, printed at once, a frame's indent). */
  continues(i: number): boolean {
    if (i <= 0 || i >= this.len) return false;
    if (this.streams[this.head + i] !== this.streams[this.head + i - 1]) return false;
    if (this.srcs[this.head + i] !== this.srcs[this.head + i - 1]) return false;
    if (Math.abs(this.timeMs(i) - this.timeMs(i - 1)) > CONTINUATION_GAP_MS) return false;
    return looksLikeContinuation(this.text(i));
  }
}

/**
 * Which store lines the view shows, in order, and where each one's top is: the filtered,
 * collapsed list of rows with a running sum of their heights, so the visible window is
 * found by binary search and only it is rendered.
 */
export class RowLayout {
  rows = new Int32Array(1024);
  tops = new Float64Array(1025);
  count = 0;

  reset(): void {
    this.count = 0;
    this.tops[0] = 0;
  }

  push(index: number, height: number): void {
    // rows holds count entries, tops count + 1: both grow together (a typed array drops writes past its end silently).
    if (this.count >= this.rows.length) {
      const rows = new Int32Array(this.rows.length * 2);
      rows.set(this.rows);
      this.rows = rows;
      const tops = new Float64Array(rows.length + 1);
      tops.set(this.tops.subarray(0, this.count + 1));
      this.tops = tops;
    }
    this.rows[this.count] = index;
    this.tops[this.count + 1] = this.tops[this.count] + height;
    this.count++;
  }

  get total(): number {
    return this.tops[this.count];
  }

  /** Drops the rows of store lines at or after `index` (they are laid out again). */
  popFrom(index: number): void {
    while (this.count > 0 && this.rows[this.count - 1] >= index) this.count--;
  }

  /** The row at offset `y` (the last one past the end). */
  rowAt(y: number): number {
    let lo = 0;
    let hi = this.count - 1;
    if (hi < 0) return 0;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.tops[mid] <= y) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The row that shows store line `index`, or the first after it (count when none). */
  rowOfIndex(index: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.rows[mid] < index) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
