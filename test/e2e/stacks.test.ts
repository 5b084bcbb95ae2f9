// Compose stacks in Chromium against the real control plane and a real agent, each in a
// network namespace of the test's own (joined by a veth pair, as in networks-run-form): an
// operator makes a two-service stack in the editor (a key Berth does not implement is named
// with its line as they type), reviews the plan, deploys it; edits one service, sees that
// only it will be recreated, redeploys, and the other container is the same one, started at
// the same time; takes the stack down. A viewer reads the page but has no way to change it,
// and a crafted deploy as the viewer is refused. The audit log has the deploys with the diff.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { signedInPage } from './support/pages';
import { removeAgentLeftovers } from './support/teardown';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { busyboxLayer, createNetns, joinByVeth, type Netns } from '../fixtures/netns';
import { tunnelFrom, type Tunnel } from '../fixtures/netns-tunnel';
import { addUser, Child, ensureNextBuild, eventually, freePort, removeDir, ROOT, signIn, trpc, type ControlPlane } from '../integration/support/control-plane';

const ADMIN = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1234' };
const OPERATOR = { email: 'oscar@example.test', password: 'operator-pass-1' };
const VIEWER = { email: 'vera@example.test', password: 'viewer-pass-1' };
const PATIENCE_MS = 60_000;
const SHOTS = path.join(ROOT, 'test-results');
const isRoot = process.getuid?.() === 0;
const LINK = { cp: '10.214.0.1', agent: '10.214.0.2' };

/** db serves a word on 7000; web prints what db says, with its own GREETING, every half second. */
const composeFile = (greeting: string) => `services:
  db:
    image: bb:test
    init: true
    command: ["sh", "-c", "exec nc -ll -p 7000 -e echo from-db"]
    healthcheck:
      test: ["CMD-SHELL", "nc 127.0.0.1 7000 </dev/null | grep -q from-db"]
      interval: 300ms
      retries: 100
  web:
    image: bb:test
    init: true
    environment:
      GREETING: ${greeting}
    command: ["sh", "-c", "while true; do echo $$GREETING-$$(nc db 7000); sleep 0.5; done"]
    depends_on:
      db:
        condition: service_healthy
`;

interface Inspect {
  Id: string;
  Name: string;
  State: { Running: boolean; StartedAt: string };
  Config: { Labels: Record<string, string>; Env: string[] };
}

describe('compose stacks in the dashboard', { skip: !isRoot && 'needs root', timeout: 15 * 60_000 }, () => {
  const STEP = { timeout: 5 * 60_000 };
  let tmp: string;
  let cpNs: Netns;
  let agentNs: Netns;
  let cp: ControlPlane;
  let tunnel: Tunnel | undefined;
  let agent: AgentProcess | undefined;
  let hostId: string;
  let owner: ReturnType<typeof trpc>;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const cspProblems: string[] = [];

  async function startControlPlaneIn(ns: Netns): Promise<ControlPlane> {
    const port = await freePort();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-cp-'));
    const env = { ...process.env, PORT: String(port), BERTH_DATA_DIR: dataDir, NEXTAUTH_URL: '', NEXTAUTH_SECRET: '', DATABASE_URL: '', BERTH_TRUST_PROXY: '' };
    const child = new Child(spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, '--import', 'tsx', 'server/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }), 'server');
    await child.waitFor(/control plane on http/, 120_000);
    return { url: `http://localhost:${port}`, port, dataDir, child, stop: () => child.kill() };
  }

  const inspect = (name: string) => JSON.parse(agent!.ok(['inspect', name]))[0] as Inspect;
  const newPage = (who: { email: string; password: string }): Promise<Page> =>
    signedInPage(browser!, cp.url, who, { problems: cspProblems, contexts, timeoutMs: PATIENCE_MS, context: { viewport: { width: 1500, height: 1100 } } });
  const shot = async (page: Page, name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `stacks-${name}.png`), fullPage: true });
  };
  /** Waits until the validation under the editor has settled on `state` for the text now in it. */
  const validation = (page: Page, state: 'valid' | 'invalid') => page.locator(`[data-testid=stack-validation][data-state=${state}]`).waitFor({ timeout: PATIENCE_MS });
  const planOf = async (page: Page) => {
    await page.getByTestId('stack-plan').waitFor({ timeout: PATIENCE_MS });
    const rows = page.getByTestId('stack-plan-service');
    const out: string[] = [];
    for (let i = 0; i < (await rows.count()); i++) out.push(`${await rows.nth(i).getAttribute('data-service')}:${await rows.nth(i).getAttribute('data-action')}`);
    return out;
  };
  /** Waits for the operation of `kind` to end well; a failed one is reported with its steps as the page shows them. */
  const opId = async (page: Page) => (await page.getByTestId('stack-operation').count()) ? await page.getByTestId('stack-operation').getAttribute('data-op-id') : null;
  /** Clicks `button` and waits for the operation of `kind` it starts to end well; a failed one is reported with its steps as the page shows them. */
  const operationDone = async (page: Page, kind: string, button: string) => {
    const before = await opId(page);
    await page.getByTestId(button).click();
    const op = page.locator(`[data-testid=stack-operation][data-kind=${kind}]:not([data-state=running])${before ? `:not([data-op-id="${before}"])` : ''}`);
    await op.waitFor({ timeout: 2 * PATIENCE_MS });
    if ((await op.getAttribute('data-state')) !== 'done') {
      await shot(page, `failed-${kind}`);
      throw new Error(`the ${kind} failed: ${await op.textContent()}\nagent log:\n${agent!.log().slice(-3000)}`);
    }
  };

  before(async () => {
    ensureNextBuild();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-stacks-e2e-'));
    cpNs = createNetns('stkcp');
    agentNs = createNetns('stkhost');
    joinByVeth(cpNs, agentNs, '10.214.0');
    cp = await startControlPlaneIn(cpNs);
    tunnel = await tunnelFrom(cpNs, cp.port, tmp);
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    await addUser(cp, OPERATOR.email, OPERATOR.password, 'operator');
    await addUser(cp, VIEWER.email, VIEWER.password, 'viewer');
    owner = trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password));
    const { token } = await owner.hosts.createJoinToken.mutate({ name: 'stack-host' });
    agent = await startAgentProcess('stacks', { netns: agentNs, flags: ['--server', `http://${LINK.cp}:${cp.port}`, '--token', token] });
    await eventually('the agent to connect', () => /connected to .* as host \S+/.test(agent!.log()), 60_000);
    hostId = /as host (\S+)/.exec(agent.log())![1];
    agent.ok(['import', '-c', 'CMD ["sh"]', '-', 'bb:test'], { input: await busyboxLayer() });
    const chromiumThere = path.join(tmp, 'chromium');
    writeFileSync(chromiumThere, `#!/bin/sh\nexec nsenter --net=${cpNs.path} -- /usr/bin/chromium "$@"\n`);
    chmodSync(chromiumThere, 0o755);
    browser = await chromium.launch({ executablePath: chromiumThere, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    let agentRoot: string | undefined;
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
      if (agent) {
        agentRoot = agent.root;
        const ids = agent.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
        if (ids.length) agent.docker(['rm', '-f', ...ids]);
        agent.docker(['network', 'prune', '-f']);
        agent.docker(['volume', 'prune', '-f']);
        await agent.stop();
      }
      await tunnel?.close();
      await cp?.stop();
    } finally {
      if (cp) removeDir(cp.dataDir);
      agentNs?.remove();
      cpNs?.remove();
      removeAgentLeftovers(agentRoot, tmp);
    }
  });

  test('an operator writes a two-service stack in the editor, is told what Berth does not support by line, reviews the plan and deploys it', STEP, async () => {
    const page = await newPage(OPERATOR);
    await page.goto(`${cp.url}/hosts/${hostId}/stacks`);
    await page.getByLabel('Name', { exact: true }).fill('shop');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/stacks\/shop/);
    const editor = page.getByTestId('stack-compose');
    await editor.waitFor();
    // Something Berth does not implement: named, with its line, and the gutter marks that line.
    await editor.fill('services:\n  web:\n    image: bb:test\n    deploy:\n      replicas: 2\n');
    await validation(page, 'invalid');
    const issue = page.getByTestId('stack-issue').first();
    assert.equal(await issue.textContent(), 'line 4: services.web.deploy: not supported by Berth');
    assert.equal(await page.getByTestId('stack-compose-gutter').locator('[data-bad=true]').textContent(), '4');
    assert.equal(await page.getByTestId('stack-review').isDisabled(), true);
    // A YAML mistake is shown with its line too.
    await editor.fill('services:\n  web:\n    image: [bb\n');
    await validation(page, 'invalid');
    assert.match((await issue.textContent()) ?? '', /^line \d+: YAML: /);
    // A long file is checked too (40 kB: more than fits in a URL), its problem found at its line.
    await editor.fill(`${'# a comment line to make the file long enough\n'.repeat(1000)}services:\n  web:\n    image: bb:test\n    profiles: [x]\n`);
    await page.locator('[data-testid=stack-issue][data-line="1004"]').waitFor({ timeout: PATIENCE_MS });
    assert.equal(await issue.textContent(), 'line 1004: services.web.profiles: not supported by Berth');

    // The file comes as an upload this time: it replaces the editor's text.
    await page.getByTestId('stack-upload').setInputFiles({ name: 'compose.yaml', mimeType: 'text/yaml', buffer: Buffer.from(composeFile('hello')) });
    await eventually('the upload in the editor', async () => (await editor.inputValue()) === composeFile('hello'), PATIENCE_MS);
    await validation(page, 'valid');
    await page.getByTestId('stack-review').click();
    assert.deepEqual(await planOf(page), ['db:create', 'web:create']);
    await page.getByTestId('stack-plan-resource').getByText('network shop_default').waitFor();
    await shot(page, 'plan-new');
    await operationDone(page, 'deploy', 'stack-deploy');
    await page.locator('[data-testid=stack-status][data-status=running]').waitFor({ timeout: PATIENCE_MS });
    for (const s of ['db', 'web']) await page.locator(`[data-testid=stack-service][data-service=${s}] [data-testid=stack-container-state][data-state=running]`).waitFor({ timeout: PATIENCE_MS });
    await page.locator('[data-testid=stack-service][data-service=db] [data-testid=stack-container-health][data-health=healthy]').waitFor({ timeout: PATIENCE_MS });
    // The merged log view of the stack has web's lines, which came through db by its service name.
    await page.getByTestId('stack-logs').getByText('hello-from-db').first().waitFor({ timeout: PATIENCE_MS });
    await shot(page, 'deployed');

    const web = inspect('shop-web-1');
    assert.equal(web.Config.Labels['com.docker.compose.project'], 'shop');
    assert.equal(web.Config.Labels['com.docker.compose.service'], 'web');
    assert.equal(web.Config.Labels['com.docker.compose.depends_on'], 'db:service_healthy:false');
    assert.ok(web.Config.Env.includes('GREETING=hello'));
    assert.equal(inspect('shop-db-1').State.Running, true);
    // The host page lists it.
    await page.goto(`${cp.url}/hosts/${hostId}`);
    await page.locator('[data-testid=stack-row][data-stack-name=shop] [data-testid=stack-status][data-status=running]').waitFor({ timeout: PATIENCE_MS });
    assert.deepEqual(cspProblems, []);
  });

  test('an edit to one service is planned as recreating only it, and the redeploy leaves the other container as it was', STEP, async () => {
    const db0 = inspect('shop-db-1');
    const web0 = inspect('shop-web-1');
    const page = await newPage(OPERATOR);
    await page.goto(`${cp.url}/hosts/${hostId}/stacks/shop`);
    const editor = page.getByTestId('stack-compose');
    await editor.waitFor();
    assert.equal(await editor.inputValue(), composeFile('hello'));
    await editor.fill(composeFile('bonjour'));
    await validation(page, 'valid');
    await page.getByTestId('stack-review').click();
    assert.deepEqual(await planOf(page), ['db:unchanged', 'web:recreate']);
    const diff = await page.getByTestId('stack-plan-diff').textContent();
    assert.match(diff ?? '', /-\s+GREETING: hello\s*\+\s+GREETING: bonjour/);
    await shot(page, 'plan-edit');
    await operationDone(page, 'deploy', 'stack-deploy');
    await page.getByTestId('stack-logs').getByText('bonjour-from-db').first().waitFor({ timeout: PATIENCE_MS });

    const db1 = inspect('shop-db-1');
    const web1 = inspect('shop-web-1');
    assert.equal(db1.Id, db0.Id, 'db was recreated');
    assert.equal(db1.State.StartedAt, db0.State.StartedAt, 'db was restarted');
    assert.notEqual(web1.Id, web0.Id, 'web was not recreated');
    assert.ok(web1.Config.Env.includes('GREETING=bonjour'));
    // The container ids on the page are the new ones.
    await page.locator(`[data-testid=stack-service][data-service=web] [data-testid=stack-container][data-container-id="${web1.Id}"]`).waitFor({ timeout: PATIENCE_MS });

    // The audit log has both deploys, each with its compose diff.
    const rows = (await owner.audit.list.query()).filter((a) => a.action === 'stacks.deploy' && a.userEmail === OPERATOR.email);
    assert.equal(rows.length, 2);
    assert.ok(rows.every((r) => r.result === 'ok'));
    assert.ok(rows.some((r) => /^shop\n--- shop\/compose\.yaml\n\+\+\+ shop\/compose\.yaml\n@@ .* @@\n[\s\S]*-      GREETING: hello\n\+      GREETING: bonjour\n/.test(r.target ?? '')), rows.map((r) => r.target).join('\n----\n'));
    assert.ok(rows.some((r) => /^shop\n--- \/dev\/null\n/.test(r.target ?? '')));
    assert.deepEqual(cspProblems, []);
  });

  test('a viewer reads the stack but cannot change it, and a crafted deploy as the viewer is refused', STEP, async () => {
    const page = await newPage(VIEWER);
    await page.goto(`${cp.url}/hosts/${hostId}/stacks/shop`);
    await page.locator('[data-testid=stack-service][data-service=web] [data-testid=stack-container-state][data-state=running]').waitFor({ timeout: PATIENCE_MS });
    assert.equal(await page.getByTestId('stack-actions').count(), 0);
    assert.equal(await page.getByTestId('stack-review').count(), 0);
    assert.equal(await page.getByTestId('stack-service-restart').count(), 0);
    assert.equal(await page.getByTestId('stack-compose').getAttribute('readonly'), '');
    const viewer = trpc(cp.url, await signIn(cp.url, VIEWER.email, VIEWER.password));
    await assert.rejects(viewer.stacks.deploy.mutate({ hostId, name: 'shop', compose: composeFile('evil') }), /operator or above is needed/);
    await assert.rejects(viewer.stacks.down.mutate({ hostId, name: 'shop' }), /operator or above is needed/);
    assert.ok(inspect('shop-web-1').Config.Env.includes('GREETING=bonjour'));
  });

  test('the operator opens a terminal into a service, restarts one service, then takes the stack down from the page', STEP, async () => {
    const page = await newPage(OPERATOR);
    await page.goto(`${cp.url}/hosts/${hostId}/stacks/shop`);
    // A shell in db's container: what it reaches on its own loopback is db's server.
    await page.locator('[data-testid=stack-service][data-service=db] [data-testid=stack-service-terminal]').click();
    await page.locator(`[data-testid=stack-terminal][data-container-id="${inspect('shop-db-1').Id}"]`).waitFor();
    await page.getByTestId('terminal-connect').click();
    await page.locator('[data-testid=terminal-status][data-phase=open]').waitFor({ timeout: PATIENCE_MS });
    const rows = () => page.locator('[data-testid=terminal] .xterm-rows > div').evaluateAll((r) => r.map((x) => (x.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd()));
    await page.locator('[data-testid=terminal]').click();
    await page.keyboard.type('echo "$(nc 127.0.0.1 7000 </dev/null)-in-$(hostname)"');
    await page.keyboard.press('Enter');
    await eventually('the shell to answer', async () => (await rows()).some((r) => /^from-db-in-\S+$/.test(r)), PATIENCE_MS);
    await page.getByTestId('terminal-disconnect').click();
    const db0 = inspect('shop-db-1');
    const web0 = inspect('shop-web-1');
    await page.locator('[data-testid=stack-service][data-service=web] [data-testid=stack-service-restart]').click();
    await eventually('web to restart', () => inspect('shop-web-1').State.StartedAt !== web0.State.StartedAt, PATIENCE_MS);
    assert.equal(inspect('shop-db-1').State.StartedAt, db0.State.StartedAt);
    await page.getByTestId('stack-down').click();
    await page.getByTestId('stack-down-dialog').getByRole('button', { name: 'Take down' }).click();
    await page.locator('[data-testid=stack-status][data-status=down]').waitFor({ timeout: PATIENCE_MS });
    assert.equal(agent!.ok(['ps', '-aq', '--filter', 'label=com.docker.compose.project=shop']).trim(), '');
    assert.ok(!agent!.ok(['network', 'ls', '--format', '{{.Name}}']).split('\n').includes('shop_default'));
    // The definition stays: the editor still has it, to deploy again.
    assert.equal(await page.getByTestId('stack-compose').inputValue(), composeFile('bonjour'));
    await shot(page, 'down');
    // The operator's down, and the viewer's crafted one, refused.
    const downs = (await owner.audit.list.query()).filter((a) => a.action === 'stacks.down');
    assert.deepEqual(downs.map((a) => [a.userEmail, a.target, a.result.split(':')[0]]).sort(), [[OPERATOR.email, 'shop', 'ok'], [VIEWER.email, 'shop', 'error']]);
    assert.deepEqual(cspProblems, []);
  });
});
