// A stack from a Git repository in Chromium, against the real control plane and a real
// agent (each in a network namespace of the test's own) and a bare repository made with
// the host's git: an operator fills in "From Git" on the stacks page, is shown the webhook
// secret once, opens the stack (the Git source with the commit deployed, the webhook URL,
// the editor read-only); a commit changing one service is pushed, the webhook URL the page
// shows is called as GitHub calls it, and the page comes to show the new commit, with only
// the changed service's container new. A viewer sees the source but no way to change it.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { signedInPage } from './support/pages';
import { makeRepo, type Repo } from '../fixtures/git-repo';
import { eventually, ROOT } from '../integration/support/control-plane';
import { OPERATOR, startGitStackWorld, VIEWER, type GitStackWorld } from '../integration/support/git-stacks';

const PATIENCE_MS = 60_000;
const SHOTS = path.join(ROOT, 'test-results');
const isRoot = process.getuid?.() === 0;

const composeFile = (greeting: string) => `services:
  db:
    image: bb:test
    init: true
    command: ["sh", "-c", "echo db up; exec sleep 100000"]
  web:
    image: bb:test
    init: true
    environment:
      GREETING: ${greeting}
    command: ["sh", "-c", "while true; do echo $$GREETING from git; sleep 1; done"]
`;

describe('a stack from Git in the dashboard, updated by the webhook', { skip: !isRoot && 'needs root', timeout: 15 * 60_000 }, () => {
  const STEP = { timeout: 5 * 60_000 };
  let w: GitStackWorld;
  let repo: Repo;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const cspProblems: string[] = [];
  let secret = '';

  const newPage = (who: { email: string; password: string }): Promise<Page> =>
    signedInPage(browser!, w.cp.url, who, { problems: cspProblems, contexts, timeoutMs: PATIENCE_MS, context: { viewport: { width: 1500, height: 1100 } } });
  const shot = async (page: Page, name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `stacks-git-${name}.png`), fullPage: true });
  };
  const inspect = (name: string) => JSON.parse(w.agent.ok(['inspect', name]))[0] as { Id: string; State: { StartedAt: string; Running: boolean }; Config: { Env: string[] } };

  before(async () => {
    w = await startGitStackWorld('gite2e', '10.216.0');
    repo = makeRepo(path.join(w.tmp, 'repos'), 'shop', { 'ops/compose.yaml': composeFile('hello') });
    const chromiumThere = path.join(w.tmp, 'chromium');
    writeFileSync(chromiumThere, `#!/bin/sh\nexec nsenter --net=${w.cpNs.path} -- /usr/bin/chromium "$@"\n`);
    chmodSync(chromiumThere, 0o755);
    browser = await chromium.launch({ executablePath: chromiumThere, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
      await w?.owner.stacks.down.mutate({ hostId: w.hostId, name: 'shop', volumes: true, forget: true }).catch(() => {});
    } finally {
      await w?.close();
    }
  });

  test('an operator makes a stack from the repository in the browser and is shown its webhook secret once', STEP, async () => {
    const page = await newPage(OPERATOR);
    await page.goto(`${w.cp.url}/hosts/${w.hostId}/stacks`);
    const form = page.getByTestId('git-stack-form');
    await form.getByLabel('Stack name').fill('shop');
    await form.getByLabel('Repository URL (https://…)').fill(repo.fileUrl);
    // A branch the repository does not have: refused, named.
    await form.getByLabel('Branch').fill('develop');
    await form.getByLabel('Compose file in the repository').fill('ops/compose.yaml');
    await form.getByRole('button', { name: 'Deploy from Git' }).click();
    await page.getByTestId('git-stack-error').getByText(/branch develop not found in file:\/\//).waitFor({ timeout: PATIENCE_MS });
    await form.getByLabel('Branch').fill('main');
    await form.getByRole('button', { name: 'Deploy from Git' }).click();
    const created = page.getByTestId('git-stack-created');
    await created.waitFor({ timeout: 2 * PATIENCE_MS });
    assert.equal(await created.getAttribute('data-commit'), repo.head());
    secret = (await page.getByTestId('git-webhook-secret').textContent())!.trim();
    assert.match(secret, /^[A-Za-z0-9_-]{32}$/);
    await shot(page, 'created');
    await page.getByTestId('git-stack-open').click();
    await page.waitForURL(/\/stacks\/shop/);
    const source = page.getByTestId('git-source');
    await page.locator(`[data-testid=git-source][data-commit="${repo.head()}"]`).waitFor({ timeout: PATIENCE_MS });
    assert.equal(await page.getByTestId('git-source-commit').textContent().then((t) => t?.slice(0, 12)), repo.head().slice(0, 12));
    assert.equal(await source.getByTestId('git-source-url').textContent(), repo.fileUrl);
    for (const s of ['db', 'web']) await page.locator(`[data-testid=stack-service][data-service=${s}] [data-testid=stack-container-state][data-state=running]`).waitFor({ timeout: PATIENCE_MS });
    // The editor shows the file, read-only, and says why.
    await page.getByTestId('stack-git-managed').waitFor();
    assert.equal(await page.getByTestId('stack-compose').inputValue(), composeFile('hello'));
    assert.equal(await page.getByTestId('stack-compose').getAttribute('readonly'), '');
    assert.equal(await page.getByTestId('stack-review').count(), 0);
    // The secret is not on the stack's page, only the URL.
    assert.ok(!(await page.content()).includes(secret));
    await shot(page, 'stack');
    assert.deepEqual(cspProblems, []);
  });

  test('a pushed commit, announced through the webhook URL the page shows, is deployed: the page shows it, and only web is new', STEP, async () => {
    const page = await newPage(OPERATOR);
    await page.goto(`${w.cp.url}/hosts/${w.hostId}/stacks/shop`);
    const url = (await page.getByTestId('git-webhook-url').textContent())!.trim();
    assert.match(url, new RegExp(`^${w.cp.url.replace(/[.]/g, '\\.')}/api/stacks/webhook/g[0-9a-f]{24}$`));
    const db0 = inspect('shop-db-1');
    const web0 = inspect('shop-web-1');
    const commit = repo.commit({ 'ops/compose.yaml': composeFile('bonjour') }, 'web: bonjour');
    const body = JSON.stringify({ ref: 'refs/heads/main', after: commit, repository: { full_name: 'team/shop' } });
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` }, body });
    assert.equal(res.status, 202);
    await page.locator(`[data-testid=git-source][data-commit="${commit}"]`).waitFor({ timeout: 2 * PATIENCE_MS });
    const web1 = inspect('shop-web-1');
    const db1 = inspect('shop-db-1');
    assert.notEqual(web1.Id, web0.Id, 'web was not recreated');
    assert.ok(web1.Config.Env.includes('GREETING=bonjour'));
    assert.equal(db1.Id, db0.Id, 'db was recreated');
    assert.equal(db1.State.StartedAt, db0.State.StartedAt, 'db was restarted');
    // The page's containers are the new web and the same db; the editor has the new file.
    await page.locator(`[data-testid=stack-service][data-service=web] [data-testid=stack-container][data-container-id="${web1.Id}"]`).waitFor({ timeout: PATIENCE_MS });
    await page.locator(`[data-testid=stack-service][data-service=db] [data-testid=stack-container][data-container-id="${db0.Id}"]`).waitFor({ timeout: PATIENCE_MS });
    await eventually('the editor to show the new file', async () => (await page.getByTestId('stack-compose').inputValue()) === composeFile('bonjour'), PATIENCE_MS);
    await page.getByTestId('stack-logs').getByText('bonjour from git').first().waitFor({ timeout: PATIENCE_MS });
    await shot(page, 'after-webhook');
    // The audit log has it: by the webhook, the commit, the diff.
    const rows = (await w.owner.audit.list.query()).filter((a) => a.action === 'stacks.deploy' && a.target?.startsWith(`shop (git ${commit.slice(0, 12)} by webhook)`));
    assert.equal(rows.length, 1);
    assert.match(rows[0].target ?? '', /-      GREETING: hello\n\+      GREETING: bonjour\n/);
    // A wrong secret is refused, and the page still shows the commit deployed.
    assert.equal((await fetch(url, { method: 'POST', headers: { 'x-gitlab-token': 'not-it' }, body: '{}' })).status, 401);
    // Redeploy now, from the page: the same commit, nothing recreated.
    await page.getByTestId('git-redeploy').click();
    await page.getByTestId('git-redeployed').getByText(`Deployed ${commit.slice(0, 12)}.`).waitFor({ timeout: 2 * PATIENCE_MS });
    assert.equal(inspect('shop-web-1').Id, web1.Id);
    assert.deepEqual(cspProblems, []);
  });

  test('a viewer sees the Git source and the webhook URL, with no way to change anything', STEP, async () => {
    const page = await newPage(VIEWER);
    await page.goto(`${w.cp.url}/hosts/${w.hostId}/stacks/shop`);
    await page.getByTestId('git-source').waitFor();
    await page.getByTestId('git-webhook-url').waitFor();
    assert.equal(await page.getByTestId('git-redeploy').count(), 0);
    assert.equal(await page.getByTestId('git-detach').count(), 0);
    await page.goto(`${w.cp.url}/hosts/${w.hostId}/stacks`);
    await page.getByRole('heading', { name: /Stacks \(/ }).waitFor();
    assert.equal(await page.getByTestId('git-stack-form').count(), 0);
    assert.deepEqual(cspProblems, []);
  });
});
