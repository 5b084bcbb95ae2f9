'use client';
// Live statistics of one container as small line charts in plain SVG: no chart library,
// nothing evaluated, no inline styles (the page's CSP allows neither), colours by class.
import type { ReactNode } from 'react';
import type { ContainerStatsSample } from '../../protocol/agent-link';
import { formatBytes } from '../lib/format';
import { formatPercent, lineSegments, niceBytesCeil, niceCeil, toPoints, type StatsPoint } from '../lib/stats';
import { LIVE_INTERVAL_MS, type LivePhase } from '../lib/use-container-live';

/** A chart shows at most the last two minutes, at least half a minute (so the first readings are not a sliver at the edge). */
const MAX_WINDOW_MS = 120_000;
const MIN_WINDOW_MS = 30_000;
/** A reading this much later than the one before starts a new line (the tab was hidden, the host away). */
const GAP_MS = 5 * LIVE_INTERVAL_MS;
const W = 300;
const H = 100;

interface Series {
  label: string;
  values: Array<number | null>;
  /** Tailwind stroke class (and the legend swatch's bg class). */
  stroke: string;
  swatch: string;
  /** Tailwind fill class for the area under the line, if any. */
  fill?: string;
}

function Chart({ testId, times, series, yMax, end, windowMs, limitLine, latest, ariaLabel }: {
  testId: string;
  times: number[];
  series: Series[];
  yMax: number;
  end: number;
  windowMs: number;
  limitLine?: boolean;
  latest: number | null;
  ariaLabel: string;
}) {
  return (
    <svg
      viewBox={`0 0 ${W} ${H}`}
      preserveAspectRatio="none"
      className="h-24 w-full overflow-visible"
      role="img"
      aria-label={ariaLabel}
      data-testid={`${testId}-svg`}
      data-latest={latest ?? ''}
      data-y-max={yMax}
    >
      {[0.25, 0.5, 0.75].map((f) => (
        <line key={f} x1={0} x2={W} y1={H * f} y2={H * f} className="stroke-slate-100" strokeWidth={1} vectorEffect="non-scaling-stroke" />
      ))}
      {limitLine ? <line x1={0} x2={W} y1={0.5} y2={0.5} className="stroke-red-400" strokeDasharray="4 3" strokeWidth={1} vectorEffect="non-scaling-stroke" data-testid={`${testId}-limit`} /> : null}
      <line x1={0} x2={W} y1={H} y2={H} className="stroke-slate-300" strokeWidth={1} vectorEffect="non-scaling-stroke" />
      {series.map((s) =>
        lineSegments(times, s.values, { end, windowMs, yMax, width: W, height: H, gapMs: GAP_MS }).map((seg, i) => {
          const pts = seg.points.map((p) => `${p.x},${p.y}`).join(' ');
          const first = seg.points[0];
          const last = seg.points[seg.points.length - 1];
          return (
            <g key={`${s.label}-${i}`} data-series={s.label}>
              {s.fill && seg.points.length > 1 ? <polygon points={`${first.x},${H} ${pts} ${last.x},${H}`} className={`${s.fill} stroke-none`} /> : null}
              <polyline points={pts} className={`fill-none ${s.stroke}`} strokeWidth={1.5} strokeLinejoin="round" vectorEffect="non-scaling-stroke" data-testid={`${testId}-line`} />
              {seg.points.length === 1 ? <circle cx={first.x} cy={first.y} r={1.5} className={`${s.stroke} fill-current`} /> : null}
            </g>
          );
        }),
      )}
    </svg>
  );
}

function ChartCard({ title, testId, value, sub, legend, top, span, children }: {
  title: string;
  testId: string;
  value: ReactNode;
  sub?: ReactNode;
  legend?: Series[];
  top: string;
  /** The time axis' two ends. */
  span: { from: string; to: string };
  children: ReactNode;
}) {
  return (
    <figure className="min-w-0 rounded-md border border-slate-200 p-3" data-testid={testId}>
      <figcaption className="flex items-baseline justify-between gap-2">
        <span className="text-xs font-medium tracking-wide text-slate-500 uppercase">{title}</span>
        <span className="truncate text-sm font-semibold text-slate-900 tabular-nums" data-testid={`${testId}-value`}>
          {value}
        </span>
      </figcaption>
      {sub ? (
        <p className="truncate text-xs text-slate-500" data-testid={`${testId}-sub`} title={typeof sub === 'string' ? sub : undefined}>
          {sub}
        </p>
      ) : (
        <p className="text-xs">&nbsp;</p>
      )}
      <div className="mt-1 flex items-center justify-between text-[10px] leading-none text-slate-400">
        <span data-testid={`${testId}-top`}>{top}</span>
        {legend?.length ? (
          <span className="flex gap-2">
            {legend.map((s) => (
              <span key={s.label} className="flex items-center gap-1">
                <span aria-hidden className={`inline-block h-1.5 w-3 rounded-sm ${s.swatch}`} />
                {s.label}
              </span>
            ))}
          </span>
        ) : null}
      </div>
      <div className="mt-1">{children}</div>
      <div className="mt-1 flex items-center justify-between text-[10px] text-slate-400">
        <span>{span.from}</span>
        <span>{span.to}</span>
      </div>
    </figure>
  );
}

const rateText = (v: number | null) => (v === null ? '—' : `${formatBytes(Math.round(v))}/s`);
const lastOf = (points: StatsPoint[], pick: (p: StatsPoint) => number | null): number | null => {
  for (let i = points.length - 1; i >= 0; i--) {
    const v = pick(points[i]);
    if (v !== null) return v;
  }
  return null;
};
const maxOf = (points: StatsPoint[], pick: (p: StatsPoint) => number | null) => points.reduce((m, p) => Math.max(m, pick(p) ?? 0), 0);

const PHASE_TEXT: Record<LivePhase, string> = {
  live: 'live, a reading a second',
  restarting: 'waiting for its restart policy to start it again',
  'not-running': 'not running: no readings until it is started again',
  'host-offline': 'paused: the host is offline (the charts show what was read before it went away)',
  error: 'cannot read',
};

/**
 * CPU, memory, network, block I/O and pids of one container. `hostMemory` stands in for
 * the limit of a container without one, as `docker stats` shows it.
 */
export function StatsCharts({ samples, phase, error, hostMemory, hostCpus }: {
  samples: ContainerStatsSample[];
  phase: LivePhase;
  error: string | null;
  hostMemory?: number;
  hostCpus?: number;
}) {
  const points = toPoints(samples);
  const times = points.map((p) => p.t);
  // The agent's clock, not the browser's: the two may disagree.
  const end = times.length ? times[times.length - 1] : 0;
  const windowMs = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, times.length ? end - times[0] : 0));
  const span = { from: windowMs >= MAX_WINDOW_MS ? '2 min before' : `${Math.round(windowMs / 1000)} s before`, to: phase === 'live' ? 'now' : 'last reading' };
  const chart = { times, end, windowMs };
  const last = samples[samples.length - 1];
  const lastPoint = points[points.length - 1];

  const cpuNow = lastOf(points, (p) => p.cpuPercent);
  const cpus = last?.onlineCpus || hostCpus || 1;
  const cpuMax = Math.min(niceCeil(maxOf(points, (p) => p.cpuPercent) * 1.25, 5), cpus * 100);

  const limit = lastPoint && lastPoint.memoryLimit > 0 ? lastPoint.memoryLimit : -1;
  const memNow = lastPoint?.memory ?? null;
  const memMax = limit > 0 ? limit : niceBytesCeil(maxOf(points, (p) => p.memory) * 1.25, 1 << 20);

  const netSeries: Series[] = [
    { label: 'in', values: points.map((p) => p.netRx), stroke: 'stroke-sky-600', swatch: 'bg-sky-600' },
    { label: 'out', values: points.map((p) => p.netTx), stroke: 'stroke-violet-500', swatch: 'bg-violet-500' },
  ];
  const netMax = niceBytesCeil(Math.max(maxOf(points, (p) => p.netRx), maxOf(points, (p) => p.netTx)) * 1.25, 1024);
  const blkSeries: Series[] = [
    { label: 'read', values: points.map((p) => p.blockRead), stroke: 'stroke-emerald-600', swatch: 'bg-emerald-600' },
    { label: 'write', values: points.map((p) => p.blockWrite), stroke: 'stroke-amber-500', swatch: 'bg-amber-500' },
  ];
  const blkMax = niceBytesCeil(Math.max(maxOf(points, (p) => p.blockRead), maxOf(points, (p) => p.blockWrite)) * 1.25, 1024);
  const pidsLimit = last?.pidsLimit ?? 0;
  const pidsMax = pidsLimit > 0 ? pidsLimit : niceCeil(maxOf(points, (p) => p.pids) * 1.25, 5);

  return (
    <section className="card p-4" data-testid="stats" data-phase={phase} data-samples={samples.length}>
      <div className="mb-3 flex flex-wrap items-baseline justify-between gap-2">
        <h2 className="text-sm font-semibold text-slate-800">Live stats</h2>
        <p className={`text-xs ${phase === 'live' ? 'text-emerald-700' : phase === 'error' ? 'text-red-700' : 'text-amber-700'}`} data-testid="stats-status">
          {phase === 'error' ? `cannot read: ${error ?? 'unknown error'}` : PHASE_TEXT[phase]}
        </p>
      </div>
      {samples.length === 0 ? (
        <p className="text-sm text-slate-500" data-testid="stats-empty">
          {phase === 'live' ? 'Waiting for the first reading…' : 'No readings yet.'}
        </p>
      ) : (
        <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-5">
          <ChartCard span={span} title="CPU" testId="chart-cpu" value={formatPercent(cpuNow)} sub={`of ${cpus} CPU${cpus === 1 ? '' : 's'} (100 % = one)`} top={`${cpuMax} %`}>
            <Chart
              testId="chart-cpu"
              {...chart}
              yMax={cpuMax}
              latest={cpuNow}
              ariaLabel={`CPU ${formatPercent(cpuNow)}`}
              series={[{ label: 'cpu', values: points.map((p) => p.cpuPercent), stroke: 'stroke-sky-600', swatch: 'bg-sky-600', fill: 'fill-sky-500/15' }]}
            />
          </ChartCard>
          <ChartCard
            span={span}
            title="Memory"
            testId="chart-memory"
            value={`${formatBytes(memNow)} / ${limit > 0 ? formatBytes(limit) : 'no limit'}`}
            sub={limit > 0 ? `${((100 * (memNow ?? 0)) / limit).toFixed(1)} % of its limit` : hostMemory ? `no limit: the host has ${formatBytes(hostMemory)}` : 'no limit'}
            top={limit > 0 ? `${formatBytes(memMax)} (limit)` : formatBytes(memMax)}
          >
            <Chart
              testId="chart-memory"
              {...chart}
              yMax={memMax}
              latest={memNow}
              limitLine={limit > 0}
              ariaLabel={`Memory ${formatBytes(memNow)}`}
              series={[{ label: 'usage', values: points.map((p) => p.memory), stroke: 'stroke-violet-600', swatch: 'bg-violet-600', fill: 'fill-violet-500/15' }]}
            />
          </ChartCard>
          <ChartCard
            span={span}
            title="Network I/O"
            testId="chart-net"
            value={`${formatBytes(last?.netRxBytes ?? 0)} / ${formatBytes(last?.netTxBytes ?? 0)}`}
            sub={last && last.networkInterfaces === 0 ? 'loopback only (not counted)' : `in / out; now ${rateText(lastOf(points, (p) => p.netRx))} / ${rateText(lastOf(points, (p) => p.netTx))}`}
            legend={netSeries}
            top={`${formatBytes(netMax)}/s`}
          >
            <Chart testId="chart-net" {...chart} yMax={netMax} latest={lastOf(points, (p) => p.netRx)} ariaLabel="Network I/O" series={netSeries} />
          </ChartCard>
          <ChartCard
            span={span}
            title="Block I/O"
            testId="chart-block"
            value={`${formatBytes(last?.blockReadBytes ?? 0)} / ${formatBytes(last?.blockWriteBytes ?? 0)}`}
            sub={`read / written; now ${rateText(lastOf(points, (p) => p.blockRead))} / ${rateText(lastOf(points, (p) => p.blockWrite))}`}
            legend={blkSeries}
            top={`${formatBytes(blkMax)}/s`}
          >
            <Chart testId="chart-block" {...chart} yMax={blkMax} latest={lastOf(points, (p) => p.blockWrite)} ariaLabel="Block I/O" series={blkSeries} />
          </ChartCard>
          <ChartCard span={span} title="PIDs" testId="chart-pids" value={`${last?.pids ?? 0}${pidsLimit > 0 ? ` / ${pidsLimit}` : ''}`} sub={pidsLimit > 0 ? 'processes / limit' : 'processes (no limit)'} top={pidsLimit > 0 ? `${pidsMax} (limit)` : String(pidsMax)}>
            <Chart
              testId="chart-pids"
              {...chart}
              yMax={pidsMax}
              latest={last?.pids ?? null}
              limitLine={pidsLimit > 0}
              ariaLabel={`${last?.pids ?? 0} processes`}
              series={[{ label: 'pids', values: points.map((p) => p.pids), stroke: 'stroke-slate-600', swatch: 'bg-slate-600' }]}
            />
          </ChartCard>
        </div>
      )}
    </section>
  );
}
