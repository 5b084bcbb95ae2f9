// The pure parts of top, stats and update: ps output, /proc files, Docker's update body,
// and the engine's rules for new limits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNetDev, parseProcStat } from '../../agent/engine/containers/host-stats';
import { checkRestartPolicy, resolveSpec, updatedResources } from '../../agent/engine/containers/spec';
import { checkPsArgs, parsePs } from '../../agent/engine/containers/top';
import { EngineError } from '../../agent/engine/errors';
import { statsJson, updateOptions } from '../../agent/dockerapi/container-ops';
import { createSpec, withoutQueryName } from '../../agent/dockerapi/containers';
import { HttpError } from '../../agent/dockerapi/http';
import type { ContainerStats } from '../../agent/engine/types';

const is400 = (words: RegExp) => (e: unknown) => (e instanceof EngineError || e instanceof HttpError) && e.status === 400 && words.test(e.message);

describe('top', () => {
  const PS = [
    '  PID TTY      STAT   TIME COMMAND',
    '    1 ?        Ss     0:03 /sbin/init splash',
    '  500 ?        S      0:00 sh -c sleep 100',
    '    - -        S      0:00 -',
    '  501 ?        S      0:00 sleep 100',
    '  777 ?        S      0:00 other',
    '    - -        S      0:00 -',
    '',
  ].join('\n');

  it('keeps the rows of the container\'s pids (with their thread lines), the command in one last column', () => {
    const r = parsePs(PS, [500, 501]);
    assert.deepEqual(r.titles, ['PID', 'TTY', 'STAT', 'TIME', 'COMMAND']);
    assert.deepEqual(r.processes, [
      ['500', '?', 'S', '0:00', 'sh -c sleep 100'],
      ['-', '-', 'S', '0:00', '-'],
      ['501', '?', 'S', '0:00', 'sleep 100'],
    ]);
  });

  it('refuses output without a PID column and renaming the PID column', () => {
    assert.throws(() => parsePs('USER COMMAND\nroot sh\n', [1]), /Couldn't find PID field/);
    assert.throws(() => checkPsArgs('-o pid,comm -o ppid=PID'), is400(/specifying "ppid=PID" is not allowed/));
    checkPsArgs('-o pid=PID,comm');
  });
});

describe('host statistics', () => {
  it('the host\'s CPU time is user through softirq of /proc/stat, in nanoseconds', () => {
    const r = parseProcStat('cpu  100 0 50 800 10 5 5 7 0 0\ncpu0 50 0 25 400 5 2 3 3 0 0\ncpu1 50 0 25 400 5 3 2 4 0 0\nintr 1\n');
    assert.deepEqual(r, { systemNs: 970 * 1e7, onlineCpus: 2 });
  });

  it('the network namespace\'s interfaces, loopback left out as Docker does', () => {
    const dev = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0',
      '  eth0:    1000      10    1    2    0     0          0         0     2000      20    3    4    0     0       0          0',
    ].join('\n');
    assert.deepEqual(parseNetDev(dev), { eth0: { rxBytes: 1000, rxPackets: 10, rxErrors: 1, rxDropped: 2, txBytes: 2000, txPackets: 20, txErrors: 3, txDropped: 4 } });
  });

  it('the stats JSON is Docker\'s: unlimited memory reads as the host\'s, precpu from the sample before', () => {
    const sample = (cpu: number): ContainerStats => ({
      read: `2026-01-01T00:00:0${cpu}.000000000Z`,
      memoryUsage: 100,
      memoryLimit: -1,
      memoryMaxUsage: 0,
      memoryStat: { inactive_file: 10 },
      memoryFailcnt: 0,
      cpuUsageNs: cpu * 1e9,
      cpuUserNs: 0,
      cpuKernelNs: 0,
      cpuPerCpuNs: [],
      throttling: { periods: 0, throttledPeriods: 0, throttledTimeNs: 0 },
      pids: 2,
      pidsLimit: 0,
      ioServiceBytes: [],
      ioServiced: [],
      systemCpuNs: cpu * 2e9,
      onlineCpus: 2,
      networks: {},
    });
    const j = statsJson({ id: 'x', name: 'web' }, sample(2), sample(1)) as Record<string, Record<string, unknown>>;
    assert.equal(j.name as unknown, '/web');
    assert.equal(j.preread as unknown, sample(1).read);
    assert.ok((j.memory_stats.limit as number) > 0);
    assert.equal((j.precpu_stats.cpu_usage as { total_usage: number }).total_usage, 1e9);
    assert.deepEqual(j.pids_stats, { current: 2 });
    assert.equal(j.networks, undefined, 'no interfaces, no networks key');
  });
});

describe('docker update', () => {
  it('maps the body the CLI sends: zero means unchanged, -1 and 0 pids lift the limit', () => {
    const zeros = { Memory: 0, MemorySwap: 0, NanoCpus: 0, CpuShares: 0, CpuQuota: 0, CpuPeriod: 0, BlkioWeight: 0, CpusetCpus: '', KernelMemory: 0, MemorySwappiness: null, OomKillDisable: null, Ulimits: null, RestartPolicy: { Name: '', MaximumRetryCount: 0 } };
    assert.deepEqual(updateOptions({ ...zeros, Memory: 64 << 20 }), { resources: { memory: 64 << 20, memorySwap: undefined, nanoCpus: undefined, cpuShares: undefined, pidsLimit: undefined }, restart: undefined });
    assert.equal(updateOptions({ ...zeros, PidsLimit: -1 }).resources?.pidsLimit, -1);
    assert.deepEqual(updateOptions({ ...zeros, RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } }).restart, { policy: 'on-failure', maxRetries: 2 });
  });

  it('refuses what it cannot change, by the option\'s name', () => {
    for (const [body, flag] of [
      [{ CpuQuota: 5000 }, '--cpu-quota'],
      [{ BlkioWeight: 300 }, '--blkio-weight'],
      [{ CpusetCpus: '0' }, '--cpuset-cpus'],
      [{ MemoryReservation: 1 << 20 }, '--memory-reservation'],
      [{ NetworkMode: 'host' }, 'NetworkMode'],
      [{ Frobnicate: 1 }, 'Frobnicate'],
    ] as const) {
      assert.throws(() => updateOptions(body), is400(new RegExp(`^Berth does not support ${flag.replace(/[-]/g, '\\-')} yet$`)), flag);
    }
    assert.throws(() => updateOptions({ RestartPolicy: { Name: 'sometimes' } }), is400(/unknown policy 'sometimes'/));
  });

  it('new limits follow Docker\'s rules over the old ones', () => {
    const mb = 1 << 20;
    const old = { memory: 64 * mb, memorySwap: 128 * mb, nanoCpus: 0, cpuShares: 0, pidsLimit: 10 };
    assert.deepEqual(updatedResources(old, { memory: 100 * mb }), { ...old, memory: 100 * mb });
    assert.throws(() => updatedResources(old, { memory: 200 * mb }), is400(/should be smaller than already set memoryswap limit/));
    assert.deepEqual(updatedResources(old, { memory: 200 * mb, memorySwap: 400 * mb }), { ...old, memory: 200 * mb, memorySwap: 400 * mb });
    assert.throws(() => updatedResources(old, { memorySwap: 32 * mb }), is400(/larger than memory limit/));
    assert.throws(() => updatedResources(old, { memory: 1 * mb }), is400(/Minimum memory limit/));
    const unlimited = { memory: 0, memorySwap: 0, nanoCpus: 0, cpuShares: 0, pidsLimit: 0 };
    assert.deepEqual(updatedResources(unlimited, { memory: 64 * mb }), { ...unlimited, memory: 64 * mb, memorySwap: 128 * mb }, 'as at create: swap as much again');
    assert.deepEqual(updatedResources({ ...old, memorySwap: -1 }, { memory: 512 * mb }).memorySwap, -1);
    assert.equal(updatedResources(old, { pidsLimit: -1 }).pidsLimit, 0);
    assert.throws(() => updatedResources(unlimited, { memorySwap: 64 * mb }), is400(/always set the Memory limit/));
  });
});

describe('restart policy in a spec', () => {
  const img = { Cmd: ['sh'] };
  it('defaults to no, maps Docker\'s body, and refuses what dockerd refuses', () => {
    assert.deepEqual(resolveSpec('a'.repeat(64), { image: 'x' }, img).restart, { autoRemove: false, policy: 'no', maxRetries: 0 });
    assert.deepEqual(createSpec({ Image: 'x', HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 } } }, undefined).restart, {
      autoRemove: false,
      policy: 'on-failure',
      maxRetries: 3,
    });
    assert.throws(() => resolveSpec('a'.repeat(64), { image: 'x', restart: { autoRemove: true, policy: 'always' } }, img), is400(/can't create 'AutoRemove' container with restart policy/));
    assert.throws(() => checkRestartPolicy('always', 3, false), is400(/maximum retry count can only be used with 'on-failure'/));
    assert.throws(() => createSpec({ Image: 'x', HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: -1 } } }, undefined), is400(/cannot be negative/));
  });

  it('maps the CLI\'s healthcheck flags into the spec', () => {
    const s = createSpec({ Image: 'x', Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 1e9, Timeout: 0, StartPeriod: 0, StartInterval: 0, Retries: 2 } }, undefined);
    assert.deepEqual(s.health, { test: ['CMD-SHELL', 'true'], intervalNs: 1e9, timeoutNs: undefined, startPeriodNs: undefined, startIntervalNs: undefined, retries: 2 });
    assert.throws(() => createSpec({ Image: 'x', Healthcheck: { Test: ['CMD', 'x'], Retries: -1 } }, undefined), is400(/Retries in Healthcheck cannot be negative/));
    assert.throws(() => createSpec({ Image: 'x', Healthcheck: { Test: ['CMD', 'x'], Frequency: 3 } }, undefined), is400(/Berth does not support Healthcheck.Frequency yet/));
  });
});

describe('create: a name in the body', () => {
  it("is dropped when it repeats the query's (dockerode's shape), refused by name when it does not", () => {
    assert.deepEqual(withoutQueryName({ name: 'web', Image: 'x' }, 'web'), { Image: 'x' });
    assert.deepEqual(withoutQueryName({ name: '', Image: 'x' }, null), { Image: 'x' });
    assert.deepEqual(withoutQueryName({ Image: 'x' }, 'web'), { Image: 'x' });
    assert.throws(() => withoutQueryName({ name: 'web', Image: 'x' }, null), is400(/name: the Engine API reads a container's name from the query \(\?name=web\)/));
    assert.throws(() => withoutQueryName({ name: 'db', Image: 'x' }, 'web'), is400(/name/));
  });
});
