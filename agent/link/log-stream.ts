// One log subscription: read the container's log and hand it out in batches, never
// reading further than one read of the file past the unacknowledged batch, so a slow
// browser slows the file reader instead of growing the agent's memory.
import type { Engine, LogEntry } from '../engine/types';
import type { LogBatch } from '../../protocol/agent-link';

export interface LogStreamOptions {
  subId: string;
  id: string;
  /** `id` is a removed container's kept log. */
  kept?: boolean;
  tail?: number;
  afterSeq?: number;
  /** Resolves once the receiver acknowledged the batch. */
  send: (batch: LogBatch) => Promise<void>;
  signal: AbortSignal;
  maxEntries?: number;
  maxDelayMs?: number;
}

const TIMEOUT = Symbol('timeout');
const ABORTED = Symbol('aborted');

function untilAbort(signal: AbortSignal): Promise<typeof ABORTED> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(ABORTED);
    else signal.addEventListener('abort', () => resolve(ABORTED), { once: true });
  });
}

function after(ms: number): { promise: Promise<typeof TIMEOUT>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<typeof TIMEOUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMEOUT), Math.max(0, ms));
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Runs until the log ends (container stopped and all read: last batch has done) or `signal` aborts. */
export async function streamLogs(engine: Engine, o: LogStreamOptions): Promise<void> {
  const maxEntries = o.maxEntries ?? 200;
  const maxDelayMs = o.maxDelayMs ?? 50;
  const aborted = untilAbort(o.signal);
  let iter: AsyncIterator<LogEntry[]>;
  try {
    const opts = { follow: true, tail: o.afterSeq === undefined ? o.tail : undefined, afterSeq: o.afterSeq, signal: o.signal };
    iter = (o.kept ? engine.logBatchesOf(o.id, true, opts).batches : engine.logBatches(o.id, opts))[Symbol.asyncIterator]();
  } catch (err) {
    // A log that cannot be read (log driver none): the stream is over before it began.
    console.error(`berth-agent: log stream ${o.subId} of ${o.id.slice(0, 12)}: ${(err as Error).message}`);
    await Promise.race([o.send({ subId: o.subId, entries: [], done: true }).catch(() => {}), aborted]);
    return;
  }
  // A read that outlived its batch's deadline is carried into the next batch, not repeated.
  let pending: Promise<IteratorResult<LogEntry[]>> | undefined;
  // Lines read but not sent yet: what one read of the file gave beyond maxEntries.
  let buffered: LogEntry[] = [];
  let ended = false;
  try {
    for (;;) {
      if (!buffered.length && !ended) {
        pending ??= iter.next();
        const first = await Promise.race([pending, aborted]);
        if (first === ABORTED) return;
        pending = undefined;
        if (first.done) ended = true;
        else buffered = first.value;
        // Lines that come soon after go in the same batch.
        const deadline = Date.now() + maxDelayMs;
        while (!ended && buffered.length < maxEntries) {
          pending ??= iter.next();
          const timer = after(deadline - Date.now());
          const r = await Promise.race([pending, timer.promise, aborted]);
          timer.cancel();
          if (r === ABORTED) return;
          if (r === TIMEOUT) break;
          pending = undefined;
          if (r.done) ended = true;
          else buffered = buffered.concat(r.value);
        }
      }
      const entries = buffered.slice(0, maxEntries);
      buffered = buffered.slice(maxEntries);
      const last = ended && !buffered.length;
      if (o.signal.aborted) return;
      const acked = await Promise.race([o.send(last ? { subId: o.subId, entries, done: true } : { subId: o.subId, entries }), aborted]);
      if (acked === ABORTED || last) return;
    }
  } catch (err) {
    if (o.signal.aborted) return;
    // The container went away mid-stream, or its log could not be read: tell the reader the stream is over.
    console.error(`berth-agent: log stream ${o.subId} of ${o.id.slice(0, 12)} ended: ${(err as Error).message}`);
    await Promise.race([o.send({ subId: o.subId, entries: [], done: true }).catch(() => {}), aborted]);
  } finally {
    void iter.return?.().catch(() => {});
  }
}
