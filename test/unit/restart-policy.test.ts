// Restart decisions and back-off, against moby's restartmanager rules.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { MAX_DELAY_MS, RestartManager } from '../../agent/engine/containers/restart';

const failed = { exitCode: 1, manuallyStopped: false, ranMs: 50, restartCount: 0 };

describe('restart manager', () => {
  it('waits 100 ms, then twice as long each time, up to a minute', () => {
    const rm = new RestartManager();
    const delays: number[] = [];
    for (let i = 0; i < 14; i++) {
      const d = rm.decide({ policy: 'always', maxRetries: 0 }, failed);
      assert.ok(d.restart);
      delays.push(d.delayMs);
    }
    assert.deepEqual(delays.slice(0, 6), [100, 200, 400, 800, 1600, 3200]);
    assert.equal(delays[9], 51_200);
    assert.deepEqual(delays.slice(10), [MAX_DELAY_MS, MAX_DELAY_MS, MAX_DELAY_MS, MAX_DELAY_MS]);
  });

  it('starts the back-off over after a run of 10 s or more', () => {
    const rm = new RestartManager();
    for (let i = 0; i < 4; i++) rm.decide({ policy: 'always', maxRetries: 0 }, failed);
    assert.deepEqual(rm.decide({ policy: 'always', maxRetries: 0 }, { ...failed, ranMs: 9_999 }), { restart: true, delayMs: 1600 });
    assert.deepEqual(rm.decide({ policy: 'always', maxRetries: 0 }, { ...failed, ranMs: 10_000 }), { restart: true, delayMs: 100 });
  });

  it('decides by policy: no, always, unless-stopped, on-failure[:N]', () => {
    const d = (policy: 'no' | 'always' | 'unless-stopped' | 'on-failure', f: Partial<typeof failed>, maxRetries = 0) =>
      new RestartManager().decide({ policy, maxRetries }, { ...failed, ...f }).restart;
    assert.equal(d('no', {}), false);
    assert.equal(d('always', { exitCode: 0 }), true);
    assert.equal(d('always', { manuallyStopped: true }), true, 'always ignores a manual stop (only the cancel stops it)');
    assert.equal(d('unless-stopped', { exitCode: 0 }), true);
    assert.equal(d('unless-stopped', { manuallyStopped: true }), false);
    assert.equal(d('on-failure', { exitCode: 0 }), false);
    assert.equal(d('on-failure', { exitCode: 137 }), true);
    assert.equal(d('on-failure', { restartCount: 2 }, 3), true);
    assert.equal(d('on-failure', { restartCount: 3 }, 3), false);
    assert.equal(d('on-failure', { restartCount: 1000 }, 0), true, 'on-failure without a count never gives up');
  });

  it('a cancelled manager restarts nothing and drops a pending restart', () => {
    const rm = new RestartManager();
    let ran = false;
    rm.schedule(60_000, () => (ran = true));
    assert.equal(rm.pending, true);
    assert.equal(rm.cancel(), true);
    assert.equal(rm.pending, false);
    assert.deepEqual(rm.decide({ policy: 'always', maxRetries: 0 }, failed), { restart: false });
    assert.equal(ran, false);
  });

  it('a pending restart does not keep the process alive', () => {
    const mod = path.resolve(import.meta.dirname, '../../agent/engine/containers/restart.ts');
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', `const { RestartManager } = await import(${JSON.stringify(mod)}); new RestartManager().schedule(3_600_000, () => process.exit(3)); console.log('scheduled');`],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'scheduled\n');
  });
});
