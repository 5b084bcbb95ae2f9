// The bookkeeping of a followed log, apart from React so it can be tested alone.
// Seqs are only compared: what they count (lines, bytes …) is the agent's business.
import type { LogEntry } from '../../protocol/container';

export const INITIAL_TAIL = 500;

/** What to ask for: the last lines on first open, or everything after the last line seen (null: none yet) when resuming. */
export function logRequest(hostId: string, containerId: string, lastSeq: number | null): { hostId: string; containerId: string; tail?: number; afterSeq?: number } {
  return lastSeq !== null ? { hostId, containerId, afterSeq: lastSeq } : { hostId, containerId, tail: INITIAL_TAIL };
}

/**
 * Appends the entries not seen yet (seq above `lastSeq`; null: none seen), keeping at
 * most `max` lines. Overlapping batches (a resubscription racing an old stream) add
 * nothing twice.
 */
export function appendEntries(prev: LogEntry[], incoming: LogEntry[], lastSeq: number | null, max: number): { entries: LogEntry[]; lastSeq: number | null } {
  let seq = lastSeq;
  const fresh: LogEntry[] = [];
  for (const e of incoming) {
    if (seq === null || e.seq > seq) {
      fresh.push(e);
      seq = e.seq;
    }
  }
  if (fresh.length === 0) return { entries: prev, lastSeq };
  const all = prev.concat(fresh);
  return { entries: all.length > max ? all.slice(all.length - max) : all, lastSeq: seq };
}

/** The entries of a batch that follow `lastSeq` (null: none seen yet), in order: a repeat or an overlap adds nothing twice. */
export function freshEntries<E extends { seq: number }>(incoming: E[], lastSeq: number | null): E[] {
  let seq = lastSeq;
  const fresh: E[] = [];
  for (const e of incoming) {
    if (seq === null || e.seq > seq) {
      fresh.push(e);
      seq = e.seq;
    }
  }
  return fresh;
}
