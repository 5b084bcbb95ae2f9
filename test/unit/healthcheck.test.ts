// Healthchecks: merging with the image's, probe results as dockerd applies them, the
// monitor's timing and its clean-up, and the words `docker ps` shows.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { HealthLogEntry, HealthState, ResolvedHealth } from '../../protocol/container';
import { humanStatus, recordStatus } from '../../protocol/docker-words';
import {
  applyProbe,
  goDuration,
  healthTimes,
  HealthMonitors,
  LimitedOutput,
  MAX_OUTPUT_BYTES,
  nextDelayMs,
  probeCommand,
  type ProbeRun,
} from '../../agent/engine/containers/health';
import { resolveHealth } from '../../agent/engine/containers/spec';
import { EngineError } from '../../agent/engine/errors';
import { eventually } from '../fixtures/wait';

const check = (over: Partial<ResolvedHealth> = {}): ResolvedHealth => ({
  test: ['CMD-SHELL', 'true'],
  intervalNs: 0,
  timeoutNs: 0,
  startPeriodNs: 0,
  startIntervalNs: 0,
  retries: 0,
  ...over,
});
const at = (ms: number) => new Date(ms).toISOString();
const probe = (startMs: number, exitCode: number): HealthLogEntry => ({ start: at(startMs), end: at(startMs + 5), exitCode, output: `run at ${startMs}` });
const starting: HealthState = { status: 'starting', failingStreak: 0, log: [] };

describe('healthcheck configuration', () => {
  it('merges the container\'s check over the image\'s field by field, as Docker does', () => {
    const img = { Test: ['CMD', 'probe'], Interval: 5e9, Timeout: 2e9, Retries: 4 };
    assert.deepEqual(resolveHealth(undefined, img), { test: ['CMD', 'probe'], intervalNs: 5e9, timeoutNs: 2e9, startPeriodNs: 0, startIntervalNs: 0, retries: 4 });
    assert.deepEqual(resolveHealth({ intervalNs: 1e9 }, img)?.test, ['CMD', 'probe'], 'only an interval given keeps the image\'s command');
    assert.equal(resolveHealth({ intervalNs: 1e9 }, img)?.intervalNs, 1e9);
    assert.deepEqual(resolveHealth({ test: ['CMD-SHELL', 'curl x'] }, img)?.timeoutNs, 2e9);
    assert.equal(resolveHealth({ test: ['NONE'] }, img), null, '--no-healthcheck');
    assert.equal(resolveHealth(undefined, undefined), null);
    assert.equal(resolveHealth({ retries: 3 }, undefined), null, 'settings without a command anywhere are no check');
  });

  it('refuses what dockerd refuses, and an unknown probe type instead of ignoring it', () => {
    const bad = (h: Parameters<typeof resolveHealth>[0], words: RegExp) =>
      assert.throws(() => resolveHealth(h, undefined), (e: unknown) => e instanceof EngineError && e.status === 400 && words.test(e.message));
    bad({ test: ['CMD', 'x'], intervalNs: 999_999 }, /Interval in Healthcheck cannot be less than 1ms/);
    bad({ test: ['CMD', 'x'], timeoutNs: 5 }, /Timeout in Healthcheck/);
    bad({ test: ['HTTP', 'x'] }, /unknown healthcheck type 'HTTP'/);
    bad({ test: ['CMD-SHELL'] }, /no command/);
  });

  it('CMD runs its words, CMD-SHELL goes through /bin/sh -c; defaults are Docker\'s', () => {
    assert.deepEqual(probeCommand(check({ test: ['CMD', 'ls', '-l'] })), ['ls', '-l']);
    assert.deepEqual(probeCommand(check({ test: ['CMD-SHELL', 'test -e /x'] })), ['/bin/sh', '-c', 'test -e /x']);
    assert.deepEqual(healthTimes(check()), { intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, startIntervalMs: 5_000, retries: 3 });
  });
});

describe('probe results', () => {
  const t = healthTimes(check({ retries: 2, startPeriodNs: 10_000e6 }));

  it('a success makes it healthy, `retries` failures in a row unhealthy, a success heals it', () => {
    const started = 0;
    let s = applyProbe(starting, t, probe(20_000, 0), started);
    assert.deepEqual([s.status, s.failingStreak], ['healthy', 0]);
    s = applyProbe(s, t, probe(21_000, 1), started);
    assert.deepEqual([s.status, s.failingStreak], ['healthy', 1], 'one failure is not enough');
    s = applyProbe(s, t, probe(22_000, 1), started);
    assert.deepEqual([s.status, s.failingStreak], ['unhealthy', 2]);
    s = applyProbe(s, t, probe(23_000, -1), started);
    assert.deepEqual([s.status, s.failingStreak], ['unhealthy', 3]);
    s = applyProbe(s, t, probe(24_000, 0), started);
    assert.deepEqual([s.status, s.failingStreak], ['healthy', 0]);
  });

  it('failures in the start period do not count while starting, and do once it is healthy', () => {
    let s = applyProbe(starting, t, probe(1_000, 1), 0);
    s = applyProbe(s, t, probe(2_000, 1), 0);
    assert.deepEqual([s.status, s.failingStreak, s.log.length], ['starting', 0, 2]);
    s = applyProbe(s, t, probe(3_000, 0), 0);
    s = applyProbe(s, t, probe(4_000, 1), 0);
    assert.deepEqual([s.status, s.failingStreak], ['healthy', 1], 'after the first success the start period no longer shields');
    const late = applyProbe(applyProbe(starting, t, probe(10_000, 1), 0), t, probe(11_000, 1), 0);
    assert.deepEqual([late.status, late.failingStreak], ['unhealthy', 2]);
  });

  it('keeps the last five probes', () => {
    let s = starting;
    for (let i = 0; i < 8; i++) s = applyProbe(s, t, probe(20_000 + i, 0), 0);
    assert.deepEqual(s.log.map((l) => l.output), [3, 4, 5, 6, 7].map((i) => `run at ${20_000 + i}`));
  });

  it('probes at the start interval while starting in the start period, at the interval otherwise', () => {
    const times = healthTimes(check({ intervalNs: 30e9, startIntervalNs: 1e9, startPeriodNs: 60e9 }));
    assert.equal(nextDelayMs(times, 'starting', 5_000), 1_000);
    assert.equal(nextDelayMs(times, 'healthy', 5_000), 30_000);
    assert.equal(nextDelayMs(times, 'starting', 60_000), 30_000);
  });

  it('output is cut at 4096 bytes with "...", timeouts read as Go prints them', () => {
    const o = new LimitedOutput();
    o.write(Buffer.alloc(4000, 'a'));
    o.write(Buffer.alloc(200, 'b'));
    const s = o.toString();
    assert.equal(s.length, MAX_OUTPUT_BYTES + 3);
    assert.ok(s.endsWith('b...'));
    assert.deepEqual([goDuration(30_000), goDuration(1_500), goDuration(300), goDuration(90_000), goDuration(3_600_000)], ['30s', '1.5s', '300ms', '1m30s', '1h0m0s']);
  });
});

describe('health monitors', () => {
  it('probe, apply, and stop: a probe under way is ended and its result dropped', async () => {
    let state: HealthState = { ...starting };
    const updates: Array<[string, boolean]> = [];
    let probes = 0;
    let aborted = 0;
    let release: (() => void) | undefined;
    const monitors = new HealthMonitors({
      probe: (): ProbeRun => {
        probes++;
        if (probes < 3) return { done: Promise.resolve({ exitCode: 0, output: 'ok' }), abort: () => {} };
        // The third probe hangs until it is aborted.
        return { done: new Promise((r) => (release = () => r({ exitCode: 137, output: 'killed' }))), abort: () => (aborted++, release?.()) };
      },
      current: () => ({ health: check({ intervalNs: 10e6 }), state, startedAtMs: Date.now() }),
      update: (_id, s, changed) => {
        state = s;
        updates.push([s.status, changed]);
      },
      now: () => new Date().toISOString(),
    });
    monitors.start('c1');
    await eventually('three probes', () => probes >= 3, 10_000, 5);
    assert.equal(monitors.running('c1'), true);
    monitors.stop('c1');
    assert.equal(monitors.running('c1'), false);
    assert.equal(aborted, 1, 'the probe under way was ended');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(updates, [['healthy', true], ['healthy', false]], 'the aborted probe left no result');
    assert.equal(state.log.length, 2);
  });

  it('a container that is gone or not running stops its monitor without a probe', async () => {
    let probes = 0;
    let there = true;
    const monitors = new HealthMonitors({
      probe: () => (probes++, { done: Promise.resolve({ exitCode: 0, output: '' }), abort: () => {} }),
      current: () => (there ? { health: check({ intervalNs: 5e6 }), state: starting, startedAtMs: Date.now() } : undefined),
      update: () => {},
      now: () => new Date().toISOString(),
    });
    monitors.start('c2');
    there = false;
    await eventually('the monitor to notice', () => !monitors.running('c2'), 5_000, 5);
    assert.equal(probes, 0);
  });

  it('a monitor waiting for its next probe does not keep the process alive', () => {
    const mod = path.resolve(import.meta.dirname, '../../agent/engine/containers/health.ts');
    const code = `const { HealthMonitors } = await import(${JSON.stringify(mod)});
      const h = { test: ['CMD', 'x'], intervalNs: 3600e9, timeoutNs: 0, startPeriodNs: 0, startIntervalNs: 0, retries: 0 };
      const m = new HealthMonitors({ probe: () => process.exit(3), current: () => ({ health: h, state: { status: 'starting', failingStreak: 0, log: [] }, startedAtMs: Date.now() }), update() {}, now: () => '' });
      m.start('x'); console.log(m.running('x'));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'true\n');
  });
});

describe('status words', () => {
  it('show the health of a running container as docker ps does', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    const base = { status: 'running' as const, running: true, paused: false, exitCode: 0, startedAt: '2026-01-01T00:00:00Z', finishedAt: '0001-01-01T00:00:00Z' };
    assert.equal(humanStatus({ ...base, healthStatus: 'starting' }, now), 'Up About a minute (health: starting)');
    assert.equal(humanStatus({ ...base, healthStatus: 'healthy' }, now), 'Up About a minute (healthy)');
    assert.equal(humanStatus({ ...base, healthStatus: 'unhealthy' }, now), 'Up About a minute (unhealthy)');
    assert.equal(humanStatus({ ...base, status: 'paused', paused: true, healthStatus: 'healthy' }, now), 'Up About a minute (Paused)');
    const stopped = { ...base, status: 'exited' as const, running: false, exitCode: 1, finishedAt: '2026-01-01T00:00:30Z' };
    assert.equal(recordStatus({ state: { ...stopped, pid: 0, error: '', oomKilled: false, health: { status: 'unhealthy', failingStreak: 3, log: [] } } }, now), 'Exited (1) 30 seconds ago');
    assert.equal(humanStatus({ ...base, status: 'restarting', exitCode: 3, finishedAt: '2026-01-01T00:00:58Z' }, now), 'Restarting (3) 2 seconds ago');
  });
});
