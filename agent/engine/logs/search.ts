// A log search off the agent's event loop: each search runs in a worker thread of its own,
// hands its hits over in batches and waits for the caller to take each batch before it reads
// on (a slow browser slows the search, nothing piles up). A regex is bounded twice: V8 falls
// back to its linear-time engine on excessive backtracking (search-worker.ts), and a line the
// regex is stuck on for LOG_REGEX_LINE_BUDGET_MS (a backreference, which that engine cannot
// run) ends the search with LOG_REGEX_TOO_COSTLY: the worker is terminated, the agent never waits.
import { Worker } from 'node:worker_threads';
import { LOG_REGEX_LINE_BUDGET_MS, LOG_REGEX_TOO_COSTLY } from '../../../protocol/log-limits';
import type { SearchHit, SearchResult, SearchSpec } from './search-core';

export type { SearchHit, SearchResult, SearchSpec } from './search-core';

export type FromWorker =
  | { type: 'started' }
  | { type: 'hits'; hits: SearchHit[]; found: number }
  | { type: 'done'; result: SearchResult; cancelled: boolean }
  | { type: 'error'; message: string };
export type ToWorker = { type: 'start'; spec: SearchSpec } | { type: 'more' } | { type: 'cancel' };

export interface SearchOutcome extends SearchResult {
  error?: string;
  cancelled?: boolean;
}

export interface RunSearchOptions {
  /** Takes a batch; the search reads on once it resolves. */
  onHits: (hits: SearchHit[], found: number) => Promise<void>;
  signal?: AbortSignal;
  /** Overrides LOG_REGEX_LINE_BUDGET_MS (tests). */
  lineBudgetMs?: number;
}

/** A search thread and the counter it moves on each line and read (the watchdog's view of it). */
interface SearchThread {
  worker: Worker;
  ticks: Int32Array;
}

function spawn(): SearchThread {
  const buf = new SharedArrayBuffer(4);
  const workerData = { ticks: buf };
  const resourceLimits = { maxOldGenerationSizeMb: 512 };
  const here = import.meta.url;
  let worker: Worker;
  if (here.endsWith('.ts')) {
    // From the sources (tests, tsx): the worker loads tsx first, as its parent did.
    const url = new URL('./search-worker.ts', here).href;
    worker = new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url)}); })`, { eval: true, workerData, resourceLimits });
  } else {
    // From the agent's bundle: the worker's own bundle lies beside it.
    worker = new Worker(new URL('./log-search-worker.mjs', here), { workerData, resourceLimits });
  }
  // An idle thread never keeps the agent (or a test) from exiting.
  worker.unref();
  // Its end is reported by 'exit'; an idle one that ended is not handed out again.
  worker.on('error', () => {});
  worker.once('exit', () => {
    const i = idle.findIndex((x) => x.worker === worker);
    if (i >= 0) idle.splice(i, 1);
  });
  return { worker, ticks: new Int32Array(buf) };
}

/**
 * Threads kept started between searches: starting one costs more than a small search, and
 * a user who searched once searches again. More than this at once start their own and end them.
 */
const KEEP_IDLE = 2;
const idle: SearchThread[] = [];

function takeThread(): SearchThread {
  return idle.pop() ?? spawn();
}

function giveBack(t: SearchThread): void {
  if (idle.length < KEEP_IDLE) {
    t.worker.unref();
    idle.push(t);
  } else void t.worker.terminate();
}

/** Starts a search thread ahead of the first search (the log viewer opening is a good moment). */
export function prewarmSearch(): void {
  if (!idle.length) idle.push(spawn());
}

export function runSearch(spec: SearchSpec, o: RunSearchOptions): Promise<SearchOutcome> {
  const budget = o.lineBudgetMs ?? LOG_REGEX_LINE_BUDGET_MS;
  return new Promise<SearchOutcome>((resolve) => {
    const t = takeThread();
    const w = t.worker;
    w.ref();
    let last = { total: 0, sent: 0, scannedBytes: 0 };
    let settled = false;
    // While the thread starts, and while the caller holds a batch, the worker waits: no sign of a stuck regex.
    let paused = true;
    let seen = Atomics.load(t.ticks, 0);
    let seenAt = Date.now();
    /** `reusable`: the worker finished its search and can take another. */
    const finish = (r: SearchOutcome, reusable: boolean) => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      o.signal?.removeEventListener('abort', onAbort);
      w.off('message', onMessage);
      w.off('exit', onExit);
      if (reusable) giveBack(t);
      else void w.terminate();
      resolve(r);
    };
    // A cancelled search's thread is ended, not waited for: it may be deep in one long line.
    const onAbort = () => finish({ ...last, cancelled: true }, false);
    const watch = setInterval(() => {
      const now = Atomics.load(t.ticks, 0);
      if (paused || now !== seen) {
        seen = now;
        seenAt = Date.now();
      } else if (Date.now() - seenAt > budget) finish({ ...last, error: LOG_REGEX_TOO_COSTLY }, false);
    }, Math.min(250, Math.max(20, budget / 4)));
    const onMessage = (m: FromWorker) => {
      if (settled) return;
      if (m.type === 'started') {
        paused = false;
        seenAt = Date.now();
      } else if (m.type === 'hits') {
        paused = true;
        last = { ...last, total: m.found, sent: last.sent + m.hits.length };
        o.onHits(m.hits, m.found).then(
          () => {
            paused = false;
            seenAt = Date.now();
            if (!settled) w.postMessage({ type: 'more' } satisfies ToWorker);
          },
          (err: Error) => finish({ ...last, error: err.message }, false),
        );
      } else if (m.type === 'done') finish(m.cancelled ? { ...m.result, cancelled: true } : m.result, true);
      else finish({ ...last, error: m.message }, true);
    };
    const onExit = (code: number) => finish({ ...last, error: `the search worker exited (${code})` }, false);
    w.on('message', onMessage);
    w.on('exit', onExit);
    o.signal?.addEventListener('abort', onAbort);
    if (o.signal?.aborted) return onAbort();
    w.postMessage({ type: 'start', spec } satisfies ToWorker);
  });
}
