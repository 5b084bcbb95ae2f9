// A browser that stops reading must throttle the agent, not make the server buffer
// its log without bound: the server acks an agent's batch only once the browser's
// connection has taken the previous one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { eventually, removeDir, signIn, spawnTsx, startControlPlane, trpc, ensureNextBuild, type Child, type ControlPlane } from './support/control-plane';

const LINES = 400;
const SIZE = 64 * 1024;
let cp: ControlPlane;
let agent: Child;

before(async () => {
  ensureNextBuild();
  cp = await startControlPlane();
});

after(async () => {
  await agent?.kill('SIGKILL');
  await cp?.stop();
  if (cp) removeDir(cp.dataDir);
});

/** The highest seq the fake agent has had acknowledged. */
function acked(): number {
  const last = agent.lines.filter((l) => l.startsWith('ACKED ')).pop();
  return last ? Number(last.slice(6)) : 0;
}

test('a browser that stops reading stalls the agent; when it reads again every line arrives in order', { timeout: 120_000 }, async () => {
  await trpc(cp.url).auth.setup.mutate({ email: 'bp@example.test', name: 'BP', password: 'bp-pass-123' });
  const cookie = (await signIn(cp.url, 'bp@example.test', 'bp-pass-123'))!;
  const api = trpc(cp.url, cookie);
  const { token } = await api.hosts.createJoinToken.mutate({ name: 'flood' });
  agent = spawnTsx(['test/integration/support/protocol-agent.ts', '--server', cp.url, '--token', token], {}, 'agent');
  const hostId = JSON.parse((await agent.waitFor(/^ENROLLED /)).slice(9)).hostId as string;
  await agent.waitFor(/^CONNECTED/);
  await api.images.pull.mutate({ hostId, ref: 'flood' });
  const { id } = await api.containers.run.mutate({ hostId, image: 'flood', command: `@flood ${LINES} ${SIZE}` });

  // A bare socket.io client on a raw websocket, so the test can stop reading from the TCP socket.
  const ws = new WebSocket(`${cp.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, { headers: { cookie } });
  const seqs: number[] = [];
  let subscribed: (v: { ok: boolean; subId?: string; error?: string }) => void = () => {};
  const subAck = new Promise<{ ok: boolean; subId?: string; error?: string }>((r) => (subscribed = r));
  let joined: () => void = () => {};
  const inNamespace = new Promise<void>((r) => (joined = r));
  ws.on('message', (data) => {
    const msg = data.toString();
    if (msg === '2') return ws.send('3');
    if (msg.startsWith('0{')) return ws.send('40/ui,');
    if (msg.startsWith('40/ui,')) return joined();
    if (msg.startsWith('44/ui,')) throw new Error(`namespace refused: ${msg}`);
    if (msg.startsWith('43/ui,1')) return subscribed(JSON.parse(msg.slice('43/ui,1'.length))[0]);
    if (msg.startsWith('42/ui,')) {
      const [event, payload] = JSON.parse(msg.slice('42/ui,'.length)) as [string, { entries: Array<{ seq: number; line: string }> }];
      if (event === 'logs') for (const e of payload.entries) seqs.push(e.seq);
    }
  });
  await inNamespace;
  const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;

  ws.send(`42/ui,1${JSON.stringify(['logs:subscribe', { hostId, containerId: id, tail: LINES }])}`);
  const sub = await subAck;
  assert.equal(sub.ok, true, sub.error);
  await eventually('first lines', async () => seqs.length >= 2, 5000, 20);

  socket.pause();
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 3000));
  const stalledAt = acked();
  if (process.env.BERTH_TEST_VERBOSE) console.error(`stalled at ${stalledAt} of ${LINES} lines`);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(acked(), stalledAt, 'the agent is still being acked while the browser reads nothing');
  assert.ok(stalledAt < LINES * 0.6, `the agent got ${stalledAt} of ${LINES} lines (${((stalledAt * SIZE) / 2 ** 20).toFixed(1)} MiB) acked while the browser read nothing`);
  assert.ok(Date.now() - t0 < 8000, 'paused long enough for the heartbeat to drop us; the test is too slow');

  socket.resume();
  await eventually('every line', async () => seqs.length >= LINES, 30_000, 50);
  assert.deepEqual(seqs, Array.from({ length: LINES }, (_, i) => i + 1));
  await eventually('the last batch acked', async () => acked() === LINES, 5000, 20);
  ws.close();
});
