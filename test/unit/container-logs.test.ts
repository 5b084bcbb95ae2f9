import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readLogs, timeToSeconds } from '../../agent/engine/logs/index';
import type { ContainerStatus } from '../../agent/engine/types';
import { collect } from '../fixtures/collect';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-logs-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const line = (log: string, stream: string, time: string) => JSON.stringify({ log, stream, time }) + '\n';

test('nanosecond timestamps keep their sub-millisecond part', () => {
  assert.equal(timeToSeconds('2026-11-22T19:30:00.123456789Z'), Date.UTC(2026, 10, 22, 19, 30, 0) / 1000 + 0.123456789);
  assert.equal(timeToSeconds('2026-11-22T19:30:00Z'), Date.UTC(2026, 10, 22, 19, 30, 0) / 1000);
});

test('seq numbers, filters and tail over a json-file log', async () => {
  const path = join(dir, 'a.log');
  await writeFile(
    path,
    line('one\n', 'stdout', '2026-01-01T00:00:01.000000001Z') +
      line('two\n', 'stderr', '2026-01-01T00:00:02.5Z') +
      'not json\n' +
      line('four', 'stdout', '2026-01-01T00:00:04Z'),
  );
  const src = { path, status: (): ContainerStatus => 'exited' };
  const every = await collect(readLogs(src));
  assert.deepEqual(every.map((e) => [e.seq, e.stream, e.line]), [
    [1, 'stdout', 'one\n'],
    [2, 'stderr', 'two\n'],
    [4, 'stdout', 'four'],
  ]);
  assert.deepEqual((await collect(readLogs(src, { tail: 2 }))).map((e) => e.seq), [2, 4]);
  assert.deepEqual((await collect(readLogs(src, { tail: 0 }))).length, 0);
  assert.deepEqual((await collect(readLogs(src, { afterSeq: 2 }))).map((e) => e.seq), [4]);
  assert.deepEqual((await collect(readLogs(src, { stdout: false }))).map((e) => e.seq), [2]);
  const t0 = Date.UTC(2026, 0, 1) / 1000;
  assert.deepEqual((await collect(readLogs(src, { since: t0 + 2, until: t0 + 4 }))).map((e) => e.seq), [2]);
  assert.deepEqual((await collect(readLogs(src, { since: t0 + 1.00001 }))).map((e) => e.seq), [2, 4]);
});

test('follow waits while created, picks up lines as they come, ends once stopped and drained', async () => {
  const path = join(dir, 'b.log');
  await writeFile(path, '');
  let status: ContainerStatus = 'created';
  const got: Array<{ line: string; at: number }> = [];
  const done = (async () => {
    for await (const e of readLogs({ path, status: () => status }, { follow: true })) got.push({ line: e.line, at: Date.now() });
  })();
  await new Promise((r) => setTimeout(r, 300));
  status = 'running';
  const t1 = Date.now();
  await appendFile(path, line('a\n', 'stdout', new Date().toISOString()));
  // Half a line first: the reader must wait for the rest.
  const second = line('b\n', 'stdout', new Date().toISOString());
  await appendFile(path, second.slice(0, 10));
  await new Promise((r) => setTimeout(r, 100));
  await appendFile(path, second.slice(10));
  await appendFile(path, line('c\n', 'stdout', new Date().toISOString()));
  status = 'exited';
  await done;
  assert.deepEqual(got.map((g) => g.line), ['a\n', 'b\n', 'c\n']);
  assert.ok(got[0].at - t1 < 400, `first line after ${got[0].at - t1} ms`);
});

test('follow stops on abort', async () => {
  const path = join(dir, 'c.log');
  await writeFile(path, line('x\n', 'stdout', new Date().toISOString()));
  const ac = new AbortController();
  const seen: string[] = [];
  const t0 = Date.now();
  setTimeout(() => ac.abort(), 200);
  for await (const e of readLogs({ path, status: () => 'running' }, { follow: true, signal: ac.signal })) seen.push(e.line);
  assert.deepEqual(seen, ['x\n']);
  assert.ok(Date.now() - t0 < 1000);
});
