// The browser terminal's relay: '/ui' events from the page, commands and 'term' messages
// to and from the agent, which runs the shell as an exec with a TTY. Operators and up only;
// every session leaves two audit records (start, end) and every refusal one.
//
// Backpressure: an output message from the agent is acked only once the browser has acked
// it (after xterm.js has drawn it), so there is one message per session in flight on each
// hop and nothing grows however fast the command prints. Input goes the other way the
// same way: the browser sends its next keys when the last ones were taken.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io';
import type { TermMessage } from '../../protocol/agent-link';
import { hasRole } from '../../protocol/roles';
import { termSchemas, type ServerToUi, type TermEnd, type UiToServer } from '../../protocol/ui-socket';
import { AccessError, hostFor, hostRole, teamRole } from '../auth/access';
import { clientAddress } from '../http/client-address';
import { db } from '../db';
import type { AgentHub } from './agents';

type UiSocket = Socket<UiToServer, ServerToUi, Record<string, never>, { userId: string }>;

export const AUDIT_TERMINAL_START = 'container.terminal.start';
export const AUDIT_TERMINAL_END = 'container.terminal.end';
/** A page shows one terminal; a few allow a second tab of the same page. */
export const MAX_TERMINALS_PER_SOCKET = 4;
/** How often open sessions check that their user still has the operator role. */
export const ROLE_CHECK_MS = 2_000;
/** How long a closed session waits for the agent's last word before it is recorded as ended anyway. */
const END_WAIT_MS = 10_000;

interface Session {
  id: string;
  socket: UiSocket;
  userId: string;
  hostId: string;
  teamId: string;
  containerId: string;
  target: string;
  startedAt: number;
  /** Set once the session is being closed from this side: why. */
  closing?: string;
  /** The browser's ack of the output message in flight. */
  release?: () => void;
  endTimer?: NodeJS.Timeout;
  done: boolean;
  /** Settles once the browser has its sessionId: output sent before would be dropped as someone else's. */
  ready: Promise<void>;
  setReady: () => void;
}

function errorText(err: unknown): string {
  if (err instanceof AccessError) return err.message;
  if (err && typeof err === 'object' && 'issues' in err) {
    const issue = (err as { issues: Array<{ path: PropertyKey[]; message: string; code: string; keys?: string[] }> }).issues[0];
    if (issue.code === 'unrecognized_keys') return `unknown field ${issue.keys?.join(', ')}`;
    return `${issue.path.map(String).join('.') || 'request'}: ${issue.message}`;
  }
  console.error(`terminal: ${(err as Error)?.stack ?? err}`);
  return 'internal error';
}

async function audit(userId: string, hostId: string | null, teamId: string | null, action: string, target: string, result: string, address: string | null = null): Promise<void> {
  try {
    await db().auditLog.create({ data: { userId, hostId, teamId, action, target: target.slice(0, 500), result: result.slice(0, 1000), address } });
  } catch (err) {
    console.error(`audit ${action}: cannot write: ${(err as Error).message}`);
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

export class TerminalHub {
  private readonly sessions = new Map<string, Session>();
  private roleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly agents: AgentHub) {
    agents.termSink = (hostId, msg) => this.fromAgent(hostId, msg);
  }

  /** The '/ui' events of one browser connection. */
  bind(socket: UiSocket): void {
    const userId = socket.data.userId;
    const from = clientAddress(socket.request);

    socket.on('term:open', async (raw, ack) => {
      const reply = typeof ack === 'function' ? ack : () => {};
      const parsed = termSchemas().open.safeParse(raw);
      if (!parsed.success) {
        const hostId = typeof (raw as { hostId?: unknown })?.hostId === 'string' ? (raw as { hostId: string }).hostId : '';
        const error = errorText(parsed.error);
        await this.auditRefusal(userId, hostId, `container ${String((raw as { containerId?: unknown })?.containerId ?? '?')}`, `error: BAD_REQUEST: ${error}`, from);
        return reply({ ok: false, error });
      }
      const req = parsed.data;
      const target = `container ${req.containerId}: ${req.shell}${req.user ? ` as ${req.user}` : ''}`;
      let host;
      try {
        ({ host } = await hostFor(userId, req.hostId, 'operator'));
      } catch (err) {
        const error = errorText(err);
        await this.auditRefusal(userId, req.hostId, target, `error: ${err instanceof AccessError && err.kind === 'forbidden' ? 'FORBIDDEN' : 'NOT_FOUND'}: ${error}`, from);
        return reply({ ok: false, error });
      }
      if ([...this.sessions.values()].filter((s) => s.socket === socket).length >= MAX_TERMINALS_PER_SOCKET) {
        const error = `too many terminals open on this connection (at most ${MAX_TERMINALS_PER_SOCKET}); close one first`;
        await audit(userId, host.id, host.teamId, AUDIT_TERMINAL_START, target, `error: TOO_MANY: ${error}`, from);
        return reply({ ok: false, error });
      }
      let setReady = () => {};
      const ready = new Promise<void>((r) => (setReady = r));
      const s: Session = { id: randomUUID(), socket, userId, hostId: host.id, teamId: host.teamId, containerId: req.containerId, target, startedAt: Date.now(), done: false, ready, setReady };
      // Registered before the agent answers: its first output may come before its ack.
      this.sessions.set(s.id, s);
      const res = await this.agents.command<{ execId: string }>(host.id, {
        op: 'term.open',
        sessionId: s.id,
        id: req.containerId,
        cmd: [req.shell],
        ...(req.user ? { user: req.user } : {}),
        size: req.size,
      });
      if (!res.ok) {
        this.sessions.delete(s.id);
        // Never started, so no end to record (a close meanwhile finds nothing to stop).
        s.done = true;
        s.setReady();
        await audit(userId, host.id, host.teamId, AUDIT_TERMINAL_START, target, `error: ${res.error}`, from);
        return reply({ ok: false, error: res.error });
      }
      s.target = `${target} (exec ${res.result?.execId?.slice(0, 12) ?? '?'}, session ${s.id})`;
      await audit(userId, host.id, host.teamId, AUDIT_TERMINAL_START, s.target, 'ok', from);
      this.watchRoles();
      if (!socket.connected) {
        s.setReady();
        return this.close(s, 'browser closed');
      }
      reply({ ok: true, sessionId: s.id });
      s.setReady();
    });

    socket.on('term:input', async (raw, ack) => {
      const reply = typeof ack === 'function' ? ack : () => {};
      const parsed = termSchemas().input.safeParse(raw);
      if (!parsed.success) return reply({ ok: false, error: errorText(parsed.error) });
      const s = this.mine(socket, parsed.data.sessionId);
      if (!s) return reply({ ok: false, error: 'no such terminal session' });
      const res = await this.agents.command(s.hostId, { op: 'term.input', sessionId: s.id, data: parsed.data.data });
      reply(res.ok ? { ok: true } : { ok: false, error: res.error });
    });

    socket.on('term:resize', (raw) => {
      const parsed = termSchemas().resize.safeParse(raw);
      const s = parsed.success ? this.mine(socket, parsed.data.sessionId) : undefined;
      if (s && parsed.success) void this.agents.command(s.hostId, { op: 'term.resize', sessionId: s.id, size: parsed.data.size });
    });

    socket.on('term:close', (sessionId) => {
      const s = typeof sessionId === 'string' ? this.mine(socket, sessionId) : undefined;
      if (s) this.close(s, 'closed by the user');
    });

    socket.on('disconnect', () => {
      for (const s of [...this.sessions.values()]) if (s.socket === socket) this.close(s, 'browser closed');
    });
  }

  /** A refusal is recorded against the host only when the caller may know it exists (a member of its team). */
  private async auditRefusal(userId: string, hostId: string, target: string, result: string, from: string): Promise<void> {
    const row = hostId ? await db().host.findUnique({ where: { id: hostId }, select: { id: true, teamId: true } }).catch(() => null) : null;
    const member = row ? (await teamRole(userId, row.teamId).catch(() => null)) !== null : false;
    if (row && member) await audit(userId, row.id, row.teamId, AUDIT_TERMINAL_START, target, result, from);
    else await audit(userId, null, null, AUDIT_TERMINAL_START, `${target} (host ${hostId || '?'})`, result, from);
  }

  private mine(socket: UiSocket, sessionId: string): Session | undefined {
    const s = this.sessions.get(sessionId);
    return s && s.socket === socket && !s.closing ? s : undefined;
  }

  /** Ends a session from this side: the browser hears at once, the agent hangs up on the shell. */
  private close(s: Session, reason: string, exitCode: number | null = null): void {
    if (s.closing || s.done) return;
    s.closing = reason;
    s.release?.();
    if (s.socket.connected) s.socket.emit('term:end', { sessionId: s.id, reason, exitCode });
    void this.agents.command(s.hostId, { op: 'term.close', sessionId: s.id }).then((res) => {
      // 404: the shell ended on its own just now, and its end message is on its way.
      if (!res.ok && res.status !== 404) this.finish(s, null, res.error);
    });
    s.endTimer = setTimeout(() => this.finish(s, null, 'the host did not say the shell had ended'), END_WAIT_MS);
    s.endTimer.unref();
  }

  /** Records the end, once. */
  private finish(s: Session, exitCode: number | null, note?: string): void {
    if (s.done) return;
    s.done = true;
    clearTimeout(s.endTimer);
    s.release?.();
    if (this.sessions.get(s.id) === s) this.sessions.delete(s.id);
    const reason = s.closing ?? 'exited';
    const how = `${reason}${exitCode !== null ? `, exit code ${exitCode}` : ''}, after ${seconds(Date.now() - s.startedAt)}${note ? ` (${note})` : ''}`;
    void audit(s.userId, s.hostId, s.teamId, AUDIT_TERMINAL_END, `${s.target}: ${how}`, 'ok', clientAddress(s.socket.request));
  }

  private async fromAgent(hostId: string, msg: TermMessage): Promise<void> {
    const s = this.sessions.get(msg.sessionId);
    if (!s || s.hostId !== hostId) {
      // Nobody is watching this one (any more): make sure the agent stops it.
      if (!s && !('end' in msg)) void this.agents.command(hostId, { op: 'term.close', sessionId: msg.sessionId });
      return;
    }
    await s.ready;
    if ('end' in msg) {
      const end = msg.end ?? { exitCode: null, reason: 'error' };
      const exitCode = typeof end.exitCode === 'number' ? end.exitCode : null;
      if (!s.closing) {
        s.closing = end.reason === 'closed' ? 'closed by the host' : String(end.reason);
        if (s.socket.connected) s.socket.emit('term:end', { sessionId: s.id, reason: s.closing, exitCode } satisfies TermEnd);
      }
      this.finish(s, exitCode, end.error);
      return;
    }
    if (s.closing || !s.socket.connected || !(msg.data instanceof Uint8Array)) return;
    await new Promise<void>((resolve) => {
      s.release = () => {
        s.release = undefined;
        resolve();
      };
      s.socket.emit('term:data', { sessionId: s.id, data: msg.data }, () => s.release?.());
    });
  }

  /** The host's connection is gone, and the agent's shells with it. */
  hostGone(hostId: string, reason: string): void {
    for (const s of [...this.sessions.values()]) {
      if (s.hostId !== hostId) continue;
      if (!s.closing) {
        s.closing = reason;
        if (s.socket.connected) s.socket.emit('term:end', { sessionId: s.id, reason, exitCode: null });
      }
      this.finish(s, null);
    }
  }

  /** While sessions are open, a user whose role went below operator (or who left the team) loses theirs. */
  private watchRoles(): void {
    if (this.roleTimer) return;
    this.roleTimer = setInterval(() => void this.checkRoles(), ROLE_CHECK_MS);
    this.roleTimer.unref();
  }

  private async checkRoles(): Promise<void> {
    const open = [...this.sessions.values()].filter((s) => !s.closing);
    if (!open.length) {
      clearInterval(this.roleTimer);
      this.roleTimer = undefined;
      return;
    }
    const seen = new Map<string, Awaited<ReturnType<typeof hostRole>>>();
    for (const s of open) {
      const key = `${s.userId} ${s.hostId}`;
      try {
        // The role on this host: narrowing the member to other hosts ends the session too.
        if (!seen.has(key)) seen.set(key, await hostRole(s.userId, { id: s.hostId, teamId: s.teamId }));
      } catch (err) {
        console.error(`terminal: role check: ${(err as Error).message}`);
        continue;
      }
      const role = seen.get(key) ?? null;
      if (!hasRole(role, 'operator')) this.close(s, role ? `role lowered to ${role}` : 'no longer a member of the team');
    }
  }
}
