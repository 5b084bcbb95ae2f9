// The '/ui' namespace: browsers authenticated by their next-auth cookie watch hosts
// and stream container logs relayed from the agents.
import { randomUUID } from 'node:crypto';
import type { Namespace, Server, Socket } from 'socket.io';
import type { LogBatch } from '../../protocol/agent-link';
import { AccessError, hostFor } from '../auth/access';
import { sessionFromCookieHeader } from '../auth/session';
import { onSessionsEnded } from '../auth/sessions';
import { db } from '../db';
import { berthGlobal } from '../global';
import type { AgentHub } from './agents';
import { TerminalHub } from './terminals';
import { UI_NAMESPACE, type ServerToUi, type UiToServer } from '../../protocol/ui-socket';

type UiSocket = Socket<UiToServer, ServerToUi, Record<string, never>, { userId: string }>;

interface Subscription {
  subId: string;
  socket: UiSocket;
  hostId: string;
  containerId: string;
  tail?: number;
  /** Highest seq delivered to the browser: where to resume after the agent reconnects. */
  lastSeq: number;
  /** Settles once the browser has its subId, so no batch reaches it before the ack does. */
  ready: Promise<void>;
}

interface Conn {
  writeBuffer: unknown[];
  readyState: string;
  on(ev: string, fn: () => void): void;
  off(ev: string, fn: () => void): void;
}

/** One wait per connection, however many of its streams are waiting: a listener each would trip Node's leak warning at 11. */
const drainWaits = new WeakMap<Conn, Promise<void>>();

/** Resolves when socket.io has handed everything queued for this browser to the network. */
function drained(socket: UiSocket): Promise<void> {
  const conn = socket.conn as unknown as Conn;
  if (conn.writeBuffer.length === 0 || conn.readyState !== 'open') return Promise.resolve();
  let wait = drainWaits.get(conn);
  if (!wait) {
    wait = new Promise((resolve) => {
      const done = () => {
        conn.off('drain', done);
        conn.off('close', done);
        drainWaits.delete(conn);
        resolve();
      };
      conn.on('drain', done);
      conn.on('close', done);
    });
    drainWaits.set(conn, wait);
  }
  return wait;
}

/** A page follows one or two logs; more than this from one connection is a runaway page or abuse, and each costs the agent a reader. */
export const MAX_LOG_STREAMS_PER_SOCKET = 16;

function errorText(err: unknown): string {
  if (err instanceof AccessError) return err.message;
  console.error(`ui: ${(err as Error)?.stack ?? err}`);
  return 'internal error';
}

export class UiHub {
  private readonly subs = new Map<string, Subscription>();
  readonly terminals: TerminalHub;

  constructor(private readonly agents: AgentHub) {
    this.terminals = new TerminalHub(agents);
  }

  attach(io: Server): void {
    const nsp = io.of(UI_NAMESPACE) as unknown as Namespace<UiToServer, ServerToUi>;
    nsp.use((socket, next) => {
      sessionFromCookieHeader(socket.handshake.headers.cookie)
        .then(async (session) => {
          if (!session) return next(new Error('unauthorized'));
          const user = await db().user.findUnique({ where: { id: session.userId }, include: { memberships: true } });
          if (!user || user.mustChangePassword) return next(new Error('unauthorized'));
          socket.data.userId = user.id;
          socket.join([`user:${user.id}`, `session:${session.sessionId}`]);
          for (const m of user.memberships) socket.join(`team:${m.teamId}`);
          next();
        })
        .catch((err) => next(new Error(errorText(err))));
    });
    nsp.on('connection', (socket) => this.onConnect(socket as UiSocket));
    // A revoked session or changed access ends the sockets it opened at once (their log
    // streams with them); the page connects again and is checked afresh.
    onSessionsEnded(({ userId, sessionIds }) => {
      const rooms = sessionIds ? sessionIds.map((id) => `session:${id}`) : [`user:${userId}`];
      nsp.in(rooms).disconnectSockets(true);
    });
    this.agents.logSink = (hostId, batch) => this.forward(hostId, batch);
    this.agents.onAgentOnline = (hostId) => {
      // An agent that reconnects has hung up on every terminal of its last connection.
      this.terminals.hostGone(hostId, 'host reconnected');
      this.resume(hostId);
    };
    this.agents.offlineListeners.add((hostId) => this.terminals.hostGone(hostId, 'host went offline'));
  }

  private onConnect(socket: UiSocket): void {
    const userId = socket.data.userId;
    this.terminals.bind(socket);

    socket.on('host:watch', async (hostId, ack) => {
      const reply = typeof ack === 'function' ? ack : () => {};
      try {
        if (typeof hostId !== 'string') throw new AccessError('not-found', 'hostId must be a string');
        const { host } = await hostFor(userId, hostId, 'viewer');
        await socket.join(`host:${host.id}`);
        reply({ ok: true });
        socket.emit('host', this.agents.view(host));
      } catch (err) {
        reply({ ok: false, error: errorText(err) });
      }
    });

    socket.on('host:unwatch', (hostId) => {
      if (typeof hostId === 'string') void socket.leave(`host:${hostId}`);
    });

    socket.on('logs:subscribe', async (req, ack) => {
      const reply = typeof ack === 'function' ? ack : () => {};
      let release = () => {};
      let sub: Subscription | undefined;
      try {
        if (req && 'sources' in req) throw new AccessError('not-found', 'merged subscriptions are not implemented yet');
        if (!req || typeof req.hostId !== 'string' || typeof req.containerId !== 'string' || !req.containerId) {
          throw new AccessError('not-found', 'hostId and containerId are required');
        }
        const tail = Number.isInteger(req.tail) && req.tail! >= 0 ? req.tail : undefined;
        const afterSeq = Number.isInteger(req.afterSeq) && req.afterSeq! >= 0 ? req.afterSeq : undefined;
        const { host } = await hostFor(userId, req.hostId, 'viewer');
        if ([...this.subs.values()].filter((s) => s.socket === socket).length >= MAX_LOG_STREAMS_PER_SOCKET) {
          return reply({ ok: false, error: `too many log streams open on this connection (at most ${MAX_LOG_STREAMS_PER_SOCKET}); close some first` });
        }
        const subId = randomUUID();
        sub = {
          subId,
          socket,
          hostId: host.id,
          containerId: req.containerId,
          tail,
          lastSeq: afterSeq ?? 0,
          ready: new Promise<void>((r) => (release = r)),
        };
        this.subs.set(subId, sub);
        const res = await this.agents.command(host.id, {
          op: 'logs.subscribe',
          subId,
          id: req.containerId,
          ...(afterSeq !== undefined ? { afterSeq } : { tail: tail ?? 100 }),
        });
        if (!res.ok) {
          this.subs.delete(subId);
          reply({ ok: false, error: res.error });
        } else if (!socket.connected) {
          this.drop(sub);
        } else {
          reply({ ok: true, subId });
        }
      } catch (err) {
        if (sub) this.subs.delete(sub.subId);
        reply({ ok: false, error: errorText(err) });
      } finally {
        release();
      }
    });

    socket.on('logs:unsubscribe', (subId) => {
      const sub = typeof subId === 'string' ? this.subs.get(subId) : undefined;
      if (sub && sub.socket === socket) this.drop(sub);
    });

    socket.on('disconnect', () => {
      for (const sub of [...this.subs.values()]) if (sub.socket === socket) this.drop(sub);
    });
  }

  /** Forgets a subscription and tells the agent to stop reading. */
  private drop(sub: Subscription): void {
    if (this.subs.get(sub.subId) !== sub) return;
    this.subs.delete(sub.subId);
    void this.agents.command(sub.hostId, { op: 'logs.unsubscribe', subId: sub.subId });
  }

  /** One batch from an agent to its browser; resolves (→ the agent's ack) once the browser took it. */
  private async forward(hostId: string, batch: LogBatch): Promise<void> {
    const sub = this.subs.get(batch.subId);
    if (!sub || sub.hostId !== hostId) {
      // Nobody is watching (any more): make sure the agent stops sending.
      if (!sub) void this.agents.command(hostId, { op: 'logs.unsubscribe', subId: batch.subId });
      return;
    }
    await sub.ready;
    if (this.subs.get(sub.subId) !== sub) return;
    if (!sub.socket.connected) return this.drop(sub);
    const entries = Array.isArray(batch.entries) ? batch.entries.filter((e) => e.seq > sub.lastSeq) : [];
    if (entries.length) sub.lastSeq = entries[entries.length - 1].seq;
    if (entries.length || batch.done) {
      sub.socket.emit('logs', { subId: sub.subId, containerId: sub.containerId, entries: entries.map((e) => ({ ...e, hostId: sub.hostId, containerId: sub.containerId, name: '' })), done: batch.done || undefined });
    }
    if (batch.done) this.subs.delete(sub.subId);
    await drained(sub.socket);
  }

  /** After an agent reconnects, its streams carry on after the last line each browser got. */
  private resume(hostId: string): void {
    for (const sub of this.subs.values()) {
      if (sub.hostId !== hostId) continue;
      const cmd =
        sub.lastSeq > 0
          ? { op: 'logs.subscribe' as const, subId: sub.subId, id: sub.containerId, afterSeq: sub.lastSeq }
          : { op: 'logs.subscribe' as const, subId: sub.subId, id: sub.containerId, tail: sub.tail ?? 100 };
      void this.agents.command(hostId, cmd).then((res) => {
        if (!res.ok && this.subs.get(sub.subId) === sub) {
          this.subs.delete(sub.subId);
          sub.socket.emit('logs', { subId: sub.subId, containerId: sub.containerId, entries: [], done: true });
        }
      });
    }
  }
}

export function uiHub(agents: AgentHub): UiHub {
  return berthGlobal('uiHub', () => new UiHub(agents));
}
