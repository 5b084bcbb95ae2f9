// When an automatic update may run: a container's labels give how often (berth.auto-update.schedule,
// "every 6h") and when (berth.auto-update.window, "sat,sun 02:00-05:00", UTC; a window may
// wrap past midnight and then belongs to the day it opens on). Pure, with the clock passed in;
// the control plane's pass runs by it and the container page shows what it makes of the labels.
//
// Exports: parseSchedule, inWindow, nextDue, AutoSchedule, ScheduleError, MIN_EVERY_MS, DEFAULT_EVERY.
import { AUTO_UPDATE_SCHEDULE_LABEL, AUTO_UPDATE_WINDOW_LABEL } from './updates';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
/** Each run asks the registry (cache or not): more often than this would only spend its rate limit. */
export const MIN_EVERY_MS = 15 * MIN;
export const DEFAULT_EVERY = 'every 6h';
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const FULL_DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

export class ScheduleError extends Error {}

export interface AutoWindow {
  /** UTC days (0 = Sunday) the window opens on; undefined: every day. */
  days?: ReadonlySet<number>;
  /** Minutes after midnight UTC. end < start: it closes the next day. */
  startMin: number;
  endMin: number;
}

export interface AutoSchedule {
  everyMs: number;
  window?: AutoWindow;
}

function hhmm(s: string, what: string): number {
  const m = /^(\d{1,2}):(\d{2})$/.exec(s);
  if (!m || Number(m[1]) > 24 || Number(m[2]) > 59 || (Number(m[1]) === 24 && Number(m[2]) !== 0)) throw new ScheduleError(`${AUTO_UPDATE_WINDOW_LABEL}: ${JSON.stringify(s)} is not a time (HH:MM, UTC) for the ${what}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** The labels' values, checked; a bad one is an error naming the label (never quietly "any time"). */
export function parseSchedule(schedule: string | undefined, window: string | undefined): AutoSchedule {
  const sched = (schedule?.trim() || DEFAULT_EVERY).toLowerCase();
  const m = /^every\s+(\d+)\s*(m|min|h|d)$/.exec(sched) ?? (sched === 'hourly' ? ['', '1', 'h'] : sched === 'daily' ? ['', '1', 'd'] : null);
  if (!m) throw new ScheduleError(`${AUTO_UPDATE_SCHEDULE_LABEL}: ${JSON.stringify(schedule)} is not a schedule (want "every 30m", "every 6h", "every 1d", "hourly" or "daily")`);
  const everyMs = Number(m[1]) * (m[2] === 'd' ? DAY : m[2] === 'h' ? 60 * MIN : MIN);
  if (everyMs < MIN_EVERY_MS) throw new ScheduleError(`${AUTO_UPDATE_SCHEDULE_LABEL}: ${JSON.stringify(schedule)} is more often than every ${MIN_EVERY_MS / MIN} minutes, which would only spend the registry's rate limit`);
  const w = window?.trim().toLowerCase();
  if (!w) return { everyMs };
  const wm = /^(?:([a-z,\s]+?)\s+)?(\S+)\s*-\s*(\S+)$/.exec(w);
  if (!wm) throw new ScheduleError(`${AUTO_UPDATE_WINDOW_LABEL}: ${JSON.stringify(window)} is not a window (want "02:00-05:00" or "sat,sun 02:00-05:00", UTC)`);
  let days: Set<number> | undefined;
  if (wm[1]) {
    days = new Set();
    for (const d of wm[1].split(',').map((x) => x.trim()).filter(Boolean)) {
      const i = DAYS.includes(d) ? DAYS.indexOf(d) : FULL_DAYS.indexOf(d);
      if (i < 0) throw new ScheduleError(`${AUTO_UPDATE_WINDOW_LABEL}: ${JSON.stringify(d)} is not a day (mon … sun)`);
      days.add(i);
    }
  }
  const startMin = hhmm(wm[2], 'start');
  const endMin = hhmm(wm[3], 'end') % (24 * 60);
  if (startMin % (24 * 60) === endMin) throw new ScheduleError(`${AUTO_UPDATE_WINDOW_LABEL}: ${JSON.stringify(window)} opens and closes at the same time; leave the label out for any time`);
  return { everyMs, window: { ...(days ? { days } : {}), startMin: startMin % (24 * 60), endMin } };
}

/** Whether `t` (ms since the epoch) is inside the window. */
export function inWindow(t: number, w: AutoWindow): boolean {
  const minute = Math.floor((t % DAY) / MIN);
  const day = new Date(t).getUTCDay();
  const opensOn = (d: number) => !w.days || w.days.has(d);
  if (w.startMin < w.endMin) return minute >= w.startMin && minute < w.endMin && opensOn(day);
  // Past midnight: the part after it belongs to the day before.
  if (minute >= w.startMin) return opensOn(day);
  return minute < w.endMin && opensOn((day + 6) % 7);
}

/**
 * The earliest time at or after `now` (and at least `everyMs` after the last run) that lies in
 * the window. A run that is due is run at the next tick; the first one without a last run is
 * due as soon as the window is open.
 */
export function nextDue(s: AutoSchedule, lastRun: number | undefined, now: number): number {
  const from = Math.max(now, lastRun === undefined ? now : lastRun + s.everyMs);
  if (!s.window || inWindow(from, s.window)) return from;
  const dayStart = from - (from % DAY);
  for (let d = 0; d <= 8; d++) {
    const opening = dayStart + d * DAY + s.window.startMin * MIN;
    if (opening > from && inWindow(opening, s.window)) return opening;
  }
  // No day is allowed (cannot happen once parsed: a window names at least one day).
  return Number.POSITIVE_INFINITY;
}
