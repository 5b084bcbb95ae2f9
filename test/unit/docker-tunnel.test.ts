// Both ends of the proxied Docker API's byte tunnel, with bounded pieces in flight: the agent's
// (agent/link/docker-tunnel.ts) against a real unix socket server, and the control plane's
// (server/proxy/tunnel.ts) against a stand-in hub that acks when the test says so. A side that
// gets no acks stops at a window of pieces; acks let the rest through, in order, whole.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { DockerTunnels } from '../../agent/link/docker-tunnel';
import { TUNNEL_CHUNK_BYTES, TUNNEL_WINDOW, type TunnelChunk } from '../../protocol/docker-tunnel';
import type { AgentCommand, CommandResult } from '../../protocol/agent-link';
import type { AgentHub } from '../../server/hub/agents';
import { Tunnel } from '../../server/proxy/tunnel';
import { eventually, sleep } from '../fixtures/wait';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-tunnel-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test("the agent's end: a socket that says more than a window waits for acks, then all of it arrives in order", async () => {
  const sock = path.join(dir, 'api-1.sock');
  const payload = randomBytes(TUNNEL_CHUNK_BYTES * TUNNEL_WINDOW * 6 + 123);
  let received = Buffer.alloc(0);
  const server = net.createServer((c) => {
    c.on('data', (d) => (received = Buffer.concat([received, d])));
    c.on('end', () => c.end(payload));
  });
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    const sent: TunnelChunk[] = [];
    const acks: Array<() => void> = [];
    const tunnels = new DockerTunnels(sock, (chunk) => {
      sent.push(chunk);
      return new Promise<void>((r) => acks.push(r));
    });
    await tunnels.connect('t1');
    await tunnels.write('t1', Buffer.from('request bytes'));
    tunnels.end('t1');
    await eventually('a window of pieces', () => sent.length >= TUNNEL_WINDOW, 10_000, 10);
    // No ack: nothing more is read from the socket however long we wait.
    await sleep(300);
    assert.equal(sent.length, TUNNEL_WINDOW);
    assert.ok(sent.every((c) => (c.data?.length ?? 0) <= TUNNEL_CHUNK_BYTES));
    assert.equal(received.toString(), 'request bytes');
    // Acked as they come: the rest flows, and the end comes last.
    const drain = setInterval(() => acks.splice(0).forEach((a) => a()), 5);
    await eventually('the end', () => sent.some((c) => c.end), 10_000, 10);
    clearInterval(drain);
    acks.splice(0).forEach((a) => a());
    const data = Buffer.concat(sent.filter((c) => c.data).map((c) => Buffer.from(c.data!)));
    assert.equal(sha(data), sha(payload));
    assert.ok(sent.at(-1)!.end);
    assert.equal(sent.filter((c) => c.end).length, 1);
    await eventually('closed', () => tunnels.size === 0, 5_000, 10);
  } finally {
    server.close();
  }
});

test("the agent's end refuses what it cannot do, in words", async () => {
  const none = new DockerTunnels(undefined, async () => {});
  await assert.rejects(none.connect('x'), /serves no Docker API socket/);
  const gone = new DockerTunnels(path.join(dir, 'nobody.sock'), async () => {});
  await assert.rejects(gone.connect('x'), /cannot connect to the agent's Docker API socket .*nobody\.sock/);
  await assert.rejects(gone.write('x', Buffer.from('a')), /no such tunnel: x/);
});

/** A hub whose 'docker.data' commands are acked only when the test says so. */
function standInHub() {
  const data: Array<{ bytes: Buffer; ack: () => void }> = [];
  const others: AgentCommand[] = [];
  const hub = {
    command: (_hostId: string, cmd: AgentCommand): Promise<CommandResult> => {
      if (cmd.op === 'docker.data') return new Promise((resolve) => data.push({ bytes: Buffer.from(cmd.data), ack: () => resolve({ ok: true }) }));
      others.push(cmd);
      return Promise.resolve({ ok: true });
    },
  } as unknown as AgentHub;
  return { hub, data, others };
}

test("the control plane's end: a writer is held once a window of pieces waits for the agent", async () => {
  const { hub, data, others } = standInHub();
  const t = new Tunnel(hub, 'h1', new Map());
  await t.open();
  const payload = randomBytes(TUNNEL_CHUNK_BYTES * TUNNEL_WINDOW * 4);
  let accepted = 0;
  let writing = true;
  void (async () => {
    for (let at = 0; at < payload.length; at += 16 * 1024) {
      if (!t.write(payload.subarray(at, at + 16 * 1024))) await new Promise((r) => t.once('drain', r));
      accepted = at + 16 * 1024;
    }
    t.end();
    writing = false;
  })();
  await eventually('a window in flight', () => data.length >= TUNNEL_WINDOW, 5_000, 10);
  await sleep(200);
  assert.equal(data.length, TUNNEL_WINDOW, 'no more pieces than the window go out unacked');
  assert.ok(accepted < payload.length, 'the writer is held');
  assert.ok(data.every((d) => d.bytes.length <= TUNNEL_CHUNK_BYTES));
  let acked = 0;
  while (writing || acked < data.length) {
    if (acked < data.length) data[acked++].ack();
    else await sleep(2);
  }
  await eventually('docker.end', () => others.some((c) => c.op === 'docker.end'), 5_000, 10);
  assert.equal(sha(Buffer.concat(data.map((d) => d.bytes))), sha(payload));
  t.destroy();
});

test("the control plane's end: the agent's pieces wait for their ack while nobody reads", async () => {
  const { hub, others } = standInHub();
  const t = new Tunnel(hub, 'h1', new Map());
  await t.open();
  const piece = () => ({ tunnelId: t.id, data: randomBytes(TUNNEL_CHUNK_BYTES) });
  // The first pieces fill the reader's buffer; then acks stay pending until it reads.
  let pending: Promise<void> | undefined;
  for (let i = 0; i < 4; i++) {
    const p = t.deliver(piece());
    const settled = await Promise.race([p.then(() => true), sleep(20).then(() => false)]);
    if (!settled) {
      pending = p;
      break;
    }
  }
  assert.ok(pending, 'an ack is held while the reader is behind');
  let released = false;
  void pending.then(() => (released = true));
  await sleep(100);
  assert.equal(released, false);
  t.resume();
  await eventually('released once read', () => released, 5_000, 5);
  // Destroyed before the agent ended it: the agent is told to close its socket.
  t.destroy();
  await eventually('docker.close', () => others.some((c) => c.op === 'docker.close'), 5_000, 10);
});
