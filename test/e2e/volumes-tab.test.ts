// The host page's volumes, in Chromium, against the real control plane and a real agent:
// an operator creates volumes (named with labels and tmpfs driver options, and anonymous),
// inspects one, sees which container uses one, is refused removing a volume in use with the
// engine's words, removes one and prunes the unused; every step is checked against the
// agent's own Docker API and the audit log. A viewer sees the list and its details but no
// buttons, and a crafted call as the viewer is refused and audited. No page breaks the CSP.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { signedInPage } from './support/pages';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { addUser, ensureNextBuild, eventually, removeDir, ROOT, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';
import { removeAgentLeftovers } from './support/teardown';

const ADMIN = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1234' };
const OPERATOR = { email: 'oscar@example.test', password: 'operator-pass-1' };
const VIEWER = { email: 'vera@example.test', password: 'viewer-pass-1' };
const PATIENCE_MS = 60_000;
const SHOTS = path.join(ROOT, 'test-results');

interface DockerVolume {
  Name: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
  Mountpoint: string;
}

describe('the host page\'s volumes', { timeout: 15 * 60_000 }, () => {
  const STEP = { timeout: 5 * 60_000 };
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let cp: ControlPlane;
  let tmp: string;
  let agentRoot: string;
  let dockerSocket: string;
  let agent: Child | undefined;
  let hostId: string;
  let image: string;
  let owner: ReturnType<typeof trpc>;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const cspProblems: string[] = [];

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
  const agentVolumes = async () => {
    const r = await dockerApi('GET', '/volumes');
    assert.equal(r.status, 200, r.body);
    return (JSON.parse(r.body) as { Volumes: DockerVolume[] }).Volumes;
  };

  function docker(args: string[]): string {
    const r = spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${dockerSocket}`, ...args], {
      encoding: 'utf8',
      env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return r.stdout.trim();
  }

  const newPage = (who: { email: string; password: string }): Promise<Page> => signedInPage(browser!, cp.url, who, { problems: cspProblems, contexts, timeoutMs: PATIENCE_MS });


  const shot = async (page: Page, name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `volumes-${name}.png`), fullPage: true });
  };
  const row = (page: Page, name: string) => page.locator(`[data-testid=volume-row][data-volume-name="${name}"]`);

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'vol/busybox', 'v1')).ref;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-voltab-'));
    agentRoot = path.join(tmp, 'root');
    dockerSocket = path.join(tmp, 'docker.sock');
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    await addUser(cp, OPERATOR.email, OPERATOR.password, 'operator');
    await addUser(cp, VIEWER.email, VIEWER.password, 'viewer');
    owner = trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password));
    const { token } = await owner.hosts.createJoinToken.mutate({ name: 'vol-host' });
    agent = spawnTsx(['agent/main.ts', '--root', agentRoot, '--docker-socket', dockerSocket, '--server', cp.url, '--token', token], {}, 'agent');
    hostId = /as host (\S+)/.exec(await agent.waitFor(/connected to .* as host \S+/, 60_000))![1];
    await owner.images.pull.mutate({ hostId, ref: image });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
      if (agent) {
        for (const id of docker(['ps', '-aq']).split('\n').filter(Boolean)) docker(['rm', '-f', id]);
        for (const v of docker(['volume', 'ls', '-q']).split('\n').filter(Boolean)) docker(['volume', 'rm', '-f', v]);
      }
      await agent?.kill('SIGTERM');
    } finally {
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      removeAgentLeftovers(agentRoot, tmp);
    }
  });

  test('an operator creates, inspects, removes and prunes volumes; the page, the agent and the audit log agree', STEP, async () => {
    const page = await newPage(OPERATOR);
    await page.goto(`${cp.url}/hosts/${hostId}`);
    await page.getByTestId('volumes-table').getByText('No volumes.').waitFor();

    await page.getByLabel('Volume name', { exact: true }).fill('webdata');
    await page.getByLabel('Labels (key=value per line)').fill('team=web\ntier');
    await page.getByLabel('Driver options (key=value per line)').fill('type=tmpfs\ndevice=tmpfs\no=size=8m');
    await page.getByRole('button', { name: 'Create volume' }).click();
    await page.getByTestId('volume-created').getByText('Created webdata').waitFor();
    await row(page, 'webdata').waitFor();
    assert.equal(await row(page, 'webdata').getByTestId('volume-labels').textContent(), 'team=web, tier');
    assert.equal(await row(page, 'webdata').getByTestId('volume-options').textContent(), 'type=tmpfs, device=tmpfs, o=size=8m');
    const web = (await agentVolumes()).find((v) => v.Name === 'webdata');
    assert.deepEqual([web?.Labels, web?.Options], [{ team: 'web', tier: '' }, { type: 'tmpfs', device: 'tmpfs', o: 'size=8m' }]);

    await page.getByLabel('Volume name', { exact: true }).fill('plain');
    await page.getByRole('button', { name: 'Create volume' }).click();
    await row(page, 'plain').waitFor();
    // No name: an anonymous volume, as `docker volume create` makes one.
    await page.getByRole('button', { name: 'Create volume' }).click();
    await page.locator('[data-testid=volume-row]', { hasText: 'anonymous' }).waitFor();
    assert.equal((await agentVolumes()).length, 3);
    // A name the engine refuses: its words on the page, nothing made.
    await page.getByLabel('Volume name', { exact: true }).fill('bad/name');
    await page.getByRole('button', { name: 'Create volume' }).click();
    await page.getByTestId('volume-create-error').getByText(/includes invalid characters for a local volume name/).waitFor();
    assert.equal((await agentVolumes()).length, 3);

    await row(page, 'webdata').getByTestId('volume-inspect').click();
    const details = page.locator('[data-testid=volume-details][data-volume-name=webdata]');
    assert.equal(await details.getByTestId('volume-inspect-mountpoint').textContent(), web!.Mountpoint);
    assert.equal(await details.getByTestId('volume-inspect-driver').textContent(), 'local');
    await shot(page, 'inspect');

    // A container uses "plain": the page says so, and a remove is the engine's 409.
    const user = docker(['run', '-d', '--name', 'user', '-v', 'plain:/p', image, 'sleep', '300']);
    await row(page, 'plain').getByTestId('volume-used-by').getByRole('link', { name: 'user' }).waitFor();
    await row(page, 'plain').getByTestId('volume-remove').click();
    const dialog = page.getByTestId('volume-remove-dialog');
    await dialog.getByText('Remove volume plain?').waitFor();
    await dialog.getByTestId('volume-remove-dialog-confirm').click();
    await page.getByTestId('volumes-error').getByText(`remove plain: volume is in use - [${user}]`).waitFor();
    assert.ok((await agentVolumes()).some((v) => v.Name === 'plain'), 'still on the agent');

    docker(['rm', '-f', 'user']);
    await row(page, 'plain').getByTestId('volume-used-by').getByText('unused').waitFor();
    // Prune: the unused ones without driver options go (plain, the anonymous one); webdata has options and stays.
    await page.getByTestId('volumes-prune').click();
    await page.getByTestId('volumes-prune-dialog').getByTestId('volumes-prune-dialog-confirm').click();
    await page.getByTestId('volumes-pruned').getByText(/^Pruned 2 volumes/).waitFor();
    await eventually('the page to show only webdata', async () => (await page.locator('[data-testid=volume-row]').count()) === 1, PATIENCE_MS);
    assert.deepEqual((await agentVolumes()).map((v) => v.Name), ['webdata']);

    await row(page, 'webdata').getByTestId('volume-remove').click();
    await page.getByTestId('volume-remove-dialog').getByTestId('volume-remove-dialog-confirm').click();
    await page.getByTestId('volumes-table').getByText('No volumes.').waitFor();
    assert.deepEqual(await agentVolumes(), []);
    await shot(page, 'empty');

    const audit = (await owner.audit.list.query()).filter((a) => a.userEmail === OPERATOR.email && a.action.startsWith('volumes.'));
    const lines = audit.map((a) => `${a.action} ${a.target} ${a.result.slice(0, 20)}`);
    for (const want of ['volumes.create webdata ok', 'volumes.create plain ok', 'volumes.create (anonymous) ok', 'volumes.remove plain error: CONFLICT', 'volumes.prune unused volumes ok', 'volumes.remove webdata ok']) {
      assert.ok(lines.some((l) => l.startsWith(want)), `audited: ${want}\n${lines.join('\n')}`);
    }
    assert.ok(audit.every((a) => a.hostName === 'vol-host'));
  });

  test('a viewer sees the volumes and their details but no buttons; a crafted remove as the viewer is refused and audited', STEP, async () => {
    docker(['volume', 'create', '--label', 'seen=yes', 'seen']);
    const page = await newPage(VIEWER);
    await page.goto(`${cp.url}/hosts/${hostId}`);
    await row(page, 'seen').waitFor();
    assert.equal(await page.getByTestId('volume-create-form').count(), 0);
    assert.equal(await page.getByTestId('volume-remove').count(), 0);
    assert.equal(await page.getByTestId('volumes-prune').count(), 0);
    await row(page, 'seen').getByTestId('volume-inspect').click();
    assert.equal(await page.locator('[data-testid=volume-details][data-volume-name=seen]').getByTestId('volume-inspect-labels').textContent(), 'seen=yes');

    const answer = await page.evaluate(async (h) => {
      const res = await fetch('/api/trpc/volumes.remove', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ json: { hostId: h, name: 'seen' } }) });
      return { status: res.status, body: await res.text() };
    }, hostId);
    assert.equal(answer.status, 403, answer.body);
    assert.match(answer.body, /FORBIDDEN/);
    assert.ok((await agentVolumes()).some((v) => v.Name === 'seen'), 'still on the agent');
    const refused = (await owner.audit.list.query()).find((a) => a.action === 'volumes.remove' && a.userEmail === VIEWER.email);
    assert.ok(refused, 'the refused remove is audited');
    assert.match(refused.result, /^error: FORBIDDEN/);
    assert.deepEqual(cspProblems, [], 'no CSP violation or page error on any page');
  });
});
