// cgroup v2 limits, written into a stand-in tree: this machine's v2 hierarchy has no
// controllers, so the kernel's interface files are simulated by plain files.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { detectCgroupVersion, openCgroups } from '../../agent/engine/cgroups/index';

const FILES = ['cgroup.procs', 'cgroup.controllers', 'cgroup.subtree_control', 'memory.max', 'memory.swap.max', 'pids.max', 'cpu.weight', 'cpu.max'];

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
    // Only what was missing is switched on at the root; the parent gets all four.
    assert.equal(await readFile(join(base, 'cgroup.subtree_control'), 'utf8'), '+cpu +cpuset');
    assert.equal(await readFile(join(base, 'berth', 'cgroup.subtree_control'), 'utf8'), '+memory +pids +cpu +cpuset');
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
