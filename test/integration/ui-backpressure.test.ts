// A browser that stops reading must throttle the agent, not make the server buffer
// its log without bound: the server acks an agent's batch only once the browser's
// connection has taken the previous one.
import assert from 'node:assert/strict';
import type { Socket as NetSocket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { eventually, removeDir, signIn, spawnTsx, startControlPlane, trpc, ensureNextBuild, type Child, type ControlPlane } from './support/control-plane';

const LINES = 400;
const SIZE = 64 * 1024;
// Only keeps a broken run from hanging; nothing here waits for a time to pass.
const PATIENCE_MS = 120_000;

/** The highest seq the fake agent had acknowledged after its `from`th line of output (it sends one batch at a time, each after the last one's ack). */
function ackedSince(agent: Child, from: number): number {
  const last = agent.lines.slice(from).filter((l) => l.startsWith('ACKED ')).pop();
  return last ? Number(last.slice(6)) : 0;
}

/**
 * A bare socket.io client on a raw websocket, so the test can stop reading from the TCP
 * socket (socket.pause()): then it does not answer the server's heartbeat either.
 */
async function rawUi(url: string, cookie: string) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, { headers: { cookie } });
  const seqs: number[] = [];
  const acks = new Map<number, (v: { ok: boolean; subId?: string; error?: string }) => void>();
  let nextAck = 1;
  let joined: () => void = () => {};
  const inNamespace = new Promise<void>((r) => (joined = r));
  ws.on('message', (data) => {
    const msg = data.toString();
    if (msg === '2') return ws.send('3');
    if (msg.startsWith('0{')) return ws.send('40/ui,');
    if (msg.startsWith('40/ui,')) return joined();
    if (msg.startsWith('44/ui,')) throw new Error(`namespace refused: ${msg}`);
    const ack = /^43\/ui,(\d+)/.exec(msg);
    if (ack) return acks.get(Number(ack[1]))?.(JSON.parse(msg.slice(ack[0].length))[0]);
    if (msg.startsWith('42/ui,')) {
      const [event, payload] = JSON.parse(msg.slice('42/ui,'.length)) as [string, { entries: Array<{ seq: number; line: string }> }];
      if (event === 'logs') for (const e of payload.entries) seqs.push(e.seq);
    }
  });
  await inNamespace;
  const tcp = (ws as unknown as { _socket: NetSocket })._socket;
  return {
    seqs,
    tcp,
    subscribe(req: { hostId: string; containerId: string; tail: number }) {
      const id = nextAck++;
      const answer = new Promise<{ ok: boolean; subId?: string; error?: string }>((r) => acks.set(id, r));
      ws.send(`42/ui,${id}${JSON.stringify(['logs:subscribe', req])}`);
      return answer;
    },
    close: () => ws.terminate(),
  };
}

describe('log backpressure from a browser to the agent', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let agent: Child;
  let cookie: string;
  let hostId: string;
  let id: string;

  before(async () => {
    ensureNextBuild();
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate({ email: 'bp@example.test', name: 'BP', password: 'bp-pass-123' });
    cookie = (await signIn(cp.url, 'bp@example.test', 'bp-pass-123'))!;
    const api = trpc(cp.url, cookie);
    const { token } = await api.hosts.createJoinToken.mutate({ name: 'flood' });
    agent = spawnTsx(['test/integration/support/protocol-agent.ts', '--server', cp.url, '--token', token], {}, 'agent');
    hostId = JSON.parse((await agent.waitFor(/^ENROLLED /)).slice(9)).hostId as string;
    await agent.waitFor(/^CONNECTED/);
    await api.images.pull.mutate({ hostId, ref: 'flood' });
    ({ id } = await api.containers.run.mutate({ hostId, image: 'flood', command: `@flood ${LINES} ${SIZE}` }));
  });

  after(async () => {
    await agent?.kill('SIGKILL');
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
  });

  test('a browser that stops reading while lines are in flight gets every line, in order, once it reads again', async () => {
    const ui = await rawUi(cp.url, cookie);
    try {
      const mark = agent.lines.length;
      const sub = ui.subscribe({ hostId, containerId: id, tail: LINES });
      ui.tcp.pause();
      // Read again once the agent has had lines acked that the browser has not read: they sit in the connection's buffers.
      await eventually('lines acked, unread', () => ackedSince(agent, mark) >= 2, PATIENCE_MS, 10);
      ui.tcp.resume();
      const answer = await sub;
      assert.equal(answer.ok, true, answer.error);
      await eventually('every line', () => ui.seqs.length >= LINES, PATIENCE_MS, 50);
      assert.deepEqual(ui.seqs, Array.from({ length: LINES }, (_, i) => i + 1));
      await eventually('the last batch acked', () => ackedSince(agent, mark) === LINES, PATIENCE_MS, 20);
    } finally {
      ui.close();
    }
  });

  test('a browser that reads nothing stalls the agent for as long as its connection lasts', async (t) => {
    const ui = await rawUi(cp.url, cookie);
    try {
      const mark = agent.lines.length;
      const t0 = Date.now();
      ui.subscribe({ hostId, containerId: id, tail: LINES }).catch(() => {});
      ui.tcp.pause();
      // Reading nothing, the browser misses the heartbeat too: the server drops it in the end and tells the agent to stop.
      await eventually('the server gave up on the browser', () => agent.lines.slice(mark).some((l) => l.startsWith('UNSUBSCRIBED ')), PATIENCE_MS, 20);
      const stalledAt = ackedSince(agent, mark);
      t.diagnostic(`dropped by the heartbeat ${Date.now() - t0} ms after the browser stopped reading; the agent had ${stalledAt} of ${LINES} lines acked (${((stalledAt * SIZE) / 2 ** 20).toFixed(1)} MiB)`);
      assert.ok(stalledAt > 0, 'the stream started');
      assert.ok(stalledAt < LINES * 0.6, `the agent got ${stalledAt} of ${LINES} lines acked while the browser read nothing`);
      assert.equal(ui.seqs.length, 0, 'the browser really read nothing');
    } finally {
      ui.close();
    }
  });
});
