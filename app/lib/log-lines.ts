// What the viewer reads out of one log line, apart from React so it can be tested alone:
// JSON lines and their fields, the filter by field, the continuation lines of a
// multi-line entry (stack traces), timestamps in UTC or local time.
import { stripAnsi } from './ansi';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };
export type JsonObject = { [k: string]: JsonValue };

/** The line as a JSON object when it is one (arrays and scalars are not "JSON lines"), else null. */
export function parseJsonLine(line: string): JsonObject | null {
  const t = line.trim();
  if (t.length < 2 || t[0] !== '{' || t[t.length - 1] !== '}') return null;
  try {
    const v = JSON.parse(t) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as JsonObject) : null;
  } catch {
    return null;
  }
}

/** The fields of an object flattened to dotted paths, in the object's own order (arrays whole, as JSON). */
export function flattenFields(obj: JsonObject, prefix = ''): { key: string; value: JsonValue }[] {
  const out: { key: string; value: JsonValue }[] = [];
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length) out.push(...flattenFields(v, key));
    else out.push({ key, value: v });
  }
  return out;
}

export function fieldText(v: JsonValue): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function fieldAt(obj: JsonObject, path: string): JsonValue | undefined {
  if (path in obj) return obj[path];
  let cur: JsonValue | undefined = obj;
  for (const part of path.split('.')) {
    if (!cur || typeof cur !== 'object' || Array.isArray(cur) || !(part in cur)) return undefined;
    cur = (cur as JsonObject)[part];
  }
  return cur;
}

export interface FieldCondition {
  key: string;
  op: '=' | '!=';
  value: string;
}

/**
 * Parses a field filter: conditions separated by spaces, all of which must hold, each
 * `key=value` or `key!=value` (a dotted key reaches into nested objects; a value with
 * spaces goes in double quotes). Values compare as text, case-insensitively, so
 * `level=error` matches "ERROR" and `status=500` matches 500. Throws with a message
 * naming the part it cannot read.
 */
export function parseFieldFilter(text: string): FieldCondition[] {
  const out: FieldCondition[] = [];
  const re = /\s*([^\s=!"]+)\s*(!=|=)\s*("((?:[^"\\]|\\.)*)"|[^\s"]*)\s*/y;
  let i = 0;
  const src = text.trim();
  while (i < src.length) {
    re.lastIndex = i;
    const m = re.exec(src);
    if (!m || m.index !== i) {
      const rest = src.slice(i).split(/\s+/)[0];
      throw new Error(`cannot read "${rest}": a field filter is key=value or key!=value`);
    }
    const value = m[4] !== undefined ? m[4].replace(/\\(.)/g, '$1') : m[3];
    out.push({ key: m[1], op: m[2] as '=' | '!=', value });
    i = re.lastIndex;
  }
  return out;
}

export function matchesFields(obj: JsonObject | null, conds: FieldCondition[]): boolean {
  if (!conds.length) return true;
  if (!obj) return false;
  for (const c of conds) {
    const v = fieldAt(obj, c.key);
    const same = v !== undefined && fieldText(v).toLowerCase() === c.value.toLowerCase();
    if (c.op === '=' ? !same : same) return false;
  }
  return true;
}

/** How long after the line before a continuation line may come and still belong to it (one write, a few ms). */
export const CONTINUATION_GAP_MS = 1000;

/**
 * Whether `line` continues the entry of the line before it: a stack trace's indented
 * frames, Java's "Caused by:" and "... N more", Python's last "SomethingError: …" after
 * its frames is not one (it starts a line at the margin), so it stays its own entry.
 * The caller checks the stream and the time.
 */
export function looksLikeContinuation(line: string): boolean {
  const t = stripAnsi(line);
  if (!t.trim()) return false;
  if (/^[ \t]+\S/.test(t)) return true;
  return /^(at |Caused by:|\.\.\. \d+ (more|common frames omitted))/.test(t);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** A line's time as shown: UTC in RFC 3339 with milliseconds, or the browser's local time without a zone. */
export function formatTime(ms: number, utc: boolean): string {
  if (!Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  if (utc) return d.toISOString();
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** RFC 3339 (nanoseconds allowed) to milliseconds; NaN when it is not a time. */
export function parseTimeMs(time: string): number {
  return Date.parse(time);
}
