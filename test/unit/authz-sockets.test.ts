// The authorization matrix of the sockets, generated from protocol/ui-socket.ts's event
// table: each '/ui' event the server handles (read from the connected socket's own
// listeners, so a new event without a table entry fails) sent by every kind of caller,
// against a real socket.io server with the real hubs and a stand-in agent on '/agent'.
// Events with a least role must be refused below it; 'own' events (unwatch, unsubscribe,
// terminal input, resize, close) naming another browser's stream or terminal must reach
// nothing (the stand-in agent records every command it gets). Then the '/agent' side:
// a wrong or revoked host credential is refused, and revoking cuts a connected agent off.
import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Server as SocketServer } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import { CALLERS, callerFor, makeWorld, openEnv, type Caller, type Env, type World } from '../fixtures/authz-world';
import { hasRole, type Role } from '../../protocol/roles';
import { UI_EVENT_MIN_ROLE, type ServerToUi, type UiToServer } from '../../protocol/ui-socket';

let env: Env;
let http: HttpServer;
let ioServer: SocketServer;
let url: string;
let w: World;
const commands: Array<{ op: string; subId?: string; sessionId?: string; searchId?: string }> = [];
const opened: Socket[] = [];

async function agentSocket(hostId: string, credential: string): Promise<Socket> {
  const s = connect(`${url}/agent`, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { hostId, credential } });
  opened.push(s);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('connect_error', (e) => reject(e));
  });
  return s;
}

async function uiSocket(who: Caller, world: World = w): Promise<Socket<ServerToUi, UiToServer> | null> {
  const headers: Record<string, string> = who === 'signedOut' ? {} : { cookie: world.users[who].cookie };
  const s: Socket<ServerToUi, UiToServer> = connect(`${url}/ui`, { transports: ['websocket'], reconnection: false, forceNew: true, extraHeaders: headers });
  opened.push(s as Socket);
  return new Promise((resolve) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', () => resolve(null));
  });
}

const ack = <T>(s: Socket<ServerToUi, UiToServer>, ev: keyof UiToServer, ...args: unknown[]) =>
  new Promise<T>((resolve) => (s.emit as (...a: unknown[]) => void)(ev, ...args, (res: T) => resolve(res)));

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
  await standIn(w);
});

/** A stand-in agent for the world's host A1 that says yes to everything and records it. */
async function standIn(world: World): Promise<Socket> {
  const agent = await agentSocket(world.hostA1, world.hostCredential);
  agent.on('command', (cmd: { op: string; subId?: string; sessionId?: string; searchId?: string }, reply: (r: unknown) => void) => {
    commands.push(cmd);
    reply({ ok: true, result: cmd.op === 'term.open' ? { execId: 'exec-0123456789ab' } : {} });
  });
  agent.emit('snapshot', { info: { hostname: 'a1' }, containers: [], images: [] });
  return agent;
}

after(async () => {
  for (const s of opened) s.disconnect();
  await new Promise<void>((r) => ioServer?.close(() => r()));
  await env?.close();
});

const ROLE_OF: Partial<Record<Caller, Role>> = { owner: 'owner', admin: 'admin', operator: 'operator', viewer: 'viewer' };

test('the /ui event table covers every event the server handles', async () => {
  const s = await uiSocket('viewer');
  assert.ok(s);
  const nsp = ioServer.of('/ui');
  const server = [...nsp.sockets.values()].find((x) => x.id === s.id)!;
  const handled = server.eventNames().map(String).filter((e) => !['disconnect', 'disconnecting', 'error'].includes(e)).sort();
  assert.deepEqual(handled, Object.keys(UI_EVENT_MIN_ROLE).sort(), 'every event the server listens to has a least role in UI_EVENT_MIN_ROLE, and no more');
});

test('socket matrix: every event × every kind of caller', { timeout: 120_000 }, async () => {
  const failures: string[] = [];
  let cases = 0;
  const payload: Record<string, () => unknown> = {
    'host:watch': () => w.hostA1,
    'logs:subscribe': () => ({ hostId: w.hostA1, containerId: 'c1', tail: 10 }),
    'logs:search': () => ({ sources: [{ hostId: w.hostA1, containerId: 'c1' }], query: 'needle' }),
    'term:open': () => ({ hostId: w.hostA1, containerId: 'c1', shell: '/bin/sh', size: { cols: 80, rows: 24 } }),
    'fleet:watch': () => ({ hostIds: [w.hostA1] }),
  };
  // What the owner opens, for the others to try the 'own' events on.
  const owner = (await uiSocket('owner'))!;
  const sub = await ack<{ ok: boolean; subId?: string }>(owner, 'logs:subscribe', payload['logs:subscribe']());
  const term = await ack<{ ok: boolean; sessionId?: string }>(owner, 'term:open', payload['term:open']());
  const search = await ack<{ ok: boolean; searchId?: string }>(owner, 'logs:search', payload['logs:search']());
  assert.ok(sub.ok && term.ok && search.ok, 'the owner opens a log stream, a terminal and a search');
  // The agent's ids of the owner's search (the browser's searchId is the server's own).
  const ownerSearches = new Set(commands.filter((c) => c.op === 'logs.search').map((c) => c.searchId));
  const touchedOwners = () =>
    commands.filter(
      (c) => (c.subId === sub.subId && c.op === 'logs.unsubscribe') || (c.sessionId === term.sessionId && c.op !== 'term.open') || (c.op === 'logs.search.cancel' && ownerSearches.has(c.searchId)),
    );
  for (const [event, min] of Object.entries(UI_EVENT_MIN_ROLE) as Array<[keyof UiToServer, Role | 'own']>) {
    for (const who of CALLERS) {
      cases++;
      const s = await uiSocket(who);
      const label = `${event} as ${who}`;
      const signedInAndFree = !['signedOut', 'revoked', 'held'].includes(who);
      if (!s) {
        if (signedInAndFree) failures.push(`${label}: the handshake was refused`);
        continue;
      }
      if (!signedInAndFree) failures.push(`${label}: the handshake was accepted`);
      if (min === 'own') {
        if (who === 'owner') continue;
        const before = touchedOwners().length;
        if (event === 'host:unwatch') s.emit('host:unwatch', w.hostA1);
        if (event === 'logs:unsubscribe') s.emit('logs:unsubscribe', sub.subId!);
        if (event === 'logs:searchCancel') s.emit('logs:searchCancel', search.searchId!);
        if (event === 'term:resize') s.emit('term:resize', { sessionId: term.sessionId!, size: { cols: 100, rows: 30 } });
        if (event === 'term:close') s.emit('term:close', term.sessionId!);
        // Ends only the sender's own watch: nothing of the owner's to reach.
        if (event === 'fleet:unwatch') s.emit('fleet:unwatch');
        if (event === 'term:input') {
          const r = await ack<{ ok: boolean }>(s, 'term:input', { sessionId: term.sessionId!, data: 'id\n' });
          if (r.ok) failures.push(`${label}: typed into the owner's terminal`);
        }
        // A round trip on the same socket: the server has handled the event before this answers.
        await ack(s, 'host:watch', 'no-such-host');
        if (touchedOwners().length !== before) failures.push(`${label}: reached the owner's stream or terminal`);
        continue;
      }
      const res = await ack<{ ok: boolean; error?: string }>(s, event, payload[event]());
      const may = who !== 'stranger' && who !== 'narrowed' && hasRole(ROLE_OF[who], min);
      if (res.ok !== may) failures.push(`${label}: ${res.ok ? 'allowed' : `refused (${res.error})`}, but the least role is ${min}`);
      s.disconnect();
    }
  }
  // The owner's own 'own' events do reach the agent: the check above could have seen them.
  owner.emit('term:resize', { sessionId: term.sessionId!, size: { cols: 100, rows: 30 } });
  owner.emit('logs:unsubscribe', sub.subId!);
  owner.emit('logs:searchCancel', search.searchId!);
  await ack(owner, 'host:watch', 'no-such-host');
  assert.deepEqual(touchedOwners().map((c) => c.op).sort(), ['logs.search.cancel', 'logs.unsubscribe', 'term.resize']);
  console.log(`socket matrix: ${Object.keys(UI_EVENT_MIN_ROLE).length} events × ${CALLERS.length} callers = ${cases} cases; ${failures.length} wrong`);
  assert.deepEqual(failures, []);
});

test('/agent: a wrong or revoked host credential is refused; revoking cuts a connected agent off at once', async () => {
  await assert.rejects(agentSocket(w.hostA1, 'bhc_wrong'), /unauthorized/);
  await assert.rejects(agentSocket(w.hostA2, w.hostCredential), /unauthorized/, "one host's credential does not open another");
  const second = await agentSocket(w.hostA1, w.hostCredential);
  const gone = new Promise<string>((r) => second.once('disconnect', (why) => r(why)));
  await (await callerFor(w, 'admin')).hosts.revoke({ hostId: w.hostA1 });
  assert.equal(await gone, 'io server disconnect');
  await assert.rejects(agentSocket(w.hostA1, w.hostCredential), /unauthorized/);
});

test('narrowing a member away from a host, or moving the host, ends their open log stream and terminal at once', async () => {
  const world = await makeWorld(env.prisma);
  await standIn(world);
  const gone = (s: Socket) => new Promise<void>((r) => s.once('disconnect', () => r()));
  const opened = async () => {
    const s = (await uiSocket('operator', world))!;
    const sub = await ack<{ ok: boolean; subId?: string }>(s, 'logs:subscribe', { hostId: world.hostA1, containerId: 'c1' });
    const term = await ack<{ ok: boolean; sessionId?: string }>(s, 'term:open', { hostId: world.hostA1, containerId: 'c1', shell: '/bin/sh', size: { cols: 80, rows: 24 } });
    assert.ok(sub.ok && term.ok);
    return { s, subId: sub.subId!, sessionId: term.sessionId! };
  };
  const ended = (o: { subId: string; sessionId: string }) =>
    commands.some((c) => c.op === 'logs.unsubscribe' && c.subId === o.subId) && commands.some((c) => c.op === 'term.close' && c.sessionId === o.sessionId);

  const first = await opened();
  const started = await env.prisma.auditLog.findFirstOrThrow({ where: { userId: world.users.operator.id, action: 'container.terminal.start', result: 'ok' } });
  assert.equal(started.address, '127.0.0.1', 'the terminal session is recorded with where it was opened from');
  const closed = gone(first.s);
  await (await callerFor(world, 'admin')).team.setHosts({ teamId: world.teamA.id, userId: world.users.operator.id, hostIds: [world.hostA2] });
  await closed;
  await eventuallyTrue(() => ended(first));
  const again = (await uiSocket('operator', world))!;
  assert.deepEqual(await ack(again, 'host:watch', world.hostA1), { ok: false, error: `No such host: ${world.hostA1}` });
  again.disconnect();

  await (await callerFor(world, 'admin')).team.setHosts({ teamId: world.teamA.id, userId: world.users.operator.id, hostIds: null });
  const second = await opened();
  const closed2 = gone(second.s);
  const { id: other } = await (await callerFor(world, 'admin')).team.create({ name: `Elsewhere ${world.n}` });
  await (await callerFor(world, 'admin')).hosts.move({ hostId: world.hostA1, teamId: other });
  await closed2;
  await eventuallyTrue(() => ended(second));
  const third = (await uiSocket('operator', world))!;
  assert.equal((await ack<{ ok: boolean }>(third, 'logs:subscribe', { hostId: world.hostA1, containerId: 'c1' })).ok, false);
  third.disconnect();
});

async function eventuallyTrue(fn: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !fn(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(fn(), 'the agent was told to stop the stream and close the terminal');
}
