// Several control-plane processes behind one address, as one (REDIS_URL). Two things go
// through Redis:
//  - socket.io's Redis adapter: an emit to a room ('team:T', 'user:U') and
//    disconnectSockets reach the browsers of every process, so revoked sessions and
//    'hosts:changed' need nothing more here. Host views (the 'host' event) do not go this way: each
//    process builds them for its own watchers from the snapshots relayed below.
//  - this module's messages, for what lives with one agent's connection: which process
//    holds each agent (and its latest snapshot, for host views everywhere), commands to an
//    agent held elsewhere (a request to that process, answered with the agent's ack), and
//    the agent's stream events (log batches, terminal output, image data) back to the
//    process whose browser or HTTP request opened the stream. Each relayed event is
//    acknowledged only once the far side's sink has taken it, so the agent's per-stream
//    backpressure holds across processes as it does within one.
//
// Every process publishes a beat; one silent for EXPIRE_MS is gone (killed, cut off), and
// the agents it held are offline until they connect again, to any process.
import { randomUUID } from 'node:crypto';
import { createAdapter } from '@socket.io/redis-adapter';
import notepack from 'notepack.io';
import { createClient } from 'redis';
import type { Server } from 'socket.io';
import type { AgentCommand, CommandResult, HostSnapshot } from '../../protocol/agent-link';
import { applySnapshotDelta, type SnapshotDelta } from '../../protocol/snapshot-delta';
import { HUB_OFFLINE, HUB_TIMEOUT, type AgentHub, type ClusterLink, type RelayKind, type RemoteHost } from './agents';

const PREFIX = 'berth:cluster';
const BROADCAST = `${PREFIX}:all`;
const nodeChannel = (node: string) => `${PREFIX}:node:${node}`;

export const BEAT_MS = 2_000;
/** Usage readings go to the others together, at most this late: thousands of agents each read every 10 s. */
const USAGE_EVERY_MS = 1_000;
export const EXPIRE_MS = 3 * BEAT_MS + 1_000;
/** A routed command waits this much longer than the agent's own deadline, which the far process enforces. */
const COMMAND_GRACE_MS = 5_000;

/** Commands after which the stream they name has no more events to route. */
const ENDING_OPS = new Set(['logs.unsubscribe', 'logs.search.cancel', 'term.close', 'docker.close', 'images.save.cancel', 'images.load.cancel', 'images.load.end']);
/** Commands that open a stream: when one fails, there is no stream. */
const OPENING_OPS = new Set(['logs.subscribe', 'logs.search', 'term.open', 'docker.open', 'images.save', 'images.build', 'images.load']);

/** Why a request to another process got no answer, with the hub status it becomes. */
class Unanswered extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

type Message =
  | { t: 'beat'; from: string }
  | { t: 'bye'; from: string }
  /** Ask the addressee for the agents it holds, or for one of them (it answers with 'state' messages). */
  | { t: 'sync'; from: string; hostId?: string }
  /** An agent connected to `from` just now. */
  | { t: 'online'; from: string; hostId: string; address: string | null; seen: number }
  /** What `from` holds, in answer to 'sync': never displaces a connection of the receiver's own. */
  | { t: 'state'; from: string; hostId: string; address: string | null; seen: number; snapshot?: HostSnapshot }
  | { t: 'snapshot'; from: string; hostId: string; snapshot: HostSnapshot; seen: number }
  /** What changed in the state of an agent connected to `from` (protocol/snapshot-delta.ts). */
  | { t: 'delta'; from: string; hostId: string; delta: SnapshotDelta; seen: number }
  | { t: 'offline'; from: string; hostId: string }
  /** Usage readings of agents connected to `from` (the fleet overview's charts), [hostId, cpu, mem] each. */
  | { t: 'usage'; from: string; readings: Array<[string, number, number]> }
  /** Cut this host off wherever it is connected (it was revoked). */
  | { t: 'kick'; from: string; hostId: string }
  | { t: 'req'; from: string; id: string; kind: 'command'; hostId: string; cmd: AgentCommand; timeoutMs: number }
  | { t: 'req'; from: string; id: string; kind: RelayKind; hostId: string; payload: unknown }
  | { t: 'res'; from: string; id: string; result?: CommandResult; error?: string };

interface Pending {
  node: string;
  settle: (m: { result?: CommandResult; error?: string; gone?: Unanswered }) => void;
}

type RedisClient = ReturnType<typeof createClient>;

function streamIdOf(cmd: AgentCommand): string | undefined {
  const c = cmd as Record<string, unknown>;
  for (const k of ['subId', 'sessionId', 'streamId', 'searchId', 'tunnelId']) if (typeof c[k] === 'string') return c[k] as string;
  return undefined;
}

/** Whether this event is its stream's last. */
function lastOfStream(kind: RelayKind, payload: unknown): boolean {
  const p = payload as Record<string, unknown>;
  if (kind === 'logs' || kind === 'logSearch') return !!p.done;
  if (kind === 'term') return 'end' in p;
  // A proxied Docker API connection's socket ended or failed on the agent.
  if (kind === 'dockerData') return !!p.end || !!p.error;
  return !!p.done || !!p.error;
}

export class Cluster implements ClusterLink {
  readonly node = randomUUID();
  /** Agents connected to other processes. */
  private readonly hosts = new Map<string, RemoteHost & { node: string }>();
  /** Other processes, by when we last heard from them. */
  private readonly nodes = new Map<string, number>();
  private readonly pending = new Map<string, Pending>();
  /** On the agent's process: stream id → the process whose sink takes its events. */
  private readonly routes = new Map<string, { node: string; hostId: string }>();
  private beatTimer: NodeJS.Timeout | undefined;
  private usageTimer: NodeJS.Timeout | undefined;
  private readings: Array<[string, number, number]> = [];
  private closed = false;

  constructor(
    private readonly hub: AgentHub,
    private readonly pub: RedisClient,
    private readonly sub: RedisClient,
  ) {}

  async start(): Promise<void> {
    const listener = (raw: Buffer) => {
      let msg: Message;
      try {
        msg = notepack.decode(raw) as Message;
      } catch (err) {
        return console.error(`cluster: undecodable message: ${(err as Error).message}`);
      }
      if (!msg || typeof msg !== 'object' || typeof msg.from !== 'string' || msg.from === this.node) return;
      try {
        this.receive(msg);
      } catch (err) {
        console.error(`cluster: ${msg.t} from ${msg.from}: ${(err as Error)?.stack ?? err}`);
      }
    };
    await this.sub.subscribe([BROADCAST, nodeChannel(this.node)], listener, true);
    this.hub.cluster = this;
    this.beatTimer = setInterval(() => {
      void this.broadcast({ t: 'beat', from: this.node });
      this.expire();
    }, BEAT_MS);
    this.beatTimer.unref();
    await this.broadcast({ t: 'beat', from: this.node });
  }

  async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.beatTimer);
    clearTimeout(this.usageTimer);
    if (this.hub.cluster === this) this.hub.cluster = undefined;
    await this.broadcast({ t: 'bye', from: this.node }).catch(() => {});
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.settle({ gone: new Unanswered('this control-plane process is shutting down', HUB_OFFLINE) });
    }
  }

  // ── what the hub tells the others ───────────────────────────────────────────────

  online(hostId: string, address: string | null): void {
    // Its connection elsewhere, if the others still knew one, is over.
    if (this.hosts.delete(hostId)) this.hostLeft(hostId);
    void this.broadcast({ t: 'online', from: this.node, hostId, address, seen: Date.now() });
  }

  snapshot(hostId: string, snapshot: HostSnapshot): void {
    void this.broadcast({ t: 'snapshot', from: this.node, hostId, snapshot, seen: Date.now() });
  }

  offline(hostId: string): void {
    for (const [id, r] of this.routes) if (r.hostId === hostId) this.routes.delete(id);
    void this.broadcast({ t: 'offline', from: this.node, hostId });
  }

  delta(hostId: string, delta: SnapshotDelta): void {
    void this.broadcast({ t: 'delta', from: this.node, hostId, delta, seen: Date.now() });
  }

  usage(hostId: string, cpu: number, mem: number): void {
    this.readings.push([hostId, cpu, mem]);
    this.usageTimer ??= setTimeout(() => {
      this.usageTimer = undefined;
      const readings = this.readings;
      this.readings = [];
      void this.broadcast({ t: 'usage', from: this.node, readings });
    }, USAGE_EVERY_MS);
    this.usageTimer.unref();
  }

  disconnect(hostId: string): void {
    if (this.hosts.delete(hostId)) this.hostLeft(hostId);
    void this.broadcast({ t: 'kick', from: this.node, hostId });
  }

  remote(hostId: string): RemoteHost | undefined {
    return this.hosts.get(hostId);
  }

  /** A command for an agent connected to another process; undefined when none holds it. */
  command(hostId: string, cmd: AgentCommand, timeoutMs: number): Promise<CommandResult> | undefined {
    const at = this.hosts.get(hostId);
    if (!at) return undefined;
    return this.request(at.node, { t: 'req', from: this.node, id: randomUUID(), kind: 'command', hostId, cmd, timeoutMs }, timeoutMs + COMMAND_GRACE_MS).then(
      (m) => (m.result && typeof m.result.ok === 'boolean' ? m.result : { ok: false, error: m.error ?? 'malformed answer from the other control-plane process', status: 502 }),
      (err: Unanswered) => ({ ok: false as const, error: err.message, status: err.status }),
    );
  }

  /** An agent's stream event, to the process that opened the stream; undefined when that is this one. */
  relay(kind: RelayKind, hostId: string, streamId: string, payload: unknown): Promise<void> | undefined {
    const route = this.routes.get(streamId);
    if (!route || route.hostId !== hostId) return undefined;
    if (lastOfStream(kind, payload)) this.routes.delete(streamId);
    // No deadline: a slow browser holds its stream back, exactly as on one process. A
    // process that goes away fails it (expire()).
    return this.request(route.node, { t: 'req', from: this.node, id: randomUUID(), kind, hostId, payload }, 0).then((m) => {
      if (m.error) throw new Error(m.error);
    });
  }

  // ── messages ────────────────────────────────────────────────────────────────────

  private receive(msg: Message): void {
    const known = this.nodes.has(msg.from);
    this.nodes.set(msg.from, Date.now());
    if (msg.t === 'bye') return this.nodeGone(msg.from);
    // A process heard for the first time (new, or back after we gave it up) tells us what it holds.
    if (!known && msg.t !== 'state') this.tell(msg.from, { t: 'sync', from: this.node });
    switch (msg.t) {
      case 'beat':
        return;
      case 'sync':
        for (const { hostId, address, seen, snapshot } of this.hub.localHosts()) {
          if (msg.hostId !== undefined && msg.hostId !== hostId) continue;
          this.tell(msg.from, { t: 'state', from: this.node, hostId, address, seen, ...(snapshot ? { snapshot } : {}) });
        }
        return;
      case 'state': {
        if (this.hub.isLocal(msg.hostId)) return;
        const was = this.hosts.get(msg.hostId);
        this.hosts.set(msg.hostId, { node: msg.from, address: msg.address, seen: new Date(msg.seen), snapshot: msg.snapshot });
        void this.hub.publish(msg.hostId, true);
        // Held there all along, but given up here while Redis was away: the log streams that
        // waited for the host carry on after their last seq, as after a reconnect.
        if (was?.node !== msg.from) this.hub.onAgentOnline?.(msg.hostId);
        return;
      }
      case 'online': {
        // The agent has one link: a connection of ours for it is a dead one not yet noticed.
        this.hub.dropLocal(msg.hostId, 'the agent connected to another control-plane process');
        const had = this.hosts.has(msg.hostId);
        this.hosts.set(msg.hostId, { node: msg.from, address: msg.address, seen: new Date(msg.seen) });
        if (had) this.hostLeft(msg.hostId);
        this.hub.fleetChanged(msg.hostId);
        // Host views go to each process's own watchers (AgentHub.publish): ours hear it from here.
        void this.hub.publish(msg.hostId, false);
        this.hub.onAgentOnline?.(msg.hostId);
        return;
      }
      case 'snapshot': {
        const h = this.hosts.get(msg.hostId);
        if (h && h.node !== msg.from) return;
        this.hosts.set(msg.hostId, { node: msg.from, address: h?.address ?? null, seen: new Date(msg.seen), snapshot: msg.snapshot });
        this.hub.fleetChanged(msg.hostId);
        void this.hub.publish(msg.hostId, false);
        return;
      }
      case 'delta': {
        const h = this.hosts.get(msg.hostId);
        if (!h || h.node !== msg.from) return;
        try {
          if (!h.snapshot) throw new Error('no state held');
          h.snapshot = applySnapshotDelta(h.snapshot, msg.delta);
        } catch {
          // One missed (this process came late, or Redis dropped one): the holder sends the whole
          // state; until then the views show the last one that applied.
          return this.tell(msg.from, { t: 'sync', from: this.node, hostId: msg.hostId });
        }
        h.seen = new Date(msg.seen);
        this.hub.fleetChanged(msg.hostId);
        void this.hub.publish(msg.hostId, false);
        return;
      }
      case 'usage':
        if (!Array.isArray(msg.readings)) return;
        for (const r of msg.readings) {
          if (!Array.isArray(r)) continue;
          const [hostId, cpu, mem] = r;
          if (this.hosts.get(hostId)?.node !== msg.from || typeof cpu !== 'number' || typeof mem !== 'number') continue;
          this.hub.fleetUsage(hostId, cpu, mem);
        }
        return;
      case 'offline':
        if (this.hosts.get(msg.hostId)?.node !== msg.from) return;
        this.hosts.delete(msg.hostId);
        this.hostLeft(msg.hostId);
        return;
      case 'kick':
        if (this.hosts.delete(msg.hostId)) this.hostLeft(msg.hostId);
        this.hub.disconnectLocal(msg.hostId);
        return;
      case 'req':
        return void this.serve(msg);
      case 'res': {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        p.settle(msg);
        return;
      }
    }
  }

  private async serve(msg: Extract<Message, { t: 'req' }>): Promise<void> {
    let answer: { result?: CommandResult; error?: string };
    try {
      if (msg.kind === 'command') {
        const streamId = streamIdOf(msg.cmd);
        // Before the agent hears of it: its first events may come before its ack does.
        if (streamId && !ENDING_OPS.has(msg.cmd.op)) this.routes.set(streamId, { node: msg.from, hostId: msg.hostId });
        const result = await this.hub.localCommand(msg.hostId, msg.cmd, msg.timeoutMs);
        // images.load.end too: a build's output streams until that command's answer.
        if (streamId && (ENDING_OPS.has(msg.cmd.op) || (!result.ok && OPENING_OPS.has(msg.cmd.op)))) this.routes.delete(streamId);
        answer = { result };
      } else {
        await this.hub.sink(msg.kind, msg.hostId, msg.payload);
        answer = {};
      }
    } catch (err) {
      answer = { error: (err as Error).message };
    }
    this.tell(msg.from, { t: 'res', from: this.node, id: msg.id, ...answer });
  }

  /** Sends a request to one process; settles with its answer, or fails when it is gone or (timeoutMs > 0) too slow. */
  private request(node: string, msg: Extract<Message, { t: 'req' }>, timeoutMs: number): Promise<{ result?: CommandResult; error?: string }> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (m: { result?: CommandResult; error?: string; gone?: Unanswered }) => {
        clearTimeout(timer);
        this.pending.delete(msg.id);
        if (m.gone) reject(m.gone);
        else resolve(m);
      };
      this.pending.set(msg.id, { node, settle });
      if (timeoutMs > 0) {
        timer = setTimeout(() => settle({ gone: new Unanswered(`the host did not answer within ${Math.round(timeoutMs / 1000)} s (through another control-plane process)`, HUB_TIMEOUT) }), timeoutMs);
      }
      this.send(node, msg).then(
        (receivers) => {
          // Nobody listens on its channel any more: that process is gone.
          if (receivers === 0) {
            settle({ gone: new Unanswered('host went offline (its control-plane process is gone)', HUB_OFFLINE) });
            this.nodeGone(node);
          }
        },
        (err: Error) => settle({ gone: new Unanswered(`cannot reach the other control-plane process: ${err.message}`, HUB_OFFLINE) }),
      );
    });
  }

  /** Resolves to how many subscribers got it: 0 when that process is gone. */
  private async send(node: string, msg: Message): Promise<number> {
    return this.pub.publish(nodeChannel(node), Buffer.from(notepack.encode(msg)));
  }

  /** A message nobody waits on the fate of (a failure is logged: Redis unreachable, say). */
  private tell(node: string, msg: Message): void {
    this.send(node, msg).catch((err: Error) => console.error(`cluster: cannot send ${msg.t} to ${node}: ${err.message}`));
  }

  private async broadcast(msg: Message): Promise<void> {
    if (this.closed && msg.t !== 'bye') return;
    try {
      await this.pub.publish(BROADCAST, Buffer.from(notepack.encode(msg)));
    } catch (err) {
      console.error(`cluster: cannot publish ${msg.t}: ${(err as Error).message}`);
    }
  }

  private expire(): void {
    const now = Date.now();
    for (const [node, heard] of this.nodes) if (now - heard > EXPIRE_MS) this.nodeGone(node);
  }

  /** A process went away: its agents are offline here, its requests failed, its streams unrouted. */
  private nodeGone(node: string): void {
    this.nodes.delete(node);
    for (const [hostId, h] of this.hosts) {
      if (h.node !== node) continue;
      this.hosts.delete(hostId);
      this.hostLeft(hostId);
    }
    for (const p of [...this.pending.values()]) if (p.node === node) p.settle({ gone: new Unanswered('host went offline (its control-plane process is gone)', HUB_OFFLINE) });
    for (const [id, r] of this.routes) if (r.node === node) this.routes.delete(id);
  }

  /** An agent's connection on another process ended: what it carried here ends too, and the browsers hear. */
  private hostLeft(hostId: string): void {
    for (const l of this.hub.offlineListeners) l(hostId);
    void this.hub.publish(hostId, true);
  }
}

/** Connects to Redis, puts socket.io's Redis adapter on `io` and joins the hub to the other processes. */
export async function startCluster(io: Server, hub: AgentHub, url: string): Promise<{ cluster: Cluster; close(): Promise<void> }> {
  const shown = url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:…@');
  const clients: RedisClient[] = [];
  const client = () => {
    const c = createClient({ url });
    c.on('error', (err: Error) => console.error(`redis ${shown}: ${err.message}`));
    clients.push(c);
    return c;
  };
  const pub = client();
  const adapterSub = client();
  const sub = client();
  const quit = () => Promise.all(clients.map((c) => c.close().catch(() => {})));
  let timer: NodeJS.Timeout | undefined;
  try {
    // node-redis keeps retrying a refused connection: a wrong REDIS_URL must stop the start instead.
    await Promise.race([
      Promise.all(clients.map((c) => c.connect())),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no answer within 10 s')), 10_000))),
    ]);
  } catch (err) {
    await quit();
    throw new Error(`REDIS_URL ${shown}: cannot connect: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
  io.adapter(createAdapter(pub, adapterSub, { key: 'berth:socket.io' }));
  const cluster = new Cluster(hub, pub, sub);
  await cluster.start();
  return {
    cluster,
    async close() {
      await cluster.stop();
      await quit();
    },
  };
}
