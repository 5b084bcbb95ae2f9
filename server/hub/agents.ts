// The '/agent' namespace: which hosts are connected, their latest snapshots, and
// commands to them with an ack and a deadline. Lives on globalThis (see ../global).
import type { Namespace, Server, Socket } from 'socket.io';
import {
  AGENT_NAMESPACE,
  COMMAND_TIMEOUT_MS,
  type AgentAuth,
  type AgentCommand,
  type AgentToServer,
  type CommandResult,
  type HostSnapshot,
  type ImageDataChunk,
  type LogBatch,
  type ServerToAgent,
  type TermMessage,
} from '../../protocol/agent-link';
import type { TunnelChunk } from '../../protocol/docker-tunnel';
import { secretMatches } from '../auth/tokens';
import { db } from '../db';
import { clientAddress } from '../http/client-address';
import { berthGlobal } from '../global';
import { UI_NAMESPACE, type HostView, type ServerToUi, type UiToServer } from '../../protocol/ui-socket';

type AgentSocket = Socket<AgentToServer, ServerToAgent, Record<string, never>, { hostId: string }>;

/** Statuses the hub itself answers with; the engine only uses 400/403/404/409/500/502. */
export const HUB_OFFLINE = 503;
export const HUB_TIMEOUT = 504;

export interface HostRow {
  id: string;
  teamId: string;
  name: string;
  info: string | null;
  lastSeen: Date | null;
}

export type LogSink = (hostId: string, batch: LogBatch) => Promise<void>;
export type TermSink = (hostId: string, msg: TermMessage) => Promise<void>;
/** Takes a piece of a save stream; resolves (→ the agent's ack) once it may send the next. */
export type ImageDataSink = (hostId: string, chunk: ImageDataChunk) => Promise<void>;

const PERSIST_EVERY_MS = 10_000;

export class AgentHub {
  private readonly agents = new Map<string, AgentSocket>();
  private readonly snapshots = new Map<string, HostSnapshot>();
  private readonly seen = new Map<string, Date>();
  private readonly persistedAt = new Map<string, number>();
  /** Where each host's agent connected from: the address its published ports are reached at. */
  private readonly addresses = new Map<string, string>();
  /** Per connection, how to fail each command still waiting for its answer: one 'disconnect' listener serves them all. */
  private readonly inFlight = new WeakMap<AgentSocket, Set<() => void>>();
  private io: Server | undefined;
  /** Where log batches go (the '/ui' hub); resolves when the batch may be acked. */
  logSink: LogSink | undefined;
  /** Called after an agent (re)connects, e.g. to resume log streams. */
  onAgentOnline: ((hostId: string) => void) | undefined;
  /** Where terminal output goes (the '/ui' hub's terminals); resolves when the message may be acked. */
  termSink: TermSink | undefined;
  /** Where pieces of save streams go (server/hub/image-transfer). */
  imageDataSink: ImageDataSink | undefined;
  /** Where proxied Docker API bytes go (server/proxy/tunnel); resolves when the piece may be acked. */
  dockerDataSink: ((hostId: string, chunk: TunnelChunk) => Promise<void>) | undefined;
  /** Called when an agent's connection ends (a replaced one too), e.g. to fail the transfers and end the terminals it carried. */
  readonly offlineListeners = new Set<(hostId: string) => void>();

  attach(io: Server): void {
    this.io = io;
    const nsp = io.of(AGENT_NAMESPACE) as unknown as Namespace<AgentToServer, ServerToAgent>;
    nsp.use((socket, next) => {
      this.authenticate(socket.handshake.auth as Partial<AgentAuth>)
        .then((hostId) => {
          if (!hostId) return next(new Error('unauthorized'));
          socket.data.hostId = hostId;
          next();
        })
        .catch((err) => {
          console.error(`agent handshake: ${(err as Error).message}`);
          next(new Error('unauthorized'));
        });
    });
    nsp.on('connection', (socket) => this.onConnect(socket as AgentSocket));
  }

  private async authenticate(auth: Partial<AgentAuth>): Promise<string | null> {
    if (typeof auth?.hostId !== 'string' || typeof auth.credential !== 'string') return null;
    const host = await db().host.findUnique({ where: { id: auth.hostId } });
    if (!host || host.revokedAt || !secretMatches(auth.credential, host.credentialHash)) return null;
    return host.id;
  }

  private onConnect(socket: AgentSocket): void {
    const hostId = socket.data.hostId;
    const previous = this.agents.get(hostId);
    this.agents.set(hostId, socket);
    if (previous && previous !== socket) previous.disconnect(true);
    this.addresses.set(hostId, clientAddress(socket.request));
    this.touch(hostId, true);

    // The first snapshot of a connection carries facts the host list has not seen yet
    // (a new host, a changed kernel): store them at once and tell the list to refetch.
    let first = true;
    socket.on('snapshot', (s) => {
      if (this.agents.get(hostId) !== socket || !s || typeof s !== 'object') return;
      this.snapshots.set(hostId, s);
      this.touch(hostId, first, s);
      first = false;
    });
    socket.on('logs', (batch, ack) => {
      const done = () => {
        if (typeof ack === 'function') ack();
      };
      if (!batch || typeof batch.subId !== 'string' || !this.logSink) return done();
      this.logSink(hostId, batch).then(done, (err) => {
        console.error(`logs from host ${hostId}: ${(err as Error).message}`);
        done();
      });
    });
    socket.on('term', (msg, ack) => {
      const done = () => {
        if (typeof ack === 'function') ack();
      };
      if (!msg || typeof msg.sessionId !== 'string' || !this.termSink) return done();
      this.termSink(hostId, msg).then(done, (err) => {
        console.error(`terminal output from host ${hostId}: ${(err as Error).message}`);
        done();
      });
    });
    socket.on('pullProgress', (p) => {
      if (this.agents.get(hostId) !== socket || !p || typeof p.ref !== 'string' || typeof p.status !== 'string') return;
      const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
      this.ui()
        ?.to(`host:${hostId}`)
        .emit('images:progress', {
          hostId,
          ref: p.ref,
          status: p.status,
          ...(typeof p.progressId === 'string' ? { progressId: p.progressId } : {}),
          ...(typeof p.id === 'string' ? { id: p.id } : {}),
          ...(num(p.current) !== undefined ? { current: num(p.current) } : {}),
          ...(num(p.total) !== undefined ? { total: num(p.total) } : {}),
        });
    });
    socket.on('imageData', (chunk, ack) => {
      const done = () => {
        if (typeof ack === 'function') ack();
      };
      if (!chunk || typeof chunk.streamId !== 'string' || !this.imageDataSink) return done();
      this.imageDataSink(hostId, chunk).then(done, (err) => {
        console.error(`image data from host ${hostId}: ${(err as Error).message}`);
        done();
      });
    });
    socket.on('dockerData', (chunk, ack) => {
      const done = () => {
        if (typeof ack === 'function') ack();
      };
      if (!chunk || typeof chunk.tunnelId !== 'string' || !this.dockerDataSink) return done();
      this.dockerDataSink(hostId, chunk).then(done, (err) => {
        console.error(`docker API data from host ${hostId}: ${(err as Error).message}`);
        done();
      });
    });
    const inFlight = new Set<() => void>();
    this.inFlight.set(socket, inFlight);
    socket.on('disconnect', () => {
      for (const gone of [...inFlight]) gone();
      // A replaced connection too: the agent ended the transfers it carried.
      for (const l of this.offlineListeners) l(hostId);
      if (this.agents.get(hostId) !== socket) return;
      this.agents.delete(hostId);
      this.touch(hostId, true);
    });
    this.onAgentOnline?.(hostId);
  }

  /** Records that we heard from the host, persists it now and then, and tells the browsers. */
  private touch(hostId: string, listChanged: boolean, snapshot?: HostSnapshot): void {
    const now = new Date();
    this.seen.set(hostId, now);
    if (listChanged || (snapshot && Date.now() - (this.persistedAt.get(hostId) ?? 0) > PERSIST_EVERY_MS)) {
      this.persistedAt.set(hostId, Date.now());
      const data: { lastSeen: Date; info?: string; hostname?: string } = { lastSeen: now };
      if (snapshot?.info) {
        data.info = JSON.stringify(snapshot.info);
        if (snapshot.info.hostname) data.hostname = snapshot.info.hostname;
      }
      db()
        .host.update({ where: { id: hostId }, data })
        .catch((err) => console.error(`host ${hostId}: cannot record lastSeen: ${(err as Error).message}`));
    }
    void this.publish(hostId, listChanged);
  }

  /** Sends the host's view to the browsers watching it and, if asked, 'hosts:changed' to its team. */
  async publish(hostId: string, listChanged: boolean): Promise<void> {
    const ui = this.ui();
    if (!ui) return;
    try {
      const row = await db().host.findUnique({ where: { id: hostId } });
      if (!row) return;
      if (listChanged) ui.to(`team:${row.teamId}`).emit('hosts:changed');
      if (!row.revokedAt) ui.to(`host:${hostId}`).emit('host', this.view(row));
    } catch (err) {
      console.error(`host ${hostId}: cannot publish: ${(err as Error).message}`);
    }
  }

  notifyTeam(teamId: string): void {
    this.ui()?.to(`team:${teamId}`).emit('hosts:changed');
  }

  private ui(): Namespace<UiToServer, ServerToUi> | undefined {
    return this.io?.of(UI_NAMESPACE) as Namespace<UiToServer, ServerToUi> | undefined;
  }

  isOnline(hostId: string): boolean {
    return this.agents.has(hostId);
  }

  view(row: HostRow): HostView {
    const snap = this.snapshots.get(row.id);
    const seen = this.seen.get(row.id) ?? row.lastSeen;
    let info: HostView['info'] = snap?.info ?? null;
    if (!info && row.info) {
      try {
        info = JSON.parse(row.info) as HostView['info'];
      } catch {
        info = null;
      }
    }
    return {
      id: row.id,
      name: row.name,
      teamId: row.teamId,
      online: this.isOnline(row.id),
      lastSeen: seen ? seen.toISOString() : null,
      address: this.addresses.get(row.id) ?? null,
      info,
      containers: snap?.containers ?? [],
      images: snap?.images ?? [],
    };
  }

  /** Cuts a host off at once (after revoking it, its handshake is refused too). */
  disconnect(hostId: string): void {
    const s = this.agents.get(hostId);
    if (s) {
      this.agents.delete(hostId);
      // Its 'disconnect' tells the offline listeners.
      s.disconnect(true);
    }
    this.snapshots.delete(hostId);
  }

  /** Never rejects: an offline host, a timeout or a dropped connection come back as ok:false with a hub status. */
  command<T = unknown>(hostId: string, cmd: AgentCommand, timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult<T>> {
    const socket = this.agents.get(hostId);
    if (!socket || !socket.connected) return Promise.resolve({ ok: false, error: 'host is offline', status: HUB_OFFLINE });
    const inFlight = this.inFlight.get(socket);
    return new Promise((resolve) => {
      let settled = false;
      const finish = (res: CommandResult<T>) => {
        if (settled) return;
        settled = true;
        inFlight?.delete(onGone);
        resolve(res);
      };
      const onGone = () => finish({ ok: false, error: 'host went offline before answering', status: HUB_OFFLINE });
      inFlight?.add(onGone);
      socket.timeout(timeoutMs).emit('command', cmd, (err: Error | null, res: CommandResult) => {
        if (err) return finish({ ok: false, error: `host did not answer within ${Math.round(timeoutMs / 1000)} s`, status: HUB_TIMEOUT });
        if (!res || typeof res !== 'object' || typeof res.ok !== 'boolean') {
          return finish({ ok: false, error: 'malformed answer from the agent', status: 502 });
        }
        finish(res as CommandResult<T>);
      });
    });
  }
}

/** The process's hub; route handlers get the same one the socket server feeds. */
export function agentHub(): AgentHub {
  return berthGlobal('agentHub', () => new AgentHub());
}
