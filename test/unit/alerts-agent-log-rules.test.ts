// The agent's log-pattern rules (agent/link/alerts.ts) over a stand-in engine that feeds log
// lines: only the containers a rule selects are followed (by name, by label), a match is
// reported with its line and seq, repeats within the rule's interval are counted into the
// next report, a pattern that backtracks catastrophically still finishes (the linear-time
// fallback), and a bad pattern is refused by name with the old rules kept.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { LogRuleWatcher } from '../../agent/link/alerts';
import type { ContainerRecord, Engine, LogEntry } from '../../agent/engine/types';
import type { LogMatch } from '../../protocol/alerts';

/** A log a test writes to: each push reaches the follower. */
class FakeLog {
  private queue: LogEntry[][] = [];
  private wake: (() => void) | undefined;
  private seq = 0;
  push(...lines: string[]) {
    this.queue.push(lines.map((line) => ({ seq: (this.seq += line.length + 1), stream: 'stdout' as const, time: '2026-01-01T00:00:00Z', line: line + '\n' })));
    this.wake?.();
  }
  async *batches(signal?: AbortSignal): AsyncGenerator<LogEntry[]> {
    while (!signal?.aborted) {
      const b = this.queue.shift();
      if (b) {
        yield b;
        continue;
      }
      await new Promise<void>((r) => {
        this.wake = r;
        signal?.addEventListener('abort', () => r(), { once: true });
      });
    }
  }
}

function fakeEngine(containers: Array<{ id: string; name: string; labels?: Record<string, string> }>) {
  const ee = new EventEmitter();
  const logs = new Map(containers.map((c) => [c.id, new FakeLog()]));
  const followed: string[] = [];
  const rec = (c: (typeof containers)[number]) => ({ id: c.id, name: c.name, spec: { labels: c.labels ?? {} }, state: { running: true, startedAt: '2026-01-01T00:00:00Z' } }) as unknown as ContainerRecord;
  const engine = {
    on: (e: string, l: (...a: unknown[]) => void) => ee.on(e, l),
    off: (e: string, l: (...a: unknown[]) => void) => ee.off(e, l),
    list: () => containers.map(rec),
    inspect: (id: string) => rec(containers.find((c) => c.id === id)!),
    logBatches: (id: string, opts?: { signal?: AbortSignal }) => {
      followed.push(id);
      return logs.get(id)!.batches(opts?.signal);
    },
  } as unknown as Engine;
  return { engine, logs, followed };
}

const settle = () => new Promise((r) => setImmediate(r));

test('only selected containers are followed; a match carries its line and seq; repeats within the interval are counted', async () => {
  let now = 0;
  const got: LogMatch[] = [];
  const { engine, logs, followed } = fakeEngine([
    { id: 'a', name: 'web', labels: { 'com.docker.compose.project': 'shop' } },
    { id: 'b', name: 'db' },
  ]);
  const w = new LogRuleWatcher(engine, (m) => got.push(m), () => {}, () => now);
  try {
    assert.deepEqual(w.setRules([{ id: 'r1', pattern: 'panic', minIntervalSec: 60, containers: { labels: { 'com.docker.compose.project': 'shop' } } }]), { watching: 1 });
    assert.deepEqual(followed, ['a']);
    logs.get('a')!.push('all fine', 'PANIC: out of cheese');
    logs.get('b')!.push('panic in db');
    await settle();
    assert.deepEqual(
      got.map((m) => [m.ruleId, m.containerName, m.line, m.seq, m.suppressed]),
      [['r1', 'web', 'PANIC: out of cheese', 9 + 21, 0]],
    );
    now += 30_000;
    logs.get('a')!.push('panic again', 'panic thrice');
    await settle();
    assert.equal(got.length, 1, 'within the interval: counted, not reported');
    now += 31_000;
    logs.get('a')!.push('panic at last');
    await settle();
    assert.deepEqual(
      got.slice(1).map((m) => [m.line, m.suppressed]),
      [['panic at last', 2]],
    );
  } finally {
    w.close();
  }
});

test('a catastrophically backtracking pattern finishes on a long line; a bad regex is refused by name and the rules stay', { timeout: 30_000 }, async () => {
  let now = 0;
  const got: LogMatch[] = [];
  const { engine, logs } = fakeEngine([{ id: 'a', name: 'web' }]);
  const w = new LogRuleWatcher(engine, (m) => got.push(m), () => {}, () => now);
  try {
    w.setRules([{ id: 'evil', pattern: '^(a+)+$', caseSensitive: true, minIntervalSec: 1 }]);
    logs.get('a')!.push('a'.repeat(3000) + 'b', 'a'.repeat(50));
    // Without the fallback the first line alone would run for longer than the universe.
    await settle();
    assert.deepEqual(
      got.map((m) => m.line.length),
      [50],
    );
    assert.throws(() => w.setRules([{ id: 'bad', pattern: '(unclosed', minIntervalSec: 1 }]), /log rule bad: pattern "\(unclosed" is not a valid regex/);
    now += 1_000;
    logs.get('a')!.push('a'.repeat(10));
    await settle();
    logs.get('a')!.push('a'.repeat(11));
    await settle();
    assert.deepEqual(
      got.map((m) => m.line.length),
      [50, 10],
      'the old rule still applies (the 11 came within its 1 s interval of the 10)',
    );
  } finally {
    w.close();
  }
});
