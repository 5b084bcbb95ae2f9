// The walking skeleton, end to end and as a user sees it: `npm start`'s script brings
// up the control plane and an enrolled local agent; in Chromium an admin is created
// (and signed in at once), signs out and in again, pulls busybox from a real registry
// on loopback, runs a container that prints a line every 200 ms, watches the lines
// arrive, stops and removes it. No page may break the Content-Security-Policy.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { heldLines, readLogLines, untilHeld } from './support/log-lines';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { cgroupParentFor } from '../../agent/engine/index';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { freePort } from '../fixtures/free-port';
import { alive, mountsUnder, removeCgroupParent } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { isStopped, tcpConnectionsOf } from '../fixtures/tcp';
import { sleep } from '../fixtures/wait';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSX_CLI = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const TICKER = `sh -c 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done'`;
const CONTAINER_NAME = `e2e-ticker-${process.pid}`;
const ADMIN = { name: 'Ada Admin', email: 'ada@example.com', password: 'correct horse battery' };
// The first start may run `next build` on two cores.
const SERVER_READY_MS = 12 * 60_000;
// Waits end on the event they are about; this only keeps a broken page from hanging the run.
const PATIENCE_MS = 120_000;

async function killAndWait(pid: number | undefined, graceMs: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid!, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) process.kill(pid!, 'SIGKILL');
  while (alive(pid)) await sleep(50);
}

/** One request to the agent's Docker API socket. */
function dockerApi(socketPath: string, method: string, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path: urlPath, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function agentContainers(socketPath: string): Promise<Array<{ Id: string; Names: string[]; State: string }>> {
  const res = await dockerApi(socketPath, 'GET', '/containers/json?all=true');
  assert.equal(res.status, 200, `GET /containers/json: ${res.body}`);
  return JSON.parse(res.body);
}

async function waitForServer(base: string, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + SERVER_READY_MS;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`scripts/start.ts exited (${proc.exitCode ?? proc.signalCode}) before serving:\n${log()}`);
    }
    try {
      const res = await fetch(`${base}/api/trpc/auth.status`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(500);
  }
  throw new Error(`the control plane did not answer within ${SERVER_READY_MS / 1000} s:\n${log()}`);
}

/** The highest number the container has printed so far, from the agent's own Docker API. */
async function latestTick(socketPath: string, id: string): Promise<number> {
  const res = await dockerApi(socketPath, 'GET', `/containers/${id}/logs?stdout=1&stderr=1&tail=5`);
  const ticks = [...res.body.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
  assert.ok(res.status === 200 && ticks.length, `GET logs: ${res.status} ${JSON.stringify(res.body.slice(0, 200))}`);
  return Math.max(...ticks);
}

/** Until the page shows the line "tick N". */
async function showsTick(page: Page, n: number): Promise<void> {
  await page.waitForFunction((k) => [...document.querySelectorAll('[data-testid=log-line]')].some((el) => el.textContent?.trim() === `tick ${k}`), n, { timeout: PATIENCE_MS });
}

/** Every line once, in order: seqs strictly increasing (compared, never counted), tick numbers consecutive except where a new run starts over at 0. */
function assertUnbroken(lines: Array<{ seq: number; text: string }>, restartsAt: number[] = []): void {
  for (let i = 1; i < lines.length; i++) {
    assert.ok(lines[i].seq > lines[i - 1].seq, `seq ${lines[i].seq} after ${lines[i - 1].seq}`);
    const want = restartsAt.includes(i) ? 0 : Number(lines[i - 1].text.slice(5)) + 1;
    assert.equal(lines[i].text, `tick ${want}`, `line after ${lines[i - 1].text}`);
  }
}

/** Every line the page holds (read by scrolling through it: the viewer draws only what is in view). */
const logLines = readLogLines;

test('walking skeleton: sign up, pull, run, watch the log live, stop, remove', { timeout: 20 * 60_000 }, async (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-e2e-'));
  const dataDir = path.join(tmp, 'data');
  const agentRoot = path.join(tmp, 'agent');
  const dockerSocket = path.join(tmp, 'docker.sock');
  const port = await freePort();
  const base = `http://localhost:${port}`;

  let output = '';
  let start: ChildProcess | undefined;
  let agentPid: number | undefined;
  let context: BrowserContext | undefined;
  let containerId = '';
  const registry = await startRegistry();

  t.after(async () => {
    await context?.close().catch(() => {});
    // Containers outlive the agent (their monitors detach), so remove ours while the agent still answers.
    if (existsSync(dockerSocket) && alive(agentPid)) {
      try {
        for (const c of await agentContainers(dockerSocket)) await dockerApi(dockerSocket, 'DELETE', `/containers/${c.Id}?force=true`);
      } catch (err) {
        console.error(`e2e cleanup: cannot remove leftover containers: ${(err as Error).message}`);
      }
    }
    await killAndWait(start?.pid, 10_000);
    await killAndWait(agentPid, 5_000);
    // The agent frozen and killed below never closed, so its cgroup parent is still there.
    removeCgroupParent(cgroupParentFor(agentRoot));
    await registry.stop();
    for (const m of mountsUnder(tmp)) {
      const r = spawnSync('umount', [m], { encoding: 'utf8' });
      if (r.status !== 0) console.error(`e2e cleanup: umount ${m}: ${r.stderr.trim()}`);
    }
    if (mountsUnder(tmp).length === 0) rmSync(tmp, { recursive: true, force: true });
    else console.error(`e2e cleanup: left ${tmp} in place, something is still mounted below it`);
  });

  const image = await pushBusyboxImage(registry.url, 'busybox', 'latest');
  assert.equal(image.ref, `${registry.url}/busybox:latest`);

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    BERTH_DATA_DIR: dataDir,
    BERTH_AGENT_ROOT: agentRoot,
    BERTH_DOCKER_SOCKET: dockerSocket,
    NEXT_TELEMETRY_DISABLED: '1',
  };
  for (const k of ['DATABASE_URL', 'NEXTAUTH_URL', 'NEXTAUTH_SECRET', 'REDIS_URL']) delete env[k];
  start = spawn(process.execPath, [TSX_CLI, path.join(ROOT, 'scripts', 'start.ts')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const collect = (d: Buffer) => {
    output = (output + d.toString()).slice(-20_000);
    const m = /local agent pid (\d+)/.exec(output);
    if (m) agentPid = Number(m[1]);
  };
  start.stdout!.on('data', collect);
  start.stderr!.on('data', collect);
  const log = () => output;
  await waitForServer(base, start, log);

  const userDataDir = path.join(tmp, 'chromium');
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(PATIENCE_MS);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // Every page of the walk runs under the server's Content-Security-Policy.
  const cspViolations: string[] = [];
  await context.exposeFunction('__reportCsp', (v: string) => cspViolations.push(v));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { __reportCsp(v: string): void }).__reportCsp(`${location.pathname}: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  // Console errors are reported, not asserted: the refused sign-in is a 401 by design.
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${m.text()} ${m.location().url ?? ''}`.trim());
  });
  t.after(() => {
    for (const e of consoleErrors) t.diagnostic(`browser console error: ${e}`);
  });
  // BERTH_E2E_SCREENSHOTS=DIR keeps a picture of each stage, to see what the user saw.
  const shotDir = process.env.BERTH_E2E_SCREENSHOTS;
  const shot = async (name: string) => {
    if (shotDir) await page.screenshot({ path: path.join(shotDir, `${name}.png`), fullPage: true });
  };
  // Steps share one browser and one server, so the first failure ends the walk.
  const step = async (name: string, fn: () => Promise<void>) => {
    t.diagnostic(name);
    try {
      await fn();
    } catch (err) {
      throw new Error(`step "${name}" failed: ${(err as Error).message}`, { cause: err });
    }
  };

  try {
    await step('a fresh install asks for the first admin, who is then signed in on the dashboard', async () => {
      await page.goto(base + '/');
      await page.waitForURL(`${base}/setup`);
      await page.getByLabel('Name', { exact: true }).fill(ADMIN.name);
      await page.getByLabel('Email', { exact: true }).fill(ADMIN.email);
      await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
      await page.getByLabel('Confirm password', { exact: true }).fill(ADMIN.password);
      await page.getByRole('button', { name: 'Create administrator' }).click();
      await page.waitForURL(`${base}/`);
      await page.getByTestId('current-user').filter({ hasText: ADMIN.name }).waitFor();
      assert.equal((await page.getByTestId('current-user').textContent())?.trim(), ADMIN.name);
      await page.getByTestId('hosts-table').waitFor();
      await shot('after-setup');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(`${base}/login`);
    });

    await step('a wrong password is refused with a clear message', async () => {
      await page.getByLabel('Email', { exact: true }).fill(ADMIN.email);
      await page.getByLabel('Password', { exact: true }).fill('not the password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      const error = page.getByTestId('login-error');
      await error.waitFor();
      assert.match((await error.textContent()) ?? '', /invalid email or password/i);
      await shot('login-failed');
      assert.equal(new URL(page.url()).pathname, '/login');
    });

    await step('the admin signs in and sees this machine online', async () => {
      await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${base}/`);
      await page.getByTestId('current-user').filter({ hasText: ADMIN.name }).waitFor();
      assert.equal((await page.getByTestId('current-user').textContent())?.trim(), ADMIN.name);
      // Enrolment and the first snapshot take a moment after the server answers.
      const online = page.locator('[data-testid=host-row]', { has: page.locator('[data-testid=host-status][data-state=online]') });
      await online.first().waitFor().catch((err: Error) => {
        throw new Error(`${err.message}\n--- start.ts output ---\n${log()}`);
      });
      assert.equal(await online.count(), 1, 'exactly one host, this machine');
      const row = online.first();
      const cells = await row.locator('td').allTextContents();
      assert.ok(cells.includes(os.hostname()), `hostname ${os.hostname()} in ${JSON.stringify(cells)}`);
      assert.ok(cells.includes(os.release()), `kernel ${os.release()} in ${JSON.stringify(cells)}`);
      await row.locator('a').first().click();
      await shot('hosts');
      await page.waitForURL(/\/hosts\/[^/]+$/);
      await page.getByTestId('host-status').and(page.locator('[data-state=online]')).waitFor();
    });

    const hostUrl = page.url();

    await step('a malformed image reference is refused with the reason', async () => {
      await page.getByLabel('Image reference', { exact: true }).fill('Not A/Valid Ref!!');
      await page.getByRole('button', { name: 'Pull', exact: true }).click();
      const error = page.getByTestId('pull-error');
      await error.waitFor();
      assert.match((await error.textContent()) ?? '', /invalid reference format/i);
      await shot('bad-reference');
    });

    await step('busybox is pulled from the loopback registry and listed', async () => {
      await page.getByLabel('Image reference', { exact: true }).fill(image.ref);
      await page.getByRole('button', { name: 'Pull', exact: true }).click();
      await page.getByTestId('pull-result').waitFor();
      assert.equal(await page.getByTestId('pull-error').count(), 0);
      await page.locator('[data-testid=image-row]', { hasText: image.ref }).waitFor();
    });

    await step('a container that ticks every 200 ms runs', async () => {
      await page.getByLabel('Image', { exact: true }).fill(image.ref);
      await page.getByLabel('Command', { exact: true }).fill(TICKER);
      await page.getByLabel('Name', { exact: true }).fill(CONTAINER_NAME);
      await page.getByLabel('Memory limit', { exact: true }).fill('64m');
      await page.getByRole('button', { name: 'Run', exact: true }).click();
      await page.getByTestId('run-result').waitFor();
      const row = page.locator(`[data-testid=container-row][data-container-name="${CONTAINER_NAME}"]`);
      await row.locator('[data-testid=container-state][data-state=running]').waitFor();
      await shot('host-with-container');
      await row.getByRole('link', { name: CONTAINER_NAME }).click();
      await page.waitForURL(/\/containers\/[0-9a-f]{64}$/);
      containerId = /\/containers\/([0-9a-f]{64})$/.exec(page.url())![1];
      assert.equal(await page.getByTestId('container-name').textContent(), CONTAINER_NAME);
      await page.locator('[data-testid=container-state][data-state=running]').waitFor();
    });

    await step('log lines arrive without a reload, in order, none repeated or lost', async () => {
      await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-line]').length >= 3);
      const first = await logLines(page);
      // A line the container printed after the page had its first ones.
      await showsTick(page, (await latestTick(dockerSocket, containerId)) + 1);
      const later = await logLines(page);
      assert.ok(later.length > first.length);
      assert.equal(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument), true, 'no reload');
      for (const l of later) {
        assert.equal(l.stream, 'stdout');
        assert.match(l.text, /^tick \d+$/);
      }
      assertUnbroken(later);
    });

    await step('after the connection drops, the log resumes after the last line seen', async () => {
      // Freezing the page's main thread for longer than socket.io's ping interval plus
      // timeout makes the server drop the socket; the page then reconnects by itself.
      await page.evaluate(() => {
        const w = window as unknown as { __sawReconnecting: boolean };
        w.__sawReconnecting = false;
        const el = document.querySelector('[data-testid=live-indicator]')!;
        new MutationObserver(() => {
          if (el.textContent?.includes('reconnecting')) w.__sawReconnecting = true;
        }).observe(el, { childList: true, subtree: true, characterData: true });
      });
      const before = await logLines(page);
      await page.evaluate(() => {
        const end = Date.now() + 13_000;
        while (Date.now() < end) {
          // busy: no timers, no socket
        }
      });
      // What the container printed during the freeze must all show up after the reconnect.
      await showsTick(page, await latestTick(dockerSocket, containerId));
      await page.locator('[data-testid=live-indicator]', { hasText: 'live' }).waitFor();
      assert.equal(await page.evaluate(() => (window as unknown as { __sawReconnecting: boolean }).__sawReconnecting), true, 'the socket really dropped');
      const after = await logLines(page);
      assert.deepEqual(after.slice(0, before.length), before, 'what was shown stays');
      assertUnbroken(after);
      await shot('after-reconnect');
    });

    await step('scrolling up pauses the follow; new lines still arrive', async () => {
      const viewer = page.getByTestId('log-viewer');
      // Let enough lines in to make the box scroll.
      await page.waitForFunction(() => {
        const el = document.querySelector<HTMLElement>('[data-testid=log-viewer]');
        return !!el && el.scrollHeight > el.clientHeight + 100;
      });
      assert.equal(await viewer.getAttribute('data-following'), 'true');
      await viewer.evaluate((el) => el.scrollTo({ top: 0 }));
      await page.locator('[data-testid=log-viewer][data-following=false]').waitFor();
      const count = await heldLines(page);
      await untilHeld(page, count + 3);
      assert.equal(await viewer.evaluate((el) => el.scrollTop), 0, 'the view stays where the user put it');
      await page.getByTestId('log-jump').click();
      await page.locator('[data-testid=log-viewer][data-following=true]').waitFor();
      await page.waitForFunction(() => {
        const el = document.querySelector<HTMLElement>('[data-testid=log-viewer]')!;
        return el.scrollHeight - el.scrollTop - el.clientHeight < 30;
      });
    });

    await step('stop: the container shows exited and its log stream ends', async () => {
      await page.getByTestId('container-stop').click();
      await page.locator('[data-testid=container-state][data-state=exited]').waitFor();
      await page.locator('[data-testid=log-status]', { hasText: 'ended' }).waitFor();
      const exitCode = (await page.getByTestId('container-exit-code').textContent())?.trim();
      assert.match(exitCode ?? '', /^\d+$/, `exit code shown, got ${exitCode}`);
      await shot('stopped');
    });

    await step('start again: the log goes on after the last line, nothing repeated', async () => {
      const before = await logLines(page);
      await page.getByTestId('container-start').click();
      await page.locator('[data-testid=container-state][data-state=running]').waitFor();
      // The command starts over at "tick 0"; the sequence numbers carry on.
      await untilHeld(page, before.length + 3);
      const after = await logLines(page);
      assert.deepEqual(after.slice(0, before.length), before);
      assert.equal(after[before.length].text, 'tick 0', 'the second run starts its own count');
      assertUnbroken(after, [before.length]);
      await page.getByTestId('container-stop').click();
      await page.locator('[data-testid=container-state][data-state=exited]').waitFor();
    });

    await step('remove: back on the host page the container is gone, on the agent too', async () => {
      await page.getByTestId('container-remove').click();
      // It asks first, naming the container.
      const dialog = page.getByTestId('remove-dialog');
      assert.match((await dialog.getByTestId('remove-consequence').textContent()) ?? '', new RegExp(`^${CONTAINER_NAME} is deleted`));
      await dialog.getByTestId('remove-dialog-confirm').click();
      await page.waitForURL(hostUrl);
      await page.getByTestId('containers-table').waitFor();
      await page.locator(`[data-testid=container-row][data-container-name="${CONTAINER_NAME}"]`).waitFor({ state: 'detached' });
      const left = await agentContainers(dockerSocket);
      assert.deepEqual(
        left.filter((c) => c.Names.some((n) => n.replace(/^\//, '') === CONTAINER_NAME)),
        [],
      );
    });

    await step('the audit log shows who did what, refusals included', async () => {
      await page.getByRole('link', { name: 'Audit log' }).click();
      await page.waitForURL(`${base}/audit`);
      const rows = page.getByTestId('audit-row');
      await rows.first().waitFor();
      const text = (await rows.allTextContents()).join('\n');
      for (const action of ['images.pull', 'containers.run', 'containers.stop', 'containers.remove']) {
        assert.ok(text.includes(action), `${action} in the audit log:\n${text}`);
      }
      assert.ok(text.includes(ADMIN.name), 'the actor is named');
      assert.match(text, /images\.pull.*error/i, 'the refused pull is recorded as an error');
      await shot('audit');
    });

    await step('an admin gets the exact command that enrols another host', async () => {
      await page.getByRole('link', { name: 'Add host' }).first().click();
      await page.waitForURL(`${base}/hosts/new`);
      await page.getByLabel('Host name', { exact: true }).fill('web-01');
      await page.getByRole('button', { name: 'Create join token' }).click();
      const cmd = ((await page.getByTestId('join-command').textContent()) ?? '').trim();
      assert.match(cmd, /^bin\/berth-agent /);
      assert.match(cmd, /--root \S+/);
      assert.match(cmd, /--docker-socket \S+/);
      assert.ok(cmd.includes(`--server http://localhost:${port}`), cmd);
      assert.match(cmd, /--token \S{16,}/);
      await shot('join-token');
    });

    await step('a host that vanishes (frozen) shows offline by the heartbeat', async () => {
      await page.goto(hostUrl);
      await page.locator('[data-testid=host-status][data-state=online]').waitFor();
      assert.ok(alive(agentPid), `the local agent (pid ${agentPid}) is running`);
      // Frozen, not killed: its TCP connection stays open, so only the missing heartbeats tell.
      process.kill(agentPid!, 'SIGSTOP');
      try {
        const t0 = Date.now();
        await page.locator('[data-testid=host-status][data-state=offline]').waitFor();
        t.diagnostic(`offline on the page ${Date.now() - t0} ms after the freeze`);
        // Frozen, the agent closed nothing: its end of the link is still open, so only missing heartbeats can have told the server.
        assert.ok(isStopped(agentPid!), 'the agent is still stopped');
        const link = tcpConnectionsOf(agentPid!).filter((c) => c.remotePort === port);
        assert.ok(link.some((c) => c.state === 'ESTABLISHED' || c.state === 'CLOSE_WAIT'), `the agent's link to port ${port}: ${JSON.stringify(link)}`);
        await page.getByTestId('host-offline').waitFor();
        await shot('host-offline');
      } finally {
        process.kill(agentPid!, 'SIGKILL');
      }
    });

    await step('signing out returns to the sign-in page and keeps pages closed', async () => {
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(`${base}/login`);
      await page.goto(`${base}${new URL(hostUrl).pathname}`);
      await page.waitForURL(`${base}/login`);
    });

    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
    assert.deepEqual(cspViolations, [], 'no page broke the Content-Security-Policy');
  } catch (err) {
    await page.screenshot({ path: path.join(os.tmpdir(), `berth-e2e-failure-${process.pid}.png`), fullPage: true }).catch(() => {});
    throw err;
  }
});
