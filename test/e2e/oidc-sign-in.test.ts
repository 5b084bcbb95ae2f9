// Sign-in with OpenID Connect in Chromium, against a real OIDC provider on loopback
// (test/fixtures/oidc-provider.ts) and a real agent: the login page has the provider's
// button (and none for GitHub, which is not configured); the first sign-in lands a new
// user in the team their groups claim maps to, with that role, and the host page shows
// exactly that role's controls; the account page asks no password; "sign out everywhere"
// ends every session of theirs; a second sign-in is the same user; an ID token for another
// audience, or signed by another key, ends on the login page's error and in the audit log;
// someone whose groups map to no team lands on "not in any team yet", and an invitation
// link still brings them in.
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { startOidcProvider, type OidcProvider } from '../fixtures/oidc-provider';
import { ensureNextBuild, eventually, removeDir, signIn, startControlPlane, trpc, type ControlPlane } from '../integration/support/control-plane';
import { watchedPage } from './support/pages';

const OWNER = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1' };
const ALICE = { sub: 'alice-0001', email: 'alice@idp.test', email_verified: true, name: 'Alice Operator', groups: ['ops'] };
const VICTOR = { sub: 'victor-0002', email: 'victor@idp.test', email_verified: true, name: 'Victor Viewer', groups: ['auditors'] };
const NOBODY = { sub: 'nora-0003', email: 'nora@idp.test', email_verified: true, name: 'Nora Nobody', groups: ['interns'] };

describe('sign-in with OpenID Connect in the browser', { timeout: 15 * 60_000 }, () => {
  let cp: ControlPlane;
  let idp: OidcProvider;
  let agent: AgentProcess;
  let browser: Browser;
  let hostId: string;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  const sql = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(path.join(cp.dataDir, 'berth.db'), { readonly: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  const userIdOf = (email: string) => (sql((db) => db.prepare('SELECT id FROM "User" WHERE email = ?').get(email)) as { id: string } | undefined)?.id;

  before(async () => {
    ensureNextBuild();
    idp = await startOidcProvider();
    cp = await startControlPlane(undefined, {
      env: {
        BERTH_OIDC_ISSUER: idp.issuer,
        BERTH_OIDC_CLIENT_ID: idp.clientId,
        BERTH_OIDC_CLIENT_SECRET: idp.clientSecret,
        BERTH_OIDC_NAME: 'Test IdP',
        BERTH_OIDC_TEAMS_CLAIM: 'groups',
        BERTH_OIDC_TEAM_MAP: 'ops:Default=operator,auditors:Default=viewer',
      },
    });
    await trpc(cp.url).auth.setup.mutate(OWNER);
    const api = trpc(cp.url, await signIn(cp.url, OWNER.email, OWNER.password));
    const { command } = await api.hosts.createJoinToken.mutate({ name: 'oidc-host' });
    agent = await startAgentProcess('e2e-oidc', { flags: ['--server', cp.url, '--token', /--token (\S+)/.exec(command)![1]] });
    await eventually('the host online', async () => (await api.hosts.list.query()).some((h) => h.online), 60_000);
    hostId = (await api.hosts.list.query())[0].id;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await agent?.stop();
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
    await idp?.close();
  });

  /** Through the login page's button, the provider (auto-consent as `idp.person`), and back. */
  async function viaIdp(page: Page): Promise<void> {
    await page.goto(`${cp.url}/login`);
    await page.getByRole('button', { name: 'Sign in with Test IdP' }).click();
  }

  async function signedInAs(person: typeof ALICE): Promise<Page> {
    idp.person = { ...person };
    const page = await watchedPage(browser, { problems, contexts });
    await viaIdp(page);
    await page.waitForURL(`${cp.url}/`);
    await page.getByTestId('host-row').first().waitFor();
    return page;
  }

  test('the login page offers the configured provider only', async () => {
    const page = await watchedPage(browser, { problems, contexts });
    await page.goto(`${cp.url}/login`);
    const buttons = page.getByTestId('external-sign-in').getByRole('button');
    await buttons.first().waitFor();
    assert.deepEqual(await buttons.allTextContents(), ['Sign in with Test IdP']);
    assert.equal(await page.getByRole('button', { name: /GitHub/ }).count(), 0);
    // The email and password form is still there.
    assert.equal(await page.getByLabel('Password', { exact: true }).count(), 1);
  });

  let aliceId: string | undefined;

  test('first sign-in: a new user, operator in the team the groups claim maps to, with an operator\'s controls', async () => {
    assert.equal(userIdOf(ALICE.email), undefined, 'no account before');
    const page = await signedInAs(ALICE);
    assert.equal(await page.getByTestId('current-user').textContent(), ALICE.name);
    aliceId = userIdOf(ALICE.email);
    assert.ok(aliceId, 'provisioned');
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.getByRole('link', { name: 'Add host' }).count(), 0, 'an operator adds no hosts');
    assert.equal(await nav.getByRole('link', { name: 'Audit log' }).count(), 0);
    await page.getByRole('link', { name: 'oidc-host' }).click();
    await page.getByTestId('pull-form').waitFor();
    assert.equal(await page.getByTestId('run-form').count(), 1, 'an operator runs containers');
    await page.goto(`${cp.url}/account`);
    await page.getByTestId('account-identities').waitFor();
    assert.match((await page.getByTestId('account-identities').textContent())!, /You sign in with Test IdP \(alice@idp\.test\)\. Berth keeps no password for this account/);
    assert.equal(await page.getByTestId('password-form').count(), 0, 'no password is asked for');
    assert.match((await page.getByTestId('account-teams').textContent())!, /Default \(operator\)/);
    const row = sql((db) => db.prepare(`SELECT result, target FROM "AuditLog" WHERE action = 'auth.signin' AND userId = ?`).get(aliceId)) as { result: string; target: string };
    assert.equal(row.result, 'ok');
    assert.match(row.target, /^alice@idp\.test via Test IdP from .*; new account; joined Default as operator$/);
  });

  test('a viewer by their group: the host page without pull, run or container actions', async () => {
    const page = await signedInAs(VICTOR);
    await page.getByRole('link', { name: 'oidc-host' }).click();
    await page.getByTestId('containers-table').waitFor();
    assert.equal(await page.getByTestId('pull-form').count(), 0);
    assert.equal(await page.getByTestId('run-form').count(), 0);
    await page.goto(`${cp.url}/account`);
    await page.getByTestId('account-teams').getByText('Default (viewer)').waitFor();
  });

  test('sign out everywhere ends every session of an OIDC user; the next sign-in is the same user', async () => {
    const first = await signedInAs(ALICE);
    const second = await signedInAs(ALICE);
    await second.goto(`${cp.url}/account`);
    await second.getByTestId('session-row').nth(1).waitFor();
    await second.getByTestId('sign-out-everywhere').click();
    await second.getByTestId('confirm-dialog-confirm').click();
    await second.waitForURL(`${cp.url}/login`);
    // The other browser's cookie is dead too: its next page load goes to the login page.
    await first.goto(`${cp.url}/hosts/${hostId}`);
    await first.waitForURL(`${cp.url}/login`);

    const again = await signedInAs(ALICE);
    assert.equal(await again.getByTestId('current-user').textContent(), ALICE.name);
    assert.equal(userIdOf(ALICE.email), aliceId, 'the same user');
    assert.equal(sql((db) => (db.prepare('SELECT count(*) AS n FROM "Identity" WHERE subject = ?').get(ALICE.sub) as { n: number }).n), 1);
    assert.equal(sql((db) => (db.prepare(`SELECT count(*) AS n FROM "User" WHERE email LIKE '%@idp.test'`).get() as { n: number }).n), 2);
  });

  for (const forgery of ['wrong-audience', 'bad-signature'] as const) {
    test(`an ID token with a ${forgery.replace('-', ' ')} is refused with the login page's error and an audit row`, async () => {
      const before = sql((db) => (db.prepare(`SELECT count(*) AS n FROM "AuditLog" WHERE action = 'auth.signin' AND result LIKE 'error:%' AND target LIKE '%via Test IdP%'`).get() as { n: number }).n);
      idp.person = { ...ALICE };
      idp.nextIdToken = forgery;
      const page = await watchedPage(browser, { problems, contexts });
      await viaIdp(page);
      await page.waitForURL(/\/login\?(.*&)?error=OAuthCallback/);
      const alert = page.getByTestId('login-error');
      await alert.waitFor();
      assert.match((await alert.textContent())!, /identity provider's answer could not be verified .* nobody was signed in\. The attempt is in the audit log\./);
      assert.equal((await page.context().cookies()).filter((c) => c.name === 'next-auth.session-token').length, 0);
      const rows = sql((db) => db.prepare(`SELECT result FROM "AuditLog" WHERE action = 'auth.signin' AND result LIKE 'error:%' AND target LIKE '%via Test IdP%' ORDER BY createdAt`).all()) as Array<{ result: string }>;
      assert.equal(rows.length, before + 1);
      assert.match(rows.at(-1)!.result, forgery === 'wrong-audience' ? /aud/ : /signature/);
    });
  }

  test('someone whose groups map to no team lands on "not in any team yet"; an invitation still brings them in', async () => {
    idp.person = { ...NOBODY };
    const page = await watchedPage(browser, { problems, contexts });
    await viaIdp(page);
    await page.waitForURL(`${cp.url}/no-team`);
    await page.getByTestId('no-team').getByText('You are not in any team yet').waitFor();
    await page.getByTestId('no-team').getByText(/Signed in as Nora Nobody/).waitFor();
    assert.match((await page.getByTestId('no-team').textContent())!, /Signed in as Nora Nobody \(nora@idp\.test\)\. Ask an admin of the team you work with for an invitation/);

    const owner = trpc(cp.url, await signIn(cp.url, OWNER.email, OWNER.password));
    const teamId = (await owner.account.me.query()).teams[0].id;
    const invitation = await owner.team.invite.mutate({ teamId, role: 'viewer', expiresInHours: 1 });
    await page.goto(`${cp.url}${invitation.path}`);
    await page.getByRole('button', { name: 'Join Default' }).click();
    await page.waitForURL(`${cp.url}/`);
    await page.getByTestId('host-row').first().waitFor();
    await page.goto(`${cp.url}/account`);
    await page.getByTestId('account-teams').getByText('Default (viewer)').waitFor();
    assert.deepEqual(problems, []);
  });
});
