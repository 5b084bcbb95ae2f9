// A personal access token made and revoked on the Account page in Chromium, used in between
// as a user would: what the page prints (config.json's lines, the `docker context create`
// command) pasted as it is, and the real docker CLI driving a real agent through the control
// plane with it; the Team page lists it for the team's admins; after Revoke the same CLI gets
// the 401's words.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { splitShellWords } from '../../protocol/shell-words';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { ensureNextBuild, eventually, removeDir, signIn, startControlPlane, trpc, type ControlPlane } from '../integration/support/control-plane';
import { signedInPage } from './support/pages';

const OWNER = { email: 'tokens@example.test', name: 'Tess Tokens', password: 'tokens-pass-1' };

describe('access tokens on the Account page', { timeout: 10 * 60_000 }, () => {
  let cp: ControlPlane;
  let browser: Browser;
  let agent: AgentProcess;
  let tmp: string;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  before(async () => {
    ensureNextBuild();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-e2e-pat-'));
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(OWNER);
    const api = trpc(cp.url, await signIn(cp.url, OWNER.email, OWNER.password));
    const { command } = await api.hosts.createJoinToken.mutate({ name: 'laptop-target' });
    agent = await startAgentProcess('e2e-pat', { flags: ['--server', cp.url, '--token', /--token (\S+)/.exec(command)![1]] });
    await eventually('the host online', async () => (await api.hosts.list.query()).some((h) => h.online), 60_000);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await agent?.stop();
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('make a token, paste what the page prints, drive the host with the docker CLI, revoke it', async () => {
    const page = await signedInPage(browser, cp.url, OWNER, { problems, contexts });
    await page.goto(`${cp.url}/account`);
    await page.getByTestId('tokens-table').getByText('No access tokens.').waitFor();
    await page.getByLabel('Name (what it is for)').fill('my laptop');
    await page.getByTestId('token-role').selectOption('operator');
    await page.getByTestId('token-host').check();
    await page.getByLabel('Expires after (days, 1 to 365)').fill('7');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.getByTestId('token-secret').textContent())!.trim();
    assert.match(secret, /^berth_pat_\S{40,}$/);
    const config = (await page.getByTestId('token-config').textContent())!;
    assert.deepEqual(JSON.parse(config), { HttpHeaders: { Authorization: `Bearer ${secret}` } });
    const [contextLine, useLine] = (await page.getByTestId('token-context').textContent())!.trim().split('\n');
    assert.match(contextLine, /^docker context create berth-laptop-target --docker "host=tcp:\/\/localhost:\d+\/docker\/laptop-target"$/);

    const row = page.getByTestId('token-row');
    await row.getByText('my laptop').waitFor();
    assert.match((await row.textContent())!, new RegExp(`berth_pat_…${secret.slice(-4)}.*Default.*operator.*laptop-target.*never`));
    assert.ok(!(await row.textContent())!.includes(secret), 'the list does not show the token');

    const dir = mkdtempSync(path.join(tmp, 'cfg-'));
    writeFileSync(path.join(dir, 'config.json'), config);
    const env = { ...process.env, DOCKER_CONFIG: dir, DOCKER_CLI_HINTS: 'false', DOCKER_HOST: '', DOCKER_CONTEXT: '' };
    const run = (line: string, extra: string[] = []) => spawnSync('timeout', ['-k', '5', '60', ...splitShellWords(line), ...extra], { encoding: 'utf8', env });
    const created = run(contextLine);
    assert.equal(created.status, 0, created.stderr);
    const ps = run(useLine, ['--format', '{{.ID}}']);
    assert.equal(ps.status, 0, ps.stderr);
    assert.equal(ps.stdout.trim(), agent.ok(['ps', '-q']).trim());

    // The team's admins see it on the Team page, with who holds it.
    await page.goto(`${cp.url}/team`);
    const teamRow = page.getByTestId('team-token-row');
    await teamRow.getByText('my laptop').waitFor();
    assert.match((await teamRow.textContent())!, new RegExp(`${OWNER.email}.*operator.*laptop-target`));

    await page.goto(`${cp.url}/account`);
    await page.getByTestId('token-row').getByText('my laptop').waitFor();
    assert.ok(!/never$/.test((await page.getByTestId('token-row').locator('td').nth(5).textContent())!.trim()), 'its last use is shown');
    await page.getByTestId('revoke-token').click();
    await page.getByTestId('confirm-dialog-confirm').click();
    await page.getByTestId('tokens-table').getByText('No access tokens.').waitFor();
    const refused = run(useLine);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /access token "my laptop" was revoked/);
    assert.deepEqual(problems, []);
  });
});
