// The dashboard over TLS in Chromium: an admin signs in over https (the socket.io '/ui' link
// over wss, as the live host list shows), the "add host" page prints the command that pins the
// server's certificate and says so, a real agent started with it comes online, and on the
// host's page the admin clicks "Rotate credential": the agent's stored credential changes,
// the old one is refused by the server, and the action is in the audit log. An offline host's
// button is disabled, saying why.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { io as ioClient } from 'socket.io-client';
import { readCredential } from '../../agent/link/credential';
import { AGENT_NAMESPACE } from '../../protocol/agent-link';
import { splitShellWords } from '../../protocol/shell-words';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { fetchWithCa, makeCert, type TestCert } from '../fixtures/tls';
import { createTRPCClient, httpLink } from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter } from '../../server/trpc/router';
import { ensureNextBuild, eventually, removeDir, startControlPlane, type ControlPlane } from '../integration/support/control-plane';
import { signedInPage } from './support/pages';

const OWNER = { email: 'tls-admin@example.test', name: 'Tia Admin', password: 'owner-pass-1' };

describe('TLS and credential rotation in the browser', { timeout: 10 * 60_000 }, () => {
  let tmp: string;
  let cert: TestCert;
  let cp: ControlPlane;
  let url: string;
  let browser: Browser;
  let agent: AgentProcess | undefined;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  before(async () => {
    ensureNextBuild();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-tls-e2e-'));
    cert = makeCert(tmp, 'server');
    cp = await startControlPlane(undefined, { env: { BERTH_TLS_CERT: cert.certFile, BERTH_TLS_KEY: cert.keyFile } });
    url = `https://localhost:${cp.port}`;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close();
      await browser?.close();
      await agent?.stop();
    } finally {
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('an admin adds a pinned host over https and rotates its credential from the host page', async () => {
    await createTRPCClient<AppRouter>({ links: [httpLink({ url: `${url}/api/trpc`, transformer: superjson, fetch: fetchWithCa(cert.cert) })] }).auth.setup.mutate(OWNER);
    const page = await signedInPage(browser, url, OWNER, { problems, contexts, context: { ignoreHTTPSErrors: true } });
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === '__Secure-next-auth.session-token');
    assert.ok(session?.secure, `a Secure session cookie in ${JSON.stringify(cookies.map((c) => c.name))}`);

    await page.goto(`${url}/hosts/new`);
    await page.getByLabel('Host name', { exact: true }).fill('pinned-01');
    await page.getByRole('button', { name: 'Create join token' }).click();
    const command = (await page.getByTestId('join-command').textContent()) ?? '';
    assert.match(command, new RegExp(`--server ${url} --server-fingerprint ${cert.fingerprint} --token \\S+`));
    assert.match((await page.getByTestId('join-fingerprint').textContent()) ?? '', new RegExp(`accepts only this server's certificate, ${cert.fingerprint}`));

    const words = splitShellWords(command);
    agent = await startAgentProcess('tls-e2e', { flags: words.slice(words.indexOf('--server')) });
    // The list goes live by itself ('/ui' over wss): the new host appears online without a reload.
    await page.goto(`${url}/`);
    const row = page.getByTestId('hosts-table').getByRole('row', { name: /pinned-01/ });
    await row.getByText('online').waitFor({ timeout: 60_000 });
    await row.getByRole('link', { name: 'pinned-01' }).click();
    await page.getByTestId('host-name').waitFor();

    const old = readCredential(agent.root)!.credential;
    await page.getByTestId('host-rotate-credential').click();
    await page.getByTestId('host-rotated').waitFor();
    const now = readCredential(agent.root)!;
    assert.notEqual(now.credential, old);
    assert.equal(now.serverFingerprint, cert.fingerprint);
    const refused = await new Promise<string>((resolve) => {
      const s = ioClient(url + AGENT_NAMESPACE, { transports: ['websocket'], ca: cert.cert.toString(), reconnection: false, auth: { hostId: now.hostId, credential: old } });
      s.on('connect', () => (s.disconnect(), resolve('connected')));
      s.on('connect_error', (e) => (s.disconnect(), resolve(e.message)));
    });
    assert.equal(refused, 'unauthorized');

    await page.goto(`${url}/audit`);
    const audited = page.getByTestId('audit-row').filter({ hasText: 'hosts.rotateCredential' });
    await audited.first().waitFor();
    const cells = await audited.first().locator('td').allTextContents();
    assert.equal(cells[1].startsWith(OWNER.name), true, cells.join(' | '));
    assert.equal(cells[3], 'pinned-01');
    assert.equal(cells[5], 'ok');

    // Offline: the button says why it cannot be used.
    await agent.kill('SIGTERM');
    await page.goto(`${url}/hosts/${now.hostId}`);
    await page.getByTestId('host-offline').waitFor({ timeout: 30_000 });
    const button = page.getByTestId('host-rotate-credential');
    assert.equal(await button.isDisabled(), true);
    assert.match((await button.getAttribute('title')) ?? '', /offline: a credential is rotated over its live link/);
    assert.deepEqual(problems, []);
  });
});
