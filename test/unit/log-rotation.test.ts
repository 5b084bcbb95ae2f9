// The log options as dockerd reads them (go-units' FromHumanSize, strconv, json-file's
// checks), and the agent's reader over rotated files laid out as the monitor lays them out
// (LOG, LOG.1 …, LOG.index with each file's inode and start), including the moments of a
// rotation a reader can land in.
import assert from 'node:assert/strict';
import { link, mkdtemp, rename, rm, stat, unlink, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fromHumanSize, resolveLogConfig } from '../../agent/engine/logs/config';
import { readLogs, type LogSource } from '../../agent/engine/logs/index';
import type { ContainerStatus, LogEntry } from '../../agent/engine/types';
import { EngineError } from '../../agent/engine/errors';
import { collect } from '../fixtures/collect';

describe('log options', () => {
  test('max-size in go-units FromHumanSize units: powers of 1000, whatever the suffix spelling', () => {
    const cases: Array<[string, number]> = [
      ['10', 10],
      ['10b', 10],
      ['10k', 10_000],
      ['10K', 10_000],
      ['10kb', 10_000],
      ['10KiB', 10_000],
      ['1.5m', 1_500_000],
      ['2 g', 2_000_000_000],
      ['1e3k', 1_000_000],
      ['0.5', 0],
    ];
    for (const [s, n] of cases) assert.equal(fromHumanSize(s), n, s);
  });

  const refusal = (log: { driver?: string; options?: Record<string, string> }): string => {
    try {
      resolveLogConfig(log);
    } catch (err) {
      assert.ok(err instanceof EngineError && err.status === 400, String(err));
      return err.message;
    }
    return 'accepted';
  };

  test('refusals in dockerd\'s words, checked in its order', () => {
    assert.equal(refusal({ options: { 'max-size': '' } }), "failed to initialize logging driver: invalid size: ''");
    assert.equal(refusal({ options: { 'max-size': 'k' } }), "failed to initialize logging driver: invalid size: 'k'");
    assert.equal(refusal({ options: { 'max-size': '10k ' } }), 'failed to initialize logging driver: strconv.ParseFloat: parsing "10k": invalid syntax');
    assert.equal(refusal({ options: { 'max-size': '1e999' } }), 'failed to initialize logging driver: strconv.ParseFloat: parsing "1e999": value out of range');
    assert.equal(refusal({ options: { 'max-size': '10kibi' } }), "failed to initialize logging driver: invalid suffix: 'kibi'");
    assert.equal(refusal({ options: { 'max-size': '10kx' } }), "failed to initialize logging driver: invalid suffix: 'kx'");
    assert.equal(refusal({ options: { 'max-size': '0.5' } }), 'failed to initialize logging driver: max-size must be a positive number');
    assert.equal(refusal({ options: { 'max-size': '1k', 'max-file': '99999999999999999999' } }), 'failed to initialize logging driver: strconv.Atoi: parsing "99999999999999999999": value out of range');
    assert.equal(refusal({ options: { 'max-size': '1k', 'max-file': '-2' } }), 'failed to initialize logging driver: max-file cannot be less than 1');
    assert.equal(refusal({ options: { 'max-size': '1k', 'max-file': '2', compress: 'yes' } }), 'failed to initialize logging driver: strconv.ParseBool: parsing "yes": invalid syntax');
    // The keys are checked before the values, the mode before the keys.
    assert.equal(refusal({ options: { 'max-size': 'abc', nosuch: '1' } }), "unknown log opt 'nosuch' for json-file log driver");
    assert.equal(refusal({ options: { nosuch: '1', mode: 'x' } }), 'logger: logging mode not supported: x');
    assert.equal(refusal({ driver: 'none', options: { 'max-size': '1k' } }), 'invalid logging opts for driver none');
    assert.equal(refusal({ driver: 'journald' }), 'Berth does not support --log-driver journald');
    assert.equal(refusal({ options: { tag: '{{.Name}}' } }), 'Berth does not support --log-opt tag');
    assert.equal(refusal({ options: { 'max-size': '1k', 'max-file': '1000001' } }), 'Berth does not support --log-opt max-file above 1000000');
  });

  test('what is accepted, resolved', () => {
    assert.deepEqual(resolveLogConfig(undefined), { driver: 'json-file', options: {}, maxSize: 0, maxFile: 1 });
    assert.deepEqual(resolveLogConfig({ driver: 'none' }), { driver: 'none', options: {}, maxSize: 0, maxFile: 1 });
    assert.deepEqual(resolveLogConfig({ driver: 'json-file', options: { 'max-size': '10k', 'max-file': '+3' } }), {
      driver: 'json-file',
      options: { 'max-size': '10k', 'max-file': '+3' },
      maxSize: 10_000,
      maxFile: 3,
    });
    // Empty attribute options add nothing to a line, so they are no request Berth fails to honour.
    assert.equal(resolveLogConfig({ options: { env: '', labels: '', compress: 'false', mode: 'blocking' } }).maxSize, 0);
  });
});

describe('reading a rotated log', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-log-rotation-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const T = '2026-01-01T00:00:00.000000001Z';
  const record = (n: number) => JSON.stringify({ log: `${n}\n`, stream: 'stdout', time: T }) + '\n';
  const exited = (path: string): LogSource => ({ path, status: (): ContainerStatus => 'exited' });
  const lines = (es: LogEntry[]) => es.map((e) => Number(e.line));

  /** Writes lines from..to as one file; returns its size. */
  async function file(path: string, from: number, to: number): Promise<number> {
    let s = '';
    for (let n = from; n <= to; n++) s += record(n);
    await writeFile(path, s);
    return Buffer.byteLength(s);
  }
  async function index(log: string, entries: Array<[string, number]>): Promise<void> {
    const rows = await Promise.all(entries.map(async ([p, start]) => `${(await stat(p)).ino} ${start}\n`));
    await writeFile(log + '.index.tmp', rows.join(''));
    await rename(log + '.index.tmp', log + '.index');
  }

  test('files are read oldest first, seqs go on across them, and a tail reaches back through them', async () => {
    const log = join(dir, 'a-json.log');
    const start2 = 5_000;
    const s2 = await file(log + '.2', 1, 10);
    const s1 = await file(log + '.1', 11, 20);
    await file(log, 21, 25);
    await index(log, [[log + '.2', start2], [log + '.1', start2 + s2], [log, start2 + s2 + s1]]);
    const all = await collect(readLogs(exited(log)));
    assert.deepEqual(lines(all), Array.from({ length: 25 }, (_, i) => i + 1));
    assert.equal(all[0].seq, start2 + record(1).length);
    assert.equal(all[10].seq, start2 + s2 + record(11).length);
    assert.deepEqual(lines(await collect(readLogs(exited(log), { tail: 17 }))), Array.from({ length: 17 }, (_, i) => i + 9));
    assert.deepEqual(lines(await collect(readLogs(exited(log), { tail: 5 }))), [21, 22, 23, 24, 25]);
    assert.deepEqual(lines(await collect(readLogs(exited(log), { tail: 6 }))), [20, 21, 22, 23, 24, 25]);
    assert.deepEqual(lines(await collect(readLogs(exited(log), { tail: 1000 }))), lines(all));
    for (let i = 0; i < all.length; i++) assert.deepEqual(lines(await collect(readLogs(exited(log), { afterSeq: all[i].seq }))), lines(all.slice(i + 1)));
  });

  test('mid-rotation: a file the index no longer lists is left out, an unlisted newest file waits for its index', async () => {
    const log = join(dir, 'b-json.log');
    const s2 = await file(log + '.2', 1, 10);
    const s1 = await file(log + '.1', 11, 20);
    await file(log, 21, 25);
    // The monitor wrote the index that drops LOG.2 before removing it: a reader that finds it skips it.
    await index(log, [[log + '.1', s2], [log, s2 + s1]]);
    assert.deepEqual(lines(await collect(readLogs(exited(log)))), Array.from({ length: 15 }, (_, i) => i + 11));
    // LOG.1 missing from a listing (a rename under way) leaves a gap: the reader gives what follows the gap.
    await unlink(log + '.2');
    await rename(log + '.1', log + '.2');
    assert.deepEqual(lines(await collect(readLogs(exited(log)))), Array.from({ length: 15 }, (_, i) => i + 11));
    await link(log + '.2', log + '.1');
    await unlink(log + '.2');
    assert.deepEqual(lines(await collect(readLogs(exited(log)))), Array.from({ length: 15 }, (_, i) => i + 11));
  });

  test('a file the index lists but no name leads to: the reader gives what follows it; a jump in starts is no missing file', async () => {
    const log = join(dir, 'd-json.log');
    const s2 = await file(log + '.2', 1, 10);
    const s1 = await file(log + '.1', 11, 20);
    await file(log, 21, 25);
    await index(log, [[log + '.2', 0], [log + '.1', s2], [log, s2 + s1]]);
    await rename(log + '.1', log + '.moved');
    assert.deepEqual(lines(await collect(readLogs(exited(log)))), [21, 22, 23, 24, 25]);
    await rename(log + '.moved', log + '.1');
    // A monitor that died mid-rotation starts the next file past everything the index knew.
    await index(log, [[log + '.2', 0], [log + '.1', s2], [log, s2 + s1 + 1000]]);
    const all = await collect(readLogs(exited(log)));
    assert.deepEqual(lines(all), Array.from({ length: 25 }, (_, i) => i + 1));
    assert.equal(all[20].seq, s2 + s1 + 1000 + record(21).length);
  });

  test('a follower holding the old file moves on to the new one, missing and repeating nothing', async () => {
    const log = join(dir, 'c-json.log');
    let status: ContainerStatus = 'running';
    const src: LogSource = { path: log, status: () => status };
    const s0 = await file(log, 1, 3);
    await index(log, [[log, 0]]);
    const got: number[] = [];
    let waiting: { n: number; resolve: () => void } | undefined;
    const done = (async () => {
      for await (const e of readLogs(src, { follow: true })) {
        got.push(Number(e.line));
        if (waiting && got.length >= waiting.n) waiting.resolve();
      }
    })();
    const seen = (n: number) => (got.length >= n ? Promise.resolve() : new Promise<void>((resolve) => (waiting = { n, resolve })));
    await seen(3);
    // A rotation as the monitor does one, and a line more in the old file first (written before the rotation).
    await appendFile(log, record(4));
    await file(log + '.next', 5, 6);
    await index(log, [[log, 0], [log + '.next', s0 + record(4).length]]);
    await link(log, log + '.1');
    await rename(log + '.next', log);
    await seen(6);
    // Two more rotations before the follower looks again: it reads the middle file too.
    const s1 = (await stat(log)).size;
    await file(log + '.next', 7, 8);
    await index(log, [[log + '.1', 0], [log, s0 + record(4).length], [log + '.next', s0 + record(4).length + s1]]);
    await unlink(log + '.1');
    await link(log, log + '.1');
    await rename(log + '.next', log);
    const s2 = (await stat(log)).size;
    await file(log + '.next', 9, 9);
    await index(log, [[log, s0 + record(4).length + s1], [log + '.next', s0 + record(4).length + s1 + s2]]);
    await unlink(log + '.1');
    await link(log, log + '.1');
    await rename(log + '.next', log);
    await seen(9);
    status = 'exited';
    await done;
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
