// Alerts end to end: the real control plane, the real agent and engine, real containers, and
// a webhook receiver on loopback (a node http server here). A container that exits 3 fires
// "container died" once, as JSON naming the host, the container and the exit code; a
// container that prints a pattern fires a log rule evaluated on the agent (Slack-shaped); the
// agent's root disk reading (statfs) reaches a disk rule; a stopped agent fires "host
// offline" (ntfy-shaped) after its grace period and resolves when it is back. A restart loop
// and a busy container's CPU open their rules from the engine's real state and readings.
import assert from 'node:assert/strict';
import { mkdtempSync, statfsSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { mountsUnder } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { ensureNextBuild, eventually, removeDir, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from './support/control-plane';

const ADMIN = { email: 'alerts@example.test', name: 'Alerts', password: 'alerts-pass-123' };
// Waits end on what they wait for; this only keeps a broken run from hanging.
const PATIENCE_MS = 90_000;

interface Hit {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('alerts with a real agent and a webhook receiver on loopback', { timeout: 400_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let pushed: Awaited<ReturnType<typeof pushBusyboxImage>>;
  let cp: ControlPlane;
  let agent: Child;
  let tmp: string;
  let agentRoot: string;
  let hostId: string;
  let api: ReturnType<typeof trpc>;
  let receiver: http.Server;
  let hook = '';
  const hits: Hit[] = [];
  const made: string[] = [];
  const at = (p: string) => hits.filter((h) => h.path === p);

  const startAgent = (token?: string) =>
    spawnTsx(['agent/main.ts', '--root', agentRoot, '--docker-socket', path.join(tmp, 'docker.sock'), '--server', cp.url, ...(token ? ['--token', token] : [])], { BERTH_AGENT_METRICS_MS: '1000' }, 'agent');

  before(async () => {
    ensureNextBuild();
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        hits.push({ path: req.url ?? '', headers: req.headers, body });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hook = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
    registry = await startRegistry();
    pushed = await pushBusyboxImage(registry.url, 'alerts/busybox', 'v1');
    cp = await startControlPlane(undefined, { env: { BERTH_ALERT_TICK_MS: '500', BERTH_ALERT_BACKOFF_MS: '100' } });
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-alerts-'));
    agentRoot = path.join(tmp, 'root');
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    api = trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password));
    const { token } = await api.hosts.createJoinToken.mutate({ name: 'alert-host' });
    agent = startAgent(token);
    hostId = /as host (\S+)/.exec(await agent.waitFor(/connected to .* as host \S+/, 60_000))![1];
    await api.images.pull.mutate({ hostId, ref: pushed.ref });
  });

  after(async () => {
    try {
      for (const id of made) await api.containers.remove.mutate({ hostId, id, force: true }).catch(() => {});
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

  test('a container that exits 3 fires "container died" once, as JSON naming host, container and exit code', async () => {
    const rule = await api.alerts.createRule.mutate({
      name: 'dies',
      kind: 'container.died',
      options: {},
      hostIds: [hostId],
      containers: { names: ['dies'] },
      quietSeconds: 300,
      enabled: true,
      webhook: { kind: 'json', url: `${hook}/json/secret-path-token` },
    });
    // The browser's view of the rule: the URL's secret part never comes back.
    const seen = (await api.alerts.rules.query()).find((r) => r.id === rule.id)!;
    assert.equal(seen.webhook?.kind, 'json');
    assert.ok(!JSON.stringify(seen).includes('secret-path-token'), JSON.stringify(seen));
    assert.match(seen.webhook!.hint, /^http:\/\/127\.0\.0\.1:\d+\/jso…$/);

    const { id } = await api.containers.run.mutate({ hostId, image: pushed.ref, name: 'dies', command: "sh -c 'exit 3'" });
    made.push(id);
    await eventually('the JSON delivery', () => at('/json/secret-path-token').length >= 1, PATIENCE_MS);
    const body = JSON.parse(at('/json/secret-path-token')[0].body);
    assert.equal(body.status, 'firing');
    assert.equal(body.rule.name, 'dies');
    assert.deepEqual(body.host, { id: hostId, name: 'alert-host' });
    assert.deepEqual(body.container, { id, name: 'dies' });
    assert.equal(body.detail.exitCode, 3);
    assert.match(body.alert.title, /dies on alert-host exited with code 3/);
    const open = await api.alerts.list.query({ open: true });
    assert.deepEqual(
      open.filter((a) => a.ruleId === rule.id).map((a) => [a.title, a.delivery]),
      [['dies on alert-host exited with code 3', 'firing: ok 200']],
    );
    assert.equal((await api.alerts.openCount.query()).count >= 1, true);
  });

  test('a log-pattern rule fires when the container prints the pattern, matched on the agent, delivered Slack-shaped', async () => {
    const rule = await api.alerts.createRule.mutate({
      name: 'fire in the log',
      kind: 'log.pattern',
      options: { pattern: 'disk on f[i]re', minIntervalSec: 60 },
      hostIds: null,
      containers: { names: ['talker'] },
      quietSeconds: 0,
      enabled: true,
      webhook: { kind: 'slack', url: `${hook}/slack` },
    });
    // Printed after the rule reached the agent (the rule is sent at once) and a second later, to be sure it is a new line.
    const { id } = await api.containers.run.mutate({ hostId, image: pushed.ref, name: 'talker', command: "sh -c 'echo starting; sleep 2; echo \"ERROR: disk on FIRE\"; echo \"ERROR: disk on fire again\"; sleep 1000'" });
    made.push(id);
    await eventually('the Slack delivery', () => at('/slack').length >= 1, PATIENCE_MS);
    const body = JSON.parse(at('/slack')[0].body) as { text: string };
    assert.deepEqual(Object.keys(body), ['text']);
    assert.match(body.text, /^\[FIRING\] talker on alert-host: log matched/);
    assert.match(body.text, /ERROR: disk on FIRE/);
    const alert = (await api.alerts.list.query({ open: true })).find((a) => a.ruleId === rule.id)!;
    assert.equal(alert.detail.line, 'ERROR: disk on FIRE');
    assert.equal(alert.detail.container, 'talker');
    assert.ok(typeof alert.detail.seq === 'number' && alert.detail.seq > 'starting\n'.length, `the line's seq in the container's log: ${alert.detail.seq}`);
    // The line's seq is the one the log view pages by: the line right before it is "starting".
    const page = await api.logs.page.query({ source: { hostId, containerId: id }, before: alert.detail.seq as number, limit: 1 });
    assert.deepEqual(
      page.entries.map((e) => e.line.trim()),
      ['starting'],
    );
  });

  test("the agent reports its root's free space (statfs): a disk rule sees it", async () => {
    const rule = await api.alerts.createRule.mutate({ name: 'disk', kind: 'host.disk', options: { freeBelowPercent: 100 }, hostIds: null, containers: null, quietSeconds: 0, enabled: true, webhook: null });
    const alert = await eventually('the disk alert', async () => (await api.alerts.list.query({ open: true })).find((a) => a.ruleId === rule.id), PATIENCE_MS);
    const fs = statfsSync(agentRoot);
    assert.equal(alert.detail.totalBytes, Number(fs.blocks) * Number(fs.bsize));
    const free = alert.detail.freeBytes as number;
    // Free space moves as the machine writes; within 5 % of the disk of what statfs says now.
    assert.ok(Math.abs(free - Number(fs.bavail) * Number(fs.bsize)) < 0.05 * (alert.detail.totalBytes as number), `${free} vs ${Number(fs.bavail) * Number(fs.bsize)}`);
    assert.equal(alert.delivery, 'none');
    await api.alerts.deleteRule.mutate({ ruleId: rule.id });
  });

  test('a restart loop: a container its policy restarts 3 times opens the rule once', async () => {
    const rule = await api.alerts.createRule.mutate({ name: 'flapping', kind: 'container.restarts', options: { count: 3, withinMinutes: 5 }, hostIds: null, containers: { names: ['flappy'] }, quietSeconds: 0, enabled: true, webhook: null });
    const { id } = await api.containers.run.mutate({
      hostId,
      image: pushed.ref,
      name: 'flappy',
      command: "sh -c 'exit 1'",
      options: { ports: [], mounts: [], network: '', env: [], restart: { policy: 'on-failure', maxRetries: '3' } },
    });
    made.push(id);
    const alert = await eventually('the restart-loop alert', async () => (await api.alerts.list.query({ open: true })).find((a) => a.ruleId === rule.id), PATIENCE_MS);
    assert.equal(alert.detail.container, 'flappy');
    assert.ok((alert.detail.restarts as number) >= 3, JSON.stringify(alert.detail));
    await api.alerts.deleteRule.mutate({ ruleId: rule.id });
  });

  test("a container's CPU above the threshold for the duration opens; removing the container resolves it", async () => {
    const rule = await api.alerts.createRule.mutate({ name: 'busy', kind: 'metric.cpu', options: { target: 'container', abovePercent: 30, forSeconds: 2 }, hostIds: null, containers: { names: ['spin'] }, quietSeconds: 0, enabled: true, webhook: null });
    const { id } = await api.containers.run.mutate({ hostId, image: pushed.ref, name: 'spin', command: "sh -c 'while :; do :; done'" });
    made.push(id);
    const alert = await eventually('the CPU alert', async () => (await api.alerts.list.query({ open: true })).find((a) => a.ruleId === rule.id), PATIENCE_MS);
    assert.equal(alert.detail.container, 'spin');
    assert.ok((alert.detail.value as number) > 30, JSON.stringify(alert.detail));
    await api.containers.remove.mutate({ hostId, id, force: true });
    await eventually('resolved', async () => !(await api.alerts.list.query({ open: true })).some((a) => a.ruleId === rule.id), PATIENCE_MS);
    const done = (await api.alerts.list.query({})).find((a) => a.ruleId === rule.id)!;
    assert.ok(done.resolvedAt && Date.parse(done.resolvedAt) >= Date.parse(done.openedAt));
    await api.alerts.deleteRule.mutate({ ruleId: rule.id });
  });

  test('host offline fires after the agent is stopped (ntfy-shaped) and resolves when it is back', async () => {
    await api.alerts.createRule.mutate({ name: 'gone', kind: 'host.offline', options: { graceSeconds: 2 }, hostIds: [hostId], containers: null, quietSeconds: 0, enabled: true, webhook: { kind: 'ntfy', url: `${hook}/ntfy/berth-topic` } });
    assert.equal(at('/ntfy/berth-topic').length, 0, 'online: nothing fires');
    const stoppedAt = Date.now();
    await agent.kill('SIGTERM');
    await eventually('the ntfy delivery', () => at('/ntfy/berth-topic').length >= 1, PATIENCE_MS);
    assert.ok(Date.now() - stoppedAt >= 2_000, 'not before the grace period');
    const fired = at('/ntfy/berth-topic')[0];
    assert.equal(fired.headers.title, 'Alert: gone');
    assert.equal(fired.headers.priority, '4');
    assert.equal(fired.headers.tags, 'warning,berth');
    assert.match(fired.headers['content-type'] ?? '', /^text\/plain/);
    assert.equal(fired.body, '[FIRING] alert-host is offline (rule "gone")');
    assert.equal((await api.alerts.list.query({ open: true })).filter((a) => a.title === 'alert-host is offline').length, 1);

    agent = startAgent();
    await agent.waitFor(/connected to .* as host \S+/, 60_000);
    await eventually('the resolved delivery', () => at('/ntfy/berth-topic').length >= 2, PATIENCE_MS);
    const resolved = at('/ntfy/berth-topic')[1];
    assert.equal(resolved.headers.title, 'Resolved: gone');
    assert.equal(resolved.headers.priority, '3');
    assert.equal(resolved.body, '[RESOLVED] alert-host is offline (rule "gone")');
    assert.equal((await api.alerts.list.query({ open: true })).filter((a) => a.title === 'alert-host is offline').length, 0);
  });

  test('after all of it, "container died" was delivered once; its alert is still the one open (the agent came back to the same dead container)', async () => {
    // The reconnected agent's snapshot has been evaluated (its log rules were sent again with it).
    await eventually('a snapshot after the reconnect', async () => (await api.hosts.get.query({ hostId })).online, PATIENCE_MS);
    assert.equal(at('/json/secret-path-token').length, 1, hits.map((h) => h.path).join(', '));
    const dies = (await api.alerts.list.query({})).filter((a) => a.ruleName === 'dies');
    assert.deepEqual(
      dies.map((a) => a.open),
      [true],
    );
    const audit = (await api.audit.list.query()).filter((a) => a.action.startsWith('alerts.')).map((a) => a.action);
    assert.ok(audit.includes('alerts.createRule') && audit.includes('alerts.deleteRule'), audit.join(', '));
  });
});
