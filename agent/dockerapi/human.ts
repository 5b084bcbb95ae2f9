// The human status strings `docker ps` prints. Kept byte-compatible with Docker's
// go-units HumanDuration and State.String() so dashboards and CLI users read the same words.
import type { ContainerRecord } from '../engine/types';

const ZERO_TIME = '0001-01-01T00:00:00Z';

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

export function isZeroTime(t: string | undefined): boolean {
  return !t || t.startsWith('0001-01-01');
}

function since(t: string, now: number): number {
  return Math.max(0, now - Date.parse(t));
}

/** "Up 3 seconds", "Exited (0) 2 minutes ago", "Created" … as `docker ps` shows them. */
export function humanStatus(c: Pick<ContainerRecord, 'state'>, now = Date.now()): string {
  const s = c.state;
  if (s.status === 'restarting') {
    return `Restarting (${s.exitCode}) ${humanDuration(since(s.finishedAt, now))} ago`;
  }
  if (s.running || s.status === 'running' || s.status === 'paused') {
    const up = `Up ${humanDuration(since(s.startedAt, now))}`;
    return s.paused || s.status === 'paused' ? `${up} (Paused)` : up;
  }
  if (s.status === 'removing') return 'Removal In Progress';
  if (s.status === 'dead') return 'Dead';
  if (isZeroTime(s.startedAt)) return 'Created';
  if (isZeroTime(s.finishedAt)) return '';
  return `Exited (${s.exitCode}) ${humanDuration(since(s.finishedAt, now))} ago`;
}

export { ZERO_TIME };
