// Turns the agent's readings (totals since the container started) into what the charts
// draw: CPU share and I/O rates between two readings, as `docker stats` computes them.
// Pure, so it is tested without a browser.
import type { ContainerStatsSample } from '../../protocol/agent-link';

export interface StatsPoint {
  /** ms since the epoch, when the agent read it. */
  t: number;
  /** % of one CPU, as `docker stats` shows it (two busy CPUs are 200 %); null for the first reading of a run. */
  cpuPercent: number | null;
  memory: number;
  /** -1: no limit. */
  memoryLimit: number;
  /** Bytes a second since the reading before; null where there is none. */
  netRx: number | null;
  netTx: number | null;
  blockRead: number | null;
  blockWrite: number | null;
  pids: number;
}

/** Readings kept in the page: two minutes at one a second. */
export const MAX_SAMPLES = 120;

/** Appends a reading unless it is the one already last (the same `read` time); keeps the newest `max`. */
export function appendSample(list: ContainerStatsSample[], s: ContainerStatsSample, max = MAX_SAMPLES): ContainerStatsSample[] {
  if (list.length && list[list.length - 1].read === s.read) return list;
  const out = list.length >= max ? list.slice(list.length - max + 1) : list.slice();
  out.push(s);
  return out;
}

/** Bytes a second between two totals; null when a counter went back (the container restarted) or no time passed. */
function rate(prev: number, cur: number, seconds: number): number | null {
  if (seconds <= 0 || cur < prev) return null;
  return (cur - prev) / seconds;
}

export function cpuPercent(prev: ContainerStatsSample, cur: ContainerStatsSample): number | null {
  const cpu = cur.cpuUsageNs - prev.cpuUsageNs;
  const sys = cur.systemCpuNs - prev.systemCpuNs;
  if (cpu < 0 || sys <= 0) return null;
  return (cpu / sys) * Math.max(cur.onlineCpus, 1) * 100;
}

export function toPoints(samples: ContainerStatsSample[]): StatsPoint[] {
  return samples.map((cur, i) => {
    const t = Date.parse(cur.read);
    const prev = i > 0 ? samples[i - 1] : undefined;
    const seconds = prev ? (t - Date.parse(prev.read)) / 1000 : 0;
    // A restart starts every counter again: no rate across it.
    const sameRun = !!prev && cur.cpuUsageNs >= prev.cpuUsageNs;
    return {
      t,
      cpuPercent: prev && sameRun ? cpuPercent(prev, cur) : null,
      memory: cur.memoryUsage,
      memoryLimit: cur.memoryLimit,
      netRx: prev && sameRun ? rate(prev.netRxBytes, cur.netRxBytes, seconds) : null,
      netTx: prev && sameRun ? rate(prev.netTxBytes, cur.netTxBytes, seconds) : null,
      blockRead: prev && sameRun ? rate(prev.blockReadBytes, cur.blockReadBytes, seconds) : null,
      blockWrite: prev && sameRun ? rate(prev.blockWriteBytes, cur.blockWriteBytes, seconds) : null,
      pids: cur.pids,
    };
  });
}

/** The smallest 1, 2 or 5 × 10^n at or above `v` (a chart's top that reads well); `floor` when v is smaller. */
export function niceCeil(v: number, floor = 1): number {
  if (!Number.isFinite(v) || v <= floor) return floor;
  const exp = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

/** Bytes in powers of 1024 for chart tops: 1, 2, 4 … KiB, MiB, GiB. */
export function niceBytesCeil(v: number, floor = 1024): number {
  if (!Number.isFinite(v) || v <= floor) return floor;
  return Math.pow(2, Math.ceil(Math.log2(v)));
}

export interface Segment {
  points: Array<{ x: number; y: number }>;
}

/**
 * Lines for one series in a 0..width × 0..height box (y grows downwards, as in SVG):
 * time runs over the last `windowMs` up to `end`; a missing value or a gap of more than
 * `gapMs` between readings (the tab was hidden, the host was away) breaks the line.
 */
export function lineSegments(
  times: number[],
  values: Array<number | null>,
  { end, windowMs, yMax, width, height, gapMs }: { end: number; windowMs: number; yMax: number; width: number; height: number; gapMs: number },
): Segment[] {
  const out: Segment[] = [];
  let cur: Segment | null = null;
  let lastT = -Infinity;
  const start = end - windowMs;
  for (let i = 0; i < times.length; i++) {
    const t = times[i];
    const v = values[i];
    if (v === null || !Number.isFinite(v) || t < start) {
      cur = null;
      continue;
    }
    if (cur && t - lastT > gapMs) cur = null;
    if (!cur) {
      cur = { points: [] };
      out.push(cur);
    }
    const x = ((t - start) / windowMs) * width;
    const y = height - (Math.min(Math.max(v, 0), yMax) / yMax) * height;
    cur.points.push({ x: round(x), y: round(y) });
    lastT = t;
  }
  return out;
}

const round = (n: number) => Math.round(n * 100) / 100;

/** "12.5 %" with one decimal below 100, none above. */
export function formatPercent(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return '—';
  return `${p >= 100 ? Math.round(p) : p.toFixed(1)} %`;
}
