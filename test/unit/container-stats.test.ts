// The container page's live statistics: the agent's reading (agent/link/stats.ts) and the
// rates and chart lines the page draws from readings (app/lib/stats.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memoryUsage, statsSample } from '../../agent/link/stats';
import type { ContainerStats } from '../../agent/engine/types';
import type { ContainerStatsSample } from '../../protocol/agent-link';
import { appendSample, cpuPercent, formatPercent, lineSegments, niceBytesCeil, niceCeil, toPoints } from '../../app/lib/stats';
import { formatDurationNs, healthDuration } from '../../app/components/container-health';

function engineStats(over: Partial<ContainerStats> = {}): ContainerStats {
  return {
    memoryUsage: 100 << 20,
    memoryLimit: 64 << 20,
    memoryMaxUsage: 0,
    memoryStat: {},
    memoryFailcnt: 0,
    cpuUsageNs: 5e9,
    cpuUserNs: 4e9,
    cpuKernelNs: 1e9,
    cpuPerCpuNs: [],
    throttling: { periods: 0, throttledPeriods: 0, throttledTimeNs: 0 },
    pids: 3,
    pidsLimit: 0,
    ioServiceBytes: [],
    ioServiced: [],
    read: '2026-01-01T00:00:00.000000000Z',
    systemCpuNs: 1e12,
    onlineCpus: 2,
    networks: {},
    ...over,
  };
}

function sample(over: Partial<ContainerStatsSample> = {}): ContainerStatsSample {
  return {
    read: '2026-01-01T00:00:00.000Z',
    cpuUsageNs: 0,
    systemCpuNs: 0,
    onlineCpus: 2,
    memoryUsage: 1 << 20,
    memoryLimit: -1,
    pids: 1,
    pidsLimit: 0,
    networkInterfaces: 0,
    netRxBytes: 0,
    netTxBytes: 0,
    blockReadBytes: 0,
    blockWriteBytes: 0,
    ...over,
  };
}

test('memory usage leaves out the inactive file cache, as docker stats does (v1 and v2 names)', () => {
  assert.equal(memoryUsage({ memoryUsage: 100, memoryStat: { total_inactive_file: 30, inactive_file: 5 } }), 70, 'v1: total_inactive_file');
  assert.equal(memoryUsage({ memoryUsage: 100, memoryStat: { inactive_file: 30 } }), 70, 'v2: inactive_file');
  assert.equal(memoryUsage({ memoryUsage: 100, memoryStat: {} }), 100);
  // A cache count above the usage (read at another moment) would make it negative: left alone.
  assert.equal(memoryUsage({ memoryUsage: 100, memoryStat: { inactive_file: 200 } }), 100);
});

test('a reading adds up block I/O over devices in both spellings, and network over interfaces', () => {
  const s = statsSample(
    engineStats({
      ioServiceBytes: [
        { major: 8, minor: 0, op: 'Read', value: 100 },
        { major: 8, minor: 0, op: 'Write', value: 10 },
        { major: 8, minor: 0, op: 'Sync', value: 110 },
        { major: 8, minor: 0, op: 'Total', value: 110 },
        { major: 8, minor: 16, op: 'read', value: 1 },
        { major: 8, minor: 16, op: 'write', value: 2 },
      ],
      networks: {
        eth0: { rxBytes: 1000, rxPackets: 1, rxErrors: 0, rxDropped: 0, txBytes: 500, txPackets: 1, txErrors: 0, txDropped: 0 },
        eth1: { rxBytes: 24, rxPackets: 1, rxErrors: 0, rxDropped: 0, txBytes: 12, txPackets: 1, txErrors: 0, txDropped: 0 },
      },
      memoryStat: { total_inactive_file: 36 << 20 },
      pidsLimit: -1,
    }),
  );
  assert.deepEqual(s, {
    read: '2026-01-01T00:00:00.000000000Z',
    cpuUsageNs: 5e9,
    systemCpuNs: 1e12,
    onlineCpus: 2,
    memoryUsage: 64 << 20,
    memoryLimit: 64 << 20,
    pids: 3,
    pidsLimit: 0,
    networkInterfaces: 2,
    netRxBytes: 1024,
    netTxBytes: 512,
    blockReadBytes: 101,
    blockWriteBytes: 12,
  });
  assert.equal(statsSample(engineStats({ memoryLimit: -1 })).memoryLimit, -1);
});

test('CPU share between two readings is docker stats\' formula: container time over host time, times the CPUs', () => {
  const a = sample({ cpuUsageNs: 1e9, systemCpuNs: 100e9 });
  // One second of one busy CPU while the host's two CPUs counted two seconds: 100 % (one CPU).
  assert.equal(cpuPercent(a, sample({ cpuUsageNs: 2e9, systemCpuNs: 102e9 })), 100);
  assert.equal(cpuPercent(a, sample({ cpuUsageNs: 1.5e9, systemCpuNs: 102e9 })), 50);
  assert.equal(cpuPercent(a, sample({ cpuUsageNs: 1e9, systemCpuNs: 100e9 })), null, 'no host time passed');
});

test('rates come from consecutive readings; a restart (counters start again) leaves a gap, not a negative rate', () => {
  const pts = toPoints([
    sample({ read: '2026-01-01T00:00:00.000Z', cpuUsageNs: 1e9, systemCpuNs: 100e9, netRxBytes: 0, blockWriteBytes: 1000 }),
    sample({ read: '2026-01-01T00:00:02.000Z', cpuUsageNs: 2e9, systemCpuNs: 104e9, netRxBytes: 4096, blockWriteBytes: 3000 }),
    sample({ read: '2026-01-01T00:00:03.000Z', cpuUsageNs: 1e6, systemCpuNs: 106e9, netRxBytes: 0, blockWriteBytes: 0 }),
    sample({ read: '2026-01-01T00:00:04.000Z', cpuUsageNs: 5e8, systemCpuNs: 108e9, netRxBytes: 100, blockWriteBytes: 0 }),
  ]);
  assert.deepEqual(pts.map((p) => p.cpuPercent), [null, 50, null, 49.9]);
  assert.deepEqual(pts.map((p) => p.netRx), [null, 2048, null, 100]);
  assert.deepEqual(pts.map((p) => p.blockWrite), [null, 1000, null, 0]);
});

test('the page keeps the newest readings and never the same one twice', () => {
  let list: ContainerStatsSample[] = [];
  for (let i = 0; i < 5; i++) list = appendSample(list, sample({ read: `2026-01-01T00:00:0${i}.000Z` }), 3);
  assert.deepEqual(list.map((s) => s.read.slice(17, 19)), ['02', '03', '04']);
  const again = appendSample(list, sample({ read: '2026-01-01T00:00:04.000Z' }), 3);
  assert.equal(again, list);
});

test('chart lines: time runs right to the newest reading, values up from the bottom, gaps break the line', () => {
  const end = 100_000;
  const segs = lineSegments([0, 40_000, 50_000, 60_000, 90_000, 100_000], [5, 0, 10, null, 5, 20], { end, windowMs: 100_000, yMax: 10, width: 100, height: 50, gapMs: 15_000 });
  assert.deepEqual(segs, [
    // 0 s stands alone: 40 s later is past the gap.
    { points: [{ x: 0, y: 25 }] },
    { points: [{ x: 40, y: 50 }, { x: 50, y: 0 }] },
    // After the missing value; 20 is above the top and drawn at it.
    { points: [{ x: 90, y: 25 }, { x: 100, y: 0 }] },
  ]);
  // Readings older than the window are not drawn.
  assert.deepEqual(lineSegments([0, 50], [1, 1], { end: 200, windowMs: 100, yMax: 1, width: 10, height: 10, gapMs: 1000 }), []);
});

test('chart tops are round numbers', () => {
  assert.equal(niceCeil(3.2, 5), 5);
  assert.equal(niceCeil(7), 10);
  assert.equal(niceCeil(130), 200);
  assert.equal(niceCeil(401), 500);
  assert.equal(niceBytesCeil(3 << 20), 4 << 20);
  assert.equal(niceBytesCeil(10, 1024), 1024);
  assert.equal(formatPercent(12.345), '12.3 %');
  assert.equal(formatPercent(150.4), '150 %');
  assert.equal(formatPercent(null), '—');
});

test('healthcheck durations read as a person says them, Docker\'s defaults named', () => {
  assert.equal(formatDurationNs(500e6), '500 ms');
  assert.equal(formatDurationNs(1.5e9), '1.5 s');
  assert.equal(formatDurationNs(90e9), '1 min 30 s');
  assert.equal(healthDuration(0, 'intervalNs'), '30 s (default)');
  assert.equal(healthDuration(2e9, 'intervalNs'), '2 s');
});
