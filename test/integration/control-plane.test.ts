// The control plane end to end over HTTP and socket.io: a real server process, real
// sign-in through next-auth, tRPC over HTTP, agents connecting over '/agent'.
// The agent is test/integration/support/protocol-agent.ts, which speaks
// agent/link/protocol.ts over a real socket and can play a host with made-up facts;
// control-plane-engine.test.ts does the same with the real agent.
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { after, before, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { MAX_LOG_STREAMS_PER_SOCKET } from '../../server/hub/ui';
import type { ServerToUi, UiToServer } from '../../protocol/ui-socket';
import { addUser, codeOf, ensureNextBuild, eventually, removeDir, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from './support/control-plane';

const ADMIN = { email: 'admin@example.test', name: 'Ada Admin', password: 'admin-pass-1' };
// Waits below end on the event they are about; this only keeps a broken run from hanging.
const PATIENCE_MS = 60_000;

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal(codeOf(err), code, `expected ${code}, got ${codeOf(err)}: ${(err as Error).message}`);
    if (message) assert.match((err as Error).message, message);
    return true;
  });
}


function startAgent(cp: ControlPlane, args: string[]): Child {
  return spawnTsx(['test/integration/support/protocol-agent.ts', '--server', cp.url, ...args], {}, 'agent');
}

function uiSocket(cp: ControlPlane, cookie: string | null): Socket<ServerToUi, UiToServer> {
  return io(`${cp.url}/ui`, { transports: ['websocket'], reconnection: false, extraHeaders: cookie ? { cookie } : {}, forceNew: true });
}

function connected(s: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('connect_error', (e) => reject(e));
  });
}

describe('control plane', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let adminCookie: string;
  let hostId: string;
  let credential: string;
  const children: Child[] = [];
  const sockets: Socket[] = [];
  let agent: Child;

  before(async () => {
    ensureNextBuild();
    cp = await startControlPlane();
  });

  after(async () => {
    for (const s of sockets) s.disconnect();
    for (const c of children) await c.kill('SIGKILL');
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
  });

  test('a fresh server asks for setup, and nobody can sign in yet', async () => {
    assert.deepEqual(await trpc(cp.url).auth.status.query(), { needsSetup: true, signedIn: false, role: null, mustChangePassword: false });
    assert.equal(await signIn(cp.url, ADMIN.email, ADMIN.password), null);
    await rejectsWith(trpc(cp.url).hosts.list.query(), 'UNAUTHORIZED');
  });

  test('setup creates the first admin once; a second setup is refused', async () => {
    await rejectsWith(trpc(cp.url).auth.setup.mutate({ ...ADMIN, password: 'short' }), 'BAD_REQUEST', /password/);
    assert.deepEqual(await trpc(cp.url).auth.setup.mutate(ADMIN), { ok: true });
    await rejectsWith(trpc(cp.url).auth.setup.mutate({ ...ADMIN, email: 'mallory@example.test' }), 'FORBIDDEN');
    assert.equal((await trpc(cp.url).auth.status.query()).needsSetup, false);
  });

  test('sign-in with a wrong password or unknown email is refused; the right one gives a session', async () => {
    assert.equal(await signIn(cp.url, ADMIN.email, 'wrong-password'), null);
    assert.equal(await signIn(cp.url, 'nobody@example.test', ADMIN.password), null);
    adminCookie = (await signIn(cp.url, ADMIN.email, ADMIN.password))!;
    assert.ok(adminCookie, 'no session cookie after a correct sign-in');
    assert.deepEqual(await trpc(cp.url, adminCookie).auth.status.query(), { needsSetup: false, signedIn: true, role: 'owner', mustChangePassword: false });
    assert.deepEqual(await trpc(cp.url, adminCookie).hosts.list.query(), []);
    // A forged cookie is no session.
    await rejectsWith(trpc(cp.url, 'next-auth.session-token=forged.token.value').hosts.list.query(), 'UNAUTHORIZED');
  });

  test('a bad join token is refused with a clear message', async () => {
    const a = startAgent(cp, ['--token', 'bjt_not-a-real-token']);
    children.push(a);
    const line = await a.waitFor(/ENROLL_REFUSED/);
    assert.match(line, /ENROLL_REFUSED 401 join token not recognised/);
    assert.equal(await a.exited, 3);
  });

  test('a good join token enrols the host once, and it shows online with its facts', async (t) => {
    const jt = await trpc(cp.url, adminCookie).hosts.createJoinToken.mutate({ name: 'edge-1' });
    assert.match(jt.command, new RegExp(`--server ${cp.url} --token ${jt.token}$`));
    assert.ok(new Date(jt.expiresAt).getTime() > Date.now());
    agent = startAgent(cp, ['--token', jt.token, '--hostname', 'edge-1.local']);
    children.push(agent);
    const enrolled = JSON.parse((await agent.waitFor(/^ENROLLED /)).slice('ENROLLED '.length)) as { hostId: string; credential: string };
    ({ hostId, credential } = enrolled);
    const t0 = Date.now();
    // Online comes with the connection, the facts with the first snapshot a moment later.
    const host = await eventually('host online with its facts', async () => (await trpc(cp.url, adminCookie).hosts.list.query()).find((h) => h.id === hostId && h.online && h.info), PATIENCE_MS, 100);
    t.diagnostic(`listed online with its facts ${Date.now() - t0} ms after enrolling`);
    assert.equal(host.name, 'edge-1');
    assert.equal(host.info?.hostname, 'edge-1.local');
    const got = await trpc(cp.url, adminCookie).hosts.get.query({ hostId });
    assert.equal(got.role, 'owner');
    // Its facts are stored at once, not at the next periodic write, so a control plane
    // restarted now still shows them. The stand-in agent sends no further snapshot (no
    // commands yet), so only the write of its first one can store them.
    const stored = await eventually('facts stored', async () => {
      const db = new Database(path.join(cp.dataDir, 'berth.db'), { readonly: true });
      try {
        const row = db.prepare('SELECT info FROM "Host" WHERE id = ?').get(hostId) as { info: string | null } | undefined;
        return row?.info ? (JSON.parse(row.info) as { hostname: string }) : undefined;
      } finally {
        db.close();
      }
    }, PATIENCE_MS, 100);
    assert.equal(stored.hostname, 'edge-1.local');

    const again = startAgent(cp, ['--token', jt.token]);
    children.push(again);
    assert.match(await again.waitFor(/ENROLL_REFUSED/), /401 join token was used already/);
  });

  test('operators act through tRPC: pull, run (command split like a shell), inspect; errors carry the agent\'s message', async () => {
    const api = trpc(cp.url, adminCookie);
    await rejectsWith(api.images.pull.mutate({ hostId, ref: 'BusyBox' }), 'BAD_REQUEST', /invalid reference format/);
    const img = await api.images.pull.mutate({ hostId, ref: '127.0.0.1:5000/busybox' });
    assert.match(img.id, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(img.repoTags, ['127.0.0.1:5000/busybox:latest']);
    const { id } = await api.containers.run.mutate({ hostId, image: '127.0.0.1:5000/busybox', command: `sh -c 'echo "hi there"' second\\ word`, name: 'web', memory: '64m' });
    const rec = await api.containers.inspect.query({ hostId, id });
    assert.deepEqual(rec.spec.process.cmd, ['sh', '-c', 'echo "hi there"', 'second word']);
    assert.equal(rec.spec.resources.memory, 64 * 1024 * 1024);
    assert.equal(rec.name, 'web');
    await rejectsWith(api.containers.inspect.query({ hostId, id: 'nope' }), 'NOT_FOUND', /No such container: nope/);
    await rejectsWith(api.containers.run.mutate({ hostId, image: 'x', command: `echo 'unterminated` }), 'BAD_REQUEST', /quote/);
    const view = await eventually('container in snapshot', async () => {
      const h = await api.hosts.get.query({ hostId });
      return h.containers.some((c) => c.id === id) ? h : undefined;
    }, PATIENCE_MS);
    assert.equal(view.images.length, 1);
  });

  test('a viewer can look and read logs but not act; another team cannot even see the host', async () => {
    await addUser(cp, 'viewer@example.test', 'viewer-pass-1', 'viewer');
    await addUser(cp, 'stranger@example.test', 'stranger-pass-1', 'owner', 'Other team');
    const viewer = trpc(cp.url, await signIn(cp.url, 'viewer@example.test', 'viewer-pass-1'));
    const stranger = trpc(cp.url, await signIn(cp.url, 'stranger@example.test', 'stranger-pass-1'));

    assert.deepEqual((await viewer.hosts.list.query()).map((h) => h.id), [hostId]);
    assert.equal((await viewer.hosts.get.query({ hostId })).role, 'viewer');
    assert.equal((await viewer.auth.status.query()).role, 'viewer', 'the role pages use to hide "Add host"');
    await rejectsWith(viewer.containers.run.mutate({ hostId, image: '127.0.0.1:5000/busybox' }), 'FORBIDDEN');
    await rejectsWith(viewer.images.pull.mutate({ hostId, ref: 'busybox' }), 'FORBIDDEN');
    await rejectsWith(viewer.hosts.revoke.mutate({ hostId }), 'FORBIDDEN');
    await rejectsWith(viewer.hosts.createJoinToken.mutate({ name: 'x' }), 'FORBIDDEN');
    await rejectsWith(viewer.audit.list.query(), 'FORBIDDEN');

    assert.deepEqual(await stranger.hosts.list.query(), []);
    await rejectsWith(stranger.hosts.get.query({ hostId }), 'NOT_FOUND', /No such host/);
    await rejectsWith(stranger.containers.run.mutate({ hostId, image: '127.0.0.1:5000/busybox' }), 'NOT_FOUND');
    await rejectsWith(stranger.hosts.revoke.mutate({ hostId }), 'NOT_FOUND');
    // The stranger's own join token belongs to the stranger's team.
    await stranger.hosts.createJoinToken.mutate({ name: 'theirs' });

    const audit = await trpc(cp.url, adminCookie).audit.list.query();
    const refused = audit.find((a) => a.action === 'containers.run' && a.userEmail === 'viewer@example.test');
    assert.ok(refused, 'the refused run is audited');
    assert.match(refused.result, /^error: FORBIDDEN/);
    assert.ok(!audit.some((a) => a.userEmail === 'stranger@example.test'), 'another team\'s actions are not in this team\'s audit log');
    const ran = audit.find((a) => a.action === 'containers.run' && a.userEmail === ADMIN.email && a.result === 'ok');
    assert.equal(ran?.hostName, 'edge-1');
    assert.equal(ran?.target, 'web');
  });

  test('the /ui socket: cookie auth, host updates, logs streamed and unsubscribed when the browser leaves', async () => {
    const anon = uiSocket(cp, null);
    sockets.push(anon);
    await assert.rejects(connected(anon), /unauthorized/);

    // A page on another site cannot ride on a user's cookie.
    const crossSite = io(`${cp.url}/ui`, { transports: ['websocket'], reconnection: false, forceNew: true, extraHeaders: { cookie: adminCookie, origin: 'http://evil.example' } });
    sockets.push(crossSite);
    await assert.rejects(connected(crossSite));
    const sameSite = io(`${cp.url}/ui`, { transports: ['websocket'], reconnection: false, forceNew: true, extraHeaders: { cookie: adminCookie, origin: cp.url } });
    sockets.push(sameSite);
    await connected(sameSite);
    sameSite.disconnect();

    const stranger = uiSocket(cp, await signIn(cp.url, 'stranger@example.test', 'stranger-pass-1'));
    sockets.push(stranger);
    await connected(stranger);
    assert.deepEqual(await stranger.emitWithAck('host:watch', hostId), { ok: false, error: `No such host: ${hostId}` });
    const denied = await stranger.emitWithAck('logs:subscribe', { hostId, containerId: 'web' });
    assert.equal(denied.ok, false);

    const viewer = uiSocket(cp, await signIn(cp.url, 'viewer@example.test', 'viewer-pass-1'));
    sockets.push(viewer);
    await connected(viewer);
    const hostSeen = new Promise<{ online: boolean; name: string }>((resolve) => viewer.once('host', resolve));
    assert.deepEqual(await viewer.emitWithAck('host:watch', hostId), { ok: true });
    const h = await hostSeen;
    assert.equal(h.online, true);
    assert.equal(h.name, 'edge-1');

    const batches: Array<{ subId: string; containerId: string; entries: Array<{ seq: number; line: string }> }> = [];
    viewer.on('logs', (b) => batches.push(b));
    const entriesOf = (subId: string) => batches.filter((b) => b.subId === subId).flatMap((b) => b.entries);

    const sub = await viewer.emitWithAck('logs:subscribe', { hostId, containerId: 'web', tail: 100 });
    assert.equal(sub.ok, true, sub.error);
    await eventually('4 log lines', async () => entriesOf(sub.subId!).length >= 4, PATIENCE_MS, 50);
    assert.deepEqual(entriesOf(sub.subId!).map((e) => e.line), ['sh\n', '-c\n', 'echo "hi there"\n', 'second word\n']);
    assert.deepEqual(entriesOf(sub.subId!).map((e) => e.seq), [1, 2, 3, 4]);
    assert.ok(batches.every((b) => b.containerId === 'web'));

    // Resuming after seq 2 gives only what came later.
    const sub2 = await viewer.emitWithAck('logs:subscribe', { hostId, containerId: 'web', afterSeq: 2 });
    assert.equal(sub2.ok, true, sub2.error);
    await eventually('resumed lines', async () => entriesOf(sub2.subId!).length >= 2, PATIENCE_MS, 50);
    assert.deepEqual(entriesOf(sub2.subId!).map((e) => e.line), ['echo "hi there"\n', 'second word\n']);

    const missing = await viewer.emitWithAck('logs:subscribe', { hostId, containerId: 'nope' });
    assert.deepEqual(missing, { ok: false, error: 'No such container: nope' });

    // One connection cannot make the agent open log readers without end.
    const more: string[] = [];
    for (;;) {
      const r = await viewer.emitWithAck('logs:subscribe', { hostId, containerId: 'web', tail: 1 });
      if (!r.ok) {
        assert.match(r.error ?? '', new RegExp(`too many log streams open on this connection \\(at most ${MAX_LOG_STREAMS_PER_SOCKET}\\)`));
        break;
      }
      more.push(r.subId!);
      assert.ok(more.length <= MAX_LOG_STREAMS_PER_SOCKET, 'log streams per connection are not limited');
    }
    viewer.emit('logs:unsubscribe', more[0]);
    await agent.waitFor(new RegExp(`UNSUBSCRIBED ${more[0]}`), PATIENCE_MS);
    assert.equal((await viewer.emitWithAck('logs:subscribe', { hostId, containerId: 'web', tail: 1 })).ok, true, 'a closed stream frees its place');

    // Many commands in flight to one agent at once are normal (a page opening many logs).
    const burst = uiSocket(cp, adminCookie);
    sockets.push(burst);
    await connected(burst);
    const answers = await Promise.all(Array.from({ length: 12 }, () => burst.emitWithAck('logs:subscribe', { hostId, containerId: 'web', tail: 1 })));
    assert.ok(answers.every((a) => a.ok), JSON.stringify(answers));
    assert.ok(!cp.child.lines.some((l) => /MaxListenersExceeded/.test(l)), cp.child.lines.filter((l) => /Warning/.test(l)).join('\n'));
    burst.disconnect();

    viewer.disconnect();
    await agent.waitFor(new RegExp(`UNSUBSCRIBED ${sub.subId}`), PATIENCE_MS);
    await agent.waitFor(new RegExp(`UNSUBSCRIBED ${sub2.subId}`), PATIENCE_MS);
  });

  test('a killed agent shows offline; commands then say the host is offline', async (t) => {
    const admin = uiSocket(cp, adminCookie);
    sockets.push(admin);
    await connected(admin);
    const changed = new Promise<void>((resolve) => admin.once('hosts:changed', () => resolve()));
    const seenBefore = (await trpc(cp.url, adminCookie).hosts.get.query({ hostId })).lastSeen;
    assert.ok(seenBefore, 'an online host has been seen');
    const t0 = Date.now();
    await agent.kill('SIGKILL');
    await eventually('host offline', async () => !(await trpc(cp.url, adminCookie).hosts.get.query({ hostId })).online, PATIENCE_MS, 100);
    t.diagnostic(`offline ${Date.now() - t0} ms after the kill`);
    await changed;
    const h = await trpc(cp.url, adminCookie).hosts.get.query({ hostId });
    assert.ok(h.lastSeen && Date.parse(h.lastSeen) >= Date.parse(seenBefore), `last seen ${h.lastSeen}, before the kill ${seenBefore}`);
    assert.equal(h.info?.hostname, 'edge-1.local', 'last known facts stay');
    await rejectsWith(trpc(cp.url, adminCookie).containers.start.mutate({ hostId, id: 'web' }), 'PRECONDITION_FAILED', /host is offline/);
  });

  test('the stored credential reconnects; a revoked host is cut off at once and cannot come back', async () => {
    const back = startAgent(cp, ['--host-id', hostId, '--credential', credential]);
    children.push(back);
    await back.waitFor(/^CONNECTED/);
    await eventually('host online again', async () => (await trpc(cp.url, adminCookie).hosts.get.query({ hostId })).online, PATIENCE_MS);
    assert.equal((await trpc(cp.url, adminCookie).hosts.list.query()).length, 1, 'reconnecting does not add a host');

    const wrong = startAgent(cp, ['--host-id', hostId, '--credential', credential + 'x']);
    children.push(wrong);
    assert.match(await wrong.waitFor(/^REFUSED/), /unauthorized/);

    await trpc(cp.url, adminCookie).hosts.revoke.mutate({ hostId });
    // Cut off by the server itself, not left to time out.
    assert.equal(await back.waitFor(/^DISCONNECTED/, PATIENCE_MS), 'DISCONNECTED io server disconnect');
    assert.deepEqual(await trpc(cp.url, adminCookie).hosts.list.query(), []);
    await rejectsWith(trpc(cp.url, adminCookie).hosts.get.query({ hostId }), 'NOT_FOUND');

    const again = startAgent(cp, ['--host-id', hostId, '--credential', credential]);
    children.push(again);
    assert.match(await again.waitFor(/^REFUSED/), /REFUSED unauthorized/);
    const audit = await trpc(cp.url, adminCookie).audit.list.query();
    assert.ok(audit.some((a) => a.action === 'hosts.revoke' && a.hostId === hostId && a.result === 'ok'));
    assert.ok(audit.some((a) => a.action === 'hosts.enroll' && a.hostId === hostId));
  });
});
