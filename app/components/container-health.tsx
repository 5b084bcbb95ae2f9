'use client';
import type { HealthState, HealthStatus, ResolvedHealth } from '../../protocol/container';
import { formatTime } from '../lib/format';

const HEALTH_STYLES: Record<HealthStatus, string> = {
  healthy: 'bg-emerald-50 text-emerald-700 ring-emerald-600/20',
  unhealthy: 'bg-red-50 text-red-700 ring-red-600/20',
  starting: 'bg-amber-50 text-amber-700 ring-amber-600/20',
};

export function HealthBadge({ status, testId }: { status: HealthStatus; testId?: string }) {
  return (
    <span data-testid={testId} data-health={status} className={`inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${HEALTH_STYLES[status]}`}>
      {status}
    </span>
  );
}

/** Nanoseconds as a person says them: "30 s", "500 ms", "1 min 30 s". */
export function formatDurationNs(ns: number): string {
  const ms = ns / 1e6;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  return rest ? `${m} min ${rest} s` : `${m} min`;
}

/** Docker's defaults for a HealthConfig field left at 0. */
export const HEALTH_DEFAULTS = { intervalNs: 30e9, timeoutNs: 30e9, startPeriodNs: 0, startIntervalNs: 5e9, retries: 3 };

/** A duration of the healthcheck, saying when it is Docker's default. */
export function healthDuration(ns: number, field: 'intervalNs' | 'timeoutNs' | 'startPeriodNs' | 'startIntervalNs'): string {
  return ns > 0 ? formatDurationNs(ns) : `${formatDurationNs(HEALTH_DEFAULTS[field])} (default)`;
}

export function healthTest(test: string[]): string {
  if (test[0] === 'CMD-SHELL') return test.slice(1).join(' ');
  if (test[0] === 'CMD') return test.slice(1).join(' ');
  return test.join(' ');
}

function probeMs(start: string, end: string): string {
  const d = Date.parse(end) - Date.parse(start);
  return Number.isFinite(d) && d >= 0 ? `${d} ms` : '—';
}

/**
 * A container's healthcheck: what it runs and how often, its status, the failures in a row
 * and the output of the last probes (the engine keeps five, as Docker does).
 */
export function ContainerHealth({ config, state, running, stale }: { config: ResolvedHealth; state: HealthState | undefined; running: boolean; stale?: boolean }) {
  const retries = config.retries > 0 ? config.retries : HEALTH_DEFAULTS.retries;
  const probes = [...(state?.log ?? [])].reverse();
  return (
    <section className="card p-4" data-testid="health">
      <div className="flex flex-wrap items-center gap-3">
        <h2 className="text-sm font-semibold text-slate-800">Health</h2>
        {state ? <HealthBadge status={state.status} testId="health-status" /> : <span className="text-xs text-slate-500" data-testid="health-status">not checked yet (starts with the container)</span>}
        {state ? (
          <span className="text-xs text-slate-600" data-testid="health-streak">
            failing streak {state.failingStreak} (unhealthy at {retries})
          </span>
        ) : null}
        {state && stale ? <span className="text-xs text-amber-700">(as of when the host was last seen)</span> : state && !running ? <span className="text-xs text-slate-500">(as when it last ran)</span> : null}
      </div>
      <p className="mt-2 text-xs text-slate-600" data-testid="health-config">
        <span className="font-mono text-slate-800">{config.test[0] === 'CMD-SHELL' ? 'sh -c ' : ''}{healthTest(config.test)}</span> every{' '}
        {healthDuration(config.intervalNs, 'intervalNs')}, timeout {healthDuration(config.timeoutNs, 'timeoutNs')}, unhealthy after {retries} failures in a row
        {config.startPeriodNs > 0 ? `, start period ${formatDurationNs(config.startPeriodNs)} (probing every ${healthDuration(config.startIntervalNs, 'startIntervalNs')})` : ''}
      </p>
      {probes.length ? (
        <div className="mt-3 overflow-x-auto">
          <table className="w-full table-fixed text-left text-xs" data-testid="health-log">
            <thead className="text-slate-500">
              <tr>
                <th className="w-44 py-1 pr-3 font-medium">Probe started</th>
                <th className="w-16 py-1 pr-3 font-medium">Took</th>
                <th className="w-24 py-1 pr-3 font-medium">Exit code</th>
                <th className="py-1 font-medium">Output</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {probes.map((p) => (
                <tr key={p.start} data-testid="health-probe" data-exit-code={p.exitCode} className="align-top">
                  <td className="py-1 pr-3 whitespace-nowrap text-slate-600">{formatTime(p.start)}</td>
                  <td className="py-1 pr-3 whitespace-nowrap text-slate-600">{probeMs(p.start, p.end)}</td>
                  <td className={`py-1 pr-3 font-mono ${p.exitCode === 0 ? 'text-emerald-700' : 'text-red-700'}`}>{p.exitCode === -1 ? '— (did not run or timed out)' : p.exitCode}</td>
                  <td className="py-1">
                    <pre className="max-h-24 overflow-auto font-mono text-xs break-all whitespace-pre-wrap text-slate-800">{p.output || <span className="text-slate-400">(no output)</span>}</pre>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : state ? (
        <p className="mt-2 text-xs text-slate-500">No probe has finished yet.</p>
      ) : null}
    </section>
  );
}
