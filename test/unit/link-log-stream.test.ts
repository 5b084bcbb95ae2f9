// The link's log subscription over a real json-file: batches of at most maxEntries, one
// unacknowledged batch at a time, every line once and in order, done at the end.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readLogBatches, type LogSource } from '../../agent/engine/logs/index';
import type { Engine } from '../../agent/engine/types';
import { streamLogs } from '../../agent/link/log-stream';
import type { LogBatch } from '../../protocol/agent-link';

let dir: string;
let src: LogSource;
const LINES = 1000;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-log-stream-'));
  src = { path: join(dir, 'x.log'), status: () => 'exited' };
  const t = '2026-01-01T00:00:00Z';
  await writeFile(src.path, Array.from({ length: LINES }, (_, i) => JSON.stringify({ log: `line ${i}\n`, stream: 'stdout', time: t }) + '\n').join(''));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Only the one engine call streamLogs makes, over the real reader.
const engine = { logBatches: (_id: string, opts: Parameters<typeof readLogBatches>[1]) => readLogBatches(src, opts) } as unknown as Engine;

test('a whole log goes out in batches of at most maxEntries, each sent only after the last was acknowledged', async () => {
  const batches: LogBatch[] = [];
  let outstanding = 0;
  let release: (() => void) | undefined;
  const acks: Array<() => void> = [];
  const done = streamLogs(engine, {
    subId: 's',
    id: 'c',
    signal: new AbortController().signal,
    send: (b) => {
      batches.push(b);
      outstanding++;
      assert.equal(outstanding, 1, 'a batch was sent before the previous one was acknowledged');
      return new Promise<void>((resolve) => {
        acks.push(() => {
          outstanding--;
          resolve();
        });
        release?.();
      });
    },
  });
  // Acknowledge one batch at a time, each once it has arrived.
  for (;;) {
    if (!acks.length) await new Promise<void>((r) => (release = r));
    const ack = acks.shift()!;
    const last = batches.at(-1)!;
    ack();
    if (last.done) break;
  }
  await done;
  const entries = batches.flatMap((b) => b.entries);
  assert.deepEqual(entries.map((e) => e.line), Array.from({ length: LINES }, (_, i) => `line ${i}\n`));
  assert.ok(batches.every((b) => b.entries.length <= 200), `batch sizes ${batches.map((b) => b.entries.length)}`);
  assert.ok(batches.slice(0, -1).every((b) => !b.done) && batches.at(-1)!.done);
  assert.ok(entries.every((e, i) => i === 0 || e.seq > entries[i - 1].seq));

  // Resuming after any of those seqs gives the rest.
  const from = entries[LINES - 301];
  const resumed: LogBatch[] = [];
  await streamLogs(engine, { subId: 'r', id: 'c', afterSeq: from.seq, signal: new AbortController().signal, send: async (b) => void resumed.push(b) });
  assert.deepEqual(resumed.flatMap((b) => b.entries), entries.slice(LINES - 300));

  const tailed: LogBatch[] = [];
  await streamLogs(engine, { subId: 't', id: 'c', tail: 5, signal: new AbortController().signal, send: async (b) => void tailed.push(b) });
  assert.deepEqual(tailed.flatMap((b) => b.entries), entries.slice(-5));
});
