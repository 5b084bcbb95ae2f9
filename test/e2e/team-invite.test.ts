// A new person joins through the dashboard in Chromium: the owner makes an invitation
// link on the Team page, a browser with no account opens it, makes an account and lands
// signed in with exactly the role chosen (no admin links, no role controls); the owner
// raises the role and the new member sees it; the member's Account page lists their
// sessions and "sign out everywhere" ends them; an admin's password reset sends the
// member to choose a new password before anything else.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ensureNextBuild, removeDir, startControlPlane, trpc, type ControlPlane } from '../integration/support/control-plane';

const OWNER = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1' };
const NEW = { email: 'newbie@example.test', name: 'Nina New', password: 'nina-pass-123' };

describe('inviting a member through the dashboard', { timeout: 15 * 60_000 }, () => {
  let cp: ControlPlane;
  let browser: Browser;
  let link: string;

  before(async () => {
    ensureNextBuild();
    cp = await startControlPlane();
    assert.deepEqual(await trpc(cp.url).auth.setup.mutate(OWNER), { ok: true });
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
    await page.getByTestId('hosts-table').getByText('No hosts yet').waitFor();
    return page;
  }

  test('the owner makes a viewer link on the Team page', async () => {
    const page = await signedIn(OWNER.email, OWNER.password);
    try {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Team' }).click();
      await page.getByTestId('members-table').getByText(OWNER.email).waitFor();
      await page.getByTestId('invite-role').selectOption('viewer');
      await page.getByRole('button', { name: 'Make a link' }).click();
      link = await page.getByTestId('invite-link').inputValue();
      assert.match(link, new RegExp(`^${cp.url}/invite/binv_`));
      await page.getByTestId('invitation-row').first().waitFor();
      assert.equal(await page.getByTestId('invitation-row').count(), 1);
    } finally {
      await page.context().close();
    }
  });

  test('someone without an account opens it, makes one, and is a viewer: no admin links, no role controls', async () => {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    try {
      await page.goto(link);
      assert.equal(await page.getByTestId('invite-title').textContent(), 'Join Default as viewer');
      await page.getByLabel('Email', { exact: true }).fill(NEW.email);
      await page.getByLabel('Name', { exact: true }).fill(NEW.name);
      await page.getByLabel('Password (8 characters or more)', { exact: true }).fill(NEW.password);
      await page.getByRole('button', { name: 'Create account and join' }).click();
      await page.getByTestId('hosts-table').getByText('No hosts yet').waitFor();
      assert.equal(await page.getByTestId('current-user').textContent(), NEW.name);
      const nav = page.getByRole('navigation', { name: 'Main' });
      assert.equal(await nav.getByRole('link', { name: 'Add host' }).count(), 0);
      assert.equal(await nav.getByRole('link', { name: 'Audit log' }).count(), 0);
      await nav.getByRole('link', { name: 'Team' }).click();
      await page.getByTestId('members-table').getByText(NEW.email).waitFor();
      assert.equal(await page.getByTestId('member-role').count(), 0, 'a viewer changes no roles');
      assert.equal(await page.getByTestId('member-remove').count(), 0);
      assert.equal(await page.getByTestId('invite-create').count(), 0);
      // The same link a second time is spent.
      const again = await (await browser.newContext()).newPage();
      await again.goto(link);
      assert.match((await again.getByTestId('invite-error').textContent()) ?? '', /used already/);
      await again.context().close();
    } finally {
      await page.context().close();
    }
  });

  test('the owner raises the member to operator; the member sees it; their sessions can all be ended', async () => {
    const owner = await signedIn(OWNER.email, OWNER.password);
    const member = await signedIn(NEW.email, NEW.password);
    try {
      await owner.goto(`${cp.url}/team`);
      const row = owner.locator(`[data-testid="member-row"][data-email="${NEW.email}"]`);
      await row.getByTestId('member-role').selectOption('operator');
      await owner.waitForFunction((email) => document.querySelector<HTMLSelectElement>(`[data-email="${email}"] select`)?.value === 'operator', NEW.email);
      await member.goto(`${cp.url}/team`);
      await member.locator(`[data-testid="member-row"][data-email="${NEW.email}"]`).getByText('operator').waitFor();

      await member.goto(`${cp.url}/account`);
      await member.getByTestId('session-row').first().waitFor();
      assert.ok((await member.getByTestId('session-row').count()) >= 2, 'this browser and the one from the invitation');
      assert.equal(await member.getByText('this browser').count(), 1);
      await member.getByTestId('sign-out-everywhere').click();
      await member.getByTestId('confirm-dialog-confirm').click();
      await member.waitForURL(`${cp.url}/login`);
    } finally {
      await owner.context().close();
      await member.context().close();
    }
  });

  test('after an admin resets the password the member must choose a new one first', async () => {
    const owner = await signedIn(OWNER.email, OWNER.password);
    try {
      await owner.goto(`${cp.url}/team`);
      await owner.locator(`[data-testid="member-row"][data-email="${NEW.email}"]`).getByTestId('member-reset').click();
      await owner.getByRole('button', { name: 'Reset password' }).last().click();
      const notice = (await owner.getByTestId('team-notice').textContent()) ?? '';
      const temporary = /Temporary password for \S+: (\S+)/.exec(notice)?.[1];
      assert.ok(temporary, notice);

      const member = await (await browser.newContext()).newPage();
      await member.goto(`${cp.url}/login`);
      await member.getByLabel('Email', { exact: true }).fill(NEW.email);
      await member.getByLabel('Password', { exact: true }).fill(temporary);
      await member.getByRole('button', { name: 'Sign in' }).click();
      await member.waitForURL(`${cp.url}/account`);
      await member.getByTestId('must-change-password').waitFor();
      await member.goto(`${cp.url}/`);
      await member.waitForURL(`${cp.url}/account`);
      await member.getByLabel('Current password', { exact: true }).fill(temporary);
      await member.getByLabel('New password (8 characters or more)', { exact: true }).fill('nina-pass-456');
      await member.getByLabel('New password again', { exact: true }).fill('nina-pass-456');
      await member.getByRole('button', { name: 'Change password' }).click();
      await member.getByTestId('password-notice').waitFor();
      await member.goto(`${cp.url}/`);
      await member.getByTestId('hosts-table').getByText('No hosts yet').waitFor();
      await member.context().close();

      await owner.goto(`${cp.url}/audit`);
      await owner.getByTestId('audit-row').first().waitFor();
      const actions = await owner.getByTestId('audit-row').locator('td:nth-child(3)').allTextContents();
      for (const a of ['team.invite', 'team.acceptInvitation', 'team.setRole', 'team.resetPassword', 'account.signOutEverywhere', 'account.changePassword']) assert.ok(actions.includes(a), `${a} in the audit log`);
    } finally {
      await owner.context().close();
    }
  });
});
