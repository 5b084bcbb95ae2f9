// Restart policies, as moby's restartmanager decides them: the first restart after 100 ms,
// each further one waits twice as long, up to a minute; a run of 10 s or more starts the
// back-off over. A manual stop or kill cancels the manager until a user starts the
// container again.
import type { RestartPolicyName } from '../../../protocol/container';

export const FIRST_DELAY_MS = 100;
export const MAX_DELAY_MS = 60_000;
/** A run at least this long resets the back-off. */
export const RESET_AFTER_MS = 10_000;

export interface RestartPolicy {
  policy: RestartPolicyName;
  /** on-failure only; 0 = no limit. */
  maxRetries: number;
}

export interface RestartFacts {
  exitCode: number;
  /** Stopped or killed by a user (or the agent is shutting down). */
  manuallyStopped: boolean;
  /** How long the run that just ended lasted. */
  ranMs: number;
  /** Restarts so far (the container's RestartCount). */
  restartCount: number;
}

/** One container's restart manager; it lives until a user starts the container again. */
export class RestartManager {
  private delayMs = 0;
  private cancelledFlag = false;
  private timer: NodeJS.Timeout | undefined;

  get cancelled(): boolean {
    return this.cancelledFlag;
  }

  /**
   * Whether to restart after this exit and how long to wait first. Like moby's, the delay
   * grows with every exit the manager sees while a policy is set, whether or not it restarts.
   */
  decide(p: RestartPolicy, f: RestartFacts): { restart: false } | { restart: true; delayMs: number } {
    if (p.policy === 'no' || this.cancelledFlag) return { restart: false };
    if (f.ranMs >= RESET_AFTER_MS) this.delayMs = 0;
    this.delayMs = this.delayMs === 0 ? FIRST_DELAY_MS : Math.min(this.delayMs * 2, MAX_DELAY_MS);
    let restart = false;
    if (p.policy === 'always') restart = true;
    else if (p.policy === 'unless-stopped') restart = !f.manuallyStopped;
    else if (p.maxRetries === 0 || f.restartCount < p.maxRetries) restart = f.exitCode !== 0;
    return restart ? { restart: true, delayMs: this.delayMs } : { restart: false };
  }

  /** Runs `fn` after `delayMs`; the timer never keeps the process alive. */
  schedule(delayMs: number, fn: () => void): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      fn();
    }, delayMs);
    this.timer.unref();
  }

  get pending(): boolean {
    return this.timer !== undefined;
  }

  /** No more restarts from this manager; a pending one is dropped. True when one was pending. */
  cancel(): boolean {
    this.cancelledFlag = true;
    return this.clearTimer();
  }

  private clearTimer(): boolean {
    if (!this.timer) return false;
    clearTimeout(this.timer);
    this.timer = undefined;
    return true;
  }
}
