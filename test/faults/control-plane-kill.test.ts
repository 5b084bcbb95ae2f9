// The control plane is killed with SIGKILL and started again (same port, same SQLite file)
// while two agents stream the logs of containers printing numbered lines, a '/ui' socket
// follows each log and a Chromium page shows one of them, and writes are being made through
// tRPC. Afterwards: every line 1..N arrived exactly once and in order (live before the kill,
// the rest after it, resumed from the last seq), the page shows them all once, both hosts are
// online again, and every write the server acknowledged before it died is in the database.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { busyboxLayer } from '../fixtures/netns';
import { eventually } from '../fixtures/wait';
import { readLogLines } from '../e2e/support/log-lines';
import { signedInPage } from '../e2e/support/pages';
import { removeAgentLeftovers } from '../e2e/support/teardown';
import { ensureNextBuild, removeDir, signIn, startControlPlane, trpc, type ControlPlane } from '../integration/support/control-plane';
import { assertEveryLineOnce, countingCommand, LogFollower } from './support/follow';

const OWNER = { name: 'Kim Kill', email: 'kim@example.test', password: 'kill-pass-1234' };
const N = 300;
const IMAGE = 'faults/busybox:cp';

describe('the control plane is SIGKILLed and restarted while logs stream', { timeout: 6 * 60_000 }, () => {
  let cp: ControlPlane | undefined;
  let dataDir = '';
  let port = 0;
  const agents: AgentProcess[] = [];
  const followers: LogFollower[] = [];
  let browser: Browser | undefined;
  let page: Page;
  const problems: string[] = [];
  let tmp = '';

  before(async () => {
    ensureNextBuild();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-fault-cp-'));
    cp = await startControlPlane();
    ({ dataDir, port } = cp);
    await trpc(cp.url).auth.setup.mutate(OWNER);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    for (const f of followers) f.close();
    await browser?.close();
    for (const a of agents) {
      for (const id of a.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean)) a.docker(['rm', '-f', id]);
      await a.stop();
    }
    await cp?.stop();
    if (dataDir) removeDir(dataDir);
    removeAgentLeftovers(undefined, tmp);
  });

  test('every line once, hosts online again, every acknowledged write kept', async (t) => {
    const cookie = (await signIn(cp!.url, OWNER.email, OWNER.password))!;
    const api = trpc(cp!.url, cookie);
    const layer = await busyboxLayer();
    const hosts: string[] = [];
    const ids: string[] = [];
    for (const [i, then] of [
      [0, 'exec sleep 3600'],
      [1, 'exit 7'],
    ] as const) {
      const { token } = await api.hosts.createJoinToken.mutate({ name: `fault-cp-${i}` });
      const a = await startAgentProcess(`fault-cp${i}`, { flags: ['--server', cp!.url, '--token', token] });
      agents.push(a);
      const line = await eventually('the agent connected', () => /connected to .* as host (\S+)/.exec(a.log()), 60_000);
      hosts.push(line![1]);
      a.ok(['import', '-', IMAGE], { input: layer });
      // One container keeps running after its last line, the other exits with 7.
      ids.push(a.ok(['run', '-d', '--name', `counter-${i}`, IMAGE, ...countingCommand(N, 0.1, then)]).trim());
    }
    page = await signedInPage(browser!, cp!.url, OWNER, { problems, timeoutMs: 60_000 });
    await page.goto(`${cp!.url}/hosts/${hosts[0]}/containers/${ids[0]}`);
    for (let i = 0; i < 2; i++) followers.push(new LogFollower(cp!.url, cookie, hosts[i], ids[i]));
    await followers[0].untilLine(60, 60_000);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-line]').length >= 10);

    // Writes keep coming while the server dies: those it acknowledged must survive.
    const acked: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const name = `during-${i}`;
        try {
          await api.hosts.createJoinToken.mutate({ name });
          acked.push(name);
        } catch {
          // The server is gone: the write was not acknowledged, and is not expected.
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    })();
    await eventually('a few writes acknowledged', () => acked.length >= 5, 30_000, 20);
    const linesAtKill = followers.map((f) => f.received.length);
    await cp!.child.kill('SIGKILL');
    const ackedBeforeKill = [...acked];
    writing = false;
    await writer;
    cp = await startControlPlane(dataDir, { port });

    await Promise.all(followers.map((f) => f.untilLine(N, 120_000)));
    for (const [i, f] of followers.entries()) {
      assertEveryLineOnce(f.received, N, `follower of counter-${i}`);
      assert.ok(f.subscribes >= 2, `follower ${i} subscribed again after the restart (${f.subscribes} subscriptions)`);
      assert.deepEqual(f.errors, [], `follower ${i}: no subscription refused`);
    }
    t.diagnostic(`lines at the kill: ${linesAtKill.join(', ')} of ${N}; ${ackedBeforeKill.length} writes acknowledged before it`);

    // The page: its socket came back by itself and the log went on after the last line it showed.
    await page.waitForFunction((n) => [...document.querySelectorAll('[data-testid=log-line]')].some((el) => el.textContent?.trim() === `line ${n}`), N, { timeout: 60_000 });
    const shown = await readLogLines(page);
    assertEveryLineOnce(
      shown.map((s) => ({ seq: s.seq, line: s.text })),
      N,
      'the page',
    );

    // Both hosts online again with their containers in their true states.
    const after = trpc(cp.url, cookie);
    await eventually('both hosts online', async () => (await after.hosts.list.query()).filter((h) => hosts.includes(h.id) && h.online).length === 2, 60_000);
    await eventually('the containers as they are', async () => {
      const list = await after.hosts.list.query();
      const c0 = list.find((h) => h.id === hosts[0])?.containers.find((c) => c.id === ids[0]);
      const c1 = list.find((h) => h.id === hosts[1])?.containers.find((c) => c.id === ids[1]);
      return c0?.state === 'running' && c1?.state === 'exited' && c1.exitCode === 7;
    }, 30_000);
    for (const a of agents) assert.equal(a.docker(['ps', '-aq']).stdout.trim().split('\n').length, 1, 'one container per agent, no ghost');

    // Every acknowledged write is there, once.
    const audit = await after.audit.list.query({ action: 'hosts.createJoinToken', take: 500 });
    const targets = audit.map((r) => r.target);
    for (const name of ackedBeforeKill) assert.equal(targets.filter((x) => x === name).length, 1, `audit row of acknowledged write ${name}`);
    for (const i of [0, 1]) assert.equal(targets.filter((x) => x === `fault-cp-${i}`).length, 1);
    assert.equal(new Set(hosts).size, 2);
    assert.equal((await after.hosts.list.query()).length, 2, 'two hosts, no duplicate after the agents reconnected');
    assert.deepEqual(problems, [], 'the page neither threw nor broke its CSP');
  });
});
