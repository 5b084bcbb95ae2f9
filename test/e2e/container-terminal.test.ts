// The container page's terminal in Chromium, against the real control plane and a real
// agent running real containers: an operator types into a shell, resizes the window,
// presses Ctrl-C, pastes, sees colours, picks bash and a user; a flood of output with a
// stalled page leaves the command blocked, not buffered; the session ends when the page
// closes, the container stops or the user's role is lowered, and every session is in the
// audit log. A viewer gets no terminal, and a socket event crafted by hand is refused and
// recorded.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { chromium, type Browser, type Page } from 'playwright-core';
import { io, type Socket } from 'socket.io-client';
import type { ServerToUi, UiToServer } from '../../protocol/ui-socket';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { hostBinariesLayer } from '../fixtures/host-binaries';
import { alive, } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { addUser, ensureNextBuild, eventually, removeDir, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';
import { removeAgentLeftovers } from './support/teardown';

const OWNER = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1' };
const OPERATOR = 'operator@example.test';
const VIEWER = 'viewer@example.test';
const PASSWORD = 'member-pass-1';

/** What the terminal shows now, one string per row (xterm's DOM renderer draws spaces as no-break spaces). */
async function screen(page: Page): Promise<string[]> {
  return page.locator('[data-testid=terminal] .xterm-rows > div').evaluateAll((rows) => rows.map((r) => (r.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd()));
}

async function waitScreen(page: Page, test: (rows: string[]) => boolean, what: string, timeoutMs = 20_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let rows: string[] = [];
  while (Date.now() < deadline) {
    rows = await screen(page);
    if (test(rows)) return rows;
    await page.waitForTimeout(100);
  }
  throw new Error(`${what}: not on the terminal; it shows:\n${rows.filter(Boolean).join('\n')}`);
}

const hasLine = (re: RegExp) => (rows: string[]) => rows.some((r) => re.test(r));

/** A prompt on the last non-empty row, ready for input. */
const atPrompt = (rows: string[]) => /[#$] ?$/.test(rows.filter((r) => r.trim()).at(-1) ?? '');

function dockerGet(socketPath: string, p: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: p, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body ? (JSON.parse(body) as Record<string, unknown>) : {} }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${p}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function dockerDelete(socketPath: string, p: string): Promise<void> {
  return new Promise((resolve) => {
    const req = request({ socketPath, method: 'DELETE', path: p, timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => (console.error(`cleanup: DELETE ${p}: ${err.message}`), resolve()));
    req.end();
  });
}

/** Host pid of the first child of `pid`, if any. */
function childOf(pid: number): number | undefined {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.length ? Number(kids[0]) : undefined;
  } catch {
    return undefined;
  }
}

function bytesWritten(pid: number): number {
  return Number(/^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
}

describe('the container terminal in the browser', { timeout: 20 * 60_000 }, () => {
  const STEP = { timeout: 3 * 60_000 };
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let cp: ControlPlane;
  let tmp: string;
  let agentRoot: string;
  let dockerSocket: string;
  let agent: Child | undefined;
  let hostId: string;
  let owner: ReturnType<typeof trpc>;
  let image: string;
  const containers: string[] = [];
  let shellBox: string;
  let browser: Browser;
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];

  const run = async (name: string) => {
    const { id } = await owner.containers.run.mutate({ hostId, image, command: 'sleep 1000000', name: `${name}-${process.pid}` });
    containers.push(id);
    return id;
  };

  async function signedIn(email: string, password: string): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.exposeFunction('__cspViolation', (v: string) => cspViolations.push(v));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        (window as unknown as { __cspViolation: (v: string) => void }).__cspViolation(`${location.pathname}: ${e.violatedDirective} ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} ${e.sample}`);
      });
    });
    await page.goto(`${cp.url}/login`);
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${cp.url}/`);
    return page;
  }

  /** The container page with a connected terminal of `shell`, at its first prompt. */
  async function openTerminal(page: Page, id: string, opts: { shell?: string; user?: string } = {}): Promise<void> {
    await page.goto(`${cp.url}/hosts/${hostId}/containers/${id}`);
    await page.locator('[data-testid=container-state][data-state=running]').waitFor();
    await page.getByTestId('tab-terminal').click();
    await page.locator('[data-testid=terminal] .xterm-rows').waitFor();
    if (opts.shell) await page.getByLabel('Shell').selectOption(opts.shell);
    if (opts.user) await page.getByLabel('User').fill(opts.user);
    await page.getByTestId('terminal-connect').click();
    await page.locator('[data-testid=terminal-status][data-phase=open]').waitFor();
    await waitScreen(page, atPrompt, 'the first prompt');
  }

  async function typeLine(page: Page, line: string): Promise<void> {
    await page.locator('[data-testid=terminal]').click();
    await page.keyboard.type(line);
    await page.keyboard.press('Enter');
  }

  const auditRows = async () => (await owner.audit.list.query()).filter((r) => r.action.startsWith('container.terminal.'));

  const execIds = async (id: string) => ((await dockerGet(dockerSocket, `/containers/${id}/json`)).body.ExecIDs as string[] | null) ?? [];

  const setRole = (email: string, role: string) => {
    const db = new Database(path.join(cp.dataDir, 'berth.db'));
    try {
      db.prepare('UPDATE "Membership" SET role = ? WHERE userId = (SELECT id FROM "User" WHERE email = ?)').run(role, email);
    } finally {
      db.close();
    }
  };

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry();
    // busybox, plus this machine's bash and ncurses' tput (with the xterm terminfo entry the exec's TERM names).
    image = (await pushBusyboxImage(registry.url, 'term/busybox', 'v1', { extraLayers: [hostBinariesLayer(['/bin/bash', '/usr/bin/tput'], ['/lib/terminfo/x/xterm'])] })).ref;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-term-'));
    agentRoot = path.join(tmp, 'root');
    dockerSocket = path.join(tmp, 'docker.sock');
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(OWNER);
    await addUser(cp, OPERATOR, PASSWORD, 'operator');
    await addUser(cp, VIEWER, PASSWORD, 'viewer');
    owner = trpc(cp.url, await signIn(cp.url, OWNER.email, OWNER.password));
    const { token } = await owner.hosts.createJoinToken.mutate({ name: 'term-host' });
    agent = spawnTsx(['agent/main.ts', '--root', agentRoot, '--docker-socket', dockerSocket, '--server', cp.url, '--token', token], {}, 'agent');
    hostId = /as host (\S+)/.exec(await agent.waitFor(/connected to .* as host \S+/, 60_000))![1];
    await owner.images.pull.mutate({ hostId, ref: image });
    shellBox = await run('shellbox');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    try {
      await browser?.close();
      for (const id of containers) await dockerDelete(dockerSocket, `/containers/${id}?force=true`);
      await agent?.kill('SIGTERM');
    } finally {
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      removeAgentLeftovers(agentRoot, tmp);
    }
  });

  test('an operator runs commands in /bin/sh: output, colours, paste, window size and Ctrl-C; closing the page ends the shell, and both ends are audited', STEP, async (t) => {
    const page = await signedIn(OPERATOR, PASSWORD);
    // A failure before the page is closed on purpose must not leave its shell to the next tests.
    t.after(() => page.context().close().catch(() => {}));
    await openTerminal(page, shellBox);

    await typeLine(page, 'echo $((6*7))');
    await waitScreen(page, hasLine(/^42$/), '42');

    // Colours: SGR 31 is drawn in the palette's red.
    await typeLine(page, "printf '\\033[31mRED-%s\\033[0m\\n' text");
    await waitScreen(page, hasLine(/^RED-text$/), 'the red line');
    const red = page.locator('[data-testid=terminal] .xterm-rows span.xterm-fg-1', { hasText: 'RED-text' });
    assert.equal(await red.count(), 1, 'RED-text is drawn with the red foreground class');
    // …and the class's rule applies (xterm.js's own <style> elements are not blocked by the page's CSP).
    const colours = await red.evaluate((el) => ({ red: getComputedStyle(el).color, plain: getComputedStyle(el.closest('.xterm-rows')!).color }));
    assert.notEqual(colours.red, colours.plain, `red text is not drawn in the default colour: ${JSON.stringify(colours)}`);
    t.diagnostic(`colours: ${JSON.stringify(colours)}`);
    if (process.env.BERTH_E2E_SCREENSHOTS) await page.screenshot({ path: path.join(process.env.BERTH_E2E_SCREENSHOTS, 'container-terminal.png'), fullPage: true });

    // Paste: the clipboard's text arrives as input, as a user's Ctrl-V would bring it.
    await page.locator('[data-testid=terminal] textarea').evaluate((el) => {
      const dt = new DataTransfer();
      dt.setData('text/plain', 'echo pasted-$((40+2))');
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    });
    await waitScreen(page, hasLine(/echo pasted-\$\(\(40\+2\)\)$/), 'the pasted command line');
    await page.keyboard.press('Enter');
    await waitScreen(page, hasLine(/^pasted-42$/), 'the pasted command output');

    // The shell's window is the browser terminal's size, and follows it.
    const cols1 = Number(await page.getByTestId('terminal').getAttribute('data-cols'));
    await typeLine(page, 'echo cols=$(tput cols) lines=$(tput lines)');
    const rows1 = Number(await page.getByTestId('terminal').getAttribute('data-rows'));
    await waitScreen(page, hasLine(new RegExp(`^cols=${cols1} lines=${rows1}$`)), `cols=${cols1} lines=${rows1}`);
    await page.setViewportSize({ width: 800, height: 1000 });
    await eventually('the terminal narrowed', async () => Number(await page.getByTestId('terminal').getAttribute('data-cols')) < cols1, 20_000, 100);
    const cols2 = Number(await page.getByTestId('terminal').getAttribute('data-cols'));
    t.diagnostic(`terminal ${cols1} columns at 1280 px, ${cols2} at 800 px`);
    await typeLine(page, 'echo narrow=$(tput cols)');
    await waitScreen(page, hasLine(new RegExp(`^narrow=${cols2}$`)), `narrow=${cols2}`);

    // Ctrl-C reaches the foreground command, which dies of SIGINT; the shell prompts again.
    await typeLine(page, 'sleep 100');
    const execId = (await execIds(shellBox))[0];
    assert.ok(execId, 'the terminal is an exec of the container');
    const shellPid = Number((await dockerGet(dockerSocket, `/exec/${execId}/json`)).body.Pid);
    await eventually('sleep runs', () => {
      const kid = childOf(shellPid);
      return !!kid && readFileSync(`/proc/${kid}/comm`, 'utf8').trim() === 'sleep';
    }, 20_000, 50);
    await page.keyboard.press('Control+C');
    await typeLine(page, 'echo status=$?');
    await waitScreen(page, hasLine(/^status=130$/), 'status=130 (sleep killed by SIGINT)');
    assert.equal(childOf(shellPid), undefined, 'sleep is gone');

    const rowsBefore = (await auditRows()).length;
    await page.context().close();
    // The shell is hung up on: the container has no exec left.
    await eventually('the exec ended', async () => (await execIds(shellBox)).length === 0, 30_000, 100);
    const info = (await dockerGet(dockerSocket, `/exec/${execId}/json`)).body;
    assert.equal(info.Running, false);
    t.diagnostic(`exec after the page closed: Running ${info.Running}, ExitCode ${info.ExitCode}`);
    const rows = await eventually('the end is audited', async () => {
      const r = await auditRows();
      return r.length > rowsBefore ? r : undefined;
    }, 30_000, 100);
    const mine = rows.filter((r) => r.target?.includes(`exec ${execId.slice(0, 12)}`));
    const start = mine.find((r) => r.action === 'container.terminal.start');
    const end = mine.find((r) => r.action === 'container.terminal.end');
    assert.ok(start && end, `a start and an end row: ${JSON.stringify(rows, null, 1)}`);
    for (const r of [start, end]) {
      assert.equal(r.userEmail, OPERATOR);
      assert.equal(r.hostId, hostId);
      assert.equal(r.result, 'ok');
      assert.match(r.target ?? '', new RegExp(`^container ${shellBox}: /bin/sh`));
    }
    assert.match(end.target ?? '', /browser closed/);
    t.diagnostic(`audit: ${start.target} | ${end.target}`);
  });

  test('bash from the picker, as the user typed in the user field', STEP, async () => {
    const page = await signedIn(OPERATOR, PASSWORD);
    try {
      await openTerminal(page, shellBox, { shell: '/bin/bash', user: 'nobody' });
      await typeLine(page, 'echo "bash=${BASH_VERSION%%.*} uid=$(id -u)"');
      await waitScreen(page, hasLine(/^bash=\d+ uid=65534$/), 'bash as nobody');
      await page.getByTestId('terminal-disconnect').click();
      await page.locator('[data-testid=terminal-status]', { hasText: /session ended/ }).waitFor();
      await eventually('the exec ended', async () => (await execIds(shellBox)).length === 0, 30_000, 100);
      const end = await eventually('the end of the bash session is audited', async () => (await auditRows()).find((r) => r.action === 'container.terminal.end' && /\/bin\/bash as nobody/.test(r.target ?? '')), 30_000, 100);
      assert.match(end.target ?? '', /closed by the user/);
    } finally {
      await page.context().close();
    }
  });

  test('a flood of output while the page is stalled blocks the command instead of filling buffers', STEP, async (t) => {
    const page = await signedIn(OPERATOR, PASSWORD);
    try {
      await openTerminal(page, shellBox);
      await typeLine(page, 'yes flood-flood-flood-flood');
      const execId = (await execIds(shellBox))[0];
      const shellPid = Number((await dockerGet(dockerSocket, `/exec/${execId}/json`)).body.Pid);
      const yesPid = await eventually('yes runs', () => {
        const kid = childOf(shellPid);
        return kid && readFileSync(`/proc/${kid}/comm`, 'utf8').trim() === 'yes' ? kid : undefined;
      }, 20_000, 50);
      await waitScreen(page, hasLine(/^flood-flood-flood-flood$/), 'the flood');
      // The page's main thread is busy for 6 s: it acks nothing meanwhile.
      const stalled = page.evaluate(() => {
        const until = Date.now() + 6_000;
        while (Date.now() < until);
      });
      await new Promise((r) => setTimeout(r, 2_000));
      const w1 = bytesWritten(yesPid);
      await new Promise((r) => setTimeout(r, 3_000));
      const w2 = bytesWritten(yesPid);
      await stalled;
      t.diagnostic(`yes wrote ${w2 - w1} bytes in the 3 s the page read nothing (${(w1 / 1048576).toFixed(1)} MiB before)`);
      // The TTY, the pipes and the queues on the way hold a bounded few hundred kB; yes writes hundreds of MB/s when nothing holds it back.
      assert.ok(w2 - w1 < 64 << 10, `yes kept writing while nobody read: ${w2 - w1} bytes in 3 s`);
      const w3 = bytesWritten(yesPid);
      await eventually('yes writes again once the page reads', () => bytesWritten(yesPid) > w3 + (1 << 20), 60_000, 100);
      await page.locator('[data-testid=terminal]').click();
      await page.keyboard.press('Control+C');
      await typeLine(page, 'echo after-flood');
      await waitScreen(page, hasLine(/^after-flood$/), 'a prompt after the flood', 60_000);
    } finally {
      await page.context().close();
    }
  });

  test('the session ends when the container stops, and when the role is lowered', STEP, async () => {
    const page = await signedIn(OPERATOR, PASSWORD);
    try {
      const stopping = await run('stopping');
      await openTerminal(page, stopping);
      await owner.containers.stop.mutate({ hostId, id: stopping, timeoutSec: 1 });
      await page.locator('[data-testid=terminal-status]', { hasText: /session ended: container stopped/ }).waitFor();
      await waitScreen(page, hasLine(/\[session ended: container stopped/), 'the end on the terminal');
      const end = await eventually('audited', async () => (await auditRows()).find((r) => r.action === 'container.terminal.end' && r.target?.startsWith(`container ${stopping}:`)), 30_000, 100);
      assert.match(end.target ?? '', /container stopped/);

      await openTerminal(page, shellBox);
      setRole(OPERATOR, 'viewer');
      try {
        await page.locator('[data-testid=terminal-status]', { hasText: /session ended: role lowered to viewer/ }).waitFor();
        await eventually('the exec ended', async () => (await execIds(shellBox)).length === 0, 30_000, 100);
        const lowered = await eventually('audited', async () => (await auditRows()).find((r) => r.action === 'container.terminal.end' && /role lowered to viewer/.test(r.target ?? '')), 30_000, 100);
        assert.equal(lowered.userEmail, OPERATOR);
      } finally {
        setRole(OPERATOR, 'operator');
      }
    } finally {
      await page.context().close();
    }
  });

  test('a viewer has no terminal tab, and a crafted term:open is refused and audited', STEP, async () => {
    const page = await signedIn(VIEWER, PASSWORD);
    try {
      await page.goto(`${cp.url}/hosts/${hostId}/containers/${shellBox}`);
      await page.getByTestId('tab-logs').waitFor();
      assert.equal(await page.getByTestId('tab-terminal').count(), 0);
      assert.equal(await page.getByTestId('terminal').count(), 0);
    } finally {
      await page.context().close();
    }
    const cookie = await signIn(cp.url, VIEWER, PASSWORD);
    const socket: Socket<ServerToUi, UiToServer> = io(`${cp.url}/ui`, { transports: ['websocket'], extraHeaders: { cookie: cookie! }, reconnection: false });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      const res = await socket.timeout(30_000).emitWithAck('term:open', { hostId, containerId: shellBox, shell: '/bin/sh', size: { cols: 80, rows: 24 } });
      assert.equal(res.ok, false);
      assert.match(res.error ?? '', /viewer role cannot do this; operator or above is needed/);
      // Input to a session that is not this connection's goes nowhere.
      const input = await socket.timeout(30_000).emitWithAck('term:input', { sessionId: '00000000-0000-0000-0000-000000000000', data: 'id\r' });
      assert.deepEqual(input, { ok: false, error: 'no such terminal session' });
      // A shell outside the picker's list is refused by name.
      const odd = await socket.timeout(30_000).emitWithAck('term:open', { hostId, containerId: shellBox, shell: '/bin/zsh' as '/bin/sh', size: { cols: 80, rows: 24 } });
      assert.match(odd.error ?? '', /^shell: must be one of \/bin\/sh, \/bin\/bash$/);
    } finally {
      socket.disconnect();
    }
    const refused = (await auditRows()).filter((r) => r.userEmail === VIEWER);
    assert.equal(refused.length, 2, JSON.stringify(refused));
    assert.ok(refused.some((r) => r.hostId === hostId && /^error: FORBIDDEN: The viewer role cannot/.test(r.result) && r.target === `container ${shellBox}: /bin/sh`), JSON.stringify(refused));
    assert.ok(refused.some((r) => /^error: BAD_REQUEST: shell: must be one of/.test(r.result)), JSON.stringify(refused));
    assert.equal(await execIds(shellBox).then((ids) => ids.length), 0, 'no exec was started for the viewer');
  });

  test('the agent stopping ends the session: the page says the host went offline, and the shell is gone', STEP, async () => {
    const page = await signedIn(OPERATOR, PASSWORD);
    try {
      await openTerminal(page, shellBox);
      const execId = (await execIds(shellBox))[0];
      const shellPid = Number((await dockerGet(dockerSocket, `/exec/${execId}/json`)).body.Pid);
      assert.ok(alive(shellPid));
      await agent!.kill('SIGTERM');
      await page.locator('[data-testid=terminal-status]', { hasText: /session ended: host went offline/ }).waitFor();
      await eventually('the shell is gone', () => !alive(shellPid), 30_000, 100);
      const end = await eventually('audited', async () => (await auditRows()).find((r) => r.action === 'container.terminal.end' && r.target?.includes(`exec ${execId.slice(0, 12)}`)), 30_000, 100);
      assert.match(end.target ?? '', /host went offline/);
    } finally {
      await page.context().close();
      agent = spawnTsx(['agent/main.ts', '--root', agentRoot, '--docker-socket', dockerSocket, '--server', cp.url], {}, 'agent');
      await agent.waitFor(/connected to .* as host \S+/, 60_000);
    }
  });

  test('no page errors, no CSP violations (xterm.js draws within the page policy)', () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(cspViolations, []);
  });
});
