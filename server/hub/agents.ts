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
  type LogSearchChunk,
  type ServerToAgent,
  type TermMessage,
} from '../../protocol/agent-link';
import type { TunnelChunk } from '../../protocol/docker-tunnel';
import type { HostMetrics, LogMatch } from '../../protocol/alerts';
import { applySnapshotDelta, type SnapshotDelta } from '../../protocol/snapshot-delta';
import { secretMatches } from '../auth/tokens';
import { db } from '../db';
import { clientAddress } from '../http/client-address';
import { berthGlobal } from '../global';
import { UI_NAMESPACE, type HostView, type ServerToUi, type UiToServer } from '../../protocol/ui-socket';
import { fleetIndex, type HostMeta } from './fleet';

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
/** How long publish() reuses a host's row (its name and team) before reading it again. */
const ROW_REUSE_MS = 10_000;

/** The agent events that belong to a stream someone opened: they go to that someone's process. */
export type RelayKind = 'logs' | 'term' | 'imageData' | 'logSearch' | 'dockerData';

/** An agent connected to another control-plane process, as this one knows it. */
export interface RemoteHost {
  snapshot?: HostSnapshot;
  seen: Date;
  address: string | null;
}

/**
 * What the hub asks of the processes it runs beside (server/hub/cluster.ts, with REDIS_URL).
 * Without one, nothing here changes: every agent is this process's own.
 */
export interface ClusterLink {
  remote(hostId: string): RemoteHost | undefined;
  /** undefined: no other process holds the agent. */
  command(hostId: string, cmd: AgentCommand, timeoutMs: number): Promise<CommandResult> | undefined;
  /** undefined: the stream was opened on this process. */
  relay(kind: RelayKind, hostId: string, streamId: string, payload: unknown): Promise<void> | undefined;
  online(hostId: string, address: string | null): void;
  snapshot(hostId: string, s: HostSnapshot): void;
  /** A delta the host's held state took (applied here already). */
  delta(hostId: string, d: SnapshotDelta): void;
  offline(hostId: string): void;
  /** A usage reading of one of this process's agents, for the others' fleet index. */
  usage(hostId: string, cpu: number, mem: number): void;
  disconnect(hostId: string): void;
}

/** What alert evaluation (server/alerts/service.ts) hears of the agents connected to this process. */
export interface AlertTap {
  online(hostId: string): void;
  offline(hostId: string): void;
  snapshot(hostId: string, s: HostSnapshot): void;
  metrics(hostId: string, m: HostMetrics): void;
  logMatch(hostId: string, m: LogMatch): void;
}

export class AgentHub {
  private readonly agents = new Map<string, AgentSocket>();
  private readonly snapshots = new Map<string, HostSnapshot>();
  private readonly seen = new Map<string, Date>();
  private readonly persistedAt = new Map<string, number>();
  /** Host rows read for publish(), reused for a while: a snapshot every few seconds from each of thousands of hosts must not each cost a query. */
  private readonly rows = new Map<string, { row: HostRow & { revokedAt: Date | null }; at: number }>();
  /** Where each host's agent connected from: the address its published ports are reached at. */
  private readonly addresses = new Map<string, string>();
  /** Per connection, how to fail each command still waiting for its answer: one 'disconnect' listener serves them all. */
  private readonly inFlight = new WeakMap<AgentSocket, Set<() => void>>();
  private io: Server | undefined;
  /** Where log batches go (the '/ui' hub); resolves when the batch may be acked. */
  logSink: LogSink | undefined;
  /** Where log search chunks go (server/hub/logs.ts); resolves when the chunk may be acked. */
  logSearchSink: ((hostId: string, chunk: LogSearchChunk) => Promise<void>) | undefined;
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
  /** The other control-plane processes, when there are (REDIS_URL). */
  cluster: ClusterLink | undefined;
  /** Alert evaluation, on the process that holds each agent's connection. */
  alertTap: AlertTap | undefined;

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
    if (!host || host.revokedAt) return null;
    if (secretMatches(auth.credential, host.credentialHash)) return host.id;
    // A rotation's new credential: the agent stored it, so the rotation is complete (./rotate.ts).
    if (host.pendingCredentialHash && secretMatches(auth.credential, host.pendingCredentialHash)) {
      await db().host.updateMany({ where: { id: host.id, pendingCredentialHash: host.pendingCredentialHash }, data: { credentialHash: host.pendingCredentialHash, pendingCredentialHash: null, pendingCredentialAt: null } });
      console.log(`host ${host.id}: connected with its rotated credential; the old one is refused from now on`);
      return host.id;
    }
    return null;
  }

  private onConnect(socket: AgentSocket): void {
    const hostId = socket.data.hostId;
    const previous = this.agents.get(hostId);
    this.agents.set(hostId, socket);
    if (previous && previous !== socket) previous.disconnect(true);
    this.addresses.set(hostId, clientAddress(socket.request));
    this.cluster?.online(hostId, this.addresses.get(hostId) ?? null);
    this.touch(hostId, true);

    // The first snapshot of a connection carries facts the host list has not seen yet
    // (a new host, a changed kernel): store them at once and tell the list to refetch.
    let first = true;
    const took = (s: HostSnapshot) => {
      this.snapshots.set(hostId, s);
      this.touch(hostId, first, s);
      first = false;
      this.alertTap?.snapshot(hostId, s);
    };
    socket.on('snapshot', (s, ack) => {
      if (this.agents.get(hostId) !== socket || !s || typeof s !== 'object') return;
      took(s);
      this.cluster?.snapshot(hostId, s);
      if (typeof ack === 'function') ack({ deltas: true });
    });
    socket.on('snapshotDelta', (d, ack) => {
      const reply = typeof ack === 'function' ? ack : () => {};
      if (this.agents.get(hostId) !== socket) return;
      const held = this.snapshots.get(hostId);
      let next: HostSnapshot;
      try {
        if (!held) throw new Error('no state held for the host');
        next = applySnapshotDelta(held, d);
      } catch (err) {
        // A delta lost or out of step: the agent sends its whole state again.
        console.error(`host ${hostId}: delta refused, asking for the whole state: ${(err as Error).message}`);
        return reply({ resync: true });
      }
      took(next);
      this.cluster?.delta(hostId, d);
      reply({});
    });
    socket.on('metrics', (m) => {
      if (this.agents.get(hostId) === socket && m && typeof m === 'object') this.alertTap?.metrics(hostId, m);
    });
    socket.on('logMatch', (m) => {
      if (this.agents.get(hostId) === socket && m && typeof m === 'object' && typeof m.ruleId === 'string') this.alertTap?.logMatch(hostId, m);
    });
    socket.on('usage', (u) => {
      if (this.agents.get(hostId) !== socket || !u || typeof u !== 'object') return;
      const { cpu, mem } = u;
      if (typeof cpu !== 'number' || typeof mem !== 'number' || !(cpu >= 0 && cpu <= 1) || !(mem >= 0) || !Number.isFinite(mem)) return;
      fleetIndex().addUsage(hostId, cpu, mem);
      this.cluster?.usage(hostId, cpu, mem);
    });
    socket.on('logs', (batch, ack) => {
      const done = () => {
        if (typeof ack === 'function') ack();
      };
      const sunk = batch && typeof batch.subId === 'string' ? this.deliver('logs', hostId, batch.subId, batch) : undefined;
      if (!sunk) return done();
      sunk.then(done, (err) => {
        console.error(`logs from host ${hostId}: ${(err as Error).message}`);
        done();
      });
    });
    socket.on('logSearch', (chunk, ack) => {
      const done = () => {
        if (typeof ack === 'function') ack();
      };
      const sunk = chunk && typeof chunk.searchId === 'string' ? this.deliver('logSearch', hostId, chunk.searchId, chunk) : undefined;
      if (!sunk) return done();
      sunk.then(done, (err) => {
        console.error(`log search from host ${hostId}: ${(err as Error).message}`);
        done();
      });
    });
    socket.on('term', (msg, ack) => {
      const done = () => {
        if (typeof ack === 'function') ack();
      };
      const sunk = msg && typeof msg.sessionId === 'string' ? this.deliver('term', hostId, msg.sessionId, msg) : undefined;
      if (!sunk) return done();
      sunk.then(done, (err) => {
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
      const sunk = chunk && typeof chunk.streamId === 'string' ? this.deliver('imageData', hostId, chunk.streamId, chunk) : undefined;
      if (!sunk) return done();
      sunk.then(done, (err) => {
        console.error(`image data from host ${hostId}: ${(err as Error).message}`);
        done();
      });
    });
    socket.on('dockerData', (chunk, ack) => {
      const done = () => {
        if (typeof ack === 'function') ack();
      };
      const sunk = chunk && typeof chunk.tunnelId === 'string' ? this.deliver('dockerData', hostId, chunk.tunnelId, chunk) : undefined;
      if (!sunk) return done();
      sunk.then(done, (err) => {
        console.error(`docker API data from host ${hostId}: ${(err as Error).message}`);
        done();
      });
    });
    const inFlight = new Set<() => void>();
    this.inFlight.set(socket, inFlight);
    // A dead link is noticed only when the heartbeat times out, seconds after the agent was last
    // heard: "last seen" is that last packet (a pong too), not the moment the server gave up.
    let heard = new Date();
    socket.conn.on('packet', () => (heard = new Date()));
    socket.on('disconnect', () => {
      for (const gone of [...inFlight]) gone();
      // A replaced connection too: the agent ended the transfers it carried.
      for (const l of this.offlineListeners) l(hostId);
      if (this.agents.get(hostId) !== socket) return;
      this.agents.delete(hostId);
      this.cluster?.offline(hostId);
      this.touch(hostId, true, undefined, heard);
      this.alertTap?.offline(hostId);
    });
    this.onAgentOnline?.(hostId);
    this.alertTap?.online(hostId);
  }

  /** A stream event to the process that opened the stream, or to this one's sink; undefined when nobody takes it. */
  private deliver(kind: RelayKind, hostId: string, streamId: string, payload: LogBatch | TermMessage | ImageDataChunk | LogSearchChunk | TunnelChunk): Promise<void> | undefined {
    return this.cluster?.relay(kind, hostId, streamId, payload) ?? this.sink(kind, hostId, payload);
  }

  /** This process's sink for a stream event (relayed from the agent's process, or from its own connection). */
  sink(kind: RelayKind, hostId: string, payload: unknown): Promise<void> | undefined {
    if (kind === 'logs') return this.logSink?.(hostId, payload as LogBatch);
    if (kind === 'term') return this.termSink?.(hostId, payload as TermMessage);
    if (kind === 'logSearch') return this.logSearchSink?.(hostId, payload as LogSearchChunk);
    if (kind === 'dockerData') return this.dockerDataSink?.(hostId, payload as TunnelChunk);
    return this.imageDataSink?.(hostId, payload as ImageDataChunk);
  }

  /** The agents connected to this process, for another that asks. */
  localHosts(): Array<{ hostId: string; address: string | null; seen: number; snapshot?: HostSnapshot }> {
    return [...this.agents.keys()].map((hostId) => ({
      hostId,
      address: this.addresses.get(hostId) ?? null,
      seen: (this.seen.get(hostId) ?? new Date()).getTime(),
      snapshot: this.snapshots.get(hostId),
    }));
  }

  isLocal(hostId: string): boolean {
    return this.agents.has(hostId);
  }

  /** Drops this process's connection of the host's (one that is stale: the agent is connected elsewhere). */
  dropLocal(hostId: string, why: string): void {
    const s = this.agents.get(hostId);
    if (!s) return;
    console.log(`host ${hostId}: dropping its connection here: ${why}`);
    s.disconnect(true);
  }

  /** Records that we heard from the host, persists it now and then, and tells the browsers. */
  private touch(hostId: string, listChanged: boolean, snapshot?: HostSnapshot, now = new Date()): void {
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
    // The fleet index first, without waiting for the host's row: the overview's counts are as
    // quick as the host page's.
    this.fleetChanged(hostId);
    void this.publish(hostId, listChanged);
  }

  /** Sends the host's view to the browsers watching it and, if asked, 'hosts:changed' to its team. */
  async publish(hostId: string, listChanged: boolean): Promise<void> {
    const ui = this.ui();
    if (!ui) return;
    // Each process sends host views to its own watchers only, built from what it holds or what
    // the cluster relayed (cluster.ts publishes each relayed change): a view crosses no Redis, and
    // nobody watching the host here and nothing for its team means nothing to build or send.
    if (!listChanged && !ui.adapter.rooms.get(`host:${hostId}`)?.size) return;
    try {
      const cached = this.rows.get(hostId);
      let row = cached && !listChanged && Date.now() - cached.at < ROW_REUSE_MS ? cached.row : undefined;
      if (!row) {
        const read = await db().host.findUnique({ where: { id: hostId } });
        if (!read) return void this.rows.delete(hostId);
        this.rows.set(hostId, { row: read, at: Date.now() });
        row = read;
      }
      // A (re)connection or a host gone: its name, team or revocation may have changed too.
      if (listChanged || !fleetIndex().has(row.id)) this.indexHost(row);
      if (listChanged) ui.to(`team:${row.teamId}`).emit('hosts:changed');
      if (!row.revokedAt) ui.local.to(`host:${hostId}`).emit('host', this.view(row));
    } catch (err) {
      console.error(`host ${hostId}: cannot publish: ${(err as Error).message}`);
    }
  }

  notifyTeam(teamId: string): void {
    // A host renamed, revoked or moved: the rows publish() reuses are read again.
    this.rows.clear();
    this.ui()?.to(`team:${teamId}`).emit('hosts:changed');
    // A host revoked, moved in or out: the fleet index reads the team's hosts again.
    db()
      .host.findMany({ where: { teamId, revokedAt: null } })
      .then((rows) => fleetIndex().setTeam(teamId, rows, (id) => this.stateOf(id)))
      .catch((err) => console.error(`team ${teamId}: cannot refresh the fleet index: ${(err as Error).message}`));
  }

  /** What this process knows of the host's agent now: connected here or elsewhere, when last heard, its latest snapshot. */
  stateOf(hostId: string): { online: boolean; lastSeen: Date | null; snapshot?: HostSnapshot } {
    const remote = this.agents.has(hostId) ? undefined : this.cluster?.remote(hostId);
    const snapshot = remote?.snapshot ?? this.snapshots.get(hostId);
    return { online: this.isOnline(hostId), lastSeen: remote?.seen ?? this.seen.get(hostId) ?? null, ...(snapshot ? { snapshot } : {}) };
  }

  private indexHost(row: HostMeta & { revokedAt: Date | null }): void {
    if (row.revokedAt) fleetIndex().remove(row.id);
    else fleetIndex().upsert(row, this.stateOf(row.id));
  }

  /** The host's state changed (here, or on another process): the fleet index takes it, reading the host's row when it does not know it yet. */
  fleetChanged(hostId: string): void {
    const index = fleetIndex();
    if (index.has(hostId)) return index.setState(hostId, this.stateOf(hostId));
    db()
      .host.findUnique({ where: { id: hostId } })
      .then((row) => row && this.indexHost(row))
      .catch((err) => console.error(`host ${hostId}: cannot index: ${(err as Error).message}`));
  }

  /** A usage reading relayed from the agent's process. */
  fleetUsage(hostId: string, cpu: number, mem: number): void {
    fleetIndex().addUsage(hostId, cpu, mem);
  }

  private fleetLoaded: Promise<void> | undefined;

  /** Every host into the fleet index, once per process (offline ones too: they are in the overview). */
  loadFleet(): Promise<void> {
    this.fleetLoaded ??= db()
      .host.findMany({ where: { revokedAt: null } })
      .then((rows) => {
        for (const r of rows) this.indexHost(r);
      })
      .catch((err) => {
        this.fleetLoaded = undefined;
        throw err;
      });
    return this.fleetLoaded;
  }

  private ui(): Namespace<UiToServer, ServerToUi> | undefined {
    return this.io?.of(UI_NAMESPACE) as Namespace<UiToServer, ServerToUi> | undefined;
  }

  isOnline(hostId: string): boolean {
    return this.agents.has(hostId) || this.cluster?.remote(hostId) !== undefined;
  }

  view(row: HostRow): HostView {
    const remote = this.agents.has(row.id) ? undefined : this.cluster?.remote(row.id);
    // Until the far process relays its first snapshot, the last one seen here (the host may have moved from here).
    const snap = remote?.snapshot ?? this.snapshots.get(row.id);
    const seen = remote?.seen ?? this.seen.get(row.id) ?? row.lastSeen;
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
      address: remote ? remote.address : (this.addresses.get(row.id) ?? null),
      info,
      containers: snap?.containers ?? [],
      images: snap?.images ?? [],
      ...(snap?.stacks ? { stacks: snap.stacks } : {}),
    };
  }

  /** Cuts a host off at once (after revoking it, its handshake is refused too), on whichever process it is connected to. */
  disconnect(hostId: string): void {
    this.cluster?.disconnect(hostId);
    this.disconnectLocal(hostId);
  }

  disconnectLocal(hostId: string): void {
    const s = this.agents.get(hostId);
    if (s) {
      this.agents.delete(hostId);
      // Its 'disconnect' tells the offline listeners; the other processes hear it here,
      // as that handler no longer finds the connection current.
      this.cluster?.offline(hostId);
      s.disconnect(true);
    }
    this.snapshots.delete(hostId);
  }

  /** Never rejects: an offline host, a timeout or a dropped connection come back as ok:false with a hub status. */
  command<T = unknown>(hostId: string, cmd: AgentCommand, timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult<T>> {
    if (!this.agents.has(hostId)) {
      const routed = this.cluster?.command(hostId, cmd, timeoutMs);
      if (routed) return routed as Promise<CommandResult<T>>;
    }
    return this.localCommand<T>(hostId, cmd, timeoutMs);
  }

  /** A command to the agent's connection on this process only (a routed one arrives here on the agent's process). */
  localCommand<T = unknown>(hostId: string, cmd: AgentCommand, timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult<T>> {
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
