// Container output: GET /logs (past lines, optionally followed) and the hijacked
// POST /attach that `docker run` uses to print a container's output live.
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Engine, LogEntry } from '../engine/types';
import { HttpError, boolParam, messageOf, statusOf, type Query } from './http';
import { STDERR, STDOUT, writeFrameHeader } from './mux';

const RAW_STREAM = 'application/vnd.docker.raw-stream';
const MUX_STREAM = 'application/vnd.docker.multiplexed-stream';

/** Docker's since/until: unix seconds with optional fraction; "0" or absent means no bound. */
export function timeParam(q: Query, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '' || v === '0') return undefined;
  const n = Number(v);
  if (Number.isFinite(n)) return n;
  const ms = Date.parse(v);
  if (Number.isFinite(ms)) return ms / 1000;
  throw new HttpError(400, `invalid value for ${name}: ${JSON.stringify(v)}`);
}

function tailParam(q: Query): number | undefined {
  const v = q.get('tail');
  if (v === null || v === '' || v === 'all') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new HttpError(400, `invalid value for tail: ${JSON.stringify(v)}`);
  return n < 0 ? undefined : n;
}

/** Log entries as bytes on the wire: framed unless the container has a TTY (then it is one raw stream). */
export function encodeEntries(entries: LogEntry[], tty: boolean, timestamps: boolean): Buffer {
  // One buffer for the lot: a write (and, over HTTP, a chunk) per batch instead of per line.
  const texts = entries.map((e) => (timestamps ? `${e.time} ${e.line}` : e.line));
  const sizes = texts.map((t) => Buffer.byteLength(t, 'utf8'));
  const out = Buffer.allocUnsafe(sizes.reduce((a, n) => a + n, 0) + (tty ? 0 : 8 * entries.length));
  let at = 0;
  for (let i = 0; i < entries.length; i++) {
    if (!tty) {
      writeFrameHeader(out, at, entries[i].stream === 'stderr' ? STDERR : STDOUT, sizes[i]);
      at += 8;
    }
    at += out.write(texts[i], at, 'utf8');
  }
  return out;
}

export async function containerLogs(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  const c = engine.inspect(id);
  const stdout = boolParam(q, 'stdout');
  const stderr = boolParam(q, 'stderr');
  if (!stdout && !stderr) throw new HttpError(400, 'Bad parameters: you must choose at least one stream');
  const follow = boolParam(q, 'follow');
  const timestamps = boolParam(q, 'timestamps');
  const opts = { follow, stdout, stderr, tail: tailParam(q), since: timeParam(q, 'since'), until: timeParam(q, 'until') };
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  const tty = c.spec.process.tty;
  const iter = engine.logBatches(c.id, { ...opts, signal: abort.signal })[Symbol.asyncIterator]();
  // Without follow, read the first lines before answering so an engine error still becomes a status
  // code; with follow they may take forever, so headers go out at once, as dockerd does.
  let first: Promise<IteratorResult<LogEntry[]>> = iter.next();
  if (!follow) {
    const r = await first;
    first = Promise.resolve(r);
  }
  res.writeHead(200, { 'Content-Type': tty ? RAW_STREAM : MUX_STREAM });
  res.flushHeaders();
  try {
    for (let r = await first; !r.done; r = await iter.next()) {
      if (!res.write(encodeEntries(r.value, tty, timestamps))) await drained(res, abort.signal);
      if (abort.signal.aborted) break;
    }
  } catch (err) {
    if (!abort.signal.aborted) console.error(`docker api: logs of ${c.id.slice(0, 12)} failed: ${messageOf(err)}`);
  } finally {
    await iter.return?.();
  }
  res.end();
}

function drained(res: ServerResponse | Duplex, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

// --- attach -----------------------------------------------------------------------

/** An error answer written straight to a socket that left Node's HTTP handling (hijacked or upgraded). */
export function rawHttpError(socket: Duplex, err: unknown): void {
  const status = statusOf(err);
  const body = JSON.stringify({ message: messageOf(err) });
  const reason = status === 404 ? 'Not Found' : status === 400 ? 'Bad Request' : status === 409 ? 'Conflict' : 'Internal Server Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * Resolves true once the container is running, false if it went away first. A stopped
 * container is waited for too: `docker start -a` attaches before it starts it again.
 */
function startedOrGone(engine: Engine, id: string, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const finish = (v: boolean) => {
      engine.off('container', onEvent);
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onEvent = (e: { action: string; id: string }) => {
      if (e.id !== id) return;
      if (e.action === 'start') finish(true);
      else if (e.action === 'destroy') finish(false);
    };
    const onAbort = () => finish(false);
    engine.on('container', onEvent);
    signal.addEventListener('abort', onAbort);
    try {
      const c = engine.inspect(id);
      if (c.state.running) finish(true);
    } catch {
      finish(false);
    }
  });
}

/**
 * Streams the container's output from now on (plus its past output with logs=1) until it stops.
 * `docker run` attaches before it starts the container, so a created container is waited for.
 */
export async function attach(engine: Engine, socket: Duplex, id: string, q: Query, upgraded: boolean): Promise<void> {
  let tty: boolean;
  let containerId: string;
  try {
    const c = engine.inspect(id);
    tty = c.spec.process.tty;
    containerId = c.id;
  } catch (err) {
    rawHttpError(socket, err);
    return;
  }
  const stdout = boolParam(q, 'stdout');
  const stderr = boolParam(q, 'stderr');
  const stream = boolParam(q, 'stream');
  const withLogs = boolParam(q, 'logs');
  const contentType = tty ? RAW_STREAM : MUX_STREAM;
  socket.write(
    upgraded
      ? `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`
      : `HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\n\r\n`,
  );
  const abort = new AbortController();
  socket.on('close', () => abort.abort());
  socket.on('error', () => abort.abort());
  // Input is not forwarded yet; drain it so a client that sends some does not stall.
  socket.on('data', () => {});
  try {
    // With stream: from now on (after the past with logs=1), once running; without: only the past, if asked.
    // The read is set up before waiting for the start, so "now" is the log's end at attach time
    // (tail 0), found by a seek and not by reading the past, and nothing the new run prints is missed.
    const follow = stream && (stdout || stderr);
    const batches = engine.logBatches(containerId, { follow, stdout, stderr, signal: abort.signal, ...(withLogs ? {} : { tail: 0 }) });
    if (follow ? await startedOrGone(engine, containerId, abort.signal) : withLogs) {
      for await (const batch of batches) {
        if (!socket.write(encodeEntries(batch, tty, false))) await drained(socket, abort.signal);
        if (abort.signal.aborted) break;
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) console.error(`docker api: attach to ${containerId.slice(0, 12)} failed: ${messageOf(err)}`);
  }
  socket.end();
}
