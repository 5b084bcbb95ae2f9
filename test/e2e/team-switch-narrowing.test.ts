// A new user invited into a second team switches to it in Chromium and sees exactly what
// their role and host narrowing allow. They join the Default team as a viewer (a new
// account), then the Lab team as an operator while signed in; Lab's owner narrows them,
// on the Team page, to one of Lab's two hosts. With the header's switcher they move
// between the teams: in Default they see Default's host and no container actions; in Lab
// only the host they were narrowed to, its container with the operator's actions, and not
// the other host, even by its address. No admin links anywhere for them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { eventually, ensureNextBuild, removeDir, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';
import { signedInPage, watchedPage } from './support/pages';

const OWNER = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1' };
const NEW = { email: 'nadia@example.test', name: 'Nadia New', password: 'nadia-pass-123' };

describe('a second team, switched to, with a narrowed role', { timeout: 15 * 60_000 }, () => {
  let cp: ControlPlane;
  let browser: Browser;
  const agents: Child[] = [];
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  let owner: ReturnType<typeof trpc>;
  let labId: string;
  let defaultId: string;
  const hosts: Record<string, string> = {};

  async function enrol(name: string, teamId: string): Promise<void> {
    const { token } = await owner.hosts.createJoinToken.mutate({ name, teamId });
    const agent = spawnTsx(['test/integration/support/protocol-agent.ts', '--server', cp.url, '--token', token, '--hostname', name], {}, name);
    agents.push(agent);
    hosts[name] = (JSON.parse((await agent.waitFor(/^ENROLLED /)).slice('ENROLLED '.length)) as { hostId: string }).hostId;
    await agent.waitFor(/^CONNECTED/);
    await eventually(`${name} online`, async () => (await owner.hosts.get.query({ hostId: hosts[name] })).online, 30_000);
  }

  before(async () => {
    ensureNextBuild();
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(OWNER);
    owner = trpc(cp.url, await signIn(cp.url, OWNER.email, OWNER.password));
    defaultId = (await owner.account.me.query()).teams[0].id;
    labId = (await owner.team.create.mutate({ name: 'Lab' })).id;
    await enrol('default-1', defaultId);
    await enrol('lab-1', labId);
    await enrol('lab-2', labId);
    for (const h of ['lab-1', 'lab-2']) {
      await owner.images.pull.mutate({ hostId: hosts[h], ref: '127.0.0.1:5000/busybox' });
      await owner.containers.run.mutate({ hostId: hosts[h], image: '127.0.0.1:5000/busybox', command: 'sleep 1000', name: `web-on-${h}` });
    }
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    for (const a of agents) await a.kill('SIGKILL');
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
  });

  const hostNames = async (page: Page) => {
    await page.getByTestId('host-row').first().waitFor();
    return (await page.getByTestId('host-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-host-name')))).sort();
  };

  test('invited to Default as a viewer and to Lab as an operator; narrowed in Lab to lab-2 on the Team page', async () => {
    const first = await owner.team.invite.mutate({ teamId: defaultId, role: 'viewer' });
    const page = await watchedPage(browser, { problems, contexts });
    await page.goto(`${cp.url}${first.path}`);
    await page.getByLabel('Email', { exact: true }).fill(NEW.email);
    await page.getByLabel('Name', { exact: true }).fill(NEW.name);
    await page.getByLabel('Password (8 characters or more)', { exact: true }).fill(NEW.password);
    await page.getByRole('button', { name: 'Create account and join' }).click();
    assert.deepEqual(await hostNames(page), ['default-1']);

    const second = await owner.team.invite.mutate({ teamId: labId, role: 'operator' });
    await page.goto(`${cp.url}${second.path}`);
    assert.equal(await page.getByTestId('invite-title').textContent(), 'Join Lab as operator');
    await page.getByRole('button', { name: 'Join Lab' }).click();
    // Joining takes the browser into the new team.
    await page.waitForURL(`${cp.url}/`);
    assert.deepEqual(await hostNames(page), ['lab-1', 'lab-2']);

    // Lab's owner narrows the newcomer to lab-2 in the dashboard.
    const ownerPage = await signedInPage(browser, cp.url, OWNER, { problems, contexts });
    await ownerPage.getByTestId('team-switcher').selectOption({ label: 'Lab (owner)' });
    await ownerPage.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Team' }).click();
    await ownerPage.getByTestId('team-name').getByText('Lab:').waitFor();
    const row = ownerPage.locator(`[data-testid="member-row"][data-email="${NEW.email}"]`);
    assert.equal(await row.getByTestId('member-hosts').textContent(), 'all hosts');
    await row.getByTestId('member-hosts-edit').click();
    await row.locator('[data-testid="member-host-option"][data-host="lab-1"]').uncheck();
    await row.getByTestId('member-hosts-save').click();
    await row.getByTestId('member-hosts').getByText('lab-2').waitFor();
    assert.equal(await row.getByTestId('member-hosts').textContent(), 'lab-2');
    await ownerPage.context().close();
  });

  test('with the switcher they see exactly their role and hosts in each team', async () => {
    const page = await signedInPage(browser, cp.url, NEW, { problems, contexts });
    const nav = page.getByRole('navigation', { name: 'Main' });
    const switcher = page.getByTestId('team-switcher');
    // The sign-in's session starts in their first team.
    assert.deepEqual(await hostNames(page), ['default-1']);
    assert.deepEqual((await switcher.locator('option').allTextContents()).slice(0, 2), ['Default (viewer)', 'Lab (operator)']);

    await switcher.selectOption({ label: 'Lab (operator)' });
    await eventually('the list follows the switch', async () => JSON.stringify(await hostNames(page)) === '["lab-2"]', 15_000);
    for (const admin of ['Add host', 'Audit log', 'Registries']) assert.equal(await nav.getByRole('link', { name: admin }).count(), 0, `no ${admin} link for an operator`);
    await page.locator('[data-testid="host-row"][data-host-name="lab-2"] a').first().click();
    await page.getByText('Your role here: operator').waitFor();
    const web = page.locator('[data-testid="container-row"][data-container-name="web-on-lab-2"]');
    await web.getByTestId('container-stop').waitFor();
    assert.equal(await web.getByTestId('container-stop').isEnabled(), true, 'an operator may stop it');
    // The other Lab host is not theirs, even by its address.
    await page.goto(`${cp.url}/hosts/${hosts['lab-1']}`);
    await page.getByTestId('host-error').getByText(`No such host: ${hosts['lab-1']}`).waitFor();
    await page.goto(`${cp.url}/images`);
    await page.getByTestId('fleet-image-row').first().waitFor();
    const imageHosts = new Set(await page.getByTestId('fleet-image-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-host-id'))));
    assert.deepEqual([...imageHosts], [hosts['lab-2']], "the fleet's images are lab-2's only");

    await page.goto(`${cp.url}/`);
    await switcher.selectOption({ label: 'Default (viewer)' });
    await eventually('back in Default', async () => JSON.stringify(await hostNames(page)) === '["default-1"]', 15_000);
    await page.locator('[data-testid="host-row"][data-host-name="default-1"] a').first().click();
    await page.getByText('Your role here: viewer').waitFor();
    assert.equal(await page.getByTestId('pull-form').count(), 0, 'a viewer pulls nothing');
    await page.goto(`${cp.url}/audit`);
    await page.getByTestId('audit-error').getByText('only an owner or admin can read the audit log').waitFor();
    assert.deepEqual(problems, []);
  });

  test("the owner keeps Lab's registry login (shown as set, never again in clear) and filters and exports Lab's audit log", async () => {
    const page = await signedInPage(browser, cp.url, OWNER, { problems, contexts, context: { acceptDownloads: true } });
    await page.getByTestId('team-switcher').selectOption({ label: 'Lab (owner)' });
    await eventually('in Lab', async () => JSON.stringify(await hostNames(page)) === '["lab-1","lab-2"]', 15_000);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Registries' }).click();
    await page.getByTestId('registries-table').getByText('No registry logins.').waitFor();
    await page.getByTestId('registry-server').fill('https://Registry.Lab.test:5443/');
    await page.getByTestId('registry-username').fill('ci-bot');
    await page.getByTestId('registry-secret-input').fill('lab-secret-93kd');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    const row = page.locator('[data-testid="registry-row"][data-server="registry.lab.test:5443"]');
    await row.waitFor();
    assert.equal(await row.getByTestId('registry-secret').textContent(), 'set');
    await page.reload();
    await row.waitFor();
    assert.ok(!(await page.content()).includes('lab-secret-93kd'), 'the secret is not on the page');
    await row.getByTestId('registry-rotate').click();
    await row.getByTestId('registry-rotate-secret').fill('lab-secret-rotated');
    await row.getByTestId('registry-rotate-save').click();
    await row.getByTestId('registry-rotate').waitFor();

    await nav.getByRole('link', { name: 'Audit log' }).click();
    await page.getByTestId('audit-row').first().waitFor();
    await page.getByTestId('audit-filter-user').selectOption({ label: NEW.email });
    await eventually('only their rows', async () => {
      const who = await page.getByTestId('audit-row').locator('td:nth-child(2)').allTextContents();
      // The name, and under it where the action came from (this test's browser: loopback).
      return who.length > 0 && who.every((w) => /^Nadia New(127\.0\.0\.1|::1)$/.test(w));
    }, 15_000);
    const actions = await page.getByTestId('audit-row').locator('td:nth-child(3)').allTextContents();
    assert.ok(actions.includes('team.acceptInvitation'), actions.join(', '));
    assert.ok(actions.includes('auth.signin'), actions.join(', '));
    const download = page.waitForEvent('download');
    await page.getByTestId('audit-csv').click();
    const file = await (await download).path();
    const csv = (await import('node:fs')).readFileSync(file, 'utf8');
    const lines = csv.trimEnd().split('\r\n');
    assert.equal(lines[0], 'time,user,user id,from,action,host,host id,target,result');
    assert.equal(lines.length - 1, actions.length, 'the export holds what the filter shows');
    assert.ok(lines.slice(1).every((l) => l.split(',')[1] === NEW.email), 'every exported row is theirs');
    await page.getByTestId('audit-filter-user').selectOption({ label: 'anyone' });
    await page.getByTestId('audit-filter-action').selectOption('registries.');
    await eventually('registry rows', async () => {
      const a = await page.getByTestId('audit-row').locator('td:nth-child(3)').allTextContents();
      return JSON.stringify(a) === '["registries.rotate","registries.add"]';
    }, 15_000);
    assert.ok(!(await page.content()).includes('lab-secret'), 'no secret in the audit log either');
    assert.deepEqual(problems, []);
  });
});
