// The viewer's model apart from React: the compact store (both ends, a million lines),
// the row layout, JSON lines and the field filter, stack-trace continuation lines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLinkRange } from '../../app/components/logs/log-viewer';
import { freshEntries } from '../../app/lib/log-merge';
import { flattenFields, formatTime, looksLikeContinuation, matchesFields, parseFieldFilter, parseJsonLine } from '../../app/lib/log-lines';
import { LogStore, RowLayout, type StoreLine } from '../../app/lib/log-store';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const line = (seq: number, text = `line ${seq}`, stream: StoreLine['stream'] = 'stdout', dt = seq): StoreLine => ({
  seq,
  stream,
  time: new Date(T0 + dt * 1000).toISOString().replace('Z', '123456Z').replace(/\.(\d{3})123456Z/, '.$1123456Z'),
  line: `${text}\n`,
});

test('the store takes lines at both ends and reads them back in order, without their newline', () => {
  const s = new LogStore();
  s.append([line(10), line(11)]);
  s.prepend([line(5), line(6)]);
  s.append([line(12)]);
  assert.equal(s.length, 5);
  assert.deepEqual(Array.from({ length: s.length }, (_, i) => s.seq(i)), [5, 6, 10, 11, 12]);
  assert.equal(s.text(0), 'line 5');
  assert.equal(s.firstSeq(), 5);
  assert.equal(s.lastSeq(), 12);
  assert.equal(s.indexOfSeq(11), 3);
  assert.equal(s.indexOfSeq(7), -1);
  // Nanosecond times read to the millisecond.
  assert.equal(s.timeMs(0), T0 + 5000);
});

test('a million lines go in page by page at either end; the oldest go when the store is full', () => {
  const s = new LogStore(1_000_000);
  const page = (from: number) => Array.from({ length: 10_000 }, (_, i) => line(from + i, 'x'));
  for (let p = 50; p < 100; p++) s.append(page(p * 10_000));
  for (let p = 49; p >= 0; p--) s.prepend(page(p * 10_000));
  assert.equal(s.length, 1_000_000);
  for (let i = 0; i < s.length; i += 9973) assert.equal(s.seq(i), i);
  assert.equal(s.indexOfSeq(765_432), 765_432);
  s.append(page(1_000_000));
  assert.equal(s.length, 1_000_000);
  assert.equal(s.firstSeq(), 10_000);
  assert.equal(s.lastSeq(), 1_009_999);
  assert.equal(s.dropped, 10_000);
});

test('finds the first line at or after a time', () => {
  const s = new LogStore();
  s.append([line(1, 'a', 'stdout', 0), line(2, 'b', 'stdout', 10), line(3, 'c', 'stdout', 20)]);
  assert.equal(s.indexAtTime(T0 + 5000), 1);
  assert.equal(s.indexAtTime(T0 + 10_000), 1);
  assert.equal(s.indexAtTime(T0 + 25_000), 3);
});

test('stack-trace frames continue the line before them on the same stream, printed at once', () => {
  const s = new LogStore();
  s.append([
    line(1, 'Exception in thread "main" java.lang.IllegalStateException: boom', 'stderr', 0),
    line(2, '\tat com.example.Main.run(Main.java:10)', 'stderr', 0),
    line(3, '    at com.example.Main.main(Main.java:5)', 'stderr', 0),
    line(4, 'Caused by: java.io.IOException: disk', 'stderr', 0),
    line(5, '  indented but on stdout', 'stdout', 0),
    line(6, '  indented, on stdout, a minute later', 'stdout', 60),
    line(7, 'next entry', 'stderr', 60),
  ]);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((i) => s.continues(i)), [false, true, true, true, false, false, false]);
  assert.equal(looksLikeContinuation('at Object.<anonymous> (/app/x.js:1:1)'), true);
  assert.equal(looksLikeContinuation('... 12 more'), true);
  assert.equal(looksLikeContinuation('   '), false);
  assert.equal(looksLikeContinuation('ValueError: bad'), false);
});

test('the row layout finds rows by offset and by store index', () => {
  const L = new RowLayout();
  L.reset();
  for (let i = 0; i < 5000; i++) L.push(i * 2, i % 3 === 0 ? 40 : 20);
  assert.equal(L.count, 5000);
  // Every row kept, across each time the arrays grew (1024, 2048, 4096).
  for (let r = 0; r < 5000; r++) assert.equal(L.rows[r], r * 2, `row ${r}`);
  for (let r = 0; r < 5000; r++) assert.equal(L.tops[r + 1] - L.tops[r], r % 3 === 0 ? 40 : 20, `height of row ${r}`);
  assert.equal(L.rowAt(0), 0);
  assert.equal(L.rowAt(39), 0);
  assert.equal(L.rowAt(40), 1);
  assert.equal(L.rowAt(L.total + 100), 4999);
  assert.equal(L.rowOfIndex(10), 5);
  assert.equal(L.rowOfIndex(11), 6);
});

test('JSON lines: objects only, fields flattened by dotted path', () => {
  assert.deepEqual(parseJsonLine(' {"level":"info","msg":"hi","http":{"status":200}} '), { level: 'info', msg: 'hi', http: { status: 200 } });
  assert.equal(parseJsonLine('[1,2]'), null);
  assert.equal(parseJsonLine('{not json}'), null);
  assert.equal(parseJsonLine('plain'), null);
  assert.deepEqual(flattenFields({ a: 1, b: { c: 'x', d: [1] }, e: {} }), [
    { key: 'a', value: 1 },
    { key: 'b.c', value: 'x' },
    { key: 'b.d', value: [1] },
    { key: 'e', value: {} },
  ]);
});

test('the field filter: key=value and key!=value, all must hold, case-insensitive, quoted values, dotted keys', () => {
  const conds = parseFieldFilter('level=error http.status!=200 msg="disk full"');
  assert.deepEqual(conds, [
    { key: 'level', op: '=', value: 'error' },
    { key: 'http.status', op: '!=', value: '200' },
    { key: 'msg', op: '=', value: 'disk full' },
  ]);
  assert.equal(matchesFields({ level: 'ERROR', http: { status: 500 }, msg: 'disk full' }, conds), true);
  assert.equal(matchesFields({ level: 'error', http: { status: 200 }, msg: 'disk full' }, conds), false);
  assert.equal(matchesFields({ level: 'error', msg: 'disk full' }, conds), true, 'a missing field is not 200');
  assert.equal(matchesFields(null, conds), false, 'a line that is not JSON has no fields');
  assert.equal(matchesFields(null, []), true);
  assert.throws(() => parseFieldFilter('level'), /cannot read "level": a field filter is key=value/);
  assert.throws(() => parseFieldFilter('level=error =x'), /cannot read "=x"/);
});

test('times shown in UTC or local time, to the millisecond', () => {
  assert.equal(formatTime(Date.parse('2026-12-01T10:00:00.123Z'), true), '2026-12-01T10:00:00.123Z');
  const local = formatTime(Date.parse('2026-12-01T10:00:00.123Z'), false);
  assert.match(local, /^2026-12-01 \d\d:00:00\.123$/);
});

test('a link range reads FROM-TO in either order, or one line', () => {
  assert.deepEqual(parseLinkRange('#logs=20-10'), { from: 10, to: 20 });
  assert.deepEqual(parseLinkRange('#logs=7'), { from: 7, to: 7 });
  assert.equal(parseLinkRange('#other'), null);
});

test('fresh entries: only what follows the last seq, overlaps dropped', () => {
  assert.deepEqual(freshEntries([{ seq: 1 }, { seq: 2 }, { seq: 3 }], 2), [{ seq: 3 }]);
  assert.deepEqual(freshEntries([{ seq: 0 }, { seq: 2 }], null), [{ seq: 0 }, { seq: 2 }]);
});

test('a line keeps its time past the millisecond, for naming a range by it', async () => {
  const { subMilliNanos } = await import('../../app/lib/log-store');
  assert.equal(subMilliNanos('2026-12-01T10:00:00.123456789Z'), 456789);
  assert.equal(subMilliNanos('2026-12-01T10:00:00.1Z'), 0);
  const s = new LogStore();
  s.append([{ seq: 1, stream: 'stdout', time: '2026-12-01T10:00:00.123456789Z', line: 'x\n' }]);
  assert.ok(Math.abs(s.timeSec(0) - (T0 / 1000 + 0.123456789)) < 1e-6);
  s.prepend([{ seq: 0, stream: 'stdout', time: '2026-12-01T09:00:00.000000500Z', line: 'y\n' }]);
  assert.deepEqual(s.lines().map((l) => l.nanos), [500, 456789]);
});

test('a merged view stays in time order when one host\'s lines come late', () => {
  const s = new LogStore();
  const at = (seq: number, sec: number, source: number): StoreLine => ({ seq, stream: 'stdout', time: new Date(T0 + sec * 1000).toISOString(), line: `s${source} t${sec}`, source });
  s.insertByTime([at(1, 1, 0), at(2, 3, 0), at(3, 5, 0)]);
  const epoch = s.epoch;
  // Host 1's lines of seconds 2 and 4 arrive after host 0's of second 5.
  s.insertByTime([at(10, 4, 1), at(9, 2, 1)]);
  assert.deepEqual(Array.from({ length: s.length }, (_, i) => s.text(i)), ['s0 t1', 's1 t2', 's0 t3', 's1 t4', 's0 t5']);
  assert.equal(s.epoch, epoch, 'only the end was re-sorted');
  assert.equal(s.cutLen, 1, 'the lines after the first were taken off and put back');
  // In order already: appended.
  const cuts = s.cuts;
  s.insertByTime([at(4, 6, 0)]);
  assert.equal(s.cuts, cuts);
  assert.equal(s.text(5), 's0 t6');
  const L = new RowLayout();
  L.reset();
  for (let i = 0; i < 6; i++) L.push(i, 20);
  L.popFrom(2);
  assert.equal(L.count, 2);
  assert.equal(L.total, 40);
});
