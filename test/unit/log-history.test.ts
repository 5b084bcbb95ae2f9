// Pages of a log's history (agent/engine/logs/history.ts) over files laid out as the monitor
// lays them out, rotated: before/after/around a seq, at a time, since/until, stream filters,
// and the edges (start of the kept history, end of the log, a half-written last line).
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openLogForRead, readPage, seekTime } from '../../agent/engine/logs/history';
import { closeAll } from '../../agent/engine/logs/index';
import { writeJsonLog, type FixtureLine } from '../fixtures/json-log';

const T0 = Date.UTC(2026, 0, 1);
const N = 5000;
// One line a second; every 7th on stderr; rotated about every 20 kB, so some 20 files.
const lines: FixtureLine[] = Array.from({ length: N }, (_, i) => ({ t: T0 + i * 1000, line: `line ${i} ${'x'.repeat(i % 50)}\n`, stream: i % 7 === 3 ? 'stderr' : 'stdout' }));
const text = (i: number) => lines[i].line;

describe('log history pages', () => {
  let dir: string;
  let path: string;
  let seqs: number[];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-log-history-'));
    path = join(dir, 'c-json.log');
    seqs = await writeJsonLog(path, lines, 20_000);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('the log is rotated into many files, each read by its index', async () => {
    const log = await openLogForRead(path);
    try {
      assert.ok(log.files.length >= 10, `${log.files.length} files`);
      assert.equal(log.start, 0);
      assert.equal(log.end, seqs[N - 1]);
    } finally {
      await closeAll(log.files);
    }
  });

  test('no position: the last lines; before N: the lines just before, across file boundaries, down to the start', async () => {
    const last = await readPage(path, { limit: 100 });
    assert.deepEqual(last.entries.map((e) => e.line), lines.slice(N - 100).map((l) => l.line));
    assert.deepEqual(last.entries.map((e) => e.seq), seqs.slice(N - 100));
    assert.equal(last.hasBefore, true);
    assert.equal(last.hasAfter, false);
    assert.equal(last.endSeq, seqs[N - 1]);
    // Walk all the way back page by page: every line once, in order.
    const seen: string[] = [];
    let page = last;
    for (;;) {
      seen.unshift(...page.entries.map((e) => e.line));
      if (!page.hasBefore) break;
      page = await readPage(path, { before: page.entries[0].seq, limit: 333 });
      assert.ok(page.entries.length > 0);
    }
    assert.equal(seen.length, N);
    assert.deepEqual(seen, lines.map((l) => l.line));
  });

  test('after N: the lines just after, forwards to the end; after 0 starts at the oldest line', async () => {
    const first = await readPage(path, { after: 0, limit: 250 });
    assert.equal(first.entries[0].line, text(0));
    assert.equal(first.hasBefore, false);
    let page = first;
    let count = page.entries.length;
    while (page.hasAfter) {
      const next = await readPage(path, { after: page.entries[page.entries.length - 1].seq, limit: 250 });
      assert.equal(next.entries[0].seq, seqs[count], 'no line skipped or repeated at a page boundary');
      count += next.entries.length;
      page = next;
    }
    assert.equal(count, N);
    // A position inside a line means the lines ending after it: that line comes whole.
    const mid = await readPage(path, { after: seqs[100] + 5, limit: 2 });
    assert.deepEqual(mid.entries.map((e) => e.line), [text(101), text(102)]);
  });

  test('around N: the line in the middle of its context', async () => {
    const p = await readPage(path, { around: seqs[2500], limit: 11 });
    assert.deepEqual(p.entries.map((e) => e.line), lines.slice(2495, 2506).map((l) => l.line));
    assert.equal(p.hasBefore, true);
    assert.equal(p.hasAfter, true);
  });

  test('at a time: from the first line at or after it, in the middle and at the edges', async () => {
    for (const i of [0, 1, 777, 2500, 4998, 4999]) {
      const p = await readPage(path, { at: (T0 + i * 1000) / 1000, limit: 3 });
      assert.equal(p.entries[0].line, text(i), `at line ${i}`);
    }
    // Between two lines: the later one.
    assert.equal((await readPage(path, { at: (T0 + 1234 * 1000 + 500) / 1000, limit: 1 })).entries[0].line, text(1235));
    // Before everything: the first line; after everything: nothing.
    assert.equal((await readPage(path, { at: 0, limit: 1 })).entries[0].line, text(0));
    const none = await readPage(path, { at: (T0 + N * 1000) / 1000, limit: 5 });
    assert.deepEqual(none.entries, []);
    assert.equal(none.hasAfter, false);
  });

  test('seekTime lands on a line start, so reading after it gives that line', async () => {
    const log = await openLogForRead(path);
    try {
      for (const i of [1, 999, 3001]) assert.equal(await seekTime(log, (T0 + i * 1000) / 1000), seqs[i - 1]);
    } finally {
      await closeAll(log.files);
    }
  });

  test('since/until bound every way in; stream filters pick lines', async () => {
    const since = (T0 + 1000 * 1000) / 1000;
    const until = (T0 + 1100 * 1000) / 1000;
    const last = await readPage(path, { since, until, limit: 1000 });
    assert.deepEqual(last.entries.map((e) => e.line), lines.slice(1000, 1100).map((l) => l.line));
    assert.equal(last.hasBefore, false);
    const first = await readPage(path, { since, until, after: 0, limit: 10 });
    assert.equal(first.entries[0].line, text(1000));
    const errOnly = await readPage(path, { stdout: false, limit: 5 });
    assert.ok(errOnly.entries.every((e) => e.stream === 'stderr'));
    assert.deepEqual(errOnly.entries.map((e) => e.line), lines.filter((l) => l.stream === 'stderr').slice(-5).map((l) => l.line));
  });

  test('a line still being written is not shown until it is whole', async () => {
    const p2 = join(dir, 'partial-json.log');
    const s = await writeJsonLog(p2, lines.slice(0, 10));
    await appendFile(p2, '{"log":"half a li');
    const p = await readPage(p2, { limit: 100 });
    assert.equal(p.entries.length, 10);
    assert.equal(p.entries[9].seq, s[9]);
    const f = await readPage(p2, { after: s[8], limit: 100 });
    assert.deepEqual(f.entries.map((e) => e.line), [text(9)]);
  });

  test('lines rotated away: the page starts at the oldest kept, and startSeq says where that is', async () => {
    const p3 = join(dir, 'short-json.log');
    const s = await writeJsonLog(p3, lines.slice(0, 1000), 5_000, 3);
    const p = await readPage(p3, { after: 0, limit: 1 });
    assert.ok(p.startSeq > 0);
    assert.equal(p.entries[0].seq, s[s.indexOf(p.startSeq) + 1]);
    assert.equal(p.hasBefore, false);
  });
});
