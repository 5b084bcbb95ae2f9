// The network between an agent and the control plane is cut for 30 s and restored. The
// agent runs in a network namespace of its own, joined by a veth to a second namespace where
// the control plane is reachable (support/reach.ts); the cut is an iptables DROP inside the
// agent's namespace only, so packets vanish as on a dead link (no reset, no error). During
// the cut the host shows offline with its last-seen time; afterwards the agent is back (after
// retries spaced out, not a tight loop), and the follower's log resumed after its last seq:
// every line once and in order, those printed during the cut arriving after it.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { freePort } from '../fixtures/free-port';
import { busyboxLayer, createNetns, joinByVeth, type Netns } from '../fixtures/netns';
import { eventually, sleep } from '../fixtures/wait';
import { readLogLines } from '../e2e/support/log-lines';
import { signedInPage } from '../e2e/support/pages';
import { removeAgentLeftovers } from '../e2e/support/teardown';
import { ensureNextBuild, removeDir, signIn, startControlPlane, trpc, type ControlPlane } from '../integration/support/control-plane';
import { assertEveryLineOnce, countingCommand, LogFollower } from './support/follow';
import { reachFrom, type Reach } from './support/reach';

const OWNER = { name: 'Nia Net', email: 'nia@example.test', password: 'net-pass-1234' };
const N = 500;
const CUT_MS = 30_000;
const IMAGE = 'faults/busybox:net';

describe('the network between an agent and the control plane is cut for 30 s', { timeout: 6 * 60_000 }, () => {
  let cp: ControlPlane | undefined;
  let agent: AgentProcess | undefined;
  let follower: LogFollower | undefined;
  let browser: Browser | undefined;
  let reach: Reach | undefined;
  let gateway: Netns | undefined;
  let hostNs: Netns | undefined;
  let tmp = '';
  const problems: string[] = [];

  before(async () => {
    ensureNextBuild();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-fault-net-'));
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(OWNER);
    gateway = createNetns('fgw');
    hostNs = createNetns('fhost');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    follower?.close();
    await browser?.close();
    if (agent) {
      for (const id of agent.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean)) agent.docker(['rm', '-f', id]);
      await agent.stop();
    }
    await reach?.close();
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
    hostNs?.remove();
    gateway?.remove();
    removeAgentLeftovers(undefined, tmp);
  });

  test('offline during the cut, back after it, the log resumed with no gap or repeat', async (t) => {
    const { aIp } = joinByVeth(gateway!, hostNs!, '10.231.7');
    const port = await freePort();
    reach = await reachFrom(gateway!, aIp, port, cp!.port, tmp);
    const cookie = (await signIn(cp!.url, OWNER.email, OWNER.password))!;
    const api = trpc(cp!.url, cookie);
    const { token } = await api.hosts.createJoinToken.mutate({ name: 'fault-net' });
    agent = await startAgentProcess('fault-net', { netns: hostNs, flags: ['--server', `http://${aIp}:${port}`, '--token', token] });
    const hostId = (await eventually('the agent connected over the veth', () => /connected to .* as host (\S+)/.exec(agent!.log()), 60_000))![1];
    agent.ok(['import', '-', IMAGE], { input: await busyboxLayer() });
    const id = agent.ok(['run', '-d', '--name', 'counter', IMAGE, ...countingCommand(N, 0.1)]).trim();

    const page = await signedInPage(browser!, cp!.url, OWNER, { problems, timeoutMs: 60_000 });
    await page.goto(`${cp!.url}/hosts/${hostId}/containers/${id}`);
    follower = new LogFollower(cp!.url, cookie, hostId, id);
    await follower.untilLine(40, 60_000);

    // The cut: everything between the agent and the gateway is dropped, both ways.
    const rules = [
      ['OUTPUT', '-d', aIp],
      ['INPUT', '-s', aIp],
    ];
    for (const r of rules) hostNs!.ok(['iptables', '-I', r[0], ...r.slice(1), '-j', 'DROP']);
    const cutAt = Date.now();
    const logAtCut = agent.log().length;
    const receivedAtCut = follower.received.length;

    // The server notices by its heartbeat; the host shows offline with when it was last seen.
    const offline = await eventually('the host offline', async () => {
      const h = await api.hosts.get.query({ hostId });
      return !h.online && h.lastSeen ? h : undefined;
    }, 25_000);
    const seen = Date.parse(offline.lastSeen!);
    assert.ok(seen <= cutAt + 1_000 && seen > cutAt - 60_000, `last seen ${offline.lastSeen} is about when the link was cut (${new Date(cutAt).toISOString()})`);
    const notice = page.getByTestId('host-offline');
    await notice.waitFor({ timeout: 20_000 });
    assert.match((await notice.textContent()) ?? '', /This host is offline \(last seen .* ago/);

    await sleep(Math.max(0, CUT_MS - (Date.now() - cutAt)));
    // Nothing came through the cut.
    assert.ok(follower.received.length - receivedAtCut < 30, `at most what was in flight got through: ${follower.received.length - receivedAtCut} lines`);
    const printedDuringCut = Number(/line (\d+)/.exec(agent.ok(['logs', '--tail', '1', id]))?.[1]);
    const receivedBeforeRestore = follower.received.length;
    for (const r of rules) hostNs!.ok(['iptables', '-D', r[0], ...r.slice(1), '-j', 'DROP']);
    const restoredAt = Date.now();

    await eventually('the host online again', async () => (await api.hosts.get.query({ hostId })).online, 90_000);
    const reconnectMs = Date.now() - restoredAt;
    const cutLog = agent.log().slice(logAtCut);
    const attempts = (cutLog.match(/cannot connect to/g) ?? []).length;
    assert.match(cutLog, /link to .* lost/, 'the agent noticed the dead link');
    // Back-off: a handful of attempts over the cut, not one a moment (an attempt whose SYNs are
    // still being retried when the link comes back succeeds: then none failed).
    assert.ok(attempts <= 10, `${attempts} failed connection attempts during the cut:\n${cutLog}`);
    assert.equal((cutLog.match(/connected to .* as host/g) ?? []).length, 1, `one reconnect:\n${cutLog}`);

    await follower.untilLine(N, 120_000);
    assertEveryLineOnce(follower.received, N, 'the follower');
    assert.ok(printedDuringCut > receivedBeforeRestore, `lines printed during the cut (up to ${printedDuringCut}) were not all received before it ended (${receivedBeforeRestore})`);
    assert.equal(follower.connects, 1, "the follower's own socket never dropped: the server resumed the agent's stream by itself");

    await page.waitForFunction((n) => [...document.querySelectorAll('[data-testid=log-line]')].some((el) => el.textContent?.trim() === `line ${n}`), N, { timeout: 60_000 });
    assert.equal(await notice.count(), 0, 'the offline notice is gone');
    const shown = await readLogLines(page);
    assertEveryLineOnce(
      shown.map((s) => ({ seq: s.seq, line: s.text })),
      N,
      'the page',
    );
    const h = await api.hosts.get.query({ hostId });
    assert.ok(Date.parse(h.lastSeen!) >= restoredAt, `last seen (${h.lastSeen}) moved on after the link came back`);
    assert.deepEqual(problems, []);
    t.diagnostic(`cut after ${receivedAtCut} lines; ${printedDuringCut} printed by the end of the cut, ${receivedBeforeRestore} received; ${attempts} attempts during the cut; reconnected ${reconnectMs} ms after the restore`);
  });
});
