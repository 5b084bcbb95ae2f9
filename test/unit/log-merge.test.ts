import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LogEntry } from '../../agent/engine/types';
import { appendEntries, INITIAL_TAIL, logRequest } from '../../app/lib/log-merge';

const entry = (seq: number, stream: LogEntry['stream'] = 'stdout'): LogEntry => ({
  seq,
  stream,
  time: new Date(1_700_000_000_000 + seq * 200).toISOString(),
  line: `tick ${seq}\n`,
});
const seqs = (es: LogEntry[]) => es.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => entry(from + i));

test('first open asks for the tail; a resubscription asks for what follows the last line seen', () => {
  assert.deepEqual(logRequest('h', 'c', null), { hostId: 'h', containerId: 'c', tail: INITIAL_TAIL });
  assert.equal(INITIAL_TAIL, 500);
  assert.deepEqual(logRequest('h', 'c', 42), { hostId: 'h', containerId: 'c', afterSeq: 42 });
  // A seq is any strictly increasing number: 0 is one, not "nothing seen yet".
  assert.deepEqual(logRequest('h', 'c', 0), { hostId: 'h', containerId: 'c', afterSeq: 0 });
});

test('seqs are compared, not counted: gaps and a first seq of 0 are lines like any other', () => {
  const s = appendEntries([], [entry(0), entry(7), entry(1000)], null, 100);
  assert.deepEqual(seqs(s.entries), [0, 7, 1000]);
  assert.equal(s.lastSeq, 1000);
  assert.deepEqual(seqs(appendEntries(s.entries, [entry(1000), entry(1001)], s.lastSeq, 100).entries), [0, 7, 1000, 1001]);
});

test('batches append in order and move the last seq', () => {
  let s = appendEntries([], range(10, 12), null, 100);
  assert.deepEqual(seqs(s.entries), [10, 11, 12]);
  assert.equal(s.lastSeq, 12);
  s = appendEntries(s.entries, [entry(13, 'stderr')], s.lastSeq, 100);
  assert.deepEqual(seqs(s.entries), [10, 11, 12, 13]);
  assert.equal(s.entries[3].stream, 'stderr');
  assert.equal(s.lastSeq, 13);
});

test('a batch overlapping what was shown (old stream racing the resumed one) adds only new lines', () => {
  const first = appendEntries([], range(1, 5), null, 100);
  const again = appendEntries(first.entries, range(3, 8), first.lastSeq, 100);
  assert.deepEqual(seqs(again.entries), [1, 2, 3, 4, 5, 6, 7, 8]);
  const stale = appendEntries(again.entries, range(2, 6), again.lastSeq, 100);
  assert.equal(stale.entries, again.entries, 'nothing new: the same array, so React does not re-render');
  assert.equal(stale.lastSeq, 8);
});

test('the browser keeps at most `max` lines, dropping the oldest', () => {
  const s = appendEntries(range(1, 8), range(9, 12), 8, 10);
  assert.deepEqual(seqs(s.entries), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
});
