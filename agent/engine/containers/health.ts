// Healthchecks, as moby's daemon/health.go runs them: one monitor per running, unpaused
// container with a healthcheck; a probe is an exec of the check's command; its result moves
// the container between starting, healthy and unhealthy, and the last five are kept.
import type { HealthLogEntry, HealthState, HealthStatus, ResolvedHealth } from '../../../protocol/container';

export const DEFAULT_INTERVAL_MS = 30_000;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_START_INTERVAL_MS = 5_000;
export const DEFAULT_RETRIES = 3;
export const MAX_LOG_ENTRIES = 5;
export const MAX_OUTPUT_BYTES = 4096;

const ms = (ns: number, dflt: number) => (ns > 0 ? ns / 1e6 : dflt);

export interface HealthTimes {
  intervalMs: number;
  timeoutMs: number;
  startPeriodMs: number;
  startIntervalMs: number;
  retries: number;
}

export function healthTimes(h: ResolvedHealth): HealthTimes {
  return {
    intervalMs: ms(h.intervalNs, DEFAULT_INTERVAL_MS),
    timeoutMs: ms(h.timeoutNs, DEFAULT_TIMEOUT_MS),
    startPeriodMs: ms(h.startPeriodNs, 0),
    startIntervalMs: ms(h.startIntervalNs, DEFAULT_START_INTERVAL_MS),
    retries: h.retries > 0 ? h.retries : DEFAULT_RETRIES,
  };
}

/** The argv a probe execs: CMD runs its words, CMD-SHELL runs them with /bin/sh -c. */
export function probeCommand(h: ResolvedHealth): string[] {
  return h.test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', ...h.test.slice(1)] : h.test.slice(1);
}

/** The wait before the next probe: the start interval while starting within the start period. */
export function nextDelayMs(t: HealthTimes, status: HealthStatus, sinceStartMs: number): number {
  if (sinceStartMs >= t.startPeriodMs) return t.intervalMs;
  return status === 'starting' ? t.startIntervalMs : t.intervalMs;
}

/**
 * A probe's result applied to the health state (handleProbeResult): a success makes it
 * healthy, failures in a row make it unhealthy once there are `retries` of them, and while
 * still starting, failures within the start period do not count.
 */
export function applyProbe(state: HealthState, t: HealthTimes, result: HealthLogEntry, containerStartedMs: number): HealthState {
  const log = [...state.log, result].slice(-MAX_LOG_ENTRIES);
  if (result.exitCode === 0) return { status: 'healthy', failingStreak: 0, log };
  const inStartPeriod = state.status === 'starting' && Date.parse(result.start) - containerStartedMs < t.startPeriodMs;
  if (inStartPeriod) return { ...state, log };
  const failingStreak = state.failingStreak + 1;
  return { status: failingStreak >= t.retries ? 'unhealthy' : state.status, failingStreak, log };
}

/** Go's time.Duration.String() for the durations a healthcheck has ("30s", "1.5s", "500ms", "1m30s"). */
export function goDuration(msTotal: number): string {
  if (msTotal === 0) return '0s';
  if (msTotal < 1000) return `${trim(msTotal)}ms`;
  let s = msTotal / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${trim(s)}s`;
}
const trim = (n: number) => String(Number(n.toFixed(9)));

/** Collects a probe's output up to MAX_OUTPUT_BYTES, marking a cut with "...". */
export class LimitedOutput {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private cut = false;

  write(b: Buffer): void {
    const keep = Math.min(MAX_OUTPUT_BYTES - this.size, b.length);
    if (keep > 0) {
      this.chunks.push(b.subarray(0, keep));
      this.size += keep;
    }
    if (keep < b.length) this.cut = true;
  }

  toString(): string {
    const s = Buffer.concat(this.chunks).toString('utf8');
    return this.cut ? s + '...' : s;
  }
}

export interface ProbeRun {
  /** Resolves with the result; after abort() it still resolves, once the probe is gone. */
  done: Promise<{ exitCode: number; output: string }>;
  abort(): void;
}

export interface HealthDeps {
  /** Starts one probe in the container (an exec), ending it after timeoutMs. */
  probe(id: string, h: ResolvedHealth, timeoutMs: number): ProbeRun;
  /** The health state and start time of a container now, or undefined when it is gone or not running. */
  current(id: string): { health: ResolvedHealth; state: HealthState; startedAtMs: number } | undefined;
  /** A probe's result changed the state; `statusChanged` when the status word did. */
  update(id: string, state: HealthState, statusChanged: boolean): void;
  now(): string;
}

interface Monitor {
  timer?: NodeJS.Timeout;
  probe?: ProbeRun;
  stopped: boolean;
}

/** The monitors of all containers. Timers never keep the agent alive; stop() ends a probe under way. */
export class HealthMonitors {
  private readonly monitors = new Map<string, Monitor>();

  constructor(private readonly deps: HealthDeps) {}

  running(id: string): boolean {
    return this.monitors.has(id);
  }

  /** Starts probing (no-op when already probing). The caller has set the state it starts from. */
  start(id: string): void {
    if (this.monitors.has(id)) return;
    const cur = this.deps.current(id);
    if (!cur) return;
    const m: Monitor = { stopped: false };
    this.monitors.set(id, m);
    this.arm(id, m, nextDelayMs(healthTimes(cur.health), cur.state.status, Date.now() - cur.startedAtMs));
  }

  private arm(id: string, m: Monitor, delayMs: number): void {
    m.timer = setTimeout(() => void this.tick(id, m), delayMs);
    m.timer.unref();
  }

  private async tick(id: string, m: Monitor): Promise<void> {
    m.timer = undefined;
    const cur = this.deps.current(id);
    if (m.stopped || !cur) return this.stop(id);
    const t = healthTimes(cur.health);
    const start = this.deps.now();
    m.probe = this.deps.probe(id, cur.health, t.timeoutMs);
    const { exitCode, output } = await m.probe.done;
    m.probe = undefined;
    if (m.stopped) return;
    const now = this.deps.current(id);
    if (!now) return this.stop(id);
    const next = applyProbe(now.state, t, { start, end: this.deps.now(), exitCode, output }, now.startedAtMs);
    this.deps.update(id, next, next.status !== now.state.status);
    if (!m.stopped) this.arm(id, m, nextDelayMs(t, next.status, Date.now() - now.startedAtMs));
  }

  /** Stops probing; a probe under way is ended and its result dropped. */
  stop(id: string): void {
    const m = this.monitors.get(id);
    if (!m) return;
    m.stopped = true;
    clearTimeout(m.timer);
    m.probe?.abort();
    this.monitors.delete(id);
  }

  close(): void {
    for (const id of [...this.monitors.keys()]) this.stop(id);
  }
}
