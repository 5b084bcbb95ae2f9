// Noticing that a container's init ended. The agent is not the parent of anything it runs
// (each monitor outlives it), so exits are seen through the exit file the monitor writes:
// an fs.watch on its state dir for promptness, a slow poll as the safety net, and a
// liveness check for a monitor that died without writing one.
import { watch, type FSWatcher } from 'node:fs';
import type { WaitCondition } from '../types';
import type { MonitorRun } from './monitor';

const POLL_MS = 1000;

export class ExitWatch {
  private readonly watching = new Map<string, { fsw?: FSWatcher; timer: NodeJS.Timeout }>();
  private closed = false;

  /** `ended` runs once per watched run, when the init has exited or its monitor is gone. */
  constructor(private readonly ended: (id: string, run: MonitorRun) => void) {}

  watch(id: string, run: MonitorRun): void {
    if (this.watching.has(id) || this.closed) return;
    const check = () => {
      if (!this.watching.has(id)) return;
      if (run.exit() || !run.monitorAlive()) {
        this.unwatch(id);
        this.ended(id, run);
      }
    };
    let fsw: FSWatcher | undefined;
    try {
      fsw = watch(run.dir, (_ev, file) => {
        if (file === 'exit') check();
      });
      fsw.on('error', () => {});
    } catch {
      // The slow poll below still notices.
    }
    const timer = setInterval(check, POLL_MS);
    timer.unref();
    this.watching.set(id, { fsw, timer });
    check();
  }

  unwatch(id: string): void {
    const w = this.watching.get(id);
    if (!w) return;
    w.fsw?.close();
    clearInterval(w.timer);
    this.watching.delete(id);
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.watching.keys()]) this.unwatch(id);
  }
}

/** `docker wait` callers, released by condition when a container stops or goes. */
export class Waiters {
  private readonly byId = new Map<string, Array<{ cond: WaitCondition; resolve: (v: { exitCode: number }) => void }>>();

  add(id: string, cond: WaitCondition): Promise<{ exitCode: number }> {
    return new Promise((resolve) => {
      const ws = this.byId.get(id) ?? [];
      ws.push({ cond, resolve });
      this.byId.set(id, ws);
    });
  }

  settle(id: string, conds: WaitCondition[], exitCode: number): void {
    const ws = this.byId.get(id) ?? [];
    const keep = ws.filter((w) => !conds.includes(w.cond));
    for (const w of ws) if (conds.includes(w.cond)) w.resolve({ exitCode });
    if (keep.length) this.byId.set(id, keep);
    else this.byId.delete(id);
  }
}
