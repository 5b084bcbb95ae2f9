// The "update failed" alert end to end: the real control plane, a real agent, a real registry
// on loopback and a webhook receiver on loopback. A container is updated to an image whose
// healthcheck fails: the update is rolled back and the rule fires once, as JSON naming the
// host, the container and why; a second failed update while it is open delivers nothing new
// (de-duplicated) but the alert shows the latest failure; a later update to a good image
// resolves it (delivered as resolved); a failure again within the quiet period opens a new
// alert without a webhook.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUSYBOX_PATH_ENV, pushBusyboxImage } from '../fixtures/busybox-image';
import { mountsUnder } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { ensureNextBuild, eventually, removeDir, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from './support/control-plane';

const ADMIN = { email: 'upd-alerts@example.test', name: 'Upd', password: 'upd-alerts-pass-123' };
const PATIENCE_MS = 90_000;
const LOOP = 'echo "version $VERSION"; trap "exit 0" TERM; while true; do sleep 0.2; done';
const FAILING = { Healthcheck: { Test: ['CMD-SHELL', 'exit 1'], Interval: 200_000_000, Retries: 2 } };

describe('"update failed" alerts from real image updates', { timeout: 400_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let cp: ControlPlane;
  let agent: Child;
  let tmp: string;
  let hostId: string;
  let api: ReturnType<typeof trpc>;
  let receiver: http.Server;
  let hook = '';
  let ref = '';
  let ruleId = '';
  const hits: Array<{ path: string; body: string }> = [];
  const made: string[] = [];
  const push = (version: string, config: Record<string, unknown> = {}) =>
    pushBusyboxImage(registry.url, 'alerts/upd', 'stable', { config: { Env: [BUSYBOX_PATH_ENV, `VERSION=${version}`], Cmd: ['sh', '-c', LOOP], ...config } });
  const update = () => api.updates.update.mutate({ hostId, id: 'app', healthTimeoutSec: 20 });
  const ours = async (open?: boolean) => (await api.alerts.list.query(open === undefined ? {} : { open })).filter((a) => a.ruleId === ruleId);

  before(async () => {
    ensureNextBuild();
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        hits.push({ path: req.url ?? '', body });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hook = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/upd`;
    registry = await startRegistry();
    ({ ref } = await push('1'));
    cp = await startControlPlane(undefined, { env: { BERTH_ALERT_TICK_MS: '500', BERTH_ALERT_BACKOFF_MS: '100' } });
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-upd-alerts-'));
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    api = trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password));
    const { token } = await api.hosts.createJoinToken.mutate({ name: 'upd-host' });
    agent = spawnTsx(['agent/main.ts', '--root', path.join(tmp, 'root'), '--docker-socket', path.join(tmp, 'docker.sock'), '--server', cp.url, '--token', token], {}, 'agent');
    hostId = /as host (\S+)/.exec(await agent.waitFor(/connected to .* as host \S+/, 60_000))![1];
    await api.images.pull.mutate({ hostId, ref });
    const { id } = await api.containers.run.mutate({ hostId, image: ref, name: 'app' });
    made.push(id);
  });

  after(async () => {
    try {
      // By name: each update gives it a new id.
      if (made.length) await api.containers.remove.mutate({ hostId, id: 'app', force: true }).catch(() => {});
    } finally {
      await agent?.kill('SIGTERM');
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      receiver?.closeAllConnections();
      await new Promise((r) => receiver?.close(r));
      if (tmp) {
        const left = mountsUnder(tmp);
        if (!left.length) removeDir(tmp);
        else console.error(`mounts left under ${tmp}, not deleting ${tmp}:\n${left.join('\n')}`);
      }
    }
  });

  test('the kind is refused with an option it does not have, and saved with its defaults', async () => {
    await assert.rejects(
      api.alerts.createRule.mutate({ name: 'bad', kind: 'update.failed', options: { everything: true }, hostIds: null, containers: null, quietSeconds: 0, enabled: true, webhook: null }),
      /everything/,
    );
    const rule = await api.alerts.createRule.mutate({
      name: 'updates',
      kind: 'update.failed',
      options: {},
      hostIds: [hostId],
      containers: { names: ['app'] },
      quietSeconds: 3600,
      enabled: true,
      webhook: { kind: 'json', url: hook },
    });
    ruleId = rule.id;
    assert.deepEqual((await api.alerts.rules.query()).find((r) => r.id === ruleId)?.options, { automaticOnly: false });
  });

  test('an update to an image whose healthcheck fails is rolled back and fires the rule once, as JSON', async () => {
    await push('2', FAILING);
    const out = await update();
    assert.equal(out.outcome, 'rolled-back', out.message);
    await eventually('the firing delivery', () => hits.length >= 1, PATIENCE_MS);
    const body = JSON.parse(hits[0].body);
    assert.equal(body.status, 'firing');
    assert.equal(body.rule.kind, 'update.failed');
    assert.deepEqual(body.host, { id: hostId, name: 'upd-host' });
    assert.deepEqual(body.container, { id: out.containerId, name: 'app' });
    assert.equal(body.detail.outcome, 'rolled-back');
    assert.equal(body.detail.image, ref);
    assert.match(body.detail.message, /^rolled back: new container unhealthy after \d+ s/);
    assert.match(body.alert.title, /^update of app \(.*alerts\/upd:stable\) on upd-host was rolled back: new container unhealthy/);
    const open = await ours(true);
    assert.deepEqual(open.map((a) => a.delivery), ['firing: ok 200']);
  });

  test('a second failed update while it is open delivers nothing new; the alert shows the latest failure', async () => {
    await push('3', { Cmd: ['sh', '-c', 'exit 3'] });
    const out = await update();
    assert.equal(out.outcome, 'rolled-back', out.message);
    const open = await eventually('the alert shows the exit', async () => (await ours(true)).find((a) => /exited \(code 3\)/.test(String(a.detail.message))), PATIENCE_MS);
    assert.equal((await ours()).length, 1, 'one alert, not two');
    assert.equal(open.open, true);
    assert.equal(hits.length, 1, hits.map((h) => h.body).join('\n'));
  });

  test('a later update to a good image succeeds and resolves it (delivered as resolved)', async () => {
    await push('4');
    const out = await update();
    assert.equal(out.outcome, 'updated', out.message);
    await eventually('the resolved delivery', () => hits.length >= 2, PATIENCE_MS);
    const body = JSON.parse(hits[1].body);
    assert.equal(body.status, 'resolved');
    assert.equal(body.rule.kind, 'update.failed');
    assert.deepEqual(await ours(true), []);
    const [done] = await ours();
    assert.ok(done.resolvedAt, JSON.stringify(done));
  });

  test('failing again within the quiet period opens a new alert without a webhook', async () => {
    await push('5', FAILING);
    const out = await update();
    assert.equal(out.outcome, 'rolled-back', out.message);
    const open = await eventually('the new alert', async () => (await ours(true))[0], PATIENCE_MS);
    assert.equal(open.delivery, 'quiet');
    assert.equal((await ours()).length, 2);
    assert.equal(hits.length, 2, 'no third delivery');
    const audit = (await api.audit.list.query()).filter((a) => a.action === 'containers.updateImage').map((a) => a.result);
    assert.equal(audit.length, 4, audit.join('\n'));
  });
});
