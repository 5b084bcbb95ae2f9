// One line of a Docker json-file log, decoded. The monitor always writes
// {"log":"…","stream":"stdout|stderr","time":"…"} in that order, so that shape is read by
// slicing (a full JSON.parse per line is most of the cost of reading a long log); anything
// else, such as a line written by another tool, goes through JSON.parse. A line that is not
// a log record at all decodes to undefined.

export interface Decoded {
  stream: 'stdout' | 'stderr';
  time: string;
  line: string;
}

const HEAD = '{"log":"';
const STREAM = '","stream":"';
const TIME = '","time":"';

function slow(s: string): Decoded | undefined {
  let r: unknown;
  try {
    r = JSON.parse(s);
  } catch {
    return undefined;
  }
  if (typeof r !== 'object' || r === null) return undefined;
  const { log, stream, time } = r as Record<string, unknown>;
  if (typeof log !== 'string' || typeof time !== 'string') return undefined;
  return { stream: stream === 'stderr' ? 'stderr' : 'stdout', time, line: log };
}

/** `buf[start, end)` is one line without its newline. */
export function decodeLine(buf: Buffer, start: number, end: number): Decoded | undefined {
  const s = buf.toString('utf8', start, end);
  if (!s.startsWith(HEAD) || !s.endsWith('"}')) return slow(s);
  const ti = s.lastIndexOf(TIME);
  const si = ti > 0 ? s.lastIndexOf(STREAM, ti) : -1;
  if (si < HEAD.length) return slow(s);
  const stream = s.slice(si + STREAM.length, ti);
  if (stream !== 'stdout' && stream !== 'stderr') return slow(s);
  const time = s.slice(ti + TIME.length, -2);
  if (time.includes('"') || time.includes('\\')) return slow(s);
  const body = s.slice(HEAD.length, si);
  // A quote in the body is either escaped (then there is a backslash) or not a record of ours.
  const bs = body.indexOf('\\');
  if (bs < 0) return body.includes('"') ? slow(s) : { stream, time, line: body };
  if (bs === body.length - 2 && body.charCodeAt(bs + 1) === 110 && !body.includes('"')) return { stream, time, line: body.slice(0, bs) + '\n' };
  let line: unknown;
  try {
    line = JSON.parse('"' + body + '"');
  } catch {
    return slow(s);
  }
  return { stream, time, line: line as string };
}
