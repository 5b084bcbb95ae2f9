// The '/ui' namespace: browsers authenticated by their next-auth cookie watch hosts
// and stream container logs relayed from the agents.
import type { Namespace, Server, Socket } from 'socket.io';
import { AccessError, hostFor } from '../auth/access';
import { sessionFromCookieHeader } from '../auth/session';
import { onSessionsEnded } from '../auth/sessions';
import { db } from '../db';
import { berthGlobal } from '../global';
import type { AgentHub } from './agents';
import { logRelay, type LogRelay } from './logs';
import { TerminalHub } from './terminals';
import { FleetWatch } from './fleet-watch';
import { UI_NAMESPACE, type ServerToUi, type UiToServer } from '../../protocol/ui-socket';

type UiSocket = Socket<UiToServer, ServerToUi, Record<string, never>, { userId: string; sessionId?: string }>;

/** Log streams a connection may have open (counted per source of a merged view). */
export { MAX_LOG_STREAMS_PER_SOCKET } from './logs';

function errorText(err: unknown): string {
  if (err instanceof AccessError) return err.message;
  console.error(`ui: ${(err as Error)?.stack ?? err}`);
  return 'internal error';
}

export class UiHub {
  readonly terminals: TerminalHub;
  /** Log streams and searches (server/hub/logs.ts). */
  readonly logs: LogRelay;
  /** The overview's live counts (server/hub/fleet-watch.ts). */
  readonly fleet: FleetWatch;

  constructor(private readonly agents: AgentHub) {
    this.terminals = new TerminalHub(agents);
    this.logs = logRelay(agents);
    this.fleet = new FleetWatch(agents);
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
          socket.data.sessionId = session.sessionId;
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
    this.logs.attach();
    this.agents.onAgentOnline = (hostId) => {
      // An agent that reconnects has hung up on every terminal of its last connection.
      this.terminals.hostGone(hostId, 'host reconnected');
      this.logs.resume(hostId);
    };
    this.agents.offlineListeners.add((hostId) => this.terminals.hostGone(hostId, 'host went offline'));
  }

  private onConnect(socket: UiSocket): void {
    const userId = socket.data.userId;
    this.terminals.bind(socket);
    this.logs.bind(socket);
    this.fleet.bind(socket);

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
  }
}

export function uiHub(agents: AgentHub): UiHub {
  return berthGlobal('uiHub', () => new UiHub(agents));
}
