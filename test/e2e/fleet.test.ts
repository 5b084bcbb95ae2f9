// The fleet at a glance, in Chromium, against the real control plane and two real agents
// (each with its own root and Docker socket on this machine), images from a real registry on
// 127.0.0.1. The hosts page's running count follows a container started with the docker CLI,
// with no reload and no poll (the page watches its hosts over the socket); the all-containers
// table filters and sorts across both hosts, and a bulk stop of one container on each host goes
// through a confirmation that names both, reports each, stops them on the agents (the CLI says
// so) and leaves one audit row per container. A viewer gets the table without the bulk actions,
// and the overview on a phone-sized screen keeps Sign out on screen without scrolling sideways.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { signedInPage } from './support/pages';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { addUser, ensureNextBuild, eventually, removeDir, ROOT, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';
import { removeAgentLeftovers } from './support/teardown';

const OWNER = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1234' };
const VIEWER = { email: 'vera@example.test', password: 'viewer-pass-1' };
const PATIENCE_MS = 60_000;
const SHOTS = path.join(ROOT, 'test-results');

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `fleet-${name}.png`), fullPage: true });
}

interface Host {
  name: string;
  root: string;
  socket: string;
  agent?: Child;
  id?: string;
}

describe('the fleet pages', { timeout: 15 * 60_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let image: string;
  let cp: ControlPlane;
  let tmp: string;
  let owner: ReturnType<typeof trpc>;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  const hosts: Host[] = [];

  function docker(h: Host, args: string[]): string {
    const r = spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${h.socket}`, ...args], {
      encoding: 'utf8',
      env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')} on ${h.name}: exit ${r.status}: ${r.stderr}`);
    return r.stdout.trim();
  }
  const state = (h: Host, name: string) => docker(h, ['inspect', '-f', '{{.State.Status}}', name]);
  const row = (page: Page, name: string) => page.locator(`[data-testid=host-row][data-host-name="${name}"]`);

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'e2e/busybox', 'fleet')).ref;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-fleet-e2e-'));
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(OWNER);
    await addUser(cp, VIEWER.email, VIEWER.password, 'viewer');
    owner = trpc(cp.url, await signIn(cp.url, OWNER.email, OWNER.password));
    for (const name of ['fleet-a', 'fleet-b']) {
      const h: Host = { name, root: path.join(tmp, name, 'root'), socket: path.join(tmp, name, 'docker.sock') };
      hosts.push(h);
      const { token } = await owner.hosts.createJoinToken.mutate({ name });
      h.agent = spawnTsx(['agent/main.ts', '--root', h.root, '--docker-socket', h.socket, '--server', cp.url, '--token', token], {}, name);
      h.id = /as host (\S+)/.exec(await h.agent.waitFor(/connected to .* as host \S+/, PATIENCE_MS))![1];
      docker(h, ['pull', image]);
      docker(h, ['run', '-d', '--network', 'none', '--name', `web-${name}`, '-l', 'tier=web', image, 'sleep', '1000']);
      docker(h, ['create', '--network', 'none', '--name', `idle-${name}`, image, 'true']);
    }
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
      for (const h of hosts) {
        if (!h.agent) continue;
        try {
          for (const id of docker(h, ['ps', '-aq']).split('\n').filter(Boolean)) docker(h, ['rm', '-f', id]);
        } catch (err) {
          console.error(`cleanup on ${h.name}: ${(err as Error).message}`);
        }
        await h.agent.kill('SIGTERM');
      }
    } finally {
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      for (const h of hosts) removeAgentLeftovers(h.root, undefined);
      removeAgentLeftovers(undefined, tmp);
    }
  });

  test('the overview: each host with its counts; a container started from the CLI shows in its running count live', async () => {
    const page = await signedInPage(browser!, cp.url, OWNER, { problems, contexts, timeoutMs: PATIENCE_MS });
    const a = row(page, 'fleet-a');
    await a.getByTestId('host-running').getByText('1', { exact: true }).waitFor();
    assert.equal(await a.getByTestId('host-stopped').textContent(), '1');
    assert.equal(await row(page, 'fleet-b').getByTestId('host-running').textContent(), '1');
    assert.equal(await page.getByTestId('summary-running').textContent(), '2');
    assert.equal(await page.getByTestId('summary-online').textContent(), '2');
    // The same page, not a reload: a mark left on it now is still there when the count moves.
    await page.evaluate(() => ((window as unknown as { __mark: number }).__mark = 42));
    docker(hosts[0], ['run', '-d', '--network', 'none', '--name', 'web-fleet-a-2', image, 'sleep', '1000']);
    await a.getByTestId('host-running').getByText('2', { exact: true }).waitFor({ timeout: 15_000 });
    await page.getByTestId('summary-running').getByText('3', { exact: true }).waitFor({ timeout: 15_000 });
    assert.equal(await page.evaluate(() => (window as unknown as { __mark?: number }).__mark), 42, 'the count moved on the page as it was');
    // Filters go to the server.
    await page.getByTestId('host-search').fill('fleet-b');
    await eventually('only fleet-b', async () => (await page.getByTestId('host-row').count()) === 1 && (await row(page, 'fleet-b').count()) === 1, 15_000);
    await page.getByTestId('host-search').fill('');
    await page.getByTestId('host-state-filter').selectOption('offline');
    await page.getByTestId('hosts-table').getByText('No host matches.').waitFor();
    await page.getByTestId('host-state-filter').selectOption('');
    await row(page, 'fleet-a').waitFor();
    // An admin labels fleet-b on its page; the overview filters by the label.
    await row(page, 'fleet-b').getByRole('link', { name: 'fleet-b' }).click();
    await page.getByTestId('host-labels-edit').click();
    await page.getByTestId('host-labels-input').fill('env=prod\nrack=r1');
    await page.getByTestId('host-labels-save').click();
    await page.getByTestId('host-label').getByText('rack=r1').waitFor();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Hosts' }).click();
    await page.getByTestId('host-label-filter').fill('env=prod');
    await eventually('only the labelled host', async () => (await page.getByTestId('host-row').count()) === 1 && (await row(page, 'fleet-b').count()) === 1, 15_000);
    await page.getByTestId('host-label-filter').fill('');
    await row(page, 'fleet-a').waitFor();
    const labelled = await owner.audit.list.query({ action: 'hosts.setLabels' });
    assert.deepEqual(labelled.map((r) => `${r.target} ${r.result}`), ['env=prod, rack=r1 ok']);
    // The agents' CPU and memory readings (every 10 s) draw a line once there are two.
    await row(page, 'fleet-a').locator('svg[data-testid=host-mem]').waitFor({ timeout: 40_000 });
    await shot(page, 'overview');
  });

  test('all containers: filtered across both hosts, and a bulk stop of one on each host, confirmed, reported and audited', async () => {
    const page = await signedInPage(browser!, cp.url, OWNER, { problems, contexts, timeoutMs: PATIENCE_MS });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Containers' }).click();
    const table = page.getByTestId('containers-table');
    const names = async () => (await table.getByTestId('container-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-container-name')))).sort();
    await eventually('every container of both hosts', async () => (await names()).length === 5, 15_000);
    assert.deepEqual(await names(), ['idle-fleet-a', 'idle-fleet-b', 'web-fleet-a', 'web-fleet-a-2', 'web-fleet-b']);
    await page.getByTestId('ct-state').selectOption('stopped');
    await eventually('the stopped ones', async () => JSON.stringify(await names()) === JSON.stringify(['idle-fleet-a', 'idle-fleet-b']), 15_000);
    await page.getByTestId('ct-state').selectOption('');
    await page.getByLabel('Label', { exact: true }).fill('tier=web');
    await eventually('the labelled ones', async () => JSON.stringify(await names()) === JSON.stringify(['web-fleet-a', 'web-fleet-b']), 15_000);
    await page.getByLabel('Label', { exact: true }).fill('');
    await page.getByLabel('Host', { exact: true }).fill('fleet-b');
    await eventually('fleet-b’s', async () => JSON.stringify(await names()) === JSON.stringify(['idle-fleet-b', 'web-fleet-b']), 15_000);
    await page.getByLabel('Host', { exact: true }).fill('');
    await eventually('all again', async () => (await names()).length === 5, 15_000);
    // Sorted by name, descending, on the server.
    await page.getByTestId('sort-name').click();
    await page.getByTestId('sort-name').click();
    await eventually('by name, descending', async () => {
      const order = await table.getByTestId('container-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-container-name')));
      return JSON.stringify(order) === JSON.stringify(['web-fleet-b', 'web-fleet-a-2', 'web-fleet-a', 'idle-fleet-b', 'idle-fleet-a']);
    }, 15_000);

    for (const name of ['web-fleet-a', 'web-fleet-b']) await table.locator(`[data-testid=container-row][data-container-name="${name}"]`).getByTestId('pick').check();
    assert.equal(await page.getByTestId('picked-count').textContent(), '2 selected');
    await page.getByTestId('bulk-stop').click();
    const dialog = page.getByTestId('bulk-confirm');
    await dialog.waitFor();
    assert.equal(await dialog.getByTestId('bulk-sentence').textContent(), 'Stop 2 containers on 2 hosts: web-fleet-a on fleet-a; web-fleet-b on fleet-b.');
    await shot(page, 'bulk-confirm');
    await dialog.getByTestId('bulk-confirm-confirm').click();
    const results = page.getByTestId('bulk-results');
    await results.getByText('2 done').waitFor({ timeout: 60_000 });
    assert.deepEqual((await results.getByTestId('bulk-result').allTextContents()).sort(), ['web-fleet-a on fleet-a: done', 'web-fleet-b on fleet-b: done']);
    assert.equal(state(hosts[0], 'web-fleet-a'), 'exited');
    assert.equal(state(hosts[1], 'web-fleet-b'), 'exited');
    assert.equal(state(hosts[0], 'web-fleet-a-2'), 'running', 'what was not picked is left alone');
    await eventually('the table shows them stopped', async () => (await table.locator('[data-testid=container-row][data-state=exited]').count()) === 2, 15_000);
    const audit = (await owner.audit.list.query({ action: 'containers.stop' })).map((r) => `${r.target} ${r.result}`).sort();
    assert.deepEqual(audit, ['web-fleet-a (bulk) ok', 'web-fleet-b (bulk) ok']);
    await page.goto(`${cp.url}/`);
    await row(page, 'fleet-a').getByTestId('host-running').getByText('1', { exact: true }).waitFor({ timeout: 15_000 });
  });

  test('volumes across the fleet: what is unused, pruned on one host after a confirmation that lists it', async () => {
    docker(hosts[0], ['volume', 'create', 'spare-a']);
    docker(hosts[0], ['run', '-d', '--network', 'none', '--name', 'holder-a', '-v', 'kept-a:/data', image, 'sleep', '1000']);
    docker(hosts[1], ['volume', 'create', 'spare-b']);
    const page = await signedInPage(browser!, cp.url, OWNER, { problems, contexts, timeoutMs: PATIENCE_MS });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Volumes & networks' }).click();
    const a = page.locator('[data-testid=resource-host][data-host-name="fleet-a"]');
    await a.locator('[data-testid=resource-item][data-name="spare-a"][data-used=false]').waitFor();
    assert.match((await a.locator('[data-testid=resource-item][data-name="kept-a"]').textContent()) ?? '', /used by holder-a/);
    await page.locator('[data-testid=resource-host][data-host-name="fleet-b"] [data-testid=resource-item][data-name="spare-b"][data-used=false]').waitFor();
    await a.getByTestId('prune').click();
    const dialog = page.getByTestId('prune-confirm');
    assert.equal(await dialog.getByTestId('prune-sentence').textContent(), 'Remove 1 unused volume on fleet-a: spare-a (with its data).');
    await shot(page, 'resources-prune');
    await dialog.getByTestId('prune-confirm-confirm').click();
    await page.getByTestId('prune-done').getByText('Unused volumes on fleet-a: 1 removed').waitFor();
    await a.locator('[data-testid=resource-item][data-name="spare-a"]').waitFor({ state: 'detached' });
    const left = (h: Host) => docker(h, ['volume', 'ls', '-q']).split('\n').filter(Boolean).sort();
    assert.deepEqual(left(hosts[0]), ['kept-a'], 'the one in use stays');
    assert.deepEqual(left(hosts[1]), ['spare-b'], 'the other host was not touched');
    const audit = (await owner.audit.list.query({ action: 'volumes.prune' })).map((r) => `${r.hostId === hosts[0].id} ${r.result}`);
    assert.deepEqual(audit, ['true ok']);
    await page.getByTestId('kind-networks').click();
    await a.locator('[data-testid=resource-item][data-name="none"]').getByText('built in').waitFor();
    await page.getByTestId('kind-images').click();
    await a.locator(`[data-testid=resource-item][data-name="${image}"]`).getByText(/used by/).waitFor();
  });

  test('a viewer sees the table without bulk actions; the overview fits a phone', async () => {
    const page = await signedInPage(browser!, cp.url, VIEWER, { problems, contexts, timeoutMs: PATIENCE_MS, context: { viewport: { width: 390, height: 844 } } });
    await row(page, 'fleet-a').waitFor();
    const fits = await page.evaluate(() => {
      const out = [...document.querySelectorAll('button')].find((b) => b.textContent === 'Sign out')!.getBoundingClientRect();
      return { signOutRight: out.right, width: window.innerWidth, scroll: document.documentElement.scrollWidth };
    });
    assert.ok(fits.signOutRight <= fits.width, `Sign out is on screen (${fits.signOutRight} of ${fits.width})`);
    assert.ok(fits.scroll <= fits.width, `the page does not scroll sideways (${fits.scroll} of ${fits.width})`);
    await shot(page, 'overview-phone');
    await page.goto(`${cp.url}/containers`);
    await page.getByTestId('container-row').first().waitFor();
    assert.equal(await page.getByTestId('bulk-bar').count(), 0);
    assert.equal(await page.getByTestId('pick').count(), 0);
    await assert.rejects(
      trpc(cp.url, await signIn(cp.url, VIEWER.email, VIEWER.password)).fleet.bulk.mutate({ action: 'stop', targets: [{ hostId: hosts[0].id!, id: 'web-fleet-a-2' }] }),
      /viewer role cannot do this on fleet-a/,
    );
    assert.equal(state(hosts[0], 'web-fleet-a-2'), 'running');
    assert.deepEqual(problems, []);
  });
});
