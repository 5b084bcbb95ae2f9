// A log search across control-plane processes joined through Redis (server/hub/cluster.ts,
// Debian's redis-server on a loopback port): the agent is connected to process A, the
// search is started on B (where the browser is). Its chunks reach B's sink, the agent's ack
// waits until B took each (the search's backpressure holds across processes), the last
// chunk ends the route, and a cancel from B ends it too.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Server } from 'socket.io';
import { io as ioClient, type Socket as ClientSocket } from 'socket.io-client';
import { AGENT_NAMESPACE, type AgentCommand, type CommandResult, type LogSearchChunk } from '../../protocol/agent-link';
import { hashSecret } from '../../server/auth/tokens';
import { closeDatabase, openDatabase, type PrismaClient } from '../../server/db';
import { ensureDefaultTeam } from '../../server/db/seed';
import { AgentHub } from '../../server/hub/agents';
import { startCluster } from '../../server/hub/cluster';
import { startRedis, type Redis } from '../fixtures/redis';
import { eventually } from '../fixtures/wait';

async function startNode(redisUrl: string) {
  const http: HttpServer = createServer();
  const io = new Server(http, { pingInterval: 5000, pingTimeout: 5000 });
  const hub = new AgentHub();
  const cluster = await startCluster(io, hub, redisUrl);
  hub.attach(io);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    hub,
    port: (http.address() as { port: number }).port,
    async close() {
      await new Promise<void>((resolve) => io.close(() => resolve()));
      http.closeAllConnections();
      await cluster.close();
    },
  };
}

describe('a log search across control-plane processes', { timeout: 120_000 }, () => {
  let redis: Redis;
  let dir: string;
  let prisma: PrismaClient;
  let a: Awaited<ReturnType<typeof startNode>>;
  let b: Awaited<ReturnType<typeof startNode>>;
  let agent: ClientSocket;
  let hostId: string;
  const commands: AgentCommand[] = [];

  before(async () => {
    redis = await startRedis();
    dir = mkdtempSync(path.join(os.tmpdir(), 'berth-logs-cluster-'));
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
      ack({ ok: true, result: cmd.op === 'logs.search' ? { searchId: cmd.searchId, containerId: 'c'.repeat(64), name: 'web' } : undefined });
    });
    await new Promise<void>((resolve, reject) => {
      agent.once('connect', () => resolve());
      agent.once('connect_error', reject);
    });
    await eventually('B knows the host', () => b.hub.isOnline(hostId), 10_000, 20);
  });

  after(async () => {
    agent?.close();
    await a?.close().catch(() => {});
    await b?.close().catch(() => {});
    await closeDatabase();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const chunk = (searchId: string, seq: number, done?: LogSearchChunk['done']): LogSearchChunk => ({
    searchId,
    hits: done ? [] : [{ seq, stream: 'stdout', time: new Date().toISOString(), line: `err ${seq}\n`, ranges: [[0, 3]] }],
    found: seq,
    ...(done ? { done } : {}),
  });

  test("a search started on B: its chunks reach B's sink, the agent's ack waits for B, and the last one ends the route", async () => {
    const got: LogSearchChunk[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    b.hub.logSearchSink = async (_host, c) => {
      got.push(c);
      if (got.length === 1) await gate;
    };
    let onA = 0;
    a.hub.logSearchSink = async () => void onA++;
    const res = await b.hub.command(hostId, { op: 'logs.search', searchId: 's-1', id: 'web', query: 'err' });
    assert.equal(res.ok, true);
    let acked = false;
    const first = agent.emitWithAck('logSearch', chunk('s-1', 1)).then(() => (acked = true));
    await eventually("the chunk is at B's sink", () => got.length === 1, 10_000, 10);
    assert.deepEqual(got[0].hits[0].ranges, [[0, 3]]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(acked, false, 'no ack while B still holds the chunk');
    release();
    await first;
    await agent.emitWithAck('logSearch', chunk('s-1', 2, { total: 2, sent: 2, scannedBytes: 10 }));
    assert.equal(got.length, 2);
    assert.equal(got[1].done?.total, 2);
    await agent.emitWithAck('logSearch', chunk('s-1', 3));
    assert.equal(got.length, 2, 'nothing is routed to B after the last chunk');
    assert.equal(onA, 1, "a stray chunk goes to A's own sink (which tells the agent to stop)");
  });

  test('a cancel from B ends the route', async () => {
    const got: LogSearchChunk[] = [];
    b.hub.logSearchSink = async (_host, c) => void got.push(c);
    assert.equal((await b.hub.command(hostId, { op: 'logs.search', searchId: 's-2', id: 'web', query: 'err' })).ok, true);
    await agent.emitWithAck('logSearch', chunk('s-2', 1));
    assert.equal(got.length, 1);
    assert.equal((await b.hub.command(hostId, { op: 'logs.search.cancel', searchId: 's-2' })).ok, true);
    await agent.emitWithAck('logSearch', chunk('s-2', 2));
    assert.equal(got.length, 1);
    assert.deepEqual(commands.filter((c) => c.op.startsWith('logs.search')).map((c) => c.op), ['logs.search', 'logs.search', 'logs.search.cancel']);
  });
});
