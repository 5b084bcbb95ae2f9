// The search worker's entry (see search.ts): runs the searches its parent hands it, one at a
// time, and reports each. Bundled on its own next to the agent (scripts/agent-bundle.mjs).
import { setFlagsFromString } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { searchLog } from './search-core';
import type { FromWorker, ToWorker } from './search';

// A regex that backtracks past V8's bound runs again on its linear-time engine, with the same
// result: `(a+)+$` over a long line of a's ends at once instead of taking forever. The flag is
// the isolate group's, so the agent's own regexes get the same fallback, which changes no result.
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

const port = parentPort!;
const ticks = new Int32Array(workerData.ticks as SharedArrayBuffer);
let cancelled = false;
let more: (() => void) | undefined;
const send = (m: FromWorker) => port.postMessage(m);

port.on('message', (m: ToWorker) => {
  if (m.type === 'more') more?.();
  else if (m.type === 'cancel') {
    cancelled = true;
    more?.();
  } else if (m.type === 'start') {
    cancelled = false;
    send({ type: 'started' });
    searchLog(m.spec, {
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
      (result) => send({ type: 'done', result, cancelled }),
      (err: Error) => send({ type: 'error', message: err.message }),
    );
  }
});
