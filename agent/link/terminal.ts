// The dashboard's terminals on the agent's side: each is an exec with a TTY, made through
// the same Engine facade the Docker API's exec endpoints use. Output goes to the server one
// message at a time, the next only after the last was acked, so a command that floods its
// TTY (`yes`) is held back by the TTY itself: the exec's bounded queue pauses the helper's
// pipe, the helper stops reading the pty, and the command blocks on its write.
import { EngineError } from '../engine/errors';
import type { Engine, StdioSession } from '../engine/types';
import { TERM_KILL_AFTER_MS, type TermEndReason, type TermMessage, type TermSize } from '../../protocol/agent-link';

// A single byte that never occurs in UTF-8, which is all a browser's input can be: no key the
// user types is held back or taken for Docker's default detach sequence (Ctrl-P Ctrl-Q, and
// Ctrl-P is readline's "previous line").
const NO_DETACH_KEYS = '\u00ff';
const STOP_GRACE_MS = 2_000;

interface Term {
  execId: string;
  containerId: string;
  session: StdioSession;
  closing: boolean;
  killTimer?: NodeJS.Timeout;
}

export interface TerminalOpen {
  sessionId: string;
  id: string;
  cmd: string[];
  user?: string;
  size: TermSize;
}

export class Terminals {
  private readonly terms = new Map<string, Term>();

  constructor(
    private readonly engine: Engine,
    /** Resolves once the server acked the message; rejects when the link is down. */
    private readonly send: (msg: TermMessage) => Promise<void>,
    private readonly log: (msg: string) => void = (m) => console.error(`berth-agent: ${m}`),
  ) {}

  get size(): number {
    return this.terms.size;
  }

  /** Creates and starts the exec; its output flows from here on. 409 when the container is not running. */
  open(o: TerminalOpen): { execId: string } {
    if (this.terms.has(o.sessionId)) throw new EngineError(409, `terminal session ${o.sessionId} is already open`);
    const info = this.engine.execCreate(o.id, {
      cmd: o.cmd,
      user: o.user,
      tty: true,
      attachStdin: true,
      attachStdout: true,
      attachStderr: true,
      detachKeys: NO_DETACH_KEYS,
      consoleSize: { rows: o.size.rows, cols: o.size.cols },
    });
    const session = this.engine.execStart(info.id, {});
    if (!session) throw new EngineError(500, 'exec started without a session');
    const term: Term = { execId: info.id, containerId: info.containerId, session, closing: false };
    this.terms.set(o.sessionId, term);
    void this.pump(o.sessionId, term);
    return { execId: info.id };
  }

  private async pump(sessionId: string, t: Term): Promise<void> {
    let reason: TermEndReason = 'exited';
    let error: string | undefined;
    try {
      for await (const batch of t.session.output) {
        const data = batch.length === 1 ? batch[0].data : Buffer.concat(batch.map((c) => c.data));
        await this.send({ sessionId, data });
      }
    } catch (err) {
      // The link went down: nobody reads this terminal any more.
      reason = 'error';
      error = (err as Error).message;
      this.close(sessionId);
    }
    if (t.closing && reason !== 'error') reason = 'closed';
    // The output ends before the exit code is recorded only when we left first; wait for it.
    const exitCode = await this.exitCode(t);
    if (reason === 'exited' && (exitCode === null || exitCode === 137) && (await this.stopsSoon(t.containerId))) reason = 'container stopped';
    clearTimeout(t.killTimer);
    if (this.terms.get(sessionId) === t) this.terms.delete(sessionId);
    await this.send({ sessionId, end: { exitCode, reason, ...(error ? { error } : {}) } }).catch(() => {});
  }

  /** A container's end kills its execs (SIGKILL, with the pid namespace) a moment before its record says it stopped. */
  private async stopsSoon(containerId: string): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const waited = await Promise.race([
      this.engine.wait(containerId, 'not-running').then(
        () => true,
        () => true, // removed
      ),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), STOP_GRACE_MS))),
    ]);
    clearTimeout(timer);
    return waited;
  }

  private async exitCode(t: Term): Promise<number | null> {
    for (let i = 0; i < 100; i++) {
      try {
        const info = this.engine.execInspect(t.execId);
        if (info.exitCode !== null) return info.exitCode;
      } catch {
        return null; // the container was removed, and its execs with it
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return null;
  }

  async input(sessionId: string, data: string): Promise<void> {
    const t = this.get(sessionId);
    if (t.closing) return;
    await t.session.write(Buffer.from(data, 'utf8'));
  }

  async resize(sessionId: string, size: TermSize): Promise<void> {
    const t = this.get(sessionId);
    if (!t.closing) await this.engine.execResize(t.execId, size);
  }

  /**
   * Hangs up on the shell as closing a terminal window does: SIGHUP to it (it exits, and
   * the kernel hangs up its foreground job), then, if it is still there after
   * TERM_KILL_AFTER_MS, SIGKILL to the exec's helper: its pty closes and the kernel hangs
   * up on everything still attached.
   */
  close(sessionId: string): void {
    const t = this.terms.get(sessionId);
    if (!t || t.closing) return;
    t.closing = true;
    const signal = (sig: NodeJS.Signals) => {
      try {
        this.engine.execKill(t.execId, sig);
      } catch (err) {
        if (!(err instanceof EngineError && err.status === 404)) this.log(`terminal ${sessionId}: ${sig}: ${(err as Error).message}`);
      }
    };
    signal('SIGHUP');
    t.killTimer = setTimeout(() => signal('SIGKILL'), TERM_KILL_AFTER_MS);
    t.killTimer.unref();
    // Our side stops reading; output still printed is read and dropped until the command exits.
    t.session.close();
  }

  closeAll(): void {
    for (const id of [...this.terms.keys()]) this.close(id);
  }

  private get(sessionId: string): Term {
    const t = this.terms.get(sessionId);
    if (!t) throw new EngineError(404, `no such terminal session: ${sessionId}`);
    return t;
  }
}
