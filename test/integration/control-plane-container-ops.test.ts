// The container page's procedures over real tRPC: restart, kill, pause and unpause for
// operators and up, the live reading for viewers too; every role of the host's team, and a
// user of another team who must not learn the host exists. Every mutation is audited,
// refusals included. The host is test/integration/support/protocol-agent.ts, which prints
// "COMMAND op" for each command it gets, so a refused call is seen not to reach it.
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { after, before, describe, test } from 'node:test';
import { addUser, codeOf, ensureNextBuild, eventually, removeDir, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from './support/control-plane';

const OWNER = { email: 'owner@example.test', name: 'Owen Owner', password: 'owner-pass-1' };
const PATIENCE_MS = 60_000;
type Api = ReturnType<typeof trpc>;
const OPS = ['restart', 'kill', 'pause', 'unpause'] as const;

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal(codeOf(err), code, `expected ${code}, got ${codeOf(err)}: ${(err as Error).message}`);
    if (message) assert.match((err as Error).message, message);
    return true;
  });
}

function call(api: Api, op: (typeof OPS)[number], hostId: string, id: string): Promise<unknown> {
  return api.containers[op].mutate({ hostId, id });
}

describe('container operations through tRPC, role by role', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let agent: Child;
  let hostId: string;
  let containerId: string;
  const as: Record<'owner' | 'admin' | 'operator' | 'viewer' | 'stranger', Api> = {} as never;

  /** How many times the stand-in agent has been sent `op`. */
  const sent = (op: string) => agent.lines.filter((l) => l === `COMMAND ${op}`).length;

  before(async () => {
    ensureNextBuild();
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(OWNER);
    as.owner = trpc(cp.url, await signIn(cp.url, OWNER.email, OWNER.password));
    for (const role of ['admin', 'operator', 'viewer'] as const) {
      await addUser(cp, `${role}@example.test`, `${role}-pass-1`, role);
      as[role] = trpc(cp.url, await signIn(cp.url, `${role}@example.test`, `${role}-pass-1`));
    }
    await addUser(cp, 'stranger@example.test', 'stranger-pass-1', 'owner', 'Other team');
    as.stranger = trpc(cp.url, await signIn(cp.url, 'stranger@example.test', 'stranger-pass-1'));
    const { token } = await as.owner.hosts.createJoinToken.mutate({ name: 'edge-ops' });
    agent = spawnTsx(['test/integration/support/protocol-agent.ts', '--server', cp.url, '--token', token], {}, 'agent');
    hostId = (JSON.parse((await agent.waitFor(/^ENROLLED /)).slice('ENROLLED '.length)) as { hostId: string }).hostId;
    await agent.waitFor(/^CONNECTED/);
    await eventually('online', async () => (await as.owner.hosts.get.query({ hostId })).online, PATIENCE_MS);
    await as.owner.images.pull.mutate({ hostId, ref: '127.0.0.1:5000/busybox' });
    containerId = (await as.owner.containers.run.mutate({ hostId, image: '127.0.0.1:5000/busybox', command: 'sleep 1000', name: 'web', memory: '32m' })).id;
  });

  after(async () => {
    await agent?.kill('SIGKILL');
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
  });

  for (const role of ['owner', 'admin', 'operator'] as const) {
    test(`an ${role} restarts, kills, pauses and unpauses; each reaches the agent and is audited`, async () => {
      for (const op of OPS) {
        const before = sent(op);
        assert.deepEqual(await call(as[role], op, hostId, containerId), { ok: true });
        assert.equal(sent(op), before + 1, `${op} reached the agent`);
      }
      const rows = (await as.owner.audit.list.query()).filter((a) => a.userEmail === (role === 'owner' ? OWNER.email : `${role}@example.test`));
      for (const op of OPS) {
        const row = rows.find((a) => a.action === `containers.${op}`);
        assert.ok(row, `containers.${op} by the ${role} audited`);
        assert.deepEqual([row.result, row.target, row.hostName], ['ok', containerId, 'edge-ops']);
      }
    });
  }

  test('a viewer is refused each operation (FORBIDDEN, audited against the host) and nothing reaches the agent', async () => {
    for (const op of OPS) {
      const before = sent(op);
      await rejectsWith(call(as.viewer, op, hostId, containerId), 'FORBIDDEN', /viewer role cannot do this; operator or above/);
      assert.equal(sent(op), before, `a refused ${op} is not sent`);
    }
    const rows = (await as.owner.audit.list.query()).filter((a) => a.userEmail === 'viewer@example.test');
    for (const op of OPS) {
      const row = rows.find((a) => a.action === `containers.${op}`);
      assert.ok(row, `the viewer's ${op} is audited`);
      assert.match(row.result, /^error: FORBIDDEN/);
      assert.equal(row.hostName, 'edge-ops');
    }
  });

  test('a viewer reads the live state and stats; so does everyone above', async () => {
    for (const role of ['viewer', 'operator', 'admin', 'owner'] as const) {
      const live = await as[role].containers.live.query({ hostId, id: containerId });
      assert.equal(live.id, containerId);
      assert.equal(live.status, 'running');
      assert.ok(live.stats && live.stats.memoryLimit === 32 << 20, JSON.stringify(live));
    }
    await rejectsWith(as.viewer.containers.live.query({ hostId, id: 'nope' }), 'NOT_FOUND', /No such container: nope/);
  });

  test('live readings: at most eight under way per user; more are refused at once, without asking the agent', async () => {
    const pid = agent.proc.pid!;
    // A frozen agent holds every reading it is asked for, so the ones let through stay under way.
    process.kill(pid, 'SIGSTOP');
    let frozen = true;
    try {
      const calls = Array.from({ length: 12 }, () => as.viewer.containers.live.query({ hostId, id: containerId }));
      const outcomes = calls.map((p) => p.then(() => 'ok', (err: unknown) => codeOf(err) ?? String(err)));
      let settled = 0;
      for (const o of outcomes) void o.then(() => settled++);
      await eventually('the four over the limit refused', () => settled >= 4, PATIENCE_MS, 20);
      process.kill(pid, 'SIGCONT');
      frozen = false;
      const all = await Promise.all(outcomes);
      assert.deepEqual([all.filter((o) => o === 'ok').length, all.filter((o) => o === 'TOO_MANY_REQUESTS').length], [8, 4], all.join(', '));
    } finally {
      if (frozen) process.kill(pid, 'SIGCONT');
    }
    // Once answered, they count no more.
    assert.equal((await as.viewer.containers.live.query({ hostId, id: containerId })).id, containerId);
  });

  test('a user of another team gets NOT_FOUND for the host, for every procedure, and the attempt is kept out of this team\'s audit log', async () => {
    for (const op of OPS) {
      const before = sent(op);
      await rejectsWith(call(as.stranger, op, hostId, containerId), 'NOT_FOUND', new RegExp(`No such host: ${hostId}`));
      assert.equal(sent(op), before);
    }
    await rejectsWith(as.stranger.containers.live.query({ hostId, id: containerId }), 'NOT_FOUND', /No such host/);
    assert.ok(!(await as.owner.audit.list.query()).some((a) => a.userEmail === 'stranger@example.test'));
    // Recorded all the same, with no team and no host: only the operator of the server sees them.
    const db = new Database(path.join(cp.dataDir, 'berth.db'), { readonly: true });
    try {
      const rows = db
        .prepare(
          `SELECT a.action, a.result, a.hostId, a.teamId, a.target FROM "AuditLog" a JOIN "User" u ON u.id = a.userId
           WHERE u.email = ? AND a.action LIKE 'containers.%'`,
        )
        .all('stranger@example.test') as Array<{ action: string; result: string; hostId: string | null; teamId: string | null; target: string }>;
      assert.deepEqual(rows.map((r) => r.action).sort(), OPS.map((op) => `containers.${op}`).sort());
      for (const r of rows) {
        assert.match(r.result, /^error: NOT_FOUND/);
        assert.deepEqual([r.hostId, r.teamId], [null, null]);
        assert.equal(r.target, `${containerId} (host ${hostId})`);
      }
    } finally {
      db.close();
    }
  });

  test('kill takes a signal by name or number, names it in the audit, and refuses anything else before asking the agent', async () => {
    const before = sent('kill');
    assert.deepEqual(await as.operator.containers.kill.mutate({ hostId, id: containerId, signal: 'SIGHUP' }), { ok: true });
    assert.deepEqual(await as.operator.containers.kill.mutate({ hostId, id: containerId, signal: 10 }), { ok: true });
    assert.equal(sent('kill'), before + 2);
    for (const signal of ['SIGHUP; reboot', 'sighup', '', 'X'.repeat(40)]) {
      await rejectsWith(as.operator.containers.kill.mutate({ hostId, id: containerId, signal }), 'BAD_REQUEST', /signal/);
    }
    await rejectsWith(as.operator.containers.kill.mutate({ hostId, id: containerId, signal: 0 }), 'BAD_REQUEST', /signal/);
    assert.equal(sent('kill'), before + 2, 'a bad signal never reaches the agent');
    const targets = (await as.owner.audit.list.query()).filter((a) => a.action === 'containers.kill' && a.userEmail === 'operator@example.test').map((a) => a.target);
    assert.ok(targets.includes(`${containerId} (signal SIGHUP)`), targets.join('\n'));
    assert.ok(targets.includes(`${containerId} (signal 10)`), targets.join('\n'));
  });

  test('an unknown container is NOT_FOUND with the agent\'s words; an offline host is PRECONDITION_FAILED, audited', async () => {
    await rejectsWith(as.operator.containers.pause.mutate({ hostId, id: 'nope' }), 'NOT_FOUND', /No such container: nope/);
    await agent.kill('SIGKILL');
    await eventually('offline', async () => !(await as.owner.hosts.get.query({ hostId })).online, PATIENCE_MS);
    await rejectsWith(as.operator.containers.restart.mutate({ hostId, id: containerId }), 'PRECONDITION_FAILED', /host is offline/);
    await rejectsWith(as.viewer.containers.live.query({ hostId, id: containerId }), 'PRECONDITION_FAILED', /host is offline/);
    const row = (await as.owner.audit.list.query()).find((a) => a.action === 'containers.restart' && a.result.startsWith('error'));
    assert.match(row?.result ?? '', /^error: PRECONDITION_FAILED: host is offline/);
  });
});
