// Layer tars unpack on worker threads. A pull or load used to do everything on the agent's
// one main thread: the downloads of several layers, their gunzip output, two hashes and
// some ten synchronous syscalls per file of every layer took turns there, so a pull used one
// core and slowed down with everything else the agent did. Here the main thread only passes
// each layer's (compressed) bytes to a worker, which decompresses, hashes (the diff ID) and
// writes the files (extract.ts, unchanged). Several layers unpack side by side.
//
// Messages: the main side sends `job`, then `chunk`s, then `end` (or `abort`); the worker
// sends an `ack` for each chunk it has taken, `progress` now and then, and `done` or
// `error` last. At most IN_FLIGHT chunks are on the way, so a slow disk slows the download
// instead of filling memory.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EngineError } from '../errors';
import { LayerTooLargeError, UnsafeLayerError } from './extract';

export type ToUnpacker =
  | { t: 'job'; dir: string; label: string; maxBytes?: number }
  | { t: 'chunk'; data: Uint8Array }
  | { t: 'end' }
  | { t: 'abort'; reason: string };

export type FromUnpacker =
  | { t: 'ack' }
  | { t: 'progress'; tarBytes: number }
  | { t: 'done'; size: number; diffId: string; tarSize: number }
  | { t: 'error'; name: string; message: string; status: number };

export interface UnpackOptions {
  /** For messages: the layer's digest or name. */
  label: string;
  /** Most bytes the tar may have uncompressed (a decompression bomb is refused past it). */
  maxBytes?: number;
  /** Bytes of tar unpacked so far, about every MiB. */
  onProgress?: (tarBytes: number) => void;
}

export interface Unpacked {
  /** Bytes of regular file content written. */
  size: number;
  /** sha256 of the uncompressed tar. */
  diffId: string;
  /** Bytes of the uncompressed tar. */
  tarSize: number;
}

const IN_FLIGHT = 8;
/** Idle workers kept for the next layer; they go after IDLE_MS so an idle agent stays small. */
const MAX_IDLE = 3;
const IDLE_MS = 5_000;

/**
 * The worker's script: next to the bundle when the agent runs compiled; from the sources
 * (tests, `--import tsx`) a small module that registers tsx in the thread first, as Node 20
 * applies a parent's `--import` hooks to its main thread only.
 */
function workerScript(): URL {
  const bundled = new URL('./layer-worker.mjs', import.meta.url);
  if (import.meta.url.endsWith('.mjs') && existsSync(fileURLToPath(bundled))) return bundled;
  const source = new URL('./worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const shim = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(source)});`;
  return new URL('data:text/javascript,' + encodeURIComponent(shim));
}

interface Idle {
  w: Worker;
  timer: NodeJS.Timeout;
}
const idle: Idle[] = [];

function takeWorker(): Worker {
  const i = idle.pop();
  if (i) {
    clearTimeout(i.timer);
    i.w.ref();
    return i.w;
  }
  return new Worker(workerScript());
}

function giveBack(w: Worker): void {
  w.removeAllListeners('message');
  w.removeAllListeners('error');
  w.removeAllListeners('exit');
  if (idle.length >= MAX_IDLE) {
    void w.terminate();
    return;
  }
  w.unref();
  const entry: Idle = {
    w,
    timer: setTimeout(() => {
      idle.splice(idle.indexOf(entry), 1);
      void w.terminate();
    }, IDLE_MS).unref(),
  };
  // A worker that dies while idle is simply forgotten.
  w.once('exit', () => {
    const k = idle.indexOf(entry);
    if (k >= 0) (clearTimeout(entry.timer), idle.splice(k, 1));
  });
  idle.push(entry);
}

function rebuildError(m: { name: string; message: string; status: number }): Error {
  const status = ([400, 401, 403, 404, 409, 500, 501, 502] as const).find((s) => s === m.status) ?? 500;
  const e = new EngineError(status, m.message);
  // The classes callers tell apart keep their identity across the thread boundary.
  if (m.name === 'LayerTooLargeError') Object.setPrototypeOf(e, LayerTooLargeError.prototype);
  if (m.name === 'UnsafeLayerError') Object.setPrototypeOf(e, UnsafeLayerError.prototype);
  e.name = m.name;
  return e;
}

/**
 * Unpacks the layer tar in `source` (plain, gzip or zstd) into the existing, empty
 * directory `dir` on a worker thread; resolves once every file is written. On any failure
 * the worker has stopped writing into `dir` by the time this rejects.
 */
export async function unpackLayer(source: AsyncIterable<Buffer | Uint8Array>, dir: string, opts: UnpackOptions): Promise<Unpacked> {
  const w = takeWorker();
  let inFlight = 0;
  let wakeSender: (() => void) | undefined;
  let outcome: { ok: Unpacked } | { err: Error } | undefined;
  let healthy = true;
  const settled = new Promise<void>((resolve) => {
    const finish = (o: { ok: Unpacked } | { err: Error }) => {
      outcome ??= o;
      wakeSender?.();
      resolve();
    };
    w.on('message', (m: FromUnpacker) => {
      if (m.t === 'ack') {
        inFlight--;
        wakeSender?.();
      } else if (m.t === 'progress') opts.onProgress?.(m.tarBytes);
      else if (m.t === 'done') finish({ ok: { size: m.size, diffId: m.diffId, tarSize: m.tarSize } });
      else finish({ err: rebuildError(m) });
    });
    w.on('error', (e) => {
      healthy = false;
      finish({ err: new EngineError(500, `${opts.label}: the unpacking thread failed: ${e.message}`) });
    });
    w.on('exit', (code) => {
      healthy = false;
      finish({ err: new EngineError(500, `${opts.label}: the unpacking thread exited (${code})`) });
    });
  });
  const post = (m: ToUnpacker) => w.postMessage(m);
  post({ t: 'job', dir, label: opts.label, ...(opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes }) });
  let sourceError: Error | undefined;
  try {
    for await (const chunk of source) {
      if (outcome) break;
      // Copied into the message: a socket's chunk is often a slice of a shared pool.
      post({ t: 'chunk', data: chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk) });
      inFlight++;
      while (inFlight >= IN_FLIGHT && !outcome) await new Promise<void>((r) => (wakeSender = r));
      wakeSender = undefined;
    }
    if (!outcome) post({ t: 'end' });
  } catch (e) {
    sourceError = e as Error;
    if (!outcome) post({ t: 'abort', reason: sourceError.message });
  }
  await settled;
  if (healthy) giveBack(w);
  else void w.terminate();
  if (sourceError) throw sourceError;
  const o = outcome!;
  if ('err' in o) throw o.err;
  return o.ok;
}
