// cgroup v2 limits, written into a stand-in tree: this machine's v2 hierarchy has no
// controllers, so the kernel's interface files are simulated by plain files.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { detectCgroupVersion, openCgroups, parseBlkioV1, parseIoStatV2, parseKeyValues } from '../../agent/engine/cgroups/index';

const FILES = ['cgroup.procs', 'cgroup.controllers', 'cgroup.subtree_control', 'memory.max', 'memory.swap.max', 'pids.max', 'cpu.weight', 'cpu.max', 'cgroup.freeze', 'cgroup.events'];

async function fakeGroup(dir: string, controllers = 'cpuset cpu io memory pids') {
  await mkdir(dir, { recursive: true });
  for (const f of FILES) await writeFile(join(dir, f), f === 'cgroup.controllers' ? controllers + '\n' : '');
}

test('v2: limits land in the container group, controllers get enabled on the way down', async () => {
  const base = await mkdtemp(join(tmpdir(), 'berth-cg2-'));
  try {
    await fakeGroup(base);
    await writeFile(join(base, 'cgroup.subtree_control'), 'memory pids\n');
    const id = 'f'.repeat(64);
    await fakeGroup(join(base, 'berth'));
    await fakeGroup(join(base, 'berth', id));
    assert.equal(detectCgroupVersion(base), 2);
    const cg = openCgroups({ base });
    assert.equal(cg.version, 2);
    assert.equal(cg.confinesDevices, false);
    const dirs = await cg.create(id, { memory: 64 << 20, memorySwap: 96 << 20, nanoCpus: 1.5e9, cpuShares: 1024, pidsLimit: 42 });
    assert.deepEqual(dirs, [join(base, 'berth', id)]);
    const read = (f: string) => readFile(join(base, 'berth', id, f), 'utf8');
    assert.equal(await read('memory.max'), String(64 << 20));
    assert.equal(await read('memory.swap.max'), String(32 << 20));
    assert.equal(await read('pids.max'), '42');
    assert.equal(await read('cpu.max'), '150000 100000');
    // runc's mapping: shares 1024 → weight 39.
    assert.equal(await read('cpu.weight'), '39');
    // Only what was missing is switched on at the root; the parent gets all five (io for block I/O statistics).
    assert.equal(await readFile(join(base, 'cgroup.subtree_control'), 'utf8'), '+cpu +cpuset +io');
    assert.equal(await readFile(join(base, 'berth', 'cgroup.subtree_control'), 'utf8'), '+memory +pids +cpu +cpuset +io');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('v2: unlimited swap and no limits write nothing more than needed', async () => {
  const base = await mkdtemp(join(tmpdir(), 'berth-cg2-'));
  try {
    await fakeGroup(base);
    const id = 'e'.repeat(64);
    await fakeGroup(join(base, 'berth', id));
    const cg = openCgroups({ base });
    await cg.create(id, { memory: 64 << 20, memorySwap: -1, nanoCpus: 0, cpuShares: 0, pidsLimit: 0 });
    assert.equal(await readFile(join(base, 'berth', id, 'memory.swap.max'), 'utf8'), 'max');
    assert.equal(await readFile(join(base, 'berth', id, 'pids.max'), 'utf8'), '');
    assert.equal(await readFile(join(base, 'berth', id, 'cpu.max'), 'utf8'), '');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

async function withTree(fn: (base: string, id: string, file: (f: string) => string) => Promise<void>) {
  const base = await mkdtemp(join(tmpdir(), 'berth-cg2-'));
  try {
    await fakeGroup(base);
    const id = 'd'.repeat(64);
    await fakeGroup(join(base, 'berth', id));
    await fn(base, id, (f) => join(base, 'berth', id, f));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

test('v2: pause writes cgroup.freeze and waits for cgroup.events to say frozen; thaw undoes it', async () => {
  await withTree(async (base, id, file) => {
    const cg = openCgroups({ base });
    await writeFile(file('cgroup.events'), 'populated 1\nfrozen 0\n');
    // The kernel flips "frozen" once every task has stopped; here a timer plays the kernel.
    const kernel = setTimeout(() => void writeFile(file('cgroup.events'), 'populated 1\nfrozen 1\n'), 30);
    await cg.freeze(id);
    clearTimeout(kernel);
    assert.equal(await readFile(file('cgroup.freeze'), 'utf8'), '1');
    assert.equal(await cg.frozen(id), true);
    setTimeout(() => void writeFile(file('cgroup.events'), 'populated 1\nfrozen 0\n'), 30);
    await cg.thaw(id);
    assert.equal(await readFile(file('cgroup.freeze'), 'utf8'), '0');
    assert.equal(await cg.frozen(id), false);
  });
});

test('v2: update writes only what changed, "max" for unlimited pids and swap', async () => {
  await withTree(async (base, id, file) => {
    const cg = openCgroups({ base });
    await writeFile(file('memory.max'), String(64 << 20));
    await cg.update(id, { memorySwap: 256 << 20 });
    assert.equal(await readFile(file('memory.swap.max'), 'utf8'), String(192 << 20), 'swap.max is what exceeds the memory limit in place');
    await cg.update(id, { memory: 128 << 20, memorySwap: -1, pidsLimit: 0, nanoCpus: 0.25e9, cpuShares: 2048 });
    assert.equal(await readFile(file('memory.max'), 'utf8'), String(128 << 20));
    assert.equal(await readFile(file('memory.swap.max'), 'utf8'), 'max');
    assert.equal(await readFile(file('pids.max'), 'utf8'), 'max');
    assert.equal(await readFile(file('cpu.max'), 'utf8'), '25000 100000');
    assert.equal(await readFile(file('cpu.weight'), 'utf8'), '79');
    await writeFile(file('cpu.max'), 'untouched');
    await cg.update(id, { pidsLimit: 7 });
    assert.equal(await readFile(file('pids.max'), 'utf8'), '7');
    assert.equal(await readFile(file('cpu.max'), 'utf8'), 'untouched');
  });
});

test('v2: pids come from the group and the groups below it; stats read memory, cpu, io and pids files', async () => {
  await withTree(async (base, id, file) => {
    const cg = openCgroups({ base });
    await writeFile(file('cgroup.procs'), '101\n102\n');
    await fakeGroup(join(base, 'berth', id, 'inner'));
    await writeFile(join(base, 'berth', id, 'inner', 'cgroup.procs'), '103\n');
    assert.deepEqual((await cg.pids(id)).sort(), [101, 102, 103]);
    await writeFile(file('memory.current'), '4096\n');
    await writeFile(file('memory.max'), 'max\n');
    await writeFile(file('memory.stat'), 'anon 1024\nfile 2048\ninactive_file 512\n');
    await writeFile(file('memory.events'), 'low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n');
    await writeFile(file('cpu.stat'), 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 20\n');
    await writeFile(file('io.stat'), '254:0 rbytes=8192 wbytes=4096 rios=2 wios=1 dbytes=0 dios=0\n');
    await writeFile(file('pids.current'), '3\n');
    await writeFile(file('pids.max'), '50\n');
    const s = await cg.stats(id);
    assert.equal(s.memoryUsage, 4096);
    assert.equal(s.memoryLimit, -1);
    assert.equal(s.memoryStat.inactive_file, 512);
    assert.equal(s.memoryFailcnt, 1);
    assert.deepEqual([s.cpuUsageNs, s.cpuUserNs, s.cpuKernelNs], [1_500_000, 1_000_000, 500_000]);
    assert.deepEqual(s.throttling, { periods: 4, throttledPeriods: 1, throttledTimeNs: 20_000 });
    assert.deepEqual(s.ioServiceBytes, [
      { major: 254, minor: 0, op: 'read', value: 8192 },
      { major: 254, minor: 0, op: 'write', value: 4096 },
    ]);
    assert.deepEqual([s.pids, s.pidsLimit], [3, 50]);
  });
});

test('the kernel formats: key-value lines, v1 blkio lines, v2 io.stat', () => {
  assert.deepEqual(parseKeyValues('cache 10\nrss 20\nbogus\n'), { cache: 10, rss: 20 });
  assert.deepEqual(parseBlkioV1('254:0 Read 100\n254:0 Write 200\n254:0 Total 300\nTotal 300\n'), [
    { major: 254, minor: 0, op: 'Read', value: 100 },
    { major: 254, minor: 0, op: 'Write', value: 200 },
    { major: 254, minor: 0, op: 'Total', value: 300 },
  ]);
  assert.deepEqual(parseIoStatV2('8:16 rbytes=1 wbytes=2 rios=3 wios=4\n').ios, [
    { major: 8, minor: 16, op: 'read', value: 3 },
    { major: 8, minor: 16, op: 'write', value: 4 },
  ]);
});
