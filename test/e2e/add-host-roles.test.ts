// "Add host" as each role sees it in Chromium: owners and admins get the link and the
// join-token form (and the audit log link); operators and viewers get neither, and the
// page says why.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { addUser, ensureNextBuild, removeDir, startControlPlane, trpc, type ControlPlane } from '../integration/support/control-plane';

const OWNER = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1' };
const PASSWORD = 'member-pass-1';

describe('add host by role', { timeout: 15 * 60_000 }, () => {
  let cp: ControlPlane;
  let browser: Browser;

  before(async () => {
    ensureNextBuild();
    cp = await startControlPlane();
    assert.deepEqual(await trpc(cp.url).auth.setup.mutate(OWNER), { ok: true });
    await addUser(cp, 'admin@example.test', PASSWORD, 'admin');
    await addUser(cp, 'operator@example.test', PASSWORD, 'operator');
    await addUser(cp, 'viewer@example.test', PASSWORD, 'viewer');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    await browser?.close();
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
  });

  async function signedIn(email: string, password: string): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await page.goto(`${cp.url}/login`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('hosts-table').waitFor();
    // The empty-state row says what this user can do about no hosts; by then the role is known.
    await page.getByTestId('hosts-table').getByText('No hosts yet').waitFor();
    return page;
  }

  for (const [email, password] of [
    [OWNER.email, OWNER.password],
    ['admin@example.test', PASSWORD],
  ]) {
    test(`${email.split('@')[0]}: sees "Add host" and can create a join token`, async () => {
      const page = await signedIn(email, password);
      try {
        const nav = page.getByRole('navigation', { name: 'Main' });
        assert.equal(await nav.getByRole('link', { name: 'Add host' }).count(), 1);
        assert.equal(await nav.getByRole('link', { name: 'Audit log' }).count(), 1);
        await nav.getByRole('link', { name: 'Add host' }).click();
        await page.getByLabel('Host name', { exact: true }).fill('web-01');
        await page.getByRole('button', { name: 'Create join token' }).click();
        const cmd = (await page.getByTestId('join-command').textContent()) ?? '';
        assert.match(cmd, /--token \S+/);
        // This server answers on localhost, which an agent on another machine cannot reach.
        assert.match((await page.getByTestId('join-loopback').textContent()) ?? '', /BERTH_PUBLIC_URL/);
        assert.equal(await page.getByTestId('add-host-forbidden').count(), 0);
      } finally {
        await page.context().close();
      }
    });
  }

  for (const role of ['operator', 'viewer']) {
    test(`${role}: no "Add host" anywhere, and the page says only admins can add hosts`, async () => {
      const page = await signedIn(`${role}@example.test`, PASSWORD);
      try {
        assert.equal(await page.getByRole('link', { name: 'Add host' }).count(), 0, 'no link in the header or the list');
        assert.equal(await page.getByRole('link', { name: 'Add one' }).count(), 0, 'no link in the empty list');
        // The audit log is refused below admin too: no link that leads to an error.
        assert.equal(await page.getByRole('link', { name: 'Audit log' }).count(), 0);
        await page.goto(`${cp.url}/hosts/new`);
        const notice = page.getByTestId('add-host-forbidden');
        await notice.waitFor();
        assert.match((await notice.textContent()) ?? '', new RegExp(`Only admins can add hosts.*${role}`));
        assert.equal(await page.getByTestId('join-token-form').count(), 0);
        assert.equal(await page.getByLabel('Host name').count(), 0);
        const shots = process.env.BERTH_E2E_SCREENSHOTS;
        if (shots) await page.screenshot({ path: path.join(shots, `add-host-${role}.png`), fullPage: true });
      } finally {
        await page.context().close();
      }
    });
  }
});
