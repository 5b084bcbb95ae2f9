// The automatic update schedule: how often and in which window (UTC), with the clock given.
// A run is due once the interval has passed since the last one and the window is open;
// windows that wrap past midnight belong to the day they open on; bad labels are refused by name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inWindow, nextDue, parseSchedule, ScheduleError } from '../../protocol/update-schedule';

const at = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();

test('without a window a run is due at once, then every interval after the last run', () => {
  const s = parseSchedule('every 6h', undefined);
  const now = at('2026-12-01T10:00:00Z');
  assert.equal(iso(nextDue(s, undefined, now)), '2026-12-01T10:00:00.000Z');
  assert.equal(iso(nextDue(s, now, now + 60_000)), '2026-12-01T16:00:00.000Z');
  assert.equal(iso(nextDue(s, now, at('2026-12-02T00:00:00Z'))), '2026-12-02T00:00:00.000Z', 'overdue: due now');
  assert.equal(parseSchedule(undefined, undefined).everyMs, 6 * 3600_000, 'every 6h by default');
  assert.equal(parseSchedule('daily', undefined).everyMs, 24 * 3600_000);
});

test('a window holds a due run until it opens, and a run inside it is due at once', () => {
  const s = parseSchedule('every 1h', '02:00-04:00');
  assert.equal(iso(nextDue(s, undefined, at('2026-12-01T10:00:00Z'))), '2026-12-02T02:00:00.000Z');
  assert.equal(iso(nextDue(s, undefined, at('2026-12-01T03:59:00Z'))), '2026-12-01T03:59:00.000Z');
  assert.equal(iso(nextDue(s, undefined, at('2026-12-01T04:00:00Z'))), '2026-12-02T02:00:00.000Z', 'the end is exclusive');
  // Every hour inside it: 02:00, 03:00, then the next night.
  assert.equal(iso(nextDue(s, at('2026-12-01T02:00:00Z'), at('2026-12-01T02:10:00Z'))), '2026-12-01T03:00:00.000Z');
  assert.equal(iso(nextDue(s, at('2026-12-01T03:00:00Z'), at('2026-12-01T03:10:00Z'))), '2026-12-02T02:00:00.000Z');
});

test('a window past midnight, on named days, belongs to the day it opens on', () => {
  // 2026-12-05 is a Saturday.
  const s = parseSchedule('every 1d', 'sat,sun 23:00-01:30');
  const w = s.window!;
  assert.equal(inWindow(at('2026-12-05T23:30:00Z'), w), true, 'Saturday night');
  assert.equal(inWindow(at('2026-12-06T01:00:00Z'), w), true, "Sunday 01:00 is Saturday's window");
  assert.equal(inWindow(at('2026-12-07T01:00:00Z'), w), true, "Monday 01:00 is Sunday's window");
  assert.equal(inWindow(at('2026-12-05T01:00:00Z'), w), false, "Saturday 01:00 would be Friday's, which has none");
  assert.equal(inWindow(at('2026-12-08T23:30:00Z'), w), false, 'a Tuesday');
  assert.equal(iso(nextDue(s, undefined, at('2026-12-01T12:00:00Z'))), '2026-12-05T23:00:00.000Z', 'from a Tuesday: Saturday 23:00');
  assert.equal(iso(nextDue(s, at('2026-12-05T23:00:00Z'), at('2026-12-05T23:05:00Z'))), '2026-12-06T23:00:00.000Z', 'then Sunday');
  assert.equal(iso(nextDue(s, at('2026-12-06T23:00:00Z'), at('2026-12-06T23:05:00Z'))), '2026-12-12T23:00:00.000Z', 'then the next Saturday');
});

test('bad labels are refused, naming the label and the value', () => {
  const bad: Array<[string | undefined, string | undefined, RegExp]> = [
    ['every week', undefined, /berth\.auto-update\.schedule: "every week" is not a schedule/],
    ['every 5m', undefined, /more often than every 15 minutes/],
    [undefined, '2am-4am', /berth\.auto-update\.window: "2am" is not a time/],
    [undefined, 'funday 02:00-03:00', /"funday" is not a day/],
    [undefined, '03:00-03:00', /opens and closes at the same time/],
    [undefined, '25:00-03:00', /"25:00" is not a time/],
  ];
  for (const [sched, win, re] of bad) assert.throws(() => parseSchedule(sched, win), (e: Error) => e instanceof ScheduleError && re.test(e.message), `${sched} / ${win}`);
});
