// A log search off the agent's event loop: each search runs in a worker thread of its own,
// hands its hits over in batches and waits for the caller to take each batch before it reads
// on (a slow browser slows the search, nothing piles up). A regex is bounded twice: V8 falls
// back to its linear-time engine on excessive backtracking (search-worker.ts), and a line the
// regex is stuck on for LOG_REGEX_LINE_BUDGET_MS (a backreference, which that engine cannot
// run) ends the search with LOG_REGEX_TOO_COSTLY: the worker is terminated, the agent never waits.
import { Worker } from 'node:worker_threads';
import { LOG_REGEX_LINE_BUDGET_MS, LOG_REGEX_TOO_COSTLY } from '../../../protocol/logs';
import type { SearchHit, SearchResult, SearchSpec } from './search-core';

export type { SearchHit, SearchResult, SearchSpec } from './search-core';

export type FromWorker =
  | { type: 'hits'; hits: SearchHit[]; found: number }
  | { type: 'done'; result: SearchResult }
  | { type: 'error'; message: string };
export type ToWorker = { type: 'more' } | { type: 'cancel' };

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

function spawn(spec: SearchSpec, ticks: SharedArrayBuffer): Worker {
  const workerData = { spec, ticks };
  const resourceLimits = { maxOldGenerationSizeMb: 512 };
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // From the sources (tests, tsx): the worker loads tsx first, as its parent did.
    const url = new URL('./search-worker.ts', here).href;
    return new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url)}); })`, { eval: true, workerData, resourceLimits });
  }
  // From the agent's bundle: the worker's own bundle lies beside it.
  return new Worker(new URL('./log-search-worker.mjs', here), { workerData, resourceLimits });
}

export function runSearch(spec: SearchSpec, o: RunSearchOptions): Promise<SearchOutcome> {
  const ticksBuf = new SharedArrayBuffer(4);
  const ticks = new Int32Array(ticksBuf);
  const budget = o.lineBudgetMs ?? LOG_REGEX_LINE_BUDGET_MS;
  return new Promise<SearchOutcome>((resolve) => {
    const w = spawn(spec, ticksBuf);
    let last = { total: 0, sent: 0, scannedBytes: 0 };
    let settled = false;
    // While the caller holds a batch the worker waits, and that is no sign of a stuck regex.
    let paused = false;
    let seen = -1;
    let seenAt = Date.now();
    const finish = (r: SearchOutcome) => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      o.signal?.removeEventListener('abort', onAbort);
      void w.terminate();
      resolve(r);
    };
    const onAbort = () => finish({ ...last, cancelled: true });
    o.signal?.addEventListener('abort', onAbort);
    if (o.signal?.aborted) return onAbort();
    const watch = setInterval(() => {
      const now = Atomics.load(ticks, 0);
      if (paused || now !== seen) {
        seen = now;
        seenAt = Date.now();
      } else if (Date.now() - seenAt > budget) finish({ ...last, error: LOG_REGEX_TOO_COSTLY });
    }, Math.min(250, Math.max(20, budget / 4)));
    w.on('message', (m: FromWorker) => {
      if (settled) return;
      if (m.type === 'hits') {
        paused = true;
        last = { ...last, total: m.found, sent: last.sent + m.hits.length };
        o.onHits(m.hits, m.found).then(
          () => {
            paused = false;
            seenAt = Date.now();
            if (!settled) w.postMessage({ type: 'more' } satisfies ToWorker);
          },
          (err: Error) => finish({ ...last, error: err.message }),
        );
      } else if (m.type === 'done') finish(m.result);
      else finish({ ...last, error: m.message });
    });
    w.on('error', (err) => finish({ ...last, error: err.message }));
    w.on('exit', (code) => finish({ ...last, error: `the search worker exited (${code})` }));
  });
}
