// The all-containers table, live and with bulk image updates, in Chromium against the real
// control plane, two real agents (each with its own root and Docker socket) and a real
// registry on 127.0.0.1. A container stopped with the docker CLI on one host changes state in
// the open table without a reload (the table has no poll: it follows the fleet's stream); a
// newer image pushed under the same tag, then a bulk update of one container on each host
// through a confirmation that names both containers and their image: each host runs the new
// image under the same name (its own Docker API says so), the page reports each, and the audit
// log has one row per container.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { signedInPage } from './support/pages';
import { BUSYBOX_PATH_ENV, pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { ensureNextBuild, eventually, removeDir, ROOT, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';
import { removeAgentLeftovers } from './support/teardown';

const OWNER = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1234' };
const PATIENCE_MS = 90_000;
const SHOTS = path.join(ROOT, 'test-results');
const LOOP = 'echo "version $VERSION"; trap "exit 0" TERM; while true; do sleep 0.2; done';

interface Host {
  name: string;
  root: string;
  socket: string;
  agent?: Child;
  id?: string;
}

describe('the all-containers table: live rows and a bulk image update across two hosts', { timeout: 15 * 60_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ref: string;
  let cp: ControlPlane;
  let tmp: string;
  let owner: ReturnType<typeof trpc>;
  let browser: Browser | undefined;
  let page: Page;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  const hosts: Host[] = [];
  const push = (version: string) => pushBusyboxImage(registry.url, 'e2e/live', 'stable', { config: { Env: [BUSYBOX_PATH_ENV, `VERSION=${version}`], Cmd: ['sh', '-c', LOOP] } });

  function docker(h: Host, args: string[]): string {
    const r = spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${h.socket}`, ...args], {
      encoding: 'utf8',
      env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')} on ${h.name}: exit ${r.status}: ${r.stderr}`);
    return r.stdout.trim();
  }
  const rowOf = (name: string) => page.locator(`[data-testid=container-row][data-container-name="${name}"]`);

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry();
    ref = (await push('1')).ref;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-fleet-live-e2e-'));
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(OWNER);
    owner = trpc(cp.url, await signIn(cp.url, OWNER.email, OWNER.password));
    for (const name of ['live-a', 'live-b']) {
      const h: Host = { name, root: path.join(tmp, name, 'root'), socket: path.join(tmp, name, 'docker.sock') };
      hosts.push(h);
      const { token } = await owner.hosts.createJoinToken.mutate({ name });
      h.agent = spawnTsx(['agent/main.ts', '--root', h.root, '--docker-socket', h.socket, '--server', cp.url, '--token', token], {}, name);
      h.id = /as host (\S+)/.exec(await h.agent.waitFor(/connected to .* as host \S+/, PATIENCE_MS))![1];
      docker(h, ['pull', ref]);
      docker(h, ['run', '-d', '--network', 'none', '--name', `app-${name}`, '-e', 'KEEP=me', ref]);
    }
    docker(hosts[0], ['run', '-d', '--network', 'none', '--name', 'worker-live-a', ref]);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    page = await signedInPage(browser, cp.url, OWNER, { problems, contexts, timeoutMs: PATIENCE_MS });
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

  test('a container stopped from the CLI on one host changes state in the open table, without a reload', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Containers' }).click();
    await rowOf('worker-live-a').and(page.locator('[data-state=running]')).waitFor({ timeout: PATIENCE_MS });
    await rowOf('app-live-b').waitFor();
    // The same page, not a reload: a mark left on it now is still there when the row changes.
    await page.evaluate(() => ((window as unknown as { __mark: number }).__mark = 7));
    docker(hosts[0], ['stop', '-t', '1', 'worker-live-a']);
    await rowOf('worker-live-a').and(page.locator('[data-state=exited]')).waitFor({ timeout: PATIENCE_MS });
    assert.equal(await page.evaluate(() => (window as unknown as { __mark?: number }).__mark), 7, 'the row changed on the page as it was');
    // And back, from the other side: started again on the CLI, running again in the table.
    docker(hosts[0], ['start', 'worker-live-a']);
    await rowOf('worker-live-a').and(page.locator('[data-state=running]')).waitFor({ timeout: PATIENCE_MS });
    assert.equal(await rowOf('app-live-a').getAttribute('data-state'), 'running');
  });

  test('a bulk update of one container on each host, confirmed with their image, runs the newer image on both', async () => {
    const before = hosts.map((h) => docker(h, ['inspect', '-f', '{{.Id}} {{.Image}}', `app-${h.name}`]).split(' '));
    const v2 = await push('2');
    for (const h of hosts) await rowOf(`app-${h.name}`).getByTestId('pick').check();
    assert.equal(await page.getByTestId('picked-count').textContent(), '2 selected');
    await page.getByTestId('bulk-update').click();
    const dialog = page.getByTestId('bulk-confirm');
    await dialog.waitFor();
    const sentence = (await dialog.getByTestId('bulk-sentence').textContent()) ?? '';
    assert.ok(sentence.startsWith(`Update 2 containers on 2 hosts: app-live-a (${ref}) on live-a; app-live-b (${ref}) on live-b. Each pulls its image's tag again`), sentence);
    assert.match(sentence, /rolled back if it does not\.$/);
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, 'fleet-bulk-update-confirm.png'), fullPage: true });
    await dialog.getByTestId('bulk-confirm-confirm').click();
    const results = page.getByTestId('bulk-results');
    await results.getByText('2 done').waitFor({ timeout: PATIENCE_MS * 2 });
    const said = (await results.getByTestId('bulk-result').allTextContents()).sort();
    assert.equal(said.length, 2);
    assert.match(said[0], /^app-live-a on live-a: /);
    assert.match(said[1], /^app-live-b on live-b: /);
    for (const [i, h] of hosts.entries()) {
      const [id, image] = docker(h, ['inspect', '-f', '{{.Id}} {{.Image}}', `app-${h.name}`]).split(' ');
      assert.equal(image, v2.configDigest, `${h.name} runs the new image`);
      assert.notEqual(id, before[i][0], `${h.name}: a new container under the same name`);
      assert.notEqual(image, before[i][1]);
      assert.match(docker(h, ['inspect', '-f', '{{join .Config.Env " "}}', `app-${h.name}`]), /KEEP=me.*VERSION=2|VERSION=2.*KEEP=me/);
      assert.equal(docker(h, ['inspect', '-f', '{{.State.Status}}', `app-${h.name}`]), 'running');
    }
    assert.equal(docker(hosts[0], ['inspect', '-f', '{{.Image}}', 'worker-live-a']), before[0][1], 'what was not picked is left alone');
    // The table follows: both rows show again (their ids changed) and run.
    await eventually('the updated rows', async () => (await page.locator('[data-testid=container-row][data-state=running]').count()) === 3, PATIENCE_MS);
    const audit = (await owner.audit.list.query({ action: 'containers.updateImage' })).map((r) => `${r.target} ${r.result.split(':')[0]}`).sort();
    assert.deepEqual(audit, [`app-live-a (${ref}) (bulk) ok`, `app-live-b (${ref}) (bulk) ok`]);
    assert.deepEqual(problems, []);
  });
});
