// Container output: GET /logs (past lines, optionally followed) and the hijacked
// POST /attach that `docker run` uses to print a container's output live and feed its stdin.
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Engine, LogEntry, StdioSession } from '../engine/types';
import { pumpSession, streamHeader } from './hijack';
import { streamContentType } from './api-version';
import { DOCKER_API_VERSION as API_VERSION } from '../../protocol/docker-api';
import { HttpError, boolParam, messageOf, statusOf, type Query } from './http';
import { STDERR, STDOUT, writeFrameHeader } from './mux';


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

export async function containerLogs(engine: Engine, res: ServerResponse, id: string, q: Query, version: string = API_VERSION): Promise<void> {
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
  res.writeHead(200, { 'Content-Type': streamContentType(tty, version) });
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
 * `docker attach`, and what `docker run` and `start -a` attach with: the container's past
 * output with logs=1 (from its log), then with stream=1 its live output from its monitor
 * and, with stdin=1 on an upgraded connection, its stdin, until the container's output
 * ends (or the client detaches: the detach keys, ctrl-p ctrl-q by default, on a TTY). A
 * container that is not running yet is attached at its next start, from its first byte.
 */
export async function attach(engine: Engine, socket: Duplex, id: string, q: Query, upgraded: boolean, version: string = API_VERSION): Promise<void> {
  let tty: boolean;
  let containerId: string;
  let session: StdioSession;
  let readable: boolean;
  const stdout = boolParam(q, 'stdout');
  const stderr = boolParam(q, 'stderr');
  const stream = boolParam(q, 'stream');
  const withLogs = boolParam(q, 'logs');
  try {
    const c = engine.inspect(id);
    tty = c.spec.process.tty;
    containerId = c.id;
    // With log driver none there is no past to give, as in dockerd: only the live stream.
    readable = c.spec.log?.driver !== 'none';
    if (c.state.paused) throw new HttpError(409, `container ${id} is paused, unpause the container before attach`);
    if (c.state.status === 'restarting') throw new HttpError(409, `container ${id} is restarting, wait until the container is running`);
    // Attached before the past is read: output printed while it is sent is not lost.
    session = engine.attach(c.id, { stdin: boolParam(q, 'stdin') && upgraded, stdout, stderr, stream, detachKeys: q.get('detachKeys') || undefined });
  } catch (err) {
    rawHttpError(socket, err);
    return;
  }
  socket.write(streamHeader(upgraded, streamContentType(tty, version)));
  if (withLogs && readable && (stdout || stderr)) {
    const abort = new AbortController();
    socket.once('close', () => abort.abort());
    try {
      for await (const batch of engine.logBatches(containerId, { stdout, stderr, signal: abort.signal })) {
        if (!socket.write(encodeEntries(batch, tty, false))) await drained(socket, abort.signal);
        if (abort.signal.aborted) break;
      }
    } catch (err) {
      if (!abort.signal.aborted) console.error(`docker api: attach to ${containerId.slice(0, 12)}: past logs: ${messageOf(err)}`);
    }
  }
  await pumpSession(socket, session, { raw: tty, input: upgraded });
}
