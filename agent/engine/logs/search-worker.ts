// The search worker's entry (see search.ts): runs one search and reports to its parent.
// Bundled on its own next to the agent (scripts/agent-bundle.mjs).
import { setFlagsFromString } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { searchLog, type SearchSpec } from './search-core';
import type { FromWorker, ToWorker } from './search';

// A regex that backtracks past V8's bound runs again on its linear-time engine, with the same
// result: `(a+)+$` over a long line of a's ends at once instead of taking forever. The flag is
// the isolate group's, so the agent's own regexes get the same fallback, which changes no result.
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

const port = parentPort!;
const spec = workerData.spec as SearchSpec;
const ticks = new Int32Array(workerData.ticks as SharedArrayBuffer);
let cancelled = false;
let more: (() => void) | undefined;
port.on('message', (m: ToWorker) => {
  if (m.type === 'more') more?.();
  else if (m.type === 'cancel') {
    cancelled = true;
    more?.();
  }
});
const send = (m: FromWorker) => port.postMessage(m);

searchLog(spec, {
  hits: (hits, found) =>
    new Promise<void>((resolve) => {
      more = () => {
        more = undefined;
        resolve();
      };
      send({ type: 'hits', hits, found });
    }),
  tick: () => void Atomics.add(ticks, 0, 1),
  cancelled: () => cancelled,
}).then(
  (result) => send({ type: 'done', result }),
  (err: Error) => send({ type: 'error', message: err.message }),
);
