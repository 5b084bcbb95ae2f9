// The overview's live counts over a real socket.io server with the real hubs and a stand-in
// agent: a watch answers with the summary of what the user sees; a narrowed member cannot
// watch a host narrowed away and their summary counts only their hosts; changes of a host
// come coalesced, as its rows with the summary, to the browsers watching it and to nobody else;
// a usage reading and the agent going away reach the row too.
import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Server as SocketServer } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import { makeWorld, openEnv, type Env, type World } from '../fixtures/authz-world';
import type { ContainerSummary, HostSnapshot } from '../../protocol/agent-link';
import type { FleetRows, FleetSummaryView, ServerToUi, UiToServer } from '../../protocol/ui-socket';

let env: Env;
let http: HttpServer;
let ioServer: SocketServer;
let url: string;
let w: World;
const opened: Socket[] = [];

const container = (i: number, state: 'running' | 'exited'): ContainerSummary => ({
  id: `c${i}`.padEnd(64, '0'),
  name: `svc${i}`,
  image: 'busybox',
  imageId: 'sha256:x',
  command: 'sleep',
  created: '2026-01-01T00:00:00Z',
  state,
  status: '',
  exitCode: 0,
  startedAt: '',
  finishedAt: '',
  memoryLimit: 0,
});
const snapshot = (running: number): HostSnapshot => ({
  info: { hostname: 'a1', kernel: 'k', os: 'o', arch: 'x86_64', cpus: 2, memTotal: 2 ** 31, engineVersion: 'e', apiVersion: '1.50', cgroupVersion: 1, root: '/', containers: { total: 3, running, paused: 0, stopped: 3 - running }, images: 0 },
  containers: [0, 1, 2].map((i) => container(i, i < running ? 'running' : 'exited')),
  images: [],
});

async function ui(cookie: string): Promise<Socket<ServerToUi, UiToServer>> {
  const s: Socket<ServerToUi, UiToServer> = connect(`${url}/ui`, { transports: ['websocket'], reconnection: false, forceNew: true, extraHeaders: { cookie } });
  opened.push(s as Socket);
  await new Promise<void>((resolve, reject) => (s.once('connect', () => resolve()), s.once('connect_error', reject)));
  return s;
}
const watch = (s: Socket<ServerToUi, UiToServer>, hostIds: string[]) =>
  new Promise<{ ok: boolean; error?: string; summary?: FleetSummaryView }>((r) => s.emit('fleet:watch', { hostIds }, r));
const rowsOf = (s: Socket<ServerToUi, UiToServer>) => {
  const got: FleetRows[] = [];
  s.on('fleet:rows', (m) => got.push(m));
  return got;
};
async function until(what: string, fn: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !fn(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(fn(), what);
}

before(async () => {
  env = await openEnv();
  const { agentHub } = await import('../../server/hub/agents');
  const { uiHub } = await import('../../server/hub/ui');
  http = createServer();
  ioServer = new SocketServer(http);
  agentHub().attach(ioServer);
  uiHub(agentHub()).attach(ioServer);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  w = await makeWorld(env.prisma);
});

after(async () => {
  for (const s of opened) s.disconnect();
  await new Promise<void>((r) => ioServer?.close(() => r()));
  await env?.close();
});

test('live fleet rows: narrowing respected, changes coalesced, usage and going offline', async () => {
  const agent = connect(`${url}/agent`, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { hostId: w.hostA1, credential: w.hostCredential } });
  opened.push(agent);
  await new Promise<void>((resolve, reject) => (agent.once('connect', () => resolve()), agent.once('connect_error', reject)));
  agent.emit('snapshot', snapshot(1));

  const viewer = await ui(w.users.viewer.cookie);
  const narrowed = await ui(w.users.narrowed.cookie);
  const seenByViewer = rowsOf(viewer);
  const seenByNarrowed = rowsOf(narrowed);
  let first = await watch(viewer, [w.hostA1, w.hostA2]);
  // The first snapshot may still be on its way: watch again until the summary has it.
  for (let i = 0; i < 100 && first.summary?.online !== 1; i++) {
    await new Promise((r) => setTimeout(r, 25));
    first = await watch(viewer, [w.hostA1, w.hostA2]);
  }
  assert.equal(first.ok, true);
  assert.deepEqual(first.summary, { hosts: 2, online: 1, offline: 1, containers: { total: 3, running: 1, stopped: 2, paused: 0, unhealthy: 0 } });

  assert.deepEqual(await watch(narrowed, [w.hostA1]), { ok: false, error: `No such host: ${w.hostA1}` }, 'a host narrowed away is as unknown as a missing one');
  const mine = await watch(narrowed, [w.hostA2]);
  assert.deepEqual(mine.summary, { hosts: 1, online: 0, offline: 1, containers: { total: 0, running: 0, stopped: 0, paused: 0, unhealthy: 0 } }, "the narrowed member's summary counts only their host");

  // Three changes at once: the watchers get them as one (or at most two) messages, ending where the host ended.
  // What the index's loading marked goes out within a window: wait it out first.
  await new Promise((r) => setTimeout(r, 300));
  seenByViewer.length = 0;
  seenByNarrowed.length = 0;
  agent.emit('snapshot', snapshot(2));
  agent.emit('snapshot', snapshot(3));
  agent.emit('snapshot', snapshot(2));
  await until('the viewer sees running 2 after the last change', () => seenByViewer.some((m) => m.rows.some((r) => r.id === w.hostA1 && r.counts.running === 2) && m.summary?.containers.running === 2));
  // One flush window more: whatever else was coming has come.
  await new Promise((r) => setTimeout(r, 300));
  const a1Messages = seenByViewer.filter((m) => m.rows.some((r) => r.id === w.hostA1));
  assert.ok(a1Messages.length < 3, `three changes came in ${a1Messages.length} messages`);
  assert.equal(a1Messages.at(-1)!.rows.find((r) => r.id === w.hostA1)!.counts.running, 2);
  assert.equal(a1Messages.at(-1)!.rows.length, 1, 'only the changed host’s row');
  assert.deepEqual(seenByNarrowed, [], 'the narrowed member hears nothing of a host they may not see (their summary did not move)');

  agent.emit('usage', { cpu: 0.25, mem: 2 ** 30 });
  agent.emit('usage', { cpu: 7, mem: 1 });
  await until('the usage reading reaches the row', () => seenByViewer.some((m) => m.rows.some((r) => r.id === w.hostA1 && r.usage.cpu.includes(0.25))));
  await new Promise((r) => setTimeout(r, 300));
  const row = seenByViewer.flatMap((m) => m.rows).filter((r) => r.id === w.hostA1).at(-1)!;
  assert.deepEqual([row.usage.cpu, row.usage.mem], [[0.25], [2 ** 30]], 'a reading out of range (cpu 7) is dropped');

  agent.disconnect();
  await until('the host shows offline', () => seenByViewer.some((m) => m.rows.some((r) => r.id === w.hostA1 && !r.online) && m.summary?.online === 0));
  viewer.emit('fleet:unwatch');
  await new Promise((r) => setTimeout(r, 50));
  const before = seenByViewer.length;
  const again = connect(`${url}/agent`, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { hostId: w.hostA1, credential: w.hostCredential } });
  opened.push(again);
  await new Promise<void>((resolve) => again.once('connect', () => resolve()));
  again.emit('snapshot', snapshot(3));
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(seenByViewer.length, before, 'after fleet:unwatch nothing more comes');
});
