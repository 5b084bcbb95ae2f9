// Writes the control plane acknowledged survive an outside SQLite client and a crash.
// `npm start`'s script serves the app (with its local agent); between two acknowledged
// writes the real `sqlite3` CLI reads the live database, as a backup or an admin would.
// A process that closes any descriptor of berth.db drops all its POSIX locks on it, so
// that reader would believe it is the last connection, checkpoint and unlink the
// server's -wal and -shm, and the second write would go into a deleted file: after
// `kill -9` it would be gone.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { cgroupParentFor } from '../../agent/engine/index';
import { alive, removeCgroupParent } from '../fixtures/processes';
import { ensureNextBuild, eventually, freePort, removeDir, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from './support/control-plane';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-sqlite-'));
const dataDir = path.join(tmp, 'data');
const agentRoot = path.join(tmp, 'agent');
const dbFile = path.join(dataDir, 'berth.db');
const ADMIN = { email: 'owner@example.test', name: 'Owner', password: 'owner-pass-1' };
let start: Child | undefined;
let agentPid: number | undefined;
let restarted: ControlPlane | undefined;

function sqlite3(sql: string): string {
  return execFileSync('sqlite3', [dbFile, sql], { encoding: 'utf8', timeout: 30_000 }).trim();
}

before(() => ensureNextBuild());

after(async () => {
  await start?.kill('SIGKILL');
  if (alive(agentPid)) {
    process.kill(agentPid!, 'SIGTERM');
    await eventually('local agent gone', async () => !alive(agentPid), 15_000).catch(() => process.kill(agentPid!, 'SIGKILL'));
  }
  await restarted?.stop();
  removeCgroupParent(cgroupParentFor(agentRoot));
  removeDir(tmp);
});

test('acknowledged writes and their audit rows survive an outside sqlite3 reader and kill -9', { timeout: 300_000 }, async (t) => {
  const port = await freePort();
  const url = `http://localhost:${port}`;
  start = spawnTsx(
    ['scripts/start.ts'],
    { PORT: String(port), BERTH_DATA_DIR: dataDir, BERTH_AGENT_ROOT: agentRoot, BERTH_DOCKER_SOCKET: path.join(tmp, 'docker.sock'), NEXTAUTH_URL: '', NEXTAUTH_SECRET: '', DATABASE_URL: '' },
    'start',
  );
  agentPid = Number(/pid (\d+)/.exec(await start.waitFor(/local agent pid \d+/, 120_000))![1]);
  // The agent's enrolment writes too; let it finish so the only writes in flight are ours.
  await start.waitFor(/berth-agent: connected to .* as host \S+/, 60_000);

  assert.deepEqual(await trpc(url).auth.setup.mutate(ADMIN), { ok: true });
  const api = trpc(url, await signIn(url, ADMIN.email, ADMIN.password));
  await api.hosts.createJoinToken.mutate({ name: 'first' });

  const seen = sqlite3(`SELECT count(*) FROM "JoinToken" WHERE name IN ('first', 'second')`);
  t.diagnostic(`outside sqlite3 while the server runs: ${seen} of our join tokens`);
  assert.equal(seen, '1', 'the outside reader sees the first write');

  await api.hosts.createJoinToken.mutate({ name: 'second' });

  // The crash: no shutdown, no checkpoint. The agent is not part of it; stop it by its pid.
  await start.kill('SIGKILL');
  process.kill(agentPid, 'SIGTERM');
  await eventually('local agent gone', async () => !alive(agentPid), 15_000);

  restarted = await startControlPlane(dataDir);
  const after = trpc(restarted.url, await signIn(restarted.url, ADMIN.email, ADMIN.password));
  const audit = await after.audit.list.query();
  const made = audit.filter((a) => a.action === 'hosts.createJoinToken' && a.result === 'ok').map((a) => a.target).sort();
  const tokens = sqlite3(`SELECT group_concat(name, ',') FROM (SELECT name FROM "JoinToken" WHERE name IN ('first', 'second') ORDER BY name)`);
  const integrity = sqlite3('PRAGMA integrity_check');
  t.diagnostic(`after kill -9 and a restart: join tokens ${tokens}; audited hosts.createJoinToken ok: ${made.join(',')}; integrity_check: ${integrity}`);
  assert.deepEqual(made, ['first', 'second'], 'both acknowledged writes are audited after the crash');
  assert.equal(tokens, 'first,second');
  assert.equal(integrity, 'ok');
});
