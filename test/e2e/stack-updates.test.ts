// A stack's image updates in Chromium, against the real control plane, a real agent and a
// real registry: after newer images are pushed under both services' tags, "Check now" on the
// stack page shows "update available" for both; "Update stack", confirmed, with web's new
// image failing its healthcheck, rolls the whole stack back (the agent's Docker API shows the
// same containers on their old images) and the page says so; with a good web image the next
// update makes both again from the new images. A viewer sees the states and no button (and a
// crafted call is refused); the audit log has both outcomes with a summary per service, and the
// refusal; an update-failed rule opened on the
// rollback and resolved on the success. Everything runs in a network namespace of its own
// (the stack's network needs the engine's bridge, made only outside the machine's namespace):
// the file runs itself again inside it, and the outer run reports how that went.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { signedInPage } from './support/pages';
import { removeAgentLeftovers } from './support/teardown';
import { BUSYBOX_PATH_ENV, pushBusyboxImage } from '../fixtures/busybox-image';
import { createNetns } from '../fixtures/netns';
import { startRegistry } from '../fixtures/registry';
import { addUser, ensureNextBuild, eventually, removeDir, ROOT, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';

const ADMIN = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1234' };
const VIEWER = { email: 'vera@example.test', password: 'viewer-pass-1' };
const PATIENCE_MS = 90_000;
const SHOTS = path.join(ROOT, 'test-results');
const LOOP = 'echo "version $VERSION"; trap "exit 0" TERM; while true; do sleep 0.2; done';
const FAILING = { Healthcheck: { Test: ['CMD-SHELL', 'exit 1'], Interval: 200_000_000, Retries: 2 } };
const isRoot = process.getuid?.() === 0;
const INNER = process.env.BERTH_STACK_UPDATES_E2E_IN_NETNS === '1';

if (!INNER) {
  describe('stack image updates in Chromium, run in a network namespace of their own', { skip: !isRoot && 'needs root', timeout: 16 * 60_000 }, () => {
    test('check, update with rollback, update pass there', () => {
      ensureNextBuild();
      const ns = createNetns('stue2e');
      try {
        const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
        void _ctx;
        const r = spawnSync('timeout', ['-k', '5', '900', 'nsenter', `--net=${ns.path}`, '--', process.execPath, '--import', 'tsx', '--test', '--test-reporter=spec', import.meta.filename], {
          env: { ...env, BERTH_STACK_UPDATES_E2E_IN_NETNS: '1' },
          encoding: 'utf8',
        });
        console.log(r.stdout);
        assert.equal(r.status, 0, `the run in ${ns.name} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
      } finally {
        ns.remove();
      }
    });
  });
}

describe('the stack page: update available, Update stack, rollback', { skip: !INNER && 'runs inside the namespace the outer run makes', timeout: 15 * 60_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let cp: ControlPlane;
  let tmp: string;
  let agent: Child | undefined;
  let hostId: string;
  let owner: ReturnType<typeof trpc>;
  let browser: Browser | undefined;
  let socket: string;
  let ruleId: string;
  const refs: Record<string, string> = {};
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  const push = (svc: 'db' | 'web', version: string, config: Record<string, unknown> = {}) =>
    pushBusyboxImage(registry.url, `e2e-stack/${svc}`, 'stable', { config: { Env: [BUSYBOX_PATH_ENV, `VERSION=${version}`], Cmd: ['sh', '-c', LOOP], ...config } });
  function docker(args: string[]): string {
    const r = spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${socket}`, ...args], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' } });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return r.stdout.trim();
  }
  /** service → "id image" as the agent's Docker API has it. */
  const running = () =>
    Object.fromEntries(
      docker(['ps', '-a', '--filter', 'label=com.docker.compose.project=shop', '--format', '{{.Label "com.docker.compose.service"}} {{.ID}}'])
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' '))
        .map(([svc, id]) => [svc, docker(['inspect', '-f', '{{.Id}} {{.Image}} {{.State.Status}}', id])]),
    );
  const state = (page: Page, svc: string) => page.locator(`[data-testid=stack-update-state][data-service=${svc}]`);
  const shot = async (page: Page, name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `stack-updates-${name}.png`), fullPage: true });
  };

  before(async () => {
    registry = await startRegistry();
    refs.db = (await push('db', '1')).ref;
    refs.web = (await push('web', '1')).ref;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-stack-upd-e2e-'));
    socket = path.join(tmp, 'docker.sock');
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    await addUser(cp, VIEWER.email, VIEWER.password, 'viewer');
    owner = trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password));
    const { token } = await owner.hosts.createJoinToken.mutate({ name: 'stack-host' });
    agent = spawnTsx(['agent/main.ts', '--root', path.join(tmp, 'root'), '--docker-socket', socket, '--server', cp.url, '--token', token], {}, 'agent');
    hostId = /as host (\S+)/.exec(await agent.waitFor(/connected to .* as host \S+/, PATIENCE_MS))![1];
    const compose = `services:\n  db:\n    image: ${refs.db}\n  web:\n    image: ${refs.web}\n    depends_on: [db]\n`;
    await owner.stacks.deploy.mutate({ hostId, name: 'shop', compose, env: '' });
    ruleId = (await owner.alerts.createRule.mutate({ name: 'stack updates', kind: 'update.failed', options: {}, hostIds: null, containers: { labels: { 'com.docker.compose.project': 'shop' } }, quietSeconds: 0, enabled: true, webhook: null })).id;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
      if (agent) await owner.stacks.down.mutate({ hostId, name: 'shop', volumes: true }).catch((e: Error) => console.error(`down: ${e.message}`));
      await agent?.kill('SIGTERM');
    } finally {
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      if (tmp) removeAgentLeftovers(path.join(tmp, 'root'), tmp);
    }
  });

  test('newer images under both tags: "update available" for both; a failing web rolls the whole stack back', async () => {
    const before = running();
    assert.deepEqual(Object.keys(before).sort(), ['db', 'web']);
    await push('db', '2');
    await push('web', '2', FAILING);
    const page = await signedInPage(browser!, cp.url, ADMIN, { problems, contexts, timeoutMs: PATIENCE_MS });
    await page.goto(`${cp.url}/hosts/${hostId}/stacks/shop`);
    await state(page, 'web').waitFor({ timeout: PATIENCE_MS });
    await page.getByTestId('stack-updates-check').click();
    await state(page, 'db').and(page.locator('[data-state=update-available]')).waitFor({ timeout: PATIENCE_MS });
    await state(page, 'web').and(page.locator('[data-state=update-available]')).waitFor({ timeout: PATIENCE_MS });
    assert.match((await state(page, 'web').textContent()) ?? '', /update available/);
    await page.getByTestId('stack-update').click();
    const dialog = page.getByTestId('stack-update-confirm');
    await dialog.waitFor();
    const sentence = (await dialog.getByTestId('stack-update-sentence').textContent()) ?? '';
    assert.ok(sentence.includes(`Pull the images of 2 services of shop (${refs.db}, ${refs.web})`), sentence);
    assert.ok(sentence.includes('(update available now: db, web)'), sentence);
    await shot(page, 'confirm');
    await dialog.getByTestId('stack-update-confirm-confirm').click();
    const result = page.getByTestId('stack-update-result');
    await result.and(page.locator('[data-outcome=rolled-back]')).waitFor({ timeout: PATIENCE_MS * 2 });
    assert.match((await result.textContent()) ?? '', /rolled back: web: new container unhealthy/);
    assert.equal(await result.locator('[data-testid=stack-update-service][data-service=db]').getAttribute('data-outcome'), 'rolled-back');
    await shot(page, 'rolled-back');
    const after = running();
    assert.deepEqual(after, before, 'the same containers on their old images, running');
    assert.match(after.web, / running$/);
    const open = (await owner.alerts.list.query({ open: true })).filter((a) => a.ruleId === ruleId);
    assert.equal(open.length, 1, 'one alert: web, which did not come up (db was only put back with it)');
    assert.match(String(open[0].detail.container), /web/);
    assert.equal(open[0].detail.stack, 'shop');
  });

  test('a viewer sees the states and no Update stack button', async () => {
    const page = await signedInPage(browser!, cp.url, VIEWER, { problems, contexts, timeoutMs: PATIENCE_MS });
    await page.goto(`${cp.url}/hosts/${hostId}/stacks/shop`);
    await state(page, 'web').and(page.locator('[data-state=update-available]')).waitFor({ timeout: PATIENCE_MS });
    assert.equal(await page.getByTestId('stack-update').count(), 0);
    await assert.rejects(trpc(cp.url, await signIn(cp.url, VIEWER.email, VIEWER.password)).updates.updateStack.mutate({ hostId, name: 'shop' }), /viewer/);
  });

  test('with a good web image, Update stack makes both again from the new images', async () => {
    const before = running();
    const web3 = await push('web', '3');
    const page = await signedInPage(browser!, cp.url, ADMIN, { problems, contexts, timeoutMs: PATIENCE_MS });
    await page.goto(`${cp.url}/hosts/${hostId}/stacks/shop`);
    await page.getByTestId('stack-update').click();
    await page.getByTestId('stack-update-confirm').getByTestId('stack-update-confirm-confirm').click();
    const result = page.getByTestId('stack-update-result');
    await result.and(page.locator('[data-outcome=updated]')).waitFor({ timeout: PATIENCE_MS * 2 });
    assert.equal((await result.locator('p').textContent())?.trim(), 'updated db, web; 0 up to date');
    const after = running();
    for (const svc of ['db', 'web']) assert.notEqual(after[svc].split(' ')[0], before[svc].split(' ')[0], `${svc}: a new container`);
    assert.equal(after.web.split(' ')[1], web3.configDigest);
    await state(page, 'web').and(page.locator('[data-state=up-to-date]')).waitFor({ timeout: PATIENCE_MS });
    const audit = (await owner.audit.list.query({ action: 'stacks.updateImages' })).map((r) => r.result);
    assert.equal(audit.length, 3, audit.join('\n'));
    assert.ok(audit.some((r) => /^error: FORBIDDEN: The viewer role cannot do this/.test(r)), "the viewer's refused try is recorded too");
    assert.ok(audit.some((r) => /^rolled back: web: .* — db \(.*\): rolled-back: rolled back with the stack/.test(r)), audit.join('\n'));
    assert.ok(audit.some((r) => /^ok: updated db, web; 0 up to date — db \(.*\): updated: updated shop-db-1 to /.test(r)), audit.join('\n'));
    await eventually('the alert resolved', async () => !(await owner.alerts.list.query({ open: true })).some((a) => a.ruleId === ruleId), PATIENCE_MS);
    assert.deepEqual(problems, []);
  });
});
