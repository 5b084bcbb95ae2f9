// The pages in Chromium under the control plane's Content-Security-Policy: the first
// visit creates the admin and lands signed in on the dashboard; setup, the hosts list, a
// host page, a container page with its live log and the sign-in page all work with no
// CSP violation; the sign-in page tells a user who has to wait how long.
// The host is test/integration/support/protocol-agent.ts, enrolled with a real join token.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ensureNextBuild, removeDir, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';

const ADMIN = { name: 'Ada Admin', email: 'ada@example.test', password: 'correct horse battery' };

describe('pages under the Content-Security-Policy', { timeout: 15 * 60_000 }, () => {
  let cp: ControlPlane;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let agent: Child | undefined;
  const cspProblems: string[] = [];

  before(async () => {
    ensureNextBuild();
    cp = await startControlPlane();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // The page reports what it blocked in its own events; the console line is the same
    // event as Chromium words it, caught in case a report comes before the listener.
    await context.exposeFunction('__reportCsp', (v: string) => cspProblems.push(v));
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        (window as unknown as { __reportCsp(v: string): void }).__reportCsp(`${location.pathname}: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber}) ${e.sample}`);
      });
    });
    page = await context.newPage();
    page.setDefaultTimeout(30_000);
    page.on('console', (m) => {
      if (/Content.Security.Policy|Refused to (load|execute|apply|connect|frame)/i.test(m.text())) cspProblems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => cspProblems.push(`page error: ${e.message}`));
  });

  after(async () => {
    await agent?.kill('SIGKILL');
    await browser?.close();
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
  });

  /** Asserts no violation so far, naming the step. */
  const clean = (step: string) => assert.deepEqual(cspProblems, [], `CSP violations by ${step}`);
  /** A page the CSP broke usually fails by never getting anywhere: say what was blocked. */
  const reporting = (fn: () => Promise<void>) => async () => {
    try {
      await fn();
    } catch (err) {
      if (!cspProblems.length) throw err;
      throw new Error(`${(err as Error).message}\nCSP violations so far:\n${cspProblems.join('\n')}`, { cause: err });
    }
  };

  test('setup signs the first admin in and lands on the dashboard, with no CSP violation', reporting(async () => {
    await page.goto(cp.url + '/');
    await page.waitForURL(`${cp.url}/setup`);
    await page.getByLabel('Name', { exact: true }).fill(ADMIN.name);
    await page.getByLabel('Email', { exact: true }).fill(ADMIN.email);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByLabel('Confirm password', { exact: true }).fill(ADMIN.password);
    clean('the setup page');
    await page.getByRole('button', { name: 'Create administrator' }).click();
    await page.waitForURL(`${cp.url}/`);
    // The header fills in the name once the session has loaded: wait for it, then read it.
    await page.getByTestId('current-user').filter({ hasText: ADMIN.name }).waitFor();
    assert.equal((await page.getByTestId('current-user').textContent())?.trim(), ADMIN.name);
    await page.getByTestId('hosts-table').getByText('No hosts yet').waitFor();
    // Not a client-side flash: a fresh load is still signed in.
    await page.reload();
    await page.getByTestId('hosts-table').waitFor();
    // The header fills in the name once the session has loaded: wait for it, then read it.
    await page.getByTestId('current-user').filter({ hasText: ADMIN.name }).waitFor();
    assert.equal((await page.getByTestId('current-user').textContent())?.trim(), ADMIN.name);
    clean('the hosts list');
  }));

  test('a host page and a container page with its live log load with no CSP violation', reporting(async () => {
    const cookie = (await context.cookies(cp.url)).map((c) => `${c.name}=${c.value}`).join('; ');
    const api = trpc(cp.url, cookie);
    const { token } = await api.hosts.createJoinToken.mutate({ name: 'edge-1' });
    agent = spawnTsx(['test/integration/support/protocol-agent.ts', '--server', cp.url, '--token', token, '--hostname', 'edge-1.local'], {}, 'agent');
    const { hostId } = JSON.parse((await agent.waitFor(/^ENROLLED /)).slice('ENROLLED '.length)) as { hostId: string };
    await agent.waitFor(/^CONNECTED/);
    await api.images.pull.mutate({ hostId, ref: '127.0.0.1:5000/busybox' });
    const { id } = await api.containers.run.mutate({ hostId, image: '127.0.0.1:5000/busybox', command: 'echo hello from edge', name: 'web' });

    const row = page.locator('[data-testid=host-row]', { has: page.locator('[data-testid=host-status][data-state=online]') });
    await row.first().waitFor();
    await row.first().locator('a').first().click();
    await page.waitForURL(`${cp.url}/hosts/${hostId}`);
    await page.locator('[data-testid=container-row][data-container-name="web"]').waitFor();
    clean('the host page');

    await page.locator('[data-testid=container-row][data-container-name="web"]').getByRole('link', { name: 'web' }).click();
    await page.waitForURL(`${cp.url}/hosts/${hostId}/containers/${id}`);
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=log-line]')].some((l) => l.textContent?.includes('edge')));
    clean('the container page');
  }));

  test('signing out leads to the sign-in page, which says how long to wait after too many failures', reporting(async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${cp.url}/login`);
    clean('the sign-in page');
    const error = page.getByTestId('login-error');
    await page.getByLabel('Email', { exact: true }).fill('nobody@example.test');
    for (let i = 0; i < 5; i++) {
      await page.getByLabel('Password', { exact: true }).fill(`guess ${i}`);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Sign in' }).and(page.locator(':enabled')).waitFor();
      assert.match((await error.textContent()) ?? '', /invalid email or password/i, `attempt ${i + 1}`);
    }
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('login-error').filter({ hasText: 'Too many failed sign-ins' }).waitFor();
    assert.match((await error.textContent()) ?? '', /^Too many failed sign-ins\. Try again in \d+ s\.$/);
    clean('the refused sign-ins');
  }));
});
