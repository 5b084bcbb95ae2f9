// Two control-plane processes (PostgreSQL, Redis), one agent: an alert fires once, not once
// per process. Host-offline rules are swept on every process, so both see the host go and
// both try to open its alert; the database's open key lets one win, and only the winner
// delivers. The resolution when the agent comes back (to the other process) goes out once too.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startPostgres, type Postgres } from '../fixtures/postgres';
import { startRedis, type Redis } from '../fixtures/redis';
import { ensureNextBuild, eventually, removeDir, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from './support/control-plane';

const OWNER = { name: 'Olga Owner', email: 'owner@example.test', password: 'owner-pass-1' };
const PATIENCE_MS = 90_000;
const TICK_MS = 300;

describe('alerts with two control-plane processes', { timeout: 300_000 }, () => {
  let postgres: Postgres;
  let redis: Redis;
  const cps: ControlPlane[] = [];
  let agent: Child | undefined;
  let receiver: http.Server;
  let hook = '';
  const bodies: Array<{ status: string; title: string }> = [];

  before(async () => {
    ensureNextBuild();
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const b = JSON.parse(body) as { status: string; alert: { title: string } };
        bodies.push({ status: b.status, title: b.alert.title });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hook = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
    postgres = await startPostgres();
    redis = await startRedis();
    // What replicas share: the database, Redis, the session secret and the key webhook URLs are sealed with.
    const env = {
      DATABASE_URL: postgres.url,
      REDIS_URL: redis.url,
      NEXTAUTH_SECRET: randomBytes(32).toString('base64url'),
      BERTH_SECRET_KEY: randomBytes(32).toString('hex'),
      BERTH_ALERT_TICK_MS: String(TICK_MS),
    };
    cps.push(await startControlPlane(undefined, { env }));
    cps.push(await startControlPlane(undefined, { env }));
  });

  after(async () => {
    await agent?.kill('SIGKILL');
    for (const cp of cps) {
      await cp.stop();
      removeDir(cp.dataDir);
    }
    await redis?.stop();
    await postgres?.stop();
    receiver?.closeAllConnections();
    await new Promise((r) => receiver?.close(r));
  });

  test('host offline: both processes sweep, one delivery; back on the other process, one resolution', async () => {
    const [a, b] = cps;
    await trpc(a.url).auth.setup.mutate(OWNER);
    const api = trpc(a.url, await signIn(a.url, OWNER.email, OWNER.password));
    const { token } = await api.hosts.createJoinToken.mutate({ name: 'twice-watched' });
    // The agent is held by process B; the rule is made on A.
    agent = spawnTsx(['test/integration/support/protocol-agent.ts', '--server', b.url, '--token', token], {}, 'agent');
    const { hostId, credential } = JSON.parse((await agent.waitFor(/^ENROLLED /)).slice('ENROLLED '.length)) as { hostId: string; credential: string };
    await agent.waitFor(/^CONNECTED/);
    await eventually('A sees the host online', async () => (await api.hosts.get.query({ hostId })).online, PATIENCE_MS);
    await api.alerts.createRule.mutate({ name: 'gone', kind: 'host.offline', options: { graceSeconds: 1 }, hostIds: null, containers: null, quietSeconds: 0, enabled: true, webhook: { kind: 'json', url: hook } });

    await agent.kill('SIGKILL');
    agent = undefined;
    await eventually('the firing delivery', () => bodies.length >= 1, PATIENCE_MS);
    // Both processes keep sweeping every TICK_MS: give them many sweeps to (wrongly) deliver again.
    await new Promise((r) => setTimeout(r, 20 * TICK_MS));
    assert.deepEqual(bodies, [{ status: 'firing', title: 'twice-watched is offline' }]);
    const open = await api.alerts.list.query({ open: true });
    assert.equal(open.length, 1);

    agent = spawnTsx(['test/integration/support/protocol-agent.ts', '--server', a.url, '--host-id', hostId, '--credential', credential], {}, 'agent');
    await agent.waitFor(/^CONNECTED/);
    await eventually('the resolved delivery', () => bodies.length >= 2, PATIENCE_MS);
    await new Promise((r) => setTimeout(r, 20 * TICK_MS));
    assert.deepEqual(bodies, [
      { status: 'firing', title: 'twice-watched is offline' },
      { status: 'resolved', title: 'twice-watched is offline' },
    ]);
    assert.equal((await api.alerts.list.query({ open: true })).length, 0);
  });
});
