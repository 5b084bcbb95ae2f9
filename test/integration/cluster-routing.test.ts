// server/hub/cluster.ts against a real Redis (Debian's redis-server on a loopback port):
// two hubs, each with its own socket.io server, joined through Redis as two control-plane
// processes would be; a stand-in agent (socket.io-client, the agent link's events)
// connects to hub A, and everything is asked of hub B. B sees the host and its snapshot;
// B's commands reach the agent and its answers come back; a log batch and terminal output
// and image archive pieces reach the sinks on B, and the agent's ack waits until B's sink
// has taken the batch (backpressure across processes); a stream's last event unroutes it;
// a process that joins later learns the host; revoking on B cuts the agent off on A; when
// A shuts down B shows the host offline at once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Server } from 'socket.io';
import { io as ioClient, type Socket as ClientSocket } from 'socket.io-client';
import { AGENT_NAMESPACE, IMAGE_CHUNK_BYTES, type AgentCommand, type CommandResult, type HostSnapshot, type ImageDataChunk, type LogBatch, type TermMessage } from '../../protocol/agent-link';
import type { TunnelChunk } from '../../protocol/docker-tunnel';
import { hashSecret } from '../../server/auth/tokens';
import { closeDatabase, openDatabase, type PrismaClient } from '../../server/db';
import { ensureDefaultTeam } from '../../server/db/seed';
import { AgentHub, HUB_OFFLINE } from '../../server/hub/agents';
import { EXPIRE_MS, startCluster } from '../../server/hub/cluster';
import { startRedis, type Redis } from '../fixtures/redis';
import { eventually } from '../fixtures/wait';
import { spawnTsx } from './support/control-plane';

interface Node {
  hub: AgentHub;
  io: Server;
  http: HttpServer;
  port: number;
  close(): Promise<void>;
}

async function startNode(redisUrl: string): Promise<Node> {
  const http = createServer();
  const io = new Server(http, { pingInterval: 5000, pingTimeout: 5000 });
  const hub = new AgentHub();
  const cluster = await startCluster(io, hub, redisUrl);
  hub.attach(io);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as { port: number }).port;
  return {
    hub,
    io,
    http,
    port,
    async close() {
      await new Promise<void>((resolve) => io.close(() => resolve()));
      http.closeAllConnections();
      await cluster.close();
    },
  };
}

const SNAPSHOT = {
  info: { hostname: 'stand-in', os: 'linux', kernel: 'test', arch: 'x64', cpus: 1, memoryBytes: 1, agentVersion: 'test' },
  containers: [{ id: 'c'.repeat(64), name: 'ticker', image: 'busybox', state: 'running' }],
  images: [],
} as unknown as HostSnapshot;

describe('control-plane processes joined through Redis', { timeout: 120_000 }, () => {
  let redis: Redis;
  let dir: string;
  let prisma: PrismaClient;
  let a: Node;
  let b: Node;
  let agent: ClientSocket;
  let hostId: string;
  const commands: AgentCommand[] = [];
  const answer = new Map<string, (cmd: AgentCommand) => CommandResult>();

  before(async () => {
    redis = await startRedis();
    dir = mkdtempSync(path.join(os.tmpdir(), 'berth-cluster-'));
    process.env.BERTH_DATA_DIR = dir;
    delete process.env.DATABASE_URL;
    prisma = await openDatabase();
    const teamId = await ensureDefaultTeam(prisma);
    const credential = 'stand-in-credential';
    hostId = (await prisma.host.create({ data: { teamId, name: 'stand-in', hostname: 'stand-in', credentialHash: hashSecret(credential) } })).id;
    a = await startNode(redis.url);
    b = await startNode(redis.url);
    agent = ioClient(`http://127.0.0.1:${a.port}${AGENT_NAMESPACE}`, { transports: ['websocket'], auth: { hostId, credential }, reconnection: false });
    agent.on('command', (cmd: AgentCommand, ack: (r: CommandResult) => void) => {
      commands.push(cmd);
      ack(answer.get(cmd.op)?.(cmd) ?? { ok: true, result: { op: cmd.op } });
    });
    await new Promise<void>((resolve, reject) => {
      agent.once('connect', () => resolve());
      agent.once('connect_error', reject);
    });
    agent.emit('snapshot', SNAPSHOT);
  });

  after(async () => {
    agent?.close();
    await a?.close().catch(() => {});
    await b?.close().catch(() => {});
    await closeDatabase();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const row = () => prisma.host.findUniqueOrThrow({ where: { id: hostId } });

  test('B sees the host A holds, with the snapshot the agent sent A', async () => {
    await eventually('B has the snapshot', async () => b.hub.view(await row()).containers.length === 1, 10_000, 20);
    const view = b.hub.view(await row());
    assert.equal(view.online, true);
    assert.equal(view.containers[0].name, 'ticker');
    assert.equal(view.info?.hostname, 'stand-in');
    assert.equal(b.hub.isLocal(hostId), false, 'the connection is A’s, not B’s');
    assert.equal(a.hub.isLocal(hostId), true);
  });

  test('after a whole state, changes travel as deltas: B applies what A took, a delta out of step is refused, and a B out of step asks A again', async () => {
    const ack = await agent.emitWithAck('snapshot', { ...SNAPSHOT, rev: 1 });
    assert.deepEqual(ack, { deltas: true }, 'the server says it takes deltas');
    const second = { id: 'd'.repeat(64), name: 'second', image: 'busybox', state: 'running' } as unknown as HostSnapshot['containers'][number];
    assert.deepEqual(await agent.emitWithAck('snapshotDelta', { base: 1, rev: 2, containers: { set: [second] } }), {});
    await eventually('B shows the container the delta added', async () => b.hub.view(await row()).containers.length === 2, 10_000, 20);
    assert.deepEqual(
      b.hub.view(await row()).containers.map((c) => c.name),
      ['ticker', 'second'],
    );
    // A delta for a state A does not hold: refused, so the agent sends its whole state again.
    assert.deepEqual(await agent.emitWithAck('snapshotDelta', { base: 7, rev: 8, containers: { remove: ['c'.repeat(64)] } }), { resync: true });
    assert.equal(a.hub.view(await row()).containers.length, 2, 'nothing of the refused delta applied on A');

    // A message B missed (Redis lost it, say) leaves B's copy at another rev than the next
    // delta's base: B must ask A for the host's whole state rather than apply it or show it stale.
    const held = (b.hub.cluster as unknown as { hosts: Map<string, { snapshot?: HostSnapshot }> }).hosts.get(hostId)!;
    held.snapshot = { ...held.snapshot!, rev: 1 };
    assert.deepEqual(await agent.emitWithAck('snapshotDelta', { base: 2, rev: 3, containers: { remove: [second.id] } }), {});
    await eventually('B back in step, from the whole state A holds', async () => {
      const v = b.hub.view(await row());
      return v.containers.length === 1 && v.containers[0].name === 'ticker';
    }, 10_000, 20);
    assert.equal((b.hub.cluster as unknown as { hosts: Map<string, { snapshot?: HostSnapshot }> }).hosts.get(hostId)!.snapshot?.rev, 3);
  });

  test("B's command reaches the agent on A, and the agent's answer comes back to B", async () => {
    answer.set('networks.prune', () => ({ ok: true, result: { removed: ['n1', 'n2'] } }));
    const res = await b.hub.command<{ removed: string[] }>(hostId, { op: 'networks.prune' });
    assert.deepEqual(res, { ok: true, result: { removed: ['n1', 'n2'] } });
    assert.equal(commands.at(-1)?.op, 'networks.prune');
    answer.set('networks.remove', () => ({ ok: false, error: 'no such network', status: 404 }));
    assert.deepEqual(await b.hub.command(hostId, { op: 'networks.remove', id: 'x' }), { ok: false, error: 'no such network', status: 404 }, 'an error keeps its status');
  });

  test("a log stream opened on B: batches reach B's sink, and the agent's ack waits for it", async () => {
    const got: LogBatch[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    b.hub.logSink = async (_host, batch) => {
      got.push(batch);
      await gate;
    };
    let aSink = 0;
    a.hub.logSink = async () => void aSink++;
    const subId = 'sub-1';
    assert.equal((await b.hub.command(hostId, { op: 'logs.subscribe', subId, id: 'c'.repeat(64), tail: 10 })).ok, true);
    let acked = false;
    const ack = agent.emitWithAck('logs', { subId, entries: [{ seq: 1, stream: 'stdout', line: 'tick 0', time: new Date().toISOString() }] }).then(() => (acked = true));
    await eventually("the batch is at B's sink", () => got.length === 1, 10_000, 10);
    assert.equal(got[0].entries[0].seq, 1);
    // B's sink has not finished (a browser that has not drained): the agent must wait.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(acked, false, 'no ack while B still holds the batch');
    release();
    await ack;
    // The last batch of the stream, and after it nothing more is routed to B.
    await agent.emitWithAck('logs', { subId, entries: [], done: true });
    assert.equal(got.length, 2);
    assert.equal(got[1].done, true);
    await agent.emitWithAck('logs', { subId, entries: [] });
    assert.equal(got.length, 2, 'an event after the stream ended is not sent to B');
    assert.equal(aSink, 1, "it goes to A's own sink (which tells the agent to stop)");
  });

  test("terminal output for a session opened on B arrives there byte for byte", async () => {
    const got: TermMessage[] = [];
    b.hub.termSink = async (_host, msg) => void got.push(msg);
    assert.equal((await b.hub.command(hostId, { op: 'term.open', sessionId: 's-1', id: 'c'.repeat(64), cmd: ['/bin/sh'], size: { cols: 80, rows: 24 } })).ok, true);
    const bytes = new Uint8Array([0, 1, 2, 27, 91, 51, 49, 109, 255]);
    await agent.emitWithAck('term', { sessionId: 's-1', data: bytes });
    assert.equal(got.length, 1);
    assert.deepEqual(new Uint8Array((got[0] as { data: Uint8Array }).data), bytes);
  });

  test("an image archive's pieces for a download on B arrive there, and its end unroutes it", async () => {
    const got: ImageDataChunk[] = [];
    b.hub.imageDataSink = async (_host, chunk) => void got.push(chunk);
    assert.equal((await b.hub.command(hostId, { op: 'images.save', streamId: 'save-1', refs: ['busybox'] })).ok, true);
    const piece = new Uint8Array(IMAGE_CHUNK_BYTES).map((_, i) => i % 251);
    await agent.emitWithAck('imageData', { streamId: 'save-1', data: piece });
    await agent.emitWithAck('imageData', { streamId: 'save-1', done: true });
    await agent.emitWithAck('imageData', { streamId: 'save-1', data: new Uint8Array([1]) });
    assert.equal(got.length, 2, 'the piece and the end; nothing after the end');
    assert.deepEqual(new Uint8Array(got[0].data!), piece, `${IMAGE_CHUNK_BYTES} bytes intact`);
    assert.equal(got[1].done, true);
  });

  test("a proxied Docker API connection opened on B: the agent's bytes arrive there, and its end unroutes it", async () => {
    const got: TunnelChunk[] = [];
    b.hub.dockerDataSink = async (_host, chunk) => void got.push(chunk);
    assert.equal((await b.hub.command(hostId, { op: 'docker.open', tunnelId: 't-1' })).ok, true);
    const head = new TextEncoder().encode('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[]');
    await agent.emitWithAck('dockerData', { tunnelId: 't-1', data: head });
    await agent.emitWithAck('dockerData', { tunnelId: 't-1', end: true });
    await agent.emitWithAck('dockerData', { tunnelId: 't-1', data: new Uint8Array([1]) });
    assert.equal(got.length, 2, 'the bytes and the end; nothing after the end');
    assert.deepEqual(new Uint8Array(got[0].data!), head);
    assert.equal(got[1].end, true);
  });

  test('a process that joins later learns the host and its snapshot from the one holding it', async () => {
    const c = await startNode(redis.url);
    try {
      await eventually('C has the host with its snapshot', async () => c.hub.view(await row()).containers.length === 1, 10_000, 20);
      assert.equal(c.hub.view(await row()).online, true);
      assert.deepEqual(await c.hub.command(hostId, { op: 'networks.prune' }), { ok: true, result: { removed: ['n1', 'n2'] } });
    } finally {
      await c.close();
    }
  });

  test('revoking on B cuts the agent off on A, and a third process hears it is offline', async () => {
    const c = await startNode(redis.url);
    try {
      await eventually('C has the host', () => c.hub.isOnline(hostId), 10_000, 20);
      const dropped = new Promise<string>((resolve) => agent.once('disconnect', (reason) => resolve(reason)));
      b.hub.disconnect(hostId);
      assert.equal(await dropped, 'io server disconnect');
      await eventually('A has let the connection go', () => !a.hub.isLocal(hostId), 10_000, 20);
      await eventually('B shows the host offline', async () => !b.hub.view(await row()).online, 10_000, 20);
      await eventually('C shows the host offline', async () => !c.hub.view(await row()).online, 10_000, 20);
    } finally {
      await c.close();
    }
  });

  test('a host on a process that shuts down is offline on B at once; commands say so', async () => {
    const credential = 'stand-in-credential';
    const again = ioClient(`http://127.0.0.1:${a.port}${AGENT_NAMESPACE}`, { transports: ['websocket'], auth: { hostId, credential }, reconnection: false });
    try {
      await new Promise<void>((resolve, reject) => {
        again.once('connect', () => resolve());
        again.once('connect_error', reject);
      });
      await eventually('B sees it online again', () => b.hub.isOnline(hostId), 10_000, 20);
      let offlineOnB = 0;
      b.hub.offlineListeners.add((h) => void (h === hostId && offlineOnB++));
      await a.close();
      await eventually("B's offline listeners ran", () => offlineOnB > 0, 10_000, 20);
      assert.equal(b.hub.isOnline(hostId), false);
      const res = await b.hub.command(hostId, { op: 'networks.prune' });
      assert.equal(res.ok, false);
      assert.equal(!res.ok && res.status, HUB_OFFLINE);
    } finally {
      again.close();
    }
  });

  test('a process killed without a word: a command for its host fails at once, and B gives the host up', async () => {
    const child = spawnTsx(['test/integration/support/cluster-node.ts'], { BERTH_DATA_DIR: dir, REDIS_URL: redis.url, DATABASE_URL: '' }, 'cluster-node');
    try {
      const port = Number(/LISTENING (\d+)/.exec(await child.waitFor(/LISTENING \d+/, 60_000))![1]);
      const doomed = ioClient(`http://127.0.0.1:${port}${AGENT_NAMESPACE}`, { transports: ['websocket'], auth: { hostId, credential: 'stand-in-credential' }, reconnection: false });
      doomed.on('command', (_cmd: AgentCommand, ack: (r: CommandResult) => void) => ack({ ok: true }));
      await new Promise<void>((resolve, reject) => {
        doomed.once('connect', () => resolve());
        doomed.once('connect_error', reject);
      });
      await eventually('B sees the host on the child process', () => b.hub.isOnline(hostId), 10_000, 20);
      assert.deepEqual(await b.hub.command(hostId, { op: 'networks.prune' }), { ok: true });
      let left = 0;
      b.hub.offlineListeners.add((h) => void (h === hostId && left++));
      await child.kill('SIGKILL');
      doomed.close();
      // Nobody listens on the dead process's channel any more: no waiting out the command's 30 s.
      const res = await b.hub.command(hostId, { op: 'networks.prune' });
      assert.equal(!res.ok && res.status, HUB_OFFLINE, JSON.stringify(res));
      await eventually('B gave the host up', () => left > 0 && !b.hub.isOnline(hostId), EXPIRE_MS + 5_000, 50);
    } finally {
      await child.kill('SIGKILL');
    }
  });
});
