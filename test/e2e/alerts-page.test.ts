// The Alerts page in Chromium: an owner reaches it from the header, creates a "host offline"
// rule through the form, and sees the alert appear (and the header's badge count it) for a
// host whose agent is gone; a viewer sees the alert and the rules but no rule form. The owner
// deletes the rule and revokes the host, each through the page's own confirmation (Cancel first
// changes nothing). No page breaks the Content-Security-Policy.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { addUser, ensureNextBuild, removeDir, signIn, spawnTsx, startControlPlane, trpc, type ControlPlane } from '../integration/support/control-plane';
import { signedInPage } from './support/pages';

const OWNER = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1' };
const VIEWER = { email: 'viewer@example.test', password: 'viewer-pass-1' };

describe('the Alerts page', { timeout: 10 * 60_000 }, () => {
  let cp: ControlPlane;
  let browser: Browser;
  let api: ReturnType<typeof trpc>;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  before(async () => {
    ensureNextBuild();
    cp = await startControlPlane(undefined, { env: { BERTH_ALERT_TICK_MS: '500' } });
    await trpc(cp.url).auth.setup.mutate(OWNER);
    await addUser(cp, VIEWER.email, VIEWER.password, 'viewer');
    // A host that enrolled and then went away: its agent (the protocol stand-in) is killed.
    api = trpc(cp.url, await signIn(cp.url, OWNER.email, OWNER.password));
    const { token } = await api.hosts.createJoinToken.mutate({ name: 'lost-host' });
    const agent = spawnTsx(['test/integration/support/protocol-agent.ts', '--server', cp.url, '--token', token], {}, 'agent');
    await agent.waitFor(/^CONNECTED/);
    await agent.kill('SIGKILL');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
  });

  test('an owner creates a rule from the page and sees its alert appear, counted in the header', async () => {
    const page = await signedInPage(browser, cp.url, OWNER, { problems, contexts, timeoutMs: 60_000 });
    const badge = page.getByTestId('alerts-badge');
    await badge.waitFor();
    assert.equal(await badge.getAttribute('data-count'), '0');
    await badge.click();
    await page.waitForURL(`${cp.url}/alerts`);
    await page.getByTestId('alert-rules').getByText('No rules.').waitFor();

    await page.getByTestId('alert-rule-name').fill('host gone');
    await page.getByTestId('alert-rule-kind').selectOption('host.offline');
    await page.getByTestId('alert-opt-graceSeconds').fill('1');
    await page.getByRole('button', { name: 'Create rule' }).click();
    const row = page.getByTestId('alert-rule-row').filter({ hasText: 'host gone' });
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /Host offline.*graceSeconds=1.*all hosts/);

    const alert = page.getByTestId('alert-open-row').filter({ hasText: 'lost-host is offline' });
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /host gone/);
    await page.waitForFunction(() => document.querySelector('[data-testid="alerts-badge"]')?.getAttribute('data-count') === '1', undefined, { timeout: 60_000 });

    // A bad pattern is refused with the reason, and no rule is made.
    await page.getByTestId('alert-rule-name').fill('bad regex');
    await page.getByTestId('alert-rule-kind').selectOption('log.pattern');
    await page.getByTestId('alert-opt-pattern').fill('(unclosed');
    await page.getByRole('button', { name: 'Create rule' }).click();
    await page.getByTestId('alert-rule-form-error').getByText(/options\.pattern: not a valid regex/).waitFor();
    assert.equal(await page.getByTestId('alert-rule-row').count(), 1);
  });

  test('a viewer sees the open alert and the rules, and no way to change them', async () => {
    const page = await signedInPage(browser, cp.url, VIEWER, { problems, contexts, timeoutMs: 60_000 });
    await page.goto(`${cp.url}/alerts`);
    await page.getByTestId('alert-open-row').filter({ hasText: 'lost-host is offline' }).waitFor();
    await page.getByTestId('alert-rule-row').filter({ hasText: 'host gone' }).waitFor();
    assert.equal(await page.getByTestId('alert-rule-form').count(), 0);
    assert.equal(await page.getByTestId('alert-rule-delete').count(), 0);
  });

  test("the owner deletes the rule and revokes the host, each asked in the page's own dialog", async () => {
    const page = await signedInPage(browser, cp.url, OWNER, { problems, contexts, timeoutMs: 60_000 });
    await page.goto(`${cp.url}/alerts`);
    const row = page.getByTestId('alert-rule-row').filter({ hasText: 'host gone' });
    const dialog = page.getByTestId('confirm-dialog');
    await row.getByTestId('alert-rule-delete').click();
    await dialog.getByText('Delete the rule "host gone"?').waitFor();
    await page.getByTestId('confirm-dialog-cancel').click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await api.alerts.rules.query()).length, 1, 'Cancel deleted nothing');
    await row.getByTestId('alert-rule-delete').click();
    await page.getByTestId('confirm-dialog-confirm').click();
    await row.waitFor({ state: 'detached' });
    assert.equal((await api.alerts.rules.query()).length, 0);
    await page.getByTestId('alert-open-row').filter({ hasText: 'lost-host is offline' }).waitFor({ state: 'detached' });

    const [host] = (await api.hosts.list.query()).filter((h) => h.name === 'lost-host');
    await page.goto(`${cp.url}/hosts/${host.id}`);
    await page.getByTestId('host-revoke').click();
    await dialog.getByText('Revoke lost-host?').waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await api.hosts.list.query()).filter((h) => h.name === 'lost-host').length, 1, 'Escape revoked nothing');
    await page.getByTestId('host-revoke').click();
    await page.getByTestId('confirm-dialog-confirm').click();
    await page.waitForURL(`${cp.url}/`);
    assert.equal((await api.hosts.list.query()).filter((h) => h.name === 'lost-host').length, 0);
  });

  test('no Content-Security-Policy violations or page errors', () => {
    assert.deepEqual(problems, []);
  });
});
