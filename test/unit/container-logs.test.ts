import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readLogBatches, readLogs, timeToSeconds, type LogSource } from '../../agent/engine/logs/index';
import type { ContainerStatus, LogEntry } from '../../agent/engine/types';
import { collect } from '../fixtures/collect';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-logs-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const line = (log: string, stream: string, time: string) => JSON.stringify({ log, stream, time }) + '\n';
const T = '2026-01-01T00:00:00.000000001Z';
const exited = (path: string): LogSource => ({ path, status: (): ContainerStatus => 'exited' });

/** What a reader of the whole file should see: each record with the byte position just past its newline. */
function expected(content: string): Array<{ seq: number; line: string; stream: string }> {
  const out: Array<{ seq: number; line: string; stream: string }> = [];
  let pos = 0;
  for (const raw of content.split('\n').slice(0, -1)) {
    pos += Buffer.byteLength(raw) + 1;
    try {
      const r = JSON.parse(raw) as { log: string; stream: string };
      out.push({ seq: pos, line: r.log, stream: r.stream });
    } catch {
      // damaged: no entry
    }
  }
  return out;
}
const view = (es: LogEntry[]) => es.map((e) => ({ seq: e.seq, line: e.line, stream: e.stream }));

/** A follower of `path` that records what it got and lets a test wait for a given number of lines. */
function follow(src: LogSource, opts: { signal?: AbortSignal; tail?: number } = {}) {
  const got: LogEntry[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const done = (async () => {
    for await (const e of readLogs(src, { follow: true, ...opts })) {
      got.push(e);
      for (const w of waiters.filter((w) => got.length >= w.n)) w.resolve();
    }
  })();
  const lines = (n: number) => (got.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })));
  return { got, done, lines };
}

test('nanosecond timestamps keep their sub-millisecond part', () => {
  assert.equal(timeToSeconds('2026-11-22T19:30:00.123456789Z'), Date.UTC(2026, 10, 22, 19, 30, 0) / 1000 + 0.123456789);
  assert.equal(timeToSeconds('2026-11-22T19:30:00Z'), Date.UTC(2026, 10, 22, 19, 30, 0) / 1000);
});

test('a seq is the byte position just past its line; filters and tail over a json-file log', async () => {
  const path = join(dir, 'a.log');
  const content =
    line('one\n', 'stdout', '2026-01-01T00:00:01.000000001Z') +
    line('twö\n', 'stderr', '2026-01-01T00:00:02.5Z') +
    'not json\n' +
    line('four', 'stdout', '2026-01-01T00:00:04Z');
  await writeFile(path, content);
  const src = exited(path);
  const every = await collect(readLogs(src));
  assert.deepEqual(view(every), expected(content));
  assert.deepEqual(every.map((e) => e.line), ['one\n', 'twö\n', 'four']);
  assert.equal(every.at(-1)!.seq, Buffer.byteLength(content));
  const [one, two, four] = every.map((e) => e.seq);
  assert.deepEqual((await collect(readLogs(src, { tail: 2 }))).map((e) => e.seq), [two, four]);
  assert.equal((await collect(readLogs(src, { tail: 0 }))).length, 0);
  assert.deepEqual((await collect(readLogs(src, { afterSeq: two }))).map((e) => e.seq), [four]);
  assert.deepEqual((await collect(readLogs(src, { afterSeq: one }))).map((e) => e.seq), [two, four]);
  assert.deepEqual((await collect(readLogs(src, { stdout: false }))).map((e) => e.seq), [two]);
  const t0 = Date.UTC(2026, 0, 1) / 1000;
  assert.deepEqual((await collect(readLogs(src, { since: t0 + 2, until: t0 + 4 }))).map((e) => e.seq), [two]);
  assert.deepEqual((await collect(readLogs(src, { since: t0 + 1.00001 }))).map((e) => e.seq), [two, four]);
});

test('tail counts the last lines of the log, then the stream filter applies, as Docker does', async () => {
  const path = join(dir, 'tail-filter.log');
  await writeFile(path, line('o1\n', 'stdout', T) + line('e1\n', 'stderr', T) + line('o2\n', 'stdout', T) + line('o3\n', 'stdout', T));
  const src = exited(path);
  assert.deepEqual((await collect(readLogs(src, { tail: 2, stderr: false }))).map((e) => e.line), ['o2\n', 'o3\n']);
  assert.deepEqual((await collect(readLogs(src, { tail: 2, stdout: false }))).map((e) => e.line), []);
  assert.deepEqual((await collect(readLogs(src, { tail: 3, stdout: false }))).map((e) => e.line), ['e1\n']);
});

test('resuming after any seq gives exactly the lines after it, damaged lines in between or not', async () => {
  const path = join(dir, 'resume.log');
  const parts: string[] = [];
  for (let i = 1; i <= 40; i++) {
    parts.push(line(`line ${i}\n`, i % 3 ? 'stdout' : 'stderr', T));
    // A torn write and a stray non-JSON line in the middle.
    if (i === 17) parts.push('{"log":"torn', '\n');
    if (i === 25) parts.push('garbage {\n');
  }
  const content = parts.join('');
  await writeFile(path, content);
  const src = exited(path);
  const all = await collect(readLogs(src));
  assert.deepEqual(view(all), expected(content));
  assert.equal(all.length, 40);
  for (let k = 0; k < all.length; k++) {
    const resumed = await collect(readLogs(src, { afterSeq: all[k].seq }));
    assert.deepEqual(view(resumed), view(all.slice(k + 1)), `after seq ${all[k].seq} (line ${k + 1})`);
  }
  // A position inside a line (a seq nobody was given) still means: the lines that end after it.
  const inside = all[9].seq + 5;
  assert.deepEqual(view(await collect(readLogs(src, { afterSeq: inside }))), view(all.slice(10)));
  assert.deepEqual(view(await collect(readLogs(src, { afterSeq: 0 }))), view(all));
  assert.deepEqual(await collect(readLogs(src, { afterSeq: all.at(-1)!.seq })), []);
});

test('tail reads back across chunks: long lines, many lines, damaged lines and an unfinished last line', async () => {
  const path = join(dir, 'long.log');
  const parts: string[] = [];
  for (let i = 0; i < 3000; i++) {
    // Lines of up to ~16 KiB (the monitor's split size), so some span the reader's 64 KiB chunks.
    const len = i % 97 === 0 ? 16000 : (i * 37) % 300;
    parts.push(line(`${i}:${'x'.repeat(len)}\n`, i % 5 ? 'stdout' : 'stderr', T));
    if (i % 500 === 250) parts.push('damaged\n');
  }
  const content = parts.join('');
  // The monitor is in the middle of writing the next line.
  await writeFile(path, content + '{"log":"half');
  const src = exited(path);
  const all = await collect(readLogs(src));
  assert.deepEqual(view(all), expected(content));
  for (const n of [1, 2, 3, 10, 97, 98, 500, 2999, 3000, 3001, 100_000]) {
    const tail = await collect(readLogs(src, { tail: n }));
    assert.deepEqual(view(tail), view(all.slice(-n)), `tail ${n}`);
  }
});

test('the end a tail counts from, and where a read without follow stops, is the log as it was at the call', async () => {
  const path = join(dir, 'pinned.log');
  await writeFile(path, line('old 1\n', 'stdout', T) + line('old 2\n', 'stdout', T));
  const src = exited(path);
  const tail1 = readLogs(src, { tail: 1 });
  const everything = readLogs(src);
  await appendFile(path, line('new\n', 'stdout', T));
  assert.deepEqual((await collect(tail1)).map((e) => e.line), ['old 2\n']);
  assert.deepEqual((await collect(everything)).map((e) => e.line), ['old 1\n', 'old 2\n']);
});

test('follow with tail 0 starts at the end as it was at the call: what came after, nothing before', { timeout: 20_000 }, async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const path = join(dir, 'attach.log');
  const unfinished = line('being written\n', 'stdout', T);
  await writeFile(path, Array.from({ length: 1000 }, (_, i) => line(`past ${i}\n`, 'stdout', T)).join('') + unfinished.slice(0, 15));
  let status: ContainerStatus = 'exited';
  const listeners = new Set<() => void>();
  const src: LogSource = {
    path,
    status: () => status,
    onChange: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  // Like an attach: the read is set up, then the container starts and prints before the first batch is asked for.
  const batches = readLogBatches(src, { follow: true, tail: 0 });
  status = 'running';
  await appendFile(path, unfinished.slice(15));
  await appendFile(path, line('run 1\n', 'stdout', T));
  const got: string[] = [];
  let ended = false;
  const reading = (async () => {
    for await (const b of batches) got.push(...b.map((e) => e.line));
    ended = true;
  })();
  while (got.length < 2) await new Promise((r) => setImmediate(r));
  assert.deepEqual(got, ['being written\n', 'run 1\n']);
  await appendFile(path, line('run 2\n', 'stdout', T));
  status = 'exited';
  // The exit is announced; with timers frozen, the reader can only end if that wakes it.
  for (const l of listeners) l();
  await reading;
  assert.ok(ended);
  assert.deepEqual(got, ['being written\n', 'run 1\n', 'run 2\n']);
  assert.equal(listeners.size, 0, 'the follower unsubscribed');
});

test('follow waits while created, picks up lines as they are written, ends once stopped and drained', { timeout: 20_000 }, async (t) => {
  // No timer fires in this test: every line must arrive because the file changed, not on a poll.
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const path = join(dir, 'b.log');
  await writeFile(path, '');
  let status: ContainerStatus = 'created';
  const listeners = new Set<() => void>();
  const src: LogSource = {
    path,
    status: () => status,
    onChange: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  const f = follow(src);
  status = 'running';
  for (const l of listeners) l();
  await appendFile(path, line('a\n', 'stdout', T));
  await f.lines(1);
  // Half a line first: the reader must wait for the rest.
  const second = line('b\n', 'stdout', T);
  await appendFile(path, second.slice(0, 10));
  await appendFile(path, second.slice(10));
  await f.lines(2);
  await appendFile(path, line('c\n', 'stderr', T));
  await f.lines(3);
  status = 'exited';
  for (const l of listeners) l();
  await f.done;
  assert.deepEqual(f.got.map((e) => e.line), ['a\n', 'b\n', 'c\n']);
  assert.deepEqual(f.got.map((e) => e.stream), ['stdout', 'stdout', 'stderr']);
});

test('follow stops on abort, without waiting for a poll', { timeout: 20_000 }, async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const path = join(dir, 'c.log');
  await writeFile(path, line('x\n', 'stdout', T));
  const ac = new AbortController();
  const f = follow({ path, status: () => 'running' }, { signal: ac.signal });
  await f.lines(1);
  ac.abort();
  await f.done;
  assert.deepEqual(f.got.map((e) => e.line), ['x\n']);
});

test('follow resumes after a seq and keeps seqs increasing as the log grows', { timeout: 20_000 }, async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const path = join(dir, 'd.log');
  await writeFile(path, line('1\n', 'stdout', T) + line('2\n', 'stdout', T));
  const [first] = await collect(readLogs(exited(path)));
  const ac = new AbortController();
  const got: LogEntry[] = [];
  const reading = (async () => {
    for await (const e of readLogs({ path, status: () => 'running' }, { follow: true, afterSeq: first.seq, signal: ac.signal })) got.push(e);
  })();
  await appendFile(path, 'garbage\n' + line('3\n', 'stdout', T));
  while (got.length < 2) await new Promise((r) => setImmediate(r));
  ac.abort();
  await reading;
  assert.deepEqual(got.map((e) => e.line), ['2\n', '3\n']);
  assert.ok(got[0].seq > first.seq && got[1].seq > got[0].seq);
});
