// cgroup v2 with a real unified hierarchy: this machine's /sys/fs/cgroup/unified has no
// controllers, so only membership, the cgroup namespace and clean-up can be checked here;
// limits asked for there must fail loudly rather than be dropped. Needs root.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openEngine, type BerthEngine } from '../../agent/engine/index';
import { EngineError } from '../../agent/engine/errors';
import { busyboxStore } from '../fixtures/local-image';
import { removeCgroupParent } from '../fixtures/processes';

const UNIFIED = '/sys/fs/cgroup/unified';
const usable = process.getuid?.() === 0 && existsSync(join(UNIFIED, 'cgroup.controllers'));

describe('containers in a cgroup v2 hierarchy', { skip: !usable && 'needs root and a v2 tree at ' + UNIFIED }, () => {
  let tmp: string;
  let engine: BerthEngine;
  const parent = `berth-test-v2-${process.pid}`;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-rtv2-'));
    const { store } = await busyboxStore(join(tmp, 'root', 'images'));
    engine = await openEngine({ root: join(tmp, 'root'), images: store, cgroupParent: parent, cgroupRoot: UNIFIED });
  });

  after(async () => {
    for (const c of engine.list({ all: true })) await engine.remove(c.id, { force: true });
    await engine.close();
    removeCgroupParent(parent, UNIFIED);
    await rm(tmp, { recursive: true, force: true });
  });

  test('the init joins its v2 group, sees it as its cgroup root, and the group goes with the container', async () => {
    assert.equal(engine.cgroups.version, 2);
    const c = await engine.createContainer({ image: 'busybox:test', process: { cmd: ['sh', '-c', 'cat /proc/self/cgroup; exec sleep 1000'] } });
    await engine.start(c.id);
    const { pid } = engine.inspect(c.id).state;
    const hostView = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
    assert.equal(hostView, `0::/${parent}/${c.id}`);
    const group = join(UNIFIED, parent, c.id);
    assert.equal(readFileSync(join(group, 'cgroup.procs'), 'utf8').trim(), String(pid));
    const stats = await engine.cgroups.stats(c.id);
    assert.ok(stats.cpuUsageNs > 0, 'cpu.stat is read');
    await engine.stop(c.id, 0);
    const inside: string[] = [];
    for await (const e of engine.logs(c.id)) inside.push(e.line.trim());
    assert.ok(inside.includes('0::/'), `cgroup namespace rooted at the container's group: ${inside.join(' | ')}`);
    assert.ok(!existsSync(group), 'group removed once the container stopped');
  });

  test('pause freezes the v2 group for real (cgroup.freeze, cgroup.events) and unpause thaws it', async () => {
    const c = await engine.createContainer({ image: 'busybox:test', process: { cmd: ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /count; sleep 0.05; done'] } });
    await engine.start(c.id);
    const group = join(UNIFIED, parent, c.id);
    await engine.pause(c.id);
    assert.equal(readFileSync(join(group, 'cgroup.freeze'), 'utf8').trim(), '1');
    assert.match(readFileSync(join(group, 'cgroup.events'), 'utf8'), /^frozen 1$/m);
    assert.equal(engine.inspect(c.id).state.status, 'paused');
    const count = join(engine.containerDir(c.id), 'upper', 'count');
    const frozenAt = readFileSync(count, 'utf8');
    await new Promise((r) => setTimeout(r, 500)); // ten loops would have run
    assert.equal(readFileSync(count, 'utf8'), frozenAt, 'nothing ran while frozen');
    await engine.unpause(c.id);
    assert.match(readFileSync(join(group, 'cgroup.events'), 'utf8'), /^frozen 0$/m);
    for (let i = 0; i < 100 && readFileSync(count, 'utf8') === frozenAt; i++) await new Promise((r) => setTimeout(r, 20));
    assert.notEqual(readFileSync(count, 'utf8'), frozenAt, 'it runs again');
    // SIGKILL reaches a paused container: the kill thaws it, as Docker's does.
    await engine.pause(c.id);
    await engine.kill(c.id);
    assert.deepEqual([engine.inspect(c.id).state.status, engine.inspect(c.id).state.exitCode], ['exited', 137]);
    assert.ok(!existsSync(group), 'group removed');
  });

  test('a limit the hierarchy cannot enforce fails the start instead of being ignored', async () => {
    const c = await engine.createContainer({ image: 'busybox:test', process: { cmd: ['true'] }, resources: { memory: 64 * 1024 * 1024 } });
    await assert.rejects(engine.start(c.id), (e: unknown) => e instanceof EngineError && e.status === 500 && /memory/.test(e.message));
    assert.equal(engine.inspect(c.id).state.running, false);
    assert.ok(!existsSync(join(UNIFIED, parent, c.id)), 'no group left behind');
  });
});
