// The container page's operations, live stats, health and inspect view, in Chromium,
// against the real control plane and a real agent. What the page shows is checked against
// the agent's own Docker API (never only against the control plane): an operator pauses,
// unpauses, restarts and kills a container; its memory chart grows after it fills a tmpfs;
// a container with a healthcheck turns healthy on the page; a viewer sees no buttons, and
// a crafted tRPC call as the viewer is refused and audited. No page may break the CSP.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { signedInPage } from './support/pages';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { sleep } from '../fixtures/wait';
import { addUser, ensureNextBuild, eventually, removeDir, ROOT, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';
import { removeAgentLeftovers } from './support/teardown';

const ADMIN = { email: 'owner@example.test', name: 'Olga Owner', password: 'owner-pass-1234' };
const OPERATOR = { email: 'oscar@example.test', password: 'operator-pass-1' };
const VIEWER = { email: 'vera@example.test', password: 'viewer-pass-1' };
// Waits end on the event they are about; this only keeps a broken page from hanging the run.
const PATIENCE_MS = 60_000;
const SHOTS = path.join(ROOT, 'test-results');
const MiB = 1 << 20;
/** Fills its /dev/shm (a tmpfs, charged to its memory cgroup) with 40 MiB on SIGUSR1; exits at once on SIGTERM. */
const FILLER = `sh -c 'trap "exit 0" TERM; trap "dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; echo filled" USR1; echo started; while true; do sleep 0.2; done'`;

interface DockerState {
  Status: string;
  Running: boolean;
  Paused: boolean;
  ExitCode: number;
  StartedAt: string;
  Health?: { Status: string; FailingStreak: number; Log: Array<{ ExitCode: number; Output: string }> };
}

describe('the container page: operations, live stats, health, inspect', { timeout: 15 * 60_000 }, () => {
  const STEP = { timeout: 5 * 60_000 };
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let cp: ControlPlane;
  let tmp: string;
  let agentRoot: string;
  let dockerSocket: string;
  let agent: Child | undefined;
  let hostId: string;
  let image: string;
  let owner: ReturnType<typeof trpc>;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const made: string[] = [];
  const cspProblems: string[] = [];
  let fillerId: string;
  let healthId: string;
  let flakyId: string;

  const startAgent = (extra: string[]) => spawnTsx(['agent/main.ts', '--root', agentRoot, '--docker-socket', dockerSocket, '--server', cp.url, ...extra], {}, 'agent');

  /** One request to the agent's own Docker API. */
  function dockerApi(method: string, urlPath: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: dockerSocket, method, path: urlPath, timeout: 30_000 }, (res) => {
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

  async function agentState(id: string): Promise<DockerState & { RestartCount: number }> {
    const res = await dockerApi('GET', `/containers/${id}/json`);
    assert.equal(res.status, 200, `inspect ${id}: ${res.body}`);
    const j = JSON.parse(res.body) as { State: DockerState; RestartCount: number };
    return { ...j.State, RestartCount: j.RestartCount };
  }

  /** Memory usage as `docker stats` computes it, from the agent's own stats endpoint. */
  async function agentMemory(id: string): Promise<number> {
    const res = await dockerApi('GET', `/containers/${id}/stats?stream=false&one-shot=true`);
    assert.equal(res.status, 200, res.body);
    const m = (JSON.parse(res.body) as { memory_stats: { usage: number; stats: Record<string, number> } }).memory_stats;
    return m.usage - (m.stats.total_inactive_file ?? m.stats.inactive_file ?? 0);
  }

  /** `docker -H unix://SOCK ARGS` (bounded by `timeout -k`), its stdout; a failure throws with stderr. */
  function docker(args: string[]): string {
    const r = spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${dockerSocket}`, ...args], {
      encoding: 'utf8',
      env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return r.stdout.trim();
  }

  const newPage = (who: { email: string; password: string }): Promise<Page> => signedInPage(browser!, cp.url, who, { problems: cspProblems, contexts, timeoutMs: PATIENCE_MS, prepare: (c) => c.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: cp.url }) });


  const shot = async (page: Page, name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `ops-${name}.png`), fullPage: true });
  };

  const state = (page: Page, s: string) => page.locator(`[data-testid=container-state][data-state=${s}]`).waitFor();
  const memoryShown = async (page: Page) => Number(await page.getByTestId('chart-memory-svg').getAttribute('data-latest'));
  /** Until the page has drawn `n` more readings than it had. */
  async function moreReadings(page: Page, n: number): Promise<void> {
    const now = Number(await page.getByTestId('stats').getAttribute('data-samples'));
    await page.waitForFunction(([m]) => Number(document.querySelector('[data-testid=stats]')?.getAttribute('data-samples')) >= m, [Math.min(now + n, 120)]);
  }

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'ops/busybox', 'v1')).ref;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-ops-'));
    agentRoot = path.join(tmp, 'root');
    dockerSocket = path.join(tmp, 'docker.sock');
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    await addUser(cp, OPERATOR.email, OPERATOR.password, 'operator');
    await addUser(cp, VIEWER.email, VIEWER.password, 'viewer');
    owner = trpc(cp.url, await signIn(cp.url, ADMIN.email, ADMIN.password));
    const { token } = await owner.hosts.createJoinToken.mutate({ name: 'ops-host' });
    agent = startAgent(['--token', token]);
    hostId = /as host (\S+)/.exec(await agent.waitFor(/connected to .* as host \S+/, 60_000))![1];
    await owner.images.pull.mutate({ hostId, ref: image });
    fillerId = (await owner.containers.run.mutate({ hostId, image, command: FILLER, name: 'filler', memory: '128m' })).id;
    made.push(fillerId);
    // What the dashboard's run form cannot ask for yet (a healthcheck, a restart policy) comes through the agent's Docker API, as a user would.
    healthId = docker([
      'run', '-d', '--name', 'probed', '--restart', 'on-failure:3', '-e', 'GREETING=hello world', '-l', 'team=web',
      '--health-cmd', 'cat /tmp/ready', '--health-interval', '1s', '--health-retries', '1000',
      image, 'sh', '-c', 'trap "echo ready > /tmp/ready" USR1; while true; do sleep 0.2; done',
    ]);
    made.push(healthId);
    flakyId = docker(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', image, 'sh', '-c', 'exit 3']);
    made.push(flakyId);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    try {
      for (const c of contexts) await c.close().catch(() => {});
      await browser?.close();
      // Containers outlive their agent on purpose: remove ours while it still answers.
      for (const id of made) {
        const res = await dockerApi('DELETE', `/containers/${id}?force=true`).catch((err: Error) => ({ status: 0, body: err.message }));
        if (res.status !== 204 && res.status !== 404) console.error(`cleanup: DELETE ${id}: ${res.status} ${res.body}`);
      }
      await agent?.kill('SIGTERM');
    } finally {
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      removeAgentLeftovers(agentRoot, tmp);
    }
  });

  test('an operator pauses, unpauses, fills memory, restarts and kills a container; the page and the agent agree', STEP, async () => {
    const page = await newPage(OPERATOR);
    await page.goto(`${cp.url}/hosts/${hostId}/containers/${fillerId}`);
    await state(page, 'running');
    await page.locator('[data-testid=log-line]', { hasText: 'started' }).first().waitFor();
    for (const b of ['container-pause', 'container-restart', 'container-stop', 'container-kill']) assert.equal(await page.getByTestId(b).isEnabled(), true, `${b} offered`);
    assert.equal(await page.getByTestId('container-remove').isDisabled(), true, 'remove waits for a stop');
    assert.equal(await page.getByTestId('container-restart-policy').textContent(), 'no');
    await page.locator('[data-testid=stats][data-phase=live]').waitFor();
    await moreReadings(page, 3);
    assert.match((await page.getByTestId('chart-cpu-value').textContent()) ?? '', /^\d+(\.\d)? %$/);
    assert.match((await page.getByTestId('chart-memory-value').textContent()) ?? '', / \/ 128 MiB$/);
    assert.match((await page.getByTestId('chart-net-sub').textContent()) ?? '', /loopback only \(not counted\)/);
    assert.match((await page.getByTestId('chart-pids-value').textContent()) ?? '', /^\d+$/);

    await page.getByTestId('container-pause').click();
    await state(page, 'paused');
    assert.deepEqual(await agentState(fillerId).then((s) => [s.Status, s.Paused, s.Running]), ['paused', true, true]);
    await page.getByTestId('container-unpause').waitFor();
    assert.equal(await page.getByTestId('container-pause').count(), 0);
    await shot(page, 'paused');
    await page.getByTestId('container-unpause').click();
    await state(page, 'running');
    assert.deepEqual(await agentState(fillerId).then((s) => [s.Status, s.Paused]), ['running', false]);

    // SIGUSR1 through the page's kill dialog: the container's trap fills 40 MiB of tmpfs and it keeps running.
    await moreReadings(page, 2);
    const baseline = await memoryShown(page);
    await page.getByTestId('container-kill').click();
    const dialog = page.getByTestId('kill-dialog');
    await dialog.waitFor();
    assert.match((await dialog.getByTestId('kill-consequence').textContent()) ?? '', /Every process in filler ends at once/);
    await dialog.getByTestId('kill-signal').selectOption('SIGUSR1');
    assert.match((await dialog.getByTestId('kill-consequence').textContent()) ?? '', /SIGUSR1 goes to the main process of filler/);
    await shot(page, 'kill-dialog-usr1');
    await dialog.getByTestId('kill-dialog-confirm').click();
    await page.locator('[data-testid=log-line]', { hasText: 'filled' }).waitFor();
    await page.waitForFunction((b) => Number(document.querySelector('[data-testid=chart-memory-svg]')?.getAttribute('data-latest')) >= b + 35 * (1 << 20), baseline);
    const shown = await memoryShown(page);
    const measured = await agentMemory(fillerId);
    assert.ok(Math.abs(shown - measured) < 4 * MiB, `the page shows ${shown} bytes, the agent's Docker API ${measured}`);
    // The line climbs: its last point is higher up (smaller y) than its first.
    const ys = (await page.getByTestId('chart-memory-line').last().getAttribute('points'))!.trim().split(' ').map((p) => Number(p.split(',')[1]));
    assert.ok(ys[ys.length - 1] < ys[0] - 20, `memory line ${ys.join(' ')}`);
    assert.equal((await agentState(fillerId)).Running, true, 'SIGUSR1 did not stop it');
    await shot(page, 'memory-grew');

    const startedBefore = (await agentState(fillerId)).StartedAt;
    await page.getByTestId('container-restart').click();
    const restarted = await eventually('a new run on the agent', async () => {
      const s = await agentState(fillerId);
      return s.Running && Date.parse(s.StartedAt) > Date.parse(startedBefore) ? s : undefined;
    }, PATIENCE_MS);
    assert.equal(restarted.Status, 'running');
    await page.locator('[data-testid=container-restart]:enabled', { hasText: /^Restart$/ }).waitFor();
    await state(page, 'running');
    // The log follows the new run (no snapshot may ever have shown it stopped).
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=log-line]')].filter((l) => l.textContent?.trim() === 'started').length === 2);
    // A new run has a new /dev/shm: the 40 MiB are gone on the page too.
    await page.waitForFunction((b) => Number(document.querySelector('[data-testid=chart-memory-svg]')?.getAttribute('data-latest')) < b + 10 * (1 << 20), baseline);

    await page.getByTestId('container-kill').click();
    await dialog.waitFor();
    assert.equal(await dialog.getByTestId('kill-signal').inputValue(), 'SIGKILL', 'each kill starts from SIGKILL, whatever was sent before');
    // Cancel first: nothing happens.
    await dialog.getByTestId('kill-dialog-cancel').click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await agentState(fillerId)).Running, true, 'cancel kills nothing');
    await page.getByTestId('container-kill').click();
    await dialog.getByTestId('kill-dialog-confirm').click();
    await state(page, 'exited');
    // The badge follows the snapshot, the exit code the record fetched after it: wait for the record.
    await page.locator('[data-testid=container-exit-code]', { hasText: /^\s*137\s*$/ }).waitFor();
    const killed = await agentState(fillerId);
    assert.deepEqual([killed.Status, killed.Running, killed.ExitCode], ['exited', false, 137]);
    await page.locator('[data-testid=stats][data-phase=not-running]').waitFor();
    assert.match((await page.getByTestId('stats-status').textContent()) ?? '', /not running/);
    assert.equal(await page.getByTestId('container-remove').isEnabled(), true);
    await shot(page, 'killed');

    const audit = await owner.audit.list.query();
    const mine = audit.filter((a) => a.userEmail === OPERATOR.email && a.result === 'ok').map((a) => `${a.action} ${a.target}`);
    for (const want of ['containers.pause', 'containers.unpause', 'containers.restart', 'containers.kill']) {
      assert.ok(mine.some((m) => m.startsWith(`${want} ${fillerId}`)), `${want} audited: ${mine.join('\n')}`);
    }
    assert.ok(mine.includes(`containers.kill ${fillerId} (signal SIGUSR1)`), 'the signal is in the audit');

    // Removal asks first and names the container.
    await page.getByTestId('container-remove').click();
    const rm = page.getByTestId('remove-dialog');
    assert.match((await rm.getByTestId('remove-consequence').textContent()) ?? '', /filler is deleted from the host .* cannot be undone/);
    await rm.getByTestId('remove-dialog-confirm').click();
    await page.waitForURL(`${cp.url}/hosts/${hostId}`);
    assert.equal((await dockerApi('GET', `/containers/${fillerId}/json`)).status, 404, 'gone on the agent');
  });

  test('health turns healthy on the page with the probes\' output; restart count and policy match the agent', STEP, async () => {
    const page = await newPage(OPERATOR);
    await page.goto(`${cp.url}/hosts/${hostId}/containers/${healthId}`);
    await state(page, 'running');
    await page.locator('[data-testid=health-status][data-health=starting]').waitFor();
    await page.locator('[data-testid=health-probe][data-exit-code="1"]').first().waitFor();
    assert.match((await page.getByTestId('health-log').textContent()) ?? '', /can't open '\/tmp\/ready'/);
    assert.match((await page.getByTestId('health-config').textContent()) ?? '', /cat \/tmp\/ready every 1 s/);
    assert.match((await page.getByTestId('health-streak').textContent()) ?? '', /failing streak [1-9]\d* \(unhealthy at 1000\)/);
    assert.equal(await page.getByTestId('container-restart-policy').textContent(), 'on-failure (max 3)');
    await shot(page, 'health-starting');

    // Ready: its trap writes the file the probe reads.
    assert.equal((await dockerApi('POST', `/containers/${healthId}/kill?signal=USR1`)).status, 204);
    await page.locator('[data-testid=health-status][data-health=healthy]').waitFor();
    await page.locator('[data-testid=container-health][data-health=healthy]').waitFor();
    await page.locator('[data-testid=health-probe][data-exit-code="0"]', { hasText: 'ready' }).first().waitFor();
    assert.match((await page.getByTestId('health-streak').textContent()) ?? '', /failing streak 0 /);
    const h = (await agentState(healthId)).Health!;
    assert.equal(h.Status, 'healthy');
    assert.equal(h.FailingStreak, 0);
    await shot(page, 'health-healthy');

    // The inspect view: readable beside the raw JSON.
    await page.getByTestId('tab-inspect').click();
    const env = page.getByTestId('inspect-env-table');
    assert.match((await env.textContent()) ?? '', /GREETINGhello world/);
    assert.match((await env.textContent()) ?? '', /PATH\/usr\/local\/sbin/);
    assert.match((await page.getByTestId('inspect-labels-table').textContent()) ?? '', /teamweb/);
    assert.match((await page.getByTestId('inspect-mounts').textContent()) ?? '', /None/);
    assert.match((await page.getByTestId('inspect-ports').textContent()) ?? '', /None/);
    assert.match((await page.getByTestId('inspect-restart').textContent()) ?? '', /on-failure \(at most 3 restarts\)/);
    assert.match((await page.getByTestId('inspect-health').textContent()) ?? '', /CMD-SHELL cat \/tmp\/ready/);
    assert.match((await page.getByTestId('inspect-limits').textContent()) ?? '', /Memoryunlimited/);
    const raw = page.getByTestId('inspect-raw');
    assert.equal(await page.getByTestId('inspect-raw-json').isVisible(), false, 'the raw JSON starts folded');
    await raw.locator('summary').click();
    const json = JSON.parse((await page.getByTestId('inspect-raw-json').textContent()) ?? '') as { id: string; spec: { restart: { policy: string } } };
    assert.equal(json.id, healthId);
    assert.equal(json.spec.restart.policy, 'on-failure');
    await page.getByTestId('inspect-copy').click();
    await page.getByTestId('inspect-copy-status').waitFor();
    assert.equal((await page.getByTestId('inspect-copy-status').textContent())?.trim(), 'Copied.');
    assert.equal(JSON.parse(await page.evaluate(() => navigator.clipboard.readText())).id, healthId, 'the clipboard holds the record');
    await shot(page, 'inspect');
    await page.getByTestId('tab-terminal').click();
    // The terminal itself is container-terminal.test.ts's; here: the tab holds it, ready to connect.
    await page.getByTestId('terminal-panel').waitFor();
    assert.equal(await page.getByTestId('terminal-connect').count(), 1);

    // A container its policy restarted twice: the count on the page is the agent's.
    await page.goto(`${cp.url}/hosts/${hostId}/containers/${flakyId}`);
    await eventually('flaky to give up', async () => {
      const s = await agentState(flakyId);
      return s.Status === 'exited' && s.RestartCount === 2;
    }, PATIENCE_MS);
    await state(page, 'exited');
    await page.locator('[data-testid=container-restart-count]', { hasText: /^2$/ }).waitFor();
    assert.equal(await page.getByTestId('container-restart-policy').textContent(), 'on-failure (max 2)');
  });

  test('a viewer sees state, health and stats but no buttons; a crafted tRPC call as the viewer is refused and audited', STEP, async () => {
    const page = await newPage(VIEWER);
    await page.goto(`${cp.url}/hosts/${hostId}/containers/${healthId}`);
    await state(page, 'running');
    await page.locator('[data-testid=health-status][data-health=healthy]').waitFor();
    await page.locator('[data-testid=stats][data-phase=live]').waitFor();
    await moreReadings(page, 2);
    assert.equal(await page.getByTestId('container-actions').count(), 0, 'no buttons');
    assert.equal(await page.getByTestId('tab-terminal').count(), 0, 'no terminal for a viewer');
    await shot(page, 'viewer');

    // What a viewer could send by hand, with the page's own cookie and origin.
    const answer = await page.evaluate(async ([h, id]) => {
      const res = await fetch('/api/trpc/containers.kill', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ json: { hostId: h, id } }) });
      return { status: res.status, body: await res.text() };
    }, [hostId, healthId]);
    assert.equal(answer.status, 403, answer.body);
    assert.match(answer.body, /FORBIDDEN/);
    assert.equal((await agentState(healthId)).Running, true, 'still running on the agent');
    const refused = (await owner.audit.list.query()).find((a) => a.action === 'containers.kill' && a.userEmail === VIEWER.email);
    assert.ok(refused, 'the refused kill is audited');
    assert.match(refused.result, /^error: FORBIDDEN/);
    assert.equal(refused.hostName, 'ops-host');
  });

  test('the stats stop when the page is left and while the host is offline, and the page says so', STEP, async () => {
    const page = await newPage(OPERATOR);
    const asked: number[] = [];
    page.on('request', (r) => {
      if (r.url().includes('containers.live')) asked.push(Date.now());
    });
    await page.goto(`${cp.url}/hosts/${hostId}/containers/${healthId}`);
    await page.locator('[data-testid=stats][data-phase=live]').waitFor();
    await moreReadings(page, 2);

    // Away from the page: no more readings asked for. A quiet spell of a few poll intervals shows it.
    await page.getByRole('link', { name: /ops-host/ }).click();
    await page.waitForURL(`${cp.url}/hosts/${hostId}`);
    const left = asked.length;
    await sleep(3_500);
    assert.equal(asked.length, left, 'no readings asked for after leaving the page');

    await page.goto(`${cp.url}/hosts/${hostId}/containers/${healthId}`);
    await page.locator('[data-testid=stats][data-phase=live]').waitFor();
    await moreReadings(page, 2);
    await agent!.kill('SIGTERM');
    await page.getByTestId('host-offline').waitFor();
    await page.locator('[data-testid=stats][data-phase=host-offline]').waitFor();
    assert.match((await page.getByTestId('stats-status').textContent()) ?? '', /host is offline/);
    assert.ok(await page.getByTestId('container-kill').isDisabled(), 'no actions while the host is away');
    const offline = asked.length;
    await sleep(3_500);
    assert.equal(asked.length, offline, 'no readings asked for while the host is offline');
    await shot(page, 'host-offline');

    agent = startAgent([]);
    await page.locator('[data-testid=stats][data-phase=live]').waitFor({ timeout: 180_000 });
    await moreReadings(page, 2);
    assert.deepEqual(cspProblems, [], 'no CSP violation or page error on any page');
  });
});
