// `npm start`'s script end to end with the real agent: the first start enrols this
// machine's agent into the Default team; a second start reuses the database and the
// agent's stored credential, so the host is not added twice.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { alive } from '../fixtures/processes';
import { ensureNextBuild, eventually, freePort, removeDir, signIn, spawnTsx, trpc, type Child } from './support/control-plane';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-start-'));
const ADMIN = { email: 'owner@example.test', name: 'Owner', password: 'owner-pass-1' };
const running: Child[] = [];

async function start(port: number, dataDir = 'data'): Promise<{ child: Child; agentPid: number; hostId: string }> {
  const child = spawnTsx(
    ['scripts/start.ts'],
    {
      PORT: String(port),
      BERTH_DATA_DIR: path.join(tmp, dataDir),
      BERTH_AGENT_ROOT: path.join(tmp, 'agent'),
      BERTH_DOCKER_SOCKET: path.join(tmp, 'docker.sock'),
      NEXTAUTH_URL: '',
      NEXTAUTH_SECRET: '',
      DATABASE_URL: '',
    },
    'start',
  );
  running.push(child);
  const pidLine = await child.waitFor(/local agent pid \d+/, 120_000);
  const agentPid = Number(/pid (\d+)/.exec(pidLine)![1]);
  const connected = await child.waitFor(/berth-agent: connected to .* as host \S+/, 60_000);
  return { child, agentPid, hostId: /as host (\S+)/.exec(connected)![1] };
}

before(() => ensureNextBuild());

after(async () => {
  for (const c of running) await c.kill('SIGKILL');
  removeDir(tmp);
});

test('npm start enrols the local agent once; a restart reuses it without a duplicate host', { timeout: 300_000 }, async () => {
  const port = await freePort();
  const url = `http://localhost:${port}`;
  const first = await start(port);

  assert.deepEqual(await trpc(url).auth.setup.mutate(ADMIN), { ok: true });
  const cookie = await signIn(url, ADMIN.email, ADMIN.password);
  assert.ok(cookie);
  const hosts = await eventually('local host online', async () => {
    const list = await trpc(url, cookie).hosts.list.query();
    return list.length === 1 && list[0].online ? list : undefined;
  }, 5000);
  assert.equal(hosts[0].id, first.hostId);
  assert.equal(hosts[0].name, os.hostname());
  assert.equal(hosts[0].info?.hostname, os.hostname());

  // An agent that dies is started again, and the host comes back by itself.
  process.kill(first.agentPid, 'SIGKILL');
  const restartedPid = await eventually('agent started again', async () => {
    const pids = first.child.lines.flatMap((l) => /local agent pid (\d+)/.exec(l)?.[1] ?? []).map(Number);
    return pids.length >= 2 ? pids[pids.length - 1] : undefined;
  }, 10_000);
  assert.notEqual(restartedPid, first.agentPid);
  await eventually('restarted agent connected', async () => first.child.lines.filter((l) => /berth-agent: connected to .* as host/.test(l)).length >= 2, 30_000);
  await eventually('local host online again', async () => {
    const list = await trpc(url, cookie).hosts.list.query();
    return list.length === 1 && list[0].id === first.hostId && list[0].online;
  }, 5000);

  // SIGTERM to the start script takes its agent down with it.
  await first.child.kill('SIGTERM');
  await eventually('agent gone', async () => !alive(restartedPid), 15_000);

  const second = await start(port);
  assert.notEqual(second.agentPid, restartedPid);
  assert.equal(second.hostId, first.hostId, 'the agent reconnects as the same host');
  assert.ok(!second.child.lines.some((l) => /enrol/i.test(l) && /refused|expired/i.test(l)), second.child.lines.join('\n'));
  const after2 = await eventually('local host online again', async () => {
    const list = await trpc(url, cookie).hosts.list.query();
    return list.every((h) => h.online) && list.length ? list : undefined;
  }, 5000);
  assert.deepEqual(after2.map((h) => h.id), [first.hostId], 'still exactly one host');
  await second.child.kill('SIGTERM');
  await eventually('second agent gone', async () => !alive(second.agentPid), 15_000);
});

test('npm start with a new database enrols the local agent again instead of leaving it locked out', { timeout: 300_000 }, async () => {
  // Runs after the test above: the agent root holds a credential the new database never issued.
  const agentRoot = path.join(tmp, 'agent');
  assert.ok(existsSync(path.join(agentRoot, 'credential.json')));
  const port = await freePort();
  const url = `http://localhost:${port}`;
  const fresh = await start(port, 'data-new');

  assert.deepEqual(await trpc(url).auth.setup.mutate(ADMIN), { ok: true });
  const cookie = await signIn(url, ADMIN.email, ADMIN.password);
  const hosts = await eventually('local host online', async () => {
    const list = await trpc(url, cookie).hosts.list.query();
    return list.length === 1 && list[0].online ? list : undefined;
  }, 5000);
  assert.equal(hosts[0].id, fresh.hostId);
  assert.ok(readdirSync(agentRoot).some((f) => f.startsWith('credential.json.unknown-')), 'the old credential is kept aside, not deleted');
  await fresh.child.kill('SIGTERM');
  await eventually('agent gone', async () => !alive(fresh.agentPid), 15_000);
});
