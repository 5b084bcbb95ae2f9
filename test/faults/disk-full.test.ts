// The disk under the agent's root fills up. The agent's root is a small tmpfs this test
// mounts (and unmounts); a file written until ENOSPC fills it. While it is full: a pull and a
// create fail with "no space left on device", a running container keeps running, and the
// lines it prints are counted as dropped by its monitor (inspect's State.LogLinesDropped, the
// dashboard's "N lines dropped: disk full" marker, placed after the last line kept) instead
// of vanishing or leaving half a line, and a container that exits then is exited with its
// code (also after the agent restarts). Once space returns: the log goes on, every line in
// it is whole and in order with exactly the counted lines missing, the image store is
// consistent, and a pull that failed works.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { checkImageStore } from '../../agent/engine/images/integrity';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { alive, mountsUnder } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { eventually } from '../fixtures/wait';
import { readLogLines } from '../e2e/support/log-lines';
import { signedInPage } from '../e2e/support/pages';
import { removeAgentLeftovers } from '../e2e/support/teardown';
import { ensureNextBuild, removeDir, signIn, startControlPlane, trpc, type ControlPlane } from '../integration/support/control-plane';
import { countingCommand } from './support/follow';

const OWNER = { name: 'Dora Disk', email: 'dora@example.test', password: 'disk-pass-1234' };

/** Writes `file` until the filesystem has no room left; returns the bytes written. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  let n = 0;
  try {
    for (const chunk of [Buffer.alloc(1 << 20, 1), Buffer.alloc(4096, 1), Buffer.alloc(512, 1)]) {
      for (;;) {
        try {
          n += writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return n;
}

describe('the disk under the agent fills up', { timeout: 6 * 60_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let cp: ControlPlane | undefined;
  let agent: AgentProcess | undefined;
  let browser: Browser | undefined;
  let tmp = '';
  let root = '';
  let mounted = false;
  const problems: string[] = [];

  before(async () => {
    ensureNextBuild();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-fault-disk-'));
    root = path.join(tmp, 'root');
    mkdirSync(root, { mode: 0o700 });
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0700', 'berth-fault-disk', root], { encoding: 'utf8' });
    assert.equal(m.status, 0, `mount a tmpfs on ${root}: ${m.stderr}`);
    mounted = true;
    registry = await startRegistry();
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(OWNER);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    await browser?.close();
    if (agent) {
      rmSync(path.join(root, 'filler'), { force: true });
      for (const id of agent.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean)) agent.docker(['rm', '-f', id]);
      await agent.stop();
    }
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
    await registry?.stop();
    if (mounted) {
      // What the agent mounted under its root is gone with its containers; then the tmpfs.
      const left = mountsUnder(root).filter((m) => m !== root);
      if (left.length) console.error(`mounts left under ${root}:\n${left.join('\n')}`);
      const u = spawnSync('umount', [root], { encoding: 'utf8' });
      if (u.status !== 0) console.error(`umount ${root}: ${u.stderr}`);
    }
    removeAgentLeftovers(root, tmp);
  });

  test('operations fail clearly, the running container runs on, dropped lines are counted and shown, all recovers', async (t) => {
    const base = (await pushBusyboxImage(registry.url, 'faults/disk', 'v1')).ref;
    const big = (await pushBusyboxImage(registry.url, 'faults/disk-big', 'v1', { extraLayers: [[{ path: 'big', type: 'file', mode: 0o644, mtime: 1_700_000_000, data: randomBytes(4 << 20) }]] })).ref;
    const cookie = (await signIn(cp!.url, OWNER.email, OWNER.password))!;
    const { token } = await trpc(cp!.url, cookie).hosts.createJoinToken.mutate({ name: 'fault-disk' });
    agent = await startAgentProcess('fault-disk', { root, flags: ['--server', cp!.url, '--token', token] });
    const hostId = (await eventually('the agent connected', () => /connected to .* as host (\S+)/.exec(agent!.log()), 60_000))![1];
    agent.ok(['pull', base]);
    const id = agent.ok(['run', '-d', '--name', 'talker', base, ...countingCommand(1_000_000, 0.02)]).trim();
    const pid = (JSON.parse(agent.ok(['inspect', id])) as Array<{ State: { Pid: number } }>)[0].State.Pid;
    await eventually('some lines logged', () => agent!.ok(['logs', id]).split('\n').length > 50, 30_000);
    // It exits with 5 when told to, which happens while the disk is full.
    const quitter = agent.ok(['run', '-d', '--name', 'quitter', base, 'sh', '-c', "trap 'exit 5' USR1; while true; do sleep 0.1; done"]).trim();

    const filled = fill(path.join(root, 'filler'));
    const inspect = () => (JSON.parse(agent!.ok(['inspect', id])) as Array<{ State: { Running: boolean; Pid: number; LogLinesDropped?: number } }>)[0].State;
    const pull = agent.docker(['pull', big]);
    assert.notEqual(pull.status, 0, 'the pull failed');
    assert.match(pull.stderr, /(layer|config|manifest) sha256:[0-9a-f]{64}.*no space left on device/i, `the pull says what failed and why: ${pull.stderr}`);
    const create = agent.docker(['create', '--name', 'late', base, 'true']);
    assert.notEqual(create.status, 0, 'the create failed');
    assert.match(create.stderr, /no space left on device/i, `the create says why: ${create.stderr}`);
    await eventually('lines counted as dropped', () => (inspect().LogLinesDropped ?? 0) >= 50, 30_000);
    assert.equal(inspect().Running, true, 'the container runs on');
    assert.ok(alive(pid), 'its process too');
    // Straight to its process (`docker kill` records the kill first, which a full disk refuses).
    process.kill((JSON.parse(agent.ok(['inspect', quitter])) as Array<{ State: { Pid: number } }>)[0].State.Pid, 'SIGUSR1');
    const quitState = () => (JSON.parse(agent!.ok(['inspect', quitter])) as Array<{ State: { Status: string; ExitCode: number; Error: string } }>)[0].State;
    await eventually('the quitter exited', () => quitState().Status === 'exited', 30_000);
    assert.equal(quitState().ExitCode, 5, `its exit code, recorded on a full disk (${quitState().Error})`);

    rmSync(path.join(root, 'filler'));
    const droppedAtFree = inspect().LogLinesDropped!;
    const linesAtFree = agent.ok(['logs', id]).trim().split('\n').length;
    await eventually('lines logged again', () => agent!.ok(['logs', id]).trim().split('\n').length > linesAtFree + 20, 30_000);
    const dropped = inspect().LogLinesDropped!;
    assert.ok(dropped >= droppedAtFree && dropped < droppedAtFree + 5, `the count stopped growing when space came back (${droppedAtFree} → ${dropped})`);

    // Every line in the log whole and in order; what is missing is exactly what was counted.
    const lines = agent.ok(['logs', id]).trim().split('\n');
    const numbers = lines.map((l) => {
      const m = /^line (\d+)$/.exec(l);
      assert.ok(m, `a whole line: ${JSON.stringify(l)}`);
      return Number(m[1]);
    });
    assert.equal(numbers[0], 1);
    let missing = 0;
    for (let i = 1; i < numbers.length; i++) {
      assert.ok(numbers[i] > numbers[i - 1], `line ${numbers[i]} after line ${numbers[i - 1]}`);
      missing += numbers[i] - numbers[i - 1] - 1;
    }
    assert.equal(missing, dropped, 'the lines missing are the lines counted');

    // The dashboard marks the place: after the last line written before the disk filled.
    const page = await signedInPage(browser!, cp!.url, OWNER, { problems, timeoutMs: 60_000 });
    await page.goto(`${cp!.url}/hosts/${hostId}/containers/${id}`);
    const marker = page.getByTestId('log-dropped');
    // The count comes with the host's state, which a drop alone does not send: the 15 s refresh brings the last of it.
    await page.locator(`[data-testid=log-dropped][data-count="${dropped}"]`).waitFor({ timeout: 40_000 });
    assert.equal(await marker.count(), 1, 'one place where lines are missing');
    assert.match((await marker.textContent()) ?? '', new RegExp(`^${dropped} lines dropped: disk full$`));
    const afterSeq = Number(await marker.getAttribute('data-after-seq'));
    const gapAt = numbers.findIndex((n, i) => i > 0 && n !== numbers[i - 1] + 1) - 1;
    const history = await trpc(cp!.url, cookie).logs.page.query({ source: { hostId, containerId: id }, after: 0, limit: gapAt + 2 });
    assert.equal(history.entries[gapAt].line.trim(), `line ${numbers[gapAt]}`);
    assert.equal(history.entries[gapAt].seq, afterSeq, `the marker is after line ${numbers[gapAt]}, the last one before the gap`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-line]').length >= 10);
    const shown = await readLogLines(page);
    assert.ok(shown.every((s) => /^line \d+$/.test(s.text)), 'the viewer shows whole lines only');

    // What the agent recorded while the disk was full survives a restart of the agent.
    await agent.restart();
    assert.equal(quitState().Status, 'exited');
    assert.equal(quitState().ExitCode, 5, 'the exit code, after a restart of the agent');
    assert.equal(inspect().Running, true, 'the talker still runs');

    // Nothing stored was harmed, and what failed works now.
    const report = await checkImageStore(path.join(root, 'images'), { deep: true });
    assert.deepEqual(report.problems, [], 'the image store is consistent');
    assert.ok(!agent.ok(['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n').includes(big), 'no half image of the failed pull');
    agent.ok(['pull', big]);
    assert.equal(agent.ok(['run', '--rm', big, 'sh', '-c', 'wc -c < /big']).trim(), String(4 << 20));
    agent.ok(['rm', agent.ok(['create', '--name', 'late', base, 'true']).trim()]);
    assert.deepEqual(problems, []);
    t.diagnostic(`filled ${filled} bytes; ${dropped} lines dropped after seq ${afterSeq}; pull said: ${pull.stderr.trim().split('\n').at(-1)}; create said: ${create.stderr.trim()}`);
  });
});
