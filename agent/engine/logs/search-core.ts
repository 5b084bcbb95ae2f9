// The search itself: one log's lines, in order, tested against a plain text or a regex, hits
// with their matched ranges handed out in batches. Runs in the search worker (search.ts), so
// nothing here may block anything but that thread.
//
// Most lines of a big log do not match a rare pattern, and decoding every line costs more
// than searching the bytes. So when the match must contain a literal (the query itself for
// plain text; the longest literal run outside any group for a regex), the raw file bytes are
// searched for it first and only lines holding it are decoded and tested. That is exact for
// what the monitor writes (agent/native/log.c): it escapes only '"', '\', control characters
// and invalid UTF-8, so a literal with none of those appears in a line's JSON iff it appears
// in its text (the JSON around the text can give false candidates, never missed ones).
import { isAscii } from 'node:buffer';
import { decodeLine } from './json-file';
import { closeAll } from './index';
import { openLogForRead, seekTime } from './history';
import type { LogEntry } from '../types';

const CHUNK = 1 << 20;
const HEAD = '{"log":"';
const STREAM = '","stream":"';
const TIME = '","time":"';
const NL = 10;

export interface SearchSpec {
  path: string;
  query: string;
  regex?: boolean;
  caseSensitive?: boolean;
  since?: number;
  until?: number;
  stdout?: boolean;
  stderr?: boolean;
  /** Hits to hand out at most; counting goes on past it. */
  maxHits: number;
}

export type SearchHit = LogEntry & { ranges: Array<[number, number]> };

export interface SearchResult {
  total: number;
  sent: number;
  scannedBytes: number;
}

export interface SearchSink {
  /** Resolves when the receiver wants more. */
  hits(hits: SearchHit[], found: number): Promise<void>;
  /** Called before each line's regex runs and after each read: a watchdog can tell a line that runs forever. */
  tick?(): void;
  cancelled?(): boolean;
}

/** Flags of a search's RegExp. No `u`: a pattern such as `\-` that browsers' and grep's users type stays valid. */
export function regexFlags(caseSensitive: boolean): string {
  return caseSensitive ? 'g' : 'gi';
}

export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

const SAFE_LITERAL = /^[^"\\\u0000-\u001f\u007f\ufffd]+$/;

/**
 * A substring every match of `source` contains, or undefined when none is easy to be sure of:
 * the longest run of plain characters at the top level of a pattern without top-level alternation,
 * leaving out a character that a quantifier makes optional or repeatable.
 */
export function requiredLiteral(source: string): string | undefined {
  let best = '';
  let run = '';
  let depth = 0;
  let inClass = false;
  const flush = () => {
    if (run.length > best.length) best = run;
    run = '';
  };
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (inClass) {
      if (c === '\\') i++;
      else if (c === ']') inClass = false;
      continue;
    }
    let lit: string | undefined;
    if (c === '\\') {
      const n = source[i + 1];
      i++;
      // An escaped punctuation character is itself; \d, \w, \b, \1 … are not literals.
      if (n !== undefined && /[^A-Za-z0-9]/.test(n)) lit = n;
    } else if (c === '[') {
      inClass = true;
    } else if (c === '|' && depth === 0) {
      // Either side may match: no run is sure (one inside a group only ends that group's runs, which are left out anyway).
      return undefined;
    } else if (c === '(') {
      depth++;
    } else if (c === ')') {
      depth--;
    } else if (!'.^$*+?{}'.includes(c)) {
      lit = c;
    }
    if (lit === undefined || depth > 0) {
      flush();
      continue;
    }
    const next = source[i + 1];
    if (next === '*' || next === '?' || next === '{') {
      // This character may be absent: the run ends before it.
      flush();
    } else if (next === '+') {
      // At least once: it belongs to the run, which ends after it.
      run += lit;
      flush();
    } else run += lit;
  }
  flush();
  return best.length >= 3 && SAFE_LITERAL.test(best) ? best : undefined;
}

const swap = (c: string) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase());
/** A letter whose other case is one other character. */
const cased = (c: string | undefined) => c !== undefined && c.length === 1 && swap(c) !== c && swap(c).length === 1;

/**
 * `source` rewritten to match either case of each letter, so it runs without the `i` flag:
 * V8's linear-time engine, the fallback that bounds backtracking, cannot run `i` regexes.
 * A letter becomes [xX]; in a class each letter and each range of letters gets its other
 * case too. Escapes (\d, \u00e9, \p{…}, \k<name>) and group names are left as written.
 */
export function foldCase(source: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      const n = source[i + 1] ?? '';
      let end = i + 2;
      if ((n === 'p' || n === 'P' || (n === 'u' && source[i + 2] === '{')) && source.indexOf('}', i) > 0) end = source.indexOf('}', i) + 1;
      else if (n === 'k' && source[i + 2] === '<' && source.indexOf('>', i) > 0) end = source.indexOf('>', i) + 1;
      else if (n === 'u') end = i + 6;
      else if (n === 'x') end = i + 4;
      else if (n === 'c') end = i + 3;
      out += source.slice(i, end);
      i = end - 1;
      continue;
    }
    if (inClass) {
      if (c === ']') {
        inClass = false;
        out += c;
      } else if (cased(c) && source[i + 1] === '-' && cased(source[i + 2]) && (c === c.toLowerCase()) === (source[i + 2] === source[i + 2].toLowerCase())) {
        out += `${c}-${source[i + 2]}${swap(c)}-${swap(source[i + 2])}`;
        i += 2;
      } else out += cased(c) ? c + swap(c) : c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (source[i + 1] === '^') out += source[++i];
      // A ']' first in a class is a literal one.
      if (source[i + 1] === ']') out += source[++i];
    } else if (c === '(' && source.startsWith('(?<', i) && source[i + 3] !== '=' && source[i + 3] !== '!' && source.indexOf('>', i) > 0) {
      const end = source.indexOf('>', i) + 1;
      out += source.slice(i, end);
      i = end - 1;
    } else out += cased(c) ? `[${c}${swap(c)}]` : c;
  }
  return out;
}

/** `source` split at its top-level `|` (not inside a group or a class, not escaped). */
export function topLevelAlternatives(source: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let inClass = false;
  let from = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      out.push(source.slice(from, i));
      from = i + 1;
    }
  }
  out.push(source.slice(from));
  return out;
}

/** Literals one of which every match contains: one for a plain pattern, one per alternative of a top-level alternation. */
export function requiredLiterals(source: string): string[] | undefined {
  const lits: string[] = [];
  for (const alt of topLevelAlternatives(source)) {
    const l = requiredLiteral(alt);
    if (l === undefined) return undefined;
    lits.push(l);
  }
  return lits.length <= 8 ? lits : undefined;
}

/** The nearest place any of `filters` finds. */
function anyOf(filters: Prefilter[]): Prefilter {
  if (filters.length === 1) return filters[0];
  const each = filters.map(ahead);
  return (buf, from) => {
    let best = -1;
    for (const f of each) {
      const i = f(buf, from);
      if (i >= 0 && (best < 0 || i < best)) best = i;
    }
    return best;
  };
}

/**
 * `f` remembering where it last found something in a buffer: asked again from a later place
 * that is not past it, the answer is the same. Without this, looking for two things and taking
 * the nearer rescans for the rarer one from every hit of the common one, to the buffer's end
 * each time: a case-insensitive search for "error" in a log with few capital E's went quadratic.
 */
function ahead(f: Prefilter): Prefilter {
  let lastBuf: Buffer | undefined;
  let lastFrom = 0;
  let found = -1;
  return (buf, from) => {
    if (buf !== lastBuf || from < lastFrom || (found >= 0 && found < from)) found = f(buf, from);
    lastBuf = buf;
    lastFrom = from;
    return found;
  };
}

/** Finds where a candidate line could be, in raw bytes. */
type Prefilter = (buf: Buffer, from: number) => number;

/** How many of the first bytes of a log choose a case-insensitive literal's anchor. */
const SAMPLE = 1 << 16;

function prefilterFor(literal: string, caseSensitive: boolean): Prefilter | undefined {
  const bytes = Buffer.from(literal, 'utf8');
  if (caseSensitive) return (buf, from) => buf.indexOf(bytes, from);
  // Case folding on bytes is only sure for ASCII.
  if (!/^[\x20-\x7e]+$/.test(literal)) return undefined;
  const lower = Buffer.from(literal.toLowerCase(), 'latin1');
  const upper = Buffer.from(literal.toUpperCase(), 'latin1');
  if (lower.equals(upper)) return (buf, from) => buf.indexOf(bytes, from);
  // The anchor is the literal's byte, in either case, that the log's first bytes hold least:
  // what is rare depends on the log (every line of one may say INFO), so it is counted, not guessed.
  let k = -1;
  let lo: Prefilter = () => -1;
  let up: Prefilter = () => -1;
  const choose = (buf: Buffer) => {
    const count = new Uint32Array(256);
    for (let i = 0, n = Math.min(buf.length, SAMPLE); i < n; i++) count[buf[i]]++;
    k = 0;
    const seen = (j: number) => count[lower[j]] + (lower[j] === upper[j] ? 0 : count[upper[j]]);
    for (let j = 1; j < lower.length; j++) if (seen(j) < seen(k)) k = j;
    // Each case's next place remembered (see ahead).
    lo = ahead((b, from) => b.indexOf(lower[k], from));
    up = lower[k] === upper[k] ? lo : ahead((b, from) => b.indexOf(upper[k], from));
  };
  return (buf, from) => {
    if (k < 0) choose(buf);
    for (let i = from + k; ; ) {
      const x = lo(buf, i);
      const y = up(buf, i);
      const a = x < 0 ? y : y < 0 ? x : Math.min(x, y);
      if (a < 0 || a - k + lower.length > buf.length) return -1;
      const s = a - k;
      let ok = true;
      for (let q = 0; q < lower.length; q++) {
        const b = buf[s + q];
        if (b !== lower[q] && b !== upper[q]) {
          ok = false;
          break;
        }
      }
      if (ok) return s;
      i = a + 1;
    }
  };
}

/** The matched ranges of `re` (global) in `line`; empty when it does not match. Zero-width matches give no range. */
function matchRanges(re: RegExp, line: string): Array<[number, number]> | undefined {
  re.lastIndex = 0;
  let out: Array<[number, number]> | undefined;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    out ??= [];
    const end = m.index + m[0].length;
    if (end > m.index) out.push([m.index, end]);
    else re.lastIndex++;
    if (re.lastIndex > line.length) break;
  }
  return out;
}

export async function searchLog(spec: SearchSpec, sink: SearchSink): Promise<SearchResult> {
  const caseSensitive = spec.caseSensitive ?? false;
  // A plain text cannot backtrack, so it keeps the `i` flag; a regex is folded instead (see foldCase).
  const re = spec.regex ? new RegExp(caseSensitive ? spec.query : foldCase(spec.query), 'g') : new RegExp(escapeRegex(spec.query), regexFlags(caseSensitive));
  const literals = spec.regex ? requiredLiterals(spec.query) : SAFE_LITERAL.test(spec.query) ? [spec.query] : undefined;
  const filters = literals?.map((l) => prefilterFor(l, caseSensitive));
  const prefilter = filters && filters.every((f) => f !== undefined) ? anyOf(filters as Prefilter[]) : undefined;
  const wantOut = spec.stdout ?? true;
  const wantErr = spec.stderr ?? true;

  const log = await openLogForRead(spec.path);
  let total = 0;
  let sent = 0;
  let scannedBytes = 0;
  let batch: SearchHit[] = [];
  let batchAt = Date.now();
  const flush = async () => {
    if (!batch.length) return;
    const b = batch;
    batch = [];
    batchAt = Date.now();
    await sink.hits(b, total);
  };
  try {
    const from = spec.since !== undefined ? await seekTime(log, spec.since) : log.start;
    const to = spec.until !== undefined ? await seekTime(log, spec.until) : log.end;
    const buf = Buffer.allocUnsafe(CHUNK);
    /** Tests one line (data[s, e), without its newline); true when the batch is full and must go. */
    const test = (data: Buffer, s: number, e: number, seq: number, ranges?: Array<[number, number]>): boolean => {
      const d = decodeLine(data, s, e);
      if (!d || (d.stream === 'stdout' ? !wantOut : !wantErr)) return false;
      if (!ranges) {
        sink.tick?.();
        // Matched without the line's own newline, so `$` is the end of the line.
        ranges = matchRanges(re, d.line.endsWith('\n') ? d.line.slice(0, -1) : d.line);
        if (!ranges) return false;
      }
      total++;
      if (sent >= spec.maxHits) return false;
      sent++;
      batch.push({ seq, stream: d.stream, time: d.time, line: d.line, ranges });
      return batch.length >= 200 || Date.now() - batchAt > 100;
    };
    /**
     * Every line of an all-ASCII chunk, without a string per line: the chunk is one string
     * (one byte, one character), a line's text is a slice of it, and only a line the regex
     * matches is decoded in full. A line whose text has escapes other than its final "\n"
     * goes the long way.
     */
    const testAscii = async (data: Buffer, whole: number, dataAt: number) => {
      const text = data.toString('latin1', 0, whole);
      for (let from = 0, nl = text.indexOf('\n'); nl >= 0; from = nl + 1, nl = text.indexOf('\n', from)) {
        let body: string | undefined;
        if (text.startsWith(HEAD, from) && text.charCodeAt(nl - 1) === 125) {
          const ti = text.lastIndexOf(TIME, nl);
          const si = ti > from ? text.lastIndexOf(STREAM, ti) : -1;
          if (si >= from + HEAD.length) {
            const b = text.slice(from + HEAD.length, si);
            const bs = b.indexOf('\\');
            if (b.indexOf('"') < 0) {
              if (bs < 0) body = b;
              else if (bs === b.length - 2 && b.charCodeAt(bs + 1) === 110) body = b.slice(0, bs);
            }
          }
        }
        let full: boolean;
        if (body === undefined) full = test(data, from, nl, dataAt + nl + 1);
        else {
          sink.tick?.();
          const ranges = matchRanges(re, body);
          full = ranges ? test(data, from, nl, dataAt + nl + 1, ranges) : false;
        }
        if (full) await flush();
      }
    };
    for (const f of log.files) {
      const fileEnd = Math.min(f.size, to - f.start);
      let pos = Math.max(0, from - f.start);
      if (fileEnd <= pos) continue;
      // `from` is a line start; the bytes before `pos` that do not end a line are carried over.
      let carry: Buffer = Buffer.alloc(0);
      while (pos < fileEnd) {
        if (sink.cancelled?.()) return { total, sent, scannedBytes };
        const want = Math.min(CHUNK, fileEnd - pos);
        const { bytesRead } = await f.fh.read(buf, 0, want, pos);
        if (!bytesRead) break;
        scannedBytes += bytesRead;
        sink.tick?.();
        const data = carry.length ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
        // data starts at the whole log's position dataAt.
        const dataAt = f.start + pos - carry.length;
        const lastNl = data.lastIndexOf(NL);
        const whole = lastNl + 1;
        if (prefilter) {
          for (let i = prefilter(data, 0); i >= 0 && i < whole; ) {
            const s = i > 0 ? data.lastIndexOf(NL, i - 1) + 1 : 0;
            const e = data.indexOf(NL, i);
            if (test(data, s, e, dataAt + e + 1)) await flush();
            i = prefilter(data, e + 1);
          }
        } else if (isAscii(data.subarray(0, whole))) {
          await testAscii(data, whole, dataAt);
        } else {
          for (let s = 0, e = data.indexOf(NL); e >= 0 && e < whole; s = e + 1, e = data.indexOf(NL, s)) if (test(data, s, e, dataAt + e + 1)) await flush();
        }
        carry = whole < data.length ? Buffer.from(data.subarray(whole)) : Buffer.alloc(0);
        pos += bytesRead;
        if (bytesRead < want) break;
      }
    }
    await flush();
    return { total, sent, scannedBytes };
  } finally {
    await closeAll(log.files);
  }
}
