// A host's clock jumps an hour forward and then back, without touching the machine's clock:
// the agent and its containers' monitors run under Debian's libfaketime (LD_PRELOAD; the
// monitor is built dynamically for it into the test's temp dir, since the real one is
// static, and reached through BERTH_MONITOR), reading their offset from a file the test
// rewrites. Monotonic clocks are left alone, as a real clock step leaves them. While a
// container prints numbered lines and a '/ui' socket follows them: every line arrives once
// and in order with growing seqs, history and `docker logs` read them back in that order
// although their times go back an hour, the host stays online, and its "last seen" (the
// control plane's clock) never runs ahead of now.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { busyboxLayer } from '../fixtures/netns';
import { eventually } from '../fixtures/wait';
import { removeAgentLeftovers } from '../e2e/support/teardown';
import { removeDir, signIn, startControlPlane, trpc, ROOT, type ControlPlane } from '../integration/support/control-plane';
import { assertEveryLineOnce, countingCommand, LogFollower } from './support/follow';

const OWNER = { name: 'Cleo Clock', email: 'cleo@example.test', password: 'clock-pass-1234' };
const IMAGE = 'faults/busybox:clock';
const N = 240;
const HOUR = 3600_000;

function libfaketime(): string {
  const lib = execFileSync('dpkg', ['-L', 'libfaketime'], { encoding: 'utf8' })
    .split('\n')
    .find((l) => l.endsWith('/libfaketime.so.1'));
  if (!lib || !existsSync(lib)) throw new Error("libfaketime.so.1 not found: install Debian's faketime package (scripts/setup.mjs --test does)");
  return lib;
}

describe("a host's clock jumps an hour forward and back", { timeout: 5 * 60_000 }, () => {
  let cp: ControlPlane | undefined;
  let agent: AgentProcess | undefined;
  let follower: LogFollower | undefined;
  let tmp = '';
  let offsetFile = '';
  let env: Record<string, string> = {};

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-fault-clock-'));
    offsetFile = path.join(tmp, 'offset');
    writeFileSync(offsetFile, '+0\n');
    const faked = { LD_PRELOAD: libfaketime(), FAKETIME_TIMESTAMP_FILE: offsetFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
    const build = path.join(tmp, 'monitor');
    execFileSync('make', ['-s', '-C', path.join(ROOT, 'agent/native'), `BUILD=${build}`, 'LDFLAGS='], { stdio: ['ignore', 'ignore', 'pipe'] });
    // The agent starts its monitors with an empty environment: the wrapper gives them the clock.
    const wrapper = path.join(tmp, 'berth-monitor');
    writeFileSync(wrapper, `#!/bin/sh\n${Object.entries(faked).map(([k, v]) => `${k}='${v}'`).join(' ')} exec '${path.join(build, 'berth-monitor')}' "$@"\n`);
    chmodSync(wrapper, 0o755);
    env = { ...faked, BERTH_MONITOR: wrapper };
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(OWNER);
  });

  after(async () => {
    follower?.close();
    if (agent) {
      for (const id of agent.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean)) agent.docker(['rm', '-f', id]);
      await agent.stop();
    }
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
    removeAgentLeftovers(undefined, tmp);
  });

  test('seqs and order hold; the host stays online and its last seen sane', async (t) => {
    const cookie = (await signIn(cp!.url, OWNER.email, OWNER.password))!;
    const api = trpc(cp!.url, cookie);
    const { token } = await api.hosts.createJoinToken.mutate({ name: 'fault-clock' });
    agent = await startAgentProcess('fault-clock', { env, flags: ['--server', cp!.url, '--token', token] });
    const hostId = (await eventually('the agent connected', () => /connected to .* as host (\S+)/.exec(agent!.log()), 60_000))![1];
    agent.ok(['import', '-', IMAGE], { input: await busyboxLayer() });
    const id = agent.ok(['run', '-d', '--name', 'ticker', IMAGE, ...countingCommand(N, 0.1)]).trim();
    follower = new LogFollower(cp!.url, cookie, hostId, id);

    const sane = async (what: string) => {
      const h = await api.hosts.get.query({ hostId });
      assert.equal(h.online, true, `${what}: online`);
      const seen = Date.parse(h.lastSeen!);
      assert.ok(seen <= Date.now() + 1_000 && seen > Date.now() - 10 * 60_000, `${what}: last seen ${h.lastSeen} is not in the future nor long ago`);
      const c = h.containers.find((x) => x.id === id);
      assert.ok(c && !/-\d|NaN|Invalid/.test(c.status), `${what}: the container's status reads sanely: ${c?.status}`);
      return c!.status;
    };

    await follower.untilLine(60, 60_000);
    const before = await sane('before');
    writeFileSync(offsetFile, '+1h\n');
    await follower.untilLine(120, 60_000);
    // A change after the jump, so the agent reports with the moved clock.
    agent.ok(['pause', id]);
    agent.ok(['unpause', id]);
    const ahead = await eventually('a snapshot after the jump forward', async () => {
      const s = await sane('an hour ahead');
      return s;
    }, 20_000);
    writeFileSync(offsetFile, '+0\n');
    await follower.untilLine(180, 60_000);
    const back = await sane('back again');
    await follower.untilLine(N, 60_000);

    assertEveryLineOnce(follower.received, N, 'the follower');
    assert.equal(follower.connects, 1, 'the follower never had to reconnect');
    const page = await api.logs.page.query({ source: { hostId, containerId: id }, after: 0, limit: 1000 });
    assertEveryLineOnce(page.entries.map((e) => ({ seq: e.seq, line: e.line.replace(/\n$/, '') })), N, 'the history');
    assert.deepEqual(page.entries.map((e) => e.seq), follower.received.map((r) => r.seq), 'the same seqs as streamed');
    // The times the monitor wrote did jump: the log is in order by seq, not by time.
    const times = page.entries.map((e) => Date.parse(e.time));
    const forward = times.findIndex((x, i) => i > 0 && x - times[i - 1] > HOUR / 2);
    const backward = times.findIndex((x, i) => i > 0 && times[i - 1] - x > HOUR / 2);
    assert.ok(forward > 0 && backward > forward, `the lines' times jumped forward (at ${forward}) and back (at ${backward})`);
    const logs = agent.ok(['logs', id]).trim().split('\n');
    assert.deepEqual(logs, Array.from({ length: N }, (_, i) => `line ${i + 1}`), '`docker logs` in order');
    assert.equal((agent.log().match(/connected to .* as host/g) ?? []).length, 1, `the agent never lost its link:\n${agent.log()}`);
    t.diagnostic(`status before: ${before}; an hour ahead: ${ahead}; back: ${back}; times jumped at lines ${forward + 1} and ${backward + 1}`);
  });
});
