// The human status strings `docker ps` prints ("Up 3 seconds", "Exited (0) 2 minutes ago").
// One implementation for the agent's Docker API, its snapshots and the dashboard, which
// recomputes them so a page left open stays true; pure (no Node imports) so Next.js can bundle it.
import type { ContainerRecord, ContainerStatus, HealthStatus } from './container';
import type { ContainerSummary } from './agent-link';

/** What the words depend on: the engine's container state, or the fields of a summary. */
export interface StatusFacts {
  status: ContainerStatus;
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  /** The engine's flags, as Docker's State.String() reads them; a summary has only `status`. */
  running?: boolean;
  paused?: boolean;
  /** A running container's healthcheck status, when it has one. */
  healthStatus?: HealthStatus;
}

/** Docker's go-units HumanDuration, byte for byte. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

export function isZeroTime(t: string | null | undefined): boolean {
  return !t || t.startsWith('0001-01-01') || Number.isNaN(Date.parse(t));
}

function since(t: string, now: number): number {
  return Math.max(0, now - Date.parse(t));
}

/** Docker's State.String(): "Up 3 seconds", "Exited (0) 2 minutes ago", "Created" … */
export function humanStatus(s: StatusFacts, now = Date.now()): string {
  if (s.status === 'restarting') {
    return `Restarting (${s.exitCode}) ${humanDuration(since(s.finishedAt, now))} ago`;
  }
  if (s.running || s.status === 'running' || s.status === 'paused') {
    const up = `Up ${humanDuration(since(s.startedAt, now))}`;
    if (s.paused || s.status === 'paused') return `${up} (Paused)`;
    if (s.healthStatus) return `${up} (${s.healthStatus === 'starting' ? 'health: starting' : s.healthStatus})`;
    return up;
  }
  if (s.status === 'removing') return 'Removal In Progress';
  if (s.status === 'dead') return 'Dead';
  if (s.status === 'created' || isZeroTime(s.startedAt)) return 'Created';
  if (isZeroTime(s.finishedAt)) return '';
  return `Exited (${s.exitCode}) ${humanDuration(since(s.finishedAt, now))} ago`;
}

/**
 * A summary's status as of `now`. Where the time the words count from is missing, the
 * agent's own string (computed when the snapshot was taken) is the better answer.
 */
export function summaryStatus(
  c: Pick<ContainerSummary, 'state' | 'status' | 'exitCode' | 'startedAt' | 'finishedAt' | 'health'>,
  now = Date.now(),
): string {
  const from = c.state === 'running' || c.state === 'paused' ? c.startedAt : c.state === 'created' ? null : c.finishedAt;
  if (from !== null && isZeroTime(from)) return c.status;
  return humanStatus({ status: c.state, exitCode: c.exitCode, startedAt: c.startedAt, finishedAt: c.finishedAt, healthStatus: c.health }, now);
}

/** The status words of a container record, health included while it runs. */
export function recordStatus(c: Pick<ContainerRecord, 'state'>, now = Date.now()): string {
  return humanStatus({ ...c.state, healthStatus: c.state.running ? c.state.health?.status : undefined }, now);
}

/** The command line as `docker ps` shows it (unquoted, as Docker joins it). */
export function commandLine(c: Pick<ContainerRecord, 'spec'>): string {
  return [...c.spec.process.entrypoint, ...c.spec.process.cmd].join(' ');
}
