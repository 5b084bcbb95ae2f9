// Image updates in Chromium, against the real control plane, a real agent and a real
// registry on loopback: "update available" appears on the host page only once another image
// is pushed under the container's tag (and "Check for image updates" is clicked); the
// operator's Update runs it (checked on the agent's own Docker API: same name, the new image,
// its env); an image whose healthcheck fails, updated from the container page, is rolled
// back and the page says so; a viewer sees the badge and no button; the audit log has both
// outcomes. No page may break the CSP.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { signedInPage } from './support/pages';
import { BUSYBOX_PATH_ENV, pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { addUser, ensureNextBuild, eventually, removeDir, ROOT, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';
import { removeAgentLeftovers } from './support/teardown';

const ADMIN = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1234' };
const OPERATOR = { email: 'oscar@example.test', password: 'operator-pass-1' };
const VIEWER = { email: 'vera@example.test', password: 'viewer-pass-1' };
const PATIENCE_MS = 90_000;
const SHOTS = path.join(ROOT, 'test-results');
const LOOP = 'echo "version $VERSION"; trap "exit 0" TERM; while true; do sleep 0.2; done';

describe('image updates on the host and container pages', { timeout: 15 * 60_000 }, () => {
  const STEP = { timeout: 5 * 60_000 };
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let cp: ControlPlane;
  let tmp: string;
  let agentRoot: string;
  let dockerSocket: string;
  let agent: Child | undefined;
  let hostId: string;
  let ref: string;
  let owner: ReturnType<typeof trpc>;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const cspProblems: string[] = [];
  const push = (version: string, config: Record<string, unknown> = {}) =>
    pushBusyboxImage(registry.url, 'e2e/app', 'stable', { config: { Env: [BUSYBOX_PATH_ENV, `VERSION=${version}`], Cmd: ['sh', '-c', LOOP], ...config } });

  function dockerApi(method: string, urlPath: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: dockerSocket, method, path: urlPath, timeout: 30_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
      req.on('error', reject);
      req.end();
    });
  }
  async function agentContainer(name: string): Promise<{ Id: string; Image: string; Name: string; State: { Running: boolean }; Config: { Env: string[] }; HostConfig: { RestartPolicy: { Name: string } }; Mounts: Array<{ Name?: string; Destination: string }> }> {
    const res = await dockerApi('GET', `/containers/${name}/json`);
    assert.equal(res.status, 200, `inspect ${name}: ${res.body}`);
    return JSON.parse(res.body);
  }
  const newPage = (who: { email: string; password: string }): Promise<Page> => signedInPage(browser!, cp.url, who, { problems: cspProblems, contexts, timeoutMs: PATIENCE_MS });
  const shot = async (page: Page, name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `updates-${name}.png`), fullPage: true });
  };
  const row = (page: Page) => page.locator('[data-testid=container-row][data-container-name=app]');

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry();
    ref = (await push('1')).ref;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-upd-e2e-'));
    agentRoot = path.join(tmp, 'root');
    dockerSocket = path.join(tmp, 'docker.sock');
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    await addUser(cp, OPERATOR.email, OPERATOR.password, 'operator');
    await addUser(cp, VIEWER.email, VIEWER.password, 'viewer');
    owner = trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password));
    const { token } = await owner.hosts.createJoinToken.mutate({ name: 'upd-host' });
    agent = spawnTsx(['agent/main.ts', '--root', agentRoot, '--docker-socket', dockerSocket, '--server', cp.url, '--token', token], {}, 'agent');
    hostId = /as host (\S+)/.exec(await agent.waitFor(/connected to .* as host \S+/, 60_000))![1];
    await owner.containers.run.mutate({ hostId, image: ref, name: 'app', options: {
        ports: [],
        mounts: [{ source: 'app-data', target: '/data', readOnly: false }],
        network: '',
        env: [{ key: 'GREETING', value: 'hello world' }],
        restart: { policy: 'unless-stopped', maxRetries: '' },
      },
    });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
      for (const p of ['/containers/app?force=true', '/volumes/app-data']) {
        const res = await dockerApi('DELETE', p).catch((err: Error) => ({ status: 0, body: err.message }));
        if (res.status !== 204 && res.status !== 404) console.error(`cleanup: DELETE ${p}: ${res.status} ${res.body}`);
      }
      await agent?.kill('SIGTERM');
    } finally {
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      removeAgentLeftovers(agentRoot, tmp);
    }
  });

  test('"update available" appears after a push under the tag, and Update runs the new image', STEP, async () => {
    const v1 = await agentContainer('app');
    const page = await newPage(OPERATOR);
    await page.goto(`${cp.url}/hosts/${hostId}`);
    await row(page).locator('[data-testid=update-status][data-update-state=up-to-date]').waitFor({ state: 'attached' });
    assert.equal(await row(page).getByTestId('update-available').count(), 0, 'nothing new yet');

    const v2 = await push('2');
    // The agent's answer is cached; "check now" asks the registry again.
    await page.getByTestId('updates-check').click();
    await row(page).getByTestId('update-available').waitFor();
    await shot(page, 'available');

    await row(page).getByTestId('update-button').click();
    const dialog = page.getByTestId('update-dialog');
    await dialog.waitFor();
    assert.match((await dialog.textContent()) ?? '', /made again from the new image, with the same settings/);
    await dialog.getByRole('button', { name: 'Update' }).click();
    await row(page).locator('[data-testid=update-result][data-phase=updated]').waitFor();
    await row(page).locator('[data-testid=update-status][data-update-state=up-to-date]').waitFor({ state: 'attached' });
    await shot(page, 'updated');

    const now = await agentContainer('app');
    assert.notEqual(now.Id, v1.Id, 'a new container under the same name');
    assert.equal(now.Name, '/app');
    assert.equal(now.Image, v2.configDigest);
    assert.equal(now.State.Running, true);
    assert.ok(now.Config.Env.includes('GREETING=hello world'), now.Config.Env.join(' '));
    assert.ok(now.Config.Env.includes('VERSION=2'));
    assert.equal(now.HostConfig.RestartPolicy.Name, 'unless-stopped');
    assert.deepEqual(now.Mounts.map((m) => [m.Name, m.Destination]), [['app-data', '/data']]);
    assert.equal((await dockerApi('GET', `/containers/${v1.Id}/json`)).status, 404, 'the old container is gone');
    // The row's link is the new container's.
    assert.equal(await row(page).getAttribute('data-container-id'), now.Id);
  });

  test('an image whose healthcheck fails, updated from the container page, is rolled back; a viewer gets no button', STEP, async () => {
    const before = await agentContainer('app');
    await push('3', { Healthcheck: { Test: ['CMD-SHELL', 'exit 1'], Interval: 200_000_000, Retries: 2 } });
    await owner.updates.check.mutate({ hostId });

    const viewer = await newPage(VIEWER);
    await viewer.goto(`${cp.url}/hosts/${hostId}`);
    await row(viewer).getByTestId('update-available').waitFor();
    assert.equal(await viewer.getByTestId('update-button').count(), 0, 'no Update for a viewer');
    assert.equal(await viewer.getByTestId('updates-check').count(), 0, 'no check now for a viewer');

    const page = await newPage(OPERATOR);
    await page.goto(`${cp.url}/hosts/${hostId}/containers/${before.Id}`);
    await page.getByTestId('update-available').waitFor();
    assert.equal(await page.getByTestId('container-auto-update').textContent(), 'off', 'no label: no automatic updates');
    await page.getByTestId('update-button').click();
    await page.getByTestId('update-dialog').getByRole('button', { name: 'Update' }).click();
    const result = page.locator('[data-testid=update-result][data-phase=rolled-back]');
    await result.waitFor();
    assert.match((await result.textContent()) ?? '', /^rolled back: new container unhealthy/);
    await shot(page, 'rolled-back');
    assert.equal(page.url(), `${cp.url}/hosts/${hostId}/containers/${before.Id}`, 'still the same container');

    const now = await agentContainer('app');
    assert.equal(now.Id, before.Id, 'the old container runs again');
    assert.equal(now.Image, before.Image, 'with its old image');
    assert.equal(now.State.Running, true);

    const audit = await eventually('both updates in the audit log', async () => {
      const rows = (await owner.audit.list.query()).filter((r: { action: string }) => r.action === 'containers.updateImage');
      return rows.length >= 2 ? rows : undefined;
    }, PATIENCE_MS);
    const results = audit.map((r: { result: string }) => r.result);
    assert.ok(results.some((r: string) => /^ok: updated app/.test(r)), results.join(' | '));
    assert.ok(results.some((r: string) => /^rolled back: new container unhealthy/.test(r)), results.join(' | '));
    assert.deepEqual(cspProblems, []);
  });
});
