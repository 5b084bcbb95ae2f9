// A container page left open through outages, in Chromium, against the real control
// plane and a real agent: the control plane restarts, the agent stops (SIGTERM), the
// agent freezes (SIGSTOP). The container prints numbered lines all along; the page
// never reloads and must end up showing every number once, in order, and say plainly
// while the host is away that what it shows is as of when the host was last seen.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { readLogLines, type ShownLine } from './support/log-lines';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { alive, } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { isStopped, tcpConnectionsOf } from '../fixtures/tcp';
import { ensureNextBuild, eventually, freePort, removeDir, ROOT, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';
import { removeAgentLeftovers } from './support/teardown';

const ADMIN = { email: 'ops@example.test', name: 'Otto Ops', password: 'ops-pass-1234' };
const TICKER = `sh -c 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done'`;
// Only keeps a broken page from hanging the run: the agent's reconnect back-off alone may
// take up to 45 s after the control plane is back.
const RECOVER_MS = 180_000;
const SHOTS = path.join(ROOT, 'test-results');

type Shown = ShownLine;

/** Every line the page holds (read by scrolling through it: the viewer draws only what is in view). */
const shownLines = (page: Page): Promise<Shown[]> => readLogLines(page);

const tickOf = (l: Shown): number => {
  const m = /^tick (\d+)$/.exec(l.text);
  assert.ok(m, `a ticker line, got ${JSON.stringify(l.text)}`);
  return Number(m[1]);
};

/** Every number once, in order, and the log's own sequence strictly increasing (seqs are compared, never counted). */
function assertUnbroken(lines: Shown[], what: string): void {
  for (let i = 1; i < lines.length; i++) {
    assert.ok(lines[i].seq > lines[i - 1].seq, `${what}: seq ${lines[i].seq} after ${lines[i - 1].seq}`);
    assert.equal(tickOf(lines[i]), tickOf(lines[i - 1]) + 1, `${what}: "${lines[i].text}" right after "${lines[i - 1].text}"`);
  }
}

/** The highest number the container has printed so far, read from the agent's own Docker API (not through the control plane). */
function latestTick(socketPath: string, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: `/containers/${id}/logs?stdout=1&stderr=1&tail=5`, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        const ticks = [...body.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
        if (res.statusCode !== 200 || !ticks.length) reject(new Error(`GET logs: ${res.statusCode} ${JSON.stringify(body.slice(0, 200))}`));
        else resolve(Math.max(...ticks));
      });
    });
    req.on('timeout', () => req.destroy(new Error('GET logs: timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('a container page through control-plane and agent outages', { timeout: 15 * 60_000 }, () => {
  // A step that hangs fails on its own instead of taking the rest of the run with it.
  const STEP = { timeout: 5 * 60_000 };
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let cp: ControlPlane;
  let port: number;
  let dataDir: string;
  let tmp: string;
  let agentRoot: string;
  let dockerSocket: string;
  let agent: Child | undefined;
  let hostId: string;
  let containerId: string | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  const startAgent = (extra: string[]) =>
    spawnTsx(['agent/main.ts', '--root', agentRoot, '--docker-socket', dockerSocket, '--server', cp.url, ...extra], {}, 'agent');

  /** Until the agent (re)connects to the control plane after its `from`th line of output. */
  const agentConnected = (a: Child, from = 0) =>
    eventually('the agent connected', () => a.lines.slice(from).some((l) => /connected to .* as host \S+/.test(l)), RECOVER_MS, 100);

  /** Removes our container through the agent's own socket (containers outlive their agent on purpose). */
  const removeContainer = (id: string) =>
    new Promise<void>((resolve) => {
      const req = request({ socketPath: dockerSocket, method: 'DELETE', path: `/containers/${id}?force=true`, timeout: 30_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 204) console.error(`cleanup: DELETE ${id}: ${res.statusCode}`);
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => (console.error(`cleanup: cannot remove ${id}: ${err.message}`), resolve()));
      req.end();
    });

  /** The page says the host is live: no offline notice, the state is the current one, the log follows. */
  async function waitLive(): Promise<void> {
    await page.getByTestId('host-offline').waitFor({ state: 'detached', timeout: RECOVER_MS });
    await page.locator('[data-testid=log-status]', { hasText: 'following' }).waitFor({ timeout: RECOVER_MS });
    await page.locator('[data-testid=container-state][data-state=running]', { hasText: /^running$/ }).waitFor({ timeout: RECOVER_MS });
  }

  /** Waits until the page shows what the container printed by now, then checks nothing before it was lost or doubled. */
  async function caughtUp(before: Shown[], what: string): Promise<Shown[]> {
    const target = await latestTick(dockerSocket, containerId!);
    await page.waitForFunction(
      (n) => [...document.querySelectorAll('[data-testid=log-line]')].some((el) => el.textContent?.trim() === `tick ${n}`),
      target,
      { timeout: RECOVER_MS },
    );
    const now = await shownLines(page);
    // Reading the view scrolls it to its top, which asks for older history: under load that page
    // may arrive after the first reading, so the view can hold more before what was shown.
    const from = before.length ? now.findIndex((l) => l.seq === before[0].seq) : 0;
    assert.ok(from >= 0, `${what}: the first line shown before (${before[0]?.text}) is still there`);
    assert.deepEqual(now.slice(from, from + before.length), before, `${what}: the lines shown before stay as they were`);
    assertUnbroken(now, what);
    assert.equal(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument), true, `${what}: no reload`);
    return now;
  }

  async function saysOffline(shot: string): Promise<void> {
    const notice = page.getByTestId('host-offline');
    await notice.waitFor({ timeout: RECOVER_MS });
    assert.match((await notice.textContent()) ?? '', /host is offline.*last seen.*as of/is);
    // What the page shows is the last word from the host, and says so.
    const state = page.getByTestId('container-state');
    assert.match((await state.textContent()) ?? '', /last seen running/);
    // "Up 2 minutes" stops where the host was last seen (a control plane fresh from a restart has no such line to show).
    const upFor = page.getByTestId('container-status');
    if (await upFor.count()) assert.match((await upFor.textContent()) ?? '', /^Up .* \(when the host was last seen\)$/);
    const status = page.getByTestId('log-status');
    await page.locator('[data-testid=log-status]', { hasText: 'host offline' }).waitFor();
    assert.doesNotMatch((await status.textContent()) ?? '', /following/);
    for (const action of ['container-stop', 'container-restart']) {
      const button = page.getByTestId(action);
      if (await button.count()) assert.equal(await button.isDisabled(), true, `${action} is disabled while the host is offline`);
    }
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, shot), fullPage: true });
  }

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry();
    const image = await pushBusyboxImage(registry.url, 'outage/busybox', 'v1');
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-outage-'));
    agentRoot = path.join(tmp, 'root');
    dockerSocket = path.join(tmp, 'docker.sock');
    // The restarted control plane must come back where the page and the agent look for it.
    port = await freePort();
    cp = await startControlPlane(undefined, { port });
    dataDir = cp.dataDir;
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    const api = trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password));
    const { token } = await api.hosts.createJoinToken.mutate({ name: 'outage-host' });
    agent = startAgent(['--token', token]);
    hostId = /as host (\S+)/.exec(await agent.waitFor(/connected to .* as host \S+/, 60_000))![1];
    await api.images.pull.mutate({ hostId, ref: image.ref });
    containerId = (await api.containers.run.mutate({ hostId, image: image.ref, command: TICKER, name: `ticker-${process.pid}`, memory: '64m' })).id;

    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${cp.url}/login`);
    await page.getByLabel('Email', { exact: true }).fill(ADMIN.email);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${cp.url}/`);
    await page.goto(`${cp.url}/hosts/${hostId}/containers/${containerId}`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-line]').length >= 3);
    await waitLive();
    await page.evaluate(() => {
      const w = window as unknown as { __sameDocument: boolean; __sawReconnecting: boolean };
      w.__sameDocument = true;
      w.__sawReconnecting = false;
      const el = document.querySelector('[data-testid=live-indicator]')!;
      new MutationObserver(() => {
        if (el.textContent?.includes('reconnecting')) w.__sawReconnecting = true;
      }).observe(el, { childList: true, subtree: true, characterData: true });
    });
  });

  after(async () => {
    try {
      await browser?.close();
      if (containerId) {
        // A stopped agent answers nothing; one that a failed step left dead is started again to remove what it ran.
        if (agent?.proc.pid && alive(agent.proc.pid)) process.kill(agent.proc.pid, 'SIGCONT');
        else if (cp && agentRoot) {
          agent = startAgent([]);
          await agent.waitFor(/Docker API on unix:/, 60_000);
        }
        await removeContainer(containerId);
      }
      await agent?.kill('SIGTERM');
    } finally {
      await cp?.stop();
      if (dataDir) removeDir(dataDir);
      await registry?.stop();
      removeAgentLeftovers(agentRoot, tmp);
    }
  });

  const sawReconnecting = () => page.evaluate(() => (window as unknown as { __sawReconnecting: boolean }).__sawReconnecting);
  const resetReconnecting = () => page.evaluate(() => ((window as unknown as { __sawReconnecting: boolean }).__sawReconnecting = false));

  // After a restart the browser (socket.io's back-off stays under 5 s) is usually back
  // before the agent (its back-off grows to 30 s); freezing the agent across the
  // restart makes that order certain.
  test('the control plane restarts and the page is back before the agent: it says the host is offline, then resumes by itself', STEP, async () => {
    const before = await shownLines(page);
    assertUnbroken(before, 'before the restart');
    const pid = agent!.proc.pid!;
    process.kill(pid, 'SIGSTOP');
    let frozen = true;
    try {
      await cp.stop();
      cp = await startControlPlane(dataDir, { port });
      await page.locator('[data-testid=live-indicator]', { hasText: 'live' }).waitFor({ timeout: RECOVER_MS });
      assert.equal(await sawReconnecting(), true, 'the page lost its socket');
      // The restarted control plane has not heard from the host: the page says so, with the header live.
      await saysOffline('container-host-offline-after-restart.png');
      const mark = agent!.lines.length;
      process.kill(pid, 'SIGCONT');
      frozen = false;
      await agentConnected(agent!, mark);
    } finally {
      if (frozen) process.kill(pid, 'SIGCONT');
    }
    await waitLive();
    await caughtUp(before, 'after the control-plane restart');
  });

  test('the control plane restarts with the agent running: the log carries on after the last line it had', STEP, async () => {
    await resetReconnecting();
    const before = await shownLines(page);
    const mark = agent!.lines.length;
    await cp.stop();
    cp = await startControlPlane(dataDir, { port });
    await agentConnected(agent!, mark);
    await waitLive();
    await caughtUp(before, 'after the second restart');
    assert.equal(await sawReconnecting(), true, 'the page lost its socket');
  });

  // The page is the same one throughout: that it sees the host go and come back below
  // also shows that it watches the host on the restarted control plane.
  test('the agent stops (SIGTERM): the page says the host is offline, then goes live again when it returns', STEP, async () => {
    const before = await shownLines(page);
    await agent!.kill('SIGTERM');
    assert.equal(await agent!.exited, 0, 'the agent exits cleanly');
    await saysOffline('container-host-offline-sigterm.png');
    agent = startAgent([]);
    await agentConnected(agent);
    await waitLive();
    // The container kept printing without its agent; nothing it printed meanwhile is missing.
    await caughtUp(before, 'after the agent came back');
  });

  test('the agent freezes (SIGSTOP): the heartbeat takes the host offline; it goes live again when the agent runs on', STEP, async (t) => {
    const before = await shownLines(page);
    const pid = agent!.proc.pid!;
    const t0 = Date.now();
    process.kill(pid, 'SIGSTOP');
    try {
      await page.getByTestId('host-offline').waitFor({ timeout: RECOVER_MS });
      t.diagnostic(`offline on the page ${Date.now() - t0} ms after the freeze`);
      // Frozen, the agent closed nothing: its end of the link is still open, so only missing heartbeats can have told the server.
      assert.ok(isStopped(pid), 'the agent is still stopped');
      const link = tcpConnectionsOf(pid).filter((c) => c.remotePort === port);
      assert.ok(link.some((c) => c.state === 'ESTABLISHED' || c.state === 'CLOSE_WAIT'), `the agent's link to port ${port}: ${JSON.stringify(link)}`);
      t.diagnostic(`the frozen agent's end of its link: ${link.map((c) => c.state).join(', ')}`);
      await saysOffline('container-host-offline-sigstop.png');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitLive();
    await caughtUp(before, 'after the agent ran on');
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });
});
